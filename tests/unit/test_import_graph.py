"""The import graph of the whole tree (``ticket_alarm/`` and ``crawlers/``): no cycle, nothing upward.

Every import counts, at module level or inside a function (an import inside a function closes a
cycle as surely, only later); ``if TYPE_CHECKING:`` blocks are left out (they never run). The layers,
lowest first; a module may import its own layer or a lower one, never a higher one:

    errors/clock/logs/i18n → core → fetch → store → crawlers → config → delivery → daemon → ops → web
    → app → cli

(``ticket_alarm/__init__.py`` holds only the version: every import of a submodule runs it, so it is
a leaf.)
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


LAYERS: tuple[tuple[str, ...], ...] = (
    ("ticket_alarm", "ticket_alarm.errors", "ticket_alarm.clock", "ticket_alarm.logs", "ticket_alarm.i18n"),
    ("ticket_alarm.core",),
    ("ticket_alarm.fetch",),
    ("ticket_alarm.store",),
    ("crawlers",),
    ("ticket_alarm.config",),
    ("ticket_alarm.delivery",),
    ("ticket_alarm.daemon",),
    ("ticket_alarm.ops",),
    ("ticket_alarm.web",),
    ("ticket_alarm.app",),
    ("ticket_alarm.cli", "ticket_alarm.__main__"),
)


def _layer(module: str) -> int | None:
    """The index in ``LAYERS`` of the longest prefix naming ``module`` (None: in no layer)."""
    found: tuple[int, int] | None = None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            exact = prefix == "ticket_alarm"  # the root package itself, not everything below it
            inside = module == prefix or (not exact and module.startswith(prefix + "."))
            if inside and (found is None or len(prefix) > found[1]):
                found = (index, len(prefix))
    return found[0] if found else None


def _layer_name(index: int) -> str:
    return "/".join(p.removeprefix("ticket_alarm.") for p in LAYERS[index])


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, …, a]``) for each group of modules that reach each other (Tarjan's strongly
    connected components; a component of one module is a cycle only if it imports itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(graph, group) for group in sorted(groups, key=min)]


def _cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """The shortest cycle through the group's first module, staying inside the group."""
    start = min(group)
    parent: dict[str, str] = {}
    todo = [start]
    while todo:
        current = todo.pop(0)
        for target in sorted(graph.get(current, ())):
            if target == start:
                chain = [current]
                while chain[-1] != start:
                    chain.append(parent[chain[-1]])
                return [*reversed(chain), start]
            if target in group and target not in parent:
                parent[target] = current
                todo.append(target)
    raise AssertionError(f"no cycle in {sorted(group)}")  # a strongly connected group always has one


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """Every import that points to a higher layer, as ``a (layer) → b (layer)``."""
    out = []
    for name in sorted(graph):
        for target in sorted(graph[name]):
            here, there = _layer(name), _layer(target)
            if here is not None and there is not None and there > here:
                out.append(f"{name} ({_layer_name(here)}) → {target} ({_layer_name(there)})")
    return out


def test_every_module_has_a_layer() -> None:
    assert [name for name in _modules() if _layer(name) is None] == []


def test_no_import_cycle_anywhere_in_the_tree() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(cycle) for cycle in cycles)


def test_no_import_runs_up_the_layers() -> None:
    upward = _upward(_graph())
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def _graph_of(tmp_path: Path, sources: dict[str, str]) -> dict[str, set[str]]:
    known = {name: tmp_path / f"{name}.py" for name in sources}
    for name, text in sources.items():
        known[name].write_text(text, encoding="utf-8")
    return {name: _imports(name, path, known) for name, path in known.items()}


def test_the_graph_sees_a_cycle_closed_inside_a_function(tmp_path: Path) -> None:
    """The checker itself: a function-level import closes a cycle; a TYPE_CHECKING one does not."""
    graph = _graph_of(
        tmp_path,
        {
            "ticket_alarm.config.settings": "def f():\n    from crawlers.base import X\n",
            "crawlers.base": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from ticket_alarm.fetch.http import Y\n"
            "from ticket_alarm.config.settings import Settings\n",
            "ticket_alarm.fetch.http": "import ticket_alarm.errors\n",
        },
    )
    assert graph == {
        "ticket_alarm.config.settings": {"crawlers.base"},
        "crawlers.base": {"ticket_alarm.config.settings"},
        "ticket_alarm.fetch.http": set(),
    }
    assert _cycles(graph) == [["crawlers.base", "ticket_alarm.config.settings", "crawlers.base"]]
    assert _upward(graph) == ["crawlers.base (crawlers) → ticket_alarm.config.settings (config)"]


