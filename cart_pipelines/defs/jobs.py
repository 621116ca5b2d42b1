"""Jobs named for what users do: a demo migration, then a full migration (seed 001)."""

from __future__ import annotations

import dagster as dg

from .config import MigrationConfig

MIGRATION = dg.AssetSelection.groups("extract", "transform", "load", "report")


def run_config(asset_keys, **settings) -> dg.RunConfig:
    """The same MigrationConfig for every asset of the run."""
    cfg = MigrationConfig(**settings)
    return dg.RunConfig(ops={"__".join(k.path): cfg for k in asset_keys})


def build_jobs(assets) -> list:
    keys = [k for a in assets for k in a.keys]
    return [
        dg.define_asset_job(
            "demo_migration", selection=MIGRATION, config=run_config(keys, mode="demo"),
            description="Demo migration (seed 001): 10 products, 10 customers and 10 orders at random, with the "
                        "categories, manufacturers and tax classes they need. Review the result before a full run."),
        dg.define_asset_job(
            "full_migration", selection=MIGRATION, config=run_config(keys, mode="full"),
            description="Full migration of the selected entities (all by default). Re-running writes only what "
                        "changed."),
    ]
