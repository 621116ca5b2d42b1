"""Migrations as data (migrations.yaml): validated with one line per bad entry, each migration its own keys, group,
resources, data directory, jobs, schedule, partitions and pools per shop; the CLI picks one with --migration, and
the lifecycle (demo done, full done, checks green, post-migration, quarantine) is reported per migration."""

import json
import textwrap

import dagster as dg
import pytest
from conftest import SAMPLE
from typer.testing import CliRunner

from cart_pipelines.cli import app
from cart_pipelines.definitions import build_definitions
from cart_pipelines.defs import migrations as mig
from cart_pipelines.model.entities import ENTITY_NAMES

THREE = """
migrations:
  - name: shop_a
    source: {platform: store_export, path: SAMPLE}
  - name: shop_b
    source: {platform: woocommerce, env_prefix: SHOP_B_}
    entities: [products]
    rules: {hidden_category_name: Hidden, demo_size: 5}
    schedule: {enabled: true, cron: "*/30 * * * *", timezone: Europe/Oslo}
  - name: shop_c
    source: {platform: woocommerce, env: {shop_url: SHOP_C_URL, consumer_key: SHOP_C_KEY, consumer_secret: SHOP_C_SECRET}}
    target: {platform: woocommerce, env_prefix: C_}
"""


@pytest.fixture
def declare(tmp_path, monkeypatch):
    """Write a migrations file and point CART_MIGRATIONS at it; data under tmp_path/data."""
    monkeypatch.setenv("CART_PIPELINES_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))

    def write(text: str):
        path = tmp_path / "migrations.yaml"
        path.write_text(textwrap.dedent(text).replace("SAMPLE", str(SAMPLE)))
        monkeypatch.setenv("CART_MIGRATIONS", str(path))
        return path

    return write


def test_every_bad_entry_is_named_with_its_field(declare):
    declare("""
        migrations:
          - name: ok_shop
          - name: Bad-Name
          - name: typo
            source: {platform: wocommerce}
          - name: wrong_env
            source: {platform: magento, env: {api_key: X, base_url: lower-case}}
          - name: rules
            entities: [orders]
            rules: {demo_size: many, colour: red}
            schedule: {cron: every hour, timezone: Mars/Olympus}
          - name: ok_shop
    """)
    with pytest.raises(mig.MigrationsError) as err:
        mig.load()
    lines = str(err.value).splitlines()
    assert all(": migration " in line and "migrations.yaml" in line for line in lines), lines
    said = "\n".join(lines)
    assert "migration 2 (Bad-Name): name: 'Bad-Name': lower-case letters" in said
    assert "migration 3 (typo): source.platform: 'wocommerce' is not a source platform; choose from" in said
    assert "migration 4 (wrong_env): source.env: not environment variable names" in said and "lower-case" in said
    assert "migration 5 (rules): entities: " in said and "customers" in said
    assert "migration 5 (rules): rules: unknown option colour" in said
    assert "migration 5 (rules): schedule.cron: 'every hour' is not a cron expression" in said
    assert "migration 5 (rules): schedule.timezone: 'Mars/Olympus' is not an IANA time zone" in said
    assert "migration 6 (ok_shop): name: 'ok_shop' is already migration 1's" in said
    declare("migrations: []\n")
    with pytest.raises(mig.MigrationsError, match="at least one migration"):
        mig.load()
    declare("migrations:\n  - name: a\n    source: {platform: magento, env: {api_key: X}}\n")
    with pytest.raises(mig.MigrationsError, match=r"source\.env: api_key not among magento's credentials"):
        mig.load()


def test_no_file_is_the_embedded_default(monkeypatch, tmp_path):
    monkeypatch.delenv("CART_MIGRATIONS", raising=False)
    monkeypatch.setenv("CART_PIPELINES_DATA", str(tmp_path))
    assert mig.migrations_file() is None  # the repository ships none: the demo needs no file
    (only,) = mig.load()
    assert (only.name, only.prefixed, only.data) == ("default", False, tmp_path)
    assert only.resources["staging"].directory == str(tmp_path / "staging")
    monkeypatch.setenv("CART_MIGRATIONS", str(tmp_path / "missing.yaml"))
    with pytest.raises(mig.MigrationsError, match="CART_MIGRATIONS: .* is not a file"):
        mig.load()


def test_one_declared_migration_keeps_stage_keys_and_gets_its_own_data(declare, tmp_path):
    declare("migrations:\n  - name: only_shop\n    source: {platform: store_export, path: SAMPLE}\n")
    (m,) = mig.load()
    assert not m.prefixed and m.data == tmp_path / "data" / "migrations" / "only_shop"
    defs = build_definitions(migrations=[m])
    assert dg.AssetKey(["load", "orders"]) in defs.resolve_all_asset_keys()
    assert defs.resources["staging"].directory == str(m.data / "staging")
    assert defs.resources["target"].path == str(m.data / "target" / "mystore.duckdb")


def test_each_migration_has_its_own_keys_group_resources_jobs_schedule_and_shop_pools(declare, monkeypatch):
    monkeypatch.setenv("SHOP_B_WOOCOMMERCE_SHOP_URL", "https://b.example")
    monkeypatch.setenv("SHOP_C_URL", "https://c.example:8443/shop")
    declare(THREE)
    ms = mig.load()
    defs = build_definitions(migrations=ms)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():  # every asset under its migration's name, in its migration's group
        assert key.path[0] in ("shop_a", "shop_b", "shop_c") and graph.get(key).group_name == key.path[0]
    assert set(graph.get(dg.AssetKey(["shop_b", "extract", "products"])).kinds) == {"parquet", "duckdb", "woocommerce"}
    assert set(graph.get(dg.AssetKey(["shop_c", "load", "orders"])).kinds) == {"duckdb", "woocommerce"}
    # credentials from the environment variables each migration names
    assert defs.resources["shop_b__source"].shop_url == "SHOP_B_WOOCOMMERCE_SHOP_URL"
    assert defs.resources["shop_c__source"].consumer_secret == "SHOP_C_SECRET"
    assert defs.resources["shop_c__target"].consumer_key == "C_WOOCOMMERCE_TARGET_CONSUMER_KEY"
    assert len({defs.resources[f"{n}__staging"].directory for n in ("shop_a", "shop_b", "shop_c")}) == 3
    # pools and run-queue tags per shop: two WooCommerce shops never share one
    pools = {k.to_user_string(): graph.get(k).pools for k in graph.get_all_asset_keys() if "backfill" in k.path}
    assert pools["shop_b/backfill/extract_orders"] == {"source/woocommerce/b.example"}
    assert pools["shop_c/backfill/extract_orders"] == {"source/woocommerce/c.example:8443"}
    assert pools["shop_c/backfill/load_orders"] == {"target/woocommerce/shop_c"}  # C_... not set: its own name
    assert pools["shop_a/backfill/load_orders"] != pools["shop_b/backfill/load_orders"]  # own DuckDB files
    demo = defs.resolve_job_def("shop_b__demo_migration")
    assert demo.tags["cart_pipelines/source"] == "woocommerce/b.example"
    assert demo.tags["cart_pipelines/migration"] == "shop_b"
    # the migration's selection and rule options are the jobs' run-config defaults
    cfg = demo.run_config["ops"]["shop_b__load__products"]
    assert cfg["config"]["entities"] == ["products"] and cfg["config"]["hidden_category_name"] == "Hidden"
    assert cfg["config"]["mode"] == "demo" and cfg["config"]["demo_size"] == 5
    assert {j.name for j in defs.jobs} >= {f"{n}__{j}" for n in ("shop_a", "shop_b", "shop_c")
                                         for j in ("demo_migration", "full_migration", "delta_sync",
                                                   "check_source_connection", "backfill_orders", "plan_partitions")}
    schedules = {s.name: s for s in defs.schedules}
    assert schedules["shop_a__delta_sync_schedule"].default_status == dg.DefaultScheduleStatus.STOPPED
    b = schedules["shop_b__delta_sync_schedule"]
    assert (b.default_status, b.cron_schedule, b.execution_timezone) == (
        dg.DefaultScheduleStatus.RUNNING, "*/30 * * * *", "Europe/Oslo")
    # id-range partitions are each source's own
    names = {graph.get(dg.AssetKey([n, "backfill", "extract_products"])).partitions_def.name
             for n in ("shop_a", "shop_b", "shop_c")}
    assert names == {"shop_a__products_id_ranges", "shop_b__products_id_ranges", "shop_c__products_id_ranges"}
    assert {s.name for s in defs.sensors} == {f"{n}__lifecycle_sensor" for n in ("shop_a", "shop_b", "shop_c")}


def invoke(args):
    return CliRunner().invoke(app, args)


def test_demo_of_one_migration_among_two_then_its_lifecycle(declare, tmp_path):
    declare("""
        migrations:
          - name: shop_a
            source: {platform: store_export, path: SAMPLE}
          - name: shop_b
            source: {platform: store_export, path: SAMPLE}
            rules: {demo_seed: 3}
    """)
    res = invoke(["migrate", "--demo"])
    assert res.exit_code == 2 and "several migrations are declared; choose one of shop_a, shop_b" in res.output
    res = invoke(["migrate", "--demo", "--migration", "shop_b"])
    assert res.exit_code == 0, res.output
    assert "Running shop_b__demo_migration (shop_b)" in res.output and "All 23 checks passed" in res.output
    bars = [line for line in res.output.splitlines() if "3/3" in line]
    assert len(bars) == len(ENTITY_NAMES), res.output  # the bars follow a prefixed migration's steps too
    data = tmp_path / "data" / "migrations"
    assert (data / "shop_b" / "staging" / "catalog.duckdb").exists() and not (data / "shop_a").exists()
    assert json.loads((data / "shop_b" / "reports" / "migration_report.json").read_text())["settings"]["mode"] == "demo"
    res = invoke(["report", "--migration", "shop_b"])
    assert res.exit_code == 0 and "Migration report (demo)" in res.output
    res = invoke(["migrations"])
    assert res.exit_code == 0 and "shop_a" in res.output and "store_export/shop_b" in res.output
    res = invoke(["status"])
    assert res.exit_code == 0, res.output
    rows = {line.split()[1]: line for line in res.output.splitlines() if line.startswith("│ shop_")}
    assert "demo done" in rows["shop_b"] and "green" in rows["shop_b"], res.output
    assert "not started" in rows["shop_a"]

    # the lifecycle sensor reports the same, once per change
    from cart_pipelines.defs.status import lifecycle

    ms = mig.load()
    defs = build_definitions(migrations=ms)
    sensor = defs.resolve_sensor_def("shop_b__lifecycle_sensor")
    with dg.DagsterInstance.get() as instance:
        checks = [s.key for c in defs.asset_checks for s in c.check_specs if s.key.asset_key.path[0] == "shop_b"]
        state = lifecycle(ms[1], instance, checks)
        assert state["demo"]["done_at"] and not state["full"]["done_at"] and state["checks"]["green"]
        report = json.loads((data / "shop_b" / "reports" / "migration_report.json").read_text())
        assert state["quarantined"] == report["totals"]["quarantined"] > 0 and state["stage"] == "demo done"
        result = sensor(dg.build_sensor_context(instance=instance))
        (event,) = result.asset_events
        assert event.asset_key == dg.AssetKey(["shop_b", "status", "lifecycle"])
        assert event.metadata["stage"].value == "demo done" and event.metadata["checks_green"].value is True
        again = sensor(dg.build_sensor_context(instance=instance, cursor=result.cursor))
        assert isinstance(again, dg.SkipReason)


def test_the_example_file_is_valid(monkeypatch, tmp_path):
    from pathlib import Path

    monkeypatch.setenv("CART_PIPELINES_DATA", str(tmp_path))
    example = Path(__file__).resolve().parents[1] / "deploy" / "migrations.example.yaml"
    ms = mig.load(example)
    assert [m.name for m in ms] == ["sample", "woo_shop", "magento_shop"] and all(m.prefixed for m in ms)
    dg.Definitions.validate_loadable(build_definitions(migrations=ms))


SHOPS = """
migrations:
  - name: shop_a
    source: {platform: woocommerce, env_prefix: A_}
  - name: shop_a_again
    source: {platform: woocommerce, env_prefix: A2_}
    target: {platform: woocommerce, env_prefix: T_}
  - name: shop_b
    source: {platform: woocommerce, env_prefix: B_}
    target: {platform: woocommerce, env_prefix: T2_}
"""


def step_side(op_name: str, migration: str) -> str | None:
    """Which shop a step of `migration` talks to, by what it does: "source", "target" or None (catalog only)."""
    step = op_name.removeprefix(f"{migration}__")
    if step.startswith(("extract__", "backfill__extract_")) or step in ("verify_source_connection", "plan_id_ranges"):
        return "source"
    if step.endswith("_ledger_closes") or step.startswith("transform__"):
        return None  # the ledger and the transformed tables are in the migration's own catalog
    if step.startswith(("load__", "report__", "backfill__load_")) or step == "verify_target_connection":
        return "target"
    raise AssertionError(f"unclassified step {op_name}")


def test_every_step_that_talks_to_a_shop_is_in_that_shops_pool(declare, monkeypatch):
    """Pools per source shop and per target shop on every step of every job (demo, full, delta, backfills,
    connection checks, partition planning): migrations of one shop share its pool, other shops never do."""
    for var, url in {"A_WOOCOMMERCE_SHOP_URL": "https://a.example", "A2_WOOCOMMERCE_SHOP_URL": "https://A.example/",
                     "B_WOOCOMMERCE_SHOP_URL": "https://b.example", "T_WOOCOMMERCE_TARGET_URL": "https://new.example",
                     "T2_WOOCOMMERCE_TARGET_URL": "https://new.example/wp"}.items():
        monkeypatch.setenv(var, url)
    declare(SHOPS)
    ms = mig.load()
    defs = build_definitions(migrations=ms)
    local = ms[0].pools()[1]  # its own DuckDB file: named by the file's stem and a hash of its path
    assert local.startswith("target/local/mystore-") and ms[0].resources["target"].path.endswith(
        "shop_a/target/mystore.duckdb")
    expected = {
        "shop_a": ("source/woocommerce/a.example", local),
        "shop_a_again": ("source/woocommerce/a.example", "target/woocommerce/new.example"),  # shop_a's shop
        "shop_b": ("source/woocommerce/b.example", "target/woocommerce/new.example"),  # shop_a_again's target
    }
    seen = {m.name: set() for m in ms}
    for job in defs.resolve_all_job_defs():
        if job.name == "__ASSET_JOB":
            continue
        migration = job.name.split("__")[0]
        for op in job.graph.node_defs:
            side = step_side(op.name, migration)
            want = None if side is None else expected[migration][0 if side == "source" else 1]
            assert op.pool == want, (job.name, op.name, op.pool, want)
            seen[migration].add(job.name.removeprefix(f"{migration}__"))
    assert all(jobs >= {"demo_migration", "full_migration", "delta_sync", "backfill_orders", "plan_partitions",
                        "check_source_connection", "check_target_connection"} for jobs in seen.values()), seen
    # the asset graph says the same (what the UI shows per asset)
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey(["shop_b", "extract", "orders"])).pools == {"source/woocommerce/b.example"}
    assert graph.get(dg.AssetKey(["shop_a_again", "load", "orders"])).pools == {"target/woocommerce/new.example"}
    assert graph.get(dg.AssetKey(["shop_a", "transform", "orders"])).pools == set()


def test_an_added_or_removed_migration_shows_after_reloading_definitions(declare):
    """The file is read when the code location loads: loading the definitions again (what "Reload definitions"
    does) shows an added migration and drops a removed one, no code change."""
    path = declare("migrations:\n  - name: shop_a\n    source: {platform: store_export, path: SAMPLE}\n"
                   "  - name: shop_b\n    source: {platform: store_export, path: SAMPLE}\n")
    before = build_definitions()
    groups = {before.resolve_asset_graph().get(k).group_name for k in before.resolve_all_asset_keys()}
    assert groups == {"shop_a", "shop_b"}
    path.write_text(path.read_text().replace("shop_b", "shop_c") +
                    f"  - name: shop_d\n    source: {{platform: store_export, path: {SAMPLE}}}\n")
    after = build_definitions()
    groups = {after.resolve_asset_graph().get(k).group_name for k in after.resolve_all_asset_keys()}
    assert groups == {"shop_a", "shop_c", "shop_d"}
    jobs = {j.name for j in after.resolve_all_job_defs()}
    assert "shop_d__demo_migration" in jobs and not any(j.startswith("shop_b__") for j in jobs)
    dg.Definitions.validate_loadable(after)
