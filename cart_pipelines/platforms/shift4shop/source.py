"""Shift4Shop (3dCart) source: the REST API v1 at `https://apirest.3dcart.com/3dCartWebAPI/v1/`, read-only.

Access (docs/platforms/shift4shop.md): three headers on every request — `SecureURL` (the store's **Store URL**),
`PrivateKey` (the private key of the REST app from the Shift4Shop developer portal) and `Token` (what the merchant
gets when adding the app's public key under Modules → REST API; seed 002 calls it the **API Key**).

The endpoints and paging are data in `api.py`, the mapping in `mapping.py`; what stays here is what Shift4Shop does
differently:
- dates carry no offset: they are the store's local time, read with `timezone` (UTC unless set);
- order statuses are ids named by the store's own `/OrderStatus` list; orders with status 7 (Not Completed) are
  abandoned checkouts, left out; orders carry no currency, so the store's is taken from a product's `SKUInfo`;
- tax classes and reviews are not in the REST API v1 (`has` says so);
- backfill slices: orders by created date (`datestart`/`dateend`), cut to the slice exactly here; no id filter;
- returns: the store's RMAs (store-wide `RMA`, 200 a page) are staged in a temporary DuckDB file (kit/parts.py) and
  paired with each page of orders' refund transactions in SQL (RMA_PAIRING_SQL): a refund paired with an RMA gets
  its reason and lines, its amount stays the transaction's. An RMA paired with no refund moved goods, not money: it
  adds nothing to the order and is counted in the report (rule return_not_refunded, `read_notes`). A key without
  the RMA permission (401/403 on `RMA`) leaves refunds without reasons and lines, with a warning and a report note.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

import pyarrow as pa
import requests

from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.auth import HeaderKey
from cart_pipelines.platforms.kit.http import ConnectionProblem, Explainer, HttpClient, HttpSettings, safe_url
from cart_pipelines.platforms.kit.http import json_body
from cart_pipelines.platforms.kit.parts import Parts
from cart_pipelines.platforms.kit.rest import RestReader
from cart_pipelines.platforms.kit.source import ApiSource, Slice, SliceNotPossible, SourceRecord, as_source_record, \
    read_record
from cart_pipelines.platforms.shift4shop import mapping
from cart_pipelines.platforms.shift4shop.api import API as S4S_API
from cart_pipelines.platforms.shift4shop.api import PAGE_SIZE, REQUESTS_PER_SECOND

__all__ = ["CARRIED", "PAGE_SIZE", "SCOPES", "NON_SECRET", "Shift4ShopSource", "Shift4ShopExplainer"]

log = logging.getLogger(__name__)

API_URL = "https://apirest.3dcart.com"
LACKS = {"tax_classes": "Shift4Shop's REST API v1 has no tax classes (a product has a free-text TaxCode only)",
         "reviews": "Shift4Shop's REST API v1 has no product reviews endpoint"}
# The read permissions the REST app is given in the developer portal, as seed 002 lists them.
SCOPES = {"categories": "Categories", "manufacturers": "Manufacturers", "products": "Products",
          "customers": "Customers", "orders": "Orders"}
NON_SECRET = ("store_url", "timezone")
DATED = {"products", "customers", "orders"}  # the lists with lastupdatestart
RMA_RULE = "return_not_refunded"  # docs/rules.md
RMA_EXAMPLES = 20  # RMA ids the report names per note (the count is whole)

# Each RMA paired with the first refund transaction of its order dated at or after it that no earlier RMA took:
# RMAs wait in a queue in date order (an RMA before a refund of the same minute), a refund takes the RMA waiting
# longest, a refund that finds none stays unpaired. Set-based: with A and D the running counts of RMAs and refunds
# of an order in event order, U the refunds that found the queue empty so far (max(0, max of D - A before the
# event)), a refund pairs iff D - A <= U, and it is the (D - U)-th refund paired, so it takes the (D - U)-th RMA.
# Events without a date pair with nothing. `_refunds` (oid, k, happened): the page's refund transactions; the RMAs are
# the staged parts of kind 'rma' of those orders. Answers (oid, k, doc of the RMA).
RMA_PAIRING_SQL = """
WITH ev AS (
    SELECT parent AS oid, 0 AS kind, n AS seq, CAST(json_extract_string(doc, '$._at') AS TIMESTAMPTZ) AS happened
    FROM parts WHERE kind = 'rma' AND parent IN (SELECT DISTINCT oid FROM _refunds)
    UNION ALL
    SELECT oid, 1, k, happened FROM _refunds
), dated AS (SELECT * FROM ev WHERE happened IS NOT NULL),
counted AS (
    SELECT *, sum(1 - kind) OVER w AS a, sum(kind) OVER w AS d,
           row_number() OVER w AS pos
    FROM dated WINDOW w AS (PARTITION BY oid ORDER BY happened, kind, seq ROWS UNBOUNDED PRECEDING)
), queued AS (
    SELECT *, greatest(0, coalesce(max(d - a) OVER (PARTITION BY oid ORDER BY pos
                                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)) AS u
    FROM counted
), refund_turn AS (SELECT oid, seq AS k, d - u AS m FROM queued WHERE kind = 1 AND d - a <= u),
rma_turn AS (SELECT oid, seq AS n, a AS m FROM queued WHERE kind = 0)
SELECT r.oid, r.k, p.doc FROM refund_turn r JOIN rma_turn q USING (oid, m)
JOIN parts p ON p.kind = 'rma' AND p.n = q.n
"""

# Canonical fields that come back exactly. Left out, and why (docs/platforms/shift4shop.md): url keys (a product's
# and category's link are whole URLs, not keys); product tax class (none), variants (Shift4Shop's own option-code
# ids), images' alt text where no caption is set; customer dates (Customers carry none), passwords (never exposed),
# address flags beyond billing + shipping; order items (Shift4Shop's own item ids, no tax per item), addresses
# (one billing and one shipment address), currency (orders carry none: the store's is used). Refunds: amounts and
# dates from the refund transactions, reasons and lines (no line amounts) from the RMAs paired with them.
CARRIED = {
    "categories": ("source_id", "parent_id", "name", "path", "is_visible", "position", "updated_at"),
    "manufacturers": ("source_id", "name", "updated_at"),
    "products": ("source_id", "sku", "name", "description_html", "price", "special_price", "weight", "stock",
                 "status", "category_ids", "manufacturer_id", "created_at", "updated_at"),
    "customers": ("source_id", "email", "first_name", "last_name", "phone", "newsletter"),
    "orders": ("source_id", "number", "customer_id", "email", "customer_first_name", "customer_last_name", "status",
               "subtotal", "shipping", "tax", "discount", "grand_total", "refunds", "refunded_total", "net_total",
               "created_at", "updated_at"),
}


def s4s_error(response: requests.Response) -> str | None:
    """Shift4Shop's error bodies: a list of {Key, Value, Status, Message}, or ASP.NET's {"Message": ...}."""
    body = json_body(response)
    first = body[0] if isinstance(body, list) and body else body
    return str(first.get("Message") or "") or None if isinstance(first, dict) else None


def placed(page: list) -> list:
    """A page of orders less the abandoned checkouts Shift4Shop lists among them (status 7, Not Completed)."""
    return [o for o in page if not (isinstance(o, dict) and o.get("OrderStatusID") == mapping.NOT_COMPLETED)]


class Shift4ShopExplainer(Explainer):
    """401: the three headers do not match a subscribed store; 403: the app lacks a read permission, named."""

    def problem(self, response: requests.Response, what: str) -> ConnectionProblem:
        if response.status_code == 403:
            scope = SCOPES.get(what.split(" ")[0], "Products, Customers, Orders, Categories and Manufacturers")
            return ConnectionProblem("permission", f"Shift4Shop refused {what} (HTTP 403): the app works but has no "
                                     f"read permission for {scope} — {self.permission_hint}. The platform said: "
                                     f"{s4s_error(response) or ''}", 403)
        return super().problem(response, what)


EXPLAINER = dict(
    platform="Shift4Shop", credential_fields=("Store URL", "API Key (the Token)", "Private Key"),
    permission_hint="an app's permissions cannot be changed once a store has subscribed: create the REST app in the "
                    "Shift4Shop developer portal with read access to Products, Customers, Orders, Categories, "
                    "Manufacturers and RMA, and add its public key again under Modules → REST API",
    error_message=s4s_error,
)


class Shift4ShopSource(ApiSource):
    platform = "shift4shop"
    supports_delta = True
    BASE_URL = "api_url"
    CREDENTIALS = (
        Credential("api_url", "SHIFT4SHOP_API_URL", "API URL", default=API_URL),
        Credential("store_url", "SHIFT4SHOP_STORE_URL", "Store URL"),
        Credential("token", "SHIFT4SHOP_API_KEY", "API Key", secret=True),
        Credential("private_key", "SHIFT4SHOP_PRIVATE_KEY", "Private Key", secret=True),
        Credential("timezone", "SHIFT4SHOP_TIMEZONE", "Store time zone", default="UTC"),
    )

    def __init__(self, api_url: str, credentials: dict, verify=True, settings: HttpSettings | None = None):
        self.api_url = (api_url or API_URL).rstrip("/")
        self.store_url = credentials["store_url"]
        try:
            self.tz = ZoneInfo(credentials.get("timezone") or "UTC")
        except (KeyError, ValueError) as exc:
            raise ConnectionProblem("bad_request", f"Shift4Shop: the store time zone {credentials['timezone']!r} "
                                    f"is not an IANA zone name such as America/New_York") from exc
        headers = {"SecureURL": self.store_url, "PrivateKey": credentials["private_key"],
                   "Token": credentials["token"], "Accept": "application/json"}
        settings = settings or HttpSettings(requests_per_second=REQUESTS_PER_SECOND, max_attempts=10)
        self.client = HttpClient(S4S_API.url(self.api_url), Shift4ShopExplainer(**EXPLAINER), settings=settings,
                                 auth=HeaderKey(headers), verify=verify)
        self.reader = RestReader(S4S_API, self.client, verify=verify)
        self._statuses: dict[int, str] | None = None
        self._currency: str | None = None
        self._notes: dict[str, list[tuple[str, str]]] = {}

    def describe(self) -> str:
        return f"Shift4Shop store {safe_url(self.store_url)} (REST API v1)"

    def check(self) -> str:
        body = self.reader.get("Products", {"countonly": 1}, "the connection test").json()
        count = body.get("TotalCount", "?") if isinstance(body, dict) else "?"
        return f"Shift4Shop store {safe_url(self.store_url)}: {count} products"

    def has(self, entity: str) -> bool:
        return entity not in LACKS

    def statuses(self) -> dict[int, str]:
        if self._statuses is None:
            self._statuses = {s["OrderStatusID"]: s.get("StatusText") or s.get("StatusDefinition") or ""
                              for s in self.reader.all("order_statuses")}
        return self._statuses

    def currency(self) -> str:
        """The store's currency, as products' SKUInfo carry it (orders carry none); USD for a store without
        products (Shift4Shop's default)."""
        if self._currency is None:
            first = next(iter(self.reader.pages("products", {"limit": 1})), [])
            self._currency = next((p["SKUInfo"].get("Currency") for p in first if p.get("SKUInfo")), None) or "USD"
        return self._currency

    def records(self, entity: str, updated_since: datetime | None = None) -> Iterator[SourceRecord]:
        params = {"lastupdatestart": mapping.filter_time(updated_since, self.tz)} \
            if updated_since is not None and entity in DATED else None
        rows = self._canonical(entity, params)
        if updated_since is not None and entity in ("categories", "manufacturers"):
            cut = updated_since.astimezone(timezone.utc)
            rows = (r for r in rows if "_unreadable" in r or (r.get("updated_at") and
                                                             datetime.fromisoformat(r["updated_at"].replace("Z", "+00:00")) > cut))
        return (as_source_record(n, r) for n, r in enumerate(rows, start=1))

    def records_in(self, entity: str, part: Slice) -> Iterator[SourceRecord]:
        """Orders by created date: `datestart`/`dateend` in the store's time, the records cut to [start, end) here
        (the docs do not say whether the bounds are inclusive)."""
        if entity != "orders" or part.field != "created_at":
            raise SliceNotPossible(f"Shift4Shop's REST API has no {'id-range' if part.field == 'id' else 'created-date'}"
                                   f" filter for {entity}; backfill Shift4Shop orders by month, and migrate {entity} "
                                   f"with full_migration")
        window = {"datestart": mapping.filter_time(part.start, self.tz),
                  "dateend": mapping.filter_time(part.end, self.tz)}
        rows = (r for r in self._canonical("orders", window) if "_unreadable" in r or part.contains(r))
        return (as_source_record(n, r) for n, r in enumerate(rows, start=1))

    def _canonical(self, entity: str, params: dict | None) -> Iterator[dict]:
        if not self.has(entity):
            return
        tz = self.tz
        if entity == "categories":  # the whole tree first, for paths
            found = self.reader.all("categories")
            tree = {c["CategoryID"]: c for c in found if isinstance(c, dict) and "CategoryID" in c}
            yield from (read_record("Shift4Shop", entity, mapping.category, c, tree, tz, id_field="CategoryID")
                        for c in found)
        elif entity == "manufacturers":
            for page in self.reader.pages("manufacturers"):
                yield from (read_record("Shift4Shop", entity, mapping.manufacturer, m, tz, id_field="ManufacturerID")
                            for m in page)
        elif entity == "products":
            for page in self.reader.pages("products", params):
                yield from (read_record("Shift4Shop", entity, mapping.product, p, tz, id_field="CatalogID")
                            for p in page)
        elif entity == "customers":
            for page in self.reader.pages("customers", params):
                yield from (read_record("Shift4Shop", entity, mapping.customer, c, id_field="CustomerID")
                            for c in page)
        elif entity == "orders":
            yield from self._orders(params)
        else:
            raise ValueError(f"Shift4Shop has no entity {entity!r}")

    def _orders(self, params: dict | None, returns: bool = True) -> Iterator[dict]:
        """Orders page by page, each page's refund transactions paired with the store's RMAs (staged first; not with
        `returns` False: the id listing needs none)."""
        statuses, currency, tz = self.statuses(), self.currency(), self.tz
        if not returns:
            for page in self.reader.pages("orders", params):
                yield from (read_record("Shift4Shop", "orders", mapping.order, o, statuses, currency, tz,
                                        id_field="OrderID") for o in placed(page))
            return
        self._notes["orders"] = []
        whole = not params
        # an RMA is never older than its order: a created-date slice reads the RMAs from its start
        rma_params = {"datestart": params["datestart"]} if params and "datestart" in params else None
        with Parts(prefix="shift4shop-rma-") as parts:
            staged = self._stage_rmas(parts, rma_params)
            seen = paired_count = 0
            unpaired: list[str] = []
            for page in self.reader.pages("orders", params):
                kept = placed(page)
                paired, of_page, lone = self._pair(parts, kept) if staged else ({}, 0, [])
                seen, paired_count = seen + of_page, paired_count + sum(len(p) for p in paired.values())
                unpaired += lone[:max(0, RMA_EXAMPLES - len(unpaired))]
                yield from (read_record("Shift4Shop", "orders", mapping.order, o, statuses, currency, tz,
                                        paired.get(str(o.get("OrderID")), {}) if isinstance(o, dict) else {},
                                        id_field="OrderID") for o in kept)
            if staged:
                self._note_rmas(seen - paired_count, unpaired, staged - seen if whole else 0)

    def _stage_rmas(self, parts: Parts, params: dict | None) -> int | None:
        """The store's RMAs staged by order, each with its date in UTC (`_at`); None where the key may not read
        them (401/403: the RMA permission), said in a warning and the report."""
        tz = self.tz

        def dated(page):
            return [{**r, "_at": mapping.rma_when(r.get("RmaDate"), tz), "RMAItemList": self._rma_items(r)}
                    for r in page if isinstance(r, dict)]
        try:
            return parts.add("rma", (dated(page) for page in self.reader.pages("rmas", params)),
                             lambda r: str(r.get("OrderID") or ""))
        except ConnectionProblem as exc:
            if exc.status not in (401, 403) and exc.kind not in ("credentials", "permission"):
                raise
            why = (f"not read: Shift4Shop refused the RMA list (HTTP {exc.status or '401/403'}: the API key has no "
                   f"permission for RMAs); refunds carry their amounts and dates but no reasons or lines. Give the "
                   f"REST app read access to RMAs to carry them")
            log.warning("Shift4Shop %s: RMAs %s", safe_url(self.store_url), why)
            self._notes["orders"].append(("RMA (returns)", why))
            return None

    def _rma_items(self, rma: dict) -> list:
        """The RMA's items: the RMAItemList the list gives (the RMA resource model holds it), else
        `RMA/{rmaid}/Items`."""
        if isinstance(rma.get("RMAItemList"), list) or rma.get("RMAID") in (None, ""):
            return rma.get("RMAItemList") or []
        body = self.reader.get(f"RMA/{rma['RMAID']}/Items", None, f"the items of RMA {rma['RMAID']}").json()
        return body if isinstance(body, list) else []

    def _pair(self, parts: Parts, orders: list) -> tuple[dict[str, dict[str, dict]], int, list[str]]:
        """(order id -> refund source id -> its RMA, how many RMAs the page's orders have, ids of those paired with
        no refund) for a page of orders, paired in DuckDB (RMA_PAIRING_SQL)."""
        tz, rows = self.tz, {"oid": [], "k": [], "stamp": [], "sid": []}
        oids = [str(o.get("OrderID")) for o in orders if isinstance(o, dict)]
        for o in orders:
            if not isinstance(o, dict):
                continue
            for k, t in enumerate(t for t in o.get("TransactionList") or [] if mapping.is_refund(t)):
                at = mapping.when(t.get("TransactionDateTime"), tz)
                rows["oid"].append(str(o.get("OrderID")))
                rows["k"].append(k)
                rows["stamp"].append(at if at and at[:4].isdigit() else None)
                rows["sid"].append(mapping.refund_id(t))
        con = parts.con
        con.register("_page_orders", pa.table({"oid": pa.array(oids, pa.string())}))
        con.register("_refund_rows", pa.table({"oid": pa.array(rows["oid"], pa.string()),
                                               "k": pa.array(rows["k"], pa.int64()),
                                               "stamp": pa.array(rows["stamp"], pa.string()),
                                               "sid": pa.array(rows["sid"], pa.string())}))
        try:
            con.execute("CREATE OR REPLACE TEMP TABLE _refunds AS "
                        "SELECT oid, k, CAST(stamp AS TIMESTAMPTZ) AS happened, sid FROM _refund_rows")
            out: dict[str, dict[str, dict]] = {}
            ids = dict(((oid, k), sid) for oid, k, sid in zip(rows["oid"], rows["k"], rows["sid"]))
            taken = set()
            for oid, k, doc in con.execute(RMA_PAIRING_SQL).fetchall():
                rma = json.loads(doc)
                out.setdefault(oid, {})[ids[(oid, k)]] = rma
                taken.add(rma.get("RMAID"))
            of_page = con.execute("SELECT count(*) FROM parts WHERE kind = 'rma' AND parent IN "
                                  "(SELECT oid FROM _page_orders)").fetchall()[0][0]
            lone = [str(r) for (r,) in con.execute(
                "SELECT json_extract_string(doc, '$.RMAID') FROM parts WHERE kind = 'rma' AND parent IN "
                f"(SELECT oid FROM _page_orders) ORDER BY n LIMIT {RMA_EXAMPLES + len(taken)}").fetchall()
                if r not in {str(t) for t in taken}][:RMA_EXAMPLES]
        finally:
            con.unregister("_page_orders")
            con.unregister("_refund_rows")
        return out, int(of_page), lone

    def _note_rmas(self, unpaired: int, examples: list[str], order_not_read: int) -> None:
        if unpaired:
            self._notes["orders"].append((
                f"RMA (returns): {unpaired} not refunded",
                f"rule {RMA_RULE}: {unpaired} RMA(s) with no refund transaction of their order on or after them "
                f"(goods on their way back, or returned without money back) add no refund; the orders migrate as they "
                f"are. RMA ids: {', '.join(examples)}{' ...' if unpaired > len(examples) else ''}"))
        if order_not_read:
            self._notes["orders"].append((
                f"RMA (returns): {order_not_read} of orders not read",
                f"rule {RMA_RULE}: {order_not_read} RMA(s) name an order the Orders list did not give (an abandoned "
                f"checkout, or an order deleted since): no order carries them"))

    def read_notes(self, entity: str) -> list[tuple[str, str]]:
        """What the last read of `entity` met that no record carries (the report lists it): RMAs paired with no
        refund (rule return_not_refunded), RMAs not readable."""
        return list(self._notes.get(entity, []))

    def ids(self, entity: str) -> Iterator[str] | None:
        """Shift4Shop has no id-only listing: the ids come from the full lists (200 records a request)."""
        if not self.has(entity) or entity not in SCOPES:
            return None
        rows = self._orders(None, returns=False) if entity == "orders" else self._canonical(entity, None)
        return (r["source_id"] for r in rows if r.get("source_id"))
