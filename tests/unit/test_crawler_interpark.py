"""Interpark Ticket crawler: parser fixtures, site quirks, the crawl through a real fetcher."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawlers.interpark.site import (
    CRAWLER,
    InterparkCrawler,
    clean_title,
    parse,
    parse_open,
    parse_page,
)
from crawlers.registry import discover
from ticket_alarm.config.settings import HttpSettings, SiteSettings
from ticket_alarm.core.model import Ticket, seoul
from ticket_alarm.errors import ApiChangedError, FetchError, ParseError
from ticket_alarm.fetch.http import Fetcher

FIXTURES = Path(__file__).parents[1] / "fixtures" / "interpark"
PAGES = [
    "notice-list_offset0_size50.json",
    "notice-list_offset50_size50.json",
    "notice-list_offset100_size50.json",
]
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
INDEX = json.loads((FIXTURES / "INDEX.json").read_text(encoding="utf-8"))
LIST_PATH = "/contents/api/open-notice/notice-list"
REFERER = "https://tickets.interpark.com/contents/notice"
ACCEPT = "application/json, text/plain, */*"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def compared(ticket: Ticket) -> dict[str, Any]:
    return {
        "site": ticket.site,
        "id": ticket.id,
        "title": ticket.title,
        "url": ticket.url,
        "open_at": ticket.open_at.isoformat() if ticket.open_at else None,
        "exclusive": ticket.exclusive,
        "category": ticket.category,
        "presales": [[p.name, p.at.isoformat() if p.at else None] for p in ticket.presales],
    }


def expected_fields(item: dict[str, Any]) -> dict[str, Any]:
    out = {key: item[key] for key in ("site", "id", "title", "url", "open_at", "exclusive", "category")}
    out["presales"] = [[p["name"], p["at"]] for p in item["presales"]]
    return out


def item(**fields: Any) -> dict[str, Any]:
    """A list item in the API's shape; ``fields`` override the defaults."""
    base: dict[str, Any] = {
        "noticeId": 1,
        "title": "뮤지컬 〈테스트〉",
        "openDateStr": "2027-12-02 10:00:00",
        "isGeneralLater": False,
        "venueName": "충무아트센터 대극장",
        "goodsGenreStr": "뮤지컬",
        "goodsRegionStr": "서울",
        "posterImageUrl": "https://ticketimage.interpark.com/x.gif",
        "openTypeStr": "일반예매",
        "goodsSeatTypeStr": "",
        "viewCount": 10,
        "groupMembers": [],
        "isHot": False,
        "isToping": False,
        "isGroup": False,
        "goodsCode": "25017507",
        "displayDateStr": "2027-11-20 10:00:00",
    }
    base.update(fields)
    return base


def page_of(*items: dict[str, Any]) -> bytes:
    return json.dumps(list(items), ensure_ascii=False).encode()


# --- fixtures: one test per sample page, then the whole crawl order --------------------------------


def _expected_slices() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    start = 0
    for name in PAGES:
        rows = len(json.loads(body(name)))
        out[name] = EXPECTED["items"][start : start + rows]
        start += rows
    return out


@pytest.mark.parametrize("name", PAGES)
def test_sample_page(name: str) -> None:
    tickets = parse(body(name), f"https://tickets.interpark.com{LIST_PATH}")
    assert [compared(t) for t in tickets] == [expected_fields(i) for i in _expected_slices()[name]]
    for ticket in tickets:
        assert ticket.problems() == []
        assert ticket.open_date is None
    forbidden = set(EXPECTED["must_not_alert_ids"])
    assert not forbidden & {t.id for t in tickets}


def test_samples_union_in_crawl_order_equals_expected() -> None:
    seen: dict[str, Ticket] = {}
    for name in PAGES:
        for ticket in parse(body(name)):
            seen.setdefault(ticket.id, ticket)
    assert [compared(t) for t in seen.values()] == [expected_fields(i) for i in EXPECTED["items"]]
    assert len(seen) == EXPECTED["count"]


