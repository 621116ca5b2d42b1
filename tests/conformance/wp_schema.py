"""WordPress REST item schemas (the arrays `get_item_schema()` returns) turned into JSON Schema draft-04 validators
of *responses* for one context.

WordPress's dialect is a draft-04 subset plus `context` (which requests a property is returned for) and `readonly`;
WooCommerce adds types WordPress does not validate ("date-time", "mixed", "bool": rest_validate_value_from_schema in
wp-includes/rest-api.php only knows array, object, string, number, integer, boolean and null). What a response holds
for those comes from the code that writes it:
- "date-time": `wc_rest_prepare_date_response()` (includes/wc-rest-functions.php) gives `Y-m-d\\TH:i:s` in the
  site's time or GMT, or null for a date that is not set.
- "mixed": anything (meta values, setting values).
- "bool": a boolean (`WC_Customer::get_is_paying_customer()`).
WordPress's `filter_response_by_context()` drops properties whose `context` lacks the request's context and keeps
properties the schema does not declare, so a controller's undeclared keys reach clients: callers list those (and
the fields a controller may legitimately leave null or blank) explicitly, each with its reason.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema

DATE_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _in_context(prop: dict, context: str) -> bool:
    return context in (prop.get("context") or [context])


def _type(wp_type) -> dict:
    types = wp_type if isinstance(wp_type, list) else [wp_type]
    out: list[str] = []
    for t in types:
        if t == "mixed":
            return {}
        if t == "date-time":
            return {"anyOf": [{"type": "string", "pattern": DATE_TIME}, {"type": "null"}]}
        out.append({"bool": "boolean"}.get(t, t))
    return {"type": out[0] if len(out) == 1 else out}


def convert(prop: dict, context: str, path: str, rules: "Rules") -> dict:
    """One WordPress property → a strict JSON Schema: every property of the context required, none other allowed."""
    if path in rules.override:
        prop = {**prop, **rules.override[path]}
    out = _type(prop["type"]) if "type" in prop else {}
    if "enum" in prop:
        out["enum"] = list(prop["enum"])
    if "format" in prop and out.get("type") in ("string", ["string", "null"]):
        out["format"] = prop["format"]
    if "properties" in prop:
        props = {k: v for k, v in prop["properties"].items() if _in_context(v, context)}
        children = {k: convert(v, context, f"{path}.{k}" if path else k, rules) for k, v in props.items()}
        for extra in rules.undeclared:
            parent, _, name = extra.rpartition(".")
            if parent == path:
                children[name] = {}
        out["properties"] = children
        required = [k for k in props if (f"{path}.{k}" if path else k) not in rules.optional]
        if required:
            out["required"] = required
        out["additionalProperties"] = False
    if isinstance(prop.get("items"), dict):
        out["items"] = convert(prop["items"], context, f"{path}[]", rules)
    if path in rules.blank:
        out = {"anyOf": [out, {"type": "string", "maxLength": 0}]}
    if path in rules.nullable:
        out = {"anyOf": [out, {"type": "null"}]}
    return out


class Rules:
    """Per resource, by dotted path (`images[].src`): properties the code may return null or "" where the schema
    says otherwise, properties it does not always return, undeclared properties it returns, and type overrides
    where WooCommerce's code and its schema disagree."""

    def __init__(self, nullable=(), blank=(), optional=(), undeclared=(), override=None):
        self.nullable, self.blank, self.optional = set(nullable), set(blank), set(optional)
        self.undeclared = set(undeclared)
        self.override = dict(override or {})


def response_schema(item_schema: dict, context: str = "view", rules: Rules | None = None) -> dict:
    schema = convert(copy.deepcopy({**item_schema, "type": "object"}), context, "", rules or Rules())
    schema["$schema"] = "http://json-schema.org/draft-04/schema#"
    schema["properties"]["_links"] = {"type": "object"}  # added by add_links(), never in a schema
    return schema


FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("uri")
def _uri(value) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@FORMATS.checks("email")
def _email(value) -> bool:
    return not isinstance(value, str) or bool(EMAIL.match(value))


def validator(item_schema: dict, context: str = "view", rules: Rules | None = None) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(response_schema(item_schema, context, rules), format_checker=FORMATS)


def problems(v: jsonschema.Draft4Validator, instance) -> list[str]:
    """Every violation, as `path: message` (short enough to read in a failing assertion)."""
    out = []
    for err in sorted(v.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in err.absolute_path) or "(item)"
        out.append(f"{where}: {err.message[:200]}")
    return out
