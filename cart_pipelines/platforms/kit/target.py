"""The target interface every destination implements: create and update in batches, find, read back, clear.

Rows arrive as Arrow tables in the target's shape (see transform.py), with references already resolved to
target ids and a `source_id` column the target may keep as an external reference. A target answers every row
with a WriteResult: the target id, or the target's own error message (the record is then quarantined).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa

from cart_pipelines.platforms.kit.http import WriteUnconfirmed


@dataclass(frozen=True)
class WriteResult:
    source_id: str
    target_id: str | None
    error: str | None = None


class Target(ABC):
    #: Names the id-map namespace: two targets never share source-id → target-id entries.
    name: str = "target"
    #: Largest number of rows one create/update call takes.
    max_batch: int = 500
    #: Password-hash algorithms the target accepts; customers with others must reset their password.
    password_algorithms: tuple[str, ...] = ()

    #: Whether the target holds an order's refunds (read back as `refunds` / `refunded_total`); where it does not,
    #: the report lists the orders whose refunds were not carried and the money check compares gross totals only.
    holds_refunds: bool = False

    #: Whether the target holds 301 redirects itself (`redirects` writes them). Where it does not, the report's
    #: redirects.csv is the map and the rows are never read into Python.
    holds_redirects: bool = False
    #: Whether the target holds grouped products with their products (`child_ids`, target ids); where it does, a
    #: grouped product whose products did not load waits for them (quarantined, naming that). Elsewhere target
    #: rule grouped_as_simple_with_children_listed applies.
    holds_grouped: bool = False

    #: Whether create can keep the source's ids (option preserve_ids).
    can_preserve_ids: bool = False

    #: What the user gives to connect (kit/credentials.py); defs/ builds the Dagster resource from it.
    CREDENTIALS: tuple = ()
    #: Fields the platform holds as sent, per entity (what round-trip tests compare); the docs say why not others.
    COMPARABLE: dict[str, tuple[str, ...]] = {}
    #: Entities the platform cannot hold, and why (records of them are skipped by a named rule).
    UNAVAILABLE: dict[str, str] = {}

    @classmethod
    def from_credentials(cls, values: dict, data_dir: Path) -> "Target":
        """Open the target with the values of CREDENTIALS; `data_dir` holds files it keeps (tokens, references)."""
        raise NotImplementedError(f"{cls.__name__} declares no credentials")

    @classmethod
    def emulator_credentials(cls, handle, workdir: Path) -> dict:
        """CREDENTIALS values for a running emulator of this platform (tests and trials)."""
        return dict(handle.credentials)

    def has(self, entity: str) -> bool:
        """Whether the target platform holds this entity at all; records of entities it lacks are skipped by the
        rule `target_lacks_entity`, and links to them are left out."""
        return True

    @abstractmethod
    def create(self, entity: str, rows: pa.Table, preserve_ids: bool = False) -> list[WriteResult]: ...

    @abstractmethod
    def update(self, entity: str, rows: pa.Table) -> list[WriteResult]:
        """rows carry `target_id`."""

    @abstractmethod
    def find_existing(self, entity: str, source_ids: list[str]) -> dict[str, str]:
        """Target ids of records an earlier, interrupted load created but did not record in the id map."""

    @abstractmethod
    def scan(self, entity: str) -> pa.Table:
        """Everything the target holds for `entity` (read back for verification)."""

    @abstractmethod
    def count(self, entity: str) -> int: ...

    @abstractmethod
    def clear(self, entities: list[str]) -> dict[str, int]:
        """Delete current data of these entities; returns rows deleted per entity."""

    def attached(self, con):
        """A target held in a DuckDB file can attach its tables to the catalog connection `con`: a context manager
        yielding a writer with create(entity, rows_sql, preserve_ids) / update(entity, rows_sql) (each returning a
        temp table of answers: source_id, target_id, error), existing(entity, source_ids_sql) and
        delete(entity, target_ids_sql), so a load writes whole entities set-based. None (the default): the load
        streams rows to create/update in batches of max_batch."""
        return None

    def delete(self, entity: str, target_ids: list[str]) -> int:
        """Delete these records (deleted at the source; option delete_on_target); returns how many went."""
        raise NotImplementedError(f"{self.describe()} cannot delete single records through its interface yet; "
                                  f"leave delete_on_target off (deleted records are then reported and kept)")

    def describe(self) -> str:
        return self.name

    def redirects(self, rows: list[tuple]) -> int:
        """Write (old URL, new URL, entity, source id) 301s where the platform holds redirects; returns how many
        it wrote. Default: none (the report's redirects.csv is the map)."""
        return 0

    def create_confirmed(self, entity: str, rows: list[dict], send: Callable[[list[dict]], list[WriteResult]],
                         attempts: int = 12) -> list[WriteResult]:
        """`send(rows)` (a create that the HTTP client does not retry blindly); when its answer is lost, the rows
        may exist anyway: those found by source id are adopted, and only the rest are sent again — so a 5xx after
        the write, a dropped connection or a timeout never creates a record twice. A run again that finds records
        the lost one wrote made progress: only runs without progress count against `attempts` (rows only shrink,
        so this ends)."""
        done: list[WriteResult] = []
        found_any = False

        def attempt(again: bool) -> list[WriteResult]:
            nonlocal rows, found_any
            if again:
                found = self.find_existing(entity, [r["source_id"] for r in rows])
                done.extend(WriteResult(sid, tid) for sid, tid in found.items())
                rows = [r for r in rows if r["source_id"] not in found]
                found_any = bool(found)
            return done + (send(rows) if rows else [])

        return until_confirmed(attempt, attempts, progressed=lambda: found_any)


def until_confirmed(work: Callable[[bool], list], attempts: int = 12,
                    progressed: Callable[[], bool] = lambda: False) -> list:
    """`work(again)`, a write that converges when run again after a lost answer (with `again` it first reads what
    exists): on WriteUnconfirmed it waits and runs again, so nothing is ever resent blindly. It gives up (the step
    fails; a re-run resumes) after `attempts` lost answers in a row, about 36 s of waiting at twelve; a run whose
    reads found that the previous one was applied in part (`progressed`) starts the count again."""
    again, failures = False, 0
    while True:
        try:
            return work(again)
        except WriteUnconfirmed:
            failures = 1 if progressed() else failures + 1
            if failures >= attempts:
                raise
            again = True
            time.sleep(min(5.0, 0.2 * 2 ** (failures - 1)))
