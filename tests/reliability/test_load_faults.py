"""Loads under injected write faults: a full migration, then a delta after the source changed, from WooCommerce
into each target's emulator answering writes with a seeded mix of 429s, 5xx (before and after the write was applied),
dropped connections, slow answers, expired access tokens, and records it rejects. Afterwards the target equals the
source after the rules (the round-trip comparison of tests/targets/test_round_trip.py, less what the target
rejected), the ledger closes, and no record exists twice."""

from __future__ import annotations

import collections
import json

import dagster as dg
import duckdb
import pytest
from integration.test_platform_migrations import resource_for
from targets.test_round_trip import ENTITIES, by_source_id, same

from cart_pipelines.definitions import build_definitions
from cart_pipelines.defs.jobs import run_config
from cart_pipelines.defs.resources import LocalMystoreTarget, StagingResource
from cart_pipelines.pipeline.rules import GUEST_PREFIX, HIDDEN_CATEGORY_ID
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms import target_registry as registry
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.mystore import facts as mystore_facts
from cart_pipelines.sample.generator import StoreSize, generate_store

from . import figures

MIX = {"429": 0.05, "500": 0.03, "503": 0.03, "applied_500": 0.06, "applied_502": 0.04, "drop": 0.05,
       "slow": 0.03, "expire_token": 0.04}
REJECT = 0.03
CI_SEED = 1
# Resource settings per (target, seed): one Shopify seed writes through bulk mutations (a lost start too).
SETTINGS = {("shopify", 2): {"bulk_threshold": 2}}


def cases():
    """(target, seed, products in the store): one small case in every CI run, the rest marked slow."""
    yield pytest.param("mystore", CI_SEED, 8, id=f"mystore-seed{CI_SEED}")
    for seed in (2, 3, 4):
        yield pytest.param("mystore", seed, 30, marks=pytest.mark.slow, id=f"mystore-seed{seed}")
    for target in sorted(set(registry.TARGETS) - {"mystore"}):
        for seed in (1, 2):
            yield pytest.param(target, seed, 20, marks=pytest.mark.slow, id=f"{target}-seed{seed}")


def run_job(source, target, workdir, job: str, mode: str) -> dict:
    resources = {"staging": StagingResource(directory=str(workdir / "staging"),
                                            reports_directory=str(workdir / "reports")),
                 "source": source, "target": target}
    defs = build_definitions(resources)
    keys = [k for a in defs.assets for k in a.keys]
    result = defs.resolve_job_def(job).execute_in_process(
        run_config=run_config(keys, mode=mode, keep_guest_orders=True), instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False)
    failed = [(e.asset_key.to_user_string(), e.check_name, e.metadata)
              for e in result.get_asset_check_evaluations() if not e.passed]
    assert result.success and not failed, failed
    return json.loads((workdir / "reports" / "migration_report.json").read_text())


def change_source(store: EmulatorStore) -> int:
    """What a shop does between the full migration and the delta: edits and new records."""
    changed = 0
    for entity in ("products", "customers"):
        for rec in store.page(entity, 0, 3):
            store.put(entity, {**rec, "name": rec.get("name", "") + " (ny)"} if entity == "products"
                      else {**rec, "first_name": "Endret"})
            changed += 1
    # A platform never reuses an id: the new customer's is past those orders of deleted customers still hold
    held = [int(o["customer_id"]) for o in store.page("orders", 0, 10**6) if o.get("customer_id")]
    new_id = max([store.next_id("customers"), *(i + 1 for i in held)])
    new = dict(store.page("customers", 0, 1)[0])
    new.update(source_id=str(new_id), email=f"ny.kunde.{new_id}@example.no")
    store.put("customers", new)
    return changed + 1


