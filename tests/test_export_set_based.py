"""The store export's set-based extraction (DuckDB, pipeline/extract_lines.py) stages exactly what the per-record
path stages and quarantines exactly the same records with the same reasons: on the sample store, on a generated
store with every bad-input case of the corpus and more appended, and compressed. The per-record path is the same
StoreExport seen only through `records()` (as every API source is read)."""

from __future__ import annotations

import gzip
import random
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import zstandard
from email_validator import EmailNotValidError, validate_email

from cart_pipelines.model.coerce import clean_html
from cart_pipelines.model.coerce_sql import EMAIL, HTML_AS_IS, SPECIAL_USE
from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.pipeline.extract import extract_entity
from cart_pipelines.pipeline.staging import Staging
from cart_pipelines.platforms.kit.duckdb_io import connect
from cart_pipelines.platforms.kit.source import Source
from cart_pipelines.platforms.store_export.source import StoreExport
from cart_pipelines.sample.generator import StoreSize, generate_store

sys.path.insert(0, str(Path(__file__).parent / "reliability"))
from corpus import EXPORT, export_lines  # noqa: E402

TS = "2024-05-01T10:00:00Z"


class PerRecord(Source):
    """The export read one record at a time, as the pipeline reads any source without line batches."""

    platform = "store_export"

    def __init__(self, export: StoreExport):
        self.export = export

    def describe(self):
        return self.export.describe()

    def records(self, entity):
        return self.export.records(entity)

    def has(self, entity):
        return self.export.has(entity)

    def unread_files(self):
        return self.export.unread_files()


def _outcome(source, entity, work: Path):
    staging = Staging(work)
    result = extract_entity(source, entity, staging)
    with staging.connect() as con:
        rows = con.execute("SELECT * FROM ledger WHERE entity = ?", [entity]).fetchall()
        counts = con.execute("SELECT source_records, staged, quarantined FROM source_counts WHERE entity = ?",
                             [entity]).fetchall()
        mark = con.execute("SELECT updated_at FROM watermarks_pending WHERE entity = ?", [entity]).fetchall()
    return pq.read_table(staging.parquet_path(entity)), sorted(rows, key=repr), counts, mark, result


def assert_same(store: Path, tmp: Path, entities=ENTITY_NAMES) -> None:
    for entity in entities:
        old = _outcome(PerRecord(StoreExport(store)), entity, tmp / "per-record")
        new = _outcome(StoreExport(store), entity, tmp / "set-based")
        assert new[0].schema.equals(old[0].schema, check_metadata=True), entity
        assert new[0].equals(old[0]), f"{entity}: staged rows differ"
        assert new[1] == old[1], f"{entity}: quarantine differs"
        assert new[2:] == old[2:], entity


def test_sample_store(sample_store, tmp_path):
    assert_same(sample_store, tmp_path)


