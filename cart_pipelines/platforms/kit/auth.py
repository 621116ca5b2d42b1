"""Auth kinds for REST sources and targets: small `requests` auth objects an `HttpClient` takes as `auth=`.

Each is applied to every prepared request, so a retry is authorised afresh (an OAuth 1.0a signature gets a new
nonce and timestamp per attempt). Secrets stay in the objects and never reach messages: `safe_url` drops query
strings and errors never quote headers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth

__all__ = ["HTTPBasicAuth", "HeaderKey", "BearerToken", "OAuth1OneLegged"]


class HeaderKey(AuthBase):
    """An API key (or several) in request headers, e.g. BigCommerce's `X-Auth-Token` (+ `X-Auth-Client`)."""

    def __init__(self, headers: dict[str, str]):
        self.headers = {k: str(v) for k, v in headers.items() if v not in (None, "")}

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers.update(self.headers)
        return r


class BearerToken(AuthBase):
    """`Authorization: Bearer <token>`. `token` may be replaced while the client is in use (a login that renews an
    expired token, as Magento's admin tokens need); the next request carries the new one."""

    def __init__(self, token: str = ""):
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.token:
            r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def _rawurlencode(text: str) -> str:
    return quote(text, safe="-_.~")


class OAuth1OneLegged(AuthBase):
    """One-legged OAuth 1.0a in the query string (no token, no callback), as WooCommerce verifies it over plain
    HTTP: the request's parameters plus the oauth_* ones are percent-encoded (RFC 3986), sorted by key, joined as
    key=value with '&', and the whole encoded again into the signature base string `METHOD&url&params`; the HMAC
    key is the consumer secret followed by '&' (the empty token secret)."""

    def __init__(self, consumer_key: str, consumer_secret: str, method: str = "HMAC-SHA256"):
        if method not in ("HMAC-SHA256", "HMAC-SHA1"):
            raise ValueError(f"OAuth 1.0a: unsupported signature method {method!r}")
        self.consumer_key, self.consumer_secret, self.method = consumer_key, consumer_secret, method

    def signature(self, method: str, url: str, query: dict[str, str]) -> str:
        """The oauth_signature of a request to `url` (without query) with `query` (oauth_* included)."""
        pairs = [_rawurlencode(f"{_rawurlencode(k)}={_rawurlencode(query[k])}")
                 for k in sorted(query, key=lambda k: k.encode())]
        base = f"{method.upper()}&{_rawurlencode(url)}&{'%26'.join(pairs)}"
        digest = hashlib.sha256 if self.method == "HMAC-SHA256" else hashlib.sha1
        return base64.b64encode(hmac.new(f"{self.consumer_secret}&".encode(), base.encode(), digest).digest()).decode()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(r.url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        query.update(oauth_consumer_key=self.consumer_key, oauth_timestamp=str(int(time.time())),
                     oauth_nonce=secrets.token_hex(16), oauth_signature_method=self.method)
        query["oauth_signature"] = self.signature(r.method, urlunsplit(parts._replace(query="", fragment="")), query)
        r.url = urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))
        return r
