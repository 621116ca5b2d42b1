"""PrestaShop Webservice (`<shop URL>/api/`) described as data for the kit's REST engine.

Every request asks `output_format=JSON` (PrestaShop answers XML otherwise) and `display=full` (else a list holds
ids only). Lists page by keyset on id: `sort=[id_ASC]`, `filter[id]=>[last id read]`, `limit=100` — PrestaShop
returns no total and `limit=offset,count` pages shift when records are deleted meanwhile; one page at a time (no
total to cut id ranges by), a product page's three linked lists together: at most 3 requests in flight (the shop's
own PHP does the work; PrestaShop has no rate limit, its host decides).

A list answers `{"<resource>": [...]}`, or `[]` when nothing matched (WebserviceOutputJSON adds nothing).
Records a page links to (a product's combinations and stock, a customer's addresses, an order's rows, buyer and
addresses) are read per page with one `filter[id_...]=[a|b|...]` request each, in source.py.

Delta: `filter[date_upd]=>[shop-local time]` with `date=1` (without it PrestaShop refuses date filters, code 32);
source.py builds it, since the shop's time zone is only known once connected.
"""

from __future__ import annotations

import re

from cart_pipelines.platforms.kit.rest import Api, Endpoint, IdRanges

BASE_PATH = "api"
PAGE_SIZE = 100  # PrestaShop has no maximum; 100 full products keep a response near 1 MB
CONCURRENCY = 3  # lists go one page at a time (no total to cut ranges by); a page's linked lists read together
FULL = {"output_format": "JSON", "display": "full", "sort": "[id_ASC]"}


def listed(resource: str):
    """The records of `{"<resource>": [...]}`; `[]` is an empty list; anything else is no list (None)."""
    def records(body):
        if isinstance(body, dict):
            return body.get(resource) if isinstance(body.get(resource), list) else None if body else []
        return [] if body == [] else None
    return records


def id_window(after: int | None, below: int | None, params: dict) -> dict:
    """Keyset bounds as one `filter[id]`: `>[after]`, or `[lo,hi]` (between, inclusive) with an upper bound too.
    A caller's own id filter is kept inside: a range `[lo,hi]` (a backfill slice) or a list `[a|b|...]` (records
    linked to a page), trimmed to the ids after the last one read."""
    out = dict(params)
    own = str(out.pop("filter[id]", "") or "")
    listed_ids = re.fullmatch(r"\[(\d+(?:\|\d+)*)\]", own)
    if listed_ids:
        keep = [i for i in map(int, listed_ids.group(1).split("|"))
                if (after is None or i > after) and (below is None or i < below)]
        out["filter[id]"] = f"[{'|'.join(map(str, keep))}]" if len(keep) != 1 else f"[{keep[0]}]"
        if not keep:
            out["filter[id]"] = "[-2,-1]"  # nothing left: an empty range (no id is negative)
        return out
    lo = hi = None
    own_range = re.fullmatch(r"\[(\d+),(\d+)\]", own)
    if own_range:
        lo, hi = int(own_range.group(1)), int(own_range.group(2))
    elif own:
        out["filter[id]"] = own  # another form: passed on as the caller wrote it, read in one page
        return out
    if after is not None:
        lo = max(after + 1, lo or 0)
    if below is not None:
        hi = min(below - 1, hi if hi is not None else below - 1)
    if hi is not None:
        lo = lo or 0
        out["filter[id]"] = f"[{lo},{hi}]" if lo <= hi else "[-2,-1]"
    elif lo is not None:
        out["filter[id]"] = f">[{lo - 1}]"
    return out


API = Api(
    platform="PrestaShop",
    base_path=BASE_PATH,
    concurrency=CONCURRENCY,
    defaults=Endpoint(paginator=IdRanges(id_window, size_param="limit"), page_size=PAGE_SIZE, id_field="id",
                      params=FULL, missing="error"),
    id_only={"display": "[id]"},
    hint="is the shop URL the shop's address (the Webservice is under /api/)?",
    endpoints={
        "categories": Endpoint("categories", records=listed("categories"), what="categories"),
        "manufacturers": Endpoint("manufacturers", records=listed("manufacturers"), what="manufacturers (brands)"),
        "tax_rule_groups": Endpoint("tax_rule_groups", records=listed("tax_rule_groups"), what="tax rule groups"),
        "tax_rules": Endpoint("tax_rules", records=listed("tax_rules"), what="tax rules"),
        "taxes": Endpoint("taxes", records=listed("taxes"), what="taxes"),
        "products": Endpoint("products", records=listed("products"), what="products"),
        "combinations": Endpoint("combinations", records=listed("combinations"), what="combinations"),
        "stock_availables": Endpoint("stock_availables", records=listed("stock_availables"), what="stock"),
        "specific_prices": Endpoint("specific_prices", records=listed("specific_prices"), what="specific prices"),
        "product_options": Endpoint("product_options", records=listed("product_options"), what="product options"),
        "product_option_values": Endpoint("product_option_values", records=listed("product_option_values"),
                                          what="product option values"),
        # Guests (is_guest 1) are the customer rows of guest orders, and deleted 1 is a customer deleted without
        # leave to register again: neither is a customer to migrate.
        "customers": Endpoint("customers", records=listed("customers"), what="customers",
                              params={"filter[is_guest]": "[0]", "filter[deleted]": "[0]"}),
        "addresses": Endpoint("addresses", records=listed("addresses"), what="addresses"),
        "orders": Endpoint("orders", records=listed("orders"), what="orders"),
        "order_details": Endpoint("order_details", records=listed("order_details"), what="order rows"),
        "order_slip": Endpoint("order_slip", records=listed("order_slips"), what="credit slips (refunds)"),
        "order_states": Endpoint("order_states", records=listed("order_states"), what="order states"),
        "currencies": Endpoint("currencies", records=listed("currencies"), what="currencies"),
        "countries": Endpoint("countries", records=listed("countries"), what="countries"),
        "configurations": Endpoint("configurations", records=listed("configurations"), what="the shop configuration"),
    },
)
