import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import Run, base_store, write_store  # noqa: E402

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
