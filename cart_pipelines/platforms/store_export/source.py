"""A store export: a directory with one JSON Lines file per entity in the canonical schema (and a manifest).

This is how the bundled sample store ships, and how users migrate from a file export or database dump of their
shop (seed 001). An export is a snapshot, so a delta migration from it is impossible (`check_delta` says so).
A file has no server-side filter: a backfill slice reads the file and keeps the records inside the slice (lines that
cannot be parsed belong to no slice; a full migration reports them).

What a file may look like: `<entity>.jsonl`, or compressed as `<entity>.jsonl.gz` or `<entity>.jsonl.zst`; UTF-8
(a leading byte-order mark is accepted), or UTF-16 with its byte-order mark; lines ended by LF, CRLF or a lone CR.
Lines that are not valid UTF-8 or JSON (or nest too deeply, hold a number too long to read, or write one key twice)
are reported with their line number, never skipped silently. A file that cannot be read at all (a directory, no
permission, damaged compression, UTF-16 without a byte-order mark) stops the run with one sentence naming it; files
that are not an entity's (`coupons.jsonl`) are listed by `unread_files` and in the migration report.

The file is framed into lines here, in 1 MB chunks, as Arrow batches (`line_batches`): the pipeline parses and
coerces them set-based in DuckDB (pipeline/extract_lines.py) and hands the lines DuckDB cannot vouch for back to
`line_record`, the same reader `records` uses one line at a time (backfill slices, id bounds).
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import re
import zlib
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import pyarrow as pa
from isal import igzip, isal_zlib

from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.platforms.kit.source import Slice, Source, SourceError, SourceRecord, file_identity

SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst")
KNOWN_FILES = {"manifest.json"}
CHUNK = 1 << 20
# Python refuses to turn longer digit strings into int (CVE-2020-10735); such a number is read as a Decimal so the
# field it sits in is named by the quarantine reason ("stock: ... is too large").
MAX_INT_DIGITS = 4000
_NEWLINE = re.compile(rb"\r\n|\r|\n")


class DuplicateKey(ValueError):
    """A JSON object writes one key twice; which value was meant cannot be known."""


def _pairs(pairs: list[tuple]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise DuplicateKey(twice)
    return out


def _parse_int(text: str):
    return int(text) if len(text.lstrip("-")) <= MAX_INT_DIGITS else Decimal(text)


def _loads(text: str):
    return json.loads(text, parse_float=Decimal, parse_int=_parse_int, object_pairs_hook=_pairs)


class StoreExport(Source):
    platform = "store_export"
    supports_delta = False

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def describe(self) -> str:
        return f"store export {self.path.name!r}"

    def files(self, entity: str) -> list[Path]:
        """The entity's files present in the export (normally none or one)."""
        return [p for p in (self.path / f"{entity}{s}" for s in SUFFIXES) if os.path.lexists(p)]

    def file(self, entity: str) -> Path:
        found = self.files(entity)
        return found[0] if found else self.path / f"{entity}.jsonl"

    def manifest(self) -> dict:
        m = self.path / "manifest.json"
        return json.loads(m.read_text(encoding="utf-8")) if m.exists() else {}

    def check(self) -> str:
        if not self.path.is_dir():
            raise SourceError(f"store export: directory {str(self.path)!r} does not exist; set the source path")
        if not any(self.files(e) for e in ENTITY_NAMES):
            raise SourceError(f"store export: {str(self.path)!r} holds no <entity>.jsonl files")
        for entity in ENTITY_NAMES:
            found = self.files(entity)
            if len(found) > 1:
                raise SourceError(f"store export: {entity} is in {' and '.join(p.name for p in found)}; keep one "
                                  f"of them (which is newer cannot be told)")
            for path in found:
                if path.is_dir():
                    raise SourceError(f"store export: {path.name} is a directory, not a file")
                if not path.is_file():
                    raise SourceError(f"store export: {path.name} is not a regular file (a broken link?)")
                if not os.access(path, os.R_OK):
                    raise SourceError(f"store export: {path.name} cannot be read (permission denied)")
        return self.describe()

    def unread_files(self) -> list[tuple[str, str]]:
        """Files in the export that no entity reads, with why: (name, reason). Hidden files are left out."""
        if not self.path.is_dir():
            return []
        wanted = {f"{e}{s}" for e in ENTITY_NAMES for s in SUFFIXES} | KNOWN_FILES
        out = []
        for p in sorted(self.path.iterdir()):
            if p.name in wanted or p.name.startswith("."):
                continue
            stem = p.name.split(".")[0]
            if stem.lower() in ENTITY_NAMES:
                why = (f"not read: an entity file is named {stem.lower()}.jsonl (or .jsonl.gz, .jsonl.zst)")
            else:
                why = f"not read: {stem!r} is no entity of the canonical model ({', '.join(ENTITY_NAMES)})"
            out.append((p.name, why))
        return out

    def snapshot(self, entity: str) -> list:
        """The identity of the entity's file (none where the export has none): an unchanged file is not read again
        on a re-run (pipeline/reuse.py)."""
        self.check()
        return [file_identity(p) for p in self.files(entity)]

    def has(self, entity: str) -> bool:
        self.check()  # a missing or empty export is a configuration error, not a store without this entity
        return bool(self.files(entity))

    def _open(self, path: Path) -> BinaryIO:
        try:
            if path.name.endswith(".gz"):
                return igzip.open(path, "rb")  # ISA-L: zlib's format, inflated 3-4x faster
            if path.name.endswith(".zst"):
                try:
                    import zstandard
                except ImportError:  # an optional dependency
                    raise SourceError(f"store export: {path.name} is compressed with zstd; install the zstandard "
                                      f"package, or decompress it (zstd -d)") from None
                return _ZstdReader(zstandard.ZstdDecompressor(), open(path, "rb"))
            return open(path, "rb")
        except OSError as exc:
            raise SourceError(f"store export: {path.name} cannot be read ({exc.strerror or exc})") from None

    def line_batches(self, entity: str) -> Iterator[pa.Table]:
        """The entity's file as Arrow batches of lines (`ordinal`: the line number, `raw`: its bytes, UTF-8 except
        where the file itself is not; `line`: the same as text, null where it is not valid UTF-8), blank lines
        included, whatever the compression, byte-order mark or line ends. A file that breaks off raises SourceError
        naming it. The set-based extraction reads these; `records` is the same lines one at a time."""
        self.check()
        found = self.files(entity)
        if found:
            yield from self._batches(found[0])

    def line_record(self, entity: str, line_no: int, raw: bytes) -> SourceRecord:
        """One line of the entity's file as the record it holds, or the reason it cannot be read."""
        return read_line(self.file(entity).name, line_no, raw)

    def _batches(self, path: Path) -> Iterator[pa.Table]:
        fh = self._open(path)
        line_no = 0
        try:
            first = fh.read(CHUNK)
            decoder = None
            if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                decoder = codecs.getincrementaldecoder("utf-16")("strict")
            elif first.startswith(codecs.BOM_UTF8):
                first = first[3:]
            elif len(first) >= 4 and (first[1:4:2] == b"\0\0" or first[0:4:2] == b"\0\0"):
                raise SourceError(f"store export: {path.name} looks like UTF-16 without a byte-order mark; save it "
                                  f"as UTF-8 (or UTF-16 with a byte-order mark)")
            raw, buf = first, b""
            while True:
                chunk = raw
                if decoder is not None:
                    try:
                        chunk = decoder.decode(raw, final=not raw).encode("utf-8", "surrogatepass")
                    except UnicodeDecodeError as exc:
                        raise SourceError(f"store export: {path.name} is not valid UTF-16 after line {line_no} "
                                          f"({exc.reason})") from None
                buf += chunk
                if not raw:
                    break
                # A CR at the end may be the first half of a CRLF: it waits for the next chunk.
                cut = len(buf) - 1 if buf.endswith(b"\r") else len(buf)
                text = _NEWLINE.sub(b"\n", buf[:cut]) if b"\r" in buf[:cut] else buf[:cut]
                end = text.rfind(b"\n") + 1
                buf = text[end:] + buf[cut:]
                if end:
                    batch = _batch(text[:end], line_no)
                    line_no += batch.num_rows
                    yield batch
                raw = fh.read(CHUNK)
            text = _NEWLINE.sub(b"\n", buf)
            if text and not text.endswith(b"\n"):
                text += b"\n"
            if text:
                yield _batch(text, line_no)
        except (EOFError, zlib.error, isal_zlib.error, gzip.BadGzipFile) as exc:  # igzip raises gzip's
            raise SourceError(f"store export: {path.name} is damaged or cut short after line {line_no} "
                              f"({exc})") from None
        except OSError as exc:
            raise SourceError(f"store export: {path.name} could not be read after line {line_no} "
                              f"({exc.strerror or exc})") from None
        except Exception as exc:  # zstandard.ZstdError and the like: still one sentence naming the file
            if isinstance(exc, SourceError):
                raise
            raise SourceError(f"store export: {path.name} is damaged after line {line_no} "
                              f"({type(exc).__name__}: {exc})") from None
        finally:
            fh.close()

    def records(self, entity: str) -> Iterator[SourceRecord]:
        for batch in self.line_batches(entity):
            for line_no, raw in zip(batch.column("ordinal").to_pylist(), batch.column("raw").to_pylist()):
                if raw.strip():
                    yield self.line_record(entity, line_no, raw)

    def records_in(self, entity: str, part: Slice) -> Iterator[SourceRecord]:
        for rec in self.records(entity):
            if rec.record is not None and isinstance(rec.record, dict) and part.contains(rec.record):
                yield rec

    def id_bounds(self, entity: str) -> tuple[int, int | None, int | None]:
        ids = [int(r.source_id) for r in self.records(entity) if r.source_id is not None and r.source_id.isdigit()]
        return len(ids), min(ids, default=None), max(ids, default=None)


