"""One test per migration rule of seed 000 (and the opt-in that keeps guest orders)."""

import copy
import shutil

from cart_pipelines.pipeline.rules import HIDDEN_CATEGORY_ID, RULES, RuleSettings


def outcome(r, entity, sid):
    return r.query("SELECT stage, outcome, rule, reason FROM ledger WHERE entity = ? AND source_id = ?",
                   [entity, sid])


def test_rule_table_names_every_seed_rule():
    assert [r.name for r in RULES][:6] == [
        "customer_address_defaults", "order_address_defaults", "uncategorised_to_hidden_category",
        "review_needs_product_and_customer", "order_needs_customer", "url_key_suffix"]


def test_customer_address_defaults(store, run):
    cust = store.records["customers"][0]
    cust["addresses"] = [{"first_name": "", "last_name": None, "city": "  ", "street": "Vei 2", "country": "NO"},
                         {"first_name": "Ola", "last_name": "N", "city": "Bergen"}]
    r = run(store())
    r()
    (row,) = r.target_rows("customers")
    first, second = row["addresses"]
    assert (first["first_name"], first["last_name"], first["city"], first["street"]) == ("N/A", "N/A", "N/A", "Vei 2")
    assert (second["first_name"], second["city"]) == ("Ola", "Bergen")
    assert r.query("SELECT records FROM rule_counts WHERE rule = 'customer_address_defaults'") == [(1,)]


def test_order_address_defaults_are_configurable(store, run):
    order = store.records["orders"][0]
    order["billing_address"] = {"first_name": "", "last_name": "", "city": "", "country": ""}
    order["shipping_address"] = None
    order["customer_first_name"] = ""
    order["customer_last_name"] = None
    r = run(store())
    r()
    (row,) = r.target_rows("orders")
    for a in (row["billing_address"], row["shipping_address"]):
        assert (a["first_name"], a["last_name"], a["city"], a["country"]) == ("N/A", "N/A", "City", "SE")
    assert (row["customer_first_name"], row["customer_last_name"]) == ("N/A", "N/A")
    r2 = run(store())
    r2(settings=RuleSettings(order_country="Norge", order_city="Ukjent"))
    a = r2.target_rows("orders")[0]["billing_address"]
    assert (a["city"], a["country"]) == ("Ukjent", "Norge")


def test_uncategorised_products_go_to_one_hidden_category(store, run):
    p = store.records["products"][0]
    second = {**copy.deepcopy(p), "source_id": "2", "sku": "A-2", "url_key": "annen", "category_ids": []}
    third = {**copy.deepcopy(p), "source_id": "3", "sku": "A-3", "url_key": "tredje"}
    del third["category_ids"]
    r = run(store({"products": [p, second, third]}))
    r()
    hidden = [c for c in r.target_rows("categories") if c["_source_id"] == HIDDEN_CATEGORY_ID]
    assert len(hidden) == 1 and hidden[0]["hidden"] is True
    by_sid = {row["_source_id"]: row for row in r.target_rows("products")}
    assert by_sid["2"]["category_ids"] == by_sid["3"]["category_ids"] == [hidden[0]["id"]]
    assert by_sid["1"]["category_ids"] != [hidden[0]["id"]]
    r()  # the hidden category is made once, not once per run
    assert sum(c["_source_id"] == HIDDEN_CATEGORY_ID for c in r.target_rows("categories")) == 1


def test_reviews_need_product_and_customer(store, run):
    ok = store.records["reviews"][0]
    reviews = [ok, {**ok, "source_id": "2", "customer_id": None}, {**ok, "source_id": "3", "product_id": None},
               {**ok, "source_id": "4", "product_id": "404"}, {**ok, "source_id": "5", "customer_id": "404"}]
    r = run(store({"reviews": reviews}))
    r()
    assert [row["_source_id"] for row in r.target_rows("reviews")] == ["1"]
    for sid in "2345":
        assert outcome(r, "reviews", sid) == [("transform", "skipped", "review_needs_product_and_customer", None)]


def test_orders_without_customer_are_skipped(store, run):
    ok = store.records["orders"][0]
    orders = [ok, {**ok, "source_id": "2", "number": "1002", "customer_id": None, "email": "gjest@example.no"},
              {**ok, "source_id": "3", "number": "1003", "customer_id": "999"}]  # deleted customer
    r = run(store({"orders": orders}))
    r()
    assert [row["_source_id"] for row in r.target_rows("orders")] == ["1"]
    assert outcome(r, "orders", "2") == [("transform", "skipped", "order_needs_customer", None)]
    assert outcome(r, "orders", "3") == [("transform", "skipped", "order_needs_customer", None)]


