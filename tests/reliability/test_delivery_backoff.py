"""Regression tests, on the fake clock, for the two delivery fixes the reliability suite led to.

1. Backoff holds the whole lane: during an outage the alerts that keep arriving wait for the lane's
   backoff instead of each trying on its own schedule (before: 80 requests in a 60-s outage for 20
   alerts; now one request per backoff step), and after recovery they go out oldest first.
2. Once the daemon is stopping no new request starts; the one in flight finishes and is marked sent
   (before: the lane kept sending until the shutdown cancelled a request Discord had accepted, and
   that message was sent again after the restart).
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.discord_standin import FakeDiscord
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.settings import RouteSettings
from ticket_alarm.core.model import Ticket, seoul
from ticket_alarm.delivery.discord.webhook import DiscordNotifier, WebhookClient
from ticket_alarm.delivery.notify import NewNotice
from ticket_alarm.delivery.outbox import BACKOFF_BASE, BACKOFF_CAP, Delivery
from ticket_alarm.store import NewOutboxRow, Store
from ticket_alarm.store.sqlite.backend import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = SqliteStore.open_file(tmp_path / "store.sqlite3")
    yield s
    await s.close()


@pytest.fixture
def discord() -> Iterator[FakeDiscord]:
    fake = FakeDiscord(bucket_limit=1000).start()
    yield fake
    threading.Thread(target=fake.stop, daemon=True).start()


def _embed(n: int) -> dict[str, Any]:
    ticket = Ticket("melon", str(n), f"공연 {n}", f"https://ticket.melon.com/n/{n}", seoul(2026, 12, 1, 20))
    return NewNotice("멜론티켓", 0x00CD3C, ticket).to_json()


async def _enqueue(store: Store, n: int, now: float) -> None:
    await store.enqueue([NewOutboxRow("default", "new", "melon", f"k{n}", _embed(n))], now)


async def test_an_outage_costs_one_request_per_backoff_step(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="default", webhook_url=discord.add_webhook())
    delivery = Delivery(
        store, [DiscordNotifier.for_route(route, WebhookClient(http, clock))], clock, rng=random.Random(1)
    )
    discord.fail(503, count=-1)
    for n in range(20):  # an alert every 3 s for 60 s, the lane passing after each
        await _enqueue(store, n, clock.now().timestamp())
        await delivery.deliver_due("default")
        clock.advance(3.0)
    posts = len(discord.requests)
    assert posts <= 2 + math.log2(60 / BACKOFF_BASE), f"{posts} requests during a 60-s outage"
    assert (await store.outbox_stats()).pending == 20
    discord.clear_faults()
    clock.advance(BACKOFF_CAP * 1.25)  # the longest the lane can be holding
    await delivery.deliver_due("default")
    assert (await store.outbox_stats()).pending == 0
    titles = [e["title"] for e in discord.embeds()]
    assert titles == [f"공연 {n}" for n in range(20)], "after recovery the backlog goes out oldest first"


async def test_no_request_starts_once_stopping(store: Store, http: httpx.AsyncClient) -> None:
    slow = FakeDiscord(bucket_limit=1000, delay=0.3).start()
    try:
        clock = FakeClock()
        route = RouteSettings(name="default", webhook_url=slow.add_webhook())
        delivery = Delivery(store, [DiscordNotifier.for_route(route, WebhookClient(http, clock))], clock)
        for n in range(25):
            await _enqueue(store, n, clock.now().timestamp())
        stop = asyncio.Event()
        lanes = asyncio.create_task(delivery.run(stop))
        deadline = time.monotonic() + 5
        while not slow.in_flight():
            assert time.monotonic() < deadline, "no request went out"
            await asyncio.sleep(0.01)
        stop.set()  # SIGTERM while the first message waits for its answer
        await asyncio.wait_for(lanes, timeout=5)
        assert len(slow.messages) == 1, "a request started after the stop"
        stats = await store.outbox_stats()
        assert (stats.sent, stats.pending) == (10, 15), "the message in flight finished and was marked sent"
    finally:
        threading.Thread(target=slow.stop, daemon=True).start()
