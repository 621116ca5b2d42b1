"""Grouped products (issue 14) reach the targets: WooCommerce holds them (`grouped_products`, the ids of its
products, which load first); a target without a grouped type (Shopify, BigCommerce) gets the rule
grouped_as_simple_with_children_listed, and the report lists each group with its products."""

from decimal import Decimal

import pytest
from helpers import Run, woocommerce_target

from cart_pipelines.pipeline.report import markdown
from cart_pipelines.pipeline.rules import RuleSettings


def with_group(store):
    """Product 1 becomes a group of products 2 and 3 (a lower id than its products: they still load first)."""
    p = store.records["products"][0]
    kids = [{**p, "source_id": sid, "sku": f"K-{sid}", "name": f"Del {sid}", "price": price, "url_key": f"del-{sid}"}
            for sid, price in (("2", 120.0), ("3", 80.0))]
    group = {**p, "type": "grouped", "child_ids": ["2", "3"], "price": 80.0}
    return store({"products": [group, *kids], "orders": [], "reviews": []})


def test_woocommerce_holds_the_group_with_its_products(shop, store, tmp_path):
    r = Run(tmp_path / "work", with_group(store))
    r.target = woocommerce_target(shop, tmp_path)
    woo = RuleSettings(target_platform="woocommerce")
    r(settings=woo)
    assert r.query("SELECT outcome, count(*) FROM ledger WHERE entity = 'products' AND stage = 'load' GROUP BY 1") \
        == [("loaded", 3)]
    ids = dict(r.query("SELECT source_id, target_id FROM id_map WHERE entity = 'products'"))
    group = shop.emulator.store.get("products", int(ids["1"]))["_wc"]
    assert group["type"] == "grouped" and group["grouped_products"] == [int(ids["2"]), int(ids["3"])]
    assert group["regular_price"] == "" and Decimal(group["price"]) == Decimal("80.00")  # the cheapest product's
    rows = {p["_source_id"]: p for p in r.target_rows("products")}
    assert rows["1"]["type"] == "grouped" and rows["1"]["price"] == Decimal("80.00")
    assert rows["1"]["child_ids"] == [ids["2"], ids["3"]]
    writes = shop.emulator.writes
    r(settings=woo)  # a re-run writes nothing
    assert shop.emulator.writes == writes


@pytest.mark.parametrize("platform", ["shopify", "bigcommerce"])
def test_a_target_without_grouped_products_lists_them_in_the_report(platform, store, tmp_path):
    r = Run(tmp_path / "work", with_group(store))
    r(settings=RuleSettings(target_platform=platform), entities=("categories", "manufacturers", "tax_classes",
                                                                 "products"))
    rules = dict(r.query("SELECT rule, records FROM rule_counts WHERE entity = 'products'"))
    assert rules["grouped_as_simple_with_children_listed"] == 1
    rep = r.report()
    assert rep["all_accounted_for"]
    assert rep["grouped_as_simple"] == {"count": 1, "examples": [{"source_id": "1", "name": "Blå genser",
                                                                  "child_ids": ["2", "3"]}]}
    assert "Grouped products written as products of their own (1)" in markdown(rep)


def test_the_local_target_keeps_the_groups_products_and_no_rule_applies(store, tmp_path):
    r = Run(tmp_path / "work", with_group(store))
    r(entities=("categories", "manufacturers", "tax_classes", "products"))
    rows = {p["_source_id"]: p for p in r.target_rows("products")}
    assert rows["1"]["child_ids"] == [rows["2"]["id"], rows["3"]["id"]] and rows["2"]["child_ids"] is None
    assert r.report()["grouped_as_simple"]["count"] == 0
