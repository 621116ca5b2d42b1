"""Square JSON <-> canonical records.

Read (Square API v2 -> canonical), what the source maps:
- the catalog: CATEGORY -> categories (the path from the whole tree), TAX -> tax classes (one percentage each;
  Square taxes name no country), ITEM with its nested ITEM_VARIATIONs -> products and variants (images and item
  options come as the search page's `related_objects`); Square has no brands and no product reviews;
- customers (one address each), orders (line items, shipping as a service charge, the shipment recipient, refunds).
Money is Money {amount in the currency's smallest unit, currency}: divided by 10^exponent of ISO 4217.
Ids are Square's own (opaque strings) and pass through unchanged.

Write (canonical -> Square JSON): what the emulator serves for a canonical store (`*_object`, `customer_json`,
`order_json`); it never reads the source's side.
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import datetime
from decimal import Decimal

import requests

from cart_pipelines.platforms.kit.values import blank as _blank
from cart_pipelines.platforms.kit.values import iso_millis

# ISO 4217 minor units that are not 2 (Square's Money is in the smallest denomination).
ZERO_DECIMAL = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF",
                "XOF", "XPF"}
THREE_DECIMAL = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"}
ALL_STATES = ["OPEN", "COMPLETED", "CANCELED", "DRAFT"]
SHIPPING = "Shipping"  # the service charge Square Online adds for shipping


def exponent(currency: str | None) -> int:
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


def money(m: dict | None) -> Decimal | None:
    """Square Money as a Decimal in the currency's main unit; None when absent."""
    if not m or m.get("amount") is None:
        return None
    return Decimal(int(m["amount"])).scaleb(-exponent(m.get("currency")))


