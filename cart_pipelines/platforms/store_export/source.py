"""A store export: a directory with one JSON Lines file per entity in the canonical schema (and a manifest).

This is how the bundled sample store ships, and how users migrate from a file export or database dump of their
shop (seed 001). An export is a snapshot, so a delta migration from it is impossible (`check_delta` says so).
A file has no server-side filter: a backfill slice reads the file and keeps the records inside the slice (lines that
cannot be parsed belong to no slice; a full migration reports them).
A leading byte-order mark and CRLF line ends are accepted; lines that are not valid UTF-8 or JSON (or nest too
deeply) are reported with their line number, never skipped silently.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from cart_pipelines.platforms.kit.source import Slice, Source, SourceError, SourceRecord


class StoreExport(Source):
    platform = "store_export"
    supports_delta = False

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def describe(self) -> str:
        return f"store export {self.path.name!r}"

    def file(self, entity: str) -> Path:
        return self.path / f"{entity}.jsonl"

    def manifest(self) -> dict:
        m = self.path / "manifest.json"
        return json.loads(m.read_text(encoding="utf-8")) if m.exists() else {}

    def check(self) -> str:
        if not self.path.is_dir():
            raise SourceError(f"store export: directory {str(self.path)!r} does not exist; set the source path")
        if not any(self.path.glob("*.jsonl")):
            raise SourceError(f"store export: {str(self.path)!r} holds no <entity>.jsonl files")
        return self.describe()

    def has(self, entity: str) -> bool:
        self.check()  # a missing or empty export is a configuration error, not a store without this entity
        return self.file(entity).exists()

    def records(self, entity: str) -> Iterator[SourceRecord]:
        self.check()
        path = self.file(entity)
        if not path.exists():
            return
        with open(path, "rb") as fh:
            for line_no, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                where = f"{path.name} line {line_no}"
                if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a byte-order mark (Windows tools write one)
                    raw = raw[3:]
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    yield SourceRecord(line_no, None, f"{where}: not valid UTF-8 (byte {exc.start})")
                    continue
                try:
                    record = json.loads(text, parse_float=Decimal)
                except json.JSONDecodeError as exc:
                    yield SourceRecord(line_no, None, f"{where}: malformed JSON ({exc.msg} at column {exc.colno})")
                    continue
                except RecursionError:
                    yield SourceRecord(line_no, None, f"{where}: JSON nested too deeply to read")
                    continue
                sid = record.get("source_id") if isinstance(record, dict) else None
                yield SourceRecord(line_no, record, None, None if sid is None else str(sid))

    def records_in(self, entity: str, part: Slice) -> Iterator[SourceRecord]:
        for rec in self.records(entity):
            if rec.record is not None and isinstance(rec.record, dict) and part.contains(rec.record):
                yield rec

    def id_bounds(self, entity: str) -> tuple[int, int | None, int | None]:
        ids = [int(r.source_id) for r in self.records(entity) if r.source_id is not None and r.source_id.isdigit()]
        return len(ids), min(ids, default=None), max(ids, default=None)
