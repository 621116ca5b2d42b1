"""Benchmark: loads into the local DuckDB target, per entity, and the loading process's peak memory.

For each store size, a worker process stages the store once (extract from the export, scope, transform; untimed,
cached). Then a fresh worker process copies that staging, loads every entity into an empty local target as a
full migration does (plan against the id map, adoption lookups, writes, id-map and ledger bookkeeping), and loads
again (a second full run: it must write 0). Reported: rows/s per entity for both runs, CPU seconds, the loading
process's peak RSS and the machine's load average. `--code before=main,current` runs the code of other git
revisions too (as bench/export_extract.py does: that revision's `cart_pipelines`, exported once into
bench/.cache/code/), each staging and loading with its own code, alternating with this tree's in the same run,
`--repeat` times, so a change is measured against what it replaces under the same machine load. Writes the
"Load into the local target" section of docs/benchmarks.md.

    .venv/bin/python bench/local_load.py [--sizes 10000,100000] [--code before=main,current] [--repeat 2]
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
from common import CACHE, ROOT, codes, run_worker, store_for, write_section  # noqa: E402

RESULTS = CACHE / "local_load.json"

# Both workers take the directory of another revision's code as their last argument ('' for this tree's).
STAGE = r"""
import sys
if sys.argv[3]:
    sys.path.insert(0, sys.argv[3])
import json
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
import sys
if sys.argv[3]:
    sys.path.insert(0, sys.argv[3])
import json, resource, time
import cart_pipelines
assert not sys.argv[3] or cart_pipelines.__file__.startswith(sys.argv[3]), cart_pipelines.__file__
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
with open("/proc/loadavg") as fh:
    out["load"] = float(fh.read().split()[0])
