"""Scenario 20 (issue 20, items 2 and 3): a connection flood on the page, a future Last-Modified.

- 20.2 1,200 slow connections to ``web.port`` of a real daemon whose descriptor limit is 1,024
  (soft and hard, so nothing can be raised): a new notice still reaches Discord within the usual
  bound, ``/healthz`` still answers, malformed requests get a 400, and the log stays small —
  before, the flood exhausted the descriptors (head polls failed, no alert) and asyncio wrote
  ``socket.accept() out of system resource`` tracebacks at megabytes a second;
- 20.3 a site sending ``Last-Modified`` in 2099 and no ETag, answering 304 whenever ``LM <= IMS``
  (Spring's ``checkNotModified``): three new notices are alerted — before, the 2099 date went back
  as ``If-Modified-Since`` and the site answered 304 for ever; and a server whose 304 stays wrong
  is caught by a plain request after ``PLAIN_AFTER_304`` seconds of 304s (on the fake clock).
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import subprocess
import sys
import threading
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from loguru import logger

from tests.conftest import DaemonProcess, child_env, stand_config, write_config
from tests.reliability.conftest import (
    Report,
    assert_no_secrets,
    assert_no_traceback,
    delivered,
    duplicates,
    token_of,
)
from tests.support.discord_standin import FakeDiscord
from tests.support.ports import free_port
from tests.support.server import LoopbackServer, Request, Response
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.settings import HttpSettings
from ticket_alarm.fetch.conditional import PLAIN_AFTER_304
from ticket_alarm.fetch.http import Fetcher
from ticket_alarm.store.memory import MemoryStore
from ticket_alarm.web.server import HEADER_TIMEOUT

pytestmark = pytest.mark.e2e

FUTURE = "Thu, 01 Jan 2099 00:00:00 GMT"
ALERT_BOUND = 30.0  # interval 1 s: a new notice is alerted within a few seconds; generous on a busy machine


def test_future_last_modified_never_silences_a_site(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, discord: FakeDiscord, report: Report
) -> None:
    started = time.monotonic()
    since_sent: list[str] = []
    not_modified = [0]

    def spring(req: Request) -> Response | None:
        """``checkNotModified``: 304 when the resource's Last-Modified <= If-Modified-Since."""
        if req.path != "/api/notices":
            return None
        answer = notices.route(req)
        answer.headers["Last-Modified"] = FUTURE
        ims = req.headers.get("if-modified-since")
        if ims:
            since_sent.append(ims)
            if parsedate_to_datetime(FUTURE) <= parsedate_to_datetime(ims):
                not_modified[0] += 1
                return Response(304, b"", {"Last-Modified": FUTURE})
        return answer

    site.hook = spring
    webhook = discord.add_webhook()
    notices.add(2, prefix="기존")
    d = DaemonProcess(write_config(tmp_path, stand_config(tmp_path, site, webhook)), tmp_path)
    try:
        d.wait_log("크롤링 완료: teststand", count=3)  # the later crawls carry the validator
        ids = notices.add(3, prefix="신규")
        d.wait_for(lambda: set(delivered(discord)) >= set(ids), ALERT_BOUND, "the 3 new notices alerted")
        code, _ = d.terminate()
    finally:
        d.cleanup()
    counts = delivered(discord)
    report.add(
        "20.3 future Last-Modified (2099, no ETag) vs a server answering 304 when LM <= IMS",
        produced=len(ids),
        delivered=sum(counts.values()),
        lost=len(set(ids) - set(counts)),
        duplicates=duplicates(counts),
        seconds=time.monotonic() - started,
        figures=f"{len(since_sent)} conditional requests, latest If-Modified-Since "
        f"{since_sent[-1] if since_sent else '-'}; 304s {not_modified[0]}",
    )
    assert code == 0
    assert counts == {i: 1 for i in ids}
    assert since_sent, "the daemon never sent If-Modified-Since: the scenario did not happen"
    assert all(parsedate_to_datetime(s).year < 2099 for s in since_sent), since_sent
    assert_no_traceback({"daemon": d.out() + d.err()})
    assert_no_secrets({"daemon": d.out() + d.err()}, [token_of(webhook)])


