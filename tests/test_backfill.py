"""Backfills through Dagster against the Magento emulator into the local target: id-range partitions of products
and customers planned from the source, three months of orders in one ranged run (as the backfill policy batches
them), then the same three again partition by partition: exactly those slices are loaded, the ledger closes for
each, and the second pass writes nothing."""

import json
from datetime import datetime, timezone

import dagster as dg
import pytest

from cart_pipelines.definitions import build_definitions
from cart_pipelines.defs.partitions import PARTITIONS, plan, pools
from cart_pipelines.defs.platform_resources import MagentoSourceResource
from cart_pipelines.defs.resources import LocalMystoreTarget, StagingResource
from cart_pipelines.pipeline.backfill import slice_for
from cart_pipelines.pipeline.extract import extract_entity
from cart_pipelines.pipeline.load import load_entity
from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.pipeline.scope import compute_scope
from cart_pipelines.pipeline.staging import Staging
from cart_pipelines.pipeline.transform import transform_entity
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.local.target import DuckDBStore
from cart_pipelines.sample.generator import StoreSize, generate_store

MONTHS = ["2024-01-01", "2024-02-01", "2024-03-01"]
UPSTREAM = ["categories", "manufacturers", "tax_classes"]


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("store")
    generate_store(d, seed=11, size=StoreSize.scaled(60))
    return d


