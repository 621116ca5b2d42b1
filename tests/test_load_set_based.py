"""The local target's set-based load (the catalog attaches the target file and writes whole entities per statement)
against the path every other target takes (rows streamed to create/update in batches of max_batch): the same
target tables, id map, ledger and counts for the sample store, refusals included; a second full run writes 0."""

import pytest
from helpers import Run

from cart_pipelines.model.entities import ENTITY_NAMES
from cart_pipelines.platforms.local.target import DuckDBStore


class Batched(DuckDBStore):
    """The local target without SQL access to it: the load sends batches through create/update, as to an API."""
    max_batch = 100  # several batches per entity in the sample store

    def attached(self, con):
        return None


def counts(results):
    return {e: (r.created, r.updated, r.unchanged, r.rejected, r.adopted, r.helpers_created)
            for e, r in results.items()}


def state(run: Run) -> dict:
    tables = {e: sorted(run.target.scan(e).to_pylist(), key=lambda r: int(r["id"])) for e in ENTITY_NAMES}
    return {"tables": tables,
            "id_map": run.query("SELECT entity, source_id, target_id, row_hash FROM id_map ORDER BY ALL"),
            "ledger": run.query("SELECT * FROM ledger ORDER BY ALL")}


def test_set_based_load_equals_the_batched_path_and_a_rerun_writes_nothing(tmp_path, sample_store):
    fast, batched = Run(tmp_path / "fast", sample_store), Run(tmp_path / "batched", sample_store)
    batched.target = Batched(batched.target.path)
    # A customer the target holds already (made outside the migration) takes an e-mail of the store: the target
    # refuses that source customer, and both paths must refuse it the same way.
    taken = fast.target.scan("customers").schema  # creates the tables
    for run in (fast, batched):
        DuckDBStore(run.target.path).create("customers", _customer(taken, "elsewhere", "HEGE.Halvorsen.2@hotmail.com"))
    first = fast()
    assert counts(first) == counts(batched())
    assert first["customers"].rejected == 1 and first["orders"].created > 500
    assert state(fast) == state(batched)
    again = fast()
    assert sum(r.writes for r in again.values()) == 0
    assert all(again[e].unchanged == first[e].created + first[e].updated for e in ENTITY_NAMES)
    assert state(fast)["tables"] == state(batched)["tables"]


def _customer(schema, source_id: str, email: str):
    import pyarrow as pa

    fields = [f for f in schema if f.name not in ("id", "_source_id")]
    row = {f.name: None for f in fields} | {"email": email, "first_name": "Ola", "last_name": "Nordmann"}
    return pa.Table.from_pylist([{"source_id": source_id, **row}],
                                schema=pa.schema([pa.field("source_id", pa.string()), *fields]))


def test_order_lines_keep_their_order_and_name_their_products_target_ids(tmp_path, sample_store):
    """The set-based load resolves only the lines' product ids and rebuilds each line around its id by position:
    every line on the target is the transformed line, in the same place, with the target id of its product."""
    run = Run(tmp_path, sample_store)
    run()
    ids = dict(run.query("SELECT source_id, target_id FROM id_map WHERE entity = 'products'"))
    wanted = {sid: [(i["source_id"], ids.get(i["product_source_id"]), i["sku"], i["name"], i["qty"], i["price"],
                     i["tax"]) for i in items]
              for sid, items in run.query("SELECT source_id, items FROM transformed_orders")}
    got = {r["_source_id"]: [(i["source_id"], i["product_id"], i["sku"], i["name"], i["qty"], i["price"], i["tax"])
                             for i in r["items"]] for r in run.target_rows("orders")}
    assert got == wanted
    assert sum(len(v) > 1 for v in wanted.values()) > 100  # orders of several lines, so their order is tested


