"""What real Square sellers' orders hold (issue 14), read by the source from the emulator: refunds on the order
(`Order.refunds`, APPROVED; `return_amounts`, `net_amounts` — connect-api-specification), a full refund of a
refunded order and a partial one of a few paid orders, each carried as a canonical refund with its amount, reason
and date; the order's total stays as placed and its net total is what the seller kept."""

from decimal import Decimal

import pytest

from cart_pipelines.platforms.square import mapping

from .real_shop import check_refunds, real_store, served_orders


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return real_store(tmp_path_factory)


@pytest.fixture(scope="module")
def orders(store_dir):
    return served_orders("square", store_dir)


def test_refunds_refunded_total_and_net(store_dir, orders):
    # a Square refund names no lines (itemized returns are a separate return order): amount, reason, date only
    check_refunds(orders, store_dir, lines=False, statuses=mapping.ORDER_STATUS_HELD)


def test_a_refund_not_yet_approved_or_rejected(store_dir):
    """PENDING money goes back (counted), REJECTED and FAILED did not (left out of the refunds and the net)."""
    order = {"id": "1", "state": "COMPLETED", "total_money": {"amount": 10000, "currency": "NOK"},
             "refunds": [{"id": "a", "status": "PENDING", "amount_money": {"amount": 1250, "currency": "NOK"},
                          "reason": "late"},
                         {"id": "b", "status": "REJECTED", "amount_money": {"amount": 5000, "currency": "NOK"}}]}
    got = mapping.order(order, {})
    assert [r["source_id"] for r in got["refunds"]] == ["a"]
    assert got["refunded_total"] == Decimal("12.50") and got["net_total"] == Decimal("87.50")
    assert got["status"] == "complete"
