"""Jobs named for what users do: check the connection, a demo migration, then a full migration (seed 001)."""


import dagster as dg

from cart_pipelines.defs.config import MigrationConfig

STAGES = ("extract", "transform", "load", "report")
MIGRATION = dg.AssetSelection.groups(*STAGES)


def run_config(asset_keys, **settings) -> dg.RunConfig:
    """The same MigrationConfig for every asset of the run (the migration stages; backfill assets run apart)."""
    cfg = MigrationConfig(**settings)
    return dg.RunConfig(ops={"__".join(k.path): cfg for k in asset_keys if k.path[0] in STAGES})


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
                        "categories and manufacturers they need, and every tax class. Review the result before a full run."),
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


def connection_check(side: str, description: str) -> dg.JobDefinition:
    """A job that tests the `side` ("source" or "target") connection (seed 002): one authenticated read, a failure
    explained in one sentence (the op fails with it; no secret in it)."""
    from cart_pipelines.platforms.kit import connection_test as verification

    @dg.op(name=f"verify_{side}_connection", required_resource_keys={side},
           description=f"Connection test of the {side}: one authenticated read, explained on failure.")
    def _verify(context: dg.OpExecutionContext) -> None:
        opened = getattr(context.resources, side).open()
        result = (verification.verify_source if side == "source" else verification.verify_target)(opened)
        if not result.ok:
            raise dg.Failure(description=result.message, metadata={"kind": result.kind, side: result.source})
        context.log.info(result.message)
        if side == "source":
            context.log_event(dg.AssetObservation(asset_key=dg.AssetKey(["extract", "products"]),
                                                  metadata={"connection": result.message}))

    @dg.job(name=f"check_{side}_connection", description=description)
    def _job():
        _verify()

    return _job


check_source_connection = connection_check(
    "source", "Test the source connection before migrating: credentials, permissions, reachability.")
check_target_connection = connection_check(
    "target", "Test the target connection before loading: credentials, reachability (Mystore: authorized).")


def build_schedules() -> list:
    """The delta sync on a schedule: off until you turn it on (after a full migration has succeeded).
    Cron from $CART_DELTA_CRON (default hourly), time zone $CART_DELTA_TZ (default UTC)."""
    import os

    return [dg.ScheduleDefinition(
        name="delta_sync_schedule", job_name="delta_sync", cron_schedule=os.environ.get("CART_DELTA_CRON", "0 * * * *"),
        execution_timezone=os.environ.get("CART_DELTA_TZ", "UTC"), default_status=dg.DefaultScheduleStatus.STOPPED,
        description="Keeps the target in step with the old shop until the switch-over.")]
