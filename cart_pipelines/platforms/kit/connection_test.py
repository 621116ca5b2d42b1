"""Connection verification (seed 002 "Verification"): one authenticated request and one record, explained.

Failures are expected here and read as advice: wrong credentials → which fields to re-check; missing permission →
which scope to grant; 429 or blocked IP → rate limit or allow-listing; unreachable → the URL. No stack traces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice

from cart_pipelines.platforms.kit.oauth import OAuthError
from cart_pipelines.platforms.kit.source import Source, SourceError
from cart_pipelines.platforms.kit.target import Target

MASKED = {"password_hash"}  # treated as secrets in previews and logs


@dataclass
class Verification:
    ok: bool
    source: str
    message: str
    kind: str = "ok"
    preview: list[dict] = field(default_factory=list)


def masked(record: dict) -> dict:
    return {k: ("***" if k in MASKED and v else v) for k, v in record.items()}


def verify_source(source: Source, entity: str = "products", limit: int = 1) -> Verification:
    try:
        about = source.check() if hasattr(source, "check") and callable(source.check) else source.describe()
        rows = [masked(r.record) for r in islice(source.records(entity), limit) if r.record is not None]
    except SourceError as exc:
        return Verification(False, source.describe(), str(exc), getattr(exc, "kind", "source"))
    what = f"{len(rows)} {entity} record(s) read" if rows else f"connected; the shop has no {entity}"
    return Verification(True, source.describe(), f"{about or source.describe()}: {what}", preview=rows)


def verify_target(target: Target, entity: str = "products") -> Verification:
    """The target's side of seed 002's verification: an authenticated read (how many `entity` it holds now).
    Write permission shows at the first write, where a refusal names the permission to add."""
    try:
        n = target.count(entity)
    except (SourceError, OAuthError) as exc:
        return Verification(False, target.describe(), str(exc), getattr(exc, "kind", "target"))
    return Verification(True, target.describe(), f"{target.describe()}: connected; it holds {n} {entity} now")
