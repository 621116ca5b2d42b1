"""Magento 2 / Adobe Commerce REST emulator, held to the documented behaviour:

- Routes `/rest[/{store_code}]/V1/...` (any store code is accepted and ignored; there is one store view).
  https://developer.adobe.com/commerce/webapi/rest/tutorials/orders/order-admin-token/
- Auth `Authorization: Bearer <token>`: the integration access token from `credentials()`, or an admin token from
  `POST /V1/integration/admin/token {"username", "password"}` valid 4 hours (wrong login: 401 "The account sign-in
  was incorrect ..."). https://developer.adobe.com/commerce/webapi/get-started/authentication/gs-authentication-token/
- A wrong token and a missing ACL resource both answer 401 {"message": "The consumer isn't authorized to access
  %resources.", "parameters": {"resources": "<ACL id>"}}: Magento's RequestValidator::checkPermissions throws an
  AuthorizationException, which Webapi\\ErrorProcessor maps to HTTP 401 (magento/magento2 source; issues #36811,
  #39289). `knobs.denied_scopes` holds ACL ids such as "Magento_Catalog::products".
- searchCriteria searches: `searchCriteria[pageSize]`, `[currentPage]`, `[filter_groups][g][filters][f][field|value|
  condition_type]` (eq, gt, gteq, lt, lteq), `[sortOrders][0][field|direction]` (entity_id ASC or DESC, or
  updated_at); answer {items, search_criteria,
  total_count}. Filter groups are ANDed; modelled fields: updated_at, created_at (UTC "Y-m-d H:i:s") and entity_id. https://developer.adobe.com/commerce/webapi/rest/use-rest/performing-searches/
- Asking past the last page returns the last page again, as Magento collections do (magento/magento2#3787, #8099,
  #26986); currentPage below 1 reads page 1.
- Web API input limits (Stores > Configuration > Services > Web API Limits) are modelled as enabled: default page
  size 20, maximum 300; a larger pageSize is a 400 "Maximum SearchCriteria pageSize is %max".
  https://developer.adobe.com/commerce/webapi/get-started/api-security/
- `fields=items[a,b],total_count` trims the answer (top-level item keys only).
- Rate limit: Magento Open Source has no REST rate limit; hosts put one in front (nginx limit_req, Fastly on Adobe
  Commerce Cloud). Modelled as a per-second window (`PLANS`, by `knobs.plan`) answering 429 with Retry-After.
- Errors use Magento's body {"message", "parameters"}; unknown routes 404 "Request does not match any route.".

Mapping notes: canonical ids are served as Magento ids. The system categories (Root Catalog, level 0, and the store
root "Default Category", level 1) get ids above the store's (`ROOT_ID`, `STORE_ROOT_ID`) because the generated store
already uses 1 and 2; the retail customer tax class likewise (`CUSTOMER_CLASS_ID`). Products with variants are
served as configurable products without their child products (the list would otherwise hold extra products).
Order addresses, items and totals follow the order entity (discount_amount negative, as Magento stores it).
"""

from __future__ import annotations

import math
import re
import time
from datetime import timedelta
from decimal import Decimal

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.kit.emulator import (
    Emulator,
    EmulatorStore,
    FixedWindow,
    Knobs,
    to_utc,
)

ROOT_ID, STORE_ROOT_ID, CUSTOMER_CLASS_ID = 900000001, 900000002, 900000003
NOT_AUTHORIZED = "The consumer isn't authorized to access %resources."
BAD_LOGIN = ("The account sign-in was incorrect or your account is disabled temporarily. Please wait and try again "
             "later.")
RANGE_SQL = {"gt": ">", "gteq": ">=", "lt": "<", "lteq": "<=", "from": ">=", "to": "<="}
FILTER = re.compile(r"searchCriteria\[filter_groups\]\[(\d+)\]\[filters\]\[(\d+)\]\[(field|value|condition_type)\]")


def mtime(value) -> str | None:
    """Magento's UTC "Y-m-d H:i:s"."""
    return to_utc(value).strftime("%Y-%m-%d %H:%M:%S") if value else None


def clean(d: dict) -> dict:
    """Magento's REST output leaves out null values."""
    return {k: v for k, v in d.items() if v is not None}


