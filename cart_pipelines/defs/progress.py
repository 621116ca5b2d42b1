"""Progress of a migration run in the terminal: one bar per entity (extract → transform → load), fed by the run's
own events in the Dagster instance, so what the bars say is what the UI's run page says."""

from __future__ import annotations

import threading

import dagster as dg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

STAGES = ("extract", "transform", "load")
EVENTS = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.ASSET_MATERIALIZATION,
          dg.DagsterEventType.STEP_FAILURE}


def stage_summary(stage: str, meta: dict) -> str:
    """A few words on what a finished stage did, from its materialization metadata."""
    if meta.get("selected") is False:
        return "not selected"
    kept = ", unchanged (kept)" if meta.get("unchanged_reused") else ""
    if stage == "extract":
        return (f"{meta.get('source_records', 0):,} {'staged before' if kept else 'read'}, "
                f"{meta.get('quarantined', 0):,} quarantined{kept}")
    if stage == "transform":
        return f"{meta.get('dagster/row_count', 0):,} to load{kept}"
    return f"{meta.get('created', 0):,} created, {meta.get('updated', 0):,} updated"


class RunProgress:
    """Bars per entity while `run_id` executes in this process; the poller reads the run's event log."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, entities, console: Console,
                 interval: float = 0.25):
        self.instance, self.run_id, self.interval = instance, run_id, interval
        self.progress = Progress(TextColumn("{task.fields[entity]:<14}"), BarColumn(bar_width=24),
                                 MofNCompleteColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 console=console, transient=False)
        self.tasks = {e: self.progress.add_task("waiting", total=len(STAGES), entity=e) for e in entities}
        self._cursor = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> "RunProgress":
        self.progress.start()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._drain()  # the last events, written just before the run returned
        self.progress.stop()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._drain()
            except Exception:  # progress is a courtesy: never let it break the run
                pass

    def _drain(self) -> None:
        while True:
            conn = self.instance.get_records_for_run(self.run_id, cursor=self._cursor, of_type=EVENTS, limit=200)
            for record in conn.records:
                self.on_event(record.event_log_entry.dagster_event)
            self._cursor = conn.cursor
            if not conn.has_more:
                return

    def on_event(self, event) -> None:
        if event is None or not event.step_key:
            return
        stage, _, entity = event.step_key.partition("__")
        if stage not in STAGES or entity not in self.tasks:
            return
        task = self.tasks[entity]
        if event.event_type == dg.DagsterEventType.STEP_START:
            self.progress.update(task, description=f"{stage}…")
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            self.progress.update(task, description=f"[red]{stage} failed[/]")
        else:
            meta = {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}
            self.progress.update(task, advance=1, description=f"{stage}: {stage_summary(stage, meta)}")
