"""A local Mystore-shaped target store in a DuckDB file.

It holds what a Mystore shop needs per entity (tables below) and behaves like a platform would: it assigns its own
ids, keeps the source id as an external reference (as platforms keep a migration reference), and rejects records
that break its uniqueness rules (customer e-mail, product SKU and URL key, category URL key) with an error
message instead of storing them.

Its ids are unique by construction: this module is the file's only writer (one at a time, as DuckDB allows), and
`create_rows` numbers new ids after the largest one and keeps a source id only where no record has it. So the
tables carry no PRIMARY KEY: its ART index made every insert maintain it (and hold it in memory whole) for
nothing; a file of an earlier version has the key, and opening it for writing rebuilds its tables without.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import duckdb
import pyarrow as pa

from cart_pipelines.model.target_shape import TABLES
from cart_pipelines.platforms.kit.duckdb_io import (
    arrow_table, attach, drop_primary_keys, first_in_hold, open_catalog,
)
from cart_pipelines.platforms.kit.target import Target, WriteResult

# (column, message) that must be unique per entity; compared case-insensitively like a shop's admin does.
UNIQUE = {
    "customers": [("email", "a customer with this e-mail already exists")],
    "products": [("sku", "a product with this SKU already exists"),
                 ("url_key", "a product with this URL key already exists")],
    "categories": [("url_key", "a category with this URL key already exists")],
}


TARGET_SCHEMA = "_local_target"

# Row groups of the rows a set-based load writes: DuckDB compresses and writes a statement's row groups in parallel,
# so a load chunk (122,880 rows, DuckDB's default row-group size) reaches the file as 4 row groups on both cores
# instead of one on one (the products INSERT of 100k rows: 0.71 -> 0.39 s, measured alone). Rows written otherwise
# keep DuckDB's default; row groups of both sizes read alike.
ROW_GROUP_SIZE = 30_720


def create_rows(con: duckdb.DuckDBPyConnection, schema: str, entity: str, rows_sql: str,
                preserve_ids: bool = False, on_answers: Callable[[str], None] | None = None) -> str:
    """Create the rows of `rows_sql` (`source_id`, the entity's columns, `_ord` giving their order) in
    `schema`.`entity`, set-based; returns a temp table of (source_id, target_id, error, _pos), one row per input row.
    A row whose unique value (case-insensitive) the table holds, or an earlier row of the same call has, is refused
    with the shop's message; the others get the next free ids (or, with `preserve_ids`, their source id where it is
    a number no record has yet) and are inserted in one statement. `on_answers` is called with that table once it
    holds every answer, before the insert (which cannot change them), so a caller can record them meanwhile."""
    table = f"{schema}.{entity}"
    # The rows are read where they lie (a whole entity's worth, in a set-based load); only narrow columns are
    # sorted or copied: their order, the unique values, the answers.
    con.execute(f"CREATE OR REPLACE TEMP VIEW _incoming AS {rows_sql}")
    con.execute("CREATE OR REPLACE TEMP TABLE _order AS SELECT _ord, row_number() OVER (ORDER BY _ord) AS _pos "
                "FROM _incoming")
    unique = UNIQUE.get(entity, [])
    # The values the table holds are found by a scan of it probing a hash of the incoming ones, not by hashing
    # everything it holds for each call (a third of the time for a chunk against a million products).
    errors = [f"""CASE WHEN {column} IS NOT NULL AND (
                     lower({column}) IN (SELECT lower(x.{column}) FROM {table} x WHERE lower(x.{column}) IN (
                         SELECT lower({column}) FROM _incoming WHERE {column} IS NOT NULL))
                     OR row_number() OVER (PARTITION BY lower({column}) ORDER BY _pos) > 1) THEN '{message}' END"""
              for column, message in unique]
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _checked AS
                    SELECT _ord, _pos, source_id, {f'coalesce({chr(44).join(errors)})' if errors else 'NULL::VARCHAR'}
                           AS error
                    FROM (SELECT o._pos, i._ord, i.source_id{''.join(f', i.{c}' for c, _ in unique)}
                          FROM _incoming i JOIN _order o USING (_ord))""")
    preserved = "NULL::VARCHAR"
    if preserve_ids:  # the source id, where it is a number no record has yet
        preserved = (f"CASE WHEN TRY_CAST(source_id AS BIGINT) > 0 AND source_id NOT IN (SELECT id FROM {table}) "
                     f"AND row_number() OVER (PARTITION BY source_id ORDER BY _pos) = 1 THEN source_id END")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _ids AS SELECT _pos, source_id, error, {preserved} AS kept "
                f"FROM _checked WHERE error IS NULL")
    # New ids continue after the largest one (a single writer, so no race), never meeting a preserved id.
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _written AS
        SELECT c._ord, c._pos, c.source_id, CASE WHEN c.error IS NULL THEN coalesce(i.kept, CAST(
                   row_number() OVER (PARTITION BY c.error IS NULL AND i.kept IS NULL ORDER BY c._pos) + greatest(
                       (SELECT coalesce(max(TRY_CAST(id AS BIGINT)), 0) FROM {table}),
                       (SELECT coalesce(max(TRY_CAST(kept AS BIGINT)), 0) FROM _ids)) AS VARCHAR)) END AS target_id,
               c.error
        FROM _checked c LEFT JOIN _ids i USING (_pos)""")
    if on_answers is not None:
        on_answers("_written")
    columns = [c for c in _columns(con, "_incoming") if c not in ("source_id", "_ord")]
    con.execute(f"INSERT INTO {table} (id, {', '.join(columns)}, _source_id) "
                f"SELECT w.target_id, {', '.join(f'i.{c}' for c in columns)}, i.source_id "
                f"FROM _incoming i JOIN _written w USING (_ord) WHERE w.error IS NULL")
    con.execute("DROP VIEW _incoming; DROP TABLE _order; DROP TABLE _checked; DROP TABLE _ids")
    return "_written"


def update_rows(con: duckdb.DuckDBPyConnection, schema: str, entity: str, rows_sql: str,
                on_answers: Callable[[str], None] | None = None) -> str:
    """Update `schema`.`entity` from the rows of `rows_sql` (`source_id`, `target_id`, columns, `_ord`), set-based;
    returns a temp table of (source_id, target_id, error, _ord): an error where the record no longer exists.
    `on_answers` as for create_rows: the answers are known before the update (it changes no id)."""
    table = f"{schema}.{entity}"
    con.execute(f"CREATE OR REPLACE TEMP VIEW _incoming AS {rows_sql}")
    columns = [c for c in _columns(con, "_incoming") if c not in ("source_id", "target_id", "_ord")]
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _written AS
        SELECT i._ord, i.source_id, i.target_id, CASE WHEN t.id IS NULL
                   THEN '{entity} ' || i.target_id || ' no longer exists on the target' END AS error
        FROM _incoming i LEFT JOIN (SELECT id FROM {table} WHERE id IN (SELECT target_id FROM _incoming)) t
             ON t.id = i.target_id""")
    if on_answers is not None:
        on_answers("_written")
    con.execute(f"UPDATE {table} SET {', '.join(f'{c} = i.{c}' for c in columns)}, _source_id = i.source_id "
                f"FROM _incoming i WHERE {table}.id = i.target_id")
    con.execute("DROP VIEW _incoming")
    return "_written"


