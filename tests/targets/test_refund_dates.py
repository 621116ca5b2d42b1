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

        def post(version):
            return requests.post(f"{handle.base_url}/admin/api/{version}/graphql.json", timeout=10,
                                 headers={"X-Shopify-Access-Token": TOKEN},
                                 json={"query": mutation, "variables": {"input": refund}}).json()

        old = post("2025-10")
        assert old["data"]["refundCreate"] is None
        assert "processedAt" in old["errors"][0]["message"]
        new = post("2026-01")["data"]["refundCreate"]
        assert new["userErrors"] == [] and new["refund"]["processedAt"] == "2024-05-02T09:30:00Z"
        assert new["refund"]["createdAt"] > "2026"  # written now
