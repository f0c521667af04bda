"""YES24 Ticket crawler: fixture pages, every README quirk, error pages, the crawl over HTTP, fuzzing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from selectolax.lexbor import LexborHTMLParser

from crawlers.yes24 import (
    CRAWLER,
    Yes24Crawler,
    category_of,
    escape_stray_brackets,
    parse,
    parse_datetime,
    parse_page,
)
from ticket_alarm.config.settings import HttpSettings, SiteSettings
from ticket_alarm.core.model import Presale, Ticket, seoul
from ticket_alarm.errors import ApiChangedError, FetchError, ParseError
from ticket_alarm.fetch.http import Fetcher

FIXTURES = Path(__file__).parents[1] / "fixtures" / "yes24"
EXPECTED: dict[str, Any] = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
PAGES = sorted(FIXTURES.glob("axList_page*.html"), key=lambda p: int(p.stem.removeprefix("axList_page")))
INDEX: list[dict[str, Any]] = json.loads((FIXTURES / "INDEX.json").read_text(encoding="utf-8"))
LIST_PATH = "/New/Notice/Ajax/axList.aspx"
FORM = "page={page}&size=20&genre=&province=&order=2&searchType=All&searchText="
PUBLIC = "https://ticket.yes24.com/New/Notice/NoticeMain.aspx#id="


def page_bytes(number: int) -> bytes:
    return (FIXTURES / f"axList_page{number}.html").read_bytes()


def as_expected(ticket: Ticket) -> dict[str, Any]:
    """The ticket in expected.json's shape (the compared fields only)."""
    return {
        "site": ticket.site,
        "id": ticket.id,
        "title": ticket.title,
        "url": ticket.url,
        "open_at": ticket.open_at.isoformat() if ticket.open_at else None,
        "exclusive": ticket.exclusive,
        "category": ticket.category,
        "presales": [{"name": p.name, "at": p.at.isoformat() if p.at else None} for p in ticket.presales],
    }


def expected_item(item: dict[str, Any]) -> dict[str, Any]:
    keys = ("site", "id", "title", "url", "open_at", "exclusive", "category", "presales")
    out = {key: item[key] for key in keys}
    if "open_date" in item:
        out["open_date"] = item["open_date"]
    return out


def compared(ticket: Ticket, item: dict[str, Any]) -> dict[str, Any]:
    got = as_expected(ticket)
    if "open_date" in item:
        got["open_date"] = ticket.open_date.isoformat() if ticket.open_date else None
    return got


def table(*rows: str) -> str:
    """A list response holding the header row and ``rows``."""
    header = "<tr><th>구분</th><th>제목</th><th>티켓오픈 일시</th><th>조회수</th></tr>"
    body = f"<caption>공지사항 목록</caption><tbody>{header}{''.join(rows)}</tbody>"
    return f'<div class="noti-tbl"><table>{body}</table></div>'


def row(link: str, when: str = "2027.11.11(목) 20:00", views: str = "1,234", label: str = "티켓오픈") -> str:
    return f"<tr><td>{label}</td><td>{link}</td><td>{when}</td><td>{views}</td></tr>"


def one(html: str | bytes) -> Ticket:
    tickets = parse(html)
    assert len(tickets) == 1, tickets
    return tickets[0]


# --- the fixture pages -------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.name)
def test_fixture_page_matches_expected(path: Path) -> None:
    by_id = {item["id"]: item for item in EXPECTED["items"]}
    order = [item["id"] for item in EXPECTED["items"]]
    tickets = parse(path.read_bytes(), "https://ticket.yes24.com/New/Notice/Ajax/axList.aspx")
    for ticket in tickets:
        assert ticket.id in by_id, f"{ticket.id} is not an expected notice"
        assert compared(ticket, by_id[ticket.id]) == expected_item(by_id[ticket.id])
        assert ticket.problems() == []
    positions = [order.index(t.id) for t in tickets]
    assert positions == sorted(positions), "the page's notices are not in crawl order"
    assert not {t.id for t in tickets} & set(EXPECTED["must_not_alert_ids"])


def test_union_of_pages_equals_expected_in_crawl_order() -> None:
    tickets = [t for path in PAGES for t in parse(path.read_bytes())]
    assert len(tickets) == EXPECTED["count"] == len(EXPECTED["items"])
    assert [compared(t, item) for t, item in zip(tickets, EXPECTED["items"], strict=True)] == [
        expected_item(item) for item in EXPECTED["items"]
    ]


