"""Transform: canonical staged rows → the target's shape, with the migration rules applied, in DuckDB SQL.

For each entity, one SELECT over the in-scope staged rows decides per record: a target row, a skip (naming the
rule) or a quarantine (naming the defect). References to other entities stay source ids here
(`*_source_id` columns); the load step resolves them through the id map.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from cart_pipelines.model.canonical import ADDRESS, CUSTOMER_ADDRESS
from cart_pipelines.pipeline import ledger
from cart_pipelines.pipeline.rules import (
    GUEST_PREFIX,
    HIDDEN_CATEGORY_ID,
    LIFECYCLE_NEAREST,
    MAX_CATEGORY_DEPTH,
    REFUNDABLE_STATUSES,
    RuleSettings,
    derived_title,
    filled,
    id_key,
    is_blank,
    register_functions,
    sql_text,
    url_key,
)

ORDER_BY_ID = "TRY_CAST(source_id AS BIGINT) NULLS LAST, source_id"


def hidden_category_key(s: RuleSettings) -> str:
    """SQL: the URL key of the hidden category rule 3 creates."""
    return url_key(sql_text(s.hidden_category_name), fallback="'uncategorised'")


def transformed_ids(con: duckdb.DuckDBPyConnection, entity: str) -> str:
    """A subquery of the source ids of `entity` that will be loaded in this run."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND database_name = current_database()",
        [f"transformed_{entity}"]).fetchone()[0]
    if not exists:
        raise RuntimeError(f"transform {entity} first: it is referenced by this entity and has no transformed rows")
    return f"(SELECT source_id FROM transformed_{entity})"


def repeated_ids(table: str, where: str = "") -> str:
    """(source_id, _ordinal, _dup) of the rows of `table` whose source id is staged more than once, _dup numbering
    them in staging order (1: the first). Only those few rows are numbered: a window or an arg_min over every staged
    row carried the rows' wide columns through a sort or a hash table (spilling at 1M). _ordinal is a staged row's
    unique position in the source, so it alone tells the rows apart."""
    return f"""(
        SELECT source_id, _ordinal, row_number() OVER (PARTITION BY source_id ORDER BY _ordinal) AS _dup FROM {table}
        WHERE source_id IN (SELECT source_id FROM {table} GROUP BY source_id HAVING count(*) > 1){where})"""


def first_staged(table: str, columns: str) -> str:
    """A relation of `columns` of the first row (in staging order) of each source id staged in `table`."""
    return f"""(
        SELECT {columns} FROM {table}
        WHERE _ordinal NOT IN (SELECT _ordinal FROM {repeated_ids(table)} WHERE _dup > 1))"""


def _struct(var: str, fields: list[str], defaults: dict[str, str]) -> str:
    parts = [f"{f} := {filled(f'{var}.{f}', defaults[f]) if f in defaults else f'{var}.{f}'}" for f in fields]
    return f"struct_pack({', '.join(parts)})"


def _any_blank(var: str, fields) -> str:
    return "(" + " OR ".join(is_blank(f"{var}.{f}") for f in fields) + ")"


def _null_address(fields: list[str]) -> str:
    return "struct_pack(" + ", ".join(f"{f} := NULL::VARCHAR" for f in fields) + ")"


def _url_key(entity_word: str) -> tuple[str, str]:
    """(URL key, its rule marker): the source's key, else the name, else rule url_key_fallback's entity-id key."""
    natural = url_key("url_key", "name")
    return (f"coalesce({natural}, {id_key(entity_word)})",
            f"CASE WHEN {natural} IS NULL THEN ['url_key_fallback'] ELSE []::VARCHAR[] END")


def categories_sql(con, s: RuleSettings) -> str:
    key, key_rule = _url_key("category")
    # A tree has no cycles among the roots' descendants (one parent per id), so the bound is a safeguard only.
    return f"""
    WITH RECURSIVE tree(source_id, depth) AS (
        SELECT source_id, 0 FROM cand WHERE _dup = 1 AND parent_id IS NULL
        UNION ALL
        SELECT c.source_id, t.depth + 1 FROM cand c JOIN tree t ON c.parent_id = t.source_id
        WHERE c._dup = 1 AND t.depth < {MAX_CATEGORY_DEPTH})
    SELECT source_id, parent_id AS parent_source_id, name, {key} AS url_key,
           NOT coalesce(is_visible, true) AS hidden, position, updated_at, {key_rule} AS _rules,
           NULL AS _skip,
           CASE WHEN _dup > 1 THEN 'duplicate source_id ' || source_id
                WHEN source_id NOT IN (SELECT source_id FROM tree)
                THEN 'parent category ' || parent_id || ' is missing, quarantined or part of a cycle (or the tree '
                     || 'is deeper than {MAX_CATEGORY_DEPTH} levels)' END AS _quarantine
    FROM cand"""


def manufacturers_sql(con, s: RuleSettings) -> str:
    key, key_rule = _url_key("manufacturer")
    return f"""
    SELECT source_id, name, {key} AS url_key, updated_at, {key_rule} AS _rules,
           NULL AS _skip, CASE WHEN _dup > 1 THEN 'duplicate source_id ' || source_id END AS _quarantine
    FROM cand"""


def _tax_class_name_sql(s: RuleSettings) -> str:
    """Rule tax_class_mapping: the target's name of a tax class, NULL where the map has none (tax_class_unmapped)."""
    whens = " ".join(f"WHEN {sql_text(k)} THEN {sql_text(v)}" for k, v in s.tax_classes().items())
    return f"CASE lower(trim(name)) {whens} END" if whens else "NULL::VARCHAR"


