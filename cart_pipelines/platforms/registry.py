"""The platform registry: one line per platform, each a folder `platforms/<name>/` holding what it has of
`source.py` (read from it), `target.py` (write into it) and `emulator.py` (a local stand-in for tests).

Adding a platform = one folder + one line here; the contract tests (tests/contract/test_platforms.py) and the
round trips (tests/targets/test_round_trip.py) then run against it.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator


@dataclass(frozen=True)
class Platform:
    name: str  # also the folder under cart_pipelines/platforms/
    source: str | None = None  # the Source class in <name>/source.py (connect(base_url, credentials, verify))
    target: str | None = None  # the Target class in <name>/target.py
    emulator: str | None = None  # the Emulator class in <name>/emulator.py

    @property
    def title(self) -> str:
        return self.name

    def attr(self, module: str, name: str | None):
        if name is None:
            raise ValueError(f"platform {self.name!r} has no {module}")
        return getattr(importlib.import_module(f"cart_pipelines.platforms.{self.name}.{module}"), name)


REGISTRY: dict[str, Platform] = {p.name: p for p in [
    Platform("woocommerce", "WooCommerceSource", "WooCommerceTarget", "WooCommerceEmulator"),
    Platform("shopify", "ShopifySource", "ShopifyTarget", "ShopifyEmulator"),
    Platform("magento", "MagentoSource", None, "MagentoEmulator"),
    Platform("bigcommerce", "BigCommerceSource", "BigCommerceTarget", "BigCommerceEmulator"),
    Platform("squarespace", "SquarespaceSource", None, "SquarespaceEmulator"),
    Platform("square", "SquareSource", None, "SquareEmulator"),
    Platform("prestashop", "PrestaShopSource", None, "PrestaShopEmulator"),
    Platform("mystore", "MystoreSource", "MystoreTarget", "MystoreEmulator"),
    Platform("ecwid", "EcwidSource", None, "EcwidEmulator"),
    Platform("wix", "WixSource", None, "WixEmulator"),
    Platform("shift4shop", "Shift4ShopSource", None, "Shift4ShopEmulator"),
    Platform("etsy", "EtsySource", None, "EtsyEmulator"),
    Platform("lightspeed", "LightspeedSource", None, "LightspeedEmulator"),
    Platform("store_export", "StoreExport"),  # a file export or database dump: read from files, no emulator
]}

#: Platforms that are API sources, each with an emulator (the store export is read from files).
PLATFORMS: dict[str, Platform] = {n: p for n, p in REGISTRY.items() if p.source and p.emulator}
#: Platforms that are API targets (the local DuckDB store is the default, and has no entry here).
TARGETS: dict[str, Platform] = {n: p for n, p in REGISTRY.items() if p.target}


def get(name: str) -> Platform:
    if name not in PLATFORMS:
        raise ValueError(f"platform: unknown platform {name!r}; choose from {', '.join(sorted(PLATFORMS)) or 'none'}")
    return PLATFORMS[name]


def source_module(name: str):
    """`platforms/<name>/source.py`: its description constants (CARRIED, PAGE_SIZE, ...) and mapping."""
    return importlib.import_module(f"cart_pipelines.platforms.{get(name).name}.source")


def emulator_module(name: str):
    return importlib.import_module(f"cart_pipelines.platforms.{REGISTRY[name].name}.emulator")


def source_class(name: str):
    return get(name).attr("source", get(name).source)


def resource_class(name: str):
    """The Dagster resource of source `name` (defs/ builds it from the platform's declared credential fields)."""
    from cart_pipelines.defs.platform_resources import source_resource_class

    return source_resource_class(name)


def emulator_class(name: str):
    if name not in REGISTRY or not REGISTRY[name].emulator:
        raise ValueError(f"platform: no emulator for {name!r}; choose from "
                         f"{', '.join(sorted(n for n, p in REGISTRY.items() if p.emulator))}")
    p = REGISTRY[name]
    return p.attr("emulator", p.emulator)


@contextmanager
def emulate(name: str, products: int = 60, seed: int = 7, tls: bool = False, store=None, knobs=None,
            lifetime: float | None = 900) -> Iterator:
    """Start `name`'s emulator on 127.0.0.1 serving a generated store (or `store`), stop it afterwards."""
    from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs, running

    store = store if store is not None else EmulatorStore.generated(products=products, seed=seed)
    emulator = emulator_class(name)(store, knobs or Knobs())
    with running(emulator, tls=tls, lifetime=lifetime) as handle:
        yield handle


def connect(name: str, handle, **overrides):
    """A source connected to a running emulator with the credentials it announced (overrides replace some)."""
    creds = {**handle.credentials, **overrides}
    return source_class(name).connect(handle.base_url, creds, verify=handle.ca_file or True)
