"""Scope: which staged records this run migrates — all of them (full), or the demo sample (seed 001).

The demo is drawn so that everything in it loads together (see _demo_sql): 10 orders at random (seedable: the
draw orders records by a hash of id and seed), those of a customer in the store first (the default rules skip an
order without one, order_needs_customer); their products, filled up to 10 with products drawn the same way; up to
10 reviews of those products by customers in the store, the orders' own customers' first; the customers of those
orders and reviews, filled up to 10; then the categories (with their ancestors) and manufacturers of the chosen
products, and every tax class.
"""

from __future__ import annotations

import duckdb

from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.pipeline import ledger

def _hash(seed: int) -> str:
    return f"md5(source_id || ':{int(seed)}'), source_id"


def _fill(entity: str, needed: str, n: int, seed: int) -> str:
    """The staged ids among `needed`, then others drawn at random until there are `n`."""
    return f"""
        WITH needed AS (SELECT DISTINCT source_id FROM staged_{entity} WHERE source_id IN ({needed}))
        SELECT source_id FROM needed
        UNION ALL (SELECT source_id FROM (SELECT DISTINCT source_id FROM staged_{entity}
                                         WHERE source_id NOT IN (SELECT source_id FROM needed))
                   ORDER BY {_hash(seed)} LIMIT greatest({int(n)} - (SELECT count(*) FROM needed), 0))"""


ORDER_CUSTOMERS = "SELECT customer_id FROM staged_orders WHERE source_id IN (SELECT source_id FROM demo_orders)"


def _demo_sql(n: int, seed: int) -> dict[str, str]:
    """One SELECT of source ids per entity, in the order they are built (each reads the ones before it)."""
    return {
        "orders": f"""
            SELECT source_id FROM (SELECT DISTINCT source_id, customer_id IN (SELECT source_id FROM staged_customers)
                                   AS has_customer FROM staged_orders)
            ORDER BY has_customer IS NOT TRUE, {_hash(seed)} LIMIT {int(n)}""",
        "products": _fill("products", "SELECT i.product_id FROM (SELECT unnest(items) AS i FROM staged_orders "
                          "WHERE source_id IN (SELECT source_id FROM demo_orders))", n, seed),
        # A review loads with its product and its customer (review_needs_product_and_customer): its customer
        # comes along, so the demo shows reviews although a random pair of 10 customers and 10 products has few.
        "reviews": f"""
            SELECT source_id FROM (SELECT DISTINCT source_id, customer_id IN ({ORDER_CUSTOMERS}) AS ordered
                                   FROM staged_reviews
                                   WHERE product_id IN (SELECT source_id FROM demo_products)
                                     AND customer_id IN (SELECT source_id FROM staged_customers))
            ORDER BY ordered IS NOT TRUE, {_hash(seed)} LIMIT {int(n)}""",
        "customers": _fill("customers", f"{ORDER_CUSTOMERS} UNION SELECT customer_id FROM staged_reviews "
                           "WHERE source_id IN (SELECT source_id FROM demo_reviews)", n, seed),
        **DEMO_SQL,
    }


DEMO_SQL = {
    # Ancestors to any depth: UNION drops ids already chosen, so a cycle in the source ends the walk.
    "categories": """
        WITH RECURSIVE chosen(source_id) AS (
            SELECT DISTINCT unnest(category_ids) FROM staged_products WHERE source_id IN (SELECT * FROM demo_products)
            UNION
            SELECT c.parent_id FROM staged_categories c JOIN chosen ch ON c.source_id = ch.source_id
            WHERE c.parent_id IS NOT NULL)
        SELECT DISTINCT source_id FROM chosen""",
    "manufacturers": """SELECT DISTINCT manufacturer_id FROM staged_products
                        WHERE source_id IN (SELECT * FROM demo_products) AND manufacturer_id IS NOT NULL""",
    # Every tax class: they are the shop's settings (a handful), and classes the tax-class map merges must become
    # the same one in a demo as in the full migration after it (rule tax_class_mapping keeps the first).
    "tax_classes": "SELECT DISTINCT source_id FROM staged_tax_classes",
}


def compute_scope(con: duckdb.DuckDBPyConnection, selected: tuple[str, ...], mode: str = "full",
                  demo_size: int = 10, demo_seed: int = 1) -> dict[str, int]:
    """Fill the `scope` table; record out-of-scope records in the ledger. Returns in-scope ids per entity.
    A delta's staged set is the whole store with the changes merged in, so its scope is everything, like full."""
    if mode not in ("full", "demo", "delta"):
        raise ValueError(f"mode: {mode!r} is not one of full, demo, delta")
    con.execute("DELETE FROM scope")
    for entity in ENTITY_NAMES:
        ledger.clear(con, entity, "scope")
    if mode == "demo":
        for entity, sql in _demo_sql(demo_size, demo_seed).items():
            con.execute(f"CREATE OR REPLACE TEMP TABLE demo_{entity} AS SELECT * AS source_id FROM ({sql})")
    counts = {}
    for entity in selected:
        source = f"demo_{entity}" if mode == "demo" else f"(SELECT DISTINCT source_id FROM staged_{entity})"
        con.execute(f"INSERT INTO scope SELECT '{entity}', source_id FROM {source} "
                    f"WHERE source_id IN (SELECT source_id FROM staged_{entity})")
        counts[entity] = con.execute("SELECT count(*) FROM scope WHERE entity = ?", [entity]).fetchone()[0]
        if mode == "demo":
            con.execute(f"""
                INSERT INTO ledger SELECT '{entity}', source_id, 'scope', 'skipped', 'not_in_demo_sample', NULL, NULL
                FROM staged_{entity} WHERE source_id NOT IN (SELECT source_id FROM scope WHERE entity = '{entity}')""")
    return counts
