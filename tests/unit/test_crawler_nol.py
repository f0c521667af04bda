"""NOL 티켓, Interpark's second source: the parser on the saved samples, paging, the request shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawlers.interpark import nol
from crawlers.interpark.site import InterparkCrawler
from ticket_alarm.config.settings import HttpSettings, SiteSettings
from ticket_alarm.core.model import Presale, Ticket, seoul
from ticket_alarm.errors import ApiChangedError, ParseError
from ticket_alarm.fetch.http import Fetcher

FIXTURES = Path(__file__).parents[1] / "fixtures" / "nol"
FIRST = (FIXTURES / "upcoming_open_cursor0.json").read_bytes()
LAST = (FIXTURES / "upcoming_open_cursor_eyJvIjozfQ.json").read_bytes()
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
INDEX = json.loads((FIXTURES / "INDEX.json").read_text(encoding="utf-8"))
PATH = "/ticket/display/api/upcoming"


def notice(**fields: Any) -> dict[str, Any]:
    base = json.loads(FIRST)["notices"][0]
    base.update(fields)
    return base


def page(*notices: dict[str, Any], cursor: str | None = None) -> bytes:
    return json.dumps({"notices": list(notices), "summary": {"next_cursor": cursor}}).encode()


def test_samples_give_the_expected_tickets() -> None:
    tickets = nol.parse(FIRST, "https://nol.yanolja.com/ticket/display/api/upcoming")
    got = [
        {
            "id": t.id,
            "title": t.title,
            "open_at": t.open_at.isoformat() if t.open_at else None,
            "exclusive": t.exclusive,
            "presales": [p.to_json() for p in t.presales],
            "venue": t.venue,
            "genre": t.genre,
            "booking_url": t.booking_url,
        }
        for t in tickets
    ]
    assert got == EXPECTED["items"]
    for t in tickets:  # the same identity and public notice link as the old API's rows
        assert t.site == "interpark" and not t.problems()
        assert t.url == f"https://tickets.interpark.com/contents/notice/detail/{t.id}"
    assert nol.parse(LAST) == []
    assert nol.parse_page(LAST).next_cursor is None
    assert nol.parse_page(FIRST).next_cursor == "eyJvIjozfQ"


def test_general_later_and_9999_are_tba_and_presale_names_fall_back() -> None:
    dates = [
        {"ticket_open_date": "9999-12-31T00:00:00", "ticket_open_type": 1, "general_later": False},
        {
            "ticket_open_date": "2026-10-20T20:00:00",
            "ticket_open_type": 3,
            "ticket_open_type_name": "선예매",
            "ticket_other_open_name": "",
        },
    ]
    open_at, presales = nol.ticket_dates(dates)
    assert open_at is None
    assert presales == (Presale("선예매", seoul(2026, 10, 20, 20)),)
    later = [{"ticket_open_date": "2026-10-22T20:00:00", "ticket_open_type": 1, "general_later": True}]
    assert nol.ticket_dates(later) == (None, ())


def test_presale_lines_in_goods_info_are_read() -> None:
    info = "- 공연일정: 2026년 10월 16일<br>- 아티스트 선예매: 2026년 9월 21일 (월) 오후 12시<br>- 가격: 1원"
    (ticket,) = nol.parse(page(notice(goods_info=info)))
    assert ticket.presales == (Presale("아티스트 선예매", seoul(2026, 9, 21, 12)),)
    assert ticket.open_at == seoul(2026, 10, 6, 10)


@pytest.mark.parametrize(("seat", "exclusive"), [("단독판매", True), ("없음", False), ("상대우위", False)])
def test_exclusive_only_for_dandok(seat: str, exclusive: bool) -> None:
    assert nol.parse(page(notice(goods_seat_type_name=seat)))[0].exclusive is exclusive


@pytest.mark.parametrize(
    ("raw", "error", "phrase"),
    [
        (json.dumps({"notices": [{"title": "x"}], "summary": {}}), ApiChangedError, "items have no id"),
        (json.dumps({"items": []}), ApiChangedError, '"notices"'),
        (json.dumps({"notices": [1]}), ApiChangedError, "not an object"),
        (
            "<html><head><title>NOL 티켓</title></head><body><div id=__next></div></body></html>",
            ApiChangedError,
            "HTML page",
        ),
        ("<html><head><title>Just a moment...</title></head></html>", ParseError, "challenge"),
        ("{", ParseError, "unparseable"),
        ("", ParseError, "empty"),
    ],
)
def test_not_the_api_is_a_typed_error(raw: str, error: type[Exception], phrase: str) -> None:
    with pytest.raises(error) as info:
        nol.parse(raw, "https://nol.yanolja.com/ticket/display/api/upcoming")
    assert phrase in str(info.value)


def test_request_body_is_shared_by_both_sorts() -> None:
    assert nol.request_body("open") == {"sort": "open"}
    assert nol.request_body("register", "abc") == {"sort": "register", "cursor": "abc"}


# --- paging through a real fetcher ----------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


async def crawl_nol(handler: Handler, page_cap: int = 30) -> Any:
    fetcher = Fetcher(HttpSettings(min_request_interval=0, retries=0), transport=httpx.MockTransport(handler))
    async with fetcher:
        crawler = InterparkCrawler(SiteSettings(source="nol", page_cap=page_cap))
        return await crawler.crawl(fetcher.for_site("interpark"))


async def test_crawl_posts_the_recorded_requests_until_the_cursor_ends() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        sent = json.loads(request.content)
        entry = next((e for e in INDEX if e["json"] == sent), None)
        if request.url.path != PATH or entry is None:
            return httpx.Response(404)
        return httpx.Response(200, content=(FIXTURES / entry["file"]).read_bytes())

    crawl = await crawl_nol(handler)
    assert [json.loads(r.content) for r in seen] == [e["json"] for e in INDEX]
    for request in seen:
        assert request.method == "POST" and request.url.host == "nol.yanolja.com"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["Referer"] == "https://nol.yanolja.com/ticket/display/upcoming"
    assert [t.id for t in crawl.tickets] == ["15418", "15501", "15502"]
    assert crawl.pages == 2 and not crawl.capped


async def test_a_repeated_cursor_is_a_typed_error_not_a_loop() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, content=page(notice(id=len(calls)), cursor="same"))

    with pytest.raises(ApiChangedError) as info:
        await crawl_nol(handler)
    assert "repeated the cursor" in info.value.reason and len(calls) == 2


async def test_page_cap_stops_a_cursor_that_never_ends() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, content=page(notice(id=len(calls)), cursor=f"c{len(calls)}"))

    crawl = await crawl_nol(handler, page_cap=3)
    assert len(calls) == 3 and crawl.capped and len(crawl.tickets) == 3


async def test_head_pages_read_registration_order_lazily() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        bodies.append(sent)
        if "cursor" not in sent:
            return httpx.Response(200, content=page(notice(id=20002), notice(id=20001), cursor="p2"))
        return httpx.Response(200, content=page(notice(id=20000), cursor="p3"))

    fetcher = Fetcher(HttpSettings(min_request_interval=0, retries=0), transport=httpx.MockTransport(handler))
    async with fetcher:
        crawler = InterparkCrawler(SiteSettings(source="nol"))
        pages = crawler.head_pages(fetcher.for_site("interpark"))
        assert pages is not None
        first = await anext(pages)
        assert [t.id for t in first] == ["20002", "20001"]
        assert bodies == [{"sort": "register"}]  # one page fetched per iteration
        second = await anext(pages)
        assert [t.id for t in second] == ["20000"]
        assert bodies[1] == {"sort": "register", "cursor": "p2"}
        await pages.aclose()


# --- property: anything in → valid tickets or a typed error out -----------------------------------

SAMPLE = FIRST.decode()


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = SAMPLE
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 300)))
        text = (
            text[:start] + draw(st.sampled_from(["", "0", '"', "null", "[]", "{}", "<", "9999"])) + text[end:]
        )
    return text


def json_values() -> st.SearchStrategy[Any]:
    keys = st.sampled_from([*sorted(notice()), "notices", "summary", "next_cursor"])
    scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
        max_leaves=20,
    )


@settings(max_examples=150, deadline=None)
@given(
    st.binary(max_size=200)
    | mutated()
    | json_values().map(json.dumps)
    | st.lists(json_values(), max_size=4).map(lambda v: json.dumps({"notices": v}))
)
def test_parse_returns_tickets_or_a_typed_error(raw: bytes | str) -> None:
    try:
        tickets = nol.parse(raw)
    except ParseError:
        return
    assert all(isinstance(t, Ticket) and t.site == "interpark" for t in tickets)
    for t in tickets:
        assert t.open_at is None or t.open_at.utcoffset() is not None
        assert all(p.at is None or p.at.utcoffset() is not None for p in t.presales)
