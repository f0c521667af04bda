"""The SQLite file itself: opening (and migrating) it, read-only and reader connections, the
transaction, the online backup and restore, checking a copy, and reading every row for ``store migrate``.
With ``engine.py`` the only place that imports ``sqlite3``."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ticket_alarm.errors import StoreError
from ticket_alarm.i18n import t

DB_NAME = "ticket-alarm.sqlite3"


def _load_migrations() -> list[str]:
    """``migrations/NNNN_name.sql`` in number order; step N brings user_version from N-1 to N."""
    files = sorted(
        (f for f in resources.files(__package__).joinpath("migrations").iterdir() if f.name.endswith(".sql")),
        key=lambda f: f.name,  # a Traversable has no order of its own (a zipped install's has none)
    )
    return [f.read_text(encoding="utf-8") for f in files]


_MIGRATIONS: list[str] = _load_migrations()
SCHEMA_VERSION = len(_MIGRATIONS)


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating and migrating) the store file for writing; StoreError when it cannot."""
    existed = path.exists() and path.stat().st_size > 0
    try:
        # check_same_thread off: SqliteStore moves the engine to its worker thread (one user at a time)
        conn = sqlite3.connect(path, isolation_level=None, timeout=10.0, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(t("store.cannot_open", path=path, error=exc)) from exc
    try:
        _prepare(conn, path, existed)
    except BaseException:
        conn.close()  # a refused or unreadable file must not stay open (and locked) behind the error
        raise
    return conn


def _prepare(conn: sqlite3.Connection, path: Path, existed: bool) -> None:
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if existed and version == 0:
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise StoreError(t("store.not_ours", path=path))
        if existed:  # a damaged file can still open and answer some lookups: it would forget
            check = conn.execute("PRAGMA quick_check").fetchone()[0]  # notices and re-alert them
            if check != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {str(check)[:200]}")
        if version > SCHEMA_VERSION:
            raise StoreError(t("store.schema_newer", path=path, version=version, known=SCHEMA_VERSION))
        for number in range(version, SCHEMA_VERSION):
            try:
                conn.executescript(
                    f"BEGIN IMMEDIATE;{_MIGRATIONS[number]};PRAGMA user_version={number + 1};COMMIT;"
                )
            except sqlite3.Error:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
    except sqlite3.DatabaseError as exc:
        raise StoreError(t("store.unreadable", path=path, error=exc)) from exc


def connect_readonly(path: Path) -> sqlite3.Connection:
    """Open an existing store for reading: no lock, no migration, no file created.

    Without a ``-wal`` file the database is opened ``immutable`` (nobody is writing, and a
    read-only WAL open would create ``-wal``/``-shm`` files owned by whoever runs the check).
    """
    if not path.is_file():
        raise StoreError(t("store.none_yet", path=path))
    wal = path.with_name(path.name + "-wal")
    uri = path.resolve().as_uri() + ("?mode=ro" if wal.exists() else "?mode=ro&immutable=1")
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10.0, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise StoreError(t("store.unreadable_readonly", path=path, error=exc)) from exc
    if not 1 <= version <= SCHEMA_VERSION:
        conn.close()
        raise StoreError(t("store.schema_unknown", path=path, version=version, known=SCHEMA_VERSION))
    return conn


def connect_reader(path: Path) -> sqlite3.Connection:
    """A second, read-only connection to a store another connection (of this process) writes:
    WAL readers never wait for the writer, so the status page and /metrics read (through
    ``SqliteStore.open_reader``, on its own worker thread) while SqliteStore writes on its."""
    try:
        conn = sqlite3.connect(
            path.resolve().as_uri() + "?mode=ro",
            uri=True,
            isolation_level=None,
            timeout=10.0,
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA user_version").fetchone()
    except sqlite3.Error as exc:
        raise StoreError(t("store.cannot_read", path=path, error=exc)) from exc
    return conn


def backup_to(conn: sqlite3.Connection, path: Path, dest: Path) -> None:
    """A consistent copy through SQLite's online backup API (writers may go on meanwhile)."""
    try:
        target = sqlite3.connect(dest)
        try:
            conn.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise StoreError(t("store.backup_failed", path=path, dest=dest, error=exc)) from exc


def restore_from(conn: sqlite3.Connection, path: Path, src: Path) -> None:
    """Replace this store's content with a backup copy's (SQLite's backup API, one step)."""
    try:
        source = sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True)
        try:
            source.backup(conn)
        finally:
            source.close()
    except sqlite3.Error as exc:
        raise StoreError(t("store.restore_failed", path=path, src=src, error=exc)) from exc


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (autocommit connection)."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # SQLite may have rolled back already (RAISE(ROLLBACK), SQLITE_FULL); a failed COMMIT leaves the
        # transaction open, and every later write would silently join it and never be committed
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def verify_copy(path: Path, *, what: str) -> tuple[int, int]:
    """(schema version, history rows) of a store file (a backup being restored), read only.

    StoreError naming ``what`` when it fails its integrity check, has a schema this program does
    not know, lacks the store's tables, or is not SQLite at all.
    """
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            check = conn.execute("PRAGMA integrity_check").fetchall()
            if [tuple(r) for r in check] != [("ok",)]:
                problems = "; ".join(str(r[0]) for r in check[:3])
                raise StoreError(t("store.copy.integrity", what=what, problems=problems))
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if not 1 <= version <= SCHEMA_VERSION:
                raise StoreError(
                    t("store.copy.schema_unknown", what=what, version=version, known=SCHEMA_VERSION)
                )
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            missing = {"history", "outbox", "site_state"} - tables
            if missing:
                raise StoreError(t("store.copy.not_ours", what=what, tables=", ".join(sorted(missing))))
            rows = int(conn.execute("SELECT count(*) FROM history").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(t("store.copy.not_sqlite", what=what, error=exc)) from exc
    return version, rows


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


@contextlib.contextmanager
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