def test_must_not_alert_rows_are_not_produced_but_are_counted_as_rows() -> None:
    # 서비스점검 rows yield no Ticket at all (so nothing can alert); the paging still counts them.
    page = parse_page(page_bytes(7))
    assert page.rows == 7
    assert len(page.tickets) == 5
    assert [notice_id for notice_id, _ in page.skipped] == EXPECTED["must_not_alert_ids"]
    assert {label for _, label in page.skipped} == {"서비스점검"}


def test_last_page_holds_only_the_header_row() -> None:
    page = parse_page(page_bytes(8))
    assert page.rows == 0
    assert page.tickets == []


def test_views_and_tba() -> None:
    tickets = {t.id: t for t in parse(page_bytes(1))}
    assert tickets["16905"].views == 50796
    assert tickets["16921"].views == 54
    tba = {t.id: t for t in parse(page_bytes(7))}
    assert tba["17063"].open_at is None and tba["17063"].open_date is None


# --- one test per quirk --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "title"),
    [
        ('<a href="#id=1">연극 <엘리펀트 송> 2차 티켓오픈 안내</a>', "연극 <엘리펀트 송> 2차 티켓오픈 안내"),
        ('<a href="#id=1">2027 투어 <MOVE ON> FINAL - 광주</a>', "2027 투어 <MOVE ON> FINAL - 광주"),
        ('<a href="#id=1"><HEAVEN’S ECHO> 티켓오픈 안내</a>', "<HEAVEN’S ECHO> 티켓오픈 안내"),
        (
            '<a href="#id=1"><em>단독판매</em><em><V TYPE 非 : ON-SITE> 개최</em></a>',
            "<V TYPE 非 : ON-SITE> 개최",
        ),
        # Upper-case tag names and attribute-less words are text, even where they spell an element.
        ('<a href="#id=1">뮤지컬 <A Little Life> 안내</a>', "뮤지컬 <A Little Life> 안내"),
        ('<a href="#id=1">콘서트 <B> 안내</a>', "콘서트 <B> 안내"),
        ('<a href="#id=1">뮤지컬 <td class> 안내</a>', "뮤지컬 <td class> 안내"),
        ('<a href="#id=1">쇼 <TABLE FOR TWO> 안내</a>', "쇼 <TABLE FOR TWO> 안내"),
        ('<a href="#id=1">연극 <!관객> 안내</a>', "연극 <!관객> 안내"),
        ('<a href="#id=1">A < B > C</a>', "A < B > C"),
        ('<a href="#id=1">연극 &lt;이미 이스케이프&gt; 안내</a>', "연극 <이미 이스케이프> 안내"),
        ('<a href="#id=1">닫는 <꺾쇠 없음 안내</a>', "닫는 <꺾쇠 없음 안내"),
    ],
)
def test_unescaped_angle_brackets_stay_title_text(link: str, title: str) -> None:
    tickets = parse(table(row(link), row('<a href="#id=2">다음 공지</a>', "2027.11.12(금) 10:00", "7")))
    assert [(t.id, t.title) for t in tickets] == [("1", title), ("2", "다음 공지")]
    # The brackets did not swallow the row's other cells.
    assert tickets[0].open_at == seoul(2027, 11, 11, 20, 0)
    assert tickets[0].views == 1234
    assert tickets[1].open_at == seoul(2027, 11, 12, 10, 0)


def test_escape_keeps_real_markup_and_escapes_the_rest() -> None:
    markup = (
        '<div class="noti-tbl"><table><col style="width:110px" /><tr><td nowrap>'
        "<a href=#id=1 class='x'>y</a><br/><!-- note --></td></tr></table></div>"
    )
    assert escape_stray_brackets(markup) == markup
    assert escape_stray_brackets("<MOVE ON> <팬레터> </ECHO>") == "&lt;MOVE ON> &lt;팬레터> &lt;/ECHO>"
    # A '<' inside a quoted attribute value may be escaped: the parser decodes it back, the tag survives.
    tag = "<a class=\"noti-btn-pop\" presaleTit1='<FC> 선예매'>x</a>"
    node = LexborHTMLParser(escape_stray_brackets(tag)).css_first("a.noti-btn-pop")
    assert node is not None and node.attributes["presaletit1"] == "<FC> 선예매" and node.text() == "x"


