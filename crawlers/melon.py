"""Melon Ticket (멜론티켓): the "티켓오픈 소식" list, an HTML fragment paged by row offset.

Request: ``GET /csoon/ajax/listTicketOpen.htm?orderType=2&pageIndex=1&schGcode=GENRE_ALL&schText=&schDt=``
with the list page as Referer and ``X-Requested-With: XMLHttpRequest``. ``pageIndex`` is a 1-based
row offset (1, 11, 21, …), ten rows a page; a page with fewer than ten rows is the last one.

Each ``ul.list_ticket_cont > li`` is one notice. Rows whose date reads ``오픈일정 보기`` (several open
dates) carry their schedule only on the notice page ``/csoon/detail.htm?csoonId={id}``
(``dl.schedule_info``: ``티켓오픈`` is the open time, every other entry a presale).

Quirks handled here:
- a time of ``23:23`` is Melon's "time not announced" marker: ``open_at`` None, ``open_date`` set;
- HTTP 423 Locked is Melon throttling this client: it becomes ``SiteLockedError`` (no retry), so the
  pipeline leaves Melon alone for ``sites.melon.lock_cooldown``;
- badges in ``.point`` other than ``단독판매`` (e.g. ``1열보유``) are not exclusivity;
- poster URLs end in a ``/melon/resize/65x92/strip/true`` thumbnail suffix, stripped for the full image;
- an obviously mistyped year (``2054.10.19``) is kept as printed: we do not guess what Melon meant.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from typing import ClassVar, NamedTuple
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawlers.base import (
    Crawl,
    Crawler,
    Numbered,
    Schedule,
    SiteSettings,
    challenge_hint,
    is_challenge,
    mark_incomplete,
    paginate,
    parse_count,
    row_fingerprint,
    schedule_json,
)
from ticket_alarm.core.model import Category, Presale, Ticket, clean_text, seoul
from ticket_alarm.core.notice_memo import MemoryReads, NoticeMemo, error_text
from ticket_alarm.errors import FetchError, ParseError, SiteLockedError
from ticket_alarm.fetch.decode import decode_text
from ticket_alarm.fetch.http import FetchResponse, SiteFetcher
from ticket_alarm.i18n import t

SITE = "melon"
PUBLIC_BASE = "https://ticket.melon.com"
LIST_URL = f"{PUBLIC_BASE}/csoon/ajax/listTicketOpen.htm"
LIST_PAGE = f"{PUBLIC_BASE}/csoon/index.htm"  # the page the list fragment is loaded into
DETAIL_URL = f"{PUBLIC_BASE}/csoon/detail.htm"
PAGE_SIZE = 10

LIST_HEADERS = {"Referer": LIST_PAGE, "X-Requested-With": "XMLHttpRequest"}
# the recorded detail request (INDEX.json) carried the same XHR headers as the list
DETAIL_HEADERS = {"Referer": LIST_PAGE, "X-Requested-With": "XMLHttpRequest"}

HEAD_INCOMPLETE = "open schedule on the notice page, read only for a new notice"
DETAIL_MARKER = "오픈일정 보기"  # the date cell of a notice with several open dates
UNANNOUNCED_TIME = (23, 23)  # Melon prints 23:23 when the time is not announced yet
EXCLUSIVE_BADGE = "단독판매"
OPEN_LABEL = "티켓오픈"
_CHANGE_WORDS = ("변경", "취소", "연기", "중지", "중단")
_GENERAL_OPEN_WORDS = ("티켓오픈", "티켓 오픈", "일반예매", "일반 예매", "일반판매")

_ID_RE = re.compile(r"csoonId=(\d+)")
_LIST_DATE_RE = re.compile(
    r"(\d{4})\s*[.\-/]\s*(\d{1,2})\s*[.\-/]\s*(\d{1,2})\.?(?:\s*\([^)]*\))?(?:\s*(\d{1,2})\s*:\s*(\d{2}))?"
)
_KOREAN_DATE_RE = re.compile(
    r"(\d{4})\s*년\s*(\d{1,2})\s*월\s*(\d{1,2})\s*일(?:\s*\([^)]*\))?(?:\s*(\d{1,2})\s*:\s*(\d{2}))?"
)
_THUMBNAIL_SUFFIX_RE = re.compile(r"/melon/resize/[^?#]*")


def _layout_hint() -> str:
    return t("crawl.hint.melon_layout")  # read when raised: the language of the moment


class When(NamedTuple):
    """A parsed open time: ``at`` when date and time are known, ``day`` when only the date is."""

    at: datetime | None
    day: date | None


# --- pure parsing ---------------------------------------------------------------------


_UL_OPEN = re.compile(r"<ul[\s>]", re.IGNORECASE)
_UL_CLOSE = re.compile(r"</ul\s*>", re.IGNORECASE)


def parse(body: bytes | str, url: str = "") -> list[Ticket]:
    """Tickets of one ``listTicketOpen.htm`` response, in list order.

    Raises ParseError when the body is not a Melon list fragment (challenge or error page,
    changed layout); a well-formed empty list gives ``[]``.
    """
    tree = _html(body, url)
    where = url or t("melon.the_list")
    if tree.css_first("ul.list_ticket_cont") is None:
        raise _not_the_page(tree, body, t("melon.no_list", where=where))
    text = decode_text(body)
    listing = text[text.find("list_ticket_cont") :]
    if len(_UL_CLOSE.findall(listing)) <= len(_UL_OPEN.findall(listing)):  # cut short: the parser closes it,
        raise ParseError(  # a short page reads as the list's end and the later pages' notices go missing
            SITE,
            t("melon.cut_short", where=where),
            hint=t("crawl.hint.truncated"),
        )
    rows = tree.css("ul.list_ticket_cont > li")
    tickets: list[Ticket] = []
    unknown = 0
    for li in rows:
        if not _looks_like_notice(li):
            unknown += 1  # e.g. a "no notices" message row
            continue
        tickets.append(_row_ticket(li))
    if unknown and not tickets and not _is_no_data_message(rows):
        raise ParseError(
            SITE,
            t("melon.no_rows", count=len(rows), where=where),
            hint=_layout_hint(),
        )
    return tickets


def parse_detail(body: bytes | str, url: str = "") -> Schedule:
    """The open schedule of a notice page (``/csoon/detail.htm?csoonId=…``).

    ``티켓오픈`` is the open time; every other entry (``팬클럽 선예매(FC)``, ``선예매`` …) is a presale.
    """
    tree = _html(body, url)
    lists = tree.css("dl.schedule_info")
    if not lists:
        raise _not_the_page(tree, body, t("melon.no_schedule", url=url or "").rstrip(" :"))
    entries: list[tuple[str, When]] = []
    for dl in lists:
        label = ""
        for node in dl.iter():
            if node.tag == "dt":
                label = clean_text(node.text())
            elif node.tag == "dd":
                entries.append((label, parse_when(node.text())))
                label = ""
    open_index = _open_entry(entries)
    open_when = entries[open_index][1] if open_index is not None else When(None, None)
    presales = tuple(
        Presale(label or "선예매", when.at) for i, (label, when) in enumerate(entries) if i != open_index
    )
    return Schedule(open_at=open_when.at, open_date=open_when.day, presales=presales)


def parse_notice_page(body: bytes | str, url: str = "") -> Schedule | None:
    """A saved notice page (``detail.htm``) as its schedule (``test-crawlers --file``); ``None`` when
    the body is not a notice page (a list fragment)."""
    if "schedule_info" not in decode_text(body):
        return None
    return parse_detail(body, url)


def parse_when(text: str | None) -> When:
    """``2027.12.03(금) 20:00`` or ``2027년 12월 2일 (목) 20:00`` → When; 23:23 → date only.

    Text without a date (``오픈일정 보기``, ``추후공지``) or an impossible date gives ``When(None, None)``.
    A year is kept as printed, even an obvious typo such as 2054.
    """
    text = clean_text(text)
    match = _LIST_DATE_RE.search(text) or _KOREAN_DATE_RE.search(text)
    if not match:
        return When(None, None)
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    try:
        the_day = date(year, month, day)
    except ValueError:
        return When(None, None)
    if match[4] is None:
        return When(None, the_day)
    hour, minute = int(match[4]), int(match[5])
    if (hour, minute) == UNANNOUNCED_TIME or hour > 23 or minute > 59:
        return When(None, the_day)
    return When(seoul(year, month, day, hour, minute), None)


def notice_url(notice_id: str) -> str:
    return f"{DETAIL_URL}?csoonId={notice_id}"


def needs_detail(ticket: Ticket) -> bool:
    """True for a row whose open dates are only on its notice page (``오픈일정 보기``)."""
    return ticket.extra.get("open_text") == DETAIL_MARKER


def apply_schedule(ticket: Ticket, schedule: Schedule) -> Ticket:
    return ticket.with_(open_at=schedule.open_at, open_date=schedule.open_date, presales=schedule.presales)


# --- parsing helpers ------------------------------------------------------------------


def _html(body: bytes | str, url: str) -> LexborHTMLParser:
    if not isinstance(body, bytes | str):
        raise ParseError(SITE, f"expected bytes or str, got {type(body).__name__}")
    text = decode_text(body).replace("\x00", "")
    try:
        return LexborHTMLParser(text)
    except (RuntimeError, ValueError) as exc:  # lexbor refuses the document
        reason = t("melon.unparseable", where=url or "Melon", error=exc)
        raise ParseError(SITE, reason, hint=_layout_hint()) from exc


def _not_the_page(tree: LexborHTMLParser, body: bytes | str, reason: str) -> ParseError:
    title_node = tree.css_first("title")
    title = clean_text(title_node.text()) if title_node is not None else ""
    if body and is_challenge(decode_text(body)):
        shown = title or t("melon.no_title")
        return ParseError(SITE, t("melon.challenge", reason=reason, title=shown), hint=challenge_hint())
    if tree.body is None or not clean_text(tree.body.text()):
        return ParseError(SITE, t("melon.empty_body", reason=reason), hint=_layout_hint())
    detail = t("melon.page_title", title=title) if title else ""
    return ParseError(SITE, f"{reason}{detail}", hint=_layout_hint())


def _looks_like_notice(li: LexborNode) -> bool:
    return any(li.css_first(q) is not None for q in (".ticket_data", ".link_consert", "a.tit"))


def _is_no_data_message(rows: list[LexborNode]) -> bool:
    text = " ".join(clean_text(li.text()) for li in rows)
    return any(word in text for word in ("없습니다", "없어요", "no data"))


def _row_ticket(li: LexborNode) -> Ticket:
    link = li.css_first(".link_consert a.tit") or li.css_first("a.tit")
    title, badge_exclusive = _title(link) if link is not None else ("", False)
    notice_id = _notice_id(link) or _notice_id(li.css_first("a.poster")) or ""
    state = _text(li.css_first(".ticket_data .ticket_state") or li.css_first(".ticket_state"))
    open_text = _text(li.css_first(".ticket_data .date") or li.css_first("span.date"))
    when = parse_when(open_text)
    badges = [_text(span) for span in li.css(".point span")]
    extra: dict[str, str] = {"state": state, "open_text": open_text}
    posted = _text(li.css_first(".register_info .txt_date"))
    if posted:
        extra["posted"] = posted
    if badges:
        extra["badges"] = ", ".join(b for b in badges if b)
    return Ticket(
        site=SITE,
        id=notice_id,
        title=title,
        url=notice_url(notice_id) if notice_id else "",
        open_at=when.at,
        category=_category(state),
        exclusive=badge_exclusive or EXCLUSIVE_BADGE in badges,
        image_url=_poster(li.css_first("a.poster img") or li.css_first("img")),
        views=parse_count(_text(li.css_first(".register_info .txt_review") or li.css_first(".txt_review"))),
        open_date=when.day,
        extra=extra,
    )


def _text(node: LexborNode | None) -> str:
    return clean_text(node.text()) if node is not None else ""


def _title(link: LexborNode) -> tuple[str, bool]:
    """The link's text without badge elements (``<span>단독판매</span>``); entities are decoded."""
    parts: list[str] = []
    exclusive = False
    for node in link.iter(include_text=True):
        if node.tag == "-text":
            parts.append(node.text_content or "")
            continue
        if _text(node) in (EXCLUSIVE_BADGE, f"[{EXCLUSIVE_BADGE}]"):
            exclusive = True
            parts.append(" ")
            continue
        parts.append(node.text())
    return clean_text("".join(parts)), exclusive


