"""The compiled coercer (model/coerce.py `_compiled`, what extraction runs per record) accepts exactly the records
the field-by-field reference (`coerce_reference`) accepts, and returns the same rows, value for value and type for
type: the staged Parquet rows and the quarantine reasons cannot change with it."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from cart_pipelines.model import coerce as c
from cart_pipelines.model.canonical import SCHEMAS
from cart_pipelines.model.entities import ENTITY_NAMES

sys.path.insert(0, str(Path(__file__).parent / "reliability"))
from corpus import TEMPLATES  # noqa: E402


class Text(str):
    """A str subclass (some JSON decoders and ORMs hand them out)."""


# Values that meet every branch of `coerce`: nulls and blanks, invisible text, wrong types, bounds, bad Unicode.
ODD = [None, "", " ", "\u200b", "\ufeff x", "x\x00", "\ud800", "a" * (c.MAX_TEXT + 1), Text(""), Text("7"),
       True, False, 0, 1, -1, 5, 6, 2**31, 2**63, -2**63 - 1, 1.5, 1.0, -0.5, float("nan"), float("inf"), 1e300,
       Decimal("1.25"), Decimal("-3"), Decimal("1e40"), Decimal("NaN"), "1,5", " 12.50 ", "abc", "٣", "007", "0",
       "-2", "yes", "No", "2024-05-01T10:00:00Z", "2024-05-01", "2999-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
       "enabled", " Disabled ", "<p onclick='x'>a</p><script>b</script>", "ola@example.no", "ola@shop.test",
       "not an address", [], [None, "", " 3 "], ["1", 2], {}, {"source_id": "9"}, [{"source_id": "1", "qty": 0}]]


def outcome(fn, *args):
    try:
        return ("row", fn(*args))
    except c.Invalid:
        return ("invalid", None)
    except Exception as exc:  # noqa: BLE001 - the reference's other exceptions must be the compiled one's too
        return ("error", type(exc).__name__)


def compiled(record, schema):
    """The compiled coercer alone, without its fallback: its refusal (any exception, as coerce_record takes it)
    is an outcome, not a retry."""
    if not isinstance(record, dict):
        raise c.Invalid("not an object")
    try:
        return {name: fn(record.get(name)) for name, fn in c._compiled(schema)}
    except Exception:  # noqa: BLE001
        raise c.Invalid("refused") from None


def same(a, b) -> bool:
    """Equal and of the same types all the way down (Decimal('1.50') and Decimal('1.5') differ in Parquet)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, Decimal):
        return a.as_tuple() == b.as_tuple()
    return a == b or (a != a and b != b)


def agree(record, schema):
    want, got = outcome(c.coerce_reference, record, schema), outcome(compiled, record, schema)
    if want[0] == "error":  # the compiled one refuses; the fallback re-raises the reference's exception
        assert got[0] == "invalid", (record, want, got)
        assert outcome(c.coerce_record, record, schema) == want
        return
    assert want[0] == got[0], (record, want, got)
    if want[0] == "row":
        assert same(want[1], got[1]), (record, want[1], got[1])
    else:  # refused: coerce_record's reason is the reference's
        with pytest.raises(c.Invalid) as ref:
            c.coerce_reference(record, schema)
        with pytest.raises(c.Invalid) as real:
            c.coerce_record(record, schema)
        assert str(real.value) == str(ref.value)


def test_a_generated_store_is_coerced_alike(sample_store):
    """Every record of every entity of a generated store (its planted defects too): the same row or the same
    reason; the clean ones the compiled coercer takes itself."""
    taken = 0
    for entity in ENTITY_NAMES:
        path = sample_store / f"{entity}.jsonl"
        if not path.exists():
            continue
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    record = json.loads(line, parse_float=Decimal)
                except ValueError:  # a planted broken line: no record to coerce
                    continue
                agree(record, SCHEMAS[entity])
                taken += outcome(compiled, record, SCHEMAS[entity])[0] == "row"
    assert taken > 1000


@pytest.mark.parametrize("entity", sorted(TEMPLATES))
def test_every_field_with_odd_values_is_coerced_alike(entity):
    """Each field of the entity (and of the structs in its lists) set to each odd value in turn."""
    schema = SCHEMAS[entity]
    base = dict(TEMPLATES[entity])
    agree(base, schema)
    for field in schema:
        for value in ODD:
            agree({**base, field.name: value}, schema)
        t = field.type
        if pa.types.is_list(t) and pa.types.is_struct(t.value_field.type):  # a list of structs
            item_template = (base.get(field.name) or [{}])[0]
            for sub in t.value_field.type:
                for value in ODD:
                    agree({**base, field.name: [item_template, {**item_template, sub.name: value}]}, schema)
        if pa.types.is_struct(t):  # an address: each of its fields
            for sub in t:
                for value in ODD:
                    agree({**base, field.name: {**(base.get(field.name) or {}), sub.name: value}}, schema)
    for record in (None, [], "x", 7):
        agree(record, schema)


def test_a_new_schema_object_of_the_same_fields_reuses_the_compiled_one():
    """Extraction builds its schema anew per entity (without _ordinal): compiled once per distinct schema."""
    a = SCHEMAS["products"]
    b = a.remove(a.get_field_index("source_id")).insert(0, a.field("source_id"))
    assert c._compiled(a) is c._compiled(b)
    assert len(c._SCHEMAS) <= 64


def test_addresses_taken_without_email_validator_are_valid():
    """`_email` skips email_validator for what EMAIL claims: each claimed address must be one it accepts, and the
    claim must hold the usual ones (else nothing is saved)."""
    import random

    from email_validator import EmailNotValidError, validate_email

    local = ["kari", "kari.n", "k_ari+tag", "a-b", "x" * 64, "x" * 64 + ".y", "ø", "a..b", ".a", "a.", "A1", "",
             "a b", '"q"', "a@b"]
    domains = ["example.no", "sub.example-shop.no", "a-.no", "-a.no", "exa--mple.no", "xn--bnder-vua.no", "x.test",
               "x.local", "x.123", "localhost", "example.NO", "a" * 63 + ".no", "a" * 64 + ".no", "x.y.z.invalid",
               "x.onion", "x.arpa", "no", ".no", "a.no.", "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + "." + "e" * 60
               + ".no"]
    rng = random.Random(3)
    pieces = list("ab.-_+@1Z ") + ["xn--", "ø", ".no", "@x.no"]
    addresses = [f"{lo}@{d}" for lo in local for d in domains]
    addresses += ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 14))) for _ in range(3000)]
    claimed = 0
    for address in addresses:
        if c.plainly_valid_email(address):
            claimed += 1
            try:
                validate_email(address, check_deliverability=False)
            except EmailNotValidError as exc:
                pytest.fail(f"{address!r} is taken without email_validator, which refuses it: {exc}")
    assert claimed > 50 and c.plainly_valid_email("kari.nordmann+shop@post.example-shop.no")