def test_sample_side_fields() -> None:
    first = parse(body(PAGES[0]))
    by_id = {t.id: t for t in first}
    kard = by_id["11933"]
    assert kard.booking_url == "https://tickets.interpark.com/goods/25017507"
    assert kard.venue and kard.genre == "콘서트"
    assert kard.image_url.startswith("https://ticketimage.interpark.com/")
    assert isinstance(kard.views, int)
    assert kard.extra["open_type"] == "일반예매"
    assert by_id["12348"].booking_url == ""  # no goodsCode
    assert by_id["11968"].booking_url == "https://tickets.interpark.com/goods/P0004534"


def test_400_sample_is_not_a_list() -> None:
    with pytest.raises(ParseError, match="goodsGenre and goodsRegion are required"):
        parse(body("notice-list_400_missing_goodsRegion.json"))


# --- quirks ---------------------------------------------------------------------------------------


def test_general_later_means_no_open_time_even_with_a_date() -> None:
    [ticket] = parse(page_of(item(isGeneralLater=True, openDateStr="2027-12-21 12:00:00")))
    assert ticket.open_at is None and ticket.open_date is None
    assert ticket.extra["listed_date"] == "2027-12-21 12:00:00"
    assert ticket.problems() == []


def test_empty_open_date_is_tba() -> None:
    [ticket] = parse(page_of(item(isGeneralLater=False, openDateStr="")))
    assert ticket.open_at is None and ticket.open_date is None


def test_open_date_forms() -> None:
    assert parse_open("2025-06-24 10:00:00") == (seoul(2025, 6, 24, 10, 0), None)
    assert parse_open("2025-06-24T10:00") == (seoul(2025, 6, 24, 10, 0), None)
    assert parse_open("2025.12.04(목) 10:00") == (seoul(2025, 12, 4, 10, 0), None)
    assert parse_open("2025-06-24") == (None, date(2025, 6, 24))
    assert parse_open("2025-13-40 10:00:00") == (None, None)
    assert parse_open("추후공지") == (None, None)
    assert parse_open("2025-06-24 10:00:00", general_later=True) == (None, None)
    at, _ = parse_open("2027-12-09 00:00:00")
    assert at is not None and at.isoformat() == "2027-12-09T00:00:00+09:00"


@pytest.mark.parametrize(
    ("seat", "exclusive"),
    [("단독판매", True), (" 단독판매 ", True), ("상대우위", False), ("절대우위", False), ("", False)],
)
def test_exclusive_only_for_dandok(seat: str, exclusive: bool) -> None:
    [ticket] = parse(page_of(item(goodsSeatTypeStr=seat)))
    assert ticket.exclusive is exclusive


def test_titles_keep_literal_angle_brackets_and_fullwidth() -> None:
    titles = [
        "2027-28 양파 전국투어 콘서트 <HOMECOMING> - 대구 ",
        "<THE이재훈>전국투어콘서트 - 대전 ",
        "［Play＆Stay］LE SSERAFIM  TOUR ",
    ]
    tickets = parse(page_of(*(item(noticeId=n, title=t) for n, t in enumerate(titles, 1))))
    assert [t.title for t in tickets] == [
        "2027-28 양파 전국투어 콘서트 <HOMECOMING> - 대구",
        "<THE이재훈>전국투어콘서트 - 대전",
        "［Play＆Stay］LE SSERAFIM TOUR",
    ]


def test_title_markup_badges_entities_and_zero_width() -> None:
    assert clean_title("<b>[단독판매]</b> 2028 에픽하이\u200b 콘서트") == "2028 에픽하이 콘서트"
    assert clean_title("［단독］ 뮤지컬 &lt;판&gt; &amp; 토크") == "뮤지컬 <판> & 토크"
    assert clean_title("<em>뮤지컬</em>\t<span class='x'>홍련</span><br/>\n") == "뮤지컬 홍련"
    assert clean_title("") == ""


def test_group_members_count_once_at_their_own_place() -> None:
    member = item(noticeId=20, title="넘버블록스 - 수원", openDateStr="2028-01-25 14:00:00", goodsCode="")
    rep = item(noticeId=10, title="넘버블록스 - 앵콜", isGroup=True)
    rep["groupMembers"] = [dict(rep, groupMembers=[]), member]
    first = parse_page(page_of(rep, item(noticeId=11)))
    assert [t.id for t in first.tickets] == ["10", "11"]  # members are not rows of this page
    assert [t.id for t in first.members] == ["10", "20"]
    assert first.rows == 2
    second = parse_page(page_of(item(noticeId=12), member))
    assert [t.id for t in second.tickets] == ["12", "20"]


