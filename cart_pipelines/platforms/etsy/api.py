"""Etsy Open API v3 (`https://openapi.etsy.com/v3/application/`) described as data for the kit.

Lists answer `{"count": n, "results": [...]}` and page with `limit` (at most 100, default 25) + `offset` (from 0).
Shop sections are one unpaged list. Listings are read per `state` (the list answers one state at a time, `active`
when none is given), with `includes=Images,Inventory` so each page carries its images and inventory (products and
offerings): no request per listing. Receipts carry their transactions.

Delta: receipts filter with `min_last_modified` (a unix time, inclusive); listings have no modified filter (their
`sort_on=updated` works only with search options, the spec says), reviews only created bounds: both are read whole
and compared with their `updated_timestamp` here; sections carry no time and are few: read whole.
"""

from __future__ import annotations

from cart_pipelines.platforms.kit.rest import Api, Endpoint, Offset, Single, from_body

PAGE_SIZE = 100
REQUESTS_PER_SECOND = 8.0  # the default app allowance is 10 QPS (x-limit-per-second); kept under it
STATES = ("active", "inactive", "sold_out", "draft", "expired")  # getListingsByShop's `state` values

API = Api(
    platform="Etsy",
    base_path="v3/application",
    defaults=Endpoint(paginator=Offset(total=from_body("count")), page_size=PAGE_SIZE, records="results"),
    concurrency=4,  # pages in flight; the pacing keeps them under 10 a second
    hint="is the API URL https://openapi.etsy.com?",
    endpoints={
        "me": Endpoint("users/me", paginator=Single(), records=lambda body: [body] if isinstance(body, dict) else None,
                       what="the connection test (users/me)"),
        "sections": Endpoint("shops/{shop_id}/sections", paginator=Single(), id_field="shop_section_id",
                             what="shop sections"),
        "listings": Endpoint("shops/{shop_id}/listings", params={"includes": "Images,Inventory"},
                             id_field="listing_id", what="listings"),
        "receipts": Endpoint("shops/{shop_id}/receipts", params={"sort_on": "created", "sort_order": "asc"},
                             id_field="receipt_id", what="receipts"),
        "reviews": Endpoint("shops/{shop_id}/reviews", id_field="transaction_id", what="reviews"),
    },
)