def test_set_based_load_writes_bounded_chunks_and_resumes_after_a_chunk_fails(tmp_path, sample_store, monkeypatch):
    """Each set-based write takes at most LOAD_CHUNK plan rows (what it holds is bounded whatever the store's size,
    so a tight DuckDB memory limit holds), and a load that stops between a chunk's target write and its bookkeeping
    (the worst place for a kill) resumes without duplicates and ends as a load in one go ends."""
    from cart_pipelines.pipeline import load
    from cart_pipelines.platforms.local import target as local

    whole = Run(tmp_path / "whole", sample_store)
    whole()
    monkeypatch.setattr(load, "LOAD_CHUNK", 97)
    sizes, fail_at = [], {"orders": 3}
    real_create, real_update = local.SqlWriter.create, local.SqlWriter.update

    def create(self, entity, rows_sql, preserve_ids=False, on_answers=None):
        sizes.append((entity, self.con.execute(f"SELECT count(*) FROM ({rows_sql})").fetchall()[0][0]))
        written = real_create(self, entity, rows_sql, preserve_ids, on_answers)
        if sum(e == entity for e, _ in sizes) == fail_at.get(entity):
            raise RuntimeError("killed after the target wrote a chunk, before its id map rows")
        return written

    def update(self, entity, rows_sql, on_answers=None):
        sizes.append((entity, self.con.execute(f"SELECT count(*) FROM ({rows_sql})").fetchall()[0][0]))
        return real_update(self, entity, rows_sql, on_answers)

    monkeypatch.setattr(local.SqlWriter, "create", create)
    monkeypatch.setattr(local.SqlWriter, "update", update)
    chunked = Run(tmp_path / "chunked", sample_store)
    try:
        chunked()
        raise AssertionError("the injected failure did not happen")
    except RuntimeError:
        pass
    assert chunked.target.count("orders") == 2 * 97 + 97  # two chunks recorded, the third written, not recorded
    fail_at.clear()
    resumed = chunked()
    assert resumed["orders"].adopted == 97
    assert max(n for _, n in sizes) <= 97
    assert sum(e == "orders" for e, _ in sizes) >= 5  # the sample's orders take several chunks
    for e in ENTITY_NAMES:
        rows = chunked.target_rows(e)
        assert len(rows) == len({r["_source_id"] for r in rows}) == whole.target.count(e), e
    assert chunked.query(ID_MAP) == whole.query(ID_MAP)
    assert chunked.query(LEDGER) == whole.query(LEDGER)
    assert sum(r.writes for r in chunked().values()) == 0


def test_a_chunk_whose_bookkeeping_fails_stops_the_target_writes_and_a_rerun_adopts_them(tmp_path, sample_store,
                                                                                         monkeypatch):
    """A chunk's id-map and ledger rows are written by a second connection while the next chunk goes to the
    target: when they fail, no chunk after the one being written then is sent, the error is the load's, that
    chunk's bookkeeping is still written, and the next run adopts the one chunk the target took without it."""
    from cart_pipelines.pipeline import load

    whole = Run(tmp_path / "whole", sample_store)
    whole()
    monkeypatch.setattr(load, "LOAD_CHUNK", 97)
    real_record, calls = load._record, []

    def record(con, target, entity, results, action, res, written_rows=None):
        calls.append(entity)
        if entity == "orders" and calls.count("orders") == 2:
            raise RuntimeError("the catalog refused a chunk's bookkeeping")
        return real_record(con, target, entity, results, action, res, written_rows)

    monkeypatch.setattr(load, "_record", record)
    chunked = Run(tmp_path / "chunked", sample_store)
    with pytest.raises(RuntimeError, match="refused a chunk's bookkeeping"):
        chunked()
    # Chunk 1 recorded; chunk 2's bookkeeping failed, before chunk 3 was sent or while it was written (then it
    # is recorded too); chunk 4 never sent.
    written = chunked.target.count("orders")
    assert written in (2 * 97, 3 * 97)
    assert chunked.query("SELECT count(*) FROM id_map WHERE entity = 'orders'") == [(written - 97,)]
    monkeypatch.setattr(load, "_record", real_record)
    resumed = chunked()
    assert resumed["orders"].adopted == 97
    assert chunked.query(ID_MAP) == whole.query(ID_MAP)
    assert chunked.query(LEDGER) == whole.query(LEDGER)
    assert sum(r.writes for r in chunked().values()) == 0


