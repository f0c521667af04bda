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

from ticket_alarm.clock import SystemClock
from ticket_alarm.config.settings import Settings
from ticket_alarm.errors import StoreError
from ticket_alarm.i18n import t
from ticket_alarm.ops.backup import BackupError, _free_name, _write_private, default_dest, stamp
from ticket_alarm.store.postgres.engine import PostgresStore
from ticket_alarm.store.postgres.replicas import replica_rows


async def backup(settings: Settings, config_path: Path | None, dest: Path | None) -> tuple[Path, Path | None]:
    assert settings.store_url
    dest = dest or default_dest(settings)
    try:
        dest.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise BackupError(t("backup.dest_create", dest=dest, reason=exc.strerror)) from None
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
        raise BackupError(t("dump.no_file", dump=dump))
    store = await PostgresStore.open(settings.store_url)
    try:
        alive = [r for r in await replica_rows(store, alive_within=settings.replica_lease) if r.alive]
        if alive:
            names = ", ".join(r.name for r in alive)
            where = store.location
            raise BackupError(t("dump.replicas_running", location=where, count=len(alive), names=names))
        try:
            await store.restore(dump)
        except StoreError as exc:
            raise BackupError(str(exc)) from None
    finally:
        await store.close()


async def backup_command(args: argparse.Namespace, settings: Settings, config_path: Path) -> int:
    if args.keep is not None and args.keep < 1:
        raise BackupError(t("backup.keep", keep=args.keep))
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
        "{}",
        t(
            "dump.written",
            target=target,
            seconds=time.monotonic() - started,
            config=t("backup.config_copied", config=copy) if copy else "",
            removed=t("backup.removed", count=len(removed)) if removed else "",
        ),
    )
    return 0


async def restore_command(args: argparse.Namespace, settings: Settings) -> int:
    await restore(settings, Path(args.archive))
    logger.info("{}", t("dump.restored", archive=args.archive))
    return 0
