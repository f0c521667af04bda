"""The real daemon process against a stand-in site and a strict stand-in Discord on 127.0.0.1."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, run_cli, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.server import Response
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.store import open_store

pytestmark = pytest.mark.e2e


def _titles(discord: FakeDiscord) -> Counter[str]:
    return Counter(e["title"] for e in discord.embeds())


def test_new_notices_delivered_exactly_once_across_cycles_and_restart(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    webhook = discord.add_webhook()
    notices.add(5, prefix="기존")
    config = write_config(tmp_path, stand_config(tmp_path, site, webhook))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")  # first run fills history silently
    assert discord.embeds() == []
    notices.add(12, prefix="신규")
    d.wait_for(lambda: len(discord.embeds()) >= 12, what="12 embeds")
    d.wait_log("크롤링 완료: teststand", count=4)  # more cycles: nothing new may be sent
    assert len(discord.embeds()) == 12
    assert set(_titles(discord).values()) == {1}
    embed = discord.embeds()[0]
    assert embed["url"].startswith("https://tickets.teststand.example/notice/")  # public link, not base_url
    assert "<t:1827658800:F>" in embed["fields"][0]["value"]  # 2027-12-01 20:00 KST
    assert all(m.payload["allowed_mentions"] == {"parse": []} for m in discord.messages)
    assert "메모리 사용량" in d.out() and "알림 전송" in d.out()
    code, seconds = d.terminate()
    assert code == 0 and seconds < 10
    # restart: nothing is resent
    d2 = DaemonProcess(config, tmp_path, "daemon2")
    daemons.append(d2)
    d2.wait_log("크롤링 완료: teststand", count=2)
    assert len(discord.embeds()) == 12
    notices.add(1, prefix="재시작후")
    d2.wait_for(lambda: len(discord.embeds()) == 13, what="the 13th embed")
    assert d2.terminate()[0] == 0
    token = webhook.rsplit("/", 1)[1]
    for log in (d.out(), d.err(), d2.out(), d2.err()):
        assert token not in log


def test_first_run_with_notify_on_first_run(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    webhook = discord.add_webhook()
    notices.add(3)
    config = write_config(tmp_path, stand_config(tmp_path, site, webhook, notify_on_first_run=True))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_for(lambda: len(discord.embeds()) == 3, what="3 embeds on the first run")
    assert d.terminate()[0] == 0


def test_discord_outage_then_recovery_delivers_everything_once(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    webhook = discord.add_webhook()
    config = write_config(tmp_path, stand_config(tmp_path, site, webhook))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    discord.fail(503, count=4)
    notices.add(15)
    d.wait_for(lambda: len(discord.embeds()) == 15, timeout=60, what="15 embeds after the outage")
    assert sum(1 for _, status in discord.requests if status == 503) == 4
    assert "알림 전송 실패" in d.out()
    d.wait_log("크롤링 완료: teststand", count=6)
    assert len(discord.embeds()) == 15 and set(_titles(discord).values()) == {1}
    assert d.terminate()[0] == 0


def test_burst_of_200_respects_the_bucket(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    webhook = discord.add_webhook()
    config = write_config(
        tmp_path,
        stand_config(
            tmp_path, site, webhook, sites={"teststand": {"base_url": site.base_url, "page_cap": 40}}
        ),
    )
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    notices.add(200)
    d.wait_for(lambda: len(discord.embeds()) == 200, timeout=60, what="200 embeds")
    assert discord.count_429 <= 1
    assert len(discord.messages) == 20  # 10 embeds a message
    assert set(_titles(discord).values()) == {1}
    assert d.terminate()[0] == 0


def test_kill_9_during_delivery_loses_nothing(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    discord.bucket_limit, discord.bucket_window = 1, 1.0  # slow delivery: one message a second
    webhook = discord.add_webhook()
    config = write_config(tmp_path, stand_config(tmp_path, site, webhook))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    ids = notices.add(60)
    d.wait_for(lambda: len(discord.messages) >= 2, what="delivery under way")
    d.kill9()
    delivered_before = len(discord.embeds())
    assert delivered_before < 60
    d2 = DaemonProcess(config, tmp_path, "daemon2")
    daemons.append(d2)
    d2.wait_for(
        lambda: {e["url"].rsplit("/", 1)[1] for e in discord.embeds()} >= set(ids),
        timeout=90,
        what="every notice delivered after the restart",
    )
    counts = Counter(e["url"] for e in discord.embeds())
    duplicates = sum(c - 1 for c in counts.values())
    assert duplicates <= 10  # at most the one batch whose request the kill interrupted
    assert d2.terminate()[0] == 0
    store = open_store(tmp_path / "data", readonly=True)
    try:
        assert asyncio.run(store.check()) and asyncio.run(store.outbox_stats()).pending == 0
    finally:
        asyncio.run(store.close())


def test_second_daemon_refused_and_sigterm_is_clean(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, daemons: list[DaemonProcess]
) -> None:
    notices.add(2)
    config = write_config(tmp_path, stand_config(tmp_path, site, None))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    second = run_cli("run", "--config", str(config), cwd=tmp_path, timeout=30)
    assert second.returncode == 2
    assert "another ticket-alarm process" in second.stderr and str(d.proc.pid) in second.stderr
    once = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=30)
    assert once.returncode == 2 and "another ticket-alarm process" in once.stderr
    started = time.monotonic()
    code, _ = d.terminate()
    assert code == 0 and time.monotonic() - started < 10
    assert "shutting down" in d.out()


def test_dry_run_prints_alerts_without_webhook(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, daemons: list[DaemonProcess]
) -> None:
    notices.add(2, prefix="기존")
    config = write_config(tmp_path, stand_config(tmp_path, site, None))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    notices.add(1, prefix="드라이런")
    d.wait_log("[DRY RUN]")
    d.wait_log("크롤링 완료: teststand", count=3)
    assert d.out().count("[DRY RUN]") == 1
    assert "드라이런 3 티켓 오픈 안내" in d.out()
    assert d.terminate()[0] == 0


def test_a_broken_route_never_delays_another(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    good = discord.add_webhook("323456789012345678")
    gone = discord.add_webhook("423456789012345678")
    discord.delete_webhook("423456789012345678")
    routes = [
        {"name": "gone", "webhook_url": gone},
        {"name": "good", "webhook_url": good, "include": ["신규"]},
    ]
    config = write_config(tmp_path, stand_config(tmp_path, site, None, routes=routes))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    notices.add(3, prefix="신규")
    notices.add(2, prefix="기타")
    d.wait_for(lambda: len(discord.embeds("323456789012345678")) == 3, what="the good route's 3 embeds")
    d.wait_log("크롤링 완료: teststand", count=4)
    posts_to_gone = [r for r in discord.requests if r[1] == 404]
    assert len(posts_to_gone) == 1, "a deleted webhook is tried once, then left alone"
    assert d.err().count("webhook was deleted") == 1
    store = open_store(tmp_path / "data", readonly=True)
    try:
        kept = len(asyncio.run(store.outbox_list(status="pending", route="gone")))
    finally:
        asyncio.run(store.close())
    assert kept == 5, "the broken route's alerts are kept for when its URL is fixed"
    assert d.terminate()[0] == 0
    token = gone.rsplit("/", 1)[1]
    assert token not in d.out() + d.err()


def test_sigterm_during_a_hung_crawl_exits_cleanly_without_tracebacks(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, daemons: list[DaemonProcess]
) -> None:
    notices.add(2)
    config = write_config(tmp_path, stand_config(tmp_path, site, None, http={"timeout": 30, "retries": 0}))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    before = len(site.log)
    site.fail("/api/notices", Response(hang=True))  # the next crawl waits on a site that never answers
    d.wait_for(lambda: len(site.log) > before, what="the hung crawl to start")
    time.sleep(0.2)
    d.proc.send_signal(signal.SIGTERM)
    d.proc.send_signal(signal.SIGTERM)  # the same stop delivered twice (process and group): not "hurry"
    started = time.monotonic()
    assert d.proc.wait(timeout=15) == 0
    assert time.monotonic() - started < 10
    assert "cancelled at shutdown" in d.err()
    assert "Traceback" not in d.out() + d.err()
    assert "second signal" not in d.out() + d.err()
