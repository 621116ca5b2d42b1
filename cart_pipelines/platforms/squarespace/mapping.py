"""Squarespace Commerce JSON ↔ the canonical model.

Platform → canonical (the connector): store pages, products (v2), profiles and orders (1.0). The reverse (canonical
→ Squarespace, for the emulator) sits below it, so both read the same field names.

Squarespace's shapes (developers.squarespace.com/commerce-apis): money is `{"currency": "USD", "value": "10.00"}`
(value a decimal string); every product sells through variants (price, sale price, stock, SKU, attributes and
shipping weight live there), a DIGITAL product has its `pricing` on the product instead; a profile has one
approximate `address`; addresses are `address1/address2/city/state/countryCode/postalCode/phone`; times are ISO 8601
UTC. Array fields may come as null instead of [] (responses-error-handling): read with `_list`.
"""

from __future__ import annotations

from decimal import Decimal

import requests

from cart_pipelines.platforms.kit.http import json_body
from cart_pipelines.platforms.kit.values import blank as _blank
from cart_pipelines.platforms.kit.values import iso_millis

KG_PER = {"KILOGRAM": Decimal(1), "POUND": Decimal("0.45359237")}
STATUS = {"PENDING": "pending", "FULFILLED": "complete", "CANCELED": "canceled"}
# A Squarespace variant has no status of its own (ProductVariant: id, sku, pricing, stock, attributes,
# shippingMeasurements, image — developers.squarespace.com/commerce-apis/products-overview): every variant a product
# has is sold, and a shop that stops selling one deletes it (kit/emulator_cases.py)
VARIANT_STATUS_HELD = False
# A product has at least one variant: a shop that sells none of a product's variants hides the product
# (isVisible false), its variants kept; Squarespace has no archived state.
VARIANTS_ALL_DISABLED_LIFECYCLE = None
# No trash either: a deleted product is gone from the product lists and by id, its orders' line items keep their
# productId, SKU and name
PRODUCT_LIFECYCLE_HELD = {"trashed": None}


def sq_error(response: requests.Response) -> str | None:
    """`type/subtype: message` of Squarespace's standard error object, None when the body is not one."""
    body = json_body(response)
    if not isinstance(body, dict) or "type" not in body:
        return None
    kind = "/".join(str(x) for x in (body.get("type"), body.get("subtype")) if x)
    return f"{kind}: {body.get('message') or ''}".strip(": ")


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _money(amount) -> Decimal | None:
    if not isinstance(amount, dict) or amount.get("value") in (None, ""):
        return None
    return Decimal(str(amount["value"]))


# --- Squarespace → canonical ---------------------------------------------------------------------------------------
def store_page(page: dict, position: int | None = None) -> dict:
    """A Store Page as a category: flat (Squarespace has no nested store pages; the categories inside a page are
    not in the API), visible when the page is enabled."""
    return {"source_id": str(page["id"]), "parent_id": None, "name": page["title"], "path": page["title"],
            "url_key": None, "is_visible": page.get("isEnabled"), "position": position, "updated_at": None}


def _weight(variant: dict) -> float | None:
    weight = ((variant.get("shippingMeasurements") or {}).get("weight")) or {}
    if weight.get("value") is None:
        return None
    return float(Decimal(str(weight["value"])) * KG_PER.get(weight.get("unit"), Decimal(1)))


def _stock(variant: dict) -> int | None:
    stock = variant.get("stock") or {}
    return None if stock.get("unlimited") or stock.get("quantity") is None else int(stock["quantity"])


def _options(variant: dict, order: list[str]) -> list[dict]:
    attrs = variant.get("attributes") or {}
    names = [n for n in order if n in attrs] + [n for n in attrs if n not in order]
    return [{"name": n, "value": str(attrs[n])} for n in names]


