"""Runs of the CLI whose process died (SIGKILL, out of memory, power cut) still hold their pool slots.

Dagster frees a step's slot when the step ends; a killed in-process run never ends, its record stays STARTED and
its slot stays claimed, so with one step per pool (dagster.yaml) the next run of that shop waits for the slot
forever. No daemon watches runs started by `execute_in_process`, so the CLI tags each run with its host and
process id and, before starting the next, marks the runs of this host whose process is gone as failed and
frees their slots. Runs launched by the daemon (UI, schedules) are left to Dagster's run monitoring."""

from __future__ import annotations

import os
import socket

import dagster as dg

HOST_TAG = "cart_pipelines/host"
PID_TAG = "cart_pipelines/pid"


def process_tags() -> dict[str, str]:
    """The tags that let a later CLI run tell whether this run's process is still alive."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _dead(run: dg.DagsterRun) -> bool:
    """A run of this host's CLI whose process no longer exists (a reused pid reads as alive: the slot waits)."""
    tags = run.tags
    if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
        return False
    pid = int(tags[PID_TAG])
    return pid != os.getpid() and not _alive(pid)


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Free the pool slots held by finished runs and by dead CLI runs (marked failed first); their run ids."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return []
    released = []
    for run_id in sorted(storage.get_concurrency_run_ids()):
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            if not _dead(run):
                continue
            instance.report_run_failed(run, "The process running this run died; its pool slots were freed by "
                                            "the next run.")
        storage.free_concurrency_slots_for_run(run_id)
        released.append(run_id)
    return released
