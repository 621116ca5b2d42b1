"""kit/read_ahead: a file source's batches produced in a thread ahead of the reader, in order, errors in place."""

import threading
import time

import pytest

from cart_pipelines.platforms.kit.read_ahead import read_ahead


def _numbers(n, closed, fail_at=None):
    try:
        for i in range(n):
            if i == fail_at:
                raise ValueError(f"broken at {i}")
            yield i
    finally:
        closed.append(threading.current_thread().name)


def test_items_arrive_in_order_and_the_source_is_closed_in_its_thread():
    closed = []
    assert list(read_ahead(_numbers(1000, closed), depth=3, name="reader-x")) == list(range(1000))
    assert closed == ["reader-x"]


def test_an_error_is_raised_where_it_happened():
    closed, got = [], []
    with pytest.raises(ValueError, match="broken at 7"):
        for i in read_ahead(_numbers(100, closed, fail_at=7)):
            got.append(i)
    assert got == list(range(7))
    assert len(closed) == 1


def test_a_reader_that_stops_early_stops_the_producer():
    closed, produced = [], []

    def endless():
        try:
            i = 0
            while True:
                produced.append(i)
                yield i
                i += 1
        finally:
            closed.append(True)

    items = read_ahead(endless(), depth=2)
    assert [next(items) for _ in range(5)] == list(range(5))
    items.close()  # returns only once the producer has stopped and closed its source
    assert closed == [True]
    seen = len(produced)
    time.sleep(0.3)
    assert len(produced) == seen <= 5 + 2 + 1  # no more than `depth` (and the one in hand) ahead
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_an_empty_source_ends_at_once():
    assert list(read_ahead(iter([]))) == []
