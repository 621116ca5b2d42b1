# Sourced by bigcommerce_airbyte.sh and bigcommerce_singer.sh: a venv per peer under bench/.cache/peers/ (git-ignored),
# the BigCommerce emulator on 127.0.0.1 (`cart-pipelines emulate bigcommerce`), and an HTTPS proxy that answers
# for api.bigcommerce.com from it (bigcommerce_proxy.py), so a peer that hard-codes that host reaches the emulator
# through requests' own HTTPS_PROXY and REQUESTS_CA_BUNDLE settings, nothing in the peer changed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE="$ROOT/bench/.cache/peers"
PEER_TIMEOUT=${PEER_TIMEOUT:-300}   # seconds per peer command
PRODUCTS=${PRODUCTS:-20}
mkdir -p "$CACHE"
[ -x "$ROOT/.venv/bin/cart-pipelines" ] || bash "$ROOT/scripts/setup.sh"

peer_venv() {  # peer_venv NAME PACKAGE [PYTHON]: a venv of its own with PACKAGE from PyPI (kept between runs)
  local dir="$CACHE/$1" python=${3:-python3}
  if [ ! -x "$dir/bin/python" ] || ! "$dir/bin/python" -m pip show "$2" >/dev/null 2>&1; then
    rm -rf "$dir"
    "$python" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet "$2" >"$CACHE/$1-install.log" 2>&1 || {
      cat "$CACHE/$1-install.log" >&2; echo "could not install $2" >&2; exit 1; }
  fi
  echo "$dir"
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bc-peer-XXXXXX")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

wait_line() {  # wait_line FILE: until FILE has a first line (at most 120 s)
  for _ in $(seq 1 240); do [ -s "$1" ] && head -1 "$1" | grep -q '}' && return 0; sleep 0.5; done
  echo "no announcement in $1:" >&2; cat "$1" "$1.err" >&2 2>/dev/null; exit 1
}

start_emulator() {  # sets BASE_URL STORE_HASH ACCESS_TOKEN CLIENT_ID HTTPS_PROXY REQUESTS_CA_BUNDLE
  # Pro plan (450 requests / 30 s): the peers read the rate-limit headers and pace themselves by them
  "$ROOT/.venv/bin/cart-pipelines" emulate bigcommerce --port 0 --products "$PRODUCTS" --plan pro \
    >"$WORK/emulator.json" 2>"$WORK/emulator.json.err" &
  PIDS+=($!)
  wait_line "$WORK/emulator.json"
  read -r BASE_URL STORE_HASH ACCESS_TOKEN CLIENT_ID < <("$ROOT/.venv/bin/python" -c '
import json, sys; d = json.loads(open(sys.argv[1]).readline())
print(d["base_url"], d["store_hash"], d["access_token"], d["client_id"])' "$WORK/emulator.json")
  "$ROOT/.venv/bin/python" "$ROOT/scripts/peers/bigcommerce_proxy.py" --emulator "$BASE_URL" --lifetime 1800 \
    >"$WORK/proxy.json" 2>"$WORK/proxy.json.err" &
  PIDS+=($!)
  wait_line "$WORK/proxy.json"
  read -r HTTPS_PROXY REQUESTS_CA_BUNDLE < <("$ROOT/.venv/bin/python" -c '
import json, sys; d = json.loads(open(sys.argv[1]).readline()); print(d["https_proxy"], d["ca_file"])' "$WORK/proxy.json")
  export HTTPS_PROXY REQUESTS_CA_BUNDLE https_proxy=$HTTPS_PROXY NO_PROXY=127.0.0.1,localhost
  echo "emulator $BASE_URL (store $STORE_HASH), api.bigcommerce.com via proxy $HTTPS_PROXY" >&2
}

records_per_stream() {  # records_per_stream FILE: count Airbyte/Singer RECORD messages by stream
  "$ROOT/.venv/bin/python" -c '
import collections, json, sys
n = collections.Counter()
for line in open(sys.argv[1], encoding="utf-8"):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("type") == "RECORD":
        n[(m.get("record") or {}).get("stream") or m.get("stream")] += 1
print(json.dumps(dict(sorted(n.items()))))' "$1"
}
