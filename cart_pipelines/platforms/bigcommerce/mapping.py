"""BigCommerce JSON <-> canonical records: what the source maps as it reads and the target writes and reads back.

Read (REST v3/v2 -> canonical): v3 dates are ISO 8601, v2 (orders) RFC 2822, both become ISO 8601 UTC; a
reference of 0 or null means none; money stays Decimal; a category's path is built from its ancestors.

Write (canonical -> BigCommerce, the target): categories, brands and products as v3 payloads, customers with
their addresses (v3), orders as v2 payloads carrying the source's money as overrides; our source id goes in a
line of customer `notes` and order `staff_notes` (REF). The `*_row` functions read back what the target wrote,
in the local target's columns.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal
from email.utils import format_datetime, parsedate_to_datetime

from cart_pipelines.platforms.kit.values import blank, zulu

# v2 order status ids (Order Status API) -> canonical status.
ORDER_STATUS = {0: "pending", 1: "pending", 7: "pending", 2: "complete", 10: "complete", 3: "processing",
                8: "processing", 9: "processing", 11: "processing", 4: "refunded", 14: "processing", 5: "canceled",
                6: "canceled", 12: "on_hold", 13: "on_hold"}
REVIEW_STATUS = {"approved": "approved", "pending": "pending", "disapproved": "rejected"}
# A BigCommerce product review's status "Must be one of `approved`, `disapproved` or `pending`" (Catalog v3,
# products_catalog.v3.yml, product reviews): no spam, no trash. A review a shop marks as spam is disapproved there
# (kept, not shown), one it throws away is deleted: in no list, and its GET answers 404 (kit/emulator_cases.py)
REVIEW_STATUS_HELD = {"spam": "rejected", "trashed": None}


def ref_id(value) -> str | None:
    """A BigCommerce reference as a canonical id: 0 and null mean none."""
    return None if value in (0, "0", None, "") else str(value)


def money(value) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def ts(value) -> str | None:
    """v3 dates are ISO 8601, v2 order dates RFC 2822; both become ISO 8601 UTC."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        dt = parsedate_to_datetime(str(value))
    return zulu(dt)


def url_key(custom_url) -> str | None:
    url = (custom_url or {}).get("url") if isinstance(custom_url, dict) else custom_url
    return url.strip("/") if url else None


def address(a: dict | None) -> dict | None:
    """A v2 order address (street_1, zip, state, country_iso2) or v3 customer address (address1, postal_code,
    state_or_province, country_code) as a canonical one."""
    if not a:
        return None
    return {"first_name": a.get("first_name"), "last_name": a.get("last_name"),
            "company": blank(a.get("company")), "street": a.get("street_1", a.get("address1")),
            "city": a.get("city"), "postcode": a.get("zip", a.get("postal_code")),
            "region": blank(a.get("state", a.get("state_or_province"))),
            "country": a.get("country_iso2", a.get("country_code")), "phone": blank(a.get("phone"))}


# --- read: BigCommerce -> canonical (the source) -------------------------------------------------------------------
def category_path(c: dict, tree: dict) -> str:
    """"Parent/Child" from the ancestors in `tree` (id -> category); a loop stops after 50 levels."""
    names, depth = [c["name"]], 0
    while (c := tree.get(c.get("parent_id"))) and depth < 50:
        names.append(c["name"])
        depth += 1
    return "/".join(reversed(names))


def category(c: dict, tree: dict) -> dict:
    return {"source_id": str(c["id"]), "parent_id": ref_id(c.get("parent_id")), "name": c.get("name"),
            "path": category_path(c, tree), "url_key": url_key(c.get("custom_url")), "is_visible": c.get("is_visible"),
            "position": c.get("sort_order")}


def brand(b: dict) -> dict:
    return {"source_id": str(b["id"]), "name": b.get("name"), "url_key": url_key(b.get("custom_url"))}


def tax_class(t: dict) -> dict:
    return {"source_id": str(t["id"]), "name": t.get("name"), "rates": None, "updated_at": ts(t.get("updated_at"))}


