"""The platform registry: for each shop platform, its connector (source), emulator and Dagster resource.

Adding a platform = one connector module, one emulator module, one line here; the contract tests
(tests/contract/test_platforms.py) then run against it automatically.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class Platform:
    name: str
    module: str  # cart_pipelines.connectors.<module> and cart_pipelines.emulators.<module>
    source_class: str  # in the connector module: a Source with classmethod connect(base_url, credentials, verify)
    emulator_class: str  # in the emulator module: an Emulator subclass
    resource_class: str  # in the connector module: a SourceResource whose fields are the credential names


PLATFORMS: dict[str, Platform] = {p.name: p for p in [
    # one line per platform (helpers add theirs here)
    Platform("woocommerce", "woocommerce", "WooCommerceSource", "WooCommerceEmulator", "WooCommerceSourceResource"),
    Platform("shopify", "shopify", "ShopifySource", "ShopifyEmulator", "ShopifySourceResource"),
    Platform("magento", "magento", "MagentoSource", "MagentoEmulator", "MagentoSourceResource"),
    Platform("bigcommerce", "bigcommerce", "BigCommerceSource", "BigCommerceEmulator", "BigCommerceSourceResource"),
]}


def get(name: str) -> Platform:
    if name not in PLATFORMS:
        raise ValueError(f"platform: unknown platform {name!r}; choose from {', '.join(sorted(PLATFORMS)) or 'none'}")
    return PLATFORMS[name]


def connector_module(name: str):
    return importlib.import_module(f"cart_pipelines.connectors.{get(name).module}")


def emulator_module(name: str):
    return importlib.import_module(f"cart_pipelines.emulators.{get(name).module}")


def source_class(name: str):
    return getattr(connector_module(name), get(name).source_class)


def resource_class(name: str):
    return getattr(connector_module(name), get(name).resource_class)


def emulator_class(name: str):
    return getattr(emulator_module(name), get(name).emulator_class)


@contextmanager
def emulate(name: str, products: int = 60, seed: int = 7, tls: bool = False, store=None, knobs=None,
            lifetime: float | None = 900) -> Iterator:
    """Start `name`'s emulator on 127.0.0.1 serving a generated store (or `store`), stop it afterwards."""
    from .emulators.base import EmulatorStore, Knobs, running

    store = store if store is not None else EmulatorStore.generated(products=products, seed=seed)
    emulator = emulator_class(name)(store, knobs or Knobs())
    with running(emulator, tls=tls, lifetime=lifetime) as handle:
        yield handle


def connect(name: str, handle, **overrides):
    """A source connected to a running emulator with the credentials it announced (overrides replace some)."""
    creds = {**handle.credentials, **overrides}
    return source_class(name).connect(handle.base_url, creds, verify=handle.ca_file or True)
