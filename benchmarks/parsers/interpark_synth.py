"""A synthetic Interpark notice-list response of any size, in the API's exact shape.

Built by repeating the saved sample rows (tests/fixtures/interpark) with fresh ids, shifted open
dates and numbered titles; a few titles carry ``<b>`` markup and literal ``<...>`` text so the HTML
side of the parsers has work to do.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "interpark"
PAGES = (
    "notice-list_offset0_size50.json",
    "notice-list_offset50_size50.json",
    "notice-list_offset100_size50.json",
)
ID_BASE = 500_000


@cache
def _rows() -> tuple[dict[str, Any], ...]:
    rows: list[dict[str, Any]] = []
    for name in PAGES:
        rows.extend(json.loads((FIXTURES / name).read_text(encoding="utf-8")))
    return tuple(rows)


def _shift(text: str, days: int) -> str:
    try:
        when = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text
    return (when + timedelta(days=days)).strftime("%Y-%m-%d %H:%M:%S")


def _vary(row: dict[str, Any], index: int, cycle: int) -> dict[str, Any]:
    old_id = row["noticeId"]
    item = copy.deepcopy(row)
    item["noticeId"] = ID_BASE + index
    item["title"] = f"{row['title'].rstrip()} #{index}" if cycle else row["title"]
    if index % 17 == 5:
        item["title"] = f"<b>{item['title']}</b>"
    if index % 23 == 7:
        item["title"] = f"<회차 {index}> {item['title']}"
    item["openDateStr"] = _shift(row["openDateStr"], 60 * cycle)
    item["viewCount"] = int(row["viewCount"]) + index
    for member in item["groupMembers"]:
        member["noticeId"] = (
            item["noticeId"] if member["noticeId"] == old_id else member["noticeId"] + ID_BASE
        )
        member["openDateStr"] = _shift(member["openDateStr"], 60 * cycle)
    return item


def make_page(n: int) -> bytes:
    """One notice-list response holding ``n`` rows (0 ≤ n ≤ 1,000)."""
    if not 0 <= n <= 1000:
        raise ValueError("n must be between 0 and 1,000")
    rows = _rows()
    items = [_vary(rows[i % len(rows)], i, i // len(rows)) for i in range(n)]
    return json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
