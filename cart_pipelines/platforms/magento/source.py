"""Magento 2 / Adobe Commerce REST source: categories, manufacturers, tax classes, products, customers, orders.

The endpoints, keyset paging in id ranges, delta filters and id-only listings are data in `api.py`, the mapping
in `mapping.py`; what stays here is what Magento does differently:

- auth: `Authorization: Bearer <token>` with an integration access token, or an admin token this connector asks
  `POST /V1/integration/admin/token` for with a username and password; admin tokens expire after 4 hours by
  default, so a 401 after a successful login logs in again once;
- Magento answers both a wrong token and a missing ACL resource with the same 401 body ("The consumer isn't
  authorized to access %resources."), so on a 401 the connector probes the other entities' endpoints: if any
  answers, the token works and the failure is a missing permission naming the ACL resource; if none does, the
  credentials are wrong;
- the store view's configuration (media URL, weight unit) feeds the product mapping, with assumptions when the
  token may not read it; categories are mapped with every category's name at hand (paths need the ancestors);
- backfill slices send `created_at gteq/lt` or `entity_id gteq/lt` filter groups; `id_bounds` asks two
  one-record searches.
Reviews are not in Magento's core REST API and are not offered.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timezone
from typing import Iterator

import requests

from cart_pipelines.platforms.kit.auth import BearerToken
from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import ConnectionProblem, Explainer, HttpClient, HttpSettings, json_body
from cart_pipelines.platforms.kit.rest import Api, RestReader, next_group, search_criteria
from cart_pipelines.platforms.kit.source import Slice, Source, SourceRecord, as_source_record
from cart_pipelines.platforms.magento import mapping
from cart_pipelines.platforms.magento.api import API, LISTED, PROBES, SLICEABLE
from cart_pipelines.platforms.magento.api import CONCURRENCY, PAGE_SIZE, REQUESTS_PER_SECOND, SCOPES, STORE_SCOPE

__all__ = ["CARRIED", "CONCURRENCY", "PAGE_SIZE", "REQUESTS_PER_SECOND", "SCOPES", "STORE_SCOPE", "MagentoSource",
           "magento_message"]

PLATFORM = "Magento"

# Canonical fields carried exactly. Left out, because Magento models them differently: product variants (child
# simple products with their own ids), images (URLs are rebuilt from the media base URL), product URL paths (Magento
# keeps a url_key segment), customer phone (on addresses only) and password hashes (never exposed), manufacturer
# URL keys and timestamps, tax class timestamps, order item ids (numeric item_id, mapped but not the generator's).
CARRIED = {
    "categories": ("source_id", "parent_id", "name", "path", "url_key", "is_visible", "position", "updated_at"),
    "manufacturers": ("source_id", "name"),
    "tax_classes": ("source_id", "name", "rates"),
    "products": ("source_id", "sku", "name", "description_html", "price", "special_price", "weight", "stock",
                 "status", "child_ids", "category_ids", "manufacturer_id", "tax_class_id", "created_at",
                 "updated_at"),
    "customers": ("source_id", "email", "first_name", "last_name", "newsletter", "addresses", "created_at",
                  "updated_at"),
    "orders": ("source_id", "number", "customer_id", "email", "customer_first_name", "customer_last_name", "status",
               "currency", "subtotal", "shipping", "tax", "discount", "grand_total", "billing_address",
               "shipping_address", "created_at", "updated_at"),
}
ENV = {"base_url": "MAGENTO_BASE_URL", "access_token": "MAGENTO_ACCESS_TOKEN", "username": "MAGENTO_USERNAME",
       "password": "MAGENTO_PASSWORD"}
ONE = search_criteria(page_size=1, page=1)


def magento_message(response) -> str | None:
    """Magento's error text with its %placeholders filled from `parameters` (a list for %1.., or a dict)."""
    body = json_body(response)
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return None
    message, params = body["message"], body.get("parameters") or {}
    if isinstance(params, list):
        params = {str(i + 1): v for i, v in enumerate(params)}
    return re.sub(r"%(\w+)", lambda m: str(params.get(m.group(1), m.group(0))), message)


