"""PrestaShop specifics: prestapyt (the PyPI client) against the emulator unmodified, the Webservice's own auth and
permission answers explained, its filter / display / sort / limit syntax and error codes, XML by default and JSON's
quirks, shop-local dates and the delta's traps, slices, and the fields the generic contract leaves out."""

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests

from cart_pipelines.model.canonical import SCHEMAS
from cart_pipelines.model.coerce import coerce_record
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.kit.http import ConnectionProblem, HttpSettings
from cart_pipelines.platforms.kit.source import Slice
from cart_pipelines.platforms.prestashop import mapping
from cart_pipelines.platforms.prestashop.emulator import TZ_NAME
from cart_pipelines.sample.generator import StoreSize, generate_store

OFF = Knobs(rate_limit=False)
# prestapyt 0.11.1 (2022) knows PrestaShop up to 1.7.8 and warns on PSWS-Version 8.x; it works all the same.
pytestmark = pytest.mark.filterwarnings("ignore:This library may not be compatible:UserWarning")


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("ps-store")
    generate_store(d, seed=13, size=StoreSize.scaled(40))
    return d


@pytest.fixture(scope="module")
def shop(store_dir):
    with platforms.emulate("prestashop", store=EmulatorStore(store_dir), knobs=OFF) as h:
        yield h


def rows(store_dir, entity):
    with open(store_dir / f"{entity}.jsonl", encoding="utf-8") as fh:
        return [json.loads(line, parse_float=Decimal) for line in fh]


def get(h, path, key=None, **params):
    return requests.get(f"{h.base_url}/api/{path}", params=params, timeout=10,
                        auth=(key if key is not None else h.credentials["webservice_key"], ""))


# --- prestapyt, unmodified ------------------------------------------------------------------------------------------
def test_prestapyt_reads_the_shop(shop, store_dir):
    from prestapyt import PrestaShopWebServiceDict

    ws = PrestaShopWebServiceDict(f"{shop.base_url}/api", shop.credentials["webservice_key"])
    products = rows(store_dir, "products")
    assert ws.search("products") == [int(p["source_id"]) for p in products]
    assert ws.search("products", options={"limit": "5,3"}) == [6, 7, 8]
    assert ws.search("customers", options={"filter[email]": f"[{rows(store_dir, 'customers')[0]['email']}]"}) == \
        [int(rows(store_dir, "customers")[0]["source_id"])]
    one = ws.get("products", 1)["product"]
    assert one["reference"] == products[0]["sku"]
    names = {lang["attrs"]["id"]: lang["value"] for lang in one["name"]["language"]}
    assert names["2"] == products[0]["name"]  # nb, the shop's default language
    cats = one["associations"]["categories"]["category"]
    cats = cats if isinstance(cats, list) else [cats]
    assert {c["id"] for c in cats} >= set(products[0]["category_ids"])
    full = ws.get("orders", options={"display": "full", "limit": "2", "filter[id]": ">[3]"})["orders"]["order"]
    assert [o["id"] for o in full] == ["4", "5"] and full[0]["reference"] == rows(store_dir, "orders")[3]["number"]
    assert ws.get("categories", options={"display": "[id,name]", "sort": "[id_DESC]", "limit": "1"})[
        "categories"]["category"]["id"] == str(mapping.HOME_ID)


def test_prestapyt_sees_prestashops_errors(store_dir):
    from prestapyt import PrestaShopAuthenticationError, PrestaShopWebServiceDict, PrestaShopWebServiceError

    with platforms.emulate("prestashop", products=10, knobs=Knobs(denied_scopes=("orders",))) as h:
        with pytest.raises(PrestaShopAuthenticationError):
            PrestaShopWebServiceDict(f"{h.base_url}/api", "A" * 32).search("products")
        ws = PrestaShopWebServiceDict(f"{h.base_url}/api", h.credentials["webservice_key"])
        with pytest.raises(PrestaShopAuthenticationError):  # no permission on a resource is a 401 too
            ws.search("orders")
        with pytest.raises(PrestaShopWebServiceError) as exc:
            ws.search("products", options={"filter[date_upd]": "[2024-01-01,2025-01-01]"})  # no date=1
        assert exc.value.error_code == 400 and exc.value.ps_error_code == "32"
        assert ws.search("products", options={"filter[date_upd]": "[2023-01-01,2030-01-01]", "date": 1})


