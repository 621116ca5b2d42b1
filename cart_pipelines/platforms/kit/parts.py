"""Sub-records of a full read staged on disk, so a source's memory does not grow with the store.

A platform that lists a resource's parts as one list of their own (Lightspeed's `variants.json` and
`categories/products.json`, the credit notes among `invoices.json`) is cheapest read whole, 250 a request, and
joined to the parents as they are read. Held in a Python dict, that join grows with the store; `Parts` keeps the
parts in a temporary DuckDB file (bounded like every pipeline connection, duckdb_io.connect: it spills to disk)
keyed by kind and parent id, filled page by page and looked up a page of parents at a time, in the order the
platform listed them. The file is thrown away on `close()` (use it as a context manager).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Callable, Iterable

import pyarrow as pa

from cart_pipelines.platforms.kit.duckdb_io import connect


class Parts:
    """Parts by (kind, parent id), in a temporary DuckDB file: `add` a kind's pages with the function that names
    each part's parent, then `of(kind, parents)` for a page of parents."""

    def __init__(self, prefix: str = "parts-"):
        self._dir = tempfile.TemporaryDirectory(prefix=prefix)
        self.con = connect(Path(self._dir.name) / "parts.duckdb")
        self.con.execute("CREATE TABLE parts (kind VARCHAR, parent VARCHAR, n BIGINT, doc VARCHAR)")
        self.con.execute("BEGIN TRANSACTION")  # one transaction: no commit to disk per page (the file is thrown away)
        self._n = 0
        self._sorted = True

    def add(self, kind: str, pages: Iterable[list[dict]], parent: Callable[[dict], str | None]) -> int:
        """Stage every part of `pages` under `parent(part)` (None: under ""), keeping the listing order; returns how
        many were staged."""
        added = 0
        for page in pages:
            rows = [r for r in page if isinstance(r, dict)]
            if not rows:
                continue
            table = pa.table({"kind": [kind] * len(rows), "parent": [parent(r) or "" for r in rows],
                              "n": list(range(self._n, self._n + len(rows))),
                              "doc": [json.dumps(r, ensure_ascii=False) for r in rows]})
            self._n += len(rows)
            added += len(rows)
            self.con.register("_page", table)
            self.con.execute("INSERT INTO parts SELECT * FROM _page")
            self.con.unregister("_page")
            self._sorted = False
        return added

    def _sort(self) -> None:
        """Once filled, the parts sorted by kind and parent: a lookup then reads the few row groups that hold its
        parents (DuckDB's min/max zone maps) instead of the whole table."""
        if not self._sorted:
            self.con.execute("CREATE OR REPLACE TABLE parts AS SELECT * FROM parts ORDER BY kind, parent, n")
            self._sorted = True

    def of(self, kind: str, parents: list[str]) -> dict[str, list[dict]]:
        """The parts of `kind` of each of `parents` (a page of them), in the order they were listed."""
        self._sort()
        out: dict[str, list[dict]] = {}
        if not parents:
            return out
        for parent, doc in self.con.execute(
                "SELECT parent, doc FROM parts WHERE kind = ? AND parent IN (SELECT unnest(?::VARCHAR[])) "
                "ORDER BY n", [kind, [str(p) for p in parents]]).fetchall():
            out.setdefault(parent, []).append(json.loads(doc))
        return out

    def count(self, kind: str | None = None) -> int:
        sql, params = ("SELECT count(*) FROM parts", []) if kind is None else \
            ("SELECT count(*) FROM parts WHERE kind = ?", [kind])
        return int(self.con.execute(sql, params).fetchall()[0][0])

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            self._dir.cleanup()

    def __enter__(self) -> "Parts":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
