"""Quiet hours and digests in the drainer: which claimed rows wait, and which go out as one digest.

The policy is ``schedule`` (pure); this is its I/O. A claimed row that ``schedule.hold`` says waits
is parked in the store: settled ``Retry`` (not counted as an attempt) with its next-attempt time at
the hold's end and the reason as its note (``outbox list``, ``explain``), so a hold survives restarts
and nothing is held in memory. Rows whose hold has ended go out together as one ``Digest`` per
message (split only where the notifier's ``capabilities`` end), settled by that one send.

A route with ``digest`` also sends, once per period, the coming week's opens it takes when no row is
waiting: the last period sent is the store's meta ``digest:LANE``, written after the send, so a
daemon down at the hour sends it when it is back, once, and a restart after it never sends it again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ticket_alarm.clock import Clock
from ticket_alarm.config.routes import RouteSettings, route_matches
from ticket_alarm.core.alert import Alert, Changed, Digest, NewNotice
from ticket_alarm.core.model import SEOUL, Ticket
from ticket_alarm.delivery import schedule
from ticket_alarm.delivery.digest import UPCOMING_DAYS, digest_lines, when_text
from ticket_alarm.delivery.notify import Capabilities
from ticket_alarm.i18n import t
from ticket_alarm.store import OutboxItem
from ticket_alarm.store.api import Retry, Store

HELD_CLAIM = 500  # a lane with holds claims this many rows at once: a night's alerts make one digest
DIGEST_COLOR = 0x5865F2
MAX_DESCRIPTION = 4000  # a digest is one message: Discord's embed description holds 4096
_SPECIAL = set("\\*_~`|>[]()#-&<\"'")
Pair = tuple[OutboxItem, Alert]


@dataclass(frozen=True)
class Bundle:
    """A digest to send: the rows it settles (maybe none) and the period it completes (maybe none)."""

    batch: list[Pair]
    digest: Digest
    period: float | None = None


def meta_key(lane: str) -> str:
    return f"digest:{lane}"


class Holds:
    """The quiet hours and digests of each lane's route (``routes``: lane → its route's settings)."""

    def __init__(self, store: Store, clock: Clock, routes: Mapping[str, RouteSettings]) -> None:
        self.store = store
        self.clock = clock
        self.routes = dict(routes)
        self._done: dict[str, float] = {}  # lane → the last digest period known sent (read once)

    def _holding(self, lane: str) -> RouteSettings | None:
        route = self.routes.get(lane)
        quiet = route.quiet_hours if route is not None else None
        if route is None or (route.digest is None and (quiet is None or quiet.mode != "hold")):
            return None
        return route

    def claim_limit(self, lane: str, default: int) -> int:
        return HELD_CLAIM if self._holding(lane) is not None else default

    def silent(self, lane: str, alerts: Sequence[Alert]) -> bool:
        return schedule.silent(self.routes.get(lane), alerts, self.clock.now())

    async def sort(
        self,
        lane: str,
        readable: list[Pair],
        caps: Capabilities,
        release: Callable[[str, Iterable[int]], None],
    ) -> tuple[list[Pair], Bundle | None]:
        """Park the rows that wait; the rows to send as they are, and a digest of the rows due as one."""
        route = self._holding(lane)
        if route is None:
            return readable, None
        now = self.clock.now().timestamp()
        rest: list[Pair] = []
        due: list[Pair] = []
        parked: dict[schedule.Hold, list[int]] = defaultdict(list)
        for item, alert in readable:
            hold = schedule.hold(route, alert, item.created_at)
            if hold is None:
                rest.append((item, alert))
            elif hold.until > now:
                parked[hold].append(item.id)
            else:
                due.append((item, alert))
        for hold, ids in parked.items():
            release(lane, ids)
            note = t(f"hold.{hold.reason}", until=when_text(datetime.fromtimestamp(hold.until, SEOUL)))
            await self.store.settle(ids, Retry(note, hold.until, count=False), now)
        if not due:
            return rest, None
        return rest, await self._bundle(lane, route, due, caps)

    async def idle_digest(self, lane: str) -> Bundle | None:
        """A digest route's period with no row waiting: the coming week's opens, if there are any."""
        route = self.routes.get(lane)
        if route is None or route.digest is None:
            return None
        period = await self._due_period(lane, route)
        if period is None:
            return None
        bundle = await self._bundle(lane, route, [], None)
        if bundle is None:  # nothing at all: nothing is sent, and the period is done
            await self.settled(lane, period)
        return bundle

    async def settled(self, lane: str, period: float) -> None:
        """The period's digest was sent (or had nothing to send): never again."""
        await self.store.set_meta(meta_key(lane), repr(period))
        self._done[lane] = period

    async def _due_period(self, lane: str, route: RouteSettings) -> float | None:
        """The latest period start when its digest is not sent yet (first sight: only later periods)."""
        assert route.digest is not None
        period = schedule.period_start(route.digest, self.clock.now()).timestamp()
        if self._done.get(lane, -1.0) >= period:
            return None
        stored = await self.store.get_meta(meta_key(lane))
        if stored is None:
            await self.settled(lane, period)
            return None
        self._done[lane] = float(stored)
        return period if float(stored) < period else None

    async def _bundle(
        self, lane: str, route: RouteSettings, due: list[Pair], caps: Capabilities | None
    ) -> Bundle | None:
        now = self.clock.now()
        period = await self._due_period(lane, route) if route.digest is not None else None
        upcoming = await self._upcoming(route, now) if period is not None else ()
        batch = due[: _fitting([a for _, a in due], caps, now, upcoming)]
        if not batch and not upcoming:
            return None
        digest = Digest(
            route.name,
            DIGEST_COLOR,
            "quiet" if route.digest is None else route.digest.every,
            now.timestamp(),
            tuple(a for _, a in batch if isinstance(a, NewNotice | Changed)),
            upcoming,
        )
        return Bundle(batch, digest, period)

    async def _upcoming(self, route: RouteSettings, now: datetime) -> tuple[Ticket, ...]:
        """The notices ``route`` takes with an open or a presale in the next 7 days."""
        end = now + timedelta(days=UPCOMING_DAYS)
        day = (now.astimezone(SEOUL).date() - timedelta(days=1)).isoformat()
        tickets = [Ticket.from_json(row.ticket) for row in await self.store.upcoming_rows(day)]
        return tuple(
            ticket
            for ticket in tickets
            if route_matches(route, ticket)
            and any(now <= at < end for at in schedule.alert_times(NewNotice("", 0, ticket)))
        )


