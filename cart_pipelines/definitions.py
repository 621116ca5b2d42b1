"""The Dagster code location: every asset, check, job and resource of cart_pipelines."""

from __future__ import annotations

import dagster as dg

from .defs.factory import build_all
from .defs.jobs import build_jobs, build_schedules
from .defs.resources import default_resources, platform_names


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    resources = resources or default_resources()
    assets, asset_checks = build_all(*platform_names(resources))
    return dg.Definitions(
        assets=assets,
        asset_checks=asset_checks,
        jobs=build_jobs(assets),
        schedules=build_schedules(),
        resources=resources,
        # Every step writes the one DuckDB catalog, and DuckDB allows a single writer: steps run one after another.
        executor=dg.in_process_executor,
    )


defs = build_definitions()
