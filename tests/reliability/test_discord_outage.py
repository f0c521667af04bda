"""Scenario 1: Discord fails for 60 s while notices keep arriving — 503s, hanging requests, a 429 storm.

The three outages run side by side (three daemons, three stand-in Discords, three stand-in sites) so
the scenario costs one outage of wall time. Each must end with 0 lost and 0 duplicates, delivery
resuming within one backoff period after Discord recovers; a 429 never counts as a failed attempt and
is waited out (each request after a 429 comes no sooner than its ``retry_after``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, stand_config, write_config
from tests.reliability.conftest import (
    Report,
    assert_no_secrets,
    assert_no_traceback,
    db_file,
    delivered,
    duplicates,
    query,
    token_of,
    wait_until,
)
from tests.support.discord_standin import FakeDiscord
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.delivery.outbox import BACKOFF_BASE, BACKOFF_CAP

pytestmark = pytest.mark.e2e

OUTAGE = 60.0  # seconds Discord is down
ARRIVAL_EVERY = 3.0  # a new notice on each site this often during the outage
STORM = (5.0, 30.0, 12.0, 30.0, 8.0, 30.0)  # retry_after of successive 429s in the storm
JITTER = 1.25  # delivery.py multiplies each backoff by 1 + uniform(0, 0.25)
SLACK = 3.0  # crawl interval (1 s ± 1 s jitter) + scheduling
DISCORD_TIMEOUT = 5.0  # stand_config's http.timeout: one whole request, to the sites and to Discord


@dataclass
class Stand:
    mode: str
    tmp: Path
    discord: FakeDiscord
    site: FakeSite
    notices: TestStandNotices
    webhook: str = ""
    daemon: DaemonProcess | None = None
    produced: list[str] = field(default_factory=list)

    @property
    def proc(self) -> DaemonProcess:
        assert self.daemon is not None
        return self.daemon


def _stand(mode: str, tmp_path: Path) -> Stand:
    tmp = tmp_path / mode
    tmp.mkdir()
    notices = TestStandNotices()
    notices.add(3, prefix="기존")  # the first crawl fills history silently with these
    site = FakeSite()
    site.routes["/api/notices"] = notices.route
    stand = Stand(mode, tmp, FakeDiscord().start(), site.start(), notices)
    stand.webhook = stand.discord.add_webhook()
    config = write_config(tmp, stand_config(tmp, site, stand.webhook))
    stand.daemon = DaemonProcess(config, tmp, f"daemon-{mode}")
    return stand


def test_outage_503_timeouts_and_429_storm_lose_nothing_and_resume(tmp_path: Path, report: Report) -> None:
    started = time.monotonic()
    stands = [_stand(mode, tmp_path) for mode in ("503", "timeout", "429")]
    try:
        _run(stands, report, started)
    finally:
        for s in stands:
            if s.daemon is not None:
                s.daemon.cleanup()
            s.site.stop()
            s.discord.stop()


def _run(stands: list[Stand], report: Report, started: float) -> None:
    for s in stands:
        s.proc.wait_log("크롤링 완료: teststand")
    for s in stands:  # two alerts before the outage
        s.produced += s.notices.add(2, prefix="사전")
    wait_until(lambda: all(len(s.discord.embeds()) == 2 for s in stands), 30, "pre-outage alerts")

    # --- the outage ---------------------------------------------------------------------------------
    down = time.monotonic()
    by_mode = {s.mode: s for s in stands}
    by_mode["503"].discord.fail(503, seconds=OUTAGE)
    by_mode["timeout"].discord.fail(seconds=OUTAGE, hang=True)
    by_mode["429"].discord.storm_429(OUTAGE, STORM)
    recovered = down + OUTAGE
    for tick in range(int(OUTAGE / ARRIVAL_EVERY)):  # bounded: 20 arrivals
        for s in stands:
            s.produced += s.notices.add(1, prefix=f"장애중{tick:02d}")
        time.sleep(max(0.0, down + (tick + 1) * ARRIVAL_EVERY - time.monotonic()))
    time.sleep(max(0.0, recovered - time.monotonic()))

    # --- recovery: everything arrives once ----------------------------------------------------------
    for s in stands:
        s.proc.wait_for(
            lambda s=s: set(delivered(s.discord)) >= set(s.produced),
            timeout=BACKOFF_CAP * JITTER + DISCORD_TIMEOUT + 30,
            what=f"{s.mode}: every notice delivered after the outage",
        )
    for s in stands:  # two more cycles: nothing more may arrive
        seen = s.proc.out().count("크롤링 완료: teststand")
        s.proc.wait_log("크롤링 완료: teststand", count=seen + 2)

    for s in stands:
        counts = delivered(s.discord)
        lost = len(set(s.produced) - set(counts))
        dups = duplicates(counts)
        after = sorted(m.at for m in s.discord.messages if m.at >= recovered)
        resume = after[0] - recovered if after else float("inf")
        drain = after[-1] - recovered if after else float("inf")
        during = [status for at, status in s.discord.requests if down <= at < recovered]
        attempts = query(db_file(s.tmp / "data"), "SELECT max(attempts), count(*) FROM outbox")[0]
        figures = (
            f"resume {resume:.1f}s, drained {drain:.1f}s after recovery (BACKOFF_CAP {BACKOFF_CAP:.0f}s); "
            f"{len(during)} requests during the outage; max outbox attempts {attempts[0]}"
        )
        if s.mode == "429":
            figures += f"; 429s {len(s.discord.storm_log)}, retry_after {sorted(set(STORM))}"
        report.add(
            f"1 discord outage: {s.mode} for {OUTAGE:.0f}s",
            produced=len(s.produced),
            delivered=sum(counts[i] for i in s.produced),
            lost=lost,
            duplicates=dups,
            seconds=time.monotonic() - started,
            figures=figures,
        )
        assert lost == 0 and dups == 0, (s.mode, counts)
        assert not s.discord.rejections, s.discord.rejections
        bound = BACKOFF_CAP * JITTER + SLACK
        if s.mode == "timeout":
            bound += DISCORD_TIMEOUT  # a request sent just before recovery hangs until its timeout
        if s.mode == "429":
            bound = max(STORM) + SLACK  # the last 429's retry_after is the longest wait
        assert resume <= bound, f"{s.mode}: delivery resumed {resume:.1f}s after recovery (bound {bound}s)"
        assert "알림 전송 실패" in s.proc.out() or s.mode == "429"
        _check_mode(s, during, down, recovered, attempts[0])

    for s in stands:
        code, seconds = s.proc.terminate()
        assert code == 0 and seconds <= 10, (s.mode, code, seconds)
        outputs = {f"{s.mode} stdout": s.proc.out(), f"{s.mode} stderr": s.proc.err()}
        assert_no_traceback(outputs)
        assert_no_secrets(outputs, [token_of(s.webhook)])


def _check_mode(s: Stand, during: list[int], down: float, recovered: float, max_attempts: int) -> None:
    if s.mode == "503":
        assert set(during) <= {503}
        # backoff, not hammering: the lane waits 2, 4, 8, 16, 32 s between tries, whatever arrives meanwhile
        bound = 2 + math.log2(OUTAGE / BACKOFF_BASE)
        assert len(during) <= bound, f"{len(during)} requests in a {OUTAGE:.0f}-s outage (bound {bound:.0f})"
    elif s.mode == "timeout":
        # a hung request holds the lane for DISCORD_TIMEOUT seconds: the lane never piles requests up
        assert len(during) <= OUTAGE / DISCORD_TIMEOUT + 2, during
        assert "timeout" in s.proc.out()
    else:
        # a 429 is not a failure: no row's attempts went up, and nothing went out before retry_after
        assert max_attempts == 0, "a 429 was counted as a failed attempt"
        assert len(s.discord.storm_log) <= len(STORM), s.discord.storm_log
        stamps = [at for at, _status in s.discord.requests]
        for at, retry_after in s.discord.storm_log:
            later = [t for t in stamps if t > at]
            if later:
                assert later[0] - at >= retry_after - 0.05, (
                    f"request {later[0] - at:.2f}s after a 429 that said retry_after {retry_after}"
                )
        assert "알림 전송 실패" not in s.proc.out(), "a 429 must not be logged as a delivery failure"
