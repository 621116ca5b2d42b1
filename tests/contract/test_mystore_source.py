"""Mystore as a source against its API v2 emulator: paging by links.next, deltas by updated_at gte, deletions by
id-only listings, 429/5xx retried, token renewal, and the mapping of each entity (the shop's default language,
a missing language, specials running and expired, option price deltas, totals rows, statuses by name, lines
of deleted products)."""

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from cart_pipelines.model.canonical import SCHEMAS
from cart_pipelines.model.coerce import coerce_record
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.mystore import facts
from cart_pipelines.platforms.mystore.emulator import MystoreEmulator
from cart_pipelines.platforms.mystore.source import MystoreSource
from cart_pipelines.platforms.mystore.target import authorize_against
from cart_pipelines.sample.generator import StoreSize, generate_store


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mystore-source")
    generate_store(d, seed=13, size=StoreSize.scaled(60))
    return d


def truth(store_dir, entity):
    with open(store_dir / f"{entity}.jsonl", encoding="utf-8") as fh:
        return {r["source_id"]: r for r in (coerce_record(json.loads(line, parse_float=Decimal), SCHEMAS[entity])
                                            for line in fh)}


def read(src, entity, **kw):
    out = list(src.records(entity, **kw))
    assert [r.error for r in out if r.error] == []
    return {r.record["source_id"]: r.record for r in out}


@pytest.fixture()
def shop(store_dir):
    seen: list[dict] = []
    knobs = Knobs(rate_limit=False, after_response=lambda request: seen.append(
        {"path": request.path, **request.args.to_dict()}))
    with platforms.emulate("mystore", store=EmulatorStore(store_dir), knobs=knobs) as handle:
        handle.seen = seen
        yield handle


