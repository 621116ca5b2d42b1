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


def refunds_held(order: dict, held: dict) -> dict:
    """The order with its refunds as a platform holds them, `held` saying whether a refund keeps its reason
    (`reasons`), lines (`lines`) and their amounts (`line_amounts`, False: lines without amounts, as Shift4Shop's
    RMAs give them): refunds, refunded_total and net_total (the total less what went back)."""
    priced = held.get("line_amounts", True)
    out = [{"source_id": str(r["source_id"]), "amount": _money(r["amount"]),
            "reason": r.get("reason") if held.get("reasons") else None,
            "created_at": r.get("created_at") or order.get("updated_at") or order.get("created_at"),
            "lines": [ln if priced else {**ln, "amount": None} for ln in r.get("lines") or []]
            if held.get("lines") else []} for r in refunds(order)]
    back = sum((r["amount"] for r in out), Decimal(0))
    grand = order.get("grand_total")
    return {**order, "refunds": out, "refunded_total": back if out else None,
            "net_total": _money(grand) - back if out and grand is not None else None}


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


# --- what a platform can hold of the canonical statuses --------------------------------------------------------------
# A canonical store holds every review status (approved, pending, rejected, spam, trashed) and disabled variants; a
# platform may know fewer. Its mapping declares, from the platform's docs, what it has instead: REVIEW_STATUS_HELD
# maps a canonical review status to the one such a review reads back as on that platform, or to None where the
# platform keeps no such review (a trashed review is deleted there); VARIANT_STATUS_HELD says whether its variants
# carry a status (where not, a shop that stopped selling a variant deleted it). The emulator serves the store that
# way, and the contract tests compare what the source read with the store as the platform holds it.
EVERY_REVIEW_STATUS = {"approved": "approved", "pending": "pending", "rejected": "rejected", "spam": "spam",
                       "trashed": "trashed"}


def review_held(review: dict, held: dict[str, str | None] | None) -> dict | None:
    """The review as a shop on a platform holding `held` (REVIEW_STATUS_HELD) has it, or None where it has none.
    A status the table does not name is kept as it is (the source's mapping meets it as it comes)."""
    return _held(review, held, "status")


def product_held(product: dict, held: dict[str, str | None] | None) -> dict | None:
    """The product as a platform holding `held` (PRODUCT_LIFECYCLE_HELD: canonical lifecycle → the one it reads back
    as, None where the platform keeps no such product) has it: without a trash, a trashed product was deleted —
    missing from every list, while old orders keep its id, SKU and name on their lines."""
    return _held(product, held, "lifecycle")


def _held(record: dict, held: dict[str, str | None] | None, field: str) -> dict | None:
    value = record.get(field)
    if not held or value not in held:
        return record
    return None if held[value] is None else {**record, field: held[value]}


def all_variants_disabled(product: dict) -> bool:
    """Whether the product has variants and the shop sells none of them."""
    variants = product.get("variants") or []
    return bool(variants) and all(variant_disabled(product, k) for k in range(len(variants)))


def variants_held(product: dict, status_held: bool) -> list[dict]:
    """The product's variants as a platform that does (or does not) carry variant status has them: without one,
    a disabled variant is not in the shop and every variant it has is sold (status enabled) — except where the
    shop stopped selling every variant: a product keeps at least one (Shopify, Squarespace), so they all stay and
    the product is what is not sold (product_without_variant_status)."""
    variants = list(product.get("variants") or [])
    if status_held:
        return variants
    if all_variants_disabled(product):
        return [{**v, "status": "enabled"} for v in variants]
    return [{**v, "status": "enabled"} for k, v in enumerate(variants) if not variant_disabled(product, k)]


def product_without_variant_status(product: dict, lifecycle: str | None) -> dict:
    """The product as a platform without variant status holds it: its variants as variants_held has them, and a
    product whose every variant the shop stopped selling is itself not sold (disabled), in `lifecycle` where the
    platform has a state for it (Shopify ARCHIVED: "no longer being sold"; Squarespace only hides it)."""
    out = {**product, "variants": variants_held(product, False)}
    if all_variants_disabled(product):
        out["status"] = "disabled"
        if lifecycle:
            out["lifecycle"] = lifecycle
    return out


def selling(product: dict) -> list[dict]:
    """The variants a product sells (its price comes from these, not from the ones it stopped selling)."""
    variants = product.get("variants") or []
    return [v for k, v in enumerate(variants) if not variant_disabled(product, k)]


def held_sql(held: dict[str, str | None] | None, field: str = "status") -> str | None:
    """A DuckDB condition on a store table's `record` keeping the records a platform holding `held` has (the
    values of `field` it keeps none of are left out: a trashed review is not in its lists), None where it keeps them
    all."""
    gone = sorted(status for status, to in (held or {}).items() if to is None)
    if not gone:
        return None
    names = ", ".join("'" + status.replace("'", "''") + "'" for status in gone)
    return f"coalesce(json_extract_string(record, '$.{field}'), '') NOT IN ({names})"


def with_variant_status(product: dict) -> dict:
    """The product with each variant's status written out (variant_disabled decides where it has none), for an
    emulator whose platform carries variant status to render."""
    variants = product.get("variants") or []
    if not variants:
        return product
    return {**product, "variants": [{**v, "status": "disabled" if variant_disabled(product, k) else "enabled"}
                                    for k, v in enumerate(variants)]}
