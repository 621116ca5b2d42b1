"""Coerce one canonical record to its pyarrow schema, or say exactly why it cannot be.

Connectors hand dicts in the canonical shape; this module turns them into rows Arrow accepts. A record that
cannot be coerced is not dropped: the caller quarantines it with the reason returned here.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation

import nh3
import pyarrow as pa
from email_validator import EmailNotValidError, validate_email

# Field-level limits that a shop's data must respect to be loadable; violations are quarantine reasons.
MAX_TEXT = 1_000_000  # characters in one field
NON_NEGATIVE = {"price", "special_price", "subtotal", "shipping", "tax", "discount", "grand_total"}
POSITIVE_INT = {"qty"}
RANGES = {"rating": (1, 5)}
# A date-time later than this past now is a defect, not a record from the future: it would also push the delta
# high-water mark past every real change.
FUTURE_SLACK = timedelta(days=1)
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


def _email(text: str, where: str) -> str:
    """A customer's e-mail must be an address a target can log in with: unicode local parts (RFC 6531) and
    international domain names are fine; the value is kept as given."""
    try:
        validate_email(text.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise Invalid(f"{where}: {text[:80]!r} is not an e-mail address ({exc})") from None
    return text


def _shown(value) -> str:
    """A value as a reason quotes it: text in quotes, numbers as written."""
    return repr(value) if isinstance(value, str) else str(value)


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
    q = d.quantize(Decimal(1).scaleb(-type_.scale))
    if q != d:
        raise Invalid(f"{where}: {_shown(value)} has more than {type_.scale} decimals")
    if len(q.as_tuple().digits) > type_.precision:
        raise Invalid(f"{where}: {_shown(value)} is too large")
    return q


def _int(value, where: str) -> int:
    if isinstance(value, bool):
        raise Invalid(f"{where}: expected a whole number, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, (float, Decimal)) and value == value and abs(value) != float("inf") \
            and value == int(value):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise Invalid(f"{where}: {value!r} is not a whole number")


def _bool(value, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "yes", "no", "1", "0"}:
        return value.strip().lower() in {"true", "yes", "1"}
    raise Invalid(f"{where}: {value!r} is not true/false")


def _timestamp(value, where: str) -> datetime:
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
    if dt > datetime.now(timezone.utc) + FUTURE_SLACK:
        raise Invalid(f"{where}: {dt.isoformat()} is in the future")
    return dt


def coerce(value, field: pa.Field, where: str):
    """`value` as the Python value Arrow stores for `field`; raises Invalid naming `where`."""
    if value is None or (isinstance(value, str) and value == "" and not pa.types.is_string(field.type)):
        if not field.nullable:
            raise Invalid(f"{where}: required field is missing")
        return None
    t, name = field.type, field.name
    if pa.types.is_string(t):
        text = _text(value, where)
        if not field.nullable and not text.strip():
            raise Invalid(f"{where}: required field is blank")
        if name == "email" and not field.nullable:
            return _email(text, where)
        if name in HTML_FIELDS:
            return nh3.clean(text)
        return text
    if pa.types.is_decimal(t):
        d = _decimal(value, t, where)
        if name in NON_NEGATIVE and d < 0:
            raise Invalid(f"{where}: {d} is negative")
        return d
    if pa.types.is_integer(t):
        n = _int(value, where)
        if name in POSITIVE_INT and n <= 0:
            raise Invalid(f"{where}: quantity {n} is not positive")
        lo_hi = RANGES.get(name)
        if lo_hi and not lo_hi[0] <= n <= lo_hi[1]:
            raise Invalid(f"{where}: {n} is outside {lo_hi[0]}..{lo_hi[1]}")
        return n
    if pa.types.is_floating(t):
        try:
            return float(_decimal(value, pa.decimal128(38, 10), where))
        except Invalid:
            raise Invalid(f"{where}: {value!r} is not a number") from None
    if pa.types.is_boolean(t):
        return _bool(value, where)
    if pa.types.is_timestamp(t):
        return _timestamp(value, where)
    if pa.types.is_struct(t):
        if not isinstance(value, dict):
            raise Invalid(f"{where}: expected an object, got {type(value).__name__}")
        return {f.name: coerce(value.get(f.name), f, f"{where}.{f.name}") for f in t}
    if pa.types.is_list(t):
        if not isinstance(value, list):
            raise Invalid(f"{where}: expected a list, got {type(value).__name__}")
        return [coerce(v, t.value_field, f"{where}[{k}]") for k, v in enumerate(value)]
    raise Invalid(f"{where}: unsupported type {t}")


def coerce_record(record, schema: pa.Schema) -> dict:
    """The record as a row of `schema`; unknown keys are ignored (sources carry more than we migrate)."""
    if not isinstance(record, dict):
        raise Invalid(f"record: expected an object, got {type(record).__name__}")
    return {f.name: coerce(record.get(f.name), f, f.name) for f in schema}
