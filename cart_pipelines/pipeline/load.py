"""Load: upsert transformed rows into a target through the source-id → target-id map.

The plan compares each row's hash with the one recorded at its last load: new rows are created, changed rows
updated, unchanged rows not sent at all — so re-running a finished migration writes nothing. Rows an interrupted
run created but never recorded are found on the target by their source id and adopted, not created twice.
References are resolved to target ids here; a reference that did not load quarantines the row.

All bookkeeping is set-based in the catalog: the plan, the id map and the ledger are written by SQL from the plan
and the targets' answers, never from Python collections of the whole entity. A target in a DuckDB file (the local
target) is attached to the catalog and written set-based, a chunk of about a row group per statement, while a
second connection records the chunk before and builds the next (`_write_sets`); any other target gets the rows
streamed in Arrow batches of its `max_batch`, and each batch's answers go back into the catalog as a table.
"""

from __future__ import annotations

import functools
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
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
from cart_pipelines.pipeline.transform import URL_KEY_ENTITIES
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


def _list_join(alias: str, entity: str, column: str, ref_entity: str, key: str, item: str, window: str) -> str:
    """The list `column` of each planned row with its elements' references resolved (`alias`.resolved, in list
    order) and whether one did not load (`alias`.missing): one grouped join over the elements, as a correlated
    subquery per row would carry the whole wide row through DuckDB's decorrelation. `window` limits the elements
    to the plan rows of one chunk, as the outer query is."""
    return f"""LEFT JOIN (
        SELECT u.source_id, list({item} ORDER BY u.pos) AS resolved,
               bool_or({key} IS NOT NULL AND m.source_id IS NULL) AS missing
        FROM (SELECT x.source_id, unnest(x.{column}) AS e, generate_subscripts(x.{column}, 1) AS pos
              FROM transformed_{entity} x JOIN load_plan px ON px.source_id = x.source_id
              WHERE px.action = $action AND px.depth = $depth{window.format(p='px', t='x')}) u
        LEFT JOIN id_map m ON m.target = $target AND m.entity = '{ref_entity}' AND m.source_id = {key}
        GROUP BY 1) {alias} ON {alias}.source_id = t.source_id"""


def _password_sql(target: Target) -> str:
    """Hashes go only where the target accepts their algorithm; other customers must reset (see report)."""
    accepted = ", ".join(f"'{a}'" for a in target.password_algorithms) or "NULL"
    return f"CASE WHEN lower(t.password_algorithm) IN ({accepted}) THEN t.{{c}} END AS {{c}}"


