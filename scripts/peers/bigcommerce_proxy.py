"""An HTTPS proxy on 127.0.0.1 that answers for api.bigcommerce.com from the BigCommerce emulator.

Peer connectors (airbyte-source-bigcommerce, tap-bigcommerce) hard-code https://api.bigcommerce.com and take no
host setting. Without touching them, requests' own proxy and CA settings redirect them: HTTPS_PROXY points here,
this proxy accepts CONNECT for api.bigcommerce.com:443 only (anything else is refused, nothing leaves the machine),
ends TLS with a certificate for that name from a CA made now (REQUESTS_CA_BUNDLE), and pipes the plain HTTP to the
emulator. Prints one JSON line: proxy URL and CA file. Stops after --lifetime seconds. `--host` answers for another
name the same way (bench/peers_extract.py: a Shopify peer's {shop}.myshopify.com).

    python bigcommerce_proxy.py --emulator http://127.0.0.1:PORT [--lifetime 900] [--host api.bigcommerce.com]
"""

from __future__ import annotations

import argparse
import json
import socket
import socketserver
import ssl
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlparse

import trustme

HOST = "api.bigcommerce.com"


def pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--emulator", required=True, help="the emulator's http://127.0.0.1:PORT base URL")
    ap.add_argument("--lifetime", type=float, default=900)
    ap.add_argument("--host", default=HOST, help="The one host name it answers CONNECT for, on port 443.")
    args = ap.parse_args()
    host = args.host
    target = urlparse(args.emulator)
    if target.hostname not in ("127.0.0.1", "localhost") or target.scheme != "http":
        raise SystemExit("--emulator must be a plain-HTTP emulator on 127.0.0.1")
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(host).configure_cert(tls)
    tmp = tempfile.mkdtemp(prefix="bc-peer-ca-")
    ca_file = str(Path(tmp) / "ca.pem")
    ca.cert_pem.write_to_path(ca_file)

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            line = self.rfile.readline(8192).decode("latin-1").split()
            while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                pass  # the CONNECT request's headers
            if len(line) < 2 or line[0] != "CONNECT" or line[1] != f"{host}:443":
                self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            try:
                client = tls.wrap_socket(self.connection, server_side=True)
            except (ssl.SSLError, OSError):
                return
            upstream = socket.create_connection((target.hostname, target.port), timeout=120)
            back = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
            back.start()
            pipe(client, upstream)
            back.join(timeout=5)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", 0), Handler)
    print(json.dumps({"https_proxy": f"http://127.0.0.1:{server.server_address[1]}", "ca_file": ca_file}),
          flush=True)
    threading.Timer(args.lifetime, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
