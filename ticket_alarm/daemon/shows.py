"""Which show a notice first seen belongs to (issue 23): the pipeline links each new notice, in the
cycle's one transaction, to the show of a recent notice of another site announcing the same show
(``core.shows.same_show``), or to a show of its own. Only a new notice is linked: a link stored once
is never redone by a crawl, so ``show merge`` and ``show split`` corrections stay. At start, the notices
of the last ``SHOW_WINDOW`` recorded before shows existed (an upgrade) are linked once, oldest first, as
a crawl would have linked them (``backfill``): a later vendor's notice finds them too."""

from __future__ import annotations

from collections.abc import Sequence

from ticket_alarm.core.decide import Decision
from ticket_alarm.core.model import Ticket
from ticket_alarm.core.rows import ShowLink
from ticket_alarm.core.shows import same_show, show_title
from ticket_alarm.store.api import ShowNotice, ShowStore

# how long ago a notice may have been first seen and still be the show a later vendor's notice joins
SHOW_WINDOW = 60 * 86400.0


async def link_new(store: ShowStore, decision: Decision, now: float) -> list[ShowLink]:
    """The show of each notice this cycle records for the first time."""
    written = {h.key for h in decision.history}
    firsts = [Ticket.from_json(e.ticket) for e in decision.events if e.event == "first" and e.key in written]
    found: dict[str, list[ShowNotice]] = {}
    out = []
    for ticket in firsts:
        title = show_title(ticket.title)
        if title not in found:
            found[title] = await store.show_candidates(title, now - SHOW_WINDOW) if title else []
        show = await show_for(store, ticket, found[title])
        out.append(ShowLink(ticket.key, show or ticket.key, title))
    return out


async def backfill(store: ShowStore, now: float) -> int:
    """Link the recent notices that have no show link yet; how many. A notice linked meanwhile (another
    replica, a correction) keeps its link."""
    since = now - SHOW_WINDOW
    count = 0
    for row in await store.unlinked_notices(since):
        try:
            ticket = Ticket.from_json(row.ticket)
        except (KeyError, TypeError, ValueError):  # a row this version cannot read: left alone
            continue
        title = show_title(ticket.title)
        candidates = await store.show_candidates(title, since) if title else []
        show = await show_for(store, ticket, candidates)
        await store.save_show_links([ShowLink(row.key, show or row.key, title)], now, replace=False)
        count += 1
    return count


async def show_for(store: ShowStore, ticket: Ticket, candidates: Sequence[ShowNotice]) -> str | None:
    """The show (key) of the first candidate announcing the same show as ``ticket``, where no notice
    of ``ticket``'s own site is already (one site's notices are different notices); None: none."""
    refused: set[str] = set()
    for candidate in candidates:
        show = candidate.link.show_key
        if show in refused or not same_show(ticket, Ticket.from_json(candidate.notice.ticket))[0]:
            continue
        if any(member.notice.site == ticket.site for member in await store.show_notices(show)):
            refused.add(show)
            continue
        return show
    return None
