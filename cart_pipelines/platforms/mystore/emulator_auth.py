"""The Mystore auth server of the emulator (auth.mystore.no, served under `/auth` of the emulator's address).

Held to the fact sheet §2 and seed 000: the merchant logs in with store name (Butikk), e-mail (Epostadresse),
password (Passord) and an optional one-time password ("Logg Inn"); the home page has the sections "OAuth Clients"
("Create New Client": Name, Redirect URL → Client ID, Client Secret) and "Personal Access Tokens" ("Create New
Token": a name and ticked permissions, the token shown once). OAuth 2 (Laravel Passport): `oauth/authorize` →
login → consent ("Authorize" / "Cancel", listing the scopes) → redirect with `?code=`; `oauth/token` with the
`authorization_code`, `refresh_token` and `password` grants, form-encoded or JSON. Tokens are JWTs whose claims
carry `scopes` and `no_mystore_hosts` (the shop name).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import time
from urllib.parse import urlencode

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from cart_pipelines.platforms.mystore import facts

PAGE = """<!doctype html><html lang="no"><head><meta charset="utf-8"><title>Mystore API</title></head><body>
<h1>Mystore API</h1>{body}</body></html>"""

LOGIN_FIELDS = """<label>Butikk <input name="store"></label>
<label>Epostadresse <input name="email"></label><label>Passord <input name="password" type="password"></label>
<label>Engangspassord (kun med tofaktor) <input name="otp"></label>"""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_claims(token: str) -> dict:
    """The claims of a Mystore JWT, unverified (what a client reads: the shop name and the scopes)."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