def square_error(response: requests.Response) -> str:
    """Square's error body {"errors": [{category, code, detail, field}]} as "CODE: detail; ..."."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return ""
    return "; ".join(": ".join(x for x in (e.get("code"), e.get("detail")) if x) for e in errors if isinstance(e, dict))


def error_codes(response: requests.Response) -> set[str]:
    try:
        return {e.get("code") for e in response.json().get("errors") or [] if isinstance(e, dict)}
    except (ValueError, AttributeError):
        return set()


# --- read: Square -> canonical -------------------------------------------------------------------------------------
def category(obj: dict, tree: dict[str, dict]) -> dict:
    """A CATEGORY with the whole tree at hand (`tree`: id -> object) for its path."""
    data = obj.get("category_data") or {}
    names, node, seen = [], obj, set()
    while node and node["id"] not in seen:  # a broken tree (a cycle) must not hang the run
        seen.add(node["id"])
        d = node.get("category_data") or {}
        names.append(d.get("name") or "")
        node = tree.get(((d.get("parent_category") or {}).get("id")) or "")
    parent = (data.get("parent_category") or {}).get("id")
    return {"source_id": obj["id"], "parent_id": parent or None, "name": data.get("name"),
            "path": "/".join(reversed(names)), "url_key": _blank((data.get("ecom_seo_data") or {}).get("permalink")),
            "is_visible": data.get("online_visibility"), "position": (data.get("parent_category") or {}).get("ordinal"),
            "updated_at": obj.get("updated_at")}


def tax_class(obj: dict) -> dict:
    data = obj.get("tax_data") or {}
    rate = data.get("percentage")
    return {"source_id": obj["id"], "name": data.get("name"),
            "rates": [{"country": None, "rate": Decimal(str(rate)).quantize(Decimal("0.001"))}] if rate else [],
            "updated_at": obj.get("updated_at")}


def with_related(body: dict | None) -> list[dict]:
    """The objects of a catalog search page, each with the page's `related_objects` by id (images, item options)
    under "_related", so an item maps on its own."""
    body = body or {}
    related = {o["id"]: o for o in body.get("related_objects") or [] if isinstance(o, dict) and "id" in o}
    return [{**o, "_related": related} for o in body.get("objects") or []]


def _options(variation: dict, related: dict[str, dict]) -> list[dict]:
    out = []
    for ov in variation.get("item_option_values") or []:
        option = related.get(ov.get("item_option_id")) or {}
        data = option.get("item_option_data") or {}
        value = next((v for v in data.get("values") or [] if v.get("id") == ov.get("item_option_value_id")), {})
        out.append({"name": data.get("name"), "value": (value.get("item_option_value_data") or {}).get("name")})
    return out


def sold_anywhere(obj: dict) -> bool:
    """Whether a catalog object is sold at some location: `present_at_all_locations` (less `absent_at_location_ids`)
    or `present_at_location_ids` (CatalogObject). A variation a seller stopped selling is present nowhere."""
    if obj.get("present_at_all_locations", True):
        return True
    return bool(obj.get("present_at_location_ids"))


def product(obj: dict) -> dict:
    data = obj.get("item_data") or {}
    related = obj.get("_related") or {}
    variations = [v.get("item_variation_data") or {} for v in data.get("variations") or []]
    ids = [v.get("id") for v in data.get("variations") or []]
    sold = [sold_anywhere(v) for v in data.get("variations") or []]
    # the price is what the item sells at: its variations present at a location (else all, as Square lists them)
    prices = [money(v.get("price_money")) for v, s in zip(variations, sold)
              if money(v.get("price_money")) is not None and (s or not any(sold))]
    # A simple product is one variation without options; more, or any with options, are the variants.
    single = len(variations) == 1 and not variations[0].get("item_option_values")
    categories = [c["id"] for c in data.get("categories") or [] if c.get("id")]
    if not categories and data.get("category_id"):  # the field before 2023-12-13
        categories = [data["category_id"]]
    images = []
    for position, image_id in enumerate(data.get("image_ids") or []):
        image = (related.get(image_id) or {}).get("image_data") or {}
        if image.get("url"):
            images.append({"url": image["url"], "position": position, "alt": _blank(image.get("caption"))})
    return {
        "source_id": obj["id"], "sku": _blank(variations[0].get("sku")) if single else None,
        "name": data.get("name"), "description_html": data.get("description_html") or data.get("description"),
        "price": min(prices) if prices else None, "special_price": None, "weight": None, "stock": None,
        "status": "disabled" if data.get("is_archived") else "enabled",
        "url_key": _blank((data.get("ecom_seo_data") or {}).get("permalink")),
        "category_ids": categories, "manufacturer_id": None,
        "tax_class_id": (data.get("tax_ids") or [None])[0],
        "variants": [] if single else [
            {"source_id": vid, "sku": _blank(v.get("sku")), "price": money(v.get("price_money")), "stock": None,
             "options": _options(v, related), "status": "enabled" if s else "disabled"}
            for vid, v, s in zip(ids, variations, sold)],
        "images": images, "created_at": None, "updated_at": obj.get("updated_at"),
    }


def address(a: dict | None, phone: str | None = None, company: str | None = None) -> dict | None:
    a = a or {}
    street = ", ".join(x for x in (a.get("address_line_1"), a.get("address_line_2"), a.get("address_line_3")) if x)
    out = {"first_name": a.get("first_name"), "last_name": a.get("last_name"), "company": company,
           "street": street, "city": a.get("locality"), "postcode": a.get("postal_code"),
           "region": a.get("administrative_district_level_1"), "country": a.get("country"), "phone": phone}
    out = {k: _blank(v) for k, v in out.items()}
    return out if any(v for k, v in out.items() if k not in ("phone", "company")) else None


def customer(c: dict) -> dict:
    a = address(c.get("address"), None, c.get("company_name"))
    unsubscribed = (c.get("preferences") or {}).get("email_unsubscribed")
    return {"source_id": c["id"], "email": c.get("email_address"), "first_name": c.get("given_name"),
            "last_name": c.get("family_name"), "phone": _blank(c.get("phone_number")),
            "newsletter": None if unsubscribed is None else not unsubscribed,
            "addresses": [{**a, "is_default_billing": True, "is_default_shipping": True}] if a else [],
            "password_hash": None, "password_algorithm": None,
            "created_at": c.get("created_at"), "updated_at": c.get("updated_at")}


# A Square Refund is PENDING, APPROVED, REJECTED or FAILED (connect-api-specification: Refund.status): the first two
# are money that goes back. A refund on an order names no lines (itemized returns are a separate return order's
# `returns`), so canonical refunds carry the amount, reason and date only.
REFUNDED = ("APPROVED", "PENDING")


def order_status(o: dict) -> str:
    state = o.get("state")
    if state == "CANCELED":
        return "canceled"
    if state == "COMPLETED":
        refunded = sum((money(r.get("amount_money")) or Decimal(0) for r in o.get("refunds") or []
                        if r.get("status") in REFUNDED), Decimal(0))
        total = money(o.get("total_money")) or Decimal(0)
        return "refunded" if total and refunded >= total else "complete"
    states = {f.get("state") for f in o.get("fulfillments") or []}
    return "processing" if states & {"RESERVED", "PREPARED"} else "pending"


def order(o: dict, variations: dict[str, tuple[str, str | None]]) -> dict:
    """An order; `variations` maps a variation id to (item id, sku), since a line item names only its variation."""
    items = []
    for li in o.get("line_items") or []:
        item_id, sku = variations.get(li.get("catalog_object_id") or "", (None, None))
        qty = Decimal(str(li.get("quantity") or 0))
        items.append({"source_id": li.get("uid"), "product_id": item_id, "sku": sku, "name": li.get("name"),
                      "qty": int(qty) if qty == qty.to_integral_value() else qty,
                      "price": money(li.get("base_price_money")), "tax": money(li.get("total_tax_money"))})
    subtotal = sum((money(li.get("variation_total_price_money")) or Decimal(0) for li in o.get("line_items") or []),
                   Decimal(0))
    recipient = next(((f.get("shipment_details") or f.get("delivery_details") or {}).get("recipient") or {}
                      for f in o.get("fulfillments") or [] if f.get("type") in ("SHIPMENT", "DELIVERY")), {})
    shipping = sum((money(s.get("total_money") or s.get("applied_money")) or Decimal(0)
                    for s in o.get("service_charges") or [] if s.get("name") == SHIPPING), Decimal(0))
    ship_to = address(recipient.get("address"), _blank(recipient.get("phone_number")))
    refunds = [{"source_id": str(r["id"]), "amount": money(r.get("amount_money")), "reason": _blank(r.get("reason")),
                "created_at": r.get("created_at"), "lines": []}
               for r in o.get("refunds") or [] if r.get("status") in REFUNDED]
    back = sum((r["amount"] or Decimal(0) for r in refunds), Decimal(0))
    grand = money(o.get("total_money"))
    return {
        "refunds": refunds, "refunded_total": back if refunds else None,
        "net_total": grand - back if refunds and grand is not None else None,
        "source_id": o["id"], "number": o.get("reference_id") or o["id"], "customer_id": _blank(o.get("customer_id")),
        "email": _blank(recipient.get("email_address")),
        "customer_first_name": (ship_to or {}).get("first_name"),
        "customer_last_name": (ship_to or {}).get("last_name"),
        "status": order_status(o), "currency": (o.get("total_money") or {}).get("currency"),
        "subtotal": subtotal,
        "shipping": shipping if any(s.get("name") == SHIPPING for s in o.get("service_charges") or []) else None,
        "tax": money(o.get("total_tax_money")), "discount": money(o.get("total_discount_money")),
        "grand_total": money(o.get("total_money")), "items": items, "billing_address": None,
        "shipping_address": ship_to, "created_at": o.get("created_at"), "updated_at": o.get("updated_at"),
    }


# --- write: canonical -> Square (what the emulator serves) ---------------------------------------------------------
def stamp(value) -> str | None:
    """RFC 3339 with milliseconds, as Square writes its timestamps ("2016-08-15T23:59:33.123Z")."""
    return iso_millis(value)


def money_json(value, currency: str) -> dict:
    amount = Decimal(str(value or 0)).scaleb(exponent(currency))
    return {"amount": int(amount.to_integral_value()), "currency": currency}


def version(record: dict) -> int:
    """Square's object version: a number that grows with each change (the update time in ms)."""
    updated = record.get("updated_at") or record.get("created_at") or "2023-01-01T00:00:00Z"
    dt = datetime.fromisoformat(str(updated).replace("Z", "+00:00"))
    return int(dt.timestamp() * 1000)


