"""Wix REST emulator (`https://www.wixapis.com`), held to Wix's REST reference (dev.wix.com/docs, markdown at
dev.wix.com/docs/llms-full.txt; Wix publishes no OpenAPI file) and to the request/response types of Wix's own SDK
packages (`@wix/auto_sdk_stores_products`, `..._products-v-3`, `..._read-only-variants-v-3`, `..._brands-v-3`,
`..._catalog-versioning`, `@wix/auto_sdk_categories_categories`, `..._ecom_orders`, `..._ecom_tax-groups`,
`..._crm_contacts`, `..._reviews_reviews` on npm), read for field names and types.

- The site runs ONE Stores catalog, chosen by `catalog` on the emulator ("V3_CATALOG", new sites' default;
  "V1_CATALOG"; "STORES_NOT_INSTALLED"). `GET /stores/v3/provision/version` says which; the other catalog's
  endpoints answer 428 Precondition Required (as Wix's own notes say of V3 calls on a V1 site).
- Auth: `Authorization: <API key>` (no scheme) and `wix-site-id`; a wrong key answers 401 UNAUTHENTICATED, a site ID
  the key's account does not hold 404 SITE_NOT_FOUND (not documented: an assumption), a permission the key lacks
  (`knobs.denied_scopes`, in the API Keys Manager's words: "Read Products", "Read Orders", "Read Contacts", "Read
  Reviews", "Read Tax Groups") 403 PERMISSION_DENIED naming it.
- Errors: `{"message", "details": {"applicationError": {"code", "description", "data"}}}`, or `validationError`
  with `fieldViolations` for a bad request (400).
- Rate limit: 200 requests a minute per site (fixed window); past it 429 RESOURCE_EXHAUSTED. Wix documents no rate
  headers and no Retry-After, so none are sent.
- Queries (all POST): V1 products and collections take `query.filter`/`query.sort` as JSON strings and
  `query.paging` {limit ≤ 100, offset}, answering `metadata` {items, offset} and `totalResults`; V1 products hide
  `visible: false` ones unless `includeHiddenProducts`, and carry variants only with `includeVariants` (a product
  without options has one default variant, id 00000000-0000-0000-0000-000000000000); every product is also in the
  automatic "All Products" collection. V3, categories, brands, tax groups, orders and reviews page by
  `cursorPaging` {limit ≤ 100 (variants 1,000), cursor}: a cursor is a keyset position that carries the first
  request's filter and sort and is refused beside them (400). V3 product queries return no variants (the Read-Only
  Variants API does), and `plainDescription`, `currency`, `media.itemsInfo` and `directCategoriesInfo` only when the
  request's `fields` ask. Search Orders leaves out PENDING and REJECTED orders unless the filter names the status.
  Contacts page by offset (limit ≤ 1,000) with `pagingMetadata.total`; addresses only with the FULL (or
  COMMUNICATION_DETAILS/EXTENDED) fieldset. Filters: equality, `$eq $ne $gt $gte $lt $lte $in $exists`, `$and`,
  on dotted field paths.

Not modelled: Wix ids are GUIDs, served here as the store's own ids (the connector treats them as opaque text);
V3's inventory items (stock), rich-content descriptions, the V3 "All Products" category, members, free-text search.
Filtering runs in Python over the whole entity, fine for test stores, slow for very large ones.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from datetime import datetime
from decimal import Decimal

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import Emulator, EmulatorStore, FixedWindow, Knobs, to_utc
from cart_pipelines.platforms.wix import mapping

V1, V3, NONE = "V1_CATALOG", "V3_CATALOG", "STORES_NOT_INSTALLED"


class Problem(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _bad(message: str, field: str) -> Problem:
    return Problem(400, "INVALID_ARGUMENT", message, field)


def _get(record, path: str):
    for step in path.split("."):
        record = record.get(step) if isinstance(record, dict) else None
    return record


def _comparable(value):
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    text = str(value)
    if text.isdigit():
        return Decimal(text)
    if len(text) >= 19 and text[4] == "-" and "T" in text:
        try:
            return to_utc(text)
        except ValueError:
            pass
    return text


def _matches(record: dict, spec) -> bool:
    if not spec:
        return True
    if not isinstance(spec, dict):
        raise _bad("filter must be an object", "query.filter")
    for key, cond in spec.items():
        if key == "$and":
            if not all(_matches(record, c) for c in cond):
                return False
            continue
        if key == "$or":
            if not any(_matches(record, c) for c in cond):
                return False
            continue
        value = _get(record, key)
        conds = cond if isinstance(cond, dict) and any(k.startswith("$") for k in cond) else {"$eq": cond}
        for op, want in conds.items():
            have, cmp = _comparable(value), _comparable(want) if op != "$in" else None
            try:
                ok = {"$eq": lambda: have == cmp, "$ne": lambda: have != cmp,
                      "$gt": lambda: have is not None and have > cmp, "$gte": lambda: have is not None and have >= cmp,
                      "$lt": lambda: have is not None and have < cmp, "$lte": lambda: have is not None and have <= cmp,
                      "$in": lambda: have in {_comparable(w) for w in want},
                      "$exists": lambda: (value is not None) == bool(want)}[op]()
            except KeyError:
                raise _bad(f"unsupported filter operator {op}", "query.filter") from None
            except TypeError:
                raise _bad(f"cannot compare {key} with {want!r}", "query.filter") from None
            if not ok:
                return False
    return True


def _sort_spec(sort) -> list[tuple[str, bool]]:
    """[(field, descending)] from V3's [{fieldName, order}] or V1's [{"field": "asc"}]."""
    out = []
    for s in sort or []:
        if "fieldName" in s:
            out.append((s["fieldName"], str(s.get("order", "ASC")).upper() == "DESC"))
        else:
            out.extend((k, str(v).lower() == "desc") for k, v in s.items())
    return out


def _key(record: dict, spec: list[tuple[str, bool]]):
    def one(v):
        c = _comparable(v)
        return (c is None, c.isoformat() if isinstance(c, datetime) else c)
    rid = record.get("id")
    return tuple(one(_get(record, f)) for f, _ in spec) + ((0, Decimal(rid)) if str(rid).isdigit() else (1, str(rid)),)


class WixEmulator(Emulator):
    platform = "wix"
    url_map = Map([
        Rule("/stores/v3/provision/version", endpoint="version", methods=["GET"]),
        Rule("/stores/v1/products/query", endpoint="products_v1", methods=["POST"]),
        Rule("/stores/v1/collections/query", endpoint="collections_v1", methods=["POST"]),
        Rule("/stores/v3/products/search", endpoint="products_v3", methods=["POST"]),
        Rule("/stores/v3/products/query", endpoint="products_v3", methods=["POST"]),
        Rule("/stores/v3/products/query-variants", endpoint="variants_v3", methods=["POST"]),
        Rule("/stores/v3/brands/query", endpoint="brands_v3", methods=["POST"]),
        Rule("/categories/v1/categories/query", endpoint="categories_v3", methods=["POST"]),
        Rule("/billing/v1/tax-groups/query", endpoint="tax_groups", methods=["POST"]),
        Rule("/contacts/v4/contacts/query", endpoint="contacts", methods=["POST"]),
        Rule("/ecom/v1/orders/search", endpoint="orders", methods=["POST"]),
        Rule("/reviews/v1/reviews/query", endpoint="reviews", methods=["POST"]),
    ])
    fault_methods = ("GET", "POST")  # every Wix read is a POST query
    quota, window_s = 200, 60.0  # per site and minute (dev.wix.com "Rate Limits")
    catalog = V3

    def __init__(self, store: EmulatorStore, knobs: Knobs | None = None):
        super().__init__(store, knobs)
        self.key = "IST." + secrets.token_urlsafe(48)
        self.site_id = str(uuid.uuid4())
        self.window = FixedWindow(self.quota, self.window_s)

    def credentials(self) -> dict:
        return {"api_key": self.key, "site_url": f"https://manage.wix.com/dashboard/{self.site_id}/home"}

    # --- errors, auth, limits --------------------------------------------------------------------------------------
    def problem(self, status: int, code: str, message: str, field: str | None = None) -> Response:
        if field:
            details = {"validationError": {"fieldViolations": [{"field": field, "description": message,
                                                                "violatedRule": "OTHER"}]}}
        else:
            details = {"applicationError": {"code": code, "description": message, "data": {}}}
        return self.json({"message": message, "details": details}, status)

    def throttled(self, request: Request) -> Response:
        return self.problem(429, "RESOURCE_EXHAUSTED", "Rate limit exceeded: too many requests for this site")

    def error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.code in (404, 405):
            return self.problem(exc.code, "NOT_FOUND", "Not Found")
        return self.problem(500, "INTERNAL", "Internal error")

    def _serve(self, request: Request, permission: str, answer, catalog: str | None = None) -> Response:
        try:
            if request.headers.get("Authorization") != self.key:
                raise Problem(401, "UNAUTHENTICATED", "Invalid or missing authorization (API key)")
            if request.headers.get("wix-site-id") != self.site_id:
                raise Problem(404, "SITE_NOT_FOUND", "No site with the given wix-site-id for this API key's account")
            if self.knobs.rate_limit and not self.window.take()[0]:
                return self.throttled(request)
            if permission in self.knobs.denied_scopes:
                raise Problem(403, "PERMISSION_DENIED", f"The API key lacks the permission '{permission}'")
            if catalog and self.catalog != catalog:
                raise Problem(428, f"CATALOG_{self.catalog[:2]}_SITE_CALLING_CATALOG_{catalog[:2]}_API",
                              f"This site's Stores catalog is {self.catalog}; call the {self.catalog[:2]} API")
            try:
                body = json.loads(request.get_data() or b"{}") if request.method == "POST" else {}
            except ValueError:
                raise _bad("the request body is not JSON", "body") from None
            out, items = answer(body if isinstance(body, dict) else {})
        except Problem as p:
            return self.problem(p.status, p.code, p.message, p.field)
        self.delay(items)
        return self.json(out)

    # --- data ------------------------------------------------------------------------------------------------------
    def _all(self, entity: str) -> list[dict]:
        with self.store.lock:
            rows = self.store.con.execute(f"SELECT record FROM {entity} ORDER BY id").fetchall()
        return [EmulatorStore._decode(r[0]) for r in rows]

    def _products(self) -> list[dict]:
        """The products the site has: a trashed one was deleted (kit/emulator_cases.py)."""
        held = (cases.product_held(p, mapping.PRODUCT_LIFECYCLE_HELD) for p in self._all("products"))
        return [p for p in held if p is not None]

    def _currency(self) -> str:
        with self.store.lock:
            row = self.store.con.execute("SELECT json_extract_string(record, '$.currency') FROM orders "
                                         "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchall()
        return row[0][0] if row and row[0][0] else "NOK"

    def _brands(self) -> dict:
        return {m["source_id"]: m["name"] for m in self._all("manufacturers")}

    # --- paging ----------------------------------------------------------------------------------------------------
    @staticmethod
    def _encode(state: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":"), default=str).encode()).decode()

    @staticmethod
    def _decode(cursor: str) -> dict:
        try:
            return json.loads(base64.urlsafe_b64decode(cursor.encode()))
        except Exception:
            raise _bad("invalid cursor", "cursorPaging.cursor") from None

    def _cursor_page(self, body: dict, root: str, rows: list[dict], key: str, meta: str = "pagingMetadata",
                     most: int = 100, default_sort=None) -> tuple[dict, int]:
        q = body.get(root) or {}
        paging = q.get("cursorPaging") or {}
        limit = paging.get("limit") or 50
        if not isinstance(limit, int) or not 0 < limit <= most:
            raise _bad(f"cursorPaging.limit must be between 1 and {most}", f"{root}.cursorPaging.limit")
        if paging.get("cursor"):
            if q.get("filter") or q.get("sort"):
                raise _bad("cursorPaging.cursor can not be used together with filter or sort", f"{root}.filter")
            state = self._decode(paging["cursor"])
        else:
            state = {"f": q.get("filter") or {}, "s": q.get("sort") or default_sort or [], "a": None}
        spec = _sort_spec(state["s"])
        rows = [r for r in rows if _matches(r, state["f"])]
        rows.sort(key=lambda r: _key(r, spec))
        for n, (f, desc) in reversed(list(enumerate(spec))):  # stable sorts, last key first, for descending ones
            if desc:
                rows.sort(key=lambda r, i=n: _key(r, spec)[i], reverse=True)
        if state["a"] is not None:
            seen = state["a"]
            keys = [json.dumps(_key(r, spec), default=str) for r in rows]
            rows = rows[keys.index(seen) + 1:] if seen in keys else [r for r, k in zip(rows, keys) if k > seen]
        page, more = rows[:limit], len(rows) > limit
        cursor = self._encode({**state, "a": json.dumps(_key(page[-1], spec), default=str)}) if more else None
        return {key: page, meta: {"count": len(page), "cursors": {"next": cursor, "prev": None}, "hasNext": more}}, \
            len(page)

    @staticmethod
    def _v1_query(body: dict) -> tuple[dict, list, int, int]:
        q = body.get("query") or {}
        try:
            spec = json.loads(q["filter"]) if q.get("filter") else {}
            sort = json.loads(q["sort"]) if q.get("sort") else []
        except (TypeError, ValueError):
            raise _bad("filter and sort must be JSON strings", "query.filter") from None
        paging = q.get("paging") or {}
        limit, offset = paging.get("limit", 100), paging.get("offset", 0)
        if not isinstance(limit, int) or not 0 < limit <= 100:
            raise _bad("paging.limit must be between 1 and 100", "query.paging.limit")
        if not isinstance(offset, int) or offset < 0:
            raise _bad("paging.offset must not be negative", "query.paging.offset")
        return spec, sort, limit, offset

    def _offset_page(self, rows: list[dict], spec, sort, limit: int, offset: int) -> list[dict]:
        rows = [r for r in rows if _matches(r, spec)]
        order = _sort_spec(sort)
        rows.sort(key=lambda r: _key(r, order))
        for n, (f, desc) in reversed(list(enumerate(order))):
            if desc:
                rows.sort(key=lambda r, i=n: _key(r, order)[i], reverse=True)
        return rows, rows[offset:offset + limit]

    # --- routes ----------------------------------------------------------------------------------------------------
    def version(self, request: Request) -> Response:
        return self._serve(request, "Read Products", lambda body: ({"catalogVersion": self.catalog}, 0))

    def products_v1(self, request: Request) -> Response:
        def answer(body):
            spec, sort, limit, offset = self._v1_query(body)
            if not body.get("includeHiddenProducts"):
                spec = {"$and": [spec, {"visible": True}]}
            currency, brands = self._currency(), self._brands()
            rows = [mapping.product_v1_out(cases.with_variant_status(p), currency, brands, int(p["source_id"]))
                    for p in self._products()]
            matched, page = self._offset_page(rows, spec, sort, limit, offset)
            if not body.get("includeVariants"):
                page = [{k: v for k, v in p.items() if k != "variants"} for p in page]
            return {"products": page, "metadata": {"items": len(page), "offset": offset},
                    "totalResults": len(matched)}, len(page)
        return self._serve(request, "Read Products", answer, V1)

    def collections_v1(self, request: Request) -> Response:
        def answer(body):
            spec, sort, limit, offset = self._v1_query(body)
            rows = [{"id": mapping.ALL_PRODUCTS, "name": "All Products", "media": {"items": []},
                     "numberOfProducts": len(self._products()), "description": "", "slug": "all-products",
                     "visible": True}] + [mapping.collection_out(c) for c in self._all("categories")]
            matched, page = self._offset_page(rows, spec, sort, limit, offset)
            return {"collections": page, "metadata": {"items": len(page), "offset": offset},
                    "totalResults": len(matched)}, len(page)
        return self._serve(request, "Read Products", answer, V1)

    def products_v3(self, request: Request) -> Response:
        root = "search" if request.path.endswith("/search") else "query"

        def answer(body):
            fields, currency, brands = set(body.get("fields") or []), self._currency(), self._brands()
            rows = []
            for p in self._products():
                out = mapping.product_v3_out(p, currency, fields)
                if out["brand"]:
                    out["brand"]["name"] = brands.get(out["brand"]["id"])
                rows.append(out)
            return self._cursor_page(body, root, rows, "products")
        return self._serve(request, "Read Products", answer, V3)

    def variants_v3(self, request: Request) -> Response:
        def answer(body):
            fields = set(body.get("fields") or [])
            rows = [v for p in self._products()
                    for v in mapping.variants_v3_out(cases.with_variant_status(p), fields)]
            return self._cursor_page(body, "query", rows, "variants", most=1000)
        return self._serve(request, "Read Products", answer, V3)

    def brands_v3(self, request: Request) -> Response:
        return self._serve(request, "Read Products", lambda body: self._cursor_page(
            body, "query", [mapping.brand_out(m) for m in self._all("manufacturers")], "brands"), V3)

    def categories_v3(self, request: Request) -> Response:
        def answer(body):
            tree = body.get("treeReference") or {}
            if not tree.get("appNamespace"):
                raise _bad("treeReference.appNamespace is required", "treeReference.appNamespace")
            rows = [mapping.category_out(c) for c in self._all("categories")] \
                if tree["appNamespace"] == "@wix/stores" else []
            if not body.get("returnNonVisibleCategories"):
                rows = [c for c in rows if c["visible"]]
            return self._cursor_page(body, "query", rows, "categories")
        return self._serve(request, "Read Products", answer, V3)

    def tax_groups(self, request: Request) -> Response:
        return self._serve(request, "Read Tax Groups", lambda body: self._cursor_page(
            body, "query", [mapping.tax_group_out(t) for t in self._all("tax_classes")], "taxGroups"))

    def contacts(self, request: Request) -> Response:
        def answer(body):
            q = body.get("query") or {}
            paging = q.get("paging") or {}
            limit, offset = paging.get("limit", 50), paging.get("offset", 0)
            if not isinstance(limit, int) or not 0 < limit <= 1000:
                raise _bad("paging.limit must be between 1 and 1000", "query.paging.limit")
            fieldsets = set(q.get("fieldsets") or ["BASIC"])
            rows = [mapping.contact_out(c, fieldsets) for c in self._all("customers")]
            matched, page = self._offset_page(rows, q.get("filter") or {}, q.get("sort") or [], limit, offset)
            return {"contacts": page, "pagingMetadata": {"count": len(page), "offset": offset, "total": len(matched),
                                                         "tooManyToCount": False}}, len(page)
        return self._serve(request, "Read Contacts", answer)

    def orders(self, request: Request) -> Response:
        def answer(body):
            search = body.get("search") or {}
            rows = [mapping.order_out(o) for o in self._all("orders")]
            spec = search.get("filter") or {}
            if not (search.get("cursorPaging") or {}).get("cursor") and "status" not in json.dumps(spec):
                # PENDING and REJECTED only when the filter names a status; the cursor carries the condition on
                search["filter"] = {"$and": [spec, {"status": {"$in": ["APPROVED", "CANCELED"]}}]}
            return self._cursor_page(body, "search", rows, "orders", meta="metadata",
                                     default_sort=[{"fieldName": "createdDate", "order": "DESC"}])
        return self._serve(request, "Read Orders", answer)

    def reviews(self, request: Request) -> Response:
        def answer(body):
            held = (cases.review_held(r, mapping.REVIEW_STATUS_HELD) for r in self._all("reviews"))
            rows = [mapping.review_out(r) for r in held if r is not None]
            if not body.get("returnPrivateReviews"):
                rows = [r for r in rows if r["moderation"]["moderationStatus"] == "APPROVED"]
            return self._cursor_page(body, "query", rows, "reviews", meta="metadata")
        return self._serve(request, "Read Reviews", answer)


def rate_bound_rows_per_s(entity: str, plan: str = "standard") -> float | None:
    """Most rows/s the documented limit allows: 200 requests a minute × 100 records a page (benchmarks)."""
    return WixEmulator.quota / WixEmulator.window_s * (1000 if entity == "customers" else 100)
