"""A site's health: its sweeps and head polls, locks, failure and empty streaks, renumbering storms and
invalid notices, as problems (any makes it WARNING) and facts; the one rule ``health`` and the status
page's summary line both use."""

from __future__ import annotations

import json
from typing import Any

from crawlers.base import Crawler
from ticket_alarm.clock import age_text
from ticket_alarm.config.settings import Settings
from ticket_alarm.core.head_gap import head_gap_key, paced_gap, stuck_after
from ticket_alarm.core.model import SEOUL
from ticket_alarm.i18n import t
from ticket_alarm.store.api import Store as StoreProtocol
from ticket_alarm.store.rows import STORM_META

EMPTY_STREAK_WARN = 3  # the pipeline warns in the log at the same count
STORM_WINDOW = 24 * 3600.0  # a renumbering storm held this recently makes a WARNING


def _seoul(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).astimezone(SEOUL).strftime("%Y-%m-%d %H:%M KST")


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
