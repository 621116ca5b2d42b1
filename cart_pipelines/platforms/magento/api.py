"""Magento 2 / Adobe Commerce REST API (`<shop URL>/rest[/<store code>]/V1/...`) described as data for the kit's
REST engine.

Lists are searchCriteria searches answering `{items, search_criteria, total_count}`, read by keyset on entity_id
(`entity_id gt <last id>`, always currentPage 1, sorted by entity_id) so records added or deleted while reading
are neither missed nor repeated, in id ranges read in parallel (`IdRanges`, see kit/keyset.py): page 1 says
`total_count`, one record sorted DESC the highest id. Numbered pages would shift, and what a page past the last
returns changed between versions (before 2.4.0 the last page again, magento/magento2#3787, #8099; since #26988 an
empty page). Each filter is its own filter group (groups are ANDed, as Magento documents). Categories (a small
tree) are read one request at a time; the tax tables (a few rows, no entity_id) by page number.

Delta: categories, products, customers and orders filter with `updated_at gt <UTC "Y-m-d H:i:s">`; tax classes
and manufacturer options carry no timestamp and are read whole (they are small).
"""

from __future__ import annotations

from cart_pipelines.platforms.kit.rest import (
    BODY,
    Api,
    Child,
    Endpoint,
    IdRanges,
    PageNumber,
    Since,
    Single,
    from_body,
    next_group,
    search_criteria,
)
from cart_pipelines.platforms.magento import mapping

BASE_PATH = "rest"
PAGE_SIZE = 300  # "Maximum Page Size" default once Web API input limits are enabled (2.4.7+); accepted everywhere
CONCURRENCY = 4
REQUESTS_PER_SECOND = 10.0  # Magento itself has no REST limit; stay politely under typical host/CDN limits

# The ACL resource each entity's endpoint requires (app/code/Magento/*/etc/webapi.xml).
# (creditmemos: Magento_Sales::sales, the Sales module's resource for its documents; configurable children:
# Magento_Catalog::products)
SCOPES = {
    "categories": "Magento_Catalog::categories",
    "manufacturers": "Magento_Catalog::attributes_attributes",
    "tax_classes": "Magento_Tax::manage_tax",
    "products": "Magento_Catalog::products",
    "customers": "Magento_Customer::customer",
    "orders": "Magento_Sales::actions_view",
}
STORE_SCOPE = "Magento_Backend::store"  # store/storeConfigs: connection test, media URL, weight unit

SORTED = search_criteria(sort="entity_id", page=1)  # keyset: always the first page of what is after the last id


def entity_ids(after: int | None, below: int | None, params: dict) -> dict:
    """The keyset bounds as two more filter groups, after the ones already in `params`."""
    found = ([("entity_id", after, "gt")] if after is not None else []) + \
            ([("entity_id", below, "lt")] if below is not None else [])
    return {**params, **search_criteria(found, group=next_group(params))}


KEYSET = IdRanges(entity_ids, size_param="searchCriteria[pageSize]", total=from_body("total_count"),
                  highest=search_criteria(sort="entity_id", direction="DESC", page_size=1))
NUMBERED = PageNumber(param="searchCriteria[currentPage]", size_param="searchCriteria[pageSize]",
                      total=from_body("total_count"))
# The endpoints with a Since have no filter groups of their own, so the time filter is group 0.
UPDATED = Since(build=lambda t: search_criteria([("updated_at", mapping.magento_time(t), "gt")]))
PRODUCT_CLASSES = search_criteria([("class_type", "PRODUCT", "eq")])  # customer tax classes are not migrated


def trimmed(params: dict, fields: str) -> dict:
    """An id-only listing: Magento trims a response to `fields=items[...],total_count`."""
    return {**params, "fields": f"items[{fields}],total_count"}


API = Api(
    platform="Magento",
    base_path=BASE_PATH,
    concurrency=CONCURRENCY,
    defaults=Endpoint(paginator=KEYSET, page_size=PAGE_SIZE, records="items", missing="error"),
    hint="is the URL the shop's address?",
    endpoints={
        "categories": Endpoint("V1/categories/list", params=SORTED, id_field="id", since=UPDATED, concurrency=1,
                               id_params=trimmed(SORTED, "id,level"), what="categories", map=mapping.category),
        # Options of the `manufacturer` attribute: one unpaged list.
        "manufacturers": Endpoint("V1/products/attributes/manufacturer/options", paginator=Single(), records=BODY,
                                  what="manufacturers", map=mapping.manufacturer),
        "tax_classes": Endpoint("V1/taxClasses/search", params=PRODUCT_CLASSES, paginator=NUMBERED,
                                id_field="class_id", id_params=trimmed(PRODUCT_CLASSES, "class_id"),
                                what="tax_classes", map=mapping.tax_class),
        "tax_rates": Endpoint("V1/taxRates/search", paginator=NUMBERED, what="tax rates"),
        "tax_rules": Endpoint("V1/taxRules/search", paginator=NUMBERED, what="tax rules"),
        # A configurable product's variants are its child simple products (ConfigurableProduct getChildren); a
        # grouped product's products are its `product_links` of link_type "associated", named by SKU: one search
        # `sku in (...)` gives their ids, prices, status and websites (the group has no price of its own).
        "products": Endpoint("V1/products", params=SORTED, id_field="id", since=UPDATED,
                             id_params=trimmed(SORTED, "id"), what="products", map=mapping.product,
                             children=(Child("children", Endpoint(
                                 "V1/configurable-products/{sku}/children", paginator=Single(), records=BODY,
                                 what="the child products of configurable product {sku}"),
                                 when=lambda p: p.get("type_id") == "configurable"),
                                 Child("associated", Endpoint(
                                     "V1/products", paginator=Single(), what="the products of grouped product {sku}",
                                     params=trimmed({**search_criteria([("sku", mapping.associated_skus, "in")]),
                                                     **search_criteria(page_size=PAGE_SIZE, page=1)},
                                                    "id,sku,price,status,type_id,extension_attributes,"
                                                    "custom_attributes")),
                                     when=lambda p: p.get("type_id") == "grouped" and
                                     bool(mapping.associated_skus(p))))),
        "customers": Endpoint("V1/customers/search", params=SORTED, id_field="id", since=UPDATED,
                              id_params=trimmed(SORTED, "id"), what="customers", map=mapping.customer),
        # Credit memos (refunds) of the orders that have any (total_refunded above 0).
        "orders": Endpoint("V1/orders", params=SORTED, id_field="entity_id", since=UPDATED,
                           id_params=trimmed(SORTED, "entity_id"), what="orders", map=mapping.order,
                           children=(Child("creditmemos", Endpoint(
                               "V1/creditmemos", params={**SORTED, **search_criteria([("order_id", "{entity_id}", "eq")])},
                               id_field="entity_id", what="the credit memos of order {entity_id}"),
                               when=mapping.was_refunded),)),
        "attribute_options": Endpoint("V1/products/attributes/{code}/options", paginator=Single(), records=BODY,
                                      what="the options of attribute {code}"),
        "store_configs": Endpoint("V1/store/storeConfigs", paginator=Single(), records=BODY,
                                  what="the store configuration"),
    },
)

LISTED = ("categories", "tax_classes", "products", "customers", "orders")  # with an id-only listing
SLICEABLE = ("products", "customers", "orders")  # searchable by entity_id and created_at
# What a 401 probe tries: if any of these answers, the token works.
PROBES = LISTED + ("store_configs",)
