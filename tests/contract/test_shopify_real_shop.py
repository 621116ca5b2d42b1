"""What real Shopify shops hold (issue 14), read by the source from the emulator: draft and archived products
(listed with the active ones), gift cards, refunds with their lines and totals, partial refunds, and order lines
whose product was deleted since. The expectations come from the canonical store and kit/emulator_cases.py, the
rule the emulator serves them by, not from the connector."""

import json
from decimal import Decimal

import pytest
import requests

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.shopify import source as conn
from cart_pipelines.platforms.shopify.emulator import TOKEN, is_gift_card, product_status
from cart_pipelines.sample.generator import StoreSize, generate_store

OFF = Knobs(rate_limit=False)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("shopify-real")
    generate_store(d, seed=14, size=StoreSize.scaled(120))
    return d


def truth(store_dir, entity):
    with open(store_dir / f"{entity}.jsonl", encoding="utf-8") as fh:
        return {r["source_id"]: r for r in (json.loads(line, parse_float=Decimal) for line in fh)}


@pytest.fixture(scope="module")
def read(store_dir):
    """Products and orders as the source maps them, in cursor pages and in bulk."""
    with platforms.emulate("shopify", store=EmulatorStore(store_dir), knobs=OFF) as h:
        paged = platforms.connect("shopify", h)
        bulk = conn.ShopifySource.connect(h.base_url, h.credentials, bulk_threshold=0)
        out = {(mode, e): {r.source_id: r.record for r in src.records(e)}
               for mode, src in (("paged", paged), ("bulk", bulk)) for e in ("products", "orders")}
        listed = requests.post(f"{h.base_url}/admin/api/2025-10/graphql.json", headers={
            "X-Shopify-Access-Token": TOKEN}, json={"query": '{ a: productsCount(query: "status:archived") '
                                                             "{ count } n: productsCount { count } }"}, timeout=10)
    return out, listed.json()["data"]


def test_draft_and_archived_products_are_carried_with_their_lifecycle(store_dir, read):
    got, _ = read
    products = got["paged", "products"]
    want = {"ACTIVE": "published", "DRAFT": "draft", "ARCHIVED": "archived"}
    for pid, p in truth(store_dir, "products").items():
        assert products[pid]["lifecycle"] == want[product_status(p)], pid
        assert products[pid]["status"] == p["status"], pid  # a draft or archived product is not sold
    seen = {p["lifecycle"] for p in products.values()}
    assert {"draft", "archived", "published"} <= seen  # the shop holds each, in a few percent
    assert sum(p["lifecycle"] != "published" for p in products.values()) < len(products) * 0.2


def test_gift_cards_are_product_type_gift_card_and_shopify_has_no_sale_dates(store_dir, read):
    got, _ = read
    products = got["paged", "products"]
    cards = {pid for pid, p in truth(store_dir, "products").items() if is_gift_card(p)}
    assert cards and {pid for pid, p in products.items() if p["type"] == "gift_card"} == cards
    assert {p["type"] for pid, p in products.items() if pid not in cards} <= {"simple", "variable"}
    # compareAtPrice is the "was" price of a sale running now: no start or end on Shopify
    assert all(p["special_price_from"] is None and p["special_price_to"] is None for p in products.values())
    sale = [p for p in products.values() if p["special_price"] is not None]
    assert sale and all(p["special_price"] < p["price"] for p in sale)


def test_refunds_with_lines_totals_and_net(store_dir, read):
    got, _ = read
    orders = got["paged", "orders"]
    full = partial = 0
    for oid, o in truth(store_dir, "orders").items():
        mine, expected = orders[oid], cases.refunds(o)
        assert [(r["amount"], r["reason"], len(r["lines"])) for r in mine["refunds"]] == \
               [(r["amount"], r["reason"], len(r["lines"])) for r in expected], oid
        for r, e in zip(mine["refunds"], expected):
            assert [(ln["sku"], ln["qty"], ln["amount"]) for ln in r["lines"]] == \
                   [(ln["sku"], ln["qty"], ln["amount"]) for ln in e["lines"]]
            items = {i["source_id"] for i in mine["items"]}
            assert all(ln["item_id"] in items for ln in r["lines"])  # lines point at the order's own lines
        total = cases.refunded_total(o)
        assert mine["refunded_total"] == (total or None)
        assert mine["net_total"] == (None if not total else Decimal(str(o["grand_total"])) - total)
        assert mine["grand_total"] == Decimal(str(o["grand_total"]))  # as ordered, refunds not taken off
        assert mine["status"] == o["status"]  # PARTIALLY_REFUNDED leaves a paid order processing or complete
        full += o["status"] == "refunded" and bool(expected)
        partial += o["status"] != "refunded" and bool(expected)
    assert full and partial


def test_bulk_reads_refund_lines_it_cannot_export(read):
    got, _ = read
    # a bulk query refuses a connection inside a list field: the lines come by node(id:) queries
    assert got["bulk", "orders"] == got["paged", "orders"]
    assert got["bulk", "products"] == got["paged", "products"]


def test_lines_of_deleted_products_keep_sku_name_and_price(store_dir, read):
    got, _ = read
    orders = got["paged", "orders"]
    gone = 0
    for oid, o in truth(store_dir, "orders").items():
        for k, (mine, it) in enumerate(zip(orders[oid]["items"], o["items"])):
            assert (mine["sku"], mine["name"], mine["qty"], mine["price"]) == \
                   (it["sku"], it["name"], it["qty"], Decimal(str(it["price"])))
            if cases.product_gone(o, k):
                gone += 1
                assert mine["product_id"] is None  # Shopify answers product: null
            else:
                assert mine["product_id"] == it["product_id"]
    assert gone


def test_products_lists_archived_and_draft_unless_the_search_filters(read):
    got, counts = read
    archived = sum(p["lifecycle"] == "archived" for p in got["paged", "products"].values())
    assert counts["n"]["count"] == len(got["paged", "products"])
    assert counts["a"]["count"] == archived


def test_partially_refunded_order_maps_to_where_it_stands():
    base = {"legacyResourceId": "1", "cancelledAt": None, "displayFulfillmentStatus": "FULFILLED",
            "totalPriceSet": {"shopMoney": {"amount": "100.00", "currencyCode": "NOK"}},
            "totalRefundedSet": {"shopMoney": {"amount": "12.50", "currencyCode": "NOK"}}, "refunds": []}
    o = conn.map_order({**base, "displayFinancialStatus": "PARTIALLY_REFUNDED"})
    assert (o["status"], o["refunded_total"], o["net_total"], o["refunds"]) == \
           ("complete", Decimal("12.50"), Decimal("87.50"), [])
    assert conn.map_order({**base, "displayFinancialStatus": "REFUNDED"})["status"] == "refunded"
    unfulfilled = {**base, "displayFinancialStatus": "PARTIALLY_REFUNDED", "displayFulfillmentStatus": "UNFULFILLED"}
    assert conn.map_order(unfulfilled)["status"] == "processing"


def test_unlisted_products_of_api_2025_10_are_sold_but_private():
    p = {"legacyResourceId": "9", "title": "Link only", "status": "UNLISTED", "hasOnlyDefaultVariant": True,
         "variants": {"nodes": [{"legacyResourceId": "9001", "price": "10.00", "sku": "L-1"}]}}
    mapped = conn.map_product(p)
    assert (mapped["status"], mapped["lifecycle"], mapped["type"]) == ("enabled", "private", "simple")
