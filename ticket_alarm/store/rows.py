"""The typed rows that cross the store's protocols (``ticket_alarm.store.api``): frozen dataclasses,
outbox payloads as opaque JSON objects, and the settlements of an outbox row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ticket_alarm.core.rows import (  # the rows the decision core makes; the store keeps them
    DigestEvent,
    HistoryRow,
    NewOutboxRow,
    PendingChange,
    ReminderRow,
    ShowLink,
)

OutboxStatus = Literal["pending", "sent", "dead"]

HEARTBEAT_META = "heartbeat"
HEARTBEAT_EVERY = 30.0  # seconds between two heartbeats of the daemon (health judges staleness by it)
STORM_META = "storm:{site}"  # meta key: the last renumbering storm held on a site (health shows it)
DEFAULT_RETENTION_DAYS = 90


# --- history ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoticeRow(HistoryRow):
    """One history row as stored (``explain``, reminders, ``send-test --sample``): what a cycle wrote
    (``HistoryRow``), when it was first and last seen, and the change it holds back, if any."""

    first_seen: float
    last_seen: float
    pending_digest: str | None = None
    pending_ticket: dict[str, Any] | None = None
    pending_cycles: int = 0


@dataclass(frozen=True, slots=True)
class DigestLogRow(DigestEvent):
    """A digest-log line as stored: its event, its row id and the cycle's time (``explain``)."""

    id: int
    at: float


@dataclass(frozen=True, slots=True)
class SiteHistory:
    """Per site: rows, the first and the newest first_seen, the latest last_seen (``history stats``)."""

    site: str
    n: int
    first_seen: float
    newest: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A history row or an imported legacy record whose title matched (``history search``)."""

    site: str
    notice_id: str
    title: str
    first_seen: float
    origin: str  # 'history' | 'imported'
    open_at: str | None = None
    open_date: str | None = None


@dataclass(frozen=True, slots=True)
class UpcomingRow:
    """A history row with a sale or open date on/after the asked day (``upcoming``, status page)."""

    site: str
    notice_id: str
    ticket: dict[str, Any]
    first_seen: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class LegacyKey:
    """One entry of the old script's history: an opaque hash, or a record with site and id."""

    key: str
    source: str  # 'hash' | 'record'
    site: str | None = None
    notice_id: str | None = None
    title: str | None = None
    seen_at: float | None = None


# --- reminders -------------------------------------------------------------------------------


DueReminder = ReminderRow
"""A pending reminder whose time has come (``due_reminders``): the stored row, id set."""


# --- outbox ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboxItem(NewOutboxRow):
    """A claimed (or pending) outbox row, ready to send: the message queued, its id and attempts so far."""

    id: int
    attempts: int
    created_at: float


@dataclass(frozen=True, slots=True)
class OutboxRow(OutboxItem):
    """One outbox row with its delivery record (``outbox list``, ``explain``, health)."""

    status: str  # OutboxStatus
    next_attempt_at: float
    last_error: str | None = None
    sent_at: float | None = None
    message_id: str | None = None
    lease_owner: str | None = None
    lease_until: float | None = None


@dataclass(frozen=True, slots=True)
class RecentAlert:
    """The newest outbox rows with their notice's title (status page); title None without a notice."""

    id: int
    route: str
    kind: str
    site: str
    status: str
    created_at: float
    sent_at: float | None
    attempts: int
    last_error: str | None
    title: str | None
    notice_id: str | None


@dataclass(frozen=True, slots=True)
class Post:
    """One alert a lane delivered in a message that can be edited (table ``posts``, schema step 9):
    the message (and thread) carrying it, its embed, its notice, and the alert (JSON) as it was sent.
    An edit of the message is a Post too, of the edit's own outbox row: the newest per embed is what
    the message shows."""

    route: str
    outbox_id: int
    message_id: str
    embed_index: int
    notice_key: str | None
    alert: dict[str, Any]
    thread_id: str | None = None
    posted_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Sent:
    """Settle: delivered. ``message_id`` is what the notifier returned (Discord message id), if any;
    ``posts`` are recorded in the same transaction (their ``posted_at`` is the settle's ``now``)."""

    message_id: str | None = None
    posts: tuple[Post, ...] = ()


