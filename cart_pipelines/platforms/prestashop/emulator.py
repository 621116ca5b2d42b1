"""PrestaShop emulator: a generated store served as a PrestaShop 8 shop's Webservice API under /api/.

Held to PrestaShop's own webservice code (github.com/PrestaShop/PrestaShop, classes/webservice/:
WebserviceRequest.php, WebserviceOutputXML.php, WebserviceOutputJSON.php, SQLUtils.php; webservice/dispatcher.php)
and the resource pages of devdocs.prestashop-project.org/8/webservice/:
- auth: the webservice key as the Basic-auth user (empty password) or `ws_key=`; none at all is the dispatcher's
  bare "401 Unauthorized" with WWW-Authenticate; a key not 32 characters long 401 code 18; an unknown key 401 codes
  20 + 21; a resource the key has no permission on 401 code 26 ("Resource of type "x" is not allowed with this
  authentication key"); a resource granted without GET 405 code 25; the webservice switched off 503 code 22.
  `Knobs.denied_scopes` names resources the key has no permission on;
- XML by default (`<prestashop xmlns:xlink=...>`, CDATA values, xlink:href on links, `<language id>` per language,
  `<associations>`), JSON with `output_format=JSON` (or the Output-Format / Io-Format header): `{"products": [...]}`
  with display, `{"products": [{"id": 1}, ...]}` without, `{"product": {...}}` for one, `[]` for an empty list,
  a multilingual field as `[{id, value}]` (a plain string when one language is asked with `language=`);
  errors `<errors><error><code><message>` / `{"errors": [{code, message}]}`;
- lists: `display` minimum (ids), full, or `[field,...]` (code 35 for an unknown field, 36 for bad syntax);
  `filter[field]=` value, `[a|b]`, `[a,b]` (between), `>[x]`, `<[x]`, `![x]`, `%[x]%` (SQLUtils); an unknown field
  400 code 32, date_add / date_upd only with `date=1` (else code 32), dynamic fields code 34; `sort=[f_ASC,...]`
  (codes 37, 38); `limit=n` or `limit=offset,n` (code 39); no total and no page-size cap; unsorted lists by id;
- one record: `/api/{resource}/{id}` (full), 404 with an empty body when it does not exist;
- headers PSWS-Version (once authenticated), X-Powered-By, Execution-Time, Content-Sha1;
- no rate limit: PrestaShop has none; a host's limiter answers 429 with Retry-After (`Knobs.storm`).

The shop: PrestaShop 8.2, languages en (1) and nb (2, the default: PS_LANG_DEFAULT), PS_TIMEZONE Europe/Oslo — every
date is shop-local wall-clock time, so records in the hour a DST change repeats cannot be told apart. Texts in the
other language are the default's (names) or empty (descriptions), as in a shop never translated.

Departures, on purpose: a real shop's Root and Home categories are ids 1 and 2; here they come after the generated
ids (ROOT_ID, HOME_ID), so the generated categories keep their ids (the connector finds Root and Home by id_parent 0
and is_root_category, never by id). Ids of rows PrestaShop keeps apart from the generated entities (combinations,
stock_availables, addresses, order_details, histories, guest customers) are derived from their owner's id. An
order's addresses are copies marked deleted (as PrestaShop keeps an address edited after use); `filter[id_customer]`
on addresses lists a customer's own ones only, not those copies. Not modelled: writes, multishop (id_shop),
schema=synopsis/blank, price= virtual fields, product features, tags, catalog price rules, carts, image uploads.
`date_upd`'s two tables (#42263) agree unless a test touches a product's base table (`base_touched`): then the
filter matches it by that time, its value stays older.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Callable, Iterable, Iterator
from zoneinfo import ZoneInfo

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import Emulator, EmulatorStore, Knobs
from cart_pipelines.platforms.prestashop import mapping as m

KEY = "EMUPS8WEBSERVICEKEY0123456789ABC"  # 32 characters, as PrestaShop generates them
VERSION = "8.2.1"
TZ_NAME = "Europe/Oslo"
LANGS, DEFAULT_LANG = (1, 2), 2
LANG_ROWS = [(1, "English (English)", "en", "en-us"), (2, "Norsk bokmål (Norwegian)", "nb", "nb-no")]
COUNTRIES = {"DE": 1, "FI": 7, "GB": 17, "SE": 18, "DK": 20, "US": 21, "NO": 23}  # install-dev country ids
CURRENCIES = {"NOK": 1, "SEK": 2, "EUR": 3, "DKK": 4, "USD": 5}
ORDER_STATES = [  # (id, English name, template, paid, shipped, delivery) of PrestaShop's installed states
    (1, "Awaiting check payment", "cheque", 0, 0, 0), (2, "Payment accepted", "payment", 1, 0, 0),
    (3, "Processing in progress", "preparation", 1, 0, 0), (4, "Shipped", "shipped", 1, 1, 1),
    (5, "Delivered", "", 1, 1, 1), (6, "Canceled", "order_canceled", 0, 0, 0), (7, "Refunded", "refund", 1, 0, 0),
    (8, "Payment error", "payment_error", 0, 0, 0), (9, "On backorder (paid)", "outofstock", 1, 0, 0),
    (10, "Awaiting bank wire payment", "bankwire", 0, 0, 0), (11, "Remote payment accepted", "payment", 1, 0, 0),
    (12, "On backorder (not paid)", "outofstock", 0, 0, 0),
    (13, "Awaiting Cash On Delivery validation", "cashondelivery", 0, 0, 0),
]
CHUNK = 500


class WsError(Exception):
    """A webservice error: HTTP status, then (code, message) pairs as WebserviceRequest::setError collects them."""

    def __init__(self, status: int, *errors: tuple[int, str], headers: dict | None = None):
        super().__init__(errors[0][1] if errors else "")
        self.status, self.errors, self.headers = status, errors, headers or {}


@dataclass(frozen=True)
class Resource:
    """One webservice resource: its nodes, its fields in PrestaShop's order, the multilingual ones, the links
    (field -> resource), the dynamic (not filterable) ones, associations (name -> (item node, resource, fields)),
    and where its rows come from (`rows(emulator, bounds)`: rows in ascending id; `bounds` narrows ids)."""

    node: str
    fields: tuple[str, ...]
    rows: Callable[["PrestaShopEmulator", "Bounds"], Iterable[dict]]
    description: str = ""
    i18n: frozenset = frozenset()
    links: dict = field(default_factory=dict)
    dynamic: frozenset = frozenset()
    associations: dict = field(default_factory=dict)


@dataclass
class Bounds:
    """What an id filter allows, for reading only part of the store: lo < id < hi, or ids in `ids`; and the parent
    ids a filter on the parent field (id_product, id_customer, id_order) allows."""

    lo: int | None = None
    hi: int | None = None
    ids: set | None = None
    parents: set | None = None

    def allows(self, id_: int) -> bool:
        return (self.lo is None or id_ > self.lo) and (self.hi is None or id_ < self.hi) and \
            (self.ids is None or id_ in self.ids)


def F(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# --- filters as SQLUtils::getSQLRetrieveFilter writes them ---------------------------------------------------------
def _num(value):
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def _cmp(a, b) -> int:
    """MySQL's comparison of a column with a quoted value: numbers as numbers, text case-insensitively."""
    x, y = _num(a), _num(b)
    if x is None or y is None:
        x, y = str(a).casefold(), str(b).casefold()
    return (x > y) - (x < y)


