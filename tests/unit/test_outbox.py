"""Delivery: outbox lanes against a real Store and the strict stand-in Discord on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import random
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from loguru import logger

from tests.support.discord_standin import FakeDiscord, Fault
from tests.support.legacy_outbox import legacy_payload
from ticket_alarm.clock import FakeClock, SystemClock
from ticket_alarm.config.routes import STDOUT_ROUTE
from ticket_alarm.config.settings import RouteSettings
from ticket_alarm.core.model import Ticket, seoul
from ticket_alarm.delivery.discord.render import alert_text, render_notice
from ticket_alarm.delivery.discord.webhook import DiscordNotifier, WebhookClient
from ticket_alarm.delivery.notify import NewNotice, Outcome, StdoutNotifier
from ticket_alarm.delivery.outbox import CLAIM_LEASE, CLAIM_RENEW, Delivery
from ticket_alarm.errors import StoreError
from ticket_alarm.store import NewOutboxRow, Store
from ticket_alarm.store.sqlite.backend import SqliteStore

WEBHOOK_ID = "123456789012345678"
OTHER_ID = "223456789012345678"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = SqliteStore.open_file(tmp_path / "store.sqlite3")
    yield s
    await s.close()


def _stop_in_background(fake: FakeDiscord) -> None:
    # shutdown() waits up to 0.5 s for serve_forever's poll; nothing in the test depends on it
    threading.Thread(target=fake.stop, daemon=True).start()


@pytest.fixture
def discord() -> Iterator[FakeDiscord]:
    """conftest's stand-in, without the half-second wait at teardown."""
    fake = FakeDiscord().start()
    yield fake
    _stop_in_background(fake)


@pytest.fixture
def roomy() -> Iterator[FakeDiscord]:
    """A stand-in with a bucket large enough that fake-clock tests never meet the real-time window."""
    fake = FakeDiscord(bucket_limit=1000).start()
    yield fake
    _stop_in_background(fake)


@pytest.fixture
def logs() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m).rstrip("\n")), format="[{level}] {message}", level="INFO")
    yield lines
    logger.remove(sink)


def embed(n: int, **changes: Any) -> dict[str, Any]:
    """The outbox payload of a new-notice Alert (``changes`` apply to its ticket)."""
    ticket = Ticket("melon", str(n), f"공연 {n}", f"https://ticket.melon.com/n/{n}", seoul(2026, 12, 1, 20))
    return NewNotice("멜론티켓", 0x00CD3C, ticket.with_(**changes)).to_json()


def legacy_embed(n: int, **changes: Any) -> dict[str, Any]:
    """A row as versions before Alerts wrote it, as the store's step 5 rewrote it: a legacy Alert carrying
    the Discord embed itself (``changes`` apply to the embed)."""
    ticket = Ticket("melon", str(n), f"공연 {n}", f"https://ticket.melon.com/n/{n}", seoul(2026, 12, 1, 20))
    return legacy_payload({**render_notice(ticket, "멜론티켓", 0x00CD3C), **changes})


async def enqueue(store: Store, route: str, payloads: list[dict[str, Any]], now: float) -> None:
    await store.enqueue(
        [NewOutboxRow(route, "new", "melon", f"k{i}", p) for i, p in enumerate(payloads)], now
    )


def make(
    store: Store, http: httpx.AsyncClient, routes: list[RouteSettings], clock: Any, **kwargs: Any
) -> Delivery:
    webhooks = WebhookClient(http, clock)
    notifiers = [DiscordNotifier.for_route(route, webhooks) for route in routes]
    return Delivery(store, notifiers, clock, rng=random.Random(7), **kwargs)


def titles(fake: FakeDiscord, webhook_id: str | None = None) -> list[str]:
    return [e["title"] for e in fake.embeds(webhook_id)]


def posts(fake: FakeDiscord) -> list[int]:
    return [status for _, status in fake.requests]


# --- one lane ------------------------------------------------------------------------------------------


