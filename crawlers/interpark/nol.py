"""NOL 티켓 (nol.yanolja.com): Interpark's second source, a JSON API paged by cursor.

``POST /ticket/display/api/upcoming`` with the JSON body ``{"sort": "open"}`` (then
``{"sort": "open", "cursor": "<next_cursor>"}``) answers ``{"notices": [...], "summary":
{"next_cursor": "..."}}``; paging ends when ``next_cursor`` is null or a page is empty. ``"sort":
"register"`` lists by registration, newest first (the head polls). A cursor that repeats is an
``ApiChangedError``, never a loop.

The notices are Interpark's (the ids continue one sequence), so a ticket from here has the same
identity ``(interpark, id)`` and the same public notice link as one from the old API: a switch of
source re-alerts nothing.

Per notice (snake_case): ``ticket_dates[]`` — ``ticket_open_type`` 1 is the general sale (the open
time), ``general_later`` or a ``9999…`` or ``0001…`` date means it is not announced, every other
entry is a presale under its own name (``ticket_other_open_name``, else ``ticket_open_type_name``);
presale lines inside ``goods_info`` (``아티스트 선예매: 2026년 9월 21일 (월) 오후 12시``) are read too;
``goods_seat_type_name`` ``단독판매`` is exclusive; booking ``/ticket/products/{goods_code}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from crawlers.base import Crawl, Cursors, changed_hint, load_json, paginate, require_ids
from crawlers.interpark.common import SITE, SourceKeys, category_of, clean_title, notice_id_text
from crawlers.interpark.common import text as _str
from crawlers.sale_text import parse_presales as text_presales
from ticket_alarm.core.model import Presale, Ticket, clean_text, seoul
from ticket_alarm.errors import ApiChangedError, ParseError
from ticket_alarm.fetch.http import SiteFetcher
from ticket_alarm.i18n import t

NOL_BASE = "https://nol.yanolja.com"
UPCOMING_URL = f"{NOL_BASE}/ticket/display/api/upcoming"
BOOKING_URL = f"{NOL_BASE}/ticket/products/{{code}}"
HEADERS = {
    "Referer": f"{NOL_BASE}/ticket/display/upcoming",
    "Accept": "application/json, text/plain, */*",
}
GENERAL_SALE = 1
SOURCE = SourceKeys("goods_seat_type_name", "venue_name", "goods_genre_name", "view_count", BOOKING_URL)

PLACEHOLDER_BEFORE = 2000  # no ticket opened before this year: an earlier date is an empty value
Sort = Literal["open", "register"]


def request_body(sort: Sort, cursor: str | None = None) -> dict[str, str]:
    """The JSON body of one page; both sorts share it (``open`` sweeps, ``register`` head polls)."""
    body: dict[str, str] = {"sort": sort}
    if cursor is not None:
        body["cursor"] = cursor
    return body


@dataclass(frozen=True, slots=True)
class NolPage:
    tickets: list[Ticket] = field(default_factory=list)
    next_cursor: str | None = None
    items: int = 0


# --- parsing (pure) ------------------------------------------------------------------------------


def parse(body: bytes | str, url: str = "") -> list[Ticket]:
    """The notices of one ``upcoming`` response, in its order."""
    return parse_page(body, url).tickets


def parse_page(body: bytes | str, url: str = "") -> NolPage:
    """Read one response. ``ParseError``/``ApiChangedError`` when it is not the notice page."""
    where = url or "NOL"
    data = load_json(SITE, body, where)
    notices = data.get("notices") if isinstance(data, dict) else None
    if not isinstance(notices, list):
        shown = ", ".join(sorted(map(str, data))[:8]) if isinstance(data, dict) else type(data).__name__
        raise ApiChangedError(
            SITE,
            t("nol.no_notices", where=where, shown=shown),
            hint=changed_hint(),
        )
    for index, item in enumerate(notices):
        if not isinstance(item, dict):
            raise ApiChangedError(
                SITE,
                t("nol.item", number=index + 1, where=where, kind=type(item).__name__),
                hint=changed_hint(),
            )
    require_ids(SITE, notices, "id", where)
    summary = data.get("summary")
    cursor = summary.get("next_cursor") if isinstance(summary, dict) else None
    if cursor is not None and not isinstance(cursor, str | int):
        raise ParseError(SITE, t("nol.cursor", where=where, kind=type(cursor).__name__), hint=changed_hint())
    next_cursor = str(cursor) if cursor not in (None, "") else None
    return NolPage([notice_ticket(item) for item in notices], next_cursor, len(notices))


def notice_ticket(item: dict[str, Any]) -> Ticket:
    """One NOL notice as an interpark Ticket; missing fields stay empty."""

    notice_id = notice_id_text(item.get("id"))
    title = clean_title(_str(item.get("title")))
    open_at, presales = ticket_dates(item.get("ticket_dates"))
    extra_presales = text_presales(_str(item.get("goods_info")), reference=open_at)
    for presale in extra_presales:
        if not any(p.name == presale.name and (p.at == presale.at or presale.at is None) for p in presales):
            presales = (*presales, presale)
    code = clean_text(_str(item.get("goods_code")) or _num(item.get("goods_code")))
    open_type = clean_text(_str(item.get("open_type_name")))
    extra = {
        "source": "nol",
        "open_type": open_type,
        "open_name": clean_text(_str(item.get("open_name"))),
        "region": clean_text(_str(item.get("goods_region_name"))),
        "posted": clean_text(_str(item.get("created_at"))),
    }
    image = _str(item.get("open_notice_poster_image_url")) or _str(item.get("goods_poster_image_url"))
    read = {
        "open_at": open_at,
        "category": category_of(open_type, title),  # the old API's rule: a switch changes no category
        "presales": presales,
        "image_url": image.strip() if image.strip().startswith(("https://", "http://")) else "",
    }
    return SOURCE.ticket(item, notice_id, title, code, extra, read)


def ticket_dates(dates: object) -> tuple[datetime | None, tuple[Presale, ...]]:
    """(general-sale open time, presales) from ``ticket_dates``; TBA (general_later, 9999) → None."""
    if not isinstance(dates, list):
        return None, ()
    open_at: datetime | None = None
    presales: list[Presale] = []
    for entry in dates:
        if not isinstance(entry, dict):
            continue
        at = parse_nol_time(entry.get("ticket_open_date"))
        if entry.get("ticket_open_type") == GENERAL_SALE:
            if entry.get("general_later") is not True and open_at is None:
                open_at = at
            continue
        name = clean_text(_str(entry.get("ticket_other_open_name"))) or clean_text(
            _str(entry.get("ticket_open_type_name"))
        )
        presale = Presale(name or "선예매", at)
        if presale not in presales:
            presales.append(presale)
    return open_at, tuple(presales)


def parse_nol_time(value: object) -> datetime | None:
    """``2026-10-06T10:00:00`` (Korea time) → aware datetime; ``9999…``, a year before 2000 (``0001…``),
    empty or unreadable → None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or text.startswith("9999"):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.year < PLACEHOLDER_BEFORE:  # 0001-01-01T00:00:00, .NET's empty date: TBA as 9999 is
        return None
    if moment.tzinfo is not None:
        return moment.astimezone(seoul(2000, 1, 1).tzinfo)
    try:
        return seoul(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    except ValueError:
        return None


def _num(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else ""


# --- fetching ------------------------------------------------------------------------------------


async def pages(
    fetch: SiteFetcher, sort: Sort, page_cap: int, crawl: Crawl | None = None
) -> AsyncIterator[NolPage]:
    """Every page of one sort, lazily, until ``next_cursor`` is null, a page is empty or the cap.

    A cursor that comes back a second time is an ``ApiChangedError``: paging would never end.
    """

    async def request(cursor: str | None) -> NolPage:
        response = await fetch.post(UPCOMING_URL, json_body=request_body(sort, cursor), headers=HEADERS)
        return parse_page(response.content, response.url)

    async for _, page in paginate(request, PAGING, page_cap, crawl):
        yield page


# a page's next_cursor names the next page; an empty page or a null cursor ends the list
PAGING: Cursors[NolPage] = Cursors(SITE, "NOL", lambda page: page.next_cursor if page.items else None)
