"""Every statement both SQL backends run, written once (``?`` placeholders, adapted by the backend
through its ``Dialect``); :mod:`ticket_alarm.store.sql.store` runs them.

A rule of the store lives in :mod:`ticket_alarm.store.policy`; the statements here only spell it.
What an engine spells differently (a list parameter, JSON paths, row locks) comes from the
``Dialect`` a function here is given.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, fields
from typing import Any, Protocol

from ticket_alarm.store.api import OutboxItem, OutboxRow, SiteState
from ticket_alarm.store.policy import PRUNABLE_REMINDERS, Transition, revived
from ticket_alarm.store.sql.dialect import Dialect


def upsert(table: str, columns: Sequence[str], keys: Sequence[str]) -> str:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` of every other column (both engines' syntax)."""
    rest = [c for c in columns if c not in keys]
    return (
        f"INSERT INTO {table}({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in rest)}"
    )


# --- history ------------------------------------------------------------------------------------
SEEN = "SELECT key, digest, ticket, pending_digest, pending_cycles FROM history WHERE {among}"
UPSERT_HISTORY = (  # first seen: both times now; met again with a new digest: the live data, not first_seen
    "INSERT INTO history(key, digest, site, notice_id, title, ticket, first_seen, last_seen) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET digest=excluded.digest, "
    "title=excluded.title, ticket=excluded.ticket, last_seen=excluded.last_seen"
)
TOUCH_HISTORY = "UPDATE history SET last_seen=? WHERE {among}"
MATCH_LEGACY = "UPDATE legacy_keys SET matched_at=? WHERE {among} AND matched_at IS NULL"
IMPORT_LEGACY = (
    "INSERT INTO legacy_keys(key, source, site, notice_id, title, seen_at, imported_at) "
    "SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM history WHERE key=?) "
    "ON CONFLICT (key) DO NOTHING"
)
LEGACY_KEYS = "SELECT key FROM legacy_keys WHERE {among}"
NOTICE = "SELECT * FROM history WHERE key=?"
NOTICE_EVENTS = "SELECT * FROM digest_log WHERE key=? ORDER BY id"
HISTORY_COUNT = "SELECT count(*) AS n FROM history"
HISTORY_COUNT_SITE = "SELECT count(*) AS n FROM history WHERE site=?"
HISTORY_BY_SITE = (
    "SELECT site, count(*) AS n, min(first_seen) AS first_seen, max(first_seen) AS newest, "
    "max(last_seen) AS last_seen FROM history GROUP BY site ORDER BY site"
)
SET_PENDING = "UPDATE history SET pending_digest=?, pending_ticket=?, pending_cycles=? WHERE key=?"
INSERT_EVENT = "INSERT INTO digest_log(key, event, digest, ticket, at) VALUES (?, ?, ?, ?, ?)"
LEGACY_COUNTS = "SELECT count(*) AS n, count(matched_at) AS m FROM legacy_keys"

# --- reminders ----------------------------------------------------------------------------------
REMINDER_COLUMNS = (
    "notice_key",
    "site",
    "route",
    "sale",
    "offset_min",
    "open_at",
    "due_at",
    "status",
    "updated_at",
)
REMINDERS = "SELECT * FROM reminders WHERE {among}"
UPSERT_REMINDER = upsert("reminders", REMINDER_COLUMNS, ("notice_key", "route", "sale", "offset_min"))
DUE_REMINDERS = "SELECT * FROM reminders WHERE status='pending' AND due_at<=? ORDER BY due_at, id LIMIT ?"
SET_REMINDER_STATUS = "UPDATE reminders SET status=?, updated_at=? WHERE {among}"


def pending_reminders(d: Dialect, ids: Sequence[int]) -> tuple[str, list[Any]]:
    """The ids among ``ids`` still pending, locked for the rest of the transaction."""
    where, params = d.among("id", ids)
    return f"SELECT id FROM reminders WHERE {where} AND status='pending'{d.lock_rows}", params


NEXT_REMINDER_DUE = "SELECT min(due_at) AS due FROM reminders WHERE status='pending'"

