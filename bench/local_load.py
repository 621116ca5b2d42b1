"""Benchmark: loads into the local DuckDB target, per entity, and the loading process's peak memory.

For each store size, a worker process stages the store once (extract from the export, scope, transform; untimed,
cached). Then a fresh worker process copies that staging, loads every entity into an empty local target as a
full migration does (plan against the id map, adoption lookups, writes, id-map and ledger bookkeeping), and loads
again (a second full run: it must write 0). Reported: rows/s per entity for both runs, and the loading process's
peak RSS. Writes the "Load into the local target" section of docs/benchmarks.md.

    .venv/bin/python bench/local_load.py [--sizes 10000,100000] [--label after]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, ROOT, run_worker, store_for, write_section  # noqa: E402

RESULTS = CACHE / "local_load.json"

STAGE = r"""
import json, sys
from pathlib import Path
from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.pipeline.extract import extract_entity
from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.pipeline.scope import compute_scope
from cart_pipelines.pipeline.staging import Staging
from cart_pipelines.pipeline.transform import transform_entity
from cart_pipelines.platforms.store_export.source import StoreExport
store, work = Path(sys.argv[1]), Path(sys.argv[2])
staging, settings = Staging(work), RuleSettings()
for e in ENTITY_NAMES:
    extract_entity(StoreExport(store), e, staging)
with staging.connect() as con:
    compute_scope(con, tuple(ENTITY_NAMES), "full", 10, 1)
    for e in ENTITY_NAMES:
        transform_entity(con, e, settings)
print(json.dumps({"staged": True}))
"""

LOAD = r"""
import json, resource, sys, time
from pathlib import Path
from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.pipeline.load import load_entity
from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.pipeline.staging import Staging
from cart_pipelines.platforms.local.target import DuckDBStore
work, target_path = Path(sys.argv[1]), Path(sys.argv[2])
staging, target, settings = Staging(work), DuckDBStore(target_path), RuleSettings()
out = {}
for run in ("first", "second"):
    with staging.connect() as con:
        for e in ENTITY_NAMES:
            rows = con.execute(f"SELECT count(*) FROM transformed_{e}").fetchone()[0]
            t, cpu = time.perf_counter(), time.process_time()
            res = load_entity(con, target, e, settings)
            out.setdefault(e, {"rows": rows})[run] = {"seconds": time.perf_counter() - t, "writes": res.writes,
                                                      "cpu_seconds": time.process_time() - cpu,
                                                      "rejected": res.rejected}
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def staged(products: int, timeout: float) -> Path:
    work = CACHE / "local-load" / f"staging-{products}"
    if not (work / ".done").exists():
        subprocess.run(["rm", "-rf", str(work)], check=True)
        store = store_for(products)
        print(f"staging the {products}-product store in {work} ...", flush=True)
        m = run_worker(STAGE, [str(store), str(work)], timeout)
        if "error" in m:
            raise RuntimeError(f"staging failed: {m['error']}")
        (work / ".done").write_text("ok")
    return work


def run(sizes: list[int], label: str, timeout: float) -> list[dict]:
    rows = []
    for products in sizes:
        source = staged(products, timeout)
        work = CACHE / "local-load" / f"run-{products}"
        subprocess.run(["rm", "-rf", str(work)], check=True)
        subprocess.run(["cp", "-r", str(source), str(work)], check=True)
        print(f"loading {products} products' store into an empty local target ...", flush=True)
        m = run_worker(LOAD, [str(work), str(work / "target.duckdb")], timeout)
        subprocess.run(["rm", "-rf", str(work)], check=True)
        if "error" in m:
            rows.append({"label": label, "products": products, "error": m["error"]})
            continue
        rss = m.pop("peak_rss_mb")
        for entity, r in m.items():
            rows.append({"label": label, "products": products, "entity": entity, "rows": r["rows"],
                         "first": r["first"], "second": r["second"], "peak_rss_mb": rss})
        print(json.dumps(rows[-len(m):], indent=1), flush=True)
    return rows


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "-"


