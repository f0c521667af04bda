"""The PostgreSQL store: the same protocols as SQLite (``ticket_alarm.store.api``), for replicas.

psycopg 3, async, a small pool. Several daemons (replicas) may share one database: outbox rows are
claimed with ``FOR UPDATE SKIP LOCKED`` plus a lease, whether a notice is new is decided inside the
transaction that records it (``INSERT … ON CONFLICT`` on the history key), and each site's crawl is
owned by one replica at a time (``ticket_alarm.store.postgres.replicas``). Schema steps are the
numbered ``migrations/*.sql`` files, the same steps as SQLite's in PostgreSQL's dialect. The pool,
the errors and the schema steps are ``connection.py``; statements shared with SQLite ``sql/queries.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

import psycopg

import ticket_alarm.store.policy as policy  # the module, not the package (store/__init__ imports us)
from ticket_alarm.core.model import identity_key
from ticket_alarm.core.notice_memo import NoticeRead
from ticket_alarm.errors import StoreError
from ticket_alarm.i18n import t
from ticket_alarm.store.api import (
    HEARTBEAT_META,
    CachedResponse,
    CommitResult,
    Cycle,
    DueReminder,
    HeadState,
    LegacyKey,
    NewOutboxRow,
    OutboxItem,
    OutboxRow,
    OutboxStats,
    PruneResult,
    RecentAlert,
    ReminderRow,
    Seen,
    Settlement,
    SiteState,
)
from ticket_alarm.store.postgres.connection import (  # noqa: F401 (TABLES, SCHEMA_VERSION, migrations: the package's names)
    CHUNK,
    SCHEMA_VERSION,
    TABLES,
    PgConnection,
    migrations,
)
from ticket_alarm.store.postgres.reads import PostgresReads
from ticket_alarm.store.sql import queries as Q
from ticket_alarm.store.sql.dialect import POSTGRES as PG


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:  # a bug upstream: nothing of the transaction is written
        raise StoreError(t("pg.not_json", error=exc)) from None


class PostgresStore(PostgresReads):
    """The store on a PostgreSQL server. Open with :meth:`open` (async); ``close`` when done."""

    readonly: bool

    async def prune(self, now: float, retention_days: float) -> PruneResult:
        cutoff = policy.cutoff(now, retention_days)
        async with self._tx("prune") as conn:
            done = [(await conn.execute(PG.sql(sql), (cutoff,) * n)).rowcount for sql, n in Q.PRUNE]
        return PruneResult(*done)

    # --- history -----------------------------------------------------------------------
    async def seen(self, keys: Iterable[str]) -> dict[str, Seen]:
        wanted = list(dict.fromkeys(keys))
        out: dict[str, Seen] = {}
        for start in range(0, len(wanted), CHUNK):
            rows = await self._rows(
                "SELECT key, digest, ticket, pending_digest, pending_cycles FROM history WHERE key = ANY(%s)",
                (wanted[start : start + CHUNK],),
            )
            for r in rows:
                out[r["key"]] = Seen(
                    r["key"], r["digest"], json.loads(r["ticket"]), r["pending_digest"], r["pending_cycles"]
                )
        return out

    async def commit_cycle(self, cycle: Cycle) -> CommitResult:
        """One transaction. "Is this notice new" is the history key's unique constraint: a 'new' alert
        is queued only when this transaction inserted its row, a 'change' alert only when it changed the
        stored digest — so two replicas that crawl the same site in a race enqueue it once."""
        now = cycle.now
        async with self._tx("write") as conn:
            written: dict[str, bool] = {}  # key -> inserted (True) or digest changed (False)
            for h in cycle.history:
                cur = await conn.execute(
                    "INSERT INTO history(key, digest, site, notice_id, title, ticket, first_seen, last_seen) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO UPDATE SET "
                    "digest=excluded.digest, title=excluded.title, ticket=excluded.ticket, "
                    "last_seen=excluded.last_seen WHERE history.digest IS DISTINCT FROM excluded.digest "
                    "RETURNING (xmax = 0) AS inserted",
                    (h.key, h.digest, h.site, h.notice_id, h.title, _json(h.ticket), now, now),
                )
                row = await cur.fetchone()
                if row is not None:
                    written[h.key] = bool(row["inserted"])
                else:  # the same digest is stored already: keep the live data, announce nothing
                    await conn.execute(
                        "UPDATE history SET title=%s, ticket=%s, last_seen=%s WHERE key=%s",
                        (h.title, _json(h.ticket), now, h.key),
                    )
            lost = {h.key for h in cycle.history} - set(written)  # another replica wrote it first
            if cycle.touched:
                await conn.execute(
                    "UPDATE history SET last_seen=%s WHERE key = ANY(%s)", (now, list(cycle.touched))
                )
            for p in cycle.pending:
                await conn.execute(
                    PG.sql(Q.SET_PENDING),
                    (p.digest, _json(p.ticket) if p.ticket else None, p.cycles, p.key),
                )
            events = [e for e in cycle.events if not (e.key in lost and e.event == "first")]
            async with conn.cursor() as cur:
                await cur.executemany(
                    PG.sql(Q.INSERT_EVENT),
                    [(e.key, e.event, e.digest, _json(e.ticket), now) for e in events],
                )
            for r in cycle.reminders:
                await _upsert_reminder(conn, r)
            matched = 0
            if cycle.legacy_matched:
                cur = await conn.execute(
                    "UPDATE legacy_keys SET matched_at=%s WHERE key = ANY(%s) AND matched_at IS NULL",
                    (now, list(cycle.legacy_matched)),
                )
                matched = cur.rowcount
            outbox = [o for o in cycle.outbox if not _raced(o, written, lost)]
            ids = await _insert_outbox(conn, outbox, now)
            await _save_state(conn, cycle.state)
        return CommitResult(
            history_written=len(written),
            touched=len(cycle.touched),
            outbox_ids=ids,
            events=len(events),
            reminders=len(cycle.reminders),
            legacy_matched=matched,
        )

    async def import_legacy(self, keys: Sequence[LegacyKey], now: float) -> tuple[int, int]:
        added = 0
        async with self._tx() as conn:
            for k in keys:
                cur = await conn.execute(
                    "INSERT INTO legacy_keys(key, source, site, notice_id, title, seen_at, imported_at) "
                    "SELECT %s, %s, %s, %s, %s, %s, %s WHERE NOT EXISTS (SELECT 1 FROM history WHERE key=%s) "
                    "ON CONFLICT (key) DO NOTHING",
                    (k.key, k.source, k.site, k.notice_id, k.title, k.seen_at, now, k.key),
                )
                added += cur.rowcount
        return added, len(keys) - added

    # --- reminders ---------------------------------------------------------------------
    async def reminders(self, notice_keys: Iterable[str]) -> list[ReminderRow]:
        rows = await self._rows(
            "SELECT * FROM reminders WHERE notice_key = ANY(%s) ORDER BY notice_key, route, sale, "
            "offset_min DESC",
            (list(dict.fromkeys(notice_keys)),),
        )
        return [ReminderRow(**r) for r in rows]

    async def due_reminders(self, now: float, limit: int = 200) -> list[DueReminder]:
        rows = await self._rows(PG.sql(Q.DUE_REMINDERS), (now, limit))
        return [DueReminder(**r) for r in rows]

    async def next_reminder_due(self) -> float | None:
        value = await self._value(Q.NEXT_REMINDER_DUE)
        return None if value is None else float(value)

    async def settle_reminders(
        self, now: float, *, queued: Sequence[int], skipped: Sequence[int], outbox: Sequence[NewOutboxRow]
    ) -> tuple[int, ...]:
        """One transaction. Replicas run the due loop side by side: the rows are locked, and when
        another replica settled any of them first, nothing is written (those it settled went out
        with it; the rest stay pending for the next round) — a reminder is never queued twice."""
        ids = [*queued, *skipped]
        async with self._tx() as conn:
            if ids:
                cur = await conn.execute(
                    "SELECT id FROM reminders WHERE id = ANY(%s) AND status='pending' FOR UPDATE", (ids,)
                )
                if len(await cur.fetchall()) != len(set(ids)):
                    return ()
            new_ids = await _insert_outbox(conn, outbox, now)
            for status, group in (("queued", queued), ("skipped", skipped)):
                if group:
                    await conn.execute(
                        "UPDATE reminders SET status=%s, updated_at=%s WHERE id = ANY(%s)",
                        (status, now, list(group)),
                    )
        return new_ids

    # --- outbox ------------------------------------------------------------------------
    async def enqueue(self, rows: Sequence[NewOutboxRow], now: float) -> tuple[int, ...]:
        async with self._tx() as conn:
            return await _insert_outbox(conn, rows, now)

    async def claim(
        self, route: str, now: float, *, owner: str, lease_seconds: float, limit: int = 50
    ) -> list[OutboxItem]:
        async with self._tx() as conn:
            cur = await conn.execute(
                "WITH picked AS (SELECT id FROM outbox WHERE route=%(route)s AND status='pending' "
                "AND next_attempt_at <= %(now)s "
                "AND (lease_until IS NULL OR lease_until <= %(now)s OR lease_owner = %(owner)s) "
                "ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
                "UPDATE outbox o SET lease_owner=%(owner)s, lease_until=%(until)s FROM picked "
                "WHERE o.id = picked.id RETURNING o.id, o.route, o.kind, o.site, o.notice_key, o.payload, "
                "o.attempts, o.created_at",
                {"route": route, "now": now, "limit": limit, "owner": owner, "until": now + lease_seconds},
            )
            rows = await cur.fetchall()
        return sorted((Q.outbox_item(r) for r in rows), key=lambda item: item.id)

    async def renew(self, ids: Sequence[int], now: float, *, owner: str, lease_seconds: float) -> int:
        if not ids:
            return 0
        async with self._tx("lease renewal") as conn:
            return (await conn.execute(*Q.renew(PG, ids, now + lease_seconds, owner))).rowcount

    async def settle(self, ids: Sequence[int], outcome: Settlement, now: float) -> int:
        if not ids:
            return 0
        async with self._tx() as conn:
            return (await conn.execute(*Q.settle(PG, ids, policy.settlement(outcome, now)))).rowcount

    async def next_due(self, route: str) -> float | None:
        value = await self._value(PG.sql(Q.NEXT_DUE), (route,))
        return None if value is None else float(value)

    async def outbox_stats(self) -> OutboxStats:
        stats = OutboxStats()
        for r in await self._rows(Q.OUTBOX_BY_STATUS):
            setattr(stats, r["status"], int(r["n"]))
        oldest = await self._value(Q.OLDEST_PENDING)
        stats.oldest_pending = None if oldest is None else float(oldest)
        for r in await self._rows(PG.sql(Q.PENDING_BY_ROUTE)):
            stats.by_route[r["route"]] = int(r["n"])
        return stats

    async def outbox_list(
        self, *, status: str | None = None, route: str | None = None, since: float | None = None
    ) -> list[OutboxRow]:
        return [Q.outbox_row(r) for r in await self._rows(*Q.outbox_list(PG, status, route, since))]

    async def notice_outbox(self, key: str) -> list[OutboxRow]:
        return [Q.outbox_row(r) for r in await self._rows(PG.sql(Q.NOTICE_OUTBOX), (key,))]

    async def recent_alerts(self, limit: int = 20) -> list[RecentAlert]:
        return [RecentAlert(**r) for r in await self._rows(PG.sql(Q.RECENT_ALERTS), (limit,))]

    async def retry_dead(self, *, route: str | None, since: float | None, now: float) -> int:
        async with self._tx() as conn:
            return (await conn.execute(*Q.retry_dead(PG, route, since, now))).rowcount

    # --- site state --------------------------------------------------------------------
    async def site_state(self, site: str) -> SiteState:
        rows = await self._rows(PG.sql(Q.SITE_STATE), (site,))
        return SiteState(**rows[0]) if rows else SiteState(site)

    async def all_site_states(self) -> list[SiteState]:
        return [SiteState(**r) for r in await self._rows(Q.ALL_SITE_STATES)]

    async def save_site_state(self, state: SiteState) -> None:
        async with self._tx() as conn:
            await _save_state(conn, state)

    async def head_state(self, site: str) -> HeadState:
        raw = await self.get_meta(HeadState(site).meta_key)
        if not raw:
            return HeadState(site)
        try:
            data = json.loads(raw)
            return HeadState(site, **{k: v for k, v in data.items() if k in HeadState.__dataclass_fields__})
        except (ValueError, TypeError, AttributeError):
            return HeadState(site)

    async def save_head_state(self, state: HeadState) -> None:
        data = {k: v for k, v in asdict(state).items() if k != "site"}
        await self.set_meta(state.meta_key, json.dumps(data))

    # --- webhooks ----------------------------------------------------------------------
    async def mark_webhook_broken(
        self, route: str, reason: str, now: float, fingerprint: str | None = None
    ) -> None:
        async with self._tx() as conn:
            await conn.execute(PG.sql(Q.UPSERT_WEBHOOK), (route, reason, now))
            await conn.execute(PG.sql(Q.DELETE_META), (Q.WEBHOOK_URL_META + route,))
            if fingerprint:
                await conn.execute(PG.sql(Q.SET_META), (Q.WEBHOOK_URL_META + route, fingerprint))

    async def clear_webhook_broken(self, route: str) -> None:
        async with self._tx() as conn:
            await conn.execute(PG.sql(Q.CLEAR_WEBHOOK), (route,))
            await conn.execute(PG.sql(Q.DELETE_META), (Q.WEBHOOK_URL_META + route,))

    async def broken_webhooks(self) -> dict[str, str]:
        return {r["route"]: r["broken_reason"] for r in await self._rows(Q.BROKEN_WEBHOOKS)}

    async def broken_webhook_fingerprints(self) -> dict[str, str]:
        rows = await self._rows(PG.sql(Q.WEBHOOK_FINGERPRINTS))
        return {r["key"].removeprefix(Q.WEBHOOK_URL_META): r["value"] for r in rows}

    # --- meta --------------------------------------------------------------------------
    async def get_meta(self, key: str) -> str | None:
        return await self._value(PG.sql(Q.GET_META), (key,))

    async def set_meta(self, key: str, value: str) -> None:
        async with self._tx() as conn:
            await conn.execute(PG.sql(Q.SET_META), (key, value))

    async def heartbeat(self, now: float) -> None:
        await self.set_meta(HEARTBEAT_META, repr(float(now)))

    async def last_heartbeat(self) -> float | None:
        raw = await self.get_meta(HEARTBEAT_META)
        try:
            return None if raw is None else float(raw)
        except ValueError:
            return None

    # --- HTTP cache --------------------------------------------------------------------
    async def cached_response(self, key: str) -> CachedResponse | None:
        rows = await self._rows(PG.sql(Q.CACHED_RESPONSE), (key,))
        if not rows:
            return None
        return CachedResponse(rows[0]["etag"], rows[0]["last_modified"], bytes(rows[0]["body"]))

    async def remember_response(
        self, key: str, etag: str | None, last_modified: str | None, body: bytes, now: float
    ) -> None:
        async with self._tx() as conn:
            await conn.execute(PG.sql(Q.REMEMBER_RESPONSE), (key, etag, last_modified, body, now))

    # --- notices' second pages (NoticeMemo) ----------------------------------------------
    async def notice_reads(self, site: str, ids: Sequence[str]) -> dict[str, NoticeRead]:
        where, params = PG.among("notice_id", list(dict.fromkeys(ids)))
        sql = PG.sql(f"SELECT {Q.NOTICE_READ_COLUMNS} FROM notice_reads WHERE site=? AND {where}")
        return {r["notice_id"]: NoticeRead(**r) for r in await self._rows(sql, (site, *params))}

    async def save_notice_reads(self, site: str, reads: Sequence[NoticeRead], now: float) -> None:
        if not reads:
            return
        async with self._tx() as conn, conn.cursor() as cur:
            await cur.executemany(
                PG.sql(Q.SAVE_NOTICE_READ),
                [
                    (site, r.notice_id, identity_key(site, r.notice_id), r.fingerprint, *_read_tail(r), now)
                    for r in reads
                ],
            )


def _raced(row: NewOutboxRow, written: dict[str, bool], lost: set[str]) -> bool:
    """A 'new' or 'change' alert whose history write another replica made first (it queued the alert)."""
    if row.notice_key is None or row.kind not in ("new", "change"):
        return False
    if row.notice_key in lost:
        return True
    return row.kind == "new" and row.notice_key in written and not written[row.notice_key]


async def _insert_outbox(
    conn: psycopg.AsyncConnection[Any], rows: Sequence[NewOutboxRow], now: float
) -> tuple[int, ...]:
    ids: list[int] = []
    for o in rows:
        cur = await conn.execute(
            PG.sql(Q.INSERT_OUTBOX), (o.route, o.kind, o.site, o.notice_key, _json(o.payload), now, now)
        )
        row = await cur.fetchone()
        assert row is not None
        ids.append(int(row["id"]))
    return tuple(ids)


async def _upsert_reminder(conn: psycopg.AsyncConnection[Any], r: ReminderRow) -> None:
    await conn.execute(PG.sql(Q.UPSERT_REMINDER), [getattr(r, c) for c in Q.REMINDER_COLUMNS])


async def _save_state(conn: psycopg.AsyncConnection[Any], s: SiteState) -> None:
    await conn.execute(PG.sql(Q.UPSERT_SITE_STATE), Q.site_state_params(s))


def _read_tail(read: NoticeRead) -> tuple[str | None, str | None, int, float | None]:
    return read.payload, read.error, read.failures, read.retry_at
