"""Re-runs keep what did not change (issue 18, pipeline/reuse.py): an unchanged store-export file is not read again
and a transform whose inputs are all the same keeps its output; anything changed is done again, and what a kept
step leaves is what a fresh one would have made."""

import json
import os
import time

import dagster as dg
import pytest

from cart_pipelines.definitions import build_definitions
from cart_pipelines.defs.jobs import run_config
from cart_pipelines.defs.resources import default_resources
from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.pipeline import reuse
from cart_pipelines.pipeline.extract import extract_entity
from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.pipeline.scope import compute_scope
from cart_pipelines.pipeline.transform import transform_entity
from cart_pipelines.pipeline.staging import Staging
from cart_pipelines.platforms.kit.source import Source, SourceRecord
from cart_pipelines.platforms.store_export.source import StoreExport

HOUR_AGO = time.time() - 3600


def age(directory, when=HOUR_AGO):
    """The export's files as an export written earlier has them: modified well before the run (a file modified
    within reuse.RACY_SECONDS of the read is read again next time, whatever its identity says)."""
    for path in directory.iterdir():
        os.utime(path, (when, when))
    return directory


def steps(result) -> dict:
    """{asset key: whether the step kept its earlier output} for every extract and transform of a Dagster run."""
    out = {}
    for event in result.get_asset_materialization_events():
        m = event.event_specific_data.materialization
        if "unchanged_reused" in m.metadata:
            out[m.asset_key.to_user_string()] = m.metadata["unchanged_reused"].value
    return out


def catalog_state(run) -> dict:
    """What the steps leave in the catalog for later ones and the report: the ledger, rule counts, source counts,
    URL-key bases and every transformed table, row for row in table order."""
    state = {
        "ledger": run.query("SELECT * FROM ledger ORDER BY ALL"),
        "rule_counts": run.query("SELECT * FROM rule_counts ORDER BY ALL"),
        "source_counts": run.query("SELECT entity, source, source_records, staged, quarantined FROM source_counts "
                                   "ORDER BY ALL"),
        "url_key_bases": run.query("SELECT * FROM url_key_bases ORDER BY ALL"),
        "watermarks_pending": run.query("SELECT * FROM watermarks_pending ORDER BY ALL"),
    }
    for e in ENTITY_NAMES:
        state[e] = run.query(f"SELECT * FROM transformed_{e} ORDER BY rowid")
    return state


@pytest.mark.slow
def test_unchanged_rerun_keeps_extract_and_transform_writes_nothing_and_reports_the_same(tmp_path, store):
    """The Dagster job twice on the same export: the second run reads no file and transforms nothing again, writes
    0 rows, passes every check, and its report equals that of a second run that does all the work (reextract)."""
    export = age(store())
    defs = build_definitions(default_resources(tmp_path / "data", str(export)))
    keys = [k for a in defs.assets for k in a.keys]
    instance = dg.DagsterInstance.ephemeral()

    def migrate(**settings):
        res = defs.resolve_job_def("full_migration").execute_in_process(
            run_config=run_config(keys, **settings), instance=instance, raise_on_error=False)
        failed = [e.check_name for e in res.get_asset_check_evaluations() if not e.passed]
        assert res.success and not failed, failed
        report = json.loads((tmp_path / "data" / "reports" / "migration_report.json").read_text())
        report.pop("generated_at")
        return res, report

    first, _ = migrate()
    assert set(steps(first).values()) == {False} and len(steps(first)) == 2 * len(ENTITY_NAMES)
    second, report = migrate()
    assert steps(second) == {k: True for k in steps(first)}
    meta = {e: second.asset_materializations_for_node(f"extract__{e}")[0].metadata for e in ENTITY_NAMES}
    assert all(m["read_in_this_run"].value == 0 for m in meta.values())
    assert meta["products"]["source_records"].value == meta["products"]["dagster/row_count"].value == 1
    assert report["totals"]["created"] == report["totals"]["updated"] == 0 and report["all_accounted_for"]
    assert report["totals"]["unchanged"] == report["totals"]["loaded"] > 0
    forced, forced_report = migrate(reextract=True)
    assert set(steps(forced).values()) == {False}
    assert report == forced_report


