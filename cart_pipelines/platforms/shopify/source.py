"""Shopify source: the Admin GraphQL API (`POST {shop}/admin/api/{version}/graphql.json`).

Declarative part: one Spec per entity (root connection, count field, scope, node selection, nested connections,
mapping to the canonical shape). Reading: pages for small shops (by id: keyset ranges read in parallel; by
update time: cursors, `first`/`after`, `pageInfo`), a bulk operation (JSON Lines with `__parentId`, streamed line
by line) once a shop holds more than `bulk_threshold` records of an entity, or once what a first page cost says
the pages would wait on the cost bucket for over BULK_AFTER_WAIT_S (the bucket does not pace bulk operations).
Delta runs filter with `query: "updated_at:>'…'"` and `sortKey: UPDATED_AT`; a backfill slice with
`query: "created_at:>='…' created_at:<'…'"` or `"id:>=N id:<M"` (the search syntax ANDs the terms; products,
customers and orders document both fields), in pages and bulk queries alike.

Throttling is by calculated query cost: every response reports `extensions.cost.throttleStatus`; the client paces
each request to the restore rate so the bucket holds the query's cost, and a `THROTTLED` answer (HTTP 200) is
retried through HttpClient after the time the bucket needs. Page sizes are the largest `first` (≤ 250) that keeps
a page's requested cost under Shopify's 1000-point single-query maximum; nested connections longer than their
first page (a product with many variants) are completed with `node(id:)` queries.

Shopify has no tax classes and no reviews in the Admin API; categories are collections (flat, no tree);
manufacturers are the product `vendor` strings, so a manufacturer's source_id is its vendor name.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Callable, Iterator

import requests

from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import (
    ConnectionProblem,
    Explainer,
    HttpClient,
    HttpSettings,
    LoopGuard,
    RetryableResponse,
    backoff,
    safe_url,
)
from cart_pipelines.platforms.kit.keyset import id_range_pages
from cart_pipelines.platforms.kit.source import Slice, Source, SourceRecord

API_VERSION = "2025-10"
REFUND_DATES_VERSION = "2026-01"  # the first version whose RefundInput and Refund have processedAt
PAGE_SIZE = 250  # Shopify's maximum `first`; cost-heavy entities use less (see Spec.page_size)
MAX_QUERY_COST = 1000
BULK_THRESHOLD = 2_000  # records of an entity above which a bulk operation beats cursor pages (paced by cost)
BULK_POLL_S = 0.5
# A read that would wait longer than this on the cost bucket (what its first page cost, times the records left,
# beyond what the bucket holds) goes on as a bulk operation, which the bucket does not pace
BULK_AFTER_WAIT_S = 20.0
BULK_BUSY_WAIT_S = 600.0  # how long a bulk export waits for the shop's one bulk slot another step holds
# Id ranges read at once by cursor-page reads: Shopify limits GraphQL by query cost, not by requests in flight, and
# the budget reserves each query's cost, so more ranges only help while the bucket holds their cost
CONCURRENCY = 4
NON_SECRET = ("api_version",)
SLICEABLE = ("products", "customers", "orders")  # their search syntax has `id` and `created_at` ranges
SCOPES = {"products": "read_products", "categories": "read_products", "manufacturers": "read_products",
          "customers": "read_customers", "orders": "read_orders"}

CARRIED = {
    "categories": ("source_id", "name", "updated_at"),
    "products": ("source_id", "name", "description_html", "price", "special_price", "weight", "status",
                 "category_ids", "images", "created_at", "updated_at"),
    "customers": ("source_id", "email", "first_name", "last_name", "phone", "newsletter", "addresses",
                  "created_at", "updated_at"),
    "orders": ("source_id", "number", "email", "status", "currency", "subtotal", "shipping", "tax", "discount",
               "grand_total", "billing_address", "shipping_address", "created_at", "updated_at"),
}

# ProductStatus; UNLISTED (2025-10+, which we ask for): "active but you need a direct link to view it" — sold,
# not listed, so private (shopify.dev/docs/api/admin-graphql/latest/enums/ProductStatus)
LIFECYCLE = {"ACTIVE": "published", "DRAFT": "draft", "ARCHIVED": "archived", "UNLISTED": "private"}
SOLD = {"ACTIVE", "UNLISTED"}
ADDRESS = "firstName lastName company address1 city zip province country countryCodeV2 phone"
MONEY = "shopMoney { amount currencyCode }"
REFUNDS, REFUND_LINES = 10, 10  # refunds of an order and lines of a refund read with it
# A refund's date: `processedAt` (2026-01+: when it was processed, which refundCreate may set to the past) where
# the configured version has it; before that only `createdAt` (when it was written) exists
REFUND = f"id legacyResourceId note DATE totalRefundedSet {{ {MONEY} }}"
REFUND_LINE, REFUND_LINE_COST = f"lineItem {{ id sku }} quantity subtotalSet {{ {MONEY} }}", 4


@dataclass(frozen=True)
class Nested:
    """A nested connection: its field, the GID type of its nodes, page size and node selection (with id)."""

    field: str
    gid_type: str
    first: int
    selection: str
    node_cost: int  # cost of one node (1 + its object fields), as Shopify calculates it


@dataclass(frozen=True)
class Spec:
    root: str  # the root connection (QueryRoot field)
    node_type: str
    selection: str  # scalar and object fields of a node
    node_cost: int  # 1 + object fields of a node, without nested connections
    nested: tuple[Nested, ...] = ()
    delta: bool = True
    # cursor pages only: bulk queries refuse a connection inside a list field ("Queries that contain a connection
    # field within a list field are not currently supported"), e.g. refundLineItems under Order.refunds
    paged: str = ""
    paged_cost: int = 0
    bulked: str = ""  # what bulk queries read instead of `paged`

    @property
    def per_node(self) -> int:
        return self.node_cost + self.paged_cost + sum(2 + n.first * n.node_cost for n in self.nested)

    @property
    def page_size(self) -> int:
        return max(1, min(PAGE_SIZE, (MAX_QUERY_COST - 2) // self.per_node))

    def fields(self, bulk: bool) -> str:
        parts = [self.selection] + [x for x in [self.bulked if bulk else self.paged] if x]
        for n in self.nested:
            if bulk:  # bulk queries read every nested node; JSONL rows carry __parentId
                parts.append(f"{n.field} {{ edges {{ node {{ id {n.selection} }} }} }}")
            else:
                parts.append(f"{n.field}(first: {n.first}) {{ pageInfo {{ hasNextPage endCursor }} "
                             f"nodes {{ id {n.selection} }} }}")
        return " ".join(parts)


def _refunds_paged(date: str) -> str:
    return (f"refunds(first: {REFUNDS}) {{ {REFUND.replace('DATE', date)} refundLineItems(first: {REFUND_LINES}) "
            f"{{ pageInfo {{ hasNextPage endCursor }} nodes {{ {REFUND_LINE} }} }} }}")


def _refunds_bulked(date: str) -> str:
    return f"refunds(first: {REFUNDS}) {{ {REFUND.replace('DATE', date)} }}"


def refund_date_field(version: str) -> str:
    """The field a refund's date is read from in Admin API `version`: `processedAt` from 2026-01 (and in
    "unstable", the newest), `createdAt` before."""
    return "processedAt" if version == "unstable" or version >= REFUND_DATES_VERSION else "createdAt"


def specs_for(version: str) -> dict[str, "Spec"]:
    """SPECS as Admin API `version` reads them: orders' refunds dated by refund_date_field."""
    date = refund_date_field(version)
    orders = replace(SPECS["orders"], paged=_refunds_paged(date), bulked=_refunds_bulked(date))
    return {**SPECS, "orders": orders}


