"""Route matching: which notices a route wants (sites, include/exclude keywords or /regex/)."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from ticket_alarm.config import RouteSettings
from ticket_alarm.model import Ticket


def normalise(text: str) -> str:
    """Case-, width- and spacing-insensitive form: NFKC (full-width → half-width), casefold, no spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str] | str:
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        return re.compile(pattern[1:-1], re.IGNORECASE)
    return normalise(pattern)


def keyword_matches(pattern: str, text: str) -> bool:
    compiled = _compile(pattern)
    if isinstance(compiled, str):
        return compiled in normalise(text)
    return compiled.search(unicodedata.normalize("NFKC", text)) is not None


def route_matches(route: RouteSettings, ticket: Ticket) -> bool:
    if route.sites is not None and ticket.site not in route.sites:
        return False
    haystack = " ".join((ticket.title, ticket.venue, ticket.genre))
    if route.include and not any(keyword_matches(p, haystack) for p in route.include):
        return False
    return not any(keyword_matches(p, haystack) for p in route.exclude)
