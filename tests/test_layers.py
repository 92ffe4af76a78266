"""The layers stay apart: a test reads every module's imports (DESIGN.md, Architecture)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "loantrace"
ABOVE_ADAPTERS = ("loantrace.api", "loantrace.devtools", "loantrace.bootstrap")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return {name for name in found if name.startswith("loantrace")}


def _modules(*parts: str) -> list[Path]:
    base = PACKAGE.joinpath(*parts)
    return sorted(base.rglob("*.py")) if base.is_dir() else [base]


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("domain", ("loantrace.chain", "loantrace.store", "loantrace.services", "loantrace.api")),
        ("chain", ("loantrace.store", "loantrace.services", *ABOVE_ADAPTERS)),
        ("store", ("loantrace.chain", "loantrace.services", *ABOVE_ADAPTERS)),
        (
            "services",
            ("loantrace.api", "loantrace.cli", "loantrace.devtools", "loantrace.bootstrap"),
        ),
        ("api", ("loantrace.devtools",)),
    ],
)
def test_a_layer_never_imports_the_layers_above_or_beside_it(
    layer: str, forbidden: tuple[str, ...]
) -> None:
    offences = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in _modules(layer)
        for name in sorted(_imports(path))
        if name.startswith(forbidden)
    ]
    assert offences == []


def test_the_cli_never_imports_route_modules() -> None:
    offences = [
        f"{path.name} imports {name}"
        for path in sorted(PACKAGE.glob("cli*.py"))
        for name in sorted(_imports(path))
        if name.startswith("loantrace.api") and name != "loantrace.api.app"
    ]
    assert offences == []


WIRED = ("Transactor(", "SqlOutbox(", "make_engine(", "Indexer(", "LoanService(", "Notary(")
WIRED += ("FlowService(", "WebhookService(", "Keeper(", "Verifier(", "RegistryClient(")
WIRED += ("PersonalDataService(", "SignIn(", "BorrowerPortal(")


def test_only_bootstrap_wires_adapters_and_use_cases() -> None:
    offences = [
        f"{path.relative_to(PACKAGE)} constructs {name[:-1]}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not path.name.startswith("bootstrap") and "devtools" not in path.parts
        for name in WIRED
        for line in path.read_text(encoding="utf-8").splitlines()
        if name in line and not line.lstrip().startswith(("class ", "def ", "#", '"""'))
    ]
    assert offences == []


def test_routes_ask_for_use_cases_not_the_wiring() -> None:
    offences = [
        f"{path.name} imports loantrace.bootstrap"
        for path in _modules("api")
        if path.name not in ("app.py", "deps.py") and "loantrace.bootstrap" in _imports(path)
    ]
    assert offences == []


# Use cases that reach storage only through a unit of work:
PORTED = (
    "webhooks.py",
    "loans.py",
    "notary.py",
    "verify.py",
    "personal.py",
    "signin.py",
    "borrower.py",
)


def test_ported_use_cases_reach_storage_only_through_their_port() -> None:
    offences = [
        f"services/{name} imports {imported}"
        for name in PORTED
        for imported in sorted(_imports(PACKAGE / "services" / name))
        if imported.startswith("loantrace.store")
    ]
    assert offences == []
