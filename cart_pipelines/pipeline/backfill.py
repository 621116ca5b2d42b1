"""Backfill partitions: one bounded slice of a large entity (orders of one created-at month, products or customers
of one id range) extracted with the platform's own filter, transformed with the same rules and loaded through the
same id map and ledger as a full migration (docs/partitions.md).

A slice is staged in a directory of its own (`staging/partitions/<entity>/<key>/`: its Parquet and a small DuckDB
catalog with its extract quarantines), so partitions extract in parallel without touching the shared catalog. The
load step then works in the shared catalog, in a schema `backfill` searched before `main`: the slice's rows, scope
and ledger live there, references resolve against what is already loaded on the target (the id map in `main`), and
transform and load run unchanged. Its ledger rows finally replace the main ledger's rows for the slice's records.

URL keys must be unique across the whole entity, not only the slice: the slice's transform numbers its keys after
the keys loaded records already hold (main.transformed_<entity>, which a full migration writes and every slice
updates with what it loaded), and `backfill_url_keys` keeps the source's keys of backfilled records for the
report's redirects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import duckdb

from cart_pipelines.model.entities import ENTITIES
from cart_pipelines.pipeline import ledger
from cart_pipelines.pipeline.extract import ExtractResult, extract_entity
from cart_pipelines.pipeline.load import load_entity
from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.pipeline.staging import Staging
from cart_pipelines.pipeline.transform import URL_KEY_ENTITIES, transform_entity
from cart_pipelines.platforms.kit import duckdb_io
from cart_pipelines.platforms.kit.source import Slice, Source, SourceRecord
from cart_pipelines.platforms.kit.target import Target

# entity -> what its partitions are cut by
PARTITIONED = {"orders": "created_at", "products": "id", "customers": "id"}
SCHEMA = "backfill"

PARTITION_COUNTS_DDL = """
CREATE TABLE IF NOT EXISTS partition_counts (
    entity VARCHAR, partition_key VARCHAR, source VARCHAR, source_records BIGINT, loaded BIGINT, skipped BIGINT,
    quarantined BIGINT, created BIGINT, updated BIGINT, unchanged BIGINT, closes BOOLEAN,
    loaded_at TIMESTAMPTZ DEFAULT now(), PRIMARY KEY (entity, partition_key))"""
BACKFILL_URL_KEYS_DDL = """
CREATE TABLE IF NOT EXISTS backfill_url_keys (
    entity VARCHAR, source_id VARCHAR, url_key VARCHAR, PRIMARY KEY (entity, source_id))"""


class BackfillError(RuntimeError):
    """A partition that cannot be migrated (bad key, upstream entities not loaded yet); one clear sentence."""


def slice_for(entity: str, key: str) -> Slice:
    """The slice a partition key names: a month "2024-03-01" (orders) or an id range "1-5000" (inclusive)."""
    if entity not in PARTITIONED:
        raise BackfillError(f"backfill: {entity} is not partitioned; partitioned are {', '.join(PARTITIONED)}")
    try:
        if PARTITIONED[entity] == "created_at":
            start = datetime.fromisoformat(key).replace(tzinfo=timezone.utc)
            end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
            return Slice("created_at", start, end)
        lo, hi = (int(v) for v in key.split("-"))
    except ValueError:
        raise BackfillError(f"backfill: {key!r} is not a partition of {entity} "
                            f"({'a month like 2024-03-01' if entity == 'orders' else 'an id range like 1-5000'})"
                            ) from None
    if lo > hi:
        raise BackfillError(f"backfill: id range {key!r} ends before it starts")
    return Slice("id", lo, hi + 1)


def id_range_keys(count: int, lowest: int | None, highest: int | None, per_partition: int) -> list[str]:
    """Id ranges holding about `per_partition` records each, from the source's count and id bounds: ids may be
    sparse (Shopify's are), so the width is the id span divided by the number of partitions the count needs."""
    if not count or lowest is None or highest is None:
        return []
    parts = max(1, math.ceil(count / max(1, per_partition)))
    width = max(1, math.ceil((highest - lowest + 1) / parts))
    start = (lowest - 1) // width * width + 1  # ranges aligned on the width, so re-planning keeps earlier keys
    return [f"{lo}-{lo + width - 1}" for lo in range(start, highest + 1, width)]


class SliceSource(Source):
    """A source seen through one slice: what extract_entity reads for a partition."""

    def __init__(self, inner: Source, part: Slice):
        self.inner, self.part = inner, part
        self.platform = inner.platform

    def describe(self) -> str:
        return self.inner.describe()

    def has(self, entity: str) -> bool:
        return self.inner.has(entity)

    def records(self, entity: str, **_) -> Iterator[SourceRecord]:
        return self.inner.records_in(entity, self.part)


def slice_staging(staging: Staging, entity: str, key: str) -> Staging:
    return Staging(staging.directory / "partitions" / entity / key)


def extract_slice(source: Source, entity: str, staging: Staging, key: str) -> ExtractResult:
    """Stage one partition in its own directory (no shared catalog: partitions extract in parallel)."""
    return extract_entity(SliceSource(source, slice_for(entity, key)), entity, slice_staging(staging, entity, key))


@dataclass
class SliceResult:
    entity: str
    key: str
    source_records: int = 0
    loaded: int = 0
    skipped: int = 0
    quarantined: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_by_rule: dict[str, int] = field(default_factory=dict)

    @property
    def writes(self) -> int:
        return self.created + self.updated

    @property
    def closes(self) -> bool:
        return self.source_records == self.loaded + self.skipped + self.quarantined


def _literal(path: Path) -> str:
    return "'" + str(path.resolve()).replace("'", "''") + "'"


def _loaded_upstream(con, target: Target, entity: str) -> None:
    """backfill.transformed_<dep> for each entity `entity` references: the records already loaded on the target,
    so the transform's reference rules judge the slice against what exists there."""
    for dep in ENTITIES[entity].depends_on:
        has_email = dep == "customers" and con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = 'transformed_customers'"
        ).fetchall()[0][0]
        email = "t.email" if has_email else "NULL::VARCHAR AS email"
        join = "LEFT JOIN main.transformed_customers t USING (source_id)" if has_email else ""
        con.execute(f"""CREATE TABLE {SCHEMA}.transformed_{dep} AS SELECT m.source_id, {email}
                        FROM main.id_map m {join} WHERE m.target = ? AND m.entity = ?""", [target.name, dep])
        if not target.has(dep):
            continue
        loaded = con.execute(f"SELECT count(*) FROM {SCHEMA}.transformed_{dep}").fetchall()[0][0]
        migrated = con.execute("SELECT count(*) FROM main.ledger WHERE entity = ?", [dep]).fetchall()[0][0]
        if not loaded and not migrated:
            raise BackfillError(f"backfill of {entity}: {dep} are not migrated to {target.describe()} yet, and "
                                f"{entity} reference them; run full_migration (or backfill {dep}) first")


