"""Wix JSON ↔ the canonical model, both ways: `<entity>(wix) -> canonical` for the source, `<entity>_out(canonical)
-> wix` for the emulator. Shapes from Wix's REST reference (Stores Catalog V1 and V3, eCom Orders, Contacts v4,
Reviews, Categories, Tax Groups); field names as the reference writes them.

Wix ids are GUIDs; they are carried as opaque text. V1 and V3 differ in almost every product field (V1 prices are
numbers, V3 prices strings; V1 enums lower-case, V3 upper-case; V1 discounts are a product-level `discount`, V3 an
`actualPrice` below a `compareAtPrice` per variant).
"""

from __future__ import annotations

import json
from decimal import Decimal

from cart_pipelines.platforms.kit.http import json_body

ALL_PRODUCTS = "00000000-000000-000000-000000000001"  # V1's automatic "All Products" collection
DEFAULT_VARIANT = "00000000-0000-0000-0000-000000000000"  # V1's one variant of a product without options
REVIEWS_NAMESPACE = "stores"

# canonical order status ↔ eCom (status, paymentStatus, fulfillmentStatus)
ORDER_STATES = {
    "complete": ("APPROVED", "PAID", "FULFILLED"),
    "processing": ("APPROVED", "PAID", "NOT_FULFILLED"),
    "refunded": ("APPROVED", "FULLY_REFUNDED", "NOT_FULFILLED"),
    "canceled": ("CANCELED", "NOT_PAID", "NOT_FULFILLED"),
    "pending": ("APPROVED", "NOT_PAID", "NOT_FULFILLED"),
    "on_hold": ("PENDING", "PENDING", "NOT_FULFILLED"),
}
MODERATION = {"APPROVED": "approved", "IN_MODERATION": "pending", "SUBMITTED": "pending", "REJECTED": "rejected"}
# Wix Reviews moderate a review to APPROVED, IN_MODERATION or REJECTED (Update Moderation Status): no spam or trash.
# A review a shop marks as spam is rejected there, one it throws away is deleted (kit/emulator_cases.py)
REVIEW_STATUS_HELD = {"spam": "rejected", "trashed": None}
# Wix Stores has no trash: a deleted product is gone from every query (Delete Product), its id stays on old orders'
# line items (catalogReference.catalogItemId), which keep their name, SKU and price
PRODUCT_LIFECYCLE_HELD = {"trashed": None}


def wix_error(response) -> str | None:
    """`message` and the applicationError's code and description of a Wix error body."""
    body = json_body(response)
    if not isinstance(body, dict):
        return None
    app = (body.get("details") or {}).get("applicationError") or {}
    parts = [body.get("message"), app.get("code"), app.get("description")]
    return " — ".join(str(p) for p in parts if p) or None


def _money(value) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _str(value) -> str | None:
    return None if value is None else str(value)


def _amount(obj) -> Decimal | None:
    return _money((obj or {}).get("amount"))


# --- categories: V1 collections, V3 categories ----------------------------------------------------------------------
def collection(c: dict) -> dict:
    """A V1 collection: flat (no parent, no order)."""
    return {"source_id": c["id"], "parent_id": None, "name": c["name"], "path": c["name"], "url_key": c.get("slug"),
            "is_visible": c.get("visible"), "position": None, "updated_at": None}


def categories(rows: list[dict]) -> list[dict]:
    """V3 categories with paths: the whole tree is at hand (a path needs every ancestor)."""
    by_id = {c["id"]: c for c in rows}

    def path(c: dict, seen=()) -> str:
        parent = by_id.get((c.get("parentCategory") or {}).get("id"))
        if parent is None or parent["id"] in seen:
            return c["name"]
        return f"{path(parent, seen + (c['id'],))}/{c['name']}"

    return [{"source_id": c["id"], "parent_id": _str((c.get("parentCategory") or {}).get("id")),
             "name": c["name"], "path": path(c), "url_key": c.get("slug"), "is_visible": c.get("visible"),
             "position": (c.get("parentCategory") or {}).get("index"), "updated_at": c.get("updatedDate")}
            for c in rows]


