"""Benchmark: our extraction side by side with other people's connectors, on the same emulators and stores.

For each platform and mode (the emulator at its default plan's rate limits, then with limits off), every tool reads
the same entities (products and customers) from a fresh emulator serving the same cached generated store, in its
own process: our extraction (pipeline.extract, as a migration's steps run it), dlt's `rest_api` source configured
for the platform, and the platform's Airbyte source (and tap-shopify with --platforms shopify). Each peer is
installed from PyPI into a virtualenv of its own under bench/.cache/peers/ (the project does not depend on them)
and pointed at the emulator with nothing changed but the host, as scripts/peers/ does (docs/peers.md). Reported per
tool: rows of products and customers, records the tool emitted (variations are records of their own for some),
seconds of the whole process, rows/s, requests counted at the emulator (and how many it answered 429), peak RSS of
the tool's process tree, ours ÷ peer in rows/s, and under limits ours against the bound the limit allows. Writes
the "Side by side with other tools" section of docs/benchmarks.md.

    .venv/bin/python bench/peers_extract.py [--platforms woocommerce,bigcommerce] [--tools ours,dlt,airbyte]
        [--products woocommerce=2000,bigcommerce=10000] [--limited-products woocommerce=500,bigcommerce=100000]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, ROOT, spawn, store_for, timed, write_section  # noqa: E402

SECTION = "## Side by side with other tools"
PEERS_DIR = CACHE / "peers"  # the same venvs scripts/peers/ uses
RESULTS = CACHE / "peers_extract.json"
ENTITIES = ("products", "customers")
EMULATOR_LIFETIME = 7200  # the emulator stops itself after this whatever happens


@dataclass(frozen=True)
class Peer:
    """A connector from PyPI, in its own venv: `kind` is how it is driven (dlt, airbyte, singer)."""

    kind: str
    venv: str
    package: str  # a pinned requirement
    python: str = "python3.11"
    extra: tuple[str, ...] = ()
    streams: dict = field(default_factory=dict)  # our entity -> the peer's streams holding it


PEERS = {
    "woocommerce": {
        "dlt": Peer("dlt", "dlt", "dlt==1.31.0"),
        "airbyte": Peer("airbyte", "woo-airbyte", "airbyte-source-woocommerce==0.4.12",
                        streams={"products": ("products", "product_variations"), "customers": ("customers",)}),
    },
    "bigcommerce": {
        "dlt": Peer("dlt", "dlt", "dlt==1.31.0"),
        # Its airbyte-cdk 1.0.0 does not import on Python 3.11 (a dataclass with a mutable default).
        "airbyte": Peer("airbyte", "airbyte", "airbyte-source-bigcommerce==0.2.22", python="python3.10",
                        extra=("pip-system-certs>=4.0",),
                        streams={"products": ("products",), "customers": ("customers",)}),
    },
    "shopify": {
        "singer": Peer("singer", "shopify-singer", "tap-shopify==3.13.0",
                       streams={"products": ("products",), "customers": ("customers",)}),
    },
}
NOT_RUN = {  # peers asked for that cannot read this platform's emulator, and why
    ("shopify", "dlt"): "dlt's rest_api source reads REST endpoints; Shopify's products and customers are read "
                        "through the Admin GraphQL API here",
    ("shopify", "airbyte"): "airbyte-source-shopify reads products and customers as bulk streams with "
                            "bulkOperationRunQuery(groupObjects:), an argument the 2025-01 Admin schema we hold "
                            "lacks, so the emulator refuses them as that version would (docs/peers.md)",
}
PROXIED = {"bigcommerce": "api.bigcommerce.com", "shopify": "emulated-shop.myshopify.com"}  # hosts peers hard-code
TLS = {"woocommerce"}  # the Airbyte source speaks HTTPS only: every tool reads the same TLS emulator

EMULATOR = r"""
import json, os, sys, threading, time
from pathlib import Path
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs, serve

name, store, limited, latency, per_item, tls, lifetime = sys.argv[1:8]
base = platforms.emulator_class(name)
counts = {"requests": 0, "throttled": 0, "first": None, "last": None}
lock = threading.Lock()


