"""The health check: each check on a real SQLite store (FakeClock, a fake machine), then the real
command against the real daemon, the stand-in Discord and the cron wrapper."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from crawlers import registry
from crawlers.base import Crawler
from tests.conftest import ROOT, DaemonProcess, child_env, run_cli, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm import app
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.settings import Settings
from ticket_alarm.ops import health
from ticket_alarm.store import DB_NAME, InstanceLock, NewOutboxRow, SiteState, Store
from ticket_alarm.store.api import Dead
from ticket_alarm.store.sqlite.backend import SqliteStore

HEALTH_CHECK = ROOT / "deploy" / "health_check.sh"
OPS_ID = "223456789012345678"


class FakeMachine:
    def __init__(self, cpu: float = 10, memory: float = 20, disk: float = 30, free: int = 10 * 1024**3):
        self.cpu, self.memory, self.disk, self.free = cpu, memory, disk, free

    def cpu_percent(self) -> float:
        return self.cpu

    def memory_percent(self) -> float:
        return self.memory

    def disk_usage(self, path: Path) -> tuple[float, int]:
        return (self.disk, self.free)

    def process_rss_mb(self, pid: int) -> float | None:
        return 42.0


@pytest.fixture
def known() -> dict[str, type[Crawler]]:
    return registry.discover(include_plugins=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def settings_for(tmp_path: Path, **extra: Any) -> Settings:
    data: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "interval": 300,
        "sites": {
            "interpark": {"enabled": True},
            **{s: {"enabled": False} for s in ("yes24", "melon", "ticketlink")},
        },
        "discord_webhook_url": "http://127.0.0.1:9/api/webhooks/123456789012345678/tokenTOKENtoken",
    }
    data.update(extra)
    return Settings(**data)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = SqliteStore.open_dir(tmp_path / "data")
    yield s
    await s.close()


@pytest.fixture
def lock(tmp_path: Path) -> Iterator[InstanceLock]:
    held = InstanceLock(tmp_path / "data")
    held.acquire()  # this process plays the daemon: held_by_other sees the flock from another fd
    yield held
    held.release()


async def healthy(store: Store, clock: FakeClock) -> None:
    now = clock.now().timestamp()
    await store.set_meta("heartbeat", f"{now - 20:.3f}")
    await store.save_site_state(
        SiteState("interpark", initialized=True, last_attempt=now - 60, last_success=now - 60, last_count=120)
    )


async def check(
    settings: Settings, known: dict[str, type[Crawler]], clock: FakeClock, **kw: Any
) -> health.Report:
    probe_status = kw.pop("probe_status", 200)

    async def probe(url: str) -> int | None:
        return probe_status

    return await health.collect(
        settings,
        known,
        open_store=app.store_opener(settings, readonly=True),
        clock=clock,
        system=kw.pop("system", FakeMachine()),
        probe=probe,
        **kw,
    )


def by_name(report: health.Report) -> dict[str, health.Check]:
    return {c.name: c for c in report.checks}


async def test_healthy_setup_is_ok(
    tmp_path: Path, store: Store, lock: InstanceLock, known: Any, clock: FakeClock
) -> None:
    await healthy(store, clock)
    report = await check(settings_for(tmp_path), known, clock)
    assert report.status == "OK", report.lines()
    assert report.exit_code == 0
    checks = by_name(report)
    assert {
        "config",
        "daemon",
        "site:interpark",
        "outbox",
        "dead_letters",
        "webhook:default",
        "cpu",
        "memory",
        "disk:data_dir",
    } <= set(checks)
    assert f"pid {os.getpid()}" in checks["daemon"].detail and "RSS 42.0 MB" in checks["daemon"].detail
    assert checks["site:interpark"].detail == "last sweep 60s ago, 120 notices, no head poll yet"
    assert "tokenTOKENtoken" not in json.dumps(report.to_json())  # webhook tokens masked
    assert report.lines()[0] == f"OK overall: all {len(report.checks)} checks OK"
    assert all(line.split(" ", 1)[0] in ("OK", "WARNING", "CRITICAL", "UNKNOWN") for line in report.lines())


async def test_daemon_not_running_or_hung_is_critical(
    tmp_path: Path, store: Store, known: Any, clock: FakeClock
) -> None:
    await healthy(store, clock)
    report = await check(settings_for(tmp_path), known, clock)
    assert report.status == "CRITICAL"
    assert by_name(report)["daemon"].detail.startswith("not running")
    held = InstanceLock(tmp_path / "data")
    held.acquire()
    try:
        await store.set_meta("heartbeat", f"{clock.now().timestamp() - 601:.3f}")  # 2 × interval 300 = 600 s
        report = await check(settings_for(tmp_path), known, clock)
        assert by_name(report)["daemon"].status == "CRITICAL" and "hung" in by_name(report)["daemon"].detail
        await store.set_meta("heartbeat", f"{clock.now().timestamp() - 599:.3f}")
        assert by_name(await check(settings_for(tmp_path), known, clock))["daemon"].status == "OK"
    finally:
        held.release()


async def test_site_problems_are_warnings(
    tmp_path: Path, store: Store, lock: InstanceLock, known: Any, clock: FakeClock
) -> None:
    await healthy(store, clock)
    now = clock.now().timestamp()
    settings = settings_for(tmp_path, health={"failure_streak_warn": 3})
    cases = [
        (
            SiteState("interpark", True, now, now - 60, now, failure_streak=2, last_error="HTTP 500"),
            "OK",
            "2 recent",
        ),
        (
            SiteState("interpark", True, now, now - 900, now, failure_streak=3, last_error="HTTP 500"),
            "WARNING",
            "3 failed crawls in a row (last error: HTTP 500)",
        ),
        (
            SiteState("interpark", True, now, now - 60, empty_streak=3, last_count=0),
            "WARNING",
            "3 crawls in a row found zero notices",
        ),
        (
            SiteState("interpark", True, now, now - 60, last_count=40, last_invalid=2),
            "WARNING",
            "2 notice(s) skipped as invalid",
        ),
        (
            SiteState("interpark", True, now, now - 60, now, failure_streak=1, locked_until=now + 1800),
            "WARNING",
            "locked this client (HTTP 423)",
        ),
        (
            SiteState("interpark", True, now - 1500, now - 1500, last_count=40),
            "WARNING",
            "no successful crawl for 25m",
        ),
        (  # a site that never worked: WARNING from its first failure, not "OK, 1 recent failure"
            SiteState("interpark", False, now, None, now, failure_streak=1, last_error="HTTP 503"),
            "WARNING",
            "never crawled successfully: 1 failed crawl(s) (last error: HTTP 503)",
        ),
    ]
    for state, status, phrase in cases:
        await store.save_site_state(state)
        site = by_name(await check(settings, known, clock))["site:interpark"]
        assert (site.status, phrase in site.detail) == (status, True), (state, site)


async def test_a_renumbering_storm_is_a_warning_for_a_day(
    tmp_path: Path, store: Store, lock: InstanceLock, known: Any, clock: FakeClock
) -> None:
    await healthy(store, clock)
    settings = settings_for(tmp_path)
    now = clock.now().timestamp()
    assert by_name(await check(settings, known, clock))["site:interpark"].status == "OK"
    await store.set_meta(
        "storm:interpark", json.dumps({"at": now - 600, "held": 140, "new": 141, "threshold": 30})
    )
    site = by_name(await check(settings, known, clock))["site:interpark"]
    assert site.status == "WARNING" and "140 of 141 new notices held 10m ago as a renumbering" in site.detail
    clock.advance(25 * 3600)
    await healthy(store, clock)
    assert by_name(await check(settings, known, clock))["site:interpark"].status == "OK"


async def test_empty_streak_is_fine_for_a_site_that_may_list_nothing(
    tmp_path: Path, store: Store, lock: InstanceLock, clock: FakeClock, plugin_on_path: None
) -> None:
    known = registry.discover()
    assert known["teststand"].usual_minimum == 0
    await healthy(store, clock)
    now = clock.now().timestamp()
    await store.save_site_state(SiteState("teststand", True, now, now - 60, empty_streak=9, last_count=0))
    settings = settings_for(tmp_path, sites={"teststand": {"enabled": True}, "interpark": {"enabled": False}})
    assert by_name(await check(settings, known, clock))["site:teststand"].status == "OK"


async def test_outbox_age_dead_letters_and_broken_webhook(
    tmp_path: Path, store: Store, lock: InstanceLock, known: Any, clock: FakeClock
) -> None:
    await healthy(store, clock)
    now = clock.now().timestamp()
    settings = settings_for(tmp_path, health={"outbox_age_warn": 600})
    await store.enqueue([NewOutboxRow("default", "new", "interpark", "k1", {"title": "a"})], now - 601)
    assert by_name(await check(settings, known, clock))["outbox"].status == "WARNING"
    await store.enqueue([NewOutboxRow("default", "new", "interpark", "k0", {"title": "b"})], now - 2401)
    outbox = by_name(await check(settings, known, clock))["outbox"]
    assert outbox.status == "CRITICAL" and "2 alert(s) pending, the oldest for 40m" in outbox.detail
    await store.enqueue([NewOutboxRow("default", "new", "interpark", "k2", {"title": "c"})], now - 10)
    dead_id = (await store.outbox_list(status="pending"))[-1].id
    await store.settle([dead_id], Dead("HTTP 400: Invalid Form Body"), 0.0)
    dead = by_name(await check(settings, known, clock))["dead_letters"]
    assert dead.status == "WARNING" and "Invalid Form Body" in dead.detail
    clock.advance(25 * 3600)  # an old dead letter is history, not an alarm
    await store.set_meta("heartbeat", f"{clock.now().timestamp():.3f}")
    assert by_name(await check(settings, known, clock))["dead_letters"].status == "OK"
    await store.mark_webhook_broken("default", "HTTP 404: Unknown Webhook", now)
    hook = by_name(await check(settings, known, clock))["webhook:default"]
    assert hook.status == "CRITICAL" and "404" in hook.detail


async def test_a_broken_ntfy_topic_is_critical_until_its_token_or_url_changes(
    tmp_path: Path, store: Store, lock: InstanceLock, known: Any, clock: FakeClock
) -> None:
    from ticket_alarm.delivery.ntfy import ntfy_fingerprint

    await healthy(store, clock)
    url, token = "https://ntfy.sh/iu-alerts", "tk_abcdefghijklmnopqrstuvwxyz012"
    settings = settings_for(tmp_path, routes=[{"name": "iu", "ntfy_url": url, "ntfy_token": token}])
    probed: list[str] = []

    async def probe(target: str) -> int | None:
        probed.append(target)
        return 200

    opener = app.store_opener(settings, readonly=True)
    report = await health.collect(
        settings, known, open_store=opener, clock=clock, system=FakeMachine(), probe=probe
    )
    topic = by_name(report)
    assert topic["ntfy:iu"].status == "OK" and url not in probed  # never probed: no publish, no read
    print_ = ntfy_fingerprint(url, token)
    await store.mark_webhook_broken("iu/ntfy", "HTTP 403: forbidden", clock.now().timestamp(), print_)
    broken = by_name(await check(settings, known, clock))["ntfy:iu"]
    assert broken.status == "CRITICAL" and "403" in broken.detail and token not in broken.detail
    fixed = settings_for(tmp_path, routes=[{"name": "iu", "ntfy_url": url, "ntfy_token": token[:-1] + "3"}])
    assert by_name(await check(fixed, known, clock))["ntfy:iu"].status == "OK"  # a new token: a stale mark


async def test_a_broken_telegram_chat_is_critical_and_its_bot_token_never_shows(
    tmp_path: Path, store: Store, lock: InstanceLock, known: Any, clock: FakeClock
) -> None:
    from ticket_alarm.delivery.telegram import telegram_fingerprint

    await healthy(store, clock)
    bot = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    settings = settings_for(
        tmp_path, routes=[{"name": "tg", "telegram": {"bot_token": bot, "chat_id": "@fans"}}]
    )
    assert by_name(await check(settings, known, clock))["telegram:tg"].status == "OK"
    print_ = telegram_fingerprint("https://api.telegram.org", bot, "@fans")
    await store.mark_webhook_broken(
        "tg/telegram", "HTTP 403: bot was blocked", clock.now().timestamp(), print_
    )
    report = await check(settings, known, clock)
    assert (
        by_name(report)["telegram:tg"].status == "CRITICAL"
        and "blocked" in by_name(report)["telegram:tg"].detail
    )
    assert bot.split(":")[1] not in json.dumps(report.to_json())


async def test_webhook_probe_answers(
    tmp_path: Path, store: Store, lock: InstanceLock, known: Any, clock: FakeClock
) -> None:
    await healthy(store, clock)
    settings = settings_for(tmp_path)
    for status, expected in (
        (200, "OK"),
        (404, "CRITICAL"),
        (401, "CRITICAL"),
        (None, "WARNING"),
        (500, "WARNING"),
    ):
        report = await check(settings, known, clock, probe_status=status)
        assert by_name(report)["webhook:default"].status == expected, status
    dry = settings_for(tmp_path, discord_webhook_url=None)
    assert by_name(await check(dry, known, clock))["webhooks"].status == "WARNING"


async def test_machine_thresholds(
    tmp_path: Path, store: Store, lock: InstanceLock, known: Any, clock: FakeClock
) -> None:
    await healthy(store, clock)
    settings = settings_for(tmp_path, log_dir=str(tmp_path / "logs"))
    (tmp_path / "logs").mkdir()
    report = await check(settings, known, clock, system=FakeMachine(cpu=95, memory=90, disk=90))
    checks = by_name(report)
    assert [checks[n].status for n in ("cpu", "memory", "disk:data_dir", "disk:log_dir")] == ["WARNING"] * 4
    assert report.status == "WARNING" and report.exit_code == 1
    report = await check(settings, known, clock, system=FakeMachine(free=10 * 1024 * 1024))
    assert by_name(report)["disk:data_dir"].status == "CRITICAL"
    missing_logs = settings_for(tmp_path, log_dir=str(tmp_path / "no-logs"))
    assert by_name(await check(missing_logs, known, clock))["disk:log_dir"].status == "CRITICAL"
    assert not (tmp_path / "no-logs").exists()


async def test_no_data_dir_is_unknown_and_nothing_is_created(
    tmp_path: Path, known: Any, clock: FakeClock
) -> None:
    settings = settings_for(tmp_path, data_dir=str(tmp_path / "fresh"))
    report = await check(settings, known, clock, system=FakeMachine(cpu=99))
    assert report.status == "UNKNOWN" and report.exit_code == 3
    assert "does not exist yet" in by_name(report)["data_dir"].detail
    assert not (tmp_path / "fresh").exists()
    (tmp_path / "fresh").mkdir()
    report = await check(settings, known, clock)
    assert report.status == "UNKNOWN" and DB_NAME in by_name(report)["data_dir"].detail
    assert list((tmp_path / "fresh").iterdir()) == []


async def test_the_check_writes_nothing_into_the_data_dir(
    tmp_path: Path, known: Any, clock: FakeClock
) -> None:
    store = SqliteStore.open_dir(tmp_path / "data")
    await healthy(store, clock)
    await store.close()  # no daemon: no -wal file; a read-only WAL open must not create one
    before = sorted(p.name for p in (tmp_path / "data").iterdir())
    report = await check(settings_for(tmp_path), known, clock)
    assert by_name(report)["daemon"].status == "CRITICAL"
    assert by_name(report)["site:interpark"].status == "OK"
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == before


async def test_a_foreign_file_is_critical_not_a_traceback(
    tmp_path: Path, known: Any, clock: FakeClock
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    report = await check(settings_for(tmp_path), known, clock)
    assert by_name(report)["store"].status == "CRITICAL" and "restore" in by_name(report)["store"].detail


def test_severity_order_follows_monitoring_plugins() -> None:
    report = health.Report()
    report.add("a", "UNKNOWN", "x")
    report.add("b", "OK", "y")
    assert report.status == "UNKNOWN"
    report.add("c", "WARNING", "z")
    assert report.status == "WARNING"
    report.add("d", "CRITICAL", "w")
    assert (report.status, report.exit_code) == ("CRITICAL", 2)


# --- the command ------------------------------------------------------------------------------


def test_invalid_config_is_unknown_with_the_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "config.json"
    bad.write_text('{"interval": 300,}', encoding="utf-8")
    done = run_cli("health", "--json", "--config", str(bad), cwd=tmp_path)
    assert done.returncode == 3
    doc = json.loads(done.stdout)
    assert doc["status"] == "UNKNOWN" and "invalid JSON" in doc["checks"][0]["detail"]
    assert "Traceback" not in done.stderr
    wrong = write_config(tmp_path, {"intervall": 5}, "wrong.json")
    done = run_cli("health", "--config", str(wrong), cwd=tmp_path)
    assert (
        done.returncode == 3 and "UNKNOWN config:" in done.stdout and "intervall: unknown key" in done.stdout
    )


def test_missing_data_dir_is_unknown(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"data_dir": str(tmp_path / "nowhere")})
    done = run_cli("health", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "UNKNOWN data_dir: data_dir" in done.stdout and "does not exist yet" in done.stdout
    assert not (tmp_path / "nowhere").exists()
    assert "Traceback" not in done.stderr


def _config(tmp_path: Path, site: FakeSite, webhook: str | None, **extra: Any) -> Path:
    config = stand_config(tmp_path, site, webhook, **extra)
    config["health"] = {"cpu_warn": 100, "memory_warn": 100, "disk_warn": 100, **config.get("health", {})}
    return write_config(tmp_path, config)


def test_health_against_the_real_daemon_with_notify(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    webhook = discord.add_webhook()
    ops = discord.add_webhook(OPS_ID)
    notices.add(2)
    config = _config(tmp_path, site, webhook, health={"ops_webhook_url": ops})
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")

    done = run_cli("health", "--json", "--notify", "--config", str(config), cwd=tmp_path)
    doc = json.loads(done.stdout)  # exactly one JSON document on stdout
    assert done.returncode == 0, doc
    assert doc["status"] == "OK" and {c["status"] for c in doc["checks"]} == {"OK"}
    names = [c["name"] for c in doc["checks"]]
    assert names[:3] == ["config", "daemon", "site:teststand"]
    assert {
        "webhook:default",
        "webhook:ops",
        "outbox",
        "dead_letters",
        "cpu",
        "memory",
        "disk:data_dir",
    } <= set(names)
    assert discord.messages == []  # probes are GETs; an unchanged OK state posts nothing
    assert not (tmp_path / "data" / health.STATE_FILE).exists()

    assert d.terminate()[0] == 0
    for _ in range(2):  # CRITICAL twice: the ops channel hears it once
        done = run_cli("health", "--notify", "--config", str(config), cwd=tmp_path)
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stdout.startswith("CRITICAL overall:") and "CRITICAL daemon: not running" in done.stdout
    assert len(discord.embeds(OPS_ID)) == 1 and discord.embeds("123456789012345678") == []
    embed = discord.embeds(OPS_ID)[0]
    assert embed["title"] == "ticket-alarm 상태: CRITICAL (이전: OK)" and "daemon" in embed["description"]
    state = json.loads((tmp_path / "data" / health.STATE_FILE).read_text(encoding="utf-8"))
    assert state["status"] == "CRITICAL"

    d2 = DaemonProcess(config, tmp_path, "daemon2")
    daemons.append(d2)
    d2.wait_log("크롤링 완료: teststand")
    done = run_cli("health", "--notify", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stdout
    assert [e["title"] for e in discord.embeds(OPS_ID)][-1] == "ticket-alarm 상태: OK (이전: CRITICAL)"
    token = ops.rsplit("/", 1)[1]
    assert token not in done.stdout + done.stderr

    # the cron wrapper passes the output and the exit code through
    wrapped = subprocess.run(
        [
            "bash",
            str(HEALTH_CHECK),
            "--config",
            str(config),
            "--python",
            sys.executable,
            "--no-probe",
            "--log",
            str(tmp_path / "health.log"),
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )
    assert wrapped.returncode == 0 and wrapped.stdout.startswith("OK overall:"), (
        wrapped.stdout + wrapped.stderr
    )
    assert "(not probed)" in wrapped.stdout
    logged = (tmp_path / "health.log").read_text(encoding="utf-8")
    assert logged.count("OK overall:") == 1 and logged[:4].isdigit()
    assert d2.terminate()[0] == 0
    wrapped = subprocess.run(
        ["bash", str(HEALTH_CHECK), "--config", str(config), "--python", sys.executable, "--no-probe"],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )
    assert wrapped.returncode == 2 and "CRITICAL daemon: not running" in wrapped.stdout


def test_health_check_wrapper_reports_unknown_when_it_cannot_run(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(HEALTH_CHECK), "--python", str(tmp_path / "no-python")],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=30,
    )
    assert done.returncode == 3 and done.stdout.startswith("UNKNOWN health_check: python")
    config = write_config(tmp_path, {"data_dir": str(tmp_path / "d")})
    done = subprocess.run(
        ["bash", str(HEALTH_CHECK), "--config", str(config), "--python", sys.executable, "--timeout", "0.01"],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=30,
    )
    assert done.returncode == 3 and "UNKNOWN health_check: no answer within 0.01s" in done.stdout


async def test_head_polls_off_or_not_succeeding_for_three_head_intervals_are_warnings(
    tmp_path: Path, store: Store, lock: InstanceLock, known: Any, clock: FakeClock
) -> None:
    from ticket_alarm.store import HeadState

    await healthy(store, clock)
    now = clock.now().timestamp()
    sites = {
        "yes24": {"enabled": True},
        **{s: {"enabled": False} for s in ("interpark", "melon", "ticketlink")},
    }
    await store.save_site_state(SiteState("yes24", True, now - 60, now - 60, last_count=40))
    # off said explicitly for a site that can poll its newest page: new notices wait for the sweep
    for off in (0, False):
        sites["yes24"]["head_interval"] = off
        site = by_name(await check(settings_for(tmp_path, sites=sites), known, clock))["site:yes24"]
        assert site.status == "WARNING" and site.detail.startswith("head polls off: new notices wait"), site
    # a site's null (config.example.json) takes the top-level 30 s: on, and OK while they succeed
    sites["yes24"]["head_interval"] = None
    await store.save_head_state(HeadState("yes24", last_attempt=now - 10, last_success=now - 89))
    site = by_name(await check(settings_for(tmp_path, sites=sites), known, clock))["site:yes24"]
    assert site.status == "OK" and "last head poll 89s ago" in site.detail, site
    # a 429 with Retry-After 120: paused, no failure streak, yet nothing succeeded for over 3 × 30 s
    await store.save_head_state(
        HeadState("yes24", last_attempt=now - 91, last_success=now - 91, paused_until=now + 29)
    )
    site = by_name(await check(settings_for(tmp_path, sites=sites), known, clock))["site:yes24"]
    assert site.status == "WARNING" and "head polls have not succeeded for 2m" in site.detail, site
    # the daemon stretched the gap for politeness (it says so in meta): 3 × that gap is the limit
    await store.set_meta("head_gap:yes24", "45")
    assert (
        by_name(await check(settings_for(tmp_path, sites=sites), known, clock))["site:yes24"].status == "OK"
    )
