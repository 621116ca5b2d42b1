"""Mystore as a target, on API v2 (docs/targets/mystore.md; facts and open points in facts.py).

- connect with an OAuth client (`cart-pipelines authorize`, seed 000) or a Personal Access Token
  ($MYSTORE_TOKEN); the shop name is read from the token; the connection check names missing permissions;
- creates go in atomic batches (all or nothing, `{{operation.N.return.M}}` placeholders): a product with its
  special, options, values, attributes and variants, an order with its lines (adjust inventory off: historical
  orders must not draw stock), totals rows (refunds as ot_refund) and status history (one row per refund) — many
  records per request, two requests in flight, so throughput is bound by the 120 requests/min per token, paced
  client-side; a batch that fails is retried record by record so one bad record is quarantined with Mystore's
  message and the rest load;
- a sale keeps its end (expires_at); Mystore holds no start, so a sale still ahead is held at status 0 and
  switched on by the first run after its start; products that are not published and enabled get status 0;
- Mystore keeps no foreign reference, so source ids are kept in a local references file (target id → source id,
  written after every batch) and each create first records its natural key (slug, e-mail, title, order number):
  a create whose answer was lost, or that a killed run never recorded, is found by that key and adopted;
- images by file name: each source image is downloaded and uploaded (`POST images`) where reachable; what could
  not be carried is listed per product in mystore-not-carried.json next to the references;
- the 301 map goes into the shop's `redirects` resource (option MYSTORE_REDIRECTS=off to leave it to the CSV).
"""

from __future__ import annotations

import json
import re
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import requests

from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import ConnectionProblem
from cart_pipelines.platforms.kit.oauth import OAuthClient, TokenStore
from cart_pipelines.platforms.kit.readback import as_target_table
from cart_pipelines.platforms.kit.target import Target, WriteResult, until_confirmed
from cart_pipelines.platforms.mystore import facts
from cart_pipelines.platforms.mystore import mapping as m
from cart_pipelines.platforms.mystore.api import MystoreApi
from cart_pipelines.platforms.mystore.connection import DEFAULT_REDIRECT, Connection, credentials, rate_of
from cart_pipelines.platforms.mystore.references import References

TYPE = {"categories": "categories", "manufacturers": "manufacturers", "tax_classes": "tax-classes",
        "products": "products", "customers": "customers", "orders": "orders", "reviews": "product-reviews"}
ORDER = ("reviews", "orders", "customers", "products", "tax_classes", "manufacturers", "categories")
# Types the target reads and writes: the permissions a token needs (facts.read_scope / write_scope).
READS = ("settings", "languages", "order-status", *TYPE.values(), "product-options", "product-option-values",
         "product-attributes", "product-variants", "product-specials", "order-products", "order-totals", "redirects")
# Rows a record's atomic batch creates with it, whose source ids the references keep: (kind, child type, field).
ADOPTED_WITH = {"products": ("variants", "product-variants", "variants"),
                "orders": ("order_items", "order-products", "items")}
WRITES = (*TYPE.values(), "product-options", "product-option-values", "product-attributes", "product-variants",
          "product-specials", "order-products", "order-totals", "order-status-history", "redirects", "images")
SCOPES = tuple(dict.fromkeys([facts.read_scope(t) for t in READS] + [facts.write_scope(t) for t in WRITES]))
P = "{{{{operation.{}.return.1}}}}"  # placeholder of the n-th operation's first return value
# Atomic batches in flight at once: two keep the 120/min limit busy while an answer is handled (Mystore documents
# no concurrency limit; facts ASSUMPTIONS "concurrent requests"); pacing still bounds the rate.
PIPELINE_DEPTH = 2