def variants(p: dict, price_field: str | None = "price") -> list[dict]:
    """A product's variants with options (the base variant has none); the price is `price_field`, else the
    calculated price; `purchasing_disabled` ("the variant cannot be purchased") is status disabled."""
    return [{"source_id": str(v["id"]), "sku": v.get("sku"),
             "price": money(v[price_field] if price_field and v.get(price_field) is not None
                            else v.get("calculated_price")),
             "stock": v.get("inventory_level"),
             "options": [{"name": o.get("option_display_name"), "value": o.get("label")}
                         for o in v.get("option_values") or []],
             "status": "disabled" if v.get("purchasing_disabled") else "enabled"}
            for v in p.get("variants") or [] if v.get("option_values")]


def product(p: dict) -> dict:
    images = [{"url": i.get("url_zoom") or i.get("url_standard"), "position": i.get("sort_order"),
               "alt": i.get("description")} for i in p.get("images") or []]
    sale = money(p.get("sale_price"))
    mapped = variants(p)
    return {
        "source_id": str(p["id"]), "sku": p.get("sku"), "name": p.get("name"),
        "description_html": p.get("description"), "price": money(p.get("price")),
        "special_price": sale if sale else None,  # 0 means no sale price
        # BigCommerce has no sale dates: a sale_price runs until it is removed
        "special_price_from": None, "special_price_to": None,
        "weight": p.get("weight"),  # in the store's weight unit (GET /v2/store weight_units)
        "stock": p.get("inventory_level"),
        # sold: visible and not `availability: disabled` ("cannot be purchased"); hidden (is_visible false) is
        # a product only a direct link finds, so private
        "status": "enabled" if p.get("is_visible") and p.get("availability") != "disabled" else "disabled",
        "lifecycle": "published" if p.get("is_visible") else "private",
        "type": "downloadable" if p.get("type") == "digital" else ("variable" if mapped else "simple"),
        "url_key": url_key(p.get("custom_url")), "category_ids": [str(c) for c in p.get("categories") or []],
        "manufacturer_id": ref_id(p.get("brand_id")), "tax_class_id": str(p.get("tax_class_id", 0)),
        "variants": mapped, "images": images,
        "created_at": ts(p.get("date_created")), "updated_at": ts(p.get("date_modified")),
    }


def customer(c: dict) -> dict:
    addresses = [{**address(a), "is_default_billing": None, "is_default_shipping": None}
                 for a in c.get("addresses") or []]
    return {"source_id": str(c["id"]), "email": c.get("email"), "first_name": c.get("first_name"),
            "last_name": c.get("last_name"), "phone": blank(c.get("phone")), "newsletter": None,
            "addresses": addresses, "password_hash": None, "password_algorithm": None,
            "created_at": ts(c.get("date_created")), "updated_at": ts(c.get("date_modified"))}


def order_items(products: list[dict], sku=lambda s: s) -> list[dict]:
    return [{"source_id": str(i["id"]), "product_id": ref_id(i.get("product_id")), "sku": sku(i.get("sku")),
             "name": i.get("name"), "qty": i.get("quantity"), "price": money(i.get("price_ex_tax")),
             "tax": money(i.get("total_tax"))} for i in products]


def was_refunded(o: dict) -> bool:
    """Whether a v2 order has refunds to read (`refunded_amount` above 0)."""
    try:
        return (money(o.get("refunded_amount")) or 0) > 0
    except ArithmeticError:
        return False


def refund(r: dict, products: list[dict]) -> dict:
    """An orders.v3 Refund: `total_amount` is what went back; its PRODUCT items are lines (item_id is the order
    product's id, whose sku the order's products give); SHIPPING, ORDER and other items count in the amount only."""
    skus = {str(i.get("id")): i.get("sku") for i in products}
    lines = [{"item_id": str(i.get("item_id")), "sku": blank(skus.get(str(i.get("item_id")))), "qty": i.get("quantity"),
              "amount": money(i.get("requested_amount"))} for i in r.get("items") or [] if i.get("item_type") == "PRODUCT"]
    return {"source_id": str(r["id"]), "amount": money(r.get("total_amount")), "reason": blank(r.get("reason")),
            "created_at": ts(r.get("created")), "lines": lines}