def counted(self, environ, start_response):  # every request, the 429s among them, and when the first came
    arrived = time.time()
    def respond(status, headers, exc_info=None):
        with lock:
            counts["requests"] += 1
            counts["throttled"] += status.startswith("429")
            counts["first"] = counts["first"] or arrived
            counts["last"] = time.time()
        return start_response(status, headers, exc_info)
    return base.__call__(self, environ, respond)


def report():  # the counts so far; the span of requests starts again from the next one
    with lock:
        print(json.dumps(counts), flush=True)
        counts["first"] = counts["last"] = None


emulator = type("Counted", (base,), {"__call__": counted})(
    EmulatorStore(Path(store)), Knobs(rate_limit=limited == "1", latency_ms=float(latency),
                                      latency_per_item_ms=float(per_item)))
handle = serve(emulator, tls=tls == "1", lifetime=float(lifetime))
print(json.dumps(handle.announce()), flush=True)
# Told what to do on stdin, not by signals: a signal can land in a DuckDB worker thread mid-call. "count" prints
# the counts; end of input (the bench closed it, or died) stops the server; so does the lifetime.
threading.Timer(float(lifetime), lambda: os._exit(0)).start()
for line in sys.stdin:
    if line.strip() == "count":
        report()
handle.stop()
os._exit(0)
"""

OURS = r"""
import json, sys
from pathlib import Path
from cart_pipelines.platforms import registry as platforms
from cart_pipelines.pipeline.extract import extract_entity
from cart_pipelines.pipeline.staging import Staging

name, announce, out, entities = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3]), sys.argv[4].split(",")
base = announce.pop("base_url"); announce.pop("platform", None); ca = announce.pop("ca_file", None)
src = platforms.source_class(name).connect(base, announce, verify=ca or True)
rows = {}
for entity in entities:  # one after the other, as a migration's extract steps run
    res = extract_entity(src, entity, Staging(out))
    rows[entity] = res.staged + res.quarantined
print(json.dumps({"records": rows}))
"""

DLT = r"""
import json, sys, tempfile
import dlt
from dlt.sources.rest_api import rest_api_source

config = json.loads(sys.argv[1])
counts = {}
source = rest_api_source(config)


def counter(name):
    def count(item):
        counts[name] = counts.get(name, 0) + 1
        return item
    return count


for name, resource in source.resources.items():
    resource.add_map(counter(name))
pipeline = dlt.pipeline(pipeline_name="peers_bench", pipelines_dir=tempfile.mkdtemp(prefix="dlt-bench-"))
pipeline.extract(source)  # extraction to dlt's own files, as ours stages Parquet; no destination load
print(json.dumps({"records": counts}))
"""


def dlt_config(platform: str, announce: dict) -> dict:
    """dlt's rest_api source for the platform, as its documentation configures one: the API root, auth, the
    platform's paging, and the list endpoints of products and customers."""
    base = announce["base_url"]
    if platform == "woocommerce":
        return {"client": {"base_url": f"{base}/wp-json/wc/v3/",
                           "auth": {"type": "http_basic", "username": announce["consumer_key"],
                                    "password": announce["consumer_secret"]},
                           "paginator": {"type": "header_link"}},  # WordPress's Link rel="next"
                "resource_defaults": {"endpoint": {"params": {"per_page": 100}}},
                "resources": ["products", "customers",
                              {"name": "product_variations",
                               "endpoint": {"path": "products/{product_id}/variations",
                                            "params": {"product_id": {"type": "resolve", "resource": "products",
                                                                      "field": "id"}}}}]}
    if platform == "bigcommerce":
        paging = {"type": "page_number", "base_page": 1, "page_param": "page",
                  "total_path": "meta.pagination.total_pages"}
        return {"client": {"base_url": f"{base}/stores/{announce['store_hash']}/",
                           "auth": {"type": "api_key", "name": "X-Auth-Token", "api_key": announce["access_token"],
                                    "location": "header"},
                           "paginator": paging},
                "resource_defaults": {"endpoint": {"data_selector": "data", "params": {"limit": 250}}},
                "resources": [{"name": "products", "endpoint": {"path": "v3/catalog/products",
                                                                "params": {"include": "variants,images"}}},
                              {"name": "customers", "endpoint": {"path": "v3/customers",
                                                                 "params": {"include": "addresses"}}}]}
    raise ValueError(f"no dlt configuration for {platform}")


