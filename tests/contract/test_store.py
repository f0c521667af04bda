"""The SQLite store beyond the contract (tests/contract/store_contract.py): migrations, refusal to touch
foreign/corrupt files, rollback on driver failures, the instance lock."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, child_env
from ticket_alarm.errors import StoreError, StoreLockedError
from ticket_alarm.store import (
    DB_NAME,
    SCHEMA_VERSION,
    Cycle,
    HistoryRow,
    InstanceLock,
    NewOutboxRow,
    SiteState,
    Store,
)
from ticket_alarm.store.sqlite.backend import SqliteStore


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite3"


@pytest.fixture
async def store(path: Path) -> AsyncIterator[Store]:
    s = SqliteStore.open_file(path)
    yield s
    await s.close()


def hist(n: int, site: str = "melon", digest: str = "d1") -> HistoryRow:
    return HistoryRow(f"key{n}", digest, site, str(n), f"공연 {n}", {"id": str(n), "title": f"공연 {n}"})


def row(route: str = "main", n: int = 0, kind: str = "new", payload: object = None) -> NewOutboxRow:
    return NewOutboxRow(
        route, kind, "melon", f"key{n}", payload if payload is not None else {"title": f"t{n}"}
    )  # type: ignore[arg-type]


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


# --- opening ---------------------------------------------------------------------------------------


async def test_migrations_from_an_empty_file(path: Path) -> None:
    path.touch()
    store = SqliteStore.open_file(path)
    await store.close()
    assert user_version(path) == SCHEMA_VERSION >= 1
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert {"history", "outbox", "site_state", "http_cache", "webhook_state", "meta"} <= tables


async def test_open_dir_creates_the_directory(tmp_path: Path) -> None:
    store = SqliteStore.open_dir(tmp_path / "a" / "b")
    await store.close()
    assert (tmp_path / "a" / "b" / DB_NAME).exists()


async def test_reopening_keeps_data(path: Path) -> None:
    store = SqliteStore.open_file(path)
    await store.commit_cycle(
        Cycle("melon", 10.0, history=[hist(1)], touched=[], outbox=[row()], state=SiteState("melon", True))
    )
    await store.set_meta("k", "v")
    await store.close()
    store = SqliteStore.open_file(path)
    try:
        assert await store.history_count() == 1 and await store.history_count("melon") == 1
        assert await store.history_count("yes24") == 0
        assert len(await store.outbox_list(status="pending")) == 1
        assert (await store.site_state("melon")).initialized
        assert await store.get_meta("k") == "v" and await store.get_meta("nope") is None
        assert await store.check()
    finally:
        await store.close()
    assert user_version(path) == SCHEMA_VERSION


@pytest.mark.parametrize(
    "content",
    [b"this is not a database, just some garbage bytes" * 100, b"\x00" * 4096 + b"\xff" * 4096],
    ids=["text", "binary"],
)
def test_garbage_file_is_refused_and_left_untouched(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        SqliteStore.open_file(path)
    message = str(info.value)
    assert str(path) in message and "NOT recreated" in message and "backup" in message
    assert path.read_bytes() == content


async def test_truncated_database_is_refused_and_left_untouched(path: Path) -> None:
    store = SqliteStore.open_file(path)
    rows = [hist(n) for n in range(400)]
    await store.commit_cycle(
        Cycle("melon", 1.0, history=rows, touched=[], outbox=[], state=SiteState("melon"))
    )
    await store.close()
    data = path.read_bytes()
    assert len(data) > 50_000
    truncated = data[: len(data) // 2]
    path.write_bytes(truncated)
    with pytest.raises(StoreError, match="NOT recreated"):
        SqliteStore.open_file(path)
    assert path.read_bytes() == truncated


def test_foreign_sqlite_database_is_refused(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes(body) VALUES ('keep me')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not written by ticket-alarm") as info:
        SqliteStore.open_file(path)
    assert str(path) in str(info.value)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT body FROM notes").fetchall() == [("keep me",)]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert tables == {"notes"}  # no migration ran on it


def test_newer_schema_is_refused(path: Path) -> None:
    SqliteStore.open_file(path).close_sync()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1} is newer") as info:
        SqliteStore.open_file(path)
    assert "upgrade ticket-alarm" in str(info.value)
    assert user_version(path) == SCHEMA_VERSION + 1


def test_path_under_a_regular_file_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("I am a file")
    data_dir = blocker / "data"
    with pytest.raises(StoreError) as info:
        SqliteStore.open_dir(data_dir)
    message = str(info.value)
    assert f"data_dir {data_dir}" in message and "cannot create it" in message
    assert blocker.read_text() == "I am a file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write everywhere; the test above covers the path")
def test_unwritable_data_dir_is_a_store_error(tmp_path: Path) -> None:
    data_dir = tmp_path / "ro"
    data_dir.mkdir()
    data_dir.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="not writable") as info:
            SqliteStore.open_dir(data_dir)
        assert str(data_dir) in str(info.value)
    finally:
        data_dir.chmod(0o700)


# --- record(): one transaction ------------------------------------------------------------------------


def _add_sql(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(sql)
    conn.close()


async def test_record_rolls_back_on_a_constraint_failure(path: Path) -> None:
    SqliteStore.open_file(path).close_sync()
    _add_sql(
        path,
        "CREATE TRIGGER no_bad BEFORE INSERT ON outbox WHEN NEW.kind = 'bad' "
        "BEGIN SELECT RAISE(ABORT, 'bad kind refused'); END;",
    )
    store = SqliteStore.open_file(path)
    try:
        with pytest.raises(StoreError, match="bad kind refused") as info:
            bad = Cycle(
                "melon", 5.0, SiteState("melon", initialized=True), [hist(1)], outbox=[row(kind="bad")]
            )
            await store.commit_cycle(bad)
        assert "write failed" in str(info.value)
        assert await store.history_count() == 0 and not (await store.site_state("melon")).initialized
        await store.commit_cycle(
            Cycle("melon", 6.0, history=[hist(2)], touched=[], outbox=[row()], state=SiteState("melon"))
        )
    finally:
        await store.close()
    store = SqliteStore.open_file(path)
    assert await store.history_count() == 1 and (await store.outbox_stats()).pending == 1
    await store.close()


async def test_record_error_that_already_rolled_back_keeps_its_reason(path: Path) -> None:
    """RAISE(ROLLBACK) ends the transaction inside SQLite; the store must report the real reason."""
    SqliteStore.open_file(path).close_sync()
    _add_sql(
        path,
        "CREATE TRIGGER no_bad BEFORE INSERT ON outbox WHEN NEW.kind = 'bad' "
        "BEGIN SELECT RAISE(ROLLBACK, 'rolled back by trigger'); END;",
    )
    store = SqliteStore.open_file(path)
    try:
        with pytest.raises(StoreError, match="rolled back by trigger"):
            bad = Cycle("melon", 5.0, SiteState("melon"), [hist(1)], outbox=[row(kind="bad")])
            await store.commit_cycle(bad)
        assert await store.history_count() == 0
        await store.commit_cycle(
            Cycle("melon", 6.0, history=[hist(2)], touched=[], outbox=[], state=SiteState("melon"))
        )
    finally:
        await store.close()
    store = SqliteStore.open_file(path)
    assert await store.history_count() == 1
    await store.close()


async def test_record_failing_at_commit_leaves_no_open_transaction(path: Path) -> None:
    """A COMMIT that fails (here: a deferred foreign key) must not leave the connection mid-transaction,
    or every later write would silently join it and never be committed."""
    SqliteStore.open_file(path).close_sync()
    _add_sql(
        path,
        "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
        "CREATE TABLE child(pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);"
        "CREATE TRIGGER dangling AFTER INSERT ON history WHEN NEW.notice_id = 'dangling' "
        "BEGIN INSERT INTO child(pid) VALUES (999); END;",
    )
    store = SqliteStore.open_file(path)
    try:
        bad = HistoryRow("kd", "d", "melon", "dangling", "t", {})
        with pytest.raises(StoreError, match="FOREIGN KEY"):
            await store.commit_cycle(
                Cycle("melon", 5.0, history=[bad], touched=[], outbox=[row()], state=SiteState("melon"))
            )
        assert await store.history_count() == 0
        assert (await store.outbox_stats()).pending == 0
        await store.commit_cycle(
            Cycle("melon", 6.0, history=[hist(2)], touched=[], outbox=[row()], state=SiteState("melon"))
        )
    finally:
        await store.close()
    store = SqliteStore.open_file(path)  # a fresh connection sees only what was committed
    assert await store.history_count() == 1 and (await store.outbox_stats()).pending == 1
    await store.close()


# --- outbox -------------------------------------------------------------------------------------------


# --- site state, webhooks, cache ----------------------------------------------------------------------


# --- the instance lock ----------------------------------------------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from ticket_alarm.store import InstanceLock
    lock = InstanceLock(Path(sys.argv[1]))
    lock.acquire()
    print("locked", flush=True)
    sys.stdin.readline()
    lock.release()
    """
)

