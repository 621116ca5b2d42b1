"""Loading through the id map: re-runs write nothing, changes update, interrupted loads resume without duplicates."""

from cart_pipelines.model.entities import ENTITY_NAMES


def writes(results):
    return sum(r.writes for r in results.values())


def test_second_run_writes_nothing(store, run):
    r = run(store())
    first = r()
    assert writes(first) == 8  # every record of the base store (two categories)
    second = r()
    assert writes(second) == 0
    assert all(res.unchanged == (2 if e == "categories" else 1) for e, res in second.items())


def test_changed_record_is_updated_in_place(store, run):
    r = run(store())
    r()
    store.records["products"][0]["price"] = 399.0
    r2 = run(store())
    res = r2()
    assert (res["products"].updated, res["products"].created) == (1, 0)
    assert writes(res) == 1
    (p,) = r2.target_rows("products")
    assert str(p["price"]) == "399.00"


def test_interrupted_load_resumes_without_duplicates(store, run):
    """A run that wrote to the target but died before recording the id map is adopted, not duplicated."""
    r = run(store())
    r()
    with r.staging.connect() as con:
        con.execute("DELETE FROM id_map WHERE entity IN ('products', 'orders')")
    res = r()
    assert res["products"].adopted == 1 and res["orders"].adopted == 1
    assert res["products"].created == 0
    for entity in ENTITY_NAMES:
        assert len(r.target_rows(entity)) == len({row["_source_id"] for row in r.target_rows(entity)})
    assert writes(r()) == 0


def test_entities_the_target_lacks_are_skipped_by_rule_and_links_dropped(store, run):
    from cart_pipelines.pipeline import ledger
    from cart_pipelines.platforms.local.target import DuckDBStore

    class NoTaxNoReviews(DuckDBStore):
        def has(self, entity):
            return entity not in ("tax_classes", "reviews")

    r = run(store())
    r.target = NoTaxNoReviews(r.target.path)
    r()
    (product,) = r.target_rows("products")
    assert product["tax_class_id"] is None and product["manufacturer_id"] is not None
    assert r.target_rows("tax_classes") == [] and r.target_rows("reviews") == []
    with r.staging.connect() as con:
        for entity in ("tax_classes", "reviews"):
            s = ledger.summarize(con, entity)
            assert s.closes and s.skipped == {"target_lacks_entity": 1}


def test_target_file_of_an_earlier_version_gains_the_new_columns(store, run):
    """A local target made before orders carried refunds (and products sale dates, type, lifecycle): its tables
    gain the columns, and the run loads into it instead of failing on them."""
    import duckdb

    from cart_pipelines.model.target_shape import TABLES

    r = run(store())
    r.target.path.parent.mkdir(parents=True, exist_ok=True)
    old = {"products": ("special_price_from", "special_price_to", "type", "lifecycle", "external_url",
                        "button_text"),
           "orders": ("refunds", "refunded_total")}
    con = duckdb.connect(str(r.target.path))
    for entity, columns in TABLES.items():
        con.execute(f"CREATE TABLE {entity} (id VARCHAR PRIMARY KEY, {columns}, _source_id VARCHAR)")
    for entity, dropped in old.items():
        for name in dropped:
            con.execute(f"ALTER TABLE {entity} DROP COLUMN {name}")
    con.close()
    first = r()
    assert writes(first) == 8
    con = duckdb.connect(str(r.target.path), read_only=True)
    have = {(t, c) for t, c in con.execute("SELECT table_name, column_name FROM duckdb_columns()").fetchall()}
    con.close()
    assert all((e, c) in have for e, cols in old.items() for c in cols)
    assert writes(r()) == 0
