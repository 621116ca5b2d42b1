"""Re-runs that keep what did not change: an extraction whose source files are the ones the staged copy was read
from stages nothing new, and a transform whose inputs are all the same keeps its output (issue 18).

Each extraction and transform records, with its output, a fingerprint of everything it read and digests of what
it left (`reuse_records` in the catalog). The next run computes the fingerprint again before doing the work; where
it is the same and the outputs are still as they were left, the step keeps them and returns the counts it
returned then, so the assets' metadata, the ledger, the checks and the report are those a fresh run would give.
Everything else runs as before. `force` (run config `reextract`) does the work whatever the fingerprints say.

Extraction: only sources that can tell their data unchanged without reading it (`Source.snapshot`: a store
export's files by path, size, modification time, inode and status-change time) are kept; a shop's API is read
every run. A delta always reads. A file modified less than RACY_SECONDS before the read began is read again next
time whatever its identity says (git's "racily clean" files): a write in the same clock tick as the read could
leave size and time as they were. A file that changed while it was read is read again too.

Transform, what each builder reads (pipeline/transform.py): the code (a hash of the package's sources and the
versions of DuckDB, Arrow and Python; extraction records it too), the entity, the target's name, the rule
settings, the builder's SQL as it is generated now, every staged file and upstream transformed table that SQL
names (the staged files by their SHA-256, the transformed tables by a digest of their rows' hashes, which cover
every column), and the entity's scope. URL keys (rule url_key_suffix with sticky keys, `_url_keys_before_suffix`)
also read the keys the target holds (`url_keys`), which the load changes after the transform: the output is kept
when url_keys is as it was when the output was made, or when every transformed record holds on the target exactly
the key and base the output gives it (then a fresh transform makes every record sticky and returns the same rows);
and url_key_bases must be as the output's transform left it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sys
import time
import unicodedata
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from cart_pipelines.model.canonical import staged_schema
from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.pipeline import ledger
from cart_pipelines.pipeline.extract import ExtractResult, extract_entity
from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.pipeline.staging import Staging, relation_exists
from cart_pipelines.pipeline.transform import BUILDERS, URL_KEY_ENTITIES, TransformResult, transform_entity
from cart_pipelines.platforms.kit.source import Source

PACKAGE = Path(__file__).resolve().parents[1]
RACY_SECONDS = 2  # a file modified this close to the read is read again next time (FAT's clock tick is 2 s)
EXTRACT, TRANSFORM = "extract", "transform"
_NAMED = re.compile(r"\b(staged|transformed)_([a-z_]+)\b")


def code_version() -> str:
    """A hash of the package's Python sources with the versions of the libraries and the Unicode tables they
    compute with: any change to the code that makes an output makes another fingerprint. Taken when this module is
    imported (CODE_VERSION), with the code this process runs, not what the files hold by the time a step runs."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(f"{duckdb.__version__} {pa.__version__} {sys.version} {unicodedata.unidata_version}".encode())
    return h.hexdigest()


CODE_VERSION = code_version()


def _fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: Path) -> str | None:
    if not path.exists():
        return None
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _digest(con: duckdb.DuckDBPyConnection, rows_sql: str, params=None) -> list:
    """Count and two 64-bit hash sums of the rows `rows_sql` selects (each row hashed whole): equal for the same
    set of rows, in any order."""
    return [str(v) for v in con.execute(
        f"SELECT count(*), coalesce(sum(hash(_q)::HUGEINT), 0), coalesce(bit_xor(hash(_q, 1)), 0) "
        f"FROM ({rows_sql}) _q", params or []).fetchall()[0]]


def _table_digest(con: duckdb.DuckDBPyConnection, table: str) -> list | None:
    """A transformed table's columns and the digest of its rows (source_id and row_hash: the hash covers every
    column), None where there is none."""
    if not relation_exists(con, table):
        return None
    columns = [list(r[:2]) for r in con.execute(f"DESCRIBE {table}").fetchall()]
    return [columns, _digest(con, f"SELECT source_id, row_hash FROM {table}")]


def _ledger_digest(con, entity: str, stage: str) -> list:
    """The entity's ledger rows of `stage` (the load rewrites deleted rows' `action`: left out)."""
    return _digest(con, "SELECT source_id, outcome, rule, reason FROM ledger WHERE entity = ? AND stage = ?",
                   [entity, stage])


def _record(con, step: str, entity: str) -> tuple[str, dict] | None:
    rows = con.execute("SELECT fingerprint, state FROM reuse_records WHERE step = ? AND entity = ?",
                       [step, entity]).fetchall()
    return (rows[0][0], json.loads(rows[0][1])) if rows else None


