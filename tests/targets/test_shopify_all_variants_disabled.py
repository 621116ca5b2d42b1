"""A product whose variants the source holds all disabled, into Shopify (rule variants_all_disabled_archived). Shopify
variants have no status and a product has at least one variant: variant_disabled_not_written left every variant
out, so the product went to Shopify as one default variant at the product's price, ACTIVE — on sale, though the
source sells none of it. Now it is written with all its variants, ARCHIVED (Shopify's "no longer being sold"; a
draft where the product itself is disabled at the source), counted by its rule; old orders keep their product;
a product with some variants sold still loses only its disabled ones."""

from decimal import Decimal

from helpers import Run, base_store, write_store

from cart_pipelines.defs.platform_resources import ShopifyTargetResource
from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs, running
from cart_pipelines.platforms.shopify.emulator import ShopifyEmulator, product_status


def variant(n: int, status: str | None, price: float = 499.0) -> dict:
    return {"source_id": f"v{n}", "sku": f"V-{n}", "price": price, "stock": 3,
            "options": [{"name": "Str", "value": f"S{n}"}], "status": status}


def all_disabled_store() -> dict:
    records = base_store()
    p = records["products"][0]
    records["products"] = [
        {**p, "source_id": "1", "variants": [variant(1, "disabled", 449.0), variant(2, "Disabled")]},
        {**p, "source_id": "2", "sku": "B-2", "url_key": "b", "status": "disabled",
         "variants": [variant(3, "disabled")]},
        {**p, "source_id": "3", "sku": "C-3", "url_key": "c", "variants": [variant(4, "enabled"),
                                                                          variant(5, "disabled")]}]
    return records


def test_a_product_with_every_variant_disabled_is_archived_on_shopify_with_its_variants(tmp_path):
    (tmp_path / "empty").mkdir()
    shop = ShopifyEmulator(EmulatorStore(tmp_path / "empty"), Knobs(rate_limit=False))
    settings = RuleSettings(target_platform="shopify")
    with running(shop, lifetime=300) as handle:
        r = Run(tmp_path / "work", write_store(tmp_path / "store", all_disabled_store()))
        r.target = ShopifyTargetResource.resource_for_emulator(handle, tmp_path).open()
        r(settings=settings)
        assert r.query("SELECT entity, outcome, count(*) FROM ledger WHERE entity IN ('products', 'orders') "
                       "GROUP BY ALL ORDER BY ALL") == [("orders", "loaded", 1), ("products", "loaded", 3)]
        ids = dict(r.query("SELECT source_id, target_id FROM id_map WHERE entity = 'products'"))
        held = {sid: shop.store.get("products", int(tid)) for sid, tid in ids.items()}
        # what the shop holds: the status each product was written with, and every variant it was given
        assert {sid: product_status(p) for sid, p in held.items()} == {"1": "ARCHIVED", "2": "DRAFT", "3": "ACTIVE"}
        assert {sid: [v["sku"] for v in p["variants"]] for sid, p in held.items()} == {
            "1": ["V-1", "V-2"], "2": ["V-3"], "3": ["V-4"]}
        assert [Decimal(v["_price"]) for v in held["1"]["variants"]] == [Decimal("449.0"), Decimal("499.0")]
        back = {row["_source_id"]: row for row in r.target_rows("products")}
        assert {sid: row["active"] for sid, row in back.items()} == {"1": False, "2": False, "3": True}
        counts = dict(r.query("SELECT rule, records FROM rule_counts WHERE entity = 'products'"))
        assert counts["variants_all_disabled_archived"] == 2
        assert counts["variant_disabled_not_written"] == 1  # product 3 only
        rep = r.report()
        assert [(v["product_source_id"], v["variant_sku"]) for v in rep["variants_not_written"]] == [("3", "V-5")]
        (order,) = r.target_rows("orders")
        assert [i["product_id"] for i in order["items"]] == [ids["1"]]
        writes = shop.writes
        r(settings=settings)  # a re-run writes nothing: the archived product is held as written
        assert shop.writes == writes
