"""Launch Latent Explorer (the same as the `latent-explorer` command)."""
import sys

from ui.launcher import main

if __name__ == "__main__":
    sys.exit(main())
