"""Mystore as a target, on API v2: the seed-000 OAuth walk-through and a Personal Access Token against the
emulator, then real migrations into it, verified by reading Mystore back."""

import json
import re
import threading
import time

import dagster as dg
import pyarrow as pa
import pytest
import requests
from conftest import SAMPLE

from cart_pipelines.definitions import build_definitions
from cart_pipelines.defs.jobs import run_config
from cart_pipelines.defs.platform_resources import MystoreTargetResource
from cart_pipelines.defs.resources import default_resources
from cart_pipelines.platforms.kit.emulator import Knobs, running
from cart_pipelines.platforms.kit.http import ConnectionProblem
from cart_pipelines.platforms.kit.oauth import (
    OAuthClient,
    OAuthError,
    TokenStore,
    listen_for_code,
    new_state,
)
from cart_pipelines.platforms.mystore import facts
from cart_pipelines.platforms.mystore.emulator import MystoreEmulator
from cart_pipelines.platforms.mystore.target import SCOPES, MystoreTarget


def grant_access(authorize_url: str, creds: dict, decision: str = "authorize") -> requests.Response:
    """What the shop owner does in the browser: log in with Butikk, Epostadresse and Passord, press Authorize."""
    s = requests.Session()
    page = s.get(authorize_url, timeout=10)
    assert all(label in page.text for label in ("Butikk", "Epostadresse", "Passord", "Logg Inn")), page.text
    session = re.search(r'name="session"\s+value="([^"]+)"', page.text).group(1)
    base = authorize_url.split("/oauth/")[0]
    consent = s.post(f"{base}/oauth/login", timeout=10, data={
        "session": session, "store": creds["store_name"], "email": creds["email"], "password": creds["password"]})
    assert "Authorize" in consent.text and "read:products" in consent.text, consent.text
    return s.post(f"{base}/oauth/consent", data={"session": session, "decision": decision}, timeout=10,
                  allow_redirects=False)


def oauth_client(handle, secret=None) -> OAuthClient:
    c = handle.credentials
    return OAuthClient(c["auth_url"], c["client_id"], secret or c["client_secret"], c["redirect_uri"],
                       scope=" ".join(SCOPES))


def authorized_target(handle, tmp_path, **kwargs) -> MystoreTarget:
    c = handle.credentials
    oauth = oauth_client(handle)
    state = new_state()
    redirect = grant_access(oauth.authorize_url(state), c)
    code = re.search(r"code=([^&]+)", redirect.headers["Location"]).group(1)
    assert f"state={state}" in redirect.headers["Location"]
    TokenStore(tmp_path / "token.json").save(oauth.exchange(code))
    return MystoreTarget(client_id=c["client_id"], client_secret=c["client_secret"], redirect_uri=c["redirect_uri"],
                         token_file=tmp_path / "token.json", api_url=handle.base_url, auth_url=c["auth_url"],
                         references=tmp_path / "refs.json", **kwargs)


def resource(handle, tmp_path, **extra) -> MystoreTargetResource:
    c = handle.credentials
    # The emulator's request budget: unpaced when its rate limit is off (the 120/min pacing is proved in
    # tests/contract/test_mystore_source.py and test_request_budget_paces_the_target_under_the_limit)
    budget = {"requests_per_minute": c["requests_per_minute"]} if "requests_per_minute" in c else {}
    return MystoreTargetResource(api_url=handle.base_url, auth_url=c["auth_url"], client_id=c["client_id"],
                                 client_secret=c["client_secret"], redirect_uri=c["redirect_uri"],
                                 token_file=str(tmp_path / "token.json"),
                                 references_file=str(tmp_path / "refs.json"), **budget, **extra)


@pytest.fixture
def mystore():
    emulator = MystoreEmulator(knobs=Knobs(rate_limit=False))
    # two migrations of the sample store: 300 s was too short on a busy 2-core machine (the emulator stopped
    # part-way through the second one)
    with running(emulator, lifetime=900) as handle:
        yield handle


