"""Shared by the contract tests of what real shops hold (test_*_real_shop.py): the store they read and the checks
of refunds, which every platform's source maps to the same canonical shape (kit/emulator_cases.py serves them)."""

import json
from decimal import Decimal

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.sample.generator import StoreSize, generate_store

from helpers import as_held  # noqa: F401  (the contract tests import it from here)

PRODUCTS = 120  # a few percent of each case is then a few records


_STORE: list = []  # generated once per test process: the tests only read it


def real_store(tmp_path_factory):
    if not _STORE:
        d = tmp_path_factory.mktemp("real-shop")
        generate_store(d, seed=14, size=StoreSize.scaled(PRODUCTS))
        _STORE.append(d)
    return _STORE[0]


def served_orders(platform: str, store_dir, **slice_or_delta) -> dict:
    """The orders `platform`'s source reads from its emulator serving `store_dir` (all, or a slice or delta), by
    source id."""
    with platforms.emulate(platform, store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as h:
        return {r.source_id: r.record for r in platforms.connect(platform, h).records("orders", **slice_or_delta)}


def truth(store_dir, entity: str) -> dict:
    with open(store_dir / f"{entity}.jsonl", encoding="utf-8") as fh:
        return {r["source_id"]: r for r in (json.loads(line, parse_float=Decimal) for line in fh)}


def check_refunds(orders: dict, store_dir, ids: bool = True, lines: bool = True,
                  statuses: dict | None = None, reasons: bool = True) -> None:
    """Every order's refunds, refunded and net total as the emulator served them (`ids`: refund ids compared too;
    `lines`: lines by sku, qty and amount, pointing at the order's own lines, else none, where the platform's refund
    names none; `statuses`: an order status the platform has no word for, as it reads back; `reasons`: else none,
    where the platform keeps no reason); partial and full refunds both met."""
    full = partial = 0
    for oid, o in truth(store_dir, "orders").items():
        mine, expected = orders[oid], cases.refunds(o)
        key = (lambda r: (r["source_id"], r["amount"], r["reason"] if reasons else None)) if ids else \
            (lambda r: (r["amount"], r["reason"] if reasons else None))
        assert [key(r) for r in mine["refunds"]] == [key(r) for r in expected], oid
        assert reasons or all(r["reason"] is None for r in mine["refunds"]), oid
        for r, e in zip(mine["refunds"], expected if lines else []):
            assert [(ln["sku"], ln["qty"], ln["amount"]) for ln in r["lines"]] == \
                   [(ln["sku"], ln["qty"], ln["amount"]) for ln in e["lines"]], oid
            assert {ln["item_id"] for ln in r["lines"]} <= {i["source_id"] for i in mine["items"]}
        assert lines or all(r["lines"] == [] for r in mine["refunds"]), oid
        total = cases.refunded_total(o)
        assert mine["refunded_total"] == (total or None), oid
        assert mine["net_total"] == (Decimal(str(o["grand_total"])) - total if total else None), oid
        assert mine["grand_total"] == Decimal(str(o["grand_total"]))  # as ordered, refunds not taken off
        # a partial refund leaves the order where it stood
        assert mine["status"] == (statuses or {}).get(o["status"], o["status"]), oid
        full += o["status"] == "refunded" and bool(expected)
        partial += o["status"] != "refunded" and bool(expected)
    assert full and partial


def gone_lines(orders: dict, store_dir):
    """(mine, truth) of each order line whose product was deleted since, after checking that every line kept its
    SKU, name and quantity."""
    found = []
    for oid, o in truth(store_dir, "orders").items():
        for k, (mine, it) in enumerate(zip(orders[oid]["items"], o["items"])):
            assert (mine["sku"], mine["name"], mine["qty"]) == (it["sku"], it["name"], it["qty"]), oid
            if cases.product_gone(o, k):
                found.append((mine, it))
    assert found
    return found
