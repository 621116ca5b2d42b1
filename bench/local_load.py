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
    "- *before* is main (b1a1a12), *current* the branch `loadspeed` (issue 18): (1) each chunk of a set-based "
    "write selects its transformed rows by row id as well as by plan window: the plan numbers rows in row-id "
    "order (`ord`, and keeps `rid`), so a chunk's rows lie in one row-id range, and `t.rowid BETWEEN` its first "
    "and last is pushed by DuckDB into the scan (only those row groups are read). Before, the chunk's join with "
    "the plan read the whole wide transformed table once per chunk (and once more per list column resolved: "
    "categories, grouped products' children, order lines): chunks × store, the main reason products fell from "
    "22k rows/s at 100k to 14-17k at 1M. (2) `LOAD_CHUNK` 50,000 → 122,880 (DuckDB's row-group size): full "
    "chunks reach the target file as finished row groups instead of through its write-ahead log and a later "
    "checkpoint, and an entity takes less than half the catalog commits. (3) A chunk's URL keys are taken from "
    "the chunk's rows, not from another join with the whole transformed table. Nothing written changes "
    "(`tests/test_load_set_based.py`, with a re-run whose updates and creates lie scattered among unchanged rows "
    "in chunks of the changed rows' count −1/0/+1).",
    "- At 1M products (a copy of the kept 1M run's catalog, its id map and URL keys emptied, loaded into a new "
    "target file, every SQL statement timed by a /tmp script; load average 1-2 from other helpers): products "
    "before 58.5 s wall, 52.6 CPU s (17.1k rows/s): building the chunks' rows (`_rows`) 15.3 s over 21 chunks, "
    "the target's INSERT 17.2 s, the catalog's commits 8.4 s, the uniqueness checks 5.8 s, URL keys 3.4 s, the "
    "plan 2.5 s, the id map 2.0 s. After (all three changes): 31.4 s wall, 34.4 CPU s (31.9k rows/s): `_rows` "
    "8.7 s over 10 chunks, INSERT 8.8 s, URL keys 3.3 s, uniqueness 2.8 s, id map 2.7 s, plan 1.9 s, commits "
    "0.1 s. With changes (1) and (2): customers 576,000 in 8.2 s (70k rows/s; 13.3 s in the kept full run), "
    "orders 1,660,965 in 50.2 s, 52.9 CPU s (33.1k rows/s; 82.5 s in the kept full run, at load 3-6): INSERT "
    "21.9 s, `_rows` 14.9 s, id map 4.5 s, plan 2.9 s, ledger 1.9 s; reviews 696,333 in 12.1 s (57.5k rows/s; "
    "24.3 s). Peak RSS of that process 647-665 MB (before 656 MB) under the 512 MB DuckDB limit.",
    "- What still grows with the store: the uniqueness checks of products (each chunk's SKUs and URL keys "
    "against the whole target table, `lower()` of every row it holds: 0.25-0.3 s a chunk at 1M) and the URL-key "
    "bookkeeping's join with `url_key_bases` (the whole entity's); with fewer, larger chunks they are a sixth of "
    "the products' load at 1M. With the whole-table scans of the rows they made products slower per row than "
    "orders; now the two are close at 1M (31.9k and 33.1k rows/s): products' INSERT and `_rows` cost less per "
    "row than orders', their uniqueness checks and URL keys make up the difference. A lasting index over `lower(sku)` in the target file would remove the "
    "first; not done.",
    "- At 100k the row-id window matters little (2 chunks a set) and products are about equal by CPU; the gains "
    "there come from the chunk size. Reviews, the last entity, look slower by CPU in the current code: their "
    "single chunk's catalog commit takes 0.9-1.0 s where before their two took 0.34 s together. Measured (per "
    "statement, 100k): with a CHECKPOINT of the catalog just before reviews the commit still took 0.99 s; with "
    "`checkpoint_threshold` raised to 4 GB it took 0.11 s (reviews 58.9k rows/s). So a chunk's own bookkeeping "
    "(69,635 id-map and ledger rows) passes DuckDB's 16 MB write-ahead-log threshold in one commit and the "
    "catalog's checkpoint runs inside the step, where main's smaller commits stayed under it and left the "
    "checkpoint to the connection's close, which this bench does not time per entity. Not changed: a larger "
    "threshold only moves that checkpoint to the close and lets the log grow with the store; a CHECKPOINT after "
    "the load is what the close does already. "
    "Not changed: the chunk's rows are already materialised once (`_rows`) and read "
    "by the target's create; not materialising them would run the joins three times. The target's INSERT is "
    "DuckDB compressing wide nested rows into the file on one core (about 100k product and 75k order rows/s); "
    "the issue's 50k rows/s over the whole load step is reached by customers and reviews at 1M, not yet by "
    "products (32k) and orders (33k).",
    "- Every connection is bounded (`memory_limit` 512 MB, 2 threads, a spill directory: "
    "`kit/duckdb_io.connect`), which is what keeps peak RSS from growing with the store; a set-based write takes "
    "the (action, depth) set in chunks of `LOAD_CHUNK` (122,880) plan rows, each chunk's id-map, URL-key and "
    "ledger rows written in one catalog transaction after the chunk's target statement (a run stopped between "
    "them leaves rows the next run adopts by source id: `tests/test_load_set_based.py`).",
    "- The second run writes 0 rows: the plan compares each row's hash with the one in the id map. Earlier "
    "figures (per-record, set-based 1 and 2, primary keys dropped) are in this page's history.",
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