def _select_sql(con: duckdb.DuckDBPyConnection, entity: str, target: Target, ordered: bool = True,
                windowed: bool = False) -> str:
    """Rows of `entity` in the target's shape, references resolved, plus `_unresolved` naming what did not load;
    `ordered` sorts them by the plan's order (batches stream in it; a set-based write numbers by `_ord` itself and
    need not sort the wide rows); `windowed` selects only the plan rows with `ord` from $lo to $hi (one chunk of a
    set-based write)."""
    # The chunk's transformed rows also by their row id (the plan numbers rows in it, so a chunk's lie in one
    # range): DuckDB then scans only the row groups holding them, where the join with the plan alone read the
    # whole wide table once per chunk (at 1M products 20 scans of it, a quarter of the load's time).
    window = " AND {p}.ord BETWEEN $lo AND $hi AND {t}.rowid BETWEEN $rlo AND $rhi" if windowed else ""
    cols = [r[0] for r in con.execute(f"DESCRIBE transformed_{entity}").fetchall()]
    refs = REFS.get(entity, {})
    ref_sources = {src for src, _ in refs.values()} | {"category_source_ids", "child_source_ids"}
    select, joins, unresolved = [], [], []
    for c in cols:
        if c in INTERNAL or c in ref_sources:
            continue
        if entity == "orders" and c == "items":
            # Only the product ids go through the grouped join (in item order); the lines are rebuilt around
            # them by position: aggregating whole line structs in order cost four times the CPU at 100k orders.
            joins.append(_list_join("it", entity, "items", "products", "u.e.product_source_id", "m.target_id",
                                    window))
            select.append("""list_transform(t.items, lambda e, i: struct_pack(
                source_id := e.source_id, product_id := it.resolved[i], sku := e.sku, name := e.name,
                qty := e.qty, price := e.price, tax := e.tax)) AS items""")
            unresolved.append("CASE WHEN it.missing THEN 'an order item product did not load' END")
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
        joins.append(_list_join("cat", entity, "category_source_ids", "categories", "u.e", "m.target_id",
                                    window))
        select.append("cat.resolved AS category_ids")
        unresolved.append("CASE WHEN cat.missing THEN 'a category of the product did not load' END")
    if "child_source_ids" in cols:  # a grouped product's products (loaded first: depth 0, the group 1)
        joins.append(_list_join("kid", entity, "child_source_ids", "products", "u.e", "m.target_id", window))
        select.append("CASE WHEN t.child_source_ids IS NOT NULL THEN coalesce(kid.resolved, []) END AS child_ids")
        if target.holds_grouped:  # its grouped products name their children: a child that did not load holds it
            unresolved.append("CASE WHEN kid.missing THEN 'a product of the grouped product did not load' END")
    unresolved_sql = f"coalesce({', '.join(unresolved)})" if unresolved else "NULL"
    return (f"SELECT {', '.join(select)}, p.target_id, {unresolved_sql} AS _unresolved, p.ord AS _ord "
            f"FROM transformed_{entity} t JOIN load_plan p ON p.source_id = t.source_id "
            f"{' '.join(joins)} WHERE p.action = $action AND p.depth = $depth{window.format(p='p', t='t')}"
            f"{' ORDER BY p.ord' if ordered else ''}")


def _params(sql: str, **params) -> dict | None:
    """Only the named parameters the query mentions: DuckDB rejects extra ones."""
    return {k: v for k, v in params.items() if f"${k}" in sql} or None


def _record(con, target: Target, entity: str, results: str, action: str, res: LoadResult,
            written_rows: str | None = None) -> None:
    """The answers in the relation `results` (source_id, target_id, error): written rows into the id map with the
    hash they were written with, and every row into the ledger as loaded or quarantined. `written_rows` holds the
    rows sent (source_id, url_key), where they are at hand: a set-based chunk's, not the whole transformed table."""
    # The id map has one row per key by construction and no primary key (pipeline/staging.py): created rows are
    # new to it (the plan found none; adopted rows became updates), so a plain INSERT; updated rows have theirs
    # (found by the plan, or recorded by the adoption), so an UPDATE of it.
    params = {"target": target.name}
    if action == "created":
        con.execute(f"""INSERT INTO id_map (target, entity, source_id, target_id, row_hash)
                        SELECT $target, '{entity}', r.source_id, r.target_id, p.row_hash
                        FROM {results} r LEFT JOIN load_plan p USING (source_id) WHERE r.error IS NULL""", params)
    else:
        con.execute(f"""UPDATE id_map SET target_id = w.target_id, row_hash = w.row_hash
                        FROM (SELECT r.source_id, r.target_id, p.row_hash FROM {results} r
                              LEFT JOIN load_plan p USING (source_id) WHERE r.error IS NULL) w
                        WHERE id_map.target = $target AND id_map.entity = '{entity}'
                          AND id_map.source_id = w.source_id""", params)
    if entity in URL_KEY_ENTITIES:  # the key the record now holds there, for the next transform (sticky keys)
        # The record's key replaces any it held (one row per key; a created record's only by an id map row
        # forgotten without its key): a delete of those few and an insert, where INSERT OR REPLACE looked every key
        # up in a primary-key index.
        con.execute(f"""DELETE FROM url_keys WHERE target = $target AND entity = '{entity}' AND source_id IN (
                            SELECT source_id FROM {results} WHERE error IS NULL)""", params)
        con.execute(f"""INSERT INTO url_keys (target, entity, source_id, base, url_key)
                        SELECT $target, '{entity}', r.source_id, coalesce(b.base, t.url_key), t.url_key
                        FROM {results} r JOIN {written_rows or f"transformed_{entity}"} t USING (source_id)
                        LEFT JOIN url_key_bases b ON b.entity = '{entity}' AND b.source_id = r.source_id
                        WHERE r.error IS NULL""", params)
    con.execute(f"""INSERT INTO ledger SELECT '{entity}', source_id, 'load',
                        CASE WHEN error IS NULL THEN '{ledger.LOADED}' ELSE '{ledger.QUARANTINED}' END, NULL, error,
                        CASE WHEN error IS NULL THEN '{action}' END
                    FROM {results}""")
    # fetchall, not fetchone: DuckDB 2 keeps a half-read result open and then refuses register/unregister
    ok, rejected = con.execute(f"SELECT count(*) FILTER (WHERE error IS NULL), count(*) FILTER (WHERE error IS NOT "
                               f"NULL) FROM {results}").fetchall()[0]
    setattr(res, action, getattr(res, action) + ok)
    res.rejected += rejected


