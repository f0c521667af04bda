"""The fetch layer's client: one ``httpx.AsyncClient`` for the process, shared by every crawler.

Retry, throttling and conditional requests live in this package, never in a crawler:
- at most ``http.max_concurrency`` requests in flight, all sites together, and at least
  ``http.min_request_interval`` seconds between two request starts to one host (``gate``);
- tenacity retries with exponential backoff and jitter on timeouts, connection errors,
  429 and 5xx, honouring ``Retry-After`` (``status``);
- conditional GET: a 304 replays the last body, "unchanged", never "empty" (``conditional``);
- ``http.timeout`` bounds the whole request, connect to last byte (a site trickling one byte a
  second cannot hold a crawl past it);
- redirects are followed by hand and only on the site's own host (or its ``base_url``): another
  host, a loop or too many hops is a ``FetchError`` saying so;
- gzip/deflate bodies are decompressed streaming and capped at ``http.max_response_bytes``
  (``decode``).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import httpx
from loguru import logger
from tenacity import AsyncRetrying, Future, RetryCallState, retry_if_exception, stop_after_attempt

from ticket_alarm.clock import Clock, SystemClock
from ticket_alarm.errors import FetchError
from ticket_alarm.fetch.conditional import CachedResponse, ConditionalGets, Outgoing, ResponseCache
from ticket_alarm.fetch.decode import read_capped
from ticket_alarm.fetch.gate import HostGate
from ticket_alarm.fetch.settings import HttpSettings, ProxySettings
from ticket_alarm.fetch.status import MAX_RETRY_AFTER, RETRY_STATUSES, Retryable, retry_after, status_hint
from ticket_alarm.i18n import t

if TYPE_CHECKING:
    from ticket_alarm.core.notice_memo import NoticeMemo

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class FetchResponse:
    url: str
    status: int
    headers: httpx.Headers
    content: bytes
    elapsed: float
    from_cache: bool = False


@dataclass(frozen=True, slots=True)
class _Request:
    """One request as the fetcher sends it: ``url`` really requested (``base_url`` applied), the
    public one it stands for (errors and links name that one)."""

    site: str
    method: str
    url: str
    public_url: str
    data: Mapping[str, str] | bytes | None
    headers: Mapping[str, str]


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
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self._gate = HostGate(settings.max_concurrency, settings.min_request_interval, self.clock)
        self._conditional = ConditionalGets(cache, self.clock)
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
                "Accept-Encoding": "gzip, deflate",  # the two fetch.decode reads, capped while streaming
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
    def _wait_seconds(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        base = self.settings.backoff * (2 ** (state.attempt_number - 1))
        delay = base + self.rng.uniform(0, self.settings.backoff)
        if isinstance(exc, Retryable) and exc.error.retry_after is not None:
            delay = max(delay, exc.error.retry_after)
        return min(delay, MAX_RETRY_AFTER)

    async def request(
        self, site: str, outgoing: Outgoing, *, public_url: str, stats: FetchStats | None = None
    ) -> FetchResponse:
        """One request of ``site`` (its URL as sent: ``base_url`` applied), with retries; errors and
        the cache name ``public_url``."""
        request = await self._conditional.prepare(outgoing)

        async def attempt() -> FetchResponse:
            sent = _Request(site, outgoing.method, outgoing.url, public_url, outgoing.data, request.headers)
            return await self._attempt(sent, request.cached, stats)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.retries + 1),
            wait=self._wait_seconds,
            retry=retry_if_exception(lambda e: isinstance(e, Retryable)),
            sleep=self.clock.sleep,
            reraise=True,
            # tenacity sets the outcome of the failed attempt before it calls before_sleep
            before_sleep=lambda s: logger.debug(
                "{}",
                t(
                    "log.http_retry",
                    site=site,
                    attempt=s.attempt_number,
                    retries=self.settings.retries,
                    error=cast(Future, s.outcome).exception(),
                ),
            ),
        )
        try:
            response: FetchResponse = await retrying(attempt)
        except Retryable as exc:
            raise exc.error from None
        await self._conditional.settle(request, response, site, public_url)
        return response

    async def _attempt(
        self, request: _Request, cached: CachedResponse | None, stats: FetchStats | None
    ) -> FetchResponse:
        site, method, url, public_url = request.site, request.method, request.url, request.public_url
        host = urlsplit(url).netloc
        async with self._gate(host):
            started = self.clock.monotonic()
            try:
                # the whole request, connect to last byte: httpx's own timeouts are per read
                async with asyncio.timeout(self.settings.timeout):
                    resp, content = await self._follow(request)
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise Retryable(
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
                raise Retryable(
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
        wait = retry_after(resp.headers, self.clock)
        error = FetchError(
            site,
            t("http.status", status=status, url=url),  # the URL really requested (base_url applied)
            url=public_url,
            status=status,
            retry_after=wait,
            hint=status_hint(status, content),
        )
        if status in RETRY_STATUSES and (wait is None or wait <= MAX_RETRY_AFTER):
            raise Retryable(error)
        raise error

    async def _follow(self, request: _Request) -> tuple[httpx.Response, bytes]:
        """Send, following redirects on the site's own hosts only (the request's and the public one)."""
        site, method, url, public_url, data = (
            request.site,
            request.method,
            request.url,
            request.public_url,
            request.data,
        )
        headers = request.headers
        own = urlsplit(url)
        public = urlsplit(public_url)
        allowed = {own.netloc.lower(), public.netloc.lower()}
        chain = [url]
        body: dict[str, Any] = {"content": data} if isinstance(data, bytes) else {"data": data}
        for _hop in range(MAX_REDIRECTS + 1):
            async with self.client.stream(method, url, headers=headers, **body) as resp:
                location = resp.headers.get("location")
                if resp.status_code not in REDIRECT_STATUSES or not location:
                    return resp, await read_capped(site, public_url, resp, self.settings.max_response_bytes)
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
        return await self._send(Outgoing("GET", url, headers=headers, conditional=conditional))

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
        return await self._send(Outgoing("POST", url, payload, headers))

    async def _send(self, request: Outgoing) -> FetchResponse:
        """One request of this site: to ``base_url`` where the config moves it, logged and cached under
        the public URL, counted in the crawl's stats."""
        moved = replace(request, url=self.rewrite(request.url))
        return await self.fetcher.request(self.site, moved, public_url=request.url, stats=self.stats)