def _remember(con, step: str, entity: str, fingerprint: str, state: dict) -> None:
    con.execute("INSERT OR REPLACE INTO reuse_records (step, entity, fingerprint, state) VALUES (?, ?, ?, ?)",
                [step, entity, fingerprint, json.dumps(state, default=str)])


def forget(con, step: str, entity: str) -> None:
    con.execute("DELETE FROM reuse_records WHERE step = ? AND entity = ?", [step, entity])


# --- extraction -------------------------------------------------------------------------------------------------


def _trusted(snapshot: list, started_ns: int) -> bool:
    """Whether every file was last modified well before the read began (not racily clean)."""
    return all(f[2] < started_ns - RACY_SECONDS * 1_000_000_000 for f in snapshot)


def _counts(con, entity: str) -> list:
    return [list(r) for r in con.execute(
        "SELECT source, source_records, staged, quarantined FROM source_counts WHERE entity = ?", [entity]).fetchall()]


def extract_or_reuse(source: Source, entity: str, staging: Staging, since=None, detect_deletions: bool = False,
                     force: bool = False) -> tuple[ExtractResult, bool]:
    """`extract_entity`, or, where the source's files are those the staged copy was read from (and nothing the
    extraction depends on changed), the staged copy kept as it is: (result, whether it was kept)."""
    started = time.time_ns()
    snapshot = source.snapshot(entity) if since is None else None
    fingerprint = None if snapshot is None else _fingerprint(
        EXTRACT, CODE_VERSION, type(source).__module__, type(source).__qualname__, source.describe(), entity, snapshot,
        str(staged_schema(entity)))
    if fingerprint is not None and not force:
        kept = _reuse_extract(source, entity, staging, fingerprint)
        if kept is not None:
            return kept, True
    with staging.connect() as con:
        forget(con, EXTRACT, entity)
    res = extract_entity(source, entity, staging, since=since, detect_deletions=detect_deletions)
    if fingerprint is not None and _trusted(snapshot, started) and source.snapshot(entity) == snapshot:
        with staging.connect() as con:
            newest = con.execute("SELECT updated_at FROM watermarks_pending WHERE source = ? AND entity = ?",
                                 [source.describe(), entity]).fetchall()
            _remember(con, EXTRACT, entity, fingerprint, {
                "parquet": file_sha256(staging.parquet_path(entity)), "ledger": _ledger_digest(con, entity, EXTRACT),
                "counts": _counts(con, entity), "newest": newest[0][0].isoformat() if newest and newest[0][0] else None,
                "result": dataclasses.asdict(res)})
    return res, False


def _reuse_extract(source: Source, entity: str, staging: Staging, fingerprint: str) -> ExtractResult | None:
    """The staged copy kept, where it, its ledger rows and counts are as the extraction with `fingerprint` left
    them; what a fresh extraction of the same file would write anew (the source's unread files, the pending
    high-water mark) written as it would. None where something differs: then it is extracted again."""
    with staging.connect() as con:
        rec = _record(con, EXTRACT, entity)
    if rec is None or rec[0] != fingerprint:
        return None
    state = rec[1]
    if file_sha256(staging.parquet_path(entity)) != state["parquet"]:  # read without holding the catalog
        return None
    with staging.connect() as con:
        if _ledger_digest(con, entity, EXTRACT) != state["ledger"] or _counts(con, entity) != state["counts"]:
            return None
        staging.register(con, entity)
        con.execute("DELETE FROM source_notes WHERE entity IS NULL")
        notes = getattr(source, "unread_files", None)
        for name, why in (notes() if notes is not None else []):
            con.execute("INSERT INTO source_notes (source, file, note) VALUES (?, ?, ?)",
                        [source.describe(), name, why])
        newest = datetime.fromisoformat(state["newest"]) if state["newest"] else None
        con.execute("INSERT OR REPLACE INTO watermarks_pending VALUES (?, ?, ?)", [source.describe(), entity, newest])
    return ExtractResult(**state["result"])


# --- transform --------------------------------------------------------------------------------------------------


def _named(sql: str) -> tuple[list[str], list[str]]:
    """(staged, transformed) entities an SQL text names."""
    found = {(kind, name) for kind, name in _NAMED.findall(sql) if name in ENTITY_NAMES}
    return (sorted(n for k, n in found if k == "staged"), sorted(n for k, n in found if k == "transformed"))


def _view_sql(con, name: str) -> str | None:
    rows = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = ? AND database_name = current_database()",
                       [name]).fetchall()
    return rows[0][0] if rows else None