def _has_table(con, schema: str, name: str) -> bool:
    return con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND "
                       "schema_name = ? AND table_name = ?", [schema, name]).fetchall()[0][0] > 0


def _held_url_keys(con, target: Target, entity: str) -> str:
    """backfill.held_url_keys: URL keys records outside the slice hold on the target, with the key each started
    from (the last `-N` stripped where url_key_suffix renamed it; a key suffixed twice counts under its first
    suffix, which only changes how later holders are numbered)."""
    if not _has_table(con, "main", f"transformed_{entity}"):
        con.execute(f"CREATE TABLE {SCHEMA}.held_url_keys (source_id VARCHAR, base VARCHAR, url_key VARCHAR)")
        return f"{SCHEMA}.held_url_keys"
    con.execute(f"""
        CREATE TABLE {SCHEMA}.held_url_keys AS
        SELECT source_id, url_key, CASE WHEN list_contains(_rules, 'url_key_suffix')
                                        THEN regexp_replace(url_key, '-[0-9]+$', '') ELSE url_key END AS base
        FROM main.transformed_{entity}
        WHERE url_key IS NOT NULL
          AND source_id IN (SELECT source_id FROM main.id_map WHERE target = ? AND entity = ?)
          AND source_id NOT IN (SELECT source_id FROM {SCHEMA}.scope WHERE entity = ?)""",
                [target.name, entity, entity])
    return f"{SCHEMA}.held_url_keys"