class MagentoReader(RestReader):
    """The kit's reader with Magento's login: an admin token asked for before the first request and once more
    after a 401 (it may have expired), and a 401 that stays told apart by a probe (wrong token or missing ACL)."""

    def __init__(self, api: Api, client: HttpClient, token: BearerToken, username: str = "", password: str = "",
                 verify: bool | str = True):
        super().__init__(api, client, verify=verify)
        self.token, self._username, self._password = token, username, password

    def login(self) -> None:
        response = self.client.request("POST", "V1/integration/admin/token", what="the admin token request",
                                       json={"username": self._username, "password": self._password},
                                       verify=self.verify)
        self.token.token = response.json()

    def get(self, path: str, params: dict | None = None, what: str = "") -> requests.Response:
        if not self.token.token:
            self.login()
        try:
            return super().get(path, params, what)
        except ConnectionProblem as exc:
            if exc.status != 401:
                raise
            if self._password:  # the admin token may have expired: log in once more
                self.login()
                try:
                    return super().get(path, params, what)
                except ConnectionProblem as again:
                    if again.status != 401:
                        raise
                    exc = again
            raise self._explain_401(exc, path) from None

    def json(self, path: str, params: dict | None = None, what: str = ""):
        response = self.get(path, params, what)
        try:
            return response.json()
        except ValueError:
            raise ConnectionProblem("bad_response", f"Magento answered {what or path} with something that is not "
                                    f"JSON (HTTP {response.status_code}); is the URL the shop's address?") from None

    def _explain_401(self, exc: ConnectionProblem, failed_path: str) -> ConnectionProblem:
        """Magento says 401 both for a wrong token and a missing ACL resource: a probe tells them apart."""
        for name in PROBES:
            path = self.api.endpoints[name].path
            if path == failed_path:
                continue
            try:  # the plain request: no login, no explaining again
                super().get(path, None if name == "store_configs" else ONE, "a permission probe").json()
            except (ConnectionProblem, ValueError):
                continue
            said = str(exc).split("The platform said: ")[-1]
            found = re.search(r"access ([\w:, ]+?)\.?$", said)
            resource = found.group(1) if found else "named by the platform"
            return ConnectionProblem("permission", f"{PLATFORM} refused {failed_path} (HTTP 401) although the "
                                     f"token works: the integration or admin role lacks the API resource "
                                     f"{resource}. Grant it under System > Integrations > (the integration) > API, "
                                     f"or in the admin user's role (System > Permissions > User Roles > Role "
                                     f"Resources). The platform said: {said}", 401)
        return exc


