"""WooCommerce-specific contract: the official `woocommerce` client (wc/v3) against the emulator over plain HTTP
(OAuth 1.0a) and TLS (Basic), WordPress pagination and its limits, error bodies, the host rate limit, delta."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from woocommerce import API
from woocommerce.oauth import OAuth

from cart_pipelines.defs.platform_resources import WooCommerceSourceResource
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, FixedWindow, Knobs
from cart_pipelines.platforms.kit.http import ConnectionProblem, HttpSettings
from cart_pipelines.platforms.woocommerce.source import WooCommerceSource
from cart_pipelines.sample.generator import StoreSize, generate_store

NAME = "woocommerce"
FAST = Knobs(rate_limit=False)


def official(h, **kwargs) -> API:
    return API(url=h.base_url, version="wc/v3", timeout=10, verify_ssl=h.ca_file or True, **h.credentials, **kwargs)


@pytest.fixture(scope="module")
def shop():
    with platforms.emulate(NAME, products=30, knobs=Knobs(rate_limit=False)) as h:
        yield h


# --- the official client --------------------------------------------------------------------------------------------
def test_official_client_over_http_signs_with_oauth(shop):
    wc = official(shop)
    r = wc.get("products", params={"per_page": 5, "orderby": "id", "order": "asc"})
    assert r.status_code == 200, r.text
    assert [p["id"] for p in r.json()] == [1, 2, 3, 4, 5]
    assert r.headers["X-WP-Total"] == "30" and r.headers["X-WP-TotalPages"] == "6"
    assert "oauth_signature=" in r.url and "consumer_secret" not in r.url
    # parameters with characters that are encoded twice in the base string, and a boolean
    since = "2023-06-01T00:00:00"
    r = wc.get("orders", params={"modified_after": since, "dates_are_gmt": True, "per_page": 100, "_fields": "id"})
    assert r.status_code == 200, r.text
    assert 0 < len(r.json()) < 60 and set(r.json()[0]) == {"id"}
    for endpoint in ("products/categories", "products/brands", "customers", "products/reviews", "taxes",
                     "taxes/classes", "products/2/variations"):
        assert wc.get(endpoint).status_code == 200, endpoint


def test_official_client_wrong_key_and_wrong_secret_over_http(shop):
    r = API(url=shop.base_url, consumer_key="ck_nope", consumer_secret="cs_nope", version="wc/v3").get("products")
    assert r.status_code == 401
    assert r.json() == {"code": "woocommerce_rest_authentication_error", "message": "Consumer key is invalid.",
                        "data": {"status": 401}}
    wc = API(url=shop.base_url, consumer_key=shop.credentials["consumer_key"], consumer_secret="cs_wrong",
             version="wc/v3")
    r = wc.get("products")
    assert r.status_code == 401
    assert r.json()["message"] == "Invalid signature - provided signature does not match."


def test_official_client_over_tls_with_basic_and_query_string_auth():
    with platforms.emulate(NAME, products=10, tls=True, knobs=FAST) as h:
        assert h.base_url.startswith("https://")
        r = official(h).get("products", params={"per_page": 3})
        assert r.status_code == 200 and len(r.json()) == 3
        assert official(h, query_string_auth=True).get("customers").status_code == 200
        # an unknown key over Basic is not an authentication error: the request is simply not logged in
        r = API(url=h.base_url, consumer_key="ck_x", consumer_secret="cs_x", verify_ssl=h.ca_file).get("products")
        assert r.status_code == 401 and r.json()["code"] == "woocommerce_rest_cannot_view"
        assert r.json()["message"] == "Sorry, you cannot list resources."
        r = API(url=h.base_url, consumer_key=h.credentials["consumer_key"], consumer_secret="cs_x",
                verify_ssl=h.ca_file).get("products")
        assert r.status_code == 401 and r.json()["message"] == "Consumer secret is invalid."
        # and the connector reads over TLS with the CA file, authenticating with Basic
        src = platforms.connect(NAME, h)
        assert src.client.session.auth.__class__.__name__ == "HTTPBasicAuth"
        assert len(list(src.records("products"))) == 10


def test_oauth_replayed_nonce_stale_timestamp_and_sha1(shop):
    key, secret = shop.credentials["consumer_key"], shop.credentials["consumer_secret"]
    url = f"{shop.base_url}/wp-json/wc/v3/products?per_page=1"
    signed = OAuth(url, key, secret, version="wc/v3", method="GET").get_oauth_url()
    assert requests.get(signed, timeout=10).status_code == 200
    again = requests.get(signed, timeout=10)
    assert again.status_code == 401 and again.json()["message"] == "Invalid nonce - nonce has already been used."
    stale = OAuth(url, key, secret, version="wc/v3", oauth_timestamp=int(time.time()) - 3600).get_oauth_url()
    assert requests.get(stale, timeout=10).json()["message"] == "Invalid timestamp."
    # HMAC-SHA1, signed here from the OAuth 1.0a rules (RFC 5849 one-legged, secret + "&")
    import base64
    import hashlib
    import hmac
    from urllib.parse import quote, urlencode

    params = {"per_page": "2", "oauth_consumer_key": key, "oauth_timestamp": str(int(time.time())),
              "oauth_nonce": "sha1nonce", "oauth_signature_method": "HMAC-SHA1"}
    enc = lambda s: quote(s, safe="-_.~")  # noqa: E731
    norm = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()))
    base = f"GET&{enc(url.split('?')[0])}&{enc(norm)}"
    params["oauth_signature"] = base64.b64encode(hmac.new(f"{secret}&".encode(), base.encode(),
                                                          hashlib.sha1).digest()).decode()
    r = requests.get(f"{url.split('?')[0]}?{urlencode(params)}", timeout=10)
    assert r.status_code == 200 and len(r.json()) == 2
    partial = requests.get(f"{url}&oauth_consumer_key={key}&oauth_nonce=x", timeout=10)
    assert partial.json() == {"code": "woocommerce_rest_authentication_missing_parameter",
                              "message": "Missing OAuth parameters oauth_timestamp, oauth_signature, "
                                         "oauth_signature_method", "data": {"status": 401}}


# --- pagination ------------------------------------------------------------------------------------------------------
def test_per_page_limit_default_and_links(shop):
    wc = official(shop)
    r = wc.get("products", params={"per_page": 101})
    assert r.status_code == 400
    message = "per_page must be between 1 (inclusive) and 100 (inclusive)"
    assert r.json() == {"code": "rest_invalid_param", "message": "Invalid parameter(s): per_page",
                        "data": {"status": 400, "params": {"per_page": message},
                                 "details": {"per_page": {"code": "rest_out_of_bounds", "message": message,
                                                          "data": None}}}}
    r = wc.get("products")
    assert len(r.json()) == 10 and r.headers["X-WP-TotalPages"] == "3"
    dates = [p["date_created_gmt"] for p in r.json()]
    assert dates == sorted(dates, reverse=True)  # newest first by default
    r = wc.get("products", params={"page": 2, "orderby": "id", "order": "asc"})
    link = r.headers["Link"]
    assert 'rel="prev"' in link and 'rel="next"' in link and "page=3" in link and "page=1" in link
    past = wc.get("products", params={"page": 9})
    assert past.status_code == 200 and past.json() == [] and past.headers["X-WP-Total"] == "30"
    assert wc.get("products", params={"orderby": "nonsense"}).json()["code"] == "rest_invalid_param"
    assert wc.get("nothing/here").json() == {"code": "rest_no_route", "message": "No route was found matching the "
                                             "URL and request method.", "data": {"status": 404}}


def test_reviews_default_to_approved_and_view_context_wraps_text(shop):
    wc = official(shop)
    approved = wc.get("products/reviews", params={"per_page": 100}).json()
    everything = wc.get("products/reviews", params={"per_page": 100, "status": "all", "context": "edit"}).json()
    assert {r["status"] for r in approved} == {"approved"} and len(everything) > len(approved)
    assert approved[0]["review"].startswith("<p>") and not everything[0]["review"].startswith("<p>")


def test_a_record_added_while_paging_is_not_lost(tmp_path):
    # 102 products, 2 of them trashed (41 and 91), which status=any leaves out: 100 listed, one full page
    generate_store(tmp_path, seed=3, size=StoreSize(categories=3, manufacturers=2, tax_classes=3, products=102,
                                                   customers=1, orders=1, reviews=1), entities=("products",))
    with platforms.emulate(NAME, store=EmulatorStore(tmp_path), knobs=FAST) as h:
        src = platforms.connect(NAME, h)
        pages = src.pages("products")
        first = next(pages)
        assert len(first) == 100 and {41, 91}.isdisjoint(p["id"] for p in first)
        h.emulator.store.put("products", {**h.emulator.store.get("products", 5), "source_id": "103"})
        rest = [p["id"] for page in pages for p in page]
    assert rest == [103]


# --- errors and permissions ------------------------------------------------------------------------------------------
def test_key_without_read_and_user_without_capability():
    with platforms.emulate(NAME, products=10, knobs=Knobs(rate_limit=False, denied_scopes=("read",))) as h:
        r = official(h).get("products")
        assert r.status_code == 401 and r.json() == {
            "code": "woocommerce_rest_authentication_error",
            "message": "The API key provided does not have read permissions.", "data": {"status": 401}}
        with pytest.raises(ConnectionProblem) as exc:
            platforms.connect(NAME, h).check()
        assert exc.value.kind == "permission" and "Read" in str(exc.value)
    with platforms.emulate(NAME, products=10, knobs=Knobs(rate_limit=False, denied_scopes=("list_users",))) as h:
        assert official(h).get("products").status_code == 200
        r = official(h).get("customers")
        assert r.status_code == 403 and r.json()["code"] == "woocommerce_rest_cannot_view"
        with pytest.raises(ConnectionProblem) as exc:
            list(platforms.connect(NAME, h).records("customers"))
        assert exc.value.kind == "permission" and "Shop Manager" in str(exc.value)


def test_wrong_secret_is_explained_without_leaking(shop):
    src = platforms.connect(NAME, shop, consumer_secret="cs_not_the_secret")
    with pytest.raises(ConnectionProblem) as exc:
        src.check()
    assert exc.value.kind == "credentials" and "consumer_secret" in str(exc.value)
    assert "cs_not_the_secret" not in str(exc.value) and "oauth" not in str(exc.value)


# --- rate limit ------------------------------------------------------------------------------------------------------
def test_host_rate_limit_headers_and_429_body():
    with platforms.emulate(NAME, products=10) as h:  # standard plan: 25 requests per 10 s
        wc = official(h)
        seen = [wc.get("products/categories") for _ in range(25)]
        assert all(r.status_code == 200 for r in seen)
        assert seen[0].headers["RateLimit-Limit"] == "25"
        assert [r.headers["RateLimit-Remaining"] for r in seen[:3]] == ["24", "23", "22"]
        assert int(seen[0].headers["RateLimit-Reset"]) >= int(time.time())
        r = wc.get("products/categories")
        assert r.status_code == 429
        wait = int(r.headers["Retry-After"])
        assert 1 <= wait <= 10 and r.headers["RateLimit-Retry-After"] == str(wait)
        assert r.json() == {"code": "rate_limit_exceeded", "message": f"Too many requests. Please wait {wait} "
                            "seconds before trying again.", "data": {"status": 429}}
    with platforms.emulate(NAME, products=10, knobs=Knobs(plan="business")) as h:
        assert official(h).get("products").headers["RateLimit-Limit"] == "100"
    with platforms.emulate(NAME, products=10, knobs=Knobs(plan="unlimited")) as h:
        assert "RateLimit-Limit" not in official(h).get("products").headers


def test_connector_paces_by_the_host_headers_without_429(shop):
    shop.emulator.limit = FixedWindow(8, 1.0)  # a strict host: 8 requests a second
    try:
        src = platforms.connect(NAME, shop)
        started = time.monotonic()
        products = list(src.records("products"))
        assert len(products) == 30
        assert src.client.retries == 0 and src.client.requests_made > 8
        assert time.monotonic() - started >= 1.0
    finally:
        shop.emulator.limit = None


# --- delta -----------------------------------------------------------------------------------------------------------
def test_updated_since_reads_only_changes():
    with platforms.emulate(NAME, products=20, knobs=FAST) as h:
        store = h.emulator.store
        since = datetime.now(timezone.utc) - timedelta(seconds=2)
        store.put("products", store.get("products", 7))
        store.put("orders", store.get("orders", 3))
        store.put("customers", store.get("customers", 2))
        src = platforms.connect(NAME, h)
        assert [r.source_id for r in src.records("products", updated_since=since)] == ["7"]
        assert [r.source_id for r in src.records("orders", updated_since=since)] == ["3"]
        assert [r.source_id for r in src.records("customers", updated_since=since)] == ["2"]
        assert len(list(src.records("categories", updated_since=since))) > 0  # terms have no dates: all
        query = dict(parse_qsl(urlsplit(official(h).get("products", params={
            "modified_after": since.strftime("%Y-%m-%dT%H:%M:%S"), "dates_are_gmt": "true"}).url).query))
        assert query["dates_are_gmt"] == "true"


# --- mapping details -------------------------------------------------------------------------------------------------
def test_woocommerce_shapes_are_mapped(shop):
    src = platforms.connect(NAME, shop)
    products = {r.source_id: r.record for r in src.records("products")}
    variable = next(p for p in products.values() if p["variants"])
    assert all(v["source_id"].isdigit() and v["options"] for v in variable["variants"])
    assert variable["price"] is not None
    assert all(p["url_key"].startswith("product/") for p in products.values() if p["lifecycle"] == "published")
    # drafts and pending products have no slug yet: no key from the source (the pipeline makes one from the name)
    assert all(p["url_key"] is None for p in products.values() if p["lifecycle"] in ("draft", "pending"))
    classes = {r.source_id: r.record for r in src.records("tax_classes")}
    # WooCommerce 9 lists the built-in class as "Standard rate"; rule tax_class_mapping names it "Standard"
    assert "standard" in classes and classes["standard"]["name"] == "Standard rate"
    assert {p["tax_class_id"] for p in products.values()} <= set(classes)
    orders = [r.record for r in src.records("orders")]
    assert any(o["customer_id"] is None for o in orders)  # guests and customers deleted since
    assert all(o["items"] and o["items"][0]["source_id"].isdigit() for o in orders)
    assert src.check() == f"WooCommerce shop {shop.base_url}: 30 products"


def test_weights_are_converted_from_the_shops_unit(shop):
    kg = {r.source_id: r.record["weight"] for r in platforms.connect(NAME, shop).records("products")}
    shop.emulator.weight_unit = "g"
    try:
        raw = official(shop).get("products", params={"include": "1", "_fields": "weight"}).json()[0]["weight"]
        grams = {r.source_id: r.record["weight"] for r in platforms.connect(NAME, shop).records("products")}
    finally:
        shop.emulator.weight_unit = "kg"
    assert grams == kg and float(raw) == pytest.approx(kg["1"] * 1000)


def test_resource_from_env(monkeypatch, shop):
    monkeypatch.setenv("WOOCOMMERCE_SHOP_URL", shop.base_url)
    monkeypatch.setenv("WOOCOMMERCE_CONSUMER_KEY", shop.credentials["consumer_key"])
    monkeypatch.setenv("WOOCOMMERCE_CONSUMER_SECRET", shop.credentials["consumer_secret"])
    import dagster as dg

    @dg.asset
    def probe(source: WooCommerceSourceResource) -> str:
        return source.open().check()

    result = dg.materialize([probe], resources={"source": WooCommerceSourceResource.from_env()})
    assert result.success and result.output_for_node("probe").endswith("30 products")
    src = WooCommerceSource.connect(shop.base_url, shop.credentials, settings=HttpSettings(timeout=5))
    assert shop.credentials["consumer_secret"] not in src.describe()
