"""The store: protocols and typed rows in ``api``; backends ``memory`` and ``sqlite``.

``open_store(url_or_data_dir)`` is the one way in: a data_dir (path) or ``sqlite:///DIR`` opens
the SQLite file in that directory, ``sqlite:///FILE.sqlite3`` that file, ``memory:`` a fresh
in-memory store, ``postgresql://…`` the server backend (``ticket_alarm.store.postgres``).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ticket_alarm.errors import StoreError
from ticket_alarm.i18n import t
from ticket_alarm.store.api import *  # noqa: F403
from ticket_alarm.store.api import Store as StoreProtocol
from ticket_alarm.store.files import LOCK_NAME, STATUS_NAME, InstanceLock, StatusFile  # noqa: F401
from ticket_alarm.store.sqlite.connection import DB_NAME, SCHEMA_VERSION  # noqa: F401

SERVER_BACKENDS = {"postgres": "ticket_alarm.store.postgres", "postgresql": "ticket_alarm.store.postgres"}


def open_store(
    url_or_data_dir: str | Path, *, readonly: bool = False, data_dir: Path | None = None
) -> StoreProtocol:
    """Open the store a config names (``store_url``, else ``data_dir``); StoreError when it cannot.

    ``data_dir``: where a server backend's replica keeps its lease (SQLite's is its own folder)."""
    from ticket_alarm.store.memory import MemoryStore
    from ticket_alarm.store.sqlite.backend import SqliteStore

    if isinstance(url_or_data_dir, Path):
        target = url_or_data_dir
    else:
        text = str(url_or_data_dir)
        scheme, sep, rest = text.partition(":")
        if not sep or len(scheme) == 1:  # a plain path (a Windows drive letter is not a scheme)
            target = Path(text)
        elif scheme == "memory":
            return MemoryStore(rest.lstrip("/") or None)
        elif scheme == "sqlite":
            target = Path(rest.removeprefix("//"))
        elif scheme in SERVER_BACKENDS:
            try:
                module = importlib.import_module(SERVER_BACKENDS[scheme])
            except ImportError as exc:
                raise StoreError(t("store_url.not_installed", scheme=scheme, module=exc.name)) from None
            store: StoreProtocol = module.open_store(text, readonly=readonly, data_dir=data_dir)
            return store
        else:
            raise StoreError(t("store_url.unknown_scheme", scheme=scheme))
    if target.suffix in (".sqlite3", ".sqlite", ".db") and not target.is_dir():  # a data_dir may be x.db
        return SqliteStore.open_readonly(target) if readonly else SqliteStore.open_file(target)
    if readonly:
        return SqliteStore.open_readonly(target / DB_NAME)
    return SqliteStore.open_dir(target)
