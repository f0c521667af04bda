"""max_rss_mb: the real daemon finishes its cycle, logs why, and exits 3 for supervisor to restart it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import DaemonProcess, stand_config, write_config
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.store import open_store


def test_over_the_ceiling_the_daemon_finishes_the_cycle_and_exits_3(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, daemons: list[DaemonProcess]
) -> None:
    notices.add(5)
    config = write_config(tmp_path, stand_config(tmp_path, site, None, max_rss_mb=1))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    code = d.proc.wait(timeout=30)
    assert code == 3, d.out() + d.err()
    out, err = d.out(), d.err()
    # the cycle was finished and saved before the exit
    assert "크롤링 완료: teststand" in out and "메모리 사용량" in out
    assert out.index("크롤링 완료: teststand") < out.index("stopped:")
    store = open_store(tmp_path / "data", readonly=True)
    try:
        assert asyncio.run(store.history_count()) == 5
    finally:
        asyncio.run(store.close())
    assert (
        "[ERROR] 메모리 사용량" in err and "exceeds max_rss_mb 1 MB" in err and "exiting with code 3" in err
    )
    assert out.count("크롤링 완료") == 1  # no second cycle was started


def test_under_the_ceiling_the_daemon_keeps_running(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, daemons: list[DaemonProcess]
) -> None:
    notices.add(1)
    config = write_config(tmp_path, stand_config(tmp_path, site, None, max_rss_mb=4096))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("메모리 사용량", count=3)
    assert d.proc.poll() is None
    assert "max_rss_mb" not in d.err()
    assert d.terminate()[0] == 0
