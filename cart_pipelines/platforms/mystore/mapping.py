"""Canonical (the target shape of transform.py) → Mystore API v2 attributes, and Mystore → canonical for read-back.

- multilingual attributes (`name`, `slug`, `description`, `review` …) are maps keyed by language code; we write the
  shop's default language (from `settings`) and read it back from there;
- products: `status` 1 for a sold (enabled), published product, else 0 (facts.INACTIVE_LIFECYCLES), `quantity` =
  stock, categories/tax-class/manufacturer as relationships, a special price as a `product-specials` row with its
  end in `expires_at` (Mystore has no start: a sale still ahead is written with status 0, see special()), images
  by file name in `image`, `image2` … `image8`;
- variants (osCommerce options): one `product-options` per option name and one `product-option-values` per value
  (shared by the shop, linked through the option's relationship), one `product-attributes` row per (product,
  option value) with the price delta, one `product-variants` row per combination (stock, SKU, `disabled`);
- customers: one address (`address_*`, the default shipping one) and one billing address (`billing_address_*`);
  Mystore has no password attribute, so every customer is listed for a password reset;
- orders: addresses as `customer_address_*`, `shipping_address_*`, `billing_address_*` (one `name` field: first
  and last name joined, read back split at the last space); lines as `order-products` (tax as `tax_rate`, %);
  money as `order-totals` rows (ot_subtotal, ot_shipping, ot_discount, ot_tax, ot_total); status onto the shop's
  own `order-status` list (status_ids), with one `order-status-history` row; refunds as an `ot_refund` totals
  row (the refunded total, negative) and one history row per refund (amount, reason, date).
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from cart_pipelines.platforms.mystore import facts

CENT = Decimal("0.01")
# Canonical order status (after rules.ORDER_STATUS_MAP) → names a shop's order-status list may use, in any of its
# languages (compared lower-case). The first match in the shop's list wins; MYSTORE_ORDER_STATUS_MAP overrides.
STATUS_NAMES = {
    "new": ("ny", "venter", "ventende", "pending", "new", "mottatt", "received"),
    "processing": ("behandles", "under behandling", "processing", "in progress"),
    "completed": ("levert", "fullført", "sendt", "ferdig", "delivered", "completed", "shipped", "complete"),
    "cancelled": ("kansellert", "avbrutt", "annullert", "cancelled", "canceled"),
    "refunded": ("kreditert", "refundert", "refunded", "credited"),
    "on_hold": ("på vent", "on hold", "venter på betaling", "awaiting payment"),
}


def num(value):
    """A JSON number for a Decimal/float (money keeps its cents exactly)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value)
    return value


def dec(value) -> Decimal | None:
    return Decimal(str(value)) if value not in (None, "") else None


