"""Edits in place through the outbox: the living alert (issue 23).

Every message a lane sends on a notifier that can edit (``Capabilities.edit``) is remembered, alert by
alert (``store.Post``: message, thread, embed, notice, the alert as sent), in the transaction that
settles its rows as sent. A ``Changed`` alert of a notice that has such a post on the lane then becomes
an edit of that message instead of a new one, per the route's ``on_change``:

- ``"edit+post"`` (default): the message is edited, then a short change message is posted (it pings);
- ``"edit"``: the message is edited, nothing else;
- ``"post"``: today's behaviour, a new "[변경]" message.

An edit re-renders the message whole from its posts (the newest post of each embed), so applying it
again shows the same thing: a process killed between an accepted PATCH and its record edits the same
message to the same state when the row is claimed again, and never posts it a second time. Several
pending changes of one notice on a lane are one edit of the newest state (every row recorded and
settled by it). An edit's row records a post of its own (the message's new state for that embed); in
``"edit+post"`` the newest row stays pending with that post until its short message is sent, so a
restart owes only the short message. Discord's ``Unknown Message`` (10008) or a deleted thread: the
alert is posted afresh (its post recorded; later changes edit the new message). Rows without a post
(written before this, or a message sent nowhere editable) keep today's behaviour.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, cast

from loguru import logger

from ticket_alarm.clock import Clock
from ticket_alarm.config.routes import RouteSettings
from ticket_alarm.delivery.discord.living import opened
from ticket_alarm.delivery.notify import Alert, AlertFormatError, Changed, Editor, Notifier, Outcome
from ticket_alarm.i18n import t
from ticket_alarm.store import OutboxItem, OutboxRow
from ticket_alarm.store.api import Post, Sent, Store

Row = tuple[OutboxItem, Alert]
LIVING_KINDS = ("new", "change")  # the posts a change may edit (a reminder's message stays as it is)
OPEN_CHECK = 60.0  # seconds between two looks for notices whose sales all passed (per lane)
OPEN_LOOKBACK = 60 * 86400.0  # the posts looked at: those of the last 60 days
OPENED_META = "opened:"  # meta key prefix of a message embed already edited to say its notice opened


class Lane(Protocol):
    """What the edits need of the drainer (``outbox.Delivery``)."""

    store: Store
    clock: Clock

    async def _fenced(self, lane: str, batch: list[Row]) -> bool: ...

    async def _write(self, lane: str, write: Callable[[], Awaitable[object]], what: str) -> None: ...

    async def _apply(self, notifier: Notifier, sent_batch: list[Row], outcome: Outcome) -> int: ...


def newest_per_embed(posts: Sequence[Post]) -> dict[int, Post]:
    """What a message shows: the newest post (highest outbox id) of each embed, by embed index."""
    out: dict[int, Post] = {}
    for post in sorted(posts, key=lambda p: p.outbox_id):
        out[post.embed_index] = post
    return out


def coalesce(changes: Sequence[Row], posts: Sequence[Post]) -> dict[str, tuple[Post, list[Row]]]:
    """Notice key → (the post that carries it now, its pending changes oldest first): the changes that
    become one edit. A notice without a living post is left out (its changes are posted)."""
    target: dict[str, Post] = {}
    for post in sorted(posts, key=lambda p: p.outbox_id):  # the newest message carrying the notice
        if post.notice_key and post.alert.get("kind") in LIVING_KINDS:
            target[post.notice_key] = post
    groups: dict[str, tuple[Post, list[Row]]] = {}
    for item, alert in sorted(changes, key=lambda row: row[0].id):
        key = item.notice_key
        if key in target:
            groups.setdefault(key, (target[key], []))[1].append((item, alert))
    return groups


def edited(shown: Post, newest: Changed) -> Changed:
    """The newest change as the message shows it: its state now, struck through against what the
    message showed (the original post or the last edit of that embed)."""
    try:
        before = getattr(Alert.from_json(shown.alert), "ticket", None) or newest.before
    except AlertFormatError:
        before = newest.before
    return Changed(newest.site_name, newest.color, newest.ticket, before)


def _opened(post: Post, now: float) -> bool:
    try:
        ticket = getattr(Alert.from_json(post.alert), "ticket", None)
    except AlertFormatError:
        return False
    return ticket is not None and opened(ticket, now)


def message_alerts(
    state: Mapping[int, Post], index: int, alert: Changed | None, changed_at: float
) -> tuple[list[Alert], list[float | None]]:
    """The alerts of an edited message, in embed order, embed ``index`` replaced by ``alert``; an
    unreadable post is left out (the rest of the message still edits)."""
    alerts: list[Alert] = []
    times: list[float | None] = []
    for i in sorted(state):
        if i == index and alert is not None:
            alerts.append(alert)
            times.append(changed_at)
            continue
        try:
            alerts.append(Alert.from_json(state[i].alert))
        except AlertFormatError:
            continue
        at = state[i].alert.get("changed_at")
        times.append(float(at) if isinstance(at, int | float) else None)
    return alerts, times


async def edits_of(store: Store, rows: Sequence[OutboxRow]) -> dict[int, str]:
    """Outbox row id → the message it edited in place (``outbox list``): a change row, or a later
    vendor's new notice (``joins``), whose post is in a message an earlier row posted."""
    out: dict[int, str] = {}
    living = [r for r in rows if r.kind in LIVING_KINDS]
    for route in {r.route for r in living}:
        ids = [r.id for r in living if r.route == route]
        own = await store.posts(route, outbox_ids=ids)
        messages = await store.posts(route, message_ids={p.message_id for p in own})
        first = {p.message_id: p.outbox_id for p in reversed(messages)}  # by outbox id: the first wins
        out |= {p.outbox_id: p.message_id for p in own if first[p.message_id] < p.outbox_id}
    return out


