"""The write side of the WooCommerce emulator: create / update / delete and `{resource}/batch`, as REST API v3 does.

Documented behaviour followed (plugins/woocommerce/includes/rest-api/Controllers/Version3/class-wc-rest-controller.php
and the resource controllers in github.com/woocommerce/woocommerce; https://woocommerce.github.io/woocommerce-rest-api-docs/):
- `POST {resource}/batch` with {"create": [...], "update": [...], "delete": [ids]}: at most 100 objects in all,
  else 413 `woocommerce_rest_request_entity_too_large` "Unable to accept more than 100 items for this request.";
  each item answers on its own: the object, or {"id": 0 (create) / id, "error": {"code", "message", "data"}};
  batch deletes are forced. Variations have their own `products/{id}/variations/batch`; tax classes have none.
- a key with Read permission only: 401 `woocommerce_rest_authentication_error` "The API key provided does not have
  write permissions." (WC_REST_Authentication::check_permissions; knob `denied_scopes=("write",)`).
- terms (categories, brands): WordPress's wp_insert_term errors (`term_exists` with `resource_id` for the same name
  under the same parent, `duplicate_term_slug`), a parent that does not exist; ids are assigned by the shop.
- tax classes: identified by slug (sanitize_title of the name); "Standard" is built in; `tax_class_exists`.
- products: SKUs unique across products and variations (`product_invalid_sku` "Invalid or duplicated SKU."); slugs
  made unique (-2, -3); unknown category ids dropped and an unknown tax class becomes Standard (as WC_Product does);
  images are sideloaded into the media library (their `src` becomes the shop's uploads URL); a variable product has
  no prices of its own.
- customers: e-mail unique (`registration-error-email-exists`), username from the e-mail; date_created read-only.
- orders: WooCommerce computes the totals (calculate_totals): subtotal = Σ line subtotal, discount_total =
  Σ (subtotal − total), shipping_total = Σ shipping lines, fees summed, taxes computed from the shop's rates only when
  the shop calculates taxes (`woocommerce_calc_taxes`, "no" on a new shop; `emulator.calc_taxes`); a customer_id
  that is no user → `woocommerce_rest_invalid_customer_id`; a line item needs a product
  (`woocommerce_rest_required_product_reference`); `sku` of a line item is the product's (read-only).
- refunds: `POST orders/{id}/refunds` (WC_REST_Order_Refunds_V2_Controller, wc_create_refund): amount above zero
  and at most what is left to refund; `api_refund` (default true) asks the gateway, which bank transfer cannot;
  a full refund makes the order refunded; the refund's meta data and date are kept for `GET orders/{id}/refunds`,
  and its `line_items` ({id, quantity, refund_total, refund_tax}) become its lines on the order's line items they
  name (an id the order does not hold is passed over, the quantity is not checked: wc_create_refund does neither).
- reviews: product must exist (`woocommerce_rest_product_invalid_id`), duplicates (same product, e-mail and text)
  → 409 `comment_duplicate`.
- a shop's own validation (a plugin's `woocommerce_rest_pre_insert_*` filter returning a WP_Error) refuses the
  records Knobs.reject_rate picks, by the source id our target keeps in their meta data.
"""

from __future__ import annotations

import html
import re
import threading
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

from werkzeug.routing import Rule

from cart_pipelines.platforms.woocommerce import emulator as wc

API = "/wp-json/wc/v3"
BATCH_LIMIT = 100
SOURCE_META = "_cart_pipelines_source_id"  # the meta key our target writes; rejections pick records by it
RESOURCES = {  # REST base → (capability kind, store entity)
    "products/categories": ("categories", "categories"),
    "products/brands": ("brands", "manufacturers"),
    "products/reviews": ("reviews", "reviews"),
    "products": ("products", "products"),
    "customers": ("customers", "customers"),
    "orders": ("orders", "orders"),
    "taxes": ("taxes", "tax_classes"),
}
WRITE_RULES = [r for base in RESOURCES for r in (
    Rule(f"{API}/{base}", endpoint="w_create", methods=["POST"], defaults={"base": base}),
    Rule(f"{API}/{base}/batch", endpoint="w_batch", methods=["POST", "PUT", "PATCH"], defaults={"base": base}),
    Rule(f"{API}/{base}/<int:id_>", endpoint="w_item", methods=["POST", "PUT", "PATCH", "DELETE"],
         defaults={"base": base}))] + [
    Rule(f"{API}/products/<int:product_id>/variations", endpoint="v_create", methods=["POST"]),
    Rule(f"{API}/products/<int:product_id>/variations/batch", endpoint="v_batch", methods=["POST", "PUT", "PATCH"]),
    Rule(f"{API}/products/<int:product_id>/variations/<int:id_>", endpoint="v_item",
         methods=["POST", "PUT", "PATCH", "DELETE"]),
    Rule(f"{API}/taxes/classes", endpoint="tc_create", methods=["POST"]),
    Rule(f"{API}/orders/<int:order_id>/refunds", endpoint="r_create", methods=["POST"]),
    Rule(f"{API}/taxes/classes/<slug>", endpoint="tc_delete", methods=["DELETE"]),
]
CENT = Decimal("0.01")


def sanitize_title(text: str) -> str:
    return wc.slugify(html.unescape(text or "")) if text else ""


def now_gmt() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def dec(value) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except ArithmeticError:
        return Decimal(0)


