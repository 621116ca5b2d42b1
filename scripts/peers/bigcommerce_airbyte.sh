#!/usr/bin/env bash
# airbyte-source-bigcommerce (PyPI, written against the real API) against the BigCommerce emulator: spec, check,
# discover, read of every stream; nothing changed in the connector, its host reached through HTTPS_PROXY (see
# bigcommerce_common.sh). Prints records per stream. Not part of the test suite.
source "$(dirname "$0")/bigcommerce_common.sh"
# It pins airbyte-cdk 1.0.0, which does not import on Python 3.11+ (a dataclass with a mutable default): Python 3.10
PY310=${PEER_PYTHON:-}
for c in python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10; do
  [ -z "$PY310" ] && "$c" --version >/dev/null 2>&1 && PY310=$c
done
[ -n "$PY310" ] || { echo "airbyte-source-bigcommerce needs Python 3.10 (set PEER_PYTHON)" >&2; exit 1; }
VENV=$(peer_venv airbyte airbyte-source-bigcommerce "$PY310")
# airbyte-cdk sends prepared requests (Session.send), which skips REQUESTS_CA_BUNDLE: pip-system-certs (truststore)
# makes requests verify with the system's trust settings, which SSL_CERT_FILE points at the run's CA.
"$VENV/bin/python" -m pip show pip-system-certs >/dev/null 2>&1 || "$VENV/bin/python" -m pip install --quiet \
  "pip-system-certs>=4.0" >>"$CACHE/airbyte-install.log" 2>&1
start_emulator
export SSL_CERT_FILE=$REQUESTS_CA_BUNDLE
cat >"$WORK/config.json" <<JSON
{"start_date": "2020-01-01", "store_hash": "$STORE_HASH", "access_token": "$ACCESS_TOKEN"}
JSON
run() { timeout "$PEER_TIMEOUT" "$VENV/bin/source-bigcommerce" "$@"; }
# Streams the emulator serves (the others are outside the vendored specs: transactions, pages, channels); STREAMS=all
# reads every stream.
STREAMS=${STREAMS:-customers,orders,products,store,order_products,brands,categories}
[ "$STREAMS" = all ] && STREAMS=
run check --config "$WORK/config.json" | tee "$WORK/check.jsonl" | grep '"CONNECTION_STATUS"' || true
run discover --config "$WORK/config.json" >"$WORK/discover.jsonl"
"$ROOT/.venv/bin/python" - "$WORK/discover.jsonl" "$WORK/catalog.json" "${STREAMS:-}" <<'PY'
import json, sys
catalog = next(json.loads(l)["catalog"] for l in open(sys.argv[1]) if l.startswith("{") and '"CATALOG"' in l)
wanted = set(filter(None, sys.argv[3].split(",")))
streams = [s for s in catalog["streams"] if not wanted or s["name"] in wanted]
print("discovered:", ", ".join(s["name"] for s in catalog["streams"]), file=sys.stderr)
json.dump({"streams": [{"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
                       for s in streams]}, open(sys.argv[2], "w"))
PY
status=0
run read --config "$WORK/config.json" --catalog "$WORK/catalog.json" >"$WORK/read.jsonl" || status=$?
grep -h '"TRACE"' "$WORK/read.jsonl" | "$ROOT/.venv/bin/python" -c '
import json, sys
for line in sys.stdin:
    t = json.loads(line)["trace"]
    if t.get("type") == "ERROR":
        print("error:", t["error"].get("message"), "|", (t["error"].get("internal_message") or "")[:200])
    elif t.get("type") == "STREAM_STATUS":
        s = t["stream_status"]; print("stream", s["stream_descriptor"]["name"], s["status"])' >&2 || true
echo "read exit status: $status" >&2
echo -n "airbyte-source-bigcommerce records per stream: "
records_per_stream "$WORK/read.jsonl"
