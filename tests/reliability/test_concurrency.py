"""Scenario 6: concurrency — two daemons on one data dir, ``once`` beside a running daemon, SIGTERM while
a Discord request is in flight (slow and hanging).

The README promises: a second ``run`` and a ``once`` beside the daemon both refuse with exit 2 naming
the daemon's pid; SIGTERM lets the requests in flight finish and exits 0 within 10 s, the outbox
intact, so the next start delivers the rest exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, run_cli, stand_config, write_config
from tests.reliability.conftest import (
    Report,
    assert_no_secrets,
    assert_no_traceback,
    db_file,
    delivered,
    duplicates,
    integrity,
    query,
    token_of,
)
from tests.support.discord_standin import FakeDiscord
from tests.support.site_standin import FakeSite, TestStandNotices

pytestmark = pytest.mark.e2e

SHUTDOWN_BOUND = 10.0  # README: graceful, exits within 10 s


def test_second_daemon_and_once_are_refused_while_one_runs(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, discord: FakeDiscord, report: Report
) -> None:
    started = time.monotonic()
    webhook = discord.add_webhook()
    notices.add(3, prefix="기존")
    config = write_config(tmp_path, stand_config(tmp_path, site, webhook))
    d = DaemonProcess(config, tmp_path)
    try:
        d.wait_log("크롤링 완료: teststand")
        outputs = {}
        for command in ("run", "once"):
            result = run_cli(command, "--config", str(config), cwd=tmp_path, timeout=30)
            outputs[command] = result.stdout + result.stderr
            assert result.returncode == 2, (command, result.returncode, result.stderr[-1000:])
            assert "another ticket-alarm process" in result.stderr and f"pid {d.proc.pid}" in result.stderr
            assert "크롤링" not in result.stdout, f"{command} crawled beside the daemon"
        ids = notices.add(4, prefix="신규")
        d.wait_for(lambda: set(delivered(discord)) >= set(ids), 30, "the running daemon still delivers")
        code, seconds = d.terminate()
        assert code == 0 and seconds <= SHUTDOWN_BOUND
        after = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)  # the lock was released
        outputs["once after"] = after.stdout + after.stderr
        assert after.returncode == 0, after.stderr[-2000:]
    finally:
        d.cleanup()
    counts = delivered(discord)
    report.add(
        "6 second daemon / once beside the daemon",
        produced=len(ids),
        delivered=sum(counts.values()),
        lost=len(set(ids) - set(counts)),
        duplicates=duplicates(counts),
        seconds=time.monotonic() - started,
        figures="second run: exit 2, once: exit 2, both name the pid; once after SIGTERM: exit 0",
    )
    assert counts == {i: 1 for i in ids}
    outputs |= {"daemon": d.out() + d.err()}
    assert_no_traceback(outputs)
    assert_no_secrets(outputs, [token_of(webhook)])


@pytest.mark.parametrize("mode", ["slow", "hang"])
def test_sigterm_during_delivery_is_clean_and_loses_nothing(
    mode: str, tmp_path: Path, site: FakeSite, notices: TestStandNotices, report: Report
) -> None:
    """slow: each accepted message is answered after 3 s; hang: Discord never answers (a 15-s timeout)."""
    started = time.monotonic()
    discord = FakeDiscord(bucket_limit=50, bucket_window=1.0, delay=3.0 if mode == "slow" else 0.0).start()
    try:
        webhook = discord.add_webhook()
        notices.add(3, prefix="기존")
        config = write_config(tmp_path, stand_config(tmp_path, site, webhook))
        d = DaemonProcess(config, tmp_path)
        d.wait_log("크롤링 완료: teststand")
        if mode == "hang":
            discord.fail(hang=True, count=1)
        ids = notices.add(25, prefix="종료중")
        if mode == "slow":
            d.wait_for(lambda: bool(discord.in_flight()), 30, "a message in flight")
        else:
            d.wait_for(lambda: len(discord.requests) >= 1, 30, "a hanging request")
        in_flight = sum(len(m.payload["embeds"]) for m in discord.in_flight())
        code, seconds = d.terminate()
        outputs = {"daemon": d.out() + d.err()}
        db = db_file(tmp_path / "data")
        assert integrity(db) == "ok"
        statuses = dict(query(db, "SELECT status, count(*) FROM outbox WHERE kind='new' GROUP BY status"))
        assert sum(statuses.values()) == len(ids), statuses  # every alert is in the outbox, none lost
        accepted = sum(delivered(discord).values())
        assert statuses.get("sent", 0) == accepted, (statuses, accepted)  # what Discord has is marked sent
        d2 = DaemonProcess(config, tmp_path, "daemon2")
        try:
            d2.wait_for(lambda: set(delivered(discord)) >= set(ids), 60, "the rest after the restart")
            d2.wait_log("크롤링 완료: teststand", count=2)
            code2, _ = d2.terminate()
        finally:
            d2.cleanup()
        outputs["daemon2"] = d2.out() + d2.err()
    finally:
        discord.stop()
    counts = delivered(discord)
    report.add(
        f"6 SIGTERM during delivery ({mode})",
        produced=len(ids),
        delivered=sum(counts[i] for i in ids),
        lost=len(set(ids) - set(counts)),
        duplicates=duplicates(counts),
        seconds=time.monotonic() - started,
        figures=(
            f"exit {code} in {seconds:.1f}s (bound {SHUTDOWN_BOUND:.0f}s); {in_flight} alerts in flight at "
            f"SIGTERM; outbox at stop: {statuses}"
        ),
    )
    assert code == 0 and seconds <= SHUTDOWN_BOUND, (code, seconds, outputs["daemon"][-2000:])
    assert code2 == 0
    assert set(counts) >= set(ids) and duplicates(counts) == 0, counts
    assert_no_traceback(outputs)
    assert_no_secrets(outputs, [token_of(webhook)])
