"""The set-based twin of coerce.py: DuckDB SQL that coerces canonical JSON lines, one batch at a time.

It takes only what it can prove coerce.py takes as it is: a line whose every field has its plain JSON type and
value (text as a string, a price as a number or numeric string with at most its decimals, a date-time in ISO
form, ...) is coerced in SQL; any other line (`_ok` false) goes to coerce.py, which gives it its exact value or
its exact reason. The proofs lean on three facts of DuckDB's JSON reader (tests/test_export_set_based.py holds
both paths to the same outcome on hostile lines):
- a number with at most 15 significant digits reads as a double whose shortest form has the same value, so the
  decimal checks run on that text (longer digit runs anywhere in the line send the line to Python);
- it accepts what Python's json does not (trailing commas, nan/inf in any case): such lines go to Python;
- it keeps a key written twice: every object the model reads is checked for repeated keys; a record's own
  unknown keys may hold text or numbers, but one holding an object or a list (which could repeat keys inside), or
  an unknown key inside an object the model reads, sends the line to Python.
Descriptions go through nh3 in Python unless their HTML is of the plain form nh3 leaves as it is (HTML_AS_IS).
"""

from __future__ import annotations

import pyarrow as pa

from cart_pipelines.model.coerce import (
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
)

# Lines with any of these go to Python: a digit run longer than a double keeps exactly, a trailing comma, nan/inf,
# an escaped NUL (so no text field needs its own test). So do lines longer than MAX_TEXT (no field can be longer).
GUARD = r"[0-9][0-9.]{15,}|,[ \t\r\n]*[\]}]|[:,\[][ \t\r\n]*[-+]?(?i:nan|inf)|\\u0000"
# A character no text of only spaces and format characters has (coerce._invisible): letters, digits, marks,
# punctuation, symbols.
VISIBLE = r"[\p{L}\p{N}\p{M}\p{P}\p{S}]"
ASCII_SPACE = r"[ \t\n\r\x0b\x0c]*"
# An ASCII address email_validator accepts: dot-atom local part, lower-case host labels without "--" (so no
# Punycode), a letter top-level domain that is no special-use name; longer or other addresses go to Python.
EMAIL = (r"[A-Za-z0-9_+-]{1,64}(\.[A-Za-z0-9_+-]{1,64})*@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")
# ISO 8601 date-times datetime.fromisoformat reads the same way DuckDB does (years 1000..9999, no leap second).
TIMESTAMP = (r"[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
             r"([T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?")
# HTML that nh3 returns unchanged: text without markup characters, controls or no-break spaces, in paragraphs
# and lists (tests/test_coerce_sql.py fuzzes this against nh3).
_TEXT = r"[^<>&\x00-\x08\x0b-\x1f\x7f-\x9f\x{a0}\x{fdd0}-\x{fdef}\x{fffe}\x{ffff}]*"
HTML_AS_IS = rf"{_TEXT}((<p>{_TEXT}</p>|<ul>(<li>{_TEXT}</li>)*</ul>){_TEXT})*"
NUMBER_TYPES = "('UBIGINT', 'BIGINT', 'DOUBLE')"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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


def _v(x: str) -> str:
    """A JSON value's text as VARCHAR (string functions on DuckDB's JSON type would parse their results)."""
    return x if x.startswith("CAST(") or x.startswith("_x") else f"CAST({x} AS VARCHAR)"


def text_of(x: str, f: pa.Field | None = None) -> str:
    """The text of the JSON value `x` (minified by DuckDB). For a text field: a string without escapes is read by
    cutting its quotes, one with escapes is parsed. For other fields only quote-less digits, signs and date-time
    characters are ever taken, so cutting the quotes is enough (and a number is its own text)."""
    x = _v(x)
    if f is not None and not pa.types.is_string(f.type):
        return f"trim({x}, '\"')"
    return f"(CASE WHEN strpos({x}, '\\') = 0 THEN {x}[2:-2] ELSE json_extract_string({x}, '$') END)"


