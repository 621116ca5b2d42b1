"""Square source: the Square API v2 (`https://connect.squareup.com/v2/`), read-only.

An access token (Next-Cart's Square Migration app shows it as the "API Key"; a personal access token from the
Developer Console works the same) is sent as `Authorization: Bearer`, with the `Square-Version` header. The
endpoints, paging and filters are data in `api.py`, the mapping in `mapping.py`; what stays here is what Square
does differently:

- orders are searched per location, at most 10 `location_ids` a search: the locations are listed first
  (MERCHANT_PROFILE_READ) and searched in groups of 10, each group paged to its end;
- a line item names only its item variation: variation -> (item, sku) is read once from the catalog;
- categories are mapped with the whole tree at hand (paths need every ancestor);
- Square publishes no rate-limit numbers, sends no Retry-After, and answers 429 with the error code
  RATE_LIMITED; it asks clients to back off exponentially with jitter, which the kit's client does;
- Square has no brands (manufacturers) and no product reviews: `has()` says so;
- backfill slices: orders and customers by created date (`date_time_filter.created_at`, `filter.created_at`);
  Square ids are opaque strings, so there are no id ranges.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterator

import requests

from cart_pipelines.platforms.kit.auth import BearerToken
from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import ConnectionProblem, Explainer, HttpClient, HttpSettings, safe_url
from cart_pipelines.platforms.kit.rest import RestReader
from cart_pipelines.platforms.kit.source import ApiSource, Slice, SliceNotPossible, SourceRecord, as_source_record
from cart_pipelines.platforms.square import api as square_api
from cart_pipelines.platforms.square.api import API, LOCATIONS_PER_SEARCH, PAGE_SIZE, VERSION
from cart_pipelines.platforms.square.mapping import category, error_codes, square_error

__all__ = ["CARRIED", "PAGE_SIZE", "SCOPES", "SquareSource", "SquareExplainer"]

# The OAuth permissions each entity needs (the spec's `security` of each operation); orders need the locations too.
SCOPES = {"categories": "ITEMS_READ", "tax_classes": "ITEMS_READ", "products": "ITEMS_READ",
          "customers": "CUSTOMERS_READ", "orders": "ORDERS_READ", "locations": "MERCHANT_PROFILE_READ"}
ABSENT = {"manufacturers": "Square's catalog has no brand or manufacturer object",
          "reviews": "Square has no product reviews API"}

# Canonical fields that come back exactly. Left out, and why (docs/platforms/square.md): category position (Square
# orders a category only within its parent); tax rates (a Square tax is one percentage with no country); product
# sku of products with variants (Square keeps SKUs on variations only), special_price (sales are pricing rules),
# weight (no catalog field), stock (the Inventory API, not read), manufacturer (none), created_at (catalog objects
# carry only updated_at); customer phone and addresses (one address each in Square), newsletter (only
# email_unsubscribed), passwords (never exposed); order status (Square has no on-hold state), billing address and
# billing names (on payments, not orders), items (Square line-item uids).
CARRIED = {
    "categories": ("source_id", "parent_id", "name", "path", "url_key", "is_visible", "updated_at"),
    "tax_classes": ("source_id", "name", "updated_at"),
    "products": ("source_id", "name", "description_html", "price", "status", "url_key", "category_ids",
                 "tax_class_id", "images", "updated_at"),
    "customers": ("source_id", "email", "first_name", "last_name", "created_at", "updated_at"),
    "orders": ("source_id", "number", "customer_id", "email", "currency", "subtotal", "shipping", "tax",
               "discount", "grand_total", "created_at", "updated_at"),
}


class SquareExplainer(Explainer):
    """Square's own codes: INSUFFICIENT_SCOPES names a permission, ACCESS_TOKEN_EXPIRED/REVOKED a token to renew."""

    def problem(self, response: requests.Response, what: str) -> ConnectionProblem:
        codes = error_codes(response)
        said = square_error(response)
        if codes & {"ACCESS_TOKEN_EXPIRED", "ACCESS_TOKEN_REVOKED"}:
            return ConnectionProblem("credentials", f"Square refused {what}: the API Key (access token) has "
                                     f"{'expired' if 'ACCESS_TOKEN_EXPIRED' in codes else 'been revoked'}; check "
                                     f"for typos or authorize the app again for a new one. The platform said: "
                                     f"{said}", response.status_code)
        if "INSUFFICIENT_SCOPES" in codes:
            return ConnectionProblem("permission", f"Square refused {what} (HTTP {response.status_code}): the API "
                                     f"Key works but lacks a permission — {self.permission_hint}. The platform "
                                     f"said: {said}", response.status_code)
        return super().problem(response, what)