def _tax_classes_kept(s: RuleSettings) -> str:
    """In-scope tax classes with their target name and the class they become: the first (source-id order) of
    those mapped to the same name."""
    return f"""(
        SELECT source_id, mapped, target_name,
               first_value(source_id) OVER (PARTITION BY lower(target_name) ORDER BY {ORDER_BY_ID}) AS kept
        FROM (SELECT source_id, {_tax_class_name_sql(s)} AS mapped,
                     coalesce({_tax_class_name_sql(s)}, trim(name)) AS target_name
              FROM staged_tax_classes
              WHERE source_id IN (SELECT source_id FROM scope WHERE entity = 'tax_classes')
              QUALIFY row_number() OVER (PARTITION BY source_id ORDER BY _ordinal) = 1))"""


def tax_classes_sql(con, s: RuleSettings) -> str:
    return f"""
    SELECT c.source_id, k.target_name AS name, rates, updated_at,
           CASE WHEN k.mapped IS NULL THEN ['tax_class_unmapped']
                WHEN k.mapped IS DISTINCT FROM name THEN ['tax_class_mapping'] ELSE []::VARCHAR[] END AS _rules,
           CASE WHEN _dup = 1 AND k.kept <> c.source_id THEN 'tax_class_mapping' END AS _skip,
           CASE WHEN _dup > 1 THEN 'duplicate source_id ' || c.source_id END AS _quarantine
    FROM cand c JOIN {_tax_classes_kept(s)} k USING (source_id)"""


def products_sql(con, s: RuleSettings) -> str:
    key, key_rule = _url_key("product")
    # Rule url_key_from_name: the source gave no key (a WooCommerce draft has no slug yet), the name makes one
    key_rule += (f" || CASE WHEN {url_key('url_key')} IS NULL AND {url_key('name')} IS NOT NULL "
                 f"THEN ['url_key_from_name'] ELSE []::VARCHAR[] END")
    cats = transformed_ids(con, "categories")
    makers = transformed_ids(con, "manufacturers")
    taxes = transformed_ids(con, "tax_classes")
    return f"""
    WITH tax AS {_tax_classes_kept(s)},
    first_staged AS {first_staged("staged_products", "source_id, sku, variants")},
    listed_variant AS {_variants_listed("first_staged")},
    sku_use AS (
        SELECT DISTINCT source_id, trim(sku) AS sku, lower(trim(sku)) AS k FROM (
            SELECT source_id, sku FROM first_staged WHERE source_id NOT IN (SELECT source_id FROM listed_variant)
            UNION ALL SELECT source_id, v.sku FROM (SELECT source_id, unnest(variants) AS v FROM first_staged))
        WHERE nullif(trim(sku), '') IS NOT NULL),
    sku_owner AS (
        SELECT k, first(source_id ORDER BY {ORDER_BY_ID}) AS owner FROM sku_use GROUP BY k),
    sku_taken AS (
        SELECT u.source_id, min(u.sku) AS taken_sku, min(o.owner) AS owner
        FROM sku_use u JOIN sku_owner o USING (k) WHERE o.owner <> u.source_id GROUP BY u.source_id),
    missing_category AS (
        SELECT source_id, min(category_id) AS category_id
        FROM (SELECT source_id, unnest(category_ids) AS category_id FROM cand)
        WHERE category_id NOT IN {cats} GROUP BY source_id)
    SELECT c.source_id, sku, name, description_html AS description, price, special_price, special_price_from,
           special_price_to, weight, stock,
           lower(trim(coalesce(status, 'enabled'))) = 'enabled' AND NOT {UNPUBLISHED}
               AND NOT {_all_disabled(s)} AS active,
           coalesce(type, CASE WHEN len(coalesce(variants, [])) > 0 THEN 'variable' ELSE 'simple' END) AS type,
           CASE WHEN {_all_disabled(s)} AND lower(trim(coalesce(status, 'enabled'))) = 'enabled' THEN 'archived'
                ELSE {_lifecycle_written(s)} END AS lifecycle, external_url, button_text,
           CASE WHEN type = 'grouped' THEN coalesce(child_ids, []) END AS child_source_ids,
           {key} AS url_key,
           CASE WHEN len(coalesce(category_ids, [])) = 0 THEN ['{HIDDEN_CATEGORY_ID}'] ELSE category_ids END
               AS category_source_ids,
           manufacturer_id AS manufacturer_source_id, coalesce(t.kept, tax_class_id) AS tax_class_source_id,
           {_variants_written(s)} AS variants, images, created_at, updated_at,
           CASE WHEN len(coalesce(category_ids, [])) = 0 THEN ['uncategorised_to_hidden_category'] ELSE []::VARCHAR[] END
             || CASE WHEN t.kept <> tax_class_id THEN ['tax_class_mapping'] ELSE []::VARCHAR[] END
             || {key_rule} || {_grouped_as_simple(s)} || {_variant_disabled_rule(s)}
             || CASE WHEN {_all_disabled(s)} THEN ['variants_all_disabled_archived'] ELSE []::VARCHAR[] END
             || CASE WHEN {s.applies("product_lifecycle_as_status")}
                          AND lower(trim(coalesce(status, 'enabled'))) = 'enabled' AND {UNPUBLISHED}
                     THEN ['product_lifecycle_as_status'] ELSE []::VARCHAR[] END
             || {_lifecycle_nearest_rule(s)} AS _rules,
           CASE WHEN _dup = 1 AND lv.source_id IS NOT NULL THEN 'variant_listed_as_product' END AS _skip,
           CASE WHEN _dup > 1 THEN 'duplicate source_id ' || c.source_id
                WHEN lv.source_id IS NOT NULL THEN NULL
                WHEN st.owner IS NOT NULL
                THEN 'SKU ' || st.taken_sku || ' is already used by product ' || st.owner
                     || ' (SKUs are unique across products and their variants)'
                WHEN manufacturer_id IS NOT NULL AND manufacturer_id NOT IN {makers}
                THEN 'manufacturer ' || manufacturer_id || ' is missing or quarantined'
                WHEN tax_class_id IS NOT NULL AND coalesce(t.kept, tax_class_id) NOT IN {taxes}
                THEN 'tax class ' || tax_class_id || ' is missing or quarantined'
                WHEN m.category_id IS NOT NULL THEN 'category ' || m.category_id || ' is missing or quarantined'
           END AS _quarantine
    FROM cand c LEFT JOIN missing_category m USING (source_id) LEFT JOIN tax t ON t.source_id = c.tax_class_id
         LEFT JOIN sku_taken st ON st.source_id = c.source_id AND c._dup = 1
         LEFT JOIN listed_variant lv ON lv.source_id = c.source_id"""


