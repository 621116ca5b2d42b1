"""WooCommerce source: the REST API v3 under `<shop URL>/wp-json/wc/v3/`, read-only.

A REST API key (WooCommerce → Settings → Advanced → REST API) gives `consumer_key` (ck_...) and
`consumer_secret` (cs_...), with Read permission (docs/platforms/woocommerce.md).

The endpoints, paging (overlapping offset windows), filters and children are data in `api.py`, the mapping in
`mapping.py`; what stays here is what WooCommerce does differently:

- auth as WooCommerce expects it: over HTTPS, HTTP Basic; over plain HTTP, a one-legged OAuth 1.0a signature
  (HMAC-SHA256) in the query string of every request, signed per attempt (fresh nonce and timestamp);
- a key without Read permission is answered 401 (not 403): explained as a permission problem;
- weights are converted to kg from the shop's unit (`settings/products/woocommerce_weight_unit`);
- WooCommerce has no REST rate limit of its own (so no fixed client-side rate); hosts add theirs. A 429/503 is
  retried after Retry-After, and when the requests a response says remain (`RateLimit-Remaining`), less those
  sent since, are down to one, every worker waits for `RateLimit-Reset` (`kit/pacing.py`), so a normal run meets
  no 429;
- categories are mapped with the whole tree at hand (paths need every ancestor);
- reviews name no customer id: a review links its WordPress user in `_links.reviewer`; a review without one is
  matched to a customer by `reviewer_email` (a guest review written with a customer's address);
- backfill slices: orders by created date only (`after`/`before`);
- an order's refunds: its `refunds` list holds only id, reason and total, so `orders/{id}/refunds` (date, lines)
  is read for the orders whose list is not empty, and only for them (api.py: a child of orders);
- trashed products and spam/trashed reviews are read with listings of their own (ALSO_READ), since the default
  listings leave them out; a product deleted for good is `product_id: 0` on its order lines (no product).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterator

import requests

from cart_pipelines.platforms.kit.auth import HTTPBasicAuth, OAuth1OneLegged
from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import ConnectionProblem, Explainer, HttpClient, HttpSettings, safe_url
from cart_pipelines.platforms.kit.pacing import HeaderPacer, RateHeaders
from cart_pipelines.platforms.kit.rest import RestReader
from cart_pipelines.platforms.kit.source import (
    Slice,
    SliceNotPossible,
    Source,
    SourceRecord,
    as_source_record,
    read_record,
)
from cart_pipelines.platforms.woocommerce.api import API as WOO_API
from cart_pipelines.platforms.woocommerce.api import BASE_PATH, CONCURRENCY, PAGE_SIZE
from cart_pipelines.platforms.woocommerce.mapping import WEIGHT_UNITS, category, review, reviewer_id, wp_error

API = BASE_PATH  # the path under the shop URL (the target builds its client on it too)
__all__ = ["API", "CARRIED", "CONCURRENCY", "PAGE_SIZE", "SCOPES", "WooCommerceSource", "WooExplainer", "EXPLAINER",
           "auth_for"]

# The IETF draft's headers as WooCommerce's limiter (and hosts) send them; the reset is a Unix time.
RATE_HEADERS = RateHeaders(remaining="RateLimit-Remaining", reset="RateLimit-Reset", reset_unit="epoch",
                           quota="RateLimit-Limit")

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


def auth_for(shop_url: str, consumer_key: str, consumer_secret: str):
    """WooCommerce accepts Basic auth only over TLS; plain HTTP needs the OAuth 1.0a signature."""
    return HTTPBasicAuth(consumer_key, consumer_secret) if shop_url.startswith("https://") \
        else OAuth1OneLegged(consumer_key, consumer_secret)


class WooExplainer(Explainer):
    """WooCommerce answers a key without Read permission with 401 (not 403): that is a permission problem."""

    def problem(self, response: requests.Response, what: str) -> ConnectionProblem:
        code, message = wp_error(response)
        if response.status_code == 401 and "does not have read permissions" in message:
            return ConnectionProblem("permission", f"WooCommerce refused {what} (HTTP 401): the API key works but "
                                     f"lacks the read permission — {self.permission_hint}. The platform said: "
                                     f"{message}", 401)
        return super().problem(response, what)


EXPLAINER = dict(
    platform="WooCommerce", credential_fields=("shop URL", "consumer_key", "consumer_secret"),
    permission_hint="under WooCommerce → Settings → Advanced → REST API, give the key Permissions 'Read' (or "
                    "'Read/Write'; scope: read) and create it for an Administrator or Shop Manager user",
    error_message=lambda r: " ".join(x for x in wp_error(r) if x) or None,
)


# Listings a status filter leaves out, read after the default one: `status=any` (WP_Query's "any") excludes trashed
# products (post statuses with exclude_from_search), yet old orders name them; `products/reviews?status=all` is
# approved and on hold only, without spam and trash.
ALSO_READ = {"products": ({"status": "trash"},), "reviews": ({"status": "spam"}, {"status": "trash"})}


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
        auth = auth_for(self.shop_url, credentials["consumer_key"], credentials["consumer_secret"])
        # Up to CONCURRENCY requests may be in flight: stop while that many are still left in the host's window.
        self.pacer = HeaderPacer(RATE_HEADERS, reserve=1, max_wait=60.0)  # in-flight requests are counted by it
        self.client = HttpClient(WOO_API.url(self.shop_url), WooExplainer(**EXPLAINER), settings=settings, auth=auth,
                                 verify=verify, retry_after=self._retry_after, on_response=self.pacer)
        self.reader = RestReader(WOO_API, self.client, verify=verify)
        self._emails: dict[str, str] | None = None

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

    def describe(self) -> str:
        return f"WooCommerce shop {safe_url(self.shop_url)} (REST API wc/v3)"

    def check(self) -> str:
        response = self.reader.get("products", {"per_page": 1, "_fields": "id"}, "the connection test")
        return f"WooCommerce shop {safe_url(self.shop_url)}: {response.headers.get('X-WP-Total', '?')} products"

    def pages(self, endpoint: str, params: dict | None = None, what: str = "") -> Iterator[list[dict]]:
        """Raw pages of one of `api.API`'s endpoints (by name), each record once while the shop changes."""
        return self.reader.pages(endpoint, params, what=what)

    def records(self, entity: str, updated_since: datetime | None = None) -> Iterator[SourceRecord]:
        return (as_source_record(n, rec) for n, rec in enumerate(self._canonical(entity, updated_since), start=1))

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
        return (as_source_record(n, rec) for n, rec in enumerate(self._canonical(entity, None, window), start=1))

    def _canonical(self, entity: str, since: datetime | None, params: dict | None = None) -> Iterator[dict]:
        if entity not in WOO_API.endpoints:
            raise ValueError(f"WooCommerce has no entity {entity!r}")
        if entity == "categories":  # the whole tree first, for paths
            terms = self.reader.all("categories")
            tree = {c["id"]: c for c in terms}
            yield from (category(c, tree) for c in terms)
        elif entity == "products":
            kg = self._kg_per_weight_unit()
            for extra in ({}, *ALSO_READ["products"]):
                yield from self.reader.records("products", {**(params or {}), **extra}, since,
                                               args=(self.shop_url, kg))
        elif entity == "reviews":
            for extra in ({}, *ALSO_READ["reviews"]):
                for page in self.reader.pages("reviews", {**(params or {}), **extra}, since):
                    yield from (read_record("WooCommerce", entity, lambda r: review(
                        r, reviewer_id(r) or self._customer_by_email(r.get("reviewer_email"))), r) for r in page)
        else:
            yield from self.reader.records(entity, params, since)

    def ids(self, entity: str) -> Iterator[str] | None:
        """Id-only listings for finding deletions (`_fields=id`, 100 ids a request): what records() reads."""
        if entity == "tax_classes":  # identified by slug; one request lists them all
            return (c["slug"] for c in self.reader.all("tax_classes"))
        if entity in ALSO_READ:
            return (str(r["id"]) for extra in ({}, *ALSO_READ[entity])
                    for page in self.reader.pages(entity, extra, ids_only=True, what=f"{entity} ids") for r in page)
        return self.reader.ids(entity)

    def _kg_per_weight_unit(self) -> Decimal:
        """The shop's weight unit (WooCommerce → Settings → Products) in kg; kg, WooCommerce's default, when the
        key's user may not read settings."""
        try:
            unit = self.reader.get("settings/products/woocommerce_weight_unit", what="the weight unit").json()\
                .get("value")
        except ConnectionProblem as exc:
            if exc.kind not in ("permission", "not_found"):
                raise
            return Decimal(1)
        except (ValueError, AttributeError):
            return Decimal(1)
        return WEIGHT_UNITS.get(unit, Decimal(1))

    def _customer_by_email(self, email: str | None) -> str | None:
        if not email:
            return None
        if self._emails is None:  # built once, only when a review has no linked user: id and e-mail only
            self._emails = {(c.get("email") or "").lower(): str(c["id"])
                            for c in self.reader.all("customers", {"_fields": "id,email"}, what="customer e-mails")}
        return self._emails.get(email.lower())
