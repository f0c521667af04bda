"""One show across vendors in the channel (delivery/joins.py): a later vendor's notice of a show already
posted edits that message to add its own embed instead of posting, against the real SQLite store and
the strict stand-in Discord on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.contract.store_contract import cycle
from tests.support.discord_standin import FakeDiscord
from tests.unit import test_outbox
from tests.unit.test_living import killed_after_sending, lane, restarted
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.settings import RouteSettings
from ticket_alarm.core.model import Ticket, seoul
from ticket_alarm.delivery.notify import Changed, NewNotice
from ticket_alarm.store import NewOutboxRow, Store
from ticket_alarm.store.api import HistoryRow, ShowLink

MELON, YES24 = ("멜론티켓", 0x00CD3C), ("YES24 티켓", 0x1E88E5)
FORUM_ID = "323456789012345679"

store, roomy = test_outbox.store, test_outbox.roomy


@pytest.fixture
def discord(roomy: FakeDiscord) -> FakeDiscord:
    return roomy


def notice(site: str, n: int, **changes: Any) -> Ticket:
    url = f"https://{site}.example/n/{n}"
    return Ticket(site, str(n), "뮤지컬 〈팬레터〉 티켓오픈 안내", url, seoul(2026, 12, 24, 20)).with_(
        **changes
    )


def alert(site: str, n: int, **changes: Any) -> NewNotice:
    name, color = MELON if site == "melon" else YES24
    return NewNotice(name, color, notice(site, n, **changes))


async def crawled(store: Store, *keys: tuple[str, int, str]) -> None:
    """History rows for the notices and their show links, as the pipeline writes them: (site, id, show)."""
    for now, (site, n, show) in enumerate(keys, start=1):
        t = notice(site, n)
        row = HistoryRow(t.key, t.digest, site, t.id, t.title, t.to_json())
        link = ShowLink(t.key, key(show), "뮤지컬팬레터")
        await store.commit_cycle(cycle(float(now), site=site, history=[row], shows=[link]))


def key(show: str) -> str:
    """The history key of ``site:id``."""
    site, n = show.split(":")
    return notice(site, int(n)).key


async def enqueue(store: Store, clock: FakeClock, *alerts: NewNotice | Changed) -> tuple[int, ...]:
    rows = [NewOutboxRow("main", a.kind, a.ticket.site, a.ticket.key, a.to_json()) for a in alerts]
    return await store.enqueue(rows, clock.now().timestamp())


async def posted_first(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient, route: RouteSettings, clock: FakeClock
) -> str:
    """Melon's notice of the show posted; YES24's notice of it crawled since (linked to Melon's)."""
    await crawled(store, ("melon", 1, "melon:1"), ("yes24", 7, "melon:1"))
    await enqueue(store, clock, alert("melon", 1))
    assert await lane(store, http, route, clock).deliver_due("main") == 1
    return discord.messages[0].message_id


async def test_a_later_vendors_notice_edits_the_shows_message_and_posts_nothing(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=discord.add_webhook())
    original = await posted_first(store, discord, http, route, clock)
    (row,) = await enqueue(store, clock, alert("yes24", 7, open_at=seoul(2026, 12, 24, 21)))
    delivery = lane(store, http, route, clock)
    assert await delivery.deliver_due("main") == 1
    assert len(discord.messages) == 1  # nothing new at the top level
    ((message, patch),) = discord.patches()
    assert message == original and patch["allowed_mentions"] == {"parse": []}
    melon, yes24 = patch["embeds"]
    assert melon == discord.messages[0].payload["embeds"][0]  # the first vendor as it was posted
    assert yes24["author"] == {"name": "YES24 티켓"}  # the later vendor's line: its own open and link
    assert yes24["url"] == "https://yes24.example/n/7"
    assert f"<t:{int(seoul(2026, 12, 24, 21).timestamp())}:F>" in yes24["fields"][0]["value"]
    (post,) = await store.posts("main", outbox_ids=[row])
    assert (post.message_id, post.embed_index, post.notice_key) == (original, 1, key("yes24:7"))
    assert {r.status for r in await store.outbox_list()} == {"sent"}

    # YES24's own change later edits its embed in that message (and posts the short change message)
    await enqueue(store, clock, Changed(*YES24, notice("yes24", 7, venue="블루스퀘어"), notice("yes24", 7)))
    await delivery.deliver_due("main")
    assert [m for m, _ in discord.patches()] == [original] * 2
    shown = discord.shown(original)["embeds"]
    assert len(shown) == 2 and "~~없음~~ → 블루스퀘어" in shown[1]["description"]
    assert len(discord.messages) == 2 and discord.messages[1].payload["embeds"][0]["title"].startswith(
        "[변경]"
    )


async def test_a_route_that_posts_changes_posts_a_later_vendor_too(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=discord.add_webhook(), on_change="post")
    await posted_first(store, discord, http, route, clock)
    await enqueue(store, clock, alert("yes24", 7))
    await lane(store, http, route, clock).deliver_due("main")
    assert discord.patches() == [] and len(discord.messages) == 2


async def test_a_notice_of_another_show_or_of_a_deleted_message_is_posted(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=discord.add_webhook())
    original = await posted_first(store, discord, http, route, clock)
    await crawled(store, ("yes24", 8, "yes24:8"))  # a show of its own (say, "2차")
    await enqueue(store, clock, alert("yes24", 8))
    await lane(store, http, route, clock).deliver_due("main")
    assert discord.patches() == [] and len(discord.messages) == 2
    discord.delete_message(original)  # YES24's notice of Melon's show: that message is gone (10008)
    await enqueue(store, clock, alert("yes24", 7))
    await lane(store, http, route, clock).deliver_due("main")
    assert discord.patches() == [] and len(discord.messages) == 3
    assert discord.messages[2].payload["embeds"][0]["url"] == "https://yes24.example/n/7"
    assert {r.status for r in await store.outbox_list()} == {"sent"}


async def test_a_full_message_takes_no_more_vendors(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=discord.add_webhook())
    await crawled(store, *[("melon", n, "melon:1") for n in range(1, 11)], ("yes24", 7, "melon:1"))
    await enqueue(store, clock, *[alert("melon", n) for n in range(1, 11)])
    delivery = lane(store, http, route, clock)
    assert await delivery.deliver_due("main") == 10 and len(discord.messages) == 1  # ten embeds
    await enqueue(store, clock, alert("yes24", 7))
    await delivery.deliver_due("main")
    assert discord.patches() == [] and len(discord.messages) == 2  # an eleventh embed: a message of its own


async def test_a_forum_show_gets_one_thread_and_a_later_vendor_one_short_reply_in_it(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    webhook = discord.add_webhook(FORUM_ID)
    discord.make_forum(FORUM_ID)
    route = RouteSettings(name="main", webhook_url=webhook, forum=True)
    starter = await posted_first(store, discord, http, route, clock)
    await enqueue(store, clock, alert("yes24", 7))
    delivery = lane(store, http, route, clock)
    await delivery.deliver_due("main")
    assert [m for m, _ in discord.patches()] == [starter]  # the starter carries both vendors
    assert len(discord.patches()[0][1]["embeds"]) == 2
    assert len(discord.threads) == 1 and len(discord.messages) == 2
    reply = discord.messages[1]
    assert reply.thread_id == starter and reply.payload["embeds"][0]["title"].startswith("[판매처 추가]")
    # YES24's change goes into the show's thread too
    await enqueue(store, clock, Changed(*YES24, notice("yes24", 7, venue="블루스퀘어"), notice("yes24", 7)))
    await delivery.deliver_due("main")
    assert len(discord.threads) == 1 and discord.messages[-1].thread_id == starter
    assert {r.status for r in await store.outbox_list()} == {"sent"}


@pytest.mark.parametrize("forum", [False, True])
async def test_a_join_accepted_but_not_recorded_is_applied_again_never_posted(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient, forum: bool
) -> None:
    clock = FakeClock()
    forum_id = FORUM_ID if forum else None
    webhook = discord.add_webhook(forum_id) if forum_id else discord.add_webhook()
    if forum_id:
        discord.make_forum(forum_id)
    route = RouteSettings(name="main", webhook_url=webhook, forum=forum)
    await posted_first(store, discord, http, route, clock)
    await enqueue(store, clock, alert("yes24", 7))
    await killed_after_sending(store, http, route, clock)  # the PATCH accepted, its record never written
    assert len(discord.patches()) == 1 and len(discord.messages) == 1
    await restarted(store, http, route, clock)
    first, again = (p for _, p in discord.patches())
    assert first["embeds"] == again["embeds"]  # the same state applied again
    assert len(discord.messages) == (2 if forum else 1)  # the reply in the thread, never a second post
    assert {r.status for r in await store.outbox_list()} == {"sent"}