def _catalog(kind: str, id_: str, record: dict, data_key: str, data: dict, present: bool = True) -> dict:
    """A catalog object; one not `present` is sold at no location (present_at_all_locations false, no
    present_at_location_ids)."""
    return {"type": kind, "id": id_, "updated_at": stamp(record.get("updated_at")), "version": version(record),
            "is_deleted": False, "present_at_all_locations": present, data_key: data}


def option_id(name: str) -> str:
    return "OPT" + hashlib.sha1(name.encode()).hexdigest()[:21].upper()


def option_value_id(name: str, value: str) -> str:
    return "OPV" + hashlib.sha1(f"{name}\0{value}".encode()).hexdigest()[:21].upper()


def image_id(product_id: str, position: int) -> str:
    return f"{product_id}-image-{position}"


def simple_variation_id(product_id: str) -> str:
    return f"{product_id}-regular"


def deleted_ids(product_id: str, sku: str | None) -> tuple[str, str]:
    """(item id, variation id) of an item deleted since its orders: Square soft-deletes catalog objects (they keep
    their ids, `is_deleted: true`), so old line items still name the variation."""
    return f"{product_id}-deleted", f"{product_id}-deleted-{hashlib.sha1(str(sku).encode()).hexdigest()[:8]}"


def deleted_objects(lines: list[dict], currency: str, types: list[str]) -> list[dict]:
    """The deleted ITEMs and ITEM_VARIATIONs old order lines still name, as SearchCatalogObjects returns them with
    `include_deleted_objects`: `is_deleted: true`, their data as they were (name, SKU, price). `lines`: canonical
    order lines of deleted products, each with the order's `updated_at`."""
    items: dict[str, dict] = {}
    variations: dict[str, dict] = {}
    for ln in lines:
        item_id, variation_id = deleted_ids(str(ln["product_id"]), ln.get("sku"))
        record = {"updated_at": ln.get("_at")}
        variation = {**_catalog("ITEM_VARIATION", variation_id, record, "item_variation_data", {
            "item_id": item_id, "name": "Regular", "sku": ln.get("sku"), "ordinal": 1, "pricing_type": "FIXED_PRICING",
            "price_money": money_json(ln.get("price"), currency), "sellable": True, "stockable": True}),
            "is_deleted": True}
        variations.setdefault(variation_id, variation)
        item = items.setdefault(item_id, {**_catalog("ITEM", item_id, record, "item_data", {
            "name": ln.get("name"), "variations": [], "product_type": "REGULAR", "is_archived": False}),
            "is_deleted": True})
        if all(v["id"] != variation_id for v in item["item_data"]["variations"]):
            item["item_data"]["variations"].append(variation)
    out = list(items.values()) if "ITEM" in types else []
    return out + (list(variations.values()) if "ITEM_VARIATION" in types else [])


