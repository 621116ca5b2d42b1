"""Where each migration stands (seed 001's demo → full → check → post-migration): read from the Dagster instance
(the runs of its jobs, the latest evaluation of each of its checks) and its latest report (records in
quarantine). Shown in the UI as the asset `status/lifecycle` of the migration, reported by a sensor whenever it
changes, and by `cart-pipelines status`.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import dagster as dg

from cart_pipelines.defs.factory import OWNERS
from cart_pipelines.defs.migrations import Migration
from cart_pipelines.pipeline import report as report_mod

PHASES = (("demo", "demo_migration"), ("full", "full_migration"), ("post_migration", "delta_sync"))
LIFECYCLE = ("status", "lifecycle")


def _when(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds") if ts else None


def _phase(instance: dg.DagsterInstance, job_name: str) -> dict:
    latest = instance.get_run_records(dg.RunsFilter(job_name=job_name), limit=1)
    done = instance.get_run_records(dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.SUCCESS]),
                                    limit=1)
    out = {"job": job_name, "done_at": _when(done[0].end_time) if done else None,
           "latest": latest[0].dagster_run.status.value.lower() if latest else "never run",
           "latest_run_id": latest[0].dagster_run.run_id if latest else None}
    return out


def _checks(instance: dg.DagsterInstance, check_keys: list[dg.AssetCheckKey]) -> dict:
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as S

    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(check_keys))
    passed = [k for k, r in records.items() if r.status == S.SUCCEEDED]
    failed = sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k, r in records.items() if r.status == S.FAILED)
    return {"total": len(check_keys), "passed": len(passed), "failed": failed,
            "not_evaluated": len(check_keys) - len(passed) - len(failed),
            "green": bool(check_keys) and len(passed) == len(check_keys)}


def lifecycle(m: Migration, instance: dg.DagsterInstance, check_keys: list[dg.AssetCheckKey]) -> dict:
    """The lifecycle of migration `m`: each phase's last success and latest run, its checks, its quarantine."""
    phases = {name: _phase(instance, m.job_name(job)) for name, job in PHASES}
    rep = report_mod.read(m.reports_directory)
    state = {
        "migration": m.name, "source": m.pools()[0].removeprefix("source/"),
        "target": m.pools()[1].removeprefix("target/"), **phases, "checks": _checks(instance, check_keys),
        "quarantined": rep["totals"].get("quarantined") if rep else None,
        "report_at": rep.get("generated_at") if rep else None,
        "report_mode": rep["settings"].get("mode") if rep else None,
    }
    state["stage"], state["next"] = _where(state)
    return state


def _where(s: dict) -> tuple[str, str]:
    """One phrase for where the migration stands, and what to do next (seed 001's order), naming its own jobs."""
    green = s["checks"]["green"]
    demo, full, delta = s["demo"]["job"], s["full"]["job"], s["post_migration"]["job"]
    if s["post_migration"]["done_at"]:
        return "post-migration", f"keep {delta} on schedule until the switch-over" if green else \
            "fix the failing checks"
    if s["full"]["done_at"]:
        return "full migration done", (f"check the shop, then run {delta} (post-migration)" if green
                                       else f"fix the failing checks, then run {full} again")
    if s["demo"]["done_at"]:
        return "demo done", f"review the demo with the shop owner, then run {full}"
    return "not started", f"test the connection ({demo.replace('demo_migration', 'check_source_connection')}), " \
                          f"then run {demo}"


def markdown(s: dict) -> str:
    def phase(p: dict) -> str:
        done = f"done {p['done_at']}" if p["done_at"] else "not done"
        return done if p["latest"] in ("success", "never run") else f"{done}; latest run {p['latest']}"

    c = s["checks"]
    checks = ("green" if c["green"] else f"{c['passed']}/{c['total']} passed") + \
        (f"; failing: {', '.join(c['failed'])}" if c["failed"] else "")
    rows = [("stage", s["stage"]), ("next", s["next"]), ("source", s["source"]), ("target", s["target"]),
            ("demo", phase(s["demo"])), ("full", phase(s["full"])), ("checks", checks),
            ("last post-migration", phase(s["post_migration"])),
            ("in quarantine", "—" if s["quarantined"] is None else f"{s['quarantined']} (report of "
                                                                    f"{s['report_at']}, {s['report_mode']})")]
    return "\n".join(["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def build_status(m: Migration, checks: list) -> tuple[dg.AssetsDefinition, dg.SensorDefinition]:
    """The lifecycle asset of `m` (reported, never run) and the sensor that reports it when it changes."""
    check_keys = [spec.key for c in checks for spec in c.check_specs]
    asset_key = m.key(*LIFECYCLE)
    spec = dg.AssetSpec(
        key=asset_key, group_name=m.group("status"), owners=OWNERS, kinds={m.source_platform, m.target_kind},
        deps=[m.key("report", "migration_report")],
        description="Where this migration stands (seed 001): demo done, full done, checks green, last "
                    "post-migration, records in quarantine, and what to do next. Reported by the sensor "
                    f"{m.job_name('lifecycle_sensor')} whenever it changes; `cart-pipelines status` prints it.")

    @dg.sensor(name=m.job_name("lifecycle_sensor"), minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Reports the lifecycle of the migration (asset status/lifecycle) when it changes.")
    def lifecycle_sensor(context: dg.SensorEvaluationContext):
        state = lifecycle(m, context.instance, check_keys)
        cursor = json.dumps(state, sort_keys=True)
        if context.cursor == cursor:
            return dg.SkipReason(f"{m.name}: unchanged ({state['stage']})")
        return dg.SensorResult(cursor=cursor, asset_events=[dg.AssetMaterialization(
            asset_key=asset_key, description=f"{state['stage']}: {state['next']}",
            metadata={"lifecycle": dg.MetadataValue.md(markdown(state)), "stage": state["stage"],
                      "checks_green": state["checks"]["green"],
                      "quarantined": state["quarantined"] if state["quarantined"] is not None else -1,
                      "state": dg.MetadataValue.json(state)})])

    return dg.AssetsDefinition(specs=[spec]), lifecycle_sensor
