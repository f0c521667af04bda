"""YES24 Ticket: the open-notice list, an HTML fragment answered to an AJAX POST.

``POST /New/Notice/Ajax/axList.aspx`` with the form
``page=N&size=20&genre=&province=&order=2&searchType=All&searchText=`` (``order=2``: by open date)
answers ``div.noti-tbl table``: a header row of ``th`` and then one row per notice of four plain
``td`` — category, title link ``<a href="#id=16914">``, open time, views. The crawl asks for page
1, 2, 3 … until a page holds no data rows.

Quirks handled here:
- Titles may hold UNESCAPED angle brackets (``<HEAVEN’S ECHO>``, ``<MOVE ON>``, ``<A Little Life>``
  written raw). An HTML parser would read them as tags and drop or restructure the text, so before
  parsing every ``<`` that does not open well-formed markup of the fragment (a known lower-case HTML
  tag with ``name="value"`` attributes, a closing tag, a comment) is escaped to ``&lt;``:
  the parser then sees the brackets as the text they are.
- Exclusive rows start the link with ``<em>단독판매</em>`` badges and put the title in the last
  ``<em>``; the badges are removed from the title and set ``exclusive``.
- The category cell says ``티켓오픈`` (``open``) or ``변경/취소`` (``change``); any other value
  (``서비스점검``: payment maintenance) is not a notice and yields no ticket. Such rows still count
  as data rows for the paging, so a page of maintenance rows does not end the crawl.
- ``추후공지`` (or an empty cell) means the open time is not announced: ``open_at`` is ``None``.
  A day without a time gives ``open_date``.
- Presales ride on ``a.noti-btn-pop`` in the date cell as single-quoted attributes
  ``presaleTit1='팬클럽 선예매' presaleTime1='2027.11.15(월) 20:00'`` (``…2``, ``…3`` …).
- Views are printed with thousands separators (``50,796``).
- Bodies are UTF-8; CP949 is the fallback when UTF-8 does not decode.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import ClassVar

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawlers.base import (
    Crawl,
    Crawler,
    Numbered,
    html_instead,
    is_challenge,
    paginate,
    parse_count,
    when_from,
)
from ticket_alarm.core.model import Category, Presale, Ticket, clean_text
from ticket_alarm.errors import ParseError
from ticket_alarm.fetch.decode import decode_text
from ticket_alarm.fetch.http import SiteFetcher
from ticket_alarm.i18n import t

SITE = "yes24"
BASE_URL = "https://ticket.yes24.com"
LIST_URL = f"{BASE_URL}/New/Notice/Ajax/axList.aspx"
NOTICE_PAGE = f"{BASE_URL}/New/Notice/NoticeMain.aspx"
NOTICE_URL = f"{NOTICE_PAGE}#id={{id}}"
PAGE_SIZE = 20
HEADERS = {
    "Referer": NOTICE_PAGE,
    "X-Requested-With": "XMLHttpRequest",
    "Accept": "text/html, */*; q=0.01",
}
EXCLUSIVE = "단독판매"


def layout_hint() -> str:
    return t("crawl.hint.yes24_layout")  # read when raised: the language of the moment


# --- the stray-bracket escape -------------------------------------------------------------------

# Elements real markup may use. Matched case-sensitively: the site writes lower-case tags, while a
# title's ``<MOVE ON>`` / ``<A Little Life>`` is upper- or mixed-case text.
_TAG_NAMES = (
    "a|abbr|article|b|big|body|br|button|caption|center|col|colgroup|dd|del|div|dl|dt|em|font|footer"
    "|form|h1|h2|h3|h4|h5|h6|head|header|hr|html|i|iframe|img|input|ins|label|li|link|main|mark|meta"
    "|nav|noscript|ol|option|p|pre|s|script|section|select|small|span|strike|strong|style|sub|sup"
    "|table|tbody|td|textarea|tfoot|th|thead|title|tr|u|ul"
)
# Real markup writes attributes as name="value"; only these may stand alone (``<td nowrap>``).
_BOOLEAN_ATTRS = "async|autofocus|checked|defer|disabled|hidden|multiple|nowrap|readonly|required|selected"
_ATTR = (
    r"""\s+(?:[A-Za-z_:][-A-Za-z0-9_:.]*\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>`]+)"""
    rf"|(?:{_BOOLEAN_ATTRS})(?![-\w=]))"
)
_TAG_NAME = rf"(?:{_TAG_NAMES})(?![-\w])"
# a `<` that does not open real markup; one substitution, no Python callback per tag. A `<` inside a
# quoted attribute value or a comment is escaped too, which the HTML parser decodes back to `<`.
_STRAY = re.compile(
    rf"<(?!{_TAG_NAME}(?:{_ATTR})*\s*/?>|/{_TAG_NAME}\s*>|!--.*?-->|!(?i:doctype)[^<>]*>)",
    re.S,
)


def escape_stray_brackets(text: str) -> str:
    """Escape every ``<`` that does not open real markup, so ``<HEAVEN’S ECHO>`` stays text."""
    return _STRAY.sub("&lt;", text)


# --- parsing (pure) ------------------------------------------------------------------------------

_ID = re.compile(r"(?:^|[#?&;])id=(\d+)")
_DATETIME = re.compile(
    r"(\d{4})\s*[.\-/]\s*(\d{1,2})\s*[.\-/]\s*(\d{1,2})\.?(?:\s*\([^)]*\))?(?:\s*(\d{1,2}):(\d{2}))?"
)
_PRESALE_ATTR = re.compile(r"^presale(?:tit|time)(\d{1,3})$")
_EXCLUSIVE_BADGES = (EXCLUSIVE, "단독")
_BADGE_PREFIX = re.compile(r"^[\[［【]\s*단독(?:판매)?\s*[\]］】]\s*")
_HTML_PAGE = re.compile(r"<html|<!doctype|<head|<body", re.I)


@dataclass(frozen=True, slots=True)
class NoticePage:
    """One list response: how many data rows it holds, and the notices among them."""

    rows: int  # data rows (the paging counts these; 서비스점검 rows included)
    tickets: list[Ticket] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (id, label) of non-notice rows


_TABLE_OPEN = re.compile(r"<table[\s>]", re.IGNORECASE)
_TABLE_CLOSE = re.compile(r"</table\s*>", re.IGNORECASE)


def parse(body: bytes | str, url: str = "") -> list[Ticket]:
    """The notices one list page lists, in its order (rows that are not notices left out)."""
    return parse_page(body, url).tickets


def parse_page(body: bytes | str, url: str = "") -> NoticePage:
    """Read one list response. Raises ``ParseError`` when it is not the notice table."""
    text = decode_text(body)
    where = url or t("yes24.the_list")
    escaped = escape_stray_brackets(text)
    tree = LexborHTMLParser(escaped)
    table = tree.css_first("div.noti-tbl table")
    if table is None:
        if not text.strip() or is_challenge(text) or _HTML_PAGE.search(text[:4096]):
            # a bot challenge (proxy hint), or a whole page of the site's where the fragment was due
            raise html_instead(SITE, text, where, t("yes24.the_table"))
        raise ParseError(SITE, t("yes24.no_table", where=where), hint=layout_hint())
    listing = escaped[escaped.find("noti-tbl") :]
    if len(_TABLE_CLOSE.findall(listing)) < len(_TABLE_OPEN.findall(listing)):  # cut short: rows lost
        raise ParseError(
            SITE,
            t("yes24.cut_short", where=where),
            hint=t("crawl.hint.truncated"),
        )
    # Data rows hold cells; the header row holds only th, and a lone cell (``<td colspan="4">``) is
    # a "nothing listed" message, not a notice.
    rows = [tr for tr in table.css("tr") if len(tr.css("td")) >= 2]
    tickets: list[Ticket] = []
    skipped: list[tuple[str, str]] = []
    for tr in rows:
        cells = tr.css("td")
        label = " ".join(cells[0].text(deep=True).split())
        category = category_of(label)
        if category is None:
            skipped.append((_notice_id(cells[1]), label))
            continue
        tickets.append(_ticket(cells, category))
    if rows and not tickets and not any(notice_id for notice_id, _ in skipped):
        raise ParseError(
            SITE,
            t(
                "yes24.no_rows",
                count=len(rows),
                where=where,
                categories=", ".join(sorted({label for _, label in skipped}))[:200],
            ),
            hint=layout_hint(),
        )
    return NoticePage(rows=len(rows), tickets=tickets, skipped=skipped)


def category_of(label: str) -> Category | None:
    """``변경/취소`` → change, ``티켓오픈`` (any ``…오픈``) → open, else (``서비스점검``) → not a notice."""
    compact = label.replace(" ", "")
    if "변경" in compact or "취소" in compact:
        return "change"
    if "오픈" in compact:
        return "open"
    return None


def parse_datetime(text: str) -> tuple[datetime | None, date | None]:
    """``2027.11.11(목) 20:00`` → (open_at, None); a day alone → (None, day); else (None, None)."""
    return when_from(_DATETIME.search(text))


def _ticket(cells: list[LexborNode], category: Category) -> Ticket:
    title_cell = cells[1]
    notice_id = _notice_id(title_cell)
    title, exclusive = _title(title_cell)
    date_cell = cells[2] if len(cells) > 2 else None
    open_at, open_date = parse_datetime(date_cell.text(deep=True)) if date_cell is not None else (None, None)
    return Ticket(
        site=SITE,
        id=notice_id,
        title=title,
        url=NOTICE_URL.format(id=notice_id) if notice_id else NOTICE_PAGE,
        open_at=open_at,
        open_date=open_date,
        category=category,
        exclusive=exclusive,
        presales=_presales(date_cell),
        views=parse_count(cells[3].text(deep=True)) if len(cells) > 3 else None,
    )


def _link(cell: LexborNode | None) -> LexborNode | None:
    if cell is None:
        return None
    for a in cell.css("a"):
        if _ID.search(a.attributes.get("href") or ""):
            return a
    return cell.css_first("a")


def _notice_id(cell: LexborNode | None) -> str:
    link = _link(cell)
    match = _ID.search((link.attributes.get("href") or "") if link is not None else "")
    return match[1] if match else ""


def _title(cell: LexborNode | None) -> tuple[str, bool]:
    """The clean title and whether a 단독판매 badge marked it exclusive."""
    if cell is None:
        return "", False
    node = _link(cell) or cell
    ems = [child for child in node.iter() if child.tag == "em"]
    badges = [em for em in ems if _is_badge(em.text(deep=True))]
    if len(ems) >= 2 and not clean_text(node.text(deep=False)):
        # ``<em>badge</em>…<em>title</em>``: everything before the last <em> is a badge.
        badges = [*ems[:-1], *(em for em in badges if em is ems[-1])]
    exclusive = any(_badge_name(em.text(deep=True)) in _EXCLUSIVE_BADGES for em in badges)
    for em in badges:
        em.decompose()
    title = clean_text(node.text(deep=True))
    match = _BADGE_PREFIX.match(title)
    if match:  # a badge written as text: ``[단독판매] 제목``
        exclusive = True
        title = title[match.end() :]
    return title, exclusive


def _badge_name(text: str) -> str:
    return clean_text(text).strip("[]［］【】() ")


def _is_badge(text: str) -> bool:
    return _badge_name(text) in _EXCLUSIVE_BADGES


def _presales(cell: LexborNode | None) -> tuple[Presale, ...]:
    """``presaleTitN``/``presaleTimeN`` attribute pairs of the date cell's ``a.noti-btn-pop``."""
    if cell is None:
        return ()
    out: list[Presale] = []
    for button in cell.css(".noti-btn-pop"):
        attrs = {name.lower(): value or "" for name, value in button.attributes.items()}
        numbers = sorted({int(m[1]) for name in attrs if (m := _PRESALE_ATTR.match(name))})
        for number in numbers:
            name = clean_text(attrs.get(f"presaletit{number}"))
            when = clean_text(attrs.get(f"presaletime{number}"))
            if not name and not when:
                continue
            presale = Presale(name or "선예매", parse_datetime(when)[0])
            if presale not in out:
                out.append(presale)
    return tuple(out)


# --- the crawler ---------------------------------------------------------------------------------


def list_form(page: int) -> dict[str, str]:
    """The form the notice page's script posts (field order as the browser sends it)."""
    return {
        "page": str(page),
        "size": str(PAGE_SIZE),
        "genre": "",
        "province": "",
        "order": "2",
        "searchType": "All",
        "searchText": "",
    }


def head_form(page: int) -> dict[str, str]:
    """The list form in registration order (``order=1``), newest first: a new notice is on page 1."""
    return {**list_form(page), "order": "1"}


class Yes24Crawler(Crawler):
    name: ClassVar[str] = SITE
    display_name: ClassVar[str] = "YES24 티켓"
    color: ClassVar[int] = 0x0080FF
    usual_minimum: ClassVar[int] = 20

    async def crawl(self, fetch: SiteFetcher) -> Crawl:
        """Post page 1, 2, 3 … until a page holds no data rows (or ``page_cap`` pages)."""
        crawl = Crawl()
        skipped: list[str] = []
        async for _, result in paginate(self._list(fetch, list_form, ""), PAGING, self.page_cap, crawl):
            crawl.add(result.tickets)
            skipped += [
                f"{notice_id or '?'} ({label or 'no category'})" for notice_id, label in result.skipped
            ]
        if skipped:
            crawl.notes.append(t("crawl.note.not_notices", count=len(skipped), rows=", ".join(skipped)))
        return crawl

    def head_pages(self, fetch: SiteFetcher) -> AsyncIterator[list[Ticket]]:
        return self._head_pages(fetch)

    async def _head_pages(self, fetch: SiteFetcher) -> AsyncIterator[list[Ticket]]:
        request = self._list(fetch, head_form, "registration order, ")
        async for _, result in paginate(request, PAGING, self.page_cap):
            if result.rows:  # a page without rows ends the list; it is no page of notices
                yield result.tickets

    @staticmethod
    def _list(
        fetch: SiteFetcher, form: Callable[[int], dict[str, str]], order: str
    ) -> Callable[[int], Awaitable[NoticePage]]:
        async def request(page: int) -> NoticePage:
            response = await fetch.post(LIST_URL, data=form(page), headers=HEADERS)
            return parse_page(response.content, f"{response.url} ({order}page {page})")

        return request


# pages 1, 2, 3 … until one holds no data rows
PAGING: Numbered[NoticePage] = Numbered(SITE, lambda _, result: result.rows == 0)


CRAWLER = Yes24Crawler
