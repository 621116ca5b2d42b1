"""Shared by the API targets: values made JSON-ready for a platform, and a platform's records read back into
the local target's columns and types (so the same checks verify every target)."""

from __future__ import annotations

import json
import tempfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Iterable

import pyarrow as pa

from cart_pipelines.platforms.kit.duckdb_io import arrow_table, connect
from cart_pipelines.model.target_shape import TABLES


def json_ready(value):
    """Arrow values as JSON: money as strings with a point, times in ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, list):
        return [json_ready(v) for v in value]
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    return value


def as_target_table(entity: str, records: Iterable[dict]) -> pa.Table:
    """Records (with `id` and `_source_id`) as TABLES[entity] columns and types; DuckDB does the casting, and the
    records pass through a temporary file, not memory."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8") as fh:
        n = 0
        for r in records:
            fh.write(json.dumps(json_ready(r)) + "\n")
            n += 1
        fh.flush()
        con = connect(temp_parent=Path(fh.name).parent)  # bounded like every pipeline connection
        try:
            con.execute(f"CREATE TABLE t (id VARCHAR, {TABLES[entity]}, _source_id VARCHAR)")
            if n:
                cols = [r[0] for r in con.execute("DESCRIBE t").fetchall()]
                types = ", ".join(f"'{c}': '{t}'" for c, t in con.execute(
                    "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 't'").fetchall())
                con.execute(f"INSERT INTO t SELECT {', '.join(cols)} FROM read_json(?, columns = {{{types}}})",
                            [fh.name])
            return arrow_table(con, "SELECT * FROM t")
        finally:
            con.close()
