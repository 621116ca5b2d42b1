"""The canonical store model: one pyarrow schema per entity.

Every connector maps its platform's records to these schemas, every target reads them. Every row carries the
source's own id (`source_id`, as a string) and the source's `updated_at`. Money is decimal(12, 2), never float.
Fields marked `nullable=False` are required: a record without them is quarantined at extraction.
Documented in docs/canonical-model.md.
"""

from __future__ import annotations

import pyarrow as pa

MONEY = pa.decimal128(12, 2)
TS = pa.timestamp("us", tz="UTC")


def _req(name: str, type_: pa.DataType) -> pa.Field:
    return pa.field(name, type_, nullable=False)


ADDRESS = pa.struct(
    [
        ("first_name", pa.string()),
        ("last_name", pa.string()),
        ("company", pa.string()),
        ("street", pa.string()),
        ("city", pa.string()),
        ("postcode", pa.string()),
        ("region", pa.string()),
        ("country", pa.string()),  # ISO 3166-1 alpha-2 where the source knows it, else the source's text
        ("phone", pa.string()),
    ]
)
CUSTOMER_ADDRESS = pa.struct(
    list(ADDRESS) + [pa.field("is_default_billing", pa.bool_()), pa.field("is_default_shipping", pa.bool_())]
)
OPTION_VALUE = pa.struct([("name", pa.string()), ("value", pa.string())])
VARIANT = pa.struct(
    [
        ("source_id", pa.string()),
        ("sku", pa.string()),
        ("price", MONEY),
        ("stock", pa.int64()),
        ("options", pa.list_(OPTION_VALUE)),
        # a disabled variation (WooCommerce "private", BigCommerce purchasing_disabled) is carried, not dropped
        pa.field("status", pa.string(), metadata={"enum": "enabled,disabled"}),
    ]
)
IMAGE = pa.struct([("url", pa.string()), ("position", pa.int32()), ("alt", pa.string())])
TAX_RATE = pa.struct([("country", pa.string()), ("rate", pa.decimal128(6, 3))])
ORDER_ITEM = pa.struct(
    [
        ("source_id", pa.string()),
        ("product_id", pa.string()),
        ("sku", pa.string()),
        ("name", pa.string()),
        ("qty", pa.int64()),
        ("price", MONEY),
        ("tax", MONEY),
    ]
)
REFUND_LINE = pa.struct(
    [("item_id", pa.string()), ("sku", pa.string()), ("qty", pa.int64()), ("amount", MONEY)]
)
# amount is what was paid back, positive (WooCommerce writes "-12.50"; its connector turns the sign)
REFUND = pa.struct(
    [
        ("source_id", pa.string()),
        ("amount", MONEY),
        ("reason", pa.string()),
        ("created_at", TS),
        ("lines", pa.list_(REFUND_LINE)),
    ]
)
PRODUCT_TYPES = "simple,variable,grouped,external,bundle,virtual,downloadable,gift_card"
# where a product stands in its shop; `status` says only whether it is sold (enabled) or not
LIFECYCLES = "published,draft,pending,private,scheduled,archived,trashed"

