"""What Mystore cannot hold for the target: source ids ({kind: {target id: source id}}), `intent:<entity>`
{source id: natural key} recorded before a create is sent, and specials held for their start.

A JSON file plus a journal next to it (`.log`, one change per line). save() after every batch appends only the
changes since the last save, so its cost follows the batch, not the shop (rewriting the whole file per batch
took ~0.4 s at 10k orders on a loaded 2-core machine, most of a request's share of 120/min); compact() rewrites
the file and drops the journal. A journal line cut off by a killed run is ignored: that batch's records are
found again by their natural keys (target.find_existing).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

COMPACT_AFTER = 50_000  # journal lines before save() compacts by itself


class _Tracked(dict):
    """A dict that notes every change in its References' journal."""

    def __init__(self, kind: str, journal: list, items: dict):
        super().__init__(items)
        self.kind, self.journal = kind, journal

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.journal.append([self.kind, key, value])

    def __delitem__(self, key):
        super().__delitem__(key)
        self.journal.append([self.kind, key])

    def pop(self, key, *default):
        if key in self:
            self.journal.append([self.kind, key])
        return super().pop(key, *default)

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args, **kwargs):
        for k, v in dict(*args, **kwargs).items():
            self[k] = v


class References:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.log = self.path.with_suffix(".log")
        self.lock = threading.Lock()
        self.journal: list[list] = []
        raw = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.logged = 0
        if self.log.exists():
            for line in self.log.read_text(encoding="utf-8").splitlines():
                try:
                    change = json.loads(line)
                except ValueError:
                    continue  # cut off by a killed run
                kind = raw.setdefault(change[0], {})
                if len(change) == 3:
                    kind[change[1]] = change[2]
                else:
                    kind.pop(change[1], None)
                self.logged += 1
        self.data: dict[str, _Tracked] = {k: _Tracked(k, self.journal, v) for k, v in raw.items()}

    def of(self, kind: str) -> dict[str, str]:
        if kind not in self.data:
            self.data[kind] = _Tracked(kind, self.journal, {})
        return self.data[kind]

    def save(self) -> None:
        """The changes since the last save, appended to the journal."""
        with self.lock:
            if not self.journal:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lines = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in self.journal)
            with open(self.log, "a", encoding="utf-8") as fh:
                fh.write(lines)
            self.logged += len(self.journal)
            self.journal.clear()
        if self.logged > COMPACT_AFTER:
            self.compact()

    def compact(self) -> None:
        """Everything in the JSON file (written aside, then moved in), the journal dropped."""
        self.save()
        with self.lock:
            if not self.logged and self.path.exists():
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, sort_keys=True, ensure_ascii=False))
            tmp.replace(self.path)
            self.log.unlink(missing_ok=True)
            self.logged = 0
