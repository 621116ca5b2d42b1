"""BigCommerce specifics: the official Python client against the emulator, page-size limit, rate-limit headers and
429s, error bodies, header-driven pacing, updated-since filters, TLS, and the fields the generic contract leaves out."""

import json
import threading
from datetime import datetime, timedelta, timezone
from dataclasses import replace
from decimal import Decimal

import pytest
import requests

from cart_pipelines.defs.platform_resources import BigCommerceSourceResource
from cart_pipelines.model.canonical import SCHEMAS
from cart_pipelines.model.coerce import coerce_record
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.bigcommerce.emulator import BigCommerceEmulator
from cart_pipelines.platforms.bigcommerce.source import BigCommerceSource
from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs, running
from cart_pipelines.platforms.kit.http import ConnectionProblem, HttpSettings
from cart_pipelines.platforms.kit.rest import RestReader
from cart_pipelines.sample.generator import StoreSize, generate_store
from helpers import as_held

RATE_HEADERS = ("X-Rate-Limit-Requests-Left", "X-Rate-Limit-Requests-Quota", "X-Rate-Limit-Time-Reset-Ms",
                "X-Rate-Limit-Time-Window-Ms")


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("bc-store")
    generate_store(d, seed=11, size=StoreSize.scaled(30))
    return d


def truth(store_dir, entity):
    with open(store_dir / f"{entity}.jsonl", encoding="utf-8") as fh:
        return [coerce_record(json.loads(line, parse_float=Decimal), SCHEMAS[entity]) for line in fh]


def get(h, path, token=None, **params):
    creds = h.credentials
    return requests.get(f"{h.base_url}/stores/{creds['store_hash']}/{path}", params=params,
                        headers={"X-Auth-Token": token or creds["access_token"], "Accept": "application/json"},
                        verify=h.ca_file or True, timeout=10)


# --- the official client -------------------------------------------------------------------------------------------

def test_official_client_lists_products_customers_orders_over_tls(store_dir, monkeypatch):
    import bigcommerce
    from bigcommerce.connection import OAuthConnection

    store = EmulatorStore(store_dir)
    with platforms.emulate("bigcommerce", store=store, tls=True, knobs=Knobs(rate_limit=False)) as h:
        # Unmodified client: its host comes from BC_API_ENDPOINT, its HTTPS trust from REQUESTS_CA_BUNDLE.
        monkeypatch.setenv("BC_API_ENDPOINT", h.base_url.removeprefix("https://"))
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", h.ca_file)
        creds = h.credentials
        api = bigcommerce.api.BigcommerceApi(client_id=creds["client_id"], store_hash=creds["store_hash"],
                                             access_token=creds["access_token"])
        products = list(api.Products.iterall())
        customers = list(api.Customers.iterall())
        orders = list(api.Orders.iterall())
        assert [p.id for p in products] == [int(p["source_id"]) for p in truth(store_dir, "products")]
        assert [c.email for c in customers] == [c["email"] for c in truth(store_dir, "customers")]
        assert [o.id for o in orders] == [int(o["source_id"]) for o in truth(store_dir, "orders")]  # ends on 204
        first = orders[0]
        assert first.currency_code == truth(store_dir, "orders")[0]["currency"]
        items = first.products()  # the sub-resource, /v2/orders/{id}/products
        assert [i.sku for i in items] == [i["sku"] for i in truth(store_dir, "orders")[0]["items"]]

        # The same client's connection class reaches v3 with another api_path.
        v3 = OAuthConnection(creds["client_id"], creds["store_hash"], creds["access_token"],
                             host=h.base_url.removeprefix("https://"), api_path="/stores/{}/v3/{}")
        body = v3.get("catalog/products", limit=5, page=2, include="variants")
        assert body["meta"]["pagination"]["current_page"] == 2 and len(body["data"]) == 5
        assert all(p["variants"] for p in body["data"])

        bad = bigcommerce.api.BigcommerceApi(client_id=creds["client_id"], store_hash=creds["store_hash"],
                                             access_token="not-the-token")
        with pytest.raises(bigcommerce.exception.ClientRequestException) as exc:
            bad.Products.all()
        assert exc.value.response.status_code == 401


