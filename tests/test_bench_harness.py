"""The benchmark harnesses' own parts (bench/scale.py, bench/peers_extract.py, bench/common.py): argument parsing,
the process-tree memory sampler, step durations from run events, and the tables they write into a page. The
benchmarks themselves are not run here (minutes to hours, and peers come from PyPI)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import common  # noqa: E402
import peers_extract  # noqa: E402
import scale  # noqa: E402


def test_store_sizes_read_as_people_write_them():
    assert [scale.parse_size(s) for s in ("10k", "100K", "1M", "2500", "1_000", "1.5k")] == \
        [10_000, 100_000, 1_000_000, 2500, 1000, 1500]
    for bad in ("lots", "5", "1.5", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            scale.parse_size(bad)


def test_product_counts_per_platform():
    names = ["woocommerce", "bigcommerce"]
    assert peers_extract.sizes_by_platform("2000", names) == {"woocommerce": 2000, "bigcommerce": 2000}
    assert peers_extract.sizes_by_platform("woocommerce=500,bigcommerce=100000", names) == \
        {"woocommerce": 500, "bigcommerce": 100000}
    assert peers_extract.sizes_by_platform("300,bigcommerce=9", names) == {"woocommerce": 300, "bigcommerce": 9}
    with pytest.raises(argparse.ArgumentTypeError, match="bigcommerce"):
        peers_extract.sizes_by_platform("woocommerce=500", names)


def test_tree_rss_counts_the_children_too():
    """A child holding 200 MB is in its parent's tree total, which ru_maxrss of the parent would not show."""
    child = "import time; b = bytearray(200 * 2**20); print('ready', flush=True); time.sleep(60)"
    parent_script = ("import subprocess, sys, time\n"
                     f"c = subprocess.Popen([sys.executable, '-c', {child!r}])\n"
                     "print(c.pid, flush=True); c.wait()")
    parent = subprocess.Popen([sys.executable, "-c", parent_script], stdout=subprocess.PIPE, text=True)
    child_pid = None
    try:
        child_pid = int(parent.stdout.readline())
        assert parent.stdout.readline().strip() == "ready"  # the child shares the parent's stdout
        assert common.tree_rss(os.getpid()) > 10 * 2**20  # this test process itself
        with common.TreeRSS(parent.pid, interval=0.05) as memory:
            time.sleep(0.3)
        assert memory.peak_bytes >= 200 * 2**20
        assert memory.peak_mb >= 200
        assert common.tree_rss(2**22 + 12345) == 0  # no such process
    finally:
        if child_pid:
            os.kill(child_pid, 9)
        parent.kill()
        parent.wait()


def test_timed_reports_the_trees_cpu_and_ends_it_on_timeout(tmp_path):
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\nprint('done')"
    m = common.timed([sys.executable, "-c", busy], None, 60, tmp_path / "busy.out")
    assert m["exit"] == 0 and m["cpu_s"] >= 0.5 and (tmp_path / "busy.out").read_text() == "done\n"
    sleeper = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time; time.sleep(60)'])"
    started = time.monotonic()
    m = common.timed([sys.executable, "-c", sleeper], None, 1, tmp_path / "sleep.out")
    assert m["exit"] == "timeout" and time.monotonic() - started < 20


def test_step_durations_from_run_events():
    events = [(None, "RUN_START", 100.0), ("extract__products", "STEP_START", 101.0),
              ("extract__products", "STEP_OUTPUT", 104.0), ("extract__products", "STEP_SUCCESS", 105.5),
              ("load__products", "STEP_START", 105.6), ("load__products", "STEP_FAILURE", 107.6),
              ("report", "STEP_START", 108.0), (None, "RUN_FAILURE", 110.0)]
    got = scale.step_durations(events)
    assert got["steps"] == pytest.approx({"extract__products": 4.5, "load__products": 2.0})  # report never ended
    assert got["run_seconds"] == pytest.approx(10.0)
    assert got["spans"] == {"extract__products": (101.0, 105.5), "load__products": (105.6, 107.6)}
    assert scale.step_durations([]) == {"steps": {}, "spans": {}, "run_seconds": None}


def test_step_peaks_attribute_rss_samples_to_the_step_running_then():
    spans = {"extract__products": (101.0, 105.5), "load__products": (105.6, 107.6), "tiny": (108.0, 108.01)}
    samples = [(100.5, 900 * 2**20), (102.0, 200 * 2**20), (105.0, 300 * 2**20), (106.0, 500 * 2**20),
               (110.0, 800 * 2**20)]
    assert scale.step_peaks(spans, samples) == {"extract__products": 300.0, "load__products": 500.0}


def _scale_row(products, wall, steps):
    first = {"wall": wall, "peak_rss_mb": 400.0, "source": products * 4, "loaded": products * 3,
             "written": products * 3, "skipped": products, "quarantined": 2, "accounted": True, "load_avg": 1.5, "cpu_s": wall * 0.8}
    return {"products": products, "compression": "none", "first": first,
            "second": {**first, "wall": wall / 3, "cpu_s": wall * 0.8 / 3, "written": 0}, "steps": steps, "run_seconds": wall - 5,
            "step_rss_mb": {k: 100.0 + v for k, v in steps.items()}}


