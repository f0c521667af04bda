"""Custom sites (``custom_sites``): config-only crawlers, on hand-written fixtures and loopback servers.

The definitions under test are the ones in ``config.custom-example.json`` (loaded through the real
``load_config``), so the documented example is exactly what these tests parse.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawlers import registry
from crawlers.base import CHALLENGE_HINT, parse_saved
from crawlers.custom import definition as definition_module
from crawlers.custom.crawler import (
    GenericCrawler,
    build_crawler,
    parse_html_items,
    parse_html_page,
    parse_json_items,
)
from crawlers.custom.dates import auto_datetime
from crawlers.custom.jsonpath import compile_json_path
from tests.conftest import ROOT, DaemonProcess, run_cli, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.server import Request, Response
from tests.support.site_standin import FakeSite
from ticket_alarm.config.load import check_site_names, load_config
from ticket_alarm.config.settings import CustomSiteSettings, HttpSettings, Settings
from ticket_alarm.core.model import Ticket, seoul
from ticket_alarm.errors import ConfigError, ParseError
from ticket_alarm.fetch.http import Fetcher

FIXTURES = Path(__file__).parents[1] / "fixtures" / "generic"
EXAMPLE = ROOT / "config.custom-example.json"
HANBIT_LIST = "https://www.hanbitarts.example/board/notice/list.do?page=1"
HANBIT_VIEW = "https://www.hanbitarts.example/board/notice/view.do?seq={seq}&page={page}"
NURI_LIST = "https://www.nurihall.example/api/v1/notices?category=OPEN&page=1&size=5"


def _example() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return data


def _definition(name: str) -> CustomSiteSettings:
    settings = load_config(EXAMPLE, {})
    return next(site for site in settings.custom_sites if site.name == name)


@pytest.fixture(scope="module")
def hanbit() -> CustomSiteSettings:
    return _definition("hanbit")


@pytest.fixture(scope="module")
def nuri() -> CustomSiteSettings:
    return _definition("nuri")


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# --- HTML board ------------------------------------------------------------------------------------


def test_html_board_page_one(hanbit: CustomSiteSettings) -> None:
    tickets = parse_html_items(_fixture("hanbit_notice_page1.html"), hanbit, HANBIT_LIST)
    assert [t.id for t in tickets] == [
        "2871", "2934", "2930", "2927", "2925", "2921", "2918", "2915", "2911", "2907",
    ]  # fmt: skip
    assert all(t.site == "hanbit" and not t.problems() for t in tickets)
    by_id = {t.id: t for t in tickets}
    exclusive = by_id["2934"]
    assert exclusive.title == "한빛 신년음악회 2028 〈새해의 노래〉 티켓 오픈 안내"  # badge removed
    assert exclusive.exclusive and exclusive.category == "open"
    assert exclusive.url == HANBIT_VIEW.format(seq=2934, page=1)  # relative href made absolute
    assert exclusive.open_at == seoul(2027, 11, 20, 14, 0)
    assert exclusive.venue == "콘서트홀" and exclusive.views == 1532
    assert by_id["2930"].category == "change" and by_id["2921"].category == "change"  # 변경, 취소
    assert by_id["2927"].open_at is None and by_id["2927"].open_date is None  # 추후공지
    assert by_id["2925"].open_at is None and by_id["2925"].open_date == date(2027, 11, 25)  # day only
    assert by_id["2918"].title == "오페라 <라 보엠> 한빛 오페라단 정기공연 티켓 오픈"  # raw brackets kept
    assert by_id["2918"].open_at == seoul(2027, 11, 12, 14, 0)  # 2027년 11월 12일 (금) 오후 2시
    pinned = by_id["2871"]
    assert pinned.venue == "" and pinned.open_at is None and pinned.views == 12408  # "-" means none
    assert sum(t.exclusive for t in tickets) == 1


def test_html_board_page_two_and_the_empty_page(hanbit: CustomSiteSettings) -> None:
    page2 = parse_html_items(_fixture("hanbit_notice_page2.html"), hanbit, HANBIT_LIST.replace("=1", "=2"))
    assert [t.id for t in page2] == ["2871", "2903", "2899"]
    assert page2[1].url == HANBIT_VIEW.format(seq=2903, page=2)
    empty = parse_html_page(_fixture("hanbit_notice_empty.html"), hanbit, HANBIT_LIST)
    assert empty.tickets == [] and empty.items == 1 and empty.skipped == 1  # "등록된 게시물이 없습니다"


def test_html_redesigned_page_is_a_parse_error(hanbit: CustomSiteSettings) -> None:
    with pytest.raises(ParseError) as info:
        parse_html_items(_fixture("hanbit_notice_redesigned.html"), hanbit, HANBIT_LIST)
    assert info.value.site == "hanbit"
    assert "table.board_list tbody tr" in info.value.reason and HANBIT_LIST in info.value.reason
    assert info.value.hint and "custom_sites[hanbit]" in info.value.hint
    # on a later page the same thing is the end of the list (the first page proved the layout)
    later = parse_html_page(_fixture("hanbit_notice_redesigned.html"), hanbit, HANBIT_LIST, first=False)
    assert later.tickets == []


def test_html_renamed_columns_are_a_parse_error(hanbit: CustomSiteSettings) -> None:
    page = _fixture("hanbit_notice_page1.html").decode().replace('class="subject"', 'class="tit"')
    with pytest.raises(ParseError, match=r"none of the 10 items .* has an id or a title"):
        parse_html_items(page, hanbit, HANBIT_LIST)


def test_html_fields_on_the_item_itself_fit_the_redesigned_page() -> None:
    # after a redesign, the definition is updated (config only) to the new card layout
    definition = _custom(
        format="html",
        url="https://www.hanbitarts.example/notice?page={page}",
        items="ul.notice-cards li.notice-card",
        fields={
            "id": "@data-seq",
            "title": "a.notice-card__link",
            "url": "a.notice-card__link@href",
            "category": "span.notice-card__cate",
            "open_at": "dl dd:nth-of-type(1)",
            "venue": "dl dd:nth-of-type(2)",
            "genre": {"path": ".", "regex": "(뮤지컬|음악회)"},
        },
        change_keywords=["변경"],
    )
    tickets = parse_html_items(_fixture("hanbit_notice_redesigned.html"), definition, HANBIT_LIST)
    assert [(t.id, t.category, t.genre, t.venue) for t in tickets] == [
        ("2934", "open", "음악회", "콘서트홀"),
        ("2930", "change", "뮤지컬", "대극장"),
    ]
    assert tickets[0].url == "https://www.hanbitarts.example/notice/2934"
    assert tickets[0].open_at == seoul(2027, 11, 20, 14, 0)


@pytest.mark.parametrize(
    "body", [b"", b"   \n", b"<html><body><h1>Just a moment...</h1></body></html>", b'{"list": []}']
)
def test_html_challenge_or_wrong_body_is_a_parse_error(hanbit: CustomSiteSettings, body: bytes) -> None:
    with pytest.raises(ParseError):
        parse_html_items(body, hanbit, HANBIT_LIST)


def test_html_challenge_gets_the_shared_proxy_hint(hanbit: CustomSiteSettings) -> None:
    """One challenge check for every crawler: a custom board's block page says so, not "no element"."""
    with pytest.raises(ParseError) as info:
        parse_html_items(
            b"<html><title>Just a moment...</title><body>cf-chl</body></html>", hanbit, HANBIT_LIST
        )
    assert info.value.hint == CHALLENGE_HINT and "a bot challenge page where the items" in info.value.reason
    with pytest.raises(ParseError, match="empty body where the items"):
        parse_html_items(b"  ", hanbit, HANBIT_LIST)


