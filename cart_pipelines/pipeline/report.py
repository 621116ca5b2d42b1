"""The migration report: per entity, source records, loaded (created / updated / unchanged), skipped by rule,
quarantined with reasons — built from the ledger, written as JSON and Markdown."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from cart_pipelines.model.coerce import RESERVED_EMAIL_DOMAINS, RESERVED_EMAIL_TLDS
from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.pipeline import ledger
from cart_pipelines.pipeline.rules import RULES_BY_NAME, SCOPE_RULES
from cart_pipelines.pipeline.staging import relation_exists
from cart_pipelines.pipeline.transform import SELLING

COLUMNS = ("entity", "source", "loaded", "created", "updated", "unchanged", "skipped", "quarantined",
           "deleted_at_source", "deleted_on_target", "closes")


def build(con: duckdb.DuckDBPyConnection, settings: dict | None = None, accepted_hashes: tuple[str, ...] = (),
          directory: str | Path | None = None, holds_refunds: bool = True) -> dict:
    """The report; with `directory`, also redirects.csv, password_resets.csv, variants_not_written.csv (where a
    target rule left variants out) and (for a target that holds no refunds, `holds_refunds` false)
    refunds_not_carried.csv there (written by DuckDB from the catalog, so no list passes through Python)."""
    listings = {"redirects": redirects_listing(con), "password_resets": password_resets_listing(con, accepted_hashes),
                "refunds_by_target_rule": refunds_by_target_rule_listing(con),
                "variants_not_written": variants_not_written_listing(con)}
    if not holds_refunds:
        listings["refunds_not_carried"] = refunds_not_carried_listing(con)
    counted, samples = {}, {}
    try:
        for name, listing in listings.items():
            ordered = materialize(con, name, listing)  # computed once: counted, written and sampled from there
            counted[name] = con.execute(f"SELECT count(*) FROM {temp_table(name)}").fetchall()[0][0]
            if directory is not None and (counted[name] or name not in OPTIONAL_CSVS):
                Path(directory).mkdir(parents=True, exist_ok=True)
                write_csv(con, Path(directory) / f"{name}.csv", listing.columns, ordered)
            if name in SAMPLED_CSVS and counted[name]:
                samples[name] = con.execute(f"{ordered} LIMIT 50").fetchall()
    finally:
        for name in listings:
            con.execute(f"DROP TABLE IF EXISTS {temp_table(name)}")
    refund_rows = samples.get("refunds_not_carried", [])
    ruled_rows = samples.get("refunds_by_target_rule", [])
    left_out = samples.get("variants_not_written", [])
    entities = [ledger.summarize(con, e).as_dict() for e in ENTITY_NAMES]
    rules = [{"entity": e, "rule": r, "records": n,
              "description": (RULES_BY_NAME[r].description if r in RULES_BY_NAME else SCOPE_RULES.get(r, ""))}
             for e, r, n in con.execute("SELECT entity, rule, records FROM rule_counts ORDER BY ALL").fetchall()]
    helpers = dict(con.execute(
        "SELECT entity, count(*) FROM id_map WHERE row_hash = 'created-by-rule' GROUP BY 1").fetchall())
    examples = [dict(zip(("entity", "source_id", "stage", "reason"), r)) for r in con.execute(
        "SELECT entity, source_id, stage, reason FROM ledger WHERE outcome = 'quarantined' "
        "ORDER BY entity, stage, source_id LIMIT 50").fetchall()]
    totals = {k: sum((e[k] or 0) for e in entities) for k in COLUMNS[1:-1]}
    not_read = [{"file": f, "why": why} for f, why in con.execute(
        "SELECT file, note FROM source_notes WHERE entity IS NULL ORDER BY file").fetchall()]
    met = [{"entity": e, "what": f, "why": why} for e, f, why in con.execute(
        "SELECT entity, file, note FROM source_notes WHERE entity IS NOT NULL ORDER BY ALL").fetchall()]
    return {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": settings or {},
        "entities": entities,
        "totals": totals,
        "all_accounted_for": all(e["closes"] for e in entities),
        "rules_applied": rules,
        "created_by_rules": helpers,
        "quarantine_examples": examples,
        "files_not_read": not_read,
        # what the source holds that no record carries, by named rule (Shift4Shop RMAs not refunded)
        "source_notes": met,
        "redirects": counted["redirects"],
        "password_resets": counted["password_resets"],
        # the target holds no refunds: these orders carry their gross total only (first 50; all in the CSV)
        "refunds_not_carried": [dict(zip(REFUND_COLUMNS, (r[0], r[1], r[2], str(r[3]), str(r[4]))))
                                for r in refund_rows],
        "refunds_not_carried_count": counted.get("refunds_not_carried", 0),
        # refunds a target rule changed (refunds_of_unpaid_order_listed: not on the target; refund_date_not_kept:
        # there, dated the day they were written), each with its source amount and date (first 50; all in the CSV)
        "refunds_by_target_rule": [dict(zip(RULED_REFUND_COLUMNS, (*r[:4], None if r[4] is None else str(r[4]),
                                                                   None if r[5] is None else str(r[5]), r[6])))
                                   for r in ruled_rows],
        "refunds_by_target_rule_count": counted["refunds_by_target_rule"],
        # variants a target rule kept off the target (variant_disabled_not_written), by product (first 50; all in
        # variants_not_written.csv)
        "variants_not_written": [dict(zip(VARIANT_COLUMNS, r)) for r in left_out],
        "variants_not_written_count": counted["variants_not_written"],
        "reserved_emails": reserved_emails(con),
        "grouped_as_simple": grouped_as_simple(con),
    }


def markdown(report: dict) -> str:
    lines = ["# Migration report", "", f"Generated {report['generated_at']}. Settings: "
             + ", ".join(f"{k}={v}" for k, v in report["settings"].items()), "",
             "| " + " | ".join(COLUMNS) + " | skipped by rule |", "|" + "---|" * (len(COLUMNS) + 1)]
    for e in report["entities"]:
        by_rule = ", ".join(f"{r}: {n}" for r, n in e["skipped_by_rule"].items()) or "-"
        lines.append("| " + " | ".join(str(e[c] if e[c] is not None else "-") for c in COLUMNS) + f" | {by_rule} |")
    t = report["totals"]
    lines.append("| **total** | " + " | ".join(str(t[c]) for c in COLUMNS[1:-1])
                 + f" | {report['all_accounted_for']} | |")
    if t.get("deleted_at_source"):
        kept = sum(e.get("kept_on_target", 0) for e in report["entities"])
        lines += ["", f"Deleted at source: {t['deleted_at_source']}, kept on target: {kept}, deleted on target: "
                      f"{t['deleted_on_target']} (option delete_on_target), never on the target: "
                      f"{t['deleted_at_source'] - kept - t['deleted_on_target']}."]
    if report.get("files_not_read"):
        lines += ["", "## Files of the source not read", ""]
        lines += [f"- `{f['file']}`: {f['why']}" for f in report["files_not_read"]]
    if report.get("source_notes"):
        lines += ["", "## Held by the source, carried by no record", ""]
        lines += [f"- {n['entity']} — {n['what']}: {n['why']}" for n in report["source_notes"]]
    if report["rules_applied"]:
        lines += ["", "## Rules applied", "", "| entity | rule | records | what it does |", "|---|---|---|---|"]
        lines += [f"| {r['entity']} | {r['rule']} | {r['records']} | {r['description']} |"
                  for r in report["rules_applied"]]
    lines += ["", f"URL redirects (old → new, for 301s): {report.get('redirects', 0)} in redirects.csv. "
              f"Customers who must reset their password: {report.get('password_resets', 0)} in password_resets.csv."]
    if report["created_by_rules"]:
        lines += ["", "Created on the target by rules: "
                  + ", ".join(f"{n} {e}" for e, n in report["created_by_rules"].items())]
    if report.get("refunds_not_carried_count"):
        lines += ["", f"## Refunds not carried ({report['refunds_not_carried_count']} orders)", "",
                  "The target holds no refunds: these orders are there with their total as placed "
                  "(all in refunds_not_carried.csv).", "", "| order | number | refunds | refunded | total |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['source_id']} | {r['order_number']} | {r['refunds']} | {r['refunded_total']} | "
                  f"{r['grand_total']} |" for r in report["refunds_not_carried"]]
    if report.get("refunds_by_target_rule_count"):
        lines += ["", f"## Refunds the target could not take as the source had them "
                      f"({report['refunds_by_target_rule_count']})", "",
                  "By target rule: `refunds_of_unpaid_order_listed` — the order is there as placed, this refund is "
                  "not (the target refuses refunds of an unpaid order); `refund_date_not_kept` — the refund is "
                  "there, dated the day it was written (all in refunds_by_target_rule.csv).", "",
                  "| order | number | rule | refund | amount | source date | reason |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {r['source_id']} | {r['order_number']} | {r['rule']} | {r['refund_id'] or '-'} | {r['amount']} "
                  f"| {r['refunded_at'] or '-'} | {r['reason'] or '-'} |" for r in report["refunds_by_target_rule"]]
    if report.get("variants_not_written_count"):
        lines += ["", f"## Variants not written ({report['variants_not_written_count']})", "",
                  "The source holds these variants disabled and the target's variants have no status (rule "
                  "variant_disabled_not_written): they are not on the target, so it does not sell them; their "
                  "products and other variants are (all in variants_not_written.csv).", "",
                  "| product | variant SKU | rule |", "|---|---|---|"]
        lines += [f"| {v['product_source_id']} | {v['variant_sku'] or '-'} | {v['rule']} |"
                  for v in report["variants_not_written"]]
    grouped = report.get("grouped_as_simple") or {}
    if grouped.get("count"):
        lines += ["", f"## Grouped products written as products of their own ({grouped['count']})", "",
                  "The target has no grouped product type (rule grouped_as_simple_with_children_listed): each "
                  "group is a product with the price the source showed, and its products are there on their own; "
                  "link them in the shop (first 50).", "", "| product | name | its products (source ids) |",
                  "|---|---|---|"]
        lines += [f"| {g['source_id']} | {g['name']} | {', '.join(g['child_ids'])} |" for g in grouped["examples"]]
    flagged = report.get("reserved_emails") or {}
    if flagged.get("count"):
        lines += ["", f"Customers with an e-mail under a reserved test domain (.test, .local, .invalid, "
                      f"example.com): {flagged['count']} (first: {', '.join(flagged['examples'])}). They were "
                      f"kept as the source holds them; no mail reaches them, and a target that checks "
                      f"deliverability refuses them."]
    if report["quarantine_examples"]:
        lines += ["", "## Quarantined records (first 50)", "", "| entity | source id | stage | reason |",
                  "|---|---|---|---|"]
        lines += [f"| {q['entity']} | {q['source_id']} | {q['stage']} | {q['reason']} |"
                  for q in report["quarantine_examples"]]
    return "\n".join(lines) + "\n"


LOADED = """(SELECT source_id FROM ledger WHERE entity = '{e}' AND stage = 'load' AND outcome = 'loaded')"""


@dataclass(frozen=True)
class Listing:
    """The rows of one report CSV: `body` selects `columns` (first, by those names) and any sort keys, in no
    order; `order` is the ORDER BY over the body's columns that the CSV is written in.

    The two are kept apart because a query that joins and sorts at once did not fit DuckDB's memory limit at a
    million products: a join's hash table stays pinned while its probe side feeds the sort, and the sort, left
    the rest, neither finished nor spilled (the redirects failed with 488 of 488 MiB used: 267 MiB hash table,
    182 MiB sort). Materialized first (`materialize`: the body alone, whose joins end and free their tables),
    the sort then reads a plain table that DuckDB can spill."""
    columns: tuple[str, ...]
    body: str
    order: str

    @property
    def sql(self) -> str:
        """The rows in order, in one query (for small catalogs and tests; `materialize` for the report)."""
        return f"SELECT {', '.join(self.columns)} FROM ({self.body}) ORDER BY {self.order}"


def temp_table(name: str) -> str:
    return f"report_{name}"


def materialize(con: duckdb.DuckDBPyConnection, name: str, listing: Listing) -> str:
    """Compute `listing`'s rows into the temp table report_<name> (unsorted, so its joins finish and free their
    memory before anything sorts); returns the query that reads them from there in the listing's order."""
    table = temp_table(name)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {listing.body}")
    return f"SELECT {', '.join(listing.columns)} FROM {table} ORDER BY {listing.order}"


