"""BigCommerce source: REST v3 (catalog, customers) and v2 (orders, tax classes, store), read-only.

A store-level API account gives `store_hash` (from the API path https://api.bigcommerce.com/stores/{store_hash}/v3/),
`client_id` and `access_token`; requests carry the token in `X-Auth-Token` (docs/platforms/bigcommerce.md).

- v3 lists page with `limit` (max 250) and `page`, and report `meta.pagination.total_pages`; products, categories
  and brands, which filter ids (`id:greater`/`id:less`), are read by keyset (`keyset.py`), products in id ranges in
  parallel (at most 3 at a time, BigCommerce's documented concurrent-request limit), so records added or deleted
  meanwhile are neither missed nor repeated; customers, with no id range, by keyset on their creation second;
- v2 lists are plain JSON arrays and answer 204 No Content past the last page; orders page by `min_id` (keyset);
- pacing follows the X-Rate-Limit-* headers every response carries: when few requests are left in the window, every
  worker waits for X-Rate-Limit-Time-Reset-Ms, so a normal run never meets a 429; a 429 is retried after that time;
- delta: products and customers filter with `date_modified:min`, orders with `min_date_modified`; categories and
  brands have no modification date in the API (read in full, they are small), tax classes and reviews are filtered
  here by their `updated_at` / `date_modified`;
- backfill slices (SLICES): products by `id:min`/`id:max`, orders by `min_id`/`max_id` or `min_date_created`/
  `max_date_created`, customers by `date_created:min`/`:max`; every bound is inclusive, so a slice's exclusive end
  becomes the id or second before it. Customers have no id range (only `id:in` lists), so they are not sliced by id.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Callable, Iterator
from urllib.parse import urlsplit

import requests

from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import (
    ConnectionProblem,
    Explainer,
    HttpClient,
    HttpSettings,
    LoopGuard,
    json_list,
    pages_in_order,
    retry_after_header,
)
from cart_pipelines.platforms.kit.keyset import id_range_pages
from cart_pipelines.platforms.kit.source import (
    Slice,
    SliceNotPossible,
    Source,
    SourceRecord,
)

API_HOST = "https://api.bigcommerce.com"
PAGE_SIZE = 250  # documented maximum of `limit` for v3 and v2 lists
CONCURRENCY = 3  # BigCommerce documents 3 concurrent requests per store and endpoint
NON_SECRET = ("store_hash", "client_id")

SCOPES = {
    "categories": "store_v2_products_read_only",
    "manufacturers": "store_v2_products_read_only",
    "products": "store_v2_products_read_only",
    "reviews": "store_v2_products_read_only",
    "customers": "store_v2_customers_read_only",
    "orders": "store_v2_orders_read_only",
    "tax_classes": "store_v2_information_read_only",
}
SLICES = {  # (entity, slice field) -> the list's lower and upper bound parameters, both inclusive
    ("products", "id"): ("id:min", "id:max"),  # v3 catalog
    ("customers", "created_at"): ("date_created:min", "date_created:max"),  # v3 customers
    ("orders", "id"): ("min_id", "max_id"),  # v2 orders
    ("orders", "created_at"): ("min_date_created", "max_date_created"),
}
NO_CUSTOMER_ID_RANGE = ("BigCommerce's customers API has no id-range filter (only id:in lists of ids), so customers "
                        "cannot be backfilled by id range; migrate customers with full_migration")
SCOPE_LABELS = {  # the control panel's names for the scopes above
    "store_v2_products_read_only": "Products: read-only",
    "store_v2_customers_read_only": "Customers: read-only",
    "store_v2_orders_read_only": "Orders: read-only",
    "store_v2_information_read_only": "Information & Settings: read-only",
}

# Canonical fields that come back exactly. Left out, and why (docs/platforms/bigcommerce.md):
# categories/manufacturers.updated_at (no date in the API), tax rates (not in the tax classes API), product variants
# (BigCommerce gives variants numeric ids), customer newsletter/password/address default flags (not in the API),
# order number and customer name (the order id is the number; names come from the billing address), order item ids
# (numeric), reviews (they hang off products: reviews of deleted or no product do not exist in BigCommerce).
CARRIED = {
    "categories": ("source_id", "parent_id", "name", "path", "url_key", "is_visible", "position"),
    "manufacturers": ("source_id", "name", "url_key"),
    "tax_classes": ("source_id", "name", "updated_at"),
    "products": ("source_id", "sku", "name", "description_html", "price", "special_price", "weight", "stock",
                 "status", "url_key", "category_ids", "manufacturer_id", "tax_class_id", "images", "created_at",
                 "updated_at"),
    "customers": ("source_id", "email", "first_name", "last_name", "phone", "created_at", "updated_at"),
    "orders": ("source_id", "customer_id", "email", "status", "currency", "subtotal", "shipping", "tax", "discount",
               "grand_total", "billing_address", "shipping_address", "created_at", "updated_at"),
}

# v2 order status ids (Order Status API) -> canonical status.
ORDER_STATUS = {0: "pending", 1: "pending", 7: "pending", 2: "complete", 10: "complete", 3: "processing",
                8: "processing", 9: "processing", 11: "processing", 4: "refunded", 14: "refunded", 5: "canceled",
                6: "canceled", 12: "on_hold", 13: "on_hold"}
REVIEW_STATUS = {"approved": "approved", "pending": "pending", "disapproved": "rejected"}


def _none_if_blank(value):
    return None if value in ("", None) else value


def _id(value) -> str | None:
    """A BigCommerce reference as a canonical id: 0 and null mean none."""
    return None if value in (0, "0", None, "") else str(value)


def _money(value) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def _ts(value) -> str | None:
    """v3 dates are ISO 8601, v2 order dates RFC 2822; both become ISO 8601 UTC."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        dt = parsedate_to_datetime(str(value))
    dt = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    return dt.isoformat().replace("+00:00", "Z")


