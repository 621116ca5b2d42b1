"""The Dagster UI in a real browser: `dagster dev` on 127.0.0.1 with this project, opened in headless Chromium
(Debian's package, driven by Playwright): the asset graph shows the stage groups, and a demo migration launched
from the UI succeeds. Screenshots go to the test's output directory."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    home = tmp / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "CART_PIPELINES_DATA": str(tmp / "data")}
    exe = Path(sys.executable).with_name("dagster")
    proc = subprocess.Popen([str(exe), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                            cwd=ROOT, env=env, stdout=open(tmp / "dagster.log", "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if requests.get(f"{url}/server_info", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None:
                pytest.fail("dagster dev exited: " + (tmp / "dagster.log").read_text()[-2000:])
            time.sleep(1)
        else:
            pytest.fail("dagster dev did not answer within 120 s")
        yield url, tmp
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


@pytest.fixture
def page(dagster_ui):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        yield page
        browser.close()


def dismiss_welcome(page) -> None:
    """A fresh instance greets with a newsletter dialog; a user would press Skip."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=8_000)
        skip.click()
    except Exception:  # no dialog this time
        pass


def test_asset_graph_shows_the_stages(dagster_ui, page):
    url, out = dagster_ui
    page.goto(f"{url}/asset-groups")
    dismiss_welcome(page)
    for group in ("extract", "transform", "load", "report"):
        page.get_by_text(group, exact=True).first.wait_for()
    page.screenshot(path=str(out / "asset-graph.png"), full_page=True)


def test_demo_migration_launched_from_the_ui_succeeds(dagster_ui, page):
    url, out = dagster_ui
    page.goto(f"{url}/locations/cart_pipelines/jobs/demo_migration/playground")
    dismiss_welcome(page)
    page.get_by_text("No errors").first.wait_for()
    page.get_by_role("button", name="Launch Run").click()
    page.wait_for_url("**/runs/**")
    page.get_by_text("Success", exact=True).first.wait_for(timeout=240_000)
    page.screenshot(path=str(out / "demo-run.png"), full_page=True)
