"""Benchmark twin of ``crawlers.yes24.parse``: BeautifulSoup ("html.parser") on the list fragment.

Benchmark-only (bs4 is not a runtime dependency). Extracts the same fields as the crawler's parser
for each notice row of ``div.noti-tbl table``, as plain dicts. The site-specific text handling is
the crawler's own (``decode``, ``escape_stray_brackets`` for the raw ``<HEAVEN’S ECHO>`` titles,
``category_of``, ``parse_datetime``), so the comparison measures the HTML parser, not the rules.
"""

from __future__ import annotations

import re
from typing import Any

from bs4 import BeautifulSoup, Tag

from crawlers.yes24 import (
    EXCLUSIVE,
    NOTICE_PAGE,
    NOTICE_URL,
    category_of,
    escape_stray_brackets,
    parse_datetime,
)
from ticket_alarm.core.model import clean_text
from ticket_alarm.fetch.decode import decode_text

SITE = "yes24"
_ID = re.compile(r"(?:^|[#?&;])id=(\d+)")
_PRESALE_ATTR = re.compile(r"^presale(?:tit|time)(\d{1,3})$")
_BADGES = (EXCLUSIVE, "단독")
_BADGE_PREFIX = re.compile(r"^[\[［【]\s*단독(?:판매)?\s*[\]］】]\s*")


def parse_bs4(body: bytes) -> list[dict[str, Any]]:
    soup = BeautifulSoup(escape_stray_brackets(decode_text(body)), "html.parser")
    table = soup.select_one("div.noti-tbl table")
    if table is None:
        raise ValueError("no div.noti-tbl table")
    out: list[dict[str, Any]] = []
    for tr in table.find_all("tr"):
        cells = tr.find_all("td")
        if len(cells) < 2:
            continue
        category = category_of(clean_text(cells[0].get_text()))
        if category is not None:
            out.append(_row(cells, category))
    return out


def _row(cells: list[Tag], category: str) -> dict[str, Any]:
    link = _link(cells[1])
    match = _ID.search(str(link.get("href") or "")) if link is not None else None
    notice_id = match[1] if match else ""
    title, exclusive = _title(link if link is not None else cells[1])
    date_cell = cells[2] if len(cells) > 2 else None
    open_at, open_date = parse_datetime(date_cell.get_text()) if date_cell is not None else (None, None)
    views = clean_text(cells[3].get_text()).replace(",", "") if len(cells) > 3 else ""
    return {
        "site": SITE,
        "id": notice_id,
        "title": title,
        "url": NOTICE_URL.format(id=notice_id) if notice_id else NOTICE_PAGE,
        "open_at": open_at.isoformat() if open_at else None,
        "open_date": open_date.isoformat() if open_date else None,
        "category": category,
        "exclusive": exclusive,
        "presales": _presales(date_cell),
        "views": int(views) if views.isascii() and views.isdigit() else None,
    }


def _link(cell: Tag) -> Tag | None:
    links = cell.find_all("a")
    for a in links:
        if _ID.search(str(a.get("href") or "")):
            return a
    return links[0] if links else None


def _badge(text: str) -> str:
    return clean_text(text).strip("[]［］【】() ")


def _title(node: Tag) -> tuple[str, bool]:
    ems = node.find_all("em", recursive=False)
    badges = [em for em in ems if _badge(em.get_text()) in _BADGES]
    own_text = "".join(s for s in node.find_all(string=True, recursive=False))
    if len(ems) >= 2 and not clean_text(own_text):
        badges = [*ems[:-1], *(em for em in badges if em is ems[-1])]
    exclusive = any(_badge(em.get_text()) in _BADGES for em in badges)
    for em in badges:
        em.decompose()
    title = clean_text(node.get_text())
    match = _BADGE_PREFIX.match(title)
    if match:
        exclusive = True
        title = title[match.end() :]
    return title, exclusive


def _presales(cell: Tag | None) -> list[dict[str, Any]]:
    if cell is None:
        return []
    out: list[dict[str, Any]] = []
    for button in cell.select(".noti-btn-pop"):
        attrs = {name.lower(): str(value or "") for name, value in button.attrs.items()}
        numbers = sorted({int(m[1]) for name in attrs if (m := _PRESALE_ATTR.match(name))})
        for number in numbers:
            name = clean_text(attrs.get(f"presaletit{number}"))
            when = clean_text(attrs.get(f"presaletime{number}"))
            if not name and not when:
                continue
            at = parse_datetime(when)[0]
            presale = {"name": name or "선예매", "at": at.isoformat() if at else None}
            if presale not in out:
                out.append(presale)
    return out
