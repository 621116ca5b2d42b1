"""A small OpenAPI 3.0 reader for conformance tests: load a (gzip'd) YAML spec once, resolve `$ref`s, find the
response schema of (method, path template, status) and validate a JSON answer against it with
openapi-schema-validator's OAS 3.0 read validator (`nullable`, `readOnly`/`writeOnly`, OAS formats).

Generic on purpose: nothing here knows a platform. A test picks the spec file, matches a request path to one of
its templates and asks what the answer must look like.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import yaml
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


class _Loader(yaml.SafeLoader):
    """PyYAML without timestamp resolution: a spec's example or default date must stay the string it is."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Operation:
    method: str  # lower case
    template: str  # path template as the spec writes it, relative to the server's base path
    spec: "OpenApi"

    @property
    def raw(self) -> dict:
        return self.spec.deref(self.spec.doc["paths"][self.template])[self.method]

    def parameters(self) -> dict[tuple[str, str], dict]:
        """(in, name) -> parameter object, path-level parameters overridden by the operation's own."""
        item = self.spec.deref(self.spec.doc["paths"][self.template])
        out = {}
        for p in [*item.get("parameters", []), *self.raw.get("parameters", [])]:
            p = self.spec.deref(p)
            out[(p["in"], p["name"])] = p
        return out

    def statuses(self) -> list[str]:
        return list(self.raw.get("responses", {}))

    def response(self, status: int | str) -> dict | None:
        """The response object for `status`: the exact code, then its class ('4XX'), then 'default'."""
        responses = self.raw.get("responses", {})
        for key in (str(status), f"{str(status)[0]}XX", "default"):
            if key in responses:
                return self.spec.deref(responses[key])
        return None

    def schema(self, status: int | str, media: str = "application/json") -> dict | None:
        """The JSON schema of the body for `status`, or None where the spec gives none (or an empty one)."""
        response = self.response(status)
        content = (response or {}).get("content") or {}
        entry = content.get(media) or next((v for k, v in content.items() if "json" in k), None)
        schema = (entry or {}).get("schema")
        return schema or None

    def headers(self, status: int | str) -> dict[str, dict]:
        """Header name -> header object the spec defines for `status`."""
        response = self.response(status) or {}
        return {name: self.spec.deref(h) for name, h in (response.get("headers") or {}).items()}


class OpenApi:
    """One OpenAPI 3.0 document."""

    def __init__(self, doc: dict, name: str = ""):
        if not str(doc.get("openapi", "")).startswith("3.0"):
            raise ValueError(f"{name}: not an OpenAPI 3.0 document (openapi: {doc.get('openapi')!r})")
        self.doc, self.name = doc, name
        self._templates = [(self._regex(t), t) for t in doc.get("paths", {})]
        # Literal segments first ("/orders/count" before "/orders/{order_id}"), as routers match.
        self._templates.sort(key=lambda rt: (rt[1].count("{"), -len(rt[1])))

    @classmethod
    def load(cls, path: str | Path) -> "OpenApi":
        return _load(str(Path(path).resolve()))

    # --- structure
    @property
    def base_path(self) -> str:
        """The path part of the first server URL (e.g. '/stores/{store_hash}/v3'), '' when none."""
        servers = self.doc.get("servers") or [{"url": "/"}]
        return urlparse(servers[0]["url"]).path.rstrip("/")

    def deref(self, node):
        """Follow `$ref` chains (local references only) until a node without one."""
        seen = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen or not ref.startswith("#/"):
                raise ValueError(f"{self.name}: cannot resolve {ref!r}")
            seen.add(ref)
            node = self.pointer(ref)
        return node

    def pointer(self, ref: str):
        node = self.doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def operations(self) -> list[Operation]:
        return [Operation(m, t, self) for t, item in self.doc.get("paths", {}).items()
                for m in self.deref(item) if m in METHODS]

    def operation(self, method: str, template: str) -> Operation | None:
        item = self.deref(self.doc.get("paths", {}).get(template) or {})
        return Operation(method.lower(), template, self) if method.lower() in item else None

    @staticmethod
    def _regex(template: str) -> re.Pattern:
        parts = re.split(r"(\{[^}]+\})", template)
        return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "/?$")

    def match(self, path: str) -> str | None:
        """The template a concrete path (relative to the base path) falls under, or None."""
        for rx, template in self._templates:
            if rx.match(path):
                return template
        return None

    # --- validation
    def validator(self, schema: dict) -> OAS30ReadValidator:
        """An OAS 3.0 read validator (a response: writeOnly properties must not appear) for `schema`, whose local
        `$ref`s resolve against this document (its components sit beside the schema under one root)."""
        return _validator(self, id(schema), schema)

    def errors(self, schema: dict, instance) -> list[str]:
        """Every way `instance` departs from `schema`, as 'path: message' lines (empty: it conforms)."""
        out = []
        for err in sorted(self.validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in err.absolute_path) or "(root)"
            out.append(f"{where}: {err.message[:300]}")
        return out

    def response_errors(self, method: str, template: str, status: int, body) -> list[str]:
        """`body` checked against the spec's response schema for (method, template, status). A status the
        operation does not document is an error; a documented status without a schema accepts any body."""
        op = self.operation(method, template)
        if op is None:
            return [f"{method.upper()} {template} is not in {self.name}"]
        if op.response(status) is None:
            return [f"{method.upper()} {template}: status {status} is not documented (documented: {op.statuses()})"]
        schema = op.schema(status)
        return self.errors(schema, body) if schema else []


