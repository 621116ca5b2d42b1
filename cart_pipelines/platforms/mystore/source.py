"""Mystore as a source: API v2 (JSON:API) read-only, for shops that leave Mystore or move between Mystore shops.

Connect with a Personal Access Token ($MYSTORE_SOURCE_TOKEN, read permissions ticked) or an OAuth client
(`cart-pipelines authorize --source`); the shop name comes from the token (connection.py, shared with the target).

The lists, paging (`links.next`), filters and sub-resources are data in `source_api.py`, the mapping in
`source_mapping.py`; what stays here is what Mystore does differently:

- 120 requests/min per token, a fixed window with no rate headers: paced client-side, 429 and 5xx retried
  (api.MystoreApi); an expired OAuth token (403 "Token has expired or is invalid") is refreshed once;
- multilingual values in the shop's default language and image URLs under its CDN base, both from `settings`;
- a full read takes the sub-resources (variants, option rows, specials, order lines, their options, totals) as
  whole lists into a temporary DuckDB file keyed by parent (`Parts`): a request per 100 rows instead of one per
  product, and memory bounded by a page; a delta reads the changed records' own nested lists, and also the
  records whose sub-resources alone changed (their parents, read one by one);
- categories are mapped with the whole tree at hand (paths need every ancestor);
- deletions: id-only listings (the list with a sparse fieldset of one attribute).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Iterator

from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import ConnectionProblem, HttpSettings
from cart_pipelines.platforms.kit.parts import Parts
from cart_pipelines.platforms.kit.rest import RestReader
from cart_pipelines.platforms.kit.source import Source, SourceRecord, as_source_record, read_record
from cart_pipelines.platforms.mystore import facts
from cart_pipelines.platforms.mystore import source_mapping as sm
from cart_pipelines.platforms.mystore.api import expired
from cart_pipelines.platforms.mystore.connection import DEFAULT_REDIRECT, Connection, credentials, rate_of
from cart_pipelines.platforms.mystore.mapping import local
from cart_pipelines.platforms.mystore.source_api import API, NESTED, ORDER_PARTS, PAGE_SIZE, PRODUCT_PARTS, TYPES

__all__ = ["CARRIED", "PAGE_SIZE", "SCOPES", "MystoreSource"]

TOKEN_FILE = "data/secrets/mystore-source-token.json"  # the OAuth tokens, when no MYSTORE_SOURCE_TOKEN_FILE is given
# The permission each entity needs (facts.READ_SCOPE), and every one the source reads with.
SCOPES = {entity: facts.read_scope(t) for entity, t in TYPES.items()}
READS = ("settings", *TYPES.values(), *(t for t, _ in (*PRODUCT_PARTS.values(), *ORDER_PARTS.values())),
         "product-options", "product-option-values", "order-status")

# Canonical fields that come back exactly from a shop seeded with the generator's store. Left out, and why
# (docs/platforms/mystore.md): product url_key (Mystore slugs hold no category path), variant ids and order
# item ids (Mystore's own rows), images (file names on the shop's CDN), tax rates (one per class, no
# country), order customer_id (a link to a deleted customer reads as none), customer names (required on Mystore: an empty one is held as "N/A"), customer addresses beyond one delivery and one billing address; reviews (Mystore holds only reviews
# with both a product and a customer, so a shop seeded from the generator's store has fewer; no titles, statuses).
CARRIED = {
    "categories": ("source_id", "parent_id", "name", "path", "url_key", "is_visible", "position", "updated_at"),
    "manufacturers": ("source_id", "name", "url_key", "updated_at"),
    "tax_classes": ("source_id", "name", "updated_at"),
    "products": ("source_id", "sku", "name", "description_html", "price", "special_price", "weight", "stock",
                 "status", "category_ids", "manufacturer_id", "tax_class_id", "created_at", "updated_at"),
    "customers": ("source_id", "email", "phone", "newsletter", "created_at", "updated_at"),
    "orders": ("source_id", "number", "email", "status", "currency", "subtotal", "shipping", "tax",
               "discount", "grand_total", "created_at", "updated_at"),
}


class _Reader(RestReader):
    """The kit's reader, with Mystore's token renewal: a 403 "Token has expired or is invalid" refreshes the
    OAuth token once and asks again (a Personal Access Token cannot be refreshed: that is explained)."""

    def __init__(self, conn: Connection):
        super().__init__(API, conn.api.client, verify=conn.verify)
        self.conn = conn

    def get(self, path: str, params: dict | None = None, what: str = ""):
        try:
            return super().get(path, params, what)
        except ConnectionProblem as exc:
            if not expired(exc):
                raise
            self.conn.api.renew()
            return super().get(path, params, what)


class MystoreSource(Source):
    platform = "mystore"
    supports_delta = True
    BASE_URL = "api_url"
    CREDENTIALS = (
        *credentials("MYSTORE_SOURCE_", TOKEN_FILE),
        Credential("ca_file", "MYSTORE_SOURCE_CA_FILE", "CA file to trust", default=""),
    )
    NON_SECRET = ("api_url", "auth_url", "redirect_uri", "token_file", "shop", "ca_file")

    def __init__(self, conn: Connection):
        self.conn = conn
        self.oauth, self.tokens = conn.oauth, conn.tokens  # what `cart-pipelines authorize --source` uses
        self._reader: _Reader | None = None
        self._settings: dict | None = None

    @classmethod
    def connect(cls, base_url: str, credentials: dict, verify=True, settings: HttpSettings | None = None):
        c = {k: v for k, v in credentials.items() if v not in (None, "")}
        return cls(Connection(
            token=c.get("token", ""), client_id=c.get("client_id", ""), client_secret=c.get("client_secret", ""),
            redirect_uri=c.get("redirect_uri") or DEFAULT_REDIRECT, token_file=c.get("token_file") or TOKEN_FILE,
            shop=c.get("shop", ""),
            api_url=base_url or facts.API_BASE, auth_url=c.get("auth_url") or facts.AUTH_BASE,
            verify=c.get("ca_file") or verify, scopes=tuple(facts.read_scope(t) for t in READS),
            rate=rate_of(c, "MYSTORE_SOURCE_"), env="MYSTORE_SOURCE_"))

    # --- connection
    @property
    def reader(self) -> _Reader:
        if self._reader is None:
            self._reader = _Reader(self.conn)
        return self._reader

    @property
    def client(self):
        return self.reader.client

    def describe(self) -> str:
        return self.conn.describe()

    def check(self) -> str:
        """One cheap authenticated request: the shop's settings (its default language and currency)."""
        s = self.settings()
        return (f"{self.describe()}: default language {s.get('default_language')!r}, currency "
                f"{s.get('default_currency', '?')}")

    def settings(self) -> dict:
        if self._settings is None:
            self._settings = self.conn.api.settings() or {}
        return self._settings

    @property
    def lang(self) -> str:
        return self.settings().get("default_language") or "no"

    # --- entities
    def records(self, entity: str, updated_since: datetime | None = None) -> Iterator[SourceRecord]:
        if entity not in TYPES:
            raise ValueError(f"Mystore has no entity {entity!r}")
        return (as_source_record(n, rec) for n, rec in enumerate(self._canonical(entity, updated_since), start=1))

    def ids(self, entity: str) -> Iterator[str] | None:
        """Id-only listings for finding deletions (100 ids a request)."""
        return self.reader.ids(entity)

    def _canonical(self, entity: str, since: datetime | None) -> Iterator[dict]:
        lang = self.lang
        if entity == "categories":  # the whole tree first, for paths (a shop has at most a few thousand)
            rows = self.reader.all("categories")
            tree = {str(c["id"]): c for c in rows}
            keep = (lambda c: True) if since is None else self._changed_since(since)
            yield from (read_record("Mystore", entity, sm.category, c, tree, lang) for c in rows if keep(c))
        elif entity == "products":
            yield from self._with_parts(entity, since, PRODUCT_PARTS, self._product_mapper())
        elif entity == "orders":
            yield from self._with_parts(entity, since, ORDER_PARTS, self._order_mapper())
        elif entity == "tax_classes":
            yield from self._plain(entity, since, sm.tax_class)
        elif entity == "customers":
            yield from self._plain(entity, since, sm.customer)
        else:  # manufacturers, reviews
            yield from self._plain(entity, since, lambda r: {"manufacturers": sm.manufacturer,
                                                             "reviews": sm.review}[entity](r, lang))

    @staticmethod
    def _changed_since(since: datetime):
        mark = since.astimezone(timezone.utc).strftime(facts.DATETIME_FORMAT)
        return lambda r: str(sm.attrs(r).get("updated_at") or "")[:19] >= mark

    def _plain(self, entity: str, since: datetime | None, fn) -> Iterator[dict]:
        for page in self.reader.pages(entity, since=since):
            yield from (read_record("Mystore", entity, fn, r) for r in page)

    # --- records with sub-resources
    def _with_parts(self, entity: str, since: datetime | None, kinds: dict, mapper) -> Iterator[dict]:
        """Records of `entity` with their sub-resources, mapped by `mapper(record, parts by kind)`."""
        if since is None:
            parts = Parts(prefix="mystore-parts-")
            try:
                for kind, (type_, link) in kinds.items():
                    parts.add(kind, self.reader.pages(type_, what=f"{type_} (all)"),
                              lambda r, link=link: sm.link(r, link))
                for page in self.reader.pages(entity):
                    found = {kind: parts.of(kind, [str(r["id"]) for r in page]) for kind in kinds}
                    if "line_options" in found:  # keyed by line, not by order
                        lines = [str(i["id"]) for got in found["lines"].values() for i in got]
                        found["line_options"] = parts.of("line_options", lines)
                    for r in page:
                        yield read_record("Mystore", entity, mapper, r, found)
            finally:
                parts.close()
            return
        # A delta: the changed records with their own nested lists, then the records whose sub-resources alone
        # changed (read one by one; one deleted meanwhile is left out, as the deletion check will find).
        seen: set[str] = set()
        endpoint = replace(API.endpoint(entity), children=NESTED[entity])
        for page in self.reader.rows(endpoint, since=since):
            for row in page:
                seen.add(str(row.record.get("id")))
                yield read_record("Mystore", entity, mapper, row.record, self._found(row.record, row.children))
        stale = {}
        for kind, (type_, link) in kinds.items():
            link = "order" if kind == "line_options" else link  # a line's options also name the order
            for got in self.reader.pages(type_, since=since, what=f"{type_} changed"):
                stale.update({p: None for r in got if (p := sm.link(r, link)) and p not in seen})
        for parent in stale:
            try:
                doc = self.reader.get(f"{TYPES[entity]}/{parent}", what=f"{entity} {parent}").json()["data"]
            except ConnectionProblem as exc:
                if exc.kind == "not_found":
                    continue
                raise
            children = {c.name: self.reader.all(c.endpoint, parent=doc) for c in NESTED[entity]}
            yield read_record("Mystore", entity, mapper, doc, self._found(doc, children))

    def _found(self, record: dict, children: dict[str, list[dict]]) -> dict[str, dict[str, list[dict]]]:
        """One record's nested lists in the shape a full read gives (by kind, by parent id)."""
        rid = str(record.get("id"))
        found = {kind: {rid: rows} for kind, rows in children.items()}
        if "lines" in children:
            found["line_options"] = {str(i["id"]): self.reader.all("line_options_of", parent=i)
                                     for i in children["lines"]}
        return found

    def _product_mapper(self):
        lang, now = self.lang, datetime.now(timezone.utc)
        cdn = self.settings().get("full_image_cdn_base_url") or ""
        names = {str(o["id"]): local(sm.attrs(o).get("name"), lang) for o in self.reader.all("product-options")}
        values = {str(v["id"]): local(sm.attrs(v).get("name"), lang) for v in self.reader.all("product-option-values")}

        def mapper(r: dict, found: dict) -> dict:
            rid = str(r["id"])
            return sm.product(r, found["variants"].get(rid, []), found["attributes"].get(rid, []),
                              found["specials"].get(rid, []), lang, cdn, names, values, now)
        return mapper

    def _order_mapper(self):
        lang = self.lang
        statuses = {str(s["id"]): s for s in self.reader.all("order-status")}

        def mapper(r: dict, found: dict) -> dict:
            rid = str(r["id"])
            return sm.order(r, found["lines"].get(rid, []), found["line_options"], found["totals"].get(rid, []),
                            statuses, lang)
        return mapper

