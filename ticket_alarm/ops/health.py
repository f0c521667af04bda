"""The companion health check (``python -m ticket_alarm health``): Nagios-style, read-only.

It opens the async store read-only (``open_configured_store(readonly=True)``: no instance lock, no
migration, no file created) and awaits it; it never creates the data directory. Exit codes follow
the Nagios plugin API: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. The overall state is the worst
check, ordered like monitoring-plugins' ``max_state_alt``: OK < UNKNOWN < WARNING < CRITICAL.

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
from ticket_alarm.clock import Clock, SystemClock, age_text
from ticket_alarm.config.settings import Settings
from ticket_alarm.core.head_gap import head_gap_key, paced_gap, stuck_after
from ticket_alarm.core.model import SEOUL
from ticket_alarm.daemon.pipeline import STORM_META
from ticket_alarm.daemon.scheduler import HEARTBEAT_EVERY
from ticket_alarm.delivery.discord.render import message
from ticket_alarm.delivery.discord.urls import mask_url, webhook_fingerprint
from ticket_alarm.delivery.discord.webhook import WebhookClient, http_client
from ticket_alarm.errors import StoreUnavailable, TicketAlarmError
from ticket_alarm.i18n import t
from ticket_alarm.logs import redact, setup_logging
from ticket_alarm.store import DB_NAME, InstanceLock, StatusFile
from ticket_alarm.store.api import Store as StoreProtocol
from ticket_alarm.store.configured import open_configured_store

OK, WARNING, CRITICAL, UNKNOWN = "OK", "WARNING", "CRITICAL", "UNKNOWN"
EXIT_CODES = {OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3}
_SEVERITY = {OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3}
STATE_FILE = "health-state.json"
EMPTY_STREAK_WARN = 3  # the pipeline warns in the log at the same count
OUTBOX_CRITICAL_FACTOR = 4  # oldest pending alert older than 4 × outbox_age_warn: CRITICAL
DEAD_LETTER_WINDOW = 24 * 3600.0  # dead letters younger than this make a WARNING
STORM_WINDOW = 24 * 3600.0  # a renumbering storm held this recently makes a WARNING
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
            return t("health.summary.ok", count=len(self.checks))
        names = ", ".join(c.name for c in bad)
        return t("health.summary.bad", status=self.status, bad=len(bad), total=len(self.checks), names=names)

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
        t(
            "health.config.ok",
            config=config_name,
            count=len(sites),
            sites=", ".join(sites) or t("health.none"),
            delivery=t("health.config.routes", count=len(routes)) if routes else t("health.config.dry_run"),
        ),
    )
    data_dir = settings.data_dir
    db_path = data_dir / DB_NAME
    if not data_dir.is_dir():
        report.add(
            "data_dir",
            UNKNOWN,
            t("health.data_dir.missing", data_dir=data_dir),
        )
        return report
    if not settings.store_url and not db_path.is_file():
        report.add(
            "data_dir",
            UNKNOWN,
            t("health.data_dir.no_store", data_dir=data_dir, db=DB_NAME),
        )
        return report
    try:
        store = await open_configured_store(settings, readonly=True)
    except StoreUnavailable as exc:
        report.add("store", CRITICAL, t("health.store.unreachable", error=exc))
        _system_checks(report, settings, system)
        return report
    except TicketAlarmError as exc:
        report.add("store", CRITICAL, str(exc))
        _system_checks(report, settings, system)
        return report
    try:
        await _daemon_check(report, settings, sites, store, system, now)
        if settings.store_url:
            await _replicas_check(report, settings, sites, store)
        for name in sites:
            await _site_check(report, settings, name, known[name], store, now)
        await _outbox_checks(report, settings, store, now)
        await _webhook_checks(report, settings, store, probe)
    except TicketAlarmError as exc:
        report.add("store", CRITICAL, str(exc))
    finally:
        await store.close()
    _system_checks(report, settings, system)
    return report


async def _replicas_check(report: Report, settings: Settings, sites: Sequence[str], store: Any) -> None:
    """PostgreSQL: every replica, its heartbeat and the sites it owns; WARNING when one is left.
    Ages are taken on the database's clock (the one the heartbeats were stamped with)."""
    from ticket_alarm.store.postgres.replicas import database_now, replica_rows, replicas_check

    rows = await replica_rows(store, alive_within=settings.replica_lease)
    status, detail = replicas_check(rows, sites, await database_now(store))
    report.add("replicas", status, detail)


