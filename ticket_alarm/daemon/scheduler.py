"""The daemon: one APScheduler job per enabled site, delivery lanes running beside the crawls.

SIGTERM/SIGINT/SIGHUP: stop scheduling, let the requests in flight finish (bounded), stop the lanes,
close the store — all inside ``SHUTDOWN_BOUND`` seconds; exit 0. SIGHUP (a closed terminal, or
``kill -HUP`` meant as "reload") is logged and is the same clean stop: under supervisor
(``autorestart=true``) the daemon comes back with the config read afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Literal

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.date import DateTrigger
from loguru import logger

from ticket_alarm.clock import Clock
from ticket_alarm.config.settings import Settings
from ticket_alarm.core.head_gap import head_gap_key
from ticket_alarm.core.urls import mask_store_url
from ticket_alarm.daemon.pipeline import Pipeline
from ticket_alarm.daemon.process import (
    STORE_RETRY_FIRST,
    rss_mb,
    stop_on_signals,
)
from ticket_alarm.daemon.reminders import Reminders
from ticket_alarm.daemon.results import SWEEP, SiteResult
from ticket_alarm.daemon.shows import backfill
from ticket_alarm.daemon.timers import (
    CONFIRM_DELAY,
    DEFAULT_HEAD_INTERVAL,
    POLITENESS_BASELINE,
    POLITENESS_FACTOR,
    head_gap,
    head_trigger,
    jitter,
    sweep_trigger,
)
from ticket_alarm.daemon.upkeep import EXIT_STORE, Upkeep
from ticket_alarm.daemon.watch import OpsWatch
from ticket_alarm.delivery.outbox import Delivery
from ticket_alarm.errors import StoreError
from ticket_alarm.i18n import t
from ticket_alarm.store import DB_NAME
from ticket_alarm.store.api import Store
from ticket_alarm.store.replicas import Replicas, Solo

SHUTDOWN_BOUND = 10.0
CRAWL_GRACE = 5.0  # of the bound: how long a crawl in flight may take to finish
JOB_GRACE = 1.5  # of the bound: how long a scheduled run may take after its crawl (heartbeat, watch)
EXIT_MEMORY = 3  # max_rss_mb exceeded: supervisor restarts the daemon


class Daemon(Upkeep):
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
        replicas: Replicas | None = None,
        ops: OpsWatch | None = None,
    ) -> None:
        self.reminders = reminders
        self.ops = ops
        self.replicas: Replicas = replicas or Solo(settings.data_dir)
        self._owned: set[str] = set()
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
        self._owed_waiter: asyncio.Future[None] | None = None
        self.exit_code = 0  # EXIT_MEMORY when max_rss_mb stopped the daemon
        self._inflight: set[asyncio.Future[SiteResult]] = set()  # sweeps and head polls running
        self._jobs: set[asyncio.Task[object]] = set()  # the scheduler's runs of them (``_job``)
        self._sweeping: set[str] = set()
        self._scheduler: AsyncIOScheduler | None = None
        self._head_gaps: dict[str, float] = {}  # seconds between head polls, per site, as scheduled
        self._awaiting: dict[str, set[str]] = {}  # per site: keys of held changes waiting for a re-read
        self._rereads: dict[str, int] = {}  # per site: confirmation re-reads since the last scheduled run
        self._crawled: set[str] = set()  # sites crawled since the last 메모리 사용량 line
        self._memory_logged_at: float | None = None
        self.store_down: float | None = None  # clock.monotonic() since the store cannot be reached
        self._store_retry = STORE_RETRY_FIRST
        # one policy for a store error in every loop: stop the daemon (exit EXIT_STORE), see store_failed
        if delivery is not None:
            delivery.on_store_error = self.store_failed
        if reminders is not None:
            reminders.on_store_error = self.store_failed

    async def crawl_site(self, name: str, *, reread: bool = False) -> SiteResult | None:
        """One sweep of a site (``reread``: the one that confirms a held change, see ``reread``)."""
        if self._paused() or not self.replicas.owns(name):  # another replica crawls it
            return None
        if name in self._sweeping:  # a re-read and the scheduled sweep met: one sweep reads for both
            return None
        if not reread:
            self._rereads[name] = 0
        self._sweeping.add(name)
        try:
            # shutdown ran out of grace for this crawl; nothing was half-written (one transaction). Not a
            # 크롤링 실패: the runbook's grep counts failures, and a Ctrl-C is none
            cancelled = t("log.crawl_cancelled", site=name, grace=CRAWL_GRACE)
            result = await self._run(self.pipeline.run_site(name), t("log.where.crawl", site=name), cancelled)
        finally:
            self._sweeping.discard(name)
        if result is None:
            return None
        await self.beat()
        await self.watch()
        rss = rss_mb()
        self._log_memory(name, rss)
        if self.on_result:
            self.on_result(result)
        if result.ok and not result.skipped:
            if self.pace_head_polls(name, result.requests):
                try:
                    await self.store.set_meta(head_gap_key(name), f"{self._head_gaps[name]:g}")
                except StoreError as exc:
                    self.store_failed(t("log.where.head_gap", site=name), exc)
            self.await_confirmation(result)
        self._check_memory(rss)
        return result

    async def head_site(self, name: str) -> SiteResult | None:
        """One head poll of a site (the newest page); may hold, confirm or clear a change."""
        if self._paused() or not self.replicas.owns(name):
            return None
        where = t("log.where.crawl_head", site=name)
        result = await self._run(self.pipeline.run_head(name), where, t("log.head_cancelled", site=name))
        if result is None:
            return None
        await self.watch()
        if self.on_result:
            self.on_result(result)
        if result.capped and name not in self._sweeping and not self.stop.is_set():
            self._sweep_now(name)
        if result.ok and not result.skipped:
            self._rereads[name] = 0
            self.await_confirmation(result)
        return result

    async def _job(self, body: Callable[[str], Awaitable[object]], name: str) -> None:
        """A scheduled run (sweep, head poll, re-read), tracked so that shutdown lets it finish what
        follows its crawl (the heartbeat, the watch): APScheduler's executor cancels the runs left at
        its shutdown and logs each as the job's ERROR."""
        task = asyncio.current_task()
        if task is not None:
            self._jobs.add(task)
        try:
            await body(name)
        finally:
            if task is not None:
                self._jobs.discard(task)

    async def finish_jobs(self) -> None:
        """At shutdown, once the crawls are over: the scheduled runs finish what follows them (a few
        store writes each), for at most ``JOB_GRACE`` seconds (a store may hang)."""
        jobs = [t for t in self._jobs if not t.done()]
        if jobs:
            await asyncio.wait(jobs, timeout=JOB_GRACE)

    async def _run(self, run: Awaitable[SiteResult], where: str, cancelled: str) -> SiteResult | None:
        """A sweep or head poll as a task of its own, which shutdown may cancel when its grace runs
        out (said with ``cancelled``). A cancellation of the caller itself is never caught: it
        propagates. The pipeline turns site trouble (and crawler bugs) into the result; a store
        error is the daemon's one store policy (``store_failed``)."""
        crawl = asyncio.ensure_future(run)
        self._inflight.add(crawl)
        try:
            return await crawl
        except StoreError as exc:
            self.store_failed(where, exc)
            return None
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if not crawl.cancelled() or (caller is not None and caller.cancelling()):
                raise
            logger.warning("{}", cancelled)  # shutdown cancelled the crawl, not its caller
            return None
        finally:
            self._inflight.discard(crawl)

    def await_confirmation(self, result: SiteResult) -> None:
        """After a sweep or head poll: the changes it holds are confirmed by a prompt re-read of the
        page that showed them, not by the next sweep. A head poll's: the next head poll (about one
        head gap), with a re-read of the list ``CONFIRM_DELAY`` after it falls due as the fallback; a
        sweep's: the list read again ``CONFIRM_DELAY`` after it. At most ``change_confirm_cycles``
        re-reads follow one scheduled run, so a page whose content never holds still costs a bounded
        number of requests."""
        name = result.site
        waiting = self._awaiting.setdefault(name, set())
        if result.mode == SWEEP:
            waiting.clear()  # a sweep reads the whole list: what it holds is all that waits
        waiting.difference_update(result.settled)
        waiting.update(result.awaiting)
        if not result.awaiting or self._scheduler is None or self.stop.is_set():
            return
        if self._rereads.get(name, 0) >= self.settings.change_confirm_cycles:
            return  # the next scheduled run reads them again
        head = self._head_gaps.get(name) or self.settings.site_head_interval(name)
        if result.mode == SWEEP or not head:
            delay = CONFIRM_DELAY
            logger.info("{}", t("change.wait_sweep", site=name, count=len(waiting), seconds=delay))
        else:
            delay = head + jitter(head) + CONFIRM_DELAY
            logger.info("{}", t("change.wait_head", site=name, count=len(waiting), seconds=delay))
        due = self.clock.now() + timedelta(seconds=delay)
        job = self._scheduler.get_job(f"confirm-{name}")
        earlier = getattr(job, "next_run_time", None)  # a job not yet started has no attribute
        if earlier is not None and earlier <= due:
            return  # an earlier re-read is due already: it reads these too
        self._scheduler.add_job(
            self._job,
            DateTrigger(run_date=due),
            next_run_time=due,
            args=[self.reread, name],
            id=f"confirm-{name}",
            name=f"confirm changes {name}",
            replace_existing=True,
            misfire_grace_time=max(1, int(delay)),
        )

    async def reread(self, name: str) -> SiteResult | None:
        """The re-read that confirms (or clears) a site's held changes: its list, read again now —
        unless nothing waits any more (a head poll confirmed them) or a sweep is reading it already."""
        if not self._awaiting.get(name) or name in self._sweeping or self.stop.is_set():
            return None
        self._rereads[name] = self._rereads.get(name, 0) + 1
        return await self.crawl_site(name, reread=True)

    def pace_head_polls(self, name: str, sweep_requests: int) -> bool:
        """After a sweep: keep the site's head polls within the politeness budget (``head_gap``);
        True when the gap changed."""
        configured = self.settings.site_head_interval(name)
        if configured != DEFAULT_HEAD_INTERVAL:  # off, or chosen by the operator: taken as given
            return False
        if self._scheduler is None or self.stop.is_set() or not self._has_head(name):
            return False
        gap = head_gap(configured, self.settings.site_interval(name), sweep_requests)
        if abs(gap - self._head_gaps.get(name, configured)) < 0.5:
            return False
        self._head_gaps[name] = gap
        if gap > configured:
            said = t(
                "log.head_paced",
                site=name,
                gap=gap,
                configured=configured,
                requests=sweep_requests,
                factor=POLITENESS_FACTOR,
                baseline=POLITENESS_BASELINE,
            )
            logger.info("{}", said)
        else:
            logger.info("{}", t("log.head_pace_again", site=name, gap=gap))
        self._scheduler.reschedule_job(f"head-{name}", trigger=head_trigger(gap))
        return True

    def _has_head(self, name: str) -> bool:
        """Whether the site's crawler (its current source) has a registration order to poll."""
        crawler = self.pipeline.crawlers.get(name)
        # an iterator that is never started fetches nothing and needs no closing
        return crawler is not None and crawler.head_pages(self.pipeline.fetcher.for_site(name)) is not None

    def _sweep_now(self, name: str) -> None:
        """A head poll stopped at its page cap (every row new) left new notices unread: sweep now, or
        they wait up to a whole interval."""
        logger.info("{}", t("log.early_sweep", site=name))
        if self._scheduler is not None:
            self._scheduler.modify_job(f"crawl-{name}", next_run_time=self.clock.now())

    def _log_memory(self, site: str, rss: float) -> None:
        """``메모리 사용량`` once a cycle: when every site has crawled since the last line (or a whole
        ``interval`` has passed, so a site with a long interval cannot hold the line back)."""
        self._crawled.add(site)
        now = self.clock.monotonic()
        if self._memory_logged_at is not None and not (
            self._crawled >= set(self.sites) or now - self._memory_logged_at >= self.settings.interval
        ):
            return
        logger.info("{}", t("log.memory", rss=rss, count=len(self._crawled)))
        self._crawled.clear()
        self._memory_logged_at = now

    def _check_memory(self, rss: float) -> None:
        """Above ``max_rss_mb`` after a cycle: stop gracefully and exit 3 so supervisor restarts us."""
        ceiling = self.settings.max_rss_mb
        if ceiling is None or rss <= ceiling or self.stop.is_set():
            return
        logger.error("{}", t("log.memory_exceeded", rss=rss, ceiling=ceiling, code=EXIT_MEMORY))
        self.exit_code = EXIT_MEMORY
        self.stop.set()

    def _schedule(self, scheduler: AsyncIOScheduler) -> None:
        now = self.clock.now()
        for index, name in enumerate(self.sites):
            interval = self.settings.site_interval(name)
            # first crawls right away, a second apart so they do not all start at once
            first = now + timedelta(seconds=index * 1.0)
            _add_job(
                scheduler, self._job, self.crawl_site, sweep_trigger(interval), name, "crawl", interval, first
            )
            head = self.settings.site_head_interval(name)
            if head is None:
                continue
            # head polls wait for the first sweep (it fills history); the first one after it alerts
            first = now + timedelta(seconds=head + index * 1.0)
            _add_job(scheduler, self._job, self.head_site, head_trigger(head), name, "head", head, first)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        stop_on_signals(loop, self.stop)
        scheduler = AsyncIOScheduler(event_loop=loop, timezone="UTC")
        self._scheduler = scheduler
        self._schedule(scheduler)
        await self.renew_sites()  # before the first crawls: which sites this replica crawls
        linked = await backfill(self.store, self.clock.now().timestamp())  # notices older than shows
        if linked:
            logger.info("{}", t("log.shows_backfilled", count=linked))
        lanes = asyncio.create_task(self.delivery.run(self.stop), name="delivery")
        heart = asyncio.create_task(self._heartbeat_loop(), name="heartbeat")
        background = {lanes, heart, asyncio.create_task(self._lease_loop(), name="site-leases")}
        if self.reminders is not None:
            background.add(asyncio.create_task(self.reminders.run(self.stop), name="reminders"))
        waiting = (await self.store.outbox_stats()).pending
        scheduler.start()
        banner = t(
            "log.started",
            sites=", ".join(self.sites) or t("log.no_sites"),
            delivery=t("log.dry_run")
            if self.settings.dry_run
            else t("health.config.routes", count=len(self.settings.effective_routes())),
            pending=waiting,
            data=self.settings.data_dir,
            store=mask_store_url(self.settings.store_url)
            if self.settings.store_url
            else (self.settings.data_dir / DB_NAME).resolve(),
        )
        logger.info("{}", banner)
        heads_off = [
            n for n in self.sites if self.settings.site_head_interval(n) is None and self._has_head(n)
        ]
        if heads_off:
            logger.warning("{}", t("cli.heads_off", sites=", ".join(heads_off)))
        started = 0.0
        try:
            await self.stop.wait()
            started = loop.time()
        finally:
            # pause first: shutdown() would cancel the crawls in flight at once; they get CRAWL_GRACE
            scheduler.pause()
            inflight = [t for t in self._inflight if not t.done()]
            if inflight:
                _done, late = await asyncio.wait(inflight, timeout=CRAWL_GRACE)
                for crawl in late:
                    crawl.cancel()
                if late:
                    await asyncio.wait(late, timeout=1.0)
            await self.finish_jobs()
            scheduler.shutdown(wait=False)
            remaining = max(0.5, SHUTDOWN_BOUND - 1.5 - (loop.time() - started))
            _stopped, pending_tasks = await asyncio.wait(background, timeout=remaining)
            for task in pending_tasks:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            with contextlib.suppress(StoreError):
                await self.replicas.release()  # another replica takes the sites over at once
        pending: int | str = "?"
        with contextlib.suppress(StoreError):  # a store that cannot be reached: the count is unknown
            pending = (await self.store.outbox_stats()).pending
        logger.info("{}", t("log.stopped", pending=pending))
        if self.fatal is not None:
            return EXIT_STORE
        return self.exit_code


def _add_job(
    scheduler: AsyncIOScheduler,
    tracked: Callable[[Callable[[str], Awaitable[object]], str], Awaitable[None]],
    job: Callable[[str], Awaitable[object]],
    trigger: BaseTrigger,
    site: str,
    kind: Literal["crawl", "head"],
    every: float,
    first: datetime,
) -> None:
    """One site's sweep or head-poll job: never two at once, a missed run coalesced into one."""
    scheduler.add_job(
        tracked,
        trigger,
        args=[job, site],
        id=f"{kind}-{site}",
        name=f"crawl {site}" if kind == "crawl" else f"head poll {site}",  # the names scheduler_line reads
        max_instances=1,
        coalesce=True,
        misfire_grace_time=max(1, int(every)),
        next_run_time=first,
    )
