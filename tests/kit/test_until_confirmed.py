"""A write whose answers keep getting lost is run again (after reading what exists) with a backoff, for long enough
to ride out a flaky host — seed 4 of the write-fault suite lost eight answers in a row — and then gives up."""

import pytest

from cart_pipelines.platforms.kit import target
from cart_pipelines.platforms.kit.http import WriteUnconfirmed


def lost_answers(n):
    calls = []

    def work(again):
        calls.append(again)
        if len(calls) <= n:
            raise WriteUnconfirmed("server", "answer lost")
        return ["written"]
    return work, calls


@pytest.fixture
def waits(monkeypatch):
    slept = []
    monkeypatch.setattr(target.time, "sleep", slept.append)  # the schedule is what is tested, not the clock
    return slept


def test_nine_lost_answers_in_a_row_are_ridden_out(waits):
    work, calls = lost_answers(9)
    assert target.until_confirmed(work) == ["written"]
    assert calls == [False] + [True] * 9  # every run after a lost answer reads what exists first
    assert waits == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0, 5.0]


def test_it_gives_up_after_twelve_with_the_error(waits):
    work, calls = lost_answers(12)
    with pytest.raises(WriteUnconfirmed, match="answer lost"):
        target.until_confirmed(work)
    assert len(calls) == 12 and sum(waits) == pytest.approx(36.2)


def test_a_run_that_found_part_of_the_lost_write_applied_starts_the_count_again(waits):
    """Twenty lost answers, every fourth run finding records the lost one wrote: progress, so never given up (one
    refused record in a batch splits it into single records, each of which can lose its answer)."""
    work, calls = lost_answers(20)
    assert target.until_confirmed(work, progressed=lambda: len(calls) % 4 == 0) == ["written"]
    assert max(waits) <= 1.6  # never more than three runs in a row without progress
