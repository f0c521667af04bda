"""A synthetic Melon list response of any size, in the fragment's exact shape.

Built by repeating the saved sample rows (tests/fixtures/melon) with fresh ``csoonId``s, numbered
titles and open dates shifted by whole weeks (weekday kept right); the samples' quirks ride along
(``오픈일정 보기``, the 23:23 marker, ``&amp;`` entities, 변경/취소 rows, the ``1열보유`` badge).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import cache
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "melon"
PAGES = tuple(f"listTicketOpen_pageIndex{i}.html" for i in (1, 11, 21, 31, 41))
ID_BASE = 500_000
_ROW = re.compile(r"\t<li>.*?</li>\r?\n", re.S)
_DATE = re.compile(r'(<span class="date">)(\d{4})\.(\d{2})\.(\d{2})\((.)\)')
_WEEKDAYS = "월화수목금토일"


@cache
def _rows() -> tuple[str, ...]:
    rows: list[str] = []
    for name in PAGES:
        rows.extend(_ROW.findall((FIXTURES / name).read_text(encoding="utf-8")))
    return tuple(rows)


def _shift_date(match: re.Match[str], weeks: int) -> str:
    try:
        day = date(int(match[2]), int(match[3]), int(match[4])) + timedelta(weeks=weeks)
    except ValueError:
        return match[0]
    return f"{match[1]}{day:%Y.%m.%d}({_WEEKDAYS[day.weekday()]})"


def _vary(row: str, index: int, cycle: int) -> str:
    row = re.sub(r"csoonId=\d+", f"csoonId={ID_BASE + index}", row)
    if cycle:
        row = row.replace('class="tit">', f'class="tit">#{index} ', 1)
        row = _DATE.sub(lambda m: _shift_date(m, 8 * cycle), row)
    return row


def make_page(n: int) -> bytes:
    """One ``listTicketOpen.htm`` response holding ``n`` rows (0 ≤ n ≤ 1,000)."""
    if not 0 <= n <= 1000:
        raise ValueError("n must be between 0 and 1,000")
    rows = _rows()
    body = "".join(_vary(rows[i % len(rows)], i, i // len(rows)) for i in range(n))
    return f'<ul class="list_ticket_cont">\r\n{body}</ul>\r\n'.encode()
