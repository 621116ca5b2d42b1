"""The target registry: each API target, its Dagster resource and its stateful emulator.

Adding a target = one module in targets/ (a Target with `for_emulator`), a writable emulator, one line here;
tests/targets/test_round_trip.py then migrates into it from several sources and reads it back.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class TargetPlatform:
    name: str
    module: str  # cart_pipelines.targets.<module>: the Target and its resource
    target_class: str  # the Target implementation
    resource_class: str  # TargetResource with from_env() and resource_for_emulator(handle, workdir)
    emulator: str  # "module:Class" under cart_pipelines.emulators; the emulator counts writes in `.writes`


TARGETS: dict[str, TargetPlatform] = {t.name: t for t in [
    TargetPlatform("mystore", "mystore", "MystoreTarget", "MystoreTargetResource", "mystore:MystoreEmulator"),
    TargetPlatform("shopify", "shopify", "ShopifyTarget", "ShopifyTargetResource", "shopify:ShopifyEmulator"),
    TargetPlatform("woocommerce", "woocommerce", "WooCommerceTarget", "WooCommerceTargetResource", "woocommerce:WooCommerceEmulator"),
    # one line per target (helpers add theirs here)
    TargetPlatform("bigcommerce", "bigcommerce", "BigCommerceTarget", "BigCommerceTargetResource", "bigcommerce:BigCommerceEmulator"),
]}


def _attr(module: str, name: str):
    return getattr(importlib.import_module(module), name)


def target_class(name: str):
    return _attr(f"cart_pipelines.targets.{TARGETS[name].module}", TARGETS[name].target_class)


def resource_class(name: str):
    return _attr(f"cart_pipelines.targets.{TARGETS[name].module}", TARGETS[name].resource_class)


@contextmanager
def emulate(name: str, workdir: Path, knobs=None, lifetime: float = 600) -> Iterator:
    """An empty, writable emulator of target `name` on 127.0.0.1; yields (handle, resource) ready to load into."""
    from ..emulators.base import EmulatorStore, Knobs, running

    module, cls = TARGETS[name].emulator.split(":")
    emulator_cls = _attr(f"cart_pipelines.emulators.{module}", cls)
    empty = Path(workdir) / "empty-store"
    empty.mkdir(parents=True, exist_ok=True)
    emulator = emulator_cls(EmulatorStore(empty), knobs or Knobs(rate_limit=False))
    with running(emulator, lifetime=lifetime) as handle:
        yield handle, resource_class(name).resource_for_emulator(handle, Path(workdir))
