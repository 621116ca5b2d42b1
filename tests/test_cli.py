"""The command line: the README's demo command, its report, and errors as one sentence with exit code 2."""

import pytest
from conftest import SAMPLE
from typer.testing import CliRunner

from cart_pipelines.cli import app


def invoke(args, tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return CliRunner().invoke(app, args)


def test_migrate_demo_prints_report_and_passes_checks(tmp_path, monkeypatch):
    res = invoke(["migrate", "--demo", "--data", str(tmp_path / "data")], tmp_path, monkeypatch)
    assert res.exit_code == 0, res.output
    assert "Migration report (demo)" in res.output and "every source record is accounted for" in res.output
    assert "All 23 checks passed" in res.output
    # a bar per entity, fed by the run's events: each reached 3/3 stages and says what its load did
    bars = {line.split()[0]: line for line in res.output.splitlines() if "3/3" in line}
    assert set(bars) == {"categories", "manufacturers", "tax_classes", "products", "customers", "orders", "reviews"}
    assert "load: 10 created, 0 updated" in bars["orders"], bars["orders"]  # every drawn order loads
    assert (tmp_path / "data" / "reports" / "migration_report.md").exists()
    assert (tmp_path / "data" / "target" / "mystore.duckdb").exists()
    again = invoke(["report", "--data", str(tmp_path / "data")], tmp_path, monkeypatch)
    assert again.exit_code == 0 and "not_in_demo_sample" in again.output


def test_bad_selection_exits_2_with_one_sentence(tmp_path, monkeypatch):
    res = invoke(["migrate", "--full", "--entities", "orders", "--data", str(tmp_path)], tmp_path, monkeypatch)
    assert res.exit_code == 2
    assert "orders cannot be migrated without customers and products" in res.output
    assert "Traceback" not in res.output
    res = invoke(["migrate", "--full", "--entities", "coupons", "--data", str(tmp_path)], tmp_path, monkeypatch)
    assert res.exit_code == 2 and "unknown entity coupons" in res.output
    res = invoke(["migrate", "--data", str(tmp_path)], tmp_path, monkeypatch)
    assert res.exit_code == 2 and "choose one of --demo, --full or --delta" in res.output
    res = invoke(["migrate", "--demo", "--delta", "--data", str(tmp_path)], tmp_path, monkeypatch)
    assert res.exit_code == 2 and "choose one of" in res.output
    res = invoke(["report", "--data", str(tmp_path / "empty")], tmp_path, monkeypatch)
    assert res.exit_code == 2 and "no migration report yet" in res.output


def test_report_table_shows_deletions_so_the_counts_add_up(capsys):
    from cart_pipelines.cli import print_report

    row = {"entity": "customers", "source": 10, "loaded": 7, "created": 0, "updated": 1, "skipped": 0,
           "quarantined": 1, "skipped_by_rule": {}, "deleted_at_source": 2}
    totals = {"created": 0, "updated": 1, "deleted_at_source": 2, "deleted_on_target": 0}
    print_report({"settings": {"mode": "delta"}, "entities": [row], "totals": totals, "all_accounted_for": True})
    out = capsys.readouterr().out
    header = [c.strip() for c in next(x for x in out.splitlines() if "entity" in x).split("┃")]
    cells = [c.strip() for c in next(x for x in out.splitlines() if "│ customers" in x).split("│")]
    assert cells[header.index("deleted")] == "2"  # 10 = 7 loaded + 1 quarantined + 2 deleted
    assert "deleted at the source: 2, of which deleted on the target: 0" in out
    print_report({"settings": {"mode": "full"}, "entities": [{**row, "deleted_at_source": 0}],
                  "totals": {**totals, "deleted_at_source": 0}, "all_accounted_for": True})
    assert "deleted" not in capsys.readouterr().out  # no column while nothing was deleted


def test_delta_from_a_store_export_exits_1_saying_why(tmp_path, monkeypatch):
    res = invoke(["migrate", "--delta", "--no-progress", "--data", str(tmp_path / "data")], tmp_path, monkeypatch)
    assert res.exit_code == 1 and "cannot run a delta" in res.output and "snapshot" in res.output, res.output
    assert "Traceback" not in res.output and "━" not in res.output  # --no-progress draws no bars


def test_missing_source_is_a_clear_error(tmp_path, monkeypatch):
    res = invoke(["migrate", "--demo", "--source", str(tmp_path / "nope"), "--data", str(tmp_path)], tmp_path,
                 monkeypatch)
    assert res.exit_code == 2 and "is not a directory" in res.output


def test_generate_sample(tmp_path, monkeypatch):
    res = invoke(["generate-sample", "--out", str(tmp_path / "s"), "--products", "20", "--seed", "3"], tmp_path,
                 monkeypatch)
    assert res.exit_code == 0, res.output
    assert sum(1 for _ in open(tmp_path / "s" / "products.jsonl")) == 20
    assert SAMPLE.exists()


def test_check_and_preview_the_sample_store(tmp_path, monkeypatch):
    res = invoke(["check"], tmp_path, monkeypatch)
    assert res.exit_code == 0 and "1 products record(s) read" in res.output
    res = invoke(["preview", "customers", "--limit", "2"], tmp_path, monkeypatch)
    assert res.exit_code == 0 and "email" in res.output
    assert "$2y$" not in res.output  # password hashes are secrets
    res = invoke(["check", "--source", str(tmp_path)], tmp_path, monkeypatch)
    assert res.exit_code == 1 and "holds no <entity>.jsonl files" in res.output
    res = invoke(["check", "--platform", "nosuchshop"], tmp_path, monkeypatch)
    assert res.exit_code == 2 and "unknown platform 'nosuchshop'" in res.output


def test_configuration_errors_name_the_field_before_any_work(tmp_path, monkeypatch):
    for var in ("WOOCOMMERCE_SHOP_URL", "WOOCOMMERCE_CONSUMER_KEY", "WOOCOMMERCE_CONSUMER_SECRET"):
        monkeypatch.delenv(var, raising=False)
    res = invoke(["check", "--platform", "woocommerce"], tmp_path, monkeypatch)
    assert res.exit_code == 2 and "WOOCOMMERCE_SHOP_URL (shop_url) is not set" in res.output
    monkeypatch.setenv("WOOCOMMERCE_SHOP_URL", "shop.example")
    monkeypatch.setenv("WOOCOMMERCE_CONSUMER_KEY", "ck_x")
    monkeypatch.setenv("WOOCOMMERCE_CONSUMER_SECRET", "cs_secret_value")
    res = invoke(["check", "--platform", "woocommerce"], tmp_path, monkeypatch)
    assert res.exit_code == 2 and "is not an http(s) address" in res.output
    assert "Traceback" not in res.output and "cs_secret_value" not in res.output


def test_backfill_customers_by_id_range_then_again_writes_nothing(tmp_path, monkeypatch):
    """Customers reference nothing, so they backfill into an empty target: id ranges planned from the export's count
    and ids, run in batches as the backfill policy runs them; the second time writes nothing."""
    from cart_pipelines.sample.generator import StoreSize, generate_store

    counts = generate_store(tmp_path / "store", seed=3, size=StoreSize.scaled(60))
    args = ["backfill", "customers", "--from", "1", "--to", "30", "--per-partition", "10",
            "--source", str(tmp_path / "store"), "--data", str(tmp_path / "data")]
    res = invoke(args, tmp_path, monkeypatch)
    assert res.exit_code == 0, res.output
    parts = -(-counts["customers"] // 10)
    assert f"planned {parts} id-range partitions of customers" in res.output
    width = -(-counts["customers"] // parts)
    assert f"of customers (1-{width} .. " in res.output
    assert "every partition's ledger closes" in res.output and "\n0 rows written" not in res.output
    again = invoke(args, tmp_path, monkeypatch)
    assert again.exit_code == 0, again.output
    assert "0 rows written to the target" in again.output and "planned" not in again.output


def test_backfill_errors_are_one_sentence(tmp_path, monkeypatch):
    data = ["--data", str(tmp_path / "data")]
    res = invoke(["backfill", "reviews", *data], tmp_path, monkeypatch)
    assert res.exit_code == 2 and "reviews is not partitioned" in res.output
    res = invoke(["backfill", "orders", "--from", "2024-01", "--to", "2024-01", "--source", str(SAMPLE), *data],
                 tmp_path, monkeypatch)
    assert res.exit_code == 1 and "customers are not migrated" in res.output and "Traceback" not in res.output


def _cli(args, tmp_path):
    """The installed command in its own process, as a user runs it: stderr is what the terminal shows."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("cart-pipelines")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home")}
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)


def _assert_no_library_warnings(res, tmp_path):
    warned = [line for line in res.stderr.splitlines() if "Warning" in line]
    assert not warned, warned[:3]
    log = (tmp_path / "home" / "logs" / "cart-pipelines.log").read_text()
    assert "BetaWarning" in log  # routed to the log, not lost


def test_library_warnings_go_to_the_log_not_the_terminal(tmp_path):
    res = _cli(["status"], tmp_path)
    assert res.returncode == 0, res.stderr
    _assert_no_library_warnings(res, tmp_path)


def test_other_warnings_still_reach_the_terminal(tmp_path):
    import subprocess
    import sys

    code = ("import warnings; from pathlib import Path; from cart_pipelines.library_warnings import route_to_log; "
            f"route_to_log(Path({str(tmp_path / 'w.log')!r})); warnings.warn('look at this', UserWarning)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "UserWarning: look at this" in res.stderr
    assert "look at this" in (tmp_path / "w.log").read_text()


@pytest.mark.slow
def test_demo_migration_prints_no_library_warnings(tmp_path):
    res = _cli(["migrate", "--demo", "--data", str(tmp_path / "data")], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "All 23 checks passed" in res.stdout
    _assert_no_library_warnings(res, tmp_path)
