"""The ntfy notifier against the strict stand-in ntfy server (real loopback HTTP): the JSON it publishes,
priorities by alert, ntfy's limits and errors as Outcomes, its own pace; and the plain text of alerts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.ntfy_standin import MAX_MESSAGE_BYTES, FakeNtfy
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.routes import NtfyPriorities, RouteSettings, destinations
from ticket_alarm.core.model import Presale, Ticket
from ticket_alarm.delivery.notify import Changed, LegacyAlert, NewNotice, Reminder
from ticket_alarm.delivery.ntfy import BURST, REFILL_SECONDS, NtfyNotifier, fit_bytes
from ticket_alarm.delivery.text import alert_lines, alert_link, alert_title

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 12:00 KST
TOKEN = "tk_abcdefghijklmnopqrstuvwxyz012"
BOOKING = "https://tickets.interpark.com/goods/26012345"


def notice(*, hours: float = 24 * 10, presales: tuple[Presale, ...] = (), **changes: Any) -> Ticket:
    base = Ticket(
        site="interpark",
        id="1",
        title="아이유 콘서트 *HER* [서울]",
        url="https://tickets.interpark.com/notice/1",
        open_at=NOW + timedelta(hours=hours),
        presales=presales,
        venue="KSPO DOME",
        booking_url=BOOKING,
    )
    return base.with_(**changes)


def new(ticket: Ticket) -> NewNotice:
    return NewNotice(site_name="인터파크 티켓", color=0xEF3E42, ticket=ticket)


@pytest.fixture
def ntfy() -> Iterator[FakeNtfy]:
    fake = FakeNtfy().start()
    yield fake
    threading.Thread(target=fake.stop, daemon=True).start()


def notifier(
    fake: FakeNtfy, http: httpx.AsyncClient, clock: FakeClock | None = None, **route: Any
) -> NtfyNotifier:
    settings = RouteSettings(name="iu", ntfy_url=fake.topic_url("iu-tickets"), **route)
    (dest,) = destinations(settings)
    return NtfyNotifier.for_destination(dest, http, clock or FakeClock(NOW))


async def test_an_alert_is_one_json_message_at_the_server_root(
    ntfy: FakeNtfy, http: httpx.AsyncClient
) -> None:
    sender = notifier(ntfy, http, ntfy_token=TOKEN)
    ntfy.protect("iu-tickets", TOKEN)
    assert sender.route == "iu/ntfy" and sender.capabilities.max_batch == 1 and sender.capabilities.priority
    outcome = await sender.send([new(notice())])
    assert outcome.kind == "sent" and outcome.status == 200 and outcome.message_id == "msg000000001"
    (message,) = ntfy.messages
    assert message.topic == "iu-tickets" and message.authorization == f"Bearer {TOKEN}"
    body = message.payload
    assert body["title"] == "인터파크 티켓 · 아이유 콘서트 *HER* [서울]"
    assert body["click"] == BOOKING and body["actions"][0]["url"] == BOOKING and body["tags"] == ["ticket"]
    assert "티켓 오픈: 2026-12-11 (금) 12:00 KST (10일 후)" in body["message"]
    assert "장소: KSPO DOME" in body["message"] and "\\" not in body["message"]  # plain text: no escapes
    assert body["priority"] == 3


@pytest.mark.parametrize(
    ("alert", "priority"),
    [
        (new(notice()), 3),  # a notice whose open is days away
        (new(notice(hours=20)), 4),  # an open within 24 h
        (new(notice(presales=(Presale("팬클럽 선예매", NOW + timedelta(days=5)),))), 4),  # a new presale
        (Changed(site_name="인터파크 티켓", color=1, ticket=notice(venue="올림픽홀"), before=notice()), 3),
        (Reminder(site_name="인터파크 티켓", color=1, ticket=notice(hours=1), offset_min=60), 5),
    ],
)
async def test_priority_is_by_what_the_alert_is(
    ntfy: FakeNtfy, http: httpx.AsyncClient, alert: Any, priority: int
) -> None:
    assert (await notifier(ntfy, http).send([alert])).kind == "sent"
    assert ntfy.published()[0]["priority"] == priority


async def test_a_route_overrides_priorities_and_silent_is_priority_1(
    ntfy: FakeNtfy, http: httpx.AsyncClient
) -> None:
    sender = notifier(ntfy, http, ntfy_priority=NtfyPriorities(notice=2, urgent=5))
    await sender.send([new(notice())])
    await sender.send([new(notice(hours=2))])
    await sender.send([new(notice(hours=2))], silent=True)
    assert [m["priority"] for m in ntfy.published()] == [2, 5, 1]


async def test_a_long_message_is_cut_to_ntfys_4096_bytes_and_a_too_large_one_is_dead(
    ntfy: FakeNtfy, http: httpx.AsyncClient
) -> None:
    sender = notifier(ntfy, http)
    assert (await sender.send([new(notice(venue="공연장" * 400, genre="콘서트" * 400))])).kind == "sent"
    message = ntfy.published()[0]["message"]
    assert len(message.encode()) <= MAX_MESSAGE_BYTES and message.endswith("…")
    assert len(fit_bytes("가" * 2000).encode()) <= MAX_MESSAGE_BYTES  # Korean: three bytes a character
    too_large = {**sender.payload(new(notice())), "message": "가" * 2000}  # what a careless notifier sends
    outcome = await sender.publish(too_large)
    assert outcome.kind == "dead" and outcome.status == 413 and ntfy.rejections[-1][0] == 413


async def test_429_backs_off_10_s_doubling_and_a_sent_message_resets_it(
    ntfy: FakeNtfy, http: httpx.AsyncClient
) -> None:
    clock = FakeClock(NOW)
    sender = notifier(ntfy, http, clock)
    ntfy.limit(burst=0, refill=3600)  # ntfy answers 429 without Retry-After
    first = await sender.send([new(notice())])
    assert first.kind == "rate_limited" and first.retry_after == 10.0 and sender.wait() == 10.0
    second = await sender.send([new(notice())])  # it waits the 10 s out first, then draws another 429
    assert second.kind == "rate_limited" and second.retry_after == 20.0 and 10.0 in clock.slept
    ntfy.limit(burst=100, refill=0)
    assert (await sender.send([new(notice())])).kind == "sent"
    ntfy.limit(burst=0, refill=3600)
    assert (await sender.send([new(notice())])).retry_after == 10.0  # the doubling started over


async def test_the_lane_keeps_ntfy_shs_pace_itself(ntfy: FakeNtfy, http: httpx.AsyncClient) -> None:
    clock = FakeClock(NOW)
    sender = notifier(ntfy, http, clock)
    for _ in range(BURST):
        assert (await sender.send([new(notice())])).kind == "sent"
    assert clock.slept == [] and sender.wait() == pytest.approx(REFILL_SECONDS)
    assert (await sender.send([new(notice())])).kind == "sent"
    assert clock.slept == [pytest.approx(REFILL_SECONDS)] and len(ntfy.messages) == BURST + 1


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried(ntfy: FakeNtfy, http: httpx.AsyncClient, status: int) -> None:
    ntfy.fail(status)
    outcome = await notifier(ntfy, http).send([new(notice())])
    assert outcome.kind == "retry" and outcome.status == status and ntfy.messages == []


async def test_a_protected_topic_without_the_right_token_is_broken_and_the_token_never_shows(
    ntfy: FakeNtfy, http: httpx.AsyncClient
) -> None:
    ntfy.protect("iu-tickets", TOKEN)
    anonymous = await notifier(ntfy, http).send([new(notice())])
    wrong_token = "tk_zzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
    wrong = notifier(ntfy, http, ntfy_token=wrong_token)
    refused = await wrong.send([new(notice())])
    assert (anonymous.kind, anonymous.status) == ("broken", 403) and (refused.kind, refused.status) == (
        "broken",
        401,
    )
    # the server cannot tell a publish-only token from a refused one: the lane tries its next send again
    # (one request per recheck period), which the wrong token gets refused again, broken as before
    assert await wrong.probe() is True and await notifier(ntfy, http, ntfy_token=TOKEN).probe() is True
    assert (await wrong.send([new(notice())])).kind == "broken" and ntfy.messages == []
    text = wrong.broken_text(refused) + wrong.describe() + refused.error
    assert wrong_token not in text and "route iu/ntfy ntfy topic" in text and ntfy.messages == []
    assert wrong.scrub(f"echo Bearer {wrong_token}") == "echo Bearer ****"


async def test_an_unreachable_server_is_retried(http: httpx.AsyncClient) -> None:
    gone = FakeNtfy().start()
    url = gone.topic_url("iu-tickets")
    gone.stop()
    sender = NtfyNotifier("iu/ntfy", url, http, FakeClock(NOW), priorities=NtfyPriorities())
    outcome = await sender.send([new(notice())])
    assert outcome.kind == "retry" and "127.0.0.1" in outcome.error and await sender.probe() is None


async def test_an_embed_sent_as_it_is_becomes_plain_text(ntfy: FakeNtfy, http: httpx.AsyncClient) -> None:
    embed = {"title": "ticket-alarm 테스트 알림", "description": "이 채널로 티켓 오픈 알림이 전송됩니다."}
    assert (await notifier(ntfy, http).send([LegacyAlert(site_name="", color=0, embed=embed)])).kind == "sent"
    body = ntfy.published()[0]
    assert body["title"] == "ticket-alarm 테스트 알림" and body["message"] == embed["description"]
    assert "click" not in body and "actions" not in body


def test_alert_text_is_the_embed_read_as_plain_text() -> None:
    presale = Presale("팬클럽 선예매", NOW + timedelta(days=2))
    alert = new(notice(presales=(presale,), exclusive=True))
    assert alert_title(alert) == "인터파크 티켓 · [단독판매] 아이유 콘서트 *HER* [서울]"
    lines = alert_lines(alert, NOW)
    assert lines[0] == "팬클럽 선예매: 2026-12-03 (목) 12:00 KST (2일 후)"
    assert lines[1] == "일반 예매: 2026-12-11 (금) 12:00 KST (10일 후)"
    assert not any("<t:" in line or "](" in line or "\\" in line for line in lines)  # no Discord markup
    assert not any(BOOKING in line for line in lines) and alert_link(alert) == BOOKING  # the link goes apart
    assert alert_link(new(notice(booking_url=None))) == "https://tickets.interpark.com/notice/1"


async def test_a_digest_is_one_plain_message_at_the_digest_priority(
    ntfy: FakeNtfy, http: httpx.AsyncClient
) -> None:
    from ticket_alarm.delivery.notify import Digest

    digest = Digest(
        site_name="",
        color=0,
        period="week",
        at=NOW.timestamp(),
        items=(new(notice()),),
        upcoming=(notice(hours=30),),
    )
    assert (await notifier(ntfy, http).send([digest])).kind == "sent"
    body = ntfy.published()[0]
    assert body["title"] == "이번 주 티켓 오픈" and body["priority"] == 2 and body["tags"] == ["calendar"]
    assert "[새 공지 1건]" in body["message"] and "아이유 콘서트 *HER* [서울]" in body["message"]
    assert "📅" not in body["message"] and "click" not in body  # the title is the heading; no one link
