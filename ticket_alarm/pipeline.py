"""The per-site cycle: crawl → validate → compare with history → one store transaction.

The pipeline knows no site: it gets a crawler (name, display name, colour, ``crawl``) and turns
its tickets into history rows and outbox rows. One failing site never stops another: every
outcome, error included, comes back as a ``SiteResult``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from loguru import logger

from crawlers.base import Crawl, Crawler
from ticket_alarm.clock import Clock
from ticket_alarm.config import RouteSettings, Settings
from ticket_alarm.delivery import DRY_RUN_ROUTE
from ticket_alarm.discord import changed_fields, render_change, render_notice
from ticket_alarm.errors import CrawlError, SiteLockedError
from ticket_alarm.http import Fetcher
from ticket_alarm.model import Ticket
from ticket_alarm.routing import route_matches
from ticket_alarm.store import HistoryRow, NewOutboxRow, SiteState, Store

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
    """Which lanes (routes) a ticket goes to."""

    def __init__(self, routes: Sequence[RouteSettings]) -> None:
        self.routes = list(routes)

    def lanes_for(self, ticket: Ticket) -> list[str]:
        if not self.routes:
            return [DRY_RUN_ROUTE]
        return [r.name for r in self.routes if route_matches(r, ticket)]


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
        self.router = Router(settings.effective_routes())
        self.on_enqueue = on_enqueue

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
            result.error = exc.reason
            result.hint = exc.hint
            if isinstance(exc, SiteLockedError):
                result.skipped = "locked"
        except TimeoutError:
            result.error = "crawl timed out"
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
                "크롤링 실패: {} {} — the site locked this client; leaving it alone for {:.0f} minutes",
                crawler.name,
                result.error,
                cooldown / 60,
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
        history: list[HistoryRow] = []
        touched: list[str] = []
        outbox: list[NewOutboxRow] = []
        for ticket in valid:
            key, digest = ticket.key, ticket.digest
            previous = seen.get(key)
            if previous is not None and previous.digest == digest:
                touched.append(key)
                continue
            history.append(HistoryRow(key, digest, name, ticket.id, ticket.title, ticket.to_json()))
            if previous is None:
                result.new += 1
                if not silent:
                    embed = render_notice(ticket, crawler.display_name, crawler.color)
                    outbox += [
                        NewOutboxRow(lane, "new", name, key, embed) for lane in self.router.lanes_for(ticket)
                    ]
            else:
                before = Ticket.from_json(previous.ticket)
                if not changed_fields(before, ticket):
                    continue  # digest moved for a field we do not announce
                result.changed += 1
                if not silent:
                    embed = render_change(before, ticket, crawler.display_name, crawler.color)
                    outbox += [
                        NewOutboxRow(lane, "change", name, key, embed)
                        for lane in self.router.lanes_for(ticket)
                    ]
        result.first_run = silent
        result.queued = len(outbox)
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
        self.store.record(name, now, history=history, touched=touched, outbox=outbox, state=state)
        if outbox and self.on_enqueue:
            self.on_enqueue()
