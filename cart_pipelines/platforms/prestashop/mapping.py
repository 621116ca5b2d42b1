"""PrestaShop Webservice records <-> canonical records.

Read (JSON, `output_format=JSON`, `display=full` -> canonical): PrestaShop writes every value as text (ids of the
record itself excepted), money with six decimals, booleans as "1"/"0", dates as the shop's local wall-clock time
("2024-03-01 14:05:00", PS_TIMEZONE; "0000-00-00 00:00:00" for none). A multilingual field is a list of
`{id, value}` per language — or a plain string when the request (or the shop) has one language — and the shop's
default language (PS_LANG_DEFAULT) is the one read. What a record links to (categories of a product, rows of an
order, the customer's addresses) is read separately and passed in as lookups.

Write (canonical -> PrestaShop, for the emulator): the rows a PrestaShop 8 shop holds for a canonical store, with the
shop's own conventions (a Root and a Home category above the tree, tax rule groups with one rule per country, stock
in stock_availables, combinations built from attribute groups and values, a guest customer per guest order).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from cart_pipelines.platforms.kit.values import zulu

NO_DATE = "0000-00-00 00:00:00"
CENT = Decimal("0.01")
LOCAL = "%Y-%m-%d %H:%M:%S"

# PrestaShop's installed order states (install-dev/data/xml/order_state.xml ids, stable in nearly every shop), and
# for states a shop added itself, its flags (paid / shipped) decide.
STATE_STATUS = {1: "pending", 2: "processing", 3: "processing", 4: "complete", 5: "complete", 6: "canceled",
                7: "refunded", 8: "on_hold", 9: "processing", 10: "pending", 11: "processing", 12: "on_hold",
                13: "pending"}
STATUS_STATE = {"pending": 10, "processing": 3, "complete": 5, "canceled": 6, "refunded": 7, "on_hold": 12}


# --- reading -------------------------------------------------------------------------------------------------------
def text(value, lang: int | str | None) -> str | None:
    """A multilingual field in language `lang`: a list of {id, value}, or a plain string (one language)."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and str(item.get("id")) == str(lang):
                return item.get("value")
        return value[0].get("value") if value and isinstance(value[0], dict) else None
    return value


def utc(value, tz: ZoneInfo) -> str | None:
    """A shop-local date as ISO 8601 UTC; None for PrestaShop's empty date. In the hour a DST change repeats, the
    wall-clock time is ambiguous: the first occurrence is taken (PrestaShop stores no offset)."""
    if not value or value == NO_DATE:
        return None
    try:
        local = datetime.strptime(str(value), LOCAL).replace(tzinfo=tz)
    except ValueError:
        return value  # passed on: validation quarantines the record naming the field
    return zulu(local)


def local(dt: datetime, tz: ZoneInfo) -> str:
    """A UTC time as the shop's wall-clock text (what date filters compare with)."""
    return dt.astimezone(tz).strftime(LOCAL)


def _money(value):
    """PrestaShop keeps six decimals (a tax-excluded price derived from a tax-included one: 23.992000); the canonical
    model keeps cents, so money is rounded half up to them. Text that is no number is passed on (quarantined)."""
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)
    except InvalidOperation:
        return value


def _float(value):
    try:
        return None if value in (None, "") else float(Decimal(str(value)))
    except InvalidOperation:
        return value


def _blank(value):
    return None if value in (None, "", "0") else str(value)


def ids(record: dict, association: str) -> list[str]:
    """The ids in one of a record's associations (JSON: `associations.categories: [{id}, ...]`)."""
    return [str(a["id"]) for a in ((record.get("associations") or {}).get(association) or []) if a.get("id")]


def error(body) -> tuple[str, str]:
    """The first `{code, message}` of PrestaShop's error body (JSON `{errors: [...]}`, or the XML form)."""
    if isinstance(body, dict) and body.get("errors"):
        first = body["errors"][0]
        return str(first.get("code") or ""), str(first.get("message") or "")
    if isinstance(body, (str, bytes)):
        text_ = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        code = re.search(r"<code><!\[CDATA\[(.*?)\]\]></code>", text_, re.S)
        message = re.search(r"<message><!\[CDATA\[(.*?)\]\]></message>", text_, re.S)
        return (code.group(1) if code else ""), (message.group(1) if message else "")
    return "", ""