def refunds(o: dict, rows: list[dict], products: list[dict]) -> dict:
    """refunds (v3), refunded_total (v2 `refunded_amount`) and net_total (the total less that)."""
    refunded, total = money(o.get("refunded_amount")) or None, money(o.get("total_inc_tax"))
    return {"refunds": [refund(r, products) for r in rows], "refunded_total": refunded,
            "net_total": max(Decimal(0), total - refunded) if refunded and total is not None else None}


def order(o: dict, products: list[dict], shipping: list[dict], refund_rows: list[dict] = ()) -> dict:
    """A v2 order with its products, shipping addresses (sub-resources) and v3 refunds. Status 14 (Partially
    Refunded) leaves the order where it stands, shipped or not: the refund itself is carried."""
    billing = o.get("billing_address") or {}
    status = ORDER_STATUS.get(o.get("status_id"), o.get("status"))
    if o.get("status_id") == 14:
        status = "complete" if o.get("date_shipped") or o.get("items_shipped") else "processing"
    return {
        "source_id": str(o["id"]), "number": str(o["id"]), "customer_id": ref_id(o.get("customer_id")),
        "email": billing.get("email"), "customer_first_name": billing.get("first_name"),
        "customer_last_name": billing.get("last_name"), "status": status,
        "currency": o.get("currency_code"), "subtotal": money(o.get("subtotal_ex_tax")),
        "shipping": money(o.get("shipping_cost_ex_tax")), "tax": money(o.get("total_tax")),
        "discount": money(o.get("discount_amount")), "grand_total": money(o.get("total_inc_tax")),
        **refunds(o, list(refund_rows), products),
        # a line of a product deleted since has product_id 0 (no product): its sku, name and price stay
        "items": order_items(products), "billing_address": address(billing),
        "shipping_address": address(shipping[0] if shipping else None),
        "created_at": ts(o.get("date_created")), "updated_at": ts(o.get("date_modified")),
    }


def review(r: dict, customer_id: str | None) -> dict:
    return {"source_id": str(r["id"]), "product_id": ref_id(r.get("product_id")), "customer_id": customer_id,
            "rating": r.get("rating"), "title": r.get("title"), "text": r.get("text"),
            "status": REVIEW_STATUS.get(r.get("status"), r.get("status")),
            "created_at": ts(r.get("date_created")), "updated_at": ts(r.get("date_modified"))}


# --- write: canonical (after the rules) -> BigCommerce (the target) ------------------------------------------------
REF = "cart_pipelines source id: "  # the line in customer notes and order staff notes that holds our source id
# Order statuses after the order_status_mapping rule → BigCommerce status ids (Order Status API), and back.
STATUS_ID = {"new": 1, "processing": 11, "completed": 10, "cancelled": 5, "refunded": 4, "on_hold": 12}
# A status the run's order_status_mapping left unmapped (counted as order_status_unmapped) is written Pending, as
# rules.REFUNDABLE_STATUSES says; a null status_id is refused by BigCommerce (400), not defaulted
PENDING = STATUS_ID["new"]
STATUS_NAME = {**{v: k for k, v in STATUS_ID.items()}, 0: "new", 7: "new", 2: "completed", 3: "processing",
               8: "processing", 9: "processing", 6: "cancelled", 13: "on_hold", 14: "refunded"}
REVIEW_OUT = {"approved": "approved", "pending": "pending", "rejected": "disapproved"}
REVIEW_IN = {v: k for k, v in REVIEW_OUT.items()}


def _num(value):
    return None if value is None else float(value)


def _v2money(value) -> str | None:
    return None if value is None else str(Decimal(str(value)))


def ref(text: str | None) -> str | None:
    """Our source id from the REF line of a note, None without one."""
    for line in (text or "").splitlines():
        if line.startswith(REF):
            return line[len(REF):].strip()
    return None


def _custom_url(key: str | None) -> dict | None:
    return {"url": f"/{key}/", "is_customized": True} if key else None