async def test_batches_of_ten(
    store: Store, roomy: FakeDiscord, http: httpx.AsyncClient, logs: list[str]
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=roomy.add_webhook())
    await enqueue(store, "main", [embed(n) for n in range(23)], clock.now().timestamp())
    delivery = make(store, http, [route], clock)
    assert await delivery.deliver_due("main") == 23
    assert [len(m.payload["embeds"]) for m in roomy.messages] == [10, 10, 3]
    assert titles(roomy) == [f"공연 {n}" for n in range(23)]  # oldest first
    assert all(m.payload["allowed_mentions"]["parse"] == [] for m in roomy.messages)
    sent = await store.outbox_list(status="sent")
    assert len(sent) == 23 and {r.message_id for r in sent} == {m.message_id for m in roomy.messages}
    assert delivery.stats.sent_messages == 3 and delivery.stats.sent_alerts == 23
    # each 알림 전송 line names what it sent: site + title, the first three, the rest counted
    sent_lines = [line for line in logs if line.startswith("[INFO] 알림 전송:")]
    assert len(sent_lines) == 3
    assert sent_lines[0].endswith("melon 「공연 0」, melon 「공연 1」, melon 「공연 2」 and 7 more")
    assert sent_lines[2].endswith("melon 「공연 20」, melon 「공연 21」, melon 「공연 22」")


async def test_one_invalid_embed_is_dead_lettered_and_nine_delivered(
    store: Store, roomy: FakeDiscord, http: httpx.AsyncClient, logs: list[str]
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=roomy.add_webhook())
    payloads = [embed(n) for n in range(10)]
    payloads[4] = legacy_embed(4, title="x" * 300)  # an old row, posted as it is: bypasses fit_embed
    await enqueue(store, "main", payloads, clock.now().timestamp())
    delivery = make(store, http, [route], clock)
    assert await delivery.deliver_due("main") == 9
    assert titles(roomy) == [f"공연 {n}" for n in range(10) if n != 4]
    assert posts(roomy) == [400] + [200] * 4 + [400] + [200] * 5  # the batch, then one by one
    dead = await store.outbox_list(status="dead")
    assert len(dead) == 1 and dead[0].notice_key == "k4"
    assert "HTTP 400" in dead[0].last_error and "title longer than 256" in dead[0].last_error
    assert (await store.outbox_stats()).pending == 0 and delivery.stats.dead == 1
    errors = [line for line in logs if line.startswith("[ERROR]")]
    assert len(errors) == 1 and "title longer than 256" in errors[0] and "dead letter" in errors[0]


async def test_503_reschedules_with_backoff_then_delivers(
    store: Store, roomy: FakeDiscord, http: httpx.AsyncClient, logs: list[str]
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=roomy.add_webhook())
    now = clock.now().timestamp()
    await enqueue(store, "main", [embed(1), embed(2)], now)
    roomy.fail(503, count=2)
    delivery = make(store, http, [route], clock)
    assert await delivery.deliver_due("main") == 0
    rows = await store.outbox_list(status="pending")
    assert [r.attempts for r in rows] == [1, 1]
    first_delay = rows[0].next_attempt_at - now
    assert 2.0 <= first_delay <= 2.5  # base 2 s, up to +25 % jitter
    assert "HTTP 503" in rows[0].last_error
    assert await delivery.drain(timeout=60) == 2
    assert posts(roomy) == [503, 503, 200]
    sent = await store.outbox_list(status="sent")
    assert [r.attempts for r in sent] == [2, 2]
    waits = [s for s in clock.slept if s > 0.001]  # (sub-microsecond catch-up sleeps aside)
    assert len(waits) == 2 and 2.0 <= waits[0] <= 2.5 and 4.0 <= waits[1] <= 5.0  # exponential
    assert any("알림 전송 실패" in line and "HTTP 503" in line for line in logs)
    assert delivery.stats.failures == 2


async def test_429_waits_and_retries_without_counting_an_attempt(
    store: Store, roomy: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=roomy.add_webhook())
    await enqueue(store, "main", [embed(1)], clock.now().timestamp())
    roomy.faults.append(
        Fault(status=429, body={"message": "rate limited", "retry_after": 3.5, "global": False})
    )
    delivery = make(store, http, [route], clock)
    assert await delivery.deliver_due("main") == 1
    assert posts(roomy) == [429, 200]
    assert clock.slept == [3.5]
    [row] = await store.outbox_list(status="sent")
    assert row.attempts == 0
    assert delivery.stats.rate_limited == 1 and delivery.stats.failures == 0