# A product the source holds unpublished (draft, pending, private, scheduled, archived, trashed) is not sold on any
# target: those that have the state hold it (Shopify DRAFT, WooCommerce private, ...), those that have only sold or
# not write it not sold (rule product_lifecycle_as_status), the others the nearest state (rule
# product_lifecycle_nearest).
UNPUBLISHED = "coalesce(lifecycle, 'published') <> 'published'"


def _lifecycle_written(s: RuleSettings) -> str:
    """Target rule product_lifecycle_nearest: the lifecycle as the target can hold it (rules.LIFECYCLE_NEAREST)."""
    nearest = LIFECYCLE_NEAREST.get(s.target_platform, {}) if s.applies("product_lifecycle_nearest") else {}
    if not nearest:
        return "coalesce(lifecycle, 'published')"
    whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in nearest.items())
    return f"CASE coalesce(lifecycle, 'published') {whens} ELSE coalesce(lifecycle, 'published') END"


def _lifecycle_nearest_rule(s: RuleSettings) -> str:
    nearest = LIFECYCLE_NEAREST.get(s.target_platform, {}) if s.applies("product_lifecycle_nearest") else {}
    if not nearest:
        return "[]::VARCHAR[]"
    held = ", ".join(f"'{k}'" for k in nearest)
    return (f"CASE WHEN lifecycle IN ({held}) AND NOT ({_all_disabled(s)} AND "
            f"lower(trim(coalesce(status, 'enabled'))) = 'enabled') "
            f"THEN ['product_lifecycle_nearest'] ELSE []::VARCHAR[] END")


SELLING = "lower(trim(coalesce(v.status, 'enabled'))) = 'enabled'"  # a variant the source sells


def _all_disabled(s: RuleSettings) -> str:
    """Target rule variants_all_disabled_archived: the product has variants and the source sells none of them; FALSE
    where the target keeps each variant's status."""
    if not s.applies("variants_all_disabled_archived"):
        return "FALSE"
    return (f"(len(coalesce(variants, [])) > 0 AND len(list_filter(variants, lambda v: {SELLING})) = 0)")


def _variants_written(s: RuleSettings) -> str:
    """Target rule variant_disabled_not_written: on a target whose variants have no status (Shopify), the product's
    variants without those the source holds disabled; every variant elsewhere (each keeps its status), and where
    all are disabled (rule variants_all_disabled_archived: the product is not sold, its variants kept)."""
    if not s.applies("variant_disabled_not_written"):
        return "variants"
    return f"CASE WHEN {_all_disabled(s)} THEN variants ELSE list_filter(variants, lambda v: {SELLING}) END"


def _variant_disabled_rule(s: RuleSettings) -> str:
    if not s.applies("variant_disabled_not_written"):
        return "[]::VARCHAR[]"
    return (f"CASE WHEN len(list_filter(coalesce(variants, []), lambda v: NOT ({SELLING}))) > 0 "
            f"AND NOT {_all_disabled(s)} THEN ['variant_disabled_not_written'] ELSE []::VARCHAR[] END")


def _grouped_as_simple(s: RuleSettings) -> str:
    """Target rule grouped_as_simple_with_children_listed: the target has no grouped type, so a grouped product is
    written as a product of its own (its children load as the products they are) and the report lists it."""
    if not s.applies("grouped_as_simple_with_children_listed"):
        return "[]::VARCHAR[]"
    return "CASE WHEN type = 'grouped' THEN ['grouped_as_simple_with_children_listed'] ELSE []::VARCHAR[] END"


def _variants_listed(products: str) -> str:
    """Rule variant_listed_as_product: (source_id, parent) of every product that is also a variant of another
    product — the same id and the same SKU (trimmed, case-insensitive) — as Magento lists a configurable product's
    child simple products among its products. They migrate as the variants they are, not a second time as
    products of their own; an order line naming one goes to its parent. Over every staged product, so a demo and
    the full migration decide alike. `products`: a relation of the staged products, one row per source id."""
    return f"""(
        SELECT w.v.source_id AS source_id,
               first(w.parent ORDER BY TRY_CAST(w.parent AS BIGINT) NULLS LAST, w.parent) AS parent
        FROM (SELECT source_id AS parent, unnest(variants) AS v FROM {products}) w
        JOIN {products} p ON p.source_id = w.v.source_id AND p.source_id <> w.parent
             AND lower(trim(p.sku)) = lower(trim(w.v.sku))
        GROUP BY 1)"""


def _email_merged(con=None) -> str:
    """Rule customer_email_merged: (source_id, kept) of every staged customer whose e-mail (NFC and trimmed at
    extraction; compared case-insensitively) an earlier customer in source-id order has. Over the whole staged set,
    so a demo and the full migration keep the same customer. A backfill of orders whose customers were staged in
    slices of their own has no whole set to look in: there no merge is applied to the orders (a customer a slice
    merged away leaves its orders quarantined as missing, with that reason, never dropped)."""
    if con is not None and not _resolvable(con, "staged_customers"):
        return "(SELECT NULL::VARCHAR AS source_id, NULL::VARCHAR AS kept WHERE false)"
    return f"""(
        SELECT source_id, kept FROM (
            SELECT source_id, first(source_id) OVER (PARTITION BY lower(trim(email)) ORDER BY {ORDER_BY_ID}) AS kept
            FROM {first_staged("staged_customers", "source_id, email")})
        WHERE kept <> source_id)"""


def _resolvable(con, name: str) -> bool:
    """Whether `name` resolves on the connection's search path (a backfill searches its slice schema first)."""
    try:
        con.execute(f"SELECT 1 FROM {name} LIMIT 0")
        return True
    except duckdb.CatalogException:
        return False


