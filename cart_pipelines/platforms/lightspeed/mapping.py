"""Lightspeed eCom (C-Series) JSON <-> canonical records.

Read (Lightspeed -> canonical, the source): dates are ISO 8601 with an offset (`2024-01-15T10:30:00+00:00`), made
UTC; money stays Decimal (text that is no number is passed on, so validation quarantines the record naming the
field); links to other resources are `{"resource": {"id": ..., "url": ..., "link": ...}}` (or `false`); a
product's price, SKU, stock, weight and tax sit on its default variant (`isDefault`), the other variants are its
matrix; prices are read tax-exclusive (`priceExcl`; a product on sale has its regular price in `oldPriceExcl`); a
tax is one rate (`rate`, a fraction) without countries; an order's status is read from `status` and
`paymentStatus`.

Write (canonical -> Lightspeed, what the emulator serves): the reverse, in the shapes of Lightspeed's docs.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from cart_pipelines.platforms.kit import values

CENT, RATE = Decimal("0.01"), Decimal("0.001")
WEIGHT_UNITS = {"kg": Decimal(1), "g": Decimal("0.001"), "lb": Decimal("0.45359237"), "oz": Decimal("0.028349523125")}
# canonical status -> (status, paymentStatus, shipmentStatus); read back by `order_status`
STATUS_OUT = {"pending": ("processing_awaiting_payment", "not_paid", "not_shipped"),
              "processing": ("processing_awaiting_shipment", "paid", "not_shipped"),
              "on_hold": ("on_hold", "paid", "not_shipped"),
              "complete": ("completed_shipped", "paid", "shipped"),
              "canceled": ("cancelled", "cancelled", "cancelled"),
              "refunded": ("completed_shipped", "refunded", "shipped")}


# --- reading ------------------------------------------------------------------------------------------------------
def when(value) -> str | None:
    """An ISO 8601 time as ISO 8601 UTC; other text is passed on for validation to judge."""
    return values.iso_utc(value)


def money(value) -> Decimal | str | None:
    # `false`: Lightspeed's "no value" (tested by identity: 0 == False in Python)
    return None if value is False else values.money(value)


def _blank(value):
    return None if value is False or value in ("", None) else value


def ref(link) -> str | None:
    """The id of a `{"resource": {"id": ...}}` link; None for `false` or a link without id (a list)."""
    resource = link.get("resource") if isinstance(link, dict) else None
    found = resource.get("id") if isinstance(resource, dict) else None
    return str(found) if found not in (None, False, "", 0) else None


def category(c: dict, tree: dict[int, dict]) -> dict:
    names, node, seen = [], c, set()
    while node and node["id"] not in seen:  # a broken tree (a cycle) must not hang the run
        seen.add(node["id"])
        names.append(node["title"])
        parent = ref(node.get("parent"))
        node = tree.get(int(parent)) if parent else None
    return {"source_id": str(c["id"]), "parent_id": ref(c.get("parent")), "name": c["title"],
            "path": "/".join(reversed(names)), "url_key": _blank(c.get("url")), "is_visible": c.get("isVisible"),
            "position": c.get("sortOrder"), "updated_at": when(c.get("updatedAt"))}


def brand(b: dict) -> dict:
    return {"source_id": str(b["id"]), "name": b["title"], "url_key": None, "updated_at": when(b.get("updatedAt"))}


def tax(t: dict) -> dict:
    rate = money(t.get("rate"))
    rates = [{"country": None, "rate": (rate * 100).quantize(RATE) if isinstance(rate, Decimal) else rate}] \
        if rate is not None else []
    return {"source_id": str(t["id"]), "name": t["title"], "rates": rates, "updated_at": when(t.get("updatedAt"))}


def _weight(v: dict):
    value, unit = v.get("weightValue"), str(v.get("weightUnit") or "kg").lower()
    if value in (None, ""):
        return None
    try:
        return float(Decimal(str(value)) * WEIGHT_UNITS.get(unit, Decimal(1)))
    except InvalidOperation:
        return value


def _stock(v: dict):
    return v.get("stockLevel") if v.get("stockTracking") == "enabled" else None


def options(title) -> list[dict]:
    """A matrix variant's title, `"Color : Red","Size : L"`, as option name/value pairs."""
    out = []
    for part in str(title or "").split('","'):
        name, sep, value = part.strip('"').partition(" : ")
        if sep:
            out.append({"name": name, "value": value})
    return out


