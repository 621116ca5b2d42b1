"""What is particular to Lightspeed eCom (C-Series): HTTP Basic key:secret and its error body, page/limit 250 with
the empty page past the last, the per-record resources (variants, images, order products), the three rate-limit
windows in one header (pacing before the 5-minute window is spent, a spent one explained), the language in the
path, updated_at_min deltas, since_id / created_at slices and the missing permission named."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import Knobs
from cart_pipelines.platforms.kit.http import ConnectionProblem, HttpSettings
from cart_pipelines.platforms.kit.source import Slice, SliceNotPossible
from cart_pipelines.platforms.kit.emulator import FixedWindow
from cart_pipelines.platforms.lightspeed.emulator import API_KEY, API_SECRET

OFF = Knobs(rate_limit=False)


@pytest.fixture(scope="module")
def shop():
    with platforms.emulate("lightspeed", products=30, knobs=OFF) as h:
        yield h


def get(h, path, auth=(API_KEY, API_SECRET), **params):
    return requests.get(f"{h.base_url}/en/{path}", params=params, auth=auth, timeout=10)


def test_wrong_secret_is_401_in_lightspeeds_error_form_and_explained(shop):
    r = get(shop, "products.json", auth=(API_KEY, "nope"))
    assert r.status_code == 401
    assert set(r.json()["error"]) == {"code", "method", "request", "message"}
    assert r.json()["error"]["request"] == "/en/products.json"
    with pytest.raises(ConnectionProblem) as exc:
        platforms.connect("lightspeed", shop, api_secret="nope").check()
    assert exc.value.kind == "credentials" and "API Secret" in str(exc.value) and "nope" not in str(exc.value)


def test_a_language_the_shop_lacks_is_404(shop):
    with pytest.raises(ConnectionProblem) as exc:
        platforms.connect("lightspeed", shop, language="xx").check()
    assert exc.value.kind == "not_found"


def test_paging_caps_limit_at_250_and_a_page_past_the_last_is_empty(shop):
    assert len(get(shop, "products.json", limit=1000).json()["products"]) == 30  # served as 250
    assert [p["id"] for p in get(shop, "products.json", limit=7, page=5).json()["products"]] == [29, 30]
    assert get(shop, "products.json", limit=7, page=6).json() == {"products": []}
    assert get(shop, "products/count.json").json() == {"count": 30}
    assert get(shop, "products/3.json").json()["product"]["id"] == 3
    assert get(shop, "products/999.json").status_code == 404


def test_variants_and_order_products_are_resources_of_their_own(shop):
    product = get(shop, "products/1.json").json()["product"]
    assert product["variants"]["resource"]["url"] == "variants?product=1"
    variants = get(shop, "variants.json", product=1).json()["variants"]
    assert sum(v["isDefault"] for v in variants) == 1
    src = platforms.connect("lightspeed", shop)
    truth = shop.emulator.store.get("products", 1)
    got = next(r.record for r in src.records("products") if r.source_id == "1")
    assert got["price"] == truth["price"] and got["sku"] == truth["sku"]
    assert [v["sku"] for v in got["variants"]] == [v["sku"] for v in truth.get("variants") or []]
    assert [i["url"] for i in got["images"]] == [i["url"] for i in truth.get("images") or []]
    order = next(iter(src.records("orders"))).record
    lines = get(shop, f"orders/{order['source_id']}/products.json").json()["orderProducts"]
    assert [i["sku"] for i in order["items"]] == [i["sku"] or None for i in lines]


def test_hidden_products_are_read_as_disabled(shop):
    src = platforms.connect("lightspeed", shop)
    hidden = {r.source_id for r in src.records("products") if r.record["status"] == "disabled"}
    truth = {str(p["source_id"]) for p in shop.emulator.store.page("products", 0, 1000)
             if p["status"] == "disabled"}
    assert hidden == truth


def test_three_windows_are_reported_and_the_pacer_stops_before_the_5_minute_one_is_spent():
    with platforms.emulate("lightspeed", products=5) as h:
        h.emulator.windows[0] = FixedWindow(6, 1.0)  # a 6-request "5-minute" window of one second
        h.emulator.quotas = (6, 3000, 12000)
        r = get(h, "brands.json")
        assert r.headers["X-RateLimit-Limit"] == "6/3000/12000"
        assert r.headers["X-RateLimit-Remaining"] == "5/2999/11999"
        assert len(r.headers["X-RateLimit-Reset"].split("/")) == 3
        src = platforms.connect("lightspeed", h)
        assert len(list(src.records("customers"))) > 0 and len(list(src.records("products"))) == h.emulator.store.count("products")
        assert src.pacer.waits >= 1 and src.client.retries == 0  # paced, never a 429


def test_a_spent_hourly_window_is_explained():
    with platforms.emulate("lightspeed", products=5) as h:
        h.emulator.windows[1] = FixedWindow(2, 3600.0)
        src = platforms.connect("lightspeed", h, settings=HttpSettings(max_attempts=2, max_server_wait=1.0))
        src.pacer.max_wait = 0.05  # the pacer would wait for the hour; here the 429 that follows is the point
        with pytest.raises(ConnectionProblem) as exc:
            list(src.records("customers"))
            list(src.records("orders"))
    assert exc.value.kind == "rate_limited" and "hourly" in str(exc.value)


def test_delta_reads_with_updated_at_min(shop):
    src = platforms.connect("lightspeed", shop)
    since = datetime(2024, 6, 1, tzinfo=timezone.utc)
    got = sorted((r.source_id for r in src.records("orders", since)), key=int)
    truth = sorted((str(o["source_id"]) for o in shop.emulator.store.page("orders", 0, 10 ** 6)
                    if datetime.fromisoformat(o["updated_at"].replace("Z", "+00:00")) >= since), key=int)
    assert got == truth and 0 < len(got)


def test_slices_by_id_and_created_date(shop):
    src = platforms.connect("lightspeed", shop)
    assert sorted((r.source_id for r in src.records_in("products", Slice("id", 11, 21))), key=int) == \
        [str(i) for i in range(11, 21)]
    march = Slice("created_at", datetime(2024, 3, 1, tzinfo=timezone.utc), datetime(2024, 4, 1, tzinfo=timezone.utc))
    truth = sorted((str(o["source_id"]) for o in shop.emulator.store.page("orders", 0, 10 ** 6)
                    if march.contains(o)), key=int)
    assert sorted((r.source_id for r in src.records_in("orders", march)), key=int) == truth
    assert src.id_bounds("products")[:2] == (30, 1)
    with pytest.raises(SliceNotPossible):
        list(src.records_in("categories", Slice("id", 1, 5)))


def test_missing_permission_is_named():
    with platforms.emulate("lightspeed", products=5, knobs=Knobs(denied_scopes=("Customers: read",))) as h:
        with pytest.raises(ConnectionProblem) as exc:
            list(platforms.connect("lightspeed", h).records("customers"))
    assert exc.value.kind == "permission" and "Customers: read" in str(exc.value)


def test_a_full_read_takes_the_variants_as_one_list_and_a_delta_per_changed_product():
    seen: list[str] = []
    knobs = Knobs(rate_limit=False, after_response=lambda r: seen.append(r.full_path))
    with platforms.emulate("lightspeed", products=30, knobs=knobs) as h:
        src = platforms.connect("lightspeed", h)
        full = list(src.records("products"))
        assert [p for p in seen if p.startswith("/en/variants.json")] == ["/en/variants.json?limit=250&page=1"]
        seen.clear()
        since = datetime(2024, 9, 1, tzinfo=timezone.utc)
        changed = list(src.records("products", since))
        assert 0 < len(changed) < len(full)
        assert len([p for p in seen if p.startswith("/en/variants.json?product=")]) == len(changed)
        assert {r.source_id: r.record["variants"] for r in changed} == \
            {r.source_id: r.record["variants"] for r in full if r.source_id in {c.source_id for c in changed}}


def _held(value, depth: int = 0):
    """The dicts a generator frame's locals hold, through lists, tuples, dicts and Rows (not through objects)."""
    if depth > 4:
        return
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _held(v, depth + 1)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _held(v, depth + 1)


