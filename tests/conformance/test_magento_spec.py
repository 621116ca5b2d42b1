"""The Magento emulator held to Magento's own admin REST schema (Swagger 2.0 "Commerce Admin REST endpoints - All
inclusive" 2.4.9, ../shared/specs/magento/): every route it serves is in the schema, and every answer — lists and
single reads, messy records included, errors — validates against the schema's response definition, closed (no
property the definition lacks) and with nulls only for required properties (Magento's DataObjectProcessor outputs a
null only for a getter whose return value is required)."""

import json
from pathlib import Path

import pytest
import requests

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.magento.emulator import ROOT_ID, MagentoEmulator
from cart_pipelines.sample.generator import DEFECTS, StoreSize, generate_store

SPEC = Path(__file__).resolve().parents[2] / ".." / "shared" / "specs" / "magento" / "admin-schema-2.4.9.yaml.gz"
pytestmark = pytest.mark.skipif(not SPEC.exists(), reason=f"Magento's admin REST schema is not at {SPEC} "
                                                          "(../shared, next to the checkout)")

# Where the schema departs from what Magento's runtime outputs, documented and applied as definition overrides:
OVERRIDES = {
    # The generator hand-writes error-parameters as a list of {resources, fieldName, fieldValue}; the REST renderer
    # outputs the exception phrase's arguments: an object for named placeholders ({"resources": ...},
    # {"max": 300}), a list for %1, %2 (developer.adobe.com/commerce/webapi/get-started/gs-web-api-response/).
    "error-parameters": {"anyOf": [
        {"type": "array", "items": {"type": ["string", "number", "boolean"]}},
        {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}]},
    # AttributeValue::getValue is `mixed`, which the generator writes as string; multi-value attributes such as
    # category_ids are output as lists of strings.
    "framework-attribute-interface": {"type": "object", "required": ["attribute_code", "value"], "properties": {
        "attribute_code": {"type": "string"},
        "value": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}}},
}


def spec():
    from conformance.swagger2 import load

    return load(SPEC)


def check(method, template, status, body):
    """Validate one answer against the schema's response for (method, template, status)."""
    s = spec()
    schema = s.response_schema(method, "/" + template, status)
    assert schema is not None, (method, template, status)
    problems = s.errors(body, schema, overrides=OVERRIDES)
    assert not problems, f"{method} {template} {status}:\n" + "\n".join(problems[:20])


def messy(store: EmulatorStore) -> None:
    """The generator's defect records a shop's database could hold (a truncated line or an unreadable date never
    reach one), and a few more edge records: what a real shop has after years of imports."""
    for entity, lines in DEFECTS.items():
        if entity == "reviews":
            continue
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if "created_at" in rec and not str(rec["created_at"])[:4].isdigit():
                del rec["created_at"]
            store.put(entity, rec)
    store.put("products", {"source_id": "90010", "sku": "SKU-EMPTY", "name": "", "price": None, "images": [{}],
                           "variants": [{"options": [{"name": "Farge", "value": "Blå"}]}], "category_ids": []})
    store.put("orders", {"source_id": "90010", "number": "190010", "customer_id": None, "items": [],
                         "billing_address": None, "shipping_address": None, "currency": "NOK"})
    store.put("customers", {"source_id": "90010", "email": "tom@example.no", "addresses": [{"street": None}]})


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    d = tmp_path_factory.mktemp("magento-spec")
    generate_store(d, seed=11, size=StoreSize.scaled(30))
    store = EmulatorStore(d)
    messy(store)
    with platforms.emulate("magento", store=store, knobs=Knobs(rate_limit=False)) as h:
        yield h


def call(h, method, path, token=None, **params):
    token = h.credentials["access_token"] if token is None else token
    url = f"{h.base_url}/rest/default/{path}"
    if method == "POST":
        return requests.post(url, json=params, timeout=10)
    return requests.get(url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10)


SEARCHES = [  # searchCriteria variants every list is asked with
    {},
    {"searchCriteria[pageSize]": 5, "searchCriteria[currentPage]": 2},
    {"searchCriteria[filter_groups][0][filters][0][field]": "entity_id",
     "searchCriteria[filter_groups][0][filters][0][value]": 3,
     "searchCriteria[filter_groups][0][filters][0][condition_type]": "gt",
     "searchCriteria[sortOrders][0][field]": "entity_id", "searchCriteria[sortOrders][0][direction]": "DESC"},
    {"searchCriteria[filterGroups][0][filters][0][field]": "updated_at",
     "searchCriteria[filterGroups][0][filters][0][value]": "2024-01-01 00:00:00",
     "searchCriteria[filterGroups][0][filters][0][conditionType]": "gteq",
     "searchCriteria[sortOrders][0][field]": "created_at", "searchCriteria[sortOrders][0][direction]": "DESC"},
    {"searchCriteria[pageSize]": 300},
]


