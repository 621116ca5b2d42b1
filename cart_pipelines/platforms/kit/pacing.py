"""Pacing under a platform's rate limit: from its rate-limit headers, or, for a fixed quota per window that no
header reports, by counting (`SlidingWindow`). Either way the client stops before the window is used up instead
of meeting a 429.

Many APIs say on every response how many requests are left in the current window and when it resets
(BigCommerce's `X-Rate-Limit-*`, the IETF draft's `RateLimit-*` that WooCommerce hosts send; Lightspeed eCom's
`X-RateLimit-*` hold one value per window, `300/3000/12000`, read with `separator`). A `HeaderPacer`
is an `HttpClient` `on_response` hook and, through `before_request`/`after_request`, its gate before each request:
the fewest requests left that an answer in the window reported, less the requests in flight (sent but not over,
they take from the same window whatever order the server counts them in), is the budget; when it is down to
`reserve`, every worker waits until the window resets. So the whole window is used and no worker's request lands
after it is spent. A 429 is left to the client's retry (which waits what the platform says), so it is not waited
twice.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import requests


@dataclass(frozen=True)
class RateHeaders:
    """The header names of a platform's rate limit. `reset` is read per `reset_unit`: "ms" or "s" until the window
    resets, or "epoch" (the reset as Unix seconds). `quota` and `window` are only recorded (for reports).
    `separator`: the headers hold one value per window (`"299/2999/11999"`); each window counts on its own, and
    the pause lasts until every window at or under the reserve has reset."""

    remaining: str
    reset: str
    reset_unit: str = "s"
    quota: str | None = None
    window: str | None = None
    separator: str | None = None

    def __post_init__(self):
        if self.reset_unit not in ("ms", "s", "epoch"):
            raise ValueError(f"reset_unit {self.reset_unit!r} is not ms, s or epoch")


class HeaderPacer:
    """Header-driven pacing shared by every worker of one client. Responses without the headers set no pause
    but do wait out one already set; `max_wait` caps a reset further off than a platform should ever say."""

    def __init__(self, headers: RateHeaders, reserve: int, max_wait: float | None = None, pad: float = 0.05,
                 sleep: Callable[[float], None] = time.sleep):
        self.headers, self.reserve, self.max_wait, self.pad, self.sleep = headers, reserve, max_wait, pad, sleep
        self.lock = threading.Lock()
        self.resume_at = 0.0  # time.monotonic() when requests may go on
        self.waits = 0
        self.sent = 0  # requests sent through before_request, numbered
        self.known: tuple[int, float] | None = None  # (fewest left an answer reported, when that window resets)
        self.in_flight: set[int] = set()  # numbers of the requests sent and not yet over
        self.floor = 0  # answers to requests numbered up to here speak of a window already waited out
        self._mine = threading.local()  # the number of this thread's request in flight
        self.last: dict = {}  # the latest values seen: remaining, reset, quota, window

    def _values(self, response: requests.Response, name: str) -> list[float] | None:
        raw = response.headers.get(name)
        if raw is None:
            return None
        try:
            return [float(v) for v in (raw.split(self.headers.separator) if self.headers.separator else [raw])]
        except ValueError:
            return None

    def _seconds(self, value: float) -> float:
        if self.headers.reset_unit == "epoch":
            value -= time.time()
        elif self.headers.reset_unit == "ms":
            value /= 1000
        return max(0.0, value)

    def seconds_to_reset(self, response: requests.Response) -> float | None:
        """Seconds until the window resets, from the reset header; None without a readable one. With several
        windows: until the first one resets (see `retry_after` for the one that is used up)."""
        values = self._values(response, self.headers.reset)
        return min(self._seconds(v) for v in values) if values else None

    def _wait(self, response: requests.Response, at_most: int) -> tuple[int | None, float | None]:
        """(requests left in the tightest window, seconds until every window with no more than `at_most` left
        has reset)."""
        left, reset = self._values(response, self.headers.remaining), self._values(response, self.headers.reset)
        if not left or not reset or len(left) != len(reset):
            return None, None
        if len(left) == 1:
            return int(left[0]), self._seconds(reset[0])
        tight = [self._seconds(r) for n, r in zip(left, reset) if n <= at_most]
        return int(min(left)), max(tight) if tight else min(self._seconds(r) for r in reset)

    def retry_after(self, response: requests.Response) -> float | None:
        """An `HttpClient.retry_after` for a 429 without Retry-After: until the used-up windows reset (Lightspeed:
        the 5-minute window, or the hour's or the day's when they are spent)."""
        left, wait = self._wait(response, 0)
        return wait if left is not None else None

    def before_request(self) -> None:
        """Called by the `HttpClient` before each request (attempts included): waits out a pause, and starts one
        when the fewest requests left that an answer in this window reported, less the requests in flight, are
        down to the reserve. Counting what is in flight keeps the pause from coming a worker's request too late,
        so the reserve needs no room for other workers."""
        while True:
            with self.lock:
                now = time.monotonic()
                self._forget_reset(now)
                if self.resume_at <= now:
                    self._pause_if_spent()
                wait = self.resume_at - now
                if wait <= 0:
                    self.sent += 1
                    self._mine.seq = self.sent
                    self.in_flight.add(self.sent)
                    return
                self.waits += 1
            self.sleep(wait)

    def _forget_reset(self, now: float) -> None:
        if self.known is not None and now >= self.known[1]:
            self.known = None  # the window it spoke of has reset

    def _pause_if_spent(self) -> None:
        """With the lock held: when the budget is down to the reserve, pause every worker until the window
        resets; answers to requests sent before then speak of the window waited out."""
        if self.known is not None and self.known[0] - len(self.in_flight) <= self.reserve:
            self.resume_at = max(self.resume_at, self.known[1] + self.pad)
            self.floor, self.known = self.sent, None

    def after_request(self) -> None:
        """Called by the `HttpClient` once a request is over, answered or not: it is no longer in flight."""
        with self.lock:
            self.in_flight.discard(getattr(self._mine, "seq", None))

    def __call__(self, response: requests.Response) -> None:
        h = self.headers
        with self.lock:
            mine = getattr(self._mine, "seq", None)  # None: called alone, without before_request
            self.in_flight.discard(mine)  # answered: what it took is in the answer's count
            others = len(self.in_flight)
        left, reset = self._wait(response, self.reserve + others)
        with self.lock:
            now = time.monotonic()
            if left is not None and reset is not None:
                self.last = {"remaining": left, "reset": reset,
                             "quota": response.headers.get(h.quota) if h.quota else None,
                             "window": response.headers.get(h.window) if h.window else None}
                fresh = mine is None or mine > self.floor  # not an answer from a window already waited out
                if response.status_code != 429 and fresh:  # a 429 waits through retry_after
                    self._forget_reset(now)
                    # Answers come back out of order: the one with the fewest left was counted last, so it and
                    # its reset stand for the window (an answer from a later window reports more, until ours resets).
                    if self.known is None or left < self.known[0]:
                        wait = min(reset, self.max_wait) if self.max_wait is not None else reset
                        self.known = (left, now + wait)
                    self._pause_if_spent()
            wait = self.resume_at - now
            if wait > 0:
                self.waits += 1
        if wait > 0:
            self.sleep(wait)


class SlidingWindow:
    """At most `limit` requests in any `window` seconds, so never over a fixed window however the server aligns it
    (e.g. Mystore's 120 requests per minute, with no rate headers). `margin`: seconds added to each wait, because
    the server's window starts when the first request arrives and ours when it was sent. An `HttpClient.limiter`
    (it calls `try_acquire`); shared by the client's threads."""

    def __init__(self, limit: int, window: float, margin: float = 0.01):
        self.limit, self.window, self.margin = limit, window, margin
        self.sent: deque[float] = deque()
        self.lock = threading.Lock()

    def try_acquire(self, _name: str = "api") -> bool:
        while True:
            with self.lock:
                now = time.monotonic()
                while self.sent and now - self.sent[0] >= self.window + self.margin:
                    self.sent.popleft()
                if len(self.sent) < self.limit:
                    self.sent.append(now)
                    return True
                wait = self.window + self.margin - (now - self.sent[0])
            time.sleep(wait)
