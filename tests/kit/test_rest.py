"""The declarative REST kit (kit/rest.py, kit/auth.py) against real HTTP: a tiny loopback server speaking each
paging style as the APIs that use it document it, and the platform emulators for the auth kinds and the paging
BigCommerce and Magento will be described with."""

from __future__ import annotations

import base64
import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.auth import BearerToken, HeaderKey, HTTPBasicAuth, OAuth1OneLegged
from cart_pipelines.platforms.kit.emulator import Knobs
from cart_pipelines.platforms.kit.http import ConnectionProblem, Explainer, HttpClient, HttpSettings
from cart_pipelines.platforms.kit.rest import (
    BODY,
    Api,
    Child,
    Cursor,
    Endpoint,
    IdRanges,
    JsonLink,
    LinkHeader,
    Offset,
    OverlappingOffset,
    PageNumber,
    RestReader,
    Since,
    Single,
    TimeKeyset,
    _fill_path,
    from_body,
    from_header,
    next_group,
    search_criteria,
)

FAST = HttpSettings(timeout=5, max_attempts=3, max_backoff=0.05)


# --- a tiny shop: records 1..n, listed in the paging styles APIs use -----------------------------------------------
class Shop:
    def __init__(self, n: int):
        self.records = {i: {"id": i, "name": f"r{i}", "modified": f"2024-01-{1 + i % 28:02d}T00:00:00"}
                        for i in range(1, n + 1)}
        self.requests: list[tuple[str, dict, dict]] = []  # (path, query, headers)
        self.gone: set[int] = set()  # parents whose sub-resources answer 404 (deleted after being listed)
        self.after_request = lambda path, query: None
        self.lock = threading.Lock()

    def ordered(self) -> list[dict]:
        return [self.records[i] for i in sorted(self.records)]


