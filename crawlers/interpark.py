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
  page with status 200: that is a ``ParseError`` with a proxy hint, never ``[]``.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar
from urllib.parse import quote

from crawlers.base import Crawl, Crawler
from ticket_alarm.errors import ParseError
from ticket_alarm.http import SiteFetcher
from ticket_alarm.model import Category, Ticket, clean_text, seoul

SITE = "interpark"
BASE_URL = "https://tickets.interpark.com"
LIST_URL = f"{BASE_URL}/contents/api/open-notice/notice-list"
NOTICE_URL = f"{BASE_URL}/contents/notice/detail/{{id}}"
BOOKING_URL = f"{BASE_URL}/goods/{{code}}"
PAGE_SIZE = 50
HEADERS = {
    "Referer": f"{BASE_URL}/contents/notice",
    "Accept": "application/json, text/plain, */*",
}
EXCLUSIVE = "단독판매"
CHALLENGE_HINT = "challenge page: the site may be blocking this IP; try `proxy`"

# Formatting tags a title may carry; any other ``<...>`` (``<HOMECOMING>``) is title text and kept.
_MARKUP = re.compile(r"</?(?:b|strong|em|i|u|s|span|font|mark|small|big|sup|sub)\b[^<>]*>|<br\s*/?>", re.I)
# A badge at the start of a title: [단독판매], ［단독］, 【단독판매】 …
_BADGE = re.compile(r"^\s*[\[［【]\s*(?:단독판매|단독)\s*[\]］】]\s*")
_CHANGE_WORDS = ("변경", "취소")
_DATE = re.compile(
    r"^\s*(\d{4})[-./](\d{1,2})[-./](\d{1,2})\.?"
    r"(?:(?:\s+|T|\s*\([^)]*\)\s*)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
)
_HTML_HEAD = re.compile(r"^\s*<|<html|<!doctype|<head|<body|just a moment|cf-chl|captcha", re.I)


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
    if items and not any("noticeId" in item or "title" in item for item in items):
        raise ParseError(
            SITE,
            f"list items from {url or 'the site'} have neither noticeId nor title "
            f"(keys: {', '.join(sorted(items[0])[:8]) or 'none'}): the API changed",
            hint="the crawler needs updating",
        )
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
    where = url or "the site"
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ParseError(SITE, f"response from {where} is not UTF-8 JSON: {exc}") from exc
    else:
        text = body.removeprefix("\ufeff")
    head = text[:1024]
    if _HTML_HEAD.search(head) and not head.lstrip().startswith(("[", "{")):
        raise ParseError(
            SITE,
            f"HTML where the JSON notice list was expected from {where} (a challenge or error page?)",
            hint=CHALLENGE_HINT,
        )
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ParseError(SITE, f"unparseable JSON from {where}: {exc}") from exc
    if isinstance(data, dict):
        detail = data.get("message") or data.get("error") or ", ".join(sorted(map(str, data))[:8])
        raise ParseError(
            SITE,
            f"a JSON object where the notice array was expected from {where}: {str(detail)[:200]}",
            hint="the API changed or refused the request; the crawler needs updating",
        )
    if not isinstance(data, list):
        raise ParseError(SITE, f"JSON {type(data).__name__} where the notice array was expected from {where}")
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise ParseError(
                SITE,
                f"list item {index} from {where} is a JSON {type(item).__name__}, not an object: "
                "the API changed",
                hint="the crawler needs updating",
            )
    return data


def notice_ticket(item: dict[str, Any]) -> Ticket:
    """One notice object (a row or a group member) as a Ticket; missing fields stay empty."""
    notice_id = _id(item.get("noticeId"))
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
    if item.get("isToping") is True:
        extra["toping"] = "true"  # membership (토핑) presale; its time is only on the detail page
    if item.get("isHot") is True:
        extra["hot"] = "true"
    return Ticket(
        site=SITE,
        id=notice_id,
        title=title,
        url=NOTICE_URL.format(id=quote(notice_id, safe="")),
        open_at=open_at,
        open_date=open_date,
        category=_category(item, title),
        exclusive=clean_text(_str(item.get("goodsSeatTypeStr"))) == EXCLUSIVE,
        venue=clean_text(_str(item.get("venueName"))),
        genre=clean_text(_str(item.get("goodsGenreStr"))),
        image_url=_image(_str(item.get("posterImageUrl"))),
        booking_url=BOOKING_URL.format(code=quote(code, safe="")) if code else "",
        views=_views(item.get("viewCount")),
        extra={k: v for k, v in extra.items() if v},
    )


def clean_title(raw: str) -> str:
    """Formatting tags and entities out, a leading 단독판매 badge off, whitespace collapsed."""
    text = html.unescape(_MARKUP.sub("", raw))
    return clean_text(_BADGE.sub("", clean_text(text)))


def parse_open(text: str, *, general_later: object = False) -> tuple[datetime | None, date | None]:
    """``openDateStr`` → (open_at, open_date). TBA (``isGeneralLater``, empty, unreadable) → (None, None);
    a date without a time → (None, that date)."""
    if general_later is True:
        return None, None
    match = _DATE.match(text)
    if not match:
        return None, None
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    try:
        if match[4] is None:
            return None, date(year, month, day)
        return seoul(year, month, day, int(match[4]), int(match[5]), int(match[6] or 0)), None
    except ValueError:
        return None, None


def _category(item: dict[str, Any], title: str) -> Category:
    open_type = _str(item.get("openTypeStr"))
    if any(word in open_type for word in _CHANGE_WORDS):
        return "change"
    if re.match(r"^[\[［【(]\s*(?:변경|취소|변경/취소)\s*[\]］】)]", title):
        return "change"
    return "open"


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _id(value: object) -> str:
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value) if 0 <= value < 10**18 else ""
    if isinstance(value, float) and value.is_integer() and 0 <= value < 1e18:
        return str(int(value))
    if isinstance(value, str):
        return clean_text(value)
    return ""


def _views(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str):
        digits = value.replace(",", "").strip()
        if digits.isascii() and digits.isdigit() and len(digits) < 19:
            return int(digits)
    return None


def _image(url: str) -> str:
    url = url.strip()
    if url.startswith("//"):
        return "https:" + url
    return url if url.startswith(("https://", "http://")) else ""


# --- crawling --------------------------------------------------------------------------------------


class InterparkCrawler(Crawler):
    name: ClassVar[str] = SITE
    display_name: ClassVar[str] = "인터파크 티켓"
    color: ClassVar[int] = 0xEF3E43
    default_base_url: ClassVar[str] = BASE_URL
    usual_minimum: ClassVar[int] = 20

    async def crawl(self, fetch: SiteFetcher) -> Crawl:
        crawl = Crawl()
        members: list[Ticket] = []
        offset = 0
        while True:
            if crawl.pages >= self.page_cap:
                crawl.capped = True
                break
            response = await fetch.get(LIST_URL, params=list_params(offset), headers=HEADERS)
            page = parse_page(response.content, response.url)
            crawl.pages += 1
            added = crawl.add(page.tickets)
            members.extend(page.members)
            if page.rows < PAGE_SIZE:
                break  # the list's end
            if added == 0:
                crawl.warnings.append(f"offset {offset}: a full page of notices already seen; stopped paging")
                break
            offset += PAGE_SIZE
        unlisted = crawl.add(members)
        if unlisted:
            crawl.notes.append(f"{unlisted} group member(s) not listed as rows of their own")
        return crawl


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