def customers_sql(con, s: RuleSettings) -> str:
    fields = [f.name for f in CUSTOMER_ADDRESS]
    d = s.customer_address_default
    defaults = {"first_name": d, "last_name": d, "city": d}
    first, last, names_rule = "first_name", "last_name", "[]::VARCHAR[]"
    if s.applies("customer_name_required"):
        first, last = filled(first, s.customer_name_default), filled(last, s.customer_name_default)
        names_rule = (f"CASE WHEN {is_blank('first_name')} OR {is_blank('last_name')} "
                      f"THEN ['customer_name_required'] ELSE []::VARCHAR[] END")
    return f"""
    SELECT source_id, email, {first} AS first_name, {last} AS last_name, phone,
           coalesce(newsletter, false) AS newsletter,
           list_transform(coalesce(addresses, []), lambda a: {_struct("a", fields, defaults)}) AS addresses,
           password_hash, password_algorithm, created_at, updated_at,
           CASE WHEN list_bool_or(list_transform(coalesce(addresses, []), lambda a: {_any_blank("a", defaults)}))
                THEN ['customer_address_defaults'] ELSE []::VARCHAR[] END || {names_rule} AS _rules,
           CASE WHEN _dup = 1 AND source_id IN (SELECT source_id FROM {_email_merged()})
                THEN 'customer_email_merged' END AS _skip,
           CASE WHEN _dup > 1 THEN 'duplicate source_id ' || source_id END AS _quarantine
    FROM cand"""


def _status_keys(s: RuleSettings) -> str:
    return ", ".join(sql_text(k) for k in s.status_map())


def _status_sql(s: RuleSettings) -> str:
    """Rule order_status_mapping as a CASE over the lower-cased source status; unmapped statuses pass through."""
    whens = " ".join(f"WHEN {sql_text(k)} THEN {sql_text(v)}" for k, v in s.status_map().items())
    return f"CASE lower(trim(status)) {whens} ELSE status END"


def _variant_parents(con) -> str:
    """Rule variant_listed_as_product for order lines: a map of product source id → parent of every staged product
    that is a listed variant (an order line naming one goes to the product it is a variant of)."""
    empty = "map([]::VARCHAR[], []::VARCHAR[])"
    if not _resolvable(con, "staged_products"):
        return f"(SELECT {empty} AS parents)"
    first = first_staged("staged_products", "source_id, sku, variants")
    return (f"(SELECT coalesce(map(list(source_id), list(parent)), {empty}) AS parents "
            f"FROM {_variants_listed(first)})")


def _products_gone(con, lines: str) -> str:
    """Rule order_item_product_gone: product ids order lines name that the source no longer holds (deleted, or
    trashed where the platform does not list its trash): staged nowhere. A product that is staged but quarantined
    or skipped is not gone: its orders wait for it (quarantined, naming it) so fixing the product brings them.
    `lines`: a relation of the order lines' product ids (product_id)."""
    staged = "(SELECT source_id FROM staged_products)" if _resolvable(con, "staged_products") else "(SELECT NULL)"
    return f"""(
        SELECT DISTINCT product_id AS source_id FROM {lines}
        WHERE product_id IS NOT NULL AND product_id NOT IN {staged})"""


HAS_REFUNDS = "(len(coalesce(refunds, [])) > 0 OR coalesce(refunded_total, 0) > 0)"


# Rule refund_from_refunded_total: an order with a refunded amount and no refund list, and the one refund of that
# amount it gets (no reason, no lines), dated the order's last update (the latest the refund can have been; null
# where the source gives none).
TOTAL_ONLY = "(len(coalesce(refunds, [])) = 0 AND coalesce(refunded_total, 0) > 0)"
TOTAL_REFUND = ("struct_pack(source_id := source_id || '-refunded-total', amount := refunded_total, "
                "reason := NULL::VARCHAR, created_at := updated_at, lines := [])")


def _refunds_not_taken(s: RuleSettings) -> str:
    """Target rule refunds_of_unpaid_order_listed: whether an order's refunds stay off the target because it would
    be unpaid there (a status the target takes no refund on); false where the rule does not apply."""
    if not s.applies("refunds_of_unpaid_order_listed"):
        return "false"
    paid = ", ".join(sql_text(v) for v in REFUNDABLE_STATUSES[s.target_platform])
    return f"({HAS_REFUNDS} AND coalesce({_status_sql(s)}, '') NOT IN ({paid}))"


def _refund_rules(s: RuleSettings) -> str:
    """Target rules refunds_of_unpaid_order_listed and refund_date_not_kept (BigCommerce) on an order's _rules."""
    out = "[]::VARCHAR[]"
    if s.applies("refunds_of_unpaid_order_listed"):
        out = (f"CASE WHEN {_refunds_not_taken(s)} THEN ['refunds_of_unpaid_order_listed'] "
               f"ELSE []::VARCHAR[] END")
    if s.applies("refund_date_not_kept"):
        out += (f" || CASE WHEN {HAS_REFUNDS} AND NOT {_refunds_not_taken(s)} "
                f"THEN ['refund_date_not_kept'] ELSE []::VARCHAR[] END")
    return out


def _item_as_fee(s: RuleSettings) -> str:
    """Target rule order_item_as_fee (WooCommerce): counted where a line has no product (the target writes it as a
    fee line)."""
    if not s.applies("order_item_as_fee"):
        return "[]::VARCHAR[]"
    return ("CASE WHEN list_bool_or(list_transform(coalesce(items, []), lambda i: i.product_id IS NULL "
            "OR list_contains(gone_ids, i.product_id))) THEN ['order_item_as_fee'] ELSE []::VARCHAR[] END")