def category_out(c: dict) -> dict:
    return {"id": c["source_id"], "revision": "1", "createdDate": c.get("updated_at"),
            "updatedDate": c.get("updated_at"), "name": c["name"], "slug": (c.get("url_key") or "").split("/")[-1],
            "visible": bool(c.get("is_visible", True)), "itemCounter": 0, "description": None,
            "parentCategory": ({"id": c["parent_id"], "index": c.get("position")} if c.get("parent_id")
                               else {"id": None, "index": c.get("position")}),
            "treeReference": {"appNamespace": "@wix/stores", "treeKey": None}}


def collection_out(c: dict) -> dict:
    return {"id": c["source_id"], "name": c["name"], "media": {"items": []}, "numberOfProducts": 0,
            "description": "", "slug": (c.get("url_key") or "").split("/")[-1], "visible": bool(c.get("is_visible"))}


# --- manufacturers: V3 brands; V1 has a brand string per product --------------------------------------------------
def brand(b: dict) -> dict:
    return {"source_id": b["id"], "name": b["name"], "url_key": None, "updated_at": b.get("updatedDate")}


def brand_name(name: str) -> dict:
    """A V1 brand: only a name on products, so the name is its id too."""
    return {"source_id": name, "name": name, "url_key": None, "updated_at": None}


def brand_out(m: dict) -> dict:
    return {"id": m["source_id"], "revision": "1", "createdDate": m.get("updated_at"),
            "updatedDate": m.get("updated_at"), "name": m["name"], "assignedProductsCount": None}


# --- tax classes: eCom tax groups (names only; rates come from tax regions, not the group) -------------------------
def tax_group(t: dict) -> dict:
    return {"source_id": t["id"], "name": t["name"], "rates": None, "updated_at": t.get("updatedDate")}


def tax_group_out(t: dict) -> dict:
    return {"id": t["source_id"], "name": t["name"], "revision": "1", "createdDate": t.get("updated_at"),
            "updatedDate": t.get("updated_at")}


# --- products -------------------------------------------------------------------------------------------------------
def _status(visible) -> str:
    return "enabled" if visible is not False else "disabled"


def product_v1(p: dict, brands: bool = True) -> dict:
    pd = p.get("priceData") or {}
    price, discounted = _money(pd.get("price")), _money(pd.get("discountedPrice"))
    media = [m for m in ((p.get("media") or {}).get("items") or []) if m.get("image")]
    options = [o["name"] for o in p.get("productOptions") or []]
    variants = []
    for v in p.get("variants") or []:
        if v.get("id") == DEFAULT_VARIANT or not v.get("choices"):
            continue
        data = v.get("variant") or {}
        choices = v.get("choices") or {}
        variants.append({"source_id": v["id"], "sku": data.get("sku") or None,
                         "price": _money((data.get("priceData") or {}).get("price")),
                         "stock": (v.get("stock") or {}).get("quantity"),
                         "options": [{"name": n, "value": choices[n]} for n in options if n in choices],
                         "status": _status(data.get("visible"))})
    first = next((v for v in p.get("variants") or [] if v.get("variant")), {})
    return {
        "source_id": p["id"], "sku": p.get("sku") or None, "name": p["name"],
        "description_html": p.get("description") or None, "price": price,
        "special_price": discounted if discounted is not None and price is not None and discounted < price else None,
        "weight": p.get("weight") if p.get("weight") is not None else (first.get("variant") or {}).get("weight"),
        "stock": (p.get("stock") or {}).get("quantity"), "status": _status(p.get("visible")),
        "url_key": p.get("slug"), "category_ids": [c for c in p.get("collectionIds") or [] if c != ALL_PRODUCTS],
        "manufacturer_id": (p.get("brand") or None) if brands else None, "tax_class_id": None,
        "variants": variants,
        "images": [{"url": m["image"]["url"], "position": n, "alt": m["image"].get("altText")}
                   for n, m in enumerate(media)],
        "created_at": p.get("createdDate"), "updated_at": p.get("lastUpdated"),
    }


