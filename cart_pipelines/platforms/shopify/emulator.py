"""Shopify Admin GraphQL API emulator: the store as `POST /admin/api/{version}/graphql.json`.

Schema: Shopify's published Admin schema (the 2025-01 introspection in ../shared/specs/shopify, built once per
process by emulator_schema.py, in the background while the emulator starts), served for every `{version}` in the
path, plus one documented extension (the 2025-07 `limit` argument of the count fields). Any query valid against
Shopify validates here and invalid ones are refused with graphql-ruby's messages and `extensions.code`. A field the
emulator does not model answers as its type allows: null where nullable; where non-null an empty list, an empty
connection, an object whose fields follow the same rule, or a type-correct scalar ("", 0, false, "0", the epoch,
the enum's first value); an unmodelled mutation is an error. Without the spec file the hand-written SDL below is
served (a subset) with a warning, so the default tests still run. REST (legacy, still served): `GET
/admin/api/{version}/shop.json` and `GET /admin/oauth/access_scopes.json` with `X-Shopify-Shop-Api-Call-Limit`.

Follows the documented behaviour (pages found with the search tool):
- endpoint and auth: `X-Shopify-Access-Token`; a wrong token is HTTP 401
  `{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}`
  (https://shopify.dev/docs/api/admin-graphql, https://shopify.dev/docs/api/usage/authentication);
- a missing scope is an `ACCESS_DENIED` error at HTTP 200: "Access denied for products field. Required access:
  `read_products` access scope." with `extensions.requiredAccess`
  (https://shopify.dev/changelog/new-error-messages-for-graphql-operations-without-necessary-access-scopes);
- connections with `first`/`after`, `nodes`/`edges`, `pageInfo { hasNextPage endCursor }`, at most 250 per page
  ("first cannot exceed 250", https://shopify.dev/docs/api/usage/pagination-graphql); `reverse: true` reads from the
  other end; search syntax (https://shopify.dev/docs/api/usage/search-syntax, terms ANDed) `updated_at:>'…'` with
  `sortKey: UPDATED_AT`, and the range terms `created_at:>='…'`, `created_at:<'…'`, `id:>=N`, `id:<M` (also `<=`, `>`
  and `id:N`) that products, customers and orders document; ids are GIDs with `legacyResourceId`;
- calculated query cost and a leaky bucket per app and shop: scalars 0, objects 1, connections 2 + first ×
  node cost, mutations 10, a single query at most 1000 points (`MAX_COST_EXCEEDED`); the requested cost must be
  available or the query fails with `THROTTLED` at HTTP 200; the unused part of the requested cost is refunded;
  every response carries `extensions.cost { requestedQueryCost actualQueryCost throttleStatus {...} }`.
  Restore rates per plan: standard 100, advanced 200, plus 1000, enterprise 2000 points/s
  (https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits); bucket = 20 s of restore (2000 points on
  the standard plan, as real responses report `maximumAvailable`), which the docs do not state;
- bulk operations: `bulkOperationRunQuery` → `currentBulkOperation` (CREATED, RUNNING, COMPLETED) → `url` of a
  JSON Lines file, one object per line, nested connection nodes on their own lines after their parent with
  `__parentId`; one bulk query at a time (`OPERATION_IN_PROGRESS`); bulk mutations in shopify_bulk.py
  (https://shopify.dev/docs/api/usage/bulk-operations/queries,
  https://shopify.dev/docs/api/admin-graphql/latest/queries/currentBulkOperation);
- `productVendors` (2025-01+, page size up to 1000) lists the vendor strings
  (https://shopify.dev/docs/api/admin-graphql/latest/queries/productVendors).

Mapping from the canonical store: categories are collections (flat), a manufacturer's name is the product
`vendor`, a product without variants has Shopify's one "Default Title" variant, a special price is the variant
`price` with the regular price in `compareAtPrice`, order `subtotalPriceSet` is after discounts (as Shopify's).
Variant, image and line-item ids are numeric GIDs derived from the parent id. An order whose customer was
deleted has `customer: null`, as on Shopify. Money is in shop money = the order's currency (one currency shop).

What real shops hold (kit/emulator_cases.py, a few percent each, deterministic by id): disabled products are
`DRAFT` (even ids) or `ARCHIVED` (odd), and `products` lists them with the active ones unless the search filters
by status; every 40th product is a gift card (`isGiftCard`); refunded orders have a full refund, some paid ones a
partial refund (`PARTIALLY_REFUNDED`, `refunds` with `refundLineItems`, `totalRefundedSet`, `currentTotalPriceSet`
"after returns"); some orders have a line whose product was deleted since (`product: null`, sku and name kept); a
variant the store holds disabled is not served (Shopify variants have no status: mapping.VARIANT_STATUS_HELD).
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
import threading
import time
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from graphql import (
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLUnionType,
    OperationType,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    execute,
    get_named_type,
    get_nullable_type,
    parse,
    validate,
    visit,
)
from graphql.language import FieldNode
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.kit import emulator_cases as cases
from cart_pipelines.platforms.kit.emulator import (
    Emulator,
    LeakyBucket,
    _json_default,
    to_utc,
)
from cart_pipelines.platforms.shopify.emulator_bulk import (
    BULK_SDL,
    ShopifyBulkMutations,
)
from cart_pipelines.platforms.shopify import emulator_schema, mapping
from cart_pipelines.platforms.shopify.emulator_schema import field_resolver, ruby_error, ruby_variable_error
from cart_pipelines.platforms.shopify.emulator_writes import (
    WRITE_SDL,
    ShopifyWrites,
    _meta,
)

TOKEN = "shpat_emulator0000000000000000000000"
MAX_PAGE = 250
MAX_COST = 1000
MUTATION_COST = 10
PLANS = {"standard": 100.0, "advanced": 200.0, "plus": 1000.0, "enterprise": 2000.0}  # restore points/s
BUCKET_SECONDS = 20  # bucket size = restore rate × 20 (2000 points on the standard plan)
# REST Admin API (legacy): a leaky bucket of requests per app and shop, (size, leak per second); 2/s and 4/s as
# the rate-limits page lists them (Plus 20/s), bucket 40 (Plus 400) per shopify.dev/docs/api/usage/rate-limits
REST_PLANS = {"standard": (40, 2.0), "advanced": (80, 4.0), "plus": (400, 20.0), "enterprise": (400, 20.0)}
# scopes a custom app with our connector's and target's access holds (a write scope implies its read scope)
GRANTED_SCOPES = ("read_products", "write_products", "read_customers", "write_customers", "read_orders",
                  "write_orders", "read_inventory", "write_inventory", "read_locations", "read_files", "write_files")
REST_PLAN_NAMES = {"standard": ("professional", "Shopify"), "advanced": ("unlimited", "Advanced"),
                   "plus": ("shopify_plus", "Shopify Plus"), "enterprise": ("shopify_plus", "Shopify Plus")}
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
SCOPE_OF = {"products": "read_products", "productsCount": "read_products", "productVendors": "read_products",
            "collections": "read_products", "collectionsCount": "read_products", "customers": "read_customers",
            "customersCount": "read_customers", "orders": "read_orders", "ordersCount": "read_orders"}
COUNTRY_NAMES = {"NO": "Norway", "SE": "Sweden", "DK": "Denmark", "FI": "Finland", "DE": "Germany",
                 "GB": "United Kingdom", "US": "United States"}
GIFT_CARD_EVERY = 40  # every 40th product (id % 40 == 17) is a gift card
LIFECYCLE_STATUS = {"draft": "DRAFT", "archived": "ARCHIVED", "published": "ACTIVE"}


def product_status(p: dict) -> str:
    """ProductStatus of a canonical product: its lifecycle where it has one; else a disabled product is a draft
    (even ids) or archived (odd ids), as both are in shops that have been open a while."""
    if p.get("lifecycle") in LIFECYCLE_STATUS:
        return LIFECYCLE_STATUS[p["lifecycle"]]
    if p.get("status", "enabled") == "enabled":
        return "ACTIVE"
    return "DRAFT" if int(p["source_id"]) % 2 == 0 or not cases.picks(p) else "ARCHIVED"


def is_gift_card(p: dict) -> bool:
    return p.get("type") == "gift_card" or (p.get("type") is None and cases.picks(p)
                                            and cases.every(p["source_id"], GIFT_CARD_EVERY, 17))


# canonical order status -> (displayFinancialStatus, displayFulfillmentStatus, cancelled)
ORDER_STATUS = {"pending": ("PENDING", "UNFULFILLED", False), "processing": ("PAID", "UNFULFILLED", False),
                "complete": ("PAID", "FULFILLED", False), "canceled": ("VOIDED", "UNFULFILLED", True),
                "refunded": ("REFUNDED", "FULFILLED", False), "on_hold": ("PAID", "ON_HOLD", False)}

# The hand-written subset of Shopify's Admin schema (2025-01 names and types, exactly as published, only the fields
# the emulator serves; tests/conformance/test_shopify_spec.py compares the refund types with the published schema)
SDL = """
schema { query: QueryRoot mutation: Mutation }
scalar DateTime
scalar Decimal
scalar Money
scalar URL
scalar HTML
scalar UnsignedInt64
enum CountPrecision { EXACT AT_LEAST }
enum ProductStatus { ACTIVE ARCHIVED DRAFT }
enum ProductSortKeys { ID TITLE UPDATED_AT CREATED_AT }
enum CollectionSortKeys { ID TITLE UPDATED_AT }
enum CustomerSortKeys { ID NAME UPDATED_AT CREATED_AT }
enum OrderSortKeys { ID UPDATED_AT CREATED_AT PROCESSED_AT }
enum WeightUnit { GRAMS KILOGRAMS OUNCES POUNDS }
enum MediaContentType { IMAGE VIDEO MODEL_3D EXTERNAL_VIDEO }
enum CustomerEmailMarketingState { NOT_SUBSCRIBED PENDING SUBSCRIBED UNSUBSCRIBED REDACTED INVALID }
enum OrderDisplayFinancialStatus { PENDING AUTHORIZED PARTIALLY_PAID PARTIALLY_REFUNDED VOIDED PAID REFUNDED EXPIRED }
enum OrderDisplayFulfillmentStatus { UNFULFILLED PARTIALLY_FULFILLED FULFILLED RESTOCKED PENDING_FULFILLMENT OPEN
  IN_PROGRESS ON_HOLD SCHEDULED REQUEST_DECLINED }