def product(p: dict, variants: list[dict], images: list[dict], category_ids: list[str]) -> dict:
    """`variants`: `variants.json?product={id}`; `images`: `products/{id}/images.json`; `category_ids`: from
    `categories/products.json`."""
    default = next((v for v in variants if v.get("isDefault")), variants[0] if variants else {})
    price, old = money(default.get("priceExcl")), money(default.get("oldPriceExcl"))
    on_sale = isinstance(old, Decimal) and isinstance(price, Decimal) and old > price
    return {
        "source_id": str(p["id"]), "sku": _blank(default.get("sku")), "name": p.get("title"),
        "description_html": _blank(p.get("content")),
        "price": old if on_sale else price, "special_price": price if on_sale else None,
        "weight": _weight(default), "stock": _stock(default),
        "status": "enabled" if p.get("isVisible") else "disabled", "url_key": _blank(p.get("url")),
        "category_ids": category_ids, "manufacturer_id": ref(p.get("brand")), "tax_class_id": ref(default.get("tax")),
        "variants": [{"source_id": str(v["id"]), "sku": _blank(v.get("sku")), "price": money(v.get("priceExcl")),
                      "stock": _stock(v), "options": options(v.get("title"))}
                     for v in variants if v is not default],
        "images": [{"url": i.get("src"), "position": k, "alt": _blank(i.get("title"))}
                   for k, i in enumerate(sorted(images, key=lambda i: i.get("sortOrder") or 0))],
        "created_at": when(p.get("createdAt")), "updated_at": when(p.get("updatedAt")),
    }


def _country(value) -> str | None:
    code = value.get("code") if isinstance(value, dict) else value
    return str(code).upper() if _blank(code) else None


def address(d: dict, kind: str, first: str | None = None, last: str | None = None) -> dict | None:
    """`kind`: Billing or Shipping. Lightspeed keeps one name per address (`addressBillingName`); the person's
    first and last names are used where they make it up."""
    name = str(d.get(f"address{kind}Name") or "").strip()
    if first is None and last is None or (f"{first or ''} {last or ''}".strip() != name):
        first, _, last = name.partition(" ")
    street = " ".join(str(x) for x in (d.get(f"address{kind}Street"), d.get(f"address{kind}Number"),
                                       d.get(f"address{kind}Extension")) if _blank(x))
    out = {"first_name": _blank(first), "last_name": _blank(last),
           "company": _blank(d.get(f"address{kind}Company")) or _blank(d.get("companyName")) if kind == "Billing"
           else _blank(d.get(f"address{kind}Company")),
           "street": _blank(street), "city": _blank(d.get(f"address{kind}City")),
           "postcode": _blank(d.get(f"address{kind}Zipcode")), "region": _blank(d.get(f"address{kind}Region")),
           "country": _country(d.get(f"address{kind}Country")), "phone": _blank(d.get("phone"))}
    return out if any(v for k, v in out.items() if k not in ("phone", "first_name", "last_name", "company")) else None


def customer(c: dict) -> dict:
    first, last = c.get("firstname"), c.get("lastname")
    billing, shipping = address(c, "Billing", first, last), address(c, "Shipping", first, last)
    addresses = []
    if billing:
        addresses.append({**billing, "is_default_billing": True, "is_default_shipping": shipping in (None, billing)})
    if shipping and shipping != billing:
        addresses.append({**shipping, "is_default_billing": False, "is_default_shipping": True})
    return {"source_id": str(c["id"]), "email": c.get("email"), "first_name": first, "last_name": last, "phone": _blank(c.get("phone")) or _blank(c.get("mobile")),
            "newsletter": None, "addresses": addresses, "password_hash": None, "password_algorithm": None,
            "created_at": when(c.get("createdAt")), "updated_at": when(c.get("updatedAt"))}


def order_status(status: str | None, payment: str | None) -> str | None:
    status = str(status or "")
    if payment == "refunded":
        return "refunded"
    if status.startswith("cancelled"):
        return "canceled"
    if status == "processing_awaiting_payment":
        return "pending"
    if status.startswith("processing"):
        return "processing"
    if status.startswith("completed"):
        return "complete"
    return status or None  # on_hold and custom statuses: passed on by name


def _diff(a, b):
    return a - b if isinstance(a, Decimal) and isinstance(b, Decimal) else a if isinstance(a, str) else b


