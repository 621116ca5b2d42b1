"""What real PrestaShop shops' orders hold (issue 14), read by the source from the emulator: refunds as credit slips
(`order_slip`, PrestaShop's OrderSlip webservice resource: product and shipping totals, `order_slip_details` per
order line), a full refund of a refunded order (shipping given back) and a partial one of a few paid orders. A slip
has no reason; its lines name the order's order_details."""

import pytest

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs

from .real_shop import check_refunds, real_store, served_orders


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return real_store(tmp_path_factory)


@pytest.fixture(scope="module")
def orders(store_dir):
    return served_orders("prestashop", store_dir)


def test_credit_slips_are_refunds_with_their_lines(store_dir, orders):
    check_refunds(orders, store_dir, reasons=False)


def test_a_slip_is_listed_as_order_slips_and_filtered_by_order(store_dir):
    with platforms.emulate("prestashop", store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as h:
        src = platforms.connect("prestashop", h)
        slips = src.reader.all("order_slip", {"filter[id_order]": "[7|5]"})
    assert slips and {s["id_order"] for s in slips} <= {"5", "7"}
    assert all(s["associations"]["order_slip_details"] for s in slips)
