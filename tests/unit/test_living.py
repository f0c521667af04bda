"""The living alert: a change edits the posted message in place (delivery/edits.py, discord/living.py),
against the real SQLite store and the strict stand-in Discord on 127.0.0.1."""

from __future__ import annotations

import io
import random
from typing import Any, Literal

import httpx
import pytest
from loguru import logger

from tests.support.discord_standin import CHANNEL_ID, GUILD_ID, FakeDiscord
from tests.unit import test_outbox
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.settings import RouteSettings
from ticket_alarm.core.model import Presale, Ticket, seoul
from ticket_alarm.delivery.discord.living import opened, render_living
from ticket_alarm.delivery.discord.render import alert_text
from ticket_alarm.delivery.discord.webhook import DiscordNotifier, WebhookClient
from ticket_alarm.delivery.edits import coalesce
from ticket_alarm.delivery.notify import Changed, NewNotice, Reminder, StdoutNotifier
from ticket_alarm.delivery.outbox import Delivery
from ticket_alarm.store import NewOutboxRow, OutboxItem, Store
from ticket_alarm.store.api import Post

SITE, COLOR = "멜론티켓", 0x00CD3C


def ticket(n: int, **changes: Any) -> Ticket:
    base = Ticket("melon", str(n), f"공연 {n}", f"https://ticket.melon.com/n/{n}", seoul(2026, 12, 24, 20))
    return base.with_(**changes)


def new(n: int) -> NewNotice:
    return NewNotice(SITE, COLOR, ticket(n))


def change(n: int, before: Ticket, **changes: Any) -> Changed:
    return Changed(SITE, COLOR, ticket(n, **changes), before)


# test_outbox's fixtures: the SQLite store, the HTTP client, a stand-in Discord with a roomy bucket
store, roomy = test_outbox.store, test_outbox.roomy


@pytest.fixture
def discord(roomy: FakeDiscord) -> FakeDiscord:
    """test_outbox's stand-in with a roomy bucket (fake-clock tests never meet its real-time window)."""
    return roomy


def lane(store: Store, http: httpx.AsyncClient, route: RouteSettings, clock: FakeClock) -> Delivery:
    notifier = DiscordNotifier.for_route(route, WebhookClient(http, clock))
    return Delivery(store, [notifier], clock, rng=random.Random(7), routes={route.name: route})