async def test_404_stops_the_lane_and_keeps_the_rows(
    store: Store, roomy: FakeDiscord, http: httpx.AsyncClient, logs: list[str]
) -> None:
    clock = FakeClock()
    url = roomy.add_webhook(WEBHOOK_ID)
    token = url.rsplit("/", 1)[1]
    roomy.delete_webhook(WEBHOOK_ID)
    route = RouteSettings(name="main", webhook_url=url)
    await enqueue(store, "main", [embed(n) for n in range(3)], clock.now().timestamp())
    delivery = make(store, http, [route], clock)
    assert await delivery.deliver_due("main") == 0
    await enqueue(store, "main", [embed(9)], clock.now().timestamp())
    assert await delivery.deliver_due("main") == 0
    assert await delivery.drain(timeout=30) == 0
    assert posts(roomy) == [404]  # exactly one POST: no hammering a deleted webhook
    assert (await store.outbox_stats()).pending == 4 and (await store.outbox_stats()).dead == 0
    assert "main" in delivery.stats.broken and "main" in await store.broken_webhooks()
    errors = [line for line in logs if line.startswith("[ERROR]")]
    assert len(errors) == 1
    assert "route main" in errors[0] and "404" in errors[0] and "/api/webhooks/" in errors[0]
    assert all(token not in line for line in logs)


async def test_401_is_broken_too(store: Store, roomy: FakeDiscord, http: httpx.AsyncClient) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=roomy.add_webhook(WEBHOOK_ID) + "wrong")
    await enqueue(store, "main", [embed(1)], clock.now().timestamp())
    delivery = make(store, http, [route], clock)
    assert await delivery.deliver_due("main") == 0
    assert posts(roomy) == [401] and "main" in delivery.stats.broken


async def test_timeout_is_retried_later(store: Store, roomy: FakeDiscord) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=roomy.add_webhook())
    await enqueue(store, "main", [embed(1)], clock.now().timestamp())
    roomy.fail(hang=True)
    async with httpx.AsyncClient(timeout=0.3) as short:
        delivery = make(store, short, [route], clock)
        assert await delivery.deliver_due("main") == 0
        [row] = await store.outbox_list(status="pending")
        assert row.attempts == 1 and "timeout" in row.last_error
        assert await delivery.drain(timeout=30) == 1
    assert titles(roomy) == ["공연 1"]


async def test_drain_respects_its_timeout_on_a_failing_webhook(
    store: Store, roomy: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=roomy.add_webhook())
    await enqueue(store, "main", [embed(1)], clock.now().timestamp())
    roomy.fail(503, count=-1)
    delivery = make(store, http, [route], clock)
    started = clock.monotonic()
    assert await delivery.drain(timeout=30) == 0
    assert clock.monotonic() - started <= 30
    assert 3 <= len(roomy.requests) <= 6
    [row] = await store.outbox_list(status="pending")
    assert row.attempts == len(roomy.requests)


async def test_drain_respects_its_timeout_on_a_long_rate_limit(
    store: Store, roomy: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=roomy.add_webhook())
    await enqueue(store, "main", [embed(1)], clock.now().timestamp())
    roomy.faults.append(Fault(status=429, body={"message": "slow down", "retry_after": 600, "global": True}))
    delivery = make(store, http, [route], clock)
    started = clock.monotonic()
    assert await delivery.drain(timeout=30) == 0
    assert clock.monotonic() - started <= 30  # a 10-minute wait is left for the next run
    [row] = await store.outbox_list(status="pending")
    assert row.attempts == 0


async def test_drain_waits_out_a_short_rate_limit(
    store: Store, roomy: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=roomy.add_webhook())
    await enqueue(store, "main", [embed(1)], clock.now().timestamp())
    roomy.faults.append(Fault(status=429, body={"message": "slow down", "retry_after": 5, "global": False}))
    delivery = make(store, http, [route], clock)
    assert await delivery.drain(timeout=30) == 1
    assert clock.slept == [5.0] and posts(roomy) == [429, 200]


