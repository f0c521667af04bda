"""The PostgreSQL store: history check + enqueue for a 100-notice cycle at 1,000 vs 1,000,000 stored rows,
and outbox claim throughput with two replicas claiming side by side.

A throwaway server (tests/support/postgres.py: initdb + pg_ctl in a temp dir, fsync off — the same as
the tests use) runs on 127.0.0.1; without PostgreSQL installed the rows say SKIPPED and why.

History: what is timed is the store's share of one cycle — ``seen`` (100 keys: 90 stored, 10 new)
then ``commit_cycle`` (10 history inserts decided by the key, 90 ``last_seen`` bumps, 10 digest-log
lines, 10 outbox rows, the site state) in one transaction, the same calls the pipeline makes. The big
table is filled with ``COPY`` on the store's own schema (realistic ~370-byte tickets), then ANALYZEd.
The two databases are timed alternately so drift hits both alike.

Claims: 2,000 pending rows; two replicas (two stores, two pools) claim batches of 10 with a lease and
settle them as sent until none is left; measured: rows per second, and that no row went to both.
"""

from __future__ import annotations

import asyncio
import json
import time

from benchmarks.bench_common import SKIPPED, Row, median, ms, say, verdict
from tests.support.postgres import PostgresServer, missing_reason
from ticket_alarm.core.model import identity_key
from ticket_alarm.store.api import Cycle, DigestEvent, HistoryRow, NewOutboxRow, Sent, SiteState
from ticket_alarm.store.postgres.engine import PostgresStore

SITE = "benchsite"
KNOWN = 90
NEW_PER_CYCLE = 10
TARGET = 2.0
CLAIM_ROWS = 2_000
CLAIM_BATCH = 10


def ticket(n: int) -> dict[str, object]:
    return {
        "site": SITE,
        "id": str(n),
        "title": f"[서울] 2027-2028 전국투어 콘서트 〈찬가 : 찬란한 하루〉 티켓 오픈 안내 #{n}",
        "url": f"https://bench.invalid/notice/{n}",
        "open_at": f"2027-11-{1 + n % 28:02d}T20:00:00+09:00",
        "category": "open",
        "exclusive": n % 5 == 0,
        "presales": [{"name": "팬클럽 선예매", "at": "2027-10-01T20:00:00+09:00"}] if n % 3 == 0 else [],
        "venue": "KSPO DOME",
        "genre": "콘서트",
        "image_url": f"https://bench.invalid/poster/{n}.jpg",
        "booking_url": f"https://bench.invalid/goods/{n}",
        "views": 1000 + n,
    }


def key(n: int) -> str:
    return identity_key(SITE, str(n))


async def fill(store: PostgresStore, rows: int) -> float:
    started = time.perf_counter()
    async with store._tx("fill") as conn:
        async with (
            conn.cursor() as cur,
            cur.copy(
                "COPY history(key, digest, site, notice_id, title, ticket, first_seen, last_seen) FROM STDIN"
            ) as copy,
        ):
            for n in range(rows):
                t = ticket(n)
                await copy.write_row((key(n), f"d{n}", SITE, str(n), t["title"], json.dumps(t), 1.0, 1.0))
        await conn.execute("ANALYZE history")
    return time.perf_counter() - started


async def cycle(store: PostgresStore, rows: int, index: int) -> float:
    known = [rows - KNOWN + i for i in range(KNOWN)]
    new = [rows + 1_000_000 + index * NEW_PER_CYCLE + i for i in range(NEW_PER_CYCLE)]
    now = 1000.0 + index
    started = time.perf_counter()
    seen = await store.seen([key(n) for n in known + new])
    assert len(seen) == KNOWN
    fresh = [n for n in new if key(n) not in seen]
    await store.commit_cycle(
        Cycle(
            site=SITE,
            now=now,
            state=SiteState(SITE, initialized=True, last_success=now, last_count=KNOWN + NEW_PER_CYCLE),
            history=[
                HistoryRow(key(n), f"d{n}", SITE, str(n), str(ticket(n)["title"]), ticket(n)) for n in fresh
            ],
            touched=[key(n) for n in known],
            events=[DigestEvent(key(n), "first", f"d{n}", ticket(n)) for n in fresh],
            outbox=[NewOutboxRow("bench", "new", SITE, key(n), {"ticket": ticket(n)}) for n in fresh],
        )
    )
    return time.perf_counter() - started