def test_html_cp949_page(hanbit: CustomSiteSettings) -> None:
    text = _fixture("hanbit_notice_page1.html").decode().replace('charset="UTF-8"', 'charset="euc-kr"')
    text = text.replace("〈", "<").replace("〉", ">").replace("·", "-").replace("©", "(c)")
    tickets = parse_html_items(text.encode("cp949"), hanbit, HANBIT_LIST)
    assert tickets[1].title == "한빛 신년음악회 2028 <새해의 노래> 티켓 오픈 안내"


# --- JSON API --------------------------------------------------------------------------------------


def test_json_api_page_one(nuri: CustomSiteSettings) -> None:
    tickets = parse_json_items(_fixture("nuri_api_page1.json"), nuri, NURI_LIST)
    assert [t.id for t in tickets] == ["10452", "10451", "10449", "10447", "10440"]
    assert all(not t.problems() for t in tickets)
    first = tickets[0]
    assert first.title == "누리 심포니 오케스트라 제12회 정기연주회 〈겨울 나그네〉" and first.exclusive
    assert first.url == "https://www.nurihall.example/notice/10452"  # url_template
    assert first.open_at == seoul(2027, 12, 1, 14, 0)  # "%Y-%m-%d %H:%M:%S"
    assert first.venue == "누리홀 대공연장" and first.genre == "클래식" and first.views == 3021
    assert first.image_url == "https://www.nurihall.example/upload/poster/2027/10452_main.jpg"
    assert tickets[1].open_at is None  # null
    assert tickets[2].category == "change" and tickets[2].image_url == ""
    assert tickets[3].open_at is None  # "추후 공지"
    assert tickets[4].open_at == seoul(2027, 11, 25, 20, 0)  # epoch milliseconds
    assert tickets[4].image_url == "https://cdn.nurihall.example/poster/10440.jpg"


