"""The asset factory: from the entity registry, per entity an extract, a transform and a load asset with their
checks, plus the scope asset (what this run migrates) and the migration report — once per migration
(defs/migrations.py), whose name prefixes the keys, groups the assets and prefixes the resource keys once a
deployment declares several."""


import json
from datetime import datetime, timedelta, timezone

import dagster as dg

from cart_pipelines.defs.config import MigrationConfig
from cart_pipelines.defs.migrations import Migration
from cart_pipelines.model.entities import ENTITIES, ENTITY_NAMES, Entity
from cart_pipelines.pipeline import checks as verify
from cart_pipelines.pipeline import ledger, report
from cart_pipelines.pipeline.chart import as_markdown as chart_markdown
from cart_pipelines.pipeline.chart import migration_chart
from cart_pipelines.pipeline.extract import skip_entity
from cart_pipelines.pipeline.load import load_entity, plan_entity
from cart_pipelines.pipeline.reuse import extract_or_reuse, transform_or_reuse
from cart_pipelines.pipeline.scope import compute_scope
from cart_pipelines.pipeline.transform import (
    URL_KEY_ENTITIES,
    clear_entity,
)
from cart_pipelines.platforms.kit.source import DeltaNotPossible

SCOPE_KEY = dg.AssetKey(["transform", "scope"])
REPORT_KEY = dg.AssetKey(["report", "migration_report"])
OWNERS = ["team:data-engineering"]  # shown in the UI's asset catalog; a team to page when a migration fails


def key(stage: str, entity: str) -> dg.AssetKey:
    """The key of a lone migration (no prefix); Migration.key prefixes it once there are several."""
    return dg.AssetKey([stage, entity])


def needs(m: Migration, *roles: str) -> set[str]:
    """The resource keys of `roles` (source, staging, target) of migration `m`."""
    return {m.resource_key(r) for r in roles}


def resources_of(context, m: Migration, *roles: str) -> list:
    return [getattr(context.resources, m.resource_key(r)) for r in roles]


def preview_md(con, sql: str, params=None, limit: int = 5) -> "dg.MetadataValue":
    """A Markdown table of the first rows of a query; long cells are cut, so previews stay readable."""
    cur = con.execute(f"SELECT * FROM ({sql}) LIMIT {limit}", params or [])
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    cell = lambda v: ("" if v is None else str(v)).replace("|", "\\|").replace("\n", " ")[:60]  # noqa: E731
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return dg.MetadataValue.md("\n".join(lines))


def ledger_metadata(con, entity: str) -> dict:
    s = ledger.summarize(con, entity)
    return {"ledger": dg.MetadataValue.json(s.as_dict())}


def delta_since(src, entity: str, staging, config: MigrationConfig):
    """Where a delta starts reading: the entity's high-water mark minus the look-back window."""
    try:
        src.check_delta()
    except DeltaNotPossible as exc:
        raise dg.Failure(description=str(exc)) from None
    with staging.connect() as con:
        rows = con.execute("SELECT updated_at FROM watermarks WHERE source = ? AND entity = ?",
                           [src.describe(), entity]).fetchall()
    if not rows:
        raise dg.Failure(description=f"delta of {entity}: no successful full migration from {src.describe()} "
                                     f"yet; run full_migration first")
    mark = rows[0][0] or datetime(1970, 1, 1, tzinfo=timezone.utc)
    return mark - timedelta(seconds=config.lookback_seconds)


