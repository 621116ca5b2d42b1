"""The transform gives the rows it gave before its SQL was rewritten for speed (issue 18): over a store holding the
messy cases (duplicate source ids, colliding URL keys and names, a variant listed as a product, a taken SKU, missing
references, a merged e-mail, guest orders, order lines of a gone product and of a listed variant, refunds, blanks to
default), on three targets' rules, first run and re-run (loaded records keep their URL keys), every transformed
row's hash (the md5 of the whole row's text: equal hashes are equal rows), its URL key, name and rules, the
ledger's transform rows, rule_counts and url_key_bases equal what the code before wrote
(data/transform_messy_expected.json, written by main at c3efe4d with `python tests/test_transform_equal.py`).
The tables are written in source-id order, suffixed rows too (before, an UPDATE of their _rules had moved them to
the table's end, so the load created them last)."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from helpers import TS, Run, base_store, write_store  # noqa: E402

from cart_pipelines.model.entities import ENTITY_NAMES  # noqa: E402
from cart_pipelines.pipeline.rules import RuleSettings  # noqa: E402

EXPECTED = Path(__file__).parent / "data" / "transform_messy_expected.json"
PLATFORMS = ("mystore", "bigcommerce", "woocommerce")


def messy_store() -> dict[str, list]:
    s = base_store()
    cat, prod, cust, order, review = (s[e][0] for e in ("categories", "products", "customers", "orders", "reviews"))
    s["categories"] += [
        {"source_id": "3", "parent_id": "1", "name": "Gensere", "url_key": "gensere"},  # key collides with 2
        {"source_id": "4", "parent_id": "99", "name": "Foreldreløs"},  # parent missing: quarantined
        {"source_id": "5", "name": "Uncategorised"},  # the hidden category's key
        {"source_id": "6", "name": "Sko"}, {"source_id": "6", "name": "Sko igjen"},  # duplicate id
        dict(cat, source_id="7", url_key=None, name="!!!")]  # no key from key or name: category-7
    s["tax_classes"].append({"source_id": "2", "name": "Standard rate", "rates": []})
    p = copy.deepcopy(prod)
    s["products"] += [dict(copy.deepcopy(p), source_id=str(i), sku=f"A-{i}") for i in (2, 10, 3)]  # same key, name
    s["products"] += [
        dict(copy.deepcopy(p), source_id="4", sku="A-4", url_key=None),  # key from the name: collides
        dict(copy.deepcopy(p), source_id="5", sku="A-5", url_key=None, name="東京 シャツ 🎉"),
        dict(copy.deepcopy(p), source_id="6", sku="A-6", name="Sokk"),
        dict(copy.deepcopy(p), source_id="6", sku="A-6b", name="Sokk igjen"),  # duplicate id: quarantined
        dict(copy.deepcopy(p), source_id="7", sku="A-7", name="Genser med varianter", url_key="genser-v", variants=[
            {"source_id": "8", "sku": "V-8", "price": 10.0, "options": [{"name": "Str", "value": "S"}]},
            {"source_id": "7-2", "sku": "V-7-2", "price": 11.0, "options": [], "status": "disabled"}]),
        dict(copy.deepcopy(p), source_id="8", sku=" v-8", name="Variant S", url_key="v-8"),  # listed variant
        dict(copy.deepcopy(p), source_id="9", sku="a-1", name="Kopi", url_key="kopi"),  # SKU of product 1
        dict(copy.deepcopy(p), source_id="11", sku="A-11", category_ids=["99"], url_key="a11"),  # missing category
        dict(copy.deepcopy(p), source_id="12", sku="A-12", category_ids=[], lifecycle="draft", url_key="a12"),
        dict(copy.deepcopy(p), source_id="13", sku="A-13", manufacturer_id="77", url_key="a13"),
        dict(copy.deepcopy(p), source_id="14", sku="A-14", type="grouped", child_ids=["1", "2"], url_key="pakke"),
        dict(copy.deepcopy(p), source_id="15", sku="A-15", tax_class_id="2", url_key="bla-genser-1",
             variants=[{"source_id": "15-1", "sku": "V-15", "price": 1.0, "options": [], "status": "disabled"}]),
        dict(copy.deepcopy(p), source_id="sku-x", sku="A-X", url_key="klaer/gensere/bla-genser/")]
    s["customers"] += [
        dict(copy.deepcopy(cust), source_id="2", email=" KARI@example.no"),  # merged into 1
        dict(copy.deepcopy(cust), source_id="3", email="ola@example.no", first_name=" ", last_name=None,
             addresses=[{"first_name": "", "street": "Gate 2", "country": "NO"}]),
        dict(copy.deepcopy(cust), source_id="4", email="per@example.no"),
        dict(copy.deepcopy(cust), source_id="4", email="per2@example.no")]  # duplicate id
    line = order["items"][0]
    s["orders"] += [
        dict(copy.deepcopy(order), source_id="2", number="1002", items=[
            line, {"source_id": "2-2", "product_id": "999", "sku": "OLD", "name": "Utgått", "qty": 2, "price": 5.0,
                   "tax": 0}, {"source_id": "2-3", "product_id": "8", "sku": "V-8", "qty": 1, "price": 10.0,
                               "tax": 0}, {"source_id": "2-4", "sku": "FRAKT", "name": "Frakt", "qty": 1,
                                           "price": 9.0, "tax": 0}]),
        dict(copy.deepcopy(order), source_id="3", number="1003", customer_id="2"),  # customer merged away
        dict(copy.deepcopy(order), source_id="4", number="1004", customer_id=None, email="gjest@example.no"),
        dict(copy.deepcopy(order), source_id="5", number="1005", items=[dict(line, product_id="11")]),
        dict(copy.deepcopy(order), source_id="6", number="1006"),
        dict(copy.deepcopy(order), source_id="6", number="1006b"),  # duplicate id
        dict(copy.deepcopy(order), source_id="7", number="1007", status="Complete", refunds=[
            {"source_id": "r1", "amount": 100.0, "reason": "Feil str", "created_at": TS,
             "lines": [{"item_id": "1-1", "sku": "A-1", "qty": 1, "amount": 80.0},
                       {"item_id": "nope", "sku": "A-1", "qty": 1, "amount": 20.0}]}]),
        dict(copy.deepcopy(order), source_id="8", number="1008", status="pending", refunded_total=50.0),
        dict(copy.deepcopy(order), source_id="9", number="1009", status="processing", customer_first_name="",
             billing_address={"street": "Gate 3"}, shipping_address=None, refunded_total=10.0)]
    s["reviews"] += [
        dict(review, source_id="2", product_id="999"),  # product gone: skipped
        dict(review, source_id="3", customer_id="2"),  # merged customer
        dict(review, source_id="4", title=" ", text="<p>Veldig god genser</p>\nmed lue", status="spam"),
        dict(review, source_id="5", product_id="8")]  # the listed variant: not a product
    return s


def outcome(run: Run) -> dict:
    """What the transform wrote, as JSON-able lists in a stable order."""
    out = {}
    for e in ENTITY_NAMES:
        cols = {r[0] for r in run.query(f"DESCRIBE transformed_{e}")}
        extra = [c for c in ("url_key", "name") if c in cols]
        out[e] = [list(r) for r in run.query(
            f"SELECT source_id, row_hash, {', '.join(extra + ['_rules'])} FROM transformed_{e} ORDER BY source_id")]
    out["ledger"] = [list(r) for r in run.query(
        "SELECT entity, source_id, outcome, rule, reason FROM ledger WHERE stage = 'transform' ORDER BY ALL")]
    out["rule_counts"] = [list(r) for r in run.query("SELECT * FROM rule_counts ORDER BY ALL")]
    out["url_key_bases"] = [list(r) for r in run.query("SELECT * FROM url_key_bases ORDER BY ALL")]
    return out


def unordered(run: Run) -> dict[str, list]:
    """Per entity, the source ids whose place in the table's row order is not their place in source-id order."""
    return {e: [r[0] for r in run.query(f"""
        SELECT source_id FROM (
            SELECT source_id, row_number() OVER (ORDER BY rowid) AS here,
                   row_number() OVER (ORDER BY TRY_CAST(source_id AS BIGINT) NULLS LAST, source_id) AS sorted
            FROM transformed_{e})
        WHERE here <> sorted ORDER BY source_id""")] for e in ENTITY_NAMES}