def test_official_client_rate_limit_handling(store_dir, monkeypatch):
    import bigcommerce

    # a 2 s window: six requests fall in one window even on a loaded machine (0.5 s did not, under load)
    emulator = BigCommerceEmulator(EmulatorStore(store_dir), Knobs(), limits=(4, 2.0))
    with running(emulator, tls=True) as h:
        monkeypatch.setenv("BC_API_ENDPOINT", h.base_url.removeprefix("https://"))
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", h.ca_file)
        creds = h.credentials
        naive = bigcommerce.api.BigcommerceApi(client_id=creds["client_id"], store_hash=creds["store_hash"],
                                               access_token=creds["access_token"])
        with pytest.raises(bigcommerce.exception.RateLimitingException) as exc:
            for _ in range(6):
                naive.Orders.all(limit=1)
        assert int(exc.value.response.headers["X-Rate-Limit-Requests-Left"]) == 0
        assert naive.connection.rate_limit["requests_quota"] == 4
        assert naive.connection.rate_limit["window_size_ms"] == 2000

        emulator.window.start -= 10  # start a fresh window
        managed = bigcommerce.api.BigcommerceApi(client_id=creds["client_id"], store_hash=creds["store_hash"],
                                                 access_token=creds["access_token"],
                                                 rate_limiting_management={"min_requests_remaining": 1, "wait": True})
        before = emulator.throttled_count
        for _ in range(7):  # the client sleeps the reset time when one request is left
            managed.Orders.all(limit=1)
        assert emulator.throttled_count == before


# --- pages, limits, headers, errors --------------------------------------------------------------------------------

