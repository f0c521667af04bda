"""``backup`` and ``restore``: consistent copies of the store, safe to take while the daemon runs.

backup: SQLite's online backup API on a read-only async store (``Maintenance.backup``, opened
through the composition root's opener; no instance lock: the daemon keeps running) →
``data_YYYYMMDD_HHMMSS.tar.gz`` holding the database and a small
manifest, plus the config file copied as ``config_YYYYMMDD_HHMMSS.json``; both files mode 600
(the config holds webhook tokens). ``--keep N`` deletes all but the newest N of each.

On PostgreSQL (``store_url``) the same two commands run ``pg_dump``/``pg_restore`` (custom format):
``data_YYYYMMDD_HHMMSS.dump`` (one consistent snapshot; the replicas go on) beside the config copy;
a restore replaces every table in one transaction, refused while a replica is alive. Without the
PostgreSQL client tools installed, both say what to install (exit 1).

restore (SQLite): refused while the daemon runs. The archive is verified first (tar readable to the end,
holds the database, ``PRAGMA integrity_check`` ok on the extracted copy, schema version known);
only then is the current database moved aside (renamed with a timestamp, never deleted) and the
copy put in its place.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from loguru import logger

from ticket_alarm import __version__
from ticket_alarm.clock import Clock, SystemClock
from ticket_alarm.config.settings import Settings
from ticket_alarm.errors import StoreError, StoreLockedError, TicketAlarmError
from ticket_alarm.i18n import t
from ticket_alarm.ops.health.report import StoreOpener
from ticket_alarm.store import DB_NAME, InstanceLock
from ticket_alarm.store.api import Store
from ticket_alarm.store.sqlite.connection import verify_copy

MANIFEST = "manifest.json"
ARCHIVE_RE = re.compile(r"^data_\d{8}_\d{6}(?:-\d+)?\.tar\.gz$")
DUMP_RE = re.compile(r"^data_\d{8}_\d{6}(?:-\d+)?\.dump$")  # PostgreSQL's pg_dump files
CONFIG_RE = re.compile(r"^config_\d{8}_\d{6}(?:-\d+)?\.json$")
_CHUNK = 1024 * 1024


class BackupError(TicketAlarmError):
    """A backup could not be written, or a restore was refused; the message says why and what to do."""


@dataclass
class BackupResult:
    archive: Path
    config: Path | None
    history_rows: int | None  # None: a pg_dump file (counted by nobody)
    removed: list[Path]
    seconds: float = 0.0


@dataclass
class RestoreResult:
    restored: Path
    kept_aside: list[Path]
    schema_version: int
    history_rows: int


def stamp(now: datetime) -> str:
    """``YYYYMMDD_HHMMSS`` in the machine's local time (what operators see in ``ls``)."""
    return now.astimezone().strftime("%Y%m%d_%H%M%S")


def default_dest(settings: Settings) -> Path:
    """``backups`` beside the data directory (``/var/lib/ticket-alarm/backups`` on the box)."""
    return settings.data_dir.resolve().parent / "backups"


def _free_name(folder: Path, prefix: str, ts: str, suffix: str) -> Path:
    path = folder / f"{prefix}_{ts}{suffix}"
    n = 2
    while path.exists():
        path = folder / f"{prefix}_{ts}-{n}{suffix}"
        n += 1
    return path


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


async def backup(
    settings: Settings,
    config_path: Path | None,
    dest: Path | None = None,
    *,
    open_store: StoreOpener,
    keep: int | None = None,
    clock: Clock | None = None,
) -> BackupResult:
    """A backup of the store ``settings`` name, read through ``open_store`` (the composition root's
    read-only opener): the SQLite archive, or a pg_dump file (``store_url``)."""
    if keep is not None and keep < 1:
        raise BackupError(t("backup.keep", keep=keep))
    db = settings.data_dir / DB_NAME
    if not settings.store_url and not db.is_file():
        raise BackupError(t("backup.no_store", db=db))
    started = time.monotonic()
    dest = _destination(dest or default_dest(settings))
    now = (clock or SystemClock()).now()
    ts = stamp(now)
    store = await open_store()
    try:
        if settings.store_url:
            target, rows = await _dump(store, dest, ts), None
        else:
            target, rows = await _archive(store, db, dest, now, ts)
    finally:
        await store.close()
    copy = _copy_config(config_path, dest, ts, target)
    removed = prune(dest, keep, DUMP_RE if settings.store_url else ARCHIVE_RE) if keep else []
    return BackupResult(target, copy, rows, removed, time.monotonic() - started)


