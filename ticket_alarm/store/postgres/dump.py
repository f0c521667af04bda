"""``backup`` and ``restore`` when the store is PostgreSQL: ``pg_dump``/``pg_restore`` (custom format).

``backup`` writes ``data_YYYYMMDD_HHMMSS.dump`` (one consistent snapshot; the replicas go on) and a
copy of the config (mode 600) into the destination; ``restore FILE.dump`` replaces every table in one
transaction, refused while a replica is alive. Without the PostgreSQL client tools installed, both
say what to install (exit 1).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from loguru import logger

from ticket_alarm.backup import BackupError, _free_name, _write_private, default_dest, stamp
from ticket_alarm.clock import SystemClock
from ticket_alarm.config import Settings
from ticket_alarm.errors import StoreError
from ticket_alarm.store.postgres.engine import PostgresStore
from ticket_alarm.store.postgres.replicas import replica_rows


async def backup(settings: Settings, config_path: Path | None, dest: Path | None) -> tuple[Path, Path | None]:
    assert settings.store_url
    dest = dest or default_dest(settings)
    try:
        dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise BackupError(f"backup destination {dest}: cannot create it ({exc.strerror}).") from None
    ts = stamp(SystemClock().now())
    target = _free_name(dest, "data", ts, ".dump")
    store = await PostgresStore.open(settings.store_url, readonly=True)
    try:
        await store.backup(target)
    except StoreError as exc:
        target.unlink(missing_ok=True)
        raise BackupError(str(exc)) from None
    finally:
        await store.close()
    copy = None
    if config_path is not None and config_path.is_file():
        copy = _free_name(dest, "config", ts, ".json")
        _write_private(copy, config_path.read_bytes())
    return target, copy


async def restore(settings: Settings, dump: Path) -> None:
    assert settings.store_url
    if not dump.is_file():
        raise BackupError(f"{dump}: no such backup file (a .dump written by `backup` on PostgreSQL).")
    store = await PostgresStore.open(settings.store_url)
    try:
        alive = [r for r in await replica_rows(store, alive_within=settings.replica_lease) if r.alive]
        if alive:
            raise BackupError(
                f"{store.location}: {len(alive)} replica(s) still running "
                f"({', '.join(r.name for r in alive)}); stop every replica first "
                "(supervisorctl stop ticket-alarm:), then restore."
            )
        try:
            await store.restore(dump)
        except StoreError as exc:
            raise BackupError(str(exc)) from None
    finally:
        await store.close()


async def backup_command(args: argparse.Namespace, settings: Settings, config_path: Path) -> int:
    if args.keep is not None and args.keep < 1:
        raise BackupError(f"--keep {args.keep}: keep at least 1 backup (the one just written).")
    dest = Path(args.dest) if args.dest else None
    started = time.monotonic()
    target, copy = await backup(settings, config_path if config_path.is_file() else None, dest)
    print(target)
    if copy:
        print(copy)
    removed = []
    if args.keep:
        for pattern in ("data_*.dump", "config_*.json"):
            old = sorted(target.parent.glob(pattern))
            for path in old[: max(0, len(old) - args.keep)]:
                path.unlink()
                removed.append(path)
    logger.info(
        "backup: {} written with pg_dump in {:.1f}s{}{}",
        target,
        time.monotonic() - started,
        f", config copied to {copy}" if copy else "",
        f", {len(removed)} old file(s) removed" if removed else "",
    )
    return 0


async def restore_command(args: argparse.Namespace, settings: Settings) -> int:
    await restore(settings, Path(args.archive))
    logger.info("restore: {} restored with pg_restore; start the replicas", args.archive)
    return 0
