"""The pieces every crawler shares (crawlers/base.py): one JSON loader, one page check, one number
parser, and the plugin API (``__all__``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import crawlers.base as base
from crawlers.base import CHALLENGE_HINT, MOVED_HINT, load_json, parse_count
from tests.conftest import ROOT
from ticket_alarm.errors import ApiChangedError, ParseError

PUBLIC = "https://tickets.example.kr"
SITE_MODULES = sorted(
    p
    for p in [*(ROOT / "crawlers").glob("*.py"), *(ROOT / "crawlers" / "custom").glob("*.py")]
    if p.name != "base.py"
)


def test_load_json_accepts_bom_and_whitespace() -> None:
    assert load_json("s", b'\xef\xbb\xbf  {"a": [1, "\xed\x8b\xb0"]}', "x") == {"a": [1, "티"]}
    assert load_json("s", b"\n [] ", "x") == []
    assert load_json("s", '\ufeff{"a": 1}', "x") == {"a": 1}


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><title>Just a moment...</title></html>",
        b"\xef\xbb\xbf\n  <html><body>Access denied</body></html>",
        b"Access Denied - you don't have permission",  # a plain-text block page, no HTML at all
    ],
)
def test_a_challenge_instead_of_json_is_a_parse_error_with_the_proxy_hint(body: bytes) -> None:
    with pytest.raises(ParseError) as info:
        load_json("interpark", body, f"{PUBLIC}/api")
    assert not isinstance(info.value, ApiChangedError)
    assert info.value.site == "interpark" and info.value.hint == CHALLENGE_HINT
    assert "a bot challenge page where JSON was expected" in str(info.value) and f"{PUBLIC}/api" in str(
        info.value
    )


def test_the_sites_own_html_page_instead_of_json_says_the_endpoint_moved() -> None:
    with pytest.raises(ApiChangedError) as info:
        load_json("ticketlink", b"<html><head><title>Ticketlink</title></head><script>app()</script>", "u")
    assert info.value.hint == MOVED_HINT and "the site's HTML page (title 'Ticketlink')" in str(info.value)


@pytest.mark.parametrize("body", [b"", b"   \n", b"\xef\xbb\xbf"])
def test_an_empty_body_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError, match="empty body where JSON was expected"):
        load_json("s", body, "x")


@pytest.mark.parametrize(
    "body",
    [
        b'{"items": [1, 2',
        b'{"items": [1, 2,]}',
        b"9" * 5000,  # huge integers hit Python's digit limit
        b"[" * 100_000 + b"]" * 100_000,  # deep nesting
        b"{'single': 'quotes'}",
        '{"a": "티켓"}'.encode("cp949"),
    ],
    ids=["truncated", "trailing-comma", "huge-int", "deep-nesting", "single-quotes", "not-utf8"],
)
def test_bad_json_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError, match="unparseable JSON") as info:
        load_json("ticketlink", body, f"{PUBLIC}/api")
    assert len(str(info.value)) < 400  # the reason is cut, not the whole body


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1234, 1234),
        (0, 0),
        (1234.0, 1234),
        ("1,234", 1234),
        (" 1 234\n", 1234),
        ("12", 12),
        (-1, None),
        (1.5, None),
        (float("inf"), None),
        (float("nan"), None),
        (True, None),
        (None, None),
        ("", None),
        ("조회 12", None),
        ("１２", None),  # full-width digits are no ASCII count
        ("9" * 19, None),
        ([], None),
    ],
)
def test_parse_count_reads_views_and_page_numbers(value: object, expected: int | None) -> None:
    assert parse_count(value) == expected


def _names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_no_site_module_writes_its_own_json_loader_views_parser_or_paging_loop() -> None:
    """The shared pieces are used, not copied: no _load_json/_views/_as_int, no json.loads of a body,
    no hand-written `while True` paging."""
    for path in SITE_MODULES:
        text = path.read_text(encoding="utf-8")
        names = _names(path)
        assert not names & {"_load_json", "_views", "_as_int", "parse_json_body"}, path.name
        assert "while True" not in text, path.name
        assert "json.loads(text)" not in text and "json.loads(raw" not in text, path.name


def test_a_plugin_needs_only_crawlers_base() -> None:
    exported = set(base.__all__)
    assert {"Crawler", "Crawl", "paginate", "Numbered", "Cursors", "load_json", "parse_count"} <= exported
    assert {"Ticket", "SiteFetcher", "ParseError", "SiteLockedError", "clean_text", "SEOUL"} <= exported
    assert all(hasattr(base, name) for name in exported)
    plugin = ROOT / "tests" / "plugin" / "teststand_plugin.py"
    imports = {
        node.module
        for node in ast.walk(ast.parse(plugin.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imports == {"__future__", "datetime", "crawlers.base"}
