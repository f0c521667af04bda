"""``run``: the daemon, until SIGTERM/SIGINT (graceful). 0 clean stop, 2 config error."""

from __future__ import annotations

import argparse
import asyncio

from ticket_alarm import app
from ticket_alarm.cli.base import load
from ticket_alarm.daemon.process import raise_fd_limit
from ticket_alarm.ops.health import enabled_sites
from ticket_alarm.ops.metrics import serve_metrics
from ticket_alarm.web.server import serve_web

NAME = "run"
HELP = "help.run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``run`` takes no option but ``--config``."""


def run(args: argparse.Namespace) -> int:
    return asyncio.run(daemon(load(args)))


async def daemon(loaded: app.Loaded) -> int:
    settings, known = loaded.settings, loaded.known
    raise_fd_limit()  # before the page sizes its connection cap from it
    sites = enabled_sites(settings, known)
    with app.instance_lock(settings):
        async with (
            app.build_app(settings, known, wait=True) as built,
            serve_metrics(settings, built.reader, built.delivery, built.webhooks, sites=sites) as metrics,
            serve_web(app.web_context(settings, built.reader, known, sites, metrics, built.clock)),
        ):
            on_result = metrics.on_result if metrics else None
            return await app.build_daemon(built, known, sites, on_result=on_result).run()