def _refund_line_unmatched(s: RuleSettings) -> str:
    """Target rule refund_line_without_order_line (WooCommerce): counted where a refund line names no order line
    the target writes as a line item (no item id, one the order does not hold, or a line with no product: a fee
    line by order_item_as_fee)."""
    if not s.applies("refund_line_without_order_line"):
        return "[]::VARCHAR[]"
    written = ("list_transform(list_filter(coalesce(items, []), lambda i: i.product_id IS NOT NULL "
               "AND NOT list_contains(gone_ids, i.product_id)), lambda i: i.source_id)")
    return (f"CASE WHEN list_bool_or(list_transform(coalesce(refunds, []), lambda r: coalesce(list_bool_or("
            f"list_transform(coalesce(r.lines, []), lambda ln: ln.item_id IS NULL "
            f"OR NOT list_contains({written}, ln.item_id))), false))) "
            f"THEN ['refund_line_without_order_line'] ELSE []::VARCHAR[] END")


def orders_sql(con, s: RuleSettings) -> str:
    customers = transformed_ids(con, "customers")
    products = transformed_ids(con, "products")
    fields = [f.name for f in ADDRESS]
    defaults = {"first_name": s.order_first_name, "last_name": s.order_last_name, "city": s.order_city,
                "country": s.order_country}
    null_addr = _null_address(fields)
    if s.keep_guest_orders:  # link to a migrated customer with the same e-mail, else make one from the order
        guest = (f"WHEN e.source_id IS NOT NULL THEN e.source_id "
                 f"WHEN nullif(trim(email), '') IS NOT NULL THEN '{GUEST_PREFIX}' || lower(trim(email))")
    else:
        guest = ""
    return f"""
    WITH vp AS {_variant_parents(con)},
    remapped AS (
        SELECT c.* REPLACE (list_transform(coalesce(items, []), lambda i: struct_pack(
                   source_id := i.source_id, product_id := coalesce(vp.parents[i.product_id], i.product_id),
                   sku := i.sku, name := i.name, qty := i.qty, price := i.price, tax := i.tax)) AS items),
               list_bool_or(list_transform(coalesce(items, []), lambda i: vp.parents[i.product_id] IS NOT NULL))
                   AS _to_parent
        FROM cand c CROSS JOIN vp),
    -- The lines' product ids (as remapped gives them) apart from the wide rows: with gone and missing_product
    -- reading remapped, DuckDB materialised every order whole for three scans (6.8 GB spilled at 1M orders).
    line_product AS (
        SELECT l.source_id, coalesce(vp.parents[l.i.product_id], l.i.product_id) AS product_id
        FROM (SELECT source_id, unnest(items) AS i FROM cand) l CROSS JOIN vp),
    gone AS {_products_gone(con, "line_product")},
    missing_product AS (
        SELECT source_id, min(product_id) AS product_id FROM line_product
        WHERE product_id IS NOT NULL AND product_id NOT IN {products}
          AND product_id NOT IN (SELECT source_id FROM gone) GROUP BY source_id),
    by_email AS (
        SELECT lower(trim(email)) AS email_key, min(source_id) AS source_id FROM transformed_customers GROUP BY 1),
    linked AS (
        SELECT c.*, CASE WHEN customer_id IN {customers} THEN customer_id
                         WHEN mg.kept IN {customers} THEN mg.kept {guest} END AS customer_source_id,
               customer_id NOT IN {customers} AND mg.kept IN {customers} AS _merged
        FROM remapped c LEFT JOIN by_email e ON e.email_key = lower(trim(c.email))
        LEFT JOIN {_email_merged(con)} mg ON mg.source_id = c.customer_id)
    SELECT l.source_id, number AS order_number, customer_source_id, email,
           {filled("customer_first_name", s.order_first_name)} AS customer_first_name,
           {filled("customer_last_name", s.order_last_name)} AS customer_last_name,
           {_status_sql(s)} AS status, currency, subtotal, shipping, tax, discount, grand_total,
           -- refunds the target refuses (rule refunds_of_unpaid_order_listed) stay off it: listed in the report
           -- a refunded amount without a refund list (Squarespace gives only refundedTotal): one refund of it
           -- (rule refund_from_refunded_total), so the target holds the money that went back
           CASE WHEN {_refunds_not_taken(s)} THEN coalesce(refunds, [])[1:0]
                WHEN {TOTAL_ONLY} THEN [{TOTAL_REFUND}]
                ELSE coalesce(refunds, []) END
               AS refunds,
           CASE WHEN NOT {_refunds_not_taken(s)}
                THEN coalesce(refunded_total, CASE WHEN len(coalesce(refunds, [])) > 0
                                                   THEN list_sum(list_transform(refunds, lambda r: r.amount)) END)
                END AS refunded_total,
           list_transform(coalesce(items, []), lambda i: struct_pack(
               source_id := i.source_id,
               product_source_id := CASE WHEN NOT list_contains(gone_ids, i.product_id) THEN i.product_id END,
               sku := i.sku, name := i.name,
               qty := i.qty, price := i.price, tax := i.tax)) AS items,
           {_struct(f"coalesce(billing_address, {null_addr})", fields, defaults)} AS billing_address,
           {_struct(f"coalesce(shipping_address, {null_addr})", fields, defaults)} AS shipping_address,
           created_at, updated_at,
           CASE WHEN {_any_blank(f"coalesce(billing_address, {null_addr})", defaults)}
                  OR {_any_blank(f"coalesce(shipping_address, {null_addr})", defaults)}
                  OR {is_blank("customer_first_name")} OR {is_blank("customer_last_name")}
                THEN ['order_address_defaults'] ELSE []::VARCHAR[] END
             || CASE WHEN customer_source_id LIKE '{GUEST_PREFIX}%' THEN ['order_needs_customer'] ELSE []::VARCHAR[] END
             || CASE WHEN status IS NOT NULL AND lower(trim(status)) NOT IN ({_status_keys(s)})
                     THEN ['order_status_unmapped']
                     WHEN status IS NOT NULL AND {_status_sql(s)} IS DISTINCT FROM status
                     THEN ['order_status_mapping'] ELSE []::VARCHAR[] END
             || CASE WHEN _merged THEN ['customer_email_merged'] ELSE []::VARCHAR[] END
             || CASE WHEN list_bool_or(list_transform(coalesce(items, []), lambda i: list_contains(gone_ids, i.product_id)))
                     THEN ['order_item_product_gone'] ELSE []::VARCHAR[] END
             || {_item_as_fee(s)}
             || {_refund_line_unmatched(s)}
             || {_refund_rules(s)}
             || CASE WHEN {TOTAL_ONLY} AND NOT {_refunds_not_taken(s)} THEN ['refund_from_refunded_total']
                     ELSE []::VARCHAR[] END
             || CASE WHEN _to_parent THEN ['variant_listed_as_product'] ELSE []::VARCHAR[] END
               AS _rules,
           CASE WHEN customer_source_id IS NULL THEN 'order_needs_customer' END AS _skip,
           CASE WHEN _dup > 1 THEN 'duplicate source_id ' || l.source_id
                WHEN m.product_id IS NOT NULL
                THEN 'order item product ' || m.product_id || ' is quarantined or skipped' END AS _quarantine
    FROM linked l LEFT JOIN missing_product m USING (source_id)
         CROSS JOIN (SELECT coalesce(list(source_id), []::VARCHAR[]) AS gone_ids FROM gone)"""


