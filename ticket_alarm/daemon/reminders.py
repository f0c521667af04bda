"""Reminders before the open: rows in the store with a not-before time, turned into outbox rows when due.

Which rows a plan writes is decided in ``core.reminders`` (pure); this loop queues the due ones (or
skips, with a log line, one whose open time passed while the daemon was down: never sent late).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping

from loguru import logger

from crawlers.base import Crawler
from ticket_alarm.clock import Clock
from ticket_alarm.core.alert import Reminder
from ticket_alarm.core.model import Ticket
from ticket_alarm.errors import StoreError
from ticket_alarm.i18n import t
from ticket_alarm.store.api import NewOutboxRow, Store

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
        # the daemon's store-error policy (Daemon.store_failed); without one the loop raises it
        self.on_store_error: Callable[[str, StoreError], None] | None = None

    async def run_due(self) -> tuple[int, int]:
        """Queue every due reminder (or skip it when its open time already passed); (queued, skipped)."""
        now = self.clock.now().timestamp()
        due = await self.store.due_reminders(now)
        if not due:
            return 0, 0
        queued: list[int] = []
        skipped: list[int] = []
        outbox: list[NewOutboxRow] = []
        for reminder in due:
            row = await self.store.notice(reminder.notice_key)
            if row is None or now >= reminder.open_at:
                skipped.append(reminder.id)
                sale = f"{reminder.sale} " if reminder.sale else ""
                said = t(
                    "log.reminder_late",
                    site=reminder.site,
                    sale=sale,
                    offset=reminder.offset_min,
                    route=reminder.route,
                )
                logger.info("{}", said)
                continue
            ticket = Ticket.from_json(row.ticket)
            crawler = self.crawlers.get(reminder.site)
            name = crawler.display_name if crawler else reminder.site
            color = crawler.color if crawler else FALLBACK_COLOR
            alert = Reminder(name, color, ticket, reminder.offset_min, reminder.sale).to_json()
            outbox.append(NewOutboxRow(reminder.route, "reminder", reminder.site, reminder.notice_key, alert))
            queued.append(reminder.id)
        await self.store.settle_reminders(now, queued=queued, skipped=skipped, outbox=outbox)
        if queued:
            logger.info("{}", t("log.reminders_queued", count=len(queued)))
            if self.on_enqueue:
                self.on_enqueue()
        return len(queued), len(skipped)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            wait = IDLE_CHECK
            try:
                await self.run_due()
                next_due = await self.store.next_reminder_due()  # inside the try: a store error here too
                if next_due is not None:
                    wait = min(IDLE_CHECK, max(0.5, next_due - self.clock.now().timestamp()))
            except StoreError as exc:
                if self.on_store_error is None:
                    raise
                self.on_store_error(t("log.where.reminders"), exc)  # a wait (store unreachable) or a stop
            except Exception as exc:  # a bug must not end reminders silently
                logger.error("{}", t("log.reminder_bug", kind=type(exc).__name__, error=exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