async def _daemon_check(
    report: Report, settings: Settings, sites: Sequence[str], store: StoreProtocol, system: System, now: float
) -> None:
    shortest = min((settings.site_interval(s) for s in sites), default=settings.interval)
    # the daemon beats after every crawl and every HEARTBEAT_EVERY seconds besides
    limit = max(2 * shortest, 2 * HEARTBEAT_EVERY)
    try:
        pid = InstanceLock.held_by_other(settings.data_dir)
    except OSError as exc:
        report.add(
            "daemon",
            UNKNOWN,
            t("health.daemon.lock_unreadable", data_dir=settings.data_dir, reason=exc.strerror),
        )
        return
    raw = await store.get_meta("heartbeat")
    beat: float | None = None
    with contextlib.suppress(TypeError, ValueError):
        beat = float(raw) if raw is not None else None
    beat_text = (
        t("health.daemon.no_beat") if beat is None else t("health.daemon.beat", age=age_text(now - beat))
    )
    if pid is None:
        logs = settings.log_dir or Path("/var/log/ticket-alarm")
        report.add(
            "daemon",
            CRITICAL,
            t("health.daemon.not_running", beat=beat_text, log=logs / "monitor.err.log"),
        )
        return
    who = t("health.daemon.pid", pid=pid) if pid > 0 else t("health.daemon.pid_unknown")
    rss = system.process_rss_mb(pid) if pid > 0 else None
    rss_text = f", RSS {rss:.1f} MB" if rss is not None else ""
    if beat is None:
        report.add("daemon", WARNING, t("health.daemon.starting", who=who, beat=beat_text, rss=rss_text))
    elif now - beat > limit:
        report.add(
            "daemon",
            CRITICAL,
            t("health.daemon.hung", who=who, beat=beat_text, limit=age_text(limit), rss=rss_text),
        )
    else:
        report.add("daemon", OK, t("health.daemon.ok", who=who, beat=beat_text, rss=rss_text))
    problem = StatusFile.read(settings.data_dir)
    if problem:  # written by the daemon when the store refused a write (a full disk): it cannot say so there
        report.add("store_writes", CRITICAL, t("health.store_writes", problem=problem[:400]))


async def _site_check(
    report: Report, settings: Settings, name: str, crawler: type[Crawler], store: StoreProtocol, now: float
) -> None:
    problems, facts = await site_findings(settings, name, crawler, store, now)
    if problems:
        report.add(f"site:{name}", WARNING, "; ".join(problems + facts))
    else:
        report.add(f"site:{name}", OK, ", ".join(facts))


