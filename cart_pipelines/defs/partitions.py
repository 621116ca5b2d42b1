"""Partitioned backfill assets (group "backfill"): per large entity an extract and a load asset over its partitions,
the partition sets, the pools that keep parallel partitions within the platforms' rate limits, and the job that
plans id-range partitions from the source's count and ids. See docs/partitions.md."""

import os

import dagster as dg
from pydantic import Field

from cart_pipelines.defs.config import MigrationConfig
from cart_pipelines.defs.factory import OWNERS
from cart_pipelines.defs.resources import (
    SourceResource,
    StagingResource,
    TargetResource,
)
from cart_pipelines.pipeline.backfill import (
    PARTITIONED,
    BackfillError,
    extract_slice,
    id_range_keys,
    migrate_slice,
)
from cart_pipelines.platforms.kit.source import SliceNotPossible

ORDERS_START = os.environ.get("CART_ORDERS_START", "2015-01-01")
# Orders by created-at month (the month in progress included); products and customers by id ranges planned from
# the source (plan_partitions), since their ids, not their dates, bound the work evenly.
PARTITIONS: dict[str, dg.PartitionsDefinition] = {
    "orders": dg.MonthlyPartitionsDefinition(start_date=ORDERS_START, end_offset=1),
    "products": dg.DynamicPartitionsDefinition(name="products_id_ranges"),
    "customers": dg.DynamicPartitionsDefinition(name="customers_id_ranges"),
}
# Partitions per run of a backfill: half a year of orders, or four id ranges, keeps runs few but each bounded.
PER_RUN = {"orders": 6, "products": 4, "customers": 4}


def pools(source_platform: str, target_platform: str) -> tuple[str, str]:
    """(source pool, target pool): every step that reads the configured source shares one pool, and every step
    that writes the target another, since a platform's rate limit is per shop, whichever run spends it."""
    return f"source/{source_platform}", f"target/{'local' if target_platform == 'duckdb' else target_platform}"


def key(stage: str, entity: str) -> dg.AssetKey:
    return dg.AssetKey(["backfill", f"{stage}_{entity}"])


def _fail(exc: Exception):
    raise dg.Failure(description=str(exc)) from None


def build_backfill(entity: str, source_platform: str, target_platform: str) -> list[dg.AssetsDefinition]:
    source_pool, target_pool = pools(source_platform, target_platform)
    parts, policy = PARTITIONS[entity], dg.BackfillPolicy.multi_run(max_partitions_per_run=PER_RUN[entity])
    by = "created-at month" if PARTITIONED[entity] == "created_at" else "id range"

    @dg.asset(key=key("extract", entity), group_name="backfill", kinds={"parquet", source_platform},
              owners=OWNERS, partitions_def=parts, backfill_policy=policy, pool=source_pool,
              description=f"One {by} of {entity} read with the platform's own filter and staged as its own Parquet "
                          f"(staging/partitions/{entity}/<partition>/); records that do not fit are quarantined.")
    def _extract(context: dg.AssetExecutionContext, source: SourceResource,
                 staging: StagingResource) -> dg.MaterializeResult:
        src, st, done = source.open(), staging.open(), {}
        for pk in context.partition_keys:
            try:
                res = extract_slice(src, entity, st, pk)
            except (BackfillError, SliceNotPossible) as exc:
                _fail(exc)
            done[pk] = {"read": res.source_records, "staged": res.staged, "quarantined": res.quarantined}
            context.log.info(f"{entity} {pk}: {res.source_records} read, {res.staged} staged from {src.describe()}")
        return dg.MaterializeResult(metadata={
            "source": src.describe(), "partitions": dg.MetadataValue.json(done),
            "dagster/row_count": sum(d["staged"] for d in done.values()),
            "requests": getattr(getattr(src, "client", None), "requests_made", 0)})

    @dg.asset(key=key("load", entity), group_name="backfill", kinds={"duckdb", target_platform},
              owners=OWNERS, partitions_def=parts, backfill_policy=policy, pool=target_pool,
              deps=[key("extract", entity)],
              description=f"The staged {by} of {entity} transformed with the migration rules and upserted through "
                          f"the id map; its ledger rows replace earlier ones. Needs what {entity} reference loaded "
                          f"already. Running a partition again writes nothing.")
    def _load(context: dg.AssetExecutionContext, config: MigrationConfig, staging: StagingResource,
              target: TargetResource) -> dg.MaterializeResult:
        tgt, st, done = target.open(), staging.open(), {}
        with st.connect() as con:
            for pk in context.partition_keys:
                try:
                    res = migrate_slice(con, st, tgt, entity, pk, config.rules())
                except BackfillError as exc:
                    _fail(exc)
                done[pk] = {"source": res.source_records, "loaded": res.loaded, "skipped": res.skipped,
                            "quarantined": res.quarantined, "writes": res.writes, "closes": res.closes}
                context.log.info(f"{entity} {pk}: {res.created} created, {res.updated} updated, "
                                 f"{res.unchanged} unchanged, {res.skipped} skipped, {res.quarantined} quarantined")
        open_ = [pk for pk, d in done.items() if not d["closes"]]
        if open_:
            raise dg.Failure(description=f"{entity}: the ledger does not close for partitions {', '.join(open_)}",
                             metadata={"partitions": dg.MetadataValue.json(done)})
        return dg.MaterializeResult(metadata={
            "target": tgt.describe(), "partitions": dg.MetadataValue.json(done),
            "writes": sum(d["writes"] for d in done.values()),
            "dagster/row_count": sum(d["loaded"] for d in done.values())})

    return [_extract, _load]


