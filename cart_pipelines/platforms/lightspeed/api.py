"""Lightspeed eCom (C-Series) REST API (`https://api.webshopapp.com/{language}/` in the EU cluster,
`https://api.shoplightspeed.com/{language}/` in the US one) described as data for the kit.

Every list is `{resource}.json` answering `{"<resources>": [...]}`, paged with `page` (from 1) + `limit` (at most
250); a page past the last answers an empty list, so pages are read one after another until a short one
(`{resource}/count.json` answers `{"count": n}` but costs a request of its own, and the rate limit is counted in
requests, 12,000 a day by default). A product's images (`products/{id}/images.json`) and an order's products
(`orders/{id}/products.json`) are resources of their own, read per record; the variants (`variants.json`) and the
product ↔ category links (`categories/products.json`) are lists of their own, read whole on a full read (and staged
on disk until their products are read: kit/parts.py).

Refunds are credit notes: invoices with `isCreditNote` (an order's invoices are `invoices.json?order={id}`, its
`invoices` link); a full read takes the invoices as one list and stages the credit notes, a delta or a slice reads
each changed order's own. A credit note's lines are its items (`invoices/{id}/items.json`, its `items` link), read
per credit note: a few per cent of orders have one.

Delta: products, customers, orders and reviews filter with `updated_at_min` (`YYYY-MM-DD HH:MM:SS`); categories,
brands and taxes carry `updatedAt` and are small: read whole and compared here.
"""

from __future__ import annotations

from cart_pipelines.platforms.kit.rest import Api, Child, Endpoint, PageNumber, Since

PAGE_SIZE = 250  # Lightspeed's maximum `limit`
FILTER_TIME = "%Y-%m-%d %H:%M:%S"
UPDATED = Since("updated_at_min", format=FILTER_TIME)
LOCAL = Since(field="updatedAt")

VARIANTS = Child("variants", Endpoint("variants.json", params={"product": "{id}"}, records="variants",
                                     what="variants of product {id}"))
IMAGES = Child("images", Endpoint("products/{id}/images.json", records="productImages", what="images of product {id}"),
               when=lambda p: bool(p.get("images")))

ORDER_PRODUCTS = Child("products", Endpoint("orders/{id}/products.json", records="orderProducts",
                                           what="products of order {id}"), drops_parent=True)
ORDER_INVOICES = Child("invoices", Endpoint("invoices.json", params={"order": "{id}"}, records="invoices",
                                           what="invoices of order {id}"))
# The items of one invoice (`invoices/{id}/items.json`): the lines of a credit note. The list key follows
# Lightspeed's naming of nested lists (orderProducts, productImages, categoriesProducts); the item fields are those
# of the invoice item resource (title, variant, orderProductId, articleCode, ean, sku, taxRate, basePriceExcl/Incl,
# priceExcl/Incl, discountExcl/Incl, quantity) as the Lightspeed eCom SDKs publish them
INVOICE_ITEMS = Endpoint("invoices/{id}/items.json", records="invoiceItems", what="items of credit note {id}")

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
        # A full read takes the variants as one list (250 a request) and joins them here; a delta or a slice
        # reads each changed product's own (`variants.json?product={id}`): few products, few requests.
        "products": Endpoint("products.json", records="products", what="products", children=(IMAGES,)),
        "products_changed": Endpoint("products.json", records="products", since=UPDATED, what="products",
                                     children=(VARIANTS, IMAGES)),
        "variants": Endpoint("variants.json", records="variants", what="variants"),
        "customers": Endpoint("customers.json", records="customers", since=UPDATED, what="customers"),
        "orders": Endpoint("orders.json", records="orders", since=UPDATED, what="orders", children=(ORDER_PRODUCTS,)),
        "orders_changed": Endpoint("orders.json", records="orders", since=UPDATED, what="orders",
                                   children=(ORDER_PRODUCTS, ORDER_INVOICES)),
        "invoices": Endpoint("invoices.json", records="invoices", what="invoices (for their credit notes)"),
        "invoice_items": INVOICE_ITEMS,
        "reviews": Endpoint("reviews.json", records="reviews", since=UPDATED, what="reviews"),
    },
)
