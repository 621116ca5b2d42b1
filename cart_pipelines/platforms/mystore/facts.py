"""Mystore (Acendy) API v2: the facts we build on, and every assumption the public sources do not settle.

Source of the facts: ../shared/mystore-api.md (each fact with its source, graded [C] confirmed, [S] single source,
[?] unknown). The emulator (emulator.py), the client (api.py), the mapping (mapping.py) and the target read their
numbers and names from here, so verifying one point against the apiary docs or a test shop changes one line.

ASSUMPTIONS lists what the sources leave open: for each, the behaviour chosen (in the emulator and the client
alike) and how to change it. Keep the table and the constants below in step.
"""

from __future__ import annotations

# --- confirmed / single-source facts ---------------------------------------------------------------------------
API_BASE = "https://api.mystore.no"  # [C] resources at {API_BASE}/shops/{shop}/{resource}
AUTH_BASE = "https://auth.mystore.no"  # [C] OAuth clients and Personal Access Tokens
AUTHORIZE_PATH = "/oauth/authorize"  # [C]
TOKEN_PATH = "/oauth/token"  # [C] grant_type authorization_code | refresh_token
JSONAPI = "application/vnd.api+json"  # [C] Accept / Content-Type of the JSON:API resources
PLAIN_JSON = ("settings", "shipping", "payment", "atomic-batch", "non-atomic-batch")  # [C] plain JSON endpoints
TOKEN_CLAIM_SHOPS = "no_mystore_hosts"  # [C] JWT claim: shop names, [0] is {shop}
TOKEN_CLAIM_SCOPES = "scopes"  # [C] JWT claim: permissions, ["*"] = all
EXPIRED_DETAIL = "Token has expired or is invalid"  # [S: RN] 403 errors[0].detail → refresh
RATE_LIMIT = 120  # [C] requests per token per window
RATE_WINDOW_S = 60.0  # [C] fixed one-minute window (MS: "send all over 10 s, wait 50 s")
PACING_MARGIN_S = 0.5  # the client counts a window from its send, the server from the arrival: latency margin
RETRY_429_AFTER_S = 5.0  # [S: GA] no Retry-After is documented: wait this long after a 429
ORDER_TOTAL_CLASSES = {"subtotal": "ot_subtotal", "shipping": "ot_shipping", "tax": "ot_tax",
                       "grand_total": "ot_total"}  # [C: OC, MS]
ORDER_TOTAL_SORT = {"ot_subtotal": 10, "ot_shipping": 20, "ot_discount": 30, "ot_tax": 40, "ot_total": 50}  # [C: OC]
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # [S: MS convert_if_datetime]; timezone [?]: we write and read UTC

# Read permissions a partner asks for ([S: LS]); `read:<type>` is the pattern.
READ_SCOPE = "read:{type}"

# --- assumptions: what the sources leave open --------------------------------------------------------------------
PAGE_SIZE_MAX = 100  # [?] largest page[size] honoured (larger asks are clamped); GA used 50, PO 100
PAGE_SIZE_DEFAULT = 25  # [?] page size without page[size]
ATOMIC_BATCH_MAX = 100  # [?] operations per atomic-batch request (more → 400, nothing applied)
ATOMIC_BATCH_COUNTS_ONCE = True  # [?] an atomic batch counts as one request against the 120/min limit
WRITE_SCOPE = "write:{type}"  # [?] write permission names (never seen; `write:<type>` is the obvious guess)
CLIENT_IDS = False  # [?] MS builders send an optional data.id on create; we let Mystore assign ids
ADJUST_INVENTORY_META = "adjust_inventory"  # [?] order-products meta key ("6. Adjust inventory meta"); default on
ADJUST_INVENTORY_DEFAULT = True  # [?] an order-product without the meta draws stock down (why imports switch it off)
CREATE_STATUS = 201  # [?] status of a successful POST (JSON:API's convention); the client accepts any 2xx
FILTER_OPERATORS = ("=", "gte")  # [S: MS default equality, GA gte]; others (gt, lte, like, in …) answer 400
PAST_LAST_PAGE = 404  # [S: GA] a page number past the last one
MISSING_SCOPE_DETAIL = "Invalid scope(s) provided."  # [?] 403 detail for a token without the permission
TOKEN_TTL_S = 3600  # [?] OAuth access-token lifetime (Passport's `expires_in` is sent; the client honours it)
PAT_TTL_S = 10 * 365 * 24 * 3600  # [S: GA] Personal Access Tokens live ~10 years
DISCOUNT_TOTAL_CLASS = "ot_discount"  # [?] order-totals class of a discount row (osCommerce modules vary)
VARIANT_LINK = "product-variant"  # [?] order-products → product-variants relationship name
IMAGE_UPLOAD_FIELD = "image"  # [S: MS] multipart field of POST images; answer shape [?]: {"file_name": ...}
IMAGE_TYPES = ("jpg", "jpeg", "gif", "png", "webp")  # [S: MS]
ORDER_NUMBER_ATTRIBUTE = "reference"  # [?] where the old order number goes (orders have no order-number field)
REFUND_TOTAL_CLASS = "ot_refund"  # [?] order-totals class of the refunded amount (no refund class is documented)
REFUND_TOTAL_SORT = 60  # [?] after ot_total (50): the order as placed stays ot_total, the refund follows it
SPECIAL_START_ATTRIBUTE = None  # [C: MS, TS] product-specials have expires_at and no start attribute
VARIANT_DISABLED_WRITABLE = True  # [?] product-variants `disabled` is read by MS; we assume a create may set it
INACTIVE_LIFECYCLES = ("draft", "pending", "private", "scheduled", "archived", "trashed")  # → products.status 0

