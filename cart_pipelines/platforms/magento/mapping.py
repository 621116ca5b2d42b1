"""Magento 2 REST JSON -> canonical records.

Dates are Magento's UTC "Y-m-d H:i:s" as ISO 8601; money is Decimal to the cent; weights are converted to kg when
the store view weighs in lbs; image URLs are rebuilt from the store's media base URL. Each mapper takes one item
of a searchCriteria list (plus what it needs from elsewhere: category names, tax rates by class, the store's media
URL and weight factor) and returns the canonical dict, or None for an item that is not migrated.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

LBS_TO_KG = 0.45359237
STORE_LEVEL = 2  # categories below it are system nodes: the Root Catalog (0) and each store's root category (1)


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
    """A datetime as Magento's filters take it: UTC "Y-m-d H:i:s" (naive means UTC)."""
    dt = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def custom(item: dict) -> dict:
    return {a.get("attribute_code"): a.get("value") for a in item.get("custom_attributes") or []}


def _str(value) -> str | None:
    return None if value is None or value == "" else str(value)


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


def is_store_category(c: dict) -> bool:
    """Whether a category is the shop's own (not the Root Catalog or a store's root category)."""
    return int(c.get("level") or 0) >= STORE_LEVEL


def category(c: dict, names: dict[str, str]) -> dict | None:
    """`names`: id -> name of every category, since a path needs its ancestors from any page."""
    if not is_store_category(c):
        return None
    level = int(c.get("level") or 0)
    ids = str(c.get("path") or "").split("/")[2:]
    attrs = custom(c)
    return {"source_id": str(c["id"]), "parent_id": str(c["parent_id"]) if level > STORE_LEVEL else None,
            "name": c.get("name"), "path": "/".join(names.get(i) or "" for i in ids),
            "url_key": attrs.get("url_path") or attrs.get("url_key"), "is_visible": bool(c.get("is_active")),
            "position": c.get("position"), "updated_at": iso(c.get("updated_at"))}


def manufacturer(option: dict) -> dict | None:
    """An option of the `manufacturer` attribute; the empty first option Magento lists is skipped."""
    if not str(option.get("value") or "").strip():
        return None
    return {"source_id": str(option["value"]), "name": option.get("label")}


def rates_by_class(rates: list[dict], rules: list[dict]) -> dict[int, list[dict]]:
    """Product tax class id -> the (country, rate) of every rate in the rules naming it, in rule order."""
    by_id = {r["id"]: {"country": r.get("tax_country_id"), "rate": Decimal(str(r.get("rate"))).quantize(Decimal("0.001"))}
             for r in rates}
    by_class: dict[int, list] = {}
    for rule in rules:
        for class_id in rule.get("product_tax_class_ids") or []:
            by_class.setdefault(int(class_id), []).extend(by_id[i] for i in rule.get("tax_rate_ids") or []
                                                          if i in by_id)
    return by_class


def tax_class(c: dict, by_class: dict[int, list[dict]]) -> dict:
    return {"source_id": str(c["class_id"]), "name": c.get("class_name"), "rates": by_class.get(int(c["class_id"]), [])}


def product_context(store: dict) -> tuple[str, float | None, int | None]:
    """(media URL prefix of product images, kg per weight unit or None for kg, the store view's website id or None
    where the configuration could not be read) from the store view's config."""
    media = str(store.get("base_media_url") or "").rstrip("/") + "/catalog/product"
    website = store.get("website_id")
    return (media, (LBS_TO_KG if str(store.get("weight_unit", "kgs")).startswith("lb") else None),
            None if website is None else int(website))


# type_id -> canonical type: configurable products are variable (their child simple products are the variants);
# Adobe Commerce's giftcard is a gift card
TYPES = {"simple": "simple", "configurable": "variable", "grouped": "grouped", "bundle": "bundle",
         "virtual": "virtual", "downloadable": "downloadable", "giftcard": "gift_card"}
NOT_VISIBLE = 1  # visibility "Not Visible Individually"


def on_website(p: dict, website: int | None) -> bool:
    """Whether the product is in the store's website (`extension_attributes.website_ids`): a product removed from
    it stays in the catalog (and on old orders) but is not sold there. Without the store's website id (no
    permission for the store configuration), only a product in no website at all is off it."""
    ids = (p.get("extension_attributes") or {}).get("website_ids")
    if ids is None:
        return True
    return bool(ids) if website is None else website in {int(i) for i in ids}


