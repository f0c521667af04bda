"""The crawler contract.

A crawler knows its site and nothing else: it declares where to start and how to page, and turns
responses into ``Ticket``s with pure ``parse`` functions (bytes/text in, tickets out, no I/O) so
fixtures test them without a network. It never touches the store, Discord or the scheduler.

"The page is not what I expect" raises ``ParseError`` (never ``[]``): an empty list means the site
really lists nothing.

What every site shares lives here, so a site module holds only what is true of its site: one
``paginate`` loop with declared stop rules (``Numbered`` pages or offsets, ``Cursors``), the page
checks (``is_challenge``, ``html_instead``, ``looks_like_html``), one JSON loader (``load_json``), one
number parser (``parse_count``) and the validity checks (``require_ids``, ``check_valid``). A plugin
(``ticket_alarm.crawlers`` entry point) imports only this module: ``__all__`` is its whole API,
the ticket model, the fetcher it receives and the errors it raises included.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar, Generic, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from ticket_alarm.core.model import SEOUL, Category, Incomplete, Presale, Ticket, clean_text, seoul
from ticket_alarm.core.sections import DAY, WEEK, Section
from ticket_alarm.errors import ApiChangedError, CrawlError, FetchError, ParseError, SiteLockedError
from ticket_alarm.fetch.decode import decode_text
from ticket_alarm.fetch.http import FetchResponse, SiteFetcher
from ticket_alarm.fetch.status import is_challenge
from ticket_alarm.i18n import t

__all__ = [  # the whole API of a crawler plugin
    "CHALLENGE_HINT",  # noqa: F822 - module __getattr__: the hint in the language of the moment
    "CHANGED_HINT",  # noqa: F822
    "MOVED_HINT",  # noqa: F822
    "SEOUL",
    "ApiChangedError",
    "Category",
    "Crawl",
    "CrawlError",
    "Crawler",
    "Cursors",
    "FetchError",
    "FetchResponse",
    "Numbered",
    "Paging",
    "ParseError",
    "Presale",
    "Schedule",
    "SiteFetcher",
    "SiteLockedError",
    "SiteSettings",
    "Ticket",
    "challenge_hint",
    "changed_hint",
    "check_valid",
    "clean_text",
    "decode_text",
    "html_instead",
    "is_challenge",
    "load_json",
    "looks_like_html",
    "mark_incomplete",
    "moved_hint",
    "paginate",
    "parse_count",
    "parse_saved",
    "require_ids",
    "row_fingerprint",
    "schedule_from_json",
    "schedule_json",
    "seoul",
    "unread_parts",
    "when_from",
]


def mark_incomplete(ticket: Ticket, reason: str, unread: Sequence[str] = ()) -> Ticket:
    """``ticket`` marked as read in part (``Ticket.incomplete``): ``reason`` (for the log) and the
    ``unread`` parts (``model.CHANGE_FIELDS`` names; none given: the open time and the presales)."""
    return ticket.with_(incomplete=Incomplete(reason, tuple(unread)))


def unread_parts(ticket: Ticket) -> tuple[str, ...]:
    """The parts an incomplete ticket lacks (``()`` for a complete one)."""
    return ticket.incomplete.unread if ticket.incomplete else ()


# The shared hints, in the operator's language (ticket_alarm.i18n). They are read when an error is
# raised, not when this module is imported, so TICKET_ALARM_LANG (or i18n.set_language) chosen at run
# time decides: the functions below for this project's crawlers, and ``CHALLENGE_HINT``, ``MOVED_HINT``
# and ``CHANGED_HINT`` (the plugin API's names) resolved on each attribute access by ``__getattr__``.


def challenge_hint() -> str:
    return t("crawl.hint.challenge")


def moved_hint() -> str:
    return t("crawl.hint.moved")


def changed_hint() -> str:
    return t("crawl.hint.changed")


_LAZY_HINTS: dict[str, Callable[[], str]] = {
    "CHALLENGE_HINT": challenge_hint,
    "MOVED_HINT": moved_hint,
    "CHANGED_HINT": changed_hint,
}


def __getattr__(name: str) -> str:
    """``base.CHALLENGE_HINT`` & co.: the hint in the language of the moment (PEP 562)."""
    if name in _LAZY_HINTS:
        return _LAZY_HINTS[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_HTML_START = re.compile(rb"^\s*<", re.S)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title", re.I | re.S)


def head_off_value(value: Any) -> Any:
    """``head_interval: false`` says "off" (as 0 does); ``true`` names no interval: an error."""
    if value is False:
        return 0.0
    if value is True:
        raise ValueError("true is not a number of seconds; give seconds, or 0 / false to turn head polls off")
    return value


# --- the config section this module owns (``sites.<name>``) -------------------------------------


class SiteSettings(Section):
    enabled: bool = True
    interval: float | None = Field(None, ge=1, le=DAY, description="seconds; default: the top-level interval")
    head_interval: float | None = Field(
        None, ge=0, le=DAY, description="seconds between head polls; 0 or false: off; null: the top-level one"
    )
    base_url: str | None = Field(None, description="replaces scheme+host of every request of this site")
    page_cap: int = Field(30, ge=1, le=500, description="safety limit on pages per crawl")
    lock_cooldown: float = Field(
        3600.0, ge=0, le=WEEK, description="seconds to leave a site alone after HTTP 423"
    )
    source: Literal["auto", "interpark", "nol"] | None = Field(
        None, description="interpark only: auto (default), interpark (the old API) or nol"
    )
    storm_threshold: int = Field(
        30, ge=1, le=100_000, description="more new notices than this in one crawl, matching known ones: held"
    )

    @field_validator("head_interval", mode="before")
    @classmethod
    def _head_off(cls, value: Any) -> Any:
        return head_off_value(value)

    @field_validator("base_url")
    @classmethod
    def _base_url_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("expected scheme and host only, like http://127.0.0.1:8080")
        return value.rstrip("/")


@dataclass(frozen=True, slots=True)
class Schedule:
    """What a notice page says about its sale dates: the general open and the presales."""

    open_at: datetime | None
    open_date: date | None
    presales: tuple[Presale, ...]


def row_fingerprint(ticket: Ticket) -> str:
    """What a list row says, views left out: a changed row re-reads its second page."""
    data = ticket.with_(views=None).to_json()
    return hashlib.sha256(json.dumps(data, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def schedule_json(schedule: Schedule) -> dict[str, Any]:
    """A schedule as JSON (what a crawler keeps of a notice page between sweeps)."""
    return {
        "open_at": schedule.open_at.isoformat() if schedule.open_at else None,
        "open_date": schedule.open_date.isoformat() if schedule.open_date else None,
        "presales": [p.to_json() for p in schedule.presales],
    }


def schedule_from_json(doc: Any) -> Schedule:
    """``schedule_json`` read back; ``ValueError`` for anything else."""
    try:
        at = datetime.fromisoformat(doc["open_at"]) if doc.get("open_at") else None
        day = date.fromisoformat(doc["open_date"]) if doc.get("open_date") else None
        presales = tuple(
            Presale(str(p["name"]), datetime.fromisoformat(p["at"]) if p.get("at") else None)
            for p in doc.get("presales") or ()
        )
    except (AttributeError, KeyError, TypeError) as exc:
        raise ValueError(f"not a kept schedule: {exc}") from exc
    return Schedule(at, day, presales)


# --- shared page checks ---------------------------------------------------------------------------


def when_from(match: re.Match[str] | None) -> tuple[datetime | None, date | None]:
    """(open_at, open_date) from a date match whose groups 1-3 are year, month, day and 4-6 (optional)
    hour, minute, second: a time gives ``open_at``, a day alone ``open_date``, an impossible date
    (2027.13.45) or no match ``(None, None)``."""
    if not match:
        return None, None
    year, month, day = int(match[1]), int(match[2]), int(match[3])
    groups = match.groups()
    hour = groups[3] if len(groups) > 3 else None
    try:
        if hour is None:
            return None, date(year, month, day)
        second = groups[5] if len(groups) > 5 else None
        return seoul(year, month, day, int(hour), int(groups[4]), int(second or 0)), None
    except ValueError:
        return None, None


def html_instead(site: str, body: bytes | str, where: str, expected: str = "JSON") -> ParseError:
    """The error for an HTML page (or an empty body) where ``expected`` was due.

    A bot challenge gets the proxy hint; the site's own HTML page (its notice page, a script shell)
    is an ``ApiChangedError`` saying the endpoint may have moved; an empty body says so.
    """
    text = decode_text(body)
    if not text.strip():
        return ParseError(
            site,
            t("crawl.empty_body", expected=expected, where=where),
            hint=t("crawl.hint.empty_body"),
        )
    if is_challenge(text):
        return ParseError(
            site, t("crawl.challenge_page", expected=expected, where=where), hint=challenge_hint()
        )
    match = _TITLE.search(text[:8192])
    title = clean_text(match[1])[:80] if match else ""
    shown = t("crawl.html_title", title=title) if title else ""
    return ApiChangedError(
        site, t("crawl.html_page", shown=shown, expected=expected, where=where), hint=moved_hint()
    )


def looks_like_html(body: bytes | str) -> bool:
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else bytes(body)
    return bool(_HTML_START.match(raw.removeprefix(b"\xef\xbb\xbf")[:512]))


def load_json(site: str, body: bytes | str, where: str, expected: str = "JSON") -> Any:
    """JSON from a response body (a UTF-8 BOM tolerated), or the typed error saying what arrived
    instead: an empty body, an HTML page or a plain-text block page (``html_instead``), or JSON that
    does not parse (truncated, too deep, digits beyond Python's limit, not UTF-8)."""
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else bytes(body)
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    if (
        not raw.strip()
        or looks_like_html(raw)
        or (raw.lstrip()[:1] not in (b"[", b"{") and is_challenge(decode_text(raw[:8192])))
    ):
        raise html_instead(site, raw, where, expected)
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ParseError(site, t("crawl.bad_json", where=where, error=str(exc)[:200])) from exc


def parse_count(value: object) -> int | None:
    """A count (views, a page number) from ``1234``, ``1234.0``, ``"1,234"`` or ``" 1 234 "``; None for
    anything else: a bool, a negative or fractional number, words, more than 18 digits."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() and value >= 0 else None
    if isinstance(value, str):
        digits = "".join(value.split()).replace(",", "")
        if digits.isascii() and digits.isdigit() and len(digits) <= 18:
            return int(digits)
    return None


def require_ids(site: str, items: Sequence[object], id_field: str, where: str) -> None:
    """Items that all lack the site's id field mean the API changed: a typed error, not "0 notices"."""
    if not items:
        return
    if any(isinstance(item, dict) and item.get(id_field) not in (None, "") for item in items):
        return
    first = next((item for item in items if isinstance(item, dict)), {})
    keys = ", ".join(sorted(map(str, first))[:8]) or t("crawl.none")
    raise ApiChangedError(
        site,
        t("crawl.no_ids", id_field=id_field, count=len(items), where=where, keys=keys),
        hint=changed_hint(),
    )


def check_valid(site: str, tickets: Sequence[Ticket], problems: Sequence[list[str]] | None = None) -> None:
    """Most notices of a crawl failing validation is a changed page, not a list: a typed error.
    ``problems``: each ticket's ``problems()`` when the caller has them already (validated once)."""
    if not tickets:
        return
    found = problems if problems is not None else [ticket.problems() for ticket in tickets]
    bad = [p for p in found if p]
    if len(bad) * 2 > len(tickets):
        named = sorted({p for ps in bad for p in ps})
        raise ParseError(
            site,
            t("crawl.mostly_invalid", bad=len(bad), total=len(tickets), problems="; ".join(named)[:200]),
            hint=changed_hint(),
        )


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


# --- paging ----------------------------------------------------------------------------------------

K = TypeVar("K", bound=Hashable | None)  # what names a page in its request: a number, offset or cursor
P = TypeVar("P")  # one parsed page


class Paging(ABC, Generic[K, P]):
    """A declared stop rule: the first page's key, and from each page the next key or the end."""

    site: str
    first: K

    @abstractmethod
    def next(self, key: K, page: P) -> K | None:
        """The key of the page after ``page`` (read with ``key``), or None: the list ends here."""

    def repeated(self, key: K) -> ApiChangedError:
        """The error for a key the site sent back a second time (paging would never end)."""
        return ApiChangedError(
            self.site,
            t("crawl.page_repeated", key=key),
            hint=changed_hint(),
        )


@dataclass(frozen=True)
class Numbered(Paging[int, P]):
    """Page numbers (1, 2, 3 …) or row offsets (``first``, ``first + step`` …) until ``last(key, page)``."""

    site: str
    last: Callable[[int, P], bool]
    first: int = 1
    step: int = 1

    def __post_init__(self) -> None:
        if self.step < 1:
            raise ValueError(f"paging step {self.step}: pages must move forward")

    def next(self, key: int, page: P) -> int | None:
        return None if self.last(key, page) else key + self.step


@dataclass(frozen=True)
class Cursors(Paging[str | None, P]):
    """A cursor each page names for the next (``cursor(page)``; None or "" ends the list); the first
    page is asked for without one. A cursor that comes back is an ``ApiChangedError``."""

    site: str
    label: str  # the site as the error names it ("NOL")
    cursor: Callable[[P], str | None]
    first: str | None = None

    def next(self, key: str | None, page: P) -> str | None:
        return self.cursor(page) or None

    def repeated(self, key: str | None) -> ApiChangedError:
        return ApiChangedError(
            self.site,
            t("crawl.cursor_repeated", label=self.label, key=str(key)[:40]),
            hint=changed_hint(),
        )


# who wants to hear about a crawl in progress (``Pipeline.on_progress``, for ``once``): set per site task
CRAWL_PROGRESS: ContextVar[Callable[[Crawl], None] | None] = ContextVar("crawl_progress", default=None)


async def paginate(
    request: Callable[[K], Awaitable[P]], paging: Paging[K, P], cap: int, crawl: Crawl | None = None
) -> AsyncGenerator[tuple[K, P], None]:
    """Every page of a list, lazily, in the order ``paging`` declares, ``cap`` pages at most.

    ``request(key)`` fetches and parses one page. Each ``(key, page)`` is yielded before the stop rule
    reads it (a consumer that stops early closes the iterator: ``contextlib.aclosing``); the next
    request is made only when the consumer asks for it. With ``crawl``: ``crawl.pages`` counts the
    pages read and ``crawl.capped`` is set when the cap, not the list's end, stopped the paging.
    """
    key = paging.first
    seen: set[K] = {key}
    for _ in range(cap):
        page = await request(key)
        if crawl is not None:
            crawl.pages += 1
        yield key, page
        report = CRAWL_PROGRESS.get()
        if crawl is not None and report is not None:  # after the consumer took the page's notices
            report(crawl)
        following = paging.next(key, page)
        if following is None:
            return
        if following in seen:
            raise paging.repeated(following)
        seen.add(following)
        key = following
    if crawl is not None:
        crawl.capped = True


class Crawler(ABC):
    """Base class of every site crawler. Subclasses set the class attributes and ``crawl``."""

    name: ClassVar[str]
    display_name: ClassVar[str]
    color: ClassVar[int]  # embed colour, 0xRRGGBB
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
        """A never-seen notice a head page listed only in part (``incomplete`` set), read whole.

        The head poll calls it for new notices only, before alerting them (Melon reads the notice page
        of a row with several open dates). Default: the notice as listed."""
        return ticket


def parse_saved(crawler: type[Crawler], body: bytes, url: str = "") -> list[Ticket] | Schedule:
    """Parse a saved page (``test-crawlers --file``): a notice page gives its ``Schedule`` (when the
    crawler module has ``parse_notice_page(body, url) -> Schedule | None``), a list page its tickets
    (the module's pure ``parse``)."""
    import sys

    module = sys.modules[crawler.__module__]
    notice_page = getattr(module, "parse_notice_page", None)
    if notice_page is not None:
        schedule: Schedule | None = notice_page(body, url)
        if schedule is not None:
            return schedule
    parse = getattr(crawler, "parse_body", None) or getattr(module, "parse", None)
    if parse is None:
        raise NotImplementedError(f"crawler {crawler.name} has no module-level parse(body, url) function")
    result: list[Ticket] = parse(body, url)
    return result