class MystoreTarget(Target):
    CREDENTIALS = (
        *credentials("MYSTORE_", "data/secrets/mystore-token.json"),
        Credential("redirects", "MYSTORE_REDIRECTS", "Write 301s into the shop's redirects (on/off)", default="on"),
        Credential("order_status_map", "MYSTORE_ORDER_STATUS_MAP",
                   "Order status → the shop's order-status id, e.g. completed=3,on_hold=6", default=""),
        Credential("references_file", "MYSTORE_REFERENCES", "References file (default "
                   "data/mystore-target-references.json)", default=""),
        Credential("ca_file", "MYSTORE_CA_FILE", "CA file to trust", default=""),
    )
    # Fields Mystore holds as sent (docs/targets/mystore.md says why the others are left out).
    COMPARABLE = {
        "categories": ("parent_id", "name", "url_key", "hidden", "position"),
        "manufacturers": ("name", "url_key"),
        "tax_classes": ("name",),
        "products": ("sku", "name", "description", "price", "special_price", "weight", "stock", "active", "url_key",
                     "category_ids", "manufacturer_id", "tax_class_id", "variants"),
        "customers": ("email", "phone", "newsletter"),  # names: Mystore requires them, an empty one is "N/A"
        "orders": ("order_number", "customer_id", "email", "status", "currency", "subtotal", "shipping", "tax",
                   "discount", "grand_total", "items", "shipping_address", "created_at"),
        "reviews": ("product_id", "customer_id", "rating", "text", "created_at"),  # no title on Mystore
    }

    holds_refunds = True  # the refunded total as an ot_refund totals row, read back; each refund in status history
    max_batch = 500  # rows per create/update call; packed into atomic batches of ATOMIC_BATCH_MAX operations
    password_algorithms = ()  # no password attribute in any source: customers set a new one
    can_preserve_ids = facts.CLIENT_IDS

    @classmethod
    def from_credentials(cls, values: dict, data_dir: Path) -> "MystoreTarget":
        token_file = values.get("token_file") or str(Path(data_dir) / "secrets" / "mystore-token.json")
        refs = values.get("references_file") or str(Path(data_dir) / "mystore-target-references.json")
        return cls(token=values.get("token") or "", client_id=values.get("client_id") or "",
                   client_secret=values.get("client_secret") or "",
                   redirect_uri=values.get("redirect_uri") or DEFAULT_REDIRECT, token_file=token_file,
                   shop=values.get("shop") or "", api_url=values.get("api_url") or facts.API_BASE,
                   auth_url=values.get("auth_url") or facts.AUTH_BASE, references=refs,
                   redirects=str(values.get("redirects") or "on").lower() not in ("off", "no", "0", "false"),
                   order_status_map=values.get("order_status_map") or "", verify=values.get("ca_file") or True,
                   rate=rate_of(values))

    @classmethod
    def emulator_credentials(cls, handle, workdir: Path) -> dict:
        """Walks the emulator's OAuth flow first, as the shop owner would in a browser. The request budget is the
        emulator's (credentials(): unpaced when its rate limit is off), else Mystore's 120/min."""
        token_file = Path(workdir) / "mystore-token.json"
        authorize_against(handle, token_file)
        c = handle.credentials
        return {"api_url": handle.base_url, "auth_url": c["auth_url"], "client_id": c["client_id"],
                "client_secret": c["client_secret"], "redirect_uri": c["redirect_uri"], "token_file": str(token_file),
                "references_file": str(Path(workdir) / "mystore-references.json"),
                **({"requests_per_minute": c["requests_per_minute"]} if "requests_per_minute" in c else {})}

    def __init__(self, *, token: str = "", client_id: str = "", client_secret: str = "",
                 redirect_uri: str = DEFAULT_REDIRECT, token_file: str | Path = "", shop: str = "",
                 api_url: str = facts.API_BASE, auth_url: str = facts.AUTH_BASE, references: str | Path = "",
                 redirects: bool = True, order_status_map: str = "", verify: bool | str = True,
                 rate: tuple[int, float] | None = (facts.RATE_LIMIT, facts.RATE_WINDOW_S)):
        self.conn = Connection(token=token, client_id=client_id, client_secret=client_secret,
                               redirect_uri=redirect_uri, token_file=token_file, shop=shop, api_url=api_url,
                               auth_url=auth_url, verify=verify, scopes=SCOPES, rate=rate)
        self.oauth, self.tokens = self.conn.oauth, self.conn.tokens  # what `cart-pipelines authorize` uses
        self.api_url, self.verify = api_url, verify
        self.write_redirects = redirects
        self.status_overrides = dict(p.split("=", 1) for p in order_status_map.replace(" ", "").split(",") if "=" in p)
        refs_path = Path(references) if references else self.tokens.path.parent / "mystore-target-references.json"
        self.refs = References(refs_path)
        self.not_carried_path = refs_path.with_name("mystore-not-carried.json")
        self._lang: str | None = None
        self._statuses: list[dict] | None = None
        self._options: dict | None = None
        self._reviewers: dict | None = None
        self._unreachable: set[str] = set()
        self._not_carried: dict[str, list[str]] = {}
        self._pool = ThreadPoolExecutor(PIPELINE_DEPTH, thread_name_prefix="mystore-batch")
        self.name = f"mystore:{urlsplit(api_url).netloc}"

    # --- connection -----------------------------------------------------------------------------------------
    @property
    def api(self) -> MystoreApi:
        return self.conn.api

    def describe(self) -> str:
        return self.conn.describe()

    def missing_permissions(self) -> list[str]:
        """Permissions the token lacks for a migration, by name (empty: all there, or the token says `*`)."""
        return self.conn.missing_permissions()

    def check(self) -> str:
        """The connection check: token, shop, permissions, reachability — one sentence either way."""
        missing = self.missing_permissions()
        if missing:
            raise ConnectionProblem("permission", f"the Mystore token lacks the permission(s) {', '.join(missing)}: "
                                    f"tick them when creating the token (or authorize the OAuth client again)", 403)
        return f"{self.describe()}: connected; it holds {self.count('products')} products now"

    @property
    def lang(self) -> str:
        if self._lang is None:
            self._lang = self.api.settings().get("default_language") or "no"
        return self._lang

    # --- shop lists -----------------------------------------------------------------------------------------
    def _status_ids(self) -> dict[str, str]:
        if self._statuses is None:
            self._statuses = self.api.all("order-status")
        return m.status_ids(self._statuses, self.status_overrides)

    def _option_cache(self) -> dict:
        """Option name → id, (option name, value name) → value id, option id → its value ids: shop-wide."""
        if self._options is None:
            lang = self.lang
            options = self.api.all("product-options")
            values = {v["id"]: v for v in self.api.all("product-option-values")}
            cache = {"options": {}, "values": {}, "links": {}}
            for o in options:
                name = m.local(o["attributes"].get("name"), lang)
                cache["options"][name] = o["id"]
                linked = [r["id"] for r in (o.get("relationships", {}).get("product-option-values", {}).get("data") or [])]
                cache["links"][o["id"]] = linked
                for vid in linked:
                    if vid in values:
                        cache["values"][name, m.local(values[vid]["attributes"].get("name"), lang)] = vid
            self._options = cache
        return self._options

    def _review(self, row: dict, lang: str) -> tuple[dict, dict]:
        """A review names its reviewer: the linked customer's name as Mystore holds it."""
        if self._reviewers is None:
            self._reviewers = {r["id"]: " ".join(x for x in (r["attributes"].get("name"), r["attributes"].get("lastname"))
                                                 if x and x != "N/A")
                               for r in self.api.all("customers", fields=("name", "lastname"))}
        return m.review(row, lang, self._reviewers.get(str(row.get("customer_id"))))

    # --- images ---------------------------------------------------------------------------------------------
    def _images(self, row: dict) -> tuple[dict, list[str]]:
        """image..image8 file names for the row's images, uploading each where it can be fetched."""
        out, lost = {}, []
        known = self.refs.of("images")
        for n, img in enumerate(sorted(row.get("images") or [], key=lambda i: i.get("position") or 0)):
            url = img.get("url") or ""
            if n >= 8:
                lost.append(f"{url}: Mystore holds 8 images per product")
                continue
            name = known.get(url)
            if name is None:
                host = urlsplit(url).netloc
                try:
                    if host in self._unreachable or not url.startswith(("http://", "https://")):
                        raise OSError("not reachable")
                    got = requests.get(url, timeout=(3, 15), verify=self.verify)
                    got.raise_for_status()
                    file = re.sub(r"[^A-Za-z0-9._-]", "-", urlsplit(url).path.rsplit("/", 1)[-1]) or f"{row['source_id']}.jpg"
                    name = known[url] = self.api.upload_image(file, got.content)
                except (OSError, requests.RequestException, ConnectionProblem) as exc:
                    if not isinstance(exc, ConnectionProblem):
                        self._unreachable.add(host)
                    lost.append(f"{url}: not carried ({type(exc).__name__}: cannot fetch it from here)")
                    continue
            out["image" if n == 0 else f"image{n + 1}"] = name
        return out, lost

    def _note_not_carried(self, lost: dict[str, list[str]]) -> None:
        """Noted per product; written to mystore-not-carried.json once per create/update call, not per batch."""
        self._not_carried.update(lost)

    def _write_not_carried(self) -> None:
        if not self._not_carried:
            return
        path = self.not_carried_path
        held = json.loads(path.read_text()) if path.exists() else {}
        held.update(self._not_carried)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(held, indent=1, sort_keys=True, ensure_ascii=False))
        self._not_carried = {}

    # --- specials held for their start (Mystore has no start date) ----------------------------------------
    @staticmethod
    def _held_note(row: dict, start) -> str:
        return (f"special price {row['special_price']} starts {m.when(start)} UTC: Mystore specials have no start "
                f"date, so it is held at status 0 until a migration run after that switches it on")

    def _activate_due_specials(self) -> int:
        """Switch on the held specials whose start has come (one atomic batch per ATOMIC_BATCH_MAX); a special
        the shop no longer holds is forgotten."""
        held = self.refs.of("scheduled_specials")
        now = datetime.now(timezone.utc)
        due = [sid for sid, start in held.items() if datetime.fromisoformat(start) <= now]
        if not due:
            return 0
        have = {s["id"] for s in self.api.all("product-specials", fields=("status",))}
        live = [sid for sid in due if sid in have]
        self._run([self.api.op("PATCH", f"product-specials/{sid}", m.document(
            "product-specials", {"status": 1}, id_=sid), returns=()) for sid in live])
        for sid in due:
            held.pop(sid, None)
        self.refs.save()
        return len(live)

    # --- natural keys (find what a lost answer or a killed run created) ------------------------------------
    def _key_of_row(self, entity: str, row: dict) -> str:
        if entity in ("categories", "products", "manufacturers"):
            return str(row.get("url_key") or row.get("source_id"))
        if entity == "tax_classes":
            return str(row["name"])
        if entity == "customers":
            return str(row["email"]).strip().lower()
        if entity == "orders":
            return f"{row.get('order_number')}|{m.when(row.get('created_at'))}"
        return f"{row.get('product_id')}|{row.get('customer_id')}|{m.when(row.get('created_at'))}"

    def _key_of_record(self, entity: str, r: dict) -> str:
        a, rel = r["attributes"], r.get("relationships") or {}
        if entity in ("categories", "products", "manufacturers"):
            return str(m.local(a.get("slug"), self.lang))
        if entity == "tax_classes":
            return str(a.get("title"))
        if entity == "customers":
            return str(a.get("email") or "").strip().lower()
        if entity == "orders":
            return f"{a.get(facts.ORDER_NUMBER_ATTRIBUTE)}|{a.get('created_at')}"
        link = lambda k: ((rel.get(k) or {}).get("data") or {}).get("id")  # noqa: E731
        return f"{link('product')}|{link('customer')}|{a.get('created_at')}"

    def find_existing(self, entity: str, source_ids: list[str]) -> dict[str, str]:
        wanted = set(source_ids)
        recorded = self.refs.of(entity)
        found = {sid: tid for tid, sid in recorded.items() if sid in wanted}
        intents = self.refs.of(f"intent:{entity}")
        pending = {intents[s]: s for s in wanted - set(found) if s in intents}
        if pending:
            taken = set(recorded)
            for r in self.api.all(TYPE[entity]):
                sid = pending.get(self._key_of_record(entity, r))
                if sid is not None and r["id"] not in taken:
                    found[sid] = r["id"]
                    recorded[r["id"]] = sid
                    if entity in ADOPTED_WITH:
                        self._adopt_children(entity, sid, r["id"])
            self.refs.save()
        return found

    def _adopt_children(self, entity: str, sid: str, tid: str) -> None:
        """A record adopted after a lost answer came with the rows of the same atomic batch (a product's variants,
        an order's lines): record their source ids, in the order the batch created them, or they would read back
        with none."""
        kind, child, _ = ADOPTED_WITH[entity]
        wanted = self.refs.of(f"intent:{kind}").get(sid) or []
        held = sorted(self.api.all(f"{TYPE[entity]}/{tid}/{child}"), key=lambda c: int(c["id"]))
        if len(held) == len(wanted):
            refs = self.refs.of(kind)
            for c, csid in zip(held, wanted):
                if csid is not None:
                    refs[c["id"]] = csid

    # --- operations per record ------------------------------------------------------------------------------
    def _ops(self, entity: str, row: dict, base: int, staged: dict) -> tuple[list[dict], list[tuple]]:
        """Operations creating `row` (numbered from base+1), and what their returns mean: (kind, op number, id)."""
        api, lang, t = self.api, self.lang, TYPE[entity]
        if entity == "products":
            images, lost = self._images(row)
            if lost:
                staged["lost"][row["source_id"]] = lost
            attrs, rels = m.product(row, lang, images)
            ops = [api.op("POST", t, m.document(t, attrs, rels))]
            main = P.format(base + 1)
            meaning = [("products", base + 1, row["source_id"])]
            if row.get("special_price") is not None:
                attrs, ahead = m.special(row)
                ops.append(api.op("POST", "product-specials", m.document(
                    "product-specials", attrs, {"product": {"data": {"type": "products", "id": main}}}),
                    returns=("data.id",) if ahead else ()))
                if ahead:  # no start on Mystore: held at status 0, switched on by a run after its start
                    meaning.append(("scheduled_specials", base + len(ops), ahead.isoformat()))
                    staged["lost"].setdefault(row["source_id"], []).append(self._held_note(row, ahead))
            if row.get("variants"):
                ops += self._variant_ops(row, main, base + len(ops), staged, meaning)
            return ops, meaning
        if entity == "orders":
            status = self._status_ids()
            want = row.get("status") or "new"
            sid_ = status.get(want) or (status.get("new") if row.get("status") is None else None)
            if sid_ is None:
                names = ", ".join(f"{s['id']} {m.local(s['attributes'].get('name'), lang)}" for s in self._statuses)
                raise ValueError(f"order status {want!r} matches none of the shop's order statuses ({names}): map it "
                                 f"with MYSTORE_ORDER_STATUS_MAP={want}=<id>")
            attrs, rels = m.order(row, sid_)
            ops = [api.op("POST", t, m.document(t, attrs, rels))]
            main = {"data": {"type": "orders", "id": P.format(base + 1)}}
            meaning = [("orders", base + 1, row["source_id"])]
            for item in row.get("items") or []:
                irels = {"order": main}
                if item.get("product_id"):
                    irels["product"] = m.ref("products", item["product_id"])
                ops.append(api.op("POST", "order-products", m.document(
                    "order-products", m.order_product(item), irels,
                    meta={facts.ADJUST_INVENTORY_META: False})))  # historical: never draw stock down
                meaning.append(("order_items", base + len(ops), item.get("source_id")))
            for total in m.order_totals(row):
                ops.append(api.op("POST", "order-totals", m.document("order-totals", total, {"order": main}), returns=()))
            ops.append(api.op("POST", "order-status-history", m.document(
                "order-status-history", {"comments": f"Imported order {row.get('order_number') or ''} "
                                                     f"(status {want})".replace("  ", " "),
                                         "created_at": m.when(row.get("created_at"))},
                {"order": main, "order-status": m.ref("order-status", sid_)}), returns=()))
            for entry in m.refund_history(row):  # each refund: amount, reason, date
                ops.append(api.op("POST", "order-status-history", m.document(
                    "order-status-history", entry, {"order": main, "order-status": m.ref("order-status", sid_)}),
                    returns=()))
            return ops, meaning
        build = {"categories": m.category, "manufacturers": m.manufacturer, "tax_classes": m.tax_class,
                 "customers": m.customer, "reviews": self._review}[entity]
        attrs, rels = build(row, lang)
        if entity == "categories" and not rels["parent"]["data"]:
            rels = {}
        return [api.op("POST", t, m.document(t, attrs, rels))], [(entity, base + 1, row["source_id"])]

    def _variant_ops(self, row: dict, product: str, base: int, staged: dict, meaning: list) -> list[dict]:
        api, lang = self.api, self.lang
        cache = self._option_cache()
        options, values, links = ({**cache["options"], **staged["options"]}, {**cache["values"], **staged["values"]},
                                  {**cache["links"], **staged["links"]})
        ops: list[dict] = []

        def ident(type_: str, value) -> dict:
            return {"type": type_, "id": str(value)}

        deltas = m.option_deltas(row)
        attr_of: dict[tuple[str, str], str] = {}
        for (oname, vname), delta in deltas.items():
            if oname not in options:
                ops.append(api.op("POST", "product-options", m.document("product-options", {
                    "name": {lang: oname}, "track_stock": 1})))
                options[oname] = staged["options"][oname] = P.format(base + len(ops))
                links[options[oname]] = staged["links"][options[oname]] = []
                meaning.append(("option", base + len(ops), oname))
            oid = options[oname]
            if (oname, vname) not in values:
                ops.append(api.op("POST", "product-option-values", m.document("product-option-values", {
                    "name": {lang: vname}})))
                vid = values[oname, vname] = staged["values"][oname, vname] = P.format(base + len(ops))
                meaning.append(("value", base + len(ops), (oname, vname)))
                links[oid] = staged["links"][oid] = [*links.get(oid, []), vid]
                ops.append(api.op("PATCH", f"product-options/{oid}/relationships/product-option-values",
                                  {"data": [ident("product-option-values", v) for v in links[oid]]}, returns=()))
            ops.append(api.op("POST", "product-attributes", m.document("product-attributes", {
                "option_values_price": m.num(abs(delta)), "option_values_price_prefix": "-" if delta < 0 else "+"},
                {"product": {"data": ident("products", product)},
                 "product-option": {"data": ident("product-options", oid)},
                 "product-option-value": {"data": ident("product-option-values", values[oname, vname])}})))
            attr_of[oname, vname] = P.format(base + len(ops))
        for v in row.get("variants") or []:
            attrs, lost = m.variant(v)
            if lost:
                staged["lost"].setdefault(row["source_id"], []).append(lost)
            ops.append(api.op("POST", "product-variants", m.document("product-variants", attrs,
                {"product": {"data": ident("products", product)},
                 "product-attributes": {"data": [ident("product-attributes", attr_of[o["name"], o["value"]])
                                                 for o in v.get("options") or []]}})))
            meaning.append(("variants", base + len(ops), v.get("source_id")))
        return ops

    # --- sending --------------------------------------------------------------------------------------------
    def _send(self, entity: str, rows: list[dict]) -> list[WriteResult]:
        """Pack rows into atomic batches, up to PIPELINE_DEPTH in flight (the next one is built and sent while
        Mystore answers the last: one at a time, latency and the answer's handling left the limit unused);
        answers are handled in order. A batch that creates shop-wide options or values is waited for before the
        next record is built, since later records name their ids. A failed batch is retried row by row to name
        the bad record."""
        intents = self.refs.of(f"intent:{entity}")
        for r in rows:
            intents[r["source_id"]] = self._key_of_row(entity, r)
            if entity in ADOPTED_WITH and r.get(ADOPTED_WITH[entity][2]):  # created in this order by the batch:
                kind, _, field = ADOPTED_WITH[entity]                          # an adopted record adopts them too
                self.refs.of(f"intent:{kind}")[r["source_id"]] = [c.get("source_id") for c in r[field]]
        self.refs.save()
        results: list[WriteResult] = []
        inflight: deque = deque()
        pending: list[tuple[dict, list, list]] = []
        staged = self._new_staged()
        count = 0

        def send() -> None:
            ops = [op for _, row_ops, _ in pending for op in row_ops]
            inflight.append((self._pool.submit(self._run, ops), pending, staged))
            shop_wide = any(kind in ("option", "value") for _, _, meaning in pending for kind, _, _ in meaning)
            while inflight and (shop_wide or len(inflight) >= PIPELINE_DEPTH):
                results.extend(self._flush(entity, *settle(inflight.popleft())))

        def settle(item):
            future, batch, staged_ = item
            try:
                return batch, staged_, future.result()
            except ConnectionProblem as exc:
                return batch, staged_, exc

        try:
            for row in rows:
                try:
                    ops, meaning = self._ops(entity, row, count, staged)
                except ValueError as exc:
                    results.append(WriteResult(row["source_id"], None, str(exc)))
                    continue
                if pending and count + len(ops) > facts.ATOMIC_BATCH_MAX:
                    send()
                    staged, count, pending = self._new_staged(), 0, []
                    ops, meaning = self._ops(entity, row, 0, staged)
                pending.append((row, ops, meaning))
                count += len(ops)
            if pending:
                send()
            while inflight:
                results.extend(self._flush(entity, *settle(inflight.popleft())))
        finally:  # a batch whose answer was lost: record what the others in flight wrote before giving up
            while inflight:
                batch, staged_, answers = settle(inflight.popleft())
                if not isinstance(answers, Exception):
                    self._flush(entity, batch, staged_, answers)
            self.refs.save()
        return results

    @staticmethod
    def _new_staged() -> dict:
        return {"options": {}, "values": {}, "links": {}, "lost": {}}

    def _flush(self, entity: str, pending: list, staged: dict, answers=None) -> list[WriteResult]:
        """Record a batch's answers (sending it first when none are given); a refused batch is retried record by
        record."""
        try:
            if isinstance(answers, Exception):
                raise answers
            if answers is None:
                answers = self._run([op for _, row_ops, _ in pending for op in row_ops])
        except ConnectionProblem as exc:
            if exc.kind != "bad_request" and exc.status not in (400, 404, 409, 422):
                raise
            if len(pending) == 1:
                return [WriteResult(pending[0][0]["source_id"], None, str(exc).split("The platform said: ")[-1])]
            self._options = None  # nothing of the batch was applied; rebuild each record alone
            out = []
            for row, _, _ in pending:
                staged1 = self._new_staged()
                ops1, meaning1 = self._ops(entity, row, 0, staged1)
                out += self._flush(entity, [(row, ops1, meaning1)], staged1)
            return out
        out = []
        for row, _, meaning in pending:
            for kind, n, what in meaning:
                value = str((answers[n - 1].get("return") or [None])[0])
                if kind in ("option", "value"):
                    continue
                if what is not None:
                    self.refs.of(kind)[value] = what
                if kind == entity:
                    out.append(WriteResult(row["source_id"], value))
        self._learn_options(staged, answers)
        self._note_not_carried(staged["lost"])
        self.refs.save()
        return out

    def _learn_options(self, staged: dict, answers: list[dict]) -> None:
        """The shop-wide options and values a batch created, and the option → values links it set, into the
        option cache from the batch's answers (reading the lists again would cost requests of the 120/min).
        Placeholders past the batch's answers were staged for a record that went into the next batch: skipped."""
        if self._options is None or not (staged["options"] or staged["values"] or staged["links"]):
            return

        def real(value: str) -> str | None:
            hit = re.fullmatch(r"\{\{operation\.(\d+)\.return\.1\}\}", value)
            if hit is None:
                return value
            n = int(hit.group(1))
            return str(answers[n - 1]["return"][0]) if n <= len(answers) and answers[n - 1].get("return") else None

        cache = self._options
        for name, oid in staged["options"].items():
            if real(oid) is not None:
                cache["options"][name] = real(oid)
        for key, vid in staged["values"].items():
            if real(vid) is not None:
                cache["values"][key] = real(vid)
        for oid, vids in staged["links"].items():
            if real(oid) is not None:
                cache["links"][real(oid)] = [v for v in map(real, vids) if v is not None]

    def _run(self, ops: list[dict]) -> list[dict]:
        """Operations in atomic batches of ATOMIC_BATCH_MAX (a record larger than that spans several, its later
        placeholders filled from earlier answers)."""
        answers: list[dict] = []
        for start in range(0, len(ops), facts.ATOMIC_BATCH_MAX):
            chunk = json.dumps(ops[start:start + facts.ATOMIC_BATCH_MAX], ensure_ascii=False)

            def fill(hit, offset=start):
                n = int(hit.group(1))
                return str(answers[n - 1]["return"][0]) if n <= offset else f"{{{{operation.{n - offset}.return.1}}}}"
            answers += self.api.batch(json.loads(re.sub(r"\{\{operation\.(\d+)\.return\.1\}\}", fill, chunk)))
        return answers

    def create(self, entity: str, rows: pa.Table, preserve_ids: bool = False) -> list[WriteResult]:
        if entity == "products":
            self._activate_due_specials()
        items = rows.to_pylist()
        by_sid = {}
        for start in range(0, len(items), self.max_batch):
            chunk = items[start:start + self.max_batch]
            by_sid.update({r.source_id: r for r in self.create_confirmed(entity, chunk,
                                                                         lambda c: self._send(entity, c))})
        self.refs.compact()
        self._write_not_carried()
        return [by_sid[r["source_id"]] for r in items if r["source_id"] in by_sid]

    def update(self, entity: str, rows: pa.Table) -> list[WriteResult]:
        out = []
        if entity == "products":
            self._activate_due_specials()
        for row in rows.to_pylist():
            tid = str(row["target_id"])
            try:
                # Each update reads what the record holds before it writes, so after a lost answer it is run again
                # from its reads (the atomic batch was applied whole or not at all): nothing is resent blindly.
                until_confirmed(lambda again, row=row, tid=tid: self._update_one(entity, row, tid))
                out.append(WriteResult(row["source_id"], tid))
            except ConnectionProblem as exc:
                if exc.status == 404:
                    out.append(WriteResult(row["source_id"], None, f"{entity} {tid} no longer exists on Mystore"))
                elif exc.kind == "bad_request":
                    out.append(WriteResult(row["source_id"], None, str(exc).split("The platform said: ")[-1]))
                else:
                    raise
        self.refs.compact()
        self._write_not_carried()
        return out

    def _update_one(self, entity: str, row: dict, tid: str) -> list:
        api, lang, t = self.api, self.lang, TYPE[entity]
        if entity == "orders":
            sid_ = self._status_ids().get(row.get("status") or "new")
            attrs, rels = m.order(row, sid_)
            api.call("PATCH", f"orders/{tid}", body=m.document(t, attrs, rels, id_=tid))
            held = {x["attributes"].get("class"): x["id"] for x in api.all(f"orders/{tid}/order-totals")}
            for total in m.order_totals(row):
                if total["class"] in held:
                    api.call("PATCH", f"order-totals/{held[total['class']]}", body=m.document(
                        "order-totals", total, id_=held[total["class"]]))
                else:
                    api.call("POST", "order-totals", idempotent=False, body=m.document(
                        "order-totals", total, {"order": m.ref("orders", tid)}))
            # refunds made since: history is create-only, so add the entries it does not hold yet
            said = {x["attributes"].get("comments") for x in api.all(f"orders/{tid}/order-status-history")}
            for entry in m.refund_history(row):
                if entry["comments"] not in said:
                    api.call("POST", "order-status-history", idempotent=False, body=m.document(
                        "order-status-history", entry, {"order": m.ref("orders", tid),
                                                        "order-status": m.ref("order-status", sid_)}))
        elif entity == "products":
            self._update_product(row, tid)
        else:
            build = {"categories": m.category, "manufacturers": m.manufacturer, "tax_classes": m.tax_class,
                     "customers": m.customer, "reviews": self._review}[entity]
            attrs, rels = build(row, lang)
            api.call("PATCH", f"{t}/{tid}", body=m.document(t, attrs, rels, id_=tid))
        return []

    def _update_product(self, row: dict, tid: str) -> None:
        """A changed product in one atomic batch after three reads: its attributes and categories, its special
        (with its dates), and its option rows rebuilt (stock, SKU, deltas, disabled)."""
        api, lang = self.api, self.lang
        images, lost = self._images(row)
        attrs, rels = m.product(row, lang, images)
        ops = [api.op("PATCH", f"products/{tid}/relationships/categories", rels.pop("categories"), returns=()),
               api.op("PATCH", f"products/{tid}", m.document("products", attrs, rels, id_=tid), returns=())]
        specials = api.all(f"products/{tid}/product-specials")
        scheduled = self.refs.of("scheduled_specials")
        special_op, ahead = None, None
        if row.get("special_price") is None:
            ops += [api.op("DELETE", f"product-specials/{s['id']}", returns=()) for s in specials]
        else:
            attrs, ahead = m.special(row)
            ops += [api.op("DELETE", f"product-specials/{s['id']}", returns=()) for s in specials[1:]]
            if specials:
                ops.append(api.op("PATCH", f"product-specials/{specials[0]['id']}", m.document(
                    "product-specials", attrs, id_=specials[0]["id"])))
            else:
                ops.append(api.op("POST", "product-specials", m.document(
                    "product-specials", attrs, {"product": m.ref("products", tid)})))
            special_op = len(ops)
            if ahead:
                lost.append(self._held_note(row, ahead))
        variants = api.all(f"products/{tid}/product-variants")
        attributes = api.all(f"products/{tid}/product-attributes")
        ops += [api.op("DELETE", f"product-variants/{v['id']}", returns=()) for v in variants]
        ops += [api.op("DELETE", f"product-attributes/{a['id']}", returns=()) for a in attributes]
        staged, meaning = self._new_staged(), []
        if row.get("variants"):
            ops += self._variant_ops(row, tid, len(ops), staged, meaning)
        lost += staged["lost"].get(row["source_id"], [])
        self._note_not_carried({row["source_id"]: lost} if lost else {})
        answers = self._run(ops)
        for s in specials:
            scheduled.pop(s["id"], None)
        if special_op and ahead:
            scheduled[str(answers[special_op - 1]["return"][0])] = ahead.isoformat()
        for v in variants:
            self.refs.of("variants").pop(v["id"], None)
        for kind, n, what in meaning:
            value = str(answers[n - 1]["return"][0])
            if kind == "variants":
                self.refs.of("variants")[value] = what
        self._learn_options(staged, answers)

    # --- read back ------------------------------------------------------------------------------------------
    def _children(self, type_: str, link: str) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for r in self.api.all(type_):
            parent = (((r.get("relationships") or {}).get(link) or {}).get("data") or {}).get("id")
            out.setdefault(parent, []).append(r)
        return out

    def scan(self, entity: str) -> pa.Table:
        """Everything on Mystore for `entity`, in the local target's columns and types."""
        return as_target_table(entity, self._records(entity))

    def _records(self, entity: str):
        lang, refs = self.lang, self.refs.of(entity)

        def rel(r, name):
            data = ((r.get("relationships") or {}).get(name) or {}).get("data")
            if isinstance(data, list):
                return [d["id"] for d in data]
            return data["id"] if data else None

        rows = self.api.all(TYPE[entity])
        if entity == "categories":
            for r in rows:
                a = r["attributes"]
                yield {"id": r["id"], "parent_id": rel(r, "parent"), "name": m.local(a.get("name"), lang),
                       "url_key": m.local(a.get("slug"), lang), "hidden": a.get("status") in (0, "0"),
                       "position": a.get("sort"), "_source_id": refs.get(r["id"])}
        elif entity in ("manufacturers", "tax_classes"):
            for r in rows:
                a = r["attributes"]
                if entity == "manufacturers":
                    yield {"id": r["id"], "name": a.get("name"), "url_key": m.local(a.get("slug"), lang),
                           "_source_id": refs.get(r["id"])}
                else:
                    yield {"id": r["id"], "name": a.get("title"), "rates": [{"country": None, "rate": a.get("tax_rate")}],
                           "_source_id": refs.get(r["id"])}
        elif entity == "products":
            specials = self._children("product-specials", "product")
            variants = self._children("product-variants", "product")
            attributes = {a["id"]: a for a in self.api.all("product-attributes")}
            names = {o["id"]: m.local(o["attributes"].get("name"), lang) for o in self.api.all("product-options")}
            values = {v["id"]: m.local(v["attributes"].get("name"), lang) for v in self.api.all("product-option-values")}
            vrefs = self.refs.of("variants")
            for r in rows:
                a = r["attributes"]
                price = m.dec(a.get("price"))
                # the sale as carried, running (status 1) or held for its start / ended (status 0)
                held = sorted(specials.get(r["id"], []), key=lambda s: s["attributes"].get("status") not in (1, "1"))
                out_variants = []
                for v in variants.get(r["id"], []):
                    opts, delta = [], m.Decimal(0)
                    for aid in rel(v, "product-attributes") or []:
                        at = attributes.get(aid)
                        if at is None:
                            continue
                        d = m.dec(at["attributes"].get("option_values_price")) or m.Decimal(0)
                        delta += -d if at["attributes"].get("option_values_price_prefix") == "-" else d
                        opts.append({"name": names.get(rel(at, "product-option")),
                                     "value": values.get(rel(at, "product-option-value"))})
                    out_variants.append({"source_id": vrefs.get(v["id"]), "sku": v["attributes"].get("sku"),
                                         "price": (price or 0) + delta, "stock": v["attributes"].get("quantity"),
                                         "options": opts})
                yield {"id": r["id"], "sku": a.get("sku"), "name": m.local(a.get("name"), lang),
                       "description": m.local(a.get("description"), lang), "price": price,
                       "special_price": held[0]["attributes"].get("specials_price") if held else None,
                       "weight": a.get("weight"), "stock": a.get("quantity"), "active": a.get("status") in (1, "1"),
                       "url_key": m.local(a.get("slug"), lang), "category_ids": rel(r, "categories"),
                       "manufacturer_id": rel(r, "manufacturer"), "tax_class_id": rel(r, "tax-class"),
                       "variants": out_variants,
                       "images": [{"url": a[k], "position": n, "alt": None} for n, k in enumerate(
                           ["image", *(f"image{i}" for i in range(2, 9))]) if a.get(k)],
                       "created_at": m.parse_when(a.get("created_at")), "updated_at": m.parse_when(a.get("updated_at")),
                       "_source_id": refs.get(r["id"])}
        elif entity == "customers":
            for r in rows:
                a = r["attributes"]
                addresses = []
                ship, bill = m.address_back(a, "address", True), m.address_back(a, "billing_address", True)
                if ship:
                    addresses.append({**ship, "is_default_shipping": True, "is_default_billing": bill in (None, ship)})
                if bill and bill != ship:
                    addresses.append({**bill, "is_default_shipping": False, "is_default_billing": True})
                yield {"id": r["id"], "email": a.get("email"), "first_name": a.get("name"),
                       "last_name": a.get("lastname"), "phone": a.get("phone"),
                       "newsletter": a.get("newsletter") in (1, "1", True), "addresses": addresses,
                       "created_at": m.parse_when(a.get("created_at")), "_source_id": refs.get(r["id"])}
        elif entity == "orders":
            back = {v: k for k, v in self._status_ids().items()}
            lines = self._children("order-products", "order")
            totals = self._children("order-totals", "order")
            irefs = self.refs.of("order_items")
            for r in rows:
                a = r["attributes"]
                money = {t["attributes"].get("class"): m.dec(t["attributes"].get("value")) for t in totals.get(r["id"], [])}
                discount = money.get(facts.DISCOUNT_TOTAL_CLASS)
                first, last = m.split_name(a.get("customer_address_name"))
                yield {"id": r["id"], "order_number": a.get(facts.ORDER_NUMBER_ATTRIBUTE),
                       "customer_id": rel(r, "customer"), "email": a.get("customer_address_email"),
                       "customer_first_name": first, "customer_last_name": last,
                       "status": back.get(rel(r, "order-status")), "currency": a.get("currency"),
                       "subtotal": money.get("ot_subtotal"), "shipping": money.get("ot_shipping"),
                       "tax": money.get("ot_tax"), "discount": abs(discount) if discount is not None else None,
                       "grand_total": money.get("ot_total"),
                       "refunded_total": abs(refunded) if (refunded := money.get(facts.REFUND_TOTAL_CLASS)) else None,
                       "items": [{"source_id": irefs.get(i["id"]), "product_id": rel(i, "product"),
                                  "sku": i["attributes"].get("sku"), "name": i["attributes"].get("name"),
                                  "qty": i["attributes"].get("quantity"), "price": i["attributes"].get("price"),
                                  "tax": m.item_tax(i["attributes"])} for i in lines.get(r["id"], [])],
                       "billing_address": m.address_back(a, "billing_address"),
                       "shipping_address": m.address_back(a, "shipping_address"),
                       "created_at": m.parse_when(a.get("created_at")), "updated_at": m.parse_when(a.get("updated_at")),
                       "_source_id": refs.get(r["id"])}
        elif entity == "reviews":
            for r in rows:
                a = r["attributes"]
                yield {"id": r["id"], "product_id": rel(r, "product"), "customer_id": rel(r, "customer"),
                       "rating": a.get("rating"), "title": a.get("name") or None,
                       "text": m.local(a.get("review"), lang), "created_at": m.parse_when(a.get("created_at")),
                       "_source_id": refs.get(r["id"])}

    def count(self, entity: str) -> int:
        return self.api.count(TYPE[entity])

    def delete(self, entity: str, target_ids: list[str]) -> int:
        for start in range(0, len(target_ids), facts.ATOMIC_BATCH_MAX):
            chunk = target_ids[start:start + facts.ATOMIC_BATCH_MAX]
            self._run([self.api.op("DELETE", f"{TYPE[entity]}/{i}", returns=()) for i in chunk])
            for i in chunk:
                self.refs.of(entity).pop(str(i), None)
            self.refs.save()
        self.refs.compact()
        return len(target_ids)

    def clear(self, entities: list[str]) -> dict[str, int]:
        deleted = {}
        for entity in [e for e in ORDER if e in entities]:  # dependants first
            ids = [r["id"] for r in self.api.all(TYPE[entity], fields=("created_at",))]
            deleted[entity] = self.delete(entity, ids) if ids else 0
        return deleted

    # --- redirects ------------------------------------------------------------------------------------------
    @property
    def holds_redirects(self) -> bool:
        return self.write_redirects

    def redirects(self, rows: list[tuple]) -> int:
        """(old URL, new URL, ...) rows as 301s in the shop's `redirects` (unless MYSTORE_REDIRECTS=off); ones the
        shop already holds are skipped, so a re-run writes nothing. A redirect the shop refuses is left to the CSV
        (counted as not written); a lost answer is followed by reading what the shop holds, never a blind resend."""
        if not self.write_redirects or not rows:
            return 0
        wanted = list(dict.fromkeys((old, to) for old, to, *_ in rows))

        def held() -> set:
            return {(r["attributes"].get("redirect_from"), r["attributes"].get("redirect_to"))
                    for r in self.api.all("redirects")}

        def post(pairs) -> int:
            ops = [self.api.op("POST", "redirects", m.document("redirects", {
                "redirect_from": old, "redirect_to": to, "code": 301, "scope": "global", "language": self.lang}),
                returns=()) for old, to in pairs]
            try:
                self._run(ops)
                return len(pairs)
            except ConnectionProblem as exc:
                if exc.kind != "bad_request" or len(pairs) == 1:
                    if exc.kind == "bad_request":
                        return 0
                    raise
                return sum(post([p]) for p in pairs)

        written = 0

        def work(again: bool) -> int:
            nonlocal written
            have = held()
            todo = [p for p in wanted if p not in have]
            for start in range(0, len(todo), facts.ATOMIC_BATCH_MAX):
                written += post(todo[start:start + facts.ATOMIC_BATCH_MAX])
            return written

        return until_confirmed(work)


def authorize_against(handle, token_file: Path, scopes: tuple[str, ...] = SCOPES) -> None:
    """Walk the emulator's OAuth flow (as the owner would in a browser) and store tokens: for tests and trials.
    `scopes`: what to ask for (the target's by default; a source asks for its read permissions)."""
    from cart_pipelines.platforms.kit.oauth import code_from_redirect, new_state

    c = handle.credentials
    oauth = OAuthClient(c["auth_url"], c["client_id"], c["client_secret"], c["redirect_uri"], facts.AUTHORIZE_PATH,
                        facts.TOKEN_PATH, " ".join(scopes))
    state = new_state()
    code = code_from_redirect(handle.emulator.grant(oauth.authorize_url(state)), state)
    TokenStore(token_file).save(oauth.exchange(code))
