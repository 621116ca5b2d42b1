"""The catalog is one DuckDB file with one writer process at a time: other processes wait for it, within a bound."""

import subprocess
import sys
import time

import pytest

from cart_pipelines.pipeline.staging import open_catalog

HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(float(sys.argv[2]))"


def hold(path, seconds):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_step_waits_for_the_catalog_another_process_holds(tmp_path):
    proc = hold(tmp_path / "catalog.duckdb", 1.5)
    started = time.monotonic()
    con = open_catalog(tmp_path / "catalog.duckdb", wait_seconds=60)
    assert time.monotonic() - started > 0.5  # it waited for the holder to let go, then opened
    assert con.execute("SELECT 1").fetchall() == [(1,)]
    con.close()
    proc.wait(timeout=10)


def test_waiting_is_bounded_and_the_error_says_why(tmp_path):
    proc = hold(tmp_path / "catalog.duckdb", 30)
    try:
        with pytest.raises(RuntimeError, match="stayed locked by another process for 1 s"):
            open_catalog(tmp_path / "catalog.duckdb", wait_seconds=1)
    finally:
        proc.kill()
        proc.wait(timeout=10)
