"""The status page's server time with 10,000 notices in the history.

What is timed: ``GET /`` over loopback HTTP against the real aiohttp application (``web.build_app``)
on a real SQLite store, from the request leaving the client to the last byte of the answer, so the
figure is the server's time for the page (query, route matching for three keyword routes, HTML)
plus the loopback transfer. Median of the runs; target ≤ 100 ms.

Two histories of 10,000 notices (real ``Ticket`` JSON, written through ``SqliteStore.commit_cycle``):
- *typical*: 9,500 notices whose opens passed and 500 ahead (the four real sites list ~400 at once);
- *worst*: all 10,000 ahead (an info row: every notice rendered into one page).
``/calendar.ics`` and ``/api/upcoming.json`` on the typical history are info rows.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from aiohttp import web as aioweb

from benchmarks.bench_common import Row, median, ms, say, verdict
from crawlers import registry
from ticket_alarm import app
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.settings import Settings
from ticket_alarm.core.model import SEOUL, Presale, Ticket
from ticket_alarm.store import Cycle, HistoryRow, SiteState
from ticket_alarm.store.sqlite.backend import SqliteStore
from ticket_alarm.web.server import build_app

TARGET_MS = 100.0
NOW = datetime(2027, 6, 1, 3, 0, tzinfo=UTC)
SITES = ("interpark", "yes24", "melon", "ticketlink")
WEBHOOK = "https://discord.com/api/webhooks/123456789012345678/{}"


def make_ticket(n: int, ahead: bool) -> Ticket:
    site = SITES[n % 4]
    start = NOW + timedelta(hours=1 + n % 2000) if ahead else NOW - timedelta(days=1 + n % 700)
    opens = start.astimezone(SEOUL).replace(minute=0, second=0, microsecond=0)
    return Ticket(
        site=site,
        id=str(100000 + n),
        title=f"[서울] 2027 전국투어 콘서트 〈찬가 : 찬란한 하루〉 티켓 오픈 안내 #{n}",
        url=f"https://{site}.example/notice/{n}",
        open_at=opens,
        exclusive=n % 5 == 0,
        presales=(Presale("팬클럽 선예매", opens - timedelta(days=2)),) if n % 3 == 0 else (),
        venue="올림픽공원 KSPO DOME",
        genre="콘서트",
        booking_url=f"https://{site}.example/book/{n}",
    )


async def fill(store: SqliteStore, total: int, ahead: int) -> None:
    for site in SITES:
        rows = []
        for n in range(total):
            if SITES[n % 4] != site:
                continue
            t = make_ticket(n, ahead=n >= total - ahead)
            rows.append(HistoryRow(t.key, t.digest, site, t.id, t.title, t.to_json()))
        now = NOW.timestamp()
        await store.commit_cycle(Cycle(site, now, SiteState(site, True, now, now), history=rows))


async def _time_paths(store: SqliteStore, paths: list[str], runs: int) -> dict[str, list[float]]:
    settings = Settings(
        routes=[
            {"name": "concerts", "webhook_url": WEBHOOK.format("a" * 20), "include": ["콘서트"]},
            {"name": "iu", "webhook_url": WEBHOOK.format("b" * 20), "include": ["아이유", "/IU|HER/"]},
            {"name": "melon", "webhook_url": WEBHOOK.format("c" * 20), "sites": ["melon"]},
        ]
    )
    known = {name: registry.discover()[name] for name in SITES}
    reader = SqliteStore.open_reader(store.path)  # what the daemon's page reads through (app.build_app)
    ctx = app.web_context(settings, reader, known, list(SITES), None, FakeClock(NOW))
    runner = aioweb.AppRunner(build_app(ctx), access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    await aioweb.SockSite(runner, sock).start()
    out: dict[str, list[float]] = {p: [] for p in paths}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for path in paths:  # one warm-up each (first query compiles, first page allocates)
                (await client.get(path)).raise_for_status()
            for _ in range(runs):
                for path in paths:
                    started = time.perf_counter()
                    answer = await client.get(path)
                    out[path].append(time.perf_counter() - started)
                    answer.raise_for_status()
    finally:
        await runner.cleanup()
        await reader.close()
    return out


async def _measure(
    data_dir: Path, total: int, ahead: int, paths: list[str], runs: int
) -> tuple[dict[str, list[float]], int]:
    store = SqliteStore.open_dir(data_dir)
    try:
        await fill(store, total, ahead)
        timings = await _time_paths(store, paths, runs)
        size = len(await _page_bytes(store))
    finally:
        await store.close()
    return timings, size


def measure(total: int, ahead: int, paths: list[str], runs: int) -> tuple[dict[str, list[float]], int]:
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        return asyncio.run(_measure(Path(tmp) / "data", total, ahead, paths, runs))


async def _page_bytes(store: SqliteStore) -> str:
    from ticket_alarm.web.server import render_page

    known = {name: registry.discover()[name] for name in SITES}
    reader = SqliteStore.open_reader(store.path)
    try:
        ctx = app.web_context(Settings(), reader, known, list(SITES), None, FakeClock(NOW))
        return await render_page(ctx)
    finally:
        await reader.close()


def run(quick: bool) -> list[Row]:
    total = 1_000 if quick else 10_000
    ahead = 50 if quick else 500
    runs = 5 if quick else 30
    say(f"  typical history: {total} notices, {ahead} ahead, {runs} runs")
    typical, size = measure(total, ahead, ["/", "/calendar.ics", "/api/upcoming.json"], runs)
    page = median(typical["/"])
    rows = [
        Row(
            benchmark=f"web: status page, {total:,} notices in history ({ahead} upcoming)",
            measured=f"{ms(page)} (median of {runs}, {size // 1024} KB)",
            ratio=f"{page * 1000 / TARGET_MS:.2f}× of target",
            target=f"≤ {TARGET_MS:.0f} ms",
            status=verdict(page * 1000 <= TARGET_MS),
            values={"median_s": page, "runs": typical["/"], "bytes": size},
        ),
        Row(
            benchmark="web/feeds: calendar.ics and upcoming.json, same history",
            measured=f"{ms(median(typical['/calendar.ics']))} / {ms(median(typical['/api/upcoming.json']))}",
            values={k: v for k, v in typical.items() if k != "/"},
        ),
    ]
    worst_runs = 3 if quick else 5
    say(f"  worst case: all {total} ahead, {worst_runs} runs")
    worst, worst_size = measure(total, total, ["/"], worst_runs)
    rows.append(
        Row(
            benchmark=f"web/worst: status page, all {total:,} notices upcoming",
            measured=f"{ms(median(worst['/']))} (median of {worst_runs}, {worst_size // 1024} KB)",
            notes=[
                "web/worst: every notice of the history is ahead and rendered into one page (info: "
                "the real sites list ~400 upcoming opens at a time)"
            ],
            values={"runs": worst["/"], "bytes": worst_size},
        )
    )
    return rows