def image_url(shop_url: str, image_id: str) -> str:
    """The image's public address: PrestaShop keeps image files under img/p/ in one folder per digit of the id."""
    return f"{shop_url.rstrip('/')}/img/p/{'/'.join(str(image_id))}/{image_id}.jpg"


def category(c: dict, tree: dict[str, dict], tops: set[str], lang, tz) -> dict:
    """`tops`: the Root and Home categories (no parent, or is_root_category): left out of parents and paths."""
    chain, node, seen = [], c, set()
    while node is not None and str(node["id"]) not in tops and str(node["id"]) not in seen:
        seen.add(str(node["id"]))
        chain.append(text(node.get("name"), lang) or "")
        node = tree.get(str(node.get("id_parent")))
    parent = str(c.get("id_parent") or "")
    return {"source_id": str(c["id"]), "parent_id": None if parent in tops or parent in ("", "0") else parent,
            "name": text(c.get("name"), lang), "path": "/".join(reversed(chain)),
            "url_key": text(c.get("link_rewrite"), lang), "is_visible": str(c.get("active")) == "1",
            "position": int(c["position"]) if str(c.get("position", "")).isdigit() else None,
            "updated_at": utc(c.get("date_upd"), tz)}


def manufacturer(m: dict, tz) -> dict:
    return {"source_id": str(m["id"]), "name": m.get("name"), "url_key": m.get("link_rewrite") or None,
            "updated_at": utc(m.get("date_upd"), tz)}


def tax_class(g: dict, rules: list[dict], rates: dict[str, str], countries: dict[str, str], tz) -> dict:
    """A tax rule group with its rules; `rates`: tax id -> rate, `countries`: country id -> ISO code."""
    out, seen = [], set()
    for r in sorted(rules, key=lambda r: int(r["id"])):
        country = countries.get(str(r.get("id_country")))
        if country and country not in seen and str(r.get("id_tax")) in rates:
            seen.add(country)
            out.append({"country": country, "rate": Decimal(rates[str(r["id_tax"])]).quantize(Decimal("0.001"))})
    return {"source_id": str(g["id"]), "name": g.get("name"), "rates": out, "updated_at": utc(g.get("date_upd"), tz)}


def special_price(base, prices: list[dict], now: datetime, tz) -> Decimal | None:
    """The sale price every buyer gets now: a specific price of the product itself (no combination, shop group,
    currency, country, customer group, customer or cart; from 1 unit) valid now. Its `price` replaces the base
    (-1: keeps it), then its reduction applies: an amount (tax excluded) or a fraction ("0.200000" = 20 %). A
    tax-included amount is left out: the tax rate per country would decide it."""
    def general(sp):
        return all(str(sp.get(k) or "0") == "0" for k in ("id_product_attribute", "id_currency", "id_country",
                                                           "id_group", "id_customer", "id_cart")) and \
            str(sp.get("from_quantity") or "1") == "1"

    def valid(sp):
        start, end = utc(sp.get("from"), tz), utc(sp.get("to"), tz)
        stamp = now.isoformat().replace("+00:00", "Z")
        return (start is None or start <= stamp) and (end is None or stamp <= end)

    for sp in sorted(prices, key=lambda sp: int(sp["id"])):
        if not (general(sp) and valid(sp)) or (sp.get("reduction_type") == "amount" and
                                               str(sp.get("reduction_tax")) == "1"):
            continue
        price = _money(sp.get("price"))
        start = base if price is None or price < 0 else price
        reduction = Decimal(str(sp.get("reduction") or 0))
        if not isinstance(start, Decimal):
            return None
        off = reduction if sp.get("reduction_type") == "amount" else start * reduction
        return (start - off).quantize(CENT, ROUND_HALF_UP)
    return None


