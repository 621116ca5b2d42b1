"""Shopify as a target, against the writable emulator: batches of aliased mutations within the cost limits,
userErrors quarantined per record, adoption by the source-id metafield, clear, cost pacing, secrets."""

from decimal import Decimal

import pyarrow as pa
import pytest
import requests

from cart_pipelines.defs.platform_resources import ShopifyTargetResource
from cart_pipelines.platforms.kit.emulator import (
    EmulatorStore,
    Knobs,
    LeakyBucket,
    running,
)
from cart_pipelines.platforms.kit.http import ConnectionProblem
from cart_pipelines.model.target_shape import TABLES
from cart_pipelines.platforms.shopify import target as target_mod
from cart_pipelines.platforms.shopify.emulator import TOKEN, ShopifyEmulator
from cart_pipelines.platforms.shopify.target import ShopifyTarget

ADDRESS = {"first_name": "Kari", "last_name": "Nordmann", "company": None, "street": "Storgata 1", "city": "Oslo",
           "postcode": "0155", "region": None, "country": "NO", "phone": None}


@pytest.fixture
def shop(tmp_path):
    emulator = ShopifyEmulator(EmulatorStore(tmp_path), Knobs(rate_limit=False))
    with running(emulator, lifetime=120) as handle:
        yield handle


def target_for(handle) -> ShopifyTarget:
    return ShopifyTargetResource.resource_for_emulator(handle, None).open()


def categories(n: int, start: int = 0) -> pa.Table:
    return pa.Table.from_pylist([{"source_id": f"c{k}", "name": f"Kategori {k}", "url_key": f"kategori-{k}",
                                  "parent_id": None} for k in range(start, start + n)])


def customers(emails: list[str]) -> pa.Table:
    return pa.Table.from_pylist([{"source_id": f"u{k}", "email": e, "first_name": "Kari", "last_name": "Nordmann",
                                  "phone": None, "newsletter": k % 2 == 0,
                                  "addresses": [{**ADDRESS, "is_default_billing": True, "is_default_shipping": True}]}
                                 for k, e in enumerate(emails)])


def order(source_id: str, customer_id: str, subtotal: str = "200.00") -> dict:
    return {"source_id": source_id, "order_number": f"#{source_id}", "customer_id": customer_id,
            "email": "kari@example.no", "customer_first_name": "Kari", "customer_last_name": "Nordmann",
            "status": "completed", "currency": "NOK", "subtotal": Decimal(subtotal), "shipping": Decimal("49.00"),
            "tax": Decimal("50.00"), "discount": Decimal("10.00"), "grand_total": Decimal("289.00"),
            "items": [{"source_id": f"{source_id}-1", "product_id": None, "sku": "A-1", "name": "Kopp", "qty": 2,
                       "price": Decimal("100.00"), "tax": Decimal("50.00")}],
            "billing_address": ADDRESS, "shipping_address": ADDRESS, "created_at": "2024-05-01T10:00:00+00:00"}


