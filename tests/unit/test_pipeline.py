"""The per-site cycle with a real Store, a test crawler and a Fetcher on httpx.MockTransport."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from loguru import logger

from crawlers.base import Crawl, Crawler, load_json
from ticket_alarm import app
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.settings import HttpSettings, Settings, SiteSettings
from ticket_alarm.core.model import SEOUL, Ticket, clean_text, identity_key
from ticket_alarm.daemon.pipeline import Pipeline
from ticket_alarm.daemon.results import Skipped
from ticket_alarm.delivery.discord.render import render_alert
from ticket_alarm.delivery.notify import Alert
from ticket_alarm.errors import FetchError, SiteLockedError
from ticket_alarm.fetch.http import Fetcher, SiteFetcher
from ticket_alarm.store import LegacyKey, Store
from ticket_alarm.store.sqlite.backend import SqliteStore

SITE = "stand"
PUBLIC = "https://tickets.stand.example"
WEBHOOK_A = "https://discord.com/api/webhooks/111111111111111111/tokenAAAAAAAAAAAAAAAAAAAAAAAA"
WEBHOOK_B = "https://discord.com/api/webhooks/222222222222222222/tokenBBBBBBBBBBBBBBBBBBBBBBBB"
WEBHOOK_C = "https://discord.com/api/webhooks/333333333333333333/tokenCCCCCCCCCCCCCCCCCCCCCCCC"


class StandSite:
    """What the MockTransport serves: a JSON list the test edits, or a status code."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.status = 200
        self.requests = 0

    def add(self, notice_id: str, title: str, **extra: Any) -> None:
        self.items.append({"id": notice_id, "title": title, "open_at": "2027-03-01T20:00:00", **extra})

    def update(self, notice_id: str, **changes: Any) -> None:
        for item in self.items:
            if item["id"] == notice_id:
                item.update(changes)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.status != 200:
            return httpx.Response(self.status, text="go away")
        # ensure_ascii: a lone surrogate travels as "\\ud83c", the way a real site sends it
        body = json.dumps({"items": self.items}).encode()
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})


class StandCrawler(Crawler):
    name = SITE
    display_name = "스탠드 티켓"
    color = 0x123456
    usual_minimum: ClassVar[int] = 1
    pages_seen = 1
    notes: ClassVar[list[str]] = []

    async def crawl(self, fetch: SiteFetcher) -> Crawl:
        crawl = Crawl()
        crawl.notes = list(self.notes)
        try:
            response = await fetch.get(f"{PUBLIC}/api/list")
        except FetchError as exc:
            if exc.status == 423:
                raise SiteLockedError(SITE, str(exc.reason), cooldown=self.settings.lock_cooldown) from exc
            raise
        crawl.pages = self.pages_seen
        crawl.capped = crawl.pages >= self.page_cap
        for item in load_json(SITE, response.content, response.url)["items"]:
            crawl.tickets.append(
                Ticket(
                    site=SITE,
                    id=item["id"],
                    title=clean_text(item["title"]),
                    url=item.get("url", f"{PUBLIC}/notice/{item['id']}"),
                    open_at=datetime.fromisoformat(item["open_at"]).replace(tzinfo=SEOUL)
                    if item.get("open_at")
                    else None,
                    venue=clean_text(item.get("venue", "")),
                    image_url=item.get("image", ""),
                    views=item.get("views"),
                )
            )
        return crawl


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith(("TICKET_ALARM_", "DISCORD_WEBHOOK")):
            monkeypatch.delenv(key)


@pytest.fixture
def logs() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m).rstrip("\n")), format="[{level}] {message}", level="INFO")
    yield lines
    logger.remove(sink)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = SqliteStore.open_file(tmp_path / "store.sqlite3")
    yield s
    await s.close()


@pytest.fixture
def site() -> StandSite:
    return StandSite()


def rendered(row: Any) -> dict[str, Any]:
    """An outbox row's Alert as the Discord notifier renders it at send time."""
    return render_alert(Alert.from_json(row.payload))


