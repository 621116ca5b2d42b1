"""Benchmark: a full migration end to end from a generated store export into the local target, as a user runs it.

For each size, `cart-pipelines migrate --full --source STORE` runs in a subprocess with a data directory and a
Dagster instance of its own (CART_PIPELINES_DATA, DAGSTER_HOME in a fresh temporary directory), twice: the first
run migrates everything, the second must write nothing. Reported per size: source records, wall seconds, peak RSS of
the whole process tree (summed over the CLI and anything it starts, sampled from /proc), the duration of each step
from the run's Dagster events, and the second run's wall time and rows written. The stores come from the sample
generator (as `cart-pipelines generate-sample --products N` writes them, seed 7) and are cached under bench/.cache/
(git-ignored), so generation is not timed; `--compression gz|zst` compresses a copy of each entity file as a
compressed export would be. Writes the "End-to-end scale" section of docs/benchmarks.md.

    .venv/bin/python bench/scale.py [--sizes 10k,100k] [--compression none|gz|zst]
    .venv/bin/python bench/scale.py --sizes 1M
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, ROOT, store_for, timed, write_section  # noqa: E402

SECTION = "## End-to-end scale"
RESULTS = CACHE / "scale.json"
# What a user's shell may set that would point the CLI at another migration, source or target.
FOREIGN_ENV = ("CART_MIGRATIONS", "CART_SOURCE", "CART_TARGET", "CART_PIPELINES_DATA", "DAGSTER_HOME")
STEP_SHARE = 0.02  # steps shorter than this share of a run's wall time at every size are summed as one row


def parse_size(text: str) -> int:
    """'10k' -> 10000, '1M' -> 1000000, '2500' -> 2500."""
    t = text.strip().lower().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    number = t[:-1] if scale != 1 else t
    try:
        value = float(number) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a store size: {text!r} (say 10000, 10k or 1M)") from None
    if value < 10 or value != int(value):
        raise argparse.ArgumentTypeError(f"not a store size: {text!r} (a whole number of products, at least 10)")
    return int(value)


def export_for(products: int, compression: str) -> Path:
    """The cached store export of `products` products, its entity files compressed with `compression`."""
    plain = store_for(products)
    if compression == "none":
        return plain
    out = CACHE / f"store-{products}-{compression}"
    if (out / "manifest.json").exists():
        return out
    print(f"compressing {plain} into {out} ({compression}) ...", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(plain.glob("*.jsonl")):
        target = out / f"{f.name}.{compression}"
        if compression == "gz":
            with open(f, "rb") as src, gzip.open(target, "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        else:
            import zstandard

            with open(f, "rb") as src, open(target, "wb") as dst:
                zstandard.ZstdCompressor(level=3).copy_stream(src, dst)
    shutil.copyfile(plain / "manifest.json", out / "manifest.json")  # last: its presence means complete
    return out


def migrate(store: Path, work: Path, timeout: float) -> dict:
    """One `cart-pipelines migrate --full` in its own process tree: wall seconds, peak tree RSS, the report."""
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_ENV}
    env.update(CART_PIPELINES_DATA=str(work / "data"), DAGSTER_HOME=str(work / "dagster_home"),
               PYTHONUNBUFFERED="1")
    exe = Path(sys.executable).with_name("cart-pipelines")
    log = work / f"migrate-{len(list(work.glob('migrate-*.log')))}.log"
    m = timed([str(exe), "migrate", "--full", "--source", str(store)], env, timeout, log, keep_samples=True)
    if m["exit"] != 0:
        tail = [line for path in (log.with_suffix(".err"), log) if path.exists()
                for line in path.read_text(errors="replace").strip().splitlines()][-1:] or ["no output"]
        return {"error": f"exit {m['exit']}: {tail[0][:200]}", "wall": m["seconds"], "_rss": m["rss_samples"]}
    report = json.loads((work / "data" / "reports" / "migration_report.json").read_text())
    t = report["totals"]
    return {"wall": m["seconds"], "cpu_s": m["cpu_s"], "peak_rss_mb": m["peak_rss_mb"], "source": t["source"], "loaded": t["loaded"],
            "written": t["created"] + t["updated"], "skipped": t["skipped"], "quarantined": t["quarantined"],
            "accounted": report["all_accounted_for"], "load_avg": round(os.getloadavg()[0], 1),
            "_rss": m["rss_samples"]}  # (unix time, bytes) samples; not kept in scale.json


def step_durations(events) -> dict:
    """From (step_key, event_type, timestamp) triples of one run: seconds per step (start to success or
    failure), each step's span (start, end) and the run's own span (its first to last event)."""
    started, steps, spans = {}, {}, {}
    stamps = [ts for _, _, ts in events]
    for key, kind, ts in events:
        if kind == "STEP_START":
            started[key] = ts
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and key in started:
            spans[key] = (started[key], ts)
            steps[key] = ts - started.pop(key)
    return {"steps": steps, "spans": spans, "run_seconds": (max(stamps) - min(stamps)) if stamps else None}


def step_peaks(spans: dict, samples: list[tuple[float, int]]) -> dict:
    """Per step, the largest process-tree RSS (MB) sampled while it ran, from (unix time, bytes) samples and the
    steps' (start, end) spans; a step no sample fell in gets none. Steps that overlap (the multiprocess executor)
    share the samples of their common time: the figure is what the tree held while the step ran."""
    peaks = {}
    for key, (start, end) in spans.items():
        inside = [b for t, b in samples if start <= t <= end]
        if inside:
            peaks[key] = max(inside) / 2**20
    return peaks


def run_events(home: Path) -> list[list[tuple]]:
    """Per run of the instance at `home`, oldest first: its events as (step_key, event_type, timestamp)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = list(reversed(instance.get_runs()))
        return [[(e.step_key, e.dagster_event.event_type_value, e.timestamp)
                 for e in instance.all_logs(r.run_id) if e.dagster_event is not None] for r in runs]