DLT_STREAMS = {"woocommerce": {"products": ("products", "product_variations"), "customers": ("customers",)},
               "bigcommerce": {"products": ("products",), "customers": ("customers",)}}


# --- installing peers ------------------------------------------------------------------------------------------

def find_python(name: str) -> str | None:
    """An interpreter such as python3.10: on PATH, else one pyenv installed."""
    found = shutil.which(name)
    # a pyenv shim is on PATH for every installed version but runs only where that version is selected
    if found and subprocess.run([found, "-c", "pass"], capture_output=True).returncode == 0:
        return found
    version = name.removeprefix("python")
    matches = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/{name}")))
    return matches[-1] if matches else None


def ensure_peer(peer: Peer) -> Path:
    """The peer's venv with its pinned package installed (kept between runs); raises RuntimeError saying why
    when it cannot be had."""
    venv = PEERS_DIR / peer.venv
    py = venv / "bin" / "python"
    name, version = peer.package.split("==")
    have = subprocess.run([str(py), "-m", "pip", "show", name], capture_output=True, text=True) if py.exists() \
        else None
    if have is None or have.returncode != 0 or f"Version: {version}" not in have.stdout:
        interpreter = find_python(peer.python)
        if interpreter is None:
            raise RuntimeError(f"{peer.package} needs {peer.python}, which is not installed")
        print(f"installing {peer.package} into {venv} ...", flush=True)
        subprocess.run([interpreter, "-m", "venv", "--clear", str(venv)], check=True)
        res = subprocess.run([str(py), "-m", "pip", "install", "--quiet", peer.package, *peer.extra],
                             capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"pip could not install {peer.package}: "
                               f"{(res.stderr.strip().splitlines() or ['?'])[-1][:150]}")
    for extra in peer.extra:
        if subprocess.run([str(py), "-m", "pip", "show", extra.split(">")[0]], capture_output=True).returncode:
            subprocess.run([str(py), "-m", "pip", "install", "--quiet", extra], check=True)
    return venv


# --- the emulator ------------------------------------------------------------------------------------------------

class Emulator:
    """The platform's emulator in its own process, serving `store`, counting the requests it answers."""

    def __init__(self, platform: str, store: Path, limited: bool, latency_ms: float, per_item_ms: float):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", EMULATOR, platform, str(store), "1" if limited else "0", str(latency_ms),
             str(per_item_ms), "1" if platform in TLS else "0", str(EMULATOR_LIFETIME)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        line = self.proc.stdout.readline()
        if not line:
            self.proc.kill()
            raise RuntimeError(f"the {platform} emulator did not start")
        self.announce = json.loads(line)

    def counts(self) -> dict:
        """Requests so far (and the span of those since the last call); RuntimeError when the emulator is gone."""
        try:
            self.proc.stdin.write("count\n")
            self.proc.stdin.flush()
            return json.loads(self.proc.stdout.readline())
        except (OSError, ValueError):
            raise RuntimeError(f"the emulator stopped (exit {self.proc.poll()})") from None

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def last_error(path: Path) -> str:
    lines = [l for l in path.read_text(errors="replace").splitlines() if l.strip()] if path.exists() else []
    return (lines[-1] if lines else "no output")[:200]


def message_counts(path: Path) -> tuple[dict, list[str]]:
    """Records per stream of an Airbyte or Singer message stream, and the errors it traced."""
    counts, errors = {}, []
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if m.get("type") == "RECORD":
            stream = m.get("stream") or (m.get("record") or {}).get("stream")
            counts[stream] = counts.get(stream, 0) + 1
        elif m.get("type") == "TRACE" and (m.get("trace") or {}).get("type") == "ERROR":
            errors.append((m["trace"]["error"].get("message") or "")[:200])
    return counts, errors


def main_rows(records: dict, streams: dict) -> int:
    """Products and customers as rows: the records of the streams that hold them (variations count only where
    they are the products' own records, which they are not: they are left out here)."""
    return sum(records.get(streams[e][0], 0) for e in ENTITIES)


# --- one tool's run ----------------------------------------------------------------------------------------------