# Refunds: Lightspeed credits an order with a credit note, an invoice of the order (`invoices.json?order={id}`) with
# `isCreditNote: true` and `invoice` linking the invoice it credits (the invoice resource as integrators publish it,
# PipedreamHQ/pipedream components/lightspeed_ecom_c_series sources/*/test-event.mjs; jessegall/php-lightspeed-sdk
# src/Resources/Invoice.php). It has a number, a date and its amount (`priceIncl`, read unsigned); no reason. Its
# items (`invoices/{id}/items.json`, the `items` link; InvoiceItem: orderProductId, sku, quantity, priceExcl,
# priceIncl, ...) are the refund's lines: the order product it credits (`orderProductId`, the order line's id),
# its SKU, quantity and amount (`priceExcl`, the line's total before tax, as canonical line amounts are; unsigned).
# The order products count what was refunded of each line (`quantityRefunded`): a credit note read without items
# gets its lines from those counts where it alone can have credited them (refunds() below).
REFUNDS_HELD = {"reasons": False, "lines": True}  # what a Lightspeed refund keeps (tests: as_held)


def is_credit_note(invoice) -> bool:
    return isinstance(invoice, dict) and invoice.get("isCreditNote") is True


def _unsigned(value):
    return abs(value) if isinstance(value, Decimal) else value


def credit_line(item: dict) -> dict:
    """One item of a credit note as a refund line."""
    qty = item.get("quantity")
    return {"item_id": str(item["orderProductId"]) if item.get("orderProductId") not in (None, False, "", 0)
            else None, "sku": _blank(item.get("sku")),
            "qty": abs(qty) if isinstance(qty, int) and not isinstance(qty, bool) else qty,
            "amount": _unsigned(money(item.get("priceExcl")))}


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def uncredited_lines(products: list[dict], credit_notes: list[tuple[dict, list[dict]]]) -> list[dict]:
    """Refund lines for the units the order products say were refunded (`quantityRefunded`) that no credit note
    item names: the order product, its SKU, those units and their amount (`basePriceExcl` each, before tax)."""
    named: dict[str, int] = {}
    for _, items in credit_notes:
        for i in items:
            key = str(i.get("orderProductId"))
            named[key] = named.get(key, 0) + abs(_count(i.get("quantity")))
    out = []
    for p in products:
        left = _count(p.get("quantityRefunded")) - named.get(str(p.get("id")), 0)
        if left > 0:
            unit = money(p.get("basePriceExcl"))
            out.append({"item_id": str(p["id"]), "sku": _blank(p.get("sku")), "qty": left,
                        "amount": unit * left if isinstance(unit, Decimal) else unit})
    return out


def refunds(o: dict, credit_notes: list[tuple[dict, list[dict]]], products: list[dict] = ()) -> dict:
    """refunds, refunded_total and net_total (the order's total less what went back) from its credit notes, each
    with its items. A credit note read without items (none listed) is given the lines the order products count as
    refunded (`quantityRefunded`) beyond what the other credit notes' items name, when it is the only such note:
    with two or more, which units each credited is not known, and they keep no lines (their amounts stay)."""
    bare = [c for c, items in credit_notes if not items]
    from_products = uncredited_lines(products, credit_notes) if len(bare) == 1 else []
    out = []
    for c, items in credit_notes:
        lines = [credit_line(i) for i in items] if items else from_products if c is bare[0] else []
        out.append({"source_id": str(c["id"]), "amount": _unsigned(money(c.get("priceIncl"))), "reason": None,
                    "created_at": when(c.get("createdAt")), "lines": lines})
    return values.refund_totals(out, o.get("priceIncl"))