class Harness:
    def __init__(self, store: Store, site: StandSite, **settings: Any) -> None:
        self.clock = FakeClock()
        self.store = store
        self.site = site
        site_settings = settings.pop("site_settings", {})
        self.settings = Settings(
            http={"min_request_interval": 0, "retries": 0},
            sites={SITE: site_settings},
            **settings,
        )
        self.fetcher = Fetcher(
            HttpSettings(min_request_interval=0, retries=0),
            cache=store,
            transport=httpx.MockTransport(site.handler),
            clock=self.clock,
        )
        self.crawler = StandCrawler(self.settings.site(SITE))
        self.enqueued = 0
        self.pipeline = Pipeline(
            self.settings,
            store,
            self.fetcher,
            {SITE: self.crawler},
            self.clock,
            router=app.router(self.settings),
            on_enqueue=self._on_enqueue,
        )

    def _on_enqueue(self) -> None:
        self.enqueued += 1

    async def run(self) -> Any:
        result = await self.pipeline.run_site(SITE)
        self.clock.advance(60)
        return result

    async def outbox(self) -> list[tuple[str, str, str]]:
        """(route, kind, embed title) of every outbox row."""
        return [(r.route, r.kind, rendered(r)["title"]) for r in await self.store.outbox_list()]


# --- first run and new notices ---------------------------------------------------------------------------


async def test_first_run_is_silent(store: Store, site: StandSite, logs: list[str]) -> None:
    site.add("1", "공연 1")
    site.add("2", "공연 2")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A)
    result = await h.run()
    assert result.ok and result.first_run and result.new == 2 and result.queued == 0
    assert await h.outbox() == [] and await store.history_count(SITE) == 2 and h.enqueued == 0
    assert (await store.site_state(SITE)).initialized
    assert any(line.startswith("[INFO] 크롤링 완료: stand") and "첫 실행" in line for line in logs)


async def test_notify_on_first_run(store: Store, site: StandSite) -> None:
    site.add("1", "공연 1")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A, notify_on_first_run=True)
    result = await h.run()
    assert not result.first_run and result.queued == 1
    assert await h.outbox() == [("default", "new", "공연 1")] and h.enqueued == 1


async def test_new_notice_goes_to_every_matching_route(store: Store, site: StandSite) -> None:
    site.add("1", "기존 공연")
    routes = [
        {"name": "all", "webhook_url": WEBHOOK_A},
        {"name": "iu", "webhook_url": WEBHOOK_B, "include": ["아이유"]},
        {"name": "elsewhere", "webhook_url": WEBHOOK_C, "sites": ["melon"]},
    ]
    h = Harness(store, site, routes=routes)
    await h.run()
    site.add("2", "아이유 콘서트 〈HEREH〉")
    site.add("3", "뮤지컬 〈레베카〉")
    result = await h.run()
    assert result.new == 2 and result.queued == 3 and not result.first_run
    assert sorted(await h.outbox()) == [
        ("all", "new", "뮤지컬 〈레베카〉"),
        ("all", "new", "아이유 콘서트 〈HEREH〉"),
        ("iu", "new", "아이유 콘서트 〈HEREH〉"),
    ]
    payload = rendered((await store.outbox_list())[0])
    assert payload["url"].startswith(f"{PUBLIC}/notice/") and payload["author"]["name"] == "스탠드 티켓"
    assert payload["color"] == 0x123456
    assert h.enqueued == 1


async def test_dry_run_lane_without_webhooks(store: Store, site: StandSite) -> None:
    h = Harness(store, site, notify_on_first_run=True)
    site.add("1", "공연 1")
    await h.run()
    assert await h.outbox() == [("dry-run", "new", "공연 1")]


async def test_unchanged_notices_queue_nothing(store: Store, site: StandSite) -> None:
    site.add("1", "공연 1")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A, notify_on_first_run=True)
    await h.run()
    for _ in range(3):
        result = await h.run()
        assert result.ok and result.new == 0 and result.changed == 0 and result.queued == 0
    assert len(await h.outbox()) == 1 and await store.history_count() == 1


