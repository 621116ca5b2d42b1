"""Wix REST APIs (`https://www.wixapis.com/...`) described as data for the kit's REST engine.

Every list is a POST query whose body nests filter, sort and paging (`{"query": {"filter", "sort", "paging" |
"cursorPaging"}}`, or `{"search": ...}` for search endpoints); dotted params are paths into that body.

- Stores Catalog V1 (`stores/v1/...`): filter and sort are JSON written into strings; `paging.limit` ≤ 100 with
  `offset`, `totalResults` beside the list. Stores queries are built for at most 10,000 items, past which offsets may
  fail, so products are crawled as Wix's pagination article advises: sorted by `numericId` ascending, each page
  asking for `numericId > last` (a keyset). Hidden products only come with `includeHiddenProducts`.
- Stores Catalog V3 (`stores/v3/...`), categories, brands, tax groups, orders and reviews: cursor paging; a request
  with a cursor carries no filter or sort (the cursor holds them), so `WixCursor` sends the cursor and the limit
  alone. V3 product queries return no variants: they come from the Read-Only Variants API, one query per page of
  products.
- Contacts v4: offset paging (limit ≤ 1,000) with `pagingMetadata.total`.

Delta: V1 products filter `lastUpdated`, V3 products, orders, contacts and reviews `updatedDate` (`$gt`); categories,
collections, brands and tax groups are read whole (small lists).
"""

from __future__ import annotations

import json
from datetime import datetime

from cart_pipelines.platforms.kit.rest import Api, Endpoint, IdRanges, Offset, Paginator, Since, dig, from_body
from cart_pipelines.platforms.wix import mapping

PAGE_SIZE = 100  # Stores queries, orders, categories, brands, tax groups, reviews: 100 at most
CONTACTS_PAGE = 1000  # contacts: up to 1,000 a request
VARIANTS_PAGE = 1000  # read-only variants: up to 1,000 a request
ORDER_STATUSES = ["APPROVED", "CANCELED", "PENDING", "REJECTED"]  # Search Orders leaves PENDING/REJECTED out unasked
V3_FIELDS = ["PLAIN_DESCRIPTION", "CURRENCY", "MEDIA_ITEMS_INFO", "DIRECT_CATEGORIES_INFO"]


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


class WixCursor(Paginator):
    """Wix cursor paging: `<root>.cursorPaging.limit` first; then the cursor from `token` with the limit and the
    body's other top-level fields (fields, treeReference, ...), but without `<root>`'s filter and sort."""

    def __init__(self, root: str = "query", token: str = "pagingMetadata.cursors.next"):
        self.root, self.token = root, token

    def first(self, listing) -> dict:
        return {**listing.params, f"{self.root}.cursorPaging.limit": listing.page_size}

    def next(self, listing, page) -> dict | None:
        token = dig(page.body, self.token)
        if not token or dig(page.body, self.token.split(".")[0] + ".hasNext") is False:
            return None
        kept = {k: v for k, v in page.params.items() if not k.startswith(self.root + ".")}
        return {**kept, f"{self.root}.cursorPaging.limit": listing.page_size,
                f"{self.root}.cursorPaging.cursor": token}


def numeric_bounds(after, below, params: dict) -> dict:
    """V1 keyset: `numericId` bounds merged into the JSON-string filter, sorted by numericId ascending."""
    conditions = json.loads(params.get("query.filter") or "{}")
    bound = {**({"$gt": str(after)} if after is not None else {}), **({"$lt": str(below)} if below is not None else {})}
    if bound:
        conditions = {"$and": [conditions, {"numericId": bound}]} if conditions else {"numericId": bound}
    return {**params, "query.filter": mapping.filter_text(conditions) if conditions else None,
            "query.sort": mapping.filter_text([{"numericId": "asc"}])}


def _updated(field: str, root: str, **fixed):
    return Since(build=lambda dt: {f"{root}.filter": {**fixed, field: {"$gt": iso(dt)}}})


V1_UPDATED = Since(build=lambda dt: {"query.filter": mapping.filter_text({"lastUpdated": {"$gt": iso(dt)}})})

API = Api(
    platform="Wix",
    base_path="",
    concurrency=1,  # 200 requests a minute per site: one at a time is already near the limit
    defaults=Endpoint(method="POST", paginator=WixCursor(), page_size=PAGE_SIZE, id_field="id", missing="error"),
    hint="is the Connection URL https://www.wixapis.com?",
    endpoints={
        "version": Endpoint("stores/v3/provision/version", method="GET", what="the catalog version"),
        # --- Catalog V1
        "collections_v1": Endpoint("stores/v1/collections/query", records="collections", what="collections",
                                   paginator=Offset("query.paging.offset", "query.paging.limit",
                                                    total=from_body("totalResults"))),
        "products_v1": Endpoint("stores/v1/products/query", records="products", id_field="numericId",
                                params={"includeVariants": True, "includeHiddenProducts": True},
                                paginator=IdRanges(numeric_bounds, size_param="query.paging.limit"),
                                since=V1_UPDATED, what="products"),
        # --- Catalog V3
        "categories_v3": Endpoint("categories/v1/categories/query", records="categories", what="categories",
                                  params={"treeReference": {"appNamespace": "@wix/stores"},
                                          "returnNonVisibleCategories": True}),
        "brands_v3": Endpoint("stores/v3/brands/query", records="brands", what="brands", map=mapping.brand),
        "products_v3": Endpoint("stores/v3/products/search", records="products", params={"fields": V3_FIELDS},
                                paginator=WixCursor("search"), since=_updated("updatedDate", "search"),
                                what="products"),
        "variants_v3": Endpoint("stores/v3/products/query-variants", records="variants", page_size=VARIANTS_PAGE,
                                params={"fields": ["VARIANT_OPTION_CHOICE_NAMES"]}, what="variants"),
        # --- both
        "tax_classes": Endpoint("billing/v1/tax-groups/query", records="taxGroups", what="tax groups",
                                map=mapping.tax_group),
        "customers": Endpoint("contacts/v4/contacts/query", records="contacts", page_size=CONTACTS_PAGE,
                              params={"query.fieldsets": ["FULL"],
                                      "query.sort": [{"fieldName": "createdDate", "order": "ASC"}]},
                              paginator=Offset("query.paging.offset", "query.paging.limit",
                                               total=from_body("pagingMetadata.total")),
                              since=_updated("updatedDate", "query"), what="contacts", map=mapping.contact),
        "orders": Endpoint("ecom/v1/orders/search", records="orders",
                           params={"search.filter": {"status": {"$in": ORDER_STATUSES}},
                                   "search.sort": [{"fieldName": "createdDate", "order": "ASC"}]},
                           paginator=WixCursor("search", "metadata.cursors.next"),
                           since=_updated("updatedDate", "search", status={"$in": ORDER_STATUSES}),
                           what="orders", map=mapping.order),
        "reviews": Endpoint("reviews/v1/reviews/query", records="reviews",
                            params={"query.filter": {"namespace": mapping.REVIEWS_NAMESPACE},
                                    "returnPrivateReviews": True},
                            paginator=WixCursor("query", "metadata.cursors.next"),
                            since=_updated("updatedDate", "query", namespace=mapping.REVIEWS_NAMESPACE),
                            what="reviews", map=mapping.review),
    },
)