# Lines beyond the corpus: what the SQL must hand to Python (its reader is laxer, or the value is not plain), and
# plain values it takes itself.
EXTRA = {
    "products": [
        '{"source_id": "901", "name": "x", "price": 1,}',  # trailing comma: DuckDB reads it, Python does not
        '{"source_id": "902", "name": "x", "price": nan}',  # lower-case nan: the same
        '{"source_id": "903", "name": "x", "price": 19.990000000000000001}',  # beyond a double
        '{"source_id": "904", "name": "x", "price": "19.99", "stock": "12", "weight": 0.5}',
        '{"source_id": "905", "name": "x", "price": 1, "variants": [{"source_id": "v", "price": 2, "price": 3}]}',
        '{"source_id": "906", "name": "x", "price": 1, "extra": {"a": 1, "a": 2}}',  # unknown key, repeated inside
        '{"source_id": "907", "name": "x", "price": 1, "extra": "kept out", "n": 5}',  # unknown scalars
        '{"source_id": "908", "name": "x", "price": 1, "variants": [null, {"source_id": "v2", "options": [null]}]}',
        '{"source_id": "909", "name": "x", "price": 1e2, "special_price": "", "stock": -0}',
        '{"source_id": "910", "name": "x", "price": 1, "category_ids": ["2", "", " ", null, "\\u00a0", "ø"]}',
        '{"source_id": "911", "name": "x", "price": 1, "status": " Disabled", "weight": 1000000}',
        '{"source_id": "912", "name": "x", "price": 1, "status": "ENABLED\\t"}',
        '{"source_id": "913", "name": "x", "price": 1, "images": [{"url": "u", "position": 2147483648}]}',
        '{"source_id": "914", "name": "x", "price": 1, "images": [{"url": "u", "position": 1.0}]}',
        '{"source_id": "915", "name": "x\\u0000", "price": 1}',
        '{"source_id": "916", "name": "Quote \\" and \\\\ slash", "price": 1, "sku": "\\u00e5"}',
        '{"source_id": "917", "name": "x", "price": 1, "description_html": "<p>a<p>b</p></p>"}',
        '{"source_id": "918", "name": "x", "price": 1, "description_html": "<p>Fin &amp; god</p>"}',
        '{"source_id": "919", "name": "x", "price": 1, "updated_at": "2024-05-01 10:00:00"}',
        '{"source_id": "920", "name": "x", "price": 1, "updated_at": "2024-05-01T10:00:00.5+02:00"}',
        '{"source_id": "921", "name": "x", "price": 1, "updated_at": "2024-05-01"}',
        '{"source_id": "922", "name": "x", "price": 1, "updated_at": "2024-02-30T10:00:00Z"}',
        '{"source_id": "923", "name": "x", "price": 1, "created_at": "2024-05-01T24:00:00Z"}',
        '{"source_id": "924", "name": 12345, "price": 1.50}',
        '{"source_id": 925, "name": "x", "price": 1}',
        '{"source_id": "926", "name": "x", "price": true, "stock": true}',
        '{"source_id": "927", "name": "x", "price": 9999999999.99, "weight": -0.0}',
        '{"source_id": "928", "name": "x", "price": 10000000000}',
        '[{"source_id": "929"}]',
        '"just text"',
        '{"source_id": "930", "name": "x", "price": 1, "manufacturer_id": " ", "tax_class_id": ""}',
        '{"source_id": "931", "name": "x", "price": 1, "variants": "none"}',
        '{"source_id": "932", "name": "x", "price": 1, "variants": [{"options": [{"name": "a", "name": "b"}]}]}',
        '{"source_id": "933", "name": "x", "price": 1, "type": "Grouped", "lifecycle": "draft", "child_ids": ["1", ""]}',
        '{"source_id": "934", "name": "x", "price": 1, "type": "kit", "variants": [{"status": "Disabled "}]}',
        '{"source_id": "935", "name": "x", "price": 1, "special_price_from": "2024-01-01T00:00:00Z"}',
        '{"source_id": "936", "name": "x", "price": 1, "special_price_to": "2999-01-01T00:00:00Z"}',
        '{"source_id": "937", "name": "x", "price": 1, "created_at": "2999-01-01T00:00:00Z"}',
        # DuckDB reads what coerce.py does not take as it is: an underflow (0.0 in DuckDB, more than 2 decimals
        # for coerce.py), a 19-digit mantissa, and non-strings in text fields read as text (true, 1.50 and 12)
        '{"source_id": "938", "name": "x", "price": 1e-400}',
        '{"source_id": "939", "name": "x", "price": 1999000000000000001e-17}',
        '{"source_id": "940", "name": true, "price": 1}',
        '{"source_id": "941", "name": "x", "sku": 1.50, "price": 1, "url_key": 12}',
        '{"source_id": "942", "name": "NaN", "sku": "[1]", "price": 1, "extra": NaN}',
        '{"source_id": "943", "name": "x", "price": 1, "extra": nan}',
        '{"source_id": "944", "name": "x", "price": 1, "weight": 1000000.0000000001}',
        '{"source_id": "945", "name": "x", "price": "19.9900000000000001"}',
        # list items: text that is no string, lists that are text or null, unknown keys, items that are no object
        '{"source_id": "946", "name": "x", "price": 1, "variants": [{"sku": 1.50}, {"sku": 7}]}',
        '{"source_id": "947", "name": "x", "price": 1, "variants": [{"options": "[{\\"name\\": \\"a\\"}]"}]}',
        '{"source_id": "948", "name": "x", "price": 1, "variants": [{"sku": "a", "options": null}]}',
        '{"source_id": "949", "name": "x", "price": 1, "variants": [{"sku": "a", "x": nan}]}',
        '{"source_id": "950", "name": "x", "price": 1, "images": [{"url": "u", "position": nan}]}',
        '{"source_id": "951", "name": "x", "price": 1, "images": [{}, null]}',
        '{"source_id": "952", "name": "x", "price": 1, "images": [[{"url": "u"}], 5]}',
        '{"source_id": "953", "name": "x", "price": 1, "variants": [{"options": [{"name": "a", "x": {"y": 1, "y": 2}}]}]}',
        '{"source_id": "954", "name": "x", "price": 1, "category_ids": ["1", 2, 2.5, true, {"a": 1}]}',
        '{"source_id": "955", "name": "x", "price": 1, "variants": {"sku": "a"}, "images": "none"}',
        '{"source_id": "956", "name": "x", "price": 1, "category_ids": null, "child_ids": "3"}',
        '{"source_id": "957", "name": "x", "price": 1, "extra": [1, 2], "more": {"a": 1}}',
        '{"source_id": "958", "nam\\u0065": "escaped key", "price": 1, "sku": "\\u00e5\\n\\"q\\""}',
        '   ',
        '',
    ],
    "customers": [
        '{"source_id": "901", "email": "Kari@Example.no"}',
        '{"source_id": "902", "email": "kari@example.test"}',
        '{"source_id": "903", "email": "kari..n@example.no"}',
        '{"source_id": "904", "email": "kari@xn--bnder-vua.no"}',
        '{"source_id": "905", "email": "kari+tag@sub.example-shop.no", "newsletter": 1}',
        '{"source_id": "906", "email": "kari@example.no", "addresses": [{"is_default_billing": "yes"}]}',
        '{"source_id": "907", "email": "kari@example.no", "addresses": [{"city": "Oslo", "city": "Bergen"}]}',
        '{"source_id": "908", "email": " ola@example.no"}',
    ],
    "orders": [
        '{"source_id": "901", "currency": "NOK", "grand_total": 1, "billing_address": {"city": 5}}',
        '{"source_id": "902", "currency": "NOK", "grand_total": 1, "billing_address": {"city": "A", "city": "B"}}',
        '{"source_id": "903", "currency": "NOK", "grand_total": 1, "items": [{"qty": "2", "price": "1.5"}]}',
        '{"source_id": "904", "currency": "\\u200b", "grand_total": 1}',
        '{"source_id": "905", "currency": "NOK", "grand_total": 1, "shipping_address": "Storgata 1"}',
        '{"source_id": "906", "currency": "NOK", "grand_total": -1}',
        '{"source_id": "907", "currency": "NOK", "grand_total": 10, "refunded_total": 5, "net_total": 5, "refunds": '
        '[{"source_id": "r1", "amount": 5, "created_at": "2024-05-02T10:00:00Z", "lines": [{"item_id": "1", '
        '"qty": 1, "amount": 5}]}]}',
        '{"source_id": "908", "currency": "NOK", "grand_total": 10, "refunds": [{"amount": -5, "lines": [null]}]}',
        '{"source_id": "909", "currency": "NOK", "grand_total": 10, "refunds": [{"lines": [{"qty": 0}]}]}',
        '{"source_id": "910", "currency": "NOK", "grand_total": 10, "refunds": [{"lines": [{"qty": 1, "qty": 2}]}]}',
        '{"source_id": "911", "currency": "NOK", "grand_total": 1, "billing_address": {"city": "A", "zip": "1"}}',
        '{"source_id": "912", "currency": "NOK", "grand_total": 1, "billing_address": {}, "shipping_address": 5}',
        '{"source_id": "913", "currency": "NOK", "grand_total": 1, "billing_address": {"city": null}}',
        '{"source_id": "914", "currency": "NOK", "grand_total": 1, "items": [{"product_id": ""}, {"product_id": " "}]}',
        '{"source_id": "915", "currency": "NOK", "grand_total": 1, "billing_address": {"city": nan}}',
        '{"source_id": "916", "currency": "NOK", "grand_total": 10, "refunds": [{"lines": "[]"}]}',
        '{"source_id": "917", "currency": "NOK", "grand_total": 10, "refunds": [{"created_at": 2024, "lines": []}]}',
    ],
    "tax_classes": ['{"source_id": "901", "name": "x", "rates": [{"country": "NO", "rate": 25.125}]}',
                    '{"source_id": "902", "name": "x", "rates": [{"country": "NO", "rate": 25.1255}]}'],
    "reviews": ['{"source_id": "901", "rating": "5"}', '{"source_id": "902", "rating": 5.0}',
                '{"source_id": "903", "rating": 0}'],
}


