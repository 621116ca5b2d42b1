"""Small value readers the platform mappings share: money, blanks, ids and UTC timestamps.

A value that cannot be read is passed on as it came (not raised, not dropped), so record coercion quarantines
the record naming the field; each platform keeps what is its own (its date formats, its "no value" markers).
"""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from decimal import Decimal, InvalidOperation

NO_ID = (None, "", 0)


def money(value) -> Decimal | str | None:
    """A JSON number or numeric text as a Decimal; None for null or ""; other text is passed on unchanged."""
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return value


def blank(value):
    """None for "" (APIs send it for a value not set), the value otherwise."""
    return value if value not in ("", None) else None


def text_id(value, empty: tuple = NO_ID) -> str | None:
    """An id as text; None for the values in `empty` (null, "" and the 0 many APIs use for "no reference")."""
    return str(value) if value not in empty else None


def zulu(dt: datetime, tz: tzinfo = timezone.utc) -> str:
    """A datetime as ISO 8601 UTC with a `Z`; a naive one is read in `tz`."""
    dt = dt.replace(tzinfo=tz) if dt.tzinfo is None else dt
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def iso_utc(value, tz: tzinfo = timezone.utc, *, whole_seconds: bool = False) -> str | None:
    """ISO 8601 text (with or without an offset; without one it is in `tz`) as ISO 8601 UTC; None for empty;
    text that is no time is passed on. `whole_seconds` drops the fraction."""
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return zulu(dt.replace(microsecond=0) if whole_seconds else dt, tz)


def iso_millis(value) -> str | None:
    """A datetime or ISO 8601 text as UTC with milliseconds (`2016-08-15T23:59:33.123Z`), as several APIs write
    their times; a naive one is UTC."""
    if value in (None, ""):
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    dt = (dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt).astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def refund_totals(refunds: list[dict], grand_total) -> dict:
    """An order's `refunds` with its refunded_total and net_total (the total less what went back), for a platform
    whose refunds carry amounts; a refund amount that is no number leaves both totals open (validation names the
    field)."""
    amounts = [r["amount"] for r in refunds]
    if any(not isinstance(a, Decimal) for a in amounts):
        return {"refunds": refunds, "refunded_total": None, "net_total": None}
    back, grand = sum(amounts, Decimal(0)), money(grand_total)
    return {"refunds": refunds, "refunded_total": back if refunds else None,
            "net_total": grand - back if refunds and isinstance(grand, Decimal) else None}