@dataclass(frozen=True, slots=True)
class Retry:
    """Settle: try again at ``next_attempt_at``; ``count`` False for a retry that is not the row's fault."""

    error: str
    next_attempt_at: float
    count: bool = True


@dataclass(frozen=True, slots=True)
class Dead:
    """Settle: a dead letter (``outbox retry-dead`` queues it again)."""

    error: str


Settlement = Sent | Retry | Dead


@dataclass
class OutboxStats:
    pending: int = 0
    dead: int = 0
    sent: int = 0
    oldest_pending: float | None = None
    by_route: dict[str, int] = field(default_factory=dict)


# --- per-site state (mutable values the caller edits, then saves) ------------------------------
@dataclass
class SiteState:
    site: str
    initialized: bool = False
    last_attempt: float | None = None
    last_success: float | None = None
    last_failure: float | None = None
    failure_streak: int = 0
    last_error: str | None = None
    empty_streak: int = 0
    last_count: int | None = None
    last_invalid: int = 0
    locked_until: float | None = None


@dataclass
class HeadState:
    """A site's head polls (the newest page, registration order)."""

    site: str
    last_attempt: float | None = None
    last_success: float | None = None
    failure_streak: int = 0
    last_error: str | None = None
    last_new: int = 0  # never-seen notices the last successful head poll alerted
    paused_until: float | None = None  # a Retry-After longer than one request may wait
    sweeps_only: str | None = None  # set when the site (its current source) has no registration order

    @property
    def meta_key(self) -> str:
        return f"head:{self.site}"


# --- one crawl cycle --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Cycle:
    """Everything one crawl of one site writes, committed in ONE transaction by ``commit_cycle``.

    ``history``: rows to insert or overwrite (first seen: first_seen = last_seen = ``now``);
    ``touched``: keys met again (last_seen = ``now``); ``pending``: held changes set or cleared;
    ``events``: digest-log lines; ``reminders``: reminder rows to upsert (already planned);
    ``outbox``: messages to queue; ``legacy_matched``: legacy keys a crawl met for the first time
    (their matched_at becomes ``now``); ``state``: the site's state after the crawl; ``shows``: the
    show of each notice first seen (a notice already in a show keeps its show).
    """

    site: str
    now: float
    state: SiteState
    history: Sequence[HistoryRow] = ()
    touched: Sequence[str] = ()
    outbox: Sequence[NewOutboxRow] = ()
    pending: Sequence[PendingChange] = ()
    events: Sequence[DigestEvent] = ()
    reminders: Sequence[ReminderRow] = ()
    legacy_matched: Sequence[str] = ()
    shows: Sequence[ShowLink] = ()


@dataclass(frozen=True, slots=True)
class ShowNotice:
    """A notice of a show as stored: its link and its history row."""

    link: ShowLink
    notice: NoticeRow


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What ``commit_cycle`` wrote: the counts the pipeline logs, and the new outbox ids in order."""

    history_written: int
    touched: int
    outbox_ids: tuple[int, ...]
    events: int
    reminders: int
    legacy_matched: int


@dataclass(frozen=True, slots=True)
class PruneResult:
    """Rows removed by ``Maintenance.prune`` (older than the retention)."""

    outbox_sent: int = 0
    digest_log: int = 0
    http_cache: int = 0
    reminders: int = 0
    notice_reads: int = 0
    posts: int = 0  # messages' posts: a change after the retention posts anew instead of editing

    @property
    def total(self) -> int:
        return sum(getattr(self, f) for f in self.__dataclass_fields__)


ReminderIndex = Mapping[tuple[str, str, str, int], ReminderRow]
