"""The per-site cycle: crawl → validate → compare with history → one store transaction.

The pipeline knows no site: it gets a crawler (name, display name, colour, ``crawl``) and turns
its tickets into history rows and outbox rows. One failing site never stops another: every
outcome, error included, comes back as a ``SiteResult``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextvars import Token
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from loguru import logger

from crawlers.base import CRAWL_PROGRESS, INCOMPLETE, UNREAD, Crawl, Crawler, check_valid, unread_parts
from ticket_alarm.clock import Clock, age_text
from ticket_alarm.config.routes import Router, router_for
from ticket_alarm.config.settings import Settings
from ticket_alarm.core.model import Ticket, seoul_text
from ticket_alarm.core.notice_memo import NoticeMemo
from ticket_alarm.daemon.reminders import plan_all
from ticket_alarm.delivery.notify import Alert
from ticket_alarm.errors import CrawlError, FetchError, SiteLockedError
from ticket_alarm.fetch.http import Fetcher, SiteFetcher
from ticket_alarm.i18n import t
from ticket_alarm.store import (
    Cycle,
    DigestEvent,
    HeadState,
    HistoryRow,
    NewOutboxRow,
    PendingChange,
    ReminderPlan,
    Seen,
    SiteState,
)
from ticket_alarm.store.api import Store

EMPTY_STREAK_WARNING = 3
SWEEP = "sweep"  # SiteResult.mode: the whole list in open-date order (decides changes and removals)
HEAD = "head"  # SiteResult.mode: the newest page(s) in registration order (alerts never-seen notices)
STORM_META = "storm:{site}"  # meta key: the last renumbering storm held on a site (health shows it)


SkipReason = Literal["locked", "first_sweep", "retry_after", "no_order"]


@dataclass(frozen=True, slots=True)
class Skipped:
    """Why a sweep or head poll of a site did not run this time.

    ``locked``: the site locked this client (HTTP 423), the cool-down ends at ``until``;
    ``retry_after``: head polls wait out the site's Retry-After, until ``until``;
    ``first_sweep``: head polls wait for the first sweep to fill history; ``no_order``: the crawler
    (its current source) has no registration order, so the site is swept only.
    """

    until: float | None
    error: str | None
    reason: SkipReason = "locked"

    def describe(self, now: float) -> str:
        if self.reason in ("first_sweep", "no_order"):
            return t(f"site.skipped_{self.reason}")
        why = f" ({self.error})" if self.error else ""
        until = self.until if self.until is not None else now
        resume = seoul_text(datetime.fromtimestamp(until, UTC))
        return t(f"site.skipped_{self.reason}", why=why, until=resume, left=age_text(until - now))


@dataclass
class SiteResult:
    site: str
    ok: bool = False
    items: int = 0
    new: int = 0
    changed: int = 0
    invalid: int = 0
    queued: int = 0
    seconds: float = 0.0
    pages: int = 0
    status: int | None = None
    error: str | None = None
    hint: str | None = None
    failure: CrawlError | None = None  # the typed error behind ``error`` (None: ok, or not a CrawlError)
    skipped: Skipped | None = None  # why the crawl did not run this cycle
    first_run: bool = False
    capped: bool = False
    held: int = 0  # new ids held as a renumbering storm (recorded silently)
    legacy: int = 0  # new ids the old script announced already (imported legacy keys): not alerted
    sample: list[Ticket] = field(default_factory=list)
    mode: str = SWEEP
    requests: int = 0  # HTTP exchanges this run made (a sweep's count sets the head polls' budget)
    # head polls only: known notices listed with content history does not hold (held now, see ``awaiting``)
    known_changed: int = 0
    awaiting: list[str] = field(default_factory=list)  # keys of changes held after this run (re-read next)
    settled: list[str] = field(default_factory=list)  # keys whose held change this run confirmed or cleared
    parsed: list[Ticket] = field(default_factory=list)  # every notice the crawl parsed
    warnings: list[str] = field(default_factory=list)  # the crawl's partial failures


@dataclass
class _CycleWrite:
    """Everything one crawl result writes, in one store transaction."""

    history: list[HistoryRow] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)
    outbox: list[NewOutboxRow] = field(default_factory=list)
    pending: list[PendingChange] = field(default_factory=list)
    events: list[DigestEvent] = field(default_factory=list)
    reminders: list[ReminderPlan] = field(default_factory=list)

    def plan_reminders(self, ticket: Ticket, lanes: list[str], router: Router) -> None:
        open_at = ticket.open_at.timestamp() if ticket.open_at else None
        presales = tuple((p.name, p.at.timestamp()) for p in ticket.presales if p.at is not None)
        for lane in lanes:
            offsets = router.reminders_for(lane)
            if offsets:
                self.reminders.append(ReminderPlan(ticket.key, ticket.site, lane, offsets, open_at, presales))


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        fetcher: Fetcher,
        crawlers: dict[str, Crawler],
        clock: Clock,
        *,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.fetcher = fetcher
        self.crawlers = crawlers
        self.clock = clock
        self.router = router_for(settings)
        self.on_enqueue = on_enqueue
        self._notes: dict[str, tuple[str, ...]] = {}  # per site: the crawl notes last logged
        # per site: held changes are read and written by one run at a time (a sweep and a head poll
        # must not both confirm one change); only the store read → commit holds it, never HTTP
        self._holds: dict[str, asyncio.Lock] = {}
        # a sweep in progress: (site, requests answered, notices read so far), after each request/page
        self.on_progress: Callable[[str, int, int], None] | None = None

    async def crawl_only(self, name: str, *, remember: bool = False) -> tuple[SiteResult, Crawl | None]:
        """Fetch and parse one site; no store writes (used by ``test-crawlers``). ``remember``: the
        second pages read (and failed) are kept in the store (a sweep)."""
        crawler = self.crawlers[name]
        result = SiteResult(site=name)
        fetch = self.fetcher.for_site(name, self.settings.site(name).base_url)
        if remember:
            fetch.memo = NoticeMemo(name, self.store, lambda: self.clock.now().timestamp())
        started = self.clock.monotonic()
        crawl: Crawl | None = None
        token = self._watch(name, fetch)
        try:
            crawled = await crawler.crawl(fetch)
            check_valid(name, crawled.tickets)  # most notices invalid: the page changed, not "ok"
            crawl = crawled
        except CrawlError as exc:
            result.error = fetch.requested(exc.reason)  # with base_url: the URL really requested
            result.hint = exc.hint
            result.failure = exc
        except TimeoutError:
            result.error = t("log.crawl_timed_out")
        except Exception as exc:  # a crawler bug must not stop the other sites (or `once`)
            logger.opt(exception=exc).debug("{} crawler raised", name)
            result.error = t("log.crawler_bug", kind=type(exc).__name__, error=exc)
            result.hint = t("crawl.hint.bug")
        finally:
            if token is not None:
                CRAWL_PROGRESS.reset(token)
        result.seconds = self.clock.monotonic() - started
        result.status = fetch.stats.last_status
        result.requests = fetch.stats.requests
        if crawl is not None:
            valid = [t for t in crawl.tickets if not t.problems()]
            result.ok = True
            result.items = len(valid)
            result.invalid = len(crawl.tickets) - len(valid)
            result.pages = crawl.pages
            result.capped = crawl.capped
            result.sample = valid[:3]
            result.parsed = list(crawl.tickets)
            result.warnings = list(crawl.warnings)
        return result, crawl

    def _watch(self, name: str, fetch: SiteFetcher) -> Token[Callable[[Crawl], None] | None] | None:
        """Report this sweep's progress to ``on_progress`` (its requests, the notices its pages held)."""
        progress = self.on_progress
        if progress is None:
            return None
        notices = [0]

        def paged(crawl: Crawl) -> None:
            notices[0] = len(crawl.tickets)
            progress(name, fetch.stats.requests, notices[0])

        fetch.stats.on_request = lambda: progress(name, fetch.stats.requests, notices[0])
        return CRAWL_PROGRESS.set(paged)

    async def head_only(self, name: str) -> SiteResult | None:
        """Fetch and parse the first registration-order page; no store writes (``test-crawlers``).
        None when the crawler (its current source) has no registration order."""
        crawler = self.crawlers[name]
        fetch = self.fetcher.for_site(name, self.settings.site(name).base_url)
        pages = crawler.head_pages(fetch)
        if pages is None:
            return None
        result = SiteResult(site=name, mode=HEAD)
        started = self.clock.monotonic()
        try:
            async for tickets in pages:
                valid = [t for t in tickets if not t.problems()]
                result.ok, result.pages, result.items = True, 1, len(valid)
                result.invalid, result.sample = len(tickets) - len(valid), valid[:3]
                break
            else:
                result.ok = True  # the list is empty
        except CrawlError as exc:
            result.error, result.hint = exc.reason, exc.hint
        except Exception as exc:  # a crawler bug must not stop the other sites
            result.error = f"crawler bug: {type(exc).__name__}: {exc}"
        finally:
            aclose = getattr(pages, "aclose", None)
            if aclose is not None:
                await aclose()
        result.seconds = self.clock.monotonic() - started
        result.status = fetch.stats.last_status
        return result

    async def run_site(self, name: str) -> SiteResult:
        """One full cycle for one site. Never raises for site trouble; StoreError propagates."""
        crawler = self.crawlers[name]
        state = await self.store.site_state(name)
        now = self.clock.now().timestamp()
        if state.locked_until and state.locked_until > now:
            skipped = Skipped(state.locked_until, state.last_error)
            logger.info("크롤링 건너뜀: {} — {}", name, skipped.describe(now))
            return SiteResult(site=name, ok=True, skipped=skipped)
        state.last_attempt = now
        result, crawl = await self.crawl_only(name, remember=True)
        if crawl is None:
            return await self._failed(crawler, state, result)
        # a head poll may have met the site's lock (423) while this sweep ran: the sweep keeps it
        locked_meanwhile = (await self.store.site_state(name)).locked_until
        async with self._hold_lock(name):
            await self._apply(crawler, state, crawl, result)
        if locked_meanwhile and locked_meanwhile > now:
            state.locked_until = locked_meanwhile
            await self.store.save_site_state(state)
        logger.info(
            "크롤링 완료: {} 공지 {}건, 새 공지 {}건, 변경 {}건, {:.1f}초{}",
            name,
            result.items,
            result.new,
            result.changed,
            result.seconds,
            (
                " (첫 실행: 알림 없이 기록)"
                if result.first_run
                else f" (번호만 바뀐 공지 {result.held}건: 알림 없이 기록)"
                if result.held
                else ""
            )
            + _legacy_note(result)
            + (t("change.awaiting_count", count=len(result.awaiting)) if result.awaiting else ""),
        )
        return result

    async def run_head(self, name: str) -> SiteResult:
        """One head poll: the newest page(s) in registration order; never-seen notices are alerted at
        once, in the same history + outbox transaction a sweep uses. Known notices are left to the
        sweeps (a head poll decides no change or removal). Never raises for site trouble."""
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
        fetch = self.fetcher.for_site(name, self.settings.site(name).base_url)
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
        known: list[Ticket] = []  # known notices listed with a new content, or with a change held
        try:
            try:
                async for tickets in pages:
                    result.pages += 1
                    valid = [t for t in tickets if not t.problems()]
                    result.items += len(valid)
                    result.invalid += len(tickets) - len(valid)
                    seen = await self.store.seen(t.key for t in valid)
                    for ticket in valid:
                        previous = seen.get(ticket.key)
                        if previous is None:
                            fresh.setdefault(ticket.key, ticket)
                        elif _content_moved(ticket, previous):
                            result.known_changed += 1
                            known.append(ticket)
                        elif previous.pending_digest is not None and not ticket.extra.get(INCOMPLETE):
                            known.append(ticket)  # a re-read of a held change: confirms or clears it
                    whole_page_new = bool(valid) and not any(t.key in seen for t in valid)
                    if not whole_page_new or result.pages >= crawler.page_cap:
                        result.capped = whole_page_new
                        break
            finally:
                aclose = getattr(pages, "aclose", None)
                if aclose is not None:
                    await aclose()
            tickets = [
                await crawler.complete(fetch, t) if t.extra.get(INCOMPLETE) else t for t in fresh.values()
            ]
        except CrawlError as exc:  # named as a sweep's: with base_url, the URL really requested
            return await self._head_failed(crawler, head, result, exc, fetch.requested(exc.reason))
        except TimeoutError:
            timed_out = CrawlError(name, t("log.head_timed_out"))
            return await self._head_failed(crawler, head, result, timed_out)
        except Exception as exc:  # a crawler bug must not stop the other sites
            logger.opt(exception=exc).debug("{} head_pages raised", name)
            bug = CrawlError(
                name,
                t("log.crawler_bug", kind=type(exc).__name__, error=exc),
                hint=t("crawl.hint.bug"),
            )
            return await self._head_failed(crawler, head, result, bug)
        result.seconds = self.clock.monotonic() - started
        result.status = fetch.stats.last_status
        result.requests = fetch.stats.requests
        await self._apply_head(crawler, head, tickets, result)
        await self._head_changes(crawler, known, result)
        return result

    async def _head_changes(self, crawler: Crawler, tickets: list[Ticket], result: SiteResult) -> None:
        """Known notices a head poll lists with a new content, or with a change held: the sweep's rule
        (``_changed``). A new content is held (변경 확인 대기); the next read that shows it again — the
        next head poll, about one ``head_interval`` later — confirms and announces it; a read that
        shows the old content again clears the hold (A→B→A: nothing sent)."""
        if not tickets:
            return
        name = crawler.name
        write = _CycleWrite()
        async with self._hold_lock(name):
            seen = await self.store.seen(t.key for t in tickets)  # as it stands: a sweep may have written
            for ticket in {t.key: t for t in tickets}.values():
                previous = seen.get(ticket.key)
                if previous is None:
                    continue
                if previous.digest != ticket.digest:
                    result.changed += self._changed(crawler, ticket, previous, write, silent=False)
                elif previous.pending_digest is not None:
                    self._reverted(crawler, ticket, write)
            if not write.pending:
                return
            now = self.clock.now().timestamp()
            queued = result.queued
            await self._commit(name, now, write, await self.store.site_state(name), result)
        result.queued = queued + len(write.outbox)
        _tally(write, result)
        if result.changed:
            confirmed = t("change.head_confirmed", site=name, count=result.changed, seconds=result.seconds)
            logger.info("{}", confirmed)
        if write.outbox and self.on_enqueue:
            self.on_enqueue()

    def _hold_lock(self, name: str) -> asyncio.Lock:
        return self._holds.setdefault(name, asyncio.Lock())

    async def _apply_head(
        self, crawler: Crawler, head: HeadState, tickets: list[Ticket], result: SiteResult
    ) -> None:
        name = crawler.name
        now = self.clock.now().timestamp()
        # checked again right before the write: a sweep may have recorded one while we read notice pages
        seen = await self.store.seen(t.key for t in tickets)
        fresh = [t for t in tickets if t.key not in seen]
        # a renumbering makes every head page new: the same hold as a sweep's
        held = await self._storm(crawler, await self.store.site_state(name), fresh)
        result.held = len(held)
        write = _CycleWrite()
        for ticket in fresh:
            if ticket.key in held:
                self._first_seen(crawler, ticket, write, silent=True, remind=False)
                continue
            if ticket.extra.get(INCOMPLETE):
                logger.warning(
                    "{}", t("log.head_incomplete", site=name, id=ticket.id, why=ticket.extra[INCOMPLETE])
                )
            result.new += 1
            self._first_seen(crawler, ticket, write, silent=False)
        result.queued = len(write.outbox)
        if result.capped:
            logger.warning("{}", t("log.head_capped", site=name, pages=result.pages))
        if head.failure_streak:
            logger.info("{}", t("log.head_back", site=name, count=head.failure_streak))
        head.last_success = now
        head.failure_streak = 0
        head.last_error = None
        head.last_new = result.new
        head.paused_until = None
        if write.history:
            # the site state is written back as it stands (a sweep in flight keeps its own)
            await self._commit(name, now, write, await self.store.site_state(name), result)
            said = t(
                "log.head_new", site=name, count=result.new, seconds=result.seconds, note=_legacy_note(result)
            )
            logger.info("{}", said)
            if write.outbox and self.on_enqueue:
                self.on_enqueue()
        await self.store.save_head_state(head)

    async def _head_failed(
        self,
        crawler: Crawler,
        head: HeadState,
        result: SiteResult,
        exc: CrawlError,
        reason: str | None = None,
    ) -> SiteResult:
        now = self.clock.now().timestamp()
        reason = reason or exc.reason
        result.ok = False
        result.error = reason
        result.hint = exc.hint
        result.failure = exc
        head.failure_streak += 1
        head.last_error = reason
        if isinstance(exc, SiteLockedError):  # Melon's 423: the cool-down stops sweeps and head polls alike
            state = await self.store.site_state(
                crawler.name
            )  # as it stands now: a sweep may have saved since
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

    async def _apply(self, crawler: Crawler, state: SiteState, crawl: Crawl, result: SiteResult) -> None:
        name = crawler.name
        now = self.clock.now().timestamp()
        valid: list[Ticket] = []
        for ticket in crawl.tickets:
            problems = ticket.problems()
            if problems:
                said = t("log.invalid_notice", site=name, id=ticket.id, problems="; ".join(problems))
                logger.warning("{}", said)
            else:
                valid.append(ticket)
        if tuple(crawl.notes) != self._notes.get(name, ()):  # the same notes every cycle: said once
            self._notes[name] = tuple(crawl.notes)
            for note in crawl.notes:
                logger.info("{}: {}", name, note)
        for warning in crawl.warnings:
            logger.warning("{}: {}", name, warning)
        if crawl.capped:
            logger.warning("{}", t("log.page_cap", site=name, pages=crawl.pages))
        seen = await self.store.seen(t.key for t in valid)
        silent = not state.initialized and not self.settings.notify_on_first_run
        write = _CycleWrite()
        held = (
            await self._storm(crawler, state, [t for t in valid if t.key not in seen])
            if not silent
            else set()
        )
        result.held = len(held)
        for ticket in valid:
            previous = seen.get(ticket.key)
            if previous is not None and ticket.extra.get(INCOMPLETE):  # read in part: the gap is no change
                ticket = _unread_kept(ticket, Ticket.from_json(previous.ticket))
            if previous is None:
                result.new += int(ticket.key not in held)  # held renumbered notices are not new ones
                self._first_seen(
                    crawler, ticket, write, silent or ticket.key in held, remind=ticket.key not in held
                )
            elif previous.digest == ticket.digest:
                write.touched.append(ticket.key)
                if previous.pending_digest is not None:  # A→B→A inside the hold: nothing to announce
                    write.pending.append(PendingChange(ticket.key, None, None, 0))
                    write.events.append(DigestEvent(ticket.key, "reverted", ticket.digest, ticket.to_json()))
                    logger.info("{}", t("log.changed_back", site=name, id=ticket.id))
            else:
                result.changed += self._changed(crawler, ticket, previous, write, silent)
        result.first_run = silent
        result.queued = len(write.outbox)
        _tally(write, result)
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
        await self._commit(name, now, write, state, result)
        if write.outbox and self.on_enqueue:
            self.on_enqueue()

    async def _commit(
        self, name: str, now: float, write: _CycleWrite, state: SiteState, result: SiteResult
    ) -> None:
        """One transaction for the cycle, after the rules the store no longer applies itself.

        Notices the old script announced (``history import``) are recorded but never alerted as
        new: their "new" rows are dropped here, and ``result.new``/``result.legacy`` say so.
        Reminder plans become row writes (``reminders.plan_all``) against what the store holds.
        """
        legacy = await self.store.legacy_keys(h.key for h in write.history)
        if legacy:
            dropped = {o.notice_key for o in write.outbox if o.kind == "new" and o.notice_key in legacy}
            write.outbox = [o for o in write.outbox if not (o.kind == "new" and o.notice_key in legacy)]
            result.new -= len(dropped)
            result.legacy += len(dropped)
            result.queued = len(write.outbox)
        reminders = plan_all(
            write.reminders, await self.store.reminders({p.notice_key for p in write.reminders}), now
        )
        await self.store.commit_cycle(
            Cycle(
                name,
                now,
                state,
                history=write.history,
                touched=write.touched,
                outbox=write.outbox,
                pending=write.pending,
                events=write.events,
                reminders=reminders,
                legacy_matched=sorted(legacy),
            )
        )

    def _first_seen(
        self, crawler: Crawler, ticket: Ticket, write: _CycleWrite, silent: bool, *, remind: bool = True
    ) -> None:
        data = ticket.to_json()
        write.history.append(
            HistoryRow(ticket.key, ticket.digest, crawler.name, ticket.id, ticket.title, data)
        )
        write.events.append(DigestEvent(ticket.key, "first", ticket.digest, data))
        lanes = self.router.lanes_for(ticket)
        if not silent:
            alert = Alert("new", crawler.display_name, crawler.color, ticket).to_json()
            write.outbox += [NewOutboxRow(lane, "new", crawler.name, ticket.key, alert) for lane in lanes]
        if remind:  # a notice held as renumbered keeps the reminders of its known twin
            write.plan_reminders(ticket, lanes, self.router)

    async def _storm(self, crawler: Crawler, state: SiteState, new: list[Ticket]) -> set[str]:
        """Keys of new notices to hold: a renumbering (a migration gave known notices new ids).

        Only when one crawl would announce more than ``sites.<name>.storm_threshold`` new notices on
        a site with history and most of them match a known notice by content (title + open time);
        those are recorded silently. New notices without such a match still alert.
        """
        threshold = crawler.settings.storm_threshold
        if not state.initialized or len(new) <= threshold:
            return set()
        known = await self.store.known_contents(crawler.name)
        matched = [t for t in new if (t.title, t.open_at.isoformat() if t.open_at else None) in known]
        if len(matched) * 2 <= len(new):
            return set()
        now = self.clock.now().timestamp()
        said = t(
            "log.storm", site=crawler.name, matched=len(matched), new=len(new), rest=len(new) - len(matched)
        )
        logger.warning("{}", said)
        record = {"at": now, "held": len(matched), "new": len(new), "threshold": threshold}
        await self.store.set_meta(STORM_META.format(site=crawler.name), json.dumps(record))
        return {t.key for t in matched}

    def _changed(
        self, crawler: Crawler, ticket: Ticket, previous: Seen, write: _CycleWrite, silent: bool
    ) -> int:
        """A digest that differs from the confirmed one: hold it, or confirm it and announce it."""
        key, digest, data = ticket.key, ticket.digest, ticket.to_json()
        cycles = previous.pending_cycles + 1 if previous.pending_digest == digest else 1
        write.touched.append(key)
        if cycles <= self.settings.change_confirm_cycles:
            if previous.pending_digest != digest:
                write.events.append(DigestEvent(key, "pending", digest, data))
                fields = ", ".join(ticket.changes_from(Ticket.from_json(previous.ticket))) or "-"
                logger.info("{}", t("change.held", site=crawler.name, id=ticket.id, fields=fields))
            write.pending.append(PendingChange(key, digest, data, cycles))
            return 0
        before = Ticket.from_json(previous.ticket)
        write.history.append(HistoryRow(key, digest, crawler.name, ticket.id, ticket.title, data))
        write.pending.append(PendingChange(key, None, None, 0))
        write.events.append(DigestEvent(key, "confirmed", digest, data))
        lanes = self.router.lanes_for(ticket)
        if before.open_at != ticket.open_at or before.presales != ticket.presales:  # per-sale reminders
            write.plan_reminders(ticket, lanes, self.router)
        if not ticket.changes_from(before) or silent:
            return 0
        alert = Alert("change", crawler.display_name, crawler.color, ticket, before=before).to_json()
        write.outbox += [NewOutboxRow(lane, "change", crawler.name, key, alert) for lane in lanes]
        return 1

    def _reverted(self, crawler: Crawler, ticket: Ticket, write: _CycleWrite) -> None:
        """A held change read back to the confirmed content (A→B→A): the hold ends, nothing is sent."""
        write.pending.append(PendingChange(ticket.key, None, None, 0))
        write.events.append(DigestEvent(ticket.key, "reverted", ticket.digest, ticket.to_json()))
        logger.info("{}: {} changed back before it was confirmed; no change alert", crawler.name, ticket.id)