async def test_unlisted_group_member_is_added_at_the_end_of_the_crawl() -> None:
    member = item(noticeId=99, title="투어 - 부산", openDateStr="2028-02-01 14:00:00")
    rep = item(noticeId=10, title="투어 - 서울", isGroup=True)
    rep["groupMembers"] = [dict(rep, groupMembers=[]), member, item(noticeId=None, title="id 없음")]
    pages = {0: page_of(rep, *(item(noticeId=100 + n) for n in range(49))), 50: page_of(item(noticeId=11))}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=pages[int(request.url.params["offset"])])

    crawl = await run_crawl(handler)
    ids = [t.id for t in crawl.tickets]
    assert ids[0] == "10" and ids[-2:] == ["11", "99"]
    assert len(ids) == len(set(ids)) == 52
    assert any("group member" in note for note in crawl.notes)


def test_views_images_booking_and_extra() -> None:
    [a, b, c] = parse(
        page_of(
            item(
                noticeId=1,
                viewCount="1,234",
                posterImageUrl="//ticketimage.interpark.com/p.jpg",
                isToping=True,
            ),
            item(noticeId=2, viewCount=None, posterImageUrl="", goodsCode=" "),
            item(noticeId=3, viewCount=True, posterImageUrl="javascript:alert(1)", goodsCode="a/b"),
        )
    )
    assert (a.views, b.views, c.views) == (1234, None, None)
    assert a.image_url == "https://ticketimage.interpark.com/p.jpg"
    assert b.image_url == c.image_url == ""
    assert b.booking_url == ""
    assert c.booking_url == "https://tickets.interpark.com/goods/a%2Fb"
    assert a.extra["toping"] == "true" and "toping" not in b.extra
    assert a.extra["region"] == "서울" and a.extra["posted"] == "2027-11-20 10:00:00"


def test_change_category_from_open_type_or_title_badge() -> None:
    tickets = parse(
        page_of(
            item(noticeId=1, openTypeStr="일정 변경"),
            item(noticeId=2, title="[취소] 콘서트"),
            item(noticeId=3, openTypeStr="3차티켓오픈"),
        )
    )
    assert [t.category for t in tickets] == ["change", "change", "open"]


def test_item_missing_fields_becomes_an_invalid_ticket_not_an_error() -> None:
    tickets = parse(
        page_of(item(noticeId=5), {"noticeId": 6}, {"title": "제목만"}, item(noticeId="7", title=3))
    )
    assert [t.id for t in tickets] == ["5", "6", "", "7"]
    assert tickets[0].problems() == []
    assert "no title" in tickets[1].problems()
    assert tickets[1].open_at is None and tickets[1].views is None
    assert "no id" in tickets[2].problems()
    assert tickets[3].title == ""


def test_empty_array_is_an_empty_list() -> None:
    assert parse(b"[]") == []
    assert parse("\ufeff[]") == []


# --- not the page we expect -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>cf-chl</body></html>",
        b"\xef\xbb\xbf  <html><head><title>Access Denied</title></head></html>",
        b"Please complete the captcha to continue",
    ],
)
def test_challenge_page_is_a_parse_error_with_a_proxy_hint(raw: bytes | str) -> None:
    with pytest.raises(ParseError) as info:
        parse(raw, "https://tickets.interpark.com/contents/api/open-notice/notice-list")
    assert info.value.site == "interpark"
    assert not isinstance(info.value, ApiChangedError)
    assert info.value.hint is not None and "proxy" in info.value.hint


@pytest.mark.parametrize(
    "raw",
    [
        "<html><body><div id='__next'></div><script src='/_next/app.js'></script></body></html>",
        (FIXTURES / "notice-detail_10063.html").read_bytes(),  # the notice page where the API was
    ],
)
def test_the_sites_own_html_page_says_the_endpoint_moved_not_proxy(raw: bytes | str) -> None:
    with pytest.raises(ApiChangedError) as info:
        parse(raw, "https://tickets.interpark.com/contents/api/open-notice/notice-list")
    assert info.value.hint is not None and "proxy" not in info.value.hint
    assert "endpoint may have moved" in info.value.hint


