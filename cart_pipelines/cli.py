"""cart-pipelines: run migrations, read reports and make sample stores from a terminal.

Exit codes: 0 success; 1 the migration ran but a check failed or a step failed; 2 bad configuration or input.
Expected failures print one sentence, not a traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from contextlib import nullcontext
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from cart_pipelines.model.entities import (
    ENTITY_NAMES,
    SelectionError,
    resolve_selection,
)
from cart_pipelines.pipeline import report as report_mod

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Self-hosted store migrations as Dagster assets. Start with: cart-pipelines migrate --demo")
console = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True, soft_wrap=True)  # one sentence on one line, greppable


def log_path() -> Path:
    """The command line's log file: library warnings and the like, kept off the terminal (library_warnings.py).
    In DAGSTER_HOME (default .dagster_home/ in the project, as dagster_home() makes it), without importing Dagster."""
    root = Path(__file__).resolve().parents[1]
    project = root if (root / "pyproject.toml").exists() else Path.cwd()
    home = os.environ.get("DAGSTER_HOME") or project / ".dagster_home"
    return Path(home) / "logs" / "cart-pipelines.log"


@app.callback()
def _startup() -> None:
    from cart_pipelines.library_warnings import route_to_log

    route_to_log(log_path())


def _fail(message: str, code: int = 2):
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def dagster_home() -> Path:
    """DAGSTER_HOME, defaulting to .dagster_home/ in the project with the project's dagster.yaml linked in."""
    from cart_pipelines.defs.resources import project_root

    home = Path(os.environ.get("DAGSTER_HOME") or project_root() / ".dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    project_config = project_root() / "dagster.yaml"
    if not config.exists() and project_config.exists():
        shutil.copyfile(project_config, config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


MIGRATION_HELP = "The migration (migrations.yaml; `cart-pipelines migrations` lists them). Needed when several are."


def _deployment(migration: Optional[str] = None, data: Optional[Path] = None, source: Optional[Path] = None,
                platform: Optional[str] = None, target: Optional[str] = None):
    """(every migration of the deployment, the chosen one): --source, --platform, --target and --data replace
    those parts of the chosen migration for this command."""
    from dataclasses import replace

    from cart_pipelines.defs.migrations import Migration, load, select
    from cart_pipelines.defs.resources import StagingResource, source_resource, target_resource

    if source is not None and not source.is_dir():
        _fail(f"--source: {source} is not a directory holding a store export")
    try:
        migrations = load()
        chosen = select(migrations, migration)
        if not any(v is not None for v in (data, source, platform, target)):
            return migrations, chosen
        directory = Path(data) if data else chosen.data
        resources = dict(chosen.resources)
        if data:
            resources["staging"] = StagingResource(directory=str(directory / "staging"),
                                                   reports_directory=str(directory / "reports"))
        if source is not None or platform is not None:
            resources["source"] = source_resource(platform, str(source) if source else None)
        if target is not None or (data and chosen.target_platform == "local"):
            resources["target"] = target_resource(directory, target or "local")
        fresh = Migration.from_resources(resources, chosen.name, directory)
        shops = {"source_shop": chosen.source_shop if fresh.source_platform == chosen.source_platform else None,
                 "target_shop": chosen.target_shop if fresh.target_platform == chosen.target_platform else None}
        changed = replace(chosen, resources=resources, source_platform=fresh.source_platform,
                          target_platform=fresh.target_platform, data=directory, **shops)
    except ValueError as exc:  # MigrationsError too: a bad file or name, one line per problem
        _fail(str(exc))  # a MigrationsError has one line per problem
    return [changed if m is chosen else m for m in migrations], changed


def _resources(data: Optional[Path], source: Optional[Path], platform: Optional[str] = None,
               target: Optional[str] = None, migration: Optional[str] = None) -> dict:
    """The chosen migration's resources (source, staging, target) with the options applied."""
    return _deployment(migration, data, source, platform, target)[1].resources


def _initialized(res, what: str):
    """An opened source or target, credentials resolved from the environment, or one clear sentence."""
    import dagster as dg

    for name, value in res.__dict__.items():  # name the missing variable instead of Dagster's generic error
        if isinstance(value, dg.EnvVar) and not os.environ.get(value.env_var_name):
            _fail(f"{what} configuration: environment variable {value.env_var_name} ({name}) is not set")
    try:
        return res.process_config_and_initialize().open()
    except Exception as exc:  # bad URL and the like: configuration errors
        message = str(exc).strip().splitlines()[0]
        _fail(f"{what} configuration: {message}")


def _open_source(platform: Optional[str], source: Optional[Path], migration: Optional[str] = None):
    return _initialized(_resources(None, source, platform, migration=migration)["source"], "source")


PLATFORM_HELP = "Source platform (default $CART_SOURCE or store_export); credentials from its environment variables."


def print_report(rep: dict) -> None:
    """The report as a table; a `deleted` column (at the source) appears once the source has deleted records, so
    source = loaded + skipped + quarantined + deleted can be checked by eye."""
    deletions = bool(rep["totals"].get("deleted_at_source"))
    cols = ("entity", "source", "loaded", "written", "skipped", "quarantined", *(("deleted",) if deletions else ()))
    table = Table(title=f"Migration report ({rep['settings'].get('mode', '?')})")
    for col in cols:
        table.add_column(col, justify="left" if col == "entity" else "right")
    table.add_column("skipped by rule")
    for e in rep["entities"]:
        if e["source"] is None:
            table.add_row(e["entity"], *["-"] * (len(cols) - 1), "not selected")
            continue
        counts = [e["source"], e["loaded"], e["created"] + e["updated"], e["skipped"], e["quarantined"],
                  *((e.get("deleted_at_source", 0),) if deletions else ())]
        table.add_row(e["entity"], *map(str, counts), ", ".join(f"{r} {n}" for r, n in e["skipped_by_rule"].items()))
    console.print(table)
    verdict = "[green]every source record is accounted for[/]" if rep["all_accounted_for"] else \
        "[red]some source records are not accounted for[/]"
    console.print(f"{verdict}; {rep['totals']['created'] + rep['totals']['updated']} rows written to the target.")
    if deletions:
        t = rep["totals"]
        console.print(f"deleted at the source: {t['deleted_at_source']}, of which deleted on the target: "
                      f"{t['deleted_on_target']} (option delete_on_target; kept there otherwise).")


def print_plan(plan: dict) -> None:
    table = Table(title=f"Dry run ({plan['settings'].get('mode', '?')}): what the load would do")
    cols = ("entity", *report_mod.PLAN_COLUMNS, "skipped", "quarantined")
    for col in cols:
        table.add_column(col.replace("_", " "), justify="left" if col == "entity" else "right")
    for e in plan["entities"]:
        table.add_row(*(str(e[c]) for c in cols))
    console.print(table)
    console.print("Nothing was written to the target; high-water marks and the id map are unchanged.")


@app.command()
def migrate(
    demo: bool = typer.Option(False, "--demo", help="Demo migration: 10 products, customers and orders at random."),
    full: bool = typer.Option(False, "--full", help="Full migration of the selected entities."),
    delta: bool = typer.Option(False, "--delta", help="Delta: only what changed since the last successful run "
                                                      "(needs an API source and a finished full migration)."),
    entities: Optional[str] = typer.Option(None, help="Comma-separated entities to migrate (default: the "
                                                      "migration's selection, all seven in the embedded default)."),
    keep_guest_orders: bool = typer.Option(False, help="Create customers from guest orders instead of skipping."),
    demo_seed: Optional[int] = typer.Option(None, help="Seed of the demo draw (default 1, or the migration's)."),
    source: Optional[Path] = typer.Option(None, help="Store export directory (default: the bundled sample store)."),
    platform: Optional[str] = typer.Option(None, help=PLATFORM_HELP),
    target: Optional[str] = typer.Option(None, help="local (default, $CART_TARGET) or mystore (run authorize first)."),
    data: Optional[Path] = typer.Option(None, help="Where staging, target and reports live (default: data/)."),
    progress: bool = typer.Option(True, help="Progress bars per entity while the run goes (--no-progress: none)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what the load would create, update and delete or "
                                                          "flag; write nothing to the target."),
    detect_deletions: bool = typer.Option(False, help="Delta: list the source's ids to find deleted records."),
    delete_on_target: bool = typer.Option(False, help="Delete records deleted at the source on the target too."),
    reextract: bool = typer.Option(False, "--reextract", help="Read the source and transform everything again; "
                                                              "otherwise a re-run keeps what an unchanged store "
                                                              "export file staged and what unchanged inputs made."),
    migration: Optional[str] = typer.Option(None, help=MIGRATION_HELP),
):
    """Run the demo, full or delta migration in-process, with a progress bar per entity and the report at the end;
    the run is recorded in the Dagster instance and UI."""
    modes = [m for m, on in (("demo", demo), ("full", full), ("delta", delta)) if on]
    if len(modes) != 1:
        _fail("choose one of --demo, --full or --delta")
    mode = modes[0]
    if entities is not None:
        chosen = [e.strip() for e in entities.split(",") if e.strip()]
        try:
            resolve_selection(chosen)
        except SelectionError as exc:
            _fail(str(exc))
    import dagster as dg

    from cart_pipelines.definitions import build_definitions
    from cart_pipelines.defs.dead_runs import process_tags
    from cart_pipelines.defs.jobs import migration_keys, run_config

    dagster_home()
    migrations, m = _deployment(migration, data, source, platform, target)
    resources = m.resources
    defs = build_definitions(migrations=migrations)
    job_name = m.job_name({"demo": "demo_migration", "full": "full_migration", "delta": "delta_sync"}[mode])
    job = defs.resolve_job_def(job_name)
    keys = migration_keys(m, [k for a in defs.assets for k in a.keys])
    # The migration's selection and rule options, then what this command line asks for on top.
    settings = {**m.settings, "mode": mode, **({"entities": chosen} if entities is not None else {}),
                **({"demo_seed": demo_seed} if demo_seed is not None else {}),
                **{k: True for k, on in (("keep_guest_orders", keep_guest_orders), ("dry_run", dry_run),
                                         ("detect_deletions", detect_deletions),
                                         ("delete_on_target", delete_on_target), ("reextract", reextract))
                    if on}}
    chosen = list(settings.get("entities") or ENTITY_NAMES)
    cfg = run_config(keys, **settings)
    cfg.loggers["console"] = {"config": {"log_level": "ERROR"}}  # the bars and the report say what matters
    label = f" ({m.name})" if m.prefixed else ""
    console.print(f"Running [bold]{job_name}[/]{label} from "
                  f"{platform or (m.source_platform if m.source_platform != 'store_export' else 'store export')} ...")
    run_id = str(uuid.uuid4())
    with dg.DagsterInstance.get() as instance:
        _release_dead_runs(instance)
        bars = _progress(instance, run_id, resolve_selection(chosen), m) if progress else nullcontext()
        with bars:
            result = job.execute_in_process(run_config=cfg, instance=instance, raise_on_error=False, run_id=run_id,
                                            tags=process_tags())
    failed_checks = [f"{e.asset_key.to_user_string()}:{e.check_name}"
                     for e in result.get_asset_check_evaluations() if not e.passed]
    rep = report_mod.read(resources["staging"].reports_directory, report_mod.DRY_RUN if dry_run else
                          report_mod.MIGRATION)
    if rep and result.success:
        print_plan(rep) if dry_run else print_report(rep)
    if not result.success:
        _fail(_failure(result), 1)
    if failed_checks:
        _fail("checks failed: " + ", ".join(failed_checks), 1)
    console.print(f"All {len(result.get_asset_check_evaluations())} checks passed. Run id {result.run_id}; "
                  f"report in {resources['staging'].reports_directory}.")


def _release_dead_runs(instance) -> None:
    """Free the pool slots a killed run of this machine still holds, or the run would wait for them forever."""
    from cart_pipelines.defs.dead_runs import release_dead_runs

    for run_id in release_dead_runs(instance):
        console.print(f"[yellow]run {run_id} had stopped without ending; marked failed, its pool slots freed[/]")


def _progress(instance, run_id: str, entities, m):
    """Progress bars of a run; a prefixed migration's step keys (shop_a__load__orders) read as unprefixed ones."""
    from cart_pipelines.defs.progress import RunProgress

    class Bars(RunProgress):
        def on_event(self, event) -> None:
            if m.prefixed and event is not None and (event.step_key or "").startswith(f"{m.name}__"):
                event = event._replace(step_key=event.step_key[len(m.name) + 2:])
            super().on_event(event)

    return Bars(instance, run_id, entities, console)


def _failure(result) -> str:
    """The first failed step of a run, in the step's own words."""
    for event in result.all_events:
        if event.is_step_failure:
            data_ = event.step_failure_data
            message = data_.user_failure_data.description if data_.user_failure_data else None
            return f"step {event.step_key} failed: {message or data_.error.message.strip()}"
    return "the run failed; see the run in the Dagster UI"


def _chosen_partitions(entity: str, keys: list[str], first: Optional[str], last: Optional[str]) -> list[str]:
    """Partition keys of `entity` between --from and --to: months (2024-01) for orders, ids for id ranges."""
    from cart_pipelines.pipeline.backfill import slice_for

    if entity == "orders":
        lo = f"{first}-01" if first and len(first) == 7 else first
        hi = f"{last}-01" if last and len(last) == 7 else last
        return [k for k in keys if (lo is None or k >= lo) and (hi is None or k <= hi)]
    try:
        lo, hi = (int(first) if first else None), (int(last) if last else None)
    except ValueError:
        _fail(f"--from/--to: {entity} partitions are id ranges; give ids (e.g. --from 1 --to 20000)")
    return [k for k in keys if (hi is None or slice_for(entity, k).start <= hi)
            and (lo is None or slice_for(entity, k).end > lo)]


@app.command()
def backfill(
    entity: str = typer.Argument(..., help="orders (partitioned by created-at month), products or customers "
                                           "(by id range)."),
    first: Optional[str] = typer.Option(None, "--from", help="First partition: a month (2024-01) for orders, an id "
                                                              "for products and customers (default: the first)."),
    last: Optional[str] = typer.Option(None, "--to", help="Last partition, included (default: the last)."),
    per_partition: int = typer.Option(5000, help="Records per id-range partition, when products or customers "
                                                 "partitions are planned (ranges planned before are kept)."),
    source: Optional[Path] = typer.Option(None, help="Store export directory (default: the bundled sample store)."),
    platform: Optional[str] = typer.Option(None, help=PLATFORM_HELP),
    target: Optional[str] = typer.Option(None, help="local (default, $CART_TARGET) or an API target."),
    data: Optional[Path] = typer.Option(None, help="Where staging, target and reports live (default: data/)."),
    migration: Optional[str] = typer.Option(None, help=MIGRATION_HELP),
):
    """Backfill partitions of a large entity in-process, in batches as the backfill policy would run them; each
    partition is extracted with the platform's filter and loaded through the id map. Running it again writes
    nothing. What it references must be migrated already (full migration, or backfill customers and products
    before orders)."""
    import dagster as dg

    from cart_pipelines.definitions import build_definitions
    from cart_pipelines.defs.dead_runs import process_tags
    from cart_pipelines.defs.partitions import PER_RUN, partitions_for, plan
    from cart_pipelines.pipeline.backfill import PARTITIONED, BackfillError
    from cart_pipelines.platforms.kit.source import SliceNotPossible

    if entity not in PARTITIONED:
        _fail(f"entity: {entity} is not partitioned; choose from {', '.join(PARTITIONED)}")
    dagster_home()
    migrations, m = _deployment(migration, data, source, platform, target)
    resources, PARTITIONS = m.resources, partitions_for(m)
    defs = build_definitions(migrations=migrations)
    job = defs.resolve_job_def(m.job_name(f"backfill_{entity}"))
    with dg.DagsterInstance.get() as instance:
        if isinstance(PARTITIONS[entity], dg.DynamicPartitionsDefinition):
            try:
                added = plan(instance, _initialized(resources["source"], "source"), entity, per_partition,
                             partitions=PARTITIONS)
            except (BackfillError, SliceNotPossible) as exc:
                _fail(str(exc))
            if added:
                console.print(f"planned {len(added)} id-range partitions of {entity}")
        keys = PARTITIONS[entity].get_partition_keys(dynamic_partitions_store=instance)
        chosen = _chosen_partitions(entity, keys, first, last)
        if not chosen:
            _fail(f"no partitions of {entity} between {first or 'the first'} and {last or 'the last'}")
        _release_dead_runs(instance)
        batch = PER_RUN[entity]
        console.print(f"Backfilling {len(chosen)} partitions of {entity} ({chosen[0]} .. {chosen[-1]}), "
                      f"{batch} per run ...")
        for start in range(0, len(chosen), batch):
            part = chosen[start:start + batch]
            tags = {"dagster/asset_partition_range_start": part[0], "dagster/asset_partition_range_end": part[-1],
                    **process_tags()}
            result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False,
                                            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}})
            if not result.success:
                _fail(_failure(result), 1)
    _print_partitions(resources["staging"].open(), entity, chosen)


