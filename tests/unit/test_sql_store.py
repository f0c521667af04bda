"""The SQL store written once (``store/sql/``): how SQLite runs a transaction body written as a
coroutine, and what the dialects spell differently."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ticket_alarm.store.sql import queries as Q
from ticket_alarm.store.sql.dialect import POSTGRES, SQLITE
from ticket_alarm.store.sql.reads import Txn
from ticket_alarm.store.sqlite.backend import SqliteStore, run_to_end


async def test_a_transaction_body_runs_whole_on_the_worker_and_one_that_suspends_writes_nothing(
    tmp_path: Path,
) -> None:
    """SqliteStore runs a body on its thread in one go: a body that awaited anything but its statements
    would let another call in mid-transaction, so it is refused and rolled back."""

    async def writes(tx: Txn) -> int:
        return await tx.execute("INSERT INTO meta(key, value) VALUES (?, ?)", ("a", "1"))

    async def suspends(tx: Txn) -> int:
        await tx.execute("INSERT INTO meta(key, value) VALUES (?, ?)", ("b", "2"))
        await asyncio.sleep(0)
        return 1

    store = SqliteStore.open_file(tmp_path / "store.sqlite3")
    try:
        assert await store._interact("write", writes) == 1
        with pytest.raises(RuntimeError, match="awaited something other than its statements"):
            await store._interact("write", suspends)
        assert await store.get_meta("a") == "1"
        assert await store.get_meta("b") is None
    finally:
        await store.close()


def test_run_to_end_returns_what_the_body_returns() -> None:
    async def body() -> str:
        return "done"

    assert run_to_end(body()) == "done"


def test_one_statement_spelled_for_each_engine() -> None:
    sql, params = Q.renew(POSTGRES, [3, 1, 3], 9.0, "me")
    assert POSTGRES.sql(sql) == (
        "UPDATE outbox SET lease_until=%s WHERE id = ANY(%s) AND status='pending' AND lease_owner=%s"
    )
    assert params == [9.0, [1, 3], "me"]
    sql, params = Q.renew(SQLITE, [3, 1, 3], 9.0, "me")
    assert SQLITE.sql(sql) == sql and "id IN (?,?)" in sql and params == [9.0, 1, 3, "me"]
    assert POSTGRES.sql(Q.WEBHOOK_FINGERPRINTS).endswith("LIKE 'webhook_url:%%'")  # psycopg's % doubled
    claim_pg, _ = Q.claimable(POSTGRES, "r", 1.0, "me", 5)
    claim_lite, _ = Q.claimable(SQLITE, "r", 1.0, "me", 5)
    assert claim_pg == claim_lite + " FOR UPDATE SKIP LOCKED"
    assert "json_each(history.ticket, '$.presales')" in Q.upcoming(SQLITE)
    assert "jsonb_array_elements(ta_json(history.ticket) -> 'presales')" in Q.upcoming(POSTGRES)
