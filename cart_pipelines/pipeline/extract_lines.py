"""Set-based extraction of a source that hands canonical JSON lines in Arrow batches (a store export).

DuckDB parses and coerces the lines in SQL (model/coerce_sql.py): one query per entity, planned once, reading the
source's batches as a stream and handing its result back in batches of OUT_ROWS rows (planning the query costs
about as much as coercing 5,000 products, so one query per batch cost a quarter of the time). The query first
compares each line's key lists with those the file's first lines write (read once here, in Python). The few lines
it cannot vouch for come back with their text (their bytes where they are not UTF-8) and are read and coerced one
by one in Python (the source's own line reader and coerce.py), so their values and reasons are exactly those of
the per-record path. Staged rows go to the sink in line order, in row groups of WRITE_ROWS written by a thread of
their own while the query goes on; quarantine rows to a Parquet file next to it, which the caller moves into the
ledger. Nothing is held per record in Python beyond two row groups.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from cart_pipelines.model.coerce import clean_html
from cart_pipelines.model.coerce_sql import batch_query, key_hints
from cart_pipelines.pipeline import ledger
from cart_pipelines.pipeline.coercion import coerce_source_record, rows_table
from cart_pipelines.pipeline.staging import ParquetSink
from cart_pipelines.platforms.kit.duckdb_io import arrow_batches, connect

HINT_LINES = 1000  # lines of the first batch read in Python for the key lists the export writes
OUT_ROWS = 10_000  # rows of the query's result handed to Python at once (a batch of products is about 15 MB)
# Staged rows gathered into row groups of at least this many (the query hands about one input batch, ~1,000
# orders, at a time; a Parquet row group that small costs half as much again to write as one of 20,000).
WRITE_ROWS = 20_000
LINES = pa.schema([("ordinal", pa.int64()), ("line", pa.large_string()), ("raw", pa.large_binary())])
# Quarantine rows as the ledger holds them, with the line they came from and whether the record had an id (a
# later copy of that id is no clean record either).
QUARANTINE_SCHEMA = ledger.LEDGER_SCHEMA.append(pa.field("_ordinal", pa.int64())).append(pa.field("_keyed", pa.bool_()))
DUPLICATE = "duplicate source_id {} (an earlier copy was quarantined; which one is right cannot be told)"


@dataclass
class LinesResult:
    source_records: int
    quarantined: int
    quarantine_path: Path


def stage_lines(source, entity: str, sink: ParquetSink, work_dir: Path) -> LinesResult:
    """Stage every line of `entity` into `sink`; quarantine rows into `<sink dir>/part-quarantine.parquet`."""
    staged = sink.schema
    canonical = staged.remove(staged.get_field_index("_ordinal"))
    batches = iter(source.line_batches(entity))
    first = next(batches, None)  # its lines tell the key lists the export writes (the query checks those first)
    hints = key_hints(canonical, [] if first is None else (
        t for t in first.column("line").slice(0, HINT_LINES).to_pylist() if t is not None))
    query = batch_query(canonical, "_lines", carry=("line", "raw"), hints=hints)
    html = [f.name for f in canonical if f"_html_{f.name}" in query]
    out_path = sink.path.with_name("part-quarantine.parquet")
    total = quarantined = 0
    con = connect(temp_parent=work_dir)
    con.execute("SET TimeZone = 'UTC'")  # date-times without an offset are UTC, as coerce.py reads them
    bad_writer = pq.ParquetWriter(out_path, QUARANTINE_SCHEMA, compression="zstd")
    writer = _GroupWriter(sink)
    try:
        failed: list[BaseException] = []
        tables = itertools.chain([] if first is None else [first], batches)
        con.register("_lines", pa.RecordBatchReader.from_batches(LINES, _line_batches(tables, failed)))
        for batch in _results(con, query, failed):
            out = pa.Table.from_batches([batch])
            total += out.num_rows
            ok = out.column("_ok")
            every = pc.all(ok).as_py()  # the usual batch: filtering would copy every column for nothing
            good = out if every else out.filter(ok)
            fast = _clean(good, html).select(canonical.names).append_column("_ordinal", good.column("ordinal"))
            rows, bad = [], []
            slow = out.slice(0, 0) if every else out.filter(pc.invert(ok))
            slow = slow.select(["ordinal", "_line", "_raw"])
            for ordinal, line, raw in zip(*(slow.column(c).to_pylist() for c in slow.column_names)):
                rec = source.line_record(entity, ordinal, raw if line is None else line.encode("utf-8"))
                row, reason = coerce_source_record(rec, canonical)
                if reason is None:
                    row["_ordinal"] = ordinal
                    rows.append(row)
                else:
                    bad.append((rec.source_id if rec.source_id is not None else f"#{ordinal}", reason, ordinal,
                                rec.source_id is not None))
            refused: list[tuple[str, str]] = []
            table = pa.concat_tables([fast.cast(staged), rows_table(rows, staged, refused)])
            bad.extend((sid, reason, None, False) for sid, reason in refused)  # their ids are not marked (as before)
            if slow.num_rows:
                table = table.sort_by("_ordinal")
            writer.add(table)
            quarantined += _write_bad(bad_writer, entity, bad)
        con.unregister("_lines")
        writer.close()
        bad_writer.close()
        quarantined += _duplicates_of_quarantined(con, sink, entity, out_path)
    except BaseException:
        writer.abort()
        bad_writer.close()
        out_path.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    return LinesResult(total, quarantined, out_path)


class _GroupWriter:
    """Staged tables to the sink in row groups of at least WRITE_ROWS rows, each written in a thread of its own
    while the query goes on (pyarrow writes without the GIL): one group being written, one being gathered, so
    memory holds two groups at most."""

    def __init__(self, sink: ParquetSink):
        self.sink, self.pending, self.rows, self.future = sink, [], 0, None
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="stage-writer")

    def add(self, table: pa.Table) -> None:
        if table.num_rows:
            self.pending.append(table)
            self.rows += table.num_rows
        if self.rows >= WRITE_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self.future is not None:
            self.future.result()  # the group before is written (or its error raised here)
            self.future = None
        if self.pending:
            table = pa.concat_tables(self.pending)
            self.pending, self.rows = [], 0
            self.future = self.pool.submit(self.sink.write_table, table)

    def close(self) -> None:
        try:
            self._flush()
            if self.future is not None:
                self.future.result()
        finally:
            self.pool.shutdown(wait=True)

    def abort(self) -> None:
        self.pending = []
        self.pool.shutdown(wait=True, cancel_futures=True)


def _line_batches(tables, failed: list) -> Iterator[pa.RecordBatch]:
    """The source's lines as the query reads them: `raw` only where `line` is null (bytes that are not UTF-8),
    so the query carries no second copy of the text. What the source raises (a damaged file) is kept in `failed`:
    DuckDB, which pulls these batches, reports it as its own error."""
    try:
        for table in tables:
            line = table.column("line")
            raw = (pa.nulls(table.num_rows, pa.large_binary()) if not line.null_count else
                   pc.if_else(pc.is_null(line), table.column("raw"), pa.scalar(None, pa.large_binary())))
            yield from pa.table([table.column("ordinal"), line, raw], schema=LINES).to_batches()
    except BaseException as exc:
        failed.append(exc)
        raise


def _results(con, query: str, failed: list) -> Iterator[pa.RecordBatch]:
    """The query's result in batches; the source's own exception where reading its lines failed."""
    try:
        yield from arrow_batches(con, query, None, OUT_ROWS)
    except Exception:
        if failed:
            raise failed[0] from None
        raise


def _clean(good: pa.Table, html: list[str]) -> pa.Table:
    """HTML fields the SQL could not prove clean already, through nh3 (as coerce.py does)."""
    for name in html:
        flag = good.column(f"_html_{name}").combine_chunks()
        if not pc.any(flag).as_py():
            continue
        col = good.column(name).combine_chunks()
        cleaned = pa.array([clean_html(v) for v in col.filter(flag).to_pylist()], col.type)
        good = good.set_column(good.schema.get_field_index(name), name, pc.replace_with_mask(col, flag, cleaned))
    return good


def _write_bad(writer: pq.ParquetWriter, entity: str, bad: list[tuple]) -> int:
    if bad:
        sids, reasons, ordinals, keyed = zip(*bad)
        n = len(bad)
        writer.write_table(pa.table({
            "entity": [entity] * n, "source_id": list(sids), "stage": ["extract"] * n,
            "outcome": [ledger.QUARANTINED] * n, "rule": pa.nulls(n, pa.string()), "reason": list(reasons),
            "action": pa.nulls(n, pa.string()), "_ordinal": list(ordinals), "_keyed": list(keyed)},
            schema=QUARANTINE_SCHEMA))
    return len(bad)


def _duplicates_of_quarantined(con, sink: ParquetSink, entity: str, bad_path: Path) -> int:
    """Staged rows whose id an earlier, quarantined line had: which copy is right cannot be told, so they are
    quarantined too (the per-record path's rule, here one join at the end). The staged file is rewritten only
    when there are any; their quarantine rows are appended to `bad_path`."""
    sink.close()
    staged = _q(sink.tmp)
    first_bad = f"(SELECT source_id, min(_ordinal) AS first FROM read_parquet({_q(bad_path)}) WHERE _keyed " \
                f"GROUP BY 1)"
    dup = f"(SELECT s._ordinal FROM read_parquet({staged}) s JOIN {first_bad} b ON s.source_id = b.source_id " \
          f"AND b.first < s._ordinal)"
    n = con.execute(f"SELECT count(*) FROM {dup}").fetchall()[0][0]
    if not n:
        return 0
    kept = sink.tmp.with_name("part-kept.parquet.tmp")
    both = bad_path.with_name("part-quarantine-all.parquet")
    try:
        _copy(con, f"SELECT * FROM read_parquet({staged}) WHERE _ordinal NOT IN {dup} ORDER BY _ordinal", kept,
              sink.schema)
        _copy(con, f"SELECT * FROM read_parquet({_q(bad_path)}) UNION ALL "
                   f"SELECT ?, source_id, 'extract', ?, NULL, format(?, source_id), NULL, _ordinal, true "
                   f"FROM read_parquet({staged}) WHERE _ordinal IN {dup} ORDER BY _ordinal NULLS FIRST", both,
              QUARANTINE_SCHEMA, [entity, ledger.QUARANTINED, DUPLICATE])
    except BaseException:
        kept.unlink(missing_ok=True)
        both.unlink(missing_ok=True)
        raise
    kept.replace(sink.tmp)
    both.replace(bad_path)
    sink.rows -= n
    return n


def _copy(con, sql: str, path: Path, schema: pa.Schema, params=None) -> None:
    """A query's rows into a Parquet file of `schema`, streamed in batches."""
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in arrow_batches(con, sql, params, 50_000):
            writer.write_table(pa.Table.from_batches([batch]).cast(schema))


def _q(path: Path) -> str:
    return "'" + str(Path(path).resolve()).replace("'", "''") + "'"
