"""Coerce one canonical record to its pyarrow schema, or say exactly why it cannot be.

Connectors hand dicts in the canonical shape; this module turns them into rows Arrow accepts. A record that
cannot be coerced is not dropped: the caller quarantines it with the reason returned here.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation, localcontext

import nh3
import pyarrow as pa
from email_validator import EmailNotValidError, validate_email

# Field-level limits that a shop's data must respect to be loadable; violations are quarantine reasons.
MAX_TEXT = 1_000_000  # characters in one field
NON_NEGATIVE = {"price", "special_price", "subtotal", "shipping", "tax", "discount", "grand_total", "amount",
                "refunded_total", "net_total"}
POSITIVE_INT = {"qty"}
# Every number is bounded here, in one place: by its field's range below, else by what its Arrow type holds
# (int32/int64; a float beyond FLOAT_LIMIT is a unit error, never a measurement).
RANGES = {"rating": (1, 5), "weight": (0, 1_000_000)}  # weight in kg: a negative or 1000-tonne product is a defect
INT_LIMITS = {32: 2**31 - 1, 64: 2**63 - 1}
FLOAT_LIMIT = 10**15
_WHOLE = re.compile(r"[+-]?[0-9]+")  # ASCII digits only: "²" or "٣" pass str.isdigit() but are no numbers
# Fields that reference another record by source id: a blank one ("", "  ") is no reference, and a list of them
# drops null and blank entries (documented handling, docs/rules.md).
REFERENCES = {"parent_id", "manufacturer_id", "tax_class_id", "customer_id", "product_id"}
REFERENCE_LISTS = {"category_ids", "child_ids"}
# A date-time later than this past now is a defect, not a record from the future: it would also push the delta
# high-water mark past every real change.
FUTURE_SLACK = timedelta(days=1)
# Date-times that say when something will happen (a scheduled sale's start and end): the future is their point.
SCHEDULED = {"special_price_from", "special_price_to"}
# Text fields that hold HTML by design: kept with their formatting, active content removed (docs/rules.md).
HTML_FIELDS = {"description_html"}


class Invalid(ValueError):
    """A record does not fit the canonical schema; the message names the field and the defect."""


def _text(value, where: str) -> str:
    if isinstance(value, str):
        s = value
    elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        s = str(value)
    else:
        raise Invalid(f"{where}: expected text, got {type(value).__name__}")
    if len(s) > MAX_TEXT:
        raise Invalid(f"{where}: text of {len(s)} characters exceeds the limit of {MAX_TEXT}")
    if "\x00" in s:
        raise Invalid(f"{where}: contains a NUL character")
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from a JSON escape such as "\\ud800"
        raise Invalid(f"{where}: invalid Unicode (unpaired surrogate at character {exc.start})") from None
    return s


# Reserved names (RFC 2606, RFC 6761, RFC 6762): shops accept them (WordPress's is_email() does), no mail reaches
# them. Kept at extraction; the report flags them for targets that refuse or cannot mail them.
RESERVED_EMAIL_TLDS = ("test", "local", "invalid", "example", "localhost")
RESERVED_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")


def reserved_email_domain(email: str | None) -> bool:
    """Whether an address is under a reserved test domain (`...@shop.test`, `.local`, `.invalid`, `.example`,
    `example.com`/`.net`/`.org` and their subdomains; `example.no` is an ordinary, registrable name)."""
    domain = (email or "").rsplit("@", 1)[-1].strip().rstrip(".").lower()
    labels = domain.split(".")
    return "@" in (email or "") and (labels[-1] in RESERVED_EMAIL_TLDS or ".".join(labels[-2:]) in RESERVED_EMAIL_DOMAINS)


# An ASCII address email_validator accepts: dot-atom local part, lower-case host labels without "--" (so no
# Punycode), a letter top-level domain that is no special-use name. The set-based path's SQL takes these as they
# are (coerce_sql.py), and so does `_email` without asking email_validator (a third of a customer's coercion);
# longer or other addresses are validated (tests/test_export_set_based.py fuzzes the claim against it).
EMAIL = (r"[A-Za-z0-9_+-]{1,64}(\.[A-Za-z0-9_+-]{1,64})*@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")
_EMAIL = re.compile(EMAIL)


def plainly_valid_email(address: str) -> bool:
    """Whether an address is one email_validator accepts by EMAIL's claim (no need to ask it)."""
    return (len(address) <= 254 and _EMAIL.fullmatch(address) is not None
            and address.rsplit(".", 1)[-1] not in SPECIAL_USE)


