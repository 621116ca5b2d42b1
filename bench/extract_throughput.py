"""Benchmark: extraction speed against each platform's emulator at its default-plan rate limit, and peak memory.

For each platform and store size, the emulator runs in its own process (`cart-pipelines emulate --store`, with a
realistic latency per response), and the extraction of products and orders runs in another process, so the
extractor's peak RSS is its own. Reported: rows/s, the most rows/s the platform's limit allows (its bound), their
ratio, requests, retries (429s ridden out), and peak RSS. Writes docs/benchmarks.md.

    .venv/bin/python bench/extract_throughput.py [--sizes 10000,100000] [--platforms bigcommerce,...]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    CACHE,
    ROOT,
    run_worker,
    start_emulator,
    stop,
    store_for,
    table,
    write_section,
)

from cart_pipelines.platforms import registry as platforms  # noqa: E402

SHOPIFY_BULK_ABOVE = 2_000  # platforms/shopify/source.py BULK_THRESHOLD
# Orders are left out: BigCommerce v2 needs two sub-resource requests per order (2.5 orders/s on the standard
# plan), which would make a 200k-order run take a day; products and customers show what pacing achieves.
ENTITIES = ("products", "customers")
# WooCommerce serves variations as a sub-resource: one more request per variable product (30 % of the generated
# ones), so under the emulated host limit (25 requests / 10 s) 10k products take about 20 minutes and 100k about
# 3.5 hours. Its customers show the pacing; products are measured only in the 1k-product runs of the tests.
ENTITIES_BY_PLATFORM = {"woocommerce": ("customers",)}

WORKER = r"""
import json, resource, sys, time
from pathlib import Path
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.pipeline.extract import extract_entity
from cart_pipelines.pipeline.staging import Staging
name, announce, out, entity = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
base = announce.pop("base_url"); announce.pop("platform", None); ca = announce.pop("ca_file", None)
src = platforms.source_class(name).connect(base, announce, verify=ca or True)
cost = {"points": 0.0, "restore": None}
if name == "shopify":  # Shopify limits cost points, not requests: measure what these queries actually cost
    def tally(response, *args, **kwargs):
        try:
            c = response.json().get("extensions", {}).get("cost", {})
        except ValueError:
            return
        cost["points"] += float(c.get("actualQueryCost") or 0)
        cost["restore"] = c.get("throttleStatus", {}).get("restoreRate", cost["restore"])
    src.client.session.hooks["response"].append(tally)
t = time.perf_counter()
res = extract_entity(src, entity, Staging(out))
seconds = time.perf_counter() - t
print(json.dumps({"rows": res.staged, "quarantined": res.quarantined, "seconds": seconds,
                  "requests": src.client.requests_made, "retries": src.client.retries,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "cost_bound": (cost["restore"] * res.staged / cost["points"]) if cost["points"] else None}))
"""


def bound(name: str, entity: str) -> float | None:
    """Rows/s the platform's default-plan limit allows for this entity (None: the platform sets no limit)."""
    fn = getattr(platforms.emulator_module(name), "rate_bound_rows_per_s", None)
    return fn(entity) if fn else None


def run(names, sizes, latency_ms, per_item_ms, timeout):
    rows = []
    for products in sizes:
        store = store_for(products)
        for name in names:
            proc, announce = start_emulator(name, store, latency_ms, per_item_ms)
            try:
                for entity in ENTITIES_BY_PLATFORM.get(name, ENTITIES):
                    out = CACHE / "staging" / f"{name}-{products}"
                    started = time.time()
                    m = run_worker(WORKER, [name, json.dumps(announce), str(out), entity], timeout)
                    if "error" in m:
                        rows.append({"platform": name, "products": products, "entity": entity, "error": m["error"]})
                        continue
                    b = m.pop("cost_bound") or bound(name, entity)
                    m.update(platform=name, products=products, entity=entity, rows_per_s=m["rows"] / m["seconds"],
                             bound=b, ratio=(m["rows"] / m["seconds"]) / b if b else None,
                             wall=time.time() - started)
                    rows.append(m)
                    print(json.dumps(m), flush=True)
            finally:
                stop(proc)
    return rows


