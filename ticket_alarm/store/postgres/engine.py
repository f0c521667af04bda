"""The PostgreSQL store: the same protocols as SQLite (``ticket_alarm.store.api``), for replicas.

psycopg 3, async, a small pool. Several daemons (replicas) may share one database: outbox rows are
claimed with ``FOR UPDATE SKIP LOCKED`` plus a lease, whether a notice is new is decided inside the
transaction that records it (``INSERT … ON CONFLICT`` on the history key), and each site's crawl is
owned by one replica at a time (``ticket_alarm.store.postgres.replicas``). Schema steps are the
numbered ``migrations/*.sql`` files, the same steps as SQLite's in PostgreSQL's dialect.

The password of the URL never leaves this module: ``location`` is the masked URL, and a driver error
is re-raised as a :class:`StoreError` with every spelling of the password replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import asdict
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ticket_alarm.core.model import identity_key
from ticket_alarm.core.notice_memo import NoticeRead
from ticket_alarm.errors import StoreError, StoreUnavailable
from ticket_alarm.i18n import MESSAGES, t
from ticket_alarm.store import policy
from ticket_alarm.store.api import (
    HEARTBEAT_META,
    CachedResponse,
    CommitResult,
    Cycle,
    DigestLogRow,
    DueReminder,
    HeadState,
    LegacyKey,
    NewOutboxRow,
    NoticeRow,
    OutboxItem,
    OutboxRow,
    OutboxStats,
    PruneResult,
    RecentAlert,
    ReminderRow,
    SearchHit,
    Seen,
    Settlement,
    SiteHistory,
    SiteState,
    UpcomingRow,
)
from ticket_alarm.store.files import InstanceLock
from ticket_alarm.store.sql import queries as Q
from ticket_alarm.store.sql.dialect import POSTGRES as PG
from ticket_alarm.store.urls import mask_store_url, store_url_secrets

MIGRATIONS_PACKAGE = "ticket_alarm.store.postgres.migrations"
MIGRATION_LOCK = 0x7A11_0001  # pg_advisory_xact_lock key: replicas starting together migrate once
TABLES = (  # every table a backup, a restore and `store migrate` carry, parents first
    "history",
    "digest_log",
    "reminders",
    "outbox",
    "site_state",
    "http_cache",
    "webhook_state",
    "meta",
    "legacy_keys",
    "notice_reads",
)
CHUNK = 1000
PG_BIN_GLOB = "/usr/lib/postgresql/*/bin"  # Debian keeps pg_dump of each version there


# what a server that is down, restarting or full of connections answers: waiting fixes it
_WAIT_STATES = ("57P01", "57P02", "57P03", "53300")
_WAIT_WORDS = ("starting up", "shutting down", "not yet accepting", "in recovery", "too many", "slots")


def unreachable(exc: BaseException) -> bool:
    """Whether a driver error means "the server cannot be reached now" (a wait), not a wrong
    password, a missing database or a bad URL (which no waiting fixes)."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    if state:
        return state.startswith("08") or state in _WAIT_STATES
    text = str(exc)
    if "FATAL:" in text:  # the server answered and refused: only its "not now" answers are a wait
        return any(word in text for word in _WAIT_WORDS)
    return "invalid" not in text  # refused, reset, timed out, a name not resolved; not a malformed URL


def migrations() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) of every schema step, in order."""
    out = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        if entry.name.endswith(".sql"):
            out.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text(encoding="utf-8")))
    out.sort()
    if [n for n, _, _ in out] != list(range(1, len(out) + 1)):
        raise RuntimeError(f"{MIGRATIONS_PACKAGE}: steps are not numbered 1..n: {[n for n, _, _ in out]}")
    return out


SCHEMA_VERSION = len(migrations())


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:  # a bug upstream: nothing of the transaction is written
        raise StoreError(t("pg.not_json", error=exc)) from None


def _loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def libpq_parts(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment that carries it (``PGPASSWORD``) — for
    ``pg_dump``/``pg_restore``, whose argv every user of the box can read in ``ps``."""
    parts = urlsplit(url)
    env = {}
    if parts.password is not None:
        from urllib.parse import unquote

        env["PGPASSWORD"] = unquote(parts.password)
        netloc = parts.netloc.replace(f":{parts.password}@", "@")
        url = urlunsplit(parts._replace(netloc=netloc))
    return url, env