def test_exclusive_badge_then_title_in_last_em() -> None:
    ticket = one(
        table(
            row('<a href="#id=16914"><em>단독판매</em><em>[인천] 콘서트 〈찬가〉 티켓 오픈 안내  </em></a>')
        )
    )
    assert ticket.exclusive is True
    assert ticket.title == "[인천] 콘서트 〈찬가〉 티켓 오픈 안내"


@pytest.mark.parametrize(
    ("link", "title", "exclusive"),
    [
        ('<a href="#id=1"><em>단독판매</em> 제목 그대로</a>', "제목 그대로", True),
        ('<a href="#id=1"><em>단독판매</em><em>좌석우선</em><em>제목</em></a>', "제목", True),
        ('<a href="#id=1"><em>[단독판매]</em>제목</a>', "제목", True),
        ('<a href="#id=1">[단독판매] 제목</a>', "제목", True),
        ('<a href="#id=1"><em>제목만</em></a>', "제목만", False),
        ('<a href="#id=1">뮤지컬 <em>강조</em> 제목</a>', "뮤지컬 강조 제목", False),
        ('<a href="#id=1">단독판매 아닌 공연 안내</a>', "단독판매 아닌 공연 안내", False),
    ],
)
def test_badges_are_removed_from_the_title(link: str, title: str, exclusive: bool) -> None:
    ticket = one(table(row(link)))
    assert (ticket.title, ticket.exclusive) == (title, exclusive)


def test_zero_width_and_extra_whitespace_are_cleaned() -> None:
    ticket = one(table(row('<a href="#id=1">\n  뮤지컬\u200b   [존 도우]\t1차\ufeff 티켓오픈 안내  </a>')))
    assert ticket.title == "뮤지컬 [존 도우] 1차 티켓오픈 안내"


@pytest.mark.parametrize("when", ["추후공지", "", " 추후 공지 ", "미정"])
def test_tba_open_time_is_none(when: str) -> None:
    ticket = one(table(row('<a href="#id=1">공지</a>', when)))
    assert ticket.open_at is None
    assert ticket.open_date is None
    assert ticket.problems() == []


def test_open_time_is_seoul_wall_clock() -> None:
    ticket = one(table(row('<a href="#id=1">공지</a>', "2025.12.04(목) 10:00")))
    assert ticket.open_at == seoul(2025, 12, 4, 10, 0)
    assert ticket.open_at is not None and ticket.open_at.isoformat() == "2025-12-04T10:00:00+09:00"


def test_day_without_time_gives_open_date() -> None:
    ticket = one(table(row('<a href="#id=1">공지</a>', "2025.12.04(목)")))
    assert ticket.open_at is None
    assert ticket.open_date == date(2025, 12, 4)


def test_impossible_date_is_unknown_not_an_error() -> None:
    assert parse_datetime("2027.13.45(월) 25:99") == (None, None)
    assert parse_datetime("추후공지") == (None, None)


def test_presales_from_single_quoted_attributes() -> None:
    cell = (
        '2027.11.17(수) 20:00 <a href="javascript:;" class="noti-btn-pop" '
        "presaleTit1='팬클럽 선예매' presaleTime1='2027.11.15(월) 20:00' "
        "presaleTit2='멤버십 선예매' presaleTime2='2027.11.16(화) 12:00' "
        "presaleTit3='<BLUE> 선예매' presaleTime3='추후공지'>선예매</a>"
    )
    ticket = one(table(row('<a href="#id=16905"><em>단독판매</em><em>DAY6</em></a>', cell)))
    assert ticket.open_at == seoul(2027, 11, 17, 20, 0)
    assert ticket.presales == (
        Presale("팬클럽 선예매", seoul(2027, 11, 15, 20, 0)),
        Presale("멤버십 선예매", seoul(2027, 11, 16, 12, 0)),
        Presale("<BLUE> 선예매", None),
    )


def test_presales_are_ordered_by_number_and_blank_pairs_skipped() -> None:
    cell = (
        "2027.11.17(수) 20:00 <a class='noti-btn-pop' "
        "presaleTit10='열번째' presaleTime10='2027.11.10(수) 10:00' "
        "presaleTit2='두번째' presaleTime2='2027.11.02(화) 10:00' presaleTit3='' presaleTime3=''>선예매</a>"
    )
    ticket = one(table(row('<a href="#id=1">공지</a>', cell)))
    assert [p.name for p in ticket.presales] == ["두번째", "열번째"]


