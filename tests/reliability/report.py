"""Render docs/reliability.md from the figures the reliability tests recorded (build/reliability/figures.jsonl).

    pytest tests/reliability tests/targets/test_kill_resume.py -m "slow or not slow"   # the whole suite
    python tests/reliability/report.py                                                  # → docs/reliability.md

Nothing here is written by hand: every number comes from the last run's figures.
"""

from __future__ import annotations

import collections
import re
import sys
from pathlib import Path

if __package__:
    from . import figures
else:  # run as a file (a `tests` package in site-packages can shadow ours for `python -m`)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import figures  # noqa: E402

DOC = figures.ROOT / "docs" / "reliability.md"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _reason(text) -> str:
    """A table cell: one line, pipes escaped, the test's temporary directories (machine-specific) elided."""
    text = re.sub(r"/(?:tmp|var/folders)/[^'\"\s]*", "<tmp>/…", str(text or ""))
    return text.replace("|", "\\|").replace("\n", " ")[:140]


def render(facts: list[dict]) -> str:
    by = collections.defaultdict(list)
    for f in facts:
        by[f["kind"]].append(f)
    session = (by["session"] or [{}])[0]
    slow_included = session.get("markexpr", "not slow") != "not slow"
    bad, load, extract, kill = by["bad_input"], by["load_faults"], by["extract_faults"], by["kill_resume"]
    fuzz = by["fuzz"]
    faults = collections.Counter()
    for f in load + extract + kill:
        faults.update(f["faults"])
    runs = sum(f["runs"] for f in load + extract + kill)
    lost = sum(f["lost"] for f in bad + load + extract + kill + fuzz)
    duplicates = sum(f["duplicates"] for f in load + extract + kill)
    crashes = sum(1 for f in bad if f["crashed"])
    out = [
        "# Reliability",
        "",
        "Produced by the reliability suite, not by hand: the tests in `tests/reliability/` (and the SIGKILL resume "
        "test, `tests/targets/test_kill_resume.py`) record what they tried and saw, and "
        "`python tests/reliability/report.py` renders this page from it (`bash scripts/reliability.sh` does both). "
        f"This run: {'the whole suite, slow tests included' if slow_included else 'the default (CI) subset only'}.",
        "",
        "## Summary",
        "",
        _table(["figure", "value"], [
            ["faults injected", sum(faults.values())],
            ["migration runs under faults (full, delta, resumed)", runs],
            ["records lost", lost],
            ["duplicates on a target", duplicates],
            ["bad inputs tried", len(bad)],
            ["crashes on bad input", crashes],
            ["bad inputs quarantined with a reason naming the field", sum(1 for f in bad if f["outcome"] == "quarantined")],
            ["fuzzed records migrated (random hostile records per entity)", sum(f["records"] for f in fuzz)],
        ]),
        "",
        "## Faults injected, by kind",
        "",
        "Read faults hit the source emulators during extraction; write faults hit the target emulators during "
        "loads (`applied_*`: the write was applied and its answer lost — a blind retry would duplicate it).",
        "",
        _table(["fault", "injected"], sorted(faults.items())),
        "",
        "## Loads under write faults",
        "",
        _table(["case", "runs", "records", "quarantined by the target", "lost", "duplicates"],
               [[f["name"], f["runs"], f["records"], f["quarantined_by_target"], f["lost"], f["duplicates"]]
                for f in sorted(load, key=lambda f: f["name"])]),
        "",
        "## Extraction under read faults and SIGKILL resume",
        "",
        _table(["case", "runs", "lost", "duplicates"],
               [[f["name"], f["runs"], f["lost"], f["duplicates"]] for f in sorted(extract + kill,
                                                                                   key=lambda f: f["name"])]),
        "",
        "## Fuzzed stores",
        "",
        "`tests/reliability/test_fuzz.py` writes a store of seeded random records per entity from the canonical "
        "schema, many fields hostile and some lines broken, migrates it whole and runs the post-load checks, then "
        "runs it again: no crash, every line accounted for, the checks pass, the second run writes nothing.",
        "",
        _table(["case", "records", "loaded", "skipped", "quarantined", "lost", "second run writes"],
               [[f["name"], f["records"], f["loaded"], f["skipped_total"], f["quarantined"], f["lost"],
                 f["second_run_writes"]] for f in sorted(fuzz, key=lambda f: f["name"])]),
        "",
        "## Bad input",
        "",
        "Each case adds one defective record (or rewrites one file) to a small valid store and migrates it whole; "
        "the cases are in `tests/reliability/corpus.py`.",
        "",
        _table(["case", "from", "entity", "outcome", "reason / handling"],
               [[f["name"], f["source"], f["entity"], f["outcome"],
                 _reason(f.get("reason"))]
                for f in sorted(bad, key=lambda f: (f["source"], f["name"]))]),
        "",
    ]
    return "\n".join(out)


def main() -> int:
    facts = figures.read()
    if not [f for f in facts if f["kind"] != "session"]:
        print(f"no figures in {figures.FIGURES}: run the reliability tests first", file=sys.stderr)
        return 1
    DOC.write_text(render(facts), encoding="utf-8")
    print(f"wrote {DOC.relative_to(figures.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
