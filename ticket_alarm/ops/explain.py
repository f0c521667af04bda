"""``explain SITE ID``: the stored notice, its digest history, route decisions and what was sent when."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ticket_alarm.config.routes import Router
from ticket_alarm.core.model import Ticket, identity_key, seoul_text
from ticket_alarm.i18n import has, t
from ticket_alarm.i18n.table import pad
from ticket_alarm.store.api import Store as StoreProtocol
from ticket_alarm.store.policy import held


def _when(epoch: float | None) -> str | None:
    return seoul_text(datetime.fromtimestamp(epoch, UTC)) if epoch else None


def open_text(ticket: Mapping[str, Any]) -> str:
    if ticket.get("open_at"):
        return seoul_text(datetime.fromisoformat(ticket["open_at"]))
    if ticket.get("open_date"):
        return f"{ticket['open_date']} (시간 미정)"
    return "추후 공지"


def _reminder_status(reminder: Any, outbox: Sequence[Any]) -> str:
    """A queued reminder's delivery: its outbox row was written in the same transaction (same time)."""
    if reminder.status != "queued":
        return str(reminder.status)
    rows = [
        o
        for o in outbox
        if o.kind == "reminder" and o.route == reminder.route and o.created_at == reminder.updated_at
    ]
    if rows and all(o.status == "sent" for o in rows):
        return "sent"
    if any(o.status == "dead" for o in rows):
        return "dead"
    return "queued"


async def explain(store: StoreProtocol, router: Router, site: str, notice_id: str) -> dict[str, Any] | None:
    """Everything known about one notice, or None when the history has never seen it; ``router``
    (the daemon's: ``app.router``) says which routes take it and why."""
    key = identity_key(site, notice_id)
    row = await store.notice(key)
    if row is None:
        return None
    ticket_data = row.ticket
    ticket = Ticket.from_json(ticket_data)
    outbox = await store.notice_outbox(key)
    decisions = [
        {"route": v.route, "matched": v.matched, "reason": v.reason} for v in router.verdicts(ticket)
    ]
    doc: dict[str, Any] = {
        "site": site,
        "id": notice_id,
        "key": key,
        "title": ticket.title,
        "url": ticket.url,
        "open": open_text(ticket_data),
        "venue": ticket.venue,
        "category": ticket.category,
        "exclusive": ticket.exclusive,
        "digest": row.digest,
        "first_seen": _when(row.first_seen),
        "last_seen": _when(row.last_seen),
        "pending_change": (
            {
                "digest": row.pending_digest,
                "cycles": row.pending_cycles,
                "open": open_text(row.pending_ticket) if row.pending_ticket else None,
            }
            if row.pending_digest
            else None
        ),
        "digests": [
            {
                "at": _when(e.at),
                "event": e.event,
                "digest": e.digest,
                "title": e.ticket.get("title"),
                "open": open_text(e.ticket),
            }
            for e in await store.notice_events(key)
        ],
        "routes": decisions,
        "sent": [
            {
                "id": o.id,
                "kind": o.kind,
                "route": o.route,
                "status": o.status,
                "queued_at": _when(o.created_at),
                "sent_at": _when(o.sent_at),
                "message_id": o.message_id,
                "attempts": o.attempts,
                "last_error": o.last_error,
                # held for quiet hours or a digest (the note says why): when it goes out
                "held_until": _when(o.next_attempt_at) if held(o, datetime.now(UTC).timestamp()) else None,
            }
            for o in outbox
        ],
        "reminders": [
            {
                "route": r.route,
                "minutes_before": r.offset_min,
                "due": _when(r.due_at),
                "status": _reminder_status(r, outbox),
            }
            for r in await store.reminders([key])
        ],
    }
    doc["nothing_sent"] = None if doc["sent"] else nothing_sent_reason(doc)
    return doc


def render_text(doc: dict[str, Any]) -> str:
    """The document as the operator reads it, in the operator's language (``explain.text.*``)."""
    extra = (t("explain.text.exclusive") if doc["exclusive"] else "") + (
        t("explain.text.venue", venue=doc["venue"]) if doc["venue"] else ""
    )
    lines = [
        f"{doc['site']} {doc['id']} — {doc['title']}",
        t("explain.text.link", url=doc["url"]),
        t("explain.text.open", open=doc["open"], category=doc["category"], extra=extra),
        t(
            "explain.text.seen",
            first=doc["first_seen"],
            last=doc["last_seen"],
            digest=doc["digest"][:12],
        ),
    ]
    pending = doc["pending_change"]
    if pending:
        lines.append(
            t(
                "explain.text.pending",
                digest=pending["digest"][:12],
                cycles=pending["cycles"],
                open=pending["open"],
            )
        )
    lines.append(t("explain.text.digests"))
    for e in doc["digests"]:
        event = pad(_word("event", e["event"]), 9)
        opens = t("explain.text.open_at", open=e["open"])
        lines.append(f"  {e['at']}  {event} {e['digest'][:12]}  {opens}  {e['title']}")
    lines.append(t("explain.text.routes"))
    for r in doc["routes"]:
        verdict = t("explain.text.matched") if r["matched"] else t("explain.text.skipped")
        lines.append(f"  {pad(r['route'], 16)} {pad(verdict, 8)} {r['reason']}")
    lines.append(t("explain.text.sent"))
    if not doc["sent"]:
        lines.append(t("explain.text.nothing", why=doc["nothing_sent"]))
    for o in doc["sent"]:
        state = (
            t("explain.text.sent_at", at=o["sent_at"], message=o["message_id"] or "-")
            if o["status"] == "sent"
            else _word("status", o["status"])
        )
        error = (
            t(
                "explain.text.held" if o.get("held_until") else "explain.text.last_error",
                error=o["last_error"][:120],
            )
            if o["last_error"] and o["status"] != "sent"
            else ""
        )
        lines.append(
            t(
                "explain.text.row",
                id=o["id"],
                kind=pad(_word("kind", o["kind"]), 8),
                route=pad(o["route"], 12),
                queued=o["queued_at"],
                state=state,
                attempts=o["attempts"],
                error=error,
            )
        )
    if doc["reminders"]:
        lines.append(t("explain.text.reminders"))
        for r in doc["reminders"]:
            lead = pad(f"{r['minutes_before']}분 전", 8)
            due = t("explain.text.due", due=r["due"])
            lines.append(f"  {pad(r['route'], 16)} {lead} {due}  {_word('status', r['status'])}")
    return "\n".join(lines)


def _word(what: str, value: str) -> str:
    """A stored word (an event, a status, a kind) in the operator's language; an unknown one as stored."""
    key = f"explain.{what}.{value}"
    return t(key) if has(key) else value


def nothing_sent_reason(doc: dict[str, Any]) -> str:
    """Why a notice has no outbox row: no route took it, or it came with a silent first crawl."""
    if not any(r["matched"] for r in doc["routes"]):
        return t("explain.matched_no_route")
    return t("explain.first_crawl")
