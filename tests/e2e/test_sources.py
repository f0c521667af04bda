"""The real daemon when a site moves: Interpark's old API disappears mid-run (→ NOL, nothing re-alerted),
and a site renumbers every id at once (no storm; a real new notice in the same crawl still alerts)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REAL_SITES, DaemonProcess, run_cli, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.real_sites import InterparkStandin, interpark_rows
from tests.support.site_standin import FakeSite, TestStandNotices

pytestmark = pytest.mark.e2e
SWITCH_WARNING = "read NOL instead"


def _rows() -> list[dict[str, Any]]:
    """Fixture rows whose open time both sources write alike (a full time, or TBA); no groups."""
    out = []
    for row in interpark_rows():
        opening = str(row.get("openDateStr") or "")
        if row.get("isGroup") or (len(opening) < 16 and not row.get("isGeneralLater")):
            continue
        out.append({**row, "groupMembers": [], "isGroup": False})
    return out[:8]


@pytest.fixture
def interpark() -> Iterator[InterparkStandin]:
    rows = _rows()
    rows[0] = {**rows[0], "hasMultipleOpenDates": True}  # its presale is on the notice page / in NOL
    stand = InterparkStandin(rows)
    stand.presales[str(rows[0]["noticeId"])] = [("팬클럽 선예매", "2027-11-30 20:00:00")]
    stand.start()
    yield stand
    stand.stop()


def test_old_api_gone_mid_run_reads_nol_and_re_alerts_nothing(
    tmp_path: Path, discord: FakeDiscord, interpark: InterparkStandin, daemons: list[DaemonProcess]
) -> None:
    """The old API answers 404, then its HTML page; the switch to NOL (the unit tests cover each of
    404/410/HTML/no noticeId as the trigger) happens once and re-alerts nothing."""
    discord.bucket_limit = 50
    webhook = discord.add_webhook()
    config: dict[str, Any] = {
        "interval": 1,
        "data_dir": str(tmp_path / "data"),
        "notify_on_first_run": True,
        "discord_webhook_url": webhook,
        "sites": {name: {"enabled": name == "interpark"} for name in [*REAL_SITES, "teststand"]},
        "http": {"min_request_interval": 0, "retries": 0, "timeout": 5},
    }
    config["sites"]["interpark"]["base_url"] = interpark.base_url
    d = DaemonProcess(write_config(tmp_path, config), tmp_path)
    daemons.append(d)
    count = len(interpark.rows)
    d.wait_for(lambda: len(discord.embeds()) >= count, timeout=30, what=f"{count} embeds")
    presale = next(e for e in discord.embeds() if e["url"].endswith(str(interpark.rows[0]["noticeId"])))
    assert "팬클럽 선예매" in json.dumps(presale, ensure_ascii=False)  # read from the notice page
    assert not interpark.requests_to("/ticket/display/api/upcoming")
    interpark.mode = "404"
    d.wait_for(lambda: SWITCH_WARNING in d.err(), timeout=20, what="the switch WARNING")
    interpark.mode = "html"
    runs = d.out().count("크롤링 완료: interpark")
    d.wait_log("크롤링 완료: interpark", count=runs + 2)  # past the change-confirm hold: nothing may come
    assert len(discord.embeds()) == count
    new = {**interpark.rows[1], "noticeId": 99001, "title": "NOL에서만 보이는 새 공연"}
    interpark.add(new)  # a notice posted after the move: NOL is what is read now
    d.wait_for(lambda: len(discord.embeds()) == count + 1, timeout=20, what="the new notice")
    d.wait_log("크롤링 완료: interpark", count=d.out().count("크롤링 완료: interpark") + 1)
    embeds = discord.embeds()
    assert len(embeds) == count + 1 and set(Counter(e["url"] for e in embeds).values()) == {1}
    assert "NOL에서만 보이는 새 공연" in embeds[-1]["title"]
    assert d.err().count(SWITCH_WARNING) == 1  # one WARNING for the move, not one a cycle
    assert interpark.requests_to("/ticket/display/api/upcoming")
    assert d.terminate()[0] == 0


def test_renumbering_every_id_is_no_storm_and_a_real_new_notice_still_alerts(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    discord.bucket_limit = 50
    webhook = discord.add_webhook()
    ids = notices.add(35, prefix="기존")
    data = stand_config(tmp_path, site, webhook)
    data["sites"]["teststand"]["storm_threshold"] = 30
    data["health"] = {"cpu_warn": 100, "memory_warn": 100, "disk_warn": 100}
    config = write_config(tmp_path, data)
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")  # the first run fills history silently
    runs = d.out().count("크롤링 완료: teststand")
    with notices.lock:  # a migration: every notice gets a new id, title and open time unchanged
        for notice, old in zip(notices.notices, ids, strict=True):
            notice["id"] = str(50000 + int(old))
    notices.add(1, prefix="진짜 신규", start=90001)
    d.wait_for(lambda: len(discord.embeds()) >= 1, timeout=20, what="the real new notice")
    d.wait_log("크롤링 완료: teststand", count=runs + 3)
    embeds = discord.embeds()
    assert [e["title"] for e in embeds] == ["진짜 신규 90001 티켓 오픈 안내"]
    assert d.err().count("35 of 36 new notices in one crawl match known notices") == 1
    done = run_cli("health", "--json", "--config", str(config), cwd=tmp_path)
    check = next(c for c in json.loads(done.stdout)["checks"] if c["name"] == "site:teststand")
    assert check["status"] == "WARNING" and "35 of 36 new notices held" in check["detail"]
    assert d.terminate()[0] == 0