async def show_members(store: Store, key: str) -> list[str]:
    """The other notices of the show notice ``key`` belongs to (``daemon.shows``), first seen first."""
    link = (await store.show_links([key])).get(key)
    if link is None:
        return []
    return [n.notice.key for n in await store.show_notices(link.show_key) if n.notice.key != key]


class Edits:
    """The edit step of a lane's batch, before anything is posted (``outbox.Delivery._send_batch``)."""

    def __init__(self, lanes: Lane, routes: Mapping[str, RouteSettings]) -> None:
        self.lanes = lanes
        self.routes = dict(routes)
        # rows whose message records no post: a change's short message (its edit landed), a digest's rows
        self.unrecorded: set[int] = set()
        self.links: dict[int, Post] = {}  # a short change message's row → the post it links to
        self._open_checked: dict[str, float] = {}  # lane → when after_open last looked
        self._opened: set[str] = set()  # meta marks known set (asked once per process)
        self._records: tuple[Post, ...] = ()  # the posts the edit in flight records when it lands

    def mode(self, notifier: Notifier) -> str:
        route = self.routes.get(notifier.route)
        on_change = route.on_change if route is not None else "edit+post"
        return on_change if notifier.capabilities.edit and hasattr(notifier, "edit") else "post"

    def posts(self, notifier: Notifier, sent: Sequence[Row], outcome: Outcome) -> tuple[Post, ...]:
        """What a sent message records: each alert's post (none for a short change message)."""
        skip = self.unrecorded & {item.id for item, _ in sent}
        self.unrecorded -= skip  # settled with this message: not needed any more
        for item, _ in sent:
            self.links.pop(item.id, None)
        if not outcome.message_id or not notifier.capabilities.edit:
            return ()
        return tuple(
            Post(
                notifier.route,
                item.id,
                outcome.message_id,
                index,
                item.notice_key,
                alert.to_json(),
                outcome.thread_id,
            )
            for index, (item, alert) in enumerate(sent)
            if item.id not in skip
        )

    async def after_open(self, notifier: Notifier) -> None:
        """Messages whose notices' sales have all passed are edited once to say so (``오픈됨 · 12/24
        20:00``, rendered by the notifier); a meta mark per message embed: never edited for it again.
        Checked at most every ``OPEN_CHECK`` seconds per lane, over the posts of ``OPEN_LOOKBACK``."""
        now = self.lanes.clock.now().timestamp()
        lane = notifier.route
        if (
            not getattr(notifier, "says_opened", False)
            or now < self._open_checked.get(lane, 0.0) + OPEN_CHECK
        ):
            return
        self._open_checked[lane] = now
        store = self.lanes.store
        recent = await store.posts(lane, since=now - OPEN_LOOKBACK)
        for message_id in dict.fromkeys(p.message_id for p in recent):
            state = newest_per_embed([p for p in recent if p.message_id == message_id])
            due = [
                f"{OPENED_META}{lane}:{message_id}:{i}"
                for i, p in state.items()
                if p.alert.get("kind") in LIVING_KINDS and _opened(p, now)
            ]
            due = [key for key in due if key not in self._opened and await store.get_meta(key) is None]
            if not due:
                continue
            state = newest_per_embed(await store.posts(lane, message_ids=[message_id]))  # all of it
            alerts, times = message_alerts(state, -1, None, 0.0)
            thread = next(iter(state.values())).thread_id
            outcome = await cast(Editor, notifier).edit(
                message_id, alerts, thread_id=thread, changed_at=times
            )
            if outcome.kind in ("sent", "gone"):  # a deleted message says nothing any more either
                for key in due:
                    await store.set_meta(key, str(now))
                    self._opened.add(key)
                logger.info("{}", t("log.edited_opened", route=lane, message=message_id))

    async def aim(self, notifier: Notifier, batch: Sequence[Row]) -> None:
        """Before a send: a short change message links to the message it edited; on a forum route (one
        notice a send) the send goes into the notice's thread when it has one."""
        aim = getattr(notifier, "aim", None)
        if aim is None or not batch:
            return
        links = {id(a): (p.message_id, p.thread_id) for i, a in batch if (p := self.links.get(i.id))}
        key = batch[0][0].notice_key
        store, forum = self.lanes.store, getattr(notifier, "forum", False)
        posts = await store.posts(notifier.route, notice_keys=[key]) if key and forum else []
        if key and forum and not posts:  # a show's other notices: its thread is the show's
            posts = await store.posts(notifier.route, notice_keys=await show_members(store, key))
        threads = [p.thread_id for p in posts if p.thread_id]
        aim(threads[-1] if threads else None, links)

    async def take(self, notifier: Notifier, readable: list[Row]) -> tuple[list[Row] | None, int]:
        """Edit what the batch's changes edit: (the rows left to post, oldest first — None when the lane
        must stop this pass: rate limited, backing off, broken or fenced off; the alerts edits settled)."""
        mode = self.mode(notifier)
        changes = [(i, a) for i, a in readable if isinstance(a, Changed) and i.notice_key]
        if mode == "post" or not changes:
            return readable, 0
        edited = 0
        lane = notifier.route
        keys = {i.notice_key for i, _ in changes if i.notice_key}
        found = await self.lanes.store.posts(lane, notice_keys=keys, outbox_ids=[i.id for i, _ in changes])
        done = {p.outbox_id for p in found}
        taken: set[int] = set()
        rest: list[Row] = []
        for target, rows in coalesce(changes, found).values():
            taken |= {item.id for item, _ in rows}
            if await self.has_opened(lane, target):  # said it opened: never edited again, posted
                taken -= {item.id for item, _ in rows}
                continue
            if rows[-1][0].id in done:  # edited before a restart: only its short message is owed
                rest += self.followup(mode, rows[-1], target)
                continue
            outcome = await self._edit(notifier, target, rows)
            if outcome is None:
                return None, edited
            if outcome.kind == "gone":  # the message (or its thread) was deleted: post it afresh
                logger.warning("{}", t("log.edit_gone", route=lane, message=target.message_id))
                await self.settle(lane, rows[:-1], target, ())
                rest.append(rows[-1])
                continue
            if outcome.kind != "sent":
                await self.lanes._apply(notifier, rows, outcome)  # retried, backed off, dead or broken
                if outcome.kind == "dead":
                    continue
                return None, edited
            settled = rows if mode == "edit" else rows[:-1]
            await self.settle(lane, settled, target, self._records)
            edited += len(settled)
            said = t(
                "log.edited", route=lane, message=target.message_id, count=len(rows), title=rows[-1][1].title
            )
            logger.info("{}", said)
            rest += self.followup(mode, rows[-1], target)
        rest += [(i, a) for i, a in readable if i.id not in taken]
        return sorted(rest, key=lambda row: row[0].id), edited

    async def has_opened(self, lane: str, target: Post) -> bool:
        key = f"{OPENED_META}{lane}:{target.message_id}:{target.embed_index}"
        return key in self._opened or await self.lanes.store.get_meta(key) is not None

    def followup(self, mode: str, row: Row, target: Post) -> list[Row]:
        """The short message owed after an edit (``edit+post``): it links to ``target``'s message."""
        if mode != "edit+post":
            return []
        self.unrecorded.add(row[0].id)
        self.links[row[0].id] = target
        return [row]

    async def settle(self, lane: str, rows: Sequence[Row], target: Post, posts: tuple[Post, ...]) -> None:
        ids = [item.id for item, _ in rows]
        now = self.lanes.clock.now().timestamp()
        store = self.lanes.store
        await self.lanes._write(
            lane, lambda: store.settle(ids, Sent(target.message_id, posts), now), "edited"
        )

    async def _edit(self, notifier: Notifier, target: Post, rows: list[Row]) -> Outcome | None:
        """PATCH the message carrying ``target`` to its state with the newest of ``rows``; the posts
        that state records (one per row: the same alert) are kept in ``_records`` for the settle."""
        lane = notifier.route
        newest_item, newest = rows[-1][0], cast(Changed, rows[-1][1])
        state = newest_per_embed(await self.lanes.store.posts(lane, message_ids=[target.message_id]))
        now_shown = edited(state.get(target.embed_index, target), newest)
        alerts, times = message_alerts(state, target.embed_index, now_shown, newest_item.created_at)
        record: dict[str, Any] = {**now_shown.to_json(), "changed_at": newest_item.created_at}
        self._records = tuple(
            Post(
                lane,
                item.id,
                target.message_id,
                target.embed_index,
                target.notice_key,
                record,
                target.thread_id,
            )
            for item, _ in rows
        )
        return await self.patch(notifier, target, rows, alerts, times)

    async def patch(
        self,
        notifier: Notifier,
        target: Post,
        rows: list[Row],
        alerts: list[Alert],
        times: list[float | None],
    ) -> Outcome | None:
        """Edit ``target``'s message to show ``alerts`` for ``rows``: the bucket first, the fence just
        before the request (as for a post); None when the fence says the rows are not this lane's."""
        wait = notifier.wait()
        if wait > 0:
            await self.lanes.clock.sleep(wait)
        if not await self.lanes._fenced(notifier.route, rows):
            return None
        editor = cast(Editor, notifier)
        return await editor.edit(target.message_id, alerts, thread_id=target.thread_id, changed_at=times)
