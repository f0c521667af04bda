"""Shows stored (issue 23): the real pipeline links each new notice to the show of another vendor's
notice of the same show, against the real SQLite store; ``show merge``/``show split`` corrections
stay through later crawls. Notices are real ones from the sites' fixtures."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from crawlers.base import Crawler
from tests.unit.test_alerts import ListCrawler
from tests.unit.test_shows import real
from ticket_alarm import app
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.settings import Settings
from ticket_alarm.core.model import Ticket, identity_key
from ticket_alarm.daemon.pipeline import Pipeline
from ticket_alarm.daemon.shows import SHOW_WINDOW, backfill
from ticket_alarm.fetch.http import Fetcher
from ticket_alarm.ops import shows
from ticket_alarm.store import DB_NAME
from ticket_alarm.store.sqlite.backend import SqliteStore

SITES = ("interpark", "ticketlink", "yes24", "melon")


def _crawler(site: str) -> ListCrawler:
    kind = type(f"{site}Crawler", (ListCrawler,), {"name": site})
    crawler: ListCrawler = kind()
    crawler.tickets = []
    return crawler


class Vendors:
    """The pipeline over several sites' test crawlers, on the real SQLite store in ``data_dir``."""

    names: ClassVar[tuple[str, ...]] = SITES

    def __init__(self, data_dir: Path) -> None:
        self.clock = FakeClock(datetime(2027, 11, 1, tzinfo=UTC))
        self.settings = Settings(data_dir=data_dir, notify_on_first_run=True)
        self.store = SqliteStore.open_dir(data_dir)
        self.fetcher = Fetcher(
            self.settings.http, transport=httpx.MockTransport(lambda r: httpx.Response(500))
        )
        self.crawlers = {site: _crawler(site) for site in self.names}
        crawlers: dict[str, Crawler] = dict(self.crawlers)
        router = app.router(self.settings)
        self.pipeline = Pipeline(self.settings, self.store, self.fetcher, crawlers, self.clock, router=router)

    async def crawl(self, site: str, *tickets: Ticket) -> None:
        self.crawlers[site].tickets = list(tickets)
        result = await self.pipeline.run_site(site)
        assert result.ok, result.error
        self.clock.advance(60)

    async def show(self, site: str, notice_id: str) -> list[str]:
        doc = await shows.show_doc(self.store, site, notice_id)
        assert doc is not None
        return [f"{n['site']}:{n['id']}" for n in doc["notices"]]

    async def close(self) -> None:
        await self.fetcher.aclose()
        await self.store.close()


async def seed(v: Vendors) -> None:
    """Interpark first; then Ticketlink with the same 부활 stop and another 옥토넛 city; YES24's 2차."""
    await v.crawl(
        "interpark", real("interpark", "12050"), real("interpark", "12036"), real("interpark", "12055")
    )
    await v.crawl("ticketlink", real("ticketlink", "63666"), real("ticketlink", "63897"))
    await v.crawl("yes24", real("yes24", "17017"))


@pytest.fixture
async def vendors(tmp_path: Path) -> AsyncIterator[Vendors]:
    v = Vendors(tmp_path / "data")
    await seed(v)
    yield v
    await v.close()


async def test_a_later_vendor_joins_the_show_and_markers_stay_apart(vendors: Vendors) -> None:
    assert await vendors.show("ticketlink", "63666") == ["interpark:12050", "ticketlink:63666"]
    assert await vendors.show("interpark", "12050") == ["interpark:12050", "ticketlink:63666"]
    assert await vendors.show("ticketlink", "63897") == ["ticketlink:63897"]  # 수원, not 성남
    assert await vendors.show("yes24", "17017") == ["yes24:17017"]  # 2차
    # identity stays per notice: each has its own history row and its own alert
    for site, notice_id in (("interpark", "12050"), ("ticketlink", "63666")):
        assert [o.kind for o in await vendors.store.notice_outbox(identity_key(site, notice_id))] == ["new"]


async def test_one_site_never_twice_in_a_show(vendors: Vendors) -> None:
    again = real("ticketlink", "63666").with_(id="99999")  # the same show, listed again by Ticketlink
    await vendors.crawl("ticketlink", real("ticketlink", "63666"), real("ticketlink", "63897"), again)
    assert await vendors.show("ticketlink", "99999") == ["ticketlink:99999"]


