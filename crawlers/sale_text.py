"""Sale times as notice bodies word them: shared by the crawlers that read notice text (Ticketlink's
``content``, NOL's ``goods_info``).

``parse_sales`` reads the general sale and the presales from HTML/text lines such as
``* 팬클럽 선예매(FC) : 2027년 12월 1일 (수) 20:00``, ``- 일반예매는 08/23 (금) 20:00PM 부터 진행됩니다.`` and
``* 선예매 기간: 08/21(수) 20:00PM (KST) ~ …`` under a ``[팬클럽 선예매 안내]`` heading. Pure functions.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from ticket_alarm.core.model import Presale, clean_text, seoul

# Block-level boundaries in the notice body become line breaks; every other tag is dropped.
_BLOCK = re.compile(
    r"<br\s*/?>|</?(?:p|div|li|ul|ol|dl|dt|dd|tr|td|th|table|tbody|thead|h[1-6]|section|article"
    r"|blockquote|pre|hr)\b[^<>]*>",
    re.IGNORECASE,
)
_TAG = re.compile(r"<[^<>]*>")  # [^<>]: linear time even on a body full of stray "<"
# "* 팬클럽 선예매(FC) : 2027년 12월 1일 (수) 20:00" — a bullet, a name holding 선예매, a colon, a value.
_PRESALE_LINE = re.compile(
    r"^[\s*\-–•·※▶►▷○●■□◆◇☞✔√>]*(?P<name>[^:：\[\]]{0,40}?선\s*예매[^:：\[\]]{0,20}?)\s*[:：]\s*(?P<value>.+)$"
)
_PRESALE_WORD = re.compile(r"선\s*예매")  # cheap test before the body is split into lines
_TBA = re.compile(r"추후|미정|TBA|TBD|공지\s*예정", re.IGNORECASE)
# 2027년 12월 1일 (수) 20:00 · 2027.12.01(수) 20:00 · 12월 1일 오후 8시 30분
_KO_DATETIME = re.compile(
    r"(?:(?P<y>\d{4})\s*[년.\-/]\s*)?(?P<m>\d{1,2})\s*[월.\-/]\s*(?P<d>\d{1,2})\s*일?\.?"
    r"\s*(?:[(（]\s*[월화수목금토일]\s*[)）])?\s*"
    r"(?:(?P<ampm>오전|오후|AM|PM|am|pm)\s*)?(?P<H>\d{1,2})\s*(?::|시)\s*(?:(?P<M>\d{1,2})\s*분?)?"
    r"(?:\s*(?P<ampm2>AM|PM|am|pm)\b)?"
)


def content_lines(content: str) -> list[str]:
    """The notice body's text, one clean line per block (``<p>``, ``<div>``, ``<br>`` …)."""
    text = _BLOCK.sub("\n", content)
    text = html.unescape(_TAG.sub("", text))
    return [line for line in (clean_text(part) for part in text.split("\n")) if line]


@dataclass(frozen=True, slots=True)
class Sales:
    """The sale times a notice body names: the general sale and the presales (in body order)."""

    general: datetime | None = None
    presales: tuple[Presale, ...] = ()


# a heading line: ``[팬클럽 선예매 안내]``, ``【일반 예매 안내】``, ``<멤버십 선예매 일정>``, ``선예매 안내``
_HEADING = re.compile(
    r"^[\s*\-–•·※▶►▷○●■□◆◇☞✔√>]*[\[［【<〈]?\s*(?P<name>[^\]］】>〉:：]{1,40}?)\s*[\]］】>〉]?\s*$"
)
_HEADING_TAIL = re.compile(r"\s*(?:안내|일정|정보|오픈\s*안내)\s*$")
_BULLETS = "\t *-–•·※▶►▷○●■□◆◇☞✔√>"
# words that name the time of a sale rather than the sale ("선예매 기간", "일반예매 일시")
_GENERIC_TAIL = re.compile(r"\s*(?:기간|일시|일정|시간|오픈|시작)\s*$")
_PARTICLE_TAIL = re.compile(r"\s*(?:은|는|:|：|은요|-)\s*$")
_SALE_WORD = re.compile(r"예매|판매|티켓\s*오픈")


def _sale_name(prefix: str) -> str:
    name = clean_text(prefix).strip(_BULLETS)
    for _ in range(3):
        name = _PARTICLE_TAIL.sub("", name)
        name = _GENERIC_TAIL.sub("", name)
    return clean_text(name).strip(_BULLETS)


def _is_general(name: str) -> bool:
    compact = name.replace(" ", "")
    return ("일반예매" in compact or "일반판매" in compact) and "선예매" not in compact


def _is_presale(name: str) -> bool:
    return _PRESALE_WORD.search(name) is not None


