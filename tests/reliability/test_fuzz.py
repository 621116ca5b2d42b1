"""Fuzzing the store export: a seeded generator writes records of every entity from the canonical schema
(model/canonical.py), most fields valid, many hostile (numbers out of range, text where numbers belong, invisible
or non-Latin names, blank references, wrong types), and lines broken below the record (invalid UTF-8, duplicate
keys, NaN, cut JSON, 5,000-digit numbers, repeated ids). A whole migration into the local target must then:
never crash, account for every line written (the ledger closes and counts them), pass the post-load checks
(references resolve, URL keys unique and non-empty), and write nothing when run again.

Fast in the default suite (one seed, a few thousand records); more seeds and records under `-m slow`.
"""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pytest
from helpers import Run

from cart_pipelines.model.canonical import SCHEMAS
from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.pipeline import checks, ledger

from . import figures

REFERENCES = {"parent_id": "categories", "manufacturer_id": "manufacturers", "tax_class_id": "tax_classes",
              "customer_id": "customers", "product_id": "products", "category_ids": "categories"}
WORDS = ["genser", "Blå", "ull", "Jakke", "sokker", "lue", "Ærlig", "straße", "tøy", "vinter", "sommer"]
HOSTILE_TEXT = ["", " ", "\u200b", "\u200b\u200c", "🎉", "🎉🎉", "שלום", "こんにちは", "東京", "!!!", "   !!!  ",
                "a" * 5000, "x\x00y", "<b>fet</b><script>x()</script>", "Enabled ", "ENABLED", "publish",
                "herre/jakke/", "///", "\ud800", 12345, 1.5, True, None, [], {}, ["a"], {"rendered": "x"}]
HOSTILE_NUMBER = [0, -1, -0.0, 1e30, 1e20, 10**30, 2**63, -2**63 - 1, 2**31, 2**31 - 1, 10**18, "1,5",
                  "1 299,50", "--3", "²", "٣", "kr 499", "", " ", "NaN", True, False, None, 1.234, 0.001, "12.50",
                  "-5", [], {}, "1e5", 99999999999.99, 12345678901234]
HOSTILE_TIME = ["0000-00-00T00:00:00Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+05:00", "2999-01-01T00:00:00Z",
                "yesterday", "31.12.2024", 12345, "", True, [], "2024-02-30T10:00:00Z", "2024-05-01"]
HOSTILE_REF = ["", " ", None, "999999", "0", 7, [], {}, "\u200b", "-1"]
RAW_LINES = [b"\xff\xfe{}", b'{"source_id": "x", "name": "cut', b"[1, 2, 3]", b"null", b"42", b'"text"',
             b'{"source_id": "nan", "name": "x", "price": NaN}', b'{"source_id": "inf", "stock": Infinity}',
             b'{"source_id": "d", "name": "a", "name": "b", "price": 1}',
             b'{"source_id": "big", "name": "x", "price": 1, "stock": 1' + b"0" * 5000 + b"}",
             b"[" * 5000 + b"]" * 5000, b"", b"   ", b"\xef\xbb\xbf{}"]