def test_v3_pagination_meta_default_and_maximum_limit(store_dir):
    with platforms.emulate("bigcommerce", store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as h:
        r = get(h, "v3/catalog/products")
        meta = r.json()["meta"]["pagination"]
        assert r.status_code == 200 and meta["per_page"] == 50 and meta["total"] == 30 and meta["total_pages"] == 1
        r = get(h, "v3/customers", limit=7, page=2)
        meta = r.json()["meta"]["pagination"]
        assert meta["count"] == 7 and meta["current_page"] == 2 and meta["total_pages"] == -(-meta["total"] // 7)
        assert meta["links"]["previous"] == "?page=1&limit=7" and meta["links"]["next"] == "?page=3&limit=7"
        assert get(h, "v3/catalog/products", limit=250).status_code == 200
        over = get(h, "v3/catalog/products", limit=251)
        assert over.status_code == 413
        body = over.json()
        assert body["status"] == 413 and "limit" in body["title"] and set(body) == {"status", "title", "type", "errors"}
        v2 = get(h, "v2/orders", limit=251)
        assert v2.status_code == 413 and v2.json()[0]["status"] == 413 and "message" in v2.json()[0]
        assert get(h, "v2/orders", limit=250, page=99).status_code == 204


def test_rate_limit_headers_and_429():
    emulator = BigCommerceEmulator(EmulatorStore.generated(products=10), Knobs(), limits=(3, 1.0))
    with running(emulator) as h:
        responses = [get(h, "v3/catalog/brands") for _ in range(4)]
    for r in responses:
        assert all(name in r.headers for name in RATE_HEADERS)
        assert r.headers["X-Rate-Limit-Requests-Quota"] == "3" and r.headers["X-Rate-Limit-Time-Window-Ms"] == "1000"
        assert 0 < int(r.headers["X-Rate-Limit-Time-Reset-Ms"]) <= 1000
    assert [r.headers["X-Rate-Limit-Requests-Left"] for r in responses] == ["2", "1", "0", "0"]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    doc = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
    assert responses[3].json() == {"status": 429, "title": "Too many requests", "type": doc, "errors": {}}


def test_plans_set_documented_quotas():
    store = EmulatorStore.generated(products=10)
    quotas = {plan: BigCommerceEmulator(store, Knobs(plan=plan)).window for plan in ("standard", "plus", "pro",
                                                                                       "enterprise")}
    assert (quotas["standard"].quota, quotas["standard"].window_s) == (150, 30.0)
    assert (quotas["pro"].quota, quotas["pro"].window_s) == (450, 30.0)
    assert quotas["plus"].quota == 150 and quotas["enterprise"] is None


def test_storm_429_has_no_rate_limit_headers():
    with platforms.emulate("bigcommerce", products=10, knobs=Knobs(storm=1)) as h:
        r = get(h, "v3/catalog/products")
    assert r.status_code == 429 and not any(name in r.headers for name in RATE_HEADERS)


def test_error_bodies_and_explanations():
    with platforms.emulate("bigcommerce", products=10, knobs=Knobs(denied_scopes=("store_v2_orders_read_only",))) as h:
        r = get(h, "v3/catalog/products", token="wrong")
        assert r.status_code == 401 and r.json()["title"] == "Unauthorized" and r.json()["errors"] == {}
        r = get(h, "v2/orders", token="wrong")
        assert r.status_code == 401 and r.json() == [{"status": 401, "message": "Unauthorized"}]
        r = get(h, "v2/orders")
        assert r.status_code == 403
        assert r.json()[0]["message"] == "You don't have a required scope to access the endpoint"
        src = platforms.connect("bigcommerce", h)
        with pytest.raises(ConnectionProblem) as exc:
            list(src.records("orders"))
        assert exc.value.kind == "permission" and "Orders: read-only" in str(exc.value)
        assert "store_v2_orders_read_only" in str(exc.value)
        # X-Auth-Client is not checked by BigCommerce; a wrong store hash answers 403 like a missing scope.
        assert len(list(platforms.connect("bigcommerce", h, client_id="other").records("products"))) == 10
        with pytest.raises(ConnectionProblem) as exc:
            list(platforms.connect("bigcommerce", h, store_hash="nosuchstore").records("products"))
        assert exc.value.kind == "permission" and "store_hash" in str(exc.value)
        token = h.credentials["access_token"]
        assert token not in str(exc.value) and token not in src.describe()


# --- the connector -------------------------------------------------------------------------------------------------

def test_connector_paces_by_headers_without_429():
    emulator = BigCommerceEmulator(EmulatorStore.generated(products=10), Knobs(), limits=(12, 0.4))
    with running(emulator) as h:
        src = BigCommerceSource.connect(h.base_url, h.credentials)
        orders = list(src.records("orders"))  # 1 + 2 requests per order + the closing 204
    assert len(orders) == 20
    assert emulator.throttled_count == 0 and src.client.retries == 0
    assert src.pacer.waits > 0 and src.pacer.last["quota"] == "12"


def test_updated_since_filters(store_dir):
    store = EmulatorStore(store_dir)
    with platforms.emulate("bigcommerce", store=store, knobs=Knobs(rate_limit=False)) as h:
        src = platforms.connect("bigcommerce", h)
        since = datetime.now(timezone.utc) - timedelta(seconds=2)
        assert [list(src.records(e, updated_since=since)) for e in ("products", "customers", "orders")] == [[]] * 3
        store.put("products", {**store.get("products", 3), "name": "Endret navn"})
        store.put("customers", store.get("customers", 2))
        store.put("orders", store.get("orders", 5))
        changed = {e: [r.record for r in src.records(e, updated_since=since)] for e in ("products", "customers",
                                                                                        "orders")}
    assert [r["source_id"] for r in changed["products"]] == ["3"] and changed["products"][0]["name"] == "Endret navn"
    assert [r["source_id"] for r in changed["customers"]] == ["2"]
    assert [r["source_id"] for r in changed["orders"]] == ["5"]


def test_fields_outside_the_generic_contract(store_dir):
    """Variants, addresses, items and reviews: everything but what BigCommerce models differently."""
    with platforms.emulate("bigcommerce", store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as h:
        src = platforms.connect("bigcommerce", h)
        got = {e: [coerce_record(r.record, SCHEMAS[e]) for r in src.records(e)]
               for e in ("products", "customers", "orders", "reviews")}
    want = {e: truth(store_dir, e) for e in got}
    for g, w in zip(got["products"], want["products"]):
        # purchasing_disabled variants are carried with status disabled (emulator_cases.variant_disabled picks them)
        assert [{k: v for k, v in x.items() if k != "source_id"} for x in g["variants"]] == \
               [{**{k: v for k, v in x.items() if k != "source_id"},
                 "status": "disabled" if cases.variant_disabled(w, n) else "enabled"} for n, x in enumerate(w["variants"])]
    by_id = {w["source_id"]: w for w in want["customers"]}
    assert sorted(by_id) == sorted(g["source_id"] for g in got["customers"])
    for g in got["customers"]:  # read oldest first, not by id
        w = by_id[g["source_id"]]
        drop = ("is_default_billing", "is_default_shipping")
        assert [{k: v for k, v in a.items() if k not in drop} for a in g["addresses"]] == \
               [{k: v for k, v in a.items() if k not in drop} for a in w["addresses"]]
    for g, w in zip(got["orders"], want["orders"]):
        # a line of a product deleted since has product_id 0 on BigCommerce: no product, the rest kept
        assert [{k: v for k, v in i.items() if k != "source_id"} for i in g["items"]] == \
               [{k: v for k, v in i.items() if k != "source_id"} | ({"product_id": None} if cases.product_gone(w, n)
                                                                     else {}) for n, i in enumerate(w["items"])]
    product_ids = {p["source_id"] for p in want["products"]}
    # BigCommerce has no spam or trash (approved, pending, disapproved): spam is held disapproved, a trashed review
    # is gone (bigcommerce/mapping.py REVIEW_STATUS_HELD)
    held = as_held("bigcommerce", "reviews", want["reviews"])
    on_products = sorted((r for r in held if r["product_id"] in product_ids),
                         key=lambda r: (int(r["product_id"]), int(r["source_id"])))
    fields = ("source_id", "product_id", "customer_id", "rating", "title", "text", "status", "created_at", "updated_at")
    assert [{f: r[f] for f in fields} for r in got["reviews"]] == [{f: r[f] for f in fields} for r in on_products]


def test_check_resource_and_api_path(monkeypatch):
    with platforms.emulate("bigcommerce", products=10, tls=True, knobs=Knobs(rate_limit=False)) as h:
        creds = h.credentials
        api_path = f"{h.base_url}/stores/{creds['store_hash']}/v3/"  # what the control panel shows
        src = BigCommerceSource.connect(api_path, creds, verify=h.ca_file)
        assert "Emulated BigCommerce store" in src.check() and "kg" in src.check()
        untrusted = BigCommerceSource.connect(h.base_url, creds, settings=HttpSettings(max_attempts=1))
        with pytest.raises(ConnectionProblem) as exc:
            untrusted.check()
        assert exc.value.kind == "unreachable"
        monkeypatch.setenv("BIGCOMMERCE_STORE_HASH", creds["store_hash"])
        monkeypatch.setenv("BIGCOMMERCE_CLIENT_ID", creds["client_id"])
        monkeypatch.setenv("BIGCOMMERCE_ACCESS_TOKEN", creds["access_token"])
        monkeypatch.setenv("BIGCOMMERCE_BASE_URL", h.base_url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", h.ca_file)
        opened = BigCommerceSourceResource.from_env().process_config_and_initialize().open()
        assert len(list(opened.records("manufacturers"))) == 3
        assert creds["access_token"] not in opened.describe() and creds["store_hash"] in opened.describe()


# --- reading pages in parallel within the plan ---------------------------------------------------------------------

class CountingEmulator(BigCommerceEmulator):
    """Counts, at the emulator, how many requests are being answered at once (the most seen) and the 429s."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.in_flight = self.most_in_flight = self.answered_429 = 0

    def __call__(self, environ, start_response):
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)

        def respond(status, headers, exc_info=None):
            with self.lock:
                self.answered_429 += status.startswith("429")
            return start_response(status, headers, exc_info)
        try:
            return super().__call__(environ, respond)
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture(scope="module")
def wide_store(tmp_path_factory):
    d = tmp_path_factory.mktemp("bc-wide")
    generate_store(d, seed=5, size=StoreSize.scaled(150))
    return d


def _read(emulator, entity, concurrency=None, since=None, settings=None):
    """Canonical records of `entity` read from `emulator`, with the API's concurrency or `concurrency`."""
    with running(emulator) as h:
        src = BigCommerceSource.connect(h.base_url, h.credentials, settings=settings)
        if concurrency is not None:
            src.reader = RestReader(replace(src.reader.api, concurrency=concurrency), src.client)
        return [r.record for r in src.records(entity, updated_since=since)], src


@pytest.mark.parametrize("entity", ["customers", "products"])
def test_parallel_read_is_the_sequential_read_within_the_plan(wide_store, monkeypatch, entity):
    """Customers in time spans and products in id ranges, 3 requests at once (BigCommerce's documented concurrency),
    give the sequential read's records in the same order; the emulator never answers more than 3 at once, and a
    small plan's window is paced by the headers without a 429."""
    monkeypatch.setattr("cart_pipelines.platforms.bigcommerce.source.PAGE_SIZE", 10)
    store = EmulatorStore(wide_store)
    sequential, _ = _read(BigCommerceEmulator(store, Knobs(rate_limit=False)), entity, concurrency=1)
    emulator = CountingEmulator(store, Knobs(latency_ms=20), limits=(8, 0.5))
    parallel, src = _read(emulator, entity)
    assert len(sequential) > 60 and parallel == sequential
    assert emulator.most_in_flight == 3  # the plan's concurrency used, never more
    assert emulator.answered_429 == 0 and src.client.retries == 0 and src.pacer.waits > 0
    if entity == "customers":  # spans cost the newest-record request and at most a short page each
        pages = -(-len(sequential) // 10)
        assert src.client.requests_made <= pages + 1 + 7


def test_parallel_read_retries_429s_and_keeps_every_record(wide_store, monkeypatch):
    """A 429 storm from the load balancer (no rate-limit headers) in the middle of a parallel read is retried."""
    monkeypatch.setattr("cart_pipelines.platforms.bigcommerce.source.PAGE_SIZE", 10)
    store = EmulatorStore(wide_store)
    sequential, _ = _read(BigCommerceEmulator(store, Knobs(rate_limit=False)), "customers", concurrency=1)
    emulator = CountingEmulator(store, Knobs(rate_limit=False, storm=0))
    once = threading.Lock()

    def storm_once(request):  # `requests` can pass 5 between two answers of a parallel read: >=, once
        if emulator.requests >= 5 and once.acquire(blocking=False):
            emulator.knobs.storm = 4

    emulator.knobs.after_response = storm_once
    parallel, src = _read(emulator, "customers", settings=HttpSettings(max_backoff=0.05))
    assert parallel == sequential and emulator.answered_429 == 4 and src.client.retries == 4


def test_parallel_delta_reads_the_changed_customers(wide_store, monkeypatch):
    monkeypatch.setattr("cart_pipelines.platforms.bigcommerce.source.PAGE_SIZE", 10)
    store = EmulatorStore(wide_store)
    since = datetime(2000, 1, 1, tzinfo=timezone.utc)  # before every record: the delta is the whole list
    full, _ = _read(BigCommerceEmulator(store, Knobs(rate_limit=False)), "customers", concurrency=1)
    delta, src = _read(BigCommerceEmulator(store, Knobs(rate_limit=False)), "customers", since=since)
    assert delta == full and src.client.requests_made > -(-len(full) // 10)


def test_parallel_read_that_fails_midway_stops_and_a_rerun_stages_everything(wide_store, monkeypatch, tmp_path):
    """A server failing mid-way through a parallel read ends the step with the platform's explanation (no worker
    left running); running the step again stages every record, the same as a sequential read."""

    from cart_pipelines.pipeline.extract import extract_entity
    from cart_pipelines.pipeline.staging import Staging

    monkeypatch.setattr("cart_pipelines.platforms.bigcommerce.source.PAGE_SIZE", 10)
    store = EmulatorStore(wide_store)
    failing = BigCommerceEmulator(store, Knobs(rate_limit=False))
    failing.knobs.after_response = lambda request: setattr(failing.knobs, "faults", {"500": 1.0}) \
        if failing.requests >= 6 else None
    with running(failing) as h:
        src = BigCommerceSource.connect(h.base_url, h.credentials, settings=HttpSettings(max_attempts=2,
                                                                                         max_backoff=0.01))
        with pytest.raises(ConnectionProblem) as exc:
            extract_entity(src, "customers", Staging(tmp_path / "staging"))
    assert exc.value.kind == "server"
    assert not [t for t in threading.enumerate() if t.name.startswith("range")]  # the range workers stopped
    with running(BigCommerceEmulator(store, Knobs(rate_limit=False))) as h:
        src = BigCommerceSource.connect(h.base_url, h.credentials)
        res = extract_entity(src, "customers", Staging(tmp_path / "staging"))
    sequential, _ = _read(BigCommerceEmulator(store, Knobs(rate_limit=False)), "customers", concurrency=1)
    import duckdb
    staged = duckdb.sql(f"SELECT source_id FROM '{tmp_path / 'staging'}/parquet/customers/*.parquet'").fetchall()
    assert res.staged + res.quarantined == len(sequential)
    assert sorted(r[0] for r in staged) == sorted(r["source_id"] for r in sequential)
