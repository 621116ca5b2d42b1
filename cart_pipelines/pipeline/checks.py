"""Verification of a load by reading the target back: the SQL behind the asset checks.

Each function returns (passed, facts). The target is read through Target.scan and registered in the catalog
connection, so the same checks run against any target that can be read back; a target in a DuckDB file is
attached instead, so its tables are read where they lie rather than copied into memory.
"""

from __future__ import annotations

from contextlib import contextmanager

import duckdb

from cart_pipelines.pipeline import ledger
from cart_pipelines.pipeline.load import REFS
from cart_pipelines.pipeline.staging import relation_exists
from cart_pipelines.platforms.kit.target import Target

MONEY_FIELDS = ("subtotal", "shipping", "tax", "discount", "grand_total")


@contextmanager
def _target_tables(con: duckdb.DuckDBPyConnection, target: Target, *entities: str):
    """`target_<entity>` in the catalog connection for each entity, while the block runs."""
    attached = target.attached(con)
    if attached is None:
        for entity in entities:
            con.register(f"target_{entity}", target.scan(entity))
        yield
        return
    with attached as sql:
        for entity in entities:
            con.execute(f"CREATE OR REPLACE TEMP VIEW target_{entity} AS SELECT * FROM {sql.schema}.{entity}")
        try:
            yield
        finally:
            for entity in entities:
                con.execute(f"DROP VIEW IF EXISTS target_{entity}")


def _loaded_map(target: Target, entity: str) -> str:
    """Target ids of this entity's source records that the ledger says loaded in this run."""
    return f"""(SELECT m.source_id, m.target_id FROM id_map m
                JOIN ledger l ON l.entity = '{entity}' AND l.stage = 'load' AND l.outcome = 'loaded'
                              AND l.source_id = m.source_id
                WHERE m.target = '{target.name}' AND m.entity = '{entity}')"""


def ledger_closes(con, entity: str) -> tuple[bool, dict]:
    s = ledger.summarize(con, entity)
    return s.closes, {"source": s.source_records or 0, "loaded": s.loaded, "skipped": s.skipped_total,
                      "quarantined": s.quarantined, "unaccounted": (s.source_records or 0) - s.accounted}


def counts_reconcile(con, target: Target, entity: str) -> tuple[bool, dict]:
    """Every record the ledger calls loaded exists on the target, once."""
    if not target.has(entity):
        return True, {"target_has_entity": False}
    with _target_tables(con, target, entity):
        loaded, present, duplicated = con.execute(f"""
            SELECT count(*), count(t.id), count(*) FILTER (WHERE n > 1)
            FROM {_loaded_map(target, entity)} m
            LEFT JOIN (SELECT id, count(*) OVER (PARTITION BY _source_id) AS n FROM target_{entity}) t
                   ON t.id = m.target_id""").fetchall()[0]
        rows = con.execute(f"SELECT count(*) FROM target_{entity}").fetchall()[0][0]
    missing = loaded - present
    return missing == 0 and duplicated == 0, {"loaded": loaded, "on_target": present, "missing_on_target": missing,
                                              "duplicated_on_target": duplicated, "target_rows": rows}


def references_resolve(con, target: Target, entity: str) -> tuple[bool, dict]:
    """Every reference of the loaded records points at a record that exists on the target."""
    if not target.has(entity):
        return True, {"target_has_entity": False}
    refs = {col: v for col, v in REFS.get(entity, {}).items() if target.has(v[1])}
    parents = {ref for _, ref in refs.values()}
    if entity == "products":
        parents.add("categories")
    if entity == "orders":
        parents.add("products")
    with _target_tables(con, target, entity, *parents):
        facts: dict[str, int] = {}
        scope = f"t.id IN (SELECT target_id FROM {_loaded_map(target, entity)})"
        for column, (_, ref) in refs.items():
            facts[f"{column} dangling"] = con.execute(f"""
                SELECT count(*) FROM target_{entity} t WHERE {scope} AND t.{column} IS NOT NULL
                  AND t.{column} NOT IN (SELECT id FROM target_{ref})""").fetchone()[0]
            if entity in ("orders", "reviews"):  # Mystore requires these links (seed 000 rules 4 and 5)
                facts[f"{column} missing"] = con.execute(
                    f"SELECT count(*) FROM target_{entity} t WHERE {scope} AND t.{column} IS NULL").fetchone()[0]
        if entity == "products":
            facts["category_ids dangling"] = con.execute(f"""
                SELECT count(*) FROM (SELECT unnest(category_ids) AS c FROM target_products t WHERE {scope})
                WHERE c IS NULL OR c NOT IN (SELECT id FROM target_categories)""").fetchone()[0]
            facts["products without category"] = con.execute(
                f"SELECT count(*) FROM target_products t WHERE {scope} AND len(coalesce(category_ids, [])) = 0"
            ).fetchone()[0]
        if entity == "orders":
            facts["item product_id dangling"] = con.execute(f"""
                SELECT count(*) FROM (SELECT unnest(items) AS i FROM target_orders t WHERE {scope})
                WHERE i.product_id IS NOT NULL AND i.product_id NOT IN (SELECT id FROM target_products)""").fetchone()[0]
    return all(v == 0 for v in facts.values()), facts


