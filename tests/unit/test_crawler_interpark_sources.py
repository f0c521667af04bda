"""Interpark's two sources (the old API, NOL) and its notice-page presales, through a real fetcher."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawlers.interpark.site import InterparkCrawler, parse_detail, parse_notice_page
from ticket_alarm.config.settings import HttpSettings, SiteSettings
from ticket_alarm.core.model import Presale, seoul
from ticket_alarm.errors import ApiChangedError, CrawlError, FetchError, ParseError
from ticket_alarm.fetch.http import Fetcher

FIXTURES = Path(__file__).parents[1] / "fixtures"
NOTICE_PAGE = (FIXTURES / "interpark" / "notice-detail_10063.html").read_bytes()
NOL_PAGE = (FIXTURES / "nol" / "upcoming_open_cursor0.json").read_bytes()
NOL_LAST = (FIXTURES / "nol" / "upcoming_open_cursor_eyJvIjozfQ.json").read_bytes()
LIST_PATH = "/contents/api/open-notice/notice-list"
NOL_PATH = "/ticket/display/api/upcoming"
Handler = Callable[[httpx.Request], httpx.Response]


def row(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "noticeId": 15418,
        "title": "뮤지컬 최고다 호기심딱지 시즌4 〈우리 몸은 우리가 지킨다!〉 - 청주",
        "openDateStr": "2026-10-06 10:00:00",
        "isGeneralLater": False,
        "venueName": "청주예술의전당 대공연장",
        "goodsGenreStr": "뮤지컬",
        "openTypeStr": "일반예매",
        "goodsSeatTypeStr": "",
        "viewCount": 2,
        "goodsCode": "26014093",
        "hasMultipleOpenDates": False,
        "isToping": False,
    }
    base.update(fields)
    return base


class Sites:
    """The old API and NOL behind one MockTransport; ``old`` says how the old API answers."""

    def __init__(self, rows: list[dict[str, Any]] | None = None) -> None:
        self.old = "ok"
        self.rows = rows if rows is not None else [row()]
        self.requests: list[httpx.Request] = []
        self.notice_pages: dict[str, httpx.Response] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == LIST_PATH:
            if self.old == "404":
                return httpx.Response(404, text="not found")
            if self.old == "410":
                return httpx.Response(410, text="gone")
            if self.old == "500":
                return httpx.Response(500, text="oops")
            if self.old == "html":
                return httpx.Response(200, content=NOTICE_PAGE, headers={"Content-Type": "text/html"})
            if self.old == "no-id":
                rows = [{k: v for k, v in r.items() if k != "noticeId"} for r in self.rows]
                return httpx.Response(200, json=rows)
            return httpx.Response(200, json=self.rows)
        if path == NOL_PATH:
            return httpx.Response(200, content=NOL_LAST if b"cursor" in request.content else NOL_PAGE)
        if path.startswith("/contents/notice/detail/"):
            return self.notice_pages.get(path.rsplit("/", 1)[1], httpx.Response(404))
        return httpx.Response(404)

    def count(self, path_start: str) -> int:
        return sum(1 for r in self.requests if r.url.path.startswith(path_start))


async def crawl_with(crawler: InterparkCrawler, sites: Sites) -> Any:
    fetcher = Fetcher(HttpSettings(min_request_interval=0, retries=0), transport=httpx.MockTransport(sites))
    async with fetcher:
        return await crawler.crawl(fetcher.for_site("interpark"))


# --- source switching -----------------------------------------------------------------------------


@pytest.mark.parametrize("old", ["404", "410", "html", "no-id"])
async def test_auto_switches_to_nol_in_the_same_cycle_with_one_warning(old: str) -> None:
    sites = Sites()
    crawler = InterparkCrawler(SiteSettings())
    first = await crawl_with(crawler, sites)
    assert crawler.current == "interpark" and not first.warnings
    assert sites.count(NOL_PATH) == 0
    sites.old = old
    second = await crawl_with(crawler, sites)
    assert [t.id for t in second.tickets] == ["15418", "15501", "15502"]
    assert crawler.current == "nol"
    assert len(second.warnings) == 1 and "read NOL instead" in second.warnings[0]
    # the same notice keeps its identity and content across the switch: nothing to re-alert
    before = next(t for t in first.tickets if t.id == "15418")
    after = next(t for t in second.tickets if t.id == "15418")
    assert (before.key, before.digest, before.url) == (after.key, after.digest, after.url)
    # from now on NOL directly: no second warning, the old API is not asked again
    old_asks = sites.count(LIST_PATH)
    third = await crawl_with(crawler, sites)
    assert not third.warnings and sites.count(LIST_PATH) == old_asks


async def test_a_server_error_is_a_failure_not_a_switch() -> None:
    sites = Sites()
    sites.old = "500"
    crawler = InterparkCrawler(SiteSettings())
    with pytest.raises(FetchError):
        await crawl_with(crawler, sites)
    assert sites.count(NOL_PATH) == 0 and crawler.current == "interpark"


async def test_source_interpark_never_reads_nol_and_source_nol_never_reads_the_old_api() -> None:
    sites = Sites()
    sites.old = "404"
    with pytest.raises(FetchError):
        await crawl_with(InterparkCrawler(SiteSettings(source="interpark")), sites)
    assert sites.count(NOL_PATH) == 0
    sites = Sites()
    crawl = await crawl_with(InterparkCrawler(SiteSettings(source="nol")), sites)
    assert sites.count(LIST_PATH) == 0 and len(crawl.tickets) == 3 and not crawl.warnings


async def test_both_sources_failing_names_both() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404)

    fetcher = Fetcher(HttpSettings(min_request_interval=0, retries=0), transport=httpx.MockTransport(handler))
    async with fetcher:
        with pytest.raises(CrawlError) as info:
            await InterparkCrawler(SiteSettings()).crawl(fetcher.for_site("interpark"))
    assert "old Interpark API" in info.value.reason and "NOL too" in info.value.reason


async def test_head_pages_exist_only_once_nol_is_the_source() -> None:
    sites = Sites()
    fetcher = Fetcher(HttpSettings(min_request_interval=0, retries=0), transport=httpx.MockTransport(sites))
    async with fetcher:
        fetch = fetcher.for_site("interpark")
        assert InterparkCrawler(SiteSettings(source="interpark")).head_pages(fetch) is None
        auto = InterparkCrawler(SiteSettings())
        assert auto.head_pages(fetch) is None  # still on the old API: it has no registration order
        sites.old = "404"
        await auto.crawl(fetch)
        pages = auto.head_pages(fetch)
        assert pages is not None
        assert [t.id for t in await anext(pages)] == ["15418", "15501", "15502"]
        await pages.aclose()
    assert json.loads(sites.requests[-1].content) == {"sort": "register"}


# --- presales from the notice page ----------------------------------------------------------------


def test_notice_page_schedule() -> None:
    schedule = parse_detail(NOTICE_PAGE)
    assert schedule.open_at == seoul(2025, 7, 2, 13)
    assert schedule.presales == (Presale("토핑 선예매", seoul(2025, 7, 1, 14)),)
    assert parse_notice_page(NOTICE_PAGE) == schedule
    assert parse_notice_page(json.dumps([row()]).encode()) is None  # a list page is not a notice page


def test_ticket_dates_are_found_anywhere_and_by_the_raw_fallback() -> None:
    dates = [{"openName": "팬클럽 선예매", "openDateStr": "2027-01-02 20:00:00"}]
    nested = {"props": {"a": [{"b": {"notice": {"ticketDates": dates}}}]}}
    page = f'<html><script id="__NEXT_DATA__" type="application/json">{json.dumps(nested)}</script></html>'
    assert parse_detail(page).presales == (Presale("팬클럽 선예매", seoul(2027, 1, 2, 20)),)
    broken = (
        '<html><script id="__NEXT_DATA__">{"x": '
        f'{{"ticketDates": {json.dumps(dates)}, "relatedNotices": [</script></html>'
    )
    assert parse_detail(broken).presales == (Presale("팬클럽 선예매", seoul(2027, 1, 2, 20)),)
    with pytest.raises(ParseError):
        parse_detail('<html><script id="__NEXT_DATA__">{"props": {}}</script></html>')


async def test_presales_are_read_for_new_or_changed_rows_only() -> None:
    sites = Sites([row(noticeId=10063, hasMultipleOpenDates=True, isToping=True), row(noticeId=2)])
    sites.notice_pages["10063"] = httpx.Response(200, content=NOTICE_PAGE)
    crawler = InterparkCrawler(SiteSettings(source="interpark"))
    first = await crawl_with(crawler, sites)
    ticket = next(t for t in first.tickets if t.id == "10063")
    assert ticket.presales == (Presale("토핑 선예매", seoul(2025, 7, 1, 14)),)
    assert ticket.open_at == seoul(2025, 7, 2, 13)
    assert sites.count("/contents/notice/detail/") == 1  # row 2 needs no notice page
    sites.rows[0]["viewCount"] = 999  # views change every cycle: not a change of the row
    second = await crawl_with(crawler, sites)
    assert sites.count("/contents/notice/detail/") == 1
    assert next(t for t in second.tickets if t.id == "10063").presales == ticket.presales
    sites.rows[0]["openDateStr"] = "2025-07-03 13:00:00"  # the row changed: read its page again
    await crawl_with(crawler, sites)
    assert sites.count("/contents/notice/detail/") == 2


async def test_an_unreadable_notice_page_keeps_the_list_data_with_a_warning() -> None:
    sites = Sites([row(noticeId=10063, hasMultipleOpenDates=True)])
    sites.notice_pages["10063"] = httpx.Response(200, text="<html><body>점검 중</body></html>")
    crawl = await crawl_with(InterparkCrawler(SiteSettings(source="interpark")), sites)
    (ticket,) = crawl.tickets
    assert ticket.open_at == seoul(2026, 10, 6, 10) and ticket.presales == ()
    assert ticket.incomplete is not None and not ticket.problems()
    assert ticket.incomplete.unread == ("presales",)  # the list's open time was read: it is compared
    assert crawl.warnings == [
        "notice pages: 1 unreadable (a page of another shape), kept the list's dates "
        "and the presales read before"
    ]


def test_a_changed_api_error_is_typed() -> None:
    assert issubclass(ApiChangedError, ParseError)


@settings(max_examples=150, deadline=None)
@given(
    st.text(max_size=300).map(lambda t: f'<script id="__NEXT_DATA__">{t}</script>')
    | st.binary(max_size=200)
    | st.integers(0, len(NOTICE_PAGE)).map(lambda n: NOTICE_PAGE[:n] + NOTICE_PAGE[n + 7 :])
)
def test_notice_page_parser_gives_a_schedule_or_a_typed_error(raw: bytes | str) -> None:
    try:
        schedule = parse_detail(raw)
    except ParseError:
        return
    assert schedule.open_at is None or schedule.open_at.utcoffset() is not None
    assert all(p.name and (p.at is None or p.at.utcoffset() is not None) for p in schedule.presales)


# --- the config key -------------------------------------------------------------------------------


def test_source_is_an_interpark_key_with_three_values(tmp_path: Path) -> None:
    from ticket_alarm.config.load import check_site_names, load_config
    from ticket_alarm.config.settings import Settings
    from ticket_alarm.errors import ConfigError

    known = ["interpark", "melon", "ticketlink", "yes24"]
    check_site_names(Settings(sites={"interpark": {"source": "nol"}}), known, "config.json")
    with pytest.raises(ConfigError) as info:
        check_site_names(Settings(sites={"melon": {"source": "nol"}}), known, "config.json")
    assert "sites.melon.source" in str(info.value) and "only interpark" in str(info.value)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"sites": {"interpark": {"source": "yanolja"}}}), encoding="utf-8")
    with pytest.raises(ConfigError) as bad:
        load_config(path, {})
    assert "sites.interpark.source" in str(bad.value)


def test_a_saved_page_of_either_source_parses() -> None:
    from crawlers.base import parse_saved

    assert [t.id for t in parse_saved(InterparkCrawler, NOL_PAGE)] == ["15418", "15501", "15502"]
    old = json.dumps([row()]).encode()
    assert [t.id for t in parse_saved(InterparkCrawler, old)] == ["15418"]
    assert parse_saved(InterparkCrawler, NOTICE_PAGE) == parse_detail(NOTICE_PAGE)  # a notice page