class AuthServer:
    """Mixin of MystoreEmulator: state and pages of the auth server."""

    def _init_auth(self, shop: str, token_ttl_s: float | None):
        self.shop = shop
        self.admin_email = f"eier@{shop}.no"
        self.admin_password = secrets.token_urlsafe(12)
        self.token_ttl_s = token_ttl_s or facts.TOKEN_TTL_S
        self._signing_key = secrets.token_bytes(32)
        self.clients: dict[str, dict] = {}  # client id → {name, secret, redirect_uri}
        self.codes: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}  # oauth login sessions
        self.web_sessions: set[str] = set()  # logged-in browser sessions (cookie)
        self.tokens: dict[str, dict] = {}  # jti → {exp, scopes, kind}
        self.refresh_tokens: dict[str, dict] = {}  # refresh token → {client_id, scopes}
        client = self.create_client("Cart Pipelines", "http://127.0.0.1:8765/callback")
        self.client_id, self.client_secret = client["id"], client["secret"]
        self.redirect_uri = client["redirect_uri"]
        self.personal_token = self.create_personal_token("migration", ["*"])

    # --- what the merchant creates --------------------------------------------------------------------------
    def create_client(self, name: str, redirect_uri: str) -> dict:
        client_id = str(len(self.clients) + 1)  # small integers, as OC and AP show
        self.clients[client_id] = {"id": client_id, "name": name, "secret": secrets.token_urlsafe(30),
                                   "redirect_uri": redirect_uri}
        return self.clients[client_id]

    def issue(self, scopes: list[str], ttl: float, kind: str) -> str:
        jti = secrets.token_hex(20)
        now = int(time.time())
        claims = {"aud": "1", "jti": jti, "iat": now, "nbf": now, "exp": now + int(ttl), "sub": self.admin_email,
                  "scopes": list(scopes), facts.TOKEN_CLAIM_SHOPS: [self.shop]}
        head = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        body = _b64(json.dumps(claims).encode())
        sig = _b64(hmac.new(self._signing_key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        self.tokens[jti] = {"exp": now + ttl, "scopes": set(scopes), "kind": kind}
        return f"{head}.{body}.{sig}"

    def create_personal_token(self, name: str, scopes: list[str]) -> str:
        return self.issue(scopes, facts.PAT_TTL_S, "personal")

    def token_state(self, token: str) -> dict | None:
        """The live token record, or None when the token is unknown, forged, revoked or expired."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        sig = _b64(hmac.new(self._signing_key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(sig, parts[2]):
            return None
        state = self.tokens.get(token_claims(token).get("jti", ""))
        if state is None or state["exp"] < time.time():
            return None
        return state

    def expire_token(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        state = self.tokens.get(token_claims(header[7:]).get("jti", "")) if header.startswith("Bearer ") else None
        if state:
            state["exp"] = 0.0

    # --- pages ----------------------------------------------------------------------------------------------
    def _page(self, body: str, status: int = 200) -> Response:
        return Response(PAGE.format(body=body), status=status, content_type="text/html; charset=utf-8")

    def _login_ok(self, form) -> bool:
        return (form.get("store", "").strip().lower(), form.get("email", "").strip().lower(),
                form.get("password")) == (self.shop, self.admin_email, self.admin_password)

    def auth_login(self, request: Request) -> Response:
        if request.method == "GET":
            return self._page(f'<form method="post" action="login">{LOGIN_FIELDS}'
                              f'<button type="submit">Logg Inn</button></form>')
        if not self._login_ok(request.form):
            return self._page("<p>Feil butikknavn, e-post eller passord.</p>", 401)
        sid = secrets.token_urlsafe(16)
        self.web_sessions.add(sid)
        response = redirect("home")
        response.set_cookie("mystore_session", sid, httponly=True, samesite="Lax")
        return response

    def _logged_in(self, request: Request) -> bool:
        return request.cookies.get("mystore_session") in self.web_sessions

    def auth_home(self, request: Request, shown: str = "") -> Response:
        if not self._logged_in(request):
            return redirect("login")
        clients = "".join(f"<tr><td>{html.escape(c['name'])}</td><td>{c['id']}</td><td>{html.escape(c['redirect_uri'])}"
                          f"</td></tr>" for c in self.clients.values())
        scopes = sorted({s for t in self.api_types for s in (facts.read_scope(t), facts.write_scope(t))})
        boxes = "".join(f'<label><input type="checkbox" name="scopes" value="{s}"> {s}</label>' for s in scopes)
        return self._page(f"""{shown}<h2>OAuth Clients</h2><table><tr><th>Name</th><th>Client ID</th>
<th>Redirect URL</th></tr>{clients}</table>
<form method="post" action="clients"><h3>Create New Client</h3><label>Name <input name="name"></label>
<label>Redirect URL <input name="redirect"></label><button type="submit">Create</button></form>
<h2>Personal Access Tokens</h2><form method="post" action="tokens"><h3>Create New Token</h3>
<label>Name <input name="name"></label>{boxes}<button type="submit">Create</button></form>""")

    def auth_clients(self, request: Request) -> Response:
        if not self._logged_in(request):
            return redirect("login")
        c = self.create_client(request.form.get("name") or "client", request.form.get("redirect") or "")
        return self.auth_home(request, f"<p>Client ID: <code>{c['id']}</code> Client Secret: "
                                       f"<code>{c['secret']}</code></p>")

    def auth_tokens(self, request: Request) -> Response:
        if not self._logged_in(request):
            return redirect("login")
        token = self.create_personal_token(request.form.get("name") or "token", request.form.getlist("scopes"))
        return self.auth_home(request, "<p>Here is your new personal access token. This is the only time it will "
                                       f"be shown, don't lose it!</p><pre>{token}</pre>")

    # --- OAuth 2 authorization code (seed 000) --------------------------------------------------------------
    def oauth_authorize(self, request: Request) -> Response:
        q = request.args
        client = self.clients.get(q.get("client_id", ""))
        if client is None or q.get("response_type") != "code":
            return self._page("<p>Client authentication failed.</p>", 401)
        if q.get("redirect_uri") != client["redirect_uri"]:
            return self._page("<p>Redirect URL matcher ikke klienten (redirect URL mismatch).</p>", 400)
        session = secrets.token_urlsafe(16)
        self.sessions[session] = {"client_id": client["id"], "redirect_uri": q["redirect_uri"],
                                  "state": q.get("state", ""), "scopes": q.get("scope", "").split()}
        return self._page(f"""<form method="post" action="login"><input type="hidden" name="session"
value="{session}">{LOGIN_FIELDS}<button type="submit">Logg Inn</button></form>""")

    def oauth_login(self, request: Request) -> Response:
        f = request.form
        session = self.sessions.get(f.get("session", ""))
        if session is None:
            return self._page("<p>Økten er utløpt (session expired).</p>", 400)
        if not self._login_ok(f):
            return self._page("<p>Feil butikknavn, e-post eller passord.</p>", 401)
        session["logged_in"] = True
        client = self.clients[session["client_id"]]
        listed = "".join(f"<li>{html.escape(s)}</li>" for s in session["scopes"]) or "<li>(ingen)</li>"
        return self._page(f"""<p><strong>{html.escape(client['name'])}</strong> ber om tilgang til
{html.escape(self.shop)}.</p><p>This application will be able to:</p><ul>{listed}</ul>
<form method="post" action="consent"><input type="hidden" name="session" value="{f['session']}">
<button type="submit" name="decision" value="authorize">Authorize</button>
<button type="submit" name="decision" value="deny">Cancel</button></form>""")

    def oauth_consent(self, request: Request) -> Response:
        session = self.sessions.pop(request.form.get("session", ""), None)
        if not session or not session.get("logged_in"):
            return self._page("<p>Logg inn først.</p>", 400)
        if request.form.get("decision") != "authorize":
            query = {"error": "access_denied", "message": "The resource owner or authorization server denied the "
                                                          "request.", "state": session["state"]}
            return redirect(f"{session['redirect_uri']}?{urlencode(query)}")
        code = secrets.token_urlsafe(40)
        self.codes[code] = {**session, "expires": time.time() + 600}
        return redirect(f"{session['redirect_uri']}?{urlencode({'code': code, 'state': session['state']})}")

    def _oauth_error(self, error: str, message: str, status: int) -> Response:
        return self.json({"error": error, "error_description": message, "message": message}, status)

    def oauth_token(self, request: Request) -> Response:
        f = request.get_json(silent=True) if request.is_json else request.form
        f = f or {}
        client = self.clients.get(str(f.get("client_id", "")))
        if client is None or not hmac.compare_digest(client["secret"], str(f.get("client_secret", ""))):
            return self._oauth_error("invalid_client", "Client authentication failed", 401)
        grant = f.get("grant_type")
        if grant == "authorization_code":
            code = self.codes.pop(f.get("code", ""), None)  # single use
            if not code or code["expires"] < time.time() or code["client_id"] != client["id"] \
                    or code["redirect_uri"] != f.get("redirect_uri"):
                return self._oauth_error("invalid_grant", "The provided authorization grant (e.g., authorization "
                                         "code, resource owner credentials) or refresh token is invalid, expired, "
                                         "revoked, does not match the redirection URI used in the authorization "
                                         "request, or was issued to another client.", 400)
            scopes = code["scopes"]
        elif grant == "refresh_token":
            old = self.refresh_tokens.pop(f.get("refresh_token", ""), None)  # rotated
            if not old or old["client_id"] != client["id"]:
                return self._oauth_error("invalid_request", "The refresh token is invalid.", 401)
            scopes = old["scopes"]
            if old.get("jti") in self.tokens:  # Passport revokes the access token a refresh replaces
                self.tokens[old["jti"]]["exp"] = 0.0
        elif grant == "password":
            if (str(f.get("no_mystore_host", "")).lower(), str(f.get("username", "")).lower(),
                    f.get("password")) != (self.shop, self.admin_email, self.admin_password):
                return self._oauth_error("invalid_grant", "The user credentials were incorrect.", 400)
            scopes = str(f.get("scope", "")).split()
        else:
            return self._oauth_error("unsupported_grant_type", "The authorization grant type is not supported by "
                                     "the authorization server.", 400)
        access = self.issue(scopes, self.token_ttl_s, "oauth")
        refresh = secrets.token_urlsafe(48)
        self.refresh_tokens[refresh] = {"client_id": client["id"], "scopes": scopes,
                                        "jti": token_claims(access)["jti"]}
        return self.json({"token_type": "Bearer", "expires_in": int(self.token_ttl_s), "access_token": access,
                          "refresh_token": refresh})
