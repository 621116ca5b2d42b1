"""Squarespace source: the Commerce APIs at `https://api.squarespace.com`, read-only, with a Squarespace API key.

An API key (Settings → Advanced → Developer API Keys → Create Key, docs/platforms/squarespace.md) is sent as
`Authorization: Bearer <key>`, with a User-Agent naming this tool (Squarespace refuses requests without one). The
endpoints, cursor paging and delta filters are data in `api.py`, the mapping in `mapping.py`; what stays here:

- which of Squarespace's error objects (`{"type","subtype","message","details","contextId"}`) mean a wrong key, a
  key without a permission, or a site whose plan has expired, explained in the key's own permission names;
- pacing under the documented limit (300 requests a minute; past it every request answers 429 for a one-minute
  cool-down, with no Retry-After): 4 requests a second, so a run never trips it, and enough retries with
  backoff to ride out a whole cool-down when another app on the site shares the budget;
- what Squarespace lacks: manufacturers, tax classes and reviews (no API at all); categories are Store Pages (flat;
  the categories inside a page are not in the API); no backfill slices (no created-date or id filters).
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterator

import requests

from cart_pipelines.platforms.kit.auth import BearerToken
from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import ConnectionProblem, Explainer, HttpClient, HttpSettings, safe_url
from cart_pipelines.platforms.kit.http import json_body
from cart_pipelines.platforms.kit.rest import RestReader
from cart_pipelines.platforms.kit.source import ApiSource, SourceRecord, as_source_record
from cart_pipelines.platforms.squarespace.api import API as SQ_API
from cart_pipelines.platforms.squarespace.api import PAGE_SIZE, PRODUCT_TYPES
from cart_pipelines.platforms.squarespace.mapping import sq_error, store_page

__all__ = ["CARRIED", "PAGE_SIZE", "SCOPES", "SquarespaceSource", "SquarespaceExplainer"]

BASE_URL = "https://api.squarespace.com"
RATE = 4.0  # requests a second: under 300 a minute in every 60-second window, whatever the client's bursts
LACKS = {"manufacturers": "Squarespace has no brands or manufacturers",
         "tax_classes": "Squarespace computes tax from the site's tax settings; there are no tax classes in its API",
         "reviews": "Squarespace has no product reviews (a third-party app's, if any, are not in its API)"}

# The API key's permissions as the key editor lists them (Read Only is enough), per entity.
SCOPES = {"categories": "Products", "products": "Products", "customers": "Profiles", "orders": "Orders"}
_PERMISSION_OF = {"store pages": "Products", "products": "Products", "profiles": "Profiles", "orders": "Orders"}

# Canonical fields that come back exactly. Left out, and why (docs/platforms/squarespace.md): categories' parent,
# path, url key and position (store pages are flat, with a title and an enabled flag only); product SKU and stock
# of products with variants (Squarespace has them per variant only), url_key (one slug, not a path), category_ids
# (a product is on exactly one store page), manufacturer and tax class (none); customer phone and addresses (one
# approximate address), password (never exposed), updated_at (profiles have no modification time); order status
# (three fulfilment states), names and addresses (no company), item tax (none per line).
CARRIED = {
    "categories": ("source_id", "name", "is_visible"),
    "products": ("source_id", "name", "description_html", "price", "special_price", "weight", "status", "variants",
                 "images", "created_at", "updated_at"),
    "customers": ("source_id", "email", "first_name", "last_name", "newsletter", "created_at"),
    "orders": ("source_id", "number", "customer_id", "email", "currency", "subtotal", "shipping", "tax", "discount",
               "grand_total", "created_at", "updated_at"),
}


class SquarespaceExplainer(Explainer):
    """Squarespace's own answers: 401 with a bad key; 401/403 with subtype MISSING_SCOPE or FORBIDDEN_RESOURCE for a
    key without the permission; type WEBSITE_EXPIRED when the site's plan has lapsed."""

    def problem(self, response: requests.Response, what: str) -> ConnectionProblem:
        body = _error(response)
        status, said = response.status_code, sq_error(response)
        detail = f" Squarespace said: {said}" if said else ""
        if body.get("type") == "WEBSITE_EXPIRED":
            return ConnectionProblem("permission", f"Squarespace refused {what} (HTTP {status}): the site's plan has "
                                     f"expired; renew it (Settings → Billing) and run again.{detail}", status)
        if status in (401, 403) and (status == 403 or body.get("subtype") in ("MISSING_SCOPE", "FORBIDDEN_RESOURCE")):
            permission = _PERMISSION_OF.get(what.split(" of ")[0], "Products, Orders and Profiles")
            return ConnectionProblem("permission", f"Squarespace refused {what} (HTTP {status}): the API key works "
                                     f"but lacks the '{permission}' permission — {self.permission_hint}.{detail}",
                                     status)
        if status == 429:
            return ConnectionProblem("rate_limited", f"Squarespace kept answering 429 Too Many Requests for {what}: "
                                     f"the site's 300 requests a minute are used up (each excess starts a one-minute "
                                     f"cool-down); stop other apps using this site's API keys, or run later.{detail}",
                                     status)
        return super().problem(response, what)