def _url_key(custom_url) -> str | None:
    url = (custom_url or {}).get("url") if isinstance(custom_url, dict) else custom_url
    return url.strip("/") if url else None


def _address(a: dict | None) -> dict | None:
    if not a:
        return None
    return {"first_name": a.get("first_name"), "last_name": a.get("last_name"),
            "company": _none_if_blank(a.get("company")), "street": a.get("street_1", a.get("address1")),
            "city": a.get("city"), "postcode": a.get("zip", a.get("postal_code")),
            "region": _none_if_blank(a.get("state", a.get("state_or_province"))),
            "country": a.get("country_iso2", a.get("country_code")), "phone": _none_if_blank(a.get("phone"))}


# --- mapping of one platform record to the canonical shape -------------------------------------------------------

def map_category(c: dict, path: str) -> dict:
    return {"source_id": str(c["id"]), "parent_id": _id(c.get("parent_id")), "name": c.get("name"), "path": path,
            "url_key": _url_key(c.get("custom_url")), "is_visible": c.get("is_visible"),
            "position": c.get("sort_order")}


def map_brand(b: dict) -> dict:
    return {"source_id": str(b["id"]), "name": b.get("name"), "url_key": _url_key(b.get("custom_url"))}


def map_tax_class(t: dict) -> dict:
    return {"source_id": str(t["id"]), "name": t.get("name"), "rates": None, "updated_at": _ts(t.get("updated_at"))}


