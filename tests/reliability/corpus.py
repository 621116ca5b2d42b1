"""The bad-input corpus: defects users hit in store exports and in API records, each with the outcome it must
have. A case adds one record (or rewrites one file) to a small, valid store (tests/helpers.base_store), so
everything else in the store still migrates and the ledger must still close.

Outcomes:
- quarantined: a ledger row for the record with a reason that contains `detail` (which names the field);
- skipped: skipped by the named rule `detail`;
- loaded: the record reaches the target, `detail` is a check of what the target holds (the documented handling);
- empty: the entity has no records; records that need one are quarantined with a reason containing `detail`;
- noted: the migration runs, and its report names `detail` among the files of the source it did not read;
- config_error: the run refuses before any work with a message containing `detail`.

Export cases write lines (str, or bytes for what is not UTF-8) into `<entity>.jsonl`; API cases serve the record
from the WooCommerce emulator as the platform's JSON (`wc`: changes to the record the emulator would render;
None removes the key).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

HUGE = 5_000_000  # characters: a description with inlined images


@dataclass(frozen=True)
class Case:
    id: str
    entity: str
    expect: str  # quarantined | skipped | loaded | config_error
    detail: str | Callable = ""
    lines: tuple = ()  # export: raw lines to append (str or bytes)
    record: dict = field(default_factory=dict)  # export: a canonical record (fields over the entity's template)
    wc: dict = field(default_factory=dict)  # api: fields over the WooCommerce JSON of the template record
    rewrite: Callable | None = None  # export: (path of <entity>.jsonl) -> None
    source_id: str = "66"  # where the outcome is recorded; "#{line}": the record's line (it has no usable id)
    alone: bool = False  # needs a store of its own (rewrites a file, or reuses an id); else shares one run

    @property
    def kind(self) -> str:
        return "api" if self.wc else "export"


# Templates: a valid record of each entity that links to base_store()'s records.
TEMPLATES = {
    "products": {"source_id": "66", "sku": "K-66", "name": "Korpusgenser", "price": 100, "category_ids": ["2"],
                 "url_key": "korpusgenser", "updated_at": "2024-05-01T10:00:00Z"},
    "customers": {"source_id": "66", "email": "ola@example.no", "first_name": "Ola", "last_name": "Nordmann",
                  "updated_at": "2024-05-01T10:00:00Z"},
    "orders": {"source_id": "66", "number": "1066", "customer_id": "1", "email": "kari@example.no",
               "customer_first_name": "Kari", "customer_last_name": "Nordmann", "currency": "NOK", "subtotal": 100,
               "shipping": 0, "tax": 25, "discount": 0, "grand_total": 125,
               "items": [{"source_id": "66-1", "product_id": "1", "sku": "A-1", "qty": 1, "price": 100, "tax": 25}],
               "updated_at": "2024-05-01T10:00:00Z"},
    "reviews": {"source_id": "66", "product_id": "1", "customer_id": "1", "rating": 4, "title": "Bra"},
    "categories": {"source_id": "66", "parent_id": "1", "name": "Korpuskategori"},
    "manufacturers": {"source_id": "66", "name": "Korpus AS"},
}


def nested(depth: int) -> str:
    return '{"source_id": "66", "name": ' + "[" * depth + "]" * depth + ', "price": 1}'


def _with_bom(path) -> None:
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


def _crlf(path) -> None:
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))


def _empty(path) -> None:
    path.write_bytes(b"")


def _blank_lines(path) -> None:
    path.write_bytes(b"\n   \n" + path.read_bytes().replace(b"\n", b"\n\n"))


def _gzip(path) -> None:
    import gzip

    path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()


def _zstd(path) -> None:
    import zstandard

    path.with_name(path.name + ".zst").write_bytes(zstandard.ZstdCompressor().compress(path.read_bytes()))
    path.unlink()


def _utf16(path) -> None:
    path.write_bytes(path.read_bytes().decode("utf-8").encode("utf-16"))  # with its byte-order mark


def _utf16_without_bom(path) -> None:
    path.write_bytes(path.read_bytes().decode("utf-8").encode("utf-16-le"))


def _cr_only(path) -> None:
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))


DEPTH = 200


def _deep_tree(path) -> None:
    """Categories 500..699 below category 2, each the parent of the next: a tree 202 levels deep."""
    with open(path.with_name("categories.jsonl"), "a", encoding="utf-8") as fh:
        for k in range(DEPTH):
            fh.write(json.dumps({"source_id": str(500 + k), "parent_id": str(499 + k) if k else "2",
                                 "name": f"Nivå {k + 3}", "url_key": f"niva-{k + 3}"}) + "\n")


def _category_named_hidden(path) -> None:
    """The shop already has a category named like the one rule 3 creates."""
    with open(path.with_name("categories.jsonl"), "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"source_id": "77", "name": "Uncategorised (migrated)"}) + "\n")


def _coupons(path) -> None:
    path.with_name("coupons.jsonl").write_text('{"code": "SALG10"}\n', encoding="utf-8")


def _field(name: str, want) -> Callable[[dict], bool]:
    check = (lambda row: row[name] == want) if not callable(want) else (lambda row: want(row[name]))
    check.__doc__ = f"{name} == {want!r}" if not callable(want) else name
    return check


SCRIPT = '<p>Varm <b>ull</b></p><script>alert("x")</script><img src="a.jpg" onerror="alert(1)">' \
         '<a href="javascript:alert(2)">lenke</a>'
CLEAN = '<p>Varm <b>ull</b></p><img src="a.jpg"><a rel="noopener noreferrer">lenke</a>'

EXPORT: list[Case] = [
    # wrong types
    Case("price-object", "products", "quarantined", "price: {'amount': 100} is not a number",
         record={"price": {"amount": 100}}),
    Case("price-boolean", "products", "quarantined", "price: expected a number, got a boolean", record={"price": True}),
    Case("stock-text", "products", "quarantined", "stock: 'mange' is not a whole number", record={"stock": "mange"}),
    Case("categories-not-a-list", "products", "quarantined", "category_ids: expected a list",
         record={"category_ids": "2"}),
    Case("name-as-number", "products", "loaded", _field("name", "12345"), record={"name": 12345}),
    Case("record-is-array", "products", "quarantined", "record: expected an object, got list", lines=("[1, 2, 3]",),
         source_id="#{line}"),
    Case("record-is-null", "products", "quarantined", "record: expected an object, got NoneType", lines=("null",),
         source_id="#{line}"),
    # missing required fields
    Case("missing-name", "products", "quarantined", "name: required field is missing", record={"name": None}),
    Case("missing-price", "products", "quarantined", "price: required field is missing", record={"price": None}),
    Case("missing-source-id", "products", "quarantined", "source_id: required field is missing",
         record={"source_id": None}, source_id="#{line}"),
    Case("missing-email", "customers", "quarantined", "email: required field is missing", record={"email": None}),
    Case("blank-currency", "orders", "quarantined", "currency: required field is blank", record={"currency": "  "}),
    # huge fields
    Case("huge-description", "products", "quarantined", "description_html: text of 5000000 characters exceeds",
         record={"description_html": "<p>" + "x" * (HUGE - 7) + "</p>"}),
    # encodings
    Case("invalid-utf8", "customers", "quarantined", "customers.jsonl line {line}: not valid UTF-8 (byte",
         lines=(b'{"source_id": "66", "email": "\xff\xfe@example.no"}',), source_id="#{line}"),
    Case("unpaired-surrogate", "products", "quarantined", "name: invalid Unicode (unpaired surrogate",
         lines=('{"source_id": "66", "name": "Genser \\ud800", "price": 1}',)),
    Case("nul-character", "products", "quarantined", "name: contains a NUL character", record={"name": "a\x00b"}),
    Case("byte-order-mark", "products", "loaded", _field("name", "Blå genser"), rewrite=_with_bom, source_id="1", alone=True),
    Case("crlf-line-ends", "customers", "loaded", _field("email", "kari@example.no"), rewrite=_crlf,
         source_id="1", alone=True),
    Case("blank-lines", "products", "loaded", _field("sku", "A-1"), rewrite=_blank_lines, source_id="1", alone=True),
    Case("empty-file", "manufacturers", "empty", "manufacturer 1 is missing or quarantined", rewrite=_empty,
         source_id="", alone=True),
    # numbers
    Case("negative-price", "products", "quarantined", "price: -5.00 is negative", record={"price": -5}),
    Case("negative-item-quantity", "orders", "quarantined", "items[0].qty: quantity -2 is not positive",
         record={"items": [{**TEMPLATES["orders"]["items"][0], "qty": -2}]}),
    Case("negative-stock-is-backorder", "products", "loaded", _field("stock", -3), record={"stock": -3}),
    Case("price-comma-thousands", "products", "quarantined", "price: '1,299.50' has a comma",
         record={"price": "1,299.50"}),
    Case("price-comma-decimal", "products", "quarantined", "price: '1 299,50' has a comma",
         record={"price": "1 299,50"}),
    Case("price-currency-text", "products", "quarantined", "price: 'kr 499' is not a number",
         record={"price": "kr 499"}),
    Case("price-three-decimals", "products", "quarantined", "price: 1.234 has more than 2 decimals",
         record={"price": 1.234}),
    Case("price-nan", "products", "quarantined", "price: nan is not a finite number",
         lines=('{"source_id": "66", "name": "x", "price": NaN}',)),
    Case("stock-infinity", "products", "quarantined", "stock: inf is not a whole number",
         lines=('{"source_id": "66", "name": "x", "price": 1, "stock": Infinity}',)),
    Case("rating-out-of-range", "reviews", "quarantined", "rating: 9 is outside 1..5", record={"rating": 9}),
    Case("money-too-large", "orders", "quarantined", "grand_total: '12345678901234' is too large",
         record={"grand_total": "12345678901234"}),
    # duplicates and references
    Case("duplicate-id", "products", "quarantined", "duplicate source_id 1",
         record={"source_id": "1", "sku": "A-1b", "url_key": "dup"}, source_id="1", alone=True),
    Case("dangling-manufacturer", "products", "quarantined", "manufacturer 404 is missing or quarantined",
         record={"manufacturer_id": "404"}),
    Case("dangling-category", "products", "quarantined", "category 999 is missing or quarantined",
         record={"category_ids": ["999"]}),
    # a product the source no longer holds: the line is history (rule order_item_product_gone), the order loads
    Case("dangling-order-product", "orders", "loaded",
         _field("items", lambda items: items[0]["product_id"] is None and items[0]["sku"] is not None),
         record={"items": [{**TEMPLATES["orders"]["items"][0], "product_id": "999"}]}),
    Case("dangling-order-customer", "orders", "skipped", "order_needs_customer", record={"customer_id": "404"}),
    Case("dangling-review-product", "reviews", "skipped", "review_needs_product_and_customer",
         record={"product_id": "404"}),
    # HTML and script
    Case("script-in-description", "products", "loaded", _field("description", CLEAN),
         record={"description_html": SCRIPT}),
    Case("html-in-name-kept-as-text", "products", "loaded", _field("name", "<b>Genser</b><script>x()</script>"),
         record={"name": "<b>Genser</b><script>x()</script>"}),
    # e-mails
    Case("email-unicode-local-part", "customers", "loaded", _field("email", "østen.ærlig@example.no"),
         record={"email": "østen.ærlig@example.no"}),
    Case("email-idn-domain", "customers", "loaded", _field("email", "kari@bønder.no"),
         record={"email": "kari@bønder.no"}),
    Case("email-double-at", "customers", "quarantined", "email: 'kari@@example.no' is not an e-mail address",
         record={"email": "kari@@example.no"}),
    Case("email-space-in-domain", "customers", "quarantined", "email: 'kari@exa mple.no' is not an e-mail",
         record={"email": "kari@exa mple.no"}),
    Case("email-unicode-invalid", "customers", "quarantined", "email: 'østen@' is not an e-mail address",
         record={"email": "østen@"}),
    # dates
    Case("date-year-zero", "products", "quarantined", "updated_at: '0000-01-01T00:00:00Z' is not an ISO 8601",
         record={"updated_at": "0000-01-01T00:00:00Z"}),
    Case("date-far-future", "products", "quarantined", "updated_at: 2999-01-01T00:00:00+00:00 is in the future",
         record={"updated_at": "2999-01-01T00:00:00Z"}),
    Case("date-before-year-one-in-utc", "customers", "quarantined", "created_at: '0001-01-01T00:00:00+05:00' is "
         "outside the years", record={"created_at": "0001-01-01T00:00:00+05:00"}),
    Case("date-local-format", "customers", "quarantined", "created_at: '31.12.2024' is not an ISO 8601",
         record={"created_at": "31.12.2024"}),
    # numbers out of range (issue 15): bounded in coerce.py, the field named, never a crash
    Case("price-1e30", "products", "quarantined", "price: 1E+30 is too large",
         lines=('{"source_id": "66", "name": "x", "price": 1e30}',)),
    Case("weight-1e20", "products", "quarantined", "weight: 1E+20 is outside 0..1000000",
         lines=('{"source_id": "66", "name": "x", "price": 1, "weight": 1e20}',)),
    Case("stock-2-pow-63", "products", "quarantined", "stock: 9223372036854775808 is too large",
         record={"stock": 2**63}),
    Case("category-position-2-pow-31", "categories", "quarantined", "position: 2147483648 is too large",
         record={"position": 2**31}),
    Case("stock-double-minus", "products", "quarantined", "stock: '--3' is not a whole number",
         record={"stock": "--3"}),
    Case("stock-superscript-digit", "products", "quarantined", "stock: '²' is not a whole number",
         record={"stock": "²"}),
    Case("integer-of-5000-digits", "products", "quarantined", "stock: 100000000000000000000000000000… (5001 characters) is too large",
         lines=('{"source_id": "66", "name": "x", "price": 1, "stock": 1' + "0" * 5000 + "}",)),
    # references (issue 15): null and blank are no reference
    Case("category-ids-null", "products", "loaded", _field("category_ids", lambda ids: len(ids) == 1 and all(ids)),
         record={"category_ids": [None, "2"]}),
    Case("blank-manufacturer", "products", "loaded", _field("manufacturer_id", None),
         record={"manufacturer_id": ""}),
    Case("blank-parent", "categories", "loaded", _field("parent_id", None), record={"parent_id": " "}),
    # losses (issue 15)
    Case("category-tree-202-levels", "categories", "loaded", _field("name", f"Nivå {DEPTH + 2}"),
         rewrite=_deep_tree, source_id=str(500 + DEPTH - 1), alone=True),
    Case("hidden-category-name-taken", "products", "loaded", _field("category_ids", lambda ids: len(ids) == 1),
         record={"category_ids": []}, rewrite=_category_named_hidden, alone=True),
    Case("products-gzip", "products", "loaded", _field("sku", "A-1"), rewrite=_gzip, source_id="1", alone=True),
    Case("products-zstd", "products", "loaded", _field("sku", "A-1"), rewrite=_zstd, source_id="1", alone=True),
    # wrong without a word (issue 15)
    Case("name-japanese-only", "products", "loaded", _field("url_key", "konnichiha"),
         record={"name": "こんにちは", "url_key": None}),
    Case("name-emoji-only", "products", "loaded", _field("url_key", lambda k: k.startswith("product-")),
         record={"name": "🎉🎉", "url_key": None}),
    Case("name-punctuation-only", "categories", "loaded", _field("url_key", lambda k: k.startswith("category-")),
         record={"name": "!!!", "url_key": None}),
    Case("url-key-trailing-slash", "products", "loaded", _field("url_key", "vinterjakke"),
         record={"url_key": "herre/vinterjakke/"}),
    Case("description-class-and-style", "products", "loaded",
         _field("description", '<p class="lead" style="color:red">Varm</p>'),
         record={"description_html": '<p class="lead" style="color: red" onclick="x()">Varm</p>'}),
    Case("status-capitalised", "products", "loaded", _field("active", True), record={"status": "Enabled"}),
    Case("status-upper-case", "products", "loaded", _field("active", True), record={"status": "ENABLED"}),
    Case("status-trailing-space", "products", "loaded", _field("active", True), record={"status": "enabled "}),
    Case("status-unknown", "products", "quarantined", "status: 'publish' is not one of enabled, disabled",
         record={"status": "publish"}),
    Case("email-same-after-trim-and-case", "customers", "skipped", "customer_email_merged",
         record={"email": " KARI@example.no "}),
    Case("variant-sku-of-another-product", "products", "quarantined", "SKU A-1 is already used by product 1",
         record={"variants": [{"source_id": "v66", "sku": "A-1", "price": 100}]}),
    Case("name-zero-width-space", "products", "quarantined", "name: required field is blank (only invisible",
         record={"name": "\u200b"}),
    Case("json-key-twice", "products", "quarantined", "key 'price' is written twice in one object",
         lines=('{"source_id": "66", "name": "x", "price": 1, "price": 2}',)),
    Case("repeated-id-first-invalid", "products", "quarantined", "(an earlier copy was quarantined; which one is "
         "right cannot be told)", lines=('{"source_id": "66", "name": "x", "price": "gratis"}',
                               '{"source_id": "66", "name": "x", "price": 1, "sku": "R-66", "url_key": "r-66"}')),
    Case("utf16-with-bom", "customers", "loaded", _field("email", "kari@example.no"), rewrite=_utf16,
         source_id="1", alone=True),
    Case("cr-only-line-ends", "products", "loaded", _field("sku", "A-1"), rewrite=_cr_only, source_id="1",
         alone=True),
    Case("unknown-entity-file", "products", "noted", "coupons.jsonl", rewrite=_coupons, source_id="1", alone=True),
    # JSON shape
    Case("deeply-nested-json", "products", "quarantined", "products.jsonl line {line}: JSON nested too deeply",
         lines=(nested(100_000),), source_id="#{line}"),
    Case("truncated-line", "products", "quarantined", "products.jsonl line {line}: malformed JSON",
         lines=('{"source_id": "66", "name": "cut', ), source_id="#{line}"),
]

API: list[Case] = [
    Case("api-price-comma", "products", "quarantined", "price: '12,50' has a comma", wc={"regular_price": "12,50"}),
    Case("api-price-text", "products", "quarantined", "price: 'gratis' is not a number",
         wc={"regular_price": "gratis"}),
    Case("api-name-null", "products", "quarantined", "name: required field is missing", wc={"name": None}),
    Case("api-name-object", "products", "quarantined", "name: expected text, got dict",
         wc={"name": {"rendered": "x"}}),
    Case("api-stock-text", "products", "quarantined", "stock: 'ti' is not a whole number",
         wc={"stock_quantity": "ti"}),
    Case("api-negative-stock", "products", "loaded", _field("stock", -4), wc={"stock_quantity": -4}),
    Case("api-huge-description", "products", "quarantined", "description_html: text of 5000000 characters",
         wc={"description": "x" * HUGE}),
    Case("api-script-in-description", "products", "loaded", _field("description", CLEAN),
         wc={"description": SCRIPT}),
    Case("api-missing-id", "products", "quarantined", "WooCommerce record None could not be read (KeyError: 'id')",
         wc={"id": None}, source_id="#2", alone=True),
    Case("api-duplicate-id", "products", "quarantined", "duplicate source_id 1", wc={"id": 1}, source_id="1", alone=True),
    Case("api-dangling-category", "products", "quarantined", "category 999 is missing or quarantined",
         wc={"categories": [{"id": 999, "name": "Borte", "slug": "borte"}]}),
    Case("api-zero-date", "products", "quarantined", "updated_at: '0000-00-00T00:00:00Z' is not an ISO 8601",
         wc={"date_modified_gmt": "0000-00-00T00:00:00"}),
    Case("api-email-unicode", "customers", "loaded", _field("email", "østen@eksempel.no"),
         wc={"email": "østen@eksempel.no"}),
    Case("api-email-invalid", "customers", "quarantined", "email: 'ola@' is not an e-mail address",
         wc={"email": "ola@"}),
    Case("api-negative-quantity", "orders", "quarantined", "items[0].qty: quantity -1 is not positive",
         wc={"line_items": [{"id": 661, "product_id": 1, "sku": "A-1", "name": "Blå genser", "quantity": -1,
                             "subtotal": "100.00", "total_tax": "0.00"}]}),
    Case("api-total-comma", "orders", "quarantined", "grand_total: '1,25' has a comma", wc={"total": "1,25"}),
]

def _remove(store) -> None:
    import shutil

    shutil.rmtree(store)


def _no_entity_files(store) -> None:
    for path in store.glob("*.jsonl"):
        path.unlink()


def _directory(store) -> None:
    (store / "products.jsonl").unlink()
    (store / "products.jsonl").mkdir()


def _broken_link(store) -> None:
    (store / "customers.jsonl").unlink()
    (store / "customers.jsonl").symlink_to(store / "gone.jsonl")


def _plain_and_gzip(store) -> None:
    import gzip

    (store / "orders.jsonl.gz").write_bytes(gzip.compress((store / "orders.jsonl").read_bytes()))


def _utf16_file(store) -> None:
    _utf16_without_bom(store / "reviews.jsonl")


CONFIG: list[Case] = [
    Case("products-file-is-a-directory", "products", "config_error", "products.jsonl is a directory, not a file",
         rewrite=_directory, source_id=""),
    Case("customers-file-unreadable", "customers", "config_error", "customers.jsonl is not a regular file",
         rewrite=_broken_link, source_id=""),
    Case("orders-plain-and-compressed", "orders", "config_error", "orders is in orders.jsonl and orders.jsonl.gz",
         rewrite=_plain_and_gzip, source_id=""),
    Case("utf16-without-bom", "reviews", "config_error", "reviews.jsonl looks like UTF-16 without a byte-order mark",
         rewrite=_utf16_file, source_id=""),
    Case("export-directory-missing", "products", "config_error", "does not exist; set the source path",
         rewrite=_remove, source_id=""),
    Case("export-without-entity-files", "products", "config_error", "holds no <entity>.jsonl files",
         rewrite=_no_entity_files, source_id=""),
]

CASES = EXPORT + API + CONFIG


def template(entity: str, sid: str = "66") -> dict:
    """The entity's template with id `sid` and unique keys of its own (SKU, URL key, e-mail, order number), so
    many cases can share one store without the target rejecting them as duplicates of each other."""
    own = {"products": {"sku": f"K-{sid}", "url_key": f"korpus-{sid}"},
           "customers": {"email": f"ola.{sid}@example.no"}, "orders": {"number": f"1{sid}"},
           "categories": {"url_key": f"korpuskategori-{sid}"}}.get(entity, {})
    return {**TEMPLATES[entity], "source_id": sid, **own}


def export_lines(case: Case, sid: str = "66") -> list:
    """The lines a case appends to its entity's file, its record carrying id `sid`."""
    if case.lines:
        return [line.replace(b'"66"', f'"{sid}"'.encode()) if isinstance(line, bytes)
                else line.replace('"66"', f'"{sid}"') for line in case.lines]
    if case.record:
        rec = {**template(case.entity, sid), **case.record}
        return [json.dumps({k: v for k, v in rec.items() if v is not None}, ensure_ascii=False)]
    return []
