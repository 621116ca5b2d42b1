"""Shopify bulk mutations as a target writes them: a staged JSONL upload, bulkOperationRunMutation, the result file.
The loader's path with the threshold at 0 (every write bulk) reads back equal to the local reference target;
per-line userErrors are quarantined with Shopify's message; a re-run writes nothing. The emulator's side: the
signed upload form, one bulk mutation at a time, per-line GraphQL errors, Shopify's error codes."""

import json

import pyarrow as pa
import pytest
import requests
from helpers import Run

from cart_pipelines.defs.platform_resources import ShopifyTargetResource
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs, running
from cart_pipelines.platforms.shopify import source as conn
from cart_pipelines.platforms.shopify.emulator import TOKEN, ShopifyEmulator
from cart_pipelines.platforms.shopify.target import ShopifyTarget
from cart_pipelines.platforms.shopify.target_bulk import RUN, STAGE
from cart_pipelines.sample.generator import StoreSize, generate_store
from targets.test_round_trip import by_source_id, same

ENTITIES = ("categories", "manufacturers", "tax_classes", "products", "customers")  # tax classes: skipped by rule
COMPARED = ("categories", "manufacturers", "products", "customers")


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(conn, "BULK_POLL_S", 0.05)


@pytest.fixture
def shop(tmp_path):
    emulator = ShopifyEmulator(EmulatorStore(tmp_path / "empty"), Knobs(rate_limit=False))
    with running(emulator, lifetime=180) as handle:
        yield handle


def bulk_target(handle, threshold=0) -> ShopifyTarget:
    c = handle.credentials
    return ShopifyTarget(handle.base_url, c["access_token"], c["api_version"], bulk_threshold=threshold)


def gql(handle, query, variables=None):
    return requests.post(f"{handle.base_url}/admin/api/2025-10/graphql.json", json={"query": query,
                         "variables": variables or {}}, headers={"X-Shopify-Access-Token": TOKEN},
                         timeout=10).json()


def stage(handle, body: bytes) -> tuple[dict, str]:
    target = gql(handle, STAGE, {"input": [{"resource": "BULK_MUTATION_VARIABLES", "filename": "v.jsonl",
                                            "mimeType": "text/jsonl", "httpMethod": "POST"}]})
    target = target["data"]["stagedUploadsCreate"]["stagedTargets"][0]
    return {p["name"]: p["value"] for p in target["parameters"]}, target["url"]


def test_bulk_load_reads_back_equal_and_a_rerun_writes_nothing(tmp_path, shop):
    store = tmp_path / "store"
    generate_store(store, seed=21, size=StoreSize.scaled(40))
    reference = Run(tmp_path / "ref", store)
    reference(entities=ENTITIES)
    run = Run(tmp_path / "run", store)
    run.target = bulk_target(shop)
    first = run(entities=ENTITIES)
    assert first["products"].created == reference.target.count("products") > 0
    ops = shop.emulator.bulk_ops["MUTATION"]
    assert ops["status"] == "COMPLETED" and ops["query"].startswith("mutation($v: CustomerInput!)")
    # every record went in a bulk mutation but manufacturers, which are shop metafields (metafieldsSet)
    assert shop.emulator.writes == shop.emulator.bulk_lines + first["manufacturers"].created
    writes = shop.emulator.writes
    again = run(entities=ENTITIES)
    assert shop.emulator.writes == writes, "a re-run wrote to the target"
    assert all(r.created == r.updated == 0 for r in again.values())
    got, want = by_source_id(run.target), by_source_id(reference.target)
    for entity in COMPARED:
        fields = ShopifyTargetResource.COMPARABLE[entity]
        assert set(got[entity]) == set(want[entity]), entity
        for sid, w in want[entity].items():
            g = got[entity][sid]
            diff = {k: (g.get(k), w.get(k)) for k in fields if not same(g.get(k), w.get(k))}
            assert not diff, (entity, sid, diff)


