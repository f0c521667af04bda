"""Every row of a SQLite store, table by table, read in one snapshot (``store migrate`` copies them).

Opened read-only (``mode=ro``); a single read transaction keeps the tables consistent with each other
while a daemon may still be writing (WAL).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ticket_alarm.errors import StoreError


class SqliteExport:
    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def tables(self) -> list[str]:
        rows = self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
        return [r[0] for r in rows]

    def columns(self, table: str) -> list[str]:
        return [r[1] for r in self._conn.execute(f'PRAGMA table_info("{table}")')]

    def count(self, table: str) -> int:
        return int(self._conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])

    def rows(self, table: str, columns: Sequence[str], chunk: int = 1000) -> Iterator[list[tuple[Any, ...]]]:
        cols = ", ".join(f'"{c}"' for c in columns)
        cur = self._conn.execute(f'SELECT {cols} FROM "{table}" ORDER BY rowid')
        while batch := cur.fetchmany(chunk):
            yield [tuple(r) for r in batch]


@contextmanager
def export(path: Path) -> Iterator[SqliteExport]:
    if not path.is_file():
        raise StoreError(f"{path}: no SQLite store there to copy (check data_dir in the config).")
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: cannot open the SQLite store ({exc}).") from None
    try:
        conn.execute("BEGIN")  # one snapshot for every table
        yield SqliteExport(conn, path)
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: reading the SQLite store failed ({exc}).") from None
    finally:
        conn.close()