def test_views_with_thousands_separator() -> None:
    assert one(table(row('<a href="#id=1">공지</a>', views="50,796"))).views == 50796
    assert one(table(row('<a href="#id=1">공지</a>', views=""))).views is None
    assert one(table(row('<a href="#id=1">공지</a>', views="많음"))).views is None


@pytest.mark.parametrize(
    ("label", "category"),
    [
        ("티켓오픈", "open"),
        ("변경/취소", "change"),
        ("변경", "change"),
        ("취소", "change"),
        ("서비스점검", None),
    ],
)
def test_category_labels(label: str, category: str | None) -> None:
    assert category_of(label) == category


def test_change_rows_alert_and_maintenance_rows_do_not() -> None:
    page = parse_page(
        table(
            row(
                '<a href="#id=16962"><em>단독판매</em><em>팬미팅 취소 및 환불 안내</em></a>',
                "",
                label="변경/취소",
            ),
            row('<a href="#id=17111">결제 서비스 중단 안내</a>', "", views="62", label="서비스점검"),
        )
    )
    assert [(t.id, t.category, t.exclusive, t.open_at) for t in page.tickets] == [
        ("16962", "change", True, None)
    ]
    assert page.skipped == [("17111", "서비스점검")]
    assert page.rows == 2


def test_id_is_the_digits_after_id_and_url_is_public() -> None:
    ticket = one(table(row('<a href="#id=16995">공지</a>')))
    assert ticket.id == "16995"
    assert ticket.url == f"{PUBLIC}16995"


def test_row_without_a_link_becomes_an_invalid_ticket_not_an_error() -> None:
    ticket = one(table(row("제목만 있고 링크 없음")))
    assert ticket.id == ""
    assert ticket.title == "제목만 있고 링크 없음"
    assert "no id" in ticket.problems()


def test_cp949_body_falls_back() -> None:
    html = table(
        row('<a href="#id=1"><em>단독판매</em><em>뮤지컬 <팬레터> 티켓오픈 안내</em></a>', "추후공지")
    )
    body = html.encode("cp949")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    ticket = one(body)
    assert (ticket.title, ticket.exclusive, ticket.open_at) == ("뮤지컬 <팬레터> 티켓오픈 안내", True, None)


def test_utf8_bom_and_str_input() -> None:
    html = table(row('<a href="#id=1">공지</a>'))
    assert parse(b"\xef\xbb\xbf" + html.encode()) == parse(html) == parse(html.encode())


def test_header_row_only_is_an_empty_list() -> None:
    assert parse(table()) == []


def test_nothing_listed_message_row_is_an_empty_list() -> None:
    page = parse_page(table('<tr><td colspan="4">등록된 공지사항이 없습니다.</td></tr>'))
    assert (page.rows, page.tickets) == (0, [])


# --- pages that are not the list -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"<html><head><title>Just a moment...</title></head><body><div id=cf-chl-widget></div></body></html>",
        b"",
        b"   \n",
    ],
    ids=["cloudflare", "empty", "blank"],
)
def test_challenge_page_raises_parse_error_with_proxy_hint(body: bytes) -> None:
    with pytest.raises(ParseError) as info:
        parse(body, "https://ticket.yes24.com/New/Notice/Ajax/axList.aspx")
    assert info.value.site == "yes24"
    assert not isinstance(info.value, ApiChangedError)
    assert info.value.hint is not None and "proxy" in info.value.hint


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><head><script src=/app.js></script></head>"
        b"<body><div id=root></div></body></html>",
        "<!DOCTYPE html><html><head><title>YES24 티켓 - 공지사항</title></head><body>"
        "<div class='noti-wrap'><div id='divList'></div></div></body></html>".encode(),  # NoticeMain shell
    ],
    ids=["js-shell", "notice-main"],
)
def test_the_sites_own_page_says_the_endpoint_moved(body: bytes) -> None:
    with pytest.raises(ApiChangedError) as info:
        parse(body, "https://ticket.yes24.com/New/Notice/Ajax/axList.aspx")
    assert info.value.hint is not None and "endpoint may have moved" in info.value.hint
    assert "proxy" not in info.value.hint


