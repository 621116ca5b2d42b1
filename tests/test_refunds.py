"""Refunds (issue 14): carried to the local target, compared as net totals by the money check, and listed in the
report for a target that holds none."""

from decimal import Decimal

from cart_pipelines.pipeline import checks
from cart_pipelines.pipeline import report as report_mod


def refunded_store(store):
    o = store.records["orders"][0]
    refund = {"source_id": "r1", "amount": "100.00", "reason": "Returned", "created_at": "2024-03-02T10:00:00Z",
              "lines": [{"item_id": "1-1", "sku": "A-1", "qty": 1, "amount": "100.00"}]}
    return store({"orders": [o, {**o, "source_id": "2", "number": "1002", "refunds": [refund],
                                 "refunded_total": "100.00", "net_total": "523.75"}]})


def test_refunds_reach_the_local_target_and_the_net_totals_match(store, run):
    r = run(refunded_store(store))
    r()
    rows = {x["_source_id"]: x for x in r.target_rows("orders")}
    assert rows["2"]["refunded_total"] == Decimal("100.00") and rows["1"]["refunded_total"] is None
    (refund,) = rows["2"]["refunds"]
    assert (refund["amount"], refund["reason"], refund["lines"][0]["sku"]) == (Decimal("100.00"), "Returned", "A-1")
    assert rows["2"]["grand_total"] == Decimal("623.75")  # the order as placed
    with r.staging.connect() as con:
        ok, facts = checks.money_totals_match(con, r.target)
    assert ok, facts
    assert Decimal(facts["source_net_total"]) == Decimal(facts["target_net_total"]) == Decimal("1147.50")


def test_the_money_check_fails_when_a_refund_is_lost(store, run):
    r = run(refunded_store(store))
    r()
    with r.target._connect() as con:  # the target lost the refund: the gross totals still agree
        con.execute("UPDATE orders SET refunds = [], refunded_total = NULL")
    with r.staging.connect() as con:
        ok, facts = checks.money_totals_match(con, r.target)
    assert not ok and facts["orders_differing"] == 1
    assert facts["source_grand_total"] == facts["target_grand_total"]


def test_a_target_without_refunds_gets_them_listed_in_the_report(store, run, tmp_path):
    r = run(refunded_store(store))
    r()
    with r.staging.connect() as con:
        rep = report_mod.build(con, directory=tmp_path / "reports", holds_refunds=False)
        assert report_mod.build(con)["refunds_not_carried_count"] == 0  # the local target holds them
    assert rep["refunds_not_carried_count"] == 1
    assert rep["refunds_not_carried"] == [{"source_id": "2", "order_number": "1002", "refunds": 1,
                                           "refunded_total": "100.00", "grand_total": "623.75"}]
    assert "## Refunds not carried (1 orders)" in report_mod.markdown(rep)
    assert (tmp_path / "reports" / "refunds_not_carried.csv").read_text().splitlines()[1] == "2,1002,1,100.00,623.75"


def test_customers_under_reserved_test_domains_are_loaded_and_flagged(store, run):
    c = store.records["customers"][0]
    r = run(store({"customers": [c, {**c, "source_id": "2", "email": "ola@butikk.test"}]}))
    r()
    assert sorted(x["email"] for x in r.target_rows("customers")) == ["kari@example.no", "ola@butikk.test"]
    rep = r.report()
    assert rep["reserved_emails"] == {"count": 1, "examples": ["2"]}
    assert "reserved test domain" in report_mod.markdown(rep)
