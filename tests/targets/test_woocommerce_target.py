"""WooCommerce as a target, against the emulator: batch limit, WooCommerce's own per-item errors, adoption of
records an interrupted run created, clear, pacing under a host's limit, and no secret in any message."""

from decimal import Decimal

import pyarrow as pa
import pytest
import requests

from cart_pipelines.defs.platform_resources import WooCommerceTargetResource
from cart_pipelines.platforms.kit.emulator import (
    EmulatorStore,
    FixedWindow,
    Knobs,
    running,
)
from cart_pipelines.platforms.kit.http import ConnectionProblem
from cart_pipelines.platforms.woocommerce.emulator import WooCommerceEmulator
from helpers import woocommerce_target


def categories(n, start=1):
    return pa.Table.from_pylist([{"source_id": f"c{i}", "parent_id": None, "name": f"Kategori {i}",
                                  "url_key": f"kategori-{i}", "hidden": False, "position": i}
                                 for i in range(start, start + n)])


def customers(*emails):
    return pa.Table.from_pylist([{"source_id": f"u{k}", "email": e, "first_name": "Kari", "last_name": "Nordmann",
                                  "phone": None, "newsletter": True, "addresses": []} for k, e in enumerate(emails)])


def test_batches_stay_within_100_and_the_shop_refuses_more(shop, tmp_path):
    target = woocommerce_target(shop, tmp_path)
    sizes = []
    original = target.client.request

    def spy(method, path, what="", **kwargs):
        if path.endswith("/batch"):
            sizes.append(sum(len(v) for v in kwargs["json"].values()))
        return original(method, path, what=what, **kwargs)

    target.client.request = spy
    results = target.create("categories", categories(150))
    assert all(r.error is None for r in results) and len({r.target_id for r in results}) == 150
    assert sizes == [100, 50]
    assert target.count("categories") == 150
    # WooCommerce's own answer to a larger batch (woocommerce_rest_request_entity_too_large, HTTP 413)
    body = {"create": [{"name": f"x{i}"} for i in range(101)]}
    r = target.client.session.post(f"{shop.base_url}/wp-json/wc/v3/products/categories/batch", json=body)
    assert r.status_code == 413
    assert r.json()["code"] == "woocommerce_rest_request_entity_too_large"
    assert r.json()["message"] == "Unable to accept more than 100 items for this request."


def test_a_rejected_record_carries_woocommerces_message_and_the_batch_goes_on(shop, tmp_path):
    target = woocommerce_target(shop, tmp_path)
    results = target.create("customers", customers("kari@example.no", "KARI@example.no", "ola@example.no"))
    assert results[0].error is None and results[2].error is None
    assert results[1].target_id is None
    assert "An account is already registered with your email address" in results[1].error
    assert "registration-error-email-exists" in results[1].error
    assert target.count("customers") == 2
    scanned = target.scan("customers").to_pylist()
    assert {r["_source_id"] for r in scanned} == {"u0", "u2"} and scanned[0]["newsletter"] is True


def test_find_existing_adopts_what_an_interrupted_run_created(shop, tmp_path):
    target = woocommerce_target(shop, tmp_path)
    made = {r.source_id: r.target_id for r in target.create("customers", customers("a@example.no", "b@example.no"))}
    # A new run without the references file still finds them: the source id is in meta_data.
    (tmp_path / "refs.json").unlink(missing_ok=True)
    fresh = woocommerce_target(shop, tmp_path, "other-refs.json")
    assert fresh.find_existing("customers", ["u0", "u1", "u9"]) == made
    # Categories keep no meta data: the references file finds them, and a term of the same name is adopted.
    cats = {r.source_id: r.target_id for r in target.create("categories", categories(2))}
    assert woocommerce_target(shop, tmp_path).find_existing("categories", ["c1", "c2"]) == cats
    again = fresh.create("categories", categories(1))  # same name under the same parent: `term_exists`
    assert again[0].error is None and again[0].target_id == cats["c1"]


def test_clear_deletes_dependants_first(shop, tmp_path):
    target = woocommerce_target(shop, tmp_path)
    target.create("categories", categories(3))
    target.create("customers", customers("a@example.no"))
    assert target.clear(["customers", "categories"]) == {"customers": 1, "categories": 3}
    assert target.count("customers") == target.count("categories") == 0
    assert target.find_existing("categories", ["c1"]) == {}


def test_order_money_is_kept_exactly(shop, tmp_path):
    target = woocommerce_target(shop, tmp_path)
    cid = target.create("customers", customers("a@example.no"))[0].target_id
    product = {"source_id": "p1", "sku": "S1", "name": "Skjerf", "description": "", "price": Decimal("99.90"),
               "special_price": None, "weight": 0.5, "stock": 3, "active": True, "url_key": "skjerf",
               "category_ids": [], "manufacturer_id": None, "tax_class_id": None, "variants": [], "images": []}
    pid = target.create("products", pa.Table.from_pylist([product]))[0].target_id
    address = {"first_name": "Kari", "last_name": "Nordmann", "company": None, "street": "Gate 1", "city": "Oslo",
               "postcode": "0150", "region": None, "country": "NO", "phone": None}
    order = {"source_id": "o1", "order_number": "1001", "customer_id": cid, "email": "a@example.no",
             "customer_first_name": "Kari", "customer_last_name": "Nordmann", "status": "completed",
             "currency": "NOK", "subtotal": Decimal("299.70"), "shipping": Decimal("49.00"),
             "tax": Decimal("74.93"), "discount": Decimal("10.00"), "grand_total": Decimal("413.63"),
             "items": [{"source_id": "o1-1", "product_id": pid, "sku": "S1", "name": "Skjerf", "qty": 3,
                        "price": Decimal("99.90"), "tax": Decimal("74.93")}],
             "billing_address": address, "shipping_address": address}
    assert target.create("orders", pa.Table.from_pylist([order]))[0].error is None
    raw = requests.get(f"{shop.base_url}/wp-json/wc/v3/orders", params={
        "consumer_key": shop.credentials["consumer_key"]}).status_code
    assert raw == 401  # plain HTTP needs the OAuth 1.0a signature
    got = target.scan("orders").to_pylist()[0]
    for field in ("subtotal", "shipping", "tax", "discount", "grand_total"):
        assert got[field] == order[field], field
    assert got["status"] == "completed" and got["items"][0]["source_id"] == "o1-1"


