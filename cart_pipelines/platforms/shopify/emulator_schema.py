"""The schema the Shopify emulator serves: Shopify's published Admin GraphQL introspection, loaded once.

- Source: `../shared/specs/shopify/admin_schema_2025-01.json.gz` (the folder next to the checkout; see
  shared/specs/README.md), the introspection result of the Admin API 2025-01, built with `build_client_schema`.
  It is served for every `/admin/api/{version}/` path: 2025-01 is the newest schema published as data.
- One documented extension (EXTENSION): the 2025-07 "Uncapped counts" change gave every `*Count` root field a
  `limit: Int = 10000` argument (https://shopify.dev/changelog/uncapped-graphql-counts); 2025-01 has it on
  productsCount and ordersCount only, and clients of 2025-07+ (ours asks for 2025-10) send it on customersCount
  and collectionsCount too. So the effective schema is the published one plus those arguments.
- A second documented extension (REFUND_DATES_VERSION): 2026-01 added `processedAt` to `RefundInput` and to
  `Refund` (https://shopify.dev/changelog/set-processed-at-in-refund-create: "If you don't provide a
  `processedAt` value, then the current timestamp is used by default"). The emulator's refundCreate refuses it in
  requests to an older version, as that version's schema does (emulator_writes.py), and a query to an older
  version that selects `Refund.processedAt` is refused as that version's server refuses an unknown field
  (NEWER_FIELDS: graphql-ruby's undefinedField), cursor pages and bulk queries alike.
- Without the spec file the emulator falls back to its hand-written SDL (a subset, same type names) and warns
  once: the default test suite then still runs; tests/conformance/test_shopify_spec.py skips. The SDL holds the
  refunds as published (Order.refunds, totalRefundedSet, transactions; Refund and its lines; refundCreate with
  RefundInput, RefundLineItemInput, OrderTransactionInput and RefundCreatePayload), and the extensions above apply
  to it as to the published schema.
- Unmodelled fields (field_resolver): a field the emulator's resolvers do not provide answers what its type
  allows: an empty connection (no nodes, no next page) for a connection; else null where nullable; where
  non-null an empty list, an
  object whose own fields follow the same rule, or a type-correct scalar (DEFAULTS: "" for strings, 0, false,
  "0" for UnsignedInt64, "0.0" for Decimal and Money, the Unix epoch for DateTime, the first value of an enum,
  `gid://shopify/<Type>/0` for an ID). An unmodelled mutation is refused with an error instead (a null payload
  would look like success to a client).
- Validation errors in graphql-ruby's shape, as Shopify answers them (graphql-ruby's static validation rules):
  `{"message": "Field 'x' doesn't exist on type 'Shop'", "locations": [...], "path": [...],
  "extensions": {"code": "undefinedField", "typeName": "Shop", "fieldName": "x"}}`, HTTP 200 (RUBY_ERRORS).
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import warnings
from pathlib import Path

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_client_schema,
    build_schema,
    print_ast,
)
from graphql.language import StringValueNode

SPEC_VERSION = "2025-01"
REFUND_DATES_VERSION = "2026-01"  # RefundInput.processedAt and Refund.processedAt from this version on
# repo root = parents[3]; ../shared is the folder next to the checkout (a worktree's is the same one)
SPEC_FILE = (Path(__file__).resolve().parents[3] / ".." / "shared" / "specs" / "shopify"
             / f"admin_schema_{SPEC_VERSION}.json.gz")
COUNT_LIMIT_DEFAULT = 10_000
DEFAULTS = {"String": "", "Int": 0, "Float": 0.0, "Boolean": False, "UnsignedInt64": "0", "Decimal": "0.0",
            "Money": "0.0", "DateTime": "1970-01-01T00:00:00Z", "Date": "1970-01-01", "JSON": {},
            "URL": "https://cdn.shopify.com/", "HTML": "", "FormattedString": "", "ARN": "", "Color": "#000000",
            "UtcOffset": "+00:00", "StorefrontID": ""}

_lock = threading.Lock()
_cache: dict[str, GraphQLSchema] = {}


def published(path: Path = SPEC_FILE) -> GraphQLSchema:
    """The published schema exactly as the introspection file says (no extension)."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return build_client_schema(json.load(fh)["data"])