def _is(kind: str, x: str) -> str:
    """Whether the JSON value `x` is of `kind`, from its first character (no parse)."""
    x = _v(x)
    return {"string": f"starts_with({x}, '\"')", "number": f"strpos('-0123456789', {x}[1]) > 0",
            "boolean": f"{x} IN ('true', 'false')", "object": f"starts_with({x}, '{{')",
            "array": f"starts_with({x}, '[')"}[kind]


def _absent(f: pa.Field, x: str) -> str:
    absent = f"{x} IS NULL"  # from_json reads null as NULL
    if not pa.types.is_string(f.type):
        absent = f"({absent} OR {x} = '\"\"')"  # "" is no value for a non-text field
    return absent


def _ok(f: pa.Field, absent: str, ok: str) -> str:
    """A field is fine absent when it may be null, else when present and fine."""
    return f"({absent} OR coalesce({ok}, false))" if f.nullable else f"(NOT {absent} AND coalesce({ok}, false))"


def _result(f: pa.Field, absent: str, ok: str, value: str) -> tuple[str, str]:
    null = f"CAST(NULL AS {sql_type(f.type)})"
    return _ok(f, absent, ok), f"(CASE WHEN {absent} THEN {null} ELSE {value} END)"


def _visible(s: str) -> str:
    # ASCII letters and digits first: the Unicode classes cost more, and most text has them.
    return f"(CASE WHEN regexp_matches({s}, '[0-9A-Za-z]') THEN true ELSE regexp_matches({s}, {_lit(VISIBLE)}) END)"


def leaf(f: pa.Field, x: str, s: str | None = None) -> tuple[str, str]:
    """(ok, value) of a scalar field whose JSON text is `x` (`s`: SQL for its text, when already a column). The
    values need no test for absence: they are NULL for a NULL `x` (and for "", where that is no value)."""
    x = _v(x)
    s = s or text_of(x, f)
    typ, name = f.type, f.name
    if pa.types.is_string(typ):
        # Lines with an escaped NUL or longer than MAX_TEXT are not read here (GUARD): no test of its own.
        ok = _is("string", x)
        if not f.nullable:
            ok += f" AND {_visible(s)}"
        choices = (f.metadata or {}).get(b"enum")
        value = s
        if name in REFERENCES:
            ok, value = f"{ok} AND ({s} = '' OR {_visible(s)})", f"nullif({s}, '')"
        elif name == "email" and not f.nullable:
            tld = f"split_part({s}, '.', -1)"
            ok = (f"{ok} AND strlen({s}) <= 254 AND regexp_full_match({s}, {_lit(EMAIL)}) "
                  f"AND {tld} NOT IN ({', '.join(map(_lit, SPECIAL_USE))})")
        elif choices is not None:
            listed = ", ".join(_lit(c) for c in choices.decode().split(","))
            ok = f"{ok} AND regexp_full_match({s}, ' *[A-Za-z]+ *') AND lower(trim({s})) IN ({listed})"
            value = f"lower(trim({s}))"
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
        value = f"TRY_CAST({x} AS DOUBLE)"
        ok = f"{_is('number', x)} AND isfinite({value}) AND {value} BETWEEN {lo} AND {hi}"
    elif pa.types.is_boolean(typ):
        ok, value = _is("boolean", x), f"(CASE WHEN {x} IN ('true', 'false') THEN {x} = 'true' END)"
    elif pa.types.is_timestamp(typ):
        value = f"TRY_CAST({s} AS TIMESTAMPTZ)"
        ok = f"{_is('string', x)} AND regexp_full_match({s}, {_lit(TIMESTAMP)}) AND {value} IS NOT NULL"
        if name not in SCHEDULED:  # a scheduled sale's dates may lie ahead; other date-times may not
            ok += f" AND {value} <= now() + INTERVAL 1 DAY"
    else:
        raise TypeError(f"{name}: unsupported type {typ}")
    return _ok(f, _absent(f, x), ok), value


def _shape(fields) -> str:
    """from_json's type for an object whose fields are read as JSON texts."""
    return _lit("{" + ",".join(f'"{f.name}":"JSON"' for f in fields) + "}")


def _container(t: pa.DataType) -> bool:
    return pa.types.is_struct(t) or pa.types.is_list(t)


