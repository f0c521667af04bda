"""The decision core (pure): from a crawl and a snapshot of history, everything a cycle writes.

``decide`` knows no store, no clock and no log: the I/O shell (``daemon.pipeline``) reads a
``History`` snapshot, calls it, logs what the ``Decision`` says and commits its rows in one
transaction. Sweeps and head polls share the rules:

- first sighting: a history row (+ a "first" digest event), a ``NewNotice`` per lane and the
  reminders to plan — silently on a site's first sweep (``notify_on_first_run`` off), and silently
  for new ids held as a renumbering storm (most of many new ids match a known notice by content);
- a content that differs from the confirmed one: held (pending) for ``confirm_cycles`` reads, then
  confirmed: the history row is overwritten and a ``Changed`` queued when a field worth telling moved;
- the confirmed content read back while a change is held (A→B→A): the hold ends, nothing is sent;
- a notice read in part (``Ticket.incomplete``): its unread parts come from history, so the gap is
  no change; a head poll leaves it to the sweeps;
- notices the old script announced (imported legacy keys): recorded, never alerted as new.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ticket_alarm.core.alert import Changed, NewNotice
from ticket_alarm.core.model import Ticket
from ticket_alarm.core.rows import DigestEvent, HistoryRow, NewOutboxRow, PendingChange, ReminderPlan, Seen

Mode = Literal["sweep", "head"]
SWEEP: Mode = "sweep"  # the whole list in open-date order (decides changes and removals)
HEAD: Mode = "head"  # the newest page(s) in registration order (alerts never-seen notices)

Content = tuple[str, str | None]  # (title, open time): how a renumbered notice is matched to a known one


class Routing(Protocol):
    """Which lanes a notice goes to, and the reminder offsets of a lane (``config.routes.Router``)."""

    def lanes_for(self, ticket: Ticket) -> list[str]: ...

    def reminders_for(self, lane: str) -> tuple[int, ...]: ...


@dataclass(frozen=True, slots=True)
class Site:
    """The site as the decision needs it (a crawler's name, display name, colour, storm threshold)."""

    name: str
    display_name: str
    color: int
    storm_threshold: int


@dataclass(frozen=True, slots=True)
class Rules:
    confirm_cycles: int  # reads that hold a change before it is confirmed (``change_confirm_cycles``)
    notify_on_first_run: bool
    routing: Routing


@dataclass(frozen=True, slots=True)
class History:
    """What the store held when the decision was taken (read by the shell, right before it).

    ``seen``: the crawled notices history knows; ``legacy``: imported keys among the crawled ones;
    ``contents``: the site's known (title, open time) pairs — read only when ``may_storm`` says so.
    """

    initialized: bool
    seen: Mapping[str, Seen] = field(default_factory=dict)
    legacy: frozenset[str] = frozenset()
    contents: frozenset[Content] = frozenset()


@dataclass(frozen=True, slots=True)
class Storm:
    """A renumbering held: ``matched`` of ``new`` never-seen ids match a known notice by content."""

    matched: int
    new: int
    threshold: int
    keys: frozenset[str]


@dataclass
class Decision:
    """Everything one crawl result writes (one transaction), and what the shell says about it.

    Rows: ``history`` (first seen or confirmed), ``touched`` (met again), ``outbox``, ``pending``
    (held changes set or cleared), ``events`` (digest log), ``reminders`` (plans, turned into rows
    against the store's reminder rows at commit), ``legacy_matched``. Counts: ``new``, ``changed``,
    ``held`` (storm), ``legacy``; ``first_run``: recorded silently. For the log: ``storm``,
    ``newly_held`` (a change held for the first time, with its changed fields), ``reverted``,
    ``incomplete_new`` (never-seen notices read in part).
    """

    history: list[HistoryRow] = field(default_factory=list)
    touched: list[str] = field(default_factory=list)
    outbox: list[NewOutboxRow] = field(default_factory=list)
    pending: list[PendingChange] = field(default_factory=list)
    events: list[DigestEvent] = field(default_factory=list)
    reminders: list[ReminderPlan] = field(default_factory=list)
    legacy_matched: list[str] = field(default_factory=list)
    new: int = 0
    changed: int = 0
    held: int = 0
    legacy: int = 0
    first_run: bool = False
    storm: Storm | None = None
    newly_held: list[tuple[Ticket, str]] = field(default_factory=list)
    reverted: list[Ticket] = field(default_factory=list)
    incomplete_new: list[Ticket] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        """Whether there is anything to commit beyond the site's state."""
        return bool(self.history or self.pending)

    @property
    def awaiting(self) -> list[str]:
        """Keys of the changes held after this decision (re-read to confirm them)."""
        return [p.key for p in self.pending if p.digest is not None]

    @property
    def settled(self) -> list[str]:
        """Keys whose held change this decision confirmed or cleared."""
        return [p.key for p in self.pending if p.digest is None]


def content_of(ticket: Ticket) -> Content:
    return (ticket.title, ticket.open_at.isoformat() if ticket.open_at else None)


def may_storm(site: Site, initialized: bool, fresh: int) -> bool:
    """Whether ``fresh`` never-seen notices could be a storm (then ``History.contents`` is needed)."""
    return initialized and fresh > site.storm_threshold


def head_interest(ticket: Ticket, previous: Seen | None) -> Literal["fresh", "moved", "recheck"] | None:
    """What a head poll does with a listed notice: alert it (``fresh``); let ``decide`` hold, confirm
    or clear its change (``moved``: a content history does not hold; ``recheck``: a re-read of a held
    change); or nothing (unchanged, or read in part: left to the sweeps)."""
    if previous is None:
        return "fresh"
    if ticket.incomplete:
        return None
    if ticket.digest not in (previous.digest, previous.pending_digest):
        return "moved"
    return "recheck" if previous.pending_digest is not None else None


def decide(mode: Mode, site: Site, tickets: Sequence[Ticket], history: History, rules: Rules) -> Decision:
    """The rows a crawl of ``site`` writes, given the valid ``tickets`` it read and ``history``."""
    out = Decision()
    silent = mode == SWEEP and not history.initialized and not rules.notify_on_first_run
    fresh = [t for t in tickets if t.key not in history.seen]
    out.storm = None if silent else _storm(site, history, fresh)
    held = out.storm.keys if out.storm else frozenset()
    out.held = len(held)
    for ticket in tickets:
        previous = history.seen.get(ticket.key)
        if previous is None:
            if ticket.key not in held:
                out.new += 1
                if ticket.incomplete and mode == HEAD:
                    out.incomplete_new.append(ticket)
            _first_seen(out, site, rules, ticket, silent or ticket.key in held, remind=ticket.key not in held)
            continue
        if ticket.incomplete:
            if mode == HEAD:  # a head poll leaves a notice read in part to the sweeps
                continue
            ticket = _unread_kept(ticket, Ticket.from_json(previous.ticket))
        if previous.digest != ticket.digest:
            out.changed += _changed(out, site, rules, ticket, previous, silent)
            continue
        if mode == SWEEP:
            out.touched.append(ticket.key)
        if previous.pending_digest is not None:  # A→B→A inside the hold: nothing to announce
            out.pending.append(PendingChange(ticket.key, None, None, 0))
            out.events.append(DigestEvent(ticket.key, "reverted", ticket.digest, ticket.to_json()))
            out.reverted.append(ticket)
    out.first_run = silent
    _drop_legacy(out, history.legacy)
    return out


def _first_seen(
    out: Decision, site: Site, rules: Rules, ticket: Ticket, silent: bool, *, remind: bool
) -> None:
    data = ticket.to_json()
    out.history.append(HistoryRow(ticket.key, ticket.digest, site.name, ticket.id, ticket.title, data))
    out.events.append(DigestEvent(ticket.key, "first", ticket.digest, data))
    lanes = rules.routing.lanes_for(ticket)
    if not silent:
        alert = NewNotice(site.display_name, site.color, ticket).to_json()
        out.outbox += [NewOutboxRow(lane, "new", site.name, ticket.key, alert) for lane in lanes]
    if remind:  # a notice held as renumbered keeps the reminders of its known twin
        out.reminders += _plans(ticket, lanes, rules.routing)


def _changed(out: Decision, site: Site, rules: Rules, ticket: Ticket, previous: Seen, silent: bool) -> int:
    """A digest that differs from the confirmed one: hold it, or confirm it and announce it."""
    key, digest, data = ticket.key, ticket.digest, ticket.to_json()
    cycles = previous.pending_cycles + 1 if previous.pending_digest == digest else 1
    out.touched.append(key)
    before = Ticket.from_json(previous.ticket)
    if cycles <= rules.confirm_cycles:
        if previous.pending_digest != digest:
            out.events.append(DigestEvent(key, "pending", digest, data))
            out.newly_held.append((ticket, ", ".join(ticket.changes_from(before)) or "-"))
        out.pending.append(PendingChange(key, digest, data, cycles))
        return 0
    out.history.append(HistoryRow(key, digest, site.name, ticket.id, ticket.title, data))
    out.pending.append(PendingChange(key, None, None, 0))
    out.events.append(DigestEvent(key, "confirmed", digest, data))
    lanes = rules.routing.lanes_for(ticket)
    if before.open_at != ticket.open_at or before.presales != ticket.presales:  # per-sale reminders
        out.reminders += _plans(ticket, lanes, rules.routing)
    if not ticket.changes_from(before) or silent:
        return 0
    alert = Changed(site.display_name, site.color, ticket, before).to_json()
    out.outbox += [NewOutboxRow(lane, "change", site.name, key, alert) for lane in lanes]
    return 1


def _plans(ticket: Ticket, lanes: Iterable[str], routing: Routing) -> list[ReminderPlan]:
    open_at = ticket.open_at.timestamp() if ticket.open_at else None
    presales = tuple((p.name, p.at.timestamp()) for p in ticket.presales if p.at is not None)
    out: list[ReminderPlan] = []
    for lane in lanes:
        offsets = routing.reminders_for(lane)
        if offsets:
            out.append(ReminderPlan(ticket.key, ticket.site, lane, offsets, open_at, presales))
    return out


def _storm(site: Site, history: History, fresh: list[Ticket]) -> Storm | None:
    """A renumbering (a migration gave known notices new ids): only when one crawl would announce
    more than the site's ``storm_threshold`` new notices on a site with history and most of them
    match a known notice by content (title + open time); those are recorded silently. New notices
    without such a match still alert."""
    if not may_storm(site, history.initialized, len(fresh)):
        return None
    matched = [t for t in fresh if content_of(t) in history.contents]
    if len(matched) * 2 <= len(fresh):
        return None
    return Storm(len(matched), len(fresh), site.storm_threshold, frozenset(t.key for t in matched))


def _drop_legacy(out: Decision, legacy: frozenset[str]) -> None:
    """Notices the old script announced (``history import``) are recorded but never alerted as new."""
    matched = {h.key for h in out.history} & legacy
    if not matched:
        return
    dropped = {o.notice_key for o in out.outbox if o.kind == "new" and o.notice_key in matched}
    out.outbox = [o for o in out.outbox if not (o.kind == "new" and o.notice_key in matched)]
    out.new -= len(dropped)
    out.legacy += len(dropped)
    out.legacy_matched = sorted(matched)


def _unread_kept(ticket: Ticket, before: Ticket) -> Ticket:
    """A notice read in part, its unread parts taken from ``before`` (what history holds): what was
    read is compared (and alerted when it changed), the gap is not. History keeps a whole notice."""
    assert ticket.incomplete is not None
    unread = ticket.incomplete.unread
    kept: dict[str, object] = {}
    if "presales" in unread:
        kept["presales"] = before.presales
    if "open_at" in unread:
        kept.update(open_at=before.open_at, open_date=before.open_date)
    for part in ("title", "venue", "category"):
        if part in unread:
            kept[part] = getattr(before, part)
    return ticket.with_(**kept, incomplete=None)