def markdown(rows, latency_ms, per_item_ms) -> str:
    lines = ["## Extraction throughput against the platform emulators", "",
             f"Measured {datetime.now(timezone.utc):%Y-%m-%d} by `bench/extract_throughput.py` on this project's CI "
             f"machine kind (2 cores). Emulators at their default-plan rate limits, with {latency_ms:g} ms latency "
             f"per response plus {per_item_ms:g} ms per record in a page (real shop APIs answer a page in roughly "
             "0.1–1 s). *bound* is the most rows/s the platform's limit allows (requests or cost points per second "
             "× records per page; for Shopify, restore points/s ÷ the actual cost per record of the queries it ran; a bulk "
             "operation is not rate limited); *ratio* = rows/s ÷ bound (target ≥ 0.9). Peak RSS is the extracting "
             "process's own.",
             ""]

    def cells(r):
        bulk = r["platform"] == "shopify" and r["rows"] > SHOPIFY_BULK_ABOVE  # a bulk export, not pages
        b = "bulk export: not rate limited" if bulk else (f"{r['bound']:,.0f}" if r["bound"] else "no platform limit")
        ratio = "-" if bulk or not r["ratio"] else f"{r['ratio']:.2f}"
        return [r["platform"], f"{r['products']:,}", r["entity"], f"{r['rows']:,}", f"{r['seconds']:.1f}",
                f"{r['rows_per_s']:,.0f}", b, ratio, f"{r['requests']:,}", str(r["retries"]), f"{r['peak_rss_mb']:.0f}"]

    lines += table(["platform", "products in store", "entity", "rows", "seconds", "rows/s", "bound rows/s", "ratio",
                    "requests", "429s ridden out", "peak RSS MB"], rows, cells,
                   lambda r: [r["platform"], f"{r['products']:,}", r["entity"]])
    lines += ["", "Reading the table:", "",
              "- BigCommerce paces by its `X-Rate-Limit-*` headers and reaches its bound (a ratio above 1 at 10k is "
              "the first 30-second window's burst, before the sustained rate applies).",
              "- WooCommerce has no limit of its own; the emulated host limit (25 requests / 10 s) is reached. Its "
              "products are left out: variations are a sub-resource (one more request per variable product), so "
              "under that limit 100k products would take hours — a real shop without a host limit reads them at "
              "the concurrency the connector allows.",
              "- Magento's emulated host limit (20 requests/s) is not the limit here: serving 300-record pages and "
              "extracting them on the same 2 cores is. Its ratio measures this machine, not the connector.",
              "- PrestaShop has no rate limit (its host may have one), so there is no bound: its Webservice gives no "
              "total, so lists are read by id keyset one page at a time; each page of products needs three linked "
              "lists more (combinations, stock, specific prices), read together.",
              "- Shopify above 2,000 records uses a bulk export, which is not rate limited; its speed is the "
              "emulator building the JSONL file and the connector's polling, not a platform limit.",
              "- Peak RSS stays between 230 and 265 MB from 10k to 100k products: memory is flat in store size "
              "(pages stream to Parquet in bounded batches)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--platforms", default=",".join(sorted(platforms.PLATFORMS)))
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--latency-per-item-ms", type=float, default=0.2)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = ap.parse_args()
    names = [n for n in args.platforms.split(",") if n]
    rows = run(names, [int(s) for s in args.sizes.split(",")], args.latency_ms, args.latency_per_item_ms,
               args.timeout)
    write_section(markdown(rows, args.latency_ms, args.latency_per_item_ms), Path(args.out))
    (CACHE / "extract_throughput.json").write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()


def rerender(out: str = str(ROOT / "docs" / "benchmarks.md"), latency_ms: float = 100.0, per_item_ms: float = 0.2):
    """Write the page again from the last run's figures (bench/.cache/extract_throughput.json)."""
    rows = json.loads((CACHE / "extract_throughput.json").read_text())
    write_section(markdown(rows, latency_ms, per_item_ms), Path(out))
