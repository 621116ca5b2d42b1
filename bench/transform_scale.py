"""Benchmark: `transform_entity` of some entities on a copy of a staged store, code against code.

A staging directory (catalog.duckdb and parquet/, e.g. a `bench/scale.py --keep` run's data/staging) is copied per
turn (the catalog; the Parquet is linked, read only), its staged views pointed at the copy, and each entity
transformed in a fresh interpreter with the pipeline's connection bounds (512 MB, 2 threads), as the asset does
(target named, so loaded records keep their URL keys). `--first` empties url_key_bases and names a target nothing was
loaded into, as a first run meets them; without it, the catalog's url_keys of `--target` make a re-run's sticky keys.
Codes alternate per turn, so each meets the same machine load. Prints per turn and entity CPU s (user + system of
the worker), wall s and the worker's peak RSS, as JSON lines and a Markdown table for docs/benchmarks.md's
"Transforms at scale" (merged by hand).

    .venv/bin/python bench/transform_scale.py --staging DIR [--entities products,orders] [--first]
        [--code before=main,current] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import codes, run_worker  # noqa: E402

WORKER = r"""
import sys
if sys.argv[5]:
    sys.path.insert(0, sys.argv[5])
import json, os, resource, time
import cart_pipelines
assert not sys.argv[5] or cart_pipelines.__file__.startswith(sys.argv[5]), cart_pipelines.__file__
from pathlib import Path
from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.pipeline.staging import Staging
from cart_pipelines.pipeline.transform import transform_entity
work, entities, target, first = Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3], sys.argv[4] == "1"
staging, out = Staging(work), {}
with staging.connect() as con:
    for e in ENTITY_NAMES:
        staging.register(con, e)
    if first:
        con.execute("DELETE FROM url_key_bases")
    con.execute("CHECKPOINT")
    for e in entities:
        t, c = time.perf_counter(), os.times()
        res = transform_entity(con, e, RuleSettings(), target=target)
        con.execute("CHECKPOINT")  # the write to the catalog file is part of the step
        d = os.times()
        out[e] = {"wall": time.perf_counter() - t, "cpu": (d.user - c.user) + (d.system - c.system),
                  "rows": res.transformed}
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
with open("/proc/loadavg") as fh:
    out["load"] = float(fh.read().split()[0])
print(json.dumps(out))
"""


def turn(staging: Path, entities: str, target: str, first: bool, directory: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(dir="/tmp", prefix="transform-scale-") as tmp:
        work = Path(tmp)
        shutil.copy(staging / "catalog.duckdb", work / "catalog.duckdb")
        (work / "parquet").symlink_to((staging / "parquet").resolve())
        return run_worker(WORKER, [str(work), entities, target, "1" if first else "0", directory], timeout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--staging", required=True, type=Path, help="a staging directory (catalog.duckdb, parquet/)")
    ap.add_argument("--entities", default="products,orders")
    ap.add_argument("--target", default="mystore_local", help="the target whose url_keys the catalog holds")
    ap.add_argument("--first", action="store_true", help="as a first run: no bases, a target nothing was loaded to")
    ap.add_argument("--code", default="current", help="codes side by side: current, label=gitref or gitref")
    ap.add_argument("--repeat", type=int, default=1, help="turns of each code, alternating")
    ap.add_argument("--timeout", type=float, default=3600.0)
    args = ap.parse_args()
    target = "first_run_target" if args.first else args.target
    rows = []
    for n in range(args.repeat):
        for label, _sha, directory in codes(args.code):
            m = turn(args.staging, args.entities, target, args.first, directory, args.timeout)
            for e in args.entities.split(","):
                r = {"turn": n + 1, "code": label, "entity": e, **m.get(e, {"error": m.get("error")}),
                     "peak_rss_mb": m.get("peak_rss_mb"), "load": m.get("load")}
                rows.append(r)
                print(json.dumps(r), flush=True)
    print("\n| turn | code | entity | rows | CPU s | wall s | peak RSS MB | load |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['turn']} | {r['code']} | {r['entity']} | error: {r['error']} | | | | |")
        else:
            print(f"| {r['turn']} | {r['code']} | {r['entity']} | {r['rows']:,} | {r['cpu']:.1f} | {r['wall']:.1f} "
                  f"| {r['peak_rss_mb']:.0f} | {r['load']:.1f} |")


if __name__ == "__main__":
    main()