async def killed_after_sending(
    store: Store, http: httpx.AsyncClient, route: RouteSettings, clock: FakeClock
) -> None:
    """A lane whose process dies after Discord accepted what it sent, before the record: the write
    that would settle it never lands."""
    dying = lane(store, http, route, clock)

    async def killed(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("kill -9")

    dying._write = killed  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        await dying.deliver_due("main")


async def restarted(store: Store, http: httpx.AsyncClient, route: RouteSettings, clock: FakeClock) -> None:
    """Another process drains the lane once the dead one's lease lapsed."""
    clock.advance(60)
    again = lane(store, http, route, clock)
    again.owner = "another"
    await again.deliver_due("main")


async def enqueue(store: Store, clock: FakeClock, *alerts: NewNotice | Changed | Reminder) -> tuple[int, ...]:
    rows = [NewOutboxRow("main", a.kind, "melon", f"melon:{a.ticket.id}", a.to_json()) for a in alerts]
    return await store.enqueue(rows, clock.now().timestamp())


# --- rendering and coalescing ----------------------------------------------------------------------


def test_an_edited_alert_strikes_the_replaced_value_and_says_when() -> None:
    later = seoul(2026, 12, 24, 21)
    embed = render_living(change(1, ticket(1), open_at=later), 1_700_000_000.0)
    assert embed["title"] == "공연 1"  # the notice's own embed, not a "[변경]" one
    open_line = embed["description"].splitlines()[0]
    before, after = open_line.split(" → ")
    assert f"~~<t:{int(seoul(2026, 12, 24, 20).timestamp())}:F>" in before and before.endswith("~~")
    assert f"<t:{int(later.timestamp())}:F>" in after
    assert "변경 <t:1700000000:f>" in embed["description"]
    assert embed["footer"]["text"].endswith("수정됨")
    assert "description" not in render_living(new(1))  # an unchanged alert renders as it was posted


def test_after_every_sale_the_alert_says_it_opened() -> None:
    t = ticket(1, presales=(Presale("팬클럽 선예매", seoul(2026, 12, 23, 20)),))
    assert not opened(t, seoul(2026, 12, 24, 19).timestamp())
    assert opened(t, seoul(2026, 12, 24, 20).timestamp())
    assert not opened(ticket(1, open_at=None), seoul(2030, 1, 1).timestamp())  # no sale time: never
    embed = render_living(NewNotice(SITE, COLOR, t), now=seoul(2026, 12, 25).timestamp())
    assert embed["description"] == "**오픈됨 · 12/24 20:00**"


def test_changes_of_a_posted_notice_coalesce_and_others_are_left_to_post() -> None:
    def item(i: int, key: str) -> OutboxItem:
        return OutboxItem("main", "change", "melon", key, {}, id=i, attempts=0, created_at=float(i))

    posted = Post("main", 1, "m1", 0, "k1", new(1).to_json())
    reminded = Post("main", 2, "m2", 0, "k2", Reminder(SITE, COLOR, ticket(2), 10).to_json())
    rows = [
        (item(i, key), change(1, ticket(1), title=f"v{i}")) for i, key in ((7, "k1"), (5, "k1"), (6, "k2"))
    ]
    groups = coalesce(rows, [posted, reminded])
    assert list(groups) == ["k1"]  # k2's only post is a reminder: its change is posted, as today
    target, group = groups["k1"]
    assert target == posted and [i.id for i, _ in group] == [5, 7]


# --- through the drainer ---------------------------------------------------------------------------


async def test_three_changes_are_one_edit_of_the_whole_message_and_one_short_post(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    route = RouteSettings(
        name="main", webhook_url=discord.add_webhook(), mention_role_ids=["123456789012345678"]
    )
    delivery = lane(store, http, route, clock)
    await enqueue(store, clock, new(1), new(2))
    assert await delivery.deliver_due("main") == 2
    (original,) = discord.messages
    later = seoul(2026, 12, 24, 21)
    await enqueue(
        store,
        clock,
        change(1, ticket(1), open_at=seoul(2026, 12, 24, 20, 30)),
        change(1, ticket(1, open_at=seoul(2026, 12, 24, 20, 30)), open_at=later, venue="KSPO DOME"),
        change(
            1,
            ticket(1, open_at=later, venue="KSPO DOME"),
            open_at=later,
            venue="KSPO DOME",
            title="공연 1 추가",
        ),
    )
    assert await delivery.deliver_due("main") == 3
    ((message_id, patch),) = discord.patches()  # three changes, one PATCH of the newest state
    assert message_id == original.message_id
    assert patch["allowed_mentions"] == {"parse": []} and "content" not in patch  # nobody pinged again
    first, second = patch["embeds"]  # the whole message, each alert as it is now
    assert first["title"] == "공연 1 추가" and "~~공연 1~~ → 공연 1 추가" in first["description"]
    assert second == original.payload["embeds"][1]
    assert len(discord.messages) == 2  # and one short change message, posted
    note = discord.messages[1].payload["embeds"][0]
    assert note["title"].startswith("[변경]")
    link = f"https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}/{original.message_id}"
    assert note["fields"][-1] == {"name": "원래 알림", "value": f"[보기]({link})"}  # links to the original
    assert {r.status for r in await store.outbox_list()} == {"sent"}
    # a fourth change edits the same message again, striking what the last edit showed
    await enqueue(
        store,
        clock,
        change(1, ticket(1, open_at=later, venue="KSPO DOME", title="공연 1 추가"), title="공연 1!"),
    )
    await delivery.deliver_due("main")
    assert [m for m, _ in discord.patches()] == [original.message_id] * 2
    assert "~~공연 1 추가~~ → 공연 1!" in discord.shown(original.message_id)["embeds"][0]["description"]


async def test_on_change_edit_only_edits_and_post_only_posts(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    modes: list[tuple[Literal["edit", "post"], int, int]] = [("edit", 1, 1), ("post", 0, 2)]
    for mode, patches, messages in modes:
        discord.messages.clear()
        route = RouteSettings(name="main", webhook_url=discord.add_webhook(), on_change=mode)
        delivery = lane(store, http, route, clock)
        n = 10 if mode == "edit" else 20
        await enqueue(store, clock, new(n))
        await delivery.deliver_due("main")
        await enqueue(store, clock, change(n, ticket(n), title="바뀐 제목"))
        await delivery.deliver_due("main")
        assert (len(discord.patches()), len(discord.messages)) == (patches, messages), mode


async def test_a_deleted_message_is_posted_afresh_and_then_edited(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=discord.add_webhook(), on_change="edit")
    delivery = lane(store, http, route, clock)
    await enqueue(store, clock, new(1))
    await delivery.deliver_due("main")
    discord.delete_message(discord.messages[0].message_id)
    await enqueue(store, clock, change(1, ticket(1), title="v2"))
    await delivery.deliver_due("main")
    assert discord.patches() == [] and len(discord.messages) == 2  # 10008: posted afresh
    await enqueue(store, clock, change(1, ticket(1, title="v2"), title="v3"))
    await delivery.deliver_due("main")
    assert [m for m, _ in discord.patches()] == [discord.messages[1].message_id]
    assert {r.status for r in await store.outbox_list()} == {"sent"}


async def test_an_edit_accepted_but_not_recorded_is_applied_again_never_posted_twice(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=discord.add_webhook())
    await enqueue(store, clock, new(1))
    await lane(store, http, route, clock).deliver_due("main")
    await enqueue(store, clock, change(1, ticket(1), title="v2"))
    await killed_after_sending(store, http, route, clock)  # the PATCH accepted, its record never written
    assert len(discord.patches()) == 1 and len(discord.messages) == 1
    await restarted(store, http, route, clock)
    (first, again) = (p for _, p in discord.patches())
    assert {k: v for k, v in first.items() if k != "_at"} == {k: v for k, v in again.items() if k != "_at"}
    assert len(discord.messages) == 2  # the original and one short change message, nothing else
    assert {r.status for r in await store.outbox_list()} == {"sent"}


# --- forum channels --------------------------------------------------------------------------------

FORUM_ID = "323456789012345678"


async def test_a_forum_route_gets_a_thread_per_notice_with_its_updates_inside(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    webhook = discord.add_webhook(FORUM_ID)
    discord.make_forum(FORUM_ID)
    route = RouteSettings(name="main", webhook_url=webhook, forum=True, applied_tags=["1111111"])
    delivery = lane(store, http, route, clock)
    long_title = ticket(2, title="가" * 150)
    await enqueue(store, clock, new(1), NewNotice(SITE, COLOR, long_title))
    assert await delivery.deliver_due("main") == 2
    first, second = discord.messages
    assert (first.thread_id, second.thread_id) == (first.message_id, second.message_id)  # a thread each
    assert discord.threads[first.message_id]["applied_tags"] == ["1111111"]
    assert len(discord.threads[second.message_id]["name"]) == 100  # the title, cut to Discord's limit
    await enqueue(
        store, clock, change(1, ticket(1), title="공연 1 연기"), Reminder(SITE, COLOR, ticket(1), 10)
    )
    await delivery.deliver_due("main")
    assert [m for m, _ in discord.patches()] == [first.message_id]  # the starter message edited
    change_note, reminder = discord.messages[2:]
    assert change_note.thread_id == reminder.thread_id == first.message_id  # both inside its thread
    link = f"https://discord.com/channels/{GUILD_ID}/{first.message_id}/{first.message_id}"
    assert change_note.payload["embeds"][0]["fields"][-1]["value"] == f"[보기]({link})"
    assert len(discord.threads) == 2


async def test_a_forum_is_detected_from_discords_refusal_and_said(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    webhook = discord.add_webhook(FORUM_ID)
    discord.make_forum(FORUM_ID)
    route = RouteSettings(name="main", webhook_url=webhook)  # forum not set
    delivery = lane(store, http, route, clock)
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="ERROR", format="{message}")
    try:
        await enqueue(store, clock, new(1))
        assert await delivery.deliver_due("main") == 1
    finally:
        logger.remove(sink)
    assert discord.rejections == [(400, "forum post without thread_name or thread_id")]
    (posted,) = discord.messages
    assert posted.thread_id == posted.message_id
    assert any('"forum": true' in line for line in lines)


async def test_the_dry_run_prints_an_edit_as_an_edit(store: Store) -> None:
    clock = FakeClock()
    out = io.StringIO()
    printer = StdoutNotifier(alert_text, clock, out=out, route="main")
    delivery = Delivery(store, [printer], clock)
    await enqueue(store, clock, new(1))
    await delivery.deliver_due("main")
    (printed,) = await store.posts("main", notice_keys=["melon:1"])
    await enqueue(store, clock, change(1, ticket(1), title="공연 1 연기"))
    await delivery.deliver_due("main")
    text = out.getvalue()
    edit_line = next(line for line in text.splitlines() if printed.message_id in line)
    assert edit_line.startswith("[DRY RUN]") and text.count(printed.message_id) == 1  # said as an edit
    assert text.count("| [변경] 공연 1 연기") == 2  # the edited alert as it reads now, then the short message


async def test_once_every_sale_passed_the_message_says_so_once_and_is_never_edited_again(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock()
    route = RouteSettings(name="main", webhook_url=discord.add_webhook())
    delivery = lane(store, http, route, clock)
    await enqueue(store, clock, new(1), new(2))
    await enqueue(store, clock, NewNotice(SITE, COLOR, ticket(3, open_at=seoul(2027, 1, 10, 20))))
    await delivery.deliver_due("main")
    (message,) = discord.messages[:1]
    await delivery.deliver_due("main")
    assert discord.patches() == []  # before the open: nothing to say
    clock.advance(seoul(2026, 12, 24, 20, 1).timestamp() - clock.now().timestamp())
    await delivery.deliver_due("main")
    ((edited, patch),) = discord.patches()
    assert edited == message.message_id
    assert [e.get("description") for e in patch["embeds"]] == ["**오픈됨 · 12/24 20:00**"] * 2 + [None]
    for _ in range(3):  # looked at again each minute: said once
        clock.advance(61)
        await delivery.deliver_due("main")
    assert len(discord.patches()) == 1
    await enqueue(store, clock, change(1, ticket(1), title="공연 1 추가 회차"))
    await delivery.deliver_due("main")
    assert len(discord.patches()) == 1 and discord.messages[-1].payload["embeds"][0]["title"].startswith(
        "[변경]"
    )
