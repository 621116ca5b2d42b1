"""Ecwid REST API v3 (`https://app.ecwid.com/api/v3/{storeId}/`) described as data for the kit's REST engine.

Every list pages with `offset`/`limit` (at most 100) and answers `{total, count, offset, limit, items}`: the
`total` of the first page lets the rest run in parallel (4 in flight; Ecwid allows 600 requests a minute per
token). Lists are sorted oldest first where Ecwid can sort (products ADDED_TIME_ASC, customers
REGISTERED_DATE_ASC, reviews DATE_CREATED_ASC), so records added while reading land on later pages; orders have no
sort parameter. Ecwid has only offset paging: a record deleted while a list is read shifts the rest by one.

Delta: products, customers, orders and reviews filter with `updatedFrom` (a UNIX timestamp, lower bound
inclusive); categories, brands and the store's taxes carry no modification date and are read whole.
"""

from __future__ import annotations

from cart_pipelines.platforms.ecwid import mapping
from cart_pipelines.platforms.kit.rest import Api, Endpoint, Offset, Since, from_body

PAGE_SIZE = 100  # Ecwid's maximum `limit`
CONCURRENCY = 4
REQUESTS_PER_SECOND = 9.0  # under Ecwid's 600 requests per minute per token, with room for the connection test

UPDATED = Since(build=lambda dt: {"updatedFrom": int(dt.timestamp())})

API = Api(
    platform="Ecwid",
    base_path="",
    concurrency=CONCURRENCY,
    defaults=Endpoint(paginator=Offset(total=from_body("total")), page_size=PAGE_SIZE, records="items",
                      id_field="id", missing="error"),
    hint="is the API address https://app.ecwid.com and the Store ID the number in the Ecwid admin?",
    endpoints={
        # The whole tree is read before mapping (paths need every ancestor); hidden ones too.
        "categories": Endpoint("categories", params={"hidden_categories": "true"}, what="categories"),
        # Brands are product attribute values: no id, the name identifies them; brands of disabled products too.
        "manufacturers": Endpoint("brands", params={"hidden_brands": "true", "sortBy": "NAME_ASC"}, id_field="name",
                                  what="brands", map=mapping.brand),
        "products": Endpoint("products", params={"sortBy": "ADDED_TIME_ASC"}, since=UPDATED, what="products"),
        "customers": Endpoint("customers", params={"sortBy": "REGISTERED_DATE_ASC"}, since=UPDATED,
                              what="customers", map=mapping.customer),
        "orders": Endpoint("orders", since=UPDATED, id_field="internalId", what="orders"),
        "reviews": Endpoint("reviews", params={"sortBy": "DATE_CREATED_ASC"}, since=UPDATED, what="reviews",
                            map=mapping.review),
    },
)
