"""A local Mystore-shaped target store in a DuckDB file.

It holds what a Mystore shop needs per entity (tables below) and behaves like a platform would: it assigns its own
ids, keeps the source id as an external reference (as platforms keep a migration reference), and rejects records
that break its uniqueness rules (customer e-mail, product SKU and URL key, category URL key) with an error
message instead of storing them.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from cart_pipelines.model.target_shape import TABLES
from cart_pipelines.platforms.kit.duckdb_io import arrow_table, open_catalog
from cart_pipelines.platforms.kit.target import Target, WriteResult

# (column, message) that must be unique per entity; compared case-insensitively like a shop's admin does.
UNIQUE = {
    "customers": [("email", "a customer with this e-mail already exists")],
    "products": [("sku", "a product with this SKU already exists"),
                 ("url_key", "a product with this URL key already exists")],
    "categories": [("url_key", "a category with this URL key already exists")],
}


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
        if not read_only:
            for entity, columns in TABLES.items():
                con.execute(f"CREATE TABLE IF NOT EXISTS {entity} (id VARCHAR PRIMARY KEY, {columns}, "
                            f"_source_id VARCHAR)")
        return con

    def create(self, entity: str, rows: pa.Table, preserve_ids: bool = False) -> list[WriteResult]:
        con = self._connect()
        try:
            con.register("batch", rows)
            con.execute("CREATE OR REPLACE TEMP TABLE incoming AS SELECT *, row_number() OVER () AS _pos FROM batch")
            con.execute("ALTER TABLE incoming ADD COLUMN _error VARCHAR")
            for column, message in UNIQUE.get(entity, []):
                con.execute(f"""
                    UPDATE incoming SET _error = '{message}'
                    WHERE _error IS NULL AND {column} IS NOT NULL AND (
                        lower({column}) IN (SELECT lower({column}) FROM {entity} WHERE {column} IS NOT NULL)
                        OR _pos > (SELECT min(i2._pos) FROM incoming i2 WHERE lower(i2.{column}) = lower(incoming.{column})))""")
            con.execute("BEGIN")
            con.execute("ALTER TABLE incoming ADD COLUMN _id VARCHAR")
            if preserve_ids:  # the source id, where it is a number no record has yet
                con.execute(f"""
                    UPDATE incoming SET _id = source_id
                    WHERE _error IS NULL AND TRY_CAST(source_id AS BIGINT) > 0
                      AND source_id NOT IN (SELECT id FROM {entity})
                      AND _pos = (SELECT min(i2._pos) FROM incoming i2 WHERE i2.source_id = incoming.source_id)""")
            # New ids continue after the largest one (a single writer, so no race), never meeting a preserved id.
            con.execute(f"""
                UPDATE incoming SET _id = CAST(n.next_id AS VARCHAR)
                FROM (SELECT _pos, row_number() OVER (ORDER BY _pos) + greatest(
                        (SELECT coalesce(max(TRY_CAST(id AS BIGINT)), 0) FROM {entity}),
                        (SELECT coalesce(max(TRY_CAST(_id AS BIGINT)), 0) FROM incoming)) AS next_id
                      FROM incoming WHERE _error IS NULL AND _id IS NULL) n
                WHERE incoming._pos = n._pos""")
            columns = [c for c in rows.column_names if c != "source_id"]
            con.execute(f"INSERT INTO {entity} (id, {', '.join(columns)}, _source_id) "
                        f"SELECT _id, {', '.join(columns)}, source_id FROM incoming WHERE _error IS NULL")
            con.execute("COMMIT")
            out = con.execute("SELECT source_id, _id, _error FROM incoming ORDER BY _pos").fetchall()
        finally:
            con.close()
        return [WriteResult(sid, tid, err) for sid, tid, err in out]

    def update(self, entity: str, rows: pa.Table) -> list[WriteResult]:
        con = self._connect()
        try:
            con.register("batch", rows)
            columns = [c for c in rows.column_names if c not in ("source_id", "target_id")]
            assignments = ", ".join(f"{c} = batch.{c}" for c in columns)
            con.execute(f"UPDATE {entity} SET {assignments}, _source_id = batch.source_id FROM batch "
                        f"WHERE {entity}.id = batch.target_id")
            found = {r[0] for r in con.execute(
                f"SELECT id FROM {entity} WHERE id IN (SELECT target_id FROM batch)").fetchall()}
        finally:
            con.close()
        return [WriteResult(s, t, None if t in found else f"{entity} {t} no longer exists on the target")
                for s, t in zip(rows.column("source_id").to_pylist(), rows.column("target_id").to_pylist())]

    def find_existing(self, entity: str, source_ids: list[str]) -> dict[str, str]:
        if not source_ids:
            return {}
        con = self._connect()
        try:
            con.register("wanted", pa.table({"sid": pa.array(source_ids, pa.string())}))
            return dict(con.execute(
                f"SELECT _source_id, min(id) FROM {entity} WHERE _source_id IN (SELECT sid FROM wanted) GROUP BY 1"
            ).fetchall())
        finally:
            con.close()

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
