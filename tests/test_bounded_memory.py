"""What keeps a full migration's memory flat in store size (issue 18): no list that grows with the store is read
into Python where DuckDB can keep it. (The peak RSS itself is measured by bench/scale.py, not by timed tests.)"""

from __future__ import annotations

from cart_pipelines.platforms.local.target import DuckDBStore
from cart_pipelines.platforms.mystore.target import MystoreTarget


def test_only_a_target_that_holds_redirects_is_handed_the_redirect_rows(tmp_path):
    # The report step reads the 301 map (one row per moved product or category) into Python only for a target
    # that writes it; the local target and every other keep it in redirects.csv, written by DuckDB.
    assert DuckDBStore(tmp_path / "target.duckdb").holds_redirects is False
    assert MystoreTarget(token="t", references=tmp_path / "r.json").holds_redirects is True
    assert MystoreTarget(token="t", references=tmp_path / "r2.json", redirects=False).holds_redirects is False