# --- changes --------------------------------------------------------------------------------------------


async def test_changed_open_time_queues_one_change_row(store: Store, site: StandSite) -> None:
    site.add("1", "공연 1")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A, change_confirm_cycles=0)
    await h.run()
    site.update("1", open_at="2027-03-02T18:00:00")
    result = await h.run()
    assert result.changed == 1 and result.new == 0 and result.queued == 1
    [(route, kind, title)] = await h.outbox()
    assert (route, kind, title) == ("default", "change", "[변경] 공연 1")
    embed = rendered((await store.outbox_list())[0])
    [change] = [f for f in embed["fields"] if f["name"] == "티켓 오픈" and "→" in f["value"]]
    before, after = change["value"].split("\n→ ")
    old_unix = int(datetime(2027, 3, 1, 20, tzinfo=SEOUL).timestamp())
    new_unix = int(datetime(2027, 3, 2, 18, tzinfo=SEOUL).timestamp())
    assert f"<t:{old_unix}:F>" in before and f"<t:{new_unix}:F>" in after
    assert (await h.run()).queued == 0  # announced once


async def test_change_is_held_for_confirmation_by_default(store: Store, site: StandSite) -> None:
    site.add("1", "공연 1")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A)
    assert h.settings.change_confirm_cycles == 1
    await h.run()
    site.update("1", open_at="2027-03-02T18:00:00")
    assert (await h.run()).queued == 0  # seen once: held
    result = await h.run()  # seen again: confirmed
    assert result.changed == 1 and [k for _, k, _ in await h.outbox()] == ["change"]
    assert (await h.run()).queued == 0


async def test_change_reverted_inside_the_hold_is_not_announced(store: Store, site: StandSite) -> None:
    site.add("1", "공연 1")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A)
    await h.run()
    site.update("1", open_at="2027-03-02T18:00:00")
    await h.run()
    site.update("1", open_at="2027-03-01T20:00:00")
    await h.run()
    await h.run()
    assert await h.outbox() == []


async def test_views_and_poster_changes_are_not_announced(store: Store, site: StandSite) -> None:
    site.add("1", "공연 1", views=10, image="https://cdn.stand.example/a.jpg")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A, change_confirm_cycles=0)
    await h.run()
    site.update("1", views=99_999, image="https://cdn.stand.example/b.jpg")
    result = await h.run()
    assert result.changed == 0 and result.queued == 0 and await h.outbox() == []


# --- invalid notices and failures ---------------------------------------------------------------------


async def test_invalid_tickets_are_counted_logged_and_not_queued(
    store: Store, site: StandSite, logs: list[str]
) -> None:
    site.add("1", "좋은 공연")
    site.add("4", "또 좋은 공연")
    site.add("5", "세 번째 공연")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A, notify_on_first_run=True)
    site.add("2", "", url=f"{PUBLIC}/notice/2")  # no title
    site.add("3", "링크가 이상한 공연", url="javascript:alert(1)")
    result = await h.run()
    assert result.ok and result.items == 3 and result.invalid == 2 and result.queued == 3
    assert [row[2] for row in await h.outbox()] == ["좋은 공연", "또 좋은 공연", "세 번째 공연"]
    assert await store.history_count() == 3 and (await store.site_state(SITE)).last_invalid == 2
    warnings = [line for line in logs if line.startswith("[WARNING]") and "invalid notice skipped" in line]
    assert len(warnings) == 2
    assert any("'2'" in w and "no title" in w for w in warnings)
    assert any("'3'" in w and "url is not http(s)" in w for w in warnings)


async def test_most_notices_invalid_is_a_failed_crawl_not_ok(
    store: Store, site: StandSite, logs: list[str]
) -> None:
    site.add("1", "좋은 공연")
    site.add("2", "", url=f"{PUBLIC}/notice/2")
    site.add("3", "", url=f"{PUBLIC}/notice/3")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A, notify_on_first_run=True)
    result = await h.run()
    assert not result.ok and result.error and "2 of 3 notices fail validation" in result.error
    assert (await store.site_state(SITE)).failure_streak == 1 and await store.history_count() == 0
    await h.run()
    assert (await store.site_state(SITE)).failure_streak == 2
    assert any("크롤링 실패" in line for line in logs)


