"""Quiet hours, silent mode and digests through the drainer: a real SQLite store, the strict stand-in
Discord on 127.0.0.1 and an injected clock; a "restart" is a new Delivery over the same store."""

from __future__ import annotations

import random
import threading
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.support.discord_standin import FakeDiscord
from tests.support.telegram_standin import FakeTelegram
from tests.unit import test_outbox
from ticket_alarm import app
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.routes import RouteSettings
from ticket_alarm.config.settings import Settings
from ticket_alarm.core.alert import Changed, Digest, NewNotice
from ticket_alarm.core.model import Presale, Ticket, identity_key, seoul
from ticket_alarm.delivery.digest import digest_lines
from ticket_alarm.delivery.discord.webhook import DiscordNotifier, WebhookClient
from ticket_alarm.delivery.outbox import Delivery
from ticket_alarm.delivery.telegram import TelegramNotifier
from ticket_alarm.ops.explain import explain, render_text
from ticket_alarm.store import NewOutboxRow, Store
from ticket_alarm.store.api import Cycle, HistoryRow, SiteState


def kst(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """December 2026 in KST (the 7th is a Monday)."""
    return seoul(2026, 12, day, hour, minute, second)


FAR = kst(30, 20)


store, roomy = test_outbox.store, test_outbox.roomy  # its fixtures, shared


@pytest.fixture
def discord(roomy: FakeDiscord) -> FakeDiscord:
    """test_outbox's stand-in with a bucket fake-clock tests never meet."""
    return roomy


def ticket(n: int, open_at: datetime | None = FAR, *presales: datetime, title: str = "") -> Ticket:
    return Ticket(
        "melon",
        str(n),
        title or f"공연 {n}",
        f"https://ticket.melon.com/n/{n}",
        open_at,
        presales=tuple(Presale("팬클럽", p) for p in presales),
    )


def key(t: Ticket) -> str:
    return identity_key(t.site, t.id)


async def enqueue(store: Store, clock: FakeClock, *tickets: Ticket, route: str = "r") -> None:
    rows = [
        NewOutboxRow(route, "new", "melon", key(t), NewNotice("멜론티켓", 1, t).to_json()) for t in tickets
    ]
    await store.enqueue(rows, clock.now().timestamp())


def delivery(
    store: Store, http: httpx.AsyncClient, clock: FakeClock, route: RouteSettings
) -> tuple[Delivery, str]:
    notifier = DiscordNotifier.for_route(route, WebhookClient(http, clock))
    return Delivery(store, [notifier], clock, rng=random.Random(7), routes={route.name: route}), route.name


def route_with(discord: FakeDiscord, **kw: Any) -> RouteSettings:
    return RouteSettings.model_validate({"name": "r", "webhook_url": discord.add_webhook(), **kw})


def titles(discord: FakeDiscord) -> list[str]:
    return [e["title"] for e in discord.embeds()]


def move(clock: FakeClock, to: datetime) -> None:
    clock.advance((to - clock.now()).total_seconds())


QUIET = {"from": "23:00", "to": "08:00"}


async def test_a_quiet_window_holds_a_notice_lets_an_urgent_presale_through_and_sends_one_digest_at_its_end(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock(kst(8, 3))
    route = route_with(discord, quiet_hours=QUIET)
    lanes, lane = delivery(store, http, clock, route)
    await enqueue(store, clock, ticket(1), ticket(2, None), ticket(3, FAR, kst(8, 10)), ticket(4))
    assert await lanes.deliver_due(lane) == 1
    assert titles(discord) == ["공연 3"]  # the presale at 10:00 is within 12 hours
    assert "flags" not in discord.messages[0].payload  # hold mode never silences what passes
    held = await store.outbox_list(status="pending")
    assert [r.notice_key for r in held] == [key(ticket(n)) for n in (1, 2, 4)]
    assert {r.next_attempt_at for r in held} == {kst(8, 8).timestamp()}  # the hold is in the store
    assert {r.attempts for r in held} == {0}
    assert all(
        "until 12/8 (화) 08:00" in (r.last_error or "") or "12/8 (화) 08:00까지" in (r.last_error or "")
        for r in held
    )

    await remember(store, clock, ticket(1))  # explain and outbox list say it is held, and until when
    doc = await explain(store, app.router(Settings()), "melon", "1")
    assert doc is not None and doc["sent"][0]["held_until"] == "2026-12-08 08:00 KST"
    assert "(held)" in render_text(doc) or "(보류)" in render_text(doc)

    move(clock, kst(8, 7, 59))
    restarted, _ = delivery(store, http, clock, route)  # a restart in the window: still held
    assert await restarted.deliver_due(lane) == 0
    assert len(discord.messages) == 1

    move(clock, kst(8, 8))
    assert await restarted.deliver_due(lane) == 3
    assert len(discord.messages) == 2  # ONE message for everything the window held
    digest = discord.messages[1].payload["embeds"]
    assert [e["title"] for e in digest] == ["조용한 시간 동안 온 알림"]
    text = digest[0]["description"]
    assert all(f"[공연 {n}](https://ticket.melon.com/n/{n})" in text for n in (1, 2, 4))
    assert "공연 3" not in text
    assert await store.outbox_list(status="pending") == []
    assert await restarted.deliver_due(lane) == 0 and len(discord.messages) == 2


async def test_a_big_night_is_split_only_at_discords_limits(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock(kst(8, 1))
    route = route_with(discord, quiet_hours=QUIET)
    lanes, lane = delivery(store, http, clock, route)
    await enqueue(
        store, clock, *(ticket(n, title=f"아주 긴 제목의 공연 [{n}] " + "가" * 60) for n in range(80))
    )
    assert await lanes.deliver_due(lane) == 0
    move(clock, kst(8, 8))
    assert await lanes.deliver_due(lane) == 80
    assert 2 <= len(discord.messages) <= 8  # the stand-in refuses anything over Discord's limits
    text = "".join(m.payload["embeds"][0]["description"] for m in discord.messages)
    assert all(text.count(f"\\[{n}\\]") == 1 for n in range(80))  # each once, escaped


async def test_silent_mode_delivers_at_once_without_a_notification_unless_urgent(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock(kst(8, 3))
    route = route_with(discord, quiet_hours={**QUIET, "mode": "silent"})
    lanes, lane = delivery(store, http, clock, route)
    await enqueue(store, clock, ticket(1))
    assert await lanes.deliver_due(lane) == 1
    await enqueue(store, clock, ticket(2, kst(8, 9)))
    assert await lanes.deliver_due(lane) == 1
    move(clock, kst(8, 9))
    await enqueue(store, clock, ticket(3))
    assert await lanes.deliver_due(lane) == 1
    assert [m.payload.get("flags") for m in discord.messages] == [4096, None, None]


async def remember(store: Store, clock: FakeClock, *tickets: Ticket) -> None:
    """Notices in the history, as a crawl would have written them (the upcoming opens come from here)."""
    rows = [HistoryRow(key(t), "d", t.site, t.id, t.title, t.to_json()) for t in tickets]
    await store.commit_cycle(Cycle("melon", clock.now().timestamp(), SiteState("melon"), history=rows))


async def test_a_daily_digest_goes_out_once_across_a_restart_and_after_a_missed_hour(
    store: Store, discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    clock = FakeClock(kst(8, 12))
    route = route_with(discord, digest={"every": "day", "at": "09:00"})
    lanes, lane = delivery(store, http, clock, route)
    soon, later = ticket(7, kst(10, 20)), ticket(8, kst(20, 20))
    await remember(store, clock, soon, later)
    await enqueue(store, clock, ticket(1))
    assert await lanes.deliver_due(lane) == 0  # held for tomorrow's digest
    assert discord.messages == []

    move(clock, kst(9, 9))
    assert await lanes.deliver_due(lane) == 1
    assert len(discord.messages) == 1
    embed = discord.messages[0].payload["embeds"][0]
    assert embed["title"] == "오늘의 티켓 오픈"
    assert "[새 공지 1건]" in embed["description"] and "공연 1" in embed["description"]
    assert "12/10 (목)" in embed["description"] and "• 20:00 [공연 7]" in embed["description"]
    assert "공연 8" not in embed["description"]  # more than 7 days away

    move(clock, kst(9, 9, 0, 30))
    restarted, _ = delivery(store, http, clock, route)  # a restart at 09:00: never twice
    assert await restarted.deliver_due(lane) == 0
    assert len(discord.messages) == 1

    move(clock, kst(10, 11))  # down at 09:00 the next day: sent when back, once, with no new notice
    back, _ = delivery(store, http, clock, route)
    assert await back.deliver_due(lane) == 0
    assert await back.deliver_due(lane) == 0
    assert len(discord.messages) == 2
    assert "[새 공지" not in discord.messages[1].payload["embeds"][0]["description"]
    assert "공연 7" in discord.messages[1].payload["embeds"][0]["description"]

    move(clock, kst(11, 9))  # nothing new and nothing opening within 7 days: nothing at all
    assert await back.deliver_due(lane) == 0
    assert len(discord.messages) == 2


def test_the_plain_digest_reads_as_a_fan_reads_it() -> None:
    now = kst(7, 9)
    digest = Digest(
        "r",
        1,
        "week",
        now.timestamp(),
        (NewNotice("멜론티켓", 1, ticket(1, kst(9, 20))),),
        (ticket(2, kst(10, 20), kst(8, 14)), ticket(3, kst(10, 18))),
    )
    assert digest_lines(digest, now) == [
        "📅 이번 주 티켓 오픈",
        "",
        "[새 공지 1건]",
        "• 멜론티켓 | 공연 1 — 오픈 12/9 (수) 20:00",
        "",
        "[7일 안에 열리는 예매 3건]",
        "12/8 (화)",
        "• 14:00 공연 2 · 팬클럽",
        "12/10 (목)",
        "• 18:00 공연 3",
        "• 20:00 공연 2",
    ]
    assert NewNotice.from_json(digest.to_json()) == digest
    before = ticket(4, kst(9, 20))
    changed = Changed("멜론티켓", 1, before.with_(open_at=kst(11, 20), venue="올림픽홀"), before)
    day = Digest("r", 1, "day", now.timestamp(), (changed,))
    assert digest_lines(day, now) == [
        "📅 오늘의 티켓 오픈",
        "",
        "[변경 1건]",
        "• 멜론티켓 | 공연 4 — 티켓 오픈, 장소 변경 (오픈 12/11 (금) 20:00)",
    ]
    assert NewNotice.from_json(day.to_json()) == day


async def test_telegram_reads_a_digest_as_its_lines_every_scraped_string_escaped() -> None:
    clock = FakeClock(kst(8, 8))
    fake = FakeTelegram(clock=clock.monotonic).start()
    try:
        fake.add_chat(4242)
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            n = TelegramNotifier("r/telegram", fake.add_bot(), "4242", client, clock, api_base=fake.api_base)
            hostile = ticket(1, title="R&B <b>굵게</b> & </i>")
            digest = Digest("r", 1, "quiet", clock.now().timestamp(), (NewNotice("멜론티켓", 1, hostile),))
            assert (await n.send([digest], silent=True)).kind == "sent"
        [sent] = fake.messages
        assert sent.html.startswith("<b>📅 조용한 시간 동안 온 알림</b>")
        assert "• 멜론티켓 | R&B <b>굵게</b> & </i> — 오픈 12/30 (수) 20:00" in sent.text
        assert sent.params["disable_notification"] is True
    finally:
        threading.Thread(target=fake.stop, daemon=True).start()
