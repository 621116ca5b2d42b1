"""Bad input ends in the ledger with a clear reason; the ledger always closes."""

import pytest

from cart_pipelines.model.canonical import SCHEMAS
from cart_pipelines.model.coerce import Invalid, coerce_record
from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.pipeline import ledger


@pytest.mark.parametrize("record, reason", [
    ({"source_id": "1", "name": "x", "price": "12,50"}, "price: '12,50' has a comma"),
    ({"source_id": "1", "name": "x", "price": "abc"}, "price: 'abc' is not a number"),
    ({"source_id": "1", "name": "x", "price": -1}, "price: -1.00 is negative"),
    ({"source_id": "1", "name": "x", "price": 1.234}, "price: 1.234 has more than 2 decimals"),
    ({"source_id": "1", "price": 1}, "name: required field is missing"),
    ({"name": "x", "price": 1}, "source_id: required field is missing"),
    ({"source_id": "1", "name": "x", "price": 1, "stock": "many"}, "stock: 'many' is not a whole number"),
    ({"source_id": "1", "name": "x", "price": 1, "category_ids": "3"}, "category_ids: expected a list"),
    ({"source_id": "1", "name": "x", "price": 1, "updated_at": "yesterday"}, "updated_at: 'yesterday' is not"),
    ({"source_id": "1", "name": {"no": "x"}, "price": 1}, "name: expected text, got dict"),
    ({"source_id": "1", "name": "x" * 1_000_001, "price": 1}, "exceeds the limit"),
    ({"source_id": "1", "name": "x", "price": 1, "variants": [{"price": "1,5"}]}, "variants[0].price"),
])
def test_product_defects_are_named(record, reason):
    with pytest.raises(Invalid, match=None) as exc:
        coerce_record(record, SCHEMAS["products"])
    assert reason in str(exc.value)


def test_valid_values_are_coerced():
    row = coerce_record({"source_id": 7, "name": "Ærlig <b>lue</b>", "price": "10.5", "stock": "3",
                         "updated_at": "2024-01-02T03:04:05+02:00", "status": "enabled"}, SCHEMAS["products"])
    assert row["source_id"] == "7" and str(row["price"]) == "10.50" and row["stock"] == 3
    assert row["updated_at"].isoformat() == "2024-01-02T01:04:05+00:00"


def test_a_scheduled_sale_may_end_in_the_future_other_dates_not():
    sale = {"source_id": "7", "name": "x", "price": 10, "special_price": 8, "special_price_from": "2999-01-01T00:00:00Z",
            "special_price_to": "2999-02-01T00:00:00Z"}
    row = coerce_record(sale, SCHEMAS["products"])
    assert row["special_price_to"].year == 2999 and row["special_price_from"].month == 1
    with pytest.raises(Invalid, match="updated_at: .* is in the future"):
        coerce_record({**sale, "updated_at": "2999-01-01T00:00:00Z"}, SCHEMAS["products"])


def test_every_record_accounted_for_with_bad_input(store, run):
    good = store.records["products"][0]
    records = {
        "products": [good, '{"source_id": "2", "name": "cut', b"\xff\xfe".decode("latin-1"),
                     {**good, "source_id": "3", "price": "1,00"}, {**good, "sku": "DUP"},
                     {**good, "source_id": "4", "sku": "A-4", "url_key": "x", "manufacturer_id": "404"},
                     "[1, 2, 3]"],
        "orders": [store.records["orders"][0],
                   {**store.records["orders"][0], "source_id": "2", "items": [
                       {"source_id": "2-1", "product_id": "4", "sku": "A-4", "qty": 1, "price": 1, "tax": 0}]}],
        "customers": [store.records["customers"][0], {"source_id": "9", "email": "  "}],
    }
    r = run(store(records))
    r()
    reasons = dict(r.query("SELECT source_id, reason FROM ledger WHERE outcome = 'quarantined' AND entity = 'products'"))
    assert "malformed JSON" in reasons["#2"]
    assert "not valid UTF-8" in reasons["#3"] or "malformed JSON" in reasons["#3"]
    assert "comma" in reasons["3"]
    assert reasons["1"] == "duplicate source_id 1"
    assert reasons["4"] == "manufacturer 404 is missing or quarantined"
    assert "expected an object" in reasons["#7"]
    order_reason = r.query("SELECT reason FROM ledger WHERE entity = 'orders' AND source_id = '2'")
    assert order_reason == [("order item product 4 is quarantined or skipped",)]
    with r.staging.connect() as con:
        for entity in ENTITY_NAMES:
            s = ledger.summarize(con, entity)
            assert s.closes, s.as_dict()
        assert ledger.summarize(con, "products").as_dict()["source"] == 7
        assert ledger.summarize(con, "customers").quarantined == 1