def _print_partitions(staging, entity: str, keys: list[str]) -> None:
    with staging.connect() as con:
        rows = con.execute("SELECT partition_key, source_records, loaded, created + updated, skipped, quarantined, "
                           "closes FROM partition_counts WHERE entity = ? AND partition_key IN "
                           "(SELECT unnest(?::VARCHAR[])) ORDER BY loaded_at", [entity, keys]).fetchall()
    table = Table(title=f"Backfill of {entity}")
    for col in ("partition", "source", "loaded", "written", "skipped", "quarantined", "ledger closes"):
        table.add_column(col, justify="left" if col == "partition" else "right")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)
    console.print(f"{sum(r[3] for r in rows)} rows written to the target; "
                  f"{'every' if all(r[6] for r in rows) else 'NOT every'} partition's ledger closes.")


@app.command()
def report(data: Optional[Path] = typer.Option(None, help="Data directory (default: data/, or the migration's)."),
           migration: Optional[str] = typer.Option(None, help=MIGRATION_HELP)):
    """Print the latest migration report."""
    directory = data / "reports" if data else Path(_deployment(migration)[1].reports_directory)
    rep = report_mod.read(directory)
    if rep is None:
        _fail("no migration report yet; run `cart-pipelines migrate --demo` first")
    print_report(rep)


