"""Benchmark twin of ``crawlers.melon.parse``: BeautifulSoup ("html.parser") on the list fragment.

Benchmark-only (bs4 is not a runtime dependency). Extracts the same fields as the crawler's parser
for each ``ul.list_ticket_cont > li`` of one list page, as plain dicts. Date text is interpreted by
the crawler's own ``parse_when`` so both sides agree on the 23:23 marker and date-only rows.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Tag

from crawlers.melon import DETAIL_MARKER, EXCLUSIVE_BADGE, LIST_PAGE, notice_url, parse_when
from ticket_alarm.core.model import clean_text

SITE = "melon"
_ID = re.compile(r"csoonId=(\d+)")
_THUMBNAIL_SUFFIX = re.compile(r"/melon/resize/[^?#]*")
_CHANGE_WORDS = ("변경", "취소", "연기", "중지", "중단")


def parse_bs4(body: bytes) -> list[dict[str, Any]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("cp949", errors="replace")
    soup = BeautifulSoup(text, "html.parser")
    if soup.select_one("ul.list_ticket_cont") is None:
        raise ValueError("no ul.list_ticket_cont")
    rows = soup.select("ul.list_ticket_cont > li")
    return [_row(li) for li in rows if li.select_one(".ticket_data, .link_consert, a.tit") is not None]


def _text(node: Tag | None) -> str:
    return clean_text(node.get_text()) if node is not None else ""


def _row(li: Tag) -> dict[str, Any]:
    link = li.select_one(".link_consert a.tit") or li.select_one("a.tit")
    exclusive = False
    title = ""
    if link is not None:
        for badge in link.find_all(True):
            if _text(badge) in (EXCLUSIVE_BADGE, f"[{EXCLUSIVE_BADGE}]"):
                exclusive = True
                badge.replace_with(" ")
        title = clean_text(link.get_text())
    notice_id = ""
    for anchor in (link, li.select_one("a.poster")):
        match = _ID.search(str(anchor.get("href") or "")) if anchor is not None else None
        if match:
            notice_id = match[1]
            break
    state = _text(li.select_one(".ticket_data .ticket_state") or li.select_one(".ticket_state"))
    open_text = _text(li.select_one(".ticket_data .date") or li.select_one("span.date"))
    when = parse_when(open_text)
    badges = [_text(span) for span in li.select(".point span")]
    img = li.select_one("a.poster img") or li.select_one("img")
    image_url = ""
    if img is not None:
        src = clean_text(str(img.get("src") or ""))
        if src and not src.startswith(("data:", "javascript:")):
            try:
                image_url = urljoin(LIST_PAGE, _THUMBNAIL_SUFFIX.sub("", src))
            except ValueError:
                image_url = ""
    views_text = _text(li.select_one(".register_info .txt_review") or li.select_one(".txt_review"))
    digits = views_text.replace(",", "")
    return {
        "site": SITE,
        "id": notice_id,
        "title": title,
        "url": notice_url(notice_id) if notice_id else "",
        "open_at": when.at.isoformat() if when.at else None,
        "open_date": when.day.isoformat() if when.day else None,
        "category": "change" if any(w in state for w in _CHANGE_WORDS) else "open",
        "exclusive": exclusive or EXCLUSIVE_BADGE in badges,
        "image_url": image_url,
        "views": int(digits) if digits.isascii() and digits.isdigit() else None,
        "posted": _text(li.select_one(".register_info .txt_date")),
        "needs_detail": open_text == DETAIL_MARKER,
    }
