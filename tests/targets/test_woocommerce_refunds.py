"""Into WooCommerce (the emulator): refunds become WooCommerce refunds (POST orders/{id}/refunds, api_refund
false) once, and an order line of a product that is gone becomes a fee line (target rule order_item_as_fee) that
reads back as the line; the money check compares gross and net totals."""

from decimal import Decimal

import pytest
from helpers import Run, woocommerce_target

from cart_pipelines.pipeline import checks
from cart_pipelines.pipeline.rules import RuleSettings

WOO = RuleSettings(target_platform="woocommerce")


def test_refunds_and_lines_of_gone_products_reach_woocommerce(shop, store, tmp_path):
    o = store.records["orders"][0]
    gone = {"source_id": "2-2", "product_id": "361", "sku": "OLD-361", "name": "Utgått lue", "qty": 2,
            "price": 150.0, "tax": 0}
    refund = {"source_id": "r1", "amount": "100.00", "reason": "Returned"}
    orders = [o, {**o, "source_id": "2", "number": "1002", "subtotal": 799.0, "grand_total": 923.75,
                  "items": [o["items"][0], gone], "refunds": [refund], "refunded_total": "100.00"}]
    r = Run(tmp_path / "work", store({"orders": orders}))
    r.target = woocommerce_target(shop, tmp_path)
    r(settings=WOO)
    assert r.query("SELECT outcome, count(*) FROM ledger WHERE entity = 'orders' GROUP BY 1") == [("loaded", 2)]
    rules = dict(r.query("SELECT rule, records FROM rule_counts WHERE entity = 'orders'"))
    assert rules["order_item_product_gone"] == 1 and rules["order_item_as_fee"] == 1
    row = next(x for x in r.target_rows("orders") if x["_source_id"] == "2")
    lines = {i["sku"]: i for i in row["items"]}
    assert lines["OLD-361"]["product_id"] is None and lines["OLD-361"]["qty"] == 2
    assert lines["OLD-361"]["price"] == Decimal("150.00") and lines["A-1"]["product_id"] is not None
    assert row["grand_total"] == Decimal("923.75") and row["refunded_total"] == Decimal("100.00")
    (held,) = row["refunds"]
    assert held["amount"] == Decimal("100.00") and held["reason"] == "Returned"
    with r.staging.connect() as con:
        ok, facts = checks.money_totals_match(con, r.target)
    assert ok, facts
    assert Decimal(facts["target_net_total"]) == Decimal("623.75") + Decimal("823.75")
    writes = shop.emulator.writes
    r(settings=WOO)  # a re-run writes nothing: no second refund
    assert shop.emulator.writes == writes
    assert len(next(x for x in r.target_rows("orders") if x["_source_id"] == "2")["refunds"]) == 1


def test_woocommerce_refuses_a_refund_the_gateway_would_have_to_pay(shop, tmp_path):
    from woocommerce import API
    wc = API(url=shop.base_url, version="wc/v3", timeout=10, **shop.credentials)
    order = wc.post("orders", {"line_items": [], "fee_lines": [{"name": "x", "total": "50.00"}]}).json()
    r = wc.post(f"orders/{order['id']}/refunds", {"amount": "10.00"})  # api_refund defaults to true
    assert r.status_code == 500 and r.json()["code"] == "woocommerce_rest_cannot_create_order_refund"
    assert wc.post(f"orders/{order['id']}/refunds", {"amount": "60.00", "api_refund": False}).status_code == 500
    ok = wc.post(f"orders/{order['id']}/refunds", {"amount": "50.00", "api_refund": False, "reason": "Feil"})
    assert ok.status_code == 201 and ok.json()["amount"] == "50.00"
    after = wc.get(f"orders/{order['id']}").json()
    assert after["status"] == "refunded" and after["refunds"][0]["total"] == "-50.00"