def test_batches_of_aliased_mutations_within_the_cost_limit(shop):
    target = target_for(shop)
    before = shop.emulator.requests
    results = target.create("categories", categories(60))
    assert all(r.error is None for r in results) and len({r.target_id for r in results}) == 60
    assert shop.emulator.requests - before == 3  # 25 + 25 + 10 mutations per request
    assert shop.emulator.writes == 60
    # Shopify's own limit: a request costing more than 1000 points is refused whole
    body = " ".join(f'm{k}: collectionCreate(input: {{title: "x{k}"}}) {{ userErrors {{ message }} }}'
                    for k in range(101))
    answer = requests.post(f"{shop.base_url}/admin/api/2025-10/graphql.json", json={"query": f"mutation {{ {body} }}"},
                           headers={"X-Shopify-Access-Token": TOKEN}, timeout=10).json()
    assert answer["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


def test_user_errors_are_quarantined_per_record_and_the_run_goes_on(shop):
    target = target_for(shop)
    results = target.create("customers", customers(["kari@example.no", "ola@example.no", "KARI@example.no"]))
    assert [r.error is None for r in results] == [True, True, False]
    assert results[2].error == "email: Email has already been taken"
    bad = order("o2", results[0].target_id, subtotal="210.00")  # items add up to 200
    written = target.create("orders", pa.Table.from_pylist([order("o1", results[0].target_id), bad]))
    assert written[0].error is None
    assert "Shopify computes the subtotal from the items" in written[1].error
    back = target.scan("orders").to_pylist()
    assert [(o["_source_id"], o["subtotal"], o["discount"], o["grand_total"], o["status"]) for o in back] == [
        ("o1", Decimal("200.00"), Decimal("10.00"), Decimal("289.00"), "completed")]
    assert back[0]["items"][0]["source_id"] == "o1-1" and back[0]["items"][0]["tax"] == Decimal("50.00")


def test_entities_shopify_lacks_answer_an_error_per_row(shop):
    target = target_for(shop)
    rows = pa.Table.from_pylist([{"source_id": "t1", "name": "Standard"}, {"source_id": "t2", "name": "Mat"}])
    results = target.create("tax_classes", rows)
    assert [r.error for r in results] == [target_mod.UNAVAILABLE["tax_classes"]] * 2
    assert "Shopify has no tax classes" in results[0].error
    scanned = target.scan("reviews")
    assert scanned.num_rows == 0 and scanned.column_names[1:-1] == [c.split()[0] for c in _columns("reviews")]
    assert shop.emulator.writes == 0


def _columns(entity: str) -> list[str]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE TABLE t ({TABLES[entity]})")
    return [r[0] for r in con.execute("DESCRIBE t").fetchall()]


def test_find_existing_adopts_by_the_source_id_metafield(shop):
    first = target_for(shop)
    created = first.create("categories", categories(3))
    first.create("manufacturers", pa.Table.from_pylist([{"source_id": "m1", "name": "Acme", "url_key": "acme"}]))
    again = target_for(shop)  # a new run that lost its id map
    assert again.find_existing("categories", ["c0", "c2", "c9"]) == {"c0": created[0].target_id,
                                                                     "c2": created[2].target_id}
    assert again.find_existing("manufacturers", ["m1", "m2"]) == {"m1": "Acme"}
    assert again.find_existing("tax_classes", ["t1"]) == {}


def test_product_round_trip_and_update_through_product_set(shop):
    target = target_for(shop)
    cat = target.create("categories", categories(1))[0].target_id
    row = {"source_id": "p1", "sku": "P-1", "name": "Genser", "description": "<p>Ull</p>", "price": Decimal("500.00"),
           "special_price": Decimal("400.00"), "weight": 0.5, "stock": 7, "active": True, "url_key": "genser",
           "category_ids": [cat], "manufacturer_id": "Acme", "tax_class_id": None,
           "variants": [{"source_id": "p1-s", "sku": "P-1-S", "price": Decimal("500.00"), "stock": 3,
                         "options": [{"name": "Størrelse", "value": "S"}]},
                        {"source_id": "p1-m", "sku": "P-1-M", "price": Decimal("520.00"), "stock": 4,
                         "options": [{"name": "Størrelse", "value": "M"}]}],
           "images": [{"url": "https://cdn.example.no/1.jpg", "position": 0, "alt": "Forside"}]}
    pid = target.create("products", pa.Table.from_pylist([row]))[0].target_id
    back = target.scan("products").to_pylist()[0]
    assert {k: back[k] for k in ("sku", "name", "price", "special_price", "weight", "manufacturer_id",
                                 "category_ids", "images")} == {
        "sku": "P-1", "name": "Genser", "price": Decimal("500.00"), "special_price": Decimal("400.00"),
        "weight": 0.5, "manufacturer_id": "Acme", "category_ids": [cat], "images": row["images"]}
    assert [(v["source_id"], v["price"], v["stock"]) for v in back["variants"]] == [
        ("p1-s", Decimal("500.00"), 3), ("p1-m", Decimal("520.00"), 4)]
    updated = target.update("products", pa.Table.from_pylist([{**row, "name": "Strikkegenser", "target_id": pid}]))
    assert updated[0].error is None and updated[0].target_id == pid
    assert target.scan("products").column("name").to_pylist() == ["Strikkegenser"]
    assert target.count("products") == 1


def test_clear_deletes_dependants_first(shop):
    target = target_for(shop)
    customer = target.create("customers", customers(["kari@example.no"]))[0].target_id
    target.create("orders", pa.Table.from_pylist([order("o1", customer)]))
    target.create("manufacturers", pa.Table.from_pylist([{"source_id": "m1", "name": "Acme", "url_key": "acme"}]))
    # Shopify refuses to delete a customer with orders: clear must delete the orders first
    assert target.clear(["customers", "orders", "manufacturers", "reviews"]) == {
        "orders": 1, "customers": 1, "manufacturers": 1, "reviews": 0}
    assert target.count("customers") == target.count("orders") == target.count("manufacturers") == 0


def test_paced_under_the_cost_bucket(tmp_path):
    emulator = ShopifyEmulator(EmulatorStore(tmp_path), Knobs(rate_limit=True))
    emulator.bucket = LeakyBucket(300, 600)  # a small bucket: 250-point requests need to wait for refill
    throttled = []
    original = emulator.throttled
    emulator.throttled = lambda request, requested=None: throttled.append(requested) or original(request, requested)
    with running(emulator, lifetime=120) as handle:
        results = target_for(handle).create("categories", categories(100))
    assert all(r.error is None for r in results)
    assert throttled == []  # the client waited for the bucket instead of being refused


def test_secrets_stay_out_of_errors(shop):
    secret = "shpat_wrong_but_secret_value_123"
    target = ShopifyTarget(shop.base_url, secret)
    with pytest.raises(ConnectionProblem) as exc:
        target.create("categories", categories(1))
    assert exc.value.kind == "credentials"
    assert secret not in str(exc.value)
    resource = ShopifyTargetResource.from_env()
    assert "access_token" in ShopifyTargetResource.model_fields and resource is not None
