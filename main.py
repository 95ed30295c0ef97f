"""Launch Latent Explorer (the same as the `latent-explorer` command)."""
import sys

from explorer.cli import main

if __name__ == "__main__":
    sys.exit(main())