def explainer(entity: str | None = None) -> SquareExplainer:
    scope = SCOPES.get(entity or "", "ITEMS_READ, CUSTOMERS_READ, ORDERS_READ and MERCHANT_PROFILE_READ")
    return SquareExplainer(
        platform="Square", credential_fields=("API Key",),
        permission_hint=f"authorize the app with the {scope} permission (OAuth scope); a personal access token "
                        f"from the Developer Console has every permission",
        error_message=lambda r: square_error(r) or None)


class SquareSource(ApiSource):
    platform = "square"
    supports_delta = True
    BASE_URL = "base_url"
    CREDENTIALS = (
        Credential("base_url", "SQUARE_BASE_URL", "API base URL", default="https://connect.squareup.com"),
        Credential("api_key", "SQUARE_API_KEY", "API Key", secret=True),
    )

    def __init__(self, base_url: str, credentials: dict, verify=True, settings: HttpSettings | None = None):
        self.base_url = base_url.rstrip("/")
        self.client = HttpClient(API.url(self.base_url), explainer(), settings=settings,
                                 auth=BearerToken(credentials["api_key"]), verify=verify,
                                 headers={"Square-Version": VERSION, "Content-Type": "application/json"})
        self.reader = RestReader(API, self.client, verify=verify)
        self._variations: dict[str, tuple[str, str | None]] | None = None

    def describe(self) -> str:
        return f"Square seller at {safe_url(self.base_url)} (API v2, Square-Version {VERSION})"

    def check(self) -> str:
        locations = self.reader.all("locations", what="the connection test")
        names = ", ".join(str(loc.get("name")) for loc in locations[:3])
        return f"Square seller at {safe_url(self.base_url)}: {len(locations)} locations ({names})"

    def has(self, entity: str) -> bool:
        return entity not in ABSENT

    def records(self, entity: str, updated_since: datetime | None = None) -> Iterator[SourceRecord]:
        return (as_source_record(n, rec) for n, rec in enumerate(self._canonical(entity, updated_since), start=1))

    def _canonical(self, entity: str, since: datetime | None, window: dict | None = None) -> Iterator[dict]:
        if entity in ABSENT:
            return
        self.client.explainer = explainer(entity)  # a 403 names the permission this entity needs
        if entity == "categories":
            objects = self.reader.all("categories")  # the whole tree first, for paths
            tree = {o["id"]: o for o in objects}
            keep = {o["id"] for page in self.reader.pages("categories", since=since) for o in page} \
                if since else set(tree)
            yield from (category(o, tree) for o in objects if o["id"] in keep)
        elif entity == "customers":
            if since is None and window is None:
                yield from self.reader.records("customers")
            else:
                yield from self.reader.records("customers_search", window, since)
        elif entity == "orders":
            variations = self._variation_items()
            self.client.explainer = explainer("orders")
            for group in self._location_groups():
                yield from self.reader.records("orders", {"location_ids": group, **(window or {})}, since,
                                               args=(variations,))
        elif entity in ("tax_classes", "products"):
            yield from self.reader.records(entity, None, since)
        else:
            raise ValueError(f"Square has no entity {entity!r}")

    def _location_groups(self) -> list[list[str]]:
        self.client.explainer = explainer("locations")
        ids = [loc["id"] for loc in self.reader.all("locations")]
        self.client.explainer = explainer("orders")
        return [ids[k:k + LOCATIONS_PER_SEARCH] for k in range(0, len(ids), LOCATIONS_PER_SEARCH)]

    def _variation_items(self) -> dict[str, tuple[str, str | None]]:
        """Item variation id -> (item id, sku), for order line items (read once)."""
        if self._variations is None:
            self.client.explainer = explainer("products")
            self._variations = {
                v["id"]: ((v.get("item_variation_data") or {}).get("item_id"),
                          (v.get("item_variation_data") or {}).get("sku") or None)
                for page in self.reader.pages("variations") for v in page}
        return self._variations

    def records_in(self, entity: str, part: Slice) -> Iterator[SourceRecord]:
        """Orders and customers by created date: Square's time ranges are inclusive at both ends, so the end is
        one millisecond before the slice's."""
        if entity not in ("orders", "customers") or part.field != "created_at":
            raise SliceNotPossible(
                f"Square has no {'id-range' if part.field == 'id' else 'created-date'} filter for {entity} (its ids "
                f"are opaque strings); backfill Square orders or customers by month, and migrate {entity} with "
                f"full_migration")
        span = {"created_at": {"start_at": square_api.rfc3339(part.start),
                               "end_at": square_api.rfc3339(part.end - timedelta(milliseconds=1))}}
        window = square_api.order_query("CREATED_AT", span) if entity == "orders" \
            else square_api.customer_query(span)
        return (as_source_record(n, rec) for n, rec in enumerate(self._canonical(entity, None, window), start=1))