async def test_rate_limit_inside_a_split_batch(
    store: Store, roomy: FakeDiscord, http: httpx.AsyncClient
) -> None:
    """400 on the batch, then a 429 while sending one by one: nothing lost, nothing sent twice."""
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=roomy.add_webhook())
    payloads = [embed(n) for n in range(4)]
    payloads[0] = legacy_embed(0, title="x" * 300)
    await enqueue(store, "main", payloads, clock.now().timestamp())
    delivery = make(store, http, [route], clock)
    await delivery.deliver_due("main")  # first pass: the bad one is dead, three delivered
    assert posts(roomy) == [400, 400, 200, 200, 200]
    roomy.requests.clear()
    roomy.messages.clear()
    await enqueue(
        store, "main", [legacy_embed(10, title="y" * 300), embed(11), embed(12)], clock.now().timestamp()
    )
    roomy.faults.append(Fault(status=400, body={"message": "Invalid Form Body", "code": 50035}))
    roomy.faults.append(Fault(status=400, body={"message": "Invalid Form Body", "code": 50035}))
    roomy.faults.append(Fault(status=429, body={"message": "slow down", "retry_after": 2, "global": False}))
    assert await delivery.drain(timeout=30) == 2
    assert posts(roomy)[:3] == [400, 400, 429]
    assert titles(roomy) == ["공연 11", "공연 12"]
    assert len(await store.outbox_list(status="dead")) == 2 and (await store.outbox_stats()).pending == 0


async def test_dry_run_prints_and_marks_sent(store: Store, logs: list[str]) -> None:
    clock = FakeClock()
    out = io.StringIO()
    delivery = Delivery(store, [StdoutNotifier(alert_text, clock, out=out)], clock)
    assert delivery.lane_names == [STDOUT_ROUTE]
    await enqueue(store, STDOUT_ROUTE, [embed(1), embed(2)], clock.now().timestamp())
    assert await delivery.drain(timeout=5) == 2
    text = out.getvalue()
    assert text.count("[DRY RUN]") == 2
    assert "[DRY RUN] 멜론티켓 | 공연 1" in text and "링크: https://ticket.melon.com/n/1" in text
    # readable: a KST time and how far off it is, no Discord markup
    assert "티켓 오픈: 2026-12-01 (화) 20:00 KST (30일 후)" in text and "<t:" not in text
    assert len(await store.outbox_list(status="sent")) == 2 and (await store.outbox_stats()).pending == 0
    assert any("dry run" in line and "printed" in line and "「공연 2」" in line for line in logs)


# --- lanes running side by side --------------------------------------------------------------------------


async def test_a_broken_route_does_not_stop_another(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient, logs: list[str]
) -> None:
    clock = SystemClock()
    good = RouteSettings(name="good", webhook_url=discord.add_webhook(WEBHOOK_ID))
    bad = RouteSettings(name="bad", webhook_url=discord.add_webhook(OTHER_ID))
    discord.delete_webhook(OTHER_ID)
    now = time.time()
    await enqueue(store, "good", [embed(n) for n in range(3)], now)
    await enqueue(store, "bad", [embed(n) for n in range(10, 13)], now)
    delivery = make(store, http, [good, bad], clock)
    stop = asyncio.Event()
    runner = asyncio.create_task(delivery.run(stop))
    try:
        await _until(lambda: len(discord.embeds(WEBHOOK_ID)) == 3 and "bad" in delivery.stats.broken)
        await enqueue(store, "good", [embed(n) for n in range(3, 5)], time.time())
        await enqueue(store, "bad", [embed(13)], time.time())
        delivery.notify()
        await _until(lambda: len(discord.embeds(WEBHOOK_ID)) == 5)
    finally:
        stop.set()
        await asyncio.wait_for(runner, timeout=10)
    assert titles(discord, WEBHOOK_ID) == [f"공연 {n}" for n in range(5)]
    assert discord.embeds(OTHER_ID) == []
    assert [s for _, s in discord.requests].count(404) == 1
    assert (await store.outbox_stats()).by_route == {"bad": 4}
    errors = [line for line in logs if line.startswith("[ERROR]")]
    assert len(errors) == 1 and "route bad" in errors[0]


