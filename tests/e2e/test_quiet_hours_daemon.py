"""Quiet hours and a daily digest through the real daemon process, its clock moved by
``TICKET_ALARM_CLOCK_FILE`` (the seconds added to the system time), against the stand-in site and the
strict stand-in Discord on 127.0.0.1."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, child_env, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.clock import CLOCK_ENV
from ticket_alarm.core.model import seoul

pytestmark = pytest.mark.e2e


def set_clock(path: Path, to: datetime) -> None:
    """The daemon's time is ``to`` from now on (it reads the file at every look at the clock)."""
    path.write_text(f"{to.timestamp() - time.time():.3f}", encoding="ascii")


def descriptions(discord: FakeDiscord) -> list[str]:
    return [e.get("description", "") for e in discord.embeds()]


def start(
    tmp_path: Path, site: FakeSite, webhook: str, clock: Path, tag: str, **route: object
) -> DaemonProcess:
    config = stand_config(tmp_path, site, None, routes=[{"name": "fans", "webhook_url": webhook, **route}])
    return DaemonProcess(
        write_config(tmp_path, config), tmp_path, tag, env=child_env(**{CLOCK_ENV: str(clock)})
    )


def test_a_quiet_window_holds_a_notice_passes_an_urgent_one_and_sends_one_digest_when_it_ends(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    clock = tmp_path / "clock"
    set_clock(clock, seoul(2027, 11, 30, 3))  # 03:00 KST; the stand-in's notices open 2027-12-01 20:00
    webhook = discord.add_webhook()
    d = start(tmp_path, site, webhook, clock, "quiet", quiet_hours={"from": "23:00", "to": "08:00"})
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    notices.add(2, prefix="신규")
    notices.add(1, prefix="긴급", open_at="2027-11-30T06:00:00")  # opens inside the window: at once
    d.wait_for(lambda: len(discord.messages) == 1, what="the urgent notice")
    assert [e["title"] for e in discord.embeds()] == ["긴급 3 티켓 오픈 안내"]
    d.wait_log("크롤링 완료: teststand", count=4)  # more cycles: the held ones stay held
    assert len(discord.messages) == 1

    set_clock(clock, seoul(2027, 11, 30, 8, 0, 1))
    d.wait_for(lambda: len(discord.messages) == 2, what="the digest at the window's end")
    digest = discord.messages[1].payload["embeds"]
    assert [e["title"] for e in digest] == ["조용한 시간 동안 온 알림"]
    assert "신규 1 티켓 오픈 안내" in digest[0]["description"]
    assert "신규 2 티켓 오픈 안내" in digest[0]["description"]
    d.wait_log("크롤링 완료: teststand", count=6)
    assert len(discord.messages) == 2
    assert d.terminate()[0] == 0


def test_a_daily_digest_goes_out_once_across_a_restart_at_its_hour(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    clock = tmp_path / "clock"
    set_clock(clock, seoul(2027, 11, 30, 8, 59))
    webhook = discord.add_webhook()
    notices.add(1, prefix="기존")  # in the history from the first crawl: one of the coming week's opens
    d = start(tmp_path, site, webhook, clock, "day1", digest={"every": "day", "at": "09:00"})
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    notices.add(1, prefix="신규")
    d.wait_log("크롤링 완료: teststand", count=3)
    assert discord.messages == []  # held for 09:00

    set_clock(clock, seoul(2027, 11, 30, 9, 0, 0))
    d.wait_for(lambda: len(discord.messages) == 1, what="the 09:00 digest")
    (embed,) = discord.messages[0].payload["embeds"]
    assert embed["title"] == "오늘의 티켓 오픈"
    assert "[새 공지 1건]" in embed["description"] and "신규 2 티켓 오픈 안내" in embed["description"]
    assert "12/1 (수)" in embed["description"] and "기존 1 티켓 오픈 안내" in embed["description"]
    assert d.terminate()[0] == 0

    set_clock(clock, seoul(2027, 11, 30, 9, 0, 20))  # restarted within the hour: never sent twice
    d2 = start(tmp_path, site, webhook, clock, "day2", digest={"every": "day", "at": "09:00"})
    daemons.append(d2)
    d2.wait_log("크롤링 완료: teststand", count=3)
    time.sleep(1)
    assert len(discord.messages) == 1
    assert d2.terminate()[0] == 0
