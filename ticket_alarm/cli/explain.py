"""``explain SITE ID [--json]``: the stored notice, its digest history, route decisions and what was
sent when. 0 found, 1 never seen."""

from __future__ import annotations

import argparse
import json
from typing import Any

from loguru import logger

from crawlers import registry
from ticket_alarm import app
from ticket_alarm.cli.base import EXIT_FAIL, EXIT_OK, add_json, load, need_store, with_store
from ticket_alarm.core.model import identity_key
from ticket_alarm.delivery.discord.urls import scrub
from ticket_alarm.i18n import t
from ticket_alarm.logs import redact
from ticket_alarm.ops.explain import explain, render_text
from ticket_alarm.ops.shows import explain_lines, explain_show
from ticket_alarm.store.api import Store

NAME = "explain"
HELP = "help.explain"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("site", metavar="SITE")
    parser.add_argument("id", metavar="ID")
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    loaded = load(args)
    settings, site, notice_id = loaded.settings, str(args.site), str(args.id)
    registry.get(site, loaded.known)
    need_store(settings)
    router = app.router(settings)

    async def read(store: Store) -> dict[str, Any] | None:
        doc = await explain(store, router, site, notice_id)
        if doc is not None:
            doc["show"] = await explain_show(store, identity_key(site, notice_id))
        return doc

    doc = with_store(settings, read, readonly=False)
    if doc is None:
        logger.error("{}", t("cli.explain.not_found", site=site, id=notice_id, data_dir=settings.data_dir))
        return EXIT_FAIL
    text = (
        json.dumps(doc, ensure_ascii=False, indent=2)
        if args.json
        else "\n".join([render_text(doc), *explain_lines(doc["show"])])
    )
    print(redact(scrub(text)))  # an error column written before masking existed must not leak either
    return EXIT_OK
