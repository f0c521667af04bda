"""Interpark's notice page (``/contents/notice/detail/{id}``): the sale dates of one notice.

A Next.js page whose ``<script id="__NEXT_DATA__">`` JSON holds ``ticketDates`` (``openName``,
``openDateStr``) somewhere (its place changed between builds: it is searched anywhere, with the raw
``"ticketDates": [...]`` up to ``"relatedNotices"`` as fallback). ``일반예매`` is the general sale;
every other entry a presale under its own name. Pure functions; the crawler fetches.
"""

from __future__ import annotations

import html
import json
import re
from datetime import date, datetime

from crawlers.base import (  # noqa: F401 - row_fingerprint: this module's name for it
    Schedule,
    changed_hint,
    html_instead,
    looks_like_html,
    row_fingerprint,
    when_from,
)
from ticket_alarm.core.model import Presale, Ticket, clean_text
from ticket_alarm.errors import ParseError
from ticket_alarm.fetch.decode import decode_text
from ticket_alarm.i18n import t

SITE = "interpark"
_DATE = re.compile(
    r"^\s*(\d{4})[-./](\d{1,2})[-./](\d{1,2})\.?"
    r"(?:(?:\s+|T|\s*\([^)]*\)\s*)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
)
_NEXT_DATA = re.compile(r'<script[^>]*id="__NEXT_DATA__"[^>]*>(.*?)</script>', re.S | re.I)
# other programs' fallback: the array itself, up to the next known key
_TICKET_DATES = re.compile(
    r'"ticketDates"\s*:\s*(\[.*?\])\s*,\s*"(?:relatedNotices|recommendedNotices)"', re.S
)


def parse_open(text: str, *, general_later: object = False) -> tuple[datetime | None, date | None]:
    """``openDateStr`` → (open_at, open_date). TBA (``isGeneralLater``, empty, unreadable) → (None, None);
    a date without a time → (None, that date)."""
    if general_later is True:
        return None, None
    return when_from(_DATE.match(text))


def needs_notice_page(ticket: Ticket) -> bool:
    """Rows whose other sale dates are only on the notice page (several dates, or a 토핑 presale)."""
    return bool(ticket.id) and ("multiple_dates" in ticket.extra or "toping" in ticket.extra)


def parse_notice_page(body: bytes | str, url: str = "") -> Schedule | None:
    """A saved notice page's schedule (``test-crawlers --file``); ``None`` when it is no notice page."""
    text = decode_text(body)
    if "__NEXT_DATA__" not in text[:200_000] and '"ticketDates"' not in text:
        return None
    return parse_detail(text, url)


def parse_detail(body: bytes | str, url: str = "") -> Schedule:
    """The sale dates of a notice page: ``__NEXT_DATA__`` → ``ticketDates[]`` (found anywhere in it).

    ``일반예매`` is the general sale (the open time); every other entry is a presale under its own
    name. Raises ``ParseError`` when the page holds no ``ticketDates``.
    """
    where = url or "the notice page"
    text = decode_text(body)
    dates: object = None
    match = _NEXT_DATA.search(text)
    if match:
        try:
            dates = _find_key(json.loads(html.unescape(match[1]) if "&quot;" in match[1] else match[1]))
        except (ValueError, RecursionError):
            dates = None
    if dates is None:
        fallback = _TICKET_DATES.search(text)
        if fallback:
            try:
                dates = json.loads(fallback[1])
            except (ValueError, RecursionError):
                dates = None
    if not isinstance(dates, list):
        if looks_like_html(text) and not match:
            raise html_instead(SITE, text, where, t("interpark.next_data"))
        raise ParseError(SITE, t("interpark.no_dates", where=where), hint=changed_hint())
    open_at: datetime | None = None
    open_date: date | None = None
    presales: list[Presale] = []
    for entry in dates:
        if not isinstance(entry, dict):
            continue
        name = clean_text(_str(entry.get("openName")))
        at, day = parse_open(_str(entry.get("openDateStr")))
        if any(g in name.replace(" ", "") for g in ("일반예매", "일반판매")) and "선예매" not in name:
            if open_at is None and open_date is None:
                open_at, open_date = at, day
            continue
        presale = Presale(name or "선예매", at)
        if presale not in presales:
            presales.append(presale)
    return Schedule(open_at, open_date, tuple(presales))


def _find_key(data: object, key: str = "ticketDates", depth: int = 0) -> object:
    """The first list under ``key`` anywhere in a JSON document (its place changed between builds)."""
    if depth > 40:
        return None
    if isinstance(data, dict):
        value = data.get(key)
        if isinstance(value, list):
            return value
        children: list[object] = list(data.values())
    elif isinstance(data, list):
        children = list(data)
    else:
        return None
    for child in children:
        found = _find_key(child, key, depth + 1)
        if found is not None:
            return found
    return None


def apply_schedule(ticket: Ticket, schedule: Schedule) -> Ticket:
    """The list row completed by its notice page: the page's presales, and its general open if given."""
    if schedule.open_at is not None or schedule.open_date is not None:
        return ticket.with_(
            open_at=schedule.open_at, open_date=schedule.open_date, presales=schedule.presales
        )
    return ticket.with_(presales=schedule.presales)


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""
