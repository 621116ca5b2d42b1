"""Mystore target: what real shops hold (issue 14) carried on API v2 — sale dates (Mystore specials have no start),
product lifecycle and disabled variants, refunds as order-totals and status-history rows. Against the emulator,
read back from it."""

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa
import pytest

from cart_pipelines.platforms.kit.emulator import Knobs, running
from cart_pipelines.platforms.mystore import facts
from cart_pipelines.platforms.mystore.emulator import MystoreEmulator
from cart_pipelines.platforms.mystore.target import MystoreTarget

NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def shop(tmp_path):
    emulator = MystoreEmulator(knobs=Knobs(rate_limit=False))
    with running(emulator, lifetime=120) as handle:
        target = MystoreTarget(token=handle.credentials["token"], api_url=handle.base_url,
                               references=tmp_path / "refs.json")
        [cat] = target.create("categories", pa.Table.from_pylist([{"source_id": "c1", "name": "Garn", "url_key": "garn"}]))
        yield emulator, target, cat.target_id


def product(sid: str, category: str, **extra) -> dict:
    return {"source_id": sid, "sku": f"SKU-{sid}", "name": f"Product {sid}", "description": "", "price": Decimal("100.00"),
            "special_price": None, "special_price_from": None, "special_price_to": None, "weight": 1.0, "stock": 5,
            "active": True, "lifecycle": None, "url_key": f"p-{sid}", "category_ids": [category],
            "manufacturer_id": None, "tax_class_id": None, "variants": None, "images": [], **extra}


def specials_of(emulator, product_id: str) -> list[dict]:
    return [s["attributes"] for s in emulator.records("product-specials")
            if s["relationships"]["product"]["data"]["id"] == product_id]


def test_sale_dates_a_scheduled_sale_does_not_start_early(shop, tmp_path):
    emulator, target, cat = shop
    rows = [product("running", cat, special_price=Decimal("80.00"), special_price_from=NOW - timedelta(days=2),
                    special_price_to=NOW + timedelta(days=5)),
            product("ahead", cat, special_price=Decimal("70.00"), special_price_from=NOW + timedelta(days=3),
                    special_price_to=NOW + timedelta(days=10)),
            product("ended", cat, special_price=Decimal("60.00"), special_price_to=NOW - timedelta(days=1)),
            product("open", cat, special_price=Decimal("90.00"))]
    ids = {r.source_id: r.target_id for r in target.create("products", pa.Table.from_pylist(rows))}
    assert all(ids.values())
    [running] = specials_of(emulator, ids["running"])
    assert running["status"] == 1 and running["expires_at"] == (NOW + timedelta(days=5)).strftime(facts.DATETIME_FORMAT)
    [ahead] = specials_of(emulator, ids["ahead"])
    assert ahead["status"] == 0 and ahead["specials_price"] == 70.0  # held: Mystore has no start date
    assert specials_of(emulator, ids["ended"])[0]["status"] == 0
    assert specials_of(emulator, ids["open"])[0] == {**specials_of(emulator, ids["open"])[0], "status": 1,
                                                      "expires_at": None}
    notes = json.loads((tmp_path / "mystore-not-carried.json").read_text())
    assert "no start date" in notes["ahead"][0] and set(notes) == {"ahead"}
    # Read back, the sale is there with its price (held or running), so the checks compare it.
    back = {r["_source_id"]: r for r in target.scan("products").to_pylist()}
    assert back["ahead"]["special_price"] == Decimal("70.00") and back["running"]["special_price"] == Decimal("80.00")
    # Its start comes (here: the start recorded in the references moves into the past): the next run that writes
    # products switches it on, once.
    held = target.refs.of("scheduled_specials")
    assert list(held.values()) == [(NOW + timedelta(days=3)).isoformat()]
    held[next(iter(held))] = (NOW - timedelta(minutes=1)).isoformat()
    target.create("products", pa.Table.from_pylist([product("later", cat)]))
    assert specials_of(emulator, ids["ahead"])[0]["status"] == 1
    assert target.refs.of("scheduled_specials") == {}