def params_for(template: str, h) -> list[dict]:
    """Path parameters to ask each single-record route with: ordinary records and the messy ones."""
    if "{sku}" in template or "{productSku}" in template:
        key = "sku" if "{sku}" in template else "productSku"
        return [{key: s} for s in ("SKU-000002", "SKU-BAD-2", "SKU-EMPTY", "SKU-DUP")]
    if "{categoryId}" in template:
        return [{"categoryId": c} for c in (1, 5, ROOT_ID)]
    if "{customerId}" in template:
        return [{"customerId": c} for c in (1, 90001, 90010)]
    if "{id}" in template:
        return [{"id": o} for o in (1, 90001, 90002, 90010)]
    if "{attributeCode}" in template:
        return [{"attributeCode": "manufacturer"}]
    return [{}]


GETS = sorted(t for m, t in MagentoEmulator.ROUTES if m == "GET")


def test_every_served_route_is_in_the_schema():
    s = spec()
    missing = [(m, t) for m, t in MagentoEmulator.ROUTES if not s.has(m, "/" + t)]
    assert not missing


@pytest.mark.parametrize("template", GETS)
def test_answers_validate_against_the_schema(shop, template):
    searching = "{" not in template and spec().response_schema("GET", "/" + template, 200).get("$ref", "").endswith(
        ("search-results-interface", "search-result-interface"))
    for path_params in params_for(template, shop):
        path = template.format(**path_params)
        for query in SEARCHES if searching else [{}]:
            r = call(shop, "GET", path, **query)
            assert r.status_code == 200, (path, query, r.text)
            check("GET", template, 200, r.json())
            if searching:
                assert r.json()["search_criteria"]["page_size"] == query.get("searchCriteria[pageSize]", 20)


def test_nulls_are_output_for_required_getters_only(shop):
    no_email = call(shop, "GET", "V1/customers/90001").json()
    assert no_email["email"] is None and "firstname" in no_email  # required: output as null
    assert "dob" not in no_email and "middlename" not in no_email  # optional: left out
    order = call(shop, "GET", "V1/orders/1").json()
    assert order["payment"]["cc_last4"] is None and order["payment"]["account_status"] is None
    address = call(shop, "GET", "V1/customers/1").json()["addresses"]
    assert all(a["region"]["region_code"] is None for a in address)
    bare = call(shop, "GET", "V1/orders/90010").json()
    assert bare["items"] == [] and "billing_address" not in bare and bare["customer_email"] is None


def test_stock_item_and_configurable_options_follow_their_definitions(shop):
    s = spec()
    required = s.definitions["catalog-inventory-data-stock-item-interface"]["required"]
    products = call(shop, "GET", "V1/products", **{"searchCriteria[pageSize]": 100}).json()["items"]
    for p in products:
        assert set(required) <= set(p["extension_attributes"]["stock_item"]), p["sku"]
    configurable = [p for p in products if p["type_id"] == "configurable"]
    assert configurable
    for p in configurable:
        for option in p["extension_attributes"]["configurable_product_options"]:
            assert option["values"] and all(set(v) == {"value_index"} and isinstance(v["value_index"], int)
                                            for v in option["values"])
    item = call(shop, "GET", f"V1/stockItems/{products[0]['sku']}").json()
    assert item == products[0]["extension_attributes"]["stock_item"]


def test_single_reads_equal_the_listed_records(shop):
    listed = {p["sku"]: p for p in call(shop, "GET", "V1/products", **{"searchCriteria[pageSize]": 100}).json()["items"]}
    assert call(shop, "GET", "V1/products/SKU-000002").json() == listed["SKU-000002"]
    assert call(shop, "GET", "V1/products/SKU-000002/media").json() == listed["SKU-000002"]["media_gallery_entries"]
    for path, entity, key in (("V1/customers/search", "customers", "id"), ("V1/orders", "orders", "entity_id"),
                              ("V1/categories/list", "categories", "id")):
        first = call(shop, "GET", path, **{"searchCriteria[pageSize]": 3}).json()["items"]
        single = {"customers": "V1/customers/{}", "orders": "V1/orders/{}", "categories": "V1/categories/{}"}[entity]
        for item in first:
            assert call(shop, "GET", single.format(item[key])).json() == item


