"""Etsy emulator: the store's canonical records served as the Open API v3 under /v3/application/.

Built from Etsy's published OpenAPI 3.0 file (`https://www.etsy.com/openapi/generated/oas/3.0.0.json`; read from the
copy in AnthonyHewins/etsy `3.0.0.json` at ed9adaa) and the developer docs (Request Standards, Authentication,
Rate Limits):
- auth: `x-api-key` on every request, `keystring:shared_secret` (the keystring alone is 403 "Shared secret is
  required in x-api-key header", as Etsy answers apps since the shared secret became required; a wrong key 401);
  `Authorization: Bearer <user_id>.<token>` for the endpoints whose spec security names an OAuth scope
  (users/me shops_r, listings listings_r, receipts transactions_r); a missing, wrong or expired token 401
  `{"error": "invalid_token"}`, a token without the scope 403 (Knobs.denied_scopes are scopes never granted);
- OAuth: `GET /oauth/connect` (the seller's consent, granted at once here: redirects with `code` and `state`),
  `POST /v3/public/oauth/token` with `authorization_code` (PKCE S256 verifier checked) or `refresh_token`
  (`client_id` = keystring); access tokens last 3600 s, refresh tokens 90 days, both `<user_id>.<random>`;
- lists `{"count", "results"}` with `limit` (1..100, default 25; outside is 400) + `offset` (default 0);
  listings (`shops/{id}/listings`) one `state` at a time (default active), newest first (`sort_on`/`sort_order`
  only apply to searches, the spec says, so they are ignored), `includes` Images, Inventory, Shop, User;
  receipts with `min_created`/`max_created`/`min_last_modified`/`max_last_modified` (unix, inclusive, at least
  946684800), `sort_on` created|updated|receipt_id, `sort_order`, `was_paid`/`was_shipped`/`was_canceled`, each
  with its transactions; reviews (`shops/{id}/reviews`, `min_created`/`max_created`); sections unpaged;
- single items: listings/{id} (+ /inventory, /images), shops/{id}/sections/{id}, shops/{id}/receipts/{id}
  (+ /transactions); errors are `{"error": "..."}`;
- rate limits: 10 per second and 10,000 per day per app, reported on every answer in `x-limit-per-second`,
  `x-remaining-this-second`, `x-limit-per-day`, `x-remaining-today`; past either, 429 with `retry-after`.
Messy data as shops have it: disabled products are `inactive`, `draft` or `expired` listings, in-stock zero ones
`sold_out`; variants are inventory products with offerings and custom properties 513/514; descriptions plain text;
`buyer_email` only while the app is approved for it (`buyer_email_approved`).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from datetime import datetime, timezone
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.etsy import mapping as m
from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import Emulator, EmulatorStore, FixedWindow, Knobs

APP = "/v3/application"
KEYSTRING = "emuetsy1a2b3c4d5e6f7g8h9i0"
SHARED_SECRET = "emusecretq1w2e3r4t5"
USER_ID = 81234567
SHOP_ID = 31234567
REDIRECT_URL = "http://localhost:8765/callback"
CURRENCY = "NOK"
ACCESS_TTL, REFRESH_TTL = 3600, 90 * 86400
GONE_LISTING = 900_000_000  # ids of listings deleted since they were reviewed
MIN_TIME = 946684800  # the spec's minimum for every unix-time filter
STATUS_OUT = {"pending": "open", "on_hold": "payment processing", "processing": "paid", "complete": "completed",
              "canceled": "canceled", "refunded": "fully refunded"}
SCOPE = {"me": "shops_r", "listings": "listings_r", "listing": "listings_r", "inventory": "listings_r",
         "receipts": "transactions_r", "receipt": "transactions_r", "transactions": "transactions_r"}
ALL_SCOPES = "listings_r shops_r transactions_r"


class EtsyError(Exception):
    def __init__(self, status: int, error: str, headers: dict | None = None, description: str | None = None):
        super().__init__(error)
        self.status, self.error, self.headers, self.description = status, error, headers or {}, description


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class EtsyEmulator(Emulator):
    platform = "etsy"
    #: whether Etsy approved the app for buyer e-mails (else receipts' buyer_email is null)
    buyer_email_approved = True
    fault_exempt = ("/v3/public/oauth", "/oauth/")
    url_map = Map([
        Rule("/oauth/connect", endpoint="connect", methods=["GET"]),
        Rule("/v3/public/oauth/token", endpoint="token", methods=["POST"]),
        Rule(f"{APP}/users/me", endpoint="me", methods=["GET"]),
        Rule(f"{APP}/shops/<int:shop_id>/sections", endpoint="sections", methods=["GET"]),
        Rule(f"{APP}/shops/<int:shop_id>/sections/<int:id_>", endpoint="section", methods=["GET"]),
        Rule(f"{APP}/shops/<int:shop_id>/listings", endpoint="listings", methods=["GET"]),
        Rule(f"{APP}/listings/<int:id_>", endpoint="listing", methods=["GET"]),
        Rule(f"{APP}/listings/<int:id_>/inventory", endpoint="inventory", methods=["GET"]),
        Rule(f"{APP}/listings/<int:id_>/images", endpoint="images", methods=["GET"]),
        Rule(f"{APP}/shops/<int:shop_id>/receipts", endpoint="receipts", methods=["GET"]),
        Rule(f"{APP}/shops/<int:shop_id>/receipts/<int:id_>", endpoint="receipt", methods=["GET"]),
        Rule(f"{APP}/shops/<int:shop_id>/receipts/<int:id_>/transactions", endpoint="transactions",
             methods=["GET"]),
        Rule(f"{APP}/shops/<int:shop_id>/reviews", endpoint="reviews", methods=["GET"]),
    ])

    def __init__(self, store: EmulatorStore, knobs: Knobs | None = None):
        super().__init__(store, knobs)
        self.second, self.day = FixedWindow(10, 1.0), FixedWindow(10_000, 86_400.0)
        self.tokens: dict[str, tuple[float, str]] = {}  # access token -> (expires, scopes)
        self.refresh_tokens: dict[str, float] = {}
        self.codes: dict[str, tuple[str, str, str]] = {}  # code -> (challenge, redirect_uri, scopes)
        self.oauth_lock = threading.Lock()
        self.refresh_token = self._issue_refresh()

    def credentials(self) -> dict:
        return {"keystring": KEYSTRING, "shared_secret": SHARED_SECRET, "refresh_token": self.refresh_token,
                "redirect_url": REDIRECT_URL}

    # --- OAuth ---------------------------------------------------------------------------------------------------
    def _issue_refresh(self) -> str:
        token = f"{USER_ID}.{secrets.token_urlsafe(24)}"
        self.refresh_tokens[token] = time.time() + REFRESH_TTL
        return token

    def _granted(self, asked: str) -> str:
        return " ".join(s for s in asked.split() if s not in self.knobs.denied_scopes)

    def connect(self, request: Request):
        a = request.args
        if a.get("client_id") != KEYSTRING:
            return self.json({"error": "invalid_client"}, 400)
        if a.get("code_challenge_method") != "S256" or not a.get("code_challenge"):
            return self.json({"error": "invalid_request", "error_description": "code_challenge is required"}, 400)
        code = secrets.token_urlsafe(16)
        with self.oauth_lock:
            self.codes[code] = (a["code_challenge"], a.get("redirect_uri", ""), self._granted(a.get("scope", "")))
        return redirect(f"{a.get('redirect_uri')}?{urlencode({'code': code, 'state': a.get('state', '')})}")

    def token(self, request: Request):
        f = request.form
        if f.get("client_id") != KEYSTRING:
            return self.json({"error": "invalid_client", "error_description": "Unknown client"}, 401)
        with self.oauth_lock:
            if f.get("grant_type") == "refresh_token":
                if self.refresh_tokens.get(f.get("refresh_token", ""), 0) < time.time():
                    return self.json({"error": "invalid_grant", "error_description": "Invalid refresh token"}, 400)
                scopes = self._granted(ALL_SCOPES)
            elif f.get("grant_type") == "authorization_code":
                challenge, redirect_uri, scopes = self.codes.pop(f.get("code", ""), (None, None, None))
                if challenge is None or redirect_uri != f.get("redirect_uri"):
                    return self.json({"error": "invalid_grant", "error_description": "code is invalid"}, 400)
                if _s256(f.get("code_verifier", "")) != challenge:
                    return self.json({"error": "invalid_grant", "error_description": "code_verifier is invalid"},
                                     400)
            else:
                return self.json({"error": "unsupported_grant_type"}, 400)
            access = f"{USER_ID}.{secrets.token_urlsafe(24)}"
            self.tokens[access] = (time.time() + ACCESS_TTL, scopes)
            refresh = self._issue_refresh()
        return self.json({"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_TTL,
                          "refresh_token": refresh})

    def expire_token(self, request: Request) -> None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.oauth_lock:
            if token in self.tokens:
                self.tokens[token] = (0.0, self.tokens[token][1])

    # --- the HTTP layer ------------------------------------------------------------------------------------------
    def error_response(self, err: EtsyError) -> Response:
        body = {"error": err.error, **({"error_description": err.description} if err.description else {})}
        return self.json(body, err.status, err.headers)

    def error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return self.error_response(EtsyError(exc.code or 500, "Resource not found" if exc.code == 404 else
                                                 exc.description or "Error"))
        return self.error_response(EtsyError(500, "An internal error occurred"))

    def _limits(self) -> tuple[dict, bool]:
        ok_s, left_s, _ = self.second.take()
        ok_d, left_d, reset_d = self.day.take() if ok_s else (True, self.day.quota - self.day.used, 0)
        headers = {"x-limit-per-second": "10", "x-remaining-this-second": str(left_s),
                   "x-limit-per-day": "10000", "x-remaining-today": str(left_d)}
        if not ok_s:
            headers["retry-after"] = "1"
        elif not ok_d:
            headers["retry-after"] = str(max(1, int(reset_d)))
        return headers, ok_s and ok_d

    def throttled(self, request: Request) -> Response:
        return self.error_response(EtsyError(429, "You have exceeded your quota of: 10 requests per second.",
                                             {"retry-after": "1", "x-limit-per-second": "10",
                                              "x-remaining-this-second": "0", "x-limit-per-day": "10000",
                                              "x-remaining-today": str(self.day.quota - self.day.used)}))

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
        except HTTPException:
            return super().__call__(environ, start_response)
        if endpoint in ("connect", "token"):  # the OAuth service is not the API under test: no storms nor faults
            return getattr(self, endpoint)(request)(environ, start_response)
        headers = {}
        try:
            headers = self._authorize(request, endpoint, args)
        except EtsyError as err:
            err.headers = {**headers, **err.headers} if headers else err.headers
            return self.error_response(err)(environ, start_response)

        def with_limits(status, response_headers, exc_info=None):
            return start_response(status, response_headers + list(headers.items()), exc_info)
        return super().__call__(environ, with_limits)

    def _authorize(self, request: Request, endpoint: str, args: dict) -> dict:
        key = request.headers.get("x-api-key", "")
        if key == KEYSTRING:
            raise EtsyError(403, "Shared secret is required in x-api-key header")
        if key != f"{KEYSTRING}:{SHARED_SECRET}":
            raise EtsyError(401, "Invalid API key")
        headers, ok = self._limits()
        if self.knobs.rate_limit and not ok:
            raise EtsyError(429, "You have exceeded your quota of: 10 requests per second."
                            if headers.get("retry-after") == "1" else "You have exceeded your daily quota.", headers)
        if args.get("shop_id") not in (None, SHOP_ID):
            raise EtsyError(404, f"Could not find a shop with shop_id = {args['shop_id']}", headers)
        scope = SCOPE.get(endpoint)
        if scope:
            token = request.headers.get("Authorization", "")
            if not token.startswith("Bearer "):
                raise EtsyError(401, "invalid_token", headers, "An OAuth access token is required")
            with self.oauth_lock:
                expires, scopes = self.tokens.get(token[7:], (0.0, ""))
            if expires < time.time():
                raise EtsyError(401, "invalid_token", headers, "access token is expired or invalid")
            if scope not in scopes.split():
                raise EtsyError(403, f"Insufficient scope. This endpoint requires the {scope} scope.", headers)
        return headers

    # --- paging --------------------------------------------------------------------------------------------------
    @staticmethod
    def _int(args, key: str, default: int | None, low: int | None = None, high: int | None = None) -> int | None:
        raw = args.get(key)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            raise EtsyError(400, f"Expected parameter '{key}' to be an integer") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise EtsyError(400, f"Expected parameter '{key}' to be between {low} and {high}"
                            if high is not None else f"Expected parameter '{key}' to be at least {low}")
        return value

    def _paging(self, args) -> tuple[int, int]:
        return self._int(args, "limit", 25, 1, 100), self._int(args, "offset", 0, 0)

    def _select(self, entity: str, where: list[str], params: list, order: str, limit: int, offset: int):
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        with self.store.lock:
            total = self.store.con.execute(f"SELECT count(*) FROM {entity}{clause}", params).fetchall()[0][0]
            rows = [self.store._decode(r[0]) for r in self.store.con.execute(
                f"SELECT record FROM {entity}{clause} ORDER BY {order} LIMIT ? OFFSET ?",
                params + [limit, offset]).fetchall()]
        return total, rows

    def _answer(self, results: list, total: int | None = None) -> Response:
        self.delay(len(results))
        return self.json({"count": len(results) if total is None else total, "results": results})

    # --- routes --------------------------------------------------------------------------------------------------
    def me(self, request: Request):
        return self.json({"user_id": USER_ID, "shop_id": SHOP_ID})

    def sections(self, request: Request, shop_id: int):
        _, rows = self._select("categories", [], [], "id", 1_000_000, 0)
        return self._answer([self.section_json(c) for c in rows])

    def section(self, request: Request, shop_id: int, id_: int):
        c = self.store.get("categories", id_)
        return self.json(self.section_json(c)) if c else self.error_response(
            EtsyError(404, f"Could not find a shop section with shop_section_id = {id_}"))

    def listings(self, request: Request, shop_id: int):
        try:
            args = request.args
            state = args.get("state") or "active"
            if state not in m.ENABLED_STATES | {"inactive", "draft", "expired"}:
                raise EtsyError(400, "Expected parameter 'state' to be one of active, inactive, sold_out, draft, "
                                     "expired")
            limit, offset = self._paging(args)
            where, params = self._state_sql(state)
            total, rows = self._select("products", where, params, "created_at DESC, id DESC", limit, offset)
            return self._answer([self.listing_json(p, self._includes(args)) for p in rows], total)
        except EtsyError as err:
            return self.error_response(err)

    @staticmethod
    def _includes(args) -> set[str]:
        return {i.strip() for v in args.getlist("includes") for i in v.split(",") if i.strip()}

    @staticmethod
    def _state_sql(state: str) -> tuple[list[str], list]:
        disabled = "json_extract_string(record, '$.status') = 'disabled'"
        zero = "coalesce(TRY_CAST(json_extract_string(record, '$.stock') AS BIGINT), 0) <= 0"
        return {"active": [f"NOT ({disabled})", f"NOT ({zero})"], "sold_out": [f"NOT ({disabled})", zero],
                "draft": [disabled, "id % 3 = 0"], "expired": [disabled, "id % 3 = 1"],
                "inactive": [disabled, "id % 3 = 2"]}[state], []

    def listing(self, request: Request, id_: int):
        p = self.store.get("products", id_)
        return self.json(self.listing_json(p, self._includes(request.args))) if p else self.error_response(
            EtsyError(404, f"Listing {id_} not found"))

    def inventory(self, request: Request, id_: int):
        p = self.store.get("products", id_)
        return self.json(self.inventory_json(p)) if p else self.error_response(
            EtsyError(404, f"Listing {id_} not found"))

    def images(self, request: Request, id_: int):
        p = self.store.get("products", id_)
        if not p:
            return self.error_response(EtsyError(404, f"Listing {id_} not found"))
        return self._answer(self.images_json(p))

    def receipts(self, request: Request, shop_id: int):
        try:
            args = request.args
            where, params = [], []
            for key, column, op in (("min_created", "created_at", ">="), ("max_created", "created_at", "<="),
                                    ("min_last_modified", "updated_at", ">="),
                                    ("max_last_modified", "updated_at", "<=")):
                value = self._int(args, key, None, MIN_TIME)
                if value is not None:
                    where.append(f"{column} {op} ?")
                    params.append(datetime.fromtimestamp(value, timezone.utc))
            for key, statuses in (("was_paid", ("processing", "complete", "refunded")), ("was_shipped", ("complete",)),
                                  ("was_canceled", ("canceled",))):
                if args.get(key) in ("true", "false"):
                    where.append(("" if args[key] == "true" else "NOT ") + "(json_extract_string(record, '$.status')"
                                 f" IN ({', '.join(repr(s) for s in statuses)}))")
            sort_on = args.get("sort_on") or "created"
            if sort_on not in ("created", "updated", "receipt_id"):
                raise EtsyError(400, "Expected parameter 'sort_on' to be one of created, updated, receipt_id")
            direction = "ASC" if (args.get("sort_order") or "desc") in ("asc", "ascending", "up") else "DESC"
            column = {"created": "created_at", "updated": "updated_at", "receipt_id": "id"}[sort_on]
            limit, offset = self._paging(args)
            total, rows = self._select("orders", where, params, f"{column} {direction}, id {direction}", limit,
                                       offset)
            return self._answer([self.receipt_json(o) for o in rows], total)
        except EtsyError as err:
            return self.error_response(err)

    def receipt(self, request: Request, shop_id: int, id_: int):
        o = self.store.get("orders", id_)
        return self.json(self.receipt_json(o)) if o else self.error_response(
            EtsyError(404, f"Could not find a receipt with receipt_id = {id_}"))

    def transactions(self, request: Request, shop_id: int, id_: int):
        o = self.store.get("orders", id_)
        if not o:
            return self.error_response(EtsyError(404, f"Could not find a receipt with receipt_id = {id_}"))
        return self._answer(self.receipt_json(o)["transactions"])

    def reviews(self, request: Request, shop_id: int):
        try:
            args = request.args
            where, params = [], []
            for key, op in (("min_created", ">="), ("max_created", "<=")):
                value = self._int(args, key, None, MIN_TIME)
                if value is not None:
                    where.append(f"created_at {op} ?")
                    params.append(datetime.fromtimestamp(value, timezone.utc))
            limit, offset = self._paging(args)
            total, rows = self._select("reviews", where, params, "created_at DESC, id DESC", limit, offset)
            return self._answer([self.review_json(r) for r in rows], total)
        except EtsyError as err:
            return self.error_response(err)

    # --- canonical -> Etsy JSON ----------------------------------------------------------------------------------
    @staticmethod
    def section_json(c: dict) -> dict:
        return {"shop_section_id": int(c["source_id"]), "title": c["name"], "rank": c.get("position") or 0,
                "user_id": USER_ID, "active_listing_count": 0}

    @staticmethod
    def _state(p: dict) -> str:
        pid = int(p["source_id"])
        if p.get("status") == "disabled":
            return ("draft", "expired", "inactive")[pid % 3]
        return "sold_out" if (p.get("stock") or 0) <= 0 else "active"

    @staticmethod
    def images_json(p: dict) -> list[dict]:
        pid = int(p["source_id"])
        return [{"listing_id": pid, "listing_image_id": pid * 100 + k, "hex_code": None, "red": None, "green": None,
                 "blue": None, "hue": None, "saturation": None, "brightness": None, "is_black_and_white": None,
                 "creation_tsz": m.unix(p.get("created_at")), "created_timestamp": m.unix(p.get("created_at")),
                 "rank": k + 1, "url_75x75": i["url"], "url_170x135": i["url"], "url_570xN": i["url"],
                 "url_fullxfull": i["url"], "full_height": 1000, "full_width": 1000, "alt_text": i.get("alt")}
                for k, i in enumerate(sorted(p.get("images") or [], key=lambda i: i.get("position") or 0))]

    @staticmethod
    def inventory_json(p: dict) -> dict:
        pid = int(p["source_id"])
        variants = p.get("variants") or []
        rows = variants or [{"sku": p.get("sku"), "price": p["price"], "stock": p.get("stock"), "options": []}]
        names = list(dict.fromkeys(o["name"] for v in variants for o in v.get("options") or []))
        products = [{"product_id": pid * 100 + k, "sku": v.get("sku") or "", "is_deleted": False,
                     "offerings": [{"offering_id": pid * 1000 + k, "quantity": v.get("stock") or 0,
                                    "is_enabled": True, "is_deleted": False,
                                    "price": m.money_out(v.get("price") if v.get("price") is not None else p["price"],
                                                         CURRENCY)}],
                     "property_values": [{"property_id": 513 + names.index(o["name"]), "property_name": o["name"],
                                          "scale_id": None, "scale_name": None, "value_ids": [],
                                          "values": [o["value"]]} for o in v.get("options") or []]}
                    for k, v in enumerate(rows, start=1)]
        on = [513 + k for k in range(len(names))]
        return {"products": products, "price_on_property": on, "quantity_on_property": on, "sku_on_property": on}

    def listing_json(self, p: dict, includes: set[str] = frozenset()) -> dict:
        pid = int(p["source_id"])
        created, updated = m.unix(p.get("created_at")), m.unix(p.get("updated_at"))
        section = next(iter(p.get("category_ids") or []), None)
        state = self._state(p)
        out = {
            "listing_id": pid, "user_id": USER_ID, "shop_id": SHOP_ID, "title": p["name"],
            "description": m.html_to_text(p.get("description_html")), "state": state,
            "creation_timestamp": created, "created_timestamp": created, "ending_timestamp": (updated or 0) + 10_368_000,
            "original_creation_timestamp": created, "last_modified_timestamp": updated, "updated_timestamp": updated,
            "state_timestamp": updated, "quantity": p.get("stock") or 0,
            "shop_section_id": int(section) if section else None, "featured_rank": -1,
            "url": f"https://www.etsy.com/listing/{pid}/{p.get('url_key') or 'item'}".rstrip("/"),
            "num_favorers": 0, "non_taxable": False, "is_taxable": True, "is_customizable": False,
            "is_personalizable": False, "personalization_is_required": False,
            "personalization_char_count_max": None, "personalization_instructions": None,
            "listing_type": "physical", "tags": [], "materials": [], "shipping_profile_id": None,
            "return_policy_id": None, "processing_min": 1, "processing_max": 3, "who_made": "i_did",
            "when_made": "made_to_order", "is_supply": False, "item_weight": p.get("weight"),
            # the spec's nullable enums list no null (a validator refuses it): Etsy's units are always set
            "item_weight_unit": "kg", "item_length": None, "item_width": None, "item_height": None,
            "item_dimensions_unit": "cm", "is_private": False,
            "style": [], "file_data": "", "has_variations": bool(p.get("variants")), "should_auto_renew": False,
            "language": "en-US", "price": m.money_out(p["price"], CURRENCY), "taxonomy_id": 1,
        }
        if "Images" in includes:
            out["images"] = self.images_json(p)
        if "Inventory" in includes:
            out["inventory"] = self.inventory_json(p)
        if "Shop" in includes:
            out["shop"] = {"shop_id": SHOP_ID, "shop_name": "EmulatedShop", "currency_code": CURRENCY}
        if "User" in includes:
            out["user"] = {"user_id": USER_ID, "primary_email": None, "first_name": None, "last_name": None,
                           "image_url_75x75": None}
        return out

    def receipt_json(self, o: dict) -> dict:
        rid, currency = int(o["source_id"]), o.get("currency") or CURRENCY
        created, updated = m.unix(o.get("created_at")), m.unix(o.get("updated_at"))
        ship = o.get("shipping_address") or o.get("billing_address") or {}
        status = STATUS_OUT.get(o.get("status"), "paid")
        refunds = cases.refunds(o)
        shipped = status == "completed"
        if refunds and status in ("paid", "completed"):  # a partial refund: shipped or not, as it stood
            status = "partially refunded"
        name = " ".join(x for x in (ship.get("first_name"), ship.get("last_name")) if x)
        subtotal, discount = m.Decimal(str(o.get("subtotal") or 0)), m.Decimal(str(o.get("discount") or 0))
        return {
            "receipt_id": rid, "receipt_type": 0, "seller_user_id": USER_ID, "seller_email": None,
            "buyer_user_id": 50_000_000 + rid, "buyer_email": o.get("email") if self.buyer_email_approved else None,
            "name": name, "first_line": ship.get("street") or "", "second_line": None, "city": ship.get("city") or "",
            "state": ship.get("region"), "zip": ship.get("postcode") or "", "status": status,
            "formatted_address": "\n".join(x for x in (name, ship.get("street"), ship.get("city")) if x),
            "country_iso": ship.get("country") or "", "payment_method": "cc", "payment_email": "",
            "message_from_seller": None, "message_from_buyer": None, "message_from_payment": None,
            "is_paid": status in ("paid", "completed", "fully refunded", "partially refunded"), "is_shipped": shipped,
            "create_timestamp": created, "created_timestamp": created, "update_timestamp": updated,
            "updated_timestamp": updated, "is_gift": False, "gift_message": "",
            "grandtotal": m.money_out(o["grand_total"], currency), "subtotal": m.money_out(subtotal - discount, currency),
            "total_price": m.money_out(subtotal, currency),
            "total_shipping_cost": m.money_out(o.get("shipping"), currency),
            "total_tax_cost": m.money_out(o.get("tax"), currency), "total_vat_cost": m.money_out(0, currency),
            "discount_amt": m.money_out(discount, currency), "gift_wrap_price": m.money_out(0, currency),
            "shipments": [],
            "refunds": [{"amount": m.money_out(r["amount"], currency), "created_timestamp": m.unix(r.get("created_at")),
                         "reason": r.get("reason"), "note_from_issuer": None, "status": None} for r in refunds],
            "transactions": [{
                "transaction_id": rid * 100 + k, "title": i.get("name"), "description": None,
                "seller_user_id": USER_ID, "buyer_user_id": 50_000_000 + rid, "create_timestamp": created,
                "created_timestamp": created, "paid_timestamp": created, "shipped_timestamp": None,
                "quantity": i.get("qty"), "listing_image_id": None, "receipt_id": rid, "is_digital": False,
                "file_data": "", "listing_id": int(i["product_id"]) if i.get("product_id") else None,
                "transaction_type": "listing", "product_id": None, "sku": i.get("sku"),
                "price": m.money_out(i.get("price"), currency), "shipping_cost": m.money_out(0, currency),
                "variations": [], "product_data": [], "shipping_profile_id": None, "min_processing_days": 1,
                "max_processing_days": 3, "shipping_method": None, "shipping_upgrade": None,
                "expected_ship_date": None, "buyer_coupon": 0, "shop_coupon": 0}
                for k, i in enumerate(o.get("items") or [], start=1)],
        }

    @staticmethod
    def review_json(r: dict) -> dict:
        # An Etsy review always names its listing (the spec's listing_id is not nullable): one of the store's
        # reviews linked to no product names a listing that no longer exists.
        return {"shop_id": SHOP_ID, "listing_id": int(r["product_id"]) if r.get("product_id") else
                GONE_LISTING + int(r["source_id"]),
                "transaction_id": int(r["source_id"]), "buyer_user_id": None, "rating": r["rating"],
                "review": r.get("text") or "", "language": "en", "image_url_fullxfull": None,
                "create_timestamp": m.unix(r.get("created_at")), "created_timestamp": m.unix(r.get("created_at")),
                "update_timestamp": m.unix(r.get("updated_at")), "updated_timestamp": m.unix(r.get("updated_at"))}


def rate_bound_rows_per_s(entity: str, plan: str = "standard") -> float | None:
    """Most rows/s the default app allowance permits: 10 requests a second × 100 records a page (benchmarks)."""
    return 10 * 100.0
