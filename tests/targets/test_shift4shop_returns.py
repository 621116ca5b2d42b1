"""A Shift4Shop store's returns into Shopify and BigCommerce (issue 14): the refund transaction paired with the
order's RMA reaches the target with the RMA's reason (Shopify: the refund's note; BigCommerce: the items' reason) and
its line (the order line returned, the quantity returned: Shopify refundLineItems, BigCommerce PRODUCT items), its
amount the transaction's; an RMA with no refund adds nothing and the report counts it
(rule return_not_refunded)."""

from decimal import Decimal

import pytest
from helpers import Run, base_store, write_store

from cart_pipelines.defs.platform_resources import BigCommerceTargetResource, ShopifyTargetResource
from cart_pipelines.pipeline import checks
from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs, running
from cart_pipelines.platforms.shift4shop.emulator import Shift4ShopEmulator
from cart_pipelines.platforms.bigcommerce.emulator import BigCommerceEmulator
from cart_pipelines.platforms.shopify.emulator import ShopifyEmulator

TARGETS = {"shopify": (ShopifyEmulator, ShopifyTargetResource),
           "bigcommerce": (BigCommerceEmulator, BigCommerceTargetResource)}


def returns_store() -> dict:
    records = base_store()
    o = {**records["orders"][0], "status": "complete", "created_at": "2024-05-01T10:00:00Z",
         "items": [{**records["orders"][0]["items"][0], "qty": 2}], "subtotal": 998.0, "tax": 249.5,
         "grand_total": 1247.5}
    records["orders"] = [
        {**o, "refunds": [{"source_id": "11", "amount": "623.75", "reason": None,
                           "created_at": "2024-05-03T12:00:00Z", "lines": []}]},
        {**o, "source_id": "2", "number": "1002", "items": [{**o["items"][0], "source_id": "2-1"}], "refunds": []},
    ]
    return records


class Returns(Shift4ShopEmulator):
    """Order 1: one unit back on 2 May, refunded on 3 May; order 2: one unit on its way back, not refunded."""

    def rmas_of(self, o):
        oid = int(o["source_id"])
        return [{"RMAID": 100 + oid, "RmaDate": "05/02/2024 09:30", "OrderID": oid, "RMAReasonID": 2,
                 "RMAMethodID": 1, "RMAStatusID": 4 if oid == 1 else 2, "Comments": "Seam came apart",
                 "InternalComments": "", "StaffComments": "",
                 "RMAItemList": [{"CatalogID": 1, "SKU": "A-1", "ItemName": "Blå genser", "ReturnQuantity": 1,
                                  "ReceivedQuantity": 1, "RestockQuantity": 0}]}]


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_returned_and_refunded_line_reaches_the_target_with_its_reason(name, tmp_path):
    emulator_cls, resource_cls = TARGETS[name]
    source_shop = Returns(EmulatorStore(write_store(tmp_path / "store", returns_store())), Knobs(rate_limit=False))
    (tmp_path / "empty").mkdir()
    target_shop = emulator_cls(EmulatorStore(tmp_path / "empty"), Knobs(rate_limit=False))
    with running(source_shop, lifetime=300) as src, running(target_shop, lifetime=300) as handle:
        r = Run(tmp_path / "work", platforms.connect("shift4shop", src))
        r.target = resource_cls.resource_for_emulator(handle, tmp_path).open()
        r(settings=RuleSettings(target_platform=name))
        assert r.query("SELECT outcome, count(*) FROM ledger WHERE entity = 'orders' GROUP BY 1") == [("loaded", 2)]
        staged = {row[0]: row[1] for row in r.query("SELECT source_id, refunds FROM staged_orders")}
        ((refund,),) = [staged["1"]]
        assert (refund["source_id"], refund["amount"], refund["reason"]) == \
            ("11", Decimal("623.75"), "RMA reason 2: Seam came apart")
        assert [(ln["item_id"], ln["sku"], ln["qty"]) for ln in refund["lines"]] == [("1-1", "A-1", 1)]
        assert staged["2"] == []  # a return is not a refund
        rows = {x["_source_id"]: x for x in r.target_rows("orders")}
        ((amount, reason),) = [(x["amount"], x["reason"]) for x in rows["1"]["refunds"]]
        assert (amount, reason) == (Decimal("623.75"), "RMA reason 2: Seam came apart")
        assert rows["2"]["refunds"] == [] and rows["2"]["refunded_total"] is None
        # on the target's side the refund returns the order line it names, one unit of two
        written = [o for o in (target_shop.store.get("orders", int(k)) for k in
                               (x["id"] for x in r.target.scan("orders").to_pylist() if x["_source_id"] == "1"))]
        (back,) = [ref for o in written for ref in o.get("refunds") or []]
        assert [(ln["sku"], ln["qty"]) for ln in back["lines"]] == [("A-1", 1)]
        with r.staging.connect() as con:
            ok, facts = checks.money_totals_match(con, r.target)
        assert ok, facts
        rep = r.report()
    (note,) = rep["source_notes"]
    assert note["what"] == "RMA (returns): 1 not refunded" and "RMA ids: 102" in note["why"]
