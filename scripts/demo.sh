#!/usr/bin/env bash
# Set up, then run the demo migration of the bundled sample store and print its report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/cart-pipelines migrate --demo "$@"
