"""Magento 2 / Adobe Commerce REST source: categories, manufacturers, tax classes, products, customers, orders.

Endpoints are `{shop}/rest[/{store_code}]/V1/...`, authorised with `Authorization: Bearer <token>`: an integration
access token, or an admin token this connector requests from `POST /V1/integration/admin/token` with a username and
password (admin tokens expire after 4 hours by default, so a 401 after a successful login logs in again once).

Lists are searchCriteria searches answering `{items, search_criteria, total_count}`, read by keyset on entity_id
(`entity_id gt <last id>`, always currentPage 1) so records added or deleted while reading are neither missed nor
repeated, in id ranges read in parallel (see `keyset.py`); numbered pages would shift, and what a page past the last
returns changed between versions (before 2.4.0 the last page again, magento/magento2#3787, #8099; since #26988 an
empty page).
Delta runs send `updated_at gt <UTC "Y-m-d H:i:s">`; a backfill slice sends `created_at gteq/lt` or `entity_id
gteq/lt` filter groups (each group is ANDed, as Magento documents); tax classes and manufacturer options carry no timestamp and are
always read whole (they are small).

Magento answers both a wrong token and a missing ACL resource with the same 401 body ("The consumer isn't authorized
to access %resources."), so on a 401 the connector probes the other entities' endpoints: if any answers, the token
works and the failure is a missing permission naming the ACL resource; if none does, the credentials are wrong.
Reviews are not in Magento's core REST API and are not offered.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Callable, Iterator

from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import (
    ConnectionProblem,
    Explainer,
    HttpClient,
    HttpSettings,
    LoopGuard,
)
from cart_pipelines.platforms.kit.keyset import id_range_pages
from cart_pipelines.platforms.kit.source import Slice, Source, SourceRecord

PLATFORM = "Magento"
PAGE_SIZE = 300  # "Maximum Page Size" default once Web API input limits are enabled (2.4.7+); accepted everywhere
CONCURRENCY = 4
REQUESTS_PER_SECOND = 10.0  # Magento itself has no REST limit; stay politely under typical host/CDN limits

# The ACL resource each entity's endpoint requires (app/code/Magento/*/etc/webapi.xml).
SCOPES = {
    "categories": "Magento_Catalog::categories",
    "manufacturers": "Magento_Catalog::attributes_attributes",
    "tax_classes": "Magento_Tax::manage_tax",
    "products": "Magento_Catalog::products",
    "customers": "Magento_Customer::customer",
    "orders": "Magento_Sales::actions_view",
}
STORE_SCOPE = "Magento_Backend::store"  # store/storeConfigs: connection test, media URL, weight unit

# Canonical fields carried exactly. Left out, because Magento models them differently: product variants (child
# simple products with their own ids), images (URLs are rebuilt from the media base URL), product URL paths (Magento
# keeps a url_key segment), customer phone (on addresses only) and password hashes (never exposed), manufacturer
# URL keys and timestamps, tax class timestamps, order item ids (numeric item_id, mapped but not the generator's).
CARRIED = {
    "categories": ("source_id", "parent_id", "name", "path", "url_key", "is_visible", "position", "updated_at"),
    "manufacturers": ("source_id", "name"),
    "tax_classes": ("source_id", "name", "rates"),
    "products": ("source_id", "sku", "name", "description_html", "price", "special_price", "weight", "stock",
                 "status", "category_ids", "manufacturer_id", "tax_class_id", "created_at", "updated_at"),
    "customers": ("source_id", "email", "first_name", "last_name", "newsletter", "addresses", "created_at",
                  "updated_at"),
    "orders": ("source_id", "number", "customer_id", "email", "customer_first_name", "customer_last_name", "status",
               "currency", "subtotal", "shipping", "tax", "discount", "grand_total", "billing_address",
               "shipping_address", "created_at", "updated_at"),
}

ENDPOINTS = {  # entity -> (path, id field, extra filters)
    "categories": ("V1/categories/list", "entity_id", ()),
    "tax_classes": ("V1/taxClasses/search", "class_id", (("class_type", "PRODUCT", "eq"),)),
    "products": ("V1/products", "entity_id", ()),
    "customers": ("V1/customers/search", "entity_id", ()),
    "orders": ("V1/orders", "entity_id", ()),
}
DELTA = {"categories", "products", "customers", "orders"}  # entities with updated_at
SLICEABLE = {"products", "customers", "orders"}  # searchable by entity_id and created_at
LBS_TO_KG = 0.45359237
ENV = {"base_url": "MAGENTO_BASE_URL", "access_token": "MAGENTO_ACCESS_TOKEN", "username": "MAGENTO_USERNAME",
       "password": "MAGENTO_PASSWORD"}


def magento_message(response) -> str | None:
    """Magento's error text with its %placeholders filled from `parameters` (a list for %1.., or a dict)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("message"), str):
        return None
    message, params = body["message"], body.get("parameters") or {}
    if isinstance(params, list):
        params = {str(i + 1): v for i, v in enumerate(params)}
    return re.sub(r"%(\w+)", lambda m: str(params.get(m.group(1), m.group(0))), message)


