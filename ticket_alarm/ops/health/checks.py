"""The checks of the companion health check (``python -m ticket_alarm health``): Nagios-style, read-only.

It opens the store with the opener it is given (the composition root's read-only one: no instance
lock, no migration, no file created) once the data directory is there, and awaits it; it never
creates the data directory. Subscribers'
webhooks are only ever probed with a GET, never posted to.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from crawlers.base import Crawler
from ticket_alarm.clock import Clock, SystemClock, age_text
from ticket_alarm.config.routes import Destination
from ticket_alarm.config.settings import Settings
from ticket_alarm.delivery.discord.urls import mask_url, webhook_fingerprint
from ticket_alarm.delivery.ntfy import ntfy_fingerprint
from ticket_alarm.errors import StoreUnavailable, TicketAlarmError
from ticket_alarm.i18n import t
from ticket_alarm.ops.health.report import (
    CRITICAL,
    OK,
    UNKNOWN,
    WARNING,
    Probe,
    PsutilSystem,
    Report,
    System,
    enabled_sites,
)
from ticket_alarm.ops.health.sites import site_findings
from ticket_alarm.store import DB_NAME, InstanceLock, StatusFile
from ticket_alarm.store.api import Store as StoreProtocol
from ticket_alarm.store.rows import HEARTBEAT_EVERY

if TYPE_CHECKING:
    from ticket_alarm.ops.health.report import StoreOpener

OUTBOX_CRITICAL_FACTOR = 4  # oldest pending alert older than 4 × outbox_age_warn: CRITICAL
DEAD_LETTER_WINDOW = 24 * 3600.0  # dead letters younger than this make a WARNING
DISK_FREE_CRITICAL = 50 * 1024 * 1024  # bytes
PROBE_TIMEOUT = 10.0


def unknown(name: str, detail: str) -> Report:
    """A report of one UNKNOWN check: the health check could not check at all (config, a crash)."""
    report = Report()
    report.add(name, UNKNOWN, detail)
    return report


async def run_checks(
    settings: Settings,
    known: dict[str, type[Crawler]],
    *,
    open_store: StoreOpener,
    config_name: str,
    clock: Clock,
    probe: Probe | None,
) -> Report:
    """``collect``, where any failure to check at all is an UNKNOWN report, never a traceback."""
    try:
        return await collect(
            settings, known, open_store=open_store, config_name=config_name, clock=clock, probe=probe
        )
    except Exception as exc:  # a check must never end in a traceback: that is UNKNOWN
        logger.error("{}", t("log.health_failed", kind=type(exc).__name__, error=exc))
        return unknown("health", t("health.failed", error=f"{type(exc).__name__}: {exc}"))


async def collect(
    settings: Settings,
    known: dict[str, type[Crawler]],
    *,
    open_store: StoreOpener,
    config_name: str = "config",
    clock: Clock | None = None,
    system: System | None = None,
    probe: Probe | None = None,
) -> Report:
    """Run every check. ``open_store`` opens the store read-only (the caller's, not decided here);
    ``probe`` GETs a webhook URL (None: webhooks are not probed)."""
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
        store = await open_store()
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
    """One check per destination: a Discord webhook is probed (GET); an ntfy topic or a Telegram chat is
    not (ntfy's read check needs a permission a publishing token may lack; the bot token sits in
    Telegram's URL): its lane's broken mark says it."""
    dests = settings.destinations()
    broken = await store.broken_webhooks()
    marked = await store.broken_webhook_fingerprints()
    if not dests:
        report.add("webhooks", WARNING, t("health.webhooks.none"))
    targets = [target for dest in dests if (target := _target(dest)) is not None]
    if settings.health.ops_webhook_url:
        url = settings.health.ops_webhook_url
        targets.append(_Target("webhook:ops", None, "discord", url, url, webhook_fingerprint(url)))
    probed = [target for target in targets if target.probe_url is not None]
    statuses: dict[str, int | str | None] = {target.check: "skipped" for target in targets}
    if probe is not None and probed:
        answers = await asyncio.gather(*(probe(target.probe_url or "") for target in probed))
        statuses.update({target.check: status for target, status in zip(probed, answers, strict=True)})
    for target in targets:
        check, lane, shown, status = (
            target.check,
            target.lane,
            str(mask_url(target.shown)),
            statuses[target.check],
        )
        # a mark for an earlier URL or token is stale: the fix was a new one
        live = lane is not None and marked.get(lane) in (None, target.fingerprint)
        mark = broken.get(lane) if live and lane is not None else None
        if status in (401, 403, 404):
            report.add(check, CRITICAL, t("health.webhook.gone", url=shown, status=status))
        elif mark is not None:
            key = "health.webhook.broken" if target.kind == "discord" else f"health.{target.kind}.broken"
            report.add(check, CRITICAL, t(key, reason=mark[:200]))
        elif target.probe_url is None:
            report.add(check, OK, t(f"health.{target.kind}.ok", url=shown))
        elif status == "skipped":
            report.add(check, OK, t("health.webhook.not_probed", url=shown))
        elif status is None:
            report.add(check, WARNING, t("health.webhook.unreachable", url=shown))
        elif status == 200:
            report.add(check, OK, t("health.webhook.ok", url=shown))
        else:
            report.add(check, WARNING, t("health.webhook.status", url=shown, status=status))


@dataclass(frozen=True, slots=True)
class _Target:
    """One destination as ``health`` checks it: the URL a probe GETs (None: judged by its broken mark)
    and the fingerprint a live mark carries."""

    check: str
    lane: str | None
    kind: str
    shown: str
    probe_url: str | None
    fingerprint: str


def _target(dest: Destination) -> _Target | None:
    route = dest.route
    if dest.kind == "discord" and route.webhook_url:
        url = route.webhook_url
        return _Target(f"webhook:{dest.lane}", dest.lane, "discord", url, url, webhook_fingerprint(url))
    if dest.kind == "ntfy" and route.ntfy_url:
        print_ = ntfy_fingerprint(route.ntfy_url, route.ntfy_token)
        return _Target(f"ntfy:{route.name}", dest.lane, "ntfy", route.ntfy_url, None, print_)
    if dest.kind == "telegram" and route.telegram is not None:
        from ticket_alarm.delivery.telegram import mask_token, telegram_fingerprint

        tg = route.telegram
        shown = f"{tg.chat_id} ({mask_token(tg.bot_token)})"
        print_ = telegram_fingerprint(tg.api_base, tg.bot_token, tg.chat_id)
        return _Target(f"telegram:{route.name}", dest.lane, "telegram", shown, None, print_)
    return None


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