enum BulkOperationStatus { CREATED RUNNING COMPLETED CANCELING CANCELED FAILED EXPIRED }
enum BulkOperationType { QUERY MUTATION }
enum BulkOperationErrorCode { ACCESS_DENIED INTERNAL_SERVER_ERROR TIMEOUT }
enum BulkOperationUserErrorCode { INVALID OPERATION_IN_PROGRESS }
interface Node { id: ID! }
type PageInfo { hasNextPage: Boolean! hasPreviousPage: Boolean! startCursor: String endCursor: String }
type Count { count: Int! precision: CountPrecision! }
type ShopPlan { displayName: String! partnerDevelopment: Boolean! shopifyPlus: Boolean! }
type Shop implements Node { id: ID! name: String! email: String! myshopifyDomain: String! currencyCode: String!
  plan: ShopPlan! METAFIELDS }
type MoneyV2 { amount: Decimal! currencyCode: String! }
type MoneyBag { shopMoney: MoneyV2! presentmentMoney: MoneyV2! }
type Weight { unit: WeightUnit! value: Float! }
type InventoryItemMeasurement { id: ID! weight: Weight }
type InventoryItem implements Node { id: ID! sku: String tracked: Boolean! measurement: InventoryItemMeasurement! }
type SelectedOption { name: String! value: String! }
type ProductVariant implements Node { id: ID! legacyResourceId: UnsignedInt64! title: String! sku: String
  price: Money! compareAtPrice: Money inventoryQuantity: Int position: Int! selectedOptions: [SelectedOption!]!
  inventoryItem: InventoryItem! product: Product! updatedAt: DateTime! METAFIELDS }
type ProductVariantEdge { cursor: String! node: ProductVariant! }
type ProductVariantConnection { nodes: [ProductVariant!]! edges: [ProductVariantEdge!]! pageInfo: PageInfo! }
type Image { id: ID url: URL! altText: String width: Int height: Int }
interface Media { id: ID! alt: String mediaContentType: MediaContentType! }
type MediaImage implements Media & Node { id: ID! alt: String mediaContentType: MediaContentType! image: Image }
type MediaEdge { cursor: String! node: Media! }
type MediaConnection { nodes: [Media!]! edges: [MediaEdge!]! pageInfo: PageInfo! }
type Collection implements Node { id: ID! legacyResourceId: UnsignedInt64! title: String! handle: String!
  descriptionHtml: HTML! updatedAt: DateTime! METAFIELDS }
type CollectionEdge { cursor: String! node: Collection! }
type CollectionConnection { nodes: [Collection!]! edges: [CollectionEdge!]! pageInfo: PageInfo! }
type Product implements Node { id: ID! legacyResourceId: UnsignedInt64! title: String! handle: String!
  descriptionHtml: HTML! vendor: String! productType: String! status: ProductStatus! totalInventory: Int!
  hasOnlyDefaultVariant: Boolean! isGiftCard: Boolean! tags: [String!]! createdAt: DateTime! updatedAt: DateTime!
  variants(first: Int, after: String, last: Int, before: String, reverse: Boolean = false): ProductVariantConnection!
  media(first: Int, after: String, last: Int, before: String, reverse: Boolean = false): MediaConnection!
  collections(first: Int, after: String, last: Int, before: String, reverse: Boolean = false): CollectionConnection!
  METAFIELDS }
type ProductEdge { cursor: String! node: Product! }
type ProductConnection { nodes: [Product!]! edges: [ProductEdge!]! pageInfo: PageInfo! }
type MailingAddress implements Node { id: ID! firstName: String lastName: String name: String company: String
  address1: String address2: String city: String zip: String province: String provinceCode: String
  country: String countryCodeV2: String phone: String }
type CustomerEmailMarketingConsentState { marketingState: CustomerEmailMarketingState! consentUpdatedAt: DateTime }
type Customer implements Node { id: ID! legacyResourceId: UnsignedInt64! email: String firstName: String
  lastName: String displayName: String! phone: String emailMarketingConsent: CustomerEmailMarketingConsentState
  addresses(first: Int): [MailingAddress!]! defaultAddress: MailingAddress createdAt: DateTime!
  updatedAt: DateTime! METAFIELDS }
type CustomerEdge { cursor: String! node: Customer! }
type CustomerConnection { nodes: [Customer!]! edges: [CustomerEdge!]! pageInfo: PageInfo! }
type TaxLine { title: String! rate: Float ratePercentage: Float priceSet: MoneyBag! }
type LineItem implements Node { id: ID! name: String! title: String! sku: String quantity: Int!
  product: Product variant: ProductVariant originalUnitPriceSet: MoneyBag! taxLines(first: Int): [TaxLine!]!
  customAttributes: [Attribute!]! }
type LineItemEdge { cursor: String! node: LineItem! }
type LineItemConnection { nodes: [LineItem!]! edges: [LineItemEdge!]! pageInfo: PageInfo! }
type Order implements Node { id: ID! legacyResourceId: UnsignedInt64! name: String! email: String
  customer: Customer displayFinancialStatus: OrderDisplayFinancialStatus
  displayFulfillmentStatus: OrderDisplayFulfillmentStatus! cancelledAt: DateTime closed: Boolean!
  currencyCode: String! subtotalPriceSet: MoneyBag totalShippingPriceSet: MoneyBag! totalTaxSet: MoneyBag
  totalDiscountsSet: MoneyBag totalPriceSet: MoneyBag! billingAddress: MailingAddress
  shippingAddress: MailingAddress createdAt: DateTime! processedAt: DateTime! updatedAt: DateTime!
  lineItems(first: Int, after: String, last: Int, before: String, reverse: Boolean = false): LineItemConnection!
  totalRefundedSet: MoneyBag! currentTotalPriceSet: MoneyBag! refunds(first: Int): [Refund!]!
  transactions(first: Int, capturable: Boolean, manuallyResolvable: Boolean): [OrderTransaction!]!
  tags: [String!]! METAFIELDS }
