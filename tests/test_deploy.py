"""The Kubernetes deployment (deploy/helm/, Dockerfile) against what can be checked without a cluster: the values use
keys the official Dagster chart declares, the code location module exists, every environment variable the example
migrations' credentials need comes from a Secret, and each migration's volume is mounted where the code keeps its
data."""

import importlib
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from cart_pipelines.defs import migrations as mig

ROOT = Path(__file__).resolve().parents[1]
HELM = ROOT / "deploy" / "helm"

# The keys of the chart's values, per path, from its pydantic schema (helm/dagster/schema/schema/charts/ of
# dagster-io/dagster: dagster/values.py, subschema/{run_launcher,daemon,postgresql,concurrency}.py,
# dagster_user_deployments/subschema/user_deployments.py) and charts/dagster-user-deployments/values.yaml, as read
# when this test was written. A key outside these is one the chart would ignore or reject.
CHART_KEYS: dict[str, set[str]] = {
    "": {"dagsterWebserver", "dagster-user-deployments", "postgresql", "generatePostgresqlPasswordSecret",
         "generateCeleryConfigSecret", "rabbitmq", "redis", "flower", "ingress", "imagePullSecrets",
         "computeLogManager", "scheduler", "runLauncher", "pythonLogs", "dagsterDaemon", "busybox", "migrate",
         "telemetry", "serviceAccount", "global", "retention", "additionalInstanceConfig", "concurrency"},
    "dagster-user-deployments": {"enabled", "enableSubchart", "imagePullSecrets", "deployments"},
    "dagster-user-deployments.deployments[]": {
        "name", "image", "dagsterApiGrpcArgs", "codeServerArgs", "includeConfigInLaunchedRuns", "port", "env",
        "envConfigMaps", "envSecrets", "annotations", "nodeSelector", "affinity", "tolerations",
        "podSecurityContext", "securityContext", "resources", "livenessProbe", "readinessProbe", "startupProbe",
        "labels", "volumeMounts", "volumes", "schedulerName", "initContainers", "sidecarContainers", "service"},
    "dagster-user-deployments.deployments[].image": {"repository", "tag", "pullPolicy"},
    "dagster-user-deployments.deployments[].includeConfigInLaunchedRuns": {"enabled"},
    "runLauncher": {"type", "config"},
    "runLauncher.config": {"celeryK8sRunLauncher", "k8sRunLauncher", "customRunLauncher"},
    "runLauncher.config.k8sRunLauncher": {
        "image", "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "kubeconfigFile", "envConfigMaps",
        "envSecrets", "envVars", "volumeMounts", "volumes", "labels", "failPodOnRunFailure", "resources",
        "schedulerName", "securityContext", "runK8sConfig"},
    "runLauncher.config.k8sRunLauncher.runK8sConfig": {
        "containerConfig", "podSpecConfig", "podTemplateSpecMetadata", "jobSpecConfig", "jobMetadata"},
    "postgresql": {"image", "enabled", "postgresqlHost", "postgresqlUsername", "postgresqlPassword",
                   "postgresqlDatabase", "postgresqlParams", "postgresqlScheme", "service"},
    "postgresql.service": {"port"},
    "dagsterDaemon": {
        "enabled", "image", "runCoordinator", "heartbeatTolerance", "env", "envConfigMaps", "envSecrets",
        "deploymentLabels", "labels", "nodeSelector", "affinity", "tolerations", "podSecurityContext",
        "securityContext", "resources", "livenessProbe", "readinessProbe", "startupProbe", "annotations",
        "runMonitoring", "runRetries", "sensors", "schedules", "schedulerName", "volumeMounts", "volumes"},
    "dagsterDaemon.runCoordinator": {"enabled", "type", "config"},
    "dagsterDaemon.runCoordinator.config": {"queuedRunCoordinator", "customRunCoordinator"},
    "dagsterDaemon.runCoordinator.config.queuedRunCoordinator": {
        "maxConcurrentRuns", "tagConcurrencyLimits", "dequeueIntervalSeconds", "dequeueNumWorkers",
        "dequeueUseThreads", "blockOpConcurrencyLimitedRuns"},
    "concurrency": {"enabled", "pools", "runs"},
    "concurrency.pools": {"defaultLimit", "granularity", "opGranularityRunBuffer"},
    "concurrency.runs": {"maxConcurrentRuns", "tagConcurrencyLimits"},
    "concurrency.runs.tagConcurrencyLimits[]": {"key", "value", "limit"},
    "telemetry": {"enabled"},
}
K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # DNS-1123 label: Secrets, claims, volumes


def load(name: str):
    return yaml.safe_load((HELM / name).read_text())


@pytest.fixture(scope="module")
def values() -> dict:
    return load("values.yaml")


@pytest.fixture(scope="module")
def deployment(values) -> dict:
    (only,) = values["dagster-user-deployments"]["deployments"]
    return only


