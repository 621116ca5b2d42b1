"""WooCommerce refunds with their lines (issue 14): an order's `refunds` list holds only id, reason and total, so
the emulator serves `orders/{id}/refunds` (and `/refunds/{id}`) as WooCommerce does — date, amount, reason and
line items with negative quantities and amounts before tax, naming the order line in meta `_refunded_item_id` —
and the source reads it for the orders that have refunds, and only for them, into the canonical refunds."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from helpers import Run, base_store, write_store

from cart_pipelines.defs.platform_resources import ShopifyTargetResource
from cart_pipelines.pipeline import checks
from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs, running
from cart_pipelines.platforms.kit.http import ConnectionProblem
from cart_pipelines.platforms.shopify.emulator import ShopifyEmulator
from cart_pipelines.platforms.woocommerce import mapping
from cart_pipelines.platforms.woocommerce.emulator import WooCommerceEmulator, WpError
from cart_pipelines.platforms.woocommerce.source import WooCommerceSource

REFUND = {"source_id": "901", "amount": "623.75", "reason": "Returned: too small",
          "created_at": "2024-05-03T12:00:00Z",
          "lines": [{"item_id": "2-1", "sku": "A-1", "qty": 1, "amount": "499.00"}]}


def refund_store() -> dict:
    """Order 1 without refunds; order 2 (two units of A-1, one line of B-1) with one unit of A-1 refunded."""
    records = base_store()
    o = {**records["orders"][0], "status": "complete", "created_at": "2024-05-01T10:00:00Z"}
    two = [{**o["items"][0], "source_id": "2-1", "qty": 2, "tax": 249.5},
           {**o["items"][0], "source_id": "2-2", "sku": "B-1", "name": "Lue", "qty": 1, "price": 100.0, "tax": 25.0}]
    records["orders"] = [o, {**o, "source_id": "2", "number": "1002", "items": two, "subtotal": 1098.0,
                             "tax": 274.5, "grand_total": 1372.5, "refunds": [REFUND], "refunded_total": "623.75"}]
    return records


class Counting(WooCommerceEmulator):
    """Counts the refund reads per order; `failing` answers one order's refunds with an error."""

    failing: int | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.refund_reads: list[int] = []

    def refunds(self, request, order_id: int):
        self.refund_reads.append(order_id)
        if order_id == self.failing:
            return self.wp_error(WpError(403, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources."))
        return super().refunds(request, order_id)


@pytest.fixture
def shop(tmp_path):
    emulator = Counting(EmulatorStore(write_store(tmp_path / "store", refund_store())), Knobs(rate_limit=False))
    with running(emulator, lifetime=300) as handle:
        handle.emulator = emulator
        yield handle


def test_order_refunds_route_serves_the_refund_with_its_lines(shop):
    src = WooCommerceSource.connect(shop.base_url, shop.credentials)
    order = src.reader.get("orders/2", what="order 2").json()
    assert order["refunds"] == [{"id": 901, "reason": "Returned: too small", "total": "-623.75"}]
    r = src.reader.get("orders/2/refunds", {"per_page": 1}, what="refunds")
    assert (r.headers["X-WP-Total"], r.headers["X-WP-TotalPages"]) == ("1", "1")
    (refund,) = r.json()
    assert set(refund) == {"id", "date_created", "date_created_gmt", "amount", "reason", "refunded_by",
                           "refunded_payment", "meta_data", "line_items", "shipping_lines", "tax_lines", "fee_lines"}
    assert (refund["id"], refund["amount"], refund["reason"], refund["date_created_gmt"]) == \
        (901, "623.75", "Returned: too small", "2024-05-03T12:00:00")
    (line,) = refund["line_items"]
    a1 = order["line_items"][0]
    assert (line["product_id"], line["variation_id"], line["sku"], line["name"]) == (a1["product_id"], 0, "A-1",
                                                                                    a1["name"])
    assert (line["quantity"], line["subtotal"], line["total"], line["total_tax"], line["subtotal_tax"]) == \
        (-1, "-499.00", "-499.00", "-124.75", "-124.75")
    assert line["price"] == 499.0 and [t["total"] for t in line["taxes"]] == ["-124.75"]
    assert [(m["key"], m["value"]) for m in line["meta_data"]] == [("_refunded_item_id", str(a1["id"]))]
    single = src.reader.get("orders/2/refunds/901", what="refund 901").json()
    assert single == refund
    with pytest.raises(ConnectionProblem) as exc:
        src.reader.get("orders/2/refunds/902", what="refund 902")
    assert exc.value.kind == "not_found"
    assert src.reader.get("orders/1/refunds", what="refunds").json() == []
    unsigned = requests.get(f"{shop.base_url}/wp-json/wc/v3/orders/2/refunds", timeout=10)  # no key: no refunds
    assert unsigned.status_code == 401 and "line_items" not in unsigned.text


def test_refunds_route_is_under_the_host_limit(tmp_path):
    emulator = WooCommerceEmulator(EmulatorStore(write_store(tmp_path / "store", refund_store())), Knobs())
    with running(emulator, lifetime=60) as handle:
        r = WooCommerceSource.connect(handle.base_url, handle.credentials).reader.get("orders/2/refunds/901",
                                                                                      what="refund 901")
    assert r.headers["RateLimit-Limit"] == "25" and int(r.headers["RateLimit-Remaining"]) < 25


def test_source_reads_refund_lines_only_for_orders_with_refunds(shop):
    src = WooCommerceSource.connect(shop.base_url, shop.credentials)
    orders = {r.record["source_id"]: r.record for r in src.records("orders")}
    assert shop.emulator.refund_reads == [2]  # order 1 has no refunds: no request for it
    assert orders["1"]["refunds"] == [] and orders["1"]["refunded_total"] is None
    (refund,) = orders["2"]["refunds"]
    assert (refund["source_id"], refund["amount"], refund["reason"], refund["created_at"]) == \
        ("901", Decimal("623.75"), "Returned: too small", "2024-05-03T12:00:00Z")
    assert refund["lines"] == [{"item_id": orders["2"]["items"][0]["source_id"], "sku": "A-1", "qty": 1,
                                "amount": Decimal("499.00")}]
    assert orders["2"]["net_total"] == Decimal("1372.50") - Decimal("623.75")


def test_a_failing_refund_read_names_the_order(shop):
    shop.emulator.failing = 2
    src = WooCommerceSource.connect(shop.base_url, shop.credentials)
    with pytest.raises(ConnectionProblem) as exc:
        list(src.records("orders"))
    assert "refunds of order 2" in str(exc.value) and "cannot list" in str(exc.value)


def test_refund_line_without_refunded_item_id_matches_the_order_line():
    order_lines = [{"id": 11, "product_id": 5, "variation_id": 0, "sku": "A-1"},
                   {"id": 12, "product_id": 5, "variation_id": 7, "sku": "A-1-RED"}]
    line = {"id": 99, "product_id": 5, "variation_id": 7, "sku": "A-1-RED", "quantity": -2, "total": "-20.00",
            "total_tax": "-5.00", "meta_data": []}
    assert mapping.refund_line(line, order_lines) == {"item_id": "12", "sku": "A-1-RED", "qty": 2,
                                                       "amount": Decimal("20.00")}
    named = {**line, "meta_data": [{"key": "_refunded_item_id", "value": "11"}]}
    assert mapping.refund_line(named, order_lines)["item_id"] == "11"
    twice = [order_lines[1], {**order_lines[1], "id": 13}]  # two lines alike: which one is not guessed
    assert mapping.refund_line(line, twice)["item_id"] is None


def test_refund_lines_from_woocommerce_reach_shopify(shop, tmp_path):
    (tmp_path / "empty").mkdir()
    target_shop = ShopifyEmulator(EmulatorStore(tmp_path / "empty"), Knobs(rate_limit=False))
    with running(target_shop, lifetime=300) as handle:
        r = Run(tmp_path / "work", WooCommerceSource.connect(shop.base_url, shop.credentials))
        r.target = ShopifyTargetResource.resource_for_emulator(handle, tmp_path).open()
        r(settings=RuleSettings(target_platform="shopify"))
        assert r.query("SELECT outcome, count(*) FROM ledger WHERE entity = 'orders' GROUP BY 1") == [("loaded", 2)]
        staged = dict(r.query("SELECT source_id, refunds FROM staged_orders"))
        ((refund,),) = [staged["2"]]
        assert [(ln["sku"], ln["qty"], ln["amount"]) for ln in refund["lines"]] == [("A-1", 1, Decimal("499.00"))]
        rows = {x["_source_id"]: x for x in r.target_rows("orders")}
        ((amount, reason),) = [(x["amount"], x["reason"]) for x in rows["2"]["refunds"]]
        assert (amount, reason) == (Decimal("623.75"), "Returned: too small")
        written = [target_shop.store.get("orders", int(x["id"])) for x in r.target.scan("orders").to_pylist()
                   if x["_source_id"] == "2"]
        (back,) = [ref for o in written for ref in o.get("refunds") or []]
        assert [(ln["sku"], ln["qty"]) for ln in back["lines"]] == [("A-1", 1)]
        with r.staging.connect() as con:
            ok, facts = checks.money_totals_match(con, r.target)
        assert ok, facts


def test_refund_lines_from_woocommerce_reach_woocommerce_order_lines(shop, tmp_path):
    """WooCommerce → WooCommerce: the source's refund line (naming its order line by `_refunded_item_id`) reaches
    the target's refund as a line item on the order line written for it, one unit of A-1 back."""
    from helpers import woocommerce_target
    (tmp_path / "empty").mkdir()
    target_shop = WooCommerceEmulator(EmulatorStore(tmp_path / "empty"), Knobs(rate_limit=False))
    with running(target_shop, lifetime=300) as handle:
        r = Run(tmp_path / "work", WooCommerceSource.connect(shop.base_url, shop.credentials))
        r.target = woocommerce_target(handle, tmp_path)
        r(settings=RuleSettings(target_platform="woocommerce"))
        assert r.query("SELECT outcome, count(*) FROM ledger WHERE entity = 'orders' GROUP BY 1") == [("loaded", 2)]
        assert "refund_line_without_order_line" not in dict(r.query("SELECT rule, records FROM rule_counts"))
        (tid,) = [x["id"] for x in r.target_rows("orders") if x["_source_id"] == "2"]
        order = r.target._call("GET", f"orders/{tid}").json()
        line = next(li for li in order["line_items"] if li["sku"] == "A-1")
        (refund,) = r.target._call("GET", f"orders/{tid}/refunds").json()
        assert (refund["amount"], refund["reason"]) == ("623.75", "Returned: too small")
        assert [(li["quantity"], li["total"], li["meta_data"][0]["value"]) for li in refund["line_items"]] == \
            [(-1, "-499.00", str(line["id"]))]
