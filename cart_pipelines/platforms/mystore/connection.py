"""Connecting to a Mystore shop, as source and target alike: the credential fields (one set per side, so a
Mystore → Mystore move names two shops), the Bearer token (a Personal Access Token, or an OAuth client's tokens
refreshed when they expire), the shop name read from the token, and the permissions the token lacks.
"""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import urlsplit

from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import ConnectionProblem
from cart_pipelines.platforms.kit.oauth import OAuthClient, OAuthError, TokenStore
from cart_pipelines.platforms.mystore import facts
from cart_pipelines.platforms.mystore.api import MystoreApi, claims

DEFAULT_REDIRECT = "http://127.0.0.1:8765/callback"


def credentials(prefix: str, token_file: str) -> tuple[Credential, ...]:
    """The fields both sides ask for, read from `<prefix>_*` variables (MYSTORE_ for the target, MYSTORE_SOURCE_
    for the source). `token_file`: the default OAuth token file, under the data directory."""
    return (
        Credential("token", f"{prefix}TOKEN", "Personal Access Token (auth.mystore.no → Personal Access Tokens)",
                   secret=True, default=""),
        Credential("client_id", f"{prefix}CLIENT_ID", "Client ID (OAuth Clients)", default=""),
        Credential("client_secret", f"{prefix}CLIENT_SECRET", "Client Secret", secret=True, default=""),
        Credential("redirect_uri", f"{prefix}REDIRECT_URI", "Redirect URL", default=DEFAULT_REDIRECT),
        Credential("token_file", f"{prefix}TOKEN_FILE", f"OAuth token file (default {token_file}, 0600)", default=""),
        Credential("shop", f"{prefix}SHOP", "Store name (default: the one in the token)", default=""),
        Credential("api_url", f"{prefix}API_URL", "API address", default=facts.API_BASE),
        Credential("auth_url", f"{prefix}AUTH_URL", "Auth server address", default=facts.AUTH_BASE),
        Credential("requests_per_minute", f"{prefix}REQUESTS_PER_MINUTE",
                   f"Requests per minute this side may send with the token (Mystore allows {facts.RATE_LIMIT}; "
                   f"lower it when another app uses the same token)", default=facts.RATE_LIMIT, kind=int),
    )


def rate_of(values: dict, env: str = "MYSTORE_") -> tuple[int, float]:
    """The client's pace from the `requests_per_minute` credential: (requests, per Mystore's one-minute window).
    Unset: Mystore's limit. A token shares its limit with every app that uses it (facts.RATE_LIMIT is per token),
    so a migration beside another integration on the same token is given part of it."""
    raw = values.get("requests_per_minute")
    try:
        limit = facts.RATE_LIMIT if raw in (None, "") else int(raw)
    except (TypeError, ValueError):
        limit = 0
    if limit < 1:
        raise ValueError(f"{env}REQUESTS_PER_MINUTE must be a whole number of requests, at least 1 (Mystore "
                         f"allows {facts.RATE_LIMIT} per minute per token), not {raw!r}")
    return limit, facts.RATE_WINDOW_S


class Connection:
    """One token's access to one shop. `scopes`: the permissions the work needs (named when missing)."""

    def __init__(self, *, token: str = "", client_id: str = "", client_secret: str = "",
                 redirect_uri: str = DEFAULT_REDIRECT, token_file: str | Path = "", shop: str = "",
                 api_url: str = facts.API_BASE, auth_url: str = facts.AUTH_BASE, verify: bool | str = True,
                 scopes: tuple[str, ...] = (), rate: tuple[int, float] | None = (facts.RATE_LIMIT, facts.RATE_WINDOW_S),
                 env: str = "MYSTORE_"):
        self.personal_token, self.scopes, self.env = token, scopes, env
        self.oauth = OAuthClient(auth_url, client_id, client_secret, redirect_uri, facts.AUTHORIZE_PATH,
                                 facts.TOKEN_PATH, " ".join(scopes), verify)
        self.tokens = TokenStore(token_file or "mystore-token.json")
        self.shop, self.api_url, self.verify, self.rate = shop, api_url, verify, rate
        self._api: MystoreApi | None = None
        self._current = None
        self._lock = threading.Lock()

    def bearer(self, refused: str = "") -> str:
        """The access token to send; `refused`: the token Mystore just refused as expired. It is refreshed only when
        it is still the current one: a request in flight that was refused with an older token gets the one another
        request has already refreshed (refresh tokens rotate on use), and a current token that is refused — even
        seconds after its refresh, when the shop revoked it — is refreshed again."""
        if self.personal_token:
            if refused:
                raise ConnectionProblem("credentials", f"Mystore answered 403 \"{facts.EXPIRED_DETAIL}\" for the "
                                        f"Personal Access Token: check {self.env}TOKEN for typos; a token that "
                                        f"expired or was revoked needs a new one (auth.mystore.no → Personal "
                                        f"Access Tokens)", 403)
            return self.personal_token
        with self._lock:  # batches in flight share the tokens: one refresh per refused token
            tokens = self._current or self.tokens.load()
            if tokens is None:
                raise OAuthError(f"Mystore is not authorized yet: run `cart-pipelines authorize` first (or set "
                                 f"{self.env}TOKEN to a Personal Access Token)")
            if (refused and refused == tokens.access_token) or tokens.expired():
                tokens = self.oauth.refresh(tokens)
                self.tokens.save(tokens)
            self._current = tokens
            return tokens.access_token

    @property
    def api(self) -> MystoreApi:
        """The shop's API client; the first use checks the token names a shop and holds every permission."""
        if self._api is None:
            token = self.bearer()
            if not claims(token):
                raise ConnectionProblem("credentials", f"Mystore: the token is not one Mystore issued (no JWT claims "
                                        f"in it): check {self.env}TOKEN for typos, or that the whole token was copied")
            shop = self.shop or next(iter(claims(token).get(facts.TOKEN_CLAIM_SHOPS) or []), "")
            if not shop:
                raise ConnectionProblem("credentials", f"Mystore: the token names no shop (no_mystore_hosts); set "
                                        f"{self.env}SHOP to the store name")
            api = MystoreApi(self.api_url, shop.split(".")[0], self.bearer, self.verify, self.rate)
            self.require_permissions()
            self._api = api
        return self._api

    def missing_permissions(self) -> list[str]:
        """Permissions the token lacks, by name (empty: all there, or the token says `*`)."""
        held = set(claims(self.bearer()).get(facts.TOKEN_CLAIM_SCOPES) or [])
        return [] if "*" in held else [s for s in self.scopes if s not in held]

    def require_permissions(self) -> None:
        """Before anything is read or written: say which permissions to tick."""
        missing = self.missing_permissions()
        if missing:
            raise ConnectionProblem("permission", f"the Mystore token lacks the permission(s) {', '.join(missing)}: "
                                    f"tick them when creating the Personal Access Token (or run `cart-pipelines "
                                    f"authorize` again)", 403)

    def describe(self) -> str:
        shop = self.shop or (self._api.shop if self._api else "")
        return f"Mystore shop {shop or '(from the token)'} at {urlsplit(self.api_url).netloc}"
