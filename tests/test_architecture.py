"""The house keeps its shape (docs/architecture.md): dependencies point down, platform code knows nothing of
Dagster, no platform imports another platform's folder, product code never imports an emulator."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "cart_pipelines"


def imports(path: Path) -> set[str]:
    """Every module a file imports (absolute names), including imports inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def modules(folder: str):
    return sorted((PACKAGE / folder).rglob("*.py"))


def test_platforms_pipeline_and_model_know_nothing_of_dagster():
    offenders = [str(p.relative_to(PACKAGE)) for folder in ("platforms", "pipeline", "model")
                 for p in modules(folder) if any(m == "dagster" or m.startswith("dagster.") for m in imports(p))]
    assert not offenders, f"Dagster belongs in defs/: {offenders}"


def test_no_platform_imports_another_platforms_folder():
    offenders = []
    for path in modules("platforms"):
        rel = path.relative_to(PACKAGE / "platforms").parts
        if len(rel) < 2 or rel[0] == "kit":
            continue
        for m in imports(path):
            parts = m.split(".")
            if parts[:2] == ["cart_pipelines", "platforms"] and len(parts) > 3 \
                    and parts[2] not in (rel[0], "kit"):
                offenders.append(f"{'/'.join(rel)} imports {m}")
    assert not offenders, "what two platforms share belongs in the kit: " + "; ".join(offenders)


def test_platforms_and_the_model_do_not_reach_up():
    offenders = []
    for folder, banned in (("platforms", ("pipeline", "defs", "cli")),
                           ("model", ("pipeline", "platforms", "defs", "cli"))):
        for path in modules(folder):
            if path.name in ("registry.py", "target_registry.py"):
                continue  # the registry's resource_class() conveniences hand out defs/' resources, lazily
            for m in imports(path):
                parts = m.split(".")
                if parts[0] == "cart_pipelines" and len(parts) > 1 and parts[1] in banned:
                    offenders.append(f"{path.relative_to(PACKAGE)} imports {m}")
                if path.parent.name == "kit" and parts[:2] == ["cart_pipelines", "platforms"] and len(parts) > 2 \
                        and parts[2] not in ("kit", "registry"):
                    offenders.append(f"{path.relative_to(PACKAGE)} imports {m}")
    assert not offenders, "; ".join(offenders)


def test_product_code_never_imports_an_emulator():
    """Only tests, benchmarks, the registry's emulate() and `cart-pipelines emulate` start emulators."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.name.startswith("emulator") or rel.parts[:2] == ("platforms", "kit") and rel.name == "emulator.py":
            continue
        if str(rel) in ("cli.py", "platforms/registry.py", "platforms/target_registry.py"):
            continue  # `cart-pipelines emulate` and the registry's emulate(), for tests and trials
        for m in imports(path):
            if m.split(".")[-1].startswith("emulator") or ".emulator" in m:
                offenders.append(f"{rel} imports {m}")
    assert not offenders, "; ".join(offenders)
