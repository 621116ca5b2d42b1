"""The set-based twin of coerce.py: DuckDB SQL that coerces canonical JSON lines, one stream of batches at a time.

It takes only what it can prove coerce.py takes as it is: a line whose every field has a plain value (text as a
string, a price as a number or numeric string with at most its decimals, a date-time in ISO form, ...) is coerced
in SQL; any other line (`_ok` false) goes to coerce.py, which gives it its exact value or its exact reason.

Each line is parsed once (`json_transform`) into the record's own nested shape: scalar fields as their text
(strings unescaped, numbers as DuckDB writes the double or integer it read), objects and list items as maps of
their keys to their values' JSON texts, so a key written twice, a key the model does not read and an item that is
no object show in the one parse. The key list of the record itself is a second, cheap call (`json_keys`). The
proofs lean on these facts of DuckDB's JSON reader (tests/test_export_set_based.py holds both paths to the same
outcome on hostile lines):
- a number with at most 15 significant digits reads as a double whose shortest form has the same value, so the
  decimal checks run on that text; a line with a run of 16 digits (or dots) goes to Python, and so does one with
  a 3-digit negative exponent (1e-400 reads as 0.0) where the entity has decimals or floats;
- it accepts what Python's json does not: trailing commas (the line goes to Python), nan/inf in any case (no
  field check takes them, and a record's own unknown keys holding them send the line to Python);
- a scalar read as text cannot tell a string from a number, true or an object: a text field's value that could
  be the text of something else than a string (true, false, 1.5, 1e3, nan, {...}, [...]) goes to Python; a whole
  number is taken (coerce.py writes it as the same digits);
- a map of an object that writes a key twice is NULL: such items, and items that are no object, go to Python.
Descriptions go through nh3 in Python unless their HTML is of the plain form nh3 leaves as it is (HTML_AS_IS).
"""

from __future__ import annotations

import json

import pyarrow as pa

from cart_pipelines.model.coerce import (  # noqa: F401 - EMAIL and SPECIAL_USE are read from here too
    EMAIL,
    FLOAT_LIMIT,
    HTML_FIELDS,
    INT_LIMITS,
    MAX_TEXT,
    NON_NEGATIVE,
    POSITIVE_INT,
    RANGES,
    REFERENCE_LISTS,
    REFERENCES,
    SCHEDULED,
    SPECIAL_USE,
)

# Lines with any of these go to Python: a trailing comma (Python's json refuses it), an escaped NUL (so no text
# field needs its own test); where the entity has decimals or floats, also a digit run longer than a double keeps
# exactly and an exponent below -99 (DIGITS, UNDERFLOW). So do lines longer than MAX_TEXT (no field can be longer).
# Each pattern starts with one literal character, which RE2 finds by memchr: a third of the cost of one pattern of
# alternatives over every byte.
TRAILING_COMMA = r",[ \t\r\n]*[\]}]"
DIGITS = r":[ \t\r\n]*-?[0-9][0-9.]{15,}"  # every number a field reads is an object's value
UNDERFLOW = (r"e-[0-9]{3,}[,}\] \t\r\n]", r"E-[0-9]{3,}[,}\] \t\r\n]")  # ending a number, not "forde-114"
# A text field's value (read as text) that may have been something else than a JSON string. Whole numbers are
# not in it: coerce.py writes an integer as its digits, as DuckDB does.
NOT_TEXT = r"(?s)true|false|[-+]?(?i:nan|inf|infinity)|-?[0-9]+(\.[0-9]+([eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)|[\[{].*"
NOT_TEXT_FIRST = "[{tfnNiI+-0123456789"  # the characters NOT_TEXT's matches start with
# A character no text of only spaces and format characters has (coerce._invisible): letters, digits, marks,
# punctuation, symbols.
VISIBLE = r"[\p{L}\p{N}\p{M}\p{P}\p{S}]"
ASCII_SPACE = r"[ \t\n\r\x0b\x0c]*"
NAN_INF = r"[-+]?(?i:nan|inf|infinity)"
# ISO 8601 date-times datetime.fromisoformat reads the same way DuckDB does (years 1000..9999, no leap second).
TIMESTAMP = (r"[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
             r"([T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?")
