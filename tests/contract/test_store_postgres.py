"""What only the PostgreSQL store has to get right, on a real server (tests/support/postgres.py):
replicas racing on one database, its migrations, its errors without the password, pg_dump/pg_restore.
The protocol behaviour every backend shares is the contract suite's (tests/contract/store_contract.py)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.support.postgres import PASSWORD, PostgresServer
from ticket_alarm.errors import StoreError, StoreUnavailable
from ticket_alarm.store.api import (
    Cycle,
    DigestEvent,
    HistoryRow,
    NewOutboxRow,
    ReminderRow,
    Sent,
    SiteState,
)
from ticket_alarm.store.postgres.engine import SCHEMA_VERSION, PostgresStore


def _row(n: int, route: str = "r") -> NewOutboxRow:
    return NewOutboxRow(route, "new", "s", f"k{n}", {"n": n})


def _cycle(key: str, digest: str, now: float, kind: str = "new") -> Cycle:
    return Cycle(
        site="s",
        now=now,
        state=SiteState("s", initialized=True),
        history=[HistoryRow(key, digest, "s", key, f"title {key}", {"id": key, "title": f"title {key}"})],
        events=[DigestEvent(key, "first" if kind == "new" else "confirmed", digest, {"id": key})],
        outbox=[NewOutboxRow("r", kind, "s", key, {"key": key, "digest": digest})],
    )


async def test_two_stores_racing_on_one_notice_enqueue_it_once(pg_url: str) -> None:
    a, b = await PostgresStore.open(pg_url), await PostgresStore.open(pg_url)
    try:
        results = await asyncio.gather(*(s.commit_cycle(_cycle("k1", "d1", 10.0)) for s in (a, b, a, b)))
        assert sum(len(r.outbox_ids) for r in results) == 1
        assert len([e for e in await a.notice_events("k1") if e.event == "first"]) == 1
        # the same change confirmed by both: one change alert; the next real change: one more
        results = await asyncio.gather(*(s.commit_cycle(_cycle("k1", "d2", 20.0, "change")) for s in (a, b)))
        assert sum(len(r.outbox_ids) for r in results) == 1
        assert (await b.notice("k1")).digest == "d2"  # type: ignore[union-attr]
        assert len(await a.outbox_list()) == 2
    finally:
        await a.close()
        await b.close()


async def test_concurrent_claims_never_share_a_row_and_a_dead_claim_is_released(pg_url: str) -> None:
    a, b = await PostgresStore.open(pg_url), await PostgresStore.open(pg_url)
    try:
        await a.enqueue([_row(n) for n in range(60)], 100.0)
        claims = await asyncio.gather(
            *(
                store.claim("r", 100.0, owner=f"{owner}-{n}", lease_seconds=30, limit=7)
                for n in range(5)
                for store, owner in ((a, "replica-a"), (b, "replica-b"))
            )
        )
        ids = [item.id for claim in claims for item in claim]
        assert len(ids) == len(set(ids)) == 60
        assert await a.claim("r", 129.0, owner="replica-c", lease_seconds=30) == []
        taken = [item.id for item in claims[0]]
        await a.settle(taken, Sent("m1"), 101.0)
        again = await b.claim("r", 130.0, owner="replica-b", lease_seconds=30, limit=100)
        assert sorted(i.id for i in again) == sorted(set(ids) - set(taken))  # the leases ran out
    finally:
        await a.close()
        await b.close()


async def test_a_reminder_settled_by_one_replica_is_not_queued_again_by_the_other(pg_url: str) -> None:
    a, b = await PostgresStore.open(pg_url), await PostgresStore.open(pg_url)
    try:
        reminder = ReminderRow("k1", "s", "r", 10, 1000.0, 400.0, "pending", 1.0)
        await a.commit_cycle(Cycle("s", 1.0, SiteState("s"), reminders=[reminder]))
        due = await a.due_reminders(500.0)
        assert len(due) == 1
        msg = [NewOutboxRow("r", "reminder", "s", "k1", {"remind": 10})]
        first = await a.settle_reminders(500.0, queued=[due[0].id], skipped=[], outbox=msg)
        second = await b.settle_reminders(500.0, queued=[due[0].id], skipped=[], outbox=msg)
        assert len(first) == 1 and second == ()
        assert len(await a.outbox_list()) == 1
    finally:
        await a.close()
        await b.close()


async def test_replicas_starting_together_migrate_once(pg_url: str) -> None:
    stores = await asyncio.gather(*(PostgresStore.open(pg_url) for _ in range(4)))
    try:
        assert {await s.schema_version() for s in stores} == {SCHEMA_VERSION}
        assert await stores[0].migrate() == SCHEMA_VERSION  # idempotent
    finally:
        for s in stores:
            await s.close()


async def test_a_wrong_password_or_a_dead_server_is_one_clear_error_without_the_password(
    postgres_server: PostgresServer, pg_url: str
) -> None:
    wrong = pg_url.replace(PASSWORD, "Wr0ng-" + PASSWORD)
    with pytest.raises(StoreError) as err:
        await PostgresStore.open(wrong, timeout=3)
    text = str(err.value)
    assert "cannot connect to PostgreSQL" in text and "store_url" in text
    assert PASSWORD not in text and "****" in text
    closed = f"postgresql://u:{PASSWORD}@127.0.0.1:1/db"
    with pytest.raises(StoreError) as err:
        await PostgresStore.open(closed, timeout=2)
    assert PASSWORD not in str(err.value) and "127.0.0.1:1" in str(err.value)


async def test_a_server_that_cannot_be_reached_is_a_wait_and_a_wrong_password_is_not(pg_url: str) -> None:
    """StoreUnavailable (the daemon waits and reconnects) only for what waiting fixes; a wrong password or
    database stays a plain StoreError (exit 2: no restart fixes it)."""
    with pytest.raises(StoreError) as err:
        await PostgresStore.open(pg_url.replace(PASSWORD, "Wr0ng-" + PASSWORD), timeout=3)
    assert not isinstance(err.value, StoreUnavailable)
    with pytest.raises(StoreError) as err:
        await PostgresStore.open(pg_url.rsplit("/", 1)[0] + "/no_such_db", timeout=3)
    assert not isinstance(err.value, StoreUnavailable)
    with pytest.raises(StoreUnavailable):
        await PostgresStore.open(f"postgresql://u:{PASSWORD}@127.0.0.1:1/db", timeout=2)


async def test_a_store_reconnects_after_the_server_restarts(
    postgres_server: PostgresServer, pg_url: str
) -> None:
    """The server stops and starts again: calls meanwhile raise StoreUnavailable; afterwards the same store
    works again (a fresh pool), with no restart of the process."""
    store = await PostgresStore.open(pg_url, timeout=2)
    try:
        await store.heartbeat(1.0)
        postgres_server.halt()
        try:
            with pytest.raises(StoreUnavailable):
                await store.heartbeat(2.0)
            with pytest.raises(StoreUnavailable):  # the reconnection is refused too: still a wait
                await store.heartbeat(2.0)
        finally:
            postgres_server.resume()
        await store.heartbeat(3.0)
        assert await store.last_heartbeat() == 3.0
    finally:
        await store.close()


async def test_readonly_open_of_a_database_no_daemon_used_is_refused(pg_url: str) -> None:
    with pytest.raises(StoreError, match="schema version 0"):
        await PostgresStore.open(pg_url, readonly=True)


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
async def test_backup_and_restore_through_pg_dump(pg_url: str, tmp_path: Path) -> None:
    store = await PostgresStore.open(pg_url)
    try:
        await store.commit_cycle(_cycle("k1", "d1", 10.0))
        dump = tmp_path / "store.dump"
        await store.backup(dump)
        assert dump.stat().st_size > 0
        await store.commit_cycle(_cycle("k2", "d1", 11.0))
        await store.restore(dump)
        assert await store.history_count() == 1 and len(await store.outbox_list()) == 1
        assert await store.schema_version() == SCHEMA_VERSION
        await store.commit_cycle(_cycle("k3", "d1", 12.0))  # the identities continue after a restore
        assert [r.notice_key for r in await store.outbox_list()] == ["k1", "k3"]
    finally:
        await store.close()


async def test_backup_without_pg_dump_says_what_to_install(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await PostgresStore.open(pg_url)
    try:
        monkeypatch.setenv("PATH", str(tmp_path))
        monkeypatch.setattr(
            "ticket_alarm.store.postgres.connection.PG_BIN_GLOB", str(tmp_path / "none/*/bin")
        )
        with pytest.raises(StoreError, match=r"pg_dump` is not installed.*postgresql-client"):
            await store.backup(tmp_path / "x.dump")
    finally:
        await store.close()


async def test_open_store_connects_on_first_use_and_migrates_once(pg_url: str, tmp_path: Path) -> None:
    from ticket_alarm.store.postgres import open_store

    stores = [open_store(pg_url, data_dir=tmp_path) for _ in range(3)]  # no I/O yet
    try:
        counts = await asyncio.gather(*(s.history_count() for s in stores))  # all open at once
        assert counts == [0, 0, 0]
        assert {await s.schema_version() for s in stores} == {SCHEMA_VERSION}
    finally:
        for s in stores:
            await s.close()
    bad = open_store(pg_url.replace(PASSWORD, "nope-" + PASSWORD))
    with pytest.raises(StoreError, match="cannot connect") as err:
        await bad.history_count()
    assert PASSWORD not in str(err.value)


async def test_a_readonly_handle_cannot_write(pg_url: str) -> None:
    await (await PostgresStore.open(pg_url)).close()  # migrated
    reader = await PostgresStore.open(pg_url, readonly=True)
    try:
        assert await reader.history_count() == 0
        with pytest.raises(StoreError, match="read-only"):
            await reader.set_meta("x", "y")
    finally:
        await reader.close()


async def test_the_configured_store_is_the_async_store_connected_at_open(pg_url: str, tmp_path: Path) -> None:
    """What the one-shot commands and health open: PostgreSQL connects (and migrates) in
    open_configured_store, so a wrong store_url fails there; read-only never writes."""
    from ticket_alarm.config.settings import Settings
    from ticket_alarm.store.configured import open_configured_store

    writer = await open_configured_store(Settings(store_url=pg_url, data_dir=tmp_path))
    try:
        assert isinstance(writer, PostgresStore) and await writer.schema_version() == SCHEMA_VERSION
        await writer.enqueue([_row(1)], 1.0)
        await writer.remember_response("u", "e", None, b"x", 2.0)
        assert writer.lease() is not None  # the replica's lease lives in its data_dir
    finally:
        await writer.close()
    reader = await open_configured_store(Settings(store_url=pg_url, data_dir=tmp_path), readonly=True)
    try:
        assert [r.notice_key for r in await reader.outbox_list()] == ["k1"] and await reader.check()
        assert (await reader.cached_response("u")).body == b"x"  # type: ignore[union-attr]
        with pytest.raises(StoreError, match="read-only"):
            await reader.set_meta("x", "y")
    finally:
        await reader.close()
    wrong = pg_url.replace(PASSWORD, "not-the-password")
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL") as caught:
        await open_configured_store(Settings(store_url=wrong, data_dir=tmp_path), readonly=True)
    assert "not-the-password" not in str(caught.value)
