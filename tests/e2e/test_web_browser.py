"""The status page in a real browser: headless Chromium against the real daemon on the four stand-in sites.

The upcoming list shows the notices, the site filter (a real click) and the search (real typing)
narrow it, the self-refresh keeps the filter, the page fits a phone, a screenshot is saved under the
test's temp dir, and any JavaScript error in the console fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DaemonProcess, write_config
from tests.support.browser import Chromium, Page, find_chromium
from tests.support.discord_standin import FakeDiscord
from tests.support.real_sites import SITES, RealSites, expected
from tests.unit.test_metrics import free_port
from ticket_alarm.config.routes import normalise

pytestmark = pytest.mark.e2e
TOKEN = "page-token-0123456789abcdef"
CHROMIUM = find_chromium()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium (scripts/test.sh does it)")
    chromium = Chromium(CHROMIUM, tmp_path_factory.mktemp("chromium") / "profile")
    yield chromium
    chromium.close()


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
        assert len(shown) == api["count"] > 100
        assert [r["href"] for r in shown] == [n["url"] for n in api["notices"]]  # the server's order
        assert await page.eval("document.documentElement.scrollWidth <= window.innerWidth")  # fits a phone
        await page.screenshot(tmp_path / "status-page.png")
        assert (tmp_path / "status-page.png").stat().st_size > 10_000

        await page.click('.chip[data-site="melon"]')
        melon = await visible(page)
        assert len(melon) == by_site["melon"] < api["count"]
        assert {r["site"] for r in melon} == {"melon"}
        assert await page.eval("document.getElementById('count').textContent") == (
            f"{by_site['melon']}건 / 전체 {api['count']}건"
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
        assert {r["site"] for r in await visible(page)} == {"melon"}

        # the page refreshes itself (every 30 s): one refresh now keeps the filter and the links' token
        await page.eval("window.oldLive = document.getElementById('live'); window.ticketAlarmRefresh()")
        await page.wait_for("document.getElementById('live') !== window.oldLive", timeout=10)
        assert {r["site"] for r in await visible(page)} == {"melon"}
        assert TOKEN in await page.eval("document.querySelector('a.keep-token').href")
        assert page.errors == [], page.errors
    code, seconds = d.terminate()
    assert code == 0 and seconds < 10
    assert TOKEN not in d.out() + d.err()
