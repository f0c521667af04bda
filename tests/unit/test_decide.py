"""The decision core as tables, without a store: a history snapshot + a crawl → what the cycle writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from ticket_alarm.core.alert import Alert, Changed, NewNotice
from ticket_alarm.core.decide import HEAD, SWEEP, Decision, History, Mode, Rules, Site, decide, head_interest
from ticket_alarm.core.model import Incomplete, Presale, Ticket, seoul
from ticket_alarm.core.rows import Seen

SITE = Site("stand", "스탠드", 0x123456, storm_threshold=2)


class Lanes:
    """Two routes: every notice goes to both; ``alerts`` reminds 60 minutes before the open."""

    def lanes_for(self, ticket: Ticket) -> list[str]:
        return ["alerts", "archive"]

    def reminders_for(self, lane: str) -> tuple[int, ...]:
        return (60,) if lane == "alerts" else ()


RULES = Rules(confirm_cycles=1, notify_on_first_run=False, routing=Lanes())


def notice(id: str, title: str = "", **changes: Any) -> Ticket:
    base = Ticket(
        site="stand",
        id=id,
        title=title or f"공연 {id}",
        url=f"https://tickets.stand.example/{id}",
        open_at=seoul(2030, 5, 1, 20),
        venue="잠실",
    )
    return base.with_(**changes)


def known(ticket: Ticket, *, pending: Ticket | None = None, cycles: int = 1) -> Seen:
    """History's row of ``ticket`` (with ``pending`` held as an unconfirmed change)."""
    if pending is None:
        return Seen(ticket.key, ticket.digest, ticket.to_json())
    return Seen(ticket.key, ticket.digest, ticket.to_json(), pending.digest, cycles)


@dataclass
class Case:
    mode: Mode
    crawl: list[Ticket]
    seen: list[Seen] = field(default_factory=list)
    initialized: bool = True
    legacy: tuple[str, ...] = ()  # ids imported from the old script
    contents: tuple[Ticket, ...] = ()  # notices whose (title, open time) history holds
    rules: Rules = RULES


def summary(decision: Decision) -> dict[str, Any]:
    """The decision in ids: what it writes, what it counts."""
    ids = {n.key: n.id for n in [*CRAWLED]}
    return {
        "history": [ids[h.key] for h in decision.history],
        "touched": [ids[k] for k in decision.touched],
        "outbox": [(o.route, o.kind, ids[o.notice_key or ""]) for o in decision.outbox],
        "pending": [(ids[p.key], p.cycles) for p in decision.pending],
        "events": [(ids[e.key], e.event) for e in decision.events],
        "reminders": [(ids[p.notice_key], p.route, p.offsets) for p in decision.reminders],
        "counts": (decision.new, decision.changed, decision.held, decision.legacy),
        "first_run": decision.first_run,
    }


A = notice("1")
B = A.with_(venue="고척스카이돔")  # A's content changed
C = notice("2")
LATER = A.with_(open_at=seoul(2030, 5, 2, 20))
RENUMBERED = [notice(f"9{i}", f"공연 {i}") for i in range(1, 4)]  # known contents under new ids
PRESALES = A.with_(presales=(Presale("팬클럽", seoul(2030, 4, 30, 20)),))
READ_IN_PART = A.with_(incomplete=Incomplete("presales: timeout", ("presales",)))
RENAMED_IN_PART = READ_IN_PART.with_(title="공연 1 (추가 회차)")
CRAWLED = [A, C, *RENUMBERED, notice("1"), notice("3")]

NEW: dict[str, Any] = {
    "history": [],
    "touched": [],
    "outbox": [],
    "pending": [],
    "events": [],
    "reminders": [],
}
NEW |= {"counts": (0, 0, 0, 0), "first_run": False}

ALERTED = NEW | {  # notice 2 never seen: recorded, alerted on both lanes, reminded on one
    "history": ["2"],
    "outbox": [("alerts", "new", "2"), ("archive", "new", "2")],
    "events": [("2", "first")],
    "reminders": [("2", "alerts", (60,))],
    "counts": (1, 0, 0, 0),
}

CONFIRMED = NEW | {  # notice 1's held change confirmed: history overwritten, the hold ended, alerted
    "history": ["1"],
    "touched": ["1"],
    "outbox": [("alerts", "change", "1"), ("archive", "change", "1")],
    "pending": [("1", 0)],
    "events": [("1", "confirmed")],
    "counts": (0, 1, 0, 0),
}

