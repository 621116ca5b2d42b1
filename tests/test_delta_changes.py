"""Delta migrations against a live WooCommerce emulator: records deleted at the source (reported, or deleted on the
target when configured), and records inserted, updated and deleted while pages are being read."""

import pytest

from cart_pipelines import platforms
from cart_pipelines.emulators.base import EmulatorStore, Knobs
from cart_pipelines.sample.generator import StoreSize, generate_store
from helpers import Run
from integration.test_platform_migrations import resource_for


def unreferenced(store: EmulatorStore, entity: str, n: int) -> list[int]:
    """Ids of `entity` no order or review points at: deleting them leaves every other record valid."""
    field = {"products": "product_id", "customers": "customer_id"}[entity]
    used = {str(r.get(field)) for r in store.page("reviews", 0, 10**6)}
    for o in store.page("orders", 0, 10**6):
        used |= {str(o.get(field))} | {str(i.get(field)) for i in o.get("items") or []}
    return [int(r["source_id"]) for r in store.page(entity, 0, 10**6) if r["source_id"] not in used][-n:]


@pytest.fixture
def woo(tmp_path):
    d = tmp_path / "store"
    generate_store(d, seed=43, size=StoreSize.scaled(30))
    store = EmulatorStore(d)
    with platforms.emulate("woocommerce", store=store, knobs=Knobs(rate_limit=False)) as handle:
        yield store, Run(tmp_path / "work", resource_for("woocommerce", handle).open())


def target_ids(run: Run, entity: str) -> set[str]:
    return {r["_source_id"] for r in run.target_rows(entity)}


def add(store: EmulatorStore, entity: str) -> int:
    """A new product or customer (a copy of the first with unique keys) no order or review points at."""
    new = store.next_id(entity)
    unique = {"products": {"sku": f"NY-{new}", "url_key": f"ny/produkt-{new}"},
              "customers": {"email": f"ny{new}@example.no"}}[entity]
    store.put(entity, {**store.get(entity, 1), "source_id": str(new), **unique})
    return new


def test_deleted_records_are_reported_and_kept_unless_configured(woo):
    store, run = woo
    for entity in ("products", "products", "customers"):
        add(store, entity)
    run()
    assert run.report()["all_accounted_for"]
    products, customers = unreferenced(store, "products", 2), unreferenced(store, "customers", 1)
    for pid in products:
        assert store.delete("products", pid)
    assert store.delete("customers", customers[0])

    run.source.client.requests_made = 0
    run(mode="delta")  # detection is an option: a plain delta cannot see deletions
    assert run.report()["totals"]["deleted_at_source"] == 0

    loads = run(mode="delta", detect_deletions=True)
    rep = run.report()
    by = {e["entity"]: e for e in rep["entities"]}
    assert (by["products"]["deleted_at_source"], by["products"]["kept_on_target"]) == (2, 2)
    assert (by["customers"]["deleted_at_source"], by["customers"]["kept_on_target"]) == (1, 1)
    assert rep["all_accounted_for"] and rep["totals"]["deleted_on_target"] == 0
    assert loads["products"].kept_on_target == 2 and loads["products"].writes == 0
    assert {str(p) for p in products} <= target_ids(run, "products")  # reported, never deleted by default
    assert run.extracted["products"].deletions_checked and run.extracted["products"].deleted_at_source == 2

    loads = run(mode="delta", detect_deletions=True, delete_on_target=True)
    rep = run.report()
    assert rep["all_accounted_for"] and rep["totals"]["deleted_on_target"] == 3
    assert rep["all_accounted_for"] and rep["totals"]["deleted_on_target"] == 3
    assert loads["products"].deleted_on_target == 2 and loads["customers"].deleted_on_target == 1
    assert not {str(p) for p in products} & target_ids(run, "products")
    assert str(customers[0]) not in target_ids(run, "customers")
    assert not run.query("SELECT * FROM id_map WHERE entity = 'products' AND source_id IN (?, ?)",
                         [str(p) for p in products])

    run(mode="delta")  # later deltas keep accounting for them, and write nothing
    rep = run.report()
    assert rep["all_accounted_for"] and rep["totals"]["deleted_on_target"] == 3
    assert rep["totals"]["created"] + rep["totals"]["updated"] == 0
    assert "Deleted at source: 3, kept on target: 0, deleted on target: 3" in __import__(
        "cart_pipelines.report", fromlist=["markdown"]).markdown(rep)


@pytest.mark.slow
def test_a_full_migration_finds_deletions_for_free(woo):
    store, run = woo
    pid = add(store, "products")
    run()
    run.report()
    store.delete("products", pid)
    run()
    rep = run.report()
    by = {e["entity"]: e for e in rep["entities"]}
    assert by["products"]["deleted_at_source"] == 1 and by["products"]["kept_on_target"] == 1
    assert rep["all_accounted_for"] and by["products"]["source"] == by["products"]["loaded"] + 1
    store.put("products", {**store.get("products", 1), "source_id": str(pid)})  # restored: loaded again
    run()
    rep = run.report()
    assert rep["totals"]["deleted_at_source"] == 0 and rep["all_accounted_for"]