class PostgresStore:
    """The store on a PostgreSQL server. Open with :meth:`open` (async); ``close`` when done."""

    readonly: bool

    def __init__(
        self,
        url: str,
        *,
        readonly: bool = False,
        data_dir: Path | None = None,
        min_size: int = 1,
        max_size: int = 4,
        timeout: float = 10.0,
    ) -> None:
        """No I/O: the pool connects (and the schema migrates) on the first call, or in :meth:`open`."""
        self.url = url
        self.location = mask_store_url(url) or "postgresql"
        self.readonly = readonly
        self.data_dir = data_dir
        self.timeout = timeout
        self._secrets = store_url_secrets(url)
        self._sizes = (min_size, max_size)
        self._pool = self._new_pool()
        self._pool_used = False  # an opened pool cannot be opened again: a reconnection makes a new one
        self._ready = False
        self._opening: asyncio.Lock | None = None
        self._opener: asyncio.Task[Any] | None = None

    def _new_pool(self) -> AsyncConnectionPool[Any]:
        return AsyncConnectionPool(
            self.url,
            min_size=self._sizes[0],
            max_size=self._sizes[1],
            open=False,
            timeout=self.timeout,
            # a connection the server dropped (a restart) is found at checkout, not by the query
            check=AsyncConnectionPool.check_connection,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "connect_timeout": max(1, int(self.timeout)),
                # a read-only handle (health, history, explain while the replicas run) cannot write
                **({"options": "-c default_transaction_read_only=on"} if self.readonly else {}),
            },
            name="ticket-alarm",
        )

    @classmethod
    async def open(cls, url: str, **options: Any) -> PostgresStore:
        """Connect now and bring the schema up to date (read-only: check it); StoreError when it cannot."""
        store = cls(url, **options)
        await store._ensure_open()
        return store

    async def _ensure_open(self) -> None:
        if self._ready or (self._opener is not None and self._opener is asyncio.current_task()):
            return  # ready, or the opening itself (its migration) is asking
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._ready:
                return
            self._opener = asyncio.current_task()
            try:
                await self._open_and_migrate()
            finally:
                self._opener = None

    async def _open_and_migrate(self) -> None:
        if self._pool_used:  # reconnecting after the server went away: a fresh pool
            with contextlib.suppress(Exception):
                await self._pool.close(timeout=1.0)
            self._pool = self._new_pool()
        self._pool_used = True
        try:
            # one plain connection first: a wrong password or a missing database fails at once, with
            # the server's reason (the pool would retry until its timeout and only say it timed out)
            probe = await psycopg.AsyncConnection.connect(self.url, connect_timeout=max(1, int(self.timeout)))
            await probe.close()
            await self._pool.open(wait=True, timeout=self.timeout)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            await self._pool.close()
            error = t("pg.cannot_connect", location=self.location, error=self._clean(exc))
            raise (StoreUnavailable(error) if unreachable(exc) else StoreError(error)) from None
        try:
            if self.readonly:
                version = await self.schema_version()
                if not 1 <= version <= SCHEMA_VERSION:
                    raise StoreError(
                        t("pg.schema_unknown", location=self.location, version=version, known=SCHEMA_VERSION)
                    )
            else:
                await self.migrate()
        except BaseException:
            await self._pool.close()
            raise
        self._ready = True

    # --- plumbing ----------------------------------------------------------------------
    def _clean(self, exc: BaseException) -> str:
        text = " ".join(str(exc).split())[:500] or type(exc).__name__
        for secret in self._secrets:
            text = text.replace(secret, "****")
        return text

    def _error(self, what: str, exc: BaseException) -> StoreError:
        """``what``: the operation's English name (``_tx("lease renewal")``), said in the catalog's words."""
        key = "pg.op." + what.replace(" ", "_")
        said = t(key) if key in MESSAGES else what
        text = t("pg.failed", location=self.location, what=said, error=self._clean(exc))
        if unreachable(exc):
            self._ready = False  # the next call reconnects (with a fresh pool) before it runs
            return StoreUnavailable(text)
        return StoreError(text)

    @contextlib.asynccontextmanager
    async def _tx(self, what: str = "write") -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        await self._ensure_open()
        try:
            async with self._pool.connection() as conn, conn.transaction():
                yield conn
        except StoreError:
            raise
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise self._error(what, exc) from None

    async def _rows(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        await self._ensure_open()
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(sql, params)
                return list(await cur.fetchall()) if cur.description else []
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise self._error("read", exc) from None

    async def _value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._rows(sql, params)
        return next(iter(rows[0].values())) if rows else None

    def lease(self) -> Any:
        """Replicas share the database; the single-instance lease stays per data_dir (one per replica)."""
        if self.data_dir is None:
            raise StoreError(t("pg.no_data_dir", location=self.location))
        return InstanceLock(self.data_dir)

    async def close(self) -> None:
        self._ready = False
        await self._pool.close()

    # --- Maintenance -------------------------------------------------------------------
    async def schema_version(self) -> int:
        exists = await self._value("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
        if not exists:
            return 0
        return int(await self._value("SELECT coalesce(max(version), 0) FROM schema_migrations") or 0)

    async def migrate(self) -> int:
        steps = migrations()
        async with self._tx("migrate") as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT coalesce(max(version), 0) AS v FROM schema_migrations")
            row = await cur.fetchone()
            version = int(row["v"]) if row else 0
            if version > len(steps):
                raise StoreError(
                    t("pg.schema_newer", location=self.location, version=version, known=len(steps))
                )
            for number, name, sql in steps[version:]:
                await conn.execute(sql.encode())
                await conn.execute(
                    "INSERT INTO schema_migrations(version, name) VALUES (%s, %s)", (number, name)
                )
        return len(steps)

    async def check(self) -> bool:
        try:
            for table in TABLES:
                await self._rows(f"SELECT count(*) FROM {table}")
            bad = await self._value(
                "SELECT count(*) FROM outbox WHERE status NOT IN ('pending', 'sent', 'dead')"
            )
        except StoreError:
            return False
        return not bad

    async def backup(self, dest: Path) -> None:
        """``pg_dump`` in its custom format (consistent: one snapshot, writers go on)."""
        tool = _tool("pg_dump", self.location)
        url, env = libpq_parts(self.url)
        _run_tool(
            [tool, "--format=custom", "--no-owner", "--no-privileges", "--file", str(dest), "--dbname", url],
            env,
            t("pg.backup_to", location=self.location, dest=dest),
            self._secrets,
        )

    async def restore(self, src: Path) -> None:
        """``pg_restore`` of a :meth:`backup` file, replacing every table, in one transaction."""
        tool = _tool("pg_restore", self.location)
        url, env = libpq_parts(self.url)
        _run_tool(
            [tool, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
             "--exit-on-error", "--dbname", url, str(src)],
            env,
            t("pg.restore_from", location=self.location, src=src),
            self._secrets,
        )  # fmt: skip

    async def prune(self, now: float, retention_days: float) -> PruneResult:
        cutoff = policy.cutoff(now, retention_days)
        async with self._tx("prune") as conn:
            done = [(await conn.execute(PG.sql(sql), (cutoff,) * n)).rowcount for sql, n in Q.PRUNE]
        return PruneResult(*done)

    # --- history -----------------------------------------------------------------------
    async def seen(self, keys: Iterable[str]) -> dict[str, Seen]:
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Seen] = {}
        for start in range(0, len(wanted), CHUNK):
            rows = await self._rows(
                "SELECT key, digest, ticket, pending_digest, pending_cycles FROM history WHERE key = ANY(%s)",
                (wanted[start : start + CHUNK],),
            )
            for r in rows:
                out[r["key"]] = Seen(
                    r["key"], r["digest"], json.loads(r["ticket"]), r["pending_digest"], r["pending_cycles"]
                )
        return out

    async def commit_cycle(self, cycle: Cycle) -> CommitResult:
        """One transaction. "Is this notice new" is the history key's unique constraint: a 'new' alert
        is queued only when this transaction inserted its row, a 'change' alert only when it changed the
        stored digest — so two replicas that crawl the same site in a race enqueue it once."""
        now = cycle.now
        async with self._tx("write") as conn:
            written: dict[str, bool] = {}  # key -> inserted (True) or digest changed (False)
            for h in cycle.history:
                cur = await conn.execute(
                    "INSERT INTO history(key, digest, site, notice_id, title, ticket, first_seen, last_seen) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET "
                    "digest=excluded.digest, title=excluded.title, ticket=excluded.ticket, "
                    "last_seen=excluded.last_seen WHERE history.digest IS DISTINCT FROM excluded.digest "
                    "RETURNING (xmax = 0) AS inserted",
                    (h.key, h.digest, h.site, h.notice_id, h.title, _json(h.ticket), now, now),
                )
                row = await cur.fetchone()
                if row is not None:
                    written[h.key] = bool(row["inserted"])
                else:  # the same digest is stored already: keep the live data, announce nothing
                    await conn.execute(
                        "UPDATE history SET title=%s, ticket=%s, last_seen=%s WHERE key=%s",
                        (h.title, _json(h.ticket), now, h.key),
                    )
            lost = {h.key for h in cycle.history} - set(written)  # another replica wrote it first
            if cycle.touched:
                await conn.execute(
                    "UPDATE history SET last_seen=%s WHERE key = ANY(%s)", (now, list(cycle.touched))
                )
            for p in cycle.pending:
                await conn.execute(
                    PG.sql(Q.SET_PENDING),
                    (p.digest, _json(p.ticket) if p.ticket else None, p.cycles, p.key),
                )
            events = [e for e in cycle.events if not (e.key in lost and e.event == "first")]
            async with conn.cursor() as cur:
                await cur.executemany(
                    PG.sql(Q.INSERT_EVENT),
                    [(e.key, e.event, e.digest, _json(e.ticket), now) for e in events],
                )
            for r in cycle.reminders:
                await _upsert_reminder(conn, r)
            matched = 0
            if cycle.legacy_matched:
                cur = await conn.execute(
                    "UPDATE legacy_keys SET matched_at=%s WHERE key = ANY(%s) AND matched_at IS NULL",
                    (now, list(cycle.legacy_matched)),
                )
                matched = cur.rowcount
            outbox = [o for o in cycle.outbox if not _raced(o, written, lost)]
            ids = await _insert_outbox(conn, outbox, now)
            await _save_state(conn, cycle.state)
        return CommitResult(
            history_written=len(written),
            touched=len(cycle.touched),
            outbox_ids=ids,
            events=len(events),
            reminders=len(cycle.reminders),
            legacy_matched=matched,
        )

    async def notice(self, key: str) -> NoticeRow | None:
        rows = await self._rows(PG.sql(Q.NOTICE), (key,))
        return _notice(rows[0]) if rows else None

    async def notice_events(self, key: str) -> list[DigestLogRow]:
        rows = await self._rows(PG.sql(Q.NOTICE_EVENTS), (key,))
        return [
            DigestLogRow(r["id"], r["key"], r["event"], r["digest"], json.loads(r["ticket"]), r["at"])
            for r in rows
        ]

    async def known_contents(self, site: str) -> set[tuple[str, str | None]]:
        rows = await self._rows(
            "SELECT title, ta_json(ticket) ->> 'open_at' AS open_at FROM history WHERE site=%s", (site,)
        )
        return {(r["title"], r["open_at"]) for r in rows}

    async def newest_notice(self, site: str) -> dict[str, Any] | None:
        rows = await self._rows(
            "SELECT ticket FROM history WHERE site=%s ORDER BY first_seen DESC, ctid DESC LIMIT 1", (site,)
        )
        return json.loads(rows[0]["ticket"]) if rows else None

    async def history_count(self, site: str | None = None) -> int:
        if site is None:
            return int(await self._value(Q.HISTORY_COUNT))
        return int(await self._value(PG.sql(Q.HISTORY_COUNT_SITE), (site,)))

    async def history_by_site(self) -> list[SiteHistory]:
        rows = await self._rows(Q.HISTORY_BY_SITE)
        return [
            SiteHistory(r["site"], int(r["n"]), r["first_seen"], r["newest"], r["last_seen"]) for r in rows
        ]

    async def search_history(
        self, text: str, limit: int = 50, fold: Callable[[str], str] | None = None
    ) -> list[SearchHit]:
        hits: list[SearchHit] = []
        if fold is None:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            # SQLite's LIKE: case-insensitive for ASCII only (lower() would fold Hangul-adjacent scripts too)
            where, param = "title ILIKE %s ESCAPE '\\'", pattern
        else:
            where, param = "TRUE", None
        rows = await self._rows(
            "SELECT site, notice_id, title, first_seen, 'history' AS origin, "
            "ta_json(ticket) ->> 'open_at' AS open_at, ta_json(ticket) ->> 'open_date' AS open_date "
            f"FROM history WHERE {where}",
            (param,) if param is not None else (),
        )
        rows += await self._rows(
            "SELECT coalesce(site, '?') AS site, coalesce(notice_id, '?') AS notice_id, title, "
            "coalesce(seen_at, imported_at) AS first_seen, 'imported' AS origin, NULL AS open_at, "
            f"NULL AS open_date FROM legacy_keys l WHERE title IS NOT NULL AND {where} "
            "AND NOT EXISTS (SELECT 1 FROM history h WHERE h.key = l.key)",
            (param,) if param is not None else (),
        )
        if fold is not None:
            needle = fold(text)
            rows = [r for r in rows if r["title"] is not None and needle in fold(r["title"])]
        elif not text.isascii():  # ILIKE folds non-ASCII letters, SQLite's LIKE does not
            rows = [r for r in rows if _ascii_ci_contains(r["title"], text)]
        rows.sort(key=lambda r: (-r["first_seen"], r["site"], r["notice_id"]))
        for r in rows[:limit]:
            hits.append(SearchHit(**r))
        return hits

    async def upcoming_rows(self, since_day: str) -> list[UpcomingRow]:
        rows = await self._rows(
            "SELECT site, notice_id, ticket, first_seen, last_seen FROM history h, ta_json(h.ticket) AS t "
            "WHERE substr(t ->> 'open_at', 1, 10) >= %(d)s OR substr(t ->> 'open_date', 1, 10) >= %(d)s "
            "OR (jsonb_typeof(t -> 'presales') = 'array' AND EXISTS (SELECT 1 FROM "
            "jsonb_array_elements(t -> 'presales') AS p WHERE jsonb_typeof(p) = 'object' "
            "AND substr(p ->> 'at', 1, 10) >= %(d)s))",
            {"d": since_day},
        )
        return [
            UpcomingRow(r["site"], r["notice_id"], json.loads(r["ticket"]), r["first_seen"], r["last_seen"])
            for r in rows
        ]

    async def legacy_keys(self, keys: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(keys))
        out: set[str] = set()
        for start in range(0, len(wanted), CHUNK):
            rows = await self._rows(
                "SELECT key FROM legacy_keys WHERE key = ANY(%s)", (wanted[start : start + CHUNK],)
            )
            out.update(r["key"] for r in rows)
        return out

    async def legacy_counts(self) -> tuple[int, int]:
        rows = await self._rows(Q.LEGACY_COUNTS)
        return (int(rows[0]["n"]), int(rows[0]["m"]))

    async def import_legacy(self, keys: Sequence[LegacyKey], now: float) -> tuple[int, int]:
        added = 0
        async with self._tx() as conn:
            for k in keys:
                cur = await conn.execute(
                    "INSERT INTO legacy_keys(key, source, site, notice_id, title, seen_at, imported_at) "
                    "SELECT %s, %s, %s, %s, %s, %s, %s WHERE NOT EXISTS (SELECT 1 FROM history WHERE key=%s) "
                    "ON CONFLICT (key) DO NOTHING",
                    (k.key, k.source, k.site, k.notice_id, k.title, k.seen_at, now, k.key),
                )
                added += cur.rowcount
        return added, len(keys) - added

    # --- reminders ---------------------------------------------------------------------
    async def reminders(self, notice_keys: Iterable[str]) -> list[ReminderRow]:
        rows = await self._rows(
            "SELECT * FROM reminders WHERE notice_key = ANY(%s) ORDER BY notice_key, route, sale, "
            "offset_min DESC",
            (list(dict.fromkeys(notice_keys)),),
        )
        return [ReminderRow(**r) for r in rows]

    async def due_reminders(self, now: float, limit: int = 200) -> list[DueReminder]:
        rows = await self._rows(PG.sql(Q.DUE_REMINDERS), (now, limit))
        return [DueReminder(**r) for r in rows]

    async def next_reminder_due(self) -> float | None:
        value = await self._value(Q.NEXT_REMINDER_DUE)
        return None if value is None else float(value)

    async def settle_reminders(
        self, now: float, *, queued: Sequence[int], skipped: Sequence[int], outbox: Sequence[NewOutboxRow]
    ) -> tuple[int, ...]:
        """One transaction. Replicas run the due loop side by side: the rows are locked, and when
        another replica settled any of them first, nothing is written (those it settled went out
        with it; the rest stay pending for the next round) — a reminder is never queued twice."""
        ids = [*queued, *skipped]
        async with self._tx() as conn:
            if ids:
                cur = await conn.execute(
                    "SELECT id FROM reminders WHERE id = ANY(%s) AND status='pending' FOR UPDATE", (ids,)
                )
                if len(await cur.fetchall()) != len(set(ids)):
                    return ()
            new_ids = await _insert_outbox(conn, outbox, now)
            for status, group in (("queued", queued), ("skipped", skipped)):
                if group:
                    await conn.execute(
                        "UPDATE reminders SET status=%s, updated_at=%s WHERE id = ANY(%s)",
                        (status, now, list(group)),
                    )
        return new_ids

    # --- outbox ------------------------------------------------------------------------
    async def enqueue(self, rows: Sequence[NewOutboxRow], now: float) -> tuple[int, ...]:
        async with self._tx() as conn:
            return await _insert_outbox(conn, rows, now)

    async def claim(
        self, route: str, now: float, *, owner: str, lease_seconds: float, limit: int = 50
    ) -> list[OutboxItem]:
        async with self._tx() as conn:
            cur = await conn.execute(
                "WITH picked AS (SELECT id FROM outbox WHERE route=%(route)s AND status='pending' "
                "AND next_attempt_at <= %(now)s "
                "AND (lease_until IS NULL OR lease_until <= %(now)s OR lease_owner = %(owner)s) "
                "ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
                "UPDATE outbox o SET lease_owner=%(owner)s, lease_until=%(until)s FROM picked "
                "WHERE o.id = picked.id RETURNING o.id, o.route, o.kind, o.site, o.notice_key, o.payload, "
                "o.attempts, o.created_at",
                {"route": route, "now": now, "limit": limit, "owner": owner, "until": now + lease_seconds},
            )
            rows = await cur.fetchall()
        return sorted(
            (
                OutboxItem(
                    r["id"],
                    r["route"],
                    r["kind"],
                    r["site"],
                    r["notice_key"],
                    json.loads(r["payload"]),
                    r["attempts"],
                    r["created_at"],
                )
                for r in rows
            ),
            key=lambda item: item.id,
        )

    async def renew(self, ids: Sequence[int], now: float, *, owner: str, lease_seconds: float) -> int:
        if not ids:
            return 0
        async with self._tx("lease renewal") as conn:
            return (await conn.execute(*Q.renew(PG, ids, now + lease_seconds, owner))).rowcount

    async def settle(self, ids: Sequence[int], outcome: Settlement, now: float) -> int:
        if not ids:
            return 0
        async with self._tx() as conn:
            return (await conn.execute(*Q.settle(PG, ids, policy.settlement(outcome, now)))).rowcount

    async def next_due(self, route: str) -> float | None:
        value = await self._value(PG.sql(Q.NEXT_DUE), (route,))
        return None if value is None else float(value)

    async def outbox_stats(self) -> OutboxStats:
        stats = OutboxStats()
        for r in await self._rows(Q.OUTBOX_BY_STATUS):
            setattr(stats, r["status"], int(r["n"]))
        oldest = await self._value(Q.OLDEST_PENDING)
        stats.oldest_pending = None if oldest is None else float(oldest)
        for r in await self._rows(PG.sql(Q.PENDING_BY_ROUTE)):
            stats.by_route[r["route"]] = int(r["n"])
        return stats

    async def outbox_list(
        self, *, status: str | None = None, route: str | None = None, since: float | None = None
    ) -> list[OutboxRow]:
        return [_outbox_row(r) for r in await self._rows(*Q.outbox_list(PG, status, route, since))]

    async def notice_outbox(self, key: str) -> list[OutboxRow]:
        return [_outbox_row(r) for r in await self._rows(PG.sql(Q.NOTICE_OUTBOX), (key,))]

    async def recent_alerts(self, limit: int = 20) -> list[RecentAlert]:
        return [RecentAlert(**r) for r in await self._rows(PG.sql(Q.RECENT_ALERTS), (limit,))]

    async def retry_dead(self, *, route: str | None, since: float | None, now: float) -> int:
        async with self._tx() as conn:
            return (await conn.execute(*Q.retry_dead(PG, route, since, now))).rowcount

    # --- site state --------------------------------------------------------------------
    async def site_state(self, site: str) -> SiteState:
        rows = await self._rows(PG.sql(Q.SITE_STATE), (site,))
        return SiteState(**rows[0]) if rows else SiteState(site)

    async def all_site_states(self) -> list[SiteState]:
        return [SiteState(**r) for r in await self._rows(Q.ALL_SITE_STATES)]

    async def save_site_state(self, state: SiteState) -> None:
        async with self._tx() as conn:
            await _save_state(conn, state)

    async def head_state(self, site: str) -> HeadState:
        raw = await self.get_meta(HeadState(site).meta_key)
        if not raw:
            return HeadState(site)
        try:
            data = json.loads(raw)
            return HeadState(site, **{k: v for k, v in data.items() if k in HeadState.__dataclass_fields__})
        except (ValueError, TypeError, AttributeError):
            return HeadState(site)

    async def save_head_state(self, state: HeadState) -> None:
        data = {k: v for k, v in asdict(state).items() if k != "site"}
        await self.set_meta(state.meta_key, json.dumps(data))

    # --- webhooks ----------------------------------------------------------------------
    async def mark_webhook_broken(
        self, route: str, reason: str, now: float, fingerprint: str | None = None
    ) -> None:
        async with self._tx() as conn:
            await conn.execute(PG.sql(Q.UPSERT_WEBHOOK), (route, reason, now))
            await conn.execute(PG.sql(Q.DELETE_META), (Q.WEBHOOK_URL_META + route,))
            if fingerprint:
                await conn.execute(PG.sql(Q.SET_META), (Q.WEBHOOK_URL_META + route, fingerprint))

    async def clear_webhook_broken(self, route: str) -> None:
        async with self._tx() as conn:
            await conn.execute(PG.sql(Q.CLEAR_WEBHOOK), (route,))
            await conn.execute(PG.sql(Q.DELETE_META), (Q.WEBHOOK_URL_META + route,))

    async def broken_webhooks(self) -> dict[str, str]:
        return {r["route"]: r["broken_reason"] for r in await self._rows(Q.BROKEN_WEBHOOKS)}

    async def broken_webhook_fingerprints(self) -> dict[str, str]:
        rows = await self._rows(PG.sql(Q.WEBHOOK_FINGERPRINTS))
        return {r["key"].removeprefix(Q.WEBHOOK_URL_META): r["value"] for r in rows}

    # --- meta --------------------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None:
        return await self._value(PG.sql(Q.GET_META), (key,))

    async def set_meta(self, key: str, value: str) -> None:
        async with self._tx() as conn:
            await conn.execute(PG.sql(Q.SET_META), (key, value))

    async def heartbeat(self, now: float) -> None:
        await self.set_meta(HEARTBEAT_META, repr(float(now)))

    async def last_heartbeat(self) -> float | None:
        raw = await self.get_meta(HEARTBEAT_META)
        try:
            return None if raw is None else float(raw)
        except ValueError:
            return None

    # --- HTTP cache --------------------------------------------------------------------
    async def cached_response(self, key: str) -> CachedResponse | None:
        rows = await self._rows(PG.sql(Q.CACHED_RESPONSE), (key,))
        if not rows:
            return None
        return CachedResponse(rows[0]["etag"], rows[0]["last_modified"], bytes(rows[0]["body"]))

    async def remember_response(
        self, key: str, etag: str | None, last_modified: str | None, body: bytes, now: float
    ) -> None:
        async with self._tx() as conn:
            await conn.execute(PG.sql(Q.REMEMBER_RESPONSE), (key, etag, last_modified, body, now))

    # --- notices' second pages (NoticeMemo) ----------------------------------------------
    async def notice_reads(self, site: str, ids: Sequence[str]) -> dict[str, NoticeRead]:
        where, params = PG.among("notice_id", list(dict.fromkeys(ids)))
        sql = PG.sql(f"SELECT {Q.NOTICE_READ_COLUMNS} FROM notice_reads WHERE site=? AND {where}")
        return {r["notice_id"]: NoticeRead(**r) for r in await self._rows(sql, (site, *params))}

    async def save_notice_reads(self, site: str, reads: Sequence[NoticeRead], now: float) -> None:
        if not reads:
            return
        async with self._tx() as conn, conn.cursor() as cur:
            await cur.executemany(
                PG.sql(Q.SAVE_NOTICE_READ),
                [
                    (site, r.notice_id, identity_key(site, r.notice_id), r.fingerprint, *_read_tail(r), now)
                    for r in reads
                ],
            )

    # --- whole tables (store migrate, tests) ---------------------------------------------
    async def table_counts(self) -> dict[str, int]:
        return {t: int(await self._value(f"SELECT count(*) FROM {t}")) for t in TABLES}

    async def is_empty(self) -> bool:
        """No row in any table a store holds (``store migrate`` refuses anything else)."""
        if await self.schema_version() == 0:
            return True
        return not any((await self.table_counts()).values())


def _ascii_ci_contains(title: str | None, text: str) -> bool:
    if title is None:
        return False

    def low(s: str) -> str:
        return "".join(c.lower() if c.isascii() else c for c in s)

    return low(text) in low(title)


def _raced(row: NewOutboxRow, written: dict[str, bool], lost: set[str]) -> bool:
    """A 'new' or 'change' alert whose history write another replica made first (it queued the alert)."""
    if row.notice_key is None or row.kind not in ("new", "change"):
        return False
    if row.notice_key in lost:
        return True
    return row.kind == "new" and row.notice_key in written and not written[row.notice_key]


async def _insert_outbox(
    conn: psycopg.AsyncConnection[Any], rows: Sequence[NewOutboxRow], now: float
) -> tuple[int, ...]:
    ids: list[int] = []
    for o in rows:
        cur = await conn.execute(
            PG.sql(Q.INSERT_OUTBOX), (o.route, o.kind, o.site, o.notice_key, _json(o.payload), now, now)
        )
        row = await cur.fetchone()
        assert row is not None
        ids.append(int(row["id"]))
    return tuple(ids)


async def _upsert_reminder(conn: psycopg.AsyncConnection[Any], r: ReminderRow) -> None:
    await conn.execute(PG.sql(Q.UPSERT_REMINDER), [getattr(r, c) for c in Q.REMINDER_COLUMNS])


async def _save_state(conn: psycopg.AsyncConnection[Any], s: SiteState) -> None:
    await conn.execute(PG.sql(Q.UPSERT_SITE_STATE), Q.site_state_params(s))


def _notice(r: dict[str, Any]) -> NoticeRow:
    return NoticeRow(
        key=r["key"],
        digest=r["digest"],
        site=r["site"],
        notice_id=r["notice_id"],
        title=r["title"],
        ticket=json.loads(r["ticket"]),
        first_seen=r["first_seen"],
        last_seen=r["last_seen"],
        pending_digest=r["pending_digest"],
        pending_ticket=_loads(r["pending_ticket"]),
        pending_cycles=r["pending_cycles"],
    )


def _outbox_row(r: dict[str, Any]) -> OutboxRow:
    return OutboxRow(**{**r, "payload": json.loads(r["payload"])})


def _tool(name: str, location: str) -> str:
    found = shutil.which(name)
    if found is None:
        versions = sorted(Path(p) for p in glob.glob(f"{PG_BIN_GLOB}/{name}"))
        found = str(versions[-1]) if versions else None
    if found is None:
        raise StoreError(t("pg.tool_missing", location=location, name=name))
    return found


def _run_tool(argv: list[str], env: dict[str, str], what: str, secrets: Sequence[str]) -> None:
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=3600, env={**os.environ, **env}, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StoreError(t("pg.tool_failed", what=what, error=f"{type(exc).__name__}: {exc}")) from None
    if proc.returncode != 0:
        text = " ".join((proc.stderr or proc.stdout).split())[:800]
        for secret in secrets:
            text = text.replace(secret, "****")
        tool = argv[0].rsplit("/", 1)[-1]
        raise StoreError(t("pg.tool_failed", what=what, error=f"{tool} exit {proc.returncode}: {text}"))


def _read_tail(read: NoticeRead) -> tuple[str | None, str | None, int, float | None]:
    return read.payload, read.error, read.failures, read.retry_at
