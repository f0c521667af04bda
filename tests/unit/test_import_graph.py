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
CONFIG = "ticket_alarm.config.settings"


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
    known = {"ticket_alarm.config.settings": tmp_path / "config.py", "crawlers.base": tmp_path / "base.py"}
    known["ticket_alarm.config.settings"].write_text(
        "def f():\n    from crawlers.base import X\n", encoding="utf-8"
    )
    known["crawlers.base"].write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ticket_alarm.fetch.http import Y\n"
        "from ticket_alarm.config.settings import Settings\n",
        encoding="utf-8",
    )
    graph = {name: _imports(name, path, known) for name, path in known.items()}
    assert graph == {
        "ticket_alarm.config.settings": {"crawlers.base"},
        "crawlers.base": {"ticket_alarm.config.settings"},
    }
    assert CONFIG in _reachable(graph, CONFIG)


def test_importing_the_config_in_a_fresh_interpreter_pulls_in_no_component_above_it() -> None:
    """Only the sections' modules load with the config: not the daemon, the store, Discord, health."""
    code = (
        "import json, sys; import ticket_alarm.config.settings; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('ticket_alarm', 'crawlers')))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(result.stdout))
    assert {
        "ticket_alarm.fetch.http",
        "ticket_alarm.config.routes",
        "crawlers.base",
        "crawlers.custom.definition",
    } <= loaded
    above = {
        "ticket_alarm.ops.health",
        "ticket_alarm.ops.metrics",
        "ticket_alarm.web.server",
        "ticket_alarm.daemon.scheduler",
        "ticket_alarm.daemon.pipeline",
        "ticket_alarm.delivery.outbox",
        "ticket_alarm.delivery.discord",
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


# --- readers await the async store: the synchronous SQLite engine stays inside the store ----------

ENGINE_NAMES = {"SqliteEngine", "Store"}  # ticket_alarm.store.Store is the engine (api.Store: the protocol)
ENGINE_MODULES = {
    "ticket_alarm.store",
    "ticket_alarm.store.sqlite",
    "ticket_alarm.store.sqlite.engine",
    "ticket_alarm.store.sqlite.backend",
}


def _engine_imports(path: Path) -> list[str]:
    """Where a module names the synchronous SQLite engine (``from … import SqliteEngine/Store``, or
    the engine module itself imported whole), as ``line: statement`` texts."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module in ENGINE_MODULES and not node.level:
            for alias in node.names:
                if alias.name in ENGINE_NAMES:
                    found.append(f"{node.lineno}: from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "ticket_alarm.store.sqlite.engine":
                    found.append(f"{node.lineno}: import {alias.name}")
    return found


def test_no_module_outside_the_store_uses_the_synchronous_engine() -> None:
    """health, history, explain, upcoming, backup, metrics, the page and the CLI await the async
    ``Store`` protocol; only ``ticket_alarm.store`` itself knows the engine behind SQLite."""
    offenders = {
        name: hits
        for name, path in _modules().items()
        if not (name == "ticket_alarm.store" or name.startswith("ticket_alarm.store."))
        and (hits := _engine_imports(path))
    }
    assert offenders == {}, offenders
    assert not (ROOT / "ticket_alarm" / "store" / "postgres" / "bridge.py").exists()  # the sync bridge went


def test_the_engine_check_sees_each_way_of_naming_it(tmp_path: Path) -> None:
    module = tmp_path / "reader.py"
    module.write_text(
        "from ticket_alarm.store import DB_NAME, Store\n"
        "from ticket_alarm.store.api import Store as StoreProtocol\n"  # the protocol: fine
        "def f():\n    from ticket_alarm.store.sqlite.engine import SqliteEngine\n"
        "import ticket_alarm.store.sqlite.engine\n",
        encoding="utf-8",
    )
    assert _engine_imports(module) == [
        "1: from ticket_alarm.store import Store",
        "5: import ticket_alarm.store.sqlite.engine",
        "4: from ticket_alarm.store.sqlite.engine import SqliteEngine",
    ]