def payload(entity: str, row: dict, email: str | None = None) -> dict:
    """The v3 (v2 for orders) request body for one target row; `email`: a review's customer's e-mail.
    An update (a row with `target_id`) leaves out what has its own endpoint once the record exists."""
    if entity == "categories":
        out = {"name": row["name"], "parent_id": int(row.get("parent_id") or 0), "is_visible": not row.get("hidden"),
               "custom_url": _custom_url(row.get("url_key"))}
        if row.get("position") is not None:
            out["sort_order"] = row["position"]
        return {k: v for k, v in out.items() if v is not None}
    if entity == "manufacturers":
        out = {"name": row["name"]}
        if row.get("url_key"):
            out["custom_url"] = _custom_url(row["url_key"])
        return out
    if entity == "products":
        variants = row.get("variants") or []
        out = {"name": row["name"], "type": "physical", "sku": row.get("sku") or "",
               "description": row.get("description") or "", "price": _num(row["price"]),
               "sale_price": _num(row.get("special_price")) or 0, "weight": row.get("weight") or 0,
               "inventory_level": row.get("stock") or 0, "inventory_tracking": "variant" if variants else "product",
               "is_visible": bool(row.get("active")), "categories": [int(c) for c in row.get("category_ids") or []],
               "brand_id": int(row.get("manufacturer_id") or 0), "tax_class_id": int(row.get("tax_class_id") or 0)}
        if row.get("url_key"):
            out["custom_url"] = _custom_url(row["url_key"])
        if "target_id" not in row:  # variants and images go with the create (see docs: updates)
            out["variants"] = [{"sku": v.get("sku"), "price": _num(v.get("price")), "inventory_level": v.get("stock") or 0,
                                "option_values": [{"option_display_name": o["name"], "label": o["value"]}
                                                  for o in v.get("options") or []]} for v in variants]
            out["images"] = [{"image_url": i["url"], "sort_order": i.get("position"), "description": i.get("alt") or "",
                              "is_thumbnail": k == 0} for k, i in enumerate(row.get("images") or [])]
        return out
    if entity == "customers":
        out = {"email": row["email"], "first_name": row.get("first_name"), "last_name": row.get("last_name"),
               "phone": row.get("phone") or "", "notes": REF + row["source_id"]}
        if "target_id" not in row:  # addresses have their own endpoint once the customer exists
            out["addresses"] = [{
                "first_name": a.get("first_name"), "last_name": a.get("last_name"), "company": a.get("company") or "",
                "address1": a.get("street"), "city": a.get("city"), "postal_code": a.get("postcode") or "",
                "state_or_province": a.get("region") or "", "country_code": a.get("country"),
                "phone": a.get("phone") or "", "address_type": "commercial" if a.get("company") else "residential"}
                for a in row.get("addresses") or []]
        return out
    if entity == "orders":
        return order_payload(row)
    if entity == "reviews":
        return {"title": row.get("title"), "text": row.get("text") or "", "rating": row.get("rating"),
                "status": REVIEW_OUT.get(row.get("status"), row.get("status")), "email": email or "",
                "name": "", "date_reviewed": row["created_at"].isoformat() if row.get("created_at") else None}
    raise KeyError(entity)