SCHEMAS: dict[str, pa.Schema] = {
    "categories": pa.schema(
        [
            _req("source_id", pa.string()),
            pa.field("parent_id", pa.string()),
            _req("name", pa.string()),
            pa.field("path", pa.string()),  # names from the root, "/"-separated
            pa.field("url_key", pa.string()),
            pa.field("is_visible", pa.bool_()),
            pa.field("position", pa.int32()),
            pa.field("updated_at", TS),
        ]
    ),
    "manufacturers": pa.schema(
        [
            _req("source_id", pa.string()),
            _req("name", pa.string()),
            pa.field("url_key", pa.string()),
            pa.field("updated_at", TS),
        ]
    ),
    "tax_classes": pa.schema(
        [
            _req("source_id", pa.string()),
            _req("name", pa.string()),
            pa.field("rates", pa.list_(TAX_RATE)),
            pa.field("updated_at", TS),
        ]
    ),
    "products": pa.schema(
        [
            _req("source_id", pa.string()),
            pa.field("sku", pa.string()),
            _req("name", pa.string()),
            pa.field("description_html", pa.string()),
            _req("price", MONEY),
            pa.field("special_price", MONEY),
            pa.field("special_price_from", TS),  # a scheduled sale starts here; null: already running
            pa.field("special_price_to", TS),  # and ends here; null: open-ended
            pa.field("weight", pa.float64()),  # kg
            pa.field("stock", pa.int64()),
            # enabled | disabled, read trimmed and case-insensitively ("Enabled "); other values are quarantined
            pa.field("status", pa.string(), metadata={"enum": "enabled,disabled"}),
            pa.field("type", pa.string(), metadata={"enum": PRODUCT_TYPES}),  # null: simple or variable by variants
            pa.field("lifecycle", pa.string(), metadata={"enum": LIFECYCLES}),  # null: published
            pa.field("external_url", pa.string()),  # external/affiliate products: where the button leads
            pa.field("button_text", pa.string()),
            pa.field("child_ids", pa.list_(pa.string())),  # grouped and bundle products: their products' source ids
            pa.field("url_key", pa.string()),  # the source URL path, may include category segments
            pa.field("category_ids", pa.list_(pa.string())),
            pa.field("manufacturer_id", pa.string()),
            pa.field("tax_class_id", pa.string()),
            pa.field("variants", pa.list_(VARIANT)),
            pa.field("images", pa.list_(IMAGE)),
            pa.field("created_at", TS),
            pa.field("updated_at", TS),
        ]
    ),
    "customers": pa.schema(
        [
            _req("source_id", pa.string()),
            _req("email", pa.string()),
            pa.field("first_name", pa.string()),
            pa.field("last_name", pa.string()),
            pa.field("phone", pa.string()),
            pa.field("newsletter", pa.bool_()),
            pa.field("addresses", pa.list_(CUSTOMER_ADDRESS)),
            pa.field("password_hash", pa.string()),
            pa.field("password_algorithm", pa.string()),
            pa.field("created_at", TS),
            pa.field("updated_at", TS),
        ]
    ),
    "orders": pa.schema(
        [
            _req("source_id", pa.string()),
            pa.field("number", pa.string()),
            pa.field("customer_id", pa.string()),  # null for guest orders
            pa.field("email", pa.string()),
            pa.field("customer_first_name", pa.string()),
            pa.field("customer_last_name", pa.string()),
            pa.field("status", pa.string()),
            _req("currency", pa.string()),
            pa.field("subtotal", MONEY),
            pa.field("shipping", MONEY),
            pa.field("tax", MONEY),
            pa.field("discount", MONEY),
            _req("grand_total", MONEY),  # as ordered, before refunds
            pa.field("refunds", pa.list_(REFUND)),
            pa.field("refunded_total", MONEY),  # sum of refunds; null: none or not given
            pa.field("net_total", MONEY),  # grand_total less refunded_total; null: equal to grand_total
            pa.field("items", pa.list_(ORDER_ITEM)),
            pa.field("billing_address", ADDRESS),
            pa.field("shipping_address", ADDRESS),
            pa.field("created_at", TS),
            pa.field("updated_at", TS),
        ]
    ),
    "reviews": pa.schema(
        [
            _req("source_id", pa.string()),
            pa.field("product_id", pa.string()),
            pa.field("customer_id", pa.string()),
            _req("rating", pa.int32()),  # 1..5
            pa.field("title", pa.string()),
            pa.field("text", pa.string()),
            pa.field("status", pa.string()),  # approved | pending | rejected | spam | trashed
            pa.field("created_at", TS),
            pa.field("updated_at", TS),
        ]
    ),
}

# Extraction adds the record's position in the source, for stable ordering and duplicate reporting.
ORDINAL = pa.field("_ordinal", pa.int64(), nullable=False)


def staged_schema(entity: str) -> pa.Schema:
    return SCHEMAS[entity].append(ORDINAL)