SPECS: dict[str, Spec] = {
    "categories": Spec("collections", "Collection", "id legacyResourceId title handle updatedAt", 1),
    "products": Spec(
        "products", "Product",
        "id legacyResourceId title handle descriptionHtml vendor status isGiftCard totalInventory "
        "hasOnlyDefaultVariant createdAt updatedAt", 1,
        (Nested("variants", "ProductVariant", 10, "legacyResourceId sku price compareAtPrice inventoryQuantity "
                "selectedOptions { name value } inventoryItem { measurement { weight { unit value } } }", 5),
         Nested("media", "MediaImage", 5, "... on MediaImage { image { url altText } }", 2),
         Nested("collections", "Collection", 5, "legacyResourceId", 1))),
    "customers": Spec(
        "customers", "Customer",
        f"id legacyResourceId email firstName lastName phone emailMarketingConsent {{ marketingState }} "
        f"addresses {{ id {ADDRESS} }} defaultAddress {{ id }} createdAt updatedAt", 4),
    "orders": Spec(
        "orders", "Order",
        f"id legacyResourceId name email customer {{ legacyResourceId firstName lastName }} "
        f"displayFinancialStatus displayFulfillmentStatus cancelledAt currencyCode "
        f"subtotalPriceSet {{ {MONEY} }} totalShippingPriceSet {{ {MONEY} }} totalTaxSet {{ {MONEY} }} "
        f"totalDiscountsSet {{ {MONEY} }} totalPriceSet {{ {MONEY} }} totalRefundedSet {{ {MONEY} }} "
        f"billingAddress {{ {ADDRESS} }} shippingAddress {{ {ADDRESS} }} createdAt updatedAt", 17,
        (Nested("lineItems", "LineItem", 10, f"legacyResourceId: id name sku quantity product {{ legacyResourceId }} "
                f"originalUnitPriceSet {{ {MONEY} }} taxLines {{ priceSet {{ {MONEY} }} }}", 7),),
        # refunds is a list (no connection), REFUNDS of them; their lines are a connection, read in cursor pages only
        paged=_refunds_paged("createdAt"), paged_cost=1 + 2 + 2 + REFUND_LINES * REFUND_LINE_COST,
        bulked=_refunds_bulked("createdAt")),
}


