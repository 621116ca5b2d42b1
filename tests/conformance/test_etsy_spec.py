"""The Etsy emulator held to Etsy's published OpenAPI 3.0 file (`https://www.etsy.com/openapi/generated/oas/3.0.0.json`;
a copy is AnthonyHewins/etsy `3.0.0.json`), kept as ../shared/specs/etsy/3.0.0.json.gz once vendored (ETSY_SPEC may
name another copy): every route it serves under /v3/application is in the spec, every answer the connector reads
validates against the operation's 200 schema, and error bodies validate as the spec's ErrorSchema."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import requests

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.etsy import emulator as emu
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.sample.generator import StoreSize, generate_store

from .openapi import OpenApi

SPEC = Path(os.environ.get("ETSY_SPEC") or
            Path(__file__).resolve().parents[2] / ".." / "shared" / "specs" / "etsy" / "3.0.0.json.gz")
pytestmark = pytest.mark.skipif(not SPEC.exists(), reason=f"Etsy's spec not found at {SPEC} (../shared is absent "
                                                          f"or holds no etsy/3.0.0.json.gz)")


@pytest.fixture(scope="module")
def spec():
    return OpenApi.load(SPEC)


@pytest.fixture(scope="module")
def etsy(tmp_path_factory):
    d = tmp_path_factory.mktemp("etsy-spec")
    generate_store(d, seed=8, size=StoreSize.scaled(40))
    with platforms.emulate("etsy", store=EmulatorStore(d), knobs=Knobs(rate_limit=False)) as h:
        yield h


def call(h, path, token=None, key=f"{emu.KEYSTRING}:{emu.SHARED_SECRET}"):
    headers = {"x-api-key": key, **({"Authorization": f"Bearer {token}"} if token else {})}
    return requests.get(f"{h.base_url}{path}", headers=headers, timeout=10)


def access_token(h) -> str:
    return requests.post(f"{h.base_url}/v3/public/oauth/token", timeout=10, data={
        "grant_type": "refresh_token", "client_id": emu.KEYSTRING,
        "refresh_token": h.credentials["refresh_token"]}).json()["access_token"]


def test_every_served_route_is_in_the_spec(spec):
    for rule in emu.EtsyEmulator.url_map.iter_rules():
        if not rule.rule.startswith(emu.APP):
            continue  # the OAuth consent and token endpoints are not in the spec's paths
        path = re.sub(r"<[^>]+>", "1", rule.rule)
        assert spec.match(path) is not None, rule.rule


def test_answers_validate_against_the_200_schemas(spec, etsy):
    t = access_token(etsy)
    shop = f"{emu.APP}/shops/{emu.SHOP_ID}"
    paths = [f"{emu.APP}/users/me", f"{shop}/sections", f"{shop}/sections/2",
             *(f"{shop}/listings?state={s}&includes=Images,Inventory&limit=100" for s in
               ("active", "inactive", "sold_out", "draft", "expired")),
             f"{emu.APP}/listings/3?includes=Images,Inventory", f"{emu.APP}/listings/3/inventory",
             f"{emu.APP}/listings/3/images", f"{shop}/receipts?limit=100&sort_on=created&sort_order=asc",
             f"{shop}/receipts?min_last_modified=1704067200", f"{shop}/receipts/2", f"{shop}/receipts/2/transactions",
             f"{shop}/reviews?limit=100"]
    for path in paths:
        answer = call(etsy, path, t)
        assert answer.status_code == 200, (path, answer.text[:300])
        template = spec.match(path.split("?")[0])
        errors = spec.response_errors("get", template, 200, answer.json())
        assert not errors, (path, errors[:5])


def test_error_bodies_are_the_error_schema(spec, etsy):
    t = access_token(etsy)
    shop = f"{emu.APP}/shops/{emu.SHOP_ID}"
    for path, token, key, status in [(f"{shop}/listings", None, None, 401), (f"{shop}/listings?limit=500", t, None, 400),
                                     (f"{shop}/receipts/999999", t, None, 404),
                                     (f"{shop}/sections", None, emu.KEYSTRING, 403)]:
        answer = call(etsy, path, token, **({"key": key} if key else {}))
        assert answer.status_code == status, (path, answer.text[:200])
        assert not spec.errors({"$ref": "#/components/schemas/ErrorSchema"}, answer.json()), (path, answer.json())
