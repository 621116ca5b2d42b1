"""REST APIs described as data, and the small engine that reads them.

A platform's `api.py` says, per entity, what a hand-written loop would otherwise spell out: the path, fixed
params, how pages follow each other (a `Paginator`), the largest page size, where the records sit in a response
(`records`), the id field, how to ask for records changed since a time (`Since`), child resources read per
record (`Child`, e.g. a product's variations), and the mapping to the canonical shape. Shared values are given
once in `Api.defaults` and overridden per endpoint, so no endpoint repeats the paginator.

`RestReader` reads an endpoint as a stream of pages with the kit's `HttpClient` (retries, pacing, explained
failures), keeping at most `Api.concurrency` requests in flight across pages and children together.

Paginators are small classes. Sequential ones only say how the first request looks (`first`) and which request
follows a page (`next`, None at the end); ones that read several pages at once (totals known, id ranges,
WooCommerce's overlapping offset windows) override `pages`.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Iterator, Mapping, NamedTuple, Sequence
from urllib.parse import quote

import requests

from cart_pipelines.platforms.kit.http import ConnectionProblem, HttpClient, LoopGuard, json_body, json_list, \
    pages_in_order
from cart_pipelines.platforms.kit.keyset import id_range_pages, streams_in_order
from cart_pipelines.platforms.kit.source import read_record


# --- reading values out of responses -------------------------------------------------------------------------------
def dig(body: Any, path: str) -> Any:
    """`body["a"]["b"]` for path "a.b"; None where a step is missing."""
    for step in path.split(".") if path else ():
        body = body.get(step) if isinstance(body, dict) else None
    return body


def from_body(path: str) -> Callable[["Page"], Any]:
    """A value from the JSON body, e.g. `from_body("meta.pagination.total_pages")`."""
    return lambda page: dig(page.body, path)


def from_header(name: str) -> Callable[["Page"], Any]:
    """A value from a response header, e.g. `from_header("X-WP-Total")`."""
    return lambda page: page.response.headers.get(name)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def nested(params: Mapping[str, Any]) -> dict:
    """A JSON body from params whose dotted keys are paths: {"query.paging.limit": 5} → {"query": {"paging": ...}}."""
    body: dict = {}
    for key, value in params.items():
        *parents, last = key.split(".")
        node = body
        for step in parents:
            node = node.setdefault(step, {})
        node[last] = value
    return body


BODY = ""  # `Endpoint.records` for a body that is the list itself (None would take the defaults' selector)


# --- the description -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Since:
    """How an endpoint reads only records modified after a time.

    `param`: the API's filter, sent as the time in UTC formatted with `format`, with `extra` params beside it
    (WooCommerce: `modified_after` + `dates_are_gmt=true`); or `build`, a function of the time giving the params
    (a Magento searchCriteria filter group). Without either the API cannot filter: `field` names the record's own
    modification time (ISO 8601 or RFC 2822, UTC when it has no offset), compared here instead: after the time, or with
    `inclusive` at or after its whole second (as filters that take whole seconds and compare with >= do)."""

    param: str | None = None
    format: str = "%Y-%m-%dT%H:%M:%SZ"
    extra: Mapping[str, str] = field(default_factory=dict)
    field: str | None = None
    build: Callable[[datetime], dict] | None = None
    inclusive: bool = False

    @property
    def filters(self) -> bool:
        """Whether the API filters (else the records are compared here)."""
        return bool(self.param or self.build)

    def params(self, since: datetime) -> dict:
        if self.build:
            return self.build(since.astimezone(timezone.utc))
        if not self.param:
            return {}
        return {self.param: since.astimezone(timezone.utc).strftime(self.format), **self.extra}

    def keeps(self, record: dict, since: datetime) -> bool:
        """Whether a record passes the local comparison. A record with no time is left out (nothing says it
        changed); one whose time is unreadable is kept, so its mapping can quarantine it with a reason."""
        if self.filters or not self.field:
            return True
        value = record.get(self.field) if isinstance(record, dict) else None
        if not value:
            return False
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            try:  # RFC 2822, as BigCommerce's v2 API writes dates
                dt = parsedate_to_datetime(str(value))
            except (TypeError, ValueError):
                return True
        dt = dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt
        return dt >= since.replace(microsecond=0) if self.inclusive else dt > since


@dataclass(frozen=True)
class Child:
    """A resource read for each record of a page, e.g. `Child("variations", Endpoint("products/{id}/variations"),
    when=lambda p: p["type"] == "variable")`. `{field}` in the path and in string params is filled from the
    parent record, and a param that is a function is called with it. Children of one page are read in parallel;
    a child endpoint with a `Since` is filtered by the time the parent is read with (e.g. reviews under products,
    the products read whole).

    `drops_parent`: a 404 on the child means the parent was deleted after its page was listed (a BigCommerce
    order's products): the parent is left out, as it would have been had it been deleted before."""

    name: str
    endpoint: "Endpoint"
    when: Callable[[dict], bool] = lambda record: True
    drops_parent: bool = False


@dataclass(frozen=True)
class Endpoint:
    """One list of the API. Fields left None take the value of `Api.defaults`; params add to the defaults'.

    `records`: where the list is — BODY (""): the body is a JSON array, also when neither the endpoint nor the
    defaults say; "data": a key; "a.b": a path; or a function of the body.
    `missing`: what a 404 means — "error" (a wrong URL), or "empty" (an optional feature the shop does not have,
    e.g. WooCommerce brands before 9.6).
    `map`: the canonical record from (record, *children, *args).
    `id_params`: the params of the id-only listing (None: the endpoint's params), plus `Api.id_only`.
    `method`: "POST" for search APIs that take the query, page size and cursor in a JSON body (Square's
    `orders/search`, Wix queries); the params are that body, so paginators work on it unchanged. A dotted key is a
    path into the body (`"query.paging.limit": 100` sends `{"query": {"paging": {"limit": 100}}}`), so paginators
    and filters can name a nested field without knowing the rest of the body.
    `{field}` placeholders in `path`, string params and `what` are filled from a parent record (children)."""

    path: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    paginator: "Paginator | None" = None
    page_size: int | None = None
    records: str | Callable[[Any], Any] | None = None
    id_field: str | None = None
    since: Since | None = None
    children: Sequence[Child] = ()
    map: Callable[..., dict] | None = None
    missing: str | None = None
    id_params: Mapping[str, Any] | None = None
    what: str | None = None
    concurrency: int | None = None
    method: str | None = None  # None: GET with params in the query; "POST": params as the JSON body (search APIs)

    def over(self, defaults: "Endpoint") -> "Endpoint":
        """This endpoint with the defaults filled in."""
        filled = {f.name: getattr(defaults, f.name) for f in fields(self) if getattr(self, f.name) is None}
        return replace(self, **filled, params={**defaults.params, **self.params})


@dataclass(frozen=True)
class Api:
    """A platform's REST API: its name (for messages), the path under the shop URL, defaults shared by every
    endpoint, the endpoints by entity or purpose, and how many requests may be in flight at once."""

    platform: str
    base_path: str
    endpoints: Mapping[str, Endpoint]
    defaults: Endpoint = field(default_factory=Endpoint)
    concurrency: int = 1
    id_only: Mapping[str, Any] = field(default_factory=dict)  # params that trim a listing to ids
    hint: str = "is the URL the shop's API address?"  # said when a list is not a list

    def url(self, shop_url: str) -> str:
        """The API's root under a shop's address (what the HttpClient is built on)."""
        return f"{shop_url.rstrip('/')}/{self.base_path.strip('/')}".rstrip("/")

    def endpoint(self, name: str) -> Endpoint:
        if name not in self.endpoints:
            raise ValueError(f"{self.platform} has no endpoint {name!r}")
        return self.endpoints[name].over(self.defaults)


# --- pages ---------------------------------------------------------------------------------------------------------
@dataclass
class Page:
    """One response: the params (or URL) it answered, the parsed body and the records selected from it."""

    params: dict
    response: requests.Response
    body: Any
    records: list[dict]
    url: str | None = None


class Row(NamedTuple):
    record: dict
    children: dict[str, list[dict]]


@dataclass
class Listing:
    """One endpoint being read: what a paginator needs to ask for pages."""

    reader: "RestReader"
    endpoint: Endpoint
    path: str
    params: dict
    what: str

    @property
    def page_size(self) -> int:
        return self.endpoint.page_size or 100

    @property
    def concurrency(self) -> int:
        return self.endpoint.concurrency or self.reader.api.concurrency

    def id_of(self, record: dict) -> int | None:
        """The record's id as an integer, None when it has none usable (left for the mapping to quarantine)."""
        return _int(record.get(self.endpoint.id_field or "id")) if isinstance(record, dict) else None

    def fetch(self, params: dict | None = None, url: str | None = None) -> Page:
        """One request: `params` on the endpoint's path, or a whole `url` a previous page pointed to."""
        params = {k: v for k, v in (self.params if params is None else params).items() if v is not None}
        if (self.endpoint.method or "GET") == "POST" and not url:
            response = self.reader.post(self.path, nested(params), self.what)
        else:
            response = self.reader.get(url or self.path, None if url else params, self.what)
        if response.status_code == 204 or not response.content:
            return Page(params, response, None, [], url)
        selector = self.endpoint.records
        if not selector:
            records = json_list(response, self.reader.api.platform, self.what, self.reader.api.hint)
            return Page(params, response, records, records, url)
        body = json_body(response)
        records = selector(body) if callable(selector) else dig(body, selector)
        if records is None and isinstance(body, dict):
            records = []  # an empty list may be left out (e.g. `data` absent)
        if not isinstance(records, list):
            raise ConnectionProblem("bad_response", f"{self.reader.api.platform} answered {self.what} without a "
                                    f"list of records (HTTP {response.status_code}); {self.reader.api.hint}")
        return Page(params, response, body, records, url)


class Paginator:
    """How pages follow each other. Sequential paginators override `first` and `next`; the loop guard stops a
    server that sends the same next page again."""

    def first(self, listing: Listing) -> dict:
        return dict(listing.params)

    def next(self, listing: Listing, page: Page) -> dict | str | None:
        """The params (dict) or URL (str) of the request after `page`; None: it was the last."""
        return None

    def pages(self, listing: Listing) -> Iterator[list[dict]]:
        yield from self.follow(listing, listing.fetch(self.first(listing)))

    def follow(self, listing: Listing, page: Page) -> Iterator[list[dict]]:
        """`page` and the pages after it, one request at a time."""
        guard, same_records = LoopGuard(listing.what), LoopGuard(listing.what)
        while True:
            ends = (listing.id_of(page.records[0]), listing.id_of(page.records[-1])) if page.records else None
            if ends and None not in ends:
                same_records.check(ends)  # a server that ignores the page param sends the first page again
            yield page.records
            after = self.next(listing, page)
            if after is None:
                return
            guard.check(after if isinstance(after, str) else tuple(sorted(map(str, after.items()))))
            page = listing.fetch(url=after) if isinstance(after, str) else listing.fetch(after)


class Single(Paginator):
    """The whole list in one response (no paging), e.g. WooCommerce tax classes."""


class PageNumber(Paginator):
    """`page=1, 2, ...` with `size_param` records each. With a total (`total_pages`, or `total` records) in the
    first response, the other pages are read in parallel; without, one at a time until a short or empty page."""

    def __init__(self, param: str = "page", size_param: str = "per_page", start: int = 1,
                 total_pages: Callable[[Page], Any] | None = None, total: Callable[[Page], Any] | None = None):
        self.param, self.size_param, self.start = param, size_param, start
        self.total_pages, self.total = total_pages, total

    def first(self, listing: Listing) -> dict:
        return {**listing.params, self.size_param: listing.page_size, self.param: self.start}

    def next(self, listing: Listing, page: Page) -> dict | None:
        if len(page.records) < listing.page_size:
            return None
        return {**page.params, self.param: int(page.params[self.param]) + 1}

    def _count(self, listing: Listing, page: Page) -> int | None:
        if self.total_pages:
            return _int(self.total_pages(page))
        count = _int(self.total(page)) if self.total else None
        return None if count is None else math.ceil(count / listing.page_size)

    def pages(self, listing: Listing) -> Iterator[list[dict]]:
        first = listing.fetch(self.first(listing))
        count = self._count(listing, first)
        if count is None:
            yield from self.follow(listing, first)
            return
        yield first.records
        later = range(self.start + 1, self.start + count)
        yield from pages_in_order(lambda n: listing.fetch({**first.params, self.param: n}).records, later,
                                  listing.concurrency)


class Offset(Paginator):
    """`offset=0, n, 2n, ...`; with a `total` in the first response the rest are read in parallel. `start`: the
    offset of the first record (1 where the API counts records from one, e.g. Shift4Shop)."""

    def __init__(self, param: str = "offset", size_param: str = "limit", total: Callable[[Page], Any] | None = None,
                 start: int = 0):
        self.param, self.size_param, self.total, self.start = param, size_param, total, start

    def first(self, listing: Listing) -> dict:
        return {**listing.params, self.size_param: listing.page_size, self.param: self.start}

    def next(self, listing: Listing, page: Page) -> dict | None:
        if len(page.records) < listing.page_size:
            return None
        return {**page.params, self.param: int(page.params[self.param]) + listing.page_size}

    def pages(self, listing: Listing) -> Iterator[list[dict]]:
        if not self.total:
            yield from super().pages(listing)
            return
        first = listing.fetch(self.first(listing))
        yield first.records
        total = _int(self.total(first)) or 0
        later = range(self.start + listing.page_size, self.start + total, listing.page_size)
        yield from pages_in_order(lambda o: listing.fetch({**first.params, self.param: o}).records, later,
                                  listing.concurrency)


class OverlappingOffset(Paginator):
    """Offset pages ordered by id in overlapping windows, so records added or deleted meanwhile neither repeat nor
    slip past unread (WooCommerce's lists have only offset/page paging).

    Offset paging shifts when records are added or deleted meanwhile. Windows of a page start every
    page - `overlap` records, so each shares its first ids with the one before: a record added before a window
    shifts one already read into it (skipped by id); records deleted before a window shift an unread one out of
    reach — then the window no longer reaches back to the last id read, and is read again from further back until
    it does. The `total` from the first window lets the rest run in parallel; a full last window is followed by
    another, so records added meanwhile are read too."""

    def __init__(self, overlap: int, total: Callable[[Page], Any], param: str = "offset",
                 size_param: str = "per_page", order: Mapping[str, str] | None = None):
        self.overlap, self.total, self.param, self.size_param = overlap, total, param, size_param
        self.order = dict(order or {})  # the params that sort by id ascending

    def pages(self, listing: Listing) -> Iterator[list[dict]]:
        size, what, id_of = listing.page_size, listing.what, listing.id_of
        base = {**self.order, **listing.params, self.size_param: size}
        step = size - self.overlap
        last_id = 0

        def fetch(offset: int) -> tuple[int, list[dict]]:
            return offset, listing.fetch({**base, self.param: offset}).records

        def reaching_back(offset: int, items: list[dict]) -> tuple[int, list[dict]]:
            while offset > 0 and last_id and (not items or (id_of(items[0]) or 0) > last_id):
                offset, items = fetch(max(0, offset - step))
            return offset, items

        def fresh(items: list[dict]) -> list[dict]:
            nonlocal last_id
            # A record already read comes again: skip it. One without a usable id is passed on, for the mapping
            # to quarantine with a reason.
            new = [r for r in items if id_of(r) is None or id_of(r) > last_id]
            last_id = max([last_id] + [i for i in map(id_of, new) if i is not None])
            return new

        first = listing.fetch({**base, self.param: 0})
        total = _int(self.total(first)) or 0
        offset, items = 0, first.records
        if new := fresh(items):
            yield new
        later = range(step, max(total - self.overlap, 0), step)
        for offset, items in pages_in_order(fetch, later, listing.concurrency):
            offset, items = reaching_back(offset, items)
            if new := fresh(items):
                yield new
        while len(items) >= size:  # a full last window: records may have been added while reading
            before = last_id
            offset, items = reaching_back(*fetch(offset + step))
            if new := fresh(items):
                yield new
            elif len(items) >= size and last_id == before:
                raise ConnectionProblem("bad_response", f"pagination of {what} repeated a page (offset {offset}); "
                                        f"stopping instead of reading the same records forever")


class Cursor(Paginator):
    """An opaque token from each response (`token`) sent back as `param`; no token: the last page. `alone`: the
    token is sent without the first request's params (APIs whose cursor carries the filters and refuses them
    beside it, e.g. Squarespace)."""

    def __init__(self, token: Callable[[Page], Any], param: str = "cursor", size_param: str | None = "limit",
                 alone: bool = False):
        self.token, self.param, self.size_param, self.alone = token, param, size_param, alone

    def first(self, listing: Listing) -> dict:
        return {**listing.params, **({self.size_param: listing.page_size} if self.size_param else {})}

    def next(self, listing: Listing, page: Page) -> dict | None:
        token = self.token(page)
        return ({} if self.alone else {**page.params}) | {self.param: token} if token else None


class LinkHeader(Paginator):
    """The next page's URL in the `Link: <...>; rel="next"` header (RFC 8288), e.g. Shopify REST or WordPress."""

    def __init__(self, rel: str = "next", size_param: str | None = "limit"):
        self.rel, self.size_param = rel, size_param

    def first(self, listing: Listing) -> dict:
        return {**listing.params, **({self.size_param: listing.page_size} if self.size_param else {})}

    def next(self, listing: Listing, page: Page) -> str | None:
        return (page.response.links.get(self.rel) or {}).get("url") or None


class JsonLink(Paginator):
    """The next page's URL in the body, JSON:API style (`links.next`)."""

    def __init__(self, path: str = "links.next", size_param: str | None = "page[size]"):
        self.path, self.size_param = path, size_param

    def first(self, listing: Listing) -> dict:
        return {**listing.params, **({self.size_param: listing.page_size} if self.size_param else {})}

    def next(self, listing: Listing, page: Page) -> str | None:
        url = dig(page.body, self.path)
        return url if isinstance(url, str) and url else None


Bounds = Callable[[int | None, int | None, dict], dict]  # (after, below, params) -> params with the id filter


class IdRanges(Paginator):
    """Keyset pages by id (`kit/keyset.py`): each request asks for ids after the last one read, sorted by id, so
    nothing shifts while the shop changes. With a `total` in the first response and a way to ask for the highest
    id (`highest`: params of a one-record request sorted by id descending), the ids are cut into ranges read in
    parallel; otherwise one request at a time.

    `bounds(after, below, params)` writes the id filter in the API's own words: use `IdRanges.strict` for
    exclusive bounds (BigCommerce v3 `id:greater`/`id:less`), `IdRanges.inclusive` for inclusive ones (v2
    `min_id`/`max_id`, which keep a caller's own bounds), or a function (Magento searchCriteria groups)."""

    def __init__(self, bounds: Bounds, size_param: str = "limit", total: Callable[[Page], Any] | None = None,
                 highest: Mapping[str, Any] | None = None, ascending_check: bool = False):
        self.bounds, self.size_param, self.total = bounds, size_param, total
        self.highest, self.ascending_check = highest, ascending_check

    @staticmethod
    def strict(greater: str, less: str) -> Bounds:
        return lambda after, below, params: {**params, **({greater: after} if after is not None else {}),
                                             **({less: below} if below is not None else {})}

    @staticmethod
    def inclusive(low: str, high: str) -> Bounds:
        def bounds(after, below, params):
            out = dict(params)
            if after is not None:
                out[low] = max(after + 1, _int(params.get(low)) or 0)
            if below is not None:
                out[high] = min(below - 1, _int(params.get(high)) or below - 1)
            return out
        return bounds

    def pages(self, listing: Listing) -> Iterator[list[dict]]:
        base = {**listing.params, self.size_param: listing.page_size}

        def fetch(after: int | None, below: int | None) -> tuple[list[dict], int | None]:
            page = listing.fetch(self.bounds(after, below, base))
            ids = [listing.id_of(r) for r in page.records]
            if self.ascending_check and any(a is None or b is None or a >= b for a, b in zip(ids, ids[1:])):
                raise ConnectionProblem("bad_response", f"{listing.what}: {listing.reader.api.platform} listed ids "
                                        f"out of ascending order, so reading after the last id could miss records; "
                                        f"stopping")
            return page.records, (_int(self.total(page)) if self.total else None)

        def highest() -> int | None:
            top = listing.fetch({**base, **self.highest}).records
            return listing.id_of(top[0]) if top else None

        parallel = self.total is not None and self.highest is not None
        yield from id_range_pages(fetch, highest if parallel else lambda: None, listing.page_size,
                                  listing.concurrency if parallel else 1, listing.id_of, listing.what)


class TimeKeyset(Paginator):
    """Keyset on a record time the API sorts by and filters with an inclusive lower bound, e.g. BigCommerce
    customers (`sort=date_created:asc`, `date_created:min`): each request starts at the last time read and drops
    the ids already read at it, so deleting read records moves nothing past the reader and records created
    meanwhile come last. A page all inside one time value goes on by page number within it. `field` is the
    record's time, sent back as `param` as it came.

    With a `total` in the first response and `latest` (params of a one-record request sorted newest first), the
    times between the first page's last and the newest are cut into spans expected to hold √pages pages each,
    read `concurrency` at a time (`streams_in_order`), in time order. Each span starts at its own time and stops at
    the first record at or after the next span's start (the rest of that page is the next span's), so no upper
    filter is needed; the last span is open, so records created meanwhile are read too. Cost against one reader:
    the newest-record request, plus one per span that held more than a page. Times that cannot be read (or no
    total) leave it to one reader."""

    SPAN_PAGES = 4

    def __init__(self, param: str, field: str, page_param: str = "page", size_param: str = "limit",
                 total: Callable[[Page], Any] | None = None, latest: Mapping[str, Any] | None = None):
        self.param, self.field, self.page_param, self.size_param = param, field, page_param, size_param
        self.total, self.latest = total, latest

    def _time(self, record) -> datetime | None:
        value = record.get(self.field) if isinstance(record, dict) else None
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
        except ValueError:
            return None
        return (dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt) if dt else None

    def span_count(self, pages: int, concurrency: int) -> int:
        """Spans for `pages` pages after the first. Each span costs about one request more than its records need
        (the rest of its last page, and its first records read again at the next span's start), so a span holds
        about √pages pages (at least SPAN_PAGES), and that cost falls as a share while the store grows: at 2,304
        pages (576k customers) 48 spans instead of 576, which had cost 14 % of the requests. Times fall unevenly
        (shops grow), so spans are never fewer than two per worker: every worker stays busy to the end."""
        per_span = max(self.SPAN_PAGES, math.isqrt(pages))
        return min(pages, max(2 * concurrency, math.ceil(pages / per_span)))

    def _span(self, listing: Listing, base: dict, since, seen: set, rows: list[dict] | None = None,
              page: int = 1, until: datetime | None = None) -> Iterator[list[dict]]:
        """Records from `since` (ids in `seen` already read at it) on, up to the first at or after `until`.
        `rows`: the answer to the first request, when it was already made."""
        guard = LoopGuard(listing.what)
        while True:
            if rows is None:
                rows = listing.fetch({**base, **({self.param: since} if since else {}),
                                      self.page_param: page}).records
            kept = [r for r in rows if listing.id_of(r) not in seen]
            if until is not None:
                cut = next((k for k, r in enumerate(kept) if (t := self._time(r)) is not None and t >= until), None)
                if cut is not None:
                    yield kept[:cut]
                    return
            yield kept
            if len(rows) < listing.page_size:
                return
            guard.check((since, listing.id_of(rows[0]), listing.id_of(rows[-1])))  # a server ignoring the params
            last = rows[-1].get(self.field)
            if last == since:
                page += 1
            else:
                since, seen, page = last, set(), 1
            seen.update(listing.id_of(r) for r in rows if r.get(self.field) == since)
            rows = None

    def _cuts(self, listing: Listing, base: dict, first: Page) -> list[datetime] | None:
        """Span starts after the first page, or None where one reader is better (or the only way)."""
        if self.total is None or self.latest is None or listing.concurrency <= 1:
            return None
        total, rows = _int(self.total(first)), first.records
        pages = math.ceil((total - len(rows)) / listing.page_size) if total else 0
        if pages < 2:
            return None
        spans = self.span_count(pages, listing.concurrency)
        newest = listing.fetch({**base, **self.latest}).records
        low, high = self._time(rows[-1]), self._time(newest[0]) if newest else None
        if low is None or high is None or high <= low:
            return None
        width = (high - low) / spans
        cuts = sorted({(low + width * j).replace(microsecond=0) for j in range(1, spans)} - {low.replace(microsecond=0)})
        return [c for c in cuts if c > low] or None

    def pages(self, listing: Listing) -> Iterator[list[dict]]:
        base = {**listing.params, self.size_param: listing.page_size}
        since = base.get(self.param)
        first = listing.fetch({**base, **({self.param: since} if since else {}), self.page_param: 1})
        rows = first.records
        cuts = self._cuts(listing, base, first) if len(rows) >= listing.page_size else None
        if cuts is None:
            yield from self._span(listing, base, since, set(), rows)
            return
        yield rows
        last = rows[-1].get(self.field)
        seen = {listing.id_of(r) for r in rows if r.get(self.field) == last}
        starts = [c.isoformat() for c in cuts]
        spans = [lambda: self._span(listing, base, last, seen, until=cuts[0])]
        spans += [lambda k=k: self._span(listing, base, starts[k], set(), until=cuts[k + 1] if k + 1 < len(cuts)
                                         else None) for k in range(len(cuts))]
        yield from streams_in_order(spans, listing.concurrency)


def search_criteria(filters: Sequence[tuple[str, Any, str]] = (), *, group: int = 0, page_size: int | None = None,
                    page: int | None = None, sort: str | None = None, direction: str = "ASC") -> dict:
    """Magento-style `searchCriteria` query params. Each filter (field, value, condition) is its own filter group,
    numbered from `group` (groups are ANDed); `next_group(params)` gives the first free number."""
    params: dict = {}
    if page_size is not None:
        params["searchCriteria[pageSize]"] = page_size
    if page is not None:
        params["searchCriteria[currentPage]"] = page
    for g, (name, value, condition) in enumerate(filters, start=group):
        prefix = f"searchCriteria[filter_groups][{g}][filters][0]"
        params.update({f"{prefix}[field]": name, f"{prefix}[value]": value, f"{prefix}[condition_type]": condition})
    if sort:
        params.update({"searchCriteria[sortOrders][0][field]": sort,
                       "searchCriteria[sortOrders][0][direction]": direction})
    return params


def next_group(params: Mapping[str, Any]) -> int:
    groups = [int(m.group(1)) for k in params if (m := re.match(r"searchCriteria\[filter_groups\]\[(\d+)\]", k))]
    return max(groups, default=-1) + 1


# --- the engine ----------------------------------------------------------------------------------------------------
def _fill(value, record: dict):
    """A param filled from a parent record: `{field}` placeholders in a string, or a function of the record (a
    value no single field holds, e.g. the SKUs of a Magento grouped product's links joined for an `in` filter)."""
    if callable(value):
        return value(record)
    return value.format(**record) if isinstance(value, str) and "{" in value else value


class _Quoted(dict):
    """A record whose values fill a URL path percent-encoded: a Magento SKU "T-shirt / blue" is one segment."""

    def __getitem__(self, key):
        return quote(str(super().__getitem__(key)), safe="")


def _fill_path(path: str, record: dict) -> str:
    return path.format_map(_Quoted(record)) if "{" in path else path


class RestReader:
    """Reads the endpoints of one `Api` through one `HttpClient`. At most `api.concurrency` requests are in flight
    across everything it reads (pages read ahead and children share the slots)."""

    def __init__(self, api: Api, client: HttpClient, verify: bool | str = True):
        self.api, self.client, self.verify = api, client, verify
        self._slots = threading.BoundedSemaphore(max(1, api.concurrency))

    def get(self, path: str, params: dict | None = None, what: str = "") -> requests.Response:
        # `verify` goes with each request: requests lets REQUESTS_CA_BUNDLE override a session's own CA file.
        with self._slots:
            return self.client.request("GET", path, what=what or path, params=params, verify=self.verify)

    def post(self, path: str, body: dict, what: str = "") -> requests.Response:
        """A read sent as POST with a JSON body (a search API); retried like a GET, since it changes nothing."""
        with self._slots:
            return self.client.request("POST", path, what=what or path, json=body, verify=self.verify)

    def _endpoint(self, endpoint: str | Endpoint) -> Endpoint:
        return self.api.endpoint(endpoint) if isinstance(endpoint, str) else endpoint.over(self.api.defaults)

    def pages(self, endpoint: str | Endpoint, params: dict | None = None, since: datetime | None = None,
              what: str = "", parent: dict | None = None, ids_only: bool = False) -> Iterator[list[dict]]:
        """Pages of raw records. `params` add to (or replace) the endpoint's; `since` applies its `Since`;
        `parent` fills `{field}` placeholders; `ids_only` reads the id-only listing."""
        ep = self._endpoint(endpoint)
        base = dict(ep.id_params if ids_only and ep.id_params is not None else ep.params)
        if ids_only:
            base.update(self.api.id_only)
        if since is not None and ep.since:
            base.update(ep.since.params(since))
        base.update(params or {})
        if parent is not None:
            base = {k: _fill(v, parent) for k, v in base.items()}
        listing = Listing(self, ep, _fill_path(ep.path, parent or {}), base,
                          what or _fill(ep.what, parent or {}) or ep.path)
        pages = (ep.paginator or Single()).pages(listing)
        local = since is not None and ep.since is not None and not ep.since.filters and not ids_only
        try:
            for page in pages:
                yield [r for r in page if ep.since.keeps(r, since)] if local else page
        except ConnectionProblem as exc:
            if ep.missing == "empty" and exc.kind == "not_found":
                return
            raise

    def all(self, endpoint: str | Endpoint, params: dict | None = None, **kwargs) -> list[dict]:
        return [r for page in self.pages(endpoint, params, **kwargs) for r in page]

    def rows(self, endpoint: str | Endpoint, params: dict | None = None, since: datetime | None = None,
             what: str = "") -> Iterator[list[Row]]:
        """Pages of records with their children, the children of one page read in parallel."""
        ep = self._endpoint(endpoint)
        gone = object()  # a child's answer for a parent deleted meanwhile (Child.drops_parent)

        def read(child: Child, parent: dict):
            try:
                return self.all(child.endpoint, parent=parent, since=since)
            except ConnectionProblem as exc:
                if child.drops_parent and exc.kind == "not_found":
                    return gone
                raise

        for page in self.pages(ep, params, since, what):
            found: dict[str, dict[int, list[dict]]] = {}
            dropped: set[int] = set()
            for child in ep.children:
                wanted = [k for k, r in enumerate(page) if isinstance(r, dict) and k not in dropped and child.when(r)]
                answers = pages_in_order(lambda k, c=child: read(c, page[k]), wanted,
                                         ep.concurrency or self.api.concurrency)
                found[child.name] = dict(zip(wanted, answers))
                dropped.update(k for k, rows in found[child.name].items() if rows is gone)
            yield [Row(r, {c.name: found[c.name].get(k, []) for c in ep.children})
                   for k, r in enumerate(page) if k not in dropped]

    def records(self, endpoint: str, params: dict | None = None, since: datetime | None = None,
                args: tuple = ()) -> Iterator[dict]:
        """Canonical records: each row through the endpoint's `map(record, *children, *args)`; a record the
        mapping cannot read becomes a quarantine marker (`read_record`)."""
        ep = self._endpoint(endpoint)
        if ep.map is None:
            raise ValueError(f"{self.api.platform} endpoint {endpoint!r} has no mapping")
        for page in self.rows(ep, params, since):
            for row in page:
                yield read_record(self.api.platform, endpoint, ep.map, row.record,
                                  *(row.children[c.name] for c in ep.children), *args, id_field=ep.id_field or "id")

    def ids(self, endpoint: str) -> Iterator[str]:
        """Every id of the endpoint's list, from its id-only listing."""
        key = self._endpoint(endpoint).id_field or "id"
        return (str(r[key]) for page in self.pages(endpoint, ids_only=True, what=f"{endpoint} ids") for r in page)
