"""Lightspeed eCom (C-Series) REST API (`https://api.webshopapp.com/{language}/` in the EU cluster,
`https://api.shoplightspeed.com/{language}/` in the US one) described as data for the kit.

Every list is `{resource}.json` answering `{"<resources>": [...]}`, paged with `page` (from 1) + `limit` (at most
250); a page past the last answers an empty list, so pages are read one after another until a short one
(`{resource}/count.json` answers `{"count": n}` but costs a request of its own, and the rate limit is counted in
requests). A product's variants (`variants.json?product={id}`) and images (`products/{id}/images.json`), and an
order's products (`orders/{id}/products.json`) are resources of their own, read per record; the product ↔ category
links are one list of their own (`categories/products.json`), read whole.

Delta: products, customers, orders and reviews filter with `updated_at_min` (`YYYY-MM-DD HH:MM:SS`); categories,
brands and taxes carry `updatedAt` and are small: read whole and compared here.
"""

from __future__ import annotations

from cart_pipelines.platforms.kit.rest import Api, Child, Endpoint, PageNumber, Since

PAGE_SIZE = 250  # Lightspeed's maximum `limit`
FILTER_TIME = "%Y-%m-%d %H:%M:%S"
UPDATED = Since("updated_at_min", format=FILTER_TIME)
LOCAL = Since(field="updatedAt")

API = Api(
    platform="Lightspeed",
    base_path="",
    defaults=Endpoint(paginator=PageNumber(param="page", size_param="limit"), page_size=PAGE_SIZE, id_field="id",
                      missing="error"),
    hint="is the Endpoint the shop's cluster (https://api.webshopapp.com or https://api.shoplightspeed.com) and the "
         "language one of the shop's?",
    endpoints={
        "categories": Endpoint("categories.json", records="categories", since=LOCAL, what="categories"),
        "category_links": Endpoint("categories/products.json", records="categoriesProducts",
                                   what="product categories"),
        "manufacturers": Endpoint("brands.json", records="brands", since=LOCAL, what="brands"),
        "tax_classes": Endpoint("taxes.json", records="taxes", since=LOCAL, what="taxes"),
        "products": Endpoint("products.json", records="products", since=UPDATED, what="products", children=(
            Child("variants", Endpoint("variants.json", params={"product": "{id}"}, records="variants",
                                       what="variants of product {id}")),
            Child("images", Endpoint("products/{id}/images.json", records="productImages",
                                     what="images of product {id}"), when=lambda p: bool(p.get("images"))),
        )),
        "customers": Endpoint("customers.json", records="customers", since=UPDATED, what="customers"),
        "orders": Endpoint("orders.json", records="orders", since=UPDATED, what="orders", children=(
            Child("products", Endpoint("orders/{id}/products.json", records="orderProducts",
                                       what="products of order {id}"), drops_parent=True),
        )),
        "reviews": Endpoint("reviews.json", records="reviews", since=UPDATED, what="reviews"),
    },
)
