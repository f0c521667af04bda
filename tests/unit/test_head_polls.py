"""Head polls: the newest page in registration order, between the sweeps (issue 12).

The real YES24/Melon/Ticketlink crawlers, the real Fetcher, Pipeline and SQLite store, against a
live loopback stand-in (``tests/support/live_sites.py``) whose lists the tests edit; time is a
``FakeClock`` (spacing, Retry-After, cool-downs and change confirmations), never a sleep.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from loguru import logger

from crawlers.melon import MelonCrawler
from crawlers.ticketlink import TicketlinkCrawler
from crawlers.yes24 import Yes24Crawler
from tests.support.live_sites import LiveSites
from tests.support.server import Response
from ticket_alarm import app
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.settings import Settings
from ticket_alarm.core.model import Ticket
from ticket_alarm.daemon.pipeline import Pipeline
from ticket_alarm.daemon.results import HEAD, SiteResult, Skipped
from ticket_alarm.daemon.scheduler import Daemon
from ticket_alarm.daemon.timers import CONFIRM_DELAY, head_gap
from ticket_alarm.delivery.outbox import Delivery
from ticket_alarm.errors import SiteLockedError
from ticket_alarm.fetch.http import Fetcher
from ticket_alarm.store import Store
from ticket_alarm.store.sqlite.backend import SqliteStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WEBHOOK = "https://discord.com/api/webhooks/111111111111111111/tokenAAAAAAAAAAAAAAAAAAAAAAAA"
CRAWLERS = {"yes24": Yes24Crawler, "melon": MelonCrawler, "ticketlink": TicketlinkCrawler}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith(("TICKET_ALARM_", "DISCORD_WEBHOOK")):
            monkeypatch.delenv(key)


@pytest.fixture
def logs() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(
        lambda m: lines.append(str(m).rstrip("\n")), format="[{level}] {message}", level="DEBUG"
    )
    yield lines
    logger.remove(sink)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def live(clock: FakeClock) -> Iterator[LiveSites]:
    sites = LiveSites(clock=clock.monotonic).start()
    yield sites
    sites.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = SqliteStore.open_file(tmp_path / "store.sqlite3")
    yield s
    await s.close()


class Harness:
    def __init__(
        self, store: Store, live: LiveSites, clock: FakeClock, *, spacing: float = 0.0, **site: Any
    ) -> None:
        self.store, self.live, self.clock = store, live, clock
        self.settings = Settings(
            discord_webhook_url=WEBHOOK,
            http={"min_request_interval": spacing, "retries": 0, "timeout": 5},
            sites={name: {"base_url": live.base_url, **site} for name in CRAWLERS},
        )
        self.fetcher = Fetcher(self.settings.http, cache=store, clock=clock)
        crawlers = {name: cls(self.settings.site(name)) for name, cls in CRAWLERS.items()}
        router = app.router(self.settings)
        self.pipeline = Pipeline(self.settings, store, self.fetcher, crawlers, clock, router=router)  # type: ignore[arg-type]

    async def alerted(self) -> list[tuple[str, str]]:
        """(kind, embed url) of every outbox row."""
        return [(r.kind, r.payload["ticket"]["url"]) for r in await self.store.outbox_list()]


async def test_no_head_poll_alerts_before_the_first_sweep_filled_history(
    store: Store, live: LiveSites, clock: FakeClock
) -> None:
    live.fill("yes24", 30)
    h = Harness(store, live, clock)
    result = await h.pipeline.run_head("yes24")
    assert result.mode == HEAD and result.ok and result.skipped == Skipped(None, None, "first_sweep")
    assert live.count("yes24") == 0 and await h.alerted() == []
    sweep = await h.pipeline.run_site("yes24")
    assert sweep.first_run and sweep.new == 30 and await h.alerted() == []  # silent, as before
    again = await h.pipeline.run_head("yes24")
    assert again.ok and not again.skipped and again.new == 0 and await h.alerted() == []


@pytest.mark.parametrize("site", list(CRAWLERS))
async def test_head_poll_alerts_a_new_notice_once_and_the_sweep_then_changes_nothing(
    store: Store, live: LiveSites, clock: FakeClock, site: str, logs: list[str]
) -> None:
    live.fill(site, 45)  # several pages in open-date order
    h = Harness(store, live, clock)
    await h.pipeline.run_site(site)
    sweep_requests = live.count(site, "sweep")
    new_id = live.post(site, opens_in_days=0)  # opens first: page 1 of the open-date list too
    result = await h.pipeline.run_head(site)
    assert result.ok and result.new == 1 and result.queued == 1 and result.pages == 1
    assert live.count(site, "head") == 1 and live.count(site, "sweep") == sweep_requests
    [(kind, url)] = await h.alerted()
    assert kind == "new" and url.endswith(new_id)
    assert any("새 공지: " + site in line and "head poll" in line for line in logs)
    # the same identity: the next head poll and the next sweep find nothing to announce
    assert (await h.pipeline.run_head(site)).new == 0
    sweep = await h.pipeline.run_site(site)
    assert sweep.ok and sweep.new == 0 and sweep.changed == 0 and sweep.queued == 0
    assert len(await h.alerted()) == 1
    head = await store.head_state(site)
    assert head.last_success == clock.now().timestamp() and head.failure_streak == 0


async def test_a_whole_new_head_page_reads_the_next_page_up_to_the_page_cap(
    store: Store, live: LiveSites, clock: FakeClock
) -> None:
    live.fill("yes24", 30)
    h = Harness(store, live, clock)
    await h.pipeline.run_site("yes24")
    posted = [live.post("yes24") for _ in range(25)]  # more than a page (20) at once
    result = await h.pipeline.run_head("yes24")
    assert result.pages == 2 and result.new == 25 and not result.capped
    assert {url.rsplit("=", 1)[1] for _, url in await h.alerted()} == set(posted)

    capped = Harness(store, live, clock, page_cap=1)
    more = [live.post("yes24") for _ in range(22)]
    result = await capped.pipeline.run_head("yes24")
    assert result.pages == 1 and result.new == 20 and result.capped
    sweep = await capped.pipeline.run_site("yes24")  # the sweep (page_cap 1 here too) …
    full = await h.pipeline.run_site("yes24")  # … and a full one find the other two
    assert sweep.new + full.new == 2
    assert {url.rsplit("=", 1)[1] for _, url in await h.alerted()} == set(posted) | set(more)


async def test_a_renumbering_met_by_a_head_poll_is_held_like_a_sweeps(
    store: Store, live: LiveSites, clock: FakeClock
) -> None:
    live.fill("yes24", 45)
    h = Harness(store, live, clock)
    await h.pipeline.run_site("yes24")
    for notice in live.notices["yes24"]:  # the site renumbers every notice at once
        notice.id += 500_000
    real = live.post("yes24", title="진짜 새 공연 티켓오픈 안내")
    result = await h.pipeline.run_head("yes24")
    assert result.ok and result.pages == 3 and result.held == 45 and result.new == 1
    assert [url.rsplit("=", 1)[1] for _, url in await h.alerted()] == [real]
    assert await store.history_count("yes24") == 91  # the renumbered ids are recorded, silently
    sweep = await h.pipeline.run_site("yes24")
    assert sweep.new == 0 and sweep.queued == 0


async def test_a_head_poll_holds_a_change_but_never_decides_a_removal(
    store: Store, live: LiveSites, clock: FakeClock, logs: list[str]
) -> None:
    ids = live.fill("ticketlink", 20)
    h = Harness(store, live, clock)
    await h.pipeline.run_site("ticketlink")
    newest = ids[-1]
    before = await store.seen([_key(store, "ticketlink", newest)])
    live.change("ticketlink", newest, title="제목이 바뀐 공연 티켓오픈 안내")
    live.notices["ticketlink"] = [n for n in live.notices["ticketlink"] if str(n.id) != ids[-2]]  # removed
    result = await h.pipeline.run_head("ticketlink")
    assert result.ok and result.new == 0 and result.queued == 0 and result.known_changed == 1
    assert result.awaiting == list(before) and result.changed == 0
    after = (await store.seen(before))[next(iter(before))]
    assert after.digest == next(iter(before.values())).digest  # history keeps the confirmed content
    assert after.pending_digest is not None and after.pending_cycles == 1  # held: 변경 확인 대기
    assert any("awaiting confirmation" in line and newest in line for line in logs)
    assert (
        await h.alerted() == [] and await store.history_count("ticketlink") == 20
    )  # a removal: sweeps decide


A, B, C = 0, 7, 14  # the notice's open date: as first seen, moved a week, moved two weeks


@pytest.mark.parametrize(
    ("reads", "confirm_cycles", "alerts"),
    [
        # (run, the open date it reads), …: how many [변경] alerts, by the sweep/head-poll rule
        ([("head", B), ("head", B)], 1, 1),  # held by a head poll, confirmed by the next one
        ([("sweep", B), ("head", B)], 1, 1),  # held by a sweep, confirmed by a head poll's re-read
        ([("head", B), ("sweep", B)], 1, 1),  # held by a head poll, confirmed by a sweep
        ([("sweep", B), ("sweep", B)], 1, 1),  # the re-read sweep (or the next one)
        ([("head", B)], 1, 0),  # seen once: waits
        ([("head", B), ("head", A)], 1, 0),  # A→B→A by re-read: nothing
        ([("sweep", B), ("head", A)], 1, 0),
        ([("head", B), ("sweep", A)], 1, 0),
        ([("head", B), ("head", A), ("head", A)], 1, 0),  # and it stays quiet
        ([("head", B), ("head", C)], 1, 0),  # a second move restarts the hold
        ([("head", B), ("head", C), ("head", C)], 1, 1),
        ([("head", B)], 0, 1),  # change_confirm_cycles 0: at once, by the head poll
        ([("head", B), ("head", B)], 2, 0),
        ([("head", B), ("head", B), ("sweep", B)], 2, 1),
        ([("head", B), ("head", B), ("head", B), ("head", B)], 1, 1),  # once, never again
    ],
)
async def test_a_held_change_is_confirmed_or_cleared_by_the_next_read_of_its_page(
    store: Store,
    live: LiveSites,
    clock: FakeClock,
    reads: list[tuple[str, int]],
    confirm_cycles: int,
    alerts: int,
) -> None:
    ids = live.fill("ticketlink", 20)
    h = Harness(store, live, clock)
    h.pipeline.settings = h.settings.model_copy(update={"change_confirm_cycles": confirm_cycles})
    await h.pipeline.run_site("ticketlink")
    newest = ids[-1]  # on the head page and on the open-date list
    first = next(n for n in live.notices["ticketlink"] if str(n.id) == newest).open_at
    for run, days in reads:
        live.change("ticketlink", newest, open_at=first + timedelta(days=days))
        clock.advance(30)
        result = await (h.pipeline.run_head if run == "head" else h.pipeline.run_site)("ticketlink")
        assert result.ok
    changes = [url for kind, url in await h.alerted() if kind == "change"]
    assert len(changes) == alerts and all(url.endswith(newest) for url in changes)
    assert [kind for kind, _ in await h.alerted()] == ["change"] * alerts  # nothing else was sent
    row = (await store.seen([_key(store, "ticketlink", newest)]))[_key(store, "ticketlink", newest)]
    if alerts:  # the confirmed value is history now (its reminders follow it)
        confirmed = Ticket.from_json(row.ticket).open_at
        assert confirmed is not None
        assert confirmed.replace(tzinfo=None) == first + timedelta(days=reads[-1][1])
    else:
        assert row.ticket["open_at"] == (await store.seen([row.key]))[row.key].ticket["open_at"]


async def test_melon_423_on_a_head_poll_stops_sweeps_and_head_polls_for_the_cooldown(
    store: Store, live: LiveSites, clock: FakeClock, logs: list[str]
) -> None:
    live.fill("melon", 15)
    h = Harness(store, live, clock, lock_cooldown=3600)
    await h.pipeline.run_site("melon")
    live.answer_once("melon", "head", Response(423, b"Locked"))
    result = await h.pipeline.run_head("melon")
    assert not result.ok and isinstance(result.failure, SiteLockedError) and "423" in (result.error or "")
    requests = live.count("melon")
    clock.advance(1800)
    assert (await h.pipeline.run_site("melon")).skipped is not None
    assert (await h.pipeline.run_head("melon")).skipped is not None
    assert live.count("melon") == requests  # nothing asked of Melon during the cool-down
    clock.advance(1801)
    live.post("melon")
    assert (await h.pipeline.run_head("melon")).new == 1


async def test_a_423_met_by_a_head_poll_during_a_sweep_outlives_that_sweep(
    store: Store, live: LiveSites, clock: FakeClock
) -> None:
    live.fill("melon", 60)  # six pages
    h = Harness(store, live, clock, lock_cooldown=3600)
    await h.pipeline.run_site("melon")
    live.answer_once("melon", "head", Response(423, b"Locked"))
    sweep = asyncio.create_task(h.pipeline.run_site("melon"))
    for _ in range(1000):  # bounded: real loopback HTTP, fake time
        if live.count("melon", "sweep") >= 9:  # the second sweep is under way
            break
        await asyncio.sleep(0.002)
    assert isinstance((await h.pipeline.run_head("melon")).failure, SiteLockedError)
    swept = await sweep
    assert swept.ok and live.count("melon", "sweep") == 14  # its other pages were answered
    locked = (await store.site_state("melon")).locked_until
    assert locked is not None and locked > clock.now().timestamp()
    assert (await h.pipeline.run_site("melon")).skipped is not None


async def test_melon_423_on_a_sweep_stops_the_head_polls_too(
    store: Store, live: LiveSites, clock: FakeClock
) -> None:
    live.fill("melon", 15)
    h = Harness(store, live, clock, lock_cooldown=600)
    await h.pipeline.run_site("melon")
    live.answer_once("melon", "sweep", Response(423, b"Locked"))
    assert isinstance((await h.pipeline.run_site("melon")).failure, SiteLockedError)
    asked = live.count("melon")
    skipped = await h.pipeline.run_head("melon")
    assert skipped.ok and skipped.skipped is not None and skipped.skipped.reason == "locked"
    assert live.count("melon") == asked
    clock.advance(601)
    assert (await h.pipeline.run_head("melon")).skipped is None and live.count("melon") == asked + 1


async def test_retry_after_pauses_head_polls_and_conditional_get_applies(
    store: Store, live: LiveSites, clock: FakeClock, logs: list[str]
) -> None:
    live.fill("ticketlink", 20)
    h = Harness(store, live, clock)
    await h.pipeline.run_site("ticketlink")
    first = await h.pipeline.run_head("ticketlink")
    assert first.ok and live.requests[-1].status == 200
    second = await h.pipeline.run_head("ticketlink")  # unchanged list: If-None-Match → 304, replayed
    assert second.ok and second.items == first.items and live.requests[-1].status == 304
    live.answer_once("ticketlink", "head", Response(429, b"slow down", {"Retry-After": "600"}))
    paused = await h.pipeline.run_head("ticketlink")
    assert (
        not paused.ok and (await store.head_state("ticketlink")).paused_until == clock.now().timestamp() + 600
    )
    asked = live.count("ticketlink", "head")
    clock.advance(300)
    assert (await h.pipeline.run_head("ticketlink")).skipped == Skipped(
        clock.now().timestamp() + 300, None, "retry_after"
    )
    assert live.count("ticketlink", "head") == asked
    clock.advance(301)
    live.post("ticketlink")
    back = await h.pipeline.run_head("ticketlink")
    assert back.ok and back.new == 1 and (await store.head_state("ticketlink")).paused_until is None


async def test_failing_head_polls_warn_once_then_quietly_and_are_counted(
    store: Store, live: LiveSites, clock: FakeClock, logs: list[str]
) -> None:
    live.fill("yes24", 5)
    h = Harness(store, live, clock)
    await h.pipeline.run_site("yes24")
    live.answer_once("yes24", "head", *[Response(500, b"oops")] * 3)
    for _ in range(3):
        assert not (await h.pipeline.run_head("yes24")).ok
    assert sum("[WARNING] yes24: head poll failed" in line for line in logs) == 1
    assert (await store.head_state("yes24")).failure_streak == 3
    assert (await store.site_state("yes24")).failure_streak == 0  # the sweeps' record is their own
    assert (await h.pipeline.run_head("yes24")).ok
    assert any("head polls work again after 3 failure(s)" in line for line in logs)


async def test_a_head_poll_due_during_a_sweep_goes_between_two_of_its_pages(
    store: Store, live: LiveSites, clock: FakeClock
) -> None:
    live.fill("yes24", 200)  # ten pages
    h = Harness(store, live, clock, spacing=2.0)
    sent = Recording(clock)  # the order requests leave the fetch layer's gate (fake time: no real wait)
    h.fetcher = Fetcher(h.settings.http, cache=store, clock=clock, transport=sent)
    h.pipeline.fetcher = h.fetcher
    await h.pipeline.run_site("yes24")
    live.post("yes24")
    sent.orders.clear()
    sent.at.clear()
    # The sweep's third page is held in flight until the head poll's request has left the gate: the
    # order no longer depends on how fast this machine runs the sweep between two of its pages. A
    # head poll queued behind the whole sweep would never get there (the bounded wait fails).
    sent.hold_sweep_at = 3
    sweep = asyncio.create_task(h.pipeline.run_site("yes24"))
    try:
        await asyncio.wait_for(sent.held.wait(), timeout=60)  # bounded: real loopback HTTP, fake time
        head_poll = asyncio.create_task(h.pipeline.run_head("yes24"))
        await asyncio.wait_for(sent.head_sent.wait(), timeout=60)
    finally:
        sent.release.set()
    head = await head_poll
    await sweep
    assert head.new == 1 and sent.orders.count("sweep") == 12  # 201 notices: 11 pages and the empty one
    assert sent.orders.index("head") == 3  # right after the page in flight, before the sweep's next
    assert all(b - a >= 2.0 - 1e-6 for a, b in zip(sent.at, sent.at[1:], strict=False))  # spacing shared


class Recording(httpx.AsyncBaseTransport):
    def __init__(self, clock: FakeClock) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.clock = clock
        self.orders: list[str] = []
        self.at: list[float] = []
        self.hold_sweep_at: int | None = None  # hold that sweep request (1-based) until `release`
        self.release = asyncio.Event()
        self.head_sent = asyncio.Event()
        self.held = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        kind = "head" if b"order=1" in request.content else "sweep"
        self.orders.append(kind)
        self.at.append(self.clock.monotonic())
        if kind == "head":
            self.head_sent.set()
        elif self.orders.count("sweep") == self.hold_sweep_at:
            self.held.set()
            await self.release.wait()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_melon_reads_the_notice_page_of_a_new_head_row_only(store: Store, clock: FakeClock) -> None:
    """A new row with several open dates (``오픈일정 보기``) is read whole before its alert; known ones
    are not re-read every poll."""
    page = (FIXTURES / "melon" / "listTicketOpen_pageIndex1.html").read_bytes()
    detail = (FIXTURES / "melon" / "detail_csoonId11376.html").read_bytes()
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path + "?" + request.url.query.decode())
        if request.url.path.endswith("detail.htm"):
            return httpx.Response(200, content=detail)
        return httpx.Response(200, content=page)

    settings = Settings(discord_webhook_url=WEBHOOK, http={"min_request_interval": 0, "retries": 0})
    fetcher = Fetcher(settings.http, transport=httpx.MockTransport(handler), clock=clock)
    crawler = MelonCrawler(settings.site("melon"))
    listed = [t async for t in _first(crawler.head_pages(fetcher.for_site("melon")))]
    row = next(t for t in listed if t.id == "11376")
    assert row.incomplete and row.open_at is None
    assert all("orderType=0" in a for a in asked)
    whole = await crawler.complete(fetcher.for_site("melon"), row)
    assert whole.open_at is not None and whole.incomplete is None
    expected = json.loads((FIXTURES / "melon" / "expected.json").read_text(encoding="utf-8"))
    item = next(i for i in expected["items"] if i["id"] == "11376")
    assert whole.open_at.isoformat().startswith(item["open_at"][:16])

    pipeline = Pipeline(settings, store, fetcher, {"melon": crawler}, clock, router=app.router(settings))
    state = await store.site_state("melon")
    state.initialized = True
    await store.save_site_state(state)
    asked.clear()
    result = await pipeline.run_head("melon")
    assert result.new == len(listed) and sum("detail.htm" in a for a in asked) == sum(
        1 for t in listed if t.incomplete
    )
    asked.clear()
    assert (await pipeline.run_head("melon")).new == 0
    assert not any("detail.htm" in a for a in asked)  # known rows: no notice page read


async def _first(pages: Any) -> Any:
    async for tickets in pages:
        for ticket in tickets:
            yield ticket
        break
    await pages.aclose()


def test_head_interval_config_defaults_and_per_site_switches() -> None:
    settings = Settings(
        sites={
            "melon": {"head_interval": 10},
            "yes24": {"head_interval": None},  # as config.example.json writes it: the top-level value
            "ticketlink": {"head_interval": 0},
            "interpark": {"head_interval": False},
        }
    )
    assert settings.interval == 600 and settings.head_interval == 30
    assert settings.site_head_interval("nol") == 30
    assert settings.site_head_interval("melon") == 10
    assert settings.site_head_interval("yes24") == 30
    assert (
        settings.site_head_interval("ticketlink") is None and settings.site_head_interval("interpark") is None
    )
    off = Settings(head_interval=None, sites={"melon": {"head_interval": 5}})
    assert off.site_head_interval("yes24") is None and off.site_head_interval("melon") == 5
    assert Settings(head_interval=0).site_head_interval("yes24") is None


def _key(store: Store, site: str, notice_id: str) -> str:
    from ticket_alarm.core.model import identity_key

    return identity_key(site, notice_id)


async def test_a_held_change_gets_a_prompt_re_read_not_the_next_sweep(
    store: Store, live: LiveSites, clock: FakeClock, logs: list[str]
) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    ids = live.fill("ticketlink", 20)
    h = Harness(store, live, clock)
    daemon = Daemon(h.settings, store, h.pipeline, Delivery(store, [], clock), clock, sites=["ticketlink"])
    scheduler = AsyncIOScheduler(timezone="UTC")
    daemon._schedule(scheduler)
    daemon._scheduler = scheduler
    assert {job.id for job in scheduler.get_jobs()} == {"crawl-ticketlink", "head-ticketlink"}
    await daemon.crawl_site("ticketlink")
    oldest = next(n for n in live.notices["ticketlink"] if str(n.id) == ids[0])  # not on the head page
    live.change("ticketlink", ids[0], open_at=oldest.open_at + timedelta(days=7))
    swept = await daemon.crawl_site("ticketlink")  # the sweep holds it
    assert swept is not None and len(swept.awaiting) == 1 and await h.alerted() == []
    job = scheduler.get_job("confirm-ticketlink")
    assert job is not None and job.next_run_time == clock.now() + timedelta(seconds=CONFIRM_DELAY)
    assert any("(1 change(s) awaiting confirmation)" in line and "크롤링 완료" in line for line in logs)
    head = await daemon.head_site("ticketlink")  # the head page does not show it: it still waits
    assert head is not None and head.awaiting == [] and daemon._awaiting["ticketlink"]
    clock.advance(CONFIRM_DELAY)
    reread = await daemon.reread("ticketlink")  # the re-read confirms it
    assert reread is not None and reread.changed == 1 and reread.awaiting == []
    assert [kind for kind, _ in await h.alerted()] == ["change"]
    assert await daemon.reread("ticketlink") is None  # nothing waits: no request
    # a notice whose content never holds: one re-read after a scheduled sweep, then it waits
    for days in (14, 21):
        live.change("ticketlink", ids[0], open_at=oldest.open_at + timedelta(days=days))
        result = await (daemon.crawl_site if days == 14 else daemon.reread)("ticketlink")
        assert result is not None and len(result.awaiting) == 1
    scheduler.remove_job("confirm-ticketlink")
    sweeps = live.count("ticketlink", "sweep")
    live.change("ticketlink", ids[0], open_at=oldest.open_at + timedelta(days=28))
    assert (await daemon.reread("ticketlink")) is not None
    assert scheduler.get_job("confirm-ticketlink") is None  # no third re-read in a row
    assert live.count("ticketlink", "sweep") > sweeps


async def test_a_change_a_head_poll_holds_is_re_read_by_the_next_head_poll(
    store: Store, live: LiveSites, clock: FakeClock, logs: list[str]
) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    ids = live.fill("ticketlink", 20)
    h = Harness(store, live, clock)
    daemon = Daemon(h.settings, store, h.pipeline, Delivery(store, [], clock), clock, sites=["ticketlink"])
    scheduler = AsyncIOScheduler(timezone="UTC")
    daemon._schedule(scheduler)
    daemon._scheduler = scheduler
    await daemon.crawl_site("ticketlink")
    crawl_due = scheduler.get_job("crawl-ticketlink").next_run_time
    live.change("ticketlink", ids[-1], title="제목이 바뀐 공연 티켓오픈 안내")
    held = await daemon.head_site("ticketlink")
    assert held is not None and held.known_changed == 1 and len(held.awaiting) == 1
    assert scheduler.get_job("crawl-ticketlink").next_run_time == crawl_due  # no sweep moved
    fallback = scheduler.get_job("confirm-ticketlink")  # if the notice leaves the head page
    gap = daemon._head_gaps["ticketlink"]  # a two-page list: head polls paced to every 150 s
    assert fallback.next_run_time == clock.now() + timedelta(seconds=gap + int(gap * 0.1) + CONFIRM_DELAY)
    assert any("the next head poll re-reads them" in line for line in logs)
    clock.advance(30)
    confirmed = await daemon.head_site("ticketlink")
    assert confirmed is not None and confirmed.changed == 1 and confirmed.queued == 1
    assert [kind for kind, _ in await h.alerted()] == ["change"]
    sweeps = live.count("ticketlink", "sweep")
    assert await daemon.reread("ticketlink") is None  # the fallback finds nothing waiting
    assert live.count("ticketlink", "sweep") == sweeps
    assert any(
        line.endswith("changes: ticketlink 1 confirmed (re-read by a head poll, 0.0 s)") for line in logs
    )


def test_no_head_job_for_a_site_whose_head_polls_are_off(store: Store, clock: FakeClock) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    settings = Settings(sites={"yes24": {"head_interval": 0}})
    daemon = Daemon(settings, store, None, Delivery(store, [], clock), clock, sites=["yes24", "melon"])  # type: ignore[arg-type]
    scheduler = AsyncIOScheduler(timezone="UTC")
    daemon._schedule(scheduler)
    assert {job.id for job in scheduler.get_jobs()} == {"crawl-yes24", "crawl-melon", "head-melon"}


async def test_health_and_metrics_tell_head_polls_from_sweeps(tmp_path: Path, clock: FakeClock) -> None:
    from crawlers import registry
    from ticket_alarm.ops import health
    from ticket_alarm.ops.metrics import Metrics
    from ticket_alarm.store import HeadState, SiteState

    store = SqliteStore.open_dir(tmp_path / "data")
    now = clock.now().timestamp()
    try:
        await store.set_meta("heartbeat", f"{now - 5:.3f}")
        for site in ("yes24", "melon", "interpark"):
            await store.save_site_state(
                SiteState(site, initialized=True, last_attempt=now - 200, last_success=now - 200)
            )
        await store.save_head_state(
            HeadState("yes24", last_attempt=now - 10, last_success=now - 10, last_new=2)
        )
        await store.save_head_state(
            HeadState("melon", last_attempt=now - 5, failure_streak=3, last_error="HTTP 500")
        )
        await store.save_head_state(HeadState("interpark", sweeps_only="no registration order: swept only"))
        settings = Settings(
            data_dir=str(tmp_path / "data"),
            sites={"ticketlink": {"enabled": False}},
            discord_webhook_url="http://127.0.0.1:9/api/webhooks/123456789012345678/tokenTOKENtoken",
        )

        async def probe(url: str) -> int | None:
            return 200

        class Machine:
            def cpu_percent(self) -> float:
                return 1.0

            def memory_percent(self) -> float:
                return 1.0

            def disk_usage(self, path: Path) -> tuple[float, int]:
                return (1.0, 10 * 1024**3)

            def process_rss_mb(self, pid: int) -> float | None:
                return 40.0

        known = registry.discover(include_plugins=False)
        opener = app.store_opener(settings, readonly=True)
        report = await health.collect(
            settings, known, open_store=opener, clock=clock, system=Machine(), probe=probe
        )
        checks = {c.name: c for c in report.checks}
        assert checks["site:yes24"].status == "OK"
        assert checks["site:yes24"].detail == "last sweep 3m ago, last head poll 10s ago, 2 new"
        assert checks["site:melon"].status == "WARNING"
        assert "3 failed head polls in a row (last error: HTTP 500)" in checks["site:melon"].detail
        assert "head polls: none (no registration order: swept only)" in checks["site:interpark"].detail

        metrics = Metrics(store, Delivery(store, [], clock), None, sites=["yes24", "melon"], clock=clock)
        metrics.on_result(SiteResult("yes24", ok=True, mode=HEAD, new=2))
        metrics.on_result(SiteResult("melon", ok=False, mode=HEAD, error="HTTP 500"))
        metrics.on_result(SiteResult("yes24", ok=True, mode=HEAD, skipped=Skipped(None, None, "first_sweep")))
        metrics.on_result(SiteResult("yes24", ok=True, items=40, new=1))  # a sweep
        text = (await metrics.render()).decode()
        assert 'ticket_alarm_head_polls_total{site="yes24"} 1.0' in text
        assert 'ticket_alarm_head_poll_failures_total{site="melon"} 1.0' in text
        assert 'ticket_alarm_head_notices_new_total{site="yes24"} 2.0' in text
        assert 'ticket_alarm_crawls_total{site="yes24"} 1.0' in text  # sweeps counted apart
        assert 'ticket_alarm_last_head_poll_timestamp_seconds{site="yes24"}' in text
        assert 'ticket_alarm_last_head_poll_timestamp_seconds{site="melon"}' not in text  # never succeeded
        assert 'ticket_alarm_head_poll_failure_streak{site="melon"} 3.0' in text
    finally:
        await store.close()


def test_head_gap_keeps_sweeps_and_head_polls_within_one_and_a_half_times_the_old_requests() -> None:
    assert head_gap(30, 600, 10) == 30  # about ten pages: the configured 30 s
    assert head_gap(30, 600, 7) == pytest.approx(43, abs=0.3)  # seven pages: every 43 s
    assert head_gap(30, 300, 10) == pytest.approx(60, abs=0.1)  # sweeps every 300 s: half the budget
    assert head_gap(30, 100, 10) == 100  # sweeps alone use the budget: one head poll per sweep
    assert head_gap(30, 600, 0) == 30  # no sweep measured yet

    def mean(seconds: float) -> float:  # the triggers' mean cadence: up to 10 % jitter, whole seconds
        return seconds + int(seconds * 0.1) / 2

    for pages in range(1, 60):
        per_hour = 3600 / mean(600) * pages + 3600 / mean(head_gap(30, 600, pages))
        assert per_hour <= 1.5 * 3600 / mean(300) * pages + 1e-9, pages


async def test_a_short_list_stretches_the_head_job_after_its_sweep(
    store: Store, live: LiveSites, clock: FakeClock, logs: list[str]
) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    live.fill("ticketlink", 100)  # seven pages of 15
    h = Harness(store, live, clock)
    daemon = Daemon(h.settings, store, h.pipeline, Delivery(store, [], clock), clock, sites=["ticketlink"])
    scheduler = AsyncIOScheduler(timezone="UTC")
    daemon._schedule(scheduler)
    daemon._scheduler = scheduler
    assert scheduler.get_job("head-ticketlink").trigger.interval == timedelta(seconds=30)
    result = await daemon.crawl_site("ticketlink")
    assert result is not None and result.requests == 7
    assert scheduler.get_job("head-ticketlink").trigger.interval.total_seconds() == pytest.approx(43, abs=0.3)
    assert any("ticketlink: head polls every 43 s, not 30: a sweep takes 7 requests" in line for line in logs)
    live.fill("ticketlink", 60)  # ten pages and more: back to the configured interval
    await daemon.crawl_site("ticketlink")
    assert scheduler.get_job("head-ticketlink").trigger.interval == timedelta(seconds=30)

    chosen = Harness(store, live, clock, head_interval=10)  # the operator's own value: not paced
    daemon = Daemon(
        chosen.settings, store, chosen.pipeline, Delivery(store, [], clock), clock, sites=["ticketlink"]
    )
    scheduler = AsyncIOScheduler(timezone="UTC")
    daemon._schedule(scheduler)
    daemon._scheduler = scheduler
    daemon.pace_head_polls("ticketlink", 3)
    assert scheduler.get_job("head-ticketlink").trigger.interval == timedelta(seconds=10)


async def test_a_site_without_registration_order_is_never_paced(store: Store, clock: FakeClock) -> None:
    from crawlers.interpark.site import InterparkCrawler

    settings = Settings()
    fetcher = Fetcher(settings.http, clock=clock)
    crawlers = {
        "interpark": InterparkCrawler(settings.site("interpark")),
        "yes24": Yes24Crawler(settings.site("yes24")),
    }
    router = app.router(settings)
    pipeline = Pipeline(settings, store, fetcher, crawlers, clock, router=router)  # type: ignore[arg-type]
    daemon = Daemon(settings, store, pipeline, Delivery(store, [], clock), clock, sites=list(crawlers))
    assert not daemon._has_head("interpark") and daemon._has_head("yes24")
    await fetcher.aclose()


async def test_shutdown_lets_a_scheduled_run_finish_instead_of_the_executor_cancelling_it(
    store: Store, clock: FakeClock, live: LiveSites
) -> None:
    """APScheduler's executor cancels the runs left at its shutdown and logs each as the job's ERROR
    (``CancelledError``): the daemon lets a run finish what follows its crawl first."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.triggers.interval import IntervalTrigger

    from ticket_alarm.daemon.scheduler import _add_job

    h = Harness(store, live, clock)
    daemon = Daemon(h.settings, store, h.pipeline, Delivery(store, [], clock), clock, sites=["ticketlink"])
    scheduler = AsyncIOScheduler(timezone="UTC")
    started, release, finished = asyncio.Event(), asyncio.Event(), []

    async def body(name: str) -> None:  # a sweep whose heartbeat is still being written at shutdown
        started.set()
        await release.wait()
        finished.append(name)

    first = datetime.now(UTC)
    _add_job(scheduler, daemon._job, body, IntervalTrigger(hours=1), "ticketlink", "crawl", 3600, first)
    scheduler.start()
    await asyncio.wait_for(started.wait(), timeout=30)
    scheduler.pause()
    finishing = asyncio.create_task(daemon.finish_jobs())
    await asyncio.sleep(0)
    assert not finishing.done()  # it waits for the run
    release.set()
    await finishing
    scheduler.shutdown(wait=False)
    assert finished == ["ticketlink"] and not daemon._jobs