print(json.dumps(out))
"""


def staged(products: int, timeout: float, sha: str = "", directory: str = "") -> Path:
    """The store staged by the code that will load it (a revision's catalog is the one its load expects)."""
    work = CACHE / "local-load" / f"staging-{products}{'-' + sha if sha else ''}"
    if not (work / ".done").exists():
        subprocess.run(["rm", "-rf", str(work)], check=True)
        store = store_for(products)
        print(f"staging the {products}-product store in {work} ...", flush=True)
        m = run_worker(STAGE, [str(store), str(work), directory], timeout)
        if "error" in m:
            raise RuntimeError(f"staging failed: {m['error']}")
        (work / ".done").write_text("ok")
    return work


def run(sizes: list[int], code_list: list[tuple[str, str, str]], timeout: float, repeat: int = 1) -> list[dict]:
    rows = []
    for products in sizes:
        for turn in range(repeat):  # the codes alternate, so each meets the same machine load
            for label, sha, directory in code_list:
                source = staged(products, timeout, sha, directory)
                work = CACHE / "local-load" / f"run-{products}"
                subprocess.run(["rm", "-rf", str(work)], check=True)
                subprocess.run(["cp", "-r", str(source), str(work)], check=True)
                print(f"loading {products} products' store into an empty local target with {label} ...", flush=True)
                m = run_worker(LOAD, [str(work), str(work / "target.duckdb"), directory], timeout)
                subprocess.run(["rm", "-rf", str(work)], check=True)
                base = {"label": label, "commit": sha, "products": products, "turn": turn + 1}
                if "error" in m:
                    rows.append({**base, "error": m["error"]})
                    continue
                rss, load = m.pop("peak_rss_mb"), m.pop("load", None)
                for entity, r in m.items():
                    rows.append({**base, "entity": entity, "rows": r["rows"], "first": r["first"],
                                 "second": r["second"], "peak_rss_mb": rss, "load": load})
                print(json.dumps(rows[-len(m):], indent=1), flush=True)
    return rows


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "-"


def _median(xs: list[float]) -> float | None:
    xs = sorted(xs)
    return (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2 if xs else None


def ratios(rows: list[dict]) -> list[str]:
    """Per size, per other code and entity: this tree's first run against that code's, medians of their turns."""
    out = []
    ok = [r for r in rows if "error" not in r]
    for products in sorted({r["products"] for r in ok}):
        here = [r for r in ok if r["products"] == products]
        labels = list(dict.fromkeys(r["label"] for r in here))
        if "current" not in labels:
            continue
        for label in labels:
            if label == "current":
                continue
            parts = []
            for entity in dict.fromkeys(r["entity"] for r in here):
                def med(code, key, part="first"):
                    return _median([r[part][key] for r in here if r["label"] == code and r["entity"] == entity
                                    and r[part].get(key)])
                new, old = med("current", "seconds"), med(label, "seconds")
                new_cpu, old_cpu = med("current", "cpu_seconds"), med(label, "cpu_seconds")
                n = next(r["rows"] for r in here if r["entity"] == entity)
                if not (new and old) or n < 10_000:
                    continue
                parts.append(f"{entity} {n / old:,.0f} → {n / new:,.0f} rows/s ({old / new:.2f}×; CPU s "
                             f"{old_cpu:.2f} → {new_cpu:.2f}, {old_cpu / new_cpu:.2f}×)")
            turns = len({r["turn"] for r in here if r["label"] == "current"})
            loads = [r["load"] for r in here if r.get("load") is not None]
            out.append(f"- {products:,} products, {label} → this branch (median of {turns} alternating turns each, "
                       f"load average {min(loads):.1f}-{max(loads):.1f} at the ends of the runs): "
                       + "; ".join(parts) + ".")
    return out


def markdown(rows: list[dict], measured: str, commands: list[str]) -> str:
    lines = ["## Load into the local target", "",
             f"Measured {measured} by " + (" and ".join(f"`{c}`" for c in commands) or "`bench/local_load.py`")
             + " on this project's CI machine kind (2 cores, shared with other jobs). A fresh process loads a "
             "staged store (extracted and transformed beforehand by the same code, untimed) into an empty local "
             "DuckDB target, every entity in load order as a full migration does, then loads again (the second run "
             "of a finished migration: it writes 0). *rows/s* counts the entity's transformed rows over the whole "
             "load step (plan against the id map, adoption lookups, writes, id-map, URL-key and ledger "
             "bookkeeping). *code* is the revision that ran (*current*: this branch; others by `--code`, "
             "alternating with it in the same run, *turn* numbering the rounds). CPU s is the process's own (user + "
             "system), the fair figure on a shared machine; *load* is the machine's 1-minute load average at the "
             "end of the run. Peak RSS is the loading process's own, over both runs.", "",
             "| code | turn | products in store | entity | rows | first run s | first run rows/s | CPU s | "
             "rows per CPU s | writes | second run s | second run rows/s | second run writes | peak RSS MB | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['label']} | {r.get('turn', 1)} | {r['products']:,} | error: {r['error']} "
                         "||||||||||||")
            continue
        f, s = r["first"], r["second"]
        cpu = f.get("cpu_seconds")
        load = r.get("load")
        lines.append(f"| {r['label']} | {r.get('turn', 1)} | {r['products']:,} | {r['entity']} | {r['rows']:,} | "
                     f"{f['seconds']:.1f} | {_rate(r['rows'], f['seconds'])} | "
                     f"{'-' if cpu is None else f'{cpu:.1f}'} | {'-' if cpu is None else _rate(r['rows'], cpu)} | "
                     f"{f['writes']:,} | {s['seconds']:.1f} | {_rate(r['rows'], s['seconds'])} | {s['writes']:,} | "
                     f"{r['peak_rss_mb']:.0f} | {'-' if load is None else f'{load:.1f}'} |")
    lines += ["", "Side by side (first run; entities of 10,000 rows or more):", "", *ratios(rows), "",
              "Reading the table:", "", *NOTES]
    return "\n".join(lines) + "\n"


NOTES = [
    "- *before* is 2bac1be, *current* main after it (issue 18): (1) a set-based write's chunks go through two "
    "connections (`load._write_sets`): while the catalog connection writes chunk k into the attached target, a "
    "cursor of the same database builds chunk k+1's rows (in an in-memory database both connections see) and "
    "writes chunk k's answers into the catalog: the id map, URL keys and ledger rows, known before the target's "
    "statement (the local target's create and update hand over the new ids and refusals before they write), in "
    "a transaction committed only once the target's statement has, rolled back when it failed. DuckDB "
    "parallelises a scan by row group, and a chunk is one row group (`LOAD_CHUNK` 122,880), so each statement of "
    "a chunk ran on one core; now the two connections keep both busy. (2) The local target's uniqueness check "
    "(SKU, URL key, e-mail) probes the table with a hash of the chunk's values instead of hashing every value the "
    "table holds once per chunk (0.05 s against 0.15 s for 100k values against a million, measured alone). "
    "Nothing written changes: `tests/test_load_set_based.py` holds the set-based load to the batched path, a "
    "chunk killed between its target write and its bookkeeping, and a chunk whose bookkeeping fails (no later "
    "chunk is sent; the next run adopts what the target took unrecorded).",
    "- At 1M products every entity loads above the issue's 50k rows/s over the whole load step, in both codes' "
    "runs here, and the current code is faster: orders 99k rows/s (1.62x), customers 144k (1.60x), reviews 169k "
    "(1.80x), with the same CPU or less; products 57.5k (1.09x) but with 35 % more CPU (29.4 against 21.7 s: the "
    "two connections' DuckDB threads compete for the two cores while products' wide rows are built and "
    "compressed), so on a machine where other work takes a core, products would gain nothing. At 100k an entity "
    "of one chunk overlaps only its bookkeeping with its write: products 55.3k -> 46.9k rows/s in this run and "
    "about equal (1.9-2.8 s either way) when timed statement by statement minutes later: the spread of this "
    "machine, which is larger than the difference; orders (2 chunks) 1.22x, reviews 1.45x.",
    "- Where a products chunk's time goes now (1M, every statement of both connections timed by a script): the "
    "target's INSERT 6.6-7.7 s over 10 chunks (DuckDB compressing wide nested rows into the file), the uniqueness "
    "checks 1.5-1.8 s, the plan 1.2 s, the new ids 0.6 s on the catalog connection; the cursor builds a chunk's "
    "rows and records the one before in about 0.6 s against the catalog connection's 0.9 s, so the target's write "
    "is the critical path.",
    "- The machine's speed varied about 2x between 2026-12-03 (when 2bac1be's code loaded 1M products at 28-32k "
    "rows/s and orders at 33k, this page's history) and today, and by 1.5x within today's runs: compare rows of "
    "one run, measured together, alternating.",
    "- Every connection is bounded (`memory_limit` 512 MB, 2 threads, a spill directory: `kit/duckdb_io.connect`); "
    "the two connections share one database, so one limit. Peak RSS of the loading process 685-688 MB at 1M "
    "(before 672-675 MB): two chunks' rows are held at once now (the one written, the one built).",
    "- The second run writes 0 rows: the plan compares each row's hash with the one in the id map. Earlier "
    "figures (per-record, set-based 1 and 2, primary keys dropped, row-id windows) are in this page's history.",
]


def _key(r: dict) -> tuple:
    return r["label"], r["products"], r.get("turn", 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--code", default="current",
                    help="codes to run side by side: current (this tree), label=gitref or gitref, comma-separated")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each code, alternating")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--render-only", action="store_true",
                    help="write the section again from the last runs' figures (bench/.cache/local_load.json)")
    args = ap.parse_args()
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"rows": [], "commands": []}
    if args.render_only:
        write_section(markdown(kept["rows"], kept["measured"], kept.get("commands", [])))
        print("wrote the local-target load section of docs/benchmarks.md")
        return
    rows = run([int(s) for s in args.sizes.split(",")], codes(args.code), args.timeout, args.repeat)
    command = ".venv/bin/python bench/local_load.py " + " ".join(sys.argv[1:])
    done = {_key(r) for r in rows}  # rows of other codes, sizes and turns are kept
    old = [r for r in kept["rows"] if _key(r) not in done]
    rows = old + rows
    commands = [c for c in kept.get("commands", []) if old and c != command] + [command]
    rows.sort(key=lambda r: (r["products"], r.get("turn", 1), r["label"] == "current"))
    measured = f"{datetime.now(timezone.utc):%Y-%m-%d}"
    RESULTS.write_text(json.dumps({"measured": measured, "rows": rows, "commands": commands}, indent=2))
    write_section(markdown(rows, measured, commands))
    print("wrote the local-target load section of docs/benchmarks.md")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    os.chdir(ROOT)
    main()
