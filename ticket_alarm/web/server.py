"""The status page, the calendar feed and the JSON/health/metrics endpoints, off unless ``web.port`` is set.

An aiohttp application served by the daemon itself, on its own event loop: handlers await the
daemon's read-only store (``WebContext.store``: on SQLite a reader with its own worker thread, so a
page request never blocks the loop) through the read-only queries of ``Store`` and ``upcoming``.
Nothing here writes.

- ``GET /`` — the page (``page.py``: Korean, no external assets, refreshes itself every 30 s);
- ``GET /calendar.ics`` — RFC 5545 feed, ``?site=`` ``?route=`` ``?q=`` ``?days=``, ``?alarm=`` minutes
  (0: none; default 10);
- ``GET /api/upcoming.json`` — the same list as JSON, ``?site=`` ``?route=`` ``?days=`` ``?q=``;
- ``GET /healthz`` — the ``health`` report as JSON, 200 for OK/WARNING, 503 otherwise (without
  ``web.token``: each check's name and state, not its detail);
- ``GET /metrics`` — the Prometheus metrics.

The page never costs an alert: at most ``page_connections()`` connections are held (derived from the
descriptor limit, so the crawlers, the outbox and the store keep theirs); beyond it the oldest one
still waiting for its request is closed (or the new one, when none is); a request's headers must
arrive within ``HEADER_TIMEOUT`` seconds, and a request line, header or header count over aiohttp's
limits is a 400 with one WARNING line (``logs`` bridges aiohttp's logger, rate-limited).

With ``web.token`` set every request needs it, as ``Authorization: Bearer …`` or ``?token=…``,
compared in constant time. The token (like every secret) is never rendered: the page's links get
it added by the browser from its own address bar. Access logging is off, so a ``?token=`` never
reaches a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import resource
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psutil
from aiohttp import web
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST

from ticket_alarm.config.surfaces import is_loopback
from ticket_alarm.errors import ConfigError, StoreError
from ticket_alarm.i18n import t
from ticket_alarm.logs import redact
from ticket_alarm.ops import health
from ticket_alarm.web.ical import ALARM_MINUTES, calendar
from ticket_alarm.web.page import WebContext, render_page
from ticket_alarm.web.upcoming import check_site, document, find_route, upcoming

SHUTDOWN_TIMEOUT = 1.0  # of the daemon's 10 s shutdown bound
HEADER_TIMEOUT = 10.0  # seconds for a request's headers to arrive (and for an idle keep-alive)
MAX_PAGE_CONNECTIONS = 256
# descriptors kept for everything but the page: crawler and Discord connections, the store, the logs
RESERVED_FDS = 256
LIMITS: dict[str, Any] = {"max_line_size": 8190, "max_field_size": 8190, "max_headers": 100}  # beyond: a 400
HEALTH_HTTP = {health.OK: 200, health.WARNING: 200}  # CRITICAL and UNKNOWN: 503


def token_ok(given: str | None, expected: str) -> bool:
    """Constant time whatever ``given`` is: both sides are hashed to one length first."""
    if given is None:
        given = ""
    a = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    b = hashlib.sha256(expected.encode()).digest()
    return hmac.compare_digest(a, b) and bool(given)


def presented_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.query.get("token")


class _LoopSystem(health.PsutilSystem):
    """``health``'s system checks without the 0.5 s CPU sample, which would block the event loop."""

    def cpu_percent(self) -> float:
        return float(psutil.cpu_percent(interval=None))


# --- the application --------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", content_type="text/plain", charset="utf-8")


def build_app(ctx: WebContext) -> web.Application:
    token = ctx.settings.web.token

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token is not None and not token_ok(presented_token(request), token):
            response = _text(401, "인증이 필요합니다: Authorization: Bearer <web.token> 또는 ?token=…")
            response.headers["WWW-Authenticate"] = 'Bearer realm="ticket-alarm"'
        else:
            try:
                response = await handler(request)  # type: ignore[assignment]
            except ConfigError as exc:  # a bad ?site= / ?route= / ?days=
                response = _text(400, redact(str(exc)))
            except StoreError as exc:
                logger.warning("{}", t("log.web.failed", path=request.path, error=redact(str(exc))))
                response = _text(503, "store unavailable")
            except web.HTTPException:
                raise  # 404/405 from the router: aiohttp answers them
            except Exception as exc:  # a bug in a handler: one ERROR line, a 500, never a traceback
                error = f"{type(exc).__name__}: {redact(str(exc))}"
                logger.error("{}", t("log.web.failed", path=request.path, error=error))
                response = _text(500, "internal error (see the daemon's log)")
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    app = web.Application(middlewares=[guard])
    app.on_response_prepare.append(_anonymous)
    for path, endpoint in (
        ("/", _page),
        ("/calendar.ics", _calendar),
        ("/api/upcoming.json", _upcoming_json),
        ("/healthz", _healthz),
        ("/metrics", _metrics),
    ):
        app.router.add_get(path, _bind(ctx, endpoint))
    return app