def _keep_url_keys(con, entity: str) -> None:
    """What the slice loaded becomes part of main.transformed_<entity> (the keys later slices number after), and
    the source's keys of its records go to backfill_url_keys (for redirects)."""
    scope = f"(SELECT source_id FROM {SCHEMA}.scope WHERE entity = '{entity}')"
    if _has_table(con, "main", f"transformed_{entity}"):
        con.execute(f"DELETE FROM main.transformed_{entity} WHERE source_id IN {scope}")
        con.execute(f"INSERT INTO main.transformed_{entity} BY NAME SELECT * FROM {SCHEMA}.transformed_{entity}")
    else:
        con.execute(f"CREATE TABLE main.transformed_{entity} AS SELECT * FROM {SCHEMA}.transformed_{entity}")
    con.execute(BACKFILL_URL_KEYS_DDL)
    con.execute(f"DELETE FROM main.backfill_url_keys WHERE entity = ? AND source_id IN {scope}", [entity])
    con.execute(f"""INSERT INTO main.backfill_url_keys SELECT ?, source_id, url_key FROM {SCHEMA}.staged_{entity}
                    QUALIFY row_number() OVER (PARTITION BY source_id ORDER BY _ordinal) = 1""", [entity])


def migrate_slice(con: duckdb.DuckDBPyConnection, staging: Staging, target: Target, entity: str, key: str,
                  settings: RuleSettings | None = None) -> SliceResult:
    """Transform and load one extracted partition in the shared catalog; returns its ledger summary."""
    part = slice_staging(staging, entity, key)
    if not part.catalog_path.exists():
        raise BackfillError(f"backfill of {entity} {key}: not extracted yet; materialize its extract first")
    con.execute(PARTITION_COUNTS_DDL)
    con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    con.execute(f"CREATE SCHEMA {SCHEMA}")
    duckdb_io.attach(con, part.catalog_path, "part", read_only=True)  # a run may hold the file: released first
    try:
        for table in ("ledger", "scope", "rule_counts"):
            con.execute(f"CREATE TABLE {SCHEMA}.{table} AS SELECT * FROM main.{table} LIMIT 0")
        con.execute(f"INSERT INTO {SCHEMA}.ledger SELECT * FROM part.main.ledger")
        con.execute(f"CREATE VIEW {SCHEMA}.staged_{entity} AS "
                    f"SELECT * FROM read_parquet({_literal(part.parquet_path(entity))})")
        con.execute(f"INSERT INTO {SCHEMA}.scope SELECT DISTINCT ?, source_id FROM {SCHEMA}.staged_{entity}",
                    [entity])
        row = con.execute("SELECT source, source_records FROM part.main.source_counts WHERE entity = ?",
                          [entity]).fetchall()
        source, source_records = row[0] if row else ("", 0)
        _loaded_upstream(con, target, entity)
        held = _held_url_keys(con, target, entity) if entity in URL_KEY_ENTITIES else None
        con.execute(f"SET search_path = '{SCHEMA},main'")
        try:
            transform_entity(con, entity, settings or RuleSettings(), held_url_keys=held, target=target.name)
            load_entity(con, target, entity, settings)
        finally:
            con.execute("SET search_path = 'main'")
        if held:
            _keep_url_keys(con, entity)
        s = ledger.summarize(con, entity, f"{SCHEMA}.ledger")
        con.execute(f"""DELETE FROM main.ledger WHERE entity = ? AND source_id IN (
                            SELECT source_id FROM {SCHEMA}.ledger UNION SELECT source_id FROM {SCHEMA}.scope)""",
                    [entity])
        con.execute(f"INSERT INTO main.ledger SELECT * FROM {SCHEMA}.ledger")
        res = SliceResult(entity, key, source_records, s.loaded, s.skipped_total, s.quarantined, s.created,
                          s.updated, s.unchanged, dict(s.skipped))
        con.execute("INSERT OR REPLACE INTO partition_counts (entity, partition_key, source, source_records, loaded, "
                    "skipped, quarantined, created, updated, unchanged, closes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [entity, key, source, res.source_records, res.loaded, res.skipped, res.quarantined, res.created,
                     res.updated, res.unchanged, res.closes])
        return res
    finally:
        con.execute("DETACH part")
        con.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
