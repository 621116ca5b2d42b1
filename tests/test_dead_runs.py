"""A CLI run killed mid-step leaves its pool slot claimed; the next run frees it instead of waiting forever
(tests/targets/test_kill_resume.py is the whole migration killed and resumed)."""

import subprocess
import sys

import dagster as dg

from cart_pipelines.defs.dead_runs import PID_TAG, process_tags, release_dead_runs

POOL = "target/local"


@dg.op
def noop():
    return None


@dg.job
def one_step():
    noop()


def _run_holding_slot(instance, tags, step):
    run = instance.create_run_for_job(one_step, tags=tags)
    instance.handle_run_event(run.run_id, dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, one_step.name))
    claim = instance.event_log_storage.claim_concurrency_slot(POOL, run.run_id, step)
    assert claim.is_claimed
    return run


def test_slots_of_a_dead_run_are_freed_and_a_live_runs_kept(tmp_path):
    with dg.DagsterInstance.local_temp(str(tmp_path), overrides={"concurrency": {"pools": {"default_limit": 2}}}) \
            as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, 2)
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            dead = _run_holding_slot(instance, {**process_tags(), PID_TAG: str(gone.pid)}, "load_products")
            alive = _run_holding_slot(instance, {**process_tags(), PID_TAG: str(live.pid)}, "load_customers")
            assert instance.event_log_storage.get_concurrency_info(POOL).active_slot_count == 2

            assert release_dead_runs(instance) == [dead.run_id]
            info = instance.event_log_storage.get_concurrency_info(POOL)
            assert info.active_run_ids == {alive.run_id}
            assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
            assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED
            assert release_dead_runs(instance) == []  # a second look frees nothing more
        finally:
            live.kill()
            live.wait()


def test_runs_not_started_by_the_cli_are_left_to_dagster(tmp_path):
    with dg.DagsterInstance.local_temp(str(tmp_path), overrides={"concurrency": {"pools": {"default_limit": 1}}}) \
            as instance:
        instance.event_log_storage.set_concurrency_slots(POOL, 1)
        run = _run_holding_slot(instance, {}, "load_products")
        assert release_dead_runs(instance) == []
        assert instance.event_log_storage.get_concurrency_info(POOL).active_run_ids == {run.run_id}
