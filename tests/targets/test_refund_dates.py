"""Refund dates on the targets: Shopify keeps the source's refund date (refundCreate's processedAt, API 2026-01+);
BigCommerce cannot be given one (its v3 refund request has no date field), so the report lists those refunds with
their source dates by target rule refund_date_not_kept; an unpaid order with refunds migrates into BigCommerce with
its lines and totals, and its refunds (which BigCommerce refuses on an unpaid order) are listed by target rule
refunds_of_unpaid_order_listed, with their amounts, never dropped."""

from datetime import datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pytest
import requests
from helpers import Run, base_store, write_store

from cart_pipelines.defs.platform_resources import BigCommerceTargetResource, ShopifyTargetResource
from cart_pipelines.pipeline import checks
from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.platforms.bigcommerce.emulator import BigCommerceEmulator
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs, running
from cart_pipelines.platforms.shopify.emulator import TOKEN, ShopifyEmulator

WHEN = datetime(2024, 5, 2, 9, 30, tzinfo=timezone.utc)
REFUND = {"source_id": "r1", "amount": Decimal("100.00"), "reason": "Returned", "created_at": WHEN,
          "lines": [{"item_id": "o1-1", "sku": "A-1", "qty": 1, "amount": Decimal("100.00")}]}


def _order(status: str, refunds: list[dict], cid: str, source_id: str = "o1") -> dict:
    from targets.test_shopify_target import order
    return {**order(source_id, cid), "status": status, "refunds": refunds}


def _customer(target) -> str:
    from targets.test_shopify_target import customers
    return target.create("customers", customers(["kari@example.no"]))[0].target_id


def test_shopify_keeps_the_source_refund_date(tmp_path):
    """refundCreate gets processedAt (through API 2026-01 when an older version is configured); the order reads back
    with the refund dated as at the source, not the day of the migration."""
    shop = ShopifyEmulator(EmulatorStore(tmp_path), Knobs(rate_limit=False))
    with running(shop, lifetime=120) as handle:
        target = ShopifyTargetResource.resource_for_emulator(handle, None).open()
        assert target.api.api_version < "2026-01" <= target.refunds_api.api_version
        (res,) = target.create("orders", pa.Table.from_pylist([_order("completed", [REFUND], _customer(target))]))
        assert res.error is None
        (back,) = target.scan("orders").to_pylist()
        ((refund),) = back["refunds"]
        assert refund["amount"] == Decimal("100.00") and refund["created_at"] == WHEN
        writes = shop.writes
        target.update("orders", pa.Table.from_pylist([{**_order("completed", [REFUND], back["customer_id"]),
                                                        "target_id": res.target_id}]))
        assert len(target.scan("orders").to_pylist()[0]["refunds"]) == 1  # matched by amount and note: not twice
        assert shop.writes == writes + 1  # the order update only


def test_shopify_emulator_dates_refunds_as_the_api_version_defines(tmp_path):
    """2026-01+: Refund.processedAt is the given date (createdAt the moment of writing); an older version's
    RefundInput has no processedAt and the request is refused, as that version's schema does."""
    shop = ShopifyEmulator(EmulatorStore(tmp_path), Knobs(rate_limit=False))
    with running(shop, lifetime=120) as handle:
        target = ShopifyTargetResource.resource_for_emulator(handle, None).open()
        (res,) = target.create("orders", pa.Table.from_pylist([_order("completed", [], _customer(target))]))
        oid = f"gid://shopify/Order/{res.target_id}"
        sale = f"gid://shopify/OrderTransaction/{int(res.target_id) * 100 + 1}"
        mutation = ("mutation($input: RefundInput!) { refundCreate(input: $input) { refund { id processedAt "
                    "createdAt } userErrors { field message } } }")
        refund = {"orderId": oid, "processedAt": "2024-05-02T09:30:00Z", "note": "Returned",
                  "transactions": [{"orderId": oid, "parentId": sale, "amount": "10.00", "gateway": "migration",
                                    "kind": "REFUND"}]}

        def post(version, query=mutation):
            return requests.post(f"{handle.base_url}/admin/api/{version}/graphql.json", timeout=10,
                                 headers={"X-Shopify-Access-Token": TOKEN},
                                 json={"query": query, "variables": {"input": refund}}).json()

        # the older version's Refund has no processedAt either: selecting it is refused before anything runs
        unknown = post("2025-10")
        assert "data" not in unknown and unknown["errors"][0]["extensions"]["code"] == "undefinedField"
        old = post("2025-10", mutation.replace("processedAt ", ""))
        assert old["data"]["refundCreate"] is None
        assert "processedAt" in old["errors"][0]["message"]
        new = post("2026-01")["data"]["refundCreate"]
        assert new["userErrors"] == [] and new["refund"]["processedAt"] == "2024-05-02T09:30:00Z"
        assert new["refund"]["createdAt"] > new["refund"]["processedAt"]  # written now, dated as given


