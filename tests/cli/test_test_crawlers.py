"""`python -m ticket_alarm test-crawlers` against the four-site stand-in: table, --json, exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli, write_config
from tests.support.processes import start_cli
from tests.support.real_sites import FIXTURES, SITES, RealSites, expected
from tests.support.server import Response
from tests.support.site_standin import FakeSite


@pytest.fixture(scope="module")
def real_sites() -> Iterator[RealSites]:
    sites = RealSites().start()
    yield sites
    sites.stop()


def _config(tmp_path: Path, base_urls: dict[str, str], **extra: Any) -> Path:
    data: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        # the test plugin is on PYTHONPATH for every child process; keep it out of these runs
        "sites": {
            "teststand": {"enabled": False},
            **{name: {"base_url": url} for name, url in base_urls.items()},
        },
        "http": {"min_request_interval": 0, "retries": 0, "timeout": 5},
        "discord_webhook_url": "http://127.0.0.1:9/api/webhooks/123456789012345678/SECRETTOKEN-abcdefghij",
        **extra,
    }
    return write_config(tmp_path, data)


def test_table_for_all_four_sites(tmp_path: Path, real_sites: RealSites) -> None:
    config = _config(tmp_path, dict.fromkeys(SITES, real_sites.base_url))
    result = run_cli("test-crawlers", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["SITE", "STATUS", "HTTP", "SEC", "PAGES", "NOTICES", "INVALID"]
    for site in SITES:
        row = next(line for line in lines if line.startswith(site))
        cells = row.split()
        assert cells[1] == "ok" and cells[2] == "200"
        assert int(cells[5]) == expected(site)["count"], row
    assert lines.count("") == 0 and sum(1 for line in lines if line.startswith("    - ")) == 12
    assert not (tmp_path / "data").exists(), "diagnosis must write no history"
    assert "SECRETTOKEN" not in result.stdout + result.stderr


def test_json_output_is_one_document(tmp_path: Path, real_sites: RealSites) -> None:
    config = _config(tmp_path, {"melon": real_sites.base_url, "ticketlink": real_sites.base_url})
    result = run_cli("test-crawlers", "melon", "ticketlink", "--json", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert [s["site"] for s in doc["sites"]] == ["melon", "ticketlink"]
    melon = doc["sites"][0]
    assert melon["status"] == "ok" and melon["http_status"] == 200 and melon["notices"] == 43
    assert melon["pages"] == 5 and len(melon["samples"]) == 3
    assert melon["samples"][0]["url"].startswith("https://ticket.melon.com/csoon/detail.htm?csoonId=")
    assert "[INFO]" not in result.stdout  # logs go to stderr with --json


def test_failures_exit_1_with_a_hint(tmp_path: Path, real_sites: RealSites) -> None:
    challenge = FakeSite()
    page = b"<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>checking</body></html>"
    challenge.routes["/contents/api/open-notice/notice-list"] = lambda req: Response(
        200, page, {"Content-Type": "text/html"}
    )
    challenge.routes["/help/getNoticeList"] = lambda req: Response(503, b"down")
    challenge.start()
    try:
        config = _config(
            tmp_path,
            {"interpark": challenge.base_url, "ticketlink": challenge.base_url, "yes24": real_sites.base_url},
        )
        result = run_cli(
            "test-crawlers", "interpark", "ticketlink", "yes24", "--config", str(config), cwd=tmp_path
        )
        as_json = run_cli("test-crawlers", "interpark", "--json", "--config", str(config), cwd=tmp_path)
    finally:
        challenge.stop()
    assert result.returncode == 1
    out = result.stdout
    assert "interpark    FAILED" in out and "ticketlink   FAILED" in out and "yes24        ok" in out
    assert "hint: challenge page" in out and "try `proxy`" in out
    assert "HTTP 503" in out
    doc = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and doc["ok"] is False
    assert doc["sites"][0]["status"] == "failed" and "JSON" in doc["sites"][0]["error"]


def test_parse_a_saved_page(tmp_path: Path) -> None:
    config = _config(tmp_path, {})
    page = FIXTURES / "yes24" / "axList_page1.html"
    ok = run_cli("test-crawlers", "yes24", "--file", str(page), "--config", str(config), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "yes24        ok" in ok.stdout
    garbage = tmp_path / "garbage.html"
    garbage.write_text("<html><body>nothing here</body></html>")
    bad = run_cli("test-crawlers", "yes24", "--file", str(garbage), "--config", str(config), cwd=tmp_path)
    assert bad.returncode == 1 and "FAILED" in bad.stdout


def test_unknown_site_is_named(tmp_path: Path) -> None:
    config = _config(tmp_path, {})
    result = run_cli("test-crawlers", "nosuchsite", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown site 'nosuchsite'" in result.stderr and "interpark" in result.stderr


# --- what it parsed, notice pages, sites at once ----------------------------------------------------


def test_json_carries_every_parsed_notice_and_interpark_moves_to_nol(tmp_path: Path) -> None:
    sites = RealSites().start()
    sites.interpark_api = "404"  # the old API is gone: auto reads NOL in the same run
    try:
        config = _config(tmp_path, {"interpark": sites.base_url, "melon": sites.base_url})
        result = run_cli(
            "test-crawlers", "interpark", "melon", "--json", "--config", str(config), cwd=tmp_path
        )
    finally:
        sites.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    interpark, melon = doc["sites"]
    assert [n["id"] for n in interpark["parsed"]] == ["15418", "15501", "15502"]
    iu = interpark["parsed"][1]
    assert iu == {
        "id": "15501",
        "title": "2026 아이유 팬콘서트 〈HEREH〉 - 서울",
        "url": "https://tickets.interpark.com/contents/notice/detail/15501",
        "open_at": "2026-10-22T20:00:00+09:00",
        "presales": [{"name": "팬클럽 선예매", "at": "2026-10-20T20:00:00+09:00"}],
        "exclusive": True,
        "category": "open",
        "venue": "KSPO DOME",
        "genre": "콘서트",
        "booking_url": "https://nol.yanolja.com/ticket/products/26015555",
        "image_url": "https://ticketimage.interpark.com/TicketImage/notice_poster/20/20260929012620.jpg",
    }
    assert len(interpark["warnings"]) == 1 and "read NOL instead" in interpark["warnings"][0]
    assert len(melon["parsed"]) == melon["notices"] == 43
    with_schedule = next(n for n in melon["parsed"] if n["id"] == "11376")  # completed from detail.htm
    assert with_schedule["presales"] and with_schedule["open_at"]


@pytest.mark.parametrize(
    ("site", "fixture", "phrases"),
    [
        ("melon", "melon/detail_csoonId11376.html", ["티켓오픈:", "선예매"]),
        (
            "interpark",
            "interpark/notice-detail_10063.html",
            ["티켓오픈: 2025-07-02", "토핑 선예매: 2025-07-01"],
        ),
        (
            "ticketlink",
            "ticketlink/notice_real_wording.json",
            ["티켓오픈: 2024-08-23", "팬클럽 선예매: 2024-08-21"],
        ),
    ],
)
def test_file_on_a_notice_page_prints_the_schedule_it_reads(
    tmp_path: Path, site: str, fixture: str, phrases: list[str]
) -> None:
    config = _config(tmp_path, {})
    result = run_cli(
        "test-crawlers", site, "--file", str(FIXTURES / fixture), "--config", str(config), cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "notice page" in result.stdout
        and "추후 공지" not in result.stdout.split("티켓오픈:")[1].splitlines()[0]
    )
    for phrase in phrases:
        assert phrase in result.stdout, result.stdout


def test_file_on_melon_detail_as_json_has_the_schedule(tmp_path: Path) -> None:
    config = _config(tmp_path, {})
    page = FIXTURES / "melon" / "detail_csoonId11475.html"
    result = run_cli(
        "test-crawlers", "melon", "--file", str(page), "--json", "--config", str(config), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    schedule = json.loads(result.stdout)["sites"][0]["schedule"]
    assert schedule["open_at"] or schedule["open_date"]
    assert all(set(p) == {"name", "at"} for p in schedule["presales"])


def test_sites_are_checked_at_once_and_each_line_prints_as_it_finishes(
    tmp_path: Path, real_sites: RealSites
) -> None:
    import threading

    slow = FakeSite()
    # Interpark (asked first) answers only once the child has PRINTED Ticketlink's and YES24's lines:
    # checked one after the other, or printed only at the end, they never would be (bounded: after
    # 60 s it answers anyway and the test fails on what it saw)
    others_printed = threading.Event()
    overlapped: list[bool] = []

    def late_empty_list(req: Any) -> Response:
        overlapped.append(others_printed.wait(timeout=60))
        return Response(200, b"[]", {"Content-Type": "application/json"})

    slow.routes["/contents/api/open-notice/notice-list"] = late_empty_list
    changed = [{"id": 1, "title": "공지"}]  # Ticketlink items without noticeId: the API changed
    slow.routes["/help/getNoticeList"] = lambda req: Response(
        200,
        json.dumps({"result": {"result": changed, "paging": {}}}).encode(),
        {"Content-Type": "application/json"},
    )
    slow.start()
    lines: list[str] = []
    try:
        config = _config(
            tmp_path,
            {"interpark": slow.base_url, "ticketlink": slow.base_url, "yes24": real_sites.base_url},
        )
        argv = ["test-crawlers", "interpark", "ticketlink", "yes24", "--config", str(config)]
        proc = start_cli(*argv, cwd=tmp_path)

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                firsts = {row.split()[0] for row in lines if row.split()}
                if {"ticketlink", "yes24"} <= firsts:
                    others_printed.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            returncode = proc.wait(timeout=120)
        finally:
            proc.kill()
        reader.join(timeout=10)
        assert proc.stderr is not None
        stderr = proc.stderr.read()
    finally:
        slow.stop()
    stdout = "".join(lines)
    assert returncode == 1  # the changed Ticketlink API is a failure, not "ok, 0 notices"
    assert overlapped and all(overlapped), stdout  # the others were printed while Interpark waited
    rows = [line.split()[0] for line in stdout.splitlines() if line.split() and line.split()[0] in SITES]
    assert rows[-1] == "interpark", stdout  # asked first, slowest: printed last
    assert "ticketlink   FAILED" in stdout and "items have no noticeId: the API changed" in stdout
    assert "interpark    ok" in stdout and "yes24        ok" in stdout
    assert "checking" not in stderr  # the progress line is for a terminal only


def test_progress_line_redraws_in_place_on_a_terminal_only(capsys: pytest.CaptureFixture[str]) -> None:
    from ticket_alarm.cli.test_crawlers import _Progress

    progress = _Progress(["interpark", "melon"], enabled=True)
    progress.show()
    progress.done("melon")
    progress.show()
    progress.done("interpark")
    progress.show()  # nothing left to wait for: no line
    progress.clear()
    err = capsys.readouterr().err
    assert "checking 0/2 done; waiting for interpark, melon" in err
    assert "checking 1/2 done; waiting for interpark" in err and err.endswith("\r\x1b[K")
    quiet = _Progress(["interpark"], enabled=False)
    quiet.show()
    quiet.clear()
    assert capsys.readouterr().err == ""
