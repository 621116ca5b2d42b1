"""Every assumption about Mystore's API, in one place (public documentation of the resource API is thin).

What seed 000 states is modelled exactly: an OAuth client (Client ID, Client Secret, Redirect URL), "Grant Access"
→ log in with store name (Butikk), e-mail and password ("Logg Inn") → "Authorize" → redirect with an authorization
code, exchanged for access and refresh tokens (OAuth 2.0 authorization-code grant, RFC 6749 §4.1), and the
store's required fields (seed 000's peculiarities). The rest is our assumption, shaped like common shop APIs;
adapting to the real API should touch this module, platforms/mystore/target.py and platforms/mystore/emulator.py only:

- endpoints: GET  {base}/oauth/authorize?response_type=code&client_id&redirect_uri&state
             POST {base}/oauth/token (grant_type=authorization_code | refresh_token; client credentials in the body)
             {base}/api/v1/{resource} (GET list, POST create), {base}/api/v1/{resource}/{id} (GET, PATCH, DELETE),
             POST {base}/api/v1/{resource}/batch {"create": [...], "update": [...]} → per-item results
- auth: Authorization: Bearer <access_token>; an expired token → 401 {"error": "invalid_token"}
- pagination: page, per_page (max 100); body {"data": [...], "meta": {"total", "page", "per_page", "pages"}}
- a record may carry "external_ref" (our source id) and be filtered by it: ?external_ref=a,b,c
- limits: BATCH_MAX items per batch; RATE_PER_S requests per second per token; 429 with Retry-After
- errors: 422 {"errors": [{"field": "...", "message": "..."}]}; in a batch, each item has "error" or "id"
"""

from __future__ import annotations

API_PREFIX = "/api/v1"
AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"
PAGE_MAX = 100
BATCH_MAX = 50
RATE_PER_S = 10  # assumed default: 10 requests/s per access token
ACCESS_TOKEN_TTL_S = 3600
SCOPE = "store.read store.write"

# entity → resource path, and the fields Mystore requires (seed 000: orders need a customer, order addresses and
# customer info need first/last name, city and country; reviews need product and customer).
RESOURCES = {
    "categories": "categories",
    "manufacturers": "manufacturers",
    "tax_classes": "tax-classes",
    "products": "products",
    "customers": "customers",
    "orders": "orders",
    "reviews": "reviews",
}
REQUIRED = {
    "categories": ("name",),
    "manufacturers": ("name",),
    "tax_classes": ("name",),
    "products": ("name", "price"),
    "customers": ("email",),
    "orders": ("customer_id", "currency", "grand_total", "customer_first_name", "customer_last_name"),
    "reviews": ("product_id", "customer_id", "rating"),
}
REQUIRED_ADDRESS = ("first_name", "last_name", "city", "country")  # in billing_address and shipping_address
PASSWORD_ALGORITHMS = ("bcrypt",)  # assumed: hashes in other algorithms are not accepted; those customers reset
ORDER_STATUSES = ("new", "processing", "completed", "cancelled", "refunded", "on_hold")  # assumed
UNIQUE = {"customers": ("email",), "products": ("sku", "url_key"), "categories": ("url_key",)}
