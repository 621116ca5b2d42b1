"""Dagster's instance on a real PostgreSQL (Debian package, 127.0.0.1 only, started and stopped by this test):
a migration run, its events and asset materializations are stored there, with deploy/dagster-postgres.yaml."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*cmd: str, **kw) -> subprocess.CompletedProcess:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user when we are root."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *cmd], check=True, capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture(autouse=True)
def job_rebuilt_from_this_tests_environment():
    """Dagster keeps the last reconstructed job in a process-wide cache (ReconstructableJob.get_definition is an
    lru_cache keyed by module, function and args, as is its repository), so a test running the same job as an
    earlier one in this worker got that test's executor (the Celery test ran on the multiprocess executor of the
    demo test before it); each test's CART_EXECUTOR must build its own job."""
    from dagster._core.definitions.reconstruct import ReconstructableJob

    def forget():
        ReconstructableJob.get_definition.cache_clear()
        ReconstructableJob.get_repository_definition.cache_clear()

    forget()
    yield
    forget()


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    initdb = shutil.which("initdb") or str(PG_BIN / "initdb")
    if not Path(initdb).exists():
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql); .ci/run installs them")
    pytest.importorskip("dagster_postgres")
    # Not under pytest's tmp dir: that is private to root, and the server runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="cart-pg-"))
    data = base / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(data, "postgres")
    pg_bin = Path(initdb).resolve().parent
    port = _free_port()
    _as_postgres(str(pg_bin / "initdb"), "-D", str(data), "-U", "dagster", "--auth=trust", "-E", "UTF8")
    _as_postgres(str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(data / "log.txt"), "-w", "-t", "60", "start",
                 "-o", f"-h 127.0.0.1 -p {port} -k {data}")
    try:
        _as_postgres(str(pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster", "dagster")
        yield {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(port), "DAGSTER_PG_USER": "dagster",
               "DAGSTER_PG_PASSWORD": "unused-trust-auth", "DAGSTER_PG_DB": "dagster"}
    finally:
        _as_postgres(str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def test_migration_runs_on_a_postgres_backed_instance(postgres, tmp_path, monkeypatch):
    import dagster as dg
    import psycopg2

    from cart_pipelines.definitions import build_definitions
    from cart_pipelines.defs.jobs import run_config
    from cart_pipelines.defs.resources import default_resources

    for k, v in postgres.items():
        monkeypatch.setenv(k, v)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    defs = build_definitions(default_resources(tmp_path / "data", str(ROOT / "data" / "sample_store")))
    keys = [k for a in defs.assets for k in a.keys]
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        result = defs.resolve_job_def("demo_migration").execute_in_process(
            run_config=run_config(keys, mode="demo"), instance=instance)
        assert result.success
        assert instance.get_run_by_id(result.run_id).is_success
        assert instance.get_latest_materialization_event(dg.AssetKey(["load", "orders"])) is not None
    con = psycopg2.connect(host="127.0.0.1", port=postgres["DAGSTER_PG_PORT"], user="dagster", dbname="dagster")
    try:
        with con.cursor() as cur:
            cur.execute("SELECT count(*) FROM runs WHERE run_id = %s", (result.run_id,))
            assert cur.fetchone()[0] == 1
            cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = "
                        "'ASSET_MATERIALIZATION'", (result.run_id,))
            assert cur.fetchone()[0] >= 20
    finally:
        con.close()


def scale_out_env(postgres, tmp_path, monkeypatch) -> None:
    """deploy/dagster-postgres.yaml as the instance, the multiprocess executor, the sample store as source."""
    for k, v in {**postgres, "CART_EXECUTOR": "multiprocess", "CART_MAX_CONCURRENT": "2",
                 "CART_PIPELINES_DATA": str(tmp_path / "data"), "CART_SOURCE": "store_export",
                 "CART_SOURCE_PATH": str(ROOT / "data" / "sample_store")}.items():
        monkeypatch.setenv(k, v)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))


def test_multiprocess_executor_runs_steps_in_parallel_processes(postgres, tmp_path, monkeypatch):
    """Extractions in their own processes at once; each waits its turn for the DuckDB catalog, none fails."""
    import dagster as dg

    from cart_pipelines.pipeline.staging import Staging

    scale_out_env(postgres, tmp_path, monkeypatch)
    job = dg.build_reconstructable_job("cart_pipelines.definitions", "job", reconstructable_args=("full_migration",))
    entities = ("categories", "manufacturers", "tax_classes", "customers")
    with dg.DagsterInstance.get() as instance:
        with dg.execute_job(job, instance=instance,
                            asset_selection=[dg.AssetKey(["extract", e]) for e in entities]) as result:
            assert result.success
            run_id = result.run_id
        starts = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START).records
        assert len({r.event_log_entry.dagster_event.pid for r in starts}) == len(entities)
    with Staging(tmp_path / "data" / "staging").connect() as con:
        counts = dict(con.execute("SELECT entity, source_records FROM source_counts").fetchall())
    assert counts == {"categories": 50, "manufacturers": 20, "tax_classes": 3, "customers": 290}


