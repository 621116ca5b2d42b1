"""PrestaShop source: the Webservice API under `<shop URL>/api/`, read-only, in JSON.

In the shop's back office, Advanced Parameters → Webservice: enable the webservice and add a key with View (GET)
on the resources in SCOPES (docs/platforms/prestashop.md). The key is the Basic-auth user, the password empty.

The lists, paging and record selectors are data in `api.py`, the mapping in `mapping.py`; what stays here is what
PrestaShop does differently:
- the shop's default language (PS_LANG_DEFAULT), time zone (PS_TIMEZONE) and weight unit (PS_WEIGHT_UNIT) are read
  from `configurations` first: texts are per language and dates shop-local wall-clock time;
- linked records are read per page of 100 with one `[a|b|...]` filter each: a product's combinations and
  stock_availables (stock lives there, not on the product) and specific_prices (sale prices), a customer's
  addresses, an order's order_details, its buyer (a customers row; a guest's has is_guest 1) and its invoice and
  delivery addresses;
- errors come as `{"errors": [{code, message}]}`: a resource the key may not read is 401 code 26, explained as a
  missing permission naming the resource; a switched-off webservice 503 code 22 is said at once, not retried;
- delta: `filter[date_upd]=>[...]&date=1` in shop-local time, an hour earlier than asked (a DST change repeats an
  hour of wall-clock times) — never filtered again here by the returned date_upd, which for products comes from
  another table than the one filtered (PrestaShop/PrestaShop#42263: the filter may match records whose returned
  date_upd is older). Combination and stock edits do not touch the product's date_upd (Combination and
  StockAvailable carry no dates), so a products delta also re-reads every product with combinations; a stock change
  of a product without combinations is only seen by a full migration (docs/platforms/prestashop.md);
- backfill slices by id (`filter[id]=[a,b]`) and by creation date (`filter[date_add]=[a,b]&date=1`, shop-local).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from cart_pipelines.platforms.kit.auth import HTTPBasicAuth
from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import (
    ConnectionProblem,
    Explainer,
    HttpClient,
    HttpSettings,
    pages_in_order,
    safe_url,
)
from cart_pipelines.platforms.kit.rest import RestReader
from cart_pipelines.platforms.kit.source import (
    ApiSource,
    Slice,
    SliceNotPossible,
    SourceRecord,
    as_source_record,
    read_record,
)
from cart_pipelines.platforms.prestashop import mapping
from cart_pipelines.platforms.prestashop.api import API, CONCURRENCY, PAGE_SIZE

__all__ = ["CARRIED", "PAGE_SIZE", "SCOPES", "PrestaShopSource", "PrestaShopExplainer"]

# The resources each entity reads; the key needs View (GET) on each (and on configurations, for the shop's
# language and time zone). The first of each is what the entity's own list needs.
SCOPES = {"categories": "categories", "manufacturers": "manufacturers", "tax_classes": "tax_rule_groups",
          "products": "products", "customers": "customers", "orders": "orders"}
NEEDED = ("configurations", "categories", "manufacturers", "tax_rule_groups", "tax_rules", "taxes", "countries",
          "products", "combinations", "stock_availables", "specific_prices", "product_options", "product_option_values",
          "customers",
          "addresses", "orders", "order_details", "order_slip", "order_states", "currencies")
ENDPOINT = {"tax_classes": "tax_rule_groups"}
DST_OVERLAP = timedelta(hours=1)
KG = {"kg": Decimal(1), "g": Decimal("0.001"), "lb": Decimal("0.45359237"), "lbs": Decimal("0.45359237"),
      "oz": Decimal("0.028349523125")}

# Canonical fields that come back exactly. Left out, and why (docs/platforms/prestashop.md): every created/updated
# date (PrestaShop keeps shop-local wall-clock time: the hour a DST change repeats cannot be told apart); category
# url_key (link_rewrite is the last segment only); product url_key, stock (with combinations PrestaShop keeps their
# sum), variants (combination ids), images (PrestaShop serves image files, their URLs are the shop's own); customer
# phone (on addresses only); order customer names (PrestaShop orders have none: the buyer's current record) and
# items (order_detail ids); reviews (no reviews in PrestaShop's core: the productcomments module has no webservice
# resource).
CARRIED = {
    "categories": ("source_id", "parent_id", "name", "path", "is_visible", "position"),
    "manufacturers": ("source_id", "name", "url_key"),
    "tax_classes": ("source_id", "name", "rates"),
    "products": ("source_id", "sku", "name", "description_html", "price", "special_price", "weight", "status",
                 "category_ids",
                 "manufacturer_id", "tax_class_id"),
    "customers": ("source_id", "email", "first_name", "last_name", "newsletter", "addresses", "password_hash",
                  "password_algorithm"),
    "orders": ("source_id", "number", "customer_id", "email", "status", "currency", "subtotal", "shipping", "tax",
               "discount", "grand_total"),
}

PERMISSION_HINT = ("in the shop's back office under Advanced Parameters → Webservice, edit the key and tick View "
                   "(GET) for {resource}")


def ps_error(response: requests.Response) -> tuple[str, str]:
    try:
        return mapping.error(response.json())
    except ValueError:
        return mapping.error(response.text)


class PrestaShopExplainer(Explainer):
    """PrestaShop's own codes: 26 (no permission on the resource, HTTP 401), 25 (the method not granted, 405) and
    132 (the key not associated with this shop, 403) are permissions, not credentials; 22 is the webservice
    switched off."""

    def problem(self, response: requests.Response, what: str) -> ConnectionProblem:
        code, message = ps_error(response)
        if code in ("25", "26"):  # 26: 'Resource of type "x" is not allowed ...'; 25: '... the resource x with ...'
            named = re.search(r'type "([^"]+)"|resource (\S+) with', message)
            resource = next((g for g in named.groups() if g), "the resource") if named else "the resource"
            return ConnectionProblem("permission", f"PrestaShop refused {what} (HTTP {response.status_code}, code "
                                     f"{code}): the webservice key works but may not read {resource} — "
                                     f"{PERMISSION_HINT.format(resource=resource)}. The platform said: {message}",
                                     response.status_code)
        if code == "132":  # multistore: the key is not associated with the shop asked
            return ConnectionProblem("permission", "PrestaShop refused the key for this shop (HTTP 403, code 132): "
                                     "in Advanced Parameters → Webservice, edit the key and tick this shop under "
                                     f"Shop association. The platform said: {message}", 403)
        if code == "22":
            return ConnectionProblem("permission", "PrestaShop's webservice is switched off (HTTP 503, code 22): in "
                                     "the back office under Advanced Parameters → Webservice, set Enable "
                                     "PrestaShop's webservice to Yes.", 503)
        return super().problem(response, what)


EXPLAINER = dict(platform="PrestaShop", credential_fields=("Store URL", "Webservice key"),
                 permission_hint=PERMISSION_HINT.format(resource="the resources listed in the guide"),
                 error_message=lambda r: " ".join(x for x in ps_error(r) if x) or None)


class PrestaShopSource(ApiSource):
    platform = "prestashop"
    supports_delta = True
    BASE_URL = "shop_url"
    CREDENTIALS = (
        Credential("shop_url", "PRESTASHOP_SHOP_URL", "Store URL"),
        Credential("webservice_key", "PRESTASHOP_WEBSERVICE_KEY", "Webservice key", secret=True),
        # Only for a key without View on configurations: the shop's PS_TIMEZONE, e.g. Europe/Paris.
        Credential("timezone", "PRESTASHOP_TIMEZONE", "Shop time zone", default=""),
    )

    def __init__(self, shop_url: str, credentials: dict, verify=True, settings: HttpSettings | None = None):
        # The shop's address; the Webservice's own (…/api) is taken too, as users often paste that.
        self.shop_url = shop_url.rstrip("/").removesuffix("/api") if isinstance(shop_url, str) else shop_url
        self.explainer = PrestaShopExplainer(**EXPLAINER)
        self.client = HttpClient(API.url(self.shop_url), self.explainer, settings=settings, verify=verify,
                                 auth=HTTPBasicAuth(credentials["webservice_key"], ""), on_response=self._switched_off)
        self.reader = RestReader(API, self.client, verify=verify)
        self.timezone = credentials.get("timezone") or ""
        self._shop: dict | None = None
        self._lookups: dict[str, dict] = {}

    def _switched_off(self, response: requests.Response) -> None:
        # A 503 is retried as a passing outage; PrestaShop's code 22 is no outage: say so at once.
        if response.status_code == 503 and ps_error(response)[0] == "22":
            raise self.explainer.problem(response, "the webservice")

    def describe(self) -> str:
        return f"PrestaShop shop {safe_url(self.shop_url)} (Webservice API)"

    def check(self) -> str:
        shop = self.shop()
        response = self.reader.get("products", {"output_format": "JSON", "display": "[id]", "limit": "1"},
                                   "the connection test")
        version = response.headers.get("PSWS-Version", "?")
        return (f"PrestaShop {version} shop {safe_url(self.shop_url)}: reads products (language {shop['lang']}, "
                f"time zone {shop['tz'].key})")

    def has(self, entity: str) -> bool:
        # Reviews are no part of PrestaShop's core: the productcomments module keeps them, without a webservice
        # resource.
        return entity in CARRIED

    # --- the shop's settings and small lookups --------------------------------------------------------------------
    def shop(self) -> dict:
        if self._shop is None:
            try:
                rows = self.reader.all("configurations", {"display": "[name,value]", "filter[name]":
                                                          "[PS_LANG_DEFAULT|PS_TIMEZONE|PS_WEIGHT_UNIT]"})
                config = {r.get("name"): r.get("value") for r in rows}
            except ConnectionProblem as exc:
                if exc.kind != "permission" or not self.timezone:
                    if exc.kind == "permission":
                        raise ConnectionProblem("permission", f"{exc} Or set PRESTASHOP_TIMEZONE to the shop's "
                                                f"time zone (Shop Parameters → General → Time zone).",
                                                exc.status) from None
                    raise
                config = {}
            name = self.timezone or config.get("PS_TIMEZONE") or "UTC"
            try:
                tz = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ConnectionProblem("bad_request", f"PrestaShop: the shop's time zone {name!r} is not a known "
                                        f"IANA zone; set PRESTASHOP_TIMEZONE (e.g. Europe/Paris)") from None
            lang = config.get("PS_LANG_DEFAULT") or "1"
            self._shop = {"lang": lang, "tz": tz, "kg": KG.get((config.get("PS_WEIGHT_UNIT") or "kg").lower(),
                                                               Decimal(1))}
        return self._shop

    def _lookup(self, name: str, key: str = "id", value=None, params: dict | None = None) -> dict:
        if name not in self._lookups:
            rows = self.reader.all(name, params)
            self._lookups[name] = {str(r[key]): (r if value is None else value(r)) for r in rows}
        return self._lookups[name]

    def _linked(self, endpoint: str, field: str, ids, params: dict | None = None) -> list[dict]:
        """Records of `endpoint` whose `field` is one of `ids`, in requests of at most a page of ids each."""
        ids = sorted({str(i) for i in ids if i not in (None, "", "0")}, key=int)
        out = []
        for start in range(0, len(ids), PAGE_SIZE):
            part = ids[start:start + PAGE_SIZE]
            value = f"[{'|'.join(part)}]" if len(part) > 1 else f"[{part[0]}]"
            out += self.reader.all(endpoint, {**(params or {}), f"filter[{field}]": value})
        return out

    # --- reading --------------------------------------------------------------------------------------------------
    def _since(self, since: datetime | None) -> dict:
        if since is None:
            return {}
        return {"date": "1", "filter[date_upd]": mapping.since_window(since, self.shop()["tz"], DST_OVERLAP)}

    def records(self, entity: str, updated_since: datetime | None = None) -> Iterator[SourceRecord]:
        return (as_source_record(n, r) for n, r in enumerate(self._canonical(entity, self._since(updated_since)),
                                                             start=1))

    def records_in(self, entity: str, part: Slice) -> Iterator[SourceRecord]:
        """An id range as `filter[id]=[first,last]`, a creation window as `filter[date_add]=[first,last]` with
        `date=1` (both between, inclusive: the end is one id or second before the slice's)."""
        if entity not in CARRIED or entity == "tax_classes":
            raise SliceNotPossible(f"PrestaShop: {entity} are not read in slices; migrate them with full_migration")
        if part.field == "id":
            window = {"filter[id]": f"[{part.start},{part.end - 1}]"}
        else:
            tz = self.shop()["tz"]
            window = {"date": "1", "filter[date_add]": f"[{mapping.local(part.start, tz)},"
                                                       f"{mapping.local(part.end - timedelta(seconds=1), tz)}]"}
        return (as_source_record(n, r) for n, r in enumerate(self._canonical(entity, window), start=1))

    def id_bounds(self, entity: str) -> tuple[int, int | None, int | None]:
        """PrestaShop gives no count: one id-only listing of the whole resource (`display=[id]`) says all three."""
        if entity not in CARRIED:
            raise SliceNotPossible(f"PrestaShop has no {entity}")
        ep = API.endpoint(ENDPOINT.get(entity, entity))
        response = self.reader.get(ep.path, {**ep.params, "display": "[id]"}, f"{entity} ids")
        ids = [int(r["id"]) for r in ep.records(response.json()) or []]
        return len(ids), min(ids, default=None), max(ids, default=None)

    def ids(self, entity: str) -> Iterator[str] | None:
        return self.reader.ids(ENDPOINT.get(entity, entity)) if entity in CARRIED else None

    def _canonical(self, entity: str, params: dict) -> Iterator[dict]:
        if entity not in CARRIED:
            raise ValueError(f"PrestaShop has no entity {entity!r}")
        shop = self.shop()
        lang, tz = shop["lang"], shop["tz"]
        if entity == "categories":  # the whole tree, for paths; a delta keeps the changed ones
            rows = self.reader.all("categories")
            tree = {str(c["id"]): c for c in rows}
            tops = {k for k, c in tree.items() if str(c.get("id_parent")) in ("0", "") or
                    str(c.get("is_root_category")) == "1"}
            wanted = None if not params else {str(c["id"]) for c in self.reader.all("categories", params)}
            for c in rows:
                if str(c["id"]) not in tops and (wanted is None or str(c["id"]) in wanted):
                    yield read_record("PrestaShop", entity, mapping.category, c, tree, tops, lang, tz)
            return
        if entity == "manufacturers":
            for page in self.reader.pages("manufacturers", params):
                yield from (read_record("PrestaShop", entity, mapping.manufacturer, r, tz) for r in page)
            return
        if entity == "tax_classes":
            rules = self.reader.all("tax_rules")
            by_group: dict[str, list] = {}
            for r in rules:
                by_group.setdefault(str(r.get("id_tax_rules_group")), []).append(r)
            rates = {str(t["id"]): t.get("rate") for t in self.reader.all("taxes")}
            countries = self._countries()
            for page in self.reader.pages("tax_rule_groups", params):
                yield from (read_record("PrestaShop", entity, mapping.tax_class, g, by_group.get(str(g["id"]), []),
                                        rates, countries, tz) for g in page)
            return
        yield from getattr(self, f"_{entity}")(params, lang, tz)

    def _countries(self) -> dict[str, str]:
        return self._lookup("countries", value=lambda r: r.get("iso_code"), params={"display": "[id,iso_code]"})

    def _option_values(self) -> dict[str, tuple[str, str]]:
        lang = self.shop()["lang"]
        groups = self._lookup("product_options", value=lambda r: mapping.text(r.get("public_name") or r.get("name"),
                                                                              lang))
        return self._lookup("product_option_values", value=lambda r: (
            groups.get(str(r.get("id_attribute_group")), ""), mapping.text(r.get("name"), lang)))

    def _products(self, params: dict, lang, tz) -> Iterator[dict]:
        tops = {k for k, c in self._lookup("categories", params={"display": "[id,id_parent,is_root_category]"})
                .items() if str(c.get("id_parent")) in ("0", "") or str(c.get("is_root_category")) == "1"}
        values = self._option_values()
        kg = self.shop()["kg"]
        now = datetime.now(timezone.utc)
        seen: set[str] = set()

        def listing():
            yield from self.reader.pages("products", params)
            if "filter[date_upd]" in params:  # combination edits leave the product's date_upd alone
                yield from self.reader.pages("products", {"filter[cache_default_attribute]": ">[0]"})

        for page in listing():
            page = [p for p in page if str(p.get("id")) not in seen]
            seen.update(str(p.get("id")) for p in page)
            if not page:
                continue
            ids = [p["id"] for p in page]
            with_combinations = [p["id"] for p in page if mapping.ids(p, "combinations")]
            # The page's three linked lists at once (Api.concurrency bounds the requests in flight).
            linked = pages_in_order(lambda args: self._linked(*args) if args[2] else [], [
                ("combinations", "id_product", with_combinations),
                ("stock_availables", "id_product", ids, {"display": "[id,id_product,id_product_attribute,quantity]"}),
                ("specific_prices", "id_product", ids)], CONCURRENCY)
            found_combos, found_stock, found_prices = linked
            combos: dict[str, list] = {}
            for c in found_combos:
                combos.setdefault(str(c.get("id_product")), []).append(c)
            stock = {(str(s.get("id_product")), str(s.get("id_product_attribute"))): int(s.get("quantity") or 0)
                     for s in found_stock}
            prices: dict[str, list] = {}
            for sp in found_prices:
                prices.setdefault(str(sp.get("id_product")), []).append(sp)
            for p in page:
                rec = read_record("PrestaShop", "products", mapping.product, p, combos.get(str(p["id"]), []), stock,
                                  values, tops, self.shop_url, lang, tz, prices.get(str(p["id"]), []), now)
                if kg != 1 and isinstance(rec.get("weight"), float):
                    rec["weight"] = float(Decimal(str(rec["weight"])) * kg)
                yield rec

    def _customers(self, params: dict, lang, tz) -> Iterator[dict]:
        countries = self._countries()
        for page in self.reader.pages("customers", params):
            addresses: dict[str, list] = {}
            for a in self._linked("addresses", "id_customer", [c["id"] for c in page], {"filter[deleted]": "[0]"}):
                addresses.setdefault(str(a.get("id_customer")), []).append(a)
            yield from (read_record("PrestaShop", "customers", mapping.customer, c, addresses.get(str(c["id"]), []),
                                    countries, tz) for c in page)

    def _orders(self, params: dict, lang, tz) -> Iterator[dict]:
        countries = self._countries()
        currencies = self._lookup("currencies", value=lambda r: r.get("iso_code"), params={"display": "[id,iso_code]"})
        try:
            states = self._lookup("order_states", params={"display": "[id,paid,shipped]"})
        except ConnectionProblem as exc:  # the installed states' ids are known without it
            if exc.kind != "permission":
                raise
            states = {}
        for page in self.reader.pages("orders", params):
            details: dict[str, list] = {}
            for d in self._linked("order_details", "id_order", [o["id"] for o in page]):
                details.setdefault(str(d.get("id_order")), []).append(d)
            slips: dict[str, list] = {}  # refunds: the orders' credit slips
            for s in self._linked("order_slip", "id_order", [o["id"] for o in page]):
                slips.setdefault(str(s.get("id_order")), []).append(s)
            buyers = {str(c["id"]): c for c in self._linked(
                "customers", "id", [o.get("id_customer") for o in page],
                {"display": "[id,email,firstname,lastname,is_guest]", "filter[is_guest]": None,
                 "filter[deleted]": None})}
            addresses = {str(a["id"]): a for a in self._linked(
                "addresses", "id", [o.get(k) for o in page for k in ("id_address_invoice", "id_address_delivery")])}
            for o in page:
                yield read_record("PrestaShop", "orders", mapping.order, o, details.get(str(o["id"]), []),
                                  buyers.get(str(o.get("id_customer"))), addresses, currencies, countries, states, tz,
                                  slips.get(str(o["id"]), []))
