"""Per-site crawl leases and heartbeats of replicas on one real PostgreSQL database."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

from ticket_alarm.store.postgres.engine import PostgresStore
from ticket_alarm.store.postgres.replicas import PostgresReplicas, replica_rows, replicas_check
from ticket_alarm.store.replicas import LOCAL_MARGIN, Solo

SITES = ["interpark", "melon", "yes24"]


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_one_owner_per_site_and_a_dead_replicas_sites_are_taken_over(
    pg_url: str, tmp_path: Path
) -> None:
    store = await PostgresStore.open(pg_url)
    clock = FakeMonotonic()
    try:
        a = PostgresReplicas(store, tmp_path / "a", lease_seconds=3.0, monotonic=clock)
        b = PostgresReplicas(store, tmp_path / "b", lease_seconds=3.0)
        assert await a.renew(SITES) == set(SITES)
        assert await b.renew(SITES) == set()  # held: b crawls nothing
        owned = await asyncio.gather(a.renew(SITES), b.renew(SITES))
        assert owned[0] == set(SITES) and owned[1] == set()
        assert all(a.owns(s) for s in SITES) and not any(b.owns(s) for s in SITES)
        rows = {r.name: r for r in await b.replicas()}
        assert rows[a.name].sites == tuple(sorted(SITES)) and rows[b.name].sites == ()
        assert rows[a.name].alive and rows[b.name].alive

        # a dies (no release, no renewal): its own copy lapses first, then the database's lease
        clock.now += 3.0 - min(LOCAL_MARGIN, 3.0 / 5)
        assert not a.owns("melon")
        await asyncio.sleep(3.2)
        assert await b.renew(SITES) == set(SITES)
        assert {lease.owner for lease in await b.leases()} == {b.replica_id}
        assert await a.renew(SITES) == set()  # back from the dead: it must not crawl
    finally:
        await store.close()


async def test_a_clean_stop_hands_the_sites_over_at_once(pg_url: str, tmp_path: Path) -> None:
    store = await PostgresStore.open(pg_url)
    try:
        a = PostgresReplicas(store, tmp_path / "a")
        b = PostgresReplicas(store, tmp_path / "b")
        await a.renew(SITES)
        await a.release()
        assert not a.owns("melon")
        assert await b.renew(SITES) == set(SITES)
        stopped = {r.name: r for r in await b.replicas()}[a.name]
        assert stopped.stopped_at is not None and not stopped.alive
    finally:
        await store.close()


async def test_solo_owns_every_site() -> None:
    solo = Solo()
    assert solo.owns("x") and await solo.renew(SITES) == set(SITES) and await solo.replicas() == []


async def test_the_health_check_lists_every_replica_and_warns_when_one_is_left(
    pg_url: str, tmp_path: Path
) -> None:
    store = await PostgresStore.open(pg_url)
    try:
        a = PostgresReplicas(store, tmp_path / "a")
        b = PostgresReplicas(store, tmp_path / "b")
        assert replicas_check(await replica_rows(store), SITES, time.time())[0] == "CRITICAL"
        await a.renew(SITES)
        await b.renew(SITES)
        status, detail = replicas_check(await replica_rows(store), SITES, time.time())
        assert status == "OK" and "2 replicas alive" in detail
        assert f"{a.name} (pid" in detail and "interpark, melon, yes24" in detail and f"{b.name}" in detail
        await a.release()
        status, detail = replicas_check(await replica_rows(store), SITES, time.time())
        assert status == "WARNING" and "only 1 replica left" in detail and "stopped" in detail
        assert "not crawled by any replica right now: interpark, melon, yes24" in detail
        await b.renew(SITES)
        status, detail = replicas_check(await replica_rows(store), SITES, time.time())
        assert status == "WARNING" and "not crawled" not in detail
    finally:
        await store.close()


async def test_a_replicas_delivery_claims_as_its_replica_and_a_sqlite_daemon_as_its_host(
    pg_url: str, tmp_path: Path
) -> None:
    """The wiring (app.build_app): the owner of claimed outbox rows is the process's identity."""
    from ticket_alarm.app import build_app
    from ticket_alarm.config.settings import Settings

    async with build_app(Settings(store_url=pg_url, data_dir=tmp_path / "pg"), {}) as app:
        assert app.replicas is not None and app.delivery.owner == app.replicas.replica_id
        assert app.delivery.lane_owner("main") == f"main@{app.replicas.replica_id}"
    async with build_app(Settings(data_dir=tmp_path / "sqlite"), {}) as app:
        assert app.replicas is None and app.delivery.owner == socket.gethostname()