def product(p: dict, combinations: list[dict], stock: dict[tuple[str, str], int], values: dict[str, tuple[str, str]],
            tops: set[str], shop_url: str, lang, tz, prices: list[dict] = (), now: datetime | None = None) -> dict:
    """`stock`: (id_product, id_product_attribute) -> quantity from stock_availables; `values`: option value id ->
    (attribute group name, value name); `prices`: the product's specific prices."""
    pid = str(p["id"])
    variants = []
    for c in sorted(combinations, key=lambda c: int(c["id"])):
        impact = _money(c.get("price")) or Decimal(0)
        base = _money(p.get("price")) or Decimal(0)
        variants.append({"source_id": str(c["id"]), "sku": c.get("reference") or None,
                         "price": (base + impact) if isinstance(base, Decimal) and isinstance(impact, Decimal)
                         else impact, "stock": stock.get((pid, str(c["id"]))),
                         "options": [{"name": values[v][0], "value": values[v][1]}
                                     for v in ids(c, "product_option_values") if v in values]})
    manufacturer_id = _blank(p.get("id_manufacturer"))
    return {
        "source_id": pid, "sku": p.get("reference") or None, "name": text(p.get("name"), lang),
        "description_html": text(p.get("description"), lang) or None, "price": _money(p.get("price")),
        "special_price": special_price(_money(p.get("price")), list(prices), now or datetime.now(timezone.utc), tz),
        "weight": _float(p.get("weight")), "stock": stock.get((pid, "0")),
        "status": "enabled" if str(p.get("active")) == "1" else "disabled",
        "url_key": text(p.get("link_rewrite"), lang) or None,
        "category_ids": [c for c in ids(p, "categories") if c not in tops],
        "manufacturer_id": manufacturer_id, "tax_class_id": _blank(p.get("id_tax_rules_group")),
        "variants": variants,
        "images": [{"url": image_url(shop_url, i), "position": k, "alt": text(p.get("name"), lang)}
                   for k, i in enumerate(ids(p, "images"))],
        "created_at": utc(p.get("date_add"), tz), "updated_at": utc(p.get("date_upd"), tz),
    }


def address(a: dict | None, countries: dict[str, str], states: dict[str, str] | None = None) -> dict | None:
    if not a:
        return None
    street = ", ".join(x for x in (a.get("address1"), a.get("address2")) if x)
    return {"first_name": a.get("firstname"), "last_name": a.get("lastname"), "company": a.get("company") or None,
            "street": street, "city": a.get("city"), "postcode": a.get("postcode") or None,
            "region": (states or {}).get(str(a.get("id_state"))), "country": countries.get(str(a.get("id_country"))),
            "phone": a.get("phone") or a.get("phone_mobile") or None}


def customer(c: dict, addresses: list[dict], countries: dict[str, str], tz) -> dict:
    """PrestaShop has no default address flags: the first address (lowest id) serves both."""
    live = sorted((a for a in addresses if str(a.get("deleted")) != "1"), key=lambda a: int(a["id"]))
    passwd = c.get("passwd") or None
    return {"source_id": str(c["id"]), "email": c.get("email"), "first_name": c.get("firstname"),
            "last_name": c.get("lastname"), "phone": None, "newsletter": str(c.get("newsletter")) == "1",
            "addresses": [{**address(a, countries), "is_default_billing": k == 0, "is_default_shipping": k == 0}
                          for k, a in enumerate(live)],
            # PrestaShop 1.7+ hashes with password_hash() (bcrypt, "$2y$"); 1.6 kept md5(cookie key + password).
            "password_hash": passwd, "password_algorithm": ("bcrypt" if passwd and passwd.startswith("$2") else
                                                             "md5_cookie_key" if passwd else None),
            "created_at": utc(c.get("date_add"), tz), "updated_at": utc(c.get("date_upd"), tz)}


def order_status(state_id, states: dict[str, dict]) -> str:
    sid = int(state_id) if str(state_id).isdigit() else 0
    if sid in STATE_STATUS:
        return STATE_STATUS[sid]
    s = states.get(str(state_id)) or {}
    return "complete" if str(s.get("shipped")) == "1" else "processing" if str(s.get("paid")) == "1" else "pending"