async def site_findings(
    settings: Settings, name: str, crawler: type[Crawler], store: StoreProtocol, now: float
) -> tuple[list[str], list[str]]:
    """A site's problems (any makes it WARNING) and facts, sweeps and head polls alike: the one rule
    ``health`` and the status page's summary line both use."""
    state = await store.site_state(name)
    interval = settings.site_interval(name)
    warn_streak = settings.health.failure_streak_warn
    problems: list[str] = []
    facts: list[str] = []
    if state.last_attempt is None and state.last_success is None:
        return problems, [t("health.site.not_crawled")]
    if state.last_success is not None:
        facts.append(t("health.site.last_success", age=age_text(now - state.last_success)))
        if state.last_count is not None:
            facts.append(t("health.site.notices", count=state.last_count))
    elif not state.failure_streak:
        facts.append(t("health.site.no_success_yet"))
    await _head_facts(settings, name, crawler, store, now, problems, facts)
    locked = state.locked_until is not None and state.locked_until > now
    if locked:
        assert state.locked_until is not None
        problems.append(
            t(
                "health.site.locked",
                until=_seoul(state.locked_until),
                left=age_text(state.locked_until - now),
            )
        )
    if state.last_success is None and state.failure_streak:
        # no good crawl to fall back on: the first failure already means nothing is watched there
        problems.append(
            t(
                "health.site.never_worked",
                count=state.failure_streak,
                error=state.last_error or "?",
                site=name,
            )
        )
    elif state.failure_streak >= warn_streak:
        problems.append(
            t("health.site.streak", count=state.failure_streak, error=state.last_error or "?", site=name)
        )
    elif state.failure_streak:
        facts.append(
            t("health.site.recent_failures", count=state.failure_streak, error=state.last_error or "?")
        )
    stale_after = (warn_streak + 1) * interval + 60
    reference = state.last_success if state.last_success is not None else None
    if not locked and reference is not None and now - reference > stale_after:
        problems.append(t("health.site.stale", age=age_text(now - reference), interval=age_text(interval)))
    if state.empty_streak >= EMPTY_STREAK_WARN and crawler.usual_minimum > 0:
        problems.append(
            t("health.site.empty", count=state.empty_streak, minimum=crawler.usual_minimum, site=name)
        )
    storm = await _storm(store, name)
    if storm is not None and now - storm.get("at", 0) < STORM_WINDOW:
        problems.append(
            t(
                "health.site.storm",
                held=storm.get("held", "?"),
                new=storm.get("new", "?"),
                age=age_text(now - storm["at"]),
                site=name,
            )
        )
    if state.last_invalid > 0:
        problems.append(t("health.site.invalid", count=state.last_invalid, site=name))
    return problems, facts


async def _head_facts(
    settings: Settings,
    name: str,
    crawler: type[Crawler],
    store: StoreProtocol,
    now: float,
    problems: list[str],
    facts: list[str],
) -> None:
    """Head polls (the newest page, every ``head_interval``) told apart from the sweeps. Off for a site
    that could poll its newest page, or not succeeding for 3 × the gap: a WARNING (new notices wait)."""
    every = settings.site_head_interval(name)
    head = await store.head_state(name)
    if every is None:
        if name in settings.heads_off({name: crawler}):
            problems.append(t("health.head.off_warn", interval=age_text(settings.site_interval(name))))
        else:
            facts.append(t("health.head.off"))
        return
    if head.sweeps_only:
        facts.append(t("health.head.none", why=t("site.skipped_no_order")))  # the one reason stored
        return
    if head.last_success is not None:
        new = t("health.head.new", count=head.last_new) if head.last_new else ""
        facts.append(t("health.head.last", age=age_text(now - head.last_success), new=new))
        paced = await store.get_meta(head_gap_key(name))  # the daemon's politeness stretch
        limit = stuck_after(paced_gap(every, paced))
        if now - head.last_success > limit:
            problems.append(
                t("health.head.stuck", age=age_text(now - head.last_success), limit=age_text(limit))
            )
    elif head.last_attempt is None:
        facts.append(t("health.head.not_yet"))
    if head.paused_until is not None and head.paused_until > now:
        facts.append(t("health.head.paused", left=age_text(head.paused_until - now)))
    elif head.failure_streak >= settings.health.failure_streak_warn:
        problems.append(t("health.head.failing", count=head.failure_streak, error=head.last_error or "?"))
    elif head.failure_streak:
        facts.append(t("health.head.failures", count=head.failure_streak, error=head.last_error or "?"))


async def _storm(store: StoreProtocol, site: str) -> dict[str, Any] | None:
    raw = await store.get_meta(STORM_META.format(site=site))
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("at"), int | float) else None


async def _outbox_checks(report: Report, settings: Settings, store: StoreProtocol, now: float) -> None:
    stats = await store.outbox_stats()
    warn_age = settings.health.outbox_age_warn
    if stats.pending and stats.oldest_pending is not None:
        age = now - stats.oldest_pending
        detail = t("health.outbox.detail", pending=stats.pending, age=age_text(age), sent=stats.sent)
        if age > OUTBOX_CRITICAL_FACTOR * warn_age:
            report.add("outbox", CRITICAL, t("health.outbox.stuck", detail=detail))
        elif age > warn_age:
            report.add("outbox", WARNING, t("health.outbox.slow", detail=detail))
        else:
            report.add("outbox", OK, detail)
    else:
        report.add("outbox", OK, t("health.outbox.empty", sent=stats.sent))
    dead_rows = await store.outbox_list(status="dead")
    recent = [r for r in dead_rows if now - r.created_at <= DEAD_LETTER_WINDOW]
    if recent:
        last_error = str(recent[-1].last_error or "?")[:200]
        report.add(
            "dead_letters",
            WARNING,
            t("health.dead.recent", recent=len(recent), total=len(dead_rows), error=last_error),
        )
    else:
        report.add("dead_letters", OK, t("health.dead.none", total=len(dead_rows)))