def load_quarantined(workdir) -> dict[str, dict[str, str]]:
    con = duckdb.connect(str(workdir / "staging" / "catalog.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT entity, source_id, reason FROM ledger WHERE stage = 'load' "
                           "AND outcome = 'quarantined'").fetchall()
    finally:
        con.close()
    out: dict[str, dict[str, str]] = collections.defaultdict(dict)
    for entity, sid, reason in rows:
        out[entity][sid] = reason
    return out


def judged_by(target: str, entity: str, sid: str, record: dict) -> str:
    """The key a target emulator's content rules judge a record by (Knobs.reject_rate): its source id, except on
    Mystore, which keeps none and judges a customer by its e-mail, a category by its slug (emulator.py, `identity`)."""
    if target != "mystore":
        return f"{entity}:{sid}"
    if entity == "categories":
        return f"categories:{json.dumps({'no': record['url_key']}, sort_keys=True)}"
    return f"{entity}:{json.dumps(record['email'])}"


@pytest.mark.parametrize("target, seed, products", list(cases()))
def test_full_and_delta_under_write_faults(target, seed, products, tmp_path, monkeypatch):
    # Mystore sends no Retry-After: its client waits RETRY_429_AFTER_S (5 s) after each 429. Which wait is
    # incidental here (a 429 is retried with whatever wait; test_429_storm_is_ridden_out[mystore] waits the real one).
    monkeypatch.setattr(mystore_facts, "RETRY_429_AFTER_S", 0.2)
    store_dir = tmp_path / "store"
    generate_store(store_dir, seed=40 + seed, size=StoreSize.scaled(products))
    store = EmulatorStore(store_dir)
    knobs = Knobs(rate_limit=False, write_faults=MIX, fault_seed=seed, slow_s=0.3, reject_rate=REJECT)
    with platforms.emulate("woocommerce", store=store, knobs=Knobs(rate_limit=False)) as src_handle:
        source = resource_for("woocommerce", src_handle)
        with registry.emulate(target, tmp_path / "t", knobs=knobs) as (handle, tgt):
            if (target, seed) in SETTINGS:
                tgt = type(tgt)(**{**{k: getattr(tgt, k) for k in type(tgt).model_fields},
                                   **SETTINGS[(target, seed)]})
            full = run_job(source, tgt, tmp_path / "run", "full_migration", "full")
            changed = change_source(store)
            delta = run_job(source, tgt, tmp_path / "run", "delta_sync", "delta")
            opened = tgt.open()
            got = by_source_id(opened)
            # by_source_id keeps one record per source id: count them on the target itself
            held = {e: collections.Counter(r["_source_id"] for r in opened.scan(e).to_pylist())
                    for e in ENTITIES if opened.has(e)}
            emulator = handle.emulator
        reference = LocalMystoreTarget(path=str(tmp_path / "reference.duckdb"), rules_of=target)
        run_job(source, reference, tmp_path / "ref", "full_migration", "full")
    want = by_source_id(reference.open())

    assert full["all_accounted_for"] and delta["all_accounted_for"]
    duplicates = {e: [sid for sid, n in counts.items() if n > 1] for e, counts in held.items()}
    assert not any(duplicates.values()), duplicates
    rejected = load_quarantined(tmp_path / "run")
    reasons = [r for per in rejected.values() for r in per.values()]
    assert all(r.startswith(("target rejected:", "reference not loaded:")) for r in reasons), reasons
    assert any("refused by the store's content rules" in r for r in reasons), "no rejection was tried"
    comparable = getattr(registry.resource_class(target), "COMPARABLE", None) or {}
    lost = 0
    for entity in held:
        # Records the rules create (customers from guest orders, the hidden category of uncategorised products) have
        # no ledger row of their own: the ones the target refused are known from its decision; the records that
        # needed them are quarantined ("reference not loaded"), checked above.
        refused_helpers = {sid for sid in want[entity] if (sid.startswith(GUEST_PREFIX) or sid == HIDDEN_CATEGORY_ID)
                           and emulator.rejects(judged_by(target, entity, sid, want[entity][sid]))}
        expected = set(want[entity]) - set(rejected.get(entity, {})) - refused_helpers
        missing, extra = expected - set(got[entity]), set(got[entity]) - expected
        lost += len(missing)
        assert not missing and not extra, (entity, sorted(missing)[:5], sorted(extra)[:5])
        for sid in expected:
            w, g = want[entity][sid], got[entity][sid]
            keys = comparable.get(entity) or [k for k in w if k != "_source_id"]
            diff = {k: (g.get(k), w.get(k)) for k in keys if not same(g.get(k), w.get(k))}
            assert not diff, (entity, sid, diff)
    assert sum(emulator.faults_by_kind.values()) > 0
    figures.record("load_faults", f"{target}-seed{seed}", target=target, seed=seed, runs=2,
                   faults=dict(emulator.faults_by_kind), records=sum(len(v) for v in want.values()),
                   changed_for_delta=changed, lost=lost, duplicates=sum(map(len, duplicates.values())),
                   quarantined_by_target=len(reasons))