@app.command("generate-sample")
def generate_sample(
    out: Path = typer.Option(..., help="Directory to write the store export to."),
    products: int = typer.Option(500, help="Number of products; other entities scale with it."),
    seed: int = typer.Option(7, help="Random seed: the same seed writes the same store."),
    defects: bool = typer.Option(False, help="Append a few malformed records, as real exports have."),
):
    """Write a deterministic sample store of any size as a store export."""
    from cart_pipelines.sample.generator import StoreSize, generate_store

    size = StoreSize() if products == 500 else StoreSize.scaled(products)
    counts = generate_store(out, seed=seed, size=size, defects=defects)
    console.print(f"wrote {sum(counts.values())} records to {out}: {counts}")


@app.command()
def check(
    platform: Optional[str] = typer.Option(None, help=PLATFORM_HELP),
    source: Optional[Path] = typer.Option(None, help="Store export directory (store_export source)."),
    entity: str = typer.Option("products", help="Entity to read one record of."),
    target: Optional[str] = typer.Option(None, help="Test this target's connection instead of the source's "
                                                    "(local, mystore, shopify, woocommerce, bigcommerce)."),
    target_side: bool = typer.Option(False, "--target-side", help="Test the chosen migration's own target "
                                                                  "connection instead of its source's."),
    migration: Optional[str] = typer.Option(None, help=MIGRATION_HELP),
):
    """Connection test (seed 002): one authenticated request and one record. Exit 1 when it fails."""
    from cart_pipelines.platforms.kit.connection_test import (
        verify_source,
        verify_target,
    )

    if target is not None or target_side:
        res = _resources(None, None, None, target, migration=migration)["target"]
        result = verify_target(_initialized(res, "target"), entity)
    else:
        result = verify_source(_open_source(platform, source, migration), entity)
    if not result.ok:
        _fail(result.message, 1)
    console.print(f"[green]ok[/] {result.message}")


