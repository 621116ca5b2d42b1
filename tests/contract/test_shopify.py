"""Shopify specifics: the official ShopifyAPI client against the emulator over TLS, query cost and THROTTLED,
page-size and max-cost limits, error bodies, updated-since filters, bulk operations and cursor pages."""

import json
import time
import urllib.error
from datetime import datetime, timezone
from decimal import Decimal

import dagster as dg
import pytest
import requests

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.kit.http import ConnectionProblem, HttpSettings
from cart_pipelines.platforms.shopify import source as conn
from cart_pipelines.platforms.shopify.emulator import INVALID_TOKEN, TOKEN, query_cost
from cart_pipelines.sample.generator import StoreSize, generate_store

OFF = Knobs(rate_limit=False)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("shopify-store")
    generate_store(d, seed=11, size=StoreSize.scaled(40))
    return d


@pytest.fixture(scope="module")
def shared(store_dir):
    return EmulatorStore(store_dir)  # for tests that do not change the store


def gql(handle, query, variables=None, token=TOKEN, version="2025-10"):
    return requests.post(f"{handle.base_url}/admin/api/{version}/graphql.json",
                         json={"query": query, "variables": variables or {}},
                         headers={"X-Shopify-Access-Token": token}, verify=handle.ca_file or True, timeout=10)


def drain(handle):
    bucket = handle.emulator.bucket
    with bucket.lock:
        bucket.level, bucket.stamp = 0.0, time.monotonic()


def truth(store_dir, entity):
    with open(store_dir / f"{entity}.jsonl", encoding="utf-8") as fh:
        return {r["source_id"]: r for r in (json.loads(line, parse_float=Decimal) for line in fh)}


