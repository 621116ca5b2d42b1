"""What keeps a full migration's memory flat in store size (issue 18): no list that grows with the store is read
into Python where DuckDB can keep it. (The peak RSS itself is measured by bench/scale.py, not by timed tests.)"""

from __future__ import annotations

import csv

import duckdb

from cart_pipelines.pipeline import report
from cart_pipelines.pipeline.staging import CATALOG_DDL
from cart_pipelines.platforms.local.target import DuckDBStore
from cart_pipelines.platforms.mystore.target import MystoreTarget


def test_only_a_target_that_holds_redirects_is_handed_the_redirect_rows(tmp_path):
    # The report step reads the 301 map (one row per moved product or category) into Python only for a target
    # that writes it; the local target and every other keep it in redirects.csv, written by DuckDB.
    assert DuckDBStore(tmp_path / "target.duckdb").holds_redirects is False
    assert MystoreTarget(token="t", references=tmp_path / "r.json").holds_redirects is True
    assert MystoreTarget(token="t", references=tmp_path / "r2.json", redirects=False).holds_redirects is False


def _catalog(path, products: int, memory_limit: str) -> duckdb.DuckDBPyConnection:
    """A catalog with `products` staged, transformed and loaded products whose URL changed (each one redirect),
    opened within `memory_limit` with spill files under the test's directory, as pipeline connections are."""
    con = duckdb.connect(str(path / "catalog.duckdb"), config={"memory_limit": memory_limit, "threads": 2,
                                                                "temp_directory": str(path / "spill")})
    con.execute(CATALOG_DDL)
    con.execute(f"""CREATE TABLE staged_products AS SELECT i::VARCHAR AS source_id,
                        'kategori-' || (i % 97) || '/under-' || (i % 13) || '/produkt-med-langt-navn-' || i AS url_key,
                        []::STRUCT(sku VARCHAR, status VARCHAR)[] AS variants,
                        i AS _ordinal FROM range({products}) r(i)""")
    con.execute("""CREATE TABLE transformed_products AS SELECT source_id, 'produkt-med-langt-navn-' || _ordinal AS url_key,
                       'P ' || source_id AS name, []::VARCHAR[] AS child_source_ids, []::VARCHAR[] AS _rules
                   FROM staged_products""")
    con.execute("INSERT INTO ledger SELECT 'products', source_id, 'load', 'loaded', NULL, NULL, 'created' "
                "FROM staged_products")
    return con


def test_redirects_are_found_without_a_join_that_holds_every_staged_key(tmp_path):
    # At 1M products the report died (Out of Memory, 488 of 488 MiB): the redirects joined a million staged URL
    # keys in a hash table that stayed pinned while the join fed the sort of the CSV. They are now one GROUP BY
    # source_id (DuckDB's hash aggregate partitions and spills), materialized before anything sorts.
    con = _catalog(tmp_path, 1000, "256MB")
    listing = report.redirects_listing(con)
    plan = "\n".join(r[1] for r in con.execute(f"EXPLAIN {listing.body}").fetchall())
    assert "HASH_JOIN" not in plan.upper().replace(" ", "_") and "ORDER_BY" not in plan.upper().replace(" ", "_")
    assert "AGGREGATE" in plan.upper()


def test_report_of_many_redirects_is_written_within_a_small_memory_limit(tmp_path):
    products = 300_000
    con = _catalog(tmp_path, products, "160MB")
    rep = report.build(con, {}, ("bcrypt",), tmp_path / "reports")
    assert rep["redirects"] == products
    with open(tmp_path / "reports" / "redirects.csv", encoding="utf-8") as fh:
        rows = csv.reader(fh)
        assert next(rows) == ["old_url", "new_url", "entity", "source_id"]
        first = next(rows)
        assert first == ["/kategori-0/under-0/produkt-med-langt-navn-0", "/produkt-med-langt-navn-0", "products", "0"]
        ids = [int(first[3])] + [int(r[3]) for r in rows]
    assert ids == list(range(products))  # every one, in source-id order
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchall()[0][0] == 0  # dropped


def test_a_target_that_takes_no_password_hash_lists_every_customer_with_one(tmp_path):
    # password_algorithms = () (WooCommerce, Shopify, BigCommerce, Mystore): no hash is carried, so every loaded
    # customer must reset. The list was empty for customers with a hash (`NOT IN (NULL)` is never true).
    con = _catalog(tmp_path, 10, "256MB")
    con.execute("""CREATE TABLE transformed_customers AS SELECT * FROM (VALUES
                       ('1', 'a@example.no', '$2y$10$abc', 'bcrypt'), ('2', 'b@example.no', NULL, NULL)) t(
                       source_id, email, password_hash, password_algorithm)""")
    con.execute("INSERT INTO ledger VALUES ('customers', '1', 'load', 'loaded', NULL, NULL, 'created'), "
                "('customers', '2', 'load', 'loaded', NULL, NULL, 'created')")
    assert report.password_resets(con, ()) == [
        ("1", "a@example.no", "the target does not accept bcrypt hashes"),
        ("2", "b@example.no", "no password hash in the source")]
    assert report.password_resets(con, ("bcrypt",)) == [("2", "b@example.no", "no password hash in the source")]