def _answers(results: list[WriteResult]) -> pa.Table:
    return pa.table({"source_id": pa.array([r.source_id for r in results], pa.string()),
                     "target_id": pa.array([r.target_id for r in results], pa.string()),
                     "error": pa.array([r.error for r in results], pa.string())})


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
    elif entity == "products":  # a grouped product after its products, so their target ids are known
        depth = "CASE WHEN len(coalesce(t.child_source_ids, [])) > 0 THEN 1 ELSE 0 END"
    con.execute(f"""
        CREATE OR REPLACE TABLE load_plan AS  -- not TEMP: batches stream the rows through a cursor, another connection
        SELECT t.source_id, t.row_hash, m.target_id, {depth} AS depth, t.rowid AS rid,
               row_number() OVER (ORDER BY t.rowid) AS ord,
               CASE WHEN m.target_id IS NULL THEN 'create' WHEN m.row_hash IS DISTINCT FROM t.row_hash
                    THEN 'update' ELSE 'unchanged' END AS action
        FROM transformed_{entity} t
        LEFT JOIN id_map m ON m.target = $target AND m.entity = '{entity}' AND m.source_id = t.source_id""",
                {"target": target.name})
    # One plan row per source id, or the id map would gain a second row for a key (it has no primary key to refuse
    # one): a source id twice in the transformed rows, or twice in the id map, stops the load here.
    rows, keys = con.execute("SELECT count(*), count(DISTINCT source_id) FROM load_plan").fetchall()[0]
    if rows != keys:
        raise RuntimeError(f"load of {entity}: {rows - keys} source ids occur more than once in transformed_{entity} "
                           f"or the id map; the load would record them twice")


ADOPT_BATCH = 5000  # source ids per find_existing lookup


def _adopt(con, target: Target, entity: str, sql) -> int:
    """Rows created on the target by an interrupted run: record them, and update instead of creating again."""
    creates = "SELECT source_id FROM load_plan WHERE action = 'create'"
    if not con.execute(f"SELECT count(*) FROM ({creates})").fetchall()[0][0]:
        return 0
    if sql is not None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _found AS {sql.existing(entity, creates)}")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _found (source_id VARCHAR, target_id VARCHAR)")
        for batch in arrow_batches(cursor(con), f"{creates} ORDER BY ord", None, ADOPT_BATCH):
            found = target.find_existing(entity, batch.column("source_id").to_pylist())
            if found:
                con.register("_found_batch", pa.table({"source_id": pa.array(list(found), pa.string()),
                                                       "target_id": pa.array(list(found.values()), pa.string())}))
                con.execute("INSERT INTO _found SELECT * FROM _found_batch")
                con.unregister("_found_batch")
    adopted = con.execute("SELECT count(*) FROM _found").fetchall()[0][0]
    if adopted:
        con.execute("UPDATE load_plan SET action = 'update', target_id = f.target_id FROM _found f "
                    "WHERE load_plan.source_id = f.source_id")
        # the plan found no id-map row for these (they were creates): a plain insert keeps one row per key
        con.execute("INSERT INTO id_map (target, entity, source_id, target_id, row_hash) "
                    f"SELECT $target, '{entity}', source_id, target_id, NULL FROM _found", {"target": target.name})
    con.execute("DROP TABLE _found")
    return adopted