def test_the_cycle_check_names_a_long_cycle_and_passes_a_tree(tmp_path: Path) -> None:
    ring = {"a": "import b\n", "b": "import c\n", "c": "from a import x\n", "d": "import a\n"}
    assert _cycles(_graph_of(tmp_path, ring)) == [["a", "b", "c", "a"]]
    tree = {"a": "import b\nimport c\n", "b": "import c\n", "c": "", "d": "import a\n"}
    assert _cycles(_graph_of(tmp_path, tree)) == []


def test_the_layers_place_each_part() -> None:
    assert _layer("ticket_alarm") == _layer("ticket_alarm.errors") == 0
    assert _layer("ticket_alarm.i18n.table") == 0
    assert _layer("ticket_alarm.fetch.http") == 2 and _layer("crawlers.interpark.nol") == 4
    assert _layer("ticket_alarm.config.settings") == 5 and _layer("ticket_alarm.__main__") == 11
    assert _layer("ticket_alarm.ops.health") < _layer("ticket_alarm.web.server")  # type: ignore[operator]
    assert _layer("elsewhere") is None


def test_importing_the_config_in_a_fresh_interpreter_pulls_in_no_component_above_it() -> None:
    """Only the sections' modules load with the config: nothing of a layer above it (Discord, the
    daemon, health, the web page, the CLI), nor the store or the crawlers' registry."""
    code = (
        "import json, sys; import ticket_alarm.config.settings; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('ticket_alarm', 'crawlers')))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(result.stdout))
    assert {
        "ticket_alarm.fetch.settings",
        "ticket_alarm.config.routes",
        "crawlers.base",
        "crawlers.custom.definition",
    } <= loaded
    config = _layer(CONFIG)
    assert config is not None
    above = {name for name in loaded if (_layer(name) or 0) > config}
    above |= loaded & {"ticket_alarm.store", "crawlers.custom.crawler", "crawlers.registry"}
    assert not above, sorted(above)


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
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=900, check=True
    )
    assert result.stdout.strip() == "", result.stdout


# --- the store is reached through its async protocol: sqlite3 lives in the SQLite backend only -----

SQLITE_BACKEND = "ticket_alarm.store.sqlite"


def _sqlite3_imports(path: Path) -> list[str]:
    """Where a module imports ``sqlite3`` (at any depth, whole or by name), as ``line: statement``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.ImportFrom)
            and not node.level
            and (node.module or "").split(".")[0] == "sqlite3"
        ):
            found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: import {a.name}" for a in node.names if a.name.split(".")[0] == "sqlite3"
            ]
    return found


def test_sqlite3_is_imported_only_by_the_sqlite_backend() -> None:
    """health, history, explain, upcoming, backup, metrics, the page and the CLI await the async
    ``Store`` protocol; only ``store/sqlite/`` knows SQLite (and there is no synchronous engine)."""
    offenders = {
        name: hits
        for name, path in _modules().items()
        if not (name == SQLITE_BACKEND or name.startswith(SQLITE_BACKEND + "."))
        and (hits := _sqlite3_imports(path))
    }
    assert offenders == {}, offenders
    assert not (ROOT / "ticket_alarm" / "store" / "sqlite" / "engine.py").exists()  # the sync engine went
    assert not (ROOT / "ticket_alarm" / "store" / "postgres" / "bridge.py").exists()  # the sync bridge went


def test_the_sqlite3_check_sees_each_way_of_importing_it(tmp_path: Path) -> None:
    module = tmp_path / "reader.py"
    module.write_text(
        "from ticket_alarm.store import DB_NAME\n"
        "import sqlite3\n"
        "def f():\n    from sqlite3 import connect\n"
        "import sqlite3.dbapi2 as d\n",
        encoding="utf-8",
    )
    assert sorted(_sqlite3_imports(module)) == [
        "2: import sqlite3",
        "4: from sqlite3 import ...",
        "5: import sqlite3.dbapi2",
    ]