def order(o: dict, details: list[dict], buyer: dict | None, addresses: dict[str, dict], currencies: dict[str, str],
          countries: dict[str, str], states: dict[str, dict], tz, slips: list[dict] | None = None) -> dict:
    """`buyer`: the order's customer (a guest's customer row is_guest=1: no customer id). Tax is what the order
    adds to its tax-excluded total; an item's tax its tax-included minus tax-excluded line total."""
    def money(name):
        return _money(o.get(name))

    incl, excl = money("total_paid_tax_incl"), money("total_paid_tax_excl")
    guest = buyer is None or str(buyer.get("is_guest")) == "1"
    items = []
    for d in sorted(details, key=lambda d: int(d["id"])):
        line_incl, line_excl = _money(d.get("total_price_tax_incl")), _money(d.get("total_price_tax_excl"))
        items.append({"source_id": str(d["id"]), "product_id": _blank(d.get("product_id")),
                      "sku": d.get("product_reference") or None, "name": d.get("product_name"),
                      "qty": int(d["product_quantity"]), "price": _money(d.get("unit_price_tax_excl")),
                      "tax": line_incl - line_excl if isinstance(line_incl, Decimal) and isinstance(line_excl, Decimal)
                      else line_incl})
    by_id = {str(d["id"]): d for d in details}
    refunds = [slip(s, by_id, tz) for s in sorted(slips or [], key=lambda s: int(s["id"]))]
    back = sum((r["amount"] for r in refunds), Decimal(0))
    return {
        "refunds": refunds, "refunded_total": back if refunds else None,
        "net_total": incl - back if refunds and isinstance(incl, Decimal) else None,
        "source_id": str(o["id"]), "number": o.get("reference") or str(o["id"]),
        "customer_id": None if guest else _blank(o.get("id_customer")),
        "email": (buyer or {}).get("email"), "customer_first_name": (buyer or {}).get("firstname"),
        "customer_last_name": (buyer or {}).get("lastname"),
        "status": order_status(o.get("current_state"), states), "currency": currencies.get(str(o.get("id_currency"))),
        "subtotal": money("total_products"), "shipping": money("total_shipping_tax_excl"),
        "tax": incl - excl if isinstance(incl, Decimal) and isinstance(excl, Decimal) else incl,
        "discount": money("total_discounts_tax_excl"), "grand_total": incl, "items": items,
        "billing_address": address(addresses.get(str(o.get("id_address_invoice"))), countries),
        "shipping_address": address(addresses.get(str(o.get("id_address_delivery"))), countries),
        "created_at": utc(o.get("date_add"), tz), "updated_at": utc(o.get("date_upd"), tz),
    }


# --- writing: a canonical store as a PrestaShop shop holds it (the emulator) -----------------------------------------
ROOT_ID, HOME_ID = 1_000_000_001, 1_000_000_002  # see emulator.py: the generated ids are kept as they are
HOME_GROUP, GUEST_GROUP = "3", "2"  # PrestaShop's Customer and Guest groups
GUEST_BASE = 1_000_000_000  # a guest order's customer row: GUEST_BASE + order id
ORDER_ADDRESS_BASE = 1_000_000_000  # an order's addresses: base + 2 * order id (+1 for delivery)


def _d(value) -> str:
    return f"{Decimal(str(value or 0)):.6f}"


def _at(value, tz) -> str:
    if not value:
        return NO_DATE
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return local(dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc), tz)


def slug(url_key: str | None) -> str:
    return (url_key or "").rstrip("/").rsplit("/", 1)[-1]


def lang_text(value: str | None, langs: tuple[int, ...], default: int, others: str | None = None) -> dict:
    """A multilingual value: the canonical text in the default language; `others` (None: the same text) in the
    rest, as a shop that never translated them holds."""
    return {lang: (value or "") if lang == default or others is None else others for lang in langs}


def ps_category(c: dict, position: int, langs, default, tz) -> dict:
    parent = c.get("parent_id")
    return {"id": int(c["source_id"]), "id_parent": str(parent or HOME_ID), "level_depth": "",
            "active": "1" if c.get("is_visible", True) else "0", "id_shop_default": "1", "is_root_category": "0",
            "position": str(c.get("position") if c.get("position") is not None else position),
            "date_add": _at(c.get("updated_at"), tz), "date_upd": _at(c.get("updated_at"), tz),
            "name": lang_text(c["name"], langs, default), "link_rewrite": lang_text(slug(c.get("url_key")), langs,
                                                                                  default),
            "description": lang_text("", langs, default)}


