#!/usr/bin/env bash
# Other people's connectors against our emulators (issue 12): each peer in scripts/peers/<platform>_<kind>.sh
# installs its package in its own venv (bench/.cache/peers/, git-ignored), starts the emulator on 127.0.0.1, runs
# check, discover and read with nothing changed but the host, and reports records per stream. Not in the suite.
#
#   bash scripts/peers.sh                 # every peer
#   bash scripts/peers.sh woocommerce     # the peers of one platform
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
filter=${1:-}
summary=()
for peer in scripts/peers/*_airbyte.sh scripts/peers/*_singer.sh; do
  name=$(basename "$peer" .sh)
  [[ -n "$filter" && "$name" != "$filter"* ]] && continue
  echo "=== $name" >&2
  start=$(date +%s)
  bash "$peer"
  rc=$?
  summary+=("$(printf '%-24s exit %-3s %5ss' "$name" "$rc" "$(( $(date +%s) - start ))")")
done
echo
echo "peer                     result    time"
printf '%s\n' "${summary[@]}"