def order_payload(row: dict) -> dict:
    """A v2 order with the source's subtotal, shipping, discount, tax and total as overrides (to the cent) and
    `external_source: M-MIG` (a historical order, kept out of the store's order count)."""
    email = row.get("email") or ""

    def v2address(a):
        return {"first_name": a.get("first_name"), "last_name": a.get("last_name"), "company": a.get("company") or "",
                "street_1": a.get("street") or "", "street_2": "", "city": a.get("city"), "zip": a.get("postcode") or "",
                "state": a.get("region") or "", "country_iso2": a.get("country"), "phone": a.get("phone") or "",
                "email": email}

    lines = []
    for i in row.get("items") or []:
        qty, price = i.get("qty") or 0, Decimal(str(i.get("price") or 0))
        unit_tax = (Decimal(str(i.get("tax") or 0)) / qty).quantize(Decimal("0.0001")) if qty else Decimal(0)
        line = {"quantity": qty, "price_ex_tax": str(price), "price_inc_tax": str(price + unit_tax),
                "name": i.get("name"), "sku": i.get("sku") or ""}
        if i.get("product_id"):
            line["product_id"] = int(i["product_id"])
        lines.append(line)
    tax = Decimal(str(row.get("tax") or 0))
    item_tax = sum((Decimal(str(i.get("tax") or 0)) for i in row.get("items") or []), Decimal(0))
    out = {"customer_id": int(row.get("customer_id") or 0), "status_id": STATUS_ID.get(row.get("status"), PENDING),
           "billing_address": v2address(row.get("billing_address") or {}),
           "shipping_addresses": [v2address(row["shipping_address"])] if row.get("shipping_address") else [],
           "products": lines, "currency_code": row.get("currency"),
           "staff_notes": REF + row["source_id"], "external_source": "M-MIG"}
    if row.get("subtotal") is not None:
        out["subtotal_ex_tax"] = _v2money(row["subtotal"])
        out["subtotal_inc_tax"] = _v2money(Decimal(str(row["subtotal"])) + item_tax)
    if row.get("shipping") is not None:
        out["shipping_cost_ex_tax"] = out["shipping_cost_inc_tax"] = _v2money(row["shipping"])
    if row.get("discount") is not None:
        out["discount_amount"] = _v2money(row["discount"])
    out["total_ex_tax"] = _v2money(Decimal(str(row["grand_total"])) - tax)
    out["total_inc_tax"] = _v2money(row["grand_total"])
    if row.get("created_at"):
        out["date_created"] = format_datetime(row["created_at"].replace(microsecond=0))
    if "target_id" in row:
        del out["products"]  # order lines are not rewritten by an update (see docs)
    return out


# --- read back: what the target wrote, in the local target's columns -----------------------------------------------
def category_row(c: dict) -> dict:
    return {"id": c["id"], "parent_id": ref_id(c.get("parent_id")), "name": c["name"],
            "url_key": url_key(c.get("custom_url")), "hidden": not c.get("is_visible"),
            "position": c.get("sort_order"), "updated_at": None}


def brand_row(b: dict) -> dict:
    return {"id": b["id"], "name": b["name"], "url_key": url_key(b.get("custom_url")), "updated_at": None}


def tax_class_row(t: dict) -> dict:
    return {"id": t["id"], "name": t["name"], "rates": None, "updated_at": ts(t.get("updated_at"))}


def product_row(p: dict) -> dict:
    return {"id": p["id"], "sku": blank(p.get("sku")), "name": p["name"], "description": blank(p.get("description")),
            "price": money(p.get("price")), "special_price": money(p.get("sale_price")) or None,
            "weight": p.get("weight"), "stock": p.get("inventory_level"), "active": bool(p.get("is_visible")),
            "url_key": url_key(p.get("custom_url")), "category_ids": [str(c) for c in p.get("categories") or []],
            "manufacturer_id": ref_id(p.get("brand_id")), "tax_class_id": ref_id(p.get("tax_class_id")),
            "variants": variants(p, price_field=None),
            "images": [{"url": i.get("url_zoom"), "position": i.get("sort_order"), "alt": blank(i.get("description"))}
                       for i in p.get("images") or []],
            "created_at": ts(p.get("date_created")), "updated_at": ts(p.get("date_modified"))}


def customer_row(c: dict) -> dict:
    return {"id": c["id"], "email": c["email"], "first_name": c.get("first_name"), "last_name": c.get("last_name"),
            "phone": blank(c.get("phone")), "newsletter": None,
            "addresses": [{**address(a), "is_default_billing": None, "is_default_shipping": None}
                          for a in c.get("addresses") or []],
            "password_hash": None, "password_algorithm": None, "created_at": ts(c.get("date_created")),
            "updated_at": ts(c.get("date_modified")), "_source_id": ref(c.get("notes"))}


