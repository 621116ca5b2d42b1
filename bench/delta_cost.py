"""Benchmark: what a delta of products costs (requests, seconds) as the share of changed rows grows, and as the
store grows with the share fixed — a delta should cost in proportion to what changed, not to the store.

The Magento emulator serves the store in its own process (`cart-pipelines emulate`, with the extraction bench's
latency per response). The full migration's staged products are made once per store size from the store export
(no API needed for that baseline); then per share of changed rows, the store is served with that share of its
products modified after the high-water mark, and a worker process runs the delta extraction of products
(`extract_entity(since=mark)`: the platform's `updated_at gt` filter, then the merge into the staged Parquet).
Writes the "Delta cost" section of docs/benchmarks.md.

    .venv/bin/python bench/delta_cost.py [--runs 100000:0,100000:0.1,100000:1,100000:10,10000:1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, run_worker, start_emulator, stop, store_for, write_section  # noqa: E402

from cart_pipelines.pipeline.extract import extract_entity  # noqa: E402
from cart_pipelines.pipeline.staging import Staging  # noqa: E402
from cart_pipelines.platforms.store_export.source import StoreExport  # noqa: E402

PLATFORM = "magento"  # products need no per-record sub-requests there (WooCommerce reads variations one by one)
WORKER = r"""
import json, sys, time
from datetime import datetime
from pathlib import Path
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.pipeline.extract import extract_entity
from cart_pipelines.pipeline.staging import Staging
name, announce, out, since = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
base = announce.pop("base_url"); announce.pop("platform", None); ca = announce.pop("ca_file", None)
src = platforms.source_class(name).connect(base, announce, verify=ca or True)
t = time.perf_counter()
res = extract_entity(src, "products", Staging(out), since=datetime.fromisoformat(since))
print(json.dumps({"read": res.source_records, "seconds": time.perf_counter() - t,
                  "requests": src.client.requests_made}))
"""


def baseline(products: int) -> tuple[Path, datetime]:
    """Staged products of the full migration (from the store export), and the high-water mark it leaves."""
    d = CACHE / "delta" / f"base-{products}"
    store = store_for(products)
    if not (d / "catalog.duckdb").exists():
        print(f"staging the {products}-product baseline ...", flush=True)
        extract_entity(StoreExport(store), "products", Staging(d))
    with Staging(d).connect() as con:
        mark = con.execute("SELECT max(updated_at) FROM staged_products").fetchall()[0][0]
    return d, mark


def changed_store(products: int, percent: float, mark: datetime) -> tuple[Path, int]:
    """The store with `percent` % of its products (evenly spread) modified one hour after the mark."""
    src, d = store_for(products), CACHE / "delta" / f"store-{products}-{percent:g}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    for f in src.iterdir():
        if f.name != "products.jsonl":
            (d / f.name).symlink_to(f.resolve())
    every = round(100 / percent) if percent else 0
    stamp = (mark + timedelta(hours=1)).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    changed = 0
    with open(src / "products.jsonl", encoding="utf-8") as fin, \
            open(d / "products.jsonl", "w", encoding="utf-8") as out:
        for n, line in enumerate(fin):
            if every and n % every == 0:
                rec = json.loads(line)
                rec.update(price=round(float(rec.get("price") or 0) + 1, 2), updated_at=stamp)
                line = json.dumps(rec, ensure_ascii=False) + "\n"
                changed += 1
            out.write(line)
    return d, changed


def run(runs, latency_ms, per_item_ms, timeout):
    rows = []
    for products, percent in runs:
        base, mark = baseline(products)
        store, changed = changed_store(products, percent, mark)
        work = CACHE / "delta" / "work"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(base, work)
        proc, announce = start_emulator(PLATFORM, store, latency_ms, per_item_ms)
        try:
            started = time.time()
            m = run_worker(WORKER, [PLATFORM, json.dumps(announce), str(work), mark.isoformat()], timeout)
        finally:
            stop(proc)
        if "error" in m:
            raise RuntimeError(f"{products}:{percent}: {m['error']}")
        m.update(platform=PLATFORM, products=products, percent=percent, changed=changed, wall=time.time() - started)
        rows.append(m)
        print(json.dumps(m), flush=True)
    return rows


def markdown(rows, latency_ms, per_item_ms) -> str:
    lines = ["## Delta cost", "",
             f"Measured {datetime.now(timezone.utc):%Y-%m-%d} by `bench/delta_cost.py` (2 cores): a delta of products "
             f"from the {PLATFORM.capitalize()} emulator (own process, default plan, {latency_ms:g} ms per response "
             f"plus {per_item_ms:g} ms per record) after a full migration, with a share of the products changed after "
             "the high-water mark. *seconds* is the whole delta extraction: the filtered read (`updated_at gt` the "
             "mark) and the merge of the changed rows into the staged Parquet. Detection of deletions is off (its "
             "id listing costs about products ÷ page size requests; see docs/lifecycle.md).", "",
             "| products in store | changed | changed rows | rows read | requests | seconds |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['products']:,} | {r['percent']:g} % | {r['changed']:,} | {r['read']:,} | "
                     f"{r['requests']:,} | {r['seconds']:.1f} |")
    lines += ["", "Reading the table:", "",
              "- Requests grow with the changed rows — one page per 300 changed products, plus one for the store's "
              "settings — not with the store: 1,000 changed rows cost 5 requests in a 10k and in a 100k store, and "
              "a delta with no changes costs 2 (the settings and one empty page) at any size.",
              "- Seconds grow with the changed rows too (reading and mapping them); what the store size adds is local "
              "work: a delta with changes rewrites the staged Parquet of the entity (about 1.5 s more at 100k than "
              "at 10k for the same changed rows), and one without changes leaves it alone.",
              "- On a real shop each request costs its network round trip (100 ms modelled here), so the request "
              "column is what a delta's duration follows."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="100000:0,100000:0.1,100000:1,100000:10,10000:0.1,10000:1,10000:10",
                    help="products:percent pairs")
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--latency-per-item-ms", type=float, default=0.2)
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    runs = [(int(p), float(c)) for p, c in (r.split(":") for r in args.runs.split(","))]
    rows = run(runs, args.latency_ms, args.latency_per_item_ms, args.timeout)
    (CACHE / "delta_cost.json").write_text(json.dumps(rows, indent=2))
    rerender()


def rerender(latency_ms: float = 100.0, per_item_ms: float = 0.2) -> None:
    """Write the section again from the last run's figures (bench/.cache/delta_cost.json)."""
    write_section(markdown(json.loads((CACHE / "delta_cost.json").read_text()), latency_ms, per_item_ms))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