def test_json_api_later_pages(nuri: CustomSiteSettings) -> None:
    page2 = parse_json_items(_fixture("nuri_api_page2.json"), nuri, NURI_LIST)
    assert [(t.id, t.category) for t in page2] == [("10431", "open"), ("10425", "change")]
    assert page2[1].open_at == seoul(2027, 10, 25, 10, 0)  # the second format, "%Y-%m-%d %H:%M"
    assert parse_json_items(_fixture("nuri_api_page3.json"), nuri, NURI_LIST) == []


def test_json_error_answer_is_a_parse_error(nuri: CustomSiteSettings) -> None:
    with pytest.raises(ParseError) as info:
        parse_json_items(_fixture("nuri_api_error.json"), nuri, NURI_LIST)
    assert "data.list" in info.value.reason and "null" in info.value.reason


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        (b"<!DOCTYPE html><html><body>blocked</body></html>", "the site's HTML page where JSON was expected"),
        (b"<html><title>Just a moment...</title></html>", "a bot challenge page where JSON was expected"),
        (b"", "empty body"),
        (b"{not json", "unparseable JSON"),
        (b'{"data": {"lists": []}}', "no key 'list' (keys there: lists)"),
        (b'{"data": {"list": {"a": 1}}}', "leads to an object, not a list"),
        (b'{"data": {"list": [{"noticeSeq": 1, "noticeTitle": {"ko": "x"}}]}}', "fields.title"),
        (b'{"data": {"list": [{"seq": 1}, {"seq": 2}]}}', "none of the 2 items"),
        (b"[1, 2]", "expected an object with key 'data', found a list"),
    ],
)
def test_json_structure_changed_is_a_parse_error(nuri: CustomSiteSettings, body: bytes, phrase: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_json_items(body, nuri, NURI_LIST)
    assert phrase in info.value.reason
    assert info.value.site == "nuri"
    if "HTML page" in phrase:  # the definition is at fault, not a crawler's code
        assert "custom_sites[nuri].url" in (info.value.hint or "")


def test_json_path_syntax() -> None:
    data = {
        "result": {
            "groups": [
                {"notices": [{"t": "a"}, {"t": "b"}]},
                {"notices": [{"t": "c"}]},
            ],
            "notice-list": {"x": [1, 2, 3]},
        }
    }
    assert compile_json_path("result.groups[*].notices[*].t").find(data) == ["a", "b", "c"]
    assert compile_json_path("$.result.groups[-1].notices[0]").find(data) == [{"t": "c"}]
    assert compile_json_path('result["notice-list"].x[1]').find(data) == [2]
    assert compile_json_path("result.groups[0].notices.*.t").find(data) == ["a", "b"]
    assert compile_json_path("$").find(data) == [data]
    assert compile_json_path("result.missing").find(data) == []
    with pytest.raises(LookupError, match=r"result\.groups\[5\]: no element \[5\] \(the list has 2\)"):
        compile_json_path("result.groups[5]").find_strict(data)
    for bad in ("a..b", ".a", "a[", "a[x]", "a]b", "a b", "a[0]b"):
        with pytest.raises(ValueError):
            compile_json_path(bad)
    with pytest.raises(ValueError, match="relative to the item"):
        compile_json_path("$.title", relative=True)


def test_json_field_lists_are_joined() -> None:
    definition = _custom(
        format="json",
        url="https://venue.example/api",
        items="list",
        fields={"id": "id", "title": "title", "venue": "halls[*].name", "genre": "tags"},
        url_template="https://venue.example/n/{id}",
    )
    body = json.dumps(
        {"list": [{"id": 7, "title": "t", "halls": [{"name": "A홀"}, {"name": "B홀"}], "tags": ["x", "y"]}]}
    )
    (ticket,) = parse_json_items(body, definition)
    assert ticket.venue == "A홀, B홀" and ticket.genre == "x, y" and ticket.id == "7"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027.11.20(토) 14:00", (seoul(2027, 11, 20, 14, 0), None)),
        ("2027-12-01T20:00:00", (seoul(2027, 12, 1, 20, 0), None)),
        ("2027-12-01T11:00:00Z", (seoul(2027, 12, 1, 20, 0), None)),
        ("2027-12-01 20:00:00+09:00", (seoul(2027, 12, 1, 20, 0), None)),
        ("2027년 12월 1일 (수) 오후 8시 30분", (seoul(2027, 12, 1, 20, 30), None)),
        ("2027/12/01 오전 12:05", (seoul(2027, 12, 1, 0, 5), None)),
        ("2027.12.01", (None, date(2027, 12, 1))),
        ("1827658800", (seoul(2027, 12, 1, 20, 0), None)),
        ("1827658800000", (seoul(2027, 12, 1, 20, 0), None)),
        ("추후 공지", None),
        ("2027.13.45 10:00", None),
    ],
)
def test_auto_datetime(text: str, expected: Any) -> None:
    assert auto_datetime(text) == expected


