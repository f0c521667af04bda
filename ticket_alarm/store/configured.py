"""The store a config names: ``store_url`` (PostgreSQL, shared by replicas), else the SQLite file in
``data_dir`` — for the commands that still call the store synchronously (the engine's methods)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ticket_alarm.store.sqlite.engine import DB_NAME, Store

if TYPE_CHECKING:
    from ticket_alarm.config import Settings


def open_configured_store(settings: Settings, *, readonly: bool = False) -> Store:
    if settings.store_url:
        from ticket_alarm.store.postgres.bridge import open_bridged

        store: Any = open_bridged(settings.store_url, settings.data_dir, readonly=readonly)
        return store  # the engine's methods over PostgreSQL (a bridge until callers await the protocols)
    if readonly:
        return Store.open_readonly(settings.data_dir / DB_NAME)
    return Store.open_dir(settings.data_dir)
