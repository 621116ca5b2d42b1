"""Load: upsert transformed rows into a target through the source-id → target-id map.

The plan compares each row's hash with the one recorded at its last load: new rows are created, changed rows
updated, unchanged rows not sent at all — so re-running a finished migration writes nothing. Rows an interrupted
run created but never recorded are found on the target by their source id and adopted, not created twice.
References are resolved to target ids here; a reference that did not load quarantines the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from cart_pipelines.pipeline import ledger
from cart_pipelines.pipeline.rules import (
    GUEST_PREFIX,
    HIDDEN_CATEGORY_ID,
    MAX_CATEGORY_DEPTH,
    RuleSettings,
    register_functions,
    url_key,
)
from cart_pipelines.pipeline.staging import arrow_batches, arrow_table, cursor
from cart_pipelines.platforms.kit.target import Target, WriteResult

# target column ← (transformed column holding a source id, referenced entity)
REFS: dict[str, dict[str, tuple[str, str]]] = {
    "categories": {"parent_id": ("parent_source_id", "categories")},
    "products": {"manufacturer_id": ("manufacturer_source_id", "manufacturers"),
                 "tax_class_id": ("tax_class_source_id", "tax_classes")},
    "orders": {"customer_id": ("customer_source_id", "customers")},
    "reviews": {"product_id": ("product_source_id", "products"),
                "customer_id": ("customer_source_id", "customers")},
}
INTERNAL = {"_rules", "row_hash"}


@dataclass
class LoadResult:
    entity: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    adopted: int = 0
    deleted_on_target: int = 0  # records deleted at the source, deleted here (option delete_on_target)
    kept_on_target: int = 0  # records deleted at the source, still on the target (reported)
    helpers_created: dict[str, int] = field(default_factory=dict)

    @property
    def writes(self) -> int:
        return self.created + self.updated + self.deleted_on_target + sum(self.helpers_created.values())


def _map_join(alias: str, entity: str, on: str) -> str:
    return (f"LEFT JOIN id_map {alias} ON {alias}.target = $target AND {alias}.entity = '{entity}' "
            f"AND {alias}.source_id = {on}")


def _password_sql(target: Target) -> str:
    """Hashes go only where the target accepts their algorithm; other customers must reset (see report)."""
    accepted = ", ".join(f"'{a}'" for a in target.password_algorithms) or "NULL"
    return f"CASE WHEN lower(t.password_algorithm) IN ({accepted}) THEN t.{{c}} END AS {{c}}"


def _select_sql(con: duckdb.DuckDBPyConnection, entity: str, target: Target) -> str:
    """Rows of `entity` in the target's shape, references resolved, plus `_unresolved` naming what did not load."""
    cols = [r[0] for r in con.execute(f"DESCRIBE transformed_{entity}").fetchall()]
    refs = REFS.get(entity, {})
    ref_sources = {src for src, _ in refs.values()} | {"category_source_ids"}
    select, joins, unresolved = [], [], []
    for c in cols:
        if c in INTERNAL or c in ref_sources:
            continue
        if entity == "orders" and c == "items":
            select.append("""coalesce((
                SELECT list(struct_pack(source_id := u.i.source_id, product_id := m.target_id, sku := u.i.sku,
                                        name := u.i.name, qty := u.i.qty, price := u.i.price, tax := u.i.tax)
                            ORDER BY u.pos)
                FROM (SELECT unnest(t.items) AS i, generate_subscripts(t.items, 1) AS pos) u
                LEFT JOIN id_map m ON m.target = $target AND m.entity = 'products'
                                  AND m.source_id = u.i.product_source_id), []) AS items""")
            unresolved.append("""CASE WHEN EXISTS (
                SELECT 1 FROM (SELECT unnest(t.items) AS i) u
                WHERE u.i.product_source_id IS NOT NULL AND u.i.product_source_id NOT IN (
                    SELECT source_id FROM id_map WHERE target = $target AND entity = 'products'))
                THEN 'an order item product did not load' END""")
        elif entity == "customers" and c in ("password_hash", "password_algorithm"):
            select.append(_password_sql(target).format(c=c))
        else:
            select.append(f"t.{c}")
    for k, (target_col, (src, ref_entity)) in enumerate(refs.items()):
        if not target.has(ref_entity):  # e.g. a tax class on a target without tax classes: no link to make
            select.append(f"NULL::VARCHAR AS {target_col}")
            continue
        joins.append(_map_join(f"r{k}", ref_entity, f"t.{src}"))
        select.append(f"r{k}.target_id AS {target_col}")
        unresolved.append(f"CASE WHEN t.{src} IS NOT NULL AND r{k}.target_id IS NULL "
                          f"THEN '{ref_entity} ' || t.{src} || ' did not load' END")
    if "category_source_ids" in cols:
        select.append("""(SELECT list(m.target_id ORDER BY u.pos)
                FROM (SELECT unnest(t.category_source_ids) AS sid, generate_subscripts(t.category_source_ids, 1) AS pos) u
                LEFT JOIN id_map m ON m.target = $target AND m.entity = 'categories' AND m.source_id = u.sid
            ) AS category_ids""")
        unresolved.append("""CASE WHEN EXISTS (SELECT 1 FROM (SELECT unnest(t.category_source_ids) AS sid) u
                WHERE u.sid NOT IN (SELECT source_id FROM id_map WHERE target = $target AND entity = 'categories'))
                THEN 'a category of the product did not load' END""")
    unresolved_sql = f"coalesce({', '.join(unresolved)})" if unresolved else "NULL"
    return (f"SELECT {', '.join(select)}, p.target_id, {unresolved_sql} AS _unresolved "
            f"FROM transformed_{entity} t JOIN load_plan p ON p.source_id = t.source_id "
            f"{' '.join(joins)} WHERE p.action = $action AND p.depth = $depth ORDER BY p.ord")