@pytest.mark.parametrize(
    "body",
    [
        '<div class="notice-list"><ul><li><a href="#id=1">공지</a></li></ul></div>',
        '<div class="noti-tbl"><ul><li>공지</li></ul></div>',
        '<table><tr><td>티켓오픈</td><td><a href="#id=1">공지</a></td><td></td><td>1</td></tr></table>',
        '{"list": []}',
        "서버 오류가 발생했습니다",
    ],
    ids=["renamed-container", "no-table", "no-container", "json", "plain-text"],
)
def test_structure_changed_page_raises_parse_error(body: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(body)
    assert info.value.site == "yes24"


def test_rows_that_no_longer_read_as_notices_raise() -> None:
    rows = "".join(f"<tr><td>{n}</td><td>{n}번째 칸</td></tr>" for n in range(3))
    with pytest.raises(ParseError, match="reads as a notice"):
        parse(table(rows))


# --- the crawl through a real fetcher ------------------------------------------------------------


Handler = Callable[[httpx.Request], httpx.Response]


def serve(pages: dict[int, bytes], seen: list[httpx.Request]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        body = pages.get(int(form.get("page", "0")), page_bytes(8))
        return httpx.Response(200, content=body, headers={"Content-Type": "text/html; charset=utf-8"})

    return handler


def fixture_pages() -> dict[int, bytes]:
    return {n: page_bytes(n) for n in range(1, len(PAGES) + 1)}


def fetcher(handler: Handler) -> Fetcher:
    return Fetcher(HttpSettings(min_request_interval=0, retries=0), transport=httpx.MockTransport(handler))


async def test_crawl_posts_every_page_until_the_header_only_page() -> None:
    seen: list[httpx.Request] = []
    async with fetcher(serve(fixture_pages(), seen)) as client:
        crawl = await Yes24Crawler().crawl(client.for_site("yes24"))
    assert crawl.pages == 8
    assert crawl.capped is False
    assert [compared(t, item) for t, item in zip(crawl.tickets, EXPECTED["items"], strict=True)] == [
        expected_item(item) for item in EXPECTED["items"]
    ]
    assert any("17111" in note and "17092" in note for note in crawl.notes)
    assert len(seen) == 8
    for number, (request, sample) in enumerate(zip(seen, INDEX, strict=True), start=1):
        assert request.method == "POST" == sample["method"]
        assert str(request.url) == sample["url"]
        assert request.content.decode() == FORM.format(page=number) == sample["form"]
        assert request.headers["Referer"] == sample["request_headers"]["Referer"]
        assert request.headers["X-Requested-With"] == "XMLHttpRequest"
        assert request.headers["Accept"] == sample["request_headers"]["Accept"]
        assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
        assert "Mozilla/5.0" in request.headers["User-Agent"]


async def test_crawl_goes_on_past_a_page_of_maintenance_rows_only() -> None:
    maintenance = table(row('<a href="#id=17111">결제 서비스 중단 안내</a>', "", label="서비스점검")).encode()
    pages = {1: page_bytes(1), 2: maintenance, 3: page_bytes(2)}
    seen: list[httpx.Request] = []
    async with fetcher(serve(pages, seen)) as client:
        crawl = await Yes24Crawler().crawl(client.for_site("yes24"))
    assert crawl.pages == 4
    assert len(crawl.tickets) == 40
    assert "17111" not in {t.id for t in crawl.tickets}


async def test_page_cap_stops_the_crawl_and_marks_it_capped() -> None:
    seen: list[httpx.Request] = []
    crawler = Yes24Crawler(SiteSettings(page_cap=3))
    async with fetcher(serve(fixture_pages(), seen)) as client:
        crawl = await crawler.crawl(client.for_site("yes24"))
    assert crawl.capped is True
    assert crawl.pages == 3 == len(seen)
    assert len(crawl.tickets) == 60
    assert [dict(parse_qsl(r.content.decode()))["page"] for r in seen] == ["1", "2", "3"]


async def test_page_cap_equal_to_the_list_is_not_capped() -> None:
    seen: list[httpx.Request] = []
    async with fetcher(serve({1: page_bytes(1)}, seen)) as client:
        crawl = await Yes24Crawler(SiteSettings(page_cap=2)).crawl(client.for_site("yes24"))
    assert (crawl.pages, crawl.capped, len(crawl.tickets)) == (2, False, 20)


async def test_duplicates_across_pages_count_once() -> None:
    seen: list[httpx.Request] = []
    async with fetcher(serve({1: page_bytes(1), 2: page_bytes(1)}, seen)) as client:
        crawl = await Yes24Crawler().crawl(client.for_site("yes24"))
    assert crawl.pages == 3
    assert len(crawl.tickets) == 20


async def test_base_url_rewrites_the_host_but_not_the_ticket_urls() -> None:
    seen: list[httpx.Request] = []
    async with fetcher(serve(fixture_pages(), seen)) as client:
        crawl = await Yes24Crawler().crawl(client.for_site("yes24", "http://127.0.0.1:9"))
    assert {(r.url.scheme, r.url.host, r.url.port, r.url.path) for r in seen} == {
        ("http", "127.0.0.1", 9, LIST_PATH)
    }
    assert all(r.headers["Referer"] == "https://ticket.yes24.com/New/Notice/NoticeMain.aspx" for r in seen)
    assert crawl.tickets and all(t.url == f"{PUBLIC}{t.id}" for t in crawl.tickets)


async def test_cp949_response_through_the_fetcher() -> None:
    body = table(row('<a href="#id=5">연극 <엘리펀트 송> 안내</a>')).encode("cp949")
    seen: list[httpx.Request] = []
    async with fetcher(serve({1: body}, seen)) as client:
        crawl = await Yes24Crawler().crawl(client.for_site("yes24"))
    assert [t.title for t in crawl.tickets] == ["연극 <엘리펀트 송> 안내"]


async def test_challenge_page_mid_crawl_raises_parse_error() -> None:
    challenge = b"<html><head><title>Just a moment...</title></head><body></body></html>"
    seen: list[httpx.Request] = []
    async with fetcher(serve({1: page_bytes(1), 2: challenge}, seen)) as client:
        with pytest.raises(ParseError) as info:
            await Yes24Crawler().crawl(client.for_site("yes24"))
    assert "page 2" in info.value.reason


async def test_http_error_is_a_fetch_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, text="Forbidden")

    async with fetcher(handler) as client:
        with pytest.raises(FetchError) as info:
            await Yes24Crawler().crawl(client.for_site("yes24"))
    assert info.value.status == 403


def test_crawler_declaration() -> None:
    assert CRAWLER is Yes24Crawler
    assert Yes24Crawler.name == "yes24"
    assert Yes24Crawler.display_name == "YES24 티켓"
    assert 0 <= Yes24Crawler.color <= 0xFFFFFF


# --- fuzzing -------------------------------------------------------------------------------------

SAMPLE = page_bytes(1)
SAMPLE_TEXT = SAMPLE.decode()


def outcome(body: bytes | str) -> None:
    try:
        tickets = parse(body)
    except ParseError as exc:
        assert exc.site == "yes24"
        return
    assert isinstance(tickets, list)
    for ticket in tickets:
        assert isinstance(ticket, Ticket)
        assert ticket.category in ("open", "change")
        assert ticket.open_at is None or ticket.open_at.utcoffset() is not None


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise_anything_but_parse_error(body: bytes) -> None:
    outcome(body)


MARKUP_TOKENS = [*"<>/=\"' adeimnorstv.-#01", "티켓오픈", "<td>", "<tr>", "<em>", "</a>", '<a href="#id=']


@FUZZ
@given(st.lists(st.sampled_from(MARKUP_TOKENS), max_size=200).map("".join))
def test_random_markup_never_raises_anything_but_parse_error(text: str) -> None:
    outcome(f'<div class="noti-tbl"><table>{text}</table></div>')
    outcome(text)


@FUZZ
@given(st.data())
def test_mutated_sample_never_raises_anything_but_parse_error(data: st.DataObject) -> None:
    body = SAMPLE_TEXT
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(body)))
        end = data.draw(st.integers(start, min(len(body), start + 400)))
        action = data.draw(st.sampled_from(["delete", "replace", "insert"]))
        filler = data.draw(st.text(alphabet="<>\"'=/ &;#0123456789tdremab추후공지,.()", max_size=20))
        if action == "delete":
            body = body[:start] + body[end:]
        elif action == "replace":
            body = body[:start] + filler + body[start + len(filler) :]
        else:
            body = body[:start] + filler + body[start:]
    outcome(body)
    outcome(body.encode("utf-8", errors="replace"))
