"""Delta migrations against a live WooCommerce emulator: records deleted at the source (reported, or deleted on the
target when configured), and records inserted, updated and deleted while pages are being read."""

from datetime import datetime, timezone

import pytest
from helpers import Run
from integration.test_platform_migrations import resource_for

from cart_pipelines.pipeline.load import plan_entity
from cart_pipelines.pipeline.report import markdown
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.bigcommerce import source as bigcommerce
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.magento import source as magento
from cart_pipelines.sample.generator import StoreSize, generate_store

CATALOG = ("categories", "manufacturers", "tax_classes", "products")
PEOPLE = (*CATALOG, "customers")  # no orders or reviews: every product and customer may be deleted


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
    """A new product or customer: a copy of the first with unique keys."""
    new = store.next_id(entity)
    unique = {"products": {"sku": f"NY-{new}", "url_key": f"ny/produkt-{new}"},
              "customers": {"email": f"ny{new}@example.no"}}[entity]
    store.put(entity, {**store.get(entity, 1), "source_id": str(new), **unique})
    return new


def test_deleted_records_are_reported_and_kept_unless_configured(woo):
    store, run = woo
    run(entities=PEOPLE)
    assert run.report()["all_accounted_for"]
    products, customers = [1, 7], [3]
    for pid in products:
        assert store.delete("products", pid)
    assert store.delete("customers", customers[0])

    run(entities=PEOPLE, mode="delta")  # detection is an option: a plain delta cannot see deletions
    assert run.report()["totals"]["deleted_at_source"] == 0

    loads = run(entities=PEOPLE, mode="delta", detect_deletions=True)
    rep = run.report()
    by = {e["entity"]: e for e in rep["entities"]}
    assert (by["products"]["deleted_at_source"], by["products"]["kept_on_target"]) == (2, 2)
    assert (by["customers"]["deleted_at_source"], by["customers"]["kept_on_target"]) == (1, 1)
    assert rep["all_accounted_for"] and rep["totals"]["deleted_on_target"] == 0
    assert loads["products"].kept_on_target == 2 and loads["products"].writes == 0
    assert {str(p) for p in products} <= target_ids(run, "products")  # reported, never deleted by default
    assert run.extracted["products"].deletions_checked and run.extracted["products"].deleted_at_source == 2
    with run.staging.connect() as con:  # what a dry run with delete_on_target would plan now
        plan = plan_entity(con, run.target, "products", delete_on_target=True)
    assert (plan["delete"], plan["flag_deleted_at_source"], plan["create"] + plan["update"]) == (2, 0, 0)

    loads = run(entities=PEOPLE, mode="delta", detect_deletions=True, delete_on_target=True)
    rep = run.report()
    assert rep["all_accounted_for"] and rep["totals"]["deleted_on_target"] == 3
    assert loads["products"].deleted_on_target == 2 and loads["customers"].deleted_on_target == 1
    assert not {str(p) for p in products} & target_ids(run, "products")
    assert str(customers[0]) not in target_ids(run, "customers")
    assert not run.query("SELECT * FROM id_map WHERE entity = 'products' AND source_id IN (?, ?)",
                         [str(p) for p in products])

    run(entities=PEOPLE, mode="delta")  # later deltas keep accounting for them, and write nothing
    rep = run.report()
    assert rep["all_accounted_for"] and rep["totals"]["deleted_on_target"] == 3
    assert rep["totals"]["created"] + rep["totals"]["updated"] == 0
    assert "Deleted at source: 3, kept on target: 0, deleted on target: 3" in markdown(rep)


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


class Churn:
    """Once the first page of products has been served: delete two records already read (shifting offset pages),
    update one already read and one not yet read, delete one not yet read, and insert a new one."""

    def __init__(self, store: EmulatorStore, is_product_page):
        self.store, self.is_product_page, self.done = store, is_product_page, False
        ids = sorted(int(r["source_id"]) for r in store.page("products", 0, 10**6))
        self.deleted_read, self.updated_read = ids[1:3], ids[4]
        self.updated_unread, self.deleted_unread = ids[-5], ids[-10]

    def __call__(self, request) -> None:
        if self.done or not self.is_product_page(request):
            return
        self.done = True
        s = self.store
        for pid in (*self.deleted_read, self.deleted_unread):
            s.delete("products", pid)  # (an id no record has deletes nothing)
        for pid in (self.updated_read, self.updated_unread):
            s.put("products", {**s.get("products", pid), "price": 4321.0})
        self.inserted = add(s, "products")


