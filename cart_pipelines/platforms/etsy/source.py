"""Etsy source: the Open API v3 at `https://openapi.etsy.com/v3/application/`, read-only.

Access (docs/platforms/etsy.md): every request sends `x-api-key: <keystring>:<shared secret>` (seed 002's **API Key**
and **API Secret**; Etsy now refuses the keystring alone with 403 "Shared secret is required in x-api-key header")
and `Authorization: Bearer <user_id>.<token>`, an OAuth2 access token (one hour) obtained with the seller's
**Refresh Token** (90 days) from `POST /v3/public/oauth/token` — Etsy's apps are public PKCE clients: the refresh
sends only the keystring as `client_id`. The refresh token comes from one authorization-code-with-PKCE walk-through
(`authorization()`), scopes `listings_r shops_r transactions_r`. The shop is the token's user's (`users/me`) unless a
Shop ID is given.

The endpoints and paging are data in `api.py`, the mapping in `mapping.py`; what stays here is what Etsy does
differently:
- listings are read once per `state` (active, inactive, sold_out, draft, expired), each with images and inventory;
- Etsy has no customers, manufacturers or tax classes (`has` says why): orders and reviews are guest records;
- delta: receipts by `min_last_modified`; listings and reviews have no such filter and are read whole and compared
  with their `updated_timestamp` here; sections (no times, few) are read whole;
- backfill slices: receipts by created time (`min_created`/`max_created`), cut to the slice exactly here.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime, timezone
from typing import Iterator
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from cart_pipelines.platforms.etsy import mapping
from cart_pipelines.platforms.etsy.api import API as ETSY_API
from cart_pipelines.platforms.etsy.api import PAGE_SIZE, REQUESTS_PER_SECOND, STATES
from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import ConnectionProblem, Explainer, HttpClient, HttpSettings, safe_url
from cart_pipelines.platforms.kit.http import json_body
from cart_pipelines.platforms.kit.oauth import OAuthClient, OAuthError, Tokens, new_state, pkce_pair
from cart_pipelines.platforms.kit.rest import RestReader
from cart_pipelines.platforms.kit.source import ApiSource, Slice, SliceNotPossible, SourceRecord, as_source_record, \
    read_record

__all__ = ["CARRIED", "PAGE_SIZE", "SCOPES", "NON_SECRET", "EtsySource", "EtsyExplainer", "authorization"]

API_URL = "https://openapi.etsy.com"
CONNECT_URL = "https://www.etsy.com/oauth/connect"
TOKEN_PATH = "/v3/public/oauth/token"
OAUTH_SCOPES = "listings_r shops_r transactions_r"
LACKS = {"customers": "Etsy has no customer entity: buyers appear only on receipts (name and ship-to address; "
                      "buyer_email only for apps Etsy has approved for it), so orders are guest orders",
         "manufacturers": "Etsy listings have no brand or manufacturer",
         "tax_classes": "Etsy computes sales tax and VAT itself; a listing has only is_taxable"}
# The OAuth scope each read needs (reviews and sections need the API key only).
SCOPES = {"products": "listings_r", "orders": "transactions_r", "categories": "shops_r"}
SCOPE_OF = {"listings": "listings_r", "receipts": "transactions_r", "the connection test": "shops_r"}
NON_SECRET = ("redirect_url", "shop_id")

# Canonical fields that come back exactly. Left out, and why (docs/platforms/etsy.md): categories' parents, paths and
# visibility (sections are flat and all shown); products' SKU (a listing with variations has one per variant only),
# description (Etsy's is plain text, made HTML), special price (sales are not in the API), category ids (one section
# per listing), url key (Etsy's URL is whole), variants (Etsy's own product ids); orders' number (Etsy's is the
# receipt id), customer (none: guest orders), names (one ship-to name), items (transaction ids, no tax per line),
# addresses (no billing address); reviews' customer (none), title (Etsy has none) and status (all published).
CARRIED = {
    "categories": ("source_id", "name", "position"),
    "products": ("source_id", "name", "price", "weight", "stock", "status", "images", "created_at", "updated_at"),
    "orders": ("source_id", "email", "status", "currency", "subtotal", "shipping", "tax", "discount", "grand_total",
               "created_at", "updated_at"),
    "reviews": ("source_id", "rating", "text", "created_at", "updated_at"),
}


def etsy_error(response: requests.Response) -> str | None:
    """Etsy's ErrorSchema `{"error": "..."}` (OAuth answers add `error_description`)."""
    body = json_body(response)
    if not isinstance(body, dict):
        return None
    return " ".join(str(body[k]) for k in ("error", "error_description") if body.get(k)) or None


