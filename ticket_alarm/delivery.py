"""Delivery: drain the outbox to Discord, one lane per route, each with its own rate-limit bucket.

- batches of up to 10 embeds / 6000 characters, oldest first;
- 429: wait ``retry_after`` and retry without counting a failure;
- 5xx / timeouts: exponential backoff on the rows, retried forever (nothing is dropped);
- 400: the batch is split and sent one by one; a single embed Discord still refuses becomes a
  dead letter with Discord's error body logged;
- 401/403/404: the webhook is gone: stop sending on that lane, keep its rows, log one ERROR,
  re-check with a GET every ``BROKEN_RECHECK`` seconds (never hammer: Discord bans after 10,000
  invalid requests in 10 minutes).
Without any webhook (dry run) alerts are printed to stdout as they would be sent.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from loguru import logger

from ticket_alarm.clock import Clock
from ticket_alarm.config import RouteSettings, mask_url
from ticket_alarm.discord import PostOutcome, WebhookClient, batch_size, embed_text, message
from ticket_alarm.store import OutboxItem, Store

DRY_RUN_ROUTE = "dry-run"
BACKOFF_BASE = 2.0
BACKOFF_CAP = 60.0
BROKEN_RECHECK = 900.0
IDLE_POLL = 5.0


@dataclass
class DeliveryStats:
    sent_messages: int = 0
    sent_alerts: int = 0
    failures: int = 0
    dead: int = 0
    rate_limited: int = 0
    broken: set[str] = field(default_factory=set)


class Delivery:
    def __init__(
        self,
        store: Store,
        webhooks: WebhookClient | None,
        routes: Sequence[RouteSettings],
        clock: Clock,
        *,
        dry_run_out: TextIO | None = None,
        rng: random.Random | None = None,
        backoff_base: float = BACKOFF_BASE,
        backoff_cap: float = BACKOFF_CAP,
    ) -> None:
        self.store = store
        self.webhooks = webhooks
        self.routes = {r.name: r for r in routes}
        self.clock = clock
        self.dry_run_out = dry_run_out
        self.rng = rng or random.Random()
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.stats = DeliveryStats()
        self.wake = asyncio.Event()
        self._broken_logged: set[str] = set()
        # Backoff holds the whole lane, not only the failed rows: otherwise every row (and every alert
        # arriving meanwhile) retries on its own schedule and a 60-s outage draws dozens of requests.
        self._hold_until: dict[str, float] = {}  # lane → clock.now() timestamp before which it sends nothing
        self._lane_failures: dict[str, int] = {}  # consecutive 5xx/timeouts of the lane
        # set by run(): once it is set no new request starts (the one in flight finishes and is marked
        # sent), so a shutdown never cancels a request Discord may already have accepted
        self._stop: asyncio.Event | None = None
        self.on_sent: Callable[[str, int], None] | None = None

    @property
    def lane_names(self) -> list[str]:
        return list(self.routes) if self.routes else [DRY_RUN_ROUTE]

    def notify(self) -> None:
        """Called after rows were enqueued: lanes wake up now instead of at their next poll."""
        self.wake.set()

    # --- one pass ------------------------------------------------------------------
    async def deliver_due(self, lane: str, *, deadline: float | None = None) -> int:
        """Send everything due on ``lane`` now; returns alerts delivered. Stops early on a broken webhook,
        and, given a ``deadline`` (clock.monotonic), before waiting out a rate limit that ends after it."""
        delivered = 0
        while True:
            if lane in self.stats.broken or (self._stop is not None and self._stop.is_set()):
                return delivered
            if deadline is not None and self.clock.monotonic() + self._bucket_wait(lane) > deadline:
                return delivered
            if self._hold_wait(lane) > 0:  # backing off after a failure: the next pass waits for it
                return delivered
            items = self.store.pending(lane, self.clock.now().timestamp(), limit=MAX_BATCH_ROWS)
            if not items:
                return delivered
            # rows rescheduled for backoff drop out of the next `pending`; rate-limited ones stay due
            # and the next execute waits for the bucket first
            delivered += await self._send_batch(lane, items)

    def _hold_wait(self, lane: str) -> float:
        return max(0.0, self._hold_until.get(lane, 0.0) - self.clock.now().timestamp())

    def _next_due(self, lane: str) -> float | None:
        """When the lane has something to send: its oldest due row, but not before its backoff ends."""
        next_due = self.store.next_due(lane)
        return None if next_due is None else max(next_due, self._hold_until.get(lane, 0.0))

    def _bucket_wait(self, lane: str) -> float:
        route = self.routes.get(lane)
        if route is None or self.webhooks is None:
            return 0.0
        return self.webhooks.bucket_wait(route.webhook_url)

    async def _send_batch(self, lane: str, items: list[OutboxItem]) -> int:
        if lane == DRY_RUN_ROUTE:
            return self._print(items)
        route = self.routes[lane]
        count = batch_size([i.payload for i in items])
        batch = items[:count]
        outcome = await self._post(route, batch)
        if outcome.kind == "dead" and len(batch) > 1:
            # one bad embed must not take nine good ones with it: send them one by one
            sent = 0
            for item in batch:
                single = await self._post(route, [item])
                sent += await self._apply(route, [item], single)
                if single.kind in ("broken", "rate_limited", "retry"):
                    break  # the rest stay due: the next pass waits for the bucket/backoff (or its deadline)
            return sent
        return await self._apply(route, batch, outcome)

    async def _post(self, route: RouteSettings, batch: list[OutboxItem]) -> PostOutcome:
        assert self.webhooks is not None
        payload = message([i.payload for i in batch], role_ids=route.mention_role_ids)
        logger.debug(
            "route {}: posting {} embed(s) to {}", route.name, len(batch), mask_url(route.webhook_url)
        )
        return await self.webhooks.execute(route.webhook_url, payload, thread_id=route.thread_id)

    async def _apply(self, route: RouteSettings, batch: list[OutboxItem], outcome: PostOutcome) -> int:
        ids = [i.id for i in batch]
        now = self.clock.now().timestamp()
        if outcome.kind == "sent":
            self._hold_until.pop(route.name, None)
            self._lane_failures.pop(route.name, None)
            self.store.mark_sent(ids, now, outcome.message_id)
            self.stats.sent_messages += 1
            self.stats.sent_alerts += len(ids)
            logger.info(
                "알림 전송: {}건 (route {}, message {}) — {}",
                len(ids),
                route.name,
                outcome.message_id or "-",
                sent_summary(batch),
            )
            if self.on_sent:
                self.on_sent(route.name, len(ids))
            return len(ids)
        if outcome.kind == "rate_limited":
            self.stats.rate_limited += 1
            logger.warning(
                "Discord rate limit on route {}: waiting {:.1f}s (not counted as a failure)",
                route.name,
                outcome.retry_after or 0,
            )
            return 0  # the bucket now holds the wait; the next execute sleeps it out
        if outcome.kind == "retry":
            attempts = max(i.attempts for i in batch) + 1
            failures = self._lane_failures.get(route.name, 0) + 1
            self._lane_failures[route.name] = failures
            delay = min(self.backoff_cap, self.backoff_base * 2 ** (max(attempts, failures) - 1))
            delay *= 1 + self.rng.uniform(0, 0.25)
            self._hold_until[route.name] = now + delay
            self.store.mark_retry(ids, outcome.error, now + delay)
            self.stats.failures += 1
            logger.warning(
                "알림 전송 실패: route {} {} — {}건 retried in {:.0f}s (attempt {})",
                route.name,
                outcome.error,
                len(ids),
                delay,
                attempts,
            )
            return 0
        if outcome.kind == "dead":
            self.store.mark_dead(ids, outcome.error)
            self.stats.dead += len(ids)
            logger.error(
                "알림 전송 실패: route {} refused {}건 permanently ({}); kept as dead letters",
                route.name,
                len(ids),
                outcome.error,
            )
            return 0
        # broken webhook
        self.stats.broken.add(route.name)
        self.store.mark_webhook_broken(route.name, outcome.error[:500], now)
        if route.name not in self._broken_logged:
            self._broken_logged.add(route.name)
            logger.error(
                "알림 전송 실패: {} Sending on this route is stopped; its pending alerts are kept.",
                broken_webhook_text(route, outcome.status),
            )
        return 0

    def _print(self, items: list[OutboxItem]) -> int:
        out = self.dry_run_out or sys.stdout
        now = self.clock.now()
        for item in items:
            out.write(embed_text(item.payload, now))
        out.flush()
        self.store.mark_sent([i.id for i in items], now.timestamp(), None)
        self.stats.sent_alerts += len(items)
        logger.info(
            "알림 전송: {}건 printed (dry run: no webhook configured, nothing sent to Discord) — {}",
            len(items),
            sent_summary(items),
        )
        return len(items)

    # --- lanes ---------------------------------------------------------------------
    async def run_lane(self, lane: str, stop: asyncio.Event) -> None:
        self._stop = stop
        while not stop.is_set():
            try:
                if lane in self.stats.broken:
                    await self._wait(stop, BROKEN_RECHECK)
                    if not stop.is_set():
                        await self._recheck(lane)
                    continue
                await self.deliver_due(lane)
                next_due = self._next_due(lane)
                now = self.clock.now().timestamp()
                timeout = IDLE_POLL if next_due is None else min(IDLE_POLL, max(0.0, next_due - now))
                if timeout > 0:
                    await self._wait(stop, timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a store error must not kill the lane silently
                logger.error(
                    "알림 전송 실패: lane {} stopped by {}: {}; retrying in {}s",
                    lane,
                    type(exc).__name__,
                    exc,
                    IDLE_POLL,
                )
                await self._wait(stop, IDLE_POLL)

    async def _wait(self, stop: asyncio.Event, timeout: float) -> None:
        self.wake.clear()
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _recheck(self, lane: str) -> None:
        route = self.routes.get(lane)
        if route is None or self.webhooks is None:
            return
        status = await self.webhooks.probe(route.webhook_url)
        if status == 200:
            logger.info("route {}: webhook answers again; resuming delivery", lane)
            self.stats.broken.discard(lane)
            self._broken_logged.discard(lane)
            self.store.clear_webhook_broken(lane)

    def warn_unrouted(self) -> dict[str, int]:
        """Pending alerts on routes that are no longer configured: kept, and said so (never silently)."""
        orphans = {
            route: count
            for route, count in self.store.outbox_stats().by_route.items()
            if route not in self.lane_names  # dry-run rows left unprinted count too, once webhooks are set
        }
        for route, count in orphans.items():
            logger.warning(
                "알림 전송 실패: {} alerts wait on route {!r}, which is not in the config any more; they are "
                "kept in the outbox — add the route back (same name) to deliver them",
                count,
                route,
            )
        return orphans

    async def run(self, stop: asyncio.Event) -> None:
        self.warn_unrouted()
        lanes = [
            asyncio.create_task(self.run_lane(name, stop), name=f"lane-{name}") for name in self.lane_names
        ]
        try:
            await asyncio.gather(*lanes)
        finally:
            for task in lanes:
                task.cancel()

    async def drain(self, timeout: float) -> int:
        """Deliver what is due on every lane, waiting out rate limits/backoff up to ``timeout`` seconds."""
        self.warn_unrouted()
        deadline = self.clock.monotonic() + timeout
        total = 0
        for lane in self.lane_names:
            while lane not in self.stats.broken:
                total += await self.deliver_due(lane, deadline=deadline)
                next_due = self._next_due(lane)
                if next_due is None:
                    break
                # backoff of rescheduled rows, or a rate limit holding rows that are already due
                wait = max(next_due - self.clock.now().timestamp(), self._bucket_wait(lane))
                if self.clock.monotonic() + max(0.0, wait) > deadline:
                    break
                if wait > 0:
                    await self.clock.sleep(wait)
        return total


MAX_BATCH_ROWS = 10


def broken_webhook_text(route: RouteSettings, status: int | None) -> str:
    """Why a webhook that answers 401/403/404 will never take an alert, and what to do (once, send-test)."""
    return (
        f"route {route.name} webhook {mask_url(route.webhook_url)} answered {status} — the webhook was "
        "deleted or its token is wrong. Create a new webhook in Discord (channel settings → "
        "Integrations → Webhooks → Copy Webhook URL), put its URL in the config and restart."
    )


SUMMARY_TITLES = 3  # notices named in one 알림 전송 line; the rest are counted
SUMMARY_TITLE_CHARS = 30


def sent_summary(items: Sequence[OutboxItem]) -> str:
    """``melon 「아이유 콘서트…」, yes24 「…」 외 2건``: which notices a 알림 전송 line is about."""
    names = []
    for item in items[:SUMMARY_TITLES]:
        title = " ".join(str(item.payload.get("title", "")).split())
        if len(title) > SUMMARY_TITLE_CHARS:
            title = title[: SUMMARY_TITLE_CHARS - 1].rstrip() + "…"
        names.append(f"{item.site} 「{title}」")
    more = len(items) - SUMMARY_TITLES
    return ", ".join(names) + (f" 외 {more}건" if more > 0 else "")
