"""Reminders before the open: rows in the store with a not-before time, turned into outbox rows when due.

A restart neither loses nor repeats them (they live in the store and move to the outbox in one
transaction); a changed open time moves them (the pipeline re-plans them); a reminder whose open
time passed while the daemon was down is skipped with a log line, never sent late.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping

from loguru import logger

from crawlers.base import Crawler
from ticket_alarm.clock import Clock
from ticket_alarm.model import Ticket
from ticket_alarm.notify import Alert
from ticket_alarm.store import NewOutboxRow, Store

IDLE_CHECK = 30.0
FALLBACK_COLOR = 0x808080


class Reminders:
    def __init__(
        self,
        store: Store,
        crawlers: Mapping[str, Crawler | type[Crawler]],
        clock: Clock,
        *,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.crawlers = crawlers
        self.clock = clock
        self.on_enqueue = on_enqueue

    def run_due(self) -> tuple[int, int]:
        """Queue every due reminder (or skip it when its open time already passed); (queued, skipped)."""
        now = self.clock.now().timestamp()
        due = self.store.due_reminders(now)
        if not due:
            return 0, 0
        queued: list[int] = []
        skipped: list[int] = []
        outbox: list[NewOutboxRow] = []
        for reminder in due:
            row = self.store.notice(reminder.notice_key)
            if row is None or now >= reminder.open_at:
                skipped.append(reminder.id)
                logger.info(
                    "리마인더 건너뜀: {} {}분 전 알림 (route {}) — its open time passed while the daemon "
                    "was down; not sent late",
                    reminder.site,
                    reminder.offset_min,
                    reminder.route,
                )
                continue
            ticket = Ticket.from_json(json.loads(row["ticket"]))
            crawler = self.crawlers.get(reminder.site)
            name = crawler.display_name if crawler else reminder.site
            color = crawler.color if crawler else FALLBACK_COLOR
            alert = Alert("reminder", name, color, ticket, offset_min=reminder.offset_min).to_json()
            outbox.append(NewOutboxRow(reminder.route, "reminder", reminder.site, reminder.notice_key, alert))
            queued.append(reminder.id)
        self.store.settle_reminders(now, queued=queued, skipped=skipped, outbox=outbox)
        if queued:
            logger.info("리마인더 {}건 대기열에 추가", len(queued))
            if self.on_enqueue:
                self.on_enqueue()
        return len(queued), len(skipped)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self.run_due()
            except Exception as exc:  # a store error must not end reminders silently
                logger.error("리마인더 처리 실패: {}: {}", type(exc).__name__, exc)
            next_due = self.store.next_reminder_due()
            wait = IDLE_CHECK
            if next_due is not None:
                wait = min(IDLE_CHECK, max(0.5, next_due - self.clock.now().timestamp()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