def existing_sql(schema: str, entity: str, source_ids_sql: str) -> str:
    """(source id, target id) of records the target holds for the source ids `source_ids_sql` selects."""
    return (f"SELECT _source_id AS source_id, min(id) AS target_id FROM {schema}.{entity} "
            f"WHERE _source_id IN ({source_ids_sql}) GROUP BY 1")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]


class SqlWriter:
    """The local target attached to a catalog connection: writes whole entities with the rules of create/update.
    It attaches the file on first use, so a load with nothing to write (a rerun) never opens it."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, schema: str = TARGET_SCHEMA):
        self.con, self.path, self._schema = con, path, schema
        self.is_attached = False

    @property
    def schema(self) -> str:
        if not self.is_attached:
            attach(self.con, self.path, self._schema, row_group_size=ROW_GROUP_SIZE)
            self.is_attached = True
        return self._schema

    def detach(self) -> None:
        if self.is_attached:
            self.con.execute(f"DETACH {self._schema}")
            self.is_attached = False

    def create(self, entity: str, rows_sql: str, preserve_ids: bool = False,
               on_answers: Callable[[str], None] | None = None) -> str:
        return create_rows(self.con, self.schema, entity, rows_sql, preserve_ids, on_answers)

    def update(self, entity: str, rows_sql: str, on_answers: Callable[[str], None] | None = None) -> str:
        return update_rows(self.con, self.schema, entity, rows_sql, on_answers)

    def existing(self, entity: str, source_ids_sql: str) -> str:
        return existing_sql(self.schema, entity, source_ids_sql)

    def delete(self, entity: str, target_ids_sql: str) -> int:
        return self.con.execute(f"DELETE FROM {self.schema}.{entity} WHERE id IN ({target_ids_sql})").fetchone()[0]


class DuckDBStore(Target):
    max_batch = 1000
    password_algorithms = ("bcrypt",)  # as Mystore is assumed to (mystore_api.PASSWORD_ALGORITHMS)
    can_preserve_ids = True

    def __init__(self, path: str | Path, name: str = "mystore_local"):
        self.path = Path(path)
        self.name = name

    holds_refunds = True  # the orders table keeps `refunds` and `refunded_total` (model/target_shape.py)

    def describe(self) -> str:
        return f"local Mystore target {self.path.name!r}"

    def _connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        if read_only and not self.path.exists():
            self._connect().close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = open_catalog(self.path, read_only=read_only)
        if not read_only and first_in_hold(self.path, "tables"):
            for entity, columns in TABLES.items():
                con.execute(f"CREATE TABLE IF NOT EXISTS {entity} (id VARCHAR NOT NULL, {columns}, "
                            f"_source_id VARCHAR)")
            _add_missing_columns(con)
            drop_primary_keys(con, tuple(TABLES))  # a file of an earlier version keyed `id`
        return con

    def create(self, entity: str, rows: pa.Table, preserve_ids: bool = False) -> list[WriteResult]:
        con = self._connect()
        try:
            con.register("batch", rows)
            results = create_rows(con, "main", entity, "SELECT *, row_number() OVER () AS _ord FROM batch",
                                  preserve_ids)
            out = con.execute(f"SELECT source_id, target_id, error FROM {results} ORDER BY _pos").fetchall()
        finally:
            con.close()
        return [WriteResult(sid, tid, err) for sid, tid, err in out]

    def update(self, entity: str, rows: pa.Table) -> list[WriteResult]:
        con = self._connect()
        try:
            con.register("batch", rows)
            results = update_rows(con, "main", entity, "SELECT *, row_number() OVER () AS _ord FROM batch")
            out = con.execute(f"SELECT source_id, target_id, error FROM {results} ORDER BY _ord").fetchall()
        finally:
            con.close()
        return [WriteResult(s, t, e) for s, t, e in out]

    def find_existing(self, entity: str, source_ids: list[str]) -> dict[str, str]:
        if not source_ids:
            return {}
        con = self._connect()
        try:
            con.register("wanted", pa.table({"sid": pa.array(source_ids, pa.string())}))
            return dict(con.execute(existing_sql("main", entity, "SELECT sid FROM wanted")).fetchall())
        finally:
            con.close()

    @contextmanager
    def attached(self, con: duckdb.DuckDBPyConnection) -> Iterator["SqlWriter"]:
        """The target's tables attached to `con` (the catalog), so a load writes a whole entity set-based, from the
        catalog's tables to the target's, with the same rules as create/update. While attached, this process
        cannot open the target file otherwise (DuckDB attaches a file once per process)."""
        if not self.path.exists() or first_in_hold(self.path, "tables checked"):
            self._connect().close()  # the tables exist
        writer = SqlWriter(con, self.path)
        try:
            yield writer
        finally:
            writer.detach()

    def scan(self, entity: str) -> pa.Table:
        con = self._connect(read_only=True)
        try:
            return arrow_table(con, f"SELECT * FROM {entity}")
        finally:
            con.close()

    def count(self, entity: str) -> int:
        con = self._connect(read_only=True)
        try:
            return con.execute(f"SELECT count(*) FROM {entity}").fetchone()[0]
        finally:
            con.close()

    def delete(self, entity: str, target_ids: list[str]) -> int:
        con = self._connect()
        try:
            con.register("gone", pa.table({"id": pa.array(target_ids, pa.string())}))
            return con.execute(f"DELETE FROM {entity} WHERE id IN (SELECT id FROM gone)").fetchone()[0]
        finally:
            con.close()

    def clear(self, entities: list[str]) -> dict[str, int]:
        con = self._connect()
        try:
            return {e: con.execute(f"DELETE FROM {e}").fetchone()[0] for e in entities}
        finally:
            con.close()


def _add_missing_columns(con: duckdb.DuckDBPyConnection) -> None:
    """A target file made by an earlier version lacks the columns added since (model/target_shape.py): add them,
    empty, so its rows are updated on the next run instead of the load failing."""
    have = set(con.execute("SELECT table_name, column_name FROM duckdb_columns() "
                           "WHERE database_name = current_database() AND schema_name = 'main'").fetchall())
    for entity, columns in _shape_columns().items():
        for name, type_ in columns:
            if (entity, name) not in have:
                con.execute(f'ALTER TABLE {entity} ADD COLUMN "{name}" {type_}')


@functools.cache
def _shape_columns() -> dict[str, list[tuple[str, str]]]:
    """Each table's columns (name, type) as TABLES defines them, read back from DuckDB: the types nest (STRUCT
    lists), so they are not split from the text by a comma."""
    con = duckdb.connect()
    try:
        out = {}
        for entity, columns in TABLES.items():
            con.execute(f"CREATE TABLE {entity} ({columns})")
            out[entity] = con.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
                                      "ORDER BY column_index", [entity]).fetchall()
        return out
    finally:
        con.close()
