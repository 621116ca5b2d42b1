"""Refunds into Shopify (refundCreate against the order's SALE) and BigCommerce (v3 refund quote, then refund): an
order with a partial refund migrates with it, the money check compares net totals, a re-run writes nothing, and a
refund made at the source after the migration arrives with the next delta."""

from decimal import Decimal

import pytest
from helpers import Run, base_store, write_store

from cart_pipelines.defs.platform_resources import BigCommerceTargetResource, ShopifyTargetResource
from cart_pipelines.pipeline import checks
from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.platforms.bigcommerce.emulator import BigCommerceEmulator
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs, running
from cart_pipelines.platforms.shopify.emulator import ShopifyEmulator
from cart_pipelines.platforms.woocommerce.emulator import WooCommerceEmulator
from cart_pipelines.platforms.woocommerce.source import WooCommerceSource

TARGETS = {"shopify": (ShopifyEmulator, ShopifyTargetResource),
           "bigcommerce": (BigCommerceEmulator, BigCommerceTargetResource)}


def refunded_store() -> dict:
    records = base_store()
    o = records["orders"][0]
    records["orders"] = [{**o, "status": "completed"},
                         {**o, "source_id": "2", "number": "1002", "status": "completed",
                          "refunds": [{"source_id": "901", "amount": "100.00", "reason": "Returned"}],
                          "refunded_total": "100.00"}]
    return records


@pytest.fixture
def source(tmp_path):
    """The store served by the WooCommerce emulator: an API source, so a delta can follow the full run."""
    store = EmulatorStore(write_store(tmp_path / "store", refunded_store()))
    with running(WooCommerceEmulator(store, Knobs(rate_limit=False)), lifetime=300) as handle:
        yield store, WooCommerceSource.connect(handle.base_url, handle.credentials)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_partial_refund_reaches_the_target_once_and_a_later_one_by_delta(name, source, tmp_path):
    store, src = source
    emulator_cls, resource_cls = TARGETS[name]
    (tmp_path / "empty").mkdir()
    target_shop = emulator_cls(EmulatorStore(tmp_path / "empty"), Knobs(rate_limit=False))
    settings = RuleSettings(target_platform=name)
    with running(target_shop, lifetime=300) as handle:
        r = Run(tmp_path / "work", src)
        r.target = resource_cls.resource_for_emulator(handle, tmp_path).open()
        assert r.target.holds_refunds
        r(settings=settings)
        assert r.query("SELECT outcome, count(*) FROM ledger WHERE entity = 'orders' GROUP BY 1") == [("loaded", 2)]
        rows = {x["_source_id"]: x for x in r.target_rows("orders")}
        assert rows["1"]["refunded_total"] is None and rows["1"]["refunds"] == []
        assert rows["2"]["grand_total"] == Decimal("623.75") and rows["2"]["refunded_total"] == Decimal("100.00")
        ((amount, reason),) = [(x["amount"], x["reason"]) for x in rows["2"]["refunds"]]
        assert (amount, reason) == (Decimal("100.00"), "Returned")
        assert rows["2"]["status"] == "completed"  # a part went back: the order stands where it was
        with r.staging.connect() as con:
            ok, facts = checks.money_totals_match(con, r.target)
        assert ok, facts
        assert Decimal(facts["target_net_total"]) == Decimal("623.75") + Decimal("523.75")
        r.report()  # closes the run: the high-water marks advance

        writes = target_shop.writes
        r(settings=settings)  # a re-run writes nothing: no second refund
        assert target_shop.writes == writes

        order = store.get("orders", 1)  # refunded at the source after the migration
        store.put("orders", {**order, "refunds": [{"source_id": "902", "amount": "50.00", "reason": "Late"}],
                             "refunded_total": "50.00", "updated_at": "2030-01-01T00:00:00Z"})
        r(mode="delta", settings=settings, lookback_seconds=0)
        rows = {x["_source_id"]: x for x in r.target_rows("orders")}
        assert rows["1"]["refunded_total"] == Decimal("50.00") and len(rows["2"]["refunds"]) == 1
        with r.staging.connect() as con:
            ok, facts = checks.money_totals_match(con, r.target)
        assert ok, facts
        assert Decimal(facts["target_net_total"]) == Decimal("573.75") + Decimal("523.75")


def _order(status: str, refunds: list[dict]) -> dict:
    from targets.test_shopify_target import order  # the target-shaped order those tests write
    return {**order("o1", "1"), "status": status, "refunds": refunds}


def _customer(target) -> str:
    from targets.test_shopify_target import customers
    return target.create("customers", customers(["kari@example.no"]))[0].target_id


REFUND = {"source_id": "r1", "amount": Decimal("100.00"), "reason": "Returned", "created_at": None,
          "lines": [{"item_id": "o1-1", "sku": "A-1", "qty": 1, "amount": Decimal("100.00")}]}