# --- mapping Shopify JSON -> canonical dicts
def _ts(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(gid: str | None) -> str | None:
    return None if gid is None else str(gid).rsplit("/", 1)[-1]


def _dec(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _shop_money(bag: dict | None) -> Decimal | None:
    return _dec(bag["shopMoney"]["amount"]) if bag else None


def _nodes(conn: dict | None) -> list:
    if not conn:
        return []
    return conn["nodes"] if "nodes" in conn else [e["node"] for e in conn.get("edges") or []]


def _address(a: dict | None) -> dict | None:
    if a is None:
        return None
    return {"first_name": a.get("firstName"), "last_name": a.get("lastName"), "company": a.get("company"),
            "street": a.get("address1"), "city": a.get("city"), "postcode": a.get("zip"),
            "region": a.get("province"), "country": a.get("countryCodeV2") or a.get("country"),
            "phone": a.get("phone")}


def map_category(c: dict) -> dict:
    return {"source_id": str(c["legacyResourceId"]), "parent_id": None, "name": c["title"], "path": c["title"],
            "url_key": c.get("handle"), "is_visible": None, "position": None, "updated_at": c.get("updatedAt")}


def map_product(p: dict) -> dict:
    variants = _nodes(p.get("variants"))
    first = variants[0] if variants else {}
    regular = _dec(first.get("compareAtPrice"))
    sale = _dec(first.get("price"))
    weight = ((first.get("inventoryItem") or {}).get("measurement") or {}).get("weight")
    kg = None
    if weight:  # Shopify stores a unit per variant; canonical weight is kg
        kg = float(weight["value"]) * {"GRAMS": 0.001, "KILOGRAMS": 1, "OUNCES": 0.028349523125,
                                       "POUNDS": 0.45359237}[weight["unit"]]
    return {
        "source_id": str(p["legacyResourceId"]),
        "sku": first.get("sku") if p.get("hasOnlyDefaultVariant") else None,
        "name": p["title"],
        "description_html": p.get("descriptionHtml"),
        "price": regular if regular is not None else sale,
        "special_price": sale if regular is not None else None,
        "weight": kg,
        "stock": p.get("totalInventory"),
        "status": "enabled" if p.get("status") in SOLD else "disabled",
        "lifecycle": LIFECYCLE.get(p.get("status")),
        "type": "gift_card" if p.get("isGiftCard") else ("simple" if p.get("hasOnlyDefaultVariant") else "variable"),
        # Shopify has no sale dates: compareAtPrice is the "was" price of a sale running now
        "special_price_from": None, "special_price_to": None,
        "url_key": p.get("handle"),
        "category_ids": [str(c["legacyResourceId"]) for c in _nodes(p.get("collections"))],
        "manufacturer_id": p.get("vendor") or None,  # the vendor string is the manufacturer's id
        "tax_class_id": None,
        "variants": [] if p.get("hasOnlyDefaultVariant") else [
            {"source_id": _num(v["legacyResourceId"]), "sku": v.get("sku"),
             "price": _dec(v.get("compareAtPrice")) if v.get("compareAtPrice") is not None else _dec(v.get("price")),
             "stock": v.get("inventoryQuantity"), "options": v.get("selectedOptions") or [],
             # no variant status on Shopify: a variant it holds is sold (one it stopped selling was deleted)
             "status": "enabled"} for v in variants],
        "images": [{"url": m["image"]["url"], "position": k, "alt": m["image"].get("altText")}
                   for k, m in enumerate(m for m in _nodes(p.get("media")) if m.get("image"))],
        "created_at": p.get("createdAt"),
        "updated_at": p.get("updatedAt"),
    }


def map_refund(r: dict) -> dict:
    """A Shopify refund: `totalRefundedSet` is what went back (positive), with its lines (the source completes
    them before mapping)."""
    lines = [{"item_id": _num((rl.get("lineItem") or {}).get("id")), "sku": (rl.get("lineItem") or {}).get("sku"),
              "qty": rl.get("quantity"), "amount": _shop_money(rl.get("subtotalSet"))}
             for rl in _nodes(r.get("refundLineItems"))]
    return {"source_id": str(r.get("legacyResourceId") or _num(r.get("id"))), "amount": _shop_money(
        r.get("totalRefundedSet")), "reason": r.get("note") or None,
        # processedAt (2026-01+) is the refund's date; createdAt, when it was written, where the version has no other
        "created_at": r.get("processedAt") or r.get("createdAt"), "lines": lines}


def map_customer(c: dict) -> dict:
    default = (c.get("defaultAddress") or {}).get("id")
    addresses = [{**_address(a), "is_default_billing": a.get("id") == default,
                  "is_default_shipping": a.get("id") == default} for a in c.get("addresses") or []]
    consent = (c.get("emailMarketingConsent") or {}).get("marketingState")
    return {"source_id": str(c["legacyResourceId"]), "email": c.get("email"), "first_name": c.get("firstName"),
            "last_name": c.get("lastName"), "phone": c.get("phone"), "newsletter": consent == "SUBSCRIBED",
            "addresses": addresses, "password_hash": None, "password_algorithm": None,
            "created_at": c.get("createdAt"), "updated_at": c.get("updatedAt")}


def order_status(o: dict) -> str:
    if o.get("cancelledAt"):
        return "canceled"
    financial, fulfillment = o.get("displayFinancialStatus"), o.get("displayFulfillmentStatus")
    if financial == "REFUNDED":
        return "refunded"  # a partial refund leaves the order where it stands; the refund itself is carried
    if fulfillment == "ON_HOLD":
        return "on_hold"
    if fulfillment == "FULFILLED":
        return "complete"
    return "processing" if financial in {"PAID", "PARTIALLY_PAID", "PARTIALLY_REFUNDED"} else "pending"


def map_order(o: dict) -> dict:
    customer = o.get("customer")
    billing = _address(o.get("billingAddress"))
    discount = _shop_money(o.get("totalDiscountsSet")) or Decimal(0)
    subtotal = _shop_money(o.get("subtotalPriceSet"))
    names = customer or {"firstName": (billing or {}).get("first_name"), "lastName": (billing or {}).get("last_name")}
    total = o.get("totalPriceSet")
    return {
        "source_id": str(o["legacyResourceId"]),
        "number": (o.get("name") or "").lstrip("#") or None,
        "customer_id": str(customer["legacyResourceId"]) if customer else None,
        "email": o.get("email"),
        "customer_first_name": names.get("firstName"),
        "customer_last_name": names.get("lastName"),
        "status": order_status(o),
        "currency": total["shopMoney"]["currencyCode"] if total else o.get("currencyCode"),
        "subtotal": None if subtotal is None else subtotal + discount,  # Shopify's subtotal is after discounts
        "shipping": _shop_money(o.get("totalShippingPriceSet")),
        "tax": _shop_money(o.get("totalTaxSet")),
        "discount": discount,
        "grand_total": _shop_money(total),  # totalPriceSet: "before returns" (order edits are in it)
        **_refunds(o, _shop_money(total)),
        "items": [{"source_id": _num(li["legacyResourceId"]),
                   # product: null when the product was deleted since; sku, name and price stay as history
                   "product_id": str(li["product"]["legacyResourceId"]) if li.get("product") else None,
                   "sku": li.get("sku"), "name": li.get("name"), "qty": li.get("quantity"),
                   "price": _shop_money(li.get("originalUnitPriceSet")),
                   "tax": sum((_shop_money(t["priceSet"]) for t in li.get("taxLines") or []), Decimal(0))}
                  for li in _nodes(o.get("lineItems"))],
        "billing_address": billing,
        "shipping_address": _address(o.get("shippingAddress")),
        "created_at": o.get("createdAt"),
        "updated_at": o.get("updatedAt"),
    }


def _refunds(o: dict, total: Decimal | None) -> dict:
    """refunds, refunded_total (`totalRefundedSet`) and net_total (the total less what was refunded: Shopify's
    currentTotalPriceSet is "after returns" and leaves out refunds of shipping or goodwill, netPaymentSet counts
    only money received, so neither is what the shop kept on an unpaid or partly returned order)."""
    refunded = _shop_money(o.get("totalRefundedSet"))
    refunds = [map_refund(r) for r in o.get("refunds") or []]
    if refunded is None and refunds:
        refunded = sum((r["amount"] or Decimal(0) for r in refunds), Decimal(0))
    return {"refunds": refunds, "refunded_total": refunded or None,
            "net_total": None if total is None or not refunded else max(Decimal(0), total - refunded)}


MAPPERS: dict[str, Callable[[dict], dict]] = {"categories": map_category, "products": map_product,
                                              "customers": map_customer, "orders": map_order}


def _graphql_errors(response: requests.Response) -> str | None:
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return None
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list) and errors:
        return "; ".join(str(e.get("message")) for e in errors[:3] if isinstance(e, dict))
    return json.dumps(errors)[:200] if errors else None


class _Partial(Exception):
    """A bulk result file that came back in part: read it again."""


class CostBudget:
    """Client-side model of Shopify's leaky bucket, fed by every response's throttleStatus."""

    def __init__(self):
        self.lock = threading.Condition()
        self.available: float | None = None
        self.maximum = self.rate = 0.0
        self.stamp = time.monotonic()
        self.pending = 0.0  # requested cost of the queries in flight, not yet in a throttleStatus we saw
        self.last_actual: float | None = None  # actualQueryCost of the last answer

    def observe(self, response: requests.Response) -> None:
        try:
            body = response.json()
        except ValueError:
            return
        cost = ((body or {}).get("extensions") or {}).get("cost") if isinstance(body, dict) else None
        status = (cost or {}).get("throttleStatus")
        if cost and cost.get("actualQueryCost") is not None:
            self.last_actual = float(cost["actualQueryCost"])
        if status:
            with self.lock:
                self.available = float(status["currentlyAvailable"])
                self.maximum, self.rate = float(status["maximumAvailable"]), float(status["restoreRate"])
                self.stamp = time.monotonic()
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list) and any((e.get("extensions") or {}).get("code") == "THROTTLED"
                                            for e in errors if isinstance(e, dict)):
            requested = float((cost or {}).get("requestedQueryCost") or 0)
            wait = self.wait_for(requested) if status else 1.0
            # HttpClient waits, counts and retries: nothing ran, so a mutation is safe to send again too
            raise RetryableResponse(response, max(0.1, wait), "THROTTLED", refused=True)

    def wait_for(self, cost: float) -> float:
        """Seconds until the bucket holds `cost` points (0 when unknown or already there)."""
        with self.lock:
            return self._wait(cost)

    def _wait(self, cost: float) -> float:
        return self._restore(min(cost, self.maximum))

    def _restore(self, points: float) -> float:
        """Seconds until the bucket holds `points` (0 when unknown); with the lock held."""
        if self.available is None or not self.rate:
            return 0.0
        now = min(self.maximum, self.available + (time.monotonic() - self.stamp) * self.rate)
        return max(0.0, (points - now) / self.rate)

    def pace(self, cost: float) -> None:
        """Wait until the bucket holds `cost` besides what the queries in flight asked for, and reserve it; `done`
        gives it back. Queries read in parallel (id ranges) so never send more than the bucket holds together."""
        with self.lock:
            while True:
                crowded = self.pending and self.maximum and self.pending + cost > self.maximum
                wait = 0.5 if crowded else self._wait(self.pending + cost)
                if wait <= 0:
                    self.pending += cost
                    return
                self.lock.wait(wait)  # woken early when a query in flight is answered

    def seconds_for(self, points: float) -> float:
        """Seconds the bucket needs to restore `points` beyond what it holds now (0 when unknown)."""
        with self.lock:
            return self._restore(points)

    def done(self, cost: float) -> None:
        with self.lock:
            self.pending = max(0.0, self.pending - cost)
            self.lock.notify_all()


