"""The status page, the calendar feed and the JSON/health/metrics endpoints, off unless ``web.port`` is set.

An aiohttp application served by the daemon itself, on its own event loop: handlers await the
daemon's read-only store (``WebContext.store``: on SQLite a reader with its own worker thread, so a
page request never blocks the loop) through the read-only queries of ``Store`` and ``upcoming``.
Nothing here writes.

- ``GET /`` — the page (``page.py``: Korean, no external assets, refreshes itself every 30 s);
- ``GET /calendar.ics`` — RFC 5545 feed, ``?site=`` / ``?route=``;
- ``GET /api/upcoming.json`` — the same list as JSON, ``?site=`` ``?route=`` ``?days=`` ``?q=``;
- ``GET /healthz`` — the ``health`` report as JSON, 200 for OK/WARNING, 503 otherwise;
- ``GET /metrics`` — the Prometheus metrics.

With ``web.token`` set every request needs it, as ``Authorization: Bearer …`` or ``?token=…``,
compared in constant time. The token (like every secret) is never rendered: the page's links get
it added by the browser from its own address bar. Access logging is off, so a ``?token=`` never
reaches a log.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psutil
from aiohttp import web
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST

from ticket_alarm import health
from ticket_alarm.errors import ConfigError, StoreError
from ticket_alarm.i18n import t
from ticket_alarm.ical import calendar
from ticket_alarm.logs import redact
from ticket_alarm.page import WebContext, render_page
from ticket_alarm.upcoming import check_site, document, find_route, upcoming

SHUTDOWN_TIMEOUT = 1.0  # of the daemon's 10 s shutdown bound
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
    for path, endpoint in (
        ("/", _page),
        ("/calendar.ics", _calendar),
        ("/api/upcoming.json", _upcoming_json),
        ("/healthz", _healthz),
        ("/metrics", _metrics),
    ):
        app.router.add_get(path, _bind(ctx, endpoint))
    return app


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
    site = request.query.get("site") or None
    route_name = request.query.get("route") or None
    days_text = request.query.get("days") or None
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
            raise ConfigError(f"days={days_text!r}: give a number of days between 1 and 3660.")
    return {"site": site, "route": route, "days": days, "text": request.query.get("q") or None}


async def _calendar(ctx: WebContext, request: web.Request) -> web.Response:
    f = _filters(ctx, request)
    now = ctx.clock.now()
    notices = await upcoming(ctx.store, now=now, looks=ctx.looks, routes=(), **f)
    name = "티켓 오픈 일정"
    if f["route"] is not None:
        name += f" · {f['route'].name}"
    elif f["site"] is not None:
        name += f" · {ctx.looks[f['site']].name}"
    response = web.Response(body=calendar(notices, now, name=name), content_type="text/calendar")
    response.charset = "utf-8"
    response.headers["Content-Disposition"] = 'inline; filename="ticket-alarm.ics"'
    return response


async def _upcoming_json(ctx: WebContext, request: web.Request) -> web.Response:
    f = _filters(ctx, request)
    now = ctx.clock.now()
    notices = await upcoming(ctx.store, now=now, looks=ctx.looks, routes=ctx.settings.effective_routes(), **f)
    doc = document(
        notices,
        now,
        site=f["site"],
        route=f["route"].name if f["route"] else None,
        days=f["days"],
        text=f["text"],
    )
    return web.json_response(doc, dumps=lambda d: json.dumps(d, ensure_ascii=False))


async def _healthz(ctx: WebContext, _request: web.Request) -> web.Response:
    report = await health.collect(
        ctx.settings, dict(ctx.known), config_name="config", clock=ctx.clock, system=_LoopSystem()
    )
    doc = report.to_json()
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


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
        build_app(ctx), access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    try:
        await site.start()
    except OSError as exc:
        error = exc.strerror or exc
        logger.error("{}", t("log.web.bind_failed", host=settings.host, port=settings.port, error=error))
        await runner.cleanup()
        yield None
        return
    if settings.token is None and not _loopback(settings.host):
        logger.warning("{}", t("log.web.open", host=settings.host))
    token = t("log.web.token") if settings.token else ""
    logger.info("{}", t("log.web", host=settings.host, port=settings.port, token=token))
    try:
        yield runner
    finally:
        await runner.cleanup()
