"""Scenario 14 (issue 20, items 1, 4, 5): the store goes away under the daemon, and a replica freezes.

- a full disk right after Discord accepted a batch, then a head poll's store error: the daemon must not
  stop (and be restarted to post the batch again) while the lane owes the batch's write;
- a replica frozen (SIGSTOP) past its claim while it holds a batch: the other replica posts the batch,
  and the frozen one, on SIGCONT, must post none of it (the fence before each post);
- PostgreSQL stopped under the real supervisord with the shipped replica kit
  (deploy/postgres/ticket-alarm-replicas.conf) for longer than every back-off and lease involved: both
  replicas keep running, a replica restarted during the outage starts, and every notice of the outage
  and after it is delivered once. The one long test (OUTAGE below says why 75 s stands for 5 minutes).

All loopback: the stand-in site, the strict stand-in Discord, a throwaway PostgreSQL (initdb + pg_ctl).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import DaemonProcess, child_env, run_cli, stand_config, write_config
from tests.reliability.conftest import (
    Report,
    assert_no_secrets,
    assert_no_traceback,
    delivered,
    duplicates,
    token_of,
    wait_until,
)
from tests.support.deploy import Supervisor
from tests.support.discord_standin import FakeDiscord
from tests.support.postgres import PASSWORD, PostgresServer, missing_reason
from tests.support.site_standin import FakeSite, TestStandNotices

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "deploy" / "postgres" / "ticket-alarm-replicas.conf"
# Seconds PostgreSQL is down. Issue 20 asked for 5 minutes; what the test asserts (both replicas RUNNING,
# replica-a never restarted, one "cannot be reached" line per process, nothing lost or posted twice) does
# not depend on the length once the outage outlasts everything that could still change: the daemon's
# store back-off (1, 2, 4, 8, 16 s, then 30 s at its cap: 31 s to reach the cap, 61 s to wait there
# once), supervisord's give-up window (startretries=5 with startsecs=5: what made both replicas FATAL
# before issue 20 came within ~30 s), the replica lease (3 s here) and an outbox claim (30 s). 75 s
# outlasts all of them; after that the daemon only repeats the same 30-s wait. STORE_OUTAGE_SECONDS=300
# runs the 5 minutes.
OUTAGE = float(os.environ.get("STORE_OUTAGE_SECONDS", "75"))


def pg_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        return list(conn.execute(sql).fetchall())  # type: ignore[call-overload]


class Piped:
    """The real daemon with its output read through pipes (a file size limit set on it cannot stop its
    logs, which are what the test reads)."""

    def __init__(self, config: Path, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ticket_alarm", "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(),
            cwd=str(cwd),
        )
        self.chunks: dict[str, list[str]] = {"out": [], "err": []}
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.threads = [self._pump(self.proc.stdout, "out"), self._pump(self.proc.stderr, "err")]

    def _pump(self, stream: IO[bytes], key: str) -> threading.Thread:
        def run() -> None:
            for line in iter(stream.readline, b""):
                self.chunks[key].append(line.decode("utf-8", errors="replace"))

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def text(self) -> str:
        return "".join(self.chunks["out"]) + "".join(self.chunks["err"])

    def wait_exit(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        for thread in self.threads:
            thread.join(timeout=5)
        return code

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def test_full_disk_after_an_accepted_post_posts_it_once(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, report: Report
) -> None:
    """Discord accepts a batch; the disk is full before the daemon writes it down; a head poll then fails
    on the store. Before issue 20 the daemon stopped (exit 2) and its restart posted the 10 again."""
    started = time.monotonic()
    discord = FakeDiscord(bucket_limit=100, bucket_window=1.0, delay=1.5).start()
    daemon: Piped | None = None
    try:
        webhook = discord.add_webhook()
        notices.add(5, prefix="기존")
        config = write_config(tmp_path, stand_config(tmp_path, site, webhook, head_interval=1))
        first = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
        assert first.returncode == 0, first.stderr[-2000:]
        before = set(delivered(discord))
        daemon = Piped(config, tmp_path)
        wait_until(lambda: "크롤링 완료: teststand" in daemon.text(), 30, "the first crawl")
        new_ids = notices.add(10, prefix="디스크 가득")
        wait_until(lambda: discord.in_flight(), 30, "a batch accepted by Discord, its answer held back")
        # the disk is full now (every write of the daemon fails with EFBIG), before the answer arrives
        hard = resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE)[1]  # the soft limit only: it
        resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE, (0, hard))  # can be raised back
        # the owed write fails, then head polls (every second) fail on the store too
        wait_until(lambda: "store error" in daemon.text(), 30, "a store error after the accepted post")
        time.sleep(3.0)  # head polls and crawls keep failing: the daemon must still be there
        still_running = daemon.proc.poll() is None
        lifted = False
        if still_running:
            resource.prlimit(daemon.proc.pid, resource.RLIMIT_FSIZE, (hard, hard))  # space is back
            lifted = True
        code = daemon.wait_exit(timeout=60)  # stops once the owed write landed (a store error stops it)
        first_run = daemon.text()
        daemon = Piped(config, tmp_path)  # what supervisor does after any exit
        wait_until(lambda: set(new_ids) <= set(delivered(discord)), 60, "the 10 new notices delivered")
        wait_until(lambda: "크롤링 완료: teststand" in daemon.text(), 30, "the restarted daemon's crawl")
        time.sleep(2.0)  # time enough for a second post of them
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.wait_exit(timeout=30) == 0
        counts = delivered(discord)
        dups = sum(counts[i] - 1 for i in new_ids)
        report.add(
            "14.5 full disk after an accepted post, then a head poll's store error",
            produced=len(new_ids),
            delivered=sum(1 for i in new_ids if counts[i]),
            lost=len(set(new_ids) - set(counts)),
            duplicates=dups,
            seconds=time.monotonic() - started,
            figures=f"running after 3 s of store errors: {still_running}; exit {code} once the owed "
            "write landed",
        )
        assert still_running and lifted, (
            "the daemon stopped while a lane owed the write:\n" + first_run[-3000:]
        )
        assert code == 4, (code, first_run[-3000:])
        assert dups == 0, f"{dups} alerts posted twice"
        assert not (set(counts) - before - set(new_ids))
        outputs = {"first run": first_run, "restart": daemon.text()}
        assert_no_traceback(outputs)
        assert_no_secrets(outputs, [token_of(webhook)])
    finally:
        if daemon is not None:
            daemon.cleanup()
        discord.stop()


@pytest.fixture
def pg() -> Any:
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    server = PostgresServer().start()
    yield server
    server.stop()


def test_a_frozen_replica_posts_nothing_another_replica_owns(
    tmp_path: Path,
    site: FakeSite,
    notices: TestStandNotices,
    report: Report,
    pg: PostgresServer,
) -> None:
    """Replica A holds a claimed batch (waiting out Discord's rate limit) and is frozen (SIGSTOP) past its
    30-s claim; B takes the batch over and posts it; A continues (SIGCONT). Before issue 20 A posted the
    batch again ("claimed by another process … may be posted twice")."""
    started = time.monotonic()
    # one message per 20 s: A's second batch waits for the bucket while it holds its claim
    discord = FakeDiscord(bucket_limit=1, bucket_window=20.0).start()
    daemons: list[DaemonProcess] = []
    url = pg.url(pg.create_database())
    try:
        webhook = discord.add_webhook()
        notices.add(5, prefix="기존")

        def config(name: str) -> Path:
            folder = tmp_path / name
            folder.mkdir()
            return write_config(
                folder,
                stand_config(folder, site, webhook, store_url=url, replica_lease=3.0, head_interval=None),
            )

        a = DaemonProcess(config("a"), tmp_path / "a", "a")
        daemons.append(a)
        a.wait_log("크롤링 완료: teststand", timeout=30)
        first = notices.add(10, prefix="첫 묶음")
        wait_until(lambda: set(first) <= set(delivered(discord)), 30, "the first batch")
        # and recorded as sent: until A writes that, its pending, leased rows are the FIRST batch, and
        # freezing A between Discord's answer and that write is another scenario (a post no store can
        # fence: the crash-safety suite's), which a loaded machine would otherwise pick here by chance
        wait_until(
            lambda: pg_rows(url, "SELECT count(*) FROM outbox WHERE status='sent'")[0][0] >= len(first),
            30,
            "A recording the first batch as sent",
        )
        second = notices.add(10, prefix="둘째 묶음")

        def a_holds_the_batch() -> bool:
            rows = pg_rows(
                url,
                "SELECT count(*) FROM outbox WHERE status='pending' AND lease_owner LIKE "
                f"'%/{a.proc.pid}/%' AND lease_until > extract(epoch from now())",
            )
            return rows[0][0] == 10

        wait_until(a_holds_the_batch, 30, "A claiming the second batch (waiting out the rate limit)")
        os.kill(a.proc.pid, signal.SIGSTOP)
        frozen = time.monotonic()
        try:
            b = DaemonProcess(config("b"), tmp_path / "b", "b")
            daemons.append(b)
            # B takes the batch once A's claim lapsed (30 s after the claim) and posts it
            wait_until(lambda: set(second) <= set(delivered(discord)), 60, "B posting the second batch")
            time.sleep(max(0.0, 45.0 - (time.monotonic() - frozen)))  # frozen for 45 s in all
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        fence = "checked just before the post"
        a.wait_for(lambda: fence in a.out() or duplicates(delivered(discord)) > 0, 30, "A's fence or post")
        time.sleep(3.0)  # time enough for A to post the batch (it must not)
        counts = delivered(discord)
        wanted = first + second
        dups = duplicates(counts)
        report.add(
            "14.4 a replica frozen (SIGSTOP 45 s) while it holds a claimed batch",
            produced=len(wanted),
            delivered=sum(1 for i in wanted if counts[i]),
            lost=len(set(wanted) - set(counts)),
            duplicates=dups,
            seconds=time.monotonic() - started,
            figures="A's fence dropped the batch unposted; B posted it",
        )
        assert dups == 0, f"{dups} alerts posted twice: {counts}"
        assert set(wanted) <= set(counts) and fence in a.out()
        for d in (a, b):
            assert d.terminate()[0] == 0
        outputs = {f"{t} {k}": getattr(d, k)() for t, d in (("a", a), ("b", b)) for k in ("out", "err")}
        assert_no_traceback(outputs)
        assert_no_secrets(outputs, [token_of(webhook), PASSWORD])
    finally:
        for d in daemons:
            d.cleanup()
        discord.stop()


def render_kit(tmp_path: Path, config: Path) -> Path:
    """deploy/postgres/ticket-alarm-replicas.conf as shipped, its placeholders filled in."""
    state, logs = tmp_path / "state", tmp_path / "logs"
    state.mkdir()
    logs.mkdir()
    text = KIT.read_text(encoding="utf-8")
    for key, value in {
        "@PYTHON@": sys.executable,
        "@CONFIG@": str(config),
        "@STATE_DIR@": str(state),
        "@LOG_DIR@": str(logs),
        "@USER@": getpass.getuser(),
    }.items():
        text = text.replace(key, value)
    assert "@" not in re.sub(r"\S+@\S+", "", text.split("[group:", 1)[1]), "a placeholder left"
    target = tmp_path / "ticket-alarm.conf"
    target.write_text(text, encoding="utf-8")
    return target


def programs(sv: Supervisor) -> dict[str, tuple[str, int | None]]:
    out = sv.ctl("status", timeout=15).stdout
    found = re.findall(r"ticket-alarm:(replica-[ab])\s+(\w+)(?:\s+pid (\d+))?", out)
    return {name: (state, int(pid) if pid else None) for name, state, pid in found}


def test_postgres_down_past_every_back_off_under_supervisord_loses_nothing(
    tmp_path: Path,
    site: FakeSite,
    notices: TestStandNotices,
    report: Report,
    pg: PostgresServer,
) -> None:
    """The shipped replica kit under the real supervisord; PostgreSQL stopped for OUTAGE seconds (past
    the 30-s back-off cap, see OUTAGE). Before issue 20 each replica exited 2 at every start attempt and
    supervisord gave up on both (FATAL)."""
    started = time.monotonic()
    discord = FakeDiscord(bucket_limit=100, bucket_window=1.0).start()
    url = pg.url(pg.create_database())
    webhook = discord.add_webhook()
    notices.add(5, prefix="기존")
    config = write_config(
        tmp_path,
        stand_config(
            tmp_path, site, webhook, store_url=url, replica_lease=3.0, head_interval=None, interval=2
        ),
    )
    sv = Supervisor(render_kit(tmp_path, config), child_env())
    logs = tmp_path / "logs"

    def both_running() -> bool:
        states = programs(sv)  # one reading: two could straddle supervisord's start
        return len(states) == 2 and all(s == "RUNNING" and pid for s, pid in states.values())

    def said() -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(logs.glob("replica-*.log")))

    try:
        sv.wait(both_running, "both replicas RUNNING", timeout=60)
        wait_until(lambda: "크롤링 완료: teststand" in said(), 60, "the first crawl")
        before = dict(programs(sv))

        def told() -> str:  # what to read when an assertion fails: supervisord's log, the replicas' errors
            errs = "".join(p.read_text(errors="replace")[-1500:] for p in sorted(logs.glob("*.err.log")))
            return sv.text()[-2000:] + "\n" + errs

        assert all(s == "RUNNING" and pid for s, pid in before.values()), (before, told())
        pg.halt()
        down = time.monotonic()
        wait_until(
            lambda: (
                "the store cannot be reached" in said()
                or any(state != "RUNNING" for state, _ in programs(sv).values())
            ),
            60,
            "the outage said (or a replica leaving RUNNING)",
        )
        now = programs(sv)
        assert all(s == "RUNNING" for s, _ in now.values()), (now, sv.text()[-2000:])
        during = notices.add(3, prefix="장애 중")
        # a replica (re)started while the database is down starts, and stays up
        assert sv.ctl("restart", "ticket-alarm:replica-b", timeout=60).returncode == 0
        health = run_cli(
            "health", "--json", "--no-probe", "--config", str(config), cwd=tmp_path, timeout=60,
            env=child_env(TICKET_ALARM_DATA_DIR=str(tmp_path / "state" / "replica-a")),
        )  # fmt: skip
        checks = {c["name"]: c for c in json.loads(health.stdout)["checks"]}
        assert checks.get("store", {}).get("status") == "CRITICAL", checks
        assert "waits and reconnects" in checks["store"]["detail"], checks["store"]
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - down)))
        states = programs(sv)
        assert all(s == "RUNNING" for s, _ in states.values()), (states, told())
        assert states["replica-a"][1] == before["replica-a"][1], ("replica-a was restarted", told())
        pg.resume()
        back = time.monotonic()
        after = notices.add(3, prefix="장애 후")
        wanted = during + after
        wait_until(
            lambda: set(wanted) <= set(delivered(discord)), 120, "every notice of and after the outage"
        )
        recovered = time.monotonic() - back
        time.sleep(3.0)
        counts = delivered(discord)
        states = programs(sv)
        text = said()
        report.add(
            f"14.1 PostgreSQL down {OUTAGE:.0f} s under supervisord (replica kit)",
            produced=len(wanted),
            delivered=sum(1 for i in wanted if counts[i]),
            lost=len(set(wanted) - set(counts)),
            duplicates=duplicates(counts),
            seconds=time.monotonic() - started,
            figures=f"outage {OUTAGE:.0f} s; both RUNNING throughout, 0 restarts of replica-a; delivered "
            f"{recovered:.0f} s after the database came back",
        )
        assert all(s == "RUNNING" for s, _ in states.values()), states
        assert states["replica-a"][1] == before["replica-a"][1]
        assert duplicates(counts) == 0
        assert "FATAL" not in sv.text() and "exited: " not in sv.text().split("restart", 1)[0]
        for name in ("replica-a", "replica-b"):
            out = (logs / f"{name}.out.log").read_text(errors="replace")  # every level (stderr: WARNING+)
            lines = [line for line in out.splitlines() if "the store cannot be reached (" in line]
            # said once per replica process (replica-b: once before, once in its restart during the outage)
            assert 1 <= len(lines) <= (2 if name == "replica-b" else 1), (name, lines)
        assert "the store is reachable again" in text
        assert_no_traceback({"replicas": text})
        assert_no_secrets({"replicas": text}, [token_of(webhook), PASSWORD])
    finally:
        sv.close()
        discord.stop()
