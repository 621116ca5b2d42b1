"""Figures the reliability tests record as they run (faults tried, runs, records lost, duplicates, bad inputs,
crashes, quarantined with reason), one JSON line per observation, merged and rendered into docs/reliability.md
by `python tests/reliability/report.py`.

The file lives under build/reliability/ (git-ignored); the controller process empties it at session start
(tests/reliability/conftest.py), so a rendered report always describes one pytest run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIGURES = Path(os.environ.get("RELIABILITY_FIGURES", ROOT / "build" / "reliability" / "figures.jsonl"))


def record(kind: str, name: str, **figures) -> None:
    """One observation: kind is "bad_input", "load_faults", "extract_faults", "kill_resume" or "fuzz"; `name` the case."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"kind": kind, "name": name, **figures}, sort_keys=True, default=str)
    with open(FIGURES, "a", encoding="utf-8") as fh:  # one short append per line: safe across xdist workers
        fh.write(line + "\n")


def read(path: Path = FIGURES) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
