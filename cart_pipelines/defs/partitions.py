"""Partitioned backfill assets (group "backfill"): per large entity an extract and a load asset over its partitions,
the partition sets, the pools that keep parallel partitions within the platforms' rate limits, and the job that
plans id-range partitions from the source's count and ids. See docs/partitions.md."""

import os

import dagster as dg
from pydantic import Field

from cart_pipelines.defs.config import MigrationConfig
from cart_pipelines.defs.factory import OWNERS, needs, resources_of
from cart_pipelines.defs.migrations import Migration
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


def partitions_for(m: Migration) -> dict[str, dg.PartitionsDefinition]:
    """The partition sets of migration `m`: its id ranges are its source's, so each declared migration has its own
    dynamic sets (the months are the same for all)."""
    if not m.prefixed:
        return PARTITIONS
    return {e: dg.DynamicPartitionsDefinition(name=f"{m.name}__{p.name}")
            if isinstance(p, dg.DynamicPartitionsDefinition) else p for e, p in PARTITIONS.items()}


# Partitions per run of a backfill: half a year of orders, or four id ranges, keeps runs few but each bounded.
PER_RUN = {"orders": 6, "products": 4, "customers": 4}


def pools(source_platform: str, target_platform: str) -> tuple[str, str]:
    """(source pool, target pool): every step that reads the configured source shares one pool, and every step
    that writes the target another, since a platform's rate limit is per shop, whichever run spends it."""
    return f"source/{source_platform}", f"target/{'local' if target_platform == 'duckdb' else target_platform}"


def key(stage: str, entity: str, m: Migration | None = None) -> dg.AssetKey:
    path = ["backfill", f"{stage}_{entity}"]
    return m.key(*path) if m else dg.AssetKey(path)


def _fail(exc: Exception):
    raise dg.Failure(description=str(exc)) from None


def build_backfill(m: Migration, entity: str) -> list[dg.AssetsDefinition]:
    parts, policy = partitions_for(m)[entity], dg.BackfillPolicy.multi_run(max_partitions_per_run=PER_RUN[entity])
    by = "created-at month" if PARTITIONED[entity] == "created_at" else "id range"

    @dg.asset(key=key("extract", entity, m), group_name=m.group("backfill"), kinds={"parquet", m.source_platform},
              owners=OWNERS, partitions_def=parts, backfill_policy=policy, pool=m.source_pool,
              required_resource_keys=needs(m, "source", "staging"),
              description=f"One {by} of {entity} read with the platform's own filter and staged as its own Parquet "
                          f"(staging/partitions/{entity}/<partition>/); records that do not fit are quarantined.")
    def _extract(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        source, staging = resources_of(context, m, "source", "staging")
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

    @dg.asset(key=key("load", entity, m), group_name=m.group("backfill"), kinds={"duckdb", m.target_kind},
              owners=OWNERS, partitions_def=parts, backfill_policy=policy, pool=m.target_pool,
              deps=[key("extract", entity, m)], required_resource_keys=needs(m, "staging", "target"),
              description=f"The staged {by} of {entity} transformed with the migration rules and upserted through "
                          f"the id map; its ledger rows replace earlier ones. Needs what {entity} reference loaded "
                          f"already. Running a partition again writes nothing.")
    def _load(context: dg.AssetExecutionContext, config: MigrationConfig) -> dg.MaterializeResult:
        staging, target = resources_of(context, m, "staging", "target")
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


def plan(instance: dg.DagsterInstance, src, entity: str, per_partition: int, highest_id: int = 0,
         partitions: dict | None = None) -> list[str]:
    """Add the id ranges `entity` needs to its dynamic partition set (a migration's, from partitions_for);
    returns the keys added."""
    partitions = partitions or PARTITIONS
    if not isinstance(partitions.get(entity), dg.DynamicPartitionsDefinition):
        raise BackfillError(f"plan partitions: {entity} is not partitioned by id ranges "
                            f"({', '.join(e for e, f in PARTITIONED.items() if f == 'id')} are)")
    if highest_id:
        count, lowest, highest = highest_id, 1, highest_id
    else:
        count, lowest, highest = src.id_bounds(entity)
    name = partitions[entity].name
    have = set(instance.get_dynamic_partitions(name))
    new = [k for k in id_range_keys(count, lowest, highest, per_partition) if k not in have]
    if new:
        instance.add_dynamic_partitions(name, new)
    return new


def plan_partitions_job(m: Migration) -> dg.JobDefinition:
    """The job that plans the id-range partitions of migration `m` from its source."""

    @dg.op(name=m.job_name("plan_id_ranges"), required_resource_keys=needs(m, "source"), pool=m.source_pool,
           description="Plan id-range partitions of products or customers from the source's count and id bounds.")
    def plan_id_ranges(context: dg.OpExecutionContext, config: PlanConfig) -> None:
        (source,) = resources_of(context, m, "source")
        try:
            added = plan(context.instance, source.open(), config.entity, config.per_partition, config.highest_id,
                         partitions_for(m))
        except (BackfillError, SliceNotPossible) as exc:
            _fail(exc)
        context.log.info(f"{config.entity}: {len(added)} partitions added: {', '.join(added[:5])}"
                         f"{' ...' if len(added) > 5 else ''}")

    @dg.job(name=m.job_name("plan_partitions"),
            description="Plan the id-range partitions of products or customers before backfilling them.")
    def plan_partitions():
        plan_id_ranges()

    return plan_partitions


def build_partitioned(m: Migration) -> list:
    return [a for entity in PARTITIONED for a in build_backfill(m, entity)]


def backfill_jobs(m: Migration) -> list:
    """One job per partitioned entity (extract then load of the chosen partitions), for the CLI and the Launchpad."""
    return [dg.define_asset_job(m.job_name(f"backfill_{e}"), selection=[key("extract", e, m), key("load", e, m)],
                                description=f"Backfill partitions of {e}: extract then load each slice.")
            for e in PARTITIONED]