async def _anonymous(_request: web.Request, response: web.StreamResponse) -> None:
    """No ``Server: Python/3.11 aiohttp/3.x`` on any answer (401 and 404 included): the versions
    to look exploits up for are nobody's business."""
    response.headers.popall("Server", None)


def _bind(ctx: WebContext, endpoint: Callable[[WebContext, web.Request], Awaitable[web.Response]]) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await endpoint(ctx, request)

    return handle


async def _page(ctx: WebContext, _request: web.Request) -> web.Response:
    html = await render_page(ctx)
    nonce = html.split('nonce="', 1)[1].split('"', 1)[0]
    response = web.Response(text=html, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return response


def _filters(ctx: WebContext, request: web.Request) -> dict[str, Any]:
    query = request.query
    if any("\ufffd" in k or "\ufffd" in v for k, v in query.items()):  # bytes that are not UTF-8
        raise ConfigError(t("web.bad_query"))
    site = query.get("site") or None
    route_name = query.get("route") or None
    days_text = query.get("days") or None
    if site is not None:
        check_site(site, ctx.looks)
    route = find_route(ctx.settings, route_name) if route_name else None
    days: float | None = None
    if days_text is not None:
        try:
            days = float(days_text)
        except ValueError:
            days = -1.0
        if not 0 < days <= 3660:
            raise ConfigError(t("web.bad_days", days=days_text))
    return {"site": site, "route": route, "days": days, "text": query.get("q") or None}


def _alarm(request: web.Request) -> int:
    text = request.query.get("alarm") or ""
    if not text:
        return ALARM_MINUTES
    minutes = int(text) if text.isascii() and text.isdigit() else -1
    if not 0 <= minutes <= 1440:
        raise ConfigError(t("web.bad_alarm", alarm=text))
    return minutes


async def _calendar(ctx: WebContext, request: web.Request) -> web.Response:
    f = _filters(ctx, request)
    alarm = _alarm(request)
    now = ctx.clock.now()
    notices = await upcoming(ctx.store, now=now, looks=ctx.looks, router=ctx.router, **f)
    name = "티켓 오픈 일정"
    if f["route"] is not None:
        name += f" · {f['route'].name}"
    elif f["site"] is not None:
        name += f" · {ctx.looks[f['site']].name}"
    if f["text"]:
        name += f" · {f['text']}"
    response = web.Response(body=calendar(notices, now, name=name, alarm=alarm), content_type="text/calendar")
    response.charset = "utf-8"
    response.headers["Content-Disposition"] = 'inline; filename="ticket-alarm.ics"'
    return response


async def _upcoming_json(ctx: WebContext, request: web.Request) -> web.Response:
    f = _filters(ctx, request)
    now = ctx.clock.now()
    notices = await upcoming(ctx.store, now=now, looks=ctx.looks, router=ctx.router, **f)
    doc = document(
        notices,
        now,
        site=f["site"],
        route=f["route"].name if f["route"] else None,
        days=f["days"],
        text=f["text"],
    )
    return web.json_response(doc, dumps=lambda d: json.dumps(d, ensure_ascii=False))


class _ServerLog(logging.Handler):
    """aiohttp's own request errors: a request it cannot parse (unencoded Korean in the address,
    ``?q=세븐틴`` typed into curl) is one line, not a traceback in the error log."""

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        reason = str(getattr(exc, "message", "") or exc or record.getMessage()).strip().splitlines()
        # someone else's mistake, not the daemon's: a WARNING, held to one line a minute by the log's
        # repeat limit (a flood of bad requests must not fill the disk)
        if getattr(exc, "code", None) == 400:
            logger.bind(repeat_kind="web.rejected").warning(
                "{}", t("web.rejected", reason=redact(reason[0] if reason else "?")[:300])
            )
        elif record.levelno >= logging.WARNING:
            logger.bind(repeat_kind="web.error").error(
                "web: {}: {}", type(exc).__name__ if exc else "error", redact(" ".join(reason)[:300])
            )


SERVER_LOG = logging.getLogger("ticket_alarm.web.server.server")
SERVER_LOG.handlers[:] = [_ServerLog()]
SERVER_LOG.propagate = False


async def _healthz(ctx: WebContext, _request: web.Request) -> web.Response:
    report = await health.collect(
        ctx.settings,
        dict(ctx.known),
        open_store=ctx.open_store,
        config_name="config",
        clock=ctx.clock,
        system=_LoopSystem(),
    )
    doc = report.to_json()
    if ctx.settings.web.token is None:  # anyone may ask: each check's state, not its detail (the data
        # folder, webhook ids, errors), as Spring Boot's health shows details only when authorized
        doc["checks"] = [{"name": c["name"], "status": c["status"]} for c in doc["checks"]]
    text = redact(json.dumps(doc, ensure_ascii=False))
    return web.Response(
        status=HEALTH_HTTP.get(report.status, 503), text=text, content_type="application/json"
    )


async def _metrics(ctx: WebContext, _request: web.Request) -> web.Response:
    if ctx.metrics is None:
        return _text(404, "metrics are not collected in this process")
    response = web.Response(body=await ctx.metrics.render())
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def page_connections(soft_limit: int | None = None) -> int:
    """How many page connections are held at once: half of what the descriptor limit leaves after
    ``RESERVED_FDS`` (the other half covers the sockets accepted in one go only to be closed),
    between 8 and ``MAX_PAGE_CONNECTIONS``. 1,024 descriptors: 256."""
    if soft_limit is None:
        soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft_limit == resource.RLIM_INFINITY:
            soft_limit = 1 << 20
    return max(8, min(MAX_PAGE_CONNECTIONS, (soft_limit - RESERVED_FDS) // 2))


class _Gate:
    """The page's connections, oldest first; ``admit`` makes room for a new one or refuses it."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open: OrderedDict[_Capped, None] = OrderedDict()
        self.refused = 0  # closed at once or to make room

    def admit(self, conn: _Capped) -> bool:
        if len(self.open) >= self.cap:
            # constant text: the log's rate limit holds a flood of these to one a minute, with a count
            logger.warning("{}", t("log.web.connections_capped", cap=self.cap))
            waiting = next((c for c in self.open if not c.asked), None)
            if waiting is None:  # every one is being answered: the new one waits for a later try
                self.refused += 1
                return False
            self.refused += 1
            waiting.drop()
        self.open[conn] = None
        return True


class _Capped(asyncio.Protocol):
    """aiohttp's protocol behind the gate: a connection over the cap is closed at once."""

    def __init__(self, inner: asyncio.Protocol, gate: _Gate) -> None:
        self.inner = inner
        self.gate = gate
        self.asked = False  # a whole request head arrived (it is being answered, or was)
        self._tail = b""
        self.transport: asyncio.Transport | None = None
        self.served = False  # aiohttp saw the connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if not self.gate.admit(self):
            transport.abort()  # type: ignore[attr-defined]
            return
        self.served = True
        self.inner.connection_made(transport)

    def drop(self) -> None:
        self.gate.open.pop(self, None)
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if not self.asked:
            self.asked = b"\r\n\r\n" in self._tail + data
            self._tail = data[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.gate.open.pop(self, None)
        self.transport = None
        if self.served:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class _CappedSite(web.TCPSite):
    """``TCPSite`` whose connections go through a ``_Gate``."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, cap: int) -> None:
        super().__init__(runner, host, port)
        self.gate = _Gate(cap)

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Capped(server(), self.gate), self._host, self._port, backlog=self._backlog
        )


@contextlib.asynccontextmanager
async def serve_web(ctx: WebContext) -> AsyncIterator[web.AppRunner | None]:
    """Serve the page while the block runs (nothing when ``web.port`` is unset).

    A port that cannot be bound is an ERROR and the daemon runs on without the page: alerts
    matter more than their page. Stopping takes at most ``SHUTDOWN_TIMEOUT`` seconds.
    """
    settings = ctx.settings.web
    if settings.port is None:
        yield None
        return
    runner = web.AppRunner(
        build_app(ctx),
        access_log=None,
        handle_signals=False,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        logger=SERVER_LOG,
        keepalive_timeout=HEADER_TIMEOUT,
        **LIMITS,
    )
    await runner.setup()
    site = _CappedSite(runner, settings.host, settings.port, page_connections())
    try:
        await site.start()
    except OSError as exc:
        error = exc.strerror or exc
        logger.error("{}", t("log.web.bind_failed", host=settings.host, port=settings.port, error=error))
        await runner.cleanup()
        yield None
        return
    if settings.token is None and not is_loopback(settings.host):
        logger.warning("{}", t("log.web.open", host=settings.host))
    token = t("log.web.token") if settings.token else ""
    logger.info("{}", t("log.web", host=settings.host, port=settings.port, token=token))
    try:
        yield runner
    finally:
        await runner.cleanup()
