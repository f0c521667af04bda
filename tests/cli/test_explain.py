"""Where a notice goes: the catch-all ``discord_webhook_url`` beside routes (``main_receives``), and
``explain`` saying why, against the real SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import child_env, run_cli, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.fan import add_fan_notices, fan_config
from tests.support.site_standin import FakeSite, TestStandNotices
from tests.support.stand import WEBHOOK, iu_route
from tests.unit.test_alerts import Harness, ticket
from ticket_alarm import app
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.routes import Router, Verdict, route_verdicts
from ticket_alarm.config.settings import RouteSettings, Settings
from ticket_alarm.ops.explain import explain, render_text

pytestmark = pytest.mark.usefixtures("clean_env")  # tests/support/inprocess.py


def test_the_unrouted_catch_all_takes_only_what_no_route_took() -> None:
    iu = RouteSettings(**iu_route())
    catch_all = Settings(discord_webhook_url=WEBHOOK, routes=[iu_route()]).catch_all()
    router = Router([iu], catch_all=catch_all, main_receives="unrouted")
    assert router.lanes_for(ticket("1", title="아이유 콘서트")) == ["iu"]
    assert router.lanes_for(ticket("2", title="뮤지컬 레베카")) == ["default"]
    assert Router([iu]).lanes_for(ticket("2", title="뮤지컬 레베카")) == []
    assert Router([], catch_all=catch_all).lanes_for(ticket("3")) == ["default"]
    verdicts = route_verdicts([iu], ticket("2", title="뮤지컬 레베카"), catch_all, main_receives="unrouted")
    assert (
        verdicts[0].route == "iu" and not verdicts[0].matched and "no include keyword" in verdicts[0].reason
    )
    assert verdicts[1] == Verdict(
        "default", True, "matched no route: the catch-all discord_webhook_url receives it"
    )


async def test_unmatched_notices_reach_the_catch_all_and_explain_says_why(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 30, tzinfo=UTC))
    settings = Settings(
        discord_webhook_url=WEBHOOK,
        routes=[iu_route()],
        main_receives="unrouted",
        notify_on_first_run=True,
        data_dir=tmp_path / "a",
    )
    h = Harness(tmp_path / "a", settings, clock)
    try:
        await h.cycle(ticket("1", title="아이유 콘서트 오픈"), ticket("2", title="뮤지컬 레베카 오픈"))
        assert sorted((e["route"], e["title"]) for e in await h.outbox()) == [
            ("default", "뮤지컬 레베카 오픈"),
            ("iu", "아이유 콘서트 오픈"),
        ]
        doc = await explain(h.store, app.router(settings), "fake", "1")
        assert doc is not None
        assert [(r["route"], r["matched"]) for r in doc["routes"]] == [("iu", True), ("default", False)]
        assert "route iu takes it" in doc["routes"][1]["reason"]
    finally:
        await h.close()


async def test_with_routes_only_explain_names_matched_no_route(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 30, tzinfo=UTC))
    settings = Settings(routes=[iu_route()], notify_on_first_run=True, data_dir=tmp_path / "b")
    h = Harness(tmp_path / "b", settings, clock)
    try:
        await h.cycle(ticket("2", title="뮤지컬 레베카 오픈"))
        assert await h.outbox() == []
        doc = await explain(h.store, app.router(settings), "fake", "2")
        assert doc is not None and doc["nothing_sent"] is not None
        text = render_text(doc)
        assert "nothing (matched no route" in text and "first crawl" not in text
        assert "iu" in text and "no include keyword matches" in text
    finally:
        await h.close()


def test_explain_in_korean_says_the_main_channel_receives_every_notice(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, discord: FakeDiscord
) -> None:
    ids = add_fan_notices(notices)
    config = write_config(tmp_path, fan_config(tmp_path, site, discord))
    ko = child_env(TICKET_ALARM_LANG="ko")
    assert run_cli("once", "--config", str(config), cwd=tmp_path, env=ko).returncode == 0
    explained = run_cli("explain", "teststand", ids["other"], "--config", str(config), cwd=tmp_path, env=ko)
    assert "메인 채널 discord_webhook_url은 모든 공지를 받습니다" in explained.stdout, explained.stdout
    checked = run_cli("check-config", "--config", str(config), cwd=tmp_path, env=ko)
    assert (
        "모든 공지가 discord_webhook_url(메인 채널)로 가고, 맞는 경로(seventeen)에도 함께 갑니다"
        in checked.stdout + checked.stderr
    )