def _ensure_helpers(con, target: Target, entity: str, settings: RuleSettings, sql) -> dict[str, int]:
    """Records the rules create on the target: the hidden category (rule 3) and customers from guest orders."""
    if entity == "products":
        register_functions(con)  # url_key()
        rows = f"""SELECT '{HIDDEN_CATEGORY_ID}' AS source_id, $name AS name,
                         {url_key("$name", fallback="'uncategorised'")} AS url_key, true AS hidden,
                         NULL::INTEGER AS position, 1 AS _ord
                  WHERE EXISTS (SELECT 1 FROM transformed_products WHERE list_contains(category_source_ids,
                                '{HIDDEN_CATEGORY_ID}'))
                    AND '{HIDDEN_CATEGORY_ID}' NOT IN (SELECT source_id FROM id_map WHERE target = $target
                                                       AND entity = 'categories')"""
        ref_entity = "categories"
    elif entity == "orders":
        rows = f"""SELECT customer_source_id AS source_id, any_value(email) AS email,
                         any_value(customer_first_name) AS first_name, any_value(customer_last_name) AS last_name,
                         false AS newsletter, row_number() OVER (ORDER BY customer_source_id) AS _ord
                  FROM transformed_orders WHERE customer_source_id LIKE '{GUEST_PREFIX}%'
                    AND customer_source_id NOT IN (SELECT source_id FROM id_map WHERE target = $target
                                                   AND entity = 'customers')
                  GROUP BY 1"""
        ref_entity = "customers"
    else:
        return {}
    params = _params(rows, name=settings.hidden_category_name, target=target.name)
    con.execute("CREATE OR REPLACE TEMP TABLE _helpers (source_id VARCHAR, target_id VARCHAR, error VARCHAR)")
    if sql is not None:
        # Created LOAD_CHUNK rows at a time, in `_ord` order (1..n), as the load's own rows are: one guest customer
        # per e-mail of a guest order is a set that grows with the store. Chunks give the same answers as one call
        # (an e-mail a chunk before created is refused by the target's table as one earlier in the call would be).
        con.execute(f"CREATE OR REPLACE TEMP TABLE _helper_rows AS {rows}", params)
        helpers = con.execute("SELECT count(*) FROM _helper_rows").fetchall()[0][0]
        for lo in range(1, helpers + 1, LOAD_CHUNK):
            written = sql.create(ref_entity, f"SELECT * FROM _helper_rows WHERE _ord BETWEEN {lo} "
                                             f"AND {lo + LOAD_CHUNK - 1}")
            con.execute(f"INSERT INTO _helpers SELECT source_id, target_id, error FROM {written}")
            con.execute(f"DROP TABLE {written}")
        con.execute("DROP TABLE _helper_rows")
    else:
        for batch in arrow_batches(cursor(con), f"{rows} ORDER BY _ord", params, target.max_batch):
            con.register("_helper_batch", _answers(target.create(ref_entity, pa.Table.from_batches([batch])
                                                                 .drop_columns(["_ord"]))))
            con.execute("INSERT INTO _helpers SELECT * FROM _helper_batch")
            con.unregister("_helper_batch")
    answered, made = con.execute("SELECT count(*), count(*) FILTER (WHERE error IS NULL) FROM _helpers").fetchall()[0]
    # the helper rows were chosen as absent from the id map: a plain insert keeps one row per key
    con.execute("INSERT INTO id_map (target, entity, source_id, target_id, row_hash) "
                f"SELECT $target, '{ref_entity}', source_id, target_id, 'created-by-rule' FROM _helpers "
                "WHERE error IS NULL", {"target": target.name})
    con.execute("DROP TABLE _helpers")
    return {ref_entity: made} if answered else {}


