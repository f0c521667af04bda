"""``ticket-alarm store migrate --to postgresql://…``: copy a SQLite store into an EMPTY PostgreSQL database.

Everything a store holds moves — history, the digest log, reminders, the outbox with its statuses and
attempts, site state, webhook marks, HTTP validators, meta (head-poll state, storm records) and the
legacy keys — in ONE PostgreSQL transaction, ids kept (so identities continue after them). The counts
are compared table by table before the commit; any difference rolls everything back. A database that
already holds rows is refused (exit 1): merging two histories could re-alert or drop notices.

Afterwards the daemon on PostgreSQL re-alerts nothing (the history keys came along) and delivers what
was pending (the outbox rows came along, pending). A source older than schema step 5 (read as it is,
never migrated: it is opened read-only) may still hold outbox rows as Discord embeds; the copies get
PostgreSQL's step 5 in the same transaction, so they arrive as legacy Alerts like the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from loguru import logger

from ticket_alarm.core.urls import check_store_url, mask_store_url, store_url_secrets
from ticket_alarm.errors import ConfigError, StoreError
from ticket_alarm.i18n import t
from ticket_alarm.store.postgres.engine import TABLES, PostgresStore, migrations
from ticket_alarm.store.sqlite.connection import SqliteExport, export

EXIT_OK, EXIT_REFUSED = 0, 1
LEGACY_OUTBOX_STEP = 5  # the schema step (SQLite's and PostgreSQL's) that rewrote Discord-embed outbox rows


class MigrationRefused(StoreError):
    """The target is not an empty database, or the source is not a store this program knows."""


async def migrate_sqlite(source: Path, url: str) -> dict[str, int]:
    """Copy the SQLite store at ``source`` into the empty database at ``url``; rows per table."""
    store = await PostgresStore.open(url)
    try:
        with export(source) as src:
            return await _copy(src, store)
    finally:
        await store.close()


async def _copy(src: SqliteExport, store: PostgresStore) -> dict[str, int]:
    shown = store.location
    present = set(src.tables())
    unknown = present - set(TABLES)
    if "history" not in present or unknown:
        tables = t("migrate.unknown_tables", tables=", ".join(sorted(unknown))) if unknown else ""
        raise MigrationRefused(t("migrate.unknown_store", path=src.path, unknown=tables))
    if not await store.is_empty():
        counts = {table: n for table, n in (await store.table_counts()).items() if n}
        listed = ", ".join(f"{table} {n}" for table, n in counts.items())
        raise MigrationRefused(t("migrate.not_empty", target=shown, counts=listed))
    copied: dict[str, int] = {}
    async with store._tx("store migrate") as conn:
        await conn.execute("LOCK TABLE " + ", ".join(TABLES) + " IN ACCESS EXCLUSIVE MODE")
        for table in TABLES:
            if table not in present:
                copied[table] = 0
                continue
            columns = await _target_columns(conn, table)
            source_columns = src.columns(table)
            missing = [c for c in source_columns if c not in columns]
            if missing:
                raise MigrationRefused(
                    t("migrate.columns", path=src.path, table=table, missing=", ".join(missing))
                )
            convert = [_converter(columns[c]) for c in source_columns]
            names = ", ".join(source_columns)
            n = 0
            async with conn.cursor() as cur, cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for batch in src.rows(table, source_columns):
                    for row in batch:
                        await copy.write_row([f(v) for f, v in zip(convert, row, strict=True)])
                    n += len(batch)
            if "id" in columns:  # identities continue after the copied ids
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                )
            cur2 = await conn.execute(f"SELECT count(*) AS n FROM {table}")
            counted = await cur2.fetchone()
            stored = int(counted["n"]) if counted else -1
            expected = src.count(table)
            if not stored == n == expected:
                raise StoreError(
                    t(
                        "migrate.count_mismatch",
                        target=shown,
                        table=table,
                        expected=expected,
                        path=src.path,
                        copied=n,
                        stored=stored,
                    )
                )
            copied[table] = n
        if src.schema_version() < LEGACY_OUTBOX_STEP:  # its embed rows were never rewritten: do it here
            [step] = [sql for number, _, sql in migrations() if number == LEGACY_OUTBOX_STEP]
            await conn.execute(step.encode())
    return copied


async def _target_columns(conn: psycopg.AsyncConnection[Any], table: str) -> dict[str, str]:
    cur = await conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name=%s "
        "AND table_schema = current_schema()",
        (table,),
    )
    return {r["column_name"]: r["data_type"] for r in await cur.fetchall()}


def _converter(data_type: str) -> Callable[[Any], Any]:
    if data_type == "boolean":
        return lambda v: None if v is None else bool(v)
    if data_type == "bytea":
        return lambda v: None if v is None else (v if isinstance(v, bytes) else str(v).encode())
    return lambda v: v


async def command(data_dir: Path, to: str | None) -> int:
    """``store migrate --to URL`` (the CLI parses it): exit 0 copied, 1 refused (not empty, unknown store)."""
    try:
        url = check_store_url(to)
    except ValueError as exc:
        raise ConfigError(f"store migrate --to: {exc}") from None
    if url is None:
        raise ConfigError(t("migrate.no_url"))
    from ticket_alarm.logs import redact

    redact.register(store_url_secrets(url))
    from ticket_alarm.store import DB_NAME, InstanceLock

    source = data_dir / DB_NAME
    try:
        holder = InstanceLock.held_by_other(data_dir)
        if holder is not None:  # it would go on writing the SQLite file after the copy: alerts lost
            raise MigrationRefused(t("migrate.running", pid=holder if holder > 0 else "?", data_dir=data_dir))
        copied = await migrate_sqlite(source, url)
    except MigrationRefused as exc:
        logger.error("{}", redact(str(exc)))
        return EXIT_REFUSED
    logger.info(
        "{}",
        t(
            "migrate.done",
            source=source,
            target=mask_store_url(url),
            copied=", ".join(f"{table} {n}" for table, n in copied.items()),
        ),
    )
    return EXIT_OK
