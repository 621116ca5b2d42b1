#!/usr/bin/env bash
# Singer's tap-shopify (PyPI tap-shopify, written against the real API) against the emulator: discover, read of
# every stream, records per stream. Nothing changed but the host (see shopify_common.sh). Not in the default suite;
# bounded by PEER_TIMEOUT seconds per step.
source "$(dirname "$0")/shopify_common.sh"
PEER_TIMEOUT=${PEER_TIMEOUT:-300}
VENV=$(peer_venv shopify-singer tap-shopify)
start_emulator
work="$PEERS/singer-run"; mkdir -p "$work"
cat >"$work/config.json" <<JSON
{"shop": "emulated-shop", "api_key": "$TOKEN", "start_date": "2020-01-01T00:00:00Z", "request_timeout": 30}
JSON
echo "== discover"; timeout "$PEER_TIMEOUT" "$VENV/bin/tap-shopify" --config "$work/config.json" --discover \
  >"$work/catalog.raw.json" 2>"$work/discover.err" || { echo "(discover ended with $?)"; tail -5 "$work/discover.err"; }
"$ROOT/.venv/bin/python" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
catalog = json.load(open(f"{work}/catalog.raw.json"))
for s in catalog["streams"]:
    for m in s["metadata"]:
        if m["breadcrumb"] == []:
            m["metadata"]["selected"] = True
json.dump(catalog, open(f"{work}/catalog.json", "w"))
print(f"{len(catalog['streams'])} streams discovered")
PY
echo "== read"; timeout "$PEER_TIMEOUT" "$VENV/bin/tap-shopify" --config "$work/config.json" \
  --catalog "$work/catalog.json" >"$work/read.jsonl" 2>"$work/read.err" || echo "(read ended with $?)"
count_records "$work/read.jsonl"
echo "== errors (last lines)"; grep -E "CRITICAL|ERROR|Error" "$work/read.err" | tail -15
