"""Squarespace Commerce APIs (`https://api.squarespace.com/{version}/...`) described as data for the kit's REST engine.

Each API has its own version (developers.squarespace.com/commerce-apis, the overview page of each): Products v2
(Beta; v1.1 and v1.0 are legacy), Store Pages 1.0 only, Orders 1.0, Profiles 1.0. (Inventory 1.0 and Transactions
1.0 are not read: variants carry their stock, and the canonical model has no payment ledger.)

Every list answers at most 50 records with `pagination.{hasNextPage, nextPageCursor, nextPageUrl}`; there is no
page-size parameter. The cursor is sent ALONE: it carries the first request's filters, and a request with a cursor
and any other parameter is refused (400). Cursors are dynamic (not a snapshot): records added meanwhile may or may
not show, none repeats.

Delta: products and orders filter with `modifiedAfter` + `modifiedBefore` (both or neither; ISO 8601 UTC); profiles
and store pages have no modification time, so they are read whole.
"""

from __future__ import annotations

from datetime import datetime, timezone

from cart_pipelines.platforms.kit.rest import Api, Cursor, Endpoint, Since, dig
from cart_pipelines.platforms.squarespace import mapping

PAGE_SIZE = 50  # every Squarespace list; not settable
PRODUCT_TYPES = "PHYSICAL,DIGITAL,SERVICE,GIFT_CARD"  # everything v2 lists (v1.1: PHYSICAL and DIGITAL only)


def _next(page) -> str | None:
    return dig(page.body, "pagination.nextPageCursor") if dig(page.body, "pagination.hasNextPage") else None


def _window(since: datetime) -> dict:
    """modifiedAfter needs modifiedBefore beside it: the window ends now."""
    return {"modifiedAfter": mapping.stamp(since), "modifiedBefore": mapping.stamp(datetime.now(timezone.utc))}


MODIFIED = Since(build=_window)

API = Api(
    platform="Squarespace",
    base_path="",  # each endpoint names its API's version
    concurrency=1,  # cursors are sequential; the limit is 300 requests a minute anyway
    defaults=Endpoint(paginator=Cursor(_next, size_param=None, alone=True), page_size=PAGE_SIZE, id_field="id",
                      missing="error"),
    hint="is the API URL https://api.squarespace.com?",
    endpoints={
        "categories": Endpoint("1.0/commerce/store_pages", records="storePages", what="store pages"),
        "products": Endpoint("v2/commerce/products", params={"type": PRODUCT_TYPES}, records="products",
                             since=MODIFIED, what="products", map=mapping.product),
        "customers": Endpoint("1.0/profiles", params={"sortField": "id", "sortDirection": "asc"}, records="profiles",
                              what="profiles", map=mapping.profile),
        "orders": Endpoint("1.0/commerce/orders", records="result", since=MODIFIED, what="orders", map=mapping.order),
    },
)
