"""The bundled sample store, migrated end to end by the Dagster jobs, with every check passing."""

import json

import dagster as dg
import pytest
from conftest import SAMPLE

from cart_pipelines.definitions import build_definitions
from cart_pipelines.defs.jobs import run_config
from cart_pipelines.defs.resources import default_resources


@pytest.fixture
def dagster_run(tmp_path):
    defs = build_definitions(default_resources(tmp_path / "data", str(SAMPLE)))
    keys = [k for a in defs.assets for k in a.keys]
    instance = dg.DagsterInstance.ephemeral()

    def execute(job: str, **settings):
        cfg = run_config(keys, **settings) if settings else None
        return defs.resolve_job_def(job).execute_in_process(run_config=cfg, instance=instance, raise_on_error=False)

    execute.report = lambda: json.loads((tmp_path / "data" / "reports" / "migration_report.json").read_text())
    return execute


def assert_all_checks_pass(result):
    evaluations = result.get_asset_check_evaluations()
    failed = [(e.asset_key.to_user_string(), e.check_name, e.metadata) for e in evaluations if not e.passed]
    assert result.success and not failed, failed
    assert len(evaluations) == 23, len(evaluations)


def test_full_migration_then_rerun_writes_nothing(dagster_run):
    first = dagster_run("full_migration")
    assert_all_checks_pass(first)
    rep = dagster_run.report()
    assert rep["all_accounted_for"]
    by = {e["entity"]: e for e in rep["entities"]}
    assert by["orders"]["skipped_by_rule"]["order_needs_customer"] > 100
    assert by["reviews"]["skipped_by_rule"]["review_needs_product_and_customer"] > 20
    assert by["products"]["quarantined"] == 4 and by["products"]["loaded"] == 500
    assert rep["totals"]["created"] > 2000
    second = dagster_run("full_migration")
    assert_all_checks_pass(second)
    rep2 = dagster_run.report()
    assert rep2["totals"]["created"] == rep2["totals"]["updated"] == 0
    assert rep2["totals"]["unchanged"] == rep["totals"]["created"]
    assert {e: m.value for e, m in second.asset_materializations_for_node("load__orders")[0].metadata.items()
            }["writes"] == 0


def test_demo_migration_then_full(dagster_run):
    demo = dagster_run("demo_migration")
    assert_all_checks_pass(demo)
    by = {e["entity"]: e for e in dagster_run.report()["entities"]}
    # the draw is coherent: every drawn order loads with its customer, and reviews of the chosen products come along
    assert by["orders"]["loaded"] == 10 and "order_needs_customer" not in by["orders"]["skipped_by_rule"]
    assert by["products"]["loaded"] >= 10 and by["customers"]["loaded"] >= 10 and by["reviews"]["loaded"] > 0
    full = dagster_run("full_migration")
    assert_all_checks_pass(full)
    by = {e["entity"]: e for e in dagster_run.report()["entities"]}
    assert by["products"]["loaded"] == 500 and by["products"]["unchanged"] >= 10


def test_orders_without_customers_is_a_clear_error(dagster_run):
    result = dagster_run("full_migration", entities=["orders", "products"])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "orders cannot be migrated without customers" in failure.step_failure_data.user_failure_data.description


def test_products_only_brings_their_taxonomy(dagster_run):
    result = dagster_run("full_migration", entities=["products"])
    assert result.success
    by = {e["entity"]: e for e in dagster_run.report()["entities"]}
    assert by["products"]["loaded"] == 500 and by["categories"]["loaded"] == 50
    assert by["orders"]["source"] is None and by["customers"]["source"] is None


def test_connection_check_job(dagster_run, tmp_path):
    assert dagster_run("check_source_connection").success
    defs = build_definitions(default_resources(tmp_path / "d", str(tmp_path)))
    result = defs.resolve_job_def("check_source_connection").execute_in_process(raise_on_error=False)
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "holds no <entity>.jsonl files" in failure.step_failure_data.user_failure_data.description
    assert dagster_run("check_target_connection").success  # the local target: a DuckDB file


def test_clear_target_option_and_preserved_ids(dagster_run, tmp_path):
    import duckdb

    assert_all_checks_pass(dagster_run("full_migration", entities=["products"]))
    target = tmp_path / "data" / "target" / "mystore.duckdb"
    con = duckdb.connect(str(target))
    con.execute("INSERT INTO products (id, name, price, _source_id) VALUES ('999999', 'Stray', 1, 'stray')")
    con.close()
    result = dagster_run("full_migration", entities=["products"], clear_target=True, preserve_ids=True)
    assert_all_checks_pass(result)
    meta = result.asset_materializations_for_node("load__prepare_target")[0].metadata
    assert meta["deleted"].value["products"] == 501
    con = duckdb.connect(str(target), read_only=True)
    ids = dict(con.execute("SELECT _source_id, id FROM products").fetchall())
    con.close()
    assert "stray" not in ids and len(ids) == 500
    assert all(ids[s] == s for s in ids)  # source ids kept where the target allows
    rep = dagster_run.report()
    assert {e["entity"]: e["created"] for e in rep["entities"]}["products"] == 500


def test_report_carries_a_chart(dagster_run, tmp_path):
    result = dagster_run("demo_migration", mode="demo")
    chart = result.asset_materializations_for_node("report__migration_report")[0].metadata["chart"].value
    assert chart.startswith("![migration](data:image/png;base64,")
    png = (tmp_path / "data" / "reports" / "migration_chart.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
