"""The store's contract: async protocols and the typed rows that cross them.

Every backend (``memory``, ``sqlite``, a server database later) implements :class:`Store` and
passes ``tests/contract/store_contract.py`` unchanged. Nothing here knows SQL: rows are frozen dataclasses,
outbox payloads are opaque JSON objects (``dict``) the store keeps byte-for-byte and never reads,
and the business rules (what is a change, when a reminder is due, which notices were announced by
the old script) live in the pipeline and ``ticket_alarm.daemon.reminders``; the store only applies the
writes they decided, in one transaction per call.

Errors: every method raises :class:`ticket_alarm.errors.StoreError` (never a driver exception)
when the backend cannot read or write; the message names the store location and what to do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ticket_alarm.core.notice_memo import NoticeRead
from ticket_alarm.core.rows import (
    DigestEvent,
    DigestEventKind,
    HistoryRow,
    NewOutboxRow,
    PendingChange,
    ReminderPlan,
    ReminderRow,
    ReminderStatus,
    Seen,
    ShowLink,
    reminder_key,
)
from ticket_alarm.fetch.conditional import CachedResponse
from ticket_alarm.store.rows import (  # noqa: F401
    DEFAULT_RETENTION_DAYS,
    HEARTBEAT_META,
    CommitResult,
    Cycle,
    Dead,
    DigestLogRow,
    DueReminder,
    HeadState,
    LegacyKey,
    NoticeRow,
    OutboxItem,
    OutboxRow,
    OutboxStats,
    OutboxStatus,
    Post,
    PruneResult,
    RecentAlert,
    ReminderIndex,
    Retry,
    SearchHit,
    Sent,
    Settlement,
    ShowNotice,
    SiteHistory,
    SiteState,
    UpcomingRow,
)

__all__ = [
    "CachedResponse",
    "CommitResult",
    "Cycle",
    "Dead",
    "DigestEvent",
    "DigestEventKind",
    "DigestLogRow",
    "DueReminder",
    "HeadState",
    "HistoryRow",
    "HistoryStore",
    "HttpCacheStore",
    "Lease",
    "LegacyKey",
    "Maintenance",
    "MetaStore",
    "NewOutboxRow",
    "NoticeRead",
    "NoticeReadStore",
    "NoticeRow",
    "OutboxItem",
    "OutboxRow",
    "OutboxStats",
    "OutboxStore",
    "PendingChange",
    "Post",
    "PruneResult",
    "RecentAlert",
    "ReminderPlan",
    "ReminderRow",
    "ReminderStatus",
    "ReminderStore",
    "Retry",
    "SearchHit",
    "Seen",
    "Sent",
    "Settlement",
    "ShowLink",
    "ShowNotice",
    "ShowStore",
    "SiteHistory",
    "SiteState",
    "SiteStateStore",
    "Store",
    "UpcomingRow",
    "WebhookStore",
    "reminder_key",
]


# --- protocols --------------------------------------------------------------------------------
@runtime_checkable
class HistoryStore(Protocol):
    async def seen(self, keys: Iterable[str]) -> dict[str, Seen]:
        """The stored digest (and held change) of each of ``keys`` that is in history."""
        ...

    async def commit_cycle(self, cycle: Cycle) -> CommitResult:
        """Write one crawl's result in ONE transaction (see :class:`Cycle`); all or nothing."""
        ...

    async def notice(self, key: str) -> NoticeRow | None: ...

    async def notice_events(self, key: str) -> list[DigestLogRow]:
        """The digest log of one notice, oldest first."""
        ...

    async def known_contents(self, site: str) -> set[tuple[str, str | None]]:
        """(title, ticket open_at ISO or None) of every notice in a site's history (the storm check)."""
        ...

    async def newest_notice(self, site: str) -> dict[str, Any] | None:
        """The ticket JSON of the notice of ``site`` first seen most recently (``send-test --sample``)."""
        ...

    async def history_count(self, site: str | None = None) -> int: ...

    async def history_by_site(self) -> list[SiteHistory]:
        """Per-site summaries, ordered by site."""
        ...

    async def search_history(
        self, text: str, limit: int = 50, fold: Callable[[str], str] | None = None
    ) -> list[SearchHit]:
        """History rows and imported legacy records (not also in history) whose title contains ``text``.

        Newest first (first_seen; a legacy record's seen_at, else imported_at), then site, notice_id.
        With ``fold`` (e.g. routing.normalise) title and text are compared folded; without it,
        case-insensitively for ASCII (SQL ``LIKE``), literally for ``%`` and ``_``.
        """
        ...

    async def upcoming_rows(self, since_day: str) -> list[UpcomingRow]:
        """Rows whose ticket open_at, open_date or any presales[].at starts with a day >= ``since_day``.

        The day compares with the leading YYYY-MM-DD of the stored ISO strings; callers pass a
        day earlier than wanted (a margin for UTC offsets) and filter exact times themselves.
        """
        ...

    async def legacy_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` were imported from the old script (announced already: never 'new')."""
        ...

    async def legacy_counts(self) -> tuple[int, int]:
        """(imported legacy keys, of which a crawl has met since)."""
        ...

    async def import_legacy(self, keys: Sequence[LegacyKey], now: float) -> tuple[int, int]:
        """One transaction: store legacy keys not in history. (added, already known)."""
        ...


@runtime_checkable
class ShowStore(Protocol):
    """Notices grouped into shows across sites (issue 23); identity stays the notice's."""

    async def show_links(self, keys: Iterable[str]) -> dict[str, ShowLink]:
        """The stored link of each of ``keys`` that has one (older notices may have none: alone)."""
        ...

    async def show_candidates(self, title_key: str, since: float) -> list[ShowNotice]:
        """Notices with this ``title_key`` first seen at or after ``since``, oldest first."""
        ...

    async def show_notices(self, show_key: str) -> list[ShowNotice]:
        """The notices linked to the show ``show_key``, first seen first (then site, notice_id)."""
        ...

    async def unlinked_notices(self, since: float) -> list[NoticeRow]:
        """History rows first seen at or after ``since`` with no show link (recorded before shows
        existed), first seen first (then site, notice_id)."""
        ...

    async def save_show_links(self, links: Sequence[ShowLink], now: float, *, replace: bool = True) -> None:
        """One transaction: set (insert or replace) these links (``show merge``/``show split``); with
        ``replace`` False a notice linked already keeps its link (``daemon.shows.backfill``)."""
        ...


@runtime_checkable
class ReminderStore(Protocol):
    async def reminders(self, notice_keys: Iterable[str]) -> list[ReminderRow]:
        """Every stored reminder of these notices (any status), by notice_key, route, offset_min DESC."""
        ...

    async def due_reminders(self, now: float, limit: int = 200) -> list[DueReminder]:
        """Pending reminders with due_at <= now, by due_at then id."""
        ...

    async def next_reminder_due(self) -> float | None:
        """The earliest due_at of a pending reminder, None when none is pending."""
        ...

    async def settle_reminders(
        self,
        now: float,
        *,
        queued: Sequence[int],
        skipped: Sequence[int],
        outbox: Sequence[NewOutboxRow],
    ) -> tuple[int, ...]:
        """One transaction: queue the reminder messages, mark rows queued/skipped; the new outbox ids."""
        ...


@runtime_checkable
class OutboxStore(Protocol):
    async def enqueue(self, rows: Sequence[NewOutboxRow], now: float) -> tuple[int, ...]:
        """Queue messages (pending, due ``now``); their ids in order."""
        ...

    async def claim(
        self, route: str, now: float, *, owner: str, lease_seconds: float, limit: int = 50
    ) -> list[OutboxItem]:
        """Take up to ``limit`` due pending rows of ``route`` (oldest id first) for ``owner``.

        A claimed row is leased to ``owner`` until ``now + lease_seconds``: no claim by another
        owner (from this or another process) returns it before that, unless it is settled. A lease
        that expired (its holder died) lets the row be claimed again; ``owner`` itself may claim its
        own leased rows again at once (rows of a batch it did not send, a restart of the same
        lane). Atomic: two concurrent claims by different owners never return the same row.
        """
        ...

    async def renew(self, ids: Sequence[int], now: float, *, owner: str, lease_seconds: float) -> int:
        """Extend ``owner``'s lease on claimed rows to ``now + lease_seconds`` (a send still in flight);
        how many it still holds. Only rows still pending and leased to ``owner`` are renewed: a row
        settled meanwhile, or claimed by another owner after the lease lapsed, is left as it is."""
        ...

    async def settle(self, ids: Sequence[int], outcome: Settlement, now: float) -> int:
        """Record a delivery outcome for rows (and release their lease); the number of rows changed.

        ``Sent``: status sent, sent_at ``now``, last_error cleared (only rows still pending); its
        ``posts`` written (replacing those of the same route and outbox id) in the same transaction.
        ``Retry``: attempts += 1 (unless ``count`` is False), last_error, next_attempt_at.
        ``Dead``: status dead, attempts += 1, last_error.
        Errors are stored truncated (Retry 2,000, Dead 4,000 characters).
        """
        ...

    async def next_due(self, route: str) -> float | None:
        """The earliest next_attempt_at of a pending row of ``route`` (leases not considered)."""
        ...

    async def posts(
        self,
        route: str,
        *,
        notice_keys: Iterable[str] = (),
        message_ids: Iterable[str] = (),
        outbox_ids: Iterable[int] = (),
        since: float | None = None,
    ) -> list[Post]:
        """The posts of ``route`` of any of those notices, messages or outbox rows, or posted at or
        after ``since``, by outbox id."""
        ...

    async def outbox_stats(self) -> OutboxStats: ...

    async def outbox_list(
        self, *, status: str | None = None, route: str | None = None, since: float | None = None
    ) -> list[OutboxRow]:
        """Rows (filtered: status, route, created_at >= since), oldest first."""
        ...

    async def notice_outbox(self, key: str) -> list[OutboxRow]:
        """The outbox rows of one notice, oldest first."""
        ...

    async def recent_alerts(self, limit: int = 20) -> list[RecentAlert]:
        """The newest outbox rows, newest first."""
        ...

    async def retry_dead(self, *, route: str | None, since: float | None, now: float) -> int:
        """Queue dead letters again: pending, due ``now``, attempts reset; how many."""
        ...


@runtime_checkable
class SiteStateStore(Protocol):
    async def site_state(self, site: str) -> SiteState:
        """The stored state, or a fresh ``SiteState(site)``."""
        ...

    async def all_site_states(self) -> list[SiteState]:
        """Every stored site state, ordered by site."""
        ...

    async def save_site_state(self, state: SiteState) -> None: ...

    async def head_state(self, site: str) -> HeadState:
        """The stored head-poll state, or a fresh ``HeadState(site)`` (also when unreadable)."""
        ...

    async def save_head_state(self, state: HeadState) -> None: ...


@runtime_checkable
class WebhookStore(Protocol):
    async def mark_webhook_broken(
        self, route: str, reason: str, now: float, fingerprint: str | None = None
    ) -> None:
        """A route's webhook refused for good; ``fingerprint`` of its URL lets a changed URL clear it."""
        ...

    async def clear_webhook_broken(self, route: str) -> None: ...

    async def broken_webhooks(self) -> dict[str, str]:
        """Route → reason."""
        ...

    async def broken_webhook_fingerprints(self) -> dict[str, str]:
        """Route → fingerprint of the URL marked broken (marks written without one: absent)."""
        ...


@runtime_checkable
class MetaStore(Protocol):
    """Small named values: the heartbeat, storm records (``storm:<site>``)."""

    async def get_meta(self, key: str) -> str | None: ...

    async def set_meta(self, key: str, value: str) -> None: ...

    async def heartbeat(self, now: float) -> None:
        """The daemon is alive at ``now`` (health reads it with ``last_heartbeat``)."""
        ...

    async def last_heartbeat(self) -> float | None: ...


@runtime_checkable
class HttpCacheStore(Protocol):
    """Validators and bodies of conditional GETs (``http.ResponseCache``)."""

    async def cached_response(self, key: str) -> CachedResponse | None: ...

    async def remember_response(
        self, key: str, etag: str | None, last_modified: str | None, body: bytes, now: float
    ) -> None: ...


@runtime_checkable
class NoticeReadStore(Protocol):
    """Notices' second pages as read (or failed) per list-row fingerprint (``notice_memo.NoticeMemo``)."""

    async def notice_reads(self, site: str, ids: Sequence[str]) -> dict[str, NoticeRead]:
        """The kept reads of these notice ids of ``site`` (absent: never read, or pruned)."""
        ...

    async def save_notice_reads(self, site: str, reads: Sequence[NoticeRead], now: float) -> None:
        """Replace the kept read of each notice in ``reads`` (stored at ``now``)."""
        ...


@runtime_checkable
class Maintenance(Protocol):
    async def migrate(self) -> int:
        """Bring the schema to the newest version (idempotent); the version now."""
        ...

    async def schema_version(self) -> int: ...

    async def check(self) -> bool:
        """A full integrity check of the stored data."""
        ...

    async def backup(self, dest: Path) -> None:
        """A consistent copy at ``dest`` (writers may go on meanwhile); ``restore`` reads it back."""
        ...

    async def restore(self, src: Path) -> None:
        """Replace every row with those of a ``backup`` copy (only with the Lease held by the caller)."""
        ...

    async def prune(self, now: float, retention_days: float) -> PruneResult:
        """Remove sent outbox rows (sent_at), digest-log lines (at) and HTTP-cache entries (stored_at)
        older than ``retention_days``, reminders settled that long ago, and kept notice-page reads
        stored that long ago of notices no crawl has listed since (history's last_seen).

        History rows are never pruned (they are what keeps a notice from being alerted twice),
        nor pending or dead outbox rows, nor the digest log of a notice with a held change.
        """
        ...


@runtime_checkable
class Lease(Protocol):
    """The single-instance guarantee: at most one daemon writes a store.

    Taken on the store itself (SQLite: an flock on the data_dir's inode, so deleting a file in
    it can never let a second daemon in); released when the holder exits or dies.
    """

    def acquire(self) -> None:
        """Take the lease or raise ``StoreLockedError`` naming the holder (``StoreError`` if impossible)."""
        ...

    def release(self) -> None: ...


@runtime_checkable
class Store(
    HistoryStore,
    ShowStore,
    ReminderStore,
    OutboxStore,
    SiteStateStore,
    WebhookStore,
    MetaStore,
    HttpCacheStore,
    NoticeReadStore,
    Maintenance,
    Protocol,
):
    """The whole store one backend provides. ``location`` is what logs and errors name."""

    location: str
    readonly: bool

    def lease(self) -> Lease:
        """The single-instance lease of this store (not taken yet)."""
        ...

    async def close(self) -> None: ...
