"""What is particular to Etsy: the shared secret in x-api-key, OAuth2 with PKCE and refreshed tokens, listings by
state, limit ≤ 100, the per-second limit and its headers, receipts' modified/created filters, no customers."""

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import requests

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.etsy import emulator as emu
from cart_pipelines.platforms.etsy.source import authorization, exchange_code
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.kit.http import ConnectionProblem
from cart_pipelines.platforms.kit.oauth import OAuthError, code_from_redirect
from cart_pipelines.platforms.kit.source import Slice, SliceNotPossible
from cart_pipelines.sample.generator import StoreSize, generate_store

OFF = Knobs(rate_limit=False)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("etsy")
    generate_store(d, seed=5, size=StoreSize.scaled(60))
    return d


@pytest.fixture
def etsy(store_dir):
    with platforms.emulate("etsy", store=EmulatorStore(store_dir), knobs=OFF) as h:
        yield h


def rows(store_dir, entity):
    with open(store_dir / f"{entity}.jsonl", encoding="utf-8") as fh:
        return [json.loads(line, parse_float=Decimal) for line in fh]


def api(h, path, token=None, key=f"{emu.KEYSTRING}:{emu.SHARED_SECRET}", **params):
    headers = {"x-api-key": key, **({"Authorization": f"Bearer {token}"} if token else {})}
    return requests.get(f"{h.base_url}/v3/application/{path}", headers=headers, params=params, timeout=10)


def token(h):
    r = requests.post(f"{h.base_url}/v3/public/oauth/token", timeout=10, data={
        "grant_type": "refresh_token", "client_id": emu.KEYSTRING, "refresh_token": h.credentials["refresh_token"]})
    assert r.status_code == 200 and r.json()["access_token"].startswith(f"{emu.USER_ID}.")
    return r.json()["access_token"]


def test_keystring_without_the_shared_secret_is_explained(etsy):
    src = platforms.connect("etsy", etsy, shared_secret="")
    with pytest.raises(ConnectionProblem) as exc:
        list(src.records("products"))
    assert exc.value.kind == "credentials" and "API Secret" in str(exc.value) and exc.value.status == 403


def test_pkce_authorization_walk_through(etsy):
    url, state, verifier = authorization(emu.KEYSTRING, emu.REDIRECT_URL, connect_url=f"{etsy.base_url}/oauth/connect")
    assert "code_challenge_method=S256" in url and "listings_r+shops_r+transactions_r" in url
    answer = requests.get(url, allow_redirects=False, timeout=10)
    code = code_from_redirect(answer.headers["Location"], state)
    with pytest.raises(OAuthError):  # another verifier does not redeem the code (and the code is spent)
        exchange_code(emu.KEYSTRING, emu.REDIRECT_URL, code, verifier + "x", api_url=etsy.base_url)
    url, state, verifier = authorization(emu.KEYSTRING, emu.REDIRECT_URL, connect_url=f"{etsy.base_url}/oauth/connect")
    code = code_from_redirect(requests.get(url, allow_redirects=False, timeout=10).headers["Location"], state)
    tokens = exchange_code(emu.KEYSTRING, emu.REDIRECT_URL, code, verifier, api_url=etsy.base_url)
    src = platforms.connect("etsy", etsy, refresh_token=tokens.refresh_token)
    assert src.check().startswith(f"Etsy shop {emu.SHOP_ID}")


def test_access_token_is_renewed_when_it_expires(etsy):
    src = platforms.connect("etsy", etsy)
    assert len(list(src.records("categories"))) > 0 and src.auth.refreshes == 1
    src.auth.tokens.expires_at = 0  # an hour later
    assert len(list(src.records("orders"))) > 0 and src.auth.refreshes == 2