class PlanConfig(dg.Config):
    entity: str = Field(default="products", description="products or customers.")
    per_partition: int = Field(default=5000, description="Records a partition should hold (about).")
    highest_id: int = Field(default=0, description="Highest id, when the source cannot tell it cheaply (0: ask it).")


def plan(instance: dg.DagsterInstance, src, entity: str, per_partition: int, highest_id: int = 0) -> list[str]:
    """Add the id ranges `entity` needs to its dynamic partition set; returns the keys added."""
    if not isinstance(PARTITIONS.get(entity), dg.DynamicPartitionsDefinition):
        raise BackfillError(f"plan partitions: {entity} is not partitioned by id ranges "
                            f"({', '.join(e for e, f in PARTITIONED.items() if f == 'id')} are)")
    if highest_id:
        count, lowest, highest = highest_id, 1, highest_id
    else:
        count, lowest, highest = src.id_bounds(entity)
    name = PARTITIONS[entity].name
    have = set(instance.get_dynamic_partitions(name))
    new = [k for k in id_range_keys(count, lowest, highest, per_partition) if k not in have]
    if new:
        instance.add_dynamic_partitions(name, new)
    return new


@dg.op(description="Plan id-range partitions of products or customers from the source's count and id bounds.")
def plan_id_ranges(context: dg.OpExecutionContext, config: PlanConfig, source: SourceResource) -> None:
    try:
        added = plan(context.instance, source.open(), config.entity, config.per_partition, config.highest_id)
    except (BackfillError, SliceNotPossible) as exc:
        _fail(exc)
    context.log.info(f"{config.entity}: {len(added)} partitions added: {', '.join(added[:5])}"
                     f"{' ...' if len(added) > 5 else ''}")


@dg.job(description="Plan the id-range partitions of products or customers before backfilling them.")
def plan_partitions():
    plan_id_ranges()


def build_partitioned(source_platform: str = "store_export", target_platform: str = "duckdb") -> list:
    return [a for entity in PARTITIONED for a in build_backfill(entity, source_platform, target_platform)]


def backfill_jobs() -> list:
    """One job per partitioned entity (extract then load of the chosen partitions), for the CLI and the Launchpad."""
    return [dg.define_asset_job(f"backfill_{e}", selection=[key("extract", e), key("load", e)],
                                description=f"Backfill partitions of {e}: extract then load each slice.")
            for e in PARTITIONED]