def read_line(name: str, line_no: int, raw: bytes) -> SourceRecord:
    """One line of `name` as the record it holds, or the reason it cannot be read."""
    where = f"{name} line {line_no}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return SourceRecord(line_no, None, f"{where}: not valid UTF-8 (byte {exc.start})")
    try:
        record = _loads(text)
    except json.JSONDecodeError as exc:
        return SourceRecord(line_no, None, f"{where}: malformed JSON ({exc.msg} at column {exc.colno})")
    except DuplicateKey as exc:
        return SourceRecord(line_no, None, f"{where}: key {str(exc)!r} is written twice in one object; "
                                           f"which value is meant cannot be told", _sid_of(text))
    except RecursionError:
        return SourceRecord(line_no, None, f"{where}: JSON nested too deeply to read")
    except ValueError as exc:  # anything else json refuses to turn into values
        return SourceRecord(line_no, None, f"{where}: JSON that cannot be read ({str(exc)[:120]})")
    sid = record.get("source_id") if isinstance(record, dict) else None
    return SourceRecord(line_no, record, None, None if sid is None else str(sid))


def _batch(text: bytes, before: int) -> pa.Table:
    """Complete lines (each ended by LF) as one batch: their bytes without the LFs, sliced by offsets found with
    numpy, so no Python object is made per line; numbered from `before` + 1."""
    ends = np.flatnonzero(np.frombuffer(text, np.uint8) == 10)
    n = len(ends)
    data = text.replace(b"\n", b"")
    offsets = np.empty(n + 1, np.int64)
    offsets[0] = 0
    offsets[1:] = ends - np.arange(n)
    raw = pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    line = raw.view(pa.large_string())
    try:
        # Arrow checks each line on its own (a sequence cut at a line end does not join the next line's bytes),
        # without making a Python string of the chunk
        line.validate(full=True)
    except pa.ArrowInvalid:  # some line is not UTF-8: those lines have no text (their reason comes from raw)
        line = pa.array([_utf8(b) for b in raw.to_pylist()], pa.large_string())
    ordinal = pa.array(np.arange(before + 1, before + n + 1, dtype=np.int64))
    return pa.table({"ordinal": ordinal, "raw": raw, "line": line})


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _sid_of(text: str) -> str | None:
    """The top-level source_id of a line whose object repeats a key, read without the duplicate check (the ledger
    row then names the record); None where it has none or it is repeated itself."""
    try:
        record = json.loads(text, parse_float=Decimal, parse_int=_parse_int)
    except (ValueError, RecursionError):
        return None
    sid = record.get("source_id") if isinstance(record, dict) else None
    return None if sid is None or isinstance(sid, (dict, list)) else str(sid)


class _ZstdReader:
    """A zstd file read frame after frame that raises EOFError when the file ends inside a frame: zstandard's own
    stream_reader returns a cut-off file's lines without a word, so a truncated export would lose them silently."""

    def __init__(self, decompressor, fh: BinaryIO):
        self._decompressor, self._fh = decompressor, fh
        self._obj = decompressor.decompressobj()
        self._started = False  # input fed to the current frame

    def read(self, size: int) -> bytes:
        while True:
            data = self._fh.read(size)
            if not data:
                if self._started and not self._obj.eof:
                    raise EOFError("the zstd stream ends inside a frame")
                return b""
            out = b""
            while data:
                if self._obj.eof:  # the next frame of a multi-frame file
                    self._obj = self._decompressor.decompressobj()
                out += self._obj.decompress(data)
                self._started = True
                data = self._obj.unused_data if self._obj.eof else b""
            if out:
                return out

    def close(self) -> None:
        self._fh.close()
