"""Extract: stream one entity from a source into a Parquet file, quarantining what does not fit the model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from cart_pipelines.model.canonical import staged_schema
from cart_pipelines.pipeline import ledger
from cart_pipelines.pipeline.coercion import coerce_source_record, rows_table
from cart_pipelines.pipeline.extract_lines import stage_lines
from cart_pipelines.pipeline.staging import ParquetSink, Staging
from cart_pipelines.platforms.kit.source import Source

BATCH_ROWS = 2000  # rows held in memory per entity at any time


@dataclass
class ExtractResult:
    entity: str
    source_records: int
    staged: int
    quarantined: int
    deleted_at_source: int = 0  # records known from earlier runs that the source no longer has
    deletions_checked: bool = False  # whether this run compared the source's ids with the staged set
    listed_not_staged: int = 0  # ids the source lists that were not read (created after the read; next delta)


def extract_entity(source: Source, entity: str, staging: Staging, batch_rows: int = BATCH_ROWS,
                   since: datetime | None = None, detect_deletions: bool = False) -> ExtractResult:
    """Stage `entity`. With `since` (a delta), only records changed since then are read, and they replace their
    earlier versions in the staged set, so later stages still see the whole store.

    Deletions at the source: a full extraction compares with what the earlier run staged (free); a delta with
    `detect_deletions` lists the source's ids (one id-only listing, where the platform offers it) and compares.
    Records gone are taken out of the staged set and written to the ledger as `deleted`."""
    started = datetime.now(timezone.utc)
    schema = staged_schema(entity)
    canonical = schema.remove(schema.get_field_index("_ordinal"))
    full_path = staging.parquet_path(entity)
    sink = ParquetSink(full_path.with_name("part-delta.parquet") if since else full_path, schema)
    bad: list[tuple] | Path = []
    newest = None
    lines = since is None and hasattr(source, "line_batches") and source.has(entity)
    try:
        if lines:  # canonical JSON lines: parsed and coerced set-based in DuckDB
            staged_lines = stage_lines(source, entity, sink, staging.directory)
            total, bad = staged_lines.source_records, staged_lines.quarantine_path
        else:
            total, newest = _extract_records(source, entity, since, canonical, sink, bad, batch_rows)
    except BaseException:
        sink.abort()
        raise
    notes = getattr(source, "unread_files", None)
    read_notes = getattr(source, "read_notes", None)
    met = read_notes(entity) if read_notes is not None else []  # what this read met that no record carries
    listed = _list_ids(source, entity) if since is not None and detect_deletions and source.has(entity) else None
    deleted = missed = 0
    with staging.connect() as con:
        if since is None:  # what the earlier run knew, before the new file replaces it
            _remember_known(con, staging, entity, same_source=source.has(entity) and con.execute(
                "SELECT count(*) FROM source_counts WHERE entity = ? AND source = ?",
                [entity, source.describe()]).fetchall()[0][0] > 0)
        sink.commit()
        if since is not None:
            bad_count = len(bad)
            staged, quarantined = _merge_delta(con, staging, entity, sink.path, bad)
            if listed is not None:
                deleted, missed = _delete_unlisted(con, staging, entity, listed)
                staged -= deleted
        else:
            # A new extraction invalidates every later stage's outcome for this entity.
            ledger.clear(con, entity, *ledger.STAGES)
            quarantined = bad_count = _record_quarantined(con, bad)
            staging.register(con, entity)
            staged = sink.rows
            deleted = _record_deleted(con, entity, "_known")
        # files of the source no entity reads, and what this entity's read met: named in the report
        con.execute("DELETE FROM source_notes WHERE entity IS NULL OR entity = ?", [entity])
        if notes is not None:
            for name, why in notes():
                con.execute("INSERT INTO source_notes (source, file, note) VALUES (?, ?, ?)",
                            [source.describe(), name, why])
        for name, why in met:
            con.execute("INSERT INTO source_notes (source, file, note, entity) VALUES (?, ?, ?, ?)",
                        [source.describe(), name, why, entity])
        gone = con.execute("SELECT count(*) FROM ledger WHERE entity = ? AND outcome = ?",
                           [entity, ledger.DELETED]).fetchall()[0][0]
        con.execute(f"DROP TABLE IF EXISTS transformed_{entity}")
        con.execute(
            "INSERT OR REPLACE INTO source_counts (entity, source, source_records, staged, quarantined) "
            "VALUES (?, ?, ?, ?, ?)", [entity, source.describe(), staged + quarantined + gone, staged, quarantined])
        if lines:
            newest = con.execute(f"SELECT max(updated_at) FROM read_parquet({_q(full_path)})").fetchall()[0][0]
        # A record changed while pages were read may have been read in its old version: the mark never passes the
        # moment reading began, so the next delta reads it again.
        if newest is not None and newest.tzinfo is not None:
            newest = min(newest, started)
        con.execute("INSERT OR REPLACE INTO watermarks_pending VALUES (?, ?, ?)",
                    [source.describe(), entity, newest])
    if isinstance(bad, Path):
        bad.unlink(missing_ok=True)
    return ExtractResult(entity, total, sink.rows, bad_count, deleted, since is None or listed is not None, missed)


def _extract_records(source: Source, entity: str, since: datetime | None, canonical: pa.Schema, sink: ParquetSink,
                     bad: list[tuple], batch_rows: int) -> tuple[int, datetime | None]:
    """The per-record path (API sources, deltas): each record coerced in Python, staged in bounded batches;
    quarantine rows appended to `bad`. Returns (records read, newest updated_at)."""
    rows: list[dict] = []
    quarantined_ids: set[str] = set()  # a later copy of an id whose first copy was invalid is no clean record
    total = 0
    newest = None
    if not source.has(entity):
        records = iter(())
    elif since is not None:
        records = source.records(entity, updated_since=since)
    else:
        records = source.records(entity)
    for rec in records:
        total += 1
        row, reason = coerce_source_record(rec, canonical)
        if row is not None:
            if row["source_id"] in quarantined_ids:
                reason = (f"duplicate source_id {row['source_id']} (an earlier copy was quarantined; "
                          f"which one is right cannot be told)")
            else:
                row["_ordinal"] = rec.ordinal
                rows.append(row)
                if row.get("updated_at") and (newest is None or row["updated_at"] > newest):
                    newest = row["updated_at"]
        if reason is not None:
            sid = rec.source_id if rec.source_id is not None else f"#{rec.ordinal}"
            if rec.source_id is not None:
                quarantined_ids.add(rec.source_id)
            bad.append((entity, sid, "extract", ledger.QUARANTINED, None, reason, None))
        if len(rows) >= batch_rows:
            _write(sink, rows, entity, bad)
            rows = []
    _write(sink, rows, entity, bad)
    return total, newest


def _write(sink: ParquetSink, rows: list[dict], entity: str, bad: list[tuple]) -> None:
    """Rows into the staged file; rows Arrow refuses are quarantined, the others staged."""
    refused: list[tuple[str, str]] = []
    sink.write_table(rows_table(rows, sink.schema, refused))
    bad.extend((entity, sid, "extract", ledger.QUARANTINED, None, reason, None) for sid, reason in refused)


def _record_quarantined(con, bad: list[tuple] | Path) -> int:
    """Quarantine rows into the ledger: a list (per-record path) or the set-based path's Parquet file."""
    if isinstance(bad, Path):
        columns = ", ".join(ledger.COLUMNS)
        return con.execute(f"INSERT INTO ledger SELECT {columns} FROM read_parquet({_q(bad)})").fetchall()[0][0] \
            if bad.exists() else 0
    for start in range(0, len(bad), 10_000):
        ledger.record(con, bad[start:start + 10_000])
    return len(bad)


