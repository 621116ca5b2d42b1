"""What is particular to Ecwid: its 403s (wrong token vs missing scope), 402 on plans without API, the 600/min limit
with Retry-After, responseFields, the public token, sample products, the Personal Collection URL, delta by
updatedFrom and slices by created date."""

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import requests

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.ecwid import emulator as emu
from cart_pipelines.platforms.ecwid.source import EcwidSource, collection_credentials
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.kit.http import ConnectionProblem
from cart_pipelines.platforms.kit.source import Slice, SliceNotPossible
from cart_pipelines.sample.generator import StoreSize, generate_store

from .real_shop import as_held

OFF = Knobs(rate_limit=False)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ecwid")
    generate_store(d, seed=5, size=StoreSize.scaled(60))
    return d


@pytest.fixture(scope="module")
def ecwid(store_dir):
    with platforms.emulate("ecwid", store=EmulatorStore(store_dir), knobs=OFF) as h:
        yield h


def truth(store_dir, entity):
    with open(store_dir / f"{entity}.jsonl", encoding="utf-8") as fh:
        return [json.loads(line, parse_float=Decimal) for line in fh]


def get(h, path, token=emu.SECRET_TOKEN, **params):
    return requests.get(f"{h.base_url}/api/v3/{emu.STORE_ID}/{path}", params=params,
                        headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=10)


def test_wrong_token_and_missing_scope_are_both_403_and_told_apart(ecwid):
    r = get(ecwid, "products", token="secret_wrong")
    assert r.status_code == 403 and "scope" not in r.json()["errorMessage"]
    with pytest.raises(ConnectionProblem) as exc:
        platforms.connect("ecwid", ecwid, access_token="secret_wrong").check()
    assert exc.value.kind == "credentials" and "Store ID and Access Token" in str(exc.value)
    assert "secret_wrong" not in str(exc.value)
    with platforms.emulate("ecwid", products=5, knobs=Knobs(denied_scopes=("read_orders",))) as h:
        assert get(h, "orders").json() == {"errorMessage": "Access token doesn't have `read_orders` scope"}
        with pytest.raises(ConnectionProblem) as exc:
            list(platforms.connect("ecwid", h).records("orders"))
    assert exc.value.kind == "permission" and "read_orders" in str(exc.value)


def test_a_plan_without_api_is_explained():
    with platforms.emulate("ecwid", products=5, knobs=Knobs(plan="free")) as h:
        assert get(h, "products").status_code == 402
        with pytest.raises(ConnectionProblem) as exc:
            platforms.connect("ecwid", h).check()
    assert exc.value.kind == "permission" and "paid plan" in str(exc.value)


def test_rate_limit_is_600_a_minute_with_retry_after():
    with platforms.emulate("ecwid", products=5) as h:
        window = emu.FixedWindow(emu.PER_MINUTE, 60.0)
        window.used = emu.PER_MINUTE - 1  # as if 599 requests went this minute
        h.emulator.windows[emu.SECRET_TOKEN] = window
        assert get(h, "products", limit=1).status_code == 200
        r = get(h, "products", limit=1)
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60 and "errorMessage" in r.json()


def test_paging_body_limits_and_response_fields(ecwid):
    body = get(ecwid, "products", limit=500, offset=50).json()  # 59: product 41 is trashed, deleted on Ecwid
    assert (body["total"], body["count"], body["offset"], body["limit"]) == (59, 9, 50, 100)
    assert get(ecwid, "customers").json()["limit"] == 10  # customers default to 10 a page
    trimmed = get(ecwid, "products", responseFields="total,items(id)", limit=2).json()
    assert trimmed == {"total": 59, "items": [{"id": 1}, {"id": 2}]}
    assert get(ecwid, "products", updatedFrom="yesterday").status_code == 400


def test_public_token_sees_only_enabled_products(ecwid, store_dir):
    enabled = sum(1 for p in truth(store_dir, "products") if p["status"] == "enabled")
    assert get(ecwid, "products", token=emu.PUBLIC_TOKEN).json()["total"] == enabled < 60
    assert get(ecwid, "orders", token=emu.PUBLIC_TOKEN).status_code == 403


def test_sample_products_are_left_out(store_dir):
    with platforms.emulate("ecwid", store=EmulatorStore(store_dir), knobs=OFF) as h:
        h.emulator.sample_products = 3
        assert get(h, "products").json()["total"] == 62  # 59 of the store's (41 was deleted) and 3 samples
        src = platforms.connect("ecwid", h)
        assert len(list(src.records("products"))) == 59 and len(list(src.ids("products"))) == 59


def test_personal_collection_url_gives_store_id_and_token(ecwid):
    src = EcwidSource.connect(ecwid.base_url, {"personal_collection_url": ecwid.emulator.collection_url()})
    assert src.store_id == str(emu.STORE_ID) and "products" in src.check()
    assert collection_credentials({"variable": [{"key": "storeId", "value": "42"},
                                                {"key": "token", "value": "secret_x"}]}) == ("42", "secret_x")
    with pytest.raises(ConnectionProblem) as exc:
        EcwidSource.connect(ecwid.base_url, {})
    assert exc.value.kind == "credentials"


def test_delta_by_updated_from(ecwid, store_dir):
    since = datetime(2024, 6, 1, tzinfo=timezone.utc)
    src = platforms.connect("ecwid", ecwid)
    for entity in ("products", "customers", "orders", "reviews"):
        held = as_held("ecwid", entity, truth(store_dir, entity))  # trashed reviews are deleted on Ecwid
        want = sorted((r["source_id"] for r in held if r["updated_at"] >= "2024-06-01T00:00:00Z"), key=int)
        got = sorted((r.source_id for r in src.records(entity, updated_since=since)), key=int)
        assert got == want, entity


def test_slices_by_created_date_and_no_id_ranges(ecwid, store_dir):
    part = Slice("created_at", datetime(2024, 3, 1, tzinfo=timezone.utc), datetime(2024, 4, 1, tzinfo=timezone.utc))
    src = platforms.connect("ecwid", ecwid)
    want = sorted((r["source_id"] for r in truth(store_dir, "orders") if part.contains(r)), key=int)
    assert want and sorted((r.source_id for r in src.records_in("orders", part)), key=int) == want
    with pytest.raises(SliceNotPossible):
        src.records_in("products", Slice("id", 1, 20))


def test_deletions_are_found_from_id_listings(store_dir):
    with platforms.emulate("ecwid", store=EmulatorStore(store_dir), knobs=OFF) as h:
        h.emulator.store.delete("orders", 7)
        src = platforms.connect("ecwid", h)
        ids = list(src.ids("orders"))
        assert "7" not in ids and len(ids) == len(truth(store_dir, "orders")) - 1
        assert sorted(src.ids("tax_classes")) == sorted(t["source_id"] for t in truth(store_dir, "tax_classes"))
