"""Issue 21, a fan's first week: a route adds a channel (``main_receives``), the main channel pings a
role, ``history search`` takes several words, the calendar a phone subscribes to (``?alarm=``, a clean
400 for an unreadable address), the status page's health line and its site table.

Run as the fan meets them: the CLI (``python -m ticket_alarm``) and the daemon against the stand-in site
and the strict stand-in Discord, the page in headless Chromium at a phone's 412 px.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from crawlers.registry import discover
from tests.cli.test_first_week import clean_env, run_main
from tests.conftest import DaemonProcess, child_env, run_cli, stand_config, write_config
from tests.support.browser import Chromium, Page, find_chromium
from tests.support.discord_standin import FakeDiscord
from tests.support.server import Response
from tests.support.site_standin import FakeSite, TestStandNotices
from tests.unit.test_metrics import free_port
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.settings import Settings
from ticket_alarm.store import SiteState
from ticket_alarm.store.sqlite.backend import SqliteStore
from ticket_alarm.web.server import WebContext, render_page

MAIN_ID, ROUTE_ID = "111111111111111111", "222222222222222222"
ROLE = "987654321098765432"
TOKEN = "fan-token-0123456789abcdef"
CHROMIUM = find_chromium()
__all__ = ["clean_env"]  # test_first_week's autouse fixture: no TICKET_ALARM_* from outside, cwd tmp_path


def fan_config(tmp_path: Path, site: FakeSite, discord: FakeDiscord, **extra: Any) -> dict[str, Any]:
    return stand_config(
        tmp_path,
        site,
        discord.add_webhook(MAIN_ID),
        notify_on_first_run=True,
        head_interval=None,
        mention_role_ids=[ROLE],
        routes=[
            {
                "name": "seventeen",
                "webhook_url": discord.add_webhook(ROUTE_ID),
                "include": ["세븐틴", "SEVENTEEN"],
            }
        ],
        **extra,
    )


def titles(discord: FakeDiscord, webhook_id: str) -> list[str]:
    return sorted(
        re.sub(r"\s+\d+ 티켓 오픈 안내$", "", str(e.get("title", ""))) for e in discord.embeds(webhook_id)
    )


def add_fan_notices(notices: TestStandNotices) -> dict[str, str]:
    return {
        "ko": notices.add(1, prefix="세븐틴 콘서트")[0],
        "en": notices.add(1, prefix="SEVENTEEN WORLD TOUR")[0],
        "other": notices.add(1, prefix="뮤지컬 레베카")[0],
    }


# --- 2: a route that adds a channel ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("main_receives", "main_gets"),
    [
        (None, 3),  # the default, "all": every notice, plus what the route adds
        ("unrouted", 1),  # the old behaviour: only what no route took
    ],
)
def test_a_route_adds_a_channel_unless_main_receives_unrouted(
    tmp_path: Path,
    site: FakeSite,
    notices: TestStandNotices,
    discord: FakeDiscord,
    main_receives: str | None,
    main_gets: int,
) -> None:
    ids = add_fan_notices(notices)
    extra = {"main_receives": main_receives} if main_receives else {}
    config = write_config(tmp_path, fan_config(tmp_path, site, discord, **extra))
    once = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert once.returncode == 0, once.stderr
    # the route takes the Korean and the English name because both are listed
    assert len(discord.embeds(ROUTE_ID)) == 2
    assert len(discord.embeds(MAIN_ID)) == main_gets
    assert any("뮤지컬 레베카" in t for t in titles(discord, MAIN_ID))
    # the main channel pings its role (mention_role_ids at the top level); the route pings none
    main_pings = [m for m in discord.messages if m.webhook_id == MAIN_ID]
    assert main_pings and all(f"<@&{ROLE}>" in m.payload.get("content", "") for m in main_pings)
    assert all(ROLE not in json.dumps(m.payload) for m in discord.messages if m.webhook_id == ROUTE_ID)
    assert f"role:{ROLE}" in discord.fired_mentions

    checked = run_cli("check-config", "--json", "--config", str(config), cwd=tmp_path)
    delivery = json.loads(checked.stdout)["delivery"]
    if main_receives is None:
        assert delivery.startswith("every notice goes to discord_webhook_url (the main channel)")
    else:
        assert "a notice that matches no route goes to discord_webhook_url" in delivery
    assert f"delivery: {delivery}" in checked.stderr

    explained = run_cli("explain", "teststand", ids["ko"], "--config", str(config), cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    default_line = next(line for line in explained.stdout.splitlines() if line.strip().startswith("default"))
    if main_receives is None:
        assert "matched" in default_line and 'main_receives "all"' in default_line
        assert "route seventeen takes it too" in default_line
    else:
        assert "skipped" in default_line and "route seventeen takes it" in default_line


def test_explain_in_korean_says_the_main_channel_receives_every_notice(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, discord: FakeDiscord
) -> None:
    ids = add_fan_notices(notices)
    config = write_config(tmp_path, fan_config(tmp_path, site, discord))
    ko = child_env(TICKET_ALARM_LANG="ko")
    assert run_cli("once", "--config", str(config), cwd=tmp_path, env=ko).returncode == 0
    explained = run_cli("explain", "teststand", ids["other"], "--config", str(config), cwd=tmp_path, env=ko)
    assert "메인 채널 discord_webhook_url은 모든 공지를 받습니다" in explained.stdout, explained.stdout
    checked = run_cli("check-config", "--config", str(config), cwd=tmp_path, env=ko)
    assert (
        "모든 공지가 discord_webhook_url(메인 채널)로 가고, 맞는 경로(seventeen)에도 함께 갑니다"
        in checked.stdout + checked.stderr
    )


def test_history_search_takes_the_korean_and_the_english_name(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, discord: FakeDiscord
) -> None:
    ids = add_fan_notices(notices)
    config = write_config(tmp_path, fan_config(tmp_path, site, discord))
    assert run_cli("once", "--config", str(config), cwd=tmp_path).returncode == 0
    both = run_cli(
        "history", "search", "세븐틴", "SEVENTEEN", "--json", "--config", str(config), cwd=tmp_path
    )
    assert both.returncode == 0, both.stderr
    assert sorted(r["id"] for r in json.loads(both.stdout)) == sorted([ids["ko"], ids["en"]])
    # one quoted argument stays one keyword, spaces folded as in routes
    phrase = run_cli("history", "search", "뮤지컬레 베카", "--config", str(config), cwd=tmp_path)
    assert phrase.returncode == 0 and "뮤지컬 레베카" in phrase.stdout and "세븐틴" not in phrase.stdout


# --- 8: check-config warns about an open web.host ------------------------------------------------


@pytest.mark.parametrize(
    ("web", "warned"),
    [
        ({"port": 8080, "host": "0.0.0.0"}, True),
        ({"port": 8080, "host": "192.168.0.10"}, True),
        ({"port": 8080, "host": "0.0.0.0", "token": TOKEN}, False),
        ({"port": 8080, "host": "127.0.0.1"}, False),
        ({"host": "0.0.0.0"}, False),  # no port: no page at all
    ],
)
def test_check_config_warns_about_web_host_beyond_loopback_without_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], web: dict[str, Any], warned: bool
) -> None:
    config = write_config(tmp_path, {"data_dir": str(tmp_path / "data"), "web": web})
    code, out, err = run_main(capsys, "check-config", "--json", "--config", str(config))
    assert code == 0, err
    assert ("is reachable beyond this machine and web.token is not set" in err) is warned
    assert TOKEN not in out + err


# --- 6 and 7: the calendar and the page, from the daemon --------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium (.ci/run does it)")
    chromium = Chromium(CHROMIUM, tmp_path_factory.mktemp("chromium") / "profile")
    yield chromium
    chromium.close()


def raw_get(port: int, target: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def events(ics: str) -> list[str]:
    return ics.split("BEGIN:VEVENT")[1:]


async def test_the_calendar_a_phone_subscribes_to_and_the_page_tells_health_first(
    tmp_path: Path,
    browser: Chromium,
    site: FakeSite,
    notices: TestStandNotices,
    discord: FakeDiscord,
    daemons: list[DaemonProcess],
) -> None:
    add_fan_notices(notices)
    port = free_port()
    config = fan_config(
        tmp_path, site, discord, web={"port": port, "token": TOKEN}, health={"failure_streak_warn": 2}
    )
    d = DaemonProcess(write_config(tmp_path, config), tmp_path, env=child_env(TICKET_ALARM_LANG="ko"))
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand", timeout=60)
    base = f"http://127.0.0.1:{port}"

    def get(path: str) -> httpx.Response:
        sep = "&" if "?" in path else "?"
        return httpx.get(f"{base}{path}{sep}token={TOKEN}", timeout=10)

    # ?alarm= sets the reminder: 10 minutes by default, 60, or none
    assert all("TRIGGER:-PT10M" in e for e in events(get("/calendar.ics").text))
    assert all("TRIGGER:-PT1H" in e for e in events(get("/calendar.ics?alarm=60").text))
    no_alarm = get("/calendar.ics?alarm=0").text
    assert len(events(no_alarm)) == 3 and "BEGIN:VALARM" not in no_alarm
    bad = get("/calendar.ics?alarm=soon")
    assert bad.status_code == 400 and bad.text.count("\n") == 1 and "alarm='soon'" in bad.text
    # per route and per keyword (?q=, URL-encoded Korean)
    assert len(events(get("/calendar.ics?route=seventeen").text)) == 2
    assert len(events(get(f"/calendar.ics?q={quote('세븐틴')}").text)) == 1
    # an address with Korean not URL-encoded (curl, a hand-typed link): a 400, one log line, no traceback
    answer = raw_get(port, f"/calendar.ics?token={TOKEN}&q=".encode() + "세븐틴".encode())
    assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n", 1)[0]
    broken = raw_get(port, f"/calendar.ics?token={TOKEN}&q=%EC%84".encode())
    assert b" 400 " in broken.split(b"\r\n", 1)[0] and "URL 인코딩".encode() in broken
    d.wait_log("읽을 수 없는 요청을 400으로 거절함")

    async with Page.open(browser) as page:
        await page.phone(width=412, height=915)
        await page.goto(f"{base}/?token={TOKEN}")
        line = await page.eval(
            "(function(){var h=document.getElementById('health'),r=h.getBoundingClientRect();"
            "return {text:h.textContent,cls:h.className,top:r.top,bottom:r.bottom,right:r.right,"
            "h:window.innerHeight,w:window.innerWidth,y:window.scrollY};})()"
        )
        assert line["text"] == "모든 사이트 정상 (1곳)" and "ok" in line["cls"]
        assert (
            line["y"] == 0 and line["top"] >= 0 and line["bottom"] <= line["h"] and line["right"] <= line["w"]
        )
        assert await page.eval("document.documentElement.scrollWidth <= window.innerWidth")
        links = await page.eval(
            "Array.from(document.querySelectorAll('a.webcal')).map(function(a){return a.href;})"
        )
        host = f"webcal://127.0.0.1:{port}/calendar.ics"
        assert f"{host}?token={TOKEN}" in links  # all notices
        assert f"{host}?route=seventeen&token={TOKEN}" in links
        assert f"{host}?q={quote('세븐틴')}&token={TOKEN}" in links
        assert f"{host}?q=SEVENTEEN&token={TOKEN}" in links
        await page.eval(
            "(function(){var s=document.getElementById('alarm');s.value='60';"
            "s.dispatchEvent(new Event('change'));})()"
        )
        links = await page.eval(
            "Array.from(document.querySelectorAll('a.webcal')).map(function(a){return a.href;})"
        )
        assert f"{host}?route=seventeen&token={TOKEN}&alarm=60" in links
        await page.type("#q", "레베카")
        assert await page.eval("document.getElementById('sub-q').href") == (
            f"{host}?q={quote('레베카')}&token={TOKEN}&alarm=60"
        )

        # the site goes down: sweeps fail, and the page's first line says so (health's own rule)
        site.hook = lambda req: Response(500, b"down")
        d.wait_log("크롤링 실패: teststand", count=2, timeout=60)
        await page.goto(f"{base}/?token={TOKEN}")
        line = await page.eval(
            "(function(){var h=document.getElementById('health'),r=h.getBoundingClientRect();"
            "return {text:h.textContent,cls:h.className,bottom:r.bottom,right:r.right,"
            "h:window.innerHeight,w:window.innerWidth};})()"
        )
        assert "bad" in line["cls"] and line["text"].startswith("문제 있는 사이트 1곳 · 테스트 티켓: ")
        assert "연속" in line["text"] and "이후 실패" in line["text"], line["text"]
        assert line["bottom"] <= line["h"] and line["right"] <= line["w"]
        await page.screenshot(tmp_path / "health-line-412.png")
        assert page.errors == [], page.errors
    assert d.terminate()[0] == 0
    assert "Traceback" not in d.out() + d.err()
    assert TOKEN not in d.out() + d.err()


# --- 8: 마지막 수집 is never older than 마지막 성공 ----------------------------------------------------


async def test_the_site_table_never_shows_the_last_attempt_older_than_the_last_success(
    tmp_path: Path,
) -> None:
    now = datetime(2027, 1, 10, 3, 0, tzinfo=UTC)
    store = SqliteStore.open_dir(tmp_path / "data")
    try:
        # a sweep is stamped when it starts (attempt) and when it ends (success), four minutes later
        await store.save_site_state(
            SiteState("melon", True, last_attempt=now.timestamp() - 600, last_success=now.timestamp() - 360)
        )
        known = {"melon": discover()["melon"]}
        settings = Settings(data_dir=tmp_path / "data", interval=600)
        html = await render_page(WebContext(settings, store, known, ["melon"], None, FakeClock(now)))
    finally:
        await store.close()
    row = html[html.index('<tbody id="sites">') :].split("</tr>", 1)[0]
    assert re.findall(r"<td>([^<]*)</td>", row)[:2] == ["6분 전", "6분 전"]
    assert 'class="health ok"' in html and "모든 사이트 정상 (1곳)" in html