def _list_ids(source: Source, entity: str) -> pa.Table | None:
    """The source's ids of `entity` (an id-only listing), or None where the platform offers none."""
    ids = source.ids(entity)
    if ids is None:
        return None
    return pa.table({"source_id": pa.array([str(i) for i in ids], pa.string())})


def _remember_known(con, staging: Staging, entity: str, same_source: bool) -> None:
    """`_known` (temp): ids an earlier run from the same source staged, quarantined or found deleted, with what
    became of the deleted ones (empty after another source: its ids say nothing about this one)."""
    path = staging.parquet_path(entity)
    staged = (f"SELECT source_id, NULL AS was FROM read_parquet({_q(path)}) UNION ALL " if path.exists() else "")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _known AS
        SELECT source_id, max(was) AS action FROM (
            {staged}SELECT source_id, CASE WHEN outcome = '{ledger.DELETED}' THEN action END AS was FROM ledger
            WHERE entity = ? AND stage = 'extract' AND source_id NOT LIKE '#%')
        WHERE ? GROUP BY 1""", [entity, same_source])


def _record_deleted(con, entity: str, known: str) -> int:
    """Known ids that are neither staged nor quarantined now: deleted at the source (action kept from before)."""
    return con.execute(f"""
        INSERT INTO ledger SELECT ?, k.source_id, 'extract', '{ledger.DELETED}', NULL, 'deleted at the source',
                                  k.action
        FROM {known} k WHERE k.source_id NOT IN (SELECT source_id FROM staged_{entity})
          AND k.source_id NOT IN (SELECT source_id FROM ledger WHERE entity = ? AND stage = 'extract')""",
                       [entity, entity]).fetchall()[0][0]


def _delete_unlisted(con, staging: Staging, entity: str, listed: pa.Table) -> tuple[int, int]:
    """Staged or quarantined records whose id the source no longer lists are deleted at the source: out of the
    staged set, into the ledger. Returns (newly deleted, listed but not staged)."""
    con.register("_listed", listed)
    try:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _unlisted AS
            SELECT source_id, NULL::VARCHAR AS action FROM (
                SELECT source_id FROM staged_{entity} UNION
                SELECT source_id FROM ledger WHERE entity = ? AND stage = 'extract' AND outcome = 'quarantined'
                                                AND source_id NOT LIKE '#%')
            WHERE source_id NOT IN (SELECT source_id FROM _listed)""", [entity])
        missed = con.execute(f"""SELECT count(*) FROM _listed WHERE source_id NOT IN (SELECT source_id FROM
            staged_{entity}) AND source_id NOT IN (SELECT source_id FROM ledger WHERE entity = ?
                                                    AND stage = 'extract')""", [entity]).fetchall()[0][0]
    finally:
        con.unregister("_listed")
    if not con.execute("SELECT count(*) FROM _unlisted").fetchall()[0][0]:
        return 0, missed
    full = staging.parquet_path(entity)
    tmp = full.with_name("part-kept.parquet")
    con.execute(f"COPY (SELECT * FROM read_parquet({_q(full)}) WHERE source_id NOT IN (SELECT source_id FROM "
                f"_unlisted)) TO {_q(tmp)} (FORMAT parquet, COMPRESSION zstd)")
    os.replace(tmp, full)
    staging.register(con, entity)
    con.execute("DELETE FROM ledger WHERE entity = ? AND stage = 'extract' AND source_id IN "
                "(SELECT source_id FROM _unlisted)", [entity])
    return _record_deleted(con, entity, "_unlisted"), missed