def product_v3(p: dict, variants: list[dict]) -> dict:
    """A V3 product with its variants from the Read-Only Variants API (queries return no variant data)."""
    def regular(v):
        price = v.get("price") or {}
        return _amount(price.get("compareAtPrice")) or _amount(price.get("actualPrice"))

    # the product's price and SKU come from what it sells: its first visible variant (a hidden one is not sold)
    first = next((v for v in variants if v.get("visible") is not False), variants[0] if variants else {})
    fp = first.get("price") or {}
    price, actual = regular(first) if first else None, _amount(fp.get("actualPrice"))
    items = ((p.get("media") or {}).get("itemsInfo") or {}).get("items") or []
    with_options = [v for v in variants if v.get("optionChoices")]
    return {
        "source_id": p["id"], "sku": first.get("sku") if not with_options else None, "name": p["name"],
        "description_html": p.get("plainDescription") or None, "price": price,
        "special_price": actual if _amount(fp.get("compareAtPrice")) is not None else None,
        "weight": (first.get("physicalProperties") or {}).get("weight"), "stock": None,
        "status": _status(p.get("visible")), "url_key": p.get("slug"),
        "category_ids": [c["id"] for c in (p.get("directCategoriesInfo") or {}).get("categories") or []],
        "manufacturer_id": _str((p.get("brand") or {}).get("id")), "tax_class_id": p.get("taxGroupId"),
        "variants": [{"source_id": v["id"], "sku": v.get("sku"), "price": regular(v), "stock": None,
                      "options": [{"name": (c.get("optionChoiceNames") or {}).get("optionName"),
                                   "value": (c.get("optionChoiceNames") or {}).get("choiceName")}
                                  for c in v.get("optionChoices") or []],
                      "status": _status(v.get("visible"))} for v in with_options],
        "images": [{"url": m.get("url") or m.get("image"), "position": n, "alt": m.get("altText")}
                   for n, m in enumerate(items)],
        "created_at": p.get("createdDate"), "updated_at": p.get("updatedDate"),
    }


def _num(value) -> float | None:
    return None if value is None else float(value)


def _slug(p: dict) -> str:
    return (p.get("url_key") or f"product-{p['source_id']}").split("/")[-1]


def product_v1_out(p: dict, currency: str, brand_names: dict, numeric_id: int) -> dict:
    price, special = _num(p.get("price")), _num(p.get("special_price"))
    discounted = special if special is not None else price
    variants = p.get("variants") or []
    names = list(dict.fromkeys(o["name"] for v in variants for o in v.get("options") or []))

    def price_data(regular):
        off = regular - (price - discounted) if regular is not None and price is not None else regular
        return {"currency": currency, "price": regular, "discountedPrice": round(off, 2) if off is not None else None,
                "formatted": {"price": f"{regular:.2f} {currency}", "discountedPrice": f"{off:.2f} {currency}"}}

    media = [{"id": f"{p['source_id']}-{i['position']}.jpg", "title": i.get("alt") or "", "mediaType": "image",
              "image": {"url": i["url"], "width": 1000, "height": 1000, "format": "jpg", "altText": i.get("alt")},
              "thumbnail": {"url": i["url"], "width": 50, "height": 50}} for i in p.get("images") or []]
    stocked = p.get("stock")
    out_variants = [{"id": v["source_id"], "choices": {o["name"]: o["value"] for o in v.get("options") or []},
                     "variant": {"priceData": price_data(_num(v.get("price"))), "weight": _num(p.get("weight")),
                                 "sku": v.get("sku") or "", "visible": v.get("status") != "disabled"},
                     "stock": {"trackQuantity": True, "quantity": v.get("stock"), "inStock": (v.get("stock") or 0) > 0}}
                    for v in variants] or [
        {"id": DEFAULT_VARIANT, "choices": {}, "variant": {"priceData": price_data(price), "weight": _num(p.get("weight")),
                                                           "sku": p.get("sku") or "", "visible": True},
         "stock": {"trackQuantity": True, "quantity": stocked, "inStock": (stocked or 0) > 0}}]
    quantity = sum(v.get("stock") or 0 for v in variants) if variants else stocked
    return {
        "id": p["source_id"], "name": p["name"], "slug": _slug(p), "visible": p.get("status") != "disabled",
        "productType": "physical", "description": p.get("description_html") or "",
        "sku": "" if variants else (p.get("sku") or ""), "weight": None if variants else _num(p.get("weight")),
        "weightRange": {"minValue": _num(p.get("weight")), "maxValue": _num(p.get("weight"))},
        "stock": {"trackInventory": True, "quantity": quantity,
                  "inventoryStatus": "IN_STOCK" if (quantity or 0) > 0 else "OUT_OF_STOCK"},
        "price": price_data(price), "priceData": price_data(price), "convertedPriceData": price_data(price),
        "priceRange": {"minValue": price, "maxValue": price},
        "costAndProfitData": None, "costRange": {"minValue": 0, "maxValue": 0},
        "additionalInfoSections": [], "ribbons": [], "customTextFields": [],
        "media": {"mainMedia": media[0] if media else None, "items": media},
        "manageVariants": bool(variants),
        "productOptions": [{"optionType": "drop_down", "name": n,
                            "choices": [{"value": val, "description": val, "inStock": True, "visible": True}
                                        for val in dict.fromkeys(o["value"] for v in variants
                                                                 for o in v.get("options") or [] if o["name"] == n)]}
                           for n in names],
        "productPageUrl": {"base": "https://example-shop.wixsite.com/shop", "path": f"/product-page/{_slug(p)}"},
        "numericId": str(numeric_id), "inventoryItemId": f"inv-{p['source_id']}",
        "discount": {"type": "AMOUNT" if special is not None else "NONE",
                     "value": round(price - special, 2) if special is not None and price is not None else 0},
        "collectionIds": [ALL_PRODUCTS, *(p.get("category_ids") or [])],
        "variants": out_variants,
        "lastUpdated": p.get("updated_at"), "createdDate": p.get("created_at"),
        "seoData": {"tags": []}, "ribbon": "", "brand": brand_names.get(p.get("manufacturer_id")),
    }


