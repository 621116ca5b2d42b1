"""The Dagster code location: every asset, check, job and resource of cart_pipelines."""

from __future__ import annotations

import dagster as dg

from cart_pipelines.defs.factory import build_all
from cart_pipelines.defs.jobs import build_jobs, build_schedules
from cart_pipelines.defs.partitions import (
    backfill_jobs,
    build_partitioned,
    plan_partitions,
)
from cart_pipelines.defs.resources import default_resources, platform_names


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    resources = resources or default_resources()
    names = platform_names(resources)
    assets, asset_checks = build_all(*names)
    return dg.Definitions(
        assets=assets + build_partitioned(*names),
        asset_checks=asset_checks,
        jobs=build_jobs(assets) + backfill_jobs() + [plan_partitions],
        schedules=build_schedules(),
        resources=resources,
        executor=executor(),
    )


def executor() -> dg.ExecutorDefinition:
    """In-process by default: every step writes the one DuckDB catalog, and DuckDB allows a single writer process.
    $CART_EXECUTOR=multiprocess runs steps in processes ($CART_MAX_CONCURRENT at once, default 2): extractions
    read their sources in parallel, and steps that need the catalog wait for it (staging.open_catalog)."""
    import os

    choice = os.environ.get("CART_EXECUTOR", "in_process")
    if choice == "in_process":
        return dg.in_process_executor
    if choice == "multiprocess":
        return dg.multiprocess_executor.configured(
            {"max_concurrent": int(os.environ.get("CART_MAX_CONCURRENT") or 2)}, name="multiprocess")
    raise ValueError(f"CART_EXECUTOR: {choice!r} is not one of in_process, multiprocess")


def job(name: str) -> dg.JobDefinition:
    """A job of the code location, rebuilt from the environment: what a step process of the multiprocess executor
    loads (dg.build_reconstructable_job("cart_pipelines.definitions", "job", (name,)))."""
    return build_definitions().resolve_job_def(name)


defs = build_definitions()
