"""``send-test [--sample SITE]``: post one test message to every destination of every route (a Discord
webhook gets the embed, an ntfy topic or a Telegram chat its text). 0 delivered, 1 not."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from loguru import logger

from crawlers import registry
from ticket_alarm import app
from ticket_alarm.cli.base import EXIT_FAIL, EXIT_OK, load
from ticket_alarm.clock import SystemClock
from ticket_alarm.config.routes import Destination
from ticket_alarm.config.settings import Settings
from ticket_alarm.core.model import Ticket
from ticket_alarm.delivery.discord.render import (
    MAX_TITLE,
    embed_text,
    message,
    render_notice,
    render_test,
    truncate,
)
from ticket_alarm.delivery.discord.webhook import WebhookClient
from ticket_alarm.delivery.notify import LegacyAlert, Notifier, Outcome
from ticket_alarm.errors import ConfigError
from ticket_alarm.i18n import t
from ticket_alarm.store import DB_NAME

NAME = "send-test"
HELP = "help.send_test"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sample", metavar="SITE", help=t("help.send_test.sample"))


def run(args: argparse.Namespace) -> int:
    return asyncio.run(send_test(load(args), sample=args.sample))


async def send_test(loaded: app.Loaded, *, sample: str | None) -> int:
    settings = loaded.settings
    dests = settings.destinations()
    clock = SystemClock()
    embed = await _sample_embed(settings, loaded.known, sample) if sample else render_test(clock.now())
    if not dests:
        sys.stdout.write(embed_text(embed, clock.now()))
        logger.error("{}", t("send_test.no_webhook"))
        return EXIT_FAIL
    ok = True
    async with app.discord_webhooks(settings, clock) as webhooks:
        for dest in dests:
            notifier = app.notifier_for(dest, webhooks, clock)
            for _attempt in range(5):
                outcome = await _send(dest, notifier, webhooks, embed)
                if outcome.kind != "rate_limited":
                    break
            if outcome.kind == "sent":
                sent = t("send_test.sent", route=dest.lane, message=outcome.message_id, title=embed["title"])
                logger.info("{}", sent)
                continue
            ok = False
            if outcome.kind == "broken":
                text = notifier.broken_text(Outcome(outcome.kind, outcome.status))
                logger.error("{}", t("send_test.broken", text=text))
            else:
                error = notifier.scrub(outcome.error or outcome.kind)
                logger.error("{}", t("send_test.failed", route=dest.lane, error=error))
    return EXIT_OK if ok else EXIT_FAIL


async def _send(
    dest: Destination, notifier: Notifier, webhooks: WebhookClient, embed: dict[str, Any]
) -> Outcome:
    """The test embed to one destination: a Discord webhook gets it as it is (no role pinged), any
    other notifier as the plain text of that embed."""
    if dest.kind == "discord" and dest.route.webhook_url:
        return await webhooks.execute(dest.route.webhook_url, message([embed]))
    return await notifier.send([LegacyAlert(site_name="", color=0, embed=embed)])


async def _sample_embed(settings: Settings, known: app.Known, site: str) -> dict[str, Any]:
    """The newest stored notice of ``site`` rendered as its alert, marked as a test (send-test --sample)."""
    cls = registry.get(site, known)
    if not settings.store_url and not (settings.data_dir / DB_NAME).exists():
        raise ConfigError(t("send_test.no_store", site=site, data_dir=settings.data_dir))
    store = await app.open_store(settings, readonly=True)  # no lock, no write: the daemon may run
    try:
        data = await store.newest_notice(site)
    finally:
        await store.close()
    if data is None:
        raise ConfigError(t("send_test.no_notice", site=site, data_dir=settings.data_dir))
    embed = render_notice(Ticket.from_json(data), cls.display_name, cls.color)
    embed["title"] = truncate(f"[테스트] {embed['title']}", MAX_TITLE)
    footer = embed.get("footer", {}).get("text")
    embed["footer"] = {"text": " · ".join(p for p in (footer, "ticket-alarm send-test --sample") if p)}
    return embed
