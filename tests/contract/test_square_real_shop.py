"""What real Square sellers' orders hold (issue 14), read by the source from the emulator: refunds on the order
(`Order.refunds`, APPROVED; `return_amounts`, `net_amounts` — connect-api-specification), a full refund of a
refunded order and a partial one of a few paid orders, each carried as a canonical refund with its amount, reason
and date; the order's total stays as placed and its net total is what the seller kept."""

from decimal import Decimal

import pytest

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.square import mapping

from .real_shop import check_refunds, real_store, served_orders


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return real_store(tmp_path_factory)


@pytest.fixture(scope="module")
def orders(store_dir):
    return served_orders("square", store_dir)


def test_refunds_refunded_total_and_net(store_dir, orders):
    # a Square refund names no lines (itemized returns are a separate return order): amount, reason, date only
    check_refunds(orders, store_dir, lines=False, statuses=mapping.ORDER_STATUS_HELD)


def test_a_refund_not_yet_approved_or_rejected(store_dir):
    """PENDING money goes back (counted), REJECTED and FAILED did not (left out of the refunds and the net)."""
    order = {"id": "1", "state": "COMPLETED", "total_money": {"amount": 10000, "currency": "NOK"},
             "refunds": [{"id": "a", "status": "PENDING", "amount_money": {"amount": 1250, "currency": "NOK"},
                          "reason": "late"},
                         {"id": "b", "status": "REJECTED", "amount_money": {"amount": 5000, "currency": "NOK"}}]}
    got = mapping.order(order, {})
    assert [r["source_id"] for r in got["refunds"]] == ["a"]
    assert got["refunded_total"] == Decimal("12.50") and got["net_total"] == Decimal("87.50")
    assert got["status"] == "complete"


def test_lines_of_deleted_items_keep_their_sku_name_and_price(store_dir, orders):
    """Square soft-deletes catalog objects: an old order's line still names the deleted item's variation, which
    ListCatalog leaves out and SearchCatalogObjects returns with include_deleted_objects (`is_deleted: true`). The
    source reads the deleted variations too, so the line keeps its SKU (and names the deleted item: the pipeline's
    order_item_product_gone rule then drops only the link)."""
    import requests

    from cart_pipelines.platforms.kit import emulator_cases as cases

    from .real_shop import truth
    found = [(orders[oid]["items"][k], it) for oid, o in truth(store_dir, "orders").items()
             for k, it in enumerate(o["items"]) if cases.product_gone(o, k)]
    assert found
    for mine, it in found:  # the line as sold: SKU, name, quantity, price; its item the deleted one
        assert (mine["sku"], mine["name"], mine["qty"], mine["price"]) == (it["sku"], it["name"], it["qty"],
                                                                            Decimal(str(it["price"])))
        assert mine["product_id"] == f"{it['product_id']}-deleted"
    with platforms.emulate("square", store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as h:
        headers = {"Authorization": f"Bearer {h.credentials['api_key']}"}
        listed = requests.get(f"{h.base_url}/v2/catalog/list", params={"types": "ITEM_VARIATION"}, headers=headers,
                              timeout=10).json()["objects"]
        assert not any(o["is_deleted"] for o in listed)
        body, deleted = {"object_types": ["ITEM", "ITEM_VARIATION"], "include_deleted_objects": True}, []
        while True:
            page = requests.post(f"{h.base_url}/v2/catalog/search", json=body, headers=headers, timeout=10).json()
            deleted += [o for o in page["objects"] if o["is_deleted"]]
            if not page.get("cursor"):
                break
            body = {**body, "cursor": page["cursor"]}
        kinds = {o["type"] for o in deleted}
        assert kinds == {"ITEM", "ITEM_VARIATION"}
        both = requests.post(f"{h.base_url}/v2/catalog/search", headers=headers, timeout=10, json={
            "include_deleted_objects": True, "include_category_path_to_root": True})
        assert both.status_code == 400


def test_orders_of_deleted_items_migrate_with_their_lines(store_dir, tmp_path):
    """Into the local target: no order quarantined for a deleted item; its lines keep SKU, name and price, only the
    product link is dropped (rule order_item_product_gone)."""
    from helpers import Run

    with platforms.emulate("square", store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as h:
        r = Run(tmp_path / "work", platforms.connect("square", h))
        r()  # every entity: Square has no brands nor reviews (none extracted)
    assert r.query("SELECT count(*) FROM ledger WHERE entity = 'orders' AND outcome = 'quarantined'") == [(0,)]
    ((gone,),) = r.query("SELECT records FROM rule_counts WHERE entity = 'orders' AND rule = 'order_item_product_gone'")
    assert gone > 0
    lines = [i for o in r.target_rows("orders") for i in o["items"] if i["product_id"] is None]
    assert len(lines) >= gone and all(i["sku"] and i["name"] and i["price"] is not None for i in lines)