@app.command()
def preview(
    entity: str = typer.Argument(..., help="Entity to preview, e.g. products."),
    limit: int = typer.Option(3, help="Records to show."),
    platform: Optional[str] = typer.Option(None, help=PLATFORM_HELP),
    source: Optional[Path] = typer.Option(None, help="Store export directory (store_export source)."),
    migration: Optional[str] = typer.Option(None, help=MIGRATION_HELP),
):
    """Show the first records of one entity, as the canonical model sees them."""
    from cart_pipelines.model.entities import ENTITIES
    from cart_pipelines.platforms.kit.connection_test import verify_source

    if entity not in ENTITIES:
        _fail(f"entity: unknown entity {entity}; choose from {', '.join(ENTITY_NAMES)}")
    result = verify_source(_open_source(platform, source, migration), entity, limit)
    if not result.ok:
        _fail(result.message, 1)
    table = Table(title=f"{entity} from {result.source}")
    columns = list(ENTITIES[entity].preview_columns) + ["updated_at"]
    for c in columns:
        table.add_column(c)
    for row in result.preview:
        table.add_row(*("" if row.get(c) is None else str(row.get(c))[:50] for c in columns))
    console.print(table)


@app.command()
def emulate(
    platform: str = typer.Argument(..., help="shopify, woocommerce, bigcommerce, magento or mystore (with "
                                             "--products 0: an empty Mystore shop to migrate into)."),
    port: int = typer.Option(8080, help="Port on 127.0.0.1."),
    seed: int = typer.Option(7, help="Seed of the generated store."),
    products: int = typer.Option(500, help="Products in the generated store (other entities scale)."),
    tls: bool = typer.Option(False, "--tls", help="Serve HTTPS with a certificate made now; prints the CA file."),
    plan: str = typer.Option("standard", help="Rate-limit plan of the platform."),
    latency_ms: float = typer.Option(0.0, help="Added latency per response, in milliseconds."),
    latency_per_item_ms: float = typer.Option(0.0, help="Added latency per record in a page, in milliseconds."),
    store: Optional[Path] = typer.Option(None, help="Serve this store export instead of generating one."),
):
    """Serve a generated store as PLATFORM's API on 127.0.0.1:PORT until interrupted.
    Prints one JSON line first: base_url and the credentials a client must use."""
    import json
    import signal

    from cart_pipelines.platforms import registry as platforms
    from cart_pipelines.platforms.kit.emulator import EmulatorStore, Knobs, serve

    try:
        cls = platforms.emulator_class(platform)
    except ValueError as exc:
        _fail(str(exc))
    if store is not None and not store.is_dir():
        _fail(f"--store: {store} is not a directory holding a store export")
    if store is None and products == 0:  # an empty shop (a target to migrate into)
        import tempfile

        store = Path(tempfile.mkdtemp(prefix="cart-empty-store-"))
    data = EmulatorStore(store) if store else EmulatorStore.generated(products=products, seed=seed)
    knobs = Knobs(plan=plan, latency_ms=latency_ms, latency_per_item_ms=latency_per_item_ms)
    try:
        handle = serve(cls(data, knobs), port=port, tls=tls, lifetime=None)
    except OSError as exc:
        _fail(f"--port: cannot listen on 127.0.0.1:{port} ({exc.strerror})")
    print(json.dumps(handle.announce()), flush=True)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        while not stop["now"]:
            signal.pause() if hasattr(signal, "pause") else __import__("time").sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()


