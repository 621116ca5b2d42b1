"""Lightspeed eCom (C-Series) source: the REST API at `https://api.webshopapp.com/{language}/` (EU cluster) or
`https://api.shoplightspeed.com/{language}/` (US cluster), read-only.

Access (docs/platforms/lightspeed.md): HTTP Basic with the **API Key** as user and the **API Secret** as password,
on the shop's cluster (seed 002's **Endpoint**) and one of the shop's languages (texts come in that language).

The endpoints, paging and filters are data in `api.py`, the mapping in `mapping.py`; what stays here is what
Lightspeed does differently:
- per-key limits in three windows (5 minutes / hour / day, by default 300/3000/12000): every answer says what is
  left of each in `X-RateLimit-Remaining` and when each resets in `X-RateLimit-Reset` (`299/2999/11999`, seconds);
  the kit's HeaderPacer pauses before a window is used up, and a 429 waits for the window that is spent;
- a product's categories are the `categories/products.json` links, read whole once per read of products; they
  and, on a full read, the variants (`variants.json`, one list) are staged in a temporary DuckDB file
  (kit/parts.py) and joined a page of products at a time, so memory does not grow with the store;
- orders carry no currency of their own: the shop's is a setting (`LIGHTSPEED_CURRENCY`, EUR unless set);
- refunds are the orders' credit notes (invoices with `isCreditNote`): a full read takes `invoices.json` whole and
  stages the credit notes the same way, a delta or a slice reads each order's `invoices.json?order={id}`; a credit
  note's lines are its items (`invoices/{id}/items.json`), read per credit note (one without items takes them from
  the order products' `quantityRefunded`, mapping.refunds);
- backfill slices: products, customers, orders and reviews by id (`since_id`, ids ascending, read until past the
  slice) and by created date (`created_at_min`/`created_at_max`, cut to the slice exactly here).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterator

import requests

from cart_pipelines.platforms.kit.auth import HTTPBasicAuth
from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import ConnectionProblem, Explainer, HttpClient, HttpSettings, safe_url
from cart_pipelines.platforms.kit.http import json_body
from cart_pipelines.platforms.kit.pacing import HeaderPacer, RateHeaders
from cart_pipelines.platforms.kit.parts import Parts
from cart_pipelines.platforms.kit.rest import RestReader
from cart_pipelines.platforms.kit.source import ApiSource, Slice, SliceNotPossible, SourceRecord, as_source_record, \
    read_record
from cart_pipelines.platforms.lightspeed import mapping
from cart_pipelines.platforms.lightspeed.api import API as LS_API
from cart_pipelines.platforms.lightspeed.api import FILTER_TIME, PAGE_SIZE

__all__ = ["CARRIED", "PAGE_SIZE", "SCOPES", "NON_SECRET", "LightspeedSource", "LightspeedExplainer"]

EU, US = "https://api.webshopapp.com", "https://api.shoplightspeed.com"
RATE_HEADERS = RateHeaders("X-RateLimit-Remaining", "X-RateLimit-Reset", "s", quota="X-RateLimit-Limit",
                           separator="/")
# The read permissions of the API key (back office → Settings → API Keys), by the names Lightspeed gives them.
SCOPES = {"categories": "Products: read", "manufacturers": "Products: read", "tax_classes": "Settings: read",
          "products": "Products: read", "customers": "Customers: read", "orders": "Orders: read",
          "reviews": "Marketing: read"}
NON_SECRET = ("language", "store_url", "currency")
SLICED = ("products", "customers", "orders", "reviews")

# Canonical fields that come back exactly. Left out, and why (docs/platforms/lightspeed.md): brand url keys (none);
# tax rates (a Lightspeed tax is one rate for every country); product variants (the matrix's option titles) and
# images' positions beyond their order; customers' newsletter (a separate subscriptions resource), addresses (one
# name per address, street number apart); order currency (orders carry none: the shop's setting is used), items
# (Lightspeed's own order-product ids), names and addresses; refunds (their lines name those order-product ids too:
# compared by tests/contract/test_refunds_shift4shop_lightspeed.py — ids, amounts, dates, lines by SKU, quantity and
# amount —, refunded_total and net_total here); review titles (none).
CARRIED = {
    "categories": ("source_id", "parent_id", "name", "path", "url_key", "is_visible", "position", "updated_at"),
    "manufacturers": ("source_id", "name", "updated_at"),
    "tax_classes": ("source_id", "name", "updated_at"),
    "products": ("source_id", "sku", "name", "description_html", "price", "special_price", "weight", "stock",
                 "status", "url_key", "category_ids", "manufacturer_id", "tax_class_id", "created_at", "updated_at"),
    "customers": ("source_id", "email", "first_name", "last_name", "created_at", "updated_at"),
    "orders": ("source_id", "number", "customer_id", "email", "status", "subtotal", "shipping", "tax", "discount",
               "grand_total", "refunded_total", "net_total", "created_at", "updated_at"),
    "reviews": ("source_id", "product_id", "customer_id", "rating", "text", "status", "created_at", "updated_at"),
}


def ls_error(response: requests.Response) -> str | None:
    """Lightspeed's error body: `{"error": {"code", "method", "request", "message"}}`."""
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("message") or "") or None if isinstance(error, dict) else None


