"""``outbox list [--status S] [--route R] [--since T] | retry-dead [--route R] [--since T]``: inspect the
outbox; resend dead letters. 0 ok, 1 nothing."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict
from datetime import datetime
from typing import Any

from loguru import logger

from ticket_alarm.cli.base import EXIT_FAIL, EXIT_OK, add_actions, load, need_store, with_store
from ticket_alarm.clock import SystemClock
from ticket_alarm.config.settings import Settings
from ticket_alarm.core.model import SEOUL
from ticket_alarm.delivery.discord.urls import scrub
from ticket_alarm.errors import ConfigError
from ticket_alarm.i18n import t
from ticket_alarm.i18n.table import pad
from ticket_alarm.logs import redact
from ticket_alarm.store import OutboxRow, Store

NAME = "outbox"
HELP = "help.outbox"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = add_actions(parser)
    listed = action("list", "help.outbox.list")
    listed.add_argument("--status", choices=["pending", "sent", "dead"], help=t("help.outbox.status"))
    listed.add_argument("--route", help=t("help.only_route"))
    listed.add_argument("--since", help=t("help.outbox.since"))
    retry = action("retry-dead", "help.outbox.retry_dead")
    retry.add_argument("--route", help=t("help.only_route"))
    retry.add_argument("--since", help=t("help.outbox.retry_since"))


def run(args: argparse.Namespace) -> int:
    settings = load(args).settings
    need_store(settings)
    since = parse_since(args.since) if args.since else None
    if args.action == "retry-dead":
        return retry_dead(settings, route=args.route, since=since)
    return list_rows(settings, status=args.status, route=args.route, since=since, as_json=args.json)


def retry_dead(settings: Settings, *, route: str | None, since: float | None) -> int:
    on = t("outbox.on_route", route=route) if route else ""
    now = SystemClock().now().timestamp()
    count = with_store(
        settings, lambda store: store.retry_dead(route=route, since=since, now=now), readonly=False
    )
    if not count:
        logger.info("{}", t("outbox.no_dead", on=on))
        return EXIT_FAIL
    logger.info("{}", t("outbox.requeued", count=count, on=on))
    return EXIT_OK


def list_rows(
    settings: Settings, *, status: str | None, route: str | None, since: float | None, as_json: bool
) -> int:
    async def read(store: Store) -> tuple[list[OutboxRow], dict[int, str]]:
        from ticket_alarm.delivery.edits import edits_of  # a change row that edited a message in place

        listed = await store.outbox_list(status=status, route=route, since=since)
        return listed, await edits_of(store, listed)

    listed, edits = with_store(settings, read)
    rows = [{**_outbox_item(r), "edit_of": edits.get(r.id)} for r in listed]
    for row in rows:  # rows written before masking existed must not leak a token either
        row["last_error"] = redact(scrub(row["last_error"])) if row["last_error"] else None
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK if rows else EXIT_FAIL
    ident, state, lane, kind, site, created, att, title = t("outbox.columns").split("|")
    print(
        f"{pad(ident, 6, '>')} {pad(state, 8)} {pad(lane, 16)} {pad(kind, 8)} {pad(site, 12)} "
        f"{pad(created, 16)} {pad(att, 3, '>')} {title}"
    )
    for r in rows:
        when = seoul_text_ts(r["created_at"])
        print(
            f"{r['id']:>6} {r['status']:<8} {r['route'][:16]:<16} {'edit' if r['edit_of'] else r['kind']:<8} "
            f"{r['site'][:12]:<12} "
            f"{when:<16} {r['attempts']:>3} {r['title'][:60]}"
        )
        if r["last_error"]:
            print(f"{'':>6} ! {r['last_error'][:200]}")
    return EXIT_OK if rows else EXIT_FAIL


def _outbox_item(row: OutboxRow) -> dict[str, Any]:
    """An outbox row as ``outbox list`` prints it: its fields, the payload reduced to its title."""
    item = {
        k: v
        for k, v in asdict(row).items()
        if k not in ("payload", "notice_key", "lease_owner", "lease_until")
    }
    item["title"] = str(row.payload.get("title", "")) if isinstance(row.payload, dict) else ""
    return item


def parse_since(text: str) -> float:
    """``--since``: an ISO date/time (KST when no offset) or a duration back from now (30m, 6h, 2d)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if match:
        seconds = float(match[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
        return SystemClock().now().timestamp() - seconds
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(t("cli.since.bad", text=text)) from None
    return (at if at.tzinfo else at.replace(tzinfo=SEOUL)).timestamp()


def seoul_text_ts(ts: float) -> str:
    return datetime.fromtimestamp(ts, SEOUL).strftime("%Y-%m-%d %H:%M")
