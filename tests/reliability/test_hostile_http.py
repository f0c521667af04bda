"""Scenario 13 (HTTP): trickling answers, gzip bombs and redirects, on real loopback servers.

- 13.5 ``http.timeout`` is the whole request: three sites answering one byte every 0.2 s (a 12-s
  body) fail together after the 1-s timeout; a Discord answer trickling for 12 s is a retry after
  the webhook client's timeout — before, every byte reset httpx's per-read timeout;
- 13.12 a gzip bomb (200 MB of zeros, 200 KB on the wire) is refused at the 5 MB cap with at most
  a few MB allocated (streaming, capped decompression; before: the whole chunk expanded at once);
- 9.7 a redirect to another host is a failure naming it (not followed), a same-host redirect and
  one to the public host behind ``base_url`` are followed, a loop and a corrupt gzip body are named.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import tracemalloc
import zlib
from collections.abc import Iterator

import httpx
import pytest

from tests.reliability.conftest import Report
from tests.support.server import LoopbackServer, Request, Response
from tests.support.site_standin import FakeSite
from ticket_alarm.clock import SystemClock
from ticket_alarm.config.settings import HttpSettings
from ticket_alarm.delivery.discord.render import message
from ticket_alarm.delivery.discord.webhook import WebhookClient
from ticket_alarm.errors import FetchError
from ticket_alarm.fetch.http import Fetcher

BODY = json.dumps({"items": [{"id": str(n)} for n in range(8)]}).encode()


@pytest.fixture
def stand() -> Iterator[FakeSite]:
    fake = FakeSite().start()
    yield fake
    fake.stop()


def _fetcher(**overrides: object) -> Fetcher:
    base = {"timeout": 1.0, "retries": 0, "backoff": 0.05, "min_request_interval": 0}
    return Fetcher(HttpSettings(**{**base, **overrides}), clock=SystemClock())


async def test_whole_request_timeout_for_trickling_sites_and_discord(stand: FakeSite, report: Report) -> None:
    started = time.monotonic()
    stand.hook = lambda req: Response(200, b"x" * 60, {"Content-Type": "application/json"}, trickle=0.2)
    async with _fetcher() as fetcher:
        t0 = time.monotonic()
        results = await asyncio.gather(
            *(fetcher.for_site(f"site{n}").get(f"{stand.base_url}/list/{n}") for n in range(3)),
            return_exceptions=True,
        )
        sites_took = time.monotonic() - t0
    assert all(isinstance(r, FetchError) and "timeout after 1s" in r.reason for r in results), results
    assert sites_took < 3.0, sites_took  # 1-s timeout (+ the loop); before: 12 s, the whole trickle

    def trickling_discord(req: Request) -> Response:
        return Response(200, b'{"id": "1"}' + b" " * 40, {"Content-Type": "application/json"}, trickle=0.3)

    server = LoopbackServer(trickling_discord).start()
    try:
        async with httpx.AsyncClient(timeout=15.0) as client:
            webhooks = WebhookClient(client, SystemClock(), timeout=1.0)
            t0 = time.monotonic()
            outcome = await webhooks.execute(
                f"{server.base_url}/api/webhooks/12345678901234567/tokenTOKENtoken", message([{"title": "t"}])
            )
            discord_took = time.monotonic() - t0
    finally:
        server.stop()
    assert outcome.kind == "retry" and "timeout after 1s" in outcome.error, outcome
    assert discord_took < 2.5, discord_took
    report.add(
        "13.5 trickling answers (1 byte / 0.2-0.3 s) vs http.timeout 1s",
        produced=0,
        delivered=0,
        lost=0,
        duplicates=0,
        seconds=time.monotonic() - started,
        figures=f"3 sites failed together after {sites_took:.1f}s (body takes 12s); Discord lane freed after "
        f"{discord_took:.1f}s (answer takes 15s)",
    )


def _gzip_bomb(megabytes: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    return b"".join(packer.compress(zeros) for _ in range(megabytes)) + packer.flush()


async def test_gzip_bomb_is_refused_streaming(stand: FakeSite, report: Report) -> None:
    started = time.monotonic()
    bomb = _gzip_bomb(200)
    stand.hook = lambda req: Response(
        200, bomb, {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    )
    async with _fetcher(timeout=10.0) as fetcher:
        tracemalloc.start()
        try:
            with pytest.raises(FetchError, match="exceeds the 5,000,000-byte limit once decompressed"):
                await fetcher.for_site("bomb").get(f"{stand.base_url}/list")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # the cap is 5 MB of output; the decoder never holds more than that plus one network chunk
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    report.add(
        "13.12 gzip bomb: 200 MB of zeros in a gzip body",
        produced=0,
        delivered=0,
        lost=0,
        duplicates=0,
        seconds=time.monotonic() - started,
        figures=f"{len(bomb) / 1e3:.0f} KB on the wire; refused at the 5 MB cap; peak Python allocation "
        f"{peak / 1e6:.1f} MB during the fetch",
    )


async def test_redirects_stay_on_the_site_and_loops_and_corrupt_gzip_are_named(
    stand: FakeSite, report: Report
) -> None:
    started = time.monotonic()
    public = "https://tickets.example.com"

    def hook(req: Request) -> Response | None:
        answers = {
            "/away": Response(302, b"", {"Location": "http://198.51.100.7/phish"}),
            "/bad-1": Response(302, b"", {"Location": "http://[bad/x"}),
            "/bad-2": Response(302, b"", {"Location": "javascript:alert(1)"}),
            "/bad-3": Response(302, b"", {"Location": "//198.51.100.7/x"}),
            "/same": Response(301, b"", {"Location": "/final"}),
            "/public": Response(308, b"", {"Location": f"{public}/final"}),
            "/loop-a": Response(302, b"", {"Location": "/loop-b"}),
            "/loop-b": Response(302, b"", {"Location": "/loop-a"}),
            "/final": Response(200, BODY, {"Content-Type": "application/json"}),
            "/gzip": Response(200, gzip.compress(BODY)[:-12] + b"garbage!", {"Content-Encoding": "gzip"}),
            "/gzip-ok": Response(200, gzip.compress(BODY), {"Content-Encoding": "gzip"}),
        }
        return answers.get(req.path)

    stand.hook = hook
    named = []
    async with _fetcher() as fetcher:
        site = fetcher.for_site("site", base_url=stand.base_url)
        with pytest.raises(
            FetchError, match=r"redirect .* to another host \(http://198\.51\.100\.7\)"
        ) as info:
            await site.get(f"{public}/away")
        named.append(info.value.reason)
        assert info.value.hint and "not followed" in info.value.reason
        for bad in ("/bad-1", "/bad-2", "/bad-3"):  # a typed failure, never httpx's InvalidURL
            with pytest.raises(FetchError, match=r"not followed|malformed redirect"):
                await site.get(f"{public}{bad}")
        assert (await site.get(f"{public}/same")).content == BODY
        assert (await site.get(f"{public}/public")).content == BODY  # the public host means base_url
        with pytest.raises(FetchError, match="redirect loop") as info:
            await site.get(f"{public}/loop-a")
        named.append(info.value.reason)
        with pytest.raises(FetchError, match="corrupt gzip body") as info:
            await site.get(f"{public}/gzip")
        named.append(info.value.reason)
        assert (await site.get(f"{public}/gzip-ok")).content == BODY
    assert not any("198.51.100.7/phish" in req.path for req in stand.log)
    report.add(
        "9.7 redirects off the site, a loop, a corrupt gzip body",
        produced=0,
        delivered=0,
        lost=0,
        duplicates=0,
        seconds=time.monotonic() - started,
        figures=f"{len(named)} named failures ('… to another host (http://198.51.100.7); not followed', "
        "'redirect loop from …', 'corrupt gzip body from …'); "
        "same-host and public→base_url redirects followed",
    )