@lru_cache(maxsize=None)
def _load(path: str) -> OpenApi:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return OpenApi(yaml.load(fh, Loader=_Loader), Path(path).name)


_VALIDATORS: dict[tuple[int, int], tuple[dict, OAS30ReadValidator]] = {}


def _validator(spec: OpenApi, key: int, schema: dict) -> OAS30ReadValidator:
    entry = _VALIDATORS.get((id(spec), key))
    if entry is not None and entry[0] is schema:  # the entry holds the schema, so its id cannot be reused
        return entry[1]
    # `$ref: '#/components/...'` resolves against the root: put the document's components (and paths, which
    # some specs point into) beside the schema; `allOf` keeps the schema's own keywords in force.
    root = {"allOf": [schema], "components": spec.doc.get("components", {}),
            "paths": spec.doc.get("paths", {})}
    validator = OAS30ReadValidator(root, format_checker=oas30_format_checker)
    _VALIDATORS[(id(spec), key)] = (schema, validator)
    return validator


def merged_properties(spec: OpenApi, schema: dict) -> dict:
    """Properties a schema defines, through `allOf` and `$ref`s (not oneOf/anyOf: those are alternatives)."""
    schema = spec.deref(schema)
    out = dict(schema.get("properties") or {})
    for sub in schema.get("allOf") or []:
        out.update(merged_properties(spec, sub))
    return out


def _items(spec: OpenApi, schema: dict) -> dict | None:
    schema = spec.deref(schema)
    if "items" in schema:
        return schema["items"]
    return next((spec.deref(s)["items"] for s in schema.get("allOf") or [] if "items" in spec.deref(s)), None)


def missing_properties(spec: OpenApi, schema: dict, instance, where: str = "") -> set[str]:
    """Where `instance` leaves out a property its schema defines ('data[].custom_url.create_redirect'), writeOnly
    ones excepted: what a spec-complete answer would carry. Array items are all walked, paths merge them."""
    out: set[str] = set()
    schema = spec.deref(schema)
    if isinstance(instance, list):
        items = _items(spec, schema)
        for item in instance if items is not None else ():
            out |= missing_properties(spec, items, item, where + "[]")
    elif isinstance(instance, dict):
        for name, sub in merged_properties(spec, schema).items():
            sub = spec.deref(sub)
            if name not in instance:
                if not sub.get("writeOnly"):
                    out.add(f"{where}.{name}".lstrip("."))
            elif instance[name] is not None:
                out |= missing_properties(spec, sub, instance[name], f"{where}.{name}")
    return out
