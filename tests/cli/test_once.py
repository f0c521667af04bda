"""``once``: one crawl of every site and what it says: a dry run's readable alerts, a locked site skipped
(and until when), errors naming the URL really requested. ``main(argv)`` in this process, or the real
process against the stand-in site."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import run_cli, stand_config, write_config
from tests.support.inprocess import run_main
from tests.support.ports import free_port
from tests.support.processes import run_cli_interrupted
from tests.support.server import Response
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.store import DB_NAME, NewOutboxRow, SiteState
from ticket_alarm.store.postgres import PostgresStore
from ticket_alarm.store.sqlite.backend import SqliteStore


@pytest.mark.usefixtures("clean_env")  # tests/support/inprocess.py
def test_once_says_a_locked_site_was_skipped_and_until_when(
    tmp_path: Path,
    site: FakeSite,
    notices: TestStandNotices,
    plugin_on_path: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    notices.add(2)
    path = write_config(tmp_path, stand_config(tmp_path, site, None))
    until = datetime.now(UTC).timestamp() + 3000

    async def lock_the_site() -> None:
        store = SqliteStore.open_dir(tmp_path / "data")
        await store.save_site_state(
            SiteState("teststand", True, failure_streak=1, last_error="HTTP 423", locked_until=until)
        )
        await store.close()

    asyncio.run(lock_the_site())  # the command below runs its own event loop
    code, out, _err = run_main(capsys, "once", "--config", str(path))
    assert code == 0
    skipped = [line for line in out.splitlines() if "크롤링 건너뜀: teststand" in line]
    assert len(skipped) == 1 and "HTTP 423" in skipped[0] and "KST" in skipped[0]
    assert "(in 50m)" in skipped[0] or "(in 49m)" in skipped[0]
    assert "once: 0 sites crawled" in out and site.log == []


def test_dry_run_prints_readable_alerts_and_says_printed(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices
) -> None:
    notices.add(2, prefix="드라이런")
    config = write_config(tmp_path, stand_config(tmp_path, site, None, notify_on_first_run=True))
    result = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("[DRY RUN] 테스트 티켓 | 드라이런") == 2
    assert "2027-12-01 (수) 20:00 KST" in out and "<t:" not in out and "](" not in out
    assert "once: 1 sites crawled, 2 alerts printed (dry run: nothing sent)" in out
    assert "alerts delivered" not in out

    # send-test --sample without a webhook: the same readable text, and it says nothing was sent
    sample = run_cli("send-test", "--sample", "teststand", "--config", str(config), cwd=tmp_path)
    assert sample.returncode == 1
    assert "[DRY RUN] 테스트 티켓 | [테스트] 드라이런 2 티켓 오픈 안내" in sample.stdout
    assert "nothing sent" in sample.stdout + sample.stderr


def test_errors_name_the_url_really_requested_and_the_host(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices
) -> None:
    notices.add(1)
    site.fail("/api/notices", *[Response(503, b"down")] * 4)
    config = write_config(tmp_path, stand_config(tmp_path, site, None))
    result = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert f"HTTP 503 from {site.base_url}/api/notices" in result.stdout  # the stand-in, not the public host

    site.fail("/api/notices", Response(200, b"<html>not the list</html>", {"Content-Type": "text/html"}))
    result = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert f"from {site.base_url}/api/notices?page=1" in result.stdout  # a parse error names it too
    assert "tickets.teststand.example" not in result.stdout

    port = free_port()
    closed = stand_config(tmp_path, site, None, data_dir=str(tmp_path / "closed"))
    closed["sites"]["teststand"] = {"base_url": f"http://127.0.0.1:{port}"}
    result = run_cli("once", "--config", str(write_config(tmp_path, closed, "closed.json")), cwd=tmp_path)
    assert result.returncode == 1
    assert f"connection failed: ConnectError to 127.0.0.1:{port}" in result.stdout


def test_ctrl_c_counts_the_alerts_waiting_in_the_postgresql_store(
    tmp_path: Path, site: FakeSite, pg_url: str
) -> None:
    """The line Ctrl-C leaves reads the store the config names: on PostgreSQL, not data_dir's SQLite
    file (there is none), which left the count as "?"."""

    async def two_waiting() -> None:
        store = await PostgresStore.open(pg_url)
        rows = [NewOutboxRow("default", "new", "teststand", f"k{n}", {"title": "t"}) for n in range(2)]
        await store.enqueue(rows, time.time())
        await store.close()

    asyncio.run(two_waiting())
    # the crawl hangs past any wait for the signal (a loaded machine): Ctrl-C comes before delivery
    config = write_config(
        tmp_path, stand_config(tmp_path, site, None, store_url=pg_url, http={"timeout": 300})
    )
    site.hook = lambda req: Response(200, b"{}", delay=300)
    done, _seconds = run_cli_interrupted(
        "once", "--config", str(config), cwd=tmp_path, started=lambda: len(site.log) > 0
    )
    assert done.returncode == 130, done.stderr[-2000:]
    assert "interrupted (SIGINT)" in done.stderr, done.stderr[-2000:]
    assert "2 alerts wait in the outbox" in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "data" / DB_NAME).exists()  # nothing was looked for (or made) in data_dir