async def _webhook_checks(
    report: Report, settings: Settings, store: StoreProtocol, probe: Probe | None
) -> None:
    routes = settings.effective_routes()
    broken = await store.broken_webhooks()
    marked_urls = await store.broken_webhook_fingerprints()
    for route_settings in routes:  # a mark for an earlier URL is stale: the fix was a new URL
        mark_url = marked_urls.get(route_settings.name)
        if mark_url is not None and mark_url != webhook_fingerprint(route_settings.webhook_url):
            broken.pop(route_settings.name, None)
    if not routes:
        report.add(
            "webhooks",
            WARNING,
            t("health.webhooks.none"),
        )
    targets: list[tuple[str, str | None, str]]
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
                t("health.webhook.gone", url=shown, status=status),
            )
        elif mark is not None:
            report.add(
                check,
                CRITICAL,
                t("health.webhook.broken", reason=mark[:200]),
            )
        elif status == "skipped":
            report.add(check, OK, t("health.webhook.not_probed", url=shown))
        elif status is None:
            report.add(check, WARNING, t("health.webhook.unreachable", url=shown))
        elif status == 200:
            report.add(check, OK, t("health.webhook.ok", url=shown))
        else:
            report.add(check, WARNING, t("health.webhook.status", url=shown, status=status))


def _system_checks(report: Report, settings: Settings, system: System) -> None:
    h = settings.health
    cpu = system.cpu_percent()
    report.add("cpu", WARNING if cpu > h.cpu_warn else OK, t("health.cpu", used=cpu, warn=h.cpu_warn))
    mem = system.memory_percent()
    report.add(
        "memory", WARNING if mem > h.memory_warn else OK, t("health.cpu", used=mem, warn=h.memory_warn)
    )
    _dir_check(report, "disk:data_dir", settings.data_dir, settings, system)
    if settings.log_dir is not None:
        _dir_check(report, "disk:log_dir", settings.log_dir, settings, system)


def _dir_check(report: Report, name: str, path: Path, settings: Settings, system: System) -> None:
    if not path.is_dir():
        report.add(name, CRITICAL, t("health.dir.missing", path=path))
        return
    if not os.access(path, os.W_OK | os.X_OK):
        report.add(name, CRITICAL, t("health.dir.not_writable", path=path))
        return
    try:
        percent, free = system.disk_usage(path)
    except OSError as exc:
        report.add(name, UNKNOWN, t("health.dir.unreadable", path=path, reason=exc.strerror))
        return
    detail = t("health.dir.detail", path=path, percent=percent, free=free / 1024**3)
    if free < DISK_FREE_CRITICAL:
        report.add(name, CRITICAL, t("health.dir.full", detail=detail))
    elif percent > settings.health.disk_warn:
        report.add(name, WARNING, t("health.dir.warn", detail=detail, warn=settings.health.disk_warn))
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
        logger.warning("{}", t("health.notify.no_url"))
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
            "{}", t("health.notify.refused", url=mask_url(url), reason=outcome.error or outcome.kind)
        )
        return False
    logger.info("{}", t("health.notify.posted", previous=previous, status=report.status))
    if path is None:
        logger.warning("{}", t("health.notify.no_folder"))
    else:
        try:
            _write_state(path, report.status, now)
        except OSError as exc:
            logger.error("{}", t("health.notify.unwritable", path=path, reason=exc.strerror))
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
            report.add("health", UNKNOWN, t("health.failed", error=f"{type(exc).__name__}: {exc}"))
        _emit(report, args.json)
        if args.notify:
            await notify(settings, report, client, clock)
    return report.exit_code