def product_v3_out(p: dict, currency: str, fields: set[str]) -> dict:
    price, special = p.get("price"), p.get("special_price")
    shown = special if special is not None else price

    def money(v):
        return None if v is None else {"amount": f"{Decimal(str(v)):.2f}", "formattedAmount": f"{v} {currency}"}

    images = [{"id": f"{p['source_id']}-{i['position']}", "url": i["url"], "altText": i.get("alt"),
               "displayName": None, "mediaType": "IMAGE"} for i in p.get("images") or []]
    out = {
        "id": p["source_id"], "revision": "1", "createdDate": p.get("created_at"), "updatedDate": p.get("updated_at"),
        "name": p["name"], "slug": _slug(p), "visible": p.get("status") != "disabled", "visibleInPos": True,
        "media": {"main": images[0] if images else None}, "seoData": {"tags": []},
        "taxGroupId": p.get("tax_class_id"), "options": [], "modifiers": [],
        "brand": ({"id": p["manufacturer_id"]} if p.get("manufacturer_id") else None),
        "infoSections": [], "mainCategoryId": (p.get("category_ids") or [None])[0],
        "inventory": {"availabilityStatus": "IN_STOCK" if (p.get("stock") or 0) > 0 else "OUT_OF_STOCK",
                      "preorderStatus": "DISABLED"},
        "productType": "PHYSICAL", "physicalProperties": {}, "handle": f"product-{p['source_id']}",
        "actualPriceRange": {"minValue": money(shown), "maxValue": money(shown)},
        "compareAtPriceRange": {"minValue": money(price), "maxValue": money(price)},
        "variantSummary": {"variantCount": max(1, len(p.get("variants") or []))},
    }
    if "PLAIN_DESCRIPTION" in fields:
        out["plainDescription"] = p.get("description_html")
    if "CURRENCY" in fields:
        out["currency"] = currency
    if "MEDIA_ITEMS_INFO" in fields:
        out["media"]["itemsInfo"] = {"items": images}
    if "DIRECT_CATEGORIES_INFO" in fields:
        out["directCategoriesInfo"] = {"categories": [{"id": c, "index": n}
                                                      for n, c in enumerate(p.get("category_ids") or [])]}
    return out


