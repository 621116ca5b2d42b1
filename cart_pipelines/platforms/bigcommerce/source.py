"""BigCommerce source: REST v3 (catalog, customers) and v2 (orders, tax classes, store), read-only.

A store-level API account gives `store_hash` (from the API path https://api.bigcommerce.com/stores/{store_hash}/v3/),
`client_id` and `access_token` (docs/platforms/bigcommerce.md).

The endpoints, paging (id keysets, the customers' creation-second keyset, v2 `min_id`), filters and
sub-resources are data in `api.py`, the mapping in `mapping.py`; what stays here is what BigCommerce does
differently:

- the API path the control panel shows (…/stores/{hash}/v3/) is accepted as the base URL;
- errors are v3 `{status, title, type, errors}` or v2 `[{status, message}]`; a wrong store hash is answered 403
  like a missing scope, so the explanation names both;
- pacing follows the X-Rate-Limit-* headers (`kit/pacing.py`): when few requests are left in the window, every
  worker waits for X-Rate-Limit-Time-Reset-Ms, so a normal run never meets a 429; a 429 is retried after that time;
- categories are mapped with the whole tree at hand (paths need every ancestor);
- reviews name no customer: the reviewer's e-mail is looked up among customers (`email:in`, 50 at a time);
- backfill slices (SLICES): products by `id:min`/`id:max`, orders by `min_id`/`max_id` or `min_date_created`/
  `max_date_created`, customers by `date_created:min`/`:max`; every bound is inclusive, so a slice's exclusive end
  becomes the id or second before it. Customers have no id range (only `id:in` lists), so they are not sliced by id.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Iterator
from urllib.parse import urlsplit

import requests

from cart_pipelines.platforms.bigcommerce import mapping
from cart_pipelines.platforms.bigcommerce.api import API as BC_API
from cart_pipelines.platforms.bigcommerce.api import (
    API_HOST,
    CONCURRENCY,
    PACING,
    PAGE_SIZE,
    RESERVE,
    SCOPE_LABELS,
    SCOPES,
    what,
)
from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import (
    ConnectionProblem,
    Explainer,
    HttpClient,
    HttpSettings,
    json_body,
    retry_after_header,
)
from cart_pipelines.platforms.kit.pacing import HeaderPacer
from cart_pipelines.platforms.kit.rest import RestReader
from cart_pipelines.platforms.kit.source import (
    Slice,
    SliceNotPossible,
    Source,
    SourceRecord,
    as_source_record,
    read_record,
)

__all__ = ["API_HOST", "CARRIED", "CONCURRENCY", "NON_SECRET", "PAGE_SIZE", "SCOPES", "SCOPE_LABELS", "SLICES",
           "BigCommerceSource", "api_root", "error_message", "pacer", "reset_after"]

NON_SECRET = ("store_hash", "client_id")
SLICES = {  # (entity, slice field) -> the list's lower and upper bound parameters, both inclusive
    ("products", "id"): ("id:min", "id:max"),  # v3 catalog
    ("customers", "created_at"): ("date_created:min", "date_created:max"),  # v3 customers
    ("orders", "id"): ("min_id", "max_id"),  # v2 orders
    ("orders", "created_at"): ("min_date_created", "max_date_created"),
}
NO_CUSTOMER_ID_RANGE = ("BigCommerce's customers API has no id-range filter (only id:in lists of ids), so customers "
                        "cannot be backfilled by id range; migrate customers with full_migration")

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


def error_message(response: requests.Response) -> str | None:
    """v3 errors are {status, title, type, errors}; v2 errors are [{status, message}]."""
    body = json_body(response)
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


def pacer() -> HeaderPacer:
    """BigCommerce's pacing (source and target): wait for the reset when RESERVE or fewer requests are left."""
    return HeaderPacer(PACING, reserve=RESERVE)


