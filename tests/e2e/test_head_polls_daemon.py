"""Head polls through the real daemon process, the real CLI and the strict Discord stand-in."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import ROOT, DaemonProcess, child_env, run_cli, write_config
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


def _change_config(tmp_path: Path, webhook: str, live: LiveSites, interval: float, head: float) -> Path:
    return write_config(
        tmp_path,
        {
            "interval": interval,
            "head_interval": head,
            "change_confirm_cycles": 1,  # the default: a change is held until a re-read shows it again
            "data_dir": str(tmp_path / "data"),
            "discord_webhook_url": webhook,
            "sites": {
                "interpark": {"enabled": False},
                "teststand": {"enabled": False},
                "yes24": {"enabled": False},
                "melon": {"enabled": False},
                "ticketlink": {"base_url": live.base_url},
            },
            "http": {"min_request_interval": 0.1, "retries": 0, "timeout": 5},
        },
    )


def _moved(live: LiveSites, notice_id: str) -> float:
    """The notice's open date moves a week on the stand-in; when (time.monotonic())."""
    notice = next(n for n in live.notices["ticketlink"] if str(n.id) == notice_id)
    live.change("ticketlink", notice_id, open_at=notice.open_at + timedelta(days=7))
    return time.monotonic()


def test_a_moved_open_date_on_the_head_page_is_announced_within_two_head_polls(
    tmp_path: Path, discord: FakeDiscord, live: LiveSites, daemons: list[DaemonProcess]
) -> None:
    """Issue 19 item 4: a head poll holds the change, the next head poll (the re-read of the page
    that showed it) confirms it: 2 × head_interval + 30 s, not another sweep (an hour here)."""
    webhook = discord.add_webhook()
    ids = live.fill("ticketlink", 25)
    head_interval = 1.0
    config = _change_config(tmp_path, webhook, live, interval=3600, head=head_interval)
    d = DaemonProcess(config, tmp_path, env=child_env(TICKET_ALARM_LANG="ko"))
    daemons.append(d)
    d.wait_log("첫 실행", timeout=60)
    d.wait_for(lambda: live.count("ticketlink", "head") >= 1, timeout=20, what="a head poll")
    sweeps = live.count("ticketlink", "sweep")
    moved_at = _moved(live, ids[-1])  # the newest notice: on the head page
    bound = 2 * head_interval + 30
    d.wait_for(lambda: len(discord.embeds()) >= 1, timeout=bound, what="the [변경] alert within the bound")
    latency = time.monotonic() - moved_at
    assert latency <= bound
    (embed,) = discord.embeds()
    assert embed["title"].startswith("[변경] ") and embed["url"].endswith(f"/notice/{ids[-1]}")
    assert any(f["name"] == "티켓 오픈" and "→" in f["value"] for f in embed["fields"]), embed["fields"]
    assert live.count("ticketlink", "sweep") == sweeps  # no sweep was needed
    out = d.out()
    assert "변경 확인 대기" in out  # the log says a change waits while it waits
    assert out.index("변경 확인 대기") < out.index("변경: ticketlink 1건 확인")
    code, _ = d.terminate()
    assert code == 0
    assert len(discord.embeds()) == 1  # announced once


def test_a_moved_open_date_off_the_head_page_is_confirmed_by_a_prompt_re_read(
    tmp_path: Path, discord: FakeDiscord, live: LiveSites, daemons: list[DaemonProcess]
) -> None:
    """The notice is not on the head page: the sweep that meets the change holds it and the list is
    read again shortly after (not a whole interval later): within interval (+ its jitter) + 60 s."""
    webhook = discord.add_webhook()
    ids = live.fill("ticketlink", 25)
    interval = 80.0  # long enough that waiting for a second sweep (before the fix) misses the bound
    config = _change_config(tmp_path, webhook, live, interval=interval, head=1)
    d = DaemonProcess(config, tmp_path, env=child_env(TICKET_ALARM_LANG="ko"))
    daemons.append(d)
    d.wait_log("첫 실행", timeout=60)
    moved_at = _moved(live, ids[0])  # the oldest notice: page 2 in registration order
    bound = interval + int(interval * 0.1) + 60  # the next sweep (with its jitter) + 60 s
    d.wait_for(lambda: len(discord.embeds()) >= 1, timeout=bound, what="the [변경] alert within the bound")
    latency = time.monotonic() - moved_at
    assert latency <= bound
    (embed,) = discord.embeds()
    assert embed["title"].startswith("[변경] ") and embed["url"].endswith(f"/notice/{ids[0]}")
    out = d.out()
    assert "변경 확인 대기 1건" in out  # the sweep's 크롤링 완료 line counts the change that waits
    assert "초 뒤 목록을 다시 읽어 확인합니다" in out
    code, _ = d.terminate()
    assert code == 0
    assert len(discord.embeds()) == 1
