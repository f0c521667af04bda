"""The in-memory store: the same contract as SQLite, kept in dicts (tests, dry runs, a model of it).

Nothing survives the process. Every call is atomic (no await inside a method), which is what
the contract asks of a transaction. Rows are copied in and out, so a caller mutating what it got
never changes what is stored.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

import ticket_alarm.store.policy as policy  # the module, not the package (store/__init__ imports us)
from ticket_alarm.core.model import identity_key
from ticket_alarm.core.notice_memo import NoticeRead
from ticket_alarm.errors import StoreError, StoreLockedError
from ticket_alarm.fetch.conditional import CachedResponse
from ticket_alarm.store.api import (
    CommitResult,
    Cycle,
    DigestLogRow,
    DueReminder,
    LegacyKey,
    NewOutboxRow,
    NoticeRow,
    OutboxItem,
    OutboxRow,
    OutboxStats,
    Post,
    PruneResult,
    ReminderRow,
    Seen,
    Sent,
    Settlement,
    SiteState,
    reminder_key,
)
from ticket_alarm.store.memory_reads import MemoryReads, _Data, _Legacy
from ticket_alarm.store.memory_shows import MemoryShows
from ticket_alarm.store.meta import MetaRecords

SCHEMA_VERSION = 1


_LEASES: dict[str, threading.Lock] = {}  # name → lock: one process-wide lease per memory store name
_LEASES_GUARD = threading.Lock()


class MemoryLease:
    def __init__(self, name: str) -> None:
        self.name = name
        self._held = False

    def acquire(self) -> None:
        with _LEASES_GUARD:
            lock = _LEASES.setdefault(self.name, threading.Lock())
        if not lock.acquire(blocking=False):
            raise StoreLockedError(f"another ticket-alarm instance holds the memory store {self.name!r}.")
        self._held = True

    def release(self) -> None:
        if self._held:
            _LEASES[self.name].release()
            self._held = False


class MemoryStore(MemoryReads, MemoryShows, MetaRecords):
    """``api.Store`` in memory."""

    _names = itertools.count(1)

    def __init__(self, name: str | None = None) -> None:
        self.location = f"memory:{name or next(self._names)}"
        self.readonly = False
        self._d = _Data()

    def lease(self) -> MemoryLease:
        return MemoryLease(self.location)

    async def close(self) -> None:
        return None

    # --- history -----------------------------------------------------------------------------
    async def seen(self, keys: Iterable[str]) -> dict[str, Seen]:
        out = {}
        for key in keys:
            row = self._d.history.get(key)
            if row is not None:
                out[key] = Seen(
                    key, row.digest, copy.deepcopy(row.ticket), row.pending_digest, row.pending_cycles
                )
        return out

    async def commit_cycle(self, cycle: Cycle) -> CommitResult:
        _check_json(cycle.outbox)
        d, now = self._d, cycle.now
        history = dict(d.history)
        for p in cycle.pending:
            row = history.get(p.key)
            if row is not None:
                history[p.key] = replace(
                    row,
                    pending_digest=p.digest,
                    pending_ticket=copy.deepcopy(p.ticket) if p.ticket else None,
                    pending_cycles=p.cycles,
                )
        events = [
            DigestLogRow(e.key, e.event, e.digest, copy.deepcopy(e.ticket), id=0, at=now)
            for e in cycle.events
        ]
        for h in cycle.history:
            old = history.get(h.key)
            if old is None:
                history[h.key] = NoticeRow(
                    h.key, h.digest, h.site, h.notice_id, h.title, copy.deepcopy(h.ticket), now, now
                )
            else:
                history[h.key] = replace(
                    old, digest=h.digest, title=h.title, ticket=copy.deepcopy(h.ticket), last_seen=now
                )
        for key in cycle.touched:
            if key in history:
                history[key] = replace(history[key], last_seen=now)
        # nothing can fail from here on: apply
        d.history = history
        d.digest_log += [replace(e, id=next(d.ids)) for e in events]
        for r in cycle.reminders:
            rkey = reminder_key(r)
            old_id = d.reminders[rkey].id if rkey in d.reminders else next(d.ids)
            d.reminders[rkey] = replace(r, id=old_id)
        ids = self._insert(cycle.outbox, now)
        for key in cycle.legacy_matched:
            if key in d.legacy and d.legacy[key].matched_at is None:
                d.legacy[key].matched_at = now
        self._link_new(cycle.shows)
        d.site_state[cycle.site] = copy.copy(cycle.state)
        return CommitResult(
            len(cycle.history),
            len(cycle.touched),
            ids,
            len(cycle.events),
            len(cycle.reminders),
            len(cycle.legacy_matched),
        )

    async def import_legacy(self, keys: Sequence[LegacyKey], now: float) -> tuple[int, int]:
        added = 0
        for k in keys:
            if k.key not in self._d.legacy and k.key not in self._d.history:
                self._d.legacy[k.key] = _Legacy(k, now)
                added += 1
        return added, len(keys) - added

    # --- reminders ---------------------------------------------------------------------------
    async def reminders(self, notice_keys: Iterable[str]) -> list[ReminderRow]:
        wanted = set(notice_keys)
        rows = [r for r in self._d.reminders.values() if r.notice_key in wanted]
        return sorted(rows, key=lambda r: (r.notice_key, r.route, r.sale, -r.offset_min))

    async def due_reminders(self, now: float, limit: int = 200) -> list[DueReminder]:
        rows = sorted(
            (r for r in self._d.reminders.values() if r.status == "pending" and r.due_at <= now),
            key=lambda r: (r.due_at, r.id),
        )
        return rows[:limit]

    async def next_reminder_due(self) -> float | None:
        due = [r.due_at for r in self._d.reminders.values() if r.status == "pending"]
        return min(due) if due else None

    async def settle_reminders(
        self, now: float, *, queued: Sequence[int], skipped: Sequence[int], outbox: Sequence[NewOutboxRow]
    ) -> tuple[int, ...]:
        _check_json(outbox)
        ids = self._insert(outbox, now)
        status = {**{i: "skipped" for i in skipped}, **{i: "queued" for i in queued}}
        for key, r in list(self._d.reminders.items()):
            if r.id in status:
                self._d.reminders[key] = replace(r, status=status[r.id], updated_at=now)
        return ids

    # --- outbox ------------------------------------------------------------------------------
    def _insert(self, rows: Sequence[NewOutboxRow], now: float) -> tuple[int, ...]:
        ids = []
        for o in rows:
            i = next(self._d.ids)
            payload = copy.deepcopy(o.payload)
            self._d.outbox[i] = OutboxRow(
                o.route,
                o.kind,
                o.site,
                o.notice_key,
                payload,
                id=i,
                attempts=0,
                created_at=now,
                status="pending",
                next_attempt_at=now,
            )
            ids.append(i)
        return tuple(ids)

    async def enqueue(self, rows: Sequence[NewOutboxRow], now: float) -> tuple[int, ...]:
        _check_json(rows)
        return self._insert(rows, now)

    async def claim(
        self, route: str, now: float, *, owner: str, lease_seconds: float, limit: int = 50
    ) -> list[OutboxItem]:
        out: list[OutboxItem] = []
        for i in sorted(self._d.outbox):
            r = self._d.outbox[i]
            if len(out) >= limit:
                break
            due = policy.claimable(r, now=now, owner=owner)
            if r.route == route and due:
                self._d.outbox[i] = replace(r, lease_owner=owner, lease_until=now + lease_seconds)
                out.append(
                    OutboxItem(
                        r.route,
                        r.kind,
                        r.site,
                        r.notice_key,
                        copy.deepcopy(r.payload),
                        id=r.id,
                        attempts=r.attempts,
                        created_at=r.created_at,
                    )
                )
        return out

    async def renew(self, ids: Sequence[int], now: float, *, owner: str, lease_seconds: float) -> int:
        renewed = 0
        for i in set(ids):
            r = self._d.outbox.get(i)
            if r is not None and r.status == "pending" and r.lease_owner == owner:
                self._d.outbox[i] = replace(r, lease_until=now + lease_seconds)
                renewed += 1
        return renewed

    async def settle(self, ids: Sequence[int], outcome: Settlement, now: float) -> int:
        move = policy.settlement(outcome, now)
        posts = outcome.posts if isinstance(outcome, Sent) else ()
        for post in posts:  # JSON, as the SQL backends store it: refused before anything is written
            _check_json([NewOutboxRow(post.route, "post", "", post.notice_key, post.alert)])
        changed = 0
        for i in ids:
            r = self._d.outbox.get(i)
            if r is None or (move.only_pending and r.status != "pending"):
                continue
            self._d.outbox[i] = replace(r, attempts=r.attempts + move.attempts, **move.columns)
            changed += 1
        for post in posts:
            self._d.posts[(post.route, post.outbox_id)] = replace(copy.deepcopy(post), posted_at=now)
        return changed

    async def posts(
        self,
        route: str,
        *,
        notice_keys: Iterable[str] = (),
        message_ids: Iterable[str] = (),
        outbox_ids: Iterable[int] = (),
        since: float | None = None,
    ) -> list[Post]:
        keys, messages, ids = set(notice_keys), set(message_ids), set(outbox_ids)
        return [
            copy.deepcopy(p)
            for (r, _), p in sorted(self._d.posts.items())
            if r == route
            and (
                p.notice_key in keys
                or p.message_id in messages
                or p.outbox_id in ids
                or (since is not None and p.posted_at >= since)
            )
        ]

    async def next_due(self, route: str) -> float | None:
        due = [
            r.next_attempt_at for r in self._d.outbox.values() if r.route == route and r.status == "pending"
        ]
        return min(due) if due else None

    async def outbox_stats(self) -> OutboxStats:
        stats = OutboxStats()
        pending = []
        for r in self._d.outbox.values():
            setattr(stats, r.status, getattr(stats, r.status) + 1)
            if r.status == "pending":
                pending += [r.created_at] if policy.late(r) else []
                stats.by_route[r.route] = stats.by_route.get(r.route, 0) + 1
        stats.oldest_pending = min(pending) if pending else None
        return stats

    async def outbox_list(
        self, *, status: str | None = None, route: str | None = None, since: float | None = None
    ) -> list[OutboxRow]:
        return [
            copy.deepcopy(r)
            for _, r in sorted(self._d.outbox.items())
            if (status is None or r.status == status)
            and (route is None or r.route == route)
            and (since is None or r.created_at >= since)
        ]

    async def retry_dead(self, *, route: str | None, since: float | None, now: float) -> int:
        n = 0
        for i, r in list(self._d.outbox.items()):
            if (
                r.status == "dead"
                and (route is None or r.route == route)
                and (since is None or r.created_at >= since)
            ):
                self._d.outbox[i] = replace(r, **policy.revived(now))
                n += 1
        return n

    # --- site state --------------------------------------------------------------------------
    async def site_state(self, site: str) -> SiteState:
        state = self._d.site_state.get(site)
        return copy.copy(state) if state else SiteState(site)

    async def all_site_states(self) -> list[SiteState]:
        return [copy.copy(self._d.site_state[s]) for s in sorted(self._d.site_state)]

    async def save_site_state(self, state: SiteState) -> None:
        self._d.site_state[state.site] = copy.copy(state)

    # --- webhooks, meta, HTTP cache ------------------------------------------------------------
    async def mark_webhook_broken(
        self, route: str, reason: str, now: float, fingerprint: str | None = None
    ) -> None:
        self._d.webhooks[route] = (reason, now)
        self._d.meta.pop(f"webhook_url:{route}", None)
        if fingerprint:
            self._d.meta[f"webhook_url:{route}"] = fingerprint

    async def clear_webhook_broken(self, route: str) -> None:
        self._d.webhooks.pop(route, None)
        self._d.meta.pop(f"webhook_url:{route}", None)

    async def broken_webhooks(self) -> dict[str, str]:
        return {route: reason for route, (reason, _) in self._d.webhooks.items()}

    async def broken_webhook_fingerprints(self) -> dict[str, str]:
        prefix = "webhook_url:"
        return {k.removeprefix(prefix): v for k, v in self._d.meta.items() if k.startswith(prefix)}

    async def get_meta(self, key: str) -> str | None:
        return self._d.meta.get(key)

    async def set_meta(self, key: str, value: str) -> None:
        self._d.meta[key] = value

    async def cached_response(self, key: str) -> CachedResponse | None:
        item = self._d.cache.get(key)
        return item[0] if item else None

    async def remember_response(
        self, key: str, etag: str | None, last_modified: str | None, body: bytes, now: float
    ) -> None:
        self._d.cache[key] = (CachedResponse(etag, last_modified, bytes(body)), now)

    async def notice_reads(self, site: str, ids: Sequence[str]) -> dict[str, NoticeRead]:
        reads = self._d.notice_reads
        return {i: reads[(site, i)][0] for i in ids if (site, i) in reads}

    async def save_notice_reads(self, site: str, reads: Sequence[NoticeRead], now: float) -> None:
        for read in reads:
            self._d.notice_reads[(site, read.notice_id)] = (read, now)

    # --- maintenance ---------------------------------------------------------------------------
    async def migrate(self) -> int:
        return SCHEMA_VERSION

    async def schema_version(self) -> int:
        return SCHEMA_VERSION

    async def check(self) -> bool:
        return True

    async def backup(self, dest: Path) -> None:
        import pickle

        try:
            dest.write_bytes(pickle.dumps(self._d))
        except OSError as exc:
            raise StoreError(f"{self.location}: backup to {dest} failed ({exc.strerror}).") from exc

    async def restore(self, src: Path) -> None:
        import pickle

        try:
            data = pickle.loads(src.read_bytes())
        except (OSError, pickle.UnpicklingError, EOFError) as exc:
            raise StoreError(f"{self.location}: restore from {src} failed ({exc}).") from exc
        self._d = data

    async def prune(self, now: float, retention_days: float) -> PruneResult:
        cutoff = policy.cutoff(now, retention_days)
        d = self._d
        sent = [
            i
            for i, r in d.outbox.items()
            if r.status == "sent" and r.sent_at is not None and r.sent_at < cutoff
        ]
        for i in sent:
            del d.outbox[i]
        held = {k for k, r in d.history.items() if r.pending_digest is not None}
        before = len(d.digest_log)
        d.digest_log = [e for e in d.digest_log if e.at >= cutoff or e.key in held]
        stale = [k for k, (_, at) in d.cache.items() if at < cutoff]
        for k in stale:
            del d.cache[k]
        done = [
            k
            for k, r in d.reminders.items()
            if r.status in policy.PRUNABLE_REMINDERS and r.updated_at < cutoff
        ]
        for rkey in done:
            del d.reminders[rkey]
        listed = {k for k, r in d.history.items() if r.last_seen >= cutoff}
        gone = [
            (site, i)
            for (site, i), (_, at) in d.notice_reads.items()
            if at < cutoff and identity_key(site, i) not in listed
        ]
        for nkey in gone:
            del d.notice_reads[nkey]
        old_posts = [k for k, p in d.posts.items() if p.posted_at < cutoff]
        for pkey in old_posts:
            del d.posts[pkey]
        return PruneResult(
            len(sent), before - len(d.digest_log), len(stale), len(done), len(gone), len(old_posts)
        )


def _check_json(rows: Sequence[NewOutboxRow]) -> None:
    """A payload must be JSON (the SQLite backend stores it as text): refused the same way here."""
    for o in rows:
        try:
            json.dumps(o.payload, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"outbox payload of route {o.route!r} is not JSON ({exc}).") from exc


__all__ = ["MemoryLease", "MemoryStore"]