# HTML that nh3 returns unchanged: text without markup characters, controls or no-break spaces, in paragraphs
# and lists (tests/test_coerce_sql.py fuzzes this against nh3).
_TEXT = r"[^<>&\x00-\x08\x0b-\x1f\x7f-\x9f\x{a0}\x{fdd0}-\x{fdef}\x{fffe}\x{ffff}]*"
HTML_AS_IS = rf"{_TEXT}((<p>{_TEXT}</p>|<ul>(<li>{_TEXT}</li>)*</ul>){_TEXT})*"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_type(t: pa.DataType) -> str:
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision}, {t.scale})"
    if pa.types.is_integer(t):
        return {32: "INTEGER", 64: "BIGINT"}[t.bit_width]
    if pa.types.is_floating(t):
        return "DOUBLE"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ"
    if pa.types.is_struct(t):
        return "STRUCT(" + ", ".join(f'"{f.name}" {sql_type(f.type)}' for f in t) + ")"
    if pa.types.is_list(t):
        return sql_type(t.value_type) + "[]"
    raise TypeError(f"no SQL type for {t}")


def _container(t: pa.DataType) -> bool:
    return pa.types.is_struct(t) or pa.types.is_list(t)


def _numeric(t: pa.DataType) -> bool:
    """Whether a value of this type is read from a double's text (so its digits must be exact)."""
    if pa.types.is_struct(t):
        return any(_numeric(f.type) for f in t)
    if pa.types.is_list(t):
        return _numeric(t.value_type)
    return pa.types.is_decimal(t) or pa.types.is_floating(t)


def guard(schema: pa.Schema, line: str = "line") -> str:
    """SQL: whether the line may be read here (see TRAILING_COMMA, DIGITS, UNDERFLOW)."""
    parts = [f"strlen({line}) <= {MAX_TEXT}", f"NOT contains({line}, '\\u0000')",
             f"NOT regexp_matches({line}, {_lit(TRAILING_COMMA)})"]
    if any(_numeric(f.type) for f in schema):
        parts += [f"NOT regexp_matches({line}, {_lit(p)})" for p in UNDERFLOW]
        parts.append(f"NOT regexp_matches({line}, {_lit(DIGITS)})")
    return " AND ".join(parts)


def _shape(t: pa.DataType):
    """json_transform's type for a value of `t`: the same nesting, every scalar as text."""
    if pa.types.is_struct(t):
        return {f.name: _shape(f.type) for f in t}
    if pa.types.is_list(t):
        return [_shape(t.value_type)]
    return "VARCHAR"


class _Names:
    """Unique lambda parameter names (a nested lambda must not hide an outer one)."""

    def __init__(self):
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"e{self.n}"


def _visible(s: str) -> str:
    # ASCII letters and digits first: the Unicode classes cost more, and most text has them.
    return f"(CASE WHEN regexp_matches({s}, '[0-9A-Za-z]') THEN true ELSE regexp_matches({s}, {_lit(VISIBLE)}) END)"


def _maybe_not_text(s: str) -> str:
    """Whether the text `s` of a value may be the text of something else than a JSON string."""
    return (f"(CASE WHEN strpos({_lit(NOT_TEXT_FIRST)}, left({s}, 1)) = 0 THEN false "
            f"ELSE regexp_full_match({s}, {_lit(NOT_TEXT)}) END)")


def _ok(f: pa.Field, absent: str, ok: str) -> str:
    """A field is fine absent when it may be null, else when present and fine."""
    return f"({absent} OR coalesce({ok}, false))" if f.nullable else f"(NOT {absent} AND coalesce({ok}, false))"


