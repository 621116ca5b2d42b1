#!/usr/bin/env bash
# tap-bigcommerce (PyPI, a Singer tap written against the real API) against the BigCommerce emulator: connection
# (its GET /v2/time), discover, sync of the selected streams; nothing changed in the tap, its host reached through
# HTTPS_PROXY (see bigcommerce_common.sh). Prints records per stream. Not part of the test suite. The tap reads
# customers one day at a time from start_date (a request per day); its coupons stream (GET /v2/coupons, the
# Marketing API) is outside the vendored specs and not selected (STREAMS=... to choose).
source "$(dirname "$0")/bigcommerce_common.sh"
VENV=$(peer_venv singer tap-bigcommerce)
start_emulator
cat >"$WORK/config.json" <<JSON
{"start_date": "${START_DATE:-2023-01-01T00:00:00Z}", "store_hash": "$STORE_HASH", "access_token": "$ACCESS_TOKEN",
 "client_id": "$CLIENT_ID"}
JSON
run() { timeout "$PEER_TIMEOUT" "$VENV/bin/tap-bigcommerce" "$@"; }
run --config "$WORK/config.json" --discover >"$WORK/catalog.json"
"$ROOT/.venv/bin/python" - "$WORK/catalog.json" "${STREAMS:-orders,products,customers}" <<'PY'
import json, sys
catalog, wanted = json.load(open(sys.argv[1])), set(sys.argv[2].split(","))
print("discovered:", ", ".join(s["tap_stream_id"] for s in catalog["streams"]), file=sys.stderr)
for s in catalog["streams"]:
    for m in s["metadata"]:
        if m["breadcrumb"] == []:
            m["metadata"]["selected"] = s["tap_stream_id"] in wanted
json.dump(catalog, open(sys.argv[1], "w"))
PY
status=0
run --config "$WORK/config.json" --catalog "$WORK/catalog.json" >"$WORK/sync.jsonl" 2>"$WORK/sync.err" || status=$?
grep -i "error\|exception\|traceback" "$WORK/sync.err" | tail -5 >&2 || true
echo "sync exit status: $status" >&2
echo -n "tap-bigcommerce records per stream: "
records_per_stream "$WORK/sync.jsonl"