def test_lifecycle_and_disabled_variants(shop):
    emulator, target, cat = shop
    variants = [{"source_id": f"v{n}", "sku": f"V-{n}", "price": Decimal("100.00"), "stock": 3,
                 "options": [{"name": "Farge", "value": colour}], "status": status}
                for n, (colour, status) in enumerate([("Rød", "enabled"), ("Blå", "disabled"), ("Grønn", None)])]
    rows = [product("live", cat), product("draft", cat, active=False, lifecycle="draft"),
            product("trashed", cat, active=False, lifecycle="trashed"),
            product("archived", cat, lifecycle="archived"),  # enabled, but archived: not sold
            product("private", cat, lifecycle="private"), product("var", cat, variants=variants)]
    ids = {r.source_id: r.target_id for r in target.create("products", pa.Table.from_pylist(rows))}
    status = {sid: emulator.data["products"][int(tid)]["attributes"]["status"] for sid, tid in ids.items()}
    assert status == {"live": 1, "draft": 0, "trashed": 0, "archived": 0, "private": 0, "var": 1}
    disabled = {v["attributes"]["sku"]: v["attributes"].get("disabled") for v in emulator.records("product-variants")}
    assert disabled == {"V-0": None, "V-1": 1, "V-2": None}
    # A delta changes the product: one atomic batch rebuilds its rows; the new sale is ahead, so it is held.
    batches = emulator.batches
    changed = {**rows[-1], "target_id": ids["var"], "special_price": Decimal("75.00"),
               "special_price_from": NOW + timedelta(days=1),
               "variants": [{**v, "status": "disabled" if v["sku"] == "V-0" else "enabled"} for v in variants]}
    [res] = target.update("products", pa.Table.from_pylist([changed]))
    assert res.error is None and emulator.batches == batches + 1
    disabled = {v["attributes"]["sku"]: v["attributes"].get("disabled") for v in emulator.records("product-variants")}
    assert disabled == {"V-0": 1, "V-1": None, "V-2": None}
    [special] = specials_of(emulator, ids["var"])
    assert special["status"] == 0 and special["specials_price"] == 75.0
    assert list(target.refs.of("scheduled_specials").values()) == [(NOW + timedelta(days=1)).isoformat()]
    [res] = target.update("products", pa.Table.from_pylist([{**changed, "special_price": None}]))
    assert specials_of(emulator, ids["var"]) == [] and target.refs.of("scheduled_specials") == {}


