"""Keyset pagination by id, in id ranges read in parallel: exact while records are added or deleted meanwhile.

Numbered or offset pages shift when records before them are deleted (one slips past unread) or added (one comes
twice). Asking for "ids after the last one read, sorted by id" cannot shift. To keep several requests in flight,
the first page says how many records there are, one more request gives the highest id, and the ids in between are
cut into ranges expected to hold at most a page each; each range is read by keyset up to its bound (one that turned
out fuller takes another request), and the last is open above, so records created during the read are read too.
Cost against numbered pages: the highest-id request, plus one per range that held more than a page.

The ranges are read by `streams_in_order`: up to `concurrency` ranges at once, each running ahead of the reader by
at most a couple of pages, so memory stays a fixed window of pages however unevenly the ids (or times) fall.
"""

from __future__ import annotations

import math
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator, Sequence

from cart_pipelines.platforms.kit.http import LoopGuard

# fetch(after, below) -> (records with after < id < below sorted by id, at most a page; the total, or None)
Fetch = Callable[[int | None, int | None], tuple[list[dict], int | None]]


def keyset(fetch: Fetch, after: int | None, below: int | None, page_size: int, id_of: Callable[[dict], object],
           what: str) -> Iterator[list[dict]]:
    """Pages of ids after `after` and below `below` (None: unbounded), until a short page or the range's end."""
    guard = LoopGuard(what)
    while True:
        items, _ = fetch(after, below)
        if items:
            guard.check((id_of(items[0]), id_of(items[-1])))  # a server ignoring the id filter
        yield items
        if len(items) < page_size or (below is not None and int(id_of(items[-1])) >= below - 1):
            return  # ids are unique integers: a full page that reached the bound holds the whole range
        after = int(id_of(items[-1]))


def id_range_pages(fetch: Fetch, highest: Callable[[], int | None], page_size: int, concurrency: int,
                   id_of: Callable[[dict], object], what: str) -> Iterator[list[dict]]:
    """All pages in id order: page 1, then id ranges of about a page each, `concurrency` at a time."""
    items, total = fetch(None, None)
    yield items
    if len(items) < page_size:
        return
    last = int(id_of(items[-1]))
    ranges = math.ceil((total - len(items)) / page_size) if total and concurrency > 1 else 0
    top = highest() if ranges >= 2 else None
    if top is None:
        yield from keyset(fetch, last, None, page_size, id_of, what)
        return
    width = max(page_size, math.ceil((top - last) / ranges))
    cuts = [last + j * width for j in range(1, ranges)]  # range j: ids after cut j-1 up to and with cut j
    spans = list(zip([last] + cuts, [c + 1 for c in cuts] + [None]))
    yield from streams_in_order([lambda s=span: keyset(fetch, *s, page_size, id_of, what) for span in spans],
                                concurrency)


def streams_in_order(streams: Sequence[Callable[[], Iterator[list]]], concurrency: int,
                     ahead: int = 2) -> Iterator[list]:
    """The pages of several streams (ranges of one list), stream after stream, with up to `concurrency` streams
    read at once. Each stream runs at most `ahead` pages ahead of the reader, so at most
    concurrency x (ahead + 2) pages are held (queued, in a worker's hand, being read), whatever a stream holds. A failing stream raises here,
    in order; the reader stopping (an error, or the generator closed) stops the others after their request."""
    if concurrency <= 1 or len(streams) <= 1:
        for stream in streams:
            yield from stream()
        return
    stop = threading.Event()
    queues: list[queue.Queue] = [queue.Queue(maxsize=ahead) for _ in streams]

    def run(k: int) -> None:
        def put(item) -> bool:
            while not stop.is_set():
                try:
                    queues[k].put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        if stop.is_set():
            return
        try:
            for page in streams[k]():
                if not put(("page", page)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the reader, in the stream's turn
            put(("error", exc))

    # Workers take streams in order, so the stream being read has always started: no stream waits on a later one.
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="range")
    try:
        for k in range(len(streams)):
            pool.submit(run, k)
        for k in range(len(streams)):
            while True:
                kind, value = queues[k].get()
                if kind == "page":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    break
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
