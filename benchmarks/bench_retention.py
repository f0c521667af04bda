"""Store size over 10,000 cycles: an unchanged site, and one alert a cycle pruned after retention_days.

What runs: the async SQLite store (``ticket_alarm.store.sqlite.backend.SqliteStore``: the engine on its
worker thread, WAL, the migrations) with the writes the daemon makes for one site each cycle —
``commit_cycle`` of a 100-notice list met again (100 ``last_seen`` bumps + the site state), the list
page's HTTP-cache entry, the heartbeat — on a virtual clock one hour per cycle (10,000 cycles ≈ 416
days, so the 90-day retention is crossed), with ``prune`` every 6 virtual hours as the daemon runs it.
The second scenario adds one delivered alert per cycle (an outbox row settled ``Sent`` + a digest-log
line): without pruning it grows without bound; with it the size levels off once rows older than 90
days go.

Measured: the file size (main + WAL after a checkpoint) at the half-way point and at the end;
target: the end ≤ 1.1× the half-way size (flat).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from benchmarks.bench_common import Row, say, verdict
from ticket_alarm.store.api import (
    DEFAULT_RETENTION_DAYS,
    Cycle,
    DigestEvent,
    HistoryRow,
    NewOutboxRow,
    Sent,
    SiteState,
)
from ticket_alarm.store.sqlite.backend import SqliteStore

SITE = "benchsite"
NOTICES = 100
HOUR = 3600.0
PRUNE_EVERY_CYCLES = 6
TARGET = 1.1


def _checkpointed_size(store: SqliteStore) -> int:
    store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = store.path.with_name(store.path.name + "-wal")
    return store.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


async def _size(store: SqliteStore) -> int:
    # on the store's worker thread, where its connection lives (between two store calls)
    return await store._run(_checkpointed_size, store)


async def _soak(path: Path, cycles: int, *, alert_each_cycle: bool) -> tuple[int, int, int]:
    store = SqliteStore.open_file(path)
    try:
        now = 1_800_000_000.0
        keys = [f"{SITE}:{n}" for n in range(NOTICES)]
        ticket = {
            "site": SITE,
            "title": "[서울] 2027 전국투어 콘서트 티켓 오픈 안내",
            "open_at": None,
            "url": "x" * 60,
        }
        await store.commit_cycle(
            Cycle(
                SITE,
                now,
                SiteState(SITE, initialized=True),
                history=[HistoryRow(k, "d", SITE, k, ticket["title"], ticket) for k in keys],
            )
        )
        sizes = [await _size(store)]
        page = b"<html>" + b"x" * 40_000 + b"</html>"
        for cycle in range(1, cycles + 1):
            now += HOUR
            outbox = [NewOutboxRow("a", "change", SITE, keys[0], {"title": "t", "embed": "y" * 600})]
            result = await store.commit_cycle(
                Cycle(
                    SITE,
                    now,
                    SiteState(SITE, initialized=True, last_success=now, last_count=NOTICES),
                    touched=keys,
                    outbox=outbox if alert_each_cycle else (),
                    events=[DigestEvent(keys[0], "confirmed", "d", ticket)] if alert_each_cycle else (),
                )
            )
            if result.outbox_ids:
                await store.settle(result.outbox_ids, Sent("m"), now + 1)
            await store.remember_response("GET https://bench.invalid/list", '"etag"', None, page, now)
            await store.heartbeat(now)
            if cycle % PRUNE_EVERY_CYCLES == 0:
                await store.prune(now, DEFAULT_RETENTION_DAYS)
            if cycle == cycles // 2:
                sizes.append(await _size(store))
        sizes.append(await _size(store))
        return sizes[0], sizes[1], sizes[2]
    finally:
        await store.close()


def soak(path: Path, cycles: int, *, alert_each_cycle: bool) -> tuple[int, int, int]:
    """(size after the first cycle, at half-way, at the end) in bytes."""
    return asyncio.run(_soak(path, cycles, alert_each_cycle=alert_each_cycle))


def run(quick: bool) -> list[Row]:
    cycles = 1000 if quick else 10_000
    rows = []
    for alert in (False, True):
        label = "one alert a cycle, pruned" if alert else "unchanged site"
        say(f"  retention: {cycles:,} cycles, {label} …")
        with tempfile.TemporaryDirectory() as tmp:
            first, half, end = soak(Path(tmp) / "s.sqlite3", cycles, alert_each_cycle=alert)
        ratio = end / half
        rows.append(
            Row(
                benchmark=f"retention: store size over {cycles:,} hourly cycles, {label}",
                measured=f"{first / 1024:.0f} KiB → {half / 1024:.0f} KiB (half) → {end / 1024:.0f} KiB",
                ratio=f"{ratio:.2f}×",
                target=f"end ≤ {TARGET:g}× half-way",
                status=verdict(ratio <= TARGET),
                values={
                    "cycles": cycles,
                    "first": first,
                    "half": half,
                    "end": end,
                    "alert_each_cycle": alert,
                },
            )
        )
    return rows