def extend(schema: GraphQLSchema) -> GraphQLSchema:
    """EXTENSION: `limit: Int = 10000` on every root `*Count` field that lacks it (2025-07+). Also the scalars'
    input rules the introspection cannot carry (UnsignedInt64 must be a string)."""
    u64 = schema.type_map.get("UnsignedInt64")
    if isinstance(u64, GraphQLScalarType):
        u64.parse_value = _unsigned_int64
        u64.parse_literal = lambda node, _vars=None: _unsigned_int64(
            node.value if isinstance(node, StringValueNode) else getattr(node, "value", None))
    for name, field in schema.query_type.fields.items():
        if name.endswith("Count") and "limit" not in field.args:
            field.args["limit"] = GraphQLArgument(GraphQLInt, default_value=COUNT_LIMIT_DEFAULT,
                                                  description="2025-07+: the upper bound on the count; null "
                                                              "for no limit (emulator extension of 2025-01).")
    refund_input, refund, when = (schema.type_map.get(n) for n in ("RefundInput", "Refund", "DateTime"))
    if isinstance(refund_input, GraphQLInputObjectType) and when is not None \
            and "processedAt" not in refund_input.fields:
        refund_input.fields["processedAt"] = GraphQLInputField(
            when, description="2026-01+: when the refund was processed; now when not given (emulator extension).")
    if isinstance(refund, GraphQLObjectType) and when is not None and "processedAt" not in refund.fields:
        refund.fields["processedAt"] = GraphQLField(GraphQLNonNull(when), description="2026-01+: when the refund "
                                                    "was processed (emulator extension of 2025-01).")
    return schema


# Fields the served schema has that an older Admin API version lacks: (type, field) -> the first version with it.
NEWER_FIELDS = {("Refund", "processedAt"): REFUND_DATES_VERSION}


def before(version: str | None, wanted: str) -> bool:
    """Whether Admin API `version` (YYYY-MM; "unstable" is the newest; none: not known) is older than `wanted`."""
    return bool(version) and version != "unstable" and version < wanted


def too_new(schema: GraphQLSchema, document, version: str | None) -> list[dict]:
    """The selections of fields `version` does not have yet (NEWER_FIELDS), as that version's server refuses them:
    graphql-ruby's undefinedField error ("Field 'processedAt' doesn't exist on type 'Refund'")."""
    if not any(before(version, since) for since in NEWER_FIELDS.values()):
        return []
    from graphql import TypeInfo, TypeInfoVisitor, Visitor, get_named_type, visit
    info, found = TypeInfo(schema), []

    class Newer(Visitor):
        def enter_field(self, node, *_):
            parent = info.get_parent_type()
            name = get_named_type(parent).name if parent is not None else None
            since = NEWER_FIELDS.get((name, node.name.value))
            if since and before(version, since):
                loc = node.loc.source.get_location(node.loc.start) if node.loc else None
                found.append({"message": f"Field '{node.name.value}' doesn't exist on type '{name}'",
                              "locations": [{"line": loc.line, "column": loc.column}] if loc else [],
                              "extensions": {"code": "undefinedField", "typeName": name,
                                             "fieldName": node.name.value}})

    visit(document, TypeInfoVisitor(info, Newer()))
    return found


def load(fallback_sdl: str) -> GraphQLSchema:
    """The served schema, built once per process (about 2 s); the hand-written SDL when the spec is absent."""
    with _lock:
        if "served" not in _cache:
            if SPEC_FILE.is_file():
                _cache["served"] = extend(published())
            else:
                warnings.warn(f"Shopify emulator: {SPEC_FILE} is missing, serving the hand-written SDL subset "
                              "instead of Shopify's published Admin schema", RuntimeWarning, stacklevel=2)
                _cache["served"] = extend(build_schema(fallback_sdl))
        return _cache["served"]


