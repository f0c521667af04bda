"""The async SQLite store: the shared SQL store (``store/sql/``) on one file, behind ONE worker thread.

Every statement runs on that thread (the connection never leaves it), so SQLite's busy wait (up to
10 s while another connection writes) and the fsyncs of a commit never block the event loop.
Calls are serialised in submission order: two coroutines never interleave inside a transaction,
because a whole transaction body runs on the thread in one go (:func:`run_to_end`).

What stays here because SQLite genuinely differs: opening the file, ``BEGIN IMMEDIATE`` on the
thread, ``search_history`` (it folds titles with a Python function registered on the connection),
and the file's own upkeep (integrity check, online backup and restore, ``PRAGMA optimize``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import sqlite3
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import ticket_alarm.store.api as api  # the module, not the package (store/__init__ imports us)
from ticket_alarm.errors import StoreError
from ticket_alarm.i18n import t
from ticket_alarm.store.files import InstanceLock
from ticket_alarm.store.sql.dialect import SQLITE
from ticket_alarm.store.sql.queries import Columns
from ticket_alarm.store.sql.reads import Body
from ticket_alarm.store.sql.store import SqlStore
from ticket_alarm.store.sqlite.connection import (
    DB_NAME,
    SCHEMA_VERSION,
    _transaction,
    backup_to,
    connect,
    connect_reader,
    connect_readonly,
    restore_from,
)

T = TypeVar("T")


def run_to_end(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends — a transaction body whose every await is a SQLite call made
    in place (:class:`SqliteTxn`) — to its end, on this thread."""
    try:
        coro.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coro.close()
    raise RuntimeError("a SQLite transaction body awaited something other than its statements")


class SqliteTxn:
    """``sql.reads.Txn`` on the connection, on the worker thread (the awaits never suspend)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, params).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Columns]:
        return list(self._conn.execute(sql, params).fetchall())


def _writable(data_dir: Path) -> Path:
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(t("store.data_dir.cannot_create", data_dir=data_dir, reason=exc.strerror)) from exc
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise StoreError(t("store.data_dir.not_writable", data_dir=data_dir))
    return data_dir / DB_NAME


class SqliteStore(SqlStore):
    """``api.Store`` on one SQLite file. Open with :meth:`open_dir` / :meth:`open_readonly`."""

    dialect = SQLITE

    def __init__(self, opener: Callable[[], sqlite3.Connection], path: Path, *, readonly: bool) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="store")
        try:
            self._conn: sqlite3.Connection = self._pool.submit(opener).result()
        except BaseException:
            self._pool.shutdown(wait=False)
            raise
        self.data_dir = path.parent
        self.path = path
        self.location = str(path)
        self.readonly = readonly
        self._closed = False

    @classmethod
    def open_dir(cls, data_dir: Path) -> SqliteStore:
        """Open (creating and migrating) ``data_dir``'s store for writing; takes no lease."""
        path = data_dir / DB_NAME
        return cls(lambda: connect(_writable(data_dir)), path, readonly=False)

    @classmethod
    def open_file(cls, path: Path) -> SqliteStore:
        """Open (creating and migrating) one SQLite file for writing (tests, benchmarks)."""
        return cls(lambda: connect(path), path, readonly=False)

    @classmethod
    def open_readonly(cls, path: Path) -> SqliteStore:
        """An existing store, read only: no lease, no migration, no file created (health, history)."""
        return cls(lambda: connect_readonly(path), path, readonly=True)

    @classmethod
    def open_reader(cls, path: Path) -> SqliteStore:
        """A second, read-only store on a file this process writes through another SqliteStore (the
        status page and /metrics): WAL readers never wait for the writer, and its own worker thread
        keeps a page request's reads off the event loop."""
        return cls(lambda: connect_reader(path), path, readonly=True)

    # --- the worker thread --------------------------------------------------------------------
    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            future = self._pool.submit(fn, *args)
        except RuntimeError:  # the worker was shut down: this store was closed
            raise StoreError(t("store.closed", location=self.location)) from None
        return await asyncio.wrap_future(future)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Columns]:
        try:
            return list(self._conn.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise StoreError(t("store.read_failed", path=self.path, error=exc)) from exc

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            with _transaction(self._conn):
                yield self._conn
        except sqlite3.Error as exc:
            raise StoreError(t("store.write_failed", path=self.path, error=exc)) from exc

    def _transact(self, body: Body[T]) -> T:
        with self._tx() as conn:  # BEGIN IMMEDIATE: a second process waits, then sees what we wrote
            return run_to_end(body(SqliteTxn(conn)))

    async def _select(self, sql: str, params: Sequence[Any] = ()) -> list[Columns]:
        return await self._run(self._query, sql, params)

    async def _interact(self, what: str, body: Body[T]) -> T:
        return await self._run(self._transact, body)

    # --- what SQLite does its own way ---------------------------------------------------------
    async def search_history(
        self, text: str, limit: int = 50, fold: Callable[[str], str] | None = None
    ) -> list[api.SearchHit]:
        """History rows (and imported legacy records) whose title contains ``text``, newest first.

        With ``fold`` (e.g. routing.normalise), title and text are compared in that folded form (a
        function registered on the connection, so SQLite filters and orders)."""
        legacy = await self._has_table("legacy_keys")
        return await self._run(self._search, text, limit, fold, legacy)

    def _search(
        self, text: str, limit: int, fold: Callable[[str], str] | None, legacy: bool
    ) -> list[api.SearchHit]:
        if fold is not None:
            self._conn.create_function("ta_fold", 1, lambda v: fold(v) if v is not None else None)
            where, param = "instr(ta_fold(title), ?) > 0", fold(text)
        else:
            where = "title LIKE ? ESCAPE '\\'"
            param = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        union = ""
        if legacy:
            union = (
                " UNION ALL SELECT coalesce(site, '?'), coalesce(notice_id, '?'), title, "
                f"coalesce(seen_at, imported_at), 'imported', NULL, NULL FROM legacy_keys WHERE {where} "
                "AND key NOT IN (SELECT key FROM history)"
            )
        sql = (
            "SELECT site, notice_id, title, first_seen, 'history' AS origin, "
            f"{self.dialect.json_text('ticket', 'open_at')} AS open_at, "
            f"{self.dialect.json_text('ticket', 'open_date')} AS open_date "
            f"FROM history WHERE {where}{union} ORDER BY 4 DESC, 1, 2 LIMIT ?"
        )
        params = [param, param, limit] if legacy else [param, limit]
        return [api.SearchHit(**dict(r)) for r in self._query(sql, params)]

    # --- the file -----------------------------------------------------------------------------
    def lease(self) -> InstanceLock:
        return InstanceLock(self.data_dir)

    def _close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA optimize")
        self._conn.close()

    async def close(self) -> None:
        """Close the file (a second close does nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._run(self._close)
        finally:
            self._pool.shutdown(wait=True)

    def close_sync(self) -> None:
        """Close from synchronous code (no event loop running)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._pool.submit(self._close).result()
        finally:
            self._pool.shutdown(wait=True)

    async def migrate(self) -> int:
        return await self.schema_version()  # opening migrated it already

    async def schema_version(self) -> int:
        return int(await self._scalar("PRAGMA user_version"))

    async def check(self) -> bool:
        return bool(await self._scalar("PRAGMA integrity_check") == "ok")

    async def backup(self, dest: Path) -> None:
        await self._run(backup_to, self._conn, self.path, dest)

    async def restore(self, src: Path) -> None:
        await self._run(restore_from, self._conn, self.path, src)


__all__ = ["DB_NAME", "SCHEMA_VERSION", "SqliteStore"]
