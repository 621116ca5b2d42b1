"""Refunds as Squarespace and Ecwid give them (issue 14), read by their sources from the emulators: Ecwid's order
`refunds` (date, reason, amount; no id, no lines) and `refundedAmount`, PARTIALLY_REFUNDED leaving the order where
its fulfilment stands; Squarespace's `refundedTotal` (an amount only). The order's total stays as placed, the net
total is what the shop kept (kit/emulator_cases.py picks the refunds)."""

from decimal import Decimal

import pytest

from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.squarespace import mapping as squarespace

from .real_shop import check_refunds, real_store, served_orders, truth


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return real_store(tmp_path_factory)


def test_ecwid_refunds_refunded_amount_and_net(store_dir):
    check_refunds(served_orders("ecwid", store_dir), store_dir, ids=False, lines=False)  # Ecwid refunds have no id


def test_squarespace_refunded_total_and_net(store_dir):
    mine, full, partial = served_orders("squarespace", store_dir), 0, 0
    for oid, o in truth(store_dir, "orders").items():
        back = cases.refunded_total(o)
        assert mine[oid]["refunds"] == [] and mine[oid]["refunded_total"] == (back or None), oid
        assert mine[oid]["net_total"] == (Decimal(str(o["grand_total"])) - back if back else None), oid
        assert mine[oid]["grand_total"] == Decimal(str(o["grand_total"]))
        assert mine[oid]["status"] == squarespace.ORDER_STATUS_HELD.get(o["status"], o["status"]), oid
        full += bool(back) and o["status"] == "refunded"
        partial += bool(back) and o["status"] != "refunded"
    assert full and partial
