"""Alerts and the notifiers that deliver them.

An ``Alert`` is what the outbox holds: what happened (a new notice, a confirmed change, a reminder
before the open) to which notice, with the site's display name and colour, so a notifier renders it
without knowing any site. Rendering happens at send time, by the route's notifier (Discord embeds,
plain text for the dry run); the batch limits are the notifier's too.

Outbox rows written by versions before Alerts held a Discord embed. The store's schema step 5 (SQLite
and PostgreSQL alike, ``migrations/0005_legacy_outbox_alerts.sql``) rewrote each one in place as an
Alert of kind ``legacy`` that carries the embed, which the Discord notifier posts as it is (and the
stdout notifier prints). Nothing converts at read time: a payload without the ``alert`` key reaching
``Alert.from_json`` is not an Alert (the migration found no embed in it) and is refused.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TextIO

from ticket_alarm import i18n
from ticket_alarm.clock import Clock
from ticket_alarm.config.routes import STDOUT_ROUTE
from ticket_alarm.core.model import Ticket
from ticket_alarm.errors import TicketAlarmError

AlertKind = Literal["new", "change", "reminder", "legacy", "ops"]
ALERT_KINDS: tuple[AlertKind, ...] = ("new", "change", "reminder", "legacy", "ops")
EMBED_KINDS = ("legacy", "ops")  # Alerts that carry their embed: an older version's, an ops state change
ALERT_VERSION = 1  # the ``alert`` key of a payload: Alert-shaped (an old Discord-embed row had none)


class AlertFormatError(TicketAlarmError):
    """An outbox payload is not an Alert (delivery keeps its row as a dead letter)."""


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing to tell people. ``ticket`` is the notice as it reads now; ``before`` (change only) as
    it read at the last alert; ``offset_min`` (reminder only) how long before the open of ``sale``;
    ``embed`` (legacy only) the embed an older version rendered, (ops only) the daemon's ops message."""

    kind: AlertKind
    site_name: str
    color: int
    ticket: Ticket | None = None
    before: Ticket | None = None
    offset_min: int | None = None
    embed: dict[str, Any] | None = None
    sale: str = ""  # reminder only: the sale(s) it reminds of ("" the general sale; reminders.sale_names)

    def __post_init__(self) -> None:
        if self.kind not in ALERT_KINDS:
            raise AlertFormatError(i18n.t("alert.unknown_kind", kind=self.kind))
        if self.kind in EMBED_KINDS and not isinstance(self.embed, dict):
            raise AlertFormatError(i18n.t("alert.legacy_embed"))
        if self.kind not in EMBED_KINDS and self.ticket is None:
            raise AlertFormatError(i18n.t("alert.needs_ticket", kind=self.kind))
        if self.kind == "change" and self.before is None:
            raise AlertFormatError(i18n.t("alert.needs_before"))
        if self.kind == "reminder" and (self.offset_min is None or self.offset_min < 0):
            raise AlertFormatError(i18n.t("alert.needs_offset"))

    @property
    def title(self) -> str:
        if self.ticket is not None:
            return self.ticket.title
        return str((self.embed or {}).get("title", ""))

    @property
    def changes(self) -> list[str]:
        """A change alert's changed fields (``Ticket.changes_from``); empty for any other kind."""
        if self.kind != "change" or self.ticket is None or self.before is None:
            return []
        return self.ticket.changes_from(self.before)

    def to_json(self) -> dict[str, Any]:
        """The outbox payload. ``title`` is kept at the top, as the outbox listing reads it."""
        return {
            "alert": ALERT_VERSION,
            "kind": self.kind,
            "title": self.title,
            "site_name": self.site_name,
            "color": self.color,
            "ticket": self.ticket.to_json() if self.ticket else None,
            "before": self.before.to_json() if self.before else None,
            "offset_min": self.offset_min,
            "embed": self.embed,
            **({"sale": self.sale} if self.sale else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Alert:
        """An Alert from an outbox payload (``to_json``'s shape); ``AlertFormatError`` for anything else."""
        if not isinstance(data, dict):
            raise AlertFormatError(i18n.t("alert.not_object", kind=type(data).__name__))
        if "alert" not in data:
            raise AlertFormatError(i18n.t("alert.no_key"))
        if data.get("alert") != ALERT_VERSION:
            raise AlertFormatError(i18n.t("alert.version", version=data.get("alert"), expected=ALERT_VERSION))
        try:
            ticket = Ticket.from_json(data["ticket"]) if data.get("ticket") else None
            before = Ticket.from_json(data["before"]) if data.get("before") else None
            offset = data.get("offset_min")
            return cls(
                kind=data["kind"],
                site_name=str(data.get("site_name") or ""),
                color=int(data.get("color") or 0),
                ticket=ticket,
                before=before,
                offset_min=int(offset) if offset is not None else None,
                embed=data.get("embed"),
                sale=str(data.get("sale") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AlertFormatError(i18n.t("alert.unreadable", error=f"{type(exc).__name__}: {exc}")) from exc


# --- notifiers ---------------------------------------------------------------------------

OutcomeKind = Literal["sent", "retry", "rate_limited", "dead", "broken"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a notifier's send went: ``sent``; ``retry`` (transient: back off the lane); ``rate_limited``
    (the notifier waits it out, not a failure); ``dead`` (this batch refused for good); ``broken``
    (the destination is gone: stop the lane until it answers again)."""

    kind: OutcomeKind
    status: int | None = None
    message_id: str | None = None
    error: str = ""
    retry_after: float | None = None


class Notifier(Protocol):
    """Delivers the alerts of one route. The drainer (``delivery``) owns batching order, backoff,
    dead letters and broken lanes; the notifier owns rendering, batch limits and its rate limits."""

    route: str

    @property
    def fingerprint(self) -> str | None:
        """Identifies the destination (never a secret); a broken mark made for another one is stale.
        None: a destination that never breaks (stdout). Read-only, so a class fixing it to None fits."""
        ...

    # how the 알림 전송 line names a delivery: "sent" for a real destination, "printed" for stdout
    verb: str

    def fits(self, alerts: Sequence[Alert]) -> int:
        """How many of ``alerts`` (from the front, at least one) go in one send."""
        ...

    def wait(self) -> float:
        """Seconds the next ``send`` would wait for its rate limit (0: none)."""
        ...

    async def send(self, alerts: Sequence[Alert]) -> Outcome: ...

    async def probe(self) -> bool | None:
        """Whether a broken destination answers again (None: unreachable, ask later)."""
        ...

    def scrub(self, text: str) -> str:
        """``text`` without the destination's secrets (errors are logged and stored)."""
        ...

    def describe(self) -> str:
        """The destination in words for logs (masked)."""
        ...

    def broken_text(self, outcome: Outcome) -> str:
        """Why a broken destination takes no alert, and what to do."""
        ...


class StdoutNotifier:
    """The dry run: every alert printed as readable text, nothing sent anywhere."""

    fingerprint = None
    verb = "printed"

    def __init__(
        self,
        render: Callable[[Alert, datetime], str],
        clock: Clock,
        *,
        out: TextIO | None = None,
        route: str = STDOUT_ROUTE,
    ) -> None:
        self.render = render
        self.clock = clock
        self.out = out
        self.route = route

    def fits(self, alerts: Sequence[Alert]) -> int:
        return len(alerts)

    def wait(self) -> float:
        return 0.0

    async def send(self, alerts: Sequence[Alert]) -> Outcome:
        out = self.out or sys.stdout
        now = self.clock.now()
        for alert in alerts:
            out.write(self.render(alert, now))
        out.flush()
        return Outcome("sent")

    async def probe(self) -> bool | None:
        return True

    def scrub(self, text: str) -> str:
        return text

    def describe(self) -> str:
        return i18n.t("notify.stdout")

    def broken_text(self, outcome: Outcome) -> str:  # pragma: no cover - stdout never breaks
        return f"stdout failed: {outcome.error}"
