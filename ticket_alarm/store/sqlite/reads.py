"""The SQLite store's read-only queries of history (the status page, ``upcoming``, ``history``,
``explain``), apart from the writes in ``engine.py``; both run on the store's one connection."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ticket_alarm.errors import StoreError
from ticket_alarm.i18n import t
from ticket_alarm.store.api import (
    DigestLogRow,
    NoticeRow,
    OutboxRow,
    RecentAlert,
    SearchHit,
    SiteHistory,
    UpcomingRow,
)
from ticket_alarm.store.sql import queries as Q


class SqliteReads:
    """Reads over ``self._conn`` (set by :class:`ticket_alarm.store.sqlite.engine.SqliteEngine`)."""

    path: Any
    _conn: sqlite3.Connection

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(t("store.read_failed", path=self.path, error=exc)) from exc

    def notice(self, key: str) -> NoticeRow | None:
        rows = self._query(Q.NOTICE, (key,))
        if not rows:
            return None
        r = rows[0]
        pending = r["pending_ticket"]
        return NoticeRow(
            r["key"],
            r["digest"],
            r["site"],
            r["notice_id"],
            r["title"],
            json.loads(r["ticket"]),
            r["first_seen"],
            r["last_seen"],
            r["pending_digest"],
            json.loads(pending) if pending else None,
            r["pending_cycles"],
        )

    def notice_events(self, key: str) -> list[DigestLogRow]:
        return [
            DigestLogRow(r["id"], r["key"], r["event"], r["digest"], json.loads(r["ticket"]), r["at"])
            for r in self._query(Q.NOTICE_EVENTS, (key,))
        ]

    def notice_outbox(self, key: str) -> list[OutboxRow]:
        return [Q.outbox_row(r) for r in self._query(Q.NOTICE_OUTBOX, (key,))]

    def legacy_keys(self, keys: Iterable[str]) -> set[str]:
        keys = list(keys)
        out: set[str] = set()
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = self._query(
                f"SELECT key FROM legacy_keys WHERE key IN ({','.join('?' * len(chunk))})", chunk
            )
            out.update(r[0] for r in rows)
        return out

    def known_contents(self, site: str) -> set[tuple[str, str | None]]:
        """(title, open_at ISO or None) of every notice in a site's history (the storm check)."""
        rows = self._query(
            "SELECT title, json_extract(ticket, '$.open_at') FROM history WHERE site=?", (site,)
        )
        return {(row[0], row[1]) for row in rows}

    def newest_notice(self, site: str) -> dict[str, Any] | None:
        """The ticket JSON of the notice of ``site`` seen first most recently (``send-test --sample``)."""
        rows = self._query(
            "SELECT ticket FROM history WHERE site=? ORDER BY first_seen DESC, rowid DESC LIMIT 1", (site,)
        )
        return json.loads(rows[0]["ticket"]) if rows else None

    def history_count(self, site: str | None = None) -> int:
        if site is None:
            return int(self._query(Q.HISTORY_COUNT)[0][0])
        return int(self._query(Q.HISTORY_COUNT_SITE, (site,))[0][0])

    def has_table(self, name: str) -> bool:
        return bool(self._query("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)))

    def history_by_site(self) -> list[SiteHistory]:
        """Per site: rows, the first and the newest first_seen, the latest last_seen."""
        return [SiteHistory(*r) for r in self._query(Q.HISTORY_BY_SITE)]

    def search_history(
        self, text: str, limit: int = 50, fold: Callable[[str], str] | None = None
    ) -> list[SearchHit]:
        """History rows (and imported legacy records) whose title contains ``text``, newest first.

        With ``fold`` (e.g. routing.normalise), title and text are compared in that folded form.
        """
        if fold is not None:
            self._conn.create_function("ta_fold", 1, lambda v: fold(v) if v is not None else None)
            where, params_text = "instr(ta_fold(title), ?) > 0", fold(text)
        else:
            where = "title LIKE ? ESCAPE '\\'"
            params_text = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        legacy = ""
        params: list[Any] = [params_text]
        if self.has_table("legacy_keys"):
            legacy = (
                " UNION ALL SELECT coalesce(site, '?'), coalesce(notice_id, '?'), title, "
                f"coalesce(seen_at, imported_at), 'imported', NULL, NULL FROM legacy_keys WHERE {where} "
                "AND key NOT IN (SELECT key FROM history)"
            )
            params.append(params_text)
        return [
            SearchHit(*r)
            for r in self._query(
                "SELECT site, notice_id, title, first_seen, 'history' AS origin, "
                "json_extract(ticket, '$.open_at') AS open_at, "
                "json_extract(ticket, '$.open_date') AS open_date "
                f"FROM history WHERE {where}{legacy} ORDER BY 4 DESC, 1, 2 LIMIT ?",
                [*params, limit],
            )
        ]

    def upcoming_rows(self, since_day: str) -> list[UpcomingRow]:
        """History rows with a sale (open or presale) or an open date on/after ``since_day`` (YYYY-MM-DD).

        The day compares with the leading date of the stored ISO strings, so callers pass a day
        before the one they want (a margin for UTC offsets) and filter exact times themselves.
        """
        rows = self._query(
            "SELECT site, notice_id, ticket, first_seen, last_seen FROM history WHERE "
            "substr(json_extract(ticket, '$.open_at'), 1, 10) >= ? "
            "OR substr(json_extract(ticket, '$.open_date'), 1, 10) >= ? "
            "OR EXISTS (SELECT 1 FROM json_each(history.ticket, '$.presales') "
            "WHERE substr(json_extract(json_each.value, '$.at'), 1, 10) >= ?)",
            (since_day, since_day, since_day),
        )
        return [UpcomingRow(r[0], r[1], json.loads(r[2]), r[3], r[4]) for r in rows]

    def recent_alerts(self, limit: int = 20) -> list[RecentAlert]:
        """The newest outbox rows with the notice's title (None for messages without a notice)."""
        return [RecentAlert(*r) for r in self._query(Q.RECENT_ALERTS, (limit,))]

    def legacy_counts(self) -> tuple[int, int]:
        """(imported legacy keys, of which a crawl has met since)."""
        if not self.has_table("legacy_keys"):
            return (0, 0)
        row = self._query(Q.LEGACY_COUNTS)[0]
        return (int(row[0]), int(row[1]))
