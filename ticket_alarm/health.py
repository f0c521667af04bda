"""The companion health check (``python -m ticket_alarm health``): Nagios-style, read-only.

It opens the store read-only (``Store.open_readonly``: no instance lock, no migration, no file
created) and never creates the data directory. Exit codes follow the Nagios plugin API: 0 OK,
1 WARNING, 2 CRITICAL, 3 UNKNOWN. The overall state is the worst check, ordered like
monitoring-plugins' ``max_state_alt``: OK < UNKNOWN < WARNING < CRITICAL.

``--notify`` posts one small embed to ``health.ops_webhook_url`` when the overall state differs
from the last notified one (remembered in ``data_dir/health-state.json``); subscribers' webhooks
are only ever probed with a GET, never posted to.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import psutil
from loguru import logger

from crawlers.base import Crawler
from ticket_alarm import __version__
from ticket_alarm.clock import Clock, SystemClock
from ticket_alarm.config import Settings, mask_url
from ticket_alarm.daemon import HEARTBEAT_EVERY
from ticket_alarm.discord import WebhookClient, http_client, message
from ticket_alarm.errors import TicketAlarmError
from ticket_alarm.logs import redact, setup_logging
from ticket_alarm.model import SEOUL
from ticket_alarm.store import DB_NAME, InstanceLock, Store

OK, WARNING, CRITICAL, UNKNOWN = "OK", "WARNING", "CRITICAL", "UNKNOWN"
EXIT_CODES = {OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3}
_SEVERITY = {OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3}
STATE_FILE = "health-state.json"
EMPTY_STREAK_WARN = 3  # the pipeline warns in the log at the same count
OUTBOX_CRITICAL_FACTOR = 4  # oldest pending alert older than 4 × outbox_age_warn: CRITICAL
DEAD_LETTER_WINDOW = 24 * 3600.0  # dead letters younger than this make a WARNING
DISK_FREE_CRITICAL = 50 * 1024 * 1024  # bytes
PROBE_TIMEOUT = 10.0
COLORS = {OK: 0x2ECC71, WARNING: 0xF1C40F, CRITICAL: 0xE74C3C, UNKNOWN: 0x95A5A6}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str
    detail: str


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, status: str, detail: str) -> None:
        self.checks.append(Check(name, status, redact(detail)))

    @property
    def status(self) -> str:
        if not self.checks:
            return UNKNOWN
        return max((c.status for c in self.checks), key=_SEVERITY.__getitem__)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "checks": [asdict(c) for c in self.checks]}

    def summary(self) -> str:
        bad = [c for c in self.checks if c.status != OK]
        if not bad:
            return f"{OK} overall: all {len(self.checks)} checks OK"
        names = ", ".join(c.name for c in bad)
        return f"{self.status} overall: {len(bad)} of {len(self.checks)} checks not OK ({names})"

    def lines(self) -> list[str]:
        return [self.summary(), *(f"{c.status} {c.name}: {c.detail}" for c in self.checks)]


class System(Protocol):
    """What the check reads from the machine; tests pass a fake."""

    def cpu_percent(self) -> float: ...

    def memory_percent(self) -> float: ...

    def disk_usage(self, path: Path) -> tuple[float, int]:
        """(percent used, bytes free) of the file system holding ``path``."""
        ...

    def process_rss_mb(self, pid: int) -> float | None: ...


class PsutilSystem:
    def cpu_percent(self) -> float:
        return float(psutil.cpu_percent(interval=0.5))

    def memory_percent(self) -> float:
        return float(psutil.virtual_memory().percent)

    def disk_usage(self, path: Path) -> tuple[float, int]:
        usage = shutil.disk_usage(path)
        return (100.0 * usage.used / usage.total if usage.total else 0.0, usage.free)

    def process_rss_mb(self, pid: int) -> float | None:
        try:
            return psutil.Process(pid).memory_info().rss / (1024 * 1024)
        except (psutil.Error, OSError):
            return None


Probe = Callable[[str], Awaitable[int | None]]


def age_text(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f}m"
    hours = int(minutes // 60)
    if hours < 48:
        return f"{hours}h {int(minutes % 60)}m"
    return f"{hours // 24}d {hours % 24}h"


def _seoul(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).astimezone(SEOUL).strftime("%Y-%m-%d %H:%M KST")


def enabled_sites(settings: Settings, known: dict[str, type[Crawler]]) -> list[str]:
    return [name for name in known if settings.site(name).enabled]


async def collect(
    settings: Settings,
    known: dict[str, type[Crawler]],
    *,
    config_name: str = "config",
    clock: Clock | None = None,
    system: System | None = None,
    probe: Probe | None = None,
) -> Report:
    """Run every check. ``probe`` GETs a webhook URL (None: webhooks are not probed)."""
    clock = clock or SystemClock()
    system = system or PsutilSystem()
    now = clock.now().timestamp()
    report = Report()
    sites = enabled_sites(settings, known)
    routes = settings.effective_routes()
    report.add(
        "config",
        OK,
        f"{config_name} valid: {len(sites)} site(s) enabled ({', '.join(sites) or 'none'}), "
        + (f"{len(routes)} route(s)" if routes else "dry run (no webhook)"),
    )
    data_dir = settings.data_dir
    db_path = data_dir / DB_NAME
    if not data_dir.is_dir():
        report.add(
            "data_dir",
            UNKNOWN,
            f"data_dir {data_dir} does not exist yet: the daemon has not run with this config. Start it "
            "(supervisorctl start ticket-alarm:monitor) or fix data_dir in the config, then check again.",
        )
        return report
    if not db_path.is_file():
        report.add(
            "data_dir",
            UNKNOWN,
            f"no store in {data_dir} yet ({DB_NAME} is missing): the daemon has not started with this "
            "data_dir. Start it (supervisorctl start ticket-alarm:monitor), then check again.",
        )
        return report
    try:
        store = Store.open_readonly(db_path)
    except TicketAlarmError as exc:
        report.add("store", CRITICAL, str(exc))
        _system_checks(report, settings, system)
        return report
    try:
        _daemon_check(report, settings, sites, store, system, now)
        for name in sites:
            _site_check(report, settings, name, known[name], store, now)
        _outbox_checks(report, settings, store, now)
        await _webhook_checks(report, settings, store, probe)
    except TicketAlarmError as exc:
        report.add("store", CRITICAL, str(exc))
    finally:
        store.close()
    _system_checks(report, settings, system)
    return report


def _daemon_check(
    report: Report, settings: Settings, sites: Sequence[str], store: Store, system: System, now: float
) -> None:
    shortest = min((settings.site_interval(s) for s in sites), default=settings.interval)
    # the daemon beats after every crawl and every HEARTBEAT_EVERY seconds besides
    limit = max(2 * shortest, 2 * HEARTBEAT_EVERY)
    try:
        pid = InstanceLock.held_by_other(settings.data_dir)
    except OSError as exc:
        report.add("daemon", UNKNOWN, f"cannot read the lock file in {settings.data_dir}: {exc.strerror}")
        return
    raw = store.get_meta("heartbeat")
    beat: float | None = None
    with contextlib.suppress(TypeError, ValueError):
        beat = float(raw) if raw is not None else None
    beat_text = "no heartbeat yet" if beat is None else f"heartbeat {age_text(now - beat)} ago"
    if pid is None:
        logs = settings.log_dir or Path("/var/log/ticket-alarm")
        report.add(
            "daemon",
            CRITICAL,
            f"not running (nobody holds the data_dir lock; {beat_text}). Check "
            f"`supervisorctl status ticket-alarm:monitor` and {logs / 'monitor.err.log'}.",
        )
        return
    who = f"pid {pid}" if pid > 0 else "pid unknown"
    rss = system.process_rss_mb(pid) if pid > 0 else None
    rss_text = f", RSS {rss:.1f} MB" if rss is not None else ""
    if beat is None:
        report.add("daemon", WARNING, f"running ({who}) but {beat_text}: still starting?{rss_text}")
    elif now - beat > limit:
        report.add(
            "daemon",
            CRITICAL,
            f"running ({who}) but hung: {beat_text} (limit {age_text(limit)}); restart it: "
            f"supervisorctl restart ticket-alarm:monitor{rss_text}",
        )
    else:
        report.add("daemon", OK, f"running ({who}), {beat_text}{rss_text}")


def _site_check(
    report: Report, settings: Settings, name: str, crawler: type[Crawler], store: Store, now: float
) -> None:
    state = store.site_state(name)
    interval = settings.site_interval(name)
    warn_streak = settings.health.failure_streak_warn
    problems: list[str] = []
    facts: list[str] = []
    if state.last_attempt is None and state.last_success is None:
        report.add(f"site:{name}", OK, "not crawled yet")
        return
    if state.last_success is not None:
        facts.append(f"last success {age_text(now - state.last_success)} ago")
        if state.last_count is not None:
            facts.append(f"{state.last_count} notices")
    else:
        facts.append("never crawled successfully")
    locked = state.locked_until is not None and state.locked_until > now
    if locked:
        assert state.locked_until is not None
        problems.append(
            f"the site locked this client (HTTP 423): crawls resume at {_seoul(state.locked_until)} "
            f"(in {age_text(state.locked_until - now)})"
        )
    if state.failure_streak >= warn_streak:
        problems.append(
            f"{state.failure_streak} failed crawls in a row (last error: {state.last_error or '?'}); "
            f"run `python -m ticket_alarm test-crawlers {name}`"
        )
    elif state.failure_streak:
        facts.append(f"{state.failure_streak} recent failure(s): {state.last_error or '?'}")
    stale_after = (warn_streak + 1) * interval + 60
    reference = state.last_success if state.last_success is not None else None
    if not locked and reference is not None and now - reference > stale_after:
        problems.append(
            f"no successful crawl for {age_text(now - reference)} (interval {age_text(interval)})"
        )
    if state.empty_streak >= EMPTY_STREAK_WARN and crawler.usual_minimum > 0:
        problems.append(
            f"{state.empty_streak} crawls in a row found zero notices although the site usually lists "
            f"{crawler.usual_minimum} or more: the page layout may have changed; run "
            f"`python -m ticket_alarm test-crawlers {name}`"
        )
    if state.last_invalid > 0:
        problems.append(
            f"{state.last_invalid} notice(s) skipped as invalid in the last crawl (parser breakage?); run "
            f"`python -m ticket_alarm test-crawlers {name}`"
        )
    if problems:
        report.add(f"site:{name}", WARNING, "; ".join(problems + facts))
    else:
        report.add(f"site:{name}", OK, ", ".join(facts))


def _outbox_checks(report: Report, settings: Settings, store: Store, now: float) -> None:
    stats = store.outbox_stats()
    warn_age = settings.health.outbox_age_warn
    if stats.pending and stats.oldest_pending is not None:
        age = now - stats.oldest_pending
        detail = f"{stats.pending} alert(s) pending, the oldest for {age_text(age)}; {stats.sent} sent"
        if age > OUTBOX_CRITICAL_FACTOR * warn_age:
            report.add("outbox", CRITICAL, f"{detail} — Discord deliveries are stuck; grep 알림 전송 실패")
        elif age > warn_age:
            report.add("outbox", WARNING, f"{detail} — deliveries are slow or failing; grep 알림 전송 실패")
        else:
            report.add("outbox", OK, detail)
    else:
        report.add("outbox", OK, f"empty; {stats.sent} sent")
    dead_rows = store.outbox_rows("dead")
    recent = [r for r in dead_rows if now - float(r["created_at"]) <= DEAD_LETTER_WINDOW]
    if recent:
        last_error = str(recent[-1]["last_error"] or "?")[:200]
        report.add(
            "dead_letters",
            WARNING,
            f"{len(recent)} alert(s) Discord refused permanently in the last 24h ({len(dead_rows)} in all); "
            f"last error: {last_error}",
        )
    else:
        report.add("dead_letters", OK, f"none in the last 24h ({len(dead_rows)} in all)")


async def _webhook_checks(report: Report, settings: Settings, store: Store, probe: Probe | None) -> None:
    routes = settings.effective_routes()
    broken = store.broken_webhooks()
    if not routes:
        report.add(
            "webhooks",
            WARNING,
            "no webhook configured: dry run, alerts are only printed to monitor.out.log; set "
            "discord_webhook_url or routes",
        )
    targets = [(f"webhook:{r.name}", r.name, r.webhook_url) for r in routes]
    if settings.health.ops_webhook_url:
        targets.append(("webhook:ops", None, settings.health.ops_webhook_url))
    statuses: list[int | str | None] = ["skipped"] * len(targets)
    if probe is not None and targets:
        statuses = list(await asyncio.gather(*(probe(url) for _, _, url in targets)))
    for (check, route, url), status in zip(targets, statuses, strict=True):
        shown = mask_url(url)
        mark = broken.get(route) if route is not None else None
        if status in (401, 403, 404):
            report.add(
                check,
                CRITICAL,
                f"{shown} answers HTTP {status}: the webhook was deleted or its token is wrong; create a new "
                "webhook in Discord, put its URL in the config and restart",
            )
        elif mark is not None:
            report.add(
                check,
                CRITICAL,
                f"delivery on this route is stopped since the webhook answered {mark[:200]}; fix the URL "
                "and restart (supervisorctl restart ticket-alarm:monitor)",
            )
        elif status == "skipped":
            report.add(check, OK, f"{shown} (not probed)")
        elif status is None:
            report.add(check, WARNING, f"{shown}: Discord is unreachable from here (network or DNS)")
        elif status == 200:
            report.add(check, OK, f"{shown} answers 200")
        else:
            report.add(check, WARNING, f"{shown} answers HTTP {status}")


def _system_checks(report: Report, settings: Settings, system: System) -> None:
    h = settings.health
    cpu = system.cpu_percent()
    report.add("cpu", WARNING if cpu > h.cpu_warn else OK, f"{cpu:.0f}% used (warn above {h.cpu_warn:g}%)")
    mem = system.memory_percent()
    report.add(
        "memory", WARNING if mem > h.memory_warn else OK, f"{mem:.0f}% used (warn above {h.memory_warn:g}%)"
    )
    _dir_check(report, "disk:data_dir", settings.data_dir, settings, system)
    if settings.log_dir is not None:
        _dir_check(report, "disk:log_dir", settings.log_dir, settings, system)


def _dir_check(report: Report, name: str, path: Path, settings: Settings, system: System) -> None:
    if not path.is_dir():
        report.add(name, CRITICAL, f"{path} does not exist; create it (deploy/install.sh does)")
        return
    if not os.access(path, os.W_OK | os.X_OK):
        report.add(name, CRITICAL, f"{path} is not writable by this user; fix its owner/permissions")
        return
    try:
        percent, free = system.disk_usage(path)
    except OSError as exc:
        report.add(name, UNKNOWN, f"{path}: cannot read the disk usage ({exc.strerror})")
        return
    detail = f"{path} writable, disk {percent:.0f}% used, {free / 1024**3:.1f} GB free"
    if free < DISK_FREE_CRITICAL:
        report.add(name, CRITICAL, f"{detail} — almost full: the store cannot write; free some space")
    elif percent > settings.health.disk_warn:
        report.add(name, WARNING, f"{detail} (warn above {settings.health.disk_warn:g}%)")
    else:
        report.add(name, OK, detail)


# --- notify ---------------------------------------------------------------------------------


def state_file(settings: Settings) -> Path | None:
    """Where the last notified state is remembered: data_dir, else log_dir; None if neither exists."""
    for folder in (settings.data_dir, settings.log_dir):
        if folder is not None and folder.is_dir():
            return folder / STATE_FILE
    return None


def _read_state(path: Path | None) -> str:
    if path is None:
        return OK
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        status = str(data.get("status", OK))
        return status if status in EXIT_CODES else OK
    except (OSError, ValueError, AttributeError):
        return OK  # no file yet (or unreadable): as if all was well


def _write_state(path: Path, status: str, now: float) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"status": status, "notified_at": now}), encoding="utf-8")
    os.replace(tmp, path)


def notify_embed(report: Report, previous: str, now: float) -> dict[str, Any]:
    bad = [c for c in report.checks if c.status != OK]
    lines = [f"**{c.status}** {c.name}: {c.detail}" for c in bad] or ["모든 점검 정상"]
    description = "\n".join(lines)
    if len(description) > 3900:
        description = description[:3899] + "…"
    return {
        "title": f"ticket-alarm 상태: {report.status} (이전: {previous})",
        "description": description,
        "color": COLORS[report.status],
        "footer": {"text": f"{socket.gethostname()} · ticket-alarm {__version__} health"},
        "timestamp": _iso(now),
    }


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat()


async def notify(settings: Settings, report: Report, client: httpx.AsyncClient, clock: Clock) -> bool | None:
    """Post to the ops webhook if the overall state changed. None: nothing to do; True/False: posted."""
    url = settings.health.ops_webhook_url
    if not url:
        logger.warning("health --notify: health.ops_webhook_url is not set; nothing notified")
        return None
    path = state_file(settings)
    previous = _read_state(path)
    now = clock.now().timestamp()
    if previous == report.status:
        return None
    webhooks = WebhookClient(client, clock)
    outcome = await webhooks.execute(url, message([notify_embed(report, previous, now)]))
    if outcome.kind != "sent":
        logger.error(
            "health --notify: the ops webhook {} did not take the message: {}",
            mask_url(url),
            outcome.error or outcome.kind,
        )
        return False
    logger.info("health --notify: state {} → {} posted to the ops webhook", previous, report.status)
    if path is None:
        logger.warning("health --notify: neither data_dir nor log_dir exists; the state is not remembered")
    else:
        try:
            _write_state(path, report.status, now)
        except OSError as exc:
            logger.error("health --notify: cannot remember the state in {}: {}", path, exc.strerror)
    return True


# --- the command ----------------------------------------------------------------------------

Loader = Callable[[argparse.Namespace], tuple[Settings, dict[str, type[Crawler]], Path]]


def _emit(report: Report, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
    else:
        print("\n".join(report.lines()))
    sys.stdout.flush()


async def command(args: argparse.Namespace, load: Loader) -> int:
    """``health [--json] [--notify] [--no-probe]``; any failure to check at all is UNKNOWN (3)."""
    setup_logging(json_mode=True)  # stdout carries the report only (Nagios reads it); logs: stderr
    try:
        settings, known, path = load(args)
    except TicketAlarmError as exc:
        report = Report()
        report.add("config", UNKNOWN, str(exc))
        _emit(report, args.json)
        return report.exit_code
    clock = SystemClock()
    async with http_client(
        proxy=settings.proxy.discord, timeout=PROBE_TIMEOUT, user_agent=f"ticket-alarm/{__version__} health"
    ) as client:

        async def probe(url: str) -> int | None:
            return await WebhookClient(client, clock).probe(url)

        try:
            report = await collect(
                settings,
                known,
                config_name=str(path),
                clock=clock,
                probe=None if args.no_probe else probe,
            )
        except Exception as exc:  # a check must never end in a traceback: that is UNKNOWN
            logger.error("health check failed: {}: {}", type(exc).__name__, exc)
            report = Report()
            report.add("health", UNKNOWN, f"the check itself failed: {type(exc).__name__}: {exc}")
        _emit(report, args.json)
        if args.notify:
            await notify(settings, report, client, clock)
    return report.exit_code
