"""Migration rules for a Mystore target (seed 000), the mapping tables (order status, tax class) and the target
rules of platforms that require more (TARGET_RULES), as a table. transform.py applies them in DuckDB SQL.

Each rule has a name (used in the ledger and the report), the entity it acts on, what it does, and why.
Defaults are configurable through RuleSettings (run config of the transform assets).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import duckdb
from anyascii import anyascii

from cart_pipelines.model.entities import GUEST_PREFIX  # noqa: F401  (rule 5 makes these customers)

HIDDEN_CATEGORY_ID = "__uncategorised__"  # source id of the category rule 3 creates on the target
# Levels of a category tree that migrate (a bound for the recursive queries, far beyond any real shop's tree).
MAX_CATEGORY_DEPTH = 10_000


@dataclass(frozen=True)
class Rule:
    name: str
    entity: str
    action: str  # fill | assign | skip | rename
    seed: str
    description: str


RULES: tuple[Rule, ...] = (
    Rule("customer_address_defaults", "customers", "fill", "seed 000 peculiarity 1",
         "Empty first name, last name or city in a customer address becomes 'N/A'."),
    Rule("order_address_defaults", "orders", "fill", "seed 000 peculiarity 2",
         "Empty first name, last name, city or country in an order's billing/shipping address and customer info "
         "becomes 'N/A', 'N/A', 'City', 'SE' (Sweden)."),
    Rule("uncategorised_to_hidden_category", "products", "assign", "seed 000 peculiarity 3",
         "A product in no category is put in an automatically created hidden category."),
    Rule("review_needs_product_and_customer", "reviews", "skip", "seed 000 peculiarity 4",
         "A review not linked to both a migrated product and a migrated customer is skipped."),
    Rule("order_needs_customer", "orders", "skip", "seed 000 peculiarity 5",
         "An order not linked to a migrated customer (guest checkout, deleted customer) is skipped, unless "
         "keep_guest_orders is on: then a customer is created from the order's e-mail."),
    Rule("url_key_suffix", "products,categories", "rename", "seed 000 peculiarity 7",
         "URL keys lose their category path; keys that then collide get -1, -2, ... in source-id order (a "
         "category's key never takes the one of the hidden category rule 3 creates; a key a record holds on the "
         "target stays its own while its source key is unchanged, and new records are numbered after it)."),
    Rule("url_key_fallback", "products,categories,manufacturers", "fill", "URL keys from names without letters",
         "URL keys are transliterated to Latin letters (Ελλάδα → ellada, 東京 → dongjing); where neither the "
         "source's key nor the name leaves any (only emoji or punctuation), the key is the entity and source id: "
         "product-66."),
    Rule("url_key_from_name", "products", "fill", "what real shops hold (issue 14)",
         "A product the source gives no URL key (a WooCommerce draft or pending product has no slug until it is "
         "published) gets one from its name, as the shop would at publishing: 'Blå genser' → bla-genser."),
    Rule("order_status_mapping", "orders", "map", "option: order-status mapping",
         "Order statuses are mapped to Mystore's (ORDER_STATUS_MAP, overridable by order_status_map)."),
    Rule("order_status_unmapped", "orders", "map", "option: order-status mapping",
         "A status with no mapping is carried unchanged; add it to order_status_map."),
    Rule("tax_class_mapping", "tax_classes,products", "map", "option: tax-class mapping",
         "Tax classes are renamed by name to the target's (TAX_CLASS_MAP for the target, overridable by "
         "tax_class_map); classes mapped to the same name become one, the first in source-id order, and their "
         "products point at it (the others are skipped by this rule)."),
    Rule("tax_class_unmapped", "tax_classes", "map", "option: tax-class mapping",
         "A tax class with no mapping keeps its source name; add it to tax_class_map to rename or merge it."),
    Rule("customer_email_merged", "customers,orders,reviews", "skip", "one e-mail, one customer",
         "A customer whose e-mail equals an earlier customer's (source-id order; compared trimmed, in Unicode NFC, "
         "case-insensitively) is skipped: the shop cannot hold both, and they are one person. Their orders and "
         "reviews go to the earlier customer."),
    Rule("order_item_product_gone", "orders", "fill", "what real shops hold (issue 14)",
         "An order line whose product the source no longer holds (deleted, or trashed and not listed) keeps its "
         "SKU, name, price and quantity as history; only its product link is dropped. The order migrates "
         "(Mystore, Shopify and BigCommerce take lines without a product; into WooCommerce, target rule "
         "order_item_as_fee)."),
    Rule("variant_listed_as_product", "products,orders", "skip", "what real shops hold (issue 14)",
         "A product that is also a variant of another product (the same id and SKU: Magento lists a configurable "
         "product's child simple products among its products, most 'Not Visible Individually') is skipped as a "
         "product: it migrates as that product's variant. An order line naming it goes to the product it is a "
         "variant of, keeping its own SKU, name and price."),
    Rule("refund_from_refunded_total", "orders", "fill", "what real shops hold (issue 14)",
         "An order with a refunded amount but no refund list (Squarespace orders carry only refundedTotal) gets "
         "one refund of that amount, without reason or lines, dated the order's last update (none if it has "
         "none), so a target that holds refunds holds the money that went back and the net totals compare."),
    # Target rules: what a target platform requires beyond the Mystore shape; they apply only when loading into
    # a platform listed for them in TARGET_RULES (docs/targets/<platform>.md).
    Rule("product_name_unique", "products", "rename", "target: BigCommerce (names unique, 409)",
         "A product name already taken by an earlier product (source-id order, case-insensitive) gets its SKU: "
         "'Name (SKU)'; without a SKU, or if that is taken too, ' -1', ' -2', ... until unique."),
    Rule("customer_name_required", "customers", "fill", "target: BigCommerce (first_name, last_name required)",
         "An empty first or last name of a customer becomes customer_name_default ('N/A')."),
    Rule("order_item_as_fee", "orders", "fill", "target: WooCommerce (a line item needs a product or SKU)",
         "An order line without a product (rule order_item_product_gone, or none in the source) is written as a fee "
         "line with the line's name and total; its SKU, quantity, price and tax stay in the fee's meta data and "
         "read back as the order line."),
    Rule("refund_line_without_order_line", "orders", "map",
         "target: WooCommerce (a refund line names an order line item by its id)",
         "A refund line is written as the refund's line item on the order line written for its source line, so "
         "WooCommerce records the refunded quantity there. A refund line whose source line is not an order line "
         "item on the target (none named, one the order does not hold, or one written as a fee line by rule "
         "order_item_as_fee) goes without it: the refund is written with its full amount and its other lines, "
         "and the order is counted by this rule."),
    Rule("review_status_nearest", "reviews", "map", "target: BigCommerce (approved, pending, disapproved only)",
         "A spam or trashed review becomes rejected (BigCommerce's disapproved): kept, and not shown."),
    Rule("review_rejected_as_spam", "reviews", "map",
         "target: WooCommerce (review status approved, hold, spam, unspam, trash, untrash: no rejected)",
         "A rejected review (BigCommerce's disapproved) becomes spam, WooCommerce's nearest: kept, and not shown."),
    Rule("review_title_required", "reviews", "fill", "target: BigCommerce (title required)",
         "A review without a title gets the first line of its text (cut at 60 characters on a word, with '…'), "
         "or 'Rated N of 5' when it has no text."),
    Rule("product_lifecycle_as_status", "products", "map",
         "target: Mystore (one product status: sold or not), BigCommerce (is_visible only); no draft, private or "
         "archived state",
         "A product enabled at the source but not published there (draft, pending, private: Magento's not visible "
         "individually or off the store's website, scheduled, archived, trashed) is written not active (Mystore "
         "status 0, BigCommerce not visible), so the shop does not start selling it and old orders' lines keep "
         "their product."),
    Rule("product_lifecycle_nearest", "products", "map",
         "target: Shopify (ProductStatus ACTIVE, DRAFT, ARCHIVED), WooCommerce (post status publish, draft, "
         "pending, private)",
         "A product's lifecycle the target has no state for is written as the nearest one it has that does not sell "
         "(LIFECYCLE_NEAREST): into Shopify pending, private and scheduled become DRAFT, trashed ARCHIVED; into "
         "WooCommerce archived and trashed become private (WordPress empties its trash after 30 days, and old "
         "orders' lines would lose their product), scheduled a draft (the canonical product has no publish date). "
         "The lifecycles the target has (draft, archived; draft, pending, private) are written as they are."),
    Rule("grouped_as_simple_with_children_listed", "products", "map",
         "target: Shopify, BigCommerce (no grouped product type)",
         "A grouped product is written as a product of its own with the price the source shows for it; its "
         "products load as the products they are, and the report lists each group with its products' source ids "
         "for the shop owner to link them (a collection, a bundle app)."),
    Rule("variant_disabled_not_written", "products", "map",
         "target: Shopify (a variant has no status: a shop that stops selling one deletes it)",
         "A variant the source holds disabled is not written: on Shopify every variant of a product is on sale, "
         "so the shop does not start selling what the source stopped selling. The product and its other variants "
         "load; the report lists each variant left out (product, SKU); old orders keep the variant's SKU, name and "
         "price on their lines."),
    Rule("variants_all_disabled_archived", "products", "map",
         "target: Shopify (a variant has no status; a product has at least one variant; product status ACTIVE, "
         "DRAFT or ARCHIVED)",
         "A product whose variants the source holds all disabled sells nothing there: it is written with all its "
         "variants (SKUs, options, prices), archived (Shopify's ARCHIVED: no longer sold, on no sales channel) — a "
         "draft where the product itself is disabled at the source —, instead of losing every variant to "
         "variant_disabled_not_written and going on sale as one default variant at the product's price. Old "
         "orders' lines keep their product."),
    Rule("refund_date_not_kept", "orders", "map", "target: BigCommerce (a refund request has no date)",
         "A refund reaches the target with its amount, reason and lines, but dated the day it was written: the "
         "target's refund request takes no date. The report lists each such refund with its source date."),
    Rule("refunds_of_unpaid_order_listed", "orders", "map", "target: BigCommerce (no refund of an unpaid order)",
         "An order that is not paid (it would be Pending on the target) and has refunds migrates with its lines and "
         "totals as placed; its refunds are not written (the target refuses a refund of an unpaid order, and the "
         "order's status must stay what the source says). The report lists each of those refunds with its amount."),
)
RULES_BY_NAME = {r.name: r for r in RULES}

# Outside seed 000, but named like rules so the ledger explains every skip.
SCOPE_RULES = {
    "entity_not_selected": "The entity was not selected for this migration.",
    "not_in_demo_sample": "A demo migration moves a random sample (seed 001); this record was not drawn.",
    "target_lacks_entity": "The target platform has no such records (e.g. reviews on Shopify); see docs/targets/.",
}

# Target platform → the target rules (above) its API needs; the local target (no platform) needs none.
TARGET_RULES: dict[str, tuple[str, ...]] = {
    "bigcommerce": ("product_name_unique", "customer_name_required", "review_title_required",
                    "review_status_nearest", "grouped_as_simple_with_children_listed", "refund_date_not_kept",
                    "refunds_of_unpaid_order_listed", "product_lifecycle_as_status"),
    "woocommerce": ("order_item_as_fee", "refund_line_without_order_line", "review_rejected_as_spam",
                    "product_lifecycle_nearest"),
    "shopify": ("grouped_as_simple_with_children_listed", "variant_disabled_not_written",
                "variants_all_disabled_archived", "product_lifecycle_nearest"),
    "mystore": ("product_lifecycle_as_status",),
}

# Rule product_lifecycle_nearest: target platform → source lifecycle (canonical) → the lifecycle written, for each
# lifecycle the target has no state for. Every lifecycle that is not published is written not sold, on every target.
LIFECYCLE_NEAREST: dict[str, dict[str, str]] = {
    # ProductStatus ACTIVE, DRAFT, ARCHIVED (UNLISTED, API 2025-10+, is on sale by direct link: not for these)
    "shopify": {"pending": "draft", "private": "draft", "scheduled": "draft", "trashed": "archived"},
    # post status publish, draft, pending, private (future needs a publish date; trash is emptied after 30 days)
    "woocommerce": {"archived": "private", "trashed": "private", "scheduled": "draft"},
}

# Target platform → the order statuses (after order_status_mapping) it takes a refund on: BigCommerce refuses a
# refund of an order before payment ("You must receive payment of the order before you can issue a refund", Pending
# and Incomplete; the status our BigCommerce target writes for new and unmapped statuses). Rule
# refunds_of_unpaid_order_listed.
REFUNDABLE_STATUSES: dict[str, tuple[str, ...]] = {
    "bigcommerce": ("processing", "completed", "cancelled", "refunded", "on_hold"),
}


@dataclass(frozen=True)
class RuleSettings:
    customer_address_default: str = "N/A"
    order_first_name: str = "N/A"
    order_last_name: str = "N/A"
    order_city: str = "City"
    order_country: str = "SE"  # seed 000: Sweden; countries are ISO 3166-1 alpha-2 codes
    hidden_category_name: str = "Uncategorised (migrated)"
    keep_guest_orders: bool = False
    order_status_map: dict = field(default_factory=dict)  # overrides of ORDER_STATUS_MAP (source → target status)
    preserve_ids: bool = False  # keep source ids on the target where it allows (a load option, not a rule)
    target_platform: str = "mystore"  # whose target rules (TARGET_RULES) and tax-class defaults apply
    customer_name_default: str = "N/A"
    tax_class_map: dict = field(default_factory=dict)  # overrides of TAX_CLASS_MAP[target_platform] (by name)

    def status_map(self) -> dict[str, str]:
        return {**ORDER_STATUS_MAP, **{k.lower(): v for k, v in self.order_status_map.items()}}

    def applies(self, rule: str) -> bool:
        """Whether target rule `rule` applies to this run's target platform."""
        return rule in TARGET_RULES.get(self.target_platform, ())

    def tax_classes(self) -> dict[str, str]:
        """Source tax-class name (lower case, trimmed) → the target's name: the platform defaults, then overrides."""
        defaults = TAX_CLASS_MAP.get(self.target_platform, {})
        return {**defaults, **{k.strip().lower(): v for k, v in self.tax_class_map.items()}}


