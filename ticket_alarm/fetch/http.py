"""The fetch layer: one ``httpx.AsyncClient`` for the process, shared by every crawler.

Retry, throttling and conditional requests live here, never in a crawler:
- at most ``http.max_concurrency`` requests in flight, all sites together;
- at least ``http.min_request_interval`` seconds between two request starts to one host;
- tenacity retries with exponential backoff and jitter on timeouts, connection errors,
  429 and 5xx, honouring ``Retry-After``;
- conditional GET: ETag / Last-Modified and the body are remembered (``ResponseCache``), so a
  304 replays the last body — "unchanged", never "empty". A validator date is never later than the
  response's own ``Date`` (or now): a ``Last-Modified`` in 2099 against a server answering 304 when
  ``LM <= IMS`` would silence the URL for ever. A 304 streak longer than ``PLAIN_AFTER_304`` gets one
  plain request; if that shows a body the validators called unchanged, the URL is fetched plain from
  then on (one WARNING);
- ``http.timeout`` bounds the whole request, connect to last byte (a site trickling one byte a
  second cannot hold a crawl past it);
- redirects are followed by hand and only on the site's own host (or its ``base_url``): another
  host, a loop or too many hops is a ``FetchError`` saying so;
- gzip/deflate bodies are decompressed here, streaming and capped at ``http.max_response_bytes``
  (a gzip bomb never expands in memory), and a corrupt body is named as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import re
import zlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import httpx
from loguru import logger
from pydantic import Field, field_validator
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ticket_alarm.clock import Clock, SystemClock
from ticket_alarm.core.sections import Section
from ticket_alarm.errors import FetchError
from ticket_alarm.i18n import t

if TYPE_CHECKING:
    from ticket_alarm.core.notice_memo import NoticeMemo

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 524})
MAX_RETRY_AFTER = 120.0  # a longer Retry-After is not waited out inside one crawl
MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# seconds of 304 answers for a URL after which the next request goes without validators (a server
# whose 304 is wrong for ever would otherwise hide every new notice): a few extra requests an hour
PLAIN_AFTER_304 = 600.0


# --- the config sections this module owns (``http`` and ``proxy``) ---------------------------------

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


class HttpSettings(Section):
    timeout: float = Field(
        30.0, ge=0.1, le=300, description="seconds for one whole request (connect to last byte)"
    )
    user_agent: str = Field(DEFAULT_USER_AGENT, min_length=1)
    max_concurrency: int = Field(3, ge=1, le=64, description="requests in flight, all sites together")
    min_request_interval: float = Field(
        2.0, ge=0, le=300, description="seconds between two requests to one host"
    )
    retries: int = Field(3, ge=0, le=10, description="extra attempts on timeouts, 429 and 5xx")
    backoff: float = Field(1.0, ge=0, le=300, description="base of the exponential backoff, seconds")
    max_response_bytes: int = Field(
        5_000_000, ge=10_000, le=1_000_000_000, description="larger bodies are refused"
    )


class ProxySettings(Section):
    http: str | None = None
    https: str | None = None
    discord: str | None = None  # for the webhooks only; the site proxies never carry Discord traffic

    @field_validator("http", "https", "discord")
    @classmethod
    def _proxy_shape(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
            raise ValueError("expected a proxy URL like http://user:password@host:port")
        return value


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
class FetchResponse:
    url: str
    status: int
    headers: httpx.Headers
    content: bytes
    elapsed: float
    from_cache: bool = False


def decode_text(content: bytes | bytearray | str) -> str:
    """UTF-8 (BOM tolerated), falling back to CP949 (older Korean pages), then UTF-8 with replacement.

    Text passes through unchanged, so pure parsers can accept ``bytes | str`` with one call.
    """
    if isinstance(content, str):
        return content
    content = bytes(content)
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return content.decode("cp949")
        except UnicodeDecodeError:
            return content.decode("utf-8", errors="replace")


@dataclass
class _Retryable(Exception):
    error: FetchError

    def __str__(self) -> str:
        return str(self.error)


@dataclass
class FetchStats:
    requests: int = 0
    last_status: int | None = None
    on_request: Callable[[], None] | None = None  # after each answered request (`once`'s progress line)


class Fetcher:
    """The process's HTTP client. Use ``for_site`` to get the view a crawler receives."""

    def __init__(
        self,
        settings: HttpSettings,
        *,
        proxy: ProxySettings | None = None,
        cache: ResponseCache | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self._semaphore = asyncio.Semaphore(settings.max_concurrency)
        self._host_locks: dict[str, asyncio.Lock] = {}
        self._host_next: dict[str, float] = {}
        self._validated: dict[str, float] = {}  # cache key → clock.monotonic() its 304 streak began
        self._unconditional: set[str] = set()  # cache keys whose 304 proved wrong: fetched plain
        mounts: dict[str, httpx.AsyncBaseTransport] | None = None
        if transport is None and proxy is not None and (proxy.http or proxy.https):
            mounts = {}
            if proxy.http:
                mounts["http://"] = httpx.AsyncHTTPTransport(proxy=proxy.http)
            if proxy.https:
                mounts["https://"] = httpx.AsyncHTTPTransport(proxy=proxy.https)
        self.client = httpx.AsyncClient(
            transport=transport,
            mounts=mounts,
            timeout=httpx.Timeout(settings.timeout),
            headers={
                "User-Agent": settings.user_agent,
                "Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5",
                "Accept-Encoding": "gzip, deflate",  # the two _Decoder reads, capped while streaming
            },
            follow_redirects=False,  # _attempt follows them itself, on the site's own hosts only
            trust_env=False,
        )

    def for_site(self, site: str, base_url: str | None = None) -> SiteFetcher:
        return SiteFetcher(self, site, base_url)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- internals ---------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _gate(self, host: str) -> AsyncIterator[None]:
        """Host spacing, then a concurrency slot. Both queues are FIFO (asyncio's Lock and Semaphore
        wake waiters in arrival order), so requests of one host — a sweep's pages and a head poll
        alike — go in the order they asked: a head poll waits for one sweep request at most. The
        slot is taken after the spacing wait, so a request waiting out its host's spacing does not
        hold one of the ``max_concurrency`` slots other hosts could use."""
        interval = self.settings.min_request_interval
        if interval <= 0:
            async with self._semaphore:
                yield
            return
        lock = self._host_locks.setdefault(host, asyncio.Lock())
        async with lock:
            wait = self._host_next.get(host, 0.0) - self.clock.monotonic()
            if wait > 0:
                await self.clock.sleep(wait)
            await self._semaphore.acquire()
            self._host_next[host] = self.clock.monotonic() + interval
        try:
            yield
        finally:
            self._semaphore.release()

    def _wait_seconds(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        base = self.settings.backoff * (2 ** (state.attempt_number - 1))
        delay = base + self.rng.uniform(0, self.settings.backoff)
        if isinstance(exc, _Retryable) and exc.error.retry_after is not None:
            delay = max(delay, exc.error.retry_after)
        return min(delay, MAX_RETRY_AFTER)

    async def request(
        self,
        site: str,
        method: str,
        url: str,
        *,
        public_url: str,
        data: Mapping[str, str] | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        conditional: bool = True,
        stats: FetchStats | None = None,
    ) -> FetchResponse:
        cache_key = _cache_key(method, url, data) if (conditional and self.cache is not None) else None
        cached = await self.cache.cached_response(cache_key) if cache_key and self.cache else None
        send_headers = dict(headers or {})
        plain = cache_key is not None and cached is not None and self._wants_plain(cache_key)
        if cached and not plain:
            if cached.etag:
                send_headers["If-None-Match"] = cached.etag
            since = _not_after(cached.last_modified, self.clock.now())
            if since:
                send_headers["If-Modified-Since"] = since

        async def attempt() -> FetchResponse:
            return await self._attempt(site, method, url, public_url, data, send_headers, cached, stats)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.retries + 1),
            wait=self._wait_seconds,
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            sleep=self.clock.sleep,
            reraise=True,
            before_sleep=lambda s: logger.debug(
                "{} 재시도 {}/{}: {}", site, s.attempt_number, self.settings.retries, s.outcome.exception()
            ),
        )
        try:
            response = await retrying(attempt)
        except _Retryable as exc:
            raise exc.error from None
        if cache_key and response.from_cache:
            self._validated.setdefault(cache_key, self.clock.monotonic())
        if cache_key and self.cache and not response.from_cache and response.status == 200:
            self._validated.pop(cache_key, None)
            etag = response.headers.get("etag")
            last_modified = _not_after(response.headers.get("last-modified"), _date_of(response, self.clock))
            if plain and cached is not None and response.content != cached.body:
                same = etag == cached.etag if etag else last_modified == cached.last_modified
                if same and cache_key not in self._unconditional:  # the 304s hid this body
                    self._unconditional.add(cache_key)
                    logger.warning(t("http.stale_304", site=site, url=public_url))
            if etag or last_modified:
                await self.cache.remember_response(
                    cache_key, etag, last_modified, response.content, self.clock.now().timestamp()
                )
        return response

    def _wants_plain(self, key: str) -> bool:
        """Whether this request goes without validators: the URL's validators were caught wrong, or
        its 304 streak has lasted ``PLAIN_AFTER_304`` seconds."""
        if key in self._unconditional:
            return True
        since = self._validated.get(key)
        return since is not None and self.clock.monotonic() - since >= PLAIN_AFTER_304

    async def _attempt(
        self,
        site: str,
        method: str,
        url: str,
        public_url: str,
        data: Mapping[str, str] | bytes | None,
        headers: Mapping[str, str],
        cached: CachedResponse | None,
        stats: FetchStats | None,
    ) -> FetchResponse:
        host = urlsplit(url).netloc
        async with self._gate(host):
            started = self.clock.monotonic()
            try:
                # the whole request, connect to last byte: httpx's own timeouts are per read
                async with asyncio.timeout(self.settings.timeout):
                    resp, content = await self._follow(site, method, url, public_url, data, headers)
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise _Retryable(
                    FetchError(
                        site,
                        t(
                            "http.timeout",
                            seconds=self.settings.timeout,
                            kind=type(exc).__name__,
                            whole=t("http.timeout.whole") if isinstance(exc, TimeoutError) else "",
                            url=url,
                        ),
                        url=public_url,
                        hint=t("http.hint.timeout"),
                    )
                ) from exc
            except httpx.InvalidURL as exc:  # httpx reads a Location header even when not following it
                raise FetchError(
                    site,
                    t("http.invalid_url", url=public_url, error=exc),
                    url=public_url,
                    hint=t("http.hint.bad_redirect"),
                ) from None
            except httpx.TransportError as exc:
                raise _Retryable(
                    FetchError(
                        site,
                        t("http.connection", kind=type(exc).__name__, host=host, error=exc),
                        url=public_url,
                        hint=t("http.hint.network"),
                    )
                ) from exc
            elapsed = self.clock.monotonic() - started
        logger.debug("{}: {} {} → HTTP {} ({:.2f}s)", site, method, url, resp.status_code, elapsed)
        if stats is not None:
            stats.requests += 1
            stats.last_status = resp.status_code
            if stats.on_request is not None:
                stats.on_request()
        status = resp.status_code
        if status == 304 and cached is not None:
            return FetchResponse(public_url, 200, resp.headers, cached.body, elapsed, from_cache=True)
        if 200 <= status < 300:
            return FetchResponse(public_url, status, resp.headers, content, elapsed)
        retry_after = _retry_after(resp.headers, self.clock)
        error = FetchError(
            site,
            t("http.status", status=status, url=url),  # the URL really requested (base_url applied)
            url=public_url,
            status=status,
            retry_after=retry_after,
            hint=_status_hint(status, content),
        )
        if status in RETRY_STATUSES and (retry_after is None or retry_after <= MAX_RETRY_AFTER):
            raise _Retryable(error)
        raise error

    async def _follow(
        self,
        site: str,
        method: str,
        url: str,
        public_url: str,
        data: Mapping[str, str] | bytes | None,
        headers: Mapping[str, str],
    ) -> tuple[httpx.Response, bytes]:
        """Send, following redirects on the site's own hosts only (the request's and the public one)."""
        own = urlsplit(url)
        public = urlsplit(public_url)
        allowed = {own.netloc.lower(), public.netloc.lower()}
        chain = [url]
        body: dict[str, Any] = {"content": data} if isinstance(data, bytes) else {"data": data}
        for _hop in range(MAX_REDIRECTS + 1):
            async with self.client.stream(method, url, headers=headers, **body) as resp:
                location = resp.headers.get("location")
                if resp.status_code not in REDIRECT_STATUSES or not location:
                    return resp, await self._read_capped(site, public_url, resp)
            try:
                target = urlsplit(urljoin(url, location.strip()))
                target.port  # noqa: B018 — raises ValueError on a malformed port
            except ValueError:
                raise FetchError(
                    site,
                    t("http.redirect_malformed", status=resp.status_code, url=public_url),
                    url=public_url,
                    status=resp.status_code,
                    hint=t("http.hint.bad_redirect"),
                ) from None
            if target.scheme not in ("http", "https") or target.netloc.lower() not in allowed:
                raise FetchError(
                    site,
                    t(
                        "http.redirect_elsewhere",
                        status=resp.status_code,
                        url=public_url,
                        target=f"{target.scheme}://{target.netloc}",
                    ),
                    url=public_url,
                    status=resp.status_code,
                    hint=t("http.hint.other_host"),
                )
            if target.netloc.lower() == public.netloc.lower() != own.netloc.lower():
                target = target._replace(scheme=own.scheme, netloc=own.netloc)  # stay on base_url
            url = urlunsplit(target)
            if url in chain:
                raise FetchError(
                    site,
                    t("http.redirect_loop", url=public_url, chain=" → ".join([*chain[-3:], url])),
                    url=public_url,
                    status=resp.status_code,
                    hint=t("http.hint.loop"),
                )
            chain.append(url)
            if resp.status_code == 303 or (resp.status_code in (301, 302) and method == "POST"):
                method, data = "GET", None
        raise FetchError(
            site,
            t("http.redirects", count=MAX_REDIRECTS, url=public_url),
            url=public_url,
            status=resp.status_code,
            hint=t("http.hint.endless"),
        )

    async def _read_capped(self, site: str, public_url: str, resp: httpx.Response) -> bytes:
        limit = self.settings.max_response_bytes
        declared = resp.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise FetchError(
                site,
                t("http.declared_too_large", size=int(declared), limit=limit),
                url=public_url,
                status=resp.status_code,
                hint=t("http.hint.too_large"),
            )
        # a response built in memory (MockTransport) arrives read and decoded already: no decoding here
        encoding = "" if resp.is_stream_consumed else resp.headers.get("content-encoding", "")
        decoder = _Decoder(encoding, limit)
        chunks: list[bytes] = []
        size = 0
        try:
            async for raw in _raw_chunks(resp):
                for chunk in decoder.feed(raw):
                    size += len(chunk)
                    if size > limit:
                        raise _TooLarge
                    chunks.append(chunk)
            for chunk in decoder.flush():
                size += len(chunk)
                if size > limit:
                    raise _TooLarge
                chunks.append(chunk)
        except _TooLarge:
            raise FetchError(
                site,
                t("http.too_large", limit=limit, decompressed=decoder.encoding and t("http.decompressed")),
                url=public_url,
                status=resp.status_code,
                hint=t("http.hint.too_large"),
            ) from None
        except zlib.error as exc:
            raise FetchError(
                site,
                t("http.corrupt", encoding=decoder.encoding, url=public_url, error=exc),
                url=public_url,
                status=resp.status_code,
                hint=t("http.hint.corrupt"),
            ) from None
        return b"".join(chunks)