def runs(tmp_path: Path, platform: str) -> tuple[dict, dict]:
    run = Run(tmp_path / platform, write_store(tmp_path / platform / "store", messy_store()))
    settings = RuleSettings(target_platform=platform)
    run(settings=settings)
    first, first_order = outcome(run), unordered(run)
    second = run(settings=settings)
    return ({"first": first_order, "rerun": unordered(run)},
            {"first": first, "rerun": outcome(run), "rerun_writes": {e: r.writes for e, r in second.items()}})


@pytest.mark.parametrize("platform", [p if p == "mystore" else pytest.param(p, marks=pytest.mark.slow)
                                      for p in PLATFORMS])
def test_transform_writes_the_rows_it_wrote_before(tmp_path, platform):
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))[platform]
    order, got = runs(tmp_path, platform)
    assert got["first"]["ledger"] and got["first"]["rule_counts"]  # the store meets rules and defects
    for phase in ("first", "rerun"):
        for key, rows in expected[phase].items():
            assert got[phase][key] == rows, (phase, key)
    assert got["rerun_writes"] == expected["rerun_writes"] == {e: 0 for e in ENTITY_NAMES}
    # in source-id order, as the load creates them, after a first run too
    assert order == {phase: {e: [] for e in ENTITY_NAMES} for phase in ("first", "rerun")}


if __name__ == "__main__":  # write the expectations with the code on the path (the code before, once)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        data = {p: runs(Path(d), p)[1] for p in PLATFORMS}
    EXPECTED.parent.mkdir(exist_ok=True)
    EXPECTED.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {EXPECTED}")