interface LegacyInteroperability { legacyResourceId: UnsignedInt64! }
enum RefundLineItemRestockType { RETURN CANCEL LEGACY_RESTOCK NO_RESTOCK }
type RefundLineItem { id: ID lineItem: LineItem! quantity: Int! restockType: RefundLineItemRestockType!
  restocked: Boolean! priceSet: MoneyBag! subtotalSet: MoneyBag! totalTaxSet: MoneyBag! }
type RefundLineItemEdge { cursor: String! node: RefundLineItem! }
type RefundLineItemConnection { nodes: [RefundLineItem!]! edges: [RefundLineItemEdge!]! pageInfo: PageInfo! }
type Refund implements LegacyInteroperability & Node { id: ID! legacyResourceId: UnsignedInt64! note: String
  createdAt: DateTime updatedAt: DateTime! totalRefundedSet: MoneyBag!
  refundLineItems(first: Int, after: String, last: Int, before: String, reverse: Boolean = false):
    RefundLineItemConnection! }
type OrderTransaction implements Node { id: ID! kind: OrderTransactionKind! status: OrderTransactionStatus!
  gateway: String amountSet: MoneyBag! processedAt: DateTime parentTransaction: OrderTransaction }
type OrderEdge { cursor: String! node: Order! }
type OrderConnection { nodes: [Order!]! edges: [OrderEdge!]! pageInfo: PageInfo! }
type StringEdge { cursor: String! node: String! }
type StringConnection { nodes: [String!]! edges: [StringEdge!]! pageInfo: PageInfo! }
type BulkOperation implements Node { id: ID! status: BulkOperationStatus! errorCode: BulkOperationErrorCode
  createdAt: DateTime! completedAt: DateTime objectCount: UnsignedInt64! rootObjectCount: UnsignedInt64!
  fileSize: UnsignedInt64 url: URL partialDataUrl: URL query: String! type: BulkOperationType! }
type BulkOperationUserError { field: [String!] message: String! code: BulkOperationUserErrorCode }
type BulkOperationRunQueryPayload { bulkOperation: BulkOperation userErrors: [BulkOperationUserError!]! }
type QueryRoot {
  shop: Shop!
  node(id: ID!): Node
  products(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
    sortKey: ProductSortKeys = ID, query: String): ProductConnection!
  productsCount(query: String, limit: Int): Count
  productVendors(first: Int, after: String): StringConnection!
  collections(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
    sortKey: CollectionSortKeys = ID, query: String): CollectionConnection!
  collectionsCount(query: String): Count
  customers(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
    sortKey: CustomerSortKeys = ID, query: String): CustomerConnection!
  customersCount(query: String, limit: Int): Count
  orders(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
    sortKey: OrderSortKeys = PROCESSED_AT, query: String): OrderConnection!
  ordersCount(query: String, limit: Int): Count
  currentBulkOperation(type: BulkOperationType = QUERY): BulkOperation
  location(id: ID): Location
}
"""
SDL = SDL.replace("METAFIELDS", "metafield(namespace: String, key: String!): Metafield "
                  "metafields(first: Int, after: String, namespace: String): MetafieldConnection!")
FALLBACK_SDL = SDL + WRITE_SDL + BULK_SDL  # served only when Shopify's published schema file is absent


def schema():
    """The served schema: Shopify's published Admin schema (emulator_schema.py), built once per process."""
    return emulator_schema.load(FALLBACK_SDL)


SHOP = {"name": "Emulated Shop", "email": "shop@example.no", "domain": "emulated-shop.myshopify.com",
        "myshopify_domain": "emulated-shop.myshopify.com", "currency": "NOK"}
ROOT_ENTITY = {"products": "products", "collections": "categories", "customers": "customers", "orders": "orders"}
GID_TYPE = {"Product": "products", "Collection": "categories", "Customer": "customers", "Order": "orders"}


def gid(kind: str, id_) -> str:
    return f"gid://shopify/{kind}/{id_}"


def money(value) -> str | None:
    return None if value is None else str(Decimal(str(value)).quantize(Decimal("0.01")))


def _connection_type(t) -> bool:
    return get_named_type(t).name.endswith("Connection")


