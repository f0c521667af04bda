"""``check-config``: the effective config as ONE JSON document on stdout; what is worth knowing as
log lines. 0 valid, 2 invalid."""

from __future__ import annotations

import argparse
import json
import sys

from loguru import logger

from ticket_alarm.cli.base import EXIT_OK, add_json, load
from ticket_alarm.config.settings import DAEMON_NORMAL_RSS_MB, Settings
from ticket_alarm.config.surfaces import is_loopback
from ticket_alarm.i18n import t
from ticket_alarm.ops.health import enabled_sites

NAME = "check-config"
HELP = "help.check_config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_json(parser, "help.check_config.json")


def run(args: argparse.Namespace) -> int:
    loaded = load(args)
    settings, known = loaded.settings, loaded.known
    effective = settings.masked()
    effective["enabled_sites"] = enabled_sites(settings, known)
    kinds = dict.fromkeys(d.kind for d in settings.destinations())  # "discord", "discord+ntfy", "telegram" …
    effective["mode"] = "dry run (alerts printed to stdout)" if settings.dry_run else "+".join(kinds)
    effective["delivery"] = delivery_text(settings)
    print(json.dumps(effective, ensure_ascii=False, indent=2))
    sys.stdout.flush()
    logger.info("{}", t("cli.delivery", text=effective["delivery"]))
    if settings.max_rss_mb is not None and settings.max_rss_mb < DAEMON_NORMAL_RSS_MB:
        logger.warning("{}", t("cli.max_rss_low", ceiling=settings.max_rss_mb, normal=DAEMON_NORMAL_RSS_MB))
    heads_off = settings.heads_off(known)
    if heads_off:
        logger.warning("{}", t("cli.heads_off", sites=", ".join(heads_off)))
    if settings.web.port is not None and settings.web.token is None and not is_loopback(settings.web.host):
        logger.warning("{}", t("cli.web_open", host=settings.web.host))
    source = str(loaded.path) if loaded.file_used else t("cli.no_config_file")
    logger.info("{}", t("cli.valid", source=source))
    return EXIT_OK


def delivery_text(settings: Settings) -> str:
    """Where notices go, in one sentence (check-config, the README's routes row)."""
    names = ", ".join(r.name for r in settings.routes or ())
    if settings.routes and settings.catch_all() and settings.main_receives == "all":
        return t("cli.delivery.routes_and_main_all", names=names)
    if settings.routes and settings.catch_all():
        return t("cli.delivery.routes_and_catch_all", names=names)
    if settings.routes:
        return t("cli.delivery.routes_only", names=names)
    if settings.catch_all():
        return t("cli.delivery.catch_all")
    return t("cli.delivery.dry_run")