def run_ours(platform: str, emulator: Emulator, work: Path, timeout: float) -> dict:
    m = timed([sys.executable, "-c", OURS, platform, json.dumps(emulator.announce), str(work / "staging"),
               ",".join(ENTITIES)], None, timeout, work / "ours.out")
    if m["exit"] == 0:
        m["records"] = json.loads((work / "ours.out").read_text().strip().splitlines()[-1])["records"]
        m["rows"] = sum(m["records"].values())
    return m


def run_dlt(platform: str, emulator: Emulator, work: Path, timeout: float, venv: Path) -> dict:
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false", "RUNTIME__LOG_LEVEL": "WARNING"}
    if emulator.announce.get("ca_file"):
        env["REQUESTS_CA_BUNDLE"] = emulator.announce["ca_file"]
    m = timed([str(venv / "bin" / "python"), "-c", DLT, json.dumps(dlt_config(platform, emulator.announce))], env,
              timeout, work / "dlt.out")
    if m["exit"] == 0:
        m["records"] = json.loads((work / "dlt.out").read_text().strip().splitlines()[-1])["records"]
        m["rows"] = main_rows(m["records"], DLT_STREAMS[platform])
    return m


def through_proxy(platform: str, emulator: Emulator, env: dict, stack: list) -> None:
    """A peer that hard-codes the platform's host reaches the emulator through HTTPS_PROXY: a local CONNECT proxy
    answering for that one host with a certificate from a CA made now (scripts/peers/bigcommerce_proxy.py)."""
    proxy, info = spawn([sys.executable, str(ROOT / "scripts" / "peers" / "bigcommerce_proxy.py"), "--emulator",
                         emulator.announce["base_url"], "--host", PROXIED[platform], "--lifetime",
                         str(EMULATOR_LIFETIME)], f"{platform} proxy")
    stack.append(lambda: (proxy.terminate(), proxy.wait(timeout=30)))
    env.update(HTTPS_PROXY=info["https_proxy"], https_proxy=info["https_proxy"], REQUESTS_CA_BUNDLE=info["ca_file"],
               SSL_CERT_FILE=info["ca_file"], NO_PROXY="127.0.0.1,localhost")


def airbyte_setup(platform: str, emulator: Emulator, work: Path, venv: Path, stack: list) -> tuple[list, dict]:
    """The Airbyte source's command and environment, with only the host changed (see scripts/peers/)."""
    a = emulator.announce
    env = dict(os.environ)
    if platform == "woocommerce":
        config = {"api_key": a["consumer_key"], "api_secret": a["consumer_secret"],
                  "shop": a["base_url"].removeprefix("https://"), "start_date": "2023-01-01"}
        # The CDK sends prepared requests (Session.send), which skip REQUESTS_CA_BUNDLE: the run's CA goes into the
        # venv's certifi bundle, as one installs a private CA, and the bundle is restored afterwards.
        bundle = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import certifi; print(certifi.where())"],
                                     capture_output=True, text=True, check=True).stdout.strip())
        original = bundle.with_name(bundle.name + ".orig")
        if not original.exists():
            shutil.copyfile(bundle, original)
        bundle.write_bytes(original.read_bytes() + Path(a["ca_file"]).read_bytes())
        stack.append(lambda: shutil.copyfile(original, bundle))
        env["REQUESTS_CA_BUNDLE"] = a["ca_file"]
        exe = venv / "bin" / "source-woocommerce"
    else:
        through_proxy(platform, emulator, env, stack)  # it hard-codes https://api.bigcommerce.com
        config = {"start_date": "2020-01-01", "store_hash": a["store_hash"], "access_token": a["access_token"]}
        exe = venv / "bin" / "source-bigcommerce"
    (work / "config.json").write_text(json.dumps(config))
    return [str(exe)], env


