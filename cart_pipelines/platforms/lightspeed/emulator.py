"""Lightspeed eCom (C-Series) emulator: the store's canonical records served as the REST API under
`/{language}/{resource}.json`.

Built from Lightspeed's developer documentation (developers.lightspeedhq.com/ecom/: no OpenAPI file is published;
the resource shapes follow its endpoint pages and the sample payloads integrators publish, e.g. PipedreamHQ/pipedream
`components/lightspeed_ecom_c_series/sources/*/test-event.mjs`):
- auth: HTTP Basic, API key as user and API secret as password; anything else is 401 with Lightspeed's error body
  `{"error": {"code": 401, "method": "GET", "request": "/en/products.json", "message": ...}}`; a language the shop
  does not have is 404 in the same form, as is an unknown id;
- lists answer `{"<resources>": [...]}`, single items `{"<resource>": {...}}`, `{resource}/count.json`
  `{"count": n}`; paging `page` (from 1) + `limit` (default 50, at most 250: more is served as 250); a page past the
  last is an empty list;
- filters as the docs list them for products, customers, orders and reviews: `since_id` (ids above it),
  `created_at_min`/`created_at_max`, `updated_at_min`/`updated_at_max` (`YYYY-MM-DD HH:MM:SS`, UTC here, inclusive);
  `variants.json?product=`, `categories/products.json?product=` / `?category=`;
- resources linked as `{"resource": {"id", "url", "link"}}` (`false` without one); a product's price, SKU, stock and
  weight on its variants (the default one `isDefault`), its images at `products/{id}/images.json`, an order's lines
  at `orders/{id}/products.json` (`quantityRefunded`: the units of that line its credit notes credit, as the order
  product resource counts them; `quantityReturned` 0: returns are a resource of their own, not modelled), its invoices at `invoices.json?order={id}`: the order's invoice and, per refund, a
  credit note (`isCreditNote`, `invoice` linking the invoice it credits; its amount negative, chosen where the
  samples say nothing); an invoice's items at `invoices/{id}/items.json` (`invoiceItems`: the invoice item resource,
  a credit note's one per refund line with the `orderProductId` it credits, its quantity, amounts negative);
- rate limits per key in three windows, 5 minutes / hour / day (300/3000/12000 by default; Knobs.plan "high" gives
  ten times that), reported on every answer as `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`
  (seconds until each window resets), slash-separated in that order; a spent window is 429 in the error form;
- a missing read permission (Knobs.denied_scopes: "Products: read", "Customers: read", "Orders: read",
  "Settings: read", "Marketing: read") is 403 in the error form.
Messy data as real shops have it: hidden products (`isVisible: false`, `visibility: "hidden"`), hidden categories,
variants without stock tracking, reviews awaiting moderation (`isVisible: false`).
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from decimal import Decimal

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import Emulator, EmulatorStore, FixedWindow, Knobs
from cart_pipelines.platforms.lightspeed import mapping as m

API_KEY = "emu0ls1a2b3c4d5e6f708192a3b4c5d6e7f"
API_SECRET = "emu0lsf9e8d7c6b5a4938271605f4e3d2c1"
LANGUAGES = ("en", "nl")
MAX_LIMIT = 250
WINDOWS = (300.0, 3600.0, 86400.0)
PLANS = {"standard": (300, 3000, 12000), "high": (3000, 30000, 120000)}
# resource -> (entity in the store, list key, item key, permission)
RESOURCES = {"categories": ("categories", "categories", "category", "Products: read"),
             "brands": ("manufacturers", "brands", "brand", "Products: read"),
             "taxes": ("tax_classes", "taxes", "tax", "Settings: read"),
             "products": ("products", "products", "product", "Products: read"),
             "customers": ("customers", "customers", "customer", "Customers: read"),
             "orders": ("orders", "orders", "order", "Orders: read"),
             "reviews": ("reviews", "reviews", "review", "Marketing: read")}
FILTERED = {"products", "customers", "orders", "reviews"}


class LSError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def parse_when(name: str, value: str) -> datetime:
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(value.strip(), fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    raise LSError(400, f"Invalid value for {name}: expected YYYY-MM-DD HH:MM:SS")


class LightspeedEmulator(Emulator):
    platform = "lightspeed"
    url_map = Map([
        Rule("/<lang>/<resource>.json", endpoint="listing", methods=["GET"]),
        Rule("/<lang>/<resource>/count.json", endpoint="count", methods=["GET"]),
        Rule("/<lang>/<resource>/<int:id_>.json", endpoint="item", methods=["GET"]),
        Rule("/<lang>/variants.json", endpoint="variants", methods=["GET"]),
        Rule("/<lang>/categories/products.json", endpoint="category_links", methods=["GET"]),
        Rule("/<lang>/products/<int:id_>/images.json", endpoint="images", methods=["GET"]),
        Rule("/<lang>/orders/<int:id_>/products.json", endpoint="order_products", methods=["GET"]),
        Rule("/<lang>/invoices.json", endpoint="invoices", methods=["GET"]),
        Rule("/<lang>/invoices/<int:id_>/items.json", endpoint="invoice_items", methods=["GET"]),
    ])

    def __init__(self, store: EmulatorStore, knobs: Knobs | None = None):
        super().__init__(store, knobs)
        quotas = PLANS.get(self.knobs.plan, PLANS["standard"])
        self.windows = [FixedWindow(q, w) for q, w in zip(quotas, WINDOWS)]
        self.quotas = quotas

    def credentials(self) -> dict:
        return {"language": "en", "api_key": API_KEY, "api_secret": API_SECRET, "store_url": "",
                "currency": "EUR"}

    # --- the HTTP layer ------------------------------------------------------------------------------------------
    def error_body(self, request: Request, status: int, message: str, headers: dict | None = None) -> Response:
        return self.json({"error": {"code": status, "method": request.method, "request": request.path,
                                    "message": message}}, status, headers)

    def error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return self.error_body(request, exc.code or 500, "Not found" if exc.code == 404 else
                                   exc.description or "Error")
        return self.error_body(request, 500, "Internal server error")

    def _headers(self, left: list[int], reset: list[float]) -> dict:
        return {"X-RateLimit-Limit": "/".join(str(q) for q in self.quotas),
                "X-RateLimit-Remaining": "/".join(str(n) for n in left),
                "X-RateLimit-Reset": "/".join(str(max(1, int(r + 0.999))) for r in reset)}

    def throttled(self, request: Request) -> Response:
        # an injected storm: the 5-minute window reported spent, resetting in a second
        return self.error_body(request, 429, "Too many requests",
                               self._headers([0, *(q // 2 for q in self.quotas[1:])], [1, 1800, 43200]))

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
        except HTTPException:
            return super().__call__(environ, start_response)
        try:
            headers = self._authorize(request, endpoint, args)
        except LSError as err:
            return self.error_body(request, err.status, err.message, getattr(err, "headers", None))(
                environ, start_response)

        def with_headers(status, response_headers, exc_info=None):
            names = {k.lower() for k, _ in response_headers}
            extra = [(k, v) for k, v in headers.items() if k.lower() not in names]
            return start_response(status, list(response_headers) + extra, exc_info)
        return super().__call__(environ, with_headers)

    def _authorize(self, request: Request, endpoint: str, args: dict) -> dict:
        raw = request.headers.get("Authorization", "")
        try:
            user, _, password = base64.b64decode(raw.removeprefix("Basic ")).decode().partition(":") \
                if raw.startswith("Basic ") else ("", "", "")
        except ValueError:
            user, password = "", ""
        if (user, password) != (API_KEY, API_SECRET):
            raise LSError(401, "Invalid API key or secret")
        if args.get("lang") not in LANGUAGES:
            raise LSError(404, f"Language {args.get('lang')!r} is not active in this shop")
        resource = {"variants": "products", "category_links": "products", "images": "products",
                    "order_products": "orders", "invoices": "orders",
                    "invoice_items": "orders"}.get(endpoint, args.get("resource"))
        if resource in RESOURCES and RESOURCES[resource][3] in self.knobs.denied_scopes:
            raise LSError(403, f"This API key has no permission to read {resource} ({RESOURCES[resource][3]})")
        if not self.knobs.rate_limit:
            return {}
        taken = [w.take() for w in self.windows]
        left, reset = [t[1] for t in taken], [t[2] for t in taken]
        if not all(t[0] for t in taken):
            raise _Throttled(self._headers(left, reset))
        return self._headers(left, reset)

    # --- routes --------------------------------------------------------------------------------------------------
    def _resource(self, resource: str) -> tuple[str, str, str, str]:
        if resource not in RESOURCES:
            raise LSError(404, f"Resource {resource!r} not found")
        return RESOURCES[resource]

    @staticmethod
    def _paging(args) -> tuple[int, int]:
        try:
            page, limit = int(args.get("page") or 1), int(args.get("limit") or 50)
        except ValueError:
            raise LSError(400, "page and limit must be whole numbers") from None
        return max(1, page), max(1, min(MAX_LIMIT, limit))

    def _where(self, resource: str, args) -> tuple[str, list]:
        clauses, params = [], []
        if resource in FILTERED:
            if args.get("since_id"):
                clauses.append("id > ?")
                params.append(int(args["since_id"]))
            for key, column, op in (("created_at_min", "created_at", ">="), ("created_at_max", "created_at", "<="),
                                    ("updated_at_min", "updated_at", ">="), ("updated_at_max", "updated_at", "<=")):
                if args.get(key):
                    clauses.append(f"{column} {op} ?")
                    params.append(parse_when(key, args[key]))
        if resource == "reviews" and cases.held_sql(m.REVIEW_STATUS_HELD):
            clauses.append(cases.held_sql(m.REVIEW_STATUS_HELD))  # deleted reviews are in no list
        if resource == "products" and cases.held_sql(m.PRODUCT_LIFECYCLE_HELD, "lifecycle"):
            clauses.append(cases.held_sql(m.PRODUCT_LIFECYCLE_HELD, "lifecycle"))  # nor deleted products
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def _answer(self, body, items: int = 0) -> Response:
        self.delay(items)
        return self.json(body)

    def listing(self, request: Request, lang: str, resource: str):
        try:
            entity, many, _, _ = self._resource(resource)
            where, params = self._where(resource, request.args)
            page, limit = self._paging(request.args)
            with self.store.lock:
                rows = [self.store._decode(r[0]) for r in self.store.con.execute(
                    f"SELECT record FROM {entity}{where} ORDER BY id LIMIT ? OFFSET ?",
                    params + [limit, (page - 1) * limit]).fetchall()]
            return self._answer({many: [self.render(resource, r) for r in rows]}, len(rows))
        except LSError as err:
            return self.error_body(request, err.status, err.message)

    def count(self, request: Request, lang: str, resource: str):
        try:
            entity = self._resource(resource)[0]
            where, params = self._where(resource, request.args)
            with self.store.lock:
                n = self.store.con.execute(f"SELECT count(*) FROM {entity}{where}", params).fetchall()[0][0]
            return self._answer({"count": n})
        except LSError as err:
            return self.error_body(request, err.status, err.message)

    def item(self, request: Request, lang: str, resource: str, id_: int):
        try:
            entity, _, one, _ = self._resource(resource)
        except LSError as err:
            return self.error_body(request, err.status, err.message)
        record = self.store.get(entity, id_)
        if record is not None and resource == "reviews":
            record = cases.review_held(record, m.REVIEW_STATUS_HELD)
        if record is not None and resource == "products":
            record = cases.product_held(record, m.PRODUCT_LIFECYCLE_HELD)
        if record is None:
            return self.error_body(request, 404, f"{one.capitalize()} not found")
        return self._answer({one: self.render(resource, record)}, 1)

    def _page_of(self, request: Request, key: str, rows: list[dict]) -> Response:
        try:
            page, limit = self._paging(request.args)
        except LSError as err:
            return self.error_body(request, err.status, err.message)
        out = rows[(page - 1) * limit: page * limit]
        return self._answer({key: out}, len(out))

    def _products(self, wanted: str | None) -> list[dict]:
        """The product asked for (by id) or all, as the shop has them: a trashed one was deleted."""
        rows = [self.store.get("products", int(wanted))] if wanted and wanted.isdigit() else \
            [] if wanted else self.store.page("products", 0, 10 ** 9)
        held = (p and cases.product_held(p, m.PRODUCT_LIFECYCLE_HELD) for p in rows)
        return [p for p in held if p]

    def variants(self, request: Request, lang: str):
        wanted = request.args.get("product")
        products = self._products(wanted)
        return self._page_of(request, "variants", [v for p in products if p for v in self.variants_json(p)])

    def category_links(self, request: Request, lang: str):
        product, category = request.args.get("product"), request.args.get("category")
        products = self._products(product)
        rows = []
        for p in products:
            for k, c in enumerate((p or {}).get("category_ids") or []):
                if category and str(c) != category:
                    continue
                rows.append({"id": int(p["source_id"]) * 100 + k, "sortOrder": k,
                             "category": m.link(self.api_base(lang), "categories", c),
                             "product": m.link(self.api_base(lang), "products", p["source_id"])})
        return self._page_of(request, "categoriesProducts", rows)

    def images(self, request: Request, lang: str, id_: int):
        p = next(iter(self._products(str(id_))), None)
        if p is None:
            return self.error_body(request, 404, "Product not found")
        return self._page_of(request, "productImages", [
            {"id": id_ * 100 + k, "createdAt": m.ls_time(p.get("created_at")),
             "updatedAt": m.ls_time(p.get("updated_at")), "sortOrder": k, "title": i.get("alt") or "",
             "extension": str(i.get("url") or "").rsplit(".", 1)[-1][:4], "size": 0,
             "thumb": i.get("url"), "src": i.get("url")} for k, i in enumerate(p.get("images") or [])])

    def order_products(self, request: Request, lang: str, id_: int):
        o = self.store.get("orders", id_)
        if o is None:
            return self.error_body(request, 404, "Order not found")
        base = self.api_base(lang)
        refunded = m.refunded_quantities(cases.refunds(o))
        rows = []
        for k, i in enumerate(o.get("items") or [], start=1):
            price, qty = Decimal(str(i.get("price") or 0)), int(i.get("qty") or 0)
            tax = Decimal(str(i.get("tax") or 0))
            rows.append({"id": m.order_product_id(id_, k), "supplierTitle": "", "brandTitle": "",
                         "productTitle": i.get("name"),
                         "variantTitle": "", "taxRate": 0, "quantityOrdered": qty, "quantityInvoiced": qty,
                         "quantityShipped": 0, "quantityRefunded": refunded.get(str(i.get("source_id")), 0),
                         "quantityReturned": 0,
                         "articleCode": i.get("sku") or "", "ean": "", "sku": i.get("sku") or "", "weight": None,
                         "priceCost": 0, "basePriceExcl": price, "basePriceIncl": price + (tax / qty if qty else 0),
                         "priceExcl": price * qty, "priceIncl": price * qty + tax, "discountExcl": 0,
                         "discountIncl": 0, "product": m.link(base, "products", i.get("product_id")),
                         "variant": False})
        return self._page_of(request, "orderProducts", rows)

    def invoices(self, request: Request, lang: str):
        """`invoices.json` (`order=`, `customer=`): each order's invoice and its credit notes (refunds), by id."""
        order, customer = request.args.get("order"), request.args.get("customer")
        if order:
            found = self.store.get("orders", int(order)) if order.isdigit() else None
            orders = [found] if found else []
        else:
            orders = self.store.page("orders", 0, 10 ** 9)
        base = self.api_base(lang)
        rows = sorted((inv for o in orders if not customer or str(o.get("customer_id")) == customer
                       for inv in m.invoices_out(base, o, cases.refunds(o), m.ls_time)), key=lambda i: i["id"])
        return self._page_of(request, "invoices", rows)

    def _invoice(self, lang: str, id_: int):
        """The order and the invoice (with its refund, for a credit note) of invoice id `id_`: an order's invoice is
        INVOICE_IDS above its id, a credit note the refund's id (kit/emulator_cases.py: the order's id and a digit)
        or the order's id times ten and its position; other refund ids are looked for among every order's."""
        base = self.api_base(lang)

        def of(o):
            refunds = cases.refunds(o)
            for k, inv in enumerate(m.invoices_out(base, o, refunds, m.ls_time)):
                if inv["id"] == id_:
                    return o, inv, refunds[k - 1] if k else None
            return None

        for oid in (id_ - m.INVOICE_IDS, id_ // 10):
            o = self.store.get("orders", oid) if oid > 0 else None
            found = o and of(o)
            if found:
                return found
        for o in self.store.page("orders", 0, 10 ** 9):
            found = of(o)
            if found:
                return found
        return None

    def invoice_items(self, request: Request, lang: str, id_: int):
        """`invoices/{id}/items.json`: the invoice's items (a credit note's: the lines its refund credits)."""
        found = self._invoice(lang, id_)
        if found is None:
            return self.error_body(request, 404, "Invoice not found")
        o, inv, refund = found
        return self._page_of(request, "invoiceItems", m.invoice_items_out(self.api_base(lang), o, inv, refund))

    # --- canonical -> Lightspeed JSON ----------------------------------------------------------------------------
    def api_base(self, lang: str = "en") -> str:
        return f"{self.base_url}/{lang}"

    def render(self, resource: str, r: dict) -> dict:
        return {"categories": self.category_json, "brands": self.brand_json, "taxes": self.tax_json,
                "products": self.product_json, "customers": self.customer_json, "orders": self.order_json,
                "reviews": self.review_json}[resource](r)

    def category_json(self, c: dict) -> dict:
        cid, base = int(c["source_id"]), self.api_base()
        return {"id": cid, "createdAt": m.ls_time(c.get("updated_at")), "updatedAt": m.ls_time(c.get("updated_at")),
                "isVisible": c.get("is_visible") is not False, "depth": str(c.get("path") or "").count("/") + 1,
                "sortOrder": c.get("position") or 0, "url": c.get("url_key") or "", "title": c["name"],
                "fulltitle": c["name"], "description": "", "content": "", "image": False,
                "parent": m.link(base, "categories", c.get("parent_id")),
                "children": m.listing(base, f"categories?parent={cid}"),
                "products": m.listing(base, f"categories/products?category={cid}")}

    def brand_json(self, b: dict) -> dict:
        return {"id": int(b["source_id"]), "createdAt": m.ls_time(b.get("updated_at")),
                "updatedAt": m.ls_time(b.get("updated_at")), "title": b["name"], "content": "", "image": False}

    def tax_json(self, t: dict) -> dict:
        rates = t.get("rates") or []
        rate = Decimal(str(rates[0]["rate"])) / 100 if rates else Decimal(0)
        return {"id": int(t["source_id"]), "createdAt": m.ls_time(t.get("updated_at")),
                "updatedAt": m.ls_time(t.get("updated_at")), "isDefault": t["source_id"] == "1",
                "title": t["name"], "rate": rate}

    def product_json(self, p: dict) -> dict:
        pid, base = int(p["source_id"]), self.api_base()
        visible = p.get("status") != "disabled"
        return {"id": pid, "createdAt": m.ls_time(p.get("created_at")), "updatedAt": m.ls_time(p.get("updated_at")),
                "isVisible": visible, "visibility": "visible" if visible else "hidden",
                "hasMatrix": bool(p.get("variants")), "data01": "", "data02": "", "data03": "",
                "url": p.get("url_key") or "", "title": p["name"], "fulltitle": p["name"], "description": "",
                "content": p.get("description_html") or "", "set": False,
                "brand": m.link(base, "brands", p.get("manufacturer_id")),
                "categories": m.listing(base, f"categories/products?product={pid}"), "deliverydate": False,
                "image": False, "images": m.listing(base, f"products/{pid}/images") if p.get("images") else False,
                "relations": m.listing(base, f"products/{pid}/relations"),
                "metafields": m.listing(base, f"products/{pid}/metafields"),
                "reviews": m.listing(base, f"reviews?product={pid}"), "type": False,
                "attributes": m.listing(base, f"products/{pid}/attributes"), "supplier": False,
                "tags": m.listing(base, f"tags/products?product={pid}"),
                "variants": m.listing(base, f"variants?product={pid}"),
                "movements": m.listing(base, f"variants/movements?product={pid}")}

    def variants_json(self, p: dict) -> list[dict]:
        pid, base = int(p["source_id"]), self.api_base()
        special = p.get("special_price")
        weight = p.get("weight")

        def one(vid: int, default: bool, sku, price, old, stock, title: str, k: int) -> dict:
            return {"id": vid, "createdAt": m.ls_time(p.get("created_at")), "updatedAt": m.ls_time(p.get("updated_at")),
                    "isDefault": default, "sortOrder": k, "articleCode": sku or "", "ean": "", "sku": sku or "",
                    "hs": "", "tax": m.link(base, "taxes", p.get("tax_class_id")),
                    "priceExcl": price, "priceIncl": price, "priceCost": 0, "oldPriceExcl": old or 0,
                    "oldPriceIncl": old or 0, "stockTracking": "enabled" if stock is not None else "disabled",
                    "stockLevel": stock if stock is not None else 0, "stockAlert": 0, "stockMinimum": 0,
                    "stockSoldCount": 0, "stockBuyMinimum": 1, "stockBuyMaximum": 10000,
                    "weight": int(round((weight or 0) * 1000)), "weightValue": weight if weight is not None else None,
                    "weightUnit": "kg", "volume": 0, "colli": 0, "sizeX": 0, "sizeY": 0, "sizeZ": 0,
                    "title": title, "image": False, "product": m.link(base, "products", pid),
                    "movements": m.listing(base, f"variants/movements?variant={vid}"),
                    "metafields": m.listing(base, f"variants/{vid}/metafields")}

        out = [one(pid * 1000, True, p.get("sku"), special if special is not None else p["price"],
                   p["price"] if special is not None else None, p.get("stock"), "Default", 0)]
        for k, v in enumerate(p.get("variants") or [], start=1):
            title = ",".join(f'"{o["name"]} : {o["value"]}"' for o in v.get("options") or [])
            out.append(one(pid * 1000 + k, False, v.get("sku"), v.get("price"), None, v.get("stock"), title, k))
        return out

    def customer_json(self, c: dict) -> dict:
        addresses = c.get("addresses") or []
        billing = next((a for a in addresses if a.get("is_default_billing")), None)
        shipping = next((a for a in addresses if a.get("is_default_shipping")), billing)
        cid, base = int(c["source_id"]), self.api_base()
        return {"id": cid, "createdAt": m.ls_time(c.get("created_at")), "updatedAt": m.ls_time(c.get("updated_at")),
                "isConfirmed": True, "type": "registered", "lastOnlineAt": m.ls_time(c.get("updated_at")),
                "remoteIp": "", "userAgent": "", "referralId": False, "gender": "", "birthDate": "",
                "nationalId": "", "email": c.get("email") or "", "firstname": c.get("first_name") or "",
                "middlename": "", "lastname": c.get("last_name") or "", "phone": c.get("phone") or "",
                "mobile": "", "isCompany": bool((billing or {}).get("company")),
                "companyName": (billing or {}).get("company") or "", "companyCoCNumber": "", "companyVatNumber": "",
                **m.address_out(billing, "Billing"), **m.address_out(shipping, "Shipping"),
                "memo": None, "language": {"id": 3, "code": "en", "locale": "en_GB", "title": "English"},
                "orders": m.listing(base, f"orders?customer={cid}"),
                "reviews": m.listing(base, f"reviews?customer={cid}")}

    def order_json(self, o: dict) -> dict:
        oid, base = int(o["source_id"]), self.api_base()
        status, payment, shipment = m.STATUS_OUT.get(o.get("status"), m.STATUS_OUT["processing"])
        total, tax = Decimal(str(o["grand_total"])), Decimal(str(o.get("tax") or 0))
        shipping = Decimal(str(o.get("shipping") or 0))
        discount = Decimal(str(o.get("discount") or 0))
        return {"id": oid, "createdAt": m.ls_time(o.get("created_at")), "updatedAt": m.ls_time(o.get("updated_at")),
                "number": o.get("number") or f"ORD{oid:05d}", "status": status, "customStatusId": None,
                "channel": "", "remoteIp": "", "userAgent": "", "referralId": False, "priceCost": 0,
                "priceExcl": total - tax, "priceIncl": total, "weight": 0, "volume": 0, "colli": 0,
                "email": o.get("email") or "", "firstname": o.get("customer_first_name") or "", "middlename": "",
                "lastname": o.get("customer_last_name") or "",
                "phone": (o.get("billing_address") or {}).get("phone") or "", "mobile": "",
                "newsletterSubscribed": False, "isCompany": False, "companyName": "",
                **m.address_out(o.get("billing_address"), "Billing"),
                **m.address_out(o.get("shipping_address"), "Shipping"),
                "paymentStatus": payment, "paymentTitle": "Customer choice", "shipmentStatus": shipment,
                "shipmentTitle": "Standard", "shipmentBasePriceExcl": shipping, "shipmentPriceExcl": shipping,
                "shipmentPriceIncl": shipping, "isDiscounted": discount > 0, "discountType": "amount",
                "discountAmount": discount, "discountPercentage": 0, "discountCouponCode": "",
                "comment": "", "memo": "", "language": {"id": 3, "code": "en", "locale": "en_GB", "title": "English"},
                "customer": m.link(base, "customers", o.get("customer_id")),
                "products": m.listing(base, f"orders/{oid}/products"),
                "invoices": m.listing(base, f"invoices?order={oid}"),
                "shipments": m.listing(base, f"shipments?order={oid}")}

    def review_json(self, r: dict) -> dict:
        return {"id": int(r["source_id"]), "createdAt": m.ls_time(r.get("created_at")),
                "updatedAt": m.ls_time(r.get("updated_at")), "isVisible": r.get("status") == "approved",
                "score": r.get("rating"), "name": "", "content": r.get("text") or "",
                "language": {"id": 3, "code": "en", "locale": "en_GB", "title": "English"},
                "product": m.link(self.api_base(), "products", r.get("product_id")),
                "customer": m.link(self.api_base(), "customers", r.get("customer_id"))}


class _Throttled(LSError):
    def __init__(self, headers: dict):
        super().__init__(429, "Too many requests")
        self.headers = headers


def rate_bound_rows_per_s(entity: str) -> float:
    """Rows/s the default 5-minute window allows (300 requests / 300 s, 250 records a page): lists at 250 rows a
    request; products and orders also cost a request each for their images / order lines (variants come 250 a
    request, about two per product). Over a whole day the 12,000-request window allows a seventh of this."""
    per_second = PLANS["standard"][0] / WINDOWS[0]
    if entity == "products":
        return per_second / (1 / MAX_LIMIT + 2 / MAX_LIMIT + 1)
    if entity == "orders":
        return per_second / (1 / MAX_LIMIT + 1)
    return per_second * MAX_LIMIT
