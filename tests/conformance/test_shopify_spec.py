"""The Shopify emulator held to Shopify's published Admin GraphQL schema (../shared/specs/shopify, 2025-01).

- the emulator's effective schema is the published one plus the one documented extension (emulator_schema.py:
  the 2025-07 `limit` argument on count fields), compared type by type, field by field, argument by argument;
- every query and mutation our connector and target send (cursor pages, bulk exports, counts, id bounds,
  vendors, writes, read-backs, bulk mutations, clear) validates against the published schema, apart from those
  that need that 2025-07 argument;
- invalid queries are refused as Shopify (graphql-ruby) refuses them: an `errors` array with `extensions.code`;
- the REST calls clients start with (shop.json, access_scopes.json) answer the documented fields.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
import requests
from graphql import (
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    build_client_schema,
    find_breaking_changes,
    find_dangerous_changes,
    parse,
    validate,
)

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.kit.source import Slice
from cart_pipelines.platforms.shopify.emulator import TOKEN, schema
from cart_pipelines.platforms.shopify.source import ShopifySource
from cart_pipelines.platforms.shopify.target import ShopifyTarget

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
SPEC = SHARED / "specs" / "shopify" / "admin_schema_2025-01.json.gz"
pytestmark = pytest.mark.skipif(not SPEC.is_file(), reason=f"Shopify's published Admin schema is not at {SPEC} "
                                                            "(../shared is absent on this machine)")
ADDRESS = {"first_name": "Kari", "last_name": "Nordmann", "company": None, "street": "Storgata 1", "city": "Oslo",
           "postcode": "0155", "region": None, "country": "NO", "phone": None}
# Fields our connector uses (API 2025-10) that 2025-01 lacks: the `limit` argument of the 2025-07 change.
# And `processedAt` on Refund (2026-01, the refund's date): the target reads refunds through 2026-01.
NEWER_THAN_2025_01 = ("Unknown argument 'limit' on field 'QueryRoot.customersCount'.",
                      "Unknown argument 'limit' on field 'QueryRoot.collectionsCount'.",
                      "Cannot query field 'processedAt' on type 'Refund'. Did you mean 'createdAt'?")
# The refund date of 2026-01 (changelog set-processed-at-in-refund-create)
REFUND_DATES = {"RefundInput.processedAt", "Refund.processedAt"}


@pytest.fixture(scope="module")
def published():
    with gzip.open(SPEC, "rt", encoding="utf-8") as fh:
        return build_client_schema(json.load(fh)["data"])


def _signature(schema) -> dict:
    """Every type's kind, fields (with type) and arguments (with type and default), as comparable strings."""
    out = {}
    for name, t in schema.type_map.items():
        entry = {"kind": type(t).__name__}
        if isinstance(t, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for fname, f in t.fields.items():
                entry[fname] = str(f.type)
                for aname, a in getattr(f, "args", {}).items():
                    entry[f"{fname}({aname})"] = f"{a.type}={a.default_value!r}"
        out[name] = entry
    return out


def test_the_served_schema_is_the_published_one_plus_the_documented_extension(published):
    served = schema()
    assert not find_breaking_changes(published, served)
    mine, theirs = _signature(served), _signature(published)
    assert set(mine) == set(theirs)
    extra = sorted(f"{t}.{k}" for t in mine for k in mine[t] if k not in theirs[t])
    changed = sorted(f"{t}.{k}" for t in mine for k in mine[t] if k in theirs[t] and mine[t][k] != theirs[t][k])
    assert not changed
    # the extension: `limit` on the count fields 2025-01 lacks it on (2025-07 "Uncapped counts" changelog)
    assert REFUND_DATES <= set(extra)
    extra = [e for e in extra if e not in REFUND_DATES]
    assert extra and all(e.startswith("QueryRoot.") and e.endswith("Count(limit)") for e in extra)
    assert {"QueryRoot.customersCount(limit)", "QueryRoot.collectionsCount(limit)"} <= set(extra)
    assert all(c.type.name in ("OPTIONAL_ARG_ADDED", "OPTIONAL_INPUT_FIELD_ADDED")
               for c in find_dangerous_changes(published, served))


def _texts(bodies: list[bytes]) -> set[str]:
    """The GraphQL documents in the recorded request bodies, with the bulk queries and mutations they carry."""
    texts = set()
    for raw in bodies:
        body = json.loads(raw)
        texts.add(body["query"])
        variables = body.get("variables") or {}
        if "bulkOperationRunQuery" in body["query"]:
            texts.add(variables["q"])
        if "bulkOperationRunMutation" in body["query"]:
            texts.add(variables["mutation"])
    return texts


def test_every_query_our_connector_and_target_send_validates_against_the_published_schema(published, tmp_path):
    bodies: list[bytes] = []
    knobs = Knobs(rate_limit=False, after_response=lambda r: bodies.append(r.get_data())
                  if r.path.endswith("/graphql.json") else None)
    since = datetime(2020, 1, 1, tzinfo=timezone.utc)
    with platforms.emulate("shopify", products=12, knobs=knobs) as h:
        source = platforms.connect("shopify", h)
        bulk = ShopifySource.connect(h.base_url, h.credentials, bulk_threshold=0)
        for entity in ("categories", "products", "customers", "orders", "manufacturers"):
            for src in (source, bulk):
                assert list(src.records(entity)) or entity == "manufacturers"
                list(src.records(entity, updated_since=since))
            list(source.ids(entity) or ())
        for entity in ("products", "customers", "orders"):
            n, lo, hi = source.id_bounds(entity)
            for src in (source, bulk):
                list(src.records_in(entity, Slice("id", lo, hi + 1)))
                list(src.records_in(entity, Slice("created_at", since, datetime.now(timezone.utc))))
        source.check()
    with platforms.emulate("shopify", store=EmulatorStore(tmp_path), knobs=knobs) as h:  # an empty shop
        target = ShopifyTarget(h.base_url, TOKEN, h.credentials["api_version"], bulk_threshold=None)
        in_bulk = ShopifyTarget(h.base_url, TOKEN, h.credentials["api_version"], bulk_threshold=1)
        cats = target.create("categories", pa.Table.from_pylist(
            [{"source_id": f"c{k}", "name": f"Kategori {k}", "url_key": f"kat-{k}", "parent_id": None}
             for k in range(2)]))
        in_bulk.create("categories", pa.Table.from_pylist(
            [{"source_id": f"b{k}", "name": f"Bulk {k}", "url_key": f"bulk-{k}", "parent_id": None}
             for k in range(2)]))
        target.create("manufacturers", pa.Table.from_pylist([{"source_id": "m1", "name": "Acme", "url_key": "acme"}]))
        customer = target.create("customers", pa.Table.from_pylist([
            {"source_id": "u1", "email": "kari@example.no", "first_name": "Kari", "last_name": "Nordmann",
             "phone": None, "newsletter": True,
             "addresses": [{**ADDRESS, "is_default_billing": True, "is_default_shipping": True}]}]))[0].target_id
        product = {"source_id": "p1", "sku": "P-1", "name": "Genser", "description": "<p>Ull</p>",
                   "price": Decimal("500.00"), "special_price": Decimal("400.00"), "weight": 0.5, "stock": 7,
                   "active": True, "url_key": "genser", "category_ids": [cats[0].target_id],
                   "manufacturer_id": "Acme", "tax_class_id": None,
                   "variants": [{"source_id": "p1-s", "sku": "P-1-S", "price": Decimal("500.00"), "stock": 3,
                                 "options": [{"name": "Størrelse", "value": "S"}]}],
                   "images": [{"url": "https://cdn.example.no/1.jpg", "position": 0, "alt": "Forside"}]}
        pid = target.create("products", pa.Table.from_pylist([product]))[0].target_id
        target.update("products", pa.Table.from_pylist([{**product, "name": "Strikkegenser", "target_id": pid}]))
        order = {"source_id": "o1", "order_number": "#o1", "customer_id": customer, "email": "kari@example.no",
                 "customer_first_name": "Kari", "customer_last_name": "Nordmann", "status": "completed",
                 "currency": "NOK", "subtotal": Decimal("200.00"), "shipping": Decimal("49.00"),
                 "tax": Decimal("50.00"), "discount": Decimal("10.00"), "grand_total": Decimal("289.00"),
                 "items": [{"source_id": "o1-1", "product_id": pid, "sku": "P-1-S", "name": "Genser", "qty": 2,
                            "price": Decimal("100.00"), "tax": Decimal("50.00")}],
                 "billing_address": ADDRESS, "shipping_address": ADDRESS, "created_at": "2024-05-01T10:00:00+00:00"}
        results = target.create("orders", pa.Table.from_pylist([order]))
        assert results[0].error is None, results[0].error
        for entity in ("categories", "manufacturers", "customers", "products", "orders"):
            target.scan(entity)
            target.count(entity)
            target.find_existing(entity, ["c0", "m1", "u1", "p1", "o1"])
        target.clear(["orders", "customers", "products", "categories", "manufacturers"])

    texts = _texts(bodies)
    assert len(texts) > 30  # the reads and writes above, not a handful
    refused = {}
    for text in texts:
        problems = [e.message for e in validate(published, parse(text))]
        unexpected = [p for p in problems if p not in NEWER_THAN_2025_01]
        if unexpected:
            refused[text] = unexpected
    assert not refused, json.dumps(refused, indent=1)


def _post(h, query: str, variables: dict | None = None) -> dict:
    response = requests.post(f"{h.base_url}/admin/api/2025-01/graphql.json", json={"query": query,
                             "variables": variables or {}}, headers={"X-Shopify-Access-Token": TOKEN}, timeout=30)
    assert response.status_code == 200
    return response.json()


INVALID = [  # query, extensions.code, message (graphql-ruby's words, as Shopify answers)
    ("{ shop { nope } }", "undefinedField", "Field 'nope' doesn't exist on type 'Shop'"),
    ("{ products(first: 1, bogus: 1) { nodes { id } } }", "argumentNotAccepted",
     "Field 'products' doesn't accept argument 'bogus'"),
    ("{ node { id } }", "missingRequiredArguments", "Field 'node' is missing required arguments: id"),
    ("{ shop }", "selectionMismatch", None),
    ("query($n: Int) { shop { name } }", "variableNotUsed", None),
    ("{ shop { name { x } } }", "selectionMismatch", None),
    # OrderCreateTaxLineInput.rate is required (Decimal!)
    ('mutation { orderCreate(order: {currency: NOK, taxLines: [{title: "MVA"}]}) { userErrors { field } } }',
     "missingRequiredInputObjectAttribute", "Argument 'rate' on InputObject 'OrderCreateTaxLineInput' is required. "
     "Expected type Decimal!"),
    # the generic UserError has no code; CustomerCreatePayload's userErrors are UserErrors
    ('mutation { customerCreate(input: {email: "a@b.no"}) { userErrors { code } } }', "undefinedField",
     "Field 'code' doesn't exist on type 'UserError'"),
]


def test_invalid_queries_are_refused_as_shopify_refuses_them():
    with platforms.emulate("shopify", products=3) as h:
        for query, code, message in INVALID:
            body = _post(h, query)
            assert "data" not in body, query  # nothing ran
            error = body["errors"][0]
            assert error["extensions"]["code"] == code, (query, error)
            assert error["locations"], query
            if message:
                assert error["message"] == message
        # a variable of the wrong type: Shopify's "was provided invalid value" with the problems
        body = _post(h, "mutation($i: [StagedUploadInput!]!) { stagedUploadsCreate(input: $i) { userErrors "
                     "{ message } } }", {"i": [{"resource": "BULK_MUTATION_VARIABLES", "filename": "x.jsonl",
                                               "mimeType": "text/jsonl", "fileSize": 12}]})
        error = body["errors"][0]
        assert error["message"] == ("Variable $i of type [StagedUploadInput!]! was provided invalid value for "
                                    "0.fileSize (UnsignedInt64 '12' must be encoded as a string)")
        assert error["extensions"]["problems"][0]["path"] == [0, "fileSize"]
        body = _post(h, "mutation($o: OrderCreateOrderInput!) { orderCreate(order: $o) { userErrors { code } } }",
                     {"o": {"currency": "NOK", "shippingAddress": {"countryCode": "Sweden"}}})
        assert body["errors"][0]["extensions"]["problems"][0]["path"] == ["shippingAddress", "countryCode"]


def test_types_as_the_schema_says():
    with platforms.emulate("shopify", products=3) as h:
        data = _post(h, "{ shop { email currencyCode } products(first: 1) { nodes { id legacyResourceId "
                        "variants(first: 1) { nodes { price } } } } orders(first: 1) { nodes { currencyCode "
                        "totalPriceSet { shopMoney { amount currencyCode } } } } "
                        "customersCount { count precision } draftOrders(first: 2) { nodes { id } "
                        "pageInfo { hasNextPage } } }")
        assert "errors" not in data, data
        d = data["data"]
        assert d["shop"]["email"] and d["shop"]["currencyCode"] == "NOK"
        product = d["products"]["nodes"][0]
        assert product["id"].startswith("gid://shopify/Product/") and isinstance(product["legacyResourceId"], str)
        assert isinstance(product["variants"]["nodes"][0]["price"], str)
        assert isinstance(d["orders"]["nodes"][0]["totalPriceSet"]["shopMoney"]["amount"], str)
        assert d["customersCount"]["precision"] == "EXACT"
        # not modelled: an empty connection, as its type allows
        assert d["draftOrders"] == {"nodes": [], "pageInfo": {"hasNextPage": False}}
        cost = data["extensions"]["cost"]
        assert cost["requestedQueryCost"] >= cost["actualQueryCost"] > 0
        assert set(cost["throttleStatus"]) == {"maximumAvailable", "currentlyAvailable", "restoreRate"}


def test_rest_shop_and_access_scopes():
    with platforms.emulate("shopify", products=3, knobs=Knobs(denied_scopes=("read_orders",))) as h:
        headers = {"X-Shopify-Access-Token": TOKEN}
        shop = requests.get(f"{h.base_url}/admin/api/2025-01/shop.json", headers=headers, timeout=10)
        assert shop.status_code == 200 and "X-Shopify-Shop-Api-Call-Limit" in shop.headers
        fields = shop.json()["shop"]
        assert {"id", "name", "email", "domain", "myshopify_domain", "currency", "iana_timezone", "plan_name",
                "primary_locale", "country_code", "money_format", "weight_unit", "created_at"} <= set(fields)
        picked = requests.get(f"{h.base_url}/admin/api/2025-01/shop.json?fields=id,name", headers=headers,
                              timeout=10).json()["shop"]
        assert set(picked) == {"id", "name"}
        scopes = requests.get(f"{h.base_url}/admin/oauth/access_scopes.json", headers=headers, timeout=10).json()
        handles = {s["handle"] for s in scopes["access_scopes"]}
        assert "read_products" in handles and "read_orders" not in handles
        wrong = requests.get(f"{h.base_url}/admin/api/2025-01/shop.json", headers={"X-Shopify-Access-Token": "x"},
                             timeout=10)
        assert wrong.status_code == 401 and wrong.json()["errors"].startswith("[API] Invalid API key")


# The refund types of the hand-written fallback SDL (served when ../shared is absent), held to the published schema
FALLBACK_REFUND_TYPES = ("Refund", "RefundLineItem", "RefundLineItemConnection", "RefundLineItemEdge",
                         "RefundLineItemRestockType", "RefundInput", "RefundLineItemInput", "OrderTransactionInput",
                         "RefundCreatePayload", "OrderTransaction", "OrderTransactionKind", "OrderTransactionStatus",
                         "LegacyInteroperability")
FALLBACK_REFUND_FIELDS = {"Order": ("totalRefundedSet", "currentTotalPriceSet", "refunds", "transactions"),
                          "Mutation": ("refundCreate",)}


def test_the_fallback_sdls_refund_types_are_the_published_ones(published):
    """What the fallback SDL declares for refunds (refundCreate, its input and payload, Refund and its lines, the
    order's refunds and transactions) is what the published schema says, field by field and argument by argument
    (a subset of the fields, each as published; enums with all their values)."""
    from graphql import GraphQLEnumType, build_schema

    from cart_pipelines.platforms.shopify.emulator import FALLBACK_SDL

    fallback = build_schema(FALLBACK_SDL)
    mine, theirs = _signature(fallback), _signature(published)
    fields = {name: [k for k in mine[name] if k != "kind"] for name in FALLBACK_REFUND_TYPES}
    fields.update({name: [k for k in mine[name] if k.split("(")[0] in wanted]
                   for name, wanted in FALLBACK_REFUND_FIELDS.items()})
    for name, keys in fields.items():
        assert keys or isinstance(fallback.type_map[name], GraphQLEnumType), name
        assert mine[name]["kind"] == theirs[name]["kind"], name
        assert {k: mine[name][k] for k in keys} == {k: theirs[name].get(k) for k in keys}, name
        # every argument the published field takes is declared too (none left out of a field we declare)
        for k in keys:
            if "(" not in k:
                assert {a for a in theirs[name] if a.startswith(f"{k}(")} == \
                       {a for a in mine[name] if a.startswith(f"{k}(")}, (name, k)
        if isinstance(fallback.type_map[name], GraphQLEnumType):
            assert list(fallback.type_map[name].values) == list(published.type_map[name].values), name
        interfaces = getattr(fallback.type_map[name], "interfaces", None)
        if interfaces is not None and name in FALLBACK_REFUND_TYPES:
            assert [i.name for i in interfaces] == [i.name for i in published.type_map[name].interfaces
                                                    if i.name in fallback.type_map], name
    required = {f for f, v in published.type_map["RefundInput"].fields.items() if str(v.type).endswith("!")}
    assert required <= set(fallback.type_map["RefundInput"].fields)
