"""Wix source: Stores (Catalog V1 or V3, whichever the site runs), eCom orders, contacts, reviews and tax groups at
`https://www.wixapis.com`, read-only, with an API key.

An API key (API Keys Manager in the Wix account, docs/platforms/wix.md) goes in `Authorization` as it is, with the
site's ID in `wix-site-id` (site-level calls). The ID is read from the Site URL field: the site dashboard's address
(`https://manage.wix.com/dashboard/<site-id>/...`) or the bare ID. Endpoints, paging and delta filters are data in
`api.py`, the mapping in `mapping.py`; what stays here:

- which catalog the site runs: `GET stores/v3/provision/version` (V1_CATALOG, V3_CATALOG, STORES_NOT_INSTALLED), asked
  once; when that call is refused, a one-product V3 query decides (a V1 site answers it 428);
- V3 variants read per page of products from the Read-Only Variants API (product queries return none);
- V1 brands are strings on products: manufacturers are the distinct names;
- Wix's error bodies (`{message, details: {applicationError: {code, description}}}`) explained: a wrong key (401), a
  key without a permission (403, named in the key's own permission words), a Site URL naming a site the key cannot
  reach, the other catalog's API (428), and the rate limit (429);
- pacing under the documented 200 requests a minute per site (no rate headers are documented): 3 a second.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Iterator

import requests

from cart_pipelines.platforms.kit.auth import HeaderKey
from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import ConnectionProblem, Explainer, HttpClient, HttpSettings, safe_url
from cart_pipelines.platforms.kit.http import json_body
from cart_pipelines.platforms.kit.rest import RestReader
from cart_pipelines.platforms.kit.source import ApiSource, Slice, SliceNotPossible, SourceRecord, as_source_record, \
    read_record
from cart_pipelines.platforms.wix import mapping
from cart_pipelines.platforms.wix.api import API as WIX_API
from cart_pipelines.platforms.wix.api import ORDER_STATUSES, PAGE_SIZE, iso

__all__ = ["CARRIED", "CARRIED_V1", "PAGE_SIZE", "SCOPES", "WixSource", "WixExplainer", "site_id_of"]

BASE_URL = "https://www.wixapis.com"
RATE = 3.0  # requests a second: 180 a minute, under Wix's 200 per site and minute
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

# The API key's permissions as the API Keys Manager lists them, per entity.
SCOPES = {"categories": "Read Products", "manufacturers": "Read Products", "products": "Read Products",
          "tax_classes": "Read Tax Groups", "customers": "Read Contacts", "orders": "Read Orders",
          "reviews": "Read Reviews"}
_PERMISSION_OF = {"collections": "Read Products", "categories": "Read Products", "brands": "Read Products",
                  "products": "Read Products", "variants": "Read Products", "tax groups": "Read Tax Groups",
                  "contacts": "Read Contacts", "orders": "Read Orders", "reviews": "Read Reviews"}

# Canonical fields that come back exactly from a Catalog V3 site (new sites), and why the rest do not
# (docs/platforms/wix.md): category url keys (one slug, not a path); product SKU of products with options (V3 keeps
# SKUs per variant), stock and variants' stock (V3 keeps quantities in the Inventory Items API, not read), url_key
# (a slug); customer addresses (contact addresses carry no names or phones) and passwords (never exposed); tax class
# rates (a tax group has a name only); review-less fields of guests.
CARRIED = {
    "categories": ("source_id", "parent_id", "name", "path", "is_visible", "position", "updated_at"),
    "manufacturers": ("source_id", "name", "updated_at"),
    "tax_classes": ("source_id", "name", "updated_at"),
    "products": ("source_id", "name", "description_html", "price", "special_price", "weight", "status",
                 "category_ids", "manufacturer_id", "tax_class_id", "images", "created_at", "updated_at"),
    "customers": ("source_id", "email", "first_name", "last_name", "phone", "newsletter", "created_at", "updated_at"),
    "orders": ("source_id", "number", "customer_id", "email", "status", "currency", "subtotal", "shipping", "tax",
               "discount", "grand_total", "items", "billing_address", "shipping_address", "created_at", "updated_at"),
    "reviews": ("source_id", "product_id", "customer_id", "rating", "title", "text", "status", "created_at",
                "updated_at"),
}
# On a Catalog V1 site: collections are flat (no parent, path or order) and undated; products carry their variants
# with stock, but no tax group and only a brand name (manufacturers are those names, not ids); product-level SKU and
# stock of products with options are empty or summed.
CARRIED_V1 = {
    **{k: v for k, v in CARRIED.items() if k not in ("categories", "manufacturers", "products")},
    "categories": ("source_id", "name", "is_visible"),
    "products": ("source_id", "name", "description_html", "price", "special_price", "weight", "status",
                 "category_ids", "variants", "images", "created_at", "updated_at"),
}


def site_id_of(site_url: str) -> str:
    """The site ID from the dashboard's address (or the ID itself, or any text when it holds no GUID)."""
    found = GUID.search(site_url or "")
    return found.group(0) if found else (site_url or "").strip()


