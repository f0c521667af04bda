"""The daemon's upkeep beside the crawls: the one store-error policy of every loop, the heartbeat
(with retention pruning and the ops watch) and the site leases of replicas."""

from __future__ import annotations

import asyncio
import contextlib

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from loguru import logger

from ticket_alarm.clock import Clock
from ticket_alarm.config.settings import Settings
from ticket_alarm.daemon.process import STORE_RETRY_CAP, STORE_RETRY_FIRST
from ticket_alarm.daemon.watch import OpsWatch
from ticket_alarm.delivery.outbox import Delivery
from ticket_alarm.errors import StoreError, StoreUnavailable
from ticket_alarm.i18n import t
from ticket_alarm.logs import repeats
from ticket_alarm.store.api import Store
from ticket_alarm.store.replicas import Replicas
from ticket_alarm.store.rows import HEARTBEAT_EVERY

PRUNE_EVERY = 6 * 3600.0  # retention: old sent alerts, digest-log lines and HTTP-cache entries go
# a store error in any loop stopped the daemon: supervisor and systemd restart it (exit 2 is kept for
# what no restart fixes: a bad config, a wrong store_url password, a schema newer than this program)
EXIT_STORE = 4


class Upkeep:
    """Part of ``Daemon`` (``daemon.scheduler``), which sets these attributes."""

    settings: Settings
    store: Store
    delivery: Delivery
    clock: Clock
    sites: list[str]
    replicas: Replicas
    ops: OpsWatch | None
    stop: asyncio.Event
    fatal: BaseException | None
    store_down: float | None
    _store_retry: float
    _owed_waiter: asyncio.Future[None] | None
    _scheduler: AsyncIOScheduler | None
    _owned: set[str]

    def store_failed(self, where: str, exc: StoreError) -> None:
        """THE store-error policy of every loop (crawl, head poll, delivery lane, reminders, heartbeat).

        A store that cannot be reached (``StoreUnavailable``: PostgreSQL down or restarting) is a wait:
        said once, nothing is crawled, the loops try again with back-off and the heartbeat loop finds
        the store back. Any other store error: one ERROR line, then a clean stop with exit code
        EXIT_STORE; supervisor starts the daemon again and the store is opened (and checked) afresh —
        but not while a delivery lane owes the write of a batch Discord accepted (a full disk): the
        daemon crawls nothing more and stops once that write lands, so a restart cannot post it again.
        Nothing is lost: every write is one transaction; what is not written yet is crawled or
        delivered again."""
        if isinstance(exc, StoreUnavailable):
            self._store_unreachable(where, exc)
            return
        if self.fatal is None:
            logger.error("{}", t("log.store_error", where=where, error=exc, code=EXIT_STORE))
            self.fatal = exc
            if self._owes():
                self.delivery.halted = True  # lanes claim nothing new; the owed write is retried
                logger.warning("{}", t("daemon.stop_after_owed"))
                self._owed_waiter = asyncio.ensure_future(self._stop_when_settled())
                return
        if self._owed_waiter is None or self._owed_waiter.done():
            self.stop.set()

    async def _stop_when_settled(self) -> None:
        while self._owes() and not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=1.0)
        self.stop.set()

    def _store_unreachable(self, where: str, exc: StoreError) -> None:
        if self.store_down is not None:
            return
        self.store_down = self.clock.monotonic()
        logger.warning("{}", t("daemon.store_unreachable", where=where, error=exc))
        self._status(t("daemon.store_unreachable.status", error=exc))

    def _store_back(self) -> None:
        self._store_retry = STORE_RETRY_FIRST
        if self.store_down is None:
            return
        seconds = self.clock.monotonic() - self.store_down
        self.store_down = None
        logger.info("{}", t("daemon.store_back", seconds=seconds))
        if not self._owes():
            self._status(None)
        for name in self.sites:  # their crawls were skipped meanwhile: sweep them now
            if self._scheduler is not None:
                with contextlib.suppress(Exception):
                    self._scheduler.modify_job(f"crawl-{name}", next_run_time=self.clock.now())

    def _owes(self) -> bool:
        owes = getattr(self.delivery, "owes", None)  # a Delivery; tests may give a stand-in
        return bool(owes and owes())

    def _status(self, problem: str | None) -> None:
        """Told to ``health`` through the status file beside the store (delivery's, when it has one)."""
        status = getattr(self.delivery, "status", None)
        if status is not None:
            status.write(problem)

    def _paused(self) -> bool:
        """Nothing is crawled while the store cannot record it, or once a store error stops the daemon."""
        return self.stop.is_set() or self.store_down is not None or self.fatal is not None

    async def beat(self) -> None:
        try:
            await self.store.heartbeat(self.clock.now().timestamp())
        except StoreError as exc:
            self.store_failed(t("log.where.heartbeat"), exc)
            return
        self._store_back()

    async def watch(self) -> None:
        """Tell ``health.ops_webhook_url`` what changed (``OpsWatch``), through the outbox."""
        if self.ops is None or self._paused():
            return
        try:
            await self.ops.check(self.replicas.owns)
        except StoreError as exc:
            self.store_failed(t("log.where.ops"), exc)
        except Exception as exc:  # a bug here must not stop the crawls
            logger.error("{}", t("log.ops_bug", kind=type(exc).__name__, error=exc))

    async def prune(self) -> None:
        """Bounded growth: what is older than ``retention_days`` leaves the store (history never)."""
        try:
            removed = await self.store.prune(self.clock.now().timestamp(), self.settings.retention_days)
        except StoreError as exc:
            self.store_failed(t("log.prune_failed"), exc)
            return
        if removed.total:
            said = t(
                "log.pruned",
                sent=removed.outbox_sent,
                digests=removed.digest_log,
                cached=removed.http_cache,
                reminders=removed.reminders,
                pages=removed.notice_reads,
                days=self.settings.retention_days,
            )
            logger.info("{}", said)

    async def _heartbeat_loop(self) -> None:
        pruned_at: float | None = None
        while not self.stop.is_set():
            await self.beat()
            await self.watch()
            repeats.flush()  # the count of log lines held back (one line per kind per minute)
            if self.store_down is None and (
                pruned_at is None or self.clock.monotonic() - pruned_at >= PRUNE_EVERY
            ):
                pruned_at = self.clock.monotonic()
                await self.prune()
            wait = HEARTBEAT_EVERY
            if self.store_down is not None:  # reconnect with back-off: the heartbeat is the probe
                wait, self._store_retry = self._store_retry, min(STORE_RETRY_CAP, 2 * self._store_retry)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=wait)
        repeats.flush(everything=True)

    async def renew_sites(self) -> None:
        """Renew this replica's site leases (and its heartbeat); say when the set of sites changes."""
        try:
            owned = await self.replicas.renew(self.sites)
        except StoreError as exc:  # the one policy; its leases lapse and another replica takes its sites
            self.store_failed(t("log.where.leases", replica=self.replicas.replica_id), exc)
            return
        if self.replicas.shared:
            self._store_back()
        if owned != self._owned and self.replicas.shared:
            gained, lost = sorted(owned - self._owned), sorted(self._owned - owned)
            said = t(
                "log.replica_sites",
                replica=self.replicas.replica_id,
                sites=", ".join(sorted(owned)) or t("log.replica_none"),
                gained=t("log.replica_gained", sites=", ".join(gained)) if gained and self._owned else "",
                lost=t("log.replica_lost", sites=", ".join(lost)) if lost else "",
            )
            logger.info("{}", said)
            for name in gained:
                if self._scheduler is not None and self._owned:  # a site taken over: crawl it now
                    with contextlib.suppress(Exception):
                        self._scheduler.modify_job(f"crawl-{name}", next_run_time=self.clock.now())
        self._owned = owned

    async def _lease_loop(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=self.replicas.renew_every)
            if not self.stop.is_set():
                await self.renew_sites()
