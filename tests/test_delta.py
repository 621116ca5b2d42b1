"""Delta migrations (seed 001's post-migration): only what changed is read and written; a snapshot source refuses."""

import json

import dagster as dg
import pytest
from conftest import SAMPLE
from integration.test_platform_migrations import resource_for

from cart_pipelines.definitions import build_definitions
from cart_pipelines.defs.jobs import run_config
from cart_pipelines.defs.resources import default_resources
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.sample.generator import StoreSize, generate_store


def job(defs, name, **settings):
    keys = [k for a in defs.assets for k in a.keys]
    return defs.resolve_job_def(name).execute_in_process(
        run_config=run_config(keys, **settings), instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def failure_message(result) -> str:
    event = next(e for e in result.all_events if e.is_step_failure)
    return event.step_failure_data.user_failure_data.description


def meta(result, node):
    return {k: v.value for k, v in result.asset_materializations_for_node(node)[0].metadata.items()}


def test_store_export_refuses_a_delta_and_says_why(tmp_path):
    defs = build_definitions(default_resources(tmp_path / "data", str(SAMPLE)))
    result = job(defs, "delta_sync", mode="delta")
    assert not result.success
    message = failure_message(result)
    assert "cannot run a delta" in message and "snapshot" in message


@pytest.fixture
def woo(tmp_path):
    d = tmp_path / "store"
    generate_store(d, seed=41, size=StoreSize.scaled(40))
    store = EmulatorStore(d)
    with platforms.emulate("woocommerce", store=store, knobs=Knobs(rate_limit=False)) as handle:
        resources = default_resources(tmp_path / "data")
        resources["source"] = resource_for("woocommerce", handle)
        yield store, build_definitions(resources), tmp_path / "data"


def report(data):
    return json.loads((data / "reports" / "migration_report.json").read_text())


def test_delta_reads_and_writes_only_what_changed(woo):
    store, defs, data = woo
    before_full = job(defs, "delta_sync", mode="delta")
    assert not before_full.success and "run full_migration first" in failure_message(before_full)
    assert job(defs, "full_migration", mode="full").success
    product = store.get("products", 3)
    store.put("products", {**product, "price": 1234.5})
    new = {**store.get("products", 4), "source_id": "9001", "sku": "NEW-9001", "url_key": "ny/nytt-produkt"}
    store.put("products", new)
    customer = store.get("customers", 1)
    store.put("customers", {**customer, "last_name": "Endret"})
    result = job(defs, "delta_sync", mode="delta", lookback_seconds=0)  # exact counts; the window re-reads more
    failed = [(e.asset_key.to_user_string(), e.check_name) for e in result.get_asset_check_evaluations()
              if not e.passed]
    assert result.success and not failed, failed
    assert meta(result, "extract__products")["read_in_this_run"] == 2
    assert meta(result, "extract__customers")["read_in_this_run"] == 1
    assert meta(result, "extract__orders")["read_in_this_run"] == 0
    rep = report(data)
    by = {e["entity"]: e for e in rep["entities"]}
    assert (by["products"]["created"], by["products"]["updated"]) == (1, 1)
    assert (by["customers"]["created"], by["customers"]["updated"]) == (0, 1)
    assert rep["all_accounted_for"] and rep["totals"]["created"] + rep["totals"]["updated"] == 3
    target = defs.resources["target"].open()
    prices = {r["_source_id"]: str(r["price"]) for r in target.scan("products").to_pylist()}
    assert prices["3"] == "1234.50" and "9001" in prices


def test_delta_without_changes_reads_little_and_writes_nothing(woo):
    store, defs, data = woo
    assert job(defs, "full_migration", mode="full").success
    result = job(defs, "delta_sync", mode="delta", lookback_seconds=0)
    assert result.success
    for entity in ("products", "customers", "orders"):  # the entities WooCommerce filters by modification date
        m = meta(result, f"extract__{entity}")
        # one page request; products add one for the trash (status=any leaves it out) and one for the shop's
        # weight unit (settings), needed to convert weights
        assert m["read_in_this_run"] == 0 and m["requests"] <= (3 if entity == "products" else 1), (entity, m)
    # Categories, brands, tax classes and reviews have no modified-after filter in WooCommerce: a delta reads
    # them whole (a few requests), and writes nothing since nothing changed.
    rep = report(data)
    assert rep["totals"]["created"] == rep["totals"]["updated"] == 0


PEOPLE = ["categories", "manufacturers", "tax_classes", "products", "customers"]


def test_dry_run_reports_the_next_delta_and_writes_nothing(woo):
    store, defs, data = woo
    assert job(defs, "full_migration", mode="full", entities=PEOPLE).success
    store.put("products", {**store.get("products", 3), "price": 99.0})
    store.put("customers", {**store.get("customers", 2), "last_name": "Tørr"})
    store.put("customers", {**store.get("customers", 1), "source_id": "9002", "email": "ny@example.no"})
    target_file = defs.resources["target"].open().path
    before = target_file.read_bytes()
    with defs.resources["staging"].open().connect() as con:
        marks, id_map = (con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in ("watermarks", "id_map"))

    dry = job(defs, "delta_sync", mode="delta", entities=PEOPLE, lookback_seconds=0, dry_run=True)
    assert dry.success and all(e.passed for e in dry.get_asset_check_evaluations())
    plan = {e["entity"]: e for e in json.loads((data / "reports" / "dry_run_report.json").read_text())["entities"]}
    assert (plan["products"]["create"], plan["products"]["update"]) == (0, 1)
    assert (plan["customers"]["create"], plan["customers"]["update"]) == (1, 1)
    assert plan["categories"]["create"] + plan["categories"]["update"] == 0 and "orders" not in plan
    assert target_file.read_bytes() == before  # byte for byte
    with defs.resources["staging"].open().connect() as con:
        assert con.execute("SELECT * FROM watermarks ORDER BY ALL").fetchall() == marks
        assert con.execute("SELECT * FROM id_map ORDER BY ALL").fetchall() == id_map

    # the real delta does the writes
    result = job(defs, "delta_sync", mode="delta", entities=PEOPLE, lookback_seconds=0)
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    by = {e["entity"]: e for e in report(data)["entities"]}
    assert (by["products"]["updated"], by["customers"]["created"], by["customers"]["updated"]) == (1, 1, 1)
    assert target_file.read_bytes() != before