def test_a_full_read_holds_a_page_of_variants_and_credit_notes_not_the_stores():
    """The variants and credit notes a full read takes as one list each are staged on disk (kit/parts.py) and
    joined a page of parents at a time: while the first page is read, what the source holds belongs to that page
    (the store's whole lists were held in dicts before), and nothing is lost (every product's variants, every
    order's credit notes come through)."""
    from cart_pipelines.platforms.kit import emulator_cases as cases
    from cart_pipelines.platforms.lightspeed import mapping
    with platforms.emulate("lightspeed", products=260, knobs=OFF) as h:  # two pages of 250 of each
        src = platforms.connect("lightspeed", h)
        read_all = {}
        for entity, mark, parent in (("products", "isDefault", "product"), ("orders", "isCreditNote", "order")):
            read = src._canonical(entity, None)
            records = [next(read)]
            first_page = {r["id"] for r in get(h, f"{entity}.json", limit=250).json()[entity]}
            held = [d for d in _held(dict(read.gi_frame.f_locals)) if mark in d]
            assert held and all(int(mapping.ref(d[parent])) in first_page for d in held), entity
            records += list(read)
            assert len(records) == get(h, f"{entity}/count.json").json()["count"] > 250
            read_all[entity] = {r["source_id"]: r for r in records}
        by_id, products = read_all["orders"], read_all["products"]
        truth = {str(o["source_id"]): o for o in h.emulator.store.page("orders", 0, 10 ** 6)}
        assert {k: [x["source_id"] for x in o["refunds"]] for k, o in by_id.items()} == \
            {k: [str(x["source_id"]) for x in cases.refunds(o)] for k, o in truth.items()}
        assert any(int(k) > 250 and o["refunds"] for k, o in by_id.items())
        assert all([v["sku"] for v in products[str(p["source_id"])]["variants"]] ==
                   [v["sku"] for v in p.get("variants") or []]
                   for p in h.emulator.store.page("products", 0, 10 ** 6) if str(p["source_id"]) in products)
        assert sum(bool(p["variants"]) for p in products.values()) > 10
