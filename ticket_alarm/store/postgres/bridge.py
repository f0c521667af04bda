"""The PostgreSQL store for today's synchronous callers (pipeline, delivery, reminders, health, …).

Those callers still call the store the way they call the SQLite engine (``record``, ``pending``,
``mark_sent`` …, synchronously). Until they await the async protocols themselves, this bridge
gives them the PostgreSQL store: its own event loop on one worker thread runs every call, and the
caller waits for the answer (a round trip of a few milliseconds on a LAN).

Replicas need one thing the engine's ``pending`` does not do: rows handed to a delivery lane are
CLAIMED (``FOR UPDATE SKIP LOCKED`` + a lease owned by this replica), so another replica never gets
them. A lane may leave claimed rows unsent for a while (a rate limit, the rest of a batch): the bridge
keeps them as this replica's own, hands them out again first, and renews their lease before it
runs out; settling (sent / retry / dead) releases them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ticket_alarm.errors import StoreError
from ticket_alarm.store.api import (
    CommitResult,
    Cycle,
    Dead,
    DigestEvent,
    HistoryRow,
    NewOutboxRow,
    OutboxItem,
    PendingChange,
    ReminderRow,
    Retry,
    Sent,
    SiteState,
)
from ticket_alarm.store.postgres.engine import PostgresStore
from ticket_alarm.store.replicas import replica_identity

T = TypeVar("T")
CLAIM_LEASE = 60.0  # seconds a claimed outbox row stays this replica's without being renewed (default)
# at least a post in flight (the Discord client's 15 s timeout) and a margin: a lease shorter than a
# post could let another replica post the same row while the first is still waiting for Discord
MIN_CLAIM_LEASE = 20.0


class SyncPostgresStore:
    """Every protocol method of :class:`PostgresStore`, called synchronously, plus the engine's names."""

    def __init__(self, store: PostgresStore, owner: str) -> None:
        self.async_store = store
        self.owner = owner or replica_identity(store.data_dir)[0]
        self.location = store.location
        self.path = store.location  # what the callers print as "the store"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="postgres-store", daemon=True)
        self._thread.start()
        self.claim_lease = CLAIM_LEASE
        self._held: dict[str, dict[int, tuple[OutboxItem, float]]] = {}  # lane -> id -> (item, lease end)
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.async_store, name)
        if not callable(method) or not asyncio.iscoroutinefunction(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.run(method(*args, **kwargs))

        return call

    # --- the engine's names ----------------------------------------------------------------
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
        cycle = Cycle(site, now, state, history, touched, outbox, pending, events, reminders, legacy_matched)
        return self.run(self.async_store.commit_cycle(cycle))

    def pending(self, route: str, now: float, limit: int = 50) -> list[OutboxItem]:
        """Due rows of ``route`` for this replica: the ones it holds first, then newly claimed ones."""
        with self._lock:
            held = self._held.setdefault(route, {})
            stale = [i for i, (_, until) in held.items() if until - now < self.claim_lease / 2]
        if stale:  # renew before the lease can run out under a row we still mean to send
            kept = set(self.run(self.async_store.extend_claims(stale, self.owner, now, self.claim_lease)))
            with self._lock:
                for i in stale:
                    if i in kept:
                        held[i] = (held[i][0], now + self.claim_lease)
                    else:
                        held.pop(i, None)
        with self._lock:
            items = [item for item, _ in held.values()]
        if len(items) < limit:
            claimed = self.run(
                self.async_store.claim(
                    route, now, owner=self.owner, lease_seconds=self.claim_lease, limit=limit - len(items)
                )
            )
            with self._lock:
                for item in claimed:
                    held[item.id] = (item, now + self.claim_lease)
            items += claimed
        unique = {item.id: item for item in items}  # an owner's claim also returns the rows it holds
        return sorted(unique.values(), key=lambda item: item.id)[:limit]

    def _settled(self, ids: Iterable[int]) -> None:
        with self._lock:
            for held in self._held.values():
                for i in ids:
                    held.pop(i, None)

    def mark_sent(self, ids: Sequence[int], now: float, message_id: str | None) -> None:
        self.run(self.async_store.settle(ids, Sent(message_id), now))
        self._settled(ids)

    def mark_retry(
        self, ids: Sequence[int], error: str, next_attempt_at: float, *, count: bool = True
    ) -> None:
        self.run(self.async_store.settle(ids, Retry(error, next_attempt_at, count), time.time()))
        self._settled(ids)

    def mark_dead(self, ids: Sequence[int], error: str) -> None:
        self.run(self.async_store.settle(ids, Dead(error), time.time()))
        self._settled(ids)

    def remember_response(
        self, key: str, etag: str | None, last_modified: str | None, body: bytes, now: float | None = None
    ) -> None:
        self.run(self.async_store.remember_response(key, etag, last_modified, body, now or time.time()))

    def backup_to(self, dest: Path) -> None:
        self.run(self.async_store.backup(dest))

    def integrity_ok(self) -> bool:
        return self.run(self.async_store.check())

    def has_table(self, name: str) -> bool:
        return True  # every table exists from the first migration on

    def close(self) -> None:
        if self._loop.is_closed():  # closed already
            return
        try:
            if not self.async_store.readonly:  # a clean stop: another replica may send them at once
                with contextlib.suppress(StoreError):
                    self.run(self.async_store.release_claims(self.owner))
            self.run(self.async_store.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()


class BridgedReplicas:
    """:class:`PostgresReplicas` driven from the daemon's event loop through the bridge's loop."""

    shared = True

    def __init__(self, bridge: SyncPostgresStore, replicas: Any) -> None:
        self._bridge = bridge
        self._replicas = replicas
        self.replica_id: str = replicas.replica_id
        self.renew_every: float = replicas.renew_every

    async def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._bridge._loop))

    def owns(self, site: str) -> bool:
        return bool(self._replicas.owns(site))

    async def renew(self, sites: Sequence[str]) -> set[str]:
        return set(await self._call(self._replicas.renew(sites)))

    async def release(self) -> None:
        await self._call(self._replicas.release())

    async def replicas(self) -> list[Any]:
        return list(await self._call(self._replicas.replicas()))

    async def leases(self) -> list[Any]:
        return list(await self._call(self._replicas.leases()))


def open_bridged(url: str, data_dir: Path, *, readonly: bool = False) -> SyncPostgresStore:
    """The PostgreSQL store for the synchronous callers (connected and migrated: StoreError if not)."""
    store = PostgresStore(url, readonly=readonly, data_dir=data_dir)
    bridge = SyncPostgresStore(store, owner="")
    try:
        bridge.run(store._ensure_open())
    except BaseException:
        bridge.close()
        raise
    return bridge


def replicas_for(bridge: SyncPostgresStore, data_dir: Path, lease_seconds: float) -> BridgedReplicas:
    """This replica's site leases; its id is also the owner of the outbox rows it claims."""
    from ticket_alarm.store.postgres.replicas import PostgresReplicas

    replicas = PostgresReplicas(bridge.async_store, data_dir, lease_seconds=lease_seconds)
    bridge.owner = replicas.replica_id
    bridge.claim_lease = max(2 * lease_seconds, MIN_CLAIM_LEASE)
    return BridgedReplicas(bridge, replicas)
