"""A small Swagger 2.0 loader and validator for the conformance tests.

`load(path)` reads a (gzip'd) YAML or JSON Swagger file once per process, and once per file content across runs
(a JSON copy in the temp directory: PyYAML needs seconds for the large admin schemas, json milliseconds).
`Swagger.operation(method, path)` finds the path template a concrete path matches (literal segments win over
`{params}`, as routers do), `response_schema()` the schema of one (method, template, status) answer (falling back to
`default`), and `errors()` validates an answer with jsonschema's Draft4Validator (Swagger 2.0 schemas are a Draft 4
subset) against the document's own `#/definitions`, so `$ref`s resolve inside it.

Two switches hold an answer to what a definition says rather than to what it merely allows:
`closed` (no properties the definition lacks: `additionalProperties: false` wherever a schema lists properties and
says nothing else) and `null_for_required` (a `null` is accepted only for required properties, as platforms that
serialise every declared required getter — Magento — output them; elsewhere a property is absent, never null).
`overrides` replaces whole definitions, for documented departures of a spec from its platform's runtime.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import re
import tempfile
from functools import lru_cache
from pathlib import Path

import yaml
from jsonschema import Draft4Validator

CACHE = Path(tempfile.gettempdir()) / "cart-pipelines-swagger-cache"


@lru_cache(maxsize=8)
def load(path: str | Path) -> "Swagger":
    """The Swagger document at `path` (.yaml, .yml or .json, optionally .gz)."""
    raw = Path(path).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()[:32]
    cached = CACHE / f"{digest}.json"
    if cached.exists():
        try:
            return Swagger(json.loads(cached.read_text(encoding="utf-8")))
        except ValueError:  # a half-written copy from an interrupted run: parse again
            pass
    text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    name = str(path).removesuffix(".gz")
    if name.endswith(".json"):
        doc = json.loads(text)
    else:
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if doc.get("swagger") != "2.0":
        raise ValueError(f"{path}: not a Swagger 2.0 document")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{digest[:8]}.tmp")
    tmp.write_text(json.dumps(doc), encoding="utf-8")
    tmp.replace(cached)  # atomic: parallel workers never read a partial copy
    return Swagger(doc)


class Swagger:
    def __init__(self, doc: dict):
        self.doc = doc
        self.paths: dict[str, dict] = doc.get("paths") or {}
        self.definitions: dict[str, dict] = doc.get("definitions") or {}
        self._templates = [(t, [_segment(s) for s in t.strip("/").split("/")]) for t in self.paths]
        self._validators: dict = {}

    @property
    def base_path(self) -> str:
        return self.doc.get("basePath") or ""

    def operation(self, method: str, path: str) -> tuple[str, dict] | None:
        """(path template, operation object) that serves `method path` (the path relative to basePath); None if
        the spec has no such operation. Templates with more literal segments win ({sku} loses to `attributes`)."""
        parts = path.strip("/").split("/")
        best = None
        for template, segments in self._templates:
            op = self.paths[template].get(method.lower())
            if op is None or len(segments) != len(parts):
                continue
            if all(s is None or s == p for s, p in zip(segments, parts)):
                literals = sum(s is not None for s in segments)
                if best is None or literals > best[0]:
                    best = (literals, template, op)
        return (best[1], best[2]) if best else None

    def has(self, method: str, template: str) -> bool:
        """Whether the spec declares `method` on exactly this path template ({names} may differ)."""
        want = _shape(template)
        return any(_shape(t) == want and method.lower() in ops for t, ops in self.paths.items())

    def response_schema(self, method: str, template: str, status: int) -> dict | None:
        op = self.paths[template][method.lower()]
        responses = op.get("responses") or {}
        answer = responses.get(str(status)) or responses.get("default")
        return None if answer is None else answer.get("schema")

    def errors(self, instance, schema: dict, closed: bool = True, null_for_required: bool = True,
               overrides: dict | None = None) -> list[str]:
        """Every way `instance` departs from `schema`, as "path: message" lines (empty: it conforms)."""
        key = (json.dumps(schema, sort_keys=True), closed, null_for_required, json.dumps(overrides, sort_keys=True))
        validator = self._validators.get(key)
        if validator is None:
            definitions = {**self.definitions, **(overrides or {})}
            root = {"definitions": {k: _tighten(v, closed, null_for_required) for k, v in definitions.items()},
                    **_tighten(schema, closed, null_for_required)}
            Draft4Validator.check_schema(root)
            validator = self._validators[key] = Draft4Validator(root)
        return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
                for e in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))]

    def definition(self, name: str) -> dict:
        return {"$ref": f"#/definitions/{name}"}


def _segment(s: str) -> str | None:
    return None if re.fullmatch(r"\{[^}]+\}", s) else s


def _shape(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", template.strip("/"))


def _nullable(schema: dict) -> dict:
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return {**schema, "type": types + ["null"]} if "null" not in types else schema
    return schema


def _tighten(schema, closed: bool, null_for_required: bool):
    """A copy of `schema` with the two switches applied at every level (Swagger keywords Draft 4 lacks, such as
    `xml`, `example` or `x-*`, are left: validators ignore unknown keywords)."""
    if not isinstance(schema, dict):
        return schema
    out = copy.copy(schema)
    if "properties" in out:
        required = set(out.get("required") or ())
        out["properties"] = {k: (_nullable if null_for_required and k in required else _same)(
            _tighten(v, closed, null_for_required)) for k, v in out["properties"].items()}
        if closed and "additionalProperties" not in out:
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _tighten(out[key], closed, null_for_required)
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(out.get(key), list):
            out[key] = [_tighten(s, closed, null_for_required) for s in out[key]]
    return out


def _same(schema):
    return schema
