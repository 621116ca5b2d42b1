"""DuckDB helpers shared by the pipeline and the DuckDB-backed parts of platforms (the local target, read-backs):
opening a connection within explicit bounds, opening a file another process may hold, and query results as Arrow,
whole or in batches."""

from __future__ import annotations

import multiprocessing
import os
import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random_exponential

# How long a step waits for another process to release the catalog ($CART_CATALOG_LOCK_WAIT seconds). A load
# into a rate-limited API can hold it for a long time, so the default is generous.
LOCK_WAIT_SECONDS = 3600.0
# Every connection the pipeline opens is bounded here, so a big store spills to disk instead of growing the
# process: $CART_DUCKDB_MEMORY_LIMIT (a DuckDB size), $CART_DUCKDB_THREADS; spill files go next to the database
# (or to the given directory), never to the working directory.
MEMORY_LIMIT = "512MB"
THREADS = 2
TEMP_DIRECTORY = ".duckdb_tmp"


def bounds(temp_parent: Path | None = None) -> dict:
    """The DuckDB settings every pipeline connection opens with."""
    config = {"memory_limit": os.environ.get("CART_DUCKDB_MEMORY_LIMIT") or MEMORY_LIMIT,
              "threads": int(os.environ.get("CART_DUCKDB_THREADS") or THREADS)}
    if temp_parent is not None:
        config["temp_directory"] = str(Path(temp_parent) / TEMP_DIRECTORY)
    return config


