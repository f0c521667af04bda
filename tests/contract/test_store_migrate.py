"""``store migrate --to postgresql://…``: a SQLite store filled by the real daemon (`once` against the
stand-in site and Discord) copied into a real PostgreSQL database; refused into a non-empty one."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from tests.conftest import run_cli, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.legacy_outbox import legacy_payload, old_store_file, raw_payloads
from tests.support.postgres import PASSWORD
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.core.notice_memo import NoticeRead
from ticket_alarm.store import DB_NAME, InstanceLock
from ticket_alarm.store.postgres.engine import PostgresStore
from ticket_alarm.store.postgres.transfer import migrate_sqlite
from ticket_alarm.store.sqlite.backend import SqliteStore
from ticket_alarm.store.sqlite.connection import export


def populate(tmp_path: Path, discord: FakeDiscord, site: FakeSite, notices: TestStandNotices) -> Path:
    """A store with sent and pending alerts, reminders per sale, site state and head state: `once` twice."""
    webhook = discord.add_webhook()
    config = write_config(
        tmp_path, stand_config(tmp_path, site, webhook, notify_on_first_run=True, reminders=[60])
    )
    notices.add(5, presales=[{"name": "팬클럽 선예매", "at": "2027-11-30T20:00:00"}])
    first = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert first.returncode == 0, first.stderr
    assert len(discord.embeds()) == 5
    notices.add(4, start=6)
    discord.fail(503, seconds=120)
    second = run_cli("once", "--config", str(config), "--wait", "1", cwd=tmp_path, timeout=60)
    assert second.returncode == 1, second.stderr  # 4 alerts stay in the outbox
    discord.clear_faults()
    legacy = tmp_path / "notification_history.json"
    legacy.write_text('["oldhash-0001", "oldhash-0002"]', encoding="utf-8")  # the old script's keys
    imported = run_cli("history", "import", str(legacy), "--config", str(config), cwd=tmp_path, timeout=60)
    assert imported.returncode == 0, imported.stderr
    return config


async def _keep_notice_read(path: Path, read: NoticeRead) -> None:
    """A kept notice-page read, written as a sweep writes it (the stand-in site has no notice pages)."""
    store = SqliteStore.open_file(path)
    try:
        await store.save_notice_reads("interpark", [read], 1.0)
    finally:
        await store.close()


def sqlite_counts(path: Path) -> dict[str, int]:
    with export(path) as src:
        return {t: src.count(t) for t in src.tables()}


def test_store_migrate_copies_everything_then_refuses_a_non_empty_database(
    tmp_path: Path, discord: FakeDiscord, site: FakeSite, notices: TestStandNotices, pg_url: str
) -> None:
    config = populate(tmp_path, discord, site, notices)
    kept = NoticeRead("10063", "fp", '{"presales": []}', None, 0, None)
    asyncio.run(_keep_notice_read(tmp_path / "data" / DB_NAME, kept))
    source = sqlite_counts(tmp_path / "data" / DB_NAME)
    assert source["notice_reads"] == 1
    assert source["history"] == 9 and source["outbox"] == 9 and source["site_state"] == 1
    assert source["legacy_keys"] == 2 and source["digest_log"] == 9
    assert source["reminders"] == 14  # 5 notices × (general sale + 팬클럽 선예매) + 4 general sales

    proc = run_cli("store", "migrate", "--to", pg_url, "--config", str(config), cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "store migrate: copied" in proc.stdout and "history 9" in proc.stdout
    assert PASSWORD not in proc.stdout + proc.stderr and "****" in proc.stdout

    async def check() -> None:
        store = await PostgresStore.open(pg_url, readonly=True)
        try:
            counts = await store.table_counts()
            assert {t: n for t, n in counts.items() if t in source} == source
            rows = await store.outbox_list()
            assert [r.status for r in rows].count("pending") == 4 and [r.status for r in rows].count(
                "sent"
            ) == 5
            assert min(r.attempts for r in rows if r.status == "pending") >= 1  # the failed tries came along
            state = await store.site_state("teststand")
            assert state.initialized is True and state.last_success is not None
            reminders = await store.reminders([r.notice_key for r in rows])
            assert sorted({r.sale for r in reminders}) == ["", "팬클럽 선예매"] and len(reminders) == 14
            assert await store.notice_reads("interpark", ["10063"]) == {"10063": kept}
        finally:
            await store.close()

    asyncio.run(check())

    again = run_cli("store", "migrate", "--to", pg_url, "--config", str(config), cwd=tmp_path, timeout=60)
    assert again.returncode == 1
    assert "the database is not empty" in again.stderr and "history 9" in again.stderr
    assert PASSWORD not in again.stdout + again.stderr and "Traceback" not in again.stderr


def test_store_migrate_is_refused_while_the_daemon_runs_on_the_store(
    tmp_path: Path, site: FakeSite, pg_url: str
) -> None:
    config = write_config(tmp_path, stand_config(tmp_path, site, None))
    lock = InstanceLock(tmp_path / "data")
    lock.acquire()  # as the running daemon holds it
    try:
        proc = run_cli("store", "migrate", "--to", pg_url, "--config", str(config), cwd=tmp_path, timeout=60)
    finally:
        lock.release()
    assert proc.returncode == 1 and "stop it first" in proc.stderr and str(os.getpid()) in proc.stderr


async def test_store_migrate_of_a_file_older_than_step_5_rewrites_its_embed_rows_on_the_way(
    tmp_path: Path, pg_url: str
) -> None:
    """The source is read as it is (read-only, never migrated): its Discord-embed rows are rewritten in
    the copy, as PostgreSQL's step 5 would have; a row that is not an embed arrives untouched."""
    source = tmp_path / DB_NAME
    embed = {"title": "아이유 콘서트", "color": 52540, "author": {"name": "멜론티켓"}, "fields": []}
    other = {"no": "title"}
    old_store_file(source, [embed, other])
    before = raw_payloads(source)
    copied = await migrate_sqlite(source, pg_url)
    assert copied["outbox"] == 2
    assert raw_payloads(source) == before  # the source is not touched
    with export(source) as src:
        assert src.schema_version() == 4
    store = await PostgresStore.open(pg_url, readonly=True)
    try:
        rows = {r.id: r.payload for r in await store.outbox_list()}
    finally:
        await store.close()
    assert rows == {1: legacy_payload(embed), 2: other}
    assert json.dumps(rows[1]["embed"], ensure_ascii=False) == json.dumps(embed, ensure_ascii=False)
