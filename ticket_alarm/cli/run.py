"""``run``: the daemon, until SIGTERM/SIGINT (graceful). 0 clean stop, 2 config error."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ticket_alarm import app
from ticket_alarm.cli.base import load
from ticket_alarm.daemon.process import raise_fd_limit
from ticket_alarm.ops.health import enabled_sites

if TYPE_CHECKING:
    from ticket_alarm.ops.metrics import Metrics

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
            surfaces(loaded, built, sites) as metrics,
        ):
            on_result = metrics.on_result if metrics else None
            return await app.build_daemon(built, known, sites, on_result=on_result).run()


@contextlib.asynccontextmanager
async def surfaces(loaded: app.Loaded, built: app.App, sites: list[str]) -> AsyncIterator[Metrics | None]:
    """The metrics endpoint and the status page while the daemon runs, imported only where one is
    configured (aiohttp, icalendar and prometheus_client are a third of a daemon's start)."""
    settings = loaded.settings
    if settings.metrics.port is None and settings.web.port is None:
        yield None
        return
    from ticket_alarm.ops.metrics import serve_metrics
    from ticket_alarm.web.server import serve_web

    async with serve_metrics(settings, built.reader, built.delivery, built.webhooks, sites=sites) as metrics:
        context = app.web_context(settings, built.reader, loaded.known, sites, metrics, built.clock)
        async with serve_web(context):
            yield metrics