def test_unreadable_open_time_is_a_warning_not_a_tba(hanbit: CustomSiteSettings) -> None:
    page = _fixture("hanbit_notice_page1.html").decode().replace("2027.11.20(토) 14:00", "곧 공개")
    result = parse_html_page(page, hanbit, HANBIT_LIST)
    ticket = next(t for t in result.tickets if t.id == "2934")
    assert ticket.open_at is None and ticket.extra == {"open_at_text": "곧 공개"}
    assert len(result.warnings) == 1 and "'곧 공개'" in result.warnings[0]


def test_template_with_a_missing_value_gives_an_invalid_ticket_not_a_half_link(
    nuri: CustomSiteSettings,
) -> None:
    body = json.dumps({"data": {"list": [{"noticeTitle": "번호 없는 공지"}]}}, ensure_ascii=False)
    (ticket,) = parse_json_items(body, nuri, NURI_LIST)
    assert ticket.url == "" and "no id" in ticket.problems()


# --- config errors ---------------------------------------------------------------------------------


def _custom(**values: Any) -> CustomSiteSettings:
    data: dict[str, Any] = {"name": "venue", "display_name": "공연장", **values}
    return CustomSiteSettings(**data)


def _load_with(tmp_path: Path, change: Any) -> Settings:
    config = _example()
    change(config)
    return load_config(write_config(tmp_path, config), {})


def _set(site: int, *path_and_value: Any) -> Any:
    *path, key, value = path_and_value

    def change(config: dict[str, Any]) -> None:
        target = config["custom_sites"][site]
        for step in path:
            target = target[step]
        target[key] = value

    return change


CONFIG_ERRORS = [
    ("bad json path (items)", _set(1, "items", "data..list"), ["'nuri'", "items:", "data..list"]),
    ("bad json path (field)", _set(1, "fields", "venue", "hall[name]"), ["'nuri'", "fields.venue.path"]),
    ("bad selector (items)", _set(0, "items", "table..board >"), ["'hanbit'", "items:", "CSS selector"]),
    (
        "bad selector (field)",
        _set(0, "fields", "title", "td.subject > > a"),
        ["'hanbit'", "fields.title.path"],
    ),
    ("bad regex", _set(0, "fields", "id", "regex", "seq=(\\d+"), ["'hanbit'", "fields.id.regex", "seq=("]),
    ("unknown key", _set(1, "pagez", {"max": 2}), ["'nuri'", "pagez: unknown key"]),
    (
        "unknown key in a field",
        _set(0, "fields", "id", "regx", "x"),
        ["'hanbit'", "fields.id.regx: unknown key", "did you mean `regex`"],
    ),
    (  # the suggestion comes from the custom site's own keys (before: from the top-level keys, none)
        "misspelt key",
        _set(1, "pages", {"maxx": 2}),
        ["'nuri'", "pages.maxx: unknown key", "did you mean `max`"],
    ),
    ("unknown field", _set(1, "fields", "price", "price"), ["'nuri'", "fields.price: unknown field"]),
    ("no title", lambda c: c["custom_sites"][1]["fields"].pop("title"), ["'nuri'", "fields.title: missing"]),
    ("no link", lambda c: c["custom_sites"][1].pop("url_template"), ["'nuri'", "fields.url: missing"]),
    ("two links", _set(1, "fields", "url", "link"), ["'nuri'", "url_template: give fields.url or"]),
    ("template name", _set(1, "url_template", "https://x.example/{seq}"), ["'nuri'", "placeholder {seq}"]),
    ("template attr", _set(1, "url_template", "https://x.example/{id.real}"), ["'nuri'", "{id.real}"]),
    ("format without year", _set(1, "open_at_format", ["%m.%d %H:%M"]), ["'nuri'", "open_at_format[0]"]),
    ("bad format", _set(1, "open_at_format", "%Y %Q"), ["'nuri'", "open_at_format[0]", "bad directive"]),
    ("bad colour", _set(0, "color", "#12345"), ["'hanbit'", "color", "#RRGGBB"]),
    ("bad name", _set(0, "name", "Hanbit Hall"), ["'Hanbit Hall'", "name"]),
    ("form with GET", _set(1, "form", {"page": "{page}"}), ["'nuri'", "form: a form is only sent with"]),
    (
        "pages without {page}",
        _set(0, "url", "https://www.hanbitarts.example/list.do"),
        ["'hanbit'", "pages.max"],
    ),
    ("relative url", _set(0, "url", "/board/list.do?page={page}"), ["'hanbit'", "url: expected an absolute"]),
    ("bad header", _set(1, "headers", {"Bad Header": "x"}), ["'nuri'", "headers.Bad Header"]),
    ("bad format kind", _set(1, "format", "xml"), ["'nuri'", "format"]),
]


