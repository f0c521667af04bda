"""``history stats | search WORD… [--limit N] | show KEY | import FILE``: look into the alert history,
bring in the old one. stats: 0. search: 0 found, 1 nothing found (like grep). show (KEY: SITE:ID, the
notices of its show): 0 found, 1 never seen, 2 a KEY not SITE:ID. import: 0 imported, 1 refused."""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from pathlib import Path

from loguru import logger

from ticket_alarm import app
from ticket_alarm.cli.base import EXIT_FAIL, EXIT_OK, add_actions, load, need_store, with_store
from ticket_alarm.i18n import t
from ticket_alarm.ops import history, shows

NAME = "history"
HELP = "help.history"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = add_actions(parser)
    action("stats", "help.history.stats")
    search = action("search", "help.history.search")
    search.add_argument("text", metavar="WORD", nargs="+")
    search.add_argument("--limit", type=int, default=50)
    shown = action("show", "help.history.show")
    shown.add_argument("key", metavar="KEY")
    imported = action("import", "help.history.import")
    imported.add_argument("file", metavar="FILE")


def run(args: argparse.Namespace) -> int:
    loaded = load(args)
    if args.action == "import":
        return asyncio.run(import_file(loaded, Path(args.file), as_json=args.json))
    if args.action == "show":
        return show(loaded, args.key, as_json=args.json)
    if args.action == "stats":
        return asyncio.run(stats(loaded, as_json=args.json))
    return asyncio.run(search(loaded, list(args.text), args.limit, as_json=args.json))


async def import_file(loaded: app.Loaded, path: Path, *, as_json: bool) -> int:
    keys = history.read_legacy(path, loaded.known)  # a corrupt file: refused before the store is opened
    store = await app.open_store(loaded.settings)
    try:
        summary = await history.import_keys(store, keys, loaded.known)
    finally:
        await store.close()
    total = summary.records + summary.hashes
    logger.info(
        "{}",
        t(
            "history.import.summary",
            total=total,
            records=summary.records,
            hashes=summary.hashes,
            added=summary.added,
            known=summary.known,
        ),
    )
    if summary.unknown_sites:
        sites = ", ".join(f"{name} ({count})" for name, count in sorted(summary.unknown_sites.items()))
        logger.warning("{}", t("history.import.unknown_sites", sites=sites))
    print(
        json.dumps(asdict(summary), ensure_ascii=False)
        if as_json
        else t("history.imported", added=summary.added, known=summary.known)
    )
    return EXIT_OK


async def stats(loaded: app.Loaded, *, as_json: bool) -> int:
    store = await app.open_store(loaded.settings, readonly=True)
    try:
        doc = await history.stats(store)
    finally:
        await store.close()
    print(json.dumps(doc, ensure_ascii=False, indent=1) if as_json else history.stats_text(doc))
    return EXIT_OK


async def search(loaded: app.Loaded, words: list[str], limit: int, *, as_json: bool) -> int:
    store = await app.open_store(loaded.settings, readonly=True)
    try:
        rows, cut = await history.search(store, words, limit)
    finally:
        await store.close()
    text = " ".join(words)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
    elif rows:  # nothing found: the line below says so, no table of headers alone
        print(history.search_text(rows, limit if cut else None))
    if cut:
        logger.warning("{}", t("history.cut_log", limit=limit, text=text))
    if not rows:
        logger.info("{}", t("history.nothing", text=text))
    return EXIT_OK if rows else EXIT_FAIL


def show(loaded: app.Loaded, key: str, *, as_json: bool) -> int:
    site, notice_id = shows.parse_key(key)
    need_store(loaded.settings)
    doc = with_store(loaded.settings, lambda store: shows.show_doc(store, site, notice_id))
    if doc is None:
        logger.error("{}", t("show.not_found", key=key))
        return EXIT_FAIL
    print(json.dumps(doc, ensure_ascii=False, indent=1) if as_json else shows.show_text(doc))
    return EXIT_OK
