"""The migration report: per entity, source records, loaded (created / updated / unchanged), skipped by rule,
quarantined with reasons — built from the ledger, written as JSON and Markdown."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from . import ledger
from .entities import ENTITY_NAMES
from .rules import RULES_BY_NAME, SCOPE_RULES

COLUMNS = ("entity", "source", "loaded", "created", "updated", "unchanged", "skipped", "quarantined", "closes")


def build(con: duckdb.DuckDBPyConnection, settings: dict | None = None) -> dict:
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
    return {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "settings": settings or {},
        "entities": entities,
        "totals": totals,
        "all_accounted_for": all(e["closes"] for e in entities),
        "rules_applied": rules,
        "created_by_rules": helpers,
        "quarantine_examples": examples,
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
    if report["rules_applied"]:
        lines += ["", "## Rules applied", "", "| entity | rule | records | what it does |", "|---|---|---|---|"]
        lines += [f"| {r['entity']} | {r['rule']} | {r['records']} | {r['description']} |"
                  for r in report["rules_applied"]]
    if report["created_by_rules"]:
        lines += ["", "Created on the target by rules: "
                  + ", ".join(f"{n} {e}" for e, n in report["created_by_rules"].items())]
    if report["quarantine_examples"]:
        lines += ["", "## Quarantined records (first 50)", "", "| entity | source id | stage | reason |",
                  "|---|---|---|---|"]
        lines += [f"| {q['entity']} | {q['source_id']} | {q['stage']} | {q['reason']} |"
                  for q in report["quarantine_examples"]]
    return "\n".join(lines) + "\n"


def write(report: dict, directory: str | Path) -> Path:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / "migration_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    path = out / "migration_report.md"
    path.write_text(markdown(report), encoding="utf-8")
    return path


def read(directory: str | Path) -> dict | None:
    path = Path(directory) / "migration_report.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