def test_refunds_as_totals_rows_and_status_history(shop):
    emulator, target, cat = shop
    [p] = target.create("products", pa.Table.from_pylist([product("p", cat)]))
    [c] = target.create("customers", pa.Table.from_pylist([{"source_id": "k1", "email": "kari@example.no",
                                                             "first_name": "Kari", "last_name": "Nordmann"}]))
    address = {"first_name": "Kari", "last_name": "Nordmann", "street": "Gate 1", "city": "Oslo", "postcode": "0150",
               "country": "NO", "company": None, "region": None, "phone": None}
    base = {"customer_id": c.target_id, "email": "kari@example.no", "customer_first_name": "Kari",
            "customer_last_name": "Nordmann", "status": "completed", "currency": "NOK", "subtotal": Decimal("200.00"),
            "shipping": Decimal("50.00"), "tax": Decimal("0.00"), "discount": None, "grand_total": Decimal("250.00"),
            "items": [{"source_id": "i1", "product_id": p.target_id, "sku": "SKU-p", "name": "Product p", "qty": 2,
                       "price": Decimal("100.00"), "tax": Decimal("0.00")}],
            "billing_address": address, "shipping_address": address, "created_at": NOW - timedelta(days=30)}
    rows = [{**base, "source_id": "o1", "order_number": "1001", "refunded_total": Decimal("62.50"),
             "net_total": Decimal("187.50"),
             "refunds": [{"source_id": "r1", "amount": Decimal("50.00"), "reason": "Skadet vare",
                          "created_at": NOW - timedelta(days=20), "lines": []},
                         {"source_id": "r2", "amount": Decimal("12.50"), "reason": None,
                          "created_at": NOW - timedelta(days=10), "lines": []}]},
            {**base, "source_id": "o2", "order_number": "1002", "refunded_total": Decimal("25.00"), "refunds": []},
            {**base, "source_id": "o3", "order_number": "1003", "refunded_total": None, "refunds": None}]
    ids = {r.source_id: r.target_id for r in target.create("orders", pa.Table.from_pylist(rows))}

    def totals(order):
        return {t["attributes"]["class"]: t["attributes"]["value"] for t in emulator.records("order-totals")
                if t["relationships"]["order"]["data"]["id"] == ids[order]}

    def history(order):
        return [h["attributes"] for h in emulator.records("order-status-history")
                if h["relationships"]["order"]["data"]["id"] == ids[order]]

    assert totals("o1")["ot_total"] == 250.0 and totals("o1")[facts.REFUND_TOTAL_CLASS] == -62.5  # net 187.50
    assert totals("o2")[facts.REFUND_TOTAL_CLASS] == -25.0 and facts.REFUND_TOTAL_CLASS not in totals("o3")
    refunds = [h for h in history("o1") if h["comments"].startswith("Refund ")]
    assert [h["comments"].split(" (")[0] for h in refunds] == ["Refund kr 50.00: Skadet vare", "Refund kr 12.50"]
    assert refunds[0]["created_at"] == (NOW - timedelta(days=20)).strftime(facts.DATETIME_FORMAT)
    assert [h["comments"] for h in history("o2")][1:] == ["Refunded kr 25.00 in total"]
    assert len(history("o3")) == 1
    # A later refund reaches the order on update: the totals row follows, history gains only the new entry.
    later = {**rows[0], "target_id": ids["o1"], "refunded_total": Decimal("72.50"),
             "refunds": [*rows[0]["refunds"], {"source_id": "r3", "amount": Decimal("10.00"), "reason": "Forsinket",
                                               "created_at": NOW - timedelta(days=1), "lines": []}]}
    [res] = target.update("orders", pa.Table.from_pylist([later]))
    assert res.error is None
    assert totals("o1")[facts.REFUND_TOTAL_CLASS] == -72.5
    assert len([h for h in history("o1") if h["comments"].startswith("Refund ")]) == 3


def test_references_journal_appends_per_batch_and_survives_a_cut_off_line(tmp_path):
    from cart_pipelines.platforms.mystore.references import References

    refs = References(tmp_path / "refs.json")
    refs.of("products").update({"1": "a", "2": "b"})
    refs.save()
    refs.of("products").pop("1")
    refs.of("intent:products")["c"] = "slug-c"
    refs.save()
    assert not (tmp_path / "refs.json").exists() and len((tmp_path / "refs.log").read_text().splitlines()) == 4
    with open(tmp_path / "refs.log", "a") as fh:
        fh.write('["products", "9", "z')  # a killed run's last line
    again = References(tmp_path / "refs.json")
    assert again.data == {"products": {"2": "b"}, "intent:products": {"c": "slug-c"}}
    again.compact()
    assert not (tmp_path / "refs.log").exists()
    assert json.loads((tmp_path / "refs.json").read_text()) == {"products": {"2": "b"}, "intent:products": {"c": "slug-c"}}
    assert References(tmp_path / "refs.json").data == again.data


def test_docs_list_every_assumption_of_the_fact_module():
    from conftest import ROOT

    assert facts.assumptions_markdown() in (ROOT / "docs" / "targets" / "mystore.md").read_text(encoding="utf-8")