def test_scale_section_replaces_only_its_own(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\n## Extraction throughput\n\nkept as is\n\n## End-to-end scale\n\nold figures\n\n"
                    "## Delta cost\n\nkept too\n", encoding="utf-8")
    rows = [_scale_row(10_000, 30.0, {"extract__orders": 9.0, "load__orders": 10.0, "tiny": 0.1}),
            _scale_row(100_000, 150.0, {"extract__orders": 29.0, "load__orders": 36.0, "tiny": 0.2}),
            {"products": 1_000_000, "compression": "zst", "first": {"error": "exit 1: boom", "wall": 3.0}}]
    common.write_section(scale.markdown(rows, ".venv/bin/python bench/scale.py", "2026-12-02"), page)
    text = page.read_text(encoding="utf-8")
    assert "old figures" not in text and "kept as is" in text and "kept too" in text
    assert text.index("## Extraction throughput") < text.index("## End-to-end scale") < text.index("## Delta cost")
    assert "| 100,000 | none | 400,000 | 300,000 | 100,000 | 2 | 150.0 | 120.0 | 2,667 | 400 | 50.0 | 40.0 | 0 | 1.5 |" \
        in text
    assert "| 1,000,000 | zst | error: exit 1: boom |" in text
    assert "| load__orders | 10.0 | 36.0 |" in text
    assert "| other steps | 0.1 | 0.2 |" in text  # under 2 % of the wall time at both sizes
    assert "| outside the run | 5.0 | 5.0 |" in text
    assert "| load__orders | 110 | 136 |" in text  # peak RSS while the step ran
    assert "`.venv/bin/python bench/scale.py`" in text
    # Written twice, the section is still there once.
    common.write_section(scale.markdown(rows[:1], ".venv/bin/python bench/scale.py", "2026-12-03"), page)
    assert page.read_text(encoding="utf-8").count("## End-to-end scale") == 1


def test_peer_records_counted_from_their_messages(tmp_path):
    out = tmp_path / "read.jsonl"
    out.write_text("\n".join([
        json.dumps({"type": "RECORD", "record": {"stream": "products", "data": {"id": 1}}}),
        json.dumps({"type": "RECORD", "record": {"stream": "products", "data": {"id": 2}}}),
        json.dumps({"type": "RECORD", "stream": "customers", "record": {"id": 3}}),  # Singer's shape
        json.dumps({"type": "TRACE", "trace": {"type": "ERROR", "error": {"message": "429 for ever"}}}),
        "a log line that is no JSON"]) + "\n")
    counts, errors = peers_extract.message_counts(out)
    assert counts == {"products": 2, "customers": 1} and errors == ["429 for ever"]
    assert peers_extract.main_rows({"products": 2, "product_variations": 7, "customers": 1},
                                   {"products": ("products", "product_variations"), "customers": ("customers",)}) == 3


def test_side_by_side_table(tmp_path):
    def row(tool, seconds, requests, limited=True, **extra):
        return {"platform": "woocommerce", "tool": tool, "limited": limited, "package": f"{tool}==1", "products": 500,
                "seconds": seconds + 10, "span": seconds, "rows": 800,
                "records": {"products": 500, "customers": 300}, "requests": requests,
                "throttled": 1, "peak_rss_mb": 100.0, "load_avg": 2.0, **extra}

    rows = [row("ours", 80.0, 190, cpu_s=30.0), row("dlt", 200.0, 505), row("airbyte", 300.0, 600, error="timed out"),
            {"platform": "bigcommerce", "tool": "airbyte", "limited": False, "products": 10_000,
             "error": "not installed: airbyte-source-bigcommerce==0.2.22 needs python3.10, which is not installed"}]
    text = peers_extract.markdown(rows, {"latency_ms": 100, "latency_per_item_ms": 0.2}, "2026-12-02")
    assert text.startswith("## Side by side with other tools\n")
    # bound: 2.5 requests/s (WooCommerce's emulated host limit) × 800 rows / 190 requests
    assert "| woocommerce | default plan | 500 | ours | 800 | 800 | 90.0 | 30.0 | 80.0 | 10 | 190 | 1 | 100 | - | 11 " \
           "| 0.95 | 2.0 |" in text
    assert "| dlt (dlt==1) | 800 | 800 | 210.0 | - | 200.0 | 4 | 505 | 1 | 100 | 2.50 | 11 | - | 2.0 |" in text
    assert "800 (timed out) |" in text
    assert "| bigcommerce | limits off | 10,000 | airbyte | not run: not installed: " in text
    assert "Rerun: `.venv/bin/python bench/peers_extract.py`" in text


def test_a_run_of_one_tool_keeps_the_other_tools_rows(tmp_path, monkeypatch):
    """Measuring one tool again on a platform and mode replaces that tool's row only."""
    monkeypatch.setattr(peers_extract, "RESULTS", tmp_path / "peers_extract.json")
    def row(tool, limited, span):
        return {"platform": "bigcommerce", "tool": tool, "limited": limited, "span": span}
    old = [row("ours", True, 1.0), row("airbyte", True, 2.0), row("ours", False, 3.0)]
    peers_extract.RESULTS.write_text(json.dumps({"settings": {}, "rows": old}))
    rows = peers_extract.merged([row("ours", True, 9.0)])
    assert sorted((r["tool"], r["limited"], r["span"]) for r in rows) == \
        [("airbyte", True, 2.0), ("ours", False, 3.0), ("ours", True, 9.0)]
