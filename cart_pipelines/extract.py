"""Extract: stream one entity from a source into a Parquet file, quarantining what does not fit the model."""

from __future__ import annotations

from dataclasses import dataclass

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


def extract_entity(source: Source, entity: str, staging: Staging, batch_rows: int = BATCH_ROWS) -> ExtractResult:
    schema = staged_schema(entity)
    sink = ParquetSink(staging.parquet_path(entity), schema)
    rows: list[dict] = []
    bad: list[tuple] = []
    total = 0
    records = source.records(entity) if source.has(entity) else iter(())
    try:
        for rec in records:
            total += 1
            reason = rec.error
            if reason is None:
                try:
                    row = coerce_record(rec.record, schema.remove(schema.get_field_index("_ordinal")))
                    row["_ordinal"] = rec.ordinal
                    rows.append(row)
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
        # A new extraction invalidates every later stage's outcome for this entity.
        ledger.clear(con, entity, *ledger.STAGES)
        con.execute(f"DROP TABLE IF EXISTS transformed_{entity}")
        for start in range(0, len(bad), 10_000):
            ledger.record(con, bad[start:start + 10_000])
        staging.register(con, entity)
        con.execute(
            "INSERT OR REPLACE INTO source_counts (entity, source, source_records, staged, quarantined) "
            "VALUES (?, ?, ?, ?, ?)", [entity, source.describe(), total, sink.rows, len(bad)])
    return ExtractResult(entity, total, sink.rows, len(bad))


def skip_entity(entity: str, staging: Staging) -> None:
    """The entity is not selected: nothing is read, and earlier outcomes for it are cleared."""
    with staging.connect() as con:
        ledger.clear(con, entity, *ledger.STAGES)
        con.execute("DELETE FROM source_counts WHERE entity = ?", [entity])
        con.execute(f"DROP TABLE IF EXISTS transformed_{entity}")
        staging.parquet_path(entity).unlink(missing_ok=True)
        staging.register(con, entity)
