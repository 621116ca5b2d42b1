"""Magento-specific contract: the community client PyMagento against the emulator, searchCriteria paging and its
limits, Magento's error bodies, admin-token login, the host rate limit, delta filters and TLS."""

import json
from datetime import datetime, timezone
from decimal import Decimal

import dagster as dg
import pytest
import requests

from cart_pipelines.defs.platform_resources import MagentoSourceResource
from cart_pipelines.model.canonical import SCHEMAS
from cart_pipelines.model.coerce import coerce_record
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.kit.http import ConnectionProblem
from cart_pipelines.platforms.magento.emulator import GONE_PRODUCT, MagentoEmulator, option_code
from cart_pipelines.platforms.magento.source import PAGE_SIZE, MagentoSource
from cart_pipelines.sample.generator import StoreSize, generate_store

OFF = Knobs(rate_limit=False)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("magento")
    generate_store(d, seed=3, size=StoreSize.scaled(40))
    return d


@pytest.fixture(scope="module")
def shop(store_dir):
    """One emulator for the read-only tests (tests that change records start their own)."""
    with platforms.emulate("magento", store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as h:
        yield h


def truth(store_dir, entity):
    with open(store_dir / f"{entity}.jsonl", encoding="utf-8") as fh:
        return [json.loads(line, parse_float=Decimal) for line in fh]


def get(h, path, token=None, **params):
    token = h.credentials["access_token"] if token is None else token
    return requests.get(f"{h.base_url}/rest/default/{path}", params=params,
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)


# --- PyMagento (pip "pymagento", Bixoto), unmodified

def test_pymagento_reads_the_emulator(shop, store_dir):
    from magento import Magento

    client = Magento(token=shop.credentials["access_token"], base_url=shop.base_url, batch_page_size=PAGE_SIZE)
    products = list(client.get_products())
    assert sorted(p["id"] for p in products) == sorted(int(p["source_id"]) for p in truth(store_dir, "products"))
    assert len(list(client.get_customers())) == len(truth(store_dir, "customers"))
    assert len(list(client.get_orders())) == len(truth(store_dir, "orders"))
    assert [c["id"] for c in client.get_categories() if c["level"] >= 2] == \
        [int(c["source_id"]) for c in truth(store_dir, "categories")]
    assert [o["label"] for o in client.get_manufacturers() if o["value"]] == \
        [m["name"] for m in truth(store_dir, "manufacturers")]
    assert client.get_store_configs()[0]["weight_unit"] == "kgs"
    assert {c["class_type"] for c in client.get_tax_classes()} == {"PRODUCT", "CUSTOMER"}


def test_pymagento_default_page_size_hits_the_input_limit(shop):
    from magento import Magento
    from magento.exceptions import MagentoException

    client = Magento(token=shop.credentials["access_token"], base_url=shop.base_url)  # pages of 1000
    with pytest.raises(MagentoException) as exc:
        next(client.get_products())
    assert "Maximum SearchCriteria pageSize is" in str(exc.value)
    assert exc.value.parameters == {"max": 300}


# --- searchCriteria paging

def test_page_size_limit_default_and_past_the_last_page(shop):
    r = get(shop, "V1/products", **{"searchCriteria[pageSize]": 301})
    assert r.status_code == 400
    assert r.json() == {"message": "Maximum SearchCriteria pageSize is %max", "parameters": {"max": 300}}
    body = get(shop, "V1/products", **{"searchCriteria[currentPage]": 1}).json()
    assert len(body["items"]) == 20 and body["total_count"] == 40
    assert set(body) == {"items", "search_criteria", "total_count"}
    last = get(shop, "V1/products", **{"searchCriteria[pageSize]": 15, "searchCriteria[currentPage]": 3}).json()
    past = get(shop, "V1/products", **{"searchCriteria[pageSize]": 15, "searchCriteria[currentPage]": 99}).json()
    assert [p["id"] for p in last["items"]] == list(range(31, 41))
    assert past["items"] == [] and past["total_count"] == 40  # 2.4 no longer repeats the last page (#26986)
    assert past["search_criteria"]["current_page"] == 99  # Magento echoes what was asked


def test_connector_pages_by_id_ranges_never_by_page_number(store_dir, monkeypatch):
    from cart_pipelines.platforms.magento import source as magento

    monkeypatch.setattr(magento, "PAGE_SIZE", 10)  # 40 products: exactly four full pages
    asked = []
    knobs = Knobs(rate_limit=False, after_response=lambda r: asked.append(dict(r.args)))
    with platforms.emulate("magento", store=EmulatorStore(store_dir), knobs=knobs) as h:
        src = platforms.connect("magento", h)
        ids = [r.source_id for r in src.records("products")]
    assert ids == [str(i) for i in range(1, 41)]
    pages = [a for a in asked if "searchCriteria[pageSize]" in a]
    assert {a["searchCriteria[currentPage]"] for a in pages} == {"1"}  # numbered pages shift under changes
    bounds = [tuple(v for k, v in sorted(a.items()) if k.endswith("[value]")) for a in pages]
    # page 1; the highest id (one record sorted DESC); ids 11-20 and 21-30 in parallel, each one full request that
    # reaches its range's end; the open last range 31- (full), then its short page: records added meanwhile come too
    assert sorted(bounds) == sorted([(), (), ("10", "21"), ("20", "31"), ("30",), ("40",)])
    assert [a["searchCriteria[sortOrders][0][direction]"] for a in pages].count("DESC") == 1
    # with the store configuration; and each configurable product's children, each option attribute's labels once
    truth_products = truth(store_dir, "products")
    configurable = sum(bool(p["variants"]) for p in truth_products)
    codes = {option_code(o["name"]) for p in truth_products for v in p["variants"] for o in v["options"]}
    assert src.client.requests_made == 7 + configurable + len(codes)


def test_fields_parameter_trims_items(shop):
    body = get(shop, "V1/categories/list", fields="items[id,name],total_count",
               **{"searchCriteria[pageSize]": 5}).json()
    assert set(body) == {"items", "total_count"} and all(set(i) == {"id", "name"} for i in body["items"])


# --- errors and auth

def test_error_bodies(shop):
    wrong = get(shop, "V1/products", token="nope")
    assert wrong.status_code == 401
    assert wrong.json() == {"message": "The consumer isn't authorized to access %resources.",
                            "parameters": {"resources": "Magento_Catalog::products"}}
    missing = get(shop, "V1/nothing-here")
    assert missing.status_code == 404 and missing.json() == {"message": "Request does not match any route."}


def test_denied_acl_resource_is_a_401_and_the_connector_calls_it_a_permission(store_dir):
    knobs = Knobs(rate_limit=False, denied_scopes=("Magento_Customer::customer",))
    with platforms.emulate("magento", store=EmulatorStore(store_dir), knobs=knobs) as h:
        r = get(h, "V1/customers/search", **{"searchCriteria[pageSize]": 1})
        assert r.status_code == 401 and r.json()["parameters"] == {"resources": "Magento_Customer::customer"}
        with pytest.raises(ConnectionProblem) as exc:
            list(platforms.connect("magento", h).records("customers"))
    assert exc.value.kind == "permission" and "Magento_Customer::customer" in str(exc.value)
    assert h.credentials["access_token"] not in str(exc.value)


def test_admin_login_and_relogin_after_expiry(shop, store_dir):
    creds = {"username": MagentoEmulator.ADMIN_USERNAME, "password": MagentoEmulator.ADMIN_PASSWORD}
    src = MagentoSource.connect(shop.base_url, creds)
    first = next(iter(src.records("customers")))
    assert first.source_id == "1"
    shop.emulator.admin_tokens.clear()  # the 4-hour admin token expired
    assert len(list(src.records("orders"))) == len(truth(store_dir, "orders"))
    assert shop.emulator.issued == 2

    bad = MagentoSource.connect(shop.base_url, {"username": "api-admin", "password": "wrong-password-123"})
    with pytest.raises(ConnectionProblem) as exc:
        bad.check()
    assert exc.value.kind == "credentials" and "username, password" in str(exc.value)
    assert "The account sign-in was incorrect" in str(exc.value) and "wrong-password-123" not in str(exc.value)


def test_rate_limit_answers_429_with_retry_after_and_is_ridden_out(store_dir, tmp_path):
    with platforms.emulate("magento", store=EmulatorStore(store_dir), knobs=Knobs(plan="standard")) as h:
        answers = [get(h, "V1/store/storeConfigs") for _ in range(MagentoEmulator.PLANS["standard"] + 5)]
        limited = [r for r in answers if r.status_code == 429]
        assert limited and limited[0].json() == {"message": "Too Many Requests"}
        assert int(limited[0].headers["Retry-After"]) >= 1
        src = platforms.connect("magento", h)
        src.client.limiter = None  # unpaced, so the host limit is hit
        src.client.settings.max_attempts = 20
        assert len(list(src.records("orders"))) == len(truth(store_dir, "orders"))
        assert src.client.retries >= 1


# --- mapping details, delta, TLS, resource

def test_orders_items_and_product_images(shop, store_dir):
    src = platforms.connect("magento", shop)
    want = {o["source_id"]: o for o in truth(store_dir, "orders")}
    for rec in src.records("orders"):
        got = coerce_record(rec.record, SCHEMAS["orders"])
        expected = coerce_record(want[rec.source_id], SCHEMAS["orders"])
        strip = lambda items: [{k: v for k, v in i.items() if k != "source_id"} for i in items]  # noqa: E731
        # a line whose product was deleted since keeps the id Magento's order item holds (no such product now)
        gone = [{**i, "product_id": str(GONE_PRODUCT + int(i["product_id"]))} if cases.product_gone(expected, k)
                else i for k, i in enumerate(expected["items"])]
        assert strip(got["items"]) == strip(gone)
    products = {r.source_id: r.record for r in src.records("products")}
    for p in truth(store_dir, "products"):
        images = products[p["source_id"]]["images"]
        assert [(i["position"], i["alt"]) for i in images] == [(i["position"], i["alt"]) for i in p["images"]]
        assert all(i["url"].startswith(f"{shop.base_url}/media/catalog/product/") for i in images)
        assert [i["url"].rsplit("/", 1)[-1] for i in images] == [i["url"].rsplit("/", 1)[-1] for i in p["images"]]


def test_updated_since_filter_and_delta(store_dir):
    with platforms.emulate("magento", store=EmulatorStore(store_dir), knobs=OFF) as shop:
        check_delta(shop, store_dir)


def check_delta(shop, store_dir):
    since = datetime(2024, 6, 1, tzinfo=timezone.utc)
    src = platforms.connect("magento", shop)
    for entity in ("products", "customers", "orders", "categories"):
        want = sorted(r["source_id"] for r in truth(store_dir, entity)
                      if datetime.fromisoformat(str(r["updated_at"]).replace("Z", "+00:00")) > since)
        got = sorted(r.source_id for r in src.records(entity, updated_since=since))
        assert got == want, entity
    later = datetime.now(timezone.utc).replace(microsecond=0)
    changed = shop.emulator.store.get("products", 7)
    shop.emulator.store.put("products", {**changed, "name": "Endret navn"})
    got = [r.record for r in src.records("products", updated_since=later.replace(year=later.year - 1))]
    assert [r["name"] for r in got] == ["Endret navn"]
    # a category changed alone still gets its full path of names
    cats = list(src.records("categories", updated_since=since))
    full = {r.source_id: r.record["path"] for r in src.records("categories")}
    assert all(r.record["path"] == full[r.source_id] for r in cats)


def test_tls_and_check(store_dir):
    with platforms.emulate("magento", store=EmulatorStore(store_dir), tls=True, knobs=OFF) as h:
        assert h.base_url.startswith("https://")
        src = platforms.connect("magento", h)
        assert "store view default" in src.check() and "NOK" in src.check()
        assert h.credentials["access_token"] not in src.describe()


def test_resource_from_env(monkeypatch, shop):
    monkeypatch.setenv("MAGENTO_BASE_URL", shop.base_url)
    monkeypatch.setenv("MAGENTO_ACCESS_TOKEN", shop.credentials["access_token"])
    monkeypatch.delenv("MAGENTO_USERNAME", raising=False)
    resource = MagentoSourceResource.from_env()
    assert set(type(resource).model_fields) == {"base_url", "access_token", "username", "password"}
    src = dg.build_resources({"source": resource})
    with src as resources:
        assert "store view default" in resources.source.open().check()
