"""Conditional GET: ETag / Last-Modified and the body are remembered (a ``ResponseCache``, the store),
so a 304 replays the last body — "unchanged", never "empty".

A validator date is never later than the response's own ``Date`` (or now): a ``Last-Modified`` in 2099
against a server answering 304 when ``LM <= IMS`` would silence the URL for ever. A 304 streak longer
than ``PLAIN_AFTER_304`` gets one plain request; if that shows a body the validators called unchanged,
the URL is fetched plain from then on (one WARNING).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING, Protocol

from loguru import logger

from ticket_alarm.clock import Clock
from ticket_alarm.i18n import t

if TYPE_CHECKING:
    from ticket_alarm.fetch.http import FetchResponse

# seconds of 304 answers for a URL after which the next request goes without validators (a server
# whose 304 is wrong for ever would otherwise hide every new notice): a few extra requests an hour
PLAIN_AFTER_304 = 600.0


@dataclass(frozen=True, slots=True)
class CachedResponse:
    etag: str | None
    last_modified: str | None
    body: bytes


class ResponseCache(Protocol):
    """Where validators and last bodies live (the store implements it: ``HttpCacheStore``)."""

    async def cached_response(self, key: str) -> CachedResponse | None: ...

    async def remember_response(
        self, key: str, etag: str | None, last_modified: str | None, body: bytes, now: float
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A request as a crawler asks for it: method, URL, body, headers, and whether it may go
    conditional (carry the validators the cache holds for it)."""

    method: str
    url: str
    data: Mapping[str, str] | bytes | None = None
    headers: Mapping[str, str] | None = None
    conditional: bool = False


@dataclass(frozen=True, slots=True)
class Validated:
    """One request's conditional part: its cache key (None: not cached), what the cache held, whether
    it goes plain (without validators), and the headers to send."""

    key: str | None
    cached: CachedResponse | None
    plain: bool
    headers: dict[str, str]


class ConditionalGets:
    """The validators a request carries, and what an answer leaves in the cache."""

    def __init__(self, cache: ResponseCache | None, clock: Clock) -> None:
        self.cache = cache
        self.clock = clock
        self._validated: dict[str, float] = {}  # cache key → clock.monotonic() its 304 streak began
        self._unconditional: set[str] = set()  # cache keys whose 304 proved wrong: fetched plain

    async def prepare(self, request: Outgoing) -> Validated:
        conditional = request.conditional and self.cache is not None
        key = cache_key(request.method, request.url, request.data) if conditional else None
        cached = await self.cache.cached_response(key) if key and self.cache else None
        send = dict(request.headers or {})
        plain = key is not None and cached is not None and self._wants_plain(key)
        if cached and not plain:
            if cached.etag:
                send["If-None-Match"] = cached.etag
            since = not_after(cached.last_modified, self.clock.now())
            if since:
                send["If-Modified-Since"] = since
        return Validated(key, cached, plain, send)

    async def settle(self, request: Validated, response: FetchResponse, site: str, public_url: str) -> None:
        """Remember the answer's validators and body; catch a 304 streak that hid a new body."""
        key, cached, cache = request.key, request.cached, self.cache
        if key and response.from_cache:
            self._validated.setdefault(key, self.clock.monotonic())
        if not key or cache is None or response.from_cache or response.status != 200:
            return
        self._validated.pop(key, None)
        etag = response.headers.get("etag")
        last_modified = not_after(response.headers.get("last-modified"), date_of(response, self.clock))
        if request.plain and cached is not None and response.content != cached.body:
            same = etag == cached.etag if etag else last_modified == cached.last_modified
            if same and key not in self._unconditional:  # the 304s hid this body
                self._unconditional.add(key)
                logger.warning(t("http.stale_304", site=site, url=public_url))
        if etag or last_modified:
            await cache.remember_response(
                key, etag, last_modified, response.content, self.clock.now().timestamp()
            )

    def _wants_plain(self, key: str) -> bool:
        """Whether this request goes without validators: the URL's validators were caught wrong, or
        its 304 streak has lasted ``PLAIN_AFTER_304`` seconds."""
        if key in self._unconditional:
            return True
        since = self._validated.get(key)
        return since is not None and self.clock.monotonic() - since >= PLAIN_AFTER_304


def cache_key(method: str, url: str, data: Mapping[str, str] | bytes | None) -> str:
    body = data.decode("utf-8", "replace") if isinstance(data, bytes) else sorted((data or {}).items())
    raw = f"{method} {url} {body}"
    return hashlib.sha256(raw.encode()).hexdigest()


def date_of(response: FetchResponse, clock: Clock) -> datetime:
    """The response's own ``Date`` (the server's clock), or now when it has none or a bad one."""
    try:
        when = parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError):
        return clock.now()
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # "-0000": UTC, RFC 5322


def not_after(last_modified: str | None, limit: datetime) -> str | None:
    """``last_modified``, or ``limit`` as an HTTP date when it is later (RFC 9110 §8.8.2.1 has the
    server replace a future ``Last-Modified`` with ``Date``; a server that did not must not get it
    back as ``If-Modified-Since``). A date that does not parse is passed on as it came."""
    if not last_modified:
        return last_modified
    try:
        when = parsedate_to_datetime(last_modified)
    except (TypeError, ValueError):
        return last_modified
    if when.tzinfo is None:  # "-0000": UTC, zone unknown (RFC 5322)
        when = when.replace(tzinfo=UTC)
    if when <= limit:
        return last_modified
    return format_datetime(limit.astimezone(UTC), usegmt=True)
