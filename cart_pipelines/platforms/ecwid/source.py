"""Ecwid source: the REST API v3 under `https://app.ecwid.com/api/v3/{storeId}/`, read-only.

Access (docs/platforms/ecwid.md): the store's ID and an access token — the secret token (`secret_...`) of a custom
app, or the one the "Ecwid API Playground" app gives in its **Personal Collection URL** (a Postman collection that
holds the store ID and token; seed 002 asks for that URL and the **Store URL**). The API needs a paid Ecwid plan.

The endpoints, paging and filters are data in `api.py`, the mapping in `mapping.py`; what stays here is what Ecwid
does differently:
- a wrong token is answered 403, like a missing scope: the message tells them apart ("doesn't have `<scope>`
  scope" is a permission, anything else the credentials); 402 is a plan without API access;
- tax classes are the store's manual taxes in the store profile, their zones turned into countries; the weight
  unit and the currency (orders carry none) are the store's, from the same profile;
- Ecwid's sample products (`isSampleProduct`) are left out: the merchant never made them;
- 600 requests a minute per token: paced at 9 a second, a 429's Retry-After waited in full;
- backfill slices: products, customers, orders and reviews by created date (`createdFrom`/`createdTo`, inclusive
  UNIX timestamps); no id-range filter exists.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Iterator

import requests

from cart_pipelines.platforms.ecwid import mapping
from cart_pipelines.platforms.ecwid.api import API as ECWID_API
from cart_pipelines.platforms.ecwid.api import CONCURRENCY, PAGE_SIZE, REQUESTS_PER_SECOND
from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import ConnectionProblem, Explainer, HttpClient, HttpSettings, safe_url
from cart_pipelines.platforms.kit.http import json_body
from cart_pipelines.platforms.kit.rest import RestReader
from cart_pipelines.platforms.kit.source import ApiSource, Slice, SliceNotPossible, SourceRecord, as_source_record, \
    read_record

__all__ = ["CARRIED", "CONCURRENCY", "PAGE_SIZE", "SCOPES", "NON_SECRET", "EcwidSource", "EcwidExplainer",
           "collection_credentials"]

SCOPES = {"categories": "read_catalog", "manufacturers": "read_brands", "tax_classes": "read_store_profile",
          "products": "read_catalog", "customers": "read_customers", "orders": "read_orders",
          "reviews": "read_reviews"}
NON_SECRET = ("store_id", "store_url")  # a wrong Store ID is a wrong address, not a wrong secret

# Canonical fields that come back exactly. Left out, and why (docs/platforms/ecwid.md): brands (manufacturers) are
# identified by name, not id, so products' manufacturer_id is the brand name; category and product url_key (Ecwid
# slugs are flat, one segment); category dates (none); product images' alt text (Ecwid images have none),
# variants (Ecwid's own combination ids); customer phone and addresses (one billing person + an address book);
# order currency (Ecwid orders carry none: the store's currency is used), items (Ecwid's own item ids), names
# and addresses; review titles (none).
CARRIED = {
    "categories": ("source_id", "parent_id", "name", "path", "is_visible", "position"),
    "tax_classes": ("source_id", "name", "rates"),
    "products": ("source_id", "sku", "name", "description_html", "price", "special_price", "weight", "stock",
                 "status", "category_ids", "tax_class_id", "created_at", "updated_at"),
    "customers": ("source_id", "email", "first_name", "last_name", "newsletter", "created_at", "updated_at"),
    "orders": ("source_id", "number", "customer_id", "email", "status", "subtotal", "shipping", "tax", "discount",
               "grand_total", "created_at", "updated_at"),
    "reviews": ("source_id", "product_id", "customer_id", "rating", "text", "status", "created_at", "updated_at"),
}
DATED = ("products", "customers", "orders", "reviews")


def ecwid_error(response: requests.Response) -> str | None:
    body = json_body(response)
    return str(body.get("errorMessage") or "") or None if isinstance(body, dict) else None


class EcwidExplainer(Explainer):
    """Ecwid answers a wrong token and a missing scope both with 403; the message says which."""

    def problem(self, response: requests.Response, what: str) -> ConnectionProblem:
        message = ecwid_error(response) or ""
        if response.status_code == 403 and "scope" not in message:
            return ConnectionProblem("credentials", f"Ecwid rejected the credentials (HTTP 403) for {what}: check "
                                     f"the Store ID and Access Token (or the Personal Collection URL) for typos, and "
                                     f"that the token belongs to this store. The platform said: {message}", 403)
        if response.status_code == 402:
            return ConnectionProblem("permission", f"Ecwid refused {what} (HTTP 402): the store's plan has no API "
                                     f"access — Ecwid's REST API needs a paid plan. The platform said: {message}",
                                     402)
        return super().problem(response, what)


EXPLAINER = dict(
    platform="Ecwid", credential_fields=("Store ID", "Access Token"),
    permission_hint="give the app the access scopes read_store_profile, read_catalog, read_brands, "
                    "read_customers, read_orders and read_reviews (Ecwid admin → Apps → My apps → the app's "
                    "details), or use the API Playground's token, which has them",
    error_message=ecwid_error,
)


def collection_credentials(collection: dict) -> tuple[str | None, str | None]:
    """(store ID, token) from a Postman collection (v2.1): its variables, its bearer auth, or its requests."""
    store_id = token = None
    for var in collection.get("variable") or []:
        key, value = str(var.get("key") or "").lower(), str(var.get("value") or "")
        if re.fullmatch(r"store_?id", key) and value.isdigit():
            store_id = value
        elif "token" in key and value:
            token = value
    auth = collection.get("auth") or {}
    token = token or next((str(a.get("value")) for a in auth.get("bearer") or [] if a.get("key") == "token"), None)
    stack = list(collection.get("item") or [])
    while stack and not store_id:
        item = stack.pop()
        stack.extend(item.get("item") or [])
        url = (item.get("request") or {}).get("url")
        raw = url.get("raw") if isinstance(url, dict) else url
        found = re.search(r"/api/v3/(\d+)(/|$)", str(raw or ""))
        store_id = found.group(1) if found else None
    return store_id, token


class EcwidSource(ApiSource):
    platform = "ecwid"
    supports_delta = True
    BASE_URL = "api_url"
    CREDENTIALS = (
        Credential("api_url", "ECWID_API_URL", "API address", default="https://app.ecwid.com"),
        Credential("store_url", "ECWID_STORE_URL", "Store URL", default=""),
        Credential("personal_collection_url", "ECWID_PERSONAL_COLLECTION_URL", "Personal Collection URL",
                   secret=True, default=""),
        Credential("store_id", "ECWID_STORE_ID", "Store ID", default=""),
        Credential("access_token", "ECWID_ACCESS_TOKEN", "Access Token", secret=True, default=""),
    )

    def __init__(self, api_url: str, credentials: dict, verify=True, settings: HttpSettings | None = None):
        self.api_url = (api_url or "https://app.ecwid.com").rstrip("/")
        self.store_url = credentials.get("store_url") or ""
        store_id, token = str(credentials.get("store_id") or ""), credentials.get("access_token") or ""
        settings = settings or HttpSettings(requests_per_second=REQUESTS_PER_SECOND)
        if not (store_id and token) and credentials.get("personal_collection_url"):
            store_id, token = self._from_collection(credentials["personal_collection_url"], verify, settings,
                                                    store_id, token)
        if not (store_id and token):
            raise ConnectionProblem("credentials", "Ecwid needs the Store ID and Access Token, or the Personal "
                                    "Collection URL of the Ecwid API Playground (docs/platforms/ecwid.md)")
        self.store_id = store_id
        self.client = HttpClient(f"{self.api_url}/api/v3/{store_id}", EcwidExplainer(**EXPLAINER),
                                 settings=settings, headers={"Authorization": f"Bearer {token}"}, verify=verify)
        self.reader = RestReader(ECWID_API, self.client, verify=verify)
        self._profile: dict | None = None

    @staticmethod
    def _from_collection(url: str, verify, settings, store_id: str, token: str) -> tuple[str, str]:
        client = HttpClient(url, Explainer("Ecwid API Playground", ("Personal Collection URL",)), settings=settings,
                            verify=verify)
        body = client.get_json(url, what="the Personal Collection URL")
        found_id, found_token = collection_credentials(body if isinstance(body, dict) else {})
        return store_id or found_id or "", token or found_token or ""

    def describe(self) -> str:
        return f"Ecwid store {self.store_id} ({safe_url(self.store_url) if self.store_url else 'REST API v3'})"

    def profile(self) -> dict:
        if self._profile is None:
            self._profile = self.reader.get("profile", what="the store profile").json()
        return self._profile

    def check(self) -> str:
        body = self.reader.get("products", {"limit": 1, "responseFields": "total"}, "the connection test").json()
        name = (self.profile().get("settings") or {}).get("storeName") or self.store_id
        return f"Ecwid store {name}: {body.get('total', '?')} products"

    def _kg_per_unit(self) -> Decimal:
        unit = (self.profile().get("formatsAndUnits") or {}).get("weightUnit")
        return mapping.WEIGHT_UNITS.get(unit, Decimal(1))

    def records(self, entity: str, updated_since: datetime | None = None) -> Iterator[SourceRecord]:
        return (as_source_record(n, r) for n, r in enumerate(self._canonical(entity, updated_since), start=1))

    def records_in(self, entity: str, part: Slice) -> Iterator[SourceRecord]:
        """By created date only: `createdFrom`/`createdTo` are inclusive UNIX seconds, so the window ends one
        second before the slice's end."""
        if entity not in DATED or part.field != "created_at":
            raise SliceNotPossible(f"Ecwid's REST API has no {'id-range' if part.field == 'id' else 'created-date'} "
                                   f"filter for {entity}; backfill Ecwid {', '.join(DATED)} by month, and migrate "
                                   f"{entity} with full_migration")
        window = {"createdFrom": int(part.start.timestamp()),
                  "createdTo": int((part.end - timedelta(seconds=1)).timestamp())}
        return (as_source_record(n, r) for n, r in enumerate(self._canonical(entity, None, window), start=1))

    def _canonical(self, entity: str, since: datetime | None, params: dict | None = None) -> Iterator[dict]:
        if entity == "tax_classes":
            profile = self.profile()
            zones = {str(z.get("id")): z for z in profile.get("zones") or []}
            for tax in (profile.get("taxSettings") or {}).get("taxes") or []:
                yield read_record("Ecwid", entity, mapping.tax_class, tax, zones)
        elif entity == "categories":  # the whole tree first, for paths
            found = self.reader.all("categories")
            tree = {c["id"]: c for c in found if isinstance(c, dict) and "id" in c}
            yield from (read_record("Ecwid", entity, mapping.category, c, tree) for c in found)
        elif entity == "products":
            kg = self._kg_per_unit()
            for page in self.reader.pages("products", params, since):
                yield from (read_record("Ecwid", entity, mapping.product, p, kg) for p in page
                            if not (isinstance(p, dict) and p.get("isSampleProduct")))
        elif entity == "orders":
            currency = (self.profile().get("formatsAndUnits") or {}).get("currency")
            for page in self.reader.pages("orders", params, since):
                yield from (read_record("Ecwid", entity, mapping.order, o, currency) for o in page)
        elif entity in ECWID_API.endpoints:
            yield from self.reader.records(entity, params, since)
        else:
            raise ValueError(f"Ecwid has no entity {entity!r}")

    def ids(self, entity: str) -> Iterator[str] | None:
        """Id-only listings for finding deletions (`responseFields=total,items(id)`, 100 a request)."""
        if entity == "tax_classes":
            return (str(t["id"]) for t in (self.profile().get("taxSettings") or {}).get("taxes") or [])
        field = ECWID_API.endpoint(entity).id_field or "id"
        pages = self.reader.pages(entity, {"responseFields": f"total,items({field},isSampleProduct)"},
                                  what=f"{entity} ids")
        return (str(r[field]) for page in pages for r in page if not r.get("isSampleProduct"))
