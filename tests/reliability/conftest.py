"""The reliability suite records its figures (figures.py); a run starts with an empty figures file, so the
rendered docs/reliability.md describes exactly one pytest run."""

from . import figures


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):  # the controller (or a run without xdist), not each worker
        figures.FIGURES.parent.mkdir(parents=True, exist_ok=True)
        figures.FIGURES.write_text("", encoding="utf-8")
        figures.record("session", "options", markexpr=session.config.option.markexpr or "")
