"""Issue 14: upcoming opens, the calendar feed, the web endpoints and the `upcoming` command.

In-process tests use a real SQLite store and the real aiohttp server on 127.0.0.1; the end-to-end
tests run the real daemon on the stand-in site (and restart it) and the real CLI.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from icalendar import Calendar

from crawlers.registry import discover
from tests.conftest import DaemonProcess, run_cli, stand_config, write_config
from tests.support.inprocess import Here
from tests.support.ports import free_port
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm import app
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.routes import Router
from ticket_alarm.config.settings import RouteSettings, Settings
from ticket_alarm.core.model import SEOUL, Presale, Ticket, seoul
from ticket_alarm.i18n.table import width
from ticket_alarm.store import Cycle, HistoryRow, SiteState, Store
from ticket_alarm.store.api import Dead, Sent
from ticket_alarm.store.sqlite.backend import SqliteStore
from ticket_alarm.web.ical import calendar
from ticket_alarm.web.server import (
    MAX_PAGE_CONNECTIONS,
    build_app,
    page_connections,
    render_page,
    token_ok,
)
from ticket_alarm.web.upcoming import SiteLook, sale_uid, upcoming

NOW = datetime(2027, 1, 10, 3, 0, tzinfo=UTC)  # 12:00 KST
LOOKS = {"teststand": SiteLook("테스트 티켓", 0x00AA88), "other": SiteLook("다른 티켓", 0x112233)}
TOKEN = "web-token-abcdef0123456789"


def notice(notice_id: str, site: str = "teststand", **fields: Any) -> Ticket:
    base = Ticket(
        site=site,
        id=notice_id,
        title=f"공연 {notice_id} 티켓 오픈 안내",
        url=f"https://tickets.teststand.example/notice/{notice_id}",
        open_at=seoul(2027, 1, 20, 20, 0),
        venue="올림픽홀",
        genre="콘서트",
    )
    return base.with_(**fields)


async def seed(store: Store, tickets: list[Ticket], now: datetime = NOW) -> None:
    for site in {t.site for t in tickets}:
        rows = [
            HistoryRow(t.key, t.digest, site, t.id, t.title, t.to_json()) for t in tickets if t.site == site
        ]
        await store.commit_cycle(
            Cycle(site, now.timestamp(), history=rows, touched=[], outbox=[], state=SiteState(site, True))
        )


SAMPLE = [
    notice(
        "a",
        title="아이유 콘서트 〈HER〉 티켓 오픈",
        exclusive=True,
        booking_url="https://tickets.teststand.example/book/a",
        presales=(Presale("팬클럽 선예매", seoul(2027, 1, 18, 20, 0)), Presale("일반 선예매", None)),
    ),
    notice("b", open_at=seoul(2027, 1, 11, 14, 0)),
    notice("tba", open_at=None),
    notice("past", open_at=seoul(2027, 1, 9, 20, 0)),
    notice("dayonly", open_at=None, open_date=datetime(2027, 1, 12).date()),
    notice("far", open_at=seoul(2027, 6, 1, 20, 0), site="other", title="뮤지컬 캣츠 티켓 오픈"),
]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = SqliteStore.open_dir(tmp_path / "data")
    await seed(s, SAMPLE)
    yield s
    await s.close()


def ids(notices: list[Any]) -> list[str]:
    return [n.ticket.id for n in notices]


# --- upcoming ---------------------------------------------------------------------------------


async def test_upcoming_lists_sales_ahead_in_time_order_and_filters(store: Store) -> None:
    reader = store  # the engine seeds, the async store reads
    assert ids(await upcoming(reader, now=NOW, looks=LOOKS)) == [
        "b",
        "dayonly",
        "a",
        "far",
    ]  # no TBA, no past
    assert ids(await upcoming(reader, now=NOW, looks=LOOKS, days=5)) == ["b", "dayonly"]
    assert ids(await upcoming(reader, now=NOW, looks=LOOKS, site="other")) == ["far"]
    assert ids(await upcoming(reader, now=NOW, looks=LOOKS, text="아이유콘서트")) == [
        "a"
    ]  # keyword normal form
    assert ids(await upcoming(reader, now=NOW, looks=LOOKS, text="ＨＥＲ")) == ["a"]  # full width too
    iu = RouteSettings(
        name="iu",
        webhook_url="http://127.0.0.1:9/api/webhooks/123456789012345678/tokentokentoken",
        include=["아이유"],
    )
    listed = await upcoming(reader, now=NOW, looks=LOOKS, router=Router([iu]), route=iu)
    assert ids(listed) == ["a"] and listed[0].routes == ("iu",)
    a = listed[0]
    assert [(s.name, s.presale) for s in a.sales] == [("팬클럽 선예매", True), ("일반 예매", False)]
    assert a.next_at == seoul(2027, 1, 18, 20, 0) and a.day.isoformat() == "2027-01-18"
    # the first sale passed: the notice stays upcoming for its general sale, listed on that day
    later = await upcoming(reader, now=datetime(2027, 1, 19, tzinfo=UTC), looks=LOOKS, text="아이유")
    assert later[0].next_at == seoul(2027, 1, 20, 20, 0) and len(later[0].sales) == 2


async def test_calendar_has_one_event_per_sale_with_stable_uids_kst_times_and_alarm(store: Store) -> None:
    reader = store  # the engine seeds, the async store reads
    notices = await upcoming(reader, now=NOW, looks=LOOKS)
    cal = Calendar.from_ical(calendar(notices, NOW))
    events = list(cal.walk("VEVENT"))
    assert len(events) == 4  # b, a (presale + general), far; dayonly and TBA have no time: no event
    by_uid = {str(e["UID"]): e for e in events}
    key = notice("a").key
    presale = by_uid[sale_uid(key, "팬클럽 선예매")]
    general = by_uid[sale_uid(key, None)]
    assert general["DTSTART"].dt == seoul(2027, 1, 20, 20, 0)
    assert general["DTSTART"].params["TZID"] == "Asia/Seoul"
    assert presale["DTSTART"].dt == seoul(2027, 1, 18, 20, 0)
    assert str(general["LOCATION"]) == "올림픽홀"
    assert str(general["URL"]) == "https://tickets.teststand.example/notice/a"
    assert "예매: https://tickets.teststand.example/book/a" in str(general["DESCRIPTION"])
    assert "[단독]" in str(general["SUMMARY"]) and "[팬클럽 선예매]" in str(presale["SUMMARY"])
    alarm = next(iter(general.walk("VALARM")))
    assert alarm["TRIGGER"].dt == -timedelta(minutes=10)
    assert any(c.name == "VTIMEZONE" and str(c["TZID"]) == "Asia/Seoul" for c in cal.walk())
    assert not [u for u in by_uid if u.startswith(notice("tba").key[:32])]
    # a moved open time: the same UID, a new start
    moved = notice("a", open_at=seoul(2027, 1, 21, 19, 0), presales=SAMPLE[0].presales)
    await seed(store, [moved], NOW + timedelta(hours=1))
    again = {
        str(e["UID"]): e
        for e in Calendar.from_ical(calendar(await upcoming(reader, now=NOW, looks=LOOKS), NOW)).walk(
            "VEVENT"
        )
    }
    assert set(again) == set(by_uid)
    assert again[sale_uid(key, None)]["DTSTART"].dt == seoul(2027, 1, 21, 19, 0)


# --- the web application in process -----------------------------------------------------------


class Served:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.base + path, timeout=10, **kwargs)


@pytest.fixture
async def served(store: Store, tmp_path: Path) -> AsyncIterator[Served]:
    settings = Settings(
        data_dir=tmp_path / "data",
        web={"port": 1, "token": TOKEN},
    )
    from crawlers.registry import discover

    known = {name: cls for name, cls in discover().items() if name in ("interpark", "melon")}
    ctx = app.web_context(settings, store, known, ["interpark", "melon"], None, FakeClock(NOW))
    runner = web.AppRunner(build_app(ctx), access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    yield Served(f"http://127.0.0.1:{port}")
    await runner.cleanup()


async def test_token_is_required_everywhere_by_header_or_query(served: Served) -> None:
    for path in ("/", "/calendar.ics", "/api/upcoming.json", "/healthz", "/metrics", "/nosuch"):
        plain = await _get(served, path)
        assert plain.status_code == 401, path
        assert plain.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in plain.text
    for wrong in (TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "Bearer"):
        assert (await _get(served, "/", headers={"Authorization": f"Bearer {wrong}"})).status_code == 401
        assert (await _get(served, f"/?token={wrong}")).status_code == 401
    assert (await _get(served, "/?token=")).status_code == 401
    assert (await _get(served, "/", headers={"Authorization": TOKEN})).status_code == 401  # not Bearer
    ok = await _get(served, "/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and "아이유 콘서트" in ok.text and TOKEN not in ok.text
    assert "script-src 'nonce-" in ok.headers["Content-Security-Policy"]
    assert ok.headers["Referrer-Policy"] == "no-referrer"
    assert (await _get(served, f"/api/upcoming.json?token={TOKEN}")).status_code == 200


def test_token_compare_is_constant_time_for_any_length() -> None:
    assert token_ok(TOKEN, TOKEN)
    for wrong in (None, "", TOKEN[:-1], TOKEN + "x", "x" * 1000):
        assert not token_ok(wrong, TOKEN)


async def _get(served: Served, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(served.base + path, **kwargs)


async def test_json_filters_bad_parameters_health_and_metrics(served: Served) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    doc = (await _get(served, "/api/upcoming.json?q=아이유콘서트", headers=auth)).json()
    assert doc["count"] == 1 and doc["notices"][0]["id"] == "a"
    a = doc["notices"][0]
    assert a["open_at"] == "2027-01-20T20:00:00+09:00" and a["exclusive"] is True
    assert [s["name"] for s in a["sales"]] == ["팬클럽 선예매", "일반 예매"]
    assert (await _get(served, "/api/upcoming.json?days=5", headers=auth)).json()["count"] == 2
    for bad in ("site=nosuch", "route=nosuch", "days=abc", "days=0"):
        answer = await _get(served, f"/api/upcoming.json?{bad}", headers=auth)
        assert answer.status_code == 400, bad
        assert bad.split("=")[1] in answer.text
    ics = await _get(served, "/calendar.ics", headers=auth)
    assert ics.headers["Content-Type"].startswith("text/calendar")
    assert len(list(Calendar.from_ical(ics.content).walk("VEVENT"))) == 4
    melon = await _get(served, "/calendar.ics?site=melon", headers=auth)
    assert len(list(Calendar.from_ical(melon.content).walk("VEVENT"))) == 0
    assert (await _get(served, "/calendar.ics?site=nosuch", headers=auth)).status_code == 400
    health = await _get(served, "/healthz", headers=auth)  # nobody holds the lock: daemon not running
    assert health.status_code == 503
    assert health.json()["status"] == "CRITICAL"
    assert any(c["name"] == "daemon" and c["status"] == "CRITICAL" for c in health.json()["checks"])
    assert (await _get(served, "/metrics", headers=auth)).status_code == 404  # no metrics object here


# --- the real daemon ------------------------------------------------------------------------------


def events(base: str) -> dict[str, Any]:
    cal = Calendar.from_ical(httpx.get(f"{base}/calendar.ics", timeout=10).content)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def test_daemon_serves_a_calendar_stable_across_restarts_and_moves_a_changed_open(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, daemons: list[DaemonProcess]
) -> None:
    notices.add(2)
    notices.update("1", presales=[{"name": "선예매", "at": "2027-11-30T20:00:00"}], venue="KSPO DOME")
    notices.add(1, prefix="미정")
    notices.update("3", open_at=None)
    port = free_port()
    config = write_config(
        tmp_path,
        stand_config(tmp_path, site, None, change_confirm_cycles=0, web={"port": port}),
    )
    base = f"http://127.0.0.1:{port}"
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    d.wait_log("status page: http://127.0.0.1")
    keep_alive = httpx.Client(base_url=base, timeout=10)  # an open connection must not delay the stop
    assert keep_alive.get("/api/upcoming.json").status_code == 200
    first, second = events(base), events(base)
    assert set(first) == set(second) and len(first) == 3  # 1: presale + open, 2: open, 3 (TBA): none
    with pytest.raises(httpx.ConnectError):  # bound to 127.0.0.1 only, no token needed there
        httpx.get(f"http://127.0.0.2:{port}/", timeout=2)
    health = httpx.get(f"{base}/healthz", timeout=10)
    assert health.status_code in (200, 503) and health.json()["status"] in ("OK", "WARNING", "CRITICAL")
    assert any(c["name"] == "daemon" and c["status"] == "OK" for c in health.json()["checks"])
    metrics = httpx.get(f"{base}/metrics", timeout=10).text
    assert 'ticket_alarm_crawls_total{site="teststand"}' in metrics
    code, seconds = d.terminate()
    keep_alive.close()
    assert code == 0 and seconds < 10

    notices.update("2", open_at="2027-12-24T19:00:00")
    again = DaemonProcess(config, tmp_path, "again")
    daemons.append(again)
    again.wait_log("크롤링 완료: teststand")
    after = events(base)
    assert set(after) == set(first)  # the same UIDs: calendar apps update, never duplicate
    moved = [uid for uid in after if after[uid]["DTSTART"].dt != first[uid]["DTSTART"].dt]
    assert len(moved) == 1
    assert after[moved[0]]["DTSTART"].dt == datetime(2027, 12, 24, 19, 0, tzinfo=SEOUL)
    assert str(after[sale_uid(Ticket("teststand", "1", "", "").key, "선예매")]["LOCATION"]) == "KSPO DOME"
    code, seconds = again.terminate()
    assert code == 0 and seconds < 10


# --- the `upcoming` command and display-width tables -------------------------------------------------


def test_upcoming_command_table_json_filters_and_bad_names(here: Here, tmp_path: Path) -> None:
    # the stand-in site's plugin is on the CLI's PYTHONPATH (child_env), so `teststand` is a known site
    config_path = write_config(tmp_path, {"data_dir": str(tmp_path / "data")})
    now = datetime.now(UTC)
    soon, later = now + timedelta(days=2), now + timedelta(days=40)

    async def seeded() -> None:
        store = SqliteStore.open_dir(tmp_path / "data")
        try:
            await seed(
                store,
                [
                    notice("k1", title="아이유 콘서트 티켓 오픈", open_at=soon.astimezone(SEOUL)),
                    notice("k2", title="Rock Festival 2027", open_at=later.astimezone(SEOUL), venue="잠실"),
                ],
                now,
            )
        finally:
            await store.close()

    asyncio.run(seeded())
    table = here("upcoming", "--config", str(config_path))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].startswith("NEXT SALE (KST)") and "2 upcoming open(s)" in lines[-1]
    assert "일반 예매" in next(line for line in lines if "아이유" in line)  # which sale the time is
    rows = [lines[0], *[line for line in lines if "k1" in line or "아이유" in line or "Rock" in line]]
    starts = {width(line[: line.index("SITE" if i == 0 else "테스트")]) for i, line in enumerate(rows)}
    assert len(starts) == 1  # the SITE column starts at one display column on every line
    titles = {
        width(line[: line.index(key)]) for line, key in zip(rows, ("TITLE", "아이유", "Rock"), strict=True)
    }
    assert len(titles) == 1
    doc = json.loads(here("upcoming", "--json", "--days", "7", "--config", str(config_path)).stdout)
    assert [n["id"] for n in doc["notices"]] == ["k1"] and doc["filters"]["days"] == 7
    assert (
        json.loads(here("upcoming", "--json", "--site", "teststand", "--config", str(config_path)).stdout)[
            "count"
        ]
        == 2
    )
    bad = here("upcoming", "--site", "nosuch", "--config", str(config_path))
    assert bad.returncode == 2 and "nosuch" in bad.stderr and "Traceback" not in bad.stderr
    bad_route = here("upcoming", "--route", "concerts", "--config", str(config_path))
    assert bad_route.returncode == 2 and "concerts" in bad_route.stderr
    bad_days = here("upcoming", "--days", "-3", "--config", str(config_path))
    assert bad_days.returncode == 2 and "-3" in bad_days.stderr
    fresh = write_config(tmp_path, {"data_dir": str(tmp_path / "never-crawled")}, "fresh.json")
    empty = here("upcoming", "--config", str(fresh))
    assert empty.returncode == 0 and "no upcoming opens" in empty.stdout and "no store yet" in empty.stderr
    assert not (tmp_path / "never-crawled").exists()  # a read-only command creates nothing


def test_web_token_is_checked_masked_and_kept_out_of_logs(tmp_path: Path) -> None:
    short = write_config(tmp_path, {"web": {"port": 8080, "token": "short"}}, "short.json")
    refused = run_cli("check-config", "--config", str(short))
    assert refused.returncode == 2 and "web.token" in refused.stderr and "12" in refused.stderr
    assert "Traceback" not in refused.stderr
    good = write_config(tmp_path, {"web": {"port": 8080, "token": TOKEN}}, "good.json")
    shown = run_cli("check-config", "--config", str(good))
    assert shown.returncode == 0, shown.stderr
    effective, _end = json.JSONDecoder().raw_decode(shown.stdout)  # the "valid" log line follows it
    assert effective["web"] == {"port": 8080, "host": "127.0.0.1", "token": "****"}
    assert TOKEN not in shown.stdout + shown.stderr
    assert TOKEN in Settings(web={"token": TOKEN}).secrets()  # the log redactor hides it everywhere


def test_token_compare_takes_as_long_whatever_the_first_wrong_character() -> None:
    """No timing shortcut: a guess right up to its last character costs what a wrong first one costs.

    A plain ``==`` stops at the first differing byte; over a 2 MB token that is >100× apart. The
    hashed compare takes the same time for both (ratio ~1); the bound of 3× leaves room for noise.
    """
    import time

    secret = "k" * 2_000_000
    late, early = secret[:-1] + "x", "x" + secret[1:]

    def cost(guess: str) -> float:
        started = time.perf_counter()
        for _ in range(5):
            assert not token_ok(guess, secret)
        return time.perf_counter() - started

    late_runs, early_runs = [], []
    for _ in range(7):  # interleaved, so load on the machine hits both alike
        late_runs.append(cost(late))
        early_runs.append(cost(early))
    late_runs.sort()
    early_runs.sort()
    ratio = late_runs[3] / early_runs[3]
    assert 1 / 3 < ratio < 3, (late_runs, early_runs)


async def test_page_escapes_scraped_text_and_drops_non_http_links(tmp_path: Path) -> None:
    store = SqliteStore.open_dir(tmp_path / "data")
    try:
        await seed(
            store,
            [
                notice(
                    "x",
                    title='<script>alert(1)</script> "공연" & <b>',
                    venue="<img src=x onerror=alert(1)>",
                    booking_url="javascript:alert(1)",
                )
            ],
        )
        settings = Settings(data_dir=tmp_path / "data")
        html = await render_page(app.web_context(settings, store, {}, ["teststand"], None, FakeClock(NOW)))
    finally:
        await store.close()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &quot;공연&quot; &amp; &lt;b&gt;" in html
    assert "<img src=x" not in html and "javascript:" not in html
    assert html.count("<script") == 1  # the page's own, with its nonce


async def test_page_shows_site_status_outbox_and_recent_alerts(tmp_path: Path) -> None:
    from ticket_alarm.store import NewOutboxRow

    now = NOW.timestamp()
    store = SqliteStore.open_dir(tmp_path / "data")
    try:
        await seed(store, [notice("s1")])
        await store.save_site_state(
            SiteState(
                "melon",
                True,
                last_attempt=now - 30,
                last_success=now - 7200,
                failure_streak=3,
                last_error="HTTP 423 Locked",
                last_invalid=2,
                locked_until=now + 1800,
            )
        )
        await store.enqueue(
            [NewOutboxRow("콘서트", "new", "teststand", notice("s1").key, {"title": "t"}) for _ in range(3)],
            now - 600,
        )
        first, second, _third = (r.id for r in await store.outbox_list())
        await store.settle([first], Sent("m1"), now - 500)
        await store.settle([second], Dead("HTTP 400"), 0.0)
        from crawlers.registry import discover

        known = {"melon": discover()["melon"]}
        settings = Settings(data_dir=tmp_path / "data")
        html = await render_page(app.web_context(settings, store, known, ["melon"], None, FakeClock(NOW)))
    finally:
        await store.close()
    status = html[html.index("사이트 상태") : html.index("알림 대기열")]
    assert "멜론티켓" in status and "30초 전" in status and "2시간 0분 전" in status
    assert "3회" in status and "2건" in status and "12:30까지 쉼" in status and "HTTP 423 Locked" in status
    outbox = html[html.index("알림 대기열") : html.index("최근 알림")]
    assert '<b id="pending">1</b>' in outbox and ">1</b></div></div>" in outbox and "10분" in outbox
    alerts = html[html.index("최근 알림") :]
    assert alerts.count("공연 s1 티켓 오픈 안내") == 3 and "콘서트" in alerts
    assert "전송됨" in alerts and "실패(전송 불가)" in alerts and "대기 중" in alerts


async def test_store_failure_is_a_503_and_a_taken_port_leaves_the_daemon_running(tmp_path: Path) -> None:
    from loguru import logger

    from ticket_alarm.web.server import serve_web

    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{level} {message}")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    store = SqliteStore.open_dir(tmp_path / "data")
    try:
        busy = Settings(data_dir=tmp_path / "data", web={"port": port})
        async with serve_web(app.web_context(busy, store, {}, [], None, FakeClock(NOW))) as runner:
            assert runner is None
        assert any("status page not started" in line and "web.port" in line for line in lines), lines

        free = Settings(data_dir=tmp_path / "data", web={"port": free_port()})
        async with serve_web(app.web_context(free, store, {}, [], None, FakeClock(NOW))) as runner:
            assert runner is not None
            base = f"http://127.0.0.1:{free.web.port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                assert (await client.get("/")).status_code == 200
                await store.close()  # the store goes away under the page
                broken = await client.get("/")
                assert broken.status_code == 503 and "store unavailable" in broken.text
                assert (await client.get("/nosuch")).status_code == 404
        assert any("web: / failed" in line for line in lines), lines
        assert not any("Traceback" in line for line in lines)
    finally:
        logger.remove(sink)
        taken.close()


def test_page_connection_cap_leaves_descriptors_for_crawls_and_the_daemon_raises_its_limit() -> None:
    """Issue 20: the page holds at most half of what the descriptor limit leaves after the reserve,
    and ``run`` raises its soft limit toward the hard one first (1,024 soft / 4,096 hard → 4,096)."""
    assert (
        page_connections(1024) == 256
        and page_connections(600) == 172
        and page_connections(300) == 22
        and page_connections(260) == 8
    )
    assert page_connections(1 << 20) == MAX_PAGE_CONNECTIONS
    script = (
        "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 4096)); "
        "from ticket_alarm.daemon.process import raise_fd_limit; print(raise_fd_limit(), "
        "resource.getrlimit(resource.RLIMIT_NOFILE)); "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512)); print(raise_fd_limit())"
    )
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip(f"the hard descriptor limit here is {hard}")
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split("\n")[:2] == ["(1024, 4096) (4096, 4096)", "(512, 512)"], done.stdout


@pytest.mark.usefixtures("clean_env")  # tests/support/inprocess.py
async def test_the_site_table_never_shows_the_last_attempt_older_than_the_last_success(
    tmp_path: Path,
) -> None:
    now = datetime(2027, 1, 10, 3, 0, tzinfo=UTC)
    store = SqliteStore.open_dir(tmp_path / "data")
    try:
        # a sweep is stamped when it starts (attempt) and when it ends (success), four minutes later
        await store.save_site_state(
            SiteState("melon", True, last_attempt=now.timestamp() - 600, last_success=now.timestamp() - 360)
        )
        known = {"melon": discover()["melon"]}
        settings = Settings(data_dir=tmp_path / "data", interval=600)
        html = await render_page(app.web_context(settings, store, known, ["melon"], None, FakeClock(now)))
    finally:
        await store.close()
    row = html[html.index('<tbody id="sites">') :].split("</tr>", 1)[0]
    assert re.findall(r"<td>([^<]*)</td>", row)[:2] == ["6분 전", "6분 전"]
    assert 'class="health ok"' in html and "모든 사이트 정상 (1곳)" in html
