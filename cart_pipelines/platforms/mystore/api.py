"""The Mystore API v2 client: JSON:API at {api}/shops/{shop}/{type}, Bearer tokens (OAuth or a Personal Access
Token, the shop name read from the token), 120 requests/min paced client-side, 429 and 5xx retried, links.next
followed, atomic batches, image uploads. Facts and open points: facts.py.
"""

from __future__ import annotations

import base64
import json
import threading
from typing import Callable, Iterator

from requests.auth import AuthBase

from cart_pipelines.platforms.kit.http import (
    ConnectionProblem,
    Explainer,
    HttpClient,
    HttpSettings,
    LoopGuard,
    retry_after_header,
)
from cart_pipelines.platforms.kit.pacing import SlidingWindow
from cart_pipelines.platforms.mystore import facts

# Kept for the benchmark's "assumed limits" line (bench/load_throughput.py): one request carries a whole batch.
RATE_PER_S = facts.RATE_LIMIT / facts.RATE_WINDOW_S
BATCH_MAX = facts.ATOMIC_BATCH_MAX


def claims(token: str) -> dict:
    """A JWT's claims, unverified: the shop name (no_mystore_hosts) and the scopes."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, AttributeError):
        return {}


def explain(response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and body.get("errors"):
        return "; ".join(f"{e.get('title', '')} [{e.get('status', '')}]: {e.get('detail', '')}" for e in body["errors"])
    if isinstance(body, dict):
        return body.get("message") or body.get("error")
    return None


def expired(exc: ConnectionProblem) -> bool:
    """Whether Mystore refused the access token as expired (403 with that detail [S: RN]): refresh, ask again."""
    return exc.status == 403 and facts.EXPIRED_DETAIL in str(exc)


class _Bearer(AuthBase):
    """The current access token on every request (a refreshed one as soon as it is there); `sent()` is the one this
    thread's last request carried, so a refusal names the token that was refused."""

    def __init__(self, bearer: Callable[..., str]):
        self.bearer, self._local = bearer, threading.local()

    def __call__(self, r):
        self._local.token = self.bearer()
        r.headers["Authorization"] = f"Bearer {self._local.token}"
        return r

    def sent(self) -> str:
        return getattr(self._local, "token", "")


def _retry_after(response) -> float | None:
    server = retry_after_header(response)
    return server if server is not None else facts.RETRY_429_AFTER_S if response.status_code == 429 else None


class MystoreApi:
    def __init__(self, api_url: str, shop: str, bearer: Callable[..., str], verify: bool | str = True,
                 rate: tuple[int, float] = (facts.RATE_LIMIT, facts.RATE_WINDOW_S), hint: str = ""):
        self.shop = shop
        self.bearer = bearer  # bearer() → the access token; bearer(refused=token): that one was refused as expired
        self.auth = _Bearer(bearer)
        self.root = api_url.rstrip("/")
        self.client = HttpClient(f"{self.root}/shops/{shop}", Explainer(
            "Mystore", ("the token (MYSTORE_TOKEN) or the OAuth client (run `cart-pipelines authorize` again)",),
            hint or "create the token with the permissions listed in docs/targets/mystore.md", explain),
            settings=HttpSettings(max_attempts=16), headers={"Accept": facts.JSONAPI}, verify=verify,
            retry_after=_retry_after, auth=self.auth)
        self.client.limiter = SlidingWindow(*rate, margin=facts.PACING_MARGIN_S) if rate else None
        self.batches = 0  # atomic batches sent (client.requests_made counts every request, retries included)

    def call(self, method: str, path: str, *, body=None, plain: bool = False, idempotent: bool = True,
             params: dict | None = None, files=None):
        for attempt in (0, 1):
            headers: dict = {}  # the token is set by self.auth on every attempt, retries included
            kwargs: dict = {"params": params}
            if files is not None:
                kwargs["files"] = files
            elif body is not None:
                headers["Content-Type"] = "application/json" if plain else facts.JSONAPI
                kwargs["data"] = json.dumps(body, ensure_ascii=False).encode()
            if plain:
                headers["Accept"] = "application/json"
            try:
                return self.client.request(method, path, headers=headers, idempotent=idempotent, **kwargs)
            except ConnectionProblem as exc:
                if expired(exc) and attempt == 0:
                    self.renew()
                    continue  # expired: a fresh token (once), then again
                raise
        raise AssertionError("unreachable")

    def renew(self) -> str:
        """The token this thread sent was refused as expired: a fresh one, refreshed unless another request already
        replaced the refused token (refresh tokens rotate on use: refreshing twice would waste one)."""
        return self.bearer(refused=self.auth.sent())

    def json(self, method: str, path: str, **kwargs):
        r = self.call(method, path, **kwargs)
        return r.json() if r.content else None

    def pages(self, path: str, params: dict | None = None, size: int = facts.PAGE_SIZE_MAX) -> Iterator[list[dict]]:
        """Every page of a list, following links.next (a full URL) until it is absent."""
        url: str | None = path
        query = {**(params or {}), "page[size]": size, "page[number]": 1}
        guard = LoopGuard(f"Mystore {path}")
        while url:
            try:
                body = self.call("GET", url, params=query).json()
            except ConnectionProblem as exc:
                if exc.status == facts.PAST_LAST_PAGE and query is None:
                    return  # [S: GA] a page past the last one may answer 404
                raise
            guard.check(url if query is None else json.dumps(query, sort_keys=True))
            yield body.get("data") or []
            url, query = (body.get("links") or {}).get("next"), None

    def all(self, path: str, params: dict | None = None, fields: tuple[str, ...] | None = None,
            filters: dict | None = None) -> list[dict]:
        params = dict(params or {})
        if fields is not None:
            params[f"fields[{path.split('/')[-1]}]"] = ",".join(fields)
        for key, (path_, value, *op) in (filters or {}).items():
            params[f"filter[{key}][path]"] = path_
            params[f"filter[{key}][value]"] = value
            if op:
                params[f"filter[{key}][operator]"] = op[0]
        return [r for page in self.pages(path, params) for r in page]

    def count(self, path: str) -> int:
        body = self.call("GET", path, params={"page[size]": facts.PAGE_SIZE_MAX, "page[number]": 1}).json()
        last = (body.get("links") or {}).get("last")
        if not last or "next" not in (body.get("links") or {}):
            return len(body.get("data") or [])
        tail = self.call("GET", last).json()
        from urllib.parse import parse_qs, urlsplit

        n = int(parse_qs(urlsplit(last).query).get("page[number]", ["1"])[0])
        return (n - 1) * facts.PAGE_SIZE_MAX + len(tail.get("data") or [])

    def batch(self, operations: list[dict]) -> list[dict]:
        """One atomic batch (all or nothing); a lost answer raises WriteUnconfirmed (the caller looks first)."""
        self.batches += 1
        return self.call("POST", "atomic-batch", body=operations, plain=True, idempotent=False).json()

    def op(self, method: str, path: str, body=None, returns: tuple[str, ...] = ("data.id",)) -> dict:
        out = {"method": method, "path": f"/shops/{self.shop}/{path}"}
        if body is not None:
            out["body"] = body
        if returns:
            out["return"] = list(returns)
        return out

    def settings(self) -> dict:
        return self.call("GET", "settings", plain=True).json()

    def upload_image(self, name: str, content: bytes) -> str:
        r = self.call("POST", "images", files={facts.IMAGE_UPLOAD_FIELD: (name, content)}, idempotent=False)
        return r.json().get("file_name") or name
