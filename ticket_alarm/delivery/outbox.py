"""Delivery: drain the outbox through Notifiers, one lane per destination of a route, oldest first.

The outbox holds Alerts (``notify.Alert.to_json()``; rows an older version left as Discord embeds were
rewritten by the store's schema step 5 as ``legacy`` Alerts carrying the embed). Each lane's
``Notifier`` renders them at send time and says how many fit one send (Discord: 10 embeds / 6000
characters) and how long its rate limit holds. The drainer applies the policy to what the notifier
answers (``notify.Outcome``):

- rate_limited: wait it out, not counted as a failure;
- retry (Discord: 5xx, timeouts, redirects, answers that are not Discord's JSON): exponential
  backoff of the whole lane, retried forever (nothing is dropped);
- dead (Discord's JSON 400): the batch is split and sent one by one; a single alert still refused
  becomes a dead letter with the error logged — unless every single of the batch is refused the
  same way, which is the lane's problem (backoff), not theirs. ``outbox retry-dead`` resends dead
  letters after the cause is fixed;
- broken (Discord's JSON 401/404, a JSON 403): the destination is gone: stop sending on that lane,
  keep its rows, log one ERROR, probe again every ``BROKEN_RECHECK`` seconds (never hammer: Discord
  bans after 10,000 invalid requests in 10 minutes). A successful send or a changed destination
  (fingerprint) clears the mark at once;
- a store write error after a send was accepted: the lane keeps the batch's ids in memory, sends
  nothing else and retries only the write (said once; ``health`` goes CRITICAL).
The dry run is a notifier too (``notify.StdoutNotifier``): alerts printed as they would be sent.

A lane ``claim``s its batch (at most ``MAX_BATCH_ROWS`` rows) for its owner, ``ROUTE@IDENTITY``: the
process's identity, the host name on SQLite (one daemon per data_dir, so a restarted daemon takes its
own rows back at once) and the replica id on PostgreSQL (one per process: a new one after a restart).
The claim is a lease of ``CLAIM_LEASE`` (30 s), renewed every ``CLAIM_RENEW`` (10 s) while the batch is
in flight — a post may legitimately take longer (rate-limit waits, the http timeout) — so a process
killed mid-post (kill -9) leaves its batch to another owner at most 30 s after its last renewal.
"""

from __future__ import annotations

import asyncio
import functools
import random
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from loguru import logger

from ticket_alarm.clock import Clock
from ticket_alarm.config.routes import RouteSettings
from ticket_alarm.delivery.edits import Edits
from ticket_alarm.delivery.held import Bundle, Holds
from ticket_alarm.delivery.joins import Joins
from ticket_alarm.delivery.lease import renew_lease
from ticket_alarm.delivery.notify import Alert, AlertFormatError, Notifier, Outcome
from ticket_alarm.delivery.summary import sent_summary
from ticket_alarm.errors import StoreError
from ticket_alarm.i18n import t
from ticket_alarm.logs import redact
from ticket_alarm.store import OutboxItem, StatusFile
from ticket_alarm.store.api import Dead, Retry, Sent, Store

BACKOFF_BASE = 2.0
BACKOFF_CAP = 60.0
BROKEN_RECHECK = 900.0
IDLE_POLL = 5.0
STORE_RETRY_CAP = 30.0  # a lane whose store reads fail (unreachable) tries again after 1, 2, 4 … 30 s


@dataclass
class DeliveryStats:
    sent_messages: int = 0
    sent_alerts: int = 0
    failures: int = 0
    dead: int = 0
    rate_limited: int = 0
    broken: set[str] = field(default_factory=set)
    store_errors: int = 0


