"""When a route's alert goes out: quiet hours and digests as pure functions of the route, the alert and
a time (no I/O, no clock of its own: callers pass the time, tests pass tables).

- ``quiet_window(q, at)``: the quiet window ``at`` falls in, if any (KST unless ``tz``; a window may
  cross midnight; ``days`` are the days a window STARTS on).
- ``urgent(q, alert, at, window_end)``: what passes a window at once: a reminder, and an alert whose
  open time or any presale falls inside the window or within ``urgent_within`` of ``at``.
- ``hold(route, alert, created_at)``: whether an alert waits, why ("quiet" or "digest") and until
  when. It is a function of the row's creation time, so the drainer tells a held row from any other
  after a restart without a mark of its own: the hold lives in the row's next-attempt time.
- ``silent(route, alerts, at)``: ``mode: "silent"``: delivered at once, without a notification.
- ``period_start``/``next_period``: the digest boundaries (``at`` every day, or on ``weekday``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from ticket_alarm.config.routes import DigestSettings, QuietHours, RouteSettings, hhmm, span_seconds
from ticket_alarm.core.alert import Alert, Changed, NewNotice, Reminder

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HoldReason = Literal["quiet", "digest"]


@dataclass(frozen=True, slots=True)
class Hold:
    """An alert waits in the outbox for ``reason`` until ``until`` (a timestamp)."""

    reason: HoldReason
    until: float


def _at(day: date, clock: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz)


def quiet_window(q: QuietHours, at: datetime) -> tuple[datetime, datetime] | None:
    """The window (start, end) that ``at`` falls in, or None."""
    tz = ZoneInfo(q.tz)
    local = at.astimezone(tz)
    start, end = hhmm(q.start), hhmm(q.end)
    for day in (local.date() - timedelta(days=1), local.date()):
        if q.days is not None and WEEKDAYS[day.weekday()] not in q.days:
            continue
        opens = _at(day, start, tz)
        closes = _at(day + timedelta(days=1) if end <= start else day, end, tz)
        if opens <= local < closes:
            return opens, closes
    return None


def alert_times(alert: Alert) -> list[datetime]:
    """The open time and the presale times an alert's notice announces."""
    ticket = getattr(alert, "ticket", None)
    if ticket is None:
        return []
    return [t for t in (ticket.open_at, *(p.at for p in ticket.presales)) if t is not None]


def urgent(q: QuietHours, alert: Alert, at: datetime, window: tuple[datetime, datetime]) -> bool:
    """A reminder, or an open or presale inside the window or within ``urgent_within`` of ``at``."""
    if isinstance(alert, Reminder):
        return True
    soon = at + timedelta(seconds=span_seconds(q.urgent_within))
    return any(window[0] <= t < window[1] or at <= t <= soon for t in alert_times(alert))


def period_start(d: DigestSettings, at: datetime) -> datetime:
    """The latest digest boundary at or before ``at``."""
    tz = ZoneInfo(d.tz)
    local = at.astimezone(tz)
    boundary = _at(local.date(), hhmm(d.at), tz)
    if d.every == "week":
        boundary -= timedelta(days=(local.weekday() - WEEKDAYS.index(d.weekday)) % 7)
    if boundary > local:
        boundary -= timedelta(days=7 if d.every == "week" else 1)
    return boundary


def next_period(d: DigestSettings, at: datetime) -> datetime:
    """The first digest boundary after ``at``."""
    start = period_start(d, at)
    step = timedelta(days=7 if d.every == "week" else 1)
    return _at(start.date() + step, start.timetz().replace(tzinfo=None), ZoneInfo(d.tz))


def hold(route: RouteSettings, alert: Alert, created_at: float) -> Hold | None:
    """Whether an alert created at ``created_at`` waits (a digest route: until its next period; quiet
    hours in "hold" mode: until the window ends unless it is urgent); reminders never wait."""
    if not isinstance(alert, NewNotice | Changed):  # reminders, ops and legacy rows never wait
        return None
    at = datetime.fromtimestamp(created_at, UTC)
    if route.digest is not None:
        return Hold("digest", next_period(route.digest, at).timestamp())
    q = route.quiet_hours
    if q is None or q.mode != "hold":
        return None
    window = quiet_window(q, at)
    if window is None or urgent(q, alert, at, window):
        return None
    return Hold("quiet", window[1].timestamp())


def silent(route: RouteSettings | None, alerts: Sequence[Alert], at: datetime) -> bool:
    """``mode: "silent"`` in its window: the batch goes without a notification unless one is urgent."""
    q = route.quiet_hours if route is not None else None
    if q is None or q.mode != "silent" or not alerts:
        return False
    window = quiet_window(q, at)
    return window is not None and not any(urgent(q, a, at, window) for a in alerts)