def parse_sales(
    content: object, *, reference: datetime | None = None, registered: datetime | None = None
) -> Sales:
    """The general sale and the presales a notice body names, as real notices word them.

    Reads ``* 팬클럽 선예매(FC) : 2027년 12월 1일 (수) 20:00``, ``- 일반예매는 08/23 (금) 20:00PM 부터
    진행됩니다.`` (no colon, ``PM`` after a 24-hour time) and ``* 선예매 기간: 08/21(수) 20:00PM ~ …``
    under a ``[팬클럽 선예매 안내]`` heading (the sale keeps the heading's name). A verification window
    (``인증 기간``) is never a sale. Without a year, ``registered`` (when the notice was posted) gives
    it, rolling to the next year for a date before it; else the year nearest ``reference``.
    """
    if not isinstance(content, str) or not _SALE_WORD.search(content):
        return Sales()
    general: datetime | None = None
    found: list[Presale] = []
    section = ""  # the sale a heading announced, for the lines under it
    for line in content_lines(content):
        match = _KO_DATETIME.search(line)
        if match is None:
            heading = _HEADING.match(line)
            bracketed = line.lstrip(_BULLETS + " ")[:1] in "[［【<〈"
            if heading and len(line) <= 40 and (bracketed or _HEADING_TAIL.search(heading["name"])):
                name = _HEADING_TAIL.sub("", clean_text(heading["name"]))
                section = name if _SALE_WORD.search(name) and "인증" not in name else ""
            colon = _PRESALE_LINE.match(line)  # "* 멤버십 선예매: 추후 공지": a presale without a time
            if colon and _TBA.search(colon["value"]) and "인증" not in colon["name"]:
                presale = Presale(_sale_name(colon["name"]), None)
                if presale.name and presale not in found:
                    found.append(presale)
            continue
        prefix = line[: match.start()]
        if "인증" in prefix or (not prefix.strip(_BULLETS + " ") and "인증" in section):
            continue
        if ":" not in prefix and "：" not in prefix and not _SALE_WORD.search(prefix) and not section:
            continue
        name = _sale_name(
            prefix.replace("：", ":").split(":")[0] if ":" in prefix or "：" in prefix else prefix
        )
        if not _SALE_WORD.search(name):
            if name or not section:  # "공연 일시: …" names something else than a sale
                continue
            name = section  # "* 기간: 08/21 …" under [팬클럽 선예매 안내]
        elif section and _is_presale(section) and name.replace(" ", "") in ("선예매", "예매"):
            name = section  # "* 선예매 기간: …" under [팬클럽 선예매 안내] keeps the sale's own name
        at = _datetime_from(match, reference=reference, registered=registered)
        if at is None:
            continue
        if _is_general(name):
            general = general or at
        elif _is_presale(name):
            presale = Presale(name, at)
            if presale not in found:
                found.append(presale)
    return Sales(general, tuple(found))


def parse_presales(
    content: object, *, reference: datetime | None = None, registered: datetime | None = None
) -> tuple[Presale, ...]:
    """The presales a notice body names (see ``parse_sales``)."""
    return parse_sales(content, reference=reference, registered=registered).presales


def parse_general_open(
    content: object, *, reference: datetime | None = None, registered: datetime | None = None
) -> datetime | None:
    """The general-sale time the notice body names (``* 일반예매 : 2027년 12월 1일 (수) 14:00``)."""
    return parse_sales(content, reference=reference, registered=registered).general


def parse_korean_datetime(
    text: str, *, reference: datetime | None = None, registered: datetime | None = None
) -> datetime | None:
    """The first date-and-time in ``text`` (``2027년 12월 1일 (수) 20:00``, ``12월 1일 오후 8시``,
    ``08/23 (금) 20:00PM``).

    Without a year in the text: ``registered`` gives it (the next year for a date before it), else the
    year nearest ``reference``; neither: ``None``.
    """
    match = _KO_DATETIME.search(text)
    if not match:
        return None
    return _datetime_from(match, reference=reference, registered=registered)


def _datetime_from(
    match: re.Match[str], *, reference: datetime | None, registered: datetime | None
) -> datetime | None:
    month, day, hour = int(match["m"]), int(match["d"]), int(match["H"])
    minute = int(match["M"] or 0)
    ampm = (match["ampm"] or match["ampm2"] or "").lower()
    if ampm in ("오후", "pm") and hour < 12:
        hour += 12
    elif ampm in ("오전", "am") and hour == 12:
        hour = 0
    try:
        if match["y"]:
            return seoul(int(match["y"]), month, day, hour, minute)
        if registered is not None:
            at = seoul(registered.year, month, day, hour, minute)
            if at < registered - timedelta(days=7):  # a sale before the notice: next year's date
                at = seoul(registered.year + 1, month, day, hour, minute)
            return at
        if reference is None:
            return None
        year = reference.year
        at = seoul(year, month, day, hour, minute)
        if at - reference > timedelta(days=183):
            at = seoul(year - 1, month, day, hour, minute)
        elif reference - at > timedelta(days=183):
            at = seoul(year + 1, month, day, hour, minute)
        return at
    except ValueError:
        return None
