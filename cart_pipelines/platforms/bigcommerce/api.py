"""BigCommerce REST v3 (catalog, customers) and v2 (orders, tax classes, store) described as data for the kit.

The API lives under `https://api.bigcommerce.com/stores/{store_hash}/`; every request carries the account's
token in `X-Auth-Token` (and its client id in `X-Auth-Client`, which BigCommerce does not check).

- v3 lists take `limit` (at most 250) and `page` and answer `{data, meta.pagination}`. Products, categories and
  brands filter ids (`id:greater`/`id:less`, strict), so they are read by keyset (`kit/keyset.py`): products in
  id ranges in parallel (the total, and the highest id from one request sorted descending); categories and
  brands document no `sort`/`direction`, so they come in their default order, ascending id (checked on every
  page), one range at a time. Customers have no id range: keyset on their creation second (`TimeKeyset`), in spans of
  time read in parallel (the total, and the newest from one request sorted `date_created:desc`).
- v2 lists are plain JSON arrays and answer 204 No Content past the last page; orders page by `min_id` (keyset,
  always page 1, one request at a time as v2 gives no total); an order's products and shipping addresses are
  sub-resources, and a 404 on them means the order was deleted after its page was listed. An order with a
  `refunded_amount` has its refunds read from v3 (`/v3/orders/{id}/payment_actions/refunds`, one answer).
- at most 3 requests are in flight (BigCommerce's documented concurrent-request limit per store), pages and
  sub-resources together; pacing follows the X-Rate-Limit-* headers every response carries (`PACING`).
- delta: products and customers filter with `date_modified:min`, orders with `min_date_modified`; categories and
  brands have no modification date in the API (read in full, they are small); tax classes and reviews have no
  filter, so their `updated_at` / `date_modified` is compared here, at or after the second (as the filters do).
"""

from __future__ import annotations

from cart_pipelines.platforms.bigcommerce import mapping
from cart_pipelines.platforms.kit.pacing import RateHeaders
from cart_pipelines.platforms.kit.rest import (
    BODY,
    Api,
    Child,
    Endpoint,
    IdRanges,
    PageNumber,
    Since,
    TimeKeyset,
    from_body,
)

API_HOST = "https://api.bigcommerce.com"
PAGE_SIZE = 250  # documented maximum of `limit` for v3 and v2 lists
CONCURRENCY = 3  # BigCommerce documents 3 concurrent requests per store and endpoint
PACING = RateHeaders(remaining="X-Rate-Limit-Requests-Left", reset="X-Rate-Limit-Time-Reset-Ms", reset_unit="ms",
                     quota="X-Rate-Limit-Requests-Quota", window="X-Rate-Limit-Time-Window-Ms")
RESERVE = 1  # kept back from each window; the pacer counts the requests in flight itself (kit/pacing.py)

SCOPES = {
    "categories": "store_v2_products_read_only",
    "manufacturers": "store_v2_products_read_only",
    "products": "store_v2_products_read_only",
    "reviews": "store_v2_products_read_only",
    "customers": "store_v2_customers_read_only",
    "orders": "store_v2_orders_read_only",
    "tax_classes": "store_v2_information_read_only",
}
SCOPE_LABELS = {  # the control panel's names for the scopes above
    "store_v2_products_read_only": "Products: read-only",
    "store_v2_customers_read_only": "Customers: read-only",
    "store_v2_orders_read_only": "Orders: read-only",
    "store_v2_information_read_only": "Information & Settings: read-only",
}


def what(entity: str) -> str:
    """How a read of `entity` reads in messages: with the scope a 403 asks for."""
    scope = SCOPES[entity]
    return f"reading {entity} (needs OAuth scope {SCOPE_LABELS[scope]}, {scope})"


def v3_keyset(parallel: bool) -> IdRanges:
    """v3 id keyset; `parallel`: in id ranges, the highest id asked for sorted descending (needs `sort=id`)."""
    return IdRanges(IdRanges.strict("id:greater", "id:less"), total=from_body("meta.pagination.total"),
                    highest={"direction": "desc", "limit": 1} if parallel else None, ascending_check=True)


V3_PAGES = PageNumber(size_param="limit", total_pages=from_body("meta.pagination.total_pages"))
V2_PAGES = PageNumber(size_param="limit")  # until a short page or 204 No Content
PRODUCTS = v3_keyset(parallel=True)

API = Api(
    platform="BigCommerce",
    base_path="",  # the client is built on {host}/stores/{store_hash} (source.api_root)
    concurrency=CONCURRENCY,
    defaults=Endpoint(page_size=PAGE_SIZE, records="data", id_field="id", missing="error"),
    id_only={"include_fields": "id"},
    hint="is the base URL the API host?",
    endpoints={
        # The whole tree is read before mapping (paths need every ancestor); BigCommerce caps a store at 16,000.
        "categories": Endpoint("v3/catalog/categories", paginator=v3_keyset(parallel=False),
                               what=what("categories")),
        "manufacturers": Endpoint("v3/catalog/brands", paginator=v3_keyset(parallel=False), map=mapping.brand,
                                  what=what("manufacturers")),
        "tax_classes": Endpoint("v2/tax_classes", records=BODY, paginator=V2_PAGES, map=mapping.tax_class,
                                since=Since(field="updated_at", inclusive=True), what=what("tax_classes")),
        "products": Endpoint("v3/catalog/products", params={"include": "variants,images", "sort": "id"},
                             id_params={"sort": "id"}, paginator=PRODUCTS, since=Since("date_modified:min"),
                             map=mapping.product, what=what("products")),
        "customers": Endpoint("v3/customers", params={"include": "addresses", "sort": "date_created:asc"},
                              paginator=TimeKeyset("date_created:min", "date_created",
                                                   total=from_body("meta.pagination.total"),
                                                   latest={"sort": "date_created:desc", "limit": 1}),
                              since=Since("date_modified:min"), map=mapping.customer, what=what("customers")),
        # Items and shipping addresses are sub-resources: two requests per order.
        "orders": Endpoint(
            "v2/orders", records=BODY, params={"sort": "id:asc", "page": 1},
            paginator=IdRanges(IdRanges.inclusive("min_id", "max_id")), since=Since("min_date_modified"),
            map=mapping.order, what=what("orders"),
            children=(Child("products", Endpoint("v2/orders/{id}/products", records=BODY, paginator=V2_PAGES,
                                                 what=what("orders")), drops_parent=True),
                      Child("shipping_addresses", Endpoint("v2/orders/{id}/shipping_addresses", records=BODY,
                                                           paginator=V2_PAGES, what=what("orders")),
                            drops_parent=True),
                      # v3 refunds (orders.v3 getOrderRefunds, all in one answer) of orders that had any
                      Child("refunds", Endpoint("v3/orders/{id}/payment_actions/refunds", records="data",
                                                what=what("orders")),
                            when=mapping.was_refunded, drops_parent=True))),
        # Reviews live under each product: the product ids, and each product's reviews as a child.
        "reviews": Endpoint(
            "v3/catalog/products", params={"include_fields": "id", "sort": "id"}, paginator=PRODUCTS,
            what=what("reviews"),
            children=(Child("reviews", Endpoint("v3/catalog/products/{id}/reviews", paginator=V3_PAGES,
                                                since=Since(field="date_modified", inclusive=True),
                                                what=what("reviews"))),)),
        # Reviewers' e-mails looked up among customers (`email:in`, 50 at a time).
        "customers_by_email": Endpoint("v3/customers", paginator=V3_PAGES, what=what("customers")),
    },
)