def tops(langs, default, tz, when="2023-01-01T00:00:00Z") -> list[dict]:
    """The Root and Home categories every PrestaShop shop has."""
    base = {"active": "1", "id_shop_default": "1", "position": "0", "date_add": _at(when, tz),
            "date_upd": _at(when, tz), "description": lang_text("", langs, default)}
    return [{**base, "id": ROOT_ID, "id_parent": "0", "level_depth": "0", "is_root_category": "0",
             "name": lang_text("Root", langs, default), "link_rewrite": lang_text("root", langs, default)},
            {**base, "id": HOME_ID, "id_parent": str(ROOT_ID), "level_depth": "1", "is_root_category": "1",
             "name": lang_text("Hjem", langs, default, "Home"), "link_rewrite": lang_text("hjem", langs, default,
                                                                                        "home")}]


def ps_manufacturer(m: dict, langs, default, tz) -> dict:
    return {"id": int(m["source_id"]), "active": "1", "link_rewrite": m.get("url_key") or "",
            "name": m["name"], "date_add": _at(m.get("updated_at"), tz), "date_upd": _at(m.get("updated_at"), tz),
            "description": lang_text("", langs, default), "short_description": lang_text("", langs, default)}


def ps_product(p: dict, langs, default, tz) -> dict:
    pid = int(p["source_id"])
    variants = p.get("variants") or []
    cats = [str(c) for c in p.get("category_ids") or []]
    return {
        "id": pid, "id_manufacturer": p.get("manufacturer_id") or "0", "id_supplier": "0",
        "id_category_default": cats[0] if cats else str(HOME_ID), "new": "",
        "cache_default_attribute": str(pid * 100 + 1) if variants else "0",
        "id_default_image": str(pid * 100 + 1) if p.get("images") else "",
        "id_default_combination": str(pid * 100 + 1) if variants else "0",
        "id_tax_rules_group": p.get("tax_class_id") or "0", "position_in_category": "0", "manufacturer_name": "",
        "quantity": str(sum(v.get("stock") or 0 for v in variants) if variants else p.get("stock") or 0),
        "type": "combinations" if variants else "simple", "id_shop_default": "1",
        "reference": p.get("sku") or "", "supplier_reference": "", "location": "", "width": _d(0), "height": _d(0),
        "depth": _d(0), "weight": _d(p.get("weight")), "quantity_discount": "0", "ean13": "", "isbn": "",
        "upc": "", "mpn": "", "cache_is_pack": "0", "cache_has_attachments": "0", "is_virtual": "0", "state": "1",
        "additional_delivery_times": "1", "delivery_in_stock": lang_text("", langs, default),
        "delivery_out_stock": lang_text("", langs, default),
        "product_type": "combinations" if variants else "standard", "on_sale": "0", "online_only": "0",
        "ecotax": _d(0), "minimal_quantity": "1", "low_stock_threshold": "", "low_stock_alert": "0",
        "price": _d(p.get("price")), "wholesale_price": _d(0), "unity": "", "unit_price": _d(0),
        "unit_price_ratio": _d(0), "additional_shipping_cost": _d(0), "customizable": "0", "text_fields": "0",
        "uploadable_files": "0", "active": "1" if p.get("status", "enabled") == "enabled" else "0",
        "redirect_type": "default", "id_type_redirected": "0", "available_for_order": "1", "available_date": "",
        "show_condition": "0", "condition": "new", "show_price": "1", "indexed": "1", "visibility": "both",
        "advanced_stock_management": "0", "date_add": _at(p.get("created_at"), tz),
        "date_upd": _at(p.get("updated_at"), tz), "pack_stock_type": "3",
        "meta_description": lang_text("", langs, default), "meta_keywords": lang_text("", langs, default),
        "meta_title": lang_text("", langs, default), "link_rewrite": lang_text(slug(p.get("url_key")), langs, default),
        "name": lang_text(p["name"], langs, default),
        "description": lang_text(p.get("description_html"), langs, default, ""),
        "description_short": lang_text("", langs, default), "available_now": lang_text("", langs, default),
        "available_later": lang_text("", langs, default),
    }


def ps_specific_prices(p: dict, tz) -> list[dict]:
    """A sale price as PrestaShop keeps it: a specific price for every buyer, the base price kept (-1) less an
    amount, tax excluded, without end."""
    if p.get("special_price") in (None, ""):
        return []
    off = Decimal(str(p.get("price") or 0)) - Decimal(str(p["special_price"]))
    return [{"id": int(p["source_id"]), "id_shop_group": "0", "id_shop": "0", "id_cart": "0",
             "id_product": str(p["source_id"]), "id_product_attribute": "0", "id_currency": "0", "id_country": "0",
             "id_group": "0", "id_customer": "0", "id_specific_price_rule": "0", "price": _d(-1),
             "from_quantity": "1", "reduction": _d(off), "reduction_tax": "0", "reduction_type": "amount",
             "from": _at(p.get("created_at"), tz), "to": NO_DATE}]