@pytest.fixture(scope="module")
def shop(store_dir):
    with platforms.emulate("magento", store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as h:
        yield h


@pytest.fixture
def setup(shop, tmp_path):
    resources = {"staging": StagingResource(directory=str(tmp_path / "staging"),
                                            reports_directory=str(tmp_path / "reports")),
                 "source": MagentoSourceResource(base_url=shop.base_url, access_token=shop.credentials["access_token"]),
                 "target": LocalMystoreTarget(path=str(tmp_path / "target.duckdb"))}
    return build_definitions(resources), dg.DagsterInstance.ephemeral(), tmp_path


def load_upstream(defs, tmp):
    """Categories, manufacturers and tax classes migrated as full_migration does (its stages, without the run)."""
    staging, target = Staging(tmp / "staging"), DuckDBStore(tmp / "target.duckdb")
    for e in UPSTREAM:
        extract_entity(defs.resources["source"].open(), e, staging)
    with staging.connect() as con:
        compute_scope(con, tuple(UPSTREAM))
        for e in UPSTREAM:
            transform_entity(con, e, RuleSettings())
            load_entity(con, target, e)


def truth(store_dir, entity):
    return [json.loads(line) for line in open(store_dir / f"{entity}.jsonl", encoding="utf-8")]


def load_writes(result, entity) -> int:
    mats = [m for m in result.asset_materializations_for_node(f"backfill__load_{entity}")]
    return sum(m.metadata["writes"].value for m in mats)


def ranged(first: str, last: str) -> dict:
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


def run(defs, instance, entity, **kw):
    result = defs.resolve_job_def(f"backfill_{entity}").execute_in_process(instance=instance, raise_on_error=False,
                                                                          **kw)
    failures = [e.step_failure_data.user_failure_data.description for e in result.all_events
                if e.is_step_failure and e.step_failure_data.user_failure_data]
    assert result.success, failures
    return result


def test_backfill_three_partitions_twice_writes_nothing_the_second_time(setup, store_dir):
    defs, instance, tmp = setup
    load_upstream(defs, tmp)

    src = defs.resources["source"].open()
    products = plan(instance, src, "products", per_partition=30)
    assert products == instance.get_dynamic_partitions(PARTITIONS["products"].name) and len(products) == 2
    assert plan(instance, src, "products", per_partition=30) == []  # planning again adds nothing
    run(defs, instance, "products", tags=ranged(products[0], products[-1]))  # one run, as the policy batches
    [customers] = plan(instance, src, "customers", per_partition=100)
    run(defs, instance, "customers", partition_key=customers)

    assert load_writes(run(defs, instance, "orders", tags=ranged(MONTHS[0], MONTHS[-1])), "orders") > 0

    target = DuckDBStore(tmp / "target.duckdb")
    loaded = {r["_source_id"] for r in target.scan("orders").to_pylist()}
    in_months = [o for o in truth(store_dir, "orders") if any(slice_for("orders", m).contains(o) for m in MONTHS)]
    customers = {c["source_id"] for c in truth(store_dir, "customers")}
    expected = {o["source_id"] for o in in_months if o.get("customer_id") in customers}  # the rest skip by rule
    assert expected and loaded == expected
    assert len(loaded) < len(truth(store_dir, "orders"))  # nothing outside the three months
    assert {r["_source_id"] for r in target.scan("products").to_pylist()} == \
        {p["source_id"] for p in truth(store_dir, "products")}

    with Staging(tmp / "staging").connect() as con:
        counts = con.execute("SELECT partition_key, source_records, loaded, skipped, quarantined, closes "
                             "FROM partition_counts WHERE entity = 'orders' ORDER BY 1").fetchall()
        ledger_orders = con.execute("SELECT count(*) FROM ledger WHERE entity = 'orders'").fetchall()[0][0]
    assert [c[0] for c in counts] == MONTHS and all(c[5] for c in counts)
    assert sum(c[1] for c in counts) == len(in_months) == ledger_orders

    again = run(defs, instance, "orders", tags=ranged(MONTHS[0], MONTHS[-1]))  # the same three again
    assert load_writes(again, "orders") == 0
    assert [m.partition for m in again.asset_materializations_for_node("backfill__load_orders")] == MONTHS
    assert {r["_source_id"] for r in target.scan("orders").to_pylist()} == loaded
    with Staging(tmp / "staging").connect() as con:
        assert con.execute("SELECT count(*) FROM ledger WHERE entity = 'orders'").fetchall()[0][0] == ledger_orders
    status = instance.get_status_by_partition(dg.AssetKey(["backfill", "load_orders"]), MONTHS, PARTITIONS["orders"])
    assert set(status.values()) == {dg.AssetPartitionStatus.MATERIALIZED}


def test_orders_before_customers_fail_with_the_reason(setup):
    defs, instance, _ = setup
    result = defs.resolve_job_def("backfill_orders").execute_in_process(
        instance=instance, partition_key=MONTHS[0], raise_on_error=False)
    assert not result.success
    said = [e.step_failure_data.user_failure_data.description for e in result.all_events
            if e.is_step_failure and e.step_failure_data.user_failure_data]
    assert said and "customers are not migrated" in said[0] and "first" in said[0]


def test_pools_follow_the_configured_source_and_target(shop, tmp_path):
    from cart_pipelines.defs.platform_resources import MystoreTargetResource

    resources = {"staging": StagingResource(directory=str(tmp_path), reports_directory=str(tmp_path)),
                 "source": MagentoSourceResource(base_url=shop.base_url, access_token="x"),
                 "target": MystoreTargetResource.from_env()}
    defs = build_definitions(resources)
    by_key = {k.to_user_string(): a.op.pool for a in defs.assets for k in a.keys if k.path[0] == "backfill"}
    assert by_key["backfill/extract_orders"] == by_key["backfill/extract_products"] == "source/magento"
    assert by_key["backfill/load_orders"] == by_key["backfill/load_customers"] == "target/mystore"
    assert pools("store_export", "duckdb") == ("source/store_export", "target/local")


def test_month_partitions_cover_the_month():
    part = slice_for("orders", "2024-12-01")
    assert part.start == datetime(2024, 12, 1, tzinfo=timezone.utc) and part.end == datetime(2025, 1, 1,
                                                                                              tzinfo=timezone.utc)
    assert (slice_for("products", "1-25").start, slice_for("products", "1-25").end) == (1, 26)