def transform_fingerprint(con: duckdb.DuckDBPyConnection, staging: Staging, entity: str, settings: RuleSettings,
                          target: str | None) -> str | None:
    """The fingerprint of everything `transform_entity(con, entity, settings, target=target)` reads but the URL keys
    the target holds (see `_keys_allow`); None where it cannot be told (the builder fails: the transform says why)."""
    try:
        sql = BUILDERS[entity](con, settings)
    except (RuntimeError, duckdb.Error):
        return None
    staged, transformed = _named(sql)
    staged = sorted(set(staged) | {entity})
    inputs = {}
    for name in staged:
        view = _view_sql(con, f"staged_{name}")
        path = staging.parquet_path(name)
        if view is not None and str(path.resolve()).replace("'", "''") not in view:
            return None  # the view reads another file than the staging directory's: not told apart here
        inputs[f"staged_{name}"] = [view, file_sha256(path) if view is not None else None]
    for name in transformed:
        inputs[f"transformed_{name}"] = _table_digest(con, f"transformed_{name}")
    scope = _digest(con, "SELECT source_id FROM scope WHERE entity = ?", [entity])
    return _fingerprint(TRANSFORM, CODE_VERSION, entity, target,
                        dataclasses.asdict(settings), hashlib.sha256(sql.encode()).hexdigest(), inputs, scope)


def _url_keys(con, entity: str, target: str) -> list:
    return _digest(con, "SELECT source_id, base, url_key FROM url_keys WHERE target = ? AND entity = ?",
                   [target, entity])


def _bases(con, entity: str) -> list:
    return _digest(con, "SELECT source_id, base FROM url_key_bases WHERE entity = ?", [entity])


def _all_held(con, entity: str, target: str) -> bool:
    """Whether every transformed record holds on the target the key the output gives it, from the same base, and
    only that one: then a fresh transform keeps each its key (sticky) and numbers none anew."""
    n, rows, ids, same = con.execute(f"""
        SELECT (SELECT count(*) FROM transformed_{entity}), count(*), count(DISTINCT k.source_id),
               count(*) FILTER (WHERE k.url_key = t.url_key AND k.base = b.base)
        FROM url_keys k JOIN transformed_{entity} t ON t.source_id = k.source_id
        LEFT JOIN url_key_bases b ON b.entity = k.entity AND b.source_id = k.source_id
        WHERE k.target = ? AND k.entity = ?""", [target, entity]).fetchall()[0]
    return n == rows == ids == same


def transform_or_reuse(con: duckdb.DuckDBPyConnection, staging: Staging, entity: str, settings: RuleSettings,
                       target: str | None = None, force: bool = False) -> tuple[TransformResult, bool]:
    """`transform_entity`, or its last output kept where nothing it reads changed: (result, whether kept)."""
    fingerprint = transform_fingerprint(con, staging, entity, settings, target)
    if fingerprint is not None and not force:
        kept = _reuse_transform(con, entity, target, fingerprint)
        if kept is not None:
            return kept, True
    forget(con, TRANSFORM, entity)
    keys = _url_keys(con, entity, target) if entity in URL_KEY_ENTITIES and target else None
    res = transform_entity(con, entity, settings, target=target)
    if fingerprint is not None:
        _remember(con, TRANSFORM, entity, fingerprint, {
            "output": _table_digest(con, f"transformed_{entity}"), "ledger": _ledger_digest(con, entity, TRANSFORM),
            "bases": _bases(con, entity) if entity in URL_KEY_ENTITIES else None, "url_keys": keys,
            "result": dataclasses.asdict(res)})
    return res, False


def _reuse_transform(con, entity: str, target: str | None, fingerprint: str) -> TransformResult | None:
    rec = _record(con, TRANSFORM, entity)
    if rec is None or rec[0] != fingerprint:
        return None
    state = rec[1]
    if (_table_digest(con, f"transformed_{entity}") != state["output"]
            or _ledger_digest(con, entity, TRANSFORM) != state["ledger"]):
        return None
    if entity in URL_KEY_ENTITIES:
        if _bases(con, entity) != state["bases"]:
            return None
        if target and _url_keys(con, entity, target) != state["url_keys"] and not _all_held(con, entity, target):
            return None
    res = TransformResult(**state["result"])
    # as transform_entity leaves them: its rule counts, and no load outcome yet (the load writes them anew)
    con.execute("DELETE FROM rule_counts WHERE entity = ?", [entity])
    for rule, n in res.rules_applied.items():
        con.execute("INSERT INTO rule_counts VALUES (?, ?, ?)", [entity, rule, n])
    ledger.clear(con, entity, "load")
    return res
