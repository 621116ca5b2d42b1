"""Jobs named for what users do: check the connection, a demo migration, then a full migration (seed 001)."""


import dagster as dg

from cart_pipelines.defs.config import MigrationConfig
from cart_pipelines.defs.migrations import Migration

STAGES = ("extract", "transform", "load", "report")


def stage_of(asset_key: dg.AssetKey) -> str:
    """The stage of a migration asset key, prefixed ([migration, stage, entity]) or not ([stage, entity])."""
    return asset_key.path[-2]


def run_config(asset_keys, **settings) -> dg.RunConfig:
    """The same MigrationConfig for every asset of the run (the migration stages; backfill assets run apart).
    `asset_keys` are one migration's: a run config must not name ops of another migration's job."""
    cfg = MigrationConfig(**settings)
    return dg.RunConfig(ops={"__".join(k.path): cfg for k in asset_keys if stage_of(k) in STAGES})


def migration_keys(m: Migration, asset_keys) -> list[dg.AssetKey]:
    """The keys of `asset_keys` that belong to migration `m`'s migration stages."""
    n = len(m.prefix)
    return [k for k in asset_keys if tuple(k.path[:n]) == m.prefix and len(k.path) == n + 2
            and stage_of(k) in STAGES]


def build_jobs(m: Migration, assets) -> list:
    """The jobs of migration `m`, its rule options and entity selection as their run-config defaults."""
    keys = migration_keys(m, [k for a in assets for k in a.keys])
    selection = dg.AssetSelection.assets(*keys)
    # The run queue (deploy/dagster-postgres.yaml) allows one migration per source shop and per target shop at a
    # time: a shop's API limit (or a target DuckDB file) is shared by whoever uses it.
    tags = m.tags()

    def config(mode: str) -> dg.RunConfig:
        return run_config(keys, **{**m.settings, "mode": mode})

    return [
        connection_check(m, "source", "Test the source connection before migrating: credentials, permissions, "
                                      "reachability."),
        connection_check(m, "target", "Test the target connection before loading: credentials, reachability "
                                      "(Mystore: authorized)."),
        dg.define_asset_job(
            m.job_name("demo_migration"), selection=selection, config=config("demo"), tags=tags,
            description="Demo migration (seed 001): 10 orders at random with their customers and products (each "
                        "filled up to 10) and reviews of those, with the categories and manufacturers they need, and "
                        "every tax class. Review the result before a full run."),
        dg.define_asset_job(
            m.job_name("delta_sync"), selection=selection, config=config("delta"), tags=tags,
            description="Delta migration (seed 001's post-migration): reads only what changed since the last "
                        "successful run (per-entity high-water mark minus a look-back window), upserts it through "
                        "the id map. Impossible from a store export or database dump: the run says so."),
        dg.define_asset_job(
            m.job_name("full_migration"), selection=selection, config=config("full"), tags=tags,
            description="Full migration of the selected entities (all by default). Re-running writes only what "
                        "changed."),
    ]


def connection_check(m: Migration, side: str, description: str) -> dg.JobDefinition:
    """A job that tests the `side` ("source" or "target") connection (seed 002): one authenticated read, a failure
    explained in one sentence (the op fails with it; no secret in it)."""
    from cart_pipelines.platforms.kit import connection_test as verification

    resource_key = m.resource_key(side)

    @dg.op(name=m.job_name(f"verify_{side}_connection"), required_resource_keys={resource_key},
           pool=m.source_pool if side == "source" else m.target_pool,
           description=f"Connection test of the {side}: one authenticated read, explained on failure.")
    def _verify(context: dg.OpExecutionContext) -> None:
        opened = getattr(context.resources, resource_key).open()
        result = (verification.verify_source if side == "source" else verification.verify_target)(opened)
        if not result.ok:
            raise dg.Failure(description=result.message, metadata={"kind": result.kind, side: result.source})
        context.log.info(result.message)
        if side == "source":
            context.log_event(dg.AssetObservation(asset_key=m.key("extract", "products"),
                                                  metadata={"connection": result.message}))

    @dg.job(name=m.job_name(f"check_{side}_connection"), description=description)
    def _job():
        _verify()

    return _job


def build_schedules(m: Migration) -> list:
    """The delta sync of migration `m` on a schedule: off until you turn it on (after a full migration has
    succeeded), or on from the start with `schedule: {enabled: true}` in migrations.yaml. The embedded default's
    cron is $CART_DELTA_CRON (default hourly), time zone $CART_DELTA_TZ (default UTC)."""
    status = dg.DefaultScheduleStatus.RUNNING if m.schedule.enabled else dg.DefaultScheduleStatus.STOPPED
    return [dg.ScheduleDefinition(
        name=m.job_name("delta_sync_schedule"), job_name=m.job_name("delta_sync"), cron_schedule=m.schedule.cron,
        execution_timezone=m.schedule.timezone, default_status=status,
        description="Keeps the target in step with the old shop until the switch-over"
                    + (f" ({m.name})." if m.prefixed else "."))]
