"""Squarespace-specific contract: the emulator answers as Squarespace's docs say (standard error object, cursor sent
alone, modifiedAfter/modifiedBefore together, User-Agent required, 300/min with a one-minute cool-down), and the
connector reads it that way (cursor-only follow-up pages, deltas, deletions, explained refusals)."""

from __future__ import annotations

import http.client
import json
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
import requests

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.connection_test import verify_source
from cart_pipelines.platforms.kit.emulator import Knobs
from cart_pipelines.platforms.kit.http import ConnectionProblem, HttpSettings
from cart_pipelines.platforms.squarespace.source import SquarespaceSource

NAME = "squarespace"
ERROR_FIELDS = {"type", "subtype", "message", "details", "contextId"}


@pytest.fixture(scope="module")
def site():
    with platforms.emulate(NAME, products=120, knobs=Knobs(rate_limit=False)) as h:
        yield h


def kept(h) -> list[str]:
    """The ids of the store's products a Squarespace shop has: a trashed one was deleted (no trash there)."""
    return [str(p["source_id"]) for p in h.emulator.store.page("products", 0, 10 ** 6)
            if p.get("lifecycle") != "trashed"]


def get(h, path, params=None, **headers):
    headers = {"Authorization": f"Bearer {h.credentials['api_key']}", "User-Agent": "contract-test", **headers}
    return requests.get(f"{h.base_url}/{path}", params=params, headers=headers, timeout=10)


def test_cursor_pages_and_the_cursor_alone(site):
    first = get(site, "v2/commerce/products", {"type": "PHYSICAL"}).json()
    assert len(first["products"]) == 50 and first["pagination"]["hasNextPage"]
    cursor = first["pagination"]["nextPageCursor"]
    assert first["pagination"]["nextPageUrl"] == f"/v2/commerce/products?cursor={cursor}"
    refused = get(site, "v2/commerce/products", {"cursor": cursor, "type": "PHYSICAL"})
    assert refused.status_code == 400 and set(refused.json()) == ERROR_FIELDS
    assert refused.json()["type"] == "INVALID_REQUEST_ERROR"
    seen = [p["id"] for p in first["products"]]
    while cursor:
        page = get(site, "v2/commerce/products", {"cursor": cursor}).json()
        seen += [p["id"] for p in page["products"]]
        cursor = page["pagination"]["nextPageCursor"]
    assert sorted(seen, key=int) == kept(site) and len(kept(site)) == 118  # 41 and 91 are trashed: deleted
    assert page["pagination"] == {"hasNextPage": False, "nextPageCursor": None, "nextPageUrl": None}


def test_connector_follows_with_the_cursor_only(site):
    asked = []
    site.emulator.knobs.after_response = lambda request: asked.append(dict(request.args))
    try:
        ids = [r.source_id for r in platforms.connect(NAME, site).records("products")]
    finally:
        site.emulator.knobs.after_response = None
    assert sorted(ids, key=int) == kept(site) and len(asked) == 3
    assert "type" in asked[0] and all(list(q) == ["cursor"] for q in asked[1:])


def test_modified_window_needs_both_ends_and_the_user_agent(site):
    half = get(site, "1.0/commerce/orders", {"modifiedAfter": "2024-01-01T00:00:00.000Z"})
    assert half.status_code == 400 and half.json()["subtype"] == "MISSING_ARGUMENT"
    # http.client sends no User-Agent of its own (requests/urllib3 would add theirs)
    conn = http.client.HTTPConnection(urlsplit(site.base_url).netloc, timeout=10)
    conn.request("GET", "/1.0/commerce/orders", headers={"Authorization": f"Bearer {site.credentials['api_key']}"})
    anonymous = conn.getresponse()
    assert anonymous.status == 400 and set(json.loads(anonymous.read())) == ERROR_FIELDS
    conn.close()
    wrong = get(site, "1.0/commerce/orders", Authorization="Bearer nope")
    assert wrong.status_code == 401 and wrong.json()["type"] == "AUTHORIZATION_ERROR"


def test_profiles_sort_and_filter(site):
    default = get(site, "1.0/profiles").json()["profiles"]
    assert [int(p["id"]) for p in default] == sorted((int(p["id"]) for p in default), reverse=True)
    customers = get(site, "1.0/profiles", {"filter": "isCustomer,true"}).json()["profiles"]
    assert customers and all(p["isCustomer"] for p in customers)
    one = default[0]
    assert [p["id"] for p in get(site, "1.0/profiles", {"filter": f"email,{one['email']}"}).json()["profiles"]] \
        == [one["id"]]


def test_delta_reads_only_changes_and_deletions_are_found():
    with platforms.emulate(NAME, products=60, knobs=Knobs(rate_limit=False)) as h:
        since = datetime.now(timezone.utc) - timedelta(seconds=1)
        store = h.emulator.store
        store.put("products", store.get("products", 7))
        store.put("orders", store.get("orders", 3))
        src = platforms.connect(NAME, h)
        assert [r.source_id for r in src.records("products", updated_since=since)] == ["7"]
        assert [r.source_id for r in src.records("orders", updated_since=since)] == ["3"]
        assert len(list(src.records("customers", updated_since=since))) == store.count("customers")  # no filter
        store.delete("products", 9)
        ids = set(src.ids("products"))
        assert "9" not in ids and len(ids) == len(kept(h)) == 58
        assert not src.has("reviews") and list(src.records("reviews")) == []


def test_refusals_are_explained():
    with platforms.emulate(NAME, products=5, knobs=Knobs(rate_limit=False, denied_scopes=("Profiles",))) as h:
        with pytest.raises(ConnectionProblem) as exc:
            list(platforms.connect(NAME, h).records("customers"))
        assert exc.value.kind == "permission" and "'Profiles' permission" in str(exc.value)
        assert "MISSING_SCOPE" in str(exc.value)
        assert len(list(platforms.connect(NAME, h).records("products"))) == h.emulator.store.count("products")
        bad = verify_source(platforms.connect(NAME, h, api_key="wrong-key"))
        assert not bad.ok and bad.kind == "credentials" and "API Key" in bad.message
        assert "wrong-key" not in bad.message
        good = verify_source(platforms.connect(NAME, h))
        assert good.ok and good.preview and "products readable" in good.message


def test_rate_limit_cool_down_answers_429_and_is_ridden_out():
    with platforms.emulate(NAME, products=120) as h:
        h.emulator.quota, h.emulator.window_s, h.emulator.cooldown_s = 2, 60.0, 1.0
        for _ in range(2):
            assert get(h, "1.0/commerce/store_pages").status_code == 200
        over = get(h, "1.0/commerce/store_pages")
        assert over.status_code == 429 and over.json()["type"] == "TOO_MANY_REQUESTS"
        assert set(over.json()) == ERROR_FIELDS and "Retry-After" not in over.headers
        assert get(h, "1.0/commerce/store_pages").status_code == 429  # still cooling down
        time.sleep(1.05)
        h.emulator.quota = 300
        src = SquarespaceSource.connect(h.base_url, h.credentials,
                                        settings=HttpSettings(max_attempts=12, max_backoff=0.5))
        # one request per half second now: the follow-up pages trip the limit and wait out its cool-down
        h.emulator.quota, h.emulator.window_s, h.emulator.cooldown_s = 1, 0.5, 0.5
        h.emulator._calls.clear()
        assert len([r for r in src.records("products")]) == len(kept(h))
        assert src.client.retries >= 1