def product(p: dict) -> dict:
    """A product: price, sale price, SKU, stock and weight from its variants. One variant without attributes is
    the product itself (no canonical variants); otherwise every variant becomes one, the product's price being the
    lowest, its stock the sum (None when any is unlimited) and its SKU the first variant's."""
    variants = _list(p.get("variants"))
    pricing = p.get("pricing") or {}  # DIGITAL products: no variants, pricing on the product
    rows = variants or [{"pricing": pricing, "sku": None}]
    prices = [(_money((v.get("pricing") or {}).get("basePrice")), v) for v in rows]
    price, cheapest = min(((pr, v) for pr, v in prices if pr is not None), key=lambda t: t[0], default=(None, {}))
    cheap_pricing = cheapest.get("pricing") or {}
    sale = _money(cheap_pricing.get("salePrice")) if cheap_pricing.get("onSale") else None
    stocks = [_stock(v) for v in variants]
    single = len(variants) == 1 and not (variants[0].get("attributes") or {})
    order = _list(p.get("variantAttributes"))
    return {
        "source_id": str(p["id"]),
        "sku": _blank(rows[0].get("sku")),
        "name": p.get("name"),
        "description_html": _blank(p.get("description")),
        "price": price,
        "special_price": sale,
        "weight": _weight(rows[0]),
        "stock": None if not variants or None in stocks else sum(stocks),
        "status": "enabled" if p.get("isVisible") else "disabled",
        "url_key": _blank(p.get("urlSlug")),
        "category_ids": [str(p["storePageId"])] if p.get("storePageId") else [],
        "manufacturer_id": None,
        "tax_class_id": None,
        "variants": [] if single or not variants else [
            {"source_id": str(v["id"]), "sku": _blank(v.get("sku")),
             "price": _money((v.get("pricing") or {}).get("basePrice")), "stock": _stock(v),
             "options": _options(v, order), "status": "enabled"} for v in variants],
        "images": [{"url": i.get("url"), "position": n, "alt": _blank(i.get("altText"))}
                   for n, i in enumerate(_list(p.get("images")))],
        "created_at": p.get("createdOn"),
        "updated_at": p.get("modifiedOn"),
    }


def address(a: dict | None) -> dict | None:
    if not a:
        return None
    street = ", ".join(x for x in (a.get("address1"), a.get("address2")) if x) or None
    return {"first_name": _blank(a.get("firstName")), "last_name": _blank(a.get("lastName")), "company": None,
            "street": street, "city": _blank(a.get("city")), "postcode": _blank(a.get("postalCode")),
            "region": _blank(a.get("state")), "country": _blank(a.get("countryCode")),
            "phone": _blank(a.get("phone"))}


def profile(p: dict) -> dict:
    """A profile (customer, account holder or mailing-list subscriber) as a customer. Profiles carry no
    modification time and no password."""
    a = address(p.get("address"))
    return {"source_id": str(p["id"]), "email": p.get("email"), "first_name": p.get("firstName"),
            "last_name": p.get("lastName"), "phone": a["phone"] if a else None,
            "newsletter": p.get("acceptsMarketing"),
            "addresses": [{**a, "is_default_billing": True, "is_default_shipping": True}] if a else [],
            "password_hash": None, "password_algorithm": None, "created_at": p.get("createdOn"), "updated_at": None}


