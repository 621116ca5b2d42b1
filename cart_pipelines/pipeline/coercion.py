"""One source record to a canonical row or its quarantine reason, and rows to an Arrow table: what the per-record
extraction and the set-based one's Python remainder share."""

from __future__ import annotations

import pyarrow as pa

from cart_pipelines.model.coerce import Invalid, coerce_record
from cart_pipelines.platforms.kit.source import SourceRecord


def coerce_source_record(rec: SourceRecord, canonical: pa.Schema) -> tuple[dict | None, str | None]:
    """(row, None), or (None, why the record cannot be staged)."""
    if rec.error is not None:
        return None, rec.error
    try:
        return coerce_record(rec.record, canonical), None
    except Invalid as exc:
        return None, str(exc)
    except Exception as exc:  # no defect of one record may stop the entity: it is quarantined
        return None, f"record could not be read ({type(exc).__name__}: {str(exc)[:200]})"


def rows_table(rows: list[dict], schema: pa.Schema, refused: list[tuple[str, str]]) -> pa.Table:
    """Rows as a table of `schema`. Coercion bounds every value, so Arrow accepts them; should it still refuse
    the batch, the rows it refuses are found one by one and added to `refused` as (source_id, reason)."""
    try:
        return pa.Table.from_pylist(rows, schema=schema)
    except (pa.ArrowException, OverflowError, ValueError, TypeError):
        pass
    good = []
    for row in rows:
        try:
            pa.Table.from_pylist([row], schema=schema)
            good.append(row)
        except (pa.ArrowException, OverflowError, ValueError, TypeError) as exc:
            refused.append((row["source_id"],
                            f"record does not fit the canonical model ({type(exc).__name__}: {str(exc)[:200]})"))
    return pa.Table.from_pylist(good, schema=schema)
