"""A later vendor's notice joins its show's living alert (issue 23).

When a lane is about to post a ``NewNotice`` whose notice the pipeline linked to a show
(``daemon.shows``) that already has a living message on this lane (another vendor's notice, posted
before), the message is edited to carry the new notice as one more embed (its vendor, its own open time
and presales, its booking link) and nothing new is posted at the top level. On a forum route with
``on_change`` ``"edit+post"``, one short reply goes into the show's thread (it pings: another place to
buy). The new notice's post is recorded in the message it joined, so its own later changes edit that
embed and its reminders go into that thread.

The new notice is posted as before (today's behaviour) when the route's ``on_change`` is ``"post"``,
the notifier edits one alert per message (Telegram), the show's message already said its sales opened,
the message would hold more than the notifier allows (Discord: 10 embeds), or Discord refuses the edit
or no longer knows the message. An edit applied before a restart is never applied twice: the row's post
is written with the edit, and a row found with one owes at most its short reply.
"""

from __future__ import annotations

from loguru import logger

from ticket_alarm.delivery.edits import (
    LIVING_KINDS,
    Edits,
    Row,
    message_alerts,
    newest_per_embed,
    show_members,
)
from ticket_alarm.delivery.notify import NewNotice, Notifier, Outcome
from ticket_alarm.i18n import t
from ticket_alarm.store.api import Post

FULL = 0  # the status of the outcome that says a message is full (no request was made)


class Joins:
    """The join step of a lane's batch, after the edits and before anything is posted."""

    def __init__(self, edits: Edits) -> None:
        self.edits = edits

    async def take(self, notifier: Notifier, readable: list[Row]) -> tuple[list[Row] | None, int]:
        """Join what joins a show's message: (the rows left to post, oldest first — None when the lane
        must stop this pass; the alerts the joins settled)."""
        mode = self.edits.mode(notifier)
        news = [(i, a) for i, a in readable if isinstance(a, NewNotice) and i.notice_key]
        if mode == "post" or not news or notifier.capabilities.max_batch < 2:
            return readable, 0
        lane = notifier.route
        done = {
            p.outbox_id: p
            for p in await self.edits.lanes.store.posts(lane, outbox_ids=[i.id for i, _ in news])
        }
        reply = mode == "edit+post" and getattr(notifier, "forum", False)
        joined = 0
        taken: set[int] = set()
        rest: list[Row] = []
        for row in news:
            item = row[0]
            if item.id in done:  # joined before a restart (its post recorded with the edit)
                taken.add(item.id)
                if reply:  # only its reply is owed
                    rest += self.edits.followup("edit+post", row, done[item.id])
                else:
                    await self.edits.settle(lane, [row], done[item.id], ())
                    joined += 1
                continue
            target = await self._target(lane, item.notice_key or "")
            if target is None:
                continue
            taken.add(item.id)
            outcome, record = await self._join(notifier, target, row)
            if outcome is None:
                return None, joined
            if outcome.kind in ("gone", "dead"):  # no such message, or it cannot take one more embed
                if outcome.status == FULL:  # an ordinary thing on a busy show: said quietly
                    logger.info("{}", t("log.join_full", route=lane, message=target.message_id))
                else:
                    logger.warning("{}", t("log.join_refused", route=lane, message=target.message_id))
                rest.append(row)
                continue
            if outcome.kind != "sent":
                await self.edits.lanes._apply(notifier, [row], outcome)  # retried, backed off or broken
                return None, joined
            if reply:  # the row stays pending with its post until the reply is sent
                await self.edits.settle(lane, [], target, (record,))
                rest += self.edits.followup("edit+post", row, target)
            else:
                await self.edits.settle(lane, [row], target, (record,))
                joined += 1
            logger.info("{}", t("log.joined", route=lane, message=target.message_id, title=row[1].title))
        rest += [r for r in readable if r[0].id not in taken]
        return sorted(rest, key=lambda r: r[0].id), joined

    async def _target(self, lane: str, key: str) -> Post | None:
        """The newest living post on ``lane`` of another notice of ``key``'s show whose sales have not
        all passed (None: the notice is posted)."""
        store = self.edits.lanes.store
        others = await show_members(store, key)
        if not others:
            return None
        posts = [
            p for p in await store.posts(lane, notice_keys=others) if p.alert.get("kind") in LIVING_KINDS
        ]
        if not posts:
            return None
        target = max(posts, key=lambda p: p.outbox_id)
        return None if await self.edits.has_opened(lane, target) else target

    async def _join(self, notifier: Notifier, target: Post, row: Row) -> tuple[Outcome | None, Post]:
        """PATCH ``target``'s message to carry ``row``'s alert as one more embed, and the post that
        records it; ``dead`` without a request when the message carries as many alerts as it can."""
        item, alert = row
        store = self.edits.lanes.store
        state = newest_per_embed(await store.posts(notifier.route, message_ids=[target.message_id]))
        alerts, times = message_alerts(state, -1, None, 0.0)
        index = max(state, default=-1) + 1
        record = Post(
            notifier.route,
            item.id,
            target.message_id,
            index,
            item.notice_key,
            alert.to_json(),
            target.thread_id,
        )
        if len(alerts) + 1 > notifier.capabilities.max_batch:
            return Outcome("dead", FULL, error="the message carries as many alerts as it can"), record
        return await self.edits.patch(notifier, target, [row], [*alerts, alert], [*times, None]), record
