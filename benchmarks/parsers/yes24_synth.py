"""A synthetic YES24 list response of any size, in the fragment's exact shape.

Built by repeating the saved sample rows (tests/fixtures/yes24) that are notices, with fresh ids,
numbered titles and open dates shifted by whole weeks (weekday kept right); the samples' quirks ride
along (``<em>단독판매</em>`` badges, raw ``<MOVE ON>`` brackets in titles, ``추후공지``, presale
attributes, ``변경/취소`` rows, ``1,234`` views, trailing spaces).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import cache
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "yes24"
PAGES = tuple(f"axList_page{i}.html" for i in range(1, 8))
ID_BASE = 900_000
_ROW = re.compile(r"\t\t\t<tr>\r?\n\t\t\t\t<td>.*?</tr>\r?\n", re.S)
_HEAD = re.compile(r"^(.*?<tr>\s*<th>.*?</tr>\r?\n)", re.S)
_TAIL = "\t\t</tbody>\n\t</table>\n</div>\n"
_LINK = re.compile(r'(<a href="#id=)\d+(">(?:<em>단독판매</em>)*(?:<em>)?)')
_DATE = re.compile(r"(\d{4})\.(\d{2})\.(\d{2})\((.)\)")
_WEEKDAYS = "월화수목금토일"


@cache
def _parts() -> tuple[str, tuple[str, ...]]:
    first = (FIXTURES / PAGES[0]).read_text(encoding="utf-8")
    head = _HEAD.match(first)
    if head is None:
        raise RuntimeError(f"no header row in {PAGES[0]}")
    rows: list[str] = []
    for name in PAGES:
        for row in _ROW.findall((FIXTURES / name).read_text(encoding="utf-8")):
            if "<td>티켓오픈</td>" in row or "<td>변경/취소</td>" in row:  # notices only
                rows.append(row)
    return head[1], tuple(rows)


def _shift_date(match: re.Match[str], weeks: int) -> str:
    try:
        day = date(int(match[1]), int(match[2]), int(match[3])) + timedelta(weeks=weeks)
    except ValueError:
        return match[0]
    return f"{day:%Y.%m.%d}({_WEEKDAYS[day.weekday()]})"


def _vary(row: str, index: int, cycle: int) -> str:
    label = f"#{index} " if cycle else ""
    row = _LINK.sub(lambda m: f"{m[1]}{ID_BASE + index}{m[2]}{label}", row, count=1)
    if cycle:
        row = _DATE.sub(lambda m: _shift_date(m, 8 * cycle), row)
    return row


def make_page(n: int) -> bytes:
    """One ``axList.aspx`` response holding ``n`` notice rows (0 ≤ n ≤ 1,000) after the header row."""
    if not 0 <= n <= 1000:
        raise ValueError("n must be between 0 and 1,000")
    head, rows = _parts()
    body = "".join(_vary(rows[i % len(rows)], i, i // len(rows)) for i in range(n))
    return f"{head}{body}{_TAIL}".encode()
