"""The store: one SQLite file (WAL) holding history, outbox, per-site state and HTTP validators.

A crawl result is written in ONE transaction (history rows + outbox rows + site state), so a
notice is never "seen but not queued". The interface is narrow on purpose (seen / record /
pending / mark-sent / site state) so a server database could implement it later.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import ticket_alarm.store.policy as policy  # the module, not the package (store/__init__ imports us)
from ticket_alarm.core.model import identity_key
from ticket_alarm.core.notice_memo import NoticeRead
from ticket_alarm.errors import StoreError
from ticket_alarm.fetch.conditional import CachedResponse
from ticket_alarm.i18n import t
from ticket_alarm.store.api import (
    HEARTBEAT_META,
    CommitResult,
    Cycle,
    DigestEvent,
    DueReminder,
    HeadState,
    HistoryRow,
    LegacyKey,
    NewOutboxRow,
    OutboxItem,
    OutboxRow,
    OutboxStats,
    PendingChange,
    PruneResult,
    ReminderRow,
    Seen,
    Settlement,
    SiteState,
)
from ticket_alarm.store.sql import queries as Q
from ticket_alarm.store.sql.dialect import SQLITE
from ticket_alarm.store.sqlite.connection import (
    DB_NAME,
    _transaction,
    backup_to,
    connect,
    connect_reader,
    connect_readonly,
    restore_from,
)
from ticket_alarm.store.sqlite.reads import SqliteReads


class SqliteEngine(SqliteReads):
    """The synchronous SQLite store: one connection, used from one thread only (``SqliteStore``'s worker)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = connect(path)

    # --- opening -----------------------------------------------------------------
    @classmethod
    def open_dir(cls, data_dir: Path) -> SqliteEngine:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                t("store.data_dir.cannot_create", data_dir=data_dir, reason=exc.strerror)
            ) from exc
        if not os.access(data_dir, os.W_OK | os.X_OK):
            raise StoreError(t("store.data_dir.not_writable", data_dir=data_dir))
        return cls(data_dir / DB_NAME)

    @classmethod
    def over(cls, path: Path, conn: sqlite3.Connection) -> SqliteEngine:
        engine = cls.__new__(cls)
        engine.path, engine._conn = path, conn
        return engine

    @classmethod
    def open_readonly(cls, path: Path) -> SqliteEngine:
        """An existing store, read only: no lock, no migration, no file created."""
        return cls.over(path, connect_readonly(path))

    @classmethod
    def open_reader(cls, path: Path) -> SqliteEngine:
        """A second, read-only connection on a file another connection of this process writes."""
        return cls.over(path, connect_reader(path))

    def backup_to(self, dest: Path) -> None:
        backup_to(self._conn, self.path, dest)

    def restore_from(self, src: Path) -> None:
        restore_from(self._conn, self.path, src)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA optimize")
        self._conn.close()

    def integrity_ok(self) -> bool:
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            with _transaction(self._conn):
                yield self._conn
        except sqlite3.Error as exc:
            raise StoreError(t("store.write_failed", path=self.path, error=exc)) from exc

    # --- history -----------------------------------------------------------------
    def seen(self, keys: Iterable[str]) -> dict[str, Seen]:
        keys = list(keys)
        out: dict[str, Seen] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                "SELECT key, digest, ticket, pending_digest, pending_cycles FROM history "
                f"WHERE key IN ({marks})",
                chunk,
            )
            for row in rows:
                out[row["key"]] = Seen(
                    row["key"],
                    row["digest"],
                    json.loads(row["ticket"]),
                    row["pending_digest"],
                    row["pending_cycles"],
                )
        return out

    def record(
        self,
        site: str,
        now: float,
        *,
        history: Sequence[HistoryRow],
        touched: Sequence[str],
        outbox: Sequence[NewOutboxRow],
        state: SiteState,
        pending: Sequence[PendingChange] = (),
        events: Sequence[DigestEvent] = (),
        reminders: Sequence[ReminderRow] = (),
        legacy_matched: Sequence[str] = (),
    ) -> CommitResult:
        """One transaction: history, last_seen, alerts, held changes, reminders and the site state."""
        with self._tx() as conn:
            conn.executemany(
                Q.SET_PENDING,
                [
                    (
                        p.digest,
                        json.dumps(p.ticket, ensure_ascii=False) if p.ticket else None,
                        p.cycles,
                        p.key,
                    )
                    for p in pending
                ],
            )
            conn.executemany(
                Q.INSERT_EVENT,
                [(e.key, e.event, e.digest, json.dumps(e.ticket, ensure_ascii=False), now) for e in events],
            )
            conn.executemany(Q.UPSERT_REMINDER, [_reminder_params(r) for r in reminders])
            conn.executemany(
                "INSERT INTO history(key, digest, site, notice_id, title, ticket, first_seen, last_seen) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET digest=excluded.digest, "
                "title=excluded.title, ticket=excluded.ticket, last_seen=excluded.last_seen",
                [
                    (
                        h.key,
                        h.digest,
                        h.site,
                        h.notice_id,
                        h.title,
                        json.dumps(h.ticket, ensure_ascii=False),
                        now,
                        now,
                    )
                    for h in history
                ],
            )
            for start in range(0, len(touched), 500):
                chunk = list(touched[start : start + 500])
                conn.execute(
                    f"UPDATE history SET last_seen=? WHERE key IN ({','.join('?' * len(chunk))})",
                    [now, *chunk],
                )
            ids = _insert_outbox(conn, outbox, now)
            conn.executemany(
                "UPDATE legacy_keys SET matched_at=? WHERE key=? AND matched_at IS NULL",
                [(now, k) for k in legacy_matched],
            )
            conn.execute(Q.UPSERT_SITE_STATE, Q.site_state_params(state))
        return CommitResult(len(history), len(touched), ids, len(events), len(reminders), len(legacy_matched))

    def commit_cycle(self, cycle: Cycle) -> CommitResult:
        return self.record(
            cycle.site,
            cycle.now,
            history=cycle.history,
            touched=cycle.touched,
            outbox=cycle.outbox,
            state=cycle.state,
            pending=cycle.pending,
            events=cycle.events,
            reminders=cycle.reminders,
            legacy_matched=cycle.legacy_matched,
        )

    def reminders(self, notice_keys: Iterable[str]) -> list[ReminderRow]:
        keys = list(notice_keys)
        out: list[ReminderRow] = []
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            out += [
                ReminderRow(
                    r["notice_key"],
                    r["site"],
                    r["route"],
                    r["offset_min"],
                    r["open_at"],
                    r["due_at"],
                    r["status"],
                    r["updated_at"],
                    r["id"],
                    r["sale"],
                )
                for r in self._query(
                    f"SELECT * FROM reminders WHERE notice_key IN ({','.join('?' * len(chunk))})", chunk
                )
            ]
        return sorted(out, key=lambda r: (r.notice_key, r.route, r.sale, -r.offset_min))

    def due_reminders(self, now: float, limit: int = 200) -> list[DueReminder]:
        rows = self._query(Q.DUE_REMINDERS, (now, limit))
        return [DueReminder(**dict(r)) for r in rows]

    def next_reminder_due(self) -> float | None:
        value = self._query(Q.NEXT_REMINDER_DUE)[0][0]
        return None if value is None else float(value)

    def settle_reminders(
        self, now: float, *, queued: Sequence[int], skipped: Sequence[int], outbox: Sequence[NewOutboxRow]
    ) -> tuple[int, ...]:
        """One transaction: enqueue the reminder messages and mark their rows queued/skipped."""
        with self._tx() as conn:
            ids = _insert_outbox(conn, outbox, now)
            for status, group in (("queued", queued), ("skipped", skipped)):
                conn.executemany(Q.SET_REMINDER_STATUS, [(status, now, i) for i in group])
        return ids

    # --- outbox ------------------------------------------------------------------
    def enqueue(self, rows: Sequence[NewOutboxRow], now: float) -> tuple[int, ...]:
        with self._tx() as conn:
            return _insert_outbox(conn, rows, now)

    def claim(
        self, route: str, now: float, *, owner: str, lease_seconds: float, limit: int = 50
    ) -> list[OutboxItem]:
        """Due pending rows of ``route`` not leased to someone else, leased to ``owner`` (one transaction)."""
        with self._tx() as conn:  # BEGIN IMMEDIATE: a second process waits, then sees the leases
            rows = conn.execute(
                "SELECT id, route, kind, site, notice_key, payload, attempts, created_at FROM outbox "
                "WHERE route=? AND status='pending' AND next_attempt_at<=? "
                "AND (lease_until IS NULL OR lease_until<=? OR lease_owner=?) ORDER BY id LIMIT ?",
                (route, now, now, owner, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE outbox SET lease_owner=?, lease_until=? WHERE id=?",
                [(owner, now + lease_seconds, r["id"]) for r in rows],
            )
        return [Q.outbox_item(r) for r in rows]

    def renew(self, ids: Sequence[int], now: float, *, owner: str, lease_seconds: float) -> int:
        """Extend ``owner``'s lease on those of ``ids`` it still holds (pending); how many."""
        if not ids:
            return 0
        with self._tx() as conn:
            return conn.execute(*Q.renew(SQLITE, ids, now + lease_seconds, owner)).rowcount

    def settle(self, ids: Sequence[int], outcome: Settlement, now: float) -> int:
        if not ids:
            return 0
        sql, params = Q.settle(SQLITE, ids, policy.settlement(outcome, now))
        with self._tx() as conn:
            return conn.execute(sql, params).rowcount

    def next_due(self, route: str) -> float | None:
        row = self._query(Q.NEXT_DUE, (route,))[0][0]
        return None if row is None else float(row)

    def outbox_stats(self) -> OutboxStats:
        stats = OutboxStats()
        for row in self._query(Q.OUTBOX_BY_STATUS):
            setattr(stats, row["status"], int(row["n"]))
        row = self._query(Q.OLDEST_PENDING)[0]
        stats.oldest_pending = None if row[0] is None else float(row[0])
        for row in self._query(Q.PENDING_BY_ROUTE):
            stats.by_route[row["route"]] = int(row["n"])
        return stats

    def outbox_list(
        self, *, status: str | None = None, route: str | None = None, since: float | None = None
    ) -> list[OutboxRow]:
        """Outbox rows, oldest first (``outbox list``, health)."""
        return [Q.outbox_row(r) for r in self._query(*Q.outbox_list(SQLITE, status, route, since))]

    def retry_dead(self, *, route: str | None, since: float | None, now: float) -> int:
        """Queue dead letters again (``outbox retry-dead``): pending, due now, attempts reset."""
        with self._tx() as conn:
            return conn.execute(*Q.retry_dead(SQLITE, route, since, now)).rowcount

    # --- site state --------------------------------------------------------------
    def site_state(self, site: str) -> SiteState:
        rows = self._query(Q.SITE_STATE, (site,))
        return _site_state(rows[0]) if rows else SiteState(site)

    def all_site_states(self) -> list[SiteState]:
        return [_site_state(r) for r in self._query(Q.ALL_SITE_STATES)]

    def save_site_state(self, state: SiteState) -> None:
        with self._tx() as conn:
            conn.execute(Q.UPSERT_SITE_STATE, Q.site_state_params(state))

    def head_state(self, site: str) -> HeadState:
        raw = self.get_meta(HeadState(site).meta_key)
        if not raw:
            return HeadState(site)
        try:
            data = json.loads(raw)
            return HeadState(site, **{k: v for k, v in data.items() if k in HeadState.__dataclass_fields__})
        except (ValueError, TypeError):  # unreadable: start over (it only describes past polls)
            return HeadState(site)

    def save_head_state(self, state: HeadState) -> None:
        data = {k: v for k, v in asdict(state).items() if k != "site"}
        self.set_meta(state.meta_key, json.dumps(data))

    # --- webhooks ----------------------------------------------------------------
    def mark_webhook_broken(
        self, route: str, reason: str, now: float, fingerprint: str | None = None
    ) -> None:
        """``fingerprint`` (config.webhook_fingerprint of the URL) lets a changed URL clear the mark."""
        with self._tx() as conn:
            conn.execute(Q.UPSERT_WEBHOOK, (route, reason, now))
            conn.execute(Q.DELETE_META, (Q.WEBHOOK_URL_META + route,))
            if fingerprint:
                conn.execute(Q.SET_META, (Q.WEBHOOK_URL_META + route, fingerprint))

    def clear_webhook_broken(self, route: str) -> None:
        with self._tx() as conn:
            conn.execute(Q.CLEAR_WEBHOOK, (route,))
            conn.execute(Q.DELETE_META, (Q.WEBHOOK_URL_META + route,))

    def broken_webhook_fingerprints(self) -> dict[str, str]:
        """Route → fingerprint of the URL that was marked broken (marks written before it: absent)."""
        rows = self._query(Q.WEBHOOK_FINGERPRINTS)
        return {r["key"].removeprefix(Q.WEBHOOK_URL_META): r["value"] for r in rows}

    def broken_webhooks(self) -> dict[str, str]:
        return {r["route"]: r["broken_reason"] for r in self._query(Q.BROKEN_WEBHOOKS)}

    # --- HTTP validators (ResponseCache) -------------------------------------------
    def cached_response(self, key: str) -> CachedResponse | None:
        rows = self._query(Q.CACHED_RESPONSE, (key,))
        if not rows:
            return None
        return CachedResponse(rows[0]["etag"], rows[0]["last_modified"], bytes(rows[0]["body"]))

    def remember_response(
        self, key: str, etag: str | None, last_modified: str | None, body: bytes, now: float | None = None
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                Q.REMEMBER_RESPONSE, (key, etag, last_modified, body, time.time() if now is None else now)
            )

    # --- notices' second pages (NoticeMemo) ----------------------------------------
    def notice_reads(self, site: str, ids: Sequence[str]) -> dict[str, NoticeRead]:
        out: dict[str, NoticeRead] = {}
        wanted = list(dict.fromkeys(ids))
        for start in range(0, len(wanted), 500):
            where, params = SQLITE.among("notice_id", wanted[start : start + 500])
            rows = self._query(
                f"SELECT {Q.NOTICE_READ_COLUMNS} FROM notice_reads WHERE site=? AND {where}", (site, *params)
            )
            for r in rows:
                out[r["notice_id"]] = NoticeRead(*tuple(r))
        return out

    def save_notice_reads(self, site: str, reads: Sequence[NoticeRead], now: float) -> None:
        with self._tx() as conn:
            conn.executemany(
                Q.SAVE_NOTICE_READ,
                [
                    (site, r.notice_id, identity_key(site, r.notice_id), r.fingerprint, *_read_tail(r), now)
                    for r in reads
                ],
            )

    # --- meta --------------------------------------------------------------------
    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as conn:
            conn.execute(Q.SET_META, (key, value))

    def get_meta(self, key: str) -> str | None:
        rows = self._query(Q.GET_META, (key,))
        return rows[0][0] if rows else None

    def heartbeat(self, now: float) -> None:
        self.set_meta(HEARTBEAT_META, f"{now:.3f}")

    def last_heartbeat(self) -> float | None:
        raw = self.get_meta(HEARTBEAT_META)
        try:
            return float(raw) if raw else None
        except ValueError:
            return None

    # --- maintenance ---------------------------------------------------------------
    def prune(self, now: float, retention_days: float) -> PruneResult:
        """Rows older than the retention (see api.Maintenance.prune); one transaction."""
        cutoff = policy.cutoff(now, retention_days)
        with self._tx() as conn:
            return PruneResult(*(conn.execute(sql, (cutoff,) * n).rowcount for sql, n in Q.PRUNE))

    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    # --- read-only queries of the status page and `upcoming` (ticket_alarm/web/upcoming.py, web.py) ----
    def import_legacy(self, keys: Sequence[LegacyKey], now: float) -> tuple[int, int]:
        """One transaction: store legacy keys. Returns (added, already known: in history or imported)."""
        with self._tx() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO legacy_keys(key, source, site, notice_id, title, seen_at, "
                "imported_at) SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS "
                "(SELECT 1 FROM history WHERE key = ?)",
                [(k.key, k.source, k.site, k.notice_id, k.title, k.seen_at, now, k.key) for k in keys],
            )
            added = conn.total_changes - before
        return added, len(keys) - added


def _insert_outbox(conn: sqlite3.Connection, rows: Sequence[NewOutboxRow], now: float) -> tuple[int, ...]:
    ids = []
    for o in rows:
        try:
            payload = json.dumps(o.payload, ensure_ascii=False)
        except (TypeError, ValueError) as exc:  # rolled back by the transaction around us
            raise StoreError(t("store.payload_not_json", route=o.route, error=exc)) from exc
        row = conn.execute(
            Q.INSERT_OUTBOX, (o.route, o.kind, o.site, o.notice_key, payload, now, now)
        ).fetchone()
        ids.append(int(row[0]))
    return tuple(ids)


def _reminder_params(r: ReminderRow) -> tuple[Any, ...]:
    return tuple(getattr(r, c) for c in Q.REMINDER_COLUMNS)


def _site_state(row: sqlite3.Row) -> SiteState:
    values = dict(row)
    return SiteState(**{**values, "initialized": bool(values["initialized"])})


def _read_tail(read: NoticeRead) -> tuple[str | None, str | None, int, float | None]:
    return read.payload, read.error, read.failures, read.retry_at
