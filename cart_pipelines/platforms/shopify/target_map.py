"""Target rows ↔ Shopify Admin GraphQL objects: mutation inputs per entity, and read-back selections that
convert Shopify's objects back into the local target's TABLES columns (used by platforms/shopify/target.py)."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

from cart_pipelines.model.entities import GUEST_PREFIX

NS, KEY = "cart_pipelines", "source_id"
TEXT = "single_line_text_field"
KG = {"GRAMS": 0.001, "KILOGRAMS": 1.0, "OUNCES": 0.028349523125, "POUNDS": 0.45359237}
# target order status → (financialStatus, fulfillmentStatus) for orderCreate; read back the other way
STATUS = {"new": ("PENDING", None), "processing": ("PAID", None), "completed": ("PAID", "FULFILLED"),
          "cancelled": ("VOIDED", None), "refunded": ("REFUNDED", None), "on_hold": ("AUTHORIZED", None)}
STATUS_TAG = "cart_pipelines_status:"  # a status Shopify has no equivalent for is kept as an order tag
CENT = Decimal("0.01")
LINE_KEY = "_cart_pipelines_line"  # line-item property holding the source line id (underscore: hidden)


class Unwritable(ValueError):
    """A record Shopify would store with different values: quarantined with this reason instead."""


def maker_key(source_id: str) -> str:
    return "m_" + re.sub(r"[^A-Za-z0-9_-]", "_", str(source_id))[:60]


def _meta(key: str, value) -> dict:
    return {"namespace": NS, "key": key, "value": str(value), "type": TEXT}


def _money(value, currency: str) -> dict:
    return {"shopMoney": {"amount": str(value), "currencyCode": currency}}


def _address(a: dict | None) -> dict | None:
    if not a:
        return None
    return {"firstName": a.get("first_name"), "lastName": a.get("last_name"), "company": a.get("company"),
            "address1": a.get("street"), "city": a.get("city"), "zip": a.get("postcode"),
            "provinceCode": a.get("region"), "countryCode": a.get("country"), "phone": a.get("phone")}


def _gid(kind: str, id_) -> str:
    return f"gid://shopify/{kind}/{id_}"


# --- writes: one mutation input per row
def category(row: dict, target, update: bool) -> dict:
    out = {"title": row["name"], "handle": row.get("url_key"),
           "metafields": [_meta(KEY, row["source_id"])] + (
               [_meta("parent_id", row["parent_id"])] if row.get("parent_id") else [])}
    if update:
        out["id"] = _gid("Collection", row["target_id"])
    return out


# the lifecycle written (after rule product_lifecycle_nearest) → ProductStatus; a published product is ACTIVE when
# it is sold, else DRAFT
LIFECYCLE_STATUS = {"draft": "DRAFT", "archived": "ARCHIVED"}


def product_status(row: dict) -> str:
    """The product's lifecycle as Shopify holds it: DRAFT, ARCHIVED (no longer sold; rule
    variants_all_disabled_archived among others); a published product ACTIVE where it is sold, else DRAFT."""
    held = LIFECYCLE_STATUS.get(row.get("lifecycle") or "published")
    if held:
        return held
    return "ACTIVE" if row.get("active", True) else "DRAFT"


def product(row: dict, target, update: bool) -> dict:
    special, price = row.get("special_price"), row["price"]
    location = target.location()

    def variant(options, sku, stock, regular, metafields=()):
        v = {"optionValues": [{"optionName": o["name"], "name": o["value"]} for o in options],
             "price": str(special if special is not None else regular),
             "compareAtPrice": str(regular) if special is not None else None,
             "inventoryItem": {"sku": sku, "tracked": True}, "metafields": list(metafields)}
        if row.get("weight") is not None:
            v["inventoryItem"]["measurement"] = {"weight": {"value": float(row["weight"]), "unit": "KILOGRAMS"}}
        if stock is not None:
            v["inventoryQuantities"] = [{"locationId": location, "name": "available", "quantity": int(stock)}]
        return v

    source_variants = row.get("variants") or []
    meta = [_meta(KEY, row["source_id"])]
    if source_variants:
        names: dict[str, list[str]] = {}
        for v in source_variants:
            for o in v.get("options") or []:
                values = names.setdefault(o["name"], [])
                if o["value"] not in values:
                    values.append(o["value"])
        options = [{"name": n, "values": [{"name": x} for x in values]} for n, values in names.items()]
        variants = [variant(v.get("options") or [], v.get("sku"), v.get("stock"),
                            v["price"] if v.get("price") is not None else price,
                            [_meta(KEY, v["source_id"])] if v.get("source_id") else [])
                    for v in source_variants]
        if row.get("sku"):  # Shopify has SKUs on variants only: the parent's is kept as a metafield
            meta.append(_meta("sku", row["sku"]))
    else:
        default = [{"name": "Title", "value": "Default Title"}]
        options = [{"name": "Title", "values": [{"name": "Default Title"}]}]
        variants = [variant(default, row.get("sku"), row.get("stock"), price)]
    images = sorted(row.get("images") or [], key=lambda i: (i.get("position") is None, i.get("position") or 0))
    out = {"title": row["name"], "handle": row.get("url_key"), "descriptionHtml": row.get("description") or "",
           "vendor": row.get("manufacturer_id") or "", "status": product_status(row),
           "collections": [_gid("Collection", c) for c in row.get("category_ids") or []],
           "files": [{"originalSource": i["url"], "alt": i.get("alt"), "contentType": "IMAGE"} for i in images],
           "productOptions": options, "variants": variants, "metafields": meta}
    if update:
        out["id"] = _gid("Product", row["target_id"])
    return out


def customer(row: dict, target, update: bool) -> dict:
    addresses = list(row.get("addresses") or [])
    # Shopify has one default address, the first: put the source's default first
    addresses.sort(key=lambda a: not (a.get("is_default_billing") or a.get("is_default_shipping")))
    out = {"email": row.get("email"), "firstName": row.get("first_name"), "lastName": row.get("last_name"),
           "phone": row.get("phone"), "addresses": [_address(a) for a in addresses],
           "emailMarketingConsent": {"marketingState": "SUBSCRIBED" if row.get("newsletter") else "NOT_SUBSCRIBED"},
           "metafields": [_meta(KEY, row["source_id"])]}
    if update:
        out["id"] = _gid("Customer", row["target_id"])
        out.pop("emailMarketingConsent")  # changed through customerEmailMarketingConsentUpdate, not here
    return out


def order(row: dict, target, update: bool) -> dict:
    if update:  # orderUpdate changes what an imported order allows: e-mail, shipping address, metafields
        return {"id": _gid("Order", row["target_id"]), "email": row.get("email"),
                "shippingAddress": _address(row.get("shipping_address")), "metafields": [_meta(KEY, row["source_id"])]}
    cur = row["currency"]
    items = row.get("items") or []
    money = {f: row.get(f) for f in ("subtotal", "shipping", "tax", "discount", "grand_total")}
    missing = [f for f, v in money.items() if v is None]
    if missing:
        raise Unwritable(f"order has no {', '.join(missing)}: Shopify computes these from the order's lines and "
                         "would record 0, not the source's empty value")
    lines = sum((Decimal(str(i["price"] or 0)) * int(i["qty"] or 0) for i in items), Decimal(0))
    if lines != money["subtotal"]:
        raise Unwritable(f"the items add up to {lines}, the order's subtotal is {money['subtotal']}: Shopify "
                         "computes the subtotal from the items, so it would not hold the source total")
    base = money["subtotal"] - money["discount"] + money["shipping"]
    if money["grand_total"] not in (base + money["tax"], base):
        raise Unwritable(f"grand total {money['grand_total']} is not subtotal − discount + shipping (+ tax): "
                         "Shopify computes the total, so it would not hold the source total")
    taxes_included = money["grand_total"] == base and money["tax"] != 0
    per_line = all(i.get("tax") is not None for i in items) and items and \
        sum(Decimal(str(i["tax"])) for i in items) == money["tax"]

    def tax_line(amount, of) -> dict:
        rate = (Decimal(str(amount)) / Decimal(str(of))).quantize(Decimal("0.0001")) if of else Decimal(0)
        return {"title": "Tax", "rate": str(rate), "priceSet": _money(amount, cur)}

    line_items = []
    for i in items:
        li = {"title": i.get("name") or i.get("sku") or "Item", "sku": i.get("sku"), "quantity": int(i["qty"]),
              "priceSet": _money(i["price"] or 0, cur), "requiresShipping": True}
        if i.get("product_id"):
            li["productId"] = _gid("Product", i["product_id"])
        if per_line:
            li["taxLines"] = [tax_line(i["tax"], Decimal(str(i["price"] or 0)) * int(i["qty"]))]
        if i.get("source_id"):
            li["properties"] = [{"name": LINE_KEY, "value": str(i["source_id"])}]
        line_items.append(li)
    financial, fulfillment = STATUS.get(row.get("status"), ("PENDING", None))
    refunded = refunds_total(row)
    # A refund goes back through a transaction of the order (refundCreate: a REFUND with a SALE as its parent): an
    # order with refunds is imported paid, and Shopify makes it PARTIALLY_REFUNDED or REFUNDED as they are written.
    # Its own status, which Shopify then no longer shows, is kept in the status tag.
    tagged = row.get("status") is not None and (row["status"] not in STATUS or refunded > 0)
    if refunded > 0:
        financial = "PAID"
    out = {"name": row.get("order_number"), "email": row.get("email"), "currency": cur,
           "processedAt": row.get("created_at"), "financialStatus": financial, "lineItems": line_items,
           "shippingLines": [{"title": "Shipping", "priceSet": _money(money["shipping"], cur)}],
           "billingAddress": _address(row.get("billing_address")),
           "shippingAddress": _address(row.get("shipping_address")),
           "customer": {"toAssociate": {"id": _gid("Customer", row["customer_id"])}},
           "taxesIncluded": taxes_included, "metafields": [_meta(KEY, row["source_id"])],
           "tags": [STATUS_TAG + row["status"]] if tagged else []}
    if fulfillment:
        out["fulfillmentStatus"] = fulfillment
    if not per_line and money["tax"]:
        out["taxLines"] = [tax_line(money["tax"], money["subtotal"] - money["discount"])]
    if money["discount"]:
        out["discountCode"] = {"itemFixedDiscountCode": {"code": "MIGRATED", "amountSet": _money(money["discount"],
                                                                                                cur)}}
    if financial in ("PAID", "AUTHORIZED"):
        out["transactions"] = [{"kind": "SALE" if financial == "PAID" else "AUTHORIZATION", "status": "SUCCESS",
                                "gateway": "migration", "amountSet": _money(money["grand_total"], cur),
                                "processedAt": row.get("created_at")}]
    return out


def refunds_total(row: dict) -> Decimal:
    return sum((Decimal(str(r.get("amount") or 0)) for r in row.get("refunds") or []), Decimal(0))


def refund_inputs(row: dict, order: dict) -> list[dict] | str:
    """A RefundInput per refund of the row the Shopify order (REFUND_STATE in target.py) does not hold yet, or why
    none can be written. A Shopify refund has no metafields: the order's refunds are matched to the row's by amount
    and note (the source's reason), counted, so two alike are two. Money goes back as a REFUND transaction against
    the order's SALE (or CAPTURE) in its gateway; lines by our source line id, not restocked (history); nobody is
    notified."""
    held = Counter(((_amount(r.get("totalRefundedSet")) or Decimal(0)).quantize(CENT), r.get("note") or None)
                   for r in order.get("refunds") or [])
    missing = []
    for r in row.get("refunds") or []:
        key = (Decimal(str(r.get("amount") or 0)).quantize(CENT), r.get("reason") or None)
        if held[key] > 0:
            held[key] -= 1
        else:
            missing.append(r)
    parent = next((t for t in order.get("transactions") or []
                   if t["kind"] in ("SALE", "CAPTURE") and t["status"] == "SUCCESS"), None)
    lines = {}
    for li in order.get("lineItems", {}).get("nodes") or []:
        sid = next((a["value"] for a in li.get("customAttributes") or [] if a["key"] == LINE_KEY), None)
        if sid is not None:
            lines[sid] = li["id"]
    out = []
    for r in missing:
        amount = Decimal(str(r.get("amount") or 0)).quantize(CENT)
        when = r.get("created_at")
        one = {"orderId": order["id"], "note": r.get("reason") or None, "notify": False,
               # the source's refund date (API 2026-01+); without one Shopify dates it now
               **({"processedAt": when.isoformat() if hasattr(when, "isoformat") else str(when)} if when else {}),
               "refundLineItems": [{"lineItemId": lines[str(ln["item_id"])], "quantity": int(ln["qty"]),
                                    "restockType": "NO_RESTOCK"} for ln in r.get("lines") or []
                                   if str(ln.get("item_id")) in lines and (ln.get("qty") or 0) > 0]}
        if amount > 0:
            if parent is None:
                return (f"the Shopify order holds no payment (a successful SALE or CAPTURE transaction) to refund "
                        f"{amount} against")
            one["transactions"] = [{"orderId": order["id"], "parentId": parent["id"], "amount": str(amount),
                                    "gateway": parent.get("gateway") or "manual", "kind": "REFUND"}]
        out.append(one)
    return out


PAYLOAD = {"categories": category, "products": product, "customers": customer, "orders": order}

# --- reads: selection per entity with the cost of one node (Shopify's calculated cost), and row converters
SOURCE = f'metafield(namespace: "{NS}", key: "{KEY}") {{ value }}'
VARIANT = ("id sku price compareAtPrice inventoryQuantity selectedOptions { name value } "
           "inventoryItem { measurement { weight { unit value } } } " + SOURCE)
MEDIA = "alt ... on MediaImage { image { url altText } }"
LINE = (f"title sku quantity product {{ id }} originalUnitPriceSet {{ shopMoney {{ amount }} }} "
        f"taxLines {{ priceSet {{ shopMoney {{ amount }} }} }} customAttributes {{ key value }}")
ADDRESS = "id firstName lastName company address1 city zip province provinceCode countryCodeV2 phone"
REFUNDS = 10  # refunds read back with an order (Order.refunds is a list, not a connection)
REFUND = "id note createdAt processedAt totalRefundedSet { shopMoney { amount } }"  # read at 2026-01+
PAGE = "pageInfo { hasNextPage endCursor }"
NESTED = {"Product": {"variants": (VARIANT, 6), "media": (MEDIA, 2), "collections": ("id", 1)},
          "Order": {"lineItems": (LINE, 8)}}
SELECTION = {
    "categories": (f'id title handle updatedAt {SOURCE} parent: metafield(namespace: "{NS}", key: "parent_id") '
                   "{ value }", 3),
    "products": (f'id title handle descriptionHtml vendor status hasOnlyDefaultVariant createdAt updatedAt {SOURCE} '
                 f'sku: metafield(namespace: "{NS}", key: "sku") {{ value }} '
                 f"variants(first: 20) {{ {PAGE} nodes {{ {VARIANT} }} }} media(first: 20) {{ {PAGE} nodes {{ {MEDIA} }} }} "
                 f"collections(first: 20) {{ {PAGE} nodes {{ id }} }}", 3 + (2 + 20 * 6) + (2 + 20 * 2) + (2 + 20)),
    "customers": (f"id email firstName lastName phone createdAt updatedAt emailMarketingConsent {{ marketingState }} "
                  f"addresses {{ {ADDRESS} }} defaultAddress {{ id }} {SOURCE}", 6),
    "orders": (f"id name email processedAt updatedAt currencyCode displayFinancialStatus displayFulfillmentStatus tags "
               f"customer {{ id firstName lastName }} subtotalPriceSet {{ shopMoney {{ amount }} }} "
               f"totalShippingPriceSet {{ shopMoney {{ amount }} }} totalTaxSet {{ shopMoney {{ amount }} }} "
               f"totalDiscountsSet {{ shopMoney {{ amount }} }} totalPriceSet {{ shopMoney {{ amount }} }} "
               f"totalRefundedSet {{ shopMoney {{ amount }} }} refunds(first: {REFUNDS}) {{ {REFUND} }} "
               f"billingAddress {{ {ADDRESS} }} shippingAddress {{ {ADDRESS} }} {SOURCE} "
               f"lineItems(first: 20) {{ {PAGE} nodes {{ {LINE} }} }}", 17 + 1 + 1 + REFUNDS * 2 + 2 + 20 * 8),
}


def _id(gid: str | None) -> str | None:
    return gid.rsplit("/", 1)[-1] if gid else None


def _value(meta: dict | None) -> str | None:
    return (meta or {}).get("value")


def _amount(bag: dict | None) -> Decimal | None:
    return None if not bag else Decimal(str(bag["shopMoney"]["amount"]))


def _read_address(a: dict | None) -> dict | None:
    if not a:
        return None
    return {"first_name": a.get("firstName"), "last_name": a.get("lastName"), "company": a.get("company"),
            "street": a.get("address1"), "city": a.get("city"), "postcode": a.get("zip"),
            "region": a.get("provinceCode") or a.get("province"), "country": a.get("countryCodeV2"),
            "phone": a.get("phone")}


def read_category(n: dict) -> dict:
    return {"id": _id(n["id"]), "parent_id": _value(n.get("parent")), "name": n["title"], "url_key": n["handle"],
            "hidden": None, "position": None, "updated_at": n.get("updatedAt"), "_source_id": _value(n["metafield"])}


def read_product(n: dict) -> dict:
    variants = n["variants"]["nodes"]

    def weight(v):
        w = ((v.get("inventoryItem") or {}).get("measurement") or {}).get("weight")
        return None if not w else round(w["value"] * KG[w["unit"]], 6)

    def regular(v):
        return v["compareAtPrice"] if v.get("compareAtPrice") is not None else v["price"]

    first = variants[0] if variants else {}
    simple = n["hasOnlyDefaultVariant"]
    return {
        "id": _id(n["id"]), "sku": first.get("sku") if simple else _value(n.get("sku")), "name": n["title"],
        "description": n.get("descriptionHtml") or None, "price": regular(first) if first else None,
        "special_price": first.get("price") if first.get("compareAtPrice") is not None else None,
        "weight": weight(first) if first else None,
        "stock": first.get("inventoryQuantity") if simple else sum(v.get("inventoryQuantity") or 0 for v in variants),
        "active": n["status"] == "ACTIVE", "url_key": n["handle"],
        "category_ids": [_id(c["id"]) for c in n["collections"]["nodes"]],
        "manufacturer_id": n.get("vendor") or None, "tax_class_id": None,
        "variants": [] if simple else [{"source_id": _value(v.get("metafield")), "sku": v.get("sku"),
                                        "price": regular(v), "stock": v.get("inventoryQuantity"),
                                        "options": v["selectedOptions"]} for v in variants],
        "images": [{"url": (mi.get("image") or {}).get("url"), "position": k, "alt": mi.get("alt")}
                   for k, mi in enumerate(n["media"]["nodes"])],
        "created_at": n.get("createdAt"), "updated_at": n.get("updatedAt"), "_source_id": _value(n["metafield"]),
    }


def read_customer(n: dict) -> dict:
    default = (n.get("defaultAddress") or {}).get("id")
    addresses = [{**_read_address(a), "is_default_billing": a["id"] == default,
                  "is_default_shipping": a["id"] == default} for a in n.get("addresses") or []]
    return {"id": _id(n["id"]), "email": n.get("email"), "first_name": n.get("firstName"),
            "last_name": n.get("lastName"), "phone": n.get("phone"),
            "newsletter": (n.get("emailMarketingConsent") or {}).get("marketingState") == "SUBSCRIBED",
            # a customer the rules made from a guest order was sent without an address list (not an empty one)
            "addresses": addresses or (None if (_value(n["metafield"]) or "").startswith(GUEST_PREFIX) else []),
            "password_hash": None, "password_algorithm": None,
            "created_at": n.get("createdAt"), "updated_at": n.get("updatedAt"), "_source_id": _value(n["metafield"])}


def read_status(n: dict) -> str:
    tagged = [t[len(STATUS_TAG):] for t in n.get("tags") or [] if t.startswith(STATUS_TAG)]
    if tagged:
        return tagged[0]
    financial, fulfilled = n.get("displayFinancialStatus"), n.get("displayFulfillmentStatus") == "FULFILLED"
    for status, (fin, ful) in STATUS.items():
        if fin == financial and (ful == "FULFILLED") == fulfilled:
            return status
    if financial == "PARTIALLY_REFUNDED":  # a part went back (refundCreate): the order stands where it was
        return "completed" if fulfilled else "processing"
    return {"PAID": "processing", "PARTIALLY_PAID": "processing", "REFUNDED": "refunded"}.get(financial, "new")


def read_order(n: dict) -> dict:
    customer = n.get("customer") or {}
    billing = _read_address(n.get("billingAddress")) or {}
    discount = _amount(n.get("totalDiscountsSet")) or Decimal(0)
    subtotal = _amount(n.get("subtotalPriceSet"))
    items = []
    for li in n["lineItems"]["nodes"]:
        taxes = [_amount(t["priceSet"]) for t in li.get("taxLines") or []]
        attrs = {a["key"]: a["value"] for a in li.get("customAttributes") or []}
        items.append({"source_id": attrs.get(LINE_KEY), "product_id": _id((li.get("product") or {}).get("id")),
                      "sku": li.get("sku"), "name": li["title"], "qty": li["quantity"],
                      "price": _amount(li["originalUnitPriceSet"]), "tax": sum(taxes) if taxes else None})
    return {
        "id": _id(n["id"]), "order_number": n["name"], "customer_id": _id(customer.get("id")), "email": n.get("email"),
        "customer_first_name": customer.get("firstName") or billing.get("first_name") or "",
        "customer_last_name": customer.get("lastName") or billing.get("last_name") or "",
        "status": read_status(n), "currency": n["currencyCode"],
        "subtotal": None if subtotal is None else subtotal + discount,  # Shopify's subtotal is after discounts
        "shipping": _amount(n.get("totalShippingPriceSet")), "tax": _amount(n.get("totalTaxSet")),
        "discount": discount, "grand_total": _amount(n.get("totalPriceSet")), "items": items,
        # totalPriceSet is the order before returns; what went back is in its refunds (read_refund)
        "refunds": [read_refund(r) for r in n.get("refunds") or []],
        "refunded_total": (_amount(n.get("totalRefundedSet")) or None) if n.get("refunds") else None,
        "billing_address": _read_address(n.get("billingAddress")),
        "shipping_address": _read_address(n.get("shippingAddress")),
        "created_at": n.get("processedAt"), "updated_at": n.get("updatedAt"), "_source_id": _value(n["metafield"]),
    }


def read_refund(r: dict) -> dict:
    """A refund as Shopify holds it: the note is the source's reason, its date `processedAt` (the source's refund
    date, written with refundCreate; `createdAt` is when it was written); its lines are not read back here."""
    return {"source_id": _id(r["id"]), "amount": _amount(r.get("totalRefundedSet")), "reason": r.get("note") or None,
            "created_at": r.get("processedAt") or r.get("createdAt"), "lines": []}


READ = {"categories": read_category, "products": read_product, "customers": read_customer, "orders": read_order}
