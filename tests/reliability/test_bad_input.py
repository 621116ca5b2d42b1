"""Every case of the bad-input corpus (corpus.py) runs a whole migration of a small store into the local target:
never a crash, every record accounted for (the ledger closes and counts the bad record), and the case's outcome —
a quarantine reason naming the field, a named skip, the documented handling of valid input, or a configuration
error before any work."""

from __future__ import annotations

import codecs
import gzip
import json
from dataclasses import dataclass
from decimal import Decimal

import pytest
import zstandard
from helpers import Run, base_store, write_store

from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.pipeline import ledger
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs
from cart_pipelines.platforms.kit.source import SourceError

from . import figures
from .corpus import CASES, Case, export_lines, template


def _append(path, lines) -> int:
    """Append lines; returns the line number of the first one."""
    first = (len(path.read_bytes().splitlines()) if path.exists() else 0) + 1
    with open(path, "ab") as fh:
        for line in lines:
            fh.write((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n")
    return first


def _source_lines(path) -> int:
    """Records in the entity's file, however it is stored (compressed, UTF-16, CR line ends)."""
    for name in (path.name, path.name + ".gz", path.name + ".zst"):
        p = path.with_name(name)
        if p.is_file():
            data = p.read_bytes()
            if name.endswith(".gz"):
                data = gzip.decompress(data)
            elif name.endswith(".zst"):
                data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
            if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                data = data.decode("utf-16").encode("utf-8")
            return sum(1 for line in data.splitlines() if line.strip())
    return 0


@dataclass
class Built:
    """A migration that ran: its records per entity at the source, and where each case's outcome is recorded."""

    run: Run
    source_records: dict[str, int]
    where: dict[str, tuple[str, object]]  # case id → (ledger source_id, detail)


def _where(case: Case, sid: str, line: int | None) -> tuple[str, object]:
    source_id = case.source_id.replace("{line}", str(line)) if case.source_id.startswith("#") else \
        (sid if case.source_id == "66" else case.source_id)
    detail = case.detail.replace("{line}", str(line)) if isinstance(case.detail, str) else case.detail
    return source_id, detail


def _woocommerce_record(emulator, case: Case, sid: str) -> dict:
    """The case's record as the WooCommerce emulator serves it (its `_wc` form)."""
    record = json.loads(json.dumps(template(case.entity, sid)), parse_float=Decimal)
    render = {"products": lambda r: emulator.products_json([r])[0], "customers": emulator.customer,
              "orders": lambda r: emulator.orders_json([r])[0]}[case.entity]
    wc = {k: v for k, v in {**render(record), **case.wc}.items() if v is not None}
    return {**record, "_wc": wc}


def build(cases: list[Case], work) -> Built:
    """One migration of base_store() plus every case's record (ids 1000, 1001, ... when cases share a store)."""
    store = write_store(work / "store", base_store())
    where = {}
    sids = {c.id: ("66" if len(cases) == 1 else str(1000 + k)) for k, c in enumerate(cases)}
    api = [c for c in cases if c.kind == "api"]
    for case in cases:
        if case.kind == "export":
            path = store / f"{case.entity}.jsonl"
            line = _append(path, export_lines(case, sids[case.id]))
            if case.rewrite:
                case.rewrite(path)
            where[case.id] = _where(case, sids[case.id], line)
    run = Run(work / "work", store)
    if not api:
        run()
        return Built(run, {e: _source_lines(store / f"{e}.jsonl") for e in ENTITY_NAMES}, where)
    emulator_store = EmulatorStore(store)
    with platforms.emulate("woocommerce", store=emulator_store, knobs=Knobs(rate_limit=False)) as handle:
        for case in api:
            emulator_store.put(case.entity, _woocommerce_record(handle.emulator, case, sids[case.id]), touch=False)
            where[case.id] = _where(case, sids[case.id], None)
        run.source = platforms.source_class("woocommerce").connect(handle.base_url, handle.credentials, verify=True)
        run()
        return Built(run, {e: emulator_store.count(e) for e in ENTITY_NAMES}, where)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """The cases that need no store of their own share one migration per kind (export, api): fast enough to run
    the whole corpus in every CI run."""
    built: dict[str, Built] = {}

    def get(kind: str) -> Built:
        if kind not in built:
            cases = [c for c in CASES if c.kind == kind and not c.alone and c.expect != "config_error"]
            built[kind] = build(cases, tmp_path_factory.mktemp(f"corpus-{kind}"))
        return built[kind]
    return get


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(case: Case, shared, tmp_path):
    facts = {"source": case.kind if case.expect != "config_error" else "configuration", "entity": case.entity,
             "expect": case.expect, "crashed": False}
    try:
        if case.expect == "config_error":
            store = write_store(tmp_path / "store", base_store())
            case.rewrite(store)
            run = Run(tmp_path / "work", store)
            with pytest.raises(SourceError) as exc:
                run()
            assert case.detail in str(exc.value)
            assert not (tmp_path / "work" / "target.duckdb").exists(), "work started before the error"
            figures.record("bad_input", case.id, **facts, outcome="config_error", reason=str(exc.value), lost=0)
            return
        built = build([case], tmp_path) if case.alone else shared(case.kind)
    except Exception as exc:
        figures.record("bad_input", case.id, **{**facts, "crashed": True}, outcome="crash",
                       reason=f"{type(exc).__name__}: {str(exc)[:200]}")
        raise

    run = built.run
    source_id, detail = built.where[case.id]
    with run.staging.connect() as con:
        summaries = {e: ledger.summarize(con, e) for e in ENTITY_NAMES}
    lost = sum((s.source_records or 0) - s.accounted for s in summaries.values())
    open_ = {e: s.as_dict() for e, s in summaries.items() if not s.closes}
    assert not open_, f"the ledger does not close: {open_}"
    assert summaries[case.entity].source_records == built.source_records[case.entity], "a record was not counted"

    rows = run.query("SELECT outcome, rule, reason FROM ledger WHERE entity = ? AND source_id = ?",
                     [case.entity, source_id])
    reason = None
    if case.expect == "quarantined":
        reasons = [r for o, _, r in rows if o == ledger.QUARANTINED]
        assert any(detail in r for r in reasons), (detail, rows)
        reason = next(r for r in reasons if detail in r)
    elif case.expect == "skipped":
        assert (ledger.SKIPPED, detail, None) in rows, rows
        reason = detail
    elif case.expect == "loaded":
        assert [o for o, _, _ in rows] == [ledger.LOADED], rows
        held = [r for r in run.target_rows(case.entity) if r["_source_id"] == source_id]
        assert len(held) == 1 and detail(held[0]), (detail.__doc__, held)
        reason = detail.__doc__
    elif case.expect == "noted":
        notes = run.report()["files_not_read"]
        assert any(n["file"] == detail for n in notes), notes
        reason = next(f"{n['file']}: {n['why']}" for n in notes if n["file"] == detail)
    elif case.expect == "empty":
        assert summaries[case.entity].source_records == 0
        dependants = run.query("SELECT reason FROM ledger WHERE outcome = 'quarantined'")
        assert any(detail in r for (r,) in dependants), dependants
        reason = detail
    figures.record("bad_input", case.id, **facts, outcome=case.expect, reason=reason, lost=lost)
