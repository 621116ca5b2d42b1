#!/usr/bin/env bash
# Shared by shopify_airbyte.sh and shopify_singer.sh: start the Shopify emulator for a peer client that insists on
# https://{shop}.myshopify.com. Only the host changes for the client: HTTPS_PROXY points at a CONNECT proxy on
# 127.0.0.1 that tunnels *.myshopify.com:443 to the emulator (TLS, a certificate for *.myshopify.com made now by
# trustme), and REQUESTS_CA_BUNDLE / SSL_CERT_FILE at its CA. Both stop after PEER_LIFETIME seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS="$ROOT/bench/.cache/peers"  # git-ignored
PEER_LIFETIME=${PEER_LIFETIME:-600}
PRODUCTS=${PRODUCTS:-60}
mkdir -p "$PEERS"

peer_venv() {  # peer_venv NAME PACKAGE: a venv of its own with the peer installed once
  local venv="$PEERS/$1"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" show "$2" >/dev/null 2>&1 || "$venv/bin/pip" install --quiet "$2"
  echo "$venv"
}

start_emulator() {  # sets PROXY, CA_FILE, TOKEN, EMULATOR_PID; the first line the launcher prints is JSON
  local out="$PEERS/emulator.$$.json"
  "$ROOT/.venv/bin/python" - "$PRODUCTS" "$PEER_LIFETIME" >"$out" 2>"$PEERS/emulator.$$.log" <<'PY' &
import json, select, socket, ssl, sys, tempfile, threading, time
from pathlib import Path
import trustme
from werkzeug.serving import make_server
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs, QuietHandler
from cart_pipelines.platforms.shopify.emulator import TOKEN, ShopifyEmulator

products, lifetime = int(sys.argv[1]), float(sys.argv[2])
emulator = ShopifyEmulator(EmulatorStore.generated(products=products), Knobs())
ca = trustme.CA()
cert = ca.issue_cert("127.0.0.1", "localhost", "*.myshopify.com")
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
cert.configure_cert(context)
tmp = tempfile.mkdtemp(prefix="shopify-peer-")
ca_file = str(Path(tmp) / "ca.pem")
ca.cert_pem.write_to_path(ca_file)
server = make_server("127.0.0.1", 0, emulator, threaded=True, ssl_context=context, request_handler=QuietHandler)
emulator.base_url = "https://emulated-shop.myshopify.com"  # bulk file URLs go through the proxy too
threading.Thread(target=server.serve_forever, daemon=True).start()


def pipe(a, b):
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [], 60)
            if not ready:
                return
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        pass
    finally:
        a.close(); b.close()


def tunnel(client):
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 8192:
        chunk = client.recv(4096)
        if not chunk:
            return client.close()
        head += chunk
    method, target = head.split(b" ")[:2]
    host = target.decode().rsplit(":", 1)[0]
    if method != b"CONNECT" or not host.endswith(".myshopify.com"):
        client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        return client.close()
    upstream = socket.create_connection(("127.0.0.1", server.server_port))
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    pipe(client, upstream)


proxy = socket.socket()
proxy.bind(("127.0.0.1", 0))
proxy.listen(64)
print(json.dumps({"proxy": f"http://127.0.0.1:{proxy.getsockname()[1]}", "ca_file": ca_file, "token": TOKEN}),
      flush=True)
threading.Thread(target=lambda: [threading.Thread(target=tunnel, args=(proxy.accept()[0],), daemon=True).start()
                                 for _ in iter(int, 1)], daemon=True).start()
time.sleep(lifetime)
PY
  EMULATOR_PID=$!
  for _ in $(seq 120); do [ -s "$out" ] && break; sleep 0.5; done
  PROXY=$("$ROOT/.venv/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['proxy'])" "$out")
  CA_FILE=$("$ROOT/.venv/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['ca_file'])" "$out")
  TOKEN=$("$ROOT/.venv/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['token'])" "$out")
  trap 'kill $EMULATOR_PID 2>/dev/null || true' EXIT
  export HTTPS_PROXY="$PROXY" https_proxy="$PROXY" REQUESTS_CA_BUNDLE="$CA_FILE" SSL_CERT_FILE="$CA_FILE"
  unset NO_PROXY no_proxy
}

count_records() {  # count_records FILE: records per stream of an Airbyte or Singer message stream
  "$ROOT/.venv/bin/python" - "$1" <<'PY'
import collections, json, sys
n = collections.Counter()
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("type") == "RECORD":
        n[m.get("stream") or m.get("record", {}).get("stream")] += 1
for stream, k in sorted(n.items()):
    print(f"{stream:40} {k:6}")
print(f"{'total':40} {sum(n.values()):6}")
PY
}
