"""The PostgreSQL connection: the pool, connecting (and migrating) on first use, errors said as
StoreError/StoreUnavailable with the password scrubbed, the schema steps, and pg_dump/pg_restore.
:class:`ticket_alarm.store.postgres.engine.PostgresStore` adds the queries on top.

The password of the URL never leaves here: ``location`` is the masked URL, and a driver error is
re-raised as a :class:`StoreError` with every spelling of the password replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit, urlunsplit

import psycopg
import psycopg_pool
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from ticket_alarm.core.urls import mask_store_url, store_url_secrets
from ticket_alarm.errors import StoreError, StoreUnavailable
from ticket_alarm.i18n import has, t
from ticket_alarm.store.files import InstanceLock

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
    "shows",
    "posts",
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


class PgConnection:
    """The pool and the plumbing every PostgreSQL query goes through (no I/O until the first call)."""

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
    async def open(cls, url: str, **options: Any) -> Self:
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
        said = t(key) if has(key) else what
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

    # --- whole tables (store migrate, tests) ---------------------------------------------
    async def table_counts(self) -> dict[str, int]:
        return {t: int(await self._value(f"SELECT count(*) FROM {t}")) for t in TABLES}

    async def is_empty(self) -> bool:
        """No row in any table a store holds (``store migrate`` refuses anything else)."""
        if await self.schema_version() == 0:
            return True
        return not any((await self.table_counts()).values())


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
