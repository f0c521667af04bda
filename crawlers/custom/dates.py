"""Dates of custom sites: Korean board dates read without a format, strptime formats, epochs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Final

from ticket_alarm.core.model import SEOUL

EPOCH_FORMATS: Final = ("epoch", "epoch_ms")


_KO_DATETIME = re.compile(
    r"(?P<y>\d{4})\s*(?:년|[.\-/])\s*(?P<m>\d{1,2})\s*(?:월|[.\-/])\s*(?P<d>\d{1,2})(?!\d)\s*일?\.?"
    r"(?:\s*[(（]\s*[^()（）\d]{1,3}\s*[)）])?"
    r"(?:(?:\s*|T)(?P<ampm>오전|오후|AM|PM|am|pm)?\s*(?P<H>\d{1,2})\s*(?::|시)\s*(?:(?P<M>\d{1,2})\s*분?)?"
    r"(?::(?P<S>\d{1,2})(?:[.,]\d+)?)?\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?)?"
)
_DIGITS = re.compile(r"^\s*\d{9,14}\s*$")
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%X", "%c", "%T", "%R")
_SAMPLE = datetime(2027, 11, 23, 19, 45, 30)


def check_time_format(fmt: str) -> None:
    """``ValueError`` unless ``fmt`` is ``epoch``/``epoch_ms`` or a strptime format with a year."""
    if fmt in EPOCH_FORMATS:
        return
    if not any(d in fmt for d in ("%Y", "%y", "%G", "%c", "%x")):
        raise ValueError(f"{fmt!r} has no year (%Y); add it, or cut the date out with a field regex")
    try:
        datetime.strptime(_SAMPLE.strftime(fmt), fmt)
    except ValueError as exc:
        raise ValueError(f"{fmt!r} is not a strptime format Python can read back ({exc})") from None


def _seoul(moment: datetime) -> datetime:
    return moment.replace(tzinfo=SEOUL) if moment.tzinfo is None else moment.astimezone(SEOUL)


def _from_epoch(number: float, *, millis: bool | None = None) -> datetime | None:
    if millis is None:
        millis = abs(number) >= 10**11
    try:
        return datetime.fromtimestamp(number / 1000 if millis else number, UTC).astimezone(SEOUL)
    except (OverflowError, OSError, ValueError):
        return None


def auto_datetime(text: str) -> tuple[datetime | None, date | None] | None:
    """Common Korean and ISO spellings → (open_at, None), a day alone → (None, day); None: no date."""
    if _DIGITS.match(text):
        moment = _from_epoch(int(text))
        return (moment, None) if moment else None
    match = _KO_DATETIME.search(text)
    if match is None:
        return None
    try:
        day = date(int(match["y"]), int(match["m"]), int(match["d"]))
        if match["H"] is None:
            return None, day
        hour = int(match["H"])
        ampm = (match["ampm"] or "").lower()
        if ampm in ("오후", "pm") and hour < 12:
            hour += 12
        elif ampm in ("오전", "am") and hour == 12:
            hour = 0
        moment = datetime(day.year, day.month, day.day, hour, int(match["M"] or 0), int(match["S"] or 0))
    except ValueError:  # 2027.13.45, 25:00
        return None
    tz = match["tz"]
    if tz:
        if tz == "Z":
            return moment.replace(tzinfo=UTC).astimezone(SEOUL), None
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        try:
            return moment.replace(tzinfo=timezone(sign * offset)).astimezone(SEOUL), None
        except ValueError:
            return None
    return _seoul(moment), None


def strptime_any(text: str, formats: Sequence[str]) -> tuple[datetime | None, date | None] | None:
    for fmt in formats:
        if fmt in EPOCH_FORMATS:
            try:
                number = float(text.strip())
            except ValueError:
                continue
            moment = _from_epoch(number, millis=fmt == "epoch_ms")
            if moment is not None:
                return moment, None
            continue
        try:
            parsed = datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
        if not any(d in fmt for d in _TIME_DIRECTIVES):
            return None, parsed.date()
        return _seoul(parsed), None
    return None
