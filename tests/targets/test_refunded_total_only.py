"""An order with a refunded amount and no refund list (Squarespace orders carry `refundedTotal` only) reaches a
target that holds refunds as one refund of that amount (rule refund_from_refunded_total: no reason, no lines, dated
the order's last update), once; the money check's net totals close and a re-run writes nothing."""

from decimal import Decimal

import pytest
from helpers import Run, base_store, write_store

from cart_pipelines.defs.platform_resources import (BigCommerceTargetResource, ShopifyTargetResource,
                                                    WooCommerceTargetResource)
from cart_pipelines.pipeline import checks
from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.platforms.bigcommerce.emulator import BigCommerceEmulator
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs, running
from cart_pipelines.platforms.mystore import facts as mystore_facts
from cart_pipelines.platforms.mystore.emulator import MystoreEmulator
from cart_pipelines.platforms.mystore.target import MystoreTarget
from cart_pipelines.platforms.shopify.emulator import ShopifyEmulator
from cart_pipelines.platforms.woocommerce.emulator import WooCommerceEmulator

TARGETS = {"shopify": (ShopifyEmulator, ShopifyTargetResource),
           "bigcommerce": (BigCommerceEmulator, BigCommerceTargetResource),
           "woocommerce": (WooCommerceEmulator, WooCommerceTargetResource),
           "mystore": (None, None)}


def total_only_store() -> dict:
    records = base_store()
    o = records["orders"][0]
    records["orders"] = [{**o, "status": "completed", "refunds": [], "refunded_total": "100.00",
                          "updated_at": "2024-05-02T09:30:00+00:00"}]
    return records


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_refunded_total_without_refunds_is_written_as_one_refund(name, tmp_path):
    emulator_cls, resource_cls = TARGETS[name]
    (tmp_path / "empty").mkdir()
    shop = (emulator_cls(EmulatorStore(tmp_path / "empty"), Knobs(rate_limit=False)) if emulator_cls
            else MystoreEmulator(knobs=Knobs(rate_limit=False)))
    settings = RuleSettings(target_platform=name)
    with running(shop, lifetime=300) as handle:
        r = Run(tmp_path / "work", write_store(tmp_path / "store", total_only_store()))
        if name == "mystore":
            r.target = MystoreTarget(token=handle.credentials["token"], api_url=handle.base_url,
                                     references=tmp_path / "refs.json")
        else:
            resource = resource_cls.resource_for_emulator(handle, tmp_path)
            if name == "woocommerce":
                resource = resource.model_copy(update={"references_file": str(tmp_path / "refs.json")})
            r.target = resource.open()
        r(settings=settings)
        assert r.query("SELECT outcome, count(*) FROM ledger WHERE entity = 'orders' GROUP BY 1") == [("loaded", 1)]
        (row,) = r.target_rows("orders")
        assert row["refunded_total"] == Decimal("100.00")
        if name != "mystore":  # Mystore reads back the ot_refund total; its refunds are status-history entries
            ((amount, reason),) = [(x["amount"], x["reason"] or None) for x in row["refunds"]]
            assert (amount, reason) == (Decimal("100.00"), None)
        else:  # what the shop holds: the totals rows and one status-history entry for the refund, at its date
            ((tid,),) = r.query("SELECT target_id FROM id_map WHERE entity = 'orders'")
            totals = {t["attributes"]["class"]: Decimal(str(t["attributes"]["value"]))
                      for t in shop.records("order-totals") if t["relationships"]["order"]["data"]["id"] == tid}
            assert totals["ot_total"] == Decimal("623.75") and totals[mystore_facts.REFUND_TOTAL_CLASS] == -100
            history = [h["attributes"] for h in shop.records("order-status-history")
                       if h["relationships"]["order"]["data"]["id"] == tid]
            assert [h["comments"] for h in history][0].startswith("Imported order ")
            assert [(h["comments"], h["created_at"]) for h in history[1:]] == [
                ("Refund kr 100.00 (2024-05-02 09:30:00)", "2024-05-02 09:30:00")]
        with r.staging.connect() as con:
            ok, facts = checks.money_totals_match(con, r.target)
        assert ok, facts
        assert Decimal(facts["target_net_total"]) == Decimal("523.75")
        counts = dict(r.query("SELECT rule, records FROM rule_counts WHERE entity = 'orders'"))
        assert counts["refund_from_refunded_total"] == 1
        writes = shop.writes
        r(settings=settings)  # a re-run writes nothing: the refund is held, not written twice
        assert shop.writes == writes