@app.command()
def authorize(
    listen: bool = typer.Option(True, help="Catch the redirect on the loopback redirect URL (127.0.0.1); "
                                           "--no-listen: paste the redirect URL or the code instead."),
    timeout: float = typer.Option(300, help="Seconds to wait for the redirect."),
    migration: Optional[str] = typer.Option(None, help="The migration whose Mystore target to authorize (its "
                                                       "MYSTORE_* variable names); default: the MYSTORE_* variables."),
    source: bool = typer.Option(False, "--source", help="Authorize the Mystore shop read from (MYSTORE_SOURCE_* "
                                                        "variables; with --migration: that migration's source)."),
):
    """Connect to Mystore (seed 000): open the printed URL, log in with store name, e-mail and password, press
    Authorize. The code is exchanged for tokens, stored in a file only you can read (MYSTORE_TOKEN_FILE, or
    MYSTORE_SOURCE_TOKEN_FILE with --source)."""
    from urllib.parse import urlsplit

    from cart_pipelines.defs.platform_resources import MystoreSourceResource, MystoreTargetResource
    from cart_pipelines.platforms.kit.oauth import (
        OAuthError,
        TokenStore,
        code_from_redirect,
        listen_for_code,
        new_state,
    )

    side = "source" if source else "target"
    resource = MystoreSourceResource.from_env() if source else MystoreTargetResource.from_env()
    if migration is not None:
        chosen = _deployment(migration)[1]
        if getattr(chosen, f"{side}_platform") != "mystore":
            _fail(f"--migration: {chosen.name}'s {side} is {getattr(chosen, f'{side}_platform')}, not mystore")
        resource = chosen.resources[side]
    try:
        target = resource.process_config_and_initialize().open()
    except Exception as exc:
        env = "MYSTORE_SOURCE_" if source else "MYSTORE_"
        _fail(f"Mystore configuration: {str(exc).strip().splitlines()[0]} (set {env}CLIENT_ID, {env}CLIENT_SECRET "
              f"and, for an emulator, {env}API_URL and {env}AUTH_URL)")
    state = new_state()
    console.print("Open this address, log in with your store name, e-mail and password, and press Authorize:")
    print(target.oauth.authorize_url(state), flush=True)
    try:
        redirect = urlsplit(target.oauth.redirect_uri)
        if listen and redirect.hostname in ("127.0.0.1", "localhost") and redirect.port:
            code = listen_for_code(redirect.port, state, timeout)
        else:
            pasted = typer.prompt("Paste the address you were sent to (or the Authorization Code)").strip()
            code = code_from_redirect(pasted, state) if "://" in pasted else pasted
        TokenStore(target.tokens.path).save(target.oauth.exchange(code))
    except OAuthError as exc:
        _fail(str(exc), 1)
    console.print(f"[green]authorized[/]: {target.describe()}; tokens saved to {target.tokens.path} (mode 0600).")