async def test_a_wrong_304_streak_is_checked_with_a_plain_request() -> None:
    """A server whose 304 never ends (its validators stay the same while the body changes): after
    ``PLAIN_AFTER_304`` seconds of 304s one plain request shows the new body, a WARNING names the
    URL and the URL is fetched plain from then on."""
    body = [b'{"v": 1}']
    seen: list[dict[str, str]] = []

    def stuck(req: Request) -> Response:
        seen.append(req.headers)
        if "if-modified-since" in req.headers or "if-none-match" in req.headers:
            return Response(304, b"", {"ETag": '"v1"'})
        return Response(200, body[0], {"ETag": '"v1"', "Content-Type": "application/json"})

    server = LoopbackServer(stuck).start()
    clock = FakeClock()
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    settings = HttpSettings(timeout=5, retries=0, min_request_interval=0)
    try:
        async with Fetcher(settings, cache=MemoryStore(), clock=clock) as fetcher:
            fetch = fetcher.for_site("stuck")
            url = f"{server.base_url}/list"
            assert json.loads((await fetch.get(url)).content) == {"v": 1}
            body[0] = b'{"v": 2}'
            first = await fetch.get(url)
            clock.advance(PLAIN_AFTER_304 - 1)
            second = await fetch.get(url)
            assert first.from_cache and second.from_cache  # within the bound: the validators are trusted
            assert "if-none-match" in seen[-1]
            clock.advance(2)
            plain = await fetch.get(url)
            assert "if-none-match" not in seen[-1] and json.loads(plain.content) == {"v": 2}
            body[0] = b'{"v": 3}'
            after = await fetch.get(url)  # caught: no validators any more
            assert "if-none-match" not in seen[-1] and json.loads(after.content) == {"v": 3}
    finally:
        logger.remove(sink)
        server.stop()
    assert len([ln for ln in lines if "304" in ln and "/list" in ln]) == 1, lines


# --- 20.2 a connection flood on the page -------------------------------------------------------------

FLOOD = 1200
DAEMON_FDS = 1024  # the usual soft limit; the daemon gets it as its hard limit too, so it cannot raise it
LOG_BOUND = 3_000_000  # bytes of daemon log over the whole scenario (before: ~7 MB a second)


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DAEMON_FDS, DAEMON_FDS))


class _FdLimitedDaemon(DaemonProcess):
    """The real daemon, started with ``RLIMIT_NOFILE`` 1,024 soft and hard."""

    def __init__(self, config: Path, tmp_path: Path) -> None:
        self.out_path = tmp_path / "daemon.out.log"
        self.err_path = tmp_path / "daemon.err.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ticket_alarm", "run", "--config", str(config)],
            stdout=self.out_path.open("wb"),
            stderr=self.err_path.open("wb"),
            env=child_env(),
            cwd=str(tmp_path),
            preexec_fn=_limit_fds,
        )


class _Flood:
    """``FLOOD`` slow clients on the page: each sends half a request line and nothing more; one the
    server closes is opened again (the pressure stays), until ``stop`` — bounded in time."""

    def __init__(self, port: int, seconds: float) -> None:
        self.port = port
        self.deadline = time.monotonic() + seconds
        self.socks: list[socket.socket] = []
        self.opened = 0
        self.failed = 0
        self.closed_by_server = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _open(self) -> socket.socket | None:
        s = socket.socket()
        s.settimeout(1.0)
        try:
            s.connect(("127.0.0.1", self.port))
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # ...and the rest never comes
        except OSError:
            s.close()
            self.failed += 1
            return None
        s.setblocking(False)
        self.opened += 1
        return s

    def start(self) -> _Flood:
        for _ in range(FLOOD):
            if time.monotonic() >= self.deadline:
                break
            s = self._open()
            if s is not None:
                self.socks.append(s)
        self.thread.start()
        return self

    def _hold(self) -> None:
        while not self.stopping.wait(0.5) and time.monotonic() < self.deadline:
            for i, s in enumerate(self.socks):
                if self.stopping.is_set() or time.monotonic() >= self.deadline:
                    break
                try:
                    gone = s.recv(4096) == b""
                except BlockingIOError:
                    gone = False
                except OSError:
                    gone = True
                if gone:
                    self.closed_by_server += 1
                    s.close()
                    fresh = self._open()
                    if fresh is not None:
                        self.socks[i] = fresh

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)
        for s in self.socks:
            s.close()