class ShopifySource(Source):
    platform = "shopify"
    supports_delta = True
    BASE_URL = "shop_url"
    CREDENTIALS = (  # seed 002: "Store Admin URL", "Admin API Access Token"
        Credential("shop_url", "SHOPIFY_SHOP_URL", "Store Admin URL (https://your-store.myshopify.com)"),
        Credential("access_token", "SHOPIFY_ACCESS_TOKEN", "Admin API Access Token (shpat_…)", secret=True),
        Credential("api_version", "SHOPIFY_API_VERSION", "Admin API version", default=API_VERSION),
    )

    def __init__(self, client: HttpClient, budget: CostBudget, shop_url: str, api_version: str,
                 bulk_threshold: int | None = BULK_THRESHOLD, concurrency: int = CONCURRENCY):
        self.client, self.budget, self.shop_url, self.api_version = client, budget, shop_url, api_version
        self.concurrency = concurrency
        self.specs = specs_for(api_version)  # what this version's schema lets us read (refund dates)
        self.bulk_threshold = bulk_threshold  # None: never bulk

    @classmethod
    def connect(cls, base_url: str, credentials: dict, verify=True, settings: HttpSettings | None = None,
                bulk_threshold: int | None = BULK_THRESHOLD) -> "ShopifySource":
        version = credentials.get("api_version") or API_VERSION
        explainer = Explainer("Shopify", ("access_token (Admin API access token)", "the shop URL"),
                              "grant the custom app the read_products, read_customers and read_orders Admin API "
                              "scopes and reinstall it", _graphql_errors)
        budget = CostBudget()
        client = HttpClient(f"{base_url.rstrip('/')}/admin/api/{version}", explainer, settings=settings,
                            headers={"X-Shopify-Access-Token": credentials["access_token"],
                                     "Content-Type": "application/json"},
                            verify=verify, on_response=budget.observe)
        return cls(client, budget, base_url.rstrip("/"), version, bulk_threshold)

    def describe(self) -> str:
        return f"Shopify shop {safe_url(self.shop_url)} (Admin GraphQL API {self.api_version})"

    def has(self, entity: str) -> bool:
        return entity in self.specs or entity == "manufacturers"

    # --- transport
    def query(self, text: str, variables: dict | None = None, cost: int = 1, what: str = "",
              idempotent: bool = True) -> dict:
        """One GraphQL request, paced to the bucket; GraphQL errors become ConnectionProblem. `idempotent=False`
        (a create mutation): a lost answer raises WriteUnconfirmed instead of a blind resend."""
        self.budget.pace(cost)
        try:
            response = self.client.request("POST", "graphql.json", what=what or "a GraphQL query",
                                           idempotent=idempotent,
                                           data=json.dumps({"query": text, "variables": variables or {}}))
        except ConnectionProblem as exc:
            if exc.status == 200:  # THROTTLED (HTTP 200) on every attempt
                raise ConnectionProblem("rate_limited", f"Shopify kept answering THROTTLED for {what}: the app's "
                                        "query-cost bucket stays empty (another app or job shares it?); run "
                                        "again later or on a larger plan.", 200) from None
            raise
        finally:
            self.budget.done(cost)  # the answer's throttleStatus (observed) now holds what it cost
        try:
            body = response.json()
        except ValueError:
            raise ConnectionProblem("bad_response", f"Shopify answered {safe_url(response.url)} with something "
                                    "that is not JSON; is the shop URL the shop's admin address?") from None
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            raise self._problem(errors, what)
        return body["data"]

    @staticmethod
    def _problem(errors, what: str) -> ConnectionProblem:
        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
        ext = first.get("extensions") or {}
        message = first.get("message") or str(errors)
        if ext.get("code") == "ACCESS_DENIED":
            scope = (ext.get("requiredAccess") or "").strip("`").split("`")[0] or "the missing"
            return ConnectionProblem("permission", f"Shopify refused {what}: the access token lacks the {scope} "
                                     f"scope. In the shop admin open Settings → Apps and sales channels → Develop "
                                     f"apps → your app → Configuration, enable {scope}, save and reinstall the "
                                     f"app. Shopify said: {message}")
        if ext.get("code") == "MAX_COST_EXCEEDED":
            return ConnectionProblem("bad_request", f"Shopify rejected {what} as too expensive: {message}")
        return ConnectionProblem("bad_request", f"Shopify rejected {what}: {message}")

    def check(self) -> str:
        shop = self.query("{ shop { name myshopifyDomain currencyCode plan { displayName } } }", cost=2,
                          what="the shop details")["shop"]
        return (f"Shopify shop {shop['name']!r} ({shop['myshopifyDomain']}, {shop['currencyCode']}, plan "
                f"{shop['plan']['displayName']})")

    # --- reading
    def count(self, entity: str, search: str | None = None) -> int:
        spec = self.specs[entity]
        data = self.query(f"query($q: String) {{ {spec.root}Count(query: $q) {{ count }} }}",
                          {"q": search}, cost=1, what=f"the number of {spec.root}")
        return int((data[f"{spec.root}Count"] or {}).get("count") or 0)

    def records(self, entity: str, updated_since: datetime | None = None) -> Iterator[SourceRecord]:
        if updated_since is None:
            return self._records(entity, None, "ID")
        return self._records(entity, f"updated_at:>'{_ts(updated_since)}'", "UPDATED_AT")

    def records_in(self, entity: str, part: Slice) -> Iterator[SourceRecord]:
        if entity not in SLICEABLE:
            return super().records_in(entity, part)
        if part.field == "id":
            search = f"id:>={part.start} id:<{part.end}"
        else:
            search = f"created_at:>='{_ts(part.start)}' created_at:<'{_ts(part.end)}'"
        return self._records(entity, search, "ID")

    def id_bounds(self, entity: str) -> tuple[int, int | None, int | None]:
        """Count, first and last id in one query (`reverse: true` reads from the highest id)."""
        if entity not in SLICEABLE:
            return super().id_bounds(entity)
        root = self.specs[entity].root
        first = "(first: 1, sortKey: ID{}) {{ nodes {{ legacyResourceId }} }}"
        data = self.query(f"{{ lo: {root}{first.format('')} hi: {root}{first.format(', reverse: true')} "
                          f"n: {root}Count(limit: null) {{ count }} }}", cost=7, what=f"the id range of {root}")
        ends = [data[k]["nodes"] for k in ("lo", "hi")]
        if not all(ends):
            return 0, None, None
        return int(data["n"]["count"]), int(ends[0][0]["legacyResourceId"]), int(ends[1][0]["legacyResourceId"])

    def _records(self, entity: str, search: str | None, sort: str) -> Iterator[SourceRecord]:
        if entity == "manufacturers":
            nodes = self._vendors()
        elif entity not in self.specs:
            return
        else:
            total = self.count(entity, search) if self.bulk_threshold is not None or self.concurrency > 1 else None
            if self.bulk_threshold is not None and total > self.bulk_threshold:
                nodes = self.bulk_nodes(entity, search, sort)
            else:
                nodes = self.pages(entity, search, sort, total)
        mapper = MAPPERS.get(entity, lambda r: r)
        for ordinal, node in enumerate(nodes, start=1):
            for refund in node.get("refunds") or [] if entity == "orders" else ():
                self._refund_lines(refund)
            try:
                record = mapper(node)
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                yield SourceRecord(ordinal, None, f"{entity}: Shopify record {node.get('id')} could not be read "
                                   f"({type(exc).__name__}: {exc})", _num(node.get("id")))
                continue
            yield SourceRecord(ordinal, record, None, record["source_id"])

    def _vendors(self) -> Iterator[dict]:
        after, guard = None, LoopGuard("Shopify product vendors")
        while True:
            data = self.query("query($after: String) { productVendors(first: 1000, after: $after) { "
                              "pageInfo { hasNextPage endCursor } nodes } }", {"after": after}, cost=2,
                              what="the product vendors")["productVendors"]
            for name in data["nodes"]:
                yield {"source_id": name, "name": name, "url_key": None, "updated_at": None}
            if not data["pageInfo"]["hasNextPage"]:
                return
            after = data["pageInfo"]["endCursor"]
            guard.check(after)

    def pages(self, entity: str, search: str | None = None, sort: str = "ID",
              total: int | None = None) -> Iterator[dict]:
        """Nodes of `entity` matching `search` page by page; nested connections are completed. Sorted by id with
        `total` known, in id ranges read `concurrency` at a time (`kit/keyset.py`); else by cursor."""
        spec = self.specs[entity]
        text = (f"query($first: Int!, $after: String, $q: String) {{ {spec.root}(first: $first, after: $after, "
                f"query: $q, sortKey: {sort}) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {spec.fields(False)} "
                f"}} }} }}")
        first = spec.page_size
        if sort == "ID" and total and entity in SLICEABLE and self.concurrency > 1:
            yield from self._id_ranges(entity, spec, text, search, total)
            return
        variables = {"first": first, "after": None, "q": search}
        guard = LoopGuard(f"Shopify {spec.root}")
        # Sorted by UPDATED_AT, a record updated while we page moves behind the cursor and comes again: keep the
        # first (the mark never passes the read's start, so the next delta brings the newer version).
        seen: set[str] | None = set() if sort == "UPDATED_AT" else None
        while True:
            data = self.query(text, variables, cost=2 + first * spec.per_node, what=f"a page of {spec.root}")
            conn = data[spec.root]
            for node in conn["nodes"]:
                if seen is not None:
                    if node["id"] in seen:
                        continue
                    seen.add(node["id"])
                for nested in spec.nested:
                    self._complete(spec, nested, node)
                yield node
            if not conn["pageInfo"]["hasNextPage"]:
                return
            variables["after"] = conn["pageInfo"]["endCursor"]
            guard.check(variables["after"])

    def _id_ranges(self, entity: str, spec: Spec, text: str, search: str | None, total: int) -> Iterator[dict]:
        """Keyset pages by id: each asks for the ids after the last one read (`id:>N`, ANDed with `search`), so
        ranges of ids can be read at once without cursors; nested connections are completed in the range's thread.
        When what the first page cost says the rest would wait on the bucket for over BULK_AFTER_WAIT_S, the rest
        (`id:>` the page's last) is read by a bulk operation instead."""
        first = spec.page_size
        opening: list[dict] = []

        def fetch(after: int | None, below: int | None) -> tuple[list[dict], int]:
            if after is None and below is None and opening:
                return opening, total  # the first page, read below to decide
            terms = [search, after is not None and f"id:>{after}", below is not None and f"id:<{below}"]
            conn = self.query(text, {"first": first, "after": None, "q": " ".join(t for t in terms if t) or None},
                              cost=2 + first * spec.per_node, what=f"a page of {spec.root}")[spec.root]
            for node in conn["nodes"]:
                for nested in spec.nested:
                    self._complete(spec, nested, node)
            return conn["nodes"], total

        def highest() -> int | None:
            data = self.query(f"query($q: String) {{ {spec.root}(first: 1, sortKey: ID, reverse: true, query: $q) "
                              f"{{ nodes {{ legacyResourceId }} }} }}", {"q": search}, cost=3,
                              what=f"the highest id of {spec.root}")[spec.root]["nodes"]
            return int(data[0]["legacyResourceId"]) if data else None

        opening.extend(fetch(None, None)[0])
        actual = self.budget.last_actual
        left = total - len(opening)
        if (self.bulk_threshold is not None and len(opening) == first and left > 0 and actual is not None
                and self.budget.seconds_for(left * actual / len(opening)) > BULK_AFTER_WAIT_S):
            yield from opening
            rest = f"id:>{opening[-1]['legacyResourceId']}"
            yield from self.bulk_nodes(entity, f"{search} {rest}" if search else rest, "ID")
            return
        for page in id_range_pages(fetch, highest, first, self.concurrency, lambda n: int(n["legacyResourceId"]),
                                   f"Shopify {spec.root}"):
            yield from page

    def ids(self, entity: str) -> Iterator[str] | None:
        """Ids only, 250 a query (252 cost points: a connection costs 2 plus 1 per object). Shopify's deletionEvents
        feed covers products and collections only and is deprecated, so an id listing is what serves every entity."""
        if entity not in self.specs:
            return None
        return self._ids(self.specs[entity].root)

    def _ids(self, root: str) -> Iterator[str]:
        text = (f"query($after: String) {{ {root}(first: {PAGE_SIZE}, after: $after, sortKey: ID) {{ "
                f"pageInfo {{ hasNextPage endCursor }} nodes {{ id }} }} }}")
        after, guard = None, LoopGuard(f"Shopify {root} ids")
        while True:
            conn = self.query(text, {"after": after}, cost=2 + PAGE_SIZE, what=f"the ids of {root}")[root]
            yield from (_num(n["id"]) for n in conn["nodes"])
            if not conn["pageInfo"]["hasNextPage"]:
                return
            after = conn["pageInfo"]["endCursor"]
            guard.check(after)

    def _complete(self, spec: Spec, nested: Nested, node: dict) -> None:
        """Read the rest of a nested connection whose first page was full."""
        conn = node.get(nested.field) or {}
        while conn.get("pageInfo", {}).get("hasNextPage"):
            first = min(PAGE_SIZE, (MAX_QUERY_COST - 3) // nested.node_cost)
            text = (f"query($id: ID!, $after: String) {{ node(id: $id) {{ ... on {spec.node_type} {{ "
                    f"{nested.field}(first: {first}, after: $after) {{ pageInfo {{ hasNextPage endCursor }} "
                    f"nodes {{ id {nested.selection} }} }} }} }} }}")
            more = self.query(text, {"id": node["id"], "after": conn["pageInfo"]["endCursor"]},
                              cost=3 + first * nested.node_cost, what=f"more {nested.field} of {node['id']}")
            page = more["node"][nested.field]
            conn["nodes"] = conn.get("nodes", []) + page["nodes"]
            conn["pageInfo"] = page["pageInfo"]

    def _refund_lines(self, refund: dict) -> None:
        """All lines of a refund (few orders have refunds): those a bulk export could not carry (a connection
        inside a list) or beyond the first page, by `node(id:)` queries."""
        conn = refund.get("refundLineItems")
        if conn is not None and not (conn.get("pageInfo") or {}).get("hasNextPage"):
            return
        nodes, after = [], None
        if conn is not None:
            nodes, after = list(conn.get("nodes") or []), conn["pageInfo"].get("endCursor")
        first = (MAX_QUERY_COST - 3) // REFUND_LINE_COST
        text = (f"query($id: ID!, $after: String) {{ node(id: $id) {{ ... on Refund {{ refundLineItems(first: "
                f"{first}, after: $after) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {REFUND_LINE} }} }} }} }} }}")
        guard = LoopGuard(f"Shopify lines of refund {refund.get('id')}")
        while True:
            page = self.query(text, {"id": refund["id"], "after": after}, cost=3 + first * REFUND_LINE_COST,
                              what=f"the lines of refund {refund.get('id')}")["node"]["refundLineItems"]
            nodes += page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
            guard.check(after)
        refund["refundLineItems"] = {"nodes": nodes, "pageInfo": {"hasNextPage": False}}

    def bulk_nodes(self, entity: str, search: str | None = None, sort: str = "ID") -> Iterator[dict]:
        """Run a bulk operation, wait for it, stream its JSON Lines and reassemble nested rows (__parentId)."""
        spec = self.specs[entity]
        args = f'(query: "{search}", sortKey: {sort})' if search else ""
        inner = f"{{ {spec.root}{args} {{ edges {{ node {{ {spec.fields(True)} }} }} }} }}"
        deadline = time.monotonic() + BULK_BUSY_WAIT_S
        while True:
            data = self.query("mutation($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id status } "
                              "userErrors { field message code } } }", {"q": inner}, cost=10,
                              what=f"a bulk export of {spec.root}")["bulkOperationRunQuery"]
            busy = any(e.get("code") == "OPERATION_IN_PROGRESS" for e in data["userErrors"] or [])
            if not busy or time.monotonic() > deadline:
                break
            time.sleep(BULK_POLL_S * 4)  # a shop runs one bulk query at a time: another step's export holds it
        if data["userErrors"]:
            raise ConnectionProblem("bad_request", f"Shopify refused the bulk export of {spec.root}: "
                                    f"{data['userErrors'][0]['message']}")
        op = self.wait_bulk(data["bulkOperation"]["id"], "QUERY", f"bulk export of {spec.root}")
        if not op["url"]:  # an operation with no objects has no file
            return
        size = int(op["fileSize"]) if op.get("fileSize") is not None else None
        yield from self._stream_jsonl(spec, op["url"], size)

    def wait_bulk(self, op_id: str, type: str, what: str) -> dict:
        """Poll currentBulkOperation(type:) until the operation `op_id` completes; a failed one is a problem."""
        while True:
            op = self.query(f"{{ currentBulkOperation(type: {type}) {{ id status errorCode objectCount fileSize url "
                            "partialDataUrl } }", cost=1, what="the bulk operation status")["currentBulkOperation"]
            if op is None or op["id"] != op_id:
                raise ConnectionProblem("bad_response", f"Shopify lost the {what} ({op_id}); another app session "
                                        "may have started one; run again")
            if op["status"] == "COMPLETED":
                return op
            if op["status"] in {"FAILED", "CANCELED", "EXPIRED"}:
                raise ConnectionProblem("server", f"Shopify's {what} ended {op['status']} "
                                        f"({op.get('errorCode')}); try again later")
            time.sleep(BULK_POLL_S)

    def jsonl(self, url: str, size: int | None = None) -> Iterator[dict]:
        """The objects of a bulk operation's result file, streamed line by line. A download that breaks off (a 5xx
        or 429, a dropped connection, a timeout, a cut-off line, fewer bytes than the operation's `size`) is asked
        for again and read on after the last object handed out: the file does not change."""
        settings, done = self.client.settings, 0
        for attempt in range(1, settings.max_attempts + 1):
            try:
                for k, obj in enumerate(self._jsonl_once(url, size)):
                    if k >= done:
                        done += 1
                        yield obj
                return
            except (_Partial, requests.RequestException, ValueError) as exc:
                if attempt == settings.max_attempts:
                    raise ConnectionProblem("server", f"Shopify's bulk operation file could not be read whole "
                                            f"in {attempt} attempts ({type(exc).__name__}: {exc}); run again to "
                                            "get a fresh file") from None
                time.sleep(backoff(settings, attempt))

    def _jsonl_once(self, url: str, size: int | None) -> Iterator[dict]:
        # The file is on Shopify's storage (a signed URL): no access token is sent there.
        with requests.get(url, stream=True, timeout=self.client.settings.timeout,
                          verify=self.client.session.verify) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise _Partial(f"HTTP {response.status_code}")
            if response.status_code != 200:
                raise ConnectionProblem("server", f"Shopify's bulk operation file answered HTTP "
                                        f"{response.status_code}; run again to get a fresh file")
            got, rest = 0, b""
            for chunk in response.iter_content(1 << 16):
                got += len(chunk)
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                for raw in lines:
                    if raw.strip():
                        yield json.loads(raw)  # a cut-off line raises ValueError: read again
            if size is not None and got < size:
                raise _Partial(f"{got} of {size} bytes")
            if rest.strip():
                yield json.loads(rest)

    def _stream_jsonl(self, spec: Spec, url: str, size: int | None = None) -> Iterator[dict]:
        fields = {n.gid_type: n.field for n in spec.nested}
        current: dict | None = None
        for row in self.jsonl(url, size):
            parent = row.pop("__parentId", None)
            if parent is None:
                if current is not None:
                    yield current
                current = row
                for f in fields.values():
                    current[f] = {"nodes": []}
                continue
            kind = str(row.get("id", "")).split("/")[-2] if "/" in str(row.get("id", "")) else ""
            if current is not None and parent == current["id"] and kind in fields:
                current[fields[kind]]["nodes"].append(row)
        if current is not None:
            yield current

    def close(self) -> None:
        self.client.close()
