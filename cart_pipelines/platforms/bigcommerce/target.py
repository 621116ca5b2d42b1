"""BigCommerce as a target: REST v3 for the catalog, customers and reviews, v2 for orders (docs/targets/bigcommerce.md).

- categories, brands and products are created one per request (products with their variants and images), each
  followed by an app-only metafield `cart_pipelines.source_id` holding our source id; customers are created and
  updated 10 per request, products updated 10 per request (the documented array limits); an array request that
  BigCommerce rejects (all-or-nothing) is retried one record at a time, so each bad record gets its own message;
- customers keep the source id in `notes`, orders in `staff_notes` (both visible to staff only); orders are
  created with `external_source: M-MIG` (historical orders, kept out of the store's order count) and with the
  source's subtotal, shipping, discount, tax and total as overrides, so the money is the source's to the cent;
- tax classes cannot be written: BigCommerce's API has only GET /v2/tax_classes. Every tax-class row is answered
  with an error saying so (they must be created in the control panel); see the docs for what that means;
- pacing follows the X-Rate-Limit-* headers as the source connector does (platforms/bigcommerce/source.py Pacer).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa

from cart_pipelines.platforms.bigcommerce.source import (
    API_HOST,
    PAGE_SIZE,
    Pacer,
    _address,
    _id,
    _money,
    _ts,
    _url_key,
    error_message,
    reset_after,
    split_api_path,
)
from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import (
    ConnectionProblem,
    Explainer,
    HttpClient,
    HttpSettings,
)
from cart_pipelines.platforms.kit.readback import as_target_table
from cart_pipelines.platforms.kit.target import Target, WriteResult, until_confirmed

ARRAY_MAX = 10  # customers POST/PUT and products PUT take at most 10 items
NAMESPACE, KEY = "cart_pipelines", "source_id"
REF = "cart_pipelines source id: "  # the line in customer notes and order staff notes that holds our source id
META_KIND = {"categories": "categories", "manufacturers": "brands", "products": "products"}
V3_PATH = {"categories": "v3/catalog/categories", "manufacturers": "v3/catalog/brands",
           "products": "v3/catalog/products", "customers": "v3/customers"}
# Order statuses after the order_status_mapping rule → BigCommerce status ids (Order Status API), and back.
STATUS_ID = {"new": 1, "processing": 11, "completed": 10, "cancelled": 5, "refunded": 4, "on_hold": 12}
STATUS_NAME = {**{v: k for k, v in STATUS_ID.items()}, 0: "new", 7: "new", 2: "completed", 3: "processing",
               8: "processing", 9: "processing", 6: "cancelled", 13: "on_hold", 14: "refunded"}
REVIEW_OUT = {"approved": "approved", "pending": "pending", "rejected": "disapproved"}
REVIEW_IN = {v: k for k, v in REVIEW_OUT.items()}
ORDER = ("reviews", "orders", "customers", "products", "tax_classes", "manufacturers", "categories")
NO_TAX_CLASSES = ("BigCommerce has no tax classes API for writes (only GET /v2/tax_classes): create the tax class "
                  "in the control panel (Settings › Tax) and assign it to the products there")
REJECTED = (400, 404, 409, 413, 422)  # statuses that reject one record, not the run


def _num(value):
    return None if value is None else float(value)


def _v2money(value) -> str | None:
    return None if value is None else str(Decimal(str(value)))


def _ref(text: str | None) -> str | None:
    for line in (text or "").splitlines():
        if line.startswith(REF):
            return line[len(REF):].strip()
    return None


def _blank(value):
    return None if value in ("", None) else value


class BigCommerceTarget(Target):
    CREDENTIALS = (
        Credential("store_hash", "BIGCOMMERCE_TARGET_STORE_HASH", "API Path (the store hash in it)"),
        Credential("access_token", "BIGCOMMERCE_TARGET_ACCESS_TOKEN", "Access Token (modify scopes)", secret=True),
        Credential("client_id", "BIGCOMMERCE_TARGET_CLIENT_ID", "Client ID (if required)", default=""),
        Credential("base_url", "BIGCOMMERCE_TARGET_BASE_URL", "API host", default=API_HOST),
        Credential("ca_file", "BIGCOMMERCE_TARGET_CA_FILE", "CA file to trust", default=""),
        Credential("refs_file", "BIGCOMMERCE_TARGET_REFS_FILE",
                   "Review references (default data/bigcommerce/<store_hash>-review-refs.json)", default=""),
    )
    # Fields BigCommerce holds as sent (compared in tests/targets/test_round_trip.py); left out, and why: docs.
    COMPARABLE = {
        "categories": ("parent_id", "name", "url_key", "hidden"),
        "manufacturers": ("name", "url_key"),
        "tax_classes": (),
        "products": ("sku", "name", "description", "price", "special_price", "weight", "stock", "active",
                     "url_key", "category_ids", "manufacturer_id", "images"),
        "customers": ("email", "first_name", "last_name", "phone"),
        "orders": ("customer_id", "email", "status", "currency", "subtotal", "shipping", "tax", "discount",
                   "grand_total", "billing_address", "shipping_address", "created_at"),
        "reviews": ("product_id", "customer_id", "rating", "title", "text", "status", "created_at"),
    }
    #: Entities BigCommerce's API cannot write (for an "unavailable on target" rule; see the docs).
    UNAVAILABLE = {"tax_classes": NO_TAX_CLASSES}

    @classmethod
    def from_credentials(cls, values: dict, data_dir: Path) -> "BigCommerceTarget":
        refs = values.get("refs_file") or str(Path(data_dir) / "bigcommerce" /
                                               f"{values['store_hash']}-review-refs.json")
        return cls(values.get("base_url") or API_HOST, values["store_hash"], values["access_token"],
                   values.get("client_id") or "", verify=values.get("ca_file") or True, refs_file=refs)

    @classmethod
    def emulator_credentials(cls, handle, workdir: Path) -> dict:
        c = handle.credentials
        return {"store_hash": c["store_hash"], "access_token": c["access_token"], "client_id": c["client_id"],
                "base_url": handle.base_url, "ca_file": handle.ca_file or "",
                "refs_file": str(Path(workdir) / "bigcommerce-review-refs.json")}

    max_batch = 50
    password_algorithms = ()  # the customers API takes a new password, never a hash: customers reset theirs
    can_preserve_ids = False  # BigCommerce assigns every id

    def __init__(self, base_url: str, store_hash: str, access_token: str, client_id: str = "",
                 verify: bool | str = True, settings: HttpSettings | None = None, refs_file: str | Path = ""):
        self.store_hash = store_hash
        # Reviews have no field, metafield or note for our reference: review id → source id is kept here.
        self.refs_file = Path(refs_file)
        self.name = f"bigcommerce:{store_hash}"
        self.pacer = Pacer()
        explainer = Explainer(
            platform="BigCommerce", credential_fields=("access_token", "store_hash"),
            permission_hint="writing needs a store-level API account with the modify scopes Products, Customers "
                            "and Orders (read-only is not enough); scopes cannot be changed afterwards, create a new "
                            "account under Settings > Store-level API accounts",
            error_message=error_message)
        headers = {"X-Auth-Token": access_token, "Content-Type": "application/json"}
        if client_id:
            headers["X-Auth-Client"] = client_id
        self.client = HttpClient(f"{split_api_path(base_url, store_hash)}/stores/{store_hash}", explainer,
                                 settings=settings, headers=headers, verify=verify, retry_after=reset_after,
                                 on_response=self.pacer)
        self._emails: dict[str, str] = {}

    def describe(self) -> str:
        return f"BigCommerce store {self.store_hash} at {urlsplit(self.client.base_url).netloc}"

    def has(self, entity: str) -> bool:
        return entity != "tax_classes"  # NO_TAX_CLASSES: created in the control panel, not through the API

    # --- HTTP
    def _json(self, method: str, path: str, **kwargs):
        """`idempotent=False` for a create: a lost answer raises WriteUnconfirmed instead of a blind resend."""
        response = self.client.request(method, path, **kwargs)
        return response.json() if response.status_code != 204 and response.content else None

    def _try(self, method: str, path: str, **kwargs):
        """(body, None) or (None, BigCommerce's message) for a request that rejects a record."""
        try:
            return self._json(method, path, **kwargs), None
        except ConnectionProblem as exc:
            if exc.status not in REJECTED:
                raise
            text = str(exc)
            return None, (text.split("The platform said: ", 1)[1] if "The platform said: " in text
                          else f"HTTP {exc.status}")

    def _v3_pages(self, path: str, params: dict | None = None):
        page = 1
        while True:
            body = self._json("GET", path, params={**(params or {}), "limit": PAGE_SIZE, "page": page})
            yield from body.get("data") or []
            if page >= int(body["meta"]["pagination"]["total_pages"]):
                return
            page += 1

    def _v2_pages(self, path: str):
        page = 1
        while True:
            rows = self._json("GET", path, params={"limit": PAGE_SIZE, "page": page}) or []
            yield from rows
            if len(rows) < PAGE_SIZE:
                return
            page += 1

    # --- payloads
    def _payload(self, entity: str, row: dict) -> dict:
        if entity == "categories":
            out = {"name": row["name"], "parent_id": int(row.get("parent_id") or 0),
                   "is_visible": not row.get("hidden"),
                   "custom_url": {"url": f"/{row['url_key']}/", "is_customized": True} if row.get("url_key") else None}
            if row.get("position") is not None:
                out["sort_order"] = row["position"]
            return {k: v for k, v in out.items() if v is not None}
        if entity == "manufacturers":
            out = {"name": row["name"]}
            if row.get("url_key"):
                out["custom_url"] = {"url": f"/{row['url_key']}/", "is_customized": True}
            return out
        if entity == "products":
            variants = row.get("variants") or []
            out = {"name": row["name"], "type": "physical", "sku": row.get("sku") or "",
                   "description": row.get("description") or "", "price": _num(row["price"]),
                   "sale_price": _num(row.get("special_price")) or 0, "weight": row.get("weight") or 0,
                   "inventory_level": row.get("stock") or 0,
                   "inventory_tracking": "variant" if variants else "product",
                   "is_visible": bool(row.get("active")), "categories": [int(c) for c in row.get("category_ids") or []],
                   "brand_id": int(row.get("manufacturer_id") or 0), "tax_class_id": int(row.get("tax_class_id") or 0)}
            if row.get("url_key"):
                out["custom_url"] = {"url": f"/{row['url_key']}/", "is_customized": True}
            if "target_id" not in row:  # variants and images go with the create (see docs: updates)
                out["variants"] = [{"sku": v.get("sku"), "price": _num(v.get("price")),
                                    "inventory_level": v.get("stock") or 0,
                                    "option_values": [{"option_display_name": o["name"], "label": o["value"]}
                                                      for o in v.get("options") or []]} for v in variants]
                out["images"] = [{"image_url": i["url"], "sort_order": i.get("position"),
                                  "description": i.get("alt") or "", "is_thumbnail": k == 0}
                                 for k, i in enumerate(row.get("images") or [])]
            return out
        if entity == "customers":
            out = {"email": row["email"], "first_name": row.get("first_name"), "last_name": row.get("last_name"),
                   "phone": row.get("phone") or "", "notes": REF + row["source_id"]}
            if "target_id" not in row:  # addresses have their own endpoint once the customer exists
                out["addresses"] = [{
                    "first_name": a.get("first_name"), "last_name": a.get("last_name"),
                    "company": a.get("company") or "", "address1": a.get("street"), "city": a.get("city"),
                    "postal_code": a.get("postcode") or "", "state_or_province": a.get("region") or "",
                    "country_code": a.get("country"), "phone": a.get("phone") or "",
                    "address_type": "commercial" if a.get("company") else "residential"}
                    for a in row.get("addresses") or []]
            return out
        if entity == "orders":
            return self._order_payload(row)
        if entity == "reviews":
            customer = self._email(row.get("customer_id"))
            return {"title": row.get("title"), "text": row.get("text") or "", "rating": row.get("rating"),
                    "status": REVIEW_OUT.get(row.get("status"), row.get("status")), "email": customer or "",
                    "name": "", "date_reviewed": row["created_at"].isoformat() if row.get("created_at") else None}
        raise KeyError(entity)

    def _order_payload(self, row: dict) -> dict:
        email = row.get("email") or ""

        def address(a):
            return {"first_name": a.get("first_name"), "last_name": a.get("last_name"),
                    "company": a.get("company") or "", "street_1": a.get("street") or "", "street_2": "",
                    "city": a.get("city"), "zip": a.get("postcode") or "", "state": a.get("region") or "",
                    "country_iso2": a.get("country"), "phone": a.get("phone") or "", "email": email}

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
        out = {"customer_id": int(row.get("customer_id") or 0), "status_id": STATUS_ID.get(row.get("status")),
               "billing_address": address(row.get("billing_address") or {}),
               "shipping_addresses": [address(row["shipping_address"])] if row.get("shipping_address") else [],
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

    def _email(self, customer_id) -> str | None:
        if customer_id is None:
            return None
        if str(customer_id) not in self._emails:
            for c in self._v3_pages("v3/customers", {"id:in": str(customer_id)}):
                self._emails[str(c["id"])] = c["email"]
        return self._emails.get(str(customer_id))

    def _review_refs(self) -> dict[str, str]:
        return json.loads(self.refs_file.read_text(encoding="utf-8")) if self.refs_file.exists() else {}

    def _save_review_refs(self, new: dict[str, str]) -> None:
        refs = {**self._review_refs(), **new}
        self.refs_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.refs_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(refs, sort_keys=True), encoding="utf-8")
        tmp.replace(self.refs_file)

    def _keep_ref(self, entity: str, target_id: int, source_id: str) -> None:
        """Our source id as an app-only metafield (not shown on the storefront), for find_existing."""
        self._try("POST", f"v3/catalog/{META_KIND[entity]}/{target_id}/metafields",
                  json={"namespace": NAMESPACE, "key": KEY, "value": source_id, "permission_set": "app_only",
                        "description": "source id of the record migrated by cart_pipelines"})

    # --- writes
    def create(self, entity: str, rows: pa.Table, preserve_ids: bool = False) -> list[WriteResult]:
        items = rows.to_pylist()
        if entity == "tax_classes":
            return [WriteResult(r["source_id"], None, NO_TAX_CLASSES) for r in items]
        if entity == "customers":  # the source id is in the notes sent with the create: find_existing sees it
            return self.create_confirmed(entity, items, lambda chunk: self._arrays("POST", "v3/customers", entity,
                                                                                   chunk))
        return [until_confirmed(lambda again, row=row: self._create_one(entity, row, again)) for row in items]

    def _create_one(self, entity: str, row: dict, again: bool) -> WriteResult:
        """One create; `again` (its last answer was lost): adopt the record if it exists, by our source id or, for
        records whose source id is written after the create, by what BigCommerce keeps unique."""
        sid, payload = row["source_id"], self._payload(entity, row)
        if again:
            tid = self.find_existing(entity, [sid]).get(sid) or self._unclaimed(entity, row, payload)
            if tid is not None:
                self._claim(entity, tid, sid)
                return WriteResult(sid, str(tid))
        if entity == "orders":
            path = "v2/orders"
        elif entity == "reviews":
            path = f"v3/catalog/products/{row['product_id']}/reviews"
        else:
            path = V3_PATH[entity]
        body, error = self._try("POST", path, json=payload, idempotent=False)
        if error:
            return WriteResult(sid, None, error)
        new_id = body["id"] if entity == "orders" else body["data"]["id"]
        self._claim(entity, new_id, sid)
        return WriteResult(sid, str(new_id))

    def _claim(self, entity: str, target_id, source_id: str) -> None:
        if entity in META_KIND:
            self._keep_ref(entity, target_id, source_id)
        elif entity == "reviews":
            self._save_review_refs({str(target_id): source_id})

    def _unclaimed(self, entity: str, row: dict, payload: dict) -> str | None:
        """A record a lost create made before our source id was attached: the one with the payload's unique name
        (a category's under its parent) or, for a review, its product, e-mail and text, that no source id holds."""
        if entity in META_KIND:
            claimed = set(self._refs(entity))
            keys = ("name", "parent_id") if entity == "categories" else ("name",)
            hits = self._v3_pages(V3_PATH[entity], {k: payload[k] for k in keys})
        elif entity == "reviews":
            claimed = {int(k) for k in self._review_refs()}
            keys = ("title", "text", "email")
            hits = self._v3_pages(f"v3/catalog/products/{row['product_id']}/reviews")
        else:
            return None
        return next((str(r["id"]) for r in hits if r["id"] not in claimed
                     and all(str(r.get(k) or "").lower() == str(payload[k] or "").lower() for k in keys)), None)

    def _arrays(self, method: str, path: str, entity: str, items: list[dict]) -> list[WriteResult]:
        """Arrays of at most 10; a rejected array is sent again one record at a time for per-record messages."""
        results = []
        for start in range(0, len(items), ARRAY_MAX):
            chunk = items[start:start + ARRAY_MAX]
            payload = [{**self._payload(entity, r), **({"id": int(r["target_id"])} if "target_id" in r else {})}
                       for r in chunk]
            body, error = self._try(method, path, json=payload, idempotent=method != "POST")
            if error is None:
                results += [WriteResult(r["source_id"], str(d["id"])) for r, d in zip(chunk, body["data"])]
                continue
            for r, one in zip(chunk, payload):
                body, error = self._try(method, path, json=[one], idempotent=method != "POST")
                results.append(WriteResult(r["source_id"], str(body["data"][0]["id"]) if body else None, error))
        return results

    def update(self, entity: str, rows: pa.Table) -> list[WriteResult]:
        items = rows.to_pylist()
        if entity == "tax_classes":
            return [WriteResult(r["source_id"], r["target_id"], NO_TAX_CLASSES) for r in items]
        if entity in ("customers", "products"):
            return self._arrays("PUT", V3_PATH[entity], entity, items)
        results = []
        for row in items:
            if entity == "orders":
                path = f"v2/orders/{row['target_id']}"
            elif entity == "reviews":
                path = f"v3/catalog/products/{row['product_id']}/reviews/{row['target_id']}"
            else:
                path = f"{V3_PATH[entity]}/{row['target_id']}"
            _, error = self._try("PUT", path, json=self._payload(entity, row))
            results.append(WriteResult(row["source_id"], row["target_id"], error))
        return results

    def find_existing(self, entity: str, source_ids: list[str]) -> dict[str, str]:
        wanted, found = set(source_ids), {}
        if not wanted:
            return found
        if entity in META_KIND:
            for m in self._v3_pages(f"v3/catalog/{META_KIND[entity]}/metafields", {"namespace": NAMESPACE, "key": KEY}):
                if m["value"] in wanted:
                    found.setdefault(m["value"], str(m["resource_id"]))
        elif entity == "customers":
            for c in self._v3_pages("v3/customers"):
                ref = _ref(c.get("notes"))
                if ref in wanted:
                    found.setdefault(ref, str(c["id"]))
        elif entity == "orders":
            for o in self._v2_pages("v2/orders"):
                ref = _ref(o.get("staff_notes"))
                if ref in wanted:
                    found.setdefault(ref, str(o["id"]))
        elif entity == "reviews":  # from the local reference file, for reviews that still exist
            refs = self._review_refs()
            for r in self._records("reviews"):
                if refs.get(str(r["id"])) in wanted:
                    found.setdefault(refs[str(r["id"])], str(r["id"]))
        return found  # tax classes are not written: nothing to adopt

    # --- read back
    def _refs(self, entity: str) -> dict[int, str]:
        if entity not in META_KIND:
            return {}
        return {m["resource_id"]: m["value"] for m in
                self._v3_pages(f"v3/catalog/{META_KIND[entity]}/metafields", {"namespace": NAMESPACE, "key": KEY})}

    def _records(self, entity: str):
        refs = self._refs(entity)
        if entity == "categories":
            for c in self._v3_pages(V3_PATH[entity]):
                yield {"id": c["id"], "parent_id": _id(c.get("parent_id")), "name": c["name"],
                       "url_key": _url_key(c.get("custom_url")), "hidden": not c.get("is_visible"),
                       "position": c.get("sort_order"), "updated_at": None, "_source_id": refs.get(c["id"])}
        elif entity == "manufacturers":
            for b in self._v3_pages(V3_PATH[entity]):
                yield {"id": b["id"], "name": b["name"], "url_key": _url_key(b.get("custom_url")),
                       "updated_at": None, "_source_id": refs.get(b["id"])}
        elif entity == "tax_classes":
            for t in self._v2_pages("v2/tax_classes"):
                yield {"id": t["id"], "name": t["name"], "rates": None, "updated_at": _ts(t.get("updated_at")),
                       "_source_id": None}
        elif entity == "products":
            for p in self._v3_pages(V3_PATH[entity], {"include": "variants,images"}):
                yield {"id": p["id"], "sku": _blank(p.get("sku")), "name": p["name"],
                       "description": _blank(p.get("description")), "price": _money(p.get("price")),
                       "special_price": _money(p.get("sale_price")) or None, "weight": p.get("weight"),
                       "stock": p.get("inventory_level"), "active": bool(p.get("is_visible")),
                       "url_key": _url_key(p.get("custom_url")),
                       "category_ids": [str(c) for c in p.get("categories") or []],
                       "manufacturer_id": _id(p.get("brand_id")), "tax_class_id": _id(p.get("tax_class_id")),
                       "variants": [{"source_id": str(v["id"]), "sku": v.get("sku"),
                                     "price": _money(v.get("calculated_price")), "stock": v.get("inventory_level"),
                                     "options": [{"name": o.get("option_display_name"), "value": o.get("label")}
                                                 for o in v["option_values"]]}
                                    for v in p.get("variants") or [] if v.get("option_values")],
                       "images": [{"url": i.get("url_zoom"), "position": i.get("sort_order"),
                                   "alt": _blank(i.get("description"))} for i in p.get("images") or []],
                       "created_at": _ts(p.get("date_created")), "updated_at": _ts(p.get("date_modified")),
                       "_source_id": refs.get(p["id"])}
        elif entity == "customers":
            for c in self._v3_pages(V3_PATH[entity], {"include": "addresses"}):
                yield {"id": c["id"], "email": c["email"], "first_name": c.get("first_name"),
                       "last_name": c.get("last_name"), "phone": _blank(c.get("phone")), "newsletter": None,
                       "addresses": [{**_address(a), "is_default_billing": None, "is_default_shipping": None}
                                     for a in c.get("addresses") or []],
                       "password_hash": None, "password_algorithm": None, "created_at": _ts(c.get("date_created")),
                       "updated_at": _ts(c.get("date_modified")), "_source_id": _ref(c.get("notes"))}
        elif entity == "orders":
            yield from self._orders()
        elif entity == "reviews":
            refs = self._review_refs()
            emails = {c["email"].lower(): str(c["id"]) for c in self._v3_pages("v3/customers")}
            for p in self._v3_pages(V3_PATH["products"], {"include_fields": "id"}):
                for r in self._v3_pages(f"v3/catalog/products/{p['id']}/reviews"):
                    yield {"id": r["id"], "product_id": str(r["product_id"]),
                           "customer_id": emails.get((r.get("email") or "").lower()), "rating": r.get("rating"),
                           "title": _blank(r.get("title")), "text": _blank(r.get("text")),
                           "status": REVIEW_IN.get(r.get("status"), r.get("status")),
                           "created_at": _ts(r.get("date_reviewed")), "updated_at": _ts(r.get("date_modified")),
                           "_source_id": refs.get(str(r["id"]))}

    def _orders(self):
        for o in self._v2_pages("v2/orders"):
            billing = o.get("billing_address") or {}
            lines = list(self._v2_pages(f"v2/orders/{o['id']}/products"))
            shipping = list(self._v2_pages(f"v2/orders/{o['id']}/shipping_addresses"))
            yield {"id": o["id"], "order_number": str(o["id"]), "customer_id": _id(o.get("customer_id")),
                   "email": _blank(billing.get("email")), "customer_first_name": billing.get("first_name"),
                   "customer_last_name": billing.get("last_name"),
                   "status": STATUS_NAME.get(o.get("status_id"), o.get("status")), "currency": o.get("currency_code"),
                   "subtotal": _money(o.get("subtotal_ex_tax")), "shipping": _money(o.get("shipping_cost_ex_tax")),
                   "tax": _money(o.get("total_tax")), "discount": _money(o.get("discount_amount")),
                   "grand_total": _money(o.get("total_inc_tax")),
                   "items": [{"source_id": str(i["id"]), "product_id": _id(i.get("product_id")),
                              "sku": _blank(i.get("sku")), "name": i.get("name"), "qty": i.get("quantity"),
                              "price": _money(i.get("price_ex_tax")), "tax": _money(i.get("total_tax"))}
                             for i in lines],
                   "billing_address": _address(billing),
                   "shipping_address": _address(shipping[0] if shipping else None),
                   "created_at": _ts(o.get("date_created")), "updated_at": _ts(o.get("date_modified")),
                   "_source_id": _ref(o.get("staff_notes"))}

    def scan(self, entity: str) -> pa.Table:
        """Everything on BigCommerce for `entity`, in the local target's columns and types."""
        return as_target_table(entity, ({**r, "id": str(r["id"])} for r in self._records(entity)))

    def count(self, entity: str) -> int:
        if entity in V3_PATH:
            body = self._json("GET", V3_PATH[entity], params={"limit": 1})
            return int(body["meta"]["pagination"]["total"])
        return sum(1 for _ in self._records(entity))

    def clear(self, entities: list[str]) -> dict[str, int]:
        deleted = {}
        for entity in [e for e in ORDER if e in entities]:  # dependants first
            if entity == "tax_classes":
                deleted[entity] = 0  # not ours to delete: BigCommerce's API cannot write tax classes
                continue
            rows = list(self._records(entity))
            if entity in ("products", "customers"):
                for start in range(0, len(rows), ARRAY_MAX):
                    ids = ",".join(str(r["id"]) for r in rows[start:start + ARRAY_MAX])
                    self._json("DELETE", V3_PATH[entity], params={"id:in": ids})
            else:
                for r in sorted(rows, key=lambda r: -int(r["id"])):  # children (created later) before parents
                    if entity == "orders":
                        path = f"v2/orders/{r['id']}"
                    elif entity == "reviews":
                        path = f"v3/catalog/products/{r['product_id']}/reviews/{r['id']}"
                    else:
                        path = f"{V3_PATH[entity]}/{r['id']}"
                    self._json("DELETE", path)
            deleted[entity] = len(rows)
        return deleted


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)