def order(o: dict) -> dict:
    """An order. Squarespace's fulfilment status has three values (pending, fulfilled, canceled); a fulfilled
    order refunded in full reads as refunded. Line items carry no tax of their own."""
    grand = _money(o.get("grandTotal"))
    refunded = _money(o.get("refundedTotal")) or Decimal(0)
    status = STATUS.get(o.get("fulfillmentStatus"), str(o.get("fulfillmentStatus") or "").lower() or None)
    if grand and refunded >= grand and status == "complete":
        status = "refunded"
    billing = address(o.get("billingAddress"))
    return {
        # Squarespace gives the refunded amount only (refundedTotal): no refunds of their own, the total carries it
        "refunds": [], "refunded_total": refunded or None,
        "net_total": grand - refunded if refunded and grand is not None else None,
        "source_id": str(o["id"]),
        "number": _blank(str(o["orderNumber"])) if o.get("orderNumber") is not None else None,
        "customer_id": _blank(o.get("customerId")),
        "email": _blank(o.get("customerEmail")),
        "customer_first_name": billing["first_name"] if billing else None,
        "customer_last_name": billing["last_name"] if billing else None,
        "status": status,
        "currency": (o.get("grandTotal") or {}).get("currency"),
        "subtotal": _money(o.get("subtotal")),
        "shipping": _money(o.get("shippingTotal")),
        "tax": _money(o.get("taxTotal")),
        "discount": _money(o.get("discountTotal")),
        "grand_total": grand,
        "items": [{"source_id": str(i["id"]), "product_id": _blank(i.get("productId")), "sku": _blank(i.get("sku")),
                   "name": i.get("productName"), "qty": i.get("quantity"), "price": _money(i.get("unitPricePaid")),
                   "tax": None} for i in _list(o.get("lineItems"))],
        "billing_address": billing,
        "shipping_address": address(o.get("shippingAddress")),
        "created_at": o.get("createdOn"),
        "updated_at": o.get("modifiedOn"),
    }


# --- canonical → Squarespace (the emulator serves a canonical store in these shapes) -------------------------------
def stamp(value) -> str | None:
    """ISO 8601 UTC with milliseconds, as Squarespace writes times."""
    return iso_millis(value)


def money(value, currency: str) -> dict | None:
    return None if value is None else {"currency": currency, "value": f"{Decimal(str(value)):.2f}"}


def address_out(a: dict | None) -> dict | None:
    if not a:
        return None
    return {"firstName": a.get("first_name"), "lastName": a.get("last_name"), "address1": a.get("street"),
            "address2": None, "city": a.get("city"), "state": a.get("region"), "countryCode": a.get("country"),
            "postalCode": a.get("postcode"), "phone": a.get("phone")}


def store_page_out(c: dict) -> dict:
    return {"id": str(c["source_id"]), "title": c["name"], "isEnabled": c.get("is_visible") is not False}


def _variant_out(v: dict, p: dict, currency: str, image: dict | None) -> dict:
    price, sale = v.get("price", p.get("price")), p.get("special_price")
    weight = p.get("weight")
    return {
        "id": str(v["source_id"]), "sku": v.get("sku"),
        "pricing": {"basePrice": money(price, currency), "salePrice": money(sale or 0, currency),
                    "onSale": sale is not None},
        "stock": {"quantity": v.get("stock") or 0, "unlimited": v.get("stock") is None},
        "attributes": {o["name"]: o["value"] for o in v.get("options") or []},
        "shippingMeasurements": {
            "weight": None if weight is None else {"unit": "KILOGRAM", "value": weight},
            "dimensions": {"unit": "CENTIMETER", "length": 0.0, "width": 0.0, "height": 0.0}},
        "image": image,
    }


def product_out(p: dict, store_page_id: str, site_url: str, currency: str) -> dict:
    """A canonical product as a PHYSICAL product of Products API v2: without canonical variants it sells through
    one variant of its own (`<id>-0`, no attributes)."""
    slug = (p.get("url_key") or str(p["source_id"])).rstrip("/").rsplit("/", 1)[-1]
    images = [{"id": f"{p['source_id']}-img-{n}", "title": None, "url": i.get("url"), "altText": i.get("alt"),
               "originalSize": {"width": 1000, "height": 1000},
               "availableFormats": ["100w", "300w", "500w", "750w", "1000w", "1500w", "2500w"]}
              for n, i in enumerate(sorted(p.get("images") or [], key=lambda i: i.get("position") or 0))]
    own = [{"source_id": f"{p['source_id']}-0", "sku": p.get("sku"), "price": p.get("price"), "stock": p.get("stock"),
            "options": []}]
    variants = p.get("variants") or own
    names = list(dict.fromkeys(o["name"] for v in variants for o in v.get("options") or []))
    return {
        "id": str(p["source_id"]), "type": "PHYSICAL", "storePageId": store_page_id, "name": p["name"],
        "description": p.get("description_html") or "", "url": f"{site_url}/shop/p/{slug}", "urlSlug": slug,
        "tags": [], "isVisible": p.get("status") != "disabled",
        "seoOptions": {"title": None, "description": None},
        "variantAttributes": names,
        "variants": [_variant_out(v, p, currency, images[0] if images else None) for v in variants],
        "images": images,
        "createdOn": stamp(p.get("created_at")), "modifiedOn": stamp(p.get("updated_at")),
    }


