#!/usr/bin/env bash
# Sets up (first time) and opens Latent Explorer. Extra arguments go to the app,
# e.g. `bash scripts/run.sh --model path/to/network.pkl`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/latent-explorer "$@"
