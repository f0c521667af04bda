"""``upcoming [--days N] [--site S] [--route R] [--json]``: upcoming opens, as a table or JSON. 0."""

from __future__ import annotations

import argparse
import json

from loguru import logger

from ticket_alarm import app
from ticket_alarm.cli.base import EXIT_OK, add_json, load, with_store
from ticket_alarm.clock import SystemClock
from ticket_alarm.i18n import t
from ticket_alarm.store import DB_NAME
from ticket_alarm.web.upcoming import SiteLook, check_site, document, find_route, render_text, upcoming

NAME = "upcoming"
HELP = "help.upcoming"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=_positive_days, help=t("help.upcoming.days"))
    parser.add_argument("--site", help=t("help.only_site"))
    parser.add_argument("--route", help=t("help.upcoming.route"))
    add_json(parser)


def _positive_days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not 0 < days <= 3660:
        raise argparse.ArgumentTypeError(t("cli.days.bad", text=text))
    return days


def run(args: argparse.Namespace) -> int:
    loaded = load(args)
    settings, site, route_name, days = loaded.settings, args.site, args.route, args.days
    looks = {name: SiteLook(cls.display_name, cls.color) for name, cls in loaded.known.items()}
    if site:
        check_site(site, looks)
    route = find_route(settings, route_name) if route_name else None
    db = settings.data_dir / DB_NAME
    now = SystemClock().now()
    notices = []
    if not settings.store_url and not db.exists():
        logger.warning("{}", t("upcoming.no_store", data_dir=db.parent))
    else:
        router = app.page_router(settings)
        notices = with_store(
            settings,
            lambda store: upcoming(
                store, now=now, looks=looks, router=router, site=site, route=route, days=days
            ),
        )
    if args.json:
        doc = document(notices, now, site=site, route=route_name, days=days)
        print(json.dumps(doc, ensure_ascii=False, indent=1))
    else:
        print(render_text(notices))
    return EXIT_OK