def matcher(raw: str) -> Callable[[str], bool]:
    found = re.match(r"^(.*)\[(.*)\](.*)$", raw, re.S)
    if not found:
        return lambda v: _cmp(v, raw) == 0
    before, inner, after = found.groups()
    if before == "%" or after == "%":
        pattern = re.compile("^" + ".*".join(re.escape(p) for p in (before + inner + after).split("%")) + "$",
                             re.I | re.S)
        return lambda v: bool(pattern.match(str(v)))
    if before == "" and after == "":
        if inner.find("|") > 0:
            values = inner.split("|")
            return lambda v: any(_cmp(v, x) == 0 for x in values)
        between = re.match(r"^([\d.:\-\s]+),([\d.:\-\s]+)$", inner)
        if between:
            low, high = sorted(between.groups(), key=lambda t: (_num(t) is None, _num(t) or 0, t))
            return lambda v: _cmp(v, low) >= 0 and _cmp(v, high) <= 0
        return lambda v: _cmp(v, inner) == 0
    if before == ">":
        return lambda v: _cmp(v, inner) > 0
    if before == "<":
        return lambda v: _cmp(v, inner) < 0
    if before == "!":
        values = inner.split("|")
        return lambda v: all(_cmp(v, x) != 0 for x in values)
    return lambda v: True  # SQLUtils writes no condition for other prefixes


def bounds_of(raw: str) -> Bounds:
    """The id bounds a filter on id allows (the rest is still checked row by row)."""
    found = re.match(r"^(.*)\[(.*)\](.*)$", raw)
    before, inner = (found.group(1), found.group(2)) if found else ("", raw)
    to_int = lambda t: int(Decimal(t.strip()))  # noqa: E731
    try:
        if before == ">":
            return Bounds(lo=to_int(inner))
        if before == "<":
            return Bounds(hi=to_int(inner))
        if before == "" and "|" in inner:
            return Bounds(ids={to_int(x) for x in inner.split("|") if x.strip()})
        if before == "" and "," in inner:
            a, b = sorted(to_int(x) for x in inner.split(","))
            return Bounds(lo=a - 1, hi=b + 1)
        if before == "":
            return Bounds(ids={to_int(inner)})
    except (ValueError, InvalidOperation, ArithmeticError):
        pass
    return Bounds()


def parents_of(raw: str) -> set | None:
    b = bounds_of(raw)
    return b.ids


# --- rows: the store as PrestaShop holds it ------------------------------------------------------------------------
def _store_rows(entity: str, build: Callable[[dict], dict | list[dict]], owner: Callable[[int], int] | None = None):
    """Rows built from the store's `entity` in id order, reading only the ids the bounds allow (`owner`: the store id
    a derived row's id belongs to)."""
    def rows(emu: "PrestaShopEmulator", b: Bounds) -> Iterator[dict]:
        wanted = b.parents
        if owner is None and b.ids is not None:
            wanted = b.ids if wanted is None else wanted & b.ids
        elif owner is not None and b.ids is not None:
            owners = {owner(i) for i in b.ids}
            wanted = owners if wanted is None else wanted & owners
        within = []
        if owner is None and b.lo is not None:
            within.append(("id", ">", b.lo))
        if owner is None and b.hi is not None:
            within.append(("id", "<", b.hi))
        for record in emu.iterate(entity, wanted, within):
            built = build(emu, record)
            for row in built if isinstance(built, list) else [built]:
                if b.allows(int(row["id"])):
                    yield row
    return rows


def _fixed(make: Callable[["PrestaShopEmulator"], list[dict]]):
    return lambda emu, b: (r for r in make(emu) if b.allows(int(r["id"])))


def _category_rows(emu: "PrestaShopEmulator", b: Bounds) -> Iterator[dict]:
    position: dict = {}

    def build(emu, c):
        key = c.get("parent_id")
        position[key] = position.get(key, -1) + 1
        return m.ps_category(c, position[key], LANGS, DEFAULT_LANG, emu.tz)
    rows = _store_rows("categories", build)(emu, b)
    yield from heapq.merge(rows, (r for r in m.tops(LANGS, DEFAULT_LANG, emu.tz) if b.allows(r["id"])),
                           key=lambda r: r["id"])


def _product(emu: "PrestaShopEmulator", p: dict) -> dict:
    row = m.ps_product(p, LANGS, DEFAULT_LANG, emu.tz)
    if int(p["source_id"]) in emu.base_touched:  # ps_product.date_upd, what filter[date_upd] compares (#42263)
        row["_filtered_date_upd"] = m.local(emu.base_touched[int(p["source_id"])], emu.tz)
    pid = int(p["source_id"])
    values = emu.option_values()
    cats = [str(c) for c in p.get("category_ids") or []] + [str(m.HOME_ID)]
    row["associations"] = {
        "categories": [{"id": c} for c in cats],
        "images": [{"id": str(pid * 100 + k)} for k in range(1, len(p.get("images") or []) + 1)],
        "combinations": [{"id": str(pid * 100 + k)} for k in range(1, len(p.get("variants") or []) + 1)],
        "product_option_values": [{"id": str(i)} for i in sorted({values[(o["name"], o["value"])]
                                                                    for v in p.get("variants") or []
                                                                    for o in v.get("options") or []})],
        "stock_availables": [{"id": str(s["id"]), "id_product_attribute": s["id_product_attribute"]}
                             for s in m.ps_stock(p)],
    }
    return row


def _combinations(emu, p):
    values = emu.option_values()
    rows = m.ps_combinations(p, lambda n, v: values[(n, v)])
    for r in rows:
        r["associations"] = {"product_option_values": [{"id": str(v)} for v in r.pop("_values")], "images": []}
    return rows


def _customer(emu, c, guest=False, deleted=False):
    row = m.ps_customer(c, emu.tz, guest, deleted)
    row["associations"] = {"groups": [{"id": row.pop("_group")}]}
    return row


def _customer_rows(emu: "PrestaShopEmulator", b: Bounds) -> Iterator[dict]:
    """Registered customers, plus the rows orders need: a guest customer per guest order (is_guest 1) and customers
    deleted without letting them register again (deleted 1: PrestaShop keeps the row)."""
    real = _store_rows("customers", _customer)(emu, b)
    extra = (r for r in emu.order_customers() if b.allows(r["id"]))
    yield from heapq.merge(real, extra, key=lambda r: r["id"])


def _customer_addresses(emu, c):
    when = c.get("created_at")
    return [m.ps_address(a, int(c["source_id"]) * 10 + k, c["source_id"], COUNTRIES.get(a.get("country") or ""),
                         emu.tz, when) for k, a in enumerate(c.get("addresses") or [], start=1)]