@pytest.fixture(scope="module")
def bad_store(tmp_path_factory):
    """A generated store with its own defects, every export case of the bad-input corpus and EXTRA appended."""
    store = tmp_path_factory.mktemp("bad-store")
    generate_store(store, seed=11, size=StoreSize.scaled(200), defects=True)
    for k, case in enumerate(c for c in EXPORT if c.lines or c.record):
        with open(store / f"{case.entity}.jsonl", "ab") as fh:
            for line in export_lines(case, str(80_000 + k)):
                fh.write((line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")) + b"\n")
    for entity, lines in EXTRA.items():
        with open(store / f"{entity}.jsonl", "a", encoding="utf-8") as fh:
            fh.writelines(line + "\n" for line in lines)
    return store


def test_generated_store_with_bad_records(bad_store, tmp_path):
    assert_same(bad_store, tmp_path)


@pytest.mark.parametrize("suffix, pack", [(".gz", gzip.compress),
                                          (".zst", lambda b: zstandard.ZstdCompressor().compress(b))])
def test_compressed_exports(bad_store, tmp_path, suffix, pack):
    store = tmp_path / "store"
    shutil.copytree(bad_store, store)
    for entity in ("products", "orders"):
        plain = store / f"{entity}.jsonl"
        plain.with_name(plain.name + suffix).write_bytes(pack(plain.read_bytes()))
        plain.unlink()
    assert_same(store, tmp_path, ("products", "orders"))


@pytest.mark.parametrize("suffix, pack", [(".gz", gzip.compress),
                                          (".zst", lambda b: zstandard.ZstdCompressor().compress(b))])
def test_damaged_export_stops_the_extraction_naming_the_file(bad_store, tmp_path, monkeypatch, suffix, pack):
    """DuckDB pulls the lines as a stream: a file that breaks off after some batches still stops the run with
    the source's own sentence (not DuckDB's wrapping of it), and stages nothing."""
    from cart_pipelines.platforms.kit.source import SourceError
    from cart_pipelines.platforms.store_export import source as store_export

    store = tmp_path / "store"
    store.mkdir()
    packed = pack((bad_store / "orders.jsonl").read_bytes())
    (store / f"orders.jsonl{suffix}").write_bytes(packed[:len(packed) // 2])
    monkeypatch.setattr(store_export, "CHUNK", 4096)  # many batches before the break
    staging = Staging(tmp_path / "staging")
    with pytest.raises(SourceError, match=rf"orders\.jsonl\{suffix} is (damaged|cut short)"):
        extract_entity(StoreExport(store), "orders", staging)
    assert not staging.parquet_path("orders").exists()


def test_lines_cut_by_the_reader_chunks(bad_store, tmp_path, monkeypatch):
    """Batches end wherever a chunk ends (and a CR may wait for its LF): the numbering stays the editor's."""
    from cart_pipelines.platforms.store_export import source as store_export

    store = tmp_path / "store"
    store.mkdir()
    data = (bad_store / "reviews.jsonl").read_bytes()
    (store / "reviews.jsonl").write_bytes(data.replace(b"\n", b"\r\n"))
    monkeypatch.setattr(store_export, "CHUNK", 97)
    assert_same(store, tmp_path, ("reviews",))


def test_html_the_sql_keeps_is_what_nh3_keeps():
    """HTML_AS_IS only claims text nh3 returns unchanged (random strings of the characters that matter)."""
    pieces = ["<p>", "</p>", "<ul>", "</ul>", "<li>", "</li>", "<b>", "a", " ", "\n", '"', "'", "&", "<", ">",
              "ø", "\u00a0", "\r", "\x00", "\x85", "😀", "\t", "<br>", "=", "/"]
    rng = random.Random(5)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(4000)]
    con = connect()
    claimed = [t for t, ok in zip(texts, con.execute("SELECT regexp_full_match(t, ?) FROM unnest(?::VARCHAR[]) u(t)",
                                                     [HTML_AS_IS, texts]).fetchall()) if ok[0]]
    assert len(claimed) > 200
    assert [t for t in claimed if clean_html(t) != t] == []


def test_emails_the_sql_takes_are_valid():
    local = ["kari", "kari.n", "k_ari+tag", "a-b", "x" * 64, "ø", "a..b", ".a", "a.", "A1"]
    domains = ["example.no", "sub.example-shop.no", "a-.no", "-a.no", "exa--mple.no", "xn--bnder-vua.no", "x.test",
               "x.local", "x.123", "localhost", "example.NO", "a" * 63 + ".no", "a" * 64 + ".no", "x.y.z.invalid"]
    con = connect()
    for address in [f"{lo}@{d}" for lo in local for d in domains]:
        claimed = con.execute("SELECT regexp_full_match(?, ?) AND split_part(?, '.', -1) NOT IN "
                              f"({', '.join(repr(s) for s in SPECIAL_USE)}) AND strlen(?) <= 254",
                              [address, EMAIL, address, address]).fetchall()[0][0]
        if claimed:
            try:
                validate_email(address, check_deliverability=False)
            except EmailNotValidError as exc:
                pytest.fail(f"{address!r} is taken by the SQL but email_validator refuses it: {exc}")


def test_sql_reads_almost_every_clean_line(sample_store):
    """Equal outcomes would also come from a query that leaves every line to Python: the SQL must take the clean
    records itself (a few with, say, 16 digits in a row go to Python)."""
    import pyarrow as pa

    from cart_pipelines.model.canonical import SCHEMAS
    from cart_pipelines.model.coerce_sql import batch_query
    from cart_pipelines.platforms.kit.duckdb_io import arrow_table

    export, con = StoreExport(sample_store), connect()
    con.execute("SET TimeZone = 'UTC'")
    for entity, schema in SCHEMAS.items():
        con.register("_lines", pa.concat_tables(list(export.line_batches(entity))).select(["ordinal", "line"]))
        ok = arrow_table(con, batch_query(schema, "_lines")).column("_ok").to_pylist()
        con.unregister("_lines")
        staged = sum(1 for r in export.records(entity) if r.error is None) - 3  # the sample's defects
        assert sum(ok) >= 0.99 * staged, entity


def test_key_hints_are_only_key_lists_the_checks_take():
    """The query takes a line whose key lists are among the hints without checking them: a hint must be a key
    list the checks take (no key twice, every key one the model reads, some key)."""
    from cart_pipelines.model.canonical import SCHEMAS
    from cart_pipelines.model.coerce_sql import key_hints

    lines = ['{"source_id": "1", "name": "a", "name": "b", "price": 1}', '{"source_id": "2", "zz": 1}', "{}", "[]",
             "not json", '{"source_id": "3", "name": "x", "price": 1, '
                         '"variants": [{"sku": "a", "sku": "b"}, {}, 5, {"sku": "c", "options": [{"name": "n"}]}]}']
    hints = key_hints(SCHEMAS["products"], lines)
    assert hints[()] == [("source_id", "name", "price", "variants")]
    assert hints[("variants",)] == [("sku", "options")]
    assert hints[("variants", "options")] == [("name",)]
    assert hints[("images",)] == []