def leaf(f: pa.Field, s: str, exact: bool = False) -> tuple[str, str]:
    """(ok, value) of a scalar field whose text is `s` (NULL: absent or null). The values need no test for
    absence: they are NULL for a NULL text (and for "", where that is no value). `exact`: take only texts that
    are their field's value as they are (no trimming or blanking), so a cast of the text is its value."""
    absent = f"{s} IS NULL" if pa.types.is_string(f.type) else f"({s} IS NULL OR {s} = '')"
    typ, name = f.type, f.name
    if pa.types.is_string(typ):
        # Lines with an escaped NUL or longer than MAX_TEXT are not read here (guard): no test of its own.
        ok = f"NOT {_maybe_not_text(s)}"
        if not f.nullable:
            ok += f" AND {_visible(s)}"
        choices = (f.metadata or {}).get(b"enum")
        value = s
        if name in REFERENCES:
            if exact:  # a blank reference is no reference (NULL): not as it is
                ok = f"{ok} AND {_visible(s)}"
            else:
                ok, value = f"{ok} AND ({s} = '' OR {_visible(s)})", f"nullif({s}, '')"
        elif name == "email" and not f.nullable:
            tld = f"split_part({s}, '.', -1)"
            ok = (f"{ok} AND strlen({s}) <= 254 AND regexp_full_match({s}, {_lit(EMAIL)}) "
                  f"AND {tld} NOT IN ({', '.join(map(_lit, SPECIAL_USE))})")
        elif choices is not None:
            listed = ", ".join(_lit(c) for c in choices.decode().split(","))
            if exact:
                ok = f"{ok} AND {s} IN ({listed})"
            else:
                ok = (f"{ok} AND ({s} IN ({listed}) OR (regexp_full_match({s}, ' *[A-Za-z]+ *') "
                      f"AND lower(trim({s})) IN ({listed})))")
                value = f"(CASE WHEN {s} IN ({listed}) THEN {s} ELSE lower(trim({s})) END)"
    elif pa.types.is_decimal(typ):  # a number, or a string of one: the pattern admits nothing else
        sign = "" if name in NON_NEGATIVE else "-?"
        pattern = f"{sign}[0-9]{{1,{typ.precision - typ.scale}}}(\\.[0-9]{{1,{typ.scale}}})?"
        ok = f"regexp_full_match({s}, {_lit(pattern)})"
        value = f"TRY_CAST({s} AS {sql_type(typ)})"
    elif pa.types.is_integer(typ):
        limit = INT_LIMITS[typ.bit_width]
        lo, hi = RANGES.get(name, (-limit - 1, limit))
        if name in POSITIVE_INT:
            lo = max(lo, 1)
        ok = f"regexp_full_match({s}, '-?[0-9]{{1,15}}') AND TRY_CAST({s} AS BIGINT) BETWEEN {lo} AND {hi}"
        value = f"TRY_CAST({s} AS {sql_type(typ)})"
    elif pa.types.is_floating(typ):
        lo, hi = RANGES.get(name, (-FLOAT_LIMIT, FLOAT_LIMIT))
        value = f"TRY_CAST({s} AS DOUBLE)"
        # at most 15 digits: the double read from the text is the one Python reads from the value
        ok = (f"strlen({s}) <= 16 AND regexp_full_match({s}, '-?[0-9]+(\\.[0-9]+)?') "
              f"AND {value} BETWEEN {lo} AND {hi}")
    elif pa.types.is_boolean(typ):  # true or "true" (coerce.py reads both as True)
        ok, value = f"{s} IN ('true', 'false')", f"(CASE WHEN {s} IN ('true', 'false') THEN {s} = 'true' END)"
    elif pa.types.is_timestamp(typ):
        value = f"TRY_CAST({s} AS TIMESTAMPTZ)"
        ok = f"regexp_full_match({s}, {_lit(TIMESTAMP)}) AND {value} IS NOT NULL"
        if name not in SCHEDULED:  # a scheduled sale's dates may lie ahead; other date-times may not
            ok += f" AND {value} <= now() + INTERVAL 1 DAY"
    else:
        raise TypeError(f"{name}: unsupported type {typ}")
    return _ok(f, absent, ok), value


def _list(items) -> str:
    return "[" + ", ".join(_lit(k) for k in items) + "]"


def keys_ok(keys: str, fields, hints=()) -> str:
    """An object's key list (json_keys): some key, none twice, every one a key the model reads. (An empty list is
    also what a value that is no object has.) `hints`: key lists known to be such, compared first (a list
    comparison costs a tenth of the checks)."""
    full = f"(len({keys}) > 0 AND list_unique({keys}) = len({keys}) AND list_has_all({_list(f.name for f in fields)}, {keys}))"
    if not hints:
        return full
    return f"(CASE WHEN {keys} IN ({', '.join(_list(h) for h in hints)}) THEN true ELSE {full} END)"


