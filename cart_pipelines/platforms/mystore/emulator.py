"""A stateful Mystore API v2 emulator, held to the fact sheet (../shared/mystore-api.md) and seed 000.

- JSON:API at `/shops/{shop}/{type}` (`application/vnd.api+json`, `Authorization: Bearer`): documents
  `{data: {id, type, attributes, relationships}}`, errors `{"errors": [{"title", "status", "detail"}]}`;
  `page[number]`/`page[size]` with `links.next` as a full URL (absent on the last page) and `links.last`,
  404 past the last page; sparse fieldsets (an unknown field → 400); `filter[k][path|value|operator]`;
- the types of schema.py with their methods, mandatory attributes (422) and relationships; multilingual
  attributes are maps keyed by language code; nested lists (`products/{id}/product-variants` …) and
  `{type}/{id}/relationships/{rel}` (PATCH replaces the set); `settings` as plain JSON; `order-status` read-only;
- writes: POST (201) / PATCH (partial) / DELETE (204); `POST atomic-batch` (plain JSON array of operations with
  `{{operation.N.return.M}}` placeholders, all-or-nothing); order-products draw stock down unless their meta
  switches "adjust inventory" off; `POST images` (multipart);
- auth (emulator_auth.py) under `/auth`; a token's scopes (`read:<type>`, `write:<type>`, `*`) gate each call
  (403), an expired token answers 403 "Token has expired or is invalid";
- 120 requests per token in a fixed one-minute window, 429 over it, no rate headers; the kit's fault knobs
  (e.g. `faults={"504": 0.02}`) inject gateway errors.

Every open point is decided in facts.py (ASSUMPTIONS). A generated store passed in is served in Mystore's shape
(emulator_seed.py), so the emulator is a source too; an empty store gives an empty shop to migrate into.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.kit.emulator import Emulator, EmulatorStore, FixedWindow, Knobs
from cart_pipelines.platforms.mystore import facts
from cart_pipelines.platforms.mystore.emulator_auth import AuthServer, token_claims
from cart_pipelines.platforms.mystore.schema import NESTED, TYPES

MAIN_TYPES = ("categories", "manufacturers", "tax-classes", "products", "customers", "orders", "product-reviews")
PLACEHOLDER = re.compile(r"\{\{operation\.(\d+)\.return\.(\d+)\}\}")
# The request budget credentials() gives a client when the emulator's rate limit is off (Knobs.rate_limit=False, for
# tests of other behaviour): 1,000 requests/s, far above what a loopback client sends, so pacing never waits.
UNLIMITED_PER_MINUTE = 60_000
LANGUAGES = ({"code": "no", "name": "Norsk", "sort": 1}, {"code": "en", "name": "English", "sort": 2})
ORDER_STATUSES = (  # an osCommerce-derived shop's own list (ids and names are the shop's, read by clients)
    {"name": {"no": "Venter", "en": "Pending"}, "sort": 1},
    {"name": {"no": "Behandles", "en": "Processing"}, "sort": 2},
    {"name": {"no": "Levert", "en": "Delivered"}, "sort": 3},
    {"name": {"no": "Kansellert", "en": "Cancelled"}, "sort": 4},
    {"name": {"no": "Kreditert", "en": "Refunded"}, "sort": 5},
    {"name": {"no": "På vent", "en": "On hold"}, "sort": 6},
)


class Problem(Exception):
    """A JSON:API error answer."""

    def __init__(self, status: int, detail: str, pointer: str | None = None):
        super().__init__(detail)
        self.status, self.detail, self.pointer = status, detail, pointer


def _now() -> str:
    return datetime.now(timezone.utc).strftime(facts.DATETIME_FORMAT)


def _plain(value):
    return float(value) if isinstance(value, Decimal) else str(value)


def _number(value) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


class MystoreEmulator(AuthServer, Emulator):
    platform = "mystore"
    fault_exempt = ("/auth/",)  # the auth server is not the API under test; expired tokens come by "expire_token"
    fault_methods = ("GET",)
    api_types = tuple(TYPES) + ("settings", "images")
    url_map = Map([
        Rule("/auth/login", endpoint="auth_login", methods=["GET", "POST"]),
        Rule("/auth/home", endpoint="auth_home", methods=["GET"]),
        Rule("/auth/clients", endpoint="auth_clients", methods=["POST"]),
        Rule("/auth/tokens", endpoint="auth_tokens", methods=["POST"]),
        Rule("/auth/oauth/authorize", endpoint="oauth_authorize", methods=["GET"]),
        Rule("/auth/oauth/login", endpoint="oauth_login", methods=["POST"]),
        Rule("/auth/oauth/consent", endpoint="oauth_consent", methods=["POST"]),
        Rule("/auth/oauth/token", endpoint="oauth_token", methods=["POST"]),
        Rule("/shops/<shop>/atomic-batch", endpoint="atomic_batch", methods=["POST"]),
        Rule("/shops/<shop>/settings", endpoint="settings", methods=["GET"]),
        Rule("/shops/<shop>/images", endpoint="images", methods=["POST"]),
        Rule("/shops/<shop>/<type_>", endpoint="collection", methods=["GET", "POST"]),
        Rule("/shops/<shop>/<type_>/<int:id_>", endpoint="item", methods=["GET", "PATCH", "DELETE"]),
        Rule("/shops/<shop>/<type_>/<int:id_>/relationships/<rel>", endpoint="relationship",
             methods=["GET", "PATCH"]),
        Rule("/shops/<shop>/<type_>/<int:id_>/<child>", endpoint="nested", methods=["GET"]),
        Rule("/cdn/users/<path:file>", endpoint="cdn", methods=["GET"]),
    ])

    def __init__(self, store: EmulatorStore | None = None, knobs: Knobs | None = None,
                 token_ttl_s: float | None = None, shop: str = "demobutikk", window_s: float = facts.RATE_WINDOW_S):
        super().__init__(store, knobs)
        self._init_auth(shop, token_ttl_s)
        self.window_s = window_s
        self.windows: dict[str, FixedWindow] = {}  # per token
        self.data: dict[str, dict[int, dict]] = {t: {} for t in TYPES}
        self.next_id = {t: 1 for t in TYPES}
        self.images_stored: dict[str, bytes] = {}
        self.writes = 0
        self.batches = 0
        self.data_lock = threading.RLock()
        self._journal: list | None = None
        self._taken: dict[tuple, int] = {}  # unique values → the record holding them
        for rec in LANGUAGES:
            self._insert("languages", dict(rec), {})
        self._insert("currencies", {"code": "NOK", "title": "Norske kroner", "value": 1.0, "symbol_left": "",
                                    "symbol_right": " kr", "decimal_places": 2}, {})
        for rec in ORDER_STATUSES:
            self._insert("order-status", copy.deepcopy(rec), {})
        self.writes = 0
        if store is not None and store.count("products") + store.count("customers"):
            from cart_pipelines.platforms.mystore.emulator_seed import seed

            seed(self, store)
            self.writes = 0

    def credentials(self) -> dict:
        creds = {"auth_url": f"{self.base_url}/auth", "shop": self.shop, "client_id": self.client_id,
                 "client_secret": self.client_secret, "redirect_uri": self.redirect_uri, "store_name": self.shop,
                 "email": self.admin_email, "password": self.admin_password, "token": self.personal_token}
        if not self.knobs.rate_limit:  # a shop that limits nothing: the client need not pace itself either
            creds["requests_per_minute"] = UNLIMITED_PER_MINUTE
        return creds

    def grant(self, authorize_url: str, decision: str = "authorize") -> str:
        """What the shop owner does in a browser (seed 000): log in, press Authorize. Returns where the browser
        is sent (with the code). Test infrastructure."""
        import requests

        s = requests.Session()
        page = s.get(authorize_url, timeout=10)
        session = re.search(r'name="session"\s+value="([^"]+)"', page.text).group(1)
        s.post(f"{self.base_url}/auth/oauth/login", timeout=10, data={
            "session": session, "store": self.shop, "email": self.admin_email, "password": self.admin_password})
        done = s.post(f"{self.base_url}/auth/oauth/consent", data={"session": session, "decision": decision},
                      timeout=10, allow_redirects=False)
        return done.headers["Location"]

    # --- answers --------------------------------------------------------------------------------------------
    def doc(self, body, status: int = 200) -> Response:
        return Response(json.dumps(body, ensure_ascii=False, default=_plain), status=status,
                        content_type=facts.JSONAPI)

    def problem(self, status: int, detail: str, pointer: str | None = None) -> Response:
        err = {"title": HTTPStatus(status).phrase, "status": str(status), "detail": detail}
        if pointer:
            err["source"] = {"pointer": pointer}
        return self.doc({"errors": [err]}, status)

    def throttled(self, request: Request) -> Response:
        return self.problem(429, "Too Many Attempts.")  # no rate headers: none are documented

    def error(self, request: Request, exc: Exception) -> Response:
        status = exc.code if isinstance(exc, HTTPException) else 500
        return self.problem(status, "Not Found" if status == 404 else str(exc) if status < 500 else "Server Error")

    # --- gate: token, shop, scope, limit --------------------------------------------------------------------
    def _gate(self, request: Request, shop: str, scopes: list[str]) -> Response | None:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        state = self.token_state(token) if token else None
        if state is None:
            return self.problem(403, facts.EXPIRED_DETAIL)
        if shop != self.shop or shop not in token_claims(token).get(facts.TOKEN_CLAIM_SHOPS, []):
            return self.problem(404, f"Shop {shop} not found")
        if self.knobs.rate_limit:
            window = self.windows.setdefault(token_claims(token)["jti"], FixedWindow(facts.RATE_LIMIT, self.window_s))
            if not window.take()[0]:
                return self.throttled(request)
        if "*" not in state["scopes"]:
            missing = [s for s in scopes if s not in state["scopes"]]
            if missing or set(self.knobs.denied_scopes) & set(scopes):
                return self.problem(403, f"{facts.MISSING_SCOPE_DETAIL} ({', '.join(missing or scopes)})")
        elif set(self.knobs.denied_scopes) & set(scopes):
            return self.problem(403, f"{facts.MISSING_SCOPE_DETAIL} ({', '.join(scopes)})")
        return None

    @staticmethod
    def _scope(method: str, type_: str) -> str:
        return facts.read_scope(type_) if method == "GET" else facts.write_scope(type_)

    def _type(self, type_: str, method: str) -> None:
        """Unknown types 404; the read-only lists (order-status, languages, currencies) refuse writes. The staff
        client's CRUD column is what its author implemented, not a proven server limit, so other types take all."""
        if type_ not in TYPES:
            raise Problem(404, "Not Found")
        if method != "GET" and "C" not in TYPES[type_].methods:
            raise Problem(405, f"The {method} method is not supported for {type_}.")

    def _guarded(self, request: Request, shop: str, type_: str, work) -> Response:
        denied = self._gate(request, shop, [self._scope(request.method, type_)])
        if denied:
            return denied
        try:
            status, body = work()
        except Problem as p:
            return self.problem(p.status, p.detail, p.pointer)
        return Response(status=204) if status == 204 else self.doc(body, status)

    # --- store ----------------------------------------------------------------------------------------------
    @staticmethod
    def _unique_keys(type_: str, rec: dict | None) -> list[tuple]:
        """The values that must be unique ([?] facts ASSUMPTIONS "uniqueness"): e-mail, slug per language."""
        if rec is None:
            return []
        attrs = rec["attributes"]
        if type_ == "customers":
            email = (attrs.get("email") or "").strip().lower()
            return [(type_, "email", email)] if email else []
        if type_ in ("products", "categories"):
            return [(type_, f"slug.{lang}", slug) for lang, slug in (attrs.get("slug") or {}).items() if slug]
        return []

    def _reindex(self, type_: str, id_: int, old: dict | None, new: dict | None) -> None:
        for key in self._unique_keys(type_, old):
            if self._taken.get(key) == id_:
                del self._taken[key]
        for key in self._unique_keys(type_, new):
            self._taken[key] = id_

    def _log(self, type_: str, id_: int) -> None:
        if self._journal is not None:
            self._journal.append((type_, id_, copy.deepcopy(self.data[type_].get(id_))))

    def _insert(self, type_: str, attributes: dict, relationships: dict, id_: int | None = None) -> int:
        if id_ is None:
            id_ = self.next_id[type_]
        self.next_id[type_] = max(self.next_id[type_], id_ + 1)
        now = _now()
        attributes.setdefault("created_at", now)
        attributes.setdefault("updated_at", now)
        self._log(type_, id_)
        self.data[type_][id_] = {"attributes": attributes, "relationships": relationships}
        self._reindex(type_, id_, None, self.data[type_][id_])
        self.writes += 1
        return id_

    def resource(self, type_: str, id_: int, fields: set[str] | None = None) -> dict:
        rec = self.data[type_][id_]
        attrs = {k: v for k, v in rec["attributes"].items() if fields is None or k in fields}
        rels = {}
        for name, rel in TYPES[type_].relationships.items():  # a link to a deleted record reads as none (facts)
            value, held = rec["relationships"].get(name), self.data[rel.type]
            if rel.many:
                rels[name] = {"data": [{"type": rel.type, "id": str(i)} for i in (value or []) if i in held]}
            else:
                rels[name] = {"data": {"type": rel.type, "id": str(value)} if value in held else None}
        out = {"type": type_, "id": str(id_), "attributes": attrs}
        if rels:
            out["relationships"] = rels
        if type_ == "product-variants":
            out["meta"] = {"products_stock_attributes": self._stock_attributes(rec)}
        return out

    def _stock_attributes(self, rec: dict) -> str:
        """`<product-option id>-<product-option-value id>` pairs of a variant, comma-separated ([S: GA])."""
        pairs = []
        for aid in rec["relationships"].get("product-attributes") or []:
            a = self.data["product-attributes"].get(aid)
            if a:
                pairs.append(f"{a['relationships'].get('product-option')}-{a['relationships'].get('product-option-value')}")
        return ",".join(pairs)

    # --- validation of a write ------------------------------------------------------------------------------
    def _parse(self, type_: str, body, id_: int | None) -> tuple[dict, dict, dict]:
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise Problem(400, "The request body must be a JSON:API document with a data member.")
        data = body["data"]
        if data.get("type") != type_:
            raise Problem(409, f"The resource type {data.get('type')!r} does not match the endpoint {type_}.",
                          "/data/type")
        if id_ is not None and str(data.get("id")) != str(id_):
            raise Problem(409, "The resource id does not match the endpoint.", "/data/id")
        spec = TYPES[type_]
        attrs = data.get("attributes") or {}
        for k, v in attrs.items():
            if k not in spec.attributes or k in spec.read_only:
                raise Problem(400, f"The attribute {k} is not a writable attribute of {type_}.", f"/data/attributes/{k}")
            if k in spec.multilingual and v is not None and not (
                    isinstance(v, dict) and all(isinstance(x, str) and (y is None or isinstance(y, str))
                                                for x, y in v.items())):
                raise Problem(422, f"The {k} must be an object keyed by language code.", f"/data/attributes/{k}")
        rels = {}
        for name, value in (data.get("relationships") or {}).items():
            rel = spec.relationships.get(name)
            if rel is None:
                raise Problem(400, f"The relationship {name} does not exist on {type_}.", f"/data/relationships/{name}")
            rels[name] = self._linkage(rel, (value or {}).get("data"), name)
        new_id = data.get("id")
        if id_ is None and new_id is not None and not facts.CLIENT_IDS:
            raise Problem(403, "Client-generated ids are not supported.", "/data/id")
        return attrs, rels, body.get("meta") or {}

    def _linkage(self, rel, data, name: str):
        items = data if rel.many else [data]
        if rel.many and not isinstance(data, list):
            raise Problem(400, f"The relationship {name} takes a list of resource identifiers.")
        ids = []
        for item in items:
            if item is None:
                continue
            if not isinstance(item, dict) or item.get("type") != rel.type:
                raise Problem(422, f"The relationship {name} must point at {rel.type}.", f"/data/relationships/{name}")
            try:
                rid = int(item.get("id"))
            except (TypeError, ValueError):
                raise Problem(422, f"The {name} id {item.get('id')!r} is not valid.") from None
            if rid not in self.data[rel.type]:
                raise Problem(422, f"The selected {name} ({rel.type} {rid}) does not exist.",
                              f"/data/relationships/{name}")
            ids.append(rid)
        return ids if rel.many else (ids[0] if ids else None)

    def _check(self, type_: str, rec: dict, id_: int | None) -> None:
        spec, attrs, rels = TYPES[type_], rec["attributes"], rec["relationships"]
        for a in spec.required:
            v = attrs.get(a)
            if v in (None, "") or (a in spec.multilingual and not any((v or {}).values())):
                raise Problem(422, f"The {a} field is required.", f"/data/attributes/{a}")
        for name, rel in spec.relationships.items():
            if rel.required and not rels.get(name):
                raise Problem(422, f"The {name} relationship is required.", f"/data/relationships/{name}")
        for key in self._unique_keys(type_, rec):  # [?] e-mail per shop, slug per language (no category path)
            if self._taken.get(key, id_) != id_:
                raise Problem(422, f"The {key[1]} has already been taken.", f"/data/attributes/{key[1].split('.')[0]}")
        # The shop's content rules judge the main records (not their rows of options, totals, redirects), per
        # record by its identity, so a retry of the same record is refused again.
        identity = attrs.get("sku") or attrs.get("email") or attrs.get("reference") or attrs.get("slug") \
            or attrs.get("title") or attrs.get("name")
        if id_ is None and type_ in MAIN_TYPES and self.rejects(f"{type_}:{json.dumps(identity, sort_keys=True)}"):
            raise Problem(422, "The record was refused by the store's content rules.")

    # --- writes ---------------------------------------------------------------------------------------------
    def create(self, type_: str, body) -> tuple[int, dict]:
        attrs, rels, meta = self._parse(type_, body, None)
        rec = {"attributes": dict(attrs), "relationships": {n: rels.get(n, [] if r.many else None)
                                                            for n, r in TYPES[type_].relationships.items()}}
        with self.data_lock:
            self._check(type_, rec, None)
            id_ = self._insert(type_, rec["attributes"], rec["relationships"],
                               int(body["data"]["id"]) if facts.CLIENT_IDS and body["data"].get("id") else None)
            if type_ == "order-products":
                self._adjust_inventory(rec, +1, meta)
        return facts.CREATE_STATUS, {"data": self.resource(type_, id_)}

    def update(self, type_: str, id_: int, body) -> tuple[int, dict]:
        attrs, rels, meta = self._parse(type_, body, id_)
        with self.data_lock:
            current = self.data[type_].get(id_)
            if current is None:
                raise Problem(404, f"{type_} {id_} not found")
            rec = {"attributes": {**current["attributes"], **attrs, "updated_at": _now()},
                   "relationships": {**current["relationships"], **rels}}
            self._check(type_, rec, id_)
            if type_ == "order-products" and "quantity" in attrs:
                self._adjust_inventory(current, -1, meta)
                self._adjust_inventory(rec, +1, meta)
            self._log(type_, id_)
            self._reindex(type_, id_, current, rec)
            self.data[type_][id_] = rec
            self.writes += 1
        return 200, {"data": self.resource(type_, id_)}

    def remove(self, type_: str, id_: int) -> tuple[int, dict]:
        with self.data_lock:
            if id_ not in self.data[type_]:
                raise Problem(404, f"{type_} {id_} not found")
            self._log(type_, id_)
            self._reindex(type_, id_, self.data[type_][id_], None)
            del self.data[type_][id_]
            self.writes += 1
        return 204, {}

    def _adjust_inventory(self, rec: dict, sign: int, meta: dict) -> None:
        """An order-product draws its quantity from the variant (or the product) unless the document's meta
        switches "adjust inventory" off ([S: MS] docs appendix 6; key and default: facts.ADJUST_INVENTORY_*)."""
        if not meta.get(facts.ADJUST_INVENTORY_META, facts.ADJUST_INVENTORY_DEFAULT):
            return
        qty = int(_number(rec["attributes"].get("quantity")) or 0) * sign
        variant = rec["relationships"].get(facts.VARIANT_LINK)
        product = rec["relationships"].get("product")
        target = ("product-variants", variant) if variant else ("products", product) if product else None
        if target and target[1] in self.data[target[0]]:
            self._log(*target)
            held = self.data[target[0]][target[1]]["attributes"]
            held["quantity"] = int(_number(held.get("quantity")) or 0) - qty

    # --- endpoints ------------------------------------------------------------------------------------------
    def collection(self, request: Request, shop: str, type_: str) -> Response:
        def work():
            self._type(type_, request.method)
            if request.method == "POST":
                return self.create(type_, request.get_json(silent=True))
            return 200, self._list(request, type_, sorted(self.data[type_]))
        return self._guarded(request, shop, type_, work)

    def item(self, request: Request, shop: str, type_: str, id_: int) -> Response:
        def work():
            self._type(type_, "GET" if request.method == "GET" else request.method)
            if request.method == "PATCH":
                return self.update(type_, id_, request.get_json(silent=True))
            if request.method == "DELETE":
                return self.remove(type_, id_)
            if id_ not in self.data[type_]:
                raise Problem(404, f"{type_} {id_} not found")
            return 200, {"data": self.resource(type_, id_, self._fields(request, type_))}
        return self._guarded(request, shop, type_, work)

    def relationship(self, request: Request, shop: str, type_: str, id_: int, rel: str) -> Response:
        def work():
            self._type(type_, "GET" if request.method == "GET" else "PATCH")
            spec = TYPES[type_].relationships.get(rel)
            rec = self.data[type_].get(id_)
            if spec is None or rec is None:
                raise Problem(404, "Not Found")
            if request.method == "PATCH":
                body = request.get_json(silent=True) or {}
                value = self._linkage(spec, body.get("data"), rel)
                with self.data_lock:
                    self._log(type_, id_)
                    rec["relationships"][rel] = value
                    rec["attributes"]["updated_at"] = _now()
                    self.writes += 1
            return 200, {"data": self.resource(type_, id_)["relationships"][rel]["data"]}
        return self._guarded(request, shop, type_, work)

    def nested(self, request: Request, shop: str, type_: str, id_: int, child: str) -> Response:
        def work():
            if (type_, child) not in NESTED or id_ not in self.data.get(type_, {}):
                raise Problem(404, "Not Found")
            link = NESTED[type_, child]
            parent = self.data[type_][id_]
            parent_rel = TYPES[type_].relationships.get(link)
            if parent_rel is not None and parent_rel.type == child and parent_rel.many:
                ids = [i for i in parent["relationships"].get(link) or [] if i in self.data[child]]
            else:
                ids = []
                for cid, c in self.data[child].items():
                    value = c["relationships"].get(link)
                    if value == id_ or (isinstance(value, list) and id_ in value):
                        ids.append(cid)
            return 200, self._list(request, child, sorted(ids))
        return self._guarded(request, shop, child, work)

    def settings(self, request: Request, shop: str) -> Response:
        denied = self._gate(request, shop, [facts.read_scope("settings")])
        if denied:
            return denied
        return self.json({"default_language": "no", "store_name": self.shop, "default_currency": "NOK",
                          "full_image_cdn_base_url": f"{self.base_url}/cdn/users/{self.shop}_mystore_no/images/"})

    def images(self, request: Request, shop: str) -> Response:
        denied = self._gate(request, shop, [facts.write_scope("images")])
        if denied:
            return denied
        upload = request.files.get(facts.IMAGE_UPLOAD_FIELD)
        if upload is None or not upload.filename:
            return self.problem(422, f"The {facts.IMAGE_UPLOAD_FIELD} field is required.")
        name = re.sub(r"[^A-Za-z0-9._-]", "-", upload.filename.rsplit("/", 1)[-1]).lower()
        if name.rsplit(".", 1)[-1] not in facts.IMAGE_TYPES:
            return self.problem(422, f"The image must be a file of type: {', '.join(facts.IMAGE_TYPES)}.")
        with self.data_lock:
            stem, _, ext = name.rpartition(".")
            n = 1
            while name in self.images_stored:
                name, n = f"{stem}-{n}.{ext}", n + 1
            self.images_stored[name] = upload.read()
            self.writes += 1
        return self.json({"file_name": name, "url": f"{self.base_url}/cdn/users/{self.shop}_mystore_no/images/{name}"},
                         201)

    def cdn(self, request: Request, file: str) -> Response:
        name = file.rsplit("/", 1)[-1]
        if name not in self.images_stored:
            return Response("Not Found", status=404)
        return Response(self.images_stored[name], content_type="image/" + name.rsplit(".", 1)[-1])

    # --- reading --------------------------------------------------------------------------------------------
    def _fields(self, request: Request, type_: str) -> set[str] | None:
        raw = request.args.get(f"fields[{type_}]")
        if raw is None:
            return None
        fields = {f.strip() for f in raw.split(",") if f.strip()}
        unknown = fields - set(TYPES[type_].attributes)
        if unknown:
            raise Problem(400, f"The field(s) {', '.join(sorted(unknown))} do not exist on {type_}.")
        return fields

    def _filters(self, request: Request, type_: str) -> list[tuple[str, str, str]]:
        found: dict[str, dict] = {}
        for key, value in request.args.items():
            m = re.fullmatch(r"filter\[([^\]]+)\]\[(path|value|operator)\]", key)
            if m:
                found.setdefault(m.group(1), {})[m.group(2)] = value
            elif key.startswith("filter["):
                raise Problem(400, f"The filter {key} is not valid: use filter[key][path], [value] and [operator].")
        out = []
        for key, f in found.items():
            path, op = f.get("path", key), f.get("operator", "=")
            if path != "id" and path not in TYPES[type_].attributes:
                raise Problem(400, f"The filter path {path} does not exist on {type_}.")
            if op not in facts.FILTER_OPERATORS:
                raise Problem(400, f"The filter operator {op} is not valid.")
            if "value" not in f:
                raise Problem(400, f"The filter {key} has no value.")
            out.append((path, op, f["value"]))
        return out

    @staticmethod
    def _match(value, op: str, wanted: str) -> bool:
        if isinstance(value, dict):  # a multilingual attribute: any language
            return any(MystoreEmulator._match(v, op, wanted) for v in value.values())
        if op == "=":
            return value is not None and str(value) == wanted
        a, b = _number(value), _number(wanted)
        if a is not None and b is not None:
            return a >= b
        return value is not None and str(value) >= wanted  # datetimes in one format compare as text

    def _list(self, request: Request, type_: str, ids: list[int]) -> dict:
        fields = self._fields(request, type_)
        filters = self._filters(request, type_)
        try:
            number = int(request.args.get("page[number]", 1))
            size = int(request.args.get("page[size]", facts.PAGE_SIZE_DEFAULT))
        except ValueError:
            raise Problem(400, "page[number] and page[size] must be integers.") from None
        if number < 1 or size < 1:
            raise Problem(400, "page[number] and page[size] must be positive.")
        size = min(size, facts.PAGE_SIZE_MAX)
        with self.data_lock:
            rows = self.data[type_]
            if filters:
                ids = [i for i in ids if all(
                    self._match(i if path == "id" else rows[i]["attributes"].get(path), op, value)
                    for path, op, value in filters)]
            last = max(1, -(-len(ids) // size))
            if number > last and number > 1:
                raise Problem(facts.PAST_LAST_PAGE, "Not Found")
            chunk = [self.resource(type_, i, fields) for i in ids[(number - 1) * size: number * size]]
        self.delay(len(chunk))
        base = request.base_url
        keep = [(k, v) for k, v in request.args.items(multi=True) if not k.startswith("page[")]

        def link(n: int) -> str:
            return f"{base}?{urlencode(keep + [('page[number]', n), ('page[size]', size)])}"

        links = {"self": link(number), "first": link(1), "last": link(last)}
        if number < last:
            links["next"] = link(number + 1)
        if number > 1:
            links["prev"] = link(number - 1)
        return {"data": chunk, "links": links, "meta": {}}

    # --- atomic batch ---------------------------------------------------------------------------------------
    def atomic_batch(self, request: Request, shop: str) -> Response:
        ops = request.get_json(silent=True)
        if not isinstance(ops, list) or not ops:
            return self.problem(400, "The body must be a JSON array of operations.")
        if len(ops) > facts.ATOMIC_BATCH_MAX:
            return self.problem(400, f"An atomic batch takes at most {facts.ATOMIC_BATCH_MAX} operations.")
        kinds = []
        for op in ops:
            type_ = self._op_type(op, shop)
            if type_ is None:
                return self.problem(400, f"Operation path {str(op.get('path') if isinstance(op, dict) else op)[:80]} "
                                         f"is not a resource of shop {shop}.")
            kinds.append(self._scope(str(op.get("method", "GET")).upper(), type_))
        denied = self._gate(request, shop, sorted(set(kinds)))
        if denied:
            return denied
        with self.data_lock:
            self._journal, next_ids, results, returns = [], dict(self.next_id), [], []
            writes = self.writes
            try:
                for n, op in enumerate(ops, 1):
                    status, body = self._run_op(op, shop, returns, n)
                    if status >= 400:
                        raise Problem(status, f"Operation {n} failed: "
                                              f"{'; '.join(e['detail'] for e in body.get('errors', []))}")
                    returns.append([self._dig(body, path) for path in op.get("return") or []])
                    results.append({"status": status, "body": body, "return": returns[-1]})
            except Problem as p:
                for type_, id_, previous in reversed(self._journal):  # all or nothing
                    self._reindex(type_, id_, self.data[type_].get(id_), previous)
                    if previous is None:
                        self.data[type_].pop(id_, None)
                    else:
                        self.data[type_][id_] = previous
                self.next_id = {t: max(v, next_ids[t]) for t, v in self.next_id.items()}  # ids are not reused
                self.writes = writes
                return self.problem(p.status, p.detail)
            finally:
                self._journal = None
            self.batches += 1
        return self.json(results)

    @staticmethod
    def _op_type(op, shop: str) -> str | None:
        if not isinstance(op, dict):
            return None
        m = re.fullmatch(rf"/?shops/{re.escape(shop)}/([a-z-]+)(/.*)?", str(op.get("path", "")).split("?")[0])
        return m.group(1) if m and m.group(1) in TYPES else None

    def _run_op(self, op: dict, shop: str, returns: list, n: int) -> tuple[int, dict]:
        def fill(text: str) -> str:
            def one(m):
                i, j = int(m.group(1)), int(m.group(2))
                if not (1 <= i < n) or not (1 <= j <= len(returns[i - 1])):
                    raise Problem(400, f"Operation {n}: placeholder {m.group(0)} refers to no earlier return value.")
                return str(returns[i - 1][j - 1])
            return PLACEHOLDER.sub(one, text)

        method = str(op.get("method", "")).upper()
        path = fill(str(op["path"])).split("?")[0]
        body = json.loads(fill(json.dumps(op.get("body")))) if op.get("body") is not None else None
        parts = path.strip("/").split("/")[2:]  # after shops/{shop}
        try:
            type_ = parts[0]
            self._type(type_, method if method != "GET" else "GET")
            if len(parts) == 1 and method == "POST":
                return self.create(type_, body)
            if len(parts) == 2 and method in ("PATCH", "DELETE"):
                return self.update(type_, int(parts[1]), body) if method == "PATCH" else self.remove(type_, int(parts[1]))
            if len(parts) == 4 and parts[2] == "relationships" and method == "PATCH":
                rel, id_ = parts[3], int(parts[1])
                spec = TYPES[type_].relationships.get(rel)
                if spec is None or id_ not in self.data[type_]:
                    raise Problem(404, f"{path} not found")
                value = self._linkage(spec, (body or {}).get("data"), rel)
                self._log(type_, id_)
                self.data[type_][id_]["relationships"][rel] = value
                self.writes += 1
                return 200, {"data": self.resource(type_, id_)["relationships"][rel]["data"]}
            raise Problem(400, f"{method} {path} is not an operation an atomic batch can run.")
        except Problem as p:
            return p.status, {"errors": [{"title": HTTPStatus(p.status).phrase, "status": str(p.status),
                                          "detail": p.detail}]}
        except (ValueError, IndexError):
            return 400, {"errors": [{"title": "Bad Request", "status": "400", "detail": f"{method} {path} is not valid"}]}

    @staticmethod
    def _dig(body: dict, path: str):
        value = body
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    # --- for tests: records as plain dicts ------------------------------------------------------------------
    def records(self, type_: str) -> list[dict]:
        with self.data_lock:
            return [self.resource(type_, i) for i in sorted(self.data[type_])]