# --- the Webservice's answers ---------------------------------------------------------------------------------------
def test_auth_answers(shop):
    bare = requests.get(f"{shop.base_url}/api/products", timeout=10)
    assert bare.status_code == 401 and bare.text == "401 Unauthorized" and "Basic realm" in \
        bare.headers["WWW-Authenticate"] and "PSWS-Version" not in bare.headers
    short = get(shop, "products", key="short", output_format="JSON")
    assert short.status_code == 401 and short.json() == {"errors": [{"code": 18, "message":
                                                                    "Invalid authentication key format"}]}
    unknown = get(shop, "products", key="Z" * 32, output_format="JSON").json()["errors"]
    assert [e["code"] for e in unknown] == [20, 21]
    by_query = requests.get(f"{shop.base_url}/api/products", timeout=10,
                            params={"ws_key": shop.credentials["webservice_key"]})
    assert by_query.status_code == 200 and by_query.headers["PSWS-Version"].startswith("8.")
    assert by_query.headers["Content-Type"].startswith("text/xml") and by_query.text.startswith("<?xml")
    pasted = platforms.source_class("prestashop").connect(f"{shop.base_url}/api/", shop.credentials)
    assert "reads products" in pasted.check()  # the Webservice's address pasted as the shop's


def test_permission_and_switched_off_are_explained(store_dir):
    with platforms.emulate("prestashop", products=10, knobs=Knobs(denied_scopes=("addresses",))) as h:
        answer = get(h, "addresses", output_format="JSON")
        assert answer.status_code == 401 and answer.json()["errors"][0]["code"] == 26
        with pytest.raises(ConnectionProblem) as exc:
            list(platforms.connect("prestashop", h).records("customers"))
        assert exc.value.kind == "permission" and "addresses" in str(exc.value) and "View (GET)" in str(exc.value)
        h.emulator.enabled = False
        src = platforms.connect("prestashop", h)
        with pytest.raises(ConnectionProblem, match="switched off") as exc:
            src.check()
        assert src.client.retries == 0  # code 22 is said at once, not retried as an outage
    with platforms.emulate("prestashop", products=10, knobs=Knobs(denied_scopes=("configurations",))) as h:
        with pytest.raises(ConnectionProblem, match="PRESTASHOP_TIMEZONE"):
            platforms.connect("prestashop", h).check()
        src = platforms.connect("prestashop", h, timezone=TZ_NAME)
        assert "time zone Europe/Oslo" in src.check() and len(list(src.records("products"))) == 10


