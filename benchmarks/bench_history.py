"""History check + enqueue for one 100-notice cycle, with 1,000 vs 1,000,000 history rows stored.

What is timed: ``Pipeline.run_site`` — the real per-site cycle — for a small benchmark crawler
(``benchsite``) that fetches one JSON page through the real ``Fetcher`` on ``httpx.MockTransport``
and returns 100 tickets: 90 already in the history unchanged (touched) and 10 new ones (history
rows + outbox rows + rendered embeds). So one cycle is: ``seen`` (100 keys), 10 embeds
rendered, ``commit_cycle`` (10 inserts, 90 ``last_seen`` bumps, 10 outbox rows, site state) in
one transaction, plus the constant fetch/parse/log cost, all on the async ``SqliteStore``.

How the big history is filled: the store is created by ``SqliteStore`` (the real migrations), then
the rows are bulk-inserted with ``executemany`` on that schema from a second connection with
``journal_mode=OFF`` (test data, no crash safety needed), pre-serialised ticket JSON of realistic
size (a real YES24 ticket, ~370 bytes). The 90 notices the crawler serves are then written through
``SqliteStore.commit_cycle`` from the real ``Ticket``s, so their digests match what the pipeline
computes. The store is reopened with ``SqliteStore`` (WAL, the project's pragmas) before anything
is timed.

The two stores are timed alternately (1k, 1M, 1k, 1M …) so drift hits both alike.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import httpx

from benchmarks.bench_common import Row, median, ms, percentile, say, verdict
from crawlers.base import Crawl, Crawler
from ticket_alarm import app
from ticket_alarm.clock import SystemClock
from ticket_alarm.config.settings import HttpSettings, Settings
from ticket_alarm.core.model import Presale, Ticket, identity_key, seoul
from ticket_alarm.daemon.pipeline import Pipeline
from ticket_alarm.fetch.http import Fetcher, SiteFetcher
from ticket_alarm.store import DB_NAME, CommitResult, Cycle, HistoryRow, Seen, SiteState
from ticket_alarm.store.sqlite.backend import SqliteStore

SITE = "benchsite"
LIST_URL = "https://bench.invalid/notices"
KNOWN = 90
NEW_PER_CYCLE = 10
FILL_BATCH = 100_000
TARGET = 2.0


def make_ticket(n: int) -> Ticket:
    """A realistic notice (the fields a YES24/Interpark row carries), distinct per ``n``."""
    return Ticket(
        site=SITE,
        id=str(n),
        title=f"[서울] 2027-2028 전국투어 콘서트 〈찬가 : 찬란한 하루〉 티켓 오픈 안내 #{n}",
        url=f"https://bench.invalid/notice/{n}",
        open_at=seoul(2027, 11, 1 + n % 28, 20, 0),
        exclusive=n % 5 == 0,
        presales=(Presale("팬클럽 선예매", seoul(2027, 10, 1 + n % 28, 20, 0)),) if n % 3 == 0 else (),
        venue="KSPO DOME",
        genre="콘서트",
        image_url=f"https://bench.invalid/poster/{n}.jpg",
        booking_url=f"https://bench.invalid/goods/{n}",
        views=1000 + n,
    )


def parse(body: bytes, url: str = "") -> list[Ticket]:
    """The benchmark site's pure parse: a JSON array of ``Ticket.to_json()`` objects."""
    return [Ticket.from_json(item) for item in json.loads(body)]


class BenchCrawler(Crawler):
    name: ClassVar[str] = SITE
    display_name: ClassVar[str] = "벤치마크"
    color: ClassVar[int] = 0x888888
    usual_minimum: ClassVar[int] = 1

    async def crawl(self, fetch: SiteFetcher) -> Crawl:
        response = await fetch.get(LIST_URL, conditional=False)
        crawl = Crawl(pages=1)
        crawl.add(parse(response.content, response.url))
        return crawl


