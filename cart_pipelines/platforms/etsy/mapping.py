"""Etsy Open API v3 JSON <-> canonical records.

Read (Etsy -> canonical, the source): times are unix seconds (`created_timestamp`, `updated_timestamp`); money is
`{amount, divisor, currency_code}` (amount / divisor, exact as Decimal); a shop section is a category (flat: Etsy
sections have no parents); a listing is a product, its `state` read as enabled (`active`, `sold_out`) or disabled
(`inactive`, `draft`, `expired`); its inventory's products are variants when the listing `has_variations` (each with
its first enabled offering's price and quantity, options from `property_values`), and a listing without variations
takes its SKU from its one inventory product; descriptions are plain text, made HTML (escaped, paragraphs, line
breaks); weights come in oz/lb/g/kg and are made kg. A receipt is an order: its transactions are the lines, its
ship-to address the shipping address (receipts have no billing address), `buyer_email` the e-mail (only for apps
Etsy approved for it). Etsy has no customers: an order's and a review's `customer_id` is None (a guest order).

Write (canonical -> Etsy, what the emulator serves): the reverse, in the spec's schemas.
"""

from __future__ import annotations

import html
import re
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from cart_pipelines.platforms.kit.values import text_id as _id
from cart_pipelines.platforms.kit.values import zulu

# receipt status (the spec's enum) -> canonical; a payment Etsy is still processing (under review) is held
STATUS_IN = {"open": "pending", "payment processing": "on_hold", "paid": "processing", "completed": "complete",
             "canceled": "canceled", "fully refunded": "refunded", "partially refunded": None}  # None: by is_shipped
ENABLED_STATES = {"active", "sold_out"}
KG = {"kg": Decimal(1), "g": Decimal("0.001"), "lb": Decimal("0.45359237"), "oz": Decimal("0.028349523125")}


def when(value) -> str | None:
    """Unix seconds as ISO 8601 UTC; other values are passed on for validation to judge."""
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return zulu(datetime.fromtimestamp(int(value), timezone.utc))


def money(m) -> Decimal | str | None:
    """Etsy Money: amount / divisor."""
    if not isinstance(m, dict):
        return None if m in (None, "") else str(m)
    try:
        return Decimal(int(m["amount"])) / Decimal(int(m.get("divisor") or 1))
    except (InvalidOperation, TypeError, ValueError, KeyError):
        return str(m.get("amount"))


def text_to_html(text: str | None) -> str | None:
    if not text:
        return None
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def section(s: dict) -> dict:
    return {"source_id": str(s["shop_section_id"]), "parent_id": None, "name": s["title"], "path": s["title"],
            "url_key": None, "is_visible": True, "position": s.get("rank"), "updated_at": None}


def _kg(value, unit) -> float | None:
    if value in (None, ""):
        return None
    return float(Decimal(str(value)) * KG.get(unit or "kg", Decimal(1)))


def _offering(product: dict) -> dict:
    offerings = [o for o in product.get("offerings") or [] if not o.get("is_deleted")]
    return next((o for o in offerings if o.get("is_enabled")), offerings[0] if offerings else {})


def variant(product: dict) -> dict:
    offer = _offering(product)
    return {"source_id": str(product["product_id"]), "sku": product.get("sku") or None,
            "price": money(offer.get("price")), "stock": offer.get("quantity"),
            "options": [{"name": v.get("property_name"), "value": ", ".join(v.get("values") or [])}
                        for v in product.get("property_values") or []]}


def listing(p: dict) -> dict:
    products = [x for x in (p.get("inventory") or {}).get("products") or [] if not x.get("is_deleted")]
    images = sorted(p.get("images") or [], key=lambda i: i.get("rank") or 0)
    single = not p.get("has_variations") and len(products) == 1
    return {
        "source_id": str(p["listing_id"]), "sku": (products[0].get("sku") or None) if single else None,
        "name": p["title"], "description_html": text_to_html(p.get("description")), "price": money(p.get("price")),
        "special_price": None, "weight": _kg(p.get("item_weight"), p.get("item_weight_unit")),
        "stock": p.get("quantity"), "status": "enabled" if p.get("state") in ENABLED_STATES else "disabled",
        "url_key": None, "category_ids": [str(p["shop_section_id"])] if p.get("shop_section_id") else [],
        "manufacturer_id": None, "tax_class_id": None,
        "variants": [variant(x) for x in products] if p.get("has_variations") else [],
        "images": [{"url": i["url_fullxfull"], "position": k, "alt": i.get("alt_text") or None}
                   for k, i in enumerate(images)],
        "created_at": when(p.get("created_timestamp")), "updated_at": when(p.get("updated_timestamp")),
    }