@pytest.mark.slow
def test_rerun_keeps_every_outcome_a_fresh_run_makes(tmp_path, store, run):
    """Quarantined, skipped and loaded records alike: after a kept re-run the catalog (ledger, counts, transformed
    rows) is what a re-run doing all the work leaves, and the report adds up the same."""
    bad = {"source_id": "9", "sku": "B-9", "name": "Uten pris", "price": "gratis"}  # quarantined at extraction
    store.records["products"].append(bad)
    store.records["orders"].append({**store.records["orders"][0], "source_id": "2", "customer_id": None,
                                    "email": None})  # skipped: order_needs_customer
    export = age(store())
    r = run(export)
    r(reuse=True)
    first = r.report()
    assert first["totals"]["quarantined"] >= 1 and first["totals"]["skipped"] >= 1
    r(reuse=True)
    assert set(r.reused.values()) == {True}
    kept, kept_report = catalog_state(r), r.report()
    r(reuse=True, reextract=True)
    assert set(r.reused.values()) == {False}
    assert catalog_state(r) == kept
    fresh_report = r.report()
    for rep in (first, kept_report, fresh_report):
        rep.pop("generated_at")
    assert kept_report == fresh_report
    moved = ("created", "unchanged")  # the first run created what the later ones find unchanged
    assert {k: v for k, v in first["totals"].items() if k not in moved} == \
        {k: v for k, v in kept_report["totals"].items() if k not in moved}
    assert kept_report["totals"]["unchanged"] == first["totals"]["created"]


@pytest.mark.parametrize("restore_mtime", [False, True], ids=["new-mtime", "mtime-restored"])
def test_touched_export_file_is_read_again(tmp_path, store, run, restore_mtime):
    """A content change of the same size is read again: by its new modification time, or, where the time was put
    back as it was (cp -p, touch -d), by its status-change time."""
    export = age(store())
    r = run(export)
    r(reuse=True)
    path = export / "products.jsonl"
    before = os.stat(path)
    text = path.read_text(encoding="utf-8")
    assert "Blå genser" in text
    path.write_text(text.replace("Blå genser", "Blå gensar"), encoding="utf-8")  # same size
    assert os.stat(path).st_size == before.st_size
    if restore_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:
        os.utime(path, (HOUR_AGO + 60, HOUR_AGO + 60))
    loads = r(reuse=True)
    assert r.reused[("extract", "products")] is False and r.reused[("extract", "orders")] is True
    assert r.reused[("transform", "products")] is False
    assert r.reused[("transform", "categories")] is True
    assert [p["name"] for p in r.target_rows("products")] == ["Blå gensar"]
    assert loads["products"].updated == 1 and loads["orders"].writes == 0
    assert r.report()["all_accounted_for"]


def test_a_file_modified_just_before_the_read_is_read_again(tmp_path, store):
    """Racily clean: a file written in the clock tick of the read could change again with size and time as they
    were, so its identity is not trusted: the next run reads it again."""
    export = age(store())
    source, staging = StoreExport(export), Staging(tmp_path / "staging")
    os.utime(export / "orders.jsonl", None)  # just now
    assert [reuse.extract_or_reuse(source, "orders", staging)[1] for _ in range(2)] == [False, False]
    assert [reuse.extract_or_reuse(source, "products", staging)[1] for _ in range(2)] == [False, True]


class ListSource(Source):
    """A source with no way to tell its data unchanged (as a shop's API): records from a list, counted."""

    platform = "listed"

    def __init__(self, records: dict):
        self.data, self.reads = records, 0

    def describe(self) -> str:
        return "listed records"

    def records(self, entity):
        self.reads += 1
        for i, rec in enumerate(self.data.get(entity, []), 1):
            yield SourceRecord(i, rec, None, str(rec["source_id"]))


def test_a_source_without_a_snapshot_is_read_every_run(tmp_path, store):
    src = ListSource(store.records)
    staging = Staging(tmp_path / "staging")
    for _ in range(2):
        res, kept = reuse.extract_or_reuse(src, "products", staging)
        assert not kept and res.staged == 1
    assert src.reads == 2


# --- the transform on its own: each input it reads, changed alone, makes it transform again ----------------------


def _rows(con, entity):
    return con.execute(f"SELECT * FROM transformed_{entity} ORDER BY rowid").fetchall()


def _outcomes(con, entity):
    return (con.execute("SELECT * FROM ledger WHERE entity = ? AND stage = 'transform' ORDER BY ALL",
                        [entity]).fetchall(),
            con.execute("SELECT * FROM rule_counts WHERE entity = ? ORDER BY ALL", [entity]).fetchall(),
            con.execute("SELECT * FROM url_key_bases WHERE entity = ? ORDER BY ALL", [entity]).fetchall())


def _transform_all(con, staging, settings, target, entities=ENTITY_NAMES):
    return {e: reuse.transform_or_reuse(con, staging, e, settings, target=target)[1] for e in entities}


def _fresh(con, entity, settings, target):
    """What transform_entity makes of the catalog as it is now (on the same connection, so the same inputs)."""
    transform_entity(con, entity, settings, target=target)
    return _rows(con, entity), _outcomes(con, entity)


@pytest.fixture
def loaded(tmp_path, store, run):
    """A store with colliding URL keys and an e-mail merge, migrated once: the target holds the keys now."""
    store.records["products"].append({**store.records["products"][0], "source_id": "2", "sku": "A-2"})  # same key
    store.records["customers"].append({**store.records["customers"][0], "source_id": "2"})  # same e-mail
    r = run(age(store()))
    r(reuse=True)
    assert r.query("SELECT count(*) FROM url_keys WHERE entity = 'products'")[0][0] == 2
    return r