def build_extract(m: Migration, entity: Entity) -> dg.AssetsDefinition:
    @dg.asset(key=m.key("extract", entity.name), group_name=m.group("extract"),
              kinds={"parquet", "duckdb", m.source_platform}, owners=OWNERS, pool=m.source_pool,
              required_resource_keys=needs(m, "source", "staging"),
              description=f"{entity.label}: every record from the source, validated against the canonical model "
                          f"and staged as Parquet; records that do not fit are quarantined with the reason.")
    def _extract(context: dg.AssetExecutionContext, config: MigrationConfig) -> dg.MaterializeResult:
        source, staging = resources_of(context, m, "source", "staging")
        st = staging.open()
        if entity.name not in config.selection():
            skip_entity(entity.name, st)
            context.log.info(f"{entity.name} not selected: nothing extracted")
            return dg.MaterializeResult(metadata={"selected": False, "dagster/row_count": 0})
        src = source.open()
        available = src.has(entity.name)
        since = delta_since(src, entity.name, st, config) if config.mode == "delta" else None
        res, reused = extract_or_reuse(src, entity.name, st, since=since, detect_deletions=config.detect_deletions,
                                       force=config.reextract)
        with st.connect() as con:
            preview = preview_md(con, f"SELECT {', '.join(entity.preview_columns)} FROM staged_{entity.name}")
        counts = (f"{res.staged} staged, {res.quarantined} quarantined, {res.deleted_at_source} deleted at the source "
                  f"({'checked' if res.deletions_checked else 'not checked'}) from {src.describe()}")
        if reused:
            context.log.info(f"{entity.name}: unchanged since the last extraction (same file: path, size, "
                             f"modification time), not read again; staged copy kept: {res.source_records} records, "
                             f"{counts} (reextract: read it anyway)")
        else:
            context.log.info(f"{entity.name}: {res.source_records} read, {counts}")
        return dg.MaterializeResult(metadata={
            "selected": True, "available_on_platform": available, "source": src.describe(), "mode": config.mode,
            "unchanged_reused": reused, "changed_since": since.isoformat() if since else "",
            "read_in_this_run": 0 if reused else res.source_records,
            "requests": getattr(getattr(src, "client", None), "requests_made", 0),
            "source_records": res.source_records,
            "dagster/row_count": res.staged, "quarantined": res.quarantined,
            "deleted_at_source": res.deleted_at_source, "deletions_checked": res.deletions_checked,
            "listed_not_staged": res.listed_not_staged,
            "parquet": dg.MetadataValue.path(str(st.parquet_path(entity.name))), "preview": preview})

    return _extract


def build_scope(m: Migration) -> dg.AssetsDefinition:
    @dg.asset(key=m.key(*SCOPE_KEY.path), group_name=m.group("transform"), kinds={"duckdb"}, owners=OWNERS,
              deps=[m.key("extract", e) for e in ENTITY_NAMES], required_resource_keys=needs(m, "staging"),
              description="What this run migrates: every staged record (full) or the demo sample of seed 001 — "
                          "10 products, customers and orders at random plus what they need.")
    def scope_asset(context: dg.AssetExecutionContext, config: MigrationConfig) -> dg.MaterializeResult:
        (staging,) = resources_of(context, m, "staging")
        selected = config.selection()
        with staging.open().connect() as con:
            counts = compute_scope(con, selected, config.mode, config.demo_size, config.demo_seed)
        context.log.info(f"{config.mode} migration scope: {counts}")
        return dg.MaterializeResult(metadata={"mode": config.mode, "entities": ", ".join(selected),
                                              "in_scope": dg.MetadataValue.json(counts),
                                              "dagster/row_count": sum(counts.values())})

    return scope_asset


PREPARE_KEY = dg.AssetKey(["load", "prepare_target"])


