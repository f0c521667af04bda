"""Ticketlink (티켓링크): the open-notice list, a JSON API.

``GET /help/getNoticeList?page=N&noticeCategoryCode=TICKET_OPEN&title=&sortCode=OPEN_DATE`` answers
``{"result": {"result": [notice, …], "paging": {"currentPage": N, "pageCount": M, …}}}``, 15 notices a
page, sorted by open date. The crawl pages until ``currentPage >= pageCount`` or an empty page (a page
past the end answers ``[]`` with ``currentPage`` > ``pageCount``); without a usable ``paging`` object a
short page (fewer than 15) ends the list.

Quirks handled here:
- Titles carry ``<b>[단독판매]</b>`` markup (→ ``exclusive``, badge and tags removed) and zero-width
  spaces; any other ``<...>`` (``<BLUE HEART>``, ``<A여고 …>``) is title text and kept. Only formatting
  tags (``b``, ``strong``, ``span`` …, with ``name=value`` attributes at most) count as markup.
- ``ticketOpenDatetime`` is an ISO local string (``"2027-12-01T14:00:00"``) in current responses and
  epoch milliseconds (UTC based) in older ones: both become Asia/Seoul times. A date without a time
  becomes ``open_date``; ``null`` or an unreadable value is "not announced" (``open_at=None``), unless
  the notice body names the general-sale time (``* 일반예매 : 2027년 12월 1일 (수) 14:00``).
- Presale times appear only in ``content`` (the notice body as HTML): ``parse_presales`` reads its
  ``* 팬클럽 선예매(FC) : 2027년 12월 1일 (수) 20:00`` lines.
- The list is requested for the ``TICKET_OPEN`` category only. Should an item of another category
  slip in anyway, a 변경/취소 (change/cancel) notice becomes ``category="change"``, and any other
  category (기타 …) is skipped: it is not an open notice and must not be alerted.
- The HTML site is a script-rendered shell behind a bot challenge: HTML where JSON was expected is a
  ``ParseError`` (a proxy hint for a challenge page, "the endpoint may have moved" for the site's own
  shell), never ``[]``; items without ``noticeId`` are an ``ApiChangedError``.
- Body lines are read as real notices word them (``parse_sales``): with or without a colon, ``PM``
  after a 24-hour time, no year (taken from ``registerDatetime``), under ``[팬클럽 선예매 안내]``
  headings; the general sale is the open time when the API's field is empty or holds a presale's.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, ClassVar

from crawlers.base import Crawl, Crawler, Numbered, Schedule, load_json, paginate, parse_count, require_ids
from crawlers.sale_text import parse_sales
from ticket_alarm.core.model import SEOUL, Category, Ticket, clean_text
from ticket_alarm.errors import ParseError
from ticket_alarm.fetch.http import SiteFetcher
from ticket_alarm.i18n import t

SITE = "ticketlink"
BASE_URL = "https://www.ticketlink.co.kr"
LIST_URL = f"{BASE_URL}/help/getNoticeList"
NOTICE_URL = f"{BASE_URL}/help/notice/{{id}}"
BOOKING_URL = f"{BASE_URL}/product/{{id}}"
PAGE_SIZE = 15
OPEN_CATEGORY = "TICKET_OPEN"
HEADERS = {
    "Referer": f"{BASE_URL}/help/notice",
    "Accept": "application/json",
}


def list_params(page: int) -> dict[str, str | int]:
    """The list request's query, in the order the site's own page sends it."""
    return {"page": page, "noticeCategoryCode": OPEN_CATEGORY, "title": "", "sortCode": "OPEN_DATE"}


# --- patterns --------------------------------------------------------------------------------------

# The exclusive-sale badge, anywhere in the title: [단독판매], [단독 판매], 【단독판매】.
_BADGE = re.compile(r"[\[［【]\s*단독\s*판매\s*[\]］】]")
# Formatting tags a title may carry. A tag needs a known name and nothing but name=value attributes,
# so literal title text such as <BLUE HEART>, <A여고 …>, <I Love You> is never taken for markup.
_MARKUP = re.compile(
    r"</?(?:b|strong|em|i|u|s|strike|del|ins|mark|small|big|sub|sup|span|font|br)"
    r"(?:\s+[\w:.-]+\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'|[^\s\"'<>]+))*\s*/?>",
    re.IGNORECASE,
)
# Only complete entities (with the semicolon) are decoded: a raw "&" in "정명훈 & 원 …" stays text.
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")

_CHANGE_CODES = ("CHANGE", "CANCEL")
_CHANGE_NAMES = ("변경", "취소")
# ISO-like strings the API may send: 2027-12-01T14:00:00, 2027-12-01 14:00, 2027.12.01 14:00 …
_ISO = re.compile(
    r"^\s*(\d{4})[-./](\d{1,2})[-./](\d{1,2})\.?"
    r"(?:(?:\s+|T)(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)
_DIGITS = re.compile(r"^\s*-?\d{1,20}(?:\.\d+)?\s*$")
_PRODUCT_IN_URL = re.compile(r"/product/(\d+)")


# --- parsing (pure) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoticePage:
    """One list response: its notices, where it sits in the paging, and what it left out."""

    tickets: list[Ticket]
    items: int  # items the page holds, skipped ones included
    current_page: int | None = None
    page_count: int | None = None
    skipped: list[str] = field(default_factory=list)  # ids of other-category notices left out

    def is_last(self, requested_page: int) -> bool:
        """Whether the list ends with this page (asked for as ``requested_page``)."""
        if self.items == 0:
            return True
        if self.page_count is not None:
            current = self.current_page if self.current_page is not None else requested_page
            return current >= self.page_count
        return self.items < PAGE_SIZE


def parse(body: bytes | str, url: str = "") -> list[Ticket]:
    """The open/change notices one list page holds, in its order."""
    return parse_page(body, url).tickets


def parse_page(body: bytes | str, url: str = "") -> NoticePage:
    """Read one list response. Raises ``ParseError`` when it is not the notice list."""
    where = url or t("ticketlink.the_list")
    data = load_json(SITE, body, where)
    container = data.get("result") if isinstance(data, dict) else None
    items = container.get("result") if isinstance(container, dict) else None
    if not isinstance(items, list):
        raise ParseError(
            SITE,
            t("ticketlink.unexpected", where=where, shown=_describe(data)),
            hint=t("crawl.hint.ticketlink_error"),
        )
    tickets: list[Ticket] = []
    skipped: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ParseError(
                SITE,
                t("ticketlink.item", number=index + 1, where=where, kind=type(item).__name__),
                hint=t("crawl.hint.ticketlink_changed"),
            )
    require_ids(SITE, items, "noticeId", where)
    for item in items:
        ticket = parse_item(item)
        if ticket is None:
            skipped.append(_id_text(item.get("noticeId")))
        else:
            tickets.append(ticket)
    paging = container.get("paging") if isinstance(container, dict) else None
    current = page_count = None
    if isinstance(paging, dict):
        current = parse_count(paging.get("currentPage"))
        page_count = parse_count(paging.get("pageCount"))
    return NoticePage(tickets, len(items), current, page_count, skipped)


def parse_item(item: dict[str, Any]) -> Ticket | None:
    """One notice as a Ticket; ``None`` for a notice of a category that is not worth an alert."""
    category = notice_category(item.get("noticeCategoryCode"), item.get("noticeCategoryName"))
    if category is None:
        return None
    notice_id = _id_text(item.get("noticeId"))
    title, exclusive = clean_title(item.get("title"))
    content = item.get("content") if isinstance(item.get("content"), str) else ""
    open_at, open_date = parse_open_time(item.get("ticketOpenDatetime"))
    registered, _ = parse_open_time(item.get("registerDatetime"))
    sales = parse_sales(content, reference=open_at, registered=registered)
    presales = sales.presales
    if sales.general is not None and (
        (open_at is None and open_date is None) or any(p.at == open_at for p in presales)
    ):
        # the body's general sale is the open time; the API's field held nothing or a presale's time
        open_at, open_date = sales.general, None
    product_id = _id_text(item.get("productId"))
    if not product_id and isinstance(item.get("reserveWebUrl"), str):
        match = _PRODUCT_IN_URL.search(item["reserveWebUrl"])
        product_id = match[1] if match else ""
    place = item.get("placeName")
    return Ticket(
        site=SITE,
        id=notice_id,
        title=title,
        url=NOTICE_URL.format(id=notice_id) if notice_id else "",
        open_at=open_at,
        category=category,
        exclusive=exclusive,
        presales=presales,
        venue=clean_text(_decode_entities(place)) if isinstance(place, str) else "",
        booking_url=BOOKING_URL.format(id=product_id) if product_id else "",
        views=parse_count(item.get("viewCount")),
        open_date=open_date,
        extra={"posted": f"{registered.astimezone(SEOUL):%Y-%m-%d %H:%M}"} if registered else {},
    )


def parse_notice_page(body: bytes | str, url: str = "") -> Schedule | None:
    """A saved single notice (``{"result": {notice}}`` or the notice object itself) as the schedule
    its body names (``test-crawlers --file``); ``None`` for anything else (a list page)."""
    try:
        data = load_json(SITE, body, url or "the saved notice")
    except ParseError:
        return None
    notice = data.get("result") if isinstance(data, dict) and isinstance(data.get("result"), dict) else data
    if not isinstance(notice, dict) or "result" in notice or "content" not in notice:
        return None
    ticket = parse_item(notice)
    if ticket is None:
        return Schedule(None, None, ())
    return Schedule(ticket.open_at, ticket.open_date, ticket.presales)


def notice_category(code: object, name: object) -> Category | None:
    """``open`` for 티켓오픈, ``change`` for 변경/취소, ``None`` (skip) for any other category.

    An item without any category field counts as open: the list is requested for TICKET_OPEN only.
    """
    code_text = code.strip().upper() if isinstance(code, str) else ""
    name_text = re.sub(r"\s+", "", name) if isinstance(name, str) else ""
    if any(word in code_text for word in _CHANGE_CODES) or any(word in name_text for word in _CHANGE_NAMES):
        return "change"
    if code_text == OPEN_CATEGORY or name_text == "티켓오픈":
        return "open"
    if not code_text and not name_text:
        return "open"
    return None


def clean_title(raw: object) -> tuple[str, bool]:
    """(clean title, exclusive): the 단독판매 badge, formatting tags and zero-width chars removed."""
    if not isinstance(raw, str):
        return "", False
    exclusive = _BADGE.search(raw) is not None
    text = _BADGE.sub(" ", raw)
    text = _MARKUP.sub(" ", text)
    return clean_text(_decode_entities(text)), exclusive


def parse_open_time(value: object) -> tuple[datetime | None, date | None]:
    """(open_at, open_date) from ``ticketOpenDatetime``: ISO local string or epoch milliseconds.

    Epoch values are UTC based and converted to Asia/Seoul; values below 1e11 are taken as seconds.
    A date without a time gives ``open_date`` only. Anything unreadable gives ``(None, None)``.
    """
    if value is None or isinstance(value, bool):
        return None, None
    if isinstance(value, int | float):
        return _from_epoch(value), None
    if not isinstance(value, str):
        return None, None
    if _DIGITS.match(value):
        try:
            return _from_epoch(float(value)), None
        except ValueError:
            return None, None
    match = _ISO.match(value)
    if not match:
        return None, None
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        if hour is None:
            return None, date(int(year), int(month), int(day))
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
        if zone is None:
            return moment.replace(tzinfo=SEOUL), None
        return moment.replace(tzinfo=_zone(zone)).astimezone(SEOUL), None
    except (ValueError, OverflowError):
        return None, None


def _zone(text: str) -> timezone:
    if text == "Z":
        return UTC
    digits = text[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(-offset if text[0] == "-" else offset)  # ValueError beyond ±24h


def _from_epoch(value: float) -> datetime | None:
    if not math.isfinite(value) or value <= 0:
        return None
    seconds = value / 1000 if value >= 1e11 else value
    try:
        return datetime.fromtimestamp(seconds, tz=UTC).astimezone(SEOUL)
    except (OverflowError, OSError, ValueError):
        return None


# --- helpers ---------------------------------------------------------------------------------------


def _describe(data: object) -> str:
    """What arrived instead of the list, for the error message (keys and any error message)."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}"
    inner = data.get("result")
    parts = [f"an object with keys {sorted(map(str, data))[:8]}"]
    if isinstance(inner, dict):
        parts.append(f"result holds {sorted(map(str, inner))[:8]}")
    for source in (data, inner):
        for key in ("message", "errorMessage", "error"):
            if isinstance(source, dict) and isinstance(source.get(key), str):
                parts.append(f"{key}: {source[key][:120]!r}")
    return "; ".join(parts)


