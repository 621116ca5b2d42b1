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
- Response bodies: every property WooCommerce 9.9.5's `get_item_schema()` declares for context=view, with its
  type and enum (../shared/specs/woocommerce, held by tests/conformance/test_woocommerce_spec.py), plus the keys
  the controllers return undeclared (variations' `*_gmt` dates, `name`, `parent_id`; images' `position`,
  attributes' `slug`; order shipping `phone`, shipping items' `tax_status`, tax items' `rate_percent`), and
  `shipping_class_id` as the integer WC_Product returns (the schema says string). Single items:
  `GET {resource}/{id}` for every resource, seeded or written, with the controllers' 404 codes
  (`woocommerce_rest_product_invalid_id`, `woocommerce_rest_shop_order_invalid_id`, `woocommerce_rest_invalid_id`
  for customers and taxes, `woocommerce_rest_term_invalid`, `woocommerce_rest_review_invalid_id`,
  `woocommerce_rest_product_variation_invalid_id`) and 401 "Sorry, you cannot view this resource.".
- Filters: `modified_after` / `modified_before` (exclusive) with `dates_are_gmt` on products, variations, orders
  and coupons; `after` and `before` (published date, strictly after / strictly before, WP_Query date_query's
  default `inclusive=false`) on products, orders, coupons and reviews; products `status` (default any), `type`,
  `sku`, `category`; orders `status`, `customer` (0: guests), `product`; reviews `product`; customers `role`,
  `email`; `include` / `exclude`;
  `orderby`/`order` with WooCommerce's defaults (products and orders newest first, terms and customers by name,
  reviews by date); reviews list `status=approved` unless asked (`all`, `hold`, `spam`, `trash`), `context=view`
  wraps review text in paragraphs (wpautop), `context=edit` returns it raw; reviews link their WordPress user in
  `_links.reviewer` (https://github.com/woocommerce/woocommerce, class-wc-rest-product-reviews-controller.php).
- Data: money as strings with two decimals ("12.50"); dates as `YYYY-MM-DDTHH:MM:SS` without zone, in the
  site's time zone (`date_*`) and in GMT (`date_*_gmt`); categories and brands (`products/brands`, core since
  WooCommerce 9.6, same shape as categories: class-wc-rest-product-brands-controller.php) have no dates;
  tax classes are identified by slug (`standard` is built in, listed as "Standard rate": the tax-classes
  controller's own entry); a variable product has empty
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

- Refunds: `orders/{id}/refunds` and `orders/{id}/refunds/{refund_id}` (WC_REST_Order_Refunds_V2_Controller)
  serve the store's refunds with their date and line items (quantity and amounts negative, amounts before tax,
  meta `_refunded_item_id` naming the order line); the order's own `refunds` list holds only id, reason, total.