async def test_lone_surrogate_in_a_title_is_recorded_and_queued(store: Store, site: StandSite) -> None:
    """A site cutting a title inside a UTF-16 pair sends "\\ud83c"; the notice must still get through."""
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A, notify_on_first_run=True)
    site.items.append(json.loads('{"id": "1", "title": "아이유 \\ud83c 콘서트", "open_at": null}'))
    result = await h.run()
    assert result.ok and result.queued == 1
    assert await store.seen([Ticket(SITE, "1", "x", PUBLIC).key])  # written to the history
    assert (await h.outbox())[0][2] == "아이유 콘서트"


async def test_crawl_error_is_a_failed_result(store: Store, site: StandSite, logs: list[str]) -> None:
    site.add("1", "공연 1")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A)
    await h.run()
    site.status = 503
    first = await h.run()
    second = await h.run()
    assert not first.ok and not second.ok
    assert first.status == 503 and "HTTP 503" in (first.error or "")
    state = await store.site_state(SITE)
    assert state.failure_streak == 2 and "HTTP 503" in (state.last_error or "") and state.last_failure
    errors = [line for line in logs if line.startswith("[ERROR]")]
    assert len(errors) == 2 and all("크롤링 실패: stand" in e and "HTTP 503" in e for e in errors)
    assert await store.history_count() == 1  # nothing forgotten
    site.status = 200
    recovered = await h.run()
    assert recovered.ok and recovered.new == 0 and recovered.queued == 0  # no re-alert after the outage
    assert (await store.site_state(SITE)).failure_streak == 0 and (
        await store.site_state(SITE)
    ).last_error is None


async def test_parse_error_is_a_failed_result(store: Store, site: StandSite, logs: list[str]) -> None:
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A)
    h.fetcher.client._transport = httpx.MockTransport(
        lambda r: httpx.Response(200, text="<html>Just a moment...</html>")
    )
    result = await h.run()
    assert not result.ok and "a bot challenge page where JSON was expected" in (result.error or "")
    assert result.hint and any("크롤링 실패: stand" in line and "hint:" in line for line in logs)


async def test_a_crawler_bug_is_a_failed_result_not_a_crash(
    store: Store, site: StandSite, logs: list[str]
) -> None:
    site.add("1", "공연 1")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A)
    await h.run()
    site.items[0]["id"] = None  # the crawler above indexes and builds Tickets without guarding
    site.items[0].pop("title")
    result = await h.run()
    assert not result.ok and (result.error or "").startswith("crawler bug: KeyError")
    assert result.hint and "bug in the crawler" in result.hint
    assert any("크롤링 실패: stand crawler bug: KeyError" in line for line in logs)
    assert (await store.site_state(SITE)).failure_streak == 1 and await store.history_count() == 1


async def test_locked_site_is_left_alone_until_the_cooldown_passes(
    store: Store, site: StandSite, logs: list[str]
) -> None:
    site.add("1", "공연 1")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A, site_settings={"lock_cooldown": 600})
    site.status = 423
    started = h.clock.now().timestamp()
    result = await h.pipeline.run_site(SITE)
    assert not result.ok and isinstance(result.failure, SiteLockedError) and result.skipped is None
    state = await store.site_state(SITE)
    assert state.locked_until == started + 600
    assert any(line.startswith("[WARNING] 크롤링 실패: stand") and "10 minutes" in line for line in logs)
    site.status = 200
    requests = site.requests
    h.clock.advance(599)
    skipped = await h.pipeline.run_site(SITE)
    assert skipped.skipped == Skipped(started + 600, state.last_error) and site.requests == requests
    # one line says why the site was left alone and until when (KST), not silence
    line = next(line for line in logs if "크롤링 건너뜀: stand" in line)
    assert "HTTP 423" in line and "KST" in line and "(in 1s)" in line
    h.clock.advance(2)
    resumed = await h.pipeline.run_site(SITE)
    assert resumed.ok and resumed.skipped is None and site.requests == requests + 1
    assert (await store.site_state(SITE)).locked_until is None