def _decode_entities(text: str) -> str:
    return _ENTITY.sub(lambda m: html.unescape(m[0]), text)


def _id_text(value: object) -> str:
    """A notice/product id as text: 63584 → "63584"; anything that is not an id → ""."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if math.isfinite(value) and value.is_integer() else ""
    if isinstance(value, str):
        return clean_text(value)
    return ""


# --- crawler -------------------------------------------------------------------------------------


def head_params(page: int) -> dict[str, str | int]:
    """The list query in registration order (``sortCode=REGISTE_DATE``, sic), newest first."""
    return {**list_params(page), "sortCode": "REGISTE_DATE"}


class TicketlinkCrawler(Crawler):
    name: ClassVar[str] = SITE
    display_name: ClassVar[str] = "티켓링크"
    color: ClassVar[int] = 0xFA2828
    usual_minimum: ClassVar[int] = PAGE_SIZE

    async def crawl(self, fetch: SiteFetcher) -> Crawl:
        crawl = Crawl()
        async for page, result in paginate(self._list(fetch, list_params), PAGING, self.page_cap, crawl):
            crawl.add(result.tickets)
            if result.skipped:
                ids = ", ".join(i or "?" for i in result.skipped)
                crawl.notes.append(
                    t("crawl.note.other_categories", page=page, count=len(result.skipped), ids=ids)
                )
            if result.current_page is not None and result.current_page != page and result.items:
                crawl.notes.append(t("crawl.note.other_page", page=page, answered=result.current_page))
        return crawl

    def head_pages(self, fetch: SiteFetcher) -> AsyncIterator[list[Ticket]]:
        return self._head_pages(fetch)

    async def _head_pages(self, fetch: SiteFetcher) -> AsyncIterator[list[Ticket]]:
        async for _, result in paginate(self._list(fetch, head_params), PAGING, self.page_cap):
            yield result.tickets

    @staticmethod
    def _list(
        fetch: SiteFetcher, params: Callable[[int], dict[str, str | int]]
    ) -> Callable[[int], Awaitable[NoticePage]]:
        async def request(page: int) -> NoticePage:
            response = await fetch.get(LIST_URL, params=params(page), headers=HEADERS)
            return parse_page(response.content, response.url)

        return request


# pages 1, 2, 3 … until the page the paging object calls the last (or an empty one)
PAGING: Numbered[NoticePage] = Numbered(SITE, lambda page, result: result.is_last(page))


CRAWLER = TicketlinkCrawler