def resolve_deletions(con, target: Target, entity: str, delete: bool, res: LoadResult, sql=None) -> None:
    """Records deleted at the source: kept on the target and reported (the default), or with `delete` deleted
    there too and forgotten by the id map. The ledger row says which (or not_on_target: never loaded here)."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _gone AS
        SELECT l.source_id, m.target_id FROM ledger l JOIN id_map m ON m.target = ? AND m.entity = l.entity
            AND m.source_id = l.source_id
        WHERE l.entity = ? AND l.outcome = '{ledger.DELETED}'""", [target.name, entity])
    gone = con.execute("SELECT count(*) FROM _gone").fetchall()[0][0]
    if delete and gone:
        if sql is not None:
            sql.delete(entity, "SELECT target_id FROM _gone")
        else:
            reader = con.execute("SELECT target_id FROM _gone").fetch_record_batch(ADOPT_BATCH)
            for batch in reader:
                target.delete(entity, batch.column("target_id").to_pylist())
        for table in ("id_map", "url_keys"):
            con.execute(f"DELETE FROM {table} WHERE target = ? AND entity = ? AND source_id IN (SELECT source_id "
                        "FROM _gone)", [target.name, entity])
        res.deleted_on_target = gone
    con.execute(f"""UPDATE ledger SET action = CASE
            WHEN source_id IN (SELECT source_id FROM _gone) THEN ?
            WHEN action = '{ledger.DELETED_ON_TARGET}' THEN action ELSE '{ledger.NOT_ON_TARGET}' END
        WHERE entity = ? AND outcome = '{ledger.DELETED}'""",
                [ledger.DELETED_ON_TARGET if delete else ledger.KEPT_ON_TARGET, entity])
    con.execute("DROP TABLE _gone")
    res.kept_on_target = 0 if delete else gone


def plan_entity(con: duckdb.DuckDBPyConnection, target: Target, entity: str, delete_on_target: bool = False) -> dict:
    """What load_entity would do now (a dry run), writing nothing to the target, the id map or the ledger:
    rows to create, update or leave, and records deleted at the source to delete or to keep and flag. (Rows an
    interrupted run left on the target count as creates here; the real load adopts them as updates.)"""
    plan = {"create": 0, "update": 0, "unchanged": 0, "delete": 0, "flag_deleted_at_source": 0}
    if not target.has(entity):
        rows = con.execute(f"SELECT count(*) FROM transformed_{entity}").fetchall()[0][0]
        return {**plan, "target_lacks_entity": rows}
    _plan(con, target, entity)
    plan.update(con.execute("SELECT action, count(*) FROM load_plan GROUP BY 1").fetchall())
    con.execute("DROP TABLE load_plan")
    gone = con.execute(f"""SELECT count(*) FROM ledger l JOIN id_map m ON m.target = ? AND m.entity = l.entity
                           AND m.source_id = l.source_id WHERE l.entity = ? AND l.outcome = '{ledger.DELETED}'""",
                       [target.name, entity]).fetchall()[0][0]
    plan["delete" if delete_on_target else "flag_deleted_at_source"] = gone
    return plan