def _tally(write: _CycleWrite, result: SiteResult) -> None:
    """The run's held changes: still waiting (``awaiting``) or ended by it (``settled``)."""
    result.awaiting += [p.key for p in write.pending if p.digest is not None]
    result.settled += [p.key for p in write.pending if p.digest is None]


def _legacy_note(result: SiteResult) -> str:
    return f" (이전 스크립트가 이미 알린 공지 {result.legacy}건: 알림 없이 기록)" if result.legacy else ""


def _unread_kept(ticket: Ticket, before: Ticket) -> Ticket:
    """A notice read in part, its unread parts taken from ``before`` (what history holds): what was
    read is compared (and alerted when it changed), the gap is not. The marker goes: history keeps a
    whole notice."""
    unread = unread_parts(ticket)
    kept: dict[str, object] = {}
    if "presales" in unread:
        kept["presales"] = before.presales
    if "open_at" in unread:
        kept.update(open_at=before.open_at, open_date=before.open_date)
    for part in ("title", "venue", "category"):
        if part in unread:
            kept[part] = getattr(before, part)
    extra = {k: v for k, v in ticket.extra.items() if k not in (INCOMPLETE, UNREAD)}
    return ticket.with_(**kept, extra=extra)


def _content_moved(ticket: Ticket, previous: Seen) -> bool:
    """A known notice listed with content history does not hold (and no sweep is holding yet)."""
    if ticket.extra.get(INCOMPLETE):
        return False
    return ticket.digest not in (previous.digest, previous.pending_digest)