# What the shop kept of an order: the source's net total, else the order as placed less its refunds.
SOURCE_NET = ("coalesce(s.net_total, s.grand_total - coalesce(s.refunded_total, "
              "list_sum(list_transform(s.refunds, lambda r: r.amount)), 0))")
TARGET_NET = "t.grand_total - coalesce(t.refunded_total, 0)"


def money_totals_match(con, target: Target) -> tuple[bool, dict]:
    """Order money on the target equals the source, field by field and in total, for every loaded order; and the
    net totals (after refunds) too where the target holds refunds. Where it does not, the orders with refunds are
    counted (`refunds_not_carried`; the report lists them) and only gross totals are compared. Orders whose refunds
    a target rule kept off the target (refunds_of_unpaid_order_listed; the report lists each refund) are compared
    gross, and counted as `refunds_listed_by_rule`."""
    listed = ("(SELECT source_id FROM transformed_orders "
              "WHERE list_contains(_rules, 'refunds_of_unpaid_order_listed'))"
              if relation_exists(con, "transformed_orders") else "(SELECT NULL::VARCHAR AS source_id WHERE false)")
    with _target_tables(con, target, "orders"):
        sums = ", ".join(f"sum(s.{f}) AS source_{f}, sum(t.{f}) AS target_{f}" for f in MONEY_FIELDS)
        mismatch = " OR ".join(f"s.{f} IS DISTINCT FROM t.{f}" for f in MONEY_FIELDS)
        refunded = f"{SOURCE_NET} IS DISTINCT FROM s.grand_total"
        if target.holds_refunds:
            # what the target was to keep: the net, or the order as placed where its refunds are listed instead
            kept = f"CASE WHEN s.source_id IN {listed} THEN s.grand_total ELSE {SOURCE_NET} END"
            mismatch += f" OR {kept} IS DISTINCT FROM {TARGET_NET}"
            net = (f"sum({kept}) AS source_net_total, sum({TARGET_NET}) AS target_net_total, "
                   f"count(*) FILTER (WHERE s.source_id IN {listed}) AS refunds_listed_by_rule")
        else:
            net = f"sum({SOURCE_NET}) AS source_net_total, count(*) FILTER (WHERE {refunded}) AS refunds_not_carried"
        row = con.execute(f"""
            SELECT count(*) AS orders, count(*) FILTER (WHERE {mismatch}) AS orders_differing, {sums}, {net}
            FROM {_loaded_map(target, 'orders')} m
            JOIN (SELECT * FROM staged_orders QUALIFY row_number() OVER (PARTITION BY source_id ORDER BY _ordinal) = 1) s
                 ON s.source_id = m.source_id
            LEFT JOIN target_orders t ON t.id = m.target_id""").fetchone()
        names = [d[0] for d in con.description]
        facts = {k: (str(v) if v is not None and not isinstance(v, int) else v) for k, v in zip(names, row)}
    ok = facts["orders_differing"] == 0 and all(
        facts[f"source_{f}"] == facts[f"target_{f}"] for f in MONEY_FIELDS + (("net_total",) if target.holds_refunds
                                                                               else ()))
    return ok, facts


def url_keys_unique(con, target: Target, entity: str) -> tuple[bool, dict]:
    if not target.has(entity):
        return True, {"target_has_entity": False}
    with _target_tables(con, target, entity):
        dupes, example = con.execute(f"""
            SELECT count(*), min(k) FROM (SELECT lower(url_key) AS k FROM target_{entity} WHERE url_key IS NOT NULL
                                          GROUP BY 1 HAVING count(*) > 1)""").fetchone()
        empty = con.execute(f"SELECT count(*) FROM target_{entity} WHERE coalesce(url_key, '') = ''").fetchone()[0]
    return dupes == 0 and empty == 0, {"duplicate_keys": dupes, "example": example or "", "empty_keys": empty}


def transformed_url_keys_unique(con, entity: str) -> tuple[bool, dict]:
    if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?",
                       [f"transformed_{entity}"]).fetchall()[0][0]:
        return True, {"duplicate_keys": 0, "selected": False}  # not in this run's selection: nothing to judge
    dupes = con.execute(f"""SELECT count(*) FROM (SELECT url_key FROM transformed_{entity}
                            GROUP BY 1 HAVING count(*) > 1)""").fetchone()[0]
    return dupes == 0, {"duplicate_keys": dupes}
