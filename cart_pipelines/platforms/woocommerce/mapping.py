"""WooCommerce JSON <-> canonical records: what the source maps as it reads and the target reads back.

Write (canonical -> WooCommerce, the target): our source id goes in `meta_data` (META_KEY); an order is written
as line items, one shipping line and fee lines for tax and adjustments (see target.py); `customer_row` and
`order_row` read what the target wrote back into the canonical columns.

Read (REST API v3 -> canonical): dates are the `*_gmt` fields with a Z added; money stays Decimal, and text that is
no number is passed on so validation quarantines the record naming the field; weights are converted to kg from the
shop's unit; a variable product's prices are its variations' lowest.
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Callable
from urllib.parse import urlsplit

import requests

from cart_pipelines.platforms.kit.values import blank as _blank
from cart_pipelines.platforms.kit.values import money as _money

ORDER_STATUS = {"pending": "pending", "processing": "processing", "on-hold": "on_hold", "completed": "complete",
                "cancelled": "canceled", "refunded": "refunded", "failed": "failed", "checkout-draft": "pending"}
REVIEW_STATUS = {"approved": "approved", "hold": "pending", "spam": "spam", "trash": "trashed"}
# WordPress post status → where the product stands (canonical `lifecycle`); only a published product is sold
LIFECYCLE = {"publish": "published", "draft": "draft", "pending": "pending", "private": "private",
             "future": "scheduled", "trash": "trashed"}
PRODUCT_TYPE = {"simple": "simple", "variable": "variable", "grouped": "grouped", "external": "external"}
CENT, RATE = Decimal("0.01"), Decimal("0.001")
WEIGHT_UNITS = {"kg": Decimal(1), "g": Decimal("0.001"), "lbs": Decimal("0.45359237"), "oz": Decimal("0.028349523125")}



def wp_error(response: requests.Response) -> tuple[str, str]:
    """WordPress's error body {code, message, data} as (code, message); empty strings when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    return (str(body.get("code") or ""), str(body.get("message") or "")) if isinstance(body, dict) else ("", "")



def _gmt(value) -> str | None:
    return f"{value}Z" if value else None


def address(a: dict | None) -> dict | None:
    """A WooCommerce billing/shipping address as a canonical one; None when it holds nothing but a phone."""
    a = a or {}
    street = ", ".join(x for x in (a.get("address_1"), a.get("address_2")) if x)
    out = {"first_name": a.get("first_name"), "last_name": a.get("last_name"), "company": a.get("company"),
           "street": street, "city": a.get("city"), "postcode": a.get("postcode"), "region": a.get("state"),
           "country": a.get("country"), "phone": a.get("phone")}
    out = {k: _blank(v) for k, v in out.items()}
    return out if any(v for k, v in out.items() if k != "phone") else None


def _weight(value, kg_per_unit: Decimal):
    """Weight in kg; text that is no number is passed on, so validation quarantines that product with a reason."""
    if value in (None, ""):
        return None
    try:
        return float(Decimal(str(value)) * kg_per_unit)
    except InvalidOperation:
        return value


def reviewer_id(review: dict) -> str | None:
    for link in (review.get("_links") or {}).get("reviewer") or []:
        m = re.search(r"/wp/v2/users/(\d+)", link.get("href") or "")
        if m:
            return m.group(1)
    return None


def category(c: dict, tree: dict[int, dict]) -> dict:
    names, slugs, node, seen = [], [], c, set()
    while node and node["id"] not in seen:  # a broken tree (a cycle) must not hang the run
        seen.add(node["id"])
        names.append(html.unescape(node["name"]))
        slugs.append(node.get("slug") or "")
        node = tree.get(node.get("parent") or 0)
    return {"source_id": str(c["id"]), "parent_id": str(c["parent"]) if c.get("parent") else None,
            "name": html.unescape(c["name"]), "path": "/".join(reversed(names)), "url_key": "/".join(reversed(slugs)),
            "is_visible": None, "position": c.get("menu_order"), "updated_at": None}


def brand(b: dict) -> dict:
    return {"source_id": str(b["id"]), "name": html.unescape(b["name"]), "url_key": b.get("slug") or None,
            "updated_at": None}