def connect(path: Path | str | None = None, read_only: bool = False,
            temp_parent: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A connection to the DuckDB file `path` (in memory without one) within `bounds`; spill files go to
    `temp_parent` (default: the file's directory)."""
    if temp_parent is None and path is not None:
        temp_parent = Path(path).resolve().parent
    return duckdb.connect(":memory:" if path is None else str(path), read_only=read_only,
                          config=bounds(temp_parent))


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.IOException) and "Could not set lock" in str(exc)


def _waiting(what, path: Path, wait_seconds: float | None):
    """`what()`, retried while another process holds the lock of the DuckDB file at `path`."""
    if wait_seconds is None:
        wait_seconds = float(os.environ.get("CART_CATALOG_LOCK_WAIT") or LOCK_WAIT_SECONDS)
    retrying = Retrying(retry=retry_if_exception(_locked), wait=wait_random_exponential(multiplier=0.05, max=2),
                        stop=stop_after_delay(wait_seconds), reraise=True)
    try:
        return retrying(what)
    except duckdb.IOException as exc:
        if _locked(exc):
            raise RuntimeError(f"the DuckDB file {Path(path).name} stayed locked by another process for "
                               f"{wait_seconds:.0f} s (CART_CATALOG_LOCK_WAIT): {exc}") from None
        raise


def open_catalog(path: Path, read_only: bool = False, wait_seconds: float | None = None) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, waiting while another process holds its lock (DuckDB allows one writer process).
    While the process holds its files (`holding`), a connection to the file's held instance (read-write)."""
    with _held_lock:
        if _held is not None:
            key = str(Path(path).resolve())
            if key not in _held:
                _held[key] = _waiting(lambda: connect(path), path, wait_seconds)
            return _held[key].cursor()
    return _waiting(lambda: connect(path, read_only=read_only), path, wait_seconds)


# Opening a DuckDB file costs ~20-40 ms of DuckDB 2's start-up (its built-in catalog), and a migration's steps open
# the catalog and the local target ~90 times. A run in one process may keep each file's instance open for its
# whole length (`holding`, $CART_DUCKDB_HOLD=run): every open is then a new connection to that instance. The cost:
# no other process can open the file until the run ends, so parallel runs of partitions take turns by run instead
# of by step — which is why it is not the default. Only for in-process execution: a step process of the
# multiprocess or Celery executor holding the catalog for its whole step would serialize the steps.
_held: dict[str, duckdb.DuckDBPyConnection] | None = None
_held_done: set[tuple[str, str]] = set()  # (file, what) done once in the hold, kept when a file is released
_held_depth = 0
_held_lock = threading.RLock()


def hold_wanted() -> bool:
    """Whether runs of this process hold their DuckDB files ($CART_DUCKDB_HOLD=run, in-process execution)."""
    return (os.environ.get("CART_DUCKDB_HOLD", "").strip().lower() == "run"
            and os.environ.get("CART_EXECUTOR", "in_process") == "in_process"
            and multiprocessing.parent_process() is None)


def run_hold():
    """`holding()` where this process's runs hold their files (`hold_wanted`), else a block that holds nothing."""
    return holding() if hold_wanted() else nullcontext()


@contextmanager
def holding() -> Iterator[None]:
    """Keep every DuckDB file `open_catalog` opens inside the block open until the outermost block ends."""
    global _held, _held_depth
    with _held_lock:
        _held_depth += 1
        if _held is None:
            _held = {}
    try:
        yield
    finally:
        with _held_lock:
            _held_depth -= 1
            if _held_depth == 0:
                held, _held = _held, None
                _held_done.clear()
                for con in held.values():
                    con.close()


def release(path: Path) -> None:
    """Close the held instance of `path` (its other connections must be closed): ATTACH refuses a file another
    instance of this process has open."""
    with _held_lock:
        if _held is not None:
            con = _held.pop(str(Path(path).resolve()), None)
            if con is not None:
                con.close()


def first_in_hold(path: Path, what: str) -> bool:
    """False when `what` (schema DDL, say) was done on `path` already in this hold, so it need not be repeated on
    each connection; True otherwise (always when nothing is held), and remembered."""
    with _held_lock:
        if _held is None:
            return True
        key = (str(Path(path).resolve()), what)
        if key in _held_done:
            return False
        _held_done.add(key)
        return True


def attach(con: duckdb.DuckDBPyConnection, path: Path, alias: str, read_only: bool = False,
           wait_seconds: float | None = None, row_group_size: int | None = None) -> None:
    """ATTACH another DuckDB file to `con` as `alias`, waiting like open_catalog while another process holds it;
    `row_group_size` for the row groups written to it while attached (DuckDB's default otherwise)."""
    release(path)
    literal = str(path).replace("'", "''")
    options = ["READ_ONLY"] if read_only else []
    if row_group_size:
        options.append(f"ROW_GROUP_SIZE {int(row_group_size)}")
    mode = f" ({', '.join(options)})" if options else ""
    _waiting(lambda: con.execute(f"ATTACH '{literal}' AS {alias}{mode}"), path, wait_seconds)


def cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A second connection to the same catalog (to stream one query while writing with the first) that resolves
    names as the first does: a cursor starts with the default search path, and backfills set their own."""
    cur = con.cursor()
    path = con.execute("SELECT current_setting('search_path')").fetchall()[0][0]
    if path:
        cur.execute(f"SET search_path = '{path}'")
    return cur


def arrow_table(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> pa.Table:
    """A query's whole result as Arrow."""
    rel = con.sql(sql, params=_used(sql, params))
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()


def arrow_batches(con: duckdb.DuckDBPyConnection, sql: str, params, rows: int) -> pa.RecordBatchReader:
    """A query's result streamed in record batches of at most `rows` rows."""
    rel = con.sql(sql, params=_used(sql, params))
    return rel.to_arrow_reader(rows) if hasattr(rel, "to_arrow_reader") else rel.record_batch(rows)


def _used(sql: str, params):
    """Only the named parameters the query mentions: DuckDB rejects extra ones."""
    if isinstance(params, dict):
        return {k: v for k, v in params.items() if f"${k}" in sql} or None
    return params


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def drop_primary_keys(con: duckdb.DuckDBPyConnection, tables: list[str] | tuple[str, ...]) -> list[str]:
    """Rebuild those of `tables` (in the connection's own database, schema main) that a file of an earlier version
    made with a PRIMARY KEY, without it; returns their names. Every row insert into a keyed table maintains its ART
    index (and loads it into memory whole), which is paid for nothing where the writer guarantees uniqueness by
    construction. DuckDB cannot drop a constraint, so the table is copied in one transaction into a new one with the
    same columns in the same order, types, defaults and NOT NULLs (the key's columns stay NOT NULL), then renamed."""
    keyed = [t for (t,) in con.execute(
        "SELECT DISTINCT table_name FROM duckdb_constraints() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND constraint_type = 'PRIMARY KEY' AND list_contains(?, table_name)",
        [list(tables)]).fetchall()]
    for table in keyed:
        columns = con.execute(
            "SELECT column_name, data_type, column_default, is_nullable FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ? "
            "ORDER BY column_index", [table]).fetchall()
        ddl = ", ".join(f"{quote(name)} {type_}" + (f" DEFAULT {default}" if default is not None else "")
                        + ("" if nullable else " NOT NULL") for name, type_, default, nullable in columns)
        con.execute("BEGIN TRANSACTION")
        try:
            rebuilt = quote(f"_{table}_rebuilt")
            con.execute(f"CREATE TABLE {rebuilt} ({ddl})")
            con.execute(f"INSERT INTO {rebuilt} SELECT * FROM {quote(table)}")
            con.execute(f"DROP TABLE {quote(table)}")
            con.execute(f"ALTER TABLE {rebuilt} RENAME TO {quote(table)}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return keyed