def test_keep_guest_orders_creates_customers_from_order_email(store, run):
    ok = store.records["orders"][0]
    orders = [ok,
              {**ok, "source_id": "2", "number": "1002", "customer_id": None, "email": "Gjest@Example.no",
               "customer_first_name": "Per", "customer_last_name": "Gjest"},
              {**ok, "source_id": "3", "number": "1003", "customer_id": None, "email": "gjest@example.no "},
              {**ok, "source_id": "4", "number": "1004", "customer_id": "999", "email": "kari@example.no"},
              {**ok, "source_id": "5", "number": "1005", "customer_id": None, "email": ""}]
    r = run(store({"orders": orders}))
    r(settings=RuleSettings(keep_guest_orders=True))
    customers = {c["_source_id"]: c for c in r.target_rows("customers")}
    assert set(customers) == {"1", "guest:gjest@example.no"}
    guest = customers["guest:gjest@example.no"]
    assert (guest["email"], guest["first_name"]) == ("Gjest@Example.no", "Per")
    by_order = {o["_source_id"]: o["customer_id"] for o in r.target_rows("orders")}
    assert by_order == {"1": customers["1"]["id"], "2": guest["id"], "3": guest["id"],
                        "4": customers["1"]["id"]}  # the deleted customer's order joins the same e-mail
    assert outcome(r, "orders", "5") == [("transform", "skipped", "order_needs_customer", None)]


def test_url_keys_lose_category_path_and_get_deterministic_suffixes(store, run):
    p = store.records["products"][0]
    products = [
        {**p, "source_id": "10", "sku": "S-10", "url_key": "herre/gensere/bla-genser"},
        {**p, "source_id": "2", "sku": "S-2", "url_key": "dame/gensere/bla-genser"},
        {**p, "source_id": "7", "sku": "S-7", "url_key": "salg/Blå-Genser"},
        {**p, "source_id": "3", "sku": "S-3", "url_key": "bla-genser-1"},  # already ends in -1
    ]
    r = run(store({"products": products}))
    r()
    keys = {row["_source_id"]: row["url_key"] for row in r.target_rows("products")}
    # source-id order decides: 2 keeps the key, 7 and 10 get suffixes; 3 owned "bla-genser-1", so 7 moves on
    assert keys == {"2": "bla-genser", "3": "bla-genser-1", "7": "bla-genser-1-1", "10": "bla-genser-2"}
    assert len(set(keys.values())) == 4
    r2 = run(store())
    r2()
    assert {row["_source_id"]: row["url_key"] for row in r2.target_rows("products")} == keys


def test_url_keys_loaded_by_a_demo_stay_theirs_in_the_full_run(store, run):
    """Two categories named Kjøkken at different depths: the demo brings only the deeper one (30, the category of
    its product), which loads as "kjokken". The full run adds 12, first in source-id order and one level higher,
    so it is created before 30's row is written: 30 keeps the key it holds (sticky), 12 is numbered after it."""
    cats = [{"source_id": "11", "name": "Hjem", "url_key": "hjem"},
            {"source_id": "12", "parent_id": "11", "name": "Kjøkken", "url_key": "hjem/kjokken"},
            {"source_id": "20", "name": "Interiør", "url_key": "interior"},
            {"source_id": "21", "parent_id": "20", "name": "Rom", "url_key": "interior/rom"},
            {"source_id": "30", "parent_id": "21", "name": "Kjøkken", "url_key": "interior/rom/kjokken"}]
    p = store.records["products"][0]
    r = run(store({"categories": cats, "products": [{**p, "category_ids": ["30"]}]}))
    r(mode="demo")
    assert {c["_source_id"]: c["url_key"] for c in r.target_rows("categories")}["30"] == "kjokken"
    r()
    keys = {c["_source_id"]: c["url_key"] for c in r.target_rows("categories")}
    assert (keys["30"], keys["12"]) == ("kjokken", "kjokken-1")
    assert r.query("SELECT count(*) FROM ledger WHERE outcome = 'quarantined'") == [(0,)]
    assert r.query("SELECT records FROM rule_counts WHERE entity = 'categories' AND rule = 'url_key_suffix'") == [(1,)]
    again = r()  # re-running the finished migration writes nothing
    assert sum(res.writes for res in again.values()) == 0