class LightspeedExplainer(Explainer):
    """401: the key and secret do not match (or belong to the other cluster); 403: the key lacks a read
    permission, named; 429: which of the three windows is spent."""

    def problem(self, response: requests.Response, what: str) -> ConnectionProblem:
        if response.status_code == 403:
            scope = SCOPES.get(what.split(" ")[0], "Products, Customers, Orders, Settings and Marketing: read")
            return ConnectionProblem("permission", f"Lightspeed refused {what} (HTTP 403): the API key works but "
                                     f"lacks the permission {scope} — {self.permission_hint}. The platform said: "
                                     f"{ls_error(response) or ''}", 403)
        if response.status_code == 429:
            left = response.headers.get("X-RateLimit-Remaining", "")
            spent = [name for name, n in zip(("5-minute", "hourly", "daily"), left.split("/")) if n.strip() == "0"]
            return ConnectionProblem("rate_limited", f"Lightspeed kept answering 429 for {what}: the API key's "
                                     f"{' and '.join(spent) or 'request'} limit is used up (X-RateLimit-Limit "
                                     f"{response.headers.get('X-RateLimit-Limit', '?')}, reset in "
                                     f"{response.headers.get('X-RateLimit-Reset', '?')} s); other apps on the same "
                                     f"key count too. Run again after the reset, or ask Lightspeed for a higher "
                                     f"limit.", 429)
        return super().problem(response, what)


EXPLAINER = dict(
    platform="Lightspeed", credential_fields=("Endpoint (the shop's cluster)", "API Key", "API Secret"),
    permission_hint="edit the API key in the Lightspeed back office (Settings → API Keys) and give it read "
                    "permissions for Products, Customers, Orders, Settings and Marketing",
    error_message=ls_error,
)


