"""A route with several destinations, through the real daemon: a Discord webhook, an ntfy topic and a
Telegram chat each get every alert once (a lane each), and a restart sends nothing again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.ntfy_standin import FakeNtfy
from tests.support.site_standin import FakeSite, TestStandNotices
from tests.support.telegram_standin import FakeTelegram

pytestmark = pytest.mark.e2e

TOKEN = "tk_e2eE2Ee2eE2Ee2eE2Ee2eE2Ee2eE2"


@pytest.fixture
def ntfy() -> Iterator[FakeNtfy]:
    fake = FakeNtfy().start()
    yield fake
    fake.stop()


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


def test_one_route_delivers_the_same_notice_to_discord_ntfy_and_telegram_once_each_across_a_restart(
    tmp_path: Path,
    discord: FakeDiscord,
    ntfy: FakeNtfy,
    telegram: FakeTelegram,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    webhook = discord.add_webhook()
    ntfy.protect("fans", TOKEN)
    route = {"name": "fans", "webhook_url": webhook, "ntfy_url": ntfy.topic_url("fans"), "ntfy_token": TOKEN}
    bot = telegram.add_bot()
    route["telegram"] = {"bot_token": bot, "chat_id": telegram.add_chat().id, "api_base": telegram.api_base}
    notices.add(2, prefix="기존")
    config = write_config(tmp_path, stand_config(tmp_path, site, None, routes=[route]))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")  # the first run fills history silently
    ids = notices.add(1, prefix="신규")
    d.wait_for(
        lambda: min(len(discord.embeds()), len(ntfy.messages), len(telegram.texts())) >= 1, what="all 3"
    )
    d.wait_log("크롤링 완료: teststand", count=4)  # more cycles: nothing is sent twice
    (embed,) = discord.embeds()
    (pushed,) = ntfy.published("fans")
    assert pushed["title"].endswith(embed["title"]) and pushed["click"].startswith(
        "https://tickets.teststand."
    )
    assert ids[0] in embed["url"] and ntfy.messages[0].authorization == f"Bearer {TOKEN}"
    (text,) = telegram.texts()
    assert embed["title"] in text
    sent = [line for line in d.out().splitlines() if "알림 전송: 1건" in line]
    assert len(sent) == 3 and any("fans/telegram" in line for line in sent)  # each lane says its own
    assert d.terminate()[0] == 0

    d2 = DaemonProcess(config, tmp_path, "daemon2")
    daemons.append(d2)
    d2.wait_log("크롤링 완료: teststand", count=2)
    assert (len(discord.embeds()), len(ntfy.messages), len(telegram.texts())) == (1, 1, 1)  # none again
    notices.add(1, prefix="재시작후")
    d2.wait_for(
        lambda: (len(discord.embeds()), len(ntfy.messages), len(telegram.texts())) == (2, 2, 2),
        what="the second",
    )
    assert d2.terminate()[0] == 0
    assert Counter(m["title"] for m in ntfy.published()).most_common(1)[0][1] == 1
    logs = d.out() + d.err() + d2.out() + d2.err()
    assert TOKEN not in logs and bot not in logs and bot.split(":")[1] not in logs
