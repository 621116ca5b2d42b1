#!/usr/bin/env bash
# The whole reliability suite (slow tests included), then docs/reliability.md rendered from its figures.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest -n 2 -m "slow or not slow" tests/reliability tests/targets/test_kill_resume.py "$@"
.venv/bin/python tests/reliability/report.py
