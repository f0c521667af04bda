"""One exception tree for the whole project.

Library errors are wrapped at the boundary (``raise ... from exc``) so callers catch
these types only, each once, where it is handled.
"""

from __future__ import annotations


class TicketAlarmError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(TicketAlarmError):
    """The configuration is unusable; the message names the file/key and what to do."""


class CrawlError(TicketAlarmError):
    """A site could not be crawled this cycle. ``site`` names it."""

    def __init__(self, site: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(f"{site}: {reason}")
        self.site = site
        self.reason = reason
        self.hint = hint


class FetchError(CrawlError):
    """The HTTP exchange failed (transport error or an unwanted status after retries)."""

    def __init__(
        self,
        site: str,
        reason: str,
        *,
        url: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(site, reason, hint=hint)
        self.url = url
        self.status = status
        self.retry_after = retry_after


class ParseError(CrawlError):
    """The response is not what the crawler expects (changed layout, challenge page, bad JSON)."""


class ApiChangedError(ParseError):
    """The endpoint answered, but not as the API: the site's own HTML page, or items without the id
    field. The endpoint may have moved; a crawler with a second source (Interpark → NOL) switches."""


class SiteLockedError(CrawlError):
    """The site told us to go away for a while (Melon's HTTP 423); skip it until ``cooldown`` passes."""

    def __init__(self, site: str, reason: str, *, cooldown: float, hint: str | None = None) -> None:
        super().__init__(site, reason, hint=hint)
        self.cooldown = cooldown


class StoreError(TicketAlarmError):
    """The SQLite store cannot be opened, read or written."""


class StoreUnavailable(StoreError):
    """The store cannot be reached now (PostgreSQL down, restarting, refusing connections): waiting
    fixes it, a restart does not. The daemon keeps running, crawls nothing it cannot record, and
    reconnects with back-off; a wrong password, a missing database or a newer schema is a StoreError."""


class StoreLockedError(StoreError):
    """Another process holds the data directory's single-instance lock."""