def _email(text: str, where: str) -> str:
    """A customer's e-mail must be an address a target can log in with: unicode local parts (RFC 6531) and
    international domain names are fine, and so are reserved test domains (`.test`, `.local`, `.invalid`: the
    source accepted them; `reserved_email_domain` lets the report flag them). Kept as written, less surrounding
    spaces and in Unicode NFC, so two ways of writing "ø" (one code point, or "o" and a combining stroke) are one
    address (rule customer_email_merged)."""
    text = unicodedata.normalize("NFC", text.strip())
    # a reserved top-level name is checked as an ordinary one (".test" as ".no"): the syntax must still hold
    checked = text
    if reserved_email_domain(text) and "." in text.rsplit("@", 1)[-1]:
        checked = text.rstrip(".").rsplit(".", 1)[0] + ".no"
    if plainly_valid_email(checked):
        return text
    try:
        validate_email(checked, check_deliverability=False)
    except EmailNotValidError as exc:
        raise Invalid(f"{where}: {text[:80]!r} is not an e-mail address ({exc})") from None
    return text


def _shown(value) -> str:
    """A value as a reason quotes it: text in quotes, numbers as written; cut short (a 5,000-digit number)."""
    s = repr(value) if isinstance(value, str) else str(value)
    return s if len(s) <= 40 else f"{s[:30]}… ({len(s)} characters)"


def _invisible(text: str) -> bool:
    """Whether text shows nothing: only spaces and format characters (zero-width space, joiners, BOM)."""
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in text)


def _decimal(value, type_: pa.Decimal128Type, where: str) -> Decimal:
    if isinstance(value, bool):
        raise Invalid(f"{where}: expected a number, got a boolean")
    if isinstance(value, str):
        text = value.strip()
        if "," in text:
            raise Invalid(f"{where}: {_shown(value)} has a comma; write numbers with a decimal point and no separators")
        value = text
    try:
        d = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise Invalid(f"{where}: {_shown(value)} is not a number") from None
    if not d.is_finite():
        raise Invalid(f"{where}: {_shown(value)} is not a finite number")
    # Bounded before rounding: quantizing 1e30 to cents needs more digits than any context holds.
    if d and d.adjusted() >= type_.precision - type_.scale:
        raise Invalid(f"{where}: {_shown(value)} is too large (at most {type_.precision - type_.scale} digits "
                      f"before the decimal point)")
    with localcontext() as ctx:
        ctx.prec = type_.precision + 2
        try:
            q = d.quantize(Decimal(1).scaleb(-type_.scale))
        except InvalidOperation:  # more digits than the context: only for sub-cent values of huge length
            raise Invalid(f"{where}: {_shown(value)} has more than {type_.scale} decimals") from None
    if q != d:
        raise Invalid(f"{where}: {_shown(value)} has more than {type_.scale} decimals")
    return q


def _int(value, where: str, bits: int) -> int:
    """A whole number that fits a signed integer of `bits` bits."""
    if isinstance(value, bool):
        raise Invalid(f"{where}: expected a whole number, got a boolean")
    limit = INT_LIMITS[bits]
    n = None
    if isinstance(value, int):
        n = value
    elif isinstance(value, (float, Decimal)) and value == value and abs(value) != float("inf"):
        d = Decimal(value)
        if d and d.adjusted() > 30:  # int() of 1e999999999 would build a number of a billion digits
            raise Invalid(f"{where}: {_shown(value)} is too large (at most {limit})")
        if d == d.to_integral_value():
            n = int(d)
    elif isinstance(value, str) and len(value) <= 100 and _WHOLE.fullmatch(value.strip()):
        n = int(value.strip())
    if n is None:
        raise Invalid(f"{where}: {_shown(value)} is not a whole number")
    if not -limit - 1 <= n <= limit:
        raise Invalid(f"{where}: {_shown(n)} is too large (at most {limit})" if n > 0 else
                      f"{where}: {_shown(n)} is too small (at least {-limit - 1})")
    return n