def env_of(deployment) -> dict:
    return {e["name"]: e for e in deployment["env"]}


def _walk(node, path: str, out: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, f"{path}[]", out)
        return
    if not isinstance(node, dict) or path not in CHART_KEYS:
        return  # a Kubernetes object (env, volumes, resources, ...) or free-form config: not the chart's keys
    out += [f"{path}.{k}".lstrip(".") for k in node if k not in CHART_KEYS[path]]
    for k, v in node.items():
        _walk(v, f"{path}.{k}".lstrip("."), out)


def test_values_use_only_the_charts_keys(values):
    unknown: list[str] = []
    _walk(values, "", unknown)
    assert not unknown, unknown
    assert values["runLauncher"]["type"] == "K8sRunLauncher"  # one Kubernetes Job (pod) per run
    assert "k8sRunLauncher" in values["runLauncher"]["config"]
    assert values["dagster-user-deployments"]["enabled"] and values["postgresql"]["postgresqlScheme"] == \
        "postgresql+psycopg2"


def test_the_code_location_is_this_projects_module(deployment):
    args = deployment["codeServerArgs"]
    module = args[args.index("--module-name") + 1]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert module == pyproject["tool"]["dagster"]["module_name"] == "cart_pipelines.definitions"
    assert hasattr(importlib.import_module(module), "defs")
    dockerfile = (ROOT / "Dockerfile").read_text()
    workdir = re.search(r"^WORKDIR (\S+)", dockerfile, re.M).group(1)
    assert args[args.index("--working-directory") + 1] == workdir
    # project_root() of an installed package is the working directory: the bundled sample store is there
    assert "COPY data/sample_store ./data/sample_store" in dockerfile and 'pip install --no-cache-dir ".[k8s]"' in \
        dockerfile
    extras = pyproject["project"]["optional-dependencies"]["k8s"]
    assert {"dagster-k8s==0.29.27", "dagster-postgres==0.29.27"} == set(extras)
    data = env_of(deployment)["CART_PIPELINES_DATA"]["value"]
    assert f"ENV CART_PIPELINES_DATA={data}" in dockerfile
    assert deployment["includeConfigInLaunchedRuns"]["enabled"]  # run pods get the env and the volumes


