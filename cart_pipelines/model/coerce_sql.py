"""The set-based twin of coerce.py: DuckDB SQL that coerces canonical JSON lines, one batch at a time.

It takes only what it can prove coerce.py takes as it is: a line whose every field has its plain JSON type and
value (text as a string, a price as a number or numeric string with at most its decimals, a date-time in ISO
form, ...) is coerced in SQL; any other line (`_ok` false) goes to coerce.py, which gives it its exact value or
its exact reason. The proofs lean on three facts of DuckDB's JSON reader, checked by tests/test_coerce_sql.py:
- a number with at most 15 significant digits reads as a double whose shortest form has the same value, so the
  decimal checks run on that text (longer digit runs anywhere in the line send the line to Python);
- it accepts what Python's json does not (trailing commas, nan/inf in any case): such lines go to Python;
- it keeps a key written twice: every object the model reads is checked for repeated keys, and an unknown key
  holding an object or a list (which could repeat keys inside) sends the line to Python.
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
)

# Lines with any of these go to Python: a digit run longer than a double keeps exactly, a trailing comma, nan/inf.
GUARD = r"[0-9][0-9.]{15,}|,[ \t\r\n]*[\]}]|[:,\[][ \t\r\n]*[-+]?(?i:nan|inf)"
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


class _Builder:
    """SQL for one field: given SQL for its JSON text (NULL when the key is absent), an expression of type
    STRUCT(ok BOOLEAN, v <type>). Each JSON text is parsed once: a value is bound to a lambda parameter
    (`list_transform([value], lambda p: ...)[1]`), so the checks and the value read it without reparsing."""

    def __init__(self):
        self.n = 0

    def _name(self) -> str:
        self.n += 1
        return f"p{self.n}"

    def _let(self, value: str, body) -> str:
        """`body(p)` with `p` bound to `value`, evaluated once."""
        p = self._name()
        return f"list_transform([{value}], lambda {p}: {body(p)})[1]"

    def field(self, f: pa.Field, x: str) -> str:
        t = f.type
        if pa.types.is_struct(t):
            return self._struct(f, x)
        if pa.types.is_list(t):
            return self._list(f, x)
        return self._let(f"struct_pack(t := json_type({x}), s := json_extract_string({x}, '$'))",
                         lambda p: self._leaf(f, f"{p}.t", f"{p}.s"))

    def _absent(self, f: pa.Field, t: str, s: str) -> str:
        absent = f"({t} IS NULL OR {t} = 'NULL')"
        if not pa.types.is_string(f.type):
            absent = f"({absent} OR ({t} = 'VARCHAR' AND {s} = ''))"  # "" is no value for a non-text field
        return absent

    def _result(self, f: pa.Field, absent: str, ok: str, value: str) -> str:
        null = f"CAST(NULL AS {sql_type(f.type)})"
        return (f"struct_pack(ok := CASE WHEN {absent} THEN {'true' if f.nullable else 'false'} "
                f"ELSE coalesce({ok}, false) END, v := CASE WHEN {absent} THEN {null} ELSE {value} END)")

    def _leaf(self, f: pa.Field, t: str, s: str) -> str:
        ok, value = self._scalar(f, t, s)
        return self._result(f, self._absent(f, t, s), ok, value)

    def _scalar(self, f: pa.Field, t: str, s: str) -> tuple[str, str]:
        typ, name = f.type, f.name
        if pa.types.is_string(typ):
            ok = f"{t} = 'VARCHAR' AND strlen({s}) <= {MAX_TEXT} AND strpos({s}, chr(0)) = 0"
            if not f.nullable:
                ok += f" AND regexp_matches({s}, {_lit(VISIBLE)})"
            choices = (f.metadata or {}).get(b"enum")
            if name in REFERENCES:
                return f"{ok} AND ({s} = '' OR regexp_matches({s}, {_lit(VISIBLE)}))", f"nullif({s}, '')"
            if name == "email" and not f.nullable:
                tld = f"split_part({s}, '.', -1)"
                return (f"{ok} AND strlen({s}) <= 254 AND regexp_full_match({s}, {_lit(EMAIL)}) "
                        f"AND {tld} NOT IN ({', '.join(map(_lit, SPECIAL_USE))})", s)
            if choices is not None:
                listed = ", ".join(_lit(c) for c in choices.decode().split(","))
                return (f"{ok} AND regexp_full_match({s}, ' *[A-Za-z]+ *') AND lower(trim({s})) IN ({listed})",
                        f"lower(trim({s}))")
            return ok, s
        if pa.types.is_decimal(typ):
            sign = "" if name in NON_NEGATIVE else "-?"
            pattern = f"{sign}[0-9]{{1,{typ.precision - typ.scale}}}(\\.[0-9]{{1,{typ.scale}}})?"
            return (f"{t} IN ('UBIGINT', 'BIGINT', 'DOUBLE', 'VARCHAR') AND regexp_full_match({s}, {_lit(pattern)})",
                    f"TRY_CAST({s} AS {sql_type(typ)})")
        if pa.types.is_integer(typ):
            limit = INT_LIMITS[typ.bit_width]
            lo, hi = RANGES.get(name, (-limit - 1, limit))
            if name in POSITIVE_INT:
                lo = max(lo, 1)
            return (f"{t} IN ('UBIGINT', 'BIGINT', 'VARCHAR') AND regexp_full_match({s}, '-?[0-9]{{1,15}}') "
                    f"AND TRY_CAST({s} AS BIGINT) BETWEEN {lo} AND {hi}", f"TRY_CAST({s} AS {sql_type(typ)})")
        if pa.types.is_floating(typ):
            lo, hi = RANGES.get(name, (-FLOAT_LIMIT, FLOAT_LIMIT))
            d = f"TRY_CAST({s} AS DOUBLE)"
            return f"{t} IN {NUMBER_TYPES} AND isfinite({d}) AND {d} BETWEEN {lo} AND {hi}", d
        if pa.types.is_boolean(typ):
            return f"{t} = 'BOOLEAN'", f"TRY_CAST({s} AS BOOLEAN)"
        if pa.types.is_timestamp(typ):
            ts = f"TRY_CAST({s} AS TIMESTAMPTZ)"
            return (f"{t} = 'VARCHAR' AND regexp_full_match({s}, {_lit(TIMESTAMP)}) "
                    f"AND {ts} <= now() + INTERVAL 1 DAY", ts)
        raise TypeError(f"{name}: unsupported type {typ}")

    def object(self, fields: list[pa.Field], y: str) -> tuple[str, str]:
        """(the struct of the children's results, whether the object's keys are fine) for the object text `y`:
        its children are read in one parse (from_json to a struct of JSON texts)."""
        shape = "{" + ",".join(f'"{f.name}":"JSON"' for f in fields) + "}"
        return f"from_json({y}, {_lit(shape)})", keys_ok(y, fields)

    def _struct(self, f: pa.Field, x: str) -> str:
        children = list(f.type)

        def outer(y):
            parts, kok = self.object(children, y)

            def inner(p):
                subs = ", ".join(f'"{c.name}" := {self.field(c, f"{p}.r.{_ident(c.name)}")}' for c in children)

                def final(c):
                    ok = " AND ".join([f"{c}.t = 'OBJECT'", f"{c}.k"] + [f"{c}.c.{_ident(x.name)}.ok"
                                                                         for x in children])
                    value = "struct_pack(" + ", ".join(f'"{x.name}" := {c}.c.{_ident(x.name)}.v'
                                                      for x in children) + ")"
                    return self._result(f, f"({c}.t IS NULL OR {c}.t = 'NULL')", ok, value)
                return self._let(f"struct_pack(t := {p}.t, k := {p}.k, c := struct_pack({subs}))", final)
            return self._let(f"struct_pack(t := json_type({y}), k := {kok}, r := {parts})", inner)
        return self._let(x, outer)

    def _list(self, f: pa.Field, x: str) -> str:
        item = f.type.value_field

        def outer(y):
            e = self._name()
            results = f"list_transform(from_json({y}, '[\"JSON\"]'), lambda {e}: {self.field(item, e)})"

            def final(c):
                q = self._name()
                ok = f"{c}.t = 'ARRAY' AND coalesce(list_bool_and(list_transform({c}.l, lambda {q}: {q}.ok)), true)"
                value = f"list_transform({c}.l, lambda {q}: {q}.v)"
                if f.name in REFERENCE_LISTS:  # null and blank entries are no reference (coerce.py drops them)
                    ok = f"{ok} AND coalesce(list_bool_and(list_transform({c}.l, lambda {q}: {q}.v IS NULL OR " \
                         f"regexp_full_match({q}.v, {_lit(ASCII_SPACE)}) OR regexp_matches({q}.v, " \
                         f"{_lit(VISIBLE)}))), true)"
                    value = f"list_filter({value}, lambda {q}: {q} IS NOT NULL AND NOT regexp_full_match({q}, " \
                            f"{_lit(ASCII_SPACE)}))"
                return self._result(f, f"({c}.t IS NULL OR {c}.t = 'NULL')", ok, value)
            return self._let(f"struct_pack(t := json_type({y}), l := {results})", final)
        return self._let(x, outer)


def keys_ok(y: str, fields: list[pa.Field]) -> str:
    """No key twice in the object `y`, and keys the model does not read hold no object or list (Python's reader
    would look inside them); a key twice or an unknown container sends the line to Python."""
    known = ", ".join(_lit(f.name) for f in fields)
    keys = f"json_keys({y})"
    containers = [f for f in fields if pa.types.is_struct(f.type) or pa.types.is_list(f.type)]
    known_containers = " + ".join(f"(json_type({y}, {_lit('$.' + _path_key(f.name))}) IN ('OBJECT', 'ARRAY'))::INT"
                                  for f in containers) or "0"
    k = "k_"
    return (f"list_transform([{keys}], lambda {k}: len(list_distinct({k})) = len({k}) AND "
            f"(len(list_filter({k}, lambda u_: u_ NOT IN ({known}))) = 0 OR "
            f"len(list_filter(json_extract({y}, '$.*'), lambda w_: json_type(w_) IN ('OBJECT', 'ARRAY'))) = "
            f"{known_containers}))[1]")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _path_key(name: str) -> str:
    return name if name.isidentifier() else '"' + name + '"'


def batch_query(schema: pa.Schema, lines: str) -> str:
    """SQL over the table `lines` (ordinal, raw, line): per non-blank line `ordinal`, `raw`, `_ok` and, where
    `_ok`, the record's canonical columns (and `_html_<field>`: whether that HTML still needs nh3)."""
    b = _Builder()
    fields = list(schema)
    for f in fields:
        if f.name in HTML_FIELDS and not pa.types.is_string(f.type):
            raise TypeError(f"{f.name}: HTML fields are text")
    valid = (f"CASE WHEN line IS NOT NULL AND json_valid(line) THEN CASE WHEN NOT regexp_matches(line, "
             f"{_lit(GUARD)}) AND json_type(line) = 'OBJECT' THEN line END END")
    parts, kok = b.object(fields, "_j")
    subs = ", ".join(f'"{f.name}" := {b.field(f, f"_r.{_ident(f.name)}")}' for f in fields)
    cols = []
    for f in fields:
        cols.append(f'_c.{_ident(f.name)}.v AS {_ident(f.name)}')
        if f.name in HTML_FIELDS:
            cols.append(f"NOT coalesce(regexp_full_match(_c.{_ident(f.name)}.v, {_lit(HTML_AS_IS)}), true) "
                        f"AS {_ident('_html_' + f.name)}")
    ok = " AND ".join(["_j IS NOT NULL", "_k"] + [f"_c.{_ident(f.name)}.ok" for f in fields])
    return (f"SELECT ordinal, raw, coalesce({ok}, false) AS _ok, {', '.join(cols)} FROM ("
            f"SELECT ordinal, raw, _j, _k, struct_pack({subs}) AS _c FROM ("
            f"SELECT ordinal, raw, _j, {kok} AS _k, {parts} AS _r FROM ("
            f"SELECT ordinal, raw, {valid} AS _j FROM {lines} WHERE NOT regexp_full_match(coalesce(line, 'x'), "
            f"{_lit(ASCII_SPACE)}))))")
