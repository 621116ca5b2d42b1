"""Credential fields as data: what a platform asks the user for, in the words of its admin (seed 002's "Fields to
use"), where each comes from in the environment, and which are secrets.

Platform modules declare theirs; defs/ builds the Dagster resources from them, so platform code never needs Dagster.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Credential:
    name: str  # the field name, as the resource and connect() take it
    env: str  # the environment variable it is read from
    label: str  # what the platform's admin calls it (seed 002's field names where it lists the platform)
    secret: bool = False  # never logged, shown or written (resolved from the environment at run time)
    default: str | float | int | None = None  # None: required
    kind: type = str

    @property
    def required(self) -> bool:
        return self.default is None


def from_environment(fields: tuple[Credential, ...], environ=os.environ) -> dict:
    """Values for the fields that are set in `environ` (the rest keep their defaults)."""
    return {f.name: f.kind(environ[f.env]) for f in fields if environ.get(f.env) not in (None, "")}


def described(fields: tuple[Credential, ...]) -> str:
    """One line per field for docs and --help: label, variable, required or default, secret."""
    rows = []
    for f in fields:
        need = "required" if f.required else f"default {f.default!r}" if f.default != "" else "optional"
        rows.append(f"{f.label}: ${f.env} ({need}{', secret' if f.secret else ''})")
    return "\n".join(rows)
