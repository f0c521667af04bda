"""What notices' second pages gave, kept between sweeps and restarts (the store holds it).

A crawler that completes a list row from a second request (Interpark's notice page, Melon's detail
page) asks its ``NoticeMemo`` first: a page read for the same list row (its fingerprint) is not read
again, and a page that failed waits out a back-off (15 minutes, doubling, a day at most) before it is
asked again, unless the row changes. Each sweep says its unreadable pages in one line (``summary``).

The crawler gets the memo on its ``SiteFetcher`` (``fetch.memo``, set by the pipeline over the store)
and never imports the store; without one (``test-crawlers``) it keeps its own in memory.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ticket_alarm.errors import CrawlError, FetchError
from ticket_alarm.i18n import t

BACKOFF_FIRST = 900.0  # seconds before a failed page is asked again, doubled per failure in a row
BACKOFF_MAX = 86400.0


@dataclass(frozen=True, slots=True)
class NoticeRead:
    """One notice's second page as last read for the list row ``fingerprint``: what it gave
    (``payload``, JSON) or why it could not be read (``error``: ``http:404``, ``shape``, ``unreachable``),
    how many reads failed in a row and when the page may be asked again."""

    notice_id: str
    fingerprint: str
    payload: str | None = None
    error: str | None = None
    failures: int = 0
    retry_at: float | None = None


class NoticeReadStore(Protocol):
    """Where the reads live (the store implements it; ``MemoryReads`` for a crawler on its own)."""

    async def notice_reads(self, site: str, ids: Sequence[str]) -> dict[str, NoticeRead]: ...

    async def save_notice_reads(self, site: str, reads: Sequence[NoticeRead], now: float) -> None: ...


class MemoryReads:
    """``NoticeReadStore`` in a dict: a crawler's own, for the life of the process."""

    def __init__(self) -> None:
        self._reads: dict[tuple[str, str], NoticeRead] = {}

    async def notice_reads(self, site: str, ids: Sequence[str]) -> dict[str, NoticeRead]:
        return {i: self._reads[(site, i)] for i in ids if (site, i) in self._reads}

    async def save_notice_reads(self, site: str, reads: Sequence[NoticeRead], now: float) -> None:
        for read in reads:
            self._reads[(site, read.notice_id)] = read


def error_code(exc: CrawlError) -> str:
    """What a failed read is grouped by: ``http:404``, ``unreachable`` (no answer), ``shape`` (a page
    that is not the notice page)."""
    if isinstance(exc, FetchError):
        return f"http:{exc.status}" if exc.status else "unreachable"
    return "shape"


def error_text(code: str) -> str:
    if code.startswith("http:"):
        return f"HTTP {code[5:]}"
    return t(f"notice_pages.{code}") if code in ("shape", "unreachable") else code


class NoticeMemo:
    """One crawl's view of the kept reads of one site: ``load`` the rows' ids, ask ``kept`` /
    ``waiting`` per row, report ``read``/``failed``, ``save`` once at the end."""

    def __init__(self, site: str, store: NoticeReadStore, now: Callable[[], float]) -> None:
        self.site = site
        self.store = store
        self.now = now
        self._known: dict[str, NoticeRead] = {}
        self._changed: dict[str, NoticeRead] = {}
        self.unreadable: Counter[str] = Counter()  # error code → pages unreadable this crawl
        self.waited = 0  # of those, pages not asked again (their back-off runs)

    async def load(self, ids: Sequence[str]) -> None:
        self._known.update(await self.store.notice_reads(self.site, list(dict.fromkeys(ids))))

    def kept(self, notice_id: str, fingerprint: str) -> Any | None:
        """The page's document as read for this very row, or None (never read, failed, row changed)."""
        read = self._known.get(notice_id)
        if read is None or read.fingerprint != fingerprint or read.payload is None:
            return None
        try:
            return json.loads(read.payload)
        except ValueError:
            return None

    def waiting(self, notice_id: str, fingerprint: str) -> str | None:
        """The error code of a page that failed for this row and whose back-off runs; None: ask it."""
        read = self._known.get(notice_id)
        if read is None or read.error is None or read.fingerprint != fingerprint:
            return None
        if read.retry_at is not None and read.retry_at <= self.now():
            return None
        self.unreadable[read.error] += 1
        self.waited += 1
        return read.error

    def read(self, notice_id: str, fingerprint: str, document: Any) -> None:
        payload = json.dumps(document, ensure_ascii=False, sort_keys=True)
        self._remember(NoticeRead(notice_id, fingerprint, payload))

    def failed(self, notice_id: str, fingerprint: str, exc: CrawlError) -> str:
        """Record a failed read (its back-off starts or doubles); its error code."""
        code = error_code(exc)
        before = self._known.get(notice_id)
        failures = (before.failures if before is not None and before.error else 0) + 1
        backoff = min(BACKOFF_FIRST * 2 ** min(failures - 1, 20), BACKOFF_MAX)
        self._remember(NoticeRead(notice_id, fingerprint, None, code, failures, self.now() + backoff))
        self.unreadable[code] += 1
        return code

    def _remember(self, read: NoticeRead) -> None:
        if read.error is None:
            read = replace(read, failures=0, retry_at=None)
        self._known[read.notice_id] = read
        self._changed[read.notice_id] = read

    async def save(self) -> None:
        if self._changed:
            await self.store.save_notice_reads(self.site, list(self._changed.values()), self.now())
            self._changed.clear()

    def summary(self, kept: str) -> str | None:
        """One line for the crawl's unreadable pages (``kept``: what the notices keep instead)."""
        total = sum(self.unreadable.values())
        if not total:
            return None
        reasons = ", ".join(
            f"{error_text(code)}: {n}" if len(self.unreadable) > 1 else error_text(code)
            for code, n in self.unreadable.most_common(3)
        )
        waiting = t("notice_pages.waiting", waited=self.waited) if self.waited else ""
        return t("notice_pages.unreadable", count=total, reasons=reasons, kept=kept, waiting=waiting)