class Generator:
    """Records for one store, seeded: ids 1..n per entity, references mostly to existing ids."""

    # Records by how hostile they are: (share of records, chance that each field is hostile).
    MIX = ((0.55, 0.0), (0.30, 0.04), (0.15, 0.3))

    def __init__(self, seed: int, per_entity: int):
        self.rng = random.Random(seed)
        self.n = per_entity
        self.hostile = 0.0
        self.entity = ""

    def pick(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def ref(self, entity: str):
        if self.rng.random() < self.hostile / 2:
            return self.pick(HOSTILE_REF)
        return str(self.rng.randint(1, self.n + 3))  # now and then an id that does not exist

    def text(self, name: str, sid: int):
        r = self.rng
        if name == "email":
            # a few customers share an address, written differently (case, spaces, NFD)
            k = sid if r.random() < 0.9 else r.randint(1, 5)
            local = self.pick([f"kunde{k}", f"KUNDE{k}", f" kunde{k} ", f"rene\u0301{k}", f"ren\u00e9{k}"])
            return f"{local}@example.no" if not local.startswith(" ") else f"{local.strip()}@example.no "
        if name == "sku":
            return f"S-{sid if r.random() < 0.95 else r.randint(1, 5)}"
        if name == "currency":
            return "NOK"
        if name == "status":
            return self.pick({"products": ["enabled", "disabled", "Enabled", "ENABLED "],
                              "reviews": ["approved", "pending"]}.get(self.entity,
                                                                      ["pending", "complete", "paid", "weird"]))
        if name in ("url_key", "path"):
            return "/".join(self.pick(WORDS).lower() for _ in range(r.randint(1, 3)))
        if name == "source_id":
            return str(sid)
        return " ".join(self.pick(WORDS) for _ in range(r.randint(1, 3)))

    def number(self, field: pa.Field):
        r, t = self.rng, field.type
        if field.name == "rate":
            return round(r.uniform(0, 30), 1)
        if pa.types.is_decimal(t):
            return round(r.uniform(0, 2000), 2)
        if field.name == "rating":
            return r.randint(1, 5)
        if field.name == "qty":
            return r.randint(1, 4)
        if pa.types.is_floating(t):
            return round(r.uniform(0, 30), 3)
        return r.randint(-3, 500)

    def value(self, field: pa.Field, sid: int, depth: int = 0):
        r, t, name = self.rng, field.type, field.name
        if name in REFERENCES and not pa.types.is_list(t):
            return self.ref(REFERENCES[name])
        hostile = r.random() < self.hostile and name != "source_id"
        if hostile:
            if pa.types.is_decimal(t) or pa.types.is_integer(t) or pa.types.is_floating(t):
                return self.pick(HOSTILE_NUMBER)
            if pa.types.is_timestamp(t):
                return self.pick(HOSTILE_TIME)
            if pa.types.is_list(t) and name in REFERENCES:
                return self.pick([[None], [""], [None, "1"], "1", [[]], [{}], []])
            if pa.types.is_struct(t) or pa.types.is_list(t):
                return self.pick(["x", 1, None, [], {}, [None], [1]])
            return self.pick(HOSTILE_TEXT)
        if r.random() < 0.15 and field.nullable:
            return None
        if pa.types.is_string(t):
            return self.text(name, sid)
        if pa.types.is_decimal(t) or pa.types.is_integer(t) or pa.types.is_floating(t):
            return self.number(field)
        if pa.types.is_boolean(t):
            return self.pick([True, False, "yes", "0"])
        if pa.types.is_timestamp(t):
            return f"20{r.randint(10, 24)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T10:00:00Z"
        if pa.types.is_struct(t):
            return {f.name: self.value(f, sid, depth + 1) for f in t}
        if pa.types.is_list(t):
            if name in REFERENCES:
                return [self.ref(REFERENCES[name]) for _ in range(r.randint(0, 2))]
            return [self.value(t.value_field, sid, depth + 1) for _ in range(r.randint(0, 3))]
        raise AssertionError(t)

    def record(self, entity: str, sid: int) -> dict:
        roll, self.entity = self.rng.random(), entity
        self.hostile = next((h for share, h in self.MIX if (roll := roll - share) < 0), 0.0)
        rec = {f.name: self.value(f, sid) for f in SCHEMAS[entity]}
        if entity == "categories" and self.rng.random() < 0.9:  # a tree: roots, and children of earlier ids
            rec["parent_id"] = str(self.rng.randint(max(1, sid - 20), sid - 1)) if sid > 1 and \
                self.rng.random() < 0.8 else None
        return {k: v for k, v in rec.items() if v is not None or self.rng.random() < 0.5}

    def lines(self, entity: str) -> list[bytes]:
        out = []
        for sid in range(1, self.n + 1):
            roll = self.rng.random()
            if roll < 0.03:
                out.append(self.pick(RAW_LINES))
                continue
            rec = self.record(entity, sid if roll > 0.06 else self.rng.randint(1, sid))  # some ids repeat
            out.append(json.dumps(rec, ensure_ascii=self.rng.random() < 0.5).encode("utf-8", "surrogatepass"))
        return out


def fuzz(tmp_path, seed: int, per_entity: int) -> dict:
    gen = Generator(seed, per_entity)
    store = tmp_path / "store"
    store.mkdir()
    written = {}
    for entity in ENTITY_NAMES:
        lines = gen.lines(entity)
        (store / f"{entity}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
        written[entity] = sum(1 for line in lines if line.strip())
    run = Run(tmp_path / "work", store)
    run()
    with run.staging.connect() as con:
        summaries = {e: ledger.summarize(con, e) for e in ENTITY_NAMES}
    failed = {}
    post_load = [(e, "references", checks.references_resolve) for e in ENTITY_NAMES] + \
                [(e, "counts", checks.counts_reconcile) for e in ENTITY_NAMES] + \
                [(e, "url keys", checks.url_keys_unique) for e in ("categories", "products")]
    for entity, name, check in post_load:
        with run.staging.connect() as con:  # one connection per check, as the asset checks run
            ok, facts = check(con, run.target, entity)
        if not ok:
            failed[f"{entity} {name}"] = facts
    for e, s in summaries.items():
        assert s.source_records == written[e], (e, s.source_records, written[e])
        assert s.closes, (e, s.as_dict())
    assert not failed, failed
    again = run()
    writes = {e: res.writes for e, res in again.items() if res.writes}
    assert not writes, writes
    totals = {k: sum(getattr(s, k) for s in summaries.values()) for k in ("loaded", "quarantined", "skipped_total")}
    figures.record("fuzz", f"seed{seed}", records=sum(written.values()), **totals, second_run_writes=0, lost=0)
    return totals


def test_fuzzed_store_migrates_without_crash_and_closes(tmp_path):
    totals = fuzz(tmp_path, seed=1, per_entity=400)
    assert totals["loaded"] > 0 and totals["quarantined"] > 0  # the mix exercised both sides


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3, 4, 5, 6])
def test_fuzzed_store_more_seeds(tmp_path, seed):
    fuzz(tmp_path, seed=seed, per_entity=2000)
