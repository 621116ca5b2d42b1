"""Small stores written as real store exports, and the pipeline stages run on them without Dagster."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from cart_pipelines.defs.config import MigrationConfig
from cart_pipelines.defs.factory import delta_since
from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.pipeline.extract import extract_entity
from cart_pipelines.pipeline.load import load_entity
from cart_pipelines.pipeline.report import build as build_report
from cart_pipelines.pipeline.report import promote_watermarks
from cart_pipelines.pipeline.reuse import extract_or_reuse, transform_or_reuse
from cart_pipelines.pipeline.rules import RuleSettings
from cart_pipelines.pipeline.scope import compute_scope
from cart_pipelines.pipeline.staging import Staging
from cart_pipelines.pipeline.transform import transform_entity
from cart_pipelines.platforms.kit import duckdb_io
from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.source import Source
from cart_pipelines.platforms.local.target import DuckDBStore
from cart_pipelines.platforms.store_export.source import StoreExport

TS = "2024-05-01T10:00:00Z"


def write_store(directory: Path, records: dict[str, list]) -> Path:
    """A store export with the given records (dicts, or raw strings written as lines as they are)."""
    directory.mkdir(parents=True, exist_ok=True)
    for entity in ENTITY_NAMES:
        with open(directory / f"{entity}.jsonl", "w", encoding="utf-8") as fh:
            for r in records.get(entity, []):
                fh.write((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n")
    return directory


def base_store() -> dict[str, list]:
    """One of everything, all valid and linked."""
    addr = {"first_name": "Kari", "last_name": "Nordmann", "street": "Storgata 1", "city": "Oslo",
            "postcode": "0155", "country": "NO"}
    return {
        "categories": [{"source_id": "1", "name": "Klær", "url_key": "klaer"},
                       {"source_id": "2", "parent_id": "1", "name": "Gensere", "url_key": "klaer/gensere"}],
        "manufacturers": [{"source_id": "1", "name": "Fjord AS"}],
        "tax_classes": [{"source_id": "1", "name": "MVA 25 %", "rates": [{"country": "NO", "rate": 25}]}],
        "products": [{"source_id": "1", "sku": "A-1", "name": "Blå genser", "price": 499.0, "category_ids": ["2"],
                      "manufacturer_id": "1", "tax_class_id": "1", "url_key": "klaer/gensere/bla-genser",
                      "updated_at": TS}],
        "customers": [{"source_id": "1", "email": "kari@example.no", "first_name": "Kari",
                       "last_name": "Nordmann", "addresses": [addr], "updated_at": TS}],
        "orders": [{"source_id": "1", "number": "1001", "customer_id": "1", "email": "kari@example.no",
                    "customer_first_name": "Kari", "customer_last_name": "Nordmann", "currency": "NOK",
                    "subtotal": 499.0, "shipping": 0, "tax": 124.75, "discount": 0, "grand_total": 623.75,
                    "items": [{"source_id": "1-1", "product_id": "1", "sku": "A-1", "qty": 1, "price": 499.0,
                               "tax": 124.75}],
                    "billing_address": addr, "shipping_address": addr, "updated_at": TS}],
        "reviews": [{"source_id": "1", "product_id": "1", "customer_id": "1", "rating": 5, "title": "Fin"}],
    }


class Run:
    """Extract → scope → transform → load of a store export (or any source) into a local target, as the assets do."""

    def __init__(self, work: Path, store: Path | Source):
        self.source = store if isinstance(store, Source) else StoreExport(store)
        self.staging = Staging(work / "staging")
        self.target = DuckDBStore(work / "target.duckdb")

    def __call__(self, mode: str = "full", settings: RuleSettings | None = None, entities=ENTITY_NAMES,
                 demo_seed: int = 1, demo_size: int = 10, reuse: bool = False, **config) -> dict:
        """Loads per entity; with mode="delta", from the high-water marks (MigrationConfig fields in `config`).
        With `reuse`, extraction and transform keep what did not change, as the assets do (pipeline/reuse.py);
        `self.reused` then says which steps kept their output."""
        with duckdb_io.run_hold():  # as the staging resource holds a run's files ($CART_DUCKDB_HOLD=run)
            return self._run(mode, settings, entities, demo_seed, demo_size, reuse, **config)

    def _run(self, mode, settings, entities, demo_seed, demo_size, reuse, **config) -> dict:
        settings = settings or RuleSettings()
        cfg = MigrationConfig(mode=mode, **config)
        self.extracted, self.reused = {}, {}
        for e in entities:
            since = delta_since(self.source, e, self.staging, cfg) if mode == "delta" else None
            if reuse:
                self.extracted[e], self.reused[("extract", e)] = extract_or_reuse(
                    self.source, e, self.staging, since=since, detect_deletions=cfg.detect_deletions,
                    force=cfg.reextract)
            else:
                self.extracted[e] = extract_entity(self.source, e, self.staging, since=since,
                                                   detect_deletions=cfg.detect_deletions)
        with self.staging.connect() as con:
            compute_scope(con, tuple(entities), mode, demo_size, demo_seed)
            for e in entities:
                if reuse:
                    _, self.reused[("transform", e)] = transform_or_reuse(
                        con, self.staging, e, settings, target=self.target.name, force=cfg.reextract)
                else:
                    transform_entity(con, e, settings, target=self.target.name)
            return {e: load_entity(con, self.target, e, settings, delete_on_target=cfg.delete_on_target)
                    for e in entities}

    def report(self) -> dict:
        """The migration report; the high-water marks advance when it closes, as the report asset does."""
        with self.staging.connect() as con:
            rep = build_report(con)
            if rep["all_accounted_for"]:
                promote_watermarks(con)
        return rep

    def query(self, sql: str, params=None) -> list[tuple]:
        with self.staging.connect() as con:
            return con.execute(sql, params or []).fetchall()

    def target_rows(self, entity: str) -> list[dict]:
        return self.target.scan(entity).to_pylist()


def as_held(name, entity, rows):
    """The store as a shop on platform `name` holds it: review statuses and variants it has no word for folded as
    its mapping declares from its docs (REVIEW_STATUS_HELD, VARIANT_STATUS_HELD with VARIANTS_ALL_DISABLED_LIFECYCLE,
    PRODUCT_LIFECYCLE_HELD; orders with the refunds the emulator serves, as REFUNDS_HELD says a refund keeps them;
    kit/emulator_cases.py)."""
    try:
        mapping = importlib.import_module(f"cart_pipelines.platforms.{name}.mapping")
    except ModuleNotFoundError:
        mapping = None
    reviews, variants = getattr(mapping, "REVIEW_STATUS_HELD", None), getattr(mapping, "VARIANT_STATUS_HELD", True)
    if entity == "reviews":
        return [h for h in (cases.review_held(r, reviews) for r in rows) if h is not None]
    if entity == "orders" and getattr(mapping, "REFUNDS_HELD", None) is not None:
        # where refunds read back from more than the order (Shift4Shop's RMAs), the emulator says how
        held = getattr(importlib.import_module(f"cart_pipelines.platforms.{name}.emulator"), "refunds_held", None)
        return [held(o) if held else cases.refunds_held(o, mapping.REFUNDS_HELD) for o in rows]
    if entity == "products":
        products = (cases.product_held(p, getattr(mapping, "PRODUCT_LIFECYCLE_HELD", None)) for p in rows)
        if variants:
            return [{**p, "variants": cases.variants_held(p, True)} for p in products if p is not None]
        lifecycle = getattr(mapping, "VARIANTS_ALL_DISABLED_LIFECYCLE", None)
        return [cases.product_without_variant_status(p, lifecycle) for p in products if p is not None]
    return rows


def woocommerce_target(handle, tmp_path: Path, name: str = "refs.json"):
    """The WooCommerce target opened against an emulator `handle`, its references kept in `tmp_path / name`."""
    from cart_pipelines.defs.platform_resources import WooCommerceTargetResource
    resource = WooCommerceTargetResource.resource_for_emulator(handle, tmp_path)
    return resource.model_copy(update={"references_file": str(tmp_path / name)}).open()
