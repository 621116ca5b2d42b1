"""Square API v2 (`https://connect.squareup.com/v2/`, sandbox `connect.squareupsandbox.com`) described as data for
the kit's REST engine. Square's OpenAPI 3 spec: github.com/square/connect-api-specification `api.json`.

Every list pages with an opaque `cursor` from the response, sent back as the `cursor` query param (GET lists)
or body field (POST searches); no cursor in a response: the last page. Page sizes: catalog/list is fixed at 100,
catalog/search `limit` up to 1,000, customers `limit` 1-100, orders/search `limit` up to 1,000 (default 500).

Delta: catalog/search `begin_time` (objects changed after it); customers/search `query.filter.updated_at`;
orders/search `query.filter.date_time_filter.updated_at`, which Square accepts only with the sort on UPDATED_AT.
Categories and taxes come from catalog/list (no time filter there), so their `updated_at` is compared here.
"""

from __future__ import annotations

from datetime import datetime, timezone

from cart_pipelines.platforms.kit.rest import Api, Cursor, Endpoint, Since, Single, from_body
from cart_pipelines.platforms.square import mapping

BASE_PATH = "v2"
VERSION = "2025-08-20"  # the Square-Version the spec describes (api.json's default)
PAGE_SIZE = 100  # catalog/list's fixed page; asked of catalog/search and customers too (customers' maximum)
ORDER_PAGE = 500  # orders/search's default (maximum 1,000)
LOCATIONS_PER_SEARCH = 10  # orders/search takes at most 10 location_ids


def rfc3339(dt: datetime) -> str:
    """Square's timestamps: RFC 3339 with fractional seconds (some Square filters reject times without them)."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def order_query(sort_field: str = "CREATED_AT", window: dict | None = None) -> dict:
    """An orders/search query over every state (DRAFT included), sorted ascending; `window` a date_time_filter."""
    query = {"filter": {"state_filter": {"states": mapping.ALL_STATES}},
             "sort": {"sort_field": sort_field, "sort_order": "ASC"}}
    if window:
        query["filter"]["date_time_filter"] = window
    return {"query": query}


def customer_query(filter_: dict | None = None) -> dict:
    return {"query": {**({"filter": filter_} if filter_ else {}), "sort": {"field": "CREATED_AT", "order": "ASC"}}}


CURSOR = Cursor(token=from_body("cursor"), param="cursor", size_param="limit")

API = Api(
    platform="Square",
    base_path=BASE_PATH,
    concurrency=1,  # cursor pages follow one another
    defaults=Endpoint(paginator=CURSOR, page_size=PAGE_SIZE, records="objects", missing="error"),
    hint="is the base URL https://connect.squareup.com (or the sandbox's)?",
    endpoints={
        "locations": Endpoint("locations", paginator=Single(), records="locations", what="locations"),
        # catalog/list's page is fixed at 100: no limit param.
        "categories": Endpoint("catalog/list", params={"types": "CATEGORY"}, what="categories",
                               paginator=Cursor(token=from_body("cursor"), size_param=None),
                               since=Since(field="updated_at")),
        "tax_classes": Endpoint("catalog/list", params={"types": "TAX"}, what="taxes", map=mapping.tax_class,
                                paginator=Cursor(token=from_body("cursor"), size_param=None),
                                since=Since(field="updated_at")),
        # Items with their variations nested; images and item options as the page's related objects.
        "products": Endpoint("catalog/search", method="POST", what="items", map=mapping.product,
                             params={"object_types": ["ITEM"], "include_related_objects": True},
                             records=mapping.with_related,
                             since=Since(build=lambda dt: {"begin_time": rfc3339(dt)})),
        # Variations for order lines, the deleted ones too: Square soft-deletes catalog objects, and an old order's
        # line item still names the variation of an item deleted since (SearchCatalogObjects
        # `include_deleted_objects`; ListCatalog leaves them out). Its SKU and item id stay history on the line.
        "variations": Endpoint("catalog/search", method="POST", what="item variations (deleted ones too)",
                               params={"object_types": ["ITEM_VARIATION"], "include_deleted_objects": True}),
        "customers": Endpoint("customers", params={"sort_field": "CREATED_AT", "sort_order": "ASC"},
                              records="customers", what="customers", map=mapping.customer),
        "customers_search": Endpoint("customers/search", method="POST", records="customers", what="customers",
                                     map=mapping.customer, params=customer_query(),
                                     since=Since(build=lambda dt: customer_query(
                                         {"updated_at": {"start_at": rfc3339(dt)}}))),
        "orders": Endpoint("orders/search", method="POST", records="orders", page_size=ORDER_PAGE, what="orders",
                           map=mapping.order, params=order_query(),
                           since=Since(build=lambda dt: order_query("UPDATED_AT", {
                               "updated_at": {"start_at": rfc3339(dt)}}))),
    },
)