class _TooLarge(Exception):
    pass


async def _raw_chunks(resp: httpx.Response) -> AsyncIterator[bytes]:
    """The body as sent (still compressed). A response built in memory (MockTransport) has been
    read and decoded by httpx already: its bytes are at hand."""
    if resp.is_stream_consumed:
        yield resp.content
        return
    async for raw in resp.aiter_raw():
        yield raw


class _Decoder:
    """Streaming gzip/deflate decompression that never produces more than ``limit`` + 1 bytes."""

    def __init__(self, content_encoding: str, limit: int) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise zlib.error(f"unsupported Content-Encoding {content_encoding!r}")
        self.encoding = codings[0] if codings else ""
        self.limit = limit
        self._zlib: Any = None
        self._first = True
        if self.encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.encoding == "deflate":
            self._zlib = zlib.decompressobj()

    def feed(self, data: bytes) -> list[bytes]:
        if self._zlib is None:
            return [data]
        if self._first and self.encoding == "deflate":
            self._first = False
            try:  # "deflate" is zlib-wrapped by the RFC, raw deflate by some servers
                return self._drain(data)
            except zlib.error:
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._drain(data)

    def _drain(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        produced = 0
        while data:
            chunk = self._zlib.decompress(data, self.limit + 1 - produced)
            produced += len(chunk)
            out.append(chunk)
            if produced > self.limit:
                raise _TooLarge
            data = self._zlib.unconsumed_tail
            if self._zlib.eof:
                break
        return out

    def flush(self) -> list[bytes]:
        if self._zlib is None:
            return []
        if not self._zlib.eof and self.encoding in ("gzip", "x-gzip"):
            raise zlib.error(t("http.truncated_stream"))
        return [self._zlib.flush()]


class SiteFetcher:
    """What a crawler sees: requests to public URLs, rewritten to ``base_url`` when configured."""

    def __init__(self, fetcher: Fetcher, site: str, base_url: str | None) -> None:
        self.fetcher = fetcher
        self.site = site
        self.base_url = base_url.rstrip("/") if base_url else None
        self.stats = FetchStats()
        # kept reads of second pages (the pipeline's, over the store); None: the crawler keeps its own
        self.memo: NoticeMemo | None = None
        self._public_hosts: set[str] = set()  # scheme://host of the public URLs rewritten to base_url

    def rewrite(self, url: str) -> str:
        if not self.base_url:
            return url
        base = urlsplit(self.base_url)
        parts = urlsplit(url)
        self._public_hosts.add(f"{parts.scheme}://{parts.netloc}")
        path = base.path.rstrip("/") + parts.path
        return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))

    def requested(self, text: str) -> str:
        """``text`` (a crawler's error) naming the URLs really requested: the public URLs this fetcher
        rewrote to ``base_url`` are shown rewritten, so the operator sees where the request went."""
        if not self.base_url:
            return text
        for public in sorted(self._public_hosts, key=len, reverse=True):
            text = re.sub(re.escape(public) + r"(?=[/?#\s)'\"]|$)", lambda m: self.rewrite(m[0]), text)
        return text

    async def get(
        self,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        conditional: bool = True,
    ) -> FetchResponse:
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
        return await self.fetcher.request(
            self.site,
            "GET",
            self.rewrite(url),
            public_url=url,
            headers=headers,
            conditional=conditional,
            stats=self.stats,
        )

    async def post(
        self,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        json_body: object = None,
        headers: Mapping[str, str] | None = None,
    ) -> FetchResponse:
        """POST a form (``data``) or a JSON document (``json_body``, sent as ``application/json``)."""
        payload: Mapping[str, str] | bytes | None = data
        if json_body is not None:
            payload = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
            headers = {**(headers or {}), "Content-Type": "application/json"}
        return await self.fetcher.request(
            self.site,
            "POST",
            self.rewrite(url),
            public_url=url,
            data=payload,
            headers=headers,
            conditional=False,
            stats=self.stats,
        )