def test_order_statuses_are_mapped_and_unknown_ones_reported(store, run):
    ok = store.records["orders"][0]
    orders = [{**ok, "source_id": str(i), "number": str(1000 + i), "status": st}
              for i, st in enumerate(["pending", "Completed", "on-hold", "Awaiting Fulfillment", "paid", "weird"], 1)]
    r = run(store({"orders": orders}))
    r()
    got = {o["_source_id"]: o["status"] for o in r.target_rows("orders")}
    assert got == {"1": "new", "2": "completed", "3": "on_hold", "4": "processing", "5": "processing", "6": "weird"}
    assert r.query("SELECT records FROM rule_counts WHERE rule = 'order_status_unmapped'") == [(1,)]
    # every renamed status is counted (pending → new, Completed → completed, ...); the unmapped one is not
    assert r.query("SELECT records FROM rule_counts WHERE rule = 'order_status_mapping'") == [(5,)]
    r2 = run(store())
    r2(settings=RuleSettings(order_status_map={"weird": "cancelled", "paid": "completed"}))
    got = {o["_source_id"]: o["status"] for o in r2.target_rows("orders")}
    assert got["6"] == "cancelled" and got["5"] == "completed"


def _writes_of_another_run(r) -> int:
    return sum(res.writes for res in r().values())


def test_hidden_category_named_like_a_shop_category(store, run):
    """The shop already has "Uncategorised (migrated)": the hidden category of rule 3 keeps its URL key, the shop's
    category gets -1 (url_key_suffix), and uncategorised products load — in a full migration, and in a full
    migration after a demo that created the hidden category first."""
    p = store.records["products"][0]
    records = {"categories": store.records["categories"] + [{"source_id": "77", "name": "Uncategorised (migrated)"}],
               "products": [p, {**copy.deepcopy(p), "source_id": "2", "sku": "A-2", "url_key": "annen",
                                "category_ids": []}]}
    for demo_first in (False, True):
        r = run(store(records))
        if demo_first:
            r(mode="demo")
        r()
        keys = {c["_source_id"]: c["url_key"] for c in r.target_rows("categories")}
        assert keys[HIDDEN_CATEGORY_ID] == "uncategorised-migrated" and keys["77"] == "uncategorised-migrated-1"
        assert not r.query("SELECT * FROM ledger WHERE outcome = 'quarantined'")
        assert len(r.target_rows("products")) == 2 and r.report()["all_accounted_for"]
        assert _writes_of_another_run(r) == 0
        r.target.path.unlink()  # the next round starts afresh
        shutil.rmtree(r.staging.directory)


def test_demo_then_full_creates_merged_tax_classes_once(store, run):
    """Rule tax_class_mapping keeps the first class in source-id order; a demo takes every tax class, so the demo
    and the full migration after it keep the same one."""
    p = store.records["products"][0]
    records = {"tax_classes": [{"source_id": "1", "name": "Standard"}, {"source_id": "2", "name": "Taxable Goods"}],
               "products": [{**p, "tax_class_id": "2"}]}
    r = run(store(records))
    r(mode="demo")
    r()
    assert [t["name"] for t in r.target_rows("tax_classes")] == ["Standard"]
    assert r.report()["all_accounted_for"]


def test_url_keys_of_any_script(store, run):
    """Rule url_key_fallback: transliterated where a transliteration exists, else the entity and id."""
    p = store.records["products"][0]
    names = {"2": "Ελληνικό τσάι", "3": "東京", "4": "שלום", "5": "🎉", "6": "!!!", "7": "Party 🎉 hatt"}
    products = [p] + [{**p, "source_id": sid, "sku": f"S-{sid}", "name": n, "url_key": None}
                      for sid, n in names.items()]
    r = run(store({"products": products}))
    r()
    keys = {row["_source_id"]: row["url_key"] for row in r.target_rows("products")}
    assert keys == {"1": "bla-genser", "2": "elliniko-tsai", "3": "dongjing", "4": "slvm", "5": "product-5",
                    "6": "product-6", "7": "party-hatt"}
    assert r.query("SELECT records FROM rule_counts WHERE rule = 'url_key_fallback'") == [(2,)]


