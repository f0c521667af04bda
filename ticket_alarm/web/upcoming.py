"""Upcoming opens: the notices in the history with a sale still ahead.

One source for the status page, ``/calendar.ics``, ``/api/upcoming.json`` and ``ticket-alarm
upcoming``. Read-only: it awaits the store's ``upcoming_rows`` and decides the rest
here (exact times, filters, which routes take a notice), so every view shows the same list.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from ticket_alarm import i18n
from ticket_alarm.config.routes import Router, normalise
from ticket_alarm.config.settings import RouteSettings, Settings
from ticket_alarm.core.model import SEOUL, Ticket
from ticket_alarm.errors import ConfigError
from ticket_alarm.i18n.table import render
from ticket_alarm.store.api import Store as StoreProtocol

GENERAL_SALE = "일반 예매"
FALLBACK_COLOR = 0x808080


@dataclass(frozen=True, slots=True)
class SiteLook:
    """How a site shows: its display name and colour (from its crawler)."""

    name: str
    color: int = FALLBACK_COLOR


@dataclass(frozen=True, slots=True)
class Sale:
    """One sale of a notice: the general sale or a presale, with a UID stable across fetches and restarts."""

    name: str
    at: datetime
    presale: bool
    uid: str


@dataclass(frozen=True, slots=True)
class UpcomingNotice:
    ticket: Ticket
    look: SiteLook
    sales: tuple[Sale, ...]  # every timed sale, earliest first (past presales included)
    next_at: datetime | None  # the first sale still ahead; None: only the open day is known
    day: date  # the KST day it is listed under
    routes: tuple[str, ...]  # the routes that take it
    search: str  # title, venue and genre in the route keywords' normal form
    show: str = ""  # the show's key (its first notice's identity): one show across vendors

    def to_json(self) -> dict[str, Any]:
        t = self.ticket
        return {
            "site": t.site,
            "site_name": self.look.name,
            "id": t.id,
            "title": t.title,
            "url": t.url,
            "booking_url": t.booking_url or None,
            "venue": t.venue or None,
            "genre": t.genre or None,
            "exclusive": t.exclusive,
            "category": t.category,
            "day": self.day.isoformat(),
            "open_at": t.open_at.astimezone(SEOUL).isoformat() if t.open_at else None,
            "open_date": t.open_date.isoformat() if t.open_date else None,
            "next_at": self.next_at.astimezone(SEOUL).isoformat() if self.next_at else None,
            "sales": [
                {"name": s.name, "at": s.at.astimezone(SEOUL).isoformat(), "presale": s.presale, "uid": s.uid}
                for s in self.sales
            ],
            "routes": list(self.routes),
            "show": self.show or self.ticket.key,
        }


def sale_uid(key: str, name: str | None) -> str:
    """``<identity>-open@ticket-alarm`` for the general sale, ``<identity>-pre-<name hash>`` for a presale."""
    part = "open" if name is None else "pre-" + hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"{key[:32]}-{part}@ticket-alarm"


def sales_of(ticket: Ticket) -> tuple[Sale, ...]:
    key = ticket.key
    out = [Sale(p.name or "선예매", p.at, True, sale_uid(key, p.name)) for p in ticket.presales if p.at]
    if ticket.open_at is not None:
        out.append(Sale(GENERAL_SALE, ticket.open_at, False, sale_uid(key, None)))
    return tuple(sorted(out, key=lambda s: s.at))


def find_route(settings: Settings, name: str) -> RouteSettings:
    routes = settings.effective_routes()
    for route in routes:
        if route.name == name:
            return route
    known = ", ".join(r.name for r in routes) or i18n.t("upcoming.no_routes")
    raise ConfigError(i18n.t("upcoming.unknown_route", name=name, known=known))


def check_site(site: str, looks: Mapping[str, SiteLook]) -> None:
    if site not in looks:
        known = ", ".join(looks) or i18n.t("crawl.none")
        raise ConfigError(i18n.t("upcoming.unknown_site", site=site, known=known))


async def upcoming(
    store: StoreProtocol,
    *,
    now: datetime,
    looks: Mapping[str, SiteLook],
    router: Router | None = None,
    site: str | None = None,
    route: RouteSettings | None = None,
    days: float | None = None,
    text: str | None = None,
) -> list[UpcomingNotice]:
    """Notices with a sale at or after ``now`` (within ``days`` when given), earliest first.

    A notice whose time is not announced but whose day is (``open_date``) is listed on that day;
    a notice with neither (추후 공지) is not upcoming. ``router`` (``app.page_router``) names
    the routes that take each notice as deliveries do (the main channel by ``main_receives``); ``route``
    keeps what that route takes.
    """
    router = router or Router([])
    today = now.astimezone(SEOUL).date()
    until = now + timedelta(days=days) if days is not None else None
    needle = normalise(text) if text else ""
    out: list[UpcomingNotice] = []
    for row in await store.upcoming_rows((today - timedelta(days=1)).isoformat()):
        if site is not None and row.site != site:
            continue
        ticket = Ticket.from_json(row.ticket)
        sales = sales_of(ticket)
        ahead = [s.at for s in sales if s.at >= now and (until is None or s.at <= until)]
        if ahead:
            next_at: datetime | None = ahead[0]
            day = ahead[0].astimezone(SEOUL).date()
        elif (
            ticket.open_at is None
            and ticket.open_date is not None
            and ticket.open_date >= today
            and (until is None or ticket.open_date <= until.astimezone(SEOUL).date())
        ):
            next_at, day = None, ticket.open_date
        else:
            continue
        lanes = router.routes_for(ticket)  # the routes that take it (a route's every destination alike)
        if route is not None and route.name not in lanes:
            continue
        search = normalise("\x00".join((ticket.title, ticket.venue, ticket.genre)))
        if needle and needle not in search:
            continue
        out.append(
            UpcomingNotice(
                ticket,
                looks.get(ticket.site) or SiteLook(ticket.site),
                sales,
                next_at,
                day,
                tuple(lanes),
                search,
            )
        )
    out.sort(key=lambda n: (n.day, n.next_at is None, n.next_at or now, n.ticket.site, n.ticket.title))
    links = await store.show_links(n.ticket.key for n in out)
    return [
        replace(n, show=links[n.ticket.key].show_key if n.ticket.key in links else n.ticket.key) for n in out
    ]


def by_show(notices: Sequence[UpcomingNotice]) -> list[tuple[UpcomingNotice, ...]]:
    """The notices grouped by show, each show once, in the order its first notice is listed (a show
    sold by several vendors: every vendor's notice under it)."""
    shows: dict[str, list[UpcomingNotice]] = {}
    for n in notices:
        shows.setdefault(n.show or n.ticket.key, []).append(n)
    return [tuple(group) for group in shows.values()]


def document(
    notices: Sequence[UpcomingNotice],
    now: datetime,
    *,
    site: str | None = None,
    route: str | None = None,
    days: float | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    """The JSON of ``/api/upcoming.json`` and ``upcoming --json``."""
    return {
        "generated_at": now.astimezone(SEOUL).isoformat(timespec="seconds"),
        "timezone": "Asia/Seoul",
        "filters": {"site": site, "route": route, "days": days, "q": text},
        "count": len(notices),
        "notices": [n.to_json() for n in notices],
    }


def render_text(notices: Sequence[UpcomingNotice]) -> str:
    """``upcoming`` as a terminal table, columns aligned by display width (Korean takes two columns)."""
    if not notices:
        return i18n.t("upcoming.empty")
    rows = []
    for n in notices:
        t = n.ticket
        sale = next((s.name for s in n.sales if s.at == n.next_at), GENERAL_SALE)
        when = f"{n.next_at.astimezone(SEOUL):%Y-%m-%d %H:%M} {sale}" if n.next_at else f"{n.day} --:--"
        presales = ", ".join(
            f"{s.name} {s.at.astimezone(SEOUL):%m-%d %H:%M}"
            for s in n.sales
            if s.presale and s.at >= n.sales[0].at
        )
        badge = "[단독] " if t.exclusive else ""
        rows.append((when, n.look.name, badge + t.title, presales or "-", t.venue or "-"))
    lines = render(tuple(i18n.t("upcoming.columns").split("|")), rows, limits=(None, 14, 40, 30, 24))
    lines.append(i18n.t("upcoming.footer", count=len(notices)))
    return "\n".join(lines)
