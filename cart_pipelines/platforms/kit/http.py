"""One HTTP engine for every platform connector.

- a pooled requests.Session with explicit timeouts;
- retries with tenacity on 429, 5xx and connection errors, waiting what the platform says (Retry-After, or a
  platform's reset header through `retry_after`), else exponential backoff with jitter;
- pacing under the platform's limit (pyrate-limiter at a configured rate, plus a per-response hook for
  header-driven pacing such as BigCommerce's X-Rate-Limit-Requests-Left or Shopify's throttle status);
- expected failures become ConnectionProblem: one sentence saying what to do (seed 002 "Verification"), never
  with a secret or a query string in it;
- pages: a loop guard against pagination that repeats, and bounded parallel page fetching when totals are known.
"""

from __future__ import annotations

import os
import random
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator
from urllib.parse import urlsplit

import requests
from pyrate_limiter import Duration, Limiter, Rate
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from cart_pipelines.platforms.kit.source import SourceError

RETRY_STATUSES = {429, 500, 502, 503, 504}


class ConnectionProblem(SourceError):
    """An expected failure talking to a platform, explained for the person who configured it.

    kind: credentials | permission | rate_limited | unreachable | not_found | bad_request | server | bad_response
    """

    def __init__(self, kind: str, message: str, status: int | None = None):
        super().__init__(message)
        self.kind, self.status = kind, status


class WriteUnconfirmed(ConnectionProblem):
    """A write whose answer was lost (a 5xx, a dropped connection, a timeout): it may have been applied or not.
    Sent again blindly it could write twice; the caller looks for it first (Target.create_confirmed)."""


class RetryableResponse(Exception):
    """Raised for a response worth retrying (a connector's on_response hook may raise it too, e.g. Shopify's
    THROTTLED at HTTP 200); `wait` is the server's requested delay in seconds, if any."""

    def __init__(self, response: requests.Response | None, wait: float | None, why: str, refused: bool = False):
        super().__init__(why)
        self.response, self.wait, self.why, self._refused = response, wait, why, refused

    @property
    def refused(self) -> bool:
        """The server said it did nothing (429, or a connector's own refusal such as Shopify's THROTTLED): safe to
        send again, whatever the request."""
        return self._refused or (self.response is not None and self.response.status_code == 429)


def retry_after_header(response: requests.Response) -> float | None:
    """Seconds from a standard Retry-After header (seconds form)."""
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def untrusted_certificate(exc: BaseException) -> bool:
    """Whether a TLS failure is the server's certificate not being trusted here (self-signed, a private CA,
    expired, another host's name) rather than the connection failing."""
    return "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc).lower()


def certificate_advice(platform: str, url: str, exc: BaseException) -> str:
    """One sentence for an untrusted certificate: what is wrong, and how to trust it (the kind stays unreachable)."""
    text = str(exc)
    reason = text.split("certificate verify failed:", 1)[-1].split(")", 1)[0].strip(" ()'\"") \
        if "certificate verify failed:" in text else "not trusted"
    parts = urlsplit(url)
    return (f"the TLS certificate of {platform} at {parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
            f" is not trusted by this machine ({reason}): if the shop uses a self-signed certificate or a private "
            f"certificate authority, trust it by setting REQUESTS_CA_BUNDLE to a PEM file holding that CA (or the "
            f"certificate itself), or a target's 'CA file to trust' setting (*_CA_FILE); otherwise renew or fix the shop's certificate (expired, or issued for another "
            f"host name).")


def safe_url(url: str) -> str:
    """The URL without query string or credentials, fit for messages and logs."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass
class HttpSettings:
    timeout: float = 30.0
    max_attempts: int = 8
    max_backoff: float = 30.0  # cap of our own exponential backoff; a server's Retry-After is honoured in full
    max_server_wait: float = 120.0  # longer server-requested waits fail instead of stalling a run
    requests_per_second: float | None = None  # client-side pacing; None: unpaced (header hooks may still pace)
    pool_size: int = 8
    user_agent: str = "cart_pipelines (+https://github.com/cart-pipelines)"


@dataclass
class Explainer:
    """How a platform's failures read to a user: which credential fields to re-check, which scope to grant."""

    platform: str
    credential_fields: tuple[str, ...] = ()
    permission_hint: str = "grant the API user read access to this resource"
    error_message: Callable[[requests.Response], str | None] = field(default=lambda r: None)

    def problem(self, response: requests.Response, what: str) -> ConnectionProblem:
        status = response.status_code
        detail = self.error_message(response)
        detail = f" The platform said: {detail}" if detail else ""
        where = safe_url(response.url)
        if status == 401:
            fields = ", ".join(self.credential_fields) or "the credentials"
            return ConnectionProblem("credentials", f"{self.platform} rejected the credentials (HTTP 401) for "
                                     f"{what}: check {fields} for typos and that they belong to this shop.{detail}",
                                     status)
        if status == 403:
            return ConnectionProblem("permission", f"{self.platform} refused {what} (HTTP 403): the credentials "
                                     f"work but lack a permission — {self.permission_hint}. If the shop uses an IP "
                                     f"allow-list, add this machine's address.{detail}", status)
        if status == 404:
            return ConnectionProblem("not_found", f"{self.platform} has no {where} (HTTP 404): check the shop URL "
                                     f"(and API version or store hash in it).{detail}", status)
        if status == 429:
            return ConnectionProblem("rate_limited", f"{self.platform} kept answering 429 Too Many Requests for "
                                     f"{what}: the rate limit is exhausted or this IP is blocked; lower the request "
                                     f"rate or ask the host to allow-list this machine.{detail}", status)
        if status >= 500:
            return ConnectionProblem("server", f"{self.platform} failed with HTTP {status} for {what} after "
                                     f"retries; the shop or its host is having trouble, try again later.{detail}",
                                     status)
        return ConnectionProblem("bad_request", f"{self.platform} rejected the request for {what} "
                                 f"(HTTP {status}).{detail}", status)