@pytest.mark.slow
def test_multiprocess_demo_migration_passes_every_check(postgres, tmp_path, monkeypatch):
    """The whole demo with every step in its own process (about 50 processes: slow on 2 cores)."""
    import dagster as dg

    scale_out_env(postgres, tmp_path, monkeypatch)
    job = dg.build_reconstructable_job("cart_pipelines.definitions", "job", reconstructable_args=("demo_migration",))
    with dg.DagsterInstance.get() as instance:
        with dg.execute_job(job, instance=instance) as result:
            assert result.success
            failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
            assert len(result.get_asset_check_evaluations()) == 23 and not failed, failed


THREE_MIGRATIONS = """
migrations:
  - name: export_shop
    source: {platform: store_export, path: SAMPLE}
  - name: woo_shop
    source: {platform: woocommerce, env: {shop_url: WOO_SHOP_URL, consumer_key: WOO_SHOP_KEY,
                                         consumer_secret: WOO_SHOP_SECRET}}
  - name: magento_shop
    source: {platform: magento, env_prefix: MAG_}
"""


def _submit(instance, workspace_file: Path, job_names: list[str]) -> dict[str, str]:
    """Submit runs of `job_names` to the instance's run queue, as `dagster job launch` does; job → run id."""
    from dagster._cli.job import _create_run
    from dagster._cli.workspace.cli_target import (
        WorkspaceOpts,
        get_code_location_from_workspace,
        get_remote_job_from_remote_repo,
        get_remote_repository_from_code_location,
        get_workspace_from_cli_opts,
    )
    from dagster.version import __version__

    ids = {}
    opts = WorkspaceOpts(workspace=(str(workspace_file),))
    with get_workspace_from_cli_opts(instance, version=__version__, workspace_opts=opts) as workspace:
        location = get_code_location_from_workspace(workspace, None)
        repo = get_remote_repository_from_code_location(location, None)
        for name in job_names:
            run = _create_run(instance=instance, code_location=location, remote_repo=repo,
                              remote_job=get_remote_job_from_remote_repo(repo, name), run_config={}, tags=None,
                              op_selection=None, run_id=None)
            ids[name] = instance.submit_run(run.run_id, workspace).run_id
    return ids


@pytest.mark.slow
def test_three_migrations_run_at_once_through_the_run_queue(postgres, tmp_path, monkeypatch):
    """Three declared migrations (a store export, a WooCommerce and a Magento emulator, each into its own local
    DuckDB target) queued together on the PostgreSQL instance: their demos run at the same time, each migration's
    full migration waits for its own demo only (one run per shop), every run passes every check, and each ledger
    closes in its own catalog."""
    import time

    import dagster as dg

    from cart_pipelines.defs import migrations as mig
    from cart_pipelines.platforms import registry as platforms

    for k, v in postgres.items():
        monkeypatch.setenv(k, v)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    spec = tmp_path / "migrations.yaml"
    spec.write_text(THREE_MIGRATIONS.replace("SAMPLE", str(ROOT / "data" / "sample_store")))
    workspace_file = tmp_path / "workspace.yaml"
    workspace_file.write_text(f"load_from:\n  - python_module:\n      module_name: cart_pipelines.definitions\n"
                              f"      working_directory: {ROOT}\n      location_name: cart_pipelines\n")
    with platforms.emulate("woocommerce", products=40) as woo, platforms.emulate("magento", products=40) as mag:
        env = {"DAGSTER_HOME": str(home), "CART_MIGRATIONS": str(spec), "CART_PIPELINES_DATA": str(tmp_path / "data"),
               "WOO_SHOP_URL": woo.base_url, "WOO_SHOP_KEY": woo.credentials["consumer_key"],
               "WOO_SHOP_SECRET": woo.credentials["consumer_secret"],
               "MAG_MAGENTO_BASE_URL": mag.base_url, "MAG_MAGENTO_ACCESS_TOKEN": mag.credentials["access_token"]}
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        names = [m.name for m in mig.load()]
        jobs = [f"{n}__demo_migration" for n in names] + [f"{n}__full_migration" for n in names]
        daemon = subprocess.Popen([str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w",
                                   str(workspace_file)], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                  stderr=open(tmp_path / "daemon.log", "w"), env=os.environ.copy())
        try:
            with dg.DagsterInstance.get() as instance:
                ids = _submit(instance, workspace_file, jobs)
                deadline = time.monotonic() + 900
                while time.monotonic() < deadline:
                    runs = {j: instance.get_run_record_by_id(i) for j, i in ids.items()}
                    if all(r.dagster_run.is_finished for r in runs.values()):
                        break
                    time.sleep(2)
                else:
                    pytest.fail(f"runs did not finish: {(tmp_path / 'daemon.log').read_text()[-2000:]}")
                statuses = {j: r.dagster_run.status.value for j, r in runs.items()}
                assert set(statuses.values()) == {"SUCCESS"}, statuses
                for j, i in ids.items():
                    evaluations = instance.get_records_for_run(
                        i, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=1000).records
                    results = [r.event_log_entry.dagster_event.event_specific_data for r in evaluations]
                    assert len(results) == 23 and all(e.passed for e in results), (j, len(results))
        finally:
            daemon.terminate()
            daemon.wait(timeout=60)
    demos = [runs[f"{n}__demo_migration"] for n in names]
    # the three demos ran at the same time: none waited for another's run or catalog
    assert max(r.start_time for r in demos) < min(r.end_time for r in demos), \
        [(r.start_time, r.end_time) for r in demos]
    for n in names:  # one run per shop: a migration's full migration started after its demo ended
        assert runs[f"{n}__full_migration"].start_time >= runs[f"{n}__demo_migration"].end_time
    catalogs = set()
    for n in names:
        data = tmp_path / "data" / "migrations" / n
        report = json.loads((data / "reports" / "migration_report.json").read_text())
        assert report["settings"]["mode"] == "full" and report["all_accounted_for"], n
        assert all(e["closes"] for e in report["entities"]) and report["totals"]["loaded"] > 0, n
        catalogs.add((data / "staging" / "catalog.duckdb").resolve())
        assert (data / "target" / "mystore.duckdb").exists()
    assert len(catalogs) == 3


