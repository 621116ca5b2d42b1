"""Keyset paging in id ranges (platforms/kit/keyset.py) over an in-memory id list standing in for a platform's
`id > after AND id < below ORDER BY id` search, changed while it is read."""

import threading

from cart_pipelines.platforms.kit.keyset import id_range_pages

PAGE = 50


class Shop:
    """Ids clustered unevenly (ranges planned from the mean density are too full here, sparse there)."""

    def __init__(self):
        self.ids = set(range(1, 301)) | set(range(5000, 5400)) | {9000}
        self.lock, self.requests, self.changed = threading.Lock(), 0, False

    def fetch(self, after, below):
        with self.lock:
            self.requests += 1
            if after is not None and not self.changed:  # after page 1: delete read and unread ids, add one
                self.changed = True
                self.ids -= {2, 3, 5100}
                self.ids.add(9500)
            rows = sorted(i for i in self.ids if (after is None or i > after) and (below is None or i < below))
            return [{"id": i} for i in rows[:PAGE]], len(self.ids)

    def highest(self):
        with self.lock:
            self.requests += 1
            return max(self.ids)


def test_every_record_once_in_id_order_while_records_come_and_go():
    shop = Shop()
    read = [r["id"] for page in id_range_pages(shop.fetch, shop.highest, PAGE, 3, lambda r: r["id"], "ids")
            for r in page]
    assert read == sorted(read) and len(read) == len(set(read))
    assert set(read) == shop.ids | {2, 3}  # 2 and 3 were on page 1, read before they were deleted
    assert 5100 not in read and 9500 in read


def test_one_worker_reads_by_keyset_alone():
    shop = Shop()
    read = [r["id"] for page in id_range_pages(shop.fetch, shop.highest, PAGE, 1, lambda r: r["id"], "ids")
            for r in page]
    assert read == sorted(shop.ids | {2, 3})
    assert shop.requests == -(-len(read) // PAGE) + (len(read) % PAGE == 0)  # no highest-id request, no gaps


def test_streams_are_read_in_order_with_a_fixed_window_of_pages():
    """However many pages a range turns out to hold, at most concurrency x (ahead + 2) are held."""
    import time

    from cart_pipelines.platforms.kit.keyset import streams_in_order

    lock, made, taken, most = threading.Lock(), [0], [0], [0]

    def stream(k, pages):
        def pages_of():
            for p in range(pages):
                with lock:
                    made[0] += 1
                    most[0] = max(most[0], made[0] - taken[0])
                yield [(k, p)]
        return pages_of

    streams = [stream(k, 40 if k == 1 else 3) for k in range(8)]  # one range far fuller than planned
    read = []
    for page in streams_in_order(streams, concurrency=3, ahead=2):
        time.sleep(0.002)  # a reader slower than the requests
        with lock:
            taken[0] += 1
        read += page
    assert read == [(k, p) for k in range(8) for p in range(40 if k == 1 else 3)]
    assert most[0] <= 3 * (2 + 2)  # queued, in a worker's hand, and the one being read


def test_a_failing_stream_raises_in_its_turn_and_stops_the_others():
    from cart_pipelines.platforms.kit.keyset import streams_in_order

    started = []

    def ok(k):
        def pages():
            started.append(k)
            yield [k]
        return pages

    def broken():
        raise RuntimeError("range 2 failed")
        yield

    streams = [ok(0), ok(1), broken] + [ok(k) for k in range(3, 50)]
    read = []
    try:
        for page in streams_in_order(streams, concurrency=2):
            read += page
    except RuntimeError as exc:
        assert str(exc) == "range 2 failed"
    assert read == [0, 1] and len(started) < 50 and threading.active_count() < 5