class LightspeedSource(ApiSource):
    platform = "lightspeed"
    supports_delta = True
    BASE_URL = "api_url"
    CREDENTIALS = (
        Credential("api_url", "LIGHTSPEED_ENDPOINT", "Endpoint", default=EU),
        Credential("language", "LIGHTSPEED_LANGUAGE", "Language", default="en"),
        Credential("store_url", "LIGHTSPEED_STORE_URL", "Store URL", default=""),
        Credential("api_key", "LIGHTSPEED_API_KEY", "API Key", secret=True),
        Credential("api_secret", "LIGHTSPEED_API_SECRET", "API Secret", secret=True),
        Credential("currency", "LIGHTSPEED_CURRENCY", "Store currency", default="EUR"),
    )

    def __init__(self, api_url: str, credentials: dict, verify=True, settings: HttpSettings | None = None):
        self.api_url = (api_url or EU).rstrip("/")
        self.language = (credentials.get("language") or "en").strip("/")
        self.store_url = credentials.get("store_url") or ""
        self.currency = credentials.get("currency") or "EUR"
        # the 5-minute window may be 300 s from its reset: a 429 waits that long rather than fail the run
        settings = settings or HttpSettings(max_attempts=10, max_server_wait=330.0)
        self.pacer = HeaderPacer(RATE_HEADERS, reserve=1, max_wait=330.0)
        self.client = HttpClient(f"{self.api_url}/{self.language}", LightspeedExplainer(**EXPLAINER),
                                 settings=settings, auth=HTTPBasicAuth(credentials["api_key"],
                                                                       credentials["api_secret"]),
                                 verify=verify, retry_after=self._retry_after, on_response=self.pacer)
        self.reader = RestReader(LS_API, self.client, verify=verify)

    def _retry_after(self, response: requests.Response) -> float | None:
        wait = self.pacer.retry_after(response)
        return wait if wait is not None else (float(response.headers["Retry-After"])
                                              if response.headers.get("Retry-After", "").isdigit() else None)

    def describe(self) -> str:
        shop = safe_url(self.store_url) if self.store_url else safe_url(self.api_url)
        return f"Lightspeed eCom shop {shop} ({self.language})"

    def check(self) -> str:
        body = self.reader.get("products/count.json", what="the connection test").json()
        return f"Lightspeed eCom shop {safe_url(self.store_url or self.api_url)}: {body.get('count', '?')} products"

    def records(self, entity: str, updated_since: datetime | None = None) -> Iterator[SourceRecord]:
        return (as_source_record(n, r) for n, r in enumerate(self._canonical(entity, updated_since), start=1))

    def records_in(self, entity: str, part: Slice) -> Iterator[SourceRecord]:
        """By id: `since_id` (ids above it, ascending), read until a page goes past the slice; by created date:
        `created_at_min`/`created_at_max`, the records cut to [start, end) here."""
        if entity not in SLICED:
            raise SliceNotPossible(f"Lightspeed's API lists {entity} whole (small lists); migrate them with "
                                   f"full_migration, and backfill {', '.join(SLICED)} by id or created date")
        if part.field == "id":
            params = {"since_id": int(part.start) - 1}
        else:
            params = {"created_at_min": part.start.strftime(FILTER_TIME),
                      "created_at_max": (part.end + timedelta(seconds=1)).strftime(FILTER_TIME)}
        rows = (r for r in self._canonical(entity, None, params, stop_at=part.end if part.field == "id" else None)
                if "_unreadable" in r or part.contains(r))
        return (as_source_record(n, r) for n, r in enumerate(rows, start=1))

    def _pages(self, entity: str, since, params, stop_at):
        for page in self.reader.rows(entity, params, since):
            yield page
            last = page[-1].record.get("id") if page and isinstance(page[-1].record, dict) else None
            if stop_at is not None and isinstance(last, int) and last >= int(stop_at):
                return

    def _canonical(self, entity: str, since: datetime | None, params: dict | None = None,
                   stop_at: int | None = None) -> Iterator[dict]:
        if entity == "categories":  # the whole tree first, for paths
            found = self.reader.all("categories")
            tree = {c["id"]: c for c in found if isinstance(c, dict) and "id" in c}
            wanted = found if since is None else self.reader.all("categories", since=since)
            yield from (read_record("Lightspeed", entity, mapping.category, c, tree) for c in wanted)
        elif entity == "manufacturers":
            yield from (read_record("Lightspeed", entity, mapping.brand, b)
                        for page in self.reader.pages("manufacturers", since=since) for b in page)
        elif entity == "tax_classes":
            yield from (read_record("Lightspeed", entity, mapping.tax, t)
                        for page in self.reader.pages("tax_classes", since=since) for t in page)
        elif entity == "products":
            whole = since is None and params is None
            with Parts(prefix="lightspeed-parts-") as parts:
                # the product <-> category links, and on a full read the variants: each one list, 250 a request,
                # staged on disk and joined a page of products at a time (memory bounded by a page)
                parts.add("category", self.reader.pages("category_links"), lambda k: mapping.ref(k.get("product")))
                if whole:  # one list instead of a request per product
                    parts.add("variant", self.reader.pages("variants"), lambda v: mapping.ref(v.get("product")))
                for page in self._pages("products" if whole else "products_changed", since, params, stop_at):
                    pids = [str(row.record.get("id")) for row in page]
                    links, variants = parts.of("category", pids), parts.of("variant", pids) if whole else {}
                    for pid, row in zip(pids, page):
                        cats = [c for _, c in sorted((k.get("sortOrder") or 0, mapping.ref(k.get("category")))
                                                     for k in links.get(pid, []) if mapping.ref(k.get("category")))]
                        yield read_record("Lightspeed", entity, mapping.product, row.record,
                                          variants.get(pid, []) if whole else row.children["variants"],
                                          row.children["images"], cats)
        elif entity == "orders":
            whole = since is None and params is None
            with Parts(prefix="lightspeed-parts-") as parts:
                if whole:  # one list, 250 a request, instead of a request per order: the credit notes staged
                    parts.add("credit_note", ([i for i in page if mapping.is_credit_note(i)]
                                              for page in self.reader.pages("invoices")),
                              lambda i: mapping.ref(i.get("order")))
                for page in self._pages("orders" if whole else "orders_changed", since, params, stop_at):
                    oids = [str(row.record.get("id")) for row in page]
                    notes = parts.of("credit_note", oids) if whole else \
                        {oid: row.children["invoices"] for oid, row in zip(oids, page)}
                    for oid, row in zip(oids, page):
                        credit = [self._with_items(c) for c in notes.get(oid, []) if mapping.is_credit_note(c)]
                        yield read_record("Lightspeed", entity, mapping.order, row.record, row.children["products"],
                                          self.currency, credit)
        elif entity in ("customers", "reviews"):
            fn = mapping.customer if entity == "customers" else mapping.review
            for page in self._pages(entity, since, params, stop_at):
                yield from (read_record("Lightspeed", entity, fn, row.record) for row in page)
        else:
            raise ValueError(f"Lightspeed has no entity {entity!r}")

    def _with_items(self, note: dict) -> tuple[dict, list[dict]]:
        """A credit note and its items (`invoices/{id}/items.json`), its refund's lines: one request per credit
        note (a few per cent of orders). A credit note without an id or with no items link (`false`) has none."""
        if note.get("id") in (None, False, "") or note.get("items") is False:
            return note, []
        return note, self.reader.all("invoice_items", parent=note)

    def ids(self, entity: str) -> Iterator[str] | None:
        """Lightspeed has no id-only listing: the ids come from the lists themselves (250 a request, without the
        per-record variants, images and order products)."""
        if entity not in SCOPES:
            return None
        return (str(r["id"]) for page in self.reader.pages(entity, what=f"{entity} ids") for r in page
                if isinstance(r, dict) and "id" in r)

    def id_bounds(self, entity: str) -> tuple[int, int | None, int | None]:
        """The count from `{resource}/count.json`, the lowest id from a one-record page; Lightspeed has no sort by
        id descending, so the highest id is not known cheaply."""
        if entity not in SLICED:
            return super().id_bounds(entity)
        path = LS_API.endpoint(entity).path.removesuffix(".json")
        count = int(self.reader.get(f"{path}/count.json", what=f"the count of {entity}").json().get("count") or 0)
        first = self.reader.get(f"{path}.json", {"limit": 1}, f"the first of {entity}").json()
        rows = first.get(LS_API.endpoint(entity).records, []) if isinstance(first, dict) else []
        return count, (rows[0]["id"] if rows else None), None
