"""Shift4Shop (3dCart) emulator: the store's canonical records served as the REST API v1 under /3dCartWebAPI/v1/.

Built from Shift4Shop's documentation (apirest.3dcart.com: the v1 guide, its Object Definitions and the ASP.NET Help
pages per method; no OpenAPI file is published for download — a scraped parameter-only copy is
streamdata-gallery-organizations/3dcart `_listings/3dcart/3dcartwebapiv1orders-get-openapi.md` at 48332a9):
- auth: headers `SecureURL` (the store), `PrivateKey` (the app) and `Token` (the store's subscription), all three
  required; a wrong or missing one is 401 `{"Message": "Authorization has been denied for this request."}` (ASP.NET
  Web API's answer, as integrators report it);
- lists (Categories, Manufacturers, Products, Customers, Orders, OrderStatus) are JSON arrays (XML with
  `Accept: application/xml`), `limit` (default 10) + `offset` (the first record's position, default 1; 0 is read as
  1); `countonly=1` answers `{"TotalCount": n}`; an offset past the last record is 404 with
  `[{"Key": "Error", "Value": "", "Status": "404", "Message": "Offset amount exceeds the total number of records"}]`
  (the message skuvault-integrations/3dCartAccess handles), an unknown id 404 in the same list form;
- filters as the Help pages list them: products `sku`, `name`, `hide`, `onsale`, `lastupdatestart`/`lastupdateend`;
  customers `email`, `firstname`, `lastname`, `lastupdatestart`/`lastupdateend`; orders `datestart`/`dateend`
  (order date), `lastupdatestart`/`lastupdateend`, `orderstatus` (id), `invoicenumber`, `billingemail`; categories
  `category`, manufacturers `manufacturer` (names); dates `mm/dd/yyyy hh:mm:ss` or `mm/dd/yyyy`, both bounds
  inclusive, a date-only end meaning the whole day;
- single items: Categories/{id}, Manufacturers/{id}, Products/{catalogid}, Customers/{id}, Orders/{orderid};
- fields per the Object Definitions: Product (SKUInfo, CategoryList, ManufacturerID, Hide, Weight, Description,
  MainImageFile, ImageGalleryList, OptionSetList with OptionList, AdvancedOptionList, DateCreated, LastUpdate, ...),
  Customer (Billing*/Shipping* address, MailList, Enabled; no dates), Order (InvoiceNumberPrefix/InvoiceNumber,
  OrderStatusID, Billing*, ShipmentList, OrderItemList, SalesTax..3, OrderDiscount, OrderAmount, OrderDate,
  LastUpdate, TransactionList: a "Sale" of a paid order's total and a "Refund" per refund, kit/emulator_cases.py),
  OrderStatus (OrderStatusID, StatusDefinition, StatusText, Sorting, Visible); dates without an offset,
  in the store's time zone (`timezone`, UTC unless set).
- RMAs (returns), per the v1 guide's RMA page and the Help pages GET RMA, RMA/{rmaid}, RMA/{rmaid}/Items (read only;
  store-wide, no per-order listing): `RMA` with filters `rmastatusid`, `rmareasonid`, `rmamethodid` (ids),
  `catalogid` and `sku` (of an RMA item), `datestart`/`dateend` (RmaDate), `limit`/`offset`/`countonly` as the other
  lists; nothing matching is 404 in the list form with "No RMAs found"; `RMA/{id}` a one-item list,
  `RMA/{id}/Items` its RMAItemList (limit/offset, 0 meaning all / the first). Fields as the RMA resource model:
  RMAID, RmaDate ("MM/DD/YYYY HH:MM", store time), OrderID, RMAReasonID, RMAMethodID, RMAStatusID, Comments,
  InternalComments, StaffComments, RMAItemList {CatalogID, SKU, ItemName, ReturnQuantity, ReceivedQuantity,
  RestockQuantity}; no amounts. Which orders have one (`rmas_of`, `has_rma`): every partial refund with lines
  (kit/emulator_cases.py) and one in RMA_FULL_REFUND_EVERY full refunds has its RMA, an hour before the refund
  (the goods came back, then the money went); a paid order picked by RETURN_NOT_REFUNDED_EVERY has an RMA of one
  unit and no refund (a return not refunded yet). The read permission is "RMA" (Knobs.denied_scopes: 403).
Chosen where the docs say nothing (docs/platforms/shift4shop.md): `limit` above 200 is served as 200; the rate limit
is a bucket of 50 requests refilling 5 a second, then 429 with `Retry-After: 1` and the list-form body; a missing
read permission (Knobs.denied_scopes, named Products, Customers, Orders, Categories, Manufacturers) is 403 in the list
form. Messy data as real stores have it: hidden products and categories, products on sale, and abandoned checkouts
listed among orders with OrderStatusID 7 "Not Completed" (`incomplete_orders`).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import Emulator, EmulatorStore, Knobs, LeakyBucket, _json_default
from cart_pipelines.platforms.shift4shop import mapping as m

V1 = "/3dCartWebAPI/v1"
STORE_URL = "https://emulated-store.3dcartstores.com"
PRIVATE_KEY = "emu3dc0a1b2c3d4e5f60718293a4b5c6d7"
TOKEN = "emu3dcf9e8d7c6b5a49382716051a2b3c4"
CURRENCY = "USD"
MAX_LIMIT = 200
SCOPES = {"Categories": "Categories", "Manufacturers": "Manufacturers", "Products": "Products",
          "Customers": "Customers", "Orders": "Orders", "OrderStatus": "Orders", "RMA": "RMA"}
# The store's RMA reasons (named in its admin; the REST API lists none): a canonical refund reason -> its id
RMA_REASONS = {1: "Damaged", 2: "Defective", 3: "Wrong item", 4: "No longer needed", 5: "Other"}
RMA_METHODS = {1: "Refund", 2: "Exchange", 3: "Store credit"}
RMA_STATUSES = {1: "Pending", 2: "Approved", 3: "Received", 4: "Completed", 5: "Denied"}
RETURN_NOT_REFUNDED_EVERY = 29  # every 29th paid order without refunds (id % 29 == 2) has a return not refunded yet
RMA_FULL_REFUND_EVERY = 8  # one in 8 orders refunded in full (id % 8 == 1) had its goods returned with an RMA
RMA_BEFORE_REFUND = timedelta(hours=1)
# canonical status -> OrderStatusID; the store's list names them (8 is Custom1, renamed "Refunded" by the merchant)
STATUS_OUT = {"pending": 1, "processing": 2, "complete": 4, "canceled": 5, "on_hold": 6, "refunded": 8}
STATUSES = [(1, "New"), (2, "Processing"), (3, "Partial"), (4, "Shipped"), (5, "Cancel"), (6, "Hold"),
            (7, "Not Completed"), (8, "Refunded"), (9, "Custom2"), (10, "Custom3"), (11, "Unpaid"), (12, "Review")]
ENTITY = {"Categories": "categories", "Manufacturers": "manufacturers", "Products": "products",
          "Customers": "customers", "Orders": "orders"}
XML_ITEM = {"Categories": "Category", "Manufacturers": "Manufacturer", "Products": "Product", "Customers": "Customer",
            "Orders": "Order", "OrderStatus": "OrderStatus", "RMA": "RMA"}


class S4SError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def parse_when(name: str, value: str, end: bool, tz) -> datetime:
    for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y"):
        try:
            dt = datetime.strptime(value.strip(), fmt)
        except ValueError:
            continue
        if fmt == "%m/%d/%Y" and end:
            dt += timedelta(days=1) - timedelta(microseconds=1)
        return dt.replace(tzinfo=tz)
    raise S4SError(400, f"Invalid value for parameter {name}: {value!r} (expected mm/dd/yyyy hh:mm:ss)")


def _utc(value) -> datetime | None:
    if not value:
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt


def reason_id(reason: str | None) -> int:
    """The store's RMA reason for a refund's reason text (RMA_REASONS)."""
    text = (reason or "").lower()
    for word, rid in (("damaged", 1), ("defect", 2), ("wrong", 3), ("no longer", 4)):
        if word in text:
            return rid
    return 5


def has_rma(order: dict, refund: dict) -> bool:
    """Whether the emulator serves an RMA for this refund: goods came back (a refund with lines), for every partial
    refund and one in RMA_FULL_REFUND_EVERY orders refunded in full (most of those were cancelled before shipping,
    money back with nothing returned)."""
    if not refund.get("lines"):
        return False
    full = order.get("status") == "refunded" and len(refund["lines"]) == len(order.get("items") or [])
    return not full or cases.every(order["source_id"], RMA_FULL_REFUND_EVERY, 1)


def refunds_held(order: dict) -> dict:
    """The order as its Shift4Shop source reads it back from this emulator (tests: helpers.as_held): a refund with an
    RMA (has_rma) keeps its lines (no amounts: RMAs have none) and reads the RMA's reason (mapping.rma_reason: the
    reason id and the Comments, which hold the refund's reason); the others have neither."""
    out = cases.refunds_held(order, m.REFUNDS_HELD)
    refunds = []
    for r, source in zip(out["refunds"], cases.refunds(order)):
        if has_rma(order, source):
            rma = {"RMAReasonID": reason_id(r["reason"]), "Comments": r["reason"] or ""}
            refunds.append({**r, "reason": m.rma_reason(rma)})
        else:
            refunds.append({**r, "reason": None, "lines": []})
    return {**out, "refunds": refunds}


