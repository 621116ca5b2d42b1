"""Backfill slices: a connector's slice filter returns exactly the generator's records inside the slice, read with
the platform's own filter (the emulator applies it as the platform documents), and platforms without such a
filter say so."""

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.kit.source import Slice, SliceNotPossible
from cart_pipelines.platforms.store_export.source import StoreExport
from cart_pipelines.sample.generator import StoreSize, generate_store

OFF = Knobs(rate_limit=False)
MARCH = Slice("created_at", datetime(2024, 3, 1, tzinfo=timezone.utc), datetime(2024, 4, 1, tzinfo=timezone.utc))
IDS = Slice("id", 11, 31)
YEAR = Slice("created_at", datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2025, 1, 1, tzinfo=timezone.utc))


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("slices")
    generate_store(d, seed=5, size=StoreSize.scaled(60))
    return d


def truth(store_dir, entity, part: Slice) -> list[str]:
    with open(store_dir / f"{entity}.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line, parse_float=Decimal) for line in fh]
    return sorted((r["source_id"] for r in rows if part.contains(r)), key=int)


def ids(records) -> list[str]:
    return sorted((r.source_id for r in records), key=int)


def test_slice_bounds_are_half_open():
    assert IDS.contains({"source_id": "11"}) and IDS.contains({"source_id": "30"})
    assert not IDS.contains({"source_id": "31"}) and not IDS.contains({"source_id": "x"})
    assert MARCH.contains({"created_at": "2024-03-01T00:00:00Z"})
    assert not MARCH.contains({"created_at": "2024-04-01T00:00:00Z"}) and not MARCH.contains({"created_at": None})
    with pytest.raises(ValueError):
        Slice("updated_at", 1, 2)


@pytest.mark.parametrize("entity,part", [("orders", MARCH), ("products", IDS), ("customers", IDS)])
def test_store_export_slice(store_dir, entity, part):
    src = StoreExport(store_dir)
    expected = truth(store_dir, entity, part)
    assert expected, "the slice must not be empty for the test to mean anything"
    assert ids(src.records_in(entity, part)) == expected
    count, lo, hi = src.id_bounds(entity)
    assert (count, lo) == (sum(1 for _ in open(store_dir / f"{entity}.jsonl")), 1) and hi >= count


@pytest.fixture(scope="module")
def magento(store_dir):
    with platforms.emulate("magento", store=EmulatorStore(store_dir), knobs=OFF) as h:
        yield h


@pytest.mark.parametrize("entity,part", [("orders", MARCH), ("products", IDS), ("customers", IDS),
                                         ("orders", IDS), ("products", MARCH)])
def test_magento_slice_by_search_criteria(magento, store_dir, entity, part):
    src = platforms.connect("magento", magento)
    got = list(src.records_in(entity, part))
    assert ids(got) == truth(store_dir, entity, part)
    assert all(part.contains(r.record) for r in got)


def test_magento_id_bounds_in_two_requests(magento, store_dir):
    src = platforms.connect("magento", magento)
    before = src.client.requests_made
    count, lo, hi = src.id_bounds("products")
    rows = [json.loads(line) for line in open(store_dir / "products.jsonl", encoding="utf-8")]
    assert (count, lo, hi) == (len(rows), min(int(r["source_id"]) for r in rows),
                               max(int(r["source_id"]) for r in rows))
    assert src.client.requests_made - before <= 3  # the store configuration may be read once too


def test_magento_has_no_slice_of_manufacturers(magento):
    with pytest.raises(SliceNotPossible, match="full_migration"):
        list(platforms.connect("magento", magento).records_in("manufacturers", IDS))


@pytest.fixture(scope="module")
def woo(store_dir):
    with platforms.emulate("woocommerce", store=EmulatorStore(store_dir), knobs=OFF) as h:
        yield h


def test_woocommerce_orders_by_after_and_before(woo, store_dir):
    src = platforms.connect("woocommerce", woo)
    assert ids(src.records_in("orders", MARCH)) == truth(store_dir, "orders", MARCH)


def test_woocommerce_window_edges_are_exact(woo, store_dir):
    """A window that starts on an order's creation second includes it; one that ends there excludes it."""
    rows = [json.loads(line) for line in open(store_dir / "orders.jsonl", encoding="utf-8")]
    first = sorted(rows, key=lambda r: r["created_at"])[5]
    at = datetime.fromisoformat(first["created_at"].replace("Z", "+00:00"))
    src = platforms.connect("woocommerce", woo)
    assert first["source_id"] in ids(src.records_in("orders", Slice("created_at", at, at.replace(year=at.year + 1))))
    assert first["source_id"] not in ids(src.records_in("orders", Slice("created_at", at.replace(year=2020), at)))


@pytest.mark.parametrize("entity", ["products", "customers"])
def test_woocommerce_says_it_cannot_slice_by_id(woo, entity):
    with pytest.raises(SliceNotPossible, match="no id-range filter"):
        platforms.connect("woocommerce", woo).records_in(entity, IDS)


@pytest.fixture(scope="module")
def shopify(store_dir):
    with platforms.emulate("shopify", store=EmulatorStore(store_dir), knobs=OFF) as h:
        yield h


@pytest.mark.parametrize("entity,part", [("orders", MARCH), ("products", IDS), ("customers", IDS),
                                         ("orders", IDS), ("products", MARCH)])
def test_shopify_slice_by_search_syntax(shopify, store_dir, entity, part):
    src = platforms.connect("shopify", shopify)
    got = list(src.records_in(entity, part))
    assert ids(got) == truth(store_dir, entity, part) and truth(store_dir, entity, part)
    assert all(part.contains(r.record) for r in got)


def test_shopify_slice_in_a_bulk_query(shopify, store_dir):
    """Above the bulk threshold the same search goes into the bulk operation's query."""
    src = platforms.connect("shopify", shopify)
    src.bulk_threshold = 0
    assert ids(src.records_in("orders", MARCH)) == truth(store_dir, "orders", MARCH)


def test_shopify_window_edges_are_exact(shopify, store_dir):
    """created_at:>= includes the order created on the window's first second; created_at:< excludes its end."""
    first = sorted(truth_rows(store_dir, "orders"), key=lambda r: r["created_at"])[5]
    at = datetime.fromisoformat(first["created_at"].replace("Z", "+00:00"))
    src = platforms.connect("shopify", shopify)
    assert first["source_id"] in ids(src.records_in("orders", Slice("created_at", at, at.replace(year=at.year + 1))))
    assert first["source_id"] not in ids(src.records_in("orders", Slice("created_at", at.replace(year=2020), at)))


@pytest.mark.parametrize("platform,entity", [("shopify", "products"), ("shopify", "customers"),
                                             ("bigcommerce", "products")])
def test_id_bounds_in_one_or_two_requests(request, store_dir, platform, entity):
    src = platforms.connect(platform, request.getfixturevalue(platform))
    before = src.client.requests_made
    rows = truth_rows(store_dir, entity)
    assert src.id_bounds(entity) == (len(rows), min(int(r["source_id"]) for r in rows),
                                     max(int(r["source_id"]) for r in rows))
    assert src.client.requests_made - before <= 2


@pytest.fixture(scope="module")
def bigcommerce(store_dir):
    with platforms.emulate("bigcommerce", store=EmulatorStore(store_dir), knobs=OFF) as h:
        yield h


@pytest.mark.parametrize("entity,part", [("orders", MARCH), ("orders", IDS), ("products", IDS),
                                         ("customers", YEAR)])
def test_bigcommerce_slice_by_min_and_max(bigcommerce, store_dir, entity, part):
    src = platforms.connect("bigcommerce", bigcommerce)
    got = list(src.records_in(entity, part))
    assert ids(got) == truth(store_dir, entity, part) and truth(store_dir, entity, part)


def test_bigcommerce_edges_are_inclusive_bounds_one_before_the_end(bigcommerce, store_dir):
    """min_* and max_* include their value, so [start, end) is sent as start .. end - 1 (id or second)."""
    src = platforms.connect("bigcommerce", bigcommerce)
    assert ids(src.records_in("products", Slice("id", 11, 12))) == ["11"]
    first = sorted(truth_rows(store_dir, "orders"), key=lambda r: r["created_at"])[5]
    at = datetime.fromisoformat(first["created_at"].replace("Z", "+00:00"))
    assert first["source_id"] in ids(src.records_in("orders", Slice("created_at", at, at.replace(year=at.year + 1))))
    assert first["source_id"] not in ids(src.records_in("orders", Slice("created_at", at.replace(year=2020), at)))


def test_bigcommerce_says_customers_have_no_id_range(bigcommerce):
    src = platforms.connect("bigcommerce", bigcommerce)
    with pytest.raises(SliceNotPossible, match="no id-range filter.*full_migration"):
        src.records_in("customers", IDS)
    with pytest.raises(SliceNotPossible, match="no id-range filter"):
        src.id_bounds("customers")


def truth_rows(store_dir, entity) -> list[dict]:
    return [json.loads(line) for line in open(store_dir / f"{entity}.jsonl", encoding="utf-8")]
