"""Which notices one 알림 전송 log line is about: the first few titles, the rest counted."""

from __future__ import annotations

from collections.abc import Sequence

from ticket_alarm.core.alert import Alert
from ticket_alarm.i18n import t
from ticket_alarm.store.api import OutboxItem

SUMMARY_TITLES = 3  # notices named in one 알림 전송 line; the rest are counted
SUMMARY_TITLE_CHARS = 30


def sent_summary(items: Sequence[tuple[OutboxItem, Alert]]) -> str:
    """``melon 「아이유 콘서트…」, yes24 「…」 외 2건`` (English: ``… and 2 more``): which notices a
    알림 전송 line is about."""
    names = []
    for item, alert in items[:SUMMARY_TITLES]:
        title = " ".join(alert.title.split())
        if len(title) > SUMMARY_TITLE_CHARS:
            title = title[: SUMMARY_TITLE_CHARS - 1].rstrip() + "…"
        names.append(f"{item.site} 「{title}」")
    more = len(items) - SUMMARY_TITLES
    named = ", ".join(names)
    return t("delivery.summary.more", names=named, count=more) if more > 0 else named