def to_xml(tag: str, value, item: str | None = None) -> str:
    if isinstance(value, list):
        item = item or tag.removesuffix("List") or "Item"
        return f"<{tag}>" + "".join(to_xml(item, v) for v in value) + f"</{tag}>"
    if isinstance(value, dict):
        return f"<{tag}>" + "".join(to_xml(k, v) for k, v in value.items()) + f"</{tag}>"
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return f"<{tag}>{escape(text)}</{tag}>"


class Shift4ShopEmulator(Emulator):
    platform = "shift4shop"
    #: the store's time zone: dates are served and filters read in it
    timezone = "UTC"
    #: abandoned checkouts (OrderStatusID 7) listed among the orders, ids above the store's
    incomplete_orders = 0
    url_map = Map([Rule(f"{V1}/{name}", endpoint="listing", defaults={"name": name}, methods=["GET"])
                   for name in (*ENTITY, "OrderStatus")] +
                  [Rule(f"{V1}/{name}/<int:id_>", endpoint="item", defaults={"name": name}, methods=["GET"])
                   for name in ENTITY] +
                  [Rule(f"{V1}/RMA", endpoint="rma_list", defaults={"name": "RMA"}, methods=["GET"]),
                   Rule(f"{V1}/RMA/<int:id_>", endpoint="rma_item", defaults={"name": "RMA"}, methods=["GET"]),
                   Rule(f"{V1}/RMA/<int:id_>/Items", endpoint="rma_items", defaults={"name": "RMA"},
                        methods=["GET"])])

    def __init__(self, store: EmulatorStore, knobs: Knobs | None = None):
        super().__init__(store, knobs)
        self.bucket = LeakyBucket(50, 5.0)
        self._rma_table = False

    @property
    def tz(self):
        return ZoneInfo(self.timezone)

    def credentials(self) -> dict:
        return {"store_url": STORE_URL, "private_key": PRIVATE_KEY, "token": TOKEN, "timezone": self.timezone}

    # --- the HTTP layer ------------------------------------------------------------------------------------------
    def error_response(self, err: S4SError) -> Response:
        body = {"Message": err.message} if err.status == 401 else \
            [{"Key": "Error", "Value": "", "Status": str(err.status), "Message": err.message}]
        return self.json(body, err.status, err.headers)

    def error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return self.error_response(S4SError(exc.code or 500, "Not Found" if exc.code == 404 else
                                                exc.description or "Error"))
        return self.error_response(S4SError(500, "An error has occurred."))

    def throttled(self, request: Request) -> Response:
        return self.error_response(S4SError(429, "Too Many Requests", {"Retry-After": "1"}))

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
        except HTTPException:
            return super().__call__(environ, start_response)  # the engine answers unknown routes (and faults)
        try:
            self._authorize(request, args["name"])
        except S4SError as err:
            return self.error_response(err)(environ, start_response)
        return super().__call__(environ, start_response)

    def _authorize(self, request: Request, name: str) -> None:
        h = request.headers
        if (h.get("SecureURL", "").rstrip("/").lower(), h.get("PrivateKey"), h.get("Token")) != \
                (STORE_URL.lower(), PRIVATE_KEY, TOKEN):
            raise S4SError(401, "Authorization has been denied for this request.")
        if SCOPES[name] in self.knobs.denied_scopes:
            raise S4SError(403, f"The application does not have permission to read {SCOPES[name]}.")
        if self.knobs.rate_limit and not self.bucket.take(1)[0]:
            raise S4SError(429, "Too Many Requests", {"Retry-After": "1"})

    def _answer(self, request: Request, body, items: int = 0) -> Response:
        self.delay(items)
        if "xml" in request.headers.get("Accept", "") and "json" not in request.headers.get("Accept", ""):
            item = XML_ITEM.get(request.path.split("/")[3], "Item")
            item = "RMAItem" if request.path.endswith("/Items") else item
            tag = f"ArrayOf{item}" if isinstance(body, list) else "Result"
            return Response('<?xml version="1.0" encoding="utf-8"?>' + to_xml(tag, json.loads(
                json.dumps(body, default=_json_default)), item), content_type="application/xml; charset=utf-8")
        return self.json(body)

    # --- routes --------------------------------------------------------------------------------------------------
    def listing(self, request: Request, name: str):
        try:
            args = request.args
            if name == "OrderStatus":
                rows = [{"OrderStatusID": i, "StatusDefinition": text, "StatusText": text, "Sorting": i,
                         "Visible": i != 7} for i, text in STATUSES]
                return self._page(request, rows, len(rows))
            where, params = self._filters(name, args)
            entity = ENTITY[name]
            clause = (" WHERE " + " AND ".join(where)) if where else ""
            limit, offset = self._paging(args)
            with self.store.lock:
                total = self.store.con.execute(f"SELECT count(*) FROM {entity}{clause}", params).fetchall()[0][0]
            extra = self._incomplete(args) if name == "Orders" else []
            if args.get("countonly") == "1":
                return self._answer(request, {"TotalCount": total + len(extra)})
            if offset > total + len(extra):
                raise S4SError(404, "Offset amount exceeds the total number of records")
            with self.store.lock:
                rows = [self.store._decode(r[0]) for r in self.store.con.execute(
                    f"SELECT record FROM {entity}{clause} ORDER BY id LIMIT ? OFFSET ?",
                    params + [limit, offset - 1]).fetchall()]
            out = [self.render(name, r) for r in rows]
            if len(out) < limit and extra:
                out += extra[max(0, offset - 1 - total): max(0, offset - 1 - total) + limit - len(out)]
            return self._answer(request, out, len(out))
        except S4SError as err:
            return self.error_response(err)

    def _page(self, request, rows, total):
        limit, offset = self._paging(request.args)
        if request.args.get("countonly") == "1":
            return self._answer(request, {"TotalCount": total})
        if offset > total:
            return self.error_response(S4SError(404, "Offset amount exceeds the total number of records"))
        return self._answer(request, rows[offset - 1: offset - 1 + limit])

    def item(self, request: Request, name: str, id_: int):
        record = self.store.get(ENTITY[name], id_)
        if record is None:
            return self.error_response(S4SError(404, f"{name[:-1] if name.endswith('s') else name} not found"))
        return self._answer(request, [self.render(name, record)], 1)  # single reads answer a one-item list

    @staticmethod
    def _paging(args) -> tuple[int, int]:
        def integer(key: str, fallback: int) -> int:
            raw = args.get(key)
            if raw in (None, ""):
                return fallback
            try:
                return int(raw)
            except ValueError:
                raise S4SError(400, f"The value '{raw}' is not valid for {key}.") from None
        return max(1, min(MAX_LIMIT, integer("limit", 10))), max(1, integer("offset", 1))

    def _filters(self, name: str, args) -> tuple[list[str], list]:
        where, params = [], []

        def text(key: str, path: str, exact: bool = False):
            if args.get(key):
                where.append(f"json_extract_string(record, '$.{path}') {'=' if exact else 'ILIKE'} ?")
                params.append(args[key] if exact else f"%{args[key]}%")

        def dates(start: str, end: str, column: str):
            for key, op, is_end in ((start, ">=", False), (end, "<=", True)):
                if args.get(key):
                    where.append(f"{column} {op} ?")
                    params.append(parse_when(key, args[key], is_end, self.tz))

        if name == "Categories":
            text("category", "name")
        elif name == "Manufacturers":
            text("manufacturer", "name")
        elif name == "Products":
            text("sku", "sku")
            text("name", "name")
            dates("lastupdatestart", "lastupdateend", "updated_at")
            if args.get("hide") in ("0", "1"):
                where.append(("" if args["hide"] == "1" else "NOT ") + "(json_extract_string(record, '$.status') = "
                             "'disabled')")
            if args.get("onsale") in ("0", "1"):
                where.append(("" if args["onsale"] == "1" else "NOT ") + "(json_extract(record, '$.special_price') "
                             "IS NOT NULL AND json_extract_string(record, '$.special_price') <> 'null')")
        elif name == "Customers":
            text("email", "email")
            text("firstname", "first_name")
            text("lastname", "last_name")
            dates("lastupdatestart", "lastupdateend", "updated_at")
        elif name == "Orders":
            dates("datestart", "dateend", "created_at")
            dates("lastupdatestart", "lastupdateend", "updated_at")
            text("billingemail", "email", exact=True)
            text("invoicenumber", "number", exact=True)
            if args.get("orderstatus"):
                wanted = [s for s, i in STATUS_OUT.items() if str(i) == args["orderstatus"]]
                where.append(f"json_extract_string(record, '$.status') IN "
                             f"({', '.join(repr(s) for s in wanted) or 'NULL'})")
        return where, params

    # --- RMAs ---------------------------------------------------------------------------------------------------
    def rmas_of(self, o: dict) -> list[dict]:
        """The order's RMAs in Shift4Shop's shape (RMAID = order id * 10 + k): one per refund with lines, an hour
        before it (never before the order), and for a paid order picked by RETURN_NOT_REFUNDED_EVERY, one unit of its
        first line returned and not refunded."""
        oid, out = int(o["source_id"]), []
        placed = _utc(o.get("created_at"))
        refunds = cases.refunds(o)
        items = {str(i.get("source_id")): (k, i) for k, i in enumerate(o.get("items") or [], start=1)}

        def rma(k, at, reason, lines, status):
            when = max(at - RMA_BEFORE_REFUND, placed) if at and placed else at or placed
            rows = []
            for ln in lines:
                _, item = items.get(str(ln.get("item_id")), (0, {}))
                qty = int(ln.get("qty") or 0)
                rows.append({"CatalogID": int(item["product_id"]) if item.get("product_id") else 0,
                             "SKU": ln.get("sku") or item.get("sku") or "", "ItemName": item.get("name") or "",
                             "ReturnQuantity": qty, "ReceivedQuantity": qty if status >= 3 else 0,
                             "RestockQuantity": qty if status == 4 else 0})
            return {"RMAID": oid * 10 + k, "RmaDate": when.astimezone(self.tz).strftime(m.RMA_TIME) if when else "",
                    "OrderID": oid, "RMAReasonID": reason_id(reason), "RMAMethodID": 1, "RMAStatusID": status,
                    "Comments": reason or "", "InternalComments": "", "StaffComments": "", "RMAItemList": rows}
        for k, r in enumerate((r for r in refunds if has_rma(o, r)), start=1):
            out.append(rma(k, _utc(r.get("created_at") or o.get("updated_at") or o.get("created_at")),
                           r.get("reason"), r["lines"], 4))
        if not refunds and o.get("status") in cases.PAID and o.get("items") and cases.picks(o) \
                and cases.every(oid, RETURN_NOT_REFUNDED_EVERY, 2):
            first = o["items"][0]
            out.append(rma(len(out) + 1, _utc(o.get("updated_at") or o.get("created_at")), "Wrong size sent",
                           [{"item_id": first.get("source_id"), "sku": first.get("sku"), "qty": 1}], 2))
        return out

    def _rmas(self) -> str:
        """The store's RMAs as a table of the store's connection (made once: this source-only emulator takes no
        writes), one JSON document a row with the columns the filters read."""
        with self.store.lock:
            if not self._rma_table:
                con = self.store.con
                con.execute("CREATE OR REPLACE TEMP TABLE s4s_rma (id BIGINT, rma_at TIMESTAMP, reason INTEGER, "
                            "method INTEGER, status INTEGER, catalog_ids BIGINT[], skus VARCHAR[], doc VARCHAR)")
                last = -1
                while True:  # 500 orders at a time: the store's orders are never all in memory
                    rows = con.execute("SELECT id, record FROM orders WHERE id > ? ORDER BY id LIMIT 500",
                                       [last]).fetchall()
                    if not rows:
                        break
                    last = rows[-1][0]
                    batch = []
                    for _, text in rows:
                        for r in self.rmas_of(self.store._decode(text)):
                            at = datetime.strptime(r["RmaDate"], m.RMA_TIME) if r["RmaDate"] else None
                            batch.append((r["RMAID"], at, r["RMAReasonID"], r["RMAMethodID"], r["RMAStatusID"],
                                          [i["CatalogID"] for i in r["RMAItemList"]],
                                          [i["SKU"] for i in r["RMAItemList"]], json.dumps(r)))
                    if batch:
                        con.executemany("INSERT INTO s4s_rma VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
                self._rma_table = True
        return "s4s_rma"

    def rma_list(self, request: Request, name: str):
        try:
            args, where, params = request.args, [], []
            for key, column in (("rmastatusid", "status"), ("rmareasonid", "reason"), ("rmamethodid", "method")):
                if args.get(key):
                    where.append(f"{column} = ?")
                    params.append(self._int(key, args[key]))
            if args.get("catalogid"):
                where.append("list_contains(catalog_ids, ?)")
                params.append(self._int("catalogid", args["catalogid"]))
            if args.get("sku"):
                where.append("EXISTS (SELECT 1 FROM (SELECT unnest(skus) AS s) WHERE s ILIKE ?)")
                params.append(f"%{args['sku']}%")
            for key, op, is_end in (("datestart", ">=", False), ("dateend", "<=", True)):
                if args.get(key):
                    where.append(f"rma_at {op} ?")
                    params.append(parse_when(key, args[key], is_end, self.tz).replace(tzinfo=None))
            table, clause = self._rmas(), (" WHERE " + " AND ".join(where)) if where else ""
            limit, offset = self._paging(args)
            with self.store.lock:
                total = self.store.con.execute(f"SELECT count(*) FROM {table}{clause}", params).fetchall()[0][0]
                if args.get("countonly") == "1":
                    return self._answer(request, {"TotalCount": total})
                if total == 0:
                    raise S4SError(404, "No RMAs found")
                if offset > total:
                    raise S4SError(404, "Offset amount exceeds the total number of records")
                out = [json.loads(d) for (d,) in self.store.con.execute(
                    f"SELECT doc FROM {table}{clause} ORDER BY id LIMIT ? OFFSET ?",
                    params + [limit, offset - 1]).fetchall()]
            return self._answer(request, out, len(out))
        except S4SError as err:
            return self.error_response(err)

    def _rma(self, id_: int) -> dict:
        table = self._rmas()
        with self.store.lock:
            found = self.store.con.execute(f"SELECT doc FROM {table} WHERE id = ?", [id_]).fetchall()
        if not found:
            raise S4SError(404, "No RMAs found")
        return json.loads(found[0][0])

    def rma_item(self, request: Request, name: str, id_: int):
        try:
            return self._answer(request, [self._rma(id_)], 1)
        except S4SError as err:
            return self.error_response(err)

    def rma_items(self, request: Request, name: str, id_: int):
        """The RMA's items; `limit` and `offset` default to 0 (the Help page): all of them, from the first."""
        try:
            items = self._rma(id_)["RMAItemList"]
            limit = self._int("limit", request.args.get("limit") or "0")
            offset = max(1, self._int("offset", request.args.get("offset") or "0"))
            chosen = items[offset - 1:][:limit] if limit > 0 else items[offset - 1:]
            return self._answer(request, chosen, len(chosen))
        except S4SError as err:
            return self.error_response(err)

    @staticmethod
    def _int(key: str, raw: str) -> int:
        try:
            return int(raw)
        except ValueError:
            raise S4SError(400, f"The value '{raw}' is not valid for {key}.") from None

    def _incomplete(self, args) -> list[dict]:
        """Abandoned checkouts: listed after the store's orders unless a filter leaves them out."""
        if not self.incomplete_orders or any(args.get(k) for k in ("datestart", "dateend", "lastupdatestart",
                                                                    "lastupdateend", "billingemail", "invoicenumber")) \
                or args.get("orderstatus") not in (None, "", "7"):
            return []
        return [{"InvoiceNumberPrefix": "", "InvoiceNumber": 0, "OrderID": 900_000 + k, "CustomerID": 0,
                 "OrderDate": "2024-02-01T12:00:00", "OrderStatusID": m.NOT_COMPLETED,
                 "LastUpdate": "2024-02-01T12:00:00", "BillingEmail": "", "BillingFirstName": "",
                 "BillingLastName": "", "ShipmentList": [], "OrderItemList": [], "OrderAmount": 0, "SalesTax": 0,
                 "SalesTax2": 0, "SalesTax3": 0, "OrderDiscount": 0} for k in range(1, self.incomplete_orders + 1)]

    # --- canonical -> Shift4Shop JSON ----------------------------------------------------------------------------
    def render(self, name: str, r: dict) -> dict:
        return {"Categories": self.category_json, "Manufacturers": self.manufacturer_json,
                "Products": self.product_json, "Customers": self.customer_json, "Orders": self.order_json}[name](r)

    def category_json(self, c: dict) -> dict:
        return {"CategoryID": int(c["source_id"]), "CategoryName": c["name"],
                "Link": f"{STORE_URL}/{c.get('url_key') or ''}", "CategoryDescription": "", "CategoryIcon": "",
                "CategoryMain": 0, "CategoryParent": int(c["parent_id"]) if c.get("parent_id") else 0,
                "Sorting": c.get("position") or 0, "Hide": c.get("is_visible") is False, "UserID": "",
                "LastUpdate": m.s4s_time(c.get("updated_at"), self.tz), "Title": c["name"], "CustomFileName": "",
                "MetaTags": "", "OptionSetList": []}

    def manufacturer_json(self, r: dict) -> dict:
        return {"ManufacturerID": int(r["source_id"]), "ManufacturerName": r["name"], "Logo": "", "Sorting": 0,
                "Header": "", "Website": "", "UserID": "", "LastUpdate": m.s4s_time(r.get("updated_at"), self.tz),
                "PageTitle": r["name"], "MetaTags": "", "RedirectURL": "", "FileName": r.get("url_key") or ""}

    def product_json(self, p: dict) -> dict:
        pid = int(p["source_id"])
        sets: dict[str, dict[str, int]] = {}
        for v in p.get("variants") or []:
            for o in v.get("options") or []:
                values = sets.setdefault(o["name"], {})
                values.setdefault(o["value"], pid * 1000 + sum(len(x) for x in sets.values()))
        advanced = []
        for k, v in enumerate(p.get("variants") or [], start=1):
            code = ",".join(str(sets[o["name"]][o["value"]]) for o in v.get("options") or [])
            advanced.append({"AdvancedOptionCode": code, "AdvancedOptionSufix": v.get("sku") or "",
                             "AdvancedOptionName": ", ".join(o["value"] for o in v.get("options") or []),
                             "AdvancedOptionCost": 0, "AdvancedOptionStock": v.get("stock") or 0,
                             "AdvancedOptionWeight": 0, "AdvancedOptionPrice": v.get("price") or 0,
                             "AdvancedOptionGTIN": ""})
        images = p.get("images") or []
        sale = p.get("special_price")
        return {
            "SKUInfo": {"CatalogID": pid, "SKU": p.get("sku") or "", "Name": p["name"], "Cost": 0,
                        "Price": p["price"], "Currency": CURRENCY, "RetailPrice": 0, "SalePrice": sale or 0,
                        "OnSale": sale is not None, "Stock": p.get("stock") if p.get("stock") is not None else 0},
            "MFGID": "", "ShortDescription": "", "ManufacturerID": int(p["manufacturer_id"] or 0)
            if p.get("manufacturer_id") else 0, "ManufacturerName": "", "DistributorList": [],
            "LastUpdate": m.s4s_time(p.get("updated_at"), self.tz), "UserID": "", "GTIN": "",
            "CategoryList": [{"CategoryID": int(c), "CategoryName": ""} for c in p.get("category_ids") or []],
            "NonTaxable": False, "NotForSale": False, "Hide": p.get("status") == "disabled", "GiftCertificate": False,
            "HomeSpecial": False, "CategorySpecial": False, "NonSearchable": False, "Weight": p.get("weight") or 0,
            "Height": 0, "Width": 0, "Depth": 0, "FreeShipping": False, "InventoryControl": 0,
            "Description": p.get("description_html") or "", "Keywords": "",
            "MainImageFile": images[0]["url"] if images else "",
            "MainImageCaption": (images[0].get("alt") or "") if images else "",
            "ImageGalleryList": [{"ImageGalleryID": pid * 100 + k, "ImageGalleryFile": i["url"],
                                  "ImageGalleryCaption": i.get("alt") or "", "ImageGallerySorting": k}
                                 for k, i in enumerate(images[1:], start=1)],
            "OptionSetList": [{"OptionSetID": pid * 10 + k, "OptionSetName": name, "OptionSorting": k,
                               "OptionRequired": True, "OptionType": "Dropdown",
                               "OptionList": [{"OptionID": oid, "OptionName": value, "OptionSelected": False,
                                               "OptionHide": False, "OptionValue": 0, "OptionPartNumber": "",
                                               "OptionSorting": j} for j, (value, oid) in enumerate(values.items())]}
                              for k, (name, values) in enumerate(sets.items(), start=1)],
            "AdvancedOptionList": advanced,
            "DateCreated": m.s4s_time(p.get("created_at"), self.tz), "ProductLink": f"{STORE_URL}/p/{pid}",
            "Title": p["name"], "CustomFileName": p.get("url_key") or "", "TaxCode": "",
        }

    def customer_json(self, c: dict) -> dict:
        addresses = c.get("addresses") or []
        billing = next((a for a in addresses if a.get("is_default_billing")), None)
        shipping = next((a for a in addresses if a.get("is_default_shipping")), billing)
        return {"CustomerID": int(c["source_id"]), "Email": c.get("email") or "", "Password": "",
                **m.address_out(billing, "Billing", "Address1"),
                "BillingFirstName": c.get("first_name") or "", "BillingLastName": c.get("last_name") or "",
                "BillingPhoneNumber": c.get("phone") or "", "BillingTaxID": "",
                **m.address_out(shipping, "Shipping", "Address1"),
                "ShippingPhoneNumber": (shipping or {}).get("phone") or "", "ShippingAddressType": 0,
                "CustomerGroupID": 0, "Enabled": True, "MailList": c.get("newsletter"), "NonTaxable": False,
                "DisableBillingSameAsShipping": shipping is not billing, "Comments": "", "AdditionalField1": "",
                "AdditionalField2": "", "AdditionalField3": "", "TotalStoreCredit": 0}

    def order_json(self, o: dict) -> dict:
        oid = int(o["source_id"])
        number = str(o.get("number") or oid)
        split = re.fullmatch(r"(.*?)(\d*)", number)
        prefix, invoice = split.group(1), int(split.group(2) or 0)
        ship = o.get("shipping_address")
        return {
            "InvoiceNumberPrefix": prefix, "InvoiceNumber": invoice, "OrderID": oid,
            "CustomerID": int(o["customer_id"]) if o.get("customer_id") else 0,
            "OrderDate": m.s4s_time(o.get("created_at"), self.tz), "OrderStatusID": STATUS_OUT.get(o.get("status"), 2),
            "LastUpdate": m.s4s_time(o.get("updated_at"), self.tz), "UserID": "", "SalesPerson": "",
            **m.address_out(o.get("billing_address"), "Billing"),
            "BillingFirstName": o.get("customer_first_name") or "", "BillingLastName": o.get("customer_last_name") or "",
            "BillingPhoneNumber": (o.get("billing_address") or {}).get("phone") or "",
            "BillingEmail": o.get("email") or "", "BillingPaymentMethod": "Online Credit Card",
            "BillingOnLinePayment": True, "BillingPaymentMethodID": "1",
            "ShipmentList": [{"ShipmentID": oid, "ShipmentLastUpdate": m.s4s_time(o.get("updated_at"), self.tz),
                              "ShipmentBoxes": 1, "ShipmentOrderStatus": STATUS_OUT.get(o.get("status"), 2),
                              **m.address_out(ship, "Shipment"), "ShipmentPhone": (ship or {}).get("phone") or "",
                              "ShipmentEmail": o.get("email") or "", "ShipmentCost": o.get("shipping") or 0,
                              "ShipmentMethodName": "Standard", "ShipmentTax": 0, "ShipmentWeight": 0,
                              "ShipmentTrackingCode": ""}],
            "OrderItemList": [{"CatalogID": int(i["product_id"]) if i.get("product_id") else 0, "ItemIndexID": k,
                               "ItemID": i.get("sku") or "", "ItemShipmentID": oid, "ItemQuantity": i.get("qty"),
                               "ItemDescription": i.get("name"), "ItemUnitPrice": i.get("price"), "ItemWeight": 0,
                               "ItemOptionPrice": 0, "ItemDateAdded": m.s4s_time(o.get("created_at"), self.tz)}
                              for k, i in enumerate(o.get("items") or [], start=1)],
            "PromotionList": [], "OrderDiscount": o.get("discount") or 0, "SalesTax": o.get("tax") or 0,
            "SalesTax2": 0, "SalesTax3": 0, "OrderAmount": o["grand_total"], "AffiliateCommission": 0,
            "TransactionList": m.transactions_out(o, cases.refunds(o), self.tz), "Referer": "", "IP": "",
            "CustomerComments": "", "InternalComments": "",
            "ExternalComments": "",
        }