class EnvironmentOnceSession(requests.Session):
    """A requests.Session that reads the proxy environment (HTTPS_PROXY, NO_PROXY, ...) once per host, not per
    request: requests walks the whole environment twice for every request (get_environ_proxies), which cost a
    third of a request's client CPU, and an API read of orders makes two requests per order. Everything else is
    requests' own merge; the environment is read when a host is first asked, so it holds for the client's life."""

    MAX_HOSTS = 32  # hosts one client talks to: the shop, a CDN or storage host for bulk files

    def __init__(self) -> None:
        super().__init__()
        self._env_proxies: dict[tuple, dict] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if self.trust_env:
            no_proxy = proxies.get("no_proxy") if proxies is not None else None
            parts = urlsplit(url)
            key = (parts.scheme, parts.netloc, no_proxy)
            env_proxies = self._env_proxies.get(key)
            if env_proxies is None:
                if len(self._env_proxies) >= self.MAX_HOSTS:
                    self._env_proxies.clear()
                env_proxies = self._env_proxies[key] = requests.utils.get_environ_proxies(url, no_proxy=no_proxy)
            if proxies is not None:
                for k, v in env_proxies.items():
                    proxies.setdefault(k, v)
            if verify is True or verify is None:
                verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
        merge = requests.sessions.merge_setting
        return {"proxies": merge(proxies, self.proxies), "stream": merge(stream, self.stream),
                "verify": merge(verify, self.verify), "cert": merge(cert, self.cert)}


def backoff(settings: "HttpSettings", attempt: int) -> float:
    """Our own exponential backoff before attempt `attempt` + 1: 0.25 s doubling, capped at `max_backoff`."""
    return min(settings.max_backoff, 0.25 * 2 ** (attempt - 1))