async def test_recheck_resumes_a_repaired_webhook(
    store: Store, roomy: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=roomy.add_webhook(WEBHOOK_ID))
    roomy.delete_webhook(WEBHOOK_ID)
    await enqueue(store, "main", [embed(1)], clock.now().timestamp())
    delivery = make(store, http, [route], clock)
    await delivery.deliver_due("main")
    await delivery._recheck("main")
    assert "main" in delivery.stats.broken  # still deleted: stays stopped
    roomy.deleted.clear()
    await delivery._recheck("main")
    assert "main" not in delivery.stats.broken and await store.broken_webhooks() == {}
    assert await delivery.deliver_due("main") == 1


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_alerts_of_a_removed_route_are_kept_and_named(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient, logs: list[str]
) -> None:
    clock = FakeClock()
    await enqueue(store, "old-route", [embed(1), embed(2)], clock.now().timestamp())
    await enqueue(store, STDOUT_ROUTE, [embed(3)], clock.now().timestamp())  # left unprinted by a dry run
    route = RouteSettings(name="current", webhook_url=discord.add_webhook(WEBHOOK_ID))
    delivery = make(store, http, [route], clock)
    assert await delivery.drain(timeout=5) == 0
    assert await delivery.warn_unrouted() == {"old-route": 2, STDOUT_ROUTE: 1}
    warnings = [
        line for line in logs if line.startswith("[WARNING]") and "not in the config any more" in line
    ]
    assert any("2 alerts wait on route 'old-route'" in line for line in warnings)
    assert (await store.outbox_stats()).pending == 3  # kept, not dropped


# --- claims: a short lease, renewed while a batch is in flight --------------------------------------------


class HangingNotifier(StdoutNotifier):
    """A post that does not come back until the test says so (a slow Discord, a long rate-limit wait)."""

    def __init__(self, clock: FakeClock, route: str = "main") -> None:
        super().__init__(alert_text, clock, out=io.StringIO(), route=route)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, alerts: Any) -> Outcome:
        self.entered.set()
        await self.release.wait()
        return await super().send(alerts)


class RenewTimer:
    """The renewal timer of a Delivery, driven by the test: ``tick()`` lets one renewal happen and
    returns once it is done (the renewer waits for the next tick)."""

    def __init__(self) -> None:
        self.periods: list[float] = []
        self._waiting: asyncio.Queue[None] = asyncio.Queue()
        self._go: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, seconds: float) -> None:
        self.periods.append(seconds)
        self._waiting.put_nowait(None)
        await self._go.get()

    async def tick(self) -> None:
        await self._waiting.get()  # the renewer waits for its period
        self._go.put_nowait(None)
        await self._waiting.get()  # ... and is back to waiting: the renewal is written
        self._waiting.put_nowait(None)


def stdout_lane(store: Store, clock: FakeClock, owner: str) -> tuple[Delivery, io.StringIO]:
    out = io.StringIO()
    return Delivery(
        store, [StdoutNotifier(alert_text, clock, out=out, route="main")], clock, owner=owner
    ), out


def test_the_lease_is_short_and_renewed_well_within_it() -> None:
    assert CLAIM_LEASE == 30.0 and CLAIM_RENEW == 10.0  # the README and docs state these figures


async def test_a_claim_renewed_while_the_post_is_in_flight_stays_its_owners_and_lapses_when_it_dies(
    store: Store,
) -> None:
    clock = FakeClock()
    await enqueue(store, "main", [embed(n) for n in range(3)], clock.now().timestamp())
    hanging, timer = HangingNotifier(clock), RenewTimer()
    a = Delivery(store, [hanging], clock, owner="host-a", renew_timer=timer)
    b, out = stdout_lane(store, clock, "replica-b")
    sending = asyncio.create_task(a.deliver_due("main"))
    await hanging.entered.wait()
    for _ in range(3 * int(CLAIM_LEASE / CLAIM_RENEW)):  # three leases long: a post stuck for 90 s
        clock.advance(CLAIM_RENEW)
        await timer.tick()
        assert await b.deliver_due("main") == 0  # renewed: still host-a's
    assert set(timer.periods) == {CLAIM_RENEW}
    assert {r.lease_owner for r in await store.outbox_list(status="pending")} == {"main@host-a"}

    sending.cancel()  # host-a dies mid-post (kill -9): nothing settled, nothing renewed any more
    with pytest.raises(asyncio.CancelledError):
        await sending
    clock.advance(CLAIM_LEASE - 0.5)
    assert await b.deliver_due("main") == 0  # not before the lease lapses
    clock.advance(0.5)
    assert await b.deliver_due("main") == 3  # 30 s after the last renewal, not 120
    assert out.getvalue().count("[DRY RUN]") == 3 and len(await store.outbox_list(status="sent")) == 3


