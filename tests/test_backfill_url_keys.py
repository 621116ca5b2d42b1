"""URL keys across backfill slices: products with the same URL key in different id ranges are numbered against the
keys earlier slices loaded (as a full migration numbers them when slices load in id order), the target never holds a
duplicate, and the report's redirects.csv has the renamed products."""

import csv
import json

import pytest

from cart_pipelines.pipeline import report
from cart_pipelines.pipeline.backfill import extract_slice, migrate_slice
from cart_pipelines.pipeline.extract import extract_entity
from cart_pipelines.pipeline.load import load_entity
from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.pipeline.scope import compute_scope
from cart_pipelines.pipeline.staging import Staging
from cart_pipelines.pipeline.transform import transform_entity
from cart_pipelines.platforms.local.target import DuckDBStore
from cart_pipelines.platforms.store_export.source import StoreExport
from cart_pipelines.sample.generator import StoreSize, generate_store

UPSTREAM = ("categories", "manufacturers", "tax_classes")
LOW, HIGH = "1-20", "21-1000"
SHARED = {"3": "felles-nokkel", "12": "felles-nokkel", "25": "felles-nokkel", "30": "felles-nokkel-1"}


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    """A small store where products 3 and 12 (first range) and 25 (second) share a key, and 30 holds the key the
    second holder gets renamed to."""
    d = tmp_path_factory.mktemp("url-keys")
    generate_store(d, seed=3, size=StoreSize.scaled(40))
    rows = [json.loads(line) for line in open(d / "products.jsonl", encoding="utf-8")]
    assert {"3", "12", "25", "30"} <= {r["source_id"] for r in rows}
    for r in rows:
        r["url_key"] = SHARED.get(r["source_id"], f"p-{r['source_id']}")
    (d / "products.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return d


def full_keys(store_dir, tmp) -> dict[str, str]:
    """What a full migration's transform gives every product."""
    staging = Staging(tmp / "full")
    for e in (*UPSTREAM, "products"):
        extract_entity(StoreExport(store_dir), e, staging)
    with staging.connect() as con:
        compute_scope(con, (*UPSTREAM, "products"))
        for e in (*UPSTREAM, "products"):
            transform_entity(con, e, RuleSettings())
        return dict(con.execute("SELECT source_id, url_key FROM transformed_products").fetchall())


def backfill(store_dir, tmp, keys) -> tuple[Staging, DuckDBStore]:
    staging, target, src = Staging(tmp / "staging"), DuckDBStore(tmp / "target.duckdb"), StoreExport(store_dir)
    for e in UPSTREAM:
        extract_entity(src, e, staging)
    with staging.connect() as con:
        compute_scope(con, UPSTREAM)
        for e in UPSTREAM:
            transform_entity(con, e, RuleSettings())
            load_entity(con, target, e)
    for key in keys:
        extract_slice(src, "products", staging, key)
        with staging.connect() as con:
            res = migrate_slice(con, staging, target, "products", key)
        assert res.closes and res.quarantined == 0, res
    return staging, target


def target_keys(target) -> dict[str, str]:
    return {r["_source_id"]: r["url_key"] for r in target.scan("products").to_pylist()}


def redirects(staging, tmp) -> dict[str, tuple[str, str]]:
    with staging.connect() as con:
        report.build(con, directory=tmp / "reports")
    with open(tmp / "reports" / "redirects.csv", encoding="utf-8") as fh:
        return {r["source_id"]: (r["old_url"], r["new_url"]) for r in csv.DictReader(fh) if r["entity"] == "products"}


def test_slices_in_id_order_give_the_full_migrations_keys(store_dir, tmp_path):
    staging, target = backfill(store_dir, tmp_path, [LOW, HIGH])
    keys = target_keys(target)
    assert len(set(keys.values())) == len(keys)
    assert keys == full_keys(store_dir, tmp_path)
    assert keys["3"] == "felles-nokkel" and keys["12"] == "felles-nokkel-1" and keys["25"] == "felles-nokkel-2"
    moved = redirects(staging, tmp_path)
    assert moved["25"] == ("/felles-nokkel", "/felles-nokkel-2") and moved["12"][1] == "/felles-nokkel-1"
    assert "3" not in moved and moved["30"] == ("/felles-nokkel-1", "/felles-nokkel-1-1")  # 12 holds -1 first

    with staging.connect() as con:  # a slice run again renames nothing further
        assert migrate_slice(con, staging, target, "products", HIGH).writes == 0
    assert target_keys(target) == keys


def test_slices_out_of_order_never_duplicate_a_key(store_dir, tmp_path):
    """The higher range first: its products keep their keys, the lower range's holders number after them (3 would
    be -1, which 30 holds, so it becomes -1-1): unlike a full migration, but unique and redirected."""
    staging, target = backfill(store_dir, tmp_path, [HIGH, LOW])
    keys = target_keys(target)
    assert len(set(keys.values())) == len(keys)
    assert keys["25"] == "felles-nokkel" and keys["30"] == "felles-nokkel-1"
    assert keys["3"] == "felles-nokkel-1-1" and keys["12"] == "felles-nokkel-2"
    moved = redirects(staging, tmp_path)
    assert moved["3"] == ("/felles-nokkel", f"/{keys['3']}") and moved["12"] == ("/felles-nokkel", f"/{keys['12']}")
