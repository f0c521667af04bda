"""Reminder plans as rows (pure): which reminder rows a plan writes, given what the store holds.

A restart neither loses nor repeats reminders (they live in the store and move to the outbox in one
transaction, ``daemon.reminders``); a changed open time moves them (the decision re-plans them); a
reminder whose open time passed while the daemon was down is skipped, never sent late.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from ticket_alarm.core.rows import ReminderPlan, ReminderRow, reminder_key

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
            existing = mine.get((sale, offset))
            if existing is None:
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
            elif existing.open_at != open_at:
                status = "pending" if due > now else "skipped"
                out.append(replace(existing, open_at=open_at, due_at=due, status=status, updated_at=now))
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