def variants_v3_out(p: dict, fields: set[str]) -> list[dict]:
    """The Read-Only Variants API's variants of one product: every V3 product has at least one."""
    price, special = p.get("price"), p.get("special_price")

    def price_info(regular):
        if special is None:
            return {"actualPrice": {"amount": f"{Decimal(str(regular)):.2f}"}}
        off = Decimal(str(regular)) - (Decimal(str(price)) - Decimal(str(special)))
        return {"actualPrice": {"amount": f"{off:.2f}"}, "compareAtPrice": {"amount": f"{Decimal(str(regular)):.2f}"}}

    product_data = {"productId": p["source_id"], "name": p["name"], "productType": "PHYSICAL", "slug": _slug(p),
                    "visible": p.get("status") != "disabled", "revision": "1"}
    physical = {"weight": p.get("weight")}
    rows = p.get("variants") or []
    if not rows:
        return [{"id": f"{p['source_id']}-0", "variantId": f"{p['source_id']}-0", "visible": True,
                 "sku": p.get("sku"), "optionChoices": [], "price": price_info(price), "physicalProperties": physical,
                 "inventoryStatus": {"inStock": (p.get("stock") or 0) > 0, "preorderEnabled": False},
                 "productData": product_data}]
    out = []
    for v in rows:
        choices = [{"optionChoiceIds": {"optionId": o["name"], "choiceId": o["value"]},
                    **({"optionChoiceNames": {"optionName": o["name"], "choiceName": o["value"],
                                              "renderType": "TEXT_CHOICES"}}
                       if "VARIANT_OPTION_CHOICE_NAMES" in fields else {})} for o in v.get("options") or []]
        out.append({"id": v["source_id"], "variantId": v["source_id"], "visible": v.get("status") != "disabled",
                    "sku": v.get("sku"),
                    "optionChoices": choices, "price": price_info(v.get("price")), "physicalProperties": physical,
                    "inventoryStatus": {"inStock": (v.get("stock") or 0) > 0, "preorderEnabled": False},
                    "productData": product_data})
    return out


# --- customers: contacts --------------------------------------------------------------------------------------------
def contact(c: dict) -> dict:
    info = c.get("info") or {}
    name = info.get("name") or {}
    emails = (info.get("emails") or {}).get("items") or []
    phones = (info.get("phones") or {}).get("items") or []
    email = (c.get("primaryInfo") or {}).get("email") or next((e["email"] for e in emails if e.get("primary")),
                                                              emails[0]["email"] if emails else None)
    phone = (c.get("primaryInfo") or {}).get("phone") or (phones[0].get("phone") if phones else None)
    status = (c.get("primaryEmail") or {}).get("subscriptionStatus")
    addresses = []
    for a in (info.get("addresses") or {}).get("items") or []:
        ad = a.get("address") or {}
        addresses.append({"first_name": name.get("first"), "last_name": name.get("last"), "company": info.get("company"),
                          "street": ad.get("addressLine"), "city": ad.get("city"), "postcode": ad.get("postalCode"),
                          "region": ad.get("subdivision"), "country": ad.get("country"), "phone": phone,
                          "is_default_billing": a.get("tag") == "BILLING", "is_default_shipping": a.get("tag") == "SHIPPING"})
    return {"source_id": c["id"], "email": email, "first_name": name.get("first"), "last_name": name.get("last"),
            "phone": phone, "newsletter": status == "SUBSCRIBED" if status else None, "addresses": addresses,
            "password_hash": None, "password_algorithm": None,
            "created_at": c.get("createdDate"), "updated_at": c.get("updatedDate")}


