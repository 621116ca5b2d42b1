"""WooCommerce JSON <-> canonical records: what the source maps as it reads and the target reads back.

Read (REST API v3 -> canonical): dates are the `*_gmt` fields with a Z added; money stays Decimal, and text that is
no number is passed on so validation quarantines the record naming the field; weights are converted to kg from the
shop's unit; a variable product's prices are its variations' lowest.
"""

from __future__ import annotations

import html
import re
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import requests

ORDER_STATUS = {"pending": "pending", "processing": "processing", "on-hold": "on_hold", "completed": "complete",
                "cancelled": "canceled", "refunded": "refunded", "failed": "failed", "checkout-draft": "pending"}
REVIEW_STATUS = {"approved": "approved", "hold": "pending", "spam": "rejected", "trash": "rejected"}
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


def _money(value) -> Decimal | str | None:
    """Money as Decimal; text that is no number ("12,50") is passed on, so validation quarantines the record
    with a reason naming the field."""
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return value


def _blank(value):
    return value if value not in ("", None) else None


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


def product(p: dict, variations: list[dict], shop_url: str, kg_per_unit: Decimal = Decimal(1)) -> dict:
    price, special = _money(p.get("regular_price")), _money(p.get("sale_price"))
    if p.get("type") == "variable":  # the parent carries no prices; its variations do
        prices = [_money(v.get("regular_price")) for v in variations if _money(v.get("regular_price")) is not None]
        sales = [_money(v.get("sale_price")) for v in variations if _money(v.get("sale_price")) is not None]
        price, special = (min(prices) if prices else _money(p.get("price"))), (min(sales) if sales else None)
    permalink = p.get("permalink") or ""
    base = urlsplit(shop_url).path.rstrip("/")
    path = urlsplit(permalink).path
    url_key = (path[len(base):] if base and path.startswith(base) else path).strip("/") or p.get("slug")
    return {
        "source_id": str(p["id"]), "sku": _blank(p.get("sku")), "name": p.get("name"),
        "description_html": p.get("description"), "price": price, "special_price": special,
        "weight": _weight(p.get("weight"), kg_per_unit),
        "stock": p.get("stock_quantity"),
        "status": "enabled" if p.get("status") == "publish" else "disabled", "url_key": url_key,
        "category_ids": [str(c["id"]) for c in p.get("categories") or []],
        "manufacturer_id": next((str(b["id"]) for b in p.get("brands") or []), None),
        "tax_class_id": p.get("tax_class") or "standard",
        "variants": [{"source_id": str(v["id"]), "sku": _blank(v.get("sku")), "price": _money(v.get("regular_price")),
                      "stock": v.get("stock_quantity"),
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


def order(o: dict) -> dict:
    items, subtotal = [], Decimal(0)
    for li in o.get("line_items") or []:
        line, qty = _money(li.get("subtotal")) or Decimal(0), li.get("quantity")
        subtotal += line
        items.append({"source_id": str(li["id"]), "product_id": str(li["product_id"]) if li.get("product_id") else None,
                      "sku": _blank(li.get("sku")), "name": li.get("name"), "qty": qty,
                      "price": (line / qty).quantize(CENT) if isinstance(qty, int) and qty > 0 else None,
                      "tax": _money(li.get("total_tax"))})
    billing = o.get("billing") or {}
    return {
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
