"""The command line. This is the only module that wires config, store, fetcher and notifier together."""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import difflib
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from loguru import logger

from crawlers import registry
from crawlers.base import Crawler, Schedule, parse_saved
from ticket_alarm import __version__, i18n
from ticket_alarm.cli import completion
from ticket_alarm.clock import Clock, SystemClock
from ticket_alarm.config.routes import delivery_router
from ticket_alarm.config.settings import (
    CONFIG_ENV,
    DAEMON_NORMAL_RSS_MB,
    OPS_ROUTE,
    RouteSettings,
    Settings,
    check_site_names,
    load_config,
    resolve_config_path,
)
from ticket_alarm.core.model import Ticket, seoul_text
from ticket_alarm.core.sections import is_loopback
from ticket_alarm.daemon.pipeline import Pipeline, SiteResult
from ticket_alarm.daemon.reminders import Reminders
from ticket_alarm.daemon.scheduler import Daemon, open_waiting, raise_fd_limit
from ticket_alarm.daemon.watch import OpsWatch
from ticket_alarm.delivery.discord.render import (
    MAX_TITLE,
    alert_text,
    embed_text,
    message,
    render_notice,
    render_test,
    truncate,
)
from ticket_alarm.delivery.discord.urls import scrub
from ticket_alarm.delivery.discord.webhook import (
    DiscordNotifier,
    WebhookClient,
    broken_webhook_text,
    http_client,
)
from ticket_alarm.delivery.notify import Notifier, StdoutNotifier
from ticket_alarm.delivery.outbox import Delivery
from ticket_alarm.errors import ConfigError, CrawlError, StoreError, TicketAlarmError
from ticket_alarm.fetch.http import Fetcher
from ticket_alarm.i18n.table import cut, pad
from ticket_alarm.logs import apply_level, redact, setup_logging
from ticket_alarm.ops import backup, health, history
from ticket_alarm.ops.explain import explain, render_text
from ticket_alarm.ops.metrics import serve_metrics
from ticket_alarm.store import DB_NAME, InstanceLock, OutboxRow, StatusFile, open_store
from ticket_alarm.store.api import Store as StoreProtocol
from ticket_alarm.store.configured import open_configured_store
from ticket_alarm.store.sqlite.backend import SqliteStore
from ticket_alarm.web.server import WebContext, serve_web
from ticket_alarm.web.upcoming import SiteLook, check_site, find_route, upcoming
from ticket_alarm.web.upcoming import document as upcoming_document
from ticket_alarm.web.upcoming import render_text as upcoming_text

EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
ONCE_DELIVERY_TIMEOUT = 120.0
USER_AGENT = f"ticket-alarm/{__version__} (+https://github.com/ticket-alarm)"
T = TypeVar("T")


@dataclass
class App:
    settings: Settings
    store: StoreProtocol  # the async store: every write, off the event loop (SqliteStore)
    fetcher: Fetcher
    discord_http: httpx.AsyncClient
    webhooks: WebhookClient
    crawlers: dict[str, Crawler]
    pipeline: Pipeline
    delivery: Delivery
    reminders: Reminders
    clock: Clock
    reader: StoreProtocol  # read-only, for the status page and /metrics (awaited in the loop; see build_app)
    replicas: Any = None  # PostgreSQL: this replica's site leases (its id owns the claimed outbox rows)


def enabled_sites(settings: Settings, known: dict[str, type[Crawler]]) -> list[str]:
    return [name for name in known if settings.site(name).enabled]