def _sold(variation: dict) -> bool:
    """A variation is sold unless it is private (WooCommerce's "disabled" switch on the variation)."""
    return variation.get("status") not in ("private", "draft", "trash")


def _sale(record: dict) -> tuple:
    """(sale price, starts, ends): a scheduled sale (`date_on_sale_from` in the future, `on_sale` false) keeps its
    dates so the target does not start it early; dates are GMT."""
    return (_money(record.get("sale_price")), _gmt(record.get("date_on_sale_from_gmt")),
            _gmt(record.get("date_on_sale_to_gmt")))


def product(p: dict, variations: list[dict], shop_url: str, kg_per_unit: Decimal = Decimal(1)) -> dict:
    kind = p.get("type")
    # Grouped products have no regular price of their own: `price` is their cheapest child's.
    price = _money(p.get("regular_price")) if p.get("regular_price") not in (None, "") else _money(p.get("price"))
    special, sale_from, sale_to = _sale(p)
    if kind == "variable":  # the parent carries no prices; the variations it sells do (private ones are not sold)
        sold = [v for v in variations if _sold(v)] or variations
        prices = [_money(v.get("regular_price")) for v in sold if _money(v.get("regular_price")) is not None]
        sales = sorted((_sale(v) for v in sold if _money(v.get("sale_price")) is not None), key=lambda x: x[0])
        price = min(prices) if prices else _money(p.get("price"))
        special, sale_from, sale_to = sales[0] if sales else (None, None, None)
    permalink = p.get("permalink") or ""
    base = urlsplit(shop_url).path.rstrip("/")
    path = urlsplit(permalink).path
    # A draft or pending product has no slug yet (permalink "?post_type=product&p=ID"): no key here, so the
    # pipeline makes one from the name (rule url_key_from_name).
    url_key = ((path[len(base):] if base and path.startswith(base) else path).strip("/") or p.get("slug")) \
        if p.get("slug") else None
    status = p.get("status")
    return {
        "source_id": str(p["id"]), "sku": _blank(p.get("sku")), "name": p.get("name"),
        "description_html": p.get("description"), "price": price, "special_price": special,
        "special_price_from": sale_from if special is not None else None,
        "special_price_to": sale_to if special is not None else None,
        "weight": _weight(p.get("weight"), kg_per_unit),
        "stock": p.get("stock_quantity"),
        "status": "enabled" if status == "publish" else "disabled", "lifecycle": LIFECYCLE.get(status, status),
        "type": ("virtual" if p.get("virtual") else "downloadable" if p.get("downloadable") else "simple")
        if kind == "simple" and (p.get("virtual") or p.get("downloadable")) else PRODUCT_TYPE.get(kind, kind),
        "external_url": _blank(p.get("external_url")) if kind == "external" else None,
        "button_text": _blank(p.get("button_text")) if kind == "external" else None,
        "child_ids": [str(c) for c in p.get("grouped_products") or []] if kind == "grouped" else None,
        "url_key": url_key,
        "category_ids": [str(c["id"]) for c in p.get("categories") or []],
        "manufacturer_id": next((str(b["id"]) for b in p.get("brands") or []), None),
        "tax_class_id": p.get("tax_class") or "standard",
        "variants": [{"source_id": str(v["id"]), "sku": _blank(v.get("sku")), "price": _money(v.get("regular_price")),
                      "stock": v.get("stock_quantity"), "status": "enabled" if _sold(v) else "disabled",
                      "options": [{"name": a.get("name"), "value": a.get("option")} for a in v.get("attributes") or []]}
                     for v in variations],
        "images": [{"url": img.get("src"), "position": k, "alt": _blank(img.get("alt"))}
                   for k, img in enumerate(p.get("images") or [])],
        "created_at": _gmt(p.get("date_created_gmt")), "updated_at": _gmt(p.get("date_modified_gmt")),
    }