def _hint_paths(schema: pa.Schema) -> dict[tuple, list[pa.Field]]:
    """The objects whose key lists the query checks: path (field names from the record; a list's items are
    under the list's name) -> the fields of that object."""
    out = {(): list(schema)}
    for f in schema:
        if pa.types.is_struct(f.type):
            out[(f.name,)] = list(f.type)
        elif pa.types.is_list(f.type) and pa.types.is_struct(f.type.value_type):
            out[(f.name,)] = list(f.type.value_type)
            for c in f.type.value_type:
                if pa.types.is_list(c.type) and pa.types.is_struct(c.type.value_type):
                    out[(f.name, c.name)] = list(c.type.value_type)
    return out


def key_hints(schema: pa.Schema, lines, most: int = 8) -> dict[tuple, list[tuple[str, ...]]]:
    """The key lists the first `lines` (texts) write most often, per object the query checks (`_hint_paths`),
    that are key lists the checks take (none twice, all known): the query compares a line's key lists with these
    first. Lines that are no JSON object are passed over (the query finds them out)."""
    paths = _hint_paths(schema)
    counts: dict[tuple, dict[tuple, int]] = {p: {} for p in paths}

    def pairs(value):  # an object as object_pairs_hook=list reads it: its (key, value) pairs as written
        return value if isinstance(value, list) and value and all(isinstance(p, tuple) for p in value) else None

    def items(value):  # a list's objects
        return [o for o in map(pairs, value) if o] if isinstance(value, list) and not pairs(value) else []

    def note(path, obj):
        keys = tuple(k for k, _ in obj)
        counts[path][keys] = counts[path].get(keys, 0) + 1

    for text in lines:
        try:
            record = pairs(json.loads(text, object_pairs_hook=list))
        except (ValueError, RecursionError, TypeError):
            continue
        if record is None:
            continue
        note((), record)
        fields = dict(record)
        for f in schema:
            if (f.name,) not in paths:
                continue
            if pa.types.is_struct(f.type):
                if obj := pairs(fields.get(f.name)):
                    note((f.name,), obj)
                continue
            for item in items(fields.get(f.name)):
                note((f.name,), item)
                for path in paths:
                    if len(path) == 2 and path[0] == f.name:
                        for grand in items(dict(item).get(path[1])):
                            note(path, grand)
    out = {}
    for path, seen in counts.items():
        known = {f.name for f in paths[path]}
        good = [k for k in seen if k and len(set(k)) == len(k) and set(k) <= known]  # [] is also no object's
        out[path] = sorted(good, key=lambda k: -seen[k])[:most]
    return out


def _all(items: str, lam: str, body: str) -> str:
    return f"coalesce(list_bool_and(list_transform({items}, lambda {lam}: {body})), true)"


class _Plan:
    """The key lists a query needs (json_keys calls on the line) and the checks of one record."""

    def __init__(self):
        self.names = _Names()
        self.key_lists: list[str] = []  # SQL of each key-list column, in order (column _k<i>)

    def keys(self, sql: str) -> str:
        self.key_lists.append(sql)
        return f"_k{len(self.key_lists) - 1}"


