"""The target shape: the Mystore-shaped tables every target is read back into (DuckDB column definitions), so the
same post-load checks verify the local store and every API target."""

ADDRESS = ("STRUCT(first_name VARCHAR, last_name VARCHAR, company VARCHAR, street VARCHAR, city VARCHAR, "
           "postcode VARCHAR, region VARCHAR, country VARCHAR, phone VARCHAR)")
CUSTOMER_ADDRESS = ADDRESS[:-1] + ", is_default_billing BOOLEAN, is_default_shipping BOOLEAN)"
# a refund as the target holds it: amount paid back (positive), and the lines where the source gave them
REFUND = ("STRUCT(source_id VARCHAR, amount DECIMAL(12,2), reason VARCHAR, created_at TIMESTAMPTZ, "
          "lines STRUCT(item_id VARCHAR, sku VARCHAR, qty BIGINT, amount DECIMAL(12,2))[])")

TABLES = {
    "categories": "parent_id VARCHAR, name VARCHAR NOT NULL, url_key VARCHAR, hidden BOOLEAN, position INTEGER, "
                  "updated_at TIMESTAMPTZ",
    "manufacturers": "name VARCHAR NOT NULL, url_key VARCHAR, updated_at TIMESTAMPTZ",
    "tax_classes": "name VARCHAR NOT NULL, rates STRUCT(country VARCHAR, rate DECIMAL(6,3))[], "
                    "updated_at TIMESTAMPTZ",
    "products": (
        "sku VARCHAR, name VARCHAR NOT NULL, description VARCHAR, price DECIMAL(12,2) NOT NULL, "
        "special_price DECIMAL(12,2), special_price_from TIMESTAMPTZ, special_price_to TIMESTAMPTZ, weight DOUBLE, "
        "stock BIGINT, active BOOLEAN, type VARCHAR, lifecycle VARCHAR, external_url VARCHAR, button_text VARCHAR, "
        "child_ids VARCHAR[], url_key VARCHAR, category_ids VARCHAR[], manufacturer_id VARCHAR, tax_class_id VARCHAR, "
        "variants STRUCT(source_id VARCHAR, sku VARCHAR, price DECIMAL(12,2), stock BIGINT, "
        "options STRUCT(name VARCHAR, value VARCHAR)[])[], "
        "images STRUCT(url VARCHAR, position INTEGER, alt VARCHAR)[], created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ"),
    "customers": (
        f"email VARCHAR NOT NULL, first_name VARCHAR, last_name VARCHAR, phone VARCHAR, newsletter BOOLEAN, "
        f"addresses {CUSTOMER_ADDRESS}[], password_hash VARCHAR, password_algorithm VARCHAR, "
        f"created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ"),
    "orders": (
        f"order_number VARCHAR, customer_id VARCHAR NOT NULL, email VARCHAR, customer_first_name VARCHAR NOT NULL, "
        f"customer_last_name VARCHAR NOT NULL, status VARCHAR, currency VARCHAR NOT NULL, subtotal DECIMAL(12,2), "
        f"shipping DECIMAL(12,2), tax DECIMAL(12,2), discount DECIMAL(12,2), grand_total DECIMAL(12,2) NOT NULL, "
        f"refunds {REFUND}[], refunded_total DECIMAL(12,2), "
        f"items STRUCT(source_id VARCHAR, product_id VARCHAR, sku VARCHAR, name VARCHAR, qty BIGINT, "
        f"price DECIMAL(12,2), tax DECIMAL(12,2))[], billing_address {ADDRESS}, shipping_address {ADDRESS}, "
        f"created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ"),
    "reviews": (
        "product_id VARCHAR NOT NULL, customer_id VARCHAR NOT NULL, rating INTEGER, title VARCHAR, text VARCHAR, "
        "status VARCHAR, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ"),
}