def customer(c: dict) -> dict:
    billing, shipping = address(c.get("billing")), address(c.get("shipping"))
    if billing and billing == shipping:
        addresses = [{**billing, "is_default_billing": True, "is_default_shipping": True}]
    else:
        addresses = ([{**billing, "is_default_billing": True, "is_default_shipping": False}] if billing else []) + \
                    ([{**shipping, "is_default_billing": False, "is_default_shipping": True}] if shipping else [])
    return {"source_id": str(c["id"]), "email": c.get("email"), "first_name": c.get("first_name"),
            "last_name": c.get("last_name"), "phone": _blank((c.get("billing") or {}).get("phone")),
            "newsletter": None, "addresses": addresses, "password_hash": None, "password_algorithm": None,
            "created_at": _gmt(c.get("date_created_gmt")), "updated_at": _gmt(c.get("date_modified_gmt"))}


def order(o: dict, refunds_read: list[dict] = ()) -> dict:
    """An order with its refunds: the order's own list (id, reason, total) completed by `orders/{id}/refunds`
    (date, amount, lines), read for orders whose list is not empty."""
    items, subtotal = [], Decimal(0)
    for li in o.get("line_items") or []:
        line, qty = _money(li.get("subtotal")) or Decimal(0), li.get("quantity")
        subtotal += line
        items.append({"source_id": str(li["id"]), "product_id": str(li["product_id"]) if li.get("product_id") else None,
                      "sku": _blank(li.get("sku")), "name": li.get("name"), "qty": qty,
                      "price": (line / qty).quantize(CENT) if isinstance(qty, int) and qty > 0 else None,
                      "tax": _money(li.get("total_tax"))})
    billing = o.get("billing") or {}
    # `total` stays the order as placed; net is what the shop kept.
    read = {str(r.get("id")): r for r in refunds_read or [] if isinstance(r, dict)}
    refunds = [refund(r, read.get(str(r.get("id"))), o.get("line_items") or []) for r in o.get("refunds") or []]
    grand = _money(o.get("total"))
    refunded = sum((r["amount"] for r in refunds if isinstance(r["amount"], Decimal)), Decimal(0)) \
        if refunds else None
    return {
        "refunds": refunds, "refunded_total": refunded,
        "net_total": grand - refunded if refunded is not None and isinstance(grand, Decimal) else None,
        "source_id": str(o["id"]), "number": str(o.get("number") or o["id"]),
        "customer_id": str(o["customer_id"]) if o.get("customer_id") else None,
        "email": _blank(billing.get("email")), "customer_first_name": _blank(billing.get("first_name")),
        "customer_last_name": _blank(billing.get("last_name")),
        "status": ORDER_STATUS.get(o.get("status"), o.get("status")), "currency": o.get("currency"),
        "subtotal": subtotal, "shipping": _money(o.get("shipping_total")), "tax": _money(o.get("total_tax")),
        "discount": _money(o.get("discount_total")), "grand_total": _money(o.get("total")), "items": items,
        "billing_address": address(billing), "shipping_address": address(o.get("shipping")),
        "created_at": _gmt(o.get("date_created_gmt")), "updated_at": _gmt(o.get("date_modified_gmt")),
    }


def refund(summary: dict, full: dict | None, order_lines: list[dict]) -> dict:
    """A refund from the order's `refunds` entry and, where read, its `orders/{id}/refunds` object: date, amount
    (positive there), reason and line items. Where the refund was not read (made after its order was listed), the
    entry alone: no date, no lines."""
    if full is None:
        return {"source_id": str(summary.get("id")), "amount": _refund_amount(summary.get("total")),
                "reason": _blank(summary.get("reason")), "created_at": None, "lines": []}
    return {"source_id": str(full.get("id")), "amount": _money(full.get("amount")),
            "reason": _blank(full.get("reason")), "created_at": _gmt(full.get("date_created_gmt")),
            "lines": [refund_line(li, order_lines) for li in full.get("line_items") or []]}


