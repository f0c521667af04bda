"""Routes as a fan meets them through the CLI (``python -m ticket_alarm``) against the stand-in site and
the strict stand-in Discord: a route adds a channel unless ``main_receives`` is "unrouted", the main
channel pings its role, and ``check-config``/``explain`` say where a notice goes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.fan import MAIN_ID, ROLE, ROUTE_ID, add_fan_notices, fan_config, titles
from tests.support.site_standin import FakeSite, TestStandNotices

pytestmark = pytest.mark.usefixtures("clean_env")  # tests/support/inprocess.py


@pytest.mark.parametrize(
    ("main_receives", "main_gets"),
    [
        (None, 3),  # the default, "all": every notice, plus what the route adds
        ("unrouted", 1),  # the old behaviour: only what no route took
    ],
)
def test_a_route_adds_a_channel_unless_main_receives_unrouted(
    tmp_path: Path,
    site: FakeSite,
    notices: TestStandNotices,
    discord: FakeDiscord,
    main_receives: str | None,
    main_gets: int,
) -> None:
    ids = add_fan_notices(notices)
    extra = {"main_receives": main_receives} if main_receives else {}
    config = write_config(tmp_path, fan_config(tmp_path, site, discord, **extra))
    once = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert once.returncode == 0, once.stderr
    # the route takes the Korean and the English name because both are listed
    assert len(discord.embeds(ROUTE_ID)) == 2
    assert len(discord.embeds(MAIN_ID)) == main_gets
    assert any("뮤지컬 레베카" in t for t in titles(discord, MAIN_ID))
    # the main channel pings its role (mention_role_ids at the top level); the route pings none
    main_pings = [m for m in discord.messages if m.webhook_id == MAIN_ID]
    assert main_pings and all(f"<@&{ROLE}>" in m.payload.get("content", "") for m in main_pings)
    assert all(ROLE not in json.dumps(m.payload) for m in discord.messages if m.webhook_id == ROUTE_ID)
    assert f"role:{ROLE}" in discord.fired_mentions

    checked = run_cli("check-config", "--json", "--config", str(config), cwd=tmp_path)
    delivery = json.loads(checked.stdout)["delivery"]
    if main_receives is None:
        assert delivery.startswith("every notice goes to discord_webhook_url (the main channel)")
    else:
        assert "a notice that matches no route goes to discord_webhook_url" in delivery
    assert f"delivery: {delivery}" in checked.stderr

    explained = run_cli("explain", "teststand", ids["ko"], "--config", str(config), cwd=tmp_path)
    assert explained.returncode == 0, explained.stderr
    default_line = next(line for line in explained.stdout.splitlines() if line.strip().startswith("default"))
    if main_receives is None:
        assert "matched" in default_line and 'main_receives "all"' in default_line
        assert "route seventeen takes it too" in default_line
    else:
        assert "skipped" in default_line and "route seventeen takes it" in default_line
