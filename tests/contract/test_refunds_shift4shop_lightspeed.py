"""Refunds as Shift4Shop and Lightspeed eCom give them (issue 14), read by their sources from the emulators:
Shift4Shop's refund transactions in an order's `TransactionList` (date and amount; no reason, no lines),
Lightspeed's credit notes among an order's invoices (`invoices.json?order=`, `isCreditNote`: date and amount; their
items the lines). The
order's total stays as placed, the net total is what the shop kept (kit/emulator_cases.py picks the refunds)."""

from datetime import datetime, timezone
from decimal import Decimal

import pytest
import requests

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.lightspeed import mapping as ls_mapping
from cart_pipelines.platforms.lightspeed.emulator import API_KEY as LS_KEY
from cart_pipelines.platforms.lightspeed.emulator import API_SECRET as LS_SECRET


from .real_shop import check_refunds, real_store, served_orders, truth


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    return real_store(tmp_path_factory)


@pytest.mark.parametrize("name,lines", [("shift4shop", False), ("lightspeed", True)])
def test_refunds_with_their_dates_refunded_and_net_totals(name, lines, store_dir):
    """Lightspeed's credit notes have items (`invoices/{id}/items.json`): the refund's lines, each pointing at the
    order product it credits; Shift4Shop's refund transactions name no lines: theirs come from the RMA paired with
    them (reason and lines, no line amounts: test_shift4shop_rma.py)."""
    mine = served_orders(name, store_dir)
    if name == "shift4shop":
        from cart_pipelines.platforms.shift4shop.emulator import refunds_held
        want = {oid: refunds_held(o)["refunds"] for oid, o in truth(store_dir, "orders").items()}
        drop = lambda rs: [{k: v for k, v in r.items() if k != "created_at"} for r in rs]  # noqa: E731
        assert {oid: drop(o["refunds"]) for oid, o in mine.items()} == {oid: drop(rs) for oid, rs in want.items()}
        mine = {oid: {**o, "refunds": [{**r, "reason": None, "lines": []} for r in o["refunds"]]}
                for oid, o in mine.items()}  # the money, as a refund transaction alone gives it
    check_refunds(mine, store_dir, ids=True, lines=lines, reasons=False)
    dated = [(r["created_at"], o["updated_at"]) for o in mine.values() for r in o["refunds"]]
    assert dated and all(when is not None for when, _ in dated)
    if lines:  # the credit note's date is the refund's, to the second
        orders = truth(store_dir, "orders")
        assert {(oid, r["source_id"]): _utc(r["created_at"]) for oid, o in mine.items() for r in o["refunds"]} == \
            {(oid, r["source_id"]): _utc(r["created_at"]) for oid, o in orders.items()
             for r in cases.refunds_held(o, {})["refunds"]}
    assert {oid for oid, o in mine.items() if o["refunds"]} <= set(truth(store_dir, "orders"))


def _utc(value) -> datetime:
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return dt.astimezone(timezone.utc).replace(microsecond=0)


