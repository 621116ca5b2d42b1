"""Mystore API v2 as a source, described as data for the kit's REST engine (facts in facts.py).

Every list is JSON:API (`data`), paged with `page[size]` (facts.PAGE_SIZE_MAX, 100) and followed by `links.next`, a
full URL absent on the last page. One request at a time: 120 requests/min per token is the bound, paced by the
client (api.MystoreApi).

Sub-resources (variants, specials, order lines and totals) are read as whole lists in a full read (one listing of
100 rows a request instead of a request per product or order), and through the documented nested lists
(`products/{id}/product-variants`, `orders/{id}/order-products`, ...) for the few records a delta reads.

Delta: every main type carries `updated_at`, filtered with `filter[updated_at][path|value|operator]=gte` (facts
FILTER_OPERATORS; the value written YYYY-MM-DD HH:MM:SS, UTC). Deletions: the id-only listing is the same list with
a sparse fieldset of one attribute (`fields[<type>]=updated_at`).
"""

from __future__ import annotations

from datetime import datetime

from cart_pipelines.platforms.kit.rest import Api, Child, Endpoint, JsonLink, Since
from cart_pipelines.platforms.mystore import facts

PAGE_SIZE = facts.PAGE_SIZE_MAX

# The canonical entity → its Mystore type.
TYPES = {"categories": "categories", "manufacturers": "manufacturers", "tax_classes": "tax-classes",
         "products": "products", "customers": "customers", "orders": "orders", "reviews": "product-reviews"}
# Sub-resources: their type and the relationship that names the parent.
PRODUCT_PARTS = {"variants": ("product-variants", "product"), "attributes": ("product-attributes", "product"),
                 "specials": ("product-specials", "product")}
ORDER_PARTS = {"lines": ("order-products", "order"), "line_options": ("order-product-attributes", "order-product"),
               "totals": ("order-totals", "order")}
SHOP_LISTS = ("product-options", "product-option-values", "order-status")  # the shop's own short lists


def updated_since(since: datetime) -> dict:
    """`filter[updated_at][...]` for records changed at or after `since` (whole seconds, UTC)."""
    return {"filter[updated_at][path]": "updated_at",
            "filter[updated_at][value]": since.strftime(facts.DATETIME_FORMAT),
            "filter[updated_at][operator]": "gte"}


UPDATED = Since(build=updated_since)


def _list(type_: str, **kw) -> Endpoint:
    return Endpoint(type_, what=type_, id_params={f"fields[{type_}]": "updated_at"}, **kw)


def _nested(parent: str, type_: str) -> Endpoint:
    return Endpoint(f"{parent}/{{id}}/{type_}", what=f"{type_} of {parent} {{id}}")


#: Children read per record in a delta (the documented nested lists).
NESTED = {
    "products": tuple(Child(name, _nested("products", t)) for name, (t, _) in PRODUCT_PARTS.items()),
    "orders": (Child("lines", _nested("orders", "order-products")), Child("totals", _nested("orders", "order-totals"))),
}

API = Api(
    platform="Mystore",
    base_path="",
    defaults=Endpoint(paginator=JsonLink(), page_size=PAGE_SIZE, records="data", id_field="id", missing="error"),
    hint="is the API address https://api.mystore.no (or the emulator's) and the store name right?",
    endpoints={
        **{entity: _list(t, since=UPDATED) for entity, t in TYPES.items()},
        **{t: _list(t, since=UPDATED) for t, _ in (*PRODUCT_PARTS.values(), *ORDER_PARTS.values())},
        **{t: _list(t) for t in SHOP_LISTS},
        # a line's options, for the few lines a delta reads
        "line_options_of": _nested("order-products", "order-product-attributes"),
    },
)