def reviews_sql(con, s: RuleSettings) -> str:
    customers = transformed_ids(con, "customers")
    products = transformed_ids(con, "products")
    title, title_rule = "title", "[]::VARCHAR[]"
    if s.applies("review_title_required"):
        title = f"CASE WHEN {is_blank('title')} THEN {derived_title('text', 'rating')} ELSE title END"
        title_rule = f"CASE WHEN {is_blank('title')} THEN ['review_title_required'] ELSE []::VARCHAR[] END"
    status, status_rule = "coalesce(status, 'approved')", "[]::VARCHAR[]"
    if s.applies("review_status_nearest"):  # the target knows no spam or trash: rejected, kept and not shown
        status = "CASE WHEN status IN ('spam', 'trashed') THEN 'rejected' ELSE coalesce(status, 'approved') END"
        status_rule = "CASE WHEN status IN ('spam', 'trashed') THEN ['review_status_nearest'] ELSE []::VARCHAR[] END"
    if s.applies("review_rejected_as_spam"):  # the target has no rejected: spam, kept and not shown
        status = "CASE WHEN status = 'rejected' THEN 'spam' ELSE coalesce(status, 'approved') END"
        status_rule = "CASE WHEN status = 'rejected' THEN ['review_rejected_as_spam'] ELSE []::VARCHAR[] END"
    return f"""
    WITH linked AS (
        SELECT c.* REPLACE (CASE WHEN customer_id NOT IN {customers} AND mg.kept IN {customers} THEN mg.kept
                                 ELSE customer_id END AS customer_id),
               customer_id NOT IN {customers} AND mg.kept IN {customers} AS _merged
        FROM cand c LEFT JOIN {_email_merged(con)} mg ON mg.source_id = c.customer_id)
    SELECT source_id, product_id AS product_source_id, customer_id AS customer_source_id, rating, {title} AS title,
           text, {status} AS status, created_at, updated_at,
           {title_rule} || CASE WHEN _merged THEN ['customer_email_merged'] ELSE []::VARCHAR[] END
             || {status_rule} AS _rules,
           CASE WHEN product_id IS NULL OR product_id NOT IN {products}
                  OR customer_id IS NULL OR customer_id NOT IN {customers}
                THEN 'review_needs_product_and_customer' END AS _skip,
           CASE WHEN _dup > 1 THEN 'duplicate source_id ' || source_id END AS _quarantine
    FROM linked"""


BUILDERS = {
    "categories": categories_sql,
    "manufacturers": manufacturers_sql,
    "tax_classes": tax_classes_sql,
    "products": products_sql,
    "customers": customers_sql,
    "orders": orders_sql,
    "reviews": reviews_sql,
}
URL_KEY_ENTITIES = ("categories", "products")


@dataclass
class TransformResult:
    entity: str
    in_scope: int
    transformed: int
    skipped: dict[str, int]
    quarantined: int
    rules_applied: dict[str, int]


def _mark(table: str, rule: str) -> str:
    """SET clause adding `rule` to a row's _rules once (rule_counts counts each record once)."""
    r = f"{table}._rules"
    return f"_rules = CASE WHEN list_contains({r}, '{rule}') THEN {r} ELSE list_append({r}, '{rule}') END"


def suffix_until_unique(con: duckdb.DuckDBPyConnection, table: str, column: str, rule: str, sep: str = "-",
                        key: str | None = None, first_suffix: str | None = None) -> int:
    """The first record (in source-id order) keeps a value, the next get `sep`1, `sep`2, ... (or `first_suffix`,
    an SQL expression over the row, where it is not NULL). Repeats until unique, since a suffixed value may meet
    one that already ended in -1. `key` is what counts as equal (default: the column itself)."""
    key = key or column
    mark = _mark(table, rule)
    dups = (f"(SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY {ORDER_BY_ID}) AS rn FROM {table}) d "
            f"WHERE {table}.source_id = d.source_id AND d.rn > 1")
    renamed = 0
    if first_suffix:
        renamed += con.execute(f"UPDATE {table} SET {column} = d.{column} || {first_suffix}, {mark} FROM {dups} "
                               f"AND {first_suffix} IS NOT NULL").fetchone()[0]
    for _ in range(20):
        n = con.execute(f"UPDATE {table} SET {column} = d.{column} || '{sep}' || (d.rn - 1), {mark} "
                        f"FROM {dups}").fetchone()[0]
        renamed += n
        if n == 0:
            return renamed
    raise RuntimeError(f"{column} in {table} still collides after 20 rounds of suffixes")