def _raw(port: int, data: bytes, wait: float = 10.0) -> bytes:
    """Send ``data`` on a fresh connection; the server's answer (its status line on), read until the
    server closes the connection (at most ``wait`` seconds between two reads)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        with contextlib.suppress(OSError):  # the server may answer (and close) before all is sent
            s.sendall(data)
        chunks = []
        with contextlib.suppress(OSError):
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def test_a_connection_flood_on_the_page_costs_no_alert(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, discord: FakeDiscord, report: Report
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = FLOOD + 200
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {needed}: this test cannot hold {FLOOD} sockets")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    try:
        _flood_scenario(tmp_path, site, notices, discord, report)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _flood_scenario(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, discord: FakeDiscord, report: Report
) -> None:
    started = time.monotonic()
    webhook = discord.add_webhook()
    notices.add(2, prefix="기존")
    port = free_port()
    config = stand_config(tmp_path, site, webhook, web={"port": port, "host": "127.0.0.1"})
    d = _FdLimitedDaemon(write_config(tmp_path, config), tmp_path)
    flood: _Flood | None = None
    try:
        d.wait_log("크롤링 완료: teststand", count=2)
        d.wait_log("status page: http://127.0.0.1")
        flood = _Flood(port, seconds=90).start()
        flood_up = time.monotonic()
        time.sleep(5)  # under the flood for a while first
        ids = notices.add(1, prefix="신규")
        t0 = time.monotonic()
        d.wait_for(
            lambda: set(delivered(discord)) >= set(ids),
            ALERT_BOUND,
            "the new notice alerted during the flood",
        )
        alert_took = time.monotonic() - t0
        health_status = None
        health_took = 0.0
        for _ in range(5):  # bounded: a few tries a second apart
            t0 = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                health_status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code
                health_took = time.monotonic() - t0
                break
            time.sleep(1)
        held = len(flood.socks)
        flood.stop()
        flood_seconds = time.monotonic() - flood_up
        malformed = {
            "1 MB header": b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n",
            "5,000 headers": b"GET / HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-%d: y\r\n" % n for n in range(5000))
            + b"\r\n",
            "64 kB request line": b"GET /" + b"a" * 65_536 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        }
        answers = {name: _raw(port, data)[:12] for name, data in malformed.items()}
        t0 = time.monotonic()  # one slow client alone: its headers never finish, the daemon hangs up
        slow = _raw(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n", wait=HEADER_TIMEOUT + 10)
        slow_closed = time.monotonic() - t0
        d.wait_for(lambda: "400" in d.err() and "[WARNING]" in d.err(), 10, "the 400s logged")
        code, _ = d.terminate()
    finally:
        if flood is not None:
            flood.stop()
        d.cleanup()
    log_bytes = d.out_path.stat().st_size + d.err_path.stat().st_size
    counts = delivered(discord)
    report.add(
        "20.2 connection flood: 1,200 slow clients on web.port, daemon at 1,024 descriptors",
        produced=len(ids),
        delivered=sum(counts.values()),
        lost=len(set(ids) - set(counts)),
        duplicates=duplicates(counts),
        seconds=time.monotonic() - started,
        figures=f"{flood.opened} connections opened ({held} held at once by the client, "
        f"{flood.closed_by_server} closed by the daemon, {flood.failed} failed) over {flood_seconds:.0f}s; "
        f"alert {alert_took:.1f}s after the notice; /healthz {health_status} in {health_took:.2f}s; "
        f"3 malformed requests: {sorted({a.decode('latin-1').strip() for a in answers.values()})}; "
        f"a lone slow client closed after {slow_closed:.1f}s; log {log_bytes / 1000:.0f} kB",
    )
    assert counts == {i: 1 for i in ids}
    assert health_status in (200, 503), "/healthz did not answer during the flood"
    assert all(a.split(b" ")[1:2] == [b"400"] for a in answers.values()), answers
    assert slow == b"" and slow_closed < HEADER_TIMEOUT + 5, (slow, slow_closed)  # before: held for an hour
    assert log_bytes < LOG_BOUND, f"the daemon wrote {log_bytes} bytes of log"
    assert code == 0
    outputs = {"stdout": d.out(), "stderr": d.err()}
    assert_no_traceback(outputs)
    assert_no_secrets(outputs, [token_of(webhook)])
