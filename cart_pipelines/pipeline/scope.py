"""Scope: which staged records this run migrates — all of them (full), or the demo sample (seed 001).

The demo draws 10 products, 10 customers and 10 orders at random (seedable: the draw orders records by a hash of
id and seed), then adds what they need: the products and customers of the drawn orders, and the categories
(with their ancestors) and manufacturers of all chosen products, and every tax class (see DEMO_SQL). Reviews are not
part of a demo.
"""

from __future__ import annotations

import duckdb

from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.pipeline import ledger

DEMO_DRAWN = ("products", "customers", "orders")


def _draw(entity: str, n: int, seed: int) -> str:
    return (f"SELECT source_id FROM (SELECT DISTINCT source_id FROM staged_{entity}) "
            f"ORDER BY md5(source_id || ':{int(seed)}'), source_id LIMIT {int(n)}")


DEMO_SQL = {
    "orders": "SELECT source_id FROM draw_orders",
    "customers": """
        SELECT source_id FROM draw_customers
        UNION SELECT customer_id FROM staged_orders WHERE source_id IN (SELECT source_id FROM draw_orders)
              AND customer_id IS NOT NULL""",
    "products": """
        SELECT source_id FROM draw_products
        UNION SELECT i.product_id FROM (SELECT unnest(items) AS i FROM staged_orders
                                        WHERE source_id IN (SELECT source_id FROM draw_orders))
              WHERE i.product_id IS NOT NULL""",
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
    "reviews": "SELECT NULL::VARCHAR WHERE false",
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
        for entity in DEMO_DRAWN:
            con.execute(f"CREATE OR REPLACE TEMP TABLE draw_{entity} AS {_draw(entity, demo_size, demo_seed)}")
        order = ("orders", "customers", "products", "categories", "manufacturers", "tax_classes", "reviews")
        for entity in order:
            con.execute(f"CREATE OR REPLACE TEMP TABLE demo_{entity} AS SELECT * AS source_id FROM ({DEMO_SQL[entity]})")
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
