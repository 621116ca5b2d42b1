"""WooCommerce as a target: REST API v3 writes with a Read/Write API key (docs/targets/woocommerce.md).

- batches through `POST {resource}/batch` (at most 100 objects per request, WooCommerce's limit); variations
  through `products/{id}/variations/batch`; tax classes one by one (no batch endpoint) and their rates via
  `taxes/batch`; each item's error is WooCommerce's own message and quarantines that row only;
- our source id is kept in `meta_data` (key `_cart_pipelines_source_id`) on products, variations, customers, orders
  and order line items; categories, brands, tax classes and reviews have no meta data in the REST API, so their
  source id is kept in a local reference file next to the run's data, and a term or tax class that already exists
  with the same name (WooCommerce answers `term_exists` with its id, or `tax_class_exists`) is adopted;
- money: WooCommerce computes order totals from the lines and its REST API cannot write tax amounts, so an order
  is written as line items (subtotal = price × qty, total = subtotal less its share of the discount), one shipping
  line, a fee line "Tax" carrying the source's tax (tax status none) and, only when the source's own numbers do not
  add up, a fee line "Adjustment"; read back: tax = total_tax + the "Tax" fee, grand_total = total. A shop that
  calculates taxes itself would add its own on top, so orders are refused there (see `_check_tax_setting`);
- pacing: WooCommerce has no REST limit of its own; hosts add theirs. 429/503 are retried after Retry-After and
  when the host's `RateLimit-Remaining` reaches 0 the client waits for `RateLimit-Reset`; an optional fixed rate.
"""

from __future__ import annotations

import html
import json
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import requests

from cart_pipelines.platforms.kit.duckdb_io import arrow_table, connect
from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import (
    ConnectionProblem,
    HttpClient,
    HttpSettings,
    safe_url,
)
from cart_pipelines.platforms.kit.readback import json_ready
from cart_pipelines.platforms.kit.target import Target, WriteResult, until_confirmed
from cart_pipelines.model.target_shape import TABLES
from cart_pipelines.platforms.woocommerce.api import BASE_PATH
from cart_pipelines.platforms.woocommerce.mapping import (
    META_KEY,
    REVIEW_IN,
    WEIGHT_UNITS,
    _blank,
    _decimal,
    _gmt,
    _s,
    customer_row,
    meta,
    order_row,
    payload,
    wp_error,
)
from cart_pipelines.platforms.woocommerce.source import EXPLAINER, WooExplainer, auth_for

BATCH_MAX = 100  # woocommerce_rest_batch_items_limit
REVIEW_LISTINGS = ("all", "spam", "trash")
PAGE_MAX = 100
RESOURCES = {"categories": "products/categories", "manufacturers": "products/brands", "products": "products",
             "customers": "customers", "orders": "orders", "reviews": "products/reviews"}
WITH_META = ("products", "customers", "orders")
ORDER = ("reviews", "orders", "customers", "products", "tax_classes", "manufacturers", "categories")


_plain = json_ready  # Arrow values as JSON


class WriteExplainer(WooExplainer):
    def problem(self, response, what):
        code, message = wp_error(response)
        if response.status_code == 401 and "does not have write permissions" in message:
            return ConnectionProblem("permission", f"WooCommerce refused {what} (HTTP 401): the API key works but is "
                                     f"read-only — under WooCommerce → Settings → Advanced → REST API give the key "
                                     f"Permissions 'Read/Write' (read_write). The platform said: {message}", 401)
        return super().problem(response, what)


