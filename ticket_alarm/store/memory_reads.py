"""The in-memory store's data and its read-only queries of history (the status page, ``upcoming``,
``history``, ``explain``); the writes are ``memory.py``."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ticket_alarm.core.notice_memo import NoticeRead
from ticket_alarm.fetch.conditional import CachedResponse
from ticket_alarm.store.api import (
    DigestLogRow,
    LegacyKey,
    NoticeRow,
    OutboxRow,
    Post,
    RecentAlert,
    ReminderRow,
    SearchHit,
    ShowLink,
    SiteHistory,
    SiteState,
    UpcomingRow,
)


@dataclass
class _Legacy:
    key: LegacyKey
    imported_at: float
    matched_at: float | None = None


@dataclass
class _Data:
    history: dict[str, NoticeRow] = field(default_factory=dict)
    digest_log: list[DigestLogRow] = field(default_factory=list)
    reminders: dict[tuple[str, str, str, int], ReminderRow] = field(default_factory=dict)
    outbox: dict[int, OutboxRow] = field(default_factory=dict)
    site_state: dict[str, SiteState] = field(default_factory=dict)
    webhooks: dict[str, tuple[str, float]] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)
    cache: dict[str, tuple[CachedResponse, float]] = field(default_factory=dict)
    legacy: dict[str, _Legacy] = field(default_factory=dict)
    notice_reads: dict[tuple[str, str], tuple[NoticeRead, float]] = field(default_factory=dict)
    shows: dict[str, ShowLink] = field(default_factory=dict)  # notice_key → its show
    posts: dict[tuple[str, int], Post] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class MemoryReads:
    """Reads of ``self._d``."""

    _d: _Data

    async def notice(self, key: str) -> NoticeRow | None:
        row = self._d.history.get(key)
        return copy.deepcopy(row) if row else None

    async def notice_events(self, key: str) -> list[DigestLogRow]:
        return [copy.deepcopy(e) for e in self._d.digest_log if e.key == key]

    async def known_contents(self, site: str) -> set[tuple[str, str | None]]:
        return {(r.title, r.ticket.get("open_at")) for r in self._d.history.values() if r.site == site}

    async def newest_notice(self, site: str) -> dict[str, Any] | None:
        rows = [r for r in self._d.history.values() if r.site == site]
        if not rows:
            return None
        order = {k: i for i, k in enumerate(self._d.history)}
        return copy.deepcopy(max(rows, key=lambda r: (r.first_seen, order[r.key])).ticket)

    async def history_count(self, site: str | None = None) -> int:
        return sum(1 for r in self._d.history.values() if site is None or r.site == site)

    async def history_by_site(self) -> list[SiteHistory]:
        out = []
        for site in sorted({r.site for r in self._d.history.values()}):
            rows = [r for r in self._d.history.values() if r.site == site]
            out.append(
                SiteHistory(
                    site,
                    len(rows),
                    min(r.first_seen for r in rows),
                    max(r.first_seen for r in rows),
                    max(r.last_seen for r in rows),
                )
            )
        return out

    async def search_history(
        self, text: str, limit: int = 50, fold: Callable[[str], str] | None = None
    ) -> list[SearchHit]:
        def match(title: str | None) -> bool:
            if title is None:
                return False
            if fold is not None:
                return fold(text) in fold(title)
            return _ascii_lower(text) in _ascii_lower(title)

        hits = [
            SearchHit(
                r.site,
                r.notice_id,
                r.title,
                r.first_seen,
                "history",
                r.ticket.get("open_at"),
                r.ticket.get("open_date"),
            )
            for r in self._d.history.values()
            if match(r.title)
        ]
        for item in self._d.legacy.values():
            k = item.key
            if k.key not in self._d.history and match(k.title):
                seen = k.seen_at if k.seen_at is not None else item.imported_at
                hits.append(SearchHit(k.site or "?", k.notice_id or "?", k.title or "", seen, "imported"))
        hits.sort(key=lambda h: (-h.first_seen, h.site, h.notice_id))
        return hits[:limit]

    async def upcoming_rows(self, since_day: str) -> list[UpcomingRow]:
        def later(value: Any) -> bool:
            return isinstance(value, str) and value[:10] >= since_day

        out = []
        for r in self._d.history.values():
            t = r.ticket
            presales = t.get("presales") or []
            if (
                later(t.get("open_at"))
                or later(t.get("open_date"))
                or any(isinstance(p, dict) and later(p.get("at")) for p in presales)
            ):
                out.append(UpcomingRow(r.site, r.notice_id, copy.deepcopy(t), r.first_seen, r.last_seen))
        return out

    async def legacy_keys(self, keys: Iterable[str]) -> set[str]:
        return {k for k in keys if k in self._d.legacy}

    async def legacy_counts(self) -> tuple[int, int]:
        items = self._d.legacy.values()
        return len(items), sum(1 for i in items if i.matched_at is not None)

    async def notice_outbox(self, key: str) -> list[OutboxRow]:
        return [copy.deepcopy(r) for _, r in sorted(self._d.outbox.items()) if r.notice_key == key]

    async def recent_alerts(self, limit: int = 20) -> list[RecentAlert]:
        out = []
        for i in sorted(self._d.outbox, reverse=True)[:limit]:
            r = self._d.outbox[i]
            h = self._d.history.get(r.notice_key) if r.notice_key else None
            out.append(
                RecentAlert(
                    r.id,
                    r.route,
                    r.kind,
                    r.site,
                    r.status,
                    r.created_at,
                    r.sent_at,
                    r.attempts,
                    r.last_error,
                    h.title if h else None,
                    h.notice_id if h else None,
                )
            )
        return out


def _ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
