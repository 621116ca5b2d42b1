"""Magento 2 / Adobe Commerce REST emulator, held to Magento's admin REST schema (Swagger 2.0 "Commerce Admin REST
endpoints - All inclusive" 2.4.9, AdobeDocs/commerce-webapi `src/openapi/admin-schema-2.4.9.yaml`) and its docs:

- Routes `/rest[/{store_code}]/V1/...` (any store code is accepted and ignored; there is one store view); `ROUTES`
  lists every (method, path template) served, each one the schema declares. A path no route matches, or a route
  asked with another method, is a 404 "Request does not match any route.".
  https://developer.adobe.com/commerce/webapi/rest/tutorials/orders/order-admin-token/
- Answers hold what the schema's definitions hold and nothing else. Nulls follow Magento's DataObjectProcessor: a
  getter's null is output only when its return value is required (the definition's `required` list, e.g. a
  customer's `email`, a payment's `cc_last4`, a region's `region_code`); any other null property is left out.
- Auth `Authorization: Bearer <token>`: the integration access token from `credentials()`, or an admin token from
  `POST /V1/integration/admin/token {"username", "password"}` valid 4 hours. A wrong login is a 401 "The account
  sign-in was incorrect ..." (AuthenticationException); so is every attempt once a username has failed
  `LOCK_FAILURES` times in a row, for `LOCK_SECONDS` (Stores > Configuration > Services > OAuth > Consumer Settings:
  "Maximum Login Failures to Lock Out Account" 6, "Lockout Time" 1800 s); an empty or missing field is a 400
  `"%fieldName" is required. Enter and try again.` (Magento's CredentialsValidator / ServiceInputProcessor).
  https://developer.adobe.com/commerce/webapi/get-started/authentication/gs-authentication-token/
- A wrong token and a missing ACL resource both answer 401 {"message": "The consumer isn't authorized to access
  %resources.", "parameters": {"resources": "<ACL id>"}}: Magento's RequestValidator::checkPermissions throws an
  AuthorizationException, which Webapi\\ErrorProcessor maps to HTTP 401 (magento/magento2 source; issues #36811,
  #39289). `knobs.denied_scopes` holds ACL ids such as "Magento_Catalog::products".
- Errors are {"message", "parameters"} (`parameters` only when the phrase has arguments: an object for named
  %placeholders, a list for %1, %2) plus `errors` for several input errors, and `trace` only in developer mode
  (`mode = "developer"`). A missing record is a 404 with the repository's NoSuchEntityException text.
  https://developer.adobe.com/commerce/webapi/get-started/gs-web-api-response/
- searchCriteria as Magento documents it (https://developer.adobe.com/commerce/webapi/rest/use-rest/performing-
  searches/): `searchCriteria[filter_groups][g][filters][f][field|value|condition_type]` (the schema's camelCase
  `filterGroups` / `conditionType` too: Magento's input processor maps both to the same setters); filters in a group
  are ORed, groups ANDed; condition types eq (the default), neq, gt, gteq, moreq, lt, lteq, from, to, like, nlike,
  in, nin, finset, nfinset, null, notnull; `[sortOrders][n][field|direction]` on any field (a direction other than
  ASC sorts descending, as Magento's collection processors do); `[pageSize]`, `[currentPage]`. The answer is
  {items, search_criteria (the criteria as asked), total_count}. Filters and sorts on entity_id, created_at and
  updated_at are answered from the store's index; any other field by reading the mapped records.
- Paging: a currentPage below 1 reads page 1; a page past the last is empty (Magento 2.4's Data\\Collection::
  getCurPage no longer clamps to the last page: magento/magento2#26986, fixed in 2.4.0 by #26988; 2.3 repeated the
  last page, #3787, #8099).
- Web API input limits (Stores > Configuration > Services > Web API Limits) are modelled as enabled: default page
  size 20, maximum 300; a larger pageSize is a 400 "Maximum SearchCriteria pageSize is %max".
  https://developer.adobe.com/commerce/webapi/get-started/api-security/
- `fields=items[a,b],total_count` trims the answer (top-level item keys only).
- Rate limit: Magento Open Source has no REST rate limit; hosts put one in front (nginx limit_req, Fastly on Adobe
  Commerce Cloud). Modelled as a per-second window (`PLANS`, by `knobs.plan`) answering 429 with Retry-After.

Mapping notes: canonical ids are served as Magento ids. The system categories (Root Catalog, level 0, and the store
root "Default Category", level 1) get ids above the store's (`ROOT_ID`, `STORE_ROOT_ID`) because the generated store
already uses 1 and 2; the retail customer tax class likewise (`CUSTOMER_CLASS_ID`). Products with variants are
served as configurable products without their child products (the list would otherwise hold extra products);
`configurable_product_options[].values[].value_index` are stable option ids derived from the option's label and
value. Order addresses, items and totals follow the order entity (discount_amount negative, as Magento stores it).
"""

from __future__ import annotations

import json
import math
import re
import time
import traceback
import zlib
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from functools import cmp_to_key

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import (
    Emulator,
    EmulatorStore,
    FixedWindow,
    Knobs,
    to_utc,
)

ROOT_ID, STORE_ROOT_ID, CUSTOMER_CLASS_ID = 900000001, 900000002, 900000003
NOT_AUTHORIZED = "The consumer isn't authorized to access %resources."
NO_ROUTE = "Request does not match any route."
BAD_LOGIN = ("The account sign-in was incorrect or your account is disabled temporarily. Please wait and try again "
             "later.")
REQUIRED_FIELD = '"%fieldName" is required. Enter and try again.'
BAD_TYPE = 'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.'
NO_SUCH_FIELD = "No such entity with %fieldName = %fieldValue"
NO_PRODUCT = "The product that was requested doesn't exist. Verify the product and try again."
NO_ENTITY = "The entity that was requested doesn't exist. Verify the entity and try again."
NO_ATTRIBUTE = 'The attribute with a "%1" attributeCode doesn\'t exist. Verify the attribute and try again.'
SYSTEM_AT = "2023-01-01T00:00:00Z"

FILTER = re.compile(r"searchCriteria\[(?:filter_groups|filterGroups)\]\[(\d+)\]\[filters\]\[(\d+)\]"
                    r"\[(field|value|condition_type|conditionType)\]")
SORT = re.compile(r"searchCriteria\[(?:sort_orders|sortOrders)\]\[(\d+)\]\[(field|direction)\]")
CONDITIONS = {"eq", "neq", "gt", "gteq", "moreq", "lt", "lteq", "from", "to", "like", "nlike", "in", "nin", "finset",
              "nfinset", "null", "notnull"}
RANGE_SQL = {"gt": ">", "gteq": ">=", "moreq": ">=", "from": ">=", "lt": "<", "lteq": "<=", "to": "<="}
INDEXED = {"entity_id": "id", "created_at": "created_at", "updated_at": "updated_at"}  # filter field -> store column