# Order statuses as the platforms name them → Mystore's (assumed: platforms/mystore/api.py ORDER_STATUSES).
# A status missing here is carried unchanged and counted as `order_status_unmapped` in the report, so the user
# can add it to order_status_map; no order is dropped for its status.
ORDER_STATUS_MAP: dict[str, str] = {
    # canonical / Magento
    "pending": "new", "processing": "processing", "complete": "completed", "canceled": "cancelled",
    "refunded": "refunded", "on_hold": "on_hold", "holded": "on_hold", "closed": "refunded",
    "pending_payment": "new", "payment_review": "on_hold", "fraud": "on_hold",
    # WooCommerce
    "on-hold": "on_hold", "completed": "completed", "cancelled": "cancelled", "failed": "cancelled",
    "checkout-draft": "new",
    # BigCommerce (status names)
    "incomplete": "new", "awaiting payment": "new", "awaiting fulfillment": "processing",
    "awaiting shipment": "processing", "awaiting pickup": "processing", "partially shipped": "processing",
    "shipped": "completed", "declined": "cancelled", "disputed": "on_hold", "manual verification required": "on_hold",
    "partially refunded": "refunded",
    # Shopify (financial / fulfillment)
    "paid": "processing", "authorized": "new", "partially_paid": "new", "voided": "cancelled",
    "partially_refunded": "refunded", "fulfilled": "completed", "unfulfilled": "processing",
}