ASSUMPTIONS: tuple[tuple[str, str, str], ...] = (
    # (what is open, behaviour chosen, how to change it)
    ("largest page[size]", f"{PAGE_SIZE_MAX}; larger asks are clamped, links.next still leads on",
     "PAGE_SIZE_MAX (client and emulator read it)"),
    ("atomic-batch size limit", f"{ATOMIC_BATCH_MAX} operations; more → 400 and nothing applied",
     "ATOMIC_BATCH_MAX; the target packs batches up to it"),
    ("does an atomic batch count once against 120/min", "yes (one request)",
     "ATOMIC_BATCH_COUNTS_ONCE (emulator); if not, the target's pacing counts operations"),
    ("write permission names", "write:<type> next to the documented read:<type>",
     "WRITE_SCOPE; the connection check lists what the token lacks by these names"),
    ("can a create choose its id", "no: Mystore assigns ids, preserve_ids does not apply",
     "CLIENT_IDS = True sends data.id (the emulator then honours it)"),
    ("adjust-inventory meta key and default", f"meta {{\"{ADJUST_INVENTORY_META}\": false}} on POST order-products; "
     f"default on", "ADJUST_INVENTORY_META / ADJUST_INVENTORY_DEFAULT"),
    ("which methods each type takes", "all of list/get/create/update/delete, except the read-only order-status, "
     "languages and currencies (the staff client's CRUD column is what it implemented, not a server limit)",
     "MystoreEmulator._type"),
    ("uniqueness", "customer e-mail, and product/category slug per language, are unique (422 otherwise)",
     "MystoreEmulator._check"),
    ("atomic-batch answer", "200 with a JSON array, per operation {status, body, return}; a failure answers the "
     "failing operation's status and errors, nothing applied", "MystoreEmulator.atomic_batch, api.batch"),
    ("status code of a create", f"{CREATE_STATUS} with the created document; the client accepts any 2xx",
     "CREATE_STATUS (emulator)"),
    ("filter operators", "equality (no operator) and gte; anything else → 400", "FILTER_OPERATORS"),
    ("403 detail of a missing permission", MISSING_SCOPE_DETAIL, "MISSING_SCOPE_DETAIL"),
    ("access-token lifetime", f"{TOKEN_TTL_S} s, refresh token rotated on use", "TOKEN_TTL_S (emulator)"),
    ("discount row of order-totals", f"class {DISCOUNT_TOTAL_CLASS}, value negative", "DISCOUNT_TOTAL_CLASS"),
    ("order-products → variant link", f"relationship {VARIANT_LINK!r} (stock drawn from the variant)",
     "VARIANT_LINK"),
    ("images upload answer", "plain JSON {\"file_name\", \"url\"}; products reference the file name",
     "IMAGE_UPLOAD_FIELD; api.upload_image"),
    ("old order number", f"written to orders.{ORDER_NUMBER_ATTRIBUTE}", "ORDER_NUMBER_ATTRIBUTE"),
    ("rate-limit headers / Retry-After", "none sent; a 429 is retried after RETRY_429_AFTER_S",
     "RETRY_429_AFTER_S"),
    ("datetime timezone", "UTC, written YYYY-MM-DD HH:MM:SS", "DATETIME_FORMAT and mapping._when"),
    ("a link to a deleted record (an order line's product, an order's customer)", "reads as none (`data: null`, "
     "left out of to-many lists), as a Laravel relation to a missing row does; the line keeps its name, SKU and "
     "price", "MystoreEmulator.resource; source_mapping.link"),
    ("start date of a special", "product-specials have no start attribute (only expires_at): a sale whose start "
     "is still ahead is created with status 0 and its expires_at, so it cannot start early; its start is kept in "
     "the references file and listed in mystore-not-carried.json, and the first migration run (e.g. the "
     "post-migration delta) after the start switches it to status 1 (so does the shop owner, by hand); a sale "
     "whose end is past is created with status 0", "SPECIAL_START_ATTRIBUTE = '<name>' writes the start instead"),
    ("refunds", f"the refunded total as an order-totals row of class {REFUND_TOTAL_CLASS} (value negative, sort "
     f"{REFUND_TOTAL_SORT}, after ot_total, which stays the order as placed; net = ot_total + {REFUND_TOTAL_CLASS}); "
     "each refund as an order-status-history entry (amount, reason, date in comments, created_at the refund date, "
     "the order's status)", "REFUND_TOTAL_CLASS / REFUND_TOTAL_SORT; mapping.order_totals and refund_history"),
    ("disabled variants", "written as product-variants disabled = 1 (MS lists `disabled` on reads only)",
     "VARIANT_DISABLED_WRITABLE = False: disabled variants are created with quantity 0 and listed in "
     "mystore-not-carried.json"),
    ("concurrent requests", "none documented; the target keeps at most 2 atomic batches in flight (pacing still "
     "holds 120/min)", "target.PIPELINE_DEPTH (1: one request at a time)"),
    ("product lifecycle", f"{', '.join(INACTIVE_LIFECYCLES)} products are migrated with status 0 (not sold), so "
     "old orders' lines keep their product; only published (or no lifecycle) and enabled products get status 1",
     "INACTIVE_LIFECYCLES"),
)


def read_scope(type_: str) -> str:
    return READ_SCOPE.format(type=type_)


def write_scope(type_: str) -> str:
    return WRITE_SCOPE.format(type=type_)


def assumptions_markdown() -> str:
    """The table for docs/targets/mystore.md."""
    rows = ["| open point | behaviour chosen | how to change |", "|---|---|---|"]
    rows += [f"| {a} | {b} | {c} |" for a, b, c in ASSUMPTIONS]
    return "\n".join(rows)
