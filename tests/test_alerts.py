"""Issue 5: change alerts with a confirming cycle, reminders before the open, routes, explain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from crawlers.base import Crawl, Crawler
from tests.conftest import run_cli, write_config
from tests.support.discord_standin import FakeDiscord
from ticket_alarm.clock import FakeClock
from ticket_alarm.config import RouteSettings, Settings
from ticket_alarm.discord.render import render_alert
from ticket_alarm.discord.webhook import DiscordNotifier, WebhookClient
from ticket_alarm.explain import explain, render_text
from ticket_alarm.http import Fetcher, SiteFetcher
from ticket_alarm.model import Presale, Ticket, seoul
from ticket_alarm.notify import STDOUT_ROUTE, Alert
from ticket_alarm.pipeline import Pipeline
from ticket_alarm.reminders import Reminders
from ticket_alarm.routing import explain_route, route_matches
from ticket_alarm.store import Store, as_async

OPEN_A = seoul(2026, 12, 1, 20, 0)
OPEN_B = seoul(2026, 12, 3, 20, 0)


class ListCrawler(Crawler):
    """Returns whatever the test puts in ``tickets``."""

    name: ClassVar[str] = "fake"
    display_name: ClassVar[str] = "가짜 티켓"
    color: ClassVar[int] = 0x123456
    tickets: list[Ticket]

    async def crawl(self, fetch: SiteFetcher) -> Crawl:
        crawl = Crawl()
        crawl.add(list(self.tickets))
        return crawl


def ticket(notice_id: str = "1", **changes: Any) -> Ticket:
    base = Ticket(
        site="fake",
        id=notice_id,
        title=f"공연 {notice_id} 티켓 오픈 안내",
        url=f"https://fake.example/notice/{notice_id}",
        open_at=OPEN_A,
        venue="올림픽홀",
        genre="콘서트",
    )
    return base.with_(**changes)


def _rendered(payload: dict[str, Any]) -> dict[str, Any]:
    """An outbox payload as the Discord notifier renders it at send time."""
    return render_alert(Alert.from_json(payload))


class Harness:
    def __init__(self, tmp_path: Path, settings: Settings, clock: FakeClock) -> None:
        self.settings = settings
        self.clock = clock
        self.store = Store.open_dir(tmp_path / "data")
        self.fetcher = Fetcher(settings.http, transport=httpx.MockTransport(lambda r: httpx.Response(500)))
        self.crawler = ListCrawler()
        self.crawler.tickets = []
        self.pipeline = Pipeline(settings, self.store, self.fetcher, {"fake": self.crawler}, clock)
        self.reminders = Reminders(self.store, {"fake": self.crawler}, clock)

    async def cycle(self, *tickets: Ticket) -> None:
        self.crawler.tickets = list(tickets)
        result = await self.pipeline.run_site("fake")
        assert result.ok, result.error

    def outbox(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            {"kind": r.kind, "route": r.route, **_rendered(r.payload)}
            for r in self.store.outbox_list()
            if kind in (None, r.kind)
        ]

    async def close(self) -> None:
        await self.fetcher.aclose()
        self.store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 30, 0, 0, tzinfo=UTC))


@pytest.fixture
async def harness(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Harness]:
    h = Harness(tmp_path, Settings(reminders=[60, 10]), clock)
    yield h
    await h.close()


# --- change alerts -----------------------------------------------------------------------


async def test_changed_open_time_gives_exactly_one_change_embed(harness: Harness) -> None:
    await harness.cycle(ticket("1"))  # first run: silent
    await harness.cycle(ticket("1"), ticket("2"))
    assert [e["kind"] for e in harness.outbox()] == ["new"]
    await harness.cycle(ticket("1", open_at=OPEN_B), ticket("2"))  # held for one confirming cycle
    assert harness.outbox("change") == []
    await harness.cycle(ticket("1", open_at=OPEN_B), ticket("2"))
    await harness.cycle(ticket("1", open_at=OPEN_B), ticket("2"))
    changes = harness.outbox("change")
    assert len(changes) == 1
    field = changes[0]["fields"][0]
    assert field["name"] == "티켓 오픈"
    before, after = int(OPEN_A.timestamp()), int(OPEN_B.timestamp())
    assert field["value"].index(f"<t:{before}:F>") < field["value"].index(f"<t:{after}:F>")
    assert changes[0]["title"].startswith("[변경] ")
    assert changes[0]["url"] == "https://fake.example/notice/1"


async def test_flip_flop_is_reported_once(harness: Harness) -> None:
    await harness.cycle()
    await harness.cycle(ticket("1"))  # the new-notice alert
    await harness.cycle(ticket("1", open_at=OPEN_B))  # B for one cycle …
    await harness.cycle(ticket("1"))  # … and back to A: not a change worth a message
    await harness.cycle(ticket("1"))
    assert [e["kind"] for e in harness.outbox()] == ["new"]
    events = [e.event for e in harness.store.notice_events(ticket("1").key)]
    assert events == ["first", "pending", "reverted"]


async def test_views_and_poster_changes_are_not_changes(harness: Harness) -> None:
    await harness.cycle()
    await harness.cycle(ticket("1", views=10, image_url="https://img.example/a.jpg"))
    for views in (20, 30, 40):
        await harness.cycle(ticket("1", views=views, image_url=f"https://img.example/{views}.jpg"))
    assert [e["kind"] for e in harness.outbox()] == ["new"]


async def test_presale_added_and_category_change_are_announced(tmp_path: Path, clock: FakeClock) -> None:
    h = Harness(tmp_path, Settings(change_confirm_cycles=0), clock)
    await h.cycle(ticket("1"))
    presale = Presale("팬클럽 선예매", seoul(2026, 11, 30, 20, 0))
    await h.cycle(ticket("1", presales=(presale,)))
    await h.cycle(ticket("1", presales=(presale,), category="change"))
    changes = h.outbox("change")
    assert [c["fields"][0]["name"] for c in changes] == ["선예매", "구분"]
    assert "팬클럽 선예매" in changes[0]["fields"][0]["value"]
    assert "변경/취소" in changes[1]["fields"][0]["value"]
    await h.close()


# --- reminders ------------------------------------------------------------------------------


async def test_reminders_fire_at_their_offsets(harness: Harness, clock: FakeClock) -> None:
    await harness.cycle(ticket("1"))  # silent first run: reminders are still planned
    assert await harness.reminders.run_due() == (0, 0)
    clock.advance((OPEN_A - clock.now()).total_seconds() - 61 * 60)
    assert await harness.reminders.run_due() == (0, 0)
    clock.advance(60)  # 60 minutes before
    assert await harness.reminders.run_due() == (1, 0)
    clock.advance(49 * 60)  # 11 minutes before
    assert await harness.reminders.run_due() == (0, 0)
    clock.advance(60)
    assert await harness.reminders.run_due() == (1, 0)
    reminders = harness.outbox("reminder")
    assert [r["footer"]["text"].rsplit(" · ", 1)[-1] for r in reminders] == ["1시간 전 알림", "10분 전 알림"]
    # the lead once, then the clock time: not "1시간 전입니다 (1시간 후)"
    assert reminders[0]["description"] == f"티켓 오픈 1시간 전입니다 (<t:{int(OPEN_A.timestamp())}:t>)."
    assert all(r["route"] == STDOUT_ROUTE for r in reminders)
    clock.advance(3600)
    assert await harness.reminders.run_due() == (0, 0)  # never repeated


async def test_reminders_survive_a_restart_and_move_with_the_open_time(
    tmp_path: Path, harness: Harness, clock: FakeClock
) -> None:
    await harness.cycle(ticket("1"))
    await harness.cycle(ticket("1", open_at=OPEN_B))
    await harness.cycle(ticket("1", open_at=OPEN_B))  # confirmed: the reminders move to B
    harness.store.close()
    restarted = Harness(tmp_path, Settings(reminders=[60, 10]), clock)  # same SQLite file
    clock.advance((OPEN_A - clock.now()).total_seconds() - 30 * 60)
    assert await restarted.reminders.run_due() == (0, 0), "the old open time must not fire"
    clock.advance((OPEN_B - clock.now()).total_seconds() - 60 * 60)
    assert await restarted.reminders.run_due() == (1, 0)
    rows = {r.offset_min: r.status for r in restarted.store.reminders([ticket("1").key])}
    assert rows == {60: "queued", 10: "pending"}
    await restarted.close()


async def test_reminder_missed_while_down_is_skipped_not_sent_late(
    harness: Harness, clock: FakeClock
) -> None:
    await harness.cycle(ticket("1"))
    clock.advance((OPEN_A - clock.now()).total_seconds() - 30 * 60)  # 60-min one is 30 min late: still useful
    assert await harness.reminders.run_due() == (1, 0)
    clock.advance(2 * 3600)  # down past the open: the 10-minute one is pointless now
    assert await harness.reminders.run_due() == (0, 1)
    assert [r.status for r in harness.store.reminders([ticket("1").key])] == ["queued", "skipped"]


async def test_notice_first_seen_inside_the_window_gets_no_belated_reminder(
    harness: Harness, clock: FakeClock
) -> None:
    soon = clock.now() + timedelta(minutes=30)
    await harness.cycle()
    await harness.cycle(ticket("9", open_at=soon))
    offsets = [r.offset_min for r in harness.store.reminders([ticket("9").key])]
    assert offsets == [10]


async def test_tba_open_time_cancels_pending_reminders(tmp_path: Path, clock: FakeClock) -> None:
    h = Harness(tmp_path, Settings(reminders=[60], change_confirm_cycles=0), clock)
    await h.cycle(ticket("1"))
    await h.cycle(ticket("1", open_at=None))
    assert [r.status for r in h.store.reminders([ticket("1").key])] == ["cancelled"]
    await h.close()


# --- routes ------------------------------------------------------------------------------------


def route(**kw: Any) -> RouteSettings:
    return RouteSettings(
        name=kw.pop("name", "r"), webhook_url="http://127.0.0.1:1/api/webhooks/123456/abcdefghijkl", **kw
    )


@pytest.mark.parametrize(
    ("filters", "changes", "expected"),
    [
        ({"include": ["BTS"]}, {"title": "ＢＴＳ 월드투어 티켓 오픈"}, True),  # full-width
        ({"include": ["bts"]}, {"title": "BTS WORLD TOUR"}, True),  # case
        ({"include": ["아이유 콘서트"]}, {"title": "2027 아이유콘서트 티켓 오픈"}, True),  # spacing
        ({"include": ["아이유콘서트"]}, {"title": "아이유   콘서트"}, True),
        ({"include": ["뮤지컬"]}, {"title": "아이유 콘서트"}, False),
        ({"include": ["/^\\[단독\\]/"]}, {"title": "[단독] 공연"}, True),
        ({"include": ["/투어$/"]}, {"title": "투어 공연"}, False),
        ({"exclude": ["취소"]}, {"title": "공연 취소 안내"}, False),
        ({"sites": ["melon"]}, {}, False),
        ({"sites": ["fake"]}, {}, True),
        ({"genres": ["뮤지컬"]}, {"genre": "뮤지컬/오페라"}, True),
        ({"genres": ["뮤지컬"]}, {"genre": "콘서트"}, False),
        ({"exclusive_only": True}, {"exclusive": False}, False),
        ({"exclusive_only": True}, {"exclusive": True}, True),
        ({"categories": ["change"]}, {"category": "open"}, False),
        ({"categories": ["change"]}, {"category": "change"}, True),
        ({"include": ["올림픽홀"]}, {"title": "다른 공연"}, True),  # venue counts
    ],
)
def test_routing_table(filters: dict[str, Any], changes: dict[str, Any], expected: bool) -> None:
    assert route_matches(route(**filters), ticket(**changes)) is expected
    matched, reason = explain_route(route(**filters), ticket(**changes))
    assert matched is expected and reason


def test_bad_regex_in_a_route_is_a_config_error_naming_route_and_pattern(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "routes": [
                {
                    "name": "concerts",
                    "webhook_url": "https://discord.com/api/webhooks/123456789/tokentokentoken",
                    "include": ["/([unclosed/"],
                }
            ]
        },
    )
    result = run_cli("check-config", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "concerts" in result.stderr and "/([unclosed/" in result.stderr
    assert "tokentokentoken" not in result.stdout + result.stderr


async def test_mentions_only_the_configured_roles_and_threads(tmp_path: Path, clock: FakeClock) -> None:
    discord = FakeDiscord().start()
    try:
        url = discord.add_webhook("223456789012345678")
        settings = Settings(
            routes=[
                {
                    "name": "fans",
                    "webhook_url": url,
                    "mention_role_ids": ["111111111111"],
                    "thread_id": "999999999999",
                }
            ],
            notify_on_first_run=True,
        )
        h = Harness(tmp_path, settings, clock)
        await h.cycle(ticket("1", title="@everyone <@&222222222222> @here 공연 <@333333333333>"))
        async with httpx.AsyncClient() as client:
            from ticket_alarm.delivery import Delivery

            webhooks = WebhookClient(client, clock)
            notifiers = [DiscordNotifier.for_route(r, webhooks) for r in settings.effective_routes()]
            delivery = Delivery(h.store, notifiers, clock)
            assert await delivery.drain(5) == 1
        assert discord.mention_violations == []
        assert discord.fired_mentions == ["role:111111111111"]
        message = discord.messages[0].payload
        assert message["allowed_mentions"] == {"parse": [], "roles": ["111111111111"]}
        assert message["content"] == "<@&111111111111>"
        await h.close()
    finally:
        discord.stop()


async def test_explain_shows_history_routes_and_deliveries(harness: Harness) -> None:
    await harness.cycle()
    await harness.cycle(ticket("1"))
    await harness.cycle(ticket("1", open_at=OPEN_B))
    doc = await explain(as_async(harness.store), harness.settings, "fake", "1")
    assert doc is not None
    assert [d["event"] for d in doc["digests"]] == ["first", "pending"]
    assert doc["pending_change"]["cycles"] == 1
    assert doc["sent"][0]["kind"] == "new" and doc["sent"][0]["status"] == "pending"
    assert doc["routes"] == [
        {"route": STDOUT_ROUTE, "matched": True, "reason": "no webhook configured: printed"}
    ]
    assert [r["minutes_before"] for r in doc["reminders"]] == [60, 10]
    text = render_text(doc)
    assert "change waiting for confirmation" in text and "공연 1 티켓 오픈 안내" in text
    assert await explain(as_async(harness.store), harness.settings, "fake", "404") is None
