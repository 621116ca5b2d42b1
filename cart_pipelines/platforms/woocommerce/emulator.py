"""WooCommerce REST API v3 (`/wp-json/wc/v3/...`) over an EmulatorStore, as the official clients see it.

Documented behaviour followed (and where it was found):
- Authentication, WC_REST_Authentication (plugins/woocommerce/includes/class-wc-rest-authentication.php in
  github.com/woocommerce/woocommerce; https://developer.woocommerce.com/docs/apis/rest-api/authentication/):
  over HTTPS, HTTP Basic or `consumer_key`/`consumer_secret` query parameters; otherwise OAuth 1.0a one-legged
  with the parameters in the query string (or an `Authorization: OAuth` header), HMAC-SHA1 or HMAC-SHA256, the
  secret plus "&" as key, the base string `METHOD&rawurlencode(home_url + path)&...` where every parameter is
  rawurlencoded, sorted by raw key, joined as `key=value` and rawurlencoded again (so values are encoded twice),
  a 15-minute timestamp window and nonces that may not repeat. The PHP error texts are reproduced verbatim:
  "Consumer key is invalid." (OAuth), "Consumer secret is invalid." (Basic), "Invalid signature - provided
  signature does not match.", "Missing OAuth parameter(s) ...", "Invalid timestamp.", "Invalid nonce - nonce has
  already been used." — all 401 `woocommerce_rest_authentication_error`. An unknown key over Basic is *not* an
  error there: the request continues unauthenticated and the route answers 401 `woocommerce_rest_cannot_view`
  "Sorry, you cannot list resources.".
- Key permissions (read / write / read_write): a GET with a key lacking read answers 401
  `woocommerce_rest_authentication_error` "The API key provided does not have read permissions." (knob:
  `denied_scopes=("read",)`). A key whose WordPress user lacks the route's capability answers 403
  `woocommerce_rest_cannot_view` (knob: the capability name, e.g. "read_private_products", "list_users").
- Pagination (https://developer.wordpress.org/rest-api/using-the-rest-api/pagination/ and the WC controllers):
  `page`, `per_page` default 10, 1..100 — otherwise 400 `rest_invalid_param` "Invalid parameter(s): per_page"
  with `data.params` and `data.details` (WordPress core validation); headers `X-WP-Total`, `X-WP-TotalPages`
  and `Link` rel="prev"/"next"; a page past the end is an empty array. `offset` (WP_Query) skips that many
  records and overrides `page`. `_fields` limits the returned keys (`_fields=id`: an id-only listing).
- Filters: `modified_after` (strictly after) with `dates_are_gmt` on products, variations and orders; `after` and
  `before` (published date, strictly after / strictly before, WP_Query date_query's default `inclusive=false`) on
  products and orders;
  `orderby`/`order` with WooCommerce's defaults (products and orders newest first, terms and customers by name,
  reviews by date); reviews list `status=approved` unless asked (`all`, `hold`, `spam`, `trash`), `context=view`
  wraps review text in paragraphs (wpautop), `context=edit` returns it raw; reviews link their WordPress user in
  `_links.reviewer` (https://github.com/woocommerce/woocommerce, class-wc-rest-product-reviews-controller.php).
- Data: money as strings with two decimals ("12.50"); dates as `YYYY-MM-DDTHH:MM:SS` without zone, in the
  site's time zone (`date_*`) and in GMT (`date_*_gmt`); categories and brands (`products/brands`, core since
  WooCommerce 9.6, same shape as categories: class-wc-rest-product-brands-controller.php) have no dates;
  tax classes are identified by slug (`standard` is built in, named "Standard"); a variable product has empty
  `regular_price`/`sale_price`, its prices live on `products/{id}/variations`; orders keep `customer_id` only
  while the user exists (wc_reset_order_customer_id_on_deleted_user sets it to 0 when the user is deleted);
  guest orders have `customer_id` 0; weights are in the shop's unit (`settings/products/woocommerce_weight_unit`,
  kg by default; `emulator.weight_unit` switches it).
- Rate limits: WooCommerce's REST API has none of its own; hosts and security plugins add theirs. The emulator
  models such a host limit with WooCommerce's own limiter policy and headers (Store API rate limiting,
  https://developer.woocommerce.com/docs/apis/store-api/rate-limiting: 25 requests per 10 s by default,
  `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`, `RateLimit-Retry-After`, error code
  `rate_limit_exceeded` "Too many requests. Please wait N seconds before trying again."), answered as hosts do
  with HTTP 429 and `Retry-After`. Plans: standard 25/10 s, business 100/10 s, unlimited.

Simplifications: slugs are the store's URL keys as they are (WordPress would make duplicates unique); product
permalinks use the default `/product/<slug>/` base; a customer's billing and shipping addresses are the store's
default billing and shipping addresses (WooCommerce keeps exactly one of each).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import math
import time
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import parse_qsl, quote, unquote, urlencode
from zoneinfo import ZoneInfo

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.kit.emulator import (
    Emulator,
    EmulatorStore,
    FixedWindow,
    Knobs,
    to_utc,
)
from cart_pipelines.platforms.woocommerce.emulator_writes import WRITE_RULES, WooWrites
from cart_pipelines.sample.generator import slugify

API = "/wp-json/wc/v3"
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 10
PLANS = {"standard": (25, 10.0), "business": (100, 10.0), "unlimited": None}
SITE_TZ = ZoneInfo("Europe/Oslo")  # a shop whose site time differs from GMT, as most do
WC_VERSION = "9.8.5"
OAUTH_WINDOW = 15 * 60
STATUS_OUT = {"pending": "pending", "processing": "processing", "complete": "completed", "canceled": "cancelled",
              "refunded": "refunded", "on_hold": "on-hold"}
REVIEW_STATUS_OUT = {"approved": "approved", "pending": "hold", "rejected": "spam"}
REVIEW_STATUS_FILTER = {"approved": ("approved",), "hold": ("pending",), "spam": ("rejected",), "trash": (),
                        "all": ("approved", "pending")}

# Per collection: store entity, WordPress capability the key's user needs, orderby -> SQL, default orderby/order.
_NAME = "json_extract_string(record, '$.name')"
_SLUG = "json_extract_string(record, '$.url_key')"
_TERMS = {"id": "id", "include": "id", "name": _NAME, "slug": _SLUG, "term_group": "id", "description": "id",
          "count": "id"}
_POSTS = {"date": "created_at", "id": "id", "include": "id", "title": _NAME, "slug": _SLUG, "modified": "updated_at",
          "menu_order": "id", "price": "id", "popularity": "id", "rating": "id"}
COLLECTIONS = {
    "categories": ("categories", "manage_product_terms", _TERMS, "name", "asc"),
    "brands": ("manufacturers", "manage_product_terms", _TERMS, "name", "asc"),
    "products": ("products", "read_private_products", _POSTS, "date", "desc"),
    "customers": ("customers", "list_users", {"id": "id", "include": "id", "name": _NAME,
                                              "registered_date": "created_at"}, "name", "asc"),
    "orders": ("orders", "read_private_shop_orders", {**_POSTS, "title": "id", "slug": "id"}, "date", "desc"),
    "reviews": ("reviews", "moderate_comments", {"date": "created_at", "date_gmt": "created_at", "id": "id",
                                                 "include": "id", "product": "id"}, "date_gmt", "desc"),
}
WEIGHT_UNITS = {"kg": Decimal(1), "g": Decimal("0.001"), "lbs": Decimal("0.45359237"), "oz": Decimal("0.028349523125")}
CAPABILITY = {"taxes": "manage_woocommerce", "tax_classes": "manage_woocommerce", "settings": "manage_woocommerce",
              "variations": "read_private_products", **{k: v[1] for k, v in COLLECTIONS.items()}}


def money(value) -> str:
    return "" if value is None or value == "" else f"{Decimal(str(value)):.2f}"


def wc_date(value, tz=timezone.utc) -> str | None:
    dt = to_utc(value)
    return dt.astimezone(tz).strftime("%Y-%m-%dT%H:%M:%S") if dt else None


def rawurlencode(text: str) -> str:
    """PHP rawurlencode (RFC 3986): everything but A-Z a-z 0-9 - _ . ~ is percent-encoded."""
    return quote(text, safe="-_.~")


def php_query(query_string: str) -> dict[str, str]:
    """$_GET as PHP builds it: '+' is a space, and a repeated key keeps its last value."""
    params: dict[str, str] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        params[key] = value
    return params


def oauth_signature(method: str, url: str, params: dict[str, str], secret: str, algorithm: str) -> str:
    """The signature WC_REST_Authentication::check_oauth_signature computes (params without oauth_signature)."""
    pairs = [rawurlencode(f"{rawurlencode(k)}={rawurlencode(params[k])}")
             for k in sorted(params, key=lambda k: k.encode())]
    base = f"{method.upper()}&{rawurlencode(url)}&{'%26'.join(pairs)}"
    digest = hmac.new(f"{secret}&".encode(), base.encode(), hashlib.sha1 if algorithm == "sha1" else hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def wpautop(text: str) -> str:
    paragraphs = [p.strip().replace("\n", "<br />\n") for p in text.split("\n\n") if p.strip()]
    return "".join(f"<p>{p}</p>\n" for p in paragraphs)


class WpError(Exception):
    """A WP_Error: {"code", "message", "data": {"status", ...}}."""

    def __init__(self, status: int, code: str, message: str, **data):
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data


def invalid_param(name: str, message: str, code: str = "rest_out_of_bounds") -> WpError:
    return WpError(400, "rest_invalid_param", f"Invalid parameter(s): {name}", params={name: message},
                   details={name: {"code": code, "message": message, "data": None}})


class WooCommerceEmulator(WooWrites, Emulator):
    platform = "woocommerce"
    url_map = Map(WRITE_RULES + [
        Rule(f"{API}/products/categories", endpoint="categories", methods=["GET"]),
        Rule(f"{API}/products/brands", endpoint="brands", methods=["GET"]),
        Rule(f"{API}/products/reviews", endpoint="reviews", methods=["GET"]),
        Rule(f"{API}/products/<int:product_id>/variations", endpoint="variations", methods=["GET"]),
        Rule(f"{API}/products", endpoint="products", methods=["GET"]),
        Rule(f"{API}/taxes/classes", endpoint="tax_classes", methods=["GET"]),
        Rule(f"{API}/taxes", endpoint="taxes", methods=["GET"]),
        Rule(f"{API}/customers", endpoint="customers", methods=["GET"]),
        Rule(f"{API}/orders", endpoint="orders", methods=["GET"]),
        Rule(f"{API}/settings/products/woocommerce_weight_unit", endpoint="weight_unit_setting", methods=["GET"]),
        Rule(f"{API}/settings/general/woocommerce_calc_taxes", endpoint="calc_taxes_setting", methods=["GET"]),
    ], redirect_defaults=False)

    def __init__(self, store: EmulatorStore, knobs: Knobs | None = None):
        super().__init__(store, knobs)
        seed = hashlib.sha1(b"cart_pipelines/woocommerce-emulator").hexdigest()
        self.consumer_key = "ck_" + seed
        self.consumer_secret = "cs_" + hashlib.sha1(seed.encode()).hexdigest()
        plan = PLANS.get(self.knobs.plan, PLANS["standard"])
        self.limit = FixedWindow(*plan) if plan and self.knobs.rate_limit else None
        self.nonces: dict[str, int] = {}  # nonce -> timestamp, per the one key
        self.weight_unit = "kg"  # WooCommerce → Settings → Products; tests may switch it to g, lbs or oz

    def credentials(self) -> dict:
        return {"consumer_key": self.consumer_key, "consumer_secret": self.consumer_secret}

    # --- responses -------------------------------------------------------------------------------------------
    def wp_error(self, err: WpError, headers: dict | None = None) -> Response:
        return self.json({"code": err.code, "message": err.message, "data": {"status": err.status, **err.data}},
                         err.status, headers)

    def error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and exc.code in (404, 405):  # WordPress: 404 for a wrong method too
            return self.wp_error(WpError(404, "rest_no_route", "No route was found matching the URL and request "
                                                               "method."))
        return self.wp_error(WpError(500, "internal_server_error", "There has been a critical error on this "
                                                                   "website."))

    def _throttle_body(self, retry: int, limit: int) -> Response:
        headers = {"Retry-After": str(retry), "RateLimit-Limit": str(limit), "RateLimit-Remaining": "0",
                   "RateLimit-Retry-After": str(retry), "RateLimit-Reset": str(math.ceil(time.time()) + retry)}
        return self.wp_error(WpError(429, "rate_limit_exceeded", f"Too many requests. Please wait {retry} seconds "
                                                                 "before trying again."), headers)

    def throttled(self, request: Request) -> Response:
        return self._throttle_body(1, self.limit.quota if self.limit else PLANS["standard"][0])

    def __call__(self, environ, start_response):
        # The host's limit sits in front of WordPress: it answers before any PHP runs.
        if self.limit is not None and not self.knobs.storm:
            allowed, left, reset = self.limit.take()
            if not allowed:
                with self.lock:
                    self.requests += 1
                return self._throttle_body(max(1, math.ceil(reset)), self.limit.quota)(environ, start_response)
            environ["woocommerce.ratelimit"] = {"RateLimit-Limit": str(self.limit.quota),
                                                "RateLimit-Remaining": str(left),
                                                "RateLimit-Reset": str(math.ceil(time.time() + reset))}
        return super().__call__(environ, start_response)

    # --- authentication (WC_REST_Authentication) ---------------------------------------------------------------
    def authenticate(self, request: Request, params: dict[str, str]) -> bool:
        """True for a valid key; raises WpError for a failed attempt; False when no key was offered."""
        error = None
        if self.base_url.startswith("https"):
            key, secret = params.get("consumer_key"), params.get("consumer_secret")
            if not (key and secret) and request.authorization and request.authorization.type == "basic":
                key, secret = request.authorization.username, request.authorization.password
            if key and secret and key == self.consumer_key:
                if hmac.compare_digest(secret, self.consumer_secret):
                    return True
                error = WpError(401, "woocommerce_rest_authentication_error", "Consumer secret is invalid.")
        oauth = dict(params)
        header = request.headers.get("Authorization", "").strip()
        if header.startswith("OAuth "):
            for part in header[6:].split(","):
                k, _, v = part.strip().partition("=")
                if k.startswith("oauth_"):
                    oauth[k] = unquote(v.strip('"'))
        names = ("oauth_consumer_key", "oauth_timestamp", "oauth_nonce", "oauth_signature", "oauth_signature_method")
        missing = [n for n in names if not oauth.get(n)]
        if len(missing) == len(names):
            if error:
                raise error
            return False
        if missing:
            raise WpError(401, "woocommerce_rest_authentication_missing_parameter",
                          f"Missing OAuth parameter{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        if oauth["oauth_consumer_key"] != self.consumer_key:
            raise WpError(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        given = unquote(oauth.pop("oauth_signature").replace(" ", "+"))
        method = oauth["oauth_signature_method"]
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            raise WpError(401, "woocommerce_rest_authentication_error",
                          "Invalid signature - signature method is invalid.")
        raw_path = (request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI") or request.path)
        url = self.base_url + raw_path.split("?", 1)[0]  # home_url() + request path: the configured host, not Host:
        expected = oauth_signature(request.method, url, oauth, self.consumer_secret, method[5:].lower())
        if not hmac.compare_digest(expected, given):
            raise WpError(401, "woocommerce_rest_authentication_error",
                          "Invalid signature - provided signature does not match.")
        try:
            stamp = int(oauth["oauth_timestamp"])
        except ValueError:
            stamp = 0
        now = int(time.time())
        if stamp < now - OAUTH_WINDOW or stamp > now + OAUTH_WINDOW:
            raise WpError(401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
        with self.lock:
            self.nonces = {n: t for n, t in self.nonces.items() if t >= now - OAUTH_WINDOW}
            if oauth["oauth_nonce"] in self.nonces:
                raise WpError(401, "woocommerce_rest_authentication_error",
                              "Invalid nonce - nonce has already been used.")
            self.nonces[oauth["oauth_nonce"]] = stamp
        return True

    def capability(self, user_ok: bool, capability: str) -> None:
        if not user_ok:
            raise WpError(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        if capability in self.knobs.denied_scopes:
            raise WpError(403, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")

    # --- collection machinery ---------------------------------------------------------------------------------
    def _handle(self, request: Request, kind: str, serve) -> Response:
        extra = request.environ.get("woocommerce.ratelimit", {})
        try:
            params = php_query(request.query_string.decode("latin-1"))
            user = self.authenticate(request, params)
            if user and "read" in self.knobs.denied_scopes:
                raise WpError(401, "woocommerce_rest_authentication_error",
                              "The API key provided does not have read permissions.")
            per_page, page = self._paging(params)  # WordPress validates args before the permission callback
            self.capability(user, CAPABILITY[kind])
            body, headers = serve(params, per_page, page)
        except WpError as err:
            return self.wp_error(err, extra)
        fields = [f.strip() for f in params.get("_fields", "").split(",") if f.strip()]
        if fields and isinstance(body, list):
            body = [{k: v for k, v in item.items() if k in fields} for item in body]
        return self.json(body, 200, {**headers, **extra})

    @staticmethod
    def _paging(params: dict) -> tuple[int, int]:
        def integer(name: str, default: int) -> int:
            raw = params.get(name)
            if raw is None or raw == "":
                return default
            try:
                return int(raw)
            except ValueError:
                raise invalid_param(name, f"{name} is not of type integer.", "rest_invalid_type") from None

        per_page, page = integer("per_page", DEFAULT_PER_PAGE), integer("page", 1)
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise invalid_param("per_page", f"per_page must be between 1 (inclusive) and {MAX_PER_PAGE} (inclusive)")
        if page < 1:
            raise invalid_param("page", "page must be greater than or equal to 1")
        return per_page, page

    @staticmethod
    def _offset(params: dict, default: int) -> int:
        """`offset` (WP_Query's): records to skip; when given it replaces the page's own offset."""
        raw = params.get("offset")
        if raw in (None, ""):
            return default
        if not raw.isdigit():
            raise invalid_param("offset", "offset is not of type integer.", "rest_invalid_type")
        return int(raw)

    def _pages_headers(self, request: Request, total: int, per_page: int, page: int) -> dict:
        pages = math.ceil(total / per_page) if total else 0
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        base = f"{self.base_url}{request.path}"
        query = php_query(request.query_string.decode("latin-1"))
        links = []
        if page > 1:
            links.append(f'<{base}?{urlencode({**query, "page": min(page - 1, max(pages, 1))})}>; rel="prev"')
        if pages > page:
            links.append(f'<{base}?{urlencode({**query, "page": page + 1})}>; rel="next"')
        if links:
            headers["Link"] = ", ".join(links)
        return headers

    def _query(self, entity: str, where: list[str], args: list, order_sql: str, offset: int, limit: int):
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        with self.store.lock:
            total = self.store.con.execute(f"SELECT count(*) FROM {entity}{clause}", args).fetchall()[0][0]
            rows = self.store.con.execute(f"SELECT record FROM {entity}{clause} ORDER BY {order_sql} LIMIT ? OFFSET ?",
                                          args + [limit, offset]).fetchall()
        return total, [EmulatorStore._decode(r[0]) for r in rows]

    def _order(self, params: dict, kind: str) -> str:
        _, _, orderby_map, default_by, default_order = COLLECTIONS[kind]
        by, order = params.get("orderby") or default_by, (params.get("order") or default_order).lower()
        if by not in orderby_map:
            raise invalid_param("orderby", f"orderby is not one of {', '.join(orderby_map)}.", "rest_not_in_enum")
        if order not in ("asc", "desc"):
            raise invalid_param("order", "order is not one of asc and desc.", "rest_not_in_enum")
        column = orderby_map[by]
        return f"{column} {order}" + ("" if column == "id" else f", id {order}")

    @staticmethod
    def _after(params: dict, name: str = "modified_after"):
        raw = params.get(name)
        if not raw:
            return None
        try:
            dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise invalid_param(name, "Invalid date.", "rest_invalid_date") from None
        if dt.tzinfo is None:
            gmt = params.get("dates_are_gmt", "").lower() in ("1", "true")
            dt = dt.replace(tzinfo=timezone.utc if gmt else SITE_TZ)
        # WordPress stores whole seconds; compare at that precision.
        return dt.astimezone(timezone.utc)

    def _collection(self, request: Request, kind: str, to_wc, where=None, dated=False):
        entity = COLLECTIONS[kind][0]

        def serve(params, per_page, page):
            w, a = where(params) if where else ([], [])
            after = self._after(params) if dated else None
            if after is not None:
                w.append("date_trunc('second', updated_at) > ?")
                a.append(after)
            for name, op in (("after", ">"), ("before", "<")) if dated else ():
                if (bound := self._after(params, name)) is not None:
                    w.append(f"date_trunc('second', created_at) {op} ?")
                    a.append(bound)
            if params.get("include"):
                ids = [int(i) for i in params["include"].split(",") if i.strip().isdigit()]
                w.append(f"id IN ({', '.join(map(str, ids)) or 'NULL'})")
            offset = self._offset(params, (page - 1) * per_page)
            total, records = self._query(entity, w, a, self._order(params, kind), offset, per_page)
            self.delay(len(records))
            return to_wc(records, params), self._pages_headers(request, total, per_page, page)

        return self._handle(request, kind, serve)

    # --- endpoints --------------------------------------------------------------------------------------------
    def categories(self, request):
        return self._collection(request, "categories", lambda rs, p: [self.term(r) for r in rs])

    def brands(self, request):
        return self._collection(request, "brands", lambda rs, p: [self.term(r) for r in rs])

    def products(self, request):
        return self._collection(request, "products", lambda rs, p: self.products_json(rs), dated=True)

    def customers(self, request):
        return self._collection(request, "customers", lambda rs, p: [self.customer(r) for r in rs])

    def orders(self, request):
        return self._collection(request, "orders", lambda rs, p: self.orders_json(rs), dated=True)

    def reviews(self, request):
        def where(params):
            status = params.get("status") or "approved"
            if status not in REVIEW_STATUS_FILTER:
                raise invalid_param("status", "status is not one of all, hold, approved, spam, and trash.",
                                    "rest_not_in_enum")
            wanted = ", ".join(f"'{s}'" for s in REVIEW_STATUS_FILTER[status]) or "NULL"
            return [f"coalesce(json_extract_string(record, '$.status'), 'approved') IN ({wanted})"], []

        return self._collection(request, "reviews", self.reviews_json, where=where)

    def variations(self, request, product_id: int):
        def serve(params, per_page, page):
            product = self.store.get("products", product_id)
            if product is None:
                raise WpError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
            after = self._after(params)
            items = [] if after is not None and to_utc(product["updated_at"]) <= after else \
                self.variations_json(product)
            start = self._offset(params, (page - 1) * per_page)
            chunk = items[start: start + per_page]
            self.delay(len(chunk))
            return chunk, self._pages_headers(request, len(items), per_page, page)

        return self._handle(request, "variations", serve)

    def tax_classes(self, request):
        def serve(params, per_page, page):
            return [{"slug": slug, "name": name} for slug, name, _ in self.tax_table()], {}

        return self._handle(request, "tax_classes", serve)

    def taxes(self, request):
        def serve(params, per_page, page):
            wanted = params.get("class")
            rates = []
            for k, (slug, _, record) in enumerate(self.tax_table()):
                if "_rates" in record:
                    rates += [r for r in record["_rates"] if not wanted or wanted == slug]
                    continue
                for j, rate in enumerate(record.get("rates") or []):
                    if wanted and wanted != slug:
                        continue
                    rates.append({"id": (k + 1) * 100 + j + 1, "country": rate.get("country") or "", "state": "",
                                  "postcode": "", "city": "", "postcodes": [], "cities": [],
                                  "rate": f"{Decimal(str(rate['rate'])):.4f}", "name": "MVA", "priority": 1,
                                  "compound": False, "shipping": True, "order": j, "class": slug})
            start = self._offset(params, (page - 1) * per_page)
            return rates[start: start + per_page], self._pages_headers(request, len(rates), per_page,
                                                                                      page)

        return self._handle(request, "taxes", serve)

    def weight_unit_setting(self, request):
        def serve(params, per_page, page):
            options = {"kg": "kg", "g": "g", "lbs": "lbs", "oz": "oz"}
            return {"id": "woocommerce_weight_unit", "label": "Weight unit",
                    "description": "This controls what unit you will define weights in.", "type": "select",
                    "default": "kg", "options": options, "tip": "This controls what unit you will define weights in.",
                    "value": self.weight_unit, "group_id": "products"}, {}

        return self._handle(request, "settings", serve)

    # --- mapping canonical -> WooCommerce JSON ------------------------------------------------------------------
    def tax_table(self) -> list[tuple[str, str, dict]]:
        """(slug, name, canonical record) per tax class; the lowest id is WooCommerce's built-in Standard."""
        _, records = self._query("tax_classes", [], [], "id", 0, 10_000)
        if not records or "_wc" in records[0]:  # classes written through the API (a target): Standard is built in
            table = [(r["_wc"]["slug"], r["_wc"]["name"], r) for r in records]
            if not any(slug == "standard" for slug, _, _ in table):
                table.insert(0, ("standard", "Standard", {"source_id": "0", "_rates": []}))
            return table
        table = []
        for k, r in enumerate(records):
            table.append(("standard", "Standard", r) if k == 0 else (slugify(r["name"]), r["name"], r))
        return table

    def _dates(self, record: dict, created: bool = True, modified: bool = True) -> dict:
        out = {}
        if created:
            out.update(date_created=wc_date(record.get("created_at"), SITE_TZ),
                       date_created_gmt=wc_date(record.get("created_at")))
        if modified:
            out.update(date_modified=wc_date(record.get("updated_at"), SITE_TZ),
                       date_modified_gmt=wc_date(record.get("updated_at")))
        return out

    def term(self, r: dict) -> dict:
        if "_wc" in r:
            return r["_wc"]
        slug = (r.get("url_key") or slugify(r["name"])).rsplit("/", 1)[-1]
        # WordPress stores term names through kses: "&" comes back as "&amp;".
        return {"id": int(r["source_id"]), "name": html.escape(r["name"], quote=False), "slug": slug,
                "parent": int(r.get("parent_id") or 0), "description": "", "display": "default", "image": None,
                "menu_order": int(r.get("position") or 0), "count": 0}

    def _lookup(self, entity: str, ids) -> dict[str, dict]:
        ids = sorted({int(i) for i in ids if i is not None and str(i).isdigit()})
        return {r["source_id"]: r for r in self.store.page(entity, 0, len(ids), ids=ids)} if ids else {}

    def products_json(self, records: list[dict]) -> list[dict]:
        cats = self._lookup("categories", [c for r in records for c in r.get("category_ids") or []])
        brands = self._lookup("manufacturers", [r.get("manufacturer_id") for r in records])
        taxes = {r["source_id"]: ("" if k == 0 else slug) for k, (slug, _, r) in enumerate(self.tax_table())}
        out = []
        for p in records:
            if "_wc" in p:
                out.append(p["_wc"])
                continue
            pid = int(p["source_id"])
            slug = (p.get("url_key") or slugify(p["name"])).rsplit("/", 1)[-1]
            variants = p.get("variants") or []
            price, sale = money(p.get("price")), money(p.get("special_price"))
            stock = p.get("stock")
            out.append({
                "id": pid, "name": p["name"], "slug": slug, "permalink": f"{self.base_url}/product/{slug}/",
                **self._dates(p), "type": "variable" if variants else "simple",
                "status": "draft" if p.get("status") == "disabled" else "publish", "featured": False,
                "catalog_visibility": "visible", "description": p.get("description_html") or "",
                "short_description": "", "sku": p.get("sku") or "", "price": sale or price,
                "regular_price": "" if variants else price, "sale_price": "" if variants else sale,
                "on_sale": bool(sale), "purchasable": True, "virtual": False, "downloadable": False,
                "tax_status": "taxable", "tax_class": taxes.get(p.get("tax_class_id"), ""),
                "manage_stock": stock is not None, "stock_quantity": stock,
                "stock_status": "instock" if (stock or 0) > 0 else "outofstock",
                "weight": "" if p.get("weight") is None else
                str((Decimal(str(p["weight"])) / WEIGHT_UNITS[self.weight_unit]).normalize()),
                "dimensions": {"length": "", "width": "", "height": ""},
                "categories": [{"id": int(c), "name": cats[c]["name"] if c in cats else "",
                                "slug": (cats[c].get("url_key") or "").rsplit("/", 1)[-1] if c in cats else ""}
                               for c in p.get("category_ids") or []],
                "brands": [{"id": int(b), "name": brands[b]["name"], "slug": brands[b].get("url_key") or ""}
                           for b in [p.get("manufacturer_id")] if b in brands],
                "tags": [],
                "images": [{"id": pid * 100 + k, **self._dates(p), "src": img["url"],
                            "name": img["url"].rsplit("/", 1)[-1].rsplit(".", 1)[0], "alt": img.get("alt") or ""}
                           for k, img in enumerate(sorted(p.get("images") or [],
                                                          key=lambda i: i.get("position") or 0))],
                "attributes": self._attributes(variants), "default_attributes": [],
                "variations": [self._variation_id(pid, k) for k in range(len(variants))],
                "menu_order": 0, "meta_data": [],
            })
        return out

    @staticmethod
    def _variation_id(pid: int, k: int) -> int:
        return 10_000_000 + pid * 100 + k + 1  # variations are posts too; kept clear of product ids here

    @staticmethod
    def _attributes(variants: list[dict]) -> list[dict]:
        names: dict[str, list[str]] = {}
        for v in variants:
            for o in v.get("options") or []:
                values = names.setdefault(o["name"], [])
                if o["value"] not in values:
                    values.append(o["value"])
        return [{"id": 0, "name": n, "slug": slugify(n), "position": k, "visible": True, "variation": True,
                 "options": vals} for k, (n, vals) in enumerate(names.items())]

    def variations_json(self, p: dict) -> list[dict]:
        if "_variations" in p:
            return p["_variations"]
        pid, sale = int(p["source_id"]), money(p.get("special_price"))
        out = []
        for k, v in enumerate(p.get("variants") or []):
            price = money(v.get("price"))
            out.append({
                "id": self._variation_id(pid, k), **self._dates(p), "description": "",
                "permalink": f"{self.base_url}/product/{p.get('url_key', '').rsplit('/', 1)[-1]}/?variation={k}",
                "sku": v.get("sku") or "", "price": sale or price, "regular_price": price, "sale_price": sale,
                "on_sale": bool(sale), "status": "publish", "purchasable": True, "tax_status": "taxable",
                "tax_class": "parent", "manage_stock": v.get("stock") is not None, "stock_quantity": v.get("stock"),
                "stock_status": "instock" if (v.get("stock") or 0) > 0 else "outofstock", "weight": "",
                "dimensions": {"length": "", "width": "", "height": ""}, "image": None,
                "attributes": [{"id": 0, "name": o["name"], "slug": slugify(o["name"]), "option": o["value"]}
                               for o in v.get("options") or []],
                "menu_order": k, "meta_data": [],
            })
        return out

    @staticmethod
    def address(a: dict | None, email: str | None = None) -> dict:
        a = a or {}
        out = {"first_name": a.get("first_name") or "", "last_name": a.get("last_name") or "",
               "company": a.get("company") or "", "address_1": a.get("street") or "", "address_2": "",
               "city": a.get("city") or "", "state": a.get("region") or "", "postcode": a.get("postcode") or "",
               "country": a.get("country") or ""}
        if email is not None:
            out["email"] = email
        out["phone"] = a.get("phone") or ""
        return out

    def customer(self, c: dict) -> dict:
        if "_wc" in c:
            return c["_wc"]
        addresses = c.get("addresses") or []
        billing = next((a for a in addresses if a.get("is_default_billing")), None)
        shipping = next((a for a in addresses if a.get("is_default_shipping")), None)
        email = c.get("email") or ""
        return {"id": int(c["source_id"]), **self._dates(c), "email": email,
                "first_name": c.get("first_name") or "", "last_name": c.get("last_name") or "",
                "role": "customer", "username": email.split("@")[0],
                "billing": self.address(billing, email if billing else ""), "shipping": self.address(shipping),
                "is_paying_customer": False,
                "avatar_url": "https://secure.gravatar.com/avatar/" + hashlib.md5(email.encode()).hexdigest(),
                "meta_data": []}

    def orders_json(self, records: list[dict]) -> list[dict]:
        existing = self._lookup("customers", [o.get("customer_id") or (o.get("_wc") or {}).get("customer_id")
                                              for o in records])
        out = []
        for o in records:
            if "_wc" in o:  # deleted users' orders become guest orders
                out.append({**o["_wc"], "customer_id": o["_wc"]["customer_id"] if str(o["_wc"]["customer_id"])
                            in existing else 0})
                continue
            oid = int(o["source_id"])
            cid = o.get("customer_id")
            status = STATUS_OUT.get(o.get("status") or "pending", o.get("status") or "pending")
            items = []
            for k, it in enumerate(o.get("items") or []):
                line = Decimal(str(it.get("price") or 0)) * int(it.get("qty") or 0)
                items.append({"id": oid * 100 + k + 1, "name": it.get("name") or "",
                              "product_id": int(it["product_id"]) if it.get("product_id") else 0, "variation_id": 0,
                              "quantity": it.get("qty"), "tax_class": "", "subtotal": money(line),
                              "subtotal_tax": money(it.get("tax") or 0), "total": money(line),
                              "total_tax": money(it.get("tax") or 0), "taxes": [], "meta_data": [],
                              "sku": it.get("sku") or "", "price": float(it.get("price") or 0)})
            out.append({
                "id": oid, "parent_id": 0, "status": status, "currency": o.get("currency"), "version": WC_VERSION,
                "prices_include_tax": False, **self._dates(o),
                "discount_total": money(o.get("discount") or 0), "discount_tax": "0.00",
                "shipping_total": money(o.get("shipping") or 0), "shipping_tax": "0.00",
                "cart_tax": money(o.get("tax") or 0), "total": money(o.get("grand_total")),
                "total_tax": money(o.get("tax") or 0),
                "customer_id": int(cid) if cid in existing else 0,  # deleted users' orders become guest orders
                "order_key": "wc_order_" + hashlib.sha1(str(oid).encode()).hexdigest()[:13],
                "billing": self.address(o.get("billing_address"), o.get("email") or ""),
                "shipping": self.address(o.get("shipping_address")),
                "payment_method": "bacs", "payment_method_title": "Direct bank transfer", "transaction_id": "",
                "customer_ip_address": "", "customer_user_agent": "", "created_via": "checkout",
                "customer_note": "", "date_completed": None, "date_paid": None, "cart_hash": "",
                "number": o.get("number") or str(oid), "meta_data": [], "line_items": items, "tax_lines": [],
                "shipping_lines": [], "fee_lines": [], "coupon_lines": [], "refunds": [],
                "date_completed_gmt": None, "date_paid_gmt": None, "currency_symbol": "",
            })
        return out

    def reviews_json(self, records: list[dict], params: dict) -> list[dict]:
        customers = self._lookup("customers", [r.get("customer_id") for r in records])
        products = self._lookup("products", [r.get("product_id") for r in records])
        edit = params.get("context") == "edit"
        api = f"{self.base_url}/wp-json"
        out = []
        for r in records:
            if "_wc" in r:
                out.append({**r["_wc"], "review": r["_wc"]["review"] if edit else wpautop(r["_wc"]["review"])})
                continue
            rid, c = int(r["source_id"]), customers.get(r.get("customer_id"))
            pid = int(r["product_id"]) if r.get("product_id") else 0
            text = r.get("text") or ""
            links = {"self": [{"href": f"{api}/wc/v3/products/reviews/{rid}"}],
                     "collection": [{"href": f"{api}/wc/v3/products/reviews"}]}
            if pid:
                links["up"] = [{"href": f"{api}/wc/v3/products/{pid}"}]
            if c:
                links["reviewer"] = [{"embeddable": True, "href": f"{api}/wp/v2/users/{int(c['source_id'])}"}]
            name = " ".join(x for x in ((c or {}).get("first_name"), (c or {}).get("last_name")) if x)
            out.append({
                "id": rid, **self._dates(r, modified=False), "product_id": pid,
                "product_name": products[r["product_id"]]["name"] if r.get("product_id") in products else "",
                "product_permalink": f"{self.base_url}/?p={pid}",
                "status": REVIEW_STATUS_OUT.get(r.get("status") or "approved", "approved"),
                "reviewer": name or ("Kunde" if c else f"Gjest {rid}"),
                "reviewer_email": c["email"] if c else f"gjest-{rid}@example.net",
                "review": text if edit else wpautop(text), "rating": r.get("rating"), "verified": bool(c),
                "reviewer_avatar_urls": {}, "_links": links,
            })
        return out


def rate_bound_rows_per_s(entity: str, plan: str = "standard") -> float | None:
    """Most rows/s the emulated host limit allows: requests per second × 100 records per page (benchmarks)."""
    limit = PLANS.get(plan, PLANS["standard"])
    return None if limit is None else limit[0] / limit[1] * MAX_PER_PAGE