def suffix_colliding_url_keys(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Rule url_key_suffix: colliding URL keys get -1, -2, ... in source-id order."""
    return suffix_until_unique(con, table, "url_key", "url_key_suffix")


def unique_product_names(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Rule product_name_unique: a name taken by an earlier product becomes 'Name (SKU)', else 'Name -1', ..."""
    sku = "' (' || nullif(trim(d.sku), '') || ')'"
    return suffix_until_unique(con, table, "name", "product_name_unique", sep=" -", key="lower(trim(name))",
                               first_suffix=sku)


def number_after_held(con: duckdb.DuckDBPyConnection, table: str, held: str) -> int:
    """Rule url_key_suffix against keys `held` by records outside `table` (source_id, base, url_key: what earlier
    backfill slices or a full migration loaded). Before the usual suffixing, a key whose base already has n holders
    continues their numbering (-n, -n+1, ... in source-id order), as a full migration in source-id order numbers
    them; call `settle_against_held` after it."""
    return con.execute(f"""
        UPDATE {table} SET url_key = d.url_key || '-' || (d.n + d.rn - 1), {_mark(table, 'url_key_suffix')}
        FROM (SELECT t.source_id, t.url_key, t.rn, h.n
              FROM (SELECT source_id, url_key, row_number() OVER (PARTITION BY url_key ORDER BY {ORDER_BY_ID}) AS rn
                    FROM {table}) t
              JOIN (SELECT base, count(*) AS n FROM {held} GROUP BY base) h ON h.base = t.url_key) d
        WHERE {table}.source_id = d.source_id""").fetchone()[0]


def settle_against_held(con: duckdb.DuckDBPyConnection, table: str, held: str) -> int:
    """After suffixing: a key that still equals a held one (a natural "shoe-1" meeting a suffixed "shoe-1") is
    suffixed again until no key of `table` is held or repeated, so the target never sees a duplicate."""
    renamed = 0
    for _ in range(20):
        n = con.execute(f"""UPDATE {table} SET url_key = url_key || '-1', {_mark(table, 'url_key_suffix')}
                            WHERE url_key IN (SELECT url_key FROM {held})""").fetchone()[0]
        if n == 0:
            return renamed
        renamed += n + suffix_colliding_url_keys(con, table)
    raise RuntimeError(f"URL keys in {table} still meet held keys after 20 rounds of suffixes")


def _url_keys_before_suffix(con: duckdb.DuckDBPyConnection, entity: str, target: str | None,
                            held_url_keys: str | None, table: str) -> str:
    """Rule url_key_suffix over what the target already holds. Records the base of every key (url_key_bases, for
    the load). With a `target`: a record loaded there whose base is unchanged keeps the key it holds (sticky: it
    takes no part in the suffixing), and _taken lists every key the target's records hold (plus `held_url_keys'`
    records not among them), so a new or renamed record is numbered after them and never takes a key another
    record still holds, whatever order the load writes them in. Returns the table the suffixing runs on: `table`
    itself without a target; else _fresh, the (source_id, url_key, _rules) of its records that are not sticky, for
    `_settle_fresh` to write back. Only those three columns move (a re-run's million sticky products were copied
    out of `table` whole and back, and the table sorted again)."""
    # Only the bases that changed are replaced: a re-run changes almost none, so it rewrites almost nothing of the
    # catalog (the table has no primary key: a transform's rows are one per source id by construction).
    con.execute(f"""DELETE FROM url_key_bases WHERE entity = '{entity}' AND source_id IN
                       (SELECT t.source_id FROM {table} t JOIN url_key_bases b ON b.entity = '{entity}'
                        AND b.source_id = t.source_id AND b.base IS DISTINCT FROM t.url_key)""")
    con.execute(f"""INSERT INTO url_key_bases SELECT '{entity}', source_id, url_key FROM {table}
                    WHERE source_id NOT IN (SELECT source_id FROM url_key_bases WHERE entity = '{entity}')""")
    if not target:
        return table
    holds = f"SELECT source_id, base, url_key FROM url_keys WHERE target = $target AND entity = '{entity}'"
    others = (f" UNION ALL SELECT source_id, base, url_key FROM {held_url_keys} "
              f"WHERE source_id NOT IN (SELECT source_id FROM ({holds}))") if held_url_keys else ""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _taken AS {holds}{others}", {"target": target})
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _sticky AS
                    SELECT t.source_id, k.url_key, NOT coalesce(k.url_key = k.base, false) AS suffixed
                    FROM {table} t
                    JOIN url_keys k ON k.target = $target AND k.entity = '{entity}' AND k.source_id = t.source_id
                                   AND k.base = t.url_key""", {"target": target})
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _fresh AS SELECT source_id, url_key, _rules FROM {table}
                    WHERE source_id NOT IN (SELECT source_id FROM _sticky)""")
    return "_fresh"


def _settle_fresh(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """After suffixing _fresh (see _url_keys_before_suffix): its keys and rules back into `table`, and each sticky
    record the key it holds (with url_key_suffix where that key is not its base). Only rows that change are written
    (an UPDATE of _rules moves a row to the table's end: transform_entity writes the table in source-id order)."""
    con.execute(f"""UPDATE {table} SET url_key = f.url_key, _rules = f._rules FROM _fresh f
                    WHERE {table}.source_id = f.source_id
                      AND (f.url_key IS DISTINCT FROM {table}.url_key OR f._rules IS DISTINCT FROM {table}._rules)""")
    con.execute(f"""UPDATE {table} SET url_key = k.url_key,
                           _rules = CASE WHEN k.suffixed THEN list_append({table}._rules, 'url_key_suffix')
                                         ELSE {table}._rules END
                    FROM _sticky k WHERE {table}.source_id = k.source_id
                      AND (k.suffixed OR k.url_key IS DISTINCT FROM {table}.url_key)""")
    con.execute("DROP TABLE _fresh; DROP TABLE _sticky; DROP TABLE _taken")


def _candidates(con: duckdb.DuckDBPyConnection, entity: str) -> None:
    """cand: the in-scope staged rows of `entity`, each with _dup, its place among the rows of its source id in
    staging order (1: the first; a later one is quarantined as a duplicate). Only the few source ids staged more than
    once are numbered (_dups, joined back by (source_id, _ordinal): _ordinal is a record's unique position in the
    source); a window over every staged row sorted the whole wide entity, spilling gigabytes at 1M orders. A view:
    each builder reads the staged Parquet once for its wide rows (other references take a column or two)."""
    in_scope = f"(SELECT source_id FROM scope WHERE entity = '{entity}')"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _dups AS SELECT * FROM "
                f"{repeated_ids(f'staged_{entity}', f' AND source_id IN {in_scope}')}")
    con.execute(f"""
        CREATE OR REPLACE TEMP VIEW cand AS
        SELECT s.*, coalesce(d._dup, 1) AS _dup
        FROM staged_{entity} s LEFT JOIN _dups d ON d.source_id = s.source_id AND d._ordinal = s._ordinal
        WHERE s.source_id IN {in_scope}""")


