"""Migrations as data: `migrations.yaml` declares each migration of a deployment — its source and target platforms
and the names of the environment variables holding their credentials, the entity selection, rule options and the
post-migration schedule. Without a file, the embedded default (the bundled sample store into the local target, or
what CART_SOURCE / CART_TARGET choose) is the one migration, exactly as before.

Each migration becomes its own set of definitions (defs/factory.py, jobs.py, partitions.py): asset keys prefixed
by its name once there are several, its own group, data directory (catalog, id map, ledger, reports, high-water
marks), resources, jobs, schedule, partitions and pools per source and target shop. The file is read when the code
location loads, so "Reload definitions" picks up an added or removed migration; runs in flight keep the
definitions they started with.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from cart_pipelines.defs.resources import (
    LocalMystoreTarget,
    StagingResource,
    StoreExportSource,
    data_dir,
    project_root,
)
from cart_pipelines.model.entities import ENTITY_NAMES, SelectionError, resolve_selection

FILE_ENV = "CART_MIGRATIONS"
FILE_NAME = "migrations.yaml"
DEFAULT_NAME = "default"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# A migration named like a stage would read as one in the asset graph (extract/products vs extract/extract/...).
RESERVED = {"extract", "transform", "load", "report", "backfill", "status", DEFAULT_NAME}
# Run-config fields a migration cannot preset: the job decides the mode, a dry run is asked for per run.
NOT_PRESETS = {"mode", "dry_run", "entities"}


class MigrationsError(ValueError):
    """A bad migrations file: one line per problem, each naming the entry and the field."""


def _source_platforms() -> set[str]:
    from cart_pipelines.platforms import registry

    return {"store_export", *registry.PLATFORMS}


def _target_platforms() -> set[str]:
    from cart_pipelines.platforms import target_registry

    return {"local", *target_registry.TARGETS}


def credentials_of(side: str, platform: str) -> tuple:
    """The declared credential fields of a source or target platform (none for a store export or local file)."""
    if platform in ("store_export", "local"):
        return ()
    if side == "source":
        from cart_pipelines.platforms import registry

        return registry.source_class(platform).CREDENTIALS
    from cart_pipelines.platforms.target_registry import target_class

    return target_class(platform).CREDENTIALS


class Side(BaseModel):
    """A source or target: its platform and where its credentials come from."""

    model_config = ConfigDict(extra="forbid")

    platform: str
    env: dict[str, str] = {}  # credential field → the environment variable holding it (over the declared names)
    env_prefix: str = ""  # prepended to every declared variable name: SHOP_B_ gives SHOP_B_WOOCOMMERCE_SHOP_URL
    path: str | None = None  # store_export: the export directory; local: the target DuckDB file
    shop: str | None = None  # the shop's identity for pools and the run queue (default: from its URL)
    rules_of: str | None = None  # local target: apply this platform's target rules (a local preview)

    @field_validator("env_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if v and not ENV_NAME.match(v):
            raise ValueError(f"{v!r} is not the start of an environment variable name (A-Z, 0-9, _)")
        return v

    @field_validator("env")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [f"{k}: {n!r}" for k, n in v.items() if not ENV_NAME.match(str(n))]
        if bad:
            raise ValueError(f"not environment variable names (A-Z, 0-9, _): {', '.join(bad)}")
        return v

    @field_validator("shop")
    @classmethod
    def _shop(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9._:-]{1,80}", v):
            raise ValueError(f"{v!r}: use letters, digits and . _ : - (it names a pool and a run-queue tag)")
        return v

    def check(self, side: str) -> None:
        """Platform-dependent rules (raises ValueError with the field's name)."""
        names = _source_platforms() if side == "source" else _target_platforms()
        if self.platform not in names:
            raise ValueError(f"platform: {self.platform!r} is not a {side} platform; choose from "
                             f"{', '.join(sorted(names))}")
        fields = {c.name for c in credentials_of(side, self.platform)}
        unknown = sorted(set(self.env) - fields - ({"path"} if self.platform in ("store_export", "local") else set()))
        if unknown:
            raise ValueError(f"env: {', '.join(unknown)} not among {self.platform}'s credentials "
                             f"({', '.join(sorted(fields)) or 'none'})")
        if self.path is not None and self.platform not in ("store_export", "local"):
            raise ValueError(f"path: only a store_export source or a local target has a path, not {self.platform}")
        if self.rules_of is not None and self.platform != "local":
            raise ValueError("rules_of: only for a local target")

    def env_names(self, side: str) -> dict[str, str]:
        """Credential field → environment variable: the declared names, prefixed, overridden by `env`."""
        return {c.name: self.env.get(c.name, self.env_prefix + c.env) for c in credentials_of(side, self.platform)}


class Schedule(BaseModel):
    """The post-migration (delta) schedule; off unless enabled."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    cron: str = "0 * * * *"
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from dagster._utils.schedules import is_valid_cron_string

        if not is_valid_cron_string(v):
            raise ValueError(f"{v!r} is not a cron expression (e.g. '0 * * * *': hourly)")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA time zone (e.g. UTC, Europe/Oslo)") from None
        return v


class MigrationSpec(BaseModel):
    """One entry of migrations.yaml."""

    model_config = ConfigDict(extra="forbid")

    name: str
    source: Side = Side(platform="store_export")
    target: Side = Side(platform="local")
    entities: list[str] = list(ENTITY_NAMES)
    rules: dict[str, Any] = {}
    schedule: Schedule = Schedule()
    data: str | None = None  # its data directory (default <data>/migrations/<name>)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME.match(v) or "__" in v:
            raise ValueError(f"{v!r}: lower-case letters, digits and single underscores, starting with a letter, "
                             f"at most 40 (it prefixes asset keys and job names)")
        if v in RESERVED:
            raise ValueError(f"{v!r} is reserved; choose another name")
        return v

    @field_validator("entities")
    @classmethod
    def _entities(cls, v: list[str]) -> list[str]:
        try:
            resolve_selection(v)
        except SelectionError as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("rules")
    @classmethod
    def _rules(cls, v: dict[str, Any]) -> dict[str, Any]:
        from cart_pipelines.defs.config import MigrationConfig

        allowed = set(MigrationConfig.model_fields) - NOT_PRESETS
        unknown = sorted(set(v) - allowed)
        if unknown:
            raise ValueError(f"unknown option {', '.join(unknown)}; choose from {', '.join(sorted(allowed))}")
        try:
            MigrationConfig(**v)
        except Exception as exc:  # the config's own validation, as one line per field
            errors = getattr(exc, "errors", lambda: [])()
            raise ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
                             or str(exc)) from None
        return v

    @model_validator(mode="after")
    def _sides(self) -> "MigrationSpec":
        for side in ("source", "target"):
            try:
                getattr(self, side).check(side)
            except ValueError as exc:
                raise ValueError(f"{side}.{exc}") from None
        return self


def _message(exc: ValidationError) -> list[str]:
    out = []
    for e in exc.errors():
        where = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        out.append(f"{where}: {msg}" if where else msg)
    return out


def parse(text: str, origin: str = FILE_NAME) -> list[MigrationSpec]:
    """The migrations declared in YAML `text`; every bad entry is named in one MigrationsError."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MigrationsError(f"{origin}: not valid YAML: {str(exc).splitlines()[0]}") from None
    entries = doc.get("migrations") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise MigrationsError(f"{origin}: expected a top-level `migrations:` list with at least one migration")
    specs, problems, seen = [], [], {}
    for i, entry in enumerate(entries, 1):
        label = entry.get("name") if isinstance(entry, dict) else None
        where = f"{origin}: migration {i}" + (f" ({label})" if isinstance(label, str) else "")
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping with at least `name:`")
            continue
        try:
            spec = MigrationSpec.model_validate(entry)
        except ValidationError as exc:
            problems += [f"{where}: {m}" for m in _message(exc)]
            continue
        if spec.name in seen:
            problems.append(f"{where}: name: {spec.name!r} is already migration {seen[spec.name]}'s")
            continue
        seen[spec.name] = i
        specs.append(spec)
    if problems:
        raise MigrationsError("\n".join(problems))
    return specs


def migrations_file() -> Path | None:
    """$CART_MIGRATIONS, else migrations.yaml in the project root when it exists, else none (the default)."""
    chosen = os.environ.get(FILE_ENV)
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise MigrationsError(f"{FILE_ENV}: {chosen} is not a file")
        return path
    path = project_root() / FILE_NAME
    return path if path.is_file() else None


# --- resolved migrations -------------------------------------------------------------------------------------------


def _host(value: str) -> str:
    parts = urlsplit(value if "://" in value else f"//{value}")
    return re.sub(r"[^A-Za-z0-9._:-]", "-", (parts.netloc or value).lower())[:80]


@dataclass(frozen=True)
class Migration:
    """A migration ready to become definitions: names (keys, groups, jobs, resource keys), its resources, pools."""

    name: str
    resources: dict  # source, staging, target
    source_platform: str  # store_export or a registry source
    target_platform: str  # local or a registry target
    data: Path
    prefixed: bool = False
    settings: dict = field(default_factory=dict)  # MigrationConfig defaults: entities and rule options
    schedule: Schedule = field(default_factory=Schedule)
    source_shop: str | None = None  # None: pools by platform alone (a migration built from resources)
    target_shop: str | None = None
    origin: str = "embedded default"

    @property
    def prefix(self) -> tuple[str, ...]:
        return (self.name,) if self.prefixed else ()

    def key(self, *path: str) -> dg.AssetKey:
        return dg.AssetKey([*self.prefix, *path])

    def group(self, stage: str) -> str:
        return self.name if self.prefixed else stage

    def job_name(self, base: str) -> str:
        return f"{self.name}__{base}" if self.prefixed else base

    def resource_key(self, role: str) -> str:
        return f"{self.name}__{role}" if self.prefixed else role

    def bound_resources(self) -> dict:
        return {self.resource_key(role): r for role, r in self.resources.items()}

    @property
    def target_kind(self) -> str:
        """The target as an asset kind: a local target is a DuckDB file."""
        return "duckdb" if self.target_platform == "local" else self.target_platform

    def pools(self) -> tuple[str, str]:
        """(source pool, target pool): per platform, and per shop once migrations are declared, so two shops of
        one platform never share a limit by accident and two migrations of one shop always do."""
        source = f"source/{self.source_platform}" + (f"/{self.source_shop}" if self.source_shop else "")
        target = f"target/{self.target_platform}" + (f"/{self.target_shop}" if self.target_shop else "")
        return source, target

    @property
    def source_pool(self) -> str:
        """The pool of every step that talks to the source shop: extract, connection check, partition planning."""
        return self.pools()[0]

    @property
    def target_pool(self) -> str:
        """The pool of every step that writes or reads back the target shop: load, prepare, report, its checks."""
        return self.pools()[1]

    def tags(self) -> dict[str, str]:
        """Run tags: the run queue limits runs per source shop and per target shop (deploy/dagster-postgres.yaml)."""
        source, target = self.pools()
        return {"cart_pipelines/migration": self.name, "cart_pipelines/source": source.removeprefix("source/"),
                "cart_pipelines/target": target.removeprefix("target/")}

    @property
    def reports_directory(self) -> str:
        return self.resources["staging"].reports_directory

    @classmethod
    def from_resources(cls, resources: dict, name: str = DEFAULT_NAME, data: Path | None = None) -> "Migration":
        """The one migration of hand-made resources (tests, the CLI's options): pools by platform alone."""
        source = getattr(type(resources["source"]), "platform", "store_export")
        target = getattr(type(resources["target"]), "platform", "local")
        directory = data or Path(resources["staging"].directory).parent
        cron = os.environ.get("CART_DELTA_CRON", "0 * * * *")
        return cls(name=name, resources=resources, source_platform=source, target_platform=target,
                   data=Path(directory),
                   schedule=Schedule(cron=cron, timezone=os.environ.get("CART_DELTA_TZ", "UTC")))


def _base(origin: Path | None) -> Path:
    return origin.parent if origin else project_root()


def _side_resource(side: str, spec: Side, data: Path, base: Path):
    from cart_pipelines.defs.platform_resources import source_resource_class, target_resource_class

    if spec.platform == "store_export":
        path = os.environ.get(spec.env["path"]) if "path" in spec.env else spec.path
        path = path or str(project_root() / "data" / "sample_store")
        return StoreExportSource(path=str((base / path).resolve()) if not Path(path).is_absolute() else path)
    if spec.platform == "local":
        path = Path(spec.path) if spec.path else data / "target" / "mystore.duckdb"
        return LocalMystoreTarget(path=str(path if path.is_absolute() else (base / path).resolve()),
                                  **({"rules_of": spec.rules_of} if spec.rules_of else {}))
    if side == "source":
        return source_resource_class(spec.platform).from_env(env=spec.env_names(side))
    return target_resource_class(spec.platform).from_env(env=spec.env_names(side), data_directory=str(data))


def _shop(side: str, spec: Side, migration: str, resource) -> str:
    """Who is behind a side, for pools and tags: `shop:` if given; the host of its URL (a non-secret credential
    read now); a local file by its path; else the migration itself (never shared by accident)."""
    if spec.shop:
        return spec.shop
    if spec.platform == "local":
        path = Path(resource.path)
        return f"{_host(path.stem)}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    for c in credentials_of(side, spec.platform):
        if c.secret:
            continue
        value = os.environ.get(spec.env_names(side)[c.name])
        if value:
            return _host(value)
    return migration


def resolve(specs: list[MigrationSpec], origin: Path | None = None) -> list[Migration]:
    """Declared migrations with their resources; keys prefixed once there are several."""
    base, out = _base(origin), []
    for spec in specs:
        data = Path(spec.data) if spec.data else data_dir() / "migrations" / spec.name
        data = data if data.is_absolute() else (base / data).resolve()
        resources = {
            "staging": StagingResource(directory=str(data / "staging"), reports_directory=str(data / "reports")),
            "source": _side_resource("source", spec.source, data, base),
            "target": _side_resource("target", spec.target, data, base),
        }
        out.append(Migration(
            name=spec.name, resources=resources, source_platform=spec.source.platform,
            target_platform=spec.target.platform, data=data, prefixed=len(specs) > 1,
            settings={"entities": list(spec.entities), **spec.rules}, schedule=spec.schedule,
            source_shop=_shop("source", spec.source, spec.name, resources["source"]),
            target_shop=_shop("target", spec.target, spec.name, resources["target"]),
            origin=str(origin) if origin else "embedded"))
    return out


def embedded_default() -> Migration:
    """No migrations file: one migration from CART_SOURCE, CART_TARGET and CART_PIPELINES_DATA (the bundled sample
    store into the local target when none is set), keys unprefixed."""
    from cart_pipelines.defs.resources import default_resources

    return Migration.from_resources(default_resources(), data=data_dir())


def load(path: Path | None = None) -> list[Migration]:
    """The deployment's migrations: from `path`, $CART_MIGRATIONS or ./migrations.yaml, else the embedded default."""
    path = path or migrations_file()
    if path is None:
        return [embedded_default()]
    return resolve(parse(Path(path).read_text(), str(path.name if path.parent == project_root() else path)),
                   Path(path))


def select(migrations: list[Migration], name: str | None) -> Migration:
    """The migration called `name`; without a name, the only one (several need --migration)."""
    if name is None:
        if len(migrations) == 1:
            return migrations[0]
        raise MigrationsError(f"--migration: several migrations are declared; choose one of "
                              f"{', '.join(m.name for m in migrations)}")
    for m in migrations:
        if m.name == name:
            return m
    raise MigrationsError(f"--migration: no migration {name!r}; declared: {', '.join(m.name for m in migrations)}")
