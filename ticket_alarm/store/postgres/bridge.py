"""The PostgreSQL store for the readers that still call a store synchronously (health, explain,
history, outbox, upcoming, the status page's reader): its own event loop on one worker thread runs
every call of :class:`PostgresStore`, and the caller waits for the answer (one database round trip).
The daemon's parts (pipeline, delivery, reminders, site leases) await the PostgreSQL store itself."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from ticket_alarm.store.postgres.engine import PostgresStore

T = TypeVar("T")


class SyncPostgresStore:
    """Every protocol method of :class:`PostgresStore`, called synchronously, plus the engine's names
    the readers use."""

    def __init__(self, store: PostgresStore) -> None:
        self.async_store = store
        self.location = store.location
        self.path = store.location  # what the callers print as "the store"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="postgres-store", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.async_store, name)
        if not callable(method) or not asyncio.iscoroutinefunction(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.run(method(*args, **kwargs))

        return call

    # --- the engine's names the readers use ------------------------------------------------
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
            self.run(self.async_store.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()


def open_bridged(url: str, data_dir: Path, *, readonly: bool = False) -> SyncPostgresStore:
    """The PostgreSQL store for the synchronous callers (connected and migrated: StoreError if not)."""
    store = PostgresStore(url, readonly=readonly, data_dir=data_dir)
    bridge = SyncPostgresStore(store)
    try:
        bridge.run(store._ensure_open())
    except BaseException:
        bridge.close()
        raise
    return bridge