CASES: dict[str, tuple[Case, dict[str, Any]]] = {
    "first sweep: recorded silently, reminders planned": (
        Case(SWEEP, [A], initialized=False),
        NEW
        | {
            "history": ["1"],
            "events": [("1", "first")],
            "reminders": [("1", "alerts", (60,))],
            "counts": (1, 0, 0, 0),
            "first_run": True,
        },
    ),
    "new notice: alerted on every lane": (
        Case(SWEEP, [A, C], seen=[known(A)]),
        ALERTED | {"touched": ["1"]},  # a sweep marks the known one met again
    ),
    "changed content: held, not sent": (
        Case(SWEEP, [B], seen=[known(A)]),
        NEW | {"touched": ["1"], "pending": [("1", 1)], "events": [("1", "pending")]},
    ),
    "held change read again: confirmed and sent": (
        Case(SWEEP, [B], seen=[known(A, pending=B)]),
        CONFIRMED,
    ),
    "A→B→A: the hold ends, nothing is sent": (
        Case(SWEEP, [A], seen=[known(A, pending=B)]),
        NEW | {"touched": ["1"], "pending": [("1", 0)], "events": [("1", "reverted")]},
    ),
    "a moved open time is confirmed with its reminders re-planned": (
        Case(SWEEP, [LATER], seen=[known(A, pending=LATER)]),
        CONFIRMED | {"reminders": [("1", "alerts", (60,))]},
    ),
    "renumbering storm: matched new ids recorded silently": (
        Case(SWEEP, [*RENUMBERED, notice("3", "전혀 새 공연")], contents=tuple(RENUMBERED)),
        NEW
        | {
            "history": ["91", "92", "93", "3"],
            "outbox": [("alerts", "new", "3"), ("archive", "new", "3")],
            "events": [("91", "first"), ("92", "first"), ("93", "first"), ("3", "first")],
            "reminders": [("3", "alerts", (60,))],
            "counts": (1, 0, 3, 0),
        },
    ),
    "few new ids are no storm": (
        Case(SWEEP, RENUMBERED[:2], contents=tuple(RENUMBERED)),
        NEW
        | {
            "history": ["91", "92"],
            "outbox": [(lane, "new", i) for i in ("91", "92") for lane in ("alerts", "archive")],
            "events": [("91", "first"), ("92", "first")],
            "reminders": [("91", "alerts", (60,)), ("92", "alerts", (60,))],
            "counts": (2, 0, 0, 0),
        },
    ),
    "read in part: the unread presales are no change": (
        Case(SWEEP, [READ_IN_PART], seen=[known(PRESALES)]),
        NEW | {"touched": ["1"]},
    ),
    "read in part: what was read still changes": (
        Case(SWEEP, [RENAMED_IN_PART], seen=[known(PRESALES)]),
        NEW | {"touched": ["1"], "pending": [("1", 1)], "events": [("1", "pending")]},
    ),
    "announced by the old script: recorded, not alerted": (
        Case(SWEEP, [A], legacy=("1",)),
        NEW
        | {
            "history": ["1"],
            "events": [("1", "first")],
            "reminders": [("1", "alerts", (60,))],
            "counts": (0, 0, 0, 1),
        },
    ),
    "head poll: never-seen notice alerted, unchanged one not touched": (
        Case(HEAD, [C, A], seen=[known(A)]),
        ALERTED,
    ),
    "head poll: a change is held like a sweep's": (
        Case(HEAD, [B], seen=[known(A)]),
        NEW | {"touched": ["1"], "pending": [("1", 1)], "events": [("1", "pending")]},
    ),
    "head poll: a notice read in part is left to the sweeps": (
        Case(HEAD, [RENAMED_IN_PART], seen=[known(A, pending=B)]),
        NEW,
    ),
    "two reads to confirm: the second read still holds": (
        Case(SWEEP, [B], seen=[known(A, pending=B)], rules=Rules(2, False, Lanes())),
        NEW | {"touched": ["1"], "pending": [("1", 2)]},
    ),
}


@pytest.mark.parametrize(("case", "expected"), CASES.values(), ids=CASES.keys())
def test_decide(case: Case, expected: dict[str, Any]) -> None:
    keys = {t.id: t.key for t in CRAWLED}
    history = History(
        case.initialized,
        {s.key: s for s in case.seen},
        frozenset(keys[i] for i in case.legacy),
        frozenset((t.title, t.open_at.isoformat() if t.open_at else None) for t in case.contents),
    )
    assert summary(decide(case.mode, SITE, case.crawl, history, case.rules)) == expected


def test_the_outbox_rows_hold_the_alerts_as_json() -> None:
    decision = decide(SWEEP, SITE, [B], History(True, {A.key: known(A, pending=B)}), RULES)
    alert = Alert.from_json(decision.outbox[0].payload)
    assert alert == Changed("스탠드", 0x123456, B, A) and alert.changes == ["venue"]
    decision = decide(SWEEP, SITE, [C], History(True), RULES)
    assert Alert.from_json(decision.outbox[0].payload) == NewNotice("스탠드", 0x123456, C)


def test_what_the_shell_logs_and_re_reads() -> None:
    held = decide(SWEEP, SITE, [B], History(True, {A.key: known(A)}), RULES)
    assert held.newly_held == [(B, "venue")] and held.awaiting == [A.key] and held.settled == []
    back = decide(SWEEP, SITE, [A], History(True, {A.key: known(A, pending=B)}), RULES)
    assert back.reverted == [A] and back.settled == [A.key] and back.writes
    contents = frozenset((t.title, t.open_at.isoformat() if t.open_at else None) for t in RENUMBERED)
    storm = decide(SWEEP, SITE, RENUMBERED, History(True, contents=contents), RULES)
    assert storm.storm is not None and (storm.storm.matched, storm.storm.new) == (3, 3)


@pytest.mark.parametrize(
    ("ticket", "previous", "interest"),
    [
        (C, None, "fresh"),
        (A, known(A), None),
        (B, known(A), "moved"),
        (B, known(A, pending=B), "recheck"),
        (A, known(A, pending=B), "recheck"),
        (READ_IN_PART, known(A), None),
    ],
)
def test_what_a_head_poll_reads_further(ticket: Ticket, previous: Seen | None, interest: str | None) -> None:
    assert head_interest(ticket, previous) == interest
