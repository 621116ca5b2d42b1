"""The staging area: Parquet files per entity, and the DuckDB catalog that registers them.

The catalog (`catalog.duckdb` in the staging directory) holds views over the staged Parquet, the transformed
tables, the ledger and the source-id → target-id map. DuckDB allows one writer at a time, so every step opens the
catalog, does its work and closes it. Steps in other processes (the multiprocess executor, parallel partition
runs) wait for the catalog instead of failing: see `open_catalog`.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from cart_pipelines.model.canonical import staged_schema
from cart_pipelines.platforms.kit.duckdb_io import (  # noqa: F401  (the pipeline's DuckDB helpers)
    arrow_batches,
    arrow_table,
    cursor,
    drop_primary_keys,
    first_in_hold,
    open_catalog,
)

CATALOG_DDL = """
CREATE TABLE IF NOT EXISTS source_counts (
    entity VARCHAR PRIMARY KEY, source VARCHAR, source_records BIGINT, staged BIGINT, quarantined BIGINT,
    extracted_at TIMESTAMPTZ DEFAULT now());
CREATE TABLE IF NOT EXISTS ledger (
    entity VARCHAR, source_id VARCHAR, stage VARCHAR, outcome VARCHAR, rule VARCHAR, reason VARCHAR,
    action VARCHAR);
CREATE TABLE IF NOT EXISTS rule_counts (entity VARCHAR, rule VARCHAR, records BIGINT);
CREATE TABLE IF NOT EXISTS scope (entity VARCHAR, source_id VARCHAR);
CREATE TABLE IF NOT EXISTS run_settings (key VARCHAR PRIMARY KEY, value VARCHAR);
-- Delta high-water marks per source and entity: the newest updated_at seen. Extraction proposes one (pending);
-- it becomes the mark only when the run's loads and checks succeeded (the report step promotes it).
CREATE TABLE IF NOT EXISTS watermarks_pending (source VARCHAR, entity VARCHAR, updated_at TIMESTAMPTZ,
    PRIMARY KEY (source, entity));
CREATE TABLE IF NOT EXISTS watermarks (source VARCHAR, entity VARCHAR, updated_at TIMESTAMPTZ,
    advanced_at TIMESTAMPTZ DEFAULT now(), PRIMARY KEY (source, entity));
-- What the last dry run found the next load would do, per entity (JSON); the dry-run report is built from it.
-- Files of the source that no entity reads (a store export's coupons.jsonl), with why; shown in the report. With an
-- entity: what the source's last read of that entity met that no record carries (Shift4Shop RMAs not refunded).
CREATE TABLE IF NOT EXISTS source_notes (source VARCHAR, file VARCHAR, note VARCHAR);
ALTER TABLE source_notes ADD COLUMN IF NOT EXISTS entity VARCHAR;
CREATE TABLE IF NOT EXISTS dry_run_plan (entity VARCHAR PRIMARY KEY, plan VARCHAR);
-- What the last extraction or transform of an entity was made from (a fingerprint of its inputs) and what it left
-- (digests of its outputs, its counts): a re-run whose inputs are the same keeps those outputs (pipeline/reuse.py).
CREATE TABLE IF NOT EXISTS reuse_records (step VARCHAR, entity VARCHAR, fingerprint VARCHAR, state VARCHAR,
    recorded_at TIMESTAMPTZ DEFAULT now(), PRIMARY KEY (step, entity));
-- URL keys (rule url_key_suffix): the key each record of the last transform was made from, before any -N, and
-- the key each loaded record holds on the target with its base; a later transform leaves a loaded record its key
-- while that base is unchanged (sticky), and new records are numbered around the keys the target holds.
CREATE TABLE IF NOT EXISTS url_key_bases (entity VARCHAR NOT NULL, source_id VARCHAR NOT NULL, base VARCHAR);
-- The URL-key bases, the id map and the held URL keys hold one row per key by construction (a transform replaces
-- the bases of the records it transforms, each once; the load inserts only rows its plan found absent and updates
-- the others: pipeline/load.py, which checks the plan's keys are unique),
-- so they carry no PRIMARY KEY: its ART index cost every insert its upkeep and held the whole map in memory. A
-- catalog of an earlier version has the key; `Staging.connect` rebuilds those tables without it (KEYLESS).
CREATE TABLE IF NOT EXISTS url_keys (
    target VARCHAR NOT NULL, entity VARCHAR NOT NULL, source_id VARCHAR NOT NULL, base VARCHAR, url_key VARCHAR);
CREATE TABLE IF NOT EXISTS id_map (
    target VARCHAR NOT NULL, entity VARCHAR NOT NULL, source_id VARCHAR NOT NULL, target_id VARCHAR,
    row_hash VARCHAR, loaded_at TIMESTAMPTZ DEFAULT now());
"""
KEYLESS = ("id_map", "url_keys", "url_key_bases")


def relation_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the connection's catalog has a table or view called `name` (fetched whole: DuckDB 2 refuses more work
    on a connection whose result was read with fetchone and left open)."""
    return con.execute("SELECT count(*) FROM (SELECT table_name AS n FROM duckdb_tables() UNION ALL "
                       "SELECT view_name FROM duckdb_views()) WHERE n = ?", [name]).fetchall()[0][0] > 0


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Staging:
    """Paths and the catalog connection for one staging directory."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    @property
    def catalog_path(self) -> Path:
        return self.directory / "catalog.duckdb"

    def parquet_path(self, entity: str) -> Path:
        return self.directory / "parquet" / entity / "part-0.parquet"

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.directory.mkdir(parents=True, exist_ok=True)
        con = open_catalog(self.catalog_path)
        try:
            if first_in_hold(self.catalog_path, "catalog"):
                con.execute(CATALOG_DDL)
                drop_primary_keys(con, KEYLESS)
            yield con
        finally:
            con.close()

    def register(self, con: duckdb.DuckDBPyConnection, entity: str) -> None:
        """(Re)create the `staged_<entity>` view over the entity's Parquet file."""
        path = self.parquet_path(entity)
        if not path.exists():
            write_empty(path, staged_schema(entity))
        literal = str(path.resolve()).replace("'", "''")
        con.execute(f"CREATE OR REPLACE VIEW staged_{entity} AS SELECT * FROM read_parquet('{literal}')")


def write_empty(path: Path, schema: pa.Schema) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(schema.empty_table(), path)


class ParquetSink:
    """Appends bounded batches of rows to one Parquet file, written under a temporary name and moved into place
    on success, so a failed extraction never leaves a half-written file behind."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.path, self.schema = path, schema
        self.tmp = path.with_suffix(".parquet.tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = pq.ParquetWriter(self.tmp, schema, compression="zstd")
        self.rows = 0
        self.closed = False

    def write(self, rows: list[dict]) -> None:
        if rows:
            self.write_table(pa.Table.from_pylist(rows, schema=self.schema))

    def write_table(self, table: pa.Table) -> None:
        if table.num_rows:
            self.writer.write_table(table)
            self.rows += table.num_rows

    def close(self) -> None:
        """Finish the temporary file (it can be read, and replaced, before `commit` moves it into place)."""
        if not self.closed:
            self.writer.close()
            self.closed = True

    def commit(self) -> None:
        self.close()
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.close()
        self.tmp.unlink(missing_ok=True)
