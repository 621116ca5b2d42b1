"""Jobs named for what users do: check the connection, a demo migration, then a full migration (seed 001)."""


import dagster as dg

from .config import MigrationConfig
from .resources import SourceResource, TargetResource

MIGRATION = dg.AssetSelection.groups("extract", "transform", "load", "report")


def run_config(asset_keys, **settings) -> dg.RunConfig:
    """The same MigrationConfig for every asset of the run."""
    cfg = MigrationConfig(**settings)
    return dg.RunConfig(ops={"__".join(k.path): cfg for k in asset_keys})


def build_jobs(assets) -> list:
    import os

    keys = [k for a in assets for k in a.keys]
    # The run queue (deploy/dagster-postgres.yaml) allows one migration per source at a time: its API limit is shared.
    tags = {"cart_pipelines/source": os.environ.get("CART_SOURCE") or "store_export"}
    return [
        check_source_connection,
        check_target_connection,
        dg.define_asset_job(
            "demo_migration", selection=MIGRATION, config=run_config(keys, mode="demo"), tags=tags,
            description="Demo migration (seed 001): 10 products, 10 customers and 10 orders at random, with the "
                        "categories, manufacturers and tax classes they need. Review the result before a full run."),
        dg.define_asset_job(
            "delta_sync", selection=MIGRATION, config=run_config(keys, mode="delta"), tags=tags,
            description="Delta migration (seed 001's post-migration): reads only what changed since the last "
                        "successful run (per-entity high-water mark minus a look-back window), upserts it through "
                        "the id map. Impossible from a store export or database dump: the run says so."),
        dg.define_asset_job(
            "full_migration", selection=MIGRATION, config=run_config(keys, mode="full"), tags=tags,
            description="Full migration of the selected entities (all by default). Re-running writes only what "
                        "changed."),
    ]


@dg.op(description="Connection test (seed 002): one authenticated request and one product, explained on failure.")
def verify_source_connection(context: dg.OpExecutionContext, source: SourceResource) -> None:
    from ..verification import verify_source

    result = verify_source(source.open())
    if not result.ok:
        raise dg.Failure(description=result.message, metadata={"kind": result.kind, "source": result.source})
    context.log.info(result.message)
    context.log_event(dg.AssetObservation(asset_key=dg.AssetKey(["extract", "products"]),
                                          metadata={"connection": result.message}))


@dg.job(description="Test the source connection before migrating: credentials, permissions, reachability.")
def check_source_connection():
    verify_source_connection()


@dg.op(description="Target connection test: one authenticated read on the target, explained on failure.")
def verify_target_connection(context: dg.OpExecutionContext, target: TargetResource) -> None:
    from ..verification import verify_target

    result = verify_target(target.open())
    if not result.ok:
        raise dg.Failure(description=result.message, metadata={"kind": result.kind, "target": result.source})
    context.log.info(result.message)


@dg.job(description="Test the target connection before loading: credentials, reachability (Mystore: authorized).")
def check_target_connection():
    verify_target_connection()


def build_schedules() -> list:
    """The delta sync on a schedule: off until you turn it on (after a full migration has succeeded).
    Cron from $CART_DELTA_CRON (default hourly), time zone $CART_DELTA_TZ (default UTC)."""
    import os

    return [dg.ScheduleDefinition(
        name="delta_sync_schedule", job_name="delta_sync", cron_schedule=os.environ.get("CART_DELTA_CRON", "0 * * * *"),
        execution_timezone=os.environ.get("CART_DELTA_TZ", "UTC"), default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Keeps the target in step with the old shop until the switch-over.")]
