"""What real WooCommerce shops hold (issue 14), served by the emulator as WooCommerce does and read by the source:
grouped and external products, trashed products still on orders, lines of products deleted for good, private
variations, scheduled sales, drafts without a slug, refunds, spam and trashed reviews."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from woocommerce import API

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs

NAME = "woocommerce"
SOON = (datetime.now(timezone.utc) + timedelta(days=10)).replace(microsecond=0)
LATER = SOON + timedelta(days=14)


def messy(store: EmulatorStore) -> dict[str, str]:
    """Adds the cases to a generated store; returns their source ids by case."""
    products = {p["source_id"]: p for p in store.page("products", 0, 100_000)}
    simple = [p for p in products.values() if not p.get("variants") and p.get("status") != "disabled"]
    variable = next(p for p in products.values() if len(p.get("variants") or []) >= 2)
    base = copy.deepcopy(simple[0])
    ids = {}

    def add(case: str, record: dict) -> None:
        sid = str(900 + len(ids))
        store.put("products", {**copy.deepcopy(base), "sku": f"RD-{sid}", "url_key": f"rd-{sid}", **record,
                               "source_id": sid})
        ids[case] = sid

    add("grouped", {"name": "Gavesett", "type": "grouped", "child_ids": [simple[1]["source_id"],
                                                                         simple[2]["source_id"]],
                    "special_price": None})
    add("external", {"name": "Kajakk hos partner", "type": "external", "external_url": "https://partner.example/k",
                     "button_text": "Kjøp hos partner"})
    add("trashed", {"name": "Utgått lue", "lifecycle": "trashed", "status": "disabled"})
    add("draft", {"name": "Ny vinterjakke", "lifecycle": "draft", "status": "disabled"})
    add("scheduled", {"name": "Sommerkjole", "price": Decimal("500.00"), "special_price": Decimal("400.00"),
                      "special_price_from": SOON.isoformat(), "special_price_to": LATER.isoformat()})
    # the cheapest variation is disabled: the price comes from those sold
    v = copy.deepcopy(variable)
    v["variants"][0]["price"] = Decimal("1.00")
    v["variants"][0]["status"] = "disabled"
    store.put("products", v)
    ids["disabled_variant"] = v["source_id"]
    order = copy.deepcopy(next(o for o in store.page("orders", 0, 100_000) if o.get("items")))
    line = {**order["items"][0], "source_id": "x1", "product_id": ids["trashed"], "sku": "RD-trashed",
            "name": "Utgått lue"}
    gone = {**order["items"][0], "source_id": "x2", "product_id": "777777", "sku": "GONE-1", "name": "Slettet"}
    order.update(source_id="9001", number="9001", items=[line, gone], status="complete",
                 refunds=[{"source_id": "", "amount": Decimal("12.50"), "reason": "Returned"}])
    store.put("orders", order)
    ids["order"] = "9001"
    review = copy.deepcopy(store.page("reviews", 0, 100_000)[0])
    store.put("reviews", {**review, "source_id": "8001", "status": "spam"})
    store.put("reviews", {**review, "source_id": "8002", "status": "trashed"})
    return ids


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    store = EmulatorStore.generated(products=30, seed=7)
    ids = messy(store)
    with platforms.emulate(NAME, store=store, knobs=Knobs(rate_limit=False)) as h:
        h.ids = ids
        yield h


def get(shop, path, **params):
    """Through the official client (OAuth 1.0a over plain HTTP, as WooCommerce requires)."""
    r = API(url=shop.base_url, version="wc/v3", timeout=10, **shop.credentials).get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


# --- the emulator answers as WooCommerce does ------------------------------------------------------------------------
def test_status_any_leaves_out_the_trash_which_its_own_status_lists(shop):
    listed = {p["id"] for p in get(shop, "products", per_page=100)}
    trashed = int(shop.ids["trashed"])
    assert trashed not in listed
    assert [p["id"] for p in get(shop, "products", status="trash", per_page=100)] == [trashed]
    assert get(shop, f"products/{trashed}")["status"] == "trash"  # still readable by id, and on its order
    order = get(shop, "orders/9001")
    assert [li["product_id"] for li in order["line_items"]] == [trashed, 0]  # a deleted product: 0


def test_grouped_external_draft_and_scheduled_products_as_woocommerce_shows_them(shop):
    by_id = {str(p["id"]): p for p in get(shop, "products", per_page=100)}
    grouped = by_id[shop.ids["grouped"]]
    assert grouped["type"] == "grouped" and grouped["regular_price"] == "" and len(grouped["grouped_products"]) == 2
    children = [by_id[str(c)] for c in grouped["grouped_products"]]
    assert Decimal(grouped["price"]) == min(Decimal(c["price"]) for c in children)
    external = by_id[shop.ids["external"]]
    assert external["type"] == "external" and external["external_url"] == "https://partner.example/k"
    draft = by_id[shop.ids["draft"]]
    assert draft["status"] == "draft" and draft["slug"] == "" and "?post_type=product&p=" in draft["permalink"]
    scheduled = by_id[shop.ids["scheduled"]]
    assert scheduled["on_sale"] is False and scheduled["sale_price"] == "400.00"
    assert scheduled["price"] == "500.00" and scheduled["date_on_sale_from_gmt"] == SOON.strftime("%Y-%m-%dT%H:%M:%S")


def test_reviews_all_is_approved_and_on_hold_only(shop):
    every = get(shop, "products/reviews", status="all", per_page=100)
    assert {8001, 8002}.isdisjoint(r["id"] for r in every) and {r["status"] for r in every} <= {"approved", "hold"}
    assert [r["id"] for r in get(shop, "products/reviews", status="spam", per_page=100) if r["id"] > 8000] == [8001]
    # the sample store's own trashed reviews (a few percent) and the one put here
    assert [r["id"] for r in get(shop, "products/reviews", status="trash", per_page=100) if r["id"] > 8000] == [8002]


def test_tax_classes_list_the_standard_rate(shop):
    assert get(shop, "taxes/classes")[0] == {"slug": "standard", "name": "Standard rate"}


# --- the source reads them -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def read(shop):
    src = platforms.connect(NAME, shop)
    return {e: {r.source_id: r.record for r in src.records(e)} for e in ("products", "orders", "reviews")}


def test_the_source_reads_grouped_and_external_products(shop, read):
    products = read["products"]
    grouped = products[shop.ids["grouped"]]
    assert grouped["type"] == "grouped" and grouped["price"] is not None and len(grouped["child_ids"]) == 2
    external = products[shop.ids["external"]]
    assert (external["type"], external["external_url"], external["button_text"]) == (
        "external", "https://partner.example/k", "Kjøp hos partner")


def test_the_source_reads_trashed_products_and_their_lifecycle(shop, read):
    trashed = read["products"][shop.ids["trashed"]]
    assert trashed["lifecycle"] == "trashed" and trashed["status"] == "disabled"
    draft = read["products"][shop.ids["draft"]]
    assert draft["lifecycle"] == "draft" and draft["url_key"] is None  # the pipeline keys it from the name
    assert {p["lifecycle"] for p in read["products"].values()} >= {"published", "draft", "trashed"}
    src = platforms.connect(NAME, shop)
    assert shop.ids["trashed"] in set(src.ids("products"))  # deletion detection sees it too


def test_disabled_variations_are_carried_and_not_priced(shop, read):
    p = read["products"][shop.ids["disabled_variant"]]
    statuses = [v["status"] for v in p["variants"]]
    assert statuses[0] == "disabled" and "enabled" in statuses
    sold = [v["price"] for v in p["variants"] if v["status"] == "enabled"]
    assert p["price"] == min(sold) and p["price"] != Decimal("1.00")


def test_a_scheduled_sale_keeps_its_dates(shop, read):
    p = read["products"][shop.ids["scheduled"]]
    assert p["special_price"] == Decimal("400.00")
    assert p["special_price_from"] == SOON.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert p["special_price_to"] == LATER.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_refunds_lines_of_deleted_products_and_review_statuses(shop, read):
    o = read["orders"]["9001"]
    assert [i["product_id"] for i in o["items"]] == [shop.ids["trashed"], None]
    assert [(r["amount"], r["reason"]) for r in o["refunds"]] == [(Decimal("12.50"), "Returned")]
    assert o["refunded_total"] == Decimal("12.50") and o["net_total"] == o["grand_total"] - Decimal("12.50")
    assert read["reviews"]["8001"]["status"] == "spam" and read["reviews"]["8002"]["status"] == "trashed"


# --- and the pipeline migrates them ----------------------------------------------------------------------------------
def test_the_shop_migrates_with_nothing_valid_quarantined(shop, tmp_path):
    from helpers import Run

    r = Run(tmp_path / "work", platforms.connect(NAME, shop))
    r()
    ids = shop.ids
    quarantined = dict(r.query("SELECT entity || ':' || source_id, reason FROM ledger WHERE outcome = 'quarantined'"))
    mine = {f"products:{s}" for s in ids.values()} | {"orders:9001", "reviews:8001", "reviews:8002"}
    assert not mine & set(quarantined), quarantined
    products = {p["_source_id"]: p for p in r.target_rows("products")}
    assert products[ids["scheduled"]]["special_price_from"] == SOON
    assert products[ids["scheduled"]]["special_price_to"] == LATER
    assert products[ids["grouped"]]["type"] == "grouped" and products[ids["external"]]["type"] == "external"
    assert products[ids["external"]]["external_url"] == "https://partner.example/k"
    assert products[ids["trashed"]]["lifecycle"] == "trashed" and products[ids["trashed"]]["active"] is False
    assert products[ids["draft"]]["url_key"] == "ny-vinterjakke"  # rule url_key_from_name
    # variant status is staged (the target shape has no variant status yet: no target holds one)
    staged = r.query("SELECT list_transform(variants, lambda v: v.status) FROM staged_products WHERE source_id = ?",
                     [ids["disabled_variant"]])[0][0]
    assert staged[0] == "disabled" and products[ids["disabled_variant"]]["price"] != Decimal("1.00")
    order = next(o for o in r.target_rows("orders") if o["_source_id"] == "9001")
    assert order["refunded_total"] == Decimal("12.50")
    assert [i["product_id"] is None for i in order["items"]] == [False, True]  # trashed kept, deleted gone
    assert order["items"][1]["sku"] == "GONE-1" and order["items"][1]["name"] == "Slettet"  # history kept
    classes = {c["_source_id"]: c["name"] for c in r.target_rows("tax_classes")}
    assert classes["standard"] == "Standard"  # "Standard rate", by rule tax_class_mapping
    with r.staging.connect() as con:
        from cart_pipelines.pipeline import checks
        ok, facts = checks.money_totals_match(con, r.target)
    assert ok, facts


def test_a_delta_after_a_product_is_trashed_keeps_its_migrated_orders(tmp_path):
    """Issue 14: trashing a product left status=any, so a delta dropped it and quarantined orders that were
    already migrated. The trash is read now: the product stays (trashed, disabled) and so do its orders."""
    from helpers import Run

    store = EmulatorStore.generated(products=20, seed=3)
    with platforms.emulate(NAME, store=store, knobs=Knobs(rate_limit=False)) as h:
        r = Run(tmp_path / "work", platforms.connect(NAME, h))
        r()
        assert r.report()["all_accounted_for"]
        loaded = set(r.query("SELECT source_id FROM ledger WHERE entity = 'orders' AND outcome = 'loaded'"))
        order = next(o for o in store.page("orders", 0, 1000) if (o["source_id"],) in loaded)
        pid = order["items"][0]["product_id"]
        store.put("products", {**store.get("products", int(pid)), "lifecycle": "trashed", "status": "disabled"})
        r(mode="delta", lookback_seconds=0)
        assert r.query("SELECT outcome FROM ledger WHERE entity = 'orders' AND source_id = ?",
                       [order["source_id"]]) == [("loaded",)]
        assert r.query("SELECT count(*) FROM ledger WHERE entity = 'orders' AND outcome = 'quarantined'") == [(0,)]
        product = next(p for p in r.target_rows("products") if p["_source_id"] == pid)
        assert product["lifecycle"] == "trashed" and product["active"] is False