def run_airbyte(platform: str, emulator: Emulator, work: Path, timeout: float, venv: Path, peer: Peer) -> dict:
    cleanup: list = []
    try:
        cmd, env = airbyte_setup(platform, emulator, work, venv, cleanup)
        found = subprocess.run(cmd + ["discover", "--config", str(work / "config.json")], capture_output=True,
                               text=True, env=env, timeout=300, cwd=work)
        catalog = next((json.loads(l)["catalog"] for l in found.stdout.splitlines() if '"CATALOG"' in l), None)
        if catalog is None:
            lines = [l for l in (found.stderr + found.stdout).splitlines() if l.strip()] or ["no output"]
            return {"error": f"discover gave no catalog: {lines[-1][:200]}"}
        wanted = {s for e in ENTITIES for s in peer.streams[e]}
        chosen = [{"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
                  for s in catalog["streams"] if s["name"] in wanted]
        (work / "catalog.json").write_text(json.dumps({"streams": chosen}))
        before = emulator.counts()  # discovery's requests are not the read's
        m = timed(cmd + ["read", "--config", str(work / "config.json"), "--catalog", str(work / "catalog.json")],
                  env, timeout, work / "airbyte.out")
        m["before"] = before
        m["records"], errors = message_counts(work / "airbyte.out")
        m["rows"] = main_rows(m["records"], peer.streams)
        if errors:
            m["errors"] = errors[:3]
        return m
    finally:
        for undo in reversed(cleanup):
            undo()


def run_singer(platform: str, emulator: Emulator, work: Path, timeout: float, venv: Path, peer: Peer) -> dict:
    """tap-shopify: discover, select the streams, sync; it insists on https://{shop}.myshopify.com."""
    cleanup: list = []
    try:
        env = dict(os.environ)
        through_proxy(platform, emulator, env, cleanup)
        config = {"shop": PROXIED[platform].split(".")[0], "api_key": emulator.announce["access_token"],
                  "start_date": "2020-01-01T00:00:00Z", "request_timeout": 30}
        (work / "config.json").write_text(json.dumps(config))
        tap = str(venv / "bin" / "tap-shopify")
        found = subprocess.run([tap, "--config", str(work / "config.json"), "--discover"], capture_output=True,
                               text=True, env=env, timeout=300, cwd=work)
        try:
            catalog = json.loads(found.stdout)
        except ValueError:
            lines = [l for l in found.stderr.splitlines() if l.strip()] or ["no output"]
            return {"error": f"discover gave no catalog: {lines[-1][:200]}"}
        wanted = {s for e in ENTITIES for s in peer.streams[e]}
        for stream in catalog["streams"]:
            for m in stream["metadata"]:
                if m["breadcrumb"] == []:
                    m["metadata"]["selected"] = stream["tap_stream_id"] in wanted
        (work / "catalog.json").write_text(json.dumps(catalog))
        before = emulator.counts()
        m = timed([tap, "--config", str(work / "config.json"), "--catalog", str(work / "catalog.json")], env,
                  timeout, work / "singer.out")
        m["before"] = before
        m["records"], _ = message_counts(work / "singer.out")
        m["rows"] = main_rows(m["records"], peer.streams)
        return m
    finally:
        for undo in reversed(cleanup):
            undo()


def run_tool(platform: str, tool: str, store: Path, limited: bool, args) -> dict:
    """One tool against a fresh emulator of the store: its figures, or why it did not run."""
    row = {"platform": platform, "tool": tool, "limited": limited}
    peer = PEERS[platform].get(tool)
    try:
        venv = ensure_peer(peer) if peer else None
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        return {**row, "error": f"not installed: {exc}"}
    row["package"] = peer.package if peer else "cart_pipelines"
    emulator = Emulator(platform, store, limited, args.latency_ms, args.latency_per_item_ms)
    work = Path(tempfile.mkdtemp(prefix=f"peers-{platform}-{tool}-", dir=CACHE))
    try:
        if tool == "ours":
            m = run_ours(platform, emulator, work, args.timeout)
        elif peer.kind == "dlt":
            m = run_dlt(platform, emulator, work, args.timeout, venv)
        elif peer.kind == "singer":
            m = run_singer(platform, emulator, work, args.timeout, venv, peer)
        else:
            m = run_airbyte(platform, emulator, work, args.timeout, venv, peer)
        try:
            after = emulator.counts()
        except RuntimeError as exc:
            return {**row, **m, "error": str(exc), "rows": 0}
        before = m.pop("before", {"requests": 0, "throttled": 0})
        m["requests"], m["throttled"] = after["requests"] - before["requests"], after["throttled"] - before["throttled"]
        # From the first request of the read to the last answer: the extraction without the tool's start-up
        # (imports, config) and end, which the process's seconds include.
        m["span"] = (after["last"] - after["first"]) if after["first"] else None
        if m.get("exit") not in (0, None) and "error" not in m:
            m["error"] = "timed out" if m["exit"] == "timeout" else \
                f"exit {m['exit']}: {last_error(work / f'{tool}.err')}"
        return {**row, **m}
    finally:
        emulator.stop()
        shutil.rmtree(work, ignore_errors=True)


def bound(platform: str, rows: int, requests: int) -> float | None:
    """Rows/s the default plan's request limit allows at the rows per request our extraction needed."""
    from cart_pipelines.platforms import registry as platforms

    plans = getattr(platforms.emulator_module(platform), "PLANS", {})
    limit = plans.get("standard")
    if not limit or not requests or not isinstance(limit, tuple):
        return None
    return limit[0] / limit[1] * rows / requests


# --- the page ---------------------------------------------------------------------------------------------------

DEFAULT_COMMAND = ".venv/bin/python bench/peers_extract.py"


def rate(r: dict) -> float:
    """Rows/s over the span of the tool's requests (its start-up left out), else over its process's life."""
    return r["rows"] / (r.get("span") or r["seconds"])


def markdown(rows: list[dict], settings: dict, when: str) -> str:
    commands = list(dict.fromkeys(r.get("command", DEFAULT_COMMAND) for r in rows))
    lines = [SECTION, "",
             f"Measured {when} by {' and '.join(f'`{c}`' for c in commands)} on this project's CI machine kind "
             "(2 cores, shared with other sessions). Every tool reads products and customers from a fresh emulator "
             "serving the same generated store (`cart-pipelines generate-sample`, seed 7), with "
             f"{settings['latency_ms']:g} ms latency per response plus {settings['latency_per_item_ms']:g} ms per "
             "record, in a process of its own. *rows* are its products and customers, *records* everything it "
             "emitted (WooCommerce variations are records of their own for the peers; ours nests them in products). "
             "*process s* is the tool's whole process life, start-up included, *CPU s* its process tree's user + "
             "system time (the work, whatever else shared the cores); *read s* the span from its first "
             "request to its last answer at the emulator, and *rows/s* = rows ÷ read s (start-up, a few seconds "
             "to a minute on a loaded machine, is no part of extraction speed). *requests* are what the emulator "
             "answered, *429* those it refused by the limit; *peak RSS* is the tool's process tree; *load* the "
             "machine's 1-minute load average as the tool ended (2 cores: above 2, other work shared them, so "
             "compare the rows of one group, measured together). *ours ÷ peer* is our rows/s over the peer's. "
             "Under the default plan, *bound* is the plan's requests/s × the rows per request our extraction "
             "needed, and *ours ÷ bound* how much of the limit we use (goal ≥ 0.95; with limits off, goal ≥ 1.5 × "
             "the fastest peer).", "",
             "| platform | mode | products | tool | rows | records | process s | CPU s | read s | rows/s | requests | "
             "429 | peak RSS MB | ours ÷ peer | bound rows/s | ours ÷ bound | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["platform"], r["limited"]), []).append(r)
    for (platform, limited), group in groups.items():
        ours = next((r for r in group if r["tool"] == "ours" and "error" not in r), None)
        b = bound(platform, ours["rows"], ours["requests"]) if ours and limited else None
        mode = "default plan" if limited else "limits off"
        for r in group:
            name = f"{r['tool']} ({r['package']})" if r["tool"] != "ours" and r.get("package") else r["tool"]
            head = f"| {platform} | {mode} | {r['products']:,} | {name} |"
            if not r.get("rows"):
                why = r.get("error", "no rows")
                if r.get("requests") and r.get("span"):  # it ran, but printed nothing before it was stopped
                    why += (f" after {r['seconds']:.0f} s, {r['requests']:,} requests answered in {r['span']:.0f} s"
                            + (f" ({r['requests'] / r['span']:.2f}/s; ours {ours['requests'] / ours['span']:.2f}/s "
                               f"for {ours['requests']:,} in all)" if ours and ours.get("span") else ""))
                lines.append(f"{head} not run: {why} ||||||||||||")
                continue
            note = f" ({r['error']})" if "error" in r else ""
            ratio = "-" if r["tool"] == "ours" or not ours else f"{rate(ours) / rate(r):.2f}"
            against = (f"{b:,.0f}", f"{rate(r) / b:.2f}" if r["tool"] == "ours" else "-") if b else ("-", "-")
            span = f"{r['span']:.1f}" if r.get("span") else "-"
            cpu = f"{r['cpu_s']:.1f}" if r.get("cpu_s") is not None else "-"
            lines.append(
                f"{head} {r['rows']:,}{note} | {sum(r['records'].values()):,} | {r['seconds']:.1f} | {cpu} | {span} | "
                f"{rate(r):,.0f} | {r['requests']:,} | {r['throttled']:,} | {r['peak_rss_mb'] or 0:,.0f} | {ratio} | "
                f"{against[0]} | {against[1]} | {r.get('load_avg', '-')} |")
    lines += ["", "Reading the table:", "",
              "- Requests differ by design, not by paging: WooCommerce serves variations as a sub-resource, and our "
              "connector asks for them only for variable products, where dlt (configured here with a `resolve` of "
              "every product id, as its documentation shows for a child endpoint) and Airbyte's "
              "`product_variations` substream ask once per product.",
              "- Under a request limit, fewer requests are the speed: a tool that uses the whole limit but needs "
              "three times the requests reads at a third of the rate. *ours ÷ bound* says how much of the limit "
              "our pacing uses. Ours keeps BigCommerce's 3 requests in flight for every list (products in id "
              "ranges, customers in spans of creation time, each span streamed in order with a fixed window of "
              "pages: `kit/keyset.py`, `TimeKeyset` in `kit/rest.py`), and the pacer counts the requests in "
              "flight against the requests left, so each window is used to its last request but one "
              "(`kit/pacing.py`).",
              "- What is left below the bound is local CPU, not waiting: a BigCommerce page of 250 products with "
              "their variants and images cost ours about 0.15 CPU s to parse, map, coerce to the canonical model "
              "(the larger part) and stage when these rows were measured (about 0.07 CPU s since per-schema "
              "compiled coercion: *CPU per record* under *Extraction throughput*), and the emulator renders it on the same two cores; at a *load* well "
              "above 2 every tool gets a fraction of a core (*CPU s* against *read s*), so compare a group's rows "
              "with each other, measured together. Starved of CPU, rows/s follow CPU s per row, with limits off "
              "too: ours does more per row than a peer that writes the JSON it got (each record is coerced to the "
              "canonical model, with a quarantine reason where it cannot be, and staged to Parquet).",
              "- Shopify limits by query cost, not by requests: a bucket (2,000 points on the standard plan, restored "
              "at 100 points/s) admits a query when it holds the query's requested cost and keeps its actual cost. "
              "Ours reads each product with its variants (SKU, price, stock, options, weight), media and "
              "collections nested, about 19 actual points a product; tap-shopify's products stream carries media "
              "but no variants (its product_variants stream, not selected here, reads them). Once what the first "
              "page cost says the pages would wait on the bucket for over 20 s, ours reads the rest by one bulk "
              "operation, which the bucket does not pace (a handful of requests in all); below that, pages in id ranges, 4 at "
              "a time, each query's requested cost reserved in the bucket while it is in flight. The peers' "
              "*bound* column is blank for Shopify: a cost bucket has no rows-per-request bound.",
              "- Peak RSS: ours holds DuckDB and pyarrow (each entity is staged to Parquet in bounded batches), "
              "the peers a page at a time and a writer of JSON lines.",
              "- A peer that cannot read a platform's emulator is listed with the reason; what each peer reads "
              "beyond these two entities is in [peers.md](peers.md).",
              "", f"Rerun: `{DEFAULT_COMMAND}` (it installs each peer into bench/.cache/peers/ on first use; "
              "`--platforms`, `--tools`, `--products`, `--limited-products`, `--modes`, `--timeout` per tool run; "
              "a run of some platforms, modes and tools keeps the other rows of the last run, from "
              "bench/.cache/peers_extract.json). How each peer reaches the emulator with only its host changed: "
              "[peers.md](peers.md)."]
    return "\n".join(lines) + "\n"


def sizes_by_platform(text: str, platforms: list[str]) -> dict[str, int]:
    """'2000' (every platform) or 'woocommerce=500,bigcommerce=100000' -> products per platform."""
    out, default = {}, None
    for part in [p.strip() for p in text.split(",") if p.strip()]:
        name, _, value = part.rpartition("=")
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a product count: {part!r}") from None
        if name:
            out[name] = n
        else:
            default = n
    missing = [p for p in platforms if p not in out and default is None]
    if missing:
        raise argparse.ArgumentTypeError(f"no product count for {', '.join(missing)} in {text!r}")
    return {p: out.get(p, default) for p in platforms}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--platforms", default="woocommerce,bigcommerce")
    ap.add_argument("--tools", default="ours,dlt,airbyte,singer", help="ours, dlt, airbyte, singer (tap-shopify).")
    # Sizes at which each mode takes minutes, not hours: the WooCommerce peers read every product's variations
    # one request each (2.5 requests/s under the host limit), and BigCommerce's 150 requests / 30 s window only
    # binds once a read needs well over 150 requests (250 records a page).
    ap.add_argument("--products", default="woocommerce=2000,bigcommerce=10000,shopify=2000",
                    help="Products in the store with limits off: N, or platform=N,...")
    ap.add_argument("--limited-products", default="woocommerce=500,bigcommerce=100000,shopify=2000",
                    help="Products in the store under the default plan's limits: N, or platform=N,...")
    ap.add_argument("--modes", default="limited,unlimited", help="limited (default plan), unlimited (limits off).")
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--latency-per-item-ms", type=float, default=0.2)
    ap.add_argument("--timeout", type=float, default=900, help="Seconds one tool's run may take.")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = ap.parse_args()
    names = [p for p in args.platforms.split(",") if p]
    sizes = {"limited": sizes_by_platform(args.limited_products, names),
             "unlimited": sizes_by_platform(args.products, names)}
    settings = {"latency_ms": args.latency_ms, "latency_per_item_ms": args.latency_per_item_ms}
    command = ".venv/bin/python bench/peers_extract.py" + "".join(
        f" --{k.replace('_', '-')} {v}" for k, v in vars(args).items()
        if k != "out" and v != ap.get_default(k))
    rows = []
    for mode in [m for m in args.modes.split(",") if m]:
        limited = mode == "limited"
        for platform in names:
            products = sizes[mode][platform]
            store = store_for(products)
            for tool in [t for t in args.tools.split(",") if t]:
                if tool != "ours" and tool not in PEERS.get(platform, {}):
                    if (platform, tool) in NOT_RUN:
                        rows.append({"platform": platform, "tool": tool, "limited": limited, "products": products,
                                     "error": NOT_RUN[(platform, tool)]})
                    continue
                print(f"{platform} {mode} {products} products: {tool} ...", flush=True)
                try:
                    r = run_tool(platform, tool, store, limited, args)
                except Exception as exc:  # one tool's failure is a row of the table, not the end of the run
                    r = {"platform": platform, "tool": tool, "limited": limited,
                         "error": f"{type(exc).__name__}: {exc}"[:200]}
                r.update(products=products, load_avg=round(os.getloadavg()[0], 1), command=command)
                print("  " + json.dumps(r), flush=True)
                rows.append(r)
                save(rows, settings, Path(args.out))  # after each tool: a stopped run keeps what it measured
    print(f"wrote {args.out}")


def save(rows: list[dict], settings: dict, out: Path) -> None:
    everything = merged(rows)
    RESULTS.write_text(json.dumps({"settings": settings, "rows": everything}, indent=2))
    write_section(markdown(everything, settings, f"{datetime.now(timezone.utc):%Y-%m-%d}"), out)


def merged(rows: list[dict]) -> list[dict]:
    """This run's rows, with the last runs' rows of the platforms, modes and tools it did not measure (so one
    platform, or one tool, can be measured again alone)."""
    measured = {(r["platform"], r["limited"], r["tool"]) for r in rows}
    old = json.loads(RESULTS.read_text())["rows"] if RESULTS.exists() else []
    kept = [r for r in old if (r["platform"], r["limited"], r["tool"]) not in measured]
    return sorted(kept + rows, key=lambda r: (r["platform"], not r["limited"]))


def rerender(out: str = str(ROOT / "docs" / "benchmarks.md")) -> None:
    """Write the section again from the last run's figures (bench/.cache/peers_extract.json)."""
    last = json.loads(RESULTS.read_text())
    write_section(markdown(last["rows"], last["settings"], f"{datetime.now(timezone.utc):%Y-%m-%d}"), Path(out))


if __name__ == "__main__":
    main()