def test_a_product_without_tax_class_reads_back_without_one(shop, tmp_path):
    """A source without tax classes (Shopify) loads products with none: WooCommerce writes `tax_class: ""`, its
    built-in Standard class, which is not ours, so the product reads back with no class, not a dangling
    `standard` (the load check references_resolve failed on every such product)."""
    target = woocommerce_target(shop, tmp_path)
    product = {"source_id": "p1", "sku": "S1", "name": "Skjerf", "description": "", "price": Decimal("99.90"),
               "special_price": None, "weight": 0.5, "stock": 3, "active": True, "url_key": "skjerf",
               "category_ids": [], "manufacturer_id": None, "tax_class_id": None, "variants": [], "images": []}
    assert target.create("products", pa.Table.from_pylist([product]))[0].error is None
    assert target.scan("products").to_pylist()[0]["tax_class_id"] is None
    assert target.scan("tax_classes").num_rows == 0


def test_orders_are_refused_where_woocommerce_calculates_taxes(shop, tmp_path):
    shop.emulator.calc_taxes = True
    target = woocommerce_target(shop, tmp_path)
    row = pa.Table.from_pylist([{"source_id": "o1", "customer_id": "1", "items": []}])
    assert "calculates taxes" in target.create("orders", row)[0].error


def test_pacing_stays_under_the_hosts_limit(shop, tmp_path):
    shop.emulator.limit = FixedWindow(5, 1.0)  # a host allowing 5 requests per second
    target = woocommerce_target(shop, tmp_path)
    for _ in range(12):
        target.count("customers")
    assert target.client.retries == 0  # never answered 429: waited for RateLimit-Reset instead


def test_a_read_only_key_is_explained_without_secrets(tmp_path):
    (tmp_path / "empty").mkdir()
    emulator = WooCommerceEmulator(EmulatorStore(tmp_path / "empty"), Knobs(rate_limit=False,
                                                                            denied_scopes=("write",)))
    with running(emulator, lifetime=60) as handle:
        target = woocommerce_target(handle, tmp_path)
        with pytest.raises(ConnectionProblem) as exc:
            target.create("categories", categories(1))
        assert exc.value.kind == "permission" and "Read/Write" in str(exc.value)
        assert "does not have write permissions" in str(exc.value)
        c = handle.credentials
        assert c["consumer_secret"] not in str(exc.value) and c["consumer_key"] not in str(exc.value)
        bad = WooCommerceTargetResource(shop_url=handle.base_url, consumer_key=c["consumer_key"],
                                        consumer_secret="cs_wrong", references_file=str(tmp_path / "r.json")).open()
        with pytest.raises(ConnectionProblem) as exc:
            bad.count("customers")
        assert exc.value.kind == "credentials" and "cs_wrong" not in str(exc.value)


def test_a_line_written_as_a_fee_reads_back_where_it_stood_in_the_order():
    """Rule order_item_as_fee writes a line whose product is gone as a fee line; WooCommerce answers fee lines
    after the line items, so the order's first line read back last (Magento order 7 into WooCommerce differed
    from the source in its line order). The fee keeps its position in meta data."""
    from cart_pipelines.platforms.woocommerce import mapping

    row = {"source_id": "7", "customer_id": "3", "status": "completed", "currency": "NOK",
           "subtotal": Decimal("300.00"), "shipping": Decimal("0"), "tax": Decimal("0"), "discount": Decimal("0"),
           "grand_total": Decimal("300.00"),
           "items": [{"source_id": "701", "product_id": None, "sku": "GONE-1", "name": "Utgått lue", "qty": 1,
                      "price": Decimal("100.00"), "tax": Decimal("0.00")},
                     {"source_id": "702", "product_id": "26", "sku": "A-1", "name": "Skjorte", "qty": 2,
                      "price": Decimal("100.00"), "tax": Decimal("0.00")}]}
    written = mapping.order_payload(row)
    answer = {"id": 1, "status": "completed", "currency": "NOK", "total": "300.00", "discount_total": "0.00",
              "shipping_total": "0.00", "total_tax": "0.00", "billing": {}, "shipping": {}, "meta_data": [],
              "line_items": [{**li, "id": 11, "sku": "A-1", "total_tax": "0.00"} for li in written["line_items"]],
              "fee_lines": [{**f, "id": 12, "total_tax": "0.00"} for f in written["fee_lines"]]}
    back = mapping.order_row(answer)
    assert [(i["source_id"], i["sku"], i["qty"]) for i in back["items"]] == [("701", "GONE-1", 1), ("702", "A-1", 2)]
