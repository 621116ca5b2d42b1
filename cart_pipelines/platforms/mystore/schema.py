"""Mystore's resource types as data, transcribed from the fact sheet (../shared/mystore-api.md §6): per type the
methods the staff client enables (A list, G get, C create, U update, D delete), attributes (multilingual ones are
maps keyed by language code), attributes the staff builders make mandatory, and relationships.

The emulator serves exactly these; the client and source read type names from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cart_pipelines.platforms.mystore import facts


@dataclass(frozen=True)
class Rel:
    type: str
    many: bool = False
    required: bool = False


@dataclass(frozen=True)
class Resource:
    methods: str
    attributes: tuple[str, ...]
    multilingual: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    relationships: dict[str, Rel] = field(default_factory=dict)
    read_only: tuple[str, ...] = ()  # served, never written


_ADDR = ("name", "lastname", "company", "company_co", "company_number", "address", "zipcode", "city", "region",
         "state", "country")
_ORDER_ADDR = ("name", "company", "address", "region", "city", "zipcode", "state", "country", "phone", "email")
_DATES = ("created_at", "updated_at")

TYPES: dict[str, Resource] = {
    "products": Resource(
        "AGCUD",
        ("name", "slug", "description", "meta_title", "meta_description", "meta_keywords", "price", "cost",
         "quantity", "sku", "ean", "manufacturer_sku", "status", "weight", "image", "image2", "image3", "image4",
         "image5", "image6", "image7", "image8", "location", "country_of_origin", "button_type", "notes", "sort",
         "viewed_count", "ordered_count", "quantity_physical", "quantity_reserved", *_DATES),
        multilingual=("name", "slug", "description", "meta_title", "meta_description", "meta_keywords"),
        required=("name", "slug"),
        relationships={"categories": Rel("categories", many=True, required=True), "tax-class": Rel("tax-classes"),
                       "manufacturer": Rel("manufacturers")},
        read_only=("quantity_physical", "quantity_reserved", "viewed_count", "ordered_count")),
    "categories": Resource(
        "AGCUD", ("name", "slug", "description", "meta_title", "meta_description", "image", "status", "sort", *_DATES),
        multilingual=("name", "slug", "description", "meta_title", "meta_description"), required=("name", "slug"),
        relationships={"parent": Rel("categories"), "products": Rel("products", many=True)}),
    "manufacturers": Resource(
        "AGCD", ("name", "slug", "description", "url", "meta_title", "meta_description", "image", "sort", *_DATES),
        multilingual=("slug", "description", "meta_title", "meta_description"), required=("name", "slug")),
    "tax-classes": Resource("AGCD", ("tax_rate", "title", "description", *_DATES),
                            required=("tax_rate", "title", "description")),
    "product-options": Resource(
        "AGCUD", ("name", "track_stock", "sort", "comment", "element_type", *_DATES), multilingual=("name",),
        required=("name", "track_stock"),
        relationships={"product-option-values": Rel("product-option-values", many=True)}),
    "product-option-values": Resource(
        "AGCUD", ("name", "sort", *_DATES), multilingual=("name",), required=("name",),
        relationships={"product-options": Rel("product-options", many=True)}),
    "product-attributes": Resource(
        "AGCUD", ("option_values_price", "option_values_price_prefix", "weight", "image", *_DATES),
        required=("option_values_price",),
        relationships={"product": Rel("products", required=True), "product-option": Rel("product-options", required=True),
                       "product-option-value": Rel("product-option-values", required=True)}),
    "product-variants": Resource(
        "AGCUD", ("quantity", "sku", "ean", "cost", "disabled", *_DATES),
        relationships={"product": Rel("products", required=True),
                       "product-attributes": Rel("product-attributes", many=True, required=True)},
        read_only=() if facts.VARIANT_DISABLED_WRITABLE else ("disabled",)),  # [?] facts ASSUMPTIONS
    "product-specials": Resource(
        "AGCUD", ("specials_price", "status", "expires_at", "status_changed_at", *_DATES),
        required=("specials_price", "status"), relationships={"product": Rel("products", required=True)}),
    "product-tags": Resource("AGCD", ("key", "value", *_DATES), relationships={"product": Rel("products")}),
    "product-reviews": Resource(
        "AGCD", ("name", "rating", "review", *_DATES), multilingual=("review",), required=("name", "rating", "review"),
        relationships={"product": Rel("products", required=True), "customer": Rel("customers", required=True)}),
    "customers": Resource(
        "AGCUD", ("name", "lastname", "email", "phone", "fax", "gender", "dob", "newsletter", "billing_email",
                  "last_login", *(f"address_{a}" for a in _ADDR), *(f"billing_address_{a}" for a in _ADDR), *_DATES),
        required=("name", "lastname", "email")),
    "orders": Resource(
        "AGCUD", (*(f"customer_address_{a}" for a in _ORDER_ADDR), *(f"shipping_address_{a}" for a in _ORDER_ADDR),
                  *(f"billing_address_{a}" for a in _ORDER_ADDR), "company_number", "payment_method",
                  "payment_module", "shipping_method", "currency", "currency_value", "finished_at", "invoice_id",
                  "invoice_due_at", "tracking_number", "reference", "estimated_delivery_at", "credit_note",
                  "overdue_notice", "overdue_notice_due_at", *_DATES),
        relationships={"customer": Rel("customers"), "order-status": Rel("order-status")}),
    "order-products": Resource(
        "AGCUD", ("name", "sku", "original_price", "price", "final_price", "quantity", "tax_rate", *_DATES),
        relationships={"order": Rel("orders", required=True), "product": Rel("products"),
                       "product-variant": Rel("product-variants")}),
    "order-product-attributes": Resource(
        "AGCD", ("option_name", "option_value_name", "option_values_price", "option_values_price_prefix",
                 "track_stock", *_DATES),
        relationships={"order": Rel("orders"), "order-product": Rel("order-products", required=True),
                       "product-option": Rel("product-options"), "product-option-value": Rel("product-option-values")}),
    "order-totals": Resource(
        "AGCUD", ("title", "text", "value", "value_without_tax", "sort", "tax_rate", "class", "order_total_type",
                  *_DATES),
        relationships={"order": Rel("orders", required=True)}),
    "order-status": Resource("AG", ("name", "sort"), multilingual=("name",)),
    "order-status-history": Resource(
        "AC", ("comments", "customer_notified", *_DATES),
        relationships={"order": Rel("orders", required=True), "order-status": Rel("order-status")}),
    "redirects": Resource("AGCD", ("redirect_from", "redirect_to", "code", "scope", "language", *_DATES),
                          required=("redirect_from", "redirect_to")),
    "languages": Resource("A", ("code", "name", "sort")),
    "currencies": Resource("A", ("code", "title", "value", "symbol_left", "symbol_right", "decimal_places")),
}

# Nested lists ({type}/{id}/{child}): the child's relationship that points at the parent ([C: MS, TS]).
NESTED: dict[tuple[str, str], str] = {
    ("products", "categories"): "products",  # categories holding the product (via the product's to-many)
    ("products", "product-attributes"): "product", ("products", "product-variants"): "product",
    ("products", "product-specials"): "product", ("products", "product-tags"): "product",
    ("categories", "products"): "categories", ("customers", "orders"): "customer",
    ("customers", "product-reviews"): "customer", ("orders", "order-products"): "order",
    ("orders", "order-totals"): "order", ("orders", "order-status-history"): "order",
    ("order-products", "order-product-attributes"): "order-product",
    ("product-options", "product-option-values"): "product-options", ("order-status", "orders"): "order-status",
}
