"""Shopify as a target: Admin GraphQL API mutations (docs/targets/shopify.md).

Writes: collections (collectionCreate/Update), products with their options, variants, media and collections in
one productSet each, customers (customerCreate/Update with addresses), historical orders (orderCreate, 2024-10+)
and their refunds (refundCreate against the order's SALE, each once: matched by amount and note on the order).
Several records go in one request as aliased mutations (each costs 10 points of the app's leaky bucket), paced
by the same cost budget as the source connector. A write of more than `bulk_threshold` rows goes as bulk
mutations instead (shopify_bulk.py: a staged JSONL file of variables, run on Shopify's side outside the bucket).
Our source id is kept in the metafield cart_pipelines.source_id so `find_existing` adopts what an interrupted
run created; `userErrors` become per-record errors.

Shopify has no tax classes and no reviews in the Admin API: creating them answers an error per row. A
manufacturer is the product's `vendor` string: its target id is the name, and the list (name, URL key, source id)
is kept in shop metafields (namespace cart_pipelines_manufacturers) so it can be found and read back.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import ConnectionProblem
from cart_pipelines.platforms.kit.readback import as_target_table
from cart_pipelines.platforms.kit.target import Target, WriteResult, until_confirmed
from cart_pipelines.platforms.shopify import target_map as m
from cart_pipelines.platforms.shopify.source import (
    API_VERSION,
    MAX_QUERY_COST,
    REFUND_DATES_VERSION,
    ShopifySource,
)
from cart_pipelines.platforms.shopify.target_bulk import (
    BULK_MAX_LINES,
    BULK_THRESHOLD,
    run_bulk,
)

BATCH = 25  # aliased mutations per request: 250 requested points, well under the 1000-point query maximum
NS, KEY = "cart_pipelines", "source_id"
MAKERS_NS = "cart_pipelines_manufacturers"
UNAVAILABLE = {"tax_classes": "Shopify has no tax classes (taxes are set per country and region in the admin)",
               "reviews": "Shopify has no reviews in the Admin API (product reviews live in review apps)"}
ORDER = ("orders", "customers", "products", "categories", "manufacturers")  # dependants first
ROOT = {"categories": ("collections", "Collection"), "products": ("products", "Product"),
        "customers": ("customers", "Customer"), "orders": ("orders", "Order")}
MUTATIONS = {  # entity → (create, update, input type, argument name, payload field)
    "categories": ("collectionCreate", "collectionUpdate", "CollectionInput!", "input", "collection"),
    "products": ("productSet", "productSet", "ProductSetInput!", "input", "product"),
    "customers": ("customerCreate", "customerUpdate", "CustomerInput!", "input", "customer"),
    "orders": ("orderCreate", "orderUpdate", None, None, "order"),
}
DELETE = {"categories": ("collectionDelete", "CollectionDeleteInput!", "input"),
          "products": ("productDelete", "ProductDeleteInput!", "input"),
          "customers": ("customerDelete", "CustomerDeleteInput!", "input"),
          "orders": ("orderDelete", "ID!", "orderId")}


# What refundCreate needs to know of an order: its transactions (a refund's parent), the refunds it holds, and its
# line items with our source line id (a refund's lines)
REFUND_STATE = ("query($id: ID!) { node(id: $id) { ... on Order { id transactions(first: 20) { id kind status "
                "gateway amountSet { shopMoney { amount } } } refunds(first: 50) { note totalRefundedSet { shopMoney "
                "{ amount } } } lineItems(first: 100) { nodes { id quantity customAttributes { key value } } } } } }")
REFUND_STATE_COST = 1 + 2 + 2 + 100 * 2  # the order, its two lists of objects, its line items (a connection)


def _at_least(version: str, wanted: str) -> bool:
    """Whether Admin API `version` (YYYY-MM, or "unstable": the newest) is `wanted` or later."""
    return version == "unstable" or version >= wanted


def gid(kind: str, id_) -> str:
    return f"gid://shopify/{kind}/{id_}"


def legacy(gid_: str | None) -> str | None:
    return gid_.rsplit("/", 1)[-1] if gid_ else None


class ShopifyTarget(Target):
    holds_refunds = True  # refundCreate after the order; read back from the order's refunds and totalRefundedSet
    CREDENTIALS = (
        Credential("shop_url", "SHOPIFY_TARGET_SHOP_URL", "Store Admin URL"),
        Credential("access_token", "SHOPIFY_TARGET_ACCESS_TOKEN", "Admin API Access Token (write scopes)",
                   secret=True),
        Credential("api_version", "SHOPIFY_TARGET_API_VERSION", "Admin API version", default=API_VERSION),
    )
    # Fields Shopify holds faithfully (docs/targets/shopify.md says why the others are left out).
    COMPARABLE = {
        "categories": ("name", "url_key", "parent_id"),
        "manufacturers": ("name", "url_key"),
        "products": ("sku", "name", "description", "price", "special_price", "weight", "active", "url_key",
                     "category_ids", "manufacturer_id", "variants", "images"),
        "customers": ("email", "first_name", "last_name", "phone", "newsletter", "addresses"),
        "orders": ("order_number", "customer_id", "email", "status", "currency", "subtotal", "shipping", "tax",
                   "discount", "grand_total", "items", "billing_address", "shipping_address", "created_at"),
    }
    UNAVAILABLE = UNAVAILABLE  # entities Shopify lacks, and why

    @classmethod
    def from_credentials(cls, values: dict, data_dir: Path, bulk_threshold: int | None = BULK_THRESHOLD):
        return cls(values["shop_url"], values["access_token"], values.get("api_version") or API_VERSION,
                   bulk_threshold=bulk_threshold)

    @classmethod
    def emulator_credentials(cls, handle, workdir: Path) -> dict:
        c = handle.credentials
        return {"shop_url": handle.base_url, "access_token": c["access_token"], "api_version": c["api_version"]}

    max_batch = 250  # rows per create/update call; sent as requests of BATCH aliased mutations
    password_algorithms = ()  # Shopify imports no password hashes: customers set a password via an invite
    can_preserve_ids = False  # Shopify assigns every id
    #: Entities Shopify does not have, with the reason (create answers it per row; see the report to the lead).
    unavailable = UNAVAILABLE

    def __init__(self, shop_url: str, access_token: str, api_version: str = API_VERSION, settings=None,
                 bulk_threshold: int | None = BULK_THRESHOLD):
        self.api = ShopifySource.connect(shop_url, {"access_token": access_token, "api_version": api_version},
                                         settings=settings, bulk_threshold=None)
        # Refunds keep the source's date (RefundInput.processedAt) from API 2026-01 on: an older configured version
        # writes and reads refunds through 2026-01 (Shopify serves every supported version to the same app), paced
        # by the same cost budget, since it is the same bucket.
        self.refunds_api = self.api
        if not _at_least(api_version, REFUND_DATES_VERSION):
            self.refunds_api = ShopifySource.connect(shop_url, {"access_token": access_token,
                                                                "api_version": REFUND_DATES_VERSION},
                                                     settings=settings, bulk_threshold=None)
            self.refunds_api.budget = self.api.budget
            self.refunds_api.client.on_response = self.api.budget.observe
        self.bulk_threshold = bulk_threshold  # rows of one write above which it goes as a bulk mutation (None: never)
        if bulk_threshold is not None:  # the loader hands over up to a bulk operation's worth of rows at a time
            self.max_batch = BULK_MAX_LINES
        self.name = f"shopify:{re.sub(r'^https?://', '', shop_url.rstrip('/'))}"
        self._location: str | None = None

    def describe(self) -> str:
        return self.api.describe()

    def has(self, entity: str) -> bool:
        return entity not in self.unavailable  # the loader skips these by rule target_lacks_entity

    # --- transport
    def _run(self, field: str, arg: str, arg_type: str, payload_sel: str, inputs: list[dict],
             extra: str = "", what: str = "", idempotent: bool = True, api=None) -> list[dict | str]:
        """One request of aliased mutations; a request Shopify refuses as a whole (an invalid value in one
        input) is retried one input at a time, so only that record fails, with Shopify's message. Creates go
        with `idempotent=False` (see Target.create_confirmed)."""
        if not inputs:
            return []
        heads = ", ".join(f"$v{k}: {arg_type}" for k in range(len(inputs)))
        body = " ".join(f"m{k}: {field}({arg}: $v{k}{extra}) {{ {payload_sel} userErrors {{ field message }} }}"
                        for k in range(len(inputs)))
        variables = {f"v{k}": v for k, v in enumerate(inputs)}
        try:
            data = (api or self.api).query(f"mutation({heads}) {{ {body} }}", variables, cost=10 * len(inputs),
                                           what=what or f"{field} ×{len(inputs)}", idempotent=idempotent)
        except ConnectionProblem as exc:
            if exc.kind != "bad_request":
                raise
            if len(inputs) == 1:
                return [str(exc)]
            return [r for one in inputs
                    for r in self._run(field, arg, arg_type, payload_sel, [one], extra, what, idempotent, api)]
        return [data[f"m{k}"] for k in range(len(inputs))]

    def _query(self, text: str, variables: dict | None = None, cost: int = 1, what: str = "", api=None) -> dict:
        return (api or self.api).query(text, variables, cost=cost, what=what)

    def location(self) -> str:
        if self._location is None:
            self._location = self._query("{ location { id } }", cost=2, what="the shop's location")["location"]["id"]
        return self._location

    # --- writes
    def _results(self, rows: list[dict], answers: list, payload: str, kind: str) -> list[WriteResult]:
        out = []
        for row, ans in zip(rows, answers):
            if isinstance(ans, str):
                out.append(WriteResult(row["source_id"], None, ans))
            elif ans["userErrors"]:
                out.append(WriteResult(row["source_id"], None, "; ".join(
                    f"{'.'.join(e.get('field') or [])}: {e['message']}".lstrip(": ") for e in ans["userErrors"])))
            else:
                out.append(WriteResult(row["source_id"], legacy(ans[payload]["id"])))
        return out

    def _write(self, entity: str, rows: pa.Table, update: bool) -> list[WriteResult]:
        if entity in UNAVAILABLE:
            return [WriteResult(s, None, UNAVAILABLE[entity]) for s in rows.column("source_id").to_pylist()]
        items = rows.to_pylist()
        if entity == "manufacturers":
            return self._makers(items)
        results: dict[int, WriteResult] = {}
        ready: list[tuple[int, dict]] = []
        for k, row in enumerate(items):
            try:
                ready.append((k, _plain(m.PAYLOAD[entity](row, self, update))))
            except m.Unwritable as exc:  # a record Shopify would hold differently: quarantined, with the reason
                results[k] = WriteResult(row["source_id"], None, str(exc))
        create, upd, input_type, arg, payload = MUTATIONS[entity]
        field = upd if update else create
        if entity == "orders":
            input_type, arg = ("OrderInput!", "input") if update else ("OrderCreateOrderInput!", "order")
        extra = ", synchronous: true" if entity == "products" else ""
        extra += ", options: {sendReceipt: false, sendFulfillmentReceipt: false, inventoryBehaviour: BYPASS}" \
            if entity == "orders" and not update else ""
        bulk = self.bulk_threshold is not None and len(ready) > self.bulk_threshold
        step = BULK_MAX_LINES if bulk else BATCH
        inputs = {items[k]["source_id"]: p for k, p in ready}

        def send(rows: list[dict]) -> list[WriteResult]:
            if bulk:
                mutation = (f"mutation($v: {input_type}) {{ {field}({arg}: $v{extra}) {{ {payload} {{ id }} "
                            "userErrors { field message } } }")
                answers = run_bulk(self.api, mutation, field, [{"v": inputs[r["source_id"]]} for r in rows],
                                   f"bulk {field} of {len(rows):,} {entity}")
            else:
                answers = self._run(field, arg, input_type, f"{payload} {{ id }}",
                                    [inputs[r["source_id"]] for r in rows], extra, idempotent=update)
            return self._results(rows, answers, payload, entity)

        position = {row["source_id"]: k for k, row in enumerate(items)}
        for start in range(0, len(ready), step):
            rows = [items[k] for k, _ in ready[start:start + step]]
            for res in (send(rows) if update else self.create_confirmed(entity, rows, send)):
                results[position[res.source_id]] = res
        out = [results[k] for k in range(len(items))]
        return self._refunds(items, out) if entity == "orders" else out

    # --- refunds
    def _refunds(self, rows: list[dict], results: list[WriteResult]) -> list[WriteResult]:
        """Each written order's refunds as Shopify refunds (refundCreate), each once: the order's refunds are read
        back first and those it holds (the same amount and note, counted) are not written again, so a re-run
        writes nothing and a refund added at the source since arrives with the order's next update (a delta)."""
        out = []
        for row, res in zip(rows, results):
            if res.error or not row.get("refunds"):
                out.append(res)
                continue
            # a request Shopify refuses is the order's error (_run); a problem with the shop itself stops the load
            errors = until_confirmed(lambda again, row=row, res=res: self._sync_refunds(row, res.target_id))
            out.append(WriteResult(res.source_id, res.target_id,
                                   ("refunds: " + "; ".join(errors)) if errors else None))
        return out

    def _sync_refunds(self, row: dict, target_id: str) -> list[str]:
        """Write the row's refunds the order does not hold yet; Shopify's messages for those it refused."""
        oid = gid("Order", target_id)
        order = self.refunds_api.query(REFUND_STATE, {"id": oid}, cost=REFUND_STATE_COST,
                                       what=f"the refunds of order {row['source_id']}")["node"]
        if order is None:
            return [f"order {target_id} is not on Shopify"]
        inputs = m.refund_inputs(row, order)
        if isinstance(inputs, str):
            return [inputs]
        errors = []
        for start in range(0, len(inputs), BATCH):
            answers = self._run("refundCreate", "input", "RefundInput!", "refund { id }", inputs[start:start + BATCH],
                                what=f"refunds of order {row['source_id']}", idempotent=False, api=self.refunds_api)
            for ans in answers:
                if isinstance(ans, str):
                    errors.append(ans)
                elif ans["userErrors"]:
                    errors += [f"{'.'.join(e.get('field') or [])}: {e['message']}".lstrip(": ")
                               for e in ans["userErrors"]]
        return errors

    def create(self, entity: str, rows: pa.Table, preserve_ids: bool = False) -> list[WriteResult]:
        return self._write(entity, rows, update=False)

    def update(self, entity: str, rows: pa.Table) -> list[WriteResult]:
        return self._write(entity, rows, update=True)

    def _shop_id(self) -> str:
        return self._query("{ shop { id } }", cost=1, what="the shop id")["shop"]["id"]

    def _makers(self, items: list[dict]) -> list[WriteResult]:
        """Manufacturers are vendor strings: keep each (name, URL key) in a shop metafield keyed by source id."""
        shop, out = self._shop_id(), []
        for start in range(0, len(items), 25):  # metafieldsSet takes at most 25 metafields
            chunk = items[start:start + 25]
            ans = self._run("metafieldsSet", "metafields", "[MetafieldsSetInput!]!", "metafields { key }", [[
                {"ownerId": shop, "namespace": MAKERS_NS, "key": m.maker_key(r["source_id"]), "type": "json",
                 "value": json.dumps({"source_id": r["source_id"], "name": r["name"], "url_key": r.get("url_key")})}
                for r in chunk]], what="manufacturer metafields")[0]
            errors = ans if isinstance(ans, str) else "; ".join(e["message"] for e in ans["userErrors"])
            out += [WriteResult(r["source_id"], None if errors else r["name"], errors or None) for r in chunk]
        return out

    # --- reads
    def _maker_rows(self) -> list[dict]:
        rows, after = [], None
        while True:
            data = self._query("query($a: String) { shop { metafields(first: 250, after: $a, namespace: "
                               f'"{MAKERS_NS}") {{ pageInfo {{ hasNextPage endCursor }} nodes {{ value }} }} }} }}',
                               {"a": after}, cost=3 + 250, what="manufacturer metafields")["shop"]["metafields"]
            rows += [json.loads(n["value"]) for n in data["nodes"]]
            if not data["pageInfo"]["hasNextPage"]:
                return rows
            after = data["pageInfo"]["endCursor"]

    def _nodes(self, entity: str, selection: str, node_cost: int):
        root, kind = ROOT[entity]
        api = self.refunds_api if entity == "orders" else self.api  # orders read their refunds' processedAt
        first = max(1, min(250, (MAX_QUERY_COST - 2) // node_cost))
        after = None
        while True:
            data = self._query(f"query($a: String) {{ {root}(first: {first}, after: $a) {{ pageInfo {{ hasNextPage "
                               f"endCursor }} nodes {{ {selection} }} }} }}", {"a": after},
                               cost=2 + first * node_cost, what=f"a page of {root}", api=api)[root]
            for node in data["nodes"]:
                yield self._complete(kind, node)
            if not data["pageInfo"]["hasNextPage"]:
                return
            after = data["pageInfo"]["endCursor"]

    def _complete(self, kind: str, node: dict) -> dict:
        """Nested connections longer than their first page (many variants or images) are read to the end."""
        for field, (sel, cost) in m.NESTED.get(kind, {}).items():
            conn = node.get(field)
            while conn and conn["pageInfo"]["hasNextPage"]:
                more = self._query(f"query($id: ID!, $a: String) {{ node(id: $id) {{ ... on {kind} {{ {field}"
                                   f"(first: 100, after: $a) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {sel} "
                                   f"}} }} }} }} }}", {"id": node["id"], "a": conn["pageInfo"]["endCursor"]},
                                   cost=3 + 100 * cost, what=f"more {field} of {node['id']}")["node"][field]
                conn["nodes"] += more["nodes"]
                conn["pageInfo"] = more["pageInfo"]
        return node

    def find_existing(self, entity: str, source_ids: list[str]) -> dict[str, str]:
        wanted = set(source_ids)
        if entity in UNAVAILABLE or not wanted:
            return {}
        if entity == "manufacturers":
            return {r["source_id"]: r["name"] for r in self._maker_rows() if r["source_id"] in wanted}
        found = {}
        for node in self._nodes(entity, f'id metafield(namespace: "{NS}", key: "{KEY}") {{ value }}', 2):
            sid = (node.get("metafield") or {}).get("value")
            if sid in wanted:
                found.setdefault(sid, legacy(node["id"]))
        return found

    def scan(self, entity: str) -> pa.Table:
        """Everything on Shopify for `entity`, in the same columns and types as the local target."""
        if entity in UNAVAILABLE:
            rows = []
        elif entity == "manufacturers":
            rows = [{"id": r["name"], "name": r["name"], "url_key": r.get("url_key"), "_source_id": r["source_id"]}
                    for r in self._maker_rows()]
        else:
            selection, cost = m.SELECTION[entity]
            rows = [m.READ[entity](node) for node in self._nodes(entity, selection, cost)]
        return _typed(entity, rows)

    def count(self, entity: str) -> int:
        if entity in UNAVAILABLE:
            return 0
        if entity == "manufacturers":
            return len(self._maker_rows())
        root = ROOT[entity][0]
        limit = "" if entity == "categories" else "(limit: null)"
        return self._query(f"{{ {root}Count{limit} {{ count }} }}", cost=1, what=f"the number of {root}")[
            f"{root}Count"]["count"]

    def clear(self, entities: list[str]) -> dict[str, int]:
        deleted = {}
        for entity in [e for e in ORDER if e in entities] + [e for e in entities if e in UNAVAILABLE]:
            if entity in UNAVAILABLE:
                deleted[entity] = 0
                continue
            if entity == "manufacturers":
                rows, shop = self._maker_rows(), self._shop_id()
                for start in range(0, len(rows), 25):
                    self._run("metafieldsDelete", "metafields", "[MetafieldIdentifierInput!]!",
                              "deletedMetafields { key }", [[{"ownerId": shop, "namespace": MAKERS_NS,
                                                              "key": m.maker_key(r["source_id"])}
                                                             for r in rows[start:start + 25]]])
                deleted[entity] = len(rows)
                continue
            ids = [n["id"] for n in self._nodes(entity, "id", 1)]
            field, arg_type, arg = DELETE[entity]
            payload = {"orders": "deletedId", "products": "deletedProductId", "customers": "deletedCustomerId",
                       "categories": "deletedCollectionId"}[entity]
            inputs = [i if entity == "orders" else {"id": i} for i in ids]
            done = 0
            for start in range(0, len(inputs), BATCH):
                answers = self._run(field, arg, arg_type, payload, inputs[start:start + BATCH])
                done += sum(1 for a in answers if isinstance(a, dict) and a.get(payload))
            deleted[entity] = done
        return deleted


def _plain(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _typed(entity: str, rows: list[dict]) -> pa.Table:
    """Rows as the local target's TABLES columns and types."""
    return as_target_table(entity, rows)