def when(value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime(facts.DATETIME_FORMAT)


def parse_when(value) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(str(value)[:19], facts.DATETIME_FORMAT).replace(tzinfo=timezone.utc)


def local(value, lang: str):
    """The default-language value of a multilingual map (a plain string is taken as it is)."""
    if isinstance(value, dict):
        return value.get(lang) if value.get(lang) not in (None, "") else next(
            (v for v in value.values() if v not in (None, "")), None)
    return value


def ref(type_: str, id_) -> dict:
    return {"data": {"type": type_, "id": str(id_)} if id_ is not None else None}


def refs(type_: str, ids) -> dict:
    return {"data": [{"type": type_, "id": str(i)} for i in ids or []]}


def document(type_: str, attributes: dict, relationships: dict | None = None, id_=None, meta=None) -> dict:
    data = {"type": type_, "attributes": attributes}
    if id_ is not None:
        data["id"] = str(id_)
    if relationships:
        data["relationships"] = relationships
    doc = {"data": data}
    if meta:
        doc["meta"] = meta
    return doc


# --- canonical → Mystore ---------------------------------------------------------------------------------------
def category(row: dict, lang: str) -> tuple[dict, dict]:
    attrs = {"name": {lang: row["name"]}, "slug": {lang: row.get("url_key") or row["source_id"]},
             "status": 0 if row.get("hidden") else 1}
    if row.get("position") is not None:
        attrs["sort"] = row["position"]
    return attrs, {"parent": ref("categories", row.get("parent_id"))}


def manufacturer(row: dict, lang: str) -> tuple[dict, dict]:
    return {"name": row["name"], "slug": {lang: row.get("url_key") or row["name"]}}, {}


def tax_class(row: dict, lang: str) -> tuple[dict, dict]:
    rates = row.get("rates") or []
    return {"title": row["name"], "description": row["name"],
            "tax_rate": num(rates[0]["rate"]) if rates else 0.0}, {}


def product(row: dict, lang: str, images: dict[str, str] | None = None) -> tuple[dict, dict]:
    attrs = {"name": {lang: row["name"]}, "slug": {lang: row.get("url_key") or row["source_id"]},
             "description": {lang: row.get("description") or ""}, "price": num(row.get("price")),
             "quantity": int(row.get("stock") or 0), "sku": row.get("sku"), "status": 1 if sold(row) else 0,
             "weight": row.get("weight")}
    attrs.update(images or {})
    rels = {"categories": refs("categories", row.get("category_ids")),
            "tax-class": ref("tax-classes", row.get("tax_class_id")),
            "manufacturer": ref("manufacturers", row.get("manufacturer_id"))}
    return attrs, rels


def sold(row: dict) -> bool:
    """Mystore's status 1: enabled and published (a draft, archived or trashed product is carried with status 0,
    so old orders' lines keep their product; facts ASSUMPTIONS "product lifecycle")."""
    return bool(row.get("active")) and (row.get("lifecycle") or "published") not in facts.INACTIVE_LIFECYCLES


def _aware(value) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def special(row: dict, now: datetime | None = None) -> tuple[dict, datetime | None]:
    """The product-specials attributes of the row's sale, and its start when that is still ahead. Mystore holds
    only an end (`expires_at`), so a scheduled sale is written with status 0 and switched on at its start
    (facts ASSUMPTIONS "start date of a special"); a sale that has ended is written with status 0 too."""
    now = now or datetime.now(timezone.utc)
    start, end = _aware(row.get("special_price_from")), _aware(row.get("special_price_to"))
    ahead = start if start is not None and start > now else None
    running = ahead is None and (end is None or end > now)
    attrs = {"specials_price": num(row["special_price"]), "status": 1 if running else 0, "expires_at": when(end)}
    if facts.SPECIAL_START_ATTRIBUTE:
        attrs[facts.SPECIAL_START_ATTRIBUTE] = when(start)
        attrs["status"] = 1 if end is None or end > now else 0
        ahead = None
    return attrs, ahead


def variant(v: dict) -> tuple[dict, str | None]:
    """A product-variants row's attributes, and what could not be carried (a disabled variant where `disabled`
    cannot be written: created with no stock instead)."""
    attrs = {"quantity": int(v.get("stock") or 0), "sku": v.get("sku")}
    if (v.get("status") or "enabled").strip().lower() == "disabled":
        if facts.VARIANT_DISABLED_WRITABLE:
            attrs["disabled"] = 1
        else:
            attrs["quantity"] = 0
            return attrs, f"variant {v.get('sku') or v.get('source_id')}: disabled, created with quantity 0"
    return attrs, None


def option_deltas(row: dict) -> dict[tuple[str, str], Decimal]:
    """Price delta per (option, value): Mystore prices a variant as product price + its values' deltas. Fitted
    option by option (the smallest remaining difference); variants whose price is not additive keep the nearest."""
    base = dec(row.get("price")) or Decimal(0)
    deltas: dict[tuple[str, str], Decimal] = {}
    variants = row.get("variants") or []
    names = []
    for v in variants:
        for o in v.get("options") or []:
            if o["name"] not in names:
                names.append(o["name"])
    for name in names:
        for v in variants:
            done = sum((deltas.get((o["name"], o["value"]), Decimal(0)) for o in v.get("options") or []
                        if o["name"] != name), Decimal(0))
            key = next(((o["name"], o["value"]) for o in v.get("options") or [] if o["name"] == name), None)
            if key is None:
                continue
            rest = (dec(v.get("price")) if v.get("price") is not None else base) - base - done
            deltas[key] = min(deltas.get(key, rest), rest)
    return deltas


def customer(row: dict, lang: str) -> tuple[dict, dict]:
    addresses = row.get("addresses") or []
    ship = next((a for a in addresses if a.get("is_default_shipping")), addresses[0] if addresses else {}) or {}
    bill = next((a for a in addresses if a.get("is_default_billing")), ship) or {}
    attrs = {"name": row.get("first_name") or "N/A", "lastname": row.get("last_name") or "N/A",
             "email": row["email"], "phone": row.get("phone"), "newsletter": 1 if row.get("newsletter") else 0}
    for prefix, a in (("address", ship), ("billing_address", bill)):
        if a:
            attrs.update({f"{prefix}_name": a.get("first_name"), f"{prefix}_lastname": a.get("last_name"),
                          f"{prefix}_company": a.get("company"), f"{prefix}_address": a.get("street"),
                          f"{prefix}_zipcode": a.get("postcode"), f"{prefix}_city": a.get("city"),
                          f"{prefix}_region": a.get("region"), f"{prefix}_country": a.get("country")})
    return attrs, {}


def _order_address(prefix: str, a: dict | None, email: str | None = None) -> dict:
    a = a or {}
    name = " ".join(x for x in (a.get("first_name"), a.get("last_name")) if x)
    out = {f"{prefix}_name": name or None, f"{prefix}_company": a.get("company"), f"{prefix}_address": a.get("street"),
           f"{prefix}_city": a.get("city"), f"{prefix}_zipcode": a.get("postcode"), f"{prefix}_region": a.get("region"),
           f"{prefix}_country": a.get("country"), f"{prefix}_phone": a.get("phone")}
    if email is not None:
        out[f"{prefix}_email"] = email
    return out


def order(row: dict, status_id) -> tuple[dict, dict]:
    person = {"first_name": row.get("customer_first_name"), "last_name": row.get("customer_last_name")}
    attrs = {**_order_address("customer_address", {**(row.get("billing_address") or {}), **person}, row.get("email")),
             **_order_address("billing_address", row.get("billing_address"), row.get("email")),
             **_order_address("shipping_address", row.get("shipping_address")),
             "currency": row.get("currency"), "currency_value": 1.0,
             facts.ORDER_NUMBER_ATTRIBUTE: row.get("order_number"), "created_at": when(row.get("created_at"))}
    return attrs, {"customer": ref("customers", row.get("customer_id")), "order-status": ref("order-status", status_id)}


def order_product(item: dict) -> dict:
    price, qty = dec(item.get("price")) or Decimal(0), int(item.get("qty") or 0)
    tax = dec(item.get("tax"))
    rate = (tax * 100 / (price * qty)) if tax is not None and price and qty else (Decimal(0) if tax is not None else None)
    return {"name": item.get("name"), "sku": item.get("sku"), "price": num(price), "original_price": num(price),
            "final_price": num(price), "quantity": qty,
            "tax_rate": float(round(rate, 12)) if rate is not None else None}


def order_totals(row: dict) -> list[dict]:
    out = []
    for field, cls in (("subtotal", "ot_subtotal"), ("shipping", "ot_shipping"),
                       ("discount", facts.DISCOUNT_TOTAL_CLASS), ("tax", "ot_tax"), ("grand_total", "ot_total")):
        value = dec(row.get(field))
        if value is None:
            continue
        if field == "discount":
            value = -abs(value)
        out.append({"title": {"ot_subtotal": "Delsum", "ot_shipping": "Frakt", "ot_tax": "MVA",
                              "ot_total": "Totalt"}.get(cls, "Rabatt"),
                    "text": f"kr {value:.2f}", "value": float(value), "class": cls,
                    "sort": facts.ORDER_TOTAL_SORT[cls], "order_total_type": "total"})
    refunded = refunded_total(row)
    if refunded:
        out.append({"title": "Refundert", "text": f"kr {-refunded:.2f}", "value": float(-refunded),
                    "class": facts.REFUND_TOTAL_CLASS, "sort": facts.REFUND_TOTAL_SORT, "order_total_type": "total"})
    return out


def refunded_total(row: dict) -> Decimal | None:
    """What was paid back: refunded_total, else the sum of the refunds (positive), None when nothing was."""
    total = dec(row.get("refunded_total"))
    if total is None and row.get("refunds"):
        total = sum((dec(r.get("amount")) or Decimal(0) for r in row["refunds"]), Decimal(0))
    return total if total else None


def refund_history(row: dict) -> list[dict]:
    """One order-status-history entry per refund: amount, reason and date in `comments` (the only text it has),
    created_at the refund's date. A refunded amount without refund rows gets one entry for the total."""
    out = []
    for r in row.get("refunds") or []:
        amount = dec(r.get("amount")) or Decimal(0)
        reason = (r.get("reason") or "").strip()
        entry = {"comments": f"Refund kr {amount:.2f}" + (f": {reason}" if reason else "")
                             + (f" ({when(r.get('created_at'))})" if r.get("created_at") else "")}
        if r.get("created_at"):
            entry["created_at"] = when(r["created_at"])
        out.append(entry)
    if not out and refunded_total(row):
        out.append({"comments": f"Refunded kr {refunded_total(row):.2f} in total"})
    return out


def review(row: dict, lang: str, reviewer: str | None = None) -> tuple[dict, dict]:
    """`name` is the reviewer's name (osCommerce reviews carry no title: the title is not carried)."""
    return ({"name": reviewer or "N/A", "rating": row.get("rating"), "review": {lang: row.get("text") or ""},
             "created_at": when(row.get("created_at"))},
            {"product": ref("products", row.get("product_id")), "customer": ref("customers", row.get("customer_id"))})


def status_ids(statuses: list[dict], overrides: dict[str, str]) -> dict[str, str]:
    """Canonical status → the shop's order-status id: overrides first, then STATUS_NAMES against the shop's names."""
    out = dict(overrides)
    for status, names in STATUS_NAMES.items():
        if status in out:
            continue
        for s in statuses:
            shop_names = {str(v).strip().lower() for v in ((s["attributes"].get("name") or {}).values()
                          if isinstance(s["attributes"].get("name"), dict) else [s["attributes"].get("name")])}
            if shop_names & set(names):
                out[status] = s["id"]
                break
    return out


# --- Mystore → canonical (read-back) -------------------------------------------------------------------------
def split_name(full: str | None) -> tuple[str | None, str | None]:
    if not full:
        return None, None
    first, _, last = full.rpartition(" ")
    return (first, last) if first else (last, None)


def address_back(attrs: dict, prefix: str, with_lastname: bool = False) -> dict | None:
    a = {k: attrs.get(f"{prefix}_{k}") for k in ("name", "lastname", "company", "address", "city", "zipcode",
                                                  "region", "country", "phone")}
    if not any(a.values()):
        return None
    first, last = (a["name"], a["lastname"]) if with_lastname else split_name(a["name"])
    return {"first_name": first, "last_name": last, "company": a["company"], "street": a["address"],
            "city": a["city"], "postcode": a["zipcode"], "region": a["region"], "country": a["country"],
            "phone": a["phone"]}


def item_tax(attrs: dict) -> Decimal | None:
    rate, price, qty = dec(attrs.get("tax_rate")), dec(attrs.get("price")), int(attrs.get("quantity") or 0)
    if rate is None or price is None:
        return None
    return (price * qty * rate / 100).quantize(CENT)