def test_official_client_over_tls(monkeypatch, shared):
    """ShopifyAPI, unmodified: Session + activate_session + GraphQL().execute, trusting the emulator's CA."""
    import shopify

    with platforms.emulate("shopify", store=shared, tls=True, knobs=OFF) as h:
        port = int(h.base_url.rsplit(":", 1)[1])
        monkeypatch.setenv("SSL_CERT_FILE", h.ca_file)  # urllib's default context trusts the emulator's CA
        # Session turns "<shop>" into "<shop>.<myshopify_domain>:<port>": shop "127" + domain "0.0.1" is 127.0.0.1.
        monkeypatch.setattr(shopify.Session, "myshopify_domain", "0.0.1")
        monkeypatch.setattr(shopify.Session, "port", port)
        session = shopify.Session("127", "2024-10", TOKEN)
        shopify.ShopifyResource.activate_session(session)
        try:
            result = json.loads(shopify.GraphQL().execute(
                "query($n: Int!) { shop { name } products(first: $n) { nodes { legacyResourceId title } "
                "pageInfo { hasNextPage endCursor } } }", variables={"n": 4}))
            assert result["data"]["shop"]["name"] == "Emulated Shop"
            assert [p["legacyResourceId"] for p in result["data"]["products"]["nodes"]] == ["1", "2", "3", "4"]
            assert result["data"]["products"]["pageInfo"]["hasNextPage"] is True
            assert result["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 2000
            shopify.ShopifyResource.activate_session(shopify.Session("127", "2024-10", "shpat_wrong"))
            with pytest.raises(urllib.error.HTTPError) as exc:
                shopify.GraphQL().execute("{ shop { name } }")
            assert exc.value.code == 401
        finally:
            shopify.ShopifyResource.clear_session()


def test_tls_needs_the_ca(shared):
    with platforms.emulate("shopify", store=shared, tls=True, knobs=OFF) as h:
        src = platforms.connect("shopify", h)
        assert src.check().startswith("Shopify shop 'Emulated Shop'")
        untrusted = conn.ShopifySource.connect(h.base_url, h.credentials, verify=True,
                                               settings=HttpSettings(max_attempts=1))
        with pytest.raises(ConnectionProblem) as exc:
            untrusted.check()
    assert exc.value.kind == "unreachable"


def test_error_bodies(shared):
    with platforms.emulate("shopify", store=shared, knobs=Knobs(denied_scopes=("read_customers",))) as h:
        bad = gql(h, "{ shop { name } }", token="shpat_wrong")
        assert bad.status_code == 401 and bad.json() == {"errors": INVALID_TOKEN}
        denied = gql(h, "{ customers(first: 5) { nodes { id } } }")
        assert denied.status_code == 200
        error = denied.json()["errors"][0]
        assert error["message"] == "Access denied for customers field. Required access: `read_customers` access scope."
        assert error["extensions"]["code"] == "ACCESS_DENIED" and error["path"] == ["customers"]
        assert denied.json()["data"] is None
        nothing = requests.get(f"{h.base_url}/admin/api/2025-10/nothing.json", timeout=5)
        assert nothing.status_code == 404 and nothing.json() == {"errors": "Not Found"}
        invalid = gql(h, "{ shop { nosuchfield } }").json()
        assert "nosuchfield" in invalid["errors"][0]["message"] and "locations" in invalid["errors"][0]
        with pytest.raises(ConnectionProblem) as exc:
            list(platforms.connect("shopify", h).records("customers"))
    assert exc.value.kind == "permission" and "read_customers" in str(exc.value)


def test_page_size_and_max_cost_limits(shared):
    with platforms.emulate("shopify", store=shared, knobs=OFF) as h:
        over = gql(h, "{ products(first: 251) { nodes { id } } }").json()
        assert "first cannot exceed 250" in over["errors"][0]["message"]
        heavy = gql(h, "{ products(first: 250) { nodes { id variants(first: 50) { nodes { id } } } } }").json()
        assert heavy["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
        assert heavy["errors"][0]["extensions"]["maxCost"] == 1000 and "data" not in heavy
        ok = gql(h, "{ collections(first: 250) { nodes { id } } }").json()
        assert ok["extensions"]["cost"]["requestedQueryCost"] == 252
        assert ok["extensions"]["cost"]["actualQueryCost"] < 252  # only the collections that exist are charged
    # the connector's pages fit under the maximum, as the emulator calculates cost
    from graphql import parse
    for entity, spec in conn.SPECS.items():
        text = (f"query($first: Int!) {{ {spec.root}(first: $first) {{ pageInfo {{ hasNextPage endCursor }} "
                f"nodes {{ {spec.fields(False)} }} }} }}")
        cost = query_cost(parse(text), {"first": spec.page_size})
        assert cost <= 1000 and cost <= 2 + spec.page_size * spec.per_node, entity


def test_cost_extensions_plans_and_throttled_body(shared):
    for plan, (size, rate) in {"standard": (2000, 100), "advanced": (4000, 200), "plus": (20000, 1000)}.items():
        with platforms.emulate("shopify", store=shared, knobs=Knobs(plan=plan)) as h:
            status = gql(h, "{ shop { name } }").json()["extensions"]["cost"]["throttleStatus"]
            assert (status["maximumAvailable"], status["restoreRate"]) == (size, rate)
    with platforms.emulate("shopify", store=shared) as h:
        drain(h)
        r = gql(h, "{ products(first: 10) { nodes { id } } }")
        assert r.status_code == 200
        body = r.json()
        assert body["errors"] == [{"message": "Throttled", "extensions": {
            "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}]
        cost = body["extensions"]["cost"]
        assert cost["requestedQueryCost"] == 12 and cost["actualQueryCost"] is None  # 2 + 10 × 1
        assert cost["throttleStatus"]["currentlyAvailable"] < 12 and "data" not in body


def test_connector_paces_to_the_restore_rate(store_dir, shared):
    """A drained bucket on the Plus plan (1000 points/s): the connector waits for the points instead of failing."""
    with platforms.emulate("shopify", store=shared, knobs=Knobs(plan="plus")) as h:
        drain(h)
        src = platforms.connect("shopify", h)
        started = time.monotonic()
        ids = [r.source_id for r in src.records("products")]
        elapsed = time.monotonic() - started
    assert sorted(ids, key=int) == sorted(truth(store_dir, "products"), key=int)
    assert elapsed >= 0.8  # the first page (~940 points) waited for the bucket to refill at 1000 points/s


def test_bulk_and_cursor_pages_read_the_same(store_dir, shared):
    with platforms.emulate("shopify", store=shared, knobs=OFF) as h:
        h.emulator.bulk_delay = 0.3  # stays RUNNING long enough to be polled
        paged = platforms.connect("shopify", h)
        bulk = conn.ShopifySource.connect(h.base_url, h.credentials, bulk_threshold=0)
        monkey_poll = conn.BULK_POLL_S
        conn.BULK_POLL_S = 0.05
        try:
            for entity in ("categories", "products", "customers", "orders"):
                a = [r.record for r in paged.records(entity)]
                b = [r.record for r in bulk.records(entity)]
                assert a == b and len(a) == len(truth(store_dir, entity)), entity
        finally:
            conn.BULK_POLL_S = monkey_poll
        # the file itself: one object per line, nested nodes after their parent with __parentId
        op = gql(h, "{ currentBulkOperation { status url rootObjectCount objectCount } }").json()
        op = op["data"]["currentBulkOperation"]
        assert op["status"] == "COMPLETED" and int(op["objectCount"]) > int(op["rootObjectCount"])  # UnsignedInt64s
        lines = [json.loads(x) for x in requests.get(op["url"], timeout=5).text.splitlines()]
        assert "__parentId" not in lines[0] and lines[1]["__parentId"] == lines[0]["id"]
        assert sum("__parentId" not in x for x in lines) == int(op["rootObjectCount"])


def test_one_bulk_query_at_a_time(shared):
    with platforms.emulate("shopify", store=shared, knobs=OFF) as h:
        h.emulator.bulk_delay = 5
        run = 'mutation { bulkOperationRunQuery(query: "{ products { edges { node { id } } } }") { ' \
              'bulkOperation { id status } userErrors { code message } } }'
        first = gql(h, run).json()["data"]["bulkOperationRunQuery"]
        assert first["bulkOperation"]["status"] == "CREATED" and first["userErrors"] == []
        second = gql(h, run).json()["data"]["bulkOperationRunQuery"]
        assert second["bulkOperation"] is None and second["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"
        assert gql(h, run).json()["extensions"]["cost"]["requestedQueryCost"] == 10


def test_updated_since_filter_both_paths(store_dir):
    store = EmulatorStore(store_dir)
    with platforms.emulate("shopify", store=store, knobs=OFF) as h:
        since = datetime.now(timezone.utc).replace(microsecond=0)  # the search syntax has whole seconds
        for sid in ("3", "7"):
            rec = store.get("products", int(sid))
            store.put("products", {**rec, "name": rec["name"] + " (ny)"})
        paged = platforms.connect("shopify", h)
        bulk = conn.ShopifySource.connect(h.base_url, h.credentials, bulk_threshold=0)
        for src in (paged, bulk):
            got = [r.record for r in src.records("products", updated_since=since)]
            assert [r["source_id"] for r in got] == ["3", "7"]
            assert all(r["name"].endswith("(ny)") for r in got)
        assert len(list(paged.records("products"))) == len(truth(store_dir, "products"))
        search = gql(h, "{ productsCount(query: \"updated_at:>'%s'\") { count precision } }"
                     % since.strftime("%Y-%m-%dT%H:%M:%SZ")).json()["data"]["productsCount"]
        assert search == {"count": 2, "precision": "EXACT"}


def test_variants_items_and_long_nested_connections(store_dir):
    """Fields carried with Shopify's own ids: variants, line items; a product with more variants than a page."""
    store = EmulatorStore(store_dir)
    want = truth(store_dir, "products")
    big = dict(store.get("products", 2))
    big["variants"] = [{"source_id": f"2-{k}", "sku": f"BIG-{k}", "price": big["price"], "stock": k,
                        "options": [{"name": "Størrelse", "value": str(k)}]} for k in range(1, 26)]
    store.put("products", big, touch=False)
    with platforms.emulate("shopify", store=store, knobs=OFF) as h:
        for threshold in (None, 0):
            src = conn.ShopifySource.connect(h.base_url, h.credentials, bulk_threshold=threshold)
            products = {r.source_id: r.record for r in src.records("products")}
            assert [v["sku"] for v in products["2"]["variants"]] == [f"BIG-{k}" for k in range(1, 26)]
            for sid, p in products.items():
                if sid == "2":
                    continue
                w = want[sid]
                # a variant the store holds disabled is not in a Shopify shop (no variant status: it was deleted)
                held = cases.variants_held(w, False)
                assert [(v["sku"], v["stock"], v["options"]) for v in p["variants"]] \
                    == [(v["sku"], v["stock"], v["options"]) for v in held]
                assert [Decimal(str(v["price"])) for v in p["variants"]] == [Decimal(str(v["price"])) for v in held]
                assert all(v["source_id"].isdigit() for v in p["variants"])
                if not w["variants"]:
                    assert p["sku"] == w["sku"] and p["stock"] == w["stock"]
        orders = {r.source_id: r.record for r in src.records("orders")}
        customers = {r.source_id for r in src.records("customers")}
        for sid, o in truth(store_dir, "orders").items():
            got = orders[sid]
            assert [(i["sku"], i["qty"], Decimal(str(i["price"])), Decimal(str(i["tax"]))) for i in got["items"]] \
                == [(i["sku"], i["qty"], Decimal(str(i["price"])), Decimal(str(i["tax"]))) for i in o["items"]]
            # a deleted customer's orders have no customer on Shopify
            assert got["customer_id"] == (o["customer_id"] if o["customer_id"] in customers else None)


def test_throttled_for_good_is_explained(shared):
    with platforms.emulate("shopify", store=shared, knobs=Knobs(storm=50)) as h:
        src = conn.ShopifySource.connect(h.base_url, h.credentials, settings=HttpSettings(max_attempts=3))
        with pytest.raises(ConnectionProblem) as exc:
            src.check()
    assert exc.value.kind == "rate_limited" and "THROTTLED" in str(exc.value)


def test_storm_and_resource(monkeypatch, shared):
    with platforms.emulate("shopify", store=shared, knobs=Knobs(storm=3)) as h:
        src = platforms.connect("shopify", h)
        assert len(list(src.records("categories"))) > 0 and src.client.retries >= 3
        monkeypatch.setenv("SHOPIFY_SHOP_URL", h.base_url)
        monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", TOKEN)
        with dg.build_resources({"source": platforms.resource_class("shopify").from_env()}) as resources:
            opened = resources.source.open()
        assert TOKEN not in opened.describe() and opened.api_version == conn.API_VERSION
        assert opened.check().startswith("Shopify shop")


def test_a_refunds_date_is_processed_at_where_the_version_has_it(tmp_path, store_dir):
    """Refund.processedAt (2026-01+) is when the refund was processed, which refundCreate sets to the source's
    date; createdAt is when it was written. The source reads processedAt from 2026-01 on and createdAt before,
    where selecting processedAt is refused as an unknown field (the emulator answers each version as its schema)."""
    import shutil

    for name in ("orders", "customers", "products", "categories", "manufacturers"):
        if (store_dir / f"{name}.jsonl").exists():
            shutil.copy(store_dir / f"{name}.jsonl", tmp_path / f"{name}.jsonl")
    processed = "2024-03-05T12:00:00Z"
    with platforms.emulate("shopify", store=EmulatorStore(tmp_path), knobs=OFF) as h:
        paid = next(o for o in h.emulator.store.page("orders", 0, 10 ** 6)
                    if o["status"] == "complete" and not o.get("refunds")
                    and int(o["source_id"]) % 12 != 5)  # no refund of its own (kit/emulator_cases.py)
        oid = int(paid["source_id"])
        order, sale = f"gid://shopify/Order/{oid}", f"gid://shopify/OrderTransaction/{oid * 100 + 1}"
        body = gql(h, "mutation($i: RefundInput!) { refundCreate(input: $i) { refund { id createdAt processedAt } "
                      "userErrors { field message } } }",
                   {"i": {"orderId": order, "note": "Dated", "processedAt": processed, "transactions": [
                       {"orderId": order, "parentId": sale, "amount": "10.00", "gateway": "manual",
                        "kind": "REFUND"}]}}, version="2026-01").json()
        written = body["data"]["refundCreate"]
        assert written["userErrors"] == [] and written["refund"]["processedAt"] == processed
        assert written["refund"]["createdAt"] != processed  # written now
        refused = gql(h, "{ orders(first: 1) { nodes { refunds { processedAt } } } }", version="2025-10").json()
        assert refused["errors"][0]["extensions"] == {"code": "undefinedField", "typeName": "Refund",
                                                      "fieldName": "processedAt"}

        def dates(version, bulk):
            src = conn.ShopifySource.connect(h.base_url, {**h.credentials, "api_version": version},
                                             bulk_threshold=0 if bulk else None)
            got = {r.source_id: r.record for r in src.records("orders")}[str(oid)]
            return [(r["reason"], r["created_at"]) for r in got["refunds"]]

        for bulk in (False, True):
            assert dates("2026-01", bulk) == [("Dated", processed)]
            [(reason, when)] = dates("2025-10", bulk)
            assert reason == "Dated" and when == written["refund"]["createdAt"]


def test_without_the_published_schema_the_fallback_serves_refunds(monkeypatch, tmp_path, store_dir):
    """Where ../shared is absent the emulator serves its hand-written SDL: it lacked Order.refunds and refundCreate,
    so the source's order query and the target's refunds were refused there. Now the orders come with their
    refunds and refundCreate writes one (dated through 2026-01's processedAt)."""
    import shutil
    import warnings

    from cart_pipelines.platforms.shopify import emulator, emulator_schema

    monkeypatch.setattr(emulator_schema, "SPEC_FILE", tmp_path / "absent.json.gz")
    monkeypatch.setattr(emulator_schema, "_cache", {})
    emulator._parsed.cache_clear()  # validated against the published schema so far
    try:
        for name in ("orders", "customers", "products", "categories", "manufacturers"):
            if (store_dir / f"{name}.jsonl").exists():
                shutil.copy(store_dir / f"{name}.jsonl", tmp_path / f"{name}.jsonl")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "serving the hand-written SDL subset"
            with platforms.emulate("shopify", store=EmulatorStore(tmp_path), knobs=OFF) as h:
                assert "productVendors" in emulator.schema().query_type.fields  # the fallback is served
                assert "draftOrders" not in emulator.schema().query_type.fields
                orders = {r.source_id: r.record for r in platforms.connect("shopify", h).records("orders")}
                want = {oid: cases.refunded_total(o) for oid, o in truth(store_dir, "orders").items()}
                assert {k: o["refunded_total"] or Decimal(0) for k, o in orders.items()} == want
                assert any(o["refunds"] and o["refunds"][0]["lines"] for o in orders.values())
                paid = next(o for o in h.emulator.store.page("orders", 0, 10 ** 6)
                            if o["status"] == "complete" and not cases.refunds(o))
                oid = int(paid["source_id"])
                order, sale = f"gid://shopify/Order/{oid}", f"gid://shopify/OrderTransaction/{oid * 100 + 1}"
                body = gql(h, "mutation($i: RefundInput!) { refundCreate(input: $i) { refund { id processedAt } "
                              "userErrors { field message } } }",
                           {"i": {"orderId": order, "processedAt": "2024-03-05T12:00:00Z", "transactions": [
                               {"orderId": order, "parentId": sale, "amount": "5.00", "gateway": "manual",
                                "kind": "REFUND"}]}}, version="2026-01").json()
                assert body["data"]["refundCreate"]["userErrors"] == [], body
                assert body["data"]["refundCreate"]["refund"]["processedAt"] == "2024-03-05T12:00:00Z"
    finally:
        emulator._parsed.cache_clear()


class InFlight:
    """Counts the requests the emulator is answering at once (after_response runs in each request's thread)."""

    def __init__(self):
        import threading
        self.lock, self.now, self.most = threading.Lock(), 0, 0

    def __call__(self, request):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.02)  # holds the answer, so requests sent together are seen together
        with self.lock:
            self.now -= 1


@pytest.fixture(scope="module")
def wide_store(tmp_path_factory):
    d = tmp_path_factory.mktemp("shopify-wide")
    generate_store(d, seed=12, size=StoreSize.scaled(120))  # products over 6 pages of the products' page size
    return d


def test_id_ranges_read_in_parallel_the_same_records(wide_store):
    """Cursor-page reads by id go in id ranges, `concurrency` at a time (keyset: `id:>N`, ANDed with a slice's
    terms): the same records in the same order as one request at a time, with requests in flight together."""
    store = EmulatorStore(wide_store)
    products = truth(wide_store, "products")
    assert len(products) > 6 * conn.SPECS["products"].page_size
    seen = {}
    for concurrency in (1, 4):
        flight = InFlight()
        with platforms.emulate("shopify", store=store, knobs=Knobs(rate_limit=False, after_response=flight)) as h:
            src = conn.ShopifySource.connect(h.base_url, h.credentials, bulk_threshold=None)
            src.concurrency = concurrency
            seen[concurrency] = {e: [r.record for r in src.records(e)] for e in ("products", "customers", "orders")}
            lo, hi = sorted(products, key=int)[10], sorted(products, key=int)[-10]
            part = conn.Slice("id", int(lo), int(hi))
            seen[concurrency]["slice"] = [r.source_id for r in src.records_in("products", part)]
        assert flight.most == 1 if concurrency == 1 else flight.most >= 2, (concurrency, flight.most)
    assert seen[1] == seen[4]
    assert [r["source_id"] for r in seen[4]["products"]] == sorted(products, key=int)
    assert seen[4]["slice"] == [p for p in sorted(products, key=int) if int(lo) <= int(p) < int(hi)]


def test_parallel_ranges_reserve_the_bucket(wide_store):
    """Ranges read at once from a drained bucket (Plus: 1000 points/s): each query waits until the bucket holds
    its cost besides the costs of the queries in flight, so none is THROTTLED (each would be retried, counted)."""
    with platforms.emulate("shopify", store=EmulatorStore(wide_store), knobs=Knobs(plan="plus")) as h:
        src = platforms.connect("shopify", h)
        drain(h)
        ids = [r.source_id for r in src.records("products")]
        assert ids == sorted(truth(wide_store, "products"), key=int)
        assert src.client.retries == 0 and src.budget.pending == 0


def test_a_read_that_would_wait_on_the_bucket_goes_on_in_bulk(monkeypatch, wide_store):
    """The first page's actual cost times the records left, beyond what the bucket holds, is the wait cursor pages
    would have: past BULK_AFTER_WAIT_S the rest (ids after the page's last) is read by a bulk operation, which the
    bucket does not pace. Below it, pages. Either way every record once, in id order."""
    products = sorted(truth(wide_store, "products"), key=int)
    for wait_s, bulk in ((conn.BULK_AFTER_WAIT_S, False), (0.5, True)):
        monkeypatch.setattr(conn, "BULK_AFTER_WAIT_S", wait_s)
        with platforms.emulate("shopify", store=EmulatorStore(wide_store), knobs=Knobs(plan="standard")) as h:
            src = platforms.connect("shopify", h)
            ids = [r.source_id for r in src.records("products")]
            ops = h.emulator.bulk_ops
            assert ids == products and src.client.retries == 0
            assert ("QUERY" in ops) is bulk, wait_s
            if bulk:  # the first page came as a page: the export holds the ids after it
                first = int(products[conn.SPECS["products"].page_size - 1])
                assert f"id:>{first}" in ops["QUERY"]["query"]


def test_a_bulk_export_waits_for_the_shops_one_bulk_slot(monkeypatch, shared, store_dir):
    """Another step's bulk query holds the shop's one slot (OPERATION_IN_PROGRESS): the export asks again until
    it is free, instead of failing the step."""
    monkeypatch.setattr(conn, "BULK_POLL_S", 0.05)
    with platforms.emulate("shopify", store=shared, knobs=OFF) as h:
        h.emulator.bulk_delay = 0.6
        other = gql(h, 'mutation { bulkOperationRunQuery(query: "{ customers { edges { node { id } } } }") { '
                       'bulkOperation { id status } userErrors { code message } } }').json()
        assert other["data"]["bulkOperationRunQuery"]["userErrors"] == []
        src = conn.ShopifySource.connect(h.base_url, h.credentials, bulk_threshold=0)
        ids = [r.source_id for r in src.records("products")]
    assert ids == sorted(truth(store_dir, "products"), key=int)


def test_a_bulk_file_that_breaks_off_is_read_on_whole_and_once(store_dir):
    """The bulk result file (a GET of Shopify's storage) answered 5xx, dropped mid-body or cut short with a
    short Content-Length: asked for again and read on after the last object handed out, compared with the
    operation's fileSize, so nothing is lost or read twice."""
    knobs = Knobs(rate_limit=False, faults={"500": 0.25, "drop": 0.25, "truncate": 0.25}, fault_seed=3)
    with platforms.emulate("shopify", store=EmulatorStore(store_dir), knobs=knobs) as h:
        h.emulator.fault_methods = ("GET",)  # the GraphQL queries are POSTs: only the file download is hit
        src = conn.ShopifySource.connect(h.base_url, h.credentials, bulk_threshold=0,
                                         settings=HttpSettings(timeout=2.0, max_attempts=12, max_backoff=0.05))
        ids = [r.source_id for r in src.records("products")]
        injected = dict(h.emulator.faults_by_kind)
    assert ids == sorted(truth(store_dir, "products"), key=int)
    assert sum(injected.values()) > 0, injected
