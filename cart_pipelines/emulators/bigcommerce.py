"""BigCommerce emulator: the store's canonical records served as REST v3 (catalog, customers) and v2 (orders, tax
classes, store information) under /stores/{store_hash}/..., as a store-level API account sees them.

Documented behaviour it follows:
- auth by `X-Auth-Token`; `X-Auth-Client` is not checked (the API ignores it: github.com/bigcommerce/api/issues/120);
  a missing or wrong token is 401, a missing OAuth scope 403 "You don't have a required scope to access the
  endpoint", and a wrong store hash the same 403 (https://developer.bigcommerce.com/docs/start/about/status-codes,
  "Troubleshooting": 403 → check the store hash); scope names from
  https://developer.bigcommerce.com/docs/start/authentication/api-accounts;
- v3 errors `{status, title, type, errors}`, v2 errors `[{status, message}]`;
- v3 lists: `limit` (default 50, max 250) and `page`, body `{data, meta: {pagination: {total, count, per_page,
  current_page, total_pages, links: {previous, current, next}}}}`, filters `date_modified:min`, `id:in`,
  `email:in` (customers), `include=variants,images` / `include=addresses`, `include_fields`;
  a `limit` over the maximum is 413 Request Entity Too Large ("the limit parameter exceeded the maximum", status codes
  page);
- v2 lists: plain arrays, `limit` (max 250) and `page`, 204 No Content past the last page, RFC 2822 dates and
  money as strings with four decimals, `min_date_modified` (RFC 2822 or ISO 8601) on orders, order products and
  shipping addresses as sub-resources, billing address inline, status ids and names of the Order Status API
  (github.com/bigcommerce/api-specs reference/orders.v2.oas2.yml);
- rate limits (https://developer.bigcommerce.com/docs/start/best-practices/api-rate-limits): a fixed window per
  store, 150 requests / 30 s on Standard and Plus, 450 / 30 s on Pro, none on Enterprise (Unlimited); headers
  X-Rate-Limit-Requests-Left, -Requests-Quota, -Time-Reset-Ms, -Time-Window-Ms on every response; over the quota
  429 with the same headers. The `storm` knob answers like the load balancer does: 429 without rate-limit headers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .base import Emulator, EmulatorStore, FixedWindow, Knobs, to_utc

STORE_HASH = "emu4bc7x"
CLIENT_ID = "emulator-client-id-1z2y3x"
ACCESS_TOKEN = "emulator-access-token-9f8e7d6c"
MAX_LIMIT = 250
TYPE_URL = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
PLANS = {"standard": (150, 30.0), "plus": (150, 30.0), "pro": (450, 30.0), "enterprise": None}
ALL_SCOPES = ("store_v2_products_read_only", "store_v2_customers_read_only", "store_v2_orders_read_only",
              "store_v2_information_read_only")
ORDER_STATUS = {"pending": (1, "Pending"), "processing": (11, "Awaiting Fulfillment"), "complete": (10, "Completed"),
                "canceled": (5, "Cancelled"), "refunded": (4, "Refunded"),
                "on_hold": (12, "Manual Verification Required")}
COUNTRIES = {"NO": "Norway", "SE": "Sweden", "DK": "Denmark", "FI": "Finland", "DE": "Germany"}


def v3_date(value) -> str | None:
    dt = to_utc(value)
    return dt.replace(microsecond=0).isoformat() if dt else None


def v2_date(value) -> str:
    dt = to_utc(value)
    return format_datetime(dt.replace(microsecond=0)) if dt else ""


def v2_money(value) -> str:
    return f"{Decimal(str(value or 0)):.4f}"


def parse_date(text: str):
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return parsedate_to_datetime(text)


class ApiError(Exception):
    def __init__(self, status: int, title: str, headers: dict | None = None):
        super().__init__(title)
        self.status, self.title, self.headers = status, title, headers or {}


class BigCommerceEmulator(Emulator):
    platform = "bigcommerce"
    url_map = Map([
        Rule("/stores/<store>/v2/store", endpoint="v2_store"),
        Rule("/stores/<store>/v2/tax_classes", endpoint="v2_tax_classes"),
        Rule("/stores/<store>/v2/orders", endpoint="v2_orders"),
        Rule("/stores/<store>/v2/orders/<int:oid>/products", endpoint="v2_order_products"),
        Rule("/stores/<store>/v2/orders/<int:oid>/shipping_addresses", endpoint="v2_order_shipping"),
        Rule("/stores/<store>/v2/products", endpoint="v2_products"),
        Rule("/stores/<store>/v2/customers", endpoint="v2_customers"),
        Rule("/stores/<store>/v3/catalog/categories", endpoint="v3_categories"),
        Rule("/stores/<store>/v3/catalog/brands", endpoint="v3_brands"),
        Rule("/stores/<store>/v3/catalog/products", endpoint="v3_products"),
        Rule("/stores/<store>/v3/catalog/products/<int:pid>/reviews", endpoint="v3_reviews"),
        Rule("/stores/<store>/v3/customers", endpoint="v3_customers"),
    ])

    def __init__(self, store: EmulatorStore, knobs: Knobs | None = None, limits: tuple[int, float] | None = None):
        super().__init__(store, knobs)
        plan = limits or PLANS.get(self.knobs.plan, PLANS["standard"])
        self.window = FixedWindow(*plan) if plan else None
        self.throttled_count = 0  # 429s for an exhausted quota (not storms)

    def credentials(self) -> dict:
        return {"store_hash": STORE_HASH, "client_id": CLIENT_ID, "access_token": ACCESS_TOKEN}

    # --- responses
    def _v2(self, request: Request) -> bool:
        return "/v2/" in request.path

    def problem(self, request: Request, status: int, title: str, headers: dict | None = None) -> Response:
        if self._v2(request):
            return self.json([{"status": status, "message": title}], status, headers)
        return self.json({"status": status, "title": title, "type": TYPE_URL, "errors": {}}, status, headers)

    def throttled(self, request: Request) -> Response:
        # The load balancer's 429: no X-Rate-Limit-* headers (api-rate-limits page, "Seeing a 429 response?").
        return self.problem(request, 429, "Too many requests")

    def error(self, request: Request, exc: Exception) -> Response:
        status = exc.code if isinstance(exc, HTTPException) else 500
        title = "The requested resource was not found." if status == 404 else "Internal Server Error"
        return self.problem(request, status, title)

    def _limit_headers(self) -> tuple[bool, dict]:
        if not self.knobs.rate_limit or self.window is None:
            return True, {}
        allowed, left, reset = self.window.take()
        return allowed, {"X-Rate-Limit-Requests-Left": str(left), "X-Rate-Limit-Requests-Quota": str(self.window.quota),
                         "X-Rate-Limit-Time-Reset-Ms": str(max(1, int(reset * 1000))),
                         "X-Rate-Limit-Time-Window-Ms": str(int(self.window.window_s * 1000))}

    def _serve(self, request: Request, store: str, scope: str, build) -> Response:
        token = request.headers.get("X-Auth-Token")
        if token != ACCESS_TOKEN:
            return self.problem(request, 401, "Unauthorized")  # no quota is taken without a valid token
        allowed, headers = self._limit_headers()
        if not allowed:
            with self.lock:
                self.throttled_count += 1
            return self.problem(request, 429, "Too many requests", headers)
        denied = self.knobs.denied_scopes
        if store != STORE_HASH or scope in denied or scope.removesuffix("_read_only") in denied:
            return self.problem(request, 403, "You don't have a required scope to access the endpoint", headers)
        try:
            result = build()
        except ApiError as exc:
            return self.problem(request, exc.status, exc.title, headers)
        if isinstance(result, Response):
            result.headers.update(headers)
            return result
        return self.json(result, 200, headers)

    # --- paging helpers
    def _limit(self, request: Request, default: int) -> int:
        try:
            limit = int(request.args.get("limit", default))
            page = int(request.args.get("page", 1))
        except ValueError:
            raise ApiError(400, "The limit and page parameters must be integers") from None
        if limit > MAX_LIMIT:
            raise ApiError(413, f"The limit parameter exceeded the maximum of {MAX_LIMIT}")
        if limit < 1 or page < 1:
            raise ApiError(400, "The limit and page parameters must be positive")
        return limit

    def _filters(self, request: Request, min_param: str | None) -> dict:
        f = {}
        if min_param and request.args.get(min_param):
            try:  # ':min' is inclusive; the store's filter is strict
                f["updated_min"] = parse_date(request.args[min_param]) - timedelta(microseconds=1)
            except (TypeError, ValueError):
                raise ApiError(422, f"{min_param} is not a valid date") from None
        if request.args.get("id:in"):
            f["ids"] = [int(i) for i in request.args["id:in"].split(",") if i.strip().isdigit()]
        return f

    def _v3_list(self, request: Request, entity: str, render, min_param: str | None = None, rows=None) -> dict:
        limit = self._limit(request, 50)
        page = int(request.args.get("page", 1))
        if rows is None:
            f = self._filters(request, min_param)
            total = self.store.count(entity, **f)
            rows = self.store.page(entity, (page - 1) * limit, limit, **f)
        else:
            total = len(rows)
            rows = rows[(page - 1) * limit: page * limit]
        self.delay(len(rows))
        pages = max(1, -(-total // limit))
        q = {k: v for k, v in request.args.items() if k not in ("page", "limit")}

        def link(p):
            return "?" + urlencode({**q, "page": p, "limit": limit})

        fields = request.args.get("include_fields")
        data = [render(r) for r in rows]
        if fields:
            keep = {"id", *fields.split(",")}
            data = [{k: v for k, v in d.items() if k in keep} for d in data]
        links = {"current": link(page)}
        if page > 1:
            links["previous"] = link(page - 1)
        if page < pages:
            links["next"] = link(page + 1)
        return {"data": data, "meta": {"pagination": {"total": total, "count": len(data), "per_page": limit,
                                                       "current_page": page, "total_pages": pages,
                                                       "links": links}}}

    def _v2_list(self, request: Request, entity: str, render, min_param: str | None = None):
        limit = self._limit(request, 50)
        page = int(request.args.get("page", 1))
        f = self._filters(request, min_param) if min_param else {}
        rows = self.store.page(entity, (page - 1) * limit, limit, **f)
        self.delay(len(rows))
        if not rows:
            return Response(status=204)
        return [render(r) for r in rows]

    # --- v3 catalog
    def v3_categories(self, request, store):
        return self._serve(request, store, "store_v2_products_read_only",
                           lambda: self._v3_list(request, "categories", self.category))

    def v3_brands(self, request, store):
        return self._serve(request, store, "store_v2_products_read_only",
                           lambda: self._v3_list(request, "manufacturers", self.brand))

    def v3_products(self, request, store):
        include = set(request.args.get("include", "").split(","))
        return self._serve(request, store, "store_v2_products_read_only",
                           lambda: self._v3_list(request, "products", lambda p: self.product(p, include),
                                                 "date_modified:min"))

    def v3_reviews(self, request, store, pid):
        def build():
            if self.store.get("products", pid) is None:
                raise ApiError(404, "The requested product was not found.")
            rows = self._reviews_of(pid)
            return self._v3_list(request, "reviews", self.review, rows=rows)
        return self._serve(request, store, "store_v2_products_read_only", build)

    def v3_customers(self, request, store):
        include = set(request.args.get("include", "").split(","))

        def build():
            emails = request.args.get("email:in")
            if emails:
                rows = self._where_json("customers", "email", sorted(set(emails.split(","))))
                return self._v3_list(request, "customers", lambda c: self.customer(c, include), rows=rows)
            return self._v3_list(request, "customers", lambda c: self.customer(c, include), "date_modified:min")
        return self._serve(request, store, "store_v2_customers_read_only", build)

    # --- v2
    def v2_store(self, request, store):
        return self._serve(request, store, "store_v2_information_read_only", lambda: {
            "id": STORE_HASH, "domain": "emulated-store.mybigcommerce.com", "name": "Emulated BigCommerce store",
            "country_code": "NO", "currency": "NOK", "weight_units": "kg", "dimension_units": "Centimeters",
            "plan_name": self.knobs.plan.title(), "plan_level": self.knobs.plan.title(), "status": "live"})

    def v2_tax_classes(self, request, store):
        return self._serve(request, store, "store_v2_information_read_only",
                           lambda: self._v2_list(request, "tax_classes", self.tax_class))

    def v2_orders(self, request, store):
        return self._serve(request, store, "store_v2_orders_read_only",
                           lambda: self._v2_list(request, "orders", self.order, "min_date_modified"))

    def _order(self, oid: int) -> dict:
        order = self.store.get("orders", oid)
        if order is None:
            raise ApiError(404, "The requested order was not found.")
        return order

    def v2_order_products(self, request, store, oid):
        def build():
            limit = self._limit(request, 50)
            page = int(request.args.get("page", 1))
            order = self._order(oid)
            items = [self.order_product(order, k, i) for k, i in enumerate(order.get("items") or [])]
            rows = items[(page - 1) * limit: page * limit]
            return rows if rows else Response(status=204)
        return self._serve(request, store, "store_v2_orders_read_only", build)

    def v2_order_shipping(self, request, store, oid):
        def build():
            order = self._order(oid)
            a = order.get("shipping_address")
            if not a or int(request.args.get("page", 1)) > 1:
                return Response(status=204)
            return [{"id": oid, "order_id": oid, **self.v2_address(a, order.get("email")), "items_total": 0,
                     "items_shipped": 0, "shipping_method": "Flat Rate", "base_cost": v2_money(order.get("shipping")),
                     "cost_ex_tax": v2_money(order.get("shipping"))}]
        return self._serve(request, store, "store_v2_orders_read_only", build)

    def v2_products(self, request, store):  # the legacy v2 catalog the official Python client lists
        return self._serve(request, store, "store_v2_products_read_only",
                           lambda: self._v2_list(request, "products", self.v2_product))

    def v2_customers(self, request, store):
        return self._serve(request, store, "store_v2_customers_read_only",
                           lambda: self._v2_list(request, "customers", self.v2_customer))

    # --- canonical -> BigCommerce JSON
    def _where_json(self, entity: str, key: str, values: list[str]) -> list[dict]:
        """Records whose top-level `key` is one of `values`, straight from the store's SQL (no full scans in Python)."""
        if not values:
            return []
        marks = ", ".join("?" for _ in values)
        with self.store.lock:
            rows = self.store.con.execute(f"SELECT record FROM {entity} WHERE json_extract_string(record, '$.{key}') "
                                          f"IN ({marks}) ORDER BY id", list(values)).fetchall()
        return [self.store._decode(r[0]) for r in rows]

    def _reviews_of(self, pid: int) -> list[dict]:
        return self._where_json("reviews", "product_id", [str(pid)])

    @staticmethod
    def category(c: dict) -> dict:
        return {"id": int(c["source_id"]), "parent_id": int(c["parent_id"] or 0), "name": c["name"],
                "description": "", "views": 0, "sort_order": c.get("position") or 0, "page_title": "",
                "is_visible": bool(c.get("is_visible")), "image_url": "",
                "custom_url": {"url": f"/{c['url_key']}/" if c.get("url_key") else "", "is_customized": False}}

    @staticmethod
    def brand(b: dict) -> dict:
        return {"id": int(b["source_id"]), "name": b["name"], "page_title": "", "image_url": "",
                "custom_url": {"url": f"/{b['url_key']}/" if b.get("url_key") else "", "is_customized": False}}

    @staticmethod
    def tax_class(t: dict) -> dict:
        return {"id": int(t["source_id"]), "name": t["name"], "created_at": v3_date(t.get("updated_at")),
                "updated_at": v3_date(t.get("updated_at"))}

    @staticmethod
    def product(p: dict, include: set) -> dict:
        pid = int(p["source_id"])
        out = {
            "id": pid, "name": p["name"], "type": "physical", "sku": p.get("sku") or "",
            "description": p.get("description_html") or "", "weight": p.get("weight") or 0,
            "price": p["price"], "sale_price": p.get("special_price") or 0,
            "calculated_price": p.get("special_price") or p["price"],
            "categories": [int(c) for c in p.get("category_ids") or []],
            "brand_id": int(p.get("manufacturer_id") or 0), "tax_class_id": int(p.get("tax_class_id") or 0),
            "inventory_level": p.get("stock") or 0, "inventory_tracking": "product",
            "is_visible": p.get("status") != "disabled",
            "custom_url": {"url": f"/{p['url_key']}/" if p.get("url_key") else "", "is_customized": True},
            "date_created": v3_date(p.get("created_at")), "date_modified": v3_date(p.get("updated_at")),
        }
        if "variants" in include:
            variants = p.get("variants") or []
            base = [{"sku": p.get("sku"), "price": p["price"], "stock": p.get("stock"), "options": []}]
            out["variants"] = [{
                "id": pid * 1000 + k, "product_id": pid, "sku": v.get("sku"),
                "price": None if v.get("price") == p["price"] else v.get("price"),
                "calculated_price": v.get("price"), "inventory_level": v.get("stock") or 0,
                "option_values": [{"id": j + 1, "option_id": j + 1, "label": o["value"],
                                   "option_display_name": o["name"]} for j, o in enumerate(v.get("options") or [])],
            } for k, v in enumerate(variants or base)]
        if "images" in include:
            out["images"] = [{"id": pid * 100 + k, "product_id": pid, "is_thumbnail": i.get("position") == 0,
                              "sort_order": i.get("position"), "description": i.get("alt") or "",
                              "image_file": i["url"].rsplit("/", 1)[-1], "url_zoom": i["url"],
                              "url_standard": i["url"], "url_thumbnail": i["url"], "url_tiny": i["url"],
                              "date_modified": v3_date(p.get("updated_at"))}
                             for k, i in enumerate(p.get("images") or [])]
        return out

    @staticmethod
    def customer(c: dict, include: set) -> dict:
        cid = int(c["source_id"])
        out = {"id": cid, "email": c["email"], "first_name": c.get("first_name") or "",
               "last_name": c.get("last_name") or "", "company": "", "phone": c.get("phone") or "", "notes": "",
               "customer_group_id": 0, "tax_exempt_category": "",
               "date_created": v3_date(c.get("created_at")), "date_modified": v3_date(c.get("updated_at")),
               "accepts_product_review_abandoned_cart_emails": False, "channel_ids": [1]}
        if "addresses" in include:
            out["addresses"] = [{"id": cid * 10 + k, "customer_id": cid, "first_name": a.get("first_name") or "",
                                 "last_name": a.get("last_name") or "", "company": a.get("company") or "",
                                 "address1": a.get("street") or "", "address2": "", "city": a.get("city") or "",
                                 "state_or_province": a.get("region") or "", "postal_code": a.get("postcode") or "",
                                 "country": COUNTRIES.get(a.get("country"), a.get("country") or ""),
                                 "country_code": a.get("country") or "", "phone": a.get("phone") or "",
                                 "address_type": "commercial" if a.get("company") else "residential"}
                                for k, a in enumerate(c.get("addresses") or [])]
        return out

    @staticmethod
    def v2_address(a: dict, email: str | None) -> dict:
        return {"first_name": a.get("first_name") or "", "last_name": a.get("last_name") or "",
                "company": a.get("company") or "", "street_1": a.get("street") or "", "street_2": "",
                "city": a.get("city") or "", "state": a.get("region") or "", "zip": a.get("postcode") or "",
                "country": COUNTRIES.get(a.get("country"), a.get("country") or ""),
                "country_iso2": a.get("country") or "", "phone": a.get("phone") or "", "email": email or ""}

    def order(self, o: dict) -> dict:
        oid = int(o["source_id"])
        status_id, status = ORDER_STATUS.get(o.get("status"), (0, "Incomplete"))
        subtotal, tax = Decimal(str(o.get("subtotal") or 0)), Decimal(str(o.get("tax") or 0))
        shipping = Decimal(str(o.get("shipping") or 0))
        sub_url = f"{self.base_url}/stores/{STORE_HASH}/v2/orders/{oid}"
        return {
            "id": oid, "customer_id": int(o.get("customer_id") or 0), "date_created": v2_date(o.get("created_at")),
            "date_modified": v2_date(o.get("updated_at")), "status_id": status_id, "status": status,
            "subtotal_ex_tax": v2_money(subtotal), "subtotal_inc_tax": v2_money(subtotal + tax),
            "subtotal_tax": v2_money(tax), "base_shipping_cost": v2_money(shipping),
            "shipping_cost_ex_tax": v2_money(shipping), "shipping_cost_inc_tax": v2_money(shipping),
            "total_ex_tax": v2_money(Decimal(str(o["grand_total"])) - tax), "total_inc_tax": v2_money(o["grand_total"]),
            "total_tax": v2_money(tax), "items_total": sum(i.get("qty") or 0 for i in o.get("items") or []),
            "discount_amount": v2_money(o.get("discount")), "coupon_discount": "0.0000",
            "currency_code": o.get("currency"), "default_currency_code": o.get("currency"),
            "billing_address": self.v2_address(o.get("billing_address") or {}, o.get("email")),
            "products": {"url": f"{sub_url}/products", "resource": f"/orders/{oid}/products"},
            "shipping_addresses": {"url": f"{sub_url}/shipping_addresses",
                                   "resource": f"/orders/{oid}/shipping_addresses"},
        }

    @staticmethod
    def order_product(o: dict, k: int, i: dict) -> dict:
        oid, qty = int(o["source_id"]), i.get("qty") or 0
        price, line_tax = Decimal(str(i.get("price") or 0)), Decimal(str(i.get("tax") or 0))
        unit_tax = (line_tax / qty).quantize(Decimal("0.0001")) if qty else Decimal(0)
        return {"id": oid * 100 + k + 1, "order_id": oid, "product_id": int(i.get("product_id") or 0),
                "variant_id": 0, "name": i.get("name") or "", "sku": i.get("sku") or "", "quantity": qty,
                "base_price": v2_money(price), "price_ex_tax": v2_money(price),
                "price_inc_tax": v2_money(price + unit_tax),
                "price_tax": v2_money(unit_tax), "total_ex_tax": v2_money(price * qty),
                "total_inc_tax": v2_money(price * qty + line_tax), "total_tax": v2_money(line_tax)}

    def review(self, r: dict) -> dict:
        customer = self.store.get("customers", int(r["customer_id"])) if r.get("customer_id") else None
        name = f"{customer.get('first_name') or ''} {customer.get('last_name') or ''}" if customer else ""
        status = {"approved": "approved", "pending": "pending", "rejected": "disapproved"}.get(r.get("status"))
        return {"id": int(r["source_id"]), "product_id": int(r["product_id"]), "title": r.get("title") or "",
                "text": r.get("text") or "", "status": status, "rating": r["rating"],
                "email": customer["email"] if customer else "", "name": name.strip() or "Anonymous",
                "date_reviewed": v3_date(r.get("created_at")), "date_created": v3_date(r.get("created_at")),
                "date_modified": v3_date(r.get("updated_at"))}

    @staticmethod
    def v2_product(p: dict) -> dict:
        return {"id": int(p["source_id"]), "name": p["name"], "type": "physical", "sku": p.get("sku") or "",
                "price": v2_money(p["price"]), "sale_price": v2_money(p.get("special_price")),
                "inventory_level": p.get("stock") or 0, "is_visible": p.get("status") != "disabled",
                "date_created": v2_date(p.get("created_at")), "date_modified": v2_date(p.get("updated_at")),
                "custom_url": f"/{p['url_key']}/" if p.get("url_key") else ""}

    @staticmethod
    def v2_customer(c: dict) -> dict:
        return {"id": int(c["source_id"]), "email": c["email"], "first_name": c.get("first_name") or "",
                "last_name": c.get("last_name") or "", "phone": c.get("phone") or "",
                "date_created": v2_date(c.get("created_at")), "date_modified": v2_date(c.get("updated_at"))}


def rate_bound_rows_per_s(entity: str, plan: str = "standard") -> float | None:
    """Most rows/s the plan's quota allows (benchmarks): requests per second × 250 records per page, divided by
    the requests one page costs (v2 orders need their products and shipping addresses: 2 requests per order)."""
    limit = PLANS.get(plan, PLANS["standard"])
    if limit is None:
        return None
    per_page = 250
    requests_per_page = 1 + (2 * per_page if entity == "orders" else 0)
    return limit[0] / limit[1] * per_page / requests_per_page
