"""A stateful Mystore emulator: the OAuth2 authorization-code flow of seed 000 and the resource API assumed in
platforms/mystore/api.py, with Mystore's required fields (seed 000), unique URL keys and e-mails, a rate limit,
and everything written readable back — so a migration is verified by reading the target, not our own writes.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from urllib.parse import urlencode

from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.kit.emulator import (
    Emulator,
    EmulatorStore,
    FixedWindow,
    Knobs,
)
from cart_pipelines.platforms.mystore import api as api

BY_PATH = {v: k for k, v in api.RESOURCES.items()}
REFS = {  # field → entity it must exist in
    "categories": {"parent_id": "categories"},
    "products": {"manufacturer_id": "manufacturers", "tax_class_id": "tax_classes"},
    "orders": {"customer_id": "customers"},
    "reviews": {"product_id": "products", "customer_id": "customers"},
}

FORM = """<!doctype html><html lang="no"><head><meta charset="utf-8"><title>Mystore API</title></head><body>
<h1>Mystore API</h1>{body}</body></html>"""


class MystoreEmulator(Emulator):
    platform = "mystore"
    # The owner's login and the token endpoint stay reliable: write faults test the resource API. (A lost answer
    # to a rotating refresh would need a new authorization; expired tokens are injected by "expire_token".)
    fault_exempt = ("/oauth/",)
    url_map = Map([
        Rule("/oauth/authorize", endpoint="authorize", methods=["GET"]),
        Rule("/oauth/login", endpoint="login", methods=["POST"]),
        Rule("/oauth/consent", endpoint="consent", methods=["POST"]),
        Rule("/oauth/token", endpoint="token", methods=["POST"]),
        Rule(f"{api.API_PREFIX}/<resource>", endpoint="collection", methods=["GET", "POST"]),
        Rule(f"{api.API_PREFIX}/<resource>/batch", endpoint="batch", methods=["POST"]),
        Rule(f"{api.API_PREFIX}/<resource>/<int:id_>", endpoint="item", methods=["GET", "PATCH", "DELETE"]),
    ])

    def __init__(self, store: EmulatorStore | None = None, knobs: Knobs | None = None, token_ttl_s: float = None):
        super().__init__(store, knobs)  # a target starts empty; `store` is unused
        self.client_id = "mystore-client-" + secrets.token_hex(4)
        self.client_secret = secrets.token_urlsafe(24)
        self.redirect_uri = "http://127.0.0.1:8765/callback"
        self.store_name = "demobutikk"
        self.admin_email = "eier@demobutikk.no"
        self.admin_password = secrets.token_urlsafe(12)
        self.token_ttl_s = token_ttl_s or api.ACCESS_TOKEN_TTL_S
        self.codes: dict[str, dict] = {}  # code → {redirect_uri, expires}
        self.sessions: dict[str, dict] = {}  # login session → oauth params
        self.access: dict[str, float] = {}  # access token → expiry
        self.refresh_tokens: set[str] = set()
        self.data: dict[str, dict[int, dict]] = {e: {} for e in api.RESOURCES}
        self.next_id = {e: 1 for e in api.RESOURCES}
        self.writes = 0
        self.data_lock = threading.RLock()
        self.window = FixedWindow(api.RATE_PER_S, 1.0)

    def grant(self, authorize_url: str, decision: str = "authorize") -> str:
        """What the shop owner does in a browser (seed 000): log in with store name, e-mail and password and press
        Authorize. Returns the address the browser is sent to (with the code). Test infrastructure."""
        import re

        import requests

        s = requests.Session()
        page = s.get(authorize_url, timeout=10)
        session = re.search(r'name="session" value="([^"]+)"', page.text).group(1)
        s.post(f"{self.base_url}/oauth/login", timeout=10, data={
            "session": session, "store": self.store_name, "email": self.admin_email, "password": self.admin_password})
        done = s.post(f"{self.base_url}/oauth/consent", data={"session": session, "decision": decision},
                      timeout=10, allow_redirects=False)
        return done.headers["Location"]

    def credentials(self) -> dict:
        return {"client_id": self.client_id, "client_secret": self.client_secret, "redirect_uri": self.redirect_uri,
                "store_name": self.store_name, "email": self.admin_email, "password": self.admin_password}

    # --- OAuth 2.0 authorization-code flow (seed 000)
    def _page(self, body: str, status: int = 200) -> Response:
        return Response(FORM.format(body=body), status=status, content_type="text/html; charset=utf-8")

    def authorize(self, request: Request) -> Response:
        q = request.args
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return self._page("<p>Ukjent OAuth-klient (unknown client).</p>", 400)
        if q.get("redirect_uri") != self.redirect_uri:
            return self._page("<p>Redirect URL matcher ikke klienten (redirect URL mismatch).</p>", 400)
        session = secrets.token_urlsafe(16)
        self.sessions[session] = {"redirect_uri": q["redirect_uri"], "state": q.get("state", "")}
        return self._page(f"""<form method="post" action="/oauth/login">