def build_prepare(m: Migration) -> dg.AssetsDefinition:
    @dg.asset(key=m.key(*PREPARE_KEY.path), group_name=m.group("load"), kinds={"duckdb"}, owners=OWNERS,
              pool=m.target_pool,
              deps=[m.key(*SCOPE_KEY.path)], required_resource_keys=needs(m, "staging", "target"),
              description="Prepares the target before any load. With clear_target (seed 000's \"Clear current data on "
                          "Target Store before Migration\"; off by default) it deletes the target's current data of the "
                          "selected entities, logging what and how much, and forgets their id map.")
    def prepare_target(context: dg.AssetExecutionContext, config: MigrationConfig) -> dg.MaterializeResult:
        staging, target = resources_of(context, m, "staging", "target")
        selected = list(config.selection())
        tgt = target.open()
        if config.dry_run:  # nothing is written to the target in a dry run, clearing least of all
            return dg.MaterializeResult(metadata={"cleared": False, "dry_run": True, "target": tgt.describe()})
        if not config.clear_target:
            return dg.MaterializeResult(metadata={"cleared": False, "target": tgt.describe()})
        present = {e: tgt.count(e) for e in selected}
        context.log.warning(f"clear_target is on: deleting current data on {tgt.describe()}: {present}")
        deleted = tgt.clear(selected)
        with staging.open().connect() as con:
            for table in ("id_map", "url_keys"):
                con.execute(f"DELETE FROM {table} WHERE target = ? AND entity IN ({', '.join('?' for _ in selected)})",
                            [tgt.name, *selected])
        context.log.warning(f"deleted on {tgt.describe()}: {deleted}")
        return dg.MaterializeResult(metadata={"cleared": True, "target": tgt.describe(),
                                              "deleted": dg.MetadataValue.json(deleted)})

    return prepare_target


def build_transform(m: Migration, entity: Entity) -> dg.AssetsDefinition:
    @dg.asset(key=m.key("transform", entity.name), group_name=m.group("transform"), kinds={"duckdb"}, owners=OWNERS,
              deps=[m.key(*SCOPE_KEY.path), *[m.key("transform", d) for d in entity.depends_on]],
              required_resource_keys=needs(m, "staging", "target"),
              description=f"{entity.label} in the Mystore shape, migration rules applied (DuckDB SQL); "
                          f"records a rule skips or that reference missing records are written to the ledger.")
    def _transform(context: dg.AssetExecutionContext, config: MigrationConfig) -> dg.MaterializeResult:
        staging, target = resources_of(context, m, "staging", "target")
        st = staging.open()
        with st.connect() as con:
            if entity.name not in config.selection():
                clear_entity(con, entity.name)
                return dg.MaterializeResult(metadata={"selected": False, "dagster/row_count": 0})
            res, reused = transform_or_reuse(con, st, entity.name, config.rules(target.rules_platform()),
                                             target=target.open().name,  # its records keep their URL keys
                                             force=config.reextract)
            if reused:
                context.log.info(f"{entity.name}: nothing the transform reads changed since the last one (staged "
                                 f"records, scope, upstream entities, rules, URL keys, code): its output kept, "
                                 f"{res.transformed} rows (reextract: transform anyway)")
            present = {r[0] for r in con.execute(f"DESCRIBE transformed_{entity.name}").fetchall()}
            cols = [c for c in entity.preview_columns if c in present]
            preview = preview_md(con, f"SELECT {', '.join(cols)} FROM transformed_{entity.name}")
        return dg.MaterializeResult(metadata={
            "selected": True, "unchanged_reused": reused, "in_scope": res.in_scope,
            "dagster/row_count": res.transformed,
            "skipped_by_rule": dg.MetadataValue.json(res.skipped), "quarantined": res.quarantined,
            "rules_applied": dg.MetadataValue.json(res.rules_applied), "preview": preview})

    return _transform


