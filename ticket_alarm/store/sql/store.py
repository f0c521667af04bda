"""The SQL store written once: ``api.Store`` for SQLite and PostgreSQL over the hooks of
:class:`ticket_alarm.store.sql.reads.SqlReads`, the rules from ``policy``, the statements from ``queries``.

A backend adds only what genuinely differs in logic: how it runs a read and a transaction (SQLite on
its worker thread, PostgreSQL through its pool), how a crawl's history rows are written
(:meth:`SqlStore._write_history`: PostgreSQL decides "new" inside the insert, for replicas racing),
``search_history`` (SQLite folds in SQL, PostgreSQL in Python), and the schema and the file or server
underneath (migrations, check, backup, restore, close).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import ticket_alarm.store.api as api  # the module, not the package (store/__init__ imports us)
import ticket_alarm.store.policy as policy  # the module, not the package (store/__init__ imports us)
from ticket_alarm.core.model import identity_key
from ticket_alarm.core.notice_memo import NoticeRead
from ticket_alarm.errors import StoreError
from ticket_alarm.i18n import t
from ticket_alarm.store.sql import queries as Q
from ticket_alarm.store.sql.reads import Txn
from ticket_alarm.store.sql.shows import SqlShows, write_new_links


class SqlStore(SqlShows):
    """The writes of ``api.Store`` (each one transaction) on top of the reads."""

    async def _write_history(self, tx: Txn, rows: Sequence[api.HistoryRow], now: float) -> dict[str, bool]:
        """Insert or overwrite ``rows``; key → whether this transaction inserted it (True) or changed its
        digest (False). A key absent: another writer stored that digest first (it announced it)."""
        await tx.executemany(Q.UPSERT_HISTORY, [_history_params(h, now) for h in rows])
        return {h.key: True for h in rows}  # one writer at a time: what the cycle decided stands

    async def _each_chunk(self, tx: Txn, sql: str, column: str, values: Sequence[Any], *before: Any) -> int:
        """Run ``sql`` (``{among}``: ``column`` is one of ``values``) chunk by chunk; rows changed."""
        d, changed = self.dialect, 0
        for start in range(0, len(values), d.chunk):
            where, params = d.among(column, list(values[start : start + d.chunk]))
            changed += await tx.execute(sql.format(among=where), [*before, *params])
        return changed

    # --- history ---------------------------------------------------------------------------
    async def commit_cycle(self, cycle: api.Cycle) -> api.CommitResult:
        """One transaction: history, last_seen, held changes, events, reminders, alerts, the site state."""
        return await self._interact("write", lambda tx: self._commit(tx, cycle))

    async def _commit(self, tx: Txn, cycle: api.Cycle) -> api.CommitResult:
        now = cycle.now
        written = await self._write_history(tx, cycle.history, now)
        lost = {h.key for h in cycle.history} - set(written)  # another replica wrote it first
        await self._each_chunk(tx, Q.TOUCH_HISTORY, "key", cycle.touched, now)
        await tx.executemany(
            Q.SET_PENDING,
            [(p.digest, _json(p.ticket) if p.ticket else None, p.cycles, p.key) for p in cycle.pending],
        )
        events = [e for e in cycle.events if not (e.key in lost and e.event == "first")]
        await tx.executemany(
            Q.INSERT_EVENT, [(e.key, e.event, e.digest, _json(e.ticket), now) for e in events]
        )
        await tx.executemany(
            Q.UPSERT_REMINDER, [[getattr(r, c) for c in Q.REMINDER_COLUMNS] for r in cycle.reminders]
        )
        matched = await self._each_chunk(tx, Q.MATCH_LEGACY, "key", cycle.legacy_matched, now)
        ids = await _insert_outbox(tx, [o for o in cycle.outbox if not _raced(o, written, lost)], now)
        await write_new_links(tx, [s for s in cycle.shows if s.notice_key not in lost], now)
        await tx.execute(Q.UPSERT_SITE_STATE, Q.site_state_params(cycle.state))
        return api.CommitResult(
            len(written), len(cycle.touched), ids, len(events), len(cycle.reminders), matched
        )

    async def import_legacy(self, keys: Sequence[api.LegacyKey], now: float) -> tuple[int, int]:
        """One transaction: store legacy keys. Returns (added, already known: in history or imported)."""

        async def body(tx: Txn) -> int:
            params = [(k.key, k.source, k.site, k.notice_id, k.title, k.seen_at, now, k.key) for k in keys]
            return sum([await tx.execute(Q.IMPORT_LEGACY, p) for p in params])

        added = await self._interact("write", body)
        return added, len(keys) - added

    # --- reminders -------------------------------------------------------------------------
    async def settle_reminders(
        self,
        now: float,
        *,
        queued: Sequence[int],
        skipped: Sequence[int],
        outbox: Sequence[api.NewOutboxRow],
    ) -> tuple[int, ...]:
        """One transaction: enqueue the reminder messages and mark their rows queued/skipped. Replicas
        run the due loop side by side: the rows are locked, and when another replica settled any of them
        first, nothing is written (those it settled went out with it; the rest stay pending for the next
        round) — a reminder is never queued twice."""
        ids = [*queued, *skipped]

        async def body(tx: Txn) -> tuple[int, ...]:
            if ids and len(await tx.fetch(*Q.pending_reminders(self.dialect, ids))) != len(set(ids)):
                return ()
            new_ids = await _insert_outbox(tx, outbox, now)
            for status, group in (("queued", queued), ("skipped", skipped)):
                await self._each_chunk(tx, Q.SET_REMINDER_STATUS, "id", group, status, now)
            return new_ids

        return await self._interact("write", body)

    # --- outbox ----------------------------------------------------------------------------
    async def enqueue(self, rows: Sequence[api.NewOutboxRow], now: float) -> tuple[int, ...]:
        return await self._interact("write", lambda tx: _insert_outbox(tx, rows, now))

    async def claim(
        self, route: str, now: float, *, owner: str, lease_seconds: float, limit: int = 50
    ) -> list[api.OutboxItem]:
        """Due pending rows of ``route`` not leased to someone else, leased to ``owner`` (one transaction)."""

        async def body(tx: Txn) -> list[api.OutboxItem]:
            rows = await tx.fetch(*Q.claimable(self.dialect, route, now, owner, limit))
            ids = [r["id"] for r in rows]
            await self._each_chunk(tx, Q.LEASE, "id", ids, owner, now + lease_seconds)
            return sorted((Q.outbox_item(r) for r in rows), key=lambda item: item.id)

        return await self._interact("write", body)

    async def renew(self, ids: Sequence[int], now: float, *, owner: str, lease_seconds: float) -> int:
        """Extend ``owner``'s lease on those of ``ids`` it still holds (pending); how many."""
        if not ids:
            return 0
        sql, params = Q.renew(self.dialect, ids, now + lease_seconds, owner)
        return await self._interact("lease renewal", lambda tx: tx.execute(sql, params))

    async def settle(self, ids: Sequence[int], outcome: api.Settlement, now: float) -> int:
        posts = (
            [Q.post_params(p, _json(p.alert), now) for p in outcome.posts]
            if isinstance(outcome, api.Sent)
            else []
        )
        if not ids and not posts:
            return 0
        sql, params = Q.settle(self.dialect, ids, policy.settlement(outcome, now)) if ids else ("", [])

        async def body(tx: Txn) -> int:
            changed = await tx.execute(sql, params) if ids else 0
            if posts:  # the message that carries them, written with the rows it settles
                await tx.executemany(Q.UPSERT_POST, posts)
            return changed

        return await self._interact("write", body)

    async def retry_dead(self, *, route: str | None, since: float | None, now: float) -> int:
        """Queue dead letters again (``outbox retry-dead``): pending, due now, attempts reset."""
        sql, params = Q.retry_dead(route, since, now)
        return await self._interact("write", lambda tx: tx.execute(sql, params))

    # --- site state, webhooks, meta, HTTP cache, notices' second pages ---------------------
    async def save_site_state(self, state: api.SiteState) -> None:
        await self._interact("write", lambda tx: tx.execute(Q.UPSERT_SITE_STATE, Q.site_state_params(state)))

    async def mark_webhook_broken(
        self, route: str, reason: str, now: float, fingerprint: str | None = None
    ) -> None:
        """``fingerprint`` (config.webhook_fingerprint of the URL) lets a changed URL clear the mark."""

        async def body(tx: Txn) -> None:
            await tx.execute(Q.UPSERT_WEBHOOK, (route, reason, now))
            await tx.execute(Q.DELETE_META, (Q.WEBHOOK_URL_META + route,))
            if fingerprint:
                await tx.execute(Q.SET_META, (Q.WEBHOOK_URL_META + route, fingerprint))

        await self._interact("write", body)

    async def clear_webhook_broken(self, route: str) -> None:
        async def body(tx: Txn) -> None:
            await tx.execute(Q.CLEAR_WEBHOOK, (route,))
            await tx.execute(Q.DELETE_META, (Q.WEBHOOK_URL_META + route,))

        await self._interact("write", body)

    async def set_meta(self, key: str, value: str) -> None:
        await self._interact("write", lambda tx: tx.execute(Q.SET_META, (key, value)))

    async def remember_response(
        self, key: str, etag: str | None, last_modified: str | None, body: bytes, now: float
    ) -> None:
        params = (key, etag, last_modified, body, now)
        await self._interact("write", lambda tx: tx.execute(Q.REMEMBER_RESPONSE, params))

    async def save_notice_reads(self, site: str, reads: Sequence[NoticeRead], now: float) -> None:
        rows = [
            (site, r.notice_id, identity_key(site, r.notice_id), r.fingerprint, *_read_tail(r), now)
            for r in reads
        ]
        if rows:
            await self._interact("write", lambda tx: tx.executemany(Q.SAVE_NOTICE_READ, rows))

    # --- maintenance -----------------------------------------------------------------------
    async def prune(self, now: float, retention_days: float) -> api.PruneResult:
        """Rows older than the retention (see api.Maintenance.prune); one transaction."""
        cutoff = policy.cutoff(now, retention_days)

        async def body(tx: Txn) -> api.PruneResult:
            return api.PruneResult(*[await tx.execute(sql, (cutoff,) * n) for sql, n in Q.PRUNE])

        return await self._interact("prune", body)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as exc:  # a bug upstream: nothing of the transaction is written
        raise StoreError(t("store.not_json", error=exc)) from None


