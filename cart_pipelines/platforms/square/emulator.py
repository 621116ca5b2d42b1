"""A Square API v2 emulator on the kit's engine, held to Square's OpenAPI 3 spec (github.com/square/
connect-api-specification `api.json`, Square-Version 2025-08-20) and its documentation.

Served: `GET /v2/locations`, `GET /v2/catalog/list` (`types`, `cursor`; 100 objects a page), `POST
/v2/catalog/search` (`object_types`, `limit` 1-1,000 else 100, `cursor`, `begin_time`, `include_related_objects`,
`include_category_path_to_root`), `GET /v2/catalog/object/{id}`, `GET /v2/customers` (`limit` 1-100, `sort_field`
DEFAULT|CREATED_AT, `sort_order`, `count`), `POST /v2/customers/search` (`filter.created_at`/`updated_at`, `sort`,
`limit` 1-100), `GET /v2/customers/{id}`, `POST /v2/orders/search` (1-10 `location_ids`, `limit` up to 1,000
default 500, `state_filter`, `date_time_filter` whose field must match `sort.sort_field`, `customer_filter`),
`GET /v2/orders/{id}`. Every answer is `application/json`; errors are Square's `{"errors": [{category, code,
detail, field}]}`: 401 UNAUTHORIZED (no or a wrong Bearer token), 403 INSUFFICIENT_SCOPES (the operation's OAuth
scope in `Knobs.denied_scopes`: ITEMS_READ, CUSTOMERS_READ, ORDERS_READ, MERCHANT_PROFILE_READ), 400
INVALID_VALUE / VALUE_TOO_HIGH / INVALID_CURSOR / BAD_REQUEST, 404 NOT_FOUND, 429 RATE_LIMITED (category
RATE_LIMIT_ERROR, no Retry-After: Square sends none and publishes no numbers).

The store: one location per currency (orders in NOK, EUR, SEK go to the location of that currency; the first,
the busiest, prices the catalog);
`extra_locations` adds empty ones (orders/search must then be asked in groups of 10). A product is an ITEM with
its variations nested (a simple product has one "Regular" variation), images are IMAGE objects, variant options
ITEM_OPTIONs; disabled products are archived items (`is_archived`). Orders: line items, shipping as a service
charge, the shipment recipient, tenders and refunds (kit/emulator_cases.py: refunded orders are COMPLETED with an
APPROVED refund of the total, a few paid ones have a partial refund; `return_amounts` and `net_amounts` follow);
pending and on-hold orders are OPEN with a PROPOSED fulfilment, processing ones RESERVED. A variant the shop stopped
selling is a variation present at no location (`present_at_all_locations` false).

Departures (not modelled): catalog ids are the generator's numbers, unique within a type but not across the
catalog (Square's are unique catalog-wide; retrieve by id looks for an ITEM first); deleted objects only for items
deleted since old orders sold them (kit/emulator_cases.py `product_gone`: the line names the item's soft-deleted
variation, which SearchCatalogObjects returns with `include_deleted_objects`, `is_deleted: true`, on its last page,
and ListCatalog does not), no catalog `query`, no `catalog_version`; the rate limit is a bucket of
20 requests refilled at 10 a second (an assumption: Square publishes none); customer and order cursors are
offsets into the sorted result, so records added meanwhile may shift a page.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timezone
from decimal import Decimal

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import Emulator, EmulatorStore, Knobs, LeakyBucket
from cart_pipelines.platforms.square import mapping

V2 = "/v2"
CURRENCIES = {"NOK": ("NO", "Oslo"), "SEK": ("SE", "Stockholm"), "EUR": ("FI", "Helsinki"), "USD": ("US", "Austin")}
DEFAULT_TYPES = ["ITEM", "CATEGORY", "TAX", "ITEM_OPTION"]  # of those the store has, in list order
ENTITY = {"ITEM": "products", "ITEM_VARIATION": "products", "IMAGE": "products", "CATEGORY": "categories",
          "TAX": "tax_classes"}
PLANS = {"standard": (20, 10.0), "large": (100, 50.0)}  # (burst, per second): assumed, Square publishes none


class SquareError(Exception):
    def __init__(self, status: int, category: str, code: str, detail: str, field: str | None = None):
        super().__init__(detail)
        self.status, self.body = status, {"category": category, "code": code, "detail": detail}
        if field:
            self.body["field"] = field


def invalid(code: str, detail: str, field: str | None = None) -> SquareError:
    return SquareError(400, "INVALID_REQUEST_ERROR", code, detail, field)


def encode_cursor(state: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, query_key: str) -> dict:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise invalid("INVALID_CURSOR", "The cursor is invalid.", "cursor") from None
    if not isinstance(state, dict) or state.get("q") != query_key:
        raise invalid("INVALID_CURSOR", "The cursor does not belong to this query; a cursor must be used with the "
                                        "original query.", "cursor")
    return state


def query_key(value) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def timestamp(value, field: str) -> datetime:
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise invalid("INVALID_TIME", f"Invalid RFC 3339 timestamp {value!r}.", field) from None
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt


def limit_of(value, maximum: int, default: int, field: str = "limit", ignore_bad: bool = False) -> int:
    if value in (None, ""):
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise invalid("EXPECTED_INTEGER", f"Expected an integer value for `{field}`.", field) from None
    if ignore_bad:  # catalog/search: "higher than the maximum limit of 1,000, it will be ignored"
        return n if 1 <= n <= maximum else default
    if n < 1:
        raise invalid("VALUE_TOO_LOW", f"`{field}` must be at least 1.", field)
    if n > maximum:
        raise invalid("VALUE_TOO_HIGH", f"`{field}` must be at most {maximum}.", field)
    return n


class SquareEmulator(Emulator):
    platform = "square"
    fault_methods = ("GET",)  # the generic fault test widens it to POST searches (reads too)
    url_map = Map([
        Rule(f"{V2}/locations", endpoint="locations", methods=["GET"]),
        Rule(f"{V2}/catalog/list", endpoint="catalog_list", methods=["GET"]),
        Rule(f"{V2}/catalog/search", endpoint="catalog_search", methods=["POST"]),
        Rule(f"{V2}/catalog/object/<object_id>", endpoint="catalog_object", methods=["GET"]),
        Rule(f"{V2}/customers", endpoint="customers", methods=["GET"]),
        Rule(f"{V2}/customers/search", endpoint="customers_search", methods=["POST"]),
        Rule(f"{V2}/customers/<customer_id>", endpoint="customer", methods=["GET"]),
        Rule(f"{V2}/orders/search", endpoint="orders_search", methods=["POST"]),
        Rule(f"{V2}/orders/<order_id>", endpoint="order", methods=["GET"]),
    ])
    SCOPES = {"locations": "MERCHANT_PROFILE_READ", "catalog_list": "ITEMS_READ", "catalog_search": "ITEMS_READ",
              "catalog_object": "ITEMS_READ", "customers": "CUSTOMERS_READ", "customers_search": "CUSTOMERS_READ",
              "customer": "CUSTOMERS_READ", "orders_search": "ORDERS_READ", "order": "ORDERS_READ"}

    def __init__(self, store: EmulatorStore, knobs: Knobs | None = None):
        super().__init__(store, knobs)
        self.token = "EAAA" + hashlib.sha1(b"cart_pipelines/square-emulator").hexdigest()
        plan = PLANS.get(self.knobs.plan, PLANS["standard"])
        self.bucket = LeakyBucket(*plan) if self.knobs.rate_limit else None
        self.extra_locations = 0
        self.versions_seen: set[str] = set()

    def credentials(self) -> dict:
        return {"api_key": self.token}

    # --- responses -----------------------------------------------------------------------------------------------
    def errors(self, err: SquareError) -> Response:
        return self.json({"errors": [err.body]}, err.status)

    def throttled(self, request: Request) -> Response:
        return self.errors(SquareError(429, "RATE_LIMIT_ERROR", "RATE_LIMITED", "This request was rate limited."))

    def error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, SquareError):
            return self.errors(exc)
        if isinstance(exc, HTTPException) and exc.code == 405:
            return self.errors(SquareError(405, "INVALID_REQUEST_ERROR", "METHOD_NOT_ALLOWED",
                                           f"Method {request.method} is not allowed for {request.path}."))
        if isinstance(exc, HTTPException) and exc.code == 404:
            return self.errors(SquareError(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", "Resource not found."))
        return self.errors(SquareError(500, "API_ERROR", "INTERNAL_SERVER_ERROR", "An internal error occurred."))

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith(V2):
            refusal = self._gate(request)
            if refusal is not None:
                with self.lock:
                    self.requests += 1
                return refusal(environ, start_response)
        return super().__call__(environ, start_response)

    def _gate(self, request: Request) -> Response | None:
        """Authentication, then the rate limit, as Square answers them before the operation runs."""
        header = request.headers.get("Authorization", "")
        if not header:
            return self.errors(SquareError(401, "AUTHENTICATION_ERROR", "UNAUTHORIZED",
                                           "Your request did not include an `Authorization` http header with an "
                                           "access token. The header value is expected to be of the format "
                                           "\"Bearer TOKEN\" (without quotation marks), where TOKEN is to be "
                                           "replaced with your access token."))
        if not header.startswith("Bearer ") or header[7:].strip() != self.token:
            return self.errors(SquareError(401, "AUTHENTICATION_ERROR", "UNAUTHORIZED",
                                           "This request could not be authorized."))
        version = request.headers.get("Square-Version")
        if version:
            try:
                datetime.strptime(version, "%Y-%m-%d")
            except ValueError:
                return self.errors(invalid("INVALID_VALUE", f"Invalid Square-Version {version!r}.",
                                           "Square-Version"))
            self.versions_seen.add(version)
        try:
            endpoint, _ = self.url_map.bind_to_environ(request.environ).match()
        except HTTPException:
            endpoint = None
        scope = self.SCOPES.get(endpoint or "")
        if scope and scope in self.knobs.denied_scopes:
            return self.errors(SquareError(403, "AUTHENTICATION_ERROR", "INSUFFICIENT_SCOPES",
                                           "The merchant has not given your application sufficient permissions to "
                                           f"do that. The application requires the following scopes: {scope}"))
        if self.bucket is not None and not self.knobs.storm:
            allowed, _ = self.bucket.take(1)
            if not allowed:
                return self.throttled(request)
        return None

    @staticmethod
    def body(request: Request) -> dict:
        if not request.data:
            return {}
        try:
            body = json.loads(request.data, parse_float=Decimal)
        except ValueError:
            raise invalid("EXPECTED_JSON_BODY", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise invalid("EXPECTED_OBJECT", "The request body must be a JSON object.")
        return body

    # --- locations -----------------------------------------------------------------------------------------------
    def location_list(self) -> list[dict]:
        with self.store.lock:
            rows = self.store.con.execute("SELECT json_extract_string(record, '$.currency') AS c FROM orders "
                                          "GROUP BY c ORDER BY count(*) DESC, c").fetchall()
        currencies = [r[0] for r in rows if r[0]] or ["USD"]
        out = []
        for k, cur in enumerate(currencies + [currencies[0]] * self.extra_locations):
            country, city = CURRENCIES.get(cur, ("US", "Austin"))
            lid = f"L{cur}{k:04d}"
            out.append({"id": lid, "name": f"{city} {k + 1}" if k >= len(currencies) else city,
                        "address": {"locality": city, "country": country}, "timezone": "Europe/Oslo",
                        "capabilities": ["CREDIT_CARD_PROCESSING"], "status": "ACTIVE",
                        "created_at": "2022-01-01T00:00:00.000Z", "merchant_id": "MLEMULATOR0001",
                        "country": country, "language_code": "en-US", "currency": cur, "business_name": "Emulated",
                        "type": "PHYSICAL", "mcc": "5999", "_orders": k < len(currencies)})
        return out

    def locations(self, request: Request) -> Response:
        self.delay()
        return self.json({"locations": [{k: v for k, v in loc.items() if k != "_orders"}
                                        for loc in self.location_list()]})

    # --- catalog -------------------------------------------------------------------------------------------------
    def _currency(self) -> str:
        return next((loc["currency"] for loc in self.location_list()), "USD")

    def _objects(self, kind: str, after: int | None, limit: int, begin=None) -> tuple[list[dict], int | None]:
        """Up to about `limit` objects of one type after store id `after`: (objects, last store id or None at
        the end). Variations and images come with their product, so a page may hold a few more."""
        if kind == "ITEM_OPTION":
            if after is not None:
                return [], None
            return mapping.option_objects(self.store.page("products", 0, 10 ** 9)), None
        entity = ENTITY.get(kind)
        if entity is None:
            return [], None
        rows = self.store.page(entity, 0, limit + 1, updated_min=begin, after_id=after)
        more, rows = len(rows) > limit, rows[:limit]  # one more row says whether a next page exists
        if kind == "CATEGORY":
            objs = [mapping.category_object(r) for r in rows]
        elif kind == "TAX":
            objs = [mapping.tax_object(r) for r in rows]
        else:
            cur = self._currency()
            items = [mapping.item_object(cases.with_variant_status(r), cur) for r in rows]
            if kind == "ITEM":
                objs = items
            elif kind == "ITEM_VARIATION":
                objs = [v for i in items for v in i["item_data"]["variations"]]
            else:
                objs = [img for r in rows for img in mapping.image_objects(r)]
        last = int(rows[-1]["source_id"]) if rows else None
        return objs, (last if more else None)

    def _catalog_page(self, types: list[str], cursor: str | None, limit: int, begin=None, key=None):
        key = key or query_key([types, begin])
        state = decode_cursor(cursor, key) if cursor else {"t": 0, "a": None}
        out, t, after = [], int(state.get("t", 0)), state.get("a")
        while t < len(types) and len(out) < limit:
            objs, last = self._objects(types[t], after, limit - len(out), begin)
            out += objs
            if last is None:
                t, after = t + 1, None
            else:
                after = last
        more = t < len(types)
        return out, (encode_cursor({"q": key, "t": t, "a": after}) if more else None)

    @staticmethod
    def _types(value, field: str) -> list[str]:
        names = [t.strip().upper() for t in value if t.strip()] if value else []
        bad = [t for t in names if t not in mapping_types()]
        if bad:
            raise invalid("INVALID_ENUM_VALUE", f"Invalid object type {bad[0]!r}.", field)
        return names or DEFAULT_TYPES

    def catalog_list(self, request: Request) -> Response:
        types = self._types((request.args.get("types") or "").split(","), "types")
        objects, cursor = self._catalog_page(types, request.args.get("cursor"), 100)
        self.delay(len(objects))
        return self.json({"objects": objects, **({"cursor": cursor} if cursor else {})})

    def catalog_search(self, request: Request) -> Response:
        body = self.body(request)
        if body.get("query"):
            raise invalid("BAD_REQUEST", "This emulator does not model catalog search queries.", "query")
        types = self._types(body.get("object_types") or [], "object_types")
        if body.get("include_deleted_objects") and body.get("include_category_path_to_root"):
            raise invalid("BAD_REQUEST", "include_deleted_objects and include_category_path_to_root cannot both be "
                                         "true.", "include_deleted_objects")
        limit = limit_of(body.get("limit"), 1000, 100, ignore_bad=True)
        begin = timestamp(body["begin_time"], "begin_time") if body.get("begin_time") else None
        key = query_key([types, str(begin), body.get("include_related_objects"), body.get("include_deleted_objects")])
        objects, cursor = self._catalog_page(types, body.get("cursor"), limit, begin, key)
        if body.get("include_deleted_objects") and cursor is None:  # the deleted ones after the live ones
            objects = objects + self._deleted(types, begin)
        if body.get("include_category_path_to_root"):
            objects = [self._with_path(o) if o["type"] == "CATEGORY" else o for o in objects]
        out = {"objects": objects, "latest_time": mapping.stamp(datetime.now(timezone.utc))}
        if body.get("include_related_objects"):
            out["related_objects"] = self._related(objects)
        if cursor:
            out["cursor"] = cursor
        self.delay(len(objects))
        return self.json(out)

    def _deleted(self, types: list[str], begin=None) -> list[dict]:
        """Soft-deleted ITEMs and ITEM_VARIATIONs: those of items deleted since old orders sold them."""
        if not {"ITEM", "ITEM_VARIATION"} & set(types):
            return []
        lines = [{**i, "_at": o.get("updated_at")} for o in self.store.page("orders", 0, 10 ** 9)
                 for k in gone_lines(o) for i in [(o.get("items") or [])[k]] if i.get("product_id")]
        objs = mapping.deleted_objects(lines, self._currency(), types)
        return [o for o in objs if begin is None or (o.get("updated_at") or "") >= mapping.stamp(begin)]

    def _with_path(self, obj: dict) -> dict:
        path, node, seen = [], self.store.get("categories", int(obj["id"])), set()
        while node and node.get("parent_id") and node["source_id"] not in seen:
            seen.add(node["source_id"])
            node = self.store.get("categories", int(node["parent_id"]))
            if node:
                path.append({"category_id": str(node["source_id"]), "category_name": node["name"]})
        return mapping.category_object(self.store.get("categories", int(obj["id"])), path)

    def _related(self, objects: list[dict]) -> list[dict]:
        """Objects the page's items reference: categories, taxes, images and item options."""
        items = [o for o in objects if o["type"] == "ITEM"]
        if not items:
            return []
        def by_ids(entity, ids):  # one query per type, not one per object
            ids = sorted({int(i) for i in ids if str(i).isdigit()})
            return self.store.page(entity, 0, len(ids), ids=ids) if ids else []

        products = by_ids("products", [o["id"] for o in items])
        cats = [c["id"] for o in items for c in o["item_data"].get("categories") or []]
        taxes = [t for o in items for t in o["item_data"].get("tax_ids") or []]
        out = [mapping.category_object(c) for c in by_ids("categories", cats)]
        out += [mapping.tax_object(t) for t in by_ids("tax_classes", taxes)]
        out += [img for p in products for img in mapping.image_objects(p)]
        return out + mapping.option_objects(products)

    def catalog_object(self, request: Request, object_id: str) -> Response:
        cur = self._currency()
        found = None
        if object_id.isdigit():
            def item(r):
                return mapping.item_object(cases.with_variant_status(r), cur)

            for entity, build in (("products", item),
                                  ("categories", mapping.category_object), ("tax_classes", mapping.tax_object)):
                record = self.store.get(entity, int(object_id))
                if record:
                    found = build(record)
                    break
        elif "-" in object_id:  # a variation ("<item>-regular", "<item>-<n>") or an image ("<item>-image-<n>")
            head = object_id.split("-")[0]
            record = self.store.get("products", int(head)) if head.isdigit() else None
            if record:
                candidates = mapping.item_object(cases.with_variant_status(record), cur)["item_data"]["variations"] + \
                    mapping.image_objects(record)
                found = next((o for o in candidates if o["id"] == object_id), None)
        if found is None:
            raise SquareError(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", f"Object with ID `{object_id}` not found.")
        return self.json({"object": found})

    # --- customers -----------------------------------------------------------------------------------------------
    def _customer_page(self, where: list[str], args: list, order_sql: str, limit: int, cursor: str | None,
                       key: str, count: bool) -> dict:
        offset = int(decode_cursor(cursor, key).get("o", 0)) if cursor else 0
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        with self.store.lock:
            total = self.store.con.execute(f"SELECT count(*) FROM customers{clause}", args).fetchall()[0][0]
            rows = self.store.con.execute(f"SELECT record FROM customers{clause} ORDER BY {order_sql} LIMIT ? "
                                          f"OFFSET ?", args + [limit, offset]).fetchall()
        customers = [mapping.customer_json(EmulatorStore._decode(r[0])) for r in rows]
        out: dict = {"customers": customers} if customers else {}
        if offset + limit < total:
            out["cursor"] = encode_cursor({"q": key, "o": offset + limit})
        if count:
            out["count"] = total
        self.delay(len(customers))
        return out

    @staticmethod
    def _customer_order(field: str | None, order: str | None) -> str:
        direction = "DESC" if (order or "ASC").upper() == "DESC" else "ASC"
        if (field or "DEFAULT").upper() == "CREATED_AT":
            return f"created_at {direction}, id {direction}"
        return (f"json_extract_string(record, '$.first_name') {direction}, "
                f"json_extract_string(record, '$.last_name') {direction}, id {direction}")

    def customers(self, request: Request) -> Response:
        a = request.args
        field = (a.get("sort_field") or "DEFAULT").upper()
        if field not in ("DEFAULT", "CREATED_AT"):
            raise invalid("INVALID_ENUM_VALUE", f"Invalid sort_field {field!r}.", "sort_field")
        limit = limit_of(a.get("limit"), 100, 100)
        key = query_key(["list", field, a.get("sort_order"), limit])
        return self.json(self._customer_page([], [], self._customer_order(field, a.get("sort_order")), limit,
                                             a.get("cursor"), key, a.get("count") == "true"))

    def customers_search(self, request: Request) -> Response:
        body = self.body(request)
        query = body.get("query") or {}
        flt, sort = query.get("filter") or {}, query.get("sort") or {}
        where, args = [], []
        for name in ("created_at", "updated_at"):
            span = flt.get(name) or {}
            if span.get("start_at"):
                where.append(f"{name} >= ?")
                args.append(timestamp(span["start_at"], f"query.filter.{name}.start_at"))
            if span.get("end_at"):
                where.append(f"{name} <= ?")
                args.append(timestamp(span["end_at"], f"query.filter.{name}.end_at"))
        if (flt.get("email_address") or {}).get("exact"):
            where.append("lower(json_extract_string(record, '$.email')) = lower(?)")
            args.append(flt["email_address"]["exact"])
        limit = limit_of(body.get("limit"), 100, 100)
        key = query_key(["search", query, limit])
        return self.json(self._customer_page(where, args, self._customer_order(sort.get("field"), sort.get("order")),
                                             limit, body.get("cursor"), key, bool(body.get("count"))))

    def customer(self, request: Request, customer_id: str) -> Response:
        record = self.store.get("customers", int(customer_id)) if customer_id.isdigit() else None
        if record is None:
            raise SquareError(404, "INVALID_REQUEST_ERROR", "NOT_FOUND",
                              f"Customer with ID `{customer_id}` not found.")
        return self.json({"customer": mapping.customer_json(record)})

    # --- orders --------------------------------------------------------------------------------------------------
    def _variation_of(self, orders: list[dict]) -> dict[str, str]:
        """(product id, sku) -> the variation id sold, for the products these orders name."""
        ids = {int(i["product_id"]) for o in orders for i in o.get("items") or [] if str(i.get("product_id") or
                                                                                          "").isdigit()}
        out = {}
        for p in self.store.page("products", 0, len(ids) or 1, ids=sorted(ids)) if ids else []:
            variants = p.get("variants") or []
            for v in variants:
                out[f"{p['source_id']}\0{v.get('sku')}"] = str(v["source_id"])
            first = str(variants[0]["source_id"]) if variants else mapping.simple_variation_id(str(p["source_id"]))
            out[f"{p['source_id']}\0{p.get('sku')}"] = first
            out.setdefault(f"{p['source_id']}\0None", first)
        return out

    def orders_search(self, request: Request) -> Response:
        body = self.body(request)
        locations = {loc["id"]: loc for loc in self.location_list()}
        wanted = body.get("location_ids") or []
        if not wanted:
            raise invalid("ARRAY_EMPTY", "`location_ids` must contain at least one location.", "location_ids")
        if len(wanted) > 10:
            raise invalid("ARRAY_LENGTH_TOO_LONG", "`location_ids` must contain at most 10 locations.",
                          "location_ids")
        unknown = [w for w in wanted if w not in locations]
        if unknown:
            raise SquareError(403, "AUTHENTICATION_ERROR", "FORBIDDEN",
                              f"Location `{unknown[0]}` does not belong to this merchant.", "location_ids")
        currencies = sorted({locations[w]["currency"] for w in wanted if locations[w]["_orders"]})
        limit = limit_of(body.get("limit"), 1000, 500)
        query = body.get("query") or {}
        flt, sort = query.get("filter") or {}, query.get("sort") or {}
        sort_field = (sort.get("sort_field") or "CREATED_AT").upper()
        if sort_field not in ("CREATED_AT", "UPDATED_AT", "CLOSED_AT"):
            raise invalid("INVALID_ENUM_VALUE", f"Invalid sort_field {sort_field!r}.", "query.sort.sort_field")
        direction = "ASC" if (sort.get("sort_order") or "DESC").upper() == "ASC" else "DESC"
        where = [f"json_extract_string(record, '$.currency') IN ({', '.join('?' for _ in currencies) or 'NULL'})"]
        args: list = list(currencies)
        for name, span in (flt.get("date_time_filter") or {}).items():
            if not span:
                continue
            if name.upper() != sort_field:
                raise invalid("INVALID_VALUE", f"A date_time_filter on `{name}` requires the sort_field to be "
                                               f"{name.upper()}.", "query.sort.sort_field")
            column = {"created_at": "created_at", "updated_at": "updated_at"}.get(name, "updated_at")
            if span.get("start_at"):
                where.append(f"{column} >= ?")
                args.append(timestamp(span["start_at"], f"query.filter.date_time_filter.{name}.start_at"))
            if span.get("end_at"):
                where.append(f"{column} <= ?")
                args.append(timestamp(span["end_at"], f"query.filter.date_time_filter.{name}.end_at"))
        states = (flt.get("state_filter") or {}).get("states")
        customers = (flt.get("customer_filter") or {}).get("customer_ids")
        if customers:
            where.append(f"json_extract_string(record, '$.customer_id') IN ({', '.join('?' for _ in customers)})")
            args += [str(c) for c in customers]
        column = "created_at" if sort_field == "CREATED_AT" else "updated_at"
        key = query_key([sorted(wanted), query, limit])
        offset = int(decode_cursor(body["cursor"], key).get("o", 0)) if body.get("cursor") else 0
        clause = " WHERE " + " AND ".join(where)
        with self.store.lock:
            rows = self.store.con.execute(f"SELECT record FROM orders{clause} ORDER BY {column} {direction}, "
                                          f"id {direction}", args).fetchall()
        by_currency = {loc["currency"]: lid for lid, loc in locations.items() if loc["_orders"]}
        records = [EmulatorStore._decode(r[0]) for r in rows]
        if states:
            records = [o for o in records if mapping.order_state(o) in states]
        chosen = records[offset:offset + limit]
        variation_of = self._variation_of(chosen)
        page = [mapping.order_json(o, by_currency.get(o.get("currency"), wanted[0]), variation_of, cases.refunds(o),
                                   gone_lines(o)) for o in chosen]
        out: dict = {}
        if body.get("return_entries"):
            out["order_entries"] = [{"order_id": o["id"], "version": o["version"], "location_id": o["location_id"]}
                                    for o in page]
        else:
            out["orders"] = page
        if offset + limit < len(records):
            out["cursor"] = encode_cursor({"q": key, "o": offset + limit})
        self.delay(len(page))
        return self.json(out)

    def order(self, request: Request, order_id: str) -> Response:
        record = self.store.get("orders", int(order_id)) if order_id.isdigit() else None
        if record is None:
            raise SquareError(404, "INVALID_REQUEST_ERROR", "NOT_FOUND", f"Order with ID `{order_id}` not found.")
        by_currency = {loc["currency"]: loc["id"] for loc in self.location_list() if loc["_orders"]}
        return self.json({"order": mapping.order_json(record, by_currency.get(record.get("currency"), ""),
                                                      self._variation_of([record]), cases.refunds(record),
                                                      gone_lines(record))})


def gone_lines(order: dict) -> frozenset:
    """Positions of the order's lines whose item was deleted since (kit/emulator_cases.py picks them)."""
    return frozenset(k for k in range(len(order.get("items") or [])) if cases.product_gone(order, k))


def mapping_types() -> set[str]:
    return {"ITEM", "IMAGE", "CATEGORY", "ITEM_VARIATION", "TAX", "DISCOUNT", "MODIFIER_LIST", "MODIFIER",
            "PRICING_RULE", "PRODUCT_SET", "TIME_PERIOD", "MEASUREMENT_UNIT", "SUBSCRIPTION_PLAN_VARIATION",
            "ITEM_OPTION", "ITEM_OPTION_VAL", "CUSTOM_ATTRIBUTE_DEFINITION", "QUICK_AMOUNTS_SETTINGS",
            "SUBSCRIPTION_PLAN", "AVAILABILITY_PERIOD"}


def rate_bound_rows_per_s(entity: str, plan: str = "standard") -> float | None:
    """Most rows/s the emulated bucket allows (benchmarks): its refill rate × records per page (100; orders 500).
    Square publishes no limit, so this bound is the emulator's assumption, not Square's."""
    burst, rate = PLANS.get(plan, PLANS["standard"])
    return rate * (500 if entity == "orders" else 100)