def contact_out(c: dict, fieldsets: set[str]) -> dict:
    email, phone = c.get("email"), c.get("phone")
    info = {"name": {"first": c.get("first_name"), "last": c.get("last_name")},
            "emails": {"items": [{"id": f"{c['source_id']}-e", "tag": "MAIN", "email": email, "primary": True}]
                       if email else []},
            "phones": {"items": [{"id": f"{c['source_id']}-p", "tag": "MOBILE", "phone": phone, "primary": True}]
                       if phone else []}}
    if fieldsets & {"FULL", "EXTENDED", "COMMUNICATION_DETAILS"}:
        info["addresses"] = {"items": [
            {"id": f"{c['source_id']}-a{n}", "tag": "BILLING" if a.get("is_default_billing") else "SHIPPING"
             if a.get("is_default_shipping") else "HOME",
             "address": {"addressLine": a.get("street"), "city": a.get("city"), "postalCode": a.get("postcode"),
                         "subdivision": a.get("region"), "country": a.get("country")}}
            for n, a in enumerate(c.get("addresses") or [])]}
    if "FULL" in fieldsets:
        info.update(company=None, jobTitle=None, birthdate=None, locale="nb-no", labelKeys={"items": []},
                    extendedFields={"items": {}})
    return {"id": c["source_id"], "revision": 1, "source": {"sourceType": "WIX_STORES"},
            "createdDate": c.get("created_at"), "updatedDate": c.get("updated_at"),
            "lastActivity": {"activityDate": c.get("updated_at"), "activityType": "CONTACT_CREATED"},
            "primaryInfo": {"email": email, "phone": phone}, "info": info,
            "primaryEmail": {"email": email, "subscriptionStatus": "SUBSCRIBED" if c.get("newsletter")
                             else "UNSUBSCRIBED" if c.get("newsletter") is False else "NOT_SET",
                             "deliverabilityStatus": "VALID"},
            "primaryPhone": {"phone": phone} if phone else None}


# --- orders ---------------------------------------------------------------------------------------------------------
def _address(block: dict | None) -> dict | None:
    if not block:
        return None
    ad, who = block.get("address") or {}, block.get("contactDetails") or {}
    return {"first_name": who.get("firstName"), "last_name": who.get("lastName"), "company": who.get("company"),
            "street": ad.get("addressLine"), "city": ad.get("city"), "postcode": ad.get("postalCode"),
            "region": ad.get("subdivision"), "country": ad.get("country"), "phone": who.get("phone")}


def _status_of(o: dict) -> str:
    state = (o.get("status"), o.get("paymentStatus"), o.get("fulfillmentStatus"))
    for name, wix in ORDER_STATES.items():
        if wix == state:
            return name
    if o.get("status") == "CANCELED":
        return "canceled"
    return "refunded" if o.get("paymentStatus") == "FULLY_REFUNDED" else str(o.get("status") or "").lower() or None


def order(o: dict) -> dict:
    ps = o.get("priceSummary") or {}
    buyer = o.get("buyerInfo") or {}
    billing = _address(o.get("billingInfo"))
    shipping = _address(((o.get("shippingInfo") or {}).get("logistics") or {}).get("shippingDestination"))
    return {
        "source_id": o["id"], "number": _str(o.get("number")), "customer_id": buyer.get("contactId"),
        "email": buyer.get("email"), "customer_first_name": (billing or {}).get("first_name"),
        "customer_last_name": (billing or {}).get("last_name"), "status": _status_of(o),
        "currency": o.get("currency"), "subtotal": _amount(ps.get("subtotal")), "shipping": _amount(ps.get("shipping")),
        "tax": _amount(ps.get("tax")), "discount": _amount(ps.get("discount")), "grand_total": _amount(ps.get("total")),
        "items": [{"source_id": i["id"], "product_id": (i.get("catalogReference") or {}).get("catalogItemId"),
                   "sku": (i.get("physicalProperties") or {}).get("sku"),
                   "name": (i.get("productName") or {}).get("original"), "qty": i.get("quantity"),
                   "price": _amount(i.get("price")), "tax": _amount((i.get("taxDetails") or {}).get("totalTax"))}
                  for i in o.get("lineItems") or []],
        "billing_address": billing, "shipping_address": shipping,
        "created_at": o.get("createdDate"), "updated_at": o.get("updatedDate"),
    }


def _price(v, currency: str) -> dict:
    amount = f"{Decimal(str(v or 0)):.2f}"
    return {"amount": amount, "formattedAmount": f"{amount} {currency}"}


def _address_out(a: dict | None) -> dict | None:
    if not a:
        return None
    return {"address": {"country": a.get("country"), "subdivision": a.get("region"), "city": a.get("city"),
                        "postalCode": a.get("postcode"), "addressLine": a.get("street")},
            "contactDetails": {"firstName": a.get("first_name"), "lastName": a.get("last_name"),
                               "phone": a.get("phone"), "company": a.get("company")}}