def test_new_options_are_learnt_from_the_batch_answers_not_read_again(shop):
    emulator, target, cat = shop

    def variable(sid, values):
        return product(sid, cat, variants=[{"source_id": f"{sid}-{v}", "sku": f"{sid}-{v}", "price": Decimal("100.00"),
                                            "stock": 1, "options": [{"name": "Størrelse", "value": v}]} for v in values])

    target.create("products", pa.Table.from_pylist([variable("a", ["S", "M"])]))
    reads = target.api.client.requests_made - target.api.batches
    # 40 products, 5 operations or more each: several batches, new values in later ones, no list read again.
    rows = [variable(f"p{n}", ["S", "M", "L", f"X{n // 12}"]) for n in range(40)]  # X1 first in a later batch
    target.create("products", pa.Table.from_pylist(rows))
    assert target.api.client.requests_made - target.api.batches == reads
    option = [o for o in emulator.records("product-options")]
    assert len(option) == 1
    values = {v["id"]: v["attributes"]["name"]["no"] for v in emulator.records("product-option-values")}
    assert sorted(values.values()) == ["L", "M", "S", "X0", "X1", "X2", "X3"]
    linked = [r["id"] for r in option[0]["relationships"]["product-option-values"]["data"]]
    assert sorted(linked) == sorted(values)
    back = {r["_source_id"]: r for r in target.scan("products").to_pylist()}
    assert sorted(o["options"][0]["value"] for o in back["p4"]["variants"]) == ["L", "M", "S", "X0"]


def test_a_product_adopted_after_a_lost_answer_keeps_its_variants_source_ids(shop):
    """The batch creating a product and its variants is applied, its answer lost (a 502): the product is found by
    its slug and adopted, and so are the variants the same batch created — read back, each has its source id."""
    emulator, target, cat = shop
    variants = [{"source_id": f"v{n}", "sku": f"L-{n}", "price": Decimal("100.00"), "stock": 3,
                 "options": [{"name": "Str", "value": size}], "status": "enabled"} for n, size in enumerate("SM")]

    def once(request):  # the first batch only
        if request.path.endswith("atomic-batch"):
            emulator.knobs.write_faults = {}

    emulator.knobs.write_faults, emulator.knobs.after_response = {"applied_502": 1.0}, once
    [res] = target.create("products", pa.Table.from_pylist([product("lost", cat, variants=variants)]))
    assert res.error is None and emulator.faults_by_kind == {"applied_502": 1}
    assert len(emulator.data["products"]) == 1 and len(emulator.data["product-variants"]) == 2
    [back] = target.scan("products").to_pylist()
    assert sorted(v["source_id"] for v in back["variants"]) == ["v0", "v1"]
    # The same for an order and its lines
    [c] = target.create("customers", pa.Table.from_pylist([{"source_id": "k1", "email": "kari@example.no",
                                                             "first_name": "Kari", "last_name": "Nordmann"}]))
    address = {"first_name": "Kari", "last_name": "Nordmann", "street": "Gate 1", "city": "Oslo", "postcode": "0150",
               "country": "NO", "company": None, "region": None, "phone": None}
    order = {"source_id": "o1", "order_number": "1001", "customer_id": c.target_id, "email": "kari@example.no",
             "customer_first_name": "Kari", "customer_last_name": "Nordmann", "status": "completed", "currency": "NOK",
             "subtotal": Decimal("200.00"), "shipping": Decimal("0.00"), "tax": Decimal("0.00"), "discount": None,
             "grand_total": Decimal("200.00"), "refunded_total": None, "refunds": None,
             "items": [{"source_id": f"i{n}", "product_id": res.target_id, "sku": "SKU-lost", "name": "Product lost",
                        "qty": 1, "price": Decimal("100.00"), "tax": Decimal("0.00")} for n in (1, 2)],
             "billing_address": address, "shipping_address": address, "created_at": NOW - timedelta(days=3)}
    emulator.knobs.write_faults = {"applied_502": 1.0}
    [res] = target.create("orders", pa.Table.from_pylist([order]))
    assert res.error is None and emulator.faults_by_kind == {"applied_502": 2} and len(emulator.data["orders"]) == 1
    [back] = target.scan("orders").to_pylist()
    assert sorted(i["source_id"] for i in back["items"]) == ["i1", "i2"]
