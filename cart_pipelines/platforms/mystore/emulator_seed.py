"""Fill a Mystore emulator from a generated store (canonical records), as a merchant's shop would hold them:
multilingual maps in Norwegian (some with an English translation, some products named in English only: a
missing language), variants as options/values/attributes (price deltas)/variants, specials (running until a date
a year ahead; some products also hold an expired one), order lines (every 50th order's of a product deleted
since), order totals rows, statuses from the shop's list, reviews
named by their reviewer. Test infrastructure for Mystore as a source: the main records keep the store's ids (so
a read compares with the generator's truth), their sub-resources get Mystore's own.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from cart_pipelines.platforms.mystore import facts
from cart_pipelines.platforms.mystore.mapping import option_deltas

STATUS = {"pending": 1, "new": 1, "processing": 2, "complete": 3, "completed": 3, "canceled": 4, "cancelled": 4,
          "refunded": 5, "closed": 5, "on_hold": 6, "holded": 6}
LANG = "no"
OTHER = "en"  # the shop's second language (emulator LANGUAGES)


def _when(value) -> str | None:
    if not value:
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt.astimezone(timezone.utc).strftime(facts.DATETIME_FORMAT)


def _all(store, entity: str) -> list[dict]:
    return store.page(entity, 0, 10**9)


def _money(value) -> float | None:
    return float(Decimal(str(value))) if value is not None else None


def seed(emu, store) -> None:
    now = datetime.now(timezone.utc)
    ids: dict[str, dict[str, int]] = {e: {} for e in ("categories", "manufacturers", "tax_classes", "products",
                                                       "customers", "orders")}

    def dates(rec: dict) -> dict:
        return {"created_at": _when(rec.get("created_at") or rec.get("updated_at")) or _when("2023-01-01T00:00:00Z"),
                "updated_at": _when(rec.get("updated_at")) or _when("2023-01-01T00:00:00Z")}

    for t in _all(store, "tax_classes"):
        rate = (t.get("rates") or [{}])[0].get("rate", 0)
        ids["tax_classes"][t["source_id"]] = emu._insert("tax-classes", {
            "title": t["name"], "description": t["name"], "tax_rate": float(rate), **dates(t)}, {},
            int(t["source_id"]))
    for m in _all(store, "manufacturers"):
        ids["manufacturers"][m["source_id"]] = emu._insert("manufacturers", {
            "name": m["name"], "slug": {LANG: m.get("url_key") or ""}, **dates(m)}, {}, int(m["source_id"]))
    cats = _all(store, "categories")
    for c in cats:
        ids["categories"][c["source_id"]] = emu._insert("categories", {
            "name": {LANG: c["name"]}, "slug": {LANG: (c.get("url_key") or c["source_id"]).rsplit("/", 1)[-1]},
            "status": 1 if c.get("is_visible", True) else 0, "sort": c.get("position") or 0, **dates(c)},
            {"parent": None, "products": []}, int(c["source_id"]))
    for c in cats:
        if c.get("parent_id") in ids["categories"]:
            emu.data["categories"][ids["categories"][c["source_id"]]]["relationships"]["parent"] = \
                ids["categories"][c["parent_id"]]
    options: dict[str, int] = {}
    values: dict[tuple[str, str], int] = {}
    for p in _all(store, "products"):
        slug = (p.get("url_key") or p["source_id"]).rsplit("/", 1)[-1]
        images = {("image" if i == 0 else f"image{i + 1}"): img["url"].rsplit("/", 1)[-1]
                  for i, img in enumerate((p.get("images") or [])[:8])}
        n = int(p["source_id"])
        # Some names translated, some in the second language only (the default one missing).
        name = {OTHER: p["name"]} if n % 7 == 0 else {LANG: p["name"], OTHER: p["name"]} if n % 5 == 0 \
            else {LANG: p["name"]}
        pid = emu._insert("products", {
            "name": name, "slug": {LANG: slug}, "description": {LANG: p.get("description_html") or ""},
            "price": _money(p.get("price")), "quantity": int(p.get("stock") or 0), "sku": p.get("sku"),
            "status": 1 if p.get("status") == "enabled" else 0, "weight": p.get("weight"), **images, **dates(p)},
            {"categories": [ids["categories"][c] for c in p.get("category_ids") or [] if c in ids["categories"]],
             "tax-class": ids["tax_classes"].get(p.get("tax_class_id")),
             "manufacturer": ids["manufacturers"].get(p.get("manufacturer_id"))}, n)
        ids["products"][p["source_id"]] = pid
        if n % 4 == 0:  # a sale that is over
            emu._insert("product-specials", {"specials_price": _money(p.get("price")), "status": 1,
                                             "expires_at": _when(now - timedelta(days=30)), **dates(p)},
                        {"product": pid})
        if p.get("special_price") is not None:
            emu._insert("product-specials", {"specials_price": _money(p["special_price"]), "status": 1,
                                             "expires_at": _when(now + timedelta(days=365)), **dates(p)},
                        {"product": pid})
        deltas = option_deltas(p)
        attrs: dict[tuple[str, str], int] = {}
        for v in p.get("variants") or []:
            attr_ids = []
            for o in v.get("options") or []:
                if o["name"] not in options:
                    options[o["name"]] = emu._insert("product-options", {"name": {LANG: o["name"]}, "track_stock": 1},
                                                     {"product-option-values": []})
                oid = options[o["name"]]
                if (o["name"], o["value"]) not in values:
                    values[o["name"], o["value"]] = emu._insert("product-option-values", {"name": {LANG: o["value"]}},
                                                                {"product-options": [oid]})
                    emu.data["product-options"][oid]["relationships"]["product-option-values"].append(
                        values[o["name"], o["value"]])
                key = (o["name"], o["value"])
                if key not in attrs:
                    delta = deltas.get(key, Decimal(0))
                    attrs[key] = emu._insert("product-attributes", {"option_values_price": float(abs(delta)),
                                                                    "option_values_price_prefix": "-" if delta < 0
                                                                    else "+", **dates(p)},
                                             {"product": pid, "product-option": oid,
                                              "product-option-value": values[key]})
                attr_ids.append(attrs[key])
            emu._insert("product-variants", {"quantity": int(v.get("stock") or 0), "sku": v.get("sku"), **dates(p)},
                        {"product": pid, "product-attributes": attr_ids})
    for c in _all(store, "customers"):
        a = next(iter(c.get("addresses") or []), {}) or {}
        addr = {} if not a else {"address_name": a.get("first_name") or c.get("first_name"), "address_lastname": a.get("last_name")
                or c.get("last_name"), "address_company": a.get("company"), "address_address": a.get("street"),
                "address_zipcode": a.get("postcode"), "address_city": a.get("city"), "address_country": a.get("country")}
        ids["customers"][c["source_id"]] = emu._insert("customers", {
            "name": c.get("first_name") or "N/A", "lastname": c.get("last_name") or "N/A", "email": c["email"],
            "phone": c.get("phone"), "newsletter": 1 if c.get("newsletter") else 0, **addr, **dates(c)}, {},
            int(c["source_id"]))
    gone = max(emu.data["products"], default=0) + 1000  # a product deleted since: its lines keep the id
    for o in _all(store, "orders"):
        def address(prefix: str, a: dict | None) -> dict:
            a = a or {}
            name = " ".join(x for x in (a.get("first_name"), a.get("last_name")) if x)
            return {f"{prefix}_name": name or None, f"{prefix}_company": a.get("company"),
                    f"{prefix}_address": a.get("street"), f"{prefix}_city": a.get("city"),
                    f"{prefix}_zipcode": a.get("postcode"), f"{prefix}_country": a.get("country"),
                    f"{prefix}_phone": a.get("phone")}
        oid = emu._insert("orders", {
            **address("customer_address", o.get("billing_address")), "customer_address_email": o.get("email"),
            **address("billing_address", o.get("billing_address")), **address("shipping_address", o.get("shipping_address")),
            "currency": o.get("currency") or "NOK", "currency_value": 1.0, "reference": o.get("number"),
            "payment_method": "Faktura", "payment_module": "invoice", **dates(o)},
            {"customer": ids["customers"].get(o.get("customer_id")),
             "order-status": STATUS.get(str(o.get("status") or "").lower(), 1)}, int(o["source_id"]))
        ids["orders"][o["source_id"]] = oid
        for i in o.get("items") or []:
            price, qty = Decimal(str(i.get("price") or 0)), int(i.get("qty") or 0)
            rate = (Decimal(str(i.get("tax") or 0)) * 100 / (price * qty)) if price and qty else Decimal(0)
            emu._insert("order-products", {"name": i.get("name"), "sku": i.get("sku"), "price": float(price),
                                           "final_price": float(price), "original_price": float(price),
                                           "quantity": qty, "tax_rate": float(round(rate, 10)), **dates(o)},
                        {"order": oid, "product": gone if int(o["source_id"]) % 50 == 1 else
                         ids["products"].get(i.get("product_id"))})
        for field, cls in (*facts.ORDER_TOTAL_CLASSES.items(), ("discount", facts.DISCOUNT_TOTAL_CLASS)):
            value = o.get(field)
            if value is None or (field == "discount" and not value):
                continue
            value = -abs(Decimal(str(value))) if field == "discount" else Decimal(str(value))
            emu._insert("order-totals", {"title": cls, "text": f"kr {value:.2f}", "value": float(value),
                                         "class": cls, "sort": facts.ORDER_TOTAL_SORT[cls],
                                         "order_total_type": "total", **dates(o)}, {"order": oid})
        emu._insert("order-status-history", {"comments": "", **dates(o)},
                    {"order": oid, "order-status": STATUS.get(str(o.get("status") or "").lower(), 1)})
    for r in _all(store, "reviews"):
        pid, cid = ids["products"].get(r.get("product_id")), ids["customers"].get(r.get("customer_id"))
        if pid and cid:  # `name` is the reviewer's (osCommerce reviews have no title)
            who = emu.data["customers"][cid]["attributes"]
            emu._insert("product-reviews", {"name": f"{who['name']} {who['lastname']}", "rating": r.get("rating"),
                                            "review": {LANG: r.get("text") or ""}, **dates(r)},
                        {"product": pid, "customer": cid}, int(r["source_id"]))
