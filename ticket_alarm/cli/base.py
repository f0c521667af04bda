"""What the command modules share: exit codes, the config load, a one-shot store call, the options
accepted after a sub-command's action. Each command module (``cli/<command>.py``) has ``NAME``,
``HELP`` (its catalog key), ``add_arguments(parser)`` and ``run(args) -> int``; ``argparse`` values
stop here: a command hands plain values to ``app``, ``ops`` and ``web``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from ticket_alarm.config.settings import Settings
from ticket_alarm.errors import ConfigError
from ticket_alarm.i18n import t
from ticket_alarm.store import DB_NAME
from ticket_alarm.store.api import Store

if TYPE_CHECKING:
    from ticket_alarm import app

EXIT_OK, EXIT_FAIL, EXIT_CONFIG = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C
T = TypeVar("T")


class Command(Protocol):
    """A command module."""

    NAME: str
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def load(args: argparse.Namespace) -> app.Loaded:
    """The configuration ``--config`` names (given before or after the command)."""
    from ticket_alarm import app  # here: the parser is built without the wiring (cli/__init__.py)

    return app.load(args.config)


def loader(args: argparse.Namespace) -> tuple[Settings, app.Known, Path]:
    """``load`` in the shape the store commands still take (``backup``, ``restore``, ``store``)."""
    loaded = load(args)
    return loaded.settings, loaded.known, loaded.path


def need_store(settings: Settings) -> None:
    """A command that reads the history refuses an SQLite store that was never created."""
    if not settings.store_url and not (settings.data_dir / DB_NAME).exists():
        raise ConfigError(t("cli.explain.no_store", data_dir=settings.data_dir))


def with_store(settings: Settings, call: Callable[[Store], Awaitable[T]], *, readonly: bool = True) -> T:
    """A one-shot command's store call: the configured async store opened, awaited and closed in
    an event loop of its own (``readonly``: no lock, nothing written; the daemon may run)."""

    async def run() -> T:
        from ticket_alarm import app

        store = await app.open_store(settings, readonly=readonly)
        try:
            return await call(store)
        finally:
            await store.close()

    return asyncio.run(run())


def add_actions(parser: argparse.ArgumentParser) -> Callable[[str, str], argparse.ArgumentParser]:
    """A command with actions (``history stats``, ``outbox list``): ``--json`` on the command, and a
    function adding one action (name, help key) that takes --config/--json after it too (SUPPRESS: an
    absent one keeps the value given before it)."""
    add_json(parser)
    actions = parser.add_subparsers(dest="action", required=True)
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--config", default=argparse.SUPPRESS, help=t("help.config_short"))
    after.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=t("help.json_short"))
    return lambda name, key: actions.add_parser(name, parents=[after], help=t(key))


def add_json(parser: argparse.ArgumentParser, key: str = "help.json") -> None:
    parser.add_argument("--json", action="store_true", help=t(key))