def profile_out(c: dict, orders: int = 0) -> dict:
    addresses = c.get("addresses") or []
    default = next((a for a in addresses if a.get("is_default_billing")), addresses[0] if addresses else None)
    return {
        "id": str(c["source_id"]), "firstName": c.get("first_name"), "lastName": c.get("last_name"),
        "email": c.get("email"), "hasAccount": bool(c.get("password_hash")), "isCustomer": orders > 0,
        "createdOn": stamp(c.get("created_at")), "address": address_out(default),
        "acceptsMarketing": bool(c.get("newsletter")),
        "transactionsSummary": {"firstOrderSubmittedOn": None, "lastOrderSubmittedOn": None, "orderCount": orders,
                                "totalOrderAmount": None, "totalRefundAmount": None,
                                "totalDonationAmount": None} if orders else None,
    }


FULFILMENT = {"complete": "FULFILLED", "refunded": "FULFILLED", "canceled": "CANCELED"}  # the rest: PENDING


# Squarespace fulfilment has pending, fulfilled and canceled only: processing and on-hold orders are PENDING
ORDER_STATUS_HELD = {"processing": "pending", "on_hold": "pending"}


def order_out(o: dict, refunded=0) -> dict:
    """`refunded`: what was paid back (Order.refundedTotal: an amount, no refunds of their own)."""
    cur = o.get("currency") or "USD"
    status = FULFILMENT.get(o.get("status"), "PENDING")
    return {
        "id": str(o["source_id"]), "orderNumber": o.get("number") or str(o["source_id"]),
        "createdOn": stamp(o.get("created_at")), "modifiedOn": stamp(o.get("updated_at")),
        "channel": "web", "testmode": False, "customerEmail": o.get("email"), "customerId": o.get("customer_id"),
        "billingAddress": address_out(o.get("billing_address")),
        "shippingAddress": address_out(o.get("shipping_address")),
        "fulfillmentStatus": status,
        "lineItems": [{"id": str(i["source_id"]), "variantId": None, "sku": i.get("sku"), "weight": 0.0,
                       "width": 0.0, "length": 0.0, "height": 0.0, "productId": i.get("product_id"),
                       "productName": i.get("name"), "quantity": i.get("qty"),
                       "unitPricePaid": money(i.get("price"), cur), "variantOptions": None,
                       "customizations": None, "imageUrl": None, "lineItemType": "PHYSICAL_PRODUCT"}
                      for i in o.get("items") or []],
        "internalNotes": [], "shippingLines": [], "discountLines": [], "formSubmission": None,
        "fulfillments": [], "subtotal": money(o.get("subtotal"), cur), "shippingTotal": money(o.get("shipping"), cur),
        "discountTotal": money(o.get("discount"), cur), "taxTotal": money(o.get("tax"), cur),
        "refundedTotal": money(refunded, cur), "grandTotal": money(o.get("grand_total"), cur),
        "channelName": "Squarespace", "externalOrderReference": None,
        "fulfilledOn": stamp(o.get("updated_at")) if status == "FULFILLED" else None,
        "priceTaxInterpretation": "EXCLUSIVE",
    }
