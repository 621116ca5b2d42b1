"""The WooCommerce emulator held to WooCommerce 9.9.5's own REST v3 item schemas (../shared/specs/woocommerce):
every collection and single item the spec has a schema for, read over HTTP with the official client, validates
against its schema for context=view; error answers carry the platform's own codes; the filters and routes real
clients use answer as WooCommerce does."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import requests
from woocommerce import API

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import Knobs

from . import wp_schema

SPEC = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs" / "woocommerce" / \
    "wc-9.9.5-rest-v3-item-schemas.json"
pytestmark = pytest.mark.skipif(not SPEC.exists(), reason=f"WooCommerce REST schemas not found at {SPEC} "
                                                          "(the shared folder next to the checkout)")

V2 = "includes/rest-api/Controllers/Version2"
V3 = "includes/rest-api/Controllers/Version3"
META = ("meta_data[].value",)  # meta values are "mixed"
# Where WooCommerce's code and its schema part ways, the code is what clients receive. Each entry says where.
RULES = {
    "products": wp_schema.Rules(
        # WC_Product::get_stock_quantity() is null unless stock is managed; get_images() adds `position`
        # ({V2}/class-wc-rest-products-v2-controller.php), get_attributes() adds `slug` (same file).
        nullable={"stock_quantity"}, undeclared={"images[].position", "attributes[].slug"},
        # external_url / button_text are '' for all but external products (get_product_data)
        blank={"external_url"},
        # shipping_class_id: WC_Product::get_shipping_class_id() is an int (absint), the schema says string
        override={"shipping_class_id": {"type": "integer"}}),
    "variations": wp_schema.Rules(
        # {V3}/class-wc-rest-product-variations-controller.php prepare_object_for_response() returns the GMT
        # dates, `name` and `parent_id` without declaring them; get_image() returns null without an image.
        nullable={"stock_quantity", "image"},
        undeclared={"date_created_gmt", "date_modified_gmt", "name", "parent_id", "attributes[].slug"},
        override={"shipping_class_id": {"type": "integer"}}),
    "orders": wp_schema.Rules(
        # {V2}/class-wc-rest-orders-v2-controller.php get_order_item_data(): parent_name is null unless the item is
        # a variation, sku null once the product is gone, image src '' without an image; shipping items carry
        # `tax_status` and tax items `rate_percent` (WC_Order_Item_Shipping / _Tax extra_data), undeclared.
        nullable={"line_items[].parent_name", "line_items[].sku"},
        blank={"line_items[].image.src", "billing.email"},
        # WC_Order's data has shipping.phone (since 5.6, includes/class-wc-order.php), its REST schema does not
        undeclared={"shipping_lines[].tax_status", "tax_lines[].rate_percent", "shipping.phone"}),
    # a customer without a billing address has billing.email '' (WC_Customer::get_billing_email)
    "customers": wp_schema.Rules(blank={"billing.email"}),
    "categories": wp_schema.Rules(nullable={"image"}),  # 'image' => null without a thumbnail_id term meta
    "brands": wp_schema.Rules(nullable={"image"}),
    "reviews": wp_schema.Rules(),
    "taxes": wp_schema.Rules(),
    "tax_classes": wp_schema.Rules(),
    # filter_setting() ({V2}/class-wc-rest-setting-options-v2-controller.php) keeps only the keys a setting has
    "setting_options": wp_schema.Rules(optional={"description", "tip", "placeholder", "options"}),
}
COLLECTIONS = {  # spec schema → collection path, query
    "products": ("products", {}),
    "orders": ("orders", {}),
    "customers": ("customers", {}),
    "categories": ("products/categories", {}),
    "brands": ("products/brands", {}),
    "reviews": ("products/reviews", {"status": "all"}),
    "taxes": ("taxes", {}),
    "tax_classes": ("taxes/classes", {}),
    "setting_options": ("settings/products", {}),
}
ERRORS_BODY = {"code", "message", "data"}


@pytest.fixture(scope="module")
def spec():
    return wp_schema.load(SPEC)


@pytest.fixture(scope="module")
def shop():
    with platforms.emulate("woocommerce", products=120, knobs=Knobs(rate_limit=False)) as h:
        yield h


@pytest.fixture(scope="module")
def wc(shop):
    return API(url=shop.base_url, version="wc/v3", timeout=20, **shop.credentials)


def read_all(wc, path: str, params: dict) -> list[dict]:
    out, page = [], 1
    while True:
        r = wc.get(path, params={**params, "per_page": 100, "page": page})
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        body = r.json()
        out += body if isinstance(body, list) else [body]
        if not isinstance(body, list) or page >= int(r.headers.get("X-WP-TotalPages") or 1):
            return out
        page += 1


def assert_valid(spec, kind: str, items: list[dict], where: str) -> None:
    v = wp_schema.validator(spec[kind], "view", RULES[kind])
    bad = {}
    for item in items:
        found = wp_schema.problems(v, item)
        if found:
            bad[item.get("id", item.get("slug"))] = found[:8]
    assert not bad, f"{where}: {len(bad)} of {len(items)} {kind} depart from the schema, e.g. " \
                    f"{dict(list(bad.items())[:3])}"


@pytest.fixture(scope="module")
def listed(wc):
    return {kind: read_all(wc, path, params) for kind, (path, params) in COLLECTIONS.items()}


@pytest.mark.parametrize("kind", list(COLLECTIONS))
def test_collections_follow_the_item_schema(spec, listed, kind):
    assert listed[kind], f"the generated store has no {kind}"
    assert_valid(spec, kind, listed[kind], f"GET {COLLECTIONS[kind][0]}")


def test_variations_follow_the_item_schema(spec, wc, listed):
    variable = [p for p in listed["products"] if p["type"] == "variable"]
    assert variable
    seen = []
    for p in variable:
        variations = read_all(wc, f"products/{p['id']}/variations", {})
        assert sorted(v["id"] for v in variations) == sorted(p["variations"])
        seen += variations
    assert_valid(spec, "variations", seen, "GET products/{id}/variations")
    # single reads give the same record
    for v in seen[:10]:
        r = wc.get(f"products/{v['parent_id']}/variations/{v['id']}")
        assert r.status_code == 200 and r.json() == v


SINGLE = {"products": "products", "orders": "orders", "customers": "customers", "categories": "products/categories",
          "brands": "products/brands", "reviews": "products/reviews", "taxes": "taxes"}


@pytest.mark.parametrize("kind", list(SINGLE))
def test_single_items_of_seeded_records(spec, wc, listed, kind):
    items = listed[kind][:25]
    for item in items:
        r = wc.get(f"{SINGLE[kind]}/{item['id']}")
        assert r.status_code == 200, (kind, item["id"], r.text[:200])
        assert r.json() == item, f"GET {SINGLE[kind]}/{item['id']} differs from its collection entry"
    assert_valid(spec, kind, [wc.get(f"{SINGLE[kind]}/{i['id']}").json() for i in items[:3]], "single")


def test_setting_options(spec, wc):
    for path in ("settings/products/woocommerce_weight_unit", "settings/general/woocommerce_calc_taxes"):
        r = wc.get(path)
        assert r.status_code == 200, r.text
        assert_valid(spec, "setting_options", [r.json()], path)
    assert_valid(spec, "setting_options", read_all(wc, "settings/general", {}), "settings/general")


def test_messy_shop_records(listed, wc):
    """What real shops hold: drafts and private products, scheduled sales, back orders, private variations,
    refunds, guest orders, reviews awaiting moderation."""
    products, orders = listed["products"], listed["orders"]
    assert {"publish", "draft", "private"} <= {p["status"] for p in products}
    scheduled = [p for p in products if p["date_on_sale_from_gmt"] and not p["on_sale"]]
    assert scheduled and all(p["sale_price"] or p["type"] == "variable" for p in scheduled)
    assert all(p["price"] == p["regular_price"] for p in scheduled if p["type"] == "simple")
    assert any(p["on_sale"] for p in products)
    refunded = [o for o in orders if o["refunds"]]
    assert any(o["status"] == "refunded" for o in refunded) and any(o["status"] == "completed" for o in refunded)
    assert any(o["customer_id"] == 0 for o in orders)
    assert Counter(r["status"] for r in listed["reviews"])["hold"] > 0
    statuses = set()
    for p in (p for p in products if p["type"] == "variable"):
        statuses |= {v["status"] for v in wc.get(f"products/{p['id']}/variations").json()}
    assert "private" in statuses


def test_order_derived_fields(listed):
    for o in listed["orders"]:
        assert o["payment_url"].endswith(f"/checkout/order-pay/{o['id']}/?pay_for_order=true&key={o['order_key']}")
        assert o["is_editable"] == (o["status"] in ("pending", "on-hold"))
        assert o["needs_payment"] == (o["status"] == "pending" and float(o["total"]) > 0)
        assert o["needs_processing"] is True
        assert (o["date_paid_gmt"] is not None) == (o["status"] in ("processing", "completed", "refunded"))


# --- errors ----------------------------------------------------------------------------------------------------------
def assert_error(r, status: int, code: str) -> dict:
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == ERRORS_BODY and isinstance(body["message"], str) and body["message"]
    assert body["code"] == code and body["data"]["status"] == status
    return body


@pytest.mark.parametrize("path,kind", [
    ("products/999999", "products"), ("orders/999999", "orders"), ("customers/999999", "customers"),
    ("products/categories/999999", "categories"), ("products/brands/999999", "brands"),
    ("products/reviews/999999", "reviews"), ("products/2/variations/999999", "variations")])
def test_unknown_ids_answer_the_platforms_codes(spec, wc, path, kind):
    assert_error(wc.get(path), 404, spec["_errors"][kind])


def test_route_and_auth_errors(spec, shop, wc):
    assert_error(wc.get("nothing/here"), 404, spec["_errors"]["no_route"])
    assert_error(wc.post("products/categories/1/nothing", {}), 404, "rest_no_route")
    bad = API(url=shop.base_url, consumer_key="ck_nope", consumer_secret="cs_nope", version="wc/v3")
    assert_error(bad.get("products"), 401, spec["_errors"]["auth"])
    anonymous = requests.get(f"{shop.base_url}/wp-json/wc/v3/products", timeout=10)
    assert_error(anonymous, 401, "woocommerce_rest_cannot_view")
    assert anonymous.json()["message"] == "Sorry, you cannot list resources."
    single = requests.get(f"{shop.base_url}/wp-json/wc/v3/products/1", timeout=10)
    assert assert_error(single, 401, "woocommerce_rest_cannot_view")["message"] == \
        "Sorry, you cannot view this resource."
    body = assert_error(wc.get("products", params={"per_page": 101}), 400, spec["_errors"]["invalid_param"])
    assert "per_page" in body["data"]["params"]


# --- filters and routes real clients use ----------------------------------------------------------------------------
def test_modified_window_reads_each_record_once(wc, listed):
    """Airbyte-style 30-day windows [modified_after, modified_before): together they hold every product once."""
    stamps = sorted(p["date_modified_gmt"] for p in listed["products"])
    bounds = [stamps[0][:10] + "T00:00:00", stamps[len(stamps) // 2], "2100-01-01T00:00:00"]
    seen = []
    for lo, hi in zip(bounds, bounds[1:]):
        seen += [p["id"] for p in read_all(wc, "products", {"modified_after": lo, "modified_before": hi,
                                                            "dates_are_gmt": "true", "_fields": "id"})]
    # exclusive bounds: only records stamped exactly on an inner bound are missed, as with WooCommerce
    on_bound = {p["id"] for p in listed["products"] if p["date_modified_gmt"] == bounds[1]}
    assert len(seen) == len(set(seen))
    assert set(seen) | on_bound == {p["id"] for p in listed["products"]}


def test_filters(wc, listed):
    orders = listed["orders"]
    cid = next(o["customer_id"] for o in orders if o["customer_id"])
    mine = read_all(wc, "orders", {"customer": cid})
    assert mine and {o["id"] for o in mine} == {o["id"] for o in orders if o["customer_id"] == cid}
    variable = read_all(wc, "products", {"type": "variable"})
    assert variable and {p["id"] for p in variable} == {p["id"] for p in listed["products"] if p["type"] == "variable"}
    drafts = read_all(wc, "products", {"status": "draft"})
    assert drafts and all(p["status"] == "draft" for p in drafts)
    reviews = sorted(listed["reviews"], key=lambda r: r["date_created_gmt"])
    middle = reviews[len(reviews) // 2]["date_created_gmt"]
    after = read_all(wc, "products/reviews", {"status": "all", "after": middle, "dates_are_gmt": "true"})
    before = read_all(wc, "products/reviews", {"status": "all", "before": middle, "dates_are_gmt": "true"})
    assert after and before and all(r["date_created_gmt"] > middle for r in after)
    assert all(r["date_created_gmt"] < middle for r in before)
    completed = read_all(wc, "orders", {"status": "completed"})
    assert completed and all(o["status"] == "completed" for o in completed)


def test_further_routes(wc, listed):
    refunded = next(o for o in listed["orders"] if o["refunds"])
    refunds = wc.get(f"orders/{refunded['id']}/refunds").json()
    assert [r["id"] for r in refunds] == [r["id"] for r in refunded["refunds"]]
    assert all(f"-{r['amount']}" == x["total"] for r, x in zip(refunds, refunded["refunds"]))
    notes = wc.get(f"orders/{refunded['id']}/notes")
    assert notes.status_code == 200 and notes.json()[0]["author"] == "system"
    assert_error(wc.get("orders/999999/refunds"), 404, "woocommerce_rest_shop_order_invalid_id")
    coupons = wc.get("coupons").json()
    used = {c["code"] for o in listed["orders"] for c in o["coupon_lines"]}
    assert used and used <= {c["code"] for c in coupons}
    tools = wc.get("system_status/tools")
    assert tools.status_code == 200 and {"id", "name", "action", "description"} <= set(tools.json()[0])
    for path in ("products/attributes", "products/tags", "products/shipping_classes", "payment_gateways",
                 "shipping/zones", "shipping/zones/1/locations", "shipping/zones/1/methods", "shipping_methods"):
        r = wc.get(path)
        assert r.status_code == 200 and isinstance(r.json(), list), path


def test_the_validator_is_strict(spec, listed):
    """A missing property, an undeclared one, a wrong type or a value outside the enum each fail."""
    v = wp_schema.validator(spec["products"], "view", RULES["products"])
    good = listed["products"][0]
    assert wp_schema.problems(v, good) == []
    for broken in ({k: x for k, x in good.items() if k != "price_html"}, {**good, "currency_symbol": "kr"},
                   {**good, "total_sales": "3"}, {**good, "status": "enabled"}, {**good, "date_created": "2024-01-01"},
                   {**good, "permalink": "not a url"}, {**good, "images": [{**good["images"][0], "src": 5}]}
                   if good["images"] else {**good, "tags": [{"id": "x"}]}):
        assert wp_schema.problems(v, broken), broken


def test_coupons_take_the_date_filters(wc):
    coupon = wc.get("coupons").json()[0]
    stamp = coupon["date_modified_gmt"]
    assert wc.get("coupons", params={"modified_after": stamp, "dates_are_gmt": "true"}).json() == []
    assert wc.get("coupons", params={"modified_before": "2100-01-01T00:00:00", "dates_are_gmt": "true"}).json()


def test_records_written_through_the_api_follow_the_schema(spec):
    """What a target writes reads back complete, as WooCommerce fills in every field it was not sent."""
    with platforms.emulate("woocommerce", products=5, knobs=Knobs(rate_limit=False)) as h:
        wc = API(url=h.base_url, version="wc/v3", timeout=20, **h.credentials)
        cat = wc.post("products/categories", {"name": "Sko og støvler"}).json()
        p = wc.post("products", {"name": "Sko A", "type": "variable", "categories": [{"id": cat["id"]}],
                                 "images": [{"src": "https://cdn.example.net/a.jpg"}],
                                 "attributes": [{"name": "Size", "options": ["M"], "variation": True}]}).json()
        v = wc.post(f"products/{p['id']}/variations", {"regular_price": "12.00",
                                                       "attributes": [{"name": "Size", "option": "M"}]}).json()
        c = wc.post("customers", {"email": "kari@example.no", "first_name": "Kari"}).json()
        o = wc.post("orders", {"customer_id": c["id"], "line_items": [{"product_id": p["id"], "quantity": 1}]}).json()
        r = wc.post("products/reviews", {"product_id": p["id"], "review": "Fin", "reviewer": "Kari",
                                         "reviewer_email": "kari@example.no", "rating": 5}).json()
        for kind, path in (("categories", f"products/categories/{cat['id']}"), ("products", f"products/{p['id']}"),
                           ("variations", f"products/{p['id']}/variations/{v['id']}"),
                           ("customers", f"customers/{c['id']}"), ("orders", f"orders/{o['id']}"),
                           ("reviews", f"products/reviews/{r['id']}")):
            got = wc.get(path)
            assert got.status_code == 200, (path, got.text[:200])
            assert_valid(spec, kind, [got.json()], f"GET {path} after a write")
