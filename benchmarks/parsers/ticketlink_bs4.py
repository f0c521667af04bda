"""Benchmark twin of ``crawlers.ticketlink.parse``: json for the list, BeautifulSoup for the HTML.

Benchmark-only (bs4 is not a runtime dependency). Extracts the same fields as the crawler's parser
for each notice of one list page, as plain dicts: the title markup and the notice body (``content``,
where the presale lines are) go through BeautifulSoup's "html.parser"; the date arithmetic is the
crawler's own pure helpers, so only the HTML handling differs.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from bs4 import BeautifulSoup

from crawlers.sale_text import parse_korean_datetime
from crawlers.ticketlink import notice_category, parse_open_time
from ticket_alarm.core.model import clean_text

SITE = "ticketlink"
NOTICE_URL = "https://www.ticketlink.co.kr/help/notice/{id}"
BOOKING_URL = "https://www.ticketlink.co.kr/product/{id}"
_TAGS = "b|strong|em|i|u|s|strike|del|ins|mark|small|big|sub|sup|span|font|br"
# A ``<`` that does not open a formatting tag is title text (``<BLUE HEART>``): escape it first.
_LITERAL_LT = re.compile(rf"<(?!/?(?:{_TAGS})(?:\s+[\w:.-]+\s*=|\s*/?>))", re.I)
_BADGE = re.compile(r"[\[［【]\s*단독\s*판매\s*[\]］】]")
_BLOCKS = ["p", "div", "li", "ul", "ol", "dl", "dt", "dd", "tr", "td", "th", "table", "tbody", "thead",
           "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "blockquote", "pre", "hr"]  # fmt: skip
_BULLETS = r"[\s*\-–•·※▶►▷○●■□◆◇☞✔√>]*"
_PRESALE_LINE = re.compile(
    rf"^{_BULLETS}(?P<name>[^:：\[\]]{{0,40}}?선\s*예매[^:：\[\]]{{0,20}}?)\s*[:：]\s*(?P<value>.+)$"
)
_GENERAL_LINE = re.compile(
    rf"^{_BULLETS}(?P<name>[^:：\[\]]{{0,20}}?일반\s*예매[^:：\[\]]{{0,20}}?)\s*[:：]\s*(?P<value>.+)$"
)
_PRESALE_WORD = re.compile(r"선\s*예매")
_TBA = re.compile(r"추후|미정|TBA|TBD|공지\s*예정", re.IGNORECASE)
_PRODUCT_IN_URL = re.compile(r"/product/(\d+)")


def parse_bs4(body: bytes) -> list[dict[str, Any]]:
    data = json.loads(body.decode("utf-8-sig"))
    items = data["result"]["result"]
    if not isinstance(items, list):
        raise ValueError("not the notice list")
    rows = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("a notice that is not an object")
        row = _row(item)
        if row is not None:
            rows.append(row)
    return rows


def _row(item: dict[str, Any]) -> dict[str, Any] | None:
    category = notice_category(item.get("noticeCategoryCode"), item.get("noticeCategoryName"))
    if category is None:
        return None
    notice_id = _id(item.get("noticeId"))
    raw_title = item.get("title") if isinstance(item.get("title"), str) else ""
    content = item.get("content") if isinstance(item.get("content"), str) else ""
    open_at, open_date = parse_open_time(item.get("ticketOpenDatetime"))
    unknown_open = open_at is None and open_date is None
    # Like the crawler: the body is only parsed when it names a presale or the open time is missing.
    lines = _lines(content) if _PRESALE_WORD.search(content) or (unknown_open and "예매" in content) else []
    if unknown_open:
        registered, _ = parse_open_time(item.get("registerDatetime"))
        open_at = _general_open(lines, registered)
    product_id = _id(item.get("productId"))
    if not product_id and isinstance(item.get("reserveWebUrl"), str):
        match = _PRODUCT_IN_URL.search(item["reserveWebUrl"])
        product_id = match[1] if match else ""
    place = item.get("placeName")
    views = item.get("viewCount")
    return {
        "site": SITE,
        "id": notice_id,
        "title": _title(raw_title),
        "url": NOTICE_URL.format(id=notice_id) if notice_id else "",
        "open_at": open_at.isoformat() if open_at else None,
        "open_date": open_date.isoformat() if open_date else None,
        "category": category,
        "exclusive": _BADGE.search(raw_title) is not None,
        "presales": _presales(lines, open_at),
        "venue": clean_text(BeautifulSoup(place, "html.parser").get_text()) if isinstance(place, str) else "",
        "booking_url": BOOKING_URL.format(id=product_id) if product_id else "",
        "views": views if isinstance(views, int) and not isinstance(views, bool) else None,
    }


def _title(raw: str) -> str:
    text = _BADGE.sub(" ", raw)
    return clean_text(BeautifulSoup(_LITERAL_LT.sub("&lt;", text), "html.parser").get_text(" "))


def _lines(content: str) -> list[str]:
    soup = BeautifulSoup(content, "html.parser")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_BLOCKS):
        block.insert_before("\n")
        block.insert_after("\n")
    return [line for line in (clean_text(part) for part in soup.get_text().split("\n")) if line]


def _presales(lines: list[str], reference: datetime | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for line in lines:
        match = _PRESALE_LINE.match(line)
        if not match:
            continue
        name = clean_text(match["name"])
        if not name or "인증" in name:
            continue
        at = parse_korean_datetime(match["value"], reference=reference)
        if at is None and not _TBA.search(match["value"]):
            continue
        presale = {"name": name, "at": at.isoformat() if at else None}
        if presale not in found:
            found.append(presale)
    return found


def _general_open(lines: list[str], reference: datetime | None) -> datetime | None:
    for line in lines:
        match = _GENERAL_LINE.match(line)
        if match:
            at = parse_korean_datetime(match["value"], reference=reference)
            if at is not None:
                return at
    return None


def _id(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return clean_text(value) if isinstance(value, str) else ""
