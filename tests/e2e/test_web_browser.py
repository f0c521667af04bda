"""The status page in a real browser: headless Chromium against the real daemon on the four stand-in sites.

The upcoming list shows the notices, the site filter (a real click) and the search (real typing)
narrow it, the self-refresh keeps the filter, the page fits a phone, a screenshot is saved under the
test's temp dir, and any JavaScript error in the console fails the test.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import DaemonProcess, child_env, write_config
from tests.support.browser import Chromium, Page
from tests.support.discord_standin import FakeDiscord
from tests.support.fan import FAN_TOKEN, add_fan_notices, fan_config
from tests.support.ports import free_port
from tests.support.real_sites import SITES, RealSites, expected
from tests.support.server import Response
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.config.routes import normalise

pytestmark = pytest.mark.e2e
TOKEN = "page-token-0123456789abcdef"


@pytest.fixture
def real_sites() -> Iterator[RealSites]:
    sites = RealSites().start()
    yield sites
    sites.stop()


def page_config(tmp_path: Path, sites: RealSites, discord: FakeDiscord, port: int) -> dict[str, Any]:
    return {
        "interval": 300,
        "data_dir": str(tmp_path / "data"),
        "notify_on_first_run": True,
        "routes": [
            {"name": "all", "webhook_url": discord.add_webhook("223456789012345678")},
            {"name": "melon-only", "webhook_url": discord.add_webhook(), "sites": ["melon"]},
        ],
        "sites": {"teststand": {"enabled": False}, **{name: {"base_url": sites.base_url} for name in SITES}},
        "http": {"min_request_interval": 0, "retries": 0, "timeout": 5},
        "web": {"port": port, "token": TOKEN},
    }


async def visible(page: Page) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = await page.eval(
        "Array.from(document.querySelectorAll('#days .notice')).filter(function(li){"
        "return li.offsetParent !== null;}).map(function(li){return {site: li.dataset.site,"
        "title: li.querySelector('.title').textContent, href: li.querySelector('.title').href};})"
    )
    return rows


async def test_the_page_lists_filters_and_searches_upcoming_opens_in_chromium(
    tmp_path: Path,
    browser: Chromium,
    real_sites: RealSites,
    discord: FakeDiscord,
    daemons: list[DaemonProcess],
) -> None:
    discord.bucket_limit = 50
    port = free_port()
    d = DaemonProcess(write_config(tmp_path, page_config(tmp_path, real_sites, discord, port)), tmp_path)
    daemons.append(d)
    for site in SITES:
        d.wait_log(f"크롤링 완료: {site}", timeout=60)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    api = httpx.get(f"{base}/api/upcoming.json", headers=auth, timeout=10).json()
    by_site = {
        s: httpx.get(f"{base}/api/upcoming.json?site={s}", headers=auth, timeout=10).json()["count"]
        for s in SITES
    }
    listed = {n["url"] for n in api["notices"]}
    for site in SITES:  # every notice of the fixtures with an open time (all in the future) is listed
        items = expected(site)["items"]
        assert isinstance(items, list)
        for item in items:
            if item["open_at"]:
                assert item["url"] in listed, (site, item["id"])
    assert all(by_site.values()) and sum(by_site.values()) == api["count"]
    served = httpx.get(f"{base}/?token={TOKEN}", timeout=10).text
    assert TOKEN not in served and discord.webhooks  # no secret rendered into the page
    for webhook_id, token in discord.webhooks.items():
        assert token not in served, webhook_id

    async with Page.open(browser) as page:
        await page.phone()
        await page.goto(f"{base}/?token={TOKEN}")
        assert await page.eval("document.documentElement.lang") == "ko"
        shown = await visible(page)
        # one card per show: a show sold by several vendors once, under its first notice
        heads: dict[str, str] = {}
        for n in api["notices"]:
            heads.setdefault(n["show"], n["url"])
        assert len(shown) == len(heads) > 100 and len(heads) < api["count"]
        assert [r["href"] for r in shown] == list(heads.values())  # the server's order
        await one_show_two_vendors(page, api["notices"])
        assert await page.eval("document.documentElement.scrollWidth <= window.innerWidth")  # fits a phone
        await page.screenshot(tmp_path / "status-page.png")
        assert (tmp_path / "status-page.png").stat().st_size > 10_000

        await page.click('.chip[data-site="melon"]')
        melon = await visible(page)
        melon_shows = len({n["show"] for n in api["notices"] if n["site"] == "melon"})
        assert len(melon) == melon_shows <= by_site["melon"] < api["count"]
        assert all("melon" in r["site"].split() for r in melon)
        assert await page.eval("document.getElementById('count').textContent") == (
            f"{melon_shows}건 / 전체 {len(heads)}건"
        )

        await page.click('.chip[data-site=""]')  # 전체
        target = next(n for n in api["notices"] if n["site"] == "ticketlink")
        words = target["title"].split()[:2]
        query = "".join(words)  # typed without the space: same normalisation as route keywords
        await page.type("#q", query)
        found = await visible(page)
        assert target["url"] in {r["href"] for r in found}
        assert 1 <= len(found) < api["count"]
        for row in found:
            notice = next(n for n in api["notices"] if n["url"] == row["href"])
            haystack = normalise("\x00".join([notice["title"], notice["venue"] or "", notice["genre"] or ""]))
            assert normalise(query) in haystack, row

        await page.eval(
            "document.getElementById('q').value = ''; document.getElementById('q')"
            ".dispatchEvent(new Event('input'))"
        )
        await page.eval(
            "(function(){var s=document.getElementById('route');s.value='melon-only';"
            "s.dispatchEvent(new Event('change'));})()"
        )
        assert all("melon" in r["site"].split() for r in await visible(page))

        # the page refreshes itself (every 30 s): one refresh now keeps the filter and the links' token
        await page.eval("window.oldLive = document.getElementById('live'); window.ticketAlarmRefresh()")
        await page.wait_for("document.getElementById('live') !== window.oldLive", timeout=10)
        assert all("melon" in r["site"].split() for r in await visible(page))
        assert TOKEN in await page.eval("document.querySelector('a.keep-token').href")
        assert page.errors == [], page.errors
    code, seconds = d.terminate()
    assert code == 0 and seconds < 10
    assert TOKEN not in d.out() + d.err()


async def one_show_two_vendors(page: Page, notices: list[dict[str, Any]]) -> None:
    """Interpark's and Melon's notices of 2028 체리블라썸뮤직페스티벌 are one card with both vendors' sales
    and links; YES24's 2차 of 뮤지컬 이터니티 stays a card apart from Interpark's first round."""
    ids = {(n["site"], n["id"]): n for n in notices}
    cherry, eternity = ids[("interpark", "12504")], ids[("yes24", "17017")]
    assert ids[("melon", "11623")]["show"] == cherry["show"]
    assert eternity["show"] != ids[("interpark", "12036")]["show"]
    card: dict[str, Any] = await page.eval(
        "(function(){var li=Array.from(document.querySelectorAll('#days .notice')).find(function(li){"
        f"return li.querySelector('.title').href === {cherry['url']!r};}});"
        "return {site: li.dataset.site, vendors: Array.from(li.querySelectorAll('.vendor')).map(function(v){"
        "return [v.querySelector('.site').textContent, v.querySelector('time').textContent,"
        " v.querySelector('a').href];})};})()"
    )
    assert card["site"] == "interpark melon"
    assert [v[0] for v in card["vendors"]] == ["인터파크 티켓", "멜론티켓"]
    assert all(v[1] == "01/24 10:00" for v in card["vendors"])
    melon = ids[("melon", "11623")]
    assert card["vendors"][1][2] == (melon["booking_url"] or melon["url"])


def raw_get(port: int, target: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def events(ics: str) -> list[str]:
    return ics.split("BEGIN:VEVENT")[1:]


@pytest.mark.usefixtures("clean_env")  # tests/support/inprocess.py
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
        tmp_path, site, discord, web={"port": port, "token": FAN_TOKEN}, health={"failure_streak_warn": 2}
    )
    d = DaemonProcess(write_config(tmp_path, config), tmp_path, env=child_env(TICKET_ALARM_LANG="ko"))
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand", timeout=60)
    base = f"http://127.0.0.1:{port}"

    def get(path: str) -> httpx.Response:
        sep = "&" if "?" in path else "?"
        return httpx.get(f"{base}{path}{sep}token={FAN_TOKEN}", timeout=10)

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
    answer = raw_get(port, f"/calendar.ics?token={FAN_TOKEN}&q=".encode() + "세븐틴".encode())
    assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n", 1)[0]
    broken = raw_get(port, f"/calendar.ics?token={FAN_TOKEN}&q=%EC%84".encode())
    assert b" 400 " in broken.split(b"\r\n", 1)[0] and "URL 인코딩".encode() in broken
    d.wait_log("읽을 수 없는 요청을 400으로 거절함")

    async with Page.open(browser) as page:
        await page.phone(width=412, height=915)
        await page.goto(f"{base}/?token={FAN_TOKEN}")
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
        assert f"{host}?token={FAN_TOKEN}" in links  # all notices
        assert f"{host}?route=seventeen&token={FAN_TOKEN}" in links
        assert f"{host}?q={quote('세븐틴')}&token={FAN_TOKEN}" in links
        assert f"{host}?q=SEVENTEEN&token={FAN_TOKEN}" in links
        await page.eval(
            "(function(){var s=document.getElementById('alarm');s.value='60';"
            "s.dispatchEvent(new Event('change'));})()"
        )
        links = await page.eval(
            "Array.from(document.querySelectorAll('a.webcal')).map(function(a){return a.href;})"
        )
        assert f"{host}?route=seventeen&token={FAN_TOKEN}&alarm=60" in links
        await page.type("#q", "레베카")
        assert await page.eval("document.getElementById('sub-q').href") == (
            f"{host}?q={quote('레베카')}&token={FAN_TOKEN}&alarm=60"
        )

        # the site goes down: sweeps fail, and the page's first line says so (health's own rule)
        site.hook = lambda req: Response(500, b"down")
        d.wait_log("크롤링 실패: teststand", count=2, timeout=60)
        await page.goto(f"{base}/?token={FAN_TOKEN}")
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
    assert FAN_TOKEN not in d.out() + d.err()
