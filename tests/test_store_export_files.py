"""How a store export's files are read: compression, encodings, line ends at any chunk boundary, and the one
sentence naming the file when it cannot be read (issue 15). Whole migrations of these cases are in the bad-input
corpus (tests/reliability/corpus.py); these pin the reader itself."""

from __future__ import annotations

import codecs
import gzip
import json
import os

import pytest
import zstandard

from cart_pipelines.platforms.kit.source import SourceError
from cart_pipelines.platforms.store_export import source as store_export
from cart_pipelines.platforms.store_export.source import StoreExport

RECORDS = [{"source_id": str(i), "name": f"Vare {i} ø"} for i in range(1, 40)]


def _export(tmp_path, data: bytes, name: str = "products.jsonl"):
    (tmp_path / name).write_bytes(data)
    return StoreExport(tmp_path)


def _text(sep: str = "\n") -> str:
    return sep.join(json.dumps(r, ensure_ascii=False) for r in RECORDS) + sep


def _read(src, entity="products"):
    return [(r.ordinal, r.record, r.error) for r in src.records(entity)]


@pytest.mark.parametrize("sep", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("chunk", [1, 2, 7, 1 << 20])
def test_line_ends_at_any_chunk_boundary(tmp_path, monkeypatch, sep, chunk):
    monkeypatch.setattr(store_export, "CHUNK", chunk)
    got = _read(_export(tmp_path, _text(sep).encode()))
    assert [rec for _, rec, _ in got] == RECORDS
    assert [n for n, _, _ in got] == list(range(1, len(RECORDS) + 1))  # line numbers as an editor counts them


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_with_byte_order_mark(tmp_path, monkeypatch, encoding):
    monkeypatch.setattr(store_export, "CHUNK", 5)  # odd: a code unit split between chunks
    data = _text().encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    assert [rec for _, rec, _ in _read(_export(tmp_path, data))] == RECORDS


@pytest.mark.parametrize("suffix, pack", [(".gz", gzip.compress),
                                          (".zst", lambda b: zstandard.ZstdCompressor().compress(b))])
def test_compressed_files_are_read(tmp_path, suffix, pack):
    src = _export(tmp_path, pack(_text().encode()), f"products.jsonl{suffix}")
    assert src.has("products") and [rec for _, rec, _ in _read(src)] == RECORDS


@pytest.mark.parametrize("suffix, pack", [(".gz", gzip.compress),
                                          (".zst", lambda b: zstandard.ZstdCompressor().compress(b))])
def test_damaged_compression_is_one_sentence_naming_the_file(tmp_path, suffix, pack):
    src = _export(tmp_path, pack(_text().encode())[:-30], f"products.jsonl{suffix}")
    with pytest.raises(SourceError, match=rf"products\.jsonl\{suffix} is damaged or cut short after line \d+"):
        _read(src)


def test_a_zstd_export_of_several_frames_is_read_whole(tmp_path):
    """zstd files written in pieces (zstd of concatenated files, multi-threaded compressors) hold several
    frames: every frame's lines are read, and only a frame cut short is damage."""
    text = _text().encode()
    cut = text.index(b"\n") + 1
    packed = zstandard.ZstdCompressor().compress(text[:cut]) + zstandard.ZstdCompressor().compress(text[cut:])
    src = _export(tmp_path, packed, "products.jsonl.zst")
    assert [rec for _, rec, _ in _read(src)] == RECORDS


def test_a_gzip_export_of_several_members_is_read_whole(tmp_path):
    """gzip files appended to one another (`cat a.gz b.gz`, pigz) hold several members: ISA-L's reader, like
    zlib's, reads every member's lines."""
    text = _text().encode()
    cut = text.index(b"\n") + 1
    src = _export(tmp_path, gzip.compress(text[:cut]) + gzip.compress(text[cut:]), "products.jsonl.gz")
    assert [rec for _, rec, _ in _read(src)] == RECORDS


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_is_named(tmp_path):
    src = _export(tmp_path, _text().encode())
    (tmp_path / "products.jsonl").chmod(0)
    with pytest.raises(SourceError, match="products.jsonl cannot be read"):
        src.check()


def test_files_no_entity_reads_are_listed(tmp_path):
    src = _export(tmp_path, _text().encode())
    (tmp_path / "coupons.jsonl").write_text("{}\n")
    (tmp_path / "Customers.csv").write_text("a,b\n")
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    assert [name for name, _ in src.unread_files()] == ["Customers.csv", "coupons.jsonl"]
    assert "customers.jsonl" in dict(src.unread_files())["Customers.csv"]
