"""The API targets of the platform registry (registry.py), with an empty writable emulator for each.

tests/targets/test_round_trip.py migrates into every one from several sources and reads it back.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from cart_pipelines.platforms.registry import REGISTRY, TARGETS, emulator_class

__all__ = ["TARGETS", "target_class", "resource_class", "emulate"]


def target_class(name: str):
    p = TARGETS[name]
    return p.attr("target", p.target)


def resource_class(name: str):
    """The Dagster resource of target `name` (defs/ builds it from the platform's declared credential fields)."""
    from cart_pipelines.defs.platform_resources import target_resource_class

    return target_resource_class(name)


@contextmanager
def emulate(name: str, workdir: Path, knobs=None, lifetime: float = 600) -> Iterator:
    """An empty, writable emulator of target `name` on 127.0.0.1; yields (handle, resource) ready to load into."""
    from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs, running

    empty = Path(workdir) / "empty-store"
    empty.mkdir(parents=True, exist_ok=True)
    emulator = emulator_class(REGISTRY[name].name)(EmulatorStore(empty), knobs or Knobs(rate_limit=False))
    with running(emulator, lifetime=lifetime) as handle:
        yield handle, resource_class(name).resource_for_emulator(handle, Path(workdir))
