"""Extraction under injected faults (5xx, slow responses past the client timeout, connections dropped mid-body,
truncated JSON) loses and duplicates nothing: the staged data still equals the generator's truth."""

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
from cart_pipelines.platforms.kit.http import HttpSettings
from cart_pipelines.sample.generator import StoreSize, generate_store
from helpers import as_held

from . import figures

NAMES = sorted(platforms.PLATFORMS)
MIX = {"500": 0.04, "503": 0.04, "504": 0.02, "drop": 0.04, "truncate": 0.04, "slow": 0.02}


@pytest.fixture(scope="module")
def truth_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("truth")
    generate_store(d, seed=17, size=StoreSize.scaled(60))
    return d


@pytest.mark.parametrize("seed", [1])
@pytest.mark.parametrize("name", NAMES)
def test_extraction_under_a_fault_mix_loses_nothing(name, seed, truth_dir, tmp_path):
    carried = platforms.source_module(name).CARRIED
    knobs = Knobs(rate_limit=False, faults=MIX, fault_seed=seed, slow_s=1.5)
    with platforms.emulate(name, store=EmulatorStore(truth_dir), knobs=knobs) as h:
        h.emulator.fault_methods = ("GET", "POST")  # reads only in this test; Shopify reads are GraphQL POSTs
        src = platforms.source_class(name).connect(h.base_url, h.credentials, verify=True,
                                                   settings=HttpSettings(timeout=1.0, max_attempts=12,
                                                                         max_backoff=0.5))
        lost = duplicates = 0
        for entity in ("products", "customers", "orders"):
            if entity not in carried:
                continue
            fields = carried[entity]
            res = extract_entity(src, entity, Staging(tmp_path))
            staged = pq.read_table(Staging(tmp_path).parquet_path(entity)).to_pylist()
            with open(truth_dir / f"{entity}.jsonl", encoding="utf-8") as fh:
                truth = [coerce_record(r, SCHEMAS[entity])
                         for r in as_held(name, entity, [json.loads(line, parse_float=Decimal) for line in fh])]
            key = lambda r: int(r["source_id"])  # noqa: E731
            got_ids = [r["source_id"] for r in staged]
            lost += len({r["source_id"] for r in truth} - set(got_ids))
            duplicates += len(got_ids) - len(set(got_ids))
            assert res.quarantined == 0
            assert [{f: r[f] for f in fields} for r in sorted(staged, key=key)] == \
                   [{f: r[f] for f in fields} for r in sorted(truth, key=key)], entity
        assert getattr(h.emulator, "faults_injected", 0) > 0 and src.client.retries > 0
        figures.record("extract_faults", f"{name}-seed{seed}", runs=1, faults=h.emulator.faults_by_kind, lost=lost,
                       duplicates=duplicates)
