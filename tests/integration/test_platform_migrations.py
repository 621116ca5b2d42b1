"""Each platform as the source of real migrations: Dagster jobs extract from the platform's emulator (a few
thousand rows), the staged data equals the generator's truth field by field, and a full migration into the local
target passes every check; a second full run writes nothing. (The demo job extracts exactly as the full one does
and scopes what is staged, whatever the source: it runs on the sample store in tests/test_migration.py,
test_scope.py and test_cli.py, so it is not run once more per platform — a third extraction of every store.)"""

import json
from decimal import Decimal

import dagster as dg
import pyarrow.parquet as pq
import pytest

from cart_pipelines.definitions import build_definitions
from cart_pipelines.defs.jobs import run_config
from cart_pipelines.defs.resources import default_resources
from cart_pipelines.model.canonical import SCHEMAS
from cart_pipelines.model.coerce import coerce_record
from cart_pipelines.pipeline.staging import Staging
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.sample.generator import StoreSize, generate_store
from helpers import as_held

NAMES = sorted(platforms.PLATFORMS)
# The default suite migrates from Mystore, Shopify and WooCommerce; BigCommerce, Magento (30-50 s each: their paced
# emulators) and the long tail run with -m slow. BigCommerce's and Magento's reads of what real shops hold are in
# the default suite (tests/contract/test_*_real_shop.py), and WooCommerce into Mystore end to end in the round trip.
# Their extraction equals the truth field by field, every entity, in the default suite too
# (tests/contract/test_platforms.py::test_extract_equals_generator_truth_field_by_field); what this test adds — the
# Dagster jobs over the platform's source resource, checks, a re-run writing nothing — is the kit's, the same code.
DEFAULT_SUITE = {"mystore", "shopify", "woocommerce"}
CASES = [pytest.param(n, marks=[] if n in DEFAULT_SUITE else [pytest.mark.slow]) for n in NAMES]


def resource_for(name: str, handle):
    """The platform's Dagster source resource, pointed at a running emulator."""
    cls = platforms.resource_class(name)
    fields = set(cls.model_fields)
    creds = {k: v for k, v in handle.credentials.items() if k in fields}
    url_field = next(f for f in sorted(fields) if "url" in f and f not in creds)
    return cls(**{url_field: handle.base_url}, **creds)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("store")
    # ~800 records: enough pages for every paginator (page sizes are 50–250), small enough that the clients that
    # pace themselves (Wix 3/s, Shift4Shop 4/s, ...) keep the suite fast; extraction at size is in bench/.
    generate_store(d, seed=21, size=StoreSize.scaled(120))
    return d


def execute(defs, job, **settings):
    keys = [k for a in defs.assets for k in a.keys]
    config = run_config(keys, **settings) if settings else None
    result = defs.resolve_job_def(job).execute_in_process(
        run_config=config, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    failed = [(e.asset_key.to_user_string(), e.check_name, e.metadata)
              for e in result.get_asset_check_evaluations() if not e.passed]
    assert result.success and not failed, failed
    return result


@pytest.mark.parametrize("name", CASES)
def test_platform_as_source_of_full_migrations(name, store_dir, tmp_path):
    carried = platforms.source_module(name).CARRIED
    with platforms.emulate(name, store=EmulatorStore(store_dir), knobs=Knobs(rate_limit=False)) as handle:
        resources = default_resources(tmp_path / "data")
        resources["source"] = resource_for(name, handle)
        defs = build_definitions(resources)
        execute(defs, "check_source_connection")
        execute(defs, "full_migration", mode="full")
        report = json.loads((tmp_path / "data" / "reports" / "migration_report.json").read_text())
        assert report["all_accounted_for"]
        staging = Staging(tmp_path / "data" / "staging")
        with open(store_dir / "customers.jsonl", encoding="utf-8") as fh:
            customers = {json.loads(line)["source_id"] for line in fh}
        for entity, fields in carried.items():
            staged = pq.read_table(staging.parquet_path(entity)).to_pylist()
            with open(store_dir / f"{entity}.jsonl", encoding="utf-8") as fh:
                truth = [coerce_record(json.loads(line, parse_float=Decimal), SCHEMAS[entity]) for line in fh]
            truth = as_held(name, entity, truth)  # what the platform has no word for, as it holds it
            assert len(staged) == len(truth), entity
            key = lambda r: int(r["source_id"])  # noqa: E731
            got = [{f: r[f] for f in fields} for r in sorted(staged, key=key)]
            want = [{f: r[f] for f in fields} for r in sorted(truth, key=key)]
            for g, w in zip(got, want):
                # A link to a deleted customer cannot survive on a platform that deleted the customer.
                if "customer_id" in fields and w["customer_id"] not in customers and g["customer_id"] is None:
                    w["customer_id"] = None
            assert got == want, entity
        by = {e["entity"]: e for e in report["entities"]}
        with open(store_dir / "products.jsonl", encoding="utf-8") as fh:  # less those the platform deleted (no trash)
            held = len(as_held(name, "products", [json.loads(line) for line in fh]))
        assert by["products"]["loaded"] == held and by["products"]["quarantined"] == 0, report["quarantine_examples"][:3]
        source = resources["source"].open()
        for entity in SCHEMAS:
            if not source.has(entity):
                assert by[entity]["source"] == 0, f"{name} has no {entity}, yet records came"
        execute(defs, "full_migration", mode="full")
        again = json.loads((tmp_path / "data" / "reports" / "migration_report.json").read_text())
        assert again["totals"]["created"] == again["totals"]["updated"] == 0
