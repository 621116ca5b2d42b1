"""Dagster's instance on a real PostgreSQL (Debian package, 127.0.0.1 only, started and stopped by this test):
a migration run, its events and asset materializations are stored there, with deploy/dagster-postgres.yaml."""

import os
import shutil
import socket
import subprocess
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
