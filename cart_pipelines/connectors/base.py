"""What every source offers the extract assets: records of one entity, in the canonical shape, one at a time."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class SourceRecord:
    """One record as the source gave it: a canonical-shaped dict, or the reason it could not be read."""

    ordinal: int
    record: dict | None
    error: str | None = None
    source_id: str | None = None


class DeltaNotPossible(RuntimeError):
    """The source cannot tell what changed since the last migration."""


class SourceError(RuntimeError):
    """The source cannot be read at all (missing files, unreachable, wrong credentials); one clear sentence."""


class Source(ABC):
    platform: str = "unknown"
    supports_delta: bool = False

    @abstractmethod
    def describe(self) -> str:
        """Where the data comes from, without secrets."""

    @abstractmethod
    def records(self, entity: str) -> Iterator[SourceRecord]:
        """Every record of `entity`, streamed."""

    def ids(self, entity: str) -> Iterator[str] | None:
        """Every id of `entity` the source has now, from an id-only listing (for finding deletions), or None where
        the platform offers no such listing. Costs about records / page size requests."""
        return None

    def has(self, entity: str) -> bool:
        """Whether the platform has this entity at all; connectors for platforms that lack some override it.
        (CARRIED in a connector module is narrower: the fields carried exactly, for the contract tests.)"""
        return True

    def check_delta(self) -> None:
        if not self.supports_delta:
            raise DeltaNotPossible(
                f"{self.describe()} cannot run a delta (post-migration): a file export or database dump is a "
                "snapshot, so it cannot tell what changed since the full migration. Migrate from the shop's API "
                "for delta syncs, or take a new export and run a full migration."
            )