def _error(response: requests.Response) -> dict:
    body = json_body(response)
    return body if isinstance(body, dict) else {}


EXPLAINER = dict(
    platform="Squarespace", credential_fields=("API Key",),
    permission_hint="edit the key under Settings → Advanced → Developer API Keys and give it Read Only (or Read and "
                    "Write) on Products, Orders and Profiles; a key's permissions cannot be widened later, so create "
                    "a new key if the option is greyed out",
    error_message=sq_error,
)


class SquarespaceSource(ApiSource):
    platform = "squarespace"
    supports_delta = True
    BASE_URL = "api_url"
    CREDENTIALS = (
        Credential("api_url", "SQUARESPACE_API_URL", "API URL", default=BASE_URL),
        Credential("api_key", "SQUARESPACE_API_KEY", "API Key", secret=True),
    )

    def __init__(self, api_url: str, credentials: dict, verify=True, settings: HttpSettings | None = None):
        self.api_url = (api_url or BASE_URL).rstrip("/")
        settings = settings or HttpSettings(requests_per_second=RATE, max_attempts=12)
        self.client = HttpClient(SQ_API.url(self.api_url), SquarespaceExplainer(**EXPLAINER), settings=settings,
                                 auth=BearerToken(credentials["api_key"]), verify=verify)
        self.reader = RestReader(SQ_API, self.client, verify=verify)

    def describe(self) -> str:
        return f"Squarespace site at {safe_url(self.api_url)} (Commerce APIs: products v2, orders and profiles 1.0)"

    def check(self) -> str:
        body = self.reader.get(SQ_API.endpoints["products"].path, {"type": PRODUCT_TYPES}, "the connection test").json()
        more = "more than 50" if (body.get("pagination") or {}).get("hasNextPage") else len(body.get("products") or [])
        return f"Squarespace site: {more} products readable with this API key"

    def has(self, entity: str) -> bool:
        return entity not in LACKS

    def records(self, entity: str, updated_since: datetime | None = None) -> Iterator[SourceRecord]:
        if not self.has(entity):
            return iter(())
        if entity not in SQ_API.endpoints:
            raise ValueError(f"Squarespace has no entity {entity!r}")
        if entity == "categories":
            rows = (store_page(p, n) for n, p in enumerate(self.reader.all("categories"), start=1))
        else:
            rows = self.reader.records(entity, since=updated_since)
        return (as_source_record(n, rec) for n, rec in enumerate(rows, start=1))

    def ids(self, entity: str) -> Iterator[str] | None:
        """Squarespace has no id-only listing: the ids come from the full lists (50 records a request, as a full
        read costs), which is still what finding deletions needs."""
        return self.reader.ids(entity) if entity in SQ_API.endpoints else None