def order_out(o: dict) -> dict:
    cur = o.get("currency") or "USD"
    status, payment, fulfillment = ORDER_STATES.get(o.get("status"), ("APPROVED", "NOT_PAID", "NOT_FULFILLED"))
    items = [{"id": i["source_id"], "productName": {"original": i.get("name"), "translated": i.get("name")},
              "catalogReference": {"catalogItemId": i.get("product_id"),
                                   "appId": "215238eb-22a5-4c36-9e7b-e7c08025e04e"},
              "quantity": i.get("qty"), "totalDiscount": _price(0, cur), "descriptionLines": [],
              "physicalProperties": {"weight": None, "sku": i.get("sku"), "shippable": True}, "itemType": {"preset": "PHYSICAL"},
              "price": _price(i.get("price"), cur), "priceBeforeDiscounts": _price(i.get("price"), cur),
              "totalPriceBeforeTax": _price(Decimal(str(i.get("price") or 0)) * (i.get("qty") or 0), cur),
              "taxDetails": {"taxRate": "0", "totalTax": _price(i.get("tax"), cur)}, "paymentOption": "FULL_PAYMENT"}
             for i in o.get("items") or []]
    return {
        "id": o["source_id"], "number": o.get("number"), "createdDate": o.get("created_at"),
        "updatedDate": o.get("updated_at"), "lineItems": items,
        "buyerInfo": {"contactId": o.get("customer_id"), "email": o.get("email"),
                      **({"memberId": o["customer_id"]} if o.get("customer_id") else {"visitorId": f"v-{o['source_id']}"})},
        "paymentStatus": payment, "fulfillmentStatus": fulfillment, "buyerLanguage": "nb", "weightUnit": "KG",
        "currency": cur, "taxIncludedInPrices": False, "siteLanguage": "nb",
        "priceSummary": {k: _price(o.get(c), cur) for k, c in (("subtotal", "subtotal"), ("shipping", "shipping"),
                                                              ("tax", "tax"), ("discount", "discount"),
                                                              ("total", "grand_total"))},
        "billingInfo": _address_out(o.get("billing_address")),
        "shippingInfo": {"title": "Standard", "logistics": {"shippingDestination": _address_out(o.get("shipping_address"))}},
        "status": status, "archived": False, "activities": [], "channelInfo": {"type": "WEB"},
        "attributionSource": "UNSPECIFIED", "createdBy": {"contactId": o.get("customer_id")}, "seenByAHuman": True,
    }


# --- reviews --------------------------------------------------------------------------------------------------------
def review(r: dict) -> dict:
    content = r.get("content") or {}
    return {"source_id": r["id"], "product_id": r.get("entityId"), "customer_id": (r.get("author") or {}).get("contactId"),
            "rating": content.get("rating"), "title": content.get("title"), "text": content.get("body"),
            "status": MODERATION.get((r.get("moderation") or {}).get("moderationStatus")),
            "created_at": r.get("createdDate"), "updated_at": r.get("updatedDate")}


def review_out(r: dict) -> dict:
    status = {"approved": "APPROVED", "pending": "IN_MODERATION"}.get(r.get("status"), "REJECTED")
    return {"namespace": REVIEWS_NAMESPACE, "entityId": r.get("product_id"), "id": r["source_id"],
            "content": {"title": r.get("title"), "body": r.get("text"), "media": [], "rating": r.get("rating")},
            "createdDate": r.get("created_at"), "updatedDate": r.get("updated_at"),
            "author": {"contactId": r.get("customer_id"), "authorName": None}, "foundHelpful": 0, "foundUnhelpful": 0,
            "helpfulness": 0, "moderation": {"moderationStatus": status, "manuallyChanged": False}, "revision": "1",
            "verified": bool(r.get("customer_id")), "origin": {"type": "ORGANIC"}, "reviewDate": r.get("created_at"),
            "publishCount": 1 if status == "APPROVED" else 0}


def filter_text(conditions: dict) -> str:
    """V1's filter and sort are JSON written into a string."""
    return json.dumps(conditions, separators=(",", ":"))
