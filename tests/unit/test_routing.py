"""Route matching: sites, categories, exclusivity, genres, include/exclude keywords and /regex/."""

from __future__ import annotations

import os
import unicodedata
from typing import Any

import pytest

from ticket_alarm.config.routes import (
    Router,
    StdoutLane,
    explain_route,
    keyword_matches,
    normalise,
    route_matches,
)
from ticket_alarm.config.settings import RouteSettings
from ticket_alarm.core.model import Ticket

WEBHOOK = "https://discord.com/api/webhooks/111111111111111111/tokenAAAAAAAAAAAAAAAAAAAAAAAA"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith(("TICKET_ALARM_", "DISCORD_WEBHOOK")):
            monkeypatch.delenv(key)


def route(**kwargs: Any) -> RouteSettings:
    return RouteSettings(name=kwargs.pop("name", "r"), webhook_url=WEBHOOK, **kwargs)


def ticket(title: str = "아이유 콘서트 〈HEREH〉", **changes: Any) -> Ticket:
    base = Ticket("melon", "1", title, "https://ticket.melon.com/n/1", venue="KSPO DOME", genre="콘서트")
    return base.with_(**changes)


def test_no_filters_match_everything() -> None:
    assert route_matches(route(), ticket())
    assert explain_route(route(), ticket()) == (True, "no filter excludes it")


def test_sites_filter() -> None:
    assert route_matches(route(sites=["melon", "yes24"]), ticket())
    assert not route_matches(route(sites=["yes24"]), ticket())
    assert not route_matches(route(sites=[]), ticket())  # an empty list means no site
    ok, why = explain_route(route(sites=["yes24"]), ticket())
    assert not ok and "site melon is not in sites" in why


@pytest.mark.parametrize(
    ("keyword", "title"),
    [
        ("BTS", "bts 월드투어"),
        ("bts", "BTS WORLD TOUR"),
        ("ＢＴＳ", "BTS 월드투어"),  # full-width keyword
        ("BTS", "ＢＴＳ 월드투어"),  # full-width title
        ("아이유 콘서트", "아이유콘서트 〈HEREH〉"),
        ("아이유콘서트", "아이유 콘서트 〈HEREH〉"),
        ("아이유  콘서트", "아이유\t\n콘서트"),
        ("아이유", unicodedata.normalize("NFD", "아이유 콘서트")),  # decomposed Hangul
        ("ＩＵ", "iu concert"),
        ("kspo", "무관한 제목"),  # the venue is searched too
        ("콘서트", "제목만"),  # and the genre
    ],
)
def test_include_is_case_width_and_space_insensitive(keyword: str, title: str) -> None:
    assert route_matches(route(include=[keyword]), ticket(title))
    assert not route_matches(route(exclude=[keyword]), ticket(title))


@pytest.mark.parametrize(
    ("keyword", "title"),
    [("BTS", "BT 월드투어"), ("아이유", "아이 뮤지컬"), ("레베카", "뮤지컬 〈엘리자벳〉")],
)
def test_include_misses(keyword: str, title: str) -> None:
    t = ticket(title, venue="", genre="")
    assert not route_matches(route(include=[keyword]), t)
    assert route_matches(route(exclude=[keyword]), t)


def test_include_any_exclude_none() -> None:
    r = route(include=["아이유", "BTS"], exclude=["취소", "/추가\\s*오픈/"])
    assert route_matches(r, ticket("BTS 콘서트"))
    assert not route_matches(r, ticket("뮤지컬 레베카", genre="뮤지컬"))
    assert not route_matches(r, ticket("아이유 콘서트 취소 안내"))
    assert not route_matches(r, ticket("아이유 콘서트 추가 오픈"))
    ok, why = explain_route(r, ticket("아이유 콘서트 취소 안내"))
    assert not ok and "'취소'" in why
    ok, why = explain_route(r, ticket("BTS 콘서트"))
    assert ok and "'BTS'" in why


