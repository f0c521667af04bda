"""The PostgreSQL store: the same protocols as SQLite (``ticket_alarm.store.api``), for replicas.

psycopg 3, async, a small pool. Several daemons (replicas) may share one database: outbox rows are
claimed with ``FOR UPDATE SKIP LOCKED`` plus a lease, whether a notice is new is decided inside the
transaction that records it (``INSERT … ON CONFLICT`` on the history key), and each site's crawl is
owned by one replica at a time (``ticket_alarm.store.postgres.replicas``). Schema steps are the
numbered ``migrations/*.sql`` files, the same steps as SQLite's in PostgreSQL's dialect. The pool,
the errors and the schema steps are ``connection.py``; every other method is the SQL store written
once with SQLite (``store/sql/``). What stays here differs in logic, not spelling: the history write
that decides "new" inside the insert (replicas racing) and ``search_history`` (folding in Python).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg

import ticket_alarm.store.api as api  # the module, not the package (store/__init__ imports us)
from ticket_alarm.store.postgres.connection import (  # noqa: F401 (TABLES, SCHEMA_VERSION, migrations: the package's names)
    SCHEMA_VERSION,
    TABLES,
    PgConnection,
    migrations,
)
from ticket_alarm.store.sql import queries as Q
from ticket_alarm.store.sql.dialect import POSTGRES as PG
from ticket_alarm.store.sql.queries import Columns
from ticket_alarm.store.sql.reads import Body, T, Txn
from ticket_alarm.store.sql.store import SqlStore, _history_params

# "is this notice new" is the history key's unique constraint: xmax = 0 on a row this statement inserted
_WRITE_HISTORY = (
    Q.UPSERT_HISTORY
    + " WHERE history.digest IS DISTINCT FROM excluded.digest RETURNING (xmax = 0) AS inserted"
)
_KEEP_LIVE = "UPDATE history SET title=?, ticket=?, last_seen=? WHERE key=?"


class PgTxn:
    """``sql.reads.Txn`` on a pooled connection inside its transaction."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return (await self._conn.execute(PG.sql(sql), params)).rowcount

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            async with self._conn.cursor() as cur:
                await cur.executemany(PG.sql(sql), rows)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Columns]:
        cur = await self._conn.execute(PG.sql(sql), params)
        return list(await cur.fetchall()) if cur.description else []


class PostgresStore(SqlStore, PgConnection):
    """The store on a PostgreSQL server. Open with :meth:`open` (async); ``close`` when done."""

    dialect = PG

    async def _select(self, sql: str, params: Sequence[Any] = ()) -> list[Columns]:
        return list(await self._rows(PG.sql(sql), params))

    async def _interact(self, what: str, body: Body[T]) -> T:
        async with self._tx(what) as conn:
            return await body(PgTxn(conn))

    async def _write_history(self, tx: Txn, rows: Sequence[api.HistoryRow], now: float) -> dict[str, bool]:
        """A 'new' alert is queued only when this transaction inserted its row, a 'change' alert only
        when it changed the stored digest — so two replicas that crawl a site in a race enqueue it once."""
        written: dict[str, bool] = {}
        for h in rows:
            params = _history_params(h, now)
            done = await tx.fetch(_WRITE_HISTORY, params)
            if done:
                written[h.key] = bool(done[0]["inserted"])
            else:  # the same digest is stored already: keep the live data, announce nothing
                await tx.execute(_KEEP_LIVE, (h.title, params[5], now, h.key))
        return written

    async def search_history(
        self, text: str, limit: int = 50, fold: Callable[[str], str] | None = None
    ) -> list[api.SearchHit]:
        """As SQLite's: ``fold`` and non-ASCII text compared in Python (the server has no ``fold``, and
        its ILIKE folds non-ASCII letters, SQLite's LIKE does not)."""
        if fold is None:  # psycopg's own placeholders: the legacy rows' '?' defaults are literals
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where, params = "title ILIKE %s ESCAPE '\\'", [pattern]
        else:
            where, params = "TRUE", []
        rows = await self._rows(
            "SELECT site, notice_id, title, first_seen, 'history' AS origin, "
            f"{PG.json_text('ticket', 'open_at')} AS open_at, "
            f"{PG.json_text('ticket', 'open_date')} AS open_date "
            f"FROM history WHERE {where}",
            params,
        )
        rows += await self._rows(
            "SELECT coalesce(site, '?') AS site, coalesce(notice_id, '?') AS notice_id, title, "
            "coalesce(seen_at, imported_at) AS first_seen, 'imported' AS origin, NULL AS open_at, "
            f"NULL AS open_date FROM legacy_keys l WHERE title IS NOT NULL AND {where} "
            "AND NOT EXISTS (SELECT 1 FROM history h WHERE h.key = l.key)",
            params,
        )
        if fold is not None:
            needle = fold(text)
            rows = [r for r in rows if r["title"] is not None and needle in fold(r["title"])]
        elif not text.isascii():
            rows = [r for r in rows if _ascii_ci_contains(r["title"], text)]
        rows.sort(key=lambda r: (-r["first_seen"], r["site"], r["notice_id"]))
        return [api.SearchHit(**r) for r in rows[:limit]]


def _ascii_ci_contains(title: str | None, text: str) -> bool:
    if title is None:
        return False

    def low(s: str) -> str:
        return "".join(c.lower() if c.isascii() else c for c in s)

    return low(text) in low(title)