def map_product(p: dict) -> dict:
    variants = [{"source_id": str(v["id"]), "sku": v.get("sku"),
                 "price": _money(v["price"] if v.get("price") is not None else v.get("calculated_price")),
                 "stock": v.get("inventory_level"),
                 "options": [{"name": o.get("option_display_name"), "value": o.get("label")}
                             for o in v.get("option_values") or []]}
                for v in p.get("variants") or [] if v.get("option_values")]  # the base variant has no options
    images = [{"url": i.get("url_zoom") or i.get("url_standard"), "position": i.get("sort_order"),
               "alt": i.get("description")} for i in p.get("images") or []]
    sale = _money(p.get("sale_price"))
    return {
        "source_id": str(p["id"]), "sku": p.get("sku"), "name": p.get("name"),
        "description_html": p.get("description"), "price": _money(p.get("price")),
        "special_price": sale if sale else None,  # 0 means no sale price
        "weight": p.get("weight"),  # in the store's weight unit (GET /v2/store weight_units)
        "stock": p.get("inventory_level"), "status": "enabled" if p.get("is_visible") else "disabled",
        "url_key": _url_key(p.get("custom_url")), "category_ids": [str(c) for c in p.get("categories") or []],
        "manufacturer_id": _id(p.get("brand_id")), "tax_class_id": str(p.get("tax_class_id", 0)),
        "variants": variants, "images": images,
        "created_at": _ts(p.get("date_created")), "updated_at": _ts(p.get("date_modified")),
    }


def map_customer(c: dict) -> dict:
    addresses = [{**_address(a), "is_default_billing": None, "is_default_shipping": None}
                 for a in c.get("addresses") or []]
    return {"source_id": str(c["id"]), "email": c.get("email"), "first_name": c.get("first_name"),
            "last_name": c.get("last_name"), "phone": _none_if_blank(c.get("phone")), "newsletter": None,
            "addresses": addresses, "password_hash": None, "password_algorithm": None,
            "created_at": _ts(c.get("date_created")), "updated_at": _ts(c.get("date_modified"))}


def map_order(o: dict, products: list[dict], shipping: list[dict]) -> dict:
    billing = o.get("billing_address") or {}
    items = [{"source_id": str(i["id"]), "product_id": _id(i.get("product_id")), "sku": i.get("sku"),
              "name": i.get("name"), "qty": i.get("quantity"), "price": _money(i.get("price_ex_tax")),
              "tax": _money(i.get("total_tax"))} for i in products]
    return {
        "source_id": str(o["id"]), "number": str(o["id"]), "customer_id": _id(o.get("customer_id")),
        "email": billing.get("email"), "customer_first_name": billing.get("first_name"),
        "customer_last_name": billing.get("last_name"), "status": ORDER_STATUS.get(o.get("status_id"), o.get("status")),
        "currency": o.get("currency_code"), "subtotal": _money(o.get("subtotal_ex_tax")),
        "shipping": _money(o.get("shipping_cost_ex_tax")), "tax": _money(o.get("total_tax")),
        "discount": _money(o.get("discount_amount")), "grand_total": _money(o.get("total_inc_tax")),
        "items": items, "billing_address": _address(billing),
        "shipping_address": _address(shipping[0] if shipping else None),
        "created_at": _ts(o.get("date_created")), "updated_at": _ts(o.get("date_modified")),
    }


def map_review(r: dict, customer_id: str | None) -> dict:
    return {"source_id": str(r["id"]), "product_id": _id(r.get("product_id")), "customer_id": customer_id,
            "rating": r.get("rating"), "title": r.get("title"), "text": r.get("text"),
            "status": REVIEW_STATUS.get(r.get("status"), r.get("status")),
            "created_at": _ts(r.get("date_created")), "updated_at": _ts(r.get("date_modified"))}


# --- HTTP behaviour ------------------------------------------------------------------------------------------------

