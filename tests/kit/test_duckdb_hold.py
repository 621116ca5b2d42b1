"""A run holding its DuckDB files ($CART_DUCKDB_HOLD=run, duckdb_io.holding): one instance per file for the run,
released for ATTACH, closed at the end so other processes can open the file again."""

import subprocess
import sys

import json

import dagster as dg
import duckdb
import pytest
from conftest import SAMPLE

from cart_pipelines.definitions import build_definitions
from cart_pipelines.defs.resources import default_resources
from cart_pipelines.platforms.kit import duckdb_io

OPEN_ELSEWHERE = """
import sys, duckdb
try:
    duckdb.connect(sys.argv[1]).close()
    print("opened")
except duckdb.IOException as exc:
    print("locked" if "lock" in str(exc).lower() else f"other: {exc}")
"""


def _elsewhere(path) -> str:
    return subprocess.run([sys.executable, "-c", OPEN_ELSEWHERE, str(path)], capture_output=True, text=True,
                          timeout=60).stdout.strip()


def test_connections_in_a_hold_share_one_instance_and_the_file_is_free_after(tmp_path):
    path = tmp_path / "catalog.duckdb"
    with duckdb_io.holding():
        first = duckdb_io.open_catalog(path)
        first.execute("CREATE TABLE t AS SELECT 1 AS i")
        first.close()
        second = duckdb_io.open_catalog(path, read_only=True)
        assert second.execute("SELECT i FROM t").fetchall() == [(1,)]
        # a connection of the held instance: its temp tables are its own, as a fresh connection's are
        second.execute("CREATE TEMP TABLE mine AS SELECT 2 AS j")
        third = duckdb_io.open_catalog(path)
        with pytest.raises(duckdb.CatalogException):
            third.execute("SELECT * FROM mine")
        second.close(), third.close()
        assert _elsewhere(path) == "locked"
    assert _elsewhere(path) == "opened"


def test_a_held_file_is_released_for_attach_and_held_again_after(tmp_path):
    catalog, target = tmp_path / "catalog.duckdb", tmp_path / "target.duckdb"
    with duckdb_io.holding():
        con = duckdb_io.open_catalog(target)
        con.execute("CREATE TABLE x AS SELECT 'kept' AS v")
        con.close()
        cat = duckdb_io.open_catalog(catalog)
        duckdb_io.attach(cat, target, "tgt")
        assert cat.execute("SELECT v FROM tgt.x").fetchall() == [("kept",)]
        cat.execute("DETACH tgt")
        cat.close()
        again = duckdb_io.open_catalog(target)
        assert again.execute("SELECT v FROM x").fetchall() == [("kept",)]
        again.close()
    assert _elsewhere(target) == "opened"


def test_what_is_done_once_per_hold(tmp_path):
    path = tmp_path / "c.duckdb"
    assert duckdb_io.first_in_hold(path, "ddl") and duckdb_io.first_in_hold(path, "ddl")  # nothing held: always
    with duckdb_io.holding():
        duckdb_io.open_catalog(path).close()
        assert duckdb_io.first_in_hold(path, "ddl")
        assert not duckdb_io.first_in_hold(path, "ddl")
        assert duckdb_io.first_in_hold(path, "other")
    with duckdb_io.holding():
        assert duckdb_io.first_in_hold(path, "ddl")  # a new hold starts afresh


@pytest.mark.parametrize("env, wanted", [
    ({"CART_DUCKDB_HOLD": "run"}, True),
    ({"CART_DUCKDB_HOLD": "run", "CART_EXECUTOR": "multiprocess"}, False),
    ({"CART_DUCKDB_HOLD": "run", "CART_EXECUTOR": "celery"}, False),
    ({"CART_DUCKDB_HOLD": ""}, False),
])
def test_hold_wanted_only_for_in_process_runs_that_ask(monkeypatch, env, wanted):
    monkeypatch.delenv("CART_EXECUTOR", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert duckdb_io.hold_wanted() is wanted


def test_a_migration_is_the_same_with_and_without_the_hold(tmp_path, monkeypatch):
    real, opened = duckdb_io.connect, []

    def counting(path=None, **kw):
        opened.append(path)
        return real(path, **kw)

    monkeypatch.setattr(duckdb_io, "connect", counting)
    reports, files = {}, {}
    for hold in ("run", ""):
        monkeypatch.setenv("CART_DUCKDB_HOLD", hold)
        data = tmp_path / (hold or "fresh")
        defs = build_definitions(default_resources(data, str(SAMPLE)))
        opened.clear()
        result = defs.resolve_job_def("demo_migration").execute_in_process(instance=dg.DagsterInstance.ephemeral())
        evaluations = result.get_asset_check_evaluations()
        assert result.success and evaluations and all(e.passed for e in evaluations)
        files[hold] = len([p for p in opened if p is not None])
        rep = json.loads((data / "reports" / "migration_report.json").read_text())
        reports[hold] = ({e["entity"]: (e["loaded"], e["quarantined"], e["skipped_by_rule"]) for e in rep["entities"]},
                         rep["totals"])
    assert reports["run"] == reports[""]
    # held: each file once, and the target again after each load's ATTACH; not held: an instance per step and more
    assert files["run"] * 3 < files[""], files