def _destination(dest: Path) -> Path:
    """The backup folder, made (mode 700) when missing, and checked writable before anything is read."""
    try:
        dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise BackupError(t("backup.dest_create", dest=dest, reason=exc.strerror)) from exc
    if not os.access(dest, os.W_OK | os.X_OK):
        raise BackupError(t("backup.dest_unwritable", dest=dest))
    return dest


async def _archive(store: Store, db: Path, dest: Path, now: datetime, ts: str) -> tuple[Path, int]:
    """SQLite: the online copy, checked, with its manifest in a ``.tar.gz`` (mode 600); (archive, rows)."""
    try:
        with tempfile.TemporaryDirectory(dir=dest, prefix=".backup-") as tmp:
            copy = Path(tmp) / DB_NAME
            await store.backup(copy)
            version, rows = _verify_db(copy, what=t("backup.copy_of", db=db))
            manifest = {
                "program": f"ticket-alarm {__version__}",
                "created_at": now.isoformat(),
                "source": str(db.resolve()),
                "schema_version": version,
                "history_rows": rows,
            }
            partial = Path(tmp) / "archive.tar.gz"
            with tarfile.open(partial, "w:gz") as tar:
                tar.add(copy, arcname=DB_NAME)
                blob = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(blob), int(now.timestamp()), 0o600
                tar.addfile(info, io.BytesIO(blob))
            os.chmod(partial, 0o600)
            with open(partial, "rb") as fh:
                os.fsync(fh.fileno())
            archive = _free_name(dest, "data", ts, ".tar.gz")
            os.replace(partial, archive)
    except OSError as exc:
        raise BackupError(t("backup.failed", dest=dest, reason=exc.strerror or exc)) from exc
    return archive, rows


async def _dump(store: Store, dest: Path, ts: str) -> Path:
    """PostgreSQL: a pg_dump file (custom format); nothing left behind when it fails."""
    target = _free_name(dest, "data", ts, ".dump")
    try:
        await store.backup(target)
    except StoreError as exc:
        target.unlink(missing_ok=True)
        raise BackupError(str(exc)) from None
    return target


def _copy_config(config_path: Path | None, dest: Path, ts: str, archive: Path) -> Path | None:
    """The config file beside the backup (mode 600: it holds webhook tokens); None without one."""
    if config_path is None or not config_path.is_file():
        logger.warning("{}", t("backup.no_config"))
        return None
    copy = _free_name(dest, "config", ts, ".json")
    try:
        _write_private(copy, config_path.read_bytes())
    except OSError as exc:
        raise BackupError(
            t("backup.config_failed", archive=archive, config=config_path, reason=exc.strerror)
        ) from exc
    return copy


def prune(dest: Path, keep: int, archives: re.Pattern[str] = ARCHIVE_RE) -> list[Path]:
    """Delete all but the newest ``keep`` archives and config copies (by the timestamp in the name)."""
    removed: list[Path] = []
    for pattern in (archives, CONFIG_RE):
        files = sorted(p for p in dest.iterdir() if pattern.match(p.name) and p.is_file())
        for old in files[: max(0, len(files) - keep)]:
            old.unlink()
            removed.append(old)
    return removed


# --- restore --------------------------------------------------------------------------------


def _verify_db(path: Path, *, what: str) -> tuple[int, int]:
    """(schema version, history rows) of a database file, or BackupError saying what is wrong."""
    try:
        return verify_copy(path, what=what)
    except StoreError as exc:
        raise BackupError(str(exc)) from exc


def verify_archive(archive: Path, workdir: Path) -> tuple[Path, int, int]:
    """Read the whole archive, extract the database into ``workdir`` and check it.

    Returns (extracted database, schema version, history rows). Only the database member is
    written (never ``extractall``: member names are not trusted).
    """
    if not archive.is_file():
        raise BackupError(t("restore.no_archive", archive=archive))
    target = workdir / DB_NAME
    found = False
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                fh = tar.extractfile(member) if member.isfile() else None
                if fh is None:
                    continue
                if name == DB_NAME and not found:
                    found = True
                    with open(target, "wb") as out:
                        shutil.copyfileobj(fh, out, _CHUNK)
                else:
                    while fh.read(_CHUNK):  # read every member: a truncated archive fails here
                        pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise BackupError(t("restore.corrupt", archive=archive, reason=exc)) from exc
    if not found:
        raise BackupError(t("restore.no_db", archive=archive, db=DB_NAME))
    version, rows = _verify_db(target, what=f"{archive}")
    return target, version, rows


