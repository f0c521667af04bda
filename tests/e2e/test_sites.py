"""All four real crawlers through the real daemon, against a stand-in serving the real paths."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DaemonProcess, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.real_sites import SITES, RealSites, expected

pytestmark = pytest.mark.e2e
DISPLAY = {"interpark": "인터파크 티켓", "yes24": "YES24 티켓", "melon": "멜론티켓", "ticketlink": "티켓링크"}


@pytest.fixture
def real_sites() -> Iterator[RealSites]:
    sites = RealSites().start()
    yield sites
    sites.stop()


def four_site_config(tmp_path: Path, sites: RealSites, webhook: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "interval": 4,
        "data_dir": str(tmp_path / "data"),
        "notify_on_first_run": True,
        "discord_webhook_url": webhook,
        "sites": {name: {"base_url": sites.base_url} for name in SITES},
        "http": {"min_request_interval": 0, "retries": 0, "timeout": 5},
    }
    config.update(extra)
    return config


def _unix(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def test_four_sites_at_once_deliver_every_notice_with_links_and_times(
    tmp_path: Path, discord: FakeDiscord, real_sites: RealSites, daemons: list[DaemonProcess]
) -> None:
    discord.bucket_limit = 50  # this test is about content, not rate limits
    webhook = discord.add_webhook()
    want = {site: expected(site) for site in SITES}
    total = sum(len(w["items"]) for w in want.values())  # type: ignore[arg-type]
    config = write_config(tmp_path, four_site_config(tmp_path, real_sites, webhook))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    # as shown: a later vendor's notice of a show already posted is one more embed of its message
    d.wait_for(lambda: len(discord.shown_embeds()) >= total, timeout=90, what=f"{total} embeds")
    for site in SITES:
        d.wait_log(f"크롤링 완료: {site}", count=2)  # a second cycle of every site: nothing more
    embeds = discord.shown_embeds()
    assert len(embeds) == total
    assert not real_sites.unmatched, real_sites.unmatched
    by_url = {e["url"]: e for e in embeds}
    assert len(by_url) == total  # one embed per notice
    for site in SITES:
        items: list[dict[str, Any]] = want[site]["items"]  # type: ignore[assignment]
        for item in items:
            embed = by_url[item["url"]]
            assert embed["author"]["name"] == DISPLAY[site]
            # presales come first, each under its own name; then the open: 일반 예매 (or 티켓 오픈)
            names = [f["name"] for f in embed["fields"]]
            general = "일반 예매" if item.get("presales") else "티켓 오픈"
            assert general in names, (site, item["id"], names)
            opening = embed["fields"][names.index(general)]["value"]
            assert names.index(general) == len(item.get("presales") or ()), (site, item["id"], names)
            if item["open_at"]:
                assert f"<t:{_unix(item['open_at'])}:F>" in opening, (site, item["id"], opening)
            else:
                assert "추후 공지" in opening, (site, item["id"], opening)
            assert item["title"] in embed["title"]
        for bad in want[site].get("must_not_alert_ids", []):  # type: ignore[union-attr]
            assert not any(re.search(rf"\b{bad}$", url) for url in by_url), (site, bad)
    assert Counter(e["author"]["name"] for e in embeds) == {
        DISPLAY[s]: len(want[s]["items"])
        for s in SITES  # type: ignore[arg-type]
    }
    # melon rows whose date needs the detail page were completed from it
    detail_requests = real_sites.requests_to("/csoon/detail.htm")
    assert {r.q("csoonId") for r in detail_requests} >= {"11376", "11475"}
    assert d.terminate()[0] == 0


def test_page_cap_stops_paging_with_a_warning(
    tmp_path: Path, discord: FakeDiscord, real_sites: RealSites, daemons: list[DaemonProcess]
) -> None:
    webhook = discord.add_webhook()
    config_data = four_site_config(tmp_path, real_sites, webhook, notify_on_first_run=False)
    config_data["sites"] = {
        name: {"enabled": name == "yes24", "base_url": real_sites.base_url, "page_cap": 3} for name in SITES
    }
    d = DaemonProcess(write_config(tmp_path, config_data), tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: yes24")
    assert "stopped at the page cap (3 pages)" in d.err()
    pages = [r for r in real_sites.requests_to("/New/Notice/Ajax/axList.aspx")]
    assert len(pages) == 3
    assert d.terminate()[0] == 0