def test_authorization_code_flow_and_safe_token_file(mystore, tmp_path):
    target = authorized_target(mystore, tmp_path)
    assert (tmp_path / "token.json").stat().st_mode & 0o777 == 0o600
    assert target.count("products") == 0
    assert target.api.shop == mystore.credentials["shop"]  # read from the token's no_mystore_hosts
    with pytest.raises(OAuthError, match="check Client ID and Client Secret") as exc:
        oauth_client(mystore, "wrong-secret").exchange("whatever")
    assert "wrong-secret" not in str(exc.value)
    denied = grant_access(oauth_client(mystore).authorize_url("s"), mystore.credentials, decision="deny")
    assert "error=access_denied" in denied.headers["Location"]


def test_loopback_listener_catches_the_redirect(tmp_path):
    emulator = MystoreEmulator(knobs=Knobs(rate_limit=False))
    with running(emulator, lifetime=120) as handle:
        emulator.clients[emulator.client_id]["redirect_uri"] = emulator.redirect_uri = "http://127.0.0.1:18765/callback"
        c = handle.credentials
        oauth = oauth_client(handle)
        state, got = new_state(), {}
        listener = threading.Thread(target=lambda: got.update(code=listen_for_code(18765, state, timeout=20)))
        listener.start()
        time.sleep(0.3)
        s = requests.Session()
        page = s.get(oauth.authorize_url(state), timeout=10)
        session = re.search(r'name="session"\s+value="([^"]+)"', page.text).group(1)
        s.post(f"{c['auth_url']}/oauth/login", data={"session": session, "store": c["store_name"],
                                                      "email": c["email"], "password": c["password"]}, timeout=10)
        final = s.post(f"{c['auth_url']}/oauth/consent", data={"session": session, "decision": "authorize"},
                       timeout=10)  # the browser follows the redirect to the listener
        listener.join(25)
        assert final.status_code == 200 and "Authorized" in final.text
        assert oauth.exchange(got["code"]).access_token


def test_expired_token_answers_403_and_is_refreshed(tmp_path):
    emulator = MystoreEmulator(knobs=Knobs(rate_limit=False), token_ttl_s=1)
    with running(emulator, lifetime=120) as handle:
        target = authorized_target(handle, tmp_path)
        first = TokenStore(tmp_path / "token.json").load()
        time.sleep(1.5)
        raw = requests.get(f"{handle.base_url}/shops/{handle.credentials['shop']}/customers",
                           headers={"Authorization": f"Bearer {first.access_token}"}, timeout=10)
        assert raw.status_code == 403 and raw.json()["errors"][0]["detail"] == facts.EXPIRED_DETAIL
        assert target.count("customers") == 0
        assert TokenStore(tmp_path / "token.json").load().refresh_token != first.refresh_token


def test_a_token_refused_soon_after_its_refresh_is_refreshed_again(tmp_path):
    """The shop revokes the access token (expire_token on a write), the client refreshes; seconds later the fresh
    one is refused too: it is refreshed again, not sent once more as if another request had just renewed it."""
    emulator = MystoreEmulator(knobs=Knobs(rate_limit=False))
    writes = []

    def next_fault(request):  # the first and the third batch find their token revoked
        if request.path.endswith("atomic-batch"):
            writes.append(request)
            emulator.knobs.write_faults = {"expire_token": 1.0} if len(writes) == 2 else {}

    emulator.knobs.write_faults, emulator.knobs.after_response = {"expire_token": 1.0}, next_fault
    with running(emulator, lifetime=120) as handle:
        target = authorized_target(handle, tmp_path)
        for n in (1, 2):
            [res] = target.create("categories", pa.Table.from_pylist(
                [{"source_id": f"c{n}", "name": f"Kategori {n}", "url_key": f"kategori-{n}"}]))
            assert res.error is None and res.target_id
    assert emulator.faults_by_kind == {"expire_token": 2} and len(emulator.data["categories"]) == 2


def test_personal_access_token_and_missing_permission_named(mystore, tmp_path):
    c = mystore.credentials
    target = MystoreTarget(token=c["token"], api_url=mystore.base_url, references=tmp_path / "r.json")
    assert target.count("products") == 0
    narrow = mystore.emulator.create_personal_token("read only", ["read:products", "read:settings"])
    with pytest.raises(ConnectionProblem, match="write:products") as exc:
        MystoreTarget(token=narrow, api_url=mystore.base_url, references=tmp_path / "r2.json").count("products")
    assert exc.value.kind == "permission"


