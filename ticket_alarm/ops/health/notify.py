"""``health --notify``: one small embed to ``health.ops_webhook_url`` when the overall state differs
from the last notified one (remembered in ``data_dir/health-state.json``, else ``log_dir``)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from loguru import logger

from ticket_alarm import __version__
from ticket_alarm.clock import Clock
from ticket_alarm.config.settings import Settings
from ticket_alarm.delivery.discord.render import message
from ticket_alarm.delivery.discord.urls import mask_url
from ticket_alarm.delivery.discord.webhook import WebhookClient
from ticket_alarm.i18n import t
from ticket_alarm.ops.health.report import CRITICAL, EXIT_CODES, OK, UNKNOWN, WARNING, Report

STATE_FILE = "health-state.json"
COLORS = {OK: 0x2ECC71, WARNING: 0xF1C40F, CRITICAL: 0xE74C3C, UNKNOWN: 0x95A5A6}


def state_file(settings: Settings) -> Path | None:
    """Where the last notified state is remembered: data_dir, else log_dir; None if neither exists."""
    for folder in (settings.data_dir, settings.log_dir):
        if folder is not None and folder.is_dir():
            return folder / STATE_FILE
    return None


def _read_state(path: Path | None) -> str:
    if path is None:
        return OK
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        status = str(data.get("status", OK))
        return status if status in EXIT_CODES else OK
    except (OSError, ValueError, AttributeError):
        return OK  # no file yet (or unreadable): as if all was well


def _write_state(path: Path, status: str, now: float) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"status": status, "notified_at": now}), encoding="utf-8")
    os.replace(tmp, path)


def notify_embed(report: Report, previous: str, now: float) -> dict[str, Any]:
    bad = [c for c in report.checks if c.status != OK]
    lines = [f"**{c.status}** {c.name}: {c.detail}" for c in bad] or ["모든 점검 정상"]
    description = "\n".join(lines)
    if len(description) > 3900:
        description = description[:3899] + "…"
    return {
        "title": f"ticket-alarm 상태: {report.status} (이전: {previous})",
        "description": description,
        "color": COLORS[report.status],
        "footer": {"text": f"{socket.gethostname()} · ticket-alarm {__version__} health"},
        "timestamp": _iso(now),
    }


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat()


async def notify(settings: Settings, report: Report, webhooks: WebhookClient, clock: Clock) -> bool | None:
    """Post to the ops webhook if the overall state changed. None: nothing to do; True/False: posted."""
    url = settings.health.ops_webhook_url
    if not url:
        logger.warning("{}", t("health.notify.no_url"))
        return None
    path = state_file(settings)
    previous = _read_state(path)
    now = clock.now().timestamp()
    if previous == report.status:
        return None
    outcome = await webhooks.execute(url, message([notify_embed(report, previous, now)]))
    if outcome.kind != "sent":
        logger.error(
            "{}", t("health.notify.refused", url=mask_url(url), reason=outcome.error or outcome.kind)
        )
        return False
    logger.info("{}", t("health.notify.posted", previous=previous, status=report.status))
    if path is None:
        logger.warning("{}", t("health.notify.no_folder"))
    else:
        try:
            _write_state(path, report.status, now)
        except OSError as exc:
            logger.error("{}", t("health.notify.unwritable", path=path, reason=exc.strerror))
    return True