def measure(products: int, compression: str, timeout: float, keep: bool) -> dict:
    store = export_for(products, compression)
    work = Path(tempfile.mkdtemp(prefix=f"scale-{products}-", dir=CACHE))
    try:
        print(f"{products:,} products ({compression}): first run ...", flush=True)
        first = migrate(store, work, timeout)
        samples = first.pop("_rss", None) or []
        # The whole trace, to look into a run afterwards (not in the page): (unix time, MB) every 0.1 s.
        (CACHE / f"scale-rss-{products}-{compression}.json").write_text(
            json.dumps([(round(t, 2), round(b / 2**20, 1)) for t, b in samples]))
        row = {"products": products, "compression": compression, "first": first}
        if "error" in first:
            return row
        print(f"  {json.dumps(first)}\n  second run ...", flush=True)
        row["second"] = migrate(store, work, timeout)
        row["second"].pop("_rss", None)
        print(f"  {json.dumps(row['second'])}", flush=True)
        try:
            runs = [step_durations(r) for r in run_events(work / "dagster_home")]
            row["steps"] = runs[0]["steps"]
            row["step_rss_mb"] = {k: round(v, 1) for k, v in step_peaks(runs[0]["spans"], samples).items()}
            row["run_seconds"] = runs[0]["run_seconds"]
            if len(runs) > 1:  # kept in bench/.cache/scale.json: where a re-run's time goes
                row["second_steps"] = runs[1]["steps"]
        except Exception as exc:  # the events are a breakdown; the run's own figures stand without them
            row["steps_error"] = f"{type(exc).__name__}: {exc}"[:200]
        return row
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _cpu(run: dict) -> str:
    return f"{run['cpu_s']:.1f}" if run.get("cpu_s") is not None else "-"


def _mb(value) -> str:
    return f"{value:,.0f}" if value else "-"


