"""Rule variant_listed_as_product (issue 14): Magento lists a configurable product's child simple products among its
products. A product that is also another product's variant (the same id and SKU) migrates as that variant only,
is skipped by the named rule (the ledger closes), and an order line naming it goes to its parent."""

import copy

from helpers import Run, base_store, write_store

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs

from contract.real_shop import real_store, truth


def store_with_listed_child() -> dict:
    s = base_store()
    parent = s["products"][0]
    parent["variants"] = [{"source_id": "801", "sku": "A-1-S", "price": 499.0, "options": [{"name": "Str",
                                                                                             "value": "S"}]}]
    child = {**copy.deepcopy(parent), "source_id": "801", "sku": "a-1-s ", "name": "Blå genser S", "variants": [],
             "url_key": "bla-genser-s"}
    s["products"].append(child)
    s["orders"][0]["items"].append({"source_id": "1-2", "product_id": "801", "sku": "A-1-S", "qty": 1,
                                    "price": 0.0, "tax": 0})
    return s


def test_a_listed_variant_is_skipped_as_a_product_and_its_order_lines_go_to_the_parent(tmp_path):
    r = Run(tmp_path / "work", write_store(tmp_path / "store", store_with_listed_child()))
    r()
    outcome = dict(r.query("SELECT source_id, coalesce(rule, outcome) FROM ledger WHERE entity = 'products' "
                           "AND stage = 'transform'"))
    assert outcome == {"801": "variant_listed_as_product"}  # not quarantined for its SKU either
    products = {p["_source_id"]: p for p in r.target_rows("products")}
    assert set(products) == {"1"} and [v["sku"] for v in products["1"]["variants"]] == ["A-1-S"]
    order = r.target_rows("orders")[0]
    assert [(i["sku"], i["product_id"]) for i in order["items"]] == [("A-1", products["1"]["id"]),
                                                                      ("A-1-S", products["1"]["id"])]
    rep = r.report()
    assert rep["all_accounted_for"]
    assert ("orders", "variant_listed_as_product", 1) in r.query("SELECT * FROM rule_counts")


def test_a_variant_that_only_shares_an_id_with_a_product_is_no_listed_variant(tmp_path):
    """BigCommerce variant ids and product ids are separate spaces: the same number with another SKU is two
    records."""
    s = base_store()
    s["products"][0]["variants"] = [{"source_id": "2", "sku": "A-1-S", "price": 1.0, "options": []}]
    s["products"].append({**copy.deepcopy(s["products"][0]), "source_id": "2", "sku": "B-2", "variants": [],
                          "url_key": "annen"})
    r = Run(tmp_path / "work", write_store(tmp_path / "store", s))
    r()
    assert {p["_source_id"] for p in r.target_rows("products")} == {"1", "2"}


def test_magento_with_configurable_children_listed_migrates_each_once(tmp_path_factory, tmp_path):
    store_dir = real_store(tmp_path_factory)
    with platforms.emulate("magento", store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as h:
        h.emulator.lists_children = True
        r = Run(tmp_path / "work", platforms.connect("magento", h))
        r(entities=("categories", "manufacturers", "tax_classes", "products"))
    store = truth(store_dir, "products")
    children = sum(len(p["variants"]) for p in store.values())
    assert children
    extracted = r.extracted["products"]
    assert extracted.staged == len(store) + children
    skipped = r.query("SELECT count(*) FROM ledger WHERE entity = 'products' AND rule = 'variant_listed_as_product'")
    assert skipped == [(children,)]
    quarantined = r.query("SELECT source_id, reason FROM ledger WHERE entity = 'products' AND outcome = 'quarantined'")
    assert not quarantined
    loaded = {p["_source_id"]: p for p in r.target_rows("products")}
    assert set(loaded) == set(store)
    assert all(len(loaded[pid]["variants"]) == len(p["variants"]) for pid, p in store.items())