def test_request_budget_paces_the_target_under_the_limit(tmp_path):
    """MYSTORE_REQUESTS_PER_MINUTE sets the target's pace (default Mystore's 120 per minute); against a shop that
    counts 120 per 2 s window, a target paced the same sends 130 requests without a 429."""
    c = {"token": "t", "references_file": str(tmp_path / "r.json")}
    limiter = lambda target: target.conn.api.client.limiter  # noqa: E731
    assert MystoreTarget.from_credentials(c, tmp_path).conn.rate == (facts.RATE_LIMIT, facts.RATE_WINDOW_S)
    assert MystoreTarget.from_credentials({**c, "requests_per_minute": 30}, tmp_path).conn.rate == (30, 60.0)
    with pytest.raises(ValueError, match="MYSTORE_REQUESTS_PER_MINUTE"):
        MystoreTarget.from_credentials({**c, "requests_per_minute": 0}, tmp_path)
    assert MystoreTargetResource(token="t").requests_per_minute == facts.RATE_LIMIT
    emulator = MystoreEmulator(knobs=Knobs(), window_s=2.0)
    with running(emulator, lifetime=120) as handle:
        assert "requests_per_minute" not in handle.credentials  # a shop that limits: Mystore's own budget
        target = MystoreTarget(token=handle.credentials["token"], api_url=handle.base_url,
                               references=tmp_path / "r.json", rate=(facts.RATE_LIMIT, 2.0))
        for _ in range(130):
            assert target.count("manufacturers") == 0
        assert (limiter(target).limit, limiter(target).window) == (facts.RATE_LIMIT, 2.0)
        assert target.conn.api.client.retries == 0 and target.conn.api.client.requests_made >= 130