def test_listings_come_one_state_at_a_time_with_limit_at_most_100(etsy, store_dir):
    t = token(etsy)
    shop = f"shops/{emu.SHOP_ID}/listings"
    assert api(etsy, shop, t, limit=101).status_code == 400 and api(etsy, shop, t, limit=0).status_code == 400
    assert len(api(etsy, shop, t).json()["results"]) == 25  # the default limit
    products = rows(store_dir, "products")
    counts = {s: api(etsy, shop, t, state=s, limit=1).json()["count"] for s in emu.m.ENABLED_STATES |
              {"inactive", "draft", "expired"}}
    assert sum(counts.values()) == len(products)
    assert counts["active"] < len(products) and counts["inactive"] + counts["draft"] + counts["expired"] == \
        sum(p["status"] == "disabled" for p in products)
    assert api(etsy, shop, None).status_code == 401  # listings_r needs the OAuth token
    assert api(etsy, "shops/1/listings", t).status_code == 404
    body = api(etsy, shop, t, includes="Images,Inventory").json()["results"][0]
    assert {"images", "inventory"} <= set(body) and "inventory" not in api(etsy, shop, t).json()["results"][0]


def test_rate_limit_headers_and_429(store_dir):
    with platforms.emulate("etsy", store=EmulatorStore(store_dir)) as h:
        answers = [api(h, f"shops/{emu.SHOP_ID}/sections") for _ in range(14)]
    first = answers[0].headers
    assert (first["x-limit-per-second"], first["x-limit-per-day"]) == ("10", "10000")
    assert int(first["x-remaining-this-second"]) <= 9 and int(first["x-remaining-today"]) <= 9999
    refused = [a for a in answers if a.status_code == 429]
    assert refused and refused[0].headers["retry-after"] == "1" and "error" in refused[0].json()


def test_missing_transactions_scope_is_named(store_dir):
    with platforms.emulate("etsy", store=EmulatorStore(store_dir), knobs=Knobs(denied_scopes=("transactions_r",))) as h:
        src = platforms.connect("etsy", h)
        assert list(src.records("categories"))  # sections need no scope
        with pytest.raises(ConnectionProblem) as exc:
            list(src.records("orders"))
    assert exc.value.kind == "permission" and "transactions_r" in str(exc.value)


def test_delta_orders_by_min_last_modified_listings_compared_here(etsy, store_dir):
    src = platforms.connect("etsy", etsy)
    since = datetime(2024, 6, 1, tzinfo=timezone.utc)
    want = sorted((o["source_id"] for o in rows(store_dir, "orders")
                   if datetime.fromisoformat(o["updated_at"].replace("Z", "+00:00")) > since), key=int)
    assert want and sorted((r.source_id for r in src.records("orders", updated_since=since)), key=int) == want
    now = datetime.now(timezone.utc) - timedelta(seconds=2)
    etsy.emulator.store.put("products", {**etsy.emulator.store.get("products", 7), "name": "Changed"})
    changed = list(src.records("products", updated_since=now))
    assert [(r.source_id, r.record["name"]) for r in changed] == [("7", "Changed")]


def test_order_slices_by_created_time(etsy, store_dir):
    src = platforms.connect("etsy", etsy)
    march = Slice("created_at", datetime(2024, 3, 1, tzinfo=timezone.utc), datetime(2024, 4, 1, tzinfo=timezone.utc))
    want = sorted((o["source_id"] for o in rows(store_dir, "orders") if march.contains(o)), key=int)
    assert want and sorted((r.source_id for r in src.records_in("orders", march)), key=int) == want
    with pytest.raises(SliceNotPossible):
        list(src.records_in("products", Slice("id", 1, 10)))


def test_no_customers_and_guest_orders(store_dir):
    with platforms.emulate("etsy", store=EmulatorStore(store_dir), knobs=OFF) as h:
        h.emulator.buyer_email_approved = False
        src = platforms.connect("etsy", h)
        assert not src.has("customers") and src.ids("customers") is None and list(src.records("customers")) == []
        orders = [r.record for r in src.records("orders")]
    assert orders and all(o["customer_id"] is None and o["email"] is None for o in orders)
    assert all(o["shipping_address"] is None or o["shipping_address"]["street"] for o in orders)
