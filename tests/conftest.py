import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import Run, base_store, write_store  # noqa: E402

# Each in-process run (and the CLI runs tests start) keeps its DuckDB files open for its length instead of opening
# them per step: DuckDB 2 takes 20-40 ms per open, a quarter of a migration test's time. The per-step path stays
# tested where a test clears it (tests/kit/test_duckdb_hold.py) and in every multiprocess and Celery run.
os.environ.setdefault("CART_DUCKDB_HOLD", "run")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_store"


@pytest.fixture
def store(tmp_path):
    """A valid one-of-everything store; tests edit the dict and call write()."""
    records = base_store()

    def write(changes=None):
        for entity, rows in (changes or {}).items():
            records[entity] = rows
        return write_store(tmp_path / "store", records)

    write.records = records
    return write


@pytest.fixture
def run(tmp_path):
    def make(store_dir):
        return Run(tmp_path / "work", store_dir)
    return make


@pytest.fixture(scope="session")
def sample_store():
    return SAMPLE