def _notice_id(node: LexborNode | None) -> str:
    if node is None:
        return ""
    match = _ID_RE.search(node.attributes.get("href") or "")
    return match[1] if match else ""


def _category(state: str) -> Category:
    return "change" if any(word in state for word in _CHANGE_WORDS) else "open"


def _poster(img: LexborNode | None) -> str:
    if img is None:
        return ""
    src = clean_text(img.attributes.get("src") or "")
    if not src or src.startswith(("data:", "javascript:")):
        return ""
    src = _THUMBNAIL_SUFFIX_RE.sub("", src)
    try:
        return urljoin(LIST_PAGE, src)
    except ValueError:  # e.g. a malformed host such as "https://[cdn…"
        return ""


def _open_entry(entries: list[tuple[str, When]]) -> int | None:
    """Which schedule entry is the general open: ``티켓오픈`` exactly, else the first general-sale one."""
    for i, (label, _) in enumerate(entries):
        if label.replace(" ", "") == OPEN_LABEL:
            return i
    for i, (label, _) in enumerate(entries):
        if any(word in label for word in _GENERAL_OPEN_WORDS) and "선예매" not in label:
            return i
    return None


# --- the crawler ----------------------------------------------------------------------


# ``pageIndex`` is a 1-based row offset (1, 1 + PAGE_SIZE …), not a page number; a short page ends the list
PAGING: Numbered[list[Ticket]] = Numbered(SITE, lambda _, tickets: len(tickets) < PAGE_SIZE, step=PAGE_SIZE)


