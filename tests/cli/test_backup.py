"""backup / restore with the real daemon running beside them, and every way a restore must refuse."""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
import tarfile
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, run_cli, stand_config, write_config
from tests.support.inprocess import Here
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm import app
from ticket_alarm.config.settings import Settings
from ticket_alarm.ops.backup import BackupError, prune, restore
from ticket_alarm.store import DB_NAME, SCHEMA_VERSION
from ticket_alarm.store.sqlite.backend import SqliteStore


def rows(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM history").fetchone()[0])
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def archive_of(out: str) -> Path:
    return Path(next(line for line in out.splitlines() if line.endswith(".tar.gz")))


@pytest.fixture
def stand(tmp_path: Path, site: FakeSite) -> Path:
    return write_config(tmp_path, stand_config(tmp_path, site, None))


def test_backup_while_running_then_restore_after_stop(
    here: Here, tmp_path: Path, stand: Path, notices: TestStandNotices, daemons: list[DaemonProcess]
) -> None:
    notices.add(12)
    d = DaemonProcess(stand, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand", count=2)
    dest = tmp_path / "backups"
    done = here("backup", "--dest", str(dest), "--config", str(stand))
    assert done.returncode == 0, done.stderr
    archive = archive_of(done.stdout)
    assert re.fullmatch(r"data_\d{8}_\d{6}\.tar\.gz", archive.name) and archive.parent == dest
    config_copy = dest / archive.name.replace("data_", "config_").replace(".tar.gz", ".json")
    assert config_copy.read_bytes() == stand.read_bytes()
    assert (archive.stat().st_mode & 0o777) == 0o600 and (config_copy.stat().st_mode & 0o777) == 0o600
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == sorted([DB_NAME, "manifest.json"])
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        tar.extract(DB_NAME, tmp_path / "x", filter="data")
    copy = tmp_path / "x" / DB_NAME
    assert manifest["schema_version"] == SCHEMA_VERSION and manifest["history_rows"] == 12
    conn = sqlite3.connect(copy)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
    conn.close()
    assert rows(copy) == 12
    d.wait_log("크롤링 완료: teststand", count=3)  # the daemon went on undisturbed (lock not taken)
    assert "[ERROR]" not in d.err()

    # restore is refused while the daemon runs; nothing is touched
    live = tmp_path / "data" / DB_NAME
    refused = here("restore", str(archive), "--config", str(stand))
    assert refused.returncode == 1, refused.stderr
    assert "the daemon is running" in refused.stderr and f"pid {d.proc.pid}" in refused.stderr
    assert "supervisorctl stop ticket-alarm:monitor" in refused.stderr
    assert not list((tmp_path / "data").glob("*.before-restore-*"))

    notices.add(5, prefix="나중")  # the live store moves past the backup
    d.wait_for(lambda: rows(live) == 17, what="17 history rows")
    assert d.terminate()[0] == 0
    done = here("restore", str(archive), "--config", str(stand))
    assert done.returncode == 0, done.stderr
    assert rows(live) == 12
    aside = list((tmp_path / "data").glob(f"{DB_NAME}.before-restore-*"))
    main_aside = [p for p in aside if not p.name.endswith(("-wal", "-shm"))]
    assert len(main_aside) == 1 and rows(main_aside[0]) == 17  # kept, not deleted
    assert "restored" in done.stdout and str(main_aside[0]) in done.stdout
    # the daemon starts on the restored store
    d2 = DaemonProcess(stand, tmp_path, "daemon2")
    daemons.append(d2)
    d2.wait_log("크롤링 완료: teststand")
    assert d2.terminate()[0] == 0


async def _store_with_rows(data_dir: Path) -> Path:
    store = SqliteStore.open_dir(data_dir)
    await store.close()
    conn = sqlite3.connect(data_dir / DB_NAME)
    conn.execute(
        "INSERT INTO history(key, digest, site, notice_id, title, ticket, first_seen, last_seen) "
        "VALUES ('k', 'd', 'melon', '1', 't', '{}', 1, 1)"
    )
    conn.commit()
    conn.close()
    return data_dir / DB_NAME


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


async def test_restore_refuses_bad_archives_and_touches_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"data_dir": str(tmp_path / "data")})
    live = await _store_with_rows(tmp_path / "data")
    done = run_cli("backup", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    good = archive_of(done.stdout)
    assert good.parent == tmp_path / "backups"  # default: beside data_dir
    before = digest(live)
    blob = good.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(blob[: len(blob) // 2])
    foreign = tmp_path / "foreign.sqlite3"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE t(x)")
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    cases = {
        truncated: "truncated or corrupt",
        tmp_path / "missing.tar.gz": "no such archive",
        _tar(tmp_path / "nodb.tar.gz", {"notes.txt": b"hello"}): f"holds no {DB_NAME}",
        _tar(tmp_path / "garbage.tar.gz", {DB_NAME: b"not a database at all" * 200}): "not a readable SQLite",
        _tar(tmp_path / "future.tar.gz", {DB_NAME: foreign.read_bytes()}): "schema version",
        _tar(tmp_path / "evil.tar.gz", {"../../evil": b"x", DB_NAME: b"junk" * 300}): "not a readable SQLite",
    }
    plain = tmp_path / "plain.txt"
    plain.write_text("not a tar", encoding="utf-8")
    cases[plain] = "not a readable .tar.gz"
    settings = Settings(data_dir=tmp_path / "data")
    for archive, phrase in cases.items():
        if archive in (truncated, plain):  # the command line, as the operator meets it
            refused = run_cli("restore", str(archive), "--config", str(config), cwd=tmp_path)
            assert refused.returncode == 1, (archive, refused.stderr)
            assert phrase in refused.stderr, (archive, refused.stderr)
            assert "Traceback" not in refused.stderr and "nothing was changed" in refused.stderr.lower()
        else:
            with pytest.raises(BackupError, match=re.escape(phrase)):
                await restore(settings, archive, open_store=app.store_opener(settings))
        assert digest(live) == before
        assert sorted(p.name for p in live.parent.iterdir() if "before-restore" in p.name) == []
    assert not (tmp_path.parent / "evil").exists()
    restored = run_cli("restore", str(good), "--config", str(config), cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr


def test_backup_without_a_store_fails_clearly(here: Here, tmp_path: Path) -> None:
    config = write_config(tmp_path, {"data_dir": str(tmp_path / "nothing")})
    done = here("backup", "--config", str(config))
    assert done.returncode == 1 and "no store to back up" in done.stderr
    assert not (tmp_path / "nothing").exists()


def test_keep_prunes_the_oldest(tmp_path: Path) -> None:
    names = [f"data_2026010{i}_040000.tar.gz" for i in range(1, 6)] + [
        f"config_2026010{i}_040000.json" for i in range(1, 6)
    ]
    for name in [*names, "notes.txt", "data_latest.tar.gz"]:
        (tmp_path / name).write_text("x", encoding="utf-8")
    removed = prune(tmp_path, 2)
    assert sorted(p.name for p in removed) == sorted(names[:3] + names[5:8])
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([*names[3:5], *names[8:], "notes.txt", "data_latest.tar.gz"])


async def test_backup_keep_via_cli(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"data_dir": str(tmp_path / "data")})
    await _store_with_rows(tmp_path / "data")
    dest = tmp_path / "b"
    dest.mkdir()
    for i in range(3):
        (dest / f"data_2020010{i}_000000.tar.gz").write_text("old", encoding="utf-8")
    done = run_cli("backup", "--dest", str(dest), "--keep", "2", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    archives = sorted(p.name for p in dest.glob("data_*.tar.gz"))
    assert len(archives) == 2 and archives[0] == "data_20200102_000000.tar.gz"
