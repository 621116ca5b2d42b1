"""Keyset pagination by id, in id ranges read in parallel: exact while records are added or deleted meanwhile.

Numbered or offset pages shift when records before them are deleted (one slips past unread) or added (one comes
twice). Asking for "ids after the last one read, sorted by id" cannot shift. To keep several requests in flight,
the first page says how many records there are, one more request gives the highest id, and the ids in between are
cut into ranges expected to hold at most a page each; each range is read by keyset up to its bound (one that turned
out fuller takes another request), and the last is open above, so records created during the read are read too.
Cost against numbered pages: the highest-id request, plus one per range that held more than a page.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator

from cart_pipelines.platforms.kit.http import LoopGuard, pages_in_order

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
    for pages in pages_in_order(lambda n: list(keyset(fetch, *spans[n], page_size, id_of, what)),
                                range(len(spans)), concurrency):
        yield from pages