# Tax classes by name → the target platform's own classes, where the pair needs it: the built-in classes of one
# platform become the other's (WooCommerce "Standard"/"Reduced rate"/"Zero rate", WooCommerce docs "Setting up
# Taxes"; BigCommerce "Default Tax Class"/"Non-Taxable Products"/"Shipping"/"Gift Wrapping", tax_classes.v2 of
# bigcommerce/api-specs; Magento "Taxable Goods"). Shopify has no tax classes at all (target_lacks_entity); Mystore
# classes are free names, carried unless mapped. Other names are carried and counted as tax_class_unmapped.
# WooCommerce 9 lists its built-in standard class as "Standard rate" (slug standard); older shops say "Standard".
_WOO_BUILTIN = {"standard": "Standard", "standard rate": "Standard", "reduced rate": "Reduced rate",
               "zero rate": "Zero rate"}
TAX_CLASS_MAP: dict[str, dict[str, str]] = {
    "woocommerce": {"default tax class": "Standard", "taxable goods": "Standard",
                    "non-taxable products": "Zero rate", "none": "Zero rate", **_WOO_BUILTIN},
    "bigcommerce": {"standard": "Default Tax Class", "standard rate": "Default Tax Class",
                    "taxable goods": "Default Tax Class",
                    "zero rate": "Non-Taxable Products", "none": "Non-Taxable Products",
                    "default tax class": "Default Tax Class", "non-taxable products": "Non-Taxable Products",
                    "shipping": "Shipping", "gift wrapping": "Gift Wrapping"},
    "mystore": {"default tax class": "Standard", "taxable goods": "Standard",
                "non-taxable products": "Zero rate", **_WOO_BUILTIN},
}


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def filled(expr: str, default: str) -> str:
    """`expr`, or `default` where it is NULL or blank."""
    return f"coalesce(nullif(trim({expr}), ''), {sql_text(default)})"