class BadRequest(Exception):
    def __init__(self, message: str, parameters=None):
        super().__init__(message)
        self.message, self.parameters = message, parameters if parameters is not None else []


class MagentoEmulator(Emulator):
    platform = "magento"
    url_map = Map([Rule("/rest/<path:path>", endpoint="dispatch", methods=["GET", "POST"])])
    MAX_PAGE_SIZE = 300
    DEFAULT_PAGE_SIZE = 20
    PLANS = {"standard": 20, "plus": 50, "enterprise": 100}  # requests per second allowed by the host's limiter
    ADMIN_USERNAME, ADMIN_PASSWORD = "api-admin", "emulated-admin-password-7"
    ADMIN_TOKEN_HOURS = 4
    ROUTES = {  # (method, path) -> (handler, ACL resource)
        ("GET", "V1/store/storeConfigs"): ("store_configs", "Magento_Backend::store"),
        ("GET", "V1/categories/list"): ("categories", "Magento_Catalog::categories"),
        ("GET", "V1/products"): ("products", "Magento_Catalog::products"),
        ("GET", "V1/products/attributes/manufacturer/options"): ("manufacturers",
                                                                 "Magento_Catalog::attributes_attributes"),
        ("GET", "V1/taxClasses/search"): ("tax_classes", "Magento_Tax::manage_tax"),
        ("GET", "V1/taxRates/search"): ("tax_rates", "Magento_Tax::manage_tax"),
        ("GET", "V1/taxRules/search"): ("tax_rules", "Magento_Tax::manage_tax"),
        ("GET", "V1/customers/search"): ("customers", "Magento_Customer::customer"),
        ("GET", "V1/orders"): ("orders", "Magento_Sales::actions_view"),
    }

    def __init__(self, store: EmulatorStore, knobs: Knobs | None = None):
        super().__init__(store, knobs)
        self.token = "magento-integration-token-0001"
        self.admin_tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self.issued = 0
        self.window = FixedWindow(self.PLANS.get(self.knobs.plan, self.PLANS["standard"]), 1.0)
        self.reports = 0

    def credentials(self) -> dict:
        return {"access_token": self.token}

    # --- Magento's responses
    def fail(self, status: int, message: str, parameters=None) -> Response:
        body = {"message": message}
        if parameters is not None:
            body["parameters"] = parameters
        return self.json(body, status)

    def throttled(self, request: Request) -> Response:
        return self.json({"message": "Too Many Requests"}, 429, {"Retry-After": "1"})

    def error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, NotFound):
            return self.fail(404, "Request does not match any route.")
        if isinstance(exc, HTTPException):
            return self.fail(exc.code, exc.description or exc.name)
        with self.lock:
            self.reports += 1
        return self.fail(500, f"Internal Error. Details are available in Magento log file. Report ID: "
                              f"webapi-{self.reports:013x}")

    # --- dispatch: host limiter, token endpoint, ACL check, handler
    def dispatch(self, request: Request, path: str) -> Response:
        m = re.fullmatch(r"(?:[\w-]+/)?(V1/.+?)/?", path)
        if not m:
            raise NotFound()
        route = m.group(1)
        if self.knobs.rate_limit:
            allowed, _, reset = self.window.take()
            if not allowed:
                return self.json({"message": "Too Many Requests"}, 429, {"Retry-After": str(max(1, math.ceil(reset)))})
        if request.method == "POST" and route == "V1/integration/admin/token":
            return self.admin_token(request)
        handler, acl = self.ROUTES.get((request.method, route), (None, None))
        if handler is None:
            raise NotFound()
        if not self.authorised(request) or acl in self.knobs.denied_scopes:
            return self.fail(401, NOT_AUTHORIZED, {"resources": acl})
        try:
            return getattr(self, handler)(request)
        except BadRequest as exc:
            return self.fail(400, exc.message, exc.parameters)

    def authorised(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if token and token == self.token:
            return True
        expiry = self.admin_tokens.get(token)
        return expiry is not None and expiry > time.monotonic()

    def admin_token(self, request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        if body.get("username") != self.ADMIN_USERNAME or body.get("password") != self.ADMIN_PASSWORD:
            return self.fail(401, BAD_LOGIN)
        with self.lock:
            self.issued += 1
            token = f"magento-admin-token-{self.issued:06d}"
            self.admin_tokens[token] = time.monotonic() + self.ADMIN_TOKEN_HOURS * 3600
        return self.json(token)

    # --- searchCriteria
    def criteria(self, request: Request, fields: dict[str, callable] | None = None):
        """(page size, current page, updated range, other filters, sort field, echo) from the query string."""
        args = request.args
        try:
            size = int(args.get("searchCriteria[pageSize]") or self.DEFAULT_PAGE_SIZE)
            page = int(args.get("searchCriteria[currentPage]") or 1)
        except ValueError:
            raise BadRequest("The search criteria is invalid.") from None
        if size > self.MAX_PAGE_SIZE:
            raise BadRequest("Maximum SearchCriteria pageSize is %max", {"max": self.MAX_PAGE_SIZE})
        groups: dict[tuple, dict] = {}
        for key, value in args.items():
            if m := FILTER.fullmatch(key):
                groups.setdefault((int(m.group(1)), int(m.group(2))), {})[m.group(3)] = value
        lo = hi = None
        others, within = [], []
        for (g, f), flt in sorted(groups.items()):
            field, value, cond = flt.get("field"), flt.get("value"), flt.get("condition_type", "eq")
            if field in ("created_at", "entity_id") and cond in RANGE_SQL:
                try:
                    bound = int(value) if field == "entity_id" else to_utc(
                        value.replace(" ", "T") + ("" if "+" in value or value.endswith("Z") else "+00:00"))
                except (TypeError, ValueError):
                    raise BadRequest("The search criteria is invalid.") from None
                within.append(("id" if field == "entity_id" else field, RANGE_SQL[cond], bound))
            elif field == "updated_at" and cond in ("gt", "gteq", "lt", "lteq", "from", "to"):
                at = to_utc(value.replace(" ", "T") + ("" if "+" in value or value.endswith("Z") else "+00:00"))
                if cond in ("gt", "gteq", "from"):
                    lo = at - timedelta(microseconds=1) if cond != "gt" else at
                else:
                    hi = at if cond in ("lteq", "to") else at - timedelta(microseconds=1)
            elif fields and field in fields and cond == "eq":
                others.append((field, value))
            else:
                raise BadRequest("emulator: filter on %1 with %2 is not modelled", [field, cond])
        sort = args.get("searchCriteria[sortOrders][0][field]")
        descending = str(args.get("searchCriteria[sortOrders][0][direction]") or "ASC").upper() == "DESC"
        order = "updated_at" if sort == "updated_at" else "-id" if descending else "id"
        echo = {"filter_groups": [{"filters": [groups[k] for k in sorted(groups) if k[0] == g]}
                                  for g in sorted({k[0] for k in groups})],
                "page_size": size, "current_page": page}
        return size, max(1, page), lo, hi, others, order, echo, within

    def paged(self, request: Request, total: int, fetch, size: int, page: int, echo: dict) -> Response:
        """One page of a search; past the last page Magento returns the last page again."""
        page = min(page, max(1, math.ceil(total / size)))
        items = fetch((page - 1) * size, size) if total else []
        self.delay(len(items))
        body = {"items": items, "search_criteria": echo, "total_count": total}
        fields = request.args.get("fields")
        if fields:
            keep = re.match(r"items\[([^\]]*)\]", fields)
            names = set(keep.group(1).split(",")) if keep else None
            body = {k: v for k, v in body.items() if k in fields}
            if names and "items" in body:
                body["items"] = [{k: v for k, v in i.items() if k in names} for i in body["items"]]
        return self.json(body)

    def search(self, request: Request, entity: str, to_json, extras: list[dict] = ()) -> Response:
        """A search over the store's records of `entity` (plus system `extras` after them)."""
        size, page, lo, hi, others, order, echo, within = self.criteria(request)
        extras = [e for e in extras if (lo is None or to_utc(e["_at"]) > lo) and (hi is None or to_utc(e["_at"]) <= hi)
                  and not within]
        n = self.store.count(entity, lo, hi, within=within)

        system = [{k: v for k, v in e.items() if k != "_at"} for e in extras]
        if order == "-id":  # the system records have the highest ids: first when sorted DESC
            system.reverse()

        def fetch(offset: int, limit: int) -> list[dict]:
            if order == "-id":
                rows = system[offset:offset + limit]
                return rows + [to_json(r) for r in self.store.page(entity, max(0, offset - len(system)),
                                                                   limit - len(rows), lo, hi, order=order,
                                                                   within=within)] if len(rows) < limit else rows
            rows = []
            if offset < n:
                rows = [to_json(r) for r in self.store.page(entity, offset, limit, lo, hi, order=order,
                                                            within=within)]
            start = max(0, offset - n)
            return rows + system[start:start + limit - len(rows)]
        return self.paged(request, n + len(extras), fetch, size, page, echo)

    def listed(self, request: Request, items: list[dict], fields: dict | None = None) -> Response:
        """A search over a small in-memory list (tax tables)."""
        size, page, lo, hi, others, order, echo, _ = self.criteria(request, fields)
        items = [i for i in items if all(fields[f](i) == v for f, v in others)]
        return self.paged(request, len(items), lambda o, n: items[o:o + n], size, page, echo)

    # --- resources
    def store_configs(self, request: Request) -> Response:
        base = self.base_url
        return self.json([{"id": 1, "code": "default", "website_id": 1, "locale": "nb_NO",
                           "base_currency_code": "NOK", "default_display_currency_code": "NOK",
                           "timezone": "Europe/Oslo", "weight_unit": "kgs", "base_url": f"{base}/",
                           "base_link_url": f"{base}/", "base_static_url": f"{base}/static/",
                           "base_media_url": f"{base}/media/", "secure_base_url": f"{base}/",
                           "secure_base_link_url": f"{base}/", "secure_base_static_url": f"{base}/static/",
                           "secure_base_media_url": f"{base}/media/"}])

    def categories(self, request: Request) -> Response:
        parents: dict[int, int | None] = {}

        def chain(cid: int) -> list[int]:
            ids = []
            while cid is not None:
                ids.insert(0, cid)
                if cid not in parents:
                    rec = self.store.get("categories", cid)
                    parents[cid] = int(rec["parent_id"]) if rec and rec.get("parent_id") else None
                cid = parents[cid]
            return ids

        def one(c: dict) -> dict:
            cid = int(c["source_id"])
            parents[cid] = int(c["parent_id"]) if c.get("parent_id") else None
            ids = chain(cid)
            url_path = c.get("url_key") or ""
            return clean({"id": cid, "parent_id": parents[cid] or STORE_ROOT_ID, "name": c["name"],
                          "is_active": bool(c.get("is_visible")), "position": c.get("position"),
                          "level": len(ids) + 1, "children": "", "created_at": mtime(c.get("updated_at")),
                          "updated_at": mtime(c.get("updated_at")),
                          "path": "/".join(str(i) for i in [ROOT_ID, STORE_ROOT_ID] + ids),
                          "include_in_menu": True, "custom_attributes": [
                              {"attribute_code": "url_key", "value": url_path.rsplit("/", 1)[-1]},
                              {"attribute_code": "url_path", "value": url_path}]})
        at = "2023-01-01T00:00:00Z"
        roots = [{"_at": at, "id": ROOT_ID, "parent_id": 0, "name": "Root Catalog", "is_active": True, "position": 0,
                  "level": 0, "path": str(ROOT_ID), "created_at": mtime(at), "updated_at": mtime(at)},
                 {"_at": at, "id": STORE_ROOT_ID, "parent_id": ROOT_ID, "name": "Default Category", "is_active": True,
                  "position": 1, "level": 1, "path": f"{ROOT_ID}/{STORE_ROOT_ID}", "created_at": mtime(at),
                  "updated_at": mtime(at)}]
        return self.search(request, "categories", one, roots)

    def manufacturers(self, request: Request) -> Response:
        """The manufacturer attribute's options: one unpaged list, the empty option first."""
        n = self.store.count("manufacturers")
        options = [{"label": " ", "value": ""}] + [
            {"label": m["name"], "value": str(m["source_id"]), "sort_order": 0, "is_default": False, "store_labels": []}
            for m in self.store.page("manufacturers", 0, n)]
        self.delay(len(options))
        return self.json(options)

    def _tax_tables(self) -> tuple[list, list, list]:
        classes = self.store.page("tax_classes", 0, self.store.count("tax_classes"))
        out_classes, rates, rules = [], [], []
        for c in classes:
            cid = int(c["source_id"])
            out_classes.append({"class_id": cid, "class_name": c["name"], "class_type": "PRODUCT"})
            ids = []
            for k, r in enumerate(c.get("rates") or []):
                rid = cid * 100 + k + 1
                ids.append(rid)
                rates.append({"id": rid, "tax_country_id": r["country"], "tax_region_id": 0, "tax_postcode": "*",
                              "rate": float(Decimal(str(r["rate"]))), "code": f"{r['country']}-{c['name']}",
                              "titles": []})
            rules.append({"id": cid, "code": f"Regel {c['name']}", "priority": 0, "position": 0,
                          "customer_tax_class_ids": [CUSTOMER_CLASS_ID], "product_tax_class_ids": [cid],
                          "tax_rate_ids": ids, "calculate_subtotal": False})
        out_classes.append({"class_id": CUSTOMER_CLASS_ID, "class_name": "Retail Customer", "class_type": "CUSTOMER"})
        return out_classes, rates, rules

    def tax_classes(self, request: Request) -> Response:
        return self.listed(request, self._tax_tables()[0], {"class_type": lambda c: c["class_type"]})

    def tax_rates(self, request: Request) -> Response:
        return self.listed(request, self._tax_tables()[1])

    def tax_rules(self, request: Request) -> Response:
        return self.listed(request, self._tax_tables()[2])

    def products(self, request: Request) -> Response:
        def one(p: dict) -> dict:
            pid = int(p["source_id"])
            special = p.get("special_price")
            attrs = [("description", p.get("description_html")),
                     ("url_key", (p.get("url_key") or "").rsplit("/", 1)[-1]),  # a segment; paths are url rewrites
                     ("special_price", None if special is None else f"{Decimal(str(special)):.6f}"),  # decimal text
                     ("manufacturer", p.get("manufacturer_id")), ("tax_class_id", p.get("tax_class_id")),
                     ("category_ids", list(p.get("category_ids") or [])), ("options_container", "container2")]
            media = []
            for k, img in enumerate(p.get("images") or []):
                name = img["url"].rsplit("/", 1)[-1]
                media.append({"id": pid * 10 + k, "media_type": "image", "label": img.get("alt"),
                              "position": img.get("position"), "disabled": False,
                              "types": ["image", "small_image", "thumbnail"] if k == 0 else [],
                              "file": f"/{name[0]}/{name[1] if len(name) > 1 else '_'}/{name}"})
            variants = p.get("variants") or []
            ext = {"website_ids": [1],
                   "category_links": [{"position": k, "category_id": str(c)}
                                      for k, c in enumerate(p.get("category_ids") or [])],
                   "stock_item": {"item_id": pid, "product_id": pid, "stock_id": 1, "qty": p.get("stock"),
                                  "is_in_stock": bool(p.get("stock"))}}
            if variants:
                names = [o["name"] for o in variants[0].get("options") or []]
                ext["configurable_product_options"] = [
                    {"label": n, "values": sorted({o["value"] for v in variants for o in v["options"]
                                                   if o["name"] == n})} for n in names]
                ext["configurable_product_links"] = []
            return clean({"id": pid, "sku": p.get("sku"), "name": p["name"], "attribute_set_id": 4,
                          "price": p.get("price"), "status": 1 if p.get("status") != "disabled" else 2,
                          "visibility": 4, "type_id": "configurable" if variants else "simple",
                          "created_at": mtime(p.get("created_at")), "updated_at": mtime(p.get("updated_at")),
                          "weight": p.get("weight"), "extension_attributes": ext, "product_links": [], "options": [],
                          "media_gallery_entries": media, "tier_prices": [],
                          "custom_attributes": [{"attribute_code": c, "value": v} for c, v in attrs if v is not None]})
        return self.search(request, "products", one)

    @staticmethod
    def _address(a: dict, **extra) -> dict:
        return clean({"firstname": a.get("first_name"), "lastname": a.get("last_name"), "company": a.get("company"),
                      "street": [a["street"]] if a.get("street") is not None else None, "city": a.get("city"),
                      "postcode": a.get("postcode"), "country_id": a.get("country"), "telephone": a.get("phone"),
                      **extra})

    def customers(self, request: Request) -> Response:
        def one(c: dict) -> dict:
            cid = int(c["source_id"])
            addresses, defaults = [], {}
            for k, a in enumerate(c.get("addresses") or []):
                aid = cid * 10 + k + 1
                flags = {}
                for kind in ("billing", "shipping"):
                    if a.get(f"is_default_{kind}"):
                        flags[f"default_{kind}"] = True
                        defaults[f"default_{kind}"] = str(aid)
                region = {"region_code": None, "region": a.get("region"), "region_id": 0}
                addresses.append(self._address(a, id=aid, customer_id=cid, region=region, region_id=0, **flags))
            return clean({"id": cid, "group_id": 1, **defaults, "created_at": mtime(c.get("created_at")),
                          "updated_at": mtime(c.get("updated_at")), "created_in": "Default Store View",
                          "email": c["email"], "firstname": c.get("first_name"), "lastname": c.get("last_name"),
                          "store_id": 1, "website_id": 1, "addresses": addresses, "disable_auto_group_change": 0,
                          "extension_attributes": {"is_subscribed": bool(c.get("newsletter"))}})
        return self.search(request, "customers", one)

    def orders(self, request: Request) -> Response:
        def one(o: dict) -> dict:
            oid = int(o["source_id"])
            items = [clean({"item_id": oid * 100 + k + 1, "order_id": oid,
                            "product_id": int(i["product_id"]) if i.get("product_id") else None, "sku": i.get("sku"),
                            "name": i.get("name"), "qty_ordered": float(i["qty"]), "price": i.get("price"),
                            "base_price": i.get("price"), "tax_amount": i.get("tax"), "base_tax_amount": i.get("tax"),
                            "row_total": Decimal(str(i["price"])) * int(i["qty"]), "product_type": "simple"})
                     for k, i in enumerate(o.get("items") or [])]
            guest = o.get("customer_id") is None
            money = {f: o.get(c) for f, c in (("subtotal", "subtotal"), ("shipping_amount", "shipping"),
                                              ("tax_amount", "tax"), ("grand_total", "grand_total"))}
            discount = None if o.get("discount") is None else -Decimal(str(o["discount"]))
            billing = self._address(o.get("billing_address") or {}, address_type="billing", entity_id=oid * 2,
                                    parent_id=oid, email=o.get("email"))
            shipping = None
            if o.get("shipping_address") is not None:
                shipping = self._address(o["shipping_address"], address_type="shipping", entity_id=oid * 2 + 1,
                                         parent_id=oid, email=o.get("email"))
            return clean({"entity_id": oid, "increment_id": o.get("number"),
                          "customer_id": None if guest else int(o["customer_id"]), "customer_is_guest": int(guest),
                          "customer_email": o.get("email"), "customer_firstname": o.get("customer_first_name"),
                          "customer_lastname": o.get("customer_last_name"), "status": o.get("status"),
                          "order_currency_code": o["currency"], "base_currency_code": o["currency"],
                          "store_currency_code": o["currency"], "global_currency_code": o["currency"],
                          **money, **{f"base_{k}": v for k, v in money.items()},
                          "discount_amount": discount, "base_discount_amount": discount,
                          "total_qty_ordered": float(sum(int(i["qty"]) for i in o.get("items") or [])),
                          "created_at": mtime(o.get("created_at")), "updated_at": mtime(o.get("updated_at")),
                          "items": items, "billing_address": billing if o.get("billing_address") else None,
                          "payment": {"method": "checkmo", "amount_ordered": o.get("grand_total")},
                          "extension_attributes": {"shipping_assignments": [
                              {"shipping": clean({"address": shipping, "method": "flatrate_flatrate"}),
                               "items": items}]}})
        return self.search(request, "orders", one)



def rate_bound_rows_per_s(entity: str, plan: str = "standard") -> float | None:
    """Most rows/s the emulated host limit allows: requests per second × 300 records per page (benchmarks)."""
    return MagentoEmulator.PLANS.get(plan, MagentoEmulator.PLANS["standard"]) * 300
