"""WooCommerce source: the REST API v3 under `<shop URL>/wp-json/wc/v3/`, read-only.

A REST API key (WooCommerce → Settings → Advanced → REST API) gives `consumer_key` (ck_...) and
`consumer_secret` (cs_...), with Read permission (docs/platforms/woocommerce.md).

- auth as WooCommerce expects it: over HTTPS, HTTP Basic; over plain HTTP, a one-legged OAuth 1.0a signature
  (HMAC-SHA256) in the query string of every request, signed per attempt (fresh nonce and timestamp);
- lists page with `offset`/`per_page` (max 100) ordered by id, in overlapping windows so records added or deleted
  meanwhile neither repeat nor slip past unread (see `pages`); `X-WP-Total` from the first window lets the rest run
  in parallel, and a full last window is followed by another read; at most 4 requests are in flight in all
  (product pages and the variations of variable products share them);
- weights are converted to kg from the shop's unit (`settings/products/woocommerce_weight_unit`);
- WooCommerce has no REST rate limit of its own (so no fixed client-side rate); hosts add theirs. A 429/503 is
  retried after Retry-After, and when a response says fewer than CONCURRENCY requests remain
  (`RateLimit-Remaining`) every worker waits for `RateLimit-Reset`, so a normal run meets no 429;
- delta: products and orders filter with `modified_after` (+ `dates_are_gmt`); customers are filtered here by
  `date_modified_gmt`; categories, brands, tax classes and reviews have no modification date (read in full).
- reviews name no customer id: a review links its WordPress user in `_links.reviewer`; a review without one is
  matched to a customer by `reviewer_email` (a guest review written with a customer's address).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Iterator
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import (
    ConnectionProblem,
    Explainer,
    HttpClient,
    HttpSettings,
    json_list,
    pages_in_order,
    safe_url,
)
from cart_pipelines.platforms.kit.source import (
    UNREADABLE,
    Slice,
    SliceNotPossible,
    Source,
    SourceRecord,
    as_source_record,
    read_record,
)

API = "wp-json/wc/v3"
PAGE_SIZE = 100  # WordPress's maximum for per_page
CONCURRENCY = 4
OVERLAP = 10  # ids each page window shares with the one before (see WooCommerceSource.pages)

SCOPES = {e: "read" for e in ("categories", "manufacturers", "tax_classes", "products", "customers", "orders",
                              "reviews")}  # the key's Permissions setting: Read (or Read/Write)

# Canonical fields that come back exactly. Left out, and why (docs/platforms/woocommerce.md): dates of categories,
# brands, tax classes and review updates (WordPress terms and comments have none); category visibility (none);
# tax classes (identified by slug, source_id "standard", ...) and products' tax_class_id (the slug); product
# url_key (the permalink path, "product/<slug>"); variants, order items (numeric WooCommerce ids); customer phone,
# newsletter, password and addresses (one billing and one shipping address only); order customer_id (WooCommerce
# sets it to 0 when the customer is deleted), customer names and addresses (from billing/shipping, empty = "");
# review titles (none).
CARRIED = {
    "categories": ("source_id", "parent_id", "name", "path", "url_key", "position"),
    "manufacturers": ("source_id", "name", "url_key"),
    "products": ("source_id", "sku", "name", "description_html", "price", "special_price", "weight", "stock",
                 "status", "category_ids", "manufacturer_id", "images", "created_at", "updated_at"),
    "customers": ("source_id", "email", "first_name", "last_name", "created_at", "updated_at"),
    "orders": ("source_id", "number", "email", "status", "currency", "subtotal", "shipping", "tax", "discount",
               "grand_total", "created_at", "updated_at"),
    "reviews": ("source_id", "product_id", "customer_id", "rating", "text", "status", "created_at"),
}

ORDER_STATUS = {"pending": "pending", "processing": "processing", "on-hold": "on_hold", "completed": "complete",
                "cancelled": "canceled", "refunded": "refunded", "failed": "failed", "checkout-draft": "pending"}
REVIEW_STATUS = {"approved": "approved", "hold": "pending", "spam": "rejected", "trash": "rejected"}
CENT, RATE = Decimal("0.01"), Decimal("0.001")
WEIGHT_UNITS = {"kg": Decimal(1), "g": Decimal("0.001"), "lbs": Decimal("0.45359237"), "oz": Decimal("0.028349523125")}


# --- auth ----------------------------------------------------------------------------------------------------------
def _rawurlencode(text: str) -> str:
    return quote(text, safe="-_.~")


class WooOAuth1(AuthBase):
    """One-legged OAuth 1.0a in the query string, as WooCommerce verifies it over plain HTTP: every parameter is
    encoded, sorted, joined as key=value and encoded again; key = consumer secret + '&'."""

    def __init__(self, consumer_key: str, consumer_secret: str):
        self.consumer_key, self.consumer_secret = consumer_key, consumer_secret

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(r.url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        query.update(oauth_consumer_key=self.consumer_key, oauth_timestamp=str(int(time.time())),
                     oauth_nonce=secrets.token_hex(16), oauth_signature_method="HMAC-SHA256")
        pairs = [_rawurlencode(f"{_rawurlencode(k)}={_rawurlencode(query[k])}")
                 for k in sorted(query, key=lambda k: k.encode())]
        base = f"{r.method.upper()}&{_rawurlencode(urlunsplit(parts._replace(query='', fragment='')))}&" \
               f"{'%26'.join(pairs)}"
        digest = hmac.new(f"{self.consumer_secret}&".encode(), base.encode(), hashlib.sha256).digest()
        query["oauth_signature"] = base64.b64encode(digest).decode()
        r.url = urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))
        return r


def _wp_error(response: requests.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", ""
    return (str(body.get("code") or ""), str(body.get("message") or "")) if isinstance(body, dict) else ("", "")


class WooExplainer(Explainer):
    """WooCommerce answers a key without Read permission with 401 (not 403): that is a permission problem."""

    def problem(self, response: requests.Response, what: str) -> ConnectionProblem:
        code, message = _wp_error(response)
        if response.status_code == 401 and "does not have read permissions" in message:
            return ConnectionProblem("permission", f"WooCommerce refused {what} (HTTP 401): the API key works but "
                                     f"lacks the read permission — {self.permission_hint}. The platform said: "
                                     f"{message}", 401)
        return super().problem(response, what)


EXPLAINER = dict(
    platform="WooCommerce", credential_fields=("shop URL", "consumer_key", "consumer_secret"),
    permission_hint="under WooCommerce → Settings → Advanced → REST API, give the key Permissions 'Read' (or "
                    "'Read/Write'; scope: read) and create it for an Administrator or Shop Manager user",
    error_message=lambda r: " ".join(x for x in _wp_error(r) if x) or None,
)


# --- mapping WooCommerce JSON -> canonical ---------------------------------------------------------------------------
def _gmt(value) -> str | None:
    return f"{value}Z" if value else None


def _int_id(record: dict) -> int | None:
    try:
        return int(record["id"])
    except (KeyError, TypeError, ValueError):
        return None


def _money(value) -> Decimal | str | None:
    """Money as Decimal; text that is no number ("12,50") is passed on, so validation quarantines the record
    with a reason naming the field."""
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return value


def _blank(value):
    return value if value not in ("", None) else None


def _address(a: dict | None) -> dict | None:
    a = a or {}
    street = ", ".join(x for x in (a.get("address_1"), a.get("address_2")) if x)
    out = {"first_name": a.get("first_name"), "last_name": a.get("last_name"), "company": a.get("company"),
           "street": street, "city": a.get("city"), "postcode": a.get("postcode"), "region": a.get("state"),
           "country": a.get("country"), "phone": a.get("phone")}
    out = {k: _blank(v) for k, v in out.items()}
    return out if any(v for k, v in out.items() if k != "phone") else None


def _weight(value, kg_per_unit: Decimal):
    """Weight in kg; text that is no number is passed on, so validation quarantines that product with a reason."""
    if value in (None, ""):
        return None
    try:
        return float(Decimal(str(value)) * kg_per_unit)
    except InvalidOperation:
        return value


def _reviewer_id(review: dict) -> str | None:
    for link in (review.get("_links") or {}).get("reviewer") or []:
        m = re.search(r"/wp/v2/users/(\d+)", link.get("href") or "")
        if m:
            return m.group(1)
    return None


def category(c: dict, tree: dict[int, dict]) -> dict:
    names, slugs, node, seen = [], [], c, set()
    while node and node["id"] not in seen:  # a broken tree (a cycle) must not hang the run
        seen.add(node["id"])
        names.append(html.unescape(node["name"]))
        slugs.append(node.get("slug") or "")
        node = tree.get(node.get("parent") or 0)
    return {"source_id": str(c["id"]), "parent_id": str(c["parent"]) if c.get("parent") else None,
            "name": html.unescape(c["name"]), "path": "/".join(reversed(names)), "url_key": "/".join(reversed(slugs)),
            "is_visible": None, "position": c.get("menu_order"), "updated_at": None}


def brand(b: dict) -> dict:
    return {"source_id": str(b["id"]), "name": html.unescape(b["name"]), "url_key": b.get("slug") or None,
            "updated_at": None}


def product(p: dict, variations: list[dict], shop_url: str, kg_per_unit: Decimal = Decimal(1)) -> dict:
    price, special = _money(p.get("regular_price")), _money(p.get("sale_price"))
    if p.get("type") == "variable":  # the parent carries no prices; its variations do
        prices = [_money(v.get("regular_price")) for v in variations if _money(v.get("regular_price")) is not None]
        sales = [_money(v.get("sale_price")) for v in variations if _money(v.get("sale_price")) is not None]
        price, special = (min(prices) if prices else _money(p.get("price"))), (min(sales) if sales else None)
    permalink = p.get("permalink") or ""
    base = urlsplit(shop_url).path.rstrip("/")
    path = urlsplit(permalink).path
    url_key = (path[len(base):] if base and path.startswith(base) else path).strip("/") or p.get("slug")
    return {
        "source_id": str(p["id"]), "sku": _blank(p.get("sku")), "name": p.get("name"),
        "description_html": p.get("description"), "price": price, "special_price": special,
        "weight": _weight(p.get("weight"), kg_per_unit),
        "stock": p.get("stock_quantity"),
        "status": "enabled" if p.get("status") == "publish" else "disabled", "url_key": url_key,
        "category_ids": [str(c["id"]) for c in p.get("categories") or []],
        "manufacturer_id": next((str(b["id"]) for b in p.get("brands") or []), None),
        "tax_class_id": p.get("tax_class") or "standard",
        "variants": [{"source_id": str(v["id"]), "sku": _blank(v.get("sku")), "price": _money(v.get("regular_price")),
                      "stock": v.get("stock_quantity"),
                      "options": [{"name": a.get("name"), "value": a.get("option")} for a in v.get("attributes") or []]}
                     for v in variations],
        "images": [{"url": img.get("src"), "position": k, "alt": _blank(img.get("alt"))}
                   for k, img in enumerate(p.get("images") or [])],
        "created_at": _gmt(p.get("date_created_gmt")), "updated_at": _gmt(p.get("date_modified_gmt")),
    }


def customer(c: dict) -> dict:
    billing, shipping = _address(c.get("billing")), _address(c.get("shipping"))
    if billing and billing == shipping:
        addresses = [{**billing, "is_default_billing": True, "is_default_shipping": True}]
    else:
        addresses = ([{**billing, "is_default_billing": True, "is_default_shipping": False}] if billing else []) + \
                    ([{**shipping, "is_default_billing": False, "is_default_shipping": True}] if shipping else [])
    return {"source_id": str(c["id"]), "email": c.get("email"), "first_name": c.get("first_name"),
            "last_name": c.get("last_name"), "phone": _blank((c.get("billing") or {}).get("phone")),
            "newsletter": None, "addresses": addresses, "password_hash": None, "password_algorithm": None,
            "created_at": _gmt(c.get("date_created_gmt")), "updated_at": _gmt(c.get("date_modified_gmt"))}


def order(o: dict) -> dict:
    items, subtotal = [], Decimal(0)
    for li in o.get("line_items") or []:
        line, qty = _money(li.get("subtotal")) or Decimal(0), li.get("quantity")
        subtotal += line
        items.append({"source_id": str(li["id"]), "product_id": str(li["product_id"]) if li.get("product_id") else None,
                      "sku": _blank(li.get("sku")), "name": li.get("name"), "qty": qty,
                      "price": (line / qty).quantize(CENT) if isinstance(qty, int) and qty > 0 else None,
                      "tax": _money(li.get("total_tax"))})
    billing = o.get("billing") or {}
    return {
        "source_id": str(o["id"]), "number": str(o.get("number") or o["id"]),
        "customer_id": str(o["customer_id"]) if o.get("customer_id") else None,
        "email": _blank(billing.get("email")), "customer_first_name": _blank(billing.get("first_name")),
        "customer_last_name": _blank(billing.get("last_name")),
        "status": ORDER_STATUS.get(o.get("status"), o.get("status")), "currency": o.get("currency"),
        "subtotal": subtotal, "shipping": _money(o.get("shipping_total")), "tax": _money(o.get("total_tax")),
        "discount": _money(o.get("discount_total")), "grand_total": _money(o.get("total")), "items": items,
        "billing_address": _address(billing), "shipping_address": _address(o.get("shipping")),
        "created_at": _gmt(o.get("date_created_gmt")), "updated_at": _gmt(o.get("date_modified_gmt")),
    }


def review(r: dict, customer_id: str | None) -> dict:
    return {"source_id": str(r["id"]), "product_id": str(r["product_id"]) if r.get("product_id") else None,
            "customer_id": customer_id, "rating": r.get("rating"), "title": None, "text": r.get("review"),
            "status": REVIEW_STATUS.get(r.get("status"), r.get("status")),
            "created_at": _gmt(r.get("date_created_gmt")), "updated_at": None}


# --- the source ------------------------------------------------------------------------------------------------------
class WooCommerceSource(Source):
    platform = "woocommerce"
    supports_delta = True
    BASE_URL = "shop_url"
    CREDENTIALS = (
        Credential("shop_url", "WOOCOMMERCE_SHOP_URL", "Shop URL"),
        Credential("consumer_key", "WOOCOMMERCE_CONSUMER_KEY", "Consumer key", secret=True),
        Credential("consumer_secret", "WOOCOMMERCE_CONSUMER_SECRET", "Consumer secret", secret=True),
    )

    def __init__(self, shop_url: str, credentials: dict, verify=True, settings: HttpSettings | None = None):
        self.shop_url = shop_url.rstrip("/")
        key, secret = credentials["consumer_key"], credentials["consumer_secret"]
        # WooCommerce accepts Basic auth only over TLS; plain HTTP needs the OAuth 1.0a signature.
        auth = HTTPBasicAuth(key, secret) if self.shop_url.startswith("https://") else WooOAuth1(key, secret)
        self.client = HttpClient(f"{self.shop_url}/{API}", WooExplainer(**EXPLAINER), settings=settings, auth=auth,
                                 verify=verify, retry_after=self._retry_after, on_response=self._pace)
        self.verify = verify
        self._slots = threading.BoundedSemaphore(CONCURRENCY)  # product pages and variations share the 4 slots
        self._emails: dict[str, str] | None = None
        self._pause_until = 0.0
        self._pause_lock = threading.Lock()

    @classmethod
    def connect(cls, base_url: str, credentials: dict, verify=True, settings: HttpSettings | None = None):
        return cls(base_url, credentials, verify=verify, settings=settings)

    # Host limits: wait what the host says, and stop early when it says nothing is left.
    @staticmethod
    def _retry_after(response: requests.Response) -> float | None:
        for name in ("Retry-After", "RateLimit-Retry-After"):
            try:
                return max(0.0, float(response.headers[name]))
            except (KeyError, ValueError):
                continue
        return None

    def _pace(self, response: requests.Response) -> None:
        # Up to CONCURRENCY requests may be in flight: stop while that many are still left in the host's window.
        try:
            left = int(response.headers["RateLimit-Remaining"])
            reset = float(response.headers["RateLimit-Reset"])  # epoch seconds, as WooCommerce's limiter sends
        except (KeyError, ValueError):
            left = None
        if left is not None and left < CONCURRENCY and response.status_code < 400:
            with self._pause_lock:
                self._pause_until = max(self._pause_until, min(reset, time.time() + 60.0) + 0.05)
        delay = self._pause_until - time.time()
        if delay > 0:
            time.sleep(delay)

    def _get(self, path: str, params: dict | None = None, what: str = "") -> requests.Response:
        # `verify` goes with each request: requests lets REQUESTS_CA_BUNDLE override a session's own CA file.
        with self._slots:
            return self.client.request("GET", path, what=what or path, params=params, verify=self.verify)

    def describe(self) -> str:
        return f"WooCommerce shop {safe_url(self.shop_url)} (REST API wc/v3)"

    def check(self) -> str:
        response = self._get("products", {"per_page": 1, "_fields": "id"}, "the connection test")
        return f"WooCommerce shop {safe_url(self.shop_url)}: {response.headers.get('X-WP-Total', '?')} products"

    # --- paging -------------------------------------------------------------------------------------------------
    def _json(self, response: requests.Response, what: str) -> list:
        return json_list(response, "WooCommerce", what, "is the shop URL the WordPress address?")

    def pages(self, path: str, params: dict | None = None, what: str = "") -> Iterator[list[dict]]:
        """Pages of `path` ordered by id, each record once, none missed while the shop changes under us.

        Offset paging shifts when records are added or deleted meanwhile. Windows of PAGE_SIZE start every
        PAGE_SIZE - OVERLAP records (`offset`), so each shares its first ids with the one before: a record added
        before a window shifts one already read into it (skipped by id); records deleted before a window shift an
        unread one out of reach — then the window no longer reaches back to the last id read, and is read again
        from further back until it does. X-WP-Total from the first window lets the rest run in parallel; a full
        last window is followed by another, so records added meanwhile are read too."""
        what = what or path
        base = {"orderby": "id", "order": "asc", **(params or {}), "per_page": PAGE_SIZE}
        step = PAGE_SIZE - OVERLAP
        last_id = 0

        def fetch(offset: int) -> tuple[int, list[dict]]:
            return offset, self._json(self._get(path, {**base, "offset": offset}, what), what)

        def reaching_back(offset: int, items: list[dict]) -> tuple[int, list[dict]]:
            while offset > 0 and last_id and (not items or (_int_id(items[0]) or 0) > last_id):
                offset, items = fetch(max(0, offset - step))
            return offset, items

        def fresh(items: list[dict]) -> list[dict]:
            nonlocal last_id
            # Offset paging may repeat a record: skip it. A record without a usable id is passed on, for the
            # mapping to quarantine with a reason.
            new = [r for r in items if _int_id(r) is None or _int_id(r) > last_id]
            last_id = max([last_id] + [i for i in map(_int_id, new) if i is not None])
            return new

        first = self._get(path, {**base, "offset": 0}, what)
        total = int(first.headers.get("X-WP-Total") or 0)
        offset, items = 0, self._json(first, what)
        if new := fresh(items):
            yield new
        later = range(step, max(total - OVERLAP, 0), step)
        for offset, items in pages_in_order(fetch, later, CONCURRENCY):
            offset, items = reaching_back(offset, items)
            if new := fresh(items):
                yield new
        while len(items) >= PAGE_SIZE:  # a full last window: records may have been added while reading
            before = last_id
            offset, items = reaching_back(*fetch(offset + step))
            if new := fresh(items):
                yield new
            elif len(items) >= PAGE_SIZE and last_id == before:
                raise ConnectionProblem("bad_response", f"pagination of {what} repeated a page (offset {offset}); "
                                        f"stopping instead of reading the same records forever")

    def records(self, entity: str, updated_since: datetime | None = None) -> Iterator[SourceRecord]:
        since = updated_since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") if updated_since else None
        delta = {"modified_after": since, "dates_are_gmt": "true"} if since else {}
        ordinal = 0
        for rec in self._canonical(entity, delta, updated_since):
            ordinal += 1
            yield as_source_record(ordinal, rec)

    def records_in(self, entity: str, part: Slice) -> Iterator[SourceRecord]:
        """Orders by created date: `after` / `before` are strict (WP_Query date_query), in whole GMT seconds, so
        `after` is one second before the window. Customers have no range filter at all, and products only the
        published date, not the id ranges products are partitioned by."""
        if entity != "orders" or part.field != "created_at":
            raise SliceNotPossible(
                f"WooCommerce's REST API has no {'id-range' if part.field == 'id' else 'created-date'} filter for "
                f"{entity} (only include= lists of ids); backfill WooCommerce orders by month, and migrate "
                f"{entity} with full_migration")
        gmt = lambda dt: dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")  # noqa: E731
        window = {"after": gmt(part.start - timedelta(seconds=1)), "before": gmt(part.end), "dates_are_gmt": "true"}
        return (as_source_record(n, rec) for n, rec in enumerate(self._canonical(entity, window, None), start=1))

    def _canonical(self, entity: str, delta: dict, since: datetime | None) -> Iterator[dict]:
        if entity == "categories":  # the whole tree first (a shop has at most a few thousand), for paths
            terms = [c for page in self.pages("products/categories", what="categories") for c in page]
            tree = {c["id"]: c for c in terms}
            yield from (category(c, tree) for c in terms)
        elif entity == "manufacturers":
            try:
                for page in self.pages("products/brands", what="brands"):
                    yield from (brand(b) for b in page)
            except ConnectionProblem as exc:
                if exc.kind != "not_found":  # before WooCommerce 9.6 there are no brands: no manufacturers
                    raise
        elif entity == "tax_classes":
            classes = self._json(self._get("taxes/classes", what="tax classes"), "tax classes")
            for c in classes:
                rates = [{"country": r.get("country") or None, "rate": Decimal(str(r["rate"])).quantize(RATE)}
                         for page in self.pages("taxes", {"class": c["slug"]}, what="tax rates") for r in page]
                yield {"source_id": c["slug"], "name": html.unescape(c["name"]), "rates": rates, "updated_at": None}
        elif entity == "products":
            kg = self._kg_per_weight_unit()
            for page in self.pages("products", delta, what="products"):
                variable = [p for p in page if p.get("type") == "variable" and p.get("variations")]
                found = dict(zip((p["id"] for p in variable),
                                 pages_in_order(self._variations, [p["id"] for p in variable], CONCURRENCY)))
                yield from (read_record("WooCommerce", entity, product, p, found.get(p.get("id"), []), self.shop_url, kg)
                            for p in page)
        elif entity == "customers":  # no date filter on customers: compare here
            for page in self.pages("customers", what="customers"):
                for c in page:
                    rec = read_record("WooCommerce", entity, customer, c)
                    if since is None or UNREADABLE in rec or (rec["updated_at"] and datetime.fromisoformat(
                            rec["updated_at"].replace("Z", "+00:00")) > since):
                        yield rec
        elif entity == "orders":
            for page in self.pages("orders", {"status": "any", **delta}, what="orders"):
                yield from (read_record("WooCommerce", entity, order, o) for o in page)
        elif entity == "reviews":
            for page in self.pages("products/reviews", {"status": "all", "context": "edit"}, what="reviews"):
                for r in page:
                    yield read_record("WooCommerce", entity, lambda r: review(
                        r, _reviewer_id(r) or self._customer_by_email(r.get("reviewer_email"))), r)
        else:
            raise ValueError(f"WooCommerce has no entity {entity!r}")

    # Id-only listings for finding deletions (`_fields=id`, 100 ids a request): what records() reads, ids only.
    # A trashed product or order leaves status=any just as a deleted one does.
    ID_LISTS = {"categories": ("products/categories", {}), "manufacturers": ("products/brands", {}),
                "products": ("products", {}), "customers": ("customers", {}), "orders": ("orders", {"status": "any"}),
                "reviews": ("products/reviews", {"status": "all"})}

    def ids(self, entity: str) -> Iterator[str] | None:
        if entity == "tax_classes":  # identified by slug; one request lists them all
            return (c["slug"] for c in self._json(self._get("taxes/classes", what="tax classes"), "tax classes"))
        path, params = self.ID_LISTS[entity]
        return (str(r["id"]) for page in self.pages(path, {**params, "_fields": "id"}, what=f"{entity} ids")
                for r in page)

    def _kg_per_weight_unit(self) -> Decimal:
        """The shop's weight unit (WooCommerce → Settings → Products) in kg; kg, WooCommerce's default, when the
        key's user may not read settings."""
        try:
            unit = self._get("settings/products/woocommerce_weight_unit", what="the weight unit").json().get("value")
        except ConnectionProblem as exc:
            if exc.kind not in ("permission", "not_found"):
                raise
            return Decimal(1)
        except (ValueError, AttributeError):
            return Decimal(1)
        return WEIGHT_UNITS.get(unit, Decimal(1))

    def _variations(self, product_id: int) -> list[dict]:
        return [v for page in self.pages(f"products/{product_id}/variations", what=f"variations of product "
                                                                                  f"{product_id}") for v in page]

    def _customer_by_email(self, email: str | None) -> str | None:
        if not email:
            return None
        if self._emails is None:  # built once, only when a review has no linked user: id and e-mail only
            self._emails = {}
            for page in self.pages("customers", {"_fields": "id,email"}, what="customer e-mails"):
                self._emails.update({(c.get("email") or "").lower(): str(c["id"]) for c in page})
        return self._emails.get(email.lower())
