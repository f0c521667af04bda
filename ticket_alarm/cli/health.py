"""``health [--json] [--notify] [--no-probe]``: the companion health check, Nagios-style. 0 OK,
1 WARNING, 2 CRITICAL, 3 UNKNOWN (any failure to check at all)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from ticket_alarm import __version__, app
from ticket_alarm.cli.base import add_json, load
from ticket_alarm.clock import SystemClock
from ticket_alarm.delivery.discord.webhook import REQUEST_TIMEOUT
from ticket_alarm.errors import TicketAlarmError
from ticket_alarm.i18n import t
from ticket_alarm.logs import setup_logging
from ticket_alarm.ops import health

NAME = "health"
HELP = "help.health"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json(parser)
    parser.add_argument("--notify", action="store_true", help=t("help.health.notify"))
    parser.add_argument("--no-probe", action="store_true", help=t("help.health.no_probe"))


def run(args: argparse.Namespace) -> int:
    setup_logging(json_mode=True)  # stdout carries the report only (Nagios reads it); logs: stderr
    try:
        loaded = load(args)
    except TicketAlarmError as exc:
        report = health.unknown("config", str(exc))
        emit(report, args.json)
        return report.exit_code
    return asyncio.run(check(loaded, as_json=args.json, probe=not args.no_probe, notify=args.notify))


async def check(loaded: app.Loaded, *, as_json: bool, probe: bool, notify: bool) -> int:
    settings, clock = loaded.settings, SystemClock()
    user_agent = f"ticket-alarm/{__version__} health"
    async with app.discord_webhooks(
        settings, clock, timeout=health.PROBE_TIMEOUT, request_timeout=REQUEST_TIMEOUT, user_agent=user_agent
    ) as webhooks:
        report = await health.run_checks(
            settings,
            loaded.known,
            open_store=app.store_opener(settings, readonly=True),
            config_name=str(loaded.path),
            clock=clock,
            probe=webhooks.probe if probe else None,
        )
        emit(report, as_json)
        if notify:
            await health.notify(settings, report, webhooks, clock)
    return report.exit_code


def emit(report: health.Report, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print("\n".join(report.lines()))
    sys.stdout.flush()