class HttpClient:
    """requests.Session + retries + pacing for one platform account. Thread-safe for parallel page fetches."""

    def __init__(self, base_url: str, explainer: Explainer, *, settings: HttpSettings | None = None,
                 headers: dict | None = None, auth=None, verify: bool | str = True,
                 retry_after: Callable[[requests.Response], float | None] = retry_after_header,
                 on_response: Callable[[requests.Response], None] | None = None):
        if not isinstance(base_url, str) or not base_url.lower().startswith(("http://", "https://")) \
                or not urlsplit(base_url).hostname:
            raise ConnectionProblem("bad_request", f"{explainer.platform}: the shop URL {str(base_url)[:80]!r} is "
                                    f"not an http(s) address; write it like https://shop.example")
        self.base_url = base_url.rstrip("/")
        self.explainer = explainer
        self.settings = settings or HttpSettings()
        self.session = EnvironmentOnceSession()
        adapter = HTTPAdapter(pool_connections=self.settings.pool_size, pool_maxsize=self.settings.pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"User-Agent": self.settings.user_agent, "Accept": "application/json",
                                     **(headers or {})})
        self.session.auth = auth
        self.session.verify = verify
        self.retry_after = retry_after
        self.on_response = on_response
        # A header pacer (kit/pacing.py) also gates each request before it is sent, counting those in flight.
        self.before_request = getattr(on_response, "before_request", None)
        self.after_request = getattr(on_response, "after_request", None)
        rps = self.settings.requests_per_second
        self.limiter = Limiter(Rate(max(1, int(rps * 10)), Duration.SECOND * 10)) if rps else None
        self.requests_made = 0
        self.retries = 0
        self._count_lock = threading.Lock()

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    def _once(self, method: str, url: str, **kwargs) -> requests.Response:
        if self.limiter:
            self.limiter.try_acquire("api")
        if self.before_request:
            self.before_request()
        with self._count_lock:
            self.requests_made += 1
        try:
            return self._answer(method, url, **kwargs)
        finally:
            if self.after_request:
                self.after_request()

    def _answer(self, method: str, url: str, **kwargs) -> requests.Response:
        try:
            # requests lets REQUESTS_CA_BUNDLE override a session's own `verify`; pass it per request so a
            # connector told to trust an emulator's CA (or a shop's private CA) really does.
            kwargs.setdefault("verify", self.session.verify)
            response = self.session.request(method, url, timeout=self.settings.timeout, **kwargs)
        except requests.exceptions.SSLError as exc:
            if untrusted_certificate(exc):  # asking again cannot help: say how to trust it
                raise ConnectionProblem("unreachable", certificate_advice(self.explainer.platform, url, exc)) from None
            raise RetryableResponse(None, None, f"{type(exc).__name__}") from None
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            raise RetryableResponse(None, None, f"{type(exc).__name__}") from None
        if self.on_response:
            self.on_response(response)
        if response.status_code in RETRY_STATUSES:
            raise RetryableResponse(response, self.retry_after(response), f"HTTP {response.status_code}")
        if response.status_code < 400 and "json" in response.headers.get("Content-Type", "") and response.content:
            try:  # a body cut off in transit is retried like a dropped connection
                parsed = response.json()
            except ValueError:
                raise RetryableResponse(None, None, "malformed JSON") from None
            response.json = lambda *args, **kwargs: parsed  # parsed once; connectors call .json() again
        return response

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        server = exc.wait if isinstance(exc, RetryableResponse) else None
        if server is not None:
            if server > self.settings.max_server_wait:
                raise exc
            return server
        return backoff(self.settings, state.attempt_number) * random.uniform(0.5, 1.0)

    def request(self, method: str, path: str, what: str = "", idempotent: bool = True,
                **kwargs) -> requests.Response:
        """`idempotent=False` (a create): only refusals (429) are retried; a lost answer raises WriteUnconfirmed."""
        url = self.url(path)
        what = what or f"{method} {safe_url(url)}"

        def before_sleep(state: RetryCallState) -> None:
            with self._count_lock:
                self.retries += 1

        retrying = Retrying(retry=retry_if_exception(lambda e: isinstance(e, RetryableResponse)
                                                     and (idempotent or e.refused)),
                            stop=stop_after_attempt(self.settings.max_attempts),
                            wait=self._wait, before_sleep=before_sleep, reraise=True)
        try:
            response = retrying(self._once, method, url, **kwargs)
        except RetryableResponse as exc:
            if not idempotent and not exc.refused:
                raise WriteUnconfirmed("server", f"{self.explainer.platform} did not confirm {what} ({exc.why}); "
                                       f"it may have been applied", getattr(exc.response, "status_code", None)) from None
            if exc.response is not None:
                raise self.explainer.problem(exc.response, what) from None
            raise ConnectionProblem("unreachable", f"cannot reach {self.explainer.platform} at "
                                    f"{safe_url(url)} ({exc.why}): check the shop URL, that the shop is online, "
                                    f"and that no firewall blocks this machine.") from None
        if response.status_code >= 400:
            raise self.explainer.problem(response, what)
        return response

    def get_json(self, path: str, params: dict | None = None, what: str = ""):
        response = self.request("GET", path, what=what, params=params)
        try:
            return response.json()
        except ValueError:
            raise ConnectionProblem("bad_response", f"{self.explainer.platform} answered {what or safe_url(response.url)} "
                                    f"with something that is not JSON (HTTP {response.status_code}); is the URL "
                                    f"the shop's API address?") from None

    def close(self) -> None:
        self.session.close()


def json_body(response: requests.Response):
    """The parsed JSON body, or None when the body is no JSON (an HTML error page, an empty answer): what the
    platforms' error-message readers start from."""
    try:
        return response.json()
    except ValueError:
        return None


def json_list(response: requests.Response, platform: str, what: str, hint: str) -> list:
    """A response body that must be a JSON array, or a bad_response problem saying what was expected."""
    body = json_body(response)
    if not isinstance(body, list):
        raise ConnectionProblem("bad_response", f"{platform} answered {what} with something that is not a list "
                                f"(HTTP {response.status_code}); {hint}")
    return body


class LoopGuard:
    """Stops pagination that goes round in circles: the same page token (or first id) seen twice."""

    def __init__(self, what: str):
        self.what, self.seen = what, set()

    def check(self, token) -> None:
        if token in self.seen:
            raise ConnectionProblem("bad_response", f"pagination of {self.what} repeated a page ({token!r}); "
                                    f"stopping instead of reading the same records forever")
        self.seen.add(token)


def pages_in_order(fetch: Callable[[int], list], pages: Iterable[int], concurrency: int) -> Iterator[list]:
    """Fetch numbered pages with up to `concurrency` requests in flight, yielding them in page order.
    At most `concurrency` pages are held in memory at a time."""
    if concurrency <= 1:
        for page in pages:
            yield fetch(page)
        return
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="page") as pool:
        window: deque[Future] = deque()
        for page in pages:
            window.append(pool.submit(fetch, page))
            if len(window) >= concurrency:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
