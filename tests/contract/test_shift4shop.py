"""What is particular to Shift4Shop (3dCart): three auth headers, 1-based offsets ending in a 404, countonly,
order statuses by id with abandoned checkouts, zone-less store times, lastupdatestart deltas and order slices."""

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.kit.http import ConnectionProblem
from cart_pipelines.platforms.kit.source import Slice, SliceNotPossible
from cart_pipelines.platforms.shift4shop.emulator import Shift4ShopEmulator
from cart_pipelines.sample.generator import StoreSize, generate_store


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("s4s")
    generate_store(d, seed=3, size=StoreSize.scaled(30))
    return d


@pytest.fixture()
def shop(store_dir):
    with platforms.emulate("shift4shop", store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as h:
        yield h


def truth(store_dir, entity):
    return [json.loads(line) for line in open(store_dir / f"{entity}.jsonl", encoding="utf-8")]


def get(h, path, headers=None, **params):
    c = h.credentials
    auth = {"SecureURL": c["store_url"], "PrivateKey": c["private_key"], "Token": c["token"]}
    return requests.get(f"{h.base_url}/3dCartWebAPI/v1/{path}", params=params, headers={**auth, **(headers or {})},
                        timeout=10)


def test_each_of_the_three_headers_is_required(shop):
    assert get(shop, "Products").status_code == 200
    for header in ("SecureURL", "PrivateKey", "Token"):
        r = get(shop, "Products", headers={header: "wrong"})
        assert r.status_code == 401 and r.json() == {"Message": "Authorization has been denied for this request."}
    with pytest.raises(ConnectionProblem) as exc:
        list(platforms.connect("shift4shop", shop, token="not-the-token").records("orders"))
    assert exc.value.kind == "credentials" and "API Key" in str(exc.value) and "not-the-token" not in str(exc.value)


def test_offset_counts_from_one_and_ends_in_a_404(shop, store_dir):
    n = len(truth(store_dir, "products"))
    first = get(shop, "Products", limit=5).json()  # offset defaults to 1
    assert [p["SKUInfo"]["CatalogID"] for p in first] == [1, 2, 3, 4, 5]
    assert [p["SKUInfo"]["CatalogID"] for p in get(shop, "Products", limit=5, offset=6).json()] == [6, 7, 8, 9, 10]
    assert len(get(shop, "Products", limit=500).json()) == min(n, 200)  # served at most 200
    past = get(shop, "Products", offset=n + 1)
    assert past.status_code == 404 and past.json()[0]["Message"] == "Offset amount exceeds the total number of records"
    assert get(shop, "Products", countonly=1).json() == {"TotalCount": n}
    assert "Shift4Shop store" in platforms.connect("shift4shop", shop).check()


def test_xml_when_asked(shop):
    r = get(shop, "Manufacturers", headers={"Accept": "application/xml"})
    assert r.headers["Content-Type"].startswith("application/xml")
    assert r.text.startswith('<?xml version="1.0" encoding="utf-8"?><ArrayOfManufacturer><Manufacturer><ManufacturerID>')


def test_statuses_named_by_the_store_and_abandoned_checkouts_left_out(store_dir):
    class WithCheckouts(Shift4ShopEmulator):
        incomplete_orders = 3
    from cart_pipelines.platforms.kit.emulator import running
    with running(WithCheckouts(EmulatorStore(store_dir), Knobs(rate_limit=False))) as h:
        raw = get(h, "Orders", limit=200).json()
        assert sum(o["OrderStatusID"] == 7 for o in raw) == 3
        got = {r.source_id: r.record for r in platforms.connect("shift4shop", h).records("orders")}
    want = {o["source_id"]: o for o in truth(store_dir, "orders")}
    assert got.keys() == want.keys()
    assert all(got[k]["status"] == want[k]["status"] and got[k]["currency"] == "USD" for k in want)


def test_store_times_without_offset_are_read_in_the_store_zone(store_dir):
    class Eastern(Shift4ShopEmulator):
        timezone = "America/New_York"
    from cart_pipelines.platforms.kit.emulator import running
    with running(Eastern(EmulatorStore(store_dir), Knobs(rate_limit=False))) as h:
        first = get(h, "Orders", limit=1).json()[0]
        assert "+" not in first["OrderDate"] and "Z" not in first["OrderDate"]
        got = {r.source_id: r.record["created_at"] for r in platforms.connect("shift4shop", h).records("orders")}
        utc = {r.source_id: r.record["created_at"]
               for r in platforms.connect("shift4shop", h, timezone="UTC").records("orders")}
    want = {o["source_id"]: o["created_at"] for o in truth(store_dir, "orders")}
    assert got == want and utc != want


def test_delta_by_lastupdatestart(shop, store_dir):
    since = datetime.now(timezone.utc) - timedelta(seconds=2)
    src = platforms.connect("shift4shop", shop)
    for entity in ("products", "customers", "orders", "categories"):
        assert list(src.records(entity, updated_since=since)) == [], entity
    product = shop.emulator.store.get("products", 3)
    shop.emulator.store.put("products", {**product, "name": "Renamed"})
    changed = list(src.records("products", updated_since=since))
    assert [(r.source_id, r.record["name"]) for r in changed] == [("3", "Renamed")]
    assert sorted(src.ids("products"), key=int) == [str(i) for i in range(1, len(truth(store_dir, "products")) + 1)]


def test_orders_sliced_by_created_date(shop, store_dir):
    src = platforms.connect("shift4shop", shop)
    part = Slice("created_at", datetime(2024, 3, 1, tzinfo=timezone.utc), datetime(2024, 4, 1, tzinfo=timezone.utc))
    want = sorted(o["source_id"] for o in truth(store_dir, "orders") if part.contains(o))
    assert want and sorted(r.source_id for r in src.records_in("orders", part)) == want
    with pytest.raises(SliceNotPossible):
        src.records_in("products", Slice("id", 1, 10))
    assert not src.has("tax_classes") and not src.has("reviews")


def test_missing_read_permission_is_named(store_dir):
    with platforms.emulate("shift4shop", store=EmulatorStore(store_dir), knobs=Knobs(denied_scopes=("Orders",))) as h:
        with pytest.raises(ConnectionProblem) as exc:
            list(platforms.connect("shift4shop", h).records("orders"))
    assert exc.value.kind == "permission" and "Orders" in str(exc.value)
