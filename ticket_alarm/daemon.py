"""The daemon: one APScheduler job per enabled site, delivery lanes running beside the crawls.

SIGTERM/SIGINT: stop scheduling, let the requests in flight finish (bounded), stop the lanes,
close the store — all inside ``SHUTDOWN_BOUND`` seconds; exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
from collections.abc import Callable
from datetime import timedelta

import psutil
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger

from ticket_alarm.clock import Clock
from ticket_alarm.config import Settings
from ticket_alarm.delivery import Delivery
from ticket_alarm.errors import StoreError
from ticket_alarm.pipeline import Pipeline, SiteResult
from ticket_alarm.reminders import Reminders
from ticket_alarm.store import Store

SHUTDOWN_BOUND = 10.0
CRAWL_GRACE = 5.0  # of the bound: how long a crawl in flight may take to finish
HEARTBEAT_EVERY = 30.0
DUPLICATE_SIGNAL_WINDOW = 1.0  # a signal this soon after the first is the same stop, delivered twice
EXIT_MEMORY = 3  # max_rss_mb exceeded: supervisor restarts the daemon


def rss_mb() -> float:
    return psutil.Process(os.getpid()).memory_info().rss / (1024 * 1024)


class Daemon:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        pipeline: Pipeline,
        delivery: Delivery,
        clock: Clock,
        *,
        sites: list[str],
        rng: random.Random | None = None,
        on_result: Callable[[SiteResult], None] | None = None,
        reminders: Reminders | None = None,
    ) -> None:
        self.reminders = reminders
        self.settings = settings
        self.store = store
        self.pipeline = pipeline
        self.delivery = delivery
        self.clock = clock
        self.sites = sites
        self.rng = rng or random.Random()
        self.on_result = on_result
        self.stop = asyncio.Event()
        self.fatal: BaseException | None = None
        self.exit_code = 0  # EXIT_MEMORY when max_rss_mb stopped the daemon
        self._inflight: set[asyncio.Task[object]] = set()
        self._crawled: set[str] = set()  # sites crawled since the last 메모리 사용량 line
        self._memory_logged_at: float | None = None

    async def crawl_site(self, name: str) -> SiteResult | None:
        if self.stop.is_set():
            return None
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            result = await self.pipeline.run_site(name)
        except StoreError as exc:
            logger.error("크롤링 실패: {} store error: {}; stopping the daemon", name, exc)
            self.fatal = exc
            self.stop.set()
            return None
        except Exception as exc:  # a bug in one crawler must not stop the others
            logger.error("크롤링 실패: {} unexpected {}: {}", name, type(exc).__name__, exc)
            return None
        except asyncio.CancelledError:
            # shutdown ran out of grace for this crawl; nothing was half-written (one transaction)
            logger.warning("크롤링 실패: {} cancelled at shutdown after {:.0f}s of grace", name, CRAWL_GRACE)
            return None
        finally:
            if task is not None:
                self._inflight.discard(task)
        self.beat()
        rss = rss_mb()
        self._log_memory(name, rss)
        if self.on_result:
            self.on_result(result)
        self._check_memory(rss)
        return result

    def _log_memory(self, site: str, rss: float) -> None:
        """``메모리 사용량`` once a cycle: when every site has crawled since the last line (or a whole
        ``interval`` has passed, so a site with a long interval cannot hold the line back)."""
        self._crawled.add(site)
        now = self.clock.monotonic()
        if self._memory_logged_at is not None and not (
            self._crawled >= set(self.sites) or now - self._memory_logged_at >= self.settings.interval
        ):
            return
        logger.info("메모리 사용량: {:.1f} MB (RSS) after {} site crawl(s)", rss, len(self._crawled))
        self._crawled.clear()
        self._memory_logged_at = now

    def _check_memory(self, rss: float) -> None:
        """Above ``max_rss_mb`` after a cycle: stop gracefully and exit 3 so supervisor restarts us."""
        ceiling = self.settings.max_rss_mb
        if ceiling is None or rss <= ceiling or self.stop.is_set():
            return
        logger.error(
            "메모리 사용량 {:.1f} MB exceeds max_rss_mb {:g} MB: this cycle is finished and saved; "
            "exiting with code {} so supervisor restarts the daemon with fresh memory",
            rss,
            ceiling,
            EXIT_MEMORY,
        )
        self.exit_code = EXIT_MEMORY
        self.stop.set()

    def beat(self) -> None:
        try:
            self.store.set_meta("heartbeat", f"{self.clock.now().timestamp():.3f}")
        except StoreError as exc:
            logger.error("heartbeat not written: {}", exc)

    async def _heartbeat_loop(self) -> None:
        while not self.stop.is_set():
            self.beat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=HEARTBEAT_EVERY)

    def _schedule(self, scheduler: AsyncIOScheduler) -> None:
        now = self.clock.now()
        for index, name in enumerate(self.sites):
            interval = self.settings.site_interval(name)
            scheduler.add_job(
                self.crawl_site,
                IntervalTrigger(seconds=interval, jitter=max(1, int(interval * 0.1))),
                args=[name],
                id=f"crawl-{name}",
                name=f"crawl {name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(interval),
                # first crawls right away, a second apart so they do not all start at once
                next_run_time=now + timedelta(seconds=index * 1.0),
            )

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        first_signal: float | None = None

        def on_signal(signum: int) -> None:
            nonlocal first_signal
            if first_signal is None:
                first_signal = loop.time()
                logger.info(
                    "{} received: shutting down (finishing requests in flight)", signal.Signals(signum).name
                )
                self.stop.set()
            elif loop.time() - first_signal >= DUPLICATE_SIGNAL_WINDOW:
                logger.warning("second signal: exiting now")
                os._exit(1)
            # else: the same stop delivered twice (to the process and to its group, as `timeout` and
            # `kill -TERM -PGID` do) — not a second request to hurry

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        scheduler = AsyncIOScheduler(event_loop=loop, timezone="UTC")
        self._schedule(scheduler)
        lanes = asyncio.create_task(self.delivery.run(self.stop), name="delivery")
        heart = asyncio.create_task(self._heartbeat_loop(), name="heartbeat")
        background = {lanes, heart}
        if self.reminders is not None:
            background.add(asyncio.create_task(self.reminders.run(self.stop), name="reminders"))
        scheduler.start()
        logger.info(
            "ticket-alarm 시작: sites {} | {} | data {}",
            ", ".join(self.sites) or "(none)",
            "dry run (no webhook: alerts printed to stdout)"
            if self.settings.dry_run
            else f"{len(self.settings.effective_routes())} route(s)",
            self.settings.data_dir,
        )
        started = 0.0
        try:
            await self.stop.wait()
            started = loop.time()
        finally:
            # pause first: shutdown() would cancel the crawls in flight at once; they get CRAWL_GRACE
            scheduler.pause()
            inflight = [t for t in self._inflight if not t.done()]
            if inflight:
                _done, pending = await asyncio.wait(inflight, timeout=CRAWL_GRACE)
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=1.0)
            scheduler.shutdown(wait=False)
            remaining = max(0.5, SHUTDOWN_BOUND - 1.5 - (loop.time() - started))
            _done, pending_tasks = await asyncio.wait(background, timeout=remaining)
            for task in pending_tasks:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
        stats = self.store.outbox_stats()
        logger.info(
            "stopped: {} alerts still pending in the outbox (delivered on the next start)", stats.pending
        )
        if self.fatal is not None:
            return 2
        return self.exit_code