def _answer(shop: Shop, path: str, q: dict, base: str):
    """(status, headers, body) for one request."""
    rows = shop.ordered()
    if "since" in q:
        rows = [r for r in rows if r["modified"] > q["since"]]
    if path == "/single":
        return 200, {}, rows
    if path == "/numbered":  # ?page=&per_page=, totals in the body (BigCommerce v3 style)
        size, page = int(q["per_page"]), int(q["page"])
        pages = -(-len(rows) // size)
        return 200, {}, {"data": rows[(page - 1) * size: page * size],
                         "meta": {"pagination": {"total": len(rows), "total_pages": pages}}}
    if path == "/offset":  # ?offset=&limit=, X-Total header
        size, offset = int(q["limit"]), int(q["offset"])
        return 200, {"X-Total": str(len(rows))}, rows[offset: offset + size]
    if path == "/offset1":  # ?offset=&limit= counting records from 1 (Shift4Shop), no total
        size, offset = int(q["limit"]), int(q["offset"])
        return 200, {}, rows[offset - 1: offset - 1 + size]
    if path == "/wp":  # WordPress: ?offset=&per_page=&orderby=id&order=asc, X-WP-Total
        assert q.get("orderby") == "id" and q.get("order") == "asc"
        size, offset = int(q["per_page"]), int(q["offset"])
        return 200, {"X-WP-Total": str(len(rows))}, rows[offset: offset + size]
    if path == "/by-created":  # sort=created:asc, created:min (inclusive), page, limit (BigCommerce customers)
        assert q.get("sort") == "created:asc"
        order = sorted((r for r in rows if r["created"] >= q.get("created:min", "")),
                       key=lambda r: (r["created"], r["id"]))
        size, page = int(q["limit"]), int(q["page"])
        return 200, {}, {"data": order[(page - 1) * size: page * size]}
    if path == "/ignores-page":
        return 200, {}, rows[:5]
    if path == "/cursor":  # ?cursor=<last id>&limit=
        after, size = int(q.get("cursor") or 0), int(q["limit"])
        page = [r for r in rows if r["id"] > after][:size]
        more = page and page[-1]["id"] < rows[-1]["id"]
        return 200, {}, {"items": page, "next": str(page[-1]["id"]) if more else None}
    if path == "/sole-cursor":  # Squarespace: the cursor carries the filters and is refused beside any other param
        if "cursor" in q and len(q) > 1:
            return 400, {}, {"type": "INVALID_REQUEST_ERROR", "message": "cursor cannot be used with other params"}
        after, since = (q["cursor"].split("|") if "cursor" in q else ("0", q.get("since", "")))
        page = [r for r in shop.ordered() if r["id"] > int(after) and r["modified"] > since][:4]
        more = bool(page) and any(r["id"] > page[-1]["id"] and r["modified"] > since for r in shop.ordered())
        return 200, {}, {"items": page, "next": f"{page[-1]['id']}|{since}" if more else None}
    if path == "/stuck-cursor":
        return 200, {}, {"items": rows[:2], "next": "same"}
    if path in ("/link", "/jsonapi"):  # page numbers the client never builds: it follows the URLs given
        size = int(q.get("limit") or q.get("page[size]"))
        page = int(q.get("page") or q.get("page[number]") or 1)
        chunk = rows[(page - 1) * size: page * size]
        more = page * size < len(rows)
        nxt = f"{base}{path}?" + urlencode({**q, ("page" if path == "/link" else "page[number]"): page + 1})
        if path == "/link":
            return 200, ({"Link": f'<{nxt}>; rel="next"'} if more else {}), chunk
        return 200, {}, {"data": chunk, "links": {"next": nxt if more else None}}
    if path == "/keyset":  # id:greater / id:less (strict), direction, limit; total in meta
        ids = [r for r in rows if r["id"] > int(q.get("id:greater", 0)) and r["id"] < int(q.get("id:less", 10**9))]
        if q.get("direction") == "desc":
            ids = ids[::-1]
        return 200, {}, {"data": ids[: int(q["limit"])], "meta": {"pagination": {"total": len(ids)}}}
    if path == "/v2":  # min_id / max_id (inclusive), 204 No Content past the end
        ids = [r for r in rows if int(q.get("min_id", 0)) <= r["id"] <= int(q.get("max_id", 10**9))]
        page = ids[: int(q["limit"])]
        return (200, {}, page) if page else (204, {}, None)
    if path.startswith("/items/") and path.endswith("/subs"):
        parent = int(path.split("/")[2])
        if parent in shop.gone:
            return 404, {}, [{"status": 404, "message": "The requested resource was not found."}]
        if "since" in q:  # the sub-records all date from their parent's time
            return 200, {}, [] if shop.records[parent]["modified"] <= q["since"] else \
                [{"id": parent * 100, "of": parent}]
        return 200, {}, [{"id": parent * 100 + k, "of": parent} for k in range(parent % 3)]
    return 404, {}, {"code": "rest_no_route", "message": "No route was found matching the URL and request method."}


@pytest.fixture
def server():
    shops: list[Shop] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            parts = urlsplit(self.path)
            self.answer(parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)))

        def do_POST(self):  # a search API: the query is the JSON body (values as text, like a query string)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            self.answer(urlsplit(self.path).path, {k: str(v) for k, v in body.items()}, json.dumps(body))

        def answer(self, path, q, raw=None):
            shop = shops[0]
            parts = urlsplit(path)
            if raw is not None:
                q["_body"] = raw
            with shop.lock:
                shop.requests.append((parts.path, q, dict(self.headers)))
                status, headers, body = _answer(shop, parts.path, q, base)
                shop.after_request(parts.path, q)  # changes the shop before the client can ask again
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for k, v in {**headers, "Content-Type": "application/json", "Content-Length": str(len(data))}.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{httpd.server_port}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()

    def start(n: int = 23, auth=None, **api) -> tuple[Shop, RestReader]:
        shops[:] = [Shop(n)]
        described = Api(platform="Tiny", base_path="", concurrency=api.pop("concurrency", 3),
                        endpoints=api.pop("endpoints", {}), defaults=api.pop("defaults", Endpoint(page_size=5)), **api)
        client = HttpClient(base, Explainer("Tiny"), settings=FAST, auth=auth)
        return shops[0], RestReader(described, client)

    yield start
    httpd.shutdown()
    httpd.server_close()


def ids(pages) -> list[int]:
    return [r["id"] for page in pages for r in page]


# --- paginators ----------------------------------------------------------------------------------------------------
def test_single_response(server):
    shop, reader = server(7)
    assert ids(reader.pages(Endpoint("single", paginator=Single()))) == list(range(1, 8))
    assert len(shop.requests) == 1


