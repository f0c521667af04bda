"""``backup [--dest DIR] [--keep N]``: a consistent copy of the store (+ config) as
``data_YYYYMMDD_HHMMSS.tar.gz`` (PostgreSQL: pg_dump). 0 written."""

from __future__ import annotations

import argparse
import asyncio

from ticket_alarm import app
from ticket_alarm.cli.base import loader
from ticket_alarm.i18n import t
from ticket_alarm.ops import backup

NAME = "backup"
HELP = "help.backup"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dest", help=t("help.backup.dest"))
    parser.add_argument("--keep", type=int, help=t("help.backup.keep"))


def run(args: argparse.Namespace) -> int:
    settings, _known, config_path = loader(args)
    opener = app.store_opener(settings, readonly=True)  # no lock, nothing written: the daemon may run
    return asyncio.run(backup.backup_command(settings, config_path, opener, dest=args.dest, keep=args.keep))