def test_filters_display_sort_and_limit(shop, store_dir):
    def ids(**params):
        answer = get(shop, "products", output_format="JSON", **params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        return [] if body == [] else [p["id"] for p in body["products"]]

    products = rows(store_dir, "products")
    assert ids(**{"filter[id]": "[3|5|7]"}) == [3, 5, 7]
    assert ids(**{"filter[id]": "[9,4]"}) == [4, 5, 6, 7, 8, 9]  # between, bounds sorted as SQLUtils does
    assert ids(**{"filter[id]": "![1|2]", "limit": "2"}) == [3, 4]
    assert ids(**{"filter[reference]": "%[-00001]%"}) == [int(p["source_id"]) for p in products
                                                         if "-00001" in p["sku"]]
    assert ids(**{"filter[name]": products[4]["name"]})[0] == 5  # multilingual: any language
    assert ids(sort="[price_DESC,id_ASC]", limit="1") == [int(max(products, key=lambda p: (p["price"],
                                                                                        -int(p["source_id"])))
                                                             ["source_id"])]
    assert ids(limit="38,5") == [39, 40] and ids(limit="0") == [] and ids(**{"filter[id]": "[99999]"}) == []
    assert get(shop, "products", output_format="JSON", **{"filter[id]": "[99999]"}).text == "[]"
    picked = get(shop, "products", output_format="JSON", display="[id,reference]", limit="1").json()
    assert picked == {"products": [{"id": 1, "reference": products[0]["sku"]}]}
    one_lang = get(shop, "products/2", output_format="JSON", language="2").json()["product"]
    assert one_lang["name"] == products[1]["name"]  # one language: a plain string
    assert get(shop, "products/2", output_format="JSON").json()["product"]["name"] == [
        {"id": "1", "value": products[1]["name"]}, {"id": "2", "value": products[1]["name"]}]
    for params, code in [({"limit": "1,2,3"}, 39), ({"sort": "price"}, 37), ({"sort": "[nothing_ASC]"}, 38),
                         ({"display": "[nothing]"}, 35), ({"display": "some"}, 36), ({"filter[nothing]": "1"}, 32),
                         ({"filter[quantity]": "[1]"}, 34), ({"filter[date_add]": ">[2024-01-01]"}, 32)]:
        answer = get(shop, "products", output_format="JSON", **params)
        assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == code, params
    missing = get(shop, "products/99999")
    assert missing.status_code == 404 and missing.text == ""
    typo = get(shop, "prodcts", output_format="JSON").json()["errors"][0]
    assert typo["code"] == 27 and 'Did you mean: "products"' in typo["message"]


def test_xml_is_prestashops(shop, store_dir):
    text = get(shop, "products/1").text
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<prestashop xmlns:xlink=')
    first = rows(store_dir, "products")[0]
    assert f"<reference><![CDATA[{first['sku']}]]></reference>" in text
    assert f'<language id="2" xlink:href="{shop.base_url}/api/languages/2"><![CDATA[{first["name"]}]]></language>' \
        in text
    assert '<categories nodeType="category" api="categories">' in text and "<associations>" in text
    errors = get(shop, "products", **{"filter[nothing]": "1"}).text
    assert "<errors>\n<error>\n<code><![CDATA[32]]></code>\n<message><![CDATA[This filter does not exist" in errors


# --- dates, delta and its traps -------------------------------------------------------------------------------------
def test_dates_are_shop_local_and_read_back_in_utc(shop, store_dir):
    tz = ZoneInfo(TZ_NAME)
    got = {r.source_id: r.record for r in platforms.connect("prestashop", shop).records("orders")}
    ambiguous = 0
    for o in rows(store_dir, "orders"):
        truth = datetime.fromisoformat(o["created_at"].replace("Z", "+00:00"))
        local = truth.astimezone(tz).replace(tzinfo=None)
        read = datetime.fromisoformat(got[o["source_id"]]["created_at"].replace("Z", "+00:00"))
        if local.replace(tzinfo=tz, fold=0).utcoffset() != local.replace(tzinfo=tz, fold=1).utcoffset():
            ambiguous += 1  # the repeated hour: the wall-clock time alone cannot say which
            assert abs(read - truth) in (timedelta(0), timedelta(hours=1))
        else:
            assert read == truth, o["source_id"]
    assert ambiguous < 3
    raw = get(shop, "orders/1", output_format="JSON", display="[date_add]").json()["order"]["date_add"]
    assert raw == mapping.local(datetime.fromisoformat(rows(store_dir, "orders")[0]["created_at"]
                                                       .replace("Z", "+00:00")), tz)


def test_delta_reads_changes_in_shop_time_and_rereads_products_with_combinations(store_dir):
    store = EmulatorStore(store_dir)
    with platforms.emulate("prestashop", store=store, knobs=OFF) as h:
        src = platforms.connect("prestashop", h)
        since = datetime.now(timezone.utc) - timedelta(minutes=5)
        assert [r.source_id for r in src.records("customers", updated_since=since)] == []
        store.put("customers", {**store.get("customers", 3), "first_name": "Endret"})
        store.put("orders", store.get("orders", 7))
        changed = list(src.records("customers", updated_since=since))
        assert [(r.source_id, r.record["first_name"]) for r in changed] == [("3", "Endret")]
        assert [r.source_id for r in src.records("orders", updated_since=since)] == ["7"]
        store.put("products", store.get("products", 2))
        with_combinations = sorted(p["source_id"] for p in rows(store_dir, "products") if p["variants"])
        assert with_combinations, "the store needs products with combinations"
        got = [r.source_id for r in src.records("products", updated_since=since)]
        assert got[0] == "2" and sorted(set(got) - {"2"}, key=int) == sorted(set(with_combinations) - {"2"}, key=int)
        assert len(got) == len(set(got))
        # #42263: a base-table touch makes the filter match a product whose shown date_upd is older: still read
        simple = next(p["source_id"] for p in rows(store_dir, "products")
                      if not p["variants"] and p["source_id"] != "2")
        h.emulator.base_touched[int(simple)] = datetime.now(timezone.utc)
        again = {r.source_id: r.record for r in src.records("products", updated_since=since)}
        assert simple in again and again[simple]["updated_at"] < since.isoformat()
        # the filter PrestaShop was sent: shop-local, an hour early
        assert mapping.since_window(since, ZoneInfo(TZ_NAME), timedelta(hours=1)) == \
            f">[{(since - timedelta(hours=1, seconds=1)).astimezone(ZoneInfo(TZ_NAME)):%Y-%m-%d %H:%M:%S}]"


def test_customers_leave_out_guests_and_deleted_and_orders_keep_their_email(shop, store_dir):
    src = platforms.connect("prestashop", shop)
    customers = rows(store_dir, "customers")
    assert sorted(src.ids("customers"), key=int) == [c["source_id"] for c in customers]
    everyone = get(shop, "customers", output_format="JSON", display="[id,is_guest,deleted]").json()["customers"]
    assert {c["is_guest"] for c in everyone} == {"0", "1"} and {c["deleted"] for c in everyone} == {"0", "1"}
    orders = {r.source_id: r.record for r in src.records("orders")}
    for o in rows(store_dir, "orders"):
        assert orders[o["source_id"]]["email"] == o["email"] and orders[o["source_id"]]["customer_id"] == \
            o["customer_id"]
    first = next(o for o in rows(store_dir, "orders") if o["items"])
    got = orders[first["source_id"]]["items"]
    assert [(i["product_id"], i["sku"], i["qty"], i["price"], i["tax"]) for i in got] == \
        [(i["product_id"], i["sku"], i["qty"], i["price"], i["tax"]) for i in first["items"]]


def test_products_stock_variants_and_weight(shop, store_dir):
    got = {r.source_id: r.record for r in platforms.connect("prestashop", shop).records("products")}
    for p in rows(store_dir, "products"):
        g = got[p["source_id"]]
        if p["variants"]:
            assert g["stock"] == sum(v["stock"] for v in p["variants"])  # PrestaShop keeps the sum
            assert [(v["sku"], v["stock"], v["price"], v["options"]) for v in g["variants"]] == \
                [(v["sku"], v["stock"], v["price"], v["options"]) for v in p["variants"]]
        else:
            assert g["stock"] == p["stock"] and g["variants"] == []
        assert len(g["images"]) == len(p["images"]) and all("/img/p/" in i["url"] for i in g["images"])
    assert not platforms.connect("prestashop", shop).has("reviews")


# --- slices ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("entity,part", [
    ("products", Slice("id", 11, 21)), ("customers", Slice("id", 5, 15)), ("orders", Slice("id", 30, 41)),
    ("orders", Slice("created_at", datetime(2024, 3, 1, tzinfo=timezone.utc),
                     datetime(2024, 7, 1, tzinfo=timezone.utc)))])
def test_slices_read_with_prestashops_filters(shop, store_dir, entity, part):
    src = platforms.connect("prestashop", shop)
    want = sorted((r["source_id"] for r in rows(store_dir, entity)
                   if part.contains(coerce_record(r, SCHEMAS[entity]))), key=int)
    assert want and sorted((r.source_id for r in src.records_in(entity, part)), key=int) == want


def test_id_bounds_in_one_request(shop, store_dir):
    src = platforms.connect("prestashop", shop)
    src.shop()
    before = src.client.requests_made
    ids = [int(r["source_id"]) for r in rows(store_dir, "orders")]
    assert src.id_bounds("orders") == (len(ids), min(ids), max(ids))
    assert src.client.requests_made - before == 1


def test_a_storm_of_host_429s_is_ridden_out():
    with platforms.emulate("prestashop", products=10, knobs=Knobs(storm=3)) as h:
        src = platforms.source_class("prestashop").connect(h.base_url, h.credentials,
                                                           settings=HttpSettings(max_backoff=0.2))
        assert len(list(src.records("products"))) == 10 and src.client.retries >= 3