def test_paging_asks_the_largest_page_and_follows_links_next(shop):
    src = platforms.connect("mystore", shop)
    got = read(src, "orders")
    assert len(got) == 120
    pages = [s for s in shop.seen if s["path"].endswith("/orders")]
    assert [p.get("page[number]") for p in pages] == [None, "2"]  # the first asked, the next one followed
    assert pages[0]["page[size]"] == str(facts.PAGE_SIZE_MAX) == pages[1]["page[size]"]
    # Sub-resources come as whole lists, 100 a request, not one request per order.
    lines = [s for s in shop.seen if s["path"].endswith("/order-products")]
    assert len(lines) == -(-len(shop.emulator.data["order-products"]) // facts.PAGE_SIZE_MAX)
    # Paced with the budget the shop gives (the emulator with its limit off: one that never binds), and without
    # one at Mystore's 120 requests per minute.
    budget = shop.credentials["requests_per_minute"]
    assert src.client.limiter.limit == budget and src.client.limiter.window == facts.RATE_WINDOW_S
    unbudgeted = {k: v for k, v in shop.credentials.items() if k != "requests_per_minute"}
    default = MystoreSource.connect(shop.base_url, unbudgeted)
    assert default.client.limiter.limit == facts.RATE_LIMIT and default.client.limiter.window == facts.RATE_WINDOW_S


def test_mapping_of_products(shop, store_dir):
    src = platforms.connect("mystore", shop)
    want, got = truth(store_dir, "products"), read(src, "products")
    assert set(got) == set(want)
    emu = shop.emulator
    for sid, p in got.items():
        w = want[sid]
        assert (p["name"], p["price"], p["special_price"], p["stock"], p["status"]) == \
               (w["name"], w["price"], w["special_price"], w["stock"], w["status"])
        # Images: file names on the shop's CDN base (settings.full_image_cdn_base_url).
        assert [i["url"].rsplit("/", 1)[-1] for i in p["images"]] == [i["url"].rsplit("/", 1)[-1] for i in w["images"]]
        assert all(i["url"].startswith(f"{shop.base_url}/cdn/users/") for i in p["images"])
        # Variants: stock rows with options by name; price = product price + the values' deltas.
        assert [(v["sku"], v["stock"], v["options"]) for v in p["variants"]] == \
               [(v["sku"], v["stock"], v["options"]) for v in w["variants"]]
    # Messy data the seed holds: names in the second language only, expired specials, disabled products.
    english_only = [k for k, r in emu.data["products"].items() if "no" not in r["attributes"]["name"]]
    expired = {r["relationships"]["product"] for r in emu.data["product-specials"].values()
               if r["attributes"]["expires_at"] < datetime.now(timezone.utc).strftime(facts.DATETIME_FORMAT)}
    assert english_only and expired and any(p["status"] == "disabled" for p in got.values())
    assert all(got[str(k)]["name"] == want[str(k)]["name"] for k in english_only)
    assert any(got[str(k)]["special_price"] is None for k in expired)
    on_sale = [p for p in got.values() if p["special_price"] is not None]
    assert on_sale and all(p["special_price_to"] > datetime.now(timezone.utc).isoformat()
                           and p["special_price_from"] is None for p in on_sale)
    additive = [w for w in want.values() if w["variants"] and len({v["price"] for v in w["variants"]}) > 1]
    for w in additive[:5]:
        prices = {v["sku"]: v["price"] for v in got[w["source_id"]]["variants"]}
        assert all(prices[v["sku"]] >= got[w["source_id"]]["price"] or v["price"] < w["price"] for v in w["variants"])


def test_mapping_of_customers_orders_reviews_and_the_tree(shop, store_dir):
    src = platforms.connect("mystore", shop)
    cats, cat_truth = read(src, "categories"), truth(store_dir, "categories")
    assert {k: (c["path"], c["url_key"], c["parent_id"]) for k, c in cats.items()} == \
           {k: (c["path"], c["url_key"], c["parent_id"]) for k, c in cat_truth.items()}
    taxes = read(src, "tax_classes")
    assert taxes["1"]["rates"] == [{"country": None, "rate": Decimal("25.0")}]
    customers, customer_truth = read(src, "customers"), truth(store_dir, "customers")
    for sid, w in customer_truth.items():  # the first address is the shop's delivery address
        got = [(a["street"], a["city"], a["postcode"]) for a in customers[sid]["addresses"] if a["is_default_shipping"]]
        # "" is no value (kit values.blank), as in the other sources
        assert got == [(a["street"] or None, a["city"] or None, a["postcode"] or None) for a in w["addresses"][:1]]
    orders, order_truth = read(src, "orders"), truth(store_dir, "orders")
    for sid, o in orders.items():
        w = order_truth[sid]
        assert (o["status"], o["subtotal"], o["shipping"], o["tax"], o["grand_total"]) == \
               (w["status"], w["subtotal"], w["shipping"], w["tax"], w["grand_total"])
        assert [(i["sku"], i["qty"], i["price"]) for i in o["items"]] == \
               [(i["sku"], i["qty"], Decimal(str(i["price"]))) for i in w["items"]]
        # The seed's every 50th order holds lines of a product deleted since: no product, the rest kept.
        assert [i["product_id"] for i in o["items"]] == \
               [None if int(sid) % 50 == 1 else i["product_id"] for i in w["items"]]
    reviews = read(src, "reviews")
    review = next(iter(reviews.values()))
    assert review["title"] is None and review["text"] and review["product_id"] and review["customer_id"]


def test_an_order_line_of_a_deleted_product_and_its_options(shop):
    emu = shop.emulator
    line_id, line = next((k, v) for k, v in emu.data["order-products"].items()
                         if v["relationships"]["product"] in emu.data["products"])
    order_id, product_id = str(line["relationships"]["order"]), line["relationships"]["product"]
    option = next(iter(emu.data["product-options"]))
    value = emu.data["product-options"][option]["relationships"]["product-option-values"][0]
    emu._insert("order-product-attributes", {"option_name": "Farge", "option_value_name": "Rød",
                                             "option_values_price": 0, "option_values_price_prefix": "+"},
                {"order": int(order_id), "order-product": line_id, "product-option": option,
                 "product-option-value": value})
    emu.remove("products", product_id)
    src = platforms.connect("mystore", shop)
    order = read(src, "orders")[order_id]
    item = next(i for i in order["items"] if i["source_id"] == str(line_id))
    assert item["product_id"] is None  # the link reads as none: the line keeps its name, SKU and price
    assert item["name"] == f"{line['attributes']['name']} (Farge: Rød)" and item["sku"] == line["attributes"]["sku"]
    assert str(product_id) not in set(src.ids("products"))


def test_delta_reads_records_changed_since_and_those_whose_rows_changed(shop):
    emu = shop.emulator
    since = datetime.now(timezone.utc) - timedelta(seconds=1)
    src = platforms.connect("mystore", shop)
    assert read(src, "products", updated_since=datetime.now(timezone.utc) + timedelta(days=1)) == {}
    emu.update("products", 3, {"data": {"type": "products", "id": "3", "attributes": {"price": 999.5}}})
    variant_id, variant = next((k, v) for k, v in emu.data["product-variants"].items()
                               if v["relationships"]["product"] != 3)
    emu.update("product-variants", variant_id, {"data": {"type": "product-variants", "id": str(variant_id),
                                                         "attributes": {"quantity": 77}}})
    total_id = next(iter(emu.data["order-totals"]))
    emu.update("order-totals", total_id, {"data": {"type": "order-totals", "id": str(total_id),
                                                   "attributes": {"title": "Totalt"}}})
    shop.seen.clear()
    changed = read(src, "products", updated_since=since)
    owner = str(variant["relationships"]["product"])
    assert set(changed) == {"3", owner}
    assert changed["3"]["price"] == Decimal("999.5")
    assert any(v["stock"] == 77 for v in changed[owner]["variants"])
    filters = [s for s in shop.seen if "filter[updated_at][value]" in s]
    assert filters and all(s["filter[updated_at][operator]"] == "gte" and s["filter[updated_at][path]"] == "updated_at"
                           for s in filters)
    assert not any(s["path"].endswith("/product-variants") and "filter[updated_at][value]" not in s
                   and "/products/" not in s["path"] for s in shop.seen)  # no whole list in a delta
    orders = read(src, "orders", updated_since=since)
    assert set(orders) == {str(emu.data["order-totals"][total_id]["relationships"]["order"])}


def test_deletions_by_id_listing(shop):
    emu = shop.emulator
    src = platforms.connect("mystore", shop)
    before = set(src.ids("customers"))
    emu.remove("customers", int(sorted(before, key=int)[1]))
    shop.seen.clear()
    after = set(src.ids("customers"))
    assert before - after == {sorted(before, key=int)[1]}
    listing = [s for s in shop.seen if s["path"].endswith("/customers")]
    assert listing and all(s.get("fields[customers]") == "updated_at" for s in listing)


def test_429_and_504_are_retried(store_dir, monkeypatch):
    monkeypatch.setattr(facts, "RETRY_429_AFTER_S", 0.2)  # the 5 s itself: test_a_429_waits_the_retry_after_...
    knobs = Knobs(rate_limit=False, storm=2, faults={"504": 0.2}, fault_seed=3)
    with platforms.emulate("mystore", store=EmulatorStore(store_dir), knobs=knobs) as handle:
        src = platforms.connect("mystore", handle)
        assert len(read(src, "orders")) == len(truth(store_dir, "orders"))
        assert handle.emulator.faults_by_kind.get("504", 0) >= 1
        assert src.client.retries == 2 + handle.emulator.faults_by_kind["504"]


def test_a_429_waits_the_retry_after_or_five_seconds_without_one():
    """Mystore documents no Retry-After: after a 429 without one the client waits RETRY_429_AFTER_S (5 s, as a live
    integration does), with one it waits what the server says; other answers set no wait."""
    import requests

    from cart_pipelines.platforms.mystore.api import _retry_after

    def answer(status, **headers):
        r = requests.Response()
        r.status_code = status
        r.headers.update(headers)
        return r

    assert facts.RETRY_429_AFTER_S == 5.0
    assert _retry_after(answer(429)) == facts.RETRY_429_AFTER_S
    assert _retry_after(answer(429, **{"Retry-After": "2"})) == 2.0
    assert _retry_after(answer(503)) is None


def test_fixed_window_limit_is_met_by_the_pacing(tmp_path):
    """A window of 120 requests per 2 s on the emulator, the same on the client: no 429 is ever answered."""
    empty = tmp_path / "empty"
    empty.mkdir()
    emu = MystoreEmulator(EmulatorStore(empty), Knobs(), window_s=2.0)
    from cart_pipelines.platforms.kit.emulator import running

    with running(emu) as handle:
        src = MystoreSource.connect(handle.base_url, handle.credentials)
        src.conn.rate = (facts.RATE_LIMIT, 2.0)
        for _ in range(130):
            assert list(src.ids("manufacturers")) == []
        assert src.client.retries == 0 and src.client.requests_made == 130


def test_oauth_client_path_with_token_renewal(store_dir, tmp_path):
    with platforms.emulate("mystore", store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as handle:
        token_file = tmp_path / "source-token.json"
        authorize_against(handle, token_file, MystoreSource.connect(handle.base_url, {}).conn.scopes)
        c = handle.credentials
        src = MystoreSource.connect(handle.base_url, {"client_id": c["client_id"], "client_secret": c["client_secret"],
                                                      "redirect_uri": c["redirect_uri"], "auth_url": c["auth_url"],
                                                      "token_file": str(token_file)})
        assert len(read(src, "manufacturers")) == len(truth(store_dir, "manufacturers"))
        first = json.loads(token_file.read_text())["access_token"]
        for state in handle.emulator.tokens.values():  # the access token expires on the server's side
            if state["kind"] != "personal":
                state["exp"] = 0.0
        assert len(read(src, "tax_classes")) == 3  # 403 "Token has expired or is invalid": refreshed, asked again
        assert json.loads(token_file.read_text())["access_token"] != first  # the new tokens are stored
        assert "Token" not in src.describe() and c["client_secret"] not in src.describe()


def test_cli_authorize_source_then_check(store_dir, tmp_path, monkeypatch):
    """`cart-pipelines authorize --source` walks the OAuth flow with the MYSTORE_SOURCE_* client; the source's
    connection check then reads with the stored tokens."""
    from typer.testing import CliRunner

    import cart_pipelines.cli as cli_mod
    from cart_pipelines.cli import app

    with platforms.emulate("mystore", store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as handle:
        c = handle.credentials
        for k, v in {"API_URL": handle.base_url, "AUTH_URL": c["auth_url"], "CLIENT_ID": c["client_id"],
                     "CLIENT_SECRET": c["client_secret"], "REDIRECT_URI": c["redirect_uri"],
                     "TOKEN_FILE": str(tmp_path / "source-token.json")}.items():
            monkeypatch.setenv(f"MYSTORE_SOURCE_{k}", v)
        monkeypatch.delenv("MYSTORE_SOURCE_TOKEN", raising=False)
        printed: list[str] = []
        monkeypatch.setattr("builtins.print", lambda *a, **k: printed.append(" ".join(map(str, a))))
        monkeypatch.setattr(cli_mod.typer, "prompt", lambda text: handle.emulator.grant(
            next(line for line in reversed(printed) if "/oauth/authorize?" in line).strip()))
        res = CliRunner().invoke(app, ["authorize", "--source", "--no-listen"])
        assert res.exit_code == 0 and "authorized" in res.output, res.output
        assert "read%3Aorder-product-attributes" in next(p for p in printed if "/oauth/authorize?" in p)
        res = CliRunner().invoke(app, ["check", "--platform", "mystore"])
        assert res.exit_code == 0 and "default language 'no'" in res.output, res.output
        assert c["client_secret"] not in res.output