async def test_zero_notices_three_cycles_in_a_row_warns(
    store: Store, site: StandSite, logs: list[str]
) -> None:
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A)
    for _ in range(2):
        await h.run()
    assert not any("zero notices" in line for line in logs)
    await h.run()
    warnings = [line for line in logs if "zero notices" in line]
    assert len(warnings) == 1 and warnings[0].startswith("[WARNING] stand: 3 cycles in a row")
    assert "test-crawlers stand" in warnings[0]
    site.add("1", "공연 1")
    await h.run()
    assert (await store.site_state(SITE)).empty_streak == 0


async def test_page_cap_warns(store: Store, site: StandSite, logs: list[str]) -> None:
    site.add("1", "공연 1")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A, site_settings={"page_cap": 3})
    h.crawler.pages_seen = 3
    result = await h.run()
    assert result.ok and result.capped and result.pages == 3
    warnings = [line for line in logs if "page cap" in line]
    assert len(warnings) == 1 and warnings[0].startswith("[WARNING] stand: stopped at the page cap (3 pages)")
    assert "sites.stand.page_cap" in warnings[0]


async def test_history_survives_a_failing_crawl_and_a_restart(tmp_path: Path, site: StandSite) -> None:
    path = tmp_path / "store.sqlite3"
    site.add("1", "공연 1")
    store = SqliteStore.open_file(path)
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A)
    await h.run()
    site.status = 500
    await h.run()
    await store.close()
    store = SqliteStore.open_file(path)
    site.status = 200
    site.add("2", "공연 2")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A)
    result = await h.run()
    assert result.new == 1 and await h.outbox() == [("default", "new", "공연 2")]
    await store.close()


async def test_crawl_only_writes_nothing(store: Store, site: StandSite) -> None:
    site.add("1", "공연 1")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A)
    result, crawl = await h.pipeline.crawl_only(SITE)
    assert result.ok and crawl is not None and result.items == 1 and result.sample[0].title == "공연 1"
    assert await store.history_count() == 0 and await store.site_state(SITE) == type(
        await store.site_state(SITE)
    )(SITE)


def test_site_settings_reach_the_crawler(store: Store, site: StandSite) -> None:
    h = Harness(store, site, site_settings={"page_cap": 7})
    assert h.crawler.page_cap == 7 and isinstance(h.crawler.settings, SiteSettings)


async def test_lone_surrogate_in_an_uncleaned_field_is_an_invalid_ticket(
    store: Store, site: StandSite, logs: list[str]
) -> None:
    """A crawler that forgot clean_text on a field must cost that notice (logged), not the whole cycle."""
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A, notify_on_first_run=True)
    site.add("1", "좋은 공연")
    site.items.append(json.loads('{"id": "2", "title": "공연 2", "image": "https://x.example/\\udf89.jpg"}'))
    result = await h.run()
    assert result.ok and result.items == 1 and result.invalid == 1 and result.queued == 1
    assert any("invalid notice skipped (id '2')" in line and "surrogate" in line for line in logs)


# --- a renumbering storm -----------------------------------------------------------------------------


async def test_renumbering_every_id_is_held_silently_and_a_real_new_notice_still_alerts(
    store: Store, site: StandSite, logs: list[str]
) -> None:
    for n in range(1, 41):
        site.add(str(n), f"공연 {n}")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A, site_settings={"storm_threshold": 30})
    assert (await h.run()).first_run
    for item in site.items:  # a migration: every notice gets a new id, same title and open time
        item["id"] = str(int(item["id"]) + 90000)
    site.add("99999", "진짜 새 공연")
    result = await h.run()
    assert result.ok and result.new == 1 and result.held == 40 and result.queued == 1
    assert any("새 공지 1건" in line and "번호만 바뀐 공지 40건" in line for line in logs)
    assert await h.outbox() == [("default", "new", "진짜 새 공연")]
    assert await store.history_count() == 81  # the renumbered ones are recorded, not lost
    storms = [line for line in logs if line.startswith("[WARNING]") and "40 of 41 new notices" in line]
    assert len(storms) == 1
    assert json.loads(await store.get_meta(f"storm:{SITE}") or "{}")["held"] == 40
    assert (await h.run()).queued == 0  # the next crawl: all known, nothing more