@pytest.mark.parametrize(
    "raw",
    [
        b'[{"id": 1, "name": "x"}, {"id": 2}]',
        json.dumps([{k: v for k, v in row.items() if k != "noticeId"} for row in json.loads(body(PAGES[0]))]),
    ],
)
def test_items_without_notice_id_name_the_missing_field(raw: bytes | str) -> None:
    with pytest.raises(ApiChangedError) as info:
        parse(raw)
    assert "items have no noticeId: the API changed" in info.value.reason


@pytest.mark.parametrize(
    "raw",
    [
        body(PAGES[0])[:-200],  # truncated
        b"",
        b"\xff\xfe\x00[",  # not UTF-8
        b'{"data": []}',  # wrapped in an object
        b'"notice-list"',
        b"null",
        b"[1, 2, 3]",
        b'[{"noticeId": 1}, null]',
        b'[{"id": 1, "name": "x"}, {"id": 2}]',  # items of another API
        b"[" * 100_000,  # nesting deep enough to hit the recursion limit
    ],
)
def test_structure_changed_is_a_parse_error(raw: bytes) -> None:
    with pytest.raises(ParseError):
        parse(raw)


# --- the crawl through a real fetcher -------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


async def run_crawl(handler: Handler, *, page_cap: int = 30, base_url: str | None = None) -> Any:
    fetcher = Fetcher(HttpSettings(min_request_interval=0, retries=0), transport=httpx.MockTransport(handler))
    async with fetcher:
        crawler = InterparkCrawler(SiteSettings(page_cap=page_cap))
        return await crawler.crawl(fetcher.for_site("interpark", base_url))


def sample_server(requests: list[httpx.Request]) -> Handler:
    by_query = {tuple(parse_qsl(httpx.URL(e["url"]).query.decode())): e for e in INDEX}

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        entry = by_query.get(tuple(parse_qsl(request.url.query.decode())))
        if entry is None or request.url.path != LIST_PATH:
            return httpx.Response(404, json={"status": 404})
        return httpx.Response(
            entry["status"], content=body(entry["file"]), headers={"Content-Type": entry["content_type"]}
        )

    return handler


def assert_list_request(request: httpx.Request, offset: int) -> None:
    assert request.method == "GET"
    assert request.url.path == LIST_PATH
    assert list(parse_qsl(request.url.query.decode(), keep_blank_values=True)) == [
        ("goodsGenre", "ALL"),
        ("goodsRegion", "ALL"),
        ("offset", str(offset)),
        ("pageSize", "50"),
        ("sorting", "OPEN_ASC"),
    ]
    assert request.headers["Referer"] == REFERER
    assert request.headers["Accept"] == ACCEPT
    assert "Mozilla/5.0" in request.headers["User-Agent"]


async def test_crawl_pages_to_the_end_with_the_exact_requests() -> None:
    requests: list[httpx.Request] = []
    crawl = await run_crawl(sample_server(requests))
    lists = [r for r in requests if r.url.path == LIST_PATH]
    assert [r.url.host for r in lists] == ["tickets.interpark.com"] * 3
    for request, offset in zip(lists, (0, 50, 100), strict=True):
        assert_list_request(request, offset)
        assert str(request.url) == next(e["url"] for e in INDEX if f"offset={offset}&" in e["url"])
    assert crawl.pages == 3 and crawl.capped is False
    assert [compared(t) for t in crawl.tickets] == [expected_fields(i) for i in EXPECTED["items"]]


async def test_page_cap_stops_the_crawl_and_says_so() -> None:
    requests: list[httpx.Request] = []
    crawl = await run_crawl(sample_server(requests), page_cap=2)
    assert len([r for r in requests if r.url.path == LIST_PATH]) == 2
    assert crawl.pages == 2 and crawl.capped is True
    # 12546 is listed on the third page, which the cap skipped: its group representative carries it.
    assert [t.id for t in crawl.tickets] == [i["id"] for i in EXPECTED["items"][:100]] + ["12546"]