@pytest.mark.parametrize(("what", "change", "phrases"), CONFIG_ERRORS, ids=[c[0] for c in CONFIG_ERRORS])
def test_config_errors_name_the_site_and_the_key(
    tmp_path: Path, what: str, change: Any, phrases: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        _load_with(tmp_path, change)
    message = str(info.value)
    assert message.startswith(str(tmp_path / "config.json"))
    assert "custom_sites." in message
    for phrase in phrases:
        assert phrase in message, (what, message)


def test_name_clash_with_a_builtin_names_both() -> None:
    clash = _definition("hanbit").model_copy(update={"name": "melon"})
    with pytest.raises(ConfigError) as info:
        registry.discover(include_plugins=False, custom=[clash])
    message = str(info.value)
    assert "two crawlers are named 'melon'" in message
    assert "crawlers.melon" in message and "custom_sites[0]" in message
    assert "rename the custom site" in message


@pytest.mark.usefixtures("plugin_on_path")
def test_name_clash_with_a_plugin_and_between_custom_sites() -> None:
    clash = _definition("nuri").model_copy(update={"name": "teststand"})
    with pytest.raises(ConfigError, match=r"named 'teststand': entry point teststand_plugin"):
        registry.discover(custom=[clash])
    nuri = _definition("nuri")
    with pytest.raises(ConfigError, match=r"named 'nuri': custom_sites\[0\].* and custom_sites\[1\]"):
        registry.discover(include_plugins=False, custom=[nuri, nuri.model_copy()])


def test_name_clash_through_the_cli_exits_2(tmp_path: Path) -> None:
    config = _example()
    config["custom_sites"][0]["name"] = "yes24"
    path = write_config(tmp_path, config)
    result = run_cli("check-config", "--config", str(path), cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "two crawlers are named 'yes24'" in result.stderr and "custom_sites[0]" in result.stderr


# --- registry, settings, masking ---------------------------------------------------------------------


def test_custom_sites_join_the_registry_and_sites_settings(tmp_path: Path) -> None:
    settings = load_config(EXAMPLE, {})
    known = registry.discover(include_plugins=False, custom=settings.custom_sites)
    assert {"interpark", "yes24", "melon", "ticketlink", "hanbit", "nuri"} == set(known)
    cls = known["hanbit"]
    assert issubclass(cls, GenericCrawler)
    assert (cls.display_name, cls.color) == ("한빛아트센터 공지", 0xAA3366)
    assert known["nuri"].color == 3381759
    check_site_names(settings, list(known), str(EXAMPLE))  # sites.hanbit / sites.nuri are accepted
    assert cls(settings.site("hanbit")).page_cap == 5
    with pytest.raises(ConfigError, match=r"sites\.hanbit: unknown site"):
        check_site_names(settings, list(registry.discover(include_plugins=False)), str(EXAMPLE))


def test_each_custom_site_is_compiled_once_per_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation compiles a definition; the registry reuses it (before: compiled twice per load)."""
    compiled: list[str] = []
    original = definition_module.compile_site

    def counting(site: CustomSiteSettings) -> Any:
        compiled.append(site.name)
        return original(site)

    monkeypatch.setattr(definition_module, "compile_site", counting)
    settings = load_config(EXAMPLE, {})
    known = registry.discover(include_plugins=False, custom=settings.custom_sites)
    Settings(custom_sites=settings.custom_sites)  # validated instances are not validated again
    assert compiled == ["hanbit", "nuri"]
    assert known["hanbit"].compiled is settings.custom_sites[0].compiled()
    settings.custom_sites[0].items = "table.other tr"  # a changed definition is compiled again
    assert settings.custom_sites[0].compiled().items_selector == "table.other tr"
    assert compiled == ["hanbit", "nuri", "hanbit"]


def test_secrets_in_headers_and_query_are_masked_and_registered(tmp_path: Path) -> None:
    config = _example()
    config["custom_sites"][1]["url"] += "&serviceKey=S3cr3t%2BKey%3D%3D&searchKeyword=공연안내"
    config["custom_sites"][1]["headers"]["Authorization"] = "Bearer tok-abcdef123456"
    settings = load_config(write_config(tmp_path, config), {})
    secrets = settings.secrets()
    assert {"S3cr3t%2BKey%3D%3D", "S3cr3t+Key==", "tok-abcdef123456"} <= set(secrets)
    assert "공연안내" not in secrets  # a search keyword is no credential
    shown = json.dumps(settings.masked(), ensure_ascii=False)
    assert "S3cr3t" not in shown and "tok-abcdef123456" not in shown and "공연안내" in shown
    masked = settings.masked()["custom_sites"][1]
    assert masked["headers"] == {
        "Accept": "application/json",
        "Referer": "https://www.nurihall.example/notice",
        "Authorization": "****",
    }
    assert masked["url"].endswith("&serviceKey=****&searchKeyword=공연안내")


def test_environment_can_supply_custom_sites() -> None:
    settings = load_config(None, {"TICKET_ALARM_CUSTOM_SITES": json.dumps(_example()["custom_sites"])})
    assert [s.name for s in settings.custom_sites] == ["hanbit", "nuri"]


def test_parse_saved_and_the_cli_file_mode(tmp_path: Path, hanbit: CustomSiteSettings) -> None:
    cls = build_crawler(hanbit)
    tickets = parse_saved(cls, _fixture("hanbit_notice_page1.html"))
    assert len(tickets) == 10 and tickets[1].url == HANBIT_VIEW.format(seq=2934, page=1)
    config = _example()
    config["sites"]["teststand"] = {"enabled": False}
    path = write_config(tmp_path, config)
    page = FIXTURES / "hanbit_notice_page1.html"
    result = run_cli(
        "test-crawlers", "hanbit", "--file", str(page), "--json", "--config", str(path), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["sites"][0]["site"] == "hanbit"
    assert (doc["sites"][0]["notices"], doc["sites"][0]["invalid"]) == (10, 0)
    assert doc["sites"][0]["samples"][1]["url"] == HANBIT_VIEW.format(seq=2934, page=1)


# --- crawling over loopback ------------------------------------------------------------------------


def _fetcher() -> Fetcher:
    return Fetcher(HttpSettings(min_request_interval=0, retries=0, timeout=5))


async def _crawl(definition: CustomSiteSettings, site: FakeSite, **site_settings: Any) -> Any:
    from ticket_alarm.config.settings import SiteSettings

    cls = build_crawler(definition)
    crawler = cls(SiteSettings(base_url=site.base_url, **site_settings))
    async with _fetcher() as fetcher:
        return await crawler.crawl(fetcher.for_site(cls.name, site.base_url))


def _pages(pages: dict[str, bytes], content_type: str) -> Any:
    def route(req: Request) -> Response:
        body = pages.get(req.q("page") or _form(req).get("pageIndex", ""), pages.get("*", b""))
        return Response(200, body, {"Content-Type": content_type})

    return route


def _form(req: Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(req.body.decode()).items()}


@pytest.fixture
def fake_site() -> Any:
    site = FakeSite().start()
    yield site
    site.stop()


async def test_crawl_html_pages_until_the_empty_page(hanbit: CustomSiteSettings, fake_site: FakeSite) -> None:
    fake_site.routes["/board/notice/list.do"] = _pages(
        {
            "1": _fixture("hanbit_notice_page1.html"),
            "2": _fixture("hanbit_notice_page2.html"),
            "3": _fixture("hanbit_notice_empty.html"),
        },
        "text/html; charset=utf-8",
    )
    crawl = await _crawl(
        hanbit.model_copy(update={"pages": hanbit.pages.model_copy(update={"max": 5})}), fake_site
    )
    assert crawl.pages == 3 and not crawl.capped
    assert len(crawl.tickets) == 12  # 10 + 3 - the pinned notice repeated on page 2
    assert [r.q("page") for r in fake_site.log] == ["1", "2", "3"]
    assert crawl.tickets[-1].url == HANBIT_VIEW.format(seq=2899, page=2)  # public link, not base_url
    assert any("without id and title" in note for note in crawl.notes)


async def test_crawl_stops_when_a_page_repeats(hanbit: CustomSiteSettings, fake_site: FakeSite) -> None:
    # a board that ignores the page parameter answers page 1 forever
    fake_site.routes["/board/notice/list.do"] = _pages(
        {"*": _fixture("hanbit_notice_page1.html")}, "text/html"
    )
    crawl = await _crawl(hanbit, fake_site)
    assert crawl.pages == 2 and len(crawl.tickets) == 10 and not crawl.capped
    assert any("repeats notices" in note for note in crawl.notes)


async def test_page_cap_below_pages_max_is_capped(hanbit: CustomSiteSettings, fake_site: FakeSite) -> None:
    fake_site.routes["/board/notice/list.do"] = _pages(
        {"1": _fixture("hanbit_notice_page1.html"), "2": _fixture("hanbit_notice_page2.html")}, "text/html"
    )
    crawl = await _crawl(hanbit, fake_site, page_cap=1)
    assert crawl.pages == 1 and crawl.capped
    crawl = await _crawl(
        hanbit.model_copy(update={"pages": hanbit.pages.model_copy(update={"max": 2})}), fake_site
    )
    assert crawl.pages == 2 and not crawl.capped  # the definition's own limit is not a cap


async def test_crawl_json_with_post_form_and_headers(nuri: CustomSiteSettings, fake_site: FakeSite) -> None:
    definition = CustomSiteSettings(
        **{
            **nuri.model_dump(),
            "url": "https://www.nurihall.example/api/v1/notices",
            "method": "post",
            "form": {"pageIndex": "{page}", "category": "OPEN"},
        }
    )
    fake_site.routes["/api/v1/notices"] = _pages(
        {
            "1": _fixture("nuri_api_page1.json"),
            "2": _fixture("nuri_api_page2.json"),
            "3": _fixture("nuri_api_page3.json"),
        },
        "application/json",
    )
    crawl = await _crawl(definition, fake_site)
    assert [t.id for t in crawl.tickets] == ["10452", "10451", "10449", "10447", "10440", "10431", "10425"]
    assert [(r.method, _form(r)) for r in fake_site.log] == [
        ("POST", {"pageIndex": str(n), "category": "OPEN"}) for n in (1, 2, 3)
    ]
    assert all(r.headers.get("referer") == "https://www.nurihall.example/notice" for r in fake_site.log)


async def test_crawl_error_page_fails_the_crawl(nuri: CustomSiteSettings, fake_site: FakeSite) -> None:
    fake_site.routes["/api/v1/notices"] = _pages({"*": _fixture("nuri_api_error.json")}, "application/json")
    with pytest.raises(ParseError, match=r"data\.list"):
        await _crawl(nuri, fake_site)


# --- fuzz ------------------------------------------------------------------------------------------

_KEYS = st.sampled_from(
    [
        "data",
        "list",
        "noticeSeq",
        "noticeTitle",
        "openDateTime",
        "hall",
        "name",
        "posterImage",
        "viewCnt",
        "x",
    ]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=30,
)
_HTML_PARTS = st.sampled_from(
    [
        "<table class='board_list'>",
        "<tbody>",
        "</tbody>",
        "</table>",
        "<tr>",
        "</tr>",
        "<td class='subject'>",
        "<td class='open'>",
        "<td class='hall'>",
        "<td class='cate'>",
        "<td class='hit'>",
        "</td>",
        "<a href='/board/notice/view.do?seq=12'>",
        "<a href='javascript:void(0)'>",
        "<a href='http://[::1'>",
        "</a>",
        "<a>",
        "2027.11.20(토) 14:00",
        "추후공지",
        "[단독판매]",
        "변경",
        "-",
        "1,234",
        "<",
        ">",
        "&amp;",
        "등록된 게시물이 없습니다",
        "\x00",
        "\u200b",
        "<!--",
        "-->",
        "<script>",
        "</script>",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_JSON)
def test_fuzz_json_structures(nuri: CustomSiteSettings, data: Any) -> None:
    body = json.dumps({"data": {"list": data}} if isinstance(data, list) else data).encode()
    _only_tickets_or_parse_error(lambda: parse_json_items(body, nuri, NURI_LIST))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300))
def test_fuzz_random_bytes(nuri: CustomSiteSettings, hanbit: CustomSiteSettings, body: bytes) -> None:
    _only_tickets_or_parse_error(lambda: parse_json_items(body, nuri, NURI_LIST))
    _only_tickets_or_parse_error(lambda: parse_html_items(body, hanbit, HANBIT_LIST))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(_HTML_PARTS, max_size=40), first=st.booleans())
def test_fuzz_html_fragments(hanbit: CustomSiteSettings, parts: list[str], first: bool) -> None:
    body = "".join(parts)
    _only_tickets_or_parse_error(lambda: parse_html_page(body, hanbit, HANBIT_LIST, first=first).tickets)


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from("ab0[]*.$@'\" -"), max_size=20))
def test_fuzz_json_path_compiler(text: str) -> None:
    try:
        path = compile_json_path(text)
    except ValueError:
        return
    assert isinstance(path.find({"a": [{"b": 1}], "0": None}), list)


def _only_tickets_or_parse_error(parse: Any) -> None:
    try:
        tickets = parse()
    except ParseError:
        return
    assert isinstance(tickets, list) and all(isinstance(t, Ticket) for t in tickets)
    for ticket in tickets:
        assert ticket.open_at is None or ticket.open_at.utcoffset() is not None
        ticket.digest  # noqa: B018 - hashing must work on whatever was read


# --- the real daemon --------------------------------------------------------------------------------

NEW_ROW = """
          <tr>
            <td class="num">38</td>
            <td class="cate">티켓오픈</td>
            <td class="subject"><a href="/board/notice/view.do?seq=2940&amp;page=1">한빛 체임버 오케스트라 〈봄의 제전〉 티켓 오픈 안내</a></td>
            <td class="hall">콘서트홀</td>
            <td class="open">2027.12.01(수) 14:00</td>
            <td class="date">2027.11.12</td>
            <td class="hit">15</td>
          </tr>"""  # noqa: E501


@pytest.mark.e2e
def test_daemon_delivers_a_new_custom_board_notice_once(
    tmp_path: Path, discord: FakeDiscord, daemons: list[DaemonProcess]
) -> None:
    page1 = _fixture("hanbit_notice_page1.html").decode()
    served = {"1": page1.encode(), "2": _fixture("hanbit_notice_empty.html")}
    board = FakeSite()
    board.routes["/board/notice/list.do"] = _pages(served, "text/html; charset=utf-8")
    board.start()
    try:
        webhook = discord.add_webhook()
        hanbit = copy.deepcopy(_example()["custom_sites"][0])
        config = stand_config(
            tmp_path,
            board,
            webhook,
            sites={"teststand": {"enabled": False}, "hanbit": {"base_url": board.base_url}},
            custom_sites=[hanbit],
        )
        d = DaemonProcess(write_config(tmp_path, config), tmp_path)
        daemons.append(d)
        d.wait_log("크롤링 완료: hanbit")  # the first crawl fills history silently
        assert discord.embeds() == []
        served["1"] = page1.replace("<tbody>", "<tbody>" + NEW_ROW, 1).encode()
        d.wait_for(lambda: len(discord.embeds()) >= 1, what="the new notice in Discord")
        d.wait_log("크롤링 완료: hanbit", count=4)  # more cycles: nothing may be sent again
        embeds = discord.embeds()
        assert len(embeds) == 1
        embed = embeds[0]
        assert embed["title"] == "한빛 체임버 오케스트라 〈봄의 제전〉 티켓 오픈 안내"
        assert embed["url"] == HANBIT_VIEW.format(seq=2940, page=1)  # the public link, not base_url
        assert embed["author"]["name"] == "한빛아트센터 공지" and embed["color"] == 0xAA3366
        assert "<t:1827637200:F>" in embed["fields"][0]["value"]  # 2027-12-01 14:00 KST
        assert {"name": "장소", "value": "콘서트홀", "inline": True} in embed["fields"]
        assert d.terminate()[0] == 0
        assert "크롤링 실패" not in d.out()
    finally:
        board.stop()
