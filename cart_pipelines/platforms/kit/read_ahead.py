"""An iterator consumed ahead of its reader, in a thread of its own.

A file source's batches cost decompression and line framing (zlib/ISA-L and zstd release the GIL while they
inflate); read ahead, that work overlaps with DuckDB parsing the batches before, instead of the query waiting for
each one. At most `depth` items wait, so memory stays a few batches whatever the file's size.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator, TypeVar

T = TypeVar("T")
_END = object()
_POLL_SECONDS = 0.1  # how soon a producer blocked on a full queue notices that the reader stopped


def read_ahead(items: Iterator[T], depth: int = 2, name: str = "read-ahead") -> Iterator[T]:
    """`items` in order, produced by a thread up to `depth` ahead. An error raised by `items` is raised here, at
    the same place in the sequence; closing this generator (a reader that stops early, or fails) stops the thread
    and closes `items` there, so its files are closed before this returns."""
    waiting: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                waiting.put(entry, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed to the reader, raised there
            put((_END, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item, exc = waiting.get()
            if exc is not None:
                raise exc
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join()
