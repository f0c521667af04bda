"""A route with several destinations, through the real daemon: a Discord webhook and an ntfy topic each
get every alert once (a lane each), and a restart sends nothing again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.ntfy_standin import FakeNtfy
from tests.support.site_standin import FakeSite, TestStandNotices

pytestmark = pytest.mark.e2e

TOKEN = "tk_e2eE2Ee2eE2Ee2eE2Ee2eE2Ee2eE2"


@pytest.fixture
def ntfy() -> Iterator[FakeNtfy]:
    fake = FakeNtfy().start()
    yield fake
    fake.stop()


def test_one_route_delivers_the_same_notice_to_discord_and_ntfy_once_each_across_a_restart(
    tmp_path: Path,
    discord: FakeDiscord,
    ntfy: FakeNtfy,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    webhook = discord.add_webhook()
    ntfy.protect("fans", TOKEN)
    route = {"name": "fans", "webhook_url": webhook, "ntfy_url": ntfy.topic_url("fans"), "ntfy_token": TOKEN}
    notices.add(2, prefix="기존")
    config = write_config(tmp_path, stand_config(tmp_path, site, None, routes=[route]))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")  # the first run fills history silently
    ids = notices.add(1, prefix="신규")
    d.wait_for(lambda: len(discord.embeds()) >= 1 and len(ntfy.messages) >= 1, what="both destinations")
    d.wait_log("크롤링 완료: teststand", count=4)  # more cycles: nothing is sent twice
    (embed,) = discord.embeds()
    (pushed,) = ntfy.published("fans")
    assert pushed["title"].endswith(embed["title"]) and pushed["click"].startswith(
        "https://tickets.teststand."
    )
    assert ids[0] in embed["url"] and ntfy.messages[0].authorization == f"Bearer {TOKEN}"
    sent = [line for line in d.out().splitlines() if "알림 전송: 1건" in line]
    assert len(sent) == 2 and any("fans/ntfy" in line for line in sent)  # each lane says its own
    assert d.terminate()[0] == 0

    d2 = DaemonProcess(config, tmp_path, "daemon2")
    daemons.append(d2)
    d2.wait_log("크롤링 완료: teststand", count=2)
    assert len(discord.embeds()) == 1 and len(ntfy.messages) == 1  # a restart resends nothing
    notices.add(1, prefix="재시작후")
    d2.wait_for(lambda: len(discord.embeds()) == 2 and len(ntfy.messages) == 2, what="the second notice")
    assert d2.terminate()[0] == 0
    assert Counter(m["title"] for m in ntfy.published()).most_common(1)[0][1] == 1
    assert TOKEN not in d.out() + d.err() + d2.out() + d2.err()
