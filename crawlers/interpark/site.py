"""Interpark Ticket (NOL 티켓): the open-notice list, a JSON API.

``GET /contents/api/open-notice/notice-list`` with
``goodsGenre=ALL&goodsRegion=ALL&offset=N&pageSize=50&sorting=OPEN_ASC`` answers a top-level
JSON array of notices sorted by open date. The crawl pages with ``offset`` += ``pageSize`` until a
page holds fewer than ``pageSize`` rows. Both ``goodsGenre`` and ``goodsRegion``
are always sent (the API answers 400 without either).

Quirks handled here:
- ``isGeneralLater`` true means the general-sale date is not announced: ``openDateStr`` (which may
  still hold a date) is not the open time, so ``open_at`` is ``None``; an empty ``openDateStr`` too.
- ``goodsSeatTypeStr == "단독판매"`` is exclusive; ``상대우위``/``절대우위`` are not.
- A group representative repeats its members (itself included) in ``groupMembers``, same item
  shape. Members are listed as rows of their own as well, at their own place in the open-date
  order, so the page's rows are emitted as they come and the members only at the end of the crawl,
  for those no page listed (``Crawl.add`` drops the ones already seen): each notice counts once.
- A datacenter block arrives as 403 (a ``FetchError`` from the fetcher) or as an HTML challenge
  page with status 200: that is a ``ParseError`` with a proxy hint, never ``[]``. The site's own
  HTML page where the API was expected, or items without ``noticeId``, is an ``ApiChangedError``.
- Presales of notices with ``hasMultipleOpenDates`` or ``isToping`` are only on the notice page
  (``/contents/notice/detail/{id}``, ``__NEXT_DATA__`` → ``ticketDates[]``): the crawler reads it for
  such notices when they are new or their list row changed (kept in the store: ``NoticeMemo``), and a
  page that cannot be read leaves the list's data in place (its presales unread: the pipeline keeps
  history's), is asked again after a back-off, and is counted in one WARNING line per sweep.

Two sources (``sites.interpark.source``): ``interpark`` (this old API), ``nol`` (``crawlers.interpark.nol``),
``auto`` (default): the source in use first; when it answers 404/410, an HTML page instead of JSON
or items without the id field, the other one in the same cycle, with one WARNING, and that one from
then on. Registration order (``head_pages``) exists on NOL only: ``None`` while auto reads the old
API.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from crawlers.base import (
    Crawl,
    Crawler,
    Numbered,
    SiteSettings,
    changed_hint,
    load_json,
    mark_incomplete,
    paginate,
    require_ids,
    schedule_from_json,
    schedule_json,
)
from crawlers.interpark import nol
from crawlers.interpark.common import SITE, SourceKeys, category_of, clean_title, notice_id_text, notice_url
from crawlers.interpark.common import text as _str
from crawlers.interpark.notice import (
    apply_schedule,
    needs_notice_page,
    parse_detail,
    parse_notice_page,
    parse_open,
    row_fingerprint,
)
from ticket_alarm.core.model import Category, Ticket, clean_text
from ticket_alarm.core.notice_memo import MemoryReads, NoticeMemo, error_text
from ticket_alarm.errors import ApiChangedError, CrawlError, FetchError, ParseError
from ticket_alarm.fetch.decode import decode_text
from ticket_alarm.fetch.http import SiteFetcher
from ticket_alarm.i18n import t

BASE_URL = "https://tickets.interpark.com"
LIST_URL = f"{BASE_URL}/contents/api/open-notice/notice-list"
BOOKING_URL = f"{BASE_URL}/goods/{{code}}"
PAGE_SIZE = 50
SOURCE = SourceKeys("goodsSeatTypeStr", "venueName", "goodsGenreStr", "viewCount", BOOKING_URL)
HEADERS = {
    "Referer": f"{BASE_URL}/contents/notice",
    "Accept": "application/json, text/plain, */*",
}
NOTICE_PAGE_HEADERS = {"Referer": f"{BASE_URL}/contents/notice", "Accept": "text/html,*/*;q=0.8"}
PRESALES = ("presales",)  # what a row lacks when its notice page is unread: the list gives the rest


@dataclass(frozen=True, slots=True)
class NoticePage:
    """One list response: the notices it lists as rows, and the group members it repeats."""

    rows: int  # how many rows the page holds (the paging counts these)
    tickets: list[Ticket] = field(default_factory=list)
    members: list[Ticket] = field(default_factory=list)


# --- parsing (pure) ------------------------------------------------------------------------------


def parse(body: bytes | str, url: str = "") -> list[Ticket]:
    """The notices one list page lists, in its order (group members repeated inside a row excluded)."""
    return parse_page(body, url).tickets


def parse_page(body: bytes | str, url: str = "") -> NoticePage:
    """Read one list response. Raises ``ParseError`` when it is not the notice array."""
    items = _load_array(body, url)
    require_ids(SITE, items, "noticeId", url or "the site")
    tickets = [notice_ticket(item) for item in items]
    members: list[Ticket] = []
    for item in items:
        group = item.get("groupMembers")
        if not isinstance(group, list):
            continue
        for member in group:
            if isinstance(member, dict):
                ticket = notice_ticket(member)
                if ticket.id:  # a member without id cannot be told apart; its row carries it
                    members.append(ticket)
    return NoticePage(rows=len(items), tickets=tickets, members=members)


def _load_array(body: bytes | str, url: str) -> list[dict[str, Any]]:
    where = url or t("interpark.the_site")
    data = load_json(SITE, body, where, t("interpark.the_list"))
    if isinstance(data, dict):
        detail = data.get("message") or data.get("error") or ", ".join(sorted(map(str, data))[:8])
        if "message" in data or "error" in data:  # an error answer: the request was refused
            raise ParseError(
                SITE,
                t("interpark.refused", where=where, detail=str(detail)[:200]),
                hint=t("crawl.hint.interpark_refused"),
            )
        raise ApiChangedError(
            SITE,
            t("interpark.object", where=where, detail=str(detail)[:200]),
            hint=changed_hint(),
        )
    if not isinstance(data, list):
        raise ParseError(SITE, t("interpark.not_array", kind=type(data).__name__, where=where))
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise ParseError(
                SITE,
                t("interpark.item", index=index, where=where, kind=type(item).__name__),
                hint=t("crawl.hint.needs_update"),
            )
    return data


def notice_ticket(item: dict[str, Any]) -> Ticket:
    """One notice object (a row or a group member) as a Ticket; missing fields stay empty."""
    notice_id = notice_id_text(item.get("noticeId"))
    title = clean_title(_str(item.get("title")))
    open_at, open_date = parse_open(_str(item.get("openDateStr")), general_later=item.get("isGeneralLater"))
    code = _str(item.get("goodsCode")).strip()
    extra = {
        "open_type": clean_text(_str(item.get("openTypeStr"))),
        "region": clean_text(_str(item.get("goodsRegionStr"))),
        "posted": clean_text(_str(item.get("displayDateStr"))),
    }
    if item.get("isGeneralLater") is True and clean_text(_str(item.get("openDateStr"))):
        extra["listed_date"] = clean_text(_str(item.get("openDateStr")))
    if item.get("hasMultipleOpenDates") is True:
        extra["multiple_dates"] = "true"  # the other dates are only on the notice page
    if item.get("isToping") is True:
        extra["toping"] = "true"  # membership (토핑) presale; its time is only on the detail page
    if item.get("isHot") is True:
        extra["hot"] = "true"
    read = {
        "open_at": open_at,
        "open_date": open_date,
        "category": _category(item, title),
        "image_url": _image(_str(item.get("posterImageUrl"))),
    }
    return SOURCE.ticket(item, notice_id, title, code, extra, read)


def _category(item: dict[str, Any], title: str) -> Category:
    return category_of(_str(item.get("openTypeStr")), title)


def _image(url: str) -> str:
    url = url.strip()
    if url.startswith("//"):
        return "https:" + url
    return url if url.startswith(("https://", "http://")) else ""


__all__ = [
    "CRAWLER",
    "InterparkCrawler",
    "parse",
    "parse_detail",
    "parse_notice_page",
    "parse_open",
    "parse_page",
]


# --- crawling --------------------------------------------------------------------------------------

Source = Literal["interpark", "nol"]
SOURCE_NAMES = {"interpark": "the old Interpark API", "nol": "NOL"}


def source_gone(exc: CrawlError) -> bool:
    """Whether an error says the source moved (404/410, its HTML page, items without the id field)."""
    if isinstance(exc, ApiChangedError):
        return True
    return isinstance(exc, FetchError) and exc.status in (404, 410)


# row offsets 0, 10, 20 … until a page holds fewer rows than a full one (the list's end)
PAGING: Numbered[NoticePage] = Numbered(SITE, lambda _, page: page.rows < PAGE_SIZE, first=0, step=PAGE_SIZE)


class InterparkCrawler(Crawler):
    name: ClassVar[str] = SITE
    display_name: ClassVar[str] = "인터파크 티켓"
    color: ClassVar[int] = 0xEF3E43
    usual_minimum: ClassVar[int] = 20

    def __init__(self, settings: SiteSettings | None = None) -> None:
        super().__init__(settings)
        mode = self.settings.source or "auto"
        self.mode = mode
        # the source read now: auto starts with the old API and moves when it is gone
        self.current: Source = "nol" if mode == "nol" else "interpark"
        # the notice pages read, when no store keeps them (``fetch.memo`` unset: test-crawlers, tests)
        self._reads = MemoryReads()

    async def crawl(self, fetch: SiteFetcher) -> Crawl:
        if self.mode != "auto":
            return await self._crawl_source(self.current, fetch)
        first = self.current
        try:
            return await self._crawl_source(first, fetch)
        except (FetchError, ParseError) as exc:
            if not source_gone(exc):
                raise
            first_error = exc
        second: Source = "nol" if first == "interpark" else "interpark"
        try:
            crawl = await self._crawl_source(second, fetch)
        except CrawlError as exc:
            raise CrawlError(
                SITE,
                f"{SOURCE_NAMES[first]}: {first_error.reason}; {SOURCE_NAMES[second]} too: {exc.reason}",
                hint=exc.hint or first_error.hint,
            ) from exc
        self.current = second
        crawl.warnings.append(
            t(
                "crawl.warn.source_switched",
                first=SOURCE_NAMES[first],
                reason=first_error.reason,
                second=SOURCE_NAMES[second],
            )
        )
        return crawl

    async def _crawl_source(self, source: Source, fetch: SiteFetcher) -> Crawl:
        if source == "nol":
            return await self._crawl_nol(fetch)
        return await self._crawl_old(fetch)

    @staticmethod
    def parse_body(body: bytes | str, url: str = "") -> list[Ticket]:
        """A saved list page of either source (``test-crawlers interpark --file``)."""
        text = decode_text(body)
        if text.lstrip().startswith("{") and '"notices"' in text[:100_000]:
            return nol.parse(text, url)
        return parse(text, url)

    def head_pages(self, fetch: SiteFetcher) -> AsyncIterator[list[Ticket]] | None:
        """NOL's ``"sort": "register"`` pages, newest first; None while the old API is the source."""
        if self.current != "nol":
            return None
        return self._register_pages(fetch)

    async def _register_pages(self, fetch: SiteFetcher) -> AsyncIterator[list[Ticket]]:
        async for page in nol.pages(fetch, "register", self.page_cap):
            yield page.tickets

    async def _crawl_nol(self, fetch: SiteFetcher) -> Crawl:
        crawl = Crawl()
        async for page in nol.pages(fetch, "open", self.page_cap, crawl):
            crawl.add(page.tickets)
        crawl.notes.append(t("crawl.note.nol"))
        return crawl

    async def _crawl_old(self, fetch: SiteFetcher) -> Crawl:
        crawl = Crawl()
        members: list[Ticket] = []

        async def request(offset: int) -> NoticePage:
            response = await fetch.get(LIST_URL, params=list_params(offset), headers=HEADERS)
            return parse_page(response.content, response.url)

        async with contextlib.aclosing(paginate(request, PAGING, self.page_cap, crawl)) as pages:
            async for offset, page in pages:
                added = crawl.add(page.tickets)
                members.extend(page.members)
                if added == 0 and page.rows >= PAGE_SIZE:
                    crawl.warnings.append(t("crawl.warn.full_page_seen", offset=offset))
                    break
        unlisted = crawl.add(members)
        if unlisted:
            crawl.notes.append(t("crawl.note.group_members", count=unlisted))
        await self._read_notice_pages(fetch, crawl)
        return crawl

    async def _read_notice_pages(self, fetch: SiteFetcher, crawl: Crawl) -> None:
        """Fill presales from the notice page of rows that need it. What a page gave is kept (the
        store's memo, ``fetch.memo``) until the row changes; a page that failed is asked again when the
        row changes or its back-off ends, and keeps the list's dates (the presales come from history)."""
        wanted = [(i, t, row_fingerprint(t)) for i, t in enumerate(crawl.tickets) if needs_notice_page(t)]
        if not wanted:
            return
        memo = fetch.memo or NoticeMemo(SITE, self._reads, time.time)
        await memo.load([ticket.id for _, ticket, _ in wanted])
        read = 0
        for index, ticket, fingerprint in wanted:
            kept = memo.kept(ticket.id, fingerprint)
            if kept is not None:
                with contextlib.suppress(ValueError):
                    crawl.tickets[index] = apply_schedule(ticket, schedule_from_json(kept))
                    continue
            waiting = memo.waiting(ticket.id, fingerprint)
            if waiting is not None:
                crawl.tickets[index] = mark_incomplete(ticket, f"presales: {error_text(waiting)}", PRESALES)
                continue
            url = notice_url(ticket.id)
            try:
                response = await fetch.get(url, headers=NOTICE_PAGE_HEADERS)
                schedule = parse_detail(response.content, response.url)
            except (FetchError, ParseError) as exc:
                memo.failed(ticket.id, fingerprint, exc)
                crawl.tickets[index] = mark_incomplete(ticket, f"presales: {exc.reason}", PRESALES)
                continue
            read += 1
            memo.read(ticket.id, fingerprint, schedule_json(schedule))
            crawl.tickets[index] = apply_schedule(ticket, schedule)
        await memo.save()
        if read:
            crawl.notes.append(t("crawl.note.notice_pages", count=read))
        summary = memo.summary(t("notice_pages.kept_list_dates"))
        if summary:
            crawl.warnings.append(summary)


def list_params(offset: int) -> dict[str, str | int]:
    """The query of one list page, in the order the site's own page sends it."""
    return {
        "goodsGenre": "ALL",
        "goodsRegion": "ALL",
        "offset": offset,
        "pageSize": PAGE_SIZE,
        "sorting": "OPEN_ASC",
    }


CRAWLER = InterparkCrawler