def category_object(c: dict, path_to_root: list[dict] | None = None) -> dict:
    data = {"name": c["name"], "category_type": "REGULAR_CATEGORY", "is_top_level": not c.get("parent_id"),
            "online_visibility": c.get("is_visible"), "image_ids": [],
            "ecom_seo_data": {"page_title": c["name"], "page_description": None, "permalink": c.get("url_key")},
            "channels": []}
    if c.get("parent_id"):
        data["parent_category"] = {"id": str(c["parent_id"]), "ordinal": c.get("position")}
    if path_to_root is not None:
        data["path_to_root"] = path_to_root
        data["root_category"] = path_to_root[-1]["category_id"] if path_to_root else str(c["source_id"])
    return _catalog("CATEGORY", str(c["source_id"]), c, "category_data", data)


def tax_object(t: dict) -> dict:
    rate = next((r.get("rate") for r in t.get("rates") or []), 0)
    return _catalog("TAX", str(t["source_id"]), t, "tax_data", {
        "name": t["name"], "calculation_phase": "TAX_SUBTOTAL_PHASE", "inclusion_type": "ADDITIVE",
        "percentage": f"{Decimal(str(rate)).normalize():f}", "applies_to_custom_amounts": True, "enabled": True})


def _plain(text: str | None) -> str | None:
    return html.unescape(re.sub(r"<[^>]+>", " ", text)).strip() if text else None


def item_object(p: dict, currency: str) -> dict:
    """A product as an ITEM with its variations nested (a simple product has one variation, "Regular")."""
    pid = str(p["source_id"])
    variants = p.get("variants") or []
    names = list(dict.fromkeys(o["name"] for v in variants for o in v.get("options") or []))
    rows = variants or [{"source_id": simple_variation_id(pid), "sku": p.get("sku"), "price": p.get("price"),
                         "stock": p.get("stock"), "options": []}]
    variations = []
    for ordinal, v in enumerate(rows, start=1):
        label = ", ".join(o["value"] for o in v.get("options") or []) or "Regular"
        variations.append(_catalog("ITEM_VARIATION", str(v["source_id"]), p, "item_variation_data", {
            "item_id": pid, "name": label, "sku": v.get("sku"), "ordinal": ordinal, "pricing_type": "FIXED_PRICING",
            "price_money": money_json(v.get("price") if v.get("price") is not None else p.get("price"), currency),
            "track_inventory": v.get("stock") is not None, "sellable": True, "stockable": True,
            "item_option_values": [{"item_option_id": option_id(o["name"]),
                                    "item_option_value_id": option_value_id(o["name"], o["value"])}
                                   for o in v.get("options") or []]}, v.get("status") != "disabled"))
    data = {"name": p["name"], "description_html": p.get("description_html"),
            "description_plaintext": _plain(p.get("description_html")), "is_taxable": bool(p.get("tax_class_id")),
            "tax_ids": [str(p["tax_class_id"])] if p.get("tax_class_id") else [],
            "categories": [{"id": str(c), "ordinal": None} for c in p.get("category_ids") or []],
            "variations": variations, "product_type": "REGULAR", "skip_modifier_screen": False,
            "image_ids": [image_id(pid, i.get("position") or k) for k, i in enumerate(p.get("images") or [])],
            "is_archived": p.get("status") == "disabled", "channels": [],
            "item_options": [{"item_option_id": option_id(n)} for n in names],
            "ecom_seo_data": {"page_title": p["name"], "page_description": None, "permalink": p.get("url_key")}}
    if p.get("category_ids"):
        data["reporting_category"] = {"id": str(p["category_ids"][0]), "ordinal": None}
    return _catalog("ITEM", pid, p, "item_data", data)