def markdown(rows: list[dict], command: str, when: str, note: str = "") -> str:
    lines = [SECTION, "",
             f"Measured {when} by `{command}` on this project's CI machine kind (2 cores, shared with other "
             "sessions). Each run is `cart-pipelines migrate --full --source STORE` in a subprocess with its own "
             "data directory and Dagster instance, from a store export made by the sample generator "
             "(`cart-pipelines generate-sample --products N`, seed 7; generation is not timed) into the local "
             "target. *records* is every source record of the export; *peak RSS* is the whole process tree's "
             "resident memory summed at each instant (sampled every 0.1 s from /proc), its largest sum. The second "
             "run is the same command again on the same data: it must write 0 rows. *load* is the machine's "
             "1-minute load average when the first run ended (2 cores: above 2, other work shared them, and wall "
             "seconds stretch); *CPU s* is the process tree's user + system time, the work whatever the load.", "",
             "| products | export | records | loaded | skipped | quarantined | wall s | CPU s | records/s | "
             "peak RSS MB | 2nd run wall s | 2nd run CPU s | 2nd run rows written | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f, s = r["first"], r.get("second") or {}
        if "error" in f:
            lines.append(f"| {r['products']:,} | {r['compression']} | error: {f['error']} ||||||||||||")
            continue
        second = (f"{s['error']}", "-", "-") if "error" in s else \
            (f"{s['wall']:.1f}", _cpu(s), f"{s['written']:,}")
        lines.append(f"| {r['products']:,} | {r['compression']} | {f['source']:,} | {f['loaded']:,} | "
                     f"{f['skipped']:,} | {f['quarantined']:,} | {f['wall']:.1f} | {_cpu(f)} | "
                     f"{f['source'] / f['wall']:,.0f} | {_mb(f['peak_rss_mb'])} | {second[0]} | {second[1]} | "
                     f"{second[2]} | {f.get('load_avg', '-')} |")
    timed = [r for r in rows if r.get("steps")]
    if timed:
        lines += ["", "Where the first run's time goes, seconds per step (from the run's STEP_START and STEP_SUCCESS "
                  "events; steps under 2 % of the wall time at every size are summed in *other steps*; *outside "
                  "the run* is the CLI's start — imports, definitions — and end, the wall time less the run's "
                  "first-to-last event):", "",
                  "| step | " + " | ".join(f"{r['products']:,} ({r['compression']})" for r in timed) + " |",
                  "|---|" + "---|" * len(timed)]
        keys = sorted({k for r in timed for k in r["steps"]},
                      key=lambda k: -max(r["steps"].get(k, 0) for r in timed))
        big = [k for k in keys if any(r["steps"].get(k, 0) >= STEP_SHARE * r["first"]["wall"] for r in timed)]
        for k in big:
            lines.append(f"| {k} | " + " | ".join(f"{r['steps'].get(k, 0):.1f}" for r in timed) + " |")
        lines.append("| other steps | " + " | ".join(
            f"{sum(v for k, v in r['steps'].items() if k not in big):.1f}" for r in timed) + " |")
        lines.append("| outside the run | " + " | ".join(
            f"{r['first']['wall'] - (r.get('run_seconds') or 0):.1f}" for r in timed) + " |")
    held = [r for r in rows if r.get("step_rss_mb")]
    if held:
        lines += ["", "Peak RSS while each step ran, MB (the process tree's samples between the step's STEP_START and "
                  "its end; steps run one after another in one process, so a step's figure includes what earlier "
                  "steps left allocated; the step where the figure first rises is the one that grew it; the 12 largest "
                  "are listed):", "",
                  "| step | " + " | ".join(f"{r['products']:,} ({r['compression']})" for r in held) + " |",
                  "|---|" + "---|" * len(held)]
        order = sorted({k for r in held for k in r["step_rss_mb"]},
                       key=lambda k: -max(r["step_rss_mb"].get(k, 0) for r in held))
        for k in order[:12]:
            lines.append(f"| {k} | " + " | ".join(_mb(r["step_rss_mb"].get(k)) for r in held) + " |")
        rest = order[12:]
        if rest:
            lines.append("| largest of the other steps | " + " | ".join(
                _mb(max((r["step_rss_mb"].get(k, 0) for k in rest), default=0)) for r in held) + " |")
    lines += ["", "Reading the table:", "", *([f"- This run: {note}"] if note else []),
              "- Goals: peak RSS ≤ 1 GiB at 1M products and flat from 100k to 1M; the first run of 1M products in "
              "under 10 minutes on 2 cores; the second run in under a third of the first, writing 0 rows.",
              "- *records/s* is every source record over the whole command, the CLI's start-up included; the step "
              "table says where the time goes.",
              "- The second run finds the export's files as the first run staged them (path, size, modification "
              "time): it reads none of them again and keeps every transform whose inputs did not change "
              "(docs/lifecycle.md, \"Re-runs keep what did not change\"; `--reextract` does all the work again), then "
              "plans every record against the id map; that it writes 0 rows is the idempotency check, its time the "
              "cost of a re-run.",
              "- *skipped* are records the migration rules skip by name (docs/rules.md: orders without a migrated "
              "customer, reviews without a migrated product and customer, merged e-mails), so records = loaded + "
              "skipped + quarantined.",
              "", "Rerun (the lead re-runs after changes to extraction or loading): "
              f"`{command}`; `--sizes 1M` for a million products (generating that store once takes about 12 "
              "minutes and 4.1 GB in bench/.cache/), `--compression none,gz,zst` for compressed exports too."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10k,100k", help="Products per store, comma-separated (10000, 10k, 1M).")
    ap.add_argument("--compression", default="none", help="none, gz or zst; several comma-separated.")
    ap.add_argument("--timeout", type=float, default=3600, help="Seconds one migration may take.")
    ap.add_argument("--keep", action="store_true", help="Keep each run's data directory under bench/.cache/.")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = ap.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    kinds = [c.strip() for c in args.compression.split(",") if c.strip()]
    if not kinds or set(kinds) - {"none", "gz", "zst"}:
        ap.error(f"--compression: none, gz or zst (comma-separated), not {args.compression!r}")
    CACHE.mkdir(parents=True, exist_ok=True)
    command = ".venv/bin/python bench/scale.py" + (f" --sizes {args.sizes}" if args.sizes != "10k,100k" else "") \
        + (f" --compression {args.compression}" if args.compression != "none" else "")
    when = f"{datetime.now(timezone.utc):%Y-%m-%d}"
    rows = []
    for c in kinds:
        for p in sizes:  # the page after each size: a long run that is stopped keeps what it measured
            rows.append(measure(p, c, args.timeout, args.keep))
            RESULTS.write_text(json.dumps({"command": command, "when": when, "rows": rows}, indent=2))
            write_section(markdown(rows, command, when), Path(args.out))
    print(f"wrote {args.out}")


def rerender(out: str = str(ROOT / "docs" / "benchmarks.md"), note: str | None = None) -> None:
    """Write the section again from the last run's figures (bench/.cache/scale.json), with a note on the run (how
    busy the machine was, say) kept there."""
    last = json.loads(RESULTS.read_text())
    if note is not None:
        last["note"] = note
        RESULTS.write_text(json.dumps(last, indent=2))
    write_section(markdown(last["rows"], last["command"], last.get("when", ""), last.get("note", "")), Path(out))


if __name__ == "__main__":
    main()
