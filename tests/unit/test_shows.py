"""The merge rule of one show across vendors (issue 23), on real titles from every site's fixtures."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path

import pytest

from ticket_alarm.core.model import Ticket
from ticket_alarm.core.shows import markers, same_show, show_title

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@cache
def _listed(site: str) -> dict[str, dict[str, object]]:
    data = json.loads((FIXTURES / site / "expected.json").read_text(encoding="utf-8"))
    return {str(item["id"]): item for item in data.get("tickets") or data["items"]}


def real(site: str, notice_id: str) -> Ticket:
    """The notice as the site's committed fixture lists it (title, open time, venue)."""
    item = _listed(site)[notice_id]
    at = item.get("open_at")
    return Ticket(
        site,
        notice_id,
        str(item["title"]),
        f"https://example.test/{site}/{notice_id}",
        open_at=datetime.fromisoformat(str(at)) if at else None,
        venue=str(item.get("venue") or ""),
    )


MERGE = [
    # "- 세종" and "- 세종시 티켓오픈 안내": one tour stop, same open time
    (("interpark", "12050"), ("ticketlink", "63666")),
    (("interpark", "12171"), ("ticketlink", "63760")),
    (("interpark", "12055"), ("ticketlink", "63674")),
    (("interpark", "12504"), ("melon", "11623")),
]

APART = [
    # another city of the same tour
    (("interpark", "12055"), ("ticketlink", "63897")),
    (("interpark", "12303"), ("ticketlink", "63584")),
    # 2차: the second round of the same show, even at the same minute
    (("interpark", "12036"), ("yes24", "17017")),
    # [부산] / ［부산］ and - 대구 / [대구]: same title and region, open weeks apart
    (("interpark", "12224"), ("yes24", "16994")),
    (("interpark", "11976"), ("yes24", "16921")),
    # the encore run and the ordinary run of one show
    (("interpark", "12102"), ("interpark", "12546")),
    # other shows of one series
    (("interpark", "12042"), ("ticketlink", "63653")),
    (("interpark", "12378"), ("ticketlink", "63719")),
]


@pytest.mark.parametrize(("a", "b"), MERGE)
def test_one_show_across_vendors(a: tuple[str, str], b: tuple[str, str]) -> None:
    first, second = real(*a), real(*b)
    assert same_show(first, second)[0], same_show(first, second)[1]
    assert same_show(second, first)[0]  # symmetric


@pytest.mark.parametrize(("a", "b"), APART)
def test_never_merged(a: tuple[str, str], b: tuple[str, str]) -> None:
    first, second = real(*a), real(*b)
    assert not same_show(first, second)[0], same_show(first, second)[1]
    assert not same_show(second, first)[0]


@pytest.mark.parametrize(
    ("site", "notice_id", "title", "marks"),
    [
        ("interpark", "12050", "2028부활40주년콘서트", ("세종",)),
        ("ticketlink", "63666", "2028부활40주년콘서트", ("세종",)),
        ("yes24", "17017", "뮤지컬이터니티", ("2차",)),
        ("interpark", "12036", "뮤지컬이터니티", ()),
        ("yes24", "16994", "tv애니메이션체인소맨展", ("부산",)),
        ("interpark", "12224", "tv애니메이션체인소맨展", ("부산",)),  # fullwidth ［］
        ("yes24", "16921", "2028라이브가족뮤지컬벌거벗은임금님", ("대구",)),
        ("interpark", "11976", "2028라이브가족뮤지컬벌거벗은임금님", ("대구",)),
        ("interpark", "12102", "가족뮤지컬넘버블록스", ("앵콜",)),
        ("yes24", "17008", "김희재전국투어콘서트희열熙熱", ("서울", "앵콜")),  # [서울앵콜]
        ("melon", "11584", "김승주단독콘서트hintiii", ("추가",)),  # 추가 회차
        ("nol", "15502", "뮤지컬시카고", ("부산",)),  # (일반예매 추후 공지)
        ("yes24", "17062", "뮤지컬캐빈x오두막의밤", ()),  # X YES24
        ("interpark", "11959", "2028kickflipfanconfromkickfliptoweflip", ("서울",)),  # in 서울
    ],
)
def test_title_and_markers(site: str, notice_id: str, title: str, marks: tuple[str, ...]) -> None:
    notice = real(site, notice_id)
    assert (show_title(notice.title), markers(notice.title)) == (title, marks)


def test_vendor_words_and_brackets_fold() -> None:
    assert show_title("[단독판매] NOL 인터파크 뮤지컬 〈시카고〉 티켓오픈 공지") == "뮤지컬시카고"
    assert show_title("뮤지컬 <시카고> 단독 판매") == "뮤지컬시카고"
    assert show_title("멜론티켓 ＭＵＳＩＣＡＬ 《Chicago》 티켓 오픈 안내") == "musicalchicago"
    assert markers("뮤지컬 〈시카고〉 (서울) 1차 추가 오픈") == ("1차", "서울", "추가")
    assert markers("뮤지컬 〈시카고〉 - 부산시") == ("부산",)


def test_same_site_is_never_one_show() -> None:
    notice = real("interpark", "12050")
    merged, why = same_show(notice, notice.with_(id="12051"))
    assert not merged and "interpark" in why


def test_venue_where_both_list_one() -> None:
    nol = real("nol", "15501")  # KSPO DOME
    other = nol.with_(site="interpark", id="1", title="2026 아이유 팬콘서트 〈HEREH〉 - 서울 티켓오픈 안내")
    assert same_show(nol, other.with_(venue="올림픽공원 KSPO DOME"))[0]
    assert same_show(nol, other.with_(venue=""))[0]
    assert not same_show(nol, other.with_(venue="고척스카이돔"))[0]


def test_day_only_open_compares_by_day() -> None:
    nol = real("nol", "15501")  # 10/22 20:00
    other = nol.with_(site="yes24", id="1", open_at=None, open_date=nol.open_at.date())  # type: ignore[union-attr]
    assert same_show(nol, other)[0]
    assert not same_show(nol, other.with_(open_date=datetime(2026, 10, 29).date()))[0]
