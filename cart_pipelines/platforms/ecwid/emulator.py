"""Ecwid emulator: the store's canonical records served as Ecwid's REST API v3 under /api/v3/{storeId}/...

Built from Ecwid's documentation (no published OpenAPI spec: the reference is docs.ecwid.com / api-docs.ecwid.com,
its older markdown source github.com/Ecwid/ecwid-api-docs `includes/*.md`):
- auth: `Authorization: Bearer <token>` or the `token` query param; the app's secret token (`secret_...`) reads
  everything its scopes allow, the public token (`public_...`) only enabled products and categories and brands of
  enabled products; a wrong token (or a token for another store) is 403 (what Ecwid answers, e.g.
  PipedreamHQ/pipedream#12468 — the wording of that message is ours), a missing scope 403 "Access token doesn't have
  `read_catalog` scope"; scopes read_store_profile, read_catalog, read_brands, read_customers, read_orders,
  read_reviews;
- errors: the HTTP status with `{"errorMessage": ...}` (and `errorCode` where the docs name one); 400 "Wrong
  parameter '<name>' value" for a malformed filter; 402 when the store's plan has no API (the `plan="free"` knob);
- lists: `offset` + `limit` (default 100, customers 10; at most 100), body `{total, count, offset, limit, items}`;
  `responseFields` trims the body (e.g. `total,items(id)`); filters `createdFrom`/`createdTo`,
  `updatedFrom`/`updatedTo` (UNIX timestamp, `yyyy-MM-dd HH:mm:ss Z`, `yyyy-MM-dd HH:mm:ss` or `yyyy-MM-dd`; both
  bounds inclusive — the docs say "lower/upper bound") on products, customers, orders and reviews; products also
  `enabled`, `productId` (comma list), `sortBy` (ADDED_TIME_*, UPDATED_TIME_*, NAME_*, PRICE_*; RELEVANCE default);
  customers `sortBy` (NAME_ASC default, REGISTERED_DATE_*, UPDATED_DATE_*); reviews `status`, `productId`,
  `sortBy` (DATE_CREATED_*, RATING_*); orders `paymentStatus`, `fulfillmentStatus`, `customerId`, `ids` (the docs
  name no sort for orders: served by internal id); categories `parent`, `hidden_categories`; brands
  `hidden_brands`, `sortBy` (PRODUCT_COUNT_DESC default, PRODUCT_COUNT_ASC, NAME_*);
- single items: products/{id}, products/{id}/combinations, categories/{id}, customers/{id}, orders/{id}, profile
  (store currency, weight unit, destination zones, manual taxes);
- rate limit: 600 requests per minute per token, then 429 with `Retry-After: N` (docs.ecwid.com/api-reference).
Messy data as real stores have it: disabled products and their brands, products with unlimited stock, and the sample
products Ecwid puts in a new store (`sample_products`, flagged `isSampleProduct`).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from decimal import Decimal

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.ecwid import mapping as m
from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import Emulator, EmulatorStore, FixedWindow, Knobs

STORE_ID = 1003
SECRET_TOKEN = "secret_emu4ecwid7Hq2xP9vLk3N"
PUBLIC_TOKEN = "public_emu4ecwid5Rt8wZ1cMj6B"
STORE_URL = "https://store1003.company.site"
PLAYGROUND_KEY = "b1e4c0ffee5e7a11"
API = "/api/v3/<store_id>"
MAX_LIMIT = 100
PER_MINUTE = 600
SCOPES = {"profile": "read_store_profile", "categories": "read_catalog", "category": "read_catalog",
          "products": "read_catalog", "product": "read_catalog", "combinations": "read_catalog",
          "brands": "read_brands", "customers": "read_customers", "customer": "read_customers",
          "orders": "read_orders", "order": "read_orders", "reviews": "read_reviews"}
PUBLIC_ALLOWED = ("profile", "categories", "category", "products", "product", "combinations", "brands")
CURRENCY = "NOK"


class EcwidError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


def parse_when(name: str, value: str) -> datetime:
    """A date filter in the formats Ecwid's docs list; 400 otherwise."""
    value = value.strip()
    try:
        if re.fullmatch(r"\d+", value):
            return datetime.fromtimestamp(int(value), timezone.utc)
        for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
            try:
                dt = datetime.strptime(value, fmt)
                return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt
            except ValueError:
                continue
    except (OverflowError, OSError, ValueError):
        pass
    raise EcwidError(400, f"Wrong parameter '{name}' value: {value!r}")