def _cache_key(method: str, url: str, data: Mapping[str, str] | bytes | None) -> str:
    body = data.decode("utf-8", "replace") if isinstance(data, bytes) else sorted((data or {}).items())
    raw = f"{method} {url} {body}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _date_of(response: FetchResponse, clock: Clock) -> datetime:
    """The response's own ``Date`` (the server's clock), or now when it has none or a bad one."""
    try:
        when = parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError):
        return clock.now()
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # "-0000": UTC, RFC 5322


def _not_after(last_modified: str | None, limit: datetime) -> str | None:
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


def _retry_after(headers: httpx.Headers, clock: Clock) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - clock.now()).total_seconds())


# Markers of bot-challenge / block pages (Cloudflare, Akamai, captcha walls, Korean WAF pages). The
# site's own HTML page (a Next.js notice page, a script shell) carries none of them.
CHALLENGE_MARKERS = (
    "just a moment",
    "cf-chl",
    "cf-browser-verification",
    "challenge-platform",
    "cf_chl_opt",
    "attention required",
    "captcha",
    "access denied",
    "request unsuccessful",
    "ddos protection",
    "checking your browser",
    "자동입력 방지",
    "비정상적인 접근",
    "보안 확인",
    "보안문자",
    # captcha widgets and robot checks (i21-ko)
    "cf-turnstile",
    "are you a robot",
    "verify you are human",
    "로봇이 아닙니다",
    # JavaScript walls: a page that shows nothing but "turn JavaScript on" to a client without it. The
    # site's own app shell ("You need to enable JavaScript to run this app.") is not one: it is the
    # page the endpoint moved to, and keeps the moved hint
    "please enable javascript",
    "enable javascript and cookies",
    "javascript is required",
    "javascript를 켜",
    "javascript를 활성화",
    "javascript를 허용",
    "자바스크립트를 켜",
    "자바스크립트를 활성화",
    "자바스크립트를 허용",
    "자바스크립트를 사용",
)


def is_challenge(text: str) -> bool:
    """Whether a page is a bot challenge / block page (known markers in its first 8 KB)."""
    head = text[:8192].lower()
    return any(marker in head for marker in CHALLENGE_MARKERS)


def _status_hint(status: int, body: bytes = b"") -> str | None:
    if status in (403, 429) and body and is_challenge(decode_text(body[:8192])):
        return t("http.hint.challenge", status=status)
    if status in (401, 403):
        return t("http.hint.refused")
    if status in (404, 410):
        return t("http.hint.moved")
    if status == 423:
        return t("http.hint.locked")
    if status == 429:
        return t("http.hint.rate_limited")
    if status >= 500:
        return t("http.hint.failing")
    return None