def test_lightspeed_delta_reads_each_changed_orders_credit_notes(store_dir):
    """A full read takes the invoices whole; a delta reads each changed order's invoices: the same refunds."""
    full = served_orders("lightspeed", store_dir)
    delta = served_orders("lightspeed", store_dir, updated_since=datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert {k: o["refunds"] for k, o in delta.items()} == {k: o["refunds"] for k, o in full.items()}
    assert sum(len(o["refunds"]) for o in delta.values()) > 1


def test_lightspeed_order_products_count_the_units_their_credit_notes_credit(store_dir):
    """An order product's `quantityRefunded` is how many of its units were refunded: the emulator answered 0 on every
    line, even of a refunded order, so a client reading the order products saw nothing refunded. Now each line
    counts what the order's credit notes' items credit it (the store's refund lines), and 0 where none does."""
    with platforms.emulate("lightspeed", store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as h:
        counted = met = 0
        for oid, o in truth(store_dir, "orders").items():
            want = {}
            for r in cases.refunds(o):
                for ln in r["lines"]:
                    want[ln["item_id"]] = want.get(ln["item_id"], 0) + ln["qty"]
            lines = _ls(h, f"orders/{oid}/products.json")["orderProducts"]
            credited = {}
            for note in _ls(h, "invoices.json", order=oid)["invoices"]:
                if note["isCreditNote"]:
                    for item in _ls(h, f"invoices/{note['id']}/items.json")["invoiceItems"]:
                        credited[item["orderProductId"]] = credited.get(item["orderProductId"], 0) + item["quantity"]
            assert [x["quantityRefunded"] for x in lines] == \
                [want.get(str(i["source_id"]), 0) for i in o.get("items") or []], oid
            assert {x["id"]: x["quantityRefunded"] for x in lines if x["quantityRefunded"]} == credited, oid
            assert all(x["quantityRefunded"] <= x["quantityOrdered"] for x in lines), oid
            counted += sum(x["quantityRefunded"] for x in lines)
            met += bool(credited)
        assert counted > 1 and met > 1


def test_a_lightspeed_credit_note_read_without_items_takes_its_lines_from_the_order_products(store_dir):
    """Where a credit note's items are not there to read (no items link, or an empty list), its refund had no lines;
    the order products still count the units refunded (`quantityRefunded`), so the order's one such credit note
    gets them as its lines: order product, SKU, units and their amount before tax. With two such notes which units
    each credited is not known: they keep no lines, and their amounts stay."""
    with platforms.emulate("lightspeed", store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as h:
        orders = truth(store_dir, "orders")
        refunded = [oid for oid, o in orders.items() if any(r["lines"] for r in cases.refunds(o))]
        assert len(refunded) > 1
        for oid in refunded:
            order = _ls(h, f"orders/{oid}.json")["order"]
            products = _ls(h, f"orders/{oid}/products.json")["orderProducts"]
            notes = [n for n in _ls(h, "invoices.json", order=oid)["invoices"] if n["isCreditNote"]]
            expected = cases.refunds(orders[oid])
            read = ls_mapping.order(order, products, "EUR", [(n, []) for n in notes])
            if len(notes) == 1:
                ((r,),) = [read["refunds"]]
                price = {i["source_id"]: Decimal(str(i["price"])) for i in orders[oid]["items"]}
                # the amount before tax, the line's price for each unit back (the sample's own refund lines carry
                # the amount with tax: only the credit note's items could say so)
                assert [(ln["sku"], ln["qty"], ln["amount"]) for ln in r["lines"]] == \
                    [(ln["sku"], ln["qty"], price[ln["item_id"]] * ln["qty"]) for ln in expected[0]["lines"]], oid
                assert {ln["item_id"] for ln in r["lines"]} <= {x["source_id"] for x in read["items"]}
            else:
                assert all(r["lines"] == [] for r in read["refunds"]), oid
            assert [r["amount"] for r in read["refunds"]] == [r["amount"] for r in expected], oid
        # one note with its items and one without: the bare one gets only what the other's items do not name
        oid = refunded[0]
        order = _ls(h, f"orders/{oid}.json")["order"]
        products = _ls(h, f"orders/{oid}/products.json")["orderProducts"]
        (note,) = [n for n in _ls(h, "invoices.json", order=oid)["invoices"] if n["isCreditNote"]]
        items = _ls(h, f"invoices/{note['id']}/items.json")["invoiceItems"]
        twice = ls_mapping.order(order, products, "EUR", [(note, items), ({**note, "id": note["id"] + 1}, [])])
        assert [len(r["lines"]) for r in twice["refunds"]] == [len(items), 0]
        bare = ls_mapping.order(order, products, "EUR", [(note, []), ({**note, "id": note["id"] + 1}, [])])
        assert [r["lines"] for r in bare["refunds"]] == [[], []]


def _ls(h, path, **params):
    r = requests.get(f"{h.base_url}/en/{path}", params=params, auth=(LS_KEY, LS_SECRET), timeout=10)
    r.raise_for_status()
    return r.json()