@app.command()
def migrations():
    """List the declared migrations (migrations.yaml, or the embedded default): source, target, data, schedule."""
    from cart_pipelines.defs.migrations import migrations_file

    ms = _all_migrations()
    path = migrations_file()
    table = Table(title=f"Migrations ({path if path else 'embedded default: no migrations.yaml'})")
    for col in ("name", "source", "target", "entities", "data", "post-migration schedule"):
        table.add_column(col)
    for m in ms:
        source, target = (p.split("/", 1)[1] for p in m.pools())
        entities = m.settings.get("entities")
        table.add_row(m.name, source, target,
                      "all" if not entities or set(entities) == set(ENTITY_NAMES) else ",".join(entities),
                      str(m.data), f"{m.schedule.cron} {m.schedule.timezone} "
                                   f"({'on' if m.schedule.enabled else 'off'})")
    console.print(table)


def _all_migrations():
    from cart_pipelines.defs.migrations import load

    try:
        return load()
    except ValueError as exc:
        _fail(str(exc))


@app.command()
def status(migration: Optional[str] = typer.Option(None, help="Only this migration (default: every one).")):
    """Where each migration stands (seed 001): demo done, full done, checks green, last post-migration, records in
    quarantine, and what to do next; from the Dagster instance and the latest reports."""
    import dagster as dg

    from cart_pipelines.definitions import build_definitions
    from cart_pipelines.defs.status import lifecycle

    ms = _all_migrations()
    if migration is not None:
        ms = [_deployment(migration)[1]]
    dagster_home()
    checks = build_definitions(migrations=ms).asset_checks or []
    keys = [spec.key for c in checks for spec in c.check_specs]
    table = Table(title="Where each migration stands")
    for col in ("migration", "stage", "demo", "full", "checks", "last post-migration", "quarantined", "next"):
        table.add_column(col)

    def phase(p: dict) -> str:
        done = p["done_at"].replace("T", " ").replace("+00:00", " UTC") if p["done_at"] else "-"
        return done if p["latest"] in ("success", "never run") else f"{done} (latest {p['latest']})"

    with dg.DagsterInstance.get() as instance:
        for m in ms:
            own = [k for k in keys if tuple(k.asset_key.path[:len(m.prefix)]) == m.prefix]
            s = lifecycle(m, instance, own)
            c = s["checks"]
            checks_cell = ("[green]green[/]" if c["green"] else
                           f"[red]{len(c['failed'])} failing[/]" if c["failed"] else f"{c['passed']}/{c['total']}")
            table.add_row(m.name, s["stage"], phase(s["demo"]), phase(s["full"]), checks_cell,
                          phase(s["post_migration"]), "-" if s["quarantined"] is None else str(s["quarantined"]),
                          s["next"])
    console.print(table)


@app.command()
def ui(port: int = typer.Option(3000, help="Port of the Dagster UI on 127.0.0.1.")):
    """Start the Dagster UI (dagster dev) for this project on 127.0.0.1."""
    from cart_pipelines.defs.resources import project_root

    dagster_home()
    exe = Path(sys.executable).with_name("dagster")
    cmd = [str(exe) if exe.exists() else "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
           "-p", str(port)]
    console.print(f"Dagster UI on http://127.0.0.1:{port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    raise typer.Exit(subprocess.call(cmd, cwd=project_root()))


if __name__ == "__main__":
    app()