class References:
    """Source ids of records WooCommerce keeps no meta data on (terms, tax classes, reviews): a local JSON file,
    entity → {target id: source id}, written after every successful batch."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock = threading.Lock()
        self.data: dict[str, dict[str, str]] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def get(self, entity: str) -> dict[str, str]:
        return self.data.setdefault(entity, {})

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, sort_keys=True))
        tmp.replace(self.path)


class WooCommerceTarget(Target):
    holds_refunds = True  # POST orders/{id}/refunds, read back from the order's `refunds`
    holds_grouped = True  # grouped_products: the ids of its products
    CREDENTIALS = (
        Credential("shop_url", "WOOCOMMERCE_TARGET_URL", "Shop URL"),
        Credential("consumer_key", "WOOCOMMERCE_TARGET_CONSUMER_KEY", "Consumer key (Read/Write)", secret=True),
        Credential("consumer_secret", "WOOCOMMERCE_TARGET_CONSUMER_SECRET", "Consumer secret", secret=True),
        Credential("references_file", "WOOCOMMERCE_TARGET_REFERENCES",
                   "References file (default data/woocommerce-target-references.json)", default=""),
        Credential("ca_file", "WOOCOMMERCE_TARGET_CA_FILE", "CA file to trust", default=""),
        Credential("requests_per_second", "WOOCOMMERCE_TARGET_RPS", "Fixed request rate for hosts that limit one",
                   default=0.0, kind=float),
    )
    # Fields WooCommerce holds faithfully (docs/targets/woocommerce.md says why the others are left out).
    COMPARABLE = {
        "categories": ("parent_id", "name", "url_key", "position"),
        "manufacturers": ("name", "url_key"),
        "tax_classes": ("name", "rates"),
        "products": ("sku", "name", "description", "price", "special_price", "weight", "stock", "active", "url_key",
                     "category_ids", "manufacturer_id", "tax_class_id", "variants", "created_at"),
        "customers": ("email", "first_name", "last_name", "phone", "newsletter"),
        "orders": ("customer_id", "email", "customer_first_name", "customer_last_name", "status", "currency",
                   "subtotal", "shipping", "tax", "discount", "grand_total", "items", "billing_address",
                   "shipping_address"),
        "reviews": ("product_id", "customer_id", "rating", "text", "status", "created_at"),
    }

    @classmethod
    def from_credentials(cls, values: dict, data_dir: Path) -> "WooCommerceTarget":
        refs = values.get("references_file") or str(Path(data_dir) / "woocommerce-target-references.json")
        settings = HttpSettings(requests_per_second=values.get("requests_per_second") or None)
        return cls(values["shop_url"], values["consumer_key"], values["consumer_secret"], refs,
                   verify=values.get("ca_file") or True, settings=settings)

    @classmethod
    def emulator_credentials(cls, handle, workdir: Path) -> dict:
        c = handle.credentials
        return {"shop_url": handle.base_url, "consumer_key": c["consumer_key"],
                "consumer_secret": c["consumer_secret"],
                "references_file": str(Path(workdir) / "woocommerce-references.json"), "ca_file": handle.ca_file or ""}

    max_batch = BATCH_MAX
    password_algorithms = ()  # the REST API takes plain passwords only: customers set a new one
    can_preserve_ids = False  # WordPress assigns ids

    def __init__(self, shop_url: str, consumer_key: str, consumer_secret: str, references: str | Path,
                 verify: bool | str = True, settings: HttpSettings | None = None):
        self.shop_url = shop_url.rstrip("/")
        self.name = f"woocommerce:{urlsplit(self.shop_url).netloc}{urlsplit(self.shop_url).path}"
        auth = auth_for(self.shop_url, consumer_key, consumer_secret)
        self.verify = verify
        self.client = HttpClient(f"{self.shop_url}/{BASE_PATH}", WriteExplainer(**{
            **EXPLAINER, "permission_hint": "under WooCommerce → Settings → Advanced → REST API, give the key "
                                            "Permissions 'Read/Write' and create it for an Administrator or Shop "
                                            "Manager user"}),
            settings=settings, auth=auth, verify=verify, on_response=self._pace)
        self.refs = References(references)
        self._found: dict[str, dict[str, str]] = {}
        self._pause_until = 0.0
        self._kg: Decimal | None = None
        self._emails: dict[str, dict] = {}
        self._taxes_checked = False

    def describe(self) -> str:
        return f"WooCommerce shop {safe_url(self.shop_url)} (REST API wc/v3)"

    # --- HTTP ------------------------------------------------------------------------------------------------
    def _pace(self, response: requests.Response) -> None:
        """Stop when the host's window is used up, until it resets (WooCommerce's limiter headers)."""
        try:
            left, reset = int(response.headers["RateLimit-Remaining"]), float(response.headers["RateLimit-Reset"])
        except (KeyError, ValueError):
            return
        if left <= 0 and response.status_code < 400:
            self._pause_until = max(self._pause_until, min(reset, time.time() + 60.0) + 0.05)
        delay = self._pause_until - time.time()
        if delay > 0:
            time.sleep(delay)

    def _call(self, method: str, path: str, what: str = "", idempotent: bool = True, **kwargs) -> requests.Response:
        return self.client.request(method, path, what=what or path, verify=self.verify, idempotent=idempotent,
                                   **kwargs)

    def _pages(self, path: str, params: dict | None = None):
        page = 1
        while True:
            r = self._call("GET", path, params={"orderby": "id", "order": "asc", **(params or {}), "page": page,
                                                "per_page": PAGE_MAX})
            items = r.json()
            yield items
            if page >= int(r.headers.get("X-WP-TotalPages") or 0) or len(items) < PAGE_MAX:
                return
            page += 1

    def _all(self, entity: str, params: dict | None = None) -> list[dict]:
        if entity == "reviews":  # `all` is approved and on hold only: spam and trash are listings of their own
            return [r for status in REVIEW_LISTINGS for page in self._pages(
                RESOURCES[entity], {"status": status, "context": "edit", **(params or {})}) for r in page]
        extra = {"status": "any"} if entity == "orders" else {}
        return [r for page in self._pages(RESOURCES[entity], {**extra, **(params or {})}) for r in page]

    def _batch(self, path: str, kind: str, payloads: list) -> list[dict]:
        out = []
        for start in range(0, len(payloads), BATCH_MAX):
            chunk = payloads[start:start + BATCH_MAX]
            out += self._call("POST", f"{path}/batch", what=f"{path} batch", idempotent=kind != "create",
                              json={kind: chunk}).json().get(kind, [])
        return out

    @staticmethod
    def _error(res: dict) -> str | None:
        err = res.get("error")
        if not err:
            return None
        return f"{err.get('message')} ({err.get('code')})"

    # --- payloads --------------------------------------------------------------------------------------------
    def _kg_per_unit(self) -> Decimal:
        if self._kg is None:
            try:
                unit = self._call("GET", "settings/products/woocommerce_weight_unit").json().get("value")
            except (ConnectionProblem, ValueError, AttributeError):
                unit = "kg"
            self._kg = WEIGHT_UNITS.get(unit, Decimal(1))
        return self._kg

    def _customer(self, target_id: str) -> dict:
        if target_id not in self._emails:
            c = self._call("GET", f"customers/{int(target_id)}", what="a review's customer").json()
            self._emails[target_id] = c
        return self._emails[target_id]

    def _check_tax_setting(self) -> str | None:
        """WooCommerce would add its own taxes to the lines: only write orders where it calculates none."""
        if not self._taxes_checked:
            try:
                self._calc = self._call("GET", "settings/general/woocommerce_calc_taxes").json().get("value")
            except (ConnectionProblem, ValueError, AttributeError):
                self._calc = "no"
            self._taxes_checked = True
        if self._calc == "yes":
            return ("WooCommerce calculates taxes on this shop (Settings → General → Enable tax rates and "
                    "calculations): it would add its own taxes to migrated orders; turn it off while migrating orders")
        return None

    # --- writes ----------------------------------------------------------------------------------------------
    def create(self, entity: str, rows: pa.Table, preserve_ids: bool = False) -> list[WriteResult]:
        return self._write(entity, rows.to_pylist(), "create")

    def update(self, entity: str, rows: pa.Table) -> list[WriteResult]:
        return self._write(entity, rows.to_pylist(), "update")

    def _write(self, entity: str, rows: list[dict], kind: str) -> list[WriteResult]:
        self._found.pop(entity, None)
        if entity == "tax_classes":
            return [self._tax_class(r, kind) for r in rows]
        if entity == "orders" and (problem := self._check_tax_setting()):
            return [WriteResult(r["source_id"], None, problem) for r in rows]
        if entity == "customers" and kind == "update":
            self._emails.clear()
        payloads = []
        for r in rows:
            p = payload(entity, r, self._kg_per_unit, self._customer)
            if kind == "update":
                p["id"] = int(r["target_id"])
                if entity == "orders":  # replace the lines: old ones go (quantity 0 / name null), new ones come
                    old = self._call("GET", f"orders/{p['id']}").json()
                    p["line_items"] = [{"id": li["id"], "quantity": 0} for li in old.get("line_items", [])] + \
                        p["line_items"]
                    p["shipping_lines"] = [{"id": s["id"], "method_id": None} for s in old.get("shipping_lines", [])] \
                        + p["shipping_lines"]
                    p["fee_lines"] = [{"id": f["id"], "name": None} for f in old.get("fee_lines", [])] + \
                        p["fee_lines"]
            payloads.append(p)
        adopt: list[dict] = []
        if kind == "create":
            by_sid = {r["source_id"]: p for r, p in zip(rows, payloads)}

            def send(chunk: list[dict]) -> list[WriteResult]:
                self._found.pop(entity, None)  # find_existing after a lost answer must read the target again
                answers = self._batch(RESOURCES[entity], kind, [by_sid[r["source_id"]] for r in chunk])
                return self._answered(entity, chunk, answers, adopt)

            done = {r.source_id: r for r in self.create_confirmed(entity, rows, send)}
            results = [done[r["source_id"]] for r in rows]
        else:
            results = self._answered(entity, rows, self._batch(RESOURCES[entity], kind, payloads), adopt)
        if entity == "products":
            results = self._variations(rows, results, kind)
        if entity == "orders":
            results = self._refunds(rows, results)
        if entity not in WITH_META:
            refs = self.refs.get(entity)
            for r in results:
                if r.error is None:
                    refs[r.target_id] = r.source_id
            self.refs.save()
        if adopt:
            done = {r.source_id: r for r in self._write(entity, adopt, "update")}
            results = [done.get(r.source_id, r) for r in results]
        return results

    def _answered(self, entity: str, rows: list[dict], answers: list[dict], adopt: list[dict]) -> list[WriteResult]:
        """Per row its target id or WooCommerce's message; a term or review that exists already (the same name, or
        WordPress's duplicate-comment check after a create whose answer was lost) and that no other source record
        holds is adopted (its row goes to `adopt`, to be updated to our values)."""
        results = []
        reviews = None
        for row, res in zip(rows, answers):
            err = res.get("error") or {}
            tid = (err.get("data") or {}).get("resource_id") if err.get("code") == "term_exists" else None
            if err.get("code") == "comment_duplicate":
                reviews = self._all("reviews") if reviews is None else reviews
                p = payload(entity, row, self._kg_per_unit, self._customer)
                tid = next((r["id"] for r in reviews if r["product_id"] == p["product_id"] and r["review"] ==
                            p["review"] and r["reviewer_email"].lower() == p["reviewer_email"].lower()), None)
            if tid and self.refs.get(entity).get(str(tid)) in (None, row["source_id"]) \
                    and str(tid) not in {r.target_id for r in results}:  # unclaimed: adopt it
                adopt.append({**row, "target_id": str(tid)})
                results.append(WriteResult(row["source_id"], str(tid)))
            elif err:
                results.append(WriteResult(row["source_id"], None, self._error(res)))
            else:
                results.append(WriteResult(row["source_id"], str(res["id"])))
        return results

    def _refunds(self, rows: list[dict], results: list[WriteResult]) -> list[WriteResult]:
        """An order's refunds as WooCommerce refunds (POST orders/{id}/refunds, `api_refund` false: recorded, no
        money moves through the payment gateway; `api_restock` false: the migrated stock stays as the source has
        it), each once: a refund carries our source id in its meta data. A refund's lines go as its `line_items`,
        each naming the order line written for the source line (the line item carrying that line's source id in
        its meta data), so WooCommerce records the refunded quantities on the order's lines; a refund line with no
        such order line (target rule refund_line_without_order_line) is left out of the refund, whose amount stays
        the source's."""
        out = []
        for row, res in zip(rows, results):
            refunds = row.get("refunds") or []
            if res.error or not refunds:
                out.append(res)
                continue
            held = {meta(r) for page in self._pages(f"orders/{res.target_id}/refunds") for r in page}
            todo = [(r.get("source_id") or f"{row['source_id']}-refund-{k + 1}", r) for k, r in enumerate(refunds)]
            todo = [(sid, r) for sid, r in todo if sid not in held]
            errors = []
            try:
                written = self._order_lines(res.target_id) if any(r.get("lines") for _, r in todo) else {}
            except ConnectionProblem as exc:
                out.append(WriteResult(res.source_id, res.target_id, f"refunds: {exc}"))
                continue
            for sid, r in todo:
                body = {"amount": _s(r.get("amount")), "reason": r.get("reason") or "", "api_refund": False,
                        "api_restock": False, "meta_data": [{"key": META_KEY, "value": sid}]}
                lines = refund_line_items(r.get("lines") or [], written)
                if lines:
                    body["line_items"] = lines
                try:
                    self._call("POST", f"orders/{res.target_id}/refunds", f"refund {sid} of order {row['source_id']}",
                               idempotent=False, json=body)
                except ConnectionProblem as exc:
                    errors.append(str(exc))
            out.append(WriteResult(res.source_id, res.target_id, ("refunds: " + "; ".join(errors)) if errors
                                   else None))
        return out

    def _order_lines(self, order_id: str) -> dict[str, dict]:
        """The order's line items as written, by the source line id in their meta data (one order's lines)."""
        order = self._call("GET", f"orders/{int(order_id)}", what=f"order {order_id}'s lines").json()
        return {str(sid): li for li in order.get("line_items") or [] if (sid := meta(li)) not in (None, "")}

    def _variations(self, rows: list[dict], results: list[WriteResult], kind: str) -> list[WriteResult]:
        out = []
        for row, res in zip(rows, results):
            variants = row.get("variants") or []
            if res.error or (not variants and kind == "create"):
                out.append(res)
                continue
            errors = until_confirmed(lambda again: self._sync_variations(
                int(res.target_id), row, read_existing=again or kind == "update"))
            out.append(WriteResult(res.source_id, res.target_id, ("variations: " + "; ".join(errors))
                                   if errors else None))
        return out

    def _sync_variations(self, pid: int, row: dict, read_existing: bool) -> list[str]:
        """Make product `pid`'s variations the row's variants (matched by source id); WooCommerce's errors."""
        existing = {}
        if read_existing:
            existing = {meta(v): v["id"] for page in self._pages(f"products/{pid}/variations") for v in page}
        creates, updates = [], []
        for v in row.get("variants") or []:
            body = {"sku": v.get("sku") or "", "regular_price": _s(v.get("price")),
                    "sale_price": _s(row.get("special_price")), "manage_stock": v.get("stock") is not None,
                    "stock_quantity": v.get("stock"),
                    "attributes": [{"name": o["name"], "option": o["value"]} for o in v.get("options") or []],
                    "meta_data": [{"key": META_KEY, "value": v.get("source_id")}]}
            if v.get("source_id") in existing:
                updates.append({**body, "id": existing.pop(v.get("source_id"))})
            else:
                creates.append(body)
        answers = []
        payload = {"create": creates, "update": updates, "delete": list(existing.values())}
        ops = [(k, x) for k in ("create", "update", "delete") for x in payload[k]]
        for start in range(0, len(ops), BATCH_MAX):
            chunk = ops[start:start + BATCH_MAX]
            body = {k: [x for kk, x in chunk if kk == k] for k in ("create", "update", "delete")}
            got = self._call("POST", f"products/{pid}/variations/batch", json=body,
                             idempotent=not body["create"]).json()
            answers += [a for k in ("create", "update", "delete") for a in got.get(k, [])]
        return [self._error(a) for a in answers if a.get("error")]

    def _tax_class(self, row: dict, kind: str) -> WriteResult:
        sid, name = row["source_id"], row["name"]
        slug = row.get("target_id")
        try:
            if slug is None:
                if sid == "standard" or name.strip().lower() == "standard":
                    slug = "standard"  # WooCommerce's built-in class
                else:
                    try:
                        slug = self._call("POST", "taxes/classes", json={"name": name}).json()["slug"]
                    except ConnectionProblem as exc:
                        classes = self._call("GET", "taxes/classes").json()
                        hit = next((c["slug"] for c in classes if c["name"] == name), None)
                        if exc.status != 400 or hit is None or self.refs.get("tax_classes").get(hit) not in (None,
                                                                                                           sid):
                            return WriteResult(sid, None, str(exc))
                        slug = hit  # "Tax class already exists": adopt it
            answers = until_confirmed(lambda again: self._rates(slug, row))
        except ConnectionProblem as exc:
            return WriteResult(sid, None, str(exc))
        self.refs.get("tax_classes")[slug] = sid
        self.refs.save()
        errors = [self._error(a) for a in answers if a.get("error")]
        return WriteResult(sid, slug, "; ".join(errors) if errors else None)

    def _rates(self, slug: str, row: dict) -> list[dict]:
        """Replace the class's rates with the row's (run again, it converges: the old ones are read first)."""
        old = [r["id"] for page in self._pages("taxes", {"class": slug}) for r in page]
        rates = [{"country": r.get("country") or "", "rate": str(r["rate"]), "name": "Tax", "class": slug,
                  "priority": 1, "shipping": True} for r in row.get("rates") or []]
        answers = self._batch("taxes", "delete", old) if old else []
        return answers + (self._batch("taxes", "create", rates) if rates else [])

    # --- reading back ----------------------------------------------------------------------------------------
    def find_existing(self, entity: str, source_ids: list[str]) -> dict[str, str]:
        if entity not in self._found:
            found = {sid: tid for tid, sid in self.refs.get(entity).items()}
            if entity in WITH_META:
                for r in self._all(entity, {"_fields": "id,meta_data"}):
                    if (sid := meta(r)) is not None:
                        found.setdefault(str(sid), str(r["id"]))
            elif entity != "tax_classes":  # a reference whose record is gone is no record
                ids = {str(r["id"]) for r in self._all(entity, {"_fields": "id"})}
                found = {s: t for s, t in found.items() if t in ids}
            self._found[entity] = found
        return {s: self._found[entity][s] for s in source_ids if s in self._found[entity]}

    def _rows(self, entity: str) -> list[dict]:
        refs = self.refs.get(entity)
        if entity == "tax_classes":
            out = []
            for c in self._call("GET", "taxes/classes").json():
                if c["slug"] == "standard" and "standard" not in refs:
                    continue  # built in, not ours
                rates = [{"country": _blank(r.get("country")), "rate": Decimal(str(r["rate"])).quantize(
                    Decimal("0.001"))} for page in self._pages("taxes", {"class": c["slug"]}) for r in page]
                out.append({"id": c["slug"], "name": c["name"], "rates": rates or None, "updated_at": None,
                            "_source_id": refs.get(c["slug"])})
            return out
        records = self._all(entity)
        if entity in ("categories", "manufacturers"):
            return [{"id": str(t["id"]), "name": html.unescape(t["name"]), "url_key": t.get("slug"),
                     "parent_id": str(t["parent"]) if t.get("parent") else None, "hidden": None,
                     "position": t.get("menu_order") or None, "updated_at": None, "_source_id": refs.get(str(t["id"]))}
                    for t in records]
        if entity == "products":
            return [self._product_row(p) for p in records]
        if entity == "customers":
            out = []
            for c in records:
                cust = customer_row(c)
                news = meta(c, "_cart_pipelines_newsletter")
                out.append({**cust, "id": str(c["id"]), "newsletter": None if news in (None, "") else news == "True",
                            "_source_id": meta(c)})
            return out
        if entity == "orders":
            return [order_row(o) for o in records]
        if entity == "reviews":
            emails = {c["email"].lower(): str(c["id"]) for c in self._all("customers", {"_fields": "id,email"})}
            return [{"id": str(r["id"]), "product_id": str(r["product_id"]),
                     "customer_id": emails.get((r.get("reviewer_email") or "").lower()), "rating": r.get("rating"),
                     "title": None, "text": r.get("review"), "status": REVIEW_IN.get(r.get("status"), r.get("status")),
                     "created_at": _gmt(r.get("date_created_gmt")), "updated_at": None,
                     "_source_id": refs.get(str(r["id"]))} for r in records]
        raise ValueError(entity)

    def _product_row(self, p: dict) -> dict:
        kg = self._kg_per_unit()
        variations = [v for page in self._pages(f"products/{p['id']}/variations") for v in page] \
            if p.get("type") == "variable" else []
        price, special = _decimal(p.get("regular_price")), _decimal(p.get("sale_price"))
        if p.get("type") in ("variable", "grouped"):
            price = _decimal(meta(p, "_cart_pipelines_price"))
            special = _decimal(meta(p, "_cart_pipelines_special_price"))
        return {"id": str(p["id"]), "sku": _blank(p.get("sku")), "name": p.get("name"),
                "description": p.get("description"), "price": price, "special_price": special,
                "weight": float(Decimal(p["weight"]) * kg) if p.get("weight") not in (None, "") else None,
                "stock": p.get("stock_quantity") if p.get("manage_stock") else None,
                "active": p.get("status") == "publish", "url_key": p.get("slug"),
                "type": p.get("type"),
                "child_ids": [str(c) for c in p.get("grouped_products") or []] if p.get("type") == "grouped"
                else None,
                "category_ids": [str(c["id"]) for c in p.get("categories") or []],
                "manufacturer_id": next((str(b["id"]) for b in p.get("brands") or []), None),
                # "" is WooCommerce's built-in Standard class: ours only where a source class was loaded as it
                # (a product of a source without tax classes, Shopify's, has none)
                "tax_class_id": p.get("tax_class") or ("standard" if "standard" in self.refs.get("tax_classes")
                                                       else None),
                "variants": [{"source_id": meta(v), "sku": _blank(v.get("sku")),
                              "price": _decimal(v.get("regular_price")),
                              "stock": v.get("stock_quantity") if v.get("manage_stock") else None,
                              "options": [{"name": a.get("name"), "value": a.get("option")}
                                          for a in v.get("attributes") or []]} for v in variations],
                "images": [{"url": i.get("src"), "position": k, "alt": _blank(i.get("alt"))}
                           for k, i in enumerate(p.get("images") or [])],
                "created_at": _gmt(p.get("date_created_gmt")), "updated_at": _gmt(p.get("date_modified_gmt")),
                "_source_id": meta(p)}

    def scan(self, entity: str) -> pa.Table:
        """Everything on the shop for `entity`, in the columns and types of the local target (TABLES)."""
        return typed_table(entity, self._rows(entity))

    def count(self, entity: str) -> int:
        if entity == "tax_classes":
            return len(self._rows("tax_classes"))
        listings = [{"status": "any"}] if entity == "orders" else [{"status": s} for s in REVIEW_LISTINGS] \
            if entity == "reviews" else [{}]
        total = 0
        for extra in listings:
            r = self._call("GET", RESOURCES[entity], params={**extra, "per_page": 1, "_fields": "id"})
            total += int(r.headers.get("X-WP-Total") or len(r.json()))
        return total

    def clear(self, entities: list[str]) -> dict[str, int]:
        deleted = {}
        for entity in [e for e in ORDER if e in entities]:  # dependants first
            self._found.pop(entity, None)
            if entity == "tax_classes":
                n = 0
                for c in self._call("GET", "taxes/classes").json():
                    rates = [r["id"] for page in self._pages("taxes", {"class": c["slug"]}) for r in page]
                    if rates:
                        self._batch("taxes", "delete", rates)
                    if c["slug"] != "standard":
                        self._call("DELETE", f"taxes/classes/{c['slug']}", params={"force": "true"})
                    n += c["slug"] != "standard" or c["slug"] in self.refs.get(entity)
            else:
                ids = [r["id"] for r in self._all(entity, {"_fields": "id"})]
                answers = self._batch(RESOURCES[entity], "delete", ids)
                n = sum(1 for a in answers if not a.get("error"))
            self.refs.data[entity] = {}
            self.refs.save()
            deleted[entity] = n
        return deleted


