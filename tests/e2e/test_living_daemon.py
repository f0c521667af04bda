"""The living alert through the real daemon: a change edits the posted message in place (issue 23)."""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DaemonProcess, run_cli, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.processes import PLUGIN_DIR, ROOT, child_env
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.core.model import Ticket
from ticket_alarm.store import open_store

pytestmark = pytest.mark.e2e


def _confirmed_changes(tmp_path: Path, key: str, n: int) -> bool:
    """Whether the daemon has recorded ``n`` confirmed changes of notice ``key`` (its digest log):
    whatever the drainer has made of their alerts meanwhile (coalescing settles the older ones)."""
    store = open_store(tmp_path / "data", readonly=True)
    try:
        return sum(e.event == "confirmed" for e in asyncio.run(store.notice_events(key))) == n
    finally:
        asyncio.run(store.close())


def _started(tmp_path: Path, site: FakeSite, daemons: list[DaemonProcess], **config: Any) -> DaemonProcess:
    """The daemon on the stand-in site (changes alerted at once), after its first, silent crawl."""
    path = write_config(tmp_path, stand_config(tmp_path, site, config.pop("webhook", None), **config))
    d = DaemonProcess(path, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    return d


def test_a_change_edits_the_original_and_three_quick_ones_are_one_edit(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    notices.add(1, prefix="기존")
    d = _started(tmp_path, site, daemons, webhook=discord.add_webhook(), change_confirm_cycles=0)
    (notice,) = notices.add(1, prefix="신규")
    d.wait_for(lambda: len(discord.messages) == 1, what="the new notice posted")
    original = discord.messages[0].message_id
    notices.update(notice, open_at="2027-12-01T21:00:00")
    d.wait_for(lambda: len(discord.messages) == 2, what="the short change message")
    assert [m for m, _ in discord.patches()] == [original]  # the original edited, before the short post
    assert "~~<t:1827658800:F>" in discord.shown(original)["embeds"][0]["description"]  # 20:00 struck
    assert discord.messages[1].payload["embeds"][0]["title"].startswith("[변경]")

    # three changes while Discord answers 503: when it is back, one PATCH of the newest state
    discord.fail(503, count=-1)
    key = Ticket("teststand", notice, "", "").key
    for n, hour in enumerate((22, 23, 19), start=2):  # the first confirmed change was 21:00
        notices.update(notice, open_at=f"2027-12-01T{hour}:00:00")
        d.wait_for(functools.partial(_confirmed_changes, tmp_path, key, n), what=f"change {n} recorded")
    discord.clear_faults()
    d.wait_for(lambda: len(discord.messages) == 3, timeout=90, what="the second short change message")
    assert [m for m, _ in discord.patches()] == [original] * 2
    newest = discord.shown(original)["embeds"][0]
    assert "<t:1827655200:F>" in newest["fields"][0]["value"]  # 19:00, the newest state
    assert len(discord.messages) == 3  # nothing posted twice
    assert d.terminate()[0] == 0
    listed = json.loads(run_cli("outbox", "--json", "list", "--config", str(tmp_path / "config.json")).stdout)
    assert [r["edit_of"] for r in listed if r["kind"] == "change"] == [
        original
    ] * 4  # outbox list shows edits
    assert [r["edit_of"] for r in listed if r["kind"] == "new"] == [None]
    text = run_cli("outbox", "list", "--config", str(tmp_path / "config.json")).stdout
    assert sum(" edit " in line for line in text.splitlines()) == 4


def test_a_forum_route_gets_one_thread_per_notice_with_its_updates_inside(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    forum_id = "423456789012345678"
    forum = discord.add_webhook(forum_id)
    discord.make_forum(forum_id)
    routes = [{"name": "forum", "webhook_url": forum, "forum": True}]
    d = _started(tmp_path, site, daemons, change_confirm_cycles=0, routes=routes)
    first, _ = notices.add(2, prefix="신규")
    d.wait_for(lambda: len(discord.threads) == 2, what="a thread per notice")
    notices.update(first, open_at="2027-12-01T21:00:00")
    d.wait_for(lambda: len(discord.messages) == 3, what="the change message")
    starter = next(m for m in discord.messages if m.payload["embeds"][0]["url"].endswith(f"/{first}"))
    assert [m for m, _ in discord.patches()] == [starter.message_id]  # the starter message edited
    assert discord.messages[2].thread_id == starter.message_id  # the change inside its thread
    assert len(discord.threads) == 2 and discord.rejections == []
    assert d.terminate()[0] == 0


def test_kill_9_between_an_accepted_edit_and_its_record_applies_the_same_state_again(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    d = _started(tmp_path, site, daemons, webhook=discord.add_webhook(), change_confirm_cycles=0)
    (notice,) = notices.add(1, prefix="신규")
    d.wait_for(lambda: len(discord.messages) == 1, what="the new notice posted")
    discord.delay = 30.0  # Discord applies what it accepts but answers late: the daemon cannot record it
    notices.update(notice, open_at="2027-12-01T21:00:00")
    d.wait_for(lambda: len(discord.patches()) == 1, what="the edit accepted")
    d.kill9()
    discord.delay = 0.0
    d2 = DaemonProcess(tmp_path / "config.json", tmp_path, "daemon2")
    daemons.append(d2)
    d2.wait_for(lambda: len(discord.messages) == 2, timeout=60, what="the short change message")
    first, again = (p for _, p in discord.patches())
    assert first["embeds"] == again["embeds"]  # the same state applied again
    d2.wait_log("크롤링 완료: teststand", count=3)
    assert len(discord.messages) == 2  # the original and one short change message: never posted twice
    assert d2.terminate()[0] == 0


@pytest.fixture
def second() -> Iterator[tuple[FakeSite, TestStandNotices]]:
    """A second stand-in vendor (``secondstand``, in tests/plugin_vendor) and its notice list."""
    listed = TestStandNotices()
    fake = FakeSite()
    fake.routes["/api/notices"] = listed.route
    fake.start()
    yield fake, listed
    fake.stop()


def test_a_later_vendors_notice_edits_not_posts_and_rounds_and_regions_stay_apart(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    second: tuple[FakeSite, TestStandNotices],
    daemons: list[DaemonProcess],
) -> None:
    """Two routes: a channel (the show's one message, edited) and a forum (one thread per show)."""
    other, listed = second
    notices.add(1, prefix="기존")
    listed.add(1, prefix="예전")
    forum_id = "523456789012345678"
    forum = discord.add_webhook(forum_id)
    discord.make_forum(forum_id)
    routes = [{"name": "forum", "webhook_url": forum, "forum": True}]
    config = stand_config(tmp_path, site, discord.add_webhook(), change_confirm_cycles=0, routes=routes)
    config["sites"]["secondstand"] = {"base_url": other.base_url}
    vendor = os.pathsep.join([str(ROOT / "tests" / "plugin_vendor"), str(PLUGIN_DIR), str(ROOT)])
    d = DaemonProcess(write_config(tmp_path, config), tmp_path, env=child_env(PYTHONPATH=vendor))
    daemons.append(d)
    d.wait_log("크롤링 완료: secondstand")
    d.wait_log("크롤링 완료: teststand")
    notices.add(1, title="뮤지컬 〈팬레터〉 티켓오픈 안내")

    def posted(where: str) -> list[Any]:
        return [m for m in discord.messages if (m.webhook_id == forum_id) == (where == "forum")]

    d.wait_for(lambda: len(posted("main")) == len(posted("forum")) == 1, what="the first vendor posted")
    original, starter = posted("main")[0].message_id, posted("forum")[0].message_id
    listed.add(1, title="[단독판매] 뮤지컬 팬레터 티켓 오픈 안내", open_at="2027-12-01T21:00:00")
    listed.add(1, title="뮤지컬 팬레터 2차 티켓오픈 안내")
    listed.add(1, title="[부산] 뮤지컬 〈팬레터〉 티켓오픈 안내")

    def titles(where: str) -> list[str]:
        return [e["title"] for m in posted(where) for e in m.payload["embeds"]]

    def done() -> bool:
        return len(titles("main")) == 3 and len(titles("forum")) == 4 and len(discord.patches()) == 2

    d.wait_for(done, what="one edit and two posts in each route")
    patches = dict(discord.patches())
    assert set(patches) == {original, starter}  # the later vendor joined the show's message in both
    for patch in patches.values():
        assert [e["author"]["name"] for e in patch["embeds"]] == ["테스트 티켓", "둘째 티켓"]
    apart = ["[부산] 뮤지컬 〈팬레터〉 티켓오픈 안내", "뮤지컬 팬레터 2차 티켓오픈 안내"]
    assert sorted(titles("main")[1:]) == apart  # a round and a region are other shows
    reply = next(m for m in posted("forum") if m.payload["embeds"][0]["title"].startswith("[판매처 추가]"))
    assert reply.thread_id == starter  # the forum: one short reply inside the show's thread ...
    assert len(discord.threads) == 3  # ... and a thread per show: 팬레터, 2차, 부산
    d.wait_log("크롤링 완료: secondstand", count=3)
    assert len(titles("main")) == 3 and len(titles("forum")) == 4 and len(discord.patches()) == 2
    assert discord.rejections == []
    assert d.terminate()[0] == 0
