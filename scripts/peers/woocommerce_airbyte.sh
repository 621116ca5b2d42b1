#!/usr/bin/env bash
# Peer check: Airbyte's WooCommerce source (PyPI airbyte-source-woocommerce, written against the real REST API)
# runs check, discover and read against the WooCommerce emulator with nothing changed but the host. Reports records
# and requests per stream, records read more than once, and what the peer logged as errors. Not part of the suite.
#
#   scripts/peers/woocommerce_airbyte.sh            # 60 products, 10-minute bound
#   PRODUCTS=200 TIME_LIMIT=900 scripts/peers/woocommerce_airbyte.sh
#
# The source speaks HTTPS only (url_base https://{shop}/wp-json/wc/v3, Basic auth): the emulator serves TLS with a
# CA made at start. REQUESTS_CA_BUNDLE alone does not reach the peer (the Airbyte CDK sends prepared requests with
# Session.send, which skips requests' environment settings), so for the run the CA is also added to the peer venv's
# certifi bundle, as one would install a private CA, and the bundle restored afterwards. The venv lives in
# bench/.cache/peers/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VERSION=${AIRBYTE_WOOCOMMERCE_VERSION:-0.4.12}
PRODUCTS=${PRODUCTS:-60}
TIME_LIMIT=${TIME_LIMIT:-600}
PY=${PYTHON:-$ROOT/.venv/bin/python}
PEER=${PEER_VENV:-$ROOT/bench/.cache/peers/woo-airbyte}
[ -x "$PY" ] || { echo "no project venv at $PY: run scripts/setup.sh first" >&2; exit 1; }

installed=$("$PEER/bin/python" -m pip show airbyte-source-woocommerce 2>/dev/null || true)
if ! grep -qx "Version: $VERSION" <<<"$installed"; then
  echo "installing airbyte-source-woocommerce==$VERSION into $PEER ..." >&2
  python3 -m venv "$PEER"
  "$PEER/bin/python" -m pip install --quiet "airbyte-source-woocommerce==$VERSION" >&2
fi

WORK=$(mktemp -d -t woo-airbyte-XXXXXX)
EMU_PID=""
BUNDLE=$("$PEER/bin/python" -c "import certifi; print(certifi.where())")
[ -f "$BUNDLE.orig" ] || cp "$BUNDLE" "$BUNDLE.orig"
cleanup() {
  cp "$BUNDLE.orig" "$BUNDLE"
  if [ -n "$EMU_PID" ] && kill -0 "$EMU_PID" 2>/dev/null; then
    kill -TERM "$EMU_PID" 2>/dev/null || true
    wait "$EMU_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The emulator, in-process so it can count requests per route; it writes them out when told to stop (SIGTERM)
# and stops itself after the time limit whatever happens.
"$PY" - "$WORK" "$PRODUCTS" "$TIME_LIMIT" >"$WORK/emulator.log" 2>&1 <<'EOF' &
import json, re, signal, sys, threading
from collections import Counter
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs, serve

work, products, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
counts, lock = Counter(), threading.Lock()


class Counted(platforms.emulator_class("woocommerce")):
    def __call__(self, environ, start_response):
        route = re.sub(r"/\d+", "/{id}", environ.get("PATH_INFO", "").removeprefix("/wp-json/wc/v3"))
        with lock:
            counts[route] += 1
        return super().__call__(environ, start_response)


emulator = Counted(EmulatorStore.generated(products=products), Knobs(plan="unlimited"))
handle = serve(emulator, tls=True, lifetime=limit + 60)
with open(f"{work}/emulator.json", "w") as fh:
    json.dump({**handle.announce(), "records": {e: emulator.store.count(e) for e in
                                                 ("products", "orders", "customers", "reviews", "categories")}}, fh)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
done.wait(limit + 60)
with open(f"{work}/requests.json", "w") as fh:
    json.dump(dict(counts), fh)
handle.stop()
EOF
EMU_PID=$!
for _ in $(seq 1 120); do [ -s "$WORK/emulator.json" ] && break; sleep 0.5; done
[ -s "$WORK/emulator.json" ] || { echo "the emulator did not start:" >&2; cat "$WORK/emulator.log" >&2; exit 1; }

# The Airbyte config: the emulator's host and credentials, nothing else changed.
"$PY" - "$WORK" <<'EOF'
import json, sys
work = sys.argv[1]
e = json.load(open(f"{work}/emulator.json"))
json.dump({"api_key": e["consumer_key"], "api_secret": e["consumer_secret"],
           "shop": e["base_url"].removeprefix("https://"), "start_date": "2023-01-01"},
          open(f"{work}/config.json", "w"))
print(f"emulator {e['base_url']} ({e['records']})")
EOF
export REQUESTS_CA_BUNDLE
REQUESTS_CA_BUNDLE=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['ca_file'])" "$WORK/emulator.json")
cat "$BUNDLE.orig" "$REQUESTS_CA_BUNDLE" >"$BUNDLE"
SRC=$PEER/bin/source-woocommerce
deadline=$((SECONDS + TIME_LIMIT))
left() { echo $((deadline - SECONDS > 5 ? deadline - SECONDS : 5)); }