def refund_line_items(lines: list[dict], written: dict[str, dict]) -> list[dict]:
    """A refund's lines as WooCommerce refund `line_items`: per source line the order line written for it (by its
    source id, `written`), the quantity and the amount before tax as `refund_total`. No `refund_tax`: the target
    writes an order's tax as a fee line, so its line items hold no tax to refund, and a refund line carries none
    of its own. A line whose order line is not there is left out (rule refund_line_without_order_line)."""
    out = []
    for ln in lines:
        li = written.get(str(ln.get("item_id")))
        if li is None:
            continue
        out.append({"id": li["id"], "quantity": int(ln.get("qty") or 0), "refund_total": _s(ln.get("amount"))})
    return out


def typed_table(entity: str, rows: list[dict]) -> pa.Table:
    """Rows as the local target's table for `entity` (TABLES columns and types), through DuckDB's JSON reader."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(_plain(r), ensure_ascii=False) + "\n")
        fh.flush()
        con = connect(temp_parent=Path(fh.name).parent)  # bounded like every pipeline connection
        try:
            # Without NOT NULL: a record WooCommerce lost a link of (a deleted customer) is reported, not a crash.
            columns = TABLES[entity].replace(" NOT NULL", "")
            con.execute(f"CREATE TABLE t (id VARCHAR, {columns}, _source_id VARCHAR)")
            if rows:
                types = ", ".join(f"'{c}': '{t}'" for c, t in con.execute(
                    "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 't'").fetchall())
                cols = [r[0] for r in con.execute("DESCRIBE t").fetchall()]
                con.execute(f"INSERT INTO t SELECT {', '.join(cols)} FROM read_json(?, columns = {{{types}}})",
                            [fh.name])
            return arrow_table(con, "SELECT * FROM t")
        finally:
            con.close()
