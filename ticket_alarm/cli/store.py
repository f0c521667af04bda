"""``store migrate --to URL``: copy the SQLite store into an empty PostgreSQL database. 0 copied,
1 refused."""

from __future__ import annotations

import argparse
import asyncio

from ticket_alarm.cli.base import loader
from ticket_alarm.i18n import t

NAME = "store"
HELP = "help.store"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    migrate = actions.add_parser("migrate", help=t("help.store.migrate"))
    migrate.add_argument("--config", default=argparse.SUPPRESS, help=t("help.config_short"))
    migrate.add_argument("--to", required=True, metavar="URL", help=t("help.store.to"))


def run(args: argparse.Namespace) -> int:
    from ticket_alarm.store.postgres import transfer  # psycopg: loaded by this command only

    return asyncio.run(transfer.command(loader(args)[0].data_dir, args.to))