# Required properties of the definitions served (the schema's `required` lists): these are output even when null.
REQUIRED = {
    "product": ("sku",),
    "media": ("media_type", "label", "position", "disabled", "types"),
    "customer": ("email", "firstname", "lastname"),
    "region": ("region_code", "region", "region_id"),
    "order": ("base_grand_total", "customer_email", "grand_total", "items"),
    "order_item": ("sku",),
    "order_address": ("address_type", "city", "country_id", "firstname", "lastname", "postcode", "telephone"),
    "payment": ("account_status", "additional_information", "cc_last4", "method"),
    "tax_class": ("class_name", "class_type"),
    "tax_rate": ("tax_country_id", "rate", "code"),
    "option": ("label", "value"),
    "creditmemo": ("order_id", "items"),
    "creditmemo_item": ("base_cost", "base_price", "entity_id", "order_item_id", "qty"),
    "creditmemo_comment": ("comment", "is_customer_notified", "is_visible_on_front", "parent_id"),
}
# What real shops hold (kit/emulator_cases.py picks orders; these pick products, a few percent each):
TYPE_EVERY = {11: "virtual", 12: "downloadable", 13: "bundle"}  # id % 25 -> type_id of a product without variants
OFF_WEBSITE = (30, 19)  # id % 30 == 19: removed from the website (website_ids [])
OTHER_WEBSITE = (30, 4)  # id % 30 == 4: in the second website only (website_ids [2]), not in the store's
SALE_DATES = (3, 1)  # id % 3 == 1 with a special price: the sale runs from the product's creation for 20 years
CANONICAL_TYPE = {"variable": "configurable", "simple": "simple", "grouped": "grouped", "bundle": "bundle",
                  "virtual": "virtual", "downloadable": "downloadable"}


GONE_PRODUCT = 700_000_000  # product ids of lines whose product was deleted since (no such product is served)
CHILD_OF = "_child_of"  # a listed configurable child's parent id (MagentoEmulator.lists_children)


def type_id(p: dict) -> str:
    """Magento's type_id of a canonical product: its type where it has one, configurable with variants, else a
    virtual, downloadable or (fixed-price) bundle product for a few ids, else simple."""
    if p.get("type") in CANONICAL_TYPE:
        return CANONICAL_TYPE[p["type"]]
    if p.get("variants"):
        return "configurable"
    pid = int(p["source_id"])
    return TYPE_EVERY.get(pid % 25, "simple")


def website_ids(p: dict) -> list[int]:
    """The websites a product is in: the store's (1), none (removed from it) or only the second website (2)."""
    pid = int(p["source_id"])
    if pid % OFF_WEBSITE[0] == OFF_WEBSITE[1]:
        return []
    return [2] if pid % OTHER_WEBSITE[0] == OTHER_WEBSITE[1] else [1]


def off_website(p: dict) -> bool:
    """Whether the product is not in the store view's website (website 1)."""
    return 1 not in website_ids(p)


def sale_dates(p: dict) -> tuple[str | None, str | None]:
    """(special_from_date, special_to_date) as Magento's "Y-m-d H:i:s": the canonical dates where the product has
    them; else a dated sale running now (from its creation, for 20 years: the store's price is what it sells at)
    for every third product with a special price."""
    if p.get("special_price_from") or p.get("special_price_to"):
        return mtime(p.get("special_price_from")), mtime(p.get("special_price_to"))
    created = p.get("created_at") or p.get("updated_at")
    if p.get("special_price") is None or not created or int(p["source_id"]) % SALE_DATES[0] != SALE_DATES[1]:
        return None, None
    return mtime(created), mtime(to_utc(created) + timedelta(days=20 * 365))


def option_code(label: str) -> str:
    """The attribute_code of a configurable option (the store names options by label only)."""
    return "cfg_" + (re.sub(r"[^a-z0-9]+", "_", str(label).lower()).strip("_") or "option")


def child_id(pid: int, k: int) -> int:
    """The simple product id of variant k of configurable product pid (above the store's ids)."""
    return 800_000_000 + pid * 100 + k + 1


def mtime(value) -> str | None:
    """Magento's UTC "Y-m-d H:i:s"."""
    return to_utc(value).strftime("%Y-%m-%d %H:%M:%S") if value else None


def out(d: dict, kind: str | None = None) -> dict:
    """A data object as Magento's DataObjectProcessor outputs it: null values left out, except for the getters
    whose return value is required (`REQUIRED[kind]`), which are output as null."""
    keep = REQUIRED.get(kind, ()) if kind else ()
    return {k: v for k, v in d.items() if v is not None or k in keep}