# --- outbox -------------------------------------------------------------------------------------
INSERT_OUTBOX = (
    "INSERT INTO outbox(route, kind, site, notice_key, payload, created_at, next_attempt_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
NEXT_DUE = "SELECT min(next_attempt_at) AS due FROM outbox WHERE route=? AND status='pending'"
OUTBOX_BY_STATUS = "SELECT status, count(*) AS n FROM outbox GROUP BY status"
# the oldest row that is late: a row held on purpose (quiet hours, a digest: parked by a Retry that
# counts no attempt, due later than it was written) is not (``policy.late``)
OLDEST_PENDING = (
    "SELECT min(created_at) AS oldest FROM outbox "
    "WHERE status='pending' AND (attempts > 0 OR next_attempt_at <= created_at)"
)
PENDING_BY_ROUTE = (
    "SELECT route, count(*) AS n FROM outbox WHERE status='pending' GROUP BY route ORDER BY route"
)
NOTICE_OUTBOX = "SELECT * FROM outbox WHERE notice_key=? ORDER BY id"
RECENT_ALERTS = (
    "SELECT o.id, o.route, o.kind, o.site, o.status, o.created_at, o.sent_at, o.attempts, "
    "o.last_error, h.title, h.notice_id FROM outbox o LEFT JOIN history h ON h.key = o.notice_key "
    "ORDER BY o.id DESC LIMIT ?"
)


def claimable(d: Dialect, route: str, now: float, owner: str, limit: int) -> tuple[str, list[Any]]:
    """Due pending rows of ``route`` not leased to someone else (``policy.claimable``), oldest first."""
    return (
        "SELECT id, route, kind, site, notice_key, payload, attempts, created_at FROM outbox "
        "WHERE route=? AND status='pending' AND next_attempt_at<=? "
        f"AND (lease_until IS NULL OR lease_until<=? OR lease_owner=?) ORDER BY id LIMIT ?{d.claim_rows}",
        [route, now, now, owner, limit],
    )


LEASE = "UPDATE outbox SET lease_owner=?, lease_until=? WHERE {among}"


def renew(d: Dialect, ids: Sequence[int], until: float, owner: str) -> tuple[str, list[Any]]:
    """Extend ``owner``'s lease to ``until`` on those of ``ids`` it still holds (pending)."""
    where, id_params = d.among("id", sorted(set(ids)))
    return f"UPDATE outbox SET lease_until=? WHERE {where} AND status='pending' AND lease_owner=?", [
        until,
        *id_params,
        owner,
    ]


def settle(d: Dialect, ids: Sequence[int], move: Transition) -> tuple[str, list[Any]]:
    """The UPDATE of one settlement (``policy.settlement``) over ``ids``."""
    where, id_params = d.among("id", ids)
    sets = [f"{c}=?" for c in move.columns] + ["attempts=attempts+?"]
    sql = f"UPDATE outbox SET {', '.join(sets)} WHERE {where}"
    if move.only_pending:
        sql += " AND status='pending'"
    return sql, [*move.columns.values(), move.attempts, *id_params]


def _filters(route: str | None, since: float | None, status: str | None = None) -> tuple[str, list[Any]]:
    sql = ""
    params: list[Any] = []
    for column, value in (("status", status), ("route", route)):
        if value is not None:
            sql += f" AND {column}=?"
            params.append(value)
    if since is not None:
        sql += " AND created_at>=?"
        params.append(since)
    return sql, params


def retry_dead(route: str | None, since: float | None, now: float) -> tuple[str, list[Any]]:
    columns = revived(now)
    where, params = _filters(route, since)
    sets = ", ".join(f"{c}=?" for c in columns)
    return f"UPDATE outbox SET {sets} WHERE status='dead'{where}", [*columns.values(), *params]


def outbox_list(status: str | None, route: str | None, since: float | None) -> tuple[str, list[Any]]:
    where, params = _filters(route, since, status)
    return f"SELECT * FROM outbox WHERE 1=1{where} ORDER BY id", params


# --- site state, webhooks, meta, HTTP cache, notice reads ------------------------------------------
SITE_STATE = "SELECT * FROM site_state WHERE site=?"
ALL_SITE_STATES = "SELECT * FROM site_state ORDER BY site"
SITE_STATE_COLUMNS = tuple(SiteState.__dataclass_fields__)
UPSERT_SITE_STATE = upsert("site_state", SITE_STATE_COLUMNS, ("site",))


def site_state_params(state: SiteState) -> list[Any]:
    values = asdict(state)
    return [values[c] for c in SITE_STATE_COLUMNS]


UPSERT_WEBHOOK = upsert("webhook_state", ("route", "broken_reason", "broken_at"), ("route",))
CLEAR_WEBHOOK = "DELETE FROM webhook_state WHERE route=?"
BROKEN_WEBHOOKS = "SELECT route, broken_reason FROM webhook_state ORDER BY route"
WEBHOOK_URL_META = "webhook_url:"  # meta key prefix: the fingerprint of the URL marked broken
WEBHOOK_FINGERPRINTS = "SELECT key, value FROM meta WHERE key LIKE 'webhook_url:%'"
GET_META = "SELECT value FROM meta WHERE key=?"
SET_META = upsert("meta", ("key", "value"), ("key",))
DELETE_META = "DELETE FROM meta WHERE key=?"
CACHED_RESPONSE = "SELECT etag, last_modified, body FROM http_cache WHERE key=?"
REMEMBER_RESPONSE = upsert("http_cache", ("key", "etag", "last_modified", "body", "stored_at"), ("key",))
SAVE_NOTICE_READ = upsert(
    "notice_reads",
    (
        "site",
        "notice_id",
        "notice_key",
        "fingerprint",
        "payload",
        "error",
        "failures",
        "retry_at",
        "stored_at",
    ),
    ("site", "notice_id"),
)
NOTICE_READS = (
    "SELECT notice_id, fingerprint, payload, error, failures, retry_at FROM notice_reads "
    "WHERE site=? AND {among}"
)


def newest_notice(d: Dialect) -> str:
    """The ticket of a site's notice seen first most recently (of one instant: the one stored last)."""
    return (
        f"SELECT ticket FROM history WHERE site=? ORDER BY first_seen DESC, {d.insertion_order} DESC LIMIT 1"
    )


def known_contents(d: Dialect) -> str:
    return f"SELECT title, {d.json_text('ticket', 'open_at')} AS open_at FROM history WHERE site=?"


def upcoming(d: Dialect) -> str:
    """History rows with a sale (open or presale) or an open date on/after the day (three parameters)."""
    day = "substr({}, 1, 10) >= ?"
    return (
        "SELECT site, notice_id, ticket, first_seen, last_seen FROM history WHERE "
        f"{day.format(d.json_text('ticket', 'open_at'))} OR {day.format(d.json_text('ticket', 'open_date'))} "
        f"OR {d.any_member('history.ticket', 'presales', 'at', day)}"
    )


# --- maintenance: what a retention lets go (policy.cutoff), in PruneResult's order -------------------
_DONE = ", ".join(f"'{s}'" for s in PRUNABLE_REMINDERS)
PRUNE: tuple[tuple[str, int], ...] = (  # (statement, how many times it takes the cutoff)
    ("DELETE FROM outbox WHERE status='sent' AND sent_at<?", 1),
    (
        "DELETE FROM digest_log WHERE at<? AND NOT EXISTS (SELECT 1 FROM history h "
        "WHERE h.key = digest_log.key AND h.pending_digest IS NOT NULL)",
        1,
    ),
    ("DELETE FROM http_cache WHERE stored_at<?", 1),
    (f"DELETE FROM reminders WHERE status IN ({_DONE}) AND updated_at<?", 1),
    (
        "DELETE FROM notice_reads WHERE stored_at<? AND NOT EXISTS (SELECT 1 FROM history h "
        "WHERE h.key = notice_reads.notice_key AND h.last_seen>=?)",
        2,
    ),
)


# --- rows read back (sqlite3.Row and psycopg's dict rows both index by column name) -------------


class Columns(Protocol):
    """A row read back: ``sqlite3.Row`` or psycopg's ``dict_row``."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...


def outbox_item(r: Columns) -> OutboxItem:
    """A claimed outbox row as the drainer gets it."""
    return OutboxItem(**_outbox_columns(OutboxItem, r))


def outbox_row(r: Columns) -> OutboxRow:
    """An outbox row as ``outbox list`` and ``explain`` show it; the lease columns where selected."""
    return OutboxRow(**_outbox_columns(OutboxRow, r))


def _outbox_columns(cls: type[OutboxItem] | type[OutboxRow], r: Columns) -> dict[str, Any]:
    """The row's columns that ``cls`` has (a missing one takes its default), the payload decoded."""
    keys = set(r.keys())
    out = {f.name: r[f.name] for f in fields(cls) if f.name in keys}
    out["payload"] = json.loads(r["payload"])
    return out
