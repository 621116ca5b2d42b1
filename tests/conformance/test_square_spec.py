"""The Square emulator held to Square's OpenAPI 3 spec (github.com/square/connect-api-specification `api.json`,
kept as ../shared/specs/square/api.json.gz; SQUARE_SPEC may name another copy): every route it serves is in the
spec, every answer a connector or the SDK gets validates against the operation's 200 schema (a store with
archived items, variants with options, refunds and guest orders), error bodies validate as Square's `Error`
list, and every request body our connector sends validates against the operation's request schema."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
import requests

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.sample.generator import StoreSize, generate_store

from .openapi import OpenApi

SPEC = Path(os.environ.get("SQUARE_SPEC") or
            Path(__file__).resolve().parents[2] / ".." / "shared" / "specs" / "square" / "api.json.gz")
pytestmark = pytest.mark.skipif(not SPEC.exists(), reason=f"Square's spec not found at {SPEC} (../shared is absent "
                                                          f"or holds no square/api.json.gz)")


@pytest.fixture(scope="module")
def spec():
    opener = gzip.open if SPEC.suffix == ".gz" else open
    with opener(SPEC, "rt", encoding="utf-8") as fh:
        return OpenApi(json.load(fh), SPEC.name)


@pytest.fixture(scope="module")
def square(tmp_path_factory):
    d = tmp_path_factory.mktemp("square-spec")
    generate_store(d, seed=8, size=StoreSize.scaled(40))
    with platforms.emulate("square", store=EmulatorStore(d), knobs=Knobs(rate_limit=False)) as h:
        yield h


def call(h, method, path, body=None, token=None):
    headers = {"Authorization": f"Bearer {token or h.credentials['api_key']}", "Square-Version": "2025-08-20"}
    return requests.request(method, f"{h.base_url}{path}", json=body, headers=headers, timeout=10)


def test_every_served_route_is_in_the_spec(spec):
    from cart_pipelines.platforms.square.emulator import SquareEmulator

    for rule in SquareEmulator.url_map.iter_rules():
        template = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert spec.operation(method, template) is not None, (method, template)


def test_answers_validate_against_the_200_schemas(spec, square):
    locations = call(square, "GET", "/v2/locations").json()["locations"]
    ids = [loc["id"] for loc in locations]
    requests_ = [("GET", "/v2/locations", None), ("GET", "/v2/catalog/list", None),
                 ("GET", "/v2/catalog/list?types=ITEM_VARIATION,IMAGE,ITEM_OPTION", None),
                 ("POST", "/v2/catalog/search", {"object_types": ["ITEM"], "include_related_objects": True}),
                 ("POST", "/v2/catalog/search", {"object_types": ["CATEGORY"], "include_category_path_to_root": True,
                                                 "begin_time": "2024-01-01T00:00:00.000Z"}),
                 ("GET", "/v2/catalog/object/3", None),
                 ("GET", "/v2/customers?limit=100&sort_field=CREATED_AT&count=true", None),
                 ("POST", "/v2/customers/search", {"query": {"filter": {"updated_at": {
                     "start_at": "2024-01-01T00:00:00.000Z"}}, "sort": {"field": "CREATED_AT", "order": "ASC"}}}),
                 ("GET", "/v2/customers/2", None),
                 ("POST", "/v2/orders/search", {"location_ids": ids, "limit": 1000}),
                 ("POST", "/v2/orders/search", {"location_ids": ids, "return_entries": True}),
                 ("GET", "/v2/orders/1", None)]
    for method, path, body in requests_:
        answer = call(square, method, path, body)
        assert answer.status_code == 200, (path, answer.text[:300])
        template = spec.match(path.split("?")[0])
        errors = spec.response_errors(method, template, 200, answer.json())
        assert not errors, (method, path, errors[:5])


def test_error_bodies_are_squares_error_list(spec, square):
    schema = {"type": "object", "required": ["errors"],
              "properties": {"errors": {"type": "array", "minItems": 1,
                                        "items": {"$ref": "#/components/schemas/Error"}}}}
    for method, path, body, token, status in [
            ("GET", "/v2/locations", None, "EAAAwrong", 401),
            ("POST", "/v2/orders/search", {"location_ids": []}, None, 400),
            ("POST", "/v2/customers/search", {"limit": 500}, None, 400),
            ("GET", "/v2/customers/999999", None, None, 404),
            ("GET", "/v2/catalog/object/nothing", None, None, 404)]:
        answer = call(square, method, path, body, token)
        assert answer.status_code == status, (path, answer.text[:200])
        assert not spec.errors(schema, answer.json()), (path, answer.json())


def test_the_connectors_request_bodies_validate_against_the_request_schemas(spec, square):
    """Every search body the connector sends (full reads, delta, slices) is a valid request per the spec."""
    from datetime import datetime, timezone

    from cart_pipelines.platforms.kit.source import Slice

    sent = []
    square.emulator.knobs.after_response = lambda r: sent.append((r.method, r.path, r.get_data())) \
        if r.method == "POST" else None
    try:
        src = platforms.connect("square", square)
        since = datetime(2024, 6, 1, tzinfo=timezone.utc)
        for entity in ("products", "customers", "orders"):
            list(src.records(entity))
            list(src.records(entity, updated_since=since))
        list(src.records_in("orders", Slice("created_at", since, datetime(2024, 9, 1, tzinfo=timezone.utc))))
    finally:
        square.emulator.knobs.after_response = None
    assert {p for _, p, _ in sent} == {"/v2/catalog/search", "/v2/customers/search", "/v2/orders/search"}
    for method, path, data in sent:
        op = spec.operation(method, path)
        schema = spec.deref(op.raw["requestBody"])["content"]["application/json"]["schema"]
        assert not spec.errors(schema, json.loads(data)), (path, data[:300])