def number(value) -> Decimal | None:
    """A decimal column's value; None when the record holds no number there (a shop's database would not)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def text(value) -> str | None:
    """A text column: empty strings are kept (imports leave them), only a missing value is null."""
    return None if value is None else str(value)


def option_id(label: str, value: str) -> int:
    """A stable eav_attribute_option id for a configurable option value."""
    return 1000 + zlib.crc32(f"{label}\x00{value}".encode()) % 9_000_000


class BadRequest(Exception):
    """A Magento error answer: InputException and friends (400), NoSuchEntityException (404), ..."""

    def __init__(self, message: str, parameters=None, status: int = 400, errors=None):
        super().__init__(message)
        self.message, self.parameters, self.status, self.errors = message, parameters, status, errors


def compare(a, b) -> int:
    """MySQL-like comparison of a column value and a filter value: numbers as numbers, text case-insensitively."""
    x, y = number(a), number(b)
    if x is not None and y is not None:
        return (x > y) - (x < y)
    s, t = str(a).casefold(), str(b).casefold()
    return (s > t) - (s < t)


def like(value, pattern: str) -> bool:
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, str(value), re.IGNORECASE | re.DOTALL) is not None


def matches(value, cond: str, wanted) -> bool:
    if cond == "null":
        return value is None
    if cond == "notnull":
        return value is not None
    if isinstance(value, list):  # a multi-value attribute (category_ids): any of its values
        if cond in ("finset", "nfinset"):
            hit = any(compare(v, wanted) == 0 for v in value)
            return hit if cond == "finset" else not hit
        hits = [matches(v, cond, wanted) for v in value]
        return all(hits) if cond in ("neq", "nin", "nlike") else any(hits)
    if value is None:
        return False  # SQL: NULL matches no comparison
    if cond == "eq":
        return compare(value, wanted) == 0
    if cond == "neq":
        return compare(value, wanted) != 0
    if cond in ("gt",):
        return compare(value, wanted) > 0
    if cond in ("gteq", "moreq", "from"):
        return compare(value, wanted) >= 0
    if cond == "lt":
        return compare(value, wanted) < 0
    if cond in ("lteq", "to"):
        return compare(value, wanted) <= 0
    if cond in ("like", "nlike"):
        return like(value, str(wanted)) == (cond == "like")
    values = [v.strip() for v in str(wanted).split(",")]
    if cond in ("in", "nin"):
        return any(compare(value, v) == 0 for v in values) == (cond == "in")
    if cond in ("finset", "nfinset"):
        return (str(wanted) in str(value).split(",")) == (cond == "finset")
    return False


class Criteria:
    """searchCriteria from a query string: filter groups (ANDed) of filters (ORed), sort orders, page size and page."""

    def __init__(self, request: Request, default_size: int, max_size: int):
        args = request.args
        self.size = self._int(args, "pageSize", "page_size")
        self.page = self._int(args, "currentPage", "current_page")
        if self.size is None:
            self.size = default_size  # Web API input limits: the default page size is applied
        if self.size > max_size:
            raise BadRequest("Maximum SearchCriteria pageSize is %max", {"max": max_size})
        groups: dict[int, dict[int, dict]] = {}
        sorts: dict[int, dict] = {}
        for key, value in args.items(multi=False):
            if m := FILTER.fullmatch(key):
                part = "condition_type" if m.group(3) == "conditionType" else m.group(3)
                groups.setdefault(int(m.group(1)), {}).setdefault(int(m.group(2)), {})[part] = value
            elif m := SORT.fullmatch(key):
                sorts.setdefault(int(m.group(1)), {})[m.group(2)] = value
        self.groups: list[list[tuple[str, str | None, str]]] = []
        echo_groups = []
        for g in sorted(groups):
            group, echo = [], []
            for f in sorted(groups[g]):
                flt = groups[g][f]
                if not flt.get("field"):
                    raise BadRequest(REQUIRED_FIELD, {"fieldName": "field"})
                cond = (flt.get("condition_type") or "eq").lower()
                if cond not in CONDITIONS:
                    raise BadRequest("emulator: condition_type %1 is not one Magento documents", [cond])
                if flt.get("value") is None and cond not in ("null", "notnull"):
                    raise BadRequest(REQUIRED_FIELD, {"fieldName": "value"})
                group.append((flt["field"], flt.get("value"), cond))
                echo.append({k: flt[k] for k in ("field", "value", "condition_type") if k in flt})
            self.groups.append(group)
            echo_groups.append({"filters": echo})
        self.sorts: list[tuple[str, bool]] = []  # (field, descending)
        echo_sorts = []
        for n in sorted(sorts):
            field, direction = sorts[n].get("field"), sorts[n].get("direction")
            if not field:
                raise BadRequest(REQUIRED_FIELD, {"fieldName": "field"})
            if direction is not None and direction.upper() not in ("ASC", "DESC"):
                raise BadRequest('Sort order direction "%1" is not supported.', [direction])
            self.sorts.append((field, (direction or "").upper() != "ASC"))
            echo_sorts.append({"field": field, "direction": direction})
        self.echo = out({"filter_groups": echo_groups, "sort_orders": echo_sorts or None, "page_size": self.size,
                         "current_page": self.page})
        self.page = max(1, self.page or 1)

    @staticmethod
    def _int(args, *names) -> int | None:
        for name in names:
            raw = args.get(f"searchCriteria[{name}]")
            if raw is not None and raw != "":
                try:
                    return int(raw)
                except ValueError:
                    raise BadRequest(BAD_TYPE, {"value": raw, "type": "int"}) from None
        return None

    def skus(self) -> list[str] | None:
        """The SKUs a search names when one of its groups is a single `sku` eq or in filter (looked up directly);
        else None. The other groups, sorts and paging still apply to what is found."""
        for group in self.groups:
            if len(group) == 1 and group[0][0] == "sku" and group[0][2] in ("eq", "in"):
                field, value, cond = group[0]
                return [value] if cond == "eq" else [v.strip() for v in str(value).split(",") if v.strip()]
        return None

    def indexed(self):
        """(within, updated_min, updated_max, order) when the store's index answers these criteria (filters and
        sorts on entity_id, created_at, updated_at only); else None."""
        within, lo, hi = [], None, None
        for group in self.groups:
            if len(group) != 1:
                return None
            field, value, cond = group[0]
            column = INDEXED.get(field)
            if column is None or cond not in RANGE_SQL and cond != "eq":
                return None
            try:
                bound = int(value) if column == "id" else to_utc(_iso(value))
            except (TypeError, ValueError):
                return None
            if column == "updated_at":  # the store filters updated_at > min and <= max
                if cond == "eq" or lo is not None and cond in ("gt", "gteq", "moreq", "from") or \
                        hi is not None and cond in ("lt", "lteq", "to"):
                    return None
                if cond == "gt":
                    lo = bound
                elif cond in ("gteq", "moreq", "from"):
                    lo = bound - timedelta(microseconds=1)
                elif cond in ("lteq", "to"):
                    hi = bound
                else:
                    hi = bound - timedelta(microseconds=1)
            elif cond == "eq":
                within += [(column, ">=", bound), (column, "<=", bound)]
            else:
                within.append((column, RANGE_SQL[cond], bound))
        if not self.sorts:
            order = "id"
        elif len(self.sorts) == 1:
            field, descending = self.sorts[0]
            column = INDEXED.get(field)
            order = {("id", False): "id", ("id", True): "-id", ("created_at", False): "created_at",
                     ("updated_at", False): "updated_at"}.get((column, descending))
            if order is None:
                return None
        else:
            return None
        return within, lo, hi, order


def _iso(value: str) -> str:
    value = str(value).strip().replace(" ", "T")
    if len(value) == 10:
        value += "T00:00:00"
    return value if "+" in value[10:] or value.endswith("Z") else value + "+00:00"


def field_value(item: dict, field: str, aliases: dict[str, str]):
    """A record's value for a filter or sort field: a top-level key, or a custom attribute."""
    key = aliases.get(field, field)
    if key in item:
        return item[key]
    for attr in item.get("custom_attributes") or ():
        if attr.get("attribute_code") == field:
            return attr.get("value")
    return None


