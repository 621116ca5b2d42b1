"""What real BigCommerce stores hold (issue 14), read by the source from the emulator: hidden and unavailable
products, variants whose purchasing is disabled, sale prices without dates, partial and full refunds (v2
`refunded_amount`, v3 payment_actions/refunds, status 14 Partially Refunded) and order lines of deleted products
(product_id 0). Expectations come from the canonical store and the emulator's documented picks."""

from decimal import Decimal

import pytest

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.bigcommerce import mapping
from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs

from .real_shop import check_refunds, gone_lines, real_store, truth


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return real_store(tmp_path_factory)


@pytest.fixture(scope="module")
def read(store_dir):
    with platforms.emulate("bigcommerce", store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as h:
        src = platforms.connect("bigcommerce", h)
        before = h.emulator.requests
        out = {e: {r.source_id: r.record for r in src.records(e)} for e in ("products", "orders")}
        out["requests"] = h.emulator.requests - before
    return out


def test_hidden_products_are_private_and_not_sold(store_dir, read):
    products = read["products"]
    for pid, p in truth(store_dir, "products").items():
        hidden = p["status"] == "disabled"  # the emulator serves these is_visible false, availability disabled
        assert (products[pid]["status"], products[pid]["lifecycle"]) == \
               (("disabled", "private") if hidden else ("enabled", "published")), pid
        assert products[pid]["type"] == ("variable" if p["variants"] else "simple")
        assert products[pid]["special_price_from"] is None and products[pid]["special_price_to"] is None
    assert any(p["lifecycle"] == "private" for p in products.values())


def test_purchasing_disabled_variants_are_carried_disabled(store_dir, read):
    disabled = 0
    for pid, p in truth(store_dir, "products").items():
        for k, v in enumerate(read["products"][pid]["variants"]):
            want = "disabled" if cases.variant_disabled(p, k) else "enabled"
            assert v["status"] == want, (pid, k)
            disabled += want == "disabled"
    assert disabled


def test_refunds_refunded_total_and_net(store_dir, read):
    check_refunds(read["orders"], store_dir)  # status 14 Partially Refunded: shipped or not, as it stood


def test_refunds_are_read_only_for_refunded_orders(store_dir, read):
    orders = truth(store_dir, "orders")
    refunded = sum(bool(cases.refunds(o)) for o in orders.values())
    # pages of orders, then per order products and shipping addresses, and refunds where refunded_amount > 0
    assert read["requests"] <= 2 * len(truth(store_dir, "products")) + 2 * len(orders) + refunded + 20


def test_lines_of_deleted_products_have_no_product_but_keep_sku_and_name(store_dir, read):
    assert all(mine["product_id"] is None for mine, _ in gone_lines(read["orders"], store_dir))  # product_id 0


def test_status_14_without_shipment_is_processing_and_digital_is_downloadable():
    o = {"id": 7, "status_id": 14, "date_shipped": "", "items_shipped": 0, "total_inc_tax": "100.0000",
         "refunded_amount": "12.5000", "billing_address": {}}
    mapped = mapping.order(o, [], [], [])
    assert (mapped["status"], mapped["refunded_total"], mapped["net_total"]) == \
           ("processing", Decimal("12.5000"), Decimal("87.5000"))
    assert mapping.order({**o, "items_shipped": 2}, [], [], [])["status"] == "complete"
    p = mapping.product({"id": 3, "type": "digital", "is_visible": True, "availability": "available", "price": 9})
    assert (p["type"], p["status"], p["lifecycle"]) == ("downloadable", "enabled", "published")
    unavailable = mapping.product({"id": 4, "is_visible": True, "availability": "disabled", "price": 9})
    assert (unavailable["status"], unavailable["lifecycle"]) == ("disabled", "published")