def _struct_items(plan: _Plan, f: pa.Field, x: str, path: str, present: str, hints: dict) -> str:
    """ok of the list of objects `x` (non-NULL where `present`) at JSON path `path`: each item an object with
    known keys (the key lists of '<path>[*]', one per item), its fields fine; its own lists likewise."""
    children = list(f.type.value_type)
    k = plan.keys(f"CASE WHEN {present} THEN try(json_keys(_j, {_lit(path + '[*]')})) END")
    e = plan.names()
    oks, nested = [], []
    for c in children:
        y = f"{e}.{_ident(c.name)}"
        if pa.types.is_list(c.type) and pa.types.is_struct(c.type.value_type):
            if any(_container(g.type) for g in c.type.value_type):
                raise TypeError(f"{c.name}: lists three deep are not read set-based")
            # the items of every item's list, flattened: their key lists, then their fields
            grand = list(c.type.value_type)
            kk = plan.keys(f"CASE WHEN {present} THEN try(json_keys(_j, "
                           f"{_lit(path + '[*].' + json.dumps(c.name) + '[*]')})) END")
            g = plan.names()
            inner = " AND ".join(leaf(h, f"{g}.{_ident(h.name)}", exact=True)[0] for h in grand)
            flat = f"flatten(list_transform({x}, lambda {g}: {g}.{_ident(c.name)}))"
            q = plan.names()
            nested.append(
                f"({kk} IS NOT NULL AND len({kk}) = len({flat}) AND {_all(kk, q, keys_ok(q, grand, hints.get((f.name, c.name))))} "
                f"AND {_all(flat, g, f'{g} IS NOT NULL AND {inner}')} "
                # an item whose list is present but NULL (null, or not a list): Python reads it
                f"AND len(list_filter({x}, lambda {g}: {g}.{_ident(c.name)} IS NULL)) = "
                f"len(list_filter({k}, lambda {q}: NOT list_contains({q}, {_lit(c.name)}))))")
        elif _container(c.type):
            raise TypeError(f"{c.name}: an object or a list of scalars in a list item is not read set-based")
        else:
            oks.append(leaf(c, y, exact=True)[0])
    q = plan.names()
    body = " AND ".join([f"{e} IS NOT NULL"] + oks)
    return " AND ".join([f"{k} IS NOT NULL AND len({k}) = len({x}) AND {_all(k, q, keys_ok(q, children, hints.get((f.name,))))}",
                         _all(x, e, body)] + nested)


class Parts:
    """The pieces of a record's query: the key-list calls, and each field's check and value (SQL over `_j`, the
    line; `_keys`, the record's and its objects' key lists; `_r`, the parsed record; `_k<i>`, key_lists[i])."""

    def __init__(self, schema: pa.Schema, hints: dict | None = None):
        fields, hints = list(schema), hints or {}
        plan = _Plan()
        self.shape = json.dumps({f.name: _shape(f.type) for f in fields})
        objects = [f for f in fields if pa.types.is_struct(f.type)]
        # the record's keys and those of its objects, in one call: _keys[1] the record's, _keys[1 + j] object j's
        top = "_keys[1]" if objects else "_keys"
        paths = ", ".join(_lit(p) for p in ["$"] + ["$." + json.dumps(f.name) for f in objects])
        self.keys = f"try(json_keys(_j, [{paths}]))" if objects else "try(json_keys(_j))"
        known = "[" + ", ".join(_lit(f.name) for f in fields) + "]"
        # The record's keys: none twice; keys the model does not read may hold text or numbers, not objects, lists
        # or nan/inf (Python would look inside, or refuse them). The count of such values must be that of the
        # fields read as objects or lists (each of which is checked as such).
        containers = " + ".join(f"(_r.{_ident(f.name)} IS NOT NULL)::INT" for f in fields if _container(f.type))
        self.oks = [("_record", (
            f"(CASE WHEN _r IS NULL OR _keys IS NULL OR {top} IS NULL OR len({top}) = 0 THEN false "
            + (f"WHEN {top} IN ({', '.join(_list(h) for h in hints[()])}) THEN true " if hints.get(()) else "") +
            f"WHEN list_unique({top}) <> len({top}) THEN false WHEN list_has_all({known}, {top}) THEN true "
            f"ELSE len(list_filter(json_extract(_j, '$.*'), lambda w_: json_type(w_) IN ('OBJECT', 'ARRAY') "
            f"OR regexp_full_match(CAST(w_ AS VARCHAR), {_lit(NAN_INF)}))) = {containers or '0'} END)"))]
        self.values: list[tuple[str, str]] = []
        self.html: list[tuple[str, str]] = []
        for f in fields:
            x = f"_r.{_ident(f.name)}"
            path = "$." + json.dumps(f.name)
            if pa.types.is_list(f.type):
                # NULL: absent, null, or no list (text, an object, ...): the line's own JSON tells which
                absent = (f"(CASE WHEN {x} IS NOT NULL THEN false WHEN {top} IS NULL OR NOT list_contains({top}, "
                          f"{_lit(f.name)}) THEN true ELSE json_type(_j, {_lit(path)}) = 'NULL' END)")
                item = f.type.value_field
                if pa.types.is_struct(item.type):
                    ok = f"(len({x}) = 0 OR {_struct_items(plan, f, x, path, f'len({x}) > 0', hints)})"
                    value = f"TRY_CAST({x} AS {sql_type(f.type)})"
                else:
                    q = plan.names()
                    if f.name in REFERENCE_LISTS:  # null and blank entries are no reference (coerce.py drops them)
                        ok = _all(x, q, f"{q} IS NULL OR (NOT {_maybe_not_text(q)} AND (regexp_full_match({q}, "
                                        f"{_lit(ASCII_SPACE)}) OR {_visible(q)}))")
                        value = (f"list_filter({x}, lambda {q}: {q} IS NOT NULL AND NOT regexp_full_match({q}, "
                                 f"{_lit(ASCII_SPACE)}))")
                    else:
                        ok_q, value_q = leaf(item, q)
                        ok = _all(x, q, ok_q)
                        value = f"list_transform({x}, lambda {q}: {value_q})"
                ok = _ok(f, absent, f"{x} IS NOT NULL AND {ok}")
            elif pa.types.is_struct(f.type):
                children = list(f.type)
                if any(_container(c.type) for c in children):
                    raise TypeError(f"{f.name}: an object inside an object is not read set-based")
                keys = f"_keys[{2 + objects.index(f)}]"
                ok = " AND ".join([keys_ok(keys, children, hints.get((f.name,)))]
                                  + [leaf(c, f"{x}.{_ident(c.name)}", exact=True)[0] for c in children])
                ok = _ok(f, f"{x} IS NULL", ok)  # NULL: absent or null (anything else is a struct of NULLs)
                value = f"TRY_CAST({x} AS {sql_type(f.type)})"
            else:
                ok, value = leaf(f, x)
                if f.name in HTML_FIELDS:
                    self.html.append((f.name, f"NOT coalesce(regexp_full_match({x}, {_lit(HTML_AS_IS)}), true)"))
            self.oks.append((f.name, ok))
            self.values.append((f.name, value))
        self.key_lists = plan.key_lists
        self.guard = guard(schema)