def _empty(columns: tuple[str, ...], types: tuple[str, ...]) -> Listing:
    return Listing(columns, "SELECT " + ", ".join(f"NULL::{t} AS {c}" for c, t in zip(columns, types))
                   + " WHERE false", columns[0])


REDIRECT_COLUMNS = ("old_url", "new_url", "entity", "source_id")


def rows(con: duckdb.DuckDBPyConnection, name: str, listing: Listing) -> list[tuple]:
    """A listing's rows in order, read into Python (materialized first, like the report's CSVs)."""
    try:
        return con.execute(materialize(con, name, listing)).fetchall()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {temp_table(name)}")


def redirects(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    """(old URL, new URL, entity, source id) rows of redirects_listing, for a target that writes them."""
    return rows(con, "redirects", redirects_listing(con))


def redirects_listing(con: duckdb.DuckDBPyConnection) -> Listing:
    """Old URL → new URL for loaded products and categories whose URL changed: load them as 301 redirects. The old
    URL is the source's key as the last full extraction staged it, else as a backfill slice read it.

    One GROUP BY source_id over the staged keys, the transformed keys and the load's ledger rows, not joins: a
    hash join holds its whole build side (a million staged keys at 1M products) in memory while it probes, where
    DuckDB's hash aggregate partitions and spills to the temp directory within the memory limit."""
    parts = []
    for entity in ("categories", "products"):
        if not relation_exists(con, f"transformed_{entity}"):
            continue
        known = []  # _kind 0: a key the source had (_pref 0 the staged extraction, 1 a backfill slice)
        if relation_exists(con, f"staged_{entity}"):
            known.append(f"SELECT source_id, url_key, 0 AS _kind, 0 AS _pref, _ordinal FROM staged_{entity}")
        if relation_exists(con, "backfill_url_keys"):
            known.append(f"SELECT source_id, url_key, 0 AS _kind, 1 AS _pref, 0 AS _ordinal FROM backfill_url_keys "
                         f"WHERE entity = '{entity}'")
        if not known:
            continue
        rows = " UNION ALL ".join([
            *known, f"SELECT source_id, url_key, 1, 0, 0 FROM transformed_{entity}",  # 1: the key it gets
            f"SELECT source_id, NULL, 2, 0, 0 FROM ledger WHERE entity = '{entity}' AND stage = 'load' "
            f"AND outcome = 'loaded'"])  # 2: it was loaded
        parts.append(f"""
            SELECT '/' || old_key AS old_url, '/' || new_key AS new_url, '{entity}' AS entity, source_id,
                   {len(parts)} AS _part, TRY_CAST(source_id AS BIGINT) AS _n
            FROM (SELECT source_id, arg_min_null(url_key, [_pref, _ordinal]) FILTER (WHERE _kind = 0) AS old_key,
                         any_value(url_key) FILTER (WHERE _kind = 1) AS new_key,
                         count(*) FILTER (WHERE _kind = 1) AS _transformed, count(*) FILTER (WHERE _kind = 2) AS _loaded
                  FROM ({rows}) WHERE source_id IS NOT NULL GROUP BY source_id)
            WHERE _transformed > 0 AND _loaded > 0 AND old_key IS NOT NULL AND old_key <> new_key""")
    if not parts:
        return _empty(REDIRECT_COLUMNS, ("VARCHAR",) * 4)
    return Listing(REDIRECT_COLUMNS, " UNION ALL ".join(parts), "_part, _n, source_id")


PASSWORD_RESET_COLUMNS = ("source_id", "email", "reason")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def password_resets(con: duckdb.DuckDBPyConnection, accepted: tuple[str, ...]) -> list[tuple]:
    return rows(con, "password_resets", password_resets_listing(con, accepted))


def password_resets_listing(con: duckdb.DuckDBPyConnection, accepted: tuple[str, ...]) -> Listing:
    """Loaded customers whose password hash could not be carried: they must reset their password. A target that
    accepts no hash algorithm (`accepted` empty) carries none, so every loaded customer is listed."""
    if not relation_exists(con, "transformed_customers"):
        return _empty(PASSWORD_RESET_COLUMNS, ("VARCHAR",) * 3)
    # (`x NOT IN (NULL)` is NULL, never true: an empty list must not be spelled as one)
    refused = (f"lower(coalesce(password_algorithm, '')) NOT IN ({', '.join(_literal(a) for a in accepted)})"
               if accepted else "true")
    return Listing(PASSWORD_RESET_COLUMNS, f"""
        SELECT source_id, email, CASE WHEN password_hash IS NULL THEN 'no password hash in the source'
                                      ELSE 'the target does not accept ' || coalesce(password_algorithm, 'unknown')
                                           || ' hashes' END AS reason
        FROM transformed_customers
        WHERE (password_hash IS NULL OR {refused})
          AND source_id IN {LOADED.format(e='customers')}""", "TRY_CAST(source_id AS BIGINT), source_id")


REFUND_COLUMNS = ("source_id", "order_number", "refunds", "refunded_total", "grand_total")
RULED_REFUND_COLUMNS = ("source_id", "order_number", "rule", "refund_id", "amount", "refunded_at", "reason")
OPTIONAL_CSVS = ("refunds_not_carried", "refunds_by_target_rule", "variants_not_written")  # only with rows
SAMPLED_CSVS = OPTIONAL_CSVS  # their first 50 rows are in the report too
REFUND_RULES = ("refunds_of_unpaid_order_listed", "refund_date_not_kept")


def refunds_by_target_rule_listing(con: duckdb.DuckDBPyConnection) -> Listing:
    """Each refund of a loaded order that a target rule changed, as the source had it: (order source id, number,
    rule, refund source id, amount, source date, reason). An order with a refunded amount but no refund list
    (some platforms give only the amount) is one row of that amount."""
    if not (relation_exists(con, "transformed_orders") and relation_exists(con, "staged_orders")):
        return _empty(RULED_REFUND_COLUMNS, ("VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR", "DECIMAL(12,2)",
                                             "TIMESTAMPTZ", "VARCHAR"))
    ruled = " OR ".join(f"list_contains(_rules, '{r}')" for r in REFUND_RULES)
    return Listing(RULED_REFUND_COLUMNS, f"""
        SELECT t.source_id, t.order_number, t.rule, s.r.source_id AS refund_id,
               coalesce(s.r.amount, s.refunded_total) AS amount, s.r.created_at AS refunded_at, s.r.reason AS reason
        FROM (SELECT source_id, order_number,
                     CASE WHEN list_contains(_rules, '{REFUND_RULES[0]}') THEN '{REFUND_RULES[0]}'
                          ELSE '{REFUND_RULES[1]}' END AS rule
              FROM transformed_orders WHERE ({ruled}) AND source_id IN {LOADED.format(e='orders')}) t
        JOIN (SELECT o.source_id, o.refunded_total, u.r
              FROM (SELECT source_id, refunded_total, refunds FROM staged_orders
                    WHERE source_id IN (SELECT source_id FROM transformed_orders WHERE {ruled})
                    QUALIFY row_number() OVER (PARTITION BY source_id ORDER BY _ordinal) = 1) o
              LEFT JOIN LATERAL (SELECT unnest(o.refunds) AS r) u ON true) s ON s.source_id = t.source_id""",
                   "TRY_CAST(source_id AS BIGINT), source_id, refunded_at, refund_id")


def refunds_not_carried_listing(con: duckdb.DuckDBPyConnection) -> Listing:
    """Loaded orders with refunds, for a target that holds none: (source id, number, refunds, refunded, total)."""
    if not relation_exists(con, "transformed_orders"):
        return _empty(REFUND_COLUMNS, ("VARCHAR", "VARCHAR", "BIGINT", "DECIMAL(12,2)", "DECIMAL(12,2)"))
    return Listing(REFUND_COLUMNS, f"""
        SELECT source_id, order_number, len(refunds) AS refunds, refunded_total, grand_total FROM transformed_orders
        WHERE coalesce(refunded_total, 0) > 0 AND source_id IN {LOADED.format(e='orders')}""",
                   "TRY_CAST(source_id AS BIGINT), source_id")


VARIANT_COLUMNS = ("product_source_id", "variant_sku", "rule")
VARIANT_RULE = "variant_disabled_not_written"


def variants_not_written_listing(con: duckdb.DuckDBPyConnection) -> Listing:
    """Each variant a target rule left out of a loaded product, as the source staged it: (product source id,
    variant SKU, rule), in product then variant order. The transformed product holds only what was written, so
    the variants come from the product's staged row (the one the transform read: the first staged)."""
    if not (relation_exists(con, "transformed_products") and relation_exists(con, "staged_products")):
        return _empty(VARIANT_COLUMNS, ("VARCHAR", "VARCHAR", "VARCHAR"))
    return Listing(VARIANT_COLUMNS, f"""
        SELECT source_id AS product_source_id, v.sku AS variant_sku, '{VARIANT_RULE}' AS rule, k
        FROM (SELECT source_id, unnest(variants) AS v, generate_subscripts(variants, 1) AS k
              FROM (SELECT source_id, variants FROM staged_products
                    WHERE source_id IN (SELECT source_id FROM transformed_products
                                        WHERE list_contains(_rules, '{VARIANT_RULE}'))
                      AND source_id IN {LOADED.format(e='products')}
                    QUALIFY row_number() OVER (PARTITION BY source_id ORDER BY _ordinal) = 1))
        WHERE NOT ({SELLING})""", "TRY_CAST(product_source_id AS BIGINT), product_source_id, k")


# SQL twin of model.coerce.reserved_email_domain over a whole table at once, from the same lists of names
RESERVED_EMAIL_SQL = ("regexp_matches(lower(rtrim(trim(email), '.')), '@(.+\\.)?("
                      + "|".join(d.replace(".", "\\.") for d in RESERVED_EMAIL_DOMAINS)
                      + "|[^@]*\\.(" + "|".join(RESERVED_EMAIL_TLDS) + "))$')")


def grouped_as_simple(con: duckdb.DuckDBPyConnection) -> dict:
    """Loaded grouped products a target without a grouped type holds as products of their own (rule
    grouped_as_simple_with_children_listed): how many, and the first 50 with their products' source ids."""
    if not relation_exists(con, "transformed_products"):
        return {"count": 0, "examples": []}
    where = (f"list_contains(_rules, 'grouped_as_simple_with_children_listed') "
             f"AND source_id IN {LOADED.format(e='products')}")
    count = con.execute(f"SELECT count(*) FROM transformed_products WHERE {where}").fetchall()[0][0]
    rows = con.execute(f"SELECT source_id, name, coalesce(child_source_ids, []) FROM transformed_products "
                       f"WHERE {where} ORDER BY TRY_CAST(source_id AS BIGINT), source_id LIMIT 50").fetchall()
    return {"count": count, "examples": [{"source_id": r[0], "name": r[1], "child_ids": list(r[2])} for r in rows]}


def reserved_emails(con: duckdb.DuckDBPyConnection) -> dict:
    """Loaded customers whose e-mail is under a reserved test domain: kept (the source accepted them), flagged."""
    if not relation_exists(con, "transformed_customers"):
        return {"count": 0, "examples": []}
    where = f"{RESERVED_EMAIL_SQL} AND source_id IN {LOADED.format(e='customers')}"
    count = con.execute(f"SELECT count(*) FROM transformed_customers WHERE {where}").fetchone()[0]
    rows = con.execute(f"""SELECT source_id FROM transformed_customers WHERE {where}
                           ORDER BY TRY_CAST(source_id AS BIGINT), source_id LIMIT 10""").fetchall()
    return {"count": count, "examples": [r[0] for r in rows]}


def write_csv(con: duckdb.DuckDBPyConnection, path: Path, header: tuple, sql: str) -> None:
    """The rows of `sql` as CSV with `header`, written by DuckDB (a header line even when there are none)."""
    names = ", ".join(f'"{h}"' for h in header)
    literal = str(path).replace("'", "''")
    con.execute(f"COPY (SELECT * FROM ({sql}) AS r({names})) TO '{literal}' (FORMAT csv, HEADER)")


MIGRATION, DRY_RUN = "migration_report", "dry_run_report"
PLAN_COLUMNS = ("create", "update", "unchanged", "delete", "flag_deleted_at_source")


def dry_run(con: duckdb.DuckDBPyConnection, settings: dict | None = None) -> dict:
    """What the next load would do per entity (from the dry run's plans), with what the rules skip or quarantine."""
    plans = {e: json.loads(p) for e, p in con.execute("SELECT entity, plan FROM dry_run_plan").fetchall()}
    con.execute("DELETE FROM dry_run_plan")
    entities = []
    for e in ENTITY_NAMES:
        if e in plans:
            s = ledger.summarize(con, e)
            entities.append({"entity": e, **{c: plans[e].get(c, 0) for c in PLAN_COLUMNS},
                             "skipped": s.skipped_total, "quarantined": s.quarantined})
    return {"generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "dry_run": True,
            "settings": settings or {}, "entities": entities,
            "totals": {c: sum(e[c] for e in entities) for c in (*PLAN_COLUMNS, "skipped", "quarantined")}}


def dry_run_markdown(plan: dict) -> str:
    cols = ("entity", *PLAN_COLUMNS, "skipped", "quarantined")
    lines = ["# Dry run: what the next load would do", "", "Nothing was written to the target; high-water marks and "
             "the id map are unchanged. Settings: " + ", ".join(f"{k}={v}" for k, v in plan["settings"].items()), "",
             "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(e[c]) for c in cols) + " |" for e in plan["entities"]]
    lines.append("| **total** | " + " | ".join(str(plan["totals"][c]) for c in cols[1:]) + " |")
    return "\n".join(lines) + "\n"


def write(report: dict, directory: str | Path, name: str = MIGRATION) -> Path:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    path = out / f"{name}.md"
    path.write_text(dry_run_markdown(report) if report.get("dry_run") else markdown(report), encoding="utf-8")
    return path


def read(directory: str | Path, name: str = MIGRATION) -> dict | None:
    path = Path(directory) / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def promote_watermarks(con: duckdb.DuckDBPyConnection) -> dict:
    """The run's loads and checks succeeded: its proposed high-water marks become the marks deltas start from.
    A mark never moves back (a delta with no changes proposes none)."""
    con.execute("""
        INSERT OR REPLACE INTO watermarks (source, entity, updated_at)
        SELECT p.source, p.entity, CASE WHEN w.updated_at IS NULL THEN p.updated_at
                                        WHEN p.updated_at IS NULL THEN w.updated_at
                                        ELSE greatest(w.updated_at, p.updated_at) END
        FROM watermarks_pending p LEFT JOIN watermarks w USING (source, entity)""")
    con.execute("DELETE FROM watermarks_pending")
    return {e: str(t) for e, t in con.execute("SELECT entity, updated_at FROM watermarks ORDER BY 1").fetchall()}
