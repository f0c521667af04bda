"""What Interpark's two sources (the old API and NOL) share: title cleaning, category, notice ids."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from ticket_alarm.core.model import Category, clean_text

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
