"""The reading half of a cycle: fetch and parse one site, validate each notice once, and turn whatever
a crawl raised into a failure in one place (``crawl_failure``). Nothing here writes to the store (a
sweep's notice memo aside, which its ``SiteFetcher`` carries); the pipeline decides and commits, and
``test-crawlers`` reads through the same two functions (``read_site``, ``read_head``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Token

from loguru import logger

from crawlers.base import CRAWL_PROGRESS, Crawl, Crawler, check_valid
from ticket_alarm.clock import Clock
from ticket_alarm.core.decide import HEAD
from ticket_alarm.core.validate import Checked, validate
from ticket_alarm.daemon.results import SiteResult
from ticket_alarm.errors import CrawlError
from ticket_alarm.fetch.http import SiteFetcher
from ticket_alarm.i18n import t

Progress = Callable[[str, int, int], None]  # (site, requests answered, notices read so far)
Paged = Callable[[Crawl], None]


def crawl_failure(name: str, exc: Exception, timed_out: str) -> CrawlError:
    """THE place a crawl's exception becomes a failure: a ``CrawlError`` as it is, a timeout as
    ``timed_out``, anything else as a crawler bug (it must not stop the other sites, or ``once``)."""
    if isinstance(exc, CrawlError):
        return exc
    if isinstance(exc, TimeoutError):
        return CrawlError(name, t(timed_out))
    logger.opt(exception=exc).debug("{}", t("log.crawler_raised", site=name))
    return CrawlError(
        name, t("log.crawler_bug", kind=type(exc).__name__, error=exc), hint=t("crawl.hint.bug")
    )


async def read_site(
    name: str, crawler: Crawler, fetch: SiteFetcher, clock: Clock, progress: Progress | None
) -> tuple[SiteResult, Crawl | None, Checked]:
    """One whole list of site ``name``, validated: the result (its error included), the crawl (None
    when it failed) and the notices sorted into valid and invalid."""
    result = SiteResult(site=name)
    started = clock.monotonic()
    crawl: Crawl | None = None
    notices = Checked()
    token = _watch(name, fetch, progress)
    try:
        crawled = await crawler.crawl(fetch)
        notices = validate(crawled.tickets)
        check_valid(name, crawled.tickets, notices.problems)  # most invalid: the page changed
        crawl = crawled
    except Exception as exc:
        failure = crawl_failure(name, exc, "log.crawl_timed_out")
        result.fail(failure, fetch.requested(failure.reason))  # with base_url: the URL requested
    finally:
        if token is not None:
            CRAWL_PROGRESS.reset(token)
    result.seconds = clock.monotonic() - started
    result.status = fetch.stats.last_status
    result.requests = fetch.stats.requests
    if crawl is not None:
        valid = notices.valid
        result.ok = True
        result.items = len(valid)
        result.invalid = len(crawl.tickets) - len(valid)
        result.pages = crawl.pages
        result.capped = crawl.capped
        result.sample = valid[:3]
        result.parsed = list(crawl.tickets)
        result.warnings = list(crawl.warnings)
    return result, crawl, notices


def _watch(name: str, fetch: SiteFetcher, progress: Progress | None) -> Token[Paged | None] | None:
    """Report this sweep's progress to ``progress`` (its requests, the notices its pages held)."""
    if progress is None:
        return None
    notices = [0]

    def paged(crawl: Crawl) -> None:
        notices[0] = len(crawl.tickets)
        progress(name, fetch.stats.requests, notices[0])

    fetch.stats.on_request = lambda: progress(name, fetch.stats.requests, notices[0])
    return CRAWL_PROGRESS.set(paged)


async def read_head(name: str, crawler: Crawler, fetch: SiteFetcher, clock: Clock) -> SiteResult | None:
    """The first registration-order page of site ``name``, validated (``test-crawlers``). None when
    the crawler (its current source) has no registration order."""
    pages = crawler.head_pages(fetch)
    if pages is None:
        return None
    result = SiteResult(site=name, mode=HEAD)
    started = clock.monotonic()
    try:
        async for tickets in pages:
            valid = validate(tickets).valid
            result.ok, result.pages, result.items = True, 1, len(valid)
            result.invalid, result.sample = len(tickets) - len(valid), valid[:3]
            break
        else:
            result.ok = True  # the list is empty
    except Exception as exc:
        result.fail(crawl_failure(name, exc, "log.head_timed_out"))
    finally:
        await close_pages(pages)
    result.seconds = clock.monotonic() - started
    result.status = fetch.stats.last_status
    return result


async def close_pages(pages: object) -> None:
    """Close a crawler's page iterator (an async generator) that was left before its end."""
    aclose = getattr(pages, "aclose", None)
    if aclose is not None:
        await aclose()
