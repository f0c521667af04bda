"""``show [--json] merge KEY KEY | split KEY`` (KEY: ``SITE:ID``): correct how notices of different
vendors were grouped into shows; later crawls keep the correction. merge: 0 merged (or one show
already), 1 a notice never seen. split: 0 split, 1 never seen or alone already. 2: a KEY not SITE:ID,
no store."""

from __future__ import annotations

import argparse
import json

from loguru import logger

from ticket_alarm.cli.base import EXIT_FAIL, EXIT_OK, add_actions, load, need_store, with_store
from ticket_alarm.clock import SystemClock
from ticket_alarm.core.model import identity_key
from ticket_alarm.i18n import t
from ticket_alarm.ops import shows

NAME = "show"
HELP = "help.show"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = add_actions(parser)
    merge = action("merge", "help.show.merge")
    merge.add_argument("into", metavar="KEY")
    merge.add_argument("other", metavar="KEY")
    split = action("split", "help.show.split")
    split.add_argument("key", metavar="KEY")


def run(args: argparse.Namespace) -> int:
    settings = load(args).settings
    named = [args.into, args.other] if args.action == "merge" else [args.key]
    keys = [identity_key(*shows.parse_key(k)) for k in named]  # a bad KEY: refused before the store
    need_store(settings)
    now = SystemClock().now().timestamp()
    if args.action == "merge":
        moved = with_store(settings, lambda store: shows.merge(store, keys[0], keys[1], now), readonly=False)
        if moved is None:
            return _not_found(named)
        said = t("show.merged", count=moved, other=named[1], into=named[0]) if moved else None
        logger.info("{}", said or t("show.already", a=named[0], b=named[1]))
        _say(args, {"show": named[0], "moved": moved})
        return EXIT_OK
    left = with_store(settings, lambda store: shows.split(store, keys[0], now), readonly=False)
    if left is None:
        return _not_found(named)
    if not left:
        logger.info("{}", t("show.alone", key=named[0]))
        return EXIT_FAIL
    logger.info("{}", t("show.split_done", key=named[0], show=left))
    _say(args, {"show": named[0], "left": left})
    return EXIT_OK


def _say(args: argparse.Namespace, doc: dict[str, object]) -> None:
    """``--json``: what was done, as one document on stdout."""
    if args.json:
        print(json.dumps(doc, ensure_ascii=False))


def _not_found(named: list[str]) -> int:
    logger.error("{}", t("show.not_found", key=" / ".join(named)))
    return EXIT_FAIL