def image_objects(p: dict) -> list[dict]:
    pid = str(p["source_id"])
    return [_catalog("IMAGE", image_id(pid, i.get("position") or k), p, "image_data",
                     {"name": i.get("alt") or p["name"], "url": i["url"], "caption": i.get("alt")})
            for k, i in enumerate(p.get("images") or [])]


def option_objects(products: list[dict]) -> list[dict]:
    """The ITEM_OPTIONs (with their values) the given products' variants use."""
    values: dict[str, list[str]] = {}
    for p in products:
        for v in p.get("variants") or []:
            for o in v.get("options") or []:
                values.setdefault(o["name"], [])
                if o["value"] not in values[o["name"]]:
                    values[o["name"]].append(o["value"])
    stub = {"updated_at": "2023-01-01T00:00:00Z"}
    return [_catalog("ITEM_OPTION", option_id(name), stub, "item_option_data", {
        "name": name, "display_name": name, "show_colors": False,
        "values": [_catalog("ITEM_OPTION_VAL", option_value_id(name, v), stub, "item_option_value_data",
                            {"item_option_id": option_id(name), "name": v, "ordinal": k})
                   for k, v in enumerate(vals)]}) for name, vals in values.items()]


def address_json(a: dict | None) -> dict | None:
    if not a:
        return None
    out = {"address_line_1": a.get("street"), "locality": a.get("city"), "postal_code": a.get("postcode"),
           "administrative_district_level_1": a.get("region"), "country": a.get("country"),
           "first_name": a.get("first_name"), "last_name": a.get("last_name")}
    return {k: v for k, v in out.items() if v not in (None, "")}


def customer_json(c: dict) -> dict:
    addresses = c.get("addresses") or []
    a = next((x for x in addresses if x.get("is_default_billing")), addresses[0] if addresses else None)
    out = {"id": str(c["source_id"]), "created_at": stamp(c.get("created_at")),
           "updated_at": stamp(c.get("updated_at") or c.get("created_at")),
           "given_name": c.get("first_name"), "family_name": c.get("last_name"), "email_address": c.get("email"),
           "phone_number": c.get("phone"), "company_name": (a or {}).get("company"), "address": address_json(a),
           "preferences": {"email_unsubscribed": not c["newsletter"]} if c.get("newsletter") is not None else None,
           "creation_source": "THIRD_PARTY", "group_ids": [], "segment_ids": [], "version": version(c)}
    return {k: v for k, v in out.items() if v is not None}


# Square has no on-hold order: an OPEN order with a PROPOSED fulfilment, read back as pending (order_status)
ORDER_STATUS_HELD = {"on_hold": "pending"}


def order_state(o: dict) -> str:
    """A canonical order's Square state: complete and refunded orders are COMPLETED, pending and on-hold OPEN."""
    return {"complete": "COMPLETED", "refunded": "COMPLETED", "canceled": "CANCELED"}.get(o.get("status"), "OPEN")


