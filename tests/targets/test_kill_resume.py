"""A migration killed with SIGKILL in the middle of loading into Mystore resumes without duplicates and loses
nothing: records the killed run created but never recorded are adopted by their source id."""

import collections
import os
import signal
import subprocess
import sys

import pytest

from conftest import ROOT
from reliability import figures

from cart_pipelines.platforms.kit.emulator import Knobs, running
from cart_pipelines.platforms.mystore.emulator import MystoreEmulator
from cart_pipelines.platforms.mystore.target import authorize_against
from cart_pipelines.sample.generator import StoreSize, generate_store


def migrate_cmd(data, store):
    return [sys.executable, "-m", "cart_pipelines.cli", "migrate", "--full", "--target", "mystore",
            "--source", str(store), "--data", str(data)]


@pytest.mark.slow  # 44 s; the default suite resumes a load after a failed chunk (tests/test_load_set_based.py)
def test_sigkill_mid_load_then_resume(tmp_path):
    store = tmp_path / "store"
    # 40 products: more than one atomic batch holds (about 30 with their variants), so the kill lands with
    # products left to load; orders come after products.
    counts = generate_store(store, seed=12, size=StoreSize.scaled(40))
    proc: subprocess.Popen | None = None
    half: dict[str, int] = {}

    def kill_mid_load(request):
        """SIGKILL the migration the moment Mystore has applied its first write of products, before the answer
        leaves: the killed run created records it never recorded, and the resumed run must adopt them."""
        if proc is not None and not half and request.method == "POST" and emulator.data["products"]:
            half.update({e: len(rows) for e, rows in emulator.data.items()})
            os.kill(proc.pid, signal.SIGKILL)

    emulator = MystoreEmulator(knobs=Knobs(rate_limit=False, latency_ms=30, after_response=kill_mid_load))
    with running(emulator, lifetime=600) as handle:
        c = handle.credentials
        authorize_against(handle, tmp_path / "token.json")
        # The emulator limits nothing, so the client is given its budget (MYSTORE_REQUESTS_PER_MINUTE) instead of
        # pacing at 120/min: the resumed run's adoption reads are ~4 requests a product, minutes at Mystore's pace.
        env = {**os.environ, "MYSTORE_API_URL": handle.base_url, "MYSTORE_AUTH_URL": c["auth_url"],
               "MYSTORE_CLIENT_ID": c["client_id"], "MYSTORE_REFERENCES": str(tmp_path / "refs.json"),
               "MYSTORE_CLIENT_SECRET": c["client_secret"], "MYSTORE_REDIRECT_URI": c["redirect_uri"],
               "MYSTORE_REQUESTS_PER_MINUTE": str(c["requests_per_minute"]),
               "MYSTORE_TOKEN_FILE": str(tmp_path / "token.json"), "DAGSTER_HOME": str(tmp_path / "home")}
        proc = subprocess.Popen(migrate_cmd(tmp_path / "data", store), env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        returncode = proc.wait(240)
        assert half, "the migration finished before it could be killed"
        assert returncode == -signal.SIGKILL
        assert 0 < half["products"] < counts["products"] and half["orders"] == 0
        assert len(emulator.data["products"]) < counts["products"]  # nothing loaded after the kill
        done = subprocess.run(migrate_cmd(tmp_path / "data", store), env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "All 23 checks passed" in done.stdout
    # Mystore keeps no foreign reference: a duplicate would be a second record with the same slug or e-mail.
    keys = {"products": lambda a: a["slug"]["no"], "customers": lambda a: a["email"].lower(),
            "categories": lambda a: a["slug"]["no"]}
    duplicates = {e: [r for r, n in collections.Counter(key(x["attributes"]) for x in emulator.data[e].values()).items()
                      if n > 1] for e, key in keys.items()}
    lost = sum(max(0, counts[e] - len(emulator.data[e])) for e in ("products", "customers"))
    figures.record("kill_resume", "sigkill-mid-load-mystore", runs=2, faults={"sigkill": 1}, lost=lost,
                   duplicates=sum(map(len, duplicates.values())))
    assert not any(duplicates.values()), duplicates
    assert len(emulator.data["products"]) == counts["products"]
    assert len(emulator.data["customers"]) == counts["customers"]