def refunded_store() -> dict:
    """A paid order with a dated partial refund and an unpaid (pending) one with a refund: both real shop cases."""
    records = base_store()
    o = records["orders"][0]
    records["orders"] = [
        {**o, "status": "completed", "refunds": [{"source_id": "901", "amount": "100.00", "reason": "Returned",
                                                   "created_at": "2024-05-02T09:30:00+00:00"}],
         "refunded_total": "100.00"},
        {**o, "source_id": "2", "number": "1002", "status": "pending",
         "refunds": [{"source_id": "902", "amount": "20.00", "reason": "Goodwill",
                      "created_at": "2024-05-03T12:00:00+00:00"},
                     {"source_id": "903", "amount": "5.00", "reason": None, "created_at": "2024-05-04T12:00:00+00:00"}],
         "refunded_total": "25.00"}]
    return records


def test_bigcommerce_lists_refund_dates_and_unpaid_orders_refunds_by_rule(tmp_path):
    """BigCommerce's refund request takes no date (orders.v3 RefundRequest: items, reason, payments,
    merchant_calculated_override; `created` is set by BigCommerce): the paid order's refund is written and listed
    by refund_date_not_kept with its source date. The pending order migrates with its lines and totals, its two
    refunds (BigCommerce refuses refunds of an unpaid order) listed by refunds_of_unpaid_order_listed with their
    amounts; nothing is quarantined and the money check closes."""
    store = write_store(tmp_path / "store", refunded_store())
    (tmp_path / "empty").mkdir()
    shop = BigCommerceEmulator(EmulatorStore(tmp_path / "empty"), Knobs(rate_limit=False))
    settings = RuleSettings(target_platform="bigcommerce")
    with running(shop, lifetime=300) as handle:
        r = Run(tmp_path / "work", store)
        r.target = BigCommerceTargetResource.resource_for_emulator(handle, tmp_path).open()
        r(settings=settings)
        assert r.query("SELECT outcome, count(*) FROM ledger WHERE entity = 'orders' GROUP BY 1") == [("loaded", 2)]
        rows = {x["_source_id"]: x for x in r.target_rows("orders")}
        assert rows["1"]["refunded_total"] == Decimal("100.00")
        assert rows["2"]["status"] == "new" and rows["2"]["refunds"] == [] and rows["2"]["refunded_total"] is None
        assert rows["2"]["grand_total"] == Decimal("623.75") and len(rows["2"]["items"]) == 1
        counts = dict(r.query("SELECT rule, records FROM rule_counts WHERE entity = 'orders'"))
        assert counts["refund_date_not_kept"] == 1 and counts["refunds_of_unpaid_order_listed"] == 1
        with r.staging.connect() as con:
            ok, facts = checks.money_totals_match(con, r.target)
        assert ok, facts
        assert facts["refunds_listed_by_rule"] == 1
        assert Decimal(facts["target_net_total"]) == Decimal("523.75") + Decimal("623.75")
        with r.staging.connect() as con:
            from cart_pipelines.pipeline.report import build, markdown
            rep = build(con, directory=tmp_path / "report")
        listed = [(x["source_id"], x["rule"], x["refund_id"], x["amount"], x["refunded_at"][:10])
                  for x in rep["refunds_by_target_rule"]]
        assert listed == [("1", "refund_date_not_kept", "901", "100.00", "2024-05-02"),
                          ("2", "refunds_of_unpaid_order_listed", "902", "20.00", "2024-05-03"),
                          ("2", "refunds_of_unpaid_order_listed", "903", "5.00", "2024-05-04")]
        assert rep["refunds_by_target_rule_count"] == 3
        assert (tmp_path / "report" / "refunds_by_target_rule.csv").read_text().count("\n") == 4
        assert "refunds_of_unpaid_order_listed" in markdown(rep)
        writes = shop.writes
        r(settings=settings)  # a re-run writes nothing: the listed refunds are not tried again
        assert shop.writes == writes


@pytest.mark.parametrize("status", ["completed", "pending"])
def test_rules_stay_off_other_targets(tmp_path, status):
    """Into the local target (Mystore's shape: it holds refunds and any status) neither rule applies."""
    records = refunded_store()
    records["orders"] = [o for o in records["orders"] if o["status"] == status]
    r = Run(tmp_path / "work", write_store(tmp_path / "store", records))
    r()
    assert r.query("SELECT count(*) FROM rule_counts WHERE rule LIKE 'refund%'") == [(0,)]
    (row,) = r.target_rows("orders")
    assert len(row["refunds"]) == len(records["orders"][0]["refunds"])
