"""BigCommerce as a target: REST v3 for the catalog, customers and reviews, v2 for orders (docs/targets/bigcommerce.md).

- categories, brands and products are created one per request (products with their variants and images), each
  followed by an app-only metafield `cart_pipelines.source_id` holding our source id; customers are created and
  updated 10 per request, products updated 10 per request (the documented array limits); an array request that
  BigCommerce rejects (all-or-nothing) is retried one record at a time, so each bad record gets its own message;
- customers keep the source id in `notes`, orders in `staff_notes` (both visible to staff only); orders are
  created with `external_source: M-MIG` (historical orders, kept out of the store's order count) and with the
  source's subtotal, shipping, discount, tax and total as overrides, so the money is the source's to the cent;
  their refunds through the v3 payment actions (a refund quote, then the refund with the source's amount as the
  merchant's override, paid back offline), each once: matched by amount and reason on the order;
- tax classes cannot be written: BigCommerce's API has only GET /v2/tax_classes. Every tax-class row is answered
  with an error saying so (they must be created in the control panel); see the docs for what that means;
- pacing follows the X-Rate-Limit-* headers as the source connector does (kit/pacing.py, declared in api.py).

The payloads and read-backs are in mapping.py; this file does the writing.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa

from cart_pipelines.platforms.bigcommerce import mapping
from cart_pipelines.platforms.bigcommerce.api import API_HOST, PAGE_SIZE
from cart_pipelines.platforms.bigcommerce.mapping import ref as _ref
from cart_pipelines.platforms.bigcommerce.source import api_root, error_message, pacer, reset_after
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
META_KIND = {"categories": "categories", "manufacturers": "brands", "products": "products"}
V3_PATH = {"categories": "v3/catalog/categories", "manufacturers": "v3/catalog/brands",
           "products": "v3/catalog/products", "customers": "v3/customers"}
ORDER = ("reviews", "orders", "customers", "products", "tax_classes", "manufacturers", "categories")
NO_TAX_CLASSES = ("BigCommerce has no tax classes API for writes (only GET /v2/tax_classes): create the tax class "
                  "in the control panel (Settings › Tax) and assign it to the products there")
REJECTED = (400, 404, 409, 413, 422)  # statuses that reject one record, not the run


class BigCommerceTarget(Target):
    holds_refunds = True  # v3 payment actions: refund quote, then refund; read back with the order
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
        self.pacer = pacer()
        explainer = Explainer(
            platform="BigCommerce", credential_fields=("access_token", "store_hash"),
            permission_hint="writing needs a store-level API account with the modify scopes Products, Customers "
                            "and Orders (read-only is not enough); scopes cannot be changed afterwards, create a new "
                            "account under Settings > Store-level API accounts",
            error_message=error_message)
        headers = {"X-Auth-Token": access_token, "Content-Type": "application/json"}
        if client_id:
            headers["X-Auth-Client"] = client_id
        self.client = HttpClient(api_root(base_url, store_hash), explainer, settings=settings, headers=headers, verify=verify, retry_after=reset_after,
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

    # --- payloads (mapping.py)
    def _payload(self, entity: str, row: dict) -> dict:
        email = self._email(row.get("customer_id")) if entity == "reviews" else None
        return mapping.payload(entity, row, email)

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
        results = [until_confirmed(lambda again, row=row: self._create_one(entity, row, again)) for row in items]
        return self._refunds(items, results) if entity == "orders" else results

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
        return self._refunds(items, results) if entity == "orders" else results

    # --- refunds (Orders v3 payment actions)
    def _refunds(self, rows: list[dict], results: list[WriteResult]) -> list[WriteResult]:
        """Each written order's refunds as BigCommerce refunds, each once: the order's refunds are read first and
        those it holds (the same amount and reason, counted) are not written again, so a re-run writes nothing and
        a refund added at the source since arrives with the order's next update (a delta)."""
        out = []
        for row, res in zip(rows, results):
            if res.error or not row.get("refunds"):
                out.append(res)
                continue
            errors = until_confirmed(lambda again, row=row, res=res: self._sync_refunds(row, int(res.target_id)))
            out.append(WriteResult(res.source_id, res.target_id,
                                   ("refunds: " + "; ".join(errors)) if errors else None))
        return out

    def _sync_refunds(self, row: dict, oid: int) -> list[str]:
        """Quote, then create, each refund of the row the order does not hold; BigCommerce's messages."""
        held = (self._json("GET", f"v3/orders/{oid}/payment_actions/refunds") or {}).get("data") or []
        missing = mapping.missing_refunds(row, held)
        if not missing:
            return []
        products = list(self._v2_pages(f"v2/orders/{oid}/products"))
        errors = []
        for r in missing:
            items = mapping.refund_items(row, r, oid, products)
            # quoted for the amount that went back (an ORDER item): the refund is created with that amount as the
            # merchant's override, while BigCommerce would price its lines at their full price and tax, more than
            # what is left of an order with a discount refunded in full
            quote, error = self._try("POST", f"v3/orders/{oid}/payment_actions/refund_quotes",
                                     json={"items": [mapping.order_level_item(r, oid)]})
            if error:
                errors.append(error)
                continue
            body = mapping.refund_request(r, items, quote["data"])
            if isinstance(body, str):
                errors.append(body)
                continue
            _, error = self._try("POST", f"v3/orders/{oid}/payment_actions/refunds", json=body, idempotent=False)
            if error:
                errors.append(error)
        return errors

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
                yield {**mapping.category_row(c), "_source_id": refs.get(c["id"])}
        elif entity == "manufacturers":
            for b in self._v3_pages(V3_PATH[entity]):
                yield {**mapping.brand_row(b), "_source_id": refs.get(b["id"])}
        elif entity == "tax_classes":
            for t in self._v2_pages("v2/tax_classes"):
                yield {**mapping.tax_class_row(t), "_source_id": None}
        elif entity == "products":
            for p in self._v3_pages(V3_PATH[entity], {"include": "variants,images"}):
                yield {**mapping.product_row(p), "_source_id": refs.get(p["id"])}
        elif entity == "customers":
            yield from (mapping.customer_row(c) for c in self._v3_pages(V3_PATH[entity], {"include": "addresses"}))
        elif entity == "orders":
            page: list[dict] = []
            for o in self._v2_pages("v2/orders"):
                page.append(o)
                if len(page) == PAGE_SIZE:
                    yield from self._order_rows(page)
                    page = []
            yield from self._order_rows(page)
        elif entity == "reviews":
            refs = self._review_refs()
            emails = {c["email"].lower(): str(c["id"]) for c in self._v3_pages("v3/customers")}
            for p in self._v3_pages(V3_PATH["products"], {"include_fields": "id"}):
                for r in self._v3_pages(f"v3/catalog/products/{p['id']}/reviews"):
                    yield {**mapping.review_row(r, emails.get((r.get("email") or "").lower())),
                           "_source_id": refs.get(str(r["id"]))}

    def _order_rows(self, orders: list[dict]):
        """Orders read back with their products, shipping addresses and, for those with a refunded amount, their
        refunds (one getOrdersRefunds call per page of orders, `order_id:in`)."""
        refunded = [str(o["id"]) for o in orders if mapping.was_refunded(o)]
        refunds: dict[int, list[dict]] = {}
        if refunded:
            for r in self._v3_refunds({"order_id:in": ",".join(refunded)}):
                refunds.setdefault(r["order_id"], []).append(r)
        for o in orders:
            products = list(self._v2_pages(f"v2/orders/{o['id']}/products"))
            yield mapping.order_row(o, products, list(self._v2_pages(f"v2/orders/{o['id']}/shipping_addresses")),
                                    refunds.get(o["id"], []))

    def _v3_refunds(self, params: dict):
        """getOrdersRefunds pages (its meta has no pagination: a short page is the last)."""
        page = 1
        while True:
            rows = (self._json("GET", "v3/orders/payment_actions/refunds",
                               params={**params, "limit": PAGE_SIZE, "page": page}) or {}).get("data") or []
            yield from rows
            if len(rows) < PAGE_SIZE:
                return
            page += 1

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