async def test_many_new_notices_that_match_nothing_all_alert(store: Store, site: StandSite) -> None:
    site.add("1", "공연 1")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A, site_settings={"storm_threshold": 5})
    await h.run()
    for n in range(2, 12):  # ten new notices at once, none a known one renumbered
        site.add(str(n), f"새 공연 {n}")
    result = await h.run()
    assert result.held == 0 and result.queued == 10 and await store.get_meta(f"storm:{SITE}") is None


async def test_at_the_threshold_renumbered_notices_are_not_held(store: Store, site: StandSite) -> None:
    for n in range(1, 6):
        site.add(str(n), f"공연 {n}")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A, site_settings={"storm_threshold": 5})
    await h.run()
    for item in site.items:
        item["id"] = "x" + item["id"]
    result = await h.run()  # 5 new ≤ threshold: a storm needs more than the threshold
    assert result.held == 0 and result.queued == 5


async def test_the_same_crawl_note_is_logged_once_per_change(
    store: Store, site: StandSite, logs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The "rows that are not notices left out" note every 5 minutes is noise: said when it changes."""
    site.add("1", "공연 1")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A)
    note = "1 rows that are not notices left out: 16990"
    monkeypatch.setattr(StandCrawler, "notes", [note])
    for _ in range(3):
        assert (await h.run()).ok
    monkeypatch.setattr(StandCrawler, "notes", ["2 rows that are not notices left out: 16990, 16991"])
    await h.run()
    await h.run()
    monkeypatch.setattr(StandCrawler, "notes", [])
    await h.run()
    monkeypatch.setattr(StandCrawler, "notes", [note])
    await h.run()
    said = [line for line in logs if "left out" in line]
    assert said == [
        f"[INFO] stand: {note}",
        "[INFO] stand: 2 rows that are not notices left out: 16990, 16991",
        f"[INFO] stand: {note}",
    ]


async def test_legacy_notices_are_recorded_not_alerted_and_counted(
    store: Store, site: StandSite, logs: list[str]
) -> None:
    """A notice the old script announced (history import) is not 'new': the count says what was held."""
    site.add("1", "기존 공연")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A)
    await h.run()
    await store.import_legacy([LegacyKey(identity_key(SITE, "2"), "record", SITE, "2", "옛 공연")], 1.0)
    site.add("2", "옛 공연")
    site.add("3", "새 공연")
    result = await h.run()
    assert (result.new, result.legacy, result.queued) == (1, 1, 1)
    assert await h.outbox() == [("default", "new", "새 공연")]
    assert await store.history_count(SITE) == 3 and await store.legacy_counts() == (1, 1)  # recorded, and met
    line = [line for line in logs if line.startswith("[INFO] 크롤링 완료: stand")][-1]
    assert "새 공지 1건" in line and "이전 스크립트가 이미 알린 공지 1건" in line, line


async def test_the_crawl_line_ends_with_its_seconds_or_its_notes(
    store: Store, site: StandSite, logs: list[str]
) -> None:
    site.add("1", "공연 1")
    h = Harness(store, site, discord_webhook_url=WEBHOOK_A)
    await h.run()  # the first run: its note
    await h.run()  # nothing to say: the line ends with the seconds
    crawled = [line for line in logs if line.startswith("[INFO] 크롤링 완료: stand")]
    assert len(crawled) == 2, logs
    assert re.search(r"\d초 \(.*\)$", crawled[0]) and "첫 실행" in crawled[0], crawled[0]
    assert re.search(r"\d초$", crawled[1]), crawled[1]  # never a tuple such as "('',)"