def test_order_lines_of_gone_products_are_kept_without_their_link(store, run):
    """A product deleted (or trashed and not listed) at the source: its orders keep the line as history."""
    o = store.records["orders"][0]
    gone_line = {"source_id": "2-1", "product_id": "361", "sku": "OLD-361", "name": "Utgått lue", "qty": 2,
                 "price": 150.0, "tax": 75.0}
    orders = [o, {**o, "source_id": "2", "number": "1002", "items": [o["items"][0], gone_line]}]
    r = run(store({"orders": orders}))
    r()
    assert outcome(r, "orders", "2") == [("load", "loaded", None, None)]
    row = next(x for x in r.target_rows("orders") if x["_source_id"] == "2")
    lines = {i["sku"]: i for i in row["items"]}
    assert lines["OLD-361"]["product_id"] is None and lines["OLD-361"]["name"] == "Utgått lue"
    assert lines["OLD-361"]["qty"] == 2 and float(lines["OLD-361"]["price"]) == 150.0
    assert lines["A-1"]["product_id"] is not None  # the product that exists keeps its link
    assert r.query("SELECT records FROM rule_counts WHERE rule = 'order_item_product_gone'") == [(1,)]
    r()  # re-running writes nothing
    assert r.query("SELECT count(*) FROM ledger WHERE entity = 'orders' AND outcome = 'quarantined'") == [(0,)]


def test_a_run_after_a_product_is_deleted_keeps_migrated_orders(store, run):
    p = store.records["products"][0]
    o = store.records["orders"][0]
    second = {**p, "source_id": "2", "sku": "A-2", "url_key": "lue", "name": "Lue"}
    line = {"source_id": "2-1", "product_id": "2", "sku": "A-2", "name": "Lue", "qty": 1, "price": 99.0, "tax": 0}
    orders = [o, {**o, "source_id": "2", "number": "1002", "items": [line]}]
    r = run(store({"products": [p, second], "orders": orders}))
    r()
    assert r.query("SELECT count(*) FROM ledger WHERE entity = 'orders' AND outcome = 'loaded'") == [(2,)]
    store({"products": [p]})  # product 2 is deleted at the source
    r()
    assert r.query("SELECT source_id, outcome FROM ledger WHERE entity = 'orders' ORDER BY 1") == [
        ("1", "loaded"), ("2", "loaded")]
    row = next(x for x in r.target_rows("orders") if x["_source_id"] == "2")
    assert row["items"][0]["sku"] == "A-2" and row["items"][0]["product_id"] is None


def test_a_product_without_url_key_gets_one_from_its_name(store, run):
    p = store.records["products"][0]
    r = run(store({"products": [{**p, "url_key": ""}]}))
    r()
    assert [x["url_key"] for x in r.target_rows("products")] == ["bla-genser"]
    assert r.query("SELECT records FROM rule_counts WHERE rule = 'url_key_from_name'") == [(1,)]


def test_guest_customers_are_created_in_bounded_chunks(store, run, monkeypatch):
    # One customer per guest e-mail grows with the store: they are created LOAD_CHUNK at a time, as the load's
    # own rows are, and the chunks give what one call gives (each e-mail once, every order linked to its guest).
    from cart_pipelines.pipeline import load
    from cart_pipelines.platforms.local import target as local

    monkeypatch.setattr(load, "LOAD_CHUNK", 2)
    sizes, real_create = [], local.SqlWriter.create

    def create(self, entity, rows_sql, preserve_ids=False, on_answers=None):
        sizes.append((entity, self.con.execute(f"SELECT count(*) FROM ({rows_sql})").fetchall()[0][0]))
        return real_create(self, entity, rows_sql, preserve_ids, on_answers)

    monkeypatch.setattr(local.SqlWriter, "create", create)
    ok = store.records["orders"][0]
    emails = ["en@example.no", "to@example.no", "tre@example.no", "fire@example.no", "fem@example.no"]
    orders = [ok] + [{**ok, "source_id": str(10 + i), "number": str(2000 + i), "customer_id": None, "email": e,
                      "customer_first_name": "Gjest", "customer_last_name": str(i)} for i, e in enumerate(emails)]
    orders.append({**orders[-1], "source_id": "20", "number": "2020", "email": "FEM@example.no"})
    r = run(store({"orders": orders}))
    r(settings=RuleSettings(keep_guest_orders=True))
    customers = {c["_source_id"]: c for c in r.target_rows("customers")}
    assert set(customers) == {"1", *(f"guest:{e}" for e in emails)}
    assert len({c["id"] for c in customers.values()}) == len(customers)
    by_order = {o["_source_id"]: o["customer_id"] for o in r.target_rows("orders")}
    assert by_order == {"1": customers["1"]["id"], **{str(10 + i): customers[f"guest:{e}"]["id"]
                                                       for i, e in enumerate(emails)},
                        "20": customers["guest:fem@example.no"]["id"]}
    guest_creates = [n for e, n in sizes if e == "customers"][1:]  # after the store's own customer
    assert guest_creates == [2, 2, 1]
    assert r.query("SELECT count(*) FROM id_map WHERE row_hash = 'created-by-rule'") == [(5,)]
