"""Mystore as a target: the seed-000 OAuth walk-through against the emulator, then real migrations into it,
verified by reading Mystore back."""

import json
import re
import threading
import time

import dagster as dg
import pytest
import requests
from conftest import SAMPLE

from cart_pipelines.definitions import build_definitions
from cart_pipelines.defs.jobs import run_config
from cart_pipelines.defs.platform_resources import MystoreTargetResource
from cart_pipelines.defs.resources import default_resources
from cart_pipelines.platforms.kit.emulator import Knobs, running
from cart_pipelines.platforms.kit.oauth import (
    OAuthClient,
    OAuthError,
    TokenStore,
    listen_for_code,
    new_state,
)
from cart_pipelines.platforms.mystore.emulator import MystoreEmulator
from cart_pipelines.platforms.mystore.target import MystoreTarget


def grant_access(authorize_url: str, creds: dict, decision: str = "authorize") -> requests.Response:
    """What the shop owner does in the browser: log in with store name, e-mail and password, press Authorize."""
    s = requests.Session()
    page = s.get(authorize_url, timeout=10)
    session = re.search(r'name="session" value="([^"]+)"', page.text).group(1)
    base = authorize_url.split("/oauth/")[0]
    consent = s.post(f"{base}/oauth/login", timeout=10, data={
        "session": session, "store": creds["store_name"], "email": creds["email"], "password": creds["password"]})
    assert "Authorize" in consent.text, consent.text
    return s.post(f"{base}/oauth/consent", data={"session": session, "decision": decision}, timeout=10,
                  allow_redirects=False)


def authorized_target(handle, tmp_path) -> MystoreTarget:
    c = handle.credentials
    oauth = OAuthClient(handle.base_url, c["client_id"], c["client_secret"], c["redirect_uri"])
    state = new_state()
    redirect = grant_access(oauth.authorize_url(state), c)
    code = re.search(r"code=([^&]+)", redirect.headers["Location"]).group(1)
    assert f"state={state}" in redirect.headers["Location"]
    TokenStore(tmp_path / "token.json").save(oauth.exchange(code))
    return MystoreTarget(handle.base_url, c["client_id"], c["client_secret"], c["redirect_uri"],
                         tmp_path / "token.json")


@pytest.fixture
def mystore():
    emulator = MystoreEmulator(knobs=Knobs(rate_limit=False))
    with running(emulator, lifetime=300) as handle:
        yield handle


def test_authorization_code_flow_and_safe_token_file(mystore, tmp_path):
    target = authorized_target(mystore, tmp_path)
    assert (tmp_path / "token.json").stat().st_mode & 0o777 == 0o600
    assert target.count("products") == 0
    c = mystore.credentials
    oauth = OAuthClient(mystore.base_url, c["client_id"], "wrong-secret", c["redirect_uri"])
    with pytest.raises(OAuthError, match="check Client ID and Client Secret") as exc:
        oauth.exchange("whatever")
    assert "wrong-secret" not in str(exc.value)
    denied = grant_access(OAuthClient(mystore.base_url, c["client_id"], c["client_secret"],
                                      c["redirect_uri"]).authorize_url("s"), c, decision="deny")
    assert "error=access_denied" in denied.headers["Location"]


def test_loopback_listener_catches_the_redirect(tmp_path):
    emulator = MystoreEmulator(knobs=Knobs(rate_limit=False))
    emulator.redirect_uri = "http://127.0.0.1:18765/callback"
    with running(emulator, lifetime=120) as handle:
        c = handle.credentials
        oauth = OAuthClient(handle.base_url, c["client_id"], c["client_secret"], c["redirect_uri"])
        state, got = new_state(), {}
        listener = threading.Thread(target=lambda: got.update(code=listen_for_code(18765, state, timeout=20)))
        listener.start()
        time.sleep(0.3)
        s = requests.Session()
        page = s.get(oauth.authorize_url(state), timeout=10)
        session = re.search(r'name="session" value="([^"]+)"', page.text).group(1)
        s.post(f"{handle.base_url}/oauth/login", data={"session": session, "store": c["store_name"],
                                                        "email": c["email"], "password": c["password"]}, timeout=10)
        final = s.post(f"{handle.base_url}/oauth/consent", data={"session": session, "decision": "authorize"},
                       timeout=10)  # the browser follows the redirect to the listener
        listener.join(25)
        assert final.status_code == 200 and "Authorized" in final.text
        assert oauth.exchange(got["code"]).access_token


def test_expired_token_is_refreshed(tmp_path):
    emulator = MystoreEmulator(knobs=Knobs(rate_limit=False), token_ttl_s=1)
    with running(emulator, lifetime=120) as handle:
        target = authorized_target(handle, tmp_path)
        first = TokenStore(tmp_path / "token.json").load()
        time.sleep(1.5)
        assert target.count("customers") == 0
        assert TokenStore(tmp_path / "token.json").load().refresh_token != first.refresh_token


def migrate(handle, tmp_path, job="full_migration", **settings):
    c = handle.credentials
    resources = default_resources(tmp_path / "data", str(SAMPLE))
    resources["target"] = MystoreTargetResource(base_url=handle.base_url, client_id=c["client_id"],
                                                client_secret=c["client_secret"], redirect_uri=c["redirect_uri"],
                                                token_file=str(tmp_path / "token.json"))
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
    hidden = [c for c in emulator.data["categories"].values() if c.get("hidden") and c["external_ref"].startswith("__")]
    assert len(hidden) == 1
    order = next(iter(emulator.data["orders"].values()))
    assert all(order["billing_address"][f] for f in ("first_name", "last_name", "city", "country"))
    writes = emulator.writes
    again = migrate(mystore, tmp_path, mode="full", keep_guest_orders=True)
    assert emulator.writes == writes and again["totals"]["created"] == again["totals"]["updated"] == 0


def test_cli_authorize_with_pasted_redirect(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from cart_pipelines.cli import app

    emulator = MystoreEmulator(knobs=Knobs(rate_limit=False))
    with running(emulator, lifetime=120) as handle:
        c = handle.credentials
        for k, v in {"MYSTORE_URL": handle.base_url, "MYSTORE_CLIENT_ID": c["client_id"],
                     "MYSTORE_CLIENT_SECRET": c["client_secret"], "MYSTORE_REDIRECT_URI": c["redirect_uri"],
                     "MYSTORE_TOKEN_FILE": str(tmp_path / "t.json")}.items():
            monkeypatch.setenv(k, v)
        # The user's browser: follow whatever URL the command prints, then paste where it was sent.
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