<input type="hidden" name="session" value="{session}">
<label>Butikk <input name="store"></label><label>Epostadresse <input name="email"></label>
<label>Passord <input name="password" type="password"></label><button type="submit">Logg Inn</button></form>""")

    def login(self, request: Request) -> Response:
        f = request.form
        session = self.sessions.get(f.get("session", ""))
        if session is None:
            return self._page("<p>Økten er utløpt (session expired).</p>", 400)
        if (f.get("store"), f.get("email"), f.get("password")) != (self.store_name, self.admin_email,
                                                                   self.admin_password):
            return self._page("<p>Feil butikknavn, e-post eller passord.</p>", 401)
        session["logged_in"] = True
        return self._page(f"""<p>Cart2Cart ber om tilgang til {html.escape(self.store_name)}.</p>
<form method="post" action="/oauth/consent"><input type="hidden" name="session" value="{f['session']}">
<button type="submit" name="decision" value="authorize">Authorize</button>
<button type="submit" name="decision" value="deny">Avbryt</button></form>""")

    def consent(self, request: Request) -> Response:
        session = self.sessions.pop(request.form.get("session", ""), None)
        if not session or not session.get("logged_in"):
            return self._page("<p>Logg inn først.</p>", 400)
        if request.form.get("decision") != "authorize":
            return redirect(f"{session['redirect_uri']}?{urlencode({'error': 'access_denied', 'state': session['state']})}")
        code = secrets.token_urlsafe(18)
        self.codes[code] = {"redirect_uri": session["redirect_uri"], "expires": time.time() + 600}
        return redirect(f"{session['redirect_uri']}?{urlencode({'code': code, 'state': session['state']})}")

    def token(self, request: Request) -> Response:
        f = request.form
        if (f.get("client_id"), f.get("client_secret")) != (self.client_id, self.client_secret):
            return self.json({"error": "invalid_client"}, 401)
        grant = f.get("grant_type")
        if grant == "authorization_code":
            code = self.codes.pop(f.get("code", ""), None)  # single use
            if not code or code["expires"] < time.time() or code["redirect_uri"] != f.get("redirect_uri"):
                return self.json({"error": "invalid_grant"}, 400)
        elif grant == "refresh_token":
            if f.get("refresh_token") not in self.refresh_tokens:
                return self.json({"error": "invalid_grant"}, 400)
            self.refresh_tokens.discard(f["refresh_token"])  # rotated
        else:
            return self.json({"error": "unsupported_grant_type"}, 400)
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.access[access] = time.time() + self.token_ttl_s
        self.refresh_tokens.add(refresh)
        return self.json({"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
                          "expires_in": self.token_ttl_s, "scope": api.SCOPE})

    # --- resource API
    def _auth(self, request: Request) -> Response | None:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else ""
        expiry = self.access.get(token)
        if expiry is None:
            return self.json({"error": "invalid_token", "message": "Missing or unknown access token"}, 401)
        if expiry < time.time():
            return self.json({"error": "invalid_token", "message": "The access token expired"}, 401)
        if self.knobs.rate_limit:
            ok, left, reset = self.window.take()
            if not ok:
                return self.json({"error": "rate_limited", "message": "Too many requests"}, 429,
                                 {"Retry-After": f"{max(1, round(reset))}", "X-RateLimit-Limit": str(api.RATE_PER_S),
                                  "X-RateLimit-Remaining": "0"})
        return None

    def expire_token(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and header[7:] in self.access:
            self.access[header[7:]] = 0.0

    def _entity(self, resource: str) -> str:
        if resource not in BY_PATH:
            from werkzeug.exceptions import NotFound
            raise NotFound(resource)
        return BY_PATH[resource]

    def _validate(self, entity: str, rec: dict, id_: int | None) -> list[dict]:
        errors = [{"field": f, "message": "is required"} for f in api.REQUIRED[entity]
                  if rec.get(f) in (None, "")]
        if entity == "orders":
            for which in ("billing_address", "shipping_address"):
                addr = rec.get(which) or {}
                errors += [{"field": f"{which}.{f}", "message": "is required"} for f in api.REQUIRED_ADDRESS
                           if not (addr.get(f) or "").strip()]
        for field, ref in REFS.get(entity, {}).items():
            if rec.get(field) not in (None, "") and int(rec[field]) not in self.data[ref]:
                errors.append({"field": field, "message": f"{ref} {rec[field]} does not exist"})
        if entity == "products":
            for cid in rec.get("category_ids") or []:
                if int(cid) not in self.data["categories"]:
                    errors.append({"field": "category_ids", "message": f"category {cid} does not exist"})
        if self.rejects(f"{entity}:{rec.get('external_ref')}"):
            errors.append({"field": "record", "message": "was refused by the store's content rules"})
        for field in api.UNIQUE.get(entity, ()):
            value = (rec.get(field) or "").lower()
            if value and any((r.get(field) or "").lower() == value and rid != id_
                             for rid, r in self.data[entity].items()):
                errors.append({"field": field, "message": "has already been taken"})
        return errors

    def _write(self, entity: str, payload: dict, id_: int | None) -> dict:
        with self.data_lock:
            current = self.data[entity].get(id_, {}) if id_ is not None else {}
            if id_ is not None and not current:
                return {"error": {"status": 404, "errors": [{"field": "id", "message": f"{id_} not found"}]}}
            rec = {**current, **{k: v for k, v in payload.items() if k != "id"}}
            errors = self._validate(entity, rec, id_)
            if errors:
                return {"error": {"status": 422, "errors": errors}}
            if id_ is None:
                id_ = self.next_id[entity]
                self.next_id[entity] += 1
            rec["id"] = id_
            self.data[entity][id_] = rec
            self.writes += 1
            return {"id": id_, "external_ref": rec.get("external_ref")}

    def collection(self, request: Request, resource: str) -> Response:
        denied = self._auth(request)
        if denied:
            return denied
        entity = self._entity(resource)
        if request.method == "POST":
            result = self._write(entity, request.get_json(force=True), None)
            if "error" in result:
                return self.json(result["error"], result["error"]["status"])
            return self.json({"data": self.data[entity][result["id"]]}, 201)
        per_page = min(int(request.args.get("per_page", 25)), api.PAGE_MAX)
        page = max(1, int(request.args.get("page", 1)))
        with self.data_lock:
            rows = [self.data[entity][i] for i in sorted(self.data[entity])]
        refs = request.args.get("external_ref")
        if refs is not None:
            wanted = set(refs.split(","))
            rows = [r for r in rows if r.get("external_ref") in wanted]
        total = len(rows)
        chunk = rows[(page - 1) * per_page: page * per_page]
        self.delay(len(chunk))
        return self.json({"data": chunk, "meta": {"total": total, "page": page, "per_page": per_page,
                                                  "pages": (total + per_page - 1) // per_page}})

    def batch(self, request: Request, resource: str) -> Response:
        denied = self._auth(request)
        if denied:
            return denied
        entity = self._entity(resource)
        body = request.get_json(force=True)
        creates, updates = body.get("create") or [], body.get("update") or []
        if len(creates) + len(updates) > api.BATCH_MAX:
            return self.json({"errors": [{"field": "batch", "message": f"at most {api.BATCH_MAX} items"}]}, 413)
        return self.json({"create": [self._write(entity, r, None) for r in creates],
                          "update": [self._write(entity, r, int(r.get("id") or 0)) for r in updates]})

    def item(self, request: Request, resource: str, id_: int) -> Response:
        denied = self._auth(request)
        if denied:
            return denied
        entity = self._entity(resource)
        if request.method == "DELETE":
            with self.data_lock:
                gone = self.data[entity].pop(id_, None)
                self.writes += gone is not None
            return Response(status=204) if gone else self.json({"errors": [{"message": "not found"}]}, 404)
        if request.method == "PATCH":
            result = self._write(entity, request.get_json(force=True), id_)
            if "error" in result:
                return self.json(result["error"], result["error"]["status"])
        rec = self.data[entity].get(id_)
        return self.json({"data": rec}) if rec else self.json({"errors": [{"message": "not found"}]}, 404)

    def error(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "code", 500)
        return self.json({"errors": [{"message": str(exc) if status != 500 else "internal error"}]}, status)