def test_per_line_user_errors_are_quarantined_with_shopifys_message(shop):
    target = bulk_target(shop)
    rows = pa.Table.from_pylist([{"source_id": f"u{k}", "email": e, "first_name": "Kari", "last_name": "Nordmann",
                                  "phone": None, "newsletter": False, "addresses": []}
                                 for k, e in enumerate(["kari@example.no", "ola@example.no", "KARI@example.no",
                                                        "not-an-address"])])
    results = target.create("customers", rows)
    assert [r.error for r in results] == [None, None, "email: Email has already been taken", "email: Email is invalid"]
    assert shop.emulator.bulk_seq == 1 and shop.emulator.writes == 2
    # below the threshold the same write goes as aliased mutations, with the same answers
    per_call = bulk_target(shop, threshold=10).update("customers", rows.append_column(
        "target_id", pa.array([r.target_id or "999" for r in results])))
    assert shop.emulator.bulk_seq == 1
    assert [r.error for r in per_call[:2]] == [None, None]
    assert all(r.error.startswith("id: Customer does not exist") for r in per_call[2:])


def test_upload_form_result_lines_and_one_bulk_mutation_at_a_time(shop):
    shop.emulator.bulk_delay = 1  # the first operation stays RUNNING while the second is tried
    lines = [{"input": {"title": "Sko"}}, {"input": {"title": 5}}, {"input": {"title": ""}}]
    form, url = stage(shop, b"")
    body = "".join(json.dumps(x) + "\n" for x in lines).encode()
    forged = requests.post(url, data={**form, "key": "tmp/1/bulk/other/bulk_op_vars"},
                           files={"file": ("v.jsonl", body, "text/jsonl")}, timeout=10)
    assert forged.status_code == 403 and b"AccessDenied" in forged.content  # the key is bound by the signed policy
    ok = requests.post(url, data=form, files={"file": ("v.jsonl", body, "text/jsonl")}, timeout=10)
    assert ok.status_code == 201 and form["key"].encode() in ok.content
    mutation = "mutation($input: CollectionInput!) { collectionCreate(input: $input) { collection { id } " \
               "userErrors { field message } } }"
    run = gql(shop, RUN, {"mutation": mutation, "path": form["key"]})["data"]["bulkOperationRunMutation"]
    assert run["userErrors"] == [] and run["bulkOperation"]["status"] == "CREATED"
    second = gql(shop, RUN, {"mutation": mutation, "path": form["key"]})["data"]["bulkOperationRunMutation"]
    assert second["bulkOperation"] is None and second["userErrors"][0]["code"] == "OPERATION_IN_PROGRESS"
    # a bulk query may run alongside the bulk mutation
    query = gql(shop, 'mutation { bulkOperationRunQuery(query: "{ products { edges { node { id } } } }") { '
                      'userErrors { code } } }')
    assert query["data"]["bulkOperationRunQuery"]["userErrors"] == []
    op = bulk_target(shop).api.wait_bulk(run["bulkOperation"]["id"], "MUTATION", "test")
    result = sorted((json.loads(x) for x in requests.get(op["url"], timeout=10).text.splitlines()),
                    key=lambda r: r["__lineNumber"])
    assert [r["__lineNumber"] for r in result] == [0, 1, 2]
    assert result[0]["data"]["collectionCreate"]["userErrors"] == []
    assert "errors" in result[1] and "String cannot represent a non string value" in result[1]["errors"][0]["message"]
    assert result[2]["data"]["collectionCreate"]["userErrors"][0]["message"] == "Title can't be blank"
    assert op["objectCount"] in (3, "3")


def test_shopifys_refusals_of_a_bulk_mutation(shop):
    form, url = stage(shop, b"")
    nothing = gql(shop, RUN, {"mutation": "mutation($i: CollectionInput!) { collectionCreate(input: $i) { "
                                          "userErrors { message } } }", "path": form["key"]})
    assert nothing["data"]["bulkOperationRunMutation"]["userErrors"][0]["code"] == "NO_SUCH_FILE"
    requests.post(url, data=form, files={"file": ("v.jsonl", b'{"i": {}}\nnot json\n', "text/jsonl")}, timeout=10)
    bad_file = gql(shop, RUN, {"mutation": "mutation($i: CollectionInput!) { collectionCreate(input: $i) { "
                                           "userErrors { message } } }", "path": form["key"]})
    assert bad_file["data"]["bulkOperationRunMutation"]["userErrors"][0]["code"] == "INVALID_STAGED_UPLOAD_FILE"
    two = gql(shop, RUN, {"mutation": "mutation { a: shop { id } }", "path": form["key"]})
    assert two["data"]["bulkOperationRunMutation"]["userErrors"][0]["code"] == "INVALID_MUTATION"
