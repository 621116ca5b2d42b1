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
