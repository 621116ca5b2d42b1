"""The Dagster code location: every asset, check, job, schedule, sensor and resource of cart_pipelines — one set
per migration of migrations.yaml (defs/migrations.py), or the embedded default when there is no file. Built when
the code location loads, so "Reload definitions" picks up added or removed migrations."""

from __future__ import annotations

import dagster as dg

from cart_pipelines.defs.factory import build_all
from cart_pipelines.defs.jobs import build_jobs, build_schedules
from cart_pipelines.defs.migrations import Migration, load
from cart_pipelines.defs.partitions import (
    backfill_jobs,
    build_partitioned,
    plan_partitions_job,
)
from cart_pipelines.defs.status import build_status


def migration_definitions(m: Migration) -> dg.Definitions:
    """Everything of one migration: its assets, checks, jobs, schedule, lifecycle sensor and resources."""
    assets, asset_checks = build_all(m)
    status, sensor = build_status(m, asset_checks)
    return dg.Definitions(
        assets=assets + build_partitioned(m) + [status],
        asset_checks=asset_checks,
        jobs=build_jobs(m, assets) + backfill_jobs(m) + [plan_partitions_job(m)],
        schedules=build_schedules(m),
        sensors=[sensor],
        resources=m.bound_resources(),
    )


def build_definitions(resources: dict | None = None, migrations: list[Migration] | None = None) -> dg.Definitions:
    """The definitions of `migrations`; of one migration with `resources`; else of the deployment's migrations."""
    if migrations is None:
        migrations = [Migration.from_resources(resources)] if resources else load()
    return dg.Definitions.merge(*(migration_definitions(m) for m in migrations), dg.Definitions(executor=executor()))


def executor() -> dg.ExecutorDefinition:
    """In-process by default: every step writes the one DuckDB catalog, and DuckDB allows a single writer process.
    $CART_EXECUTOR=multiprocess runs steps in processes ($CART_MAX_CONCURRENT at once, default 2): extractions
    read their sources in parallel, and steps that need the catalog wait for it (staging.open_catalog).
    $CART_EXECUTOR=celery sends each step as a task to Celery workers (dagster-celery) through the broker
    $CART_CELERY_BROKER (default redis://127.0.0.1:6379/0), results in $CART_CELERY_BACKEND (default: the broker);
    the workers need the same environment and an instance they share (PostgreSQL; docs/deployment.md)."""
    import os

    choice = os.environ.get("CART_EXECUTOR", "in_process")
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "multiprocess":
        return dg.multiprocess_executor.configured(
            {"max_concurrent": int(os.environ.get("CART_MAX_CONCURRENT") or 2)}, name="multiprocess")
    if choice == "celery":
        try:
            from dagster_celery import celery_executor
        except ImportError:
            raise ValueError("CART_EXECUTOR: celery needs dagster-celery (pip install -e '.[celery]')") from None
        broker = os.environ.get("CART_CELERY_BROKER") or "redis://127.0.0.1:6379/0"
        return celery_executor.configured(
            {"broker": broker, "backend": os.environ.get("CART_CELERY_BACKEND") or broker}, name="celery")
    raise ValueError(f"CART_EXECUTOR: {choice!r} is not one of in_process, multiprocess, celery")


def job(name: str) -> dg.JobDefinition:
    """A job of the code location, rebuilt from the environment: what a step process of the multiprocess executor
    loads (dg.build_reconstructable_job("cart_pipelines.definitions", "job", (name,)))."""
    return build_definitions().resolve_job_def(name)


defs = build_definitions()