# --- searchCriteria as Magento documents it

def ids(h, path, key="id", **params):
    return [i[key] for i in call(h, "GET", path, **params).json()["items"]]


def test_filters_or_within_a_group_and_across_groups(shop):
    g = "searchCriteria[filter_groups]"
    either = {f"{g}[0][filters][0][field]": "entity_id", f"{g}[0][filters][0][value]": 2,
              f"{g}[0][filters][1][field]": "entity_id", f"{g}[0][filters][1][value]": 7,
              "searchCriteria[pageSize]": 300}
    assert ids(shop, "V1/products", **either) == [2, 7]
    both = {**either, f"{g}[1][filters][0][field]": "entity_id", f"{g}[1][filters][0][value]": 5,
            f"{g}[1][filters][0][condition_type]": "gt"}
    assert ids(shop, "V1/products", **both) == [7]
    named = {f"{g}[0][filters][0][field]": "name", f"{g}[0][filters][0][value]": "%duplikat%",
             f"{g}[0][filters][0][condition_type]": "like"}
    assert ids(shop, "V1/products", **named) == [1]
    listed = {f"{g}[0][filters][0][field]": "entity_id", f"{g}[0][filters][0][value]": "3,4,99",
              f"{g}[0][filters][0][condition_type]": "in"}
    assert ids(shop, "V1/orders", "entity_id", **listed) == [3, 4]
    guests = call(shop, "GET", "V1/orders", **{f"{g}[0][filters][0][field]": "customer_id",
                                                f"{g}[0][filters][0][condition_type]": "null",
                                                f"{g}[0][filters][0][value]": "", "searchCriteria[pageSize]": 300})
    assert guests.json()["items"] and all("customer_id" not in o for o in guests.json()["items"])