def markdown(rows: list[dict], measured: str) -> str:
    lines = ["## Load into the local target", "",
             f"Measured {measured} by `bench/local_load.py` on this project's CI machine kind (2 cores, shared with "
             "other jobs). A fresh process loads a staged store (extracted and transformed beforehand, untimed) "
             "into an empty local DuckDB target, every entity in load order as a full migration does, then loads "
             "again (the second run of a finished migration: it writes 0). *rows/s* counts the entity's "
             "transformed rows over the whole load step (plan against the id map, adoption lookups, writes, "
             "id-map and ledger bookkeeping). Peak RSS is the loading process's own, over both runs.", "",
             "| code | products in store | entity | rows | first run s | first run rows/s | CPU s | rows per CPU s | "
             "writes | second run s | second run rows/s | second run writes | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['label']} | {r['products']:,} | error: {r['error']} |||||||||")
            continue
        f, s = r["first"], r["second"]
        cpu = f.get("cpu_seconds")
        lines.append(f"| {r['label']} | {r['products']:,} | {r['entity']} | {r['rows']:,} | {f['seconds']:.1f} | "
                     f"{_rate(r['rows'], f['seconds'])} | {'-' if cpu is None else f'{cpu:.1f}'} | "
                     f"{'-' if cpu is None else _rate(r['rows'], cpu)} | {f['writes']:,} | {s['seconds']:.1f} | "
                     f"{_rate(r['rows'], s['seconds'])} | {s['writes']:,} | {r['peak_rss_mb']:.0f} |")
    lines += ["", "Reading the table:", "",
              "- *per-record* is the load before it became set-based (measured with that code on the same staged "
              "stores): rows went to the local target in batches of 1,000 through create/update, each batch on a "
              "connection of its own, its uniqueness checks scanning the whole target table, and the id map and "
              "ledger written from Python lists per batch; so its time per row grew with the store (products: "
              "1.6 CPU s at 10k, 16 at 100k). *set-based 1* attaches the target file to the catalog and writes each "
              "entity (per category depth and action) in a few statements; the id map and ledger are written by "
              "SQL from the plan and the target's answers, and the checks read the target attached instead of "
              "copying it into memory.",
              "- *set-based 2* is what profiling *set-based 1* per SQL statement at 100k products found: an order's "
              "lines were resolved by aggregating whole line structs in line order (3.4 of the orders' 4.9 CPU s "
              "spent building the rows); now only the product ids go through that grouped join and each line is "
              "rebuilt around its id by position (0.8 CPU s, the same lines: tested). The wide rows are no longer "
              "sorted twice on their way into the target (the ids are numbered by the plan's order anyway), and "
              "created rows go into the id map by a plain INSERT (the plan found none there). What remains, in "
              "order: the target's INSERT (writing the wide rows and its primary-key index: orders 2.5 CPU s, "
              "products 1.7), building the rows to write, and the id-map insert (its primary key: orders 1.2).",
              "- Its rows were measured with the machine far busier than for *set-based 1* (load average 18 to 21 "
              "on 2 cores), which stretches wall time fourfold and inflates even *CPU s* (categories and products, "
              "whose statements hardly changed, took twice the CPU s of *set-based 1*): the table's two codes are "
              "not comparable row for row. Run side by side at 100k under the same load (the old and the new code "
              "at once, same staged store), orders took 10.9 CPU s before and 6.6 after, products 6.3 and 5.1, "
              "customers 2.4 and 1.9. The issue's goal, 50k rows/s, is not shown: on an idle core the set-based "
              "load was at 33k to 51k rows per CPU s before this change and orders now need about 40% less CPU.",
              "- Every connection is bounded (`memory_limit` 512 MB, 2 threads, a spill directory: "
              "`kit/duckdb_io.connect`), which is what keeps peak RSS from growing with the store as before.",
              "- The second run writes 0 rows: the plan compares each row's hash with the one in the id map."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--label", default="set-based", help="names the code measured (a row per label and size)")
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()
    rows = run([int(s) for s in args.sizes.split(",")], args.label, args.timeout)
    if RESULTS.exists():  # rows of other labels and sizes are kept
        done = {(r["label"], r["products"]) for r in rows}
        rows = [r for r in json.loads(RESULTS.read_text())["rows"] if (r["label"], r["products"]) not in done] + rows
    rows.sort(key=lambda r: (r["products"], r["label"] != "per-record", r["label"]))
    RESULTS.write_text(json.dumps({"measured": f"{datetime.now(timezone.utc):%Y-%m-%d}", "rows": rows}, indent=2))
    write_section(markdown(rows, f"{datetime.now(timezone.utc):%Y-%m-%d}"))
    print("wrote the local-target load section of docs/benchmarks.md")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    os.chdir(ROOT)
    main()
