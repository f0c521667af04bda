"""What Interpark's two sources (the old API and NOL) share: title cleaning, category, notice ids."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from crawlers.base import parse_count
from ticket_alarm.core.model import Category, Ticket, clean_text

SITE = "interpark"  # NOL is a source of the interpark site, not a site of its own
EXCLUSIVE = "단독판매"  # the seat type of an exclusive sale

# Formatting tags a title may carry; any other ``<...>`` (``<HOMECOMING>``) is title text and kept.
_MARKUP = re.compile(r"</?(?:b|strong|em|i|u|s|span|font|mark|small|big|sup|sub)\b[^<>]*>|<br\s*/?>", re.I)
# A badge at the start of a title: [단독판매], ［단독］, 【단독판매】 …
_BADGE = re.compile(r"^\s*[\[［【]\s*(?:단독판매|단독)\s*[\]］】]\s*")
_CHANGE_WORDS = ("변경", "취소")


def clean_title(raw: str) -> str:
    """Formatting tags and entities out, a leading 단독판매 badge off, whitespace collapsed."""
    text = html.unescape(_MARKUP.sub("", raw))
    return clean_text(_BADGE.sub("", clean_text(text)))


def category_of(open_type: str, title: str) -> Category:
    """``change`` for a 변경/취소 open type or a ``[변경]`` title badge, else ``open`` (both sources)."""
    if any(word in open_type for word in _CHANGE_WORDS):
        return "change"
    if re.match(r"^[\[［【(]\s*(?:변경|취소|변경/취소)\s*[\]］】)]", title):
        return "change"
    return "open"


def notice_id_text(value: object) -> str:
    """A notice id as text (``10063`` → ``"10063"``); anything that is not an id → ``""``."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value) if 0 <= value < 10**18 else ""
    if isinstance(value, float) and value.is_integer() and 0 <= value < 1e18:
        return str(int(value))
    if isinstance(value, str):
        return clean_text(value)
    return ""


NOTICE_URL = "https://tickets.interpark.com/contents/notice/detail/{id}"  # both sources' notices live here


def notice_url(notice_id: str) -> str:
    """The public notice page of a notice id (the old API's and NOL's ids are the same notices)."""
    return NOTICE_URL.format(id=quote(notice_id, safe=""))


def booking_url(template: str, code: str) -> str:
    """The booking page of a goods code in ``template`` (each source has its own), or "" without one."""
    return template.format(code=quote(code, safe="")) if code else ""


def text(value: object) -> str:
    """A JSON value that should be a string, or "" (a number, null or a list is not a title)."""
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class SourceKeys:
    """Where one source's notice object keeps what both sources list, and its booking page."""

    seat: str  # the seat type: 단독판매 marks an exclusive sale
    venue: str
    genre: str
    views: str
    booking: str  # the booking page template (``{code}``)

    def ticket(
        self,
        item: Mapping[str, Any],
        notice_id: str,
        title: str,
        code: str,
        extra: Mapping[str, str],
        read: Mapping[str, Any],
    ) -> Ticket:
        """One notice object as an interpark Ticket; ``read`` holds what the source reads its own way
        (``open_at``, ``open_date``, ``presales``, ``category``, ``image_url``). Empty extras are dropped."""
        return Ticket(
            site=SITE,
            id=notice_id,
            title=title,
            url=notice_url(notice_id),
            exclusive=clean_text(text(item.get(self.seat))) == EXCLUSIVE,
            venue=clean_text(text(item.get(self.venue))),
            genre=clean_text(text(item.get(self.genre))),
            booking_url=booking_url(self.booking, code),
            views=parse_count(item.get(self.views)),
            extra={k: v for k, v in extra.items() if v},
            **read,
        )
