#!/usr/bin/env bash
# Create .venv (if missing) and install cart_pipelines with its test dependencies. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
log=$(mktemp)
# Quiet on success; the whole pip log on failure.
if ! { .venv/bin/python -m pip install --quiet --upgrade pip && .venv/bin/python -m pip install --quiet -e ".[test]"; } >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"; echo "setup failed: pip could not install the project (log above)" >&2; exit 1
fi
rm -f "$log"
