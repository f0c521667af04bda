"""``restore ARCHIVE``: the store back from a backup (PostgreSQL: pg_restore). 0 restored, 1 refused."""

from __future__ import annotations

import argparse
import asyncio

from ticket_alarm import app
from ticket_alarm.cli.base import loader
from ticket_alarm.ops import backup

NAME = "restore"
HELP = "help.restore"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("archive", metavar="ARCHIVE")


def run(args: argparse.Namespace) -> int:
    settings = loader(args)[0]
    return asyncio.run(backup.restore_command(settings, args.archive, app.store_opener(settings)))
