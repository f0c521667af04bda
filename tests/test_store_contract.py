"""The store contract (tests/store_contract.py) against every backend.

A new backend is one more entry in ``BACKENDS``: a function returning (store, second handle on
the same data, cleanup).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.store_contract import *  # noqa: F403
from ticket_alarm.store.api import Store
from ticket_alarm.store.memory import MemoryStore
from ticket_alarm.store.sqlite.backend import SqliteStore

Opened = tuple[Store, Store, Callable[[], Awaitable[None]]]


async def _memory(tmp_path: Path) -> Opened:
    store = MemoryStore()

    async def close() -> None:
        await store.close()

    return store, store, close


async def _sqlite(tmp_path: Path) -> Opened:
    store = SqliteStore.open_dir(tmp_path / "data")
    second = SqliteStore.open_dir(tmp_path / "data")

    async def close() -> None:
        await store.close()
        await second.close()

    return store, second, close


BACKENDS: dict[str, Callable[[Path], Awaitable[Opened]]] = {"memory": _memory, "sqlite": _sqlite}


@pytest.fixture(params=sorted(BACKENDS))
async def _opened(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opened]:
    opened = await BACKENDS[request.param](tmp_path)
    yield opened
    await opened[2]()


@pytest.fixture
def store(_opened: Opened) -> Store:
    return _opened[0]


@pytest.fixture
def second(_opened: Opened) -> Store:
    return _opened[1]