def order(o: dict, products: list[dict], currency: str, credit_notes: list[tuple[dict, list[dict]]] = ()) -> dict:
    """`products`: `orders/{id}/products.json`; `currency`: the shop's (see docs/platforms/lightspeed.md);
    `credit_notes`: the order's invoices that are credit notes (its refunds), each with its items."""
    items = [{"source_id": str(i["id"]), "product_id": ref(i.get("product")), "sku": _blank(i.get("sku")),
              "name": i.get("productTitle"), "qty": i.get("quantityOrdered"), "price": money(i.get("basePriceExcl")),
              "tax": _diff(money(i.get("priceIncl")), money(i.get("priceExcl")))} for i in products]
    lines = [money(i.get("priceExcl")) for i in products]
    text = next((x for x in lines if isinstance(x, str)), None)
    total, excl = money(o.get("priceIncl")), money(o.get("priceExcl"))
    return {
        "source_id": str(o["id"]), "number": _blank(o.get("number")), "customer_id": ref(o.get("customer")),
        "email": _blank(o.get("email")), "customer_first_name": _blank(o.get("firstname")),
        "customer_last_name": _blank(o.get("lastname")),
        "status": order_status(o.get("status"), o.get("paymentStatus")), "currency": currency,
        "subtotal": text if text is not None else sum((x for x in lines if x is not None), Decimal(0)),
        "shipping": money(o.get("shipmentPriceExcl")), "tax": _diff(total, excl),
        "discount": money(o.get("discountAmount")), "grand_total": total, "items": items,
        **refunds(o, [(c, items) for c, items in credit_notes if is_credit_note(c)], products),  # total as placed
        "billing_address": address(o, "Billing", o.get("firstname"), o.get("lastname")),
        "shipping_address": address(o, "Shipping"),
        "created_at": when(o.get("createdAt")), "updated_at": when(o.get("updatedAt")),
    }


# A Lightspeed review is visible or not (`isVisible`): a hidden one reads as awaiting moderation, whether the shop
# rejected it or marked it spam; a review it throws away is deleted (kit/emulator_cases.py)
REVIEW_STATUS_HELD = {"rejected": "pending", "spam": "pending", "trashed": None}
# A Lightspeed product is visible or not; there is no trash: a deleted product is in no list and 404 by id, while
# the orders that sold it keep it on their order products (`product` link, SKU, title)
PRODUCT_LIFECYCLE_HELD = {"trashed": None}


def review(r: dict) -> dict:
    return {"source_id": str(r["id"]), "product_id": ref(r.get("product")), "customer_id": ref(r.get("customer")),
            "rating": r.get("score"), "title": None, "text": _blank(r.get("content")),
            "status": "approved" if r.get("isVisible") else "pending",
            "created_at": when(r.get("createdAt")), "updated_at": when(r.get("updatedAt"))}


# --- canonical -> Lightspeed (the emulator) ------------------------------------------------------------------------
def ls_time(value) -> str | None:
    if not value:
        return None
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    dt = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt
    return dt.astimezone(timezone.utc).replace(microsecond=0).isoformat()


def link(base: str, resource: str, id_) -> dict | bool:
    """A link to one resource, or `false` without one (as Lightspeed writes it)."""
    if id_ in (None, ""):
        return False
    return {"resource": {"id": int(id_), "url": f"{resource}/{id_}", "link": f"{base}/{resource}/{id_}.json"}}


def listing(base: str, url: str) -> dict:
    """A link to a list of resources (`id: false`)."""
    path, _, query = url.partition("?")
    return {"resource": {"id": False, "url": url, "link": f"{base}/{path}.json" + (f"?{query}" if query else "")}}


def invoices_out(base: str, o: dict, refunds: list[dict], ls_when) -> list[dict]:
    """An order's invoices: the order's own invoice (paid, or not) and a credit note per refund (its amount
    negative: it credits the invoice). Invoice ids are INVOICE_IDS above the order's id, credit notes the refund's."""
    oid = int(o["source_id"])
    inv_id, total = INVOICE_IDS + oid, Decimal(str(o.get("grand_total") or 0))
    tax = Decimal(str(o.get("tax") or 0))

    def one(id_, number, created, excl, incl, credit: bool, paid: bool) -> dict:
        return {"id": id_, "createdAt": ls_when(created), "updatedAt": ls_when(created), "number": number,
                "status": "paid" if paid else "not_paid", "isVatShifted": False, "priceExcl": excl,
                "priceIncl": incl, "doNotifyNew": False, "doNotifyPaid": False,
                "invoice": link(base, "invoices", inv_id) if credit else False, "isCreditNote": credit,
                "creditNote": False, "order": link(base, "orders", oid),
                "customer": link(base, "customers", o.get("customer_id")),
                "items": listing(base, f"invoices/{id_}/items"),
                "metafields": listing(base, f"invoices/{id_}/metafields"),
                "events": listing(base, f"orders/events?invoice={id_}")}

    paid = o.get("status") not in ("pending", "canceled")
    out = [one(inv_id, f"INV{oid:05d}", o.get("created_at"), total - tax, total, False, paid)]
    for k, r in enumerate(refunds, start=1):
        sid, amount = str(r.get("source_id") or ""), Decimal(str(r.get("amount") or 0))
        out.append(one(int(sid) if sid.isdigit() else oid * 10 + k, f"CN{oid:05d}-{k}",
                       r.get("created_at") or o.get("updated_at"), -amount, -amount, True, True))
    if len(out) > 1:
        out[0]["creditNote"] = link(base, "invoices", out[1]["id"])
    return out