def is_blank(expr: str) -> str:
    return f"(nullif(trim({expr}), '') IS NULL)"


TRANSLIT_UDF = "cart_translit"


def transliterate(text: str | None) -> str | None:
    """Latin letters for any script (anyascii: æ → ae, ø → o, ß → ss, Ελλάδα → Ellada); symbols such as emoji
    are dropped rather than spelled out (":tada:" is no URL key)."""
    if text is None:
        return None
    return anyascii("".join(ch for ch in text if unicodedata.category(ch) not in ("So", "Sk", "Cs", "Co")))


def register_functions(con: duckdb.DuckDBPyConnection) -> None:
    """The Python functions the rules' SQL calls (url_key), on this connection's database, once."""
    try:  # a call binds in well under a millisecond, where listing duckdb_functions() took 20-30 ms
        con.execute(f"SELECT {TRANSLIT_UDF}(NULL)").fetchall()
    except duckdb.CatalogException:
        con.create_function(TRANSLIT_UDF, transliterate, ["VARCHAR"], "VARCHAR",
                            null_handling="special")


def slug(expr: str) -> str:
    """Mystore URL key of one text: the last path segment (a trailing slash ignored), transliterated, lowercase,
    dashes; '' where nothing is left. Needs register_functions on the connection."""
    last = f"regexp_extract(rtrim(trim({expr}), '/'), '[^/]+$')"
    latin = f"CASE WHEN regexp_matches({last}, '[^\\x00-\\x7F]') THEN {TRANSLIT_UDF}({last}) ELSE {last} END"
    return f"trim(regexp_replace(lower({latin}), '[^a-z0-9]+', '-', 'g'), '-')"


