"""Secrets never leave their place: after a migration into Mystore (OAuth client secret, access and refresh
tokens), no log, event, run config, Parquet or DuckDB file holds them, and password hashes being migrated never
appear in logs, metadata or previews."""

import json
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
from conftest import SAMPLE
from targets.test_mystore import authorized_target

from cart_pipelines.definitions import build_definitions
from cart_pipelines.defs.jobs import run_config
from cart_pipelines.defs.platform_resources import MystoreTargetResource
from cart_pipelines.defs.resources import default_resources
from cart_pipelines.platforms.kit.emulator import Knobs, running
from cart_pipelines.platforms.kit.oauth import TokenStore
from cart_pipelines.platforms.mystore.emulator import MystoreEmulator


def readable_text(path: Path) -> str:
    """A file's content as text to search: Parquet and DuckDB are compressed, so read their values."""
    if path.suffix == ".parquet":
        return json.dumps(pq.read_table(path).to_pylist(), default=str)
    if path.suffix == ".duckdb":
        con = duckdb.connect(str(path), read_only=True)
        try:
            tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
            return "\n".join(str(con.execute(f'SELECT * FROM "{t}"').fetchall()) for t in tables)
        finally:
            con.close()
    return path.read_bytes().decode("utf-8", "replace")


def files_containing(root: Path, needles: list[str]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.name.endswith((".wal", ".tmp")):
            text = readable_text(path)
            hits += [f"{path.relative_to(root)} holds {n[:6]}…" for n in needles if n in text]
    return hits


def hashes_sample() -> str:
    with open(SAMPLE / "customers.jsonl", encoding="utf-8") as fh:
        return json.loads(fh.readline())["password_hash"]


def test_no_secret_in_logs_events_or_files(tmp_path):
    emulator = MystoreEmulator(knobs=Knobs(rate_limit=False))
    with running(emulator, lifetime=300) as handle:
        authorized_target(handle, tmp_path)
        c = handle.credentials
        resources = default_resources(tmp_path / "data", str(SAMPLE))
        resources["target"] = MystoreTargetResource(
            api_url=handle.base_url, auth_url=c["auth_url"], client_id=c["client_id"],
            client_secret=c["client_secret"], redirect_uri=c["redirect_uri"], token_file=str(tmp_path / "token.json"),
            references_file=str(tmp_path / "data" / "mystore-references.json"))
        defs = build_definitions(resources)
        keys = [k for a in defs.assets for k in a.keys]
        (tmp_path / "instance").mkdir()
        with dg.DagsterInstance.local_temp(str(tmp_path / "instance")) as instance:
            result = defs.resolve_job_def("demo_migration").execute_in_process(
                run_config=run_config(keys, mode="demo"), instance=instance)
            assert result.success
            records = instance.get_records_for_run(result.run_id).records
            events = "\n".join(json.dumps(dg.serialize_value(r.event_log_entry)) for r in records)
        tokens = TokenStore(tmp_path / "token.json").load()
    secrets = [c["client_secret"], c["password"], c["token"], tokens.access_token, tokens.refresh_token]
    # positive controls: the scans do read the event log and the data files
    assert files_containing(tmp_path / "instance", ["load__orders"])
    assert files_containing(tmp_path / "data", ["mystore:127.0.0.1"])  # the id map in the catalog
    assert files_containing(tmp_path / "data" / "staging" / "parquet", [hashes_sample()])  # hashes are data
    assert not [s for s in secrets if s in events]
    assert not files_containing(tmp_path / "instance", secrets)
    assert not files_containing(tmp_path / "data", secrets)  # staging Parquet, catalog, reports
    hashes = [json.loads(line)["password_hash"] for line in open(SAMPLE / "customers.jsonl", encoding="utf-8")
              if line.startswith("{") and '"password_hash"' in line]
    assert len(hashes) > 200
    assert not [h for h in hashes if h in events]
    assert not files_containing(tmp_path / "instance", hashes)
    assert not files_containing(tmp_path / "data" / "reports", hashes)
