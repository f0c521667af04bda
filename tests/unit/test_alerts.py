"""Issue 5: change alerts with a confirming cycle, reminders before the open, routes, explain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from crawlers.base import Crawl, Crawler
from tests.conftest import DaemonProcess, run_cli, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm import app
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.routes import STDOUT_ROUTE, explain_route, route_matches
from ticket_alarm.config.settings import RouteSettings, Settings
from ticket_alarm.core.model import SEOUL, Presale, Ticket, seoul
from ticket_alarm.daemon.pipeline import Pipeline
from ticket_alarm.daemon.reminders import Reminders
from ticket_alarm.delivery.discord.render import render_alert
from ticket_alarm.delivery.discord.webhook import DiscordNotifier, WebhookClient
from ticket_alarm.delivery.notify import Alert
from ticket_alarm.fetch.http import Fetcher, SiteFetcher
from ticket_alarm.ops.explain import explain, render_text
from ticket_alarm.store.sqlite.backend import SqliteStore

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
        self.store = SqliteStore.open_dir(tmp_path / "data")
        self.fetcher = Fetcher(settings.http, transport=httpx.MockTransport(lambda r: httpx.Response(500)))
        self.crawler = ListCrawler()
        self.crawler.tickets = []
        self.pipeline = Pipeline(
            settings, self.store, self.fetcher, {"fake": self.crawler}, clock, router=app.router(settings)
        )
        self.reminders = Reminders(self.store, {"fake": self.crawler}, clock)

    async def cycle(self, *tickets: Ticket) -> None:
        self.crawler.tickets = list(tickets)
        result = await self.pipeline.run_site("fake")
        assert result.ok, result.error

    async def outbox(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            {"kind": r.kind, "route": r.route, **_rendered(r.payload)}
            for r in await self.store.outbox_list()
            if kind in (None, r.kind)
        ]

    async def close(self) -> None:
        await self.fetcher.aclose()
        await self.store.close()


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
    assert [e["kind"] for e in await harness.outbox()] == ["new"]
    await harness.cycle(ticket("1", open_at=OPEN_B), ticket("2"))  # held for one confirming cycle
    assert await harness.outbox("change") == []
    await harness.cycle(ticket("1", open_at=OPEN_B), ticket("2"))
    await harness.cycle(ticket("1", open_at=OPEN_B), ticket("2"))
    changes = await harness.outbox("change")
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
    assert [e["kind"] for e in await harness.outbox()] == ["new"]
    events = [e.event for e in await harness.store.notice_events(ticket("1").key)]
    assert events == ["first", "pending", "reverted"]


async def test_views_and_poster_changes_are_not_changes(harness: Harness) -> None:
    await harness.cycle()
    await harness.cycle(ticket("1", views=10, image_url="https://img.example/a.jpg"))
    for views in (20, 30, 40):
        await harness.cycle(ticket("1", views=views, image_url=f"https://img.example/{views}.jpg"))
    assert [e["kind"] for e in await harness.outbox()] == ["new"]


async def test_presale_added_and_category_change_are_announced(tmp_path: Path, clock: FakeClock) -> None:
    h = Harness(tmp_path, Settings(change_confirm_cycles=0), clock)
    await h.cycle(ticket("1"))
    presale = Presale("팬클럽 선예매", seoul(2026, 11, 30, 20, 0))
    await h.cycle(ticket("1", presales=(presale,)))
    await h.cycle(ticket("1", presales=(presale,), category="change"))
    changes = await h.outbox("change")
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
    reminders = await harness.outbox("reminder")
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
    await harness.store.close()
    restarted = Harness(tmp_path, Settings(reminders=[60, 10]), clock)  # same SQLite file
    clock.advance((OPEN_A - clock.now()).total_seconds() - 30 * 60)
    assert await restarted.reminders.run_due() == (0, 0), "the old open time must not fire"
    clock.advance((OPEN_B - clock.now()).total_seconds() - 60 * 60)
    assert await restarted.reminders.run_due() == (1, 0)
    rows = {r.offset_min: r.status for r in await restarted.store.reminders([ticket("1").key])}
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
    assert [r.status for r in await harness.store.reminders([ticket("1").key])] == ["queued", "skipped"]


async def test_notice_first_seen_inside_the_window_gets_no_belated_reminder(
    harness: Harness, clock: FakeClock
) -> None:
    soon = clock.now() + timedelta(minutes=30)
    await harness.cycle()
    await harness.cycle(ticket("9", open_at=soon))
    offsets = [r.offset_min for r in await harness.store.reminders([ticket("9").key])]
    assert offsets == [10]


async def test_tba_open_time_cancels_pending_reminders(tmp_path: Path, clock: FakeClock) -> None:
    h = Harness(tmp_path, Settings(reminders=[60], change_confirm_cycles=0), clock)
    await h.cycle(ticket("1"))
    await h.cycle(ticket("1", open_at=None))
    assert [r.status for r in await h.store.reminders([ticket("1").key])] == ["cancelled"]
    await h.close()


async def test_each_presale_gets_its_own_reminder_at_its_time(tmp_path: Path, clock: FakeClock) -> None:
    """reminders: [10] reminds of the 팬클럽 선예매 too, under its name, and moves it on its own."""
    fanclub = Presale("팬클럽 선예매", OPEN_A - timedelta(days=1))
    h = Harness(tmp_path, Settings(reminders=[10], change_confirm_cycles=0), clock)
    await h.cycle(ticket("1", presales=(fanclub,)))
    clock.advance((fanclub.at - clock.now()).total_seconds() - 11 * 60)
    assert await h.reminders.run_due() == (0, 0)
    clock.advance(60)  # 10 minutes before the presale
    assert await h.reminders.run_due() == (1, 0)
    [presale] = await h.outbox("reminder")
    assert presale["description"].startswith("팬클럽 선예매 10분 전입니다")
    assert f"<t:{int(fanclub.at.timestamp())}:t>" in presale["description"]
    assert presale["footer"]["text"].endswith("팬클럽 선예매 10분 전 알림")
    clock.advance(24 * 3600)  # 10 minutes before the general sale
    assert await h.reminders.run_due() == (1, 0)
    general = (await h.outbox("reminder"))[1]
    assert general["description"].startswith("티켓 오픈 10분 전입니다")
    assert general["footer"]["text"].rsplit(" · ", 1)[-1] == "10분 전 알림"
    # a later presale moves its own reminder; a presale gone cancels its own, never the general one
    clock.advance(-2 * 24 * 3600)
    second = Presale("일반 선예매", OPEN_A - timedelta(hours=5))
    await h.cycle(ticket("2", presales=(fanclub, second)))
    moved = Presale("일반 선예매", OPEN_A - timedelta(hours=3))
    await h.cycle(ticket("2", presales=(fanclub, moved)))
    rows = {(r.sale, r.status, r.open_at) for r in await h.store.reminders([ticket("2").key])}
    assert rows == {
        ("", "pending", OPEN_A.timestamp()),
        ("팬클럽 선예매", "pending", fanclub.at.timestamp()),
        ("일반 선예매", "pending", moved.at.timestamp()),
    }
    await h.cycle(ticket("2", presales=(moved,)))
    status = {r.sale: r.status for r in await h.store.reminders([ticket("2").key])}
    assert status == {"": "pending", "팬클럽 선예매": "cancelled", "일반 선예매": "pending"}
    await h.close()


async def test_sales_sharing_a_time_get_one_reminder_naming_both(tmp_path: Path, clock: FakeClock) -> None:
    h = Harness(tmp_path, Settings(reminders=[10]), clock)
    same = (
        Presale("팬클럽 선예매", OPEN_A),
        Presale("팬클럽 선예매", OPEN_A),
        Presale("멜론 선예매", OPEN_A),
    )
    await h.cycle(ticket("1", presales=same))
    assert [r.sale for r in await h.store.reminders([ticket("1").key])] == [" · 팬클럽 선예매 · 멜론 선예매"]
    clock.advance((OPEN_A - clock.now()).total_seconds() - 10 * 60)
    assert await h.reminders.run_due() == (1, 0)
    [reminder] = await h.outbox("reminder")
    assert reminder["description"].startswith("티켓 오픈 · 팬클럽 선예매 · 멜론 선예매 10분 전입니다")
    await h.close()


async def test_reminder_rows_of_the_previous_schema_stay_the_general_sales(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A store written before reminders were per sale: its rows become the general sale's, keep their
    status, and a cycle plans no second reminder for them (schema step 6, SQLite)."""
    import sqlite3

    from tests.support.legacy_outbox import sqlite_steps
    from ticket_alarm.store import DB_NAME

    (tmp_path / "data").mkdir()
    db = tmp_path / "data" / DB_NAME
    conn = sqlite3.connect(db, isolation_level=None)
    for number, sql in enumerate(sqlite_steps(5), start=1):
        conn.executescript(f"BEGIN IMMEDIATE;{sql};PRAGMA user_version={number};COMMIT;")
    key, at = ticket("1").key, OPEN_A.timestamp()
    conn.execute(
        "INSERT INTO reminders(notice_key, site, route, offset_min, open_at, due_at, status, updated_at) "
        "VALUES (?, 'fake', 'dry-run', 10, ?, ?, 'queued', 0), "
        "(?, 'fake', 'dry-run', 60, ?, ?, 'pending', 0)",
        (key, at, at - 600, key, at, at - 3600),
    )
    conn.close()
    h = Harness(tmp_path, Settings(reminders=[60, 10]), clock)
    rows = await h.store.reminders([key])
    assert [(r.sale, r.offset_min, r.status) for r in rows] == [("", 60, "pending"), ("", 10, "queued")]
    await h.cycle(ticket("1"))
    assert [(r.sale, r.offset_min, r.status) for r in await h.store.reminders([key])] == [
        ("", 60, "pending"),
        ("", 10, "queued"),
    ]
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
            from ticket_alarm.delivery.outbox import Delivery

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
    doc = await explain(harness.store, app.router(harness.settings), "fake", "1")
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
    assert await explain(harness.store, app.router(harness.settings), "fake", "404") is None


