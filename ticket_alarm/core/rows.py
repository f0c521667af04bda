"""The rows a crawl cycle decides (``core.decide``) and the store writes: plain frozen values.

They are defined here, below the store, so the pure decision core can build them without importing
the store; ``ticket_alarm.store.api`` re-exports them as part of its contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ReminderStatus = Literal["pending", "queued", "skipped", "cancelled"]
DigestEventKind = Literal["first", "pending", "confirmed", "reverted"]


@dataclass(frozen=True, slots=True)
class Seen:
    """What the store knows of a notice the crawl met again (the pipeline's diff input)."""

    key: str
    digest: str
    ticket: dict[str, Any]
    pending_digest: str | None = None  # a change seen but not confirmed yet
    pending_cycles: int = 0


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """A notice to insert (first seen) or overwrite (a confirmed change); ``ticket`` is Ticket.to_json()."""

    key: str
    digest: str
    site: str
    notice_id: str
    title: str
    ticket: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PendingChange:
    """Set (digest given) or clear (digest None) the unconfirmed change of a history row."""

    key: str
    digest: str | None
    ticket: dict[str, Any] | None
    cycles: int


@dataclass(frozen=True, slots=True)
class DigestEvent:
    """One line of the digest log (``explain`` shows them); the store stamps it with the cycle's time."""

    key: str
    event: str  # DigestEventKind: first | pending | confirmed | reverted
    digest: str
    ticket: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ReminderPlan:
    """Reminders wanted for a notice on a route: one per sale, the general sale at ``open_at`` and each
    presale of ``presales`` (name, time); a sale whose time is gone cancels its pending ones.

    The pipeline states the plan; ``ticket_alarm.core.reminders.plan_reminders`` (pure) turns it and
    the rows the store holds into the :class:`ReminderRow` writes a cycle commits.
    """

    notice_key: str
    site: str
    route: str
    offsets: tuple[int, ...]
    open_at: float | None
    presales: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class ReminderRow:
    """A reminder as stored, and as written: the store upserts on (notice_key, route, sale, offset_min).

    ``sale`` names the sale(s) it reminds of (``core.reminders.sale_names``): "" the general sale, else the
    names of the sales opening at ``open_at``. ``id`` is 0 for a row not stored yet; the store ignores it.
    """

    notice_key: str
    site: str
    route: str
    offset_min: int
    open_at: float
    due_at: float
    status: str  # ReminderStatus
    updated_at: float
    id: int = 0
    sale: str = ""


@dataclass(frozen=True, slots=True)
class NewOutboxRow:
    """A message to deliver. ``payload`` is an opaque JSON object: the store never looks inside."""

    route: str
    kind: str
    site: str
    notice_key: str | None
    payload: dict[str, Any]


def reminder_key(row: ReminderRow) -> tuple[str, str, str, int]:
    """The identity of a reminder row (what a write upserts on)."""
    return (row.notice_key, row.route, row.sale, row.offset_min)


@dataclass(frozen=True, slots=True)
class ShowLink:
    """A notice's place in a show (issue 23): ``show_key`` is the history key of the show's first
    notice (the notice's own key: a show of one); ``title_key`` its ``core.shows.show_title``, by which
    later notices of other sites find it. ``manual``: set by ``show merge``/``show split``, a correction
    no crawl undoes; ``apart_from``: the show a split took it out of (never joined to it again)."""

    notice_key: str
    show_key: str
    title_key: str
    manual: bool = False
    apart_from: str | None = None