class WixExplainer(Explainer):
    """Wix's answers: 401 for a wrong key, 403 for a key without a permission (or without access to the site), 404
    SITE_NOT_FOUND for a site ID the key's account does not hold, 428 for the other catalog's API, 429 past the
    rate limit."""

    def problem(self, response: requests.Response, what: str) -> ConnectionProblem:
        status, said = response.status_code, mapping.wix_error(response)
        code = _code(response)
        detail = f" Wix said: {said}" if said else ""
        if code == "SITE_NOT_FOUND" or (status in (403, 404) and "site" in (said or "").lower()
                                        and "permission" not in (said or "").lower()):
            return ConnectionProblem("credentials", f"Wix did not find the site for {what} (HTTP {status}): check "
                                     f"the Site URL (the site dashboard's address, which holds the site ID) for "
                                     f"typos, and that the API key was made in the account that owns the site."
                                     f"{detail}", status)
        if status == 403:
            permission = _PERMISSION_OF.get(what.split(" of ")[0], "Read Products, Read Orders, Read Contacts")
            return ConnectionProblem("permission", f"Wix refused {what} (HTTP 403): the API key works but lacks the "
                                     f"'{permission}' permission — {self.permission_hint}.{detail}", status)
        if status == 428:
            return ConnectionProblem("bad_request", f"Wix refused {what} (HTTP 428): the site runs the other Stores "
                                     f"catalog version; run again so the catalog version is detected anew.{detail}",
                                     status)
        if status == 429:
            return ConnectionProblem("rate_limited", f"Wix kept answering 429 Too Many Requests for {what}: the "
                                     f"site's 200 requests a minute are used up (other apps or keys share them); "
                                     f"run again later.{detail}", status)
        return super().problem(response, what)


def _code(response: requests.Response) -> str | None:
    body = json_body(response)
    return (((body or {}).get("details") or {}).get("applicationError") or {}).get("code") \
        if isinstance(body, dict) else None


EXPLAINER = dict(
    platform="Wix", credential_fields=("API Key", "Site URL"),
    permission_hint="edit the key in the API Keys Manager (Wix account → Settings → API Keys) and tick the read "
                    "permissions under Wix Stores (Read Products), Wix eCommerce (Read Orders, Read Tax Groups), "
                    "Contacts & Members (Read Contacts) and Wix Reviews (Read Reviews)",
    error_message=mapping.wix_error,
)


