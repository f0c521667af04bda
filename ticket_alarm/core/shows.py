"""One show across vendors (issue 23): when two notices of different sites announce the same show.

Pure. ``show_title`` folds a notice title to the key shows are looked up by (brackets, vendor names,
"티켓 오픈 안내"-style words, spacing, width and case folded; round and region markers taken out);
``markers`` are the round, region and encore marks that must never merge (``2차``, ``추가 오픈``,
``[대구]``, ``- 부산``, ``앵콜``); ``same_show`` decides for two notices and says why (``explain``).
Identity stays ``(site, id)``: a show only groups notices.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta

from ticket_alarm.core.model import SEOUL, Ticket, clean_text
from ticket_alarm.i18n import t

# how far apart two vendors' open times may be and still be one show's sales
OPEN_WINDOW = timedelta(hours=24)

# cities a tour stop is named by (in brackets, after a dash, after "in"); "세종시" is "세종"
CITIES = (
    "서울|부산|대구|인천|광주|대전|울산|세종|수원|성남|고양|용인|창원|"
    "청주|전주|천안|포항|진주|평택|오산|제주|강릉|원주|춘천|김해|안산|"
    "안양|의정부|구미|경주|목포|여수|순천|익산|군산|거제|김포|부천|화성|"
    "시흥|하남|파주|통영|양산|광명|군포|안동|구리|남양주|충주|아산|"
    "seoul|busan|daegu|incheon|gwangju|"
    "daejeon|ulsan"
)
_CITY = "(" + CITIES + ")(?:특별자치시|특별시|광역시|시)?"
_OPEN = r"[\[(【「『《〈<]"
_CLOSE = r"[\])】」』》〉>]"

# vendor names and the words a notice title wraps a show in; removed from the title
_VENDORS = re.compile(
    r"인터파크(?:\s*티켓)?|(?<![a-z])nol(?![a-z])|예스\s*24|yes\s*24|멜론\s*티켓|멜론|티켓\s*링크"
)
_NOTICE_WORDS = re.compile(
    r"티\s*켓\s*오\s*픈(?:\s*일정)?(?:\s*변경)?(?:\s*(?:안내|공지))?|(?:예매|판매)\s*(?:오픈|개시)(?:\s*(?:안내|공지))?"
    r"|오픈\s*(?:안내|공지)|단독\s*판매|(?:^|\s)(?:안내|공지)(?=\s*$)"
)
# a bracketed remark about the sale, "(일반예매 추후 공지)", "[단독판매]": not the show's name
_REMARK = re.compile(_OPEN + r"[^\])】」』》〉>]*(?:예매|공지|오픈|판매)[^\])】」』》〉>]*" + _CLOSE)
# [티켓오픈] once its words are gone: a bracket holding nothing but such words goes with them
_EMPTY_BRACKETS = re.compile(_OPEN + r"\s*" + _CLOSE)

# the markers, each (pattern, the marker it gives from the match)
_ROUND = re.compile(r"(?<!\d)(\d{1,2})\s*차(?![가-힣])")
_EXTRA = re.compile(r"추가\s*(?:오픈|좌석|회차|공연|티켓)?")
_ENCORE = re.compile(r"앵콜|앙코르|encore")
_REGION_BRACKET = re.compile(_OPEN + r"\s*" + _CITY + r"\s*" + _CLOSE)
_REGION_DASH = re.compile(r"[-–—~]\s*" + _CITY + r"(?![가-힣a-z])")
_REGION_IN = re.compile(r"(?<![a-z])in\s+" + _CITY + r"(?![가-힣a-z])")
_FOLD = re.compile(r"[^\w]+|_")


def _base(title: str) -> str:
    """NFKC width, case, blanks and the invisible characters folded."""
    return clean_text(unicodedata.normalize("NFKC", title or "")).lower()


def _split(title: str) -> tuple[str, tuple[str, ...]]:
    """The title without its markers, and the markers (sorted, each once)."""
    text, found = _base(title), set[str]()
    text = _VENDORS.sub(" ", _REMARK.sub(" ", text))
    text = _NOTICE_WORDS.sub(" ", text)
    for pattern, mark in (
        (_ROUND, lambda m: f"{int(m.group(1))}차"),
        (_EXTRA, lambda m: "추가"),
        (_ENCORE, lambda m: "앵콜"),
        (_REGION_BRACKET, lambda m: m.group(1)),
        (_REGION_DASH, lambda m: m.group(1)),
        (_REGION_IN, lambda m: m.group(1)),
    ):
        found.update(mark(m) for m in pattern.finditer(text))
        text = pattern.sub(" ", text)
    text = _EMPTY_BRACKETS.sub(" ", text)
    return _FOLD.sub("", text), tuple(sorted(found))


def show_title(title: str) -> str:
    """The key one show's notices share: brackets, vendor names, notice words, markers, spacing,
    width and case folded (``[부산] 뮤지컬 〈팬레터〉 티켓오픈 안내`` → ``뮤지컬팬레터``)."""
    return _split(title)[0]


def markers(title: str) -> tuple[str, ...]:
    """The round (``2차``), extra (``추가``), encore (``앵콜``) and region (``부산``) markers of a title,
    sorted: notices whose markers differ are never one show."""
    return _split(title)[1]


def venue_key(venue: str) -> str:
    return _FOLD.sub("", _base(venue))


def _when(ticket: Ticket) -> datetime | None:
    """The general open time, or the open day's midnight (Seoul) when only the day is known."""
    if ticket.open_at is not None:
        return ticket.open_at
    if ticket.open_date is not None:
        return datetime.combine(ticket.open_date, datetime.min.time(), SEOUL)
    return None


def _schedule(a: Ticket, b: Ticket) -> str | None:
    """Why the two notices' schedules cannot be one show's (None: compatible)."""
    when_a, when_b = _when(a), _when(b)
    if when_a is not None and when_b is not None:
        window = OPEN_WINDOW if a.open_at and b.open_at else OPEN_WINDOW * 2
        if abs(when_a - when_b) > window:
            return t(
                "show.why.open_apart", a=when_a.strftime("%m/%d %H:%M"), b=when_b.strftime("%m/%d %H:%M")
            )
    venue_a, venue_b = venue_key(a.venue), venue_key(b.venue)
    if venue_a and venue_b and venue_a not in venue_b and venue_b not in venue_a:
        return t("show.why.venue", a=a.venue, b=b.venue)
    return None


def same_show(a: Ticket, b: Ticket) -> tuple[bool, str]:
    """Whether notices ``a`` and ``b`` announce one show, and why (in words, for ``explain``).

    Different sites only; equal ``show_title``; equal ``markers``; open times within a day where
    both have one and the same venue where both list one."""
    if a.site == b.site:
        return False, t("show.why.same_site", site=a.site)
    (title_a, marks_a), (title_b, marks_b) = _split(a.title), _split(b.title)
    if not title_a or title_a != title_b:
        return False, t("show.why.title", a=title_a, b=title_b)
    if marks_a != marks_b:
        none = t("show.why.no_markers")
        return False, t("show.why.markers", a=" ".join(marks_a) or none, b=" ".join(marks_b) or none)
    apart = _schedule(a, b)
    if apart is not None:
        return False, apart
    return True, t("show.why.same", title=title_a, markers=" ".join(marks_a) or t("show.why.no_markers"))
