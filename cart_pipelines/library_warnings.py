"""Warnings of the libraries we run on, written to a log file instead of the terminal.

Dagster announces every beta or preview parameter it meets (`backfill_policy` of each asset, ...) with a warning
on stderr, a dozen lines before the first progress bar. They say nothing a user can act on, so the command line
sends warnings of those categories to the log through the `py.warnings` logger (as logging.captureWarnings does);
every other warning still reaches stderr, and goes to the log too.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

# Categories by qualified name, so routing them needs no import of the library (commands without Dagster stay fast).
LIBRARY_CATEGORIES = frozenset({
    "dagster_shared.utils.warnings.BetaWarning",
    "dagster_shared.utils.warnings.PreviewWarning",
    "dagster_shared.utils.warnings.SupersessionWarning",
    "dagster_shared.utils.warnings.ConfigArgumentWarning",
})
LOGGER = "py.warnings"


def is_library_warning(category: type) -> bool:
    return any(f"{c.__module__}.{c.__qualname__}" in LIBRARY_CATEGORIES for c in category.__mro__)


class _NotLibrary(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "library_warning", False)


def route_to_log(path: Path) -> None:
    """From now on: library warnings go to the log file at `path` only; other warnings to stderr and the log."""
    log = logging.getLogger(LOGGER)
    if getattr(log, "_cart_routed", False):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path, delay=True, encoding="utf-8")  # no file until something is written
    to_file.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    to_stderr = logging.StreamHandler()
    to_stderr.addFilter(_NotLibrary())
    log.addHandler(to_file)
    log.addHandler(to_stderr)
    log.propagate = False
    log.setLevel(logging.WARNING)
    log._cart_routed = True

    def show(message, category, filename, lineno, file=None, line=None):
        text = warnings.formatwarning(message, category, filename, lineno, line).rstrip()
        log.warning("%s", text, extra={"library_warning": is_library_warning(category)})

    warnings.showwarning = show