def _q(path) -> str:
    return "'" + str(path.resolve()).replace("'", "''") + "'"


def _merge_delta(con, staging: Staging, entity: str, delta_path, bad: list[tuple]) -> tuple[int, int]:
    """Changed records replace their earlier versions in the staged Parquet; a record that arrives again,
    valid or not, loses its earlier quarantine row. Returns (staged, quarantined) for the whole entity."""
    full = staging.parquet_path(entity)
    if not full.exists():
        raise RuntimeError(f"delta of {entity}: nothing staged yet; run a full migration first")
    tmp = full.with_name("part-merged.parquet")
    q = _q
    changed_ids = f"(SELECT source_id FROM read_parquet({q(delta_path)}))"
    bad_ids = [b[1] for b in bad]
    # Nothing changed: the staged file stays as it is (rewriting it costs in proportion to the store).
    if bad or con.execute(f"SELECT count(*) FROM read_parquet({q(delta_path)})").fetchall()[0][0]:
        con.execute(f"""
            COPY (SELECT * FROM read_parquet({q(full)}) WHERE source_id NOT IN {changed_ids}
                    AND source_id NOT IN (SELECT unnest(?::VARCHAR[]))
                  UNION ALL
                  SELECT * REPLACE (_ordinal + (SELECT coalesce(max(_ordinal), 0) FROM read_parquet({q(full)}))
                                    AS _ordinal)
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
    quarantined = con.execute("SELECT count(*) FROM ledger WHERE entity = ? AND stage = 'extract' AND outcome = ?",
                              [entity, ledger.QUARANTINED]).fetchall()[0][0]
    return staged, quarantined


def skip_entity(entity: str, staging: Staging) -> None:
    """The entity is not selected: nothing is read, and earlier outcomes for it are cleared."""
    with staging.connect() as con:
        ledger.clear(con, entity, *ledger.STAGES)
        con.execute("DELETE FROM source_counts WHERE entity = ?", [entity])
        con.execute(f"DROP TABLE IF EXISTS transformed_{entity}")
        staging.parquet_path(entity).unlink(missing_ok=True)
        staging.register(con, entity)
