"""What real Etsy shops' receipts hold (issue 14), read by the source from the emulator: refunds (`ShopReceipt.refunds`,
ShopRefund: amount, created_timestamp, reason — the official OAS; no id, no lines), a full refund of a fully refunded
receipt and a partial one ("partially refunded") of a few paid ones, which stand where they were (shipped or not)."""

import pytest

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs

from .real_shop import check_refunds, real_store


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return real_store(tmp_path_factory)


def test_receipt_refunds_and_partially_refunded_receipts(store_dir):
    with platforms.emulate("etsy", store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as h:
        orders = {r.source_id: r.record for r in platforms.connect("etsy", h).records("orders")}
    check_refunds(orders, store_dir, ids=False, lines=False)  # Etsy refunds have no id and name no lines
