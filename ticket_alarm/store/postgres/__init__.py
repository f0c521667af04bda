"""The PostgreSQL backend (``store_url = postgresql://…``): replicas on one database."""

from __future__ import annotations

from pathlib import Path

from ticket_alarm.store.postgres.engine import SCHEMA_VERSION, PostgresStore

__all__ = ["SCHEMA_VERSION", "PostgresStore", "open_store"]


def open_store(url: str, *, readonly: bool = False, data_dir: Path | None = None) -> PostgresStore:
    """The store at ``url``; it connects and migrates on its first call (StoreError when it cannot)."""
    return PostgresStore(url, readonly=readonly, data_dir=data_dir)
