"""Reminders before the open: rows in the store with a not-before time, turned into outbox rows when due.

A restart neither loses nor repeats them (they live in the store and move to the outbox in one
transaction); a changed open time moves them (the pipeline re-plans them); a reminder whose open
time passed while the daemon was down is skipped with a log line, never sent late.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from loguru import logger

from crawlers.base import Crawler
from ticket_alarm.clock import Clock
from ticket_alarm.core.model import Ticket
from ticket_alarm.delivery.notify import Alert
from ticket_alarm.errors import StoreError
from ticket_alarm.store.api import NewOutboxRow, ReminderPlan, ReminderRow, Store, reminder_key

IDLE_CHECK = 30.0
FALLBACK_COLOR = 0x808080


SALE_JOIN = " · "  # between the names of sales that open at the same time (one reminder for them)


def sales_of(plan: ReminderPlan) -> dict[str, float]:
    """The plan's sales as reminder keys → open time: "" the general sale alone, else the names of the
    sales opening at that time (general sale first, as ""), joined by ``SALE_JOIN``."""
    at_time: dict[float, list[str]] = {}
    if plan.open_at is not None:
        at_time[plan.open_at] = [""]
    for name, at in plan.presales:
        names = at_time.setdefault(at, [])
        if name not in names:
            names.append(name)
    return {SALE_JOIN.join(names): at for at, names in at_time.items()}


def sale_names(sale: str) -> list[str]:
    """A reminder's sale key as names; "" (the general sale) stays "" for the renderer to name."""
    return sale.split(SALE_JOIN) if sale else [""]


def plan_reminders(plan: ReminderPlan, stored: Iterable[ReminderRow], now: float) -> list[ReminderRow]:
    """The reminder rows to write for one plan, given what the store holds for that notice (pure).

    One reminder per sale and offset: the general sale and each presale (sales sharing a time share one
    reminder, naming them all).
    - a sale gone, or its time gone: its pending reminders are cancelled;
    - an offset no longer wanted: its pending reminder is cancelled;
    - a wanted offset without a row: a pending one, unless it is already due (a notice first seen
      inside the window gets no belated reminder);
    - a row whose open time moved: it moves with it (pending, or skipped when its new due time passed).
    Rows already queued, skipped or cancelled stay as they are unless their open time moved.
    """
    mine = {
        (r.sale, r.offset_min): r for r in stored if r.notice_key == plan.notice_key and r.route == plan.route
    }
    sales = sales_of(plan)
    wanted = {(sale, offset) for sale in sales for offset in plan.offsets}
    out: list[ReminderRow] = []
    for key, row in sorted(mine.items()):
        if row.status == "pending" and key not in wanted:
            out.append(replace(row, status="cancelled", updated_at=now))
    for sale, open_at in sales.items():
        for offset in plan.offsets:
            due = open_at - offset * 60
            row = mine.get((sale, offset))
            if row is None:
                if due > now:
                    out.append(
                        ReminderRow(
                            plan.notice_key,
                            plan.site,
                            plan.route,
                            offset,
                            open_at,
                            due,
                            "pending",
                            now,
                            sale=sale,
                        )
                    )
            elif row.open_at != open_at:
                status = "pending" if due > now else "skipped"
                out.append(replace(row, open_at=open_at, due_at=due, status=status, updated_at=now))
    return out


def plan_all(plans: Sequence[ReminderPlan], stored: Iterable[ReminderRow], now: float) -> list[ReminderRow]:
    """``plan_reminders`` for each plan; a later plan for the same notice and route sees the earlier rows."""
    index = {reminder_key(r): r for r in stored}
    out: dict[tuple[str, str, str, int], ReminderRow] = {}
    for plan in plans:
        for row in plan_reminders(plan, index.values(), now):
            key = reminder_key(row)
            index[key] = out[key] = row
    return list(out.values())


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
                logger.info(
                    "리마인더 건너뜀: {} {}{}분 전 알림 (route {}) — its open time passed while the daemon "
                    "was down; not sent late",
                    reminder.site,
                    f"{reminder.sale} " if reminder.sale else "",
                    reminder.offset_min,
                    reminder.route,
                )
                continue
            ticket = Ticket.from_json(row.ticket)
            crawler = self.crawlers.get(reminder.site)
            name = crawler.display_name if crawler else reminder.site
            color = crawler.color if crawler else FALLBACK_COLOR
            alert = Alert(
                "reminder", name, color, ticket, offset_min=reminder.offset_min, sale=reminder.sale
            ).to_json()
            outbox.append(NewOutboxRow(reminder.route, "reminder", reminder.site, reminder.notice_key, alert))
            queued.append(reminder.id)
        await self.store.settle_reminders(now, queued=queued, skipped=skipped, outbox=outbox)
        if queued:
            logger.info("리마인더 {}건 대기열에 추가", len(queued))
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
                self.on_store_error("리마인더 처리 실패:", exc)  # a wait (store unreachable) or a stop
            except Exception as exc:  # a bug must not end reminders silently
                logger.error("리마인더 처리 실패: {}: {}", type(exc).__name__, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