@pytest.fixture
def redis_url(tmp_path):
    """A real Redis (Debian redis-server) on 127.0.0.1 and a free port, no persistence; stopped afterwards."""
    import time

    exe = shutil.which("redis-server")
    if not exe:
        pytest.skip("redis-server not installed (apt-get install redis-server); scripts/system-deps.sh installs it")
    pytest.importorskip("dagster_celery")
    port = _free_port()
    server = subprocess.Popen([exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                               "--dir", str(tmp_path), "--protected-mode", "yes"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_celery_workers_run_the_demo_migration_with_every_check_passing(postgres, redis_url, tmp_path,
                                                                         monkeypatch):
    """Dagster's Celery executor with a Redis broker: the demo migration's steps run as tasks on two worker
    processes (each its own process, one task at a time), and every check passes."""
    import dagster as dg

    scale_out_env(postgres, tmp_path, monkeypatch)
    monkeypatch.setenv("CART_EXECUTOR", "celery")
    monkeypatch.setenv("CART_CELERY_BROKER", redis_url)
    logs = tmp_path / "workers"
    logs.mkdir()
    workers = [subprocess.Popen(
        [sys.executable, "-m", "celery", "--app", "dagster_celery.app", "worker", "--pool", "solo",
         "--hostname", f"cart{i}@%h", "--queues", "dagster", "--loglevel", "WARNING", "--without-gossip",
         "--without-mingle", "--without-heartbeat"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(_celery_config(tmp_path, redis_url))},
        stdout=subprocess.DEVNULL, stderr=open(logs / f"worker{i}.log", "w")) for i in (1, 2)]
    try:
        job = dg.build_reconstructable_job("cart_pipelines.definitions", "job",
                                           reconstructable_args=("demo_migration",))
        with dg.DagsterInstance.get() as instance:
            with dg.execute_job(job, instance=instance) as result:
                assert result.success, [(w.name, w.read_text()[-1500:]) for w in logs.iterdir()]
                evaluations = result.get_asset_check_evaluations()
                failed = [e.check_name for e in evaluations if not e.passed]
                assert len(evaluations) == 23 and not failed, failed
                run_id = result.run_id
            starts = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START, limit=500).records
            pids = {r.event_log_entry.dagster_event.pid for r in starts}
            assert pids == {w.pid for w in workers}, (pids, [w.pid for w in workers])  # both workers, only them
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=60)


def _celery_config(tmp_path: Path, broker: str) -> Path:
    """dagster_celery.app reads `dagster_celery_config` from the path: the broker and result backend."""
    folder = tmp_path / "celery_config"
    folder.mkdir(exist_ok=True)
    (folder / "dagster_celery_config.py").write_text(f"broker_url = {broker!r}\nresult_backend = {broker!r}\n")
    return folder