class MagentoSource(Source):
    platform = "magento"
    supports_delta = True
    BASE_URL = "base_url"
    CREDENTIALS = (  # an integration's access token, or an admin user's login
        Credential("base_url", ENV["base_url"], "Store URL (or its REST root, …/rest/<store code>)"),
        Credential("access_token", ENV["access_token"], "Integration access token", secret=True, default=""),
        Credential("username", ENV["username"], "Admin username", default=""),
        Credential("password", ENV["password"], "Admin password", secret=True, default=""),
    )

    def __init__(self, client: HttpClient, api_root: str, token: BearerToken, username: str = "",
                 password: str = "", verify: bool | str = True):
        self.client, self.api_root = client, api_root
        # PAGE_SIZE is read here, not when api.py is imported, so a test can shrink the pages of one connector.
        self.api = replace(API, defaults=replace(API.defaults, page_size=PAGE_SIZE))
        self.reader = MagentoReader(self.api, client, token, username, password, verify=verify)
        self._store: dict | None = None
        self._labels: dict[str, dict[str, str]] = {}

    @classmethod
    def connect(cls, base_url: str, credentials: dict, verify=True, settings: HttpSettings | None = None):
        """`base_url`: the shop (https://shop.example) or its REST root with a store code (…/rest/default)."""
        token = credentials.get("access_token") or ""
        username, password = credentials.get("username") or "", credentials.get("password") or ""
        if not token and not (username and password):
            raise ConnectionProblem("credentials", "Magento needs an access_token (integration access token) or "
                                    "an admin username and password.")
        base = base_url.rstrip("/")
        api_root = base if re.search(r"/rest(/[\w-]+)?$", base) else API.url(base)
        fields = ("access_token",) if token else ("username", "password")
        explainer = Explainer(PLATFORM, fields + ("the shop URL",),
                              "grant the integration (System > Integrations) or the admin user's role the API "
                              "resource named below", error_message=magento_message)
        settings = settings or HttpSettings(requests_per_second=REQUESTS_PER_SECOND)
        auth = BearerToken(token)
        client = HttpClient(api_root, explainer, settings=settings, auth=auth, verify=verify)
        return cls(client, api_root, auth, username, password, verify=verify)

    def describe(self) -> str:
        return f"Magento REST API at {self.api_root}"

    def has(self, entity: str) -> bool:
        return entity in CARRIED  # reviews are not in Magento's core REST API

    def store(self) -> dict:
        """The store view's configuration (media URL, weight unit); assumptions if not permitted."""
        if self._store is None:
            try:
                configs = self.reader.all("store_configs")
                m = re.search(r"/rest/([\w-]+)$", self.api_root)
                code = m.group(1) if m and m.group(1) != "all" else "default"
                self._store = next((c for c in configs if c.get("code") == code), configs[0] if configs else {})
            except ConnectionProblem as exc:
                if exc.kind != "permission":
                    raise
                root = re.sub(r"/rest(/[\w-]+)?$", "", self.api_root)
                self._store = {"base_media_url": f"{root}/media/", "weight_unit": "kgs"}
        return self._store

    def check(self) -> str:
        """One cheap authenticated request; a short description of the shop."""
        s = self.store()
        if "code" in s:
            return (f"Magento shop {s.get('base_url')} (store view {s.get('code')}, {s.get('base_currency_code')}, "
                    f"{s.get('locale')}, {s.get('timezone')})")
        total = self.reader.json(self.api.endpoints["products"].path, ONE, "products").get("total_count")
        return f"Magento shop at {self.api_root} with {total} products"

    def ids(self, entity: str) -> Iterator[str] | None:
        """Ids only (`fields=items[id],total_count`, a page a request); manufacturer options come whole anyway."""
        if entity not in LISTED:
            return None
        key = self.api.endpoint(entity).id_field
        pages = self.reader.pages(entity, ids_only=True, what=entity)
        return (str(item[key]) for items in pages for item in items
                if entity != "categories" or mapping.is_store_category(item))

    def records(self, entity: str, updated_since: datetime | None = None) -> Iterator[SourceRecord]:
        if updated_since is not None and updated_since.tzinfo is None:  # naive means UTC, as magento_time reads it
            updated_since = updated_since.replace(tzinfo=timezone.utc)
        return (as_source_record(n, r) for n, r in enumerate(self._canonical(entity, updated_since), start=1))

    def records_in(self, entity: str, part: Slice) -> Iterator[SourceRecord]:
        if entity not in SLICEABLE:
            return super().records_in(entity, part)
        if part.field == "id":
            filters = [("entity_id", part.start, "gteq"), ("entity_id", part.end, "lt")]
        else:
            filters = [("created_at", mapping.magento_time(part.start), "gteq"),
                       ("created_at", mapping.magento_time(part.end), "lt")]
        params = search_criteria(filters, group=next_group(self.api.endpoint(entity).params))
        return (as_source_record(n, r) for n, r in enumerate(self._canonical(entity, None, params), start=1))

    def id_bounds(self, entity: str) -> tuple[int, int | None, int | None]:
        """Two one-record searches by entity_id: the first page says the count and lowest id, page total_count the
        highest (Magento pages past a one-record page size like any other)."""
        if entity not in SLICEABLE:
            return super().id_bounds(entity)
        ep = self.api.endpoint(entity)
        first = self.reader.json(ep.path, search_criteria(page_size=1, page=1, sort="entity_id"), entity)
        total, items = int(first.get("total_count") or 0), first.get("items") or []
        if not items:
            return 0, None, None
        last = self.reader.json(ep.path, search_criteria(page_size=1, page=total, sort="entity_id"),
                                entity).get("items") or items
        return total, int(items[0][ep.id_field]), int(last[-1][ep.id_field])

    def _option_labels(self, code: str) -> dict[str, str]:
        """value -> label of a configurable option attribute, read once per attribute code (a shop has a few)."""
        if code not in self._labels:
            try:
                options = self.reader.all("attribute_options", parent={"code": code})
            except ConnectionProblem as exc:
                if exc.kind != "not_found":
                    raise
                options = []
            self._labels[code] = {str(o.get("value")): o.get("label") for o in options if str(o.get("value") or "")}
        return self._labels[code]

    def _canonical(self, entity: str, since: datetime | None, params: dict | None = None) -> Iterator[dict]:
        if entity not in CARRIED:
            raise ValueError(f"Magento offers no {entity!r} through its REST API")
        if entity == "categories":  # every name first (id and name only): a changed category's path needs them all
            names = {str(c["id"]): c.get("name")
                     for c in self.reader.all("categories", {"fields": "items[id,name],total_count"})}
            args: tuple = (names,)
        elif entity == "tax_classes":
            args = (mapping.rates_by_class(self.reader.all("tax_rates"), self.reader.all("tax_rules")),)
        elif entity == "products":
            args = (*mapping.product_context(self.store()), self._option_labels)
        else:
            args = ()
        yield from (r for r in self.reader.records(entity, params, since, args=args) if r is not None)