class EtsyExplainer(Explainer):
    """403 is either the key without its shared secret (a credentials problem) or a token without the scope."""

    def problem(self, response: requests.Response, what: str) -> ConnectionProblem:
        said = etsy_error(response) or ""
        if response.status_code == 403 and "shared secret" in said.lower():
            return ConnectionProblem("credentials", f"Etsy refused {what} (HTTP 403): the x-api-key must be the API "
                                     f"Key and the API Secret joined by a colon — check API Secret for typos. The "
                                     f"platform said: {said}", 403)
        if response.status_code == 403:
            scope = next((s for key, s in SCOPE_OF.items() if what.startswith(key)), OAUTH_SCOPES)
            return ConnectionProblem("permission", f"Etsy refused {what} (HTTP 403): the seller's token lacks the "
                                     f"{scope} scope — {self.permission_hint}. The platform said: {said}", 403)
        if response.status_code == 429 and response.headers.get("x-remaining-today") == "0":
            return ConnectionProblem("rate_limited", f"Etsy's daily request allowance for this app is used up "
                                     f"(x-limit-per-day {response.headers.get('x-limit-per-day', '?')}) while reading "
                                     f"{what}: run again in 24 hours, or ask Etsy to raise the app's limit.", 429)
        return super().problem(response, what)


EXPLAINER = dict(
    platform="Etsy", credential_fields=("API Key (keystring)", "API Secret (shared secret)", "Refresh Token"),
    permission_hint=f"authorize the app again asking for the scopes {OAUTH_SCOPES}",
    error_message=etsy_error,
)


def authorization(keystring: str, redirect_url: str, scope: str = OAUTH_SCOPES,
                  connect_url: str = CONNECT_URL) -> tuple[str, str, str]:
    """Start the seller's authorization (code with PKCE): (URL to open, state, code_verifier). Exchange the code the
    redirect brings with `exchange_code`; its refresh token is the Refresh Token credential."""
    parts = urlsplit(connect_url)
    client = OAuthClient(f"{parts.scheme}://{parts.netloc}", keystring, "", redirect_url,
                         authorize_path=parts.path, scope=scope)
    state, (verifier, challenge) = new_state(), pkce_pair()
    return client.authorize_url(state, code_challenge=challenge), state, verifier


def exchange_code(keystring: str, redirect_url: str, code: str, code_verifier: str, api_url: str = API_URL,
                  verify=True) -> Tokens:
    return OAuthClient(api_url, keystring, "", redirect_url, token_path=TOKEN_PATH,
                       verify=verify).exchange(code, code_verifier=code_verifier)


class EtsyAuth(AuthBase):
    """`x-api-key` and a Bearer token kept fresh from the refresh token (refreshed a minute before it expires)."""

    def __init__(self, oauth: OAuthClient, api_key: str, refresh_token: str):
        self.oauth, self.api_key = oauth, api_key
        self.tokens = Tokens("", refresh_token, 0.0)
        self.lock = threading.Lock()
        self.refreshes = 0

    def access_token(self) -> str:
        with self.lock:
            if not self.tokens.access_token or self.tokens.expired():
                try:
                    self.tokens = self.oauth.refresh(self.tokens)
                except OAuthError as exc:
                    raise ConnectionProblem("credentials", f"Etsy would not renew the access token ({exc}): check "
                                            f"API Key (keystring) and Refresh Token for typos, that the refresh token "
                                            f"was issued to this app less than 90 days ago, or authorize the shop "
                                            f"again") from None
                self.refreshes += 1
            return self.tokens.access_token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["x-api-key"] = self.api_key
        r.headers["Authorization"] = f"Bearer {self.access_token()}"
        return r


def _unix(dt: datetime) -> int:
    return int(dt.astimezone(timezone.utc).timestamp())


def _after(record: dict, since: datetime) -> bool:
    value = record.get("updated_at")
    if "_unreadable" in record or not value:
        return "_unreadable" in record
    return datetime.fromisoformat(value.replace("Z", "+00:00")) > since


