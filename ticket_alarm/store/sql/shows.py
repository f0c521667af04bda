"""The show links of the SQL store (``api.ShowStore``), written once for SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import ticket_alarm.store.api as api  # the module, not the package (store/__init__ imports us)
from ticket_alarm.store.sql.queries import Columns
from ticket_alarm.store.sql.reads import SqlReads, Txn

LINK_COLUMNS = ("notice_key", "show_key", "title_key", "manual", "apart_from", "linked_at")
_JOINED = (
    "SELECT s.notice_key, s.show_key, s.title_key, s.manual, s.apart_from, h.* FROM shows s "
    "JOIN history h ON h.key = s.notice_key WHERE {where} ORDER BY h.first_seen, h.site, h.notice_id"
)
SHOW_LINKS = "SELECT notice_key, show_key, title_key, manual, apart_from FROM shows WHERE {among}"
SHOW_CANDIDATES = _JOINED.format(where="s.title_key=? AND h.first_seen>=?")
SHOW_NOTICES = _JOINED.format(where="s.show_key=?")
# notices recorded before shows existed (schema step 8), by when they were first seen
UNLINKED = (
    "SELECT h.* FROM history h LEFT JOIN shows s ON s.notice_key = h.key "
    "WHERE s.notice_key IS NULL AND h.first_seen>=? ORDER BY h.first_seen, h.site, h.notice_id"
)
_INSERT = f"INSERT INTO shows({', '.join(LINK_COLUMNS)}) VALUES ({', '.join('?' * len(LINK_COLUMNS))})"
# a crawl links a notice it saw first; one already linked (another replica, a correction) keeps its show
LINK_NEW = _INSERT + " ON CONFLICT (notice_key) DO NOTHING"
SAVE_LINK = (
    _INSERT
    + " ON CONFLICT (notice_key) DO UPDATE SET "
    + ", ".join(f"{c}=excluded.{c}" for c in LINK_COLUMNS[1:])
)


def link_params(link: api.ShowLink, now: float) -> tuple[Any, ...]:
    return (link.notice_key, link.show_key, link.title_key, int(link.manual), link.apart_from, now)


async def write_new_links(tx: Txn, links: Sequence[api.ShowLink], now: float) -> None:
    """``commit_cycle``'s part: the links of notices first seen (one linked before keeps its show)."""
    if links:
        await tx.executemany(LINK_NEW, [link_params(s, now) for s in links])


def _link(r: Columns) -> api.ShowLink:
    return api.ShowLink(r["notice_key"], r["show_key"], r["title_key"], bool(r["manual"]), r["apart_from"])


def _notice(r: Columns) -> api.NoticeRow:
    pending = r["pending_ticket"]
    return api.NoticeRow(
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


def _show_notice(r: Columns) -> api.ShowNotice:
    return api.ShowNotice(_link(r), _notice(r))


class SqlShows(SqlReads):
    """``api.ShowStore`` over the SQL store's hooks."""

    async def show_links(self, keys: Iterable[str]) -> dict[str, api.ShowLink]:
        return {r["notice_key"]: _link(r) for r in await self._among(SHOW_LINKS, "notice_key", keys)}

    async def show_candidates(self, title_key: str, since: float) -> list[api.ShowNotice]:
        return [_show_notice(r) for r in await self._select(SHOW_CANDIDATES, (title_key, since))]

    async def show_notices(self, show_key: str) -> list[api.ShowNotice]:
        return [_show_notice(r) for r in await self._select(SHOW_NOTICES, (show_key,))]

    async def unlinked_notices(self, since: float) -> list[api.NoticeRow]:
        return [_notice(r) for r in await self._select(UNLINKED, (since,))]

    async def save_show_links(
        self, links: Sequence[api.ShowLink], now: float, *, replace: bool = True
    ) -> None:
        rows = [link_params(s, now) for s in links]
        if rows:
            sql = SAVE_LINK if replace else LINK_NEW
            await self._interact("write", lambda tx: tx.executemany(sql, rows))
