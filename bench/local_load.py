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
    "- *before* is main at the branch's base (d281ee9), *current* the branch `localload`: the id map, the URL keys "
    "and the local target's tables lost their primary keys (each holds one row per key by construction: the load "
    "inserts only rows its plan found absent, updates the others, and refuses a plan naming a source id twice), "
    "so no insert maintains an ART index any more, and the bookkeeping's `INSERT OR REPLACE` (which DuckDB runs as "
    "a MERGE with a de-duplicating aggregate per chunk) became a plain INSERT for created rows, an UPDATE for "
    "updated ones, and a delete-then-insert for URL keys. A catalog or target file of an earlier version is "
    "rebuilt without the keys when opened for writing (`kit/duckdb_io.drop_primary_keys`, "
    "`tests/test_load.py::test_files_of_an_earlier_version_lose_their_primary_keys_and_keep_their_rows`).",
    "- The machine was shared with other helpers' jobs during these runs (load average 1.5 to 2.3 on 2 cores; an "
    "earlier pair of turns at load 3.6 to 5 gave products 1.46x, customers 1.19x, orders 1.04x, reviews 1.10x by "
    "CPU s), so wall times are stretched and CPU seconds inflated too; read the ratios of the two codes, each turn "
    "run back to back under the same load. Profiled per SQL statement at 100k products on a nearly idle machine "
    "(load 0.2-1.4; /tmp scripts timing every statement and DuckDB's JSON profile of the large ones): before, "
    "products took 5.5 s (18k rows/s), customers 1.8 s (32k), orders 6.1 s (27k), reviews 1.7 s (41k). "
    "The id-map insert of orders went from 0.39 to 0.23 s, of products 0.25 to 0.12 s, the URL-key upsert of "
    "products from 0.38 to 0.22 s (with the delete), and the target's index maintenance left the commits.",
    "- Where the first run's time goes now (orders at 100k, 4 chunks of 50,000): the target's INSERT 2.9-3.7 s, "
    "building the rows to write (`_select_sql`: the transformed rows joined to the plan, references and order "
    "lines resolved through the id map) 1.5-2.9 s, the catalog's commits 0.5 s, the plan 0.4 s, the id map "
    "0.2 s; products alike (INSERT 1.5 s, rows 1.2 s, commits 0.65 s, the uniqueness checks 0.3 s). DuckDB's "
    "operators in the target's INSERT take only 0.1 s a chunk: the rest is its commit compressing the wide nested "
    "rows into the file. Writing the 166,176 orders into an empty DuckDB table alone, from a temp table, takes "
    "3.1 s (about 54k rows/s, one thread: DuckDB compresses a transaction's rows on one core), of which the "
    "`dict_fsst` string compression is about 1 s; disabling it (`disabled_compression_methods`) writes in 2.1 s "
    "but makes the file three times larger (25 MB → 75 MB for those orders), which a shop's target file should "
    "not pay. So the issue's 50k rows/s for orders into the local target is not reached: the write into DuckDB "
    "alone is at about that rate.",
    "- Measured but not changed (pipeline/load.py is shared with the scale work): a `LOAD_CHUNK` of 122,880 "
    "(DuckDB's row-group size) lets every full chunk's rows go to the file as finished row groups instead of "
    "through the write-ahead log and a later checkpoint: idle, products 5.5 → 3.8 s and orders 6.1 → 5.1 s "
    "before the keys were dropped; under load 3 (after), orders 7.6 → 6.7 CPU s, products about equal; peak RSS "
    "503 → 547 MB at 100k. Building the rows once per chunk without materialising them (the rows' table is read "
    "three times by the target's create) is the other large cost left.",
    "- Every connection is bounded (`memory_limit` 512 MB, 2 threads, a spill directory: "
    "`kit/duckdb_io.connect`), which is what keeps peak RSS from growing with the store; a set-based write takes "
    "the (action, depth) set in chunks of `LOAD_CHUNK` (50,000) plan rows, each chunk's id-map, URL-key and "
    "ledger rows written in one catalog transaction after the chunk's target statement (a run stopped between "
    "them leaves rows the next run adopts by source id: `tests/test_load_set_based.py`).",
    "- The second run writes 0 rows: the plan compares each row's hash with the one in the id map. Earlier "
    "figures (per-record, set-based 1 and 2, measured with those codes on the same staged stores) are in this "
    "page's history: the set-based load was 4-7× the per-record one by CPU at 100k products.",
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