def warm(fallback_sdl: str) -> None:
    """Build the schema in the background (an emulator starts at once; the first request waits for it)."""
    if "served" not in _cache:
        threading.Thread(target=load, args=(fallback_sdl,), name="shopify-schema", daemon=True).start()


# --- unmodelled fields
def empty_connection() -> dict:
    return {"nodes": [], "edges": [], "pageInfo": {"hasNextPage": False, "hasPreviousPage": False,
                                                   "startCursor": None, "endCursor": None}}


def default_for(type_, info, parent) -> object:
    """What a field the emulator does not model answers (the rule in the module docstring)."""
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    if isinstance(inner, GraphQLObjectType) and inner.name.endswith("Connection"):
        return empty_connection()  # nullable or not: clients page through connections without a null check
    if not isinstance(type_, GraphQLNonNull):
        return None
    if isinstance(inner, GraphQLList):
        return []
    if isinstance(inner, GraphQLEnumType):
        return next(iter(inner.values))
    if isinstance(inner, GraphQLScalarType):
        if inner.name == "ID":
            return f"gid://shopify/{info.parent_type.name}/0"
        return DEFAULTS.get(inner.name, "")
    if isinstance(inner, GraphQLObjectType):
        return empty_connection() if inner.name.endswith("Connection") else {"__typename": inner.name}
    if isinstance(inner, (GraphQLInterfaceType, GraphQLUnionType)):
        return {"__typename": info.schema.get_possible_types(inner)[0].name}
    return None


def field_resolver(source, info, **args):
    """A dict key (a value, or a function called with info and the arguments) or the field's default."""
    name = info.field_name
    if isinstance(source, dict):
        if name not in source:
            if info.parent_type is info.schema.mutation_type:
                raise GraphQLError(f"The Shopify emulator does not model the mutation '{name}'.",
                                   extensions={"code": "NOT_IMPLEMENTED"})
            return default_for(info.return_type, info, source)
        value = source[name]
    else:
        value = getattr(source, name, None)
    return value(info, **args) if callable(value) else value


# --- errors in graphql-ruby's words (Shopify's server), from graphql-core's
RUBY_ERRORS = [
    (r"Cannot query field '(\w+)' on type '(\w+)'\.(?: Did you mean .*)?",
     lambda m: (f"Field '{m[1]}' doesn't exist on type '{m[2]}'", "undefinedField",
                {"typeName": m[2], "fieldName": m[1]})),
    (r"Unknown argument '(\w+)' on field '(\w+)\.(\w+)'\.(?: Did you mean .*)?",
     lambda m: (f"Field '{m[3]}' doesn't accept argument '{m[1]}'", "argumentNotAccepted",
                {"name": m[3], "typeName": "Field", "argumentName": m[1]})),
    (r"Field '(\w+)' argument '(\w+)' of type '(.+)' is required, but it was not provided\.",
     lambda m: (f"Field '{m[1]}' is missing required arguments: {m[2]}", "missingRequiredArguments",
                {"className": "Field", "name": m[1], "arguments": m[2]})),
    (r"Field '(\w+)' of type '(.+)' must have a selection of subfields\..*",
     lambda m: (f"Field must have selections (field '{m[1]}' returns {m[2].strip('[]!')} but has no "
                f"selections. Did you mean '{m[1]} {{ ... }}'?)", "selectionMismatch",
                {"nodeName": f"field '{m[1]}'", "typeName": m[2].strip("[]!")})),
    (r"Field '(\w+)' must not have a selection since type '(.+)' has no subfields\.",
     lambda m: (f"Selections can't be made on scalars (field '{m[1]}' returns {m[2].strip('[]!')} but has "
                "selections [...])", "selectionMismatch",
                {"nodeName": f"field '{m[1]}'", "typeName": m[2].strip("[]!")})),
    (r"Variable '\$(\w+)' is not defined.*",
     lambda m: (f"Variable ${m[1]} is used by anonymous query but not declared", "variableNotDefined",
                {"variableName": m[1]})),
    (r"Variable '\$(\w+)' is never used.*",
     lambda m: (f"Variable ${m[1]} is declared by anonymous query but not used", "variableNotUsed",
                {"variableName": m[1]})),
    (r"Variable '\$(\w+)' of type '(.+)' used in position expecting type '(.+)'\.",
     lambda m: (f"Type mismatch on variable ${m[1]} and argument ({m[2]} / {m[3]})", "variableMismatch",
                {"variableName": m[1], "typeName": m[2]})),
    (r"Unknown type '(\w+)'\..*",
     lambda m: (f"No such type {m[1]}, so it can't be a fragment condition", "undefinedType",
                {"typeName": m[1]})),
    (r"Field '(\w+)\.(\w+)' of required type '(.+)' was not provided\.",
     lambda m: (f"Argument '{m[2]}' on InputObject '{m[1]}' is required. Expected type {m[3]}",
                "missingRequiredInputObjectAttribute",
                {"argumentName": m[2], "argumentType": m[3], "inputObjectType": m[1]})),
    (r"Field '(\w+)' argument '(\w+)' .*|(?:Int|String|Float|Boolean|ID|Enum) cannot represent .*|"
     r"Expected value of type '(.+)', found .*",
     lambda m: (m[0], "argumentLiteralsIncompatible", {})),
]