def order_row(o: dict, products: list[dict], shipping: list[dict], refund_rows: list[dict] = ()) -> dict:
    billing = o.get("billing_address") or {}
    status = STATUS_NAME.get(o.get("status_id"), o.get("status"))
    if o.get("status_id") == 14:  # Partially Refunded: the order stands where it was, shipped or not
        status = "completed" if o.get("date_shipped") or o.get("items_shipped") else "processing"
    held = refunds(o, list(refund_rows), products)
    return {"id": o["id"], "order_number": str(o["id"]), "customer_id": ref_id(o.get("customer_id")),
            "email": blank(billing.get("email")), "customer_first_name": billing.get("first_name"),
            "customer_last_name": billing.get("last_name"),
            "refunds": held["refunds"], "refunded_total": held["refunded_total"],
            "status": status, "currency": o.get("currency_code"),
            "subtotal": money(o.get("subtotal_ex_tax")), "shipping": money(o.get("shipping_cost_ex_tax")),
            "tax": money(o.get("total_tax")), "discount": money(o.get("discount_amount")),
            "grand_total": money(o.get("total_inc_tax")), "items": order_items(products, sku=blank),
            "billing_address": address(billing), "shipping_address": address(shipping[0] if shipping else None),
            "created_at": ts(o.get("date_created")), "updated_at": ts(o.get("date_modified")),
            "_source_id": ref(o.get("staff_notes"))}


# --- refunds on the target (Orders v3 payment actions) ---------------------------------------------------------------
CENT = Decimal("0.01")


def _refund_key(amount, reason) -> tuple:
    return (Decimal(str(amount or 0)).quantize(CENT), blank(reason))


def missing_refunds(row: dict, held: list[dict]) -> list[dict]:
    """The row's refunds the order does not hold yet. A BigCommerce refund has no field for our source id: the
    order's refunds are matched to the row's by amount and reason, counted, so two alike are two."""
    have = Counter(_refund_key(r.get("total_amount"), r.get("reason")) for r in held)
    out = []
    for r in row.get("refunds") or []:
        key = _refund_key(r.get("amount"), r.get("reason"))
        if have[key] > 0:
            have[key] -= 1
        else:
            out.append(r)
    return out


def refund_items(row: dict, refund: dict, oid: int, products: list[dict]) -> list[dict]:
    """A refund's items: its lines as PRODUCT items (the order product written for that line: the order's products
    are written, and listed, in the row's item order) with their quantities; without lines, one ORDER item of its
    amount (tax-exempt, order level)."""
    position = {str(i.get("source_id")): k for k, i in enumerate(row.get("items") or [])}
    reason = refund.get("reason") or ""
    items = []
    for ln in refund.get("lines") or []:
        k = position.get(str(ln.get("item_id")))
        if k is not None and k < len(products) and (ln.get("qty") or 0) > 0:
            items.append({"item_type": "PRODUCT", "item_id": products[k]["id"], "quantity": int(ln["qty"]),
                          "reason": reason})
    return items or [order_level_item(refund, oid)]


def order_level_item(refund: dict, oid: int) -> dict:
    """The refund's amount as one ORDER item (tax-exempt, order level)."""
    return {"item_type": "ORDER", "item_id": oid, "amount": float(_refund_key(refund.get("amount"), None)[0]),
            "reason": refund.get("reason") or ""}


def refund_request(refund: dict, items: list[dict], quote: dict) -> dict | str:
    """The refund request after its quote: the source's amount to the cent as the merchant's override (BigCommerce
    would compute the lines' price and tax again; the tax is not recorded on the refund), paid back through the
    quote's offline method (a historical order: recorded, no money moves through a gateway)."""
    amount = float(_refund_key(refund.get("amount"), None)[0])
    offline = next((m[0] for m in quote.get("refund_methods") or []
                    if isinstance(m, list) and len(m) == 1 and m[0].get("offline")), None)
    if offline is None:
        return "BigCommerce offers no offline refund method for this order (its refund quote lists none)"
    return {"items": items, "payments": [{"provider_id": offline["provider_id"], "amount": amount, "offline": True}],
            "merchant_calculated_override": {"total_amount": amount, "total_tax": 0}}


def review_row(r: dict, customer_id: str | None) -> dict:
    return {"id": r["id"], "product_id": str(r["product_id"]), "customer_id": customer_id, "rating": r.get("rating"),
            "title": blank(r.get("title")), "text": blank(r.get("text")),
            "status": REVIEW_IN.get(r.get("status"), r.get("status")),
            "created_at": ts(r.get("date_reviewed")), "updated_at": ts(r.get("date_modified"))}
