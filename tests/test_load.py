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


# The id map's and URL keys' definitions before they lost their primary keys (pipeline/staging.py at d281ee9).
KEYED_CATALOG = {
    "url_keys": "target VARCHAR, entity VARCHAR, source_id VARCHAR, base VARCHAR, url_key VARCHAR, "
                "PRIMARY KEY (target, entity, source_id)",
    "id_map": "target VARCHAR, entity VARCHAR, source_id VARCHAR, target_id VARCHAR, row_hash VARCHAR, "
              "loaded_at TIMESTAMPTZ DEFAULT now(), PRIMARY KEY (target, entity, source_id)",
    "url_key_bases": "entity VARCHAR, source_id VARCHAR, base VARCHAR, PRIMARY KEY (entity, source_id)",
}


def _rekey(path, definitions: dict[str, str]) -> None:
    """Make the tables of the DuckDB file `path` as an earlier version did (with their primary keys), rows kept."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        for table, ddl in definitions.items():
            con.execute(f"CREATE TABLE _old_{table} ({ddl})")
            con.execute(f"INSERT INTO _old_{table} SELECT * FROM {table}")
            con.execute(f"DROP TABLE {table}")
            con.execute(f"ALTER TABLE _old_{table} RENAME TO {table}")
        assert _keyed(con, definitions) == set(definitions)
    finally:
        con.close()


def _keyed(con, tables) -> set[str]:
    """Those of `tables` with a primary key (the catalog's small settings tables keep theirs)."""
    return {t for (t,) in con.execute("SELECT table_name FROM duckdb_constraints() WHERE constraint_type = "
                                      "'PRIMARY KEY' AND list_contains(?, table_name)", [list(tables)]).fetchall()}


def test_files_of_an_earlier_version_lose_their_primary_keys_and_keep_their_rows(store, run):
    """The id map, the URL keys (held and their bases) and the target's tables had primary keys, whose ART index every insert maintained
    (and held in memory whole) though the load keeps one row per key by construction. A catalog and a target file of
    that version, holding a finished migration, are rebuilt without the keys on the next run: every row kept with
    its columns' NOT NULLs and defaults, nothing written again, a changed record still updated in place."""
    import duckdb

    from cart_pipelines.model.target_shape import TABLES

    r = run(store())
    r()
    id_map = "SELECT entity, source_id, target_id, row_hash, loaded_at FROM id_map ORDER BY ALL"
    keys = "SELECT * FROM url_keys ORDER BY ALL"
    bases = "SELECT * FROM url_key_bases ORDER BY ALL"
    before = r.query(id_map), r.query(keys), {e: r.target_rows(e) for e in TABLES}, r.query(bases)
    assert before[0] and before[1] and before[3]
    _rekey(r.staging.catalog_path, KEYED_CATALOG)
    _rekey(r.target.path, {e: f"id VARCHAR PRIMARY KEY, {columns}, _source_id VARCHAR"
                           for e, columns in TABLES.items()})
    assert writes(r()) == 0
    assert (r.query(id_map), r.query(keys), {e: r.target_rows(e) for e in TABLES}, r.query(bases)) == before
    for path in (r.staging.catalog_path, r.target.path):
        con = duckdb.connect(str(path), read_only=True)
        try:
            assert _keyed(con, [*KEYED_CATALOG, *TABLES]) == set(), path.name
            not_null = set(con.execute("SELECT table_name, constraint_column_names[1] FROM duckdb_constraints() "
                                       "WHERE constraint_type = 'NOT NULL'").fetchall())
            defaults = con.execute("SELECT column_default FROM duckdb_columns() WHERE table_name = 'id_map' "
                                   "AND column_name = 'loaded_at'").fetchall()
        finally:
            con.close()
        if path == r.target.path:
            assert {(e, "id") for e in TABLES} | {("products", "name"), ("orders", "customer_id")} <= not_null
        else:
            assert {("id_map", c) for c in ("target", "entity", "source_id")} <= not_null
            assert {("url_key_bases", c) for c in ("entity", "source_id")} <= not_null
            assert defaults == [("now()",)]
    store.records["products"][0]["price"] = 399.0
    r2 = run(store())
    res = r2()
    assert (res["products"].updated, res["products"].created, writes(res)) == (1, 0, 1)
    assert len(r2.query("SELECT * FROM id_map WHERE entity = 'products'")) == 1
    assert len(r2.query("SELECT * FROM url_keys WHERE entity = 'products'")) == 1
