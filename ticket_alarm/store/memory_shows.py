"""The show links of the in-memory store (``api.ShowStore``)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence

from ticket_alarm.store.api import NoticeRow, ShowLink, ShowNotice
from ticket_alarm.store.memory_reads import _Data


class MemoryShows:
    _d: _Data

    def _link_new(self, links: Sequence[ShowLink]) -> None:
        """``commit_cycle``'s part: a notice linked before keeps its show."""
        for link in links:
            self._d.shows.setdefault(link.notice_key, link)

    async def show_links(self, keys: Iterable[str]) -> dict[str, ShowLink]:
        return {k: self._d.shows[k] for k in keys if k in self._d.shows}

    def _joined(self, wanted: Callable[[ShowLink, float], bool]) -> list[ShowNotice]:
        d, out = self._d, []
        for key, link in d.shows.items():
            row = d.history.get(key)
            if row is not None and wanted(link, row.first_seen):
                out.append(ShowNotice(link, copy.deepcopy(row)))
        return sorted(out, key=lambda s: (s.notice.first_seen, s.notice.site, s.notice.notice_id))

    async def show_candidates(self, title_key: str, since: float) -> list[ShowNotice]:
        return self._joined(lambda link, first_seen: link.title_key == title_key and first_seen >= since)

    async def show_notices(self, show_key: str) -> list[ShowNotice]:
        return self._joined(lambda link, _: link.show_key == show_key)

    async def unlinked_notices(self, since: float) -> list[NoticeRow]:
        d = self._d
        rows = [r for k, r in d.history.items() if k not in d.shows and r.first_seen >= since]
        return [copy.deepcopy(r) for r in sorted(rows, key=lambda r: (r.first_seen, r.site, r.notice_id))]

    async def save_show_links(self, links: Sequence[ShowLink], now: float, *, replace: bool = True) -> None:
        for link in links:
            if replace:
                self._d.shows[link.notice_key] = link
            else:
                self._d.shows.setdefault(link.notice_key, link)
