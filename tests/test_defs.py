"""The code location loads, and its assets, checks and jobs are the ones users see."""

import dagster as dg

from cart_pipelines.definitions import defs
from cart_pipelines.model.entities import ENTITY_NAMES


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_asset_keys_by_stage():
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    expected = {f"{stage}/{e}" for stage in ("extract", "transform", "load") for e in ENTITY_NAMES}
    backfill = {f"backfill/{stage}_{e}" for stage in ("extract", "load") for e in ("orders", "products", "customers")}
    assert keys == expected | backfill | {"transform/scope", "load/prepare_target", "report/migration_report",
                                          "status/lifecycle"}


def test_groups_and_descriptions():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name == key.path[0]
        assert node.description


def test_kinds_name_the_platforms_and_owners_are_set(tmp_path):
    from cart_pipelines.definitions import build_definitions
    from cart_pipelines.defs.platform_resources import WooCommerceTargetResource
    from cart_pipelines.defs.resources import default_resources

    def kinds(d, path):
        return set(d.resolve_asset_graph().get(dg.AssetKey(path)).kinds)

    assert kinds(defs, ["extract", "products"]) == {"parquet", "duckdb", "store_export"}
    assert kinds(defs, ["load", "orders"]) == {"duckdb"}  # the local target is a DuckDB file
    resources = default_resources(tmp_path)
    resources["target"] = WooCommerceTargetResource(shop_url="https://shop.example", consumer_key="ck_x",
                                                    consumer_secret="cs_x")
    assert kinds(build_definitions(resources), ["load", "orders"]) == {"duckdb", "woocommerce"}
    assert all(defs.resolve_asset_graph().get(k).owners == ["team:data-engineering"]
               for k in defs.resolve_all_asset_keys())


def test_checks_guard_every_load():
    checks = {(spec.asset_key.to_user_string(), spec.name): spec
              for c in defs.asset_checks or [] for spec in c.check_specs}
    assert all(spec.description for spec in checks.values())
    for e in ENTITY_NAMES:
        assert checks[(f"load/{e}", "ledger_closes")].blocking
        assert checks[(f"load/{e}", "counts_reconcile")].blocking
    for e in ("categories", "products", "orders", "reviews"):
        assert (f"load/{e}", "references_resolve") in checks
    assert checks[("load/orders", "money_totals_match")].blocking
    assert checks[("transform/products", "url_keys_unique")].blocking


def test_jobs_named_for_what_users_do():
    assert {j.name for j in defs.jobs} >= {"demo_migration", "full_migration"}


def test_canonical_model_page_lists_every_field():
    from pathlib import Path

    from cart_pipelines.model.canonical import SCHEMAS

    page = (Path(__file__).resolve().parents[1] / "docs" / "canonical-model.md").read_text()
    for entity, schema in SCHEMAS.items():
        assert f"## {entity}" in page
        for f in schema:
            assert f"`{f.name}`" in page, (entity, f.name)