def lifecycle(p: dict, website: int | None = None) -> str:
    """Published, or private: not visible individually, or removed from the store's website (still in the
    catalog)."""
    if int(p.get("visibility") or 4) == NOT_VISIBLE or not on_website(p, website):
        return "private"
    return "published"


def associated_skus(p: dict) -> str:
    """The SKUs of a grouped product's products (`product_links` of link_type "associated", by position), joined
    for a searchCriteria `in` filter."""
    links = sorted((link for link in p.get("product_links") or [] if link.get("link_type") == "associated"),
                   key=lambda link: int(link.get("position") or 0))
    return ",".join(str(link["linked_product_sku"]) for link in links if link.get("linked_product_sku"))


def _running(attrs: dict, now: datetime) -> bool:
    """Whether a special price's sale runs now (special_from_date / special_to_date; none means open)."""
    start, end = iso(attrs.get("special_from_date")), iso(attrs.get("special_to_date"))
    return (start is None or datetime.fromisoformat(start) <= now) and \
        (end is None or datetime.fromisoformat(end) >= now)


def shown_price(p: dict, now: datetime | None = None) -> Decimal | None:
    """What the shop sells a simple product at now: its special price while its sale runs, else its price."""
    attrs = custom(p)
    special = money(attrs.get("special_price"))
    if special is not None and _running(attrs, now or datetime.now(timezone.utc)):
        price = money(p.get("price"))
        return special if price is None else min(special, price)
    return money(p.get("price"))


def grouped(p: dict, associated: list[dict], website: int | None) -> tuple[list[str], Decimal]:
    """(child_ids, price) of a grouped product: its associated products in link order, and the price the shop
    shows for the group ("Starting at"): the lowest of what its products sell at now, else 0.00 (a group with no
    products, which Magento shows without a price). (`website`: kept for a narrower choice, unused.) Magento keeps no price on the grouped product itself."""
    order = {sku: k for k, sku in enumerate(associated_skus(p).split(","))}
    found = sorted((c for c in associated if str(c.get("sku")) in order), key=lambda c: order[str(c["sku"])])
    prices = [x for x in (shown_price(c) for c in found) if x is not None]
    return [str(c["id"]) for c in found], min(prices, default=Decimal("0.00"))


def variant(child: dict, options: list[dict], labels) -> dict:
    """A configurable product's child simple product as a variant: each option is the child's attribute whose value
    is one of the option's value_index; its label from the attribute's options (`labels(code)`: value -> label)."""
    attrs, ext = custom(child), child.get("extension_attributes") or {}
    values = []
    for option in options:
        indexes = {str(v.get("value_index")) for v in option.get("values") or []}
        code = next((c for c, v in attrs.items() if str(v) in indexes), None)
        if code is not None:
            values.append({"name": option.get("label"), "value": labels(code).get(str(attrs[code]), str(attrs[code]))})
    stock = (ext.get("stock_item") or {}).get("qty")
    return {"source_id": str(child["id"]), "sku": child.get("sku"), "price": money(child.get("price")),
            "stock": None if stock is None else int(float(stock)), "options": values,
            "status": "enabled" if int(child.get("status") or 1) == 1 else "disabled"}


def product(p: dict, children: list[dict], associated: list[dict], media: str, factor: float | None,
            website: int | None = None, labels=lambda code: {}) -> dict:
    """A product with its configurable children (the variants) and, for a grouped product, its associated
    products (child_ids and the group's price)."""
    attrs, ext = custom(p), p.get("extension_attributes") or {}
    child_ids, price = (grouped(p, associated, website) if p.get("type_id") == "grouped"
                        else (None, money(p.get("price"))))
    weight = p.get("weight")
    if weight is not None and factor:
        weight = round(float(weight) * factor, 3)
    stock = (ext.get("stock_item") or {}).get("qty")
    images = [{"url": f"{media}{m.get('file')}", "position": m.get("position"), "alt": m.get("label")}
              for m in p.get("media_gallery_entries") or [] if m.get("media_type", "image") == "image"]
    return {"source_id": str(p["id"]), "sku": p.get("sku"), "name": p.get("name"),
            "description_html": attrs.get("description"), "price": price, "child_ids": child_ids,
            "special_price": money(attrs.get("special_price")), "weight": weight,
            # the sale's dates: special_from_date / special_to_date (date attributes, "Y-m-d H:i:s")
            "special_price_from": iso(attrs.get("special_from_date")),
            "special_price_to": iso(attrs.get("special_to_date")),
            "stock": None if stock is None else int(float(stock)),
            "status": "enabled" if int(p.get("status") or 1) == 1 else "disabled",  # 2: disabled
            "type": TYPES.get(p.get("type_id")), "lifecycle": lifecycle(p, website),
            "url_key": attrs.get("url_key"),
            "category_ids": [str(link["category_id"]) for link in ext.get("category_links") or []],
            "manufacturer_id": _str(attrs.get("manufacturer")), "tax_class_id": _str(attrs.get("tax_class_id")),
            "variants": [variant(c, ext.get("configurable_product_options") or [], labels) for c in children],
            "images": images, "created_at": iso(p.get("created_at")), "updated_at": iso(p.get("updated_at"))}