def _bool(value, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "yes", "no", "1", "0"}:
        return value.strip().lower() in {"true", "yes", "1"}
    raise Invalid(f"{where}: {value!r} is not true/false")


def _timestamp(value, where: str, scheduled: bool = False) -> datetime:
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(f"{where}: {value!r} is not an ISO 8601 date-time") from None
    else:
        raise Invalid(f"{where}: expected a date-time, got {type(value).__name__}")
    try:
        dt = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)
    except OverflowError:
        raise Invalid(f"{where}: {value!r} is outside the years 1..9999 in UTC") from None
    if not scheduled and dt > datetime.now(timezone.utc) + FUTURE_SLACK:
        raise Invalid(f"{where}: {dt.isoformat()} is in the future")
    return dt


def _float(value, name: str, where: str) -> float:
    if isinstance(value, bool):
        raise Invalid(f"{where}: expected a number, got a boolean")
    try:
        d = Decimal(str(value)) if isinstance(value, float) else Decimal(value.strip() if isinstance(value, str)
                                                                          else value)
    except (InvalidOperation, TypeError, ValueError):
        raise Invalid(f"{where}: {_shown(value)} is not a number") from None
    if not d.is_finite():
        raise Invalid(f"{where}: {_shown(value)} is not a finite number")
    lo, hi = RANGES.get(name, (-FLOAT_LIMIT, FLOAT_LIMIT))
    if not lo <= d <= hi:
        raise Invalid(f"{where}: {_shown(value)} is outside {lo}..{hi}")
    return float(d)


def _choice(text: str, choices: list[str], where: str) -> str:
    """One of a field's values (canonical-model.md), compared trimmed and case-insensitively ("Enabled ")."""
    key = text.strip().lower()
    if key not in choices:
        raise Invalid(f"{where}: {_shown(text)} is not one of {', '.join(choices)}")
    return key


# Formatting attributes kept on every tag of a description (nh3 removes every attribute not allowed): class and
# style carry a shop's formatting; style is filtered to presentational properties (no url(), no positioning).
STYLE_PROPERTIES = {
    "color", "background-color", "font", "font-family", "font-size", "font-style", "font-weight", "line-height",
    "text-align", "text-decoration", "text-transform", "letter-spacing", "vertical-align", "white-space",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left", "padding", "padding-top",
    "padding-right", "padding-bottom", "padding-left", "border", "border-color", "border-style", "border-width",
    "border-collapse", "width", "height", "max-width", "list-style-type",
}


_ATTRIBUTES = {**{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()}, "*": {"class", "style"}}
# Built once: building the allow-lists is most of the cost of a call (nh3 >= 0.3 has Cleaner; older, clean()).
_CLEANER = (nh3.Cleaner(attributes=_ATTRIBUTES, filter_style_properties=STYLE_PROPERTIES)
            if hasattr(nh3, "Cleaner") else None)


def clean_html(text: str) -> str:
    """A description without active content (scripts, event handlers, javascript: links; nh3's allow-list of
    tags), its formatting kept: `class` and presentational `style` on every tag (docs/rules.md)."""
    if _CLEANER is not None:
        return _CLEANER.clean(text)
    return nh3.clean(text, attributes=_ATTRIBUTES, filter_style_properties=STYLE_PROPERTIES)


