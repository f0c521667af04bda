"""Ticketlink crawler: fixture pages, every site quirk, the crawl through a real fetcher, fuzzing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawlers.sale_text import parse_korean_datetime, parse_presales, parse_sales
from crawlers.ticketlink import (
    CRAWLER,
    TicketlinkCrawler,
    clean_title,
    notice_category,
    parse,
    parse_item,
    parse_open_time,
    parse_page,
)
from ticket_alarm.config.settings import HttpSettings, SiteSettings
from ticket_alarm.core.model import Presale, Ticket, seoul
from ticket_alarm.errors import ApiChangedError, ParseError
from ticket_alarm.fetch.http import Fetcher

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ticketlink"
EXPECTED = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
LIST_PAGES = [f"getNoticeList_page{n}.json" for n in range(1, 9)]
ALL_CATEGORIES_PAGE = "getNoticeList_allCategories_page3.json"
COMPARED = ("site", "id", "title", "url", "open_at", "exclusive", "category", "presales")
PUBLIC_LIST = "https://www.ticketlink.co.kr/help/getNoticeList"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def project(ticket: Ticket, with_open_date: bool = False) -> dict[str, Any]:
    """The fields expected.json lists, in its representation."""
    out: dict[str, Any] = {
        "site": ticket.site,
        "id": ticket.id,
        "title": ticket.title,
        "url": ticket.url,
        "open_at": ticket.open_at.isoformat() if ticket.open_at else None,
        "exclusive": ticket.exclusive,
        "category": ticket.category,
        "presales": [{"name": p.name, "at": p.at.isoformat() if p.at else None} for p in ticket.presales],
    }
    if with_open_date:
        out["open_date"] = ticket.open_date.isoformat() if ticket.open_date else None
    return out


def expected(item: dict[str, Any]) -> dict[str, Any]:
    out = {key: item[key] for key in COMPARED}
    if "open_date" in item:
        out["open_date"] = item["open_date"]
    return out


def page_body(items: list[dict[str, Any]], current: int = 1, count: int = 1) -> bytes:
    paging = {"currentPage": current, "pageCount": count, "totalCount": len(items)}
    return json.dumps({"result": {"result": items, "paging": paging}}, ensure_ascii=False).encode()


def item(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "noticeId": 70001,
        "noticeCategoryCode": "TICKET_OPEN",
        "noticeCategoryName": "티켓오픈",
        "title": "테스트 공연 티켓오픈 안내",
        "ticketOpenDatetime": "2027-12-01T14:00:00",
        "registerDatetime": "2027-11-20T10:00:00",
        "viewCount": 10,
        "placeName": "테스트홀",
        "productId": 50001,
        "reserveWebUrl": "/reserve/product/50001",
        "subCategoryId": 15,
        "content": "<p>안녕하세요, 티켓링크입니다.</p>",
    }
    base.update(fields)
    return base


def one(**fields: Any) -> Ticket:
    tickets = parse(page_body([item(**fields)]))
    assert len(tickets) == 1
    return tickets[0]


# --- the fixture pages ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", LIST_PAGES)
def test_list_page_matches_expected(name: str) -> None:
    number = int(name.removeprefix("getNoticeList_page").removesuffix(".json"))
    tickets = parse(fixture(name), f"{PUBLIC_LIST}?page={number}")
    want = EXPECTED["items"][(number - 1) * 15 : number * 15]
    assert [project(t, "open_date" in w) for t, w in zip(tickets, want, strict=False)] == [
        expected(w) for w in want
    ]
    assert len(tickets) == len(want)
    for ticket in tickets:
        assert ticket.problems() == []


def test_union_of_pages_is_expected_in_crawl_order() -> None:
    tickets = [t for name in LIST_PAGES for t in parse(fixture(name))]
    assert [t.id for t in tickets] == [i["id"] for i in EXPECTED["items"]]
    assert len(tickets) == EXPECTED["count"] == 96
    assert [project(t) for t in tickets] == [expected(i) for i in EXPECTED["items"]]


def test_page_past_the_end_is_empty_not_an_error() -> None:
    page = parse_page(fixture("getNoticeList_page8.json"))
    assert page.tickets == [] and page.items == 0
    assert page.is_last(8)


def test_paging_read_from_every_page() -> None:
    for number, name in enumerate(LIST_PAGES[:7], start=1):
        page = parse_page(fixture(name))
        assert (page.current_page, page.page_count) == (number, 7)
        assert page.is_last(number) == (number == 7)


def test_all_categories_page_skips_other_categories() -> None:
    """63879 (기타/OTHER) must not be alerted: it is left out, not returned as a ticket."""
    page = parse_page(fixture(ALL_CATEGORIES_PAGE))
    ids = [t.id for t in page.tickets]
    for must_not in EXPECTED["must_not_alert_ids"]:
        assert must_not not in ids
    assert page.skipped == EXPECTED["must_not_alert_ids"]
    by_id = {i["id"]: i for i in EXPECTED["items"]}
    assert ids and all(i in by_id for i in ids)
    assert [project(t) for t in page.tickets] == [expected(by_id[i]) for i in ids]


def test_no_must_not_alert_id_in_any_page() -> None:
    produced = {t.id for name in [*LIST_PAGES, ALL_CATEGORIES_PAGE] for t in parse(fixture(name))}
    assert produced.isdisjoint(EXPECTED["must_not_alert_ids"])


def test_optional_change_notice_becomes_change_category() -> None:
    """The optional 변경/취소 notice, were it listed, is a valid 'change' ticket without an open time."""
    want = EXPECTED["optional"][0]
    ticket = one(
        noticeId=int(want["id"]),
        noticeCategoryCode="CHANGE_CANCEL",
        noticeCategoryName="변경/취소",
        title=want["title"],
        ticketOpenDatetime=None,
        content="<p>공연 취소 안내입니다.</p>",
    )
    assert project(ticket) == expected(want)
    assert ticket.problems() == []


def test_other_fields_of_a_sample_item() -> None:
    tickets = {t.id: t for t in parse(fixture("getNoticeList_page1.json"))}
    first = tickets["63584"]
    assert first.venue == "수원문화원 빛누리아트홀"
    assert first.views == 247
    assert first.booking_url == "https://www.ticketlink.co.kr/product/59501"
    assert tickets["63519"].booking_url == ""  # productId null: no booking link


# --- quirks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "title", "exclusive"),
    [
        (
            "<b>[단독판매]</b> 2028 AHOF 1st FAN-CON <BLUE HEART> 티켓오픈 안내",
            "2028 AHOF 1st FAN-CON <BLUE HEART> 티켓오픈 안내",
            True,
        ),
        (
            "<b>[단독판매] </b> \u200b2027 세븐나이츠 페스티벌\u200b 티켓오픈 안내",
            "2027 세븐나이츠 페스티벌 티켓오픈 안내",
            True,
        ),
        (
            "\u200b<b>[단독판매] </b> [링크스페셜데이_Page 7] 뮤지컬 <사과가 쿵!>\u200b 티켓오픈 안내",
            "[링크스페셜데이_Page 7] 뮤지컬 <사과가 쿵!> 티켓오픈 안내",
            True,
        ),
        ("[단독판매] 맨 배지 티켓오픈 안내", "맨 배지 티켓오픈 안내", True),
        ("<B>[단독 판매]</B> 대문자 태그", "대문자 태그", True),
        (
            "2027~28 임창정 단독 <양촌리 러브 스캔들> - 제주",
            "2027~28 임창정 단독 <양촌리 러브 스캔들> - 제주",
            False,
        ),
    ],
)
def test_exclusive_badge_removed(raw: str, title: str, exclusive: bool) -> None:
    assert clean_title(raw) == (title, exclusive)


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        (
            "2028 HWASA CONCERT <A여고 사서의 영광과 비극> 티켓오픈 안내",
            "2028 HWASA CONCERT <A여고 사서의 영광과 비극> 티켓오픈 안내",
        ),
        ("뮤지컬 멜로우TV <T와 F의 로맨스> - 서울", "뮤지컬 멜로우TV <T와 F의 로맨스> - 서울"),
        ("DK UNIVERSE <It's Son Time> - 고양", "DK UNIVERSE <It's Son Time> - 고양"),
        ("콘서트 <I Love You> 앵콜", "콘서트 <I Love You> 앵콜"),
        ('<b>굵게</b> <strong>강조</strong> <span style="color:red">빨강</span>', "굵게 강조 빨강"),
        ("가족뮤지컬 &lt;드림하이&gt; 안내", "가족뮤지컬 <드림하이> 안내"),
        ("정명훈 & 원 코리아 오케스트라", "정명훈 & 원 코리아 오케스트라"),
        (
            "가족뮤지컬 <뚜식이 : 뚜식이라서 다행이야!> - 수원  티켓오픈\u3000안내",
            "가족뮤지컬 <뚜식이 : 뚜식이라서 다행이야!> - 수원 티켓오픈 안내",
        ),
    ],
)
def test_literal_angle_text_kept_markup_removed(raw: str, title: str) -> None:
    assert clean_title(raw) == (title, False)


def test_zero_width_characters_removed() -> None:
    ticket = one(title="\u200b어린이 뮤지컬 '캣' - 강릉\u200b\u200b\ufeff 티켓오픈 안내")
    assert ticket.title == "어린이 뮤지컬 '캣' - 강릉 티켓오픈 안내"


def test_title_of_wrong_type_gives_empty_title() -> None:
    assert clean_title(None) == ("", False)
    assert clean_title(12345) == ("", False)


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("2026-10-14T11:00:00", "2026-10-14T11:00:00+09:00"),
        ("2026-10-14 11:00", "2026-10-14T11:00:00+09:00"),
        ("2026.10.14 11:00", "2026-10-14T11:00:00+09:00"),
        ("2026-10-14T11:00:00.000", "2026-10-14T11:00:00+09:00"),
        ("2026-10-14T02:00:00Z", "2026-10-14T11:00:00+09:00"),
        ("2026-10-14T11:00:00+09:00", "2026-10-14T11:00:00+09:00"),
        ("2026-10-14T02:00:00+0000", "2026-10-14T11:00:00+09:00"),
        (1827658800000, "2027-12-01T20:00:00+09:00"),  # epoch ms, UTC based (63576 in the fixtures)
        ("1827658800000", "2027-12-01T20:00:00+09:00"),
        (1827658800000.0, "2027-12-01T20:00:00+09:00"),
        (1827658800, "2027-12-01T20:00:00+09:00"),  # epoch seconds
        (1798729200000, "2027-01-01T00:00:00+09:00"),  # 15:00 UTC the day before: the date moves
    ],
)
def test_open_time_iso_local_or_epoch_ms(value: object, iso: str) -> None:
    at, day = parse_open_time(value)
    assert at is not None and at.isoformat() == iso and day is None
    assert one(ticketOpenDatetime=value).open_at == at


@pytest.mark.parametrize(
    "value", [None, "", "추후공지", "TBA", True, 0, -5, 10**30, float("nan"), "2027-13-45T99:00:00", [], {}]
)
def test_open_time_unknown_is_none(value: object) -> None:
    assert parse_open_time(value) == (None, None)
    ticket = one(ticketOpenDatetime=value)
    assert ticket.open_at is None and ticket.open_date is None
    assert ticket.problems() == []


def test_open_date_without_time() -> None:
    assert parse_open_time("2027-12-24") == (None, date(2027, 12, 24))
    ticket = one(ticketOpenDatetime="2027-12-24")
    assert ticket.open_at is None and ticket.open_date == date(2027, 12, 24)


def test_open_time_falls_back_to_general_sale_line() -> None:
    content = "<div><b>[일반 예매 안내]</b></div><div>* 일반예매 : 2027년 12월 22일 (수) 10:00</div>"
    ticket = one(ticketOpenDatetime=None, content=content)
    assert ticket.open_at == seoul(2027, 12, 22, 10)
    # the field wins over the body when both are there
    assert one(ticketOpenDatetime="2027-12-23T11:00:00", content=content).open_at == seoul(2027, 12, 23, 11)


def test_presales_from_content_lines() -> None:
    content = (
        "<p>안녕하세요, 티켓링크입니다.</p><div><b>[팬클럽 선예매 안내]</b></div>"
        "<div>* 팬클럽 선예매 : 2027년 12월 20일 (월) 20:00</div>"
        "<div><b>[멤버십 선예매 안내]</b></div><div>* 멤버십&nbsp;선예매 : 2027년 12월 21일 (화) 12:00</div>"
        "<div>* 일반예매 : 2027년 12월 22일 (수) 10:00</div>"
    )
    assert parse_presales(content) == (
        Presale("팬클럽 선예매", seoul(2027, 12, 20, 20)),
        Presale("멤버십 선예매", seoul(2027, 12, 21, 12)),
    )


def test_presale_variants() -> None:
    content = (
        "<p>- 팬클럽 선예매(FC) : 2027.12.01(수) 오후 8시</p>"
        "<p>※ 선예매 인증 기간 : 2027년 11월 20일 10:00 ~ 11월 25일</p>"  # registration, not a sale
        "<p>▶ 멤버십 선예매: 추후 공지</p>"
        "<p>팬클럽 선예매는 회원만 가능합니다.</p>"  # prose without a colon
        "<p>* 팬클럽 선예매(FC) : 2027.12.01(수) 오후 8시</p>"  # repeated: kept once
        "선예매 안내<br>* 카드 선예매 : 12월 2일 (목) 오전 11:30<br/>"  # no year: from the reference
    )
    assert parse_presales(content, reference=seoul(2027, 12, 3, 10)) == (
        Presale("팬클럽 선예매(FC)", seoul(2027, 12, 1, 20)),
        Presale("멤버십 선예매", None),
        Presale("카드 선예매", seoul(2027, 12, 2, 11, 30)),
    )


def test_presale_year_across_new_year() -> None:
    assert parse_korean_datetime("12월 30일 20:00", reference=seoul(2028, 1, 3, 10)) == seoul(
        2027, 12, 30, 20
    )
    assert parse_korean_datetime("1월 2일 20:00", reference=seoul(2027, 12, 30, 10)) == seoul(2028, 1, 2, 20)
    assert parse_korean_datetime("1월 2일 20:00") is None  # no year and nothing to take it from
    assert parse_korean_datetime("2027년 2월 30일 20:00") is None  # no such day


@pytest.mark.parametrize("content", [None, "", "<p>안녕하세요</p>", 42, "<p>[팬클럽 선예매 안내]</p>"])
def test_no_presales(content: object) -> None:
    assert parse_presales(content) == ()


def test_presales_reach_the_ticket() -> None:
    content = "<div>* 팬클럽 선예매(FC) : 2027년 12월 1일 (수) 20:00</div>"
    assert one(content=content).presales == (Presale("팬클럽 선예매(FC)", seoul(2027, 12, 1, 20)),)


@pytest.mark.parametrize(
    ("code", "name", "category"),
    [
        ("TICKET_OPEN", "티켓오픈", "open"),
        ("TICKET_OPEN", None, "open"),
        (None, "티켓오픈", "open"),
        (None, None, "open"),  # no category field: the list was asked for TICKET_OPEN
        ("CHANGE_CANCEL", "변경/취소", "change"),
        ("CANCEL", "", "change"),
        ("ETC", "변경 / 취소", "change"),
        ("OTHER", "기타", None),
        ("EVENT", "이벤트", None),
        ("SERVICE", None, None),
    ],
)
def test_categories(code: object, name: object, category: str | None) -> None:
    assert notice_category(code, name) == category
    tickets = parse(page_body([item(noticeCategoryCode=code, noticeCategoryName=name)]))
    assert [t.category for t in tickets] == ([category] if category else [])


def test_links_venue_views() -> None:
    ticket = one(
        noticeId=63584, productId=59501, placeName="수원문화원\u00a0빛누리아트홀 ", viewCount="1,234"
    )
    assert ticket.url == "https://www.ticketlink.co.kr/help/notice/63584"
    assert ticket.booking_url == "https://www.ticketlink.co.kr/product/59501"
    assert ticket.venue == "수원문화원 빛누리아트홀"
    assert ticket.views == 1234
    assert one(productId=None, reserveWebUrl=None).booking_url == ""
    assert one(productId=None, reserveWebUrl="/reserve/product/777").booking_url.endswith("/product/777")
    assert one(viewCount="많음").views is None


def test_item_missing_fields_still_becomes_a_ticket() -> None:
    tickets = parse(page_body([{"title": "제목만 있는 공지"}, {"noticeId": 5}]))
    assert [(t.id, t.title, t.url) for t in tickets] == [
        ("", "제목만 있는 공지", ""),
        ("5", "", "https://www.ticketlink.co.kr/help/notice/5"),
    ]
    assert "no id" in tickets[0].problems()
    assert "no title" in tickets[1].problems()


def test_string_ids_and_odd_values() -> None:
    ticket = one(noticeId="63584", productId="59501", viewCount=3.0, placeName=7, content=["x"])
    assert ticket.id == "63584"
    assert ticket.booking_url == "https://www.ticketlink.co.kr/product/59501"
    assert (ticket.views, ticket.venue, ticket.presales) == (3, "", ())
    assert one(noticeId={"id": 1}).id == ""
    assert one(noticeId=True).id == ""


def test_missing_paging_short_page_ends_the_list() -> None:
    body = json.dumps({"result": {"result": [item()]}}).encode()
    page = parse_page(body)
    assert (page.current_page, page.page_count) == (None, None)
    assert page.is_last(1)
    full = json.dumps({"result": {"result": [item(noticeId=i) for i in range(15)]}}).encode()
    assert not parse_page(full).is_last(1)


def test_bom_and_text_bodies() -> None:
    body = fixture("getNoticeList_page7.json")
    assert [t.id for t in parse(b"\xef\xbb\xbf" + body)] == [t.id for t in parse(body)]
    assert [t.id for t in parse(body.decode("utf-8"))] == [t.id for t in parse(body)]


# --- pages that are not the list --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"<html><head><title>Just a moment...</title></head><body>Checking your browser</body></html>",
        "\ufeff<html><body>보안 확인</body></html>".encode(),
    ],
)
def test_challenge_page_raises_with_proxy_hint(body: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse(body, PUBLIC_LIST)
    assert info.value.site == "ticketlink"
    assert not isinstance(info.value, ApiChangedError)
    assert info.value.hint and "proxy" in info.value.hint


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE html><html><head><script src="/static/js/app.js"></script></head>'
        b'<body><div id="root"></div></body></html>',
        b"\n\n  <!doctype html><title>\xed\x8b\xb0\xec\xbc\x93\xeb\xa7\x81\xed\x81\xac</title>",
    ],
)
def test_the_sites_script_shell_says_the_endpoint_moved(body: bytes) -> None:
    with pytest.raises(ApiChangedError) as info:
        parse(body, PUBLIC_LIST)
    assert info.value.hint and "endpoint may have moved" in info.value.hint and "proxy" not in info.value.hint


def test_items_without_notice_id_are_a_changed_api() -> None:
    data = json.loads(fixture("getNoticeList_page1.json"))
    for item in data["result"]["result"]:
        del item["noticeId"]
    with pytest.raises(ApiChangedError) as info:
        parse(json.dumps(data))
    assert "items have no noticeId: the API changed" in info.value.reason


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        fixture("getNoticeList_page1.json")[:5000],  # truncated
        b'{"result": {"result": [',
        b"not json at all",
        b"1" * 5000,  # a number too long for int()
        b"[" * 100_000,  # nesting too deep
    ],
)
def test_truncated_or_unreadable_json_raises(body: bytes) -> None:
    with pytest.raises(ParseError):
        parse(body)


@pytest.mark.parametrize(
    "data",
    [
        [],
        [{"noticeId": 1}],
        {},
        {"result": None},
        {"result": []},
        {"result": {"result": None}},
        {"result": {"result": {"noticeId": 1}}},
        {"result": {"list": []}},
        {"result": {"code": 500, "message": "서버 오류"}},
        {"data": {"result": []}},
        "result",
        None,
    ],
)
def test_structure_changed_raises(data: object) -> None:
    with pytest.raises(ParseError) as info:
        parse(json.dumps(data).encode())
    assert "unexpected JSON" in info.value.reason


def test_error_message_named_in_reason() -> None:
    with pytest.raises(ParseError) as info:
        parse(json.dumps({"result": {"code": 500, "message": "서버 오류"}}, ensure_ascii=False).encode())
    assert "서버 오류" in info.value.reason


@pytest.mark.parametrize("bad", [None, 1, "notice", ["x"]])
def test_item_that_is_not_an_object_raises(bad: object) -> None:
    with pytest.raises(ParseError):
        parse(page_body([item(), bad]))  # type: ignore[list-item]


# --- the crawl through a real fetcher ---------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def fixture_server(
    requests: list[httpx.Request], transform: Callable[[int, bytes], bytes] | None = None
) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        assert request.url.path == "/help/getNoticeList"
        number = int(request.url.params["page"])
        name = f"getNoticeList_page{number}.json"
        body = fixture(name) if (FIXTURES / name).exists() else fixture("getNoticeList_page8.json")
        if transform is not None:
            body = transform(number, body)
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json;charset=UTF-8"})

    return handler


def make_fetcher(handler: Handler) -> Fetcher:
    return Fetcher(HttpSettings(min_request_interval=0, retries=0), transport=httpx.MockTransport(handler))


async def test_crawl_pages_to_the_end_with_the_exact_requests() -> None:
    requests: list[httpx.Request] = []
    async with make_fetcher(fixture_server(requests)) as fetcher:
        crawl = await TicketlinkCrawler().crawl(fetcher.for_site("ticketlink"))
    assert crawl.pages == 7 and not crawl.capped
    assert [t.id for t in crawl.tickets] == [i["id"] for i in EXPECTED["items"]]
    assert [project(t) for t in crawl.tickets] == [expected(i) for i in EXPECTED["items"]]
    assert len(requests) == 7
    for number, request in enumerate(requests, start=1):
        assert request.method == "GET"
        assert str(request.url) == (
            f"{PUBLIC_LIST}?page={number}&noticeCategoryCode=TICKET_OPEN&title=&sortCode=OPEN_DATE"
        )
        assert request.headers["Referer"] == "https://www.ticketlink.co.kr/help/notice"
        assert request.headers["Accept"] == "application/json"
        assert "X-Requested-With" not in request.headers
        assert request.headers["User-Agent"].startswith("Mozilla/5.0")


async def test_crawl_stops_at_page_cap() -> None:
    requests: list[httpx.Request] = []
    async with make_fetcher(fixture_server(requests)) as fetcher:
        crawl = await TicketlinkCrawler(SiteSettings(page_cap=3)).crawl(fetcher.for_site("ticketlink"))
    assert crawl.capped and crawl.pages == 3 and len(requests) == 3
    assert [t.id for t in crawl.tickets] == [i["id"] for i in EXPECTED["items"][:45]]


async def test_cap_equal_to_the_last_page_is_not_capped() -> None:
    requests: list[httpx.Request] = []
    async with make_fetcher(fixture_server(requests)) as fetcher:
        crawl = await TicketlinkCrawler(SiteSettings(page_cap=7)).crawl(fetcher.for_site("ticketlink"))
    assert not crawl.capped and crawl.pages == 7 and len(crawl.tickets) == 96


async def test_crawl_without_paging_stops_at_the_empty_page() -> None:
    def drop_paging(number: int, body: bytes) -> bytes:
        data = json.loads(body)
        data["result"].pop("paging")
        if number == 7:  # make the last page full, so only the empty page 8 ends the list
            data["result"]["result"] = (data["result"]["result"] * 3)[:15]
        return json.dumps(data, ensure_ascii=False).encode()

    requests: list[httpx.Request] = []
    async with make_fetcher(fixture_server(requests, drop_paging)) as fetcher:
        crawl = await TicketlinkCrawler().crawl(fetcher.for_site("ticketlink"))
    assert [r.url.params["page"] for r in requests] == [str(n) for n in range(1, 9)]
    assert crawl.pages == 8 and not crawl.capped and len(crawl.tickets) == 96


async def test_crawl_skips_other_categories_with_a_note() -> None:
    def mixed(number: int, body: bytes) -> bytes:
        return fixture(ALL_CATEGORIES_PAGE) if number == 3 else body

    requests: list[httpx.Request] = []
    async with make_fetcher(fixture_server(requests, mixed)) as fetcher:
        crawl = await TicketlinkCrawler().crawl(fetcher.for_site("ticketlink"))
    ids = {t.id for t in crawl.tickets}
    assert ids.isdisjoint(EXPECTED["must_not_alert_ids"])
    assert any("63879" in note for note in crawl.notes)


async def test_challenge_page_mid_crawl_raises() -> None:
    def challenge(number: int, body: bytes) -> bytes:
        return b"<html><head><title>Just a moment...</title></head></html>" if number == 2 else body

    async with make_fetcher(fixture_server([], challenge)) as fetcher:
        with pytest.raises(ParseError) as info:
            await TicketlinkCrawler().crawl(fetcher.for_site("ticketlink"))
    assert info.value.hint and "proxy" in info.value.hint


async def test_base_url_rewrites_the_host_links_stay_public() -> None:
    requests: list[httpx.Request] = []
    async with make_fetcher(fixture_server(requests)) as fetcher:
        fetch = fetcher.for_site("ticketlink", "http://127.0.0.1:9")
        crawl = await TicketlinkCrawler(SiteSettings(page_cap=2)).crawl(fetch)
    assert {(r.url.scheme, r.url.host, r.url.port) for r in requests} == {("http", "127.0.0.1", 9)}
    assert requests[0].url.path == "/help/getNoticeList"
    assert requests[0].url.query == b"page=1&noticeCategoryCode=TICKET_OPEN&title=&sortCode=OPEN_DATE"
    assert all(t.url.startswith("https://www.ticketlink.co.kr/help/notice/") for t in crawl.tickets)
    assert all(
        t.booking_url == "" or t.booking_url.startswith("https://www.ticketlink.co.kr/product/")
        for t in crawl.tickets
    )


def test_crawler_declaration() -> None:
    assert CRAWLER is TicketlinkCrawler
    assert TicketlinkCrawler.name == "ticketlink"
    assert TicketlinkCrawler.display_name == "티켓링크"
    assert 0 <= TicketlinkCrawler.color <= 0xFFFFFF


# --- fuzzing ---------------------------------------------------------------------------------------

SAMPLES = [fixture(name) for name in [*LIST_PAGES, ALL_CATEGORIES_PAGE]]
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    [
        "noticeId",
        "noticeCategoryCode",
        "noticeCategoryName",
        "title",
        "ticketOpenDatetime",
        "registerDatetime",
        "viewCount",
        "placeName",
        "productId",
        "reserveWebUrl",
        "content",
    ]
)


def check(body: bytes | str) -> None:
    try:
        tickets = parse(body)
    except ParseError:
        return
    assert isinstance(tickets, list)
    assert all(isinstance(t, Ticket) for t in tickets)


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(body: bytes) -> None:
    check(body)


@FUZZ
@given(st.text(max_size=2000))
def test_fuzz_random_text(body: str) -> None:
    check(body)


@FUZZ
@given(st.sampled_from(SAMPLES), st.data())
def test_fuzz_sample_with_slice_deleted(sample: bytes, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(sample)))
    end = data.draw(st.integers(start, min(len(sample), start + 400)))
    check(sample[:start] + sample[end:])


@FUZZ
@given(st.sampled_from(SAMPLES), st.data())
def test_fuzz_sample_with_characters_replaced(sample: bytes, data: st.DataObject) -> None:
    text = bytearray(sample)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(text) - 1))
        text[position] = data.draw(st.sampled_from(b'{}[]":,<>0123456789 \\nulltrue\xff'))
    check(bytes(text))


@FUZZ
@given(st.lists(st.dictionaries(FIELDS, JSON_VALUES, max_size=11), max_size=4), JSON_VALUES)
def test_fuzz_items_with_random_field_values(items: list[dict[str, Any]], paging: Any) -> None:
    body = json.dumps({"result": {"result": items, "paging": paging}}, allow_nan=True).encode()
    check(body)
    if items and not any(item.get("noticeId") not in (None, "") for item in items):
        with pytest.raises(ApiChangedError):  # a list whose items lack the id: the API changed
            parse_page(body)
        return
    page = parse_page(body)  # well-formed list: never an error
    assert page.items == len(items)
    page.is_last(1)


@FUZZ
@given(st.text(max_size=300))
def test_fuzz_content_and_title_helpers(text: str) -> None:
    assert isinstance(parse_presales(text, reference=seoul(2027, 1, 1)), tuple)
    sales = parse_sales(text, registered=seoul(2026, 12, 30))
    assert sales.general is None or sales.general.utcoffset() is not None
    assert all(p.name and (p.at is None or p.at.utcoffset() is not None) for p in sales.presales)
    assert isinstance(clean_title(text)[0], str)
    parse_open_time(text)


# --- bodies as real notices word them --------------------------------------------------------------

REAL_WORDING = json.loads(fixture("notice_real_wording.json"))["result"]


def test_real_wording_no_colon_pm_no_year_heading_names_and_no_verification_window() -> None:
    ticket = one(**REAL_WORDING)
    assert ticket.open_at == seoul(2024, 8, 23, 20)  # "일반예매는 08/23 (금) 20:00PM 부터": the open time
    assert ticket.presales == (Presale("팬클럽 선예매", seoul(2024, 8, 21, 20)),)  # not "선예매 기간"
    assert ticket.exclusive


def test_presales_do_not_depend_on_ticket_open_datetime() -> None:
    presale_time_ms = int(seoul(2024, 8, 21, 20).timestamp() * 1000)
    with_field = one(**{**REAL_WORDING, "ticketOpenDatetime": presale_time_ms})
    # the API's open time was the presale's: the general sale becomes the open time
    assert with_field.open_at == seoul(2024, 8, 23, 20)
    assert with_field.presales == (Presale("팬클럽 선예매", seoul(2024, 8, 21, 20)),)
    general_ms = int(seoul(2024, 8, 23, 20).timestamp() * 1000)
    assert one(**{**REAL_WORDING, "ticketOpenDatetime": general_ms}).presales == with_field.presales


def test_year_rolls_over_at_new_year_from_register_datetime() -> None:
    content = "<p>[팬클럽 선예매 안내]</p><p>* 선예매 기간: 12/30(월) 20:00PM ~ 12/31(화) 23:59PM</p>"
    content += "<p>- 일반예매는 01/03 (금) 08:00PM 부터 진행됩니다.</p>"
    ticket = one(content=content, registerDatetime="2024-12-27T10:00:00", ticketOpenDatetime=None)
    assert ticket.open_at == seoul(2025, 1, 3, 20)  # 08:00PM is 20:00, in the next year
    assert ticket.presales == (Presale("팬클럽 선예매", seoul(2024, 12, 30, 20)),)


@pytest.mark.parametrize(
    "line",
    [
        "<p>[팬클럽 선예매 안내]</p><p>* 인증 기간: 08/19(월) 12:00PM ~ 08/20(화) 23:59PM</p>",
        "<p>[선예매 인증 안내]</p><p>* 기간: 08/19(월) 12:00 ~ 08/20(화) 23:59</p>",
        "<p>팬클럽 선예매는 회원만 가능합니다.</p><p>공연 일시: 08/19(월) 19:00</p>",
    ],
)
def test_verification_windows_and_other_dates_are_not_sales(line: str) -> None:
    assert one(content=line, registerDatetime="2024-08-12T10:00:00").presales == ()


def test_a_saved_notice_json_gives_its_schedule() -> None:
    from crawlers.ticketlink import parse_notice_page

    schedule = parse_notice_page(fixture("notice_real_wording.json"))
    assert schedule is not None and schedule.open_at == seoul(2024, 8, 23, 20)
    assert schedule.presales == (Presale("팬클럽 선예매", seoul(2024, 8, 21, 20)),)
    assert parse_notice_page(fixture("getNoticeList_page1.json")) is None  # a list page is not one


def test_posting_time_reaches_the_alert_footer() -> None:
    """registerDatetime (ISO or epoch ms) is the notice's posting time: the alert's footer shows it."""
    from ticket_alarm.delivery.discord.render import render_notice

    items = json.loads((FIXTURES / "getNoticeList_page1.json").read_text(encoding="utf-8"))["result"][
        "result"
    ]
    tickets = [t for t in (parse_item(i) for i in items[:3]) if t is not None]
    assert [t.extra.get("posted") for t in tickets] == [
        "2027-11-26 15:25",
        "2027-11-24 17:38",
        "2027-11-25 11:40",
    ]
    embed = render_notice(tickets[0], "티켓링크", 1)
    assert embed["footer"] == {"text": "ticket-alarm · 게시 2027-11-26 15:25 · 새 공지"}
    assert [f["name"] for f in embed["fields"]][-2:] == ["장소", "예매"]  # venue and booking link