def _record(con, target: Target, entity: str, results: list[WriteResult], hashes: dict[str, str], action: str,
            res: LoadResult) -> None:
    ok = [r for r in results if r.error is None]
    if ok:
        con.register("_written", pa.table({
            "target": [target.name] * len(ok), "entity": [entity] * len(ok),
            "source_id": [r.source_id for r in ok], "target_id": [r.target_id for r in ok],
            "row_hash": [hashes.get(r.source_id) for r in ok]}))
        con.execute("INSERT OR REPLACE INTO id_map (target, entity, source_id, target_id, row_hash) "
                    "SELECT * FROM _written")
        con.unregister("_written")
    ledger.record(con, [(entity, r.source_id, "load", ledger.LOADED, None, None, action) for r in ok]
                  + [(entity, r.source_id, "load", ledger.QUARANTINED, None, r.error, None)
                     for r in results if r.error is not None])
    setattr(res, action, getattr(res, action) + len(ok))
    res.rejected += len(results) - len(ok)


def _plan(con, target: Target, entity: str) -> None:
    depth = "0"
    if entity == "categories":  # parents before children
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _depth AS WITH RECURSIVE d(source_id, depth) AS (
                SELECT source_id, 0 FROM transformed_categories
                WHERE parent_source_id IS NULL OR parent_source_id NOT IN (SELECT source_id FROM transformed_categories)
                UNION ALL SELECT c.source_id, d.depth + 1 FROM transformed_categories c JOIN d
                    ON c.parent_source_id = d.source_id WHERE d.depth < {MAX_CATEGORY_DEPTH})
            SELECT source_id, max(depth) AS depth FROM d GROUP BY 1""")
        depth = "coalesce((SELECT depth FROM _depth WHERE _depth.source_id = t.source_id), 0)"
    con.execute(f"""
        CREATE OR REPLACE TABLE load_plan AS
        SELECT t.source_id, t.row_hash, m.target_id, {depth} AS depth, row_number() OVER () AS ord,
               CASE WHEN m.target_id IS NULL THEN 'create' WHEN m.row_hash IS DISTINCT FROM t.row_hash
                    THEN 'update' ELSE 'unchanged' END AS action
        FROM transformed_{entity} t
        LEFT JOIN id_map m ON m.target = $target AND m.entity = '{entity}' AND m.source_id = t.source_id""",
                {"target": target.name})


def _adopt(con, target: Target, entity: str) -> int:
    """Rows created on the target by an interrupted run: record them, and update instead of creating again."""
    ids = [r[0] for r in con.execute("SELECT source_id FROM load_plan WHERE action = 'create'").fetchall()]
    found: dict[str, str] = {}
    for start in range(0, len(ids), 5000):
        found.update(target.find_existing(entity, ids[start:start + 5000]))
    if found:
        con.register("_found", pa.table({"source_id": list(found), "target_id": list(found.values())}))
        con.execute("UPDATE load_plan SET action = 'update', target_id = f.target_id FROM _found f "
                    "WHERE load_plan.source_id = f.source_id")
        con.execute("INSERT OR REPLACE INTO id_map (target, entity, source_id, target_id, row_hash) "
                    f"SELECT $target, '{entity}', source_id, target_id, NULL FROM _found", {"target": target.name})
        con.unregister("_found")
    return len(found)


def _ensure_helpers(con, target: Target, entity: str, settings: RuleSettings) -> dict[str, int]:
    """Records the rules create on the target: the hidden category (rule 3) and customers from guest orders."""
    made: dict[str, int] = {}
    register_functions(con)
    if entity == "products":
        sql = f"""SELECT '{HIDDEN_CATEGORY_ID}' AS source_id, $name AS name,
                         {url_key("$name", fallback="'uncategorised'")} AS url_key, true AS hidden, NULL::INTEGER AS position
                  WHERE EXISTS (SELECT 1 FROM transformed_products WHERE list_contains(category_source_ids,
                                '{HIDDEN_CATEGORY_ID}'))
                    AND '{HIDDEN_CATEGORY_ID}' NOT IN (SELECT source_id FROM id_map WHERE target = $target
                                                       AND entity = 'categories')"""
        params = {"name": settings.hidden_category_name, "target": target.name}
        ref_entity = "categories"
    elif entity == "orders":
        sql = f"""SELECT customer_source_id AS source_id, any_value(email) AS email,
                         any_value(customer_first_name) AS first_name, any_value(customer_last_name) AS last_name,
                         false AS newsletter
                  FROM transformed_orders WHERE customer_source_id LIKE '{GUEST_PREFIX}%'
                    AND customer_source_id NOT IN (SELECT source_id FROM id_map WHERE target = $target
                                                   AND entity = 'customers')
                  GROUP BY 1 ORDER BY 1"""
        params = {"target": target.name}
        ref_entity = "customers"
    else:
        return made
    rows = arrow_table(con, sql, params)
    for start in range(0, rows.num_rows, target.max_batch):
        batch = rows.slice(start, target.max_batch)
        results = target.create(ref_entity, batch)
        ok = [r for r in results if r.error is None]
        if ok:
            con.register("_helpers", pa.table({"source_id": [r.source_id for r in ok],
                                               "target_id": [r.target_id for r in ok]}))
            con.execute("INSERT OR REPLACE INTO id_map (target, entity, source_id, target_id, row_hash) "
                        f"SELECT $target, '{ref_entity}', source_id, target_id, 'created-by-rule' FROM _helpers",
                        {"target": target.name})
            con.unregister("_helpers")
        made[ref_entity] = made.get(ref_entity, 0) + len(ok)
    return made


def resolve_deletions(con, target: Target, entity: str, delete: bool, res: LoadResult) -> None:
    """Records deleted at the source: kept on the target and reported (the default), or with `delete` deleted
    there too and forgotten by the id map. The ledger row says which (or not_on_target: never loaded here)."""
    gone = dict(con.execute(f"""
        SELECT l.source_id, m.target_id FROM ledger l JOIN id_map m ON m.target = ? AND m.entity = l.entity
            AND m.source_id = l.source_id
        WHERE l.entity = ? AND l.outcome = '{ledger.DELETED}'""", [target.name, entity]).fetchall())
    if delete and gone:
        target.delete(entity, list(gone.values()))
        con.register("_gone", pa.table({"source_id": pa.array(list(gone), pa.string())}))
        con.execute("DELETE FROM id_map WHERE target = ? AND entity = ? AND source_id IN (SELECT source_id FROM "
                    "_gone)", [target.name, entity])
        con.unregister("_gone")
        res.deleted_on_target = len(gone)
    con.execute(f"""UPDATE ledger SET action = CASE
            WHEN source_id IN (SELECT unnest(?::VARCHAR[])) THEN ?
            WHEN action = '{ledger.DELETED_ON_TARGET}' THEN action ELSE '{ledger.NOT_ON_TARGET}' END
        WHERE entity = ? AND outcome = '{ledger.DELETED}'""",
                [list(gone), ledger.DELETED_ON_TARGET if delete else ledger.KEPT_ON_TARGET, entity])
    res.kept_on_target = 0 if delete else len(gone)


def plan_entity(con: duckdb.DuckDBPyConnection, target: Target, entity: str, delete_on_target: bool = False) -> dict:
    """What load_entity would do now (a dry run), writing nothing to the target, the id map or the ledger:
    rows to create, update or leave, and records deleted at the source to delete or to keep and flag. (Rows an
    interrupted run left on the target count as creates here; the real load adopts them as updates.)"""
    plan = {"create": 0, "update": 0, "unchanged": 0, "delete": 0, "flag_deleted_at_source": 0}
    if not target.has(entity):
        return {**plan, "target_lacks_entity": con.execute(f"SELECT count(*) FROM transformed_{entity}").fetchone()[0]}
    _plan(con, target, entity)
    plan.update(con.execute("SELECT action, count(*) FROM load_plan GROUP BY 1").fetchall())
    con.execute("DROP TABLE load_plan")
    gone = con.execute(f"""SELECT count(*) FROM ledger l JOIN id_map m ON m.target = ? AND m.entity = l.entity
                           AND m.source_id = l.source_id WHERE l.entity = ? AND l.outcome = '{ledger.DELETED}'""",
                       [target.name, entity]).fetchone()[0]
    plan["delete" if delete_on_target else "flag_deleted_at_source"] = gone
    return plan


def load_entity(con: duckdb.DuckDBPyConnection, target: Target, entity: str,
                settings: RuleSettings | None = None, delete_on_target: bool = False) -> LoadResult:
    settings = settings or RuleSettings()
    res = LoadResult(entity)
    ledger.clear(con, entity, "load")
    resolve_deletions(con, target, entity, delete_on_target, res)
    if not target.has(entity):  # the platform has no such records (e.g. reviews on Shopify): a named skip
        con.execute(f"""INSERT INTO ledger SELECT '{entity}', source_id, 'load', 'skipped', 'target_lacks_entity',
                        NULL, NULL FROM transformed_{entity}""")
        return res
    _plan(con, target, entity)
    res.adopted = _adopt(con, target, entity)
    res.helpers_created = _ensure_helpers(con, target, entity, settings)
    res.unchanged = con.execute(f"""
        INSERT INTO ledger SELECT '{entity}', source_id, 'load', 'loaded', NULL, NULL, 'unchanged'
        FROM load_plan WHERE action = 'unchanged'""").fetchone()[0]
    select = _select_sql(con, entity, target)
    depths = [r[0] for r in con.execute("SELECT DISTINCT depth FROM load_plan ORDER BY 1").fetchall()]
    for depth in depths:
        # Updates first: a record renamed by the URL-key rule frees its old key before a new record takes it.
        for action in ("update", "create"):
            hashes = dict(con.execute("SELECT source_id, row_hash FROM load_plan WHERE action = ? AND depth = ?",
                                      [action, depth]).fetchall())
            if not hashes:
                continue
            reader = arrow_batches(cursor(con), select, {"target": target.name, "action": action,
                                                          "depth": depth}, target.max_batch)
            for batch in reader:
                table = pa.Table.from_batches([batch])
                unresolved = table.column("_unresolved").to_pylist()
                sids = table.column("source_id").to_pylist()
                blocked = [WriteResult(s, None, f"reference not loaded: {u}") for s, u in zip(sids, unresolved) if u]
                keep = pa.array([u is None for u in unresolved])
                table = table.filter(keep).drop_columns(["_unresolved"])
                if action == "create":
                    table = table.drop_columns(["target_id"])
                results = []
                if table.num_rows:
                    results = (target.create(entity, table, preserve_ids=settings.preserve_ids) if action == "create"
                               else target.update(entity, table))
                    results = [WriteResult(r.source_id, r.target_id, f"target rejected: {r.error}") if r.error
                               else r for r in results]
                _record(con, target, entity, results + blocked, hashes, action + "d", res)
    con.execute("DROP TABLE load_plan")
    return res