class WooWrites:
    """Mixin of WooCommerceEmulator: the write endpoints."""

    writes = 0  # successful writes (tests: a re-run writes nothing)
    calc_taxes = False  # WooCommerce → Settings → General → "Enable tax rates and calculations" (off by default)

    def _write_state(self):
        if not hasattr(self, "_wlock"):
            self._wlock = threading.RLock()
            self.writes = 0
            self._ids = {}
        return self._wlock

    def _new_id(self, key: str, entity: str | None = None) -> int:
        with self._write_state():
            if key not in self._ids:
                self._ids[key] = (self.store.next_id(entity) - 1) if entity else 1_000_000
            self._ids[key] += 1
            return self._ids[key]

    # --- plumbing ------------------------------------------------------------------------------------------
    def _writing(self, request, kind: str, work):
        self._write_state()
        extra = request.environ.get("woocommerce.ratelimit", {})
        try:
            params = wc.php_query(request.query_string.decode("latin-1"))
            user = self.authenticate(request, params)
            if user and request.method != "GET" and "write" in self.knobs.denied_scopes:
                raise wc.WpError(401, "woocommerce_rest_authentication_error",
                                 "The API key provided does not have write permissions.")
            if not user:
                raise wc.WpError(401, "woocommerce_rest_cannot_create", "Sorry, you are not allowed to create "
                                                                         "resources.")
            if wc.CAPABILITY.get(kind, "manage_woocommerce") in self.knobs.denied_scopes:
                raise wc.WpError(403, "woocommerce_rest_cannot_create", "Sorry, you are not allowed to create "
                                                                         "resources.")
            body = request.get_json(silent=True)
            if body is None:
                body = dict(request.form)
            status, out = work(body if isinstance(body, dict) else {}, params)
        except wc.WpError as err:
            return self.wp_error(err, extra)
        return self.json(out, status, extra)

    def _one(self, fn, *args):
        """Run one write; a WpError becomes the batch item error."""
        try:
            out = fn(*args)
            with self._write_state():
                self.writes += 1
            return out
        except wc.WpError as err:
            return {"error": {"code": err.code, "message": err.message, "data": {"status": err.status, **err.data}}}

    def _batch(self, body: dict, create, update, delete) -> dict:
        items = {k: body.get(k) or [] for k in ("create", "update", "delete")}
        total = sum(len(v) for v in items.values())
        if total > BATCH_LIMIT:
            raise wc.WpError(413, "woocommerce_rest_request_entity_too_large",
                             f"Unable to accept more than {BATCH_LIMIT} items for this request.")
        out = {}
        if items["create"]:
            out["create"] = [{"id": 0, **r} if "error" in r else r for r in (self._one(create, i) for i in
                                                                              items["create"])]
        if items["update"]:
            out["update"] = [{"id": i.get("id"), **r} if "error" in r else r
                             for i, r in ((i, self._one(update, int(i.get("id") or 0), i)) for i in items["update"])]
        if items["delete"]:
            out["delete"] = [{"id": int(i), **r} if "error" in r else r
                             for i, r in ((i, self._one(delete, int(i))) for i in items["delete"] if int(i))]
        return out

    def _ops(self, base: str):
        kind = RESOURCES[base][0]
        return {"categories": (self._term_create, self._term_update, self._term_delete),
                "brands": (self._term_create, self._term_update, self._term_delete),
                "products": (self._product_create, self._product_update, self._product_delete),
                "customers": (self._customer_create, self._customer_update, self._customer_delete),
                "orders": (self._order_create, self._order_update, self._order_delete),
                "reviews": (self._review_create, self._review_update, self._review_delete),
                "taxes": (self._rate_create, self._rate_update, self._rate_delete)}[kind]

    # --- endpoints -----------------------------------------------------------------------------------------
    def _screened(self, base: str, create):
        """`create`, refusing the records the reject knob picks, as a validation plugin would."""
        def run(base_, body):
            sid = next((m.get("value") for m in body.get("meta_data") or [] if isinstance(m, dict)
                        and m.get("key") == SOURCE_META), None)
            if sid is not None and self.rejects(f"{RESOURCES[base][1]}:{sid}"):
                raise wc.WpError(400, "woocommerce_rest_cannot_create",
                                 "The record was refused by the store's content rules.")
            return create(base_, body)
        return run

    def w_create(self, request, base):
        create = self._screened(base, self._ops(base)[0])
        return self._writing(request, RESOURCES[base][0], lambda b, p: (201, self._counted(create, base, b)))

    def w_batch(self, request, base):
        create, update, delete = self._ops(base)
        create = self._screened(base, create)
        return self._writing(request, RESOURCES[base][0], lambda b, p: (200, self._batch(
            b, lambda i: create(base, i), lambda id_, i: update(base, id_, i), lambda id_: delete(base, id_))))

    def w_item(self, request, base, id_):
        _, update, delete = self._ops(base)  # GET {base}/{id} is the read side's (WooCommerceEmulator.item)
        if request.method == "DELETE":
            return self._writing(request, RESOURCES[base][0], lambda b, p: (200, self._counted(delete, base, id_)))
        return self._writing(request, RESOURCES[base][0], lambda b, p: (200, self._counted(update, base, id_, b)))

    def _counted(self, fn, *args):
        out = fn(*args)
        with self._write_state():
            self.writes += 1
        return out

    def _record(self, base, id_, code="woocommerce_rest_invalid_id", message="Invalid ID.", status=404):
        rec = self.store.get(RESOURCES[base][1], id_) if id_ else None
        if rec is None or "_wc" not in rec:
            raise wc.WpError(status, code, message)
        return rec

    # --- terms: products/categories, products/brands --------------------------------------------------------
    def _term_create(self, base, body, id_=None, current=None):
        entity = RESOURCES[base][1]
        cur = (current or {}).get("_wc", {})
        name = html.unescape(str(body.get("name", html.unescape(cur.get("name", ""))) or "")).strip()
        if not name:
            raise wc.WpError(400, "empty_term_name", "A name is required for this term.")
        parent = int(body.get("parent", cur.get("parent", 0)) or 0)
        if parent and self.store.get(entity, parent) is None:
            raise wc.WpError(404, "woocommerce_rest_term_invalid", "Parent resource does not exist.")
        with self._write_state():
            _, terms = self._query(entity, [], [], "id", 0, 1_000_000)
            others = [t["_wc"] for t in terms if "_wc" in t and t["_wc"]["id"] != id_]
            same = next((t for t in others if html.unescape(t["name"]).lower() == name.lower()
                         and t["parent"] == parent), None)
            if same:
                raise wc.WpError(400, "term_exists", "A term with the name provided already exists with this "
                                                     "parent.", resource_id=same["id"])
            slugs = {t["slug"] for t in others}
            given = sanitize_title(body.get("slug") or "")
            if given and given in slugs:
                raise wc.WpError(400, "duplicate_term_slug",
                                 f"The slug \u201c{given}\u201d is already in use by another term.")
            slug = given or cur.get("slug") or sanitize_title(name)
            k = 2
            while slug in slugs:
                slug, k = f"{sanitize_title(name)}-{k}", k + 1
            id_ = id_ or self._new_id(entity, entity)
            term = {"id": id_, "name": html.escape(name, quote=False), "slug": slug, "parent": parent,
                    "description": str(body.get("description", cur.get("description", "")) or ""),
                    "display": "default", "image": None,
                    "menu_order": int(body.get("menu_order", cur.get("menu_order", 0)) or 0), "count": 0}
            self.store.put(entity, {"source_id": str(id_), "name": name, "parent_id": str(parent) if parent else None,
                                    "url_key": slug, "position": term["menu_order"], "_wc": term})
        return term

    def _term_update(self, base, id_, body):
        cur = self._record(base, id_, "woocommerce_rest_term_invalid", "Resource does not exist.")
        return self._term_create(base, body, id_, cur)

    def _term_delete(self, base, id_):
        entity = RESOURCES[base][1]
        cur = self._record(base, id_, "woocommerce_rest_term_invalid", "Resource does not exist.")
        self.store.delete(entity, id_)
        return cur["_wc"]

    # --- tax classes and rates -------------------------------------------------------------------------------
    def tc_create(self, request):
        def work(body, params):
            name = html.unescape(str(body.get("name") or "")).strip()
            if not name:
                raise wc.WpError(400, "woocommerce_rest_tax_class_invalid_name", "Tax class requires a valid name")
            with self._write_state():
                table = self.tax_table()
                if any(n == name for _, n, _ in table):
                    raise wc.WpError(400, "woocommerce_rest_tax_class_exists", "Tax class already exists")
                slug = sanitize_title(body.get("slug") or name)
                if not slug:
                    raise wc.WpError(400, "woocommerce_rest_tax_class_slug_invalid", "Tax class slug is invalid")
                if any(s == slug for s, _, _ in table):
                    raise wc.WpError(400, "woocommerce_rest_tax_class_slug_exists", "Tax class slug already exists")
                id_ = self._new_id("tax_classes", "tax_classes")
                self.store.put("tax_classes", {"source_id": str(id_), "name": name, "rates": [],
                                               "_wc": {"slug": slug, "name": name}, "_rates": []})
                self.writes += 1
            return 201, {"slug": slug, "name": name}

        return self._writing(request, "tax_classes", work)

    def tc_delete(self, request, slug):
        def work(body, params):
            with self._write_state():
                rec = next((r for s, _, r in self.tax_table() if s == slug and "_wc" in r), None)
                if slug == "standard" or rec is None:
                    raise wc.WpError(404, "woocommerce_rest_tax_class_invalid_slug", "Invalid slug.")
                self.store.delete("tax_classes", int(rec["source_id"]))
                self.writes += 1
            return 200, {"slug": slug, "name": rec["_wc"]["name"]}

        return self._writing(request, "tax_classes", work)

    def _class_record(self, slug: str) -> dict:
        for s, _, r in self.tax_table():
            if s == slug:
                if "_wc" not in r:  # the built-in Standard gets a record when it first gets rates
                    r = {"source_id": str(self._new_id("tax_classes", "tax_classes")), "name": "Standard",
                         "rates": [], "_wc": {"slug": "standard", "name": "Standard"}, "_rates": []}
                return r
        raise wc.WpError(400, "rest_invalid_param", "Invalid parameter(s): class",
                         params={"class": "class is not one of " + ", ".join(s for s, _, _ in self.tax_table())})

    def _save_class(self, rec: dict) -> None:
        rec["rates"] = [{"country": r["country"] or None, "rate": r["rate"]} for r in rec["_rates"]]
        self.store.put("tax_classes", rec)

    def _find_rate(self, id_: int):
        for _, _, r in self.tax_table():
            for rate in r.get("_rates") or []:
                if rate["id"] == id_:
                    return r, rate
        raise wc.WpError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")

    def _rate_create(self, base, body, current=None):
        with self._write_state():
            cur = dict(current or {})
            slug = body.get("class", cur.get("class", "standard")) or "standard"
            rec = self._class_record(slug)
            rate = {"id": cur.get("id") or self._new_id("tax_rates"), "country": str(body.get("country", cur.get(
                "country", "")) or "").upper(), "state": "", "postcode": "", "city": "", "postcodes": [], "cities": [],
                "rate": f"{dec(body.get('rate', cur.get('rate', 0))):.4f}", "name": str(body.get("name", cur.get(
                    "name", "")) or ""), "priority": int(body.get("priority", cur.get("priority", 1)) or 1),
                "compound": bool(body.get("compound", cur.get("compound", False))),
                "shipping": bool(body.get("shipping", cur.get("shipping", True))), "order": 0, "class": slug}
            rec["_rates"] = [r for r in rec["_rates"] if r["id"] != rate["id"]] + [rate]
            self._save_class(rec)
        return rate

    def _rate_update(self, base, id_, body):
        with self._write_state():
            rec, rate = self._find_rate(id_)
            if body.get("class", rate["class"]) != rate["class"]:
                self._rate_delete(base, id_)
            return self._rate_create(base, body, rate)

    def _rate_delete(self, base, id_):
        with self._write_state():
            rec, rate = self._find_rate(id_)
            rec["_rates"] = [r for r in rec["_rates"] if r["id"] != id_]
            self._save_class(rec)
        return rate

    # --- products and variations -----------------------------------------------------------------------------
    def _skus(self, skip_product: int | None = None, skip_variation: int | None = None) -> dict[str, int]:
        _, products = self._query("products", [], [], "id", 0, 10_000_000)
        found = {}
        for p in products:
            if "_wc" not in p:
                continue
            if p["_wc"]["sku"] and p["_wc"]["id"] != skip_product:
                found[p["_wc"]["sku"].lower()] = p["_wc"]["id"]
            for v in p.get("_variations") or []:
                if v["sku"] and v["id"] != skip_variation:
                    found[v["sku"].lower()] = v["id"]
        return found

    def _check_sku(self, sku: str, **skip) -> None:
        if sku and sku.lower() in self._skus(**skip):
            raise wc.WpError(400, "product_invalid_sku", "Invalid or duplicated SKU.",
                             resource_id=self._skus(**skip)[sku.lower()], unique_sku=f"{sku}-1")

    @staticmethod
    def _meta(current: list, posted) -> list:
        out = [dict(m) for m in current or []]
        for m in posted or []:
            key = m.get("key")
            hit = next((o for o in out if (m.get("id") and o["id"] == m["id"]) or o["key"] == key), None)
            if hit:
                hit["value"] = m.get("value")
            else:
                out.append({"id": len(out) + 1 + 1000 * len(out), "key": key, "value": m.get("value")})
        return out

    def _product_create(self, base, body, id_=None, current=None):
        with self._write_state():
            cur = dict((current or {}).get("_wc") or {})
            get = lambda k, d=None: body[k] if k in body else cur.get(k, d)  # noqa: E731
            sku = str(get("sku", "") or "")
            self._check_sku(sku, skip_product=id_)
            id_ = id_ or self._new_id("products", "products")
            name = str(get("name", "Product") or "Product")
            _, products = self._query("products", [], [], "id", 0, 10_000_000)
            slugs = {p["_wc"]["slug"] for p in products if "_wc" in p and p["_wc"]["id"] != id_}
            base_slug = sanitize_title(get("slug") or name) or str(id_)
            slug, k = base_slug, 2
            while slug in slugs:
                slug, k = f"{base_slug}-{k}", k + 1
            cats = self._lookup("categories", [c.get("id") for c in get("categories", []) or []])
            brands = self._lookup("manufacturers", [b.get("id") if isinstance(b, dict) else b
                                                    for b in get("brands", []) or []])
            classes = {s for s, _, _ in self.tax_table()}
            tax_class = get("tax_class", "") or ""
            kind = get("type", "simple") or "simple"
            variations = (current or {}).get("_variations") or []
            regular, sale = wc.money(get("regular_price", "")), wc.money(get("sale_price", ""))
            if kind in ("variable", "grouped"):  # WC_Product_Grouped has no price of its own either
                regular = sale = ""
            prices = [dec(v["price"]) for v in variations if v["price"]]
            grouped = [int(c) for c in get("grouped_products", []) or []] if kind == "grouped" else []
            if grouped:  # its price is the cheapest child's (WC_Product_Grouped_Data_Store_CPT::sync_price)
                kids = self._lookup("products", [str(c) for c in grouped])
                prices = [dec(k["_wc"]["price"]) for k in kids.values() if (k.get("_wc") or {}).get("price")]
            images = []
            for k, img in enumerate(get("images", []) or []):
                if img.get("id") and not img.get("src"):
                    images.append(img)
                    continue
                src = img.get("src") or ""
                name_ = src.rsplit("/", 1)[-1]
                stamp = now_gmt()  # the attachment post the sideload creates
                images.append({"id": img.get("id") or self._new_id("media"),
                               "date_created": wc.wc_date(stamp + "Z", wc.SITE_TZ), "date_created_gmt": stamp,
                               "date_modified": wc.wc_date(stamp + "Z", wc.SITE_TZ), "date_modified_gmt": stamp,
                               "src": src if src.startswith(self.base_url) else
                               f"{self.base_url}/wp-content/uploads/2026/01/{name_}",
                               "name": name_.rsplit(".", 1)[0], "alt": img.get("alt") or "", "position": k})
            created = get("date_created_gmt") or cur.get("date_created_gmt") or now_gmt()
            created = created.replace("Z", "")[:19]
            stock = get("stock_quantity") if get("manage_stock", False) else None
            p = {**cur, "id": id_, "name": name, "slug": slug, "permalink": f"{self.base_url}/product/{slug}/",
                 "date_created_gmt": created, "date_modified_gmt": now_gmt(), "type": kind,
                 "status": get("status", "publish") or "publish", "description": str(get("description", "") or ""),
                 "short_description": str(get("short_description", "") or ""), "sku": sku,
                 "price": (wc.money(min(prices)) if prices else "") if kind in ("variable", "grouped")
                 else (sale or regular), "grouped_products": grouped,
                 "regular_price": regular, "sale_price": sale, "on_sale": bool(sale),
                 "tax_status": get("tax_status", "taxable"), "tax_class": tax_class if tax_class in classes else "",
                 "manage_stock": bool(get("manage_stock", False)), "stock_quantity": stock,
                 "stock_status": "instock" if (stock or 0) > 0 or stock is None else "outofstock",
                 "weight": str(get("weight", "") or ""), "dimensions": {"length": "", "width": "", "height": ""},
                 "categories": [{"id": int(c), "name": cats[c]["name"], "slug": cats[c].get("url_key") or ""}
                                for c in (str(c.get("id")) for c in get("categories", []) or []) if c in cats],
                 "brands": [{"id": int(b), "name": brands[b]["name"], "slug": brands[b].get("url_key") or ""}
                            for b in brands],
                 "tags": [], "images": images, "attributes": [  # as get_attributes() answers for local ones
                     {"id": int(a.get("id") or 0), "name": str(a.get("name") or ""),
                      "slug": sanitize_title(str(a.get("name") or "")), "position": int(a.get("position", k) or 0),
                      "visible": bool(a.get("visible", False)), "variation": bool(a.get("variation", False)),
                      "options": [str(o) for o in a.get("options") or []]}
                     for k, a in enumerate(get("attributes", []) or []) if isinstance(a, dict)],
                 "variations": [v["id"] for v in variations], "menu_order": int(get("menu_order", 0) or 0),
                 "meta_data": self._meta(cur.get("meta_data"), body.get("meta_data"))}
            p["date_created"] = wc.wc_date(p["date_created_gmt"] + "Z", wc.SITE_TZ)
            p["date_modified"] = wc.wc_date(p["date_modified_gmt"] + "Z", wc.SITE_TZ)
            self.store.put("products", {"source_id": str(id_), "name": name, "url_key": slug, "sku": sku or None,
                                        "created_at": p["date_created_gmt"] + "Z", "_wc": p,
                                        "_variations": variations})
        return p

    def _product_update(self, base, id_, body):
        cur = self._record(base, id_, "woocommerce_rest_product_invalid_id", "Invalid ID.", 400)
        return self._product_create(base, body, id_, cur)

    def _product_delete(self, base, id_):
        cur = self._record(base, id_, "woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
        self.store.delete("products", id_)
        return cur["_wc"]

    def _variation_write(self, product_id: int, body: dict, id_: int | None = None):
        with self._write_state():
            parent = self.store.get("products", product_id)
            if parent is None or "_wc" not in parent:
                raise wc.WpError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
            variations = parent.get("_variations") or []
            cur = next((v for v in variations if v["id"] == id_), None) if id_ else {}
            if cur is None:
                raise wc.WpError(400, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
            get = lambda k, d=None: body[k] if k in body else cur.get(k, d)  # noqa: E731
            sku = str(get("sku", "") or "")
            self._check_sku(sku, skip_variation=id_)
            regular, sale = wc.money(get("regular_price", "")), wc.money(get("sale_price", ""))
            stock = get("stock_quantity") if get("manage_stock", False) else None
            v = {**cur, "id": id_ or self._new_id("variations"), "date_modified_gmt": now_gmt(),
                 "sku": sku, "price": sale or regular, "regular_price": regular, "sale_price": sale,
                 "on_sale": bool(sale), "status": "publish", "manage_stock": bool(get("manage_stock", False)),
                 "stock_quantity": stock, "stock_status": "instock" if stock is None or stock > 0 else "outofstock",
                 "tax_class": get("tax_class", "parent") or "parent", "weight": str(get("weight", "") or ""),
                 "attributes": [{"id": 0, "name": a.get("name"), "option": a.get("option")}
                                for a in get("attributes", []) or []],
                 "menu_order": int(get("menu_order", 0) or 0),
                 "meta_data": self._meta(cur.get("meta_data"), body.get("meta_data"))}
            parent["_variations"] = [x for x in variations if x["id"] != v["id"]] + [v]
            self._sync_parent(parent)
        return v

    def _variation_delete(self, product_id: int, id_: int):
        with self._write_state():
            parent = self.store.get("products", product_id)
            gone = next((v for v in (parent or {}).get("_variations") or [] if v["id"] == id_), None)
            if gone is None:
                raise wc.WpError(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
            parent["_variations"] = [v for v in parent["_variations"] if v["id"] != id_]
            self._sync_parent(parent)
        return gone

    def _sync_parent(self, parent: dict) -> None:
        p = parent["_wc"]
        p["variations"] = [v["id"] for v in parent["_variations"]]
        prices = [dec(v["price"]) for v in parent["_variations"] if v["price"]]
        if p["type"] == "variable":
            p["price"] = wc.money(min(prices)) if prices else ""
        self.store.put("products", parent)

    def v_create(self, request, product_id):
        return self._writing(request, "variations",
                             lambda b, p: (201, self._counted(self._variation_write, product_id, b)))

    def v_batch(self, request, product_id):
        return self._writing(request, "variations", lambda b, p: (200, self._batch(
            b, lambda i: self._variation_write(product_id, i), lambda id_, i: self._variation_write(product_id, i, id_),
            lambda id_: self._variation_delete(product_id, id_))))

    def v_item(self, request, product_id, id_):
        if request.method == "DELETE":
            return self._writing(request, "variations",
                                 lambda b, p: (200, self._counted(self._variation_delete, product_id, id_)))
        return self._writing(request, "variations",
                             lambda b, p: (200, self._counted(self._variation_write, product_id, b, id_)))

    # --- customers -------------------------------------------------------------------------------------------
    def _customer_create(self, base, body, id_=None, current=None):
        with self._write_state():
            cur = dict((current or {}).get("_wc") or {})
            email = str(body.get("email", cur.get("email", "")) or "").strip()
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
                raise wc.WpError(400, "registration-error-invalid-email", "Please provide a valid email address.")
            taken, _ = self._query("customers", ["lower(json_extract_string(record, '$._wc.email')) = lower(?)",
                                                 "id IS DISTINCT FROM ?"], [email, id_], "id", 0, 0)
            if taken:  # looked up in SQL: decoding every customer per create made a load quadratic
                raise wc.WpError(400, "registration-error-email-exists",
                                 "An account is already registered with your email address. "
                                 "<a href=\"#\" class=\"showlogin\">Please log in.</a>")
            id_ = id_ or self._new_id("customers", "customers")
            created = cur.get("date_created_gmt") or now_gmt()

            def address(which, with_email):
                a = {**(cur.get(which) or {}), **(body.get(which) or {})}
                keys = ["first_name", "last_name", "company", "address_1", "address_2", "city", "state", "postcode",
                        "country"] + (["email"] if with_email else []) + ["phone"]
                return {k: str(a.get(k) or "") for k in keys}

            c = {**cur, "id": id_, "date_created_gmt": created, "date_modified_gmt": now_gmt(), "email": email,
                 "first_name": str(body.get("first_name", cur.get("first_name", "")) or ""),
                 "last_name": str(body.get("last_name", cur.get("last_name", "")) or ""), "role": "customer",
                 "username": cur.get("username") or body.get("username") or email.split("@")[0],
                 "billing": address("billing", True), "shipping": address("shipping", False),
                 "is_paying_customer": False, "avatar_url": "",
                 "meta_data": self._meta(cur.get("meta_data"), body.get("meta_data"))}
            c["date_created"] = wc.wc_date(created + "Z", wc.SITE_TZ)
            c["date_modified"] = wc.wc_date(c["date_modified_gmt"] + "Z", wc.SITE_TZ)
            self.store.put("customers", {"source_id": str(id_), "email": email, "name": c["first_name"],
                                         "created_at": created + "Z", "_wc": c})
        return c

    def _customer_update(self, base, id_, body):
        cur = self._record(base, id_, "woocommerce_rest_invalid_id", "Invalid resource ID.", 400)
        return self._customer_create(base, body, id_, cur)

    def _customer_delete(self, base, id_):
        cur = self._record(base, id_, "woocommerce_rest_invalid_id", "Invalid resource id.", 400)
        self.store.delete("customers", id_)
        return cur["_wc"]

    # --- orders ----------------------------------------------------------------------------------------------
    def _rate_for(self, tax_class: str, country: str) -> Decimal:
        for slug, _, rec in self.tax_table():
            if slug == (tax_class or "standard"):
                for r in rec.get("_rates") or []:
                    if r["country"] in ("", country):
                        return dec(r["rate"])
        return Decimal(0)

    def _order_create(self, base, body, id_=None, current=None):
        with self._write_state():
            cur = dict((current or {}).get("_wc") or {})
            customer_id = int(body.get("customer_id", cur.get("customer_id", 0)) or 0)
            if customer_id and self.store.get("customers", customer_id) is None:
                raise wc.WpError(400, "woocommerce_rest_invalid_customer_id", "Customer ID is invalid.")
            id_ = id_ or self._new_id("orders", "orders")
            items = [dict(i) for i in cur.get("line_items") or []]
            for k, li in enumerate(body.get("line_items") or []):
                pid = int(li.get("product_id") or 0)
                product = self.store.get("products", pid) if pid else None
                if not pid and not li.get("sku") and not li.get("id"):
                    raise wc.WpError(400, "woocommerce_rest_required_product_reference",
                                     "Product ID or SKU is required.")
                if pid and product is None:
                    raise wc.WpError(400, "woocommerce_rest_invalid_product_id", "Product ID provided is invalid.")
                pj = (product or {}).get("_wc") or {}
                qty = int(li.get("quantity") or 1)
                unit = dec(pj.get("price"))
                sub = dec(li["subtotal"]) if li.get("subtotal") not in (None, "") else unit * qty
                tot = dec(li["total"]) if li.get("total") not in (None, "") else sub
                items.append({"id": id_ * 100 + len(items) + 1, "name": li.get("name") or pj.get("name", ""),
                              "product_id": pid, "variation_id": int(li.get("variation_id") or 0),
                              "quantity": qty, "tax_class": li.get("tax_class") or pj.get("tax_class", ""),
                              "subtotal": wc.money(sub), "subtotal_tax": "0.00", "total": wc.money(tot),
                              "total_tax": "0.00", "taxes": [], "meta_data": self._meta([], li.get("meta_data")),
                              "sku": pj.get("sku", ""), "price": float(tot / qty) if qty else 0.0})
            shipping = list(cur.get("shipping_lines") or []) + [
                {"id": id_ * 100 + 50 + k, "method_title": s.get("method_title") or "", "method_id":
                 s.get("method_id") or "", "total": wc.money(dec(s.get("total"))), "total_tax": "0.00", "taxes": []}
                for k, s in enumerate(body.get("shipping_lines") or [])]
            fees = list(cur.get("fee_lines") or []) + [
                {"id": id_ * 100 + 80 + k, "name": f.get("name") or "", "tax_class": f.get("tax_class") or "",
                 "tax_status": f.get("tax_status") or "taxable", "total": wc.money(dec(f.get("total"))),
                 "total_tax": "0.00", "taxes": [], "meta_data": self._meta([], f.get("meta_data"))}
                for k, f in enumerate(body.get("fee_lines") or [])]
            billing = {**(cur.get("billing") or {}), **(body.get("billing") or {})}
            shipping_addr = {**(cur.get("shipping") or {}), **(body.get("shipping") or {})}
            if self.calc_taxes:  # WC_Abstract_Order::calculate_taxes, based on the shipping country
                country = shipping_addr.get("country") or billing.get("country") or ""
                for li in items:
                    tax = (dec(li["total"]) * self._rate_for(li["tax_class"], country) / 100).quantize(
                        CENT, ROUND_HALF_UP)
                    li["total_tax"] = li["subtotal_tax"] = wc.money(tax)
            subtotal = sum((dec(i["subtotal"]) for i in items), Decimal(0))
            item_total = sum((dec(i["total"]) for i in items), Decimal(0))
            cart_tax = sum((dec(i["total_tax"]) for i in items), Decimal(0))
            ship = sum((dec(s["total"]) for s in shipping), Decimal(0))
            fee = sum((dec(f["total"]) for f in fees), Decimal(0))
            created = cur.get("date_created_gmt") or now_gmt()
            status = body.get("status", cur.get("status", "pending")) or "pending"
            o = {**cur, "id": id_, "parent_id": 0, "number": str(id_), "order_key": cur.get("order_key") or
                 f"wc_order_{id_:013d}"[-22:], "created_via": "rest-api", "version": wc.WC_VERSION,
                 "status": status, "currency": body.get("currency", cur.get("currency", "USD")) or "USD",
                 "date_created_gmt": created, "date_modified_gmt": now_gmt(),
                 "discount_total": wc.money(subtotal - item_total), "discount_tax": "0.00",
                 "shipping_total": wc.money(ship), "shipping_tax": "0.00", "cart_tax": wc.money(cart_tax),
                 "total": wc.money(item_total + fee + ship + cart_tax), "total_tax": wc.money(cart_tax),
                 "prices_include_tax": False, "customer_id": customer_id, "billing": billing,
                 "shipping": shipping_addr, "payment_method": body.get("payment_method", cur.get("payment_method", "")),
                 "payment_method_title": body.get("payment_method_title", cur.get("payment_method_title", "")),
                 "transaction_id": "", "customer_note": str(body.get("customer_note", cur.get("customer_note", ""))
                                                            or ""),
                 "date_paid_gmt": now_gmt() if body.get("set_paid") else cur.get("date_paid_gmt"),
                 "meta_data": self._meta(cur.get("meta_data"), body.get("meta_data")), "line_items": items,
                 "tax_lines": [], "shipping_lines": shipping, "fee_lines": fees, "coupon_lines": [],
                 "refunds": cur.get("refunds") or []}
            o["date_created"] = wc.wc_date(created + "Z", wc.SITE_TZ)
            o["date_modified"] = wc.wc_date(o["date_modified_gmt"] + "Z", wc.SITE_TZ)
            self.store.put("orders", {"source_id": str(id_), "customer_id": str(customer_id) if customer_id else None,
                                      "created_at": created + "Z", "_wc": o,
                                      "_refunds": (current or {}).get("_refunds") or []})
        return o

    def _order_update(self, base, id_, body):
        cur = self._record(base, id_, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 400)
        # Lines posted on update replace nothing in WooCommerce unless they carry their id; the client removes old
        # lines by posting them with quantity 0 / product_id null. Modelled: lines with an id are dropped when
        # their quantity is 0 (line items) or their method_id/name is null (shipping, fees).
        cur = {**cur, "_wc": dict(cur["_wc"])}
        drop = {li.get("id") for li in body.get("line_items") or [] if li.get("id") and not li.get("quantity")}
        drop |= {s.get("id") for s in body.get("shipping_lines") or [] if s.get("id") and s.get("method_id") is None}
        drop |= {f.get("id") for f in body.get("fee_lines") or [] if f.get("id") and f.get("name") is None}
        for key in ("line_items", "shipping_lines", "fee_lines"):
            cur["_wc"][key] = [x for x in cur["_wc"].get(key) or [] if x["id"] not in drop]
        body = {**body, **{k: [x for x in body.get(k) or [] if not x.get("id")]
                           for k in ("line_items", "shipping_lines", "fee_lines")}}
        return self._order_create(base, body, id_, cur)

    def r_create(self, request, order_id):
        """POST orders/{id}/refunds (WC_REST_Order_Refunds_V2_Controller::prepare_object_for_database and
        wc_create_refund): an amount above zero and at most what is left to refund; `api_refund` (default true)
        asks the payment gateway to pay it back, which bank transfer (bacs) cannot do; a full refund makes the order
        refunded."""
        def work(body, params):
            with self._write_state():
                rec = self.store.get("orders", order_id)
                if rec is None or "_wc" not in rec:
                    raise wc.WpError(404, "woocommerce_rest_invalid_order_id", "Invalid order ID.")
                o = dict(rec["_wc"])
                amount = dec(body.get("amount"))
                if amount <= 0:
                    raise wc.WpError(400, "woocommerce_rest_invalid_order_refund",
                                     "Refund amount must be greater than zero.")
                refunded = sum((-dec(r.get("total")) for r in o.get("refunds") or []), Decimal(0))
                if amount > dec(o.get("total")) - refunded:
                    raise wc.WpError(500, "woocommerce_rest_cannot_create_order_refund", "Invalid refund amount.")
                if body.get("api_refund", True) not in (False, "false", 0, "0"):
                    raise wc.WpError(500, "woocommerce_rest_cannot_create_order_refund",
                                     "The payment gateway for this order does not support automatic refunds.")
                lines = self._refund_line_items(o, body.get("line_items"))
                rid = self._new_id("refunds")
                o["refunds"] = [{"id": rid, "reason": str(body.get("reason") or ""),
                                 "total": f"-{wc.money(amount)}"}] + list(o.get("refunds") or [])
                if amount == dec(o.get("total")) - refunded:
                    o["status"] = "refunded"
                stamp = now_gmt()
                o["date_modified_gmt"], o["date_modified"] = stamp, wc.wc_date(stamp + "Z", wc.SITE_TZ)
                written = {"id": rid, "date_created_gmt": stamp, "date_created": wc.wc_date(stamp + "Z", wc.SITE_TZ),
                           "meta_data": self._meta([], body.get("meta_data")), "lines": lines}
                self.store.put("orders", {**rec, "_wc": o, "_refunds": [written] + list(rec.get("_refunds") or [])})
                self.writes += 1
            return 201, self.refunds_json(self.orders_json([self.store.get("orders", order_id)])[0],
                                          self.store.get("orders", order_id))[0]

        return self._writing(request, "orders", work)

    @staticmethod
    def _refund_line_items(order: dict, posted) -> list[dict]:
        """A refund's `line_items` as wc_create_refund takes them (after RestApiUtil::
        adjust_create_refund_request_parameters made [{id, quantity, refund_total, refund_tax: [{id, refund_total}]}]
        an array by id): each of the order's line items that is named and has a quantity, refund total or refund tax
        becomes a refund line; an id that is none of the order's items is passed over without an error, and the
        quantity is not checked against the line's (WooCommerce checks neither). Fee and shipping lines, which
        wc_create_refund takes too, are not modelled: our target refunds product lines only."""
        if not isinstance(posted, list) or not posted or not all(isinstance(x, dict) and "id" in x for x in posted):
            return []
        by_id: dict[str, dict] = {}
        for x in posted:
            taxes = x.get("refund_tax")
            if isinstance(taxes, list) and all(isinstance(t, dict) and "id" in t and "refund_total" in t
                                               for t in taxes):
                taxes = {str(t["id"]): t["refund_total"] for t in taxes}
            by_id[str(x["id"])] = {"qty": x.get("qty", x.get("quantity")), "refund_total": x.get("refund_total"),
                                   "refund_tax": taxes if isinstance(taxes, dict) else {}}
        out = []
        for li in order.get("line_items") or []:
            x = by_id.get(str(li["id"]))
            if x is None:
                continue
            qty = int(dec(x["qty"]))
            taxes = [(k, dec(v)) for k, v in x["refund_tax"].items() if re.fullmatch(r"-?[0-9.]+", str(v))]
            if not qty and not dec(x["refund_total"]) and not x["refund_tax"]:
                continue
            out.append({"line_id": li["id"], "qty": qty, "total": wc.money(dec(x["refund_total"])),
                        "taxes": [(k, wc.money(v)) for k, v in taxes]})
        return out

    def _order_delete(self, base, id_):
        cur = self._record(base, id_, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)
        self.store.delete("orders", id_)
        return cur["_wc"]

    # --- reviews ---------------------------------------------------------------------------------------------
    def _review_create(self, base, body, id_=None, current=None):
        with self._write_state():
            cur = dict((current or {}).get("_wc") or {})
            pid = int(body.get("product_id", cur.get("product_id", 0)) or 0)
            product = self.store.get("products", pid) if pid else None
            if product is None:
                raise wc.WpError(404, "woocommerce_rest_product_invalid_id", "Invalid product ID.")
            text = str(body.get("review", cur.get("review", "")) or "")
            if not text.strip():
                raise wc.WpError(400, "woocommerce_rest_review_content_invalid", "Invalid review content.")
            reviewer = str(body.get("reviewer", cur.get("reviewer", "")) or "")
            email = str(body.get("reviewer_email", cur.get("reviewer_email", "")) or "")
            if not reviewer or not email:
                raise wc.WpError(400, "woocommerce_rest_review_missing_reviewer_data",
                                 "Creating a product review requires reviewer name and email.")
            _, reviews = self._query("reviews", [], [], "id", 0, 10_000_000)
            if any(r["_wc"]["product_id"] == pid and r["_wc"]["reviewer_email"].lower() == email.lower()
                   and r["_wc"]["review"] == text and r["_wc"]["id"] != id_ for r in reviews if "_wc" in r):
                raise wc.WpError(409, "comment_duplicate", "Duplicate comment detected; it looks as though "
                                                           "you\u2019ve already said that!")
            id_ = id_ or self._new_id("reviews", "reviews")
            created = (body.get("date_created_gmt") or cur.get("date_created_gmt") or now_gmt()).replace("Z", "")[:19]
            status = body.get("status", cur.get("status", "approved")) or "approved"
            r = {"id": id_, "date_created": wc.wc_date(created + "Z", wc.SITE_TZ), "date_created_gmt": created,
                 "product_id": pid, "product_name": product.get("name") or "",
                 "product_permalink": f"{self.base_url}/?p={pid}", "status": status, "reviewer": reviewer,
                 "reviewer_email": email, "review": text, "rating": int(body.get("rating", cur.get("rating", 0))
                                                                        or 0),
                 "verified": False, "reviewer_avatar_urls": {}}
            canon = {"approved": "approved", "hold": "pending", "trash": "trashed"}.get(status, "rejected")
            self.store.put("reviews", {"source_id": str(id_), "status": canon, "created_at": created + "Z",
                                       "product_id": str(pid), "_wc": r})
        return r

    def _review_update(self, base, id_, body):
        cur = self._record(base, id_, "woocommerce_rest_review_invalid_id", "Invalid review ID.", 404)
        return self._review_create(base, body, id_, cur)

    def _review_delete(self, base, id_):
        cur = self._record(base, id_, "woocommerce_rest_review_invalid_id", "Invalid review ID.", 404)
        self.store.delete("reviews", id_)
        return cur["_wc"]
