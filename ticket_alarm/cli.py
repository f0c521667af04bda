"""The command line. This is the only module that wires config, store, fetcher and notifier together."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from loguru import logger

from crawlers import registry
from crawlers.base import Crawler, parse_saved
from ticket_alarm import __version__, backup, health, history
from ticket_alarm.clock import Clock, SystemClock
from ticket_alarm.config import CONFIG_ENV, Settings, check_site_names, load_config, resolve_config_path
from ticket_alarm.daemon import Daemon
from ticket_alarm.delivery import Delivery
from ticket_alarm.discord import WebhookClient, message, render_test, seoul_text
from ticket_alarm.errors import ConfigError, CrawlError, StoreError, TicketAlarmError
from ticket_alarm.explain import explain, render_text
from ticket_alarm.http import Fetcher
from ticket_alarm.logs import redact, setup_logging
from ticket_alarm.metrics import serve_metrics
from ticket_alarm.pipeline import Pipeline, SiteResult
from ticket_alarm.reminders import Reminders
from ticket_alarm.store import DB_NAME, InstanceLock, Store
from ticket_alarm.table import cut, pad
from ticket_alarm.upcoming import SiteLook, check_site, find_route, upcoming
from ticket_alarm.upcoming import document as upcoming_document
from ticket_alarm.upcoming import render_text as upcoming_text
from ticket_alarm.web import WebContext, serve_web

EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2
ONCE_DELIVERY_TIMEOUT = 120.0
DISCORD_TIMEOUT = 15.0


@dataclass
class App:
    settings: Settings
    store: Store
    fetcher: Fetcher
    discord_http: httpx.AsyncClient
    webhooks: WebhookClient
    crawlers: dict[str, Crawler]
    pipeline: Pipeline
    delivery: Delivery
    reminders: Reminders
    clock: Clock


def enabled_sites(settings: Settings, known: dict[str, type[Crawler]]) -> list[str]:
    return [name for name in known if settings.site(name).enabled]


@contextlib.asynccontextmanager
async def build_app(
    settings: Settings,
    known: dict[str, type[Crawler]],
    *,
    clock: Clock | None = None,
    store: Store | None = None,
) -> AsyncIterator[App]:
    clock = clock or SystemClock()
    own_store = store is None
    store = store or Store.open_dir(settings.data_dir)
    fetcher = Fetcher(settings.http, proxy=settings.proxy, cache=store, clock=clock)
    discord_http = httpx.AsyncClient(
        timeout=httpx.Timeout(DISCORD_TIMEOUT),
        headers={"User-Agent": f"ticket-alarm/{__version__} (+https://github.com/ticket-alarm)"},
        trust_env=False,
    )
    webhooks = WebhookClient(discord_http, clock)
    crawlers = {name: cls(settings.site(name)) for name, cls in known.items()}
    routes = settings.effective_routes()
    delivery = Delivery(store, webhooks if routes else None, routes, clock)
    pipeline = Pipeline(settings, store, fetcher, crawlers, clock, on_enqueue=delivery.notify)
    reminders = Reminders(store, crawlers, clock, on_enqueue=delivery.notify)
    try:
        yield App(
            settings, store, fetcher, discord_http, webhooks, crawlers, pipeline, delivery, reminders, clock
        )
    finally:
        await fetcher.aclose()
        await discord_http.aclose()
        if own_store:
            store.close()


# --- commands -------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> tuple[Settings, dict[str, type[Crawler]], Path]:
    explicit = bool(args.config) or bool(_environ().get(CONFIG_ENV))
    path = resolve_config_path(args.config)
    if not explicit and not path.exists():
        logger.info("no {} found: running on defaults and the environment (see config.example.json)", path)
        settings = load_config(None)
    else:
        settings = load_config(path)
    redact.register(settings.secrets())
    known = registry.discover(custom=settings.custom_sites)
    check_site_names(settings, list(known), str(path))
    return settings, known, path


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def cmd_check_config(args: argparse.Namespace) -> int:
    settings, known, path = _load(args)
    effective = settings.masked()
    effective["enabled_sites"] = enabled_sites(settings, known)
    effective["mode"] = "dry run (alerts printed to stdout)" if settings.dry_run else "discord"
    print(json.dumps(effective, ensure_ascii=False, indent=2))
    logger.info("{}: configuration is valid", path)
    return EXIT_OK


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
    sites = enabled_sites(settings, known)
    with _instance_lock(settings):
        async with (
            build_app(settings, known) as app,
            serve_metrics(settings, app.store, app.delivery, app.webhooks, sites=sites) as metrics,
            serve_web(WebContext(settings, app.store, known, sites, metrics, app.clock)),
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
            )
            return await daemon.run()


async def _once(args: argparse.Namespace) -> int:
    settings, known, _ = _load(args)
    with _instance_lock(settings):
        async with build_app(settings, known) as app:
            sites = enabled_sites(settings, known)
            results: list[SiteResult] = await asyncio.gather(*(app.pipeline.run_site(s) for s in sites))
            app.reminders.run_due()
            delivered = await app.delivery.drain(ONCE_DELIVERY_TIMEOUT)
            pending = app.store.outbox_stats().pending
            if pending:
                logger.warning("{} alerts still pending in the outbox; the next run delivers them", pending)
            logger.info("once: {} sites crawled, {} alerts delivered", len(results), delivered)
            return EXIT_OK if all(r.ok for r in results) else EXIT_FAIL


async def _send_test(args: argparse.Namespace) -> int:
    settings, _known, _ = _load(args)
    routes = settings.effective_routes()
    clock = SystemClock()
    embed = render_test(clock.now())
    if not routes:
        print(f"[DRY RUN] {embed['title']} — no webhook configured (set discord_webhook_url)")
        logger.error("send-test: no webhook configured, nothing delivered; set discord_webhook_url or routes")
        return EXIT_FAIL
    ok = True
    async with httpx.AsyncClient(timeout=DISCORD_TIMEOUT, trust_env=False) as client:
        webhooks = WebhookClient(client, clock)
        for route in routes:
            for _attempt in range(5):
                outcome = await webhooks.execute(route.webhook_url, message([embed]))
                if outcome.kind != "rate_limited":
                    break
            if outcome.kind == "sent":
                logger.info(
                    "알림 전송: 1건 (send-test, route {}, message {})", route.name, outcome.message_id
                )
            else:
                ok = False
                logger.error(
                    "알림 전송 실패: send-test route {}: {}", route.name, outcome.error or outcome.kind
                )
    return EXIT_OK if ok else EXIT_FAIL


async def _test_crawlers(args: argparse.Namespace) -> int:
    settings, known, _ = _load(args)
    names = list(args.sites) or enabled_sites(settings, known)
    for name in names:
        registry.get(name, known)
    if args.file:
        if len(names) != 1:
            raise ConfigError(
                "test-crawlers --file needs exactly one SITE, e.g. test-crawlers melon --file page.html"
            )
        return _parse_file(known[names[0]], Path(args.file), args.json)
    results: list[SiteResult] = []
    import tempfile

    # diagnosis writes no history: a throw-away store keeps the fetcher's cache away from the real one
    with tempfile.TemporaryDirectory(prefix="ticket-alarm-diag-") as tmp:
        store = Store(Path(tmp) / "diag.sqlite3")
        try:
            async with build_app(settings, known, store=store) as app:
                for name in names:
                    result, _crawl = await app.pipeline.crawl_only(name)
                    results.append(result)
        finally:
            store.close()
    if args.json:
        doc = {"ok": all(r.ok for r in results), "sites": [_result_json(r) for r in results]}
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        _print_table(results)
    return EXIT_OK if results and all(r.ok for r in results) else EXIT_FAIL


def _parse_file(cls: type[Crawler], path: Path, as_json: bool) -> int:
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    result = SiteResult(site=cls.name)
    try:
        tickets = parse_saved(cls, body, str(path))
    except CrawlError as exc:
        result.error, result.hint = exc.reason, exc.hint
    else:
        valid = [t for t in tickets if not t.problems()]
        result.ok, result.items, result.invalid, result.sample = (
            True,
            len(valid),
            len(tickets) - len(valid),
            valid[:3],
        )
    if as_json:
        print(json.dumps({"ok": result.ok, "sites": [_result_json(result)]}, ensure_ascii=False, indent=2))
    else:
        _print_table([result])
    return EXIT_OK if result.ok else EXIT_FAIL


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
    }


def _print_table(results: Sequence[SiteResult]) -> None:
    print(f"{'SITE':<12} {'STATUS':<7} {'HTTP':>4} {'SEC':>6} {'PAGES':>5} {'NOTICES':>7} {'INVALID':>7}")
    for r in results:
        http = str(r.status) if r.status is not None else "-"
        print(
            f"{pad(r.site, 12)} {'ok' if r.ok else 'FAILED':<7} {http:>4} {r.seconds:>6.2f} {r.pages:>5} "
            f"{r.items:>7} {r.invalid:>7}"
        )
        for t in r.sample:
            when = seoul_text(t.open_at) if t.open_at else "추후 공지"
            print(f"    - {cut(t.title, 70)} | {when}")
        if r.capped:
            print(f"    ! stopped at the page cap ({r.pages} pages)")
        if not r.ok:
            print(f"    ! {redact(r.error or 'failed')}")
            if r.hint:
                print(f"    hint: {r.hint}")


# --- entry point ------------------------------------------------------------------------


def cmd_explain(args: argparse.Namespace) -> int:
    settings, known, _ = _load(args)
    registry.get(args.site, known)
    if not (settings.data_dir / DB_NAME).exists():
        raise ConfigError(
            f"data_dir {settings.data_dir}: no store yet (nothing was crawled with this config)."
        )
    store = Store.open_dir(settings.data_dir)
    try:
        doc = explain(store, settings, args.site, args.id)
    finally:
        store.close()
    if doc is None:
        logger.error(
            "explain: {} notice {!r} is not in the history of {}", args.site, args.id, settings.data_dir
        )
        return EXIT_FAIL
    print(json.dumps(doc, ensure_ascii=False, indent=2) if args.json else render_text(doc))
    return EXIT_OK


def _positive_days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not 0 < days <= 3660:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of days between 1 and 3660")
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
    if not db.exists():
        logger.warning(
            "data_dir {}: no store yet (nothing crawled with this config): nothing upcoming", db.parent
        )
    else:
        store = Store.open_readonly(db)
        try:
            notices = upcoming(
                store,
                now=now,
                looks=looks,
                routes=settings.effective_routes(),
                site=args.site,
                route=route,
                days=args.days,
            )
        finally:
            store.close()
    if args.json:
        doc = upcoming_document(notices, now, site=args.site, route=args.route, days=args.days)
        print(json.dumps(doc, ensure_ascii=False, indent=1))
    else:
        print(upcoming_text(notices))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ticket-alarm",
        description="Watch Korean ticketing sites for ticket-open notices and post each one to Discord once.",
    )
    parser.add_argument("--version", action="version", version=f"ticket-alarm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--config", help=f"config file (default ./config.json or ${CONFIG_ENV})")
        return p

    add("run", "run the daemon until SIGTERM/SIGINT")
    add("once", "crawl every enabled site once, then deliver the outbox")
    tc = add("test-crawlers", "fetch and parse each site; sends nothing, writes no history")
    tc.add_argument("sites", nargs="*", metavar="SITE")
    tc.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    tc.add_argument("--file", help="parse a saved page instead of fetching (one SITE)")
    add("check-config", "validate the config and print it with secrets masked")
    add("send-test", "post one test embed to each configured webhook")
    ex = add("explain", "show a stored notice, its digest history, route decisions and deliveries")
    ex.add_argument("site", metavar="SITE")
    ex.add_argument("id", metavar="ID")
    ex.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    hc = add("health", "companion health check (Nagios exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)")
    hc.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    hc.add_argument("--notify", action="store_true", help="post state changes to health.ops_webhook_url")
    hc.add_argument("--no-probe", action="store_true", help="do not GET the webhooks (offline check)")
    up = add("upcoming", "upcoming ticket opens from the history, as a table or JSON")
    up.add_argument("--days", type=_positive_days, help="only opens within N days (default: all ahead)")
    up.add_argument("--site", help="only this site")
    up.add_argument("--route", help="only what this route takes (its sites, keywords, genres)")
    up.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    bk = add("backup", "consistent copy of the store (+ config) as data_YYYYMMDD_HHMMSS.tar.gz")
    bk.add_argument("--dest", help="folder for the archives (default: backups beside data_dir)")
    bk.add_argument("--keep", type=int, help="then delete all but the newest N archives and config copies")
    rs = add("restore", "verify a backup archive and put its store in place (the daemon must be stopped)")
    rs.add_argument("archive", metavar="ARCHIVE")
    hi = add("history", "alert history: stats, search TEXT, import FILE (the old notification_history.json)")
    hi.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    hi_sub = hi.add_subparsers(dest="action", required=True)
    # --config/--json are accepted after the action too (SUPPRESS: an absent one keeps the outer value)
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    after.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="one JSON document")
    hi_sub.add_parser("stats", parents=[after], help="rows per site, first/last seen, outbox by status")
    hs = hi_sub.add_parser("search", parents=[after], help="notices whose title contains TEXT")
    hs.add_argument("text", metavar="TEXT")
    hs.add_argument("--limit", type=int, default=50)
    hm = hi_sub.add_parser("import", parents=[after], help="import the old notification_history.json")
    hm.add_argument("file", metavar="FILE")
    return parser


async def _health(args: argparse.Namespace) -> int:
    return await health.command(args, _load)


async def _backup(args: argparse.Namespace) -> int:
    return await backup.backup_command(args, _load)


async def _restore(args: argparse.Namespace) -> int:
    return await backup.restore_command(args, _load)


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
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    json_mode = bool(getattr(args, "json", False))
    setup_logging(json_mode=json_mode)
    try:
        if args.command == "check-config":
            return cmd_check_config(args)
        if args.command == "explain":
            return cmd_explain(args)
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
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
