#!/usr/bin/env bash
# Creates .venv and installs the project with all extras. Idempotent: re-runs only when
# pyproject.toml changed. torch is installed first and pinned: `torch==2.13.0` resolves to the
# local CPU build here, any other spec pulls gigabytes of CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q torch==2.13.0
    .venv/bin/python -m pip install -q -e '.[all]'
    rm -f .venv/.installed-*
    touch "$stamp"
fi
