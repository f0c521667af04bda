"""Interpark's notice pages as users meet them (issue 19): a page that cannot be read no longer hides a
change of what the list says, and what a page gave, or that it failed, is kept in the store across
processes (a restart reads no page again; a failed page waits out its back-off)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REAL_SITES, DaemonProcess, run_cli, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.real_sites import INTERPARK_NOTICE, InterparkStandin, interpark_rows
from tests.support.server import Request, Response

pytestmark = pytest.mark.e2e
PRESALE = ("팬클럽 선예매", "2026-12-20 20:00:00")


def _rows(count: int) -> list[dict[str, Any]]:
    """Plain rows (no groups) with a full open time; the first ``count`` have their dates on the page."""
    out = []
    for row in interpark_rows():
        if row.get("isGroup") or row.get("isGeneralLater") or len(str(row.get("openDateStr") or "")) < 16:
            continue
        out.append({**row, "groupMembers": [], "isGroup": False})
    rows = out[:6]
    for row in rows[:count]:
        row["hasMultipleOpenDates"] = True
    return rows


@pytest.fixture
def interpark() -> Iterator[InterparkStandin]:
    stand = InterparkStandin(_rows(3))
    for row in stand.rows[:3]:
        stand.presales[str(row["noticeId"])] = [PRESALE]
    stand.start()
    yield stand
    stand.stop()


def _config(tmp_path: Path, stand: InterparkStandin, webhook: str | None = None, **extra: Any) -> Path:
    config: dict[str, Any] = {
        "interval": 1,
        "data_dir": str(tmp_path / "data"),
        "sites": {name: {"enabled": name == "interpark"} for name in [*REAL_SITES, "teststand"]},
        "http": {"min_request_interval": 0, "retries": 0, "timeout": 5},
        **extra,
    }
    if webhook:
        config["discord_webhook_url"] = webhook
    config["sites"]["interpark"].update(base_url=stand.base_url, source="interpark")
    return write_config(tmp_path, config)


def _answer(stand: InterparkStandin, notice_id: str, response: Response | None) -> None:
    """The notice page of ``notice_id`` answers ``response`` (None: its own page again)."""
    own = InterparkStandin._notice_page.__get__(stand)

    def hook(req: Request) -> Response | None:
        if response is not None and req.path == INTERPARK_NOTICE + notice_id:
            return response
        return own(req)

    stand.site.hook = hook


def _changed(embed: dict[str, Any]) -> list[str]:
    """The fields a change embed shows as before → after (named as the notice's own embed names them)."""
    return [f["name"] for f in embed["fields"] if "→" in f["value"]]


def _kept_presales(tmp_path: Path, notice_id: str) -> list[str]:
    with sqlite3.connect(tmp_path / "data" / "ticket-alarm.sqlite3") as conn:
        (ticket,) = conn.execute("SELECT ticket FROM history WHERE notice_id = ?", (notice_id,)).fetchone()
    return [p["name"] for p in json.loads(ticket)["presales"]]


def _pages(stand: InterparkStandin) -> int:
    return len(stand.requests_to(INTERPARK_NOTICE))


def test_a_moved_open_time_is_alerted_while_the_notice_page_fails_keeping_the_presales(
    tmp_path: Path, discord: FakeDiscord, interpark: InterparkStandin, daemons: list[DaemonProcess]
) -> None:
    """The page answers 404, then an HTML page of another shape, while the list's open time moves:
    each move is alerted as a change, with the presale read before still on it."""
    webhook = discord.add_webhook()
    d = DaemonProcess(_config(tmp_path, interpark, webhook), tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: interpark")  # the first sweep fills history silently
    row = interpark.rows[0]
    notice_id = str(row["noticeId"])
    _answer(interpark, notice_id, Response(404, b"<html><body>Not Found</body></html>", {}))
    row["openDateStr"] = "2026-12-31 20:00:00"
    d.wait_for(lambda: len(discord.embeds()) == 1, timeout=30, what="the change alert (page 404)")
    first = discord.embeds()[0]
    assert first["url"].endswith(notice_id)
    assert _changed(first) == ["일반 예매"]  # the open time; the unread presale is no "change"
    assert "<t:1798714800" in json.dumps(first)  # 2026-12-31 20:00 KST, the list's new open time
    assert _kept_presales(tmp_path, notice_id) == ["팬클럽 선예매"]  # history keeps the one read before
    assert "notice pages: 1 unreadable (HTTP 404)" in d.err()
    other_shape = b"<html><head><title>NOL</title></head><body><div id='app'></div></body></html>"
    _answer(interpark, notice_id, Response(200, other_shape, {"Content-Type": "text/html"}))
    row["openDateStr"] = "2027-01-07 20:00:00"
    d.wait_for(lambda: len(discord.embeds()) == 2, timeout=30, what="the change alert (another shape)")
    second = discord.embeds()[1]
    assert _changed(second) == ["일반 예매"] and "<t:1799319600" in json.dumps(second)  # 2027-01-07
    assert _kept_presales(tmp_path, notice_id) == ["팬클럽 선예매"]
    assert "unreadable (a page of another shape)" in d.err()
    runs = d.out().count("크롤링 완료: interpark")
    d.wait_log("크롤링 완료: interpark", count=runs + 2)  # nothing more: the gap is no change
    assert len(discord.embeds()) == 2
    assert "read incompletely" not in d.out()  # no line per notice
    assert d.terminate()[0] == 0


def test_a_restart_reads_no_notice_page_and_a_failed_one_waits_for_its_back_off(
    tmp_path: Path, interpark: InterparkStandin
) -> None:
    failing = str(interpark.rows[2]["noticeId"])
    _answer(interpark, failing, Response(404, b"not found", {}))
    config = _config(tmp_path, interpark)
    first = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert first.returncode == 0, first.stderr
    wanted = [r for r in interpark.rows if r.get("hasMultipleOpenDates") or r.get("isToping")]
    assert _pages(interpark) == len(wanted) >= 3  # each notice with its dates on the page, once
    assert "notice pages: 1 unreadable (HTTP 404)" in first.stderr + first.stdout
    again = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert again.returncode == 0, again.stderr
    assert _pages(interpark) == len(wanted)  # a new process: no page read again, the failed one waits
    assert "1 of them wait for their retry" in again.stderr + again.stdout
    db = tmp_path / "data" / "ticket-alarm.sqlite3"
    with sqlite3.connect(db) as conn:  # its back-off is over (the time a daemon would wait)
        conn.execute("UPDATE notice_reads SET retry_at = 0 WHERE notice_id = ?", (failing,))
    _answer(interpark, failing, None)  # and the page is back
    third = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert third.returncode == 0, third.stderr
    asked = [r.path for r in interpark.requests_to(INTERPARK_NOTICE)][len(wanted) :]
    assert asked == [INTERPARK_NOTICE + failing]
    assert "unreadable" not in third.stderr + third.stdout
