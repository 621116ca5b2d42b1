"""Refunds as Shift4Shop and Lightspeed eCom give them (issue 14), read by their sources from the emulators:
Shift4Shop's refund transactions in an order's `TransactionList` (date and amount; no reason, no lines),
Lightspeed's credit notes among an order's invoices (`invoices.json?order=`, `isCreditNote`: date and amount; their
items the lines). The
order's total stays as placed, the net total is what the shop kept (kit/emulator_cases.py picks the refunds)."""

from datetime import datetime, timezone

import pytest

from cart_pipelines.platforms.kit import emulator_cases as cases


from .real_shop import check_refunds, real_store, served_orders, truth


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return real_store(tmp_path_factory)


@pytest.mark.parametrize("name,lines", [("shift4shop", False), ("lightspeed", True)])
def test_refunds_with_their_dates_refunded_and_net_totals(name, lines, store_dir):
    """Lightspeed's credit notes have items (`invoices/{id}/items.json`): the refund's lines, each pointing at the
    order product it credits; Shift4Shop's refund transactions name no lines."""
    mine = served_orders(name, store_dir)
    check_refunds(mine, store_dir, ids=True, lines=lines, reasons=False)
    dated = [(r["created_at"], o["updated_at"]) for o in mine.values() for r in o["refunds"]]
    assert dated and all(when is not None for when, _ in dated)
    if lines:  # the credit note's date is the refund's, to the second
        orders = truth(store_dir, "orders")
        assert {(oid, r["source_id"]): _utc(r["created_at"]) for oid, o in mine.items() for r in o["refunds"]} == \
            {(oid, r["source_id"]): _utc(r["created_at"]) for oid, o in orders.items()
             for r in cases.refunds_held(o, {})["refunds"]}
    assert {oid for oid, o in mine.items() if o["refunds"]} <= set(truth(store_dir, "orders"))


def _utc(value) -> datetime:
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt.astimezone(timezone.utc).replace(microsecond=0)


def test_lightspeed_delta_reads_each_changed_orders_credit_notes(store_dir):
    """A full read takes the invoices whole; a delta reads each changed order's invoices: the same refunds."""
    full = served_orders("lightspeed", store_dir)
    delta = served_orders("lightspeed", store_dir, updated_since=datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert {k: o["refunds"] for k, o in delta.items()} == {k: o["refunds"] for k, o in full.items()}
    assert sum(len(o["refunds"]) for o in delta.values()) > 1
