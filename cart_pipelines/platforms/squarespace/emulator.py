"""Squarespace Commerce APIs emulator, held to Squarespace's developer documentation
(developers.squarespace.com/commerce-apis: making-requests, rate-limits, responses-error-handling, products-overview,
retrieve-all-products, retrieve-specific-products, retrieve-all-store-pages, retrieve-all-orders,
retrieve-all-profiles). Squarespace publishes no OpenAPI file; the community one (api-evangelist/squarespace
`openapi/*.yml`) was read for the error subtypes only.

- Routes: GET `/v2/commerce/products` and `/v2/commerce/products/{ids}` (Products v2), `/1.0/commerce/store_pages`,
  `/1.0/commerce/orders` and `/1.0/commerce/orders/{id}`, `/1.0/profiles` and `/1.0/profiles/{ids}` (up to 50 ids).
- Every request needs `Authorization: Bearer <API key>` (else 401) and a User-Agent (else 400: "requests without one
  will be rejected"). A key without a permission (`knobs.denied_scopes`: "Products", "Orders", "Profiles") answers
  403 AUTHORIZATION_ERROR / MISSING_SCOPE (the status is not documented; the subtype is one the API lists).
- Errors are the standard object `{"type", "subtype", "message", "details", "contextId"}`, every field present.
- Lists: at most 50 records, `pagination: {hasNextPage, nextPageCursor, nextPageUrl}` (null cursor and URL on the
  last page). The cursor is a keyset position plus the first request's filters (dynamic: not a snapshot; a record
  changed meanwhile moves to the end of a modification-ordered list, none shifts), and is refused beside any other
  parameter (400 INVALID_ARGUMENT), as are a modifiedAfter without modifiedBefore and the reverse (400
  MISSING_ARGUMENT). Products and orders are ordered by modifiedOn (ties by id); profiles by `sortField` (id,
  createdOn, email, lastName) in `sortDirection` (asc, dsc; default descending, by id), with `filter=isCustomer,true`,
  `hasAccount,true` (semicolon-separated, ANDed) or `email,<address>`.
- Rate limit: 300 requests in any 60 seconds; a request past it answers 429 TOO_MANY_REQUESTS and starts a one-minute
  cool-down during which every request answers 429 (no Retry-After header: none is documented).

Mapping (canonical → Squarespace in mapping.py): canonical ids are served as Squarespace ids (the docs type them as
strings; real ones are 24 hex digits). Categories become Store Pages (flat); a product is on its first category's
page, an uncategorised one on the first page. A product without variants sells through one variant `<id>-0`.
Profiles are the store's customers (isCustomer when they have an order, hasAccount when they have a password);
fulfilment status: complete/refunded → FULFILLED, canceled → CANCELED, the rest PENDING; refundedTotal is what
kit/emulator_cases.py refunds (a refunded order's grand total, one line's unit of a few paid ones).
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import string
import threading
import time
from collections import deque

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import Emulator, EmulatorStore, Knobs, to_utc
from cart_pipelines.platforms.squarespace import mapping

PAGE = 50
TYPES = {"PHYSICAL", "DIGITAL", "SERVICE", "GIFT_CARD"}
SITE_URL = "https://example-shop.squarespace.com"
SCOPE = {"products": "Products", "store_pages": "Products", "orders": "Orders", "profiles": "Profiles"}


class Problem(Exception):
    def __init__(self, status: int, type_: str, message: str, subtype: str | None = None):
        super().__init__(message)
        self.status, self.type, self.subtype, self.message = status, type_, subtype, message


def _bad(message: str, subtype: str = "INVALID_ARGUMENT") -> Problem:
    return Problem(400, "INVALID_REQUEST_ERROR", message, subtype)


class SquarespaceEmulator(Emulator):
    platform = "squarespace"
    url_map = Map([
        Rule("/v2/commerce/products", endpoint="products"),
        Rule("/v2/commerce/products/<ids>", endpoint="products_by_id"),
        Rule("/1.0/commerce/store_pages", endpoint="store_pages"),
        Rule("/1.0/commerce/orders", endpoint="orders"),
        Rule("/1.0/commerce/orders/<id_>", endpoint="order_by_id"),
        Rule("/1.0/profiles", endpoint="profiles", strict_slashes=False),
        Rule("/1.0/profiles/<ids>", endpoint="profiles_by_id"),
    ])
    quota, window_s, cooldown_s = 300, 60.0, 60.0  # the documented limit; tests may shrink them

    def __init__(self, store: EmulatorStore, knobs: Knobs | None = None):
        super().__init__(store, knobs)
        self.key = "sq_" + secrets.token_hex(16)
        self._calls: deque[float] = deque()
        self._locked_until = 0.0
        self._rate_lock = threading.Lock()

    def credentials(self) -> dict:
        return {"api_key": self.key}

    # --- the standard error object, auth, limits -------------------------------------------------------------------
    def problem(self, status: int, type_: str, message: str, subtype: str | None = None) -> Response:
        context = "".join(random.choices(string.ascii_uppercase, k=9))
        return self.json({"type": type_, "subtype": subtype, "message": message, "details": None,
                          "contextId": context}, status)

    def throttled(self, request: Request) -> Response:
        return self.problem(429, "TOO_MANY_REQUESTS", "Too many requests. Please wait a minute and try again.")

    def error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.code == 404:
            return self.problem(404, "INVALID_REQUEST_ERROR", "Not Found")
        return self.problem(500, "SERVER_ERROR", "An unexpected error occurred.")

    def _limited(self) -> bool:
        if not self.knobs.rate_limit:
            return False
        with self._rate_lock:
            now = time.monotonic()
            if now < self._locked_until:
                return True
            while self._calls and now - self._calls[0] >= self.window_s:
                self._calls.popleft()
            if len(self._calls) >= self.quota:
                self._locked_until = now + self.cooldown_s
                return True
            self._calls.append(now)
            return False

    def _serve(self, request: Request, resource: str, answer) -> Response:
        try:
            if not (request.headers.get("User-Agent") or "").strip():
                raise _bad("A User-Agent header is required.", "MISSING_ARGUMENT")
            auth = request.headers.get("Authorization") or ""
            if auth != f"Bearer {self.key}":
                raise Problem(401, "AUTHORIZATION_ERROR", "The API key or OAuth token is invalid or missing.")
            if self._limited():
                return self.throttled(request)
            if SCOPE[resource] in self.knobs.denied_scopes:
                raise Problem(403, "AUTHORIZATION_ERROR", f"The API key lacks the {SCOPE[resource]} permission.",
                              "MISSING_SCOPE")
            body, items = answer()
        except Problem as p:
            return self.problem(p.status, p.type, p.message, p.subtype)
        self.delay(items)
        return self.json(body)

    # --- cursors and windows -------------------------------------------------------------------------------------
    @staticmethod
    def _encode(state: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")

    @staticmethod
    def _decode(cursor: str) -> dict:
        try:
            state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
            assert isinstance(state, dict) and "a" in state
            return state
        except Exception:
            raise _bad("The cursor is invalid.") from None

    def _params(self, request: Request, allowed: set[str]) -> dict:
        """The first request's filters, or those the cursor carries (the cursor comes alone)."""
        args = {k: v for k, v in request.args.items()}
        unknown = set(args) - allowed - {"cursor"}
        if unknown:
            raise _bad(f"Unknown parameter(s): {', '.join(sorted(unknown))}.")
        if args.get("cursor"):
            if len(args) > 1:
                raise _bad("A cursor cannot be used with other parameters.")
            return self._decode(args["cursor"])
        args.pop("cursor", None)
        if ("modifiedAfter" in args) != ("modifiedBefore" in args):
            raise _bad("modifiedAfter and modifiedBefore must be passed together.", "MISSING_ARGUMENT")
        for name in ("modifiedAfter", "modifiedBefore"):
            if name in args:
                try:
                    to_utc(args[name])
                except ValueError:
                    raise _bad(f"{name} is not an ISO 8601 date and time.") from None
        return {"f": args, "a": None}

    def _page(self, entity: str, state: dict, where: list[str], params: list, path: str) -> tuple[list[dict], dict]:
        """Up to 50 records after the cursor's (updated_at, id), ordered by modification time."""
        f = state["f"]
        clauses, args = list(where), list(params)
        if "modifiedAfter" in f:
            clauses += ["updated_at > ?", "updated_at < ?"]
            args += [to_utc(f["modifiedAfter"]), to_utc(f["modifiedBefore"])]
        if state["a"]:
            at, last = state["a"]
            clauses.append("(updated_at > ? OR (updated_at = ? AND id > ?))")
            args += [to_utc(at), to_utc(at), int(last)]
        sql = (f"SELECT id, updated_at, record FROM {entity}" + (" WHERE " + " AND ".join(clauses) if clauses else "")
               + " ORDER BY updated_at, id LIMIT ?")
        with self.store.lock:
            rows = self.store.con.execute(sql, args + [PAGE + 1]).fetchall()
        more, rows = len(rows) > PAGE, rows[:PAGE]
        cursor = self._encode({"f": f, "a": [rows[-1][1].isoformat(), rows[-1][0]]}) if more else None
        return [json.loads(r[2]) for r in rows], self._pagination(path, cursor)

    @staticmethod
    def _pagination(path: str, cursor: str | None) -> dict:
        return {"hasNextPage": cursor is not None, "nextPageCursor": cursor,
                "nextPageUrl": f"{path}?cursor={cursor}" if cursor else None}

    # --- store pages and products --------------------------------------------------------------------------------
    def _first_page(self) -> str | None:
        with self.store.lock:
            row = self.store.con.execute("SELECT min(id) FROM categories").fetchall()[0][0]
        return None if row is None else str(row)

    def _currency(self) -> str:
        with self.store.lock:
            row = self.store.con.execute("SELECT json_extract_string(record, '$.currency') FROM orders "
                                         "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchall()
        return row[0][0] if row and row[0][0] else "USD"

    def _product(self, p: dict, first_page: str | None, currency: str) -> dict:
        page = (p.get("category_ids") or [first_page])[0]
        # no variant status (mapping.VARIANT_STATUS_HELD): a disabled variant was deleted; none sold, hidden
        held = cases.product_without_variant_status(p, mapping.VARIANTS_ALL_DISABLED_LIFECYCLE)
        return mapping.product_out(held, page, SITE_URL, currency)

    def store_pages(self, request: Request) -> Response:
        def answer():
            state = self._params(request, set())
            after = int(state["a"]) if state["a"] else 0
            rows = self.store.page("categories", 0, PAGE + 1, after_id=after)
            more, rows = len(rows) > PAGE, rows[:PAGE]
            cursor = self._encode({"f": {}, "a": int(rows[-1]["source_id"])}) if more else None
            return {"storePages": [mapping.store_page_out(c) for c in rows],
                    "pagination": self._pagination(request.path, cursor)}, len(rows)
        return self._serve(request, "store_pages", answer)

    def products(self, request: Request) -> Response:
        def answer():
            state = self._params(request, {"modifiedAfter", "modifiedBefore", "type", "query"})
            types = {t.strip() for t in (state["f"].get("type") or ",".join(TYPES)).split(",") if t.strip()}
            if types - TYPES:
                raise _bad(f"Unsupported product type(s): {', '.join(sorted(types - TYPES))}.")
            if "PHYSICAL" not in types:  # every product served is PHYSICAL
                return {"products": [], "pagination": self._pagination(request.path, None)}, 0
            held = cases.held_sql(mapping.PRODUCT_LIFECYCLE_HELD, "lifecycle")  # a trashed product was deleted
            rows, pagination = self._page("products", state, [held] if held else [], [], request.path)
            first, currency = self._first_page(), self._currency()
            return {"products": [self._product(p, first, currency) for p in rows], "pagination": pagination}, len(rows)
        return self._serve(request, "products", answer)

    def products_by_id(self, request: Request, ids: str) -> Response:
        def answer():
            wanted = [i for i in ids.split(",") if i]
            if not wanted or len(wanted) > PAGE or not all(i.isdigit() for i in wanted):
                raise _bad("Between 1 and 50 valid product ids are required.")
            found = [self.store.get("products", int(i)) for i in wanted]
            found = [p and cases.product_held(p, mapping.PRODUCT_LIFECYCLE_HELD) for p in found]
            if any(p is None for p in found):
                raise Problem(404, "INVALID_REQUEST_ERROR", "One or more products were not found.")
            first, currency = self._first_page(), self._currency()
            return {"products": [self._product(p, first, currency) for p in found]}, len(found)
        return self._serve(request, "products", answer)

    # --- orders ----------------------------------------------------------------------------------------------------
    def orders(self, request: Request) -> Response:
        def answer():
            state = self._params(request, {"modifiedAfter", "modifiedBefore", "fulfillmentStatus", "customerId"})
            status = state["f"].get("fulfillmentStatus")
            if status and status not in ("PENDING", "FULFILLED", "CANCELED"):
                raise _bad("fulfillmentStatus must be PENDING, FULFILLED or CANCELED.")
            where, params = [], []
            if status:
                wanted = [k for k, v in mapping.FULFILMENT.items() if v == status] if status != "PENDING" else None
                col = "json_extract_string(record, '$.status')"
                if wanted:
                    where.append(f"{col} IN ({', '.join('?' for _ in wanted)})")
                    params += wanted
                else:
                    where.append(f"coalesce({col}, '') NOT IN ('complete', 'refunded', 'canceled')")
            if state["f"].get("customerId"):
                where.append("json_extract_string(record, '$.customer_id') = ?")
                params.append(state["f"]["customerId"])
            rows, pagination = self._page("orders", state, where, params, request.path)
            result = [mapping.order_out(o, cases.refunded_total(o)) for o in rows]
            return {"result": result, "pagination": pagination}, len(rows)
        return self._serve(request, "orders", answer)

    def order_by_id(self, request: Request, id_: str) -> Response:
        def answer():
            o = self.store.get("orders", int(id_)) if id_.isdigit() else None
            if o is None:
                raise Problem(404, "INVALID_REQUEST_ERROR", "Order not found.")
            return mapping.order_out(o, cases.refunded_total(o)), 1
        return self._serve(request, "orders", answer)

    # --- profiles --------------------------------------------------------------------------------------------------
    def _profiles(self) -> list[dict]:
        with self.store.lock:
            counts = dict(self.store.con.execute("SELECT json_extract_string(record, '$.customer_id'), count(*) "
                                                 "FROM orders GROUP BY 1").fetchall())
            rows = self.store.con.execute("SELECT record FROM customers").fetchall()
        return [mapping.profile_out(c, counts.get(str(c["source_id"]), 0)) for c in (json.loads(r[0]) for r in rows)]

    def profiles(self, request: Request) -> Response:
        def answer():
            state = self._params(request, {"filter", "sortField", "sortDirection"})
            f = state["f"]
            field, direction = f.get("sortField") or "id", f.get("sortDirection") or "dsc"
            if field not in ("id", "createdOn", "email", "lastName") or direction not in ("asc", "dsc"):
                raise _bad("sortField must be createdOn, id, email or lastName; sortDirection asc or dsc.")
            rows = [p for p in self._profiles() if self._keeps(p, f.get("filter"))]
            key = (lambda p: (int(p["id"]),)) if field == "id" else (lambda p: (p.get(field) or "", int(p["id"])))
            rows.sort(key=key, reverse=direction == "dsc")
            if state["a"] is not None:
                at = tuple(state["a"])
                rows = [p for p in rows if (key(p) < at if direction == "dsc" else key(p) > at)]
            more, rows = len(rows) > PAGE, rows[:PAGE]
            cursor = self._encode({"f": f, "a": list(key(rows[-1]))}) if more else None
            return {"profiles": rows, "pagination": self._pagination(request.path, cursor)}, len(rows)
        return self._serve(request, "profiles", answer)

    @staticmethod
    def _keeps(p: dict, spec: str | None) -> bool:
        if not spec:
            return True
        terms = dict(t.split(",", 1) for t in spec.split(";") if "," in t)
        if "email" in terms and set(terms) - {"email"}:
            raise _bad("The email filter cannot be used with isCustomer or hasAccount.")
        for name, value in terms.items():
            if name in ("isCustomer", "hasAccount"):
                if value != "true":
                    raise _bad(f"{name}: only true is supported.")
                if not p.get(name):
                    return False
            elif name == "email":
                if (p.get("email") or "").lower() != value.lower():
                    return False
            else:
                raise _bad(f"Unknown filter {name}.")
        return True

    def profiles_by_id(self, request: Request, ids: str) -> Response:
        def answer():
            wanted = [i for i in ids.split(",") if i]
            if not wanted or len(wanted) > PAGE:
                raise _bad("Between 1 and 50 profile ids are required.")
            by_id = {p["id"]: p for p in self._profiles()}
            if any(i not in by_id for i in wanted):
                raise Problem(404, "INVALID_REQUEST_ERROR", "One or more profiles were not found.")
            return {"profiles": [by_id[i] for i in wanted]}, len(wanted)
        return self._serve(request, "profiles", answer)


def rate_bound_rows_per_s(entity: str, plan: str = "standard") -> float | None:
    """Most rows/s the documented limit allows: 300 requests a minute × 50 records a page (benchmarks)."""
    return SquarespaceEmulator.quota / SquarespaceEmulator.window_s * PAGE
