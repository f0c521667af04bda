"""The SQLite store: migrations, refusal to touch foreign/corrupt files, one-transaction writes, locks."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from ticket_alarm.errors import StoreError, StoreLockedError
from ticket_alarm.store import (
    DB_NAME,
    SCHEMA_VERSION,
    HistoryRow,
    InstanceLock,
    NewOutboxRow,
    SiteState,
    Store,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite3"


@pytest.fixture
def store(path: Path) -> Iterator[Store]:
    s = Store(path)
    yield s
    s.close()


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


def test_migrations_from_an_empty_file(path: Path) -> None:
    path.touch()
    store = Store(path)
    store.close()
    assert user_version(path) == SCHEMA_VERSION >= 1
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert {"history", "outbox", "site_state", "http_cache", "webhook_state", "meta"} <= tables


def test_open_dir_creates_the_directory(tmp_path: Path) -> None:
    store = Store.open_dir(tmp_path / "a" / "b")
    store.close()
    assert (tmp_path / "a" / "b" / DB_NAME).exists()


def test_reopening_keeps_data(path: Path) -> None:
    store = Store(path)
    store.record("melon", 10.0, history=[hist(1)], touched=[], outbox=[row()], state=SiteState("melon", True))
    store.set_meta("k", "v")
    store.close()
    store = Store(path)
    try:
        assert store.history_count() == 1 and store.history_count("melon") == 1
        assert store.history_count("yes24") == 0
        assert len(store.pending("main", 10.0)) == 1
        assert store.site_state("melon").initialized
        assert store.get_meta("k") == "v" and store.get_meta("nope") is None
        assert store.integrity_ok()
    finally:
        store.close()
    assert user_version(path) == SCHEMA_VERSION


@pytest.mark.parametrize(
    "content",
    [b"this is not a database, just some garbage bytes" * 100, b"\x00" * 4096 + b"\xff" * 4096],
    ids=["text", "binary"],
)
def test_garbage_file_is_refused_and_left_untouched(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    with pytest.raises(StoreError) as info:
        Store(path)
    message = str(info.value)
    assert str(path) in message and "NOT recreated" in message and "backup" in message
    assert path.read_bytes() == content


def test_truncated_database_is_refused_and_left_untouched(path: Path) -> None:
    store = Store(path)
    rows = [hist(n) for n in range(400)]
    store.record("melon", 1.0, history=rows, touched=[], outbox=[], state=SiteState("melon"))
    store.close()
    data = path.read_bytes()
    assert len(data) > 50_000
    truncated = data[: len(data) // 2]
    path.write_bytes(truncated)
    with pytest.raises(StoreError, match="NOT recreated"):
        Store(path)
    assert path.read_bytes() == truncated


def test_foreign_sqlite_database_is_refused(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes(body) VALUES ('keep me')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not written by ticket-alarm") as info:
        Store(path)
    assert str(path) in str(info.value)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT body FROM notes").fetchall() == [("keep me",)]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert tables == {"notes"}  # no migration ran on it


def test_newer_schema_is_refused(path: Path) -> None:
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1} is newer") as info:
        Store(path)
    assert "upgrade ticket-alarm" in str(info.value)
    assert user_version(path) == SCHEMA_VERSION + 1


def test_path_under_a_regular_file_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("I am a file")
    data_dir = blocker / "data"
    with pytest.raises(StoreError) as info:
        Store.open_dir(data_dir)
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
            Store.open_dir(data_dir)
        assert str(data_dir) in str(info.value)
    finally:
        data_dir.chmod(0o700)


# --- record(): one transaction ------------------------------------------------------------------------


def test_record_is_one_transaction_when_the_payload_cannot_be_encoded(store: Store) -> None:
    bad = row(payload={"when": object()})
    with pytest.raises(TypeError):
        store.record("melon", 5.0, history=[hist(1), hist(2)], touched=[], outbox=[row(), bad],
                     state=SiteState("melon", initialized=True))  # fmt: skip
    assert store.history_count() == 0
    assert store.outbox_stats().pending == 0
    assert not store.site_state("melon").initialized
    # the connection is usable afterwards and nothing half-written comes back
    store.record("melon", 6.0, history=[hist(3)], touched=[], outbox=[], state=SiteState("melon", True))
    assert store.history_count() == 1 and store.seen(["key1", "key2", "key3"]).keys() == {"key3"}


def _add_sql(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(sql)
    conn.close()


def test_record_rolls_back_on_a_constraint_failure(path: Path) -> None:
    Store(path).close()
    _add_sql(
        path,
        "CREATE TRIGGER no_bad BEFORE INSERT ON outbox WHEN NEW.kind = 'bad' "
        "BEGIN SELECT RAISE(ABORT, 'bad kind refused'); END;",
    )
    store = Store(path)
    try:
        with pytest.raises(StoreError, match="bad kind refused") as info:
            store.record("melon", 5.0, history=[hist(1)], touched=[], outbox=[row(kind="bad")],
                         state=SiteState("melon", initialized=True))  # fmt: skip
        assert "write failed" in str(info.value)
        assert store.history_count() == 0 and not store.site_state("melon").initialized
        store.record("melon", 6.0, history=[hist(2)], touched=[], outbox=[row()], state=SiteState("melon"))
    finally:
        store.close()
    store = Store(path)
    assert store.history_count() == 1 and store.outbox_stats().pending == 1
    store.close()


def test_record_error_that_already_rolled_back_keeps_its_reason(path: Path) -> None:
    """RAISE(ROLLBACK) ends the transaction inside SQLite; the store must report the real reason."""
    Store(path).close()
    _add_sql(
        path,
        "CREATE TRIGGER no_bad BEFORE INSERT ON outbox WHEN NEW.kind = 'bad' "
        "BEGIN SELECT RAISE(ROLLBACK, 'rolled back by trigger'); END;",
    )
    store = Store(path)
    try:
        with pytest.raises(StoreError, match="rolled back by trigger"):
            store.record("melon", 5.0, history=[hist(1)], touched=[], outbox=[row(kind="bad")],
                         state=SiteState("melon"))  # fmt: skip
        assert store.history_count() == 0
        store.record("melon", 6.0, history=[hist(2)], touched=[], outbox=[], state=SiteState("melon"))
    finally:
        store.close()
    store = Store(path)
    assert store.history_count() == 1
    store.close()


def test_record_failing_at_commit_leaves_no_open_transaction(path: Path) -> None:
    """A COMMIT that fails (here: a deferred foreign key) must not leave the connection mid-transaction,
    or every later write would silently join it and never be committed."""
    Store(path).close()
    _add_sql(
        path,
        "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
        "CREATE TABLE child(pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);"
        "CREATE TRIGGER dangling AFTER INSERT ON history WHEN NEW.notice_id = 'dangling' "
        "BEGIN INSERT INTO child(pid) VALUES (999); END;",
    )
    store = Store(path)
    try:
        bad = HistoryRow("kd", "d", "melon", "dangling", "t", {})
        with pytest.raises(StoreError, match="FOREIGN KEY"):
            store.record("melon", 5.0, history=[bad], touched=[], outbox=[row()], state=SiteState("melon"))
        assert store.history_count() == 0
        assert store.outbox_stats().pending == 0
        store.record("melon", 6.0, history=[hist(2)], touched=[], outbox=[row()], state=SiteState("melon"))
    finally:
        store.close()
    store = Store(path)  # a fresh connection sees only what was committed
    assert store.history_count() == 1 and store.outbox_stats().pending == 1
    store.close()


def test_record_upserts_and_touches(store: Store) -> None:
    store.record("melon", 1.0, history=[hist(1), hist(2)], touched=[], outbox=[], state=SiteState("melon"))
    changed = HistoryRow("key1", "d2", "melon", "1", "새 제목", {"id": "1", "title": "새 제목"})
    store.record("melon", 2.0, history=[changed], touched=["key2"], outbox=[], state=SiteState("melon"))
    seen = store.seen(["key1", "key2"])
    assert seen["key1"].digest == "d2" and seen["key1"].ticket["title"] == "새 제목"
    assert seen["key2"].digest == "d1"
    rows = {
        r["key"]: (r["first_seen"], r["last_seen"])
        for r in store._query("SELECT key, first_seen, last_seen FROM history")
    }
    assert rows == {"key1": (1.0, 2.0), "key2": (1.0, 2.0)}
    assert store.history_count() == 2


def test_seen_handles_many_keys_and_unknown_ones(store: Store) -> None:
    rows = [hist(n) for n in range(1200)]
    store.record("melon", 1.0, history=rows, touched=[f"key{n}" for n in range(1200)], outbox=[],
                 state=SiteState("melon"))  # fmt: skip
    keys = [f"key{n}" for n in range(0, 1300, 1)]
    seen = store.seen(iter(keys))
    assert len(seen) == 1200 and "key1250" not in seen
    assert seen["key7"].ticket == {"id": "7", "title": "공연 7"}
    assert store.seen([]) == {}


# --- outbox -------------------------------------------------------------------------------------------


def test_pending_order_limit_and_next_due(store: Store) -> None:
    store.enqueue([row("a", n) for n in range(5)], now=100.0)
    store.enqueue([row("b", 9)], now=100.0)
    items = store.pending("a", 100.0)
    assert [i.notice_key for i in items] == [f"key{n}" for n in range(5)]
    assert [i.id for i in items] == sorted(i.id for i in items)
    assert items[0].payload == {"title": "t0"} and items[0].attempts == 0 and items[0].created_at == 100.0
    assert [i.notice_key for i in store.pending("a", 100.0, limit=2)] == ["key0", "key1"]
    assert store.pending("a", 99.0) == []  # not due yet
    assert store.next_due("a") == 100.0 and store.next_due("zzz") is None
    assert store.outbox_stats().by_route == {"a": 5, "b": 1}  # the routes with pending rows
    # a retried row moves out of the due window and next_due follows the earliest remaining row
    first, second = items[0].id, items[1].id
    store.mark_retry([first], "HTTP 503", 160.0)
    assert store.next_due("a") == 100.0
    store.mark_retry([i.id for i in items[1:]], "HTTP 503", 130.0)
    assert store.next_due("a") == 130.0
    assert [i.id for i in store.pending("a", 130.0)] == [second, *(i.id for i in items[2:])]
    assert store.pending("a", 200.0)[0].id == first  # oldest first again once due


def test_mark_sent_retry_dead(store: Store) -> None:
    store.enqueue([row("a", n) for n in range(4)], now=10.0)
    ids = [i.id for i in store.pending("a", 10.0)]
    store.mark_retry(ids[:2], "HTTP 503: boom", 11.0)
    store.mark_retry(ids[:1], "429", 12.0, count=False)
    store.mark_dead([ids[2]], "HTTP 400: " + "x" * 10_000)
    store.mark_sent([ids[3], ids[2]], 13.0, "msg-1")  # a dead row is not resurrected
    rows = {r["id"]: r for r in store.outbox_rows()}
    assert rows[ids[0]]["attempts"] == 1 and rows[ids[0]]["last_error"] == "429"
    assert rows[ids[0]]["next_attempt_at"] == 12.0
    assert rows[ids[1]]["attempts"] == 1 and rows[ids[1]]["last_error"] == "HTTP 503: boom"
    assert rows[ids[2]]["status"] == "dead" and rows[ids[2]]["attempts"] == 1
    assert len(rows[ids[2]]["last_error"]) == 4000
    assert rows[ids[3]]["status"] == "sent" and rows[ids[3]]["message_id"] == "msg-1"
    assert rows[ids[3]]["sent_at"] == 13.0 and rows[ids[3]]["last_error"] is None
    assert [r["id"] for r in store.outbox_rows("dead")] == [ids[2]]
    stats = store.outbox_stats()
    assert (stats.pending, stats.sent, stats.dead) == (2, 1, 1)
    assert stats.oldest_pending == 10.0 and stats.by_route == {"a": 2}
    store.mark_sent(ids[:2], 14.0, None)
    stats = store.outbox_stats()
    assert (stats.pending, stats.sent, stats.oldest_pending, stats.by_route) == (0, 3, None, {})


def test_outbox_stats_on_an_empty_store(store: Store) -> None:
    stats = store.outbox_stats()
    assert (stats.pending, stats.sent, stats.dead, stats.oldest_pending, stats.by_route) == (
        0,
        0,
        0,
        None,
        {},
    )


def test_payload_roundtrip_keeps_unicode(store: Store) -> None:
    payload = {
        "title": "아이유 콘서트 @everyone <@&123> **굵게** \u202e",
        "fields": [{"name": "a", "value": "b"}],
    }
    store.enqueue([row(payload=payload)], now=1.0)
    assert store.pending("main", 1.0)[0].payload == payload


# --- site state, webhooks, cache ----------------------------------------------------------------------


def test_site_state_roundtrip(store: Store) -> None:
    assert store.site_state("melon") == SiteState("melon")
    state = SiteState(
        "melon",
        initialized=True,
        last_attempt=1.5,
        last_success=1.0,
        last_failure=0.5,
        failure_streak=2,
        last_error="HTTP 503 from https://x",
        empty_streak=3,
        last_count=42,
        last_invalid=1,
        locked_until=3601.5,
    )
    store.save_site_state(state)
    assert store.site_state("melon") == state
    store.save_site_state(SiteState("yes24"))
    assert [s.site for s in store.all_site_states()] == ["melon", "yes24"]
    state.locked_until = None
    state.failure_streak = 0
    store.save_site_state(state)
    assert store.site_state("melon") == state


def test_webhook_broken_state(store: Store) -> None:
    assert store.broken_webhooks() == {}
    store.mark_webhook_broken("main", "HTTP 404: Unknown Webhook", 5.0)
    store.mark_webhook_broken("main", "HTTP 401: Invalid Webhook Token", 6.0)
    store.mark_webhook_broken("ops", "HTTP 404", 6.0)
    assert store.broken_webhooks() == {"main": "HTTP 401: Invalid Webhook Token", "ops": "HTTP 404"}
    store.clear_webhook_broken("main")
    store.clear_webhook_broken("never-broken")
    assert store.broken_webhooks() == {"ops": "HTTP 404"}


def test_response_cache(store: Store) -> None:
    assert store.cached_response("k") is None
    store.remember_response("k", '"e1"', None, b"\x00body\xff")
    cached = store.cached_response("k")
    assert cached is not None and (cached.etag, cached.last_modified, cached.body) == (
        '"e1"',
        None,
        b"\x00body\xff",
    )
    store.remember_response("k", None, "Sun, 01 Nov 2026 00:00:00 GMT", b"new")
    cached = store.cached_response("k")
    assert cached is not None and cached.etag is None and cached.body == b"new"


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
            _python(_TRIER, str(tmp_path)), capture_output=True, text=True, timeout=30, cwd=ROOT
        )
        assert proc.returncode == 7, proc.stderr
        assert f"pid {os.getpid()}" in proc.stdout and str(tmp_path) in proc.stdout
        assert "another ticket-alarm process" in proc.stdout
    finally:
        lock.release()
    proc = subprocess.run(
        _python(_TRIER, str(tmp_path)), capture_output=True, text=True, timeout=30, cwd=ROOT
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
