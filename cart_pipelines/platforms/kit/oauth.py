"""OAuth 2.0 authorization-code flow for targets such as Mystore (seed 000), and safe token storage.

The walk-through: print the authorize URL ("Grant Access"), the user logs in and presses "Authorize", the browser
is redirected with a code — caught on a loopback listener (127.0.0.1) or pasted by the user — and the code is
exchanged for access and refresh tokens. Tokens live in a file only the user can read (mode 0600), never in logs,
and are refreshed when they expire.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests


class OAuthError(RuntimeError):
    """The authorization failed; the message says what to do and carries no secret."""


@dataclass
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: float
    token_type: str = "Bearer"

    def expired(self, leeway: float = 60) -> bool:
        return time.time() > self.expires_at - leeway

    def __repr__(self) -> str:  # never print a token by accident
        return f"Tokens(expires_at={self.expires_at:.0f})"


class TokenStore:
    """Tokens in a JSON file readable by its owner only."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def load(self) -> Tokens | None:
        if not self.path.exists():
            return None
        return Tokens(**json.loads(self.path.read_text(encoding="utf-8")))

    def save(self, tokens: Tokens) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(asdict(tokens), fh)
        os.replace(self.path.with_suffix(".tmp"), self.path)
        os.chmod(self.path, 0o600)


@dataclass
class OAuthClient:
    base_url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    authorize_path: str = "/oauth/authorize"
    token_path: str = "/oauth/token"
    scope: str = ""
    verify: bool | str = True

    def __repr__(self) -> str:
        return f"OAuthClient(base_url={self.base_url!r}, client_id={self.client_id!r})"

    def authorize_url(self, state: str, code_challenge: str | None = None) -> str:
        """`code_challenge`: PKCE (RFC 7636, S256), for providers that require it (Etsy); see `pkce_pair`."""
        query = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
                 "state": state}
        if self.scope:
            query["scope"] = self.scope
        if code_challenge:
            query.update(code_challenge=code_challenge, code_challenge_method="S256")
        return f"{self.base_url.rstrip('/')}{self.authorize_path}?{urlencode(query)}"

    def _token(self, form: dict) -> Tokens:
        try:
            r = requests.post(f"{self.base_url.rstrip('/')}{self.token_path}", timeout=30, verify=self.verify,
                              data={**form, "client_id": self.client_id,
                                    # a public PKCE client (Etsy) has no secret to send
                                    **({"client_secret": self.client_secret} if self.client_secret else {})})
        except requests.RequestException:
            raise OAuthError(f"cannot reach the token endpoint at {self.base_url}: check the store URL") from None
        if r.status_code != 200:
            try:
                body = r.json()
            except ValueError:
                body = {}
            error = body.get("error", f"HTTP {r.status_code}")
            hint = {"invalid_client": "check Client ID and Client Secret for typos",
                    "invalid_grant": "the code or refresh token is used, expired or for another redirect URL; "
                                     "authorize again"}.get(error, "authorize again")
            raise OAuthError(f"the store refused the token request ({error}): {hint}")
        body = r.json()
        return Tokens(body["access_token"], body.get("refresh_token", ""),
                      time.time() + float(body.get("expires_in", 3600)), body.get("token_type", "Bearer"))

    def exchange(self, code: str, code_verifier: str | None = None) -> Tokens:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        return self._token({**form, "code_verifier": code_verifier} if code_verifier else form)

    def refresh(self, tokens: Tokens) -> Tokens:
        if not tokens.refresh_token:
            raise OAuthError("the access token expired and there is no refresh token: authorize again")
        fresh = self._token({"grant_type": "refresh_token", "refresh_token": tokens.refresh_token})
        return Tokens(fresh.access_token, fresh.refresh_token or tokens.refresh_token, fresh.expires_at)


def new_state() -> str:
    return secrets.token_urlsafe(24)


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE verifier: base64url(SHA-256(verifier)) without padding (RFC 7636 4.2)."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, code_challenge): a fresh 43-character verifier (32 random bytes) and its S256 challenge."""
    verifier = secrets.token_urlsafe(32)
    return verifier, pkce_challenge(verifier)


def code_from_redirect(url: str, state: str) -> str:
    """The code in a redirect URL the user pasted (or the listener received); checks the state."""
    query = parse_qs(urlsplit(url).query)
    if "error" in query:
        raise OAuthError(f"authorization was not granted ({query['error'][0]}): press Authorize in the store")
    if query.get("state", [""])[0] != state:
        raise OAuthError("the redirect's state does not match this authorization: start again")
    if "code" not in query:
        raise OAuthError("the redirect carries no authorization code")
    return query["code"][0]


def listen_for_code(port: int, state: str, timeout: float = 300) -> str:
    """Serve one redirect on 127.0.0.1:port and return its code (bounded by `timeout`)."""
    result: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            try:
                result["code"] = code_from_redirect(self.path, state)
                body, status = "Authorized. You can close this window and return to the terminal.", 200
            except OAuthError as exc:
                result["error"] = exc
                body, status = str(exc), 400
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args):  # the URL holds the code: keep it out of the terminal
            pass

    server = HTTPServer(("127.0.0.1", port), Handler)
    server.timeout = 1  # handle_request returns every second, so the deadline is checked
    deadline = time.time() + timeout
    try:
        while not result and time.time() < deadline:
            server.handle_request()
    finally:
        server.server_close()
    if "error" in result:
        raise result["error"]
    if "code" not in result:
        raise OAuthError(f"no redirect arrived on 127.0.0.1:{port} within {timeout:.0f} s")
    return result["code"]