class CyclePages:
    """Serves cycle ``c``: the 90 known notices plus 10 new ones no earlier cycle served.

    The bodies are built before anything is timed, so the stand-in site costs (almost) nothing.
    """

    def __init__(self, first_new_id: int, cycles: int) -> None:
        known = [make_ticket(n).to_json() for n in range(KNOWN)]
        self.bodies: list[bytes] = []
        for c in range(cycles):
            first = first_new_id + c * NEW_PER_CYCLE
            fresh = [make_ticket(first + j).to_json() for j in range(NEW_PER_CYCLE)]
            self.bodies.append(json.dumps(known + fresh, ensure_ascii=False).encode())
        self.served = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = self.bodies[self.served]
        self.served += 1
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})


def fill(data_dir: Path, rows: int) -> float:
    """A store holding ``rows`` history rows (see the module docstring); returns seconds taken."""
    started = time.perf_counter()
    SqliteStore.open_dir(data_dir).close_sync()  # the real schema, through the real migrations
    template = make_ticket(0).to_json()
    head, tail = json.dumps(template, ensure_ascii=False).split('"id": "0"', 1)
    conn = sqlite3.connect(data_dir / DB_NAME, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")
        base_time = 1.7e9
        filler_start = KNOWN  # ids 0..89 are the served notices, written below via commit_cycle
        for start in range(filler_start, filler_start + rows - KNOWN, FILL_BATCH):
            stop = min(start + FILL_BATCH, filler_start + rows - KNOWN)
            batch = []
            for n in range(start, stop):
                notice_id = str(n)
                title = f"[서울] 공연 티켓 오픈 안내 #{n}"
                batch.append(
                    (
                        identity_key(SITE, notice_id),
                        hashlib.sha256(notice_id.encode()).hexdigest(),
                        SITE,
                        notice_id,
                        title,
                        f'{head}"id": "{notice_id}"{tail}',
                        base_time + n,
                        base_time + n,
                    )
                )
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO history(key, digest, site, notice_id, title, ticket, first_seen, last_seen) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
            conn.execute("COMMIT")
    finally:
        conn.close()
    count = asyncio.run(_write_known(data_dir))
    if count != rows:
        raise AssertionError(f"filled {count} history rows, expected {rows}")
    return time.perf_counter() - started


async def _write_known(data_dir: Path) -> int:
    """Write the 90 notices the crawler serves through the real store; the history count after."""
    store = SqliteStore.open_dir(data_dir)
    try:
        known = [make_ticket(n) for n in range(KNOWN)]
        await store.commit_cycle(
            Cycle(
                SITE,
                time.time(),
                SiteState(SITE, initialized=True),
                history=[HistoryRow(t.key, t.digest, SITE, t.id, t.title, t.to_json()) for t in known],
            )
        )
        return await store.history_count()
    finally:
        await store.close()


class TimedStore(SqliteStore):
    """The real SqliteStore, also adding up the time spent in the two calls the pipeline's cycle
    makes: ``seen`` and ``commit_cycle`` (awaited: the worker thread's time as the pipeline waits it)."""

    spent = 0.0

    async def seen(self, keys: Iterable[str]) -> dict[str, Seen]:
        started = time.perf_counter()
        try:
            return await super().seen(keys)
        finally:
            self.spent += time.perf_counter() - started

    async def commit_cycle(self, cycle: Cycle) -> CommitResult:
        started = time.perf_counter()
        try:
            return await super().commit_cycle(cycle)
        finally:
            self.spent += time.perf_counter() - started


class Bench:
    """One store + pipeline, ready to run cycles."""

    def __init__(self, data_dir: Path, rows: int, cycles: int) -> None:
        self.rows = rows
        store = TimedStore.open_dir(data_dir)  # the classmethod builds a TimedStore
        assert isinstance(store, TimedStore)
        self.store = store
        self.pages = CyclePages(first_new_id=10 * rows, cycles=cycles)
        settings = Settings(data_dir=data_dir, http=HttpSettings(min_request_interval=0, retries=0))
        if settings.effective_routes():
            raise AssertionError("the benchmark must not see a webhook (dry run expected)")
        self.fetcher = Fetcher(settings.http, transport=httpx.MockTransport(self.pages.handler))
        self.pipeline = Pipeline(
            settings,
            self.store,
            self.fetcher,
            {SITE: BenchCrawler()},
            SystemClock(),
            router=app.router(settings),
        )
        self.times: list[float] = []
        self.store_times: list[float] = []

    async def cycle(self, timed: bool) -> None:
        self.store.spent = 0.0
        started = time.perf_counter()
        result = await self.pipeline.run_site(SITE)
        elapsed = time.perf_counter() - started
        if not result.ok or result.new != NEW_PER_CYCLE or result.items != KNOWN + NEW_PER_CYCLE:
            raise AssertionError(f"unexpected cycle result with {self.rows} rows: {result}")
        if result.queued != NEW_PER_CYCLE:
            raise AssertionError(f"expected {NEW_PER_CYCLE} alerts queued, got {result.queued}")
        if timed:
            self.times.append(elapsed)
            self.store_times.append(self.store.spent)

    async def close(self) -> None:
        await self.fetcher.aclose()
        await self.store.close()


async def _measure(small: Bench, big: Bench, cycles: int, warmup: int) -> None:
    for i in range(warmup + cycles):
        for bench in (small, big) if i % 2 == 0 else (big, small):
            await bench.cycle(timed=i >= warmup)


def run(quick: bool) -> list[Row]:
    small_rows = 1_000
    big_rows = 100_000 if quick else 1_000_000
    cycles = 20 if quick else 40
    warmup = 3
    with tempfile.TemporaryDirectory(prefix="ta-bench-history-") as tmp:
        fills = {}
        for rows in (small_rows, big_rows):
            say(f"  history: filling a store with {rows:,} rows …")
            fills[rows] = fill(Path(tmp) / f"rows{rows}", rows)
        small = Bench(Path(tmp) / f"rows{small_rows}", small_rows, warmup + cycles)
        big = Bench(Path(tmp) / f"rows{big_rows}", big_rows, warmup + cycles)

        async def go() -> None:
            try:
                await _measure(small, big, cycles, warmup)
            finally:
                await small.close()
                await big.close()

        say(f"  history: {cycles} cycles on each store, alternating …")
        asyncio.run(go())
    t_small, t_big = median(small.times), median(big.times)
    ratio = t_big / t_small
    s_small, s_big = median(small.store_times), median(big.store_times)
    label = f"{big_rows // 1000:,}k" if big_rows < 1_000_000 else f"{big_rows // 1_000_000}M"
    return [
        Row(
            benchmark=f"history: 100-notice cycle, 1k vs {label} rows",
            measured=f"1k {ms(t_small)} | {label} {ms(t_big)} (median of {cycles})",
            ratio=f"{ratio:.2f}×",
            target=f"≤ {TARGET:g}×",
            status=verdict(ratio <= TARGET),
            notes=[
                f"history: store share (seen + commit_cycle) 1k {ms(s_small)}, {label} {ms(s_big)} "
                f"→ {s_big / s_small:.2f}×",
                f"history: p90 1k {ms(percentile(small.times, 0.9))}, "
                f"{label} {ms(percentile(big.times, 0.9))}; "
                f"filling {big_rows:,} rows took {fills[big_rows]:.1f} s (executemany on the store's schema)",
            ],
            values={
                "small_rows": small_rows,
                "big_rows": big_rows,
                "median_small_s": t_small,
                "median_big_s": t_big,
                "ratio": ratio,
                "store_median_small_s": s_small,
                "store_median_big_s": s_big,
                "cycles": cycles,
                "fill_big_s": fills[big_rows],
            },
        )
    ]
