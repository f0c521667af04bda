"""The async SQLite store: the sync engine (``engine.py``) behind ONE dedicated worker thread.

Every call runs on that thread (the connection never leaves it), so SQLite's busy wait (up to
10 s while another connection writes) and the fsyncs of a commit never block the event loop.
Calls are serialised in submission order: two coroutines never interleave inside a transaction.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ticket_alarm.core.notice_memo import NoticeRead
from ticket_alarm.errors import StoreError
from ticket_alarm.fetch.conditional import CachedResponse
from ticket_alarm.i18n import t
from ticket_alarm.store.api import (
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
from ticket_alarm.store.sqlite.connection import DB_NAME, SCHEMA_VERSION
from ticket_alarm.store.sqlite.engine import SqliteEngine

T = TypeVar("T")


class SqliteStore:
    """``api.Store`` on one SQLite file. Open with :meth:`open_dir` / :meth:`open_readonly`."""

    def __init__(self, opener: Callable[[], SqliteEngine], data_dir: Path, *, readonly: bool) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="store")
        try:
            self.engine: SqliteEngine = self._pool.submit(opener).result()
        except BaseException:
            self._pool.shutdown(wait=False)
            raise
        self.data_dir = data_dir
        self.path = self.engine.path
        self.location = str(self.engine.path)
        self.readonly = readonly
        self._closed = False

    @classmethod
    def open_dir(cls, data_dir: Path) -> SqliteStore:
        """Open (creating and migrating) ``data_dir``'s store for writing; takes no lease."""
        return cls(lambda: SqliteEngine.open_dir(data_dir), data_dir, readonly=False)

    @classmethod
    def open_file(cls, path: Path) -> SqliteStore:
        """Open (creating and migrating) one SQLite file for writing (tests, benchmarks)."""
        return cls(lambda: SqliteEngine(path), path.parent, readonly=False)

    @classmethod
    def open_readonly(cls, path: Path) -> SqliteStore:
        """An existing store, read only: no lease, no migration, no file created (health, history)."""
        return cls(lambda: SqliteEngine.open_readonly(path), path.parent, readonly=True)

    @classmethod
    def open_reader(cls, path: Path) -> SqliteStore:
        """A second, read-only store on a file this process writes through another SqliteStore (the
        status page and /metrics): WAL readers never wait for the writer, and its own worker thread
        keeps a page request's reads off the event loop."""
        return cls(lambda: SqliteEngine.open_reader(path), path.parent, readonly=True)

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            future = self._pool.submit(fn, *args, **kwargs)
        except RuntimeError:  # the worker was shut down: this store (or the engine under it) was closed
            raise StoreError(t("store.closed", location=self.location)) from None
        return await asyncio.wrap_future(future)

    def lease(self) -> InstanceLock:
        return InstanceLock(self.data_dir)

    async def close(self) -> None:
        """Close the file (a second close does nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._run(self.engine.close)
        finally:
            self._pool.shutdown(wait=True)

    def close_sync(self) -> None:
        """Close from synchronous code (no event loop running)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._pool.submit(self.engine.close).result()
        finally:
            self._pool.shutdown(wait=True)

    # --- history -----------------------------------------------------------------------------
    async def seen(self, keys: Iterable[str]) -> dict[str, Seen]:
        return await self._run(self.engine.seen, list(keys))

    async def commit_cycle(self, cycle: Cycle) -> CommitResult:
        return await self._run(self.engine.commit_cycle, cycle)

    async def notice(self, key: str) -> NoticeRow | None:
        return await self._run(self.engine.notice, key)

    async def notice_events(self, key: str) -> list[DigestLogRow]:
        return await self._run(self.engine.notice_events, key)

    async def known_contents(self, site: str) -> set[tuple[str, str | None]]:
        return await self._run(self.engine.known_contents, site)

    async def newest_notice(self, site: str) -> dict[str, Any] | None:
        return await self._run(self.engine.newest_notice, site)

    async def history_count(self, site: str | None = None) -> int:
        return await self._run(self.engine.history_count, site)

    async def history_by_site(self) -> list[SiteHistory]:
        return await self._run(self.engine.history_by_site)

    async def search_history(
        self, text: str, limit: int = 50, fold: Callable[[str], str] | None = None
    ) -> list[SearchHit]:
        return await self._run(self.engine.search_history, text, limit, fold)

    async def upcoming_rows(self, since_day: str) -> list[UpcomingRow]:
        return await self._run(self.engine.upcoming_rows, since_day)

    async def legacy_keys(self, keys: Iterable[str]) -> set[str]:
        return await self._run(self.engine.legacy_keys, list(keys))

    async def legacy_counts(self) -> tuple[int, int]:
        return await self._run(self.engine.legacy_counts)

    async def import_legacy(self, keys: Sequence[LegacyKey], now: float) -> tuple[int, int]:
        return await self._run(self.engine.import_legacy, keys, now)

    # --- reminders ---------------------------------------------------------------------------
    async def reminders(self, notice_keys: Iterable[str]) -> list[ReminderRow]:
        return await self._run(self.engine.reminders, list(notice_keys))

    async def due_reminders(self, now: float, limit: int = 200) -> list[DueReminder]:
        return await self._run(self.engine.due_reminders, now, limit)

    async def next_reminder_due(self) -> float | None:
        return await self._run(self.engine.next_reminder_due)

    async def settle_reminders(
        self, now: float, *, queued: Sequence[int], skipped: Sequence[int], outbox: Sequence[NewOutboxRow]
    ) -> tuple[int, ...]:
        return await self._run(
            self.engine.settle_reminders, now, queued=queued, skipped=skipped, outbox=outbox
        )

    # --- outbox ------------------------------------------------------------------------------
    async def enqueue(self, rows: Sequence[NewOutboxRow], now: float) -> tuple[int, ...]:
        return await self._run(self.engine.enqueue, rows, now)

    async def claim(
        self, route: str, now: float, *, owner: str, lease_seconds: float, limit: int = 50
    ) -> list[OutboxItem]:
        return await self._run(
            self.engine.claim, route, now, owner=owner, lease_seconds=lease_seconds, limit=limit
        )

    async def renew(self, ids: Sequence[int], now: float, *, owner: str, lease_seconds: float) -> int:
        return await self._run(self.engine.renew, list(ids), now, owner=owner, lease_seconds=lease_seconds)

    async def settle(self, ids: Sequence[int], outcome: Settlement, now: float) -> int:
        return await self._run(self.engine.settle, ids, outcome, now)

    async def next_due(self, route: str) -> float | None:
        return await self._run(self.engine.next_due, route)

    async def outbox_stats(self) -> OutboxStats:
        return await self._run(self.engine.outbox_stats)

    async def outbox_list(
        self, *, status: str | None = None, route: str | None = None, since: float | None = None
    ) -> list[OutboxRow]:
        return await self._run(self.engine.outbox_list, status=status, route=route, since=since)

    async def notice_outbox(self, key: str) -> list[OutboxRow]:
        return await self._run(self.engine.notice_outbox, key)

    async def recent_alerts(self, limit: int = 20) -> list[RecentAlert]:
        return await self._run(self.engine.recent_alerts, limit)

    async def retry_dead(self, *, route: str | None, since: float | None, now: float) -> int:
        return await self._run(self.engine.retry_dead, route=route, since=since, now=now)

    # --- site state --------------------------------------------------------------------------
    async def site_state(self, site: str) -> SiteState:
        return await self._run(self.engine.site_state, site)

    async def all_site_states(self) -> list[SiteState]:
        return await self._run(self.engine.all_site_states)

    async def save_site_state(self, state: SiteState) -> None:
        await self._run(self.engine.save_site_state, state)

    async def head_state(self, site: str) -> HeadState:
        return await self._run(self.engine.head_state, site)

    async def save_head_state(self, state: HeadState) -> None:
        await self._run(self.engine.save_head_state, state)

    # --- webhooks, meta, HTTP cache ------------------------------------------------------------
    async def mark_webhook_broken(
        self, route: str, reason: str, now: float, fingerprint: str | None = None
    ) -> None:
        await self._run(self.engine.mark_webhook_broken, route, reason, now, fingerprint)

    async def clear_webhook_broken(self, route: str) -> None:
        await self._run(self.engine.clear_webhook_broken, route)

    async def broken_webhooks(self) -> dict[str, str]:
        return await self._run(self.engine.broken_webhooks)

    async def broken_webhook_fingerprints(self) -> dict[str, str]:
        return await self._run(self.engine.broken_webhook_fingerprints)

    async def get_meta(self, key: str) -> str | None:
        return await self._run(self.engine.get_meta, key)

    async def set_meta(self, key: str, value: str) -> None:
        await self._run(self.engine.set_meta, key, value)

    async def heartbeat(self, now: float) -> None:
        await self._run(self.engine.heartbeat, now)

    async def last_heartbeat(self) -> float | None:
        return await self._run(self.engine.last_heartbeat)

    async def cached_response(self, key: str) -> CachedResponse | None:
        return await self._run(self.engine.cached_response, key)

    async def remember_response(
        self, key: str, etag: str | None, last_modified: str | None, body: bytes, now: float
    ) -> None:
        await self._run(self.engine.remember_response, key, etag, last_modified, body, now)

    async def notice_reads(self, site: str, ids: Sequence[str]) -> dict[str, NoticeRead]:
        return await self._run(self.engine.notice_reads, site, list(ids))

    async def save_notice_reads(self, site: str, reads: Sequence[NoticeRead], now: float) -> None:
        await self._run(self.engine.save_notice_reads, site, list(reads), now)

    # --- maintenance ---------------------------------------------------------------------------
    async def migrate(self) -> int:
        return await self._run(self.engine.schema_version)  # opening migrated it already

    async def schema_version(self) -> int:
        return await self._run(self.engine.schema_version)

    async def check(self) -> bool:
        return await self._run(self.engine.integrity_ok)

    async def backup(self, dest: Path) -> None:
        await self._run(self.engine.backup_to, dest)

    async def restore(self, src: Path) -> None:
        await self._run(self.engine.restore_from, src)

    async def prune(self, now: float, retention_days: float) -> PruneResult:
        return await self._run(self.engine.prune, now, retention_days)


__all__ = ["DB_NAME", "SCHEMA_VERSION", "SqliteStore"]