class _Lambdas:
    """Unique lambda parameter names (a nested lambda must not hide an outer one)."""

    def __init__(self):
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"e{self.n}"


def items_of(x: str, item: pa.Field, names: _Lambdas) -> str:
    """The list `x`'s items, one parse each: objects as struct(k: their keys, o: their fields' JSON texts),
    anything else as its JSON text."""
    raw = f"from_json({x}, '[\"JSON\"]')"
    if not pa.types.is_struct(item.type):
        return raw
    r = names()
    return f"list_transform({raw}, lambda {r}: struct_pack(k := json_keys({r}), o := from_json({r}, " \
           f"{_shape(list(item.type))}), j := {r}))"


def keys_ok(keys: str, fields: list[pa.Field]) -> str:
    """No key twice, and every key one the model reads (else Python reads the line)."""
    known = "[" + ", ".join(_lit(f.name) for f in fields) + "]"
    return f"(list_unique({keys}) = len({keys}) AND list_has_all({known}, {keys}))"


def list_field(f: pa.Field, items: str, names: _Lambdas) -> tuple[str, str]:
    """(ok, value) of a list field given its items (`items_of`; NULL when the field is absent or null)."""
    item = f.type.value_field
    e = names()
    if pa.types.is_struct(item.type):
        children = list(item.type)
        parts = [_child(c, f"{e}.o.{_ident(c.name)}", names) for c in children]
        ok_e = " AND ".join([f"({e}.j IS NULL OR ({_is('object', f'{e}.j')} AND {keys_ok(f'{e}.k', children)}))"]
                            + [p[0] for p in parts])
        fields = ", ".join(f"{_ident(c.name)} := {p[1]}" for c, p in zip(children, parts))
        value_e = f"(CASE WHEN {e}.j IS NULL THEN NULL ELSE struct_pack({fields}) END)"
    else:
        ok_e, value_e = leaf(item, e)
    ok = f"coalesce(list_bool_and(list_transform({items}, lambda {e}: {ok_e})), true)"
    value = f"list_transform({items}, lambda {e}: {value_e})"
    if f.name in REFERENCE_LISTS:  # null and blank entries are no reference (coerce.py drops them)
        q = names()
        ok = (f"{ok} AND coalesce(list_bool_and(list_transform({value}, lambda {q}: {q} IS NULL OR "
              f"regexp_full_match({q}, {_lit(ASCII_SPACE)}) OR {_visible(q)})), true)")
        value = (f"list_filter({value}, lambda {q}: {q} IS NOT NULL AND NOT regexp_full_match({q}, "
                 f"{_lit(ASCII_SPACE)}))")
    return ok, value


