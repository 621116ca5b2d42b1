"""The contract every platform connector keeps against its emulator (one parameter per registered platform).

Each connector module declares CARRIED (canonical fields it carries per entity; entities it lacks are absent),
SCOPES (the permission/scope each entity needs, as the platform names it) and PAGE_SIZE (records per page it asks).
"""

import json
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from cart_pipelines.model.canonical import SCHEMAS
from cart_pipelines.model.coerce import coerce_record
from cart_pipelines.pipeline.extract import extract_entity
from cart_pipelines.pipeline.staging import Staging
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.kit.http import ConnectionProblem
from cart_pipelines.platforms.mystore import facts as mystore_facts
from cart_pipelines.sample.generator import StoreSize, generate_store

from .real_shop import as_held

NAMES = sorted(platforms.PLATFORMS)


@pytest.fixture(scope="module")
def truth_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("truth")
    generate_store(d, seed=5, size=StoreSize.scaled(60))
    return d


def truth(store_dir, entity):
    with open(store_dir / f"{entity}.jsonl", encoding="utf-8") as fh:
        return [coerce_record(json.loads(line, parse_float=Decimal), SCHEMAS[entity]) for line in fh]


def staged(staging, entity):
    return pq.read_table(staging.parquet_path(entity)).to_pylist()


def project(rows, fields):
    return sorted(({f: r.get(f) for f in fields} for r in rows), key=lambda r: int(r["source_id"]))


@pytest.mark.parametrize("name", NAMES)
def test_extract_equals_generator_truth_field_by_field(name, truth_dir, tmp_path):
    carried = platforms.source_module(name).CARRIED
    staging = Staging(tmp_path)
    with platforms.emulate(name, store=EmulatorStore(truth_dir), knobs=Knobs(rate_limit=False)) as h:
        src = platforms.connect(name, h)
        for entity, fields in carried.items():
            assert "source_id" in fields
            res = extract_entity(src, entity, staging)
            assert res.quarantined == 0, entity
            got = project(staged(staging, entity), fields)
            want = project(as_held(name, entity, truth(truth_dir, entity)), fields)
            assert len(got) == len(want), entity
            for g, w in zip(got, want):
                assert g == w, (entity, {k: (g[k], w[k]) for k in fields if g[k] != w[k]})


@pytest.mark.parametrize("name", NAMES)
def test_wrong_credentials_are_explained_without_leaking(name, tmp_path):
    mod = platforms.source_module(name)
    with platforms.emulate(name, products=10) as h:
        wrong = {k: f"wrong-{k}-value" for k in h.credentials if k not in getattr(mod, "NON_SECRET", ())}
        src = platforms.connect(name, h, **wrong)
        with pytest.raises(ConnectionProblem) as exc:
            next(iter(src.records("products")))
    assert exc.value.kind == "credentials"
    message = str(exc.value)
    assert "check" in message and "typo" in message
    for value in wrong.values():
        assert value not in message


@pytest.mark.parametrize("name", NAMES)
def test_missing_scope_names_the_permission(name):
    mod = platforms.source_module(name)
    scope = mod.SCOPES["products"]
    with platforms.emulate(name, products=10, knobs=Knobs(denied_scopes=(scope,))) as h:
        with pytest.raises(ConnectionProblem) as exc:
            next(iter(platforms.connect(name, h).records("products")))
    assert exc.value.kind == "permission" and scope in str(exc.value)


@pytest.mark.parametrize("name", NAMES)
def test_429_storm_is_ridden_out(name, tmp_path, monkeypatch):
    # Mystore sends no Retry-After: its client waits RETRY_429_AFTER_S (5 s) after each 429, 20 s for this storm.
    # The wait it chooses is proved in tests/contract/test_mystore_source.py (test_a_429_waits_...); here, the riding.
    monkeypatch.setattr(mystore_facts, "RETRY_429_AFTER_S", 0.2)
    with platforms.emulate(name, products=10, knobs=Knobs(storm=4)) as h:
        src = platforms.connect(name, h)
        res = extract_entity(src, "products", Staging(tmp_path))
    assert res.staged == 10 and res.quarantined == 0
    assert src.client.retries >= 4


@pytest.mark.parametrize("name", NAMES)
def test_empty_store(name, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with platforms.emulate(name, store=EmulatorStore(empty)) as h:
        src = platforms.connect(name, h)
        for entity in platforms.source_module(name).CARRIED:
            assert list(src.records(entity)) == [], entity


@pytest.mark.parametrize("name", NAMES)
def test_one_record_and_exact_last_page(name, tmp_path, truth_dir):
    """A store of one product, then one of exactly two full pages: no record lost, none twice."""
    page = platforms.source_module(name).PAGE_SIZE
    for n in (1, 2 * page):
        d = tmp_path / f"n{n}"
        generate_store(d, seed=9, size=StoreSize(categories=3, manufacturers=2, tax_classes=3, products=n,
                                                 customers=1, orders=1, reviews=1), entities=("products",))
        with platforms.emulate(name, store=EmulatorStore(d), knobs=Knobs(rate_limit=False)) as h:
            ids = [r.source_id for r in platforms.connect(name, h).records("products")]
        want = [p["source_id"] for p in as_held(name, "products", truth(d, "products"))]  # trashed: deleted there
        assert sorted(ids, key=int) == sorted(want, key=int)