def load_entity(con: duckdb.DuckDBPyConnection, target: Target, entity: str,
                settings: RuleSettings | None = None, delete_on_target: bool = False) -> LoadResult:
    settings = settings or RuleSettings()
    res = LoadResult(entity)
    with target.attached(con) or nullcontext() as sql:
        ledger.clear(con, entity, "load")
        resolve_deletions(con, target, entity, delete_on_target, res, sql)
        if not target.has(entity):  # the platform has no such records (e.g. reviews on Shopify): a named skip
            con.execute(f"""INSERT INTO ledger SELECT '{entity}', source_id, 'load', 'skipped', 'target_lacks_entity',
                            NULL, NULL FROM transformed_{entity}""")
            return res
        _plan(con, target, entity)
        res.adopted = _adopt(con, target, entity, sql)
        res.helpers_created = _ensure_helpers(con, target, entity, settings, sql)
        res.unchanged = con.execute(f"""
            INSERT INTO ledger SELECT '{entity}', source_id, 'load', 'loaded', NULL, NULL, 'unchanged'
            FROM load_plan WHERE action = 'unchanged'""").fetchall()[0][0]
        select = _select_sql(con, entity, target, ordered=sql is None, windowed=sql is not None)
        depths = [r[0] for r in con.execute("SELECT DISTINCT depth FROM load_plan ORDER BY 1").fetchall()]
        for depth in depths:
            # Updates first: a record renamed by the URL-key rule frees its old key before a new record takes it.
            for action in ("update", "create"):
                if not con.execute("SELECT count(*) FROM load_plan WHERE action = ? AND depth = ?",
                                   [action, depth]).fetchall()[0][0]:
                    continue
                if sql is not None:
                    _write_sets(con, sql, target, entity, select, action, depth, settings, res)
                else:
                    params = _params(select, target=target.name, action=action, depth=depth)
                    _write_batches(con, target, entity, select, params, action, settings, res)
        con.execute("DROP TABLE load_plan")
    return res


# Plan rows per set-based write: the chunk's wide rows are held in a temp table while the target takes them, so
# this bounds what a write holds (about 2 KB a product row, 3 KB an order's) whatever the store's size, and a
# killed load loses at most one chunk's bookkeeping (adopted by source id on the next run). DuckDB's row-group
# size, a multiple of the local target's (platforms/local/target.py): a full chunk's rows reach the target's file
# as finished row groups, where a smaller chunk's went through its write-ahead log and were written again by the
# checkpoint.
LOAD_CHUNK = 122_880


def _chunks(con, action: str, depth: int, size: int | None = None) -> list[tuple[int, int, int, int]]:
    """(first, last) plan `ord` of each chunk of `size` rows of the (action, depth) set, in plan order, and the
    (first, last) row id of its transformed rows (`ord` follows the row id): a narrow query over the plan (two
    integers per row), so the windows are exact whatever gaps the other actions leave."""
    size = size or LOAD_CHUNK
    return con.execute("""SELECT min(ord), max(ord), min(rid), max(rid) FROM (
                              SELECT ord, rid, (row_number() OVER (ORDER BY ord) - 1) // ? AS chunk FROM load_plan
                              WHERE action = ? AND depth = ?) GROUP BY chunk ORDER BY chunk""",
                       [size, action, depth]).fetchall()


CHUNKS = "_load_chunks"  # an in-memory database both connections of a set-based write see


