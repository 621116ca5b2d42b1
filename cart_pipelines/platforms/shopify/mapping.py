"""What a Shopify shop can hold of the canonical model's statuses, declared from Shopify's docs (the emulator
serves the store this way, and the contract tests compare what the source reads with the store as Shopify holds it:
kit/emulator_cases.py, tests/helpers.py `as_held`). Shopify JSON ↔ canonical records are mapped in source.py (read)
and target_map.py (write).
"""

# A Shopify variant has no status of its own (ProductVariant: id, sku, price, compareAtPrice, inventoryQuantity,
# selectedOptions, position, ... — the Admin schema, ../shared/specs/shopify; no enabled/disabled, no visibility):
# every variant a product has is on sale, and a shop that stops selling one deletes it (productVariantsBulkDelete).
# So a disabled variant is not in a Shopify shop; into Shopify, target rule variant_disabled_not_written.
VARIANT_STATUS_HELD = False
# A product keeps at least one variant (productSet refuses an empty list): a shop that sells none of a product's
# variants archives the product (ProductStatus ARCHIVED, "no longer being sold"), its variants kept.
VARIANTS_ALL_DISABLED_LIFECYCLE = "archived"