def error_message(response: requests.Response) -> str | None:
    """v3 errors are {status, title, type, errors}; v2 errors are [{status, message}]."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("message") or "")[:300] or None
    if isinstance(body, dict):
        detail = body.get("title") or ""
        errors = body.get("errors")
        if isinstance(errors, dict) and errors:
            detail += " (" + "; ".join(f"{k}: {v}" for k, v in errors.items()) + ")"
        return detail[:300] or None
    return None


def reset_after(response: requests.Response) -> float | None:
    """Seconds until the rate-limit window resets (X-Rate-Limit-Time-Reset-Ms), else Retry-After."""
    ms = response.headers.get("X-Rate-Limit-Time-Reset-Ms")
    try:
        return max(0.0, int(ms) / 1000) + 0.05 if ms is not None else retry_after_header(response)
    except ValueError:
        return retry_after_header(response)


class Pacer:
    """Header-driven pacing: when X-Rate-Limit-Requests-Left drops to `reserve` (the requests that may still be in
    flight), every worker waits until the window resets. Responses without the headers change nothing."""

    def __init__(self, reserve: int = CONCURRENCY + 1, sleep: Callable[[float], None] = time.sleep):
        self.reserve, self.sleep = reserve, sleep
        self.lock = threading.Lock()
        self.resume_at = 0.0
        self.waits = 0
        self.last: dict = {}

    def __call__(self, response: requests.Response) -> None:
        h = response.headers
        try:
            left, reset_ms = int(h["X-Rate-Limit-Requests-Left"]), int(h["X-Rate-Limit-Time-Reset-Ms"])
        except (KeyError, ValueError):
            return
        with self.lock:
            self.last = {"left": left, "reset_ms": reset_ms, "quota": h.get("X-Rate-Limit-Requests-Quota"),
                         "window_ms": h.get("X-Rate-Limit-Time-Window-Ms")}
            now = time.monotonic()
            if left <= self.reserve and response.status_code != 429:  # a 429 waits through retry_after instead
                self.resume_at = max(self.resume_at, now + reset_ms / 1000 + 0.05)
            wait = self.resume_at - now
            if wait > 0:
                self.waits += 1
        if wait > 0:
            self.sleep(wait)


def split_api_path(base_url: str, store_hash: str) -> str:
    """The API host from what the user has: the host, or the whole API path (…/stores/{hash}/v3/)."""
    base = base_url.rstrip("/")
    marker = f"/stores/{store_hash}"
    if marker in base:
        base = base[: base.index(marker)]
    return base or API_HOST


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class BigCommerceSource(Source):
    platform = "bigcommerce"
    supports_delta = True
    BASE_URL = "base_url"
    CREDENTIALS = (  # seed 002: "API Path", "Access Token", "Client ID (if required)"
        Credential("store_hash", "BIGCOMMERCE_STORE_HASH", "API Path (the store hash in it: /stores/{store_hash}/)"),
        Credential("access_token", "BIGCOMMERCE_ACCESS_TOKEN", "Access Token", secret=True),
        Credential("client_id", "BIGCOMMERCE_CLIENT_ID", "Client ID (if required)", default=""),
        Credential("base_url", "BIGCOMMERCE_BASE_URL", "API host", default=API_HOST),
    )

    def __init__(self, client: HttpClient, store_hash: str, pacer: Pacer, verify=True):
        self.client, self.store_hash, self.pacer, self.verify = client, store_hash, pacer, verify

    @classmethod
    def connect(cls, base_url: str, credentials: dict, verify=True, settings: HttpSettings | None = None):
        store_hash = str(credentials["store_hash"]).strip()
        explainer = Explainer(
            platform="BigCommerce", credential_fields=("access_token", "store_hash"),
            permission_hint="give the store-level API account the OAuth scope named in parentheses, or check "
                            "store_hash (BigCommerce answers a wrong store hash with the same 403). Scopes of an API "
                            "account cannot be changed: create a new one under Settings > Store-level API accounts "
                            "with read-only access to Products, Customers, Orders and Information & Settings",
            error_message=error_message)
        pacer = Pacer()
        headers = {"X-Auth-Token": str(credentials["access_token"]), "Content-Type": "application/json"}
        if credentials.get("client_id"):
            headers["X-Auth-Client"] = str(credentials["client_id"])
        client = HttpClient(f"{split_api_path(base_url, store_hash)}/stores/{store_hash}", explainer,
                            settings=settings, headers=headers, verify=verify, retry_after=reset_after,
                            on_response=pacer)
        return cls(client, store_hash, pacer, verify)

    def _get(self, path: str, params: dict | None, what: str) -> requests.Response:
        # `verify` goes with each request: requests lets REQUESTS_CA_BUNDLE override a session's own CA file.
        return self.client.request("GET", path, what=what, params=params, verify=self.verify)

    def _json(self, path: str, params: dict | None, what: str):
        response = self._get(path, params, what)
        try:
            return response.json()
        except ValueError:
            raise ConnectionProblem("bad_response", f"BigCommerce answered {what} with something that is not JSON "
                                    f"(HTTP {response.status_code}); is the base URL the API host?") from None

    def describe(self) -> str:
        host = urlsplit(self.client.base_url)
        return f"BigCommerce store {self.store_hash} at {host.scheme}://{host.netloc}"

    def check(self) -> str:
        """One cheap authenticated request (GET /v2/store, scope Information & Settings: read-only)."""
        info = self._json("v2/store", None, "reading the store information (needs OAuth scope Information & "
                                            "Settings: read-only, store_v2_information_read_only)")
        return (f"BigCommerce store {info.get('name')!r} ({info.get('domain')}, plan {info.get('plan_name')}, "
                f"currency {info.get('currency')}, weights in {info.get('weight_units')})")

    def has(self, entity: str) -> bool:
        return entity in SCOPES

    @staticmethod
    def _what(entity: str) -> str:
        scope = SCOPES[entity]
        return f"reading {entity} (needs OAuth scope {SCOPE_LABELS[scope]}, {scope})"

    # --- pagination
    def _v3(self, path: str, params: dict, what: str) -> Iterator[list[dict]]:
        """Pages of a v3 list: page 1 gives total_pages, the rest come in parallel and in order."""
        params = {**params, "limit": PAGE_SIZE}
        first = self._json(path, {**params, "page": 1}, what)
        yield first.get("data") or []
        total_pages = int(((first.get("meta") or {}).get("pagination") or {}).get("total_pages") or 1)

        def fetch(page: int) -> list[dict]:
            return self._json(path, {**params, "page": page}, what).get("data") or []

        yield from pages_in_order(fetch, range(2, total_pages + 1), CONCURRENCY)

    def _v3_by_id(self, path: str, params: dict, what: str, sortable: bool = True) -> Iterator[list[dict]]:
        """Pages of a v3 list that filters ids (`id:greater`, `id:less`, strict) by keyset in parallel id ranges
        (`keyset.py`), so records added or deleted meanwhile are neither missed nor repeated. Categories and brands
        document no `sort`/`direction`: they come in their default order, ascending id (checked on every page),
        one range at a time as there is no documented way to ask for the highest id."""
        params = {**params, **({"sort": "id"} if sortable else {}), "limit": PAGE_SIZE, "page": 1}

        def fetch(after: int | None, below: int | None) -> tuple[list[dict], int | None]:
            bounds = {**({"id:greater": after} if after is not None else {}),
                      **({"id:less": below} if below is not None else {})}
            body = self._json(path, {**params, **bounds}, what)
            rows = body.get("data") or []
            if any(int(a["id"]) >= int(b["id"]) for a, b in zip(rows, rows[1:])):
                raise ConnectionProblem("bad_response", f"{what}: BigCommerce listed ids out of ascending order, "
                                        f"so reading after the last id could miss records; stopping")
            return rows, ((body.get("meta") or {}).get("pagination") or {}).get("total")

        def highest() -> int | None:
            top = self._json(path, {**params, "direction": "desc", "limit": 1}, what).get("data")
            return int(top[0]["id"]) if top else None

        return id_range_pages(fetch, highest if sortable else lambda: None, PAGE_SIZE, CONCURRENCY,
                              lambda r: r["id"], what)

    def _v3_by_created(self, path: str, params: dict, what: str) -> Iterator[list[dict]]:
        """Pages of a v3 list sorted `date_created:asc`, by keyset on the creation second: each request starts at
        the last second read (`date_created:min`, inclusive) and drops the ids of it already read, so deleting read
        records moves nothing past the reader and records created meanwhile come last. A page all inside one second
        goes on by page number within it. One request at a time: there is no total to cut ranges by."""
        params = {**params, "sort": "date_created:asc", "limit": PAGE_SIZE}
        since, seen, page = params.get("date_created:min"), set(), 1
        while True:
            body = self._json(path, {**params, **({"date_created:min": since} if since else {}), "page": page}, what)
            rows = body.get("data") or []
            yield [r for r in rows if r["id"] not in seen]
            if len(rows) < PAGE_SIZE:
                return
            last = rows[-1]["date_created"]
            if last == since:
                page += 1
            else:
                since, seen, page = last, set(), 1
            seen.update(r["id"] for r in rows if r["date_created"] == since)

    def _v2_by_id(self, path: str, params: dict, what: str) -> Iterator[list[dict]]:
        """Pages of a v2 list sorted by id, by keyset: `min_id` one past the last id read (and `max_id` as asked),
        always page 1, one request at a time as v2 gives no total."""
        low, high = params.get("min_id"), params.get("max_id")

        def fetch(after: int | None, below: int | None) -> tuple[list[dict], None]:
            bounds = {"min_id": max(after + 1, int(low or 0)) if after is not None else low, "max_id": high}
            response = self._get(path, {**params, **{k: v for k, v in bounds.items() if v is not None},
                                        "limit": PAGE_SIZE, "page": 1}, what)
            return [] if response.status_code == 204 or not response.content else self._rows(response, what), None

        return id_range_pages(fetch, lambda: None, PAGE_SIZE, 1, lambda r: r["id"], what)

    def _v2(self, path: str, params: dict, what: str) -> Iterator[list[dict]]:
        """Pages of a v2 list: until 204 No Content or a short page."""
        guard = LoopGuard(what)
        page = 1
        while True:
            response = self._get(path, {**params, "limit": PAGE_SIZE, "page": page}, what)
            rows = [] if response.status_code == 204 or not response.content else self._rows(response, what)
            if not rows:
                return
            guard.check(rows[0].get("id"))
            yield rows
            if len(rows) < PAGE_SIZE:
                return
            page += 1

    @staticmethod
    def _rows(response: requests.Response, what: str) -> list[dict]:
        return json_list(response, "BigCommerce", what, "is the base URL the API host?")

    # --- entities
    def records(self, entity: str, updated_since: datetime | None = None,
                narrow: dict | None = None) -> Iterator[SourceRecord]:
        if entity not in SCOPES:
            return
        since = _iso(updated_since) if updated_since else None
        reader = getattr(self, f"_{entity}")
        pages = reader(since, self._what(entity), narrow) if narrow else reader(since, self._what(entity))
        ordinal = 0
        for page in pages:
            for record in page:
                ordinal += 1
                yield SourceRecord(ordinal, record, None, record["source_id"])

    def records_in(self, entity: str, part: Slice) -> Iterator[SourceRecord]:
        if (entity, part.field) not in SLICES:
            if entity == "customers":
                raise SliceNotPossible(NO_CUSTOMER_ID_RANGE)
            return super().records_in(entity, part)
        low, high = SLICES[entity, part.field]
        if part.field == "id":
            bounds = {low: part.start, high: part.end - 1}
        else:
            bounds = {low: _iso(part.start), high: _iso(part.end - timedelta(seconds=1))}
        return self.records(entity, narrow=bounds)

    def id_bounds(self, entity: str) -> tuple[int, int | None, int | None]:
        """Products: the count and lowest id from one id-sorted page of one, the highest from the same descending."""
        if entity == "customers":
            raise SliceNotPossible(NO_CUSTOMER_ID_RANGE)
        if entity != "products":
            return super().id_bounds(entity)
        ends = []
        for direction in ("asc", "desc"):
            body = self._json("v3/catalog/products", {"include_fields": "id", "sort": "id", "direction": direction,
                                                      "limit": 1}, self._what(entity))
            ends.append(body.get("data") or [])
        if not all(ends):
            return 0, None, None
        return int(body["meta"]["pagination"]["total"]), int(ends[0][0]["id"]), int(ends[1][0]["id"])

    def ids(self, entity: str) -> Iterator[str] | None:
        """Product ids only (`include_fields=id`, 250 a request), for finding deletions. Customers have no id
        filter to page by exactly and orders only the full v2 rows, so they are not listed."""
        if entity != "products":
            return None
        return (str(p["id"]) for page in self._v3_by_id("v3/catalog/products", {"include_fields": "id"},
                                                        self._what(entity)) for p in page)

    def _categories(self, since, what):
        # The tree is needed whole to write each category's path; BigCommerce caps a store at 16,000 categories.
        rows = [c for page in self._v3_by_id("v3/catalog/categories", {}, what, sortable=False) for c in page]
        by_id = {c["id"]: c for c in rows}

        def path(c, depth=0) -> str:
            parent = by_id.get(c.get("parent_id"))
            return f"{path(parent, depth + 1)}/{c['name']}" if parent and depth < 50 else c["name"]

        yield [map_category(c, path(c)) for c in rows]

    def _manufacturers(self, since, what):
        for page in self._v3_by_id("v3/catalog/brands", {}, what, sortable=False):
            yield [map_brand(b) for b in page]

    def _tax_classes(self, since, what):
        for page in self._v2("v2/tax_classes", {}, what):
            rows = [map_tax_class(t) for t in page]
            yield [r for r in rows if not since or (r["updated_at"] or "") >= since]

    def _products(self, since, what, narrow=None):
        params = {"include": "variants,images", **(narrow or {})}
        if since:
            params["date_modified:min"] = since
        for page in self._v3_by_id("v3/catalog/products", params, what):
            yield [map_product(p) for p in page]

    def _customers(self, since, what, narrow=None):
        params = {"include": "addresses", **(narrow or {})}
        if since:
            params["date_modified:min"] = since
        for page in self._v3_by_created("v3/customers", params, what):
            yield [map_customer(c) for c in page]

    def _orders(self, since, what, narrow=None):
        params = {"sort": "id:asc", **(narrow or {})}
        if since:
            params["min_date_modified"] = since

        def details(order: dict) -> dict | None:
            oid = order["id"]
            try:
                products = self._sub(f"v2/orders/{oid}/products", what)
                shipping = self._sub(f"v2/orders/{oid}/shipping_addresses", what)
            except ConnectionProblem as exc:
                if exc.status == 404:  # deleted since its page was listed: gone at the source, like any deleted order
                    return None
                raise
            return map_order(order, products, shipping)

        for page in self._v2_by_id("v2/orders", params, what):
            # Items and shipping addresses are sub-resources: two requests per order, three workers at a time.
            yield [o for o in pages_in_order(details, page, CONCURRENCY) if o is not None]

    def _sub(self, path: str, what: str) -> list[dict]:
        return [row for page in self._v2(path, {}, what) for row in page]

    def _reviews(self, since, what):
        # Reviews live under each product; a review carries the reviewer's email, resolved here to a customer id.
        emails: dict[str, str | None] = {}

        def reviews_of(product_id: int) -> list[dict]:
            return [r for page in self._v3(f"v3/catalog/products/{product_id}/reviews", {}, what) for r in page]

        for page in self._v3_by_id("v3/catalog/products", {"include_fields": "id"}, what):
            found = [r for rs in pages_in_order(reviews_of, [p["id"] for p in page], CONCURRENCY) for r in rs]
            if since:
                found = [r for r in found if (_ts(r.get("date_modified")) or "") >= since]
            unknown = sorted({r["email"] for r in found if r.get("email") and r["email"] not in emails})
            for start in range(0, len(unknown), 50):
                chunk = unknown[start:start + 50]
                emails.update({e: None for e in chunk})
                for cpage in self._v3("v3/customers", {"email:in": ",".join(chunk)},
                                      self._what("customers")):
                    emails.update({c["email"]: str(c["id"]) for c in cpage})
            yield [map_review(r, emails.get(r.get("email"))) for r in found]