@pytest.mark.parametrize(
    ("pattern", "title", "expected"),
    [
        ("/^아이유/", "아이유 콘서트", True),
        ("/^아이유/", "[단독] 아이유 콘서트", False),
        ("/bts|seventeen/", "SEVENTEEN TOUR", True),  # case-insensitive
        ("/BTS/", "ＢＴＳ 월드투어", True),  # the text is NFKC-normalised first
        ("/20(25|26)\\s*콘서트/", "2026 콘서트", True),
        ("/20(25|26)\\s*콘서트/", "2027 콘서트", False),
        ("/아이유 콘서트/", "아이유콘서트", False),  # a regex means exactly what it says
    ],
)
def test_regex_patterns(pattern: str, title: str, expected: bool) -> None:
    assert route_matches(route(include=[pattern]), ticket(title, venue="", genre="")) is expected


def test_keyword_that_looks_like_a_path_is_a_keyword() -> None:
    assert keyword_matches("AC/DC", "AC/DC 내한공연")
    assert keyword_matches("/", "AC/DC")
    assert keyword_matches("/x", "a/x/b") and not keyword_matches("/x", "x")  # "/x" is not a /regex/


def test_a_keyword_does_not_match_across_fields() -> None:
    """Spaces are ignored inside a field, but title, venue and genre are not one run of text."""
    t = ticket("월드투어 BT", venue="S 아레나", genre="")
    assert not route_matches(route(include=["BTS"]), t)
    assert route_matches(route(exclude=["BTS"]), t)
    assert route_matches(route(include=["S아레나"]), t)


def test_categories_exclusive_and_genres() -> None:
    change = ticket(category="change")
    assert route_matches(route(categories=["change"]), change)
    assert not route_matches(route(categories=["open"]), change)
    assert not route_matches(route(exclusive_only=True), ticket())
    assert route_matches(route(exclusive_only=True), ticket(exclusive=True))
    assert route_matches(route(genres=["콘서트"]), ticket())
    assert route_matches(route(genres=["ＣＯＮＣＥＲＴ", "콘 서트"]), ticket())
    assert not route_matches(route(genres=["뮤지컬"]), ticket())
    assert not route_matches(route(genres=["뮤지컬"]), ticket(genre=""))


def test_normalise() -> None:
    assert normalise(" ＢＴＳ  월드\u3000투어 ") == "bts월드투어"  # ideographic space too
    assert normalise("Straße") == "strasse"


def test_router_lanes() -> None:
    routes = [
        route(name="all"),
        route(name="iu", include=["아이유"]),
        route(name="yes24", sites=["yes24"]),
        route(name="no-cancel", exclude=["취소"]),
    ]
    router = Router(routes)
    assert router.lanes_for(ticket()) == ["all", "iu", "no-cancel"]
    assert router.lanes_for(ticket("BTS 취소 안내")) == ["all"]
    assert Router([]).lanes_for(ticket()) == []  # no route, no catch-all: nowhere
    assert Router([], StdoutLane()).lanes_for(ticket()) == ["dry-run"]  # the dry run's stdout lane


def test_a_route_with_several_destinations_has_a_lane_for_each_and_reminds_on_each() -> None:
    telegram = {"bot_token": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "chat_id": "@tickets"}
    everywhere = route(
        name="iu", include=["아이유"], ntfy_url="https://ntfy.sh/iu", telegram=telegram, reminders=[10]
    )
    phone = RouteSettings(name="phone", ntfy_url="https://ntfy.sh/all", reminders=[60])  # no Discord at all
    router = Router([everywhere, phone], route(name="default"))
    assert router.routes_for(ticket()) == ["iu", "phone", "default"]
    assert router.lanes_for(ticket()) == ["iu", "iu/ntfy", "iu/telegram", "phone/ntfy", "default"]
    assert router.lanes_for(ticket("뮤지컬")) == ["phone/ntfy", "default"]
    assert [router.reminders_for(lane) for lane in ("iu", "iu/ntfy", "iu/telegram", "phone/ntfy")] == [
        (10,),
        (10,),
        (10,),
        (60,),
    ]
    with pytest.raises(ValueError, match="has no destination"):
        RouteSettings(name="nowhere")