echo "--- check"
timeout "$(left)" "$SRC" check --config "$WORK/config.json" >"$WORK/check.jsonl" 2>"$WORK/check.err" || true
grep '"CONNECTION_STATUS"' "$WORK/check.jsonl" || { echo "check gave no status"; tail -5 "$WORK/check.err"; }

echo "--- discover"
timeout "$(left)" "$SRC" discover --config "$WORK/config.json" >"$WORK/discover.jsonl" 2>"$WORK/discover.err" || true
"$PY" - "$WORK" <<'EOF'
import json, sys
work = sys.argv[1]
catalog = next((json.loads(l)["catalog"] for l in open(f"{work}/discover.jsonl") if '"CATALOG"' in l), None)
if catalog is None:
    sys.exit("discover gave no catalog")
streams = [{"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
           for s in catalog["streams"]]
json.dump({"streams": streams}, open(f"{work}/catalog.json", "w"))
print(f"{len(streams)} streams: {', '.join(s['stream']['name'] for s in streams)}")
EOF

echo "--- read (full refresh, every stream)"
start=$SECONDS
rc=0
timeout "$(left)" "$SRC" read --config "$WORK/config.json" --catalog "$WORK/catalog.json" \
  >"$WORK/read.jsonl" 2>"$WORK/read.err" || rc=$?
echo "read exit status $rc after $((SECONDS - start)) s$([ "$rc" = 124 ] && echo ' (time limit reached)')"
kill -TERM "$EMU_PID" 2>/dev/null || true
wait "$EMU_PID" 2>/dev/null || true
EMU_PID=""

"$PY" - "$WORK" <<'EOF'
import json, re, sys
from collections import Counter, defaultdict
work = sys.argv[1]
records, ids, problems, statuses = Counter(), defaultdict(Counter), [], {}
for line in open(f"{work}/read.jsonl", encoding="utf-8"):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("type") == "RECORD":
        r = m["record"]
        records[r["stream"]] += 1
        data = r["data"]
        key = data.get("id", data.get("slug", data.get("code")))
        if key is not None:
            ids[r["stream"]][json.dumps(key)] += 1
    elif m.get("type") == "LOG" and m["log"]["level"] in ("ERROR", "FATAL", "WARN"):
        problems.append(f"{m['log']['level']}: {m['log']['message'][:300]}")
    elif m.get("type") == "TRACE" and m["trace"].get("type") == "ERROR":
        problems.append("TRACE: " + (m["trace"]["error"].get("message") or "")[:300])
    elif m.get("type") == "TRACE" and m["trace"].get("type") == "STREAM_STATUS":
        s = m["trace"]["stream_status"]
        statuses[s["stream_descriptor"]["name"]] = s["status"]
requests = json.load(open(f"{work}/requests.json")) if __import__("os").path.exists(f"{work}/requests.json") else {}
routes = {  # stream -> the emulator routes it reads
    "customers": ["/customers"], "coupons": ["/coupons"], "orders": ["/orders"],
    "order_notes": ["/orders/{id}/notes"], "products": ["/products"],
    "product_variations": ["/products/{id}/variations"], "payment_gateways": ["/payment_gateways"],
    "product_attributes": ["/products/attributes"], "product_attribute_terms": ["/products/attributes/{id}/terms"],
    "product_categories": ["/products/categories"], "product_reviews": ["/products/reviews"],
    "product_shipping_classes": ["/products/shipping_classes"], "product_tags": ["/products/tags"],
    "refunds": ["/orders/{id}/refunds"], "shipping_methods": ["/shipping_methods"],
    "shipping_zones": ["/shipping/zones"], "shipping_zone_locations": ["/shipping/zones/{id}/locations"],
    "shipping_zone_methods": ["/shipping/zones/{id}/methods"], "system_status_tools": ["/system_status/tools"],
    "tax_classes": ["/taxes/classes"], "tax_rates": ["/taxes"]}
print(f"{'stream':28} {'status':10} {'records':>8} {'distinct':>8} {'max reads':>9} {'requests':>9}")
for stream in sorted(set(routes) | set(records)):
    reads = ids[stream]
    print(f"{stream:28} {statuses.get(stream, '-'):10} {records[stream]:8} {len(reads):8} "
          f"{max(reads.values(), default=0):9} {sum(requests.get(r, 0) for r in routes.get(stream, [])):9}")
other = {r: n for r, n in requests.items() if not any(r in v for v in routes.values())}
print(f"requests in all: {sum(requests.values())}" + (f"; outside the streams' routes: {other}" if other else ""))
for p in problems[:20]:
    print(p)
if len(problems) > 20:
    print(f"... {len(problems) - 20} more")
EOF
