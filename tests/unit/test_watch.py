"""The daemon tells health.ops_webhook_url what changed: once when a subject turns bad, once on recovery,
through the outbox's ops lane — on a real SQLite store with a FakeClock, then the real daemon."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import DaemonProcess, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.server import Request, Response
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.settings import Settings
from ticket_alarm.daemon.watch import OPS_META, OpsWatch
from ticket_alarm.store import HeadState, SiteState, Store
from ticket_alarm.store.sqlite.backend import SqliteStore

OPS_ID = "223456789012345678"
FAN = "http://127.0.0.1:9/api/webhooks/123456789012345678/tokenTOKENtoken"
OPS = f"http://127.0.0.1:9/api/webhooks/{OPS_ID}/opsTOKENopsTOKEN"


async def ops_rows(store: Store) -> list[tuple[str, str, str]]:
    return [(r.route, r.notice_key, r.payload["title"]) for r in await store.outbox_list() if r.kind == "ops"]


async def test_a_site_failing_past_the_threshold_is_told_once_and_once_on_recovery(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore.open_dir(tmp_path / "data")
    settings = Settings(
        data_dir=str(tmp_path / "data"),
        discord_webhook_url=FAN,
        health={"ops_webhook_url": OPS},
        sites={"melon": {"head_interval": 30}},
    )
    watch = OpsWatch(settings, store, clock, sites=["melon"], heads=["melon"])
    now = clock.now().timestamp()
    await store.save_site_state(SiteState("melon", True, now, now, failure_streak=0))
    await store.save_head_state(HeadState("melon", last_attempt=now, last_success=now))
    assert await watch.check() == 0
    failing = SiteState("melon", True, now, now - 1, now, failure_streak=1, last_error="HTTP 503")
    await store.save_site_state(failing)
    clock.advance(599)
    await store.save_head_state(HeadState("melon", last_attempt=now + 599, last_success=now + 590))
    assert await watch.check() == 0  # failing for 599 s: under site_failing_after (600)
    clock.advance(2)
    await store.save_site_state(SiteState("melon", True, now + 601, now - 1, now + 601, 5, "HTTP 503"))
    assert await watch.check() == 1
    [(route, subject, title)] = await ops_rows(store)
    assert (route, subject, title) == ("ops", "site:melon", "ticket-alarm problem: site:melon")
    description = (await store.outbox_list())[0].payload["embed"]["description"]
    assert "melon has been failing for 10m (5 failed crawls in a row, last error: HTTP 503)" in description
    clock.advance(60)
    assert await watch.check() == 0  # told already
    restarted = OpsWatch(settings, store, clock, sites=["melon"], heads=["melon"])
    assert await restarted.check() == 0  # a restart repeats nothing (the store's meta keeps it)
    await store.save_site_state(SiteState("melon", True, now + 700, now + 700, now + 601, 0))
    await store.save_head_state(HeadState("melon", last_attempt=now + 700, last_success=now + 700))
    assert await restarted.check() == 1
    assert [s for _, s, _ in await ops_rows(store)] == ["site:melon", "site:melon"]
    assert (await ops_rows(store))[1][2] == "ticket-alarm recovered: site:melon"
    assert await restarted.check() == 0
    assert json.loads(await store.get_meta(OPS_META) or "{}") == {}
    # a failure that heals before the threshold is never told
    await store.save_site_state(SiteState("melon", True, now + 710, now + 700, now + 710, 1, "HTTP 503"))
    clock.advance(10)
    assert await restarted.check() == 0
    await store.save_site_state(SiteState("melon", True, now + 720, now + 720, now + 710, 0))
    assert await restarted.check() == 0 and len(await ops_rows(store)) == 2
    # head polls stuck for 3 × head_interval (a Retry-After pause), a broken webhook: told at once
    clock.advance(200)  # the last head poll success was 171 s ago: over 3 × 30 s
    assert await restarted.check() == 1
    assert (await ops_rows(store))[-1][1] == "head:melon"
    await store.mark_webhook_broken("default", "HTTP 404 Unknown Webhook", clock.now().timestamp())
    assert await restarted.check() == 1 and (await ops_rows(store))[-1][1] == "webhook:default"
    assert all(r.route == "ops" for r in await store.outbox_list())  # never on a subscriber's route
    await store.close()


def test_the_daemon_reports_a_site_down_past_the_threshold_once_and_once_on_recovery(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    fan = discord.add_webhook()
    ops = discord.add_webhook(OPS_ID)
    notices.add(3)
    down = {"on": False}

    def hook(req: Request) -> Response | None:
        return Response(503, b"down for maintenance") if down["on"] else None

    site.hook = hook
    config = stand_config(tmp_path, site, fan, health={"ops_webhook_url": ops, "site_failing_after": 3})
    path = write_config(tmp_path, config)
    d = DaemonProcess(path, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    down["on"] = True
    failed_at = time.monotonic()
    d.wait_for(lambda: len(discord.embeds(OPS_ID)) >= 1, timeout=30, what="the ops message")
    assert time.monotonic() - failed_at >= 3  # not before site_failing_after
    d.wait_log("크롤링 실패: teststand", count=8, timeout=30)  # more failing crawls: nothing more told
    [problem] = discord.embeds(OPS_ID)
    assert problem["title"] == "ticket-alarm problem: site:teststand"
    assert "HTTP 503" in problem["description"]
    down["on"] = False
    d.wait_for(lambda: len(discord.embeds(OPS_ID)) >= 2, timeout=30, what="the recovery message")
    d.wait_log("크롤링 완료: teststand", count=4, timeout=30)
    assert [e["title"] for e in discord.embeds(OPS_ID)] == [
        "ticket-alarm problem: site:teststand",
        "ticket-alarm recovered: site:teststand",
    ]
    assert discord.embeds("123456789012345678") == []  # the subscribers' webhook never saw them
    assert d.terminate()[0] == 0


def test_a_route_may_not_take_the_ops_lanes_name_while_ops_webhook_url_is_set(tmp_path: Path) -> None:
    import pytest

    from ticket_alarm.config.load import load_config
    from ticket_alarm.errors import ConfigError

    route = {"name": "ops", "webhook_url": FAN}
    path = write_config(tmp_path, {"routes": [route], "health": {"ops_webhook_url": OPS}})
    with pytest.raises(ConfigError, match=r"route name .ops. is the lane of health\.ops_webhook_url"):
        load_config(path, {})
    assert load_config(write_config(tmp_path, {"routes": [route]}), {}).routes  # no ops lane: free
