"""What a regular (non-editable) install carries: ``deploy/install.sh`` runs ``pip install APP_DIR``,
so every data file the code reads at run time (the SQLite and PostgreSQL migrations) must be declared
as package data, or the installed daemon finds no migrations (PostgreSQL: schema version 0)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ticket_alarm", "crawlers")


def _data_files() -> list[Path]:
    out = []
    for top in PACKAGES:
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts:
                out.append(path)
    return out


def _declared(path: Path, package_data: dict[str, list[str]]) -> bool:
    rel = path.relative_to(ROOT)
    for package, globs in package_data.items():
        base = Path(*package.split("."))
        if base not in rel.parents:
            continue
        inner = rel.relative_to(base).as_posix()
        if any(fnmatch.fnmatch(inner, g) for g in globs):
            return True
    return False


def test_every_data_file_in_the_packages_is_declared_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    package_data = config["tool"]["setuptools"]["package-data"]
    files = _data_files()
    assert any(f.suffix == ".sql" and "postgres" in f.parts for f in files)  # the check sees them
    missing = [str(f.relative_to(ROOT)) for f in files if not _declared(f, package_data)]
    assert not missing, f"not in [tool.setuptools.package-data], so missing from a pip install: {missing}"
