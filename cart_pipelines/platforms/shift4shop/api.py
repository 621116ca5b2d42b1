"""Shift4Shop (3dCart) REST API v1 (`https://apirest.3dcart.com/3dCartWebAPI/v1/`) described as data for the kit.

Every list is a JSON array paged with `limit` + `offset`, where `offset` is the position of the first record,
counted from 1 (the docs' default); the docs name no maximum `limit`: 200 is read (what skuvault-integrations'
3dCartAccess reads products with; API2Cart advises 100 or less). An offset past the last record answers 404
"Offset amount exceeds the total number of records", so a list that ends on a full page ends with that 404
(`missing="empty"`). `countonly=1` answers `{"TotalCount": n}` but costs a request of its own, so pages are read
one after another until a short one.

Delta: products, customers and orders filter with `lastupdatestart` (`mm/dd/yyyy hh:mm:ss`, in the store's time);
categories and manufacturers have no filter (they carry `LastUpdate`, and are small: read whole).

Returns: `RMA` lists the store's RMAs (store-wide; no per-order listing), each with its RMAItemList; where none match
it answers 404 "No RMAs found", which ends the list as an empty one.
"""

from __future__ import annotations

from cart_pipelines.platforms.kit.rest import Api, Endpoint, Offset

PAGE_SIZE = 200
REQUESTS_PER_SECOND = 4.0  # Shift4Shop publishes no limit; paced like a polite client (see docs/platforms/shift4shop.md)

API = Api(
    platform="Shift4Shop",
    base_path="3dCartWebAPI/v1",
    defaults=Endpoint(paginator=Offset(start=1), page_size=PAGE_SIZE, missing="empty"),
    hint="is the API URL https://apirest.3dcart.com?",
    endpoints={
        "categories": Endpoint("Categories", id_field="CategoryID", what="categories"),
        "manufacturers": Endpoint("Manufacturers", id_field="ManufacturerID", what="manufacturers"),
        "products": Endpoint("Products", id_field="CatalogID", what="products"),
        "customers": Endpoint("Customers", id_field="CustomerID", what="customers"),
        "orders": Endpoint("Orders", id_field="OrderID", what="orders"),
        "order_statuses": Endpoint("OrderStatus", id_field="OrderStatusID", what="order statuses"),
        # store-wide only (no per-order listing): filters rmastatusid, rmareasonid, rmamethodid, catalogid, sku,
        # datestart/dateend; 404 "No RMAs found" where none match (missing="empty")
        "rmas": Endpoint("RMA", id_field="RMAID", what="RMAs (returns)"),
    },
)