def query_cost(document, variables: dict) -> int:
    """Requested cost the documented way: scalars and enums 0, objects 1, connections 2 + first × node cost,
    mutation fields 10. `nodes`, `edges`, `node` and `pageInfo` inside a connection are part of it."""
    info = TypeInfo(schema())
    stack: list[list] = [[0]]  # cost accumulators per open field

    def arg(node: FieldNode, name: str):
        for a in node.arguments or ():
            if a.name.value == name:
                v = a.value
                if v.kind == "variable":
                    return variables.get(v.name.value)
                return int(v.value) if v.kind == "int_value" else None
        return None

    class Cost(Visitor):
        def enter_operation_definition(self, node, *_):
            self.mutation = node.operation.value == "mutation"

        def enter_field(self, node, *_):
            stack.append([0])

        def leave_field(self, node, *_):
            inner = stack.pop()[0]
            t = info.get_type()
            parent = info.get_parent_type()
            name = node.name.value
            if t is None:
                return
            if parent is not None and parent.name in {"QueryRoot", "Mutation"} and getattr(self, "mutation", False):
                stack[-1][0] += MUTATION_COST
                return
            if parent is not None and parent.name.endswith(("Connection", "Edge")):
                # inside a connection: each node costs 1 + its fields; edges and pageInfo themselves are free
                scalar = not isinstance(get_named_type(t), (GraphQLObjectType, GraphQLInterfaceType,
                                                            GraphQLUnionType))
                stack[-1][0] += {"nodes": 1 + inner, "node": 1 + inner, "edges": inner}.get(name, 0) * (not scalar)
                return
            if _connection_type(t):
                first = arg(node, "first") or arg(node, "last") or 0
                stack[-1][0] += 2 + first * inner
            elif isinstance(get_named_type(t), (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
                stack[-1][0] += 1 + inner
            else:
                stack[-1][0] += inner

    visit(document, TypeInfoVisitor(info, Cost()))
    return stack[0][0]


@lru_cache(maxsize=128)
def _parsed(query: str):
    """Parsed and validated once per query text (clients repeat the same query with new variables)."""
    document = parse(query)
    return document, validate(schema(), document)


@lru_cache(maxsize=256)
def _requested_cost(query: str, counts: tuple) -> int:
    """query_cost of a query text with its integer variables (the only ones a cost reads: `first`, `last`), once:
    walking the document was half of the emulator's time for a page of products."""
    return query_cost(_parsed(query)[0], dict(counts))


@lru_cache(maxsize=256)
def _too_new(query: str, version: str) -> list[dict]:
    return emulator_schema.too_new(schema(), _parsed(query)[0], version)


def _cursor(payload) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


def _uncursor(text: str):
    try:
        return json.loads(base64.b64decode(text.encode()).decode())
    except Exception:
        raise GraphQLError("Invalid cursor for current pagination sort.") from None


VALUE = r"""(?:'([^']*)'|"([^"]*)"|([^'"\s]+))"""  # a quoted value may hold spaces ('2020-01-01 00:00:00+00:00')
SEARCH = re.compile(r"updated_at:\s*(>=|>)\s*" + VALUE)
UNTIL = re.compile(r"updated_at:\s*(<=|<)\s*" + VALUE)
RANGE_TERM = re.compile(r"(?<![\w.])(created_at|id):\s*(>=|<=|>|<)?\s*" + VALUE)


STATUS_TERM = re.compile(r"(?<![\w.])status:\s*([\w,]+)", re.I)
# product_status() in SQL over the stored canonical record; first, a product of the store whose every variant is
# disabled is archived (cases.all_variants_disabled, mapping.VARIANTS_ALL_DISABLED_LIFECYCLE)
_VARIANT_STATUSES = "json_extract_string(record, '$.variants[*].status')"
STATUS_SQL = (f"CASE WHEN json_extract(record, '$.{cases.WRITTEN}') IS NULL "
              f"AND len(coalesce({_VARIANT_STATUSES}, [])) > 0 "
              f"AND len(list_filter({_VARIANT_STATUSES}, lambda x: x IS DISTINCT FROM 'disabled')) = 0 THEN 'ARCHIVED' ELSE "
              "CASE json_extract_string(record, '$.lifecycle') WHEN 'draft' THEN 'DRAFT' WHEN 'archived' THEN "
              "'ARCHIVED' WHEN 'published' THEN 'ACTIVE' ELSE CASE WHEN coalesce(json_extract_string(record, "
              "'$.status'), 'enabled') = 'enabled' THEN 'ACTIVE' WHEN id % 2 = 0 THEN 'DRAFT' ELSE 'ARCHIVED' END END "
              "END")


def _status_filter(entity: str, query: str | None):
    """Products' `status:active`, `status:draft,archived` search term (values ORed) as a SQL condition; without
    it the products query lists every status (shopify.dev/docs/api/admin-graphql/latest/queries/products)."""
    m = STATUS_TERM.search(query or "") if entity == "products" else None
    if not m:
        return None
    values = [v.upper() for v in m.group(1).split(",") if v]
    return f"({STATUS_SQL}) IN ({', '.join('?' for _ in values)})", values


def _value(groups) -> str:
    return next(g for g in groups if g)


class ShopifyEmulator(ShopifyWrites, ShopifyBulkMutations, Emulator):
    platform = "shopify"
    url_map = Map([
        Rule("/admin/api/<version>/graphql.json", endpoint="graphql", methods=["POST"]),
        Rule("/admin/api/<version>/shop.json", endpoint="rest_shop", methods=["GET"]),
        Rule("/admin/oauth/access_scopes.json", endpoint="rest_access_scopes", methods=["GET"]),
        Rule("/bulk/<name>", endpoint="download", methods=["GET"]),
        Rule("/staged-uploads/", endpoint="upload", methods=["POST"]),
    ])

    def __init__(self, store, knobs=None):
        super().__init__(store, knobs)
        rate = PLANS.get(self.knobs.plan, PLANS["standard"])
        self.bucket = LeakyBucket(rate * BUCKET_SECONDS, rate)
        self.rest_bucket = LeakyBucket(*REST_PLANS.get(self.knobs.plan, REST_PLANS["standard"]))
        self.bulk_ops: dict[str, dict] = {}  # the current bulk operation per type (QUERY, MUTATION)
        self.bulk_seq = 0
        self.bulk_dir = tempfile.TemporaryDirectory(prefix="shopify-bulk-")
        self.bulk_delay = 0.05  # seconds an operation stays RUNNING at least, so clients really poll
        self.writes = 0  # successful mutations that changed the shop (a target's re-run must add none)
        self.shop_metafields: dict = {}
        emulator_schema.warm(FALLBACK_SDL)

    @property
    def schema(self):
        return schema()

    def credentials(self) -> dict:
        return {"access_token": TOKEN, "api_version": "2025-10"}

    # --- responses in Shopify's formats
    def _status(self, requested, actual) -> dict:
        available = self.bucket.take(0)[1] if self.knobs.rate_limit else self.bucket.size
        return {"requestedQueryCost": requested, "actualQueryCost": actual,
                "throttleStatus": {"maximumAvailable": self.bucket.size, "currentlyAvailable": int(available),
                                   "restoreRate": self.bucket.rate}}

    def throttled(self, request: Request, requested: int | None = None) -> Response:
        if requested is None:
            try:
                body = json.loads(request.get_data() or b"{}")
                requested = query_cost(parse(body.get("query") or "{shop{name}}"), body.get("variables") or {})
            except Exception:
                requested = 1
        return self.json({"errors": [{"message": "Throttled", "extensions": {
            "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
            "extensions": {"cost": self._status(requested, None)}})

    def error(self, request: Request, exc: Exception) -> Response:
        status = exc.code if isinstance(exc, HTTPException) else 500
        text = {404: "Not Found", 400: "Bad Request"}.get(status, "Internal Server Error")
        return self.json({"errors": text}, status)

    # --- endpoints
    def graphql(self, request: Request, version: str) -> Response:
        if request.headers.get("X-Shopify-Access-Token") != TOKEN:
            return self.json({"errors": INVALID_TOKEN}, 401)
        try:
            body = json.loads(request.get_data() or b"")
            query, variables = body["query"], body.get("variables") or {}
        except (ValueError, KeyError, TypeError):
            return self.json({"errors": {"query": "Required parameter missing or invalid"}}, 400)
        try:
            document, problems = _parsed(query)
        except GraphQLError as exc:
            return self.json({"errors": [exc.formatted]})
        if problems:
            return self.json({"errors": [ruby_error(p) for p in problems]})
        newer = _too_new(query, version)  # a field this version lacks
        if newer:
            return self.json({"errors": newer})
        requested = _requested_cost(query, tuple(sorted((k, v) for k, v in variables.items() if type(v) is int)))
        if requested > MAX_COST:
            return self.json({"errors": [{"message": f"Query cost is {requested}, which exceeds the single query "
                                          f"max cost limit ({MAX_COST}).\n\nTo query larger amounts of data with "
                                          "fewer limits, bulk operations should be used instead.\n",
                                          "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                                                         "maxCost": MAX_COST}}]})
        if self.knobs.rate_limit and not self.bucket.take(requested)[0]:
            return self.throttled(request, requested)
        context = {"items": 0, "scopes_checked": True, "version": version}
        result = execute(schema(), document, root_value=self._root(), variable_values=variables,
                         context_value=context, field_resolver=field_resolver)
        actual = max(1, min(requested, sum(_result_cost(v) for v in (result.data or {}).values())))
        if any(getattr(d, "operation", None) == OperationType.MUTATION for d in document.definitions):
            actual = requested  # a mutation costs its 10 points whatever it returns: only query pages are refunded
        if self.knobs.rate_limit:
            self.bucket.refund(requested - actual)
        self.delay(context["items"])
        out: dict = {}
        if result.errors and result.data is None and all(e.path is None for e in result.errors):
            # variables the schema refuses: nothing ran
            return self.json({"errors": [ruby_variable_error(e, document, variables) for e in result.errors],
                              "extensions": {"cost": self._status(requested, 0)}})
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
        out["data"] = result.data
        out["extensions"] = {"cost": self._status(requested, actual)}
        return self.json(out)

    # --- REST Admin API (legacy, still served): the two calls clients make before anything else
    def _rest(self, request: Request, body: dict) -> Response:
        """Token check and the REST call limit, answered with X-Shopify-Shop-Api-Call-Limit as Shopify does."""
        if request.headers.get("X-Shopify-Access-Token") != TOKEN:
            return self.json({"errors": INVALID_TOKEN}, 401)
        allowed, left = self.rest_bucket.take(1) if self.knobs.rate_limit else (True, self.rest_bucket.size)
        used = f"{int(self.rest_bucket.size - left)}/{int(self.rest_bucket.size)}"
        if not allowed:
            return self.json({"errors": f"Exceeded {self.rest_bucket.rate:g} calls per second for api client. "
                              "Reduce request rates to resume uninterrupted service."}, 429,
                             {"Retry-After": "1.0", "X-Shopify-Shop-Api-Call-Limit": used})
        return self.json(body, 200, {"X-Shopify-Shop-Api-Call-Limit": used})

    def rest_shop(self, request: Request, version: str) -> Response:
        """GET /admin/api/{version}/shop.json: the Shop resource's fields (REST Admin 2025-01), `fields=` picks."""
        plan_name, plan_display = REST_PLAN_NAMES.get(self.knobs.plan, REST_PLAN_NAMES["standard"])
        shop = {"id": 1, "name": SHOP["name"], "email": SHOP["email"], "domain": SHOP["domain"],
                "province": "Oslo", "country": "NO", "address1": "Karl Johans gate 1", "zip": "0154",
                "city": "Oslo", "source": None, "phone": "+4722000000", "latitude": 59.9127, "longitude": 10.7461,
                "primary_locale": "nb", "address2": None, "created_at": "2023-01-01T10:00:00+01:00",
                "updated_at": "2024-06-01T10:00:00+02:00", "country_code": "NO", "country_name": "Norway",
                "currency": SHOP["currency"], "customer_email": SHOP["email"], "timezone": "(GMT+01:00) Europe/Oslo",
                "iana_timezone": "Europe/Oslo", "shop_owner": "Emulated Owner", "money_format": "kr {{amount}}",
                "money_with_currency_format": "kr {{amount}} NOK", "weight_unit": "kg", "province_code": "03",
                "taxes_included": True, "auto_configure_tax_inclusivity": None, "tax_shipping": None,
                "county_taxes": None, "plan_display_name": plan_display, "plan_name": plan_name,
                "has_discounts": False, "has_gift_cards": False, "myshopify_domain": SHOP["myshopify_domain"],
                "google_apps_domain": None, "google_apps_login_enabled": None,
                "money_in_emails_format": "kr {{amount}}", "money_with_currency_in_emails_format": "kr {{amount}} NOK",
                "eligible_for_payments": False, "requires_extra_payments_agreement": False, "password_enabled": False,
                "has_storefront": True, "finances": True, "primary_location_id": 1, "checkout_api_supported": False,
                "multi_location_enabled": True, "setup_required": False, "pre_launch_enabled": False,
                "enabled_presentment_currencies": [SHOP["currency"]], "marketing_sms_consent_enabled_at_checkout":
                False, "transactional_sms_disabled": False}
        wanted = [f.strip() for f in (request.args.get("fields") or "").split(",") if f.strip()]
        return self._rest(request, {"shop": {k: v for k, v in shop.items() if not wanted or k in wanted}})

    def rest_access_scopes(self, request: Request) -> Response:
        """GET /admin/oauth/access_scopes.json: the scopes the token holds (`Knobs.denied_scopes` left out)."""
        return self._rest(request, {"access_scopes": [{"handle": s} for s in GRANTED_SCOPES
                                                      if s not in self.knobs.denied_scopes]})

    def download(self, request: Request, name: str) -> Response:
        path = Path(self.bulk_dir.name) / name
        if not path.is_file():
            return Response("<Error><Code>NoSuchKey</Code></Error>", 404, content_type="application/xml")
        return Response(path.read_bytes(), 200, content_type="application/jsonl")

    # --- resolvers
    def _root(self) -> dict:
        return {
            "shop": lambda info: {"id": gid("Shop", 1), "name": SHOP["name"], "email": SHOP["email"],
                                  "myshopifyDomain": SHOP["myshopify_domain"], "currencyCode": SHOP["currency"],
                                  "plan": {"displayName": self.knobs.plan.capitalize(), "partnerDevelopment": False,
                                           "shopifyPlus": self.knobs.plan in {"plus", "enterprise"}},
                                  **_meta(self.shop_metafields)},
            "location": lambda info, id=None: {"id": gid("Location", 1), "name": "Shop location"},
            **self._mutations(),
            "node": self._node,
            **{name: self._list_resolver(name, entity) for name, entity in ROOT_ENTITY.items()},
            **{f"{name}Count": self._count_resolver(name, entity) for name, entity in ROOT_ENTITY.items()},
            "productVendors": self._vendors,
            "currentBulkOperation": lambda info, type="QUERY": self._bulk_view(type),
            "bulkOperationRunQuery": self._bulk_run,
            **self._bulk_mutations(),
        }

    def _deny(self, info, field: str) -> None:
        scope = SCOPE_OF.get(field)
        if scope and scope in self.knobs.denied_scopes:
            raise GraphQLError(f"Access denied for {field} field. Required access: `{scope}` access scope.",
                               extensions={"code": "ACCESS_DENIED",
                                           "documentation": "https://shopify.dev/api/usage/access-scopes",
                                           "requiredAccess": f"`{scope}` access scope."})

    def _filters(self, query: str | None):
        m = SEARCH.search(query or "")
        return to_utc(_value(m.groups()[1:])) if m else None

    def _until(self, query: str | None):
        """`updated_at:<'…'` / `<=`: the upper end of an updated-at window (store bound: at most)."""
        m = UNTIL.search(query or "")
        return to_utc(_value(m.groups()[1:])) if m else None

    @staticmethod
    def _ranges(query: str | None) -> list[tuple]:
        """The search's created_at and id terms as store conditions (`id:N` is both ends)."""
        within = []
        for field, op, *quoted in RANGE_TERM.findall(query or ""):
            value = _value(quoted)
            try:
                bound = int(value) if field == "id" else to_utc(value)
            except (TypeError, ValueError):
                raise GraphQLError(f"Invalid search value for {field}: {value!r}") from None
            within += [(field, op, bound)] if op else [(field, ">=", bound), (field, "<=", bound)]
        return within

    def _list_resolver(self, field: str, entity: str):
        def resolve(info, first=None, after=None, last=None, before=None, reverse=False, sortKey="ID", query=None,
                    **_):
            self._deny(info, field)
            bulk = info.context.get("bulk")
            if bulk is not None:
                first, after = MAX_PAGE, bulk.get("after")
            if first is None and last is None:
                raise GraphQLError("you must provide one of first or last")
            if (first or 0) > MAX_PAGE or (last or 0) > MAX_PAGE:
                raise GraphQLError(f"The connection `{field}` cannot return more than {MAX_PAGE} records "
                                   f"(first cannot exceed {MAX_PAGE}). To query larger amounts of data with "
                                   "fewer limits, bulk operations should be used instead.",
                                   extensions={"code": "BAD_REQUEST"})
            limit = first or last
            order = "updated_at" if sortKey == "UPDATED_AT" else "id"
            records, more = self._page(entity, limit, after and _uncursor(after), order,
                                       (self._filters(query), self._until(query)),
                                       self._ranges(query), reverse, _status_filter(entity, query))
            info.context["items"] += len(records)
            shape = getattr(self, f"_shape_{entity}")
            if entity == "orders":  # customers and products of a page in two queries, not one per line
                known = self._prefetch(records)
                nodes = [shape(r, known) for r in records]
            elif entity == "products":  # collections and vendors likewise (a point query each was most of a page)
                known = self._prefetch_products(records)
                nodes = [shape(r, known) for r in records]
            else:
                nodes = [shape(r) for r in records]
            keys = [{"id": int(r["source_id"]), "u": str(r.get("updated_at"))} for r in records]
            if bulk is not None:
                bulk["after"], bulk["more"] = (_cursor(keys[-1]) if keys else None), more
            return _conn(nodes, [_cursor(k) for k in keys], more)
        return resolve

    def _page(self, entity, limit, after, order, updated, within=(), reverse=False, status=None):
        where, params = self.store._where(*updated, None, within)
        where, params = ([where.removeprefix(" WHERE ")] if where else []), list(params)
        if status:
            where.append(status[0])
            params += status[1]
        beyond, direction = ("<", " DESC") if reverse else (">", "")
        if after:
            if order == "updated_at":
                where.append(f"(updated_at {beyond} ? OR (updated_at = ? AND id {beyond} ?))")
                params += [to_utc(after["u"]), to_utc(after["u"]), after["id"]]
            else:
                where.append(f"id {beyond} ?")
                params.append(after["id"])
        sql = (f"SELECT record FROM {entity}" + (" WHERE " + " AND ".join(where) if where else "")
               + (f" ORDER BY updated_at{direction}, id{direction}" if order == "updated_at"
                  else f" ORDER BY id{direction}") + " LIMIT ?")
        with self.store.lock:
            rows = self.store.con.execute(sql, params + [limit + 1]).fetchall()
        records = [self.store._decode(r[0]) for r in rows]
        return records[:limit], len(records) > limit

    def _count_resolver(self, field: str, entity: str):
        def resolve(info, query=None, limit=emulator_schema.COUNT_LIMIT_DEFAULT, **_):
            """Capped at `limit` (default 10000; null: uncapped), AT_LEAST when capped (2025-07 changelog)."""
            self._deny(info, f"{field}Count")
            status = _status_filter(entity, query)
            if status:
                where, params = self.store._where(self._filters(query), self._until(query), None,
                                                  self._ranges(query))
                where = (where + " AND " if where else " WHERE ") + status[0]
                with self.store.lock:
                    n = self.store.con.execute(f"SELECT count(*) FROM {entity}{where}",
                                               list(params) + status[1]).fetchall()[0][0]
            else:
                n = self.store.count(entity, updated_min=self._filters(query), updated_max=self._until(query),
                                     within=self._ranges(query))
            if limit is not None and n > limit:
                return {"count": limit, "precision": "AT_LEAST"}
            return {"count": n, "precision": "EXACT"}
        return resolve

    def _vendors(self, info, first=None, after=None, **_):
        self._deny(info, "productVendors")
        if first is None or first > 1000:
            raise GraphQLError("first must be between 1 and 1000", extensions={"code": "BAD_REQUEST"})
        with self.store.lock:
            rows = self.store.con.execute("SELECT record FROM manufacturers ORDER BY id").fetchall()
        names = sorted({self.store._decode(r[0])["name"] for r in rows})
        start = int(_uncursor(after)["i"]) + 1 if after else 0
        page = names[start:start + first]
        return _conn(page, [_cursor({"i": start + k}) for k in range(len(page))], start + first < len(names))

    def _node(self, info, id):
        m = re.fullmatch(r"gid://shopify/(\w+)/(\d+)", id or "")
        if not m:
            raise GraphQLError(f"Invalid global id '{id}'", extensions={"code": "argumentLiteralsIncompatible"})
        kind, num = m.group(1), int(m.group(2))
        if kind == "BulkOperation":
            views = [self._bulk_view(t) for t in self.bulk_ops]
            return next((v for v in views if v and v["id"] == id), None)
        if kind == "Refund":  # refund ids are the order's id and a digit (kit/emulator_cases.py)
            self._deny(info, "orders")
            order = self.store.get("orders", num // 10)
            refunds = self._shape_orders(order)["refunds"](info) if order else []
            return next((r for r in refunds if r["id"] == id), None)
        entity = GID_TYPE.get(kind)
        if entity is None:
            return None
        self._deny(info, {"categories": "collections"}.get(entity, entity))
        rec = self.store.get(entity, num)
        return getattr(self, f"_shape_{entity}")(rec) if rec else None

    # --- canonical -> Shopify objects
    def _vendor(self, manufacturer_id, written=None, known: dict | None = None):
        if written is not None:  # a product written through productSet keeps its vendor string
            return written
        if not manufacturer_id:
            return ""
        rec = (known.get(("manufacturers", str(manufacturer_id))) if known is not None
               else self.store.get("manufacturers", int(manufacturer_id)))
        return rec["name"] if rec else ""

    def _prefetch_products(self, products: list[dict]) -> dict:
        return self._known({"categories": {c for p in products for c in p.get("category_ids") or []},
                            "manufacturers": {p.get("manufacturer_id") for p in products}})

    def _shape_products(self, p: dict, known: dict | None = None) -> dict:
        pid = int(p["source_id"])
        special = p.get("special_price")
        sale, regular = (special, p["price"]) if special is not None else (p["price"], None)
        weight = p.get("weight")

        def variant(k, sku, stock, options, v=None, meta=None):
            vid = pid * 1000 + k
            if v and "_price" in v:  # written through productSet: as written
                price, compare = v["_price"], v.get("_compare_at")
            elif v and v.get("price") is not None:  # the store's variant at its own price, on the product's sale
                own = Decimal(str(v["price"]))
                on_sale = special is not None and Decimal(str(special)) < own
                price, compare = (special, own) if on_sale else (own, None)
            else:
                price, compare = sale, regular
            return {"id": gid("ProductVariant", vid), "legacyResourceId": str(vid), "title": " / ".join(
                o["value"] for o in options), "sku": sku, "price": money(price), "compareAtPrice": money(compare),
                "inventoryQuantity": stock, "position": k, "selectedOptions": options, **_meta(meta or {}),
                "updatedAt": p.get("updated_at"), "product": lambda info: self._shape_products(p),
                "inventoryItem": {"id": gid("InventoryItem", vid), "sku": sku, "tracked": True, "measurement": {
                    "id": gid("InventoryItemMeasurement", vid),
                    "weight": None if weight is None else {"unit": "KILOGRAMS", "value": float(weight)}}}}

        # Shopify variants have no status (mapping.VARIANT_STATUS_HELD): a variant the shop stopped selling was
        # deleted, so it is not served; the others keep their ids (from their place in the store). A product keeps at
        # least one variant: one whose every variant the shop stopped selling keeps them all and is archived
        # (mapping.VARIANTS_ALL_DISABLED_LIFECYCLE)
        none_sold = not mapping.VARIANT_STATUS_HELD and cases.picks(p) and cases.all_variants_disabled(p)
        canon = [(k, v) for k, v in enumerate(p.get("variants") or [])
                 if mapping.VARIANT_STATUS_HELD or none_sold or not cases.variant_disabled(p, k)]
        held = cases.product_without_variant_status(p, mapping.VARIANTS_ALL_DISABLED_LIFECYCLE) if none_sold else p
        if canon:
            variants = [variant(k + 1, v.get("sku"), v.get("stock"), v.get("options") or [], v,
                                v.get("metafields")) for k, v in canon]
        else:
            variants = [variant(1, p.get("sku"), p.get("stock"),
                                [{"name": "Title", "value": "Default Title"}])]
        media = [{"__typename": "MediaImage", "id": gid("MediaImage", pid * 1000 + k + 1), "alt": im.get("alt"),
                  "mediaContentType": "IMAGE", "image": {"id": gid("ProductImage", pid * 1000 + k + 1),
                                                         "url": im["url"], "altText": im.get("alt")}}
                 for k, im in enumerate(sorted(p.get("images") or [], key=lambda i: i.get("position") or 0))]
        def collections():  # looked up only when a query selects them
            found = (known.get(("categories", str(cid))) if known is not None
                     else self.store.get("categories", int(cid)) for cid in p.get("category_ids") or [])
            return [self._shape_categories(c) for c in found if c]
        return {
            "__typename": "Product", "id": gid("Product", pid), "legacyResourceId": str(pid), "title": p["name"],
            "handle": (p.get("url_key") or "").rsplit("/", 1)[-1], "descriptionHtml": p.get("description_html") or "",
            "vendor": lambda info: self._vendor(p.get("manufacturer_id"), p.get("vendor"), known), "productType": "",
            "tags": [], **_meta(p.get("metafields") or {}),
            "status": product_status(held), "isGiftCard": is_gift_card(p),
            "totalInventory": sum(v["inventoryQuantity"] or 0 for v in variants),
            "hasOnlyDefaultVariant": not canon, "createdAt": p.get("created_at"), "updatedAt": p.get("updated_at"),
            "variants": _nested(variants, "ProductVariant"), "media": _nested(media, "MediaImage"),
            "collections": _nested(collections, "Collection"),
        }

    def _shape_categories(self, c: dict) -> dict:
        cid = int(c["source_id"])
        return {"__typename": "Collection", "id": gid("Collection", cid), "legacyResourceId": str(cid),
                "title": c["name"], "handle": (c.get("url_key") or "").rsplit("/", 1)[-1],
                "descriptionHtml": c.get("description_html") or "", "updatedAt": c.get("updated_at"),
                **_meta(c.get("metafields") or {})}

    @staticmethod
    def _address(a: dict | None, id_: int) -> dict | None:
        if not a:
            return None
        code = a.get("country") or None
        return {"id": gid("MailingAddress", id_), "firstName": a.get("first_name"), "lastName": a.get("last_name"),
                "name": " ".join(x for x in (a.get("first_name"), a.get("last_name")) if x),
                "company": a.get("company"), "address1": a.get("street"), "address2": None, "city": a.get("city"),
                "zip": a.get("postcode"), "province": a.get("region"), "provinceCode": None,
                "country": COUNTRY_NAMES.get(code, code) if code else a.get("country"),
                "countryCodeV2": code, "phone": a.get("phone")}

    def _shape_customers(self, c: dict) -> dict:
        cid = int(c["source_id"])
        addresses = [self._address(a, cid * 100 + k + 1) for k, a in enumerate(c.get("addresses") or [])]
        default = next((addresses[k] for k, a in enumerate(c.get("addresses") or [])
                        if a.get("is_default_billing") or a.get("is_default_shipping")), None)
        meta = _meta(c.get("metafields") or {})
        return {
            "__typename": "Customer", "id": gid("Customer", cid), "legacyResourceId": str(cid), "email": c.get("email"),
            "firstName": c.get("first_name"), "lastName": c.get("last_name"),
            "displayName": " ".join(x for x in (c.get("first_name"), c.get("last_name")) if x) or c.get("email"),
            "phone": c.get("phone"),
            "emailMarketingConsent": {"marketingState": "SUBSCRIBED" if c.get("newsletter") else "NOT_SUBSCRIBED",
                                      "consentUpdatedAt": c.get("updated_at")},
            "addresses": lambda info, first=None: addresses[:first] if first else addresses,
            "defaultAddress": default, "createdAt": c.get("created_at"), "updatedAt": c.get("updated_at"), **meta,
        }

    def _prefetch(self, orders: list[dict]) -> dict:
        return self._known({"customers": {o.get("customer_id") for o in orders},
                            "products": {i.get("product_id") for o in orders for i in o.get("items") or []}})

    def _known(self, ids: dict[str, set]) -> dict:
        """{(entity, source_id): record} of the ids a page names, in one store query per entity (not one per line)."""
        known = {}
        for entity, wanted in ids.items():
            wanted = [int(x) for x in wanted if x and str(x).isdigit()]
            for rec in self.store.page(entity, 0, len(wanted) or 1, ids=wanted):
                known[(entity, str(rec["source_id"]))] = rec
        return known

    def _shape_orders(self, o: dict, known: dict | None = None) -> dict:
        oid = int(o["source_id"])
        if known is None:
            known = self._prefetch([o])
        cur = o.get("currency")

        def bag(value):
            if value is None:
                return None
            m = {"amount": money(value), "currencyCode": cur}
            return {"shopMoney": m, "presentmentMoney": m}

        def line(k, it):
            pid = it.get("product_id")
            product = None if cases.product_gone(o, k) else known.get(("products", str(pid)))
            return {"__typename": "LineItem", "id": gid("LineItem", oid * 100 + k + 1), "name": it.get("name") or "",
                    "_source_id": str(it.get("source_id")), "_tax": it.get("tax"),
                    "title": it.get("name") or "", "sku": it.get("sku"), "quantity": it.get("qty"),
                    "product": lambda info: self._shape_products(product) if product else None, "variant": None,
                    "originalUnitPriceSet": bag(it.get("price")), "customAttributes": it.get("attributes") or [],
                    "taxLines": lambda info, first=None: [] if it.get("tax") is None else [
                        {"title": "MVA", "rate": None, "ratePercentage": None, "priceSet": bag(it.get("tax"))}]}

        lines = [line(k, it) for k, it in enumerate(o.get("items") or [])]
        financial, fulfillment, cancelled = ORDER_STATUS.get(o.get("status"), ("PENDING", "UNFULFILLED", False))
        refunds = cases.refunds(o)  # the store's cases, or those refundCreate wrote (a written order has no cases)
        transactions = order_transactions(o)
        refunded = sum((Decimal(str(r["amount"])) for r in refunds), Decimal(0))
        if refunded and financial != "REFUNDED":
            financial = "PARTIALLY_REFUNDED"
        if "financial" in o:  # written through orderCreate: the statuses as given
            financial, fulfillment, cancelled = o["financial"], o["fulfillment"], False
        cid = o.get("customer_id")
        customer = known.get(("customers", str(cid)))
        discount = Decimal(str(o.get("discount") or 0))
        subtotal = o.get("subtotal")
        return {
            "__typename": "Order", "id": gid("Order", oid), "legacyResourceId": str(oid),
            "name": o.get("name") or f"#{o.get('number') or oid}", "email": o.get("email"),
            "tags": o.get("tags") or [], **_meta(o.get("metafields") or {}),
            "customer": lambda info: self._shape_customers(customer) if customer else None,
            "displayFinancialStatus": financial, "displayFulfillmentStatus": fulfillment,
            "cancelledAt": o.get("updated_at") if cancelled else None, "closed": fulfillment == "FULFILLED",
            "currencyCode": cur,
            "subtotalPriceSet": bag(None if subtotal is None else Decimal(str(subtotal)) - discount),
            "totalShippingPriceSet": bag(o.get("shipping") or 0), "totalTaxSet": bag(o.get("tax")),
            "totalDiscountsSet": bag(discount), "totalPriceSet": bag(o.get("grand_total")),
            "totalRefundedSet": bag(refunded),
            "currentTotalPriceSet": bag(None if o.get("grand_total") is None
                                        else Decimal(str(o["grand_total"])) - refunded),
            "refunds": lambda info, first=None: [self._refund(r, lines, bag) for r in refunds][:first],
            "transactions": lambda info, first=None, **_: [
                self._transaction(oid, k, t, transactions, bag) for k, t in enumerate(transactions)][:first],
            "billingAddress": self._address(o.get("billing_address"), oid * 100 + 91),
            "shippingAddress": self._address(o.get("shipping_address"), oid * 100 + 92),
            "createdAt": o.get("created_at"), "processedAt": o.get("created_at"), "updatedAt": o.get("updated_at"),
            "lineItems": _nested(lines, "LineItem"),
        }

    @staticmethod
    def _transaction(oid: int, k: int, t: dict, transactions: list[dict], bag) -> dict:
        """One of order_transactions(o) as Shopify's OrderTransaction (ids from the order's id and its place)."""
        parent = t.get("parent")
        return {"__typename": "OrderTransaction", "id": gid("OrderTransaction", oid * 100 + k + 1),
                "kind": t["kind"], "status": t["status"], "gateway": t.get("gateway"),
                "amountSet": bag(t["amount"]), "processedAt": t.get("processed_at"),
                "parentTransaction": None if parent is None else
                ShopifyEmulator._transaction(oid, parent, transactions[parent], transactions, bag)}

    @staticmethod
    def _refund(r: dict, lines: list[dict], bag) -> dict:
        """A canonical refund as Shopify's Refund: its lines point at the order's line items by id."""
        rid = int(r["source_id"])

        def refund_line(k, rl):
            item = next((ln for ln in lines if ln["_source_id"] == str(rl.get("item_id"))), None)
            qty = int(rl.get("qty") or 0)
            # subtotal before tax (the canonical line amount), the tax of the units refunded apart
            tax = Decimal(0)
            if item is not None and item.get("_tax") is not None and item.get("quantity"):
                tax = (Decimal(str(item["_tax"])) * qty / int(item["quantity"])).quantize(Decimal("0.01"))
            return {"__typename": "RefundLineItem", "id": gid("RefundLineItem", rid * 100 + k + 1), "lineItem": item,
                    "quantity": qty, "restocked": False, "restockType": "NO_RESTOCK",
                    "priceSet": bag(Decimal(str(rl["amount"])) / qty if qty else rl["amount"]),
                    "subtotalSet": bag(rl["amount"]), "totalTaxSet": bag(tax)}

        return {"__typename": "Refund", "id": gid("Refund", rid), "legacyResourceId": str(rid),
                "note": r.get("reason"), "createdAt": r.get("created_at"), "updatedAt": r.get("created_at"),
                # 2026-01+: when the refund was processed (refundCreate's processedAt, else when it was created)
                "processedAt": r.get("processed_at") or r.get("created_at"),
                "totalRefundedSet": bag(r["amount"]),
                "refundLineItems": _nested([refund_line(k, rl) for k, rl in enumerate(r.get("lines") or [])],
                                           "RefundLineItem")}

    # --- bulk operations
    def _bulk_view(self, type: str = "QUERY") -> dict | None:
        op = self.bulk_ops.get(type)
        if op is None:
            return None
        with self.lock:
            if op["status"] == "RUNNING" and op["done"].is_set() and time.monotonic() >= op["ready_at"]:
                op["status"] = op["final"]
        view = {k: v for k, v in op.items() if k not in {"done", "ready_at", "final", "file"}}
        if view["status"] != "COMPLETED":
            view.update(url=None, fileSize=None, completedAt=None)
        for key in ("objectCount", "rootObjectCount", "fileSize"):  # UnsignedInt64: a string, as Shopify's
            if view[key] is not None:
                view[key] = str(view[key])
        return view

    def _bulk_run(self, info, query: str):
        current = self._bulk_view("QUERY")
        if current and current["status"] in {"CREATED", "RUNNING"}:
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "code": "OPERATION_IN_PROGRESS",
                    "message": f"A bulk query operation for this app and shop is already in progress: "
                               f"{current['id']}."}]}
        try:
            document = parse(query)
        except GraphQLError as exc:
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "code": "INVALID",
                                                           "message": f"Invalid bulk query: {exc.message}"}]}
        problems = validate(schema(), document) or [
            GraphQLError(e["message"]) for e in emulator_schema.too_new(schema(), document,
                                                                        (info.context or {}).get("version"))]
        roots = [s for s in document.definitions[0].selection_set.selections] if not problems else []
        if not problems and len(roots) == 1 and _connection_in_list(document):
            problems = [GraphQLError("Queries that contain a connection field within a list field are not "
                                     "currently supported.")]
        if problems or len(roots) != 1 or roots[0].name.value not in ROOT_ENTITY:
            message = problems[0].message if problems else "Bulk queries must contain one top-level connection."
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "code": "INVALID",
                                                           "message": f"Invalid bulk query: {message}"}]}
        self._deny(info, roots[0].name.value)  # a missing scope fails the mutation, as Shopify does
        op = self._bulk_start("QUERY", query)
        threading.Thread(target=self._bulk_work, args=(op, document), daemon=True).start()
        return {"bulkOperation": {**self._bulk_view("QUERY"), "status": "CREATED"}, "userErrors": []}

    def _bulk_start(self, type: str, text: str) -> dict:
        """A new RUNNING operation in the slot of its type; its JSONL result goes to bulk_dir/op['file']."""
        with self.lock:
            self.bulk_seq += 1
            name = f"bulk-{7000 + self.bulk_seq}.jsonl"
            self.bulk_ops[type] = {
                "__typename": "BulkOperation", "id": gid("BulkOperation", 7000 + self.bulk_seq), "status": "RUNNING",
                "errorCode": None, "createdAt": _now(), "completedAt": None, "objectCount": 0, "rootObjectCount": 0,
                "fileSize": None, "url": f"{self.base_url}/bulk/{name}", "partialDataUrl": None, "query": text,
                "type": type, "done": threading.Event(), "final": "COMPLETED",
                "ready_at": time.monotonic() + self.bulk_delay, "file": name}
            return self.bulk_ops[type]

    def _bulk_work(self, op: dict, document) -> None:
        path = Path(self.bulk_dir.name) / op["file"]
        roots = objects = 0
        try:
            with open(path, "w", encoding="utf-8") as fh:
                context = {"items": 0, "bulk": {"after": None, "more": True}}
                while context["bulk"]["more"]:
                    result = execute(schema(), document, root_value=self._root(), context_value=context,
                                     field_resolver=field_resolver)
                    if result.errors:
                        raise RuntimeError(result.errors[0].message)
                    conn = next(iter(result.data.values()))
                    for node in _conn_nodes(conn):
                        roots += 1
                        for line in _flatten(node, None):
                            objects += 1
                            fh.write(json.dumps(line, ensure_ascii=False, default=_json_default) + "\n")
            op.update(objectCount=objects, rootObjectCount=roots, fileSize=path.stat().st_size,
                      completedAt=_now())
        except Exception:  # an emulator bug: the operation fails, as a real one can
            op.update(final="FAILED", errorCode="INTERNAL_SERVER_ERROR", url=None)
        op["done"].set()


def _connection_in_list(document) -> bool:
    """Whether a query selects a connection below a list field (Order.refunds { refundLineItems }): bulk queries
    refuse that ("Queries that contain a connection field within a list field are not currently supported")."""
    info, lists, found = TypeInfo(schema()), [], []

    class Lists(Visitor):
        def enter_field(self, node, *_):
            t = info.get_type()
            if t is None:
                lists.append(False)
                return
            if any(lists) and _connection_type(t):
                found.append(node.name.value)
            parent = info.get_parent_type()  # a connection's own edges and nodes are lists, and allowed
            lists.append(isinstance(get_nullable_type(t), GraphQLList)
                         and not (parent is not None and parent.name.endswith("Connection")))

        def leave_field(self, node, *_):
            lists.pop()

    visit(document, TypeInfoVisitor(info, Lists()))
    return bool(found)


def _result_cost(value) -> int:
    """Actual cost: the objects really returned (a short last page costs less than requested)."""
    if isinstance(value, list):
        return sum(_result_cost(v) for v in value)
    if isinstance(value, dict):
        if "nodes" in value or "edges" in value or "pageInfo" in value:
            nodes = value["nodes"] if "nodes" in value else [e.get("node") for e in value.get("edges") or []]
            return 2 + sum(1 + _result_cost(n) - 1 if isinstance(n, dict) else 1 for n in nodes or [])
        return 1 + sum(_result_cost(v) for v in value.values())
    return 0


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _conn(nodes: list, cursors: list, more: bool) -> dict:
    return {"nodes": nodes, "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes)],
            "pageInfo": {"hasNextPage": more, "hasPreviousPage": False,
                         "startCursor": cursors[0] if cursors else None,
                         "endCursor": cursors[-1] if cursors else None}}


PAID_STATUSES = ("processing", "complete", "refunded", "on_hold")


def order_transactions(o: dict) -> list[dict]:
    """An order's transactions (kind, status, gateway, amount, processed_at, parent: index of the parent): those
    orderCreate and refundCreate wrote; for a store's own order, a paid one's SALE of its total and a REFUND of
    each of its refunds against it."""
    if "financial" in o:
        return list(o.get("transactions") or [])
    if o.get("status") not in PAID_STATUSES or o.get("grand_total") is None:
        return []
    when = o.get("created_at")
    return [{"kind": "SALE", "status": "SUCCESS", "gateway": "manual", "amount": str(o["grand_total"]),
             "processed_at": when, "parent": None}] + [
        {"kind": "REFUND", "status": "SUCCESS", "gateway": "manual", "amount": str(r["amount"]),
         "processed_at": r.get("created_at") or when, "parent": 0} for r in cases.refunds(o)]


def _nested(items, kind: str):
    """A nested connection over a list (or a function making it); bulk queries omit `first` and get every item."""
    def resolve(info, first=None, after=None, last=None, before=None, reverse=False, **_):
        nonlocal items
        if callable(items):
            items = items()
        if info.context.get("bulk") is None:
            if first is None and last is None:
                raise GraphQLError("you must provide one of first or last")
            if (first or last) > MAX_PAGE:
                raise GraphQLError(f"first cannot exceed {MAX_PAGE}", extensions={"code": "BAD_REQUEST"})
        start = int(_uncursor(after)["i"]) + 1 if after else 0
        n = first or last or len(items)
        page = items[start:start + n]
        return _conn(page, [_cursor({"i": start + k}) for k in range(len(page))], start + n < len(items))
    return resolve


def _conn_nodes(conn: dict) -> list:
    if "nodes" in conn:
        return conn["nodes"]
    return [e["node"] for e in conn.get("edges", [])]


def _flatten(node: dict, parent: str | None):
    """One JSONL object per node; nested connections become lines of their own with __parentId."""
    own, children = {}, []
    for key, value in node.items():
        if isinstance(value, dict) and ("edges" in value or "nodes" in value):
            children.extend(_conn_nodes(value))
        else:
            own[key] = value
    if parent is not None:
        own["__parentId"] = parent
    yield own
    for child in children:
        yield from _flatten(child, node.get("id"))