def coerce(value, field: pa.Field, where: str):
    """`value` as the Python value Arrow stores for `field`; raises Invalid naming `where`."""
    if value is None or (isinstance(value, str) and value == "" and not pa.types.is_string(field.type)):
        if not field.nullable:
            raise Invalid(f"{where}: required field is missing")
        return None
    t, name = field.type, field.name
    if pa.types.is_string(t):
        text = _text(value, where)
        if not field.nullable and _invisible(text):
            raise Invalid(f"{where}: required field is blank" if not text.strip() else
                          f"{where}: required field is blank (only invisible characters such as zero-width spaces)")
        if name in REFERENCES and not text.strip():
            return None
        if name == "email" and not field.nullable:
            return _email(text, where)
        if name in HTML_FIELDS:
            return clean_html(text)
        choices = (field.metadata or {}).get(b"enum")
        if choices is not None:
            return _choice(text, choices.decode().split(","), where)
        return text
    if pa.types.is_decimal(t):
        d = _decimal(value, t, where)
        if name in NON_NEGATIVE and d < 0:
            raise Invalid(f"{where}: {d} is negative")
        return d
    if pa.types.is_integer(t):
        n = _int(value, where, t.bit_width)
        if name in POSITIVE_INT and n <= 0:
            raise Invalid(f"{where}: quantity {n} is not positive")
        lo_hi = RANGES.get(name)
        if lo_hi and not lo_hi[0] <= n <= lo_hi[1]:
            raise Invalid(f"{where}: {n} is outside {lo_hi[0]}..{lo_hi[1]}")
        return n
    if pa.types.is_floating(t):
        return _float(value, name, where)
    if pa.types.is_boolean(t):
        return _bool(value, where)
    if pa.types.is_timestamp(t):
        return _timestamp(value, where, name in SCHEDULED)
    if pa.types.is_struct(t):
        if not isinstance(value, dict):
            raise Invalid(f"{where}: expected an object, got {type(value).__name__}")
        return {f.name: coerce(value.get(f.name), f, f"{where}.{f.name}") for f in t}
    if pa.types.is_list(t):
        if not isinstance(value, list):
            raise Invalid(f"{where}: expected a list, got {type(value).__name__}")
        items = [coerce(v, t.value_field, f"{where}[{k}]") for k, v in enumerate(value)]
        if name in REFERENCE_LISTS:  # [null], [""]: no reference, not a reference to a record without id
            items = [v for v in items if v is not None and v.strip()]
        return items
    raise Invalid(f"{where}: unsupported type {t}")


def coerce_record(record, schema: pa.Schema) -> dict:
    """The record as a row of `schema`; unknown keys are ignored (sources carry more than we migrate).

    A record is first coerced by the schema's compiled coercer (`_compiled`: what `coerce` decides per field from
    the field's type and name, decided once per schema); one it refuses is coerced again by `coerce`, which says
    where and why. The two accept the same records and return the same rows (tests/test_coerce_compiled.py)."""
    if not isinstance(record, dict):
        raise Invalid(f"record: expected an object, got {type(record).__name__}")
    try:
        fields = _compiled(schema)
        return {name: fn(record.get(name)) for name, fn in fields}
    except Exception:  # the reason (and the exception, if any other) comes from the field-by-field coercion
        pass
    return coerce_reference(record, schema)


def coerce_reference(record, schema: pa.Schema) -> dict:
    """`coerce_record` field by field through `coerce`: the reference the compiled coercer is held to, and what
    names the field and the defect of a record it refuses."""
    if not isinstance(record, dict):
        raise Invalid(f"record: expected an object, got {type(record).__name__}")
    return {f.name: coerce(record.get(f.name), f, f.name) for f in schema}


# --- The compiled coercer: per field, a function of the value alone, with what `coerce` looks up in the field
# (type tests, name sets, enum metadata) decided when the schema is first seen. It raises on any defect without
# building a message (the caller then asks `coerce`), so no `where` text is made for values that are fine.

class _Refused(Exception):
    """A value the compiled coercer does not accept; `coerce` says why."""


_REFUSED = _Refused()
_SCHEMAS: dict[bytes, tuple] = {}  # serialized schema -> compiled fields; a handful of canonical schemas
# The schema object last asked for and its fields, one tuple (threads replace it whole; it holds the schema, so
# `is` cannot meet another object at its address): a record costs no serialization of its schema.
_LAST: tuple = (None, ())


def _compiled(schema: pa.Schema) -> tuple:
    global _LAST
    last = _LAST
    if last[0] is schema:
        return last[1]
    key = schema.serialize().to_pybytes()  # field metadata included (enum choices)
    fields = _SCHEMAS.get(key)
    if fields is None:
        if len(_SCHEMAS) >= 64:  # bounded: schemas are few, but never let the cache grow without limit
            _SCHEMAS.clear()
        fields = _SCHEMAS[key] = tuple((f.name, _compile(f)) for f in schema)
    _LAST = (schema, fields)
    return fields


