"""The store a config names: ``store_url`` (PostgreSQL, shared by replicas), else the SQLite file in
``data_dir`` — the async store (``ticket_alarm.store.api.Store``) every one-shot command awaits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ticket_alarm.store import open_store
from ticket_alarm.store.api import Store

if TYPE_CHECKING:
    from ticket_alarm.config.settings import Settings


async def open_configured_store(settings: Settings, *, readonly: bool = False) -> Store:
    """Open it now: SQLite opens at once; PostgreSQL connects (and, not read-only, migrates) here, so
    a wrong store_url fails with its own StoreError before the command reads anything. ``readonly``
    never creates a store (SQLite: no file; PostgreSQL: a read-only session, no migration)."""
    store = open_store(settings.store_url or settings.data_dir, readonly=readonly, data_dir=settings.data_dir)
    if settings.store_url:
        try:
            await store.schema_version()  # its first call connects and checks (or migrates) the schema
        except BaseException:
            await store.close()
            raise
    return store