async def test_explain_says_why(vendors: Vendors) -> None:
    part = await shows.explain_show(vendors.store, identity_key("interpark", "12036"))
    assert part is not None and part["show"] == "interpark:12036"
    [why] = part["why"]
    assert (why["notice"], why["merged"]) == ("yes24:17017", False)
    assert "2차" in why["reason"]
    part = await shows.explain_show(vendors.store, identity_key("ticketlink", "63666"))
    assert part is not None and part["show"] == "interpark:12050"
    assert [(w["notice"], w["merged"]) for w in part["why"]] == [("interpark:12050", True)]


async def test_merge_and_split_survive_later_crawls(vendors: Vendors) -> None:
    key = identity_key
    moved = await shows.merge(vendors.store, key("interpark", "12036"), key("yes24", "17017"), 1.0)
    assert moved == 1
    assert await shows.merge(vendors.store, key("interpark", "12036"), key("yes24", "17017"), 1.0) == 0
    left = await shows.split(vendors.store, key("ticketlink", "63666"), 2.0)
    assert left == "interpark:12050"
    # later crawls (a change of title on YES24, Ticketlink met again) redo neither correction
    changed = real("yes24", "17017").with_(title="뮤지컬 [이터니티] 2차 티켓오픈 안내 (변경)")
    await vendors.crawl("yes24", changed)
    await vendors.crawl("ticketlink", real("ticketlink", "63666"), real("ticketlink", "63897"))
    assert await vendors.show("yes24", "17017") == ["interpark:12036", "yes24:17017"]
    assert await vendors.show("ticketlink", "63666") == ["ticketlink:63666"]
    links = await vendors.store.show_links([key("ticketlink", "63666")])
    assert links[key("ticketlink", "63666")].apart_from == key("interpark", "12050")
    assert await shows.split(vendors.store, key("ticketlink", "63666"), 3.0) == ""  # alone already
    assert await shows.merge(vendors.store, key("melon", "1"), key("yes24", "17017"), 4.0) is None


async def test_splitting_the_first_notice_keeps_the_rest_together(vendors: Vendors) -> None:
    await vendors.crawl("melon", real("melon", "11623"))  # 체리블라썸: no interpark notice seen yet
    await vendors.crawl("interpark", real("interpark", "12504"))
    await vendors.crawl("yes24", real("yes24", "17017"), real("melon", "11623").with_(site="yes24", id="1"))
    assert await vendors.show("interpark", "12504") == ["melon:11623", "interpark:12504", "yes24:1"]
    assert await shows.split(vendors.store, identity_key("melon", "11623"), 5.0) == "interpark:12504"
    assert await vendors.show("yes24", "1") == ["interpark:12504", "yes24:1"]
    assert await vendors.show("melon", "11623") == ["melon:11623"]


async def test_two_vendors_crawled_at_once_still_meet(tmp_path: Path) -> None:
    """A daemon's first sweep reads every site at once: the show's second vendor must still see the first."""
    v = Vendors(tmp_path / "data")
    try:
        await asyncio.gather(
            v.crawl("interpark", real("interpark", "12171")),
            v.crawl("ticketlink", real("ticketlink", "63760")),
        )
        assert len(await v.show("interpark", "12171")) == 2
    finally:
        await v.close()


async def test_notices_recorded_before_shows_are_linked_once_at_start(vendors: Vendors) -> None:
    """An upgrade: the store holds notices but no show links (schema step 8 came later)."""
    db = sqlite3.connect(vendors.settings.data_dir / DB_NAME)
    with db:
        db.execute("DELETE FROM shows")
    db.close()
    now = vendors.clock.now().timestamp()
    assert await backfill(vendors.store, now) == 6
    assert await vendors.show("ticketlink", "63666") == ["interpark:12050", "ticketlink:63666"]
    assert await vendors.show("ticketlink", "63897") == ["ticketlink:63897"]
    assert await vendors.show("yes24", "17017") == ["yes24:17017"]
    assert await backfill(vendors.store, now) == 0  # once
    assert await backfill(vendors.store, now + SHOW_WINDOW + 3600) == 0  # and only recent ones