@contextlib.asynccontextmanager
async def build_app(
    settings: Settings,
    known: dict[str, type[Crawler]],
    *,
    clock: Clock | None = None,
    store: StoreProtocol | None = None,
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
    clock = clock or SystemClock()
    own_store = store is None
    writer: Any
    reader: StoreProtocol
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
    store_api: StoreProtocol = writer
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
    delivery = Delivery(
        store_api, notifiers_for(settings, webhooks, clock), clock, status=status, owner=owner
    )
    pipeline = Pipeline(settings, store_api, fetcher, crawlers, clock, on_enqueue=delivery.notify)
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
    """One notifier per route (its Discord webhook); with no webhook at all, the stdout notifier; and
    the ops lane (``health.ops_webhook_url``) apart from them all."""
    routes = settings.effective_routes()
    ops: list[Notifier] = []
    if settings.health.ops_webhook_url:
        lane = RouteSettings(name=OPS_ROUTE, webhook_url=settings.health.ops_webhook_url)
        ops.append(DiscordNotifier.for_route(lane, webhooks))
    if not routes:
        return [StdoutNotifier(alert_text, clock), *ops]
    return [*(DiscordNotifier.for_route(route, webhooks) for route in routes), *ops]


# --- commands -------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> tuple[Settings, dict[str, type[Crawler]], Path]:
    path = resolve_config_path(args.config)
    if not _config_file_used(args, path):
        logger.info("{}", i18n.t("cli.running_on_defaults", path=path))
        settings = load_config(None, os.environ)
    else:
        settings = load_config(path, os.environ)
    redact.register(settings.secrets())
    apply_level(settings.log_level)  # log_level (file or TICKET_ALARM_LOG_LEVEL) from here on
    known = registry.discover(custom=settings.custom_sites)
    check_site_names(settings, list(known), str(path))
    return settings, known, path


def _environ() -> dict[str, str]:
    return dict(os.environ)


def cmd_check_config(args: argparse.Namespace) -> int:
    """The effective config as ONE JSON document on stdout; what is worth knowing as log lines."""
    settings, known, path = _load(args)
    effective = settings.masked()
    effective["enabled_sites"] = enabled_sites(settings, known)
    effective["mode"] = "dry run (alerts printed to stdout)" if settings.dry_run else "discord"
    effective["delivery"] = delivery_text(settings)
    print(json.dumps(effective, ensure_ascii=False, indent=2))
    sys.stdout.flush()
    logger.info("{}", i18n.t("cli.delivery", text=effective["delivery"]))
    if settings.max_rss_mb is not None and settings.max_rss_mb < DAEMON_NORMAL_RSS_MB:
        logger.warning(
            "{}", i18n.t("cli.max_rss_low", ceiling=settings.max_rss_mb, normal=DAEMON_NORMAL_RSS_MB)
        )
    heads_off = settings.heads_off(known)
    if heads_off:
        logger.warning("{}", i18n.t("cli.heads_off", sites=", ".join(heads_off)))
    if settings.web.port is not None and settings.web.token is None and not is_loopback(settings.web.host):
        logger.warning("{}", i18n.t("cli.web_open", host=settings.web.host))
    source = str(path) if _config_file_used(args, path) else i18n.t("cli.no_config_file")
    logger.info("{}", i18n.t("cli.valid", source=source))
    return EXIT_OK


def delivery_text(settings: Settings) -> str:
    """Where notices go, in one sentence (check-config, the README's routes row)."""
    names = ", ".join(r.name for r in settings.routes or ())
    if settings.routes and settings.catch_all() and settings.main_receives == "all":
        return i18n.t("cli.delivery.routes_and_main_all", names=names)
    if settings.routes and settings.catch_all():
        return i18n.t("cli.delivery.routes_and_catch_all", names=names)
    if settings.routes:
        return i18n.t("cli.delivery.routes_only", names=names)
    if settings.catch_all():
        return i18n.t("cli.delivery.catch_all")
    return i18n.t("cli.delivery.dry_run")


def _config_file_used(args: argparse.Namespace, path: Path) -> bool:
    return bool(args.config) or bool(_environ().get(CONFIG_ENV)) or path.exists()


def _replicas(settings: Settings, store: Any) -> Any:
    """This replica's site leases on PostgreSQL; None (one daemon owns every site) on SQLite. Its id
    also names the owner of the outbox rows its lanes claim (one per process, not per host)."""
    if not settings.store_url:
        return None
    from ticket_alarm.store.postgres.replicas import PostgresReplicas

    return PostgresReplicas(store, settings.data_dir, lease_seconds=settings.replica_lease)


@contextlib.contextmanager
def _instance_lock(settings: Settings) -> Iterator[None]:
    """The data_dir's single-instance lock: a second daemon (or `once` beside it) is refused."""
    lock = InstanceLock(settings.data_dir)
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


async def _run(args: argparse.Namespace) -> int:
    settings, known, _ = _load(args)
    raise_fd_limit()  # before the page sizes its connection cap from it
    sites = enabled_sites(settings, known)
    with _instance_lock(settings):
        async with (
            build_app(settings, known, wait=True) as app,
            serve_metrics(settings, app.reader, app.delivery, app.webhooks, sites=sites) as metrics,
            serve_web(WebContext(settings, app.reader, known, sites, metrics, app.clock)),
        ):
            daemon = Daemon(
                settings,
                app.store,
                app.pipeline,
                app.delivery,
                app.clock,
                sites=sites,
                reminders=app.reminders,
                on_result=metrics.on_result if metrics else None,
                replicas=app.replicas,
                ops=OpsWatch(
                    settings,
                    app.store,
                    app.clock,
                    sites=sites,
                    heads=[
                        n
                        for n in sites
                        if settings.site_head_interval(n) is not None
                        and known[n].head_pages is not Crawler.head_pages
                    ],
                    on_enqueue=app.delivery.notify,
                ),
            )
            return await daemon.run()


ONCE_PROGRESS_EVERY = 10.0  # seconds between two progress lines of one site


class _OnceProgress:
    """``once``'s progress on stderr (stdout stays the log, or the one ``--json`` document): a line
    when a site's first answer arrives, then at most one a site every ``ONCE_PROGRESS_EVERY`` s."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self.monotonic = monotonic
        self.said: dict[str, float] = {}

    def __call__(self, site: str, pages: int, notices: int) -> None:
        now = self.monotonic()
        last = self.said.get(site)
        if last is not None and now - last < ONCE_PROGRESS_EVERY:
            return
        self.said[site] = now
        sys.stderr.write(i18n.t("once.progress", site=site, pages=pages, notices=notices) + "\n")
        sys.stderr.flush()


async def _once(args: argparse.Namespace) -> int:
    settings, known, _ = _load(args)
    with _instance_lock(settings):
        async with build_app(settings, known) as app:
            sites = enabled_sites(settings, known)
            app.pipeline.on_progress = _OnceProgress(app.clock.monotonic)
            results: list[SiteResult] = await asyncio.gather(*(app.pipeline.run_site(s) for s in sites))
            app.pipeline.on_progress = None
            await app.reminders.run_due()
            delivered = await app.delivery.drain(args.wait)
            crawled = sum(1 for r in results if r.skipped is None)
            if settings.dry_run:
                logger.info("{}", i18n.t("once.dry_run", crawled=crawled, delivered=delivered))
            else:
                logger.info("{}", i18n.t("once.delivered", crawled=crawled, delivered=delivered))
            undelivered = await _undelivered(app, args.wait)
            if undelivered:
                # exit 1: an alert that is still waiting is a failure the operator's script must see
                logger.error(
                    "{}",
                    i18n.t(
                        "once.undelivered",
                        count=sum(n for n, _ in undelivered.values()),
                        routes="; ".join(
                            i18n.t("once.route", route=r, count=n, why=why)
                            for r, (n, why) in undelivered.items()
                        ),
                    ),
                )
                return EXIT_FAIL
            return EXIT_OK if all(r.ok for r in results) else EXIT_FAIL


async def _undelivered(app: App, waited: float) -> dict[str, tuple[int, str]]:
    """Route → (alerts still pending, why) after `once` delivered what it could."""
    out: dict[str, tuple[int, str]] = {}
    broken = await app.store.broken_webhooks()
    last_errors: dict[str, str] = {}
    for row in await app.store.outbox_list(status="pending"):
        if row.last_error:
            last_errors[row.route] = row.last_error
    for route, count in (await app.store.outbox_stats()).by_route.items():
        if route in app.delivery.stats.broken or route in broken:
            why = i18n.t("once.why.broken", error=(broken.get(route) or i18n.t("once.why.refused"))[:160])
        elif route not in app.delivery.lane_names:
            why = i18n.t("once.why.gone")
        elif route in last_errors:
            why = i18n.t("once.why.failing", error=last_errors[route][:160])
        else:
            why = i18n.t("once.why.slow", waited=waited)
        out[route] = (count, redact(why))
    return out


async def _send_test(args: argparse.Namespace) -> int:
    settings, known, _ = _load(args)
    routes = settings.effective_routes()
    clock = SystemClock()
    embed = await _sample_embed(settings, known, args.sample) if args.sample else render_test(clock.now())
    if not routes:
        sys.stdout.write(embed_text(embed, clock.now()))
        logger.error("{}", i18n.t("send_test.no_webhook"))
        return EXIT_FAIL
    ok = True
    async with http_client(
        proxy=settings.proxy.discord, timeout=settings.http.timeout, user_agent=USER_AGENT
    ) as client:
        webhooks = WebhookClient(client, clock, timeout=settings.http.timeout)
        for route in routes:
            for _attempt in range(5):
                outcome = await webhooks.execute(route.webhook_url, message([embed]))
                if outcome.kind != "rate_limited":
                    break
            if outcome.kind == "sent":
                logger.info(
                    "{}",
                    i18n.t(
                        "send_test.sent", route=route.name, message=outcome.message_id, title=embed["title"]
                    ),
                )
                continue
            ok = False
            if outcome.kind == "broken":
                logger.error(
                    "{}",
                    i18n.t(
                        "send_test.broken",
                        text=broken_webhook_text(route.name, route.webhook_url, outcome.status),
                    ),
                )
            else:
                logger.error(
                    "{}", i18n.t("send_test.failed", route=route.name, error=outcome.error or outcome.kind)
                )
    return EXIT_OK if ok else EXIT_FAIL


async def _sample_embed(settings: Settings, known: dict[str, type[Crawler]], site: str) -> dict[str, Any]:
    """The newest stored notice of ``site`` rendered as its alert, marked as a test (send-test --sample)."""
    cls = registry.get(site, known)
    if not settings.store_url and not (settings.data_dir / DB_NAME).exists():
        raise ConfigError(i18n.t("send_test.no_store", site=site, data_dir=settings.data_dir))
    store = await open_configured_store(settings, readonly=True)  # no lock, no write: the daemon may run
    try:
        data = await store.newest_notice(site)
    finally:
        await store.close()
    if data is None:
        raise ConfigError(i18n.t("send_test.no_notice", site=site, data_dir=settings.data_dir))
    embed = render_notice(Ticket.from_json(data), cls.display_name, cls.color)
    embed["title"] = truncate(f"[테스트] {embed['title']}", MAX_TITLE)
    footer = embed.get("footer", {}).get("text")
    embed["footer"] = {"text": " · ".join(p for p in (footer, "ticket-alarm send-test --sample") if p)}
    return embed


async def _test_crawlers(args: argparse.Namespace) -> int:
    settings, known, _ = _load(args)
    names = list(args.sites) or enabled_sites(settings, known)
    for name in names:
        registry.get(name, known)
    if args.file:
        if len(names) != 1:
            raise ConfigError(i18n.t("tc.file_one_site"))
        return _parse_file(known[names[0]], Path(args.file), args.json)
    results: dict[str, SiteResult] = {}
    heads: dict[str, SiteResult | None] = {}  # the head poll's page (registration order), per site
    import tempfile

    # diagnosis writes no history: a throw-away store keeps the fetcher's cache away from the real one
    with tempfile.TemporaryDirectory(prefix="ticket-alarm-diag-") as tmp:
        store = SqliteStore.open_file(Path(tmp) / "diag.sqlite3")
        try:
            async with build_app(settings, known, store=store) as app:
                # every site at once (the fetcher keeps its per-host spacing and global cap); each
                # site's line is printed as it finishes
                progress = _Progress(names, enabled=not args.json and sys.stderr.isatty())
                if not args.json:
                    _print_header()

                async def check(name: str) -> tuple[SiteResult, SiteResult | None]:
                    result, _crawl = await app.pipeline.crawl_only(name)
                    return result, await app.pipeline.head_only(name)

                tasks = [asyncio.ensure_future(check(name)) for name in names]
                progress.show()
                for finished in asyncio.as_completed(tasks):
                    result, head = await finished
                    results[result.site] = result
                    heads[result.site] = head
                    progress.done(result.site)
                    if not args.json:
                        _print_row(result)
                    progress.show()
                progress.clear()
        finally:
            await store.close()
    ordered = [results[name] for name in names]
    if args.json:
        sites = [{**_result_json(r), "head": _head_json(heads.get(r.site))} for r in ordered]
        doc = {"ok": all(r.ok for r in ordered), "sites": sites}
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        for name in names:
            print(i18n.t("tc.head", site=name, text=_head_text(heads.get(name))))
    return EXIT_OK if ordered and all(r.ok for r in ordered) else EXIT_FAIL


class _Progress:
    """``checking 2/4 done; waiting for melon, yes24`` on stderr, redrawn in place; on a terminal only."""

    def __init__(self, names: Sequence[str], *, enabled: bool) -> None:
        self.waiting = list(names)
        self.total = len(names)
        self.enabled = enabled

    def done(self, name: str) -> None:
        if name in self.waiting:
            self.waiting.remove(name)

    def show(self) -> None:
        if self.enabled and self.waiting:
            finished = self.total - len(self.waiting)
            progress = i18n.t(
                "tc.progress", finished=finished, total=self.total, waiting=", ".join(self.waiting)
            )
            sys.stderr.write(f"\r\x1b[K{progress}")
            sys.stderr.flush()

    def clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _head_json(head: SiteResult | None) -> dict[str, Any] | None:
    """The head poll's first page (registration order); None: the site is swept only."""
    if head is None:
        return None
    return {
        "status": "ok" if head.ok else "failed",
        "http_status": head.status,
        "seconds": round(head.seconds, 3),
        "notices": head.items,
        "error": redact(head.error) if head.error else None,
        "newest": [t.title for t in head.sample],
    }


def _head_text(head: SiteResult | None) -> str:
    if head is None:
        return i18n.t("tc.head.none")
    if not head.ok:
        return i18n.t("tc.head.failed", error=redact(head.error or i18n.t("tc.failed")))
    return i18n.t("tc.head.ok", count=head.items, seconds=head.seconds)


def _parse_file(cls: type[Crawler], path: Path, as_json: bool) -> int:
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ConfigError(i18n.t("tc.cannot_read", path=path, reason=exc.strerror)) from exc
    result = SiteResult(site=cls.name)
    try:
        tickets = parse_saved(cls, body, str(path))
    except CrawlError as exc:
        result.error, result.hint = exc.reason, exc.hint
    else:
        if isinstance(tickets, Schedule):  # a saved notice page: the schedule it reads
            return _print_schedule(cls.name, path, tickets, as_json)
        valid = [t for t in tickets if not t.problems()]
        result.ok, result.items, result.invalid, result.sample = (
            True,
            len(valid),
            len(tickets) - len(valid),
            valid[:3],
        )
        result.parsed = list(tickets)
    if as_json:
        print(json.dumps({"ok": result.ok, "sites": [_result_json(result)]}, ensure_ascii=False, indent=2))
    else:
        _print_header()
        _print_row(result)
    return EXIT_OK if result.ok else EXIT_FAIL


def _print_schedule(site: str, path: Path, schedule: Schedule, as_json: bool) -> int:
    """A saved notice page: the general open and the presales it reads."""
    if as_json:
        doc = {
            "ok": True,
            "sites": [
                {"site": site, "status": "ok", "file": str(path), "schedule": _schedule_json(schedule)}
            ],
        }
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(i18n.t("tc.notice_page", site=site, name=path.name))
    if schedule.open_at is not None:
        opening = seoul_text(schedule.open_at)
    elif schedule.open_date is not None:
        opening = f"{schedule.open_date.isoformat()} (시간 추후 공지)"
    else:
        opening = "추후 공지"
    print(f"    티켓오픈: {opening}")
    for presale in schedule.presales:
        print(f"    {presale.name}: {seoul_text(presale.at) if presale.at else '추후 공지'}")
    if not schedule.presales:
        print(i18n.t("tc.no_presales"))
    return EXIT_OK


def _schedule_json(schedule: Schedule) -> dict[str, Any]:
    return {
        "open_at": schedule.open_at.isoformat() if schedule.open_at else None,
        "open_date": schedule.open_date.isoformat() if schedule.open_date else None,
        "presales": [p.to_json() for p in schedule.presales],
    }


def _ticket_json(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id,
        "title": t.title,
        "url": t.url,
        "open_at": t.open_at.isoformat() if t.open_at else None,
        "presales": [p.to_json() for p in t.presales],
        "exclusive": t.exclusive,
        "category": t.category,
        "venue": t.venue,
        "genre": t.genre,
        "booking_url": t.booking_url,
        "image_url": t.image_url,
    }


def _result_json(r: SiteResult) -> dict[str, Any]:
    return {
        "site": r.site,
        "status": "ok" if r.ok else "failed",
        "http_status": r.status,
        "seconds": round(r.seconds, 3),
        "pages": r.pages,
        "notices": r.items,
        "invalid": r.invalid,
        "capped": r.capped,
        "error": redact(r.error) if r.error else None,
        "hint": r.hint,
        "samples": [
            {"title": t.title, "open_at": t.open_at.isoformat() if t.open_at else None, "url": t.url}
            for t in r.sample
        ],
        "warnings": [redact(w) for w in r.warnings],
        "parsed": [_ticket_json(t) for t in r.parsed],
    }


def _print_header() -> None:
    site, status, http, sec, pages, notices, invalid = i18n.t("tc.columns").split("|")
    print(
        f"{pad(site, 12)} {pad(status, 7)} {pad(http, 4, '>')} {pad(sec, 6, '>')} {pad(pages, 5, '>')} "
        f"{pad(notices, 7, '>')} {pad(invalid, 7, '>')}"
    )


def _print_row(r: SiteResult) -> None:
    http = str(r.status) if r.status is not None else "-"
    status = i18n.t("tc.status.ok") if r.ok else i18n.t("tc.status.failed")
    print(
        f"{pad(r.site, 12)} {pad(status, 7)} {http:>4} {r.seconds:>6.2f} {r.pages:>5} {r.items:>7} "
        f"{r.invalid:>7}"
    )
    for t in r.sample:
        when = seoul_text(t.open_at) if t.open_at else "추후 공지"
        presales = "".join(f"; {p.name} {seoul_text(p.at) if p.at else '추후 공지'}" for p in t.presales)
        print(f"    - {cut(t.title, 70)} | {when}{presales}")
    if r.capped:
        print(i18n.t("tc.capped", pages=r.pages))
    for warning in r.warnings[:5]:
        print(f"    ! {redact(warning)}")
    if len(r.warnings) > 5:
        print(i18n.t("tc.more_warnings", count=len(r.warnings) - 5))
    if not r.ok:
        print(f"    ! {redact(r.error or i18n.t('tc.failed'))}")
        if r.hint:
            print(i18n.t("tc.hint", hint=r.hint))
    sys.stdout.flush()


# --- entry point ------------------------------------------------------------------------


def cmd_explain(args: argparse.Namespace) -> int:
    settings, known, _ = _load(args)
    registry.get(args.site, known)
    if not settings.store_url and not (settings.data_dir / DB_NAME).exists():
        raise ConfigError(i18n.t("cli.explain.no_store", data_dir=settings.data_dir))
    doc = _with_store(settings, lambda store: explain(store, settings, args.site, args.id), readonly=False)
    if doc is None:
        logger.error(
            "{}", i18n.t("cli.explain.not_found", site=args.site, id=args.id, data_dir=settings.data_dir)
        )
        return EXIT_FAIL
    text = json.dumps(doc, ensure_ascii=False, indent=2) if args.json else render_text(doc)
    print(redact(scrub(text)))  # an error column written before masking existed must not leak either
    return EXIT_OK


def _with_store(
    settings: Settings, call: Callable[[StoreProtocol], Awaitable[T]], *, readonly: bool = True
) -> T:
    """A one-shot command's store call: the configured async store opened, awaited and closed in
    an event loop of its own (``readonly``: no lock, nothing written; the daemon may run)."""

    async def run() -> T:
        store = await open_configured_store(settings, readonly=readonly)
        try:
            return await call(store)
        finally:
            await store.close()

    return asyncio.run(run())


def cmd_outbox(args: argparse.Namespace) -> int:
    """`outbox list [--status S] [--route R]` and `outbox retry-dead [--route R] [--since T]`."""
    settings, _known, _ = _load(args)
    if not settings.store_url and not (settings.data_dir / DB_NAME).exists():
        raise ConfigError(i18n.t("cli.explain.no_store", data_dir=settings.data_dir))
    since = _parse_since(args.since) if getattr(args, "since", None) else None
    if args.action == "list":
        args.status = getattr(args, "status", None)
    on = i18n.t("outbox.on_route", route=args.route) if args.route else ""
    if args.action == "retry-dead":
        now = SystemClock().now().timestamp()
        count = _with_store(
            settings, lambda store: store.retry_dead(route=args.route, since=since, now=now), readonly=False
        )
        if not count:
            logger.info("{}", i18n.t("outbox.no_dead", on=on))
            return EXIT_FAIL
        logger.info("{}", i18n.t("outbox.requeued", count=count, on=on))
        return EXIT_OK
    listed = _with_store(
        settings, lambda store: store.outbox_list(status=args.status, route=args.route, since=since)
    )
    rows = [_outbox_item(r) for r in listed]
    for row in rows:  # rows written before masking existed must not leak a token either
        row["last_error"] = redact(scrub(row["last_error"])) if row["last_error"] else None
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        ident, status, route, kind, site, created, att, title = i18n.t("outbox.columns").split("|")
        print(
            f"{pad(ident, 6, '>')} {pad(status, 8)} {pad(route, 16)} {pad(kind, 8)} {pad(site, 12)} "
            f"{pad(created, 16)} {pad(att, 3, '>')} {title}"
        )
        for r in rows:
            created = seoul_text_ts(r["created_at"])
            print(
                f"{r['id']:>6} {r['status']:<8} {r['route'][:16]:<16} {r['kind']:<8} {r['site'][:12]:<12} "
                f"{created:<16} {r['attempts']:>3} {r['title'][:60]}"
            )
            if r["last_error"]:
                print(f"{'':>6} ! {r['last_error'][:200]}")
    return EXIT_OK if rows else EXIT_FAIL


def _outbox_item(row: OutboxRow) -> dict[str, Any]:
    """An outbox row as ``outbox list`` prints it: its fields, the payload reduced to its title."""
    item = {
        k: v
        for k, v in asdict(row).items()
        if k not in ("payload", "notice_key", "lease_owner", "lease_until")
    }
    item["title"] = str(row.payload.get("title", "")) if isinstance(row.payload, dict) else ""
    return item


def _parse_since(text: str) -> float:
    """``--since``: an ISO date/time (KST when no offset) or a duration back from now (30m, 6h, 2d)."""
    import re
    from datetime import datetime

    from ticket_alarm.core.model import SEOUL

    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if match:
        seconds = float(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
        return SystemClock().now().timestamp() - seconds
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(i18n.t("cli.since.bad", text=text)) from None
    return (at if at.tzinfo else at.replace(tzinfo=SEOUL)).timestamp()


def seoul_text_ts(ts: float) -> str:
    from datetime import datetime

    from ticket_alarm.core.model import SEOUL

    return datetime.fromtimestamp(ts, SEOUL).strftime("%Y-%m-%d %H:%M")


def _positive_days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not 0 < days <= 3660:
        raise argparse.ArgumentTypeError(i18n.t("cli.days.bad", text=text))
    return days


def cmd_upcoming(args: argparse.Namespace) -> int:
    settings, known, _ = _load(args)
    looks = {name: SiteLook(cls.display_name, cls.color) for name, cls in known.items()}
    if args.site:
        check_site(args.site, looks)
    route = find_route(settings, args.route) if args.route else None
    db = settings.data_dir / DB_NAME
    now = SystemClock().now()
    notices = []
    if not settings.store_url and not db.exists():
        logger.warning("{}", i18n.t("upcoming.no_store", data_dir=db.parent))
    else:
        notices = _with_store(
            settings,
            lambda store: upcoming(
                store,
                now=now,
                looks=looks,
                router=delivery_router(settings),
                site=args.site,
                route=route,
                days=args.days,
            ),
        )
    if args.json:
        doc = upcoming_document(notices, now, site=args.site, route=args.route, days=args.days)
        print(json.dumps(doc, ensure_ascii=False, indent=1))
    else:
        print(upcoming_text(notices))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    i18n.localize_argparse()  # "usage:", "options" and argparse's error lines in the operator's language
    parser = argparse.ArgumentParser(
        prog="ticket-alarm",
        description=i18n.t("help.description"),
    )
    parser.add_argument("--version", action="version", version=f"ticket-alarm {__version__}")
    config_help = i18n.t("help.config", env=CONFIG_ENV)
    parser.add_argument("--config", help=config_help)  # before the command: ticket-alarm --config x run
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        # SUPPRESS: an absent --config after the command keeps the one given before it
        p.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
        return p

    add("run", i18n.t("help.run"))
    on = add("once", i18n.t("help.once"))
    on.add_argument(
        "--wait",
        type=float,
        default=ONCE_DELIVERY_TIMEOUT,
        metavar="SECONDS",
        help=i18n.t("help.once.wait", default=ONCE_DELIVERY_TIMEOUT),
    )
    tc = add("test-crawlers", i18n.t("help.test_crawlers"))
    tc.add_argument("sites", nargs="*", metavar="SITE")
    tc.add_argument("--json", action="store_true", help=i18n.t("help.json"))
    tc.add_argument("--file", help=i18n.t("help.test_crawlers.file"))
    cc = add("check-config", i18n.t("help.check_config"))
    cc.add_argument("--json", action="store_true", help=i18n.t("help.check_config.json"))
    co = add("completion", i18n.t("help.completion"))
    co.add_argument("shell", choices=completion.SHELLS, metavar="{bash,zsh}")
    st = add("send-test", i18n.t("help.send_test"))
    st.add_argument(
        "--sample",
        metavar="SITE",
        help=i18n.t("help.send_test.sample"),
    )
    ex = add("explain", i18n.t("help.explain"))
    ex.add_argument("site", metavar="SITE")
    ex.add_argument("id", metavar="ID")
    ex.add_argument("--json", action="store_true", help=i18n.t("help.json"))
    hc = add("health", i18n.t("help.health"))
    hc.add_argument("--json", action="store_true", help=i18n.t("help.json"))
    hc.add_argument("--notify", action="store_true", help=i18n.t("help.health.notify"))
    hc.add_argument("--no-probe", action="store_true", help=i18n.t("help.health.no_probe"))
    up = add("upcoming", i18n.t("help.upcoming"))
    up.add_argument("--days", type=_positive_days, help=i18n.t("help.upcoming.days"))
    up.add_argument("--site", help=i18n.t("help.only_site"))
    up.add_argument("--route", help=i18n.t("help.upcoming.route"))
    up.add_argument("--json", action="store_true", help=i18n.t("help.json"))
    bk = add("backup", i18n.t("help.backup"))
    bk.add_argument("--dest", help=i18n.t("help.backup.dest"))
    bk.add_argument("--keep", type=int, help=i18n.t("help.backup.keep"))
    rs = add("restore", i18n.t("help.restore"))
    rs.add_argument("archive", metavar="ARCHIVE")
    hi = add("history", i18n.t("help.history"))
    hi.add_argument("--json", action="store_true", help=i18n.t("help.json"))
    hi_sub = hi.add_subparsers(dest="action", required=True)
    # --config/--json are accepted after the action too (SUPPRESS: an absent one keeps the outer value)
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--config", default=argparse.SUPPRESS, help=i18n.t("help.config_short"))
    after.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help=i18n.t("help.json_short")
    )
    hi_sub.add_parser("stats", parents=[after], help=i18n.t("help.history.stats"))
    hs = hi_sub.add_parser("search", parents=[after], help=i18n.t("help.history.search"))
    hs.add_argument("text", metavar="WORD", nargs="+")
    hs.add_argument("--limit", type=int, default=50)
    hm = hi_sub.add_parser("import", parents=[after], help=i18n.t("help.history.import"))
    hm.add_argument("file", metavar="FILE")
    ob = add("outbox", i18n.t("help.outbox"))
    ob.add_argument("--json", action="store_true", help=i18n.t("help.json"))
    ob_sub = ob.add_subparsers(dest="action", required=True)
    ol = ob_sub.add_parser("list", parents=[after], help=i18n.t("help.outbox.list"))
    ol.add_argument("--status", choices=["pending", "sent", "dead"], help=i18n.t("help.outbox.status"))
    ol.add_argument("--route", help=i18n.t("help.only_route"))
    ol.add_argument("--since", help=i18n.t("help.outbox.since"))
    orr = ob_sub.add_parser("retry-dead", parents=[after], help=i18n.t("help.outbox.retry_dead"))
    orr.add_argument("--route", help=i18n.t("help.only_route"))
    orr.add_argument("--since", help=i18n.t("help.outbox.retry_since"))
    sm = add("store", i18n.t("help.store"))
    sm_sub = sm.add_subparsers(dest="action", required=True)
    smm = sm_sub.add_parser("migrate", help=i18n.t("help.store.migrate"))
    smm.add_argument("--config", default=argparse.SUPPRESS, help=i18n.t("help.config_short"))
    smm.add_argument("--to", required=True, metavar="URL", help=i18n.t("help.store.to"))
    return parser


async def _store(args: argparse.Namespace) -> int:
    from ticket_alarm.store.postgres import transfer

    return await transfer.command(_load(args)[0].data_dir, args.to)


async def _health(args: argparse.Namespace) -> int:
    return await health.command(args, _load)


async def _backup(args: argparse.Namespace) -> int:
    settings, _known, config_path = _load(args)
    return await backup.backup_command(settings, config_path, dest=args.dest, keep=args.keep)


async def _restore(args: argparse.Namespace) -> int:
    return await backup.restore_command(_load(args)[0], args.archive)


async def _history(args: argparse.Namespace) -> int:
    return await history.command(args, _load)


COMMANDS = {
    "run": _run,
    "once": _once,
    "send-test": _send_test,
    "test-crawlers": _test_crawlers,
    "health": _health,
    "backup": _backup,
    "restore": _restore,
    "history": _history,
    "store": _store,
}


def _json_escape(error: UnicodeError) -> tuple[str, int]:
    """``\\uXXXX`` for what the stream cannot encode (a surrogate pair beyond the BMP): valid in a
    ``--json`` document, readable in a log line."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    out: list[str] = []
    for ch in error.object[error.start : error.end]:
        units = ch.encode("utf-16-be", "surrogatepass")
        out += [f"\\u{int.from_bytes(units[i : i + 2], 'big'):04x}" for i in range(0, len(units), 2)]
    return "".join(out), error.end


def _survive_narrow_streams() -> None:
    """``PYTHONIOENCODING=ascii`` (or a Latin-1 terminal) must not turn Korean output into a
    traceback: what a stream cannot encode is written as ``\\uXXXX``, as Python does on stderr."""
    codecs.register_error("ticket_alarm_escape", _json_escape)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and stream.errors in ("strict", "backslashreplace"):
            with contextlib.suppress(Exception):  # a stream replaced by a caller keeps its own rules
                reconfigure(errors="ticket_alarm_escape")


def _command_typo(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """A mistyped command (``ticket-alarm onec``): argparse's usage error, with the command it most
    likely meant (exit 2, as argparse's own errors)."""
    tokens = iter(argv)
    for token in tokens:
        if token == "--config":
            next(tokens, None)
            continue
        if token.startswith("-"):
            continue
        names = [n for a in parser._actions if isinstance(a, argparse._SubParsersAction) for n in a.choices]
        if token in names:
            return
        close = difflib.get_close_matches(token, names, n=1, cutoff=0.6)
        if close:
            parser.error(i18n.t("cli.did_you_mean", command=token, close=close[0]))
        return


def main(argv: Sequence[str] | None = None) -> int:
    _survive_narrow_streams()
    if problem := i18n.language_problem():  # before parsing: --help shows it too, as perl's locale warning
        print(problem, file=sys.stderr)
    parser = build_parser()
    _command_typo(parser, list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    json_mode = bool(getattr(args, "json", False))
    setup_logging(json_mode=json_mode)
    try:
        if args.command == "check-config":
            return cmd_check_config(args)
        if args.command == "completion":
            print(completion.script(build_parser(), args.shell), end="")
            return EXIT_OK
        if args.command == "explain":
            return cmd_explain(args)
        if args.command == "outbox":
            return cmd_outbox(args)
        if args.command == "upcoming":
            return cmd_upcoming(args)
        return asyncio.run(COMMANDS[args.command](args))
    except ConfigError as exc:
        logger.error("{}", redact(str(exc)))
        return EXIT_CONFIG
    except StoreError as exc:
        logger.error("{}", redact(str(exc)))
        return EXIT_CONFIG
    except TicketAlarmError as exc:
        logger.error("{}", redact(str(exc)))
        return EXIT_FAIL
    except KeyboardInterrupt:
        logger.warning("{}", _interrupted(args))
        return EXIT_INTERRUPTED


async def _pending_alerts(settings: Settings) -> int:
    """The alerts waiting in data_dir's SQLite store (read only: nothing is created)."""
    store = open_store(settings.data_dir, readonly=True)
    try:
        return (await store.outbox_stats()).pending
    finally:
        await store.close()


def _interrupted(args: argparse.Namespace) -> str:
    """The one line Ctrl-C leaves: what was kept (every crawl commits in one transaction)."""
    if args.command in ("once", "run"):
        pending = "?"
        with contextlib.suppress(Exception):  # best effort: the interrupt may have hit anything
            settings, _known, _ = _load(args)
            pending = str(asyncio.run(_pending_alerts(settings)))
        return i18n.t("cli.interrupted.run", pending=pending)
    return i18n.t("cli.interrupted.other", command=args.command)


if __name__ == "__main__":
    sys.exit(main())
