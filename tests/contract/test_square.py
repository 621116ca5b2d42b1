"""What is particular to Square: the official SDK (`squareup`) runs unmodified against the emulator; orders are
searched in groups of at most 10 locations; Square's own error codes are explained; cursors page to the exact
end; delta and created-date slices use Square's filters."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest
import requests

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.kit.http import ConnectionProblem, HttpSettings
from cart_pipelines.platforms.kit.source import Slice, SliceNotPossible
from cart_pipelines.platforms.square.source import SquareSource
from cart_pipelines.sample.generator import StoreSize, generate_store

OFF = Knobs(rate_limit=False)
MARCH = Slice("created_at", datetime(2024, 3, 1, tzinfo=timezone.utc), datetime(2024, 4, 1, tzinfo=timezone.utc))


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("square")
    generate_store(d, seed=5, size=StoreSize.scaled(130))
    return d


@pytest.fixture(scope="module")
def square(store_dir):
    with platforms.emulate("square", store=EmulatorStore(store_dir), knobs=OFF) as h:
        yield h


def rows(store_dir, entity):
    with open(store_dir / f"{entity}.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def post(h, path, body, token=None):
    return requests.post(f"{h.base_url}/v2/{path}", json=body, timeout=10,
                         headers={"Authorization": f"Bearer {token or h.credentials['api_key']}",
                                  "Square-Version": "2025-08-20"})


def test_the_official_sdk_reads_the_emulator_unmodified(tmp_path):
    """A small store: the SDK parses each catalog object through its union models (~0.25 s an object)."""
    from square import Square
    from square.core.api_error import ApiError

    generate_store(tmp_path, seed=4, size=StoreSize(categories=4, manufacturers=1, tax_classes=2, products=12,
                                                    customers=23, orders=30, reviews=0))
    with platforms.emulate("square", store=EmulatorStore(tmp_path), knobs=OFF) as h:
        client = Square(token=h.credentials["api_key"], base_url=h.base_url)
        locations = client.locations.list().locations
        items = list(client.catalog.list(types="ITEM"))
        assert sorted(int(i.id) for i in items) == sorted(int(p["source_id"]) for p in rows(tmp_path, "products"))
        assert all(i.item_data.variations and i.item_data.variations[0].item_variation_data.price_money
                   for i in items)
        customers = list(client.customers.list(limit=5, sort_field="CREATED_AT"))  # the pager follows cursors
        want = sorted(int(c["source_id"]) for c in rows(tmp_path, "customers"))
        assert sorted(int(c.id) for c in customers) == want
        ids, cursor = [], None
        while True:
            found = client.orders.search(location_ids=[loc.id for loc in locations], limit=7, cursor=cursor)
            ids += [int(o.id) for o in found.orders or []]
            if not (cursor := found.cursor):
                break
        assert sorted(ids) == sorted(int(o["source_id"]) for o in rows(tmp_path, "orders"))
        assert client.catalog.object.get(object_id=items[0].id).object.id == items[0].id
        with pytest.raises(ApiError) as exc:  # the SDK's own error, with Square's body
            Square(token="wrong", base_url=h.base_url).locations.list()
        assert exc.value.status_code == 401 and exc.value.body["errors"][0]["code"] == "UNAUTHORIZED"
        assert h.emulator.versions_seen  # the SDK sends its Square-Version


def test_orders_are_searched_in_groups_of_ten_locations(store_dir):
    with platforms.emulate("square", store=EmulatorStore(store_dir), knobs=OFF) as h:
        h.emulator.extra_locations = 19  # 22 locations: three searches
        src = platforms.connect("square", h)
        got = [r.source_id for r in src.records("orders")]
        assert sorted(got, key=int) == sorted((o["source_id"] for o in rows(store_dir, "orders")), key=int)
        too_many = post(h, "orders/search", {"location_ids": [f"L{k}" for k in range(11)]})
    assert too_many.status_code == 400 and too_many.json()["errors"][0]["code"] == "ARRAY_LENGTH_TOO_LONG"


def test_square_errors_in_its_own_shape(square):
    bad = post(square, "orders/search", {"location_ids": ["LNOK0000"]}, token="EAAAwrong")
    assert bad.status_code == 401
    assert bad.json() == {"errors": [{"category": "AUTHENTICATION_ERROR", "code": "UNAUTHORIZED",
                                      "detail": "This request could not be authorized."}]}
    mismatch = post(square, "orders/search", {"location_ids": ["LNOK0000"], "query": {
        "filter": {"date_time_filter": {"updated_at": {"start_at": "2024-01-01T00:00:00Z"}}},
        "sort": {"sort_field": "CREATED_AT"}}})
    assert mismatch.status_code == 400 and mismatch.json()["errors"][0]["field"] == "query.sort.sort_field"
    cursor = post(square, "customers/search", {"cursor": "not-a-cursor"})
    assert cursor.json()["errors"][0]["code"] == "INVALID_CURSOR"


def test_insufficient_scopes_and_rate_limits_are_explained():
    with platforms.emulate("square", products=5, knobs=Knobs(denied_scopes=("ORDERS_READ",))) as h:
        with pytest.raises(ConnectionProblem) as exc:
            list(platforms.connect("square", h).records("orders"))
    assert exc.value.kind == "permission"
    assert "ORDERS_READ" in str(exc.value) and "INSUFFICIENT_SCOPES" in str(exc.value)
    with platforms.emulate("square", products=5, knobs=Knobs(storm=50)) as h:
        src = SquareSource.connect(h.base_url, h.credentials, settings=HttpSettings(max_attempts=3, max_backoff=0.05))
        with pytest.raises(ConnectionProblem) as exc:
            list(src.records("products"))
    assert exc.value.kind == "rate_limited" and "RATE_LIMITED" in str(exc.value)


def test_the_rate_limit_answers_429_and_the_connector_rides_it_out(store_dir):
    with platforms.emulate("square", store=EmulatorStore(store_dir), knobs=Knobs(plan="standard")) as h:
        src = platforms.connect("square", h)
        assert len(list(src.records("customers"))) == len(rows(store_dir, "customers"))
        with ThreadPoolExecutor(8) as pool:  # faster than the bucket refills, on a busy machine too
            burst = list(pool.map(lambda _: requests.get(
                f"{h.base_url}/v2/locations", timeout=5,
                headers={"Authorization": f"Bearer {h.credentials['api_key']}"}), range(120)))
    limited = [r for r in burst if r.status_code == 429]
    assert limited and "Retry-After" not in limited[0].headers
    assert limited[0].json()["errors"][0] == {"category": "RATE_LIMIT_ERROR", "code": "RATE_LIMITED",
                                              "detail": "This request was rate limited."}


@pytest.mark.parametrize("n", [100, 101, 200])
def test_catalog_cursor_pages_to_the_exact_end(tmp_path, n):
    generate_store(tmp_path, seed=3, size=StoreSize(categories=3, manufacturers=1, tax_classes=2, products=n,
                                                    customers=1, orders=1, reviews=0), entities=("products",))
    with platforms.emulate("square", store=EmulatorStore(tmp_path), knobs=OFF) as h:
        src = platforms.connect("square", h)
        ids = [r.source_id for r in src.records("products")]
        pages = src.client.requests_made
    assert sorted(ids, key=int) == [str(i) for i in range(1, n + 1)]
    assert pages == -(-n // 100)  # no request past the last page


def test_delta_reads_only_what_changed(square, store_dir):
    src = platforms.connect("square", square)
    since = datetime(2025, 6, 1, tzinfo=timezone.utc)
    for entity in ("products", "customers", "orders", "categories"):
        want = sorted(r["source_id"] for r in rows(store_dir, entity)
                      if datetime.fromisoformat(r["updated_at"].replace("Z", "+00:00")) > since)
        got = sorted(r.source_id for r in src.records(entity, updated_since=since))
        assert got == want and 0 < len(got) < len(rows(store_dir, entity)), entity


@pytest.mark.parametrize("entity", ["orders", "customers"])
def test_created_date_slices(square, store_dir, entity):
    want = sorted((r["source_id"] for r in rows(store_dir, entity) if MARCH.contains(r)), key=int)
    assert want
    got = list(platforms.connect("square", square).records_in(entity, MARCH))
    assert sorted((r.source_id for r in got), key=int) == want


def test_no_id_slices_no_brands_no_reviews(square):
    src = platforms.connect("square", square)
    with pytest.raises(SliceNotPossible, match="opaque strings"):
        list(src.records_in("products", Slice("id", 1, 10)))
    assert not src.has("manufacturers") and not src.has("reviews") and src.has("orders")
    assert list(src.records("manufacturers")) == [] and list(src.records("reviews")) == []