class WixSource(ApiSource):
    platform = "wix"
    supports_delta = True
    BASE_URL = "api_url"
    CREDENTIALS = (
        Credential("api_url", "WIX_CONNECTION_URL", "Connection URL", default=BASE_URL),
        Credential("site_url", "WIX_SITE_URL", "Site URL"),
        Credential("api_key", "WIX_API_KEY", "API Key", secret=True),
    )

    def __init__(self, api_url: str, credentials: dict, verify=True, settings: HttpSettings | None = None):
        self.api_url = (api_url or BASE_URL).rstrip("/")
        self.site_id = site_id_of(credentials["site_url"])
        settings = settings or HttpSettings(requests_per_second=RATE, max_attempts=12)
        self.client = HttpClient(self.api_url, WixExplainer(**EXPLAINER), settings=settings, verify=verify,
                                 auth=HeaderKey({"Authorization": credentials["api_key"], "wix-site-id": self.site_id}))
        self.reader = RestReader(WIX_API, self.client, verify=verify)
        self._catalog: str | None = None

    def describe(self) -> str:
        return f"Wix site {self.site_id} at {safe_url(self.api_url)} (Stores catalog {self._catalog or 'not yet asked'})"

    # --- the catalog version -----------------------------------------------------------------------------------------
    @property
    def catalog(self) -> str:
        """V1_CATALOG, V3_CATALOG or STORES_NOT_INSTALLED; asked once (a site's version never goes back)."""
        if self._catalog is None:
            try:
                answer = self.reader.get(WIX_API.endpoints["version"].path, what="the catalog version").json()
                self._catalog = answer.get("catalogVersion") or "V1_CATALOG"
            except ConnectionProblem as exc:
                if exc.kind not in ("permission", "not_found"):
                    raise
                self._catalog = self._probe()
        return self._catalog

    def _probe(self) -> str:
        """Without the version endpoint: a V1 site answers a V3 query 428."""
        try:
            self.reader.post(WIX_API.endpoints["products_v3"].path, {"search": {"cursorPaging": {"limit": 1}}},
                             "products")
            return "V3_CATALOG"
        except ConnectionProblem as exc:
            if exc.status == 428:
                return "V1_CATALOG"
            raise

    def check(self) -> str:
        catalog = self.catalog
        if catalog == "STORES_NOT_INSTALLED":
            return f"Wix site {self.site_id}: Wix Stores is not installed (no products); orders and contacts readable"
        name = "products_v1" if catalog == "V1_CATALOG" else "products_v3"
        first = next(iter(self.reader.pages(name, {"query.paging.limit" if catalog == "V1_CATALOG"
                                                   else "search.cursorPaging.limit": 1})), [])
        return f"Wix site {self.site_id} (Stores {catalog}): products readable with this API key ({len(first)} read)"

    # --- records -----------------------------------------------------------------------------------------------------
    def records(self, entity: str, updated_since: datetime | None = None) -> Iterator[SourceRecord]:
        return (as_source_record(n, rec) for n, rec in enumerate(self._canonical(entity, updated_since), start=1))

    def _canonical(self, entity: str, since: datetime | None, params: dict | None = None) -> Iterator[dict]:
        if entity not in SCOPES:
            raise ValueError(f"Wix has no entity {entity!r}")
        if entity in ("categories", "manufacturers", "products"):
            if self.catalog == "STORES_NOT_INSTALLED":
                return
            yield from (self._v1 if self.catalog == "V1_CATALOG" else self._v3)(entity, since)
        else:
            yield from self.reader.records(entity, params, since)

    def _v1(self, entity: str, since: datetime | None) -> Iterator[dict]:
        if entity == "categories":
            for page in self.reader.pages("collections_v1"):
                yield from (read_record("Wix", entity, mapping.collection, c) for c in page
                            if c.get("id") != mapping.ALL_PRODUCTS)
        elif entity == "manufacturers":  # names only: every product is read for them
            names = dict.fromkeys(p.get("brand") for page in self.reader.pages("products_v1", since=since)
                                  for p in page if p.get("brand"))
            yield from (mapping.brand_name(n) for n in names)
        else:
            for page in self.reader.pages("products_v1", since=since):
                yield from (read_record("Wix", entity, mapping.product_v1, p) for p in page)

    def _v3(self, entity: str, since: datetime | None) -> Iterator[dict]:
        if entity == "categories":  # the whole tree first, for paths
            yield from mapping.categories(self.reader.all("categories_v3"))
        elif entity == "manufacturers":
            yield from self.reader.records("brands_v3")
        else:
            for page in self.reader.pages("products_v3", since=since):
                wanted = [p["id"] for p in page if isinstance(p, dict) and p.get("id")]
                by_product: dict[str, list[dict]] = {}
                if wanted:
                    for v in self.reader.all("variants_v3", {"query.filter": {"productData.productId": {"$in": wanted}}}):
                        by_product.setdefault((v.get("productData") or {}).get("productId"), []).append(v)
                yield from (read_record("Wix", entity, mapping.product_v3, p, by_product.get(p.get("id"), []))
                            for p in page)

    def records_in(self, entity: str, part: Slice) -> Iterator[SourceRecord]:
        """Orders by created date (`createdDate` `$gte`/`$lt` in the search filter); Wix ids are GUIDs, so there are
        no id ranges, and the other lists have no created-date filter worth a backfill."""
        if entity != "orders" or part.field != "created_at":
            raise SliceNotPossible(f"Wix has no {'id-range' if part.field == 'id' else 'created-date'} filter for "
                                   f"{entity} (ids are GUIDs); backfill Wix orders by month and migrate {entity} "
                                   f"with full_migration")
        window = {"search.filter": {"status": {"$in": ORDER_STATUSES},
                                    "createdDate": {"$gte": iso(part.start), "$lt": iso(part.end)}}}
        return (as_source_record(n, rec) for n, rec in enumerate(self._canonical(entity, None, window), start=1))

    def ids(self, entity: str) -> Iterator[str] | None:
        """Wix has no id-only listing: the ids come from the lists themselves (a full read's requests)."""
        if entity in ("categories", "manufacturers", "products"):
            return (r["source_id"] for r in self._canonical(entity, None) if r.get("source_id"))
        return self.reader.ids(entity)