async def claims(url: str) -> tuple[float, int, int]:
    a, b = await PostgresStore.open(url), await PostgresStore.open(url)
    try:
        await a.enqueue(
            [NewOutboxRow("bench", "new", SITE, key(n), {"n": n}) for n in range(CLAIM_ROWS)], 1.0
        )
        taken: dict[str, list[int]] = {"a": [], "b": []}

        async def replica(store: PostgresStore, owner: str) -> None:
            while True:
                batch = await store.claim("bench", 2.0, owner=owner, lease_seconds=60, limit=CLAIM_BATCH)
                if not batch:
                    return
                ids = [item.id for item in batch]
                taken[owner] += ids
                await store.settle(ids, Sent("m"), 2.0)

        started = time.perf_counter()
        await asyncio.gather(replica(a, "a"), replica(b, "b"))
        elapsed = time.perf_counter() - started
        both = len(set(taken["a"]) & set(taken["b"]))
        return elapsed, len(taken["a"]) + len(taken["b"]), both
    finally:
        await a.close()
        await b.close()


def run(quick: bool) -> list[Row]:
    reason = missing_reason()
    if reason:
        say(f"  postgres: skipped — {reason}")
        return [
            Row(benchmark=name, measured=f"skipped: {reason}", status=SKIPPED, notes=[f"postgres: {reason}"])
            for name in ("postgres: 100-notice cycle", "postgres: outbox claims")
        ]
    small_rows, big_rows = 1_000, (20_000 if quick else 1_000_000)
    cycles, warmup = (8 if quick else 40), 3
    server = PostgresServer().start()
    try:
        return asyncio.run(_run(server, small_rows, big_rows, cycles, warmup))
    finally:
        server.stop()


async def _run(server: PostgresServer, small_rows: int, big_rows: int, cycles: int, warmup: int) -> list[Row]:
    stores: dict[int, PostgresStore] = {}
    filled: dict[int, float] = {}
    times: dict[int, list[float]] = {small_rows: [], big_rows: []}
    try:
        for rows in (small_rows, big_rows):
            say(f"  postgres: filling a database with {rows:,} history rows …")
            stores[rows] = await PostgresStore.open(server.url(server.create_database()))
            filled[rows] = await fill(stores[rows], rows)
        say(f"  postgres: {cycles} cycles on each database, alternating …")
        for index in range(warmup + cycles):
            for rows in (small_rows, big_rows):
                elapsed = await cycle(stores[rows], rows, index)
                if index >= warmup:
                    times[rows].append(elapsed)
    finally:
        for store in stores.values():
            await store.close()
    say(f"  postgres: {CLAIM_ROWS:,} outbox rows claimed by two replicas …")
    elapsed, claimed, both = await claims(server.url(server.create_database()))
    t_small, t_big = median(times[small_rows]), median(times[big_rows])
    ratio = t_big / t_small
    label = f"{big_rows // 1000:,}k" if big_rows < 1_000_000 else f"{big_rows // 1_000_000}M"
    return [
        Row(
            benchmark=f"postgres: 100-notice cycle, 1k vs {label} rows",
            measured=f"1k {ms(t_small)} | {label} {ms(t_big)} (median of {cycles})",
            ratio=f"{ratio:.2f}×",
            target=f"≤ {TARGET:g}×",
            status=verdict(ratio <= TARGET),
            notes=[
                f"postgres: seen(100) + commit_cycle (10 new, 90 touched); filling {big_rows:,} rows took "
                f"{filled[big_rows]:.1f} s (COPY)"
            ],
            values={"median_small_s": t_small, "median_big_s": t_big, "ratio": ratio, "big_rows": big_rows},
        ),
        Row(
            benchmark="postgres: outbox claims, two replicas",
            measured=f"{claimed / elapsed:,.0f} rows/s "
            f"({claimed:,} rows, batches of {CLAIM_BATCH}, {elapsed:.2f} s)",
            target="no row claimed twice",
            status=verdict(both == 0 and claimed == CLAIM_ROWS),
            notes=[
                f"postgres: rows claimed by both replicas: {both}; claimed in all: {claimed} of {CLAIM_ROWS}"
            ],
            values={"rows_per_s": claimed / elapsed, "claimed": claimed, "both": both},
        ),
    ]