VARIABLE_ERROR = re.compile(r"Variable '\$(\w+)' (?:got invalid value .*?(?: at '([^']+)')?; (.*)|"
                            r"of (?:required|non-null) type '.+' (?:was not provided|must not be null)\.)", re.S)


def ruby_variable_error(error: GraphQLError, document, variables: dict) -> dict:
    """A variable value the schema refuses, as graphql-ruby answers it: "Variable $input of type X! was provided
    invalid value for 0.fileSize (explanation)" with `extensions {value, problems [{path, explanation}]}`."""
    m = VARIABLE_ERROR.fullmatch(error.message)
    if not m:
        return error.formatted
    name, where, explanation = m[1], m[2], (m[3] or "Expected value to not be null").strip()
    types = {d.variable.name.value: print_ast(d.type) for op in document.definitions
             for d in getattr(op, "variable_definitions", None) or ()}
    path = [int(p) if p.isdigit() else p for p in re.findall(r"\w+", where or "")[1:]]
    detail = f" for {'.'.join(map(str, path))}" if path else ""
    out = {"message": f"Variable ${name} of type {types.get(name, '?')} was provided invalid value{detail} "
                      f"({explanation})", "locations": error.formatted.get("locations") or [],
           "extensions": {"value": variables.get(name), "problems": [
               {"path": path, "explanation": explanation, "message": explanation}]}}
    return out


def _unsigned_int64(value):
    """Shopify's UnsignedInt64 input: a string of digits ("UnsignedInt64 '193549' must be encoded as a string")."""
    if not isinstance(value, str):
        raise GraphQLError(f"UnsignedInt64 '{value}' must be encoded as a string")
    if not value.isdigit():
        raise GraphQLError(f"UnsignedInt64 '{value}' is not a valid unsigned 64-bit integer")
    return value


def ruby_error(error: GraphQLError) -> dict:
    """A validation error as Shopify (graphql-ruby) words it, with its `extensions.code`."""
    out = error.formatted
    for pattern, make in RUBY_ERRORS:
        m = re.fullmatch(pattern, error.message, re.S)
        if m:
            message, code, extra = make(m)
            out["message"] = message
            out["extensions"] = {"code": code, **extra}
            return out
    out["extensions"] = {"code": "validationError", **(out.get("extensions") or {})}
    return out