def order_json(o: dict, location_id: str, variation_of: dict[str, str], refunds: list[dict] | None = None,
               gone: frozenset = frozenset()) -> dict:
    """An order as Square keeps it: `variation_of` maps an item's (product id, sku) to the variation sold;
    `refunds` (canonical) are its Refunds, with the returned and net amounts; `gone`: the positions of lines whose
    item was deleted since (they name its soft-deleted variation, deleted_ids)."""
    cur = o.get("currency") or "USD"
    state = order_state(o)
    fulfilment = {"pending": "PROPOSED", "on_hold": "PROPOSED", "processing": "RESERVED", "complete": "COMPLETED",
                  "refunded": "COMPLETED", "canceled": "CANCELED"}.get(o.get("status"), "PROPOSED")
    lines = []
    for k, item in enumerate(o.get("items") or []):
        qty = item.get("qty") or 0
        sold = deleted_ids(str(item.get("product_id")), item.get("sku"))[1] if item.get("product_id") and k in gone \
            else variation_of.get(f"{item.get('product_id')}\0{item.get('sku')}")
        price = Decimal(str(item.get("price") or 0))
        tax = Decimal(str(item.get("tax") or 0))
        lines.append({"uid": str(item["source_id"]), "name": item.get("name"), "quantity": str(qty),
                      "catalog_object_id": sold,  # a deleted item's variation: soft-deleted, still named
                      "item_type": "ITEM", "base_price_money": money_json(price, cur),
                      "variation_total_price_money": money_json(price * qty, cur),
                      "gross_sales_money": money_json(price * qty, cur), "total_tax_money": money_json(tax, cur),
                      "total_discount_money": money_json(0, cur), "total_money": money_json(price * qty + tax, cur)})
    created, updated = stamp(o.get("created_at")), stamp(o.get("updated_at") or o.get("created_at"))
    out = {"id": str(o["source_id"]), "location_id": location_id, "reference_id": o.get("number"),
           "source": {"name": "Square Online"}, "customer_id": o.get("customer_id"), "line_items": lines,
           "taxes": [], "discounts": [], "service_charges": [],
           "created_at": created, "updated_at": updated, "state": state, "version": 1,
           "total_money": money_json(o.get("grand_total"), cur), "total_tax_money": money_json(o.get("tax"), cur),
           "total_discount_money": money_json(o.get("discount"), cur), "total_tip_money": money_json(0, cur),
           "total_service_charge_money": money_json(o.get("shipping"), cur),
           "net_amount_due_money": money_json(0 if state != "OPEN" else o.get("grand_total"), cur)}
    if o.get("discount"):
        out["discounts"] = [{"uid": "discount", "name": "Discount", "type": "FIXED_AMOUNT", "scope": "ORDER",
                             "amount_money": money_json(o["discount"], cur),
                             "applied_money": money_json(o["discount"], cur)}]
    if o.get("shipping") is not None:
        out["service_charges"] = [{"uid": "shipping", "name": SHIPPING, "type": "CUSTOM", "scope": "ORDER",
                                   "calculation_phase": "TOTAL_PHASE", "taxable": False,
                                   "amount_money": money_json(o["shipping"], cur),
                                   "applied_money": money_json(o["shipping"], cur),
                                   "total_money": money_json(o["shipping"], cur),
                                   "total_tax_money": money_json(0, cur)}]
    ship = o.get("shipping_address")
    recipient = {"customer_id": o.get("customer_id"),
                 "display_name": " ".join(x for x in ((ship or {}).get("first_name"), (ship or {}).get("last_name"))
                                          if x) or None,
                 "email_address": o.get("email"), "phone_number": (ship or {}).get("phone"),
                 "address": address_json(ship)}
    out["fulfillments"] = [{"uid": "shipment", "type": "SHIPMENT", "state": fulfilment,
                            "shipment_details": {"recipient": {k: v for k, v in recipient.items() if v is not None},
                                                 "placed_at": created}}]
    if state != "OPEN":
        out["closed_at"] = updated
    refunds = list(refunds or [])
    if state == "COMPLETED" or refunds:  # paid: a refund goes back to the order's tender
        out["tenders"] = [{"id": f"{o['source_id']}-tender", "location_id": location_id, "created_at": created,
                           "amount_money": money_json(o.get("grand_total"), cur), "type": "CARD",
                           "customer_id": o.get("customer_id")}]
    if refunds:
        back = sum((Decimal(str(r["amount"])) for r in refunds), Decimal(0))
        out["refunds"] = [{"id": str(r["source_id"]), "location_id": location_id,
                           "tender_id": f"{o['source_id']}-tender", "created_at": stamp(r.get("created_at")),
                           "reason": r.get("reason"), "amount_money": money_json(r["amount"], cur),
                           "status": "APPROVED"} for r in refunds]
        out["return_amounts"] = {"total_money": money_json(back, cur)}
        out["net_amounts"] = {"total_money": money_json(Decimal(str(o.get("grand_total") or 0)) - back, cur)}
    return {k: v for k, v in out.items() if v is not None}
