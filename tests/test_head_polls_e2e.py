"""Head polls through the real daemon process, the real CLI and the strict Discord stand-in."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, DaemonProcess, run_cli, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.live_sites import LiveSites
from tests.support.real_sites import SITES, RealSites

pytestmark = pytest.mark.e2e
HEAD_SITES = ("yes24", "melon", "ticketlink")


@pytest.fixture
def live() -> Iterator[LiveSites]:
    sites = LiveSites(clock=time.monotonic).start()
    yield sites
    sites.stop()


def test_daemon_alerts_new_notices_by_head_poll_within_seconds_without_a_sweep(
    tmp_path: Path, discord: FakeDiscord, live: LiveSites, daemons: list[DaemonProcess]
) -> None:
    webhook = discord.add_webhook()
    for site in HEAD_SITES:
        live.fill(site, 25)
    config = write_config(
        tmp_path,
        {
            "interval": 3600,  # one sweep in this test: whatever arrives later comes by head poll
            "head_interval": 1,
            "data_dir": str(tmp_path / "data"),
            "discord_webhook_url": webhook,
            "sites": {
                "interpark": {"enabled": False},
                "teststand": {"enabled": False},
                **{site: {"base_url": live.base_url} for site in HEAD_SITES},
            },
            "http": {"min_request_interval": 0.1, "retries": 0, "timeout": 5},
        },
    )
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("첫 실행", count=3, timeout=60)  # the first sweeps fill history silently
    # head polls run meanwhile: nothing is new, nothing is sent
    d.wait_for(lambda: all(live.count(s, "head") >= 1 for s in HEAD_SITES), timeout=20, what="head polls")
    assert discord.embeds() == []
    sweeps = {site: live.count(site, "sweep") for site in HEAD_SITES}
    posted = {site: live.post(site) for site in HEAD_SITES}
    d.wait_for(lambda: len(discord.embeds()) >= 3, timeout=30, what="three head-poll alerts")
    arrived = time.monotonic()
    embeds = discord.embeds()
    assert len(embeds) == 3
    assert {e["url"].rsplit("=", 1)[-1].rsplit("/", 1)[-1] for e in embeds} == set(posted.values())
    latest = max(live.appeared[(site, notice)] for site, notice in posted.items())
    assert arrived - latest < 15  # head_interval 1 s: seconds, not a sweep interval
    assert {site: live.count(site, "sweep") for site in HEAD_SITES} == sweeps  # no sweep did it
    assert all(live.count(site, "head") >= 2 for site in HEAD_SITES)
    d.wait_log("새 공지: ", count=3)

    health = run_cli("health", "--json", "--config", str(config), cwd=tmp_path)
    checks = {c["name"]: c for c in json.loads(health.stdout)["checks"]}
    for site in HEAD_SITES:
        detail = checks[f"site:{site}"]["detail"]
        assert "last sweep" in detail and "last head poll" in detail, detail
    code, _ = d.terminate()
    assert code == 0
    assert len(discord.embeds()) == 3  # each exactly once


def test_the_example_config_copied_as_the_readme_says_alerts_a_new_notice_by_head_poll(
    tmp_path: Path, discord: FakeDiscord, live: LiveSites, daemons: list[DaemonProcess]
) -> None:
    """`cp config.example.json config.json`: its sites' `"head_interval": null` takes the top-level
    value (head polls on), not "off" — a new notice comes by head poll, not 10 minutes later."""
    config = json.loads((ROOT / "config.example.json").read_text(encoding="utf-8"))
    assert all(site["head_interval"] is None for site in config["sites"].values())
    # what this test needs: the stand-ins, and head polls every 2 s rather than 30 (not paced)
    config["discord_webhook_url"] = discord.add_webhook()
    config["head_interval"] = 2
    for site in HEAD_SITES:
        config["sites"][site]["base_url"] = live.base_url
        live.fill(site, 25)
    config["sites"]["interpark"]["enabled"] = False  # no stand-in for it here
    config["sites"]["teststand"] = {"enabled": False}  # the test plugin
    path = write_config(tmp_path, config)
    checked = run_cli("check-config", "--config", str(path), cwd=tmp_path)
    assert checked.returncode == 0 and "head polls off" not in checked.stderr, checked.stderr
    d = DaemonProcess(path, tmp_path)
    daemons.append(d)
    d.wait_log("첫 실행", count=3, timeout=60)
    assert "head polls off" not in d.out()
    d.wait_for(lambda: live.count("yes24", "head") >= 1, timeout=30, what="a head poll")
    sweeps = live.count("yes24", "sweep")
    posted = live.post("yes24")
    d.wait_for(lambda: len(discord.embeds()) >= 1, timeout=30, what="the head-poll alert")
    assert [e["url"].rsplit("=", 1)[-1].rsplit("/", 1)[-1] for e in discord.embeds()] == [posted]
    assert live.count("yes24", "sweep") == sweeps  # interval 600: no sweep found it
    d.wait_log("새 공지: ")
    assert d.terminate()[0] == 0


def test_head_polls_turned_off_are_said_at_start_and_by_check_config(
    tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    config = write_config(
        tmp_path,
        {
            "data_dir": str(tmp_path / "data"),
            "interval": 3600,
            "sites": {
                "interpark": {"enabled": False},
                "teststand": {"enabled": False},
                "melon": {"enabled": False},
                "ticketlink": {"head_interval": 0, "base_url": "http://127.0.0.1:9"},
                "yes24": {"head_interval": False, "base_url": "http://127.0.0.1:9"},
            },
            "http": {"retries": 0, "timeout": 2},
        },
    )
    checked = run_cli("check-config", "--config", str(config), cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    said = [line for line in checked.stderr.splitlines() if "[WARNING] head polls off: " in line]
    assert len(said) == 1 and "yes24" in said[0] and "ticketlink" in said[0] and "melon" not in said[0], said
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("head polls off: ", timeout=30)
    said = [line for line in d.out().splitlines() if "head polls off: " in line]
    assert len(said) == 1 and "yes24" in said[0] and "ticketlink" in said[0], said
    assert d.terminate()[0] == 0


def test_test_crawlers_json_reports_the_head_page_apart_from_the_sweep(tmp_path: Path) -> None:
    sites = RealSites().start()
    try:
        config = write_config(
            tmp_path,
            {
                "data_dir": str(tmp_path / "data"),
                "sites": {
                    "teststand": {"enabled": False},
                    **{name: {"base_url": sites.base_url} for name in SITES},
                },
                "http": {"min_request_interval": 0, "retries": 0, "timeout": 5},
            },
        )
        result = run_cli("test-crawlers", "--json", "--config", str(config), cwd=tmp_path)
    finally:
        sites.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    doc = {s["site"]: s for s in json.loads(result.stdout)["sites"]}
    assert doc["interpark"]["head"] is None  # the old API has no registration order: swept only
    for site, newest in (("yes24", 20), ("melon", 10), ("ticketlink", 15)):
        head = doc[site]["head"]
        assert head["status"] == "ok" and head["http_status"] == 200 and head["notices"] == newest, head
        assert head["newest"] and doc[site]["pages"] > 1  # the sweep read the whole list besides