INVOICE_IDS = 10 ** 8  # the emulator's invoice ids: apart from the credit notes' (the refunds' own)


def refunded_quantities(refunds: list[dict]) -> dict[str, int]:
    """Canonical order line id → the units of it the refunds credit (the order product's `quantityRefunded`): the
    refund lines that name the line, summed; a line no refund names is not in it."""
    out: dict[str, int] = {}
    for r in refunds:
        for line in r.get("lines") or []:
            if line.get("item_id") not in (None, ""):
                out[str(line["item_id"])] = out.get(str(line["item_id"]), 0) + int(line.get("qty") or 0)
    return out


def order_product_id(oid: int, k: int) -> int:
    """The emulator's id of an order's k-th order product (from 1): `orders/{id}/products.json`."""
    return oid * 1000 + k


def invoice_items_out(base: str, o: dict, invoice: dict, refund: dict | None) -> list[dict]:
    """The items of one of an order's invoices (`invoices/{id}/items.json`), in the invoice item resource's shape:
    the order's invoice has a line per order product; a credit note (its refund given) one per refund line, for the
    order product it credits (`orderProductId`), its quantity, and its amounts negative like the credit note's."""
    oid, iid = int(o["source_id"]), int(invoice["id"])
    items = o.get("items") or []
    position = {str(i.get("source_id")): k for k, i in enumerate(items, start=1)}

    def one(j: int, k: int | None, item: dict, qty: int, excl: Decimal, tax: Decimal, sign: int) -> dict:
        unit = (excl / qty).quantize(CENT) if qty else excl
        return {"id": iid * 100 + j, "type": "product", "title": item.get("name") or "", "variant": "",
                "orderProductId": order_product_id(oid, k) if k else False,
                "articleCode": item.get("sku") or "", "ean": "", "sku": item.get("sku") or "", "taxRate": 0,
                "basePriceExcl": sign * unit, "basePriceIncl": sign * (unit + ((tax / qty).quantize(CENT) if qty
                                                                             else tax)),
                "priceExcl": sign * excl, "priceIncl": sign * (excl + tax), "discountExcl": 0, "discountIncl": 0,
                "quantity": qty, "invoice": link(base, "invoices", iid)}

    if refund is None:
        return [one(j, j, i, int(i.get("qty") or 0), Decimal(str(i.get("price") or 0)) * int(i.get("qty") or 0),
                    Decimal(str(i.get("tax") or 0)), 1) for j, i in enumerate(items, start=1)]
    out = []
    for j, line in enumerate(refund.get("lines") or [], start=1):
        k = position.get(str(line.get("item_id")))
        item = items[k - 1] if k else {"name": "", "sku": line.get("sku")}
        qty, ordered = int(line.get("qty") or 0), int(item.get("qty") or 0)
        tax = (Decimal(str(item.get("tax") or 0)) * qty / ordered).quantize(CENT) if k and ordered else Decimal(0)
        out.append(one(j, k, {**item, "sku": line.get("sku") or item.get("sku")}, qty,
                       Decimal(str(line.get("amount") or 0)), tax, -1))
    return out


def address_out(a: dict | None, kind: str) -> dict:
    a = a or {}
    country = (a.get("country") or "").lower()
    return {f"address{kind}Name": f"{a.get('first_name') or ''} {a.get('last_name') or ''}".strip(),
            f"address{kind}Company": a.get("company") or "",
            f"address{kind}Street": a.get("street") or "", f"address{kind}Street2": "",
            f"address{kind}Number": "", f"address{kind}Extension": "",
            f"address{kind}Zipcode": a.get("postcode") or "", f"address{kind}City": a.get("city") or "",
            f"address{kind}Region": a.get("region") or "",
            f"address{kind}Country": {"id": 0, "code": country, "code3": "", "title": country.upper()}
            if country else False}
