"""What the benchmarks share: cached generated stores, emulators and workers in their own processes, and the
docs/benchmarks.md page, where each benchmark owns one `## ` section and rewrites only that one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cart_pipelines.sample.generator import StoreSize, generate_store  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
PAGE = ROOT / "docs" / "benchmarks.md"


def store_for(products: int) -> Path:
    d = CACHE / f"store-{products}"
    if not (d / "manifest.json").exists():
        print(f"generating a {products}-product store in {d} ...", flush=True)
        generate_store(d, seed=7, size=StoreSize.scaled(products))
    return d


def spawn(cmd: list[str], what: str) -> tuple[subprocess.Popen, dict]:
    """A server process that prints one JSON line (where to connect, with what) when it is ready."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise RuntimeError(f"{what} did not start")
    return proc, json.loads(line)


def start_emulator(name: str, store: Path, latency_ms: float, per_item_ms: float):
    """A source platform's emulator serving `store` (`cart-pipelines emulate`), at its default plan's limits."""
    exe = Path(sys.executable).with_name("cart-pipelines")
    return spawn([str(exe), "emulate", name, "--port", "0", "--store", str(store), "--latency-ms", str(latency_ms),
                  "--latency-per-item-ms", str(per_item_ms)], f"{name} emulator")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def run_worker(script: str, args: list[str], timeout: float) -> dict:
    """Run `script` in a fresh interpreter (its own memory); its last stdout line is a JSON result."""
    res = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=timeout,
                         cwd=ROOT)
    if res.returncode != 0:
        return {"error": (res.stderr.strip().splitlines() or ["no output"])[-1][:200]}
    return json.loads(res.stdout.strip().splitlines()[-1])


class TreeRSS:
    """Peak resident memory of a process and all its descendants together, sampled from /proc in a thread.

    ru_maxrss (getrusage) is each process's own maximum, so a worker pool or a subprocess chain would be
    under-counted; this sums the tree's VmRSS at each instant and keeps the largest sum. Linux only (None
    elsewhere). With `keep_samples`, every sample is kept too, as (unix time, bytes), to say which step of a run
    held the memory."""

    def __init__(self, pid: int, interval: float = 0.1, keep_samples: bool = False):
        self.pid, self.interval, self.peak_bytes = pid, interval, 0
        self.samples: list[tuple[float, int]] | None = [] if keep_samples else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TreeRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def peak_mb(self) -> float | None:
        return self.peak_bytes / 2**20 if self.peak_bytes else None

    def _run(self) -> None:
        while not self._stop.is_set():
            now = tree_rss(self.pid)
            self.peak_bytes = max(self.peak_bytes, now)
            if self.samples is not None:
                self.samples.append((time.time(), now))
            self._stop.wait(self.interval)


def tree_rss(root: int, proc: Path = Path("/proc")) -> int:
    """Bytes resident in `root` and its descendants now (0 when /proc is absent or the process has gone)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    try:
        entries = [e for e in os.listdir(proc) if e.isdigit()]
    except OSError:
        return 0
    for entry in entries:
        try:
            status = (proc / entry / "status").read_text()
        except OSError:
            continue  # gone between listing and reading
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid, ppid = int(entry), int(fields.get("PPid", "0").strip() or 0)
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024  # kernel threads have none
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def timed(cmd: list[str], env: dict | None, timeout: float, out: Path, keep_samples: bool = False) -> dict:
    """Run `cmd` in `out`'s folder, stdout to `out` and stderr beside it (.err): wall seconds, CPU seconds and peak
    RSS of its process tree, exit status (or "timeout", the tree killed); with `keep_samples`, the tree's RSS
    samples as (unix time, bytes) under "rss_samples"."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as stdout, open(out.with_suffix(".err"), "w") as stderr:
        started = time.perf_counter()
        # A session of its own, so a timeout ends the whole tree it started (and nothing else).
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, env=env, cwd=out.parent, start_new_session=True)
        with TreeRSS(proc.pid, keep_samples=keep_samples) as memory:
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
                code = "timeout"
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the tool's tree, reaped in between; no other child is
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # CPU seconds are the work done whatever else shared the cores; wall seconds stretch with the machine's load.
    result = {"seconds": time.perf_counter() - started, "peak_rss_mb": memory.peak_mb, "exit": code, "cpu_s": cpu}
    if keep_samples:
        result["rss_samples"] = memory.samples
    return result


def write_section(text: str, page: Path = PAGE) -> None:
    """Put `text` (starting with its `## ` heading) into the page, replacing the section of the same heading."""
    heading = text.splitlines()[0]
    old = page.read_text(encoding="utf-8") if page.exists() else "# Benchmarks\n"
    parts = old.split("\n## ")
    head, sections = parts[0].rstrip("\n") + "\n", ["## " + p.rstrip("\n") + "\n" for p in parts[1:]]
    replaced = [text if s.splitlines()[0] == heading else s for s in sections]
    if heading not in [s.splitlines()[0] for s in sections]:
        replaced.append(text)
    page.write_text("\n".join([head] + replaced), encoding="utf-8")


def table(header: list[str], rows: list[dict], cells, lead) -> list[str]:
    """A Markdown table: the header and its rule, then a line a row with `cells(row)`, or for a row that failed
    (an "error" key) its first cells `lead(row)` and the error in the next, the rest left empty."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        got = [*lead(r), f"error: {r['error']}"] if "error" in r else cells(r)
        lines.append("| " + " | ".join(got + [""] * (len(header) - len(got))) + " |")
    return lines


def code_dir(ref: str) -> str:
    """'' for this tree; else the directory holding `cart_pipelines` as git revision `ref` has it."""
    if ref == "current":
        return ""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    out = CACHE / "code" / sha[:12]
    if not (out / "cart_pipelines").is_dir():
        out.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "cart_pipelines"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return str(out)


def codes(spec: str) -> list[tuple[str, str, str]]:
    """(label, git ref, directory) of each code to run: 'current' (this tree), 'label=ref' or 'ref'."""
    out = []
    for part in spec.split(","):
        label, _, ref = part.partition("=")
        ref = ref or label
        sha = "" if ref == "current" else subprocess.run(["git", "rev-parse", "--short", ref], cwd=ROOT, check=True,
                                                         capture_output=True, text=True).stdout.strip()
        out.append((label if ref == "current" or "=" in part else f"{ref} ({sha})", sha, code_dir(ref)))
    return out
