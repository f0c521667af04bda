"""The store's rules, once, above the backends: which outbox states move where, what an error keeps,
what a retention prunes. Memory applies them to its dicts, the SQL backends through ``sql.queries``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ticket_alarm.store.api import Dead, OutboxRow, Retry, Sent, Settlement

RETRY_ERROR_CUT = 2000  # characters of a retried row's last error kept
DEAD_ERROR_CUT = 4000  # characters of a dead letter's last error kept (operators read it)
DAY = 86400.0
PRUNABLE_REMINDERS = ("queued", "skipped", "cancelled")  # a reminder in these states is history
FREE_LEASE: dict[str, Any] = {"lease_owner": None, "lease_until": None}


@dataclass(frozen=True, slots=True)
class Transition:
    """What settling writes to each outbox row: ``columns`` set, ``attempts`` added, and whether
    only a row still ``pending`` moves (a row sent by another replica stays sent)."""

    columns: dict[str, Any]
    attempts: int
    only_pending: bool


def settlement(outcome: Settlement, now: float) -> Transition:
    """The rule of ``settle``: Sent only from pending; Retry and Dead cut the error; all free the lease."""
    if isinstance(outcome, Sent):
        columns = {"status": "sent", "sent_at": now, "message_id": outcome.message_id, "last_error": None}
        return Transition({**columns, **FREE_LEASE}, 0, True)
    if isinstance(outcome, Retry):
        columns = {"last_error": outcome.error[:RETRY_ERROR_CUT], "next_attempt_at": outcome.next_attempt_at}
        return Transition({**columns, **FREE_LEASE}, 1 if outcome.count else 0, False)
    if isinstance(outcome, Dead):
        columns = {"status": "dead", "last_error": outcome.error[:DEAD_ERROR_CUT]}
        return Transition({**columns, **FREE_LEASE}, 1, False)
    raise TypeError(f"unknown settlement {outcome!r}")  # pragma: no cover - Settlement is a closed union


def revived(now: float) -> dict[str, Any]:
    """What ``retry_dead`` writes to a dead letter: pending, due now, attempts from zero, no lease."""
    return {"status": "pending", "attempts": 0, "next_attempt_at": now, **FREE_LEASE}


def late(row: OutboxRow) -> bool:
    """Whether a pending row counts toward the outbox's age (``OLDEST_PENDING``): not when it was held
    on purpose (quiet hours, a digest: parked without an attempt, due after it was written)."""
    return row.attempts > 0 or row.next_attempt_at <= row.created_at


def held(row: OutboxRow, now: float) -> bool:
    """Whether a pending row waits on purpose (quiet hours, a digest) rather than for a retry."""
    return row.status == "pending" and not late(row) and row.next_attempt_at > now


def claimable(row: OutboxRow, *, now: float, owner: str) -> bool:
    """Whether ``owner`` may claim ``row`` now: pending, due, and not leased to someone else."""
    free = row.lease_until is None or row.lease_until <= now or row.lease_owner == owner
    return row.status == "pending" and row.next_attempt_at <= now and free


def cutoff(now: float, retention_days: float) -> float:
    """The time before which ``prune`` deletes what the retention lets go."""
    return now - retention_days * DAY
