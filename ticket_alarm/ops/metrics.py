"""Prometheus metrics, off unless ``metrics.port`` is set.

A dedicated ``CollectorRegistry`` (no global default-registry state). Per-site crawl counters
are fed by the daemon's ``on_result`` callback; everything else is read at scrape time from the
store (outbox, site state, broken webhooks) and the live stats objects (delivery stats, the
webhook client's 429 counter), so the hot paths carry no extra calls. The endpoint is a tiny
HTTP server on the daemon's own event loop: :meth:`Metrics.render` first awaits the read-only
async store (a :class:`_StoreSnapshot`; on SQLite its reads run on the reader's worker thread, so
a scrape never blocks the loop), then the synchronous Prometheus collection reads that snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import psutil
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ticket_alarm.clock import Clock, SystemClock
from ticket_alarm.config.settings import Settings
from ticket_alarm.daemon.results import HEAD, SiteResult
from ticket_alarm.delivery.discord.webhook import WebhookClient
from ticket_alarm.delivery.outbox import Delivery
from ticket_alarm.errors import StoreError
from ticket_alarm.i18n import t
from ticket_alarm.store.api import HeadState, OutboxStats, SiteState
from ticket_alarm.store.api import Store as StoreProtocol

PREFIX = "ticket_alarm"
REQUEST_TIMEOUT = 5.0
MAX_REQUEST_BYTES = 16 * 1024


def rss_bytes() -> int:
    return int(psutil.Process(os.getpid()).memory_info().rss)


@dataclass(frozen=True, slots=True)
class _StoreSnapshot:
    """What one scrape reads from the store, awaited before the (synchronous) collection runs."""

    states: list[SiteState]
    heads: dict[str, HeadState]
    outbox: OutboxStats
    broken: dict[str, str]


class _LiveCollector(Collector):
    """Reads the store snapshot of this scrape and the stats objects when Prometheus scrapes."""

    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.m
        snap = m.snapshot
        if snap is None:  # the registry describing itself (auto_describe): no scrape yet
            return
        now = m.clock.now().timestamp()
        yield from _per_site(
            "last_success_timestamp_seconds",
            "Unix time of the last successful crawl of a site",
            "failure_streak",
            "Consecutive failed crawls of a site",
            [(state.site, state.last_success, state.failure_streak) for state in snap.states],
        )
        yield from _per_site(
            "last_head_poll_timestamp_seconds",
            "Unix time of the last successful head poll (newest page) of a site",
            "head_poll_failure_streak",
            "Consecutive failed head polls of a site",
            [(site, snap.heads[site].last_success, snap.heads[site].failure_streak) for site in m.sites],
        )
        stats = snap.outbox
        yield GaugeMetricFamily(
            f"{PREFIX}_outbox_pending", "Alerts waiting in the outbox", value=stats.pending
        )
        oldest = 0.0 if stats.oldest_pending is None else max(0.0, now - stats.oldest_pending)
        yield GaugeMetricFamily(
            f"{PREFIX}_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending alert (0 when none)",
            value=oldest,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_dead_letters", "Alerts Discord refused permanently (in the store)", value=stats.dead
        )
        d = m.delivery.stats
        yield CounterMetricFamily(
            f"{PREFIX}_deliveries", "Alerts delivered by this process", value=d.sent_alerts
        )
        yield CounterMetricFamily(
            f"{PREFIX}_delivery_messages", "Discord messages posted by this process", value=d.sent_messages
        )
        yield CounterMetricFamily(
            f"{PREFIX}_delivery_failures", "Failed delivery attempts (retried later)", value=d.failures
        )
        yield CounterMetricFamily(
            f"{PREFIX}_dead_lettered", "Alerts turned into dead letters by this process", value=d.dead
        )
        yield CounterMetricFamily(
            f"{PREFIX}_discord_rate_limited",
            "HTTP 429 answers received from Discord",
            value=m.webhooks.rate_limited if m.webhooks is not None else 0,
        )
        broken = GaugeMetricFamily(
            f"{PREFIX}_webhook_broken", "1 when a route's webhook is marked broken", labels=["route"]
        )
        marked = snap.broken
        for route in m.routes:
            broken.add_metric([route], 1.0 if route in marked else 0.0)
        yield broken
        yield GaugeMetricFamily(
            f"{PREFIX}_resident_memory_bytes", "Resident set size of the daemon", value=m.rss()
        )
        if m.max_rss_bytes is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_max_rss_bytes", "max_rss_mb: above it the daemon restarts", value=m.max_rss_bytes
            )
        interval = GaugeMetricFamily(
            f"{PREFIX}_crawl_interval_seconds",
            "Configured seconds between two crawls of a site",
            labels=["site"],
        )
        for site, seconds in m.intervals.items():
            interval.add_metric([site], seconds)
        yield interval


class Metrics:
    def __init__(
        self,
        store: StoreProtocol,
        delivery: Delivery,
        webhooks: WebhookClient | None,
        *,
        sites: Sequence[str] = (),
        routes: Sequence[str] = (),
        clock: Clock | None = None,
        rss: Callable[[], int] = rss_bytes,
        intervals: Mapping[str, float] | None = None,
        max_rss_mb: float | None = None,
    ) -> None:
        self.intervals = dict(intervals or {})
        self.max_rss_bytes = None if max_rss_mb is None else int(max_rss_mb * 1024 * 1024)
        self.store = store
        self.snapshot: _StoreSnapshot | None = None
        self.delivery = delivery
        self.webhooks = webhooks
        self.routes = list(routes)
        self.sites = list(sites)
        self.clock = clock or SystemClock()
        self.rss = rss
        self.registry = CollectorRegistry(auto_describe=True)
        self.crawls = Counter(f"{PREFIX}_crawls", "Crawls of a site", ["site"], registry=self.registry)
        self.crawl_failures = Counter(
            f"{PREFIX}_crawl_failures", "Failed crawls of a site", ["site"], registry=self.registry
        )
        self.notices_parsed = Counter(
            f"{PREFIX}_notices_parsed", "Valid notices parsed from a site", ["site"], registry=self.registry
        )
        self.notices_new = Counter(
            f"{PREFIX}_notices_new", "Notices seen for the first time", ["site"], registry=self.registry
        )
        # head polls (the newest page, registration order) apart from the sweeps counted above
        self.head_polls = Counter(
            f"{PREFIX}_head_polls", "Head polls of a site (newest page)", ["site"], registry=self.registry
        )
        self.head_poll_failures = Counter(
            f"{PREFIX}_head_poll_failures", "Failed head polls of a site", ["site"], registry=self.registry
        )
        self.head_notices_new = Counter(
            f"{PREFIX}_head_notices_new",
            "Notices a head poll saw first (alerted before any sweep)",
            ["site"],
            registry=self.registry,
        )
        counters = (self.crawls, self.crawl_failures, self.notices_parsed, self.notices_new)
        for site in sites:  # every enabled site shows up from the first scrape, at zero
            for counter in (*counters, self.head_polls, self.head_poll_failures, self.head_notices_new):
                counter.labels(site)
        self.registry.register(_LiveCollector(self))

    def on_result(self, result: SiteResult) -> None:
        if result.mode == HEAD:
            if result.skipped and result.ok:
                return
            self.head_polls.labels(result.site).inc()
            if not result.ok:
                self.head_poll_failures.labels(result.site).inc()
            self.head_notices_new.labels(result.site).inc(result.new)
            return
        if result.skipped:
            return
        self.crawls.labels(result.site).inc()
        if not result.ok:
            self.crawl_failures.labels(result.site).inc()
            return
        self.notices_parsed.labels(result.site).inc(result.items)
        self.notices_new.labels(result.site).inc(result.new)

    async def render(self) -> bytes:
        """The exposition text: the store is read (awaited) first, then every collector runs."""
        store = self.store
        self.snapshot = _StoreSnapshot(
            states=await store.all_site_states(),
            heads={site: await store.head_state(site) for site in self.sites},
            outbox=await store.outbox_stats(),
            broken=await store.broken_webhooks(),
        )
        return generate_latest(self.registry)

    # --- the HTTP endpoint ----------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        parts = head.split(b"\r\n", 1)[0].split()
        method = parts[0].decode("latin-1") if parts else ""
        path = parts[1].decode("latin-1").split("?", 1)[0] if len(parts) > 1 else ""
        if method not in ("GET", "HEAD"):
            status, body, ctype = "405 Method Not Allowed", b"GET only\n", "text/plain"
        elif path not in ("/metrics", "/"):
            status, body, ctype = "404 Not Found", b"see /metrics\n", "text/plain"
        else:
            try:
                status, body, ctype = "200 OK", await self.render(), CONTENT_TYPE_LATEST
            except StoreError as exc:
                logger.warning("{}", t("log.metrics_scrape_failed", error=exc))
                status, body, ctype = "500 Internal Server Error", b"store unavailable\n", "text/plain"
        header = (
            f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1")
        with contextlib.suppress(ConnectionError):
            writer.write(header if method == "HEAD" else header + body)
            await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def serve_metrics(
    settings: Settings,
    store: StoreProtocol,
    delivery: Delivery,
    webhooks: WebhookClient | None,
    *,
    sites: Sequence[str],
) -> AsyncIterator[Metrics | None]:
    """Serve /metrics while the block runs (nothing when ``metrics.port`` is unset).

    The yielded ``Metrics.on_result`` is the daemon's per-result callback.
    A port that cannot be bound is logged as an ERROR and the daemon runs on without metrics:
    alerts matter more than their statistics. With only ``web.port`` set the metrics are collected
    without an endpoint of their own: the status page serves them on its ``/metrics``.
    """
    port = settings.metrics.port
    if port is None and settings.web.port is None:
        yield None
        return
    metrics = Metrics(
        store,
        delivery,
        webhooks,
        sites=sites,
        routes=[d.lane for d in settings.destinations()],  # one outbox lane per destination
        intervals={site: settings.site_interval(site) for site in sites},
        max_rss_mb=settings.max_rss_mb,
    )
    if port is None:
        yield metrics
        return
    host = settings.metrics.host
    try:
        server = await asyncio.start_server(metrics.handle, host, port, limit=MAX_REQUEST_BYTES)
    except OSError as exc:
        logger.error("{}", t("log.metrics_not_started", host=host, port=port, error=exc.strerror or exc))
        yield metrics
        return
    logger.info("{}", t("log.metrics_serving", host=host, port=port))
    try:
        yield metrics
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 1.0)


def _per_site(
    success: str,
    success_help: str,
    streak: str,
    streak_help: str,
    rows: Sequence[tuple[str, float | None, int]],
) -> Iterator[Metric]:
    """A site's last success (when there is one) and its failure streak, as two labelled gauges."""
    last = GaugeMetricFamily(f"{PREFIX}_{success}", success_help, labels=["site"])
    failures = GaugeMetricFamily(f"{PREFIX}_{streak}", streak_help, labels=["site"])
    for site, last_success, failure_streak in rows:
        if last_success is not None:
            last.add_metric([site], last_success)
        failures.add_metric([site], failure_streak)
    yield last
    yield failures
