"""Dagster resources built from each platform's declared credential fields (platforms/<name>/, kit/credentials.py).

A platform declares what the user gives to connect; here that becomes a `dg.ConfigurableResource` whose fields
are those credentials: required and secret ones from `dg.EnvVar` (resolved at run time, never shown), optional
ones from the environment or their defaults. Platform code stays free of Dagster.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import dagster as dg

from cart_pipelines.defs.resources import SourceResource, TargetResource, data_dir
from cart_pipelines.platforms import registry
from cart_pipelines.platforms.kit.credentials import Credential

_CACHE: dict[tuple[str, str], type] = {}


def _fields(credentials: tuple[Credential, ...]) -> dict:
    ns: dict = {"__annotations__": {}}
    for c in credentials:
        ns["__annotations__"][c.name] = c.kind
        if not c.required:
            ns[c.name] = c.default
    return ns


def _from_env(cls, credentials: tuple[Credential, ...], env: dict[str, str] | None = None, **extra):
    """The resource from the environment: each credential from its declared variable, or the one `env` names for
    it (a migration of migrations.yaml keeps each shop's credentials under its own names)."""
    values = {}
    for c in credentials:
        var = (env or {}).get(c.name, c.env)
        if c.required:
            values[c.name] = dg.EnvVar(var)
        elif os.environ.get(var) not in (None, ""):
            values[c.name] = dg.EnvVar(var) if c.secret and c.kind is str else c.kind(os.environ[var])
    return cls(**values, **extra)


def _values(resource, credentials: tuple[Credential, ...]) -> dict:
    return {c.name: getattr(resource, c.name) for c in credentials}


def _title(name: str) -> str:
    return {"woocommerce": "WooCommerce", "bigcommerce": "BigCommerce"}.get(name, name.title())


def source_resource_class(name: str) -> type:
    """The resource of source platform `name`: its credentials as fields, open() connects."""
    if ("source", name) not in _CACHE:
        cls = registry.source_class(name)
        creds = cls.CREDENTIALS
        ns = _fields(creds)
        ns["__annotations__"]["platform"] = ClassVar[str]
        ns.update(
            platform=name, __module__=__name__,
            __doc__=f"{_title(name)} as the source. " + "; ".join(f"{c.label}: ${c.env}" for c in creds),
            open=lambda self: cls.from_credentials(_values(self, creds)),
            from_env=classmethod(lambda k, env=None: _from_env(k, creds, env)),
        )
        _CACHE["source", name] = type(f"{_title(name)}SourceResource", (SourceResource,), ns)
    return _CACHE["source", name]


def target_resource_class(name: str) -> type:
    """The resource of target platform `name`: its credentials as fields, open() connects."""
    if ("target", name) not in _CACHE:
        from cart_pipelines.platforms.target_registry import target_class

        cls = target_class(name)
        creds = cls.CREDENTIALS
        ns = _fields(creds)
        extra = {"bulk_threshold": int | None} if name == "shopify" else {}
        ns["__annotations__"].update(extra)
        if extra:  # rows of a write above which Shopify loads by bulk mutation; None: never
            from cart_pipelines.platforms.shopify.target_bulk import BULK_THRESHOLD

            ns["bulk_threshold"] = BULK_THRESHOLD
        # Where the target keeps its files (tokens, references): the migration's data directory; None: $CART_PIPELINES_DATA.
        ns["__annotations__"]["data_directory"] = str | None
        ns["data_directory"] = None
        ns["__annotations__"].update(platform=ClassVar[str], COMPARABLE=ClassVar[dict],
                                     UNAVAILABLE=ClassVar[dict])

        def open_(self):
            options = {k: getattr(self, k) for k in extra}
            return cls.from_credentials(_values(self, creds), Path(self.data_directory or data_dir()), **options)

        ns.update(
            platform=name, COMPARABLE=cls.COMPARABLE, UNAVAILABLE=cls.UNAVAILABLE, __module__=__name__,
            __doc__=f"{_title(name)} as the target. " + "; ".join(f"{c.label}: ${c.env}" for c in creds),
            open=open_, rules_platform=lambda self: name,
            from_env=classmethod(lambda k, env=None, **extra: _from_env(k, creds, env, **extra)),
            resource_for_emulator=classmethod(lambda k, handle, workdir: k(
                **cls.emulator_credentials(handle, Path(workdir) if workdir is not None else Path.cwd()))),
        )
        _CACHE["target", name] = type(f"{_title(name)}TargetResource", (TargetResource,), ns)
    return _CACHE["target", name]


def __getattr__(attr: str):
    """`WooCommerceSourceResource`, `MystoreTargetResource`, ...: the built classes by their names."""
    for kind, names, build in (("Source", registry.PLATFORMS, source_resource_class),
                               ("Target", registry.TARGETS, target_resource_class)):
        for name in names:
            if attr == f"{_title(name)}{kind}Resource":
                return build(name)
    raise AttributeError(attr)
