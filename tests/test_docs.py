"""The docs keep up with the code: every run-config option, environment variable and CLI option is in the
configuration reference, every page is reachable from README, and no relative link is broken."""

import ast
import re
from pathlib import Path

import pytest
import typer

from cart_pipelines.cli import app
from cart_pipelines.defs.config import MigrationConfig

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REFERENCE = (DOCS / "configuration.md").read_text()
ENV_NAME = re.compile(r"^(CART|MYSTORE|SHOPIFY|WOOCOMMERCE|BIGCOMMERCE|MAGENTO)_[A-Z0-9_]+$|^DAGSTER_HOME$")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def env_variables() -> set[str]:
    """Every environment variable name the package reads (string literals of our variable families)."""
    names = set()
    for path in (ROOT / "cart_pipelines").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and ENV_NAME.match(node.value):
                names.add(node.value)
    return names


def cli_options() -> set[tuple[str, str]]:
    command = typer.main.get_command(app)
    return {(name, opt) for name, sub in command.commands.items() for p in sub.params
            for opt in p.opts if opt.startswith("--") and opt != "--help"}


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def test_every_run_config_option_is_documented():
    missing = [f for f in MigrationConfig.model_fields if f"`{f}`" not in REFERENCE]
    assert not missing, f"docs/configuration.md lacks run-config options: {missing}"


def test_every_environment_variable_is_documented():
    names = env_variables()
    assert {"CART_SOURCE", "MYSTORE_REDIRECTS", "MAGENTO_ACCESS_TOKEN"} <= names  # the scan finds them (Mystore's
    # credential variables are built per side, connection.credentials: test_every_declared_credential_is_documented)
    missing = sorted(n for n in names if n not in REFERENCE)
    assert not missing, f"docs/configuration.md lacks environment variables: {missing}"


def test_every_declared_credential_is_documented():
    """Each platform's credential fields (platforms/<name>/: CREDENTIALS) name an environment variable: the
    configuration reference lists it, and the platform's guide exists."""
    from cart_pipelines.platforms import registry

    missing = []
    for name, p in registry.REGISTRY.items():
        for kind in ("source", "target"):
            cls = getattr(p, kind) and p.attr(kind, getattr(p, kind))
            missing += [f"{name} {kind}: {c.env}" for c in getattr(cls, "CREDENTIALS", ()) if c.env not in REFERENCE]
    assert not missing, f"docs/configuration.md lacks credential variables: {missing}"
    guides = [n for n, p in registry.PLATFORMS.items() if not (DOCS / "platforms" / f"{n}.md").exists()]
    assert not guides, f"source platforms without a guide in docs/platforms/: {guides}"


def test_every_cli_command_and_option_is_documented():
    rows = {}  # command → its row in the table of the CLI section
    for line in REFERENCE[REFERENCE.index("## CLI"):].splitlines():
        found = re.match(r"\| `cart-pipelines ([a-z-]+)", line)
        if found:
            rows[found.group(1)] = line
    options = cli_options()
    assert ("migrate", "--demo") in options
    missing = sorted(f"{c} {o}" for c, o in options if o not in rows.get(c, ""))
    assert not missing, f"docs/configuration.md (## CLI) lacks: {missing}"


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = [t for t in LINK.findall(page.read_text())
              if "://" not in t and not t.startswith("mailto:") and not (page.parent / t).exists()]
    assert not broken, f"{page.relative_to(ROOT)}: broken links {broken}"


def test_every_doc_page_is_reachable_from_readme():
    seen, todo = set(), [ROOT / "README.md"]
    while todo:
        page = todo.pop().resolve()
        if page in seen or page.suffix != ".md" or not page.exists():
            continue
        seen.add(page)
        todo += [page.parent / t for t in LINK.findall(page.read_text()) if "://" not in t]
    unreachable = [str(p.relative_to(ROOT)) for p in DOCS.rglob("*.md") if p.resolve() not in seen]
    assert not unreachable, f"not linked from README (directly or through docs): {unreachable}"
