"""The config composes the sections its parts own: importing it never imports back into it.

Before, ``config`` → ``crawlers.generic.compile_site`` → ``crawlers.base`` → ``config`` was a cycle
(closed by an import inside a function). Every import counts here, at module level or inside a
function; only ``if TYPE_CHECKING:`` blocks are left out (they never run).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("ticket_alarm", "crawlers")
CONFIG = "ticket_alarm.config"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its code (not under TYPE_CHECKING)."""
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return out


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def _reachable(graph: dict[str, set[str]], start: str) -> dict[str, str]:
    """Every module ``start`` reaches, each with the module it was reached from (for the path)."""
    parent: dict[str, str] = {}
    todo = [start]
    while todo:
        current = todo.pop()
        for target in sorted(graph.get(current, ())):
            if target not in parent:
                parent[target] = current
                todo.append(target)
    return parent


def test_no_import_leads_from_the_config_back_to_it() -> None:
    graph = _graph()
    assert CONFIG in graph and "crawlers.custom.definition" in graph[CONFIG]
    parent = _reachable(graph, CONFIG)
    if CONFIG in parent:
        chain = [CONFIG]
        while chain[-1] != CONFIG or len(chain) == 1:
            chain.append(parent[chain[-1]])
        raise AssertionError("import cycle through the config: " + " ← ".join(chain))


def test_the_graph_sees_a_cycle_closed_inside_a_function(tmp_path: Path) -> None:
    """The checker itself: a function-level import back into the config is a cycle it reports."""
    known = {"ticket_alarm.config": tmp_path / "config.py", "crawlers.base": tmp_path / "base.py"}
    known["ticket_alarm.config"].write_text("def f():\n    from crawlers.base import X\n", encoding="utf-8")
    known["crawlers.base"].write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ticket_alarm.http import Y\n"
        "from ticket_alarm.config import Settings\n",
        encoding="utf-8",
    )
    graph = {name: _imports(name, path, known) for name, path in known.items()}
    assert graph == {"ticket_alarm.config": {"crawlers.base"}, "crawlers.base": {"ticket_alarm.config"}}
    assert CONFIG in _reachable(graph, CONFIG)


def test_importing_the_config_in_a_fresh_interpreter_pulls_in_no_component_above_it() -> None:
    """Only the sections' modules load with the config: not the daemon, the store, Discord, health."""
    code = (
        "import json, sys; import ticket_alarm.config; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('ticket_alarm', 'crawlers')))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(result.stdout))
    assert {
        "ticket_alarm.http",
        "ticket_alarm.routing",
        "crawlers.base",
        "crawlers.custom.definition",
    } <= loaded
    above = {
        "ticket_alarm.health",
        "ticket_alarm.metrics",
        "ticket_alarm.web",
        "ticket_alarm.daemon",
        "ticket_alarm.pipeline",
        "ticket_alarm.delivery",
        "ticket_alarm.discord",
        "ticket_alarm.store",
        "ticket_alarm.cli",
        "crawlers.custom.crawler",
        "crawlers.registry",
    }
    assert not loaded & above, sorted(loaded & above)


def test_every_module_imports_first_in_a_fresh_interpreter() -> None:
    """Each project module imported first (the project's modules forgotten in between, so none is
    half-loaded by an earlier one): an import cycle anywhere fails as "partially initialized"."""
    names = sorted(name for name in _modules() if not name.endswith("__main__"))  # that one runs the CLI
    code = (
        "import importlib, sys\n"
        f"names = {names!r}\n"
        "failed = []\n"
        "for name in names:\n"
        "    for loaded in [m for m in sys.modules if m.split('.')[0] in ('ticket_alarm', 'crawlers')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(failed))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "", result.stdout
