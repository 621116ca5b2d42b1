"""What real Shopify shops hold (issue 14), read by the source from the emulator: draft and archived products
(listed with the active ones), gift cards, refunds with their lines and totals, partial refunds, and order lines
whose product was deleted since. The expectations come from the canonical store and kit/emulator_cases.py, the
rule the emulator serves them by, not from the connector."""

from decimal import Decimal

import pytest
import requests

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.shopify import mapping
from cart_pipelines.platforms.shopify import source as conn
from cart_pipelines.platforms.shopify.emulator import TOKEN, is_gift_card, product_status

from .real_shop import check_refunds, gone_lines, real_store, truth

OFF = Knobs(rate_limit=False)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return real_store(tmp_path_factory)


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
        # a product whose every variant the shop stopped selling keeps them, archived (as_held, not the store's)
        if cases.picks(p) and cases.all_variants_disabled(p):
            p = cases.product_without_variant_status(p, mapping.VARIANTS_ALL_DISABLED_LIFECYCLE)
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
    check_refunds(got["paged", "orders"], store_dir, ids=False)


def test_bulk_reads_refund_lines_it_cannot_export(read):
    got, _ = read
    # a bulk query refuses a connection inside a list field: the lines come by node(id:) queries
    assert got["bulk", "orders"] == got["paged", "orders"]
    assert got["bulk", "products"] == got["paged", "products"]


def test_lines_of_deleted_products_keep_sku_name_and_price(store_dir, read):
    got, _ = read
    for mine, it in gone_lines(got["paged", "orders"], store_dir):
        assert mine["product_id"] is None and mine["price"] == Decimal(str(it["price"]))  # product: null


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


def test_a_bulk_query_with_a_connection_inside_a_list_is_refused(store_dir):
    """Why the source reads refund lines by node(id:) in bulk mode: Shopify refuses them inside a bulk query."""
    inner = ("{ orders { edges { node { id refunds { refundLineItems(first: 5) { edges { node { quantity } } } } } } }"
             " }")
    with platforms.emulate("shopify", store=EmulatorStore(store_dir), knobs=OFF) as h:
        body = requests.post(f"{h.base_url}/admin/api/2025-10/graphql.json", headers={
            "X-Shopify-Access-Token": TOKEN}, json={"query": "mutation($q: String!) { bulkOperationRunQuery(query: "
                                                             "$q) { bulkOperation { id } userErrors { message } } }",
                                                    "variables": {"q": inner}}, timeout=10).json()
    run = body["data"]["bulkOperationRunQuery"]
    assert run["bulkOperation"] is None
    assert "connection field within a list field" in run["userErrors"][0]["message"]
