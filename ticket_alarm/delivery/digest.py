"""A ``Digest`` as plain-text lines, in the layout a Korean fan reads: the heading ("이번 주 티켓 오픈",
"오늘의 티켓 오픈", or what a quiet window held), the new notices and the changes of the period, then the
opens of the next 7 days grouped by day (``12/24 (목)``, each line ``20:00 제목``).

Every notifier renders a digest from these lines: plain text as they are (ntfy, the dry run), and
markup by passing ``esc`` (Discord's markdown escape, Telegram's ``html.escape``) and ``link``
(a title as a link) so scraped strings are escaped where the markup needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from ticket_alarm.core.alert import Changed, Digest, NewNotice, Reminder
from ticket_alarm.core.model import SEOUL, Ticket

WEEKDAYS_KO = "월화수목금토일"
UPCOMING_DAYS = 7
MAX_UPCOMING = 20  # more opens than this end in "외 N건": a digest stays one message where it can
CHANGE_LABELS = {
    "title": "제목",
    "open_at": "티켓 오픈",
    "presales": "선예매",
    "venue": "장소",
    "category": "구분",
}

Escape = Callable[[str], str]
Link = Callable[[str, str], str]


def day_text(at: datetime) -> str:
    """``12/24 (목)`` in KST."""
    local = at.astimezone(SEOUL)
    return f"{local.month}/{local.day} ({WEEKDAYS_KO[local.weekday()]})"


def when_text(at: datetime | None) -> str:
    """``12/24 (목) 20:00`` in KST, or ``추후 공지``."""
    return "추후 공지" if at is None else f"{day_text(at)} {at.astimezone(SEOUL):%H:%M}"


def _plain(text: str, url: str) -> str:
    return text


def _title(ticket: Ticket, esc: Escape, link: Link) -> str:
    return link(esc(ticket.title), ticket.url) if ticket.url else esc(ticket.title)


def _item(alert: NewNotice | Changed | Reminder, esc: Escape, link: Link) -> str:
    head = f"• {esc(alert.site_name)} | {_title(alert.ticket, esc, link)}"
    if isinstance(alert, Changed):
        changed = ", ".join(CHANGE_LABELS.get(name, name) for name in alert.changes)
        return f"{head} — {changed or '내용'} 변경 (오픈 {when_text(alert.ticket.open_at)})"
    return f"{head} — 오픈 {when_text(alert.ticket.open_at)}"


def opens(tickets: tuple[Ticket, ...], now: datetime) -> list[tuple[datetime, Ticket, str]]:
    """Each open and presale of ``tickets`` in the next 7 days, soonest first: (time, ticket, sale)."""
    end = now + timedelta(days=UPCOMING_DAYS)
    out = [(t.open_at, t, "") for t in tickets if t.open_at is not None and now <= t.open_at < end]
    out += [(p.at, t, p.name) for t in tickets for p in t.presales if p.at is not None and now <= p.at < end]
    return sorted(out, key=lambda entry: (entry[0], entry[1].title))


def digest_lines(
    digest: Digest, now: datetime, *, esc: Escape = str, link: Link = _plain, heading: bool = True
) -> list[str]:
    """The digest as lines (``heading`` False: without its title line, for a notifier with a title)."""
    lines = [f"📅 {digest.title}"] if heading else []
    news = [a for a in digest.items if not isinstance(a, Changed)]
    changes = [a for a in digest.items if isinstance(a, Changed)]
    for label, group in (("새 공지", news), ("변경", changes)):
        if group:
            lines += ["", f"[{label} {len(group)}건]", *(_item(a, esc, link) for a in group)]
    coming = opens(digest.upcoming, now)
    if coming:
        lines += ["", f"[{UPCOMING_DAYS}일 안에 열리는 예매 {len(coming)}건]"]
        day = ""
        for at, ticket, sale in coming[:MAX_UPCOMING]:
            if day_text(at) != day:
                day = day_text(at)
                lines.append(day)
            sale_text = f" · {esc(sale)}" if sale else ""
            lines.append(f"• {at.astimezone(SEOUL):%H:%M} {_title(ticket, esc, link)}{sale_text}")
        if len(coming) > MAX_UPCOMING:
            lines.append(f"… 외 {len(coming) - MAX_UPCOMING}건")
    return lines
