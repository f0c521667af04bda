"""The I/O shell of a cycle: crawl → validate → read a snapshot of history → decide → commit → wake.

The rules are ``core.decide`` (pure); this module reads what they need from the store, logs what they
decided and writes it in one store transaction. It knows no site: it gets a crawler (name, display
name, colour, ``crawl``). One failing site never stops another: every outcome, error included, comes
back as a ``SiteResult``; a crawler's own bug is turned into a ``CrawlError`` in one place
(``reading.crawl_failure``, with the reading half: fetch, parse, validate). Cancellation is never
caught here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from loguru import logger

from crawlers.base import Crawl, Crawler
from ticket_alarm.clock import Clock
from ticket_alarm.config.routes import Router
from ticket_alarm.config.settings import Settings
from ticket_alarm.core.decide import (
    HEAD,
    SWEEP,
    Decision,
    History,
    Mode,
    Rules,
    Site,
    decide,
    head_interest,
    may_storm,
)
from ticket_alarm.core.model import Ticket
from ticket_alarm.core.notice_memo import NoticeMemo
from ticket_alarm.core.reminders import plan_all
from ticket_alarm.core.validate import Checked, validate
from ticket_alarm.daemon.reading import Progress, close_pages, crawl_failure, read_head, read_site
from ticket_alarm.daemon.results import SiteResult, Skipped
from ticket_alarm.daemon.shows import link_new
from ticket_alarm.errors import CrawlError, FetchError, SiteLockedError
from ticket_alarm.fetch.http import Fetcher, SiteFetcher
from ticket_alarm.i18n import t
from ticket_alarm.store import (
    Cycle,
    HeadState,
    SiteState,
)
from ticket_alarm.store.api import Store
from ticket_alarm.store.rows import STORM_META

EMPTY_STREAK_WARNING = 3


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        fetcher: Fetcher,
        crawlers: dict[str, Crawler],
        clock: Clock,
        *,
        router: Router,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.fetcher = fetcher
        self.crawlers = crawlers
        self.clock = clock
        self.router = router  # which lanes take a notice (the composition root's)
        self.on_enqueue = on_enqueue
        self._notes: dict[str, tuple[str, ...]] = {}  # per site: the crawl notes last logged
        # per site: held changes are read and written by one run at a time (a sweep and a head poll
        # must not both confirm one change); only the store read → commit holds it, never HTTP
        self._holds: dict[str, asyncio.Lock] = {}
        self._linking = asyncio.Lock()  # shows: the lookup of a cycle's new notices → its commit
        # a sweep in progress: (site, requests answered, notices read so far), after each request/page
        self.on_progress: Progress | None = None

    @property
    def rules(self) -> Rules:
        return Rules(self.settings.change_confirm_cycles, self.settings.notify_on_first_run, self.router)

    # --- reading -------------------------------------------------------------------------------

    async def crawl_only(self, name: str, *, remember: bool = False) -> tuple[SiteResult, Crawl | None]:
        """Fetch and parse one site; no store writes (used by ``test-crawlers``). ``remember``: the
        second pages read (and failed) are kept in the store (a sweep)."""
        result, crawl, _notices = await self._read(name, remember=remember)
        return result, crawl

    async def _read(self, name: str, *, remember: bool) -> tuple[SiteResult, Crawl | None, Checked]:
        fetch = self._fetch(name)
        if remember:
            fetch.memo = NoticeMemo(name, self.store, lambda: self.clock.now().timestamp())
        return await read_site(name, self.crawlers[name], fetch, self.clock, self.on_progress)

    async def head_only(self, name: str) -> SiteResult | None:
        """Fetch and parse the first registration-order page; no store writes (``test-crawlers``).
        None when the crawler (its current source) has no registration order."""
        return await read_head(name, self.crawlers[name], self._fetch(name), self.clock)

    def _fetch(self, name: str) -> SiteFetcher:
        return self.fetcher.for_site(name, self.settings.site(name).base_url)

    # --- a sweep -------------------------------------------------------------------------------

    async def run_site(self, name: str) -> SiteResult:
        """One full cycle for one site. Never raises for site trouble; StoreError propagates."""
        crawler = self.crawlers[name]
        state = await self.store.site_state(name)
        now = self.clock.now().timestamp()
        if state.locked_until and state.locked_until > now:
            skipped = Skipped(state.locked_until, state.last_error)
            logger.info("{}", t("log.crawl_skipped", site=name, why=skipped.describe(now)))
            return SiteResult(site=name, ok=True, skipped=skipped)
        state.last_attempt = now
        result, crawl, notices = await self._read(name, remember=True)
        if crawl is None:
            return await self._failed(crawler, state, result)
        # a head poll may have met the site's lock (423) while this sweep ran: the sweep keeps it
        locked_meanwhile = (await self.store.site_state(name)).locked_until
        self._say_crawl(name, crawl, notices)
        async with self._hold_lock(name):
            await self._sweep(crawler, state, notices, result)
        if locked_meanwhile and locked_meanwhile > now:
            state.locked_until = locked_meanwhile
            await self.store.save_site_state(state)
        if result.first_run:
            note = t("log.crawled.first_run")
        else:
            note = t("log.crawled.held", count=result.held) if result.held else ""
        awaiting = t("change.awaiting_count", count=len(result.awaiting)) if result.awaiting else ""
        notes = note + result.legacy_note() + awaiting  # text: a tuple here printed "('',)" in every line
        counts = {"items": result.items, "new": result.new, "changed": result.changed}
        logger.info("{}", t("log.crawled", site=name, **counts, seconds=result.seconds, notes=notes))
        return result

    def _say_crawl(self, name: str, crawl: Crawl, notices: Checked) -> None:
        for ticket, problems in notices.invalid:
            said = t("log.invalid_notice", site=name, id=ticket.id, problems="; ".join(problems))
            logger.warning("{}", said)
        if tuple(crawl.notes) != self._notes.get(name, ()):  # the same notes every cycle: said once
            self._notes[name] = tuple(crawl.notes)
            for note in crawl.notes:
                logger.info("{}: {}", name, note)
        for warning in crawl.warnings:
            logger.warning("{}: {}", name, warning)
        if crawl.capped:
            logger.warning("{}", t("log.page_cap", site=name, pages=crawl.pages))

    async def _sweep(self, crawler: Crawler, state: SiteState, notices: Checked, result: SiteResult) -> None:
        name = crawler.name
        now = self.clock.now().timestamp()
        valid = notices.valid
        decision = await self._decide(
            SWEEP, crawler, valid, await self._snapshot(crawler, valid, state.initialized)
        )
        result.count(decision)
        result.first_run = decision.first_run
        state.initialized = True
        state.last_success = now
        state.failure_streak = 0
        state.last_error = None
        state.locked_until = None
        state.last_count = len(valid)
        state.last_invalid = result.invalid
        state.empty_streak = state.empty_streak + 1 if not valid else 0
        if state.empty_streak >= EMPTY_STREAK_WARNING and crawler.usual_minimum > 0:
            said = t("log.empty_streak", site=name, count=state.empty_streak, usual=crawler.usual_minimum)
            logger.warning("{}", said)
        await self._commit(name, now, decision, state)

    async def _failed(self, crawler: Crawler, state: SiteState, result: SiteResult) -> SiteResult:
        now = self.clock.now().timestamp()
        state.last_failure = now
        state.failure_streak += 1
        state.last_error = result.error
        if isinstance(result.failure, SiteLockedError):
            cooldown = crawler.settings.lock_cooldown
            state.locked_until = now + cooldown
            wait = t("log.minutes", n=cooldown / 60) if cooldown >= 120 else t("log.seconds", n=cooldown)
            logger.warning("{}", t("log.crawl_locked", site=crawler.name, reason=result.error, wait=wait))
        else:
            hint = t("log.hint", hint=result.hint) if result.hint else ""
            logger.error("{}", t("log.crawl_failed", site=crawler.name, reason=result.error, hint=hint))
        await self.store.save_site_state(state)
        return result

    # --- a head poll ---------------------------------------------------------------------------

    async def run_head(self, name: str) -> SiteResult:
        """One head poll: the newest page(s) in registration order. Never-seen notices are alerted at
        once; known notices listed with a new content, or with a change held, go through the sweep's
        rules (held, confirmed by the next read that shows it again, or cleared: A→B→A sends
        nothing). Removals are left to the sweeps. Never raises for site trouble."""
        crawler = self.crawlers[name]
        result = SiteResult(site=name, ok=True, mode=HEAD)
        state = await self.store.site_state(name)
        head = await self.store.head_state(name)
        now = self.clock.now().timestamp()
        if state.locked_until and state.locked_until > now:
            result.skipped = Skipped(state.locked_until, state.last_error)
            return result
        if not state.initialized:  # the first sweep fills history silently; until then, no head alerts
            result.skipped = Skipped(None, None, "first_sweep")
            return result
        if head.paused_until and head.paused_until > now:
            result.skipped = Skipped(head.paused_until, None, "retry_after")
            return result
        fetch = self._fetch(name)
        pages = crawler.head_pages(fetch)
        if pages is None:
            result.skipped = Skipped(None, None, "no_order")
            if head.sweeps_only is None:
                head.sweeps_only = "no registration order: swept only"
                await self.store.save_head_state(head)
            return result
        head.sweeps_only = None
        head.last_attempt = now
        started = self.clock.monotonic()
        fresh: dict[str, Ticket] = {}
        known: dict[str, Ticket] = {}  # known notices listed with a new content, or with a change held
        try:
            try:
                async for tickets in pages:
                    result.pages += 1
                    valid = validate(tickets).valid
                    result.items += len(valid)
                    result.invalid += len(tickets) - len(valid)
                    seen = await self.store.seen(t.key for t in valid)
                    for ticket in valid:
                        interest = head_interest(ticket, seen.get(ticket.key))
                        if interest == "fresh":
                            fresh.setdefault(ticket.key, ticket)
                        elif interest is not None:
                            result.known_changed += interest == "moved"
                            known[ticket.key] = ticket
                    whole_page_new = bool(valid) and not any(t.key in seen for t in valid)
                    if not whole_page_new or result.pages >= crawler.page_cap:
                        result.capped = whole_page_new
                        break
            finally:
                await close_pages(pages)
            completed = [await crawler.complete(fetch, t) if t.incomplete else t for t in fresh.values()]
        except Exception as exc:
            failure = crawl_failure(name, exc, "log.head_timed_out")
            return await self._head_failed(crawler, head, result, failure, fetch.requested(failure.reason))
        result.seconds = self.clock.monotonic() - started
        result.status = fetch.stats.last_status
        result.requests = fetch.stats.requests
        await self._apply_head(
            crawler, head, completed, [t for k, t in known.items() if k not in fresh], result
        )
        return result

    async def _apply_head(
        self, crawler: Crawler, head: HeadState, fresh: list[Ticket], known: list[Ticket], result: SiteResult
    ) -> None:
        name = crawler.name
        now = self.clock.now().timestamp()
        async with self._hold_lock(name):
            # read again right before the write: a sweep may have recorded one while we read notice pages
            history = await self._snapshot(crawler, [*fresh, *known], True)
            listed = [t for t in fresh if t.key not in history.seen] + [
                t for t in known if t.key in history.seen
            ]
            decision = await self._decide(HEAD, crawler, listed, history)
            result.count(decision)
            for ticket in decision.incomplete_new:
                why = ticket.incomplete.why if ticket.incomplete else ""
                logger.warning("{}", t("log.head_incomplete", site=name, id=ticket.id, why=why))
            if result.capped:
                logger.warning("{}", t("log.head_capped", site=name, pages=result.pages))
            if head.failure_streak:
                logger.info("{}", t("log.head_back", site=name, count=head.failure_streak))
            head.last_success = now
            head.failure_streak = 0
            head.last_error = None
            head.last_new = result.new
            head.paused_until = None
            if decision.writes:
                # the site state is written back as it stands (a sweep in flight keeps its own)
                await self._commit(name, now, decision, await self.store.site_state(name))
        if any(e.event == "first" for e in decision.events):
            said = t(
                "log.head_new", site=name, count=result.new, seconds=result.seconds, note=result.legacy_note()
            )
            logger.info("{}", said)
        await self.store.save_head_state(head)
        if result.changed:
            confirmed = t("change.head_confirmed", site=name, count=result.changed, seconds=result.seconds)
            logger.info("{}", confirmed)

    async def _head_failed(
        self, crawler: Crawler, head: HeadState, result: SiteResult, exc: CrawlError, reason: str
    ) -> SiteResult:
        now = self.clock.now().timestamp()
        result.fail(exc, reason)
        head.failure_streak += 1
        head.last_error = reason
        if isinstance(exc, SiteLockedError):  # Melon's 423: the cool-down stops sweeps and head polls alike
            state = await self.store.site_state(crawler.name)  # as it stands now: a sweep may have saved
            state.locked_until = now + crawler.settings.lock_cooldown
            await self.store.save_site_state(state)
            logger.warning("{}", t("log.head_locked", site=crawler.name, reason=reason))
        elif isinstance(exc, FetchError) and exc.retry_after:
            head.paused_until = now + exc.retry_after
            said = t("log.head_retry_after", site=crawler.name, reason=reason, wait=exc.retry_after)
            logger.warning("{}", said)
        elif head.failure_streak == 1:  # an outage would log every head_interval: once, then at DEBUG
            hint = t("log.hint", hint=exc.hint) if exc.hint else ""
            logger.warning("{}", t("log.head_failed", site=crawler.name, reason=reason, hint=hint))
        else:
            said = t("log.head_failed_again", site=crawler.name, count=head.failure_streak, reason=reason)
            logger.debug("{}", said)
        await self.store.save_head_state(head)
        return result

    # --- shared: snapshot → decide → commit ----------------------------------------------------

    def _hold_lock(self, name: str) -> asyncio.Lock:
        return self._holds.setdefault(name, asyncio.Lock())

    async def _snapshot(self, crawler: Crawler, tickets: list[Ticket], initialized: bool) -> History:
        """What ``decide`` needs to know of history about ``tickets``, read right before deciding."""
        seen = await self.store.seen(t.key for t in tickets)
        fresh = sum(1 for t in tickets if t.key not in seen)
        # the keys that may become history rows: never seen, read in part, or read with another content
        may_write = [
            t.key for t in tickets if t.key not in seen or t.incomplete or seen[t.key].digest != t.digest
        ]
        legacy = await self.store.legacy_keys(may_write) if may_write else set()
        storm = may_storm(_site(crawler), initialized, fresh)
        contents = await self.store.known_contents(crawler.name) if storm else set()
        return History(initialized, seen, frozenset(legacy), frozenset(contents))

    async def _decide(
        self, mode: Mode, crawler: Crawler, tickets: list[Ticket], history: History
    ) -> Decision:
        """Decide, and say what was decided (the storm, changes held, changes read back)."""
        site = _site(crawler)
        decision = decide(mode, site, tickets, history, self.rules)
        if decision.storm is not None:
            storm = decision.storm
            said = t(
                "log.storm",
                site=site.name,
                matched=storm.matched,
                new=storm.new,
                rest=storm.new - storm.matched,
            )
            logger.warning("{}", said)
            record = {"at": self.clock.now().timestamp(), "held": storm.matched, "new": storm.new}
            record["threshold"] = storm.threshold
            await self.store.set_meta(STORM_META.format(site=site.name), json.dumps(record))
        for ticket, fields in decision.newly_held:
            logger.info("{}", t("change.held", site=site.name, id=ticket.id, fields=fields))
        for ticket in decision.reverted:
            logger.info("{}", t("log.changed_back", site=site.name, id=ticket.id))
        return decision

    async def _commit(self, name: str, now: float, decision: Decision, state: SiteState) -> None:
        """One transaction for the cycle; the reminder plans become row writes (``plan_all``) against
        the reminder rows the store holds. Then delivery is woken when alerts were queued."""
        stored = await self.store.reminders({p.notice_key for p in decision.reminders})
        async with self._linking:  # two vendors of one show crawled at once: the second sees the first
            await self.store.commit_cycle(
                Cycle(
                    name,
                    now,
                    state,
                    history=decision.history,
                    touched=decision.touched,
                    outbox=decision.outbox,
                    pending=decision.pending,
                    events=decision.events,
                    reminders=plan_all(decision.reminders, stored, now),
                    legacy_matched=decision.legacy_matched,
                    shows=await link_new(self.store, decision, now),
                )
            )
        if decision.outbox and self.on_enqueue:
            self.on_enqueue()


def _site(crawler: Crawler) -> Site:
    return Site(crawler.name, crawler.display_name, crawler.color, crawler.settings.storm_threshold)
