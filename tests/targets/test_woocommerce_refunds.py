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


def test_refund_lines_reach_the_order_lines_written_for_them(shop, store, tmp_path):
    """A refund's lines go as its line_items on the order lines written for their source lines, so WooCommerce
    records the refunded quantities there; a line whose order line is a fee (order_item_as_fee) goes without it,
    counted by refund_line_without_order_line; the refund's amount stays the source's; a re-run writes nothing."""
    o = store.records["orders"][0]
    kept = {**o["items"][0], "source_id": "2-1", "qty": 3, "tax": 0}
    gone = {"source_id": "2-2", "product_id": "361", "sku": "OLD-361", "name": "Utgått lue", "qty": 2,
            "price": 150.0, "tax": 0}
    refund = {"source_id": "r2", "amount": "1200.00", "reason": "Returned",
              "lines": [{"item_id": "2-1", "sku": "A-1", "qty": 2, "amount": "998.00"},
                        {"item_id": "2-2", "sku": "OLD-361", "qty": 1, "amount": "150.00"}]}
    orders = [o, {**o, "source_id": "2", "number": "1002", "subtotal": 1797.0, "tax": 0, "grand_total": 1797.0,
                  "items": [kept, gone], "refunds": [refund], "refunded_total": "1200.00"}]
    r = Run(tmp_path / "work", store({"orders": orders}))
    r.target = woocommerce_target(shop, tmp_path)
    r(settings=WOO)
    assert r.query("SELECT outcome, count(*) FROM ledger WHERE entity = 'orders' GROUP BY 1") == [("loaded", 2)]
    rules = dict(r.query("SELECT rule, records FROM rule_counts WHERE entity = 'orders'"))
    assert rules["refund_line_without_order_line"] == 1
    tid = next(x for x in r.target_rows("orders") if x["_source_id"] == "2")["id"]
    order = r.target._call("GET", f"orders/{tid}").json()
    line = next(li for li in order["line_items"] if li["sku"] == "A-1")
    (held,) = [x for page in r.target._pages(f"orders/{tid}/refunds") for x in page]
    assert held["amount"] == "1200.00" and held["reason"] == "Returned"
    (back,) = held["line_items"]  # the fee line's refund line is not there
    assert back["quantity"] == -2 and back["total"] == "-998.00" and back["sku"] == "A-1"
    assert [(m["key"], m["value"]) for m in back["meta_data"]] == [("_refunded_item_id", str(line["id"]))]
    writes = shop.emulator.writes
    r(settings=WOO)  # a re-run writes nothing: the refund is found by its source id
    assert shop.emulator.writes == writes
    assert len([x for page in r.target._pages(f"orders/{tid}/refunds") for x in page]) == 1


def test_woocommerce_takes_refund_line_items_as_wc_create_refund_does(shop):
    """RestApiUtil::adjust_create_refund_request_parameters and wc_create_refund: the named order lines become
    refund lines (quantity, total and tax negative, `_refunded_item_id`); an id that is no line of the order is
    passed over without an error, and WooCommerce does not check the quantity against the line's."""
    from woocommerce import API
    wc = API(url=shop.base_url, version="wc/v3", timeout=10, **shop.credentials)
    product = wc.post("products", {"name": "Lue", "regular_price": "100.00"}).json()
    order = wc.post("orders", {"line_items": [{"product_id": product["id"], "quantity": 2, "subtotal": "200.00",
                                               "total": "200.00"}]}).json()
    (li,) = order["line_items"]
    r = wc.post(f"orders/{order['id']}/refunds", {
        "amount": "110.00", "api_refund": False, "line_items": [
            {"id": li["id"], "quantity": 1, "refund_total": 100, "refund_tax": [{"id": 7, "refund_total": 10}]},
            {"id": 999999, "quantity": 1, "refund_total": 50}]})
    assert r.status_code == 201, r.text
    (back,) = r.json()["line_items"]
    assert (back["quantity"], back["total"], back["total_tax"]) == (-1, "-100.00", "-10.00")
    assert back["taxes"] == [{"id": 7, "total": "-10.00", "subtotal": "-10.00"}]
    assert back["meta_data"][0]["key"] == "_refunded_item_id" and back["meta_data"][0]["value"] == str(li["id"])
    more = wc.post(f"orders/{order['id']}/refunds", {"amount": "10.00", "api_refund": False,
                                                     "line_items": [{"id": li["id"], "quantity": 5,
                                                                     "refund_total": 10}]})
    assert more.status_code == 201 and more.json()["line_items"][0]["quantity"] == -5
    listed = wc.get(f"orders/{order['id']}/refunds").json()
    assert [[x["quantity"] for x in r["line_items"]] for r in listed] == [[-5], [-1]]
    nothing = wc.post(f"orders/{order['id']}/refunds", {"amount": "10.00", "api_refund": False,
                                                        "line_items": [{"id": li["id"], "quantity": 0,
                                                                        "refund_total": 0}]})
    assert nothing.status_code == 201 and nothing.json()["line_items"] == []