def _name(full: str | None) -> tuple[str | None, str | None]:
    parts = (full or "").strip().rsplit(" ", 1)
    return (parts[0] or None, parts[1]) if len(parts) == 2 else (parts[0] or None, None)


def receipt(r: dict) -> dict:
    first, last = _name(r.get("name"))
    street = ", ".join(x for x in (r.get("first_line"), r.get("second_line")) if x) or None
    address = {"first_name": first, "last_name": last, "company": None, "street": street, "city": r.get("city") or None,
               "postcode": r.get("zip") or None, "region": r.get("state") or None,
               "country": r.get("country_iso") or None, "phone": None}
    total = r.get("grandtotal") or {}
    status = STATUS_IN.get(str(r.get("status") or "").lower(), r.get("status"))
    if status is None:  # partially refunded: the receipt stands where it was, shipped or not
        status = "complete" if r.get("is_shipped") else "processing"
    # ShopRefund (amount, created_timestamp, reason, note_from_issuer, status) has no id and names no lines:
    # numbered by its place on the receipt (`<receipt id><n>`)
    rid = str(r["receipt_id"])
    refunds = [{"source_id": f"{rid}{n}", "amount": money(x.get("amount")), "reason": x.get("reason") or None,
                "created_at": when(x.get("created_timestamp")), "lines": []}
               for n, x in enumerate(r.get("refunds") or [], start=1)]
    back = sum((x["amount"] for x in refunds if isinstance(x["amount"], Decimal)), Decimal(0))
    grand = money(total)
    return {
        "refunds": refunds, "refunded_total": back if refunds else None,
        "net_total": grand - back if refunds and isinstance(grand, Decimal) else None,
        "source_id": str(r["receipt_id"]), "number": str(r["receipt_id"]), "customer_id": None,
        "email": r.get("buyer_email") or None, "customer_first_name": first, "customer_last_name": last,
        "status": status, "currency": total.get("currency_code"), "subtotal": money(r.get("total_price")),
        "shipping": money(r.get("total_shipping_cost")), "tax": money(r.get("total_tax_cost")),
        "discount": money(r.get("discount_amt")), "grand_total": money(total),
        "items": [{"source_id": str(t["transaction_id"]), "product_id": _id(t.get("listing_id")),
                   "sku": t.get("sku") or None, "name": t.get("title"), "qty": t.get("quantity"),
                   "price": money(t.get("price")), "tax": None} for t in r.get("transactions") or []],
        "billing_address": None,
        "shipping_address": address if any(address[k] for k in ("street", "city", "postcode", "country")) else None,
        "created_at": when(r.get("created_timestamp")), "updated_at": when(r.get("updated_timestamp")),
    }


def review(r: dict) -> dict:
    """A transaction review: Etsy gives it no id of its own; one review per transaction, so the transaction's id."""
    return {"source_id": str(r["transaction_id"]), "product_id": _id(r.get("listing_id")), "customer_id": None,
            "rating": r.get("rating"), "title": None, "text": r.get("review") or None, "status": "approved",
            "created_at": when(r.get("created_timestamp")), "updated_at": when(r.get("updated_timestamp"))}


# --- canonical -> Etsy (the emulator) ------------------------------------------------------------------------------
def unix(value) -> int | None:
    if not value:
        return None
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return int((dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp())


def money_out(value, currency: str) -> dict:
    amount = Decimal(str(value or 0))
    return {"amount": int((amount * 100).to_integral_value()), "divisor": 100, "currency_code": currency}


def html_to_text(value: str | None) -> str:
    text = re.sub(r"</p>\s*", "\n\n", value or "")
    text = re.sub(r"<br\s*/?>", "\n", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()