def test_sorting_and_paging(shop):
    by_name = call(shop, "GET", "V1/customers/search", **{"searchCriteria[sortOrders][0][field]": "email",
                                                          "searchCriteria[sortOrders][0][direction]": "ASC",
                                                          "searchCriteria[pageSize]": 300}).json()
    emails = [c["email"] for c in by_name["items"]]
    assert emails == sorted(emails, key=lambda e: (e is not None, (e or "").casefold()))
    assert by_name["search_criteria"]["sort_orders"] == [{"field": "email", "direction": "ASC"}]
    # no direction: Magento's collection processors sort descending unless the direction is ASC
    assert ids(shop, "V1/orders", "entity_id", **{"searchCriteria[sortOrders][0][field]": "entity_id",
                                                  "searchCriteria[pageSize]": 3})[0] == 90010
    total = call(shop, "GET", "V1/products").json()["total_count"]
    last = -(-total // 7)
    past = call(shop, "GET", "V1/products", **{"searchCriteria[pageSize]": 7, "searchCriteria[currentPage]": last + 1})
    assert past.json()["items"] == [] and past.json()["total_count"] == total  # 2.4: no repeat of the last page
    assert past.json()["search_criteria"]["current_page"] == last + 1
    assert len(ids(shop, "V1/products", **{"searchCriteria[pageSize]": 7, "searchCriteria[currentPage]": last})) \
        == total - 7 * (last - 1)
    zero = ids(shop, "V1/products", **{"searchCriteria[pageSize]": 4, "searchCriteria[currentPage]": 0})
    assert zero == ids(shop, "V1/products", **{"searchCriteria[pageSize]": 4})


# --- errors

def check_error(h, response, status, method, template, message, parameters=None):
    assert response.status_code == status, response.text
    body = response.json()
    check(method, template, status, body)
    assert body["message"] == message
    assert body.get("parameters") == parameters
    assert "trace" not in body


def test_error_bodies(shop):
    wrong = call(shop, "GET", "V1/products", token="nope")
    check_error(shop, wrong, 401, "GET", "V1/products", "The consumer isn't authorized to access %resources.",
                {"resources": "Magento_Catalog::products"})
    check_error(shop, call(shop, "GET", "V1/products/NO-SUCH-SKU"), 404, "GET", "V1/products/{sku}",
                "The product that was requested doesn't exist. Verify the product and try again.")
    check_error(shop, call(shop, "GET", "V1/categories/424242"), 404, "GET", "V1/categories/{categoryId}",
                "No such entity with %fieldName = %fieldValue", {"fieldName": "id", "fieldValue": "424242"})
    check_error(shop, call(shop, "GET", "V1/customers/424242"), 404, "GET", "V1/customers/{customerId}",
                "No such entity with %fieldName = %fieldValue", {"fieldName": "customerId", "fieldValue": "424242"})
    check_error(shop, call(shop, "GET", "V1/orders/424242"), 404, "GET", "V1/orders/{id}",
                "The entity that was requested doesn't exist. Verify the entity and try again.")
    check_error(shop, call(shop, "GET", "V1/customers/abc"), 400, "GET", "V1/customers/{customerId}",
                'The "%value" value\'s type is invalid. The "%type" type was expected. Verify and try again.',
                {"value": "abc", "type": "int"})
    check_error(shop, call(shop, "GET", "V1/orders", **{"searchCriteria[pageSize]": 301}), 400, "GET", "V1/orders",
                "Maximum SearchCriteria pageSize is %max", {"max": 300})
    check_error(shop, call(shop, "GET", "V1/products/attributes/color/options"), 404, "GET",
                "V1/products/attributes/{attributeCode}/options",
                'The attribute with a "%1" attributeCode doesn\'t exist. Verify the attribute and try again.',
                ["color"])
    for path in ("V1/nothing-here", "V1/products/1/2/3"):
        missing = call(shop, "GET", path)
        assert missing.status_code == 404 and missing.json() == {"message": "Request does not match any route."}
        check("GET", "V1/products", 404, missing.json())  # the `default` answer: error-response
    put = requests.put(f"{shop.base_url}/rest/default/V1/orders/1", timeout=10)
    assert put.status_code == 404 and put.json() == {"message": "Request does not match any route."}


def test_trace_only_in_developer_mode(shop):
    shop.emulator.mode = "developer"
    try:
        body = call(shop, "GET", "V1/orders/424242").json()
    finally:
        shop.emulator.mode = "production"
    check("GET", "V1/orders/{id}", 404, body)
    assert isinstance(body["trace"], str) and body["trace"]
    assert "trace" not in call(shop, "GET", "V1/orders/424242").json()


def test_admin_token_route_and_its_errors(tmp_path):
    generate_store(tmp_path, seed=2, size=StoreSize.scaled(10))
    with platforms.emulate("magento", store=EmulatorStore(tmp_path), knobs=Knobs(rate_limit=False)) as h:
        user, password = MagentoEmulator.ADMIN_USERNAME, MagentoEmulator.ADMIN_PASSWORD
        t = "V1/integration/admin/token"
        good = call(h, "POST", t, username=user, password=password)
        assert good.status_code == 200
        check("POST", t, 200, good.json())
        assert call(h, "GET", "V1/orders/1", token=good.json()).status_code == 200
        check_error(h, call(h, "POST", t, username=user, password="wrong"), 401, "POST", t,
                    "The account sign-in was incorrect or your account is disabled temporarily. Please wait and try "
                    "again later.")
        check_error(h, call(h, "POST", t, username=user), 400, "POST", t, '"%fieldName" is required. Enter and try '
                    'again.', {"fieldName": "password"})
        both = call(h, "POST", t)
        check_error(h, both, 400, "POST", t, "One or more input exceptions have occurred.")
        assert [e["parameters"] for e in both.json()["errors"]] == [{"fieldName": "username"}, {"fieldName": "password"}]
        for _ in range(MagentoEmulator.LOCK_FAILURES - 1):  # one failure above: now the account locks
            call(h, "POST", t, username=user, password="wrong")
        locked = call(h, "POST", t, username=user, password=password)
        assert locked.status_code == 401 and "sign-in was incorrect" in locked.json()["message"]


def test_pymagento_single_reads(shop):
    from magento import Magento

    client = Magento(token=shop.credentials["access_token"], base_url=shop.base_url, batch_page_size=100)
    assert client.get_product("SKU-000002")["sku"] == "SKU-000002"
    assert client.get_product("NO-SUCH-SKU") is None
    assert client.get_category(1)["id"] == 1
    assert client.get_customer(1)["id"] == 1
    assert client.get_order(1)["entity_id"] == 1
    assert client.get_product_stock_item("SKU-000002")["product_id"] == 2
    assert client.get_current_store_group_id(scope="base") == 1  # website "base" -> its default store group
    assert client.get_store_groups()[1]["root_category_id"] == client.get_category(ROOT_ID + 1)["id"]
    assert [v["code"] for v in client.get_store_views()] == ["admin", "default", "b2b"]
    assert len(list(client.get_products())) == call(shop, "GET", "V1/products").json()["total_count"]
