"""The crawler contract.

A crawler knows its site and nothing else: it declares where to start and how to page, and turns
responses into ``Ticket``s with pure ``parse`` functions (bytes/text in, tickets out, no I/O) so
fixtures test them without a network. It never touches the store, Discord or the scheduler.

"The page is not what I expect" raises ``ParseError`` (never ``[]``): an empty list means the site
really lists nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import ClassVar

from ticket_alarm.config import SiteSettings
from ticket_alarm.http import SiteFetcher
from ticket_alarm.model import Ticket

# ``Ticket.extra`` key a crawler sets when it could not read all of a notice this cycle (e.g. Melon's
# notice page failed, so the open schedule is missing): the pipeline keeps what history holds for a
# known notice instead of announcing the gap as a change.
INCOMPLETE = "incomplete"


@dataclass
class Crawl:
    """What one crawl of one site produced."""

    tickets: list[Ticket] = field(default_factory=list)
    pages: int = 0
    capped: bool = False  # stopped by the page cap, not by the list's end
    notes: list[str] = field(default_factory=list)  # for the log at INFO
    warnings: list[str] = field(default_factory=list)  # partial failures, logged at WARNING

    def add(self, tickets: list[Ticket]) -> int:
        """Append tickets not seen yet in this crawl (by id); returns how many were new."""
        seen = {t.id for t in self.tickets}
        added = 0
        for ticket in tickets:
            if ticket.id and ticket.id in seen:
                continue
            seen.add(ticket.id)
            self.tickets.append(ticket)
            added += 1
        return added


class Crawler(ABC):
    """Base class of every site crawler. Subclasses set the class attributes and ``crawl``."""

    name: ClassVar[str]
    display_name: ClassVar[str]
    color: ClassVar[int]  # embed colour, 0xRRGGBB
    default_base_url: ClassVar[str]  # scheme+host the crawler's public URLs use
    # A site that normally lists at least this many notices; zero for several cycles is suspicious.
    usual_minimum: ClassVar[int] = 1

    def __init__(self, settings: SiteSettings | None = None) -> None:
        self.settings = settings or SiteSettings()

    @property
    def page_cap(self) -> int:
        return self.settings.page_cap

    @abstractmethod
    async def crawl(self, fetch: SiteFetcher) -> Crawl:
        """Fetch every page of the site's list (up to ``page_cap``) and parse it."""

    def head_pages(self, fetch: SiteFetcher) -> AsyncIterator[list[Ticket]] | None:
        """Registration-order list pages, newest first, fetched lazily one page per iteration.
        None: this crawler (or its current source) has no registration order; the site is swept only."""
        return None

    async def complete(self, fetch: SiteFetcher, ticket: Ticket) -> Ticket:
        """A never-seen notice a head page listed only in part (``extra[INCOMPLETE]`` set), read whole.

        The head poll calls it for new notices only, before alerting them (Melon reads the notice page
        of a row with several open dates). Default: the notice as listed."""
        return ticket


def parse_saved(crawler: type[Crawler], body: bytes, url: str = "") -> list[Ticket]:
    """Parse a saved list page with the crawler module's pure ``parse`` (``test-crawlers --file``)."""
    import sys

    module = sys.modules[crawler.__module__]
    parse = getattr(crawler, "parse_body", None) or getattr(module, "parse", None)
    if parse is None:
        raise NotImplementedError(f"crawler {crawler.name} has no module-level parse(body, url) function")
    result: list[Ticket] = parse(body, url)
    return result
