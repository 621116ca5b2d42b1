"""The Dagster UI in a real browser: `dagster dev` on 127.0.0.1 with this project, opened in headless Chromium
(Debian's package, driven by Playwright): the asset graph shows the stage groups, a demo migration launched
from the UI succeeds, and with a migrations file each migration is its own group — one added to the file appears
after "Reload definitions". Screenshots go to the test's output directory."""

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
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


@contextmanager
def running_ui(tmp: Path, **env):
    """`dagster dev` of this project on 127.0.0.1 with DAGSTER_HOME and data under `tmp`; yields its URL."""
    home = tmp / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "CART_PIPELINES_DATA": str(tmp / "data"), **env}
    exe = Path(sys.executable).with_name("dagster")
    proc = subprocess.Popen([str(exe), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                            cwd=ROOT, env=env, stdout=open(tmp / "dagster.log", "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 240
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
            pytest.fail("dagster dev did not answer within 240 s")
        yield url
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    with running_ui(tmp) as url:
        yield url, tmp


@pytest.fixture
def page(dagster_ui):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        dismiss_welcome(page)
        yield page
        browser.close()


def dismiss_welcome(page) -> None:
    """A fresh instance greets with a newsletter dialog, once; a user would press Skip. Playwright presses it
    whenever it shows up before an action or a wait on this page (no fixed wait for a dialog that may not come:
    8 s on every page after the first)."""
    page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda skip: skip.click())


# The tests on the module's `dagster dev` run on one xdist worker (scripts/test.sh: --dist loadgroup), so it starts
# once, not once per worker.
@pytest.mark.xdist_group("dagster_ui")
def test_asset_graph_shows_the_stages(dagster_ui, page):
    url, out = dagster_ui
    page.goto(f"{url}/asset-groups")
    for group in ("extract", "transform", "load", "report"):
        page.get_by_text(group, exact=True).first.wait_for()
    page.screenshot(path=str(out / "asset-graph.png"), full_page=True)


@pytest.mark.xdist_group("dagster_ui")
def test_demo_migration_launched_from_the_ui_succeeds(dagster_ui, page):
    url, out = dagster_ui
    page.goto(f"{url}/locations/cart_pipelines/jobs/demo_migration/playground")
    page.get_by_text("No errors").first.wait_for()
    page.get_by_role("button", name="Launch Run").click()
    page.wait_for_url("**/runs/**")
    page.get_by_text("Success", exact=True).first.wait_for(timeout=240_000)
    page.screenshot(path=str(out / "demo-run.png"), full_page=True)


def store_export_migrations(*names: str) -> str:
    """Entries of migrations.yaml: the bundled sample store into each migration's own local target."""
    return "".join(f"  - name: {n}\n    source: {{platform: store_export, path: {ROOT / 'data' / 'sample_store'}}}\n"
                   for n in names)


# Slow (50 s: two webservers' worth of page loads); the definitions of several migrations, one group each, are in
# the default suite through tests/test_migrations.py.
@pytest.mark.slow
def test_each_migration_is_its_own_group_and_a_reload_shows_an_added_one(tmp_path):
    """Two declared migrations: two groups named for them (mig.Migration.group) in the asset graph, each with its
    own assets; append a third to the file, press "Reload definitions", and its group appears (no restart)."""
    from playwright.sync_api import sync_playwright

    spec = tmp_path / "migrations.yaml"
    spec.write_text("migrations:\n" + store_export_migrations("north_shop", "south_shop"))
    with running_ui(tmp_path, CART_MIGRATIONS=str(spec)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(120_000)
        dismiss_welcome(page)
        try:
            for name in ("north_shop", "south_shop"):  # the group page lists the migration's own assets
                page.goto(f"{url}/locations/cart_pipelines/asset-groups/{name}")
                page.get_by_text("migration_report", exact=True).first.wait_for()
                page.get_by_text("lifecycle", exact=True).first.wait_for()
                assert page.get_by_text(name, exact=True).count() >= 1
            page.goto(f"{url}/asset-groups")
            for name in ("north_shop", "south_shop"):
                page.get_by_text(name, exact=True).first.wait_for()
            assert page.get_by_text("extract", exact=True).count() == 0  # stages are not groups here
            page.screenshot(path=str(tmp_path / "migration-groups.png"), full_page=True)

            spec.write_text(spec.read_text() + store_export_migrations("east_shop"))
            page.get_by_role("button", name="Reload definitions").click()
            page.get_by_text("east_shop", exact=True).first.wait_for(timeout=240_000)
            for name in ("north_shop", "south_shop"):
                assert page.get_by_text(name, exact=True).count() >= 1
            page.screenshot(path=str(tmp_path / "migration-groups-reloaded.png"), full_page=True)
        finally:
            browser.close()