class Delivery:
    def __init__(
        self,
        store: Store,
        notifiers: Sequence[Notifier],
        clock: Clock,
        *,
        rng: random.Random | None = None,
        backoff_base: float = BACKOFF_BASE,
        backoff_cap: float = BACKOFF_CAP,
        status: StatusFile | None = None,
        owner: str | None = None,
        renew_timer: Callable[[float], Awaitable[None]] = asyncio.sleep,
        routes: Mapping[str, RouteSettings] | None = None,
    ) -> None:
        # who this process is to the store's claims: the host (SQLite), the replica id (PostgreSQL)
        self.owner = owner or socket.gethostname()
        # waits between lease renewals of a batch in flight, in real time: a FakeClock's sleep returns at
        # once (it would spin, moving the clock); tests drive it themselves
        self.renew_timer = renew_timer
        self._held: dict[str, set[int]] = {}  # lane → ids of its batch in flight not settled yet
        self.status = status  # where a store write error is told to `health` (the store cannot hold it)
        # lane → the store write still owed after a post (mark_sent/mark_dead): nothing else is posted on
        # that lane until it succeeds, so an accepted batch is never posted twice
        self._unsettled: dict[str, list[Callable[[], Awaitable[object]]]] = {}
        self._marks_checked = False
        self._posting = 0  # batches being sent now (a post in flight, then its store write)
        # set by the daemon when a store error stops it: lanes claim nothing new, owed writes go on
        self.halted = False
        self.store = store
        self.holds = Holds(store, clock, routes or {})  # each lane's quiet hours and digest
        self.edits = Edits(self, routes or {})  # each lane's posts edited in place (on_change)
        self.joins = Joins(self.edits)  # a later vendor's notice added to its show's message
        self.notifiers = {n.route: n for n in notifiers}
        self.clock = clock
        self.rng = rng or random.Random()
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.stats = DeliveryStats()
        self.wake = asyncio.Event()
        self._broken_logged: set[str] = set()
        self._marked: set[str] = set()  # routes with a broken mark in the store, cleared by a success
        # Backoff holds the whole lane, not only the failed rows: otherwise every row (and every alert
        # arriving meanwhile) retries on its own schedule and a 60-s outage draws dozens of requests.
        self._hold_until: dict[str, float] = {}  # lane → clock.now() timestamp before which it sends nothing
        self._lane_failures: dict[str, int] = {}  # consecutive 5xx/timeouts of the lane
        # set by run(): once it is set no new request starts (the one in flight finishes and is marked
        # sent), so a shutdown never cancels a request Discord may already have accepted
        self._stop: asyncio.Event | None = None
        # the daemon's store-error policy (Daemon.store_failed); without one (``once``) a lane raises it
        self.on_store_error: Callable[[str, StoreError], None] | None = None

    def owes(self) -> bool:
        """Whether a lane still owes the store write of a batch Discord accepted, or has a post in
        flight (whose write is yet to come)."""
        return self._posting > 0 or any(self._unsettled.values())

    def lane_owner(self, lane: str) -> str:
        """Who claims a lane's rows: the lane of this process (``owner``)."""
        return f"{lane}@{self.owner}"

    @property
    def lane_names(self) -> list[str]:
        return list(self.notifiers)

    def notify(self) -> None:
        """Called after rows were enqueued: lanes wake up now instead of at their next poll."""
        self.wake.set()

    # --- one pass ------------------------------------------------------------------
    async def deliver_due(self, lane: str, *, deadline: float | None = None) -> int:
        """Send everything due on ``lane`` now; returns alerts delivered. Stops early on a broken webhook,
        and, given a ``deadline`` (clock.monotonic), before waiting out a rate limit that ends after it."""
        delivered = 0
        await self._check_broken_marks()
        while True:
            if not await self._settle(lane):
                return delivered
            if lane in self.stats.broken or (self._stop is not None and self._stop.is_set()):
                return delivered
            if deadline is not None and self.clock.monotonic() + self._bucket_wait(lane) > deadline:
                return delivered
            if self._hold_wait(lane) > 0 or self.halted:  # backing off / stopping: claim nothing new
                return delivered
            items = await self.store.claim(
                lane,
                self.clock.now().timestamp(),
                owner=self.lane_owner(lane),
                lease_seconds=CLAIM_LEASE,
                limit=self.holds.claim_limit(lane, MAX_BATCH_ROWS),
            )
            if not items:  # a digest route's period may still owe the coming week's opens
                await self.edits.after_open(self.notifiers[lane])  # and a posted notice may have opened
                idle = await self.holds.idle_digest(lane)
                return delivered + (await self._send_bundle(self.notifiers[lane], idle) if idle else 0)
            # rows rescheduled for backoff drop out of the next `pending`; rate-limited ones stay due
            # and the next execute waits for the bucket first
            delivered += await self._holding(lane, items)

    async def _holding(self, lane: str, items: list[OutboxItem]) -> int:
        """Send a claimed batch, renewing its lease every ``CLAIM_RENEW`` seconds until it is settled."""
        self._held[lane] = {i.id for i in items}

        def held() -> set[int]:
            return self._held.get(lane, set())

        renew = renew_lease(
            self.store, self.clock, lane, self.lane_owner(lane), held, self.renew_timer, CLAIM_LEASE
        )
        renewer = asyncio.create_task(renew, name=f"lease-{lane}")
        self._posting += 1
        try:
            return await self._send_batch(lane, items)
        finally:
            self._posting -= 1
            renewer.cancel()
            await asyncio.wait([renewer])
            self._held.pop(lane, None)
            if not renewer.cancelled() and renewer.exception() is not None:  # a bug: said, never silent
                logger.error("{}", t("log.lease_bug", route=lane, error=repr(renewer.exception())))

    def _release(self, lane: str, ids: Iterable[int]) -> None:
        """Rows about to be settled: no longer expected to be held (a renewal may land before or after)."""
        self._held.get(lane, set()).difference_update(ids)

    async def _settle(self, lane: str) -> bool:
        """Retry the store write a lane still owes; False while the store refuses it."""
        owed = self._unsettled.get(lane)
        if not owed:
            return True
        while owed:
            try:
                await owed[0]()
            except StoreError:
                return False
            owed.pop(0)
        del self._unsettled[lane]
        logger.info("{}", t("log.store_back", route=lane))
        if self.status is not None and not self._unsettled:
            self.status.write(None)
        return True

    async def _write(self, lane: str, write: Callable[[], Awaitable[object]], what: str) -> None:
        """A store write after a post: on failure the lane owes it and posts nothing until it lands."""
        if self._unsettled.get(lane):  # writes land in order: behind the one still owed
            self._unsettled[lane].append(write)
            return
        try:
            await write()
        except StoreError as exc:
            self._unsettled[lane] = [write]
            self.stats.store_errors += 1
            problem = t("delivery.write_failed", what=what, error=exc, route=lane)
            logger.error("{}", t("log.write_failed", problem=problem))
            if self.status is not None:
                self.status.write(problem)

    async def _check_broken_marks(self) -> None:
        """Marks left by an earlier run: a route whose URL changed since is not broken any more."""
        if self._marks_checked:
            return
        self._marks_checked = True
        try:
            marks = await self.store.broken_webhooks()
            prints = await self.store.broken_webhook_fingerprints()
            for name in marks:
                notifier = self.notifiers.get(name)
                if notifier is not None and prints.get(name) not in (None, notifier.fingerprint):
                    await self.store.clear_webhook_broken(name)
                    logger.info("{}", t("log.mark_cleared", route=name))
                elif notifier is not None:
                    self._marked.add(name)
        except StoreError as exc:
            logger.warning("{}", t("log.marks_unchecked", error=exc))

    def _hold_wait(self, lane: str) -> float:
        return max(0.0, self._hold_until.get(lane, 0.0) - self.clock.now().timestamp())

    async def _next_due(self, lane: str) -> float | None:
        """When the lane has something to send: its oldest due row, but not before its backoff ends."""
        next_due = await self.store.next_due(lane)
        return None if next_due is None else max(next_due, self._hold_until.get(lane, 0.0))

    def _bucket_wait(self, lane: str) -> float:
        return 0.0 if (notifier := self.notifiers.get(lane)) is None else notifier.wait()

    async def _alerts(self, lane: str, items: list[OutboxItem]) -> list[tuple[OutboxItem, Alert]]:
        """The rows' Alerts (a legacy embed row read as a legacy Alert); a row that is neither becomes
        a dead letter at once, said with its id (kept, never dropped silently)."""
        out: list[tuple[OutboxItem, Alert]] = []
        for item in items:
            try:
                out.append((item, Alert.from_json(item.payload)))
            except AlertFormatError as exc:
                error = f"unreadable outbox payload: {exc}"
                now = self.clock.now().timestamp()
                self._release(lane, [item.id])
                await self._write(
                    lane, functools.partial(self.store.settle, [item.id], Dead(error), now), "unreadable"
                )
                self.stats.dead += 1
                logger.error("{}", t("log.unreadable_row", route=lane, row=item.id, error=exc))
        return out

    async def _send_batch(self, lane: str, items: list[OutboxItem]) -> int:
        notifier = self.notifiers[lane]
        alerts = await self._alerts(lane, items)
        readable, bundle = await self.holds.sort(lane, alerts, notifier.capabilities, self._release)
        if bundle is not None:
            return await self._send_bundle(notifier, bundle)
        rest, edited = await self.edits.take(notifier, readable)  # a change edits its posted message
        if rest:  # None: the lane stops
            rest, joined = await self.joins.take(notifier, rest)  # a later vendor joins its show's message
            edited += joined
        return edited + (await self._send_posts(notifier, rest) if rest else 0)

    async def _send_posts(self, notifier: Notifier, readable: list[tuple[OutboxItem, Alert]]) -> int:
        count = max(1, notifier.fits([a for _, a in readable]))
        batch = readable[:count]
        await self.edits.aim(notifier, batch)  # a forum: into the notice's thread, if it has one
        outcome = await self._post(notifier, batch)
        if outcome is None:
            return 0
        if outcome.kind == "dead" and len(batch) > 1:
            # one bad alert must not take nine good ones with it: send them one by one
            sent = 0
            refused: list[tuple[tuple[OutboxItem, Alert], Outcome]] = []
            for item in batch:
                single = await self._post(notifier, [item])
                if single is None:  # fenced off: the rest are another owner's too (or claimed again)
                    break
                if single.kind == "dead":
                    refused.append((item, single))  # settled below: all refused alike is the lane's fault
                    continue
                sent += await self._apply(notifier, [item], single)
                if single.kind in ("broken", "rate_limited", "retry"):
                    break  # the rest stay due: the next pass waits for the bucket/backoff (or its deadline)
            if len(refused) == len(batch) and len({o.status for _, o in refused}) == 1:
                # every single refused the same way: not ten bad embeds but a bad path to Discord
                error = f"every alert of the batch refused alike: {refused[0][1].error[:300]}"
                return await self._apply(notifier, batch, Outcome("retry", refused[0][1].status, error=error))
            for item, single in refused:
                await self._apply(notifier, [item], single)
            return sent
        return await self._apply(notifier, batch, outcome)

    async def _send_bundle(self, notifier: Notifier, bundle: Bundle) -> int:
        """A digest: one send settles its rows; the period it completes is recorded after it."""
        outcome = await self._post(notifier, bundle.batch, [bundle.digest])
        if outcome is not None and outcome.kind == "sent" and bundle.period is not None:
            period = bundle.period
            await self._write(notifier.route, lambda: self.holds.settled(notifier.route, period), "digest")
        self.edits.unrecorded.update(item.id for item, _ in bundle.batch)  # the message is the digest
        return 0 if outcome is None else await self._apply(notifier, bundle.batch, outcome)

    async def _fenced(self, lane: str, batch: list[tuple[OutboxItem, Alert]]) -> bool:
        """The fence, checked in the store immediately before each post: this lane (its owner, unique
        to the process) still holds every row of the batch — renewed here. A process frozen past its
        claim (SIGSTOP, a VM pause, a partition) finds rows another owner took, and posts none of them;
        the rows it still holds are claimed again by the next pass."""
        ids = [item.id for item, _ in batch]
        now = self.clock.now().timestamp()
        held = await self.store.renew(ids, now, owner=self.lane_owner(lane), lease_seconds=CLAIM_LEASE)
        if held == len(ids):
            return True
        self._release(lane, ids)
        logger.warning("{}", t("delivery.fenced", route=lane, lost=len(ids) - held, count=len(ids)))
        return False

    async def _post(
        self, notifier: Notifier, batch: list[tuple[OutboxItem, Alert]], alerts: list[Alert] | None = None
    ) -> Outcome | None:
        """The notifier's answer (``alerts``: what is sent for the batch, a digest), or None when the fence
        says the batch is not this lane's any more."""
        wait = notifier.wait()
        if wait > 0:  # the rate limit first: the fence is checked after any wait, just before the post
            await self.clock.sleep(wait)
        if not await self._fenced(notifier.route, batch):
            return None
        logger.debug("route {}: posting {} alert(s) to {}", notifier.route, len(batch), notifier.describe())
        alerts = alerts or [a for _, a in batch]
        if self.holds.silent(notifier.route, alerts) and notifier.capabilities.silent:  # quiet hours "silent"
            return await notifier.send(alerts, silent=True)
        return await notifier.send(alerts)

    async def _apply(
        self, notifier: Notifier, sent_batch: list[tuple[OutboxItem, Alert]], outcome: Outcome
    ) -> int:
        lane = notifier.route
        batch = [i for i, _ in sent_batch]
        ids = [i.id for i in batch]
        now = self.clock.now().timestamp()
        error = redact(notifier.scrub(outcome.error))  # stored and logged: never a token
        self._release(lane, ids)  # this post is over: settled below (rate-limited/broken: left due)
        if outcome.kind == "sent":
            self._hold_until.pop(lane, None)
            self._lane_failures.pop(lane, None)
            sent = Sent(outcome.message_id, self.edits.posts(notifier, sent_batch, outcome))
            await self._write(lane, lambda: self.store.settle(ids, sent, now), "sent")
            if lane in self._marked:  # the webhook works: its broken mark is stale
                self._marked.discard(lane)
                await self._write(lane, lambda: self.store.clear_webhook_broken(lane), "webhook ok")
            self.stats.sent_alerts += len(ids)
            if notifier.verb == "printed":
                logger.info("{}", t("log.printed", count=len(ids), summary=sent_summary(sent_batch)))
                return len(ids)
            self.stats.sent_messages += 1
            summary, message = sent_summary(sent_batch), outcome.message_id or "-"
            logger.info("{}", t("log.sent", count=len(ids), route=lane, message=message, summary=summary))
            return len(ids)
        if outcome.kind == "rate_limited":
            self.stats.rate_limited += 1
            logger.warning("{}", t("log.rate_limited", route=lane, wait=outcome.retry_after or 0))
            return 0  # the bucket now holds the wait; the next execute sleeps it out
        if outcome.kind == "retry":
            attempts = max((i.attempts for i in batch), default=0) + 1
            failures = self._lane_failures.get(lane, 0) + 1
            self._lane_failures[lane] = failures
            delay = min(self.backoff_cap, self.backoff_base * 2 ** (max(attempts, failures) - 1))
            delay *= 1 + self.rng.uniform(0, 0.25)
            self._hold_until[lane] = now + delay
            await self.store.settle(ids, Retry(error, now + delay), now)
            self.stats.failures += 1
            said = t("log.retry", route=lane, error=error, count=len(ids), delay=delay, attempt=attempts)
            logger.warning("{}", said)
            return 0
        if outcome.kind == "dead":
            await self._write(lane, lambda: self.store.settle(ids, Dead(error), now), "refused")
            self.stats.dead += len(ids)
            logger.error("{}", t("log.dead", route=lane, count=len(ids), error=error))
            return 0
        # broken webhook
        self.stats.broken.add(lane)
        self._marked.add(lane)
        await self.store.mark_webhook_broken(lane, error[:500], now, notifier.fingerprint)
        if lane not in self._broken_logged:
            self._broken_logged.add(lane)
            text = notifier.broken_text(Outcome(outcome.kind, outcome.status, error=error))
            logger.error("{}", t("log.broken", text=text))
        return 0

    # --- lanes ---------------------------------------------------------------------
    async def run_lane(self, lane: str, stop: asyncio.Event) -> None:
        self._stop = stop
        retry = 1.0
        while not stop.is_set():
            try:
                if lane in self.stats.broken:
                    await self._wait(stop, BROKEN_RECHECK)
                    if not stop.is_set():
                        await self._recheck(lane)
                    continue
                await self.deliver_due(lane)
                next_due = await self._next_due(lane)
                now = self.clock.now().timestamp()
                timeout = IDLE_POLL if next_due is None else min(IDLE_POLL, max(0.0, next_due - now))
                retry = 1.0
                if timeout > 0:
                    await self._wait(stop, timeout)
            except asyncio.CancelledError:
                raise
            except StoreError as exc:  # reading or retrying rows: the daemon's one policy (a write
                # owed after a post never gets here: _write holds the batch and retries only the write)
                if self.on_store_error is None:
                    raise
                self.on_store_error(t("log.where.lane", route=lane), exc)  # a wait (unreachable), or a stop
                await self._wait(stop, retry)
                retry = min(STORE_RETRY_CAP, 2 * retry)
            except Exception as exc:  # a bug must not kill the lane silently
                said = t("log.lane_bug", route=lane, kind=type(exc).__name__, error=exc, wait=IDLE_POLL)
                logger.error("{}", said)
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
        notifier = self.notifiers.get(lane)
        if notifier is None:
            return
        if await notifier.probe():
            logger.info("{}", t("log.webhook_back", route=lane))
            self.stats.broken.discard(lane)
            self._broken_logged.discard(lane)
            self._marked.discard(lane)
            await self.store.clear_webhook_broken(lane)

    async def warn_unrouted(self) -> dict[str, int]:
        """Pending alerts on routes that are no longer configured: kept, and said so (never silently)."""
        orphans = {
            route: count
            for route, count in (await self.store.outbox_stats()).by_route.items()
            if route not in self.lane_names  # dry-run rows left unprinted count too, once webhooks are set
        }
        for route, count in orphans.items():
            logger.warning("{}", t("log.unrouted", count=count, route=route))
        return orphans

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self.warn_unrouted()
        except StoreError as exc:  # only a warning's count: the lanes start anyway
            if self.on_store_error is None:
                raise
            self.on_store_error(t("log.where.delivery"), exc)
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
        await self.warn_unrouted()
        deadline = self.clock.monotonic() + timeout
        total = 0
        for lane in self.lane_names:
            while lane not in self.stats.broken:
                total += await self.deliver_due(lane, deadline=deadline)
                next_due = await self._next_due(lane)
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
# a claimed batch is this lane's for CLAIM_LEASE seconds, renewed every CLAIM_RENEW seconds while it is
# being sent, so a killed process's batch goes to another owner soon; the same owner (this lane of this
# process identity) takes its own rows back at once, e.g. a SQLite daemon restarted on its host
CLAIM_LEASE = 30.0
CLAIM_RENEW = CLAIM_LEASE / 3  # two renewals may fail (a slow store) before the claim lapses