@pytest.mark.parametrize("n", [0, 4, 5, 23])
def test_page_number_with_totals_reads_the_rest_in_parallel_and_in_order(server, n):
    shop, reader = server(n)
    ep = Endpoint("numbered", records="data",
                  paginator=PageNumber(total_pages=from_body("meta.pagination.total_pages")))
    assert ids(reader.pages(ep)) == list(range(1, n + 1))
    assert len(shop.requests) == max(1, -(-n // 5))  # no request past the last page


def test_page_number_without_totals_stops_at_a_short_page(server):
    shop, reader = server(10)
    assert ids(reader.pages(Endpoint("numbered", records="data", paginator=PageNumber()))) == list(range(1, 11))
    assert [q["page"] for _, q, _ in shop.requests] == ["1", "2", "3"]  # page 3 is empty: 10 is a multiple of 5


def test_offset_with_total_header(server):
    shop, reader = server(12)
    assert ids(reader.pages(Endpoint("offset", paginator=Offset(total=from_header("X-Total"))))) == list(range(1, 13))
    assert sorted(int(q["offset"]) for _, q, _ in shop.requests) == [0, 5, 10]


@pytest.mark.parametrize("n", [0, 4, 10, 12])
def test_offset_counting_from_one(server, n):
    shop, reader = server(n)
    assert ids(reader.pages(Endpoint("offset1", paginator=Offset(start=1)))) == list(range(1, n + 1))
    assert [int(q["offset"]) for _, q, _ in shop.requests][:2] == [1, 6][:len(shop.requests)]


def test_cursor_and_its_loop_guard(server):
    shop, reader = server(11)
    ep = Endpoint("cursor", records="items", paginator=Cursor(token=from_body("next")))
    assert ids(reader.pages(ep)) == list(range(1, 12))
    with pytest.raises(ConnectionProblem, match="repeated a page") as exc:
        list(reader.pages(Endpoint("stuck-cursor", records="items", paginator=Cursor(token=from_body("next")))))
    assert exc.value.kind == "bad_response"


def test_cursor_sent_alone_keeps_the_first_requests_filter(server):
    shop, reader = server(11)
    ep = Endpoint("sole-cursor", records="items", paginator=Cursor(token=from_body("next"), size_param=None,
                                                                  alone=True))
    assert ids(reader.pages(ep)) == list(range(1, 12))
    since = "2024-01-05T00:00:00"
    assert ids(reader.pages(ep, {"since": since})) == [r["id"] for r in shop.ordered() if r["modified"] > since]
    assert all(list(q) == ["cursor"] for _, q, _ in shop.requests if "cursor" in q)


def test_cursor_in_a_post_body(server):
    """A search API (Square's orders/search): the params, page size and cursor travel as the JSON body."""
    shop, reader = server(11)
    ep = Endpoint("cursor", records="items", method="POST", params={"query": {"sort": "id"}},
                  paginator=Cursor(token=from_body("next")))
    assert ids(reader.pages(ep)) == list(range(1, 12))
    bodies = [json.loads(q["_body"]) for _, q, _ in shop.requests]
    assert bodies[0] == {"query": {"sort": "id"}, "limit": 5}
    assert bodies[1] == {"query": {"sort": "id"}, "limit": 5, "cursor": "5"}
    assert len(bodies) == 3


def test_dotted_params_nest_in_a_post_body(server):
    """Wix queries nest filter and paging (`{"query": {"filter": ..., "paging": ...}}`): dotted keys are paths."""
    shop, reader = server(7)
    ep = Endpoint("cursor", records="items", method="POST", params={"query.sort": "id", "query.filter.a": 1},
                  paginator=Cursor(token=from_body("next")))
    assert ids(reader.pages(ep)) == list(range(1, 8))
    bodies = [json.loads(q["_body"]) for _, q, _ in shop.requests]
    assert bodies[0] == {"query": {"sort": "id", "filter": {"a": 1}}, "limit": 5}
    assert bodies[1]["cursor"] == "5" and bodies[1]["query"] == {"sort": "id", "filter": {"a": 1}}


def test_link_header_and_json_api_links_next(server):
    shop, reader = server(13)
    assert ids(reader.pages(Endpoint("link", paginator=LinkHeader()))) == list(range(1, 14))
    assert ids(reader.pages(Endpoint("jsonapi", records="data", paginator=JsonLink()))) == list(range(1, 14))


def test_id_ranges_strict_bounds_in_parallel(server):
    shop, reader = server(47)
    ep = Endpoint("keyset", records="data", paginator=IdRanges(
        IdRanges.strict("id:greater", "id:less"), total=from_body("meta.pagination.total"),
        highest={"direction": "desc", "limit": 1}, ascending_check=True))
    assert ids(reader.pages(ep)) == list(range(1, 48))
    assert any(q.get("direction") == "desc" for _, q, _ in shop.requests)  # the highest id, for the ranges
    assert any("id:less" in q for _, q, _ in shop.requests)


def test_id_ranges_inclusive_min_id_keeps_the_callers_bounds_and_ends_at_204(server):
    shop, reader = server(17)
    ep = Endpoint("v2", paginator=IdRanges(IdRanges.inclusive("min_id", "max_id")))
    assert ids(reader.pages(ep)) == list(range(1, 18))
    assert ids(reader.pages(ep, {"min_id": 4, "max_id": 12})) == list(range(4, 13))
    assert all(int(q.get("min_id", 4)) >= 4 for _, q, _ in shop.requests[-3:])


def test_overlapping_offset_windows_survive_deletes_and_inserts_while_reading(server):
    shop, reader = server(40, concurrency=1)
    ep = Endpoint("wp", page_size=10, paginator=OverlappingOffset(
        3, total=from_header("X-WP-Total"), order={"orderby": "id", "order": "asc"}))
    changed = []

    def churn(path, q):  # after the first window: delete four records already read, add one at the end
        if not changed:
            changed.append(True)
            for i in (1, 2, 3, 4):
                shop.records.pop(i)
            shop.records[41] = {"id": 41, "name": "new", "modified": "2024-02-01T00:00:00"}
    shop.after_request = churn
    read = ids(reader.pages(ep))
    assert read == sorted(set(read)) and set(range(5, 42)) <= set(read)  # none twice, none missed


def test_since_as_a_filter_param_and_compared_locally(server):
    shop, reader = server(30)
    since = datetime(2024, 1, 20, tzinfo=timezone.utc)
    by_param = Endpoint("single", paginator=Single(), since=Since("since", "%Y-%m-%dT%H:%M:%S"))
    local = Endpoint("single", paginator=Single(), since=Since(field="modified"))
    expected = [r["id"] for r in shop.ordered() if r["modified"] > "2024-01-20T00:00:00"]
    assert ids(reader.pages(by_param, since=since)) == expected
    assert shop.requests[-1][1]["since"] == "2024-01-20T00:00:00"
    assert ids(reader.pages(local, since=since)) == expected and "since" not in shop.requests[-1][1]
    built = Endpoint("single", paginator=Single(),
                     since=Since(build=lambda dt: {"since": dt.strftime("%Y-%m-%dT%H:%M:%S")}))
    assert ids(reader.pages(built, since=since)) == expected


def test_children_mapping_and_a_missing_optional_route(server):
    shop, reader = server(6, endpoints={
        "items": Endpoint("single", paginator=Single(), map=lambda r, subs, tag: {
            "source_id": str(r["id"]), "subs": [s["id"] for s in subs], "tag": tag},
            children=(Child("subs", Endpoint("items/{id}/subs", paginator=Single()), when=lambda r: r["id"] != 5),)),
        "brands": Endpoint("no/such/route", paginator=Single(), missing="empty")})
    out = list(reader.records("items", args=("x",)))
    assert [(o["source_id"], o["subs"]) for o in out] == [
        ("1", [100]), ("2", [200, 201]), ("3", []), ("4", [400]), ("5", []), ("6", [])]
    assert all(o["tag"] == "x" for o in out)
    assert not any(p == "/items/5/subs" for p, _, _ in shop.requests)
    assert reader.all("brands") == []
    with pytest.raises(ConnectionProblem) as exc:
        reader.all(Endpoint("no/such/route", paginator=Single()))
    assert exc.value.kind == "not_found"


def test_a_broken_record_becomes_a_quarantine_marker_not_a_crash(server):
    shop, reader = server(3, endpoints={"items": Endpoint("single", paginator=Single(),
                                                          map=lambda r: {"source_id": str(r["id"]), "n": r["nope"]})})
    out = list(reader.records("items"))
    assert len(out) == 3 and all("_unreadable" in o and "KeyError" in o["_unreadable"] for o in out)


def test_search_criteria_groups():
    params = search_criteria([("updated_at", "2024-01-01 00:00:00", "gt")], page_size=300, page=1, sort="entity_id")
    assert params["searchCriteria[filter_groups][0][filters][0][condition_type]"] == "gt"
    assert next_group(params) == 1 and next_group({}) == 0
    more = search_criteria([("entity_id", 7, "gt")], group=next_group(params))
    assert more["searchCriteria[filter_groups][1][filters][0][field]"] == "entity_id"


# --- auth kinds ----------------------------------------------------------------------------------------------------
def test_header_key_bearer_and_basic_reach_the_server(server):
    for auth, header, value in [
        (HeaderKey({"X-Auth-Token": "t0k", "X-Auth-Client": ""}), "X-Auth-Token", "t0k"),
        (BearerToken("abc"), "Authorization", "Bearer abc"),
        (HTTPBasicAuth("ck_1", "cs_2"), "Authorization", "Basic " + base64.b64encode(b"ck_1:cs_2").decode()),
    ]:
        shop, reader = server(2, auth=auth)
        reader.all(Endpoint("single", paginator=Single()))
        assert shop.requests[-1][2][header] == value
        assert "X-Auth-Client" not in shop.requests[-1][2]  # an empty optional key is not sent
    token = BearerToken("")
    shop, reader = server(2, auth=token)
    reader.all(Endpoint("single", paginator=Single()))
    assert "Authorization" not in shop.requests[-1][2]
    token.token = "renewed"  # a login renewing the token: the next request carries it
    reader.all(Endpoint("single", paginator=Single()))
    assert shop.requests[-1][2]["Authorization"] == "Bearer renewed"


@pytest.mark.parametrize("method", ["HMAC-SHA256", "HMAC-SHA1"])
def test_oauth1_one_legged_is_accepted_by_the_woocommerce_emulator_and_resigned_per_attempt(method):
    """The emulator checks signatures as WC_REST_Authentication does, and refuses a nonce used twice: a request
    retried after a 503 must be signed afresh."""
    with platforms.emulate("woocommerce", products=3, knobs=Knobs(rate_limit=False)) as h:
        auth = OAuth1OneLegged(h.credentials["consumer_key"], h.credentials["consumer_secret"], method)
        client = HttpClient(f"{h.base_url}/wp-json/wc/v3", Explainer("WooCommerce"), settings=FAST, auth=auth)
        for _ in range(2):
            r = client.request("GET", "products", params={"per_page": 2, "orderby": "id", "order": "asc"})
            assert r.status_code == 200 and len(r.json()) == 2
        wrong = HttpClient(f"{h.base_url}/wp-json/wc/v3", Explainer("WooCommerce"), settings=FAST,
                           auth=OAuth1OneLegged(h.credentials["consumer_key"], "cs_wrong", method))
        with pytest.raises(ConnectionProblem) as exc:
            wrong.request("GET", "products")
        assert exc.value.kind == "credentials"
    with pytest.raises(ValueError):
        OAuth1OneLegged("k", "s", "PLAINTEXT")


# --- BigCommerce and Magento, described with the kit (what their move will use) -------------------------------------
def test_bigcommerce_v3_keyset_and_v2_min_id_with_a_header_key():
    with platforms.emulate("bigcommerce", products=40, knobs=Knobs(rate_limit=False)) as h:
        c = h.credentials
        api = Api("BigCommerce", "", concurrency=3, defaults=Endpoint(page_size=7, records="data"), endpoints={
            "products": Endpoint("v3/catalog/products", params={"sort": "id"}, paginator=IdRanges(
                IdRanges.strict("id:greater", "id:less"), total=from_body("meta.pagination.total"),
                highest={"direction": "desc", "limit": 1}, ascending_check=True)),
            "brands": Endpoint("v3/catalog/brands", paginator=PageNumber(
                param="page", size_param="limit", total_pages=from_body("meta.pagination.total_pages"))),
            "orders": Endpoint("v2/orders", records=BODY, params={"sort": "id:asc"},
                               paginator=IdRanges(IdRanges.inclusive("min_id", "max_id"))),
        })
        client = HttpClient(f"{h.base_url}/stores/{c['store_hash']}", Explainer("BigCommerce"), settings=FAST,
                            auth=HeaderKey({"X-Auth-Token": c["access_token"], "X-Auth-Client": c["client_id"]}))
        reader = RestReader(api, client)
        expected = sorted(int(p["source_id"]) for p in h.emulator.store.page("products", 0, 10**6))
        assert ids(reader.pages("products")) == expected
        assert ids(reader.pages("brands"))
        orders = ids(reader.pages("orders"))
        assert orders == sorted(orders) and len(orders) == len(h.emulator.store.page("orders", 0, 10**6))


def test_magento_search_criteria_keyset_with_a_bearer_token():
    with platforms.emulate("magento", products=40, knobs=Knobs(rate_limit=False)) as h:
        def bounds(after, below, params):
            found = ([("entity_id", after, "gt")] if after is not None else []) + \
                    ([("entity_id", below, "lt")] if below is not None else [])
            return {**params, **search_criteria(found, group=next_group(params))}

        api = Api("Magento", "", concurrency=4, endpoints={"products": Endpoint(
            "V1/products", records="items", page_size=9, id_field="id",
            params=search_criteria(sort="entity_id", page=1),
            paginator=IdRanges(bounds, size_param="searchCriteria[pageSize]", total=from_body("total_count"),
                               highest=search_criteria(sort="entity_id", direction="DESC", page_size=1)))})
        client = HttpClient(f"{h.base_url}/rest", Explainer("Magento"), settings=FAST,
                            auth=BearerToken(h.credentials["access_token"]))
        expected = sorted(int(p["source_id"]) for p in h.emulator.store.page("products", 0, 10**6))
        assert ids(RestReader(api, client).pages("products")) == expected


# --- what the BigCommerce move added -------------------------------------------------------------------------------
def test_a_404_on_a_child_that_drops_its_parent_leaves_the_parent_out(server):
    """An order deleted after its page was listed answers 404 for its products: gone, like a deleted order; a
    child without drops_parent still fails on a 404 (a wrong path is not a deletion)."""
    subs = Endpoint("items/{id}/subs", paginator=Single())
    shop, reader = server(6, endpoints={
        "orders": Endpoint("single", paginator=Single(), map=lambda r, subs, more: {
            "source_id": str(r["id"]), "subs": len(subs), "more": len(more)},
            children=(Child("subs", subs, drops_parent=True), Child("more", subs, drops_parent=True))),
        "strict": Endpoint("single", paginator=Single(), children=(Child("subs", subs),))})
    shop.gone = {2, 5}
    assert [o["source_id"] for o in reader.records("orders")] == ["1", "3", "4", "6"]
    # the second child is not asked for a parent the first found gone
    assert [p for p, _, _ in shop.requests].count("/items/2/subs") == 1
    with pytest.raises(ConnectionProblem) as exc:
        list(reader.rows("strict"))
    assert exc.value.kind == "not_found"


def test_since_inclusive_keeps_the_same_second_and_reads_rfc_2822(server):
    shop, reader = server(30)
    since = datetime(2024, 1, 20, 0, 0, 0, 500000, tzinfo=timezone.utc)  # filters take whole seconds
    after = Endpoint("single", paginator=Single(), since=Since(field="modified"))
    at_or_after = Endpoint("single", paginator=Single(), since=Since(field="modified", inclusive=True))
    day = "2024-01-20T00:00:00"  # record 19 was modified at that second, before the time itself
    assert ids(reader.pages(after, since=since)) == [r["id"] for r in shop.ordered() if r["modified"] > day]
    assert ids(reader.pages(at_or_after, since=since)) == [r["id"] for r in shop.ordered() if r["modified"] >= day]
    rfc = Since(field="modified", inclusive=True)
    assert rfc.keeps({"modified": "Sat, 20 Jan 2024 00:00:00 +0000"}, since)
    assert not rfc.keeps({"modified": "Fri, 19 Jan 2024 23:59:59 +0000"}, since)
    assert not rfc.keeps({"modified": ""}, since) and rfc.keeps({"modified": "not a date"}, since)


def test_children_with_a_since_are_filtered_by_the_parents_read_time(server):
    """Reviews under products: the products are read whole, their reviews only when changed."""
    shop, reader = server(8)
    ep = Endpoint("single", paginator=Single(), children=(
        Child("subs", Endpoint("items/{id}/subs", paginator=Single(), since=Since("since", "%Y-%m-%dT%H:%M:%S"))),))
    since = datetime(2024, 1, 5, tzinfo=timezone.utc)
    rows = [row for page in reader.rows(ep, since=since) for row in page]
    assert [r.record["id"] for r in rows] == list(range(1, 9))  # the parents are not filtered
    assert [r.record["id"] for r in rows if r.children["subs"]] == [
        r["id"] for r in shop.ordered() if r["modified"] > "2024-01-05T00:00:00"]


def test_time_keyset_survives_deletes_and_many_records_in_one_second(server):
    """Customers by creation second: more than a page created in one second, records read deleted and records
    created meanwhile (one in the second being read): none missed, none twice."""
    shop, reader = server(20, concurrency=1)
    for r in shop.records.values():  # 1-3 in second 0, 4-10 in second 1, then one a second
        r["created"] = f"2024-01-01T00:00:{0 if r['id'] <= 3 else 1 if r['id'] <= 10 else r['id']:02d}Z"
    ep = Endpoint("by-created", records="data", params={"sort": "created:asc"}, page_size=3,
                  paginator=TimeKeyset("created:min", "created"))
    changed = []

    def churn(path, q):
        if len(shop.requests) == 4 and not changed:  # inside second 1: delete two read, add two
            changed.append(True)
            shop.records.pop(1)
            shop.records.pop(2)
            for new, second in ((21, 40), (22, 1)):
                shop.records[new] = {"id": new, "name": "new", "modified": "2024-02-01T00:00:00",
                                     "created": f"2024-01-01T00:00:{second:02d}Z"}
    shop.after_request = churn
    read = ids(reader.pages(ep))
    assert changed and len(read) == len(set(read))
    assert set(read) == set(range(1, 23)), sorted(set(range(1, 23)) - set(read))
    assert all("created:min" in q for _, q, _ in shop.requests[1:])  # keyset on the second, page within it
    narrowed = ids(reader.pages(ep, {"created:min": "2024-01-01T00:00:12Z"}))
    assert narrowed == [12, 13, 14, 15, 16, 17, 18, 19, 20, 21]


def test_a_server_that_ignores_the_page_param_is_stopped(server):
    shop, reader = server(20)
    with pytest.raises(ConnectionProblem, match="repeated a page") as exc:
        list(reader.pages(Endpoint("ignores-page", paginator=PageNumber())))
    assert exc.value.kind == "bad_response" and len(shop.requests) == 2


def test_unreadable_record_keeps_the_platforms_own_id_field():
    """A record the mapping cannot read is quarantined under its source id, whatever the platform calls its id
    (Magento orders: entity_id), so the ledger can name it."""
    from cart_pipelines.platforms.kit.source import UNREADABLE, as_source_record, read_record

    def broken(record):
        return {"source_id": str(record["entity_id"]), "total": record["grand_total"] * 1}

    marker = read_record("Magento", "orders", broken, {"entity_id": 42, "grand_total": None}, id_field="entity_id")
    assert UNREADABLE in marker and "record 42 " in marker[UNREADABLE]
    assert as_source_record(0, marker).source_id == "42"


def test_a_parent_value_fills_a_child_path_as_one_encoded_segment():
    assert _fill_path("V1/configurable-products/{sku}/children", {"sku": "T-skjorte / blå 50%"}) == \
        "V1/configurable-products/T-skjorte%20%2F%20bl%C3%A5%2050%25/children"
    assert _fill_path("v2/orders/{id}/products", {"id": 12}) == "v2/orders/12/products"


@pytest.mark.parametrize("pages, concurrency, most_extra", [(2304, 3, 0.025), (230, 3, 0.07), (40, 3, 0.25)])
def test_time_keyset_spans_cost_a_falling_share_of_the_requests(pages, concurrency, most_extra):
    """A span costs about one request more than its records need, so the spans of a large listing are long:
    their extra requests are a small share of the pages (576k BigCommerce customers: 48 spans, not 576), and
    there are always at least two spans per worker."""
    spans = TimeKeyset("created:min", "created").span_count(pages, concurrency)
    assert 2 * concurrency <= spans <= pages and spans / pages <= most_extra
    assert TimeKeyset("created:min", "created").span_count(3, concurrency) == 3  # never more spans than pages