def test_invalid_utf8_line_is_quarantined(tmp_path, store, run):
    d = store()
    with open(d / "customers.jsonl", "ab") as fh:
        fh.write(b'{"source_id": "5", "email": "\xff\xfe@example.no"}\n')
    r = run(d)
    r()
    assert r.query("SELECT reason FROM ledger WHERE entity = 'customers' AND outcome = 'quarantined'") == [
        ("customers.jsonl line 2: not valid UTF-8 (byte 29)",)]


def test_target_rejection_is_quarantined_with_the_targets_message(store, run):
    """The shop already holds a customer with this e-mail (made there, not by the migration): the target refuses."""
    import pyarrow as pa

    r = run(store())
    r.target.create("customers", pa.table({"source_id": ["in-shop"], "email": ["KARI@example.no"]}))
    r()
    assert r.query("SELECT stage, reason FROM ledger WHERE entity = 'customers' AND outcome = 'quarantined'") == [
        ("load", "target rejected: a customer with this e-mail already exists")]


def test_customers_with_one_email_are_one_customer(store, run):
    """Rule customer_email_merged: e-mails equal after trimming, Unicode NFC and case are one customer; the
    earlier one (source-id order) is loaded, the later skipped, and its orders go to the earlier one."""
    c, o = store.records["customers"][0], store.records["orders"][0]
    nfc, nfd = "ren\u00e9@example.no", "rene\u0301@example.no"
    r = run(store({"customers": [{**c, "email": nfc}, {**c, "source_id": "2", "email": f"  {nfd.upper()} "}],
                   "orders": [{**o, "customer_id": "2", "email": nfd}]}))
    r()
    assert [row["_source_id"] for row in r.target_rows("customers")] == ["1"]
    assert r.query("SELECT outcome, rule FROM ledger WHERE entity = 'customers' AND source_id = '2'") == [
        ("skipped", "customer_email_merged")]
    customer = r.target_rows("customers")[0]["id"]
    assert [row["customer_id"] for row in r.target_rows("orders")] == [customer]
    assert r.report()["all_accounted_for"]


@pytest.mark.parametrize("email", ["kari@example.test", "ola@butikk.local", "per@shop.invalid", "a@example.com",
                                   "b@mail.example.org"])
def test_emails_under_reserved_test_domains_are_kept(email):
    """WordPress accepted them: the source's data is kept, and flagged (coerce.reserved_email_domain)."""
    from cart_pipelines.model.coerce import reserved_email_domain
    row = coerce_record({"source_id": "1", "email": email}, SCHEMAS["customers"])
    assert row["email"] == email and reserved_email_domain(email)


@pytest.mark.parametrize("email", ["kari@@example.test", "ola@", "a@.test", "a@localhost"])
def test_a_reserved_domain_still_needs_an_address(email):
    with pytest.raises(Invalid, match="is not an e-mail address"):
        coerce_record({"source_id": "1", "email": email}, SCHEMAS["customers"])


def test_ordinary_domains_are_not_flagged():
    from cart_pipelines.model.coerce import reserved_email_domain
    assert not reserved_email_domain("kari@example.no") and not reserved_email_domain("kari@testing.no")