def _plain_text(value) -> str:
    """What `_text` returns for a value it accepts; raises on any other."""
    if isinstance(value, str):
        s = value
    elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        s = str(value)
    else:
        raise _REFUSED
    if len(s) > MAX_TEXT or "\x00" in s:
        raise _REFUSED
    if not s.isascii():
        s.encode("utf-8")  # a lone surrogate raises
    return s


def _compile(field: pa.Field):
    t, name, nullable = field.type, field.name, field.nullable
    if pa.types.is_string(t):
        return _compile_text(field)
    if pa.types.is_struct(t):
        subs = tuple((f.name, _compile(f)) for f in t)

        def value_of(v):
            if isinstance(v, dict):
                return {n: fn(v.get(n)) for n, fn in subs}
            raise _REFUSED
    elif pa.types.is_list(t):
        item = _compile(t.value_field)
        references = name in REFERENCE_LISTS

        def value_of(v):
            if not isinstance(v, list):
                raise _REFUSED
            items = [item(x) for x in v]
            if references:
                items = [x for x in items if x is not None and x.strip()]
            return items
    else:
        value_of = _compile_scalar(field)
        if value_of is None:  # a type `coerce` does not support: every value refused
            def value_of(v):
                raise _REFUSED

    def coerced(v):
        if v is None or isinstance(v, str) and v == "":
            if not nullable:
                raise _REFUSED
            return None
        return value_of(v)
    return coerced


def _compile_scalar(field: pa.Field):
    t, name = field.type, field.name
    if pa.types.is_decimal(t):
        non_negative = name in NON_NEGATIVE

        def value_of(v):
            d = _decimal(v, t, name)
            if non_negative and d < 0:
                raise _REFUSED
            return d
        return value_of
    if pa.types.is_integer(t):
        bits, positive, lo_hi = t.bit_width, name in POSITIVE_INT, RANGES.get(name)
        limit = INT_LIMITS[bits]

        def value_of(v):
            if type(v) is int:
                n = v
                if not -limit - 1 <= n <= limit:
                    raise _REFUSED
            else:
                n = _int(v, name, bits)
            if positive and n <= 0:
                raise _REFUSED
            if lo_hi and not lo_hi[0] <= n <= lo_hi[1]:
                raise _REFUSED
            return n
        return value_of
    if pa.types.is_floating(t):
        return lambda v: _float(v, name, name)
    if pa.types.is_boolean(t):
        return lambda v: _bool(v, name)
    if pa.types.is_timestamp(t):
        scheduled = name in SCHEDULED
        return lambda v: _timestamp(v, name, scheduled)
    return None


def _compile_text(field: pa.Field):
    name, nullable = field.name, field.nullable
    reference = name in REFERENCES
    email = name == "email" and not nullable
    html = name in HTML_FIELDS
    choices = (field.metadata or {}).get(b"enum")
    choices = choices.decode().split(",") if choices is not None else None

    def coerced(v):
        if v is None:
            if not nullable:
                raise _REFUSED
            return None
        text = _plain_text(v)
        if not nullable and _invisible(text):
            raise _REFUSED
        if reference and not text.strip():
            return None
        if email:
            return _email(text, name)
        if html:
            return clean_html(text)
        if choices is not None:
            return _choice(text, choices, name)
        return text

    # Most text fields take an ASCII string as it is: no surrogate to look for, and (required ones) blank only if
    # it is all white space (no ASCII character is a format character); anything else goes through `coerced`.
    if reference or html or email or choices is not None:
        return coerced
    if nullable:
        def as_is(v):
            if type(v) is str and v.isascii() and len(v) <= MAX_TEXT and "\x00" not in v:
                return v
            return None if v is None else coerced(v)
        return as_is

    def required(v):
        if type(v) is str and v.isascii() and len(v) <= MAX_TEXT and "\x00" not in v and v.strip():
            return v
        return coerced(v)
    return required