def woo_product_page(request) -> bool:
    return request.path.endswith("/wc/v3/products") and "_fields" not in request.args


def shopify_product_page(request) -> bool:
    return request.method == "POST" and b"products(first" in request.get_data()


def magento_product_page(request) -> bool:
    return request.path.endswith("/V1/products") and request.args.get("searchCriteria[pageSize]") == "50"


def bigcommerce_product_page(request) -> bool:
    return request.path.endswith("/v3/catalog/products") and request.args.get("limit") == "50"


@pytest.mark.parametrize("platform,is_product_page", [
    ("woocommerce", woo_product_page), ("magento", magento_product_page),
    pytest.param("bigcommerce", bigcommerce_product_page, marks=pytest.mark.slow),
    pytest.param("shopify", shopify_product_page, marks=pytest.mark.slow)],
                         ids=["offset-pages", "id-range-keyset-pages", "id-range-keyset-v3", "cursor-pages"])
def test_changes_while_pages_are_read_are_neither_missed_nor_duplicated(tmp_path, monkeypatch, platform,
                                                                         is_product_page):
    for connector in (magento, bigcommerce):
        monkeypatch.setattr(connector, "PAGE_SIZE", 50)  # several id ranges read in parallel
    d = tmp_path / "store"
    generate_store(d, seed=44, size=StoreSize.scaled(260))  # several pages of products on either platform
    store = EmulatorStore(d)
    churn = Churn(store, is_product_page)
    with platforms.emulate(platform, store=store, knobs=Knobs(rate_limit=False, after_response=churn)) as handle:
        run = Run(tmp_path / "work", resource_for(platform, handle).open())
        run(entities=CATALOG)
        rep = run.report()
        assert churn.done and rep["all_accounted_for"] and rep["totals"]["quarantined"] == 0
        staged = {r[0] for r in run.query("SELECT source_id FROM staged_products")}
        now = {r["source_id"] for r in store.page("products", 0, 10**6)}
        assert now <= staged, f"missed while paging: {sorted(now - staged)}"  # nothing slipped past unread
        assert str(churn.deleted_unread) not in staged

        loads = run(mode="delta", entities=CATALOG, detect_deletions=True, delete_on_target=True)
        rep = run.report()
        by = {e["entity"]: e for e in rep["entities"]}["products"]
        assert rep["all_accounted_for"] and rep["totals"]["quarantined"] == 0
        # the update read in its old version arrives now; the deletions behind the read are found and applied
        assert (loads["products"].created, loads["products"].updated) == (0, 1)
        assert loads["products"].deleted_on_target == len(churn.deleted_read)
        assert by["deleted_at_source"] == len(churn.deleted_read)
    on_target = {r["_source_id"]: str(r["price"]) for r in run.target_rows("products")}
    assert set(on_target) == now  # the target holds exactly the source's products, once each
    for pid in (churn.updated_read, churn.updated_unread):
        assert on_target[str(pid)] == "4321.00"


@pytest.mark.parametrize("platform", ["woocommerce", "magento", "shopify"])
def test_id_listing_names_exactly_the_records_a_read_stages(platform):
    store = EmulatorStore.generated(products=40, seed=5)
    store.delete("products", 5)
    store.delete("customers", 2)
    with platforms.emulate(platform, store=store, knobs=Knobs(rate_limit=False)) as handle:
        src = resource_for(platform, handle).open()
        listed = {e: set(ids) for e in ("categories", "products", "customers", "orders")
                  if (ids := src.ids(e)) is not None}
        assert {"products", "customers"} <= set(listed)
        for entity, ids in listed.items():
            assert ids == {r.source_id for r in src.records(entity)}, entity
        assert "5" not in listed["products"] and "2" not in listed["customers"]