_TRIER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from ticket_alarm.errors import StoreLockedError
    from ticket_alarm.store import InstanceLock
    try:
        InstanceLock(Path(sys.argv[1])).acquire()
    except StoreLockedError as exc:
        print(exc)
        sys.exit(7)
    print("acquired")
    """
)


def _python(code: str, *args: str, **kwargs: object) -> list[str]:
    return [sys.executable, "-c", code, *args]


def test_lock_held_by_this_process_refuses_another_process(tmp_path: Path) -> None:
    lock = InstanceLock(tmp_path)
    lock.acquire()
    try:
        proc = subprocess.run(
            _python(_TRIER, str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=30,
            cwd=ROOT,
            env=child_env(),
        )
        assert proc.returncode == 7, proc.stderr
        assert f"pid {os.getpid()}" in proc.stdout and str(tmp_path) in proc.stdout
        assert "another ticket-alarm process" in proc.stdout
    finally:
        lock.release()
    proc = subprocess.run(
        _python(_TRIER, str(tmp_path)), capture_output=True, text=True, timeout=30, cwd=ROOT, env=child_env()
    )
    assert proc.returncode == 0 and "acquired" in proc.stdout


def test_lock_held_by_another_process(tmp_path: Path) -> None:
    assert InstanceLock.held_by_other(tmp_path) is None  # no lock file yet
    holder = subprocess.Popen(
        _python(_HOLDER, str(tmp_path)), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert InstanceLock.held_by_other(tmp_path) == holder.pid
        with pytest.raises(StoreLockedError, match=f"pid {holder.pid}"):
            InstanceLock(tmp_path).acquire()
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    assert InstanceLock.held_by_other(tmp_path) is None
    lock = InstanceLock(tmp_path)
    lock.acquire()
    assert (tmp_path / "ticket-alarm.lock").read_text().strip() == str(os.getpid())
    lock.release()


def test_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        _python(_HOLDER, str(tmp_path)), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    holder.kill()
    holder.wait(timeout=30)
    assert InstanceLock.held_by_other(tmp_path) is None
    lock = InstanceLock(tmp_path)
    lock.acquire()
    lock.release()


async def test_the_page_reader_sees_the_writers_rows_and_a_closed_store_is_a_store_error(
    tmp_path: Path,
) -> None:
    """``SqliteStore.open_reader`` (the status page's and /metrics' store) reads what the daemon's
    writer committed; a call on a closed store is a StoreError (a 503 on the page), not a crash."""
    from ticket_alarm.store.api import NewOutboxRow
    from ticket_alarm.store.sqlite.backend import SqliteStore

    writer = SqliteStore.open_dir(tmp_path / "data")
    reader = SqliteStore.open_reader(writer.path)
    try:
        assert reader.readonly and (await reader.outbox_stats()).pending == 0
        await writer.enqueue([NewOutboxRow("main", "new", "melon", "k1", {"title": "t"})], 1.0)
        assert (await reader.outbox_stats()).pending == 1
    finally:
        await reader.close()
        await writer.close()
    with pytest.raises(StoreError, match="the store is closed"):
        await reader.outbox_stats()