- Further routes clients read (Airbyte's source among them): `coupons`, `orders/{id}/notes`,
  `products/tags`, `products/attributes`, `products/shipping_classes`, `payment_gateways`, `shipping_methods`,
  `shipping/zones` (+ `/locations`, `/methods`), `system_status/tools`, `settings/{group}` and
  `settings/{group}/{id}` (filter_setting(): a setting's absent keys stay absent).
- A shop's messy records, derived from the generated store without changing it: disabled products are drafts or
  private ones, one in four discounted products has a sale scheduled 30 days ahead (`date_on_sale_from` in the
  future, not on sale yet), sold-out products that take back orders, private variations, refunds on refunded and
  on some completed orders, category thumbnails, term counts, ratings from the approved reviews, paying customers.
  Where the store says more, it is served as WooCommerce holds it: a product's lifecycle as its post status
  (trashed products are left out of `status=any`, WP_Query's "any" excluding statuses hidden from search, listed
  by `status=trash`, and still readable by id and named on their orders); drafts and pending products have
  `slug: ""` and the `?post_type=product&p=ID` permalink; grouped products (`grouped_products`, no regular price,
  `price` the cheapest child's current price) and external ones (`external_url`, `button_text`); disabled variants
  as private variations; the store's sale dates; its refunds; spam and trashed reviews (`status=spam`,
  `status=trash`; `all` is approved and on hold only); a line of a product that no longer exists has
  `product_id: 0`. The built-in tax class is listed as "Standard rate", as the tax-classes controller names it.

Simplifications: slugs are the store's URL keys as they are (WordPress would make duplicates unique); product
permalinks use the default `/product/<slug>/` base; a customer's billing and shipping addresses are the store's
default billing and shipping addresses (WooCommerce keeps exactly one of each).
Departures left: a product without images has `images: []` (WooCommerce answers one placeholder image with id 0;
our source would import it); `total_sales` is 0 and `related_ids` empty; products carry local attributes only, so
`products/attributes` is empty; a review of a product that no longer exists links `/?p={id}` (WordPress deletes
such comments with the post, and `get_permalink()` would be false).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import math
import time
from datetime import datetime, timedelta, timezone
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
WC_VERSION = "9.9.5"  # the version whose REST schemas ../shared/specs/woocommerce holds
OAUTH_WINDOW = 15 * 60
STATUS_OUT = {"pending": "pending", "processing": "processing", "complete": "completed", "canceled": "cancelled",
              "refunded": "refunded", "on_hold": "on-hold"}
REVIEW_STATUS_OUT = {"approved": "approved", "pending": "hold", "rejected": "spam", "spam": "spam",
                     "trashed": "trash"}
# `all` is approved and on hold only (WP_Comment_Query's "all"): spam and trash are read by their own status
REVIEW_STATUS_FILTER = {"approved": ("approved",), "hold": ("pending",), "spam": ("rejected", "spam"),
                        "trash": ("trashed",), "all": ("approved", "pending")}
# canonical lifecycle → WordPress post status
POST_STATUS = {"published": "publish", "draft": "draft", "pending": "pending", "private": "private",
               "scheduled": "future", "trashed": "trash", "archived": "draft"}

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
              "variations": "read_private_products",
              "coupons": "read_private_shop_coupons", **{k: v[1] for k, v in COLLECTIONS.items()}}
PRODUCT_STATUSES = ("future", "trash", "draft", "pending", "private", "publish")
ORDER_STATUSES = ("pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "checkout-draft")
COUPON_ID, COUPON_CODE = 9001, "rabatt10"
REFUND_BASE = 20_000_000  # refunds are posts (shop_order_refund) of their own: ids clear of orders here
CATEGORY_IMAGE_BASE = 5_000_000
# What WooCommerce fills in for a product, variation or order written through the API with only some fields
# (the schemas' defaults; WC_Product / WC_Order data defaults where the schema has none).
PRODUCT_DEFAULTS = {
    "featured": False, "catalog_visibility": "visible", "global_unique_id": "", "date_on_sale_from": None,
    "date_on_sale_from_gmt": None, "date_on_sale_to": None, "date_on_sale_to_gmt": None, "price_html": "",
    "on_sale": False, "purchasable": True, "total_sales": 0, "virtual": False, "downloadable": False,
    "downloads": [], "download_limit": -1, "download_expiry": -1, "external_url": "", "button_text": "",
    "tax_status": "taxable", "backorders": "no", "backorders_allowed": False, "backordered": False,
    "low_stock_amount": None, "sold_individually": False, "shipping_required": True, "shipping_taxable": True,
    "shipping_class": "", "shipping_class_id": 0, "reviews_allowed": True, "post_password": "",
    "average_rating": "0.00", "rating_count": 0, "related_ids": [], "upsell_ids": [], "cross_sell_ids": [],
    "parent_id": 0, "purchase_note": "", "has_options": False, "default_attributes": [], "grouped_products": [],
}
VARIATION_DEFAULTS = {
    "type": "variation", "description": "", "permalink": "", "global_unique_id": "", "date_on_sale_from": None,
    "date_on_sale_from_gmt": None, "date_on_sale_to": None, "date_on_sale_to_gmt": None, "purchasable": True,
    "virtual": False, "downloadable": False, "downloads": [], "download_limit": -1, "download_expiry": -1,
    "tax_status": "taxable", "backorders": "no", "backorders_allowed": False, "backordered": False,
    "low_stock_amount": None, "dimensions": {"length": "", "width": "", "height": ""}, "shipping_class": "",
    "shipping_class_id": 0, "image": None, "name": "",
}
ORDER_DEFAULTS = {
    "customer_ip_address": "", "customer_user_agent": "", "cart_hash": "", "date_completed": None,
    "date_completed_gmt": None, "date_paid": None, "tax_lines": [], "coupon_lines": [], "refunds": [],
}
TOOLS = [  # WC_REST_System_Status_Tools_V2_Controller::get_tools (the first entries; "button" is "action")
    ("clear_transients", "WooCommerce transients", "Clear transients",
     "This tool will clear the product/shop transients cache."),
    ("clear_expired_transients", "Expired transients", "Clear transients",
     "This tool will clear ALL expired transients from WordPress."),
    ("delete_orphaned_variations", "Orphaned variations", "Delete orphaned variations",
     "This tool will delete all variations which have no parent."),
    ("clear_expired_download_permissions", "Used-up download permissions", "Clean up download permissions",
     "This tool will delete expired download permissions and permissions with 0 remaining downloads."),
    ("regenerate_product_lookup_tables", "Product lookup tables", "Regenerate",
     "This tool will regenerate product lookup table data. This process may take a while."),
    ("recount_terms", "Term counts", "Recount terms",
     "This tool will recount product terms - useful when changing your settings in a way which hides products "
     "from the catalog."),
]
GATEWAYS = [("bacs", "Direct bank transfer", "Make your payment directly into our bank account."),
            ("cheque", "Check payments", "Please send a check to Store Name, Store Street, Store Town."),
            ("cod", "Cash on delivery", "Pay with cash upon delivery.")]
SHIPPING_METHODS = [("flat_rate", "Flat rate", "Lets you charge a fixed rate for shipping."),
                    ("free_shipping", "Free shipping", "Free shipping is a special method which can be triggered "
                                                       "with coupons and minimum spends."),
                    ("local_pickup", "Local pickup", "Allow customers to pick up orders themselves.")]


def money(value) -> str:
    return "" if value is None or value == "" else f"{Decimal(str(value)):.2f}"


def refund_id(order_id: int, k: int, refund: dict) -> int:
    """The id WooCommerce gives the k-th of a store order's own refunds: its own where numeric, else one clear of
    the orders' ids."""
    rid = str(refund.get("source_id") or "")
    return int(rid) if rid.isdigit() else REFUND_BASE + order_id * 10 + k + 1


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
        Rule(f"{API}/products/tags", endpoint="tags", methods=["GET"]),
        Rule(f"{API}/products/attributes", endpoint="attributes", methods=["GET"]),
        Rule(f"{API}/products/shipping_classes", endpoint="shipping_classes", methods=["GET"]),
        Rule(f"{API}/products/reviews", endpoint="reviews", methods=["GET"]),
        Rule(f"{API}/products/<int:product_id>/variations", endpoint="variations", methods=["GET"]),
        Rule(f"{API}/products/<int:product_id>/variations/<int:id_>", endpoint="variation", methods=["GET"]),
        Rule(f"{API}/products", endpoint="products", methods=["GET"]),
        Rule(f"{API}/taxes/classes", endpoint="tax_classes", methods=["GET"]),
        Rule(f"{API}/taxes", endpoint="taxes", methods=["GET"]),
        Rule(f"{API}/customers", endpoint="customers", methods=["GET"]),
        Rule(f"{API}/orders", endpoint="orders", methods=["GET"]),
        Rule(f"{API}/orders/<int:order_id>/refunds", endpoint="refunds", methods=["GET"]),
        Rule(f"{API}/orders/<int:order_id>/refunds/<int:refund_id>", endpoint="refund", methods=["GET"]),
        Rule(f"{API}/orders/<int:order_id>/notes", endpoint="notes", methods=["GET"]),
        Rule(f"{API}/coupons", endpoint="coupons", methods=["GET"]),
        Rule(f"{API}/system_status/tools", endpoint="system_tools", methods=["GET"]),
        Rule(f"{API}/payment_gateways", endpoint="payment_gateways", methods=["GET"]),
        Rule(f"{API}/shipping_methods", endpoint="shipping_methods", methods=["GET"]),
        Rule(f"{API}/shipping/zones", endpoint="shipping_zones", methods=["GET"]),
        Rule(f"{API}/shipping/zones/<int:zone_id>/locations", endpoint="zone_locations", methods=["GET"]),
        Rule(f"{API}/shipping/zones/<int:zone_id>/methods", endpoint="zone_methods", methods=["GET"]),
        Rule(f"{API}/settings/<group>", endpoint="settings_group", methods=["GET"]),
        Rule(f"{API}/settings/<group>/<option>", endpoint="setting", methods=["GET"]),
    ] + [Rule(f"{API}/{base}/<int:id_>", endpoint="item", methods=["GET"], defaults={"base": base})
         for base in ("products", "orders", "customers", "products/categories", "products/brands",
                      "products/reviews", "taxes", "coupons")], redirect_defaults=False)

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

    def capability(self, user_ok: bool, capability: str, single: bool = False) -> None:
        # get_items_permissions_check / get_item_permissions_check: "list resources" / "view this resource"
        message = "Sorry, you cannot view this resource." if single else "Sorry, you cannot list resources."
        if not user_ok:
            raise WpError(401, "woocommerce_rest_cannot_view", message)
        if capability in self.knobs.denied_scopes:
            raise WpError(403, "woocommerce_rest_cannot_view", message)

    # --- collection machinery ---------------------------------------------------------------------------------
    def _handle(self, request: Request, kind: str, serve, single: bool = False) -> Response:
        extra = request.environ.get("woocommerce.ratelimit", {})
        try:
            params = php_query(request.query_string.decode("latin-1"))
            user = self.authenticate(request, params)
            if user and "read" in self.knobs.denied_scopes:
                raise WpError(401, "woocommerce_rest_authentication_error",
                              "The API key provided does not have read permissions.")
            # WordPress validates args before the permission callback; a single item has no paging args
            per_page, page = (1, 1) if single else self._paging(params)
            self.capability(user, CAPABILITY.get(kind, "manage_woocommerce"), single)
            body, headers = serve(params, per_page, page)
        except WpError as err:
            return self.wp_error(err, extra)
        fields = [f.strip() for f in params.get("_fields", "").split(",") if f.strip()]
        if fields and isinstance(body, list):
            body = [{k: v for k, v in item.items() if k in fields} for item in body]
        elif fields and isinstance(body, dict):
            body = {k: v for k, v in body.items() if k in fields}
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
            if dated:  # products, orders: modified_after / modified_before, after / before (WP_Query date_query)
                self._dated(params, w, a)
            if params.get("include"):
                ids = [int(i) for i in params["include"].split(",") if i.strip().isdigit()]
                w.append(f"id IN ({', '.join(map(str, ids)) or 'NULL'})")
            if params.get("exclude"):
                ids = [int(i) for i in params["exclude"].split(",") if i.strip().isdigit()]
                if ids:
                    w.append(f"id NOT IN ({', '.join(map(str, ids))})")
            offset = self._offset(params, (page - 1) * per_page)
            total, records = self._query(entity, w, a, self._order(params, kind), offset, per_page)
            self.delay(len(records))
            return to_wc(records, params), self._pages_headers(request, total, per_page, page)

        return self._handle(request, kind, serve)

    def _dated(self, params: dict, w: list, a: list, created: str = "created_at") -> None:
        """WooCommerce's date filters: `modified_after`/`modified_before` on the modified date, `after`/`before` on
        the published date; WP_Query's date_query is exclusive by default (`inclusive` false)."""
        for name, column, op in (("modified_after", "updated_at", ">"), ("modified_before", "updated_at", "<"),
                                 ("after", created, ">"), ("before", created, "<")):
            if (bound := self._after(params, name)) is not None:
                w.append(f"date_trunc('second', {column}) {op} ?")
                a.append(bound)

    # --- endpoints --------------------------------------------------------------------------------------------
    def categories(self, request):
        return self._collection(request, "categories", lambda rs, p: self.terms_json(rs, "categories"))

    def brands(self, request):
        return self._collection(request, "brands", lambda rs, p: self.terms_json(rs, "brands"))

    def products(self, request):
        def where(params):
            w, a = [], []
            status = params.get("status") or "any"
            if status not in ("any", *PRODUCT_STATUSES):
                raise invalid_param("status", "status is not one of any, future, trash, draft, pending, private, "
                                              "and publish.", "rest_not_in_enum")
            if status != "any":
                w.append(f"({self._product_status_sql()}) = ?")
                a.append(status)
            else:  # WP_Query's "any" leaves out statuses excluded from search: trash (and auto-draft)
                w.append(f"({self._product_status_sql()}) <> 'trash'")
            kind = params.get("type")
            if kind:
                if kind not in ("simple", "grouped", "external", "variable"):
                    raise invalid_param("type", "type is not one of simple, grouped, external, and variable.",
                                        "rest_not_in_enum")
                variable = "json_array_length(coalesce(json_extract(record, '$.variants'), '[]')) > 0"
                typed = "json_extract_string(record, '$._wc.type')"
                w.append(f"coalesce({typed}, CASE WHEN {variable} THEN 'variable' ELSE 'simple' END) = ?")
                a.append(kind)
            if params.get("sku"):
                w.append("coalesce(json_extract_string(record, '$._wc.sku'), json_extract_string(record, '$.sku'))"
                         " IN (SELECT unnest(string_split(?, ',')))")
                a.append(params["sku"])
            if params.get("category", "").isdigit():
                w.append("list_contains(json_extract_string(record, '$.category_ids[*]'), ?)")
                a.append(params["category"])
            return w, a

        return self._collection(request, "products", lambda rs, p: self.products_json(rs), where=where, dated=True)

    @staticmethod
    def _product_status_sql() -> str:
        lifecycle = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in POST_STATUS.items())
        return ("coalesce(json_extract_string(record, '$._wc.status'), CASE json_extract_string(record, "
                f"'$.lifecycle') {lifecycle} END, CASE WHEN json_extract_string(record, "
                "'$.status') = 'disabled' THEN (CASE WHEN id % 3 = 0 THEN 'private' ELSE 'draft' END) "
                "ELSE 'publish' END)")

    def customers(self, request):
        def where(params):
            role = params.get("role") or "customer"
            if role not in ("all", "administrator", "editor", "author", "contributor", "subscriber", "customer",
                            "shop_manager"):
                raise invalid_param("role", "role is not one of all, administrator, editor, author, contributor, "
                                            "subscriber, customer, and shop_manager.", "rest_not_in_enum")
            if role not in ("all", "customer"):
                return ["false"], []
            w, a = [], []
            if params.get("email"):
                w.append("lower(coalesce(json_extract_string(record, '$._wc.email'), "
                         "json_extract_string(record, '$.email'))) = lower(?)")
                a.append(params["email"])
            return w, a

        return self._collection(request, "customers", lambda rs, p: self.customers_json(rs), where=where)

    def orders(self, request):
        def where(params):
            w, a = [], []
            status = params.get("status") or "any"
            wanted = [s for s in status.split(",") if s]
            if any(s not in ("any", "trash", *ORDER_STATUSES) for s in wanted):
                raise invalid_param("status", "status is not one of any, trash, " + ", ".join(ORDER_STATUSES) + ".",
                                    "rest_not_in_enum")
            if "any" not in wanted:
                inverse = {v: k for k, v in STATUS_OUT.items()}
                names = [inverse.get(s, s) for s in wanted] + wanted
                w.append("coalesce(json_extract_string(record, '$._wc.status'), "
                         "json_extract_string(record, '$.status'), 'pending') IN (SELECT unnest(?))")
                a.append(names)
            if params.get("customer") not in (None, ""):
                if not params["customer"].isdigit():
                    raise invalid_param("customer", "customer is not of type integer.", "rest_invalid_type")
                cid = int(params["customer"])
                # orders keep their customer only while the user exists (see orders_json)
                owner = "coalesce(json_extract_string(record, '$._wc.customer_id'), " \
                        "json_extract_string(record, '$.customer_id'), '0')"
                if cid == 0:
                    w.append(f"({owner} IN ('0', '') OR {owner} NOT IN (SELECT CAST(id AS VARCHAR) FROM customers))")
                else:
                    w.append(f"{owner} = ? AND ? IN (SELECT id FROM customers)")
                    a += [str(cid), cid]
            if params.get("product", "").isdigit():
                w.append("list_contains(json_extract_string(record, '$.items[*].product_id'), ?)")
                a.append(params["product"])
            return w, a

        return self._collection(request, "orders", lambda rs, p: self.orders_json(rs), where=where, dated=True)

    def reviews(self, request):
        def where(params):
            status = params.get("status") or "approved"
            if status not in REVIEW_STATUS_FILTER:
                raise invalid_param("status", "status is not one of all, hold, approved, spam, and trash.",
                                    "rest_not_in_enum")
            wanted = ", ".join(f"'{s}'" for s in REVIEW_STATUS_FILTER[status]) or "NULL"
            w, a = [f"coalesce(json_extract_string(record, '$.status'), 'approved') IN ({wanted})"], []
            # after / before: the review's date (WP_Comment_Query date_query, exclusive)
            for name, op in (("after", ">"), ("before", "<")):
                if (bound := self._after(params, name)) is not None:
                    w.append(f"date_trunc('second', created_at) {op} ?")
                    a.append(bound)
            if params.get("product"):
                ids = [i for i in params["product"].split(",") if i.strip().isdigit()]
                w.append("json_extract_string(record, '$.product_id') IN (SELECT unnest(?))")
                a.append(ids)
            return w, a

        return self._collection(request, "reviews", self.reviews_json, where=where)

    def variations(self, request, product_id: int):
        def serve(params, per_page, page):
            product = self.store.get("products", product_id)
            if product is None:
                raise WpError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
            items = self.variations_json(product)
            # the variations share their parent's modified date here: filter on it, as WP_Query would per post
            after, before = self._after(params), self._after(params, "modified_before")
            stamp = to_utc(product["updated_at"]).replace(microsecond=0)
            if (after is not None and stamp <= after) or (before is not None and stamp >= before):
                items = []
            status = params.get("status") or "any"
            if status != "any":
                items = [v for v in items if v["status"] == status]
            start = self._offset(params, (page - 1) * per_page)
            chunk = items[start: start + per_page]
            self.delay(len(chunk))
            return chunk, self._pages_headers(request, len(items), per_page, page)

        return self._handle(request, "variations", serve)

    def variation(self, request, product_id: int, id_: int):
        def serve(params, per_page, page):
            product = self.store.get("products", product_id)
            found = next((v for v in self.variations_json(product) if v["id"] == id_), None) if product else None
            if found is None:  # get_object() finds no variation of that parent
                raise WpError(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
            return found, {}

        return self._handle(request, "variations", serve, single=True)

    # one record: GET {base}/{id} (WC_REST_CRUD_Controller::get_item and the terms, customers, reviews, taxes ones)
    ITEMS = {"products": ("products", "woocommerce_rest_product_invalid_id", "Invalid ID."),
             "orders": ("orders", "woocommerce_rest_shop_order_invalid_id", "Invalid ID."),
             "customers": ("customers", "woocommerce_rest_invalid_id", "Invalid resource ID."),
             "products/categories": ("categories", "woocommerce_rest_term_invalid", "Resource does not exist."),
             "products/brands": ("brands", "woocommerce_rest_term_invalid", "Resource does not exist."),
             "products/reviews": ("reviews", "woocommerce_rest_review_invalid_id", "Invalid review ID."),
             "taxes": ("taxes", "woocommerce_rest_invalid_id", "Invalid resource ID."),
             "coupons": ("coupons", "woocommerce_rest_shop_coupon_invalid_id", "Invalid ID.")}

    def item(self, request, base: str, id_: int):
        kind, code, message = self.ITEMS[base]

        def serve(params, per_page, page):
            found = None
            if kind == "taxes":
                found = next((r for r in self.tax_rates() if r["id"] == id_), None)
            elif kind == "coupons":
                found = next((c for c in self.coupons_json() if c["id"] == id_), None)
            else:
                rec = self.store.get(COLLECTIONS[kind][0], id_)
                if rec is not None:
                    render = {"products": lambda r: self.products_json([r]), "orders": lambda r: self.orders_json([r]),
                              "customers": lambda r: self.customers_json([r]),
                              "categories": lambda r: self.terms_json([r], "categories"),
                              "brands": lambda r: self.terms_json([r], "brands"),
                              "reviews": lambda r: self.reviews_json([r], params)}[kind]
                    found = render(rec)[0]
            if found is None:
                raise WpError(404, code, message)
            return found, {}

        return self._handle(request, kind, serve, single=True)

    def tax_classes(self, request):
        def serve(params, per_page, page):
            return [{"slug": slug, "name": name} for slug, name, _ in self.tax_table()], {}

        return self._handle(request, "tax_classes", serve)

    def tax_rates(self, wanted: str | None = None) -> list[dict]:
        rates = []
        for k, (slug, _, record) in enumerate(self.tax_table()):
            if "_rates" in record:
                rates += [r for r in record["_rates"] if not wanted or wanted == slug]
                continue
            for j, rate in enumerate(record.get("rates") or []):
                if wanted and wanted != slug:
                    continue
                rates.append({"id": (k + 1) * 100 + j + 1, "country": rate.get("country") or "", "state": "",
                              "postcode": "", "city": "", "rate": f"{Decimal(str(rate['rate'])):.4f}", "name": "MVA",
                              "priority": 1, "compound": False, "shipping": True, "order": j, "class": slug,
                              "postcodes": [], "cities": []})
        return rates

    def taxes(self, request):
        def serve(params, per_page, page):
            rates = self.tax_rates(params.get("class"))
            start = self._offset(params, (page - 1) * per_page)
            return rates[start: start + per_page], self._pages_headers(request, len(rates), per_page, page)

        return self._handle(request, "taxes", serve)

    def _static(self, request, kind: str, rows: list[dict], dated: bool = False):
        """A small collection WordPress pages like any other (tags, attributes, coupons, zones ...); `dated`: posts
        that take the date filters (modified_after / modified_before, after / before)."""
        def serve(params, per_page, page):
            nonlocal rows
            for name, field, keep in (("modified_after", "date_modified_gmt", lambda v, b: v > b),
                                      ("modified_before", "date_modified_gmt", lambda v, b: v < b),
                                      ("after", "date_created_gmt", lambda v, b: v > b),
                                      ("before", "date_created_gmt", lambda v, b: v < b)) if dated else ():
                if (bound := self._after(params, name)) is not None:
                    rows = [r for r in rows if keep(to_utc(r[field] + "Z"), bound)]
            start = self._offset(params, (page - 1) * per_page)
            return rows[start: start + per_page], self._pages_headers(request, len(rows), per_page, page)

        return self._handle(request, kind, serve)

    def tags(self, request):
        return self._static(request, "categories", [])  # the generated shops tag nothing

    def attributes(self, request):
        # products carry local (per-product) attributes only, as imported shops often do: no global pa_* ones
        return self._handle(request, "categories", lambda params, per_page, page: ([], {}))

    def shipping_classes(self, request):
        return self._static(request, "categories", [])

    def coupons(self, request):
        return self._static(request, "coupons", self.coupons_json(), dated=True)

    def coupons_json(self) -> list[dict]:
        """The one coupon the generated orders' discounts come from (a 10 % cart discount)."""
        created = wc_date(datetime(2023, 1, 2, tzinfo=timezone.utc))
        return [{"id": COUPON_ID, "code": COUPON_CODE, "amount": "10.00", "status": "publish",
                 "date_created": wc_date(datetime(2023, 1, 2, tzinfo=timezone.utc), SITE_TZ),
                 "date_created_gmt": created, "date_modified": wc_date(datetime(2023, 1, 2, tzinfo=timezone.utc),
                                                                       SITE_TZ),
                 "date_modified_gmt": created, "discount_type": "percent", "description": "10 % på hele kurven",
                 "date_expires": None, "date_expires_gmt": None, "usage_count": 0, "individual_use": True,
                 "product_ids": [], "excluded_product_ids": [], "usage_limit": None, "usage_limit_per_user": 1,
                 "limit_usage_to_x_items": None, "free_shipping": False, "product_categories": [],
                 "excluded_product_categories": [], "exclude_sale_items": True, "minimum_amount": "0.00",
                 "maximum_amount": "0.00", "email_restrictions": [], "used_by": [], "meta_data": []}]

    def _order_child(self, request, order_id: int, make):
        def serve(params, per_page, page):
            rec = self.store.get("orders", order_id)
            if rec is None:
                raise WpError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid order ID.")
            rows = make(self.orders_json([rec])[0], rec)
            start = self._offset(params, (page - 1) * per_page)
            return rows[start: start + per_page], self._pages_headers(request, len(rows), per_page, page)

        return self._handle(request, "orders", serve)

    def refunds(self, request, order_id: int):
        return self._order_child(request, order_id, self.refunds_json)

    def refund(self, request, order_id: int, refund_id: int):
        """GET orders/{id}/refunds/{refund_id}: WC_REST_CRUD_Controller::get_item; an id that is no refund of the
        order is answered as WooCommerce answers an unknown one."""
        def serve(params, per_page, page):
            rec = self.store.get("orders", order_id)
            if rec is None:
                raise WpError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid order ID.")
            found = [r for r in self.refunds_json(self.orders_json([rec])[0], rec) if r["id"] == refund_id]
            if not found:
                raise WpError(404, "woocommerce_rest_shop_order_refund_invalid_id", "Invalid ID.")
            return found[0], {}

        return self._handle(request, "orders", serve, single=True)

    def notes(self, request, order_id: int):
        return self._order_child(request, order_id, self.notes_json)

    def refunds_json(self, order: dict, record: dict | None = None) -> list[dict]:
        """WC_REST_Order_Refunds_V2_Controller::prepare_object_for_response per refund of the order (refunds
        written through the API keep their date and meta data in the record's `_refunds`; the store's own refunds
        their date and lines)."""
        record = record or {}
        written = {r["id"]: r for r in record.get("_refunds") or []}
        held = {} if "_wc" in record else {
            refund_id(int(order["id"]), k, r): r for k, r in enumerate(record.get("refunds") or [])}
        out = []
        for r in order["refunds"]:
            w, h = written.get(r["id"], {}), held.get(r["id"])
            when = self._site_and_gmt("date_created", to_utc(h.get("created_at"))) if h and h.get("created_at") \
                else {}
            out.append({"id": r["id"], "date_created": w.get("date_created", order["date_modified"]),
                        "date_created_gmt": w.get("date_created_gmt", order["date_modified_gmt"]), **when,
                        "amount": r["total"].lstrip("-"), "reason": r["reason"], "refunded_by": 1,
                        "refunded_payment": False, "meta_data": w.get("meta_data", []),
                        "line_items": self.refund_lines(order, record, h, r["id"]) if h else
                        self.written_refund_lines(order, w, r["id"]),
                        "shipping_lines": [], "tax_lines": [], "fee_lines": []})
        return out

    @classmethod
    def refund_lines(cls, order: dict, record: dict, refund: dict, rid: int) -> list[dict]:
        """A store refund's lines as WooCommerce refund line items (WC_Order_Item_Product of the refund, through
        get_order_item_data): quantity and amounts negative, the amount before tax (`total`, the tax of the units
        back in `total_tax`), the order line it refunds in meta `_refunded_item_id` (wc_create_refund)."""
        lines = {str(it.get("source_id")): li for it, li in zip(record.get("items") or [], order["line_items"])}
        out = []
        for n, ln in enumerate(refund.get("lines") or []):
            line, qty = lines.get(str(ln.get("item_id"))) or {}, int(ln.get("qty") or 0)
            ordered = line.get("quantity")
            tax = (Decimal(line["total_tax"]) * qty / ordered).quantize(Decimal("0.01")) \
                if isinstance(ordered, int) and ordered > 0 else Decimal(0)  # the tax of the units back
            taxes = [(t["id"], tax) for t in line.get("taxes") or []][:1] if tax else []
            out.append(cls.refund_item(line, qty, Decimal(money(ln.get("amount") or 0)), taxes, rid, n,
                                       ln.get("sku")))
        return out

    @classmethod
    def written_refund_lines(cls, order: dict, refund: dict, rid: int) -> list[dict]:
        """The lines of a refund written through the API (kept by r_create as order line id, quantity, refund
        total and refund tax per rate), as WooCommerce serves them."""
        lines = {li["id"]: li for li in order["line_items"]}
        out = []
        for n, ln in enumerate(refund.get("lines") or []):
            taxes = [(int(k) if str(k).isdigit() else k, Decimal(v)) for k, v in ln["taxes"]]
            out.append(cls.refund_item(lines.get(ln["line_id"]) or {"id": ln["line_id"]}, ln["qty"],
                                       Decimal(ln["total"]), taxes, rid, n, None))
        return out

    @staticmethod
    def refund_item(line: dict, qty: int, amount: Decimal, taxes: list, rid: int, n: int, sku) -> dict:
        """One refund line item (get_order_item_data of the refund's copy of order line `line`): quantity, amount and
        taxes negative, `_refunded_item_id` naming the order line."""
        neg = lambda d: money(-d if d else d)  # noqa: E731 (WooCommerce writes "0.00", not "-0.00")
        tax = sum((t for _, t in taxes), Decimal(0))
        return {"id": rid * 100 + n + 1, "name": line.get("name") or "", "product_id": line.get("product_id") or 0,
                "variation_id": line.get("variation_id") or 0, "quantity": -qty,
                "tax_class": line.get("tax_class") or "",
                "subtotal": neg(amount), "subtotal_tax": neg(tax), "total": neg(amount), "total_tax": neg(tax),
                "taxes": [{"id": k, "total": neg(t), "subtotal": neg(t)} for k, t in taxes],
                "meta_data": [{"id": rid * 100 + n + 51, "key": "_refunded_item_id", "value": str(line["id"]),
                               "display_key": "_refunded_item_id", "display_value": str(line["id"])}]
                if line else [],
                "sku": line.get("sku") or sku or "",
                "price": float(amount / qty) if qty else 0.0}

    def notes_json(self, order: dict, record: dict | None = None) -> list[dict]:
        """The note WooCommerce writes when an order changes status (author "system")."""
        label = {"pending": "Pending payment", "processing": "Processing", "completed": "Completed",
                 "cancelled": "Cancelled", "refunded": "Refunded", "on-hold": "On hold", "failed": "Failed"}
        return [{"id": order["id"] * 10 + 1, "author": "system", "date_created": order["date_created"],
                 "date_created_gmt": order["date_created_gmt"],
                 "note": f"Order status changed from Pending payment to {label.get(order['status'], order['status'])}.",
                 "customer_note": False}] if order["status"] != "pending" else []

    def system_tools(self, request):
        rows = [{"id": tid, "name": name, "action": action, "description": desc} for tid, name, action, desc in TOOLS]
        return self._handle(request, "settings", lambda params, per_page, page: (rows, {}))

    def payment_gateways(self, request):
        rows = [{"id": gid, "title": title, "description": desc, "order": k, "enabled": k == 0, "method_title": title,
                 "method_description": desc, "method_supports": ["products"], "settings": {},
                 "needs_setup": False, "post_install_scripts": [], "settings_url":
                 f"{self.base_url}/wp-admin/admin.php?page=wc-settings&tab=checkout&section={gid}",
                 "connection_url": None, "setup_help_text": None, "required_settings_keys": []}
                for k, (gid, title, desc) in enumerate(GATEWAYS)]
        return self._handle(request, "settings", lambda params, per_page, page: (rows, {}))

    def shipping_methods(self, request):
        rows = [{"id": mid, "title": title, "description": desc} for mid, title, desc in SHIPPING_METHODS]
        return self._handle(request, "settings", lambda params, per_page, page: (rows, {}))

    def shipping_zones(self, request):
        rows = [{"id": 1, "name": "Norden", "order": 0}, {"id": 0, "name": "Locations not covered by your other "
                                                                          "zones", "order": 0}]
        return self._handle(request, "settings", lambda params, per_page, page: (rows, {}))

    def zone_locations(self, request, zone_id: int):
        def serve(params, per_page, page):
            if zone_id not in (0, 1):
                raise WpError(404, "woocommerce_rest_shipping_zone_invalid", "Resource does not exist.")
            return ([{"code": c, "type": "country"} for c in ("NO", "SE", "DK")] if zone_id == 1 else []), {}

        return self._handle(request, "settings", serve)

    def zone_methods(self, request, zone_id: int):
        def serve(params, per_page, page):
            if zone_id not in (0, 1):
                raise WpError(404, "woocommerce_rest_shipping_zone_invalid", "Resource does not exist.")
            rows = [{"id": 1, "instance_id": 1, "title": "Flat rate", "order": 1, "enabled": True,
                     "method_id": "flat_rate", "method_title": "Flat rate",
                     "method_description": "Lets you charge a fixed rate for shipping.", "settings": {}}]
            return (rows if zone_id == 1 else []), {}

        return self._handle(request, "settings", serve)

    # --- settings (WC_REST_Setting_Options_Controller) ---------------------------------------------------------
    def settings_options(self) -> dict[str, dict[str, dict]]:
        """group → option id → the option as filter_setting() returns it (keys a setting lacks are absent)."""
        units = {"kg": "kg", "g": "g", "lbs": "lbs", "oz": "oz"}
        return {
            "general": {
                "woocommerce_calc_taxes": {"id": "woocommerce_calc_taxes", "label": "Enable taxes",
                                           "description": "Enable tax rates and calculations", "type": "checkbox",
                                           "default": "no", "tip": "Rates will be configurable and taxes will be "
                                                                   "calculated during checkout.",
                                           "value": "yes" if self.calc_taxes else "no"},
                "woocommerce_currency": {"id": "woocommerce_currency", "label": "Currency",
                                         "description": "This controls what currency prices are listed at in the "
                                                        "catalog and which currency gateways will take payments in.",
                                         "type": "select", "default": "USD", "options": {"NOK": "Norwegian krone "
                                                                                                "(kr)",
                                                                                         "SEK": "Swedish krona (kr)",
                                                                                         "EUR": "Euro (€)",
                                                                                         "USD": "United States (US) "
                                                                                                "dollar ($)"},
                                         "tip": "This controls what currency prices are listed at in the catalog and "
                                                "which currency gateways will take payments in.", "value": "NOK"},
            },
            "products": {
                "woocommerce_weight_unit": {"id": "woocommerce_weight_unit", "label": "Weight unit",
                                            "description": "This controls what unit you will define weights in.",
                                            "type": "select", "default": "kg", "options": units,
                                            "tip": "This controls what unit you will define weights in.",
                                            "value": self.weight_unit},
            },
        }

    def settings_group(self, request, group: str):
        def serve(params, per_page, page):
            options = self.settings_options().get(group)
            if options is None:
                raise WpError(404, "rest_setting_setting_group_invalid", "Invalid setting group.")
            return [{**o, "group_id": group} for o in options.values()], {}

        return self._handle(request, "settings", serve)

    def setting(self, request, group: str, option: str):
        def serve(params, per_page, page):
            options = self.settings_options().get(group)
            if options is None:
                raise WpError(404, "rest_setting_setting_group_invalid", "Invalid setting group.")
            if option not in options:
                raise WpError(404, "rest_setting_setting_invalid", "Invalid setting.")
            return {**options[option], "group_id": group}, {}

        return self._handle(request, "settings", serve, single=True)

    # --- mapping canonical -> WooCommerce JSON ------------------------------------------------------------------
    def tax_table(self) -> list[tuple[str, str, dict]]:
        """(slug, name, canonical record) per tax class; the lowest id is WooCommerce's built-in Standard."""
        _, records = self._query("tax_classes", [], [], "id", 0, 10_000)
        if not records or "_wc" in records[0]:  # classes written through the API (a target): Standard is built in
            table = [(r["_wc"]["slug"], r["_wc"]["name"], r) for r in records]
            if not any(slug == "standard" for slug, _, _ in table):
                table.insert(0, ("standard", "Standard rate", {"source_id": "0", "_rates": []}))
            return table
        table = []
        for k, r in enumerate(records):
            table.append(("standard", "Standard rate", r) if k == 0 else (slugify(r["name"]), r["name"], r))
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

    @staticmethod
    def _site_and_gmt(name: str, dt: datetime | None) -> dict:
        return {name: wc_date(dt, SITE_TZ) if dt else None, f"{name}_gmt": wc_date(dt) if dt else None}

    def _counts(self, entity: str, kind: str, ids: list[int]) -> dict[str, int]:
        """Products per term (WordPress keeps `count` on the term): categories and brands of this page."""
        if not ids:
            return {}
        path = "$.category_ids[*]" if kind == "categories" else "$.manufacturer_id"
        sql = (f"SELECT t, count(*) FROM (SELECT unnest(json_extract_string(record, '{path}')) AS t FROM products) "
               f"WHERE t IN (SELECT unnest(?)) GROUP BY t") if kind == "categories" else (
            f"SELECT json_extract_string(record, '{path}') AS t, count(*) FROM products WHERE t IN "
            f"(SELECT unnest(?)) GROUP BY t")
        with self.store.lock:
            return dict(self.store.con.execute(sql, [[str(i) for i in ids]]).fetchall())

    def term(self, r: dict) -> dict:
        return self.terms_json([r], "categories")[0]

    def terms_json(self, records: list[dict], kind: str) -> list[dict]:
        entity = COLLECTIONS[kind][0]
        counts = self._counts(entity, kind, [int(r["source_id"]) for r in records if "_wc" not in r])
        out = []
        for r in records:
            if "_wc" in r:
                out.append(r["_wc"])
                continue
            tid = int(r["source_id"])
            slug = (r.get("url_key") or slugify(r["name"])).rsplit("/", 1)[-1]
            image = None
            if kind == "categories" and tid % 4 == 1:  # some categories carry a thumbnail (term meta thumbnail_id)
                stamp = datetime(2023, 1, 1, tzinfo=timezone.utc)
                image = {"id": CATEGORY_IMAGE_BASE + tid, **self._site_and_gmt("date_created", stamp),
                         **self._site_and_gmt("date_modified", stamp),
                         "src": f"{self.base_url}/wp-content/uploads/2023/01/kategori-{slug}.jpg",
                         "name": f"kategori-{slug}", "alt": ""}
            # WordPress stores term names through kses: "&" comes back as "&amp;".
            out.append({"id": tid, "name": html.escape(r["name"], quote=False), "slug": slug,
                        "parent": int(r.get("parent_id") or 0), "description": r.get("description") or "",
                        "display": "default", "image": image, "menu_order": int(r.get("position") or 0),
                        "count": int(counts.get(str(tid), 0))})
        return out

    def _lookup(self, entity: str, ids) -> dict[str, dict]:
        ids = sorted({int(i) for i in ids if i is not None and str(i).isdigit()})
        return {r["source_id"]: r for r in self.store.page(entity, 0, len(ids), ids=ids)} if ids else {}

    def _ratings(self, ids: list[str]) -> dict[str, tuple[Decimal, int]]:
        """Average rating and count of approved reviews per product (WooCommerce keeps them in product meta)."""
        if not ids:
            return {}
        with self.store.lock:
            rows = self.store.con.execute(
                "SELECT json_extract_string(record, '$.product_id') AS p, avg(CAST(coalesce(json_extract(record, "
                "'$._wc.rating'), json_extract(record, '$.rating')) AS DOUBLE)), count(*) FROM reviews WHERE p IN "
                "(SELECT unnest(?)) AND coalesce(json_extract_string(record, '$.status'), 'approved') = 'approved' "
                "GROUP BY p", [ids]).fetchall()
        return {p: (Decimal(str(avg)) if avg is not None else Decimal(0), n) for p, avg, n in rows}

    def sale_window(self, pid: int, sale: str, p: dict | None = None):
        """The store's sale dates where it has them; else a sale scheduled to start 30 days from today (one in four
        discounted products), else an open sale."""
        if sale and p and (p.get("special_price_from") or p.get("special_price_to")):
            return (to_utc(p["special_price_from"]) if p.get("special_price_from") else None,
                    to_utc(p["special_price_to"]) if p.get("special_price_to") else None)
        if not sale or pid % 4 != 1:
            return None, None
        today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        return today + timedelta(days=30), today + timedelta(days=44)

    def active_price(self, p: dict) -> str:
        """What a simple product sells at now: its sale price while the sale runs, else the regular one."""
        regular, sale = money(p.get("price")), money(p.get("special_price"))
        start, end = self.sale_window(int(p["source_id"]), sale, p)
        now = datetime.now(timezone.utc)
        return sale if sale and (start is None or start <= now) and (end is None or end > now) else regular

    @staticmethod
    def price_html(price: str, regular: str = "", on_sale: bool = False, low: str = "", high: str = "") -> str:
        """wc_price() markup: the store's currency (NOK, "kr" after the amount)."""
        def amount(value: str) -> str:
            shown = f"{Decimal(value):,.2f}".replace(",", "\u00a0").replace(".", ",")
            return (f'<span class="woocommerce-Price-amount amount"><bdi>{shown}&nbsp;<span class="woocommerce-'
                    f'Price-currencySymbol">&#107;&#114;</span></bdi></span>')
        if low and high and low != high:
            return f"{amount(low)} &ndash; {amount(high)}"
        if not price:
            return ""
        if on_sale and regular:
            return (f'<del aria-hidden="true">{amount(regular)}</del> <span class="screen-reader-text">Original '
                    f'price was: {Decimal(regular):.2f}&nbsp;kr.</span><ins aria-hidden="true">{amount(price)}</ins>'
                    f'<span class="screen-reader-text">Current price is: {Decimal(price):.2f}&nbsp;kr.</span>')
        return amount(price)

    def products_json(self, records: list[dict]) -> list[dict]:
        cats = self._lookup("categories", [c for r in records for c in r.get("category_ids") or []])
        brands = self._lookup("manufacturers", [r.get("manufacturer_id") for r in records])
        taxes = {r["source_id"]: ("" if k == 0 else slug) for k, (slug, _, r) in enumerate(self.tax_table())}
        ratings = self._ratings([r["source_id"] for r in records])
        children = self._lookup("products", [c for r in records for c in r.get("child_ids") or []])
        out = []
        for p in records:
            if "_wc" in p:
                out.append(self._complete(PRODUCT_DEFAULTS, p["_wc"]))
                continue
            pid = int(p["source_id"])
            status = self.product_status(p)
            slug = (p.get("url_key") or slugify(p["name"])).rsplit("/", 1)[-1]
            # WordPress gives a draft or pending post no slug until it is published; its permalink is the query form
            permalink = f"{self.base_url}/product/{slug}/"
            if status in ("draft", "pending"):
                slug, permalink = "", f"{self.base_url}/?post_type=product&p={pid}"
            variants = p.get("variants") or []
            regular, sale = money(p.get("price")), money(p.get("special_price"))
            start, end = self.sale_window(pid, sale, p)
            now = datetime.now(timezone.utc)
            # a scheduled sale has not begun (the regular price applies); an ended one is over
            on_sale = bool(sale) and (start is None or start <= now) and (end is None or end > now)
            stock = p.get("stock")
            kind = "variable" if variants else p.get("type") if p.get("type") in ("grouped", "external") else "simple"
            grouped = [int(c) for c in p.get("child_ids") or [] if c in children] if kind == "grouped" else []
            tax_class = taxes.get(p.get("tax_class_id"), "")
            if variants:
                prices = [money(v.get("price")) for v in variants if v.get("price") is not None]
                prices = [sale if on_sale and sale else x for x in prices]
                low = min(prices, key=Decimal) if prices else ""
                high = max(prices, key=Decimal) if prices else ""
                price, html_price = low, self.price_html(low, low=low, high=high)
            elif kind == "grouped":  # no price of its own: the cheapest child's (WC_Product_Grouped)
                prices = [self.active_price(children[str(c)]) for c in grouped]
                prices = [x for x in prices if x]
                price = min(prices, key=Decimal) if prices else ""
                regular, sale, on_sale, start, end = "", "", False, None, None
                html_price = self.price_html(price, low=price, high=max(prices, key=Decimal) if prices else "")
            else:
                price = sale if on_sale else regular
                html_price = self.price_html(price, regular, on_sale)
            backorder = stock == 0 and pid % 6 == 0  # sold out, but the shop takes back orders
            avg, count = ratings.get(p["source_id"], (Decimal(0), 0))
            out.append({
                "id": pid, "name": p["name"], "slug": slug, "permalink": permalink,
                **self._dates(p), "type": kind, "status": status, "featured": pid % 17 == 0,
                "catalog_visibility": "visible", "description": p.get("description_html") or "",
                "short_description": "", "sku": p.get("sku") or "", "global_unique_id": "", "price": price,
                "regular_price": "" if variants else regular, "sale_price": "" if variants else sale,
                **self._site_and_gmt("date_on_sale_from", start), **self._site_and_gmt("date_on_sale_to", end),
                "price_html": html_price, "on_sale": on_sale, "purchasable": price != "", "total_sales": 0,
                "virtual": False, "downloadable": False, "downloads": [], "download_limit": -1,
                "download_expiry": -1, "external_url": (p.get("external_url") or "") if kind == "external" else "",
                "button_text": (p.get("button_text") or "Buy product") if kind == "external" else "",
                "tax_status": "taxable", "tax_class": tax_class, "manage_stock": stock is not None, "stock_quantity": stock,
                "stock_status": "onbackorder" if backorder else "instock" if (stock or 0) > 0 else "outofstock",
                "backorders": "notify" if backorder else "no", "backorders_allowed": backorder,
                "backordered": backorder, "low_stock_amount": 5 if pid % 10 == 3 else None,
                "sold_individually": False,
                "weight": "" if p.get("weight") is None else
                str((Decimal(str(p["weight"])) / WEIGHT_UNITS[self.weight_unit]).normalize()),
                "dimensions": {"length": "", "width": "", "height": ""}, "shipping_required": True,
                "shipping_taxable": True, "shipping_class": "", "shipping_class_id": 0, "reviews_allowed": True,
                "post_password": "", "average_rating": f"{avg:.2f}", "rating_count": count, "related_ids": [],
                "upsell_ids": [], "cross_sell_ids": [], "parent_id": 0, "purchase_note": "",
                "categories": [{"id": int(c), "name": cats[c]["name"] if c in cats else "",
                                "slug": (cats[c].get("url_key") or "").rsplit("/", 1)[-1] if c in cats else ""}
                               for c in p.get("category_ids") or []],
                "brands": [{"id": int(b), "name": brands[b]["name"], "slug": brands[b].get("url_key") or ""}
                           for b in [p.get("manufacturer_id")] if b in brands],
                "tags": [],
                "images": [{"id": pid * 100 + k, **self._dates(p), "src": img["url"],
                            "name": img["url"].rsplit("/", 1)[-1].rsplit(".", 1)[0], "alt": img.get("alt") or "",
                            "position": k}
                           for k, img in enumerate(sorted(p.get("images") or [],
                                                          key=lambda i: i.get("position") or 0))],
                "has_options": bool(variants), "attributes": self._attributes(variants), "default_attributes": [],
                "variations": [self._variation_id(pid, k) for k in range(len(variants))], "grouped_products": grouped,
                "menu_order": 0, "meta_data": [],
            })
        return out

    @staticmethod
    def product_status(p: dict) -> str:
        """The product's lifecycle where the store gives one; else disabled products are drafts, or private
        (visible to shop staff only) for every third one."""
        if p.get("lifecycle") in POST_STATUS:
            return POST_STATUS[p["lifecycle"]]
        if p.get("status") != "disabled":
            return "publish"
        return "private" if int(p["source_id"]) % 3 == 0 else "draft"

    @staticmethod
    def _complete(defaults: dict, body: dict) -> dict:
        """A record written through the API, with the fields WooCommerce fills in for what was not posted."""
        return {**defaults, **body}

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
        if "_variations" in p:  # written through the API: what WooCommerce derives from the parent and the post
            parent = p.get("_wc") or {}
            return [self._complete({**VARIATION_DEFAULTS, "parent_id": int(p["source_id"]),
                                    "permalink": parent.get("permalink") or f"{self.base_url}/?p={v['id']}",
                                    "date_created": parent.get("date_created"),
                                    "date_created_gmt": parent.get("date_created_gmt"),
                                    "date_modified": wc_date(to_utc(v["date_modified_gmt"] + "Z"), SITE_TZ)
                                    if v.get("date_modified_gmt") else None}, v)
                    for v in p["_variations"]]
        pid, sale = int(p["source_id"]), money(p.get("special_price"))
        start, end = self.sale_window(pid, sale, p)
        now = datetime.now(timezone.utc)
        on_sale = bool(sale) and (start is None or start <= now) and (end is None or end > now)
        taxes = {r["source_id"]: ("" if k == 0 else slug) for k, (slug, _, r) in enumerate(self.tax_table())}
        slug = (p.get("url_key") or slugify(p["name"])).rsplit("/", 1)[-1]
        variants = p.get("variants") or []
        out = []
        for k, v in enumerate(variants):
            price = money(v.get("price"))
            # the last size of every fifth product is kept private (not for sale yet)
            private = (pid % 5 == 2 and len(variants) >= 3 and k == len(variants) - 1) or v.get("status") == "disabled"
            options = v.get("options") or []
            query = urlencode({f"attribute_{slugify(o['name'])}": o["value"] for o in options})
            out.append({
                "id": self._variation_id(pid, k), "type": "variation", **self._dates(p), "description": "",
                "permalink": f"{self.base_url}/product/{slug}/" + (f"?{query}" if query else ""),
                "sku": v.get("sku") or "", "global_unique_id": "", "price": sale if on_sale else price,
                "regular_price": price, "sale_price": sale, **self._site_and_gmt("date_on_sale_from", start),
                **self._site_and_gmt("date_on_sale_to", end), "on_sale": on_sale,
                "status": "private" if private else "publish", "purchasable": not private and price != "",
                "virtual": False, "downloadable": False, "downloads": [], "download_limit": -1,
                "download_expiry": -1, "tax_status": "taxable",
                "tax_class": taxes.get(p.get("tax_class_id"), ""),  # view context: the parent's class resolved
                "manage_stock": v.get("stock") is not None, "stock_quantity": v.get("stock"),
                "stock_status": "instock" if (v.get("stock") or 0) > 0 else "outofstock", "backorders": "no",
                "backorders_allowed": False, "backordered": False, "low_stock_amount": None, "weight": "",
                "dimensions": {"length": "", "width": "", "height": ""}, "shipping_class": "",
                "shipping_class_id": 0, "image": None,
                "attributes": [{"id": 0, "name": o["name"], "slug": slugify(o["name"]), "option": o["value"]}
                               for o in options],
                "menu_order": k, "meta_data": [], "name": ", ".join(o["value"] for o in options), "parent_id": pid,
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

    def _paying(self, ids: list[str]) -> set[str]:
        """Customers with a paid order (WooCommerce sets `paying_customer` when an order is paid)."""
        if not ids:
            return set()
        paid = ["processing", "complete", "completed"]  # canonical and WooCommerce names (written orders)
        with self.store.lock:
            rows = self.store.con.execute(
                "SELECT DISTINCT coalesce(json_extract_string(record, '$._wc.customer_id'), json_extract_string("
                "record, '$.customer_id')) AS c FROM orders WHERE c IN (SELECT unnest(?)) AND coalesce("
                "json_extract_string(record, '$._wc.status'), json_extract_string(record, '$.status')) IN "
                "(SELECT unnest(?))", [ids, paid]).fetchall()
        return {r[0] for r in rows}

    def customer(self, c: dict) -> dict:
        return self.customers_json([c])[0]

    def customers_json(self, records: list[dict]) -> list[dict]:
        paying = self._paying([r["source_id"] for r in records])
        out = []
        for c in records:
            if "_wc" in c:
                out.append(c["_wc"])
                continue
            addresses = c.get("addresses") or []
            billing = next((a for a in addresses if a.get("is_default_billing")), None)
            shipping = next((a for a in addresses if a.get("is_default_shipping")), None)
            email = c.get("email") or ""
            out.append({
                "id": int(c["source_id"]), **self._dates(c), "email": email,
                "first_name": c.get("first_name") or "", "last_name": c.get("last_name") or "",
                "role": "customer", "username": email.split("@")[0],
                "billing": self.address(billing, email if billing else ""), "shipping": self.address(shipping),
                "is_paying_customer": c["source_id"] in paying, "avatar_url": self.avatar(email, 96),
                "meta_data": []})
        return out

    @staticmethod
    def avatar(email: str, size: int) -> str:
        digest = hashlib.md5(email.strip().lower().encode()).hexdigest()
        return f"https://secure.gravatar.com/avatar/{digest}?s={size}&d=mm&r=g"

    def order_extras(self, o: dict) -> dict:
        """The derived order fields (WC_Order::get_checkout_payment_url, is_editable, needs_payment,
        needs_processing)."""
        try:  # a shop's data can hold anything (a plugin wrote "1,25"): WooCommerce casts it to a float
            total = Decimal(str(o.get("total") or 0))
        except ArithmeticError:
            total = Decimal(0)
        return {"payment_url": f"{self.base_url}/checkout/order-pay/{o.get('id')}/?pay_for_order=true&key="
                               f"{o.get('order_key', '')}",
                "is_editable": o.get("status") in ("pending", "on-hold", "auto-draft", "checkout-draft"),
                "needs_payment": o.get("status") in ("pending", "failed") and total > 0,
                "needs_processing": bool(o.get("line_items"))}  # physical goods: not virtual-and-downloadable

    def orders_json(self, records: list[dict]) -> list[dict]:
        existing = self._lookup("customers", [o.get("customer_id") or (o.get("_wc") or {}).get("customer_id")
                                              for o in records])
        products = self._lookup("products", [it.get("product_id") for o in records for it in o.get("items") or []])
        taxes = self.tax_rates()
        out = []
        for o in records:
            if "_wc" in o:  # deleted users' orders become guest orders
                wc = {**ORDER_DEFAULTS, **o["_wc"]}
                # WC_Order's address data has every key, posted or not; items get parent_name and image
                wc["billing"] = {**self.address(None, ""), **(wc.get("billing") or {})}
                wc["shipping"] = {**self.address(None), **(wc.get("shipping") or {})}
                wc["line_items"] = [{"parent_name": None, "image": {"id": 0, "src": ""}, **li}
                                    for li in wc.get("line_items") or []]
                wc["customer_id"] = wc.get("customer_id") if str(wc.get("customer_id")) in existing else 0
                out.append({**wc, **self.order_extras(wc)})
                continue
            out.append(self._order_json(o, existing, products, taxes))
        return out

    def _order_json(self, o: dict, existing: dict, products: dict, rates: list[dict]) -> dict:
        oid = int(o["source_id"])
        cid = o.get("customer_id")
        status = STATUS_OUT.get(o.get("status") or "pending", o.get("status") or "pending")
        country = (o.get("shipping_address") or o.get("billing_address") or {}).get("country") or ""
        rate = next((r for r in rates if r["class"] == "standard" and r["country"] in (country, "")), None)
        rate_id = rate["id"] if rate else 1
        items = []
        for k, it in enumerate(o.get("items") or []):
            line = Decimal(str(it.get("price") or 0)) * int(it.get("qty") or 0)
            tax = money(it.get("tax") or 0)
            product = products.get(str(it.get("product_id")))
            image = (sorted(product.get("images") or [], key=lambda i: i.get("position") or 0) if product else [])
            items.append({"id": oid * 100 + k + 1, "name": it.get("name") or "",
                          # a product deleted for good leaves 0 on its lines (a trashed one keeps its id)
                          "product_id": int(it["product_id"]) if it.get("product_id") and product else 0,
                          "variation_id": 0,
                          "quantity": it.get("qty"), "tax_class": "", "subtotal": money(line),
                          "subtotal_tax": tax, "total": money(line), "total_tax": tax,
                          "taxes": [{"id": rate_id, "total": tax, "subtotal": tax}] if Decimal(tax) else [],
                          "meta_data": [], "sku": (product.get("sku") or "") if product else it.get("sku") or None,
                          "price": float(it.get("price") or 0),
                          "image": {"id": int(it["product_id"]) * 100 if image else 0,
                                    "src": image[0]["url"] if image else ""},
                          "parent_name": None})
        cart_tax = money(o.get("tax") or 0)
        tax_lines = [{"id": oid * 100 + 90, "rate_code": f"{country or 'NO'}-MVA-1", "rate_id": rate_id,
                      "label": "MVA", "compound": False, "tax_total": cart_tax, "shipping_tax_total": "0.00",
                      "rate_percent": float(rate["rate"]) if rate else 25.0, "meta_data": []}] \
            if Decimal(cart_tax) else []
        shipping = money(o.get("shipping") or 0)
        shipping_lines = [{"id": oid * 100 + 50, "method_title": "Flat rate", "method_id": "flat_rate",
                           "instance_id": "1", "total": shipping, "total_tax": "0.00", "taxes": [],
                           "tax_status": "taxable", "meta_data": []}] if Decimal(shipping) else []
        discount = money(o.get("discount") or 0)
        coupons = [{"id": oid * 100 + 70, "code": COUPON_CODE, "discount": discount, "discount_tax": "0.00",
                    "discount_type": "percent", "nominal_amount": 10.0, "free_shipping": False, "meta_data": []}] \
            if Decimal(discount) else []
        created, updated = to_utc(o.get("created_at")), to_utc(o.get("updated_at"))
        paid = created if status in ("processing", "completed", "refunded") else None
        completed = updated if status in ("completed", "refunded") else None
        total = money(o.get("grand_total"))
        refunds = []
        if o.get("refunds"):  # the store's own refunds (WooCommerce keeps the total negative)
            for k, r in enumerate(o["refunds"]):
                refunds.append({"id": refund_id(oid, k, r), "reason": r.get("reason") or "",
                                "total": f"-{money(r.get('amount'))}"})
        elif status == "refunded":
            refunds.append({"id": REFUND_BASE + oid * 10 + 1, "reason": "", "total": f"-{total}"})
        elif status == "completed" and oid % 7 == 0 and Decimal(total or 0) > 0:  # a partial refund: one item back
            part = money(min(Decimal(total), Decimal(items[0]["total"]) + Decimal(items[0]["total_tax"])))
            refunds.append({"id": REFUND_BASE + oid * 10 + 1, "reason": "Returned", "total": f"-{part}"})
        order = {
            "id": oid, "parent_id": 0, "status": status, "currency": o.get("currency"), "version": WC_VERSION,
            "prices_include_tax": False, **self._dates(o),
            "discount_total": discount, "discount_tax": "0.00",
            "shipping_total": shipping, "shipping_tax": "0.00",
            "cart_tax": cart_tax, "total": total, "total_tax": cart_tax,
            "customer_id": int(cid) if cid in existing else 0,  # deleted users' orders become guest orders
            "order_key": "wc_order_" + hashlib.sha1(str(oid).encode()).hexdigest()[:13],
            "billing": self.address(o.get("billing_address"), o.get("email") or ""),
            "shipping": self.address(o.get("shipping_address")),
            "payment_method": "bacs", "payment_method_title": "Direct bank transfer", "transaction_id": "",
            "customer_ip_address": "", "customer_user_agent": "", "created_via": "checkout",
            "customer_note": "", **self._site_and_gmt("date_completed", completed),
            **self._site_and_gmt("date_paid", paid), "cart_hash": "",
            "number": o.get("number") or str(oid), "meta_data": [], "line_items": items, "tax_lines": tax_lines,
            "shipping_lines": shipping_lines, "fee_lines": [], "coupon_lines": coupons, "refunds": refunds,
        }
        return {**order, **self.order_extras(order)}

    def reviews_json(self, records: list[dict], params: dict) -> list[dict]:
        customers = self._lookup("customers", [r.get("customer_id") for r in records])
        products = self._lookup("products", [r.get("product_id") for r in records])
        edit = params.get("context") == "edit"
        api = f"{self.base_url}/wp-json"
        out = []
        for r in records:
            if "_wc" in r:
                wc = r["_wc"]
                out.append({**wc, "review": wc["review"] if edit else wpautop(wc["review"]),
                            "reviewer_avatar_urls": wc.get("reviewer_avatar_urls") or
                            {str(s): self.avatar(wc.get("reviewer_email") or "", s) for s in (24, 48, 96)}})
                continue
            rid, c = int(r["source_id"]), customers.get(r.get("customer_id"))
            pid = int(r["product_id"]) if r.get("product_id") else 0
            product = products.get(r.get("product_id"))
            text = r.get("text") or ""
            links = {"self": [{"href": f"{api}/wc/v3/products/reviews/{rid}"}],
                     "collection": [{"href": f"{api}/wc/v3/products/reviews"}]}
            if pid:
                links["up"] = [{"href": f"{api}/wc/v3/products/{pid}"}]
            if c:
                links["reviewer"] = [{"embeddable": True, "href": f"{api}/wp/v2/users/{int(c['source_id'])}"}]
            name = " ".join(x for x in ((c or {}).get("first_name"), (c or {}).get("last_name")) if x)
            email = c["email"] if c else f"gjest-{rid}@example.net"
            slug = ((product.get("url_key") or slugify(product["name"])).rsplit("/", 1)[-1]) if product else ""
            out.append({
                "id": rid, **self._dates(r, modified=False), "product_id": pid,
                "product_name": product["name"] if product else "",
                "product_permalink": f"{self.base_url}/product/{slug}/" if product else f"{self.base_url}/?p={pid}",
                "status": REVIEW_STATUS_OUT.get(r.get("status") or "approved", "approved"),
                "reviewer": name or ("Kunde" if c else f"Gjest {rid}"), "reviewer_email": email,
                "review": text if edit else wpautop(text), "rating": r.get("rating") or 0, "verified": bool(c),
                "reviewer_avatar_urls": {str(s): self.avatar(email, s) for s in (24, 48, 96)}, "_links": links,
            })
        return out


def rate_bound_rows_per_s(entity: str, plan: str = "standard") -> float | None:
    """Most rows/s the emulated host limit allows: requests per second × 100 records per page (benchmarks)."""
    limit = PLANS.get(plan, PLANS["standard"])
    return None if limit is None else limit[0] / limit[1] * MAX_PER_PAGE