def test_shopify_refunds_go_against_the_orders_sale_and_shopify_refuses_the_rest(tmp_path):
    import pyarrow as pa
    import requests

    from cart_pipelines.platforms.shopify.emulator import TOKEN

    shop = ShopifyEmulator(EmulatorStore(tmp_path), Knobs(rate_limit=False))
    with running(shop, lifetime=120) as handle:
        target = ShopifyTargetResource.resource_for_emulator(handle, None).open()
        cid = _customer(target)
        # an order placed unpaid with a refund: imported paid (a SALE to refund against), its status in the tag
        new = {**_order("new", [REFUND]), "customer_id": cid}
        unpaid = {**_order("new", []), "source_id": "o2", "order_number": "#o2", "customer_id": cid}
        (res, plain) = target.create("orders", pa.Table.from_pylist([new, unpaid]))
        assert res.error is None and plain.error is None
        back = {o["_source_id"]: o for o in target.scan("orders").to_pylist()}
        assert back["o1"]["status"] == "new" and back["o1"]["refunded_total"] == Decimal("100.00")
        mutation = ("mutation($i: RefundInput!) { refundCreate(input: $i) { refund { id } order { "
                    "displayFinancialStatus } userErrors { field message } } }")

        def refund(order_id, **input):
            body = requests.post(f"{handle.base_url}/admin/api/2025-10/graphql.json", timeout=10,
                                 headers={"X-Shopify-Access-Token": TOKEN},
                                 json={"query": mutation, "variables": {"i": {"orderId": order_id, **input}}}).json()
            return body["data"]["refundCreate"]

        oid = f"gid://shopify/Order/{plain.target_id}"
        tx = {"orderId": oid, "amount": "10.00", "gateway": "manual", "kind": "REFUND"}
        assert refund(oid, transactions=[tx])["userErrors"][0]["field"] == ["transactions", "0", "parentId"]
        sold = f"gid://shopify/Order/{res.target_id}"
        sale = f"gid://shopify/OrderTransaction/{int(res.target_id) * 100 + 1}"
        over = refund(sold, transactions=[{**tx, "orderId": sold, "parentId": sale, "amount": "600.00"}])
        assert over["refund"] is None and over["userErrors"][0]["field"] == ["transactions", "0", "amount"]
        rest = refund(sold, transactions=[{**tx, "orderId": sold, "parentId": sale, "amount": "189.00"}])
        assert rest["userErrors"] == [] and rest["order"]["displayFinancialStatus"] == "REFUNDED"


def test_bigcommerce_refuses_a_refund_of_an_unpaid_order_and_more_than_is_left(tmp_path):
    import pyarrow as pa

    shop = BigCommerceEmulator(EmulatorStore(tmp_path), Knobs(rate_limit=False))
    with running(shop, lifetime=120) as handle:
        target = BigCommerceTargetResource.resource_for_emulator(handle, tmp_path).open()
        cid = _customer(target)
        from datetime import datetime, timezone
        when = datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
        unpaid = {**_order("new", [REFUND]), "customer_id": cid, "created_at": when}
        too_much = {**_order("completed", [{**REFUND, "lines": [], "amount": Decimal("300.00")}]),
                    "source_id": "o2", "customer_id": cid, "created_at": when}
        results = target.create("orders", pa.Table.from_pylist([unpaid, too_much]))
        assert "refunds: " in results[0].error and "not been paid" in results[0].error
        assert results[1].error == "refunds: Refund amount is greater than remaining amount"
        assert all(o["refunded_total"] is None for o in target.scan("orders").to_pylist())


def test_bigcommerce_takes_a_full_refund_of_a_discounted_order_with_its_lines(tmp_path):
    """A refunded order with a discount: its lines at full price and tax (250.00) are worth more than went back
    (240.00, the order's total). The refund is quoted and created for the source's amount, with its lines (Shopify
    refunds of discounted orders were quarantined: "Refund amount is greater than remaining amount")."""
    import pyarrow as pa

    shop = BigCommerceEmulator(EmulatorStore(tmp_path), Knobs(rate_limit=False))
    with running(shop, lifetime=120) as handle:
        target = BigCommerceTargetResource.resource_for_emulator(handle, tmp_path).open()
        cid = _customer(target)
        full = {"source_id": "r1", "amount": Decimal("240.00"), "reason": "Order refunded", "created_at": None,
                "lines": [{"item_id": "o1-1", "sku": "A-1", "qty": 2, "amount": Decimal("200.00")}]}
        from datetime import datetime, timezone
        row = {**_order("refunded", [full]), "customer_id": cid, "shipping": Decimal("0.00"),
               "grand_total": Decimal("240.00"), "created_at": datetime(2024, 5, 1, 10, tzinfo=timezone.utc)}
        (res,) = target.create("orders", pa.Table.from_pylist([row]))
        assert res.error is None
        (back,) = target.scan("orders").to_pylist()
        assert back["refunded_total"] == Decimal("240.00")
        ((refund,),) = [back["refunds"]]
        assert refund["amount"] == Decimal("240.00") and [(ln["sku"], ln["qty"]) for ln in refund["lines"]] == [
            ("A-1", 2)]