def test_migrations_file_is_a_configmap_directory_mount(deployment):
    mounts = {m["name"]: m for m in deployment["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["volumes"]}
    (name,) = [n for n, v in volumes.items() if "configMap" in v]
    mount = mounts[name]
    assert "subPath" not in mount  # a subPath mount is never refreshed: a reload would not see a new migration
    assert env_of(deployment)["CART_MIGRATIONS"]["value"] == f"{mount['mountPath']}/{mig.FILE_NAME}"
    docs = (ROOT / "docs" / "deployment.md").read_text()
    assert f"kubectl create configmap {volumes[name]['configMap']['name']} --from-file={mig.FILE_NAME}=" in docs


def needed_env(spec: mig.MigrationSpec) -> dict[str, bool]:
    """Environment variable → secret?, for what the migration's credentials need: every required field and every
    field the entry names in `env`."""
    out = {}
    for side in ("source", "target"):
        s = getattr(spec, side)
        names = s.env_names(side)
        for c in mig.credentials_of(side, s.platform):
            if c.required or c.name in s.env:
                out[names[c.name]] = c.secret
    return out


def test_every_credential_of_the_example_comes_from_a_secret(deployment):
    specs = mig.parse((ROOT / "deploy" / "migrations.example.yaml").read_text())
    env = env_of(deployment)
    secrets = {d["metadata"]["name"]: d["stringData"] for d in yaml.safe_load_all((HELM / "secrets.example.yaml")
                                                                                   .read_text())}
    assert all(v == "" for data in secrets.values() for v in data.values())  # an example: no value in the repo
    wanted = {}
    for spec in specs:
        wanted.update(needed_env(spec))
    assert {"SHOP_B_WOOCOMMERCE_CONSUMER_SECRET", "NEWSHOP_SECRET", "SHOP_C_TOKEN"} <= set(wanted)
    missing = sorted(n for n in wanted if n not in env)
    assert not missing, f"not wired in values.yaml: {missing}"
    for name in wanted:
        ref = env[name].get("valueFrom", {}).get("secretKeyRef")
        assert ref and "value" not in env[name], f"{name}: not from a Secret"
        assert K8S_NAME.match(ref["name"]) and ref["key"] in secrets.get(ref["name"], {}), (name, ref)
    # nothing wired that no migration reads (a typo would leave the real variable unset)
    from_secrets = {n for n, e in env.items() if "valueFrom" in e}
    assert from_secrets == set(wanted), from_secrets ^ set(wanted)


def test_each_migration_has_its_own_volume_where_the_code_keeps_its_data(deployment, monkeypatch):
    env = env_of(deployment)
    monkeypatch.setenv(mig.FILE_ENV, env["CART_MIGRATIONS"]["value"])
    monkeypatch.setenv("CART_PIPELINES_DATA", env["CART_PIPELINES_DATA"]["value"])
    specs = mig.parse((ROOT / "deploy" / "migrations.example.yaml").read_text())
    resolved = mig.resolve(specs, Path(env["CART_MIGRATIONS"]["value"]))
    volumes = {v["name"]: v for v in deployment["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in deployment["volumeMounts"]}
    claims = {d["metadata"]["name"]: d for d in yaml.safe_load_all((HELM / "cart-pipelines.yaml").read_text())
              if d["kind"] == "PersistentVolumeClaim"}
    used = set()
    for m in resolved:
        assert str(m.data) in mounts, f"{m.name}: nothing mounted at {m.data}"
        volume = volumes[mounts[str(m.data)]]
        claim = volume["persistentVolumeClaim"]["claimName"]
        assert claim in claims and claims[claim]["spec"]["accessModes"] == ["ReadWriteMany"], claim
        assert K8S_NAME.match(claim) and K8S_NAME.match(volume["name"])
        # staging catalog, reports and the local target all live under the migration's data directory
        assert Path(m.resources["staging"].directory).is_relative_to(m.data)
        if m.target_platform == "local":
            assert Path(m.resources["target"].path).is_relative_to(m.data)
        used.add(claim)
    assert len(used) == len(resolved) == len(claims)  # one claim per migration, none shared, none left over


def test_run_queue_and_pools_match_the_postgres_instance(values):
    instance = yaml.safe_load((ROOT / "deploy" / "dagster-postgres.yaml").read_text())["concurrency"]
    chart = values["concurrency"]
    assert chart["enabled"] and chart["pools"]["defaultLimit"] == instance["pools"]["default_limit"] == 1
    limits = {(t["key"], t["limit"]) for t in chart["runs"]["tagConcurrencyLimits"]}
    assert limits == {(t["key"], t["limit"]) for t in instance["runs"]["tag_concurrency_limits"]}
    tags = mig.Migration(name="x", resources={}, source_platform="woocommerce", target_platform="local",
                         data=Path("/x")).tags()
    assert {k for k, _ in limits} <= set(tags)
    coordinator = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert not {"maxConcurrentRuns", "tagConcurrencyLimits"} & set(coordinator)  # the chart refuses both places


@pytest.mark.slow  # two loads of the definitions in a code server: about 30 s alone, minutes on a busy machine
def test_reload_definitions_shows_an_added_migration_without_restarting_the_code_server(tmp_path, deployment):
    """The code server the values run (`dagster code-server start`, codeServerArgs) reloads its definitions when
    the UI's "Reload definitions" asks (a gRPC ReloadCode, what the webserver sends for a grpc_server location):
    a migration added to the file appears, the server process stays the same. (`dagster api grpc` ignores that
    request: it would need a pod restart.)"""
    import os
    import socket
    import subprocess
    import sys
    import time

    import dagster as dg
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import GrpcServerTarget
    from dagster._grpc.client import DagsterGrpcClient
    from conftest import SAMPLE

    args = deployment["codeServerArgs"]
    spec = tmp_path / "migrations.yaml"
    spec.write_text(f"migrations:\n  - name: shop_a\n    source: {{platform: store_export, path: {SAMPLE}}}\n"
                    f"  - name: shop_b\n    source: {{platform: store_export, path: {SAMPLE}}}\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "CART_MIGRATIONS": str(spec), "CART_PIPELINES_DATA": str(tmp_path / "data"),
           "DAGSTER_HOME": str(tmp_path)}
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster")), "code-server", "start",
         *[a if a != "/opt/cart_pipelines" else str(ROOT) for a in args], "-h", "127.0.0.1", "-p", str(port)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "server.log", "w"))
    try:
        client = DagsterGrpcClient(port=port, host="127.0.0.1")
        deadline = time.monotonic() + 300
        while True:
            try:
                client.ping("")
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("code server did not start: " + (tmp_path / "server.log").read_text()[-2000:])
                time.sleep(0.5)

        def jobs(ctx) -> set[str]:
            location = ctx.create_request_context().get_code_location("cart_pipelines")
            return {j.name for repo in location.get_repositories().values() for j in repo.get_all_jobs()}

        with dg.instance_for_test() as instance, WorkspaceProcessContext(
                instance, GrpcServerTarget(host="127.0.0.1", port=port, socket=None,
                                           location_name="cart_pipelines")) as ctx:
            assert "shop_b__demo_migration" in jobs(ctx) and "shop_c__demo_migration" not in jobs(ctx)
            spec.write_text(spec.read_text() + f"  - name: shop_c\n    source: {{platform: store_export, path: {SAMPLE}}}\n")
            ctx.reload_code_location("cart_pipelines")
            assert "shop_c__demo_migration" in jobs(ctx)
        assert server.poll() is None  # the same process: nothing restarted
    finally:
        server.terminate()
        server.wait(timeout=60)
