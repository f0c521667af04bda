"""Delivery of N queued notices to the stand-in Discord, against its 5-requests-per-2-s bucket.

Real parts: the async ``SqliteStore`` in a temp dir (N "new" outbox rows on route ``default``, Alerts of
the four sites' fixture notices, rendered at send time), ``Delivery.drain`` with the
real ``WebhookClient`` on an ``httpx.AsyncClient`` and the real ``SystemClock``, posting over real
sockets to ``tests.support.discord_standin.FakeDiscord`` on 127.0.0.1.

The bound: the stand-in uses a fixed window of ``window`` seconds that opens at the first request
and allows ``limit`` requests. An ideal client sends messages 1–5 at t=0, 6–10 at t=2 s, …, so
``m`` messages need ``(ceil(m / limit) - 1) * window`` seconds until the last one goes out
(500 notices → 50 messages → 18 s; 100 → 10 → 2 s). ``m`` is how many messages the embeds need
(≤ 10 embeds and ≤ 6000 characters each, packed in order), computed with the project's own
``batch_size``. Measured = wall time of ``drain`` until every row is sent.
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench_common import Row, say, verdict
from benchmarks.bench_sites import FIXTURES
from crawlers import melon, ticketlink, yes24
from crawlers.base import Crawler
from crawlers.interpark import site as interpark
from tests.support.discord_standin import FakeDiscord
from ticket_alarm.clock import SystemClock
from ticket_alarm.core.model import Ticket
from ticket_alarm.delivery.discord.render import batch_size, render_alert
from ticket_alarm.delivery.discord.webhook import DiscordNotifier, WebhookClient
from ticket_alarm.delivery.notify import Alert, NewNotice
from ticket_alarm.delivery.outbox import MAX_BATCH_ROWS, Delivery
from ticket_alarm.store import NewOutboxRow, OutboxStats
from ticket_alarm.store.sqlite.backend import SqliteStore

ROUTE = "default"
BUCKET_LIMIT = 5
BUCKET_WINDOW = 2.0
TARGET = 1.1
TIMEOUT = 180.0  # seconds drain may take at most (the bound for 500 notices is 18 s)


def fixture_tickets() -> list[tuple[type[Crawler], Ticket]]:
    """Every notice of the four sites' saved list pages, parsed by the crawlers' own ``parse``."""
    out: list[tuple[type[Crawler], Ticket]] = []
    sources: list[tuple[Any, str]] = [
        (interpark, "interpark/notice-list_offset*_size50.json"),
        (yes24, "yes24/axList_page*.html"),
        (melon, "melon/listTicketOpen_pageIndex*.html"),
        (ticketlink, "ticketlink/getNoticeList_page*.json"),
    ]
    for module, pattern in sources:
        site, glob = pattern.split("/")
        for path in sorted((FIXTURES / site).glob(glob)):
            out += [(module.CRAWLER, t) for t in module.parse(path.read_bytes(), str(path))]
    return out


def outbox_rows(count: int) -> list[NewOutboxRow]:
    pool = fixture_tickets()
    rows = []
    for n in range(count):
        crawler, ticket = pool[n % len(pool)]
        ticket = ticket.with_(id=f"{ticket.id}-{n}") if n >= len(pool) else ticket
        alert = NewNotice(crawler.display_name, crawler.color, ticket).to_json()
        rows.append(NewOutboxRow(ROUTE, "new", crawler.name, ticket.key, alert))
    return rows


def messages_needed(rows: list[NewOutboxRow]) -> int:
    """How many messages ``Delivery`` needs for these rows (its own packing rule)."""
    embeds = [render_alert(Alert.from_json(r.payload)) for r in rows]
    count = 0
    while embeds:
        take = batch_size(embeds[:MAX_BATCH_ROWS])
        embeds = embeds[take:]
        count += 1
    return count


def bucket_bound(messages: int, limit: int = BUCKET_LIMIT, window: float = BUCKET_WINDOW) -> float:
    """Seconds a fixed ``limit``-per-``window`` bucket needs until the last of ``messages`` goes out."""
    return (math.ceil(messages / limit) - 1) * window if messages else 0.0


async def _deliver(
    data_dir: Path, rows: list[NewOutboxRow], url: str, announce: str
) -> tuple[float, Delivery, WebhookClient, OutboxStats]:
    """Queue ``rows`` in a fresh store, then time ``drain`` until every row is sent."""
    store = SqliteStore.open_dir(data_dir)
    try:
        await store.enqueue(rows, time.time())
        say(announce)
        clock = SystemClock()
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0), trust_env=False) as client:
            webhooks = WebhookClient(client, clock)
            delivery = Delivery(store, [DiscordNotifier(ROUTE, url, webhooks)], clock)
            started = time.monotonic()
            await delivery.drain(TIMEOUT)
            elapsed = time.monotonic() - started
        return elapsed, delivery, webhooks, await store.outbox_stats()
    finally:
        await store.close()


def run(quick: bool) -> list[Row]:
    count = 100 if quick else 500
    rows = outbox_rows(count)
    messages = messages_needed(rows)
    bound = bucket_bound(messages)
    discord = FakeDiscord(bucket_limit=BUCKET_LIMIT, bucket_window=BUCKET_WINDOW).start()
    try:
        url = discord.add_webhook()
        with tempfile.TemporaryDirectory(prefix="ta-bench-delivery-") as tmp:
            announce = f"  delivery: {count} notices → {messages} messages, bound {bound:.1f} s …"
            elapsed, delivery, webhooks, stats = asyncio.run(_deliver(Path(tmp), rows, url, announce))
        posts = [at for at, _status in discord.requests]
        delivered = len(discord.embeds())
        sent_messages = len(discord.messages)
        count_429 = discord.count_429
    finally:
        discord.stop()
    ratio = elapsed / bound if bound > 0 else float("nan")
    complete = delivered == count and stats.pending == 0 and stats.dead == 0
    notes = [
        f"delivery: {sent_messages} messages accepted, {len(posts)} POSTs, {count_429} × 429 "
        f"(client counted {webhooks.rate_limited}), first→last POST {posts[-1] - posts[0]:.2f} s"
        if posts
        else "delivery: no POST reached the stand-in",
    ]
    if not complete:
        notes.append(
            f"delivery: INCOMPLETE — {delivered}/{count} embeds arrived, {stats.pending} pending, "
            f"{stats.dead} dead after {elapsed:.1f} s (failures {delivery.stats.failures})"
        )
    return [
        Row(
            benchmark=f"delivery: {count} notices, {BUCKET_LIMIT} req/{BUCKET_WINDOW:g} s bucket",
            measured=f"{elapsed:.2f} s vs bound {bound:.2f} s ({messages} msgs), 429s: {count_429}",
            ratio=f"{ratio:.3f}×",
            target=f"≤ {TARGET:g}×",
            status=verdict(complete and ratio <= TARGET),
            notes=notes,
            values={
                "notices": count,
                "messages": messages,
                "seconds": elapsed,
                "bound_s": bound,
                "ratio": ratio,
                "count_429": count_429,
                "delivered": delivered,
            },
        )
    ]