class MelonCrawler(Crawler):
    name: ClassVar[str] = SITE
    display_name: ClassVar[str] = "멜론티켓"
    color: ClassVar[int] = 0x00CD3C  # Melon green
    usual_minimum: ClassVar[int] = 10

    def __init__(self, settings: SiteSettings | None = None) -> None:
        super().__init__(settings)
        self._reads = MemoryReads()  # failed notice pages, when no store keeps them (``fetch.memo``)

    async def crawl(self, fetch: SiteFetcher) -> Crawl:
        crawl = Crawl()
        async for _, tickets in paginate(
            self._list(fetch, "2"), PAGING, self.page_cap, crawl
        ):  # by open date
            crawl.add(tickets)
        wanted = [(i, t) for i, t in enumerate(crawl.tickets) if needs_detail(t) and t.id]
        if wanted:
            # a notice page that failed waits out its back-off (kept in the store); a read one is read
            # again every sweep: its list row does not change when the schedule on it does
            memo = fetch.memo or NoticeMemo(SITE, self._reads, time.time)
            await memo.load([t.id for _, t in wanted])
            for index, ticket in wanted:
                crawl.tickets[index] = await self._with_detail(fetch, ticket, memo)
            await memo.save()
            summary = memo.summary(t("notice_pages.kept_schedule"))
            if summary:
                crawl.warnings.append(summary)
        return crawl

    def head_pages(self, fetch: SiteFetcher) -> AsyncIterator[list[Ticket]]:
        return self._head_pages(fetch)

    async def _head_pages(self, fetch: SiteFetcher) -> AsyncIterator[list[Ticket]]:
        """Registration order (``orderType=0``). Rows whose schedule is on their notice page come
        marked incomplete: only a never-seen one is read whole (``complete``), not every poll."""
        async for _, tickets in paginate(self._list(fetch, "0"), PAGING, self.page_cap):  # newest first
            yield [
                mark_incomplete(ticket, HEAD_INCOMPLETE) if needs_detail(ticket) else ticket
                for ticket in tickets
            ]

    def _list(self, fetch: SiteFetcher, order: str) -> Callable[[int], Awaitable[list[Ticket]]]:
        """The request of one list page in ``orderType`` ``order``, by its 1-based row offset."""

        async def request(row: int) -> list[Ticket]:
            params = {
                "orderType": order,
                "pageIndex": str(row),
                "schGcode": "GENRE_ALL",
                "schText": "",
                "schDt": "",
            }
            response = await self._get(fetch, LIST_URL, params, LIST_HEADERS)
            return parse(response.content, response.url)

        return request

    async def complete(self, fetch: SiteFetcher, ticket: Ticket) -> Ticket:
        if ticket.incomplete is None or ticket.incomplete.why != HEAD_INCOMPLETE:
            return ticket
        listed = ticket.with_(incomplete=None)
        # a failed notice page comes back marked incomplete with the reason; the pipeline logs it
        return await self._with_detail(fetch, listed, None)

    async def _with_detail(self, fetch: SiteFetcher, ticket: Ticket, memo: NoticeMemo | None) -> Ticket:
        """The ticket with its notice page's schedule; marked incomplete (its schedule unread: the
        pipeline keeps history's) when that fails or waits out its back-off."""
        if not ticket.id:
            return ticket
        fingerprint = row_fingerprint(ticket)
        waiting = memo.waiting(ticket.id, fingerprint) if memo else None
        if waiting is not None:
            return mark_incomplete(ticket, f"open schedule: {error_text(waiting)}")
        try:
            response = await self._get(fetch, DETAIL_URL, {"csoonId": ticket.id}, DETAIL_HEADERS)
            schedule = parse_detail(response.content, response.url)
        except (FetchError, ParseError) as exc:
            if memo is not None:
                memo.failed(ticket.id, fingerprint, exc)
            return mark_incomplete(ticket, f"open schedule: {exc.reason}")
        if memo is not None:
            memo.read(ticket.id, fingerprint, schedule_json(schedule))
        return apply_schedule(ticket, schedule)

    async def _get(
        self, fetch: SiteFetcher, url: str, params: dict[str, str], headers: dict[str, str]
    ) -> FetchResponse:
        try:
            return await fetch.get(url, params=params, headers=headers)
        except FetchError as exc:
            if exc.status == 423:
                raise SiteLockedError(
                    SITE,
                    t("melon.locked", url=exc.url or url),
                    cooldown=self.settings.lock_cooldown,
                    hint=t("crawl.hint.melon_lock"),
                ) from exc
            raise


CRAWLER = MelonCrawler
