"""Mystore API v2 resources (JSON:API `{id, attributes, relationships}`) → canonical records, for the source.

- multilingual attributes (`name`, `slug`, `description`, `review`) in the shop's default language (`settings`);
  a record without that language takes the first language it has (mapping.local), as the shop would show it;
- dates are written `YYYY-MM-DD HH:MM:SS` in UTC (facts.DATETIME_FORMAT) and read as ISO 8601 with a Z;
- money stays Decimal; text that is no number is passed on so validation quarantines the record by field;
- products: `status` 1/0 → enabled/disabled, `quantity` → stock, images `image`..`image8` (file names) as URLs
  under the shop's image CDN base (`settings.full_image_cdn_base_url`); the active special (`status` 1, not
  expired) → special_price, its `expires_at` → special_price_to; variants from `product-variants` (stock rows)
  with their `product-attributes`
  (option, value, price delta ±) → price = product price + deltas, options by name in the default language,
  `disabled` → the variant's status;
- customers: `address_*` (default shipping) and `billing_address_*` (default billing); equal → one address;
  "N/A", Mystore's placeholder for a required name nobody gave, reads as no name;
- orders: lines from `order-products` (tax from `tax_rate` %), a line's options (`order-product-attributes`) added
  to its name; money from `order-totals` rows by class; status from the shop's `order-status` names.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from cart_pipelines.platforms.kit.values import blank, money
from cart_pipelines.platforms.kit.values import iso_utc as iso
from cart_pipelines.platforms.mystore import facts
from cart_pipelines.platforms.mystore.mapping import STATUS_NAMES, address_back, item_tax, local

IMAGES = ("image", *(f"image{n}" for n in range(2, 9)))
NO_NAME = "N/A"  # what Mystore (and the target, seed 000) holds for a required name left empty
# mapping.STATUS_NAMES's keys (the statuses the rules map onto) → the canonical source statuses (rules.ORDER_STATUS_MAP)
STATUS_BACK = {"new": "pending", "processing": "processing", "completed": "complete", "cancelled": "canceled",
               "refunded": "refunded", "on_hold": "on_hold"}


def attrs(r: dict) -> dict:
    return r.get("attributes") or {}


def link(r: dict, name: str):
    """A to-one relationship's id (None when empty), or a to-many's ids."""
    data = ((r.get("relationships") or {}).get(name) or {}).get("data")
    if isinstance(data, list):
        return [str(d["id"]) for d in data]
    return str(data["id"]) if isinstance(data, dict) and data.get("id") is not None else None


def _name(value) -> str | None:
    value = blank(value)
    return None if value == NO_NAME else value


def _updated(a: dict) -> str | None:
    return iso(a.get("updated_at"))


def category(r: dict, tree: dict[str, dict], lang: str) -> dict:
    """A category with its path of names and slugs from the root (the whole tree at hand)."""
    names, slugs, node, seen = [], [], r, set()
    while node is not None and node["id"] not in seen:  # a broken tree (a cycle) must not hang the run
        seen.add(node["id"])
        names.append(local(attrs(node).get("name"), lang) or "")
        slugs.append(local(attrs(node).get("slug"), lang) or "")
        node = tree.get(link(node, "parent"))
    a = attrs(r)
    return {"source_id": str(r["id"]), "parent_id": link(r, "parent"), "name": local(a.get("name"), lang),
            "path": "/".join(reversed(names)), "url_key": "/".join(reversed(slugs)) or None,
            "is_visible": a.get("status") in (1, "1") if a.get("status") is not None else None,
            "position": a.get("sort"), "updated_at": _updated(a)}


def manufacturer(r: dict, lang: str) -> dict:
    a = attrs(r)
    return {"source_id": str(r["id"]), "name": a.get("name"), "url_key": blank(local(a.get("slug"), lang)),
            "updated_at": _updated(a)}


def tax_class(r: dict) -> dict:
    """One rate per class (Mystore's `tax_rate`), for no country in particular."""
    a = attrs(r)
    rate = money(a.get("tax_rate"))
    return {"source_id": str(r["id"]), "name": a.get("title"),
            "rates": [] if rate is None else [{"country": None, "rate": rate}], "updated_at": _updated(a)}


def active_special(specials: list[dict], now: datetime) -> tuple:
    """(price, end) of the special on sale now: status 1 and not expired (`expires_at` empty or later); the newest
    wins. Mystore specials have no start: one on sale is running (special_price_from stays empty)."""
    live = []
    for s in specials:
        a = attrs(s)
        ends = a.get("expires_at")
        if a.get("status") in (1, "1") and (not ends or str(ends)[:19] > now.strftime(facts.DATETIME_FORMAT)):
            live.append(s)
    if not live:
        return None, None
    a = attrs(max(live, key=lambda s: int(s["id"])))
    return money(a.get("specials_price")), iso(a.get("expires_at"))


def variant(v: dict, price, parts: dict[str, dict], names: dict[str, str], values: dict[str, str]) -> dict:
    """A stock row as a canonical variant: price = the product's + its option values' deltas (prefix + or -)."""
    a, delta, options = attrs(v), Decimal(0), []
    for aid in link(v, "product-attributes") or []:
        part = parts.get(aid)
        if part is None:
            raise ValueError(f"variant {v['id']} names product-attribute {aid}, which the shop does not list")
        d = money(attrs(part).get("option_values_price")) or Decimal(0)
        delta += -d if attrs(part).get("option_values_price_prefix") == "-" else d
        options.append({"name": names.get(link(part, "product-option")),
                        "value": values.get(link(part, "product-option-value"))})
    disabled = a.get("disabled")
    return {"source_id": str(v["id"]), "sku": blank(a.get("sku")),
            "price": price + delta if isinstance(price, Decimal) else price, "stock": a.get("quantity"),
            "options": options,
            "status": None if disabled is None else "disabled" if disabled in (1, "1", True) else "enabled"}


def product(r: dict, variants: list[dict], parts: list[dict], specials: list[dict], lang: str, cdn: str,
            names: dict[str, str], values: dict[str, str], now: datetime) -> dict:
    a = attrs(r)
    price = money(a.get("price"))
    status = a.get("status")
    by_id = {str(p["id"]): p for p in parts}
    special, special_to = active_special(specials, now)
    return {
        "source_id": str(r["id"]), "sku": blank(a.get("sku")), "name": local(a.get("name"), lang),
        "description_html": local(a.get("description"), lang), "price": price,
        "special_price": special, "special_price_from": None, "special_price_to": special_to,
        "weight": a.get("weight"), "stock": a.get("quantity"),
        "status": {1: "enabled", 0: "disabled", "1": "enabled", "0": "disabled"}.get(status, status),
        "url_key": blank(local(a.get("slug"), lang)), "category_ids": link(r, "categories") or [],
        "manufacturer_id": link(r, "manufacturer"), "tax_class_id": link(r, "tax-class"),
        "variants": [variant(v, price, by_id, names, values) for v in sorted(variants, key=lambda v: int(v["id"]))],
        "images": [{"url": f"{cdn}{a[k]}" if "://" not in str(a[k]) else a[k], "position": n, "alt": None}
                   for n, k in enumerate(k for k in IMAGES if a.get(k))],
        "created_at": iso(a.get("created_at")), "updated_at": _updated(a),
    }


def _address(a: dict, prefix: str, with_lastname: bool) -> dict | None:
    out = address_back(a, prefix, with_lastname)
    if out is None:
        return None
    out = {k: blank(v) for k, v in out.items()}
    out["first_name"], out["last_name"] = _name(out["first_name"]), _name(out["last_name"])
    return out if any(v for k, v in out.items() if k != "phone") else None


def customer(r: dict) -> dict:
    a = attrs(r)
    ship, bill = _address(a, "address", True), _address(a, "billing_address", True)
    if ship and ship == bill:
        addresses = [{**ship, "is_default_billing": True, "is_default_shipping": True}]
    else:
        addresses = ([{**ship, "is_default_billing": False, "is_default_shipping": True}] if ship else []) + \
                    ([{**bill, "is_default_billing": True, "is_default_shipping": False}] if bill else [])
    newsletter = a.get("newsletter")
    return {"source_id": str(r["id"]), "email": blank(a.get("email")), "first_name": _name(a.get("name")),
            "last_name": _name(a.get("lastname")), "phone": blank(a.get("phone")),
            "newsletter": None if newsletter is None else newsletter in (1, "1", True), "addresses": addresses,
            "password_hash": None, "password_algorithm": None,
            "created_at": iso(a.get("created_at")), "updated_at": _updated(a)}


def status_of(statuses: dict[str, dict], status_id: str | None, lang: str) -> str | None:
    """The shop's order-status (by id) as a canonical status: its names in any language matched against
    mapping.STATUS_NAMES; a name matching none is carried as it is (lower case), for order_status_map."""
    if status_id is None:
        return None
    s = statuses.get(status_id)
    if s is None:
        raise ValueError(f"order-status {status_id} is not in the shop's order-status list")
    name = attrs(s).get("name")
    shop_names = {str(v).strip().lower() for v in (name.values() if isinstance(name, dict) else [name]) if v}
    for status, names in STATUS_NAMES.items():
        if shop_names & set(names):
            return STATUS_BACK[status]
    return (local(name, lang) or status_id).strip().lower()


def line(item: dict, options: list[dict]) -> dict:
    a = attrs(item)
    name = blank(a.get("name"))
    chosen = [f"{attrs(o).get('option_name')}: {attrs(o).get('option_value_name')}"
              for o in sorted(options, key=lambda o: int(o["id"]))]
    return {"source_id": str(item["id"]), "product_id": link(item, "product"), "sku": blank(a.get("sku")),
            "name": f"{name} ({', '.join(chosen)})" if chosen and name else name, "qty": a.get("quantity"),
            "price": money(a.get("price")), "tax": item_tax(a) if a.get("tax_rate") is not None else None}


def order(r: dict, lines: list[dict], options: dict[str, list[dict]], totals: list[dict],
          statuses: dict[str, dict], lang: str) -> dict:
    a = attrs(r)
    held = {attrs(t).get("class"): money(attrs(t).get("value")) for t in totals}
    # No discount row among the totals: no discount. No totals at all: nothing is known.
    discount = held.get(facts.DISCOUNT_TOTAL_CLASS, Decimal("0.00") if held else None)
    buyer = _address(a, "customer_address", False) or {}
    return {
        "source_id": str(r["id"]), "number": blank(a.get(facts.ORDER_NUMBER_ATTRIBUTE)) or str(r["id"]),
        "customer_id": link(r, "customer"),
        "email": blank(a.get("customer_address_email")) or blank(a.get("billing_address_email")),
        "customer_first_name": buyer.get("first_name"), "customer_last_name": buyer.get("last_name"),
        "status": status_of(statuses, link(r, "order-status"), lang), "currency": blank(a.get("currency")),
        "subtotal": held.get("ot_subtotal"), "shipping": held.get("ot_shipping"), "tax": held.get("ot_tax"),
        "discount": abs(discount) if isinstance(discount, Decimal) else discount, "grand_total": held.get("ot_total"),
        "items": [line(i, options.get(str(i["id"]), [])) for i in sorted(lines, key=lambda i: int(i["id"]))],
        "billing_address": _address(a, "billing_address", False),
        "shipping_address": _address(a, "shipping_address", False),
        "created_at": iso(a.get("created_at")), "updated_at": _updated(a),
    }


def review(r: dict, lang: str) -> dict:
    """`name` is the reviewer's name, not a title (osCommerce reviews have none); Mystore lists no review status."""
    a = attrs(r)
    return {"source_id": str(r["id"]), "product_id": link(r, "product"), "customer_id": link(r, "customer"),
            "rating": a.get("rating"), "title": None, "text": local(a.get("review"), lang), "status": None,
            "created_at": iso(a.get("created_at")), "updated_at": _updated(a)}
