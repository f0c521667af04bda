"""The PostgreSQL store's read-only queries of history (the status page, ``upcoming``, ``history``,
``explain``), apart from the writes in ``engine.py``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from ticket_alarm.store.api import DigestLogRow, NoticeRow, SearchHit, SiteHistory, UpcomingRow
from ticket_alarm.store.postgres.connection import CHUNK, PgConnection
from ticket_alarm.store.sql import queries as Q
from ticket_alarm.store.sql.dialect import POSTGRES as PG


class PostgresReads(PgConnection):
    """Reads through the connection's pool."""

    async def notice(self, key: str) -> NoticeRow | None:
        rows = await self._rows(PG.sql(Q.NOTICE), (key,))
        return _notice(rows[0]) if rows else None

    async def notice_events(self, key: str) -> list[DigestLogRow]:
        rows = await self._rows(PG.sql(Q.NOTICE_EVENTS), (key,))
        return [
            DigestLogRow(r["id"], r["key"], r["event"], r["digest"], json.loads(r["ticket"]), r["at"])
            for r in rows
        ]

    async def known_contents(self, site: str) -> set[tuple[str, str | None]]:
        rows = await self._rows(
            "SELECT title, ta_json(ticket) ->> 'open_at' AS open_at FROM history WHERE site=%s", (site,)
        )
        return {(r["title"], r["open_at"]) for r in rows}

    async def newest_notice(self, site: str) -> dict[str, Any] | None:
        rows = await self._rows(
            "SELECT ticket FROM history WHERE site=%s ORDER BY first_seen DESC, ctid DESC LIMIT 1", (site,)
        )
        return json.loads(rows[0]["ticket"]) if rows else None

    async def history_count(self, site: str | None = None) -> int:
        if site is None:
            return int(await self._value(Q.HISTORY_COUNT))
        return int(await self._value(PG.sql(Q.HISTORY_COUNT_SITE), (site,)))

    async def history_by_site(self) -> list[SiteHistory]:
        rows = await self._rows(Q.HISTORY_BY_SITE)
        return [
            SiteHistory(r["site"], int(r["n"]), r["first_seen"], r["newest"], r["last_seen"]) for r in rows
        ]

    async def search_history(
        self, text: str, limit: int = 50, fold: Callable[[str], str] | None = None
    ) -> list[SearchHit]:
        hits: list[SearchHit] = []
        if fold is None:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            # SQLite's LIKE: case-insensitive for ASCII only (lower() would fold Hangul-adjacent scripts too)
            where, param = "title ILIKE %s ESCAPE '\\'", pattern
        else:
            where, param = "TRUE", None
        rows = await self._rows(
            "SELECT site, notice_id, title, first_seen, 'history' AS origin, "
            "ta_json(ticket) ->> 'open_at' AS open_at, ta_json(ticket) ->> 'open_date' AS open_date "
            f"FROM history WHERE {where}",
            (param,) if param is not None else (),
        )
        rows += await self._rows(
            "SELECT coalesce(site, '?') AS site, coalesce(notice_id, '?') AS notice_id, title, "
            "coalesce(seen_at, imported_at) AS first_seen, 'imported' AS origin, NULL AS open_at, "
            f"NULL AS open_date FROM legacy_keys l WHERE title IS NOT NULL AND {where} "
            "AND NOT EXISTS (SELECT 1 FROM history h WHERE h.key = l.key)",
            (param,) if param is not None else (),
        )
        if fold is not None:
            needle = fold(text)
            rows = [r for r in rows if r["title"] is not None and needle in fold(r["title"])]
        elif not text.isascii():  # ILIKE folds non-ASCII letters, SQLite's LIKE does not
            rows = [r for r in rows if _ascii_ci_contains(r["title"], text)]
        rows.sort(key=lambda r: (-r["first_seen"], r["site"], r["notice_id"]))
        for r in rows[:limit]:
            hits.append(SearchHit(**r))
        return hits

    async def upcoming_rows(self, since_day: str) -> list[UpcomingRow]:
        rows = await self._rows(
            "SELECT site, notice_id, ticket, first_seen, last_seen FROM history h, ta_json(h.ticket) AS t "
            "WHERE substr(t ->> 'open_at', 1, 10) >= %(d)s OR substr(t ->> 'open_date', 1, 10) >= %(d)s "
            "OR (jsonb_typeof(t -> 'presales') = 'array' AND EXISTS (SELECT 1 FROM "
            "jsonb_array_elements(t -> 'presales') AS p WHERE jsonb_typeof(p) = 'object' "
            "AND substr(p ->> 'at', 1, 10) >= %(d)s))",
            {"d": since_day},
        )
        return [
            UpcomingRow(r["site"], r["notice_id"], json.loads(r["ticket"]), r["first_seen"], r["last_seen"])
            for r in rows
        ]

    async def legacy_keys(self, keys: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(keys))
        out: set[str] = set()
        for start in range(0, len(wanted), CHUNK):
            rows = await self._rows(
                "SELECT key FROM legacy_keys WHERE key = ANY(%s)", (wanted[start : start + CHUNK],)
            )
            out.update(r["key"] for r in rows)
        return out

    async def legacy_counts(self) -> tuple[int, int]:
        rows = await self._rows(Q.LEGACY_COUNTS)
        return (int(rows[0]["n"]), int(rows[0]["m"]))


def _ascii_ci_contains(title: str | None, text: str) -> bool:
    if title is None:
        return False

    def low(s: str) -> str:
        return "".join(c.lower() if c.isascii() else c for c in s)

    return low(text) in low(title)


def _notice(r: dict[str, Any]) -> NoticeRow:
    return NoticeRow(
        key=r["key"],
        digest=r["digest"],
        site=r["site"],
        notice_id=r["notice_id"],
        title=r["title"],
        ticket=json.loads(r["ticket"]),
        first_seen=r["first_seen"],
        last_seen=r["last_seen"],
        pending_digest=r["pending_digest"],
        pending_ticket=_loads(r["pending_ticket"]),
        pending_cycles=r["pending_cycles"],
    )


def _loads(value: str | None) -> Any:
    return None if value is None else json.loads(value)