def api_root(base_url: str, store_hash: str) -> str:
    """The store's API root, {host}/stores/{hash}, from the host or the whole API path (…/stores/{hash}/v3/)."""
    base = base_url.rstrip("/")
    marker = f"/stores/{store_hash}"
    if marker in base:
        base = base[: base.index(marker)]
    return f"{base or API_HOST}{marker}"


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

    def __init__(self, client: HttpClient, store_hash: str, pacer: HeaderPacer, verify=True):
        self.client, self.store_hash, self.pacer, self.verify = client, store_hash, pacer, verify
        # PAGE_SIZE is read when connecting, so a test may lower it to read a small store in several pages.
        api = replace(BC_API, defaults=replace(BC_API.defaults, page_size=PAGE_SIZE))
        self.reader = RestReader(api, client, verify=verify)

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
        paced = pacer()
        headers = {"X-Auth-Token": str(credentials["access_token"]), "Content-Type": "application/json"}
        if credentials.get("client_id"):
            headers["X-Auth-Client"] = str(credentials["client_id"])
        client = HttpClient(api_root(base_url, store_hash), explainer, settings=settings, headers=headers,
                            verify=verify, retry_after=reset_after, on_response=paced)
        return cls(client, store_hash, paced, verify)

    def describe(self) -> str:
        host = urlsplit(self.client.base_url)
        return f"BigCommerce store {self.store_hash} at {host.scheme}://{host.netloc}"

    def _json(self, path: str, params: dict | None, what: str):
        response = self.reader.get(path, params, what)
        try:
            return response.json()
        except ValueError:
            raise ConnectionProblem("bad_response", f"BigCommerce answered {what} with something that is not JSON "
                                    f"(HTTP {response.status_code}); is the base URL the API host?") from None

    def check(self) -> str:
        """One cheap authenticated request (GET /v2/store, scope Information & Settings: read-only)."""
        info = self._json("v2/store", None, "reading the store information (needs OAuth scope Information & "
                                            "Settings: read-only, store_v2_information_read_only)")
        return (f"BigCommerce store {info.get('name')!r} ({info.get('domain')}, plan {info.get('plan_name')}, "
                f"currency {info.get('currency')}, weights in {info.get('weight_units')})")

    def has(self, entity: str) -> bool:
        return entity in SCOPES

    # --- entities
    def records(self, entity: str, updated_since: datetime | None = None,
                narrow: dict | None = None) -> Iterator[SourceRecord]:
        if entity not in SCOPES:
            return iter(())
        return (as_source_record(n, rec) for n, rec in
                enumerate(self._canonical(entity, updated_since, narrow), start=1))

    def _canonical(self, entity: str, since: datetime | None, params: dict | None) -> Iterator[dict]:
        if entity == "categories":  # the whole tree first, for paths
            rows = self.reader.all("categories")
            tree = {c.get("id"): c for c in rows if isinstance(c, dict)}
            yield from (read_record("BigCommerce", entity, mapping.category, c, tree) for c in rows)
        elif entity == "reviews":
            yield from self._reviews(since)
        else:
            yield from self.reader.records(entity, params, since)

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
                                                      "limit": 1}, what(entity))
            ends.append(body.get("data") or [])
        if not all(ends):
            return 0, None, None
        return int(body["meta"]["pagination"]["total"]), int(ends[0][0]["id"]), int(ends[1][0]["id"])

    def ids(self, entity: str) -> Iterator[str] | None:
        """Product ids only (`include_fields=id`, 250 a request), for finding deletions. Customers have no id
        filter to page by exactly and orders only the full v2 rows, so they are not listed."""
        if entity != "products":
            return None
        return (str(p["id"]) for page in self.reader.pages("products", ids_only=True, what=what(entity)) for p in page)

    def _reviews(self, since: datetime | None) -> Iterator[dict]:
        """Reviews of each page of products (read in parallel), the reviewers' e-mails resolved to customer ids."""
        emails: dict[str, str | None] = {}
        for page in self.reader.rows("reviews", since=since):
            found = [r for row in page for r in row.children["reviews"]]
            unknown = sorted({r["email"] for r in found if r.get("email") and r["email"] not in emails})
            for start in range(0, len(unknown), 50):
                chunk = unknown[start:start + 50]
                emails.update({e: None for e in chunk})
                for c in self.reader.all("customers_by_email", {"email:in": ",".join(chunk)}):
                    emails[c["email"]] = str(c["id"])
            yield from (read_record("BigCommerce", "reviews", mapping.review, r, emails.get(r.get("email")))
                        for r in found)
