"""The SQL store's reads, written once for SQLite and PostgreSQL over three hooks a backend provides:
``dialect`` (how its engine spells things), ``_select`` (one read) and ``_interact`` (one
transaction, the body written as a coroutine over a :class:`Txn`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

import ticket_alarm.store.api as api  # the module, not the package (store/__init__ imports us)
from ticket_alarm.core.notice_memo import NoticeRead
from ticket_alarm.fetch.conditional import CachedResponse
from ticket_alarm.store.meta import MetaRecords
from ticket_alarm.store.sql import queries as Q
from ticket_alarm.store.sql.dialect import Dialect
from ticket_alarm.store.sql.queries import Columns

T = TypeVar("T")


class Txn(Protocol):
    """One open transaction; statements in ``?`` form (the backend adapts them to its engine)."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Columns]:
        """Run one statement; the rows it returned (none for a statement without a result)."""
        ...


Body = Callable[[Txn], Coroutine[Any, Any, T]]


class SqlReads(MetaRecords):
    """Reads of ``api.Store`` for a SQL backend (the writes: ``ticket_alarm.store.sql.store.SqlStore``)."""

    dialect: ClassVar[Dialect]
    location: str
    readonly: bool

    async def _select(self, sql: str, params: Sequence[Any] = ()) -> list[Columns]:
        """The rows of one read (``sql`` in ``?`` form)."""
        raise NotImplementedError

    async def _interact(self, what: str, body: Body[T]) -> T:
        """``body`` run in one transaction (``what``: the operation's English name, said on failure)."""
        raise NotImplementedError

    async def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self._select(sql, params)
        return rows[0][next(iter(rows[0].keys()))] if rows else None

    async def _among(self, sql: str, column: str, values: Iterable[Any], *before: Any) -> list[Columns]:
        """``sql``'s rows where ``column`` is one of ``values`` (``{among}`` in ``sql``), chunk by chunk."""
        d, wanted, out = self.dialect, list(dict.fromkeys(values)), []
        for start in range(0, len(wanted), d.chunk):
            where, params = d.among(column, wanted[start : start + d.chunk])
            out += await self._select(sql.format(among=where), [*before, *params])
        return out

    async def _has_table(self, name: str) -> bool:
        return bool(await self._select(self.dialect.has_table, (name,)))

    # --- history ---------------------------------------------------------------------------
    async def seen(self, keys: Iterable[str]) -> dict[str, api.Seen]:
        return {
            r["key"]: api.Seen(
                r["key"], r["digest"], json.loads(r["ticket"]), r["pending_digest"], r["pending_cycles"]
            )
            for r in await self._among(Q.SEEN, "key", keys)
        }

    async def notice(self, key: str) -> api.NoticeRow | None:
        rows = await self._select(Q.NOTICE, (key,))
        if not rows:
            return None
        r = dict(rows[0])
        pending = r["pending_ticket"]
        return api.NoticeRow(
            **{
                **r,
                "ticket": json.loads(r["ticket"]),
                "pending_ticket": json.loads(pending) if pending else None,
            }
        )

    async def notice_events(self, key: str) -> list[api.DigestLogRow]:
        return [
            api.DigestLogRow(**{**dict(r), "ticket": json.loads(r["ticket"])})
            for r in await self._select(Q.NOTICE_EVENTS, (key,))
        ]

    async def known_contents(self, site: str) -> set[tuple[str, str | None]]:
        """(title, open_at ISO or None) of every notice in a site's history (the storm check)."""
        return {
            (r["title"], r["open_at"]) for r in await self._select(Q.known_contents(self.dialect), (site,))
        }

    async def newest_notice(self, site: str) -> dict[str, Any] | None:
        """The ticket JSON of the notice of ``site`` seen first most recently (``send-test --sample``)."""
        rows = await self._select(Q.newest_notice(self.dialect), (site,))
        return json.loads(rows[0]["ticket"]) if rows else None

    async def history_count(self, site: str | None = None) -> int:
        if site is None:
            return int(await self._scalar(Q.HISTORY_COUNT))
        return int(await self._scalar(Q.HISTORY_COUNT_SITE, (site,)))

    async def history_by_site(self) -> list[api.SiteHistory]:
        """Per site: rows, the first and the newest first_seen, the latest last_seen."""
        return [
            api.SiteHistory(r["site"], int(r["n"]), r["first_seen"], r["newest"], r["last_seen"])
            for r in await self._select(Q.HISTORY_BY_SITE)
        ]

    async def upcoming_rows(self, since_day: str) -> list[api.UpcomingRow]:
        """History rows with a sale (open or presale) or an open date on/after ``since_day`` (YYYY-MM-DD).

        The day compares with the leading date of the stored ISO strings, so callers pass a day
        before the one they want (a margin for UTC offsets) and filter exact times themselves.
        """
        rows = await self._select(Q.upcoming(self.dialect), (since_day,) * 3)
        return [
            api.UpcomingRow(
                r["site"], r["notice_id"], json.loads(r["ticket"]), r["first_seen"], r["last_seen"]
            )
            for r in rows
        ]

    async def legacy_keys(self, keys: Iterable[str]) -> set[str]:
        return {r["key"] for r in await self._among(Q.LEGACY_KEYS, "key", keys)}

    async def legacy_counts(self) -> tuple[int, int]:
        """(imported legacy keys, of which a crawl has met since); a store older than them: none."""
        if not await self._has_table("legacy_keys"):
            return (0, 0)
        row = (await self._select(Q.LEGACY_COUNTS))[0]
        return (int(row["n"]), int(row["m"]))

    # --- reminders -------------------------------------------------------------------------
    async def reminders(self, notice_keys: Iterable[str]) -> list[api.ReminderRow]:
        rows = [api.ReminderRow(**dict(r)) for r in await self._among(Q.REMINDERS, "notice_key", notice_keys)]
        return sorted(rows, key=lambda r: (r.notice_key, r.route, r.sale, -r.offset_min))

    async def due_reminders(self, now: float, limit: int = 200) -> list[api.DueReminder]:
        return [api.ReminderRow(**dict(r)) for r in await self._select(Q.DUE_REMINDERS, (now, limit))]

    async def next_reminder_due(self) -> float | None:
        value = await self._scalar(Q.NEXT_REMINDER_DUE)
        return None if value is None else float(value)

    # --- outbox ----------------------------------------------------------------------------
    async def next_due(self, route: str) -> float | None:
        value = await self._scalar(Q.NEXT_DUE, (route,))
        return None if value is None else float(value)

    async def outbox_stats(self) -> api.OutboxStats:
        stats = api.OutboxStats()
        for r in await self._select(Q.OUTBOX_BY_STATUS):
            setattr(stats, r["status"], int(r["n"]))
        oldest = await self._scalar(Q.OLDEST_PENDING)
        stats.oldest_pending = None if oldest is None else float(oldest)
        for r in await self._select(Q.PENDING_BY_ROUTE):
            stats.by_route[r["route"]] = int(r["n"])
        return stats

    async def outbox_list(
        self, *, status: str | None = None, route: str | None = None, since: float | None = None
    ) -> list[api.OutboxRow]:
        """Outbox rows, oldest first (``outbox list``, health)."""
        return [Q.outbox_row(r) for r in await self._select(*Q.outbox_list(status, route, since))]

    async def notice_outbox(self, key: str) -> list[api.OutboxRow]:
        return [Q.outbox_row(r) for r in await self._select(Q.NOTICE_OUTBOX, (key,))]

    async def recent_alerts(self, limit: int = 20) -> list[api.RecentAlert]:
        """The newest outbox rows with the notice's title (None for messages without a notice)."""
        return [api.RecentAlert(**dict(r)) for r in await self._select(Q.RECENT_ALERTS, (limit,))]

    # --- site state, webhooks, meta, HTTP cache, notices' second pages ---------------------
    async def site_state(self, site: str) -> api.SiteState:
        rows = await self._select(Q.SITE_STATE, (site,))
        return _site_state(rows[0]) if rows else api.SiteState(site)

    async def all_site_states(self) -> list[api.SiteState]:
        return [_site_state(r) for r in await self._select(Q.ALL_SITE_STATES)]

    async def broken_webhooks(self) -> dict[str, str]:
        return {r["route"]: r["broken_reason"] for r in await self._select(Q.BROKEN_WEBHOOKS)}

    async def broken_webhook_fingerprints(self) -> dict[str, str]:
        """Route → fingerprint of the URL that was marked broken (marks written before it: absent)."""
        rows = await self._select(Q.WEBHOOK_FINGERPRINTS)
        return {r["key"].removeprefix(Q.WEBHOOK_URL_META): r["value"] for r in rows}

    async def get_meta(self, key: str) -> str | None:
        value: str | None = await self._scalar(Q.GET_META, (key,))
        return value

    async def cached_response(self, key: str) -> CachedResponse | None:
        rows = await self._select(Q.CACHED_RESPONSE, (key,))
        if not rows:
            return None
        return CachedResponse(rows[0]["etag"], rows[0]["last_modified"], bytes(rows[0]["body"]))

    async def notice_reads(self, site: str, ids: Sequence[str]) -> dict[str, NoticeRead]:
        return {
            r["notice_id"]: NoticeRead(**dict(r))
            for r in await self._among(Q.NOTICE_READS, "notice_id", ids, site)
        }


def _site_state(row: Columns) -> api.SiteState:
    values = dict(row)
    return api.SiteState(**{**values, "initialized": bool(values["initialized"])})
