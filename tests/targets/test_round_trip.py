"""Round trip: generated store → source emulator → pipeline → target emulator → read back → equal to the
source after the documented rules. "After the rules" is the local reference target fed the same source with the
target platform's rules (rules.TARGET_RULES, e.g. BigCommerce's unique product names); every target must hold the
same records with the same values (on the fields it stores), zero unexplained differences.
Re-running writes nothing to the target."""

import json
from contextlib import contextmanager

import dagster as dg
import pytest
from integration.test_platform_migrations import resource_for

from cart_pipelines.definitions import build_definitions
from cart_pipelines.defs.jobs import run_config
from cart_pipelines.defs.resources import (
    LocalMystoreTarget,
    StagingResource,
    StoreExportSource,
)
from cart_pipelines.pipeline.load import REFS
from cart_pipelines.pipeline.rules import TARGET_RULES
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms import target_registry as registry
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.model.target_shape import TABLES
from cart_pipelines.sample.generator import StoreSize, generate_store

ENTITIES = list(TABLES)
# The four platform sources of issue 14 and the store export. The default suite runs one cell, woocommerce into
# Mystore (the requirement documents' target); each of the others is slow (30-100 s: every cell migrates twice
# into the target and once into the reference), and each target has its own default tests under tests/targets/.
SOURCES = ("woocommerce", "shopify", "bigcommerce", "magento", "store_export")
DEFAULT_CELLS = {("woocommerce", "mystore")}



def cases():
    for target in sorted(registry.TARGETS):
        for source in SOURCES:
            marks = [] if (source, target) in DEFAULT_CELLS else [pytest.mark.slow]
            yield pytest.param(source, target, marks=marks, id=f"{source}-to-{target}")
    # Shops that move between Mystore shops: a seeded Mystore emulator read, a second one written.
    # 100–230 s here: both sides paced at 120 requests/min per token.
    yield pytest.param("mystore", "mystore", marks=[pytest.mark.slow], id="mystore-to-mystore")


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("store")
    generate_store(d, seed=33, size=StoreSize.scaled(40))
    return d


