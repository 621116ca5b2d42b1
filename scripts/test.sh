#!/usr/bin/env bash
# Set up, then run the default test suite (slow tests are excluded; run them with: bash scripts/test.sh -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# --dist loadgroup: tests marked xdist_group("name") share a worker (and its module fixtures); the rest spread.
exec .venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
