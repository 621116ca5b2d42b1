"""What real shops hold that a tidy store export lacks, for the emulators to serve (issue 14).

A store export (the sample generator) holds published products and orders as placed. A real shop also holds
refunded orders, products that are drafts, archived or disabled, and old orders whose product was deleted since.
These functions pick such records deterministically by id, in a few percent of the store, and describe them in
canonical terms; each emulator renders them in its platform's own shape. A record that already carries the
canonical field (`refunds`) keeps it, so a store that brings its own cases is served as it is; a record a client
wrote through the emulator (a target's) is marked WRITTEN and served exactly as written.
"""

from __future__ import annotations

from decimal import Decimal

PARTIAL_REFUND_EVERY = 12  # every 12th order (id % 12 == 5) that was paid has one line's unit refunded
DISABLED_VARIANT_EVERY = 9  # every 9th product (id % 9 == 4) with variants stopped selling its last one
GONE_PRODUCT_EVERY = 31  # every 31st order (id % 31 == 7): its first line's product was deleted since
PAID = {"processing", "complete"}
WRITTEN = "_written"  # on records a client wrote through an emulator's API: served as written, no case added  # paid orders a refund can leave where they stand


def picks(record: dict) -> bool:
    """Whether the cases may pick this record: it came with the store, not written by a client (a target's
    read-back must see what it wrote)."""
    return not record.get(WRITTEN)


def every(record_id, n: int, k: int) -> bool:
    """Whether the record with numeric id `record_id` is the k-th of every n (non-numeric ids never are)."""
    text = str(record_id)
    return text.isdigit() and int(text) % n == k


def _money(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def refunds(order: dict) -> list[dict]:
    """The order's refunds in canonical shape (amount positive): its own where it has them; a refunded order is
    refunded in full (its lines, and the rest of the total as an order-level amount); a paid order picked by
    PARTIAL_REFUND_EVERY has one unit of its first line refunded (price and that unit's tax)."""
    if order.get("refunds") is not None or not picks(order):
        return list(order.get("refunds") or [])
    oid, items = str(order["source_id"]), order.get("items") or []
    when = order.get("updated_at") or order.get("created_at")
    if order.get("status") == "refunded" and order.get("grand_total") is not None:
        lines = [{"item_id": str(i.get("source_id")), "sku": i.get("sku"), "qty": i.get("qty"),
                  "amount": _money(i.get("price")) * int(i.get("qty") or 0)} for i in items if i.get("qty")]
        return [{"source_id": f"{oid}1", "amount": _money(order["grand_total"]), "reason": "Order refunded",
                 "created_at": when, "lines": lines}]
    if order.get("status") in PAID and items and every(oid, PARTIAL_REFUND_EVERY, 5):
        first = items[0]
        qty = int(first.get("qty") or 1)
        unit_tax = (_money(first.get("tax")) / qty).quantize(Decimal("0.01"))
        amount = _money(first.get("price")) + unit_tax
        if 0 < amount <= _money(order.get("grand_total")):
            return [{"source_id": f"{oid}1", "amount": amount, "reason": "Returned: damaged in transit",
                     "created_at": when, "lines": [{"item_id": str(first.get("source_id")), "sku": first.get("sku"),
                                                    "qty": 1, "amount": _money(first.get("price"))}]}]
    return []


def refunded_total(order: dict) -> Decimal:
    return sum((_money(r["amount"]) for r in refunds(order)), Decimal(0))


def product_gone(order: dict, line: int) -> bool:
    """Whether line `line` of the order names a product that was deleted since (the line keeps sku and name)."""
    return line == 0 and picks(order) and every(order["source_id"], GONE_PRODUCT_EVERY, 7)


def variant_disabled(product: dict, k: int) -> bool:
    """Whether variant k of a canonical product is disabled: its status where it has one; else the last of several
    variants of every DISABLED_VARIANT_EVERY-th product (a variation the shop stopped selling)."""
    variants = product.get("variants") or []
    if k >= len(variants):
        return False
    if variants[k].get("status") is not None:
        return variants[k]["status"] == "disabled"
    return (len(variants) > 1 and k == len(variants) - 1 and picks(product)
            and every(product["source_id"], DISABLED_VARIANT_EVERY, 4))