async def restore(
    settings: Settings, archive: Path, *, open_store: StoreOpener, clock: Clock | None = None
) -> RestoreResult | None:
    """Put a backup back: the SQLite archive (the result says what was kept aside), or a pg_dump file
    into the PostgreSQL of ``store_url`` (None), opened through ``open_store`` (the composition root's),
    refused while a replica is alive."""
    if not settings.store_url:
        return restore_archive(settings, archive, clock=clock)
    from ticket_alarm.store.postgres.replicas import replica_rows

    if not archive.is_file():
        raise BackupError(t("dump.no_file", dump=archive))
    store: Any = await open_store()  # PostgreSQL (store_url): its replicas are read below
    try:
        alive = [r for r in await replica_rows(store, alive_within=settings.replica_lease) if r.alive]
        if alive:
            names = ", ".join(r.name for r in alive)
            raise BackupError(
                t("dump.replicas_running", location=store.location, count=len(alive), names=names)
            )
        try:
            await store.restore(archive)
        except StoreError as exc:
            raise BackupError(str(exc)) from None
    finally:
        await store.close()
    return None


def restore_archive(settings: Settings, archive: Path, *, clock: Clock | None = None) -> RestoreResult:
    """The SQLite restore: verify the archive, move the current files aside, put the copy in place."""
    clock = clock or SystemClock()
    data_dir = settings.data_dir
    try:
        holder = InstanceLock.held_by_other(data_dir) if data_dir.is_dir() else None
    except OSError as exc:
        raise BackupError(t("restore.lock_unreadable", data_dir=data_dir, reason=exc.strerror)) from exc
    if holder is not None:
        raise BackupError(_running(holder, data_dir))
    with tempfile.TemporaryDirectory(prefix="ticket-alarm-restore-") as tmp:
        extracted, version, rows = verify_archive(archive, Path(tmp))
        lock = InstanceLock(data_dir)
        try:
            lock.acquire()  # nobody may start the daemon while the files are swapped
        except StoreLockedError:
            raise BackupError(_running(InstanceLock.held_by_other(data_dir) or -1, data_dir)) from None
        try:
            db = data_dir / DB_NAME
            incoming = data_dir / f"{DB_NAME}.restoring"
            shutil.copyfile(extracted, incoming)
            with open(incoming, "rb") as fh:
                os.fsync(fh.fileno())
            kept: list[Path] = []
            aside = f"{DB_NAME}.before-restore-{stamp(clock.now())}"
            for suffix in ("", "-wal", "-shm"):
                current = data_dir / f"{DB_NAME}{suffix}"
                if current.exists():
                    target = data_dir / f"{aside}{suffix}"
                    os.replace(current, target)
                    kept.append(target)
            os.replace(incoming, db)
            with contextlib.suppress(OSError):
                dir_fd = os.open(data_dir, os.O_RDONLY)
                os.fsync(dir_fd)
                os.close(dir_fd)
        finally:
            lock.release()
    return RestoreResult(db, kept, version, rows)


def _running(pid: int, data_dir: Path) -> str:
    who = f"pid {pid}" if pid > 0 else t("restore.a_process")
    return t("restore.running", who=who, data_dir=data_dir)


# --- the commands (``ticket_alarm.cli`` parses the arguments) ----------------------------------


async def backup_command(
    settings: Settings, config_path: Path, open_store: StoreOpener, *, dest: str | None, keep: int | None
) -> int:
    """``backup [--dest DIR] [--keep N]``: 0 written."""
    config = config_path if config_path.is_file() else None
    result = await backup(settings, config, Path(dest) if dest else None, open_store=open_store, keep=keep)
    print(result.archive)
    if result.config:
        print(result.config)
    config_said = t("backup.config_copied", config=result.config) if result.config else ""
    removed = t("backup.removed", count=len(result.removed)) if result.removed else ""
    if result.history_rows is None:
        said = t(
            "dump.written", target=result.archive, seconds=result.seconds, config=config_said, removed=removed
        )
    else:
        rows = result.history_rows
        said = t("backup.written", archive=result.archive, rows=rows, config=config_said, removed=removed)
    logger.info("{}", said)
    return 0


async def restore_command(settings: Settings, archive: str, open_store: StoreOpener) -> int:
    """``restore ARCHIVE``: 0 restored; 1 refused (daemon or replicas running, archive unusable)."""
    result = await restore(settings, Path(archive), open_store=open_store)
    if result is None:
        logger.info("{}", t("dump.restored", archive=archive))
        return 0
    kept = ", ".join(str(p) for p in result.kept_aside) or t("restore.nothing_kept")
    logger.info(
        "{}",
        t(
            "restore.done",
            restored=result.restored,
            archive=archive,
            schema=result.schema_version,
            rows=result.history_rows,
            kept=kept,
        ),
    )
    return 0
