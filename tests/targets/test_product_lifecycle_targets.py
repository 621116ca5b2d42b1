"""A product enabled at the source but not published there (draft, pending, private, scheduled, archived, trashed),
into each target emulator. Only Mystore had a rule for it (product_lifecycle_as_status): Shopify got every such
product ACTIVE, WooCommerce `publish` and BigCommerce visible, so the shop started selling what the source does not
publish. Now each target holds the lifecycle as it can: Shopify DRAFT or ARCHIVED, WooCommerce draft, pending or
private (rule product_lifecycle_nearest where it has no such state), BigCommerce and Mystore not visible / status 0
(rule product_lifecycle_as_status); a re-run writes nothing."""

import pytest
from helpers import Run, base_store, write_store

from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.platforms import target_registry as registry
from cart_pipelines.platforms.shopify.emulator import product_status

LIFECYCLES = ("published", "draft", "pending", "private", "scheduled", "archived", "trashed")


def lifecycle_store() -> dict:
    records = base_store()
    p = records["products"][0]
    records["products"] = [
        {**p, "source_id": str(k), "sku": f"L-{k}", "url_key": f"l-{k}", "name": f"Genser {life}",
         "status": "enabled", "lifecycle": life} for k, life in enumerate(LIFECYCLES, start=1)
    ] + [{**p, "source_id": "8", "sku": "L-8", "url_key": "l-8", "name": "Genser av", "status": "disabled"}]
    records["orders"][0]["status"] = "completed"
    records["orders"][0]["items"][0].update(product_id="6", sku="L-6")  # an old order of the archived product
    return records


def held(platform: str, emulator, target_id: str):
    """What the shop holds as the product's status, as its platform names it."""
    if platform == "mystore":  # status 1 sold, 0 not
        return emulator.data["products"][int(target_id)]["attributes"]["status"]
    rec = emulator.store.get("products", int(target_id))
    if platform == "shopify":
        return product_status(rec)
    if platform == "woocommerce":
        return rec["_wc"]["status"]
    return rec["status"]  # BigCommerce: is_visible as written


# platform → the status held for products 1..8 (the lifecycles above, then a disabled published product), the rule
# that says where the target could not hold the source's lifecycle, and the products it counts
EXPECTED = {
    "shopify": (["ACTIVE", "DRAFT", "DRAFT", "DRAFT", "DRAFT", "ARCHIVED", "ARCHIVED", "DRAFT"],
                "product_lifecycle_nearest", 4),  # pending, private, scheduled, trashed
    "woocommerce": (["publish", "draft", "pending", "private", "draft", "private", "private", "draft"],
                    "product_lifecycle_nearest", 3),  # scheduled, archived, trashed
    "bigcommerce": (["enabled"] + ["disabled"] * 7, "product_lifecycle_as_status", 6),
    "mystore": ([1] + [0] * 7, "product_lifecycle_as_status", 6),
}


@pytest.mark.parametrize("platform", sorted(EXPECTED))
def test_an_unpublished_product_is_not_put_on_sale_by_any_target(platform, tmp_path):
    statuses, rule, count = EXPECTED[platform]
    settings = RuleSettings(target_platform=platform)
    with registry.emulate(platform, tmp_path / "t", lifetime=300) as (handle, resource):
        r = Run(tmp_path / "work", write_store(tmp_path / "store", lifecycle_store()))
        r.target = resource.open()
        r(settings=settings)
        assert r.query("SELECT entity, outcome, count(*) FROM ledger WHERE entity IN ('products', 'orders') "
                       "GROUP BY ALL ORDER BY ALL") == [("orders", "loaded", 1), ("products", "loaded", 8)]
        ids = dict(r.query("SELECT source_id, target_id FROM id_map WHERE entity = 'products'"))
        got = [held(platform, handle.emulator, ids[str(k)]) for k in range(1, 9)]
        assert got == statuses
        back = {row["_source_id"]: row["active"] for row in r.target_rows("products")}
        assert back == {str(k): k == 1 for k in range(1, 9)}  # only the published, enabled product is sold
        counts = dict(r.query("SELECT rule, records FROM rule_counts WHERE entity = 'products'"))
        assert counts.get(rule) == count
        (order,) = r.target_rows("orders")
        assert [i["product_id"] for i in order["items"]] == [ids["6"]]  # the old order keeps its product
        writes = handle.emulator.writes
        r(settings=settings)  # a re-run writes nothing: each product is held as written
        assert handle.emulator.writes == writes
