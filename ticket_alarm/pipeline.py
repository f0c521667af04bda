"""The per-site cycle: crawl → validate → compare with history → one store transaction.

The pipeline knows no site: it gets a crawler (name, display name, colour, ``crawl``) and turns
its tickets into history rows and outbox rows. One failing site never stops another: every
outcome, error included, comes back as a ``SiteResult``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from loguru import logger

from crawlers.base import INCOMPLETE, Crawl, Crawler
from ticket_alarm.clock import Clock
from ticket_alarm.config import RouteSettings, Settings
from ticket_alarm.delivery import DRY_RUN_ROUTE
from ticket_alarm.discord import changed_fields, render_change, render_notice
from ticket_alarm.errors import CrawlError, SiteLockedError
from ticket_alarm.http import Fetcher
from ticket_alarm.model import Ticket
from ticket_alarm.routing import route_matches
from ticket_alarm.store import (
    DigestEvent,
    HistoryRow,
    NewOutboxRow,
    PendingChange,
    ReminderPlan,
    Seen,
    SiteState,
    Store,
)

EMPTY_STREAK_WARNING = 3


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
    skipped: str | None = None  # why the crawl did not run (locked)
    first_run: bool = False
    capped: bool = False
    sample: list[Ticket] = field(default_factory=list)


class Router:
    """Which lanes (routes) a ticket goes to, and which reminders each lane wants."""

    def __init__(self, routes: Sequence[RouteSettings], dry_run_reminders: Sequence[int] = ()) -> None:
        self.routes = list(routes)
        self.dry_run_reminders = tuple(dry_run_reminders)

    def lanes_for(self, ticket: Ticket) -> list[str]:
        if not self.routes:
            return [DRY_RUN_ROUTE]
        return [r.name for r in self.routes if route_matches(r, ticket)]

    def reminders_for(self, lane: str) -> tuple[int, ...]:
        if lane == DRY_RUN_ROUTE:
            return self.dry_run_reminders
        return next((tuple(r.reminders) for r in self.routes if r.name == lane), ())


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
        for lane in lanes:
            offsets = router.reminders_for(lane)
            if offsets:
                self.reminders.append(ReminderPlan(ticket.key, ticket.site, lane, offsets, open_at))


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
        self.router = Router(settings.effective_routes(), settings.reminders)
        self.on_enqueue = on_enqueue
        self._notes: dict[str, tuple[str, ...]] = {}  # per site: the crawl notes last logged

    async def crawl_only(self, name: str) -> tuple[SiteResult, Crawl | None]:
        """Fetch and parse one site; no store writes (used by ``test-crawlers``)."""
        crawler = self.crawlers[name]
        result = SiteResult(site=name)
        fetch = self.fetcher.for_site(name, self.settings.site(name).base_url)
        started = self.clock.monotonic()
        crawl: Crawl | None = None
        try:
            crawl = await crawler.crawl(fetch)
        except CrawlError as exc:
            result.error = fetch.requested(exc.reason)  # with base_url: the URL really requested
            result.hint = exc.hint
            if isinstance(exc, SiteLockedError):
                result.skipped = "locked"
        except TimeoutError:
            result.error = "crawl timed out"
        except Exception as exc:  # a crawler bug must not stop the other sites (or `once`)
            logger.opt(exception=exc).debug("{} crawler raised", name)
            result.error = f"crawler bug: {type(exc).__name__}: {exc}"
            result.hint = "this is a bug in the crawler; please report it with the log"
        result.seconds = self.clock.monotonic() - started
        result.status = fetch.stats.last_status
        if crawl is not None:
            valid = [t for t in crawl.tickets if not t.problems()]
            result.ok = True
            result.items = len(valid)
            result.invalid = len(crawl.tickets) - len(valid)
            result.pages = crawl.pages
            result.capped = crawl.capped
            result.sample = valid[:3]
        return result, crawl

    async def run_site(self, name: str) -> SiteResult:
        """One full cycle for one site. Never raises for site trouble; StoreError propagates."""
        crawler = self.crawlers[name]
        state = self.store.site_state(name)
        now = self.clock.now().timestamp()
        if state.locked_until and state.locked_until > now:
            return SiteResult(site=name, ok=True, skipped=f"locked until {state.locked_until:.0f}")
        state.last_attempt = now
        result, crawl = await self.crawl_only(name)
        if crawl is None:
            return self._failed(crawler, state, result)
        self._apply(crawler, state, crawl, result)
        logger.info(
            "크롤링 완료: {} 공지 {}건, 새 공지 {}건, 변경 {}건, {:.1f}초{}",
            name,
            result.items,
            result.new,
            result.changed,
            result.seconds,
            " (첫 실행: 알림 없이 기록)" if result.first_run else "",
        )
        return result

    def _failed(self, crawler: Crawler, state: SiteState, result: SiteResult) -> SiteResult:
        now = self.clock.now().timestamp()
        state.last_failure = now
        state.failure_streak += 1
        state.last_error = result.error
        if result.skipped == "locked":
            cooldown = crawler.settings.lock_cooldown
            state.locked_until = now + cooldown
            logger.warning(
                "크롤링 실패: {} {} — the site locked this client; leaving it alone for {}",
                crawler.name,
                result.error,
                f"{cooldown / 60:.0f} minutes" if cooldown >= 120 else f"{cooldown:.0f} seconds",
            )
        else:
            logger.error(
                "크롤링 실패: {} {}{}",
                crawler.name,
                result.error,
                f" (hint: {result.hint})" if result.hint else "",
            )
        self.store.save_site_state(state)
        return result

    def _apply(self, crawler: Crawler, state: SiteState, crawl: Crawl, result: SiteResult) -> None:
        name = crawler.name
        now = self.clock.now().timestamp()
        valid: list[Ticket] = []
        for ticket in crawl.tickets:
            problems = ticket.problems()
            if problems:
                logger.warning(
                    "{}: invalid notice skipped (id {!r}): {}", name, ticket.id, "; ".join(problems)
                )
            else:
                valid.append(ticket)
        if tuple(crawl.notes) != self._notes.get(name, ()):  # the same notes every cycle: said once
            self._notes[name] = tuple(crawl.notes)
            for note in crawl.notes:
                logger.info("{}: {}", name, note)
        for warning in crawl.warnings:
            logger.warning("{}: {}", name, warning)
        if crawl.capped:
            logger.warning(
                "{}: stopped at the page cap ({} pages) before the list ended; raise "
                "sites.{}.page_cap if the site really lists that many",
                name,
                crawl.pages,
                name,
            )
        seen = self.store.seen(t.key for t in valid)
        silent = not state.initialized and not self.settings.notify_on_first_run
        write = _CycleWrite()
        for ticket in valid:
            previous = seen.get(ticket.key)
            if previous is None:
                result.new += 1
                self._first_seen(crawler, ticket, write, silent)
            elif previous.digest == ticket.digest:
                write.touched.append(ticket.key)
                if previous.pending_digest is not None:  # A→B→A inside the hold: nothing to announce
                    write.pending.append(PendingChange(ticket.key, None, None, 0))
                    write.events.append(DigestEvent(ticket.key, "reverted", ticket.digest, ticket.to_json()))
                    logger.info(
                        "{}: {} changed back before it was confirmed; no change alert", name, ticket.id
                    )
            elif ticket.extra.get(INCOMPLETE):  # read in part this cycle: the gap is not a change
                write.touched.append(ticket.key)
                logger.info(
                    "{}: {} read incompletely ({}); history kept", name, ticket.id, ticket.extra[INCOMPLETE]
                )
            else:
                result.changed += self._changed(crawler, ticket, previous, write, silent)
        result.first_run = silent
        result.queued = len(write.outbox)
        state.initialized = True
        state.last_success = now
        state.failure_streak = 0
        state.last_error = None
        state.locked_until = None
        state.last_count = len(valid)
        state.last_invalid = result.invalid
        state.empty_streak = state.empty_streak + 1 if not valid else 0
        if state.empty_streak >= EMPTY_STREAK_WARNING and crawler.usual_minimum > 0:
            logger.warning(
                "{}: {} cycles in a row with zero notices, although the site usually lists {} or more; "
                "the page layout may have changed — run `python -m ticket_alarm test-crawlers {}`",
                name,
                state.empty_streak,
                crawler.usual_minimum,
                name,
            )
        self.store.record(
            name,
            now,
            history=write.history,
            touched=write.touched,
            outbox=write.outbox,
            state=state,
            pending=write.pending,
            events=write.events,
            reminders=write.reminders,
        )
        if write.outbox and self.on_enqueue:
            self.on_enqueue()

    def _first_seen(self, crawler: Crawler, ticket: Ticket, write: _CycleWrite, silent: bool) -> None:
        data = ticket.to_json()
        write.history.append(
            HistoryRow(ticket.key, ticket.digest, crawler.name, ticket.id, ticket.title, data)
        )
        write.events.append(DigestEvent(ticket.key, "first", ticket.digest, data))
        lanes = self.router.lanes_for(ticket)
        if not silent:
            embed = render_notice(ticket, crawler.display_name, crawler.color)
            write.outbox += [NewOutboxRow(lane, "new", crawler.name, ticket.key, embed) for lane in lanes]
        write.plan_reminders(ticket, lanes, self.router)

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
            write.pending.append(PendingChange(key, digest, data, cycles))
            return 0
        before = Ticket.from_json(previous.ticket)
        write.history.append(HistoryRow(key, digest, crawler.name, ticket.id, ticket.title, data))
        write.pending.append(PendingChange(key, None, None, 0))
        write.events.append(DigestEvent(key, "confirmed", digest, data))
        lanes = self.router.lanes_for(ticket)
        if before.open_at != ticket.open_at:
            write.plan_reminders(ticket, lanes, self.router)
        if not changed_fields(before, ticket) or silent:
            return 0
        embed = render_change(before, ticket, crawler.display_name, crawler.color)
        write.outbox += [NewOutboxRow(lane, "change", crawler.name, key, embed) for lane in lanes]
        return 1
