"""Resources: where staged data lives, which source to read, which target to write.

Paths default to the project's data/ directory (or $CART_PIPELINES_DATA); tests and users point them elsewhere
through resource config. Sources and targets sit behind one interface each, so a platform plugs in as another
resource class with the same `open()`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import dagster as dg

from cart_pipelines.pipeline.staging import Staging
from cart_pipelines.platforms.kit import duckdb_io
from cart_pipelines.platforms.kit.source import Source
from cart_pipelines.platforms.kit.target import Target
from cart_pipelines.platforms.local.target import DuckDBStore
from cart_pipelines.platforms.store_export.source import StoreExport

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def project_root() -> Path:
    """The checkout this package runs from (editable install), else the working directory."""
    return PACKAGE_ROOT if (PACKAGE_ROOT / "pyproject.toml").exists() else Path.cwd()


def data_dir() -> Path:
    return Path(os.environ.get("CART_PIPELINES_DATA") or project_root() / "data")


class StagingResource(dg.ConfigurableResource):
    """Staged Parquet, the DuckDB catalog (ledger, id map) and migration reports."""

    directory: str
    reports_directory: str

    def open(self) -> Staging:
        return Staging(self.directory)

    @contextlib.contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["StagingResource"]:
        # In-process execution initializes resources once per run, so with $CART_DUCKDB_HOLD=run this holds the
        # run's DuckDB files open from its first step to its last (duckdb_io.holding).
        with duckdb_io.run_hold():
            yield self


class SourceResource(dg.ConfigurableResource):
    """Base of every source resource."""

    def open(self) -> Source:
        raise NotImplementedError


class StoreExportSource(SourceResource):
    """A store export directory: the bundled sample store, or a file export / database dump of a shop."""

    path: str

    def open(self) -> Source:
        return StoreExport(self.path)


class TargetResource(dg.ConfigurableResource):
    def open(self) -> Target:
        raise NotImplementedError

    def rules_platform(self) -> str:
        """The platform whose target rules (rules.TARGET_RULES) and tax-class defaults (rules.TAX_CLASS_MAP)
        apply: the registered target this resource is (platforms/registry.py)."""
        return getattr(type(self), "platform", "mystore")


class LocalMystoreTarget(TargetResource):
    """A Mystore-shaped target store in a local DuckDB file."""

    path: str
    name: str = "mystore_local"
    rules_of: str = "mystore"  # another platform: apply its target rules here (a local preview of that migration)

    def open(self) -> Target:
        return DuckDBStore(self.path, self.name)

    def rules_platform(self) -> str:
        from cart_pipelines.platforms import target_registry as registry

        if self.rules_of not in {"mystore", *registry.TARGETS}:
            raise dg.Failure(description=f"rules_of: {self.rules_of!r} is not a target platform; choose from "
                                         f"{', '.join(sorted({'mystore', *registry.TARGETS}))}")
        return self.rules_of


def source_resource(platform: str | None = None, path: str | None = None) -> SourceResource:
    """The source users chose: $CART_SOURCE names a platform (credentials from its environment variables, see
    docs/platforms/), or `store_export` (default) reading $CART_SOURCE_PATH or the bundled sample store."""
    from cart_pipelines.platforms import registry as platforms

    name = platform or os.environ.get("CART_SOURCE") or "store_export"
    if name == "store_export":
        return StoreExportSource(path=path or os.environ.get("CART_SOURCE_PATH")
                                 or str(project_root() / "data" / "sample_store"))
    return platforms.resource_class(name).from_env()


def target_resource(data: Path, target: str | None = None) -> TargetResource:
    """The target users chose: $CART_TARGET = local (default: a Mystore-shaped DuckDB file) or an API target from
    platforms/registry.py (mystore, shopify, woocommerce, bigcommerce), credentials from its environment variables."""
    name = target or os.environ.get("CART_TARGET") or "local"
    if name == "local":
        return LocalMystoreTarget(path=str(data / "target" / "mystore.duckdb"))
    from cart_pipelines.platforms import target_registry as registry

    if name not in registry.TARGETS:
        raise ValueError(f"target: unknown target {name!r}; choose from local, {', '.join(sorted(registry.TARGETS))}")
    return registry.resource_class(name).from_env()


def platform_names(resources: dict) -> tuple[str, str]:
    """(source platform, target platform) of configured resources, by their registered resource classes; shown
    as asset kinds in the UI. A local target is a DuckDB file."""
    source = getattr(type(resources["source"]), "platform", "store_export")
    target = getattr(type(resources["target"]), "platform", "duckdb")
    return source, target


def default_resources(data: Path | None = None, source_path: str | None = None,
                      platform: str | None = None, target: str | None = None) -> dict:
    data = Path(data) if data else data_dir()
    return {
        "staging": StagingResource(directory=str(data / "staging"), reports_directory=str(data / "reports")),
        "source": source_resource(platform, source_path),
        "target": target_resource(data, target),
    }
