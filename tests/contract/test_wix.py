"""What is particular to Wix: the catalog version detected per site (V1, V3, none), V1 read field by field, Wix's
error bodies explained (wrong site, 428, 429), hidden products and pending orders that only come when asked."""

import json
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
import requests

from cart_pipelines.model.canonical import SCHEMAS
from cart_pipelines.model.coerce import coerce_record
from cart_pipelines.pipeline.extract import extract_entity
from cart_pipelines.pipeline.staging import Staging
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.kit.http import ConnectionProblem, HttpSettings
from cart_pipelines.platforms.wix.source import CARRIED_V1, WixSource, site_id_of
from cart_pipelines.sample.generator import StoreSize, generate_store

from .real_shop import as_held

FAST = HttpSettings(max_attempts=3, max_backoff=0.1)


@pytest.fixture(scope="module")
def truth_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("wix-truth")
    generate_store(d, seed=5, size=StoreSize.scaled(60))
    return d


def truth(d, entity):
    with open(d / f"{entity}.jsonl", encoding="utf-8") as fh:
        return [coerce_record(json.loads(line, parse_float=Decimal), SCHEMAS[entity]) for line in fh]


@pytest.fixture
def site(truth_dir):
    def start(catalog="V3_CATALOG", **knobs):
        cm = platforms.emulate("wix", store=EmulatorStore(truth_dir), knobs=Knobs(rate_limit=False, **knobs))
        h = cm.__enter__()
        h.emulator.catalog = catalog
        opened.append(cm)
        return h
    opened = []
    yield start
    for cm in opened:
        cm.__exit__(None, None, None)


def post(h, path, body, **headers):
    return requests.post(f"{h.base_url}/{path}", json=body, timeout=10,
                         headers={"Authorization": h.credentials["api_key"],
                                  "wix-site-id": site_id_of(h.credentials["site_url"]), **headers})


@pytest.mark.parametrize("catalog", ["V1_CATALOG", "V3_CATALOG"])
def test_the_catalog_version_is_detected(site, catalog):
    src = platforms.connect("wix", site(catalog))
    assert src.catalog == catalog and catalog in src.check()


@pytest.mark.parametrize("catalog", ["V1_CATALOG", "V3_CATALOG"])
def test_without_the_version_endpoint_a_428_decides(site, catalog):
    h = site(catalog)
    from werkzeug.routing import Map
    h.emulator.url_map = Map([r.empty() for r in type(h.emulator).url_map.iter_rules() if r.endpoint != "version"])
    assert platforms.connect("wix", h).catalog == catalog


def test_a_v1_site_is_read_field_by_field(site, truth_dir, tmp_path):
    src = platforms.connect("wix", site("V1_CATALOG"))
    staging = Staging(tmp_path)
    for entity, fields in CARRIED_V1.items():
        res = extract_entity(src, entity, staging)
        assert res.quarantined == 0, entity
        got = sorted(({f: r.get(f) for f in fields} for r in pq.read_table(staging.parquet_path(entity)).to_pylist()),
                     key=lambda r: int(r["source_id"]))
        want = sorted(({f: r.get(f) for f in fields} for r in as_held("wix", entity, truth(truth_dir, entity))),
                      key=lambda r: int(r["source_id"]))
        assert got == want, entity
    names = {m.record["name"] for m in src.records("manufacturers")}
    assert names == {m["name"] for m in truth(truth_dir, "manufacturers")}  # V1 brands: names on products


def test_a_site_without_stores_has_no_catalog_but_orders(site, truth_dir):
    src = platforms.connect("wix", site("STORES_NOT_INSTALLED"))
    assert list(src.records("products")) == [] and list(src.records("categories")) == []
    assert len(list(src.records("orders"))) == len(truth(truth_dir, "orders"))


def test_the_other_catalog_answers_428_in_wix_error_shape(site):
    h = site("V1_CATALOG")
    r = post(h, "stores/v3/products/search", {"search": {"cursorPaging": {"limit": 1}}})
    assert r.status_code == 428
    assert set(r.json()) == {"message", "details"} and r.json()["details"]["applicationError"]["code"]


def test_a_wrong_site_is_a_credentials_problem_naming_the_site_url(site):
    h = site()
    src = platforms.connect("wix", h, site_url="https://manage.wix.com/dashboard/0e5e1f6e-2222-4444-8888-000000000000/")
    with pytest.raises(ConnectionProblem) as exc:
        next(iter(src.records("orders")))
    assert exc.value.kind == "credentials" and "Site URL" in str(exc.value)


def test_hidden_products_and_pending_orders_only_when_asked(site, truth_dir):
    h = site("V1_CATALOG")
    plain = post(h, "stores/v1/products/query", {"query": {"paging": {"limit": 100}}}).json()
    held = as_held("wix", "products", truth(truth_dir, "products"))  # trashed ones were deleted: in no query
    hidden = sum(1 for p in held if p["status"] == "disabled")
    assert hidden and plain["totalResults"] == len(held) - hidden
    orders = post(h, "ecom/v1/orders/search", {"search": {"cursorPaging": {"limit": 100}}}).json()["orders"]
    assert all(o["status"] in ("APPROVED", "CANCELED") for o in orders)
    src = platforms.connect("wix", h)
    assert len([r for r in src.records("products")]) == len(held) < 60
    assert {r.record["status"] for r in src.records("orders")} >= {"on_hold"}


def test_a_cursor_beside_a_filter_is_refused_and_limits_are_checked(site):
    h = site()
    first = post(h, "stores/v3/brands/query", {"query": {"cursorPaging": {"limit": 1}}}).json()
    cursor = first["pagingMetadata"]["cursors"]["next"]
    r = post(h, "stores/v3/brands/query", {"query": {"cursorPaging": {"cursor": cursor}, "filter": {"name": "x"}}})
    assert r.status_code == 400 and "fieldViolations" in r.json()["details"]["validationError"]
    assert post(h, "stores/v1/products/query", {}).status_code == 428  # V3 site
    assert post(h, "stores/v3/brands/query", {"query": {"cursorPaging": {"limit": 101}}}).status_code == 400


def test_delta_reads_only_what_changed(site):
    h = site("V1_CATALOG")
    src = platforms.connect("wix", h)
    from datetime import datetime, timezone
    since = datetime.now(timezone.utc)
    p = h.emulator.store.get("products", 7)
    h.emulator.store.put("products", p)
    o = h.emulator.store.get("orders", 3)
    h.emulator.store.put("orders", o)
    assert [r.source_id for r in src.records("products", since)] == ["7"]
    assert [r.source_id for r in src.records("orders", since)] == ["3"]


def test_the_rate_limit_answers_429_and_is_explained(truth_dir):
    with platforms.emulate("wix", products=5) as h:
        h.emulator.window.quota = 2
        src = WixSource.connect(h.base_url, h.credentials, settings=FAST)
        with pytest.raises(ConnectionProblem) as exc:
            for e in ("tax_classes", "customers", "orders", "reviews"):
                list(src.records(e))
    assert exc.value.kind == "rate_limited" and "200 requests a minute" in str(exc.value)