async def test_the_same_owner_takes_its_rows_back_at_once_after_a_restart(store: Store) -> None:
    """SQLite: the owner is the host (one daemon per data_dir), the same after a restart."""
    clock = FakeClock()
    await enqueue(store, "main", [embed(n) for n in range(2)], clock.now().timestamp())
    hanging = HangingNotifier(clock)
    dead = Delivery(store, [hanging], clock, renew_timer=RenewTimer())
    assert dead.owner == socket.gethostname()
    sending = asyncio.create_task(dead.deliver_due("main"))
    await hanging.entered.wait()
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    other, _ = stdout_lane(store, clock, "somewhere-else")
    assert await other.deliver_due("main") == 0  # held by this host's lane
    restarted, out = stdout_lane(store, clock, socket.gethostname())
    assert await restarted.deliver_due("main") == 2  # no wait at all
    assert out.getvalue().count("[DRY RUN]") == 2


async def test_a_claim_lost_while_stalled_is_said(store: Store, logs: list[str]) -> None:
    clock = FakeClock()
    await enqueue(store, "main", [embed(1)], clock.now().timestamp())
    hanging, timer = HangingNotifier(clock), RenewTimer()
    a = Delivery(store, [hanging], clock, owner="host-a", renew_timer=timer)
    sending = asyncio.create_task(a.deliver_due("main"))
    await hanging.entered.wait()
    clock.advance(CLAIM_LEASE)  # host-a stalled past its lease: another process takes the row
    b, _ = stdout_lane(store, clock, "replica-b")
    assert await b.deliver_due("main") == 1
    await timer.tick()
    assert any("claimed by another process" in line and "does not post them" in line for line in logs)
    hanging.release.set()
    await sending


class FailingRenew(SqliteStore):
    """A real store whose lease renewals during a post fail the way a full disk makes writes fail (the
    fence's renewal just before the post still succeeds)."""

    fenced = 0

    async def renew(self, ids: Any, now: float, **kwargs: Any) -> int:
        if not self.fenced:
            self.fenced += 1
            return await super().renew(ids, now, **kwargs)
        raise StoreError(f"{self.path}: write failed (disk I/O error).")


async def test_a_failed_renewal_is_said_and_the_post_goes_on(tmp_path: Path, logs: list[str]) -> None:
    store = FailingRenew.open_file(tmp_path / "store.sqlite3")
    try:
        clock = FakeClock()
        await enqueue(store, "main", [embed(1), embed(2)], clock.now().timestamp())
        hanging, timer = HangingNotifier(clock), RenewTimer()
        a = Delivery(store, [hanging], clock, owner="host-a", renew_timer=timer)
        sending = asyncio.create_task(a.deliver_due("main"))
        await hanging.entered.wait()
        await timer.tick()
        assert any("not renewed" in line and "disk I/O error" in line for line in logs)
        hanging.release.set()
        assert await sending == 2  # the post was not stopped by it
        assert len(await store.outbox_list(status="sent")) == 2
    finally:
        await store.close()


# --- a write owed after the post: said where health reads it, in the operator's language ------------


class FailingSettle(SqliteStore):
    """A real store that takes the claim but refuses the write after the post (a disk that just filled)."""

    async def settle(self, ids: Any, outcome: Any, now: float) -> int:
        raise StoreError(f"{self.path}: write failed (database or disk is full).")


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("ko", "Discord가 응답한 뒤 저장소 쓰기에 실패했습니다 (sent)"),
        ("en", "store write failed after Discord answered (sent)"),
    ],
)
async def test_a_write_owed_after_the_post_is_left_for_health_in_the_operators_language(
    tmp_path: Path, logs: list[str], lang: str, said: str
) -> None:
    from ticket_alarm import i18n
    from ticket_alarm.store import StatusFile

    i18n.set_language(lang)
    try:
        store = FailingSettle.open_file(tmp_path / "store.sqlite3")
        clock = FakeClock()
        await enqueue(store, "main", [embed(1)], clock.now().timestamp())
        status = StatusFile(tmp_path)
        status.prepare()
        out = io.StringIO()
        lane = Delivery(
            store, [StdoutNotifier(alert_text, clock, out=out, route="main")], clock, status=status
        )
        await lane.deliver_due("main")
        assert out.getvalue().count("[DRY RUN]") == 1  # posted once; the write is owed, not the post
        problem = StatusFile.read(tmp_path)
        assert problem is not None and said in problem and "database or disk is full" in problem
        assert any(line.startswith("[ERROR] 알림 전송 실패: ") and said in line for line in logs)
        await store.close()
    finally:
        i18n.set_language("en")
