"""Mystore as a target: OAuth2 tokens (refreshed on expiry), batched creates and updates within Mystore's limits,
per-record errors quarantined with Mystore's message, read-back for verification. API assumptions: mystore_api.py.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa

from cart_pipelines.platforms.kit.credentials import Credential
from cart_pipelines.platforms.kit.http import (
    ConnectionProblem,
    Explainer,
    HttpClient,
    HttpSettings,
)
from cart_pipelines.platforms.kit.oauth import OAuthClient, OAuthError, TokenStore
from cart_pipelines.platforms.kit.readback import as_target_table, json_ready
from cart_pipelines.platforms.kit.target import Target, WriteResult
from cart_pipelines.platforms.mystore import api as api

ORDER = ("reviews", "orders", "customers", "products", "tax_classes", "manufacturers", "categories")


_plain = json_ready



def _explain(response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if "errors" in body:
        return "; ".join(f"{e.get('field', '')} {e.get('message', '')}".strip() for e in body["errors"])
    return body.get("message") or body.get("error")


class MystoreTarget(Target):
    CREDENTIALS = (  # seed 000: an OAuth client's Client ID, Client Secret and Redirect URL
        Credential("base_url", "MYSTORE_URL", "API address"),
        Credential("client_id", "MYSTORE_CLIENT_ID", "Client ID"),
        Credential("client_secret", "MYSTORE_CLIENT_SECRET", "Client Secret", secret=True),
        Credential("redirect_uri", "MYSTORE_REDIRECT_URI", "Redirect URL", default="http://127.0.0.1:8765/callback"),
        Credential("token_file", "MYSTORE_TOKEN_FILE", "Token file (default data/secrets/mystore-token.json, 0600)",
                   default=""),
        Credential("ca_file", "MYSTORE_CA_FILE", "CA file to trust", default=""),
    )

    @classmethod
    def from_credentials(cls, values: dict, data_dir: Path) -> "MystoreTarget":
        token_file = values.get("token_file") or str(Path(data_dir) / "secrets" / "mystore-token.json")
        return cls(values["base_url"], values["client_id"], values["client_secret"],
                   values.get("redirect_uri") or "http://127.0.0.1:8765/callback", token_file,
                   verify=values.get("ca_file") or True)

    @classmethod
    def emulator_credentials(cls, handle, workdir: Path) -> dict:
        """Walks the emulator's OAuth flow first, as the shop owner would in a browser."""
        token_file = Path(workdir) / "mystore-token.json"
        authorize_against(handle, token_file)
        c = handle.credentials
        return {"base_url": handle.base_url, "client_id": c["client_id"], "client_secret": c["client_secret"],
                "redirect_uri": c["redirect_uri"], "token_file": str(token_file)}

    max_batch = api.BATCH_MAX
    password_algorithms = api.PASSWORD_ALGORITHMS

    def __init__(self, base_url: str, client_id: str, client_secret: str, redirect_uri: str,
                 token_file: str | Path, verify: bool | str = True, settings: HttpSettings | None = None):
        self.name = f"mystore:{urlsplit(base_url).netloc}"
        self.oauth = OAuthClient(base_url, client_id, client_secret, redirect_uri, api.AUTHORIZE_PATH,
                                 api.TOKEN_PATH, api.SCOPE, verify)
        self.tokens = TokenStore(token_file)
        # Pace just under the per-token limit rather than hitting 429s.
        settings = settings or HttpSettings(requests_per_second=api.RATE_PER_S * 0.9)
        self.client = HttpClient(base_url + api.API_PREFIX, Explainer(
            "Mystore", ("the access token (run `cart-pipelines authorize` again)",),
            "authorize the client with the store.read and store.write scopes", _explain),
            settings=settings, verify=verify)
        self._current = None

    def describe(self) -> str:
        return f"Mystore store at {urlsplit(self.oauth.base_url).netloc}"

    def _bearer(self, force_refresh: bool = False) -> str:
        tokens = self._current or self.tokens.load()
        if tokens is None:
            raise OAuthError("Mystore is not authorized yet: run `cart-pipelines authorize` first")
        if force_refresh or tokens.expired():
            tokens = self.oauth.refresh(tokens)
            self.tokens.save(tokens)
        self._current = tokens
        return tokens.access_token

    def _call(self, method: str, path: str, idempotent: bool = True, **kwargs):
        for attempt in (0, 1):
            headers = {"Authorization": f"Bearer {self._bearer(force_refresh=attempt == 1)}"}
            try:
                return self.client.request(method, path, headers=headers, idempotent=idempotent, **kwargs)
            except ConnectionProblem as exc:
                if exc.kind != "credentials" or attempt == 1:  # an expired token gets one refresh
                    raise
        raise AssertionError("unreachable")

    def _payload(self, row: dict) -> dict:
        out = {k: _plain(v) for k, v in row.items() if k not in ("source_id", "target_id")}
        out["external_ref"] = row["source_id"]
        if row.get("target_id") is not None:
            out["id"] = int(row["target_id"])
        return out

    def _send(self, entity: str, chunk: list[dict], kind: str) -> list[WriteResult]:
        body = self._call("POST", f"{api.RESOURCES[entity]}/batch", idempotent=kind == "update",
                          json={kind: [self._payload(r) for r in chunk]}).json()
        results = []
        for row, res in zip(chunk, body[kind]):
            if res.get("error"):
                msg = "; ".join(f"{e['field']} {e['message']}" for e in res["error"]["errors"])
                results.append(WriteResult(row["source_id"], None, msg))
            else:
                results.append(WriteResult(row["source_id"], str(res["id"])))
        return results

    def _batch(self, entity: str, rows: pa.Table, kind: str) -> list[WriteResult]:
        results: list[WriteResult] = []
        items = rows.to_pylist()
        for start in range(0, len(items), api.BATCH_MAX):
            chunk = items[start:start + api.BATCH_MAX]
            if kind == "create":
                results += self.create_confirmed(entity, chunk, lambda c: self._send(entity, c, kind))
            else:  # an update sent twice writes the same values: safe to retry
                results += self._send(entity, chunk, kind)
        return results

    def create(self, entity: str, rows: pa.Table, preserve_ids: bool = False) -> list[WriteResult]:
        return self._batch(entity, rows, "create")  # Mystore assigns ids (assumption): preserve_ids cannot apply

    def update(self, entity: str, rows: pa.Table) -> list[WriteResult]:
        return self._batch(entity, rows, "update")

    def _pages(self, entity: str, params: dict | None = None):
        page = 1
        while True:
            body = self._call("GET", api.RESOURCES[entity],
                              params={**(params or {}), "page": page, "per_page": api.PAGE_MAX}).json()
            yield body["data"]
            if page >= body["meta"]["pages"]:
                return
            page += 1

    def find_existing(self, entity: str, source_ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(source_ids), api.PAGE_MAX):
            refs = ",".join(source_ids[start:start + api.PAGE_MAX])
            for page in self._pages(entity, {"external_ref": refs}):
                found.update({r["external_ref"]: str(r["id"]) for r in page if r.get("external_ref")})
        return found

    def scan(self, entity: str) -> pa.Table:
        """Everything on Mystore for `entity`, in the same columns and types as the local target."""
        def records():
            for page in self._pages(entity):
                for r in page:
                    r = {**r, "id": str(r["id"]), "_source_id": r.get("external_ref")}
                    for key in ("parent_id", "manufacturer_id", "tax_class_id", "customer_id", "product_id"):
                        if r.get(key) is not None:
                            r[key] = str(r[key])
                    yield r

        return as_target_table(entity, records())

    def count(self, entity: str) -> int:
        return self._call("GET", api.RESOURCES[entity], params={"per_page": 1}).json()["meta"]["total"]

    def delete(self, entity: str, target_ids: list[str]) -> int:
        for id_ in target_ids:
            self._call("DELETE", f"{api.RESOURCES[entity]}/{id_}")
        return len(target_ids)

    def clear(self, entities: list[str]) -> dict[str, int]:
        deleted = {}
        for entity in [e for e in ORDER if e in entities]:  # dependants first
            ids = [r["id"] for page in self._pages(entity) for r in page]
            for id_ in ids:
                self._call("DELETE", f"{api.RESOURCES[entity]}/{id_}")
            deleted[entity] = len(ids)
        return deleted


def authorize_against(handle, token_file: Path) -> None:
    """Walk the emulator's OAuth flow (as the owner would in a browser) and store tokens: for tests and trials."""
    from cart_pipelines.platforms.kit.oauth import code_from_redirect, new_state

    c = handle.credentials
    oauth = OAuthClient(handle.base_url, c["client_id"], c["client_secret"], c["redirect_uri"])
    state = new_state()
    code = code_from_redirect(handle.emulator.grant(oauth.authorize_url(state)), state)
    TokenStore(token_file).save(oauth.exchange(code))