def _child(c: pa.Field, x: str, names: _Lambdas) -> tuple[str, str]:
    """(ok, value) of a field of a list item, given its JSON text."""
    if pa.types.is_list(c.type):
        ok, value = list_field(c, items_of(x, c.type.value_field, names), names)
        return _result(c, f"{x} IS NULL", f"{_is('array', x)} AND {ok}", value)
    if pa.types.is_struct(c.type):
        raise TypeError(f"{c.name}: an object inside a list item is not read set-based")
    return leaf(c, x)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def batch_query(schema: pa.Schema, lines: str, carry: tuple[str, ...] = ()) -> str:
    """SQL over the table `lines` (ordinal, line): per non-blank line `ordinal`, `_ok` and, where
    `_ok`, the record's canonical columns (and `_html_<field>`: whether that HTML still needs nh3). The columns
    `carry` of `lines` come out as `_<name>`, only where not `_ok` (what Python needs to read those lines).

    Each line is parsed once into a struct of its fields' JSON texts (`_r`) and once for its keys; what the checks
    read more than once (texts, list items, an address's fields) is a column of the projection before, so it is
    computed once."""
    fields = list(schema)
    names = _Lambdas()
    # A line DuckDB cannot parse (try: NULL instead of an error), or one with a guarded pattern, is not read here.
    guarded = f"CASE WHEN strlen(line) <= {MAX_TEXT} AND NOT regexp_matches(line, {_lit(GUARD)}) THEN line END"
    # Keys the model does not read may hold text or numbers, not objects or lists (Python would look inside).
    containers = " + ".join(f"({_is('object', '_r.' + _ident(f.name))} OR {_is('array', '_r.' + _ident(f.name))})"
                            f"::INT" for f in fields if _container(f.type)) or "0"
    known = ", ".join(_lit(f.name) for f in fields)
    top_ok = (f"(CASE WHEN _r IS NULL OR _keys IS NULL THEN false WHEN list_unique(_keys) <> len(_keys) "
              f"THEN false WHEN list_has_all([{known}], _keys) THEN true ELSE len(list_filter(json_extract(_j, "
              f"'$.*'), lambda w_: json_type(w_) IN ('OBJECT', 'ARRAY'))) = {containers} END)")
    level1, level2, oks, cols = [f"{top_ok} AS _k"], [], [], []
    for i, f in enumerate(fields):
        x = f"_r.{_ident(f.name)}"
        if pa.types.is_list(f.type):
            level1.append(f"{items_of(x, f.type.value_field, names)} AS _l{i}")
            level1.append(f"{_is('array', x)} AS _a{i}")
            ok, value = list_field(f, f"_l{i}", names)
            ok, value = _result(f, f"_a{i} IS NULL", f"_a{i} AND {ok}", value)
        elif pa.types.is_struct(f.type):  # its fields become columns too
            children = list(f.type)
            if any(_container(c.type) for c in children):
                raise TypeError(f"{f.name}: an object inside an object is not read set-based")
            level1 += [f"from_json({x}, {_shape(children)}) AS _o{i}", f"json_keys({x}) AS _n{i}",
                       f"{_is('object', x)} AS _a{i}"]
            subs = []
            for j, c in enumerate(children):
                level2.append(f"{text_of(f'_o{i}.{_ident(c.name)}', c)} AS _s{i}_{j}")
                subs.append((c, leaf(c, f"_o{i}.{_ident(c.name)}", f"_s{i}_{j}")))
            ok = " AND ".join([f"_a{i}", keys_ok(f"_n{i}", children)] + [p[0] for _, p in subs])
            value = "struct_pack(" + ", ".join(f"{_ident(c.name)} := {p[1]}" for c, p in subs) + ")"
            ok, value = _result(f, f"_a{i} IS NULL", ok, value)
        else:
            level1.append(f"CAST({x} AS VARCHAR) AS _x{i}")
            level1.append(f"{text_of(x, f)} AS _s{i}")
            ok, value = leaf(f, f"_x{i}", f"_s{i}")
            if f.name in HTML_FIELDS:
                cols.append(f"NOT coalesce(regexp_full_match(_s{i}, {_lit(HTML_AS_IS)}), true) AS "
                            f"{_ident('_html_' + f.name)}")
        oks.append(ok)
        cols.append(f"{value} AS {_ident(f.name)}")
    ok = " AND ".join(["_k"] + oks)
    kept = "".join(f"{_ident('_' + c)}, " for c in carry)
    passed = "".join(f"{_ident(c)} AS {_ident('_' + c)}, " for c in carry)
    query = (f"SELECT ordinal, {kept}coalesce({ok}, false) AS _ok, {', '.join(cols)} FROM ("
             f"SELECT *, {', '.join(level2) or 'NULL AS _none'} FROM ("
             f"SELECT ordinal, {kept}_j, {', '.join(level1)} FROM ("
             f"SELECT ordinal, {kept}_j, try(json_keys(_j)) AS _keys, try(from_json(_j, {_shape(fields)})) AS _r "
             f"FROM (SELECT ordinal, {passed}{guarded} AS _j FROM {lines} WHERE NOT "
             f"regexp_full_match(coalesce(line, 'x'), {_lit(ASCII_SPACE)})))))")
    if not carry:
        return query
    only_bad = ", ".join(f"CASE WHEN _ok THEN NULL ELSE {_ident('_' + c)} END AS {_ident('_' + c)}" for c in carry)
    return f"SELECT * REPLACE ({only_bad}) FROM ({query})"
