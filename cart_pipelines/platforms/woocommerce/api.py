"""WooCommerce REST API v3 (`<shop URL>/wp-json/wc/v3/`) described as data for the kit's REST engine.

Every list pages with `offset`/`per_page` (at most 100, WordPress's maximum) ordered by id, in overlapping windows
(`OverlappingOffset`: records added or deleted meanwhile neither repeat nor slip past), with `X-WP-Total` from the
first window letting the rest run in parallel; at most 4 requests are in flight in all (product pages and the
variations of variable products share them).

Delta: products and orders filter with `modified_after` (+ `dates_are_gmt`); customers have no date filter, so
their `date_modified_gmt` is compared here; categories, brands, tax classes and reviews carry no modification date.
"""

from __future__ import annotations

from cart_pipelines.platforms.kit.rest import (
    Api,
    Child,
    Endpoint,
    OverlappingOffset,
    Since,
    Single,
    from_header,
)
from cart_pipelines.platforms.woocommerce import mapping

BASE_PATH = "wp-json/wc/v3"
PAGE_SIZE = 100  # WordPress's maximum for per_page
CONCURRENCY = 4
OVERLAP = 10  # ids each page window shares with the one before

MODIFIED = Since("modified_after", "%Y-%m-%dT%H:%M:%S", {"dates_are_gmt": "true"})

API = Api(
    platform="WooCommerce",
    base_path=BASE_PATH,
    concurrency=CONCURRENCY,
    defaults=Endpoint(
        paginator=OverlappingOffset(OVERLAP, total=from_header("X-WP-Total"), order={"orderby": "id", "order": "asc"}),
        page_size=PAGE_SIZE, id_field="id", missing="error"),
    id_only={"_fields": "id"},  # WordPress trims any REST response to the fields named
    hint="is the shop URL the WordPress address?",
    endpoints={
        # The whole tree is read before mapping (paths need every ancestor); a shop has at most a few thousand.
        "categories": Endpoint("products/categories", what="categories"),
        # Brands came with WooCommerce 9.6; before, the route is missing (404): no manufacturers.
        "manufacturers": Endpoint("products/brands", what="brands", missing="empty", map=mapping.brand),
        "tax_classes": Endpoint(
            "taxes/classes", paginator=Single(), id_field="slug", what="tax classes", map=mapping.tax_class,
            children=(Child("rates", Endpoint("taxes", params={"class": "{slug}"}, what="tax rates")),)),
        "products": Endpoint(
            "products", since=MODIFIED, what="products", map=mapping.product,
            children=(Child("variations", Endpoint("products/{id}/variations", what="variations of product {id}"),
                            when=lambda p: p.get("type") == "variable" and bool(p.get("variations"))),)),
        "customers": Endpoint("customers", since=Since(field="date_modified_gmt"), what="customers",
                              map=mapping.customer),
        # A trashed order leaves status=any just as a deleted one does. The order's `refunds` list holds only id,
        # reason and total: their date and lines are read for the orders that have refunds (a few percent).
        "orders": Endpoint("orders", params={"status": "any"}, since=MODIFIED, what="orders", map=mapping.order,
                           children=(Child("refunds", Endpoint("orders/{id}/refunds", what="refunds of order {id}"),
                                           when=lambda o: bool(o.get("refunds"))),)),
        # All statuses, and the raw text (context=edit; view wraps it in paragraphs).
        "reviews": Endpoint("products/reviews", params={"status": "all", "context": "edit"},
                            id_params={"status": "all"}, what="reviews"),
    },
)