def refund_line(li: dict, order_lines: list[dict]) -> dict:
    """A refund line item: quantity and total negative, the total before tax (its tax in `total_tax`). The order
    line it refunds is named in meta `_refunded_item_id` (wc_create_refund writes it); without it, the order line
    of the same product, variation and SKU."""
    meta = next((str(m.get("value")) for m in li.get("meta_data") or []
                 if isinstance(m, dict) and m.get("key") == "_refunded_item_id" and m.get("value")), None)
    if meta is None:
        same = [ol for ol in order_lines if (ol.get("product_id") or 0, ol.get("variation_id") or 0,
                                              _blank(ol.get("sku"))) ==
                (li.get("product_id") or 0, li.get("variation_id") or 0, _blank(li.get("sku")))]
        meta = str(same[0]["id"]) if len(same) == 1 else None
    qty, amount = li.get("quantity"), _refund_amount(li.get("total"))
    return {"item_id": meta, "sku": _blank(li.get("sku")), "qty": -qty if isinstance(qty, int) else qty,
            "amount": amount}


def _refund_amount(total):
    """WooCommerce writes a refund's total negative ("-12.50"); the canonical amount is what was paid back."""
    amount = _money(total)
    return -amount if isinstance(amount, Decimal) else amount


def tax_class(c: dict, rates: list[dict]) -> dict:
    """A tax class (identified by its slug) with the rates listed under it (`taxes?class=<slug>`)."""
    return {"source_id": c["slug"], "name": html.unescape(c["name"]),
            "rates": [{"country": r.get("country") or None, "rate": Decimal(str(r["rate"])).quantize(RATE)}
                      for r in rates], "updated_at": None}


def review(r: dict, customer_id: str | None) -> dict:
    return {"source_id": str(r["id"]), "product_id": str(r["product_id"]) if r.get("product_id") else None,
            "customer_id": customer_id, "rating": r.get("rating"), "title": None, "text": r.get("review"),
            "status": REVIEW_STATUS.get(r.get("status"), r.get("status")),
            "created_at": _gmt(r.get("date_created_gmt")), "updated_at": None}


# --- canonical -> WooCommerce (the target), and back ---------------------------------------------------------
META_KEY = "_cart_pipelines_source_id"
TAX_FEE, ADJUSTMENT_FEE, DISCOUNT_FEE = "Tax", "Adjustment", "Discount"
ITEM_FEE_KEY = "_cart_pipelines_item_qty"  # marks a fee line that is an order line of a product gone (its qty)
ITEM_FEE_POSITION = "_cart_pipelines_item_position"  # and where that line stood among the order's lines
STATUS_OUT = {"new": "pending", "processing": "processing", "completed": "completed", "cancelled": "cancelled",
              "refunded": "refunded", "on_hold": "on-hold"}
STATUS_IN = {v: k for k, v in STATUS_OUT.items()}
REVIEW_OUT = {"approved": "approved", "pending": "hold", "rejected": "spam", "spam": "spam", "trashed": "trash"}
REVIEW_IN = {"approved": "approved", "hold": "pending", "spam": "spam", "trash": "trashed"}