def url_key(*exprs: str, fallback: str | None = None) -> str:
    """Rule url_key_fallback: the first of `exprs` that makes a URL key, else `fallback` (an SQL expression)."""
    parts = [f"nullif({slug(e)}, '')" for e in exprs]
    return f"coalesce({', '.join(parts + ([fallback] if fallback else []))})"


def id_key(entity_word: str, source_id: str = "source_id") -> str:
    """A URL key from an entity and its source id, where neither key nor name makes one: product-66."""
    return f"trim('{entity_word}-' || regexp_replace(lower({source_id}), '[^a-z0-9]+', '-', 'g'), '-')"


def derived_title(text: str, rating: str, width: int = 60) -> str:
    """Rule review_title_required: the first line of the text without HTML, cut on a word at `width` characters
    with '…'; 'Rated N of 5' when there is no text."""
    line = f"trim(split_part(trim(regexp_replace(coalesce({text}, ''), '<[^>]*>', '', 'g')), chr(10), 1))"
    cut = f"coalesce(nullif(regexp_replace(left({line}, {width + 1}), '\\s*\\S*$', ''), ''), left({line}, {width}))"
    return (f"CASE WHEN {line} = '' THEN 'Rated ' || coalesce(CAST({rating} AS VARCHAR), '?') || ' of 5' "
            f"WHEN length({line}) <= {width} THEN {line} ELSE {cut} || '…' END")
