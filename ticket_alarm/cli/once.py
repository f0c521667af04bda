"""``once [--wait SECONDS]``: one crawl of every enabled site, then deliver the outbox. 0 all sites ok
and every alert delivered, 1 any site failed or an alert still waits, 2 config error."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable

from loguru import logger

from ticket_alarm import app
from ticket_alarm.cli.base import EXIT_FAIL, EXIT_OK, load
from ticket_alarm.daemon.results import SiteResult
from ticket_alarm.i18n import t
from ticket_alarm.logs import redact
from ticket_alarm.ops.health import enabled_sites

NAME = "once"
HELP = "help.once"
ONCE_DELIVERY_TIMEOUT = 120.0
ONCE_PROGRESS_EVERY = 10.0  # seconds between two progress lines of one site


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=float,
        default=ONCE_DELIVERY_TIMEOUT,
        metavar="SECONDS",
        help=t("help.once.wait", default=ONCE_DELIVERY_TIMEOUT),
    )


def run(args: argparse.Namespace) -> int:
    return asyncio.run(once(load(args), wait=args.wait))


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
        sys.stderr.write(t("once.progress", site=site, pages=pages, notices=notices) + "\n")
        sys.stderr.flush()


async def once(loaded: app.Loaded, *, wait: float) -> int:
    settings, known = loaded.settings, loaded.known
    with app.instance_lock(settings):
        async with app.build_app(settings, known) as built:
            sites = enabled_sites(settings, known)
            built.pipeline.on_progress = _OnceProgress(built.clock.monotonic)
            results: list[SiteResult] = await asyncio.gather(*(built.pipeline.run_site(s) for s in sites))
            built.pipeline.on_progress = None
            await built.reminders.run_due()
            delivered = await built.delivery.drain(wait)
            crawled = sum(1 for r in results if r.skipped is None)
            if settings.dry_run:
                logger.info("{}", t("once.dry_run", crawled=crawled, delivered=delivered))
            else:
                logger.info("{}", t("once.delivered", crawled=crawled, delivered=delivered))
            undelivered = await _undelivered(built, wait)
            if undelivered:
                # exit 1: an alert that is still waiting is a failure the operator's script must see
                routes = "; ".join(
                    t("once.route", route=r, count=n, why=why) for r, (n, why) in undelivered.items()
                )
                count = sum(n for n, _ in undelivered.values())
                logger.error("{}", t("once.undelivered", count=count, routes=routes))
                return EXIT_FAIL
            return EXIT_OK if all(r.ok for r in results) else EXIT_FAIL


async def _undelivered(built: app.App, waited: float) -> dict[str, tuple[int, str]]:
    """Route → (alerts still pending, why) after `once` delivered what it could."""
    out: dict[str, tuple[int, str]] = {}
    broken = await built.store.broken_webhooks()
    last_errors: dict[str, str] = {}
    for row in await built.store.outbox_list(status="pending"):
        if row.last_error:
            last_errors[row.route] = row.last_error
    for route, count in (await built.store.outbox_stats()).by_route.items():
        if route in built.delivery.stats.broken or route in broken:
            why = t("once.why.broken", error=(broken.get(route) or t("once.why.refused"))[:160])
        elif route not in built.delivery.lane_names:
            why = t("once.why.gone")
        elif route in last_errors:
            why = t("once.why.failing", error=last_errors[route][:160])
        else:
            why = t("once.why.slow", waited=waited)
        out[route] = (count, redact(why))
    return out