def build_load(m: Migration, entity: Entity) -> dg.AssetsDefinition:
    @dg.asset(key=m.key("load", entity.name), group_name=m.group("load"), kinds={"duckdb", m.target_kind},
              owners=OWNERS, pool=m.target_pool, required_resource_keys=needs(m, "staging", "target"),
              deps=[m.key("transform", entity.name), m.key(*PREPARE_KEY.path),
                    *[m.key("load", d) for d in entity.depends_on]],
              description=f"{entity.label} upserted into the target through the source-id → target-id map: "
                          f"new rows created, changed rows updated, unchanged rows not written.")
    def _load(context: dg.AssetExecutionContext, config: MigrationConfig) -> dg.MaterializeResult:
        staging, target = resources_of(context, m, "staging", "target")
        tgt = target.open()
        with staging.open().connect() as con:
            if entity.name not in config.selection():
                return dg.MaterializeResult(metadata={"selected": False, "writes": 0})
            con.execute("INSERT OR REPLACE INTO run_settings VALUES ('dry_run', ?)", [str(config.dry_run).lower()])
            if config.dry_run:
                plan = plan_entity(con, tgt, entity.name, config.delete_on_target)
                con.execute("INSERT OR REPLACE INTO dry_run_plan VALUES (?, ?)", [entity.name, json.dumps(plan)])
                context.log.info(f"{entity.name}, dry run: the load would do {plan}")
                return dg.MaterializeResult(metadata={"selected": True, "dry_run": True, "target": tgt.describe(),
                                                      "writes": 0, **{f"would_{k}": v for k, v in plan.items()}})
            res = load_entity(con, tgt, entity.name, config.rules(target.rules_platform()),
                              delete_on_target=config.delete_on_target)
            meta = ledger_metadata(con, entity.name)
        context.log.info(f"{entity.name}: {res.created} created, {res.updated} updated, {res.unchanged} unchanged, "
                         f"{res.rejected} quarantined on load, {res.deleted_on_target} deleted on the target, "
                         f"{res.kept_on_target} deleted at the source but kept on the target")
        return dg.MaterializeResult(metadata={
            "selected": True, "target": tgt.describe(), "created": res.created, "updated": res.updated,
            "unchanged": res.unchanged, "quarantined_on_load": res.rejected, "adopted": res.adopted,
            "deleted_on_target": res.deleted_on_target, "kept_on_target": res.kept_on_target,
            "writes": res.writes, "created_by_rules": dg.MetadataValue.json(res.helpers_created),
            "dagster/row_count": tgt.count(entity.name), **meta})

    return _load