def batch_query(schema: pa.Schema, lines: str, carry: tuple[str, ...] = (), hints: dict | None = None) -> str:
    """SQL over the table `lines` (ordinal, line): per non-blank line `ordinal`, `_ok` and, where
    `_ok`, the record's canonical columns (and `_html_<field>`: whether that HTML still needs nh3). The columns
    `carry` of `lines` come out as `_<name>`, only where not `_ok` (what Python needs to read those lines).

    Each line is parsed once into its record's shape (`_r`, every scalar as text) and, for its key lists, once
    for the record and its objects and once per list of objects (only where the list has items)."""
    p = Parts(schema, hints)
    ok = " AND ".join(o for _, o in p.oks)
    cols = [f"{v} AS {_ident(n)}" for n, v in p.values] + [f"{v} AS {_ident('_html_' + n)}" for n, v in p.html]
    kept = "".join(f"{_ident('_' + c)}, " for c in carry)
    passed = "".join(f"{_ident(c)} AS {_ident('_' + c)}, " for c in carry)
    key_cols = "".join(f", {sql} AS _k{i}" for i, sql in enumerate(p.key_lists))
    query = (f"SELECT ordinal, {kept}coalesce({ok}, false) AS _ok, {', '.join(cols)} FROM ("
             f"SELECT *{key_cols} FROM ("
             f"SELECT ordinal, {kept}_j, {p.keys} AS _keys, try(json_transform(_j, {_lit(p.shape)})) AS _r "
             f"FROM (SELECT ordinal, {passed}CASE WHEN {p.guard} THEN line END AS _j FROM {lines} WHERE NOT "
             f"regexp_full_match(coalesce(line, 'x'), {_lit(ASCII_SPACE)}))))")
    if not carry:
        return query
    only_bad = ", ".join(f"CASE WHEN _ok THEN NULL ELSE {_ident('_' + c)} END AS {_ident('_' + c)}" for c in carry)
    return f"SELECT * REPLACE ({only_bad}) FROM ({query})"