def _order_addresses(emu, o):
    """An order's invoice and delivery addresses; PrestaShop keeps each as an address row of the customer (a used
    address that is edited later is copied, the old row marked deleted)."""
    oid, who = int(o["source_id"]), emu.order_customer_id(o)
    rows = []
    for k, a in enumerate((o.get("billing_address"), o.get("shipping_address"))):
        rows.append(m.ps_address(a or {}, m.ORDER_ADDRESS_BASE + 2 * oid + k, who,
                                 COUNTRIES.get((a or {}).get("country") or ""), emu.tz, o.get("created_at"),
                                 deleted=True))
    return rows


def _address_rows(emu: "PrestaShopEmulator", b: Bounds) -> Iterator[dict]:
    low = Bounds(b.lo, min(b.hi or m.ORDER_ADDRESS_BASE, m.ORDER_ADDRESS_BASE), b.ids, b.parents)
    mine = _store_rows("customers", _customer_addresses, owner=lambda i: i // 10)(emu, low) \
        if (b.hi is None or b.hi > 0) and (b.lo is None or b.lo < m.ORDER_ADDRESS_BASE) else iter(())
    if b.parents is not None:  # filter[id_customer]: the orders' rows are found through the filter row by row
        yield from mine
        return
    ours = _store_rows("orders", _order_addresses, owner=lambda i: (i - m.ORDER_ADDRESS_BASE) // 2)(
        emu, Bounds(b.lo, b.hi, {i for i in b.ids if i >= m.ORDER_ADDRESS_BASE} if b.ids is not None else None))
    yield from heapq.merge(mine, ours, key=lambda r: r["id"])


def _order(emu, o):
    row = m.ps_order(o, str(CURRENCIES.get(o.get("currency"), 0)), emu.order_customer_id(o), emu.tz)
    row["id_lang"] = str(DEFAULT_LANG)
    row["associations"] = {"order_rows": [
        {"id": str(d["id"]), "product_id": d["product_id"], "product_attribute_id": "0",
         "product_quantity": d["product_quantity"], "product_name": d["product_name"],
         "product_reference": d["product_reference"], "product_ean13": "", "product_isbn": "", "product_upc": "",
         "product_price": d["product_price"], "id_customization": "0",
         "unit_price_tax_incl": d["unit_price_tax_incl"], "unit_price_tax_excl": d["unit_price_tax_excl"]}
        for d in m.ps_order_details(o)]}
    return row


def _tax_rows(emu) -> list[dict]:
    return [{"id": i, "rate": f"{rate:.3f}", "active": "1", "deleted": "0",
             "name": {lang: f"MVA {rate.normalize():f}%" for lang in LANGS}} for rate, i in emu.taxes().items()]


def _tax_rules(emu, t):
    taxes = emu.taxes()
    return [{"id": int(t["source_id"]) * 100 + k, "id_tax_rules_group": str(t["source_id"]), "id_state": "0",
             "id_country": str(COUNTRIES.get(r["country"], 0)), "zipcode_from": "0", "zipcode_to": "0",
             "id_tax": str(taxes[Decimal(str(r["rate"])).quantize(Decimal("0.001"))]), "behavior": "0",
             "description": ""} for k, r in enumerate(t.get("rates") or [], start=1)]


def _group(emu, t):
    return {"id": int(t["source_id"]), "name": t["name"], "active": "1", "deleted": "0",
            "date_add": m._at(t.get("updated_at"), emu.tz), "date_upd": m._at(t.get("updated_at"), emu.tz)}


def _option_groups(emu) -> list[dict]:
    values = emu.option_values()
    groups = emu.option_groups()
    return [{"id": gid, "is_color_group": "0", "group_type": "select", "position": str(gid - 1),
             "name": {lang: name for lang in LANGS}, "public_name": {lang: name for lang in LANGS},
             "associations": {"product_option_values": [{"id": str(v)} for (n, _), v in values.items() if n == name]}}
            for name, gid in groups.items()]


def _option_value_rows(emu) -> list[dict]:
    groups = emu.option_groups()
    return sorted(({"id": vid, "id_attribute_group": str(groups[name]), "color": "", "position": str(vid - 1),
                    "name": {lang: value for lang in LANGS}} for (name, value), vid in emu.option_values().items()),
                  key=lambda r: r["id"])


def _configurations(emu) -> list[dict]:
    values = [("PS_LANG_DEFAULT", str(DEFAULT_LANG)), ("PS_TIMEZONE", emu.tz_name), ("PS_CURRENCY_DEFAULT", "1"),
              ("PS_COUNTRY_DEFAULT", str(COUNTRIES["NO"])), ("PS_WEIGHT_UNIT", "kg"),
              ("PS_SHOP_NAME", "Emulert butikk"),
              ("PS_WEBSERVICE", "1")]
    return [{"id": k, "value": v, "name": n, "id_shop_group": "", "id_shop": "", "date_add": "2023-01-01 00:00:00",
             "date_upd": "2023-01-01 00:00:00"} for k, (n, v) in enumerate(values, start=1)]


LINKS_P = {"id_manufacturer": "manufacturers", "id_supplier": "suppliers", "id_category_default": "categories",
           "id_tax_rules_group": "tax_rule_groups", "id_shop_default": "shops"}
RESOURCES: dict[str, Resource] = {
    "categories": Resource(
        "category", F("id id_parent level_depth nb_products_recursive active id_shop_default is_root_category "
                      "position date_add date_upd name link_rewrite description meta_title meta_description "
                      "meta_keywords"), _category_rows, "The product categories",
        i18n=frozenset(F("name link_rewrite description meta_title meta_description meta_keywords")),
        links={"id_parent": "categories", "id_shop_default": "shops"}, dynamic=frozenset({"nb_products_recursive"})),
    "manufacturers": Resource(
        "manufacturer", F("id active link_rewrite name date_add date_upd description short_description meta_title "
                          "meta_description meta_keywords"),
        _store_rows("manufacturers", lambda emu, r: m.ps_manufacturer(r, LANGS, DEFAULT_LANG, emu.tz)),
        "The product brands", i18n=frozenset(F("description short_description meta_title meta_description "
                                               "meta_keywords")), dynamic=frozenset({"link_rewrite"})),
    "tax_rule_groups": Resource("tax_rule_group", F("id name active deleted date_add date_upd"),
                                _store_rows("tax_classes", _group), "Tax rule groups"),
    "tax_rules": Resource(
        "tax_rule", F("id id_tax_rules_group id_state id_country zipcode_from zipcode_to id_tax behavior "
                      "description"), _store_rows("tax_classes", _tax_rules, owner=lambda i: i // 100),
        "Tax rules entity", links={"id_tax_rules_group": "tax_rule_groups", "id_country": "countries",
                                   "id_tax": "taxes", "id_state": "states"}),
    "taxes": Resource("tax", F("id rate active deleted name"), _fixed(_tax_rows), "The tax rate",
                      i18n=frozenset({"name"})),
    "products": Resource(
        "product", F("id id_manufacturer id_supplier id_category_default new cache_default_attribute "
                     "id_default_image id_default_combination id_tax_rules_group position_in_category "
                     "manufacturer_name quantity type id_shop_default reference supplier_reference location width "
                     "height depth weight quantity_discount ean13 isbn upc mpn cache_is_pack cache_has_attachments "
                     "is_virtual state additional_delivery_times delivery_in_stock delivery_out_stock product_type "
                     "on_sale online_only ecotax minimal_quantity low_stock_threshold low_stock_alert price "
                     "wholesale_price unity unit_price unit_price_ratio additional_shipping_cost customizable "
                     "text_fields uploadable_files active redirect_type id_type_redirected available_for_order "
                     "available_date show_condition condition show_price indexed visibility "
                     "advanced_stock_management date_add date_upd pack_stock_type meta_description meta_keywords "
                     "meta_title link_rewrite name description description_short available_now available_later"),
        _store_rows("products", _product), "The products",
        i18n=frozenset(F("delivery_in_stock delivery_out_stock meta_description meta_keywords meta_title "
                         "link_rewrite name description description_short available_now available_later")),
        links=LINKS_P, dynamic=frozenset(F("id_default_image id_default_combination position_in_category "
                                           "manufacturer_name quantity type")),
        associations={"categories": ("category", "categories", ("id",)), "images": ("image", "images", ("id",)),
                      "combinations": ("combination", "combinations", ("id",)),
                      "product_option_values": ("product_option_value", "product_option_values", ("id",)),
                      "stock_availables": ("stock_available", "stock_availables", ("id", "id_product_attribute"))}),
    "combinations": Resource(
        "combination", F("id id_product location ean13 isbn upc mpn quantity reference supplier_reference "
                         "wholesale_price price ecotax weight unit_price_impact minimal_quantity low_stock_threshold "
                         "low_stock_alert default_on available_date"),
        _store_rows("products", _combinations, owner=lambda i: i // 100), "The product combinations",
        links={"id_product": "products"},
        associations={"product_option_values": ("product_option_value", "product_option_values", ("id",)),
                      "images": ("image", "images", ("id",))}),
    "product_options": Resource(
        "product_option", F("id is_color_group group_type position name public_name"), _fixed(_option_groups),
        "The product options", i18n=frozenset({"name", "public_name"}),
        associations={"product_option_values": ("product_option_value", "product_option_values", ("id",))}),
    "product_option_values": Resource(
        "product_option_value", F("id id_attribute_group color position name"), _fixed(_option_value_rows),
        "The product options value", i18n=frozenset({"name"}), links={"id_attribute_group": "product_options"}),
    "specific_prices": Resource(
        "specific_price", F("id id_shop_group id_shop id_cart id_product id_product_attribute id_currency id_country "
                            "id_group id_customer id_specific_price_rule price from_quantity reduction reduction_tax "
                            "reduction_type from to"),
        _store_rows("products", lambda emu, p: m.ps_specific_prices(p, emu.tz)), "Specific price management",
        links={"id_product": "products", "id_currency": "currencies", "id_country": "countries",
               "id_customer": "customers"}),
    "stock_availables": Resource(
        "stock_available", F("id id_product id_product_attribute id_shop id_shop_group quantity depends_on_stock "
                             "out_of_stock location"),
        _store_rows("products", lambda emu, p: m.ps_stock(p), owner=lambda i: i // 100), "Available quantities",
        links={"id_product": "products", "id_product_attribute": "combinations", "id_shop": "shops"}),
    "customers": Resource(
        "customer", F("id id_default_group id_lang newsletter_date_add ip_registration_newsletter last_passwd_gen "
                      "secure_key deleted passwd lastname firstname email id_gender birthday newsletter optin "
                      "website company siret ape outstanding_allow_amount show_public_prices id_risk "
                      "max_payment_days active note is_guest id_shop id_shop_group date_add date_upd "
                      "reset_password_token reset_password_validity"), _customer_rows, "The e-shop's customers",
        links={"id_default_group": "groups", "id_lang": "languages"},
        associations={"groups": ("group", "groups", ("id",))}),
    "addresses": Resource(
        "address", F("id id_customer id_manufacturer id_supplier id_warehouse id_country id_state alias company "
                     "lastname firstname vat_number address1 address2 postcode city other phone phone_mobile dni "
                     "deleted date_add date_upd"), _address_rows, "The Customer, Brand and Customer addresses",
        links={"id_customer": "customers", "id_country": "countries", "id_state": "states"}),
    "orders": Resource(
        "order", F("id id_address_delivery id_address_invoice id_cart id_currency id_lang id_customer id_carrier "
                   "current_state module invoice_number invoice_date delivery_number delivery_date valid date_add "
                   "date_upd shipping_number note id_shop_group id_shop secure_key payment recyclable gift "
                   "gift_message mobile_theme total_discounts total_discounts_tax_incl total_discounts_tax_excl "
                   "total_paid total_paid_tax_incl total_paid_tax_excl total_paid_real total_products "
                   "total_products_wt total_shipping total_shipping_tax_incl total_shipping_tax_excl "
                   "carrier_tax_rate total_wrapping total_wrapping_tax_incl total_wrapping_tax_excl round_mode "
                   "round_type conversion_rate reference"), _store_rows("orders", _order), "The Customers orders",
        links={"id_address_delivery": "addresses", "id_address_invoice": "addresses", "id_cart": "carts",
               "id_currency": "currencies", "id_lang": "languages", "id_customer": "customers",
               "id_carrier": "carriers", "current_state": "order_states"},
        associations={"order_rows": ("order_row", "order_details", F(
            "id product_id product_attribute_id product_quantity product_name product_reference product_ean13 "
            "product_isbn product_upc product_price id_customization unit_price_tax_incl unit_price_tax_excl"))}),
    "order_details": Resource(
        "order_detail", F(
            "id id_order product_id product_attribute_id product_quantity_reinjected group_reduction "
            "discount_quantity_applied download_hash download_deadline id_order_invoice id_warehouse id_shop "
            "id_customization product_name product_quantity product_quantity_in_stock product_quantity_return "
            "product_quantity_refunded product_price reduction_percent reduction_amount reduction_amount_tax_incl "
            "reduction_amount_tax_excl product_quantity_discount product_ean13 product_isbn product_upc product_mpn "
            "product_reference product_supplier_reference product_weight tax_computation_method "
            "id_tax_rules_group ecotax ecotax_tax_rate download_nb unit_price_tax_incl unit_price_tax_excl "
            "total_price_tax_incl total_price_tax_excl total_shipping_price_tax_excl total_shipping_price_tax_incl "
            "purchase_supplier_price original_product_price original_wholesale_price total_refunded_tax_excl "
            "total_refunded_tax_incl"),
        _store_rows("orders", lambda emu, o: m.ps_order_details(o), owner=lambda i: i // 100), "Details of an order",
        links={"id_order": "orders", "product_id": "products", "id_shop": "shops"}),
    "order_slip": Resource(
        "order_slip", F("id id_customer id_order conversion_rate total_products_tax_excl total_products_tax_incl "
                        "total_shipping_tax_excl total_shipping_tax_incl amount shipping_cost shipping_cost_amount "
                        "partial date_add date_upd order_slip_type"),
        _store_rows("orders", lambda emu, o: m.ps_order_slips(o, cases.refunds(o), emu.order_customer_id(o), emu.tz),
                    owner=lambda i: i // 10), "The Order slips (credit slips: refunds)",
        links={"id_customer": "customers", "id_order": "orders"},
        associations={"order_slip_details": ("order_slip_detail", "order_details", F(
            "id id_order_detail product_quantity amount_tax_excl amount_tax_incl"))}),
    "order_histories": Resource(
        "order_history", F("id id_employee id_order_state id_order date_add"),
        _store_rows("orders", lambda emu, o: m.ps_histories(o, emu.tz), owner=lambda i: i // 10),
        "The Order histories", links={"id_order_state": "order_states", "id_order": "orders"}),
    "order_states": Resource(
        "order_state", F("id unremovable delivery hidden send_email module_name invoice color logable shipped paid "
                         "pdf_delivery pdf_invoice deleted name template"),
        _fixed(lambda emu: [{"id": i, "unremovable": "1", "delivery": str(d), "hidden": "0",
                             "send_email": "1" if tpl else "0", "module_name": "", "invoice": str(paid),
                             "color": "#4169E1", "logable": str(paid), "shipped": str(s), "paid": str(paid),
                             "pdf_delivery": str(s), "pdf_invoice": str(paid), "deleted": "0",
                             "name": {1: name, 2: name}, "template": {1: tpl, 2: tpl}}
                            for i, name, tpl, paid, s, d in ORDER_STATES]),
        "The Order statuses", i18n=frozenset({"name", "template"})),
    "currencies": Resource(
        "currency", F("id names name symbol iso_code numeric_iso_code precision conversion_rate deleted active "
                      "unofficial modified pattern"),
        _fixed(lambda emu: [{"id": i, "names": {1: code, 2: code}, "name": code, "symbol": {1: code, 2: code},
                             "iso_code": code, "numeric_iso_code": "", "precision": "2", "conversion_rate": "1.000000",
                             "deleted": "0", "active": "1", "unofficial": "0", "modified": "0",
                             "pattern": {1: "", 2: ""}} for code, i in CURRENCIES.items()]),
        "The currencies", i18n=frozenset({"names", "symbol", "pattern"})),
    "countries": Resource(
        "country", F("id id_zone id_currency call_prefix iso_code active contains_states need_identification_number "
                     "need_zip_code zip_code_format display_tax_label name"),
        _fixed(lambda emu: sorted(({"id": i, "id_zone": "1", "id_currency": "0", "call_prefix": "", "iso_code": code,
                                    "active": "1", "contains_states": "0", "need_identification_number": "0",
                                    "need_zip_code": "1", "zip_code_format": "", "display_tax_label": "1",
                                    "name": {1: code, 2: code}} for code, i in COUNTRIES.items()),
                                  key=lambda r: r["id"])), "The countries", i18n=frozenset({"name"})),
    "languages": Resource(
        "language", F("id name iso_code locale language_code active is_rtl date_format_lite date_format_full"),
        _fixed(lambda emu: [{"id": i, "name": name, "iso_code": iso, "locale": loc, "language_code": loc,
                             "active": "1", "is_rtl": "0", "date_format_lite": "Y-m-d",
                             "date_format_full": "Y-m-d H:i:s"} for i, name, iso, loc in LANG_ROWS]), "Shop languages"),
    "configurations": Resource("configuration", F("id value name id_shop_group id_shop date_add date_upd"),
                               _fixed(_configurations), "Shop configuration"),
}
PLURAL = {"order_slip": "order_slips"}  # a list's node where it is not the resource's name
# The permission screen lists these too; a resource of PrestaShop's not modelled here answers as an empty list.
OTHER_RESOURCES = F("attachments carriers cart_rules carts contacts content_management_system customer_messages "
                    "customer_threads customizations deliveries employees groups guests image_types images messages "
                    "order_carriers order_cart_rules order_invoices order_payments price_ranges "
                    "product_customization_fields product_feature_values product_features product_suppliers search "
                    "shop_groups shop_urls shops specific_price_rules states stock_movement_reasons "
                    "stock_movements stocks stores suppliers supply_order_details supply_order_histories "
                    "supply_order_receipt_histories supply_order_states supply_orders tags translated_configurations "
                    "warehouse_product_locations warehouses weight_ranges zones")
ALL_RESOURCES = tuple(sorted(set(RESOURCES) | set(OTHER_RESOURCES)))


def _cdata(value) -> str:
    text = "" if value is None else str(value)
    return f"<![CDATA[{text.replace(']]>', ']]]]><![CDATA[>')}]]>" if text != "" else ""


class PrestaShopEmulator(Emulator):
    platform = "prestashop"
    url_map = Map([
        Rule("/api", endpoint="index", strict_slashes=False),
        Rule("/api/images/products/<int:product_id>", endpoint="product_images"),
        Rule("/api/images/products/<int:product_id>/<int:image_id>", endpoint="image_file"),
        Rule("/api/<resource>", endpoint="listing", strict_slashes=False),
        Rule("/api/<resource>/<int:id_>", endpoint="one"),
    ])

    def __init__(self, store: EmulatorStore, knobs: Knobs | None = None):
        super().__init__(store, knobs)
        self.tz_name = TZ_NAME
        self.tz = ZoneInfo(TZ_NAME)
        self.enabled = True  # PS_WEBSERVICE: switched off, every request is 503 code 22
        self.keys = {KEY}
        # Products whose base table (ps_product) a stock, price or module update touched without the shop table:
        # filter[date_upd] matches them by this time while they show their older ps_product_shop.date_upd.
        self.base_touched: dict[int, datetime] = {}
        self._memo: dict[str, tuple] = {}
        self._groups: dict[str, int] = {}
        self._values: dict[tuple[str, str], int] = {}

    def credentials(self) -> dict:
        return {"webservice_key": KEY}

    # --- the store, read in id order --------------------------------------------------------------------------------
    def iterate(self, entity: str, ids: set | None, within: list) -> Iterator[dict]:
        if ids is not None:
            for start in range(0, len(ids), CHUNK):
                part = sorted(ids)[start:start + CHUNK]
                yield from self.store.page(entity, 0, len(part), ids=part, within=within)
            return
        after = None
        while True:
            page = self.store.page(entity, 0, CHUNK, within=within, after_id=after)
            yield from page
            if len(page) < CHUNK:
                return
            after = int(page[-1]["source_id"])

    def _fingerprint(self, entity: str) -> tuple:
        with self.store.lock:
            return tuple(self.store.con.execute(
                f"SELECT count(*), max(updated_at), sum(id) FROM {entity}").fetchall()[0])

    def _memoised(self, name: str, entity: str, make: Callable[[], object]):
        """`make()` again only when `entity` changed in the store (checked once per request: a page renders many
        records that each ask)."""
        with self.lock:
            hit = self._memo.get(name)
            now = self.requests
        if hit and hit[2] == now:
            return hit[1]
        mark = self._fingerprint(entity)
        if hit and hit[0] == mark:
            with self.lock:
                self._memo[name] = (mark, hit[1], now)
            return hit[1]
        value = make()
        with self.lock:
            self._memo[name] = (mark, value, now)
        return value

    def option_values(self) -> dict[tuple[str, str], int]:
        """Attribute values by (group name, value); ids given in the order first seen, kept while the store
        changes."""
        def scan():
            with self.lock:
                for p in self.iterate("products", None, []):
                    for v in p.get("variants") or []:
                        for o in v.get("options") or []:
                            self._groups.setdefault(o["name"], len(self._groups) + 1)
                            self._values.setdefault((o["name"], o["value"]), len(self._values) + 1)
                return dict(self._values)
        return self._memoised("options", "products", scan)

    def option_groups(self) -> dict[str, int]:
        self.option_values()
        with self.lock:
            return dict(self._groups)

    def taxes(self) -> dict[Decimal, int]:
        def scan():
            rates = sorted({Decimal(str(r["rate"])).quantize(Decimal("0.001"))
                            for t in self.iterate("tax_classes", None, []) for r in t.get("rates") or []},
                           reverse=True)
            return {rate: k for k, rate in enumerate(rates, start=1)}
        return self._memoised("taxes", "tax_classes", scan)

    def customer_ids(self) -> set:
        return self._memoised("customer_ids", "customers", lambda: {
            int(r[0]) for r in self.store.con.execute("SELECT id FROM customers").fetchall()})

    def order_customer_id(self, o: dict) -> int:
        return int(o["customer_id"]) if o.get("customer_id") else m.GUEST_BASE + int(o["source_id"])

    def order_customers(self) -> list[dict]:
        """Customer rows that exist for orders only: guests, and customers deleted since (kept, deleted 1)."""
        def scan():
            known, rows = self.customer_ids(), {}
            for o in self.iterate("orders", None, []):
                cid = self.order_customer_id(o)
                if cid in known or cid in rows:
                    continue
                guest = not o.get("customer_id")
                rows[cid] = _customer(self, {"source_id": str(cid), "email": o.get("email"),
                                             "first_name": o.get("customer_first_name"),
                                             "last_name": o.get("customer_last_name"),
                                             "created_at": o.get("created_at"), "updated_at": o.get("created_at")},
                                      guest=guest, deleted=not guest)
            return [rows[k] for k in sorted(rows)]
        return self._memoised("order_customers", "orders", scan)

    # --- protocol -------------------------------------------------------------------------------------------------
    def _format(self, request: Request) -> str:
        fmt = request.headers.get("Io-Format") or request.headers.get("Output-Format") or \
            request.args.get("output_format") or request.args.get("io_format") or "XML"
        return "JSON" if fmt == "JSON" else "XML"

    def _headers(self, authenticated: bool, started: float) -> dict:
        headers = {"Access-Time": str(int(time.time())), "X-Powered-By": "PrestaShop Webservice",
                   "Execution-Time": f"{time.monotonic() - started:.3f}"}
        if authenticated:
            headers["PSWS-Version"] = VERSION
        return headers

    def _answer(self, request: Request, body: str, status: int, authenticated: bool, started: float,
                extra: dict | None = None) -> Response:
        headers = {**self._headers(authenticated, started), **(extra or {})}
        if body:
            headers["Content-Sha1"] = hashlib.sha1(body.encode()).hexdigest()
        kind = "application/json" if self._format(request) == "JSON" else "text/xml;charset=utf-8"
        return Response(body, status=status, headers=headers, content_type=kind if body else None)

    def _errors(self, request: Request, exc: WsError, authenticated: bool, started: float) -> Response:
        if self._format(request) == "JSON":
            body = json.dumps({"errors": [{"code": c, "message": msg} for c, msg in exc.errors]}, ensure_ascii=False)
        else:
            inner = "".join(f"<error>\n<code>{_cdata(c)}</code>\n<message>{_cdata(msg)}</message>\n</error>\n"
                            for c, msg in exc.errors)
            body = self._xml(f"<errors>\n{inner}</errors>\n")
        return self._answer(request, body, exc.status, authenticated, started, exc.headers)

    @staticmethod
    def _xml(content: str) -> str:
        return ('<?xml version="1.0" encoding="UTF-8"?>\n<prestashop xmlns:xlink="http://www.w3.org/1999/xlink">\n'
                f"{content}</prestashop>\n")

    def throttled(self, request: Request) -> Response:
        # PrestaShop has no limiter: this is the host's (a web server or proxy rule) refusing a burst.
        return Response("<html><body><h1>429 Too Many Requests</h1></body></html>", 429,
                        {"Retry-After": "1"}, content_type="text/html")

    def error(self, request: Request, exc: Exception) -> Response:
        return self._errors(request, WsError(500, (2, f"[PHP Error] {exc}")), False, time.monotonic())

    def _authenticate(self, request: Request) -> None:
        key = request.args.get("ws_key")
        if key is None and request.authorization is not None:
            key = request.authorization.get("username")
        realm = {"WWW-Authenticate": 'Basic realm="Welcome to PrestaShop Webservice, please enter the '
                                     'authentication key as the login. No password required."'}
        if key is None:
            raise _Bare(realm)
        if not self.enabled:
            raise WsError(503, (22, "The PrestaShop webservice is disabled. Please activate it in the PrestaShop "
                                    "Back Office"))
        key = key.strip()
        if not key:
            raise WsError(401, (17, "Authentication key is empty"), headers=realm)
        if len(key) != 32:
            raise WsError(401, (18, "Invalid authentication key format"), headers=realm)
        if key not in self.keys:
            raise WsError(401, (20, "Authentification key is not active"),
                          (21, "No permission for this authentication key"), headers=realm)

    def _allowed(self) -> set:
        return set(ALL_RESOURCES) - set(self.knobs.denied_scopes)

    def _check_resource(self, resource: str, method: str) -> None:
        if resource not in ALL_RESOURCES:
            closest = min(ALL_RESOURCES, key=lambda r: _levenshtein(resource, r))
            raise WsError(400, (27, f'Resource of type "{resource}" does not exists. Did you mean: "{closest}"? '
                                    f"The full list is: {_quoted(ALL_RESOURCES)}"))
        if resource not in self._allowed():
            raise WsError(401, (26, f'Resource of type "{resource}" is not allowed with this authentication key'))
        if method not in ("GET", "HEAD"):
            raise WsError(405, (25, f"Method {method} is not allowed for the resource {resource} with this "
                                    f"authentication key"))

    def _serve(self, request: Request, handler: Callable[[], tuple[str, int]]) -> Response:
        started = time.monotonic()
        try:
            self._authenticate(request)
        except _Bare as bare:
            return Response("401 Unauthorized", 401, bare.headers, content_type="text/html")
        except WsError as exc:
            return self._errors(request, exc, False, started)
        try:
            body, status = handler()
        except WsError as exc:
            return self._errors(request, exc, True, started)
        response = self._answer(request, body, status, True, started)
        if request.method == "HEAD":
            response.set_data(b"")
        return response

    # --- routes ---------------------------------------------------------------------------------------------------
    def index(self, request: Request) -> Response:
        def handler():
            base = f"{self.base_url}/api/"
            allowed = self._allowed()
            parts = []
            for name in ALL_RESOURCES:
                if name in allowed:
                    res = RESOURCES.get(name)
                    parts.append(f'<{name} xlink:href="{base}{name}" get="true" put="false" post="false" '
                                 f'patch="false" delete="false" head="true">\n<description>'
                                 f'{res.description if res else name}</description>\n</{name}>\n')
            if self._format(request) == "JSON":
                return json.dumps({"api": {n: {"get": True} for n in ALL_RESOURCES if n in allowed}}), 200
            return self._xml(f'<api shop_name="Emulert butikk">\n{"".join(parts)}</api>\n'), 200
        return self._serve(request, handler)

    def listing(self, request: Request, resource: str) -> Response:
        return self._serve(request, lambda: self._list(request, resource))

    def one(self, request: Request, resource: str, id_: int) -> Response:
        return self._serve(request, lambda: self._one(request, resource, id_))

    def product_images(self, request: Request, product_id: int) -> Response:
        def handler():
            self._check_resource("images", request.method)
            p = self.store.get("products", product_id)
            if p is None:
                raise WsError(404, (66, f"Product #{product_id} does not exist"))
            base = f"{self.base_url}/api/images/products/{product_id}"
            decl = "".join(f'<declination id="{product_id * 100 + k}" xlink:href="{base}/{product_id * 100 + k}"/>\n'
                           for k in range(1, len(p.get("images") or []) + 1))
            return self._xml(f'<image id="{product_id}">\n{decl}</image>\n'), 200
        return self._serve(request, handler)

    def image_file(self, request: Request, product_id: int, image_id: int) -> Response:
        started = time.monotonic()
        try:
            self._authenticate(request)
            self._check_resource("images", request.method)
            p = self.store.get("products", product_id)
            if p is None or not 1 <= image_id - product_id * 100 <= len(p.get("images") or []):
                raise WsError(404, (66, "This image id does not exist"))
        except _Bare as bare:
            return Response("401 Unauthorized", 401, bare.headers)
        except WsError as exc:
            return self._errors(request, exc, False, started)
        return Response(TINY_JPEG, 200, self._headers(True, started), content_type="image/jpeg")

    # --- reading ----------------------------------------------------------------------------------------------------
    def _resource(self, request: Request, resource: str) -> Resource | None:
        self._check_resource(resource, request.method)
        return RESOURCES.get(resource)

    def _languages(self, request: Request) -> tuple[int, ...]:
        raw = request.args.get("language")
        if raw is None:
            return LANGS
        found = re.fullmatch(r"\[?([\d|,]+)\]?", raw)
        if not found:
            raise WsError(400, (79, "language value is wrong"))
        inner = found.group(1)
        if "," in inner:
            a, b = (int(x) for x in inner.split(",")[:2])
            wanted = range(a, b + 1)
        else:
            wanted = [int(x) for x in inner.split("|") if x]
        langs = tuple(x for x in wanted if x in LANGS)
        if not langs:
            raise WsError(400, (81, "language is not available"))
        return langs

    def _display(self, request: Request, res: Resource, default: str):
        raw = request.args.get("display", default)
        if raw in ("full", "minimum"):
            return raw
        found = re.fullmatch(r"\[(.*)\]", raw or "")
        available = ", ".join(res.fields)
        if not found:
            raise WsError(400, (36, "The 'display' syntax is wrong. You can set 'full' or "
                                    f"'[field_1,field_2,field_3,...]'. These are available: {available}"))
        wanted = [f.strip() for f in re.split(r",(?![^\[]*\])", found.group(1)) if f.strip()]
        for name in wanted:
            base = name.split("[", 1)[0]
            if base not in res.fields and base not in res.associations:
                raise WsError(400, (35, f'Unable to display this field "{base}". However, these are available: '
                                        f"{available}"))
        return [w.split("[", 1)[0] for w in wanted]

    def _filters(self, request: Request, res: Resource) -> list[tuple[str, Callable[[str], bool]]]:
        dated = bool(request.args.get("date"))
        allowed = [f for f in res.fields if f not in res.i18n and (dated or f not in ("date_add", "date_upd"))]
        out = []
        for key, raw in request.args.items(multi=True):
            found = re.fullmatch(r"filter\[([^\]]+)\]", key)
            if not found:
                continue
            name = found.group(1)
            if name in ("sort", "limit"):
                continue
            if name in res.i18n:
                if raw != "":
                    test = matcher(raw)
                    out.append((name, lambda v, t=test: any(t(x) for x in (v.values() if isinstance(v, dict)
                                                                             else [v]))))
                continue
            if name not in allowed:
                closest = min(allowed, key=lambda f: _levenshtein(name, f))
                raise WsError(400, (32, f'This filter does not exist. Did you mean: "{closest}"? The full list is: '
                                        f'{_quoted(allowed)}'))
            if raw == "":
                raise WsError(400, (33, f'The filter "{name}" is malformed.'))
            if name in res.dynamic:
                raise WsError(400, (34, f'The field "{name}" is dynamic. It is not possible to filter GET query '
                                        f"with this field."))
            out.append((name, matcher(raw)))
        return out

    def _bounds(self, request: Request, resource: str) -> Bounds:
        b = bounds_of(request.args["filter[id]"]) if request.args.get("filter[id]") else Bounds()
        parent = {"combinations": "id_product", "stock_availables": "id_product", "specific_prices": "id_product",
                  "addresses": "id_customer",
                  "order_details": "id_order", "order_histories": "id_order", "order_slip": "id_order",
                  "tax_rules": "id_tax_rules_group"}
        key = parent.get(resource)
        if key and request.args.get(f"filter[{key}]"):
            b.parents = parents_of(request.args[f"filter[{key}]"])
        return b

    def _sort(self, request: Request, res: Resource, dated: bool):
        raw = request.args.get("sort")
        if raw is None:
            return None
        found = re.fullmatch(r"\[(.*)\]", raw)
        keys = []
        allowed = [f for f in res.fields if f not in res.i18n and (dated or f not in ("date_add", "date_upd"))]
        for part in (found.group(1).split(",") if found else [raw]):
            name, _, direction = part.rpartition("_")
            if not name or direction.upper() not in ("ASC", "DESC"):
                raise WsError(400, (37, 'The "sort" value has to be formed as this example: "field_ASC" or '
                                        "'[field_1_DESC,field_2_ASC,field_3_ASC,...]' (\"field\" has to be an "
                                        "available field)"))
            if name not in allowed and name not in res.i18n:
                raise WsError(400, (38, f"Unable to filter by this field. However, these are available: "
                                        f"{', '.join(allowed)}, for i18n fields:{', '.join(sorted(res.i18n))}"))
            keys.append((name, direction.upper() == "DESC"))
        return keys

    @staticmethod
    def _limit(request: Request) -> tuple[int, int | None]:
        raw = request.args.get("limit")
        if raw is None:
            return 0, None
        parts = raw.split(",")
        if len(parts) > 2:
            raise WsError(400, (39, 'The "limit" value has to be formed as this example: "5,25" or "10"'))
        as_int = lambda t: int(m_int.group(0)) if (m_int := re.match(r"\s*-?\d+", t)) else 0  # noqa: E731
        return (as_int(parts[0]), as_int(parts[1])) if len(parts) == 2 else (0, as_int(parts[0]))

    def _list(self, request: Request, resource: str) -> tuple[str, int]:
        res = self._resource(request, resource)
        langs = self._languages(request)
        if res is None:  # a resource PrestaShop has that this shop holds nothing of
            return self._render_list(request, resource, resource.rstrip("s"), [], "minimum", langs, None), 200
        display = self._display(request, res, "minimum")
        filters = self._filters(request, res)
        order = self._sort(request, res, bool(request.args.get("date")))
        offset, count = self._limit(request)
        rows: Iterable[dict] = (r for r in res.rows(self, self._bounds(request, resource))
                                if all(test(_value(r.get(f"_filtered_{name}", r.get(name)))) if name not in res.i18n
                                       else test(r.get(name, ""))
                                       for name, test in filters))
        if order and order != [("id", False)]:
            rows = list(rows)
            for name, desc in reversed(order):
                rows.sort(key=lambda r: _sort_key(r.get(name), DEFAULT_LANG), reverse=desc)
        chosen = list(islice(rows, offset, None if count is None else offset + max(count, 0)))
        self.delay(len(chosen))
        return self._render_list(request, resource, res.node, chosen, display, langs, res), 200

    def _one(self, request: Request, resource: str, id_: int) -> tuple[str, int]:
        res = self._resource(request, resource)
        if res is None:
            return "", 404
        langs = self._languages(request)
        display = self._display(request, res, "full")
        found = next(iter(res.rows(self, Bounds(ids={id_}))), None)
        if found is None:
            return "", 404  # WebserviceRequest::getFilteredObjectDetails: status 404, output disabled
        if self._format(request) == "JSON":
            return json.dumps({res.node: self._json_row(found, res, display, langs)}, ensure_ascii=False), 200
        return self._xml(self._xml_row(found, res, display, langs, detail=True)), 200

    # --- rendering ------------------------------------------------------------------------------------------------
    def _render_list(self, request, resource, node, rows, display, langs, res) -> str:
        many = PLURAL.get(resource, resource)  # the list's node: objectsNodeName (order_slip lists order_slips)
        if self._format(request) == "JSON":
            if not rows:
                return "[]"  # WebserviceOutputJSON: nothing was added to the content
            if display == "minimum":
                return json.dumps({many: [{"id": r["id"]} for r in rows]})
            return json.dumps({many: [self._json_row(r, res, display, langs) for r in rows]}, ensure_ascii=False)
        base = f"{self.base_url}/api/{resource}"
        if display == "minimum":
            inner = "".join(f'<{node} id="{r["id"]}" xlink:href="{base}/{r["id"]}"/>\n' for r in rows)
        else:
            inner = "".join(self._xml_row(r, res, display, langs) for r in rows)
        return self._xml(f"<{many}>\n{inner}</{many}>\n")

    def _fields(self, res: Resource, display) -> list[str]:
        return list(res.fields) if display == "full" else [f for f in res.fields if f in display]

    def _json_row(self, row: dict, res: Resource, display, langs) -> dict:
        out = {}
        for name in self._fields(res, display):
            value = row.get(name, "")
            if name == "id":
                out[name] = int(value)
            elif name in res.i18n:
                items = [{"id": str(lang), "value": (value or {}).get(lang, "") if isinstance(value, dict) else value}
                         for lang in langs]
                out[name] = items[0]["value"] if len(items) == 1 else items
            else:
                out[name] = _value(value)
        if res.associations and (display == "full" or any(a in display for a in res.associations)):
            assoc = row.get("associations") or {}
            out["associations"] = {name: [{k: str(v) for k, v in item.items()} for item in assoc.get(name) or []]
                                   for name in res.associations if display == "full" or name in display}
        return out

    def _xml_row(self, row: dict, res: Resource, display, langs, detail: bool = False) -> str:
        api = f"{self.base_url}/api/"
        parts = [f"<{res.node}>\n"]
        for name in self._fields(res, display):
            value = row.get(name, "")
            attrs = ""
            if name in res.i18n:
                inner = "".join(f'<language id="{lang}" xlink:href="{api}languages/{lang}">'
                                f'{_cdata((value or {}).get(lang, "") if isinstance(value, dict) else value)}'
                                f"</language>" for lang in langs)
                parts.append(f"<{name}>{inner}</{name}>\n")
                continue
            text = _value(value)
            if name in res.links and text not in ("", "0"):
                attrs += f' xlink:href="{api}{res.links[name]}/{text}"'
            if name in res.dynamic:
                attrs += ' notFilterable="true"'
            parts.append(f"<{name}{attrs}>{_cdata(text)}</{name}>\n")
        if res.associations and (display == "full" or any(a in display for a in res.associations)):
            assoc = row.get("associations") or {}
            parts.append("<associations>\n")
            for name, (item, target, item_fields) in res.associations.items():
                if display != "full" and name not in display:
                    continue
                parts.append(f'<{name} nodeType="{item}" api="{name}">\n')
                for entry in assoc.get(name) or []:
                    href = f' xlink:href="{api}{target}/{entry["id"]}"' if target in RESOURCES else ""
                    inner = "".join(f"<{k}>{_cdata(entry.get(k, ''))}</{k}>\n" for k in item_fields)
                    parts.append(f"<{item}{href}>\n{inner}</{item}>\n")
                parts.append(f"</{name}>\n")
            parts.append("</associations>\n")
        parts.append(f"</{res.node}>\n")
        return "".join(parts)


class _Bare(Exception):
    """No key at all: the dispatcher's plain 401 before any webservice code runs."""

    def __init__(self, headers: dict):
        super().__init__("401 Unauthorized")
        self.headers = headers


def _quoted(values) -> str:
    """PrestaShop's "did you mean" list: every value quoted, joined by commas."""
    return '"' + '", "'.join(values) + '"'


def _value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return str(value.get(DEFAULT_LANG, ""))
    return str(value)


def _sort_key(value, lang):
    text = value.get(lang, "") if isinstance(value, dict) else _value(value)
    number = _num(text)
    return (0, number, "") if number is not None else (1, Decimal(0), text.casefold())


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        cur = [i]
        for j, y in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


# A 1x1 JPEG: what /api/images/products/{id}/{image} answers (the shop's image file).
TINY_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f141d1a1f1e1d"
    "1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b080001000101011100ffc4001f000001050101"
    "0101010100000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d010203000411051221314106"
    "13516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455"
    "565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9ba"
    "c2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9")