def migrate(handle, tmp_path, job="full_migration", **settings):
    resources = default_resources(tmp_path / "data", str(SAMPLE))
    resources["target"] = resource(handle, tmp_path)
    defs = build_definitions(resources)
    keys = [k for a in defs.assets for k in a.keys]
    result = defs.resolve_job_def(job).execute_in_process(
        run_config=run_config(keys, **settings), instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    failed = [(e.asset_key.to_user_string(), e.check_name, e.metadata)
              for e in result.get_asset_check_evaluations() if not e.passed]
    assert result.success and not failed, failed
    return json.loads((tmp_path / "data" / "reports" / "migration_report.json").read_text())


def test_sample_store_migrates_into_mystore_and_reruns_write_nothing(mystore, tmp_path):
    authorized_target(mystore, tmp_path)
    report = migrate(mystore, tmp_path, mode="full", keep_guest_orders=True)
    assert report["all_accounted_for"]
    by = {e["entity"]: e for e in report["entities"]}
    emulator = mystore.emulator
    assert len(emulator.data["products"]) == by["products"]["loaded"] == 500
    assert len(emulator.data["orders"]) == by["orders"]["loaded"] > 900  # guest orders kept (opt-in)
    refs = json.loads((tmp_path / "refs.json").read_text())  # source ids live here: Mystore holds none
    hidden = [tid for tid, sid in refs["categories"].items() if sid.startswith("__")]
    assert len(hidden) == 1 and emulator.data["categories"][int(hidden[0])]["attributes"]["status"] == 0
    order = emulator.records("orders")[0]["attributes"]
    assert all(order[f"billing_address_{f}"] for f in ("name", "city", "country"))
    # Many records per request: atomic batches, not single creates.
    assert emulator.batches < (by["products"]["loaded"] + by["customers"]["loaded"] + by["orders"]["loaded"]) / 10
    # Variants went through options → values → attributes → variants, and order totals are rows.
    assert emulator.data["product-variants"] and emulator.data["product-option-values"]
    assert {t["attributes"]["class"] for t in emulator.data["order-totals"].values()} >= {
        "ot_subtotal", "ot_shipping", "ot_tax", "ot_total"}
    # One status entry per order, and one more per refund (on the orders that have an ot_refund row).
    history = list(emulator.data["order-status-history"].values())
    refunds = [h for h in history if h["attributes"]["comments"].startswith("Refund")]
    assert len(history) - len(refunds) == len(emulator.data["orders"])
    assert refunds and {h["relationships"]["order"] for h in refunds} == {
        t["relationships"]["order"] for t in emulator.data["order-totals"].values()
        if t["attributes"]["class"] == "ot_refund"}
    # The 301 map went into the shop's redirects, not only the CSV.
    assert len(emulator.data["redirects"]) == report["redirects"] == report["redirects_written_to_target"] > 0
    assert all(r["attributes"]["code"] == 301 for r in emulator.data["redirects"].values())
    writes = emulator.writes
    again = migrate(mystore, tmp_path, mode="full", keep_guest_orders=True)
    assert emulator.writes == writes and again["totals"]["created"] == again["totals"]["updated"] == 0


@pytest.mark.slow  # two migrations of the sample store (~90 s)
def test_historical_orders_leave_stock_unchanged(mystore, tmp_path):
    authorized_target(mystore, tmp_path)
    migrate(mystore, tmp_path, mode="full", entities=["categories", "manufacturers", "tax_classes", "products"])
    emulator = mystore.emulator
    stock = lambda: ({i: r["attributes"]["quantity"] for i, r in emulator.data["products"].items()},  # noqa: E731
                     {i: r["attributes"]["quantity"] for i, r in emulator.data["product-variants"].items()})
    before = stock()
    migrate(mystore, tmp_path, mode="full", keep_guest_orders=True)
    assert emulator.data["order-products"]
    assert stock() == before
    # The control: an order-product without the meta draws stock down (the shop's default).
    pid, qty = next(iter(before[0].items()))
    shop = mystore.credentials["shop"]
    r = requests.post(f"{mystore.base_url}/shops/{shop}/order-products", timeout=10,
                      headers={"Authorization": f"Bearer {mystore.credentials['token']}",
                               "Content-Type": facts.JSONAPI},
                      data=json.dumps({"data": {"type": "order-products", "attributes": {"quantity": 2},
                                                "relationships": {"order": {"data": {"type": "orders", "id": "1"}},
                                                                  "product": {"data": {"type": "products",
                                                                                       "id": str(pid)}}}}}))
    assert r.status_code == 201
    assert emulator.data["products"][pid]["attributes"]["quantity"] == qty - 2


def test_cli_authorize_with_pasted_redirect(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from cart_pipelines.cli import app

    emulator = MystoreEmulator(knobs=Knobs(rate_limit=False))
    with running(emulator, lifetime=120) as handle:
        c = handle.credentials
        for k, v in {"MYSTORE_API_URL": handle.base_url, "MYSTORE_AUTH_URL": c["auth_url"],
                     "MYSTORE_CLIENT_ID": c["client_id"], "MYSTORE_CLIENT_SECRET": c["client_secret"],
                     "MYSTORE_REDIRECT_URI": c["redirect_uri"], "MYSTORE_TOKEN_FILE": str(tmp_path / "t.json"),
                     "MYSTORE_REFERENCES": str(tmp_path / "refs.json")}.items():
            monkeypatch.setenv(k, v)
        monkeypatch.delenv("MYSTORE_TOKEN", raising=False)
        import cart_pipelines.cli as cli_mod

        def prompt(text):
            url = next(line for line in reversed(printed) if "/oauth/authorize?" in line)
            return grant_access(url.strip(), c).headers["Location"]

        res = CliRunner().invoke(app, ["check", "--target", "mystore"])  # seed 002's check, target side
        assert res.exit_code == 1 and "authorize" in res.output, res.output
        printed = []
        monkeypatch.setattr("builtins.print", lambda *a, **k: printed.append(" ".join(map(str, a))))
        monkeypatch.setattr(cli_mod.typer, "prompt", prompt)
        res = CliRunner().invoke(app, ["authorize", "--no-listen"])
        assert res.exit_code == 0, res.output
        assert "authorized" in res.output and c["client_secret"] not in res.output
        assert TokenStore(tmp_path / "t.json").load().access_token
        res = CliRunner().invoke(app, ["check", "--target", "mystore"])
        assert res.exit_code == 0 and "connected; it holds 0 products now" in res.output, res.output
        assert c["client_secret"] not in res.output
        monkeypatch.setenv("MYSTORE_CLIENT_SECRET", "typo")
        res = CliRunner().invoke(app, ["authorize", "--no-listen"])
        assert res.exit_code == 1 and "check Client ID and Client Secret" in res.output
