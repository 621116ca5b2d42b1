"""Extract: stream one entity from a source into a Parquet file, quarantining what does not fit the model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

from . import ledger
from .canonical import staged_schema
from .connectors.base import Source
from .staging import ParquetSink, Staging
from .validation import Invalid, coerce_record

BATCH_ROWS = 2000  # rows held in memory per entity at any time


@dataclass
class ExtractResult:
    entity: str
    source_records: int
    staged: int
    quarantined: int


def extract_entity(source: Source, entity: str, staging: Staging, batch_rows: int = BATCH_ROWS,
                   since: datetime | None = None) -> ExtractResult:
    """Stage `entity`. With `since` (a delta), only records changed since then are read, and they replace their
    earlier versions in the staged set, so later stages still see the whole store."""
    schema = staged_schema(entity)
    full_path = staging.parquet_path(entity)
    sink = ParquetSink(full_path.with_name("part-delta.parquet") if since else full_path, schema)
    rows: list[dict] = []
    bad: list[tuple] = []
    total = 0
    newest = None
    if not source.has(entity):
        records = iter(())
    elif since is not None:
        records = source.records(entity, updated_since=since)
    else:
        records = source.records(entity)
    try:
        for rec in records:
            total += 1
            reason = rec.error
            if reason is None:
                try:
                    row = coerce_record(rec.record, schema.remove(schema.get_field_index("_ordinal")))
                    row["_ordinal"] = rec.ordinal
                    rows.append(row)
                    if row.get("updated_at") and (newest is None or row["updated_at"] > newest):
                        newest = row["updated_at"]
                except Invalid as exc:
                    reason = str(exc)
            if reason is not None:
                sid = rec.source_id if rec.source_id is not None else f"#{rec.ordinal}"
                bad.append((entity, sid, "extract", ledger.QUARANTINED, None, reason, None))
            if len(rows) >= batch_rows:
                sink.write(rows)
                rows = []
        sink.write(rows)
    except BaseException:
        sink.abort()
        raise
    sink.commit()
    with staging.connect() as con:
        if since is not None:
            staged, quarantined = _merge_delta(con, staging, entity, sink.path, bad)
        else:
            # A new extraction invalidates every later stage's outcome for this entity.
            ledger.clear(con, entity, *ledger.STAGES)
            for start in range(0, len(bad), 10_000):
                ledger.record(con, bad[start:start + 10_000])
            staging.register(con, entity)
            staged, quarantined = sink.rows, len(bad)
        con.execute(f"DROP TABLE IF EXISTS transformed_{entity}")
        con.execute(
            "INSERT OR REPLACE INTO source_counts (entity, source, source_records, staged, quarantined) "
            "VALUES (?, ?, ?, ?, ?)", [entity, source.describe(), staged + quarantined, staged, quarantined])
        con.execute("INSERT OR REPLACE INTO watermarks_pending VALUES (?, ?, ?)",
                    [source.describe(), entity, newest])
    return ExtractResult(entity, total, sink.rows, len(bad))


def _merge_delta(con, staging: Staging, entity: str, delta_path, bad: list[tuple]) -> tuple[int, int]:
    """Changed records replace their earlier versions in the staged Parquet; a record that arrives again,
    valid or not, loses its earlier quarantine row. Returns (staged, quarantined) for the whole entity."""
    full = staging.parquet_path(entity)
    if not full.exists():
        raise RuntimeError(f"delta of {entity}: nothing staged yet; run a full migration first")
    tmp = full.with_name("part-merged.parquet")
    q = lambda p: "'" + str(p.resolve()).replace("'", "''") + "'"  # noqa: E731
    changed_ids = f"(SELECT source_id FROM read_parquet({q(delta_path)}))"
    bad_ids = [b[1] for b in bad]
    con.execute(f"""
        COPY (SELECT * FROM read_parquet({q(full)}) WHERE source_id NOT IN {changed_ids}
                AND source_id NOT IN (SELECT unnest(?::VARCHAR[]))
              UNION ALL
              SELECT * REPLACE (_ordinal + (SELECT coalesce(max(_ordinal), 0) FROM read_parquet({q(full)})) AS _ordinal)
              FROM read_parquet({q(delta_path)}))
        TO {q(tmp)} (FORMAT parquet, COMPRESSION zstd)""", [bad_ids])
    os.replace(tmp, full)
    delta_path.unlink()
    con.execute("DELETE FROM ledger WHERE entity = ? AND stage <> 'extract'", [entity])
    con.execute(f"DELETE FROM ledger WHERE entity = ? AND stage = 'extract' AND (source_id IN "
                f"(SELECT source_id FROM read_parquet({q(full)})) OR source_id IN (SELECT unnest(?::VARCHAR[])))",
                [entity, bad_ids])
    for start in range(0, len(bad), 10_000):
        ledger.record(con, bad[start:start + 10_000])
    staging.register(con, entity)
    staged = con.execute(f"SELECT count(*) FROM staged_{entity}").fetchall()[0][0]
    quarantined = con.execute("SELECT count(*) FROM ledger WHERE entity = ? AND stage = 'extract'",
                              [entity]).fetchall()[0][0]
    return staged, quarantined


def skip_entity(entity: str, staging: Staging) -> None:
    """The entity is not selected: nothing is read, and earlier outcomes for it are cleared."""
    with staging.connect() as con:
        ledger.clear(con, entity, *ledger.STAGES)
        con.execute("DELETE FROM source_counts WHERE entity = ?", [entity])
        con.execute(f"DROP TABLE IF EXISTS transformed_{entity}")
        staging.parquet_path(entity).unlink(missing_ok=True)
        staging.register(con, entity)