ID_MAP = "SELECT entity, source_id, row_hash FROM id_map ORDER BY ALL"
LEDGER = "SELECT entity, source_id, stage, outcome, rule, reason FROM ledger ORDER BY ALL"


# a chunk of exactly the changed rows runs by default; one short of them and one over, with the slow tests
@pytest.mark.parametrize("offset", [pytest.param(-1, marks=pytest.mark.slow), 0,
                                    pytest.param(1, marks=pytest.mark.slow)])
def test_chunks_of_interleaved_updates_and_creates_write_every_row_once(tmp_path, sample_store, monkeypatch, offset):
    """A chunk takes its plan rows by `ord` and its transformed rows by their row id range: with the updates and
    creates of a re-run scattered among unchanged rows (stale hashes, records gone from the target) and chunks of
    the changed rows' count ±1, every changed row is written exactly once and the others not at all."""
    from cart_pipelines.pipeline import load

    run = Run(tmp_path, sample_store)
    run()
    before = {r["_source_id"]: r for r in run.target_rows("orders")}
    with run.staging.connect() as con:
        sids = [r[0] for r in con.execute("SELECT source_id FROM id_map WHERE entity = 'orders' "
                                          "ORDER BY target_id::BIGINT").fetchall()]
        stale, gone = sids[1::3], sids[2::7]
        stale = [s for s in stale if s not in set(gone)]
        con.execute("UPDATE id_map SET row_hash = 'stale' WHERE entity = 'orders' AND list_contains($s, source_id)",
                    {"s": stale})
        con.execute("DELETE FROM id_map WHERE entity = 'orders' AND list_contains($s, source_id)", {"s": gone})
    run.target.delete("orders", [before[s]["id"] for s in gone])
    monkeypatch.setattr(load, "LOAD_CHUNK", len(stale) + offset)
    again = run(entities=["orders"])["orders"]
    assert (again.updated, again.created, again.adopted) == (len(stale), len(gone), 0)
    after = {r["_source_id"]: r for r in run.target_rows("orders")}
    assert len(after) == len(run.target_rows("orders")) == len(before)
    assert {s: {k: v for k, v in r.items() if k != "id"} for s, r in after.items()} == \
        {s: {k: v for k, v in r.items() if k != "id"} for s, r in before.items()}
    assert all(after[s]["id"] == before[s]["id"] for s in set(before) - set(gone))
    ids = dict(run.query("SELECT source_id, target_id FROM id_map WHERE entity = 'orders'"))
    assert ids == {s: r["id"] for s, r in after.items()}
    assert sum(r.writes for r in run().values()) == 0


def test_a_set_based_write_reaches_the_target_in_row_groups_of_its_size(tmp_path):
    """The attached target takes a statement's rows in row groups of ROW_GROUP_SIZE (which DuckDB compresses on
    all cores), and the file reads back every row when opened as usual, without the option."""
    import duckdb

    from cart_pipelines.platforms.local.target import ROW_GROUP_SIZE

    store, rows = DuckDBStore(tmp_path / "target.duckdb"), 2 * ROW_GROUP_SIZE + 7
    con = duckdb.connect()
    with store.attached(con) as sql:
        answers = sql.create("manufacturers", f"""SELECT 'm' || i AS source_id, 'Brand ' || i AS name,
            'brand-' || i AS url_key, NULL::TIMESTAMPTZ AS updated_at, i AS _ord FROM range({rows}) r(i)""")
        assert con.execute(f"SELECT count(*), count(error) FROM {answers}").fetchall() == [(rows, 0)]
    con.close()
    assert store.count("manufacturers") == rows
    check = duckdb.connect(str(store.path), read_only=True)
    groups = check.execute("SELECT row_group_id, max(start + count) - min(start) FROM pragma_storage_info("
                           "'manufacturers') WHERE column_name = 'name' GROUP BY 1 ORDER BY 1").fetchall()
    check.close()
    assert [n for _, n in groups] == [ROW_GROUP_SIZE, ROW_GROUP_SIZE, 7]
