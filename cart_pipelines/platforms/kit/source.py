"""What every source offers the extract assets: records of one entity, in the canonical shape, one at a time."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class SourceRecord:
    """One record as the source gave it: a canonical-shaped dict, or the reason it could not be read."""

    ordinal: int
    record: dict | None
    error: str | None = None
    source_id: str | None = None


UNREADABLE = "_unreadable"


def read_record(platform: str, entity: str, fn, raw, *args, id_field: str = "id") -> dict:
    """`fn(raw, *args)`: one platform record mapped to the canonical shape, or, when the platform's record breaks
    the mapping (a missing key, text where a number belongs), a marker saying so: `as_source_record` turns it
    into a quarantine reason instead of a crash that would stop the whole entity. `id_field` names the
    platform's id (Magento's `entity_id`), so the quarantine row keeps the record's source id."""
    try:
        return fn(raw, *args)
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        rid = raw.get(id_field, raw.get("id")) if isinstance(raw, dict) else None
        return {UNREADABLE: f"{entity}: {platform} record {rid} could not be read ({type(exc).__name__}: {exc})",
                "source_id": None if rid is None else str(rid)}


def as_source_record(ordinal: int, rec: dict) -> SourceRecord:
    if UNREADABLE in rec:
        return SourceRecord(ordinal, None, rec[UNREADABLE], rec["source_id"])
    sid = rec.get("source_id")
    return SourceRecord(ordinal, rec, None, None if sid is None else str(sid))


class DeltaNotPossible(RuntimeError):
    """The source cannot tell what changed since the last migration."""


class SliceNotPossible(RuntimeError):
    """The platform has no filter that reads only one slice (a created-at window or an id range) of an entity."""


@dataclass(frozen=True)
class Slice:
    """A bounded part of one entity, as a backfill partition reads it: `field` is "created_at" (datetimes) or "id"
    (integers); `start` is included, `end` is not."""

    field: str
    start: datetime | int
    end: datetime | int

    def __post_init__(self):
        if self.field not in ("created_at", "id"):
            raise ValueError(f"slice: field {self.field!r} is not created_at or id")

    def contains(self, record: dict) -> bool:
        """Whether a canonical record falls in the slice (what a platform's filter must return)."""
        value = record.get("source_id" if self.field == "id" else "created_at")
        if value is None or value == "":
            return False
        try:
            value = int(value) if self.field == "id" else _utc(value)
        except (TypeError, ValueError):
            return False
        return self.start <= value < self.end

    def describe(self) -> str:
        fmt = (lambda v: v.isoformat()) if self.field == "created_at" else str  # noqa: E731
        return f"{self.field} in [{fmt(self.start)}, {fmt(self.end)})"


def _utc(value) -> datetime:
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def file_identity(path: str | os.PathLike) -> list:
    """What tells a file unchanged without reading it, as make and rsync trust: its resolved path, size and
    modification time (ns); with its inode and status-change time, which a replaced file or a restored modification
    time (`cp -p`, `touch -d`) changes too. [path, size, mtime_ns, inode, ctime_ns]."""
    real = Path(path).resolve()
    st = os.stat(real)
    return [str(real), st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns]


class SourceError(RuntimeError):
    """The source cannot be read at all (missing files, unreachable, wrong credentials); one clear sentence."""


class Source(ABC):
    platform: str = "unknown"
    supports_delta: bool = False
    #: What the user gives to connect (kit/credentials.py); defs/ builds the Dagster resource from it.
    CREDENTIALS: tuple = ()
    #: Which credential is the address connect() takes first; the rest go in its `credentials`.
    BASE_URL: str = "base_url"

    @classmethod
    def connect(cls, base_url: str, credentials: dict, verify=True, **options) -> "Source":
        raise NotImplementedError(f"{cls.__name__} does not connect to an address")

    @classmethod
    def from_credentials(cls, values: dict, verify=True) -> "Source":
        """Connect with the values of CREDENTIALS (as the resource holds them)."""
        values = dict(values)
        return cls.connect(values.pop(cls.BASE_URL), values, verify=verify)

    @abstractmethod
    def describe(self) -> str:
        """Where the data comes from, without secrets."""

    @abstractmethod
    def records(self, entity: str) -> Iterator[SourceRecord]:
        """Every record of `entity`, streamed."""

    def snapshot(self, entity: str) -> list | None:
        """What identifies `entity`'s data at the source as it is now, without reading it: the `file_identity` of
        each file a file source reads it from. None where the source cannot tell (a shop's API: its data changes
        without a sign), so it is read every time. A re-run whose snapshot equals the one the staged copy was read
        at keeps that copy (pipeline/reuse.py)."""
        return None

    def ids(self, entity: str) -> Iterator[str] | None:
        """Every id of `entity` the source has now, from an id-only listing (for finding deletions), or None where
        the platform offers no such listing. Costs about records / page size requests."""
        return None

    def has(self, entity: str) -> bool:
        """Whether the platform has this entity at all; connectors for platforms that lack some override it.
        (CARRIED in a connector module is narrower: the fields carried exactly, for the contract tests.)"""
        return True

    def records_in(self, entity: str, part: Slice) -> Iterator[SourceRecord]:
        """The records of one slice of `entity`, read with the platform's own filter (a backfill partition).
        Connectors whose platform has such a filter override this; the rest say so."""
        raise SliceNotPossible(f"{self.describe()} has no filter for {entity} by {part.field}: backfill "
                               f"partitions cannot be read from it; run full_migration instead")

    def id_bounds(self, entity: str) -> tuple[int, int | None, int | None]:
        """(count, lowest id, highest id) of `entity`, in a few requests: what plans id-range partitions."""
        raise SliceNotPossible(f"{self.describe()} cannot tell the count and id range of {entity} cheaply; "
                               f"give the highest id to plan partitions")

    def check_delta(self) -> None:
        if not self.supports_delta:
            raise DeltaNotPossible(
                f"{self.describe()} cannot run a delta (post-migration): a file export or database dump is a "
                "snapshot, so it cannot tell what changed since the full migration. Migrate from the shop's API "
                "for delta syncs, or take a new export and run a full migration."
            )


class ApiSource(Source):
    """A source whose constructor takes what connect() is given: its API address, the other credentials and the
    HTTP settings. Most REST platforms are built this way; the base keeps connect() for the rest."""

    @classmethod
    def connect(cls, base_url: str, credentials: dict, verify=True, settings=None) -> "Source":
        return cls(base_url, credentials, verify=verify, settings=settings)