async def test_page_cap_equal_to_the_list_is_not_capped() -> None:
    crawl = await run_crawl(sample_server([]), page_cap=3)
    assert crawl.pages == 3 and crawl.capped is False


async def test_base_url_rewrites_the_host_but_links_stay_public() -> None:
    requests: list[httpx.Request] = []
    crawl = await run_crawl(sample_server(requests), base_url="http://127.0.0.1:9")
    assert {(r.url.scheme, r.url.host, r.url.port) for r in requests} == {("http", "127.0.0.1", 9)}
    assert_list_request(requests[0], 0)
    assert all(
        t.url.startswith("https://tickets.interpark.com/contents/notice/detail/") for t in crawl.tickets
    )
    assert any(t.booking_url.startswith("https://tickets.interpark.com/goods/") for t in crawl.tickets)


async def test_full_last_page_is_followed_by_an_empty_one() -> None:
    offsets: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        offsets.append(offset)
        rows = [item(noticeId=1000 + n) for n in range(50)] if offset == 0 else []
        return httpx.Response(200, content=page_of(*rows))

    crawl = await run_crawl(handler)
    assert offsets == [0, 50] and crawl.pages == 2 and not crawl.capped and len(crawl.tickets) == 50


async def test_a_site_ignoring_offset_does_not_loop_to_the_cap() -> None:
    full = page_of(*(item(noticeId=1000 + n) for n in range(50)))
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, content=full)

    crawl = await run_crawl(handler)
    assert len(calls) == 2 and len(crawl.tickets) == 50 and crawl.warnings


async def test_missing_param_400_is_a_fetch_error() -> None:
    # The sample server answers the saved 400 to a request without goodsRegion; ours always sends it.
    requests: list[httpx.Request] = []
    handler = sample_server(requests)
    missing = httpx.Request("GET", next(e["url"] for e in INDEX if e["status"] == 400))
    assert handler(missing).status_code == 400

    def without_region(request: httpx.Request) -> httpx.Response:
        params = [(k, v) for k, v in request.url.params.multi_items() if k != "goodsRegion"]
        return handler(httpx.Request("GET", request.url.copy_with(params=params)))

    with pytest.raises(FetchError) as info:
        await run_crawl(without_region)
    assert info.value.status == 400


async def test_blocked_ip_403_and_200_challenge() -> None:
    with pytest.raises(FetchError) as refused:
        await run_crawl(lambda r: httpx.Response(403, text="Forbidden"))
    assert refused.value.status == 403 and refused.value.hint and "proxy" in refused.value.hint

    challenge = "<html><head><title>Just a moment...</title></head><body></body></html>"
    with pytest.raises(ParseError) as blocked:
        await run_crawl(lambda r: httpx.Response(200, text=challenge, headers={"Content-Type": "text/html"}))
    assert blocked.value.hint and "proxy" in blocked.value.hint


def test_registry_finds_the_crawler() -> None:
    assert CRAWLER is InterparkCrawler
    assert discover(include_plugins=False)["interpark"] is InterparkCrawler
    assert InterparkCrawler.display_name == "인터파크 티켓"


# --- property: anything in → tickets or ParseError out ---------------------------------------------

SAMPLE_TEXTS = [body(name).decode("utf-8") for name in PAGES]


@st.composite
def mutated_samples(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SAMPLE_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 400)))
        replacement = draw(st.sampled_from(["", "0", '"', "null", "[]", "{}", "<", "true", "\u200b", "-1"]))
        text = text[:start] + replacement + text[end:]
    return text


def json_values() -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(sorted(item())),
                inner,
                max_size=6,
            )
        ),
        max_leaves=20,
    )


@settings(max_examples=200, deadline=None)
@given(
    st.binary(max_size=300)
    | st.text(max_size=300)
    | mutated_samples()
    | json_values().map(lambda v: json.dumps(v))
    | st.lists(json_values(), max_size=5).map(lambda v: json.dumps(v).encode())
)
def test_parse_returns_tickets_or_raises_parse_error(raw: bytes | str) -> None:
    try:
        tickets = parse(raw)
    except ParseError:
        return
    assert isinstance(tickets, list)
    assert all(isinstance(t, Ticket) and t.site == "interpark" for t in tickets)
