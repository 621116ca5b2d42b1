"""The shared value readers: what they make of real API values, and that unreadable ones are passed on."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from cart_pipelines.platforms.kit.values import blank, iso_millis, iso_utc, money, text_id, zulu


def test_money_reads_numbers_and_numeric_text_exactly():
    assert money("19.99") == Decimal("19.99")
    assert money(0.1) == Decimal("0.1")  # via str(): no binary float noise
    assert money(5) == Decimal(5)
    assert money(None) is None and money("") is None


def test_money_passes_on_what_is_no_number_so_coercion_can_name_the_field():
    assert money("12,50 EUR") == "12,50 EUR"


def test_blank_only_empties_null_and_empty_text():
    assert blank("") is None and blank(None) is None
    assert blank(0) == 0 and blank(False) is False and blank("x") == "x"


def test_text_id_drops_the_no_reference_values():
    assert text_id(42) == "42" and text_id("a1") == "a1"
    assert text_id(0) is None and text_id("") is None and text_id(None) is None
    assert text_id("0") == "0"
    assert text_id("0", (None, "", 0, "0")) is None


def test_zulu_reads_naive_times_in_the_given_zone():
    assert zulu(datetime(2024, 1, 15, 10, 30, tzinfo=timezone.utc)) == "2024-01-15T10:30:00Z"
    assert zulu(datetime(2024, 1, 15, 10, 30)) == "2024-01-15T10:30:00Z"
    assert zulu(datetime(2024, 7, 1, 12, 0), ZoneInfo("Europe/Oslo")) == "2024-07-01T10:00:00Z"
    assert zulu(datetime(2024, 1, 1, 5, tzinfo=timezone(timedelta(hours=-5)))) == "2024-01-01T10:00:00Z"


def test_iso_utc():
    assert iso_utc("2024-01-15T10:30:00+02:00") == "2024-01-15T08:30:00Z"
    assert iso_utc("2024-01-15T10:30:00Z") == "2024-01-15T10:30:00Z"
    assert iso_utc("2024-01-15T10:30:00", ZoneInfo("America/New_York")) == "2024-01-15T15:30:00Z"
    assert iso_utc("2024-01-15T10:30:00.250Z") == "2024-01-15T10:30:00.250000Z"
    assert iso_utc("2024-01-15T10:30:00.250Z", whole_seconds=True) == "2024-01-15T10:30:00Z"
    assert iso_utc("") is None and iso_utc(None) is None
    assert iso_utc("next tuesday") == "next tuesday"


def test_iso_millis_writes_milliseconds():
    assert iso_millis("2016-08-15T23:59:33.123456Z") == "2016-08-15T23:59:33.123Z"
    assert iso_millis(datetime(2016, 8, 15, 23, 59, 33)) == "2016-08-15T23:59:33.000Z"
    assert iso_millis("2016-08-16T01:59:33+02:00") == "2016-08-15T23:59:33.000Z"
    assert iso_millis(None) is None and iso_millis("") is None

