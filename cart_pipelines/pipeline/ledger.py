"""Per-record outcomes: every source record ends as loaded, skipped (by a named rule) or quarantined (with a reason).

Stages write their own rows (extract: quarantined, or deleted at the source since an earlier run; scope: skipped
as out of scope; transform: skipped by a rule or quarantined; load: loaded or rejected by the target). The ledger
closes when, for every entity, the source count equals loaded + skipped + quarantined + deleted. A record deleted
at the source stays in the ledger as `deleted` (action: kept_on_target, deleted_on_target or not_on_target) for as
long as the source lacks it; if it comes back, it is read and loaded again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

LOADED, SKIPPED, QUARANTINED, DELETED = "loaded", "skipped", "quarantined", "deleted"
KEPT_ON_TARGET, DELETED_ON_TARGET, NOT_ON_TARGET = "kept_on_target", "deleted_on_target", "not_on_target"
STAGES = ("extract", "scope", "transform", "load")
COLUMNS = ("entity", "source_id", "stage", "outcome", "rule", "reason", "action")
LEDGER_SCHEMA = pa.schema([(c, pa.string()) for c in COLUMNS])


def clear(con: duckdb.DuckDBPyConnection, entity: str, *stages: str) -> None:
    con.execute(
        f"DELETE FROM ledger WHERE entity = ? AND stage IN ({', '.join('?' for _ in stages)})", [entity, *stages]
    )


def record(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    """rows: (entity, source_id, stage, outcome, rule, reason, action)."""
    if rows:
        batch = pa.Table.from_pylist([dict(zip(COLUMNS, r)) for r in rows], schema=LEDGER_SCHEMA)
        con.register("_ledger_batch", batch)
        con.execute("INSERT INTO ledger SELECT * FROM _ledger_batch")
        con.unregister("_ledger_batch")


@dataclass
class Summary:
    entity: str
    source_records: int | None = None
    loaded: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)  # deleted at the source, by what happened on the target

    @property
    def deleted_total(self) -> int:
        return sum(self.deleted.values())

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    @property
    def accounted(self) -> int:
        return self.loaded + self.skipped_total + self.quarantined + self.deleted_total

    @property
    def closes(self) -> bool:
        return (self.source_records or 0) == self.accounted

    @property
    def writes(self) -> int:
        return self.created + self.updated

    def as_dict(self) -> dict:
        return {
            "entity": self.entity, "source": self.source_records, "loaded": self.loaded, "created": self.created,
            "updated": self.updated, "unchanged": self.unchanged, "skipped": self.skipped_total,
            "skipped_by_rule": dict(self.skipped), "quarantined": self.quarantined,
            "quarantine_reasons": dict(self.quarantine_reasons), "deleted_at_source": self.deleted_total,
            "deleted_on_target": self.deleted.get(DELETED_ON_TARGET, 0),
            "kept_on_target": self.deleted.get(KEPT_ON_TARGET, 0), "closes": self.closes,
        }


def summarize(con: duckdb.DuckDBPyConnection, entity: str, table: str = "ledger") -> Summary:
    """The entity's outcomes; `table` is another table shaped like the ledger (a backfill partition's own)."""
    s = Summary(entity)
    row = con.execute("SELECT source_records FROM source_counts WHERE entity = ?", [entity]).fetchone()
    s.source_records = row[0] if row else None
    for outcome, rule, action, reason, n in con.execute(
        "SELECT outcome, rule, action, CASE WHEN outcome = 'quarantined' THEN reason END, count(*) "
        f"FROM {table} WHERE entity = ? GROUP BY ALL", [entity]
    ).fetchall():
        if outcome == LOADED:
            s.loaded += n
            if action in ("created", "updated", "unchanged"):
                setattr(s, action, getattr(s, action) + n)
        elif outcome == DELETED:
            s.deleted[action or KEPT_ON_TARGET] = s.deleted.get(action or KEPT_ON_TARGET, 0) + n
        elif outcome == SKIPPED:
            s.skipped[rule] = s.skipped.get(rule, 0) + n
        else:
            s.quarantined += n
            s.quarantine_reasons[reason or "unknown"] = s.quarantine_reasons.get(reason or "unknown", 0) + n
    return s