def test_unchanged_inputs_keep_the_output_byte_for_byte(loaded):
    """After the load the target holds the keys the output gave (url_keys changed): kept all the same, and equal,
    row for row, to what a fresh transform makes now."""
    settings = RuleSettings()
    with loaded.staging.connect() as con:
        compute_scope(con, ENTITY_NAMES)
        kept = _transform_all(con, loaded.staging, settings, loaded.target.name)
        assert set(kept.values()) == {True}
        for e in ENTITY_NAMES:
            rows, outcomes = _rows(con, e), _outcomes(con, e)
            assert len(rows) > 0 or e == "reviews"
            assert _fresh(con, e, settings, loaded.target.name) == (rows, outcomes), e


def _change_staged(con, r):
    """A staged record changes (its file rewritten): product 1 costs 100 more."""
    path = r.staging.parquet_path("products")
    tmp = path.with_name("part-changed.parquet")
    con.execute(f"COPY (SELECT * REPLACE (CASE WHEN source_id = '1' THEN price + 100 ELSE price END AS price) "
                f"FROM read_parquet('{path}')) TO '{tmp}' (FORMAT parquet)")
    os.replace(tmp, path)


def _change_held_key(con, r):
    """The target holds another key for product 1 (as another tool or an earlier run left it): sticky, it stays."""
    con.execute("UPDATE url_keys SET url_key = 'annen-genser' WHERE entity = 'products' AND source_id = '1'")


def _change_scope(con, r):
    compute_scope(con, ENTITY_NAMES, "demo", demo_size=1)


CHANGES = {
    # the input changed alone → (how, the entities that must transform again, exactly those?, this run's settings)
    "staged record": (_change_staged, {"products", "orders", "reviews"}, True, RuleSettings()),
    "url key held on the target": (_change_held_key, {"products", "orders", "reviews"}, True, RuleSettings()),
    # the settings are one input of every entity's transform (some read few of them: all are made again)
    "rule setting": (None, {"orders"}, False, RuleSettings(order_first_name="Ukjent")),
    "target rules": (None, set(ENTITY_NAMES), True, RuleSettings(target_platform="shopify")),
    "scope demo vs full": (_change_scope, {"products", "customers", "orders"}, False, RuleSettings()),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_changed_input_makes_the_transform_run_again(loaded, change):
    """Each input changed alone: the entities that read it (and those downstream) transform again, the others keep
    their output; and every table, kept or made, is what a fresh transform of the catalog makes now."""
    do, again, exactly, settings = CHANGES[change]
    target = loaded.target.name
    with loaded.staging.connect() as con:
        compute_scope(con, ENTITY_NAMES)
        if do is not None:
            do(con, loaded)
        kept = _transform_all(con, loaded.staging, settings, target)
        made_again = {e for e, k in kept.items() if not k}
        assert made_again == again if exactly else made_again >= again, made_again
        for e in ENTITY_NAMES:
            rows, outcomes = _rows(con, e), _outcomes(con, e)
            assert _fresh(con, e, settings, target) == (rows, outcomes), e
        if change == "url key held on the target":
            assert con.execute("SELECT url_key FROM transformed_products WHERE source_id = '1'").fetchall() == \
                [("annen-genser",)]


def test_an_output_changed_by_something_else_is_made_again(loaded):
    """A transformed table written by another step (a backfill slice merges into it) is no output of the recorded
    inputs: transformed again, not kept."""
    with loaded.staging.connect() as con:
        compute_scope(con, ENTITY_NAMES)
        con.execute("UPDATE transformed_customers SET first_name = 'X', row_hash = md5('x') WHERE source_id = '1'")
        res, kept = reuse.transform_or_reuse(con, loaded.staging, "customers", RuleSettings(),
                                             target=loaded.target.name)
        assert not kept and con.execute("SELECT first_name FROM transformed_customers WHERE source_id = '1'"
                                        ).fetchall() == [("Kari",)]


def test_a_staged_file_rewritten_by_another_extraction_is_read_by_the_transform(loaded):
    """extract_entity called without the reuse wrapper (a test, a tool) writes a new staged file and drops the
    transformed table: the record cannot vouch for it."""
    with loaded.staging.connect() as con:
        compute_scope(con, ENTITY_NAMES)
        assert all(_transform_all(con, loaded.staging, RuleSettings(), loaded.target.name).values())
    extract_entity(loaded.source, "customers", loaded.staging)
    with loaded.staging.connect() as con:
        compute_scope(con, ENTITY_NAMES)
        kept = _transform_all(con, loaded.staging, RuleSettings(), loaded.target.name)
    assert not kept["customers"] and kept["products"]
