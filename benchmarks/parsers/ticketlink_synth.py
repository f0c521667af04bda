"""A synthetic Ticketlink notice-list response of any size, in the API's exact shape.

Built by repeating the saved sample notices (tests/fixtures/ticketlink) with fresh ids, open times
shifted by whole weeks (kept as ISO strings or epoch milliseconds, as each sample had them) and
numbered titles; the samples' ``<b>[단독판매]</b>`` badges, zero-width spaces, literal ``<...>`` title
text and presale lines in ``content`` come along, so the HTML side of the parsers has work to do.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "ticketlink"
PAGES = tuple(f"getNoticeList_page{n}.json" for n in range(1, 8))
ID_BASE = 900_000
WEEK_MS = 7 * 24 * 3600 * 1000


@cache
def _items() -> tuple[dict[str, Any], ...]:
    items: list[dict[str, Any]] = []
    for name in PAGES:
        items.extend(json.loads((FIXTURES / name).read_text(encoding="utf-8"))["result"]["result"])
    return tuple(items)


def _shift(value: Any, weeks: int) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value + weeks * WEEK_MS
    if isinstance(value, str):
        try:
            return (datetime.fromisoformat(value) + timedelta(weeks=weeks)).isoformat()
        except ValueError:
            return value
    return value


def _vary(source: dict[str, Any], index: int, cycle: int) -> dict[str, Any]:
    item = copy.deepcopy(source)
    item["noticeId"] = ID_BASE + index
    if cycle:
        title = source["title"]
        cut = title.rfind(" 티켓오픈")
        item["title"] = f"{title[:cut]} #{index}{title[cut:]}" if cut > 0 else f"{title} #{index}"
    item["ticketOpenDatetime"] = _shift(source["ticketOpenDatetime"], cycle)
    item["registerDatetime"] = _shift(source["registerDatetime"], cycle)
    item["viewCount"] = int(source["viewCount"]) + index
    if index % 29 == 11:  # a presale line more, for notices that had none
        item["content"] += "<div>* 팬클럽 선예매 : 2027년 12월 1일 (수) 20:00</div>"
    return item


def make_page(n: int) -> bytes:
    """One getNoticeList response holding ``n`` notices (0 ≤ n ≤ 1,000)."""
    if not 0 <= n <= 1000:
        raise ValueError("n must be between 0 and 1,000")
    items = _items()
    notices = [_vary(items[i % len(items)], i, i // len(items)) for i in range(n)]
    body = {"result": {"result": notices, "paging": {"currentPage": 1, "pageCount": 1, "totalCount": n}}}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
