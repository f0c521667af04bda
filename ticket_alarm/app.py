"""The composition root: the only place that wires config, store, fetcher, crawlers, router, notifiers,
delivery and daemon together. Every command (``ticket_alarm.cli``) and every test that needs the
wired app gets it from here; the layers below take what they need as arguments.

Public surface:

- ``load(config)``: the settings (file or defaults, environment on top) and the known crawlers;
- ``open_store(settings, readonly=...)``: the configured async store (SQLite file or PostgreSQL);
- ``store_opener(settings, readonly=...)``: the same, opened when a check asks (``health``, ``backup``);
- ``router(settings)``: which lanes take a notice (the stdout lane in a dry run): the pipeline, ``explain``;
- ``build_app(settings, known, ...)``: everything the daemon and ``once`` run on, as an ``App``;
- ``notifiers_for(settings, webhooks, clock)``: one notifier per destination, stdout in a dry run, the
  ops lane; ``notifier_for(dest, webhooks, clock)``: the notifier of one destination;
- ``page_router(settings)``: which routes take a notice, for listings and feeds;
- ``discord_webhooks(settings, clock, ...)``: a Discord webhook client for one-shot commands;
- ``instance_lock(settings)``: the data_dir's single-instance lock;
- ``build_daemon(app, known, sites, metrics)``: the daemon over a built app;
- ``web_context(settings, reader, known, sites, metrics, clock)``: what the status page reads.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from loguru import logger

from crawlers import registry
from crawlers.base import Crawler
from ticket_alarm import __version__
from ticket_alarm.clock import Clock, ShiftedClock, SystemClock, process_clock
from ticket_alarm.config.environ import CONFIG_ENV
from ticket_alarm.config.load import check_site_names, load_config, resolve_config_path
from ticket_alarm.config.routes import Destination, Router, delivery_router, router_for
from ticket_alarm.config.settings import OPS_ROUTE, RouteSettings, Settings
from ticket_alarm.delivery.discord.render import alert_text
from ticket_alarm.delivery.discord.webhook import DiscordNotifier, WebhookClient, http_client
from ticket_alarm.delivery.notify import Notifier, StdoutNotifier
from ticket_alarm.fetch.http import Fetcher
from ticket_alarm.i18n import t
from ticket_alarm.logs import apply_level, redact
from ticket_alarm.ops.health import StoreOpener
from ticket_alarm.store import InstanceLock, StatusFile
from ticket_alarm.store.api import Store
from ticket_alarm.store.configured import open_configured_store
from ticket_alarm.store.sqlite.backend import SqliteStore

if TYPE_CHECKING:  # the daemon, the drainer and the page load when they are built (`--help`,
    # `check-config` and the store commands never need them: tests/cli/test_completion.py)
    from ticket_alarm.daemon.pipeline import Pipeline
    from ticket_alarm.daemon.reminders import Reminders
    from ticket_alarm.daemon.scheduler import Daemon
    from ticket_alarm.delivery.outbox import Delivery
    from ticket_alarm.ops.metrics import Metrics
    from ticket_alarm.web.page import WebContext

USER_AGENT = f"ticket-alarm/{__version__} (+https://github.com/ticket-alarm)"

Known = dict[str, type[Crawler]]


@dataclass(frozen=True)
class Loaded:
    """A command's configuration: the settings, the known crawlers, the config path (and whether a
    file was read from it, or the defaults were used)."""

    settings: Settings
    known: Known
    path: Path
    file_used: bool


def load(config: str | None, environ: Mapping[str, str] | None = None) -> Loaded:
    """The settings for ``--config`` (None: ``$TICKET_ALARM_CONFIG``, else ``./config.json``, else the
    defaults), with secrets registered for masking, the log level applied and the sites checked."""
    env = os.environ if environ is None else environ
    path = resolve_config_path(config)
    file_used = bool(config) or bool(env.get(CONFIG_ENV)) or path.exists()
    if not file_used:
        logger.info("{}", t("cli.running_on_defaults", path=path))
    settings = load_config(path if file_used else None, env)
    redact.register(settings.secrets())
    apply_level(settings.log_level)  # log_level (file or TICKET_ALARM_LOG_LEVEL) from here on
    known = registry.discover(custom=settings.custom_sites)
    check_site_names(settings, list(known), str(path))
    return Loaded(settings, known, path, file_used)


async def open_store(settings: Settings, *, readonly: bool = False) -> Store:
    """The configured async store, opened (``readonly``: no lock, nothing created or written)."""
    return await open_configured_store(settings, readonly=readonly)


def store_opener(settings: Settings, *, readonly: bool = False) -> StoreOpener:
    """``open_store`` for a part that opens the store itself, after its own checks (``health``,
    ``backup``, ``restore``, the page's /healthz): what it opens is decided here."""
    return functools.partial(open_store, settings, readonly=readonly)


def router(settings: Settings) -> Router:
    """Which lanes take a notice: the routes and catch-all, or the stdout lane in a dry run."""
    return router_for(settings)


def page_router(settings: Settings) -> Router:
    """The configured webhooks only: which routes take a notice, for listings and feeds."""
    return delivery_router(settings)


@dataclass
class App:
    settings: Settings
    store: Store  # the async store: every write, off the event loop (SqliteStore)
    fetcher: Fetcher
    discord_http: httpx.AsyncClient
    webhooks: WebhookClient
    crawlers: dict[str, Crawler]
    pipeline: Pipeline
    delivery: Delivery
    reminders: Reminders
    clock: Clock
    reader: Store  # read-only, for the status page and /metrics (awaited in the loop; see build_app)
    replicas: Any = None  # PostgreSQL: this replica's site leases (its id owns the claimed outbox rows)


@contextlib.asynccontextmanager
async def build_app(
    settings: Settings,
    known: Known,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    wait: bool = False,
) -> AsyncIterator[App]:
    """Everything the daemon (and ``once``) runs on. ``store``: one the caller opened and closes
    (``test-crawlers``' throw-away diagnosis store); else the configured one, opened here.

    ``App.reader``, for the status page and /metrics, is a second, read-only async store: on
    SQLite a WAL reader with its own worker thread (``SqliteStore.open_reader``), so a page request
    neither blocks the event loop nor queues behind the writer's commits; on PostgreSQL a second,
    read-only ``PostgresStore`` (its own small pool, a read-only session): page traffic can never
    take the connections the pipeline and the delivery lanes need, and can never write.
    """
    from ticket_alarm.daemon.pipeline import Pipeline
    from ticket_alarm.daemon.process import open_waiting
    from ticket_alarm.daemon.reminders import Reminders
    from ticket_alarm.delivery.outbox import Delivery

    clock = clock or process_clock(os.environ)
    own_store = store is None
    writer: Any
    reader: Store
    if store is None and settings.store_url:  # PostgreSQL: the async store, and a read-only one beside it
        from ticket_alarm.store.postgres import PostgresStore

        writer = PostgresStore(settings.store_url, data_dir=settings.data_dir)
        try:
            # connect and migrate now: a wrong store_url fails at start; the daemon (wait) starts even
            # while the server cannot be reached, and reconnects with back-off
            await (open_waiting(writer._ensure_open) if wait else writer._ensure_open())
            # the read-only handle connects (and checks the schema) on its first use
            reader = PostgresStore(settings.store_url, readonly=True, data_dir=settings.data_dir)
        except BaseException:
            await writer.close()
            raise
    else:
        writer = SqliteStore.open_dir(settings.data_dir) if store is None else store
        try:
            reader = SqliteStore.open_reader(writer.path) if isinstance(writer, SqliteStore) else writer
        except BaseException:
            if own_store:
                await writer.close()
            raise
    store_api: Store = writer
    fetcher = Fetcher(settings.http, proxy=settings.proxy, cache=store_api, clock=clock)
    # http.timeout bounds one whole request, connect to last byte, for the sites and for Discord alike
    timeout = settings.http.timeout
    discord_http = http_client(proxy=settings.proxy.discord, timeout=timeout, user_agent=USER_AGENT)
    webhooks = WebhookClient(discord_http, clock, timeout=timeout)
    crawlers = {name: cls(settings.site(name)) for name, cls in known.items()}
    status = StatusFile(settings.data_dir) if own_store else None
    if status is not None:
        status.prepare()
    replicas = _replicas(settings, writer) if own_store else None
    owner = replicas.replica_id if replicas is not None else None  # None: this host (SQLite)
    notifiers = notifiers_for(settings, webhooks, clock)
    lanes = {d.lane: d.route for d in settings.destinations()}
    delivery = Delivery(store_api, notifiers, clock, status=status, owner=owner, routes=lanes)
    pipeline = Pipeline(
        settings, store_api, fetcher, crawlers, clock, router=router(settings), on_enqueue=delivery.notify
    )
    reminders = Reminders(store_api, crawlers, clock, on_enqueue=delivery.notify)
    try:
        yield App(
            settings,
            store_api,
            fetcher,
            discord_http,
            webhooks,
            crawlers,
            pipeline,
            delivery,
            reminders,
            clock,
            reader,
            replicas,
        )
    finally:
        await fetcher.aclose()
        await discord_http.aclose()
        if reader is not writer:
            await reader.close()
        if own_store:
            await writer.close()  # a store given to build_app stays open (its caller closes it)


def notifiers_for(settings: Settings, webhooks: WebhookClient, clock: Clock) -> list[Notifier]:
    """One notifier per destination (a lane each: a route's Discord webhook, its ntfy topic); with no
    destination at all, the stdout notifier; and the ops lane (``health.ops_webhook_url``) apart."""
    dests = settings.destinations()
    ops: list[Notifier] = []
    if settings.health.ops_webhook_url:
        lane = RouteSettings(name=OPS_ROUTE, webhook_url=settings.health.ops_webhook_url)
        ops.append(DiscordNotifier.for_route(lane, webhooks))
    if not dests:
        return [StdoutNotifier(alert_text, clock), *ops]
    return [*(notifier_for(dest, webhooks, clock) for dest in dests), *ops]


def notifier_for(dest: Destination, webhooks: WebhookClient, clock: Clock) -> Notifier:
    """The notifier of one destination; every one shares the delivery HTTP client (``proxy.discord``)."""
    if dest.kind == "discord":
        return DiscordNotifier.for_destination(dest, webhooks)
    if dest.kind == "ntfy":  # ntfy and Telegram are imported only when a route has one
        from ticket_alarm.delivery.ntfy import NtfyNotifier

        return NtfyNotifier.for_destination(dest, webhooks.client, clock)
    if dest.kind == "telegram":
        from ticket_alarm.delivery.telegram import TelegramNotifier

        return TelegramNotifier.for_destination(dest, webhooks.client, clock)
    raise ValueError(f"no notifier for a {dest.kind} destination")


def build_daemon(app: App, known: Known, sites: list[str], *, on_result: Any = None) -> Daemon:
    """The daemon over a built app: its sites, reminders, replicas and the ops watch."""
    from ticket_alarm.daemon.scheduler import Daemon
    from ticket_alarm.daemon.watch import OpsWatch

    settings = app.settings
    heads = [
        n
        for n in sites
        if settings.site_head_interval(n) is not None and known[n].head_pages is not Crawler.head_pages
    ]
    ops = OpsWatch(settings, app.store, app.clock, sites=sites, heads=heads, on_enqueue=app.delivery.notify)
    # APScheduler runs on real time: a shifted clock (tests) moves what the alerts see, not when jobs run
    jobs = SystemClock() if isinstance(app.clock, ShiftedClock) else app.clock
    return Daemon(
        settings,
        app.store,
        app.pipeline,
        app.delivery,
        jobs,
        sites=sites,
        reminders=app.reminders,
        on_result=on_result,
        replicas=app.replicas,
        ops=ops,
    )


def web_context(
    settings: Settings,
    reader: Store,
    known: Mapping[str, type[Crawler]],
    sites: list[str],
    metrics: Metrics | None,
    clock: Clock,
) -> WebContext:
    """The status page's context: the read-only store, the listing router, /healthz's store opener."""
    from ticket_alarm.web.page import WebContext

    router, opener = page_router(settings), store_opener(settings, readonly=True)
    return WebContext(settings, reader, known, sites, metrics, clock, router=router, open_store=opener)


@contextlib.asynccontextmanager
async def discord_webhooks(
    settings: Settings,
    clock: Clock,
    *,
    timeout: float | None = None,
    request_timeout: float | None = None,
    user_agent: str = USER_AGENT,
) -> AsyncIterator[WebhookClient]:
    """A webhook client for a one-shot command (``send-test``, ``health``), through ``proxy.discord``:
    its HTTP client bounded by ``timeout`` (default ``http.timeout``), each webhook call as a whole by
    ``request_timeout`` (default: ``timeout``)."""
    bound = settings.http.timeout if timeout is None else timeout
    async with http_client(proxy=settings.proxy.discord, timeout=bound, user_agent=user_agent) as client:
        yield WebhookClient(client, clock, timeout=bound if request_timeout is None else request_timeout)


def _replicas(settings: Settings, store: Any) -> Any:
    """This replica's site leases on PostgreSQL; None (one daemon owns every site) on SQLite. Its id
    also names the owner of the outbox rows its lanes claim (one per process, not per host)."""
    if not settings.store_url:
        return None
    from ticket_alarm.store.postgres.replicas import PostgresReplicas

    return PostgresReplicas(store, settings.data_dir, lease_seconds=settings.replica_lease)


@contextlib.contextmanager
def instance_lock(settings: Settings) -> Iterator[None]:
    """The data_dir's single-instance lock: a second daemon (or `once` beside it) is refused."""
    lock = InstanceLock(settings.data_dir)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()