def test_a_record_updated_while_a_delta_pages_by_update_time_comes_once():
    """Shopify deltas sort by UPDATED_AT: a record updated after its page was read moves behind the cursor."""
    store = EmulatorStore.generated(products=40, seed=6)
    first = min(int(r["source_id"]) for r in store.page("products", 0, 10**6))
    churn = Churn(store, shopify_product_page)
    churn.deleted_read, churn.deleted_unread, churn.updated_read = [], 10**9, first  # updates only
    with platforms.emulate("shopify", store=store, knobs=Knobs(rate_limit=False, after_response=churn)) as handle:
        src = resource_for("shopify", handle).open()
        ids = [r.source_id for r in src.records("products", updated_since=datetime(2000, 1, 1, tzinfo=timezone.utc))]
    assert churn.done and len(ids) == len(set(ids)) and str(first) in ids


def test_orders_deleted_and_added_while_v2_pages_are_read_come_once(monkeypatch):
    """BigCommerce v2 orders page by `min_id` (keyset), so deleting orders already listed moves nothing past the
    reader, and an order placed meanwhile is read too."""
    monkeypatch.setattr(bigcommerce, "PAGE_SIZE", 10)
    store = EmulatorStore.generated(products=40, seed=8)
    ids = sorted(int(r["source_id"]) for r in store.page("orders", 0, 10**6))
    assert len(ids) > 30
    changed = []

    def churn(request) -> None:
        if not changed and request.path.endswith("/v2/orders"):
            changed.extend([store.delete("orders", ids[1]), store.delete("orders", ids[2])])
            store.put("orders", {**store.get("orders", ids[0]), "source_id": str(store.next_id("orders"))})

    with platforms.emulate("bigcommerce", store=store, knobs=Knobs(rate_limit=False, after_response=churn)) as h:
        read = [r.source_id for r in resource_for("bigcommerce", h).open().records("orders")]
    now = {r["source_id"] for r in store.page("orders", 0, 10**6)}
    # the two orders were listed on page 1 but deleted before their items were read: gone, like the source's
    assert changed == [True, True] and len(read) == len(set(read)) and set(read) == now


@pytest.mark.parametrize("entity,path", [("categories", "/v3/catalog/categories"),
                                         ("manufacturers", "/v3/catalog/brands"), ("customers", "/v3/customers")])
def test_bigcommerce_lists_changed_while_read_come_once(monkeypatch, entity, path):
    """Categories and brands page by id keyset, customers by keyset on their creation second:
    deleting records already read, deleting one not yet read and creating some meanwhile (customers three in one
    second, more than a page) miss nothing and repeat nothing."""
    monkeypatch.setattr(bigcommerce, "PAGE_SIZE", 2)  # several pages (and id ranges) of a small store
    store = EmulatorStore.generated(products=40, seed=8)
    by = "created_at" if entity == "customers" else "id"  # the order the reader goes in
    order = [int(r["source_id"]) for r in store.page(entity, 0, 10**6, order=by)]
    changed, added = [], []

    def churn(request) -> None:
        if changed or not request.path.endswith(path):
            return
        now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        for _ in range(3 if entity == "customers" else 1):
            new = store.next_id(entity)
            added.append(str(new))
            store.put(entity, {**store.get(entity, order[2]), "source_id": str(new), "created_at": now,
                               "email": f"ny{new}@example.no", "name": f"Ny {new}", "url_key": f"ny-{new}"})
        changed.extend(store.delete(entity, i) for i in (order[0], order[1], order[-1]))

    with platforms.emulate("bigcommerce", store=store, knobs=Knobs(rate_limit=False, after_response=churn)) as h:
        read = [r.source_id for r in resource_for("bigcommerce", h).open().records(entity)]
    now = {r["source_id"] for r in store.page(entity, 0, 10**6)}
    # the first page was read before its two records were deleted; the other one was deleted before it was reached
    assert changed == [True, True, True] and len(read) == len(set(read)) and set(added) <= now
    assert set(read) == now | {str(order[0]), str(order[1])}
