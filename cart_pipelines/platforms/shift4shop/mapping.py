"""Shift4Shop (3dCart) REST API v1 JSON <-> canonical records.

Read (Shift4Shop -> canonical, the source): dates come without an offset (`2024-01-15T10:30:00`), in the store's
time zone: they are made UTC with the zone the source is given (UTC unless set); money stays Decimal (text that is
no number is passed on, so validation quarantines the record naming the field); a product's price, sale price and
stock sit in its `SKUInfo`; its variants are the `AdvancedOptionList` (one row per option combination, the
combination's `AdvancedOptionCode` being the option ids of `OptionSetList` joined by commas); an order's status is
its `OrderStatusID` named by the store's `/OrderStatus` list; shipping is the sum of its shipments' costs and its
subtotal the sum of its items (Shift4Shop orders carry neither); its refunds are the refund transactions of its
`TransactionList` (REFUND_TYPES).

Write (canonical -> Shift4Shop, what the emulator serves): the reverse, in the shapes of the object definitions.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from cart_pipelines.platforms.kit.values import blank as _blank
from cart_pipelines.platforms.kit.values import iso_utc, money, refund_totals, text_id

S4S_TIME = "%Y-%m-%dT%H:%M:%S"
FILTER_TIME = "%m/%d/%Y %H:%M:%S"  # the docs' lastupdatestart/lastupdateend format (mm/dd/yyyy hh:mm:ss)
NOT_COMPLETED = 7  # abandoned checkouts: Shift4Shop lists them among orders with this status

# The store's order statuses by their text (the default names, and Custom1..3 as merchants rename them) -> canonical
STATUS_IN = {"new": "pending", "processing": "processing", "partial": "processing", "shipped": "complete",
             "cancel": "canceled", "cancelled": "canceled", "canceled": "canceled", "hold": "on_hold",
             "not completed": "pending", "unpaid": "pending", "review": "on_hold", "refunded": "refunded"}


# --- reading ------------------------------------------------------------------------------------------------------
def when(value, tz: ZoneInfo | timezone = timezone.utc) -> str | None:
    """A zone-less store time as ISO 8601 UTC; other text is passed on for validation to judge."""
    return iso_utc(value, tz, whole_seconds=True)


def filter_time(dt: datetime, tz: ZoneInfo | timezone = timezone.utc) -> str:
    return dt.astimezone(tz).strftime(FILTER_TIME)


def _id(value) -> str | None:
    return text_id(value, (None, "", 0, "0"))


def _whole(value):
    """Shift4Shop stock is a decimal number; canonical stock is whole."""
    number = money(value)
    return int(number) if isinstance(number, Decimal) and number == number.to_integral_value() else number


def category(c: dict, tree: dict[int, dict], tz=timezone.utc) -> dict:
    names, node, seen = [], c, set()
    while node and node["CategoryID"] not in seen:  # a broken tree (a cycle) must not hang the run
        seen.add(node["CategoryID"])
        names.append(node["CategoryName"])
        node = tree.get(node.get("CategoryParent") or 0)
    return {"source_id": str(c["CategoryID"]), "parent_id": _id(c.get("CategoryParent")),
            "name": c["CategoryName"], "path": "/".join(reversed(names)), "url_key": None,
            "is_visible": not c.get("Hide"), "position": c.get("Sorting"), "updated_at": when(c.get("LastUpdate"), tz)}


def manufacturer(m: dict, tz=timezone.utc) -> dict:
    return {"source_id": str(m["ManufacturerID"]), "name": m["ManufacturerName"], "url_key": None,
            "updated_at": when(m.get("LastUpdate"), tz)}


def _options(p: dict) -> dict[str, tuple[str, str]]:
    """OptionID -> (option set name, option name)."""
    return {str(o.get("OptionID")): (s.get("OptionSetName"), o.get("OptionName"))
            for s in p.get("OptionSetList") or [] for o in s.get("OptionList") or []}


def variant(p: dict, a: dict, options: dict[str, tuple[str, str]], price) -> dict:
    code = str(a.get("AdvancedOptionCode") or "")
    picked = [options[i] for i in code.split(",") if i in options]
    extra = money(a.get("AdvancedOptionPrice"))
    return {"source_id": f"{p['SKUInfo']['CatalogID']}-{code}",
            "sku": _blank(a.get("AdvancedOptionSufix")),
            "price": extra if isinstance(extra, str) or (extra or 0) > 0 else price,
            "stock": _whole(a.get("AdvancedOptionStock")),
            "options": [{"name": n, "value": v} for n, v in picked]}


def product(p: dict, tz=timezone.utc) -> dict:
    sku = p["SKUInfo"]
    price, sale = money(sku.get("Price")), money(sku.get("SalePrice"))
    options = _options(p)
    images = [(p.get("MainImageFile"), p.get("MainImageCaption"))] if _blank(p.get("MainImageFile")) else []
    images += [(g.get("ImageGalleryFile"), g.get("ImageGalleryCaption"))
               for g in sorted(p.get("ImageGalleryList") or [], key=lambda g: g.get("ImageGallerySorting") or 0)]
    return {
        "source_id": str(sku["CatalogID"]), "sku": _blank(sku.get("SKU")), "name": sku.get("Name"),
        "description_html": _blank(p.get("Description")), "price": price,
        "special_price": sale if sku.get("OnSale") else None, "weight": p.get("Weight"),
        "stock": _whole(sku.get("Stock")), "status": "disabled" if p.get("Hide") else "enabled", "url_key": None,
        "category_ids": [str(c["CategoryID"]) for c in p.get("CategoryList") or []],
        "manufacturer_id": _id(p.get("ManufacturerID")), "tax_class_id": None,
        "variants": [variant(p, a, options, price) for a in p.get("AdvancedOptionList") or []],
        "images": [{"url": u, "position": k, "alt": _blank(alt)} for k, (u, alt) in enumerate(images)],
        "created_at": when(p.get("DateCreated"), tz), "updated_at": when(p.get("LastUpdate"), tz),
    }


def _address(d: dict, prefix: str, street: str = "Address") -> dict | None:
    out = {"first_name": d.get(f"{prefix}FirstName"), "last_name": d.get(f"{prefix}LastName"),
           "company": d.get(f"{prefix}Company"), "street": d.get(f"{prefix}{street}"), "city": d.get(f"{prefix}City"),
           "postcode": d.get(f"{prefix}ZipCode"), "region": d.get(f"{prefix}State"),
           "country": d.get(f"{prefix}Country"),
           "phone": d.get(f"{prefix}PhoneNumber", d.get(f"{prefix}Phone"))}
    out = {k: _blank(v) for k, v in out.items()}
    return out if any(v for k, v in out.items() if k not in ("phone", "first_name", "last_name")) else None


def customer(c: dict) -> dict:
    billing, shipping = _address(c, "Billing", "Address1"), _address(c, "Shipping", "Address1")
    addresses = []
    if billing:
        addresses.append({**billing, "is_default_billing": True, "is_default_shipping": shipping in (None, billing)})
    if shipping and shipping != billing:
        addresses.append({**shipping, "is_default_billing": False, "is_default_shipping": True})
    return {"source_id": str(c["CustomerID"]), "email": c.get("Email"), "first_name": c.get("BillingFirstName"),
            "last_name": c.get("BillingLastName"), "phone": _blank(c.get("BillingPhoneNumber")),
            "newsletter": c.get("MailList"), "addresses": addresses, "password_hash": None,
            "password_algorithm": None, "created_at": None, "updated_at": None}


def _sum(values) -> Decimal | str | None:
    values = [money(v) for v in values]
    text = next((v for v in values if isinstance(v, str)), None)
    return text if text is not None else sum((v for v in values if v is not None), Decimal(0))


# Refunds: an order's `TransactionList` (Object Definitions: Order.TransactionList, Transaction {TransactionIndexID,
# TransactionID, TransactionDateTime, TransactionType, TransactionMethod, TransactionAmount, TransactionApproval,
# TransactionResponseText, TransactionCaptured, ...}) holds its payment transactions; one whose TransactionType names
# a refund or a credit (the gateway's word: "Refund", "Credit") is money that went back. A transaction has no reason
# (TransactionResponseText is the gateway's answer) and names no lines; the amount is read unsigned.
# Returns: the store's RMAs (GET /RMA: RMAID, RmaDate "MM/DD/YYYY HH:MM" store time, OrderID, RMAReasonID,
# RMAMethodID, RMAStatusID, Comments, InternalComments, StaffComments, RMAItemList of {CatalogID, SKU, ItemName,
# ReturnQuantity, ReceivedQuantity, RestockQuantity}) name the goods and the reason, and no money. source.py pairs each
# RMA with the first refund transaction of its order dated at or after it that no earlier RMA took (RMA_PAIRING_SQL);
# the paired refund keeps its amount and date and gets the RMA's reason and lines.
REFUND_TYPES = ("refund", "credit")
# what a Shift4Shop refund keeps (tests: as_held): a reason and lines where an RMA pairs with it, line amounts never
REFUNDS_HELD = {"reasons": True, "lines": True, "line_amounts": False}
RMA_TIME = "%m/%d/%Y %H:%M"  # RmaDate, as the RMA object definition's sample gives it ("01/25/2026 02:44")


def is_refund(t) -> bool:
    return isinstance(t, dict) and any(k in str(t.get("TransactionType") or "").lower() for k in REFUND_TYPES)


def refund_id(t: dict) -> str | None:
    return _id(t.get("TransactionIndexID")) or _blank(t.get("TransactionID"))


def rma_when(value, tz: ZoneInfo | timezone = timezone.utc) -> str | None:
    """An RmaDate (`MM/DD/YYYY HH:MM`, store time; seconds and ISO accepted too) as ISO 8601 UTC; None where it is
    no date (such an RMA pairs with no refund)."""
    text = str(value or "").strip()
    for fmt in (RMA_TIME, "%m/%d/%Y %H:%M:%S", "%m/%d/%Y"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=tz).astimezone(timezone.utc).isoformat()
        except ValueError:
            continue
    iso = when(text, tz) if text else None
    return iso if iso and iso[:4].isdigit() else None


def rma_reason(rma: dict) -> str | None:
    """The RMA's reason: Shift4Shop's REST API lists no RMA reasons (the store names them in its admin), so the
    reason is its id, with the RMA's Comments (the customer's words) where it has them."""
    rid, comments = _id(rma.get("RMAReasonID")), _blank(str(rma.get("Comments") or "").strip())
    head = f"RMA reason {rid}" if rid else "RMA"
    return f"{head}: {comments}" if comments else head if rid else comments


def _item_for(r: dict, items: list[dict], used: set[int]) -> dict | None:
    """The order line an RMA item returns: the same CatalogID and SKU, else the same CatalogID, else the same SKU
    (the RMAItem definition names CatalogID, but its database reference is the order item's: either is met); a line
    the RMA's earlier items did not take first (an order may hold the same product twice)."""
    cid, sku = _id(r.get("CatalogID")), _blank(r.get("SKU"))
    for same in (lambda i: _id(i.get("CatalogID")) == cid and cid and _blank(i.get("ItemID")) == sku,
                 lambda i: cid and _id(i.get("CatalogID")) == cid,
                 lambda i: sku and _blank(i.get("ItemID")) == sku):
        found = [k for k, i in enumerate(items) if same(i)]
        if found:
            k = next((k for k in found if k not in used), found[0])
            used.add(k)
            return items[k]
    return None


def rma_lines(rma: dict, o: dict) -> list[dict]:
    """The RMA's items as refund lines: SKU, quantity returned (ReturnQuantity) and the order line they return
    (`item_id`, found by CatalogID, whose name and product the order line holds); no amount (an RMA has none)."""
    items, out, used = o.get("OrderItemList") or [], [], set()
    for r in rma.get("RMAItemList") or []:
        if not isinstance(r, dict):
            continue
        qty = _whole(r.get("ReturnQuantity"))
        if isinstance(qty, int) and qty <= 0:
            continue
        line = _item_for(r, items, used)
        out.append({"item_id": f"{o['OrderID']}-{line.get('ItemIndexID')}" if line else None,
                    "sku": _blank(r.get("SKU")) or (_blank(line.get("ItemID")) if line else None),
                    "qty": qty, "amount": None})
    return out


def refunds(o: dict, tz=timezone.utc, paired: dict[str, dict] | None = None) -> dict:
    """refunds, refunded_total and net_total (the order's total less what went back) of an order; `paired`: refund
    source id -> the RMA paired with it (its reason and lines)."""
    out = []
    for t in o.get("TransactionList") or []:
        if is_refund(t):
            amount = money(t.get("TransactionAmount"))
            sid = refund_id(t)
            rma = (paired or {}).get(sid)
            out.append({"source_id": sid, "amount": abs(amount) if isinstance(amount, Decimal) else amount,
                        "reason": rma_reason(rma) if rma else None,
                        "created_at": when(t.get("TransactionDateTime"), tz),
                        "lines": rma_lines(rma, o) if rma else []})
    return refund_totals(out, o.get("OrderAmount"))


def order(o: dict, statuses: dict[int, str], currency: str, tz=timezone.utc, paired: dict[str, dict] | None = None) \
        -> dict:
    """`statuses`: OrderStatusID -> the store's status text; `currency`: the store's (orders carry none); `paired`:
    refund source id -> its RMA (source.py)."""
    items = o.get("OrderItemList") or []
    shipments = o.get("ShipmentList") or []
    text = statuses.get(o.get("OrderStatusID"), "")
    subtotal = _sum((money(i.get("ItemUnitPrice")) or 0) * (money(i.get("ItemQuantity")) or 0)
                    + (money(i.get("ItemOptionPrice")) or 0) * (money(i.get("ItemQuantity")) or 0) for i in items)
    return {
        "source_id": str(o["OrderID"]), "number": f"{o.get('InvoiceNumberPrefix') or ''}{o.get('InvoiceNumber')}",
        "customer_id": _id(o.get("CustomerID")), "email": _blank(o.get("BillingEmail")),
        "customer_first_name": o.get("BillingFirstName"), "customer_last_name": o.get("BillingLastName"),
        "status": STATUS_IN.get(text.strip().lower(), text.strip().lower() or None), "currency": currency,
        "subtotal": subtotal, "shipping": _sum(s.get("ShipmentCost") for s in shipments),
        "tax": _sum((o.get("SalesTax"), o.get("SalesTax2"), o.get("SalesTax3"))),
        "discount": money(o.get("OrderDiscount")), "grand_total": money(o.get("OrderAmount")),
        **refunds(o, tz, paired),  # the total stays the order as placed; what went back is in its refunds
        "items": [{"source_id": f"{o['OrderID']}-{i.get('ItemIndexID')}", "product_id": _id(i.get("CatalogID")),
                   "sku": _blank(i.get("ItemID")), "name": i.get("ItemDescription"),
                   "qty": _whole(i.get("ItemQuantity")), "price": money(i.get("ItemUnitPrice")), "tax": None}
                  for i in items],
        "billing_address": _address(o, "Billing"),
        "shipping_address": _address(shipments[0], "Shipment") if shipments else None,
        "created_at": when(o.get("OrderDate"), tz), "updated_at": when(o.get("LastUpdate"), tz),
    }


# --- canonical -> Shift4Shop (the emulator) ------------------------------------------------------------------------
def s4s_time(value, tz=timezone.utc) -> str | None:
    if not value:
        return None
    dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    dt = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt
    return dt.astimezone(tz).strftime(S4S_TIME)


def transactions_out(o: dict, refunds: list[dict], tz=timezone.utc) -> list[dict]:
    """An order's TransactionList: the payment of a paid order (a "Sale" of its total) and a "Refund" per refund."""
    oid = int(o["source_id"])

    def tx(index, kind: str, amount, at) -> dict:
        return {"TransactionIndexID": index, "OrderID": oid, "TransactionID": f"{kind[0]}{index}",
                "TransactionDateTime": s4s_time(at, tz), "TransactionType": kind,
                "TransactionMethod": "Online Credit Card", "TransactionAmount": amount, "TransactionApproval": "",
                "TransactionReference": "", "TransactionGatewayID": 1, "TransactionCVV2": "", "TransactionAVS": "",
                "TransactionResponseText": "Approved", "TransactionResponseCode": "1", "TransactionCaptured": 1}

    paid = o.get("status") in ("processing", "complete", "refunded") or refunds
    out = [tx(oid * 10, "Sale", o.get("grand_total"), o.get("created_at"))] if paid else []
    for k, r in enumerate(refunds, start=1):
        sid = str(r.get("source_id") or "")
        out.append(tx(int(sid) if sid.isdigit() else oid * 10 + k, "Refund", r.get("amount"),
                      r.get("created_at") or o.get("updated_at")))
    return out


def address_out(a: dict | None, prefix: str, street: str = "Address") -> dict:
    a = a or {}
    return {f"{prefix}FirstName": a.get("first_name") or "", f"{prefix}LastName": a.get("last_name") or "",
            f"{prefix}Company": a.get("company") or "", f"{prefix}{street}": a.get("street") or "",
            f"{prefix}Address2": "",
            f"{prefix}City": a.get("city") or "", f"{prefix}State": a.get("region") or "",
            f"{prefix}ZipCode": a.get("postcode") or "", f"{prefix}Country": a.get("country") or ""}
