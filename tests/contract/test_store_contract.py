"""The store contract (tests/contract/store_contract.py) against every backend.

A new backend is one more entry in ``BACKENDS``: a function of (tmp_path, the fixture request)
returning (store, second handle on the same data, cleanup). PostgreSQL runs on the session's
throwaway server (tests/support/postgres.py), a fresh database per test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.contract.show_contract import *  # noqa: F403
from tests.contract.store_contract import *  # noqa: F403
from ticket_alarm.store.api import Store
from ticket_alarm.store.memory import MemoryStore
from ticket_alarm.store.postgres import PostgresStore
from ticket_alarm.store.sqlite.backend import SqliteStore

Opened = tuple[Store, Store, Callable[[], Awaitable[None]]]


async def _memory(tmp_path: Path, request: pytest.FixtureRequest) -> Opened:
    store = MemoryStore()

    async def close() -> None:
        await store.close()

    return store, store, close


async def _sqlite(tmp_path: Path, request: pytest.FixtureRequest) -> Opened:
    store = SqliteStore.open_dir(tmp_path / "data")
    second = SqliteStore.open_dir(tmp_path / "data")

    async def close() -> None:
        await store.close()
        await second.close()

    return store, second, close


async def _postgres(tmp_path: Path, request: pytest.FixtureRequest) -> Opened:
    url = request.getfixturevalue("pg_url")
    # two handles = two processes (replicas) on one database; the lease is the data_dir flock
    store = PostgresStore(url, data_dir=tmp_path / "data")
    second = PostgresStore(url, data_dir=tmp_path / "data")

    async def close() -> None:
        await store.close()
        await second.close()

    return store, second, close


BACKENDS: dict[str, Callable[[Path, pytest.FixtureRequest], Awaitable[Opened]]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "postgres": _postgres,
}


@pytest.fixture(params=sorted(BACKENDS))
async def _opened(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opened]:
    opened = await BACKENDS[request.param](tmp_path, request)
    yield opened
    await opened[2]()


@pytest.fixture
def store(_opened: Opened) -> Store:
    return _opened[0]


@pytest.fixture
def second(_opened: Opened) -> Store:
    return _opened[1]