def _history_params(h: api.HistoryRow, now: float) -> tuple[Any, ...]:
    return (h.key, h.digest, h.site, h.notice_id, h.title, _json(h.ticket), now, now)


def _raced(row: api.NewOutboxRow, written: dict[str, bool], lost: set[str]) -> bool:
    """A 'new' or 'change' alert whose history write another replica made first (it queued the alert)."""
    if row.notice_key is None or row.kind not in ("new", "change"):
        return False
    if row.notice_key in lost:
        return True
    return row.kind == "new" and row.notice_key in written and not written[row.notice_key]


async def _insert_outbox(tx: Txn, rows: Iterable[api.NewOutboxRow], now: float) -> tuple[int, ...]:
    ids = []
    for o in rows:
        try:
            payload = json.dumps(o.payload, ensure_ascii=False)
        except (TypeError, ValueError) as exc:  # rolled back by the transaction around us
            raise StoreError(t("store.payload_not_json", route=o.route, error=exc)) from exc
        (row,) = await tx.fetch(Q.INSERT_OUTBOX, (o.route, o.kind, o.site, o.notice_key, payload, now, now))
        ids.append(int(row["id"]))
    return tuple(ids)


def _read_tail(read: NoticeRead) -> tuple[str | None, str | None, int, float | None]:
    return read.payload, read.error, read.failures, read.retry_at
