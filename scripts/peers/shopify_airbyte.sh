#!/usr/bin/env bash
# Airbyte's Shopify source (PyPI airbyte-source-shopify, written against the real API) against the emulator:
# check, discover, read of every stream (full refresh), records per stream. Nothing changed but the host (see
# shopify_common.sh). Not in the default suite; bounded by PEER_TIMEOUT seconds per step.
source "$(dirname "$0")/shopify_common.sh"
PEER_TIMEOUT=${PEER_TIMEOUT:-300}
VENV=$(peer_venv shopify-airbyte airbyte-source-shopify)
start_emulator
work="$PEERS/airbyte-run"; mkdir -p "$work"
cat >"$work/config.json" <<JSON
{"shop": "emulated-shop", "start_date": "2020-01-01",
 "credentials": {"auth_method": "api_password", "api_password": "$TOKEN"}, "bulk_window_in_days": 3650}
JSON
echo "== check"; timeout "$PEER_TIMEOUT" "$VENV/bin/source-shopify" check --config "$work/config.json" \
  | grep '"CONNECTION_STATUS"' || true
echo "== discover"; timeout "$PEER_TIMEOUT" "$VENV/bin/source-shopify" discover --config "$work/config.json" \
  >"$work/discover.jsonl" || true
"$ROOT/.venv/bin/python" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
catalog = next(json.loads(l)["catalog"] for l in open(f"{work}/discover.jsonl") if '"CATALOG"' in l)
streams = [{"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"} for s in catalog["streams"]]
json.dump({"streams": streams}, open(f"{work}/catalog.json", "w"))
print(f"{len(streams)} streams discovered")
PY
echo "== read"; timeout "$PEER_TIMEOUT" "$VENV/bin/source-shopify" read --config "$work/config.json" \
  --catalog "$work/catalog.json" >"$work/read.jsonl" 2>"$work/read.err" || echo "(read ended with $?)"
count_records "$work/read.jsonl"
echo "== stream errors (first lines)"
grep -o '"message": *"[^"]*' "$work/read.jsonl" | grep -iE "error|fail|exception" | sort | uniq -c | sort -rn | head -20