# A re-run keeps this function's output where nothing it reads changed (pipeline/reuse.py fingerprints the staged
# and transformed tables its SQL names, scope, settings, URL keys and the code): a new kind of input goes there too.
def transform_entity(con: duckdb.DuckDBPyConnection, entity: str, settings: RuleSettings,
                     held_url_keys: str | None = None, target: str | None = None) -> TransformResult:
    """`held_url_keys`: a table of URL keys records outside this transform hold on the target (a backfill slice's
    transform numbers its keys after them). `target`: the target's name; its records keep their URL keys (see
    _url_keys_before_suffix)."""
    register_functions(con)
    _candidates(con, entity)
    con.execute(f"CREATE OR REPLACE TEMP TABLE decided AS {BUILDERS[entity](con, settings)}")
    # The records a rule skips or a defect quarantines leave `decided` for _outcomes (the ledger's); what stays is
    # the entity's rows, settled in place (URL keys, unique names) and written to transformed_<entity> once, in
    # source-id order and with their hash. The wide rows are materialised once and sorted once: no copy of them
    # for the kept rows, none for sticky keys, no second sort after suffixing (an UPDATE of a list column such as
    # _rules moves the row to the table's end, so the order is made when the table is written).
    con.execute("""CREATE OR REPLACE TEMP TABLE _outcomes AS SELECT source_id, _skip, _quarantine FROM decided
                   WHERE _skip IS NOT NULL OR _quarantine IS NOT NULL""")
    con.execute("DELETE FROM decided WHERE _skip IS NOT NULL OR _quarantine IS NOT NULL")
    work = "decided"
    if entity in URL_KEY_ENTITIES:
        keys = _url_keys_before_suffix(con, entity, target, held_url_keys, work)
        held_url_keys = "_taken" if target else held_url_keys
        if held_url_keys:
            number_after_held(con, keys, held_url_keys)
        suffix_colliding_url_keys(con, keys)
        if held_url_keys:
            settle_against_held(con, keys, held_url_keys)
        if entity == "categories":  # the hidden category of rule 3 holds its key, created yet or not
            con.execute(f"CREATE OR REPLACE TEMP TABLE _reserved AS SELECT {hidden_category_key(settings)} AS url_key")
            settle_against_held(con, keys, "_reserved")
            con.execute("DROP TABLE _reserved")
        if keys != work:
            _settle_fresh(con, work)
    if entity == "products" and settings.applies("product_name_unique"):
        unique_product_names(con, work)
    # The hash covers every target column, so a later run can tell unchanged rows and write nothing. It is the md5
    # of the row's text with row_hash still NULL, as when it was set by an UPDATE after an ADD COLUMN: hashes a
    # finished migration recorded stay equal, and its re-run writes 0.
    con.execute(f"""
        CREATE OR REPLACE TABLE transformed_{entity} AS
        SELECT * REPLACE (md5(CAST(t AS VARCHAR)) AS row_hash)
        FROM (SELECT * EXCLUDE (_skip, _quarantine), NULL::VARCHAR AS row_hash FROM {work}) t
        ORDER BY {ORDER_BY_ID}""")
    ledger.clear(con, entity, "transform", "load")
    con.execute(f"""
        INSERT INTO ledger
        SELECT '{entity}', source_id, 'transform',
               CASE WHEN _quarantine IS NOT NULL THEN 'quarantined' ELSE 'skipped' END,
               CASE WHEN _quarantine IS NULL THEN _skip END, _quarantine, NULL
        FROM _outcomes""")
    in_scope = con.execute("SELECT count(*) FROM cand").fetchone()[0]
    out = con.execute(f"SELECT count(*) FROM transformed_{entity}").fetchone()[0]
    skipped = dict(con.execute(
        "SELECT _skip, count(*) FROM _outcomes WHERE _quarantine IS NULL AND _skip IS NOT NULL GROUP BY 1").fetchall())
    quarantined = con.execute("SELECT count(*) FROM _outcomes WHERE _quarantine IS NOT NULL").fetchone()[0]
    applied = dict(con.execute(
        f"SELECT r, count(*) FROM (SELECT unnest(_rules) AS r FROM transformed_{entity}) GROUP BY 1").fetchall())
    for rule, n in skipped.items():
        applied[rule] = applied.get(rule, 0) + n
    con.execute("DELETE FROM rule_counts WHERE entity = ?", [entity])
    for rule, n in applied.items():
        con.execute("INSERT INTO rule_counts VALUES (?, ?, ?)", [entity, rule, n])
    con.execute("DROP VIEW cand; DROP TABLE _dups; DROP TABLE decided; DROP TABLE _outcomes")
    return TransformResult(entity, in_scope, out, skipped, quarantined, applied)


def clear_entity(con: duckdb.DuckDBPyConnection, entity: str) -> None:
    """The entity is not selected: nothing to transform, and earlier outcomes for it are cleared."""
    con.execute(f"DROP TABLE IF EXISTS transformed_{entity}")
    con.execute("DELETE FROM rule_counts WHERE entity = ?", [entity])
    ledger.clear(con, entity, "transform", "load")
