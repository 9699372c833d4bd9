"""The architecture as a contract that `make test` checks (docs/contributing.md explains it):

- stages sit in layers; a module may import its own stage, the shared foundation modules and the stages of
  lower layers, never a stage of its own or a higher layer, nor the application (``jedi_academy.cli``);
- no module imports another stage's ``cli`` module (stages meet through ``jedi_academy.hooks``);
- no ``cli.py`` and no web route module imports SQLAlchemy (SQL lives in the stages' services and ``store/``).

Every import counts, also those inside functions and under ``TYPE_CHECKING``: a lazy import is still a
dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "jedi_academy"
SOURCE = Path(__file__).resolve().parents[1] / "src" / PACKAGE

# Top-level modules every stage may use: errors, bounds, configuration, the hook registry, the CLI kit, the
# one chart renderer, the one progress display and the services' result base.
FOUNDATION = {
    "errors", "limits", "lazy", "config", "hooks", "cli_kit", "cli_errors", "terminal_text",
    "charts", "progress", "results",
}  # fmt: skip
# The application: it wires the stages together; no stage imports it.
APPLICATION = {"cli", "cli_reference", "demo"}
# Lowest first. A stage may import the stages of lower layers only.
LAYERS: list[set[str]] = [
    {"store"},
    {"llm", "instruments"},
    {"specializations", "guard", "feedback"},
    {"reddit"},
    {"personas"},
    {"conversations", "datasets", "sessions"},
    {"finetune"},
    {"serving", "assessment"},
    {"portfolio", "pipeline", "erasure"},
    {"loop"},
    {"web"},
]
RANK = {stage: rank for rank, layer in enumerate(LAYERS) for stage in layer}
# Web modules that define routes (SQL-free, like every cli.py).
WEB_ROUTE_MODULES = {"web/app.py"}


def _statements(tree: ast.AST) -> list[tuple[int, str, list[str]]]:
    """(line, what it names, every module it may import) per import statement."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, [alias.name]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from jedi_academy.loop import cli` imports a module, too
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found.append((node.lineno, node.module, names))
    return found


def _is_route_module(relative: str) -> bool:
    return relative.endswith("cli.py") or relative in WEB_ROUTE_MODULES or relative.startswith("web/routes/")


def _reason(relative: str, owner: str, name: str) -> str | None:
    pieces = name.split(".")
    if pieces[0] == "sqlalchemy":
        if _is_route_module(relative):
            return "SQL belongs in a service, not in a command or route module"
        return None
    if pieces[0] != PACKAGE or len(pieces) < 2 or pieces[1] == owner:
        return None
    target = pieces[1]
    if len(pieces) >= 3 and pieces[2] == "cli":
        return "another stage's cli module (stages meet through jedi_academy.hooks)"
    if owner in APPLICATION:  # the application wires everything together
        return None
    if target in APPLICATION:
        return "the application; nothing below it may import it"
    if target in FOUNDATION:
        return None
    if owner in FOUNDATION:
        return None if target == "store" else "a foundation module may use only the foundation and store"
    if target not in RANK or owner not in RANK:
        return f"{target if target not in RANK else owner} is in no layer of this test"
    if RANK[target] >= RANK[owner]:
        return f"climbs up (layer {RANK[owner]} imports layer {RANK[target]})"
    return None


def violations(relative: str, source: str) -> list[str]:
    """The contract's violations in one module, ``relative`` to ``src/jedi_academy`` (``loop/cli.py``)."""
    owner = relative.removesuffix(".py").split("/")[0]
    problems = []
    for line, named, names in _statements(ast.parse(source)):
        reasons = {reason: None for name in names if (reason := _reason(relative, owner, name))}
        problems += [f"{relative}:{line}: imports {named}: {reason}" for reason in reasons]
    return problems


def _modules() -> list[tuple[str, str]]:
    return [
        (path.relative_to(SOURCE).as_posix(), path.read_text(encoding="utf-8"))
        for path in sorted(SOURCE.rglob("*.py"))
        if "migrations" not in path.parts
    ]


def test_every_stage_is_in_a_layer() -> None:
    stages = {p.name for p in SOURCE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    modules = {p.stem for p in SOURCE.glob("*.py")} - {"__init__"}
    assert stages == set(RANK), "add the new stage to LAYERS here and to docs/contributing.md"
    assert modules == FOUNDATION | APPLICATION, "a new top-level module: foundation or application?"


def test_the_package_keeps_the_contract() -> None:
    problems = [problem for relative, source in _modules() for problem in violations(relative, source)]
    assert problems == []


@pytest.mark.parametrize(
    ("relative", "source", "expected"),
    [
        ("loop/cli.py", "from jedi_academy.sessions.cli import case_app", "another stage's cli module"),
        ("web/cli.py", "from jedi_academy.serving import cli", "another stage's cli module"),
        ("sessions/cli.py", "def f():\n    from sqlalchemy import select", "SQL belongs in a service"),
        ("web/app.py", "import sqlalchemy.orm", "SQL belongs in a service"),
        ("sessions/interactive.py", "from jedi_academy.loop.jobs import enqueue_loop", "climbs up"),
        ("datasets/versions.py", "from jedi_academy.sessions import ModelPool", "climbs up"),  # a peer
        ("finetune/service.py", "from jedi_academy.cli import main", "the application"),
        ("hooks.py", "from jedi_academy.loop import hooks", "only the foundation and store"),
    ],
)
def test_the_checker_catches(relative: str, source: str, expected: str) -> None:
    found = violations(relative, source)
    assert len(found) == 1 and expected in found[0]


def test_the_checker_allows() -> None:
    assert violations("loop/hooks.py", "from jedi_academy.sessions.ending import end_session") == []
    assert violations("sessions/records.py", "from sqlalchemy import select") == []
    assert violations("cli.py", "from jedi_academy.loop.run import run_loop") == []
    assert violations("web/cli.py", "from jedi_academy.cli_kit import print_json") == []