@contextmanager
def source_resource(source, store_dir):
    if source == "store_export":
        yield StoreExportSource(path=str(store_dir))
        return
    with platforms.emulate(source, store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as handle:
        yield resource_for(source, handle)


def migrate(source, target, workdir, **settings):
    resources = {"staging": StagingResource(directory=str(workdir / "staging"),
                                            reports_directory=str(workdir / "reports")),
                 "source": source, "target": target}
    defs = build_definitions(resources)
    keys = [k for a in defs.assets for k in a.keys]
    result = defs.resolve_job_def("full_migration").execute_in_process(
        run_config=run_config(keys, mode="full", **settings), instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False)
    failed = [(e.asset_key.to_user_string(), e.check_name, e.metadata)
              for e in result.get_asset_check_evaluations() if not e.passed]
    assert result.success and not failed, failed
    return json.loads((workdir / "reports" / "migration_report.json").read_text())


def by_source_id(target) -> dict:
    """Every entity's records keyed by source id, references rewritten from target ids to source ids."""
    tables = {e: target.scan(e).to_pylist() if target.has(e) else [] for e in ENTITIES}
    ids = {e: {r["id"]: r["_source_id"] for r in rows} for e, rows in tables.items()}
    out = {}
    for entity, rows in tables.items():
        refs = {col: ref for col, (_, ref) in REFS.get(entity, {}).items()}
        records = {}
        for r in rows:
            r = {k: v for k, v in r.items() if k not in ("id", "_source_id")} | {"_source_id": r["_source_id"]}
            for col, ref in refs.items():
                r[col] = ids[ref].get(r[col], f"? {r[col]}") if r.get(col) is not None else None
            if r.get("category_ids") is not None:
                r["category_ids"] = [ids["categories"].get(c, f"? {c}") for c in r["category_ids"]]
            if r.get("items") is not None:
                r["items"] = [{**i, "product_id": ids["products"].get(i["product_id"], f"? {i['product_id']}")
                               if i["product_id"] is not None else None} for i in r["items"]]
            records[r["_source_id"]] = r
        out[entity] = records
    return out


def same(got, want) -> bool:
    """Equal, where a value the source left open (None inside an address, e.g. which address is the default)
    may be any value the target chose."""
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return all(same(g, w) for g, w in zip(got, want))
    if isinstance(want, dict) and isinstance(got, dict):
        return all(w is None or same(got.get(k), w) for k, w in want.items())
    return got == want


@pytest.mark.parametrize("source, target", list(cases()))
def test_round_trip(source, target, store_dir, tmp_path):
    comparable = getattr(registry.resource_class(target), "COMPARABLE", None)
    with source_resource(source, store_dir) as src:
        reference = LocalMystoreTarget(path=str(tmp_path / "reference.duckdb"), rules_of=target)
        migrate(src, reference, tmp_path / "ref", keep_guest_orders=True)
        with registry.emulate(target, tmp_path / "t") as (handle, tgt):
            got_report = migrate(src, tgt, tmp_path / "run", keep_guest_orders=True)
            writes = handle.emulator.writes
            again = migrate(src, tgt, tmp_path / "run", keep_guest_orders=True)
            assert handle.emulator.writes == writes, "a re-run wrote to the target"
            assert again["totals"]["created"] == again["totals"]["updated"] == 0
            got = by_source_id(tgt.open())
    want = by_source_id(reference.open())
    assert got_report["all_accounted_for"]
    # The generated store has duplicate product names and customers without names; reviews lack titles only
    # where the source platform has none (WooCommerce): each target rule must have changed records.
    expected = set(TARGET_RULES.get(target, ())) - (set() if source == "woocommerce" else {"review_title_required"})
    # spam or trashed reviews, order lines of products that are gone and unpaid orders with refunds are not in the
    # generated store: those rules have their own tests (tests/test_target_rules.py,
    # tests/targets/test_woocommerce_refunds.py, tests/targets/test_refund_dates.py)
    expected -= {"review_status_nearest", "order_item_as_fee", "refunds_of_unpaid_order_listed"}
    # Shopify and BigCommerce have no grouped product type (a Shopify product is its variants; BigCommerce's types
    # are physical and digital): such a source holds no group, so the rule that writes one as a product cannot apply
    if source in ("shopify", "bigcommerce"):
        expected -= {"grouped_as_simple_with_children_listed"}
    # Shopify variants have no status (a variant the shop stopped selling is deleted): such a source brings no
    # disabled variant for the Shopify rule to leave out, and a product whose every variant the shop stopped selling
    # comes archived with its variants (a Shopify product keeps at least one), so variants_all_disabled_archived has
    # none either; every other source serves the generated store's such product (product 23) with its variants
    # disabled
    if source == "shopify":
        expected -= {"variant_disabled_not_written", "variants_all_disabled_archived"}
    # Only Magento holds a product enabled but unpublished (its status apart from its visibility and websites);
    # WooCommerce, Shopify and BigCommerce read an unpublished product as disabled, so the Mystore rule has none
    if source != "magento":
        expected -= {"product_lifecycle_as_status"}
    # This store of 40 products has no trashed product (product 41 of every 50) and, read from WooCommerce, no
    # private one, so product_lifecycle_nearest may meet none (tests/targets/test_product_lifecycle_targets.py
    # writes every lifecycle into each target)
    expected -= {"product_lifecycle_nearest"}
    # Of these sources only BigCommerce holds rejected reviews (disapproved); WooCommerce's spam is spam
    if source != "bigcommerce":
        expected -= {"review_rejected_as_spam"}
    assert expected <= {r["rule"] for r in got_report["rules_applied"]}
    lacking = [e for e in ENTITIES if not tgt.open().has(e)]
    for entity in lacking:  # skipped by the rule target_lacks_entity, never half-written
        assert not got[entity]
        row = got_report["entities"][ENTITIES.index(entity)]
        # where the source holds some: Magento's core REST API has no product reviews, Shopify's Admin API no
        # reviews or tax classes, so such a source brings nothing to skip
        if row["source"] or source not in ("magento", "shopify"):
            assert row["skipped_by_rule"].get("target_lacks_entity"), entity
    for entity in [e for e in ENTITIES if e not in lacking]:
        fields = (comparable or {}).get(entity)
        assert set(got[entity]) == set(want[entity]), entity
        for sid, w in want[entity].items():
            g = got[entity][sid]
            keys = fields if fields is not None else [k for k in w if k != "_source_id"]
            diff = {k: (g.get(k), w.get(k)) for k in keys if not same(g.get(k), w.get(k))}
            assert not diff, (entity, sid, diff)