def _s(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value == value.quantize(CENT) else str(value)
    return str(value)


def _decimal(value) -> Decimal | None:
    return Decimal(str(value)) if value not in (None, "") else None


def _gmt_out(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") if value else None


def meta(record: dict, key: str = META_KEY):
    """A value of the record's meta_data (our source id by default)."""
    return next((m.get("value") for m in record.get("meta_data") or [] if m.get("key") == key), None)


def address_payload(a: dict | None, email: str | None = None) -> dict:
    """A canonical address as WooCommerce's billing (with `email`) or shipping object; "" for what is missing."""
    a = a or {}
    out = {"first_name": _s(a.get("first_name")), "last_name": _s(a.get("last_name")),
           "company": _s(a.get("company")), "address_1": _s(a.get("street")), "address_2": "",
           "city": _s(a.get("city")), "state": _s(a.get("region")), "postcode": _s(a.get("postcode")),
           "country": _s(a.get("country")), "phone": _s(a.get("phone"))}
    if email is not None:
        out["email"] = email
    return out


# the lifecycle written (after rule product_lifecycle_nearest) → post status; a published product is publish when it
# is sold, else a draft
POST_STATUS = {"draft": "draft", "pending": "pending", "private": "private"}


def post_status(row: dict) -> str:
    held = POST_STATUS.get(row.get("lifecycle") or "published")
    if held:
        return held
    return "publish" if row.get("active") is not False else "draft"


def payload(entity: str, row: dict, kg_per_unit: Callable[[], Decimal], customer: Callable[[str], dict]) -> dict:
    """A canonical row as the WooCommerce object to write (product weights in the shop's unit; a review names its
    customer, looked up by target id)."""
    sid = row["source_id"]
    if entity in ("categories", "manufacturers"):
        out = {"name": row["name"], "slug": row.get("url_key") or ""}
        if entity == "categories":
            out.update(parent=int(row.get("parent_id") or 0), menu_order=int(row.get("position") or 0))
        return out
    if entity == "products":
        variants = row.get("variants") or []
        weight = row.get("weight")
        grouped = row.get("type") == "grouped" and not variants
        kind = "variable" if variants else "grouped" if grouped else "simple"
        out = {"name": row["name"], "slug": row.get("url_key") or "", "type": kind,
               "status": post_status(row),
               "description": row.get("description") or "", "sku": row.get("sku") or "",
               "regular_price": _s(row.get("price")), "sale_price": _s(row.get("special_price")),
               "manage_stock": row.get("stock") is not None, "stock_quantity": row.get("stock"),
               "weight": "" if weight is None else
               str((Decimal(str(weight)) / kg_per_unit()).normalize()),
               "categories": [{"id": int(c)} for c in row.get("category_ids") or []],
               "brands": [{"id": int(row["manufacturer_id"])}] if row.get("manufacturer_id") else [],
               "tax_class": "" if row.get("tax_class_id") in (None, "standard") else row["tax_class_id"],
               "images": [{"src": i["url"], "alt": i.get("alt") or "", "position": i.get("position") or 0}
                          for i in sorted(row.get("images") or [], key=lambda i: i.get("position") or 0)],
               "meta_data": [{"key": META_KEY, "value": sid}]}
        if row.get("created_at"):
            out["date_created_gmt"] = _gmt_out(row["created_at"])
        if grouped:  # its products by target id (loaded first); no price of its own: the source's in meta data
            out["grouped_products"] = [int(c) for c in row.get("child_ids") or []]
            out["regular_price"] = out["sale_price"] = ""
            out["meta_data"] += [{"key": "_cart_pipelines_price", "value": _s(row.get("price"))},
                                 {"key": "_cart_pipelines_special_price", "value": _s(row.get("special_price"))}]
        if variants:  # the parent of a variable product has no price in WooCommerce: kept in meta data
            names: dict[str, list] = {}
            for v in variants:
                for o in v.get("options") or []:
                    names.setdefault(o["name"], [])
                    if o["value"] not in names[o["name"]]:
                        names[o["name"]].append(o["value"])
            out["attributes"] = [{"name": n, "options": vals, "variation": True, "visible": True}
                                 for n, vals in names.items()]
            out["meta_data"] += [{"key": "_cart_pipelines_price", "value": _s(row.get("price"))},
                                 {"key": "_cart_pipelines_special_price", "value": _s(row.get("special_price"))}]
        return out
    if entity == "customers":
        addresses = row.get("addresses") or []
        billing = next((a for a in addresses if a.get("is_default_billing")), None)
        shipping = next((a for a in addresses if a.get("is_default_shipping")), None)
        b = address_payload(billing, row.get("email") or "")
        b["phone"] = _s(row.get("phone"))
        return {"email": row["email"], "first_name": row.get("first_name") or "",
                "last_name": row.get("last_name") or "", "billing": b, "shipping": address_payload(shipping),
                "meta_data": [{"key": META_KEY, "value": sid},
                              {"key": "_cart_pipelines_newsletter", "value": _s(row.get("newsletter"))}]}
    if entity == "orders":
        return order_payload(row)
    if entity == "reviews":
        c = customer(row["customer_id"])
        out = {"product_id": int(row["product_id"]), "review": row.get("text") or row.get("title") or "",
               "reviewer": " ".join(x for x in (c.get("first_name"), c.get("last_name")) if x) or c["email"],
               "reviewer_email": c["email"], "rating": int(row.get("rating") or 0),
               "status": REVIEW_OUT.get(row.get("status") or "approved", row.get("status"))}
        if row.get("created_at"):
            out["date_created_gmt"] = _gmt_out(row["created_at"])
        return out
    raise ValueError(entity)

def _item_meta(i: dict) -> list[dict]:
    return [{"key": META_KEY, "value": i.get("source_id")},
            {"key": "_cart_pipelines_sku", "value": _s(i.get("sku"))},
            {"key": "_cart_pipelines_tax", "value": _s(i.get("tax"))},
            {"key": "_cart_pipelines_price", "value": _s(i.get("price"))}]


def order_payload(row: dict) -> dict:
    all_items = row.get("items") or []
    all_subs = [(Decimal(str(i.get("price") or 0)) * int(i.get("qty") or 0)).quantize(CENT) for i in all_items]
    # Rule order_item_as_fee: WooCommerce refuses a line item without a product ("Product ID or SKU is
    # required."), so a line whose product is gone is written as a fee line with its name, total and our meta data
    fees = [{"name": i.get("name") or i.get("sku") or "Item", "total": _s(sub), "tax_status": "none",
             "meta_data": _item_meta(i) + [{"key": ITEM_FEE_KEY, "value": str(int(i.get("qty") or 0))},
                                           {"key": ITEM_FEE_POSITION, "value": str(k)}]}
            for k, (i, sub) in enumerate(zip(all_items, all_subs)) if not i.get("product_id")]
    items = [i for i in all_items if i.get("product_id")]
    subs = [sub for i, sub in zip(all_items, all_subs) if i.get("product_id")]
    discount = Decimal(str(row.get("discount") or 0))
    total_sub = sum(subs, Decimal(0))
    shares = [Decimal(0)] * len(items)
    if discount and 0 < discount <= total_sub:  # the discount as WooCommerce keeps it: line subtotal − total
        for k, s in enumerate(subs):
            shares[k] = (discount * s / total_sub).quantize(CENT, ROUND_HALF_UP)
        shares[-1] += discount - sum(shares, Decimal(0))
    elif discount:
        fees.append({"name": DISCOUNT_FEE, "total": _s(-discount), "tax_status": "none"})
    tax = Decimal(str(row.get("tax") or 0))
    if tax:
        fees.append({"name": TAX_FEE, "total": _s(tax), "tax_status": "none"})
    shipping = Decimal(str(row.get("shipping") or 0))
    computed = sum(all_subs, Decimal(0)) - discount + shipping + tax
    grand = Decimal(str(row.get("grand_total") or 0))
    if grand != computed:
        fees.append({"name": ADJUSTMENT_FEE, "total": _s(grand - computed), "tax_status": "none"})
    lines = []
    for i, s, share in zip(items, subs, shares):
        lines.append({"product_id": int(i["product_id"]), "quantity": int(i.get("qty") or 0),
                      "name": i.get("name") or "", "subtotal": _s(s), "total": _s(s - share),
                      "meta_data": _item_meta(i)})
    email = row.get("email") or ""
    billing = address_payload(row.get("billing_address"), email)
    billing.update(first_name=row.get("customer_first_name") or billing["first_name"],
                   last_name=row.get("customer_last_name") or billing["last_name"])
    return {"status": STATUS_OUT.get(row.get("status") or "new", row.get("status")),
            "currency": row.get("currency") or "", "customer_id": int(row["customer_id"]),
            "billing": billing, "shipping": address_payload(row.get("shipping_address")), "set_paid": False,
            "line_items": lines, "fee_lines": fees,
            "shipping_lines": [{"method_id": "flat_rate", "method_title": "Shipping", "total": _s(shipping)}]
            if row.get("shipping") is not None else [],
            "meta_data": [{"key": META_KEY, "value": row["source_id"]},
                          {"key": "_cart_pipelines_order_number", "value": _s(row.get("order_number"))},
                          {"key": "_cart_pipelines_billing_name", "value": json.dumps(
                              [(row.get("billing_address") or {}).get("first_name"),
                               (row.get("billing_address") or {}).get("last_name")])}]}


def customer_row(c: dict) -> dict:
    """A customer as the target reads it back (the local target's columns)."""
    billing, shipping = address(c.get("billing")), address(c.get("shipping"))
    if billing and shipping and billing == shipping:
        addresses = [{**billing, "is_default_billing": True, "is_default_shipping": True}]
    else:
        addresses = ([{**billing, "is_default_billing": True, "is_default_shipping": False}] if billing else []) + \
                    ([{**shipping, "is_default_billing": False, "is_default_shipping": True}] if shipping else [])
    return {"email": c.get("email"), "first_name": c.get("first_name"), "last_name": c.get("last_name"),
            "phone": _blank((c.get("billing") or {}).get("phone")), "addresses": addresses, "password_hash": None,
            "password_algorithm": None, "created_at": _gmt(c.get("date_created_gmt")),
            "updated_at": _gmt(c.get("date_modified_gmt"))}


def order_row(o: dict) -> dict:
    """An order as the target reads it back: our fee lines and meta data undone (see target.py)."""
    fees, gone = {}, []
    for f in o.get("fee_lines") or []:
        if meta(f, ITEM_FEE_KEY) is not None:  # rule order_item_as_fee: an order line, back among the items
            at = meta(f, ITEM_FEE_POSITION)
            gone.append((int(at) if at not in (None, "") else None,
                         {**f, "quantity": int(meta(f, ITEM_FEE_KEY) or 0), "subtotal": f.get("total"),
                          "product_id": 0}))
            continue
        fees[f.get("name")] = fees.get(f.get("name"), Decimal(0)) + Decimal(str(f.get("total") or 0))
    lines = list(o.get("line_items") or [])  # the fee lines back where they stood in the order (else last)
    for at, fee in sorted(gone, key=lambda g: (g[0] is None, g[0] or 0)):
        lines.insert(len(lines) if at is None else min(at, len(lines)), fee)
    items, subtotal = [], Decimal(0)
    for li in lines:
        sub, qty = Decimal(str(li.get("subtotal") or 0)), li.get("quantity")
        subtotal += sub
        tax = meta(li, "_cart_pipelines_tax")
        price = meta(li, "_cart_pipelines_price")
        items.append({"source_id": meta(li), "product_id": str(li["product_id"]) if li.get("product_id") else None,
                      "sku": _blank(meta(li, "_cart_pipelines_sku")) if meta(li, "_cart_pipelines_sku") is not None
                      else _blank(li.get("sku")), "name": li.get("name"), "qty": qty,
                      "price": _decimal(price) if price not in (None, "") else
                      (sub / qty).quantize(CENT) if qty else None,
                      "tax": _decimal(tax) if tax not in (None, "") else _decimal(li.get("total_tax"))})
    billing = o.get("billing") or {}
    names = json.loads(meta(o, "_cart_pipelines_billing_name") or "null") or [None, None]
    billing_address = address(billing)
    if billing_address and meta(o, "_cart_pipelines_billing_name"):
        billing_address.update(first_name=names[0], last_name=names[1])
    shipping_lines = o.get("shipping_lines") or []
    refunds = [{"source_id": str(r.get("id")), "amount": -Decimal(str(r.get("total") or 0)),
                "reason": _blank(r.get("reason")), "created_at": None, "lines": []} for r in o.get("refunds") or []]
    return {
        "refunds": refunds, "refunded_total": sum((r["amount"] for r in refunds), Decimal(0)) if refunds else None,
        "id": str(o["id"]), "order_number": str(o.get("number") or o["id"]),
        "customer_id": str(o["customer_id"]) if o.get("customer_id") else None,
        "email": _blank(billing.get("email")), "customer_first_name": _blank(billing.get("first_name")),
        "customer_last_name": _blank(billing.get("last_name")),
        "status": STATUS_IN.get(o.get("status"), o.get("status")), "currency": o.get("currency"),
        "subtotal": subtotal, "shipping": _decimal(o.get("shipping_total")) if shipping_lines else None,
        "tax": Decimal(str(o.get("total_tax") or 0)) + fees.get(TAX_FEE, Decimal(0)),
        "discount": Decimal(str(o.get("discount_total") or 0)) - fees.get(DISCOUNT_FEE, Decimal(0)),
        "grand_total": _decimal(o.get("total")), "items": items, "billing_address": billing_address,
        "shipping_address": address(o.get("shipping")), "created_at": _gmt(o.get("date_created_gmt")),
        "updated_at": _gmt(o.get("date_modified_gmt")), "_source_id": meta(o)}
