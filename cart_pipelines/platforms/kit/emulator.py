"""What every platform emulator shares: the store it serves, the HTTP server, rate-limit buckets, latency.

An emulator is test infrastructure held to the platform's documented behaviour. It serves a store produced by
the sample generator (canonical records in an in-memory DuckDB, so a 100k-product store stays compact and pages
come from SQL), on 127.0.0.1 only, over HTTP or TLS (a certificate made at start with trustme), and stops itself
after `lifetime` seconds. Platform modules subclass Emulator: they map canonical records to the platform's JSON
and implement its auth, pagination, limits, headers and error bodies.
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable, Iterator

import duckdb
import pyarrow as pa
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.sample.generator import StoreSize, generate_store


def to_utc(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(timezone.utc)


class EmulatorStore:
    """Canonical records per entity, addressable by numeric id, filterable by updated_at, and mutable (so tests
    can insert, update and delete while a client is paging)."""

    def __init__(self, export_dir: str | Path):
        self.con = duckdb.connect()
        self.lock = threading.RLock()
        for entity in ENTITY_NAMES:
            self.con.execute(f"CREATE TABLE {entity} (id BIGINT PRIMARY KEY, created_at TIMESTAMPTZ, "
                             f"updated_at TIMESTAMPTZ, record VARCHAR)")
            path = Path(export_dir) / f"{entity}.jsonl"
            if path.exists():
                self._load(entity, path)

    @classmethod
    def generated(cls, products: int = 100, seed: int = 7) -> "EmulatorStore":
        size = StoreSize() if products == 500 else StoreSize.scaled(products)
        with tempfile.TemporaryDirectory(prefix="cart-emulator-") as tmp:
            generate_store(tmp, seed=seed, size=size)
            return cls(tmp)

    def _load(self, entity: str, path: Path) -> None:
        rows = []
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                updated = rec.get("updated_at") or "2023-01-01T00:00:00Z"
                rows.append((int(rec["source_id"]), rec.get("created_at") or updated, updated, line))
                if len(rows) >= 5000:
                    self._insert(entity, rows)
                    rows = []
        self._insert(entity, rows)

    def _insert(self, entity: str, rows: list[tuple]) -> None:
        if rows:  # through Arrow: DuckDB's executemany goes row by row, far too slow for 100k-product stores
            ids, created, updated, records = zip(*rows)
            batch = pa.table({"id": pa.array(ids, pa.int64()), "created_at": pa.array(map(str, created)),
                              "updated_at": pa.array(map(str, updated)), "record": pa.array(records)})
            self.con.register("_rows", batch)
            self.con.execute(f"INSERT OR REPLACE INTO {entity} SELECT id, created_at::TIMESTAMPTZ, "
                             f"updated_at::TIMESTAMPTZ, record FROM _rows").fetchall()
            self.con.unregister("_rows")

    @staticmethod
    def _decode(text: str) -> dict:
        return json.loads(text, parse_float=Decimal)

    def _where(self, updated_min, updated_max, ids, within=()) -> tuple[str, list]:
        """`within`: further (column, operator, value) conditions, column created_at or id, operator one of
        >, >=, <, <= (the platforms' created-date and id-range filters)."""
        clauses, params = [], []
        for column, op, value in within:
            if column not in ("created_at", "id") or op not in (">", ">=", "<", "<="):
                raise ValueError(f"emulator store: no filter {column} {op}")
            clauses.append(f"{column} {op} ?")
            params.append(int(value) if column == "id" else to_utc(value))
        if updated_min is not None:
            clauses.append("updated_at > ?")
            params.append(to_utc(updated_min))
        if updated_max is not None:
            clauses.append("updated_at <= ?")
            params.append(to_utc(updated_max))
        if ids is not None:
            clauses.append(f"id IN ({', '.join(str(int(i)) for i in ids) or 'NULL'})")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def count(self, entity: str, updated_min=None, updated_max=None, ids=None, within=()) -> int:
        where, params = self._where(updated_min, updated_max, ids, within)
        with self.lock:
            return self.con.execute(f"SELECT count(*) FROM {entity}{where}", params).fetchall()[0][0]

    def page(self, entity: str, offset: int, limit: int, updated_min=None, updated_max=None, ids=None,
             order: str = "id", after_id: int | None = None, within=()) -> list[dict]:
        """Records ordered by `order` ('id', '-id' for highest first, 'created_at', '-created_at' for newest first or
        'updated_at', ties by id);
        `after_id` is keyset paging by id."""
        where, params = self._where(updated_min, updated_max, ids, within)
        if after_id is not None:
            where += (" AND " if where else " WHERE ") + "id > ?"
            params.append(int(after_id))
        order_sql = {"id": "id", "-id": "id DESC", "created_at": "created_at, id",
                     "-created_at": "created_at DESC, id DESC"}.get(order, "updated_at, id")
        with self.lock:
            rows = self.con.execute(f"SELECT record FROM {entity}{where} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                                    params + [int(limit), int(offset)]).fetchall()
        return [self._decode(r[0]) for r in rows]

    def get(self, entity: str, id_: int) -> dict | None:
        with self.lock:
            rows = self.con.execute(f"SELECT record FROM {entity} WHERE id = ?", [int(id_)]).fetchall()
        return self._decode(rows[0][0]) if rows else None

    def put(self, entity: str, record: dict, touch: bool = True) -> dict:
        """Insert or replace a canonical record; `touch` sets updated_at to now, as a platform would."""
        record = dict(record)
        if touch:
            record["updated_at"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        text = json.dumps(record, ensure_ascii=False, default=_json_default)
        id_ = int(record["source_id"])
        with self.lock:  # one record: DELETE + INSERT is ~4× faster in DuckDB than INSERT OR REPLACE
            self.con.execute(f"DELETE FROM {entity} WHERE id = ?", [id_])
            self.con.execute(f"INSERT INTO {entity} VALUES (?, ?::TIMESTAMPTZ, ?::TIMESTAMPTZ, ?)",
                             [id_, str(record.get("created_at") or record["updated_at"]), str(record["updated_at"]),
                              text])
        return record

    def delete(self, entity: str, id_: int) -> bool:
        with self.lock:
            return self.con.execute(f"DELETE FROM {entity} WHERE id = ?", [int(id_)]).fetchall()[0][0] > 0

    def next_id(self, entity: str) -> int:
        with self.lock:
            return (self.con.execute(f"SELECT max(id) FROM {entity}").fetchall()[0][0] or 0) + 1


def _json_default(value):
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(type(value).__name__)


class FixedWindow:
    """A request quota per time window (BigCommerce-style): `take()` says whether a request may pass, and the
    numbers a platform reports in its headers."""

    def __init__(self, quota: int, window_s: float):
        self.quota, self.window_s = quota, window_s
        self.lock = threading.Lock()
        self.start, self.used = time.monotonic(), 0

    def take(self) -> tuple[bool, int, float]:
        """(allowed, requests left, seconds until the window resets)."""
        with self.lock:
            now = time.monotonic()
            if now - self.start >= self.window_s:
                self.start, self.used = now, 0
            reset = self.window_s - (now - self.start)
            if self.used >= self.quota:
                return False, 0, reset
            self.used += 1
            return True, self.quota - self.used, reset


class LeakyBucket:
    """A bucket of `size` that refills at `rate` per second (Shopify's cost points, REST call limits)."""

    def __init__(self, size: float, rate: float):
        self.size, self.rate = float(size), float(rate)
        self.level = float(size)
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def _refill(self) -> None:
        now = time.monotonic()
        self.level = min(self.size, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, amount: float) -> tuple[bool, float]:
        """(allowed, available after); nothing is taken when not allowed."""
        with self.lock:
            self._refill()
            if amount > self.level:
                return False, self.level
            self.level -= amount
            return True, self.level

    def refund(self, amount: float) -> None:
        with self.lock:
            self._refill()
            self.level = min(self.size, self.level + amount)


WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Knobs:
    """Behaviour switches shared by all emulators."""

    latency_ms: float = 0.0  # fixed part of every response's latency
    latency_per_item_ms: float = 0.0  # size-dependent part, per record in a page
    plan: str = "standard"  # rate-limit plan; each platform maps it to its documented limits
    rate_limit: bool = True  # False disables the limit entirely (unit tests of other behaviour)
    storm: int = 0  # answer the next `storm` requests with the platform's own 429 response (a 429 storm)
    denied_scopes: tuple[str, ...] = ()  # scopes/permissions the credentials lack (platform's 403 on use)
    # Fault injection, per GET request with these probabilities, from a seeded random stream:
    # "500"/"502"/"503"/"504" status answers, "slow" (a response slower than `slow_s`), "drop" (the connection
    # closes mid-body), "truncate" (HTTP 200 with cut-off JSON).
    faults: dict = field(default_factory=dict)
    fault_seed: int = 0
    slow_s: float = 3.0
    # Called with each request once its response is ready and before it is sent: a test changes the store here
    # (insert, update, delete) while a client is part-way through a paginated read. See tests/test_delta_changes.py.
    after_response: Callable[[Request], None] | None = None
    # The same, per write request (POST/PUT/PATCH/DELETE), for target emulators: "429" (refused with the platform's
    # 429, nothing written), "500"/"502"/"503"/"504" (failed before writing), "applied_500"/"applied_502" (written,
    # then the answer is lost to a 5xx: a blind retry writes twice), "drop" (written, the connection closes
    # mid-answer), "slow" (written, answered after `slow_s`), "expire_token" (the caller's access token expires
    # just before; emulators with tokens honour it through `expire_token`).
    write_faults: dict = field(default_factory=dict)
    reject_rate: float = 0.0  # share of records a target emulator rejects with its own validation message


class Emulator:
    """Base WSGI app; subclasses set `platform`, `url_map` endpoints and `credentials()`."""

    platform = "base"
    url_map = Map([])

    def __init__(self, store: EmulatorStore, knobs: Knobs | None = None):
        self.store = store
        self.knobs = knobs or Knobs()
        self.requests = 0
        self.lock = threading.Lock()
        self.base_url = ""  # set by serve()
        self.faults_by_kind: dict[str, int] = {}

    def credentials(self) -> dict:
        """The platform's own credential names and the values a client must use."""
        return {}

    def delay(self, items: int = 0) -> None:
        ms = self.knobs.latency_ms + self.knobs.latency_per_item_ms * items
        if ms > 0:
            time.sleep(ms / 1000)

    def json(self, body, status: int = 200, headers: dict | None = None) -> Response:
        return Response(json.dumps(body, ensure_ascii=False, default=_json_default), status=status,
                        headers=headers or {}, content_type="application/json; charset=UTF-8")

    def throttled(self, request: Request) -> Response:
        """The platform's own rate-limited response (status, headers, body); subclasses override."""
        return self.json({"error": "Too Many Requests"}, 429, {"Retry-After": "1"})

    def error(self, request: Request, exc: Exception) -> Response:
        """The platform's error body for an unexpected failure; subclasses override to match their format."""
        status = exc.code if isinstance(exc, HTTPException) else 500
        return self.json({"error": str(exc)}, status)

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self.lock:
            self.requests += 1
        with self.lock:
            storm = self.knobs.storm > 0
            if storm:
                self.knobs.storm -= 1
        if storm:
            return self.throttled(request)(environ, start_response)
        fault = self._fault(request)
        writing = request.method in WRITE_METHODS
        if fault == "429":
            return self.throttled(request)(environ, start_response)
        if fault in ("500", "502", "503", "504"):
            return self.json({"error": "injected fault"}, int(fault))(environ, start_response)
        if fault == "expire_token":
            self.expire_token(request)
        if fault == "slow" and not writing:
            time.sleep(self.knobs.slow_s)
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
            response = getattr(self, endpoint)(request, **args)
        except NotFound as exc:
            response = self.error(request, exc)
        except Exception as exc:  # an emulator bug must surface as a 500 a client can see, not a hang
            response = self.error(request, exc)
        if self.knobs.after_response is not None:
            self.knobs.after_response(request)
        if fault and fault.startswith("applied_"):  # the write happened; its answer is lost
            return self.json({"error": "injected fault"}, int(fault[8:]))(environ, start_response)
        if fault == "slow" and writing:  # applied first: a client that gives up must not miss a write
            time.sleep(self.knobs.slow_s)
        if fault in ("drop", "truncate"):
            body = response.get_data()
            cut = body[: len(body) // 2]
            headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
            # "drop" promises the whole body and stops half-way; "truncate" sends a short, complete-looking body
            headers.append(("Content-Length", str(len(body) if fault == "drop" else len(cut))))
            start_response(response.status, headers)
            return [cut]
        return response(environ, start_response)

    #: Requests faults may hit: reads. (GraphQL reads are POSTs: an emulator may widen this for read-only tests.)
    fault_methods: tuple[str, ...] = ("GET",)

    #: Paths faults never hit (e.g. an OAuth login and token service, which is not the API under test).
    fault_exempt: tuple[str, ...] = ()

    def _fault(self, request: Request) -> str | None:
        if self.fault_exempt and request.path.startswith(self.fault_exempt):
            return None
        if request.method in WRITE_METHODS and self.knobs.write_faults:
            faults = self.knobs.write_faults
        elif request.method in self.fault_methods and self.knobs.faults:
            faults = self.knobs.faults
        else:
            return None
        with self.lock:
            if not hasattr(self, "_fault_rng"):
                self._fault_rng = random.Random(self.knobs.fault_seed)
            roll = self._fault_rng.random()
            for name, p in faults.items():
                if roll < p:
                    self.faults_injected = getattr(self, "faults_injected", 0) + 1
                    self.faults_by_kind[name] = self.faults_by_kind.get(name, 0) + 1
                    return name
                roll -= p
        return None

    def expire_token(self, request: Request) -> None:
        """Expire the access token this request carries (emulators with OAuth tokens override)."""

    def rejects(self, key: str) -> bool:
        """Whether a target emulator rejects the record `key` (Knobs.reject_rate); decided per record, so a retry
        of the same record is rejected again, as a real target's validation would."""
        rate = self.knobs.reject_rate
        return rate > 0 and random.Random(f"{self.knobs.fault_seed}:{key}").random() < rate


@dataclass
class Running:
    emulator: Emulator
    base_url: str
    ca_file: str | None
    stop: callable

    @property
    def credentials(self) -> dict:
        return self.emulator.credentials()

    def announce(self) -> dict:
        """The JSON line `cart-pipelines emulate` prints: where to connect and with what."""
        line = {"platform": self.emulator.platform, "base_url": self.base_url, **self.credentials}
        if self.ca_file:
            line["ca_file"] = self.ca_file
        return line


class QuietHandler(WSGIRequestHandler):
    """No access log: query strings can carry credentials (WooCommerce query-string auth, OAuth signatures)."""

    def log_request(self, *args, **kwargs) -> None:
        pass


def serve(emulator: Emulator, port: int = 0, tls: bool = False, lifetime: float | None = 900) -> Running:
    """Serve on 127.0.0.1 in a background thread; stops after `lifetime` seconds (None: until stop())."""
    ssl_context, ca_file, tmp = None, None, None
    if tls:
        import ssl

        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ssl_context)
        tmp = tempfile.TemporaryDirectory(prefix="cart-emulator-ca-")
        ca_file = str(Path(tmp.name) / "ca.pem")
        ca.cert_pem.write_to_path(ca_file)
    server = make_server("127.0.0.1", port, emulator, threaded=True, ssl_context=ssl_context,
                         request_handler=QuietHandler)
    scheme = "https" if tls else "http"
    emulator.base_url = f"{scheme}://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name=f"emulator-{emulator.platform}", daemon=True)
    thread.start()
    timer = None
    stopped = threading.Event()

    def stop() -> None:
        if not stopped.is_set():
            stopped.set()
            server.shutdown()
            server.server_close()
            if timer:
                timer.cancel()
            if tmp:
                tmp.cleanup()

    if lifetime:
        timer = threading.Timer(lifetime, stop)
        timer.daemon = True
        timer.start()
    return Running(emulator, emulator.base_url, ca_file, stop)


@contextmanager
def running(emulator: Emulator, tls: bool = False, lifetime: float | None = 900) -> Iterator[Running]:
    handle = serve(emulator, tls=tls, lifetime=lifetime)
    try:
        yield handle
    finally:
        handle.stop()