def customer(c: dict) -> dict:
    addresses = []
    for a in c.get("addresses") or []:
        billing = a.get("default_billing") is True or str(a.get("id")) == str(c.get("default_billing"))
        shipping = a.get("default_shipping") is True or str(a.get("id")) == str(c.get("default_shipping"))
        addresses.append({**address(a), "is_default_billing": billing, "is_default_shipping": shipping})
    return {"source_id": str(c["id"]), "email": c.get("email"), "first_name": c.get("firstname"),
            "last_name": c.get("lastname"), "phone": None,
            "newsletter": bool((c.get("extension_attributes") or {}).get("is_subscribed")),
            "addresses": addresses, "created_at": iso(c.get("created_at")), "updated_at": iso(c.get("updated_at"))}


def was_refunded(o: dict) -> bool:
    """Whether an order has credit memos to read (`total_refunded` above 0)."""
    try:
        return (money(o.get("total_refunded")) or 0) > 0
    except ArithmeticError:
        return False


def refund(memo: dict) -> dict:
    """A credit memo: `grand_total` went back (items, shipping and adjustments); the reason is its first comment."""
    comments = [c.get("comment") for c in memo.get("comments") or [] if _str(c.get("comment"))]
    lines = [{"item_id": str(i.get("order_item_id")), "sku": i.get("sku"), "qty": int(float(i.get("qty") or 0)),
              "amount": money(i.get("row_total"))} for i in memo.get("items") or []
             if float(i.get("qty") or 0) > 0]
    return {"source_id": str(memo["entity_id"]), "amount": money(memo.get("grand_total")),
            "reason": comments[0] if comments else None, "created_at": iso(memo.get("created_at")), "lines": lines}


def order(o: dict, creditmemos: list[dict] = ()) -> dict:
    """An order with its credit memos; items of a product deleted since keep their product_id, sku and name (the
    order item holds them)."""
    refunded, total = money(o.get("total_refunded")) or None, money(o.get("grand_total"))
    assignments = (o.get("extension_attributes") or {}).get("shipping_assignments") or [{}]
    shipping_address = ((assignments[0] or {}).get("shipping") or {}).get("address")
    discount = money(o.get("discount_amount"))
    items = [{"source_id": str(i["item_id"]), "product_id": _str(i.get("product_id")), "sku": i.get("sku"),
              "name": i.get("name"), "qty": int(float(i.get("qty_ordered") or 0)), "price": money(i.get("price")),
              "tax": money(i.get("tax_amount"))}
             for i in o.get("items") or [] if not i.get("parent_item_id")]  # children repeat their parent
    return {"source_id": str(o["entity_id"]), "number": o.get("increment_id"),
            "customer_id": None if o.get("customer_is_guest") else _str(o.get("customer_id")),
            "email": o.get("customer_email"), "customer_first_name": o.get("customer_firstname"),
            "customer_last_name": o.get("customer_lastname"), "status": o.get("status"),
            "currency": o.get("order_currency_code"), "subtotal": money(o.get("subtotal")),
            "shipping": money(o.get("shipping_amount")), "tax": money(o.get("tax_amount")),
            "discount": None if discount is None else abs(discount),  # Magento stores discounts negative
            "grand_total": total, "items": items,
            "refunds": [refund(m) for m in creditmemos], "refunded_total": refunded,
            "net_total": max(Decimal(0), total - refunded) if refunded and total is not None else None,
            "billing_address": address(o.get("billing_address")), "shipping_address": address(shipping_address),
            "created_at": iso(o.get("created_at")), "updated_at": iso(o.get("updated_at"))}
