"""A fan's set-up: the main channel pings a role, a route takes SEVENTEEN (Korean and English name) to
a channel of its own; three notices, one for each name and one for neither."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.support.discord_standin import FakeDiscord
from tests.support.site_standin import FakeSite, TestStandNotices
from tests.support.stand import stand_config

MAIN_ID, ROUTE_ID = "111111111111111111", "222222222222222222"
ROLE = "987654321098765432"
FAN_TOKEN = "fan-token-0123456789abcdef"


def fan_config(tmp_path: Path, site: FakeSite, discord: FakeDiscord, **extra: Any) -> dict[str, Any]:
    return stand_config(
        tmp_path,
        site,
        discord.add_webhook(MAIN_ID),
        notify_on_first_run=True,
        head_interval=None,
        mention_role_ids=[ROLE],
        routes=[
            {
                "name": "seventeen",
                "webhook_url": discord.add_webhook(ROUTE_ID),
                "include": ["세븐틴", "SEVENTEEN"],
            }
        ],
        **extra,
    )


def titles(discord: FakeDiscord, webhook_id: str) -> list[str]:
    return sorted(
        re.sub(r"\s+\d+ 티켓 오픈 안내$", "", str(e.get("title", ""))) for e in discord.embeds(webhook_id)
    )


def add_fan_notices(notices: TestStandNotices) -> dict[str, str]:
    return {
        "ko": notices.add(1, prefix="세븐틴 콘서트")[0],
        "en": notices.add(1, prefix="SEVENTEEN WORLD TOUR")[0],
        "other": notices.add(1, prefix="뮤지컬 레베카")[0],
    }