class EtsySource(ApiSource):
    platform = "etsy"
    supports_delta = True
    BASE_URL = "api_url"
    CREDENTIALS = (
        Credential("api_url", "ETSY_API_URL", "API URL", default=API_URL),
        Credential("keystring", "ETSY_API_KEY", "API Key", secret=True),
        Credential("shared_secret", "ETSY_API_SECRET", "API Secret", secret=True),
        Credential("refresh_token", "ETSY_REFRESH_TOKEN", "Refresh Token", secret=True),
        Credential("redirect_url", "ETSY_REDIRECT_URL", "Redirect URL (callback URL)", default=""),
        Credential("shop_id", "ETSY_SHOP_ID", "Shop ID", default=""),
    )

    def __init__(self, api_url: str, credentials: dict, verify=True, settings: HttpSettings | None = None):
        self.api_url = (api_url or API_URL).rstrip("/")
        keystring, secret = credentials["keystring"], credentials["shared_secret"]
        oauth = OAuthClient(self.api_url, keystring, "", credentials.get("redirect_url") or "",
                            token_path=TOKEN_PATH, verify=verify)
        self.auth = EtsyAuth(oauth, f"{keystring}:{secret}" if secret else keystring, credentials["refresh_token"])
        settings = settings or HttpSettings(requests_per_second=REQUESTS_PER_SECOND, max_attempts=10)
        self.client = HttpClient(ETSY_API.url(self.api_url), EtsyExplainer(**EXPLAINER), settings=settings,
                                 auth=self.auth, verify=verify)
        self.reader = RestReader(ETSY_API, self.client, verify=verify)
        self._shop_id = str(credentials.get("shop_id") or "") or None

    def describe(self) -> str:
        return f"Etsy shop {self._shop_id or '(the token owner’s)'} at {safe_url(self.api_url)} (Open API v3)"

    @property
    def shop(self) -> dict:
        if self._shop_id is None:
            me = self.reader.all("me")[0]
            if not me.get("shop_id"):
                raise ConnectionProblem("not_found", "Etsy: the authorized user has no shop; authorize with the "
                                        "seller's own Etsy account")
            self._shop_id = str(me["shop_id"])
        return {"shop_id": self._shop_id}

    def check(self) -> str:
        shop = self.shop
        sections = len(self.reader.all("sections", parent=shop))
        first = next(iter(self.reader.pages("listings", {"state": "active", "limit": 1}, parent=shop)), [])
        return f"Etsy shop {shop['shop_id']}: {sections} sections, {'some' if first else 'no'} active listings"

    def has(self, entity: str) -> bool:
        return entity not in LACKS

    def records(self, entity: str, updated_since: datetime | None = None) -> Iterator[SourceRecord]:
        params = {"min_last_modified": _unix(updated_since)} if updated_since is not None and entity == "orders" \
            else None
        rows = self._canonical(entity, params)
        if updated_since is not None and entity != "categories":  # sections carry no time: read whole
            rows = (r for r in rows if _after(r, updated_since))
        return (as_source_record(n, r) for n, r in enumerate(rows, start=1))

    def records_in(self, entity: str, part: Slice) -> Iterator[SourceRecord]:
        """Receipts by created time: `min_created`/`max_created` (unix seconds, both inclusive), cut to [start, end)."""
        if entity != "orders" or part.field != "created_at":
            raise SliceNotPossible(f"Etsy's API has no {'id-range' if part.field == 'id' else 'created-time'} filter "
                                   f"for {entity}; backfill Etsy orders by month, and migrate {entity} with "
                                   f"full_migration")
        window = {"min_created": _unix(part.start), "max_created": math.ceil(part.end.timestamp())}
        rows = (r for r in self._canonical("orders", window) if "_unreadable" in r or part.contains(r))
        return (as_source_record(n, r) for n, r in enumerate(rows, start=1))

    def _canonical(self, entity: str, params: dict | None) -> Iterator[dict]:
        if not self.has(entity):
            return
        shop = self.shop
        if entity == "categories":
            yield from (read_record("Etsy", entity, mapping.section, s, id_field="shop_section_id")
                        for s in self.reader.all("sections", parent=shop))
        elif entity == "products":
            for state in STATES:
                for page in self.reader.pages("listings", {"state": state}, parent=shop, what=f"listings ({state})"):
                    yield from (read_record("Etsy", entity, mapping.listing, p, id_field="listing_id") for p in page)
        elif entity == "orders":
            for page in self.reader.pages("receipts", params, parent=shop):
                yield from (read_record("Etsy", entity, mapping.receipt, r, id_field="receipt_id") for r in page)
        elif entity == "reviews":
            for page in self.reader.pages("reviews", parent=shop):
                yield from (read_record("Etsy", entity, mapping.review, r, id_field="transaction_id") for r in page)
        else:
            raise ValueError(f"Etsy has no entity {entity!r}")

    def ids(self, entity: str) -> Iterator[str] | None:
        """Etsy has no id-only listing: the ids come from the full lists (100 records a request)."""
        if not self.has(entity):
            return None
        return (r["source_id"] for r in self._canonical(entity, None) if r.get("source_id"))
