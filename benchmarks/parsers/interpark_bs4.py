"""Benchmark twin of ``crawlers.interpark.site.parse``: json for the list, BeautifulSoup for title markup.

Benchmark-only (bs4 is not a runtime dependency). Extracts the same fields as the crawler's parser
for each row of one list page, as plain dicts.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any
from urllib.parse import quote

from bs4 import BeautifulSoup

from ticket_alarm.core.model import clean_text, seoul

SITE = "interpark"
NOTICE_URL = "https://tickets.interpark.com/contents/notice/detail/{id}"
BOOKING_URL = "https://tickets.interpark.com/goods/{code}"
_TAGS = "b|strong|em|i|u|s|span|font|mark|small|big|sup|sub|br"
# A ``<`` that does not open a formatting tag is title text (``<HOMECOMING>``): escape it first.
_LITERAL_LT = re.compile(rf"<(?!/?(?:{_TAGS})\b)", re.I)
_BADGE = re.compile(r"^\s*[\[［【]\s*(?:단독판매|단독)\s*[\]］】]\s*")
_DATE = re.compile(
    r"^\s*(\d{4})[-./](\d{1,2})[-./](\d{1,2})\.?"
    r"(?:(?:\s+|T|\s*\([^)]*\)\s*)(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
)


def parse_bs4(body: bytes) -> list[dict[str, Any]]:
    items = json.loads(body.decode("utf-8-sig"))
    if not isinstance(items, list):
        raise ValueError("not the notice array")
    return [_row(item) for item in items if isinstance(item, dict)]


def _title(raw: str) -> str:
    text = BeautifulSoup(_LITERAL_LT.sub("&lt;", raw), "html.parser").get_text()
    return clean_text(_BADGE.sub("", clean_text(text)))


def _open(item: dict[str, Any]) -> tuple[str | None, str | None]:
    if item.get("isGeneralLater") is True:
        return None, None
    text = item.get("openDateStr")
    match = _DATE.match(text) if isinstance(text, str) else None
    if not match:
        return None, None
    y, m, d = int(match[1]), int(match[2]), int(match[3])
    try:
        if match[4] is None:
            return None, date(y, m, d).isoformat()
        return seoul(y, m, d, int(match[4]), int(match[5]), int(match[6] or 0)).isoformat(), None
    except ValueError:
        return None, None


def _s(item: dict[str, Any], key: str) -> str:
    value = item.get(key)
    return value if isinstance(value, str) else ""


def _row(item: dict[str, Any]) -> dict[str, Any]:
    raw_id = item.get("noticeId")
    notice_id = (
        str(raw_id)
        if isinstance(raw_id, int) and not isinstance(raw_id, bool)
        else clean_text(raw_id if isinstance(raw_id, str) else "")
    )
    title = _title(_s(item, "title"))
    open_at, open_date = _open(item)
    open_type = _s(item, "openTypeStr")
    change = any(w in open_type for w in ("변경", "취소")) or bool(
        re.match(r"^[\[［【(]\s*(?:변경|취소|변경/취소)\s*[\]］】)]", title)
    )
    code = _s(item, "goodsCode").strip()
    poster = _s(item, "posterImageUrl").strip()
    if poster.startswith("//"):
        poster = "https:" + poster
    views = item.get("viewCount")
    if isinstance(views, str) and views.replace(",", "").strip().isdigit():
        views = int(views.replace(",", "").strip())
    return {
        "site": SITE,
        "id": notice_id,
        "title": title,
        "url": NOTICE_URL.format(id=quote(notice_id, safe="")),
        "open_at": open_at,
        "open_date": open_date,
        "category": "change" if change else "open",
        "exclusive": clean_text(_s(item, "goodsSeatTypeStr")) == "단독판매",
        "venue": clean_text(_s(item, "venueName")),
        "genre": clean_text(_s(item, "goodsGenreStr")),
        "image_url": poster if poster.startswith(("https://", "http://")) else "",
        "booking_url": BOOKING_URL.format(code=quote(code, safe="")) if code else "",
        "views": views if isinstance(views, int) and not isinstance(views, bool) and views >= 0 else None,
    }
