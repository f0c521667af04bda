"""What a sweep or a head poll of one site comes back with (``SiteResult``), or why it did not run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from ticket_alarm.clock import age_text
from ticket_alarm.core.decide import HEAD, SWEEP, Decision
from ticket_alarm.core.model import Ticket, seoul_text
from ticket_alarm.errors import CrawlError
from ticket_alarm.i18n import t

__all__ = ["HEAD", "SWEEP", "SiteResult", "SkipReason", "Skipped"]

SkipReason = Literal["locked", "first_sweep", "retry_after", "no_order"]


@dataclass(frozen=True, slots=True)
class Skipped:
    """Why a sweep or head poll of a site did not run this time.

    ``locked``: the site locked this client (HTTP 423), the cool-down ends at ``until``;
    ``retry_after``: head polls wait out the site's Retry-After, until ``until``;
    ``first_sweep``: head polls wait for the first sweep to fill history; ``no_order``: the crawler
    (its current source) has no registration order, so the site is swept only.
    """

    until: float | None
    error: str | None
    reason: SkipReason = "locked"

    def describe(self, now: float) -> str:
        if self.reason in ("first_sweep", "no_order"):
            return t(f"site.skipped_{self.reason}")
        why = f" ({self.error})" if self.error else ""
        until = self.until if self.until is not None else now
        resume = seoul_text(datetime.fromtimestamp(until, UTC))
        return t(f"site.skipped_{self.reason}", why=why, until=resume, left=age_text(until - now))


@dataclass
class SiteResult:
    site: str
    ok: bool = False
    items: int = 0
    new: int = 0
    changed: int = 0
    invalid: int = 0
    queued: int = 0
    seconds: float = 0.0
    pages: int = 0
    status: int | None = None
    error: str | None = None
    hint: str | None = None
    failure: CrawlError | None = None  # the typed error behind ``error`` (None: ok, or not a CrawlError)
    skipped: Skipped | None = None  # why the crawl did not run this cycle
    first_run: bool = False
    capped: bool = False
    held: int = 0  # new ids held as a renumbering storm (recorded silently)
    legacy: int = 0  # new ids the old script announced already (imported legacy keys): not alerted
    sample: list[Ticket] = field(default_factory=list)
    mode: str = SWEEP
    requests: int = 0  # HTTP exchanges this run made (a sweep's count sets the head polls' budget)
    # head polls only: known notices listed with content history does not hold (held now, see ``awaiting``)
    known_changed: int = 0
    awaiting: list[str] = field(default_factory=list)  # keys of changes held after this run (re-read next)
    settled: list[str] = field(default_factory=list)  # keys whose held change this run confirmed or cleared
    parsed: list[Ticket] = field(default_factory=list)  # every notice the crawl parsed
    warnings: list[str] = field(default_factory=list)  # the crawl's partial failures

    def fail(self, exc: CrawlError, reason: str | None = None) -> None:
        """The run failed with ``exc`` (``reason``: its text as the log names it)."""
        self.ok = False
        self.error = reason or exc.reason
        self.hint = exc.hint
        self.failure = exc

    def count(self, decision: Decision) -> None:
        """Add what a decision wrote to the run's counts."""
        self.new += decision.new
        self.changed += decision.changed
        self.held += decision.held
        self.legacy += decision.legacy
        self.queued += len(decision.outbox)
        self.awaiting += decision.awaiting
        self.settled += decision.settled

    def legacy_note(self) -> str:
        return f" (이전 스크립트가 이미 알린 공지 {self.legacy}건: 알림 없이 기록)" if self.legacy else ""