def _write_sets(con, sql, target: Target, entity: str, select: str, action: str, depth: int,
                settings: RuleSettings, res: LoadResult) -> None:
    """The (action, depth) set in chunks of LOAD_CHUNK plan rows into a target attached to the catalog, two
    connections at work: while `con` writes chunk k to the target (a chunk's rows are built from about one row
    group of the catalog, which DuckDB scans on one core), a second connection to the same database builds chunk
    k+1's rows and writes chunk k's answers (known before the target's statement: the ids and refusals) into the
    catalog. The chunks reach the target one after another in plan order (new ids and uniqueness are decided
    against the chunks before), and a chunk's bookkeeping is committed only once its target statement has: a run
    killed between them left rows on the target that the next run adopts by their source id."""
    chunks = _chunks(con, action, depth)
    if not chunks:
        return
    con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {CHUNKS}")
    other = cursor(con)  # the same names: a backfill slice works in a schema of its own (pipeline/backfill.py)
    pool = ThreadPoolExecutor(1, thread_name_prefix="load-bookkeeping")
    pending: list[Future] = []

    def build(k: int) -> None:
        lo, hi, rlo, rhi = chunks[k]
        other.execute(f"CREATE OR REPLACE TABLE {CHUNKS}.rows_{k} AS {select}",
                      _params(select, target=target.name, action=action, depth=depth, lo=lo, hi=hi, rlo=rlo,
                              rhi=rhi))

    def record(k: int, written_on_target: Future) -> None:
        rows, written = f"{CHUNKS}.rows_{k}", f"{CHUNKS}.written_{k}"
        other.execute("BEGIN TRANSACTION")
        try:
            _record(other, target, entity, f"""(
                SELECT source_id, target_id, 'target rejected: ' || error AS error FROM {written}
                UNION ALL SELECT source_id, NULL, 'reference not loaded: ' || _unresolved FROM {rows}
                WHERE _unresolved IS NOT NULL)""", action + "d", res, written_rows=rows)
            # the target's statement failed: nothing of this chunk is recorded, the load fails with its error
            other.execute("COMMIT" if written_on_target.result() else "ROLLBACK")
        except BaseException:
            other.execute("ROLLBACK")
            raise
        other.execute(f"DROP TABLE {rows}; DROP TABLE {written}")

    def answered(k: int, written_on_target: Future, table: str) -> None:
        """The writer's answers for chunk k, before its statement: recorded meanwhile by the other connection."""
        con.execute(f"CREATE TABLE {CHUNKS}.written_{k} AS SELECT source_id, target_id, error FROM {table}")
        pending.append(pool.submit(record, k, written_on_target))

    try:
        built = pool.submit(build, 0)
        for k in range(len(chunks)):
            built.result()
            for done in pending:  # a chunk's bookkeeping that failed stops the next chunk's target write
                if done.done():
                    done.result()
            if k + 1 < len(chunks):
                built = pool.submit(build, k + 1)
            ready = f"SELECT * EXCLUDE (_unresolved{{}}) FROM {CHUNKS}.rows_{k} WHERE _unresolved IS NULL"
            written_on_target: Future = Future()
            answers = functools.partial(answered, k, written_on_target)
            try:
                written = (sql.create(entity, ready.format(", target_id"), preserve_ids=settings.preserve_ids,
                                      on_answers=answers)
                           if action == "create" else sql.update(entity, ready.format(""), on_answers=answers))
            except BaseException:
                written_on_target.set_result(False)
                raise
            written_on_target.set_result(True)
            con.execute(f"DROP TABLE {written}")
        for done in pending:
            done.result()
    finally:
        # A failure stops the chunks here, but the chunks the target took are still recorded (or their own error
        # raised): the next run then has only the failed chunk's rows to adopt.
        pool.shutdown(wait=True)
        other.close()
        con.execute(f"DETACH {CHUNKS}")


def _write_batches(con, target: Target, entity: str, select: str, params, action: str, settings: RuleSettings,
                   res: LoadResult) -> None:
    """Batches of the target's size streamed from the catalog to the target's create or update; each batch's
    answers go back into the catalog before the next is read."""
    for batch in arrow_batches(cursor(con), select, params, target.max_batch):
        table = pa.Table.from_batches([batch])
        unresolved = table.column("_unresolved").to_pylist()
        sids = table.column("source_id").to_pylist()
        blocked = [WriteResult(s, None, f"reference not loaded: {u}") for s, u in zip(sids, unresolved) if u]
        keep = pa.array([u is None for u in unresolved])
        table = table.filter(keep).drop_columns(["_unresolved", "_ord"])
        if action == "create":
            table = table.drop_columns(["target_id"])
        results = []
        if table.num_rows:
            results = (target.create(entity, table, preserve_ids=settings.preserve_ids) if action == "create"
                       else target.update(entity, table))
            results = [WriteResult(r.source_id, r.target_id, f"target rejected: {r.error}") if r.error
                       else r for r in results]
        con.register("_answers", _answers(results + blocked))
        _record(con, target, entity, "_answers", action + "d", res)
        con.unregister("_answers")