def response_fields(spec: str) -> dict:
    """`total,items(id,sku)` as {"total": None, "items": {"id": None, "sku": None}}."""
    tree: dict = {}
    stack = [tree]
    name = ""
    for ch in spec + ",":
        if ch in ",()":
            if name.strip():
                stack[-1][name.strip()] = {} if ch == "(" else None
                if ch == "(":
                    stack.append(stack[-1][name.strip()])
            elif ch == ")" and len(stack) > 1:
                stack.pop()
            if ch == ")" and name.strip() and len(stack) > 1:
                stack.pop()
            name = ""
        else:
            name += ch
    return tree


def trim(body, tree: dict):
    if not tree:
        return body
    if isinstance(body, list):
        return [trim(x, tree) for x in body]
    if not isinstance(body, dict):
        return body
    return {k: (trim(body[k], sub) if sub else body[k]) for k, sub in tree.items() if k in body}


class EcwidEmulator(Emulator):
    platform = "ecwid"
    #: sample products a new Ecwid store starts with (isSampleProduct: true), served before the store's own
    sample_products = 0
    url_map = Map([
        Rule(f"{API}/profile", endpoint="profile", methods=["GET"]),
        Rule(f"{API}/categories", endpoint="categories", methods=["GET"]),
        Rule(f"{API}/categories/<int:id_>", endpoint="category", methods=["GET"]),
        Rule(f"{API}/products", endpoint="products", methods=["GET"]),
        Rule(f"{API}/products/<int:id_>", endpoint="product", methods=["GET"]),
        Rule(f"{API}/products/<int:id_>/combinations", endpoint="combinations", methods=["GET"]),
        Rule(f"{API}/brands", endpoint="brands", methods=["GET"]),
        Rule(f"{API}/customers", endpoint="customers", methods=["GET"]),
        Rule(f"{API}/customers/<int:id_>", endpoint="customer", methods=["GET"]),
        Rule(f"{API}/orders", endpoint="orders", methods=["GET"]),
        Rule(f"{API}/orders/<id_>", endpoint="order", methods=["GET"]),
        Rule(f"{API}/reviews", endpoint="reviews", methods=["GET"]),
        # A stand-in for api-playground.ecwid.com's Personal Collection URL (a Postman collection, v2.1 format)
        Rule("/playground/<key>.json.postman_collection", endpoint="collection", methods=["GET"]),
    ])

    def __init__(self, store: EmulatorStore, knobs: Knobs | None = None):
        super().__init__(store, knobs)
        self.windows: dict[str, FixedWindow] = {}

    def credentials(self) -> dict:
        return {"store_id": str(STORE_ID), "access_token": SECRET_TOKEN, "store_url": STORE_URL}

    def collection_url(self) -> str:
        return f"{self.base_url}/playground/{PLAYGROUND_KEY}.json.postman_collection"

    def collection(self, request, key: str):
        if key != PLAYGROUND_KEY:
            return self.error_response(EcwidError(404, "Collection not found"))
        api = f"{self.base_url}/api/v3/{STORE_ID}"
        return self.json({
            "info": {"name": f"Ecwid API for store {STORE_ID}",
                     "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
            "auth": {"type": "bearer", "bearer": [{"key": "token", "value": SECRET_TOKEN, "type": "string"}]},
            "item": [{"name": "Search products", "request": {"method": "GET", "url": {"raw": f"{api}/products"}}},
                     {"name": "Get store profile", "request": {"method": "GET", "url": {"raw": f"{api}/profile"}}}]})

    # --- the HTTP layer ------------------------------------------------------------------------------------------
    def error_response(self, err: EcwidError) -> Response:
        body = {"errorMessage": err.message, **({"errorCode": err.code} if err.code else {})}
        return self.json(body, err.status, err.headers)

    def error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return self.error_response(EcwidError(exc.code or 500, "Resource not found" if exc.code == 404
                                                  else exc.description or "Error"))
        return self.error_response(EcwidError(500, "Internal server error"))

    def throttled(self, request: Request, wait: int = 1) -> Response:
        return self.error_response(EcwidError(429, "Too many requests", headers={"Retry-After": str(wait)}))

    def __call__(self, environ, start_response):
        try:
            adapter = self.url_map.bind_to_environ(environ)
            endpoint, args = adapter.match()
        except HTTPException:
            return super().__call__(environ, start_response)  # the engine answers unknown routes (and faults)
        request = Request(environ)
        if endpoint == "collection":
            return super().__call__(environ, start_response)
        try:
            self._authorize(request, endpoint, args)
        except EcwidError as err:
            return self.error_response(err)(environ, start_response)
        return super().__call__(environ, start_response)

    def _token(self, request: Request) -> str:
        header = request.headers.get("Authorization", "")
        return header[7:].strip() if header.lower().startswith("bearer ") else request.args.get("token", "")

    def _authorize(self, request: Request, endpoint: str, args: dict) -> None:
        token = self._token(request)
        if str(args.get("store_id")) != str(STORE_ID) or token not in (SECRET_TOKEN, PUBLIC_TOKEN):
            raise EcwidError(403, "Access denied: the token is not valid for this store")
        if self.knobs.plan == "free":
            raise EcwidError(402, "Please upgrade your account to access API")
        scope = SCOPES[endpoint]
        if scope in self.knobs.denied_scopes or (token == PUBLIC_TOKEN and endpoint not in PUBLIC_ALLOWED):
            raise EcwidError(403, f"Access token doesn't have `{scope}` scope")
        if self.knobs.rate_limit:
            window = self.windows.setdefault(token, FixedWindow(PER_MINUTE, 60.0))
            allowed, _left, reset = window.take()
            if not allowed:
                raise EcwidError(429, "Too many requests", headers={"Retry-After": str(max(1, math.ceil(reset)))})

    def _serve(self, request: Request, make) -> Response:
        try:
            body = make(request.args)
        except EcwidError as err:
            return self.error_response(err)
        spec = request.args.get("responseFields")
        if spec:
            body = trim(body, response_fields(spec))
        self.delay(len(body.get("items") or []) if isinstance(body, dict) else len(body))
        return self.json(body)

    # --- queries -------------------------------------------------------------------------------------------------
    @staticmethod
    def _paging(args, default: int = 100) -> tuple[int, int]:
        def integer(name: str, fallback: int) -> int:
            raw = args.get(name)
            if raw in (None, ""):
                return fallback
            if not re.fullmatch(r"\d+", raw):
                raise EcwidError(400, f"Wrong parameter '{name}' value: {raw!r}")
            return int(raw)
        return integer("offset", 0), max(0, min(MAX_LIMIT, integer("limit", default)))

    @staticmethod
    def _dates(args, where: list[str], params: list, created: bool = True) -> None:
        for name, column, op in (("createdFrom", "created_at", ">="), ("createdTo", "created_at", "<="),
                                 ("updatedFrom", "updated_at", ">="), ("updatedTo", "updated_at", "<=")):
            if args.get(name):
                where.append(f"{column} {op} ?")
                params.append(parse_when(name, args[name]))

    def _select(self, entity: str, where: list[str], params: list, order: str, offset: int, limit: int):
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        with self.store.lock:
            total = self.store.con.execute(f"SELECT count(*) FROM {entity}{clause}", params).fetchall()[0][0]
            rows = self.store.con.execute(f"SELECT record FROM {entity}{clause} ORDER BY {order} LIMIT ? OFFSET ?",
                                          params + [limit, offset]).fetchall()
        return total, [self.store._decode(r[0]) for r in rows]

    @staticmethod
    def _page(total: int, offset: int, limit: int, items: list) -> dict:
        return {"total": total, "count": len(items), "offset": offset, "limit": limit, "items": items}

    @staticmethod
    def _bool(args, name: str) -> bool | None:
        raw = args.get(name)
        if raw in (None, ""):
            return None
        if raw.lower() in ("true", "yes", "on", "1"):
            return True
        if raw.lower() in ("false", "no", "off", "0"):
            return False
        raise EcwidError(400, f"Wrong parameter '{name}' value: expected one of 'true', 'false', 'yes', 'no', "
                              f"'on', 'off', '1', '0'")

    def _public(self, request: Request) -> bool:
        return self._token(request) == PUBLIC_TOKEN

    # --- store profile -------------------------------------------------------------------------------------------
    def profile(self, request, store_id):
        def make(args):
            _, classes = self._select("tax_classes", [], [], "id", 0, 1_000_000)
            countries = sorted({r["country"] for c in classes for r in c.get("rates") or [] if r.get("country")})
            zones = [{"id": f"{k + 1}-{c}", "name": c, "countryCodes": [c]} for k, c in enumerate(countries)]
            zone_of = {z["countryCodes"][0]: z["id"] for z in zones}
            taxes = [{"id": int(c["source_id"]), "name": c["name"], "enabled": True, "includeInPrice": False,
                      "useShippingAddress": True, "taxShipping": False, "appliedByDefault": False, "defaultTax": 0,
                      "rules": [{"zoneId": zone_of[r["country"]], "tax": r["rate"]} for r in c.get("rates") or []
                                if r.get("country")]} for c in classes]
            return {"generalInfo": {"storeId": STORE_ID, "storeUrl": STORE_URL, "websitePlatform": "instantsite"},
                    "account": {"accountName": "Emulated Store", "accountEmail": "owner@example.com",
                                "availableFeatures": ["API", "COMBINATIONS", "COMPARE_TO_PRICE", "PRODUCT_REVIEWS"]},
                    "settings": {"closed": False, "storeName": "Emulated Store"},
                    "formatsAndUnits": {"currency": CURRENCY, "currencyPrefix": "", "currencySuffix": " kr",
                                        "currencyPrecision": 2, "weightUnit": "KILOGRAM", "dimensionsUnit": "CM",
                                        "timezone": "Europe/Oslo"},
                    "zones": zones, "taxSettings": {"automaticTaxEnabled": False, "taxes": taxes}}
        return self._serve(request, make)

    # --- catalog -------------------------------------------------------------------------------------------------
    def category_json(self, c: dict) -> dict:
        cid = int(c["source_id"])
        slug = (c.get("url_key") or "").rsplit("/", 1)[-1]
        return {"id": cid, **({"parentId": int(c["parent_id"])} if c.get("parent_id") else {}),
                "orderBy": c.get("position") or 0, "name": c["name"], "nameTranslated": {"en": c["name"]},
                "url": f"{STORE_URL}/{slug or 'category'}-c{cid}", "autogeneratedSlug": f"{slug}-c{cid}",
                "customSlug": slug, "productCount": 0, "enabledProductCount": 0, "description": "",
                "enabled": c.get("is_visible") is not False}

    def categories(self, request, store_id):
        def make(args):
            offset, limit = self._paging(args)
            where, params = [], []
            if args.get("parent") not in (None, ""):
                parent = args["parent"]
                if not parent.isdigit():
                    raise EcwidError(400, f"Wrong parameter 'parent' value: {parent!r}")
                where.append("coalesce(json_extract_string(record, '$.parent_id'), '0') = ?")
                params.append(str(int(parent)))
            if not self._bool(args, "hidden_categories") or self._public(request):
                where.append("coalesce(json_extract(record, '$.is_visible')::BOOLEAN, true)")
            total, rows = self._select("categories", where, params, "id", offset, limit)
            return self._page(total, offset, limit, [self.category_json(c) for c in rows])
        return self._serve(request, make)

    def category(self, request, store_id, id_: int):
        def make(args):
            c = self.store.get("categories", id_)
            if c is None:
                raise EcwidError(404, f"Category #{id_} not found")
            return self.category_json(c)
        return self._serve(request, make)

    def _brand_names(self) -> dict[str, str]:
        with self.store.lock:
            return {str(i): json.loads(r)["name"] for i, r in
                    self.store.con.execute("SELECT id, record FROM manufacturers").fetchall()}

    @staticmethod
    def _weight(value) -> float | None:
        return None if value is None else float(value)  # the store's unit is KILOGRAM

    def product_json(self, p: dict, brands: dict[str, str], sample: bool = False) -> dict:
        pid = int(p["source_id"])
        price, special = p.get("price"), p.get("special_price")
        sale = special is not None and price is not None and Decimal(str(special)) < Decimal(str(price))
        slug = (p.get("url_key") or "").rsplit("/", 1)[-1]
        stock = p.get("stock")
        variants = p.get("variants") or []
        option_names: dict[str, list[str]] = {}
        for v in variants:
            for o in v.get("options") or []:
                option_names.setdefault(o["name"], [])
                if o["value"] not in option_names[o["name"]]:
                    option_names[o["name"]].append(o["value"])
        images = p.get("images") or []
        brand = brands.get(str(p.get("manufacturer_id")))
        return {
            "id": pid, "sku": p.get("sku") or "", "quantity": stock if stock is not None else 0,
            "unlimited": stock is None, "inStock": stock is None or stock > 0, "name": p["name"],
            "nameTranslated": {"en": p["name"]}, "price": special if sale else price,
            "defaultDisplayedPrice": special if sale else price,
            **({"compareToPrice": price} if sale else {}),
            "tax": {"taxable": True, "defaultLocationIncludedTaxRate": 0,
                    "enabledManualTaxes": [int(p["tax_class_id"])] if p.get("tax_class_id") else [],
                    "taxClassCode": "default"},
            "isShippingRequired": True, "weight": self._weight(p.get("weight")),
            "url": f"{STORE_URL}/{slug or 'product'}-p{pid}", "autogeneratedSlug": f"{slug}-p{pid}",
            "customSlug": slug, "created": m.ecwid_time(p.get("created_at")),
            "updated": m.ecwid_time(p.get("updated_at")), "createTimestamp": m.timestamp(p.get("created_at")),
            "updateTimestamp": m.timestamp(p.get("updated_at")), "productClassId": 0,
            "enabled": p.get("status") != "disabled", "warningLimit": 0, "fixedShippingRateOnly": False,
            "fixedShippingRate": 0, "defaultCombinationId": 0, "description": p.get("description_html") or "",
            "descriptionTranslated": {"en": p.get("description_html") or ""},
            "options": [{"type": "SELECT", "name": name, "nameTranslated": {"en": name},
                         "choices": [{"text": v, "textTranslated": {"en": v}, "priceModifier": 0,
                                      "priceModifierType": "ABSOLUTE"} for v in values],
                         "defaultChoice": 0, "required": True} for name, values in option_names.items()],
            "combinations": [self.combination_json(pid, k, v, price) for k, v in enumerate(variants, start=1)],
            "media": {"images": [{"id": pid * 100 + k, "orderBy": k, "isMain": k == 0,
                                  "image160pxUrl": img.get("url"), "image400pxUrl": img.get("url"),
                                  "image800pxUrl": img.get("url"), "image1500pxUrl": img.get("url"),
                                  "imageOriginalUrl": img.get("url")} for k, img in enumerate(images)]},
            "categoryIds": [int(c) for c in p.get("category_ids") or []],
            "categories": [{"id": int(c), "enabled": True} for c in p.get("category_ids") or []],
            "defaultCategoryId": int((p.get("category_ids") or [0])[0]),
            "attributes": [{"id": 1, "name": "Brand", "value": brand, "type": "BRAND", "show": "DESCR"}] if brand else [],
            "isSampleProduct": sample,
        }

    @staticmethod
    def combination_json(pid: int, k: int, v: dict, price) -> dict:
        stock = v.get("stock")
        return {"id": pid * 1000 + k, "combinationNumber": k,
                "options": [{"name": o["name"], "nameTranslated": {"en": o["name"]}, "value": o["value"],
                             "valueTranslated": {"en": o["value"]}} for o in v.get("options") or []],
                "sku": v.get("sku") or "", "quantity": stock if stock is not None else 0, "unlimited": stock is None,
                "inStock": stock is None or stock > 0,
                **({"price": v["price"]} if v.get("price") is not None and v.get("price") != price else {}),
                "warningLimit": 0, "attributes": []}

    def _samples(self) -> list[dict]:
        """Ecwid's sample products of a new store: ids far above the store's, enabled, created long ago."""
        return [{"source_id": str(900_000_000 + k), "sku": f"00000{k}", "name": f"Sample product {k}",
                 "price": Decimal("10.00"), "stock": None, "status": "enabled", "created_at": "2020-01-01T00:00:00Z",
                 "updated_at": "2020-01-01T00:00:00Z"} for k in range(1, self.sample_products + 1)]

    def products(self, request, store_id):
        def make(args):
            offset, limit = self._paging(args)
            where, params = [], []
            self._dates(args, where, params)
            enabled = self._bool(args, "enabled")
            if self._public(request):
                enabled = True
            if enabled is not None:
                where.append(("" if enabled else "NOT ") + "(coalesce(json_extract_string(record, '$.status'), "
                             "'enabled') <> 'disabled')")
            if args.get("productId"):
                ids = args["productId"].split(",")
                if not all(i.strip().isdigit() for i in ids):
                    raise EcwidError(400, f"Wrong parameter 'productId' value: {args['productId']!r}")
                where.append(f"id IN ({', '.join(str(int(i)) for i in ids)})")
            order = {"ADDED_TIME_ASC": "created_at, id", "ADDED_TIME_DESC": "created_at DESC, id DESC",
                     "UPDATED_TIME_ASC": "updated_at, id", "UPDATED_TIME_DESC": "updated_at DESC, id DESC",
                     "NAME_ASC": "json_extract_string(record, '$.name'), id",
                     "NAME_DESC": "json_extract_string(record, '$.name') DESC, id",
                     "PRICE_ASC": "json_extract(record, '$.price')::DOUBLE, id",
                     "PRICE_DESC": "json_extract(record, '$.price')::DOUBLE DESC, id",
                     "RELEVANCE": "id"}.get(args.get("sortBy") or "RELEVANCE")
            if order is None:
                raise EcwidError(400, f"Wrong parameter 'sortBy' value: {args['sortBy']!r}")
            samples = self._samples() if not where else []  # a new store's sample products come first
            own = samples[offset:offset + limit]
            gone = cases.held_sql(m.PRODUCT_LIFECYCLE_HELD, "lifecycle")  # a trashed product was deleted
            total, rows = self._select("products", where + ([gone] if gone else []), params, order,
                                       max(0, offset - len(samples)), limit - len(own))
            brands = self._brand_names()
            items = [self.product_json(s, brands, sample=True) for s in own] + \
                    [self.product_json(p, brands) for p in rows]
            return self._page(total + len(samples), offset, limit, items)
        return self._serve(request, make)

    def _product(self, request, id_: int) -> dict:
        p = self.store.get("products", id_)
        p = p and cases.product_held(p, m.PRODUCT_LIFECYCLE_HELD)
        if p is None or (self._public(request) and p.get("status") == "disabled"):
            raise EcwidError(404, "Product is not found")
        return p

    def product(self, request, store_id, id_: int):
        return self._serve(request, lambda args: self.product_json(self._product(request, id_), self._brand_names()))

    def combinations(self, request, store_id, id_: int):
        def make(args):
            p = self._product(request, id_)
            return [self.combination_json(id_, k, v, p.get("price"))
                    for k, v in enumerate(p.get("variants") or [], start=1)]
        return self._serve(request, make)

    def brands(self, request, store_id):
        def make(args):
            offset, limit = self._paging(args)
            hidden = bool(self._bool(args, "hidden_brands")) and not self._public(request)
            status = "" if hidden else " AND coalesce(json_extract_string(record, '$.status'), 'enabled') <> 'disabled'"
            with self.store.lock:
                counts = dict(self.store.con.execute(
                    "SELECT json_extract_string(record, '$.manufacturer_id') AS m, count(*) FROM products "
                    f"WHERE m IS NOT NULL{status} GROUP BY m").fetchall())
            names = self._brand_names()
            found: dict[str, int] = {}
            for mid, n in counts.items():
                if mid in names:  # one brand per name: a brand is a product attribute value
                    found[names[mid]] = found.get(names[mid], 0) + n
            order = args.get("sortBy") or "PRODUCT_COUNT_DESC"
            keys = {"PRODUCT_COUNT_DESC": lambda kv: (-kv[1], kv[0]), "PRODUCT_COUNT_ASC": lambda kv: (kv[1], kv[0]),
                    "NAME_ASC": lambda kv: kv[0], "NAME_DESC": None}
            if order not in keys:
                raise EcwidError(400, f"Wrong parameter 'sortBy' value: {order!r}")
            listed = sorted(found.items(), key=keys[order] or (lambda kv: kv[0]), reverse=order == "NAME_DESC")
            items = [{"name": n, "nameTranslated": {"en": n},
                      "productsFilteredByBrandUrl": f"{STORE_URL}/products/search?attribute_Brand={n.replace(' ', '+')}"}
                     for n, _ in listed[offset:offset + limit]]
            return self._page(len(listed), offset, limit, items)
        return self._serve(request, make)

    # --- customers, orders, reviews ------------------------------------------------------------------------------
    def customer_json(self, c: dict) -> dict:
        addresses = c.get("addresses") or []
        billing = next((a for a in addresses if a.get("is_default_billing")), None)
        person = m.person_out({**(billing or {}), "first_name": c.get("first_name"), "last_name": c.get("last_name")})
        return {"id": int(c["source_id"]), "email": c["email"], "registered": m.ecwid_time(c.get("created_at")),
                "updated": m.ecwid_time(c.get("updated_at")), "customerGroupId": 0, "customerGroupName": "General",
                "billingPerson": person,
                "shippingAddresses": [{"id": int(c["source_id"]) * 100 + k, **m.person_out(a),
                                       "defaultAddress": bool(a.get("is_default_shipping"))}
                                      for k, a in enumerate(addresses)],
                "taxId": "", "taxIdValid": True, "taxExempt": False, "b2b_b2c": "b2c",
                "acceptMarketing": c.get("newsletter"), "lang": "en"}

    def customers(self, request, store_id):
        def make(args):
            offset, limit = self._paging(args, default=10)
            where, params = [], []
            self._dates(args, where, params)
            order = {"NAME_ASC": "json_extract_string(record, '$.first_name'), id",
                     "NAME_DESC": "json_extract_string(record, '$.first_name') DESC, id",
                     "EMAIL_ASC": "json_extract_string(record, '$.email'), id",
                     "REGISTERED_DATE_ASC": "created_at, id", "REGISTERED_DATE_DESC": "created_at DESC, id DESC",
                     "UPDATED_DATE_ASC": "updated_at, id", "UPDATED_DATE_DESC": "updated_at DESC, id DESC",
                     }.get(args.get("sortBy") or "NAME_ASC")
            if order is None:
                raise EcwidError(400, f"Wrong parameter 'sortBy' value: {args['sortBy']!r}")
            total, rows = self._select("customers", where, params, order, offset, limit)
            return self._page(total, offset, limit, [self.customer_json(c) for c in rows])
        return self._serve(request, make)

    def customer(self, request, store_id, id_: int):
        def make(args):
            c = self.store.get("customers", id_)
            if c is None:
                raise EcwidError(404, "Customer is not found")
            return self.customer_json(c)
        return self._serve(request, make)

    def order_json(self, o: dict) -> dict:
        oid = int(o["source_id"])
        payment, fulfillment = m.STATUS_OUT.get(o.get("status"), ("PAID", "PROCESSING"))
        refunds = cases.refunds(o)  # a partial refund: PARTIALLY_REFUNDED, the fulfilment where it stood
        if refunds and payment == "PAID":
            payment = "PARTIALLY_REFUNDED"
        return {
            "id": str(o.get("number") or oid), "internalId": oid, "orderNumber": oid,
            "vendorOrderNumber": str(o.get("number") or oid), "publicUid": str(o.get("number") or oid),
            "refundedAmount": cases.refunded_total(o), "subtotal": o.get("subtotal"),
            "total": o["grand_total"], "email": o.get("email") or "", "paymentMethod": "Offline",
            "tax": o.get("tax") or 0, "couponDiscount": 0, "paymentStatus": payment,
            "fulfillmentStatus": fulfillment, "volumeDiscount": 0, "membershipBasedDiscount": 0,
            "totalAndMembershipBasedDiscount": 0, "discount": o.get("discount") or 0,
            **({"customerId": int(o["customer_id"])} if o.get("customer_id") else {}),
            "createDate": m.ecwid_time(o.get("created_at")), "updateDate": m.ecwid_time(o.get("updated_at")),
            "createTimestamp": m.timestamp(o.get("created_at")), "updateTimestamp": m.timestamp(o.get("updated_at")),
            "items": [{"id": oid * 1000 + k, **({"productId": int(i["product_id"])} if i.get("product_id") else {}),
                       "price": i.get("price"), "productPrice": i.get("price"), "sku": i.get("sku") or "",
                       "quantity": i.get("qty"), "tax": i.get("tax") or 0, "name": i.get("name"),
                       "isShippingRequired": True} for k, i in enumerate(o.get("items") or [], start=1)],
            "billingPerson": {**m.person_out(o.get("billing_address")),
                              "firstName": o.get("customer_first_name") or "",
                              "lastName": o.get("customer_last_name") or ""},
            "shippingPerson": m.person_out(o.get("shipping_address")),
            "shippingOption": {"shippingMethodName": "Standard", "shippingRate": o.get("shipping") or 0,
                               "fulfillmentType": "SHIPPING"},
            "refunds": [{"date": m.ecwid_time(r.get("created_at")), "source": "CP", "reason": r.get("reason") or "",
                         "amount": r["amount"]} for r in refunds],
        }

    def orders(self, request, store_id):
        def make(args):
            offset, limit = self._paging(args)
            where, params = [], []
            self._dates(args, where, params)
            if args.get("customerId"):
                where.append("json_extract_string(record, '$.customer_id') = ?")
                params.append(args["customerId"])
            for name, k in (("paymentStatus", 0), ("fulfillmentStatus", 1)):
                if args.get(name):
                    wanted = set(args[name].split(","))
                    statuses = [s for s, pair in m.STATUS_OUT.items() if pair[k] in wanted]
                    where.append(f"json_extract_string(record, '$.status') IN "
                                 f"({', '.join(repr(s) for s in statuses) or 'NULL'})")
            if args.get("ids"):
                where.append("(json_extract_string(record, '$.number') IN (SELECT unnest(?)) "
                             "OR id::VARCHAR IN (SELECT unnest(?)))")
                params += [args["ids"].split(","), args["ids"].split(",")]
            total, rows = self._select("orders", where, params, "id", offset, limit)
            return self._page(total, offset, limit, [self.order_json(o) for o in rows])
        return self._serve(request, make)

    def order(self, request, store_id, id_: str):
        def make(args):
            with self.store.lock:
                rows = self.store.con.execute(
                    "SELECT record FROM orders WHERE json_extract_string(record, '$.number') = ? OR id::VARCHAR = ?",
                    [id_, id_]).fetchall()
            if not rows:
                raise EcwidError(404, "Order is not found")
            return self.order_json(self.store._decode(rows[0][0]))
        return self._serve(request, make)

    def review_json(self, r: dict) -> dict:
        r = cases.review_held(r, m.REVIEW_STATUS_HELD) or r
        customer = self.store.get("customers", int(r["customer_id"])) if r.get("customer_id") else None
        name = " ".join(x for x in ((customer or {}).get("first_name"), (customer or {}).get("last_name")) if x)
        return {"id": int(r["source_id"]), "status": "published" if r.get("status") == "approved" else "moderated",
                **({"customerId": int(r["customer_id"])} if r.get("customer_id") else {}),
                **({"productId": int(r["product_id"])} if r.get("product_id") else {}),
                "rating": r["rating"], "review": r.get("text") or "",
                "reviewerInfo": {"name": name, "email": (customer or {}).get("email") or "", "orders": 0},
                "createDate": m.ecwid_time(r.get("created_at")), "updateDate": m.ecwid_time(r.get("updated_at")),
                "createTimestamp": m.timestamp(r.get("created_at")), "updateTimestamp": m.timestamp(r.get("updated_at"))}

    def reviews(self, request, store_id):
        def make(args):
            offset, limit = self._paging(args)
            where, params = [c for c in [cases.held_sql(m.REVIEW_STATUS_HELD)] if c], []
            self._dates(args, where, params)
            status = args.get("status")
            if status:
                if status not in ("published", "moderated"):
                    raise EcwidError(400, f"Wrong parameter 'status' value: {status!r}")
                where.append("json_extract_string(record, '$.status') " + ("= 'approved'" if status == "published"
                                                                          else "<> 'approved'"))
            if args.get("productId"):
                where.append("json_extract_string(record, '$.product_id') = ?")
                params.append(args["productId"])
            order = {"DATE_CREATED_ASC": "created_at, id", "DATE_CREATED_DESC": "created_at DESC, id DESC",
                     "RATING_ASC": "json_extract(record, '$.rating')::INT, id",
                     "RATING_DESC": "json_extract(record, '$.rating')::INT DESC, id"}.get(
                args.get("sortBy") or "DATE_CREATED_DESC")
            if order is None:
                raise EcwidError(400, f"Wrong parameter 'sortBy' value: {args['sortBy']!r}")
            total, rows = self._select("reviews", where, params, order, offset, limit)
            return self._page(total, offset, limit, [self.review_json(r) for r in rows])
        return self._serve(request, make)