def test_the_daemon_delivers_a_presale_reminder_at_its_time(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    """reminders: [1] and a 팬클럽 선예매 80 s from now: its reminder comes 20 s from now, under its name."""
    presale_at = (datetime.now(UTC) + timedelta(seconds=80)).astimezone(SEOUL).replace(microsecond=0)
    notices.add(1, presales=[{"name": "팬클럽 선예매", "at": presale_at.replace(tzinfo=None).isoformat()}])
    config = stand_config(tmp_path, site, discord.add_webhook(), interval=3600, reminders=[1])
    d = DaemonProcess(write_config(tmp_path, config), tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")  # the first run: silent, and the reminders are planned
    d.wait_for(lambda: len(discord.embeds()) >= 1, timeout=60, what="the presale reminder")
    arrived = datetime.now(UTC)
    due = presale_at - timedelta(minutes=1)
    assert due <= arrived < due + timedelta(seconds=30), (due, arrived)
    [reminder] = discord.embeds()
    assert reminder["title"].startswith("[곧 티켓 오픈] ")
    assert reminder["description"].startswith("팬클럽 선예매 1분 전입니다")
    assert f"<t:{int(presale_at.timestamp())}:t>" in reminder["description"]
    assert d.terminate()[0] == 0
    assert len(discord.embeds()) == 1  # the general sale (2027) is far off: nothing else