def _marked_up(text: str) -> str:
    """A string at its longest once a notifier escapes it (a backslash, or an HTML entity)."""
    return text + "".join(5 * c for c in text if c in _SPECIAL)


def _linked(text: str, url: str) -> str:
    return f'<a href="{url}">{text}</a>'  # the longer of the markups (Discord's is [text](url))


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _fitting(
    alerts: Sequence[Alert], caps: Capabilities | None, now: datetime, upcoming: tuple[Ticket, ...]
) -> int:
    """How many of ``alerts`` (at least one) one digest message holds: each line as long as a notifier's
    markup makes it (links, escapes), with the coming week's opens, within the notifier's characters
    (and one embed's description for Discord)."""
    if caps is None:
        return len(alerts)
    probe = Digest("", 0, "quiet", now.timestamp(), (), upcoming)
    budget = (
        min(caps.max_chars, MAX_DESCRIPTION)
        - 200
        - _size(digest_lines(probe, now, esc=_marked_up, link=_linked))
    )
    count, used = 0, 0
    for alert in alerts:
        if not isinstance(alert, NewNotice | Changed):
            break
        one = Digest("", 0, "quiet", now.timestamp(), (alert,))
        used += _size(digest_lines(one, now, esc=_marked_up, link=_linked)[-1:])
        if count and used > budget:
            break
        count += 1
    return max(1, count)