def ps_combinations(p: dict, option_value_id) -> list[dict]:
    """A product's variants as combinations (price as an impact on the product's price); `option_value_id(name,
    value)` gives the attribute value's id."""
    base = Decimal(str(p.get("price") or 0))
    out = []
    for k, v in enumerate(p.get("variants") or [], start=1):
        out.append({"id": int(p["source_id"]) * 100 + k, "id_product": str(p["source_id"]), "location": "",
                    "ean13": "", "isbn": "", "upc": "", "mpn": "", "quantity": str(v.get("stock") or 0),
                    "reference": v.get("sku") or "", "supplier_reference": "", "wholesale_price": _d(0),
                    "price": _d(Decimal(str(v.get("price") or 0)) - base), "ecotax": _d(0), "weight": _d(0),
                    "unit_price_impact": _d(0), "minimal_quantity": "1", "low_stock_threshold": "",
                    "low_stock_alert": "0", "default_on": "1" if k == 1 else "", "available_date": NO_DATE[:10],
                    "_values": [option_value_id(o["name"], o["value"]) for o in v.get("options") or []]})
    return out


def ps_stock(p: dict) -> list[dict]:
    """stock_availables: the product's row (id_product_attribute 0: with combinations, their sum, as PrestaShop
    keeps it) and one per combination."""
    pid, variants = int(p["source_id"]), p.get("variants") or []
    total = sum(v.get("stock") or 0 for v in variants) if variants else (p.get("stock") or 0)
    row = {"id_shop": "1", "id_shop_group": "0", "depends_on_stock": "0", "out_of_stock": "2", "location": ""}
    return [{**row, "id": pid * 100, "id_product": str(pid), "id_product_attribute": "0", "quantity": str(total)}] + \
        [{**row, "id": pid * 100 + k, "id_product": str(pid), "id_product_attribute": str(pid * 100 + k),
          "quantity": str(v.get("stock") or 0)} for k, v in enumerate(variants, start=1)]


def ps_address(a: dict, id_: int, customer_id, country_id, tz, when, deleted: bool = False) -> dict:
    return {"id": id_, "id_customer": str(customer_id or 0), "id_manufacturer": "0", "id_supplier": "0",
            "id_warehouse": "0", "id_country": str(country_id or 0), "id_state": "0", "alias": "Adresse",
            "company": a.get("company") or "", "lastname": a.get("last_name") or "",
            "firstname": a.get("first_name") or "", "vat_number": "", "address1": a.get("street") or "",
            "address2": "", "postcode": a.get("postcode") or "", "city": a.get("city") or "", "other": "",
            "phone": a.get("phone") or "", "phone_mobile": "", "dni": "", "deleted": "1" if deleted else "0",
            "date_add": _at(when, tz), "date_upd": _at(when, tz)}


def ps_customer(c: dict, tz, guest: bool = False, deleted: bool = False) -> dict:
    created = c.get("created_at")
    return {"id": int(c["source_id"]), "id_default_group": GUEST_GROUP if guest else HOME_GROUP, "id_lang": "",
            "newsletter_date_add": _at(created, tz) if c.get("newsletter") else NO_DATE,
            "ip_registration_newsletter": "", "last_passwd_gen": _at(created, tz), "secure_key": "",
            "deleted": "1" if deleted else "0", "passwd": c.get("password_hash") or "",
            "lastname": c.get("last_name") or "", "firstname": c.get("first_name") or "", "email": c.get("email"),
            "id_gender": "0", "birthday": "0000-00-00", "newsletter": "1" if c.get("newsletter") else "0",
            "optin": "0", "website": "", "company": "", "siret": "", "ape": "", "outstanding_allow_amount": _d(0),
            "show_public_prices": "0", "id_risk": "0", "max_payment_days": "0", "active": "1", "note": "",
            "is_guest": "1" if guest else "0", "id_shop": "1", "id_shop_group": "1", "date_add": _at(created, tz),
            "date_upd": _at(c.get("updated_at"), tz), "reset_password_token": "",
            "reset_password_validity": NO_DATE, "_group": GUEST_GROUP if guest else HOME_GROUP}