def money(value) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"))


def iso(value: str | None) -> str | None:
    """Magento's UTC "Y-m-d H:i:s" as ISO 8601."""
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace(" ", "T")).replace(tzinfo=timezone.utc).isoformat()


def magento_time(dt: datetime) -> str:
    dt = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def custom(item: dict) -> dict:
    return {a.get("attribute_code"): a.get("value") for a in item.get("custom_attributes") or []}


def search(page_size: int, page: int, filters=(), sort: str | None = None, direction: str = "ASC") -> dict:
    """searchCriteria query parameters; each filter (field, value, condition) is its own group (AND)."""
    params = {"searchCriteria[pageSize]": page_size, "searchCriteria[currentPage]": page}
    for g, (field, value, condition) in enumerate(filters):
        prefix = f"searchCriteria[filter_groups][{g}][filters][0]"
        params.update({f"{prefix}[field]": field, f"{prefix}[value]": value, f"{prefix}[condition_type]": condition})
    if sort:
        params.update({"searchCriteria[sortOrders][0][field]": sort, "searchCriteria[sortOrders][0][direction]": direction})
    return params


def address(a: dict | None) -> dict | None:
    if a is None:
        return None
    region = a.get("region")
    if isinstance(region, dict):  # customer addresses nest the region, order addresses give its name
        region = region.get("region")
    street = a.get("street")
    return {"first_name": a.get("firstname"), "last_name": a.get("lastname"), "company": a.get("company"),
            "street": "\n".join(street) if isinstance(street, list) else street, "city": a.get("city"),
            "postcode": a.get("postcode"), "region": region or None, "country": a.get("country_id"),
            "phone": a.get("telephone")}


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

    def __init__(self, client: HttpClient, api_root: str, access_token: str = "", username: str = "",
                 password: str = ""):
        self.client, self.api_root = client, api_root
        self._username, self._password = username, password
        self._token = access_token
        if access_token:
            client.session.headers["Authorization"] = f"Bearer {access_token}"
        self._store: dict | None = None

    @classmethod
    def connect(cls, base_url: str, credentials: dict, verify=True, settings: HttpSettings | None = None):
        """`base_url`: the shop (https://shop.example) or its REST root with a store code (…/rest/default)."""
        token = credentials.get("access_token") or ""
        username, password = credentials.get("username") or "", credentials.get("password") or ""
        if not token and not (username and password):
            raise ConnectionProblem("credentials", "Magento needs an access_token (integration access token) or "
                                    "an admin username and password.")
        base = base_url.rstrip("/")
        api_root = base if re.search(r"/rest(/[\w-]+)?$", base) else f"{base}/rest"
        fields = ("access_token",) if token else ("username", "password")
        explainer = Explainer(PLATFORM, fields + ("the shop URL",),
                              "grant the integration (System > Integrations) or the admin user's role the API "
                              "resource named below", error_message=magento_message)
        settings = settings or HttpSettings(requests_per_second=REQUESTS_PER_SECOND)
        client = HttpClient(api_root, explainer, settings=settings, verify=verify)
        return cls(client, api_root, token, username, password)

    def describe(self) -> str:
        return f"Magento REST API at {self.api_root}"

    def has(self, entity: str) -> bool:
        return entity in CARRIED  # reviews are not in Magento's core REST API

    # --- requests
    def _login(self) -> None:
        response = self.client.request("POST", "V1/integration/admin/token", what="the admin token request",
                                       json={"username": self._username, "password": self._password},
                                       verify=self.client.session.verify)
        self._token = response.json()
        self.client.session.headers["Authorization"] = f"Bearer {self._token}"

    def _json(self, path: str, params: dict | None, what: str):
        # verify per request: requests lets REQUESTS_CA_BUNDLE override a session's own CA file (psf/requests#3829)
        response = self.client.request("GET", path, what=what, params=params, verify=self.client.session.verify)
        try:
            return response.json()
        except ValueError:
            raise ConnectionProblem("bad_response", f"Magento answered {what or path} with something that is not "
                                    f"JSON (HTTP {response.status_code}); is the URL the shop's address?") from None

    def _get(self, path: str, params: dict | None = None, what: str = ""):
        if not self._token:
            self._login()
        try:
            return self._json(path, params, what)
        except ConnectionProblem as exc:
            if exc.status != 401:
                raise
            if self._password:  # the admin token may have expired: log in once more
                self._login()
                try:
                    return self._json(path, params, what)
                except ConnectionProblem as again:
                    if again.status != 401:
                        raise
                    exc = again
            raise self._explain_401(exc, path) from None

    def _explain_401(self, exc: ConnectionProblem, failed_path: str) -> ConnectionProblem:
        """Magento says 401 both for a wrong token and a missing ACL resource: a probe tells them apart."""
        for path, _, _ in list(ENDPOINTS.values()) + [("V1/store/storeConfigs", None, ())]:
            if path == failed_path:
                continue
            try:
                self._json(path, None if "store" in path else search(1, 1), "a permission probe")
            except ConnectionProblem:
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

    def store(self) -> dict:
        """The store view's configuration (media URL, weight unit); assumptions if not permitted."""
        if self._store is None:
            try:
                configs = self._get("V1/store/storeConfigs", what="the store configuration")
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
        total = self._get(ENDPOINTS["products"][0], search(1, 1), "products").get("total_count")
        return f"Magento shop at {self.api_root} with {total} products"

    def _pages(self, entity: str, filters: tuple, fields: str | None = None) -> Iterator[list]:
        """Pages of one searchCriteria list by keyset on entity_id in parallel id ranges (`keyset.py`): each
        request asks for currentPage 1 with `entity_id gt <last id read>` (and `lt <range end>`) sorted by
        entity_id, so records added or deleted meanwhile are neither missed nor repeated; the highest id comes
        from one record sorted DESC. Categories (a small tree) are read one page at a time."""
        path, id_field, fixed = ENDPOINTS[entity]
        extra = {"fields": fields} if fields else {}
        if id_field != "entity_id":  # tax classes: a few rows, no entity_id to page by
            yield from self._paged_all(path, entity, fixed + filters, extra)
            return
        filters = fixed + filters

        def get(bounds: tuple, size: int = PAGE_SIZE, direction: str = "ASC") -> dict:
            return self._get(path, {**search(size, 1, filters + bounds, id_field, direction), **extra}, entity)

        def fetch(after: int | None, below: int | None) -> tuple[list[dict], int]:
            body = get(((("entity_id", after, "gt"),) if after is not None else ())
                       + ((("entity_id", below, "lt"),) if below is not None else ()))
            return body.get("items") or [], int(body.get("total_count") or 0)

        def highest() -> int | None:
            top = get((), 1, "DESC").get("items")
            return int(_id(top[0])) if top else None

        yield from id_range_pages(fetch, highest, PAGE_SIZE, CONCURRENCY if entity in SLICEABLE else 1, _id,
                                  f"Magento {entity}")

    ID_KEYS = {"categories": "id", "tax_classes": "class_id", "products": "id", "customers": "id",
               "orders": "entity_id"}

    def ids(self, entity: str) -> Iterator[str] | None:
        """Ids only (`fields=items[id],total_count`, 300 a request); manufacturer options come whole anyway."""
        if entity not in ENDPOINTS:
            return None
        key = self.ID_KEYS[entity]
        level = ",level" if entity == "categories" else ""  # root categories are system nodes, never staged
        return (str(item[key]) for items in self._pages(entity, (), fields=f"items[{key}{level}],total_count")
                for item in items if not level or int(item.get("level") or 0) >= 2)

    def records(self, entity: str, updated_since: datetime | None = None) -> Iterator[SourceRecord]:
        if entity not in CARRIED:
            raise ValueError(f"Magento offers no {entity!r} through its REST API")
        filters = (("updated_at", magento_time(updated_since), "gt"),) if updated_since and entity in DELTA else ()
        ordinal = 0
        for record in self._records(entity, filters):
            ordinal += 1
            yield SourceRecord(ordinal, record, None, record["source_id"])

    def records_in(self, entity: str, part: Slice) -> Iterator[SourceRecord]:
        if entity not in SLICEABLE:
            return super().records_in(entity, part)
        if part.field == "id":
            filters = (("entity_id", part.start, "gteq"), ("entity_id", part.end, "lt"))
        else:
            filters = (("created_at", magento_time(part.start), "gteq"), ("created_at", magento_time(part.end), "lt"))
        return (SourceRecord(n, r, None, r["source_id"])
                for n, r in enumerate(self._records(entity, filters), start=1))

    def id_bounds(self, entity: str) -> tuple[int, int | None, int | None]:
        """Two one-record searches by entity_id: the first page says the count and lowest id, page total_count the
        highest (Magento pages past a one-record page size like any other)."""
        if entity not in SLICEABLE:
            return super().id_bounds(entity)
        path, id_field, _ = ENDPOINTS[entity]
        first = self._get(path, search(1, 1, (), id_field), entity)
        total, items = int(first.get("total_count") or 0), first.get("items") or []
        if not items:
            return 0, None, None
        last = self._get(path, search(1, total, (), id_field), entity).get("items") or items
        return total, int(_id(items[0])), int(_id(last[-1]))

    def _records(self, entity: str, filters: tuple) -> Iterator[dict]:
        if entity == "manufacturers":  # attribute options: one unpaged list, no timestamps
            options = self._get("V1/products/attributes/manufacturer/options", what="manufacturers")
            yield from ({"source_id": str(o["value"]), "name": o.get("label")} for o in options
                        if str(o.get("value") or "").strip())
            return
        mapper: Callable[[dict], dict | None] = getattr(self, f"_{entity}")(filters)
        for items in self._pages(entity, filters):
            for item in items:
                record = mapper(item)
                if record is not None:
                    yield record

    # --- mappers: each returns a function from the platform's item to a canonical dict (None: skip)
    def _categories(self, filters):
        names = {}  # id -> name of every category (a small table): paths need ancestors from any page
        for items in self._pages("categories", (), fields="items[id,name],total_count"):
            names.update({str(c["id"]): c.get("name") for c in items})

        def one(c: dict) -> dict | None:
            level = int(c.get("level") or 0)
            if level < 2:  # the Root Catalog (0) and store root categories (1) are system nodes
                return None
            ids = str(c.get("path") or "").split("/")[2:]
            attrs = custom(c)
            return {"source_id": str(c["id"]), "parent_id": str(c["parent_id"]) if level > 2 else None,
                    "name": c.get("name"), "path": "/".join(names.get(i) or "" for i in ids),
                    "url_key": attrs.get("url_path") or attrs.get("url_key"), "is_visible": bool(c.get("is_active")),
                    "position": c.get("position"), "updated_at": iso(c.get("updated_at"))}
        return one

    def _tax_classes(self, filters):
        rates = {}
        for items in self._paged_all("V1/taxRates/search", "tax rates"):
            rates.update({r["id"]: {"country": r.get("tax_country_id"), "rate": Decimal(str(r.get("rate")))
                                    .quantize(Decimal("0.001"))} for r in items})
        by_class: dict[int, list] = {}
        for items in self._paged_all("V1/taxRules/search", "tax rules"):
            for rule in items:
                for class_id in rule.get("product_tax_class_ids") or []:
                    by_class.setdefault(int(class_id), []).extend(rates[i] for i in rule.get("tax_rate_ids") or []
                                                                  if i in rates)
        return lambda c: {"source_id": str(c["class_id"]), "name": c.get("class_name"),
                          "rates": by_class.get(int(c["class_id"]), [])}

    def _paged_all(self, path: str, what: str, filters=(), extra: dict | None = None) -> Iterator[list]:
        """Numbered pages, one at a time, for the small tax tables (no entity_id to page by)."""
        page, seen, guard = 1, 0, LoopGuard(f"Magento {what}")
        while True:
            body = self._get(path, {**search(PAGE_SIZE, page, filters), **(extra or {})}, what)
            items, total = body.get("items") or [], int(body.get("total_count") or 0)
            if items:
                guard.check((_id(items[0]), _id(items[-1])))
            seen += len(items)
            yield items
            if not items or seen >= total:
                return
            page += 1

    def _products(self, filters):
        store = self.store()
        media = str(store.get("base_media_url") or "").rstrip("/") + "/catalog/product"
        factor = LBS_TO_KG if str(store.get("weight_unit", "kgs")).startswith("lb") else None

        def one(p: dict) -> dict:
            attrs, ext = custom(p), p.get("extension_attributes") or {}
            weight = p.get("weight")
            if weight is not None and factor:
                weight = round(float(weight) * factor, 3)
            stock = (ext.get("stock_item") or {}).get("qty")
            images = [{"url": f"{media}{m.get('file')}", "position": m.get("position"), "alt": m.get("label")}
                      for m in p.get("media_gallery_entries") or [] if m.get("media_type", "image") == "image"]
            return {"source_id": str(p["id"]), "sku": p.get("sku"), "name": p.get("name"),
                    "description_html": attrs.get("description"), "price": money(p.get("price")),
                    "special_price": money(attrs.get("special_price")), "weight": weight,
                    "stock": None if stock is None else int(float(stock)),
                    "status": "enabled" if int(p.get("status") or 1) == 1 else "disabled",
                    "url_key": attrs.get("url_key"),
                    "category_ids": [str(link["category_id"]) for link in ext.get("category_links") or []],
                    "manufacturer_id": _str(attrs.get("manufacturer")), "tax_class_id": _str(attrs.get("tax_class_id")),
                    "variants": [], "images": images,
                    "created_at": iso(p.get("created_at")), "updated_at": iso(p.get("updated_at"))}
        return one

    def _customers(self, filters):
        def one(c: dict) -> dict:
            addresses = []
            for a in c.get("addresses") or []:
                billing = a.get("default_billing") is True or str(a.get("id")) == str(c.get("default_billing"))
                shipping = a.get("default_shipping") is True or str(a.get("id")) == str(c.get("default_shipping"))
                addresses.append({**address(a), "is_default_billing": billing, "is_default_shipping": shipping})
            return {"source_id": str(c["id"]), "email": c.get("email"), "first_name": c.get("firstname"),
                    "last_name": c.get("lastname"), "phone": None,
                    "newsletter": bool((c.get("extension_attributes") or {}).get("is_subscribed")),
                    "addresses": addresses, "created_at": iso(c.get("created_at")),
                    "updated_at": iso(c.get("updated_at"))}
        return one

    def _orders(self, filters):
        def one(o: dict) -> dict:
            assignments = (o.get("extension_attributes") or {}).get("shipping_assignments") or [{}]
            shipping_address = ((assignments[0] or {}).get("shipping") or {}).get("address")
            discount = money(o.get("discount_amount"))
            items = [{"source_id": str(i["item_id"]), "product_id": _str(i.get("product_id")), "sku": i.get("sku"),
                      "name": i.get("name"), "qty": int(float(i.get("qty_ordered") or 0)),
                      "price": money(i.get("price")),
                      "tax": money(i.get("tax_amount"))}
                     for i in o.get("items") or [] if not i.get("parent_item_id")]  # children repeat their parent
            return {"source_id": str(o["entity_id"]), "number": o.get("increment_id"),
                    "customer_id": None if o.get("customer_is_guest") else _str(o.get("customer_id")),
                    "email": o.get("customer_email"), "customer_first_name": o.get("customer_firstname"),
                    "customer_last_name": o.get("customer_lastname"), "status": o.get("status"),
                    "currency": o.get("order_currency_code"), "subtotal": money(o.get("subtotal")),
                    "shipping": money(o.get("shipping_amount")), "tax": money(o.get("tax_amount")),
                    "discount": None if discount is None else abs(discount),  # Magento stores discounts negative
                    "grand_total": money(o.get("grand_total")), "items": items,
                    "billing_address": address(o.get("billing_address")), "shipping_address": address(shipping_address),
                    "created_at": iso(o.get("created_at")), "updated_at": iso(o.get("updated_at"))}
        return one


def _id(item: dict):
    return item.get("id", item.get("entity_id", item.get("class_id")))


def _str(value) -> str | None:
    return None if value is None or value == "" else str(value)