class MagentoEmulator(Emulator):
    platform = "magento"
    url_map = Map([Rule("/rest/<path:path>", endpoint="dispatch", methods=["GET", "POST", "PUT", "DELETE"])])
    MAX_PAGE_SIZE = 300
    DEFAULT_PAGE_SIZE = 20
    PLANS = {"standard": 20, "plus": 50, "enterprise": 100}  # requests per second allowed by the host's limiter
    ADMIN_USERNAME, ADMIN_PASSWORD = "api-admin", "emulated-admin-password-7"
    ADMIN_TOKEN_HOURS = 4
    LOCK_FAILURES, LOCK_SECONDS = 6, 1800
    # (method, path template) -> (handler, ACL resource from the module's etc/webapi.xml; None: anonymous)
    ROUTES = {
        ("POST", "V1/integration/admin/token"): ("admin_token", None),
        ("GET", "V1/store/storeConfigs"): ("store_configs", "Magento_Backend::store"),
        ("GET", "V1/store/storeViews"): ("store_views", "Magento_Backend::store"),
        ("GET", "V1/store/storeGroups"): ("store_groups", "Magento_Backend::store"),
        ("GET", "V1/store/websites"): ("websites", "Magento_Backend::store"),
        ("GET", "V1/categories/list"): ("categories", "Magento_Catalog::categories"),
        ("GET", "V1/categories/{categoryId}"): ("category", "Magento_Catalog::categories"),
        ("GET", "V1/products"): ("products", "Magento_Catalog::products"),
        ("GET", "V1/products/{sku}"): ("product", "Magento_Catalog::products"),
        ("GET", "V1/products/{sku}/media"): ("product_media", "Magento_Catalog::products"),
        ("GET", "V1/stockItems/{productSku}"): ("stock_item", "Magento_CatalogInventory::cataloginventory"),
        ("GET", "V1/products/attributes/{attributeCode}/options"): ("attribute_options",
                                                                    "Magento_Catalog::attributes_attributes"),
        ("GET", "V1/taxClasses/search"): ("tax_classes", "Magento_Tax::manage_tax"),
        ("GET", "V1/taxRates/search"): ("tax_rates", "Magento_Tax::manage_tax"),
        ("GET", "V1/taxRules/search"): ("tax_rules", "Magento_Tax::manage_tax"),
        ("GET", "V1/customers/search"): ("customers", "Magento_Customer::customer"),
        ("GET", "V1/customers/{customerId}"): ("customer", "Magento_Customer::customer"),
        ("GET", "V1/orders"): ("orders", "Magento_Sales::actions_view"),
        ("GET", "V1/orders/{id}"): ("order", "Magento_Sales::actions_view"),
        ("GET", "V1/configurable-products/{sku}/children"): ("children", "Magento_Catalog::products"),
        ("GET", "V1/creditmemos"): ("creditmemos", "Magento_Sales::sales"),
    }
    # literal routes first, so "customers/search" is not read as customer id "search"
    _MATCHERS = sorted(((method, re.compile("/".join("(?P<%s>[^/]+)" % s[1:-1] if s.startswith("{") else re.escape(s)
                                                     for s in template.split("/"))), template)
                        for method, template in ROUTES), key=lambda m: m[2].count("{"))

    def __init__(self, store: EmulatorStore, knobs: Knobs | None = None):
        super().__init__(store, knobs)
        self.token = "magento-integration-token-0001"
        self.admin_tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self.failures: dict[str, tuple[int, float]] = {}  # username -> (failures in a row, locked until)
        self.issued = 0
        self.window = FixedWindow(self.PLANS.get(self.knobs.plan, self.PLANS["standard"]), 1.0)
        self.reports = 0
        self.mode = "production"  # "developer": error bodies carry the stack trace, as app:mode developer does
        # Magento lists a configurable product's child simple products in GET V1/products too (visibility 1, "Not
        # Visible Individually"); the store's products carry them as variants. True: they are listed, as in a real
        # shop (tests of the pipeline's rule variant_listed_as_product); False (default): the list holds the
        # store's products only, so the generic contract tests compare it with the store.
        self.lists_children = False

    def credentials(self) -> dict:
        return {"access_token": self.token}

    # --- Magento's responses
    def fail(self, status: int, message: str, parameters=None, errors=None, headers=None) -> Response:
        body = {"message": message}
        if parameters:
            body["parameters"] = parameters
        if errors:
            body["errors"] = errors
        if self.mode == "developer":
            body["trace"] = "".join(traceback.format_stack(limit=8))
        return self.json(body, status, headers)

    def throttled(self, request: Request) -> Response:
        return self.json({"message": "Too Many Requests"}, 429, {"Retry-After": "1"})

    def error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, NotFound):
            return self.fail(404, NO_ROUTE)
        if isinstance(exc, HTTPException):
            return self.fail(exc.code, exc.description or exc.name)
        with self.lock:
            self.reports += 1
        return self.fail(500, f"Internal Error. Details are available in Magento log file. Report ID: "
                              f"webapi-{self.reports:013x}")

    # --- dispatch: host limiter, route, ACL check, handler
    def route(self, method: str, path: str) -> tuple[str, str | None, dict] | None:
        for m, rx, template in self._MATCHERS:
            if m == method and (found := rx.fullmatch(path)):
                handler, acl = self.ROUTES[(m, template)]
                return handler, acl, found.groupdict()
        return None

    def dispatch(self, request: Request, path: str) -> Response:
        m = re.fullmatch(r"(?:[\w-]+/)?(V1/.+?)/?", path)
        if not m:
            raise NotFound()
        if self.knobs.rate_limit:
            allowed, _, reset = self.window.take()
            if not allowed:
                return self.json({"message": "Too Many Requests"}, 429, {"Retry-After": str(max(1, math.ceil(reset)))})
        found = self.route(request.method, m.group(1))
        if found is None:
            raise NotFound()
        handler, acl, params = found
        if acl is not None and (not self.authorised(request) or acl in self.knobs.denied_scopes):
            return self.fail(401, NOT_AUTHORIZED, {"resources": acl})
        try:
            return getattr(self, handler)(request, **params)
        except BadRequest as exc:
            return self.fail(exc.status, exc.message, exc.parameters, exc.errors)

    def authorised(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if token and token == self.token:
            return True
        expiry = self.admin_tokens.get(token)
        return expiry is not None and expiry > time.monotonic()

    def admin_token(self, request: Request) -> Response:
        body = request.get_json(silent=True)
        body = body if isinstance(body, dict) else {}
        username, password = body.get("username"), body.get("password")
        missing = [f for f, v in (("username", username), ("password", password)) if not isinstance(v, str) or not v]
        if len(missing) == 1:
            raise BadRequest(REQUIRED_FIELD, {"fieldName": missing[0]})
        if missing:  # InputException with several errors: a general message and each error
            raise BadRequest("One or more input exceptions have occurred.", errors=[
                {"message": REQUIRED_FIELD, "parameters": {"fieldName": f}} for f in missing])
        now = time.monotonic()
        with self.lock:
            count, locked_until = self.failures.get(username, (0, 0.0))
            if locked_until > now or username != self.ADMIN_USERNAME or password != self.ADMIN_PASSWORD:
                if locked_until <= now:
                    count += 1
                    locked_until = now + self.LOCK_SECONDS if count >= self.LOCK_FAILURES else 0.0
                self.failures[username] = (count, locked_until)
                return self.fail(401, BAD_LOGIN)
            self.failures.pop(username, None)
            self.issued += 1
            token = f"magento-admin-token-{self.issued:06d}"
            self.admin_tokens[token] = now + self.ADMIN_TOKEN_HOURS * 3600
        return self.json(token)

    # --- searches
    def criteria(self, request: Request) -> Criteria:
        return Criteria(request, self.DEFAULT_PAGE_SIZE, self.MAX_PAGE_SIZE)

    def answer(self, request: Request, items: list[dict], total: int, crit: Criteria) -> Response:
        self.delay(len(items))
        body = {"items": items, "search_criteria": crit.echo, "total_count": total}
        fields = request.args.get("fields")
        if fields:
            keep = re.match(r"items\[([^\]]*)\]", fields)
            names = set(keep.group(1).split(",")) if keep else None
            body = {k: v for k, v in body.items() if k in fields}
            if names and "items" in body:
                body["items"] = [{k: v for k, v in i.items() if k in names} for i in body["items"]]
        return self.json(body)

    def scan(self, request: Request, items: list[dict], crit: Criteria, aliases: dict[str, str]) -> Response:
        """Filter, sort and page mapped records in memory (fields the store has no index for)."""
        for group in crit.groups:
            items = [i for i in items if any(matches(field_value(i, f, aliases), c, v) for f, v, c in group)]
        for field, descending in reversed(crit.sorts):  # stable sorts, last key first
            def key(a, b, field=field):
                x, y = field_value(a, field, aliases), field_value(b, field, aliases)
                return (x is not None) - (y is not None) if x is None or y is None else compare(x, y)
            items = sorted(items, key=cmp_to_key(key), reverse=descending)
        start = (crit.page - 1) * crit.size
        return self.answer(request, items[start:start + crit.size], len(items), crit)

    def search(self, request: Request, entity: str, to_json, aliases: dict[str, str]) -> Response:
        """A search over the store's records of `entity`: from its index when it can, else by scanning."""
        crit = self.criteria(request)
        plan = crit.indexed()
        if plan is None:
            rows = self.store.page(entity, 0, self.store.count(entity))
            return self.scan(request, [to_json(r) for r in rows], crit, aliases)
        within, lo, hi, order = plan
        total = self.store.count(entity, lo, hi, within=within)
        offset = (crit.page - 1) * crit.size
        rows = self.store.page(entity, offset, crit.size, lo, hi, order=order, within=within) if offset < total else []
        return self.answer(request, [to_json(r) for r in rows], total, crit)

    def one(self, entity: str, raw: str, field: str, message: str | None = None) -> dict:
        """A record by its numeric id from the path; NoSuchEntityException (404) when absent."""
        try:
            id_ = int(raw)
        except ValueError:
            raise BadRequest(BAD_TYPE, {"value": raw, "type": "int"}) from None
        record = self.store.get(entity, id_)
        if record is None:
            if message:
                raise BadRequest(message, status=404)
            raise BadRequest(NO_SUCH_FIELD, {"fieldName": field, "fieldValue": raw}, status=404)
        return record

    def by_sku(self, sku: str) -> dict:
        with self.store.lock:  # SKUs are unique in Magento; the store indexes ids only
            rows = self.store.con.execute("SELECT id FROM products WHERE json_extract_string(record, '$.sku') = ? "
                                          "ORDER BY id LIMIT 1", [sku]).fetchall()
        record = self.store.get("products", rows[0][0]) if rows else None
        if record is None:
            raise BadRequest(NO_PRODUCT, status=404)
        return record

    # --- store
    def store_configs(self, request: Request) -> Response:
        base = self.base_url
        return self.json([{"id": 1, "code": "default", "website_id": 1, "locale": "nb_NO",
                           "base_currency_code": "NOK", "default_display_currency_code": "NOK",
                           "timezone": "Europe/Oslo", "weight_unit": "kgs", "base_url": f"{base}/",
                           "base_link_url": f"{base}/", "base_static_url": f"{base}/static/",
                           "base_media_url": f"{base}/media/", "secure_base_url": f"{base}/",
                           "secure_base_link_url": f"{base}/", "secure_base_static_url": f"{base}/static/",
                           "secure_base_media_url": f"{base}/media/"}])

    def store_views(self, request: Request) -> Response:  # the admin store view (0) and the one store view
        return self.json([{"id": 0, "code": "admin", "name": "Admin", "website_id": 0, "store_group_id": 0,
                           "is_active": 1},
                          {"id": 1, "code": "default", "name": "Default Store View", "website_id": 1,
                           "store_group_id": 1, "is_active": 1},
                          {"id": 2, "code": "b2b", "name": "B2B Store View", "website_id": 2,
                           "store_group_id": 2, "is_active": 1}])

    def store_groups(self, request: Request) -> Response:
        return self.json([{"id": 0, "website_id": 0, "root_category_id": 0, "default_store_id": 0, "name": "Default",
                           "code": "default"},
                          {"id": 1, "website_id": 1, "root_category_id": STORE_ROOT_ID, "default_store_id": 1,
                           "name": "Main Website Store", "code": "main_website_store"},
                          {"id": 2, "website_id": 2, "root_category_id": STORE_ROOT_ID, "default_store_id": 2,
                           "name": "B2B Store", "code": "b2b_store"}])

    def websites(self, request: Request) -> Response:
        return self.json([{"id": 0, "code": "admin", "name": "Admin", "default_group_id": 0},
                          {"id": 1, "code": "base", "name": "Main Website", "default_group_id": 1},
                          {"id": 2, "code": "b2b", "name": "B2B Website", "default_group_id": 2}])

    # --- categories
    def _category_tree(self) -> tuple[list[dict], dict[int, dict]]:
        """Every category as Magento serves it (system roots included), and by id."""
        records = self.store.page("categories", 0, self.store.count("categories"))
        parents = {int(c["source_id"]): int(c["parent_id"]) if c.get("parent_id") else STORE_ROOT_ID
                   for c in records}
        parents.update({ROOT_ID: 0, STORE_ROOT_ID: ROOT_ID})
        children: dict[int, list[int]] = {}
        for cid, parent in sorted(parents.items()):
            children.setdefault(parent, []).append(cid)

        def chain(cid: int) -> list[int]:
            ids, seen = [], set()
            while cid and cid not in seen:  # a parent that is gone ends the chain
                seen.add(cid)
                ids.insert(0, cid)
                cid = parents.get(cid, 0)
            return ids

        def item(cid: int, c: dict) -> dict:
            ids = chain(cid)
            url_path = c.get("url_key") or ""
            attrs = [("url_key", url_path.rsplit("/", 1)[-1] or None), ("url_path", url_path or None),
                     ("display_mode", "PRODUCTS"), ("is_anchor", "1")]
            return out({"id": cid, "parent_id": parents[cid], "name": text(c.get("name")),
                        "is_active": bool(c.get("is_visible", True)),
                        "position": c.get("position") if isinstance(c.get("position"), int) else 0,
                        "level": len(ids) - 1, "children": ",".join(map(str, children.get(cid, []))),
                        "created_at": mtime(c.get("created_at") or c.get("updated_at") or SYSTEM_AT),
                        "updated_at": mtime(c.get("updated_at") or SYSTEM_AT), "path": "/".join(map(str, ids)),
                        "include_in_menu": True,
                        "custom_attributes": [{"attribute_code": k, "value": v} for k, v in attrs if v is not None]})
        served = [item(int(c["source_id"]), c) for c in records]
        served += [item(ROOT_ID, {"name": "Root Catalog", "position": 0}),
                   item(STORE_ROOT_ID, {"name": "Default Category", "position": 1})]
        served.sort(key=lambda c: c["id"])
        return served, {c["id"]: c for c in served}

    def categories(self, request: Request) -> Response:
        crit = self.criteria(request)
        return self.scan(request, self._category_tree()[0], crit, {"entity_id": "id"})

    def category(self, request: Request, categoryId: str) -> Response:
        try:
            cid = int(categoryId)
        except ValueError:
            raise BadRequest(BAD_TYPE, {"value": categoryId, "type": "int"}) from None
        found = self._category_tree()[1].get(cid)
        if found is None:
            raise BadRequest(NO_SUCH_FIELD, {"fieldName": "id", "fieldValue": categoryId}, status=404)
        return self.json(found)

    # --- manufacturer options, tax tables
    def attribute_options(self, request: Request, attributeCode: str) -> Response:
        """An attribute's options: one unpaged list, the empty option first. The store models `manufacturer`."""
        if attributeCode.startswith("cfg_"):
            values = self._option_values(attributeCode)
            if not values:
                raise BadRequest(NO_ATTRIBUTE, [attributeCode], status=404)
            return self.json([{"label": " ", "value": ""}] + [
                out({"label": label, "value": value, "sort_order": 0, "is_default": False, "store_labels": []},
                    "option") for label, value in values])
        if attributeCode != "manufacturer":
            raise BadRequest(NO_ATTRIBUTE, [attributeCode], status=404)
        n = self.store.count("manufacturers")
        options = [{"label": " ", "value": ""}] + [
            out({"label": text(m.get("name")), "value": str(m["source_id"]), "sort_order": 0, "is_default": False,
                 "store_labels": []}, "option") for m in self.store.page("manufacturers", 0, n)]
        self.delay(len(options))
        return self.json(options)

    def _tax_tables(self) -> tuple[list, list, list]:
        classes = self.store.page("tax_classes", 0, self.store.count("tax_classes"))
        out_classes, rates, rules = [], [], []
        for c in classes:
            cid = int(c["source_id"])
            out_classes.append(out({"class_id": cid, "class_name": text(c.get("name")), "class_type": "PRODUCT"},
                                   "tax_class"))
            ids = []
            for k, r in enumerate(c.get("rates") or []):
                rid = cid * 100 + k + 1
                ids.append(rid)
                rates.append(out({"id": rid, "tax_country_id": text(r.get("country")), "tax_region_id": 0,
                                  "tax_postcode": "*", "rate": number(r.get("rate")),
                                  "code": f"{r.get('country') or '*'}-{c.get('name') or cid}", "titles": []},
                                 "tax_rate"))
            rules.append({"id": cid, "code": f"Regel {c.get('name') or cid}", "priority": 0, "position": 0,
                          "customer_tax_class_ids": [CUSTOMER_CLASS_ID], "product_tax_class_ids": [cid],
                          "tax_rate_ids": ids, "calculate_subtotal": False})
        out_classes.append({"class_id": CUSTOMER_CLASS_ID, "class_name": "Retail Customer", "class_type": "CUSTOMER"})
        return out_classes, rates, rules

    def tax_classes(self, request: Request) -> Response:
        return self.scan(request, self._tax_tables()[0], self.criteria(request), {})

    def tax_rates(self, request: Request) -> Response:
        return self.scan(request, self._tax_tables()[1], self.criteria(request),
                         {"tax_calculation_rate_id": "id"})

    def tax_rules(self, request: Request) -> Response:
        return self.scan(request, self._tax_tables()[2], self.criteria(request),
                         {"tax_calculation_rule_id": "id"})

    # --- products
    @staticmethod
    def _stock_item(p: dict) -> dict:
        """cataloginventory_stock_item with the module's defaults (Stores > Configuration > Catalog > Inventory)."""
        pid = int(p["source_id"])
        qty = number(p.get("stock"))
        return {"item_id": pid, "product_id": pid, "stock_id": 1, "qty": qty, "is_in_stock": bool(qty and qty > 0),
                "is_qty_decimal": False, "show_default_notification_message": False, "use_config_min_qty": True,
                "min_qty": 0, "use_config_min_sale_qty": 1, "min_sale_qty": 1, "use_config_max_sale_qty": True,
                "max_sale_qty": 10000, "use_config_backorders": True, "backorders": 0,
                "use_config_notify_stock_qty": True, "notify_stock_qty": 1, "use_config_qty_increments": True,
                "qty_increments": 0, "use_config_enable_qty_inc": True, "enable_qty_increments": False,
                "use_config_manage_stock": True, "manage_stock": True, "low_stock_date": None,
                "is_decimal_divided": False, "stock_status_changed_auto": 0}

    @staticmethod
    def _media(p: dict) -> list[dict]:
        pid, media = int(p["source_id"]), []
        for k, img in enumerate(p.get("images") or []):
            name = str(img.get("url") or "").rsplit("/", 1)[-1]
            if not name:
                continue
            position = img.get("position")
            media.append(out({"id": pid * 10 + k, "media_type": "image", "label": text(img.get("alt")),
                              "position": position if isinstance(position, int) else k, "disabled": False,
                              "types": ["image", "small_image", "thumbnail"] if k == 0 else [],
                              "file": f"/{name[0]}/{name[1] if len(name) > 1 else '_'}/{name}"}, "media"))
        return media

    def _product(self, p: dict) -> dict:
        pid = int(p["source_id"])
        special = number(p.get("special_price"))
        category_ids = [str(c) for c in p.get("category_ids") or []]
        start, end = sale_dates(p)
        attrs = [("description", text(p.get("description_html"))),
                 ("url_key", text((p.get("url_key") or "").rsplit("/", 1)[-1])),  # a segment; paths are url rewrites
                 ("special_price", None if special is None else f"{special:.6f}"),  # decimal attributes are text
                 ("special_from_date", start), ("special_to_date", end),
                 ("manufacturer", text(p.get("manufacturer_id"))), ("tax_class_id", text(p.get("tax_class_id"))),
                 ("category_ids", category_ids or None), ("options_container", "container2")]
        variants = [v for v in p.get("variants") or [] if isinstance(v, dict)]
        ext = {"website_ids": website_ids(p),
               "category_links": [{"position": k, "category_id": c} for k, c in enumerate(category_ids)],
               "stock_item": self._stock_item(p)}
        if variants:
            labels = [o.get("name") for o in variants[0].get("options") or [] if o.get("name")]
            ext["configurable_product_options"] = [
                {"id": pid * 10 + k, "attribute_id": str(200 + k), "label": label, "position": k,
                 "values": [{"value_index": option_id(label, value)}
                            for value in sorted({str(o.get("value")) for v in variants for o in v.get("options") or []
                                                 if o.get("name") == label})],
                 "product_id": pid} for k, label in enumerate(labels)]
            # the child simple products: GET configurable-products/{sku}/children (not in the products list)
            ext["configurable_product_links"] = [child_id(pid, k) for k in range(len(variants))]
        links = []
        if type_id(p) == "grouped":  # its products by SKU, link_type "associated"; the group has no price itself
            kids = {str(c["source_id"]): c for c in self.store.page("products", 0, len(p.get("child_ids") or []),
                                                                    ids=[int(i) for i in p.get("child_ids") or []
                                                                         if str(i).isdigit()])}
            links = [{"sku": text(p.get("sku")), "link_type": "associated",
                      "linked_product_sku": text(kids[str(c)].get("sku")), "linked_product_type": type_id(kids[str(c)]),
                      "position": k + 1, "extension_attributes": {"qty": 1}}
                     for k, c in enumerate(p.get("child_ids") or []) if str(c) in kids]
        return out({"id": pid, "sku": text(p.get("sku")), "name": text(p.get("name")), "attribute_set_id": 4,
                    "price": None if type_id(p) == "grouped" else number(p.get("price")),
                    "status": 2 if p.get("status") == "disabled" else 1, "visibility": 4,
                    "type_id": type_id(p),
                    "created_at": mtime(p.get("created_at") or p.get("updated_at")),
                    "updated_at": mtime(p.get("updated_at")), "weight": number(p.get("weight")),
                    "extension_attributes": ext, "product_links": links, "options": [],
                    "media_gallery_entries": self._media(p), "tier_prices": [],
                    "custom_attributes": [{"attribute_code": c, "value": v} for c, v in attrs if v is not None]},
                   "product")

    def products(self, request: Request) -> Response:
        crit = self.criteria(request)
        skus = crit.skus()
        if skus is not None:  # a search by SKU (eq / in): SKUs are unique, looked up without reading every product
            with self.store.lock:
                rows = self.store.con.execute(
                    f"SELECT id FROM products WHERE json_extract_string(record, '$.sku') IN "
                    f"({', '.join('?' for _ in skus) or 'NULL'}) ORDER BY id", list(skus)).fetchall()
            found = self.store.page("products", 0, len(rows), ids=[r[0] for r in rows]) if rows else []
            return self.scan(request, [self._product(r) for r in found], crit, {"entity_id": "id"})
        return self.search(request, self._listed(), self._listed_product, {"entity_id": "id"})

    def _child(self, p: dict, k: int, v: dict) -> dict:
        """Variant k of configurable product p as its child simple product: the option attributes it stands for,
        `status` 2 where the variant is disabled, visibility 1 "Not Visible Individually"."""
        pid = int(p["source_id"])
        price = number(v.get("price")) if v.get("price") is not None else number(p.get("price"))
        attrs = [{"attribute_code": option_code(o.get("name")),
                  "value": str(option_id(o.get("name"), str(o.get("value"))))}
                 for o in v.get("options") or [] if o.get("name")]
        stock = self._stock_item({**p, "source_id": child_id(pid, k), "stock": v.get("stock")})
        return out({"id": child_id(pid, k), "sku": text(v.get("sku")), "attribute_set_id": 4,
                    "name": text(" ".join([str(p.get("name") or "")] + [str(o.get("value"))
                                                                       for o in v.get("options") or []])),
                    "price": price, "status": 2 if cases.variant_disabled(p, k) else 1,
                    "visibility": 1, "type_id": "simple", "weight": number(p.get("weight")),
                    "created_at": mtime(p.get("created_at") or p.get("updated_at")),
                    "updated_at": mtime(p.get("updated_at")),
                    "extension_attributes": {"website_ids": [1], "stock_item": stock},
                    "custom_attributes": attrs}, "product")

    def children(self, request: Request, sku: str) -> Response:
        """A configurable product's child simple products (ConfigurableProduct LinkManagement getChildren)."""
        p = self.by_sku(sku)
        return self.json([self._child(p, k, v) for k, v in enumerate(v for v in p.get("variants") or []
                                                                     if isinstance(v, dict))])

    def _listed(self) -> str:
        """The table the products search reads: the store's products, and with `lists_children` their
        configurable children too (`magento_products`: the products and a table of the children, made when first
        asked; ids by `child_id`, dates of the parent). Children of products written to the store later are not
        listed."""
        if not self.lists_children:
            return "products"
        with self.store.lock:
            con = self.store.con
            if not con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'magento_products'"
                               ).fetchall()[0][0]:
                con.execute("CREATE OR REPLACE TABLE magento_children AS "
                            "SELECT id, created_at, updated_at, record FROM products LIMIT 0")
                rows = con.execute("SELECT id, created_at, updated_at, json_array_length(record, '$.variants') "
                                   "FROM products WHERE json_array_length(record, '$.variants') > 0").fetchall()
                kids = [(child_id(pid, k), created, updated,
                         json.dumps({"source_id": str(child_id(pid, k)), CHILD_OF: pid, "_k": k}))
                        for pid, created, updated, n in rows for k in range(n)]
                if kids:
                    con.executemany("INSERT INTO magento_children VALUES (?, ?, ?, ?)", kids)
                con.execute("CREATE OR REPLACE VIEW magento_products AS SELECT * FROM products "
                            "UNION ALL SELECT * FROM magento_children")
        return "magento_products"

    def _listed_product(self, r: dict) -> dict:
        """A record of the products search: a product, or (`lists_children`) a configurable's child."""
        if CHILD_OF not in r:
            return self._product(r)
        parent = self.store.get("products", int(r[CHILD_OF])) or {"source_id": r[CHILD_OF]}
        variants = [v for v in parent.get("variants") or [] if isinstance(v, dict)]
        k = int(r["_k"])
        return self._child(parent, k, variants[k] if k < len(variants) else {})

    def _option_values(self, code: str) -> list[tuple[str, str]]:
        """(label, value) pairs of a configurable option attribute, from every product's variants."""
        with self.store.lock:
            rows = self.store.con.execute("SELECT record FROM products WHERE json_array_length(record, "
                                          "'$.variants') > 0").fetchall()
        found = set()
        for (raw,) in rows:
            for v in self.store._decode(raw).get("variants") or []:
                for o in v.get("options") or []:
                    if o.get("name") and option_code(o["name"]) == code:
                        found.add((str(o.get("value")), str(option_id(o["name"], str(o.get("value"))))))
        return sorted(found)

    def product(self, request: Request, sku: str) -> Response:
        return self.json(self._product(self.by_sku(sku)))

    def product_media(self, request: Request, sku: str) -> Response:
        return self.json(self._media(self.by_sku(sku)))

    def stock_item(self, request: Request, productSku: str) -> Response:
        return self.json(self._stock_item(self.by_sku(productSku)))

    # --- customers
    @staticmethod
    def _street(a: dict) -> list[str] | None:
        street = a.get("street")
        if street is None or street == "":
            return None
        return [str(s) for s in street] if isinstance(street, list) else str(street).split("\n")

    def _customer(self, c: dict) -> dict:
        cid = int(c["source_id"])
        addresses, defaults = [], {}
        for k, a in enumerate(a for a in c.get("addresses") or [] if isinstance(a, dict)):
            aid = cid * 10 + k + 1
            flags = {}
            for kind in ("billing", "shipping"):
                if a.get(f"is_default_{kind}"):
                    flags[f"default_{kind}"] = True
                    defaults[f"default_{kind}"] = str(aid)
            region = out({"region_code": None, "region": text(a.get("region")), "region_id": 0}, "region")
            addresses.append(out({"id": aid, "customer_id": cid, "region": region, "region_id": 0,
                                  "country_id": text(a.get("country")), "street": self._street(a),
                                  "company": text(a.get("company")), "telephone": text(a.get("phone")),
                                  "postcode": text(a.get("postcode")), "city": text(a.get("city")),
                                  "firstname": text(a.get("first_name")), "lastname": text(a.get("last_name")),
                                  **flags}))
        return out({"id": cid, "group_id": 1, **defaults,
                    "created_at": mtime(c.get("created_at") or c.get("updated_at")),
                    "updated_at": mtime(c.get("updated_at")), "created_in": "Default Store View",
                    "email": text(c.get("email")), "firstname": text(c.get("first_name")),
                    "lastname": text(c.get("last_name")), "store_id": 1, "website_id": 1, "addresses": addresses,
                    "disable_auto_group_change": 0,
                    "extension_attributes": {"is_subscribed": bool(c.get("newsletter"))}}, "customer")

    def customers(self, request: Request) -> Response:
        return self.search(request, "customers", self._customer, {"entity_id": "id"})

    def customer(self, request: Request, customerId: str) -> Response:
        return self.json(self._customer(self.one("customers", customerId, "customerId")))

    # --- orders
    def _order_address(self, a: dict, kind: str, entity_id: int, oid: int, email, customer_id) -> dict:
        return out({"address_type": kind, "city": text(a.get("city")), "company": text(a.get("company")),
                    "country_id": text(a.get("country")), "customer_id": customer_id, "email": email,
                    "entity_id": entity_id, "firstname": text(a.get("first_name")),
                    "lastname": text(a.get("last_name")), "parent_id": oid, "postcode": text(a.get("postcode")),
                    "region": text(a.get("region")), "street": self._street(a), "telephone": text(a.get("phone"))},
                   "order_address")

    def _order(self, o: dict) -> dict:
        oid = int(o["source_id"])
        created, updated = mtime(o.get("created_at") or o.get("updated_at")), mtime(o.get("updated_at"))
        items = []
        refunds = cases.refunds(o)
        for k, i in enumerate(i for i in o.get("items") or [] if isinstance(i, dict)):
            qty, price, tax = number(i.get("qty")), number(i.get("price")), number(i.get("tax"))
            product_id = number(i.get("product_id"))
            if product_id is not None and cases.product_gone(o, k):
                # deleted since: Magento's sales_order_item keeps the id (no foreign key to the catalog)
                product_id = GONE_PRODUCT + int(product_id)
            back = [ln for r in refunds for ln in r.get("lines") or [] if ln.get("item_id") == str(i.get("source_id"))]
            items.append(out({"item_id": oid * 100 + k + 1, "order_id": oid, "created_at": created,
                              "updated_at": updated, "product_id": None if product_id is None else int(product_id),
                              "sku": text(i.get("sku")), "name": text(i.get("name")), "qty_ordered": qty,
                              "price": price, "base_price": price, "original_price": price, "tax_amount": tax,
                              "base_tax_amount": tax,
                              "row_total": None if price is None or qty is None else price * qty,
                              "base_row_total": None if price is None or qty is None else price * qty,
                              "product_type": "simple", "is_virtual": 0, "store_id": 1,
                              "qty_refunded": sum((number(ln.get("qty")) or 0 for ln in back), Decimal(0)),
                              "amount_refunded": sum((number(ln.get("amount")) or 0 for ln in back), Decimal(0))},
                             "order_item"))
        guest = o.get("customer_id") in (None, "")
        customer_id = None if guest else int(number(o["customer_id"]) or 0) or None
        money = {f: number(o.get(c)) for f, c in (("subtotal", "subtotal"), ("shipping_amount", "shipping"),
                                                   ("tax_amount", "tax"), ("grand_total", "grand_total"))}
        discount = number(o.get("discount"))
        discount = None if discount is None else -abs(discount)
        email = text(o.get("email"))
        billing = None
        if isinstance(o.get("billing_address"), dict):
            billing = self._order_address(o["billing_address"], "billing", oid * 2, oid, email, customer_id)
        shipping = None
        if isinstance(o.get("shipping_address"), dict):
            shipping = self._order_address(o["shipping_address"], "shipping", oid * 2 + 1, oid, email, customer_id)
        currency = text(o.get("currency"))
        qty_total = sum((i.get("qty_ordered") or 0 for i in items), Decimal(0))
        return out({"entity_id": oid, "increment_id": text(o.get("number")), "customer_id": customer_id,
                    "customer_is_guest": int(guest), "customer_group_id": 0 if guest else 1,
                    "customer_email": email, "customer_firstname": text(o.get("customer_first_name")),
                    "customer_lastname": text(o.get("customer_last_name")), "status": text(o.get("status")),
                    "order_currency_code": currency, "base_currency_code": currency,
                    "store_currency_code": currency, "global_currency_code": currency, "store_id": 1,
                    **money, **{f"base_{k}": v for k, v in money.items()},
                    "discount_amount": discount, "base_discount_amount": discount,
                    **({"total_refunded": refunded, "base_total_refunded": refunded,
                        "total_offline_refunded": refunded, "base_total_offline_refunded": refunded}
                       if (refunded := cases.refunded_total(o)) else {}),
                    "total_qty_ordered": qty_total, "total_item_count": len(items), "is_virtual": 0,
                    "created_at": created, "updated_at": updated, "items": items,
                    "billing_address_id": None if billing is None else oid * 2, "billing_address": billing,
                    "payment": out({"entity_id": oid, "parent_id": oid, "method": "checkmo",
                                    "amount_ordered": money["grand_total"],
                                    "base_amount_ordered": money["grand_total"],
                                    "additional_information": ["Check / Money order"], "account_status": None,
                                    "cc_last4": None}, "payment"),
                    "extension_attributes": {"shipping_assignments": [
                        {"shipping": out({"address": shipping, "method": "flatrate_flatrate",
                                          "total": out({"shipping_amount": money["shipping_amount"],
                                                        "base_shipping_amount": money["shipping_amount"]})}),
                         "items": items}]}}, "order")

    def orders(self, request: Request) -> Response:
        return self.search(request, "orders", self._order, {"id": "entity_id"})

    def _creditmemo(self, o: dict, r: dict) -> dict:
        """A canonical refund as a credit memo: its lines are items naming the order item, the rest of the amount
        an adjustment refund; the reason is the first comment."""
        oid, cid = int(o["source_id"]), int(r["source_id"])
        created = mtime(r.get("created_at"))
        order_items = {str(i.get("source_id")): (oid * 100 + k + 1, i)
                       for k, i in enumerate(i for i in o.get("items") or [] if isinstance(i, dict))}
        items = []
        for n, ln in enumerate(r.get("lines") or []):
            item_id, it = order_items.get(str(ln.get("item_id")), (0, {}))
            qty, amount = number(ln.get("qty")) or Decimal(0), number(ln.get("amount")) or Decimal(0)
            # row_total before tax (the canonical line amount), the tax of the units refunded apart
            ordered, tax = number(it.get("qty")), number(it.get("tax"))
            tax = (tax * qty / ordered).quantize(Decimal("0.01")) if tax is not None and ordered else Decimal(0)
            items.append(out({"entity_id": cid * 100 + n + 1, "parent_id": cid, "order_item_id": item_id,
                              "sku": text(it.get("sku") or ln.get("sku")), "name": text(it.get("name")),
                              "qty": qty, "price": amount / qty if qty else amount,
                              "base_price": amount / qty if qty else amount, "base_cost": Decimal(0),
                              "row_total": amount, "base_row_total": amount, "tax_amount": tax,
                              "base_tax_amount": tax,
                              "product_id": int(number(it.get("product_id")) or 0) or None}, "creditmemo_item"))
        amount = number(r.get("amount")) or Decimal(0)
        lines = sum((i["row_total"] for i in items), Decimal(0))
        tax = min(sum((i.get("tax_amount") or Decimal(0) for i in items), Decimal(0)), amount - lines)
        tax = max(tax, Decimal(0))
        currency = text(o.get("currency"))
        comments = [out({"entity_id": cid, "parent_id": cid, "comment": text(r["reason"]), "created_at": created,
                         "is_customer_notified": 0, "is_visible_on_front": 0}, "creditmemo_comment")
                    ] if r.get("reason") else []
        return out({"entity_id": cid, "order_id": oid, "increment_id": str(cid), "state": 2, "store_id": 1,
                    "grand_total": amount, "base_grand_total": amount, "subtotal": lines, "base_subtotal": lines,
                    "tax_amount": tax, "base_tax_amount": tax,
                    "adjustment_positive": amount - lines - tax, "base_adjustment_positive": amount - lines - tax,
                    "adjustment": amount - lines - tax, "base_adjustment": amount - lines - tax,
                    "order_currency_code": currency, "base_currency_code": currency,
                    "created_at": created, "updated_at": created, "items": items, "comments": comments},
                   "creditmemo")

    def creditmemos(self, request: Request) -> Response:
        """GET V1/creditmemos (searchCriteria): credit memos of the orders an `order_id` filter names (eq or in),
        else of every order; filtered, sorted and paged like any search."""
        crit = self.criteria(request)
        wanted = sorted({int(x) for group in crit.groups for f, v, c in group if f == "order_id"
                         and c in ("eq", "in") for x in str(v).split(",") if x.strip().isdigit()})
        orders = self.store.page("orders", 0, len(wanted), ids=wanted) if wanted else \
            self.store.page("orders", 0, self.store.count("orders"))
        memos = [self._creditmemo(o, r) for o in orders for r in cases.refunds(o)]
        return self.scan(request, memos, crit, {})

    def order(self, request: Request, id: str) -> Response:
        return self.json(self._order(self.one("orders", id, "id", NO_ENTITY)))


def rate_bound_rows_per_s(entity: str, plan: str = "standard") -> float | None:
    """Most rows/s the emulated host limit allows: requests per second × 300 records per page (benchmarks)."""
    return MagentoEmulator.PLANS.get(plan, MagentoEmulator.PLANS["standard"]) * 300