def ps_order(o: dict, currency_id, customer_id, tz) -> dict:
    oid = int(o["source_id"])
    sub, ship = Decimal(str(o.get("subtotal") or 0)), Decimal(str(o.get("shipping") or 0))
    tax, disc = Decimal(str(o.get("tax") or 0)), Decimal(str(o.get("discount") or 0))
    grand = Decimal(str(o.get("grand_total") or 0))
    return {"id": oid, "id_address_delivery": str(ORDER_ADDRESS_BASE + 2 * oid + 1),
            "id_address_invoice": str(ORDER_ADDRESS_BASE + 2 * oid), "id_cart": str(oid), "id_currency": currency_id,
            "id_lang": "", "id_customer": str(customer_id), "id_carrier": "1",
            "current_state": str(STATUS_STATE.get(o.get("status"), 10)), "module": "ps_wirepayment",
            "invoice_number": "0", "invoice_date": NO_DATE, "delivery_number": "0", "delivery_date": NO_DATE,
            "valid": "1" if o.get("status") in ("processing", "complete") else "0",
            "date_add": _at(o.get("created_at"), tz), "date_upd": _at(o.get("updated_at"), tz),
            "shipping_number": "", "note": "", "id_shop_group": "1", "id_shop": "1", "secure_key": "",
            "payment": "Bankoverføring", "recyclable": "0", "gift": "0", "gift_message": "", "mobile_theme": "0",
            "total_discounts": _d(disc), "total_discounts_tax_incl": _d(disc), "total_discounts_tax_excl": _d(disc),
            "total_paid": _d(grand), "total_paid_tax_incl": _d(grand), "total_paid_tax_excl": _d(grand - tax),
            "total_paid_real": _d(grand), "total_products": _d(sub), "total_products_wt": _d(sub + tax),
            "total_shipping": _d(ship), "total_shipping_tax_incl": _d(ship), "total_shipping_tax_excl": _d(ship),
            "carrier_tax_rate": _d(0), "total_wrapping": _d(0), "total_wrapping_tax_incl": _d(0),
            "total_wrapping_tax_excl": _d(0), "round_mode": "2", "round_type": "1", "conversion_rate": _d(1),
            "reference": o.get("number") or ""}


def ps_order_slips(o: dict, refunds: list[dict], customer_id, tz) -> list[dict]:
    """An order's refunds as PrestaShop keeps them: credit slips (order_slip: totals of products and shipping, tax
    excluded and included; `order_slip_details` per order line: quantity, amounts). A slip has no reason. A refund of
    the whole order gives the shipping back too (shipping_cost 1)."""
    details = {str(it.get("source_id")): d for it, d in zip(o.get("items") or [], ps_order_details(o))}
    out = []
    for r in refunds:
        amount = Decimal(str(r["amount"]))
        shipping = Decimal(str(o.get("shipping") or 0)) if o.get("status") == "refunded" else Decimal(0)
        lines = [ln for ln in r.get("lines") or [] if str(ln.get("item_id")) in details]
        excl = sum((Decimal(str(ln.get("amount") or 0)) for ln in lines), Decimal(0))
        when = _at(r.get("created_at"), tz)
        out.append({"id": int(r["source_id"]), "id_customer": str(customer_id), "id_order": str(o["source_id"]),
                    "conversion_rate": _d(1), "total_products_tax_excl": _d(excl),
                    "total_products_tax_incl": _d(amount - shipping), "total_shipping_tax_excl": _d(shipping),
                    "total_shipping_tax_incl": _d(shipping), "amount": _d(amount - shipping),
                    "shipping_cost": "1" if shipping else "0", "shipping_cost_amount": _d(shipping),
                    "partial": "0" if o.get("status") == "refunded" else "1", "date_add": when, "date_upd": when,
                    "order_slip_type": "0",
                    "associations": {"order_slip_details": [
                        {"id": str(details[str(ln["item_id"])]["id"]),
                         "id_order_detail": str(details[str(ln["item_id"])]["id"]),
                         "product_quantity": str(ln.get("qty") or 0), "amount_tax_excl": _d(ln.get("amount")),
                         "amount_tax_incl": _d(ln.get("amount"))} for ln in lines]}})
    return out


