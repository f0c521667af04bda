"""Alerts and the notifiers that deliver them.

An ``Alert`` (``core.alert``: ``NewNotice | Changed | Reminder | OpsAlert | LegacyAlert | Digest``) is
what the outbox holds: what happened to which notice, with the site's display name and colour, so a notifier
renders it without knowing any site. Rendering happens at send time, by the route's notifier (Discord embeds,
plain text for the dry run); the batch limits are the notifier's too.

Outbox rows written by versions before Alerts held a Discord embed. The store's schema step 5 (SQLite
and PostgreSQL alike, ``migrations/0005_legacy_outbox_alerts.sql``) rewrote each one in place as an
``LegacyAlert`` that carries the embed, which the Discord notifier posts as it is (and the
stdout notifier prints). Nothing converts at read time: a payload without the ``alert`` key reaching
``Alert.from_json`` is not an Alert (the migration found no embed in it) and is refused.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, TextIO

from ticket_alarm import i18n
from ticket_alarm.clock import Clock
from ticket_alarm.config.routes import STDOUT_ROUTE
from ticket_alarm.core.alert import (
    ALERT_KINDS,
    ALERT_VERSION,
    EMBED_KINDS,
    Alert,
    AlertFormatError,
    AlertKind,
    AnyAlert,
    Changed,
    Digest,
    LegacyAlert,
    NewNotice,
    OpsAlert,
    Reminder,
)

__all__ = [
    "ALERT_KINDS",
    "ALERT_VERSION",
    "EMBED_KINDS",
    "STDOUT_ROUTE",
    "Alert",
    "AlertFormatError",
    "AlertKind",
    "AnyAlert",
    "Capabilities",
    "Changed",
    "Digest",
    "LegacyAlert",
    "NewNotice",
    "Notifier",
    "OpsAlert",
    "Outcome",
    "Reminder",
    "StdoutNotifier",
]


# --- notifiers ---------------------------------------------------------------------------

OutcomeKind = Literal["sent", "retry", "rate_limited", "dead", "broken", "gone"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a notifier's send went: ``sent``; ``retry`` (transient: back off the lane); ``rate_limited``
    (the notifier waits it out, not a failure); ``dead`` (this batch refused for good); ``broken``
    (the destination is gone: stop the lane until it answers again); ``gone`` (the message or thread
    an edit or a reply went to was deleted: the alert is posted afresh). ``thread_id``: the thread the
    message went to, where it went to one."""

    kind: OutcomeKind
    status: int | None = None
    message_id: str | None = None
    error: str = ""
    retry_after: float | None = None
    thread_id: str | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a notifier can do; routing, quiet hours, digests and the outbox ask this, never the class.

    ``edit``: a sent message can be edited in place; ``thread``: replies go in a thread of the first
    message; ``silent``: it can deliver without a notification; ``priority``: alerts carry a priority;
    ``max_batch``: alerts per send at most; ``max_chars``: characters per message at most."""

    edit: bool = False
    thread: bool = False
    silent: bool = False
    priority: bool = False
    max_batch: int = 1
    max_chars: int = 4096


class Notifier(Protocol):
    """Delivers the alerts of one lane (one destination of a route). The drainer (``delivery``) owns
    batching order, backoff, dead letters and broken lanes; the notifier owns rendering, batch limits
    and its rate limits."""

    route: str
    capabilities: Capabilities

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

    async def send(self, alerts: Sequence[Alert], *, silent: bool = False) -> Outcome:
        """Deliver ``alerts`` as one message (``silent``: without a notification, where it can)."""
        ...

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


class Editor(Protocol):
    """A notifier whose ``capabilities.edit`` is set: it rewrites a message it sent."""

    async def edit(
        self,
        message_id: str,
        alerts: Sequence[Alert],
        *,
        thread_id: str | None = None,
        changed_at: Sequence[float | None] = (),
    ) -> Outcome:
        """Rewrite message ``message_id`` (in ``thread_id``) to carry ``alerts``, each as it is now; a
        ``Changed`` one shows what it replaced and when (``changed_at``, per alert). ``gone``: there is
        no such message (or thread) any more."""
        ...


class StdoutNotifier:
    """The dry run: every alert printed as readable text, nothing sent anywhere."""

    fingerprint = None
    verb = "printed"
    # edit: a change of a printed notice is printed as an edit of it (the message id: a printed one's)
    capabilities = Capabilities(edit=True, max_batch=1_000_000, max_chars=1_000_000)

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

    async def send(self, alerts: Sequence[Alert], *, silent: bool = False) -> Outcome:
        out = self.out or sys.stdout
        now = self.clock.now()
        for alert in alerts:
            out.write(self.render(alert, now))
        out.flush()
        return Outcome("sent", message_id=f"printed-{uuid.uuid4().hex[:12]}")

    async def edit(
        self,
        message_id: str,
        alerts: Sequence[Alert],
        *,
        thread_id: str | None = None,
        changed_at: Sequence[float | None] = (),
    ) -> Outcome:
        """An edit printed as one: which printed message it rewrites, and the changed alerts as now."""
        out = self.out or sys.stdout
        now = self.clock.now()
        out.write(i18n.t("notify.stdout_edit", message=message_id) + "\n")
        for alert in alerts:
            if isinstance(alert, Changed):
                out.write(self.render(alert, now))
        out.flush()
        return Outcome("sent", message_id=message_id)

    async def probe(self) -> bool | None:
        return True

    def scrub(self, text: str) -> str:
        return text

    def describe(self) -> str:
        return i18n.t("notify.stdout")

    def broken_text(self, outcome: Outcome) -> str:  # pragma: no cover - stdout never breaks
        return f"stdout failed: {outcome.error}"
