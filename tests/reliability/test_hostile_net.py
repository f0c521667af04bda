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

import json
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from loguru import logger

from tests.conftest import DaemonProcess, stand_config, write_config
from tests.reliability.conftest import (
    Report,
    assert_no_secrets,
    assert_no_traceback,
    delivered,
    duplicates,
    token_of,
)
from tests.support.discord_standin import FakeDiscord
from tests.support.server import LoopbackServer, Request, Response
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.clock import FakeClock
from ticket_alarm.config import HttpSettings
from ticket_alarm.http import PLAIN_AFTER_304, Fetcher
from ticket_alarm.store.memory import MemoryStore

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