def slip(s: dict, details: dict[str, dict], tz) -> dict:
    """A credit slip as a canonical refund: the products' and the shipping's amounts tax included; its lines are the
    order lines it names (`details`: the order's order_details by id), the amount tax excluded."""
    amount = sum((_money(s.get(k)) or Decimal(0) for k in ("total_products_tax_incl", "total_shipping_tax_incl")),
                 Decimal(0))
    rows = ((s.get("associations") or {}).get("order_slip_details")) or []
    lines = []
    for row in rows:
        d = details.get(str(row.get("id_order_detail"))) or {}
        lines.append({"item_id": str(row.get("id_order_detail")), "sku": d.get("product_reference") or None,
                      "qty": int(row.get("product_quantity") or 0), "amount": _money(row.get("amount_tax_excl"))})
    return {"source_id": str(s["id"]), "amount": amount, "reason": None, "created_at": utc(s.get("date_add"), tz),
            "lines": lines}


def ps_order_details(o: dict) -> list[dict]:
    oid = int(o["source_id"])
    out = []
    for k, it in enumerate(o.get("items") or [], start=1):
        qty, price = int(it.get("qty") or 0), Decimal(str(it.get("price") or 0))
        tax = Decimal(str(it.get("tax") or 0))
        out.append({"id": oid * 100 + k, "id_order": str(oid), "product_id": it.get("product_id") or "0",
                    "product_attribute_id": "0", "product_quantity_reinjected": "0", "group_reduction": _d(0),
                    "discount_quantity_applied": "0", "download_hash": "", "download_deadline": NO_DATE,
                    "id_order_invoice": "0", "id_warehouse": "0", "id_shop": "1", "id_customization": "0",
                    "product_name": it.get("name") or "", "product_quantity": str(qty),
                    "product_quantity_in_stock": str(qty), "product_quantity_return": "0",
                    "product_quantity_refunded": "0", "product_price": _d(price), "reduction_percent": _d(0),
                    "reduction_amount": _d(0), "reduction_amount_tax_incl": _d(0), "reduction_amount_tax_excl": _d(0),
                    "product_quantity_discount": _d(0), "product_ean13": "", "product_isbn": "", "product_upc": "",
                    "product_mpn": "", "product_reference": it.get("sku") or "", "product_supplier_reference": "",
                    "product_weight": _d(0), "tax_computation_method": "0", "id_tax_rules_group": "0",
                    "ecotax": _d(0), "ecotax_tax_rate": _d(0), "download_nb": "0",
                    "unit_price_tax_incl": _d(price + (tax / qty if qty else 0)), "unit_price_tax_excl": _d(price),
                    "total_price_tax_incl": _d(price * qty + tax), "total_price_tax_excl": _d(price * qty),
                    "total_shipping_price_tax_excl": _d(0), "total_shipping_price_tax_incl": _d(0),
                    "purchase_supplier_price": _d(0), "original_product_price": _d(price),
                    "original_wholesale_price": _d(0), "total_refunded_tax_excl": _d(0),
                    "total_refunded_tax_incl": _d(0)})
    return out


def ps_histories(o: dict, tz) -> list[dict]:
    """The order's state changes: created awaiting payment, then its current state when it changed."""
    oid, state = int(o["source_id"]), STATUS_STATE.get(o.get("status"), 10)
    rows = [{"id": oid * 10 + 1, "id_employee": "0", "id_order_state": "10", "id_order": str(oid),
             "date_add": _at(o.get("created_at"), tz)}]
    if state != 10:
        rows.append({"id": oid * 10 + 2, "id_employee": "1", "id_order_state": str(state), "id_order": str(oid),
                     "date_add": _at(o.get("updated_at") or o.get("created_at"), tz)})
    return rows


def since_window(since: datetime, tz: ZoneInfo, overlap: timedelta) -> str:
    """`filter[date_upd]` for records changed at or after `since`: `>[...]` in shop-local time, moved back by
    `overlap` (a DST change repeats an hour of wall-clock times; a whole second filters with >)."""
    return f">[{local(since - overlap - timedelta(seconds=1), tz)}]"
