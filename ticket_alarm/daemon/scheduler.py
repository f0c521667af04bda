"""The daemon: one APScheduler job per enabled site, delivery lanes running beside the crawls.

SIGTERM/SIGINT/SIGHUP: stop scheduling, let the requests in flight finish (bounded), stop the lanes,
close the store — all inside ``SHUTDOWN_BOUND`` seconds; exit 0. SIGHUP (a closed terminal, or
``kill -HUP`` meant as "reload") is logged and is the same clean stop: under supervisor
(``autorestart=true``) the daemon comes back with the config read afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import resource
import signal
from collections.abc import Awaitable, Callable
from datetime import timedelta

import psutil
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger

from ticket_alarm.clock import Clock
from ticket_alarm.config.settings import Settings, mask_store_url
from ticket_alarm.daemon.pipeline import SWEEP, Pipeline, SiteResult
from ticket_alarm.daemon.reminders import Reminders
from ticket_alarm.daemon.watch import HEAD_GAP_META, OpsWatch
from ticket_alarm.delivery.outbox import Delivery
from ticket_alarm.errors import StoreError, StoreUnavailable
from ticket_alarm.i18n import t
from ticket_alarm.logs import repeats
from ticket_alarm.store import DB_NAME
from ticket_alarm.store.api import Store
from ticket_alarm.store.replicas import Replicas, Solo

SHUTDOWN_BOUND = 10.0
CRAWL_GRACE = 5.0  # of the bound: how long a crawl in flight may take to finish
HEARTBEAT_EVERY = 30.0
PRUNE_EVERY = 6 * 3600.0  # retention: old sent alerts, digest-log lines and HTTP-cache entries go
DUPLICATE_SIGNAL_WINDOW = 1.0  # a signal this soon after the first is the same stop, delivered twice
EXIT_MEMORY = 3  # max_rss_mb exceeded: supervisor restarts the daemon
# a store error in any loop stopped the daemon: supervisor and systemd restart it (exit 2 is kept for
# what no restart fixes: a bad config, a wrong store_url password, a schema newer than this program)
EXIT_STORE = 4
# the store cannot be reached (StoreUnavailable): nothing is crawled, and the store is tried again after
# STORE_RETRY_FIRST seconds, doubling up to STORE_RETRY_CAP, until it answers
STORE_RETRY_FIRST = 1.0
STORE_RETRY_CAP = 30.0
# a change held by a sweep is confirmed by reading the list again this many seconds after that sweep
# (not by the next sweep, an interval later); one held by a head poll, by the next head poll — and by
# a re-read this long after that one falls due, in case the notice left the head page meanwhile
CONFIRM_DELAY = 10.0
# politeness: sweeps + head polls of a site stay within this many times the requests per hour that a
# sweep every POLITENESS_BASELINE seconds (the default before head polls) would make
POLITENESS_FACTOR = 1.5
POLITENESS_BASELINE = 300.0
# only the default head_interval is paced; any other value is the operator's choice, taken as given
DEFAULT_HEAD_INTERVAL: float = Settings.model_fields["head_interval"].default


def head_gap(head_interval: float, interval: float, sweep_requests: int) -> float:
    """Seconds between two head polls of a site whose sweep takes ``sweep_requests`` requests: the
    configured ``head_interval``, stretched when sweeps + head polls (one request each) would make more
    than ``POLITENESS_FACTOR`` × the requests of a sweep every ``POLITENESS_BASELINE`` seconds (a short
    list: seven pages → every 43 s). Cadences are counted as the triggers keep them: interval plus
    half its jitter on average. Sweeps that alone use the budget leave one head poll per sweep."""
    if sweep_requests <= 0:
        return head_interval
    budget = sweep_requests * (
        POLITENESS_FACTOR / _mean_cadence(POLITENESS_BASELINE) - 1 / _mean_cadence(interval)
    )
    if budget <= 0:
        return max(head_interval, interval)
    wanted = 1 / budget  # mean seconds between head polls the budget allows
    gap = wanted / 1.05
    for _ in range(100):  # the jitter is rounded down to whole seconds: nudge up until it fits
        if _mean_cadence(gap) >= wanted:
            break
        gap += 0.05
    return max(head_interval, gap)


def _mean_cadence(seconds: float) -> float:
    """Mean seconds between two runs of a job on ``_trigger(seconds)`` (jitter: uniform 0…10 %)."""
    return seconds + _jitter(seconds) / 2


def _jitter(seconds: float) -> int:
    return int(seconds * 0.1)


FD_TARGET = 65536  # the soft descriptor limit the daemon raises itself toward (never past the hard one)


def raise_fd_limit(target: int = FD_TARGET) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE toward the hard limit (1,024 is the usual soft default): a flood
    of page connections must not take the descriptors crawls and deliveries need. Returns the
    (before, after) soft limits; a refusal leaves the limit as it was."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = target if hard == resource.RLIM_INFINITY else min(target, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            logger.debug("descriptor limit raised from {} to {} (hard limit {})", soft, wanted, hard)
            return soft, wanted
    return soft, soft


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
        self._inflight: set[asyncio.Task[object]] = set()
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

    async def crawl_site(self, name: str, *, reread: bool = False) -> SiteResult | None:
        """One sweep of a site (``reread``: the one that confirms a held change, see ``reread``)."""
        if self._paused() or not self.replicas.owns(name):  # another replica crawls it
            return None
        if name in self._sweeping:  # a re-read and the scheduled sweep met: one sweep reads for both
            return None
        if not reread:
            self._rereads[name] = 0
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        self._sweeping.add(name)
        try:
            result = await self.pipeline.run_site(name)
        except StoreError as exc:
            self.store_failed(f"크롤링 실패: {name}", exc)
            return None
        except Exception as exc:  # a bug in one crawler must not stop the others
            logger.error("{}", t("log.crawl_bug", site=name, kind=type(exc).__name__, error=exc))
            return None
        except asyncio.CancelledError:
            # shutdown ran out of grace for this crawl; nothing was half-written (one transaction). Not a
            # 크롤링 실패: the runbook's grep counts failures, and a Ctrl-C is none
            logger.warning("{}", t("log.crawl_cancelled", site=name, grace=CRAWL_GRACE))
            return None
        finally:
            self._sweeping.discard(name)
            if task is not None:
                self._inflight.discard(task)
        await self.beat()
        await self.watch()
        rss = rss_mb()
        self._log_memory(name, rss)
        if self.on_result:
            self.on_result(result)
        if result.ok and not result.skipped:
            if self.pace_head_polls(name, result.requests):
                try:
                    await self.store.set_meta(HEAD_GAP_META.format(site=name), f"{self._head_gaps[name]:g}")
                except StoreError as exc:
                    self.store_failed(f"크롤링 실패: {name} head-poll gap not saved:", exc)
            self.await_confirmation(result)
        self._check_memory(rss)
        return result

    async def head_site(self, name: str) -> SiteResult | None:
        """One head poll of a site (the newest page); may hold, confirm or clear a change."""
        if self._paused() or not self.replicas.owns(name):
            return None
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            result = await self.pipeline.run_head(name)
        except StoreError as exc:
            self.store_failed(f"크롤링 실패: {name} {t('log.where.head')}", exc)
            return None
        except Exception as exc:  # a bug must not stop the other sites
            logger.error("{}", t("log.head_bug", site=name, kind=type(exc).__name__, error=exc))
            return None
        except asyncio.CancelledError:
            logger.warning("{}", t("log.head_cancelled", site=name))
            return None
        finally:
            if task is not None:
                self._inflight.discard(task)
        await self.watch()
        if self.on_result:
            self.on_result(result)
        if result.capped and name not in self._sweeping and not self.stop.is_set():
            self._sweep_now(name)
        if result.ok and not result.skipped:
            self._rereads[name] = 0
            self.await_confirmation(result)
        return result

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
            delay = head + _jitter(head) + CONFIRM_DELAY
            logger.info("{}", t("change.wait_head", site=name, count=len(waiting), seconds=delay))
        due = self.clock.now() + timedelta(seconds=delay)
        job = self._scheduler.get_job(f"confirm-{name}")
        earlier = getattr(job, "next_run_time", None)  # a job not yet started has no attribute
        if earlier is not None and earlier <= due:
            return  # an earlier re-read is due already: it reads these too
        self._scheduler.add_job(
            self.reread,
            DateTrigger(run_date=due),
            next_run_time=due,
            args=[name],
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
        self._scheduler.reschedule_job(f"head-{name}", trigger=_head_trigger(gap))
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
            self.store_failed("ops state not written:", exc)
        except Exception as exc:  # a bug here must not stop the crawls
            logger.error("ops check failed: {}: {}", type(exc).__name__, exc)

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
            head = self.settings.site_head_interval(name)
            if head is None:
                continue
            scheduler.add_job(
                self.head_site,
                _head_trigger(head),
                args=[name],
                id=f"head-{name}",
                name=f"head poll {name}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(head)),
                # head polls wait for the first sweep (it fills history); the first one after it alerts
                next_run_time=now + timedelta(seconds=head + index * 1.0),
            )

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        first_signal: float | None = None

        def on_signal(signum: int) -> None:
            nonlocal first_signal
            if first_signal is None:
                first_signal = loop.time()
                name = signal.Signals(signum).name
                sighup = t("log.signal.sighup") if signum == signal.SIGHUP else ""
                logger.info("{}", t("log.signal", signal=name, sighup=sighup))
                self.stop.set()
            elif loop.time() - first_signal >= DUPLICATE_SIGNAL_WINDOW:
                logger.warning("{}", t("log.second_signal"))
                os._exit(1)
            # else: the same stop delivered twice (to the process and to its group, as `timeout` and
            # `kill -TERM -PGID` do) — not a second request to hurry

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, on_signal, sig)
        scheduler = AsyncIOScheduler(event_loop=loop, timezone="UTC")
        self._scheduler = scheduler
        self._schedule(scheduler)
        await self.renew_sites()  # before the first crawls: which sites this replica crawls
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
            with contextlib.suppress(StoreError):
                await self.replicas.release()  # another replica takes the sites over at once
        pending: int | str = "?"
        with contextlib.suppress(StoreError):  # a store that cannot be reached: the count is unknown
            pending = (await self.store.outbox_stats()).pending
        logger.info("{}", t("log.stopped", pending=pending))
        if self.fatal is not None:
            return EXIT_STORE
        return self.exit_code


async def open_waiting(open_store: Callable[[], Awaitable[None]]) -> None:
    """Start even while the store cannot be reached: ``open_store`` is tried again with back-off
    (said once) until it succeeds; any other store error (a wrong password, a newer schema) is raised
    at once. A signal during the wait is a clean stop (SystemExit 0): nothing was started."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    delay, since = STORE_RETRY_FIRST, loop.time()
    try:
        for attempt in itertools.count():
            try:
                await open_store()
            except StoreUnavailable as exc:
                if attempt == 0:
                    logger.warning("{}", t("daemon.store_unreachable", where="start:", error=exc))
            else:
                if attempt:
                    logger.info("{}", t("daemon.store_back", seconds=loop.time() - since))
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            if stop.is_set():
                logger.info("signal received while waiting for the store: stopped (exit 0)")
                raise SystemExit(0)
            delay = min(STORE_RETRY_CAP, 2 * delay)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


def _head_trigger(seconds: float) -> IntervalTrigger:
    return IntervalTrigger(seconds=seconds, jitter=_jitter(seconds) or None)