def _check(m: Migration, name: str, asset_key: dg.AssetKey, description: str, run, blocking: bool = True,
           reads_target: bool = True):
    """An asset check from a verify function; `run(con, target)` returns (passed, facts). A check that reads the
    target back is in the target's pool; one that reads only the catalog (`reads_target=False`) gets None."""

    @dg.asset_check(asset=asset_key, name=name, blocking=blocking, description=description,
                    pool=m.target_pool if reads_target else None,
                    required_resource_keys=needs(m, "staging", "target"))
    def _c(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        staging, target = resources_of(context, m, "staging", "target")
        with staging.open().connect() as con:
            if asset_key.path[-2] == "load" and con.execute(
                    "SELECT count(*) FROM run_settings WHERE key = 'dry_run' AND value = 'true'").fetchall()[0][0]:
                return dg.AssetCheckResult(passed=True, metadata={
                    "dry_run": "nothing was loaded (dry run): this check verifies the next real load"})
            passed, facts = run(con, target.open() if reads_target else None)
        return dg.AssetCheckResult(passed=passed, metadata={k: v if v is not None else "" for k, v in facts.items()},
                                   severity=dg.AssetCheckSeverity.ERROR)

    return _c


def build_checks(m: Migration, entity: Entity) -> list:
    e = entity.name
    load_key = m.key("load", e)
    checks = [
        _check(m, "ledger_closes", load_key,
               "Every source record is accounted for: source = loaded + skipped (by rule) + quarantined.",
               lambda con, tgt: verify.ledger_closes(con, e), reads_target=False),
        _check(m, "counts_reconcile", load_key,
               "Every record the ledger calls loaded exists on the target exactly once (read back).",
               lambda con, tgt: verify.counts_reconcile(con, tgt, e)),
    ]
    if e in ("categories", "products", "orders", "reviews"):
        checks.append(_check(m, "references_resolve", load_key,
                             "Every reference of a loaded record points at a record that exists on the target.",
                             lambda con, tgt: verify.references_resolve(con, tgt, e)))
    if e == "orders":
        checks.append(_check(m, "money_totals_match", load_key,
                             "Subtotal, shipping, tax, discount and grand total on the target equal the source.",
                             lambda con, tgt: verify.money_totals_match(con, tgt)))
    if e in URL_KEY_ENTITIES:
        checks.append(_check(m, "url_keys_unique", load_key, "URL keys on the target are unique and non-empty.",
                             lambda con, tgt: verify.url_keys_unique(con, tgt, e), blocking=False))
        checks.append(_check(m, "url_keys_unique", m.key("transform", e),
                             "URL keys are unique after the -1/-2 rule, before anything is loaded.",
                             lambda con, tgt: verify.transformed_url_keys_unique(con, e), reads_target=False))
    return checks


def build_report(m: Migration) -> dg.AssetsDefinition:
    @dg.asset(key=m.key(*REPORT_KEY.path), group_name=m.group("report"), kinds={"duckdb"}, owners=OWNERS,
              pool=m.target_pool,
              deps=[m.key("load", e) for e in ENTITY_NAMES], required_resource_keys=needs(m, "staging", "target"),
              description="The migration report: per entity source, loaded, skipped by rule, quarantined; with "
                          "redirects.csv (old URL → new, for 301s) and password_resets.csv "
                          "(data/reports/migration_report.md and .json).")
    def report_asset(context: dg.AssetExecutionContext, config: MigrationConfig) -> dg.MaterializeResult:
        staging, target = resources_of(context, m, "staging", "target")
        if config.dry_run:
            with staging.open().connect() as con:
                plan = report.dry_run(con, {"mode": config.mode, "entities": ",".join(config.selection()),
                                            "delete_on_target": config.delete_on_target})
                con.execute("DELETE FROM watermarks_pending")  # a dry run never moves the high-water marks
            path = report.write(plan, staging.reports_directory, report.DRY_RUN)
            context.log.info(report.dry_run_markdown(plan))
            return dg.MaterializeResult(metadata={
                "dry_run": True, "plan": dg.MetadataValue.md(report.dry_run_markdown(plan)),
                "path": dg.MetadataValue.path(str(path)), "writes": 0})
        with staging.open().connect() as con:
            rep = report.build(con, {"mode": config.mode, "entities": ",".join(config.selection()),
                                     "keep_guest_orders": config.keep_guest_orders},
                               target.open().password_algorithms, staging.reports_directory,
                               holds_refunds=target.open().holds_refunds)
            # A target that holds redirects itself (Mystore's `redirects`) gets the 301 map too, not only the CSV;
            # for any other the rows stay in DuckDB (one per moved product: a list that grows with the store).
            rep["redirects_written_to_target"] = (target.open().redirects(report.redirects(con))
                                                  if target.open().holds_redirects else 0)
        path = report.write(rep, staging.reports_directory)
        if rep["all_accounted_for"]:
            with staging.open().connect() as con:
                advanced = report.promote_watermarks(con)
            context.log.info(f"delta high-water marks advanced: {advanced}")
        context.log.info(report.markdown(rep))
        png = migration_chart(rep)
        (path.parent / "migration_chart.png").write_bytes(png)
        return dg.MaterializeResult(metadata={
            "chart": dg.MetadataValue.md(chart_markdown(png)),
            "report": dg.MetadataValue.md(report.markdown(rep)), "path": dg.MetadataValue.path(str(path)),
            "all_accounted_for": rep["all_accounted_for"], "writes": rep["totals"]["created"] + rep["totals"]["updated"]})

    return report_asset


def build_all(m: Migration) -> tuple[list, list]:
    """Every asset and check of migration `m`; the platforms appear as asset kinds (icons and filters in the UI)."""
    assets: list = [build_scope(m), build_prepare(m), build_report(m)]
    checks: list = []
    for entity in ENTITIES.values():
        assets += [build_extract(m, entity), build_transform(m, entity), build_load(m, entity)]
        checks += build_checks(m, entity)
    return assets, checks
