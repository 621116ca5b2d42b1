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


def summary(rows: list[dict], label: str = "current") -> list[str]:
    """One code's first-run rows/s per entity and store size (median of its turns), and all entities together
    (their rows over their seconds, per turn): the figures the goal is read against."""
    ok = [r for r in rows if "error" not in r and r["label"] == label]
    sizes = sorted({r["products"] for r in ok})
    if not sizes:
        return []
    entities = list(dict.fromkeys(r["entity"] for r in ok))
    lines = ["| entity | " + " | ".join(f"{n:,} products: rows | s | rows/s" for n in sizes) + " |",
             "|---|" + "---|---|---|" * len(sizes)]
    for entity in entities + ["all entities"]:
        cells = []
        for n in sizes:
            turns = sorted({r["turn"] for r in ok if r["products"] == n})
            picked = [[r for r in ok if r["products"] == n and r["turn"] == t
                       and (entity == "all entities" or r["entity"] == entity)] for t in turns]
            seconds = _median([sum(r["first"]["seconds"] for r in p) for p in picked if p])
            count = sum(r["rows"] for r in picked[0]) if picked and picked[0] else 0
            cells.append(f"{count:,} | {seconds:.2f} | {_rate(count, seconds)}" if seconds else "- | - | -")
        name = f"**{entity}**" if entity == "all entities" else entity
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


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
             "This branch's first run, the median of its turns (*all entities*: their rows over their seconds):", "",
             *summary(rows), "", "Every run:", "",
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
    "- *before* is 19f998b (main after the two-connection set-based write: `load._write_sets` builds chunk k+1's "
    "rows and records chunk k's answers on a cursor while the catalog connection writes chunk k into the attached "
    "target). *current* attaches the local target with row groups of 30,720 rows (`ROW_GROUP_SIZE` in "
    "`platforms/local/target.py`, through `kit/duckdb_io.attach`) instead of DuckDB's default 122,880, a load "
    "chunk's size: DuckDB compresses and writes the row groups of one INSERT in parallel, so a chunk now reaches "
    "the file as 4 row groups on both cores instead of one on one (the products INSERT of 100k rows, measured "
    "alone: 0.71 -> 0.39 s; 61,440 gave 0.51 s). It also finds the URL-key function by calling it instead of "
    "listing every DuckDB function (20-30 ms a load). *rg61440* (1M only) is current with row groups of 61,440, "
    "a throwaway commit measured beside it: in between. Nothing written changes (`tests/test_load_set_based.py` "
    "holds the set-based load to the batched path); the target file is 2 % larger (91 against 89 MB for 100k "
    "products), and row groups of both sizes read alike.",
    "- The goal (>= 50k rows/s for the loads and their bookkeeping) is met by every entity with volume at 100k and "
    "1M products: products 55.6k and 73.4k rows/s, orders 87k and 94k, customers 129k and 136k, reviews 108k and "
    "180k; all entities together 71.6k and 98.2k (the code before: 55.3k and 82.5k). CPU s fell with the wall "
    "time (products at 1M 32.6 -> 23.2 s): the work is the same, but DuckDB's compression of many row groups "
    "waits less.",
    "- The small entities are fixed costs, not rates: a load step runs about 40 short statements (plan, adoption "
    "lookup, uniqueness check, new ids, insert, id map, URL keys, ledger, attach and detach of the target) of "
    "1-3 ms each whatever the rows, so manufacturers (1,000) and tax classes (3) take 0.07-0.10 s. Categories "
    "are written level by level of their tree, parents first, so every child's parent id is known when it is "
    "written; the sample's 2,000 categories are 14 levels deep (a random tree), about 40 ms a level, 0.6 s in "
    "all. At 10k products the same fixed costs are most of each step: all loads together take 1.7 s (24k rows/s, "
    "products 27k), against 17 s for the whole migration (End-to-end scale).",
    "- This machine's speed varies by 1.5-2x between hours (the code before loaded 1M products at 67k rows/s in "
    "one run of today and 53k in another): compare rows of one run, measured together, alternating.",
    "- Every connection is bounded (`memory_limit` 512 MB, 2 threads, a spill directory: `kit/duckdb_io.connect`); "
    "the two connections share one database, so one limit. Peak RSS of the loading process about 660 MB at 1M, "
    "for either code.",
    "- The second run writes 0 rows: the plan compares each row's hash with the one in the id map. Earlier "
    "figures (per-record, set-based 1 and 2, primary keys dropped, row-id windows, two connections) are in this "
    "page's history.",
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
    for r in rows:
        r["command"] = command
    done = {_key(r) for r in rows}  # rows of other codes, sizes and turns are kept
    old = [r for r in kept["rows"] if _key(r) not in done]
    rows = old + rows
    commands = list(dict.fromkeys(r["command"] for r in rows if r.get("command")))  # those whose rows are shown
    rows.sort(key=lambda r: (r["products"], r.get("turn", 1), r["label"] == "current"))
    measured = f"{datetime.now(timezone.utc):%Y-%m-%d}"
    RESULTS.write_text(json.dumps({"measured": measured, "rows": rows, "commands": commands}, indent=2))
    write_section(markdown(rows, measured, commands))
    print("wrote the local-target load section of docs/benchmarks.md")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    os.chdir(ROOT)
    main()
