"""The running daemon tells the operator: state changes to ``health.ops_webhook_url``, through the outbox.

Without cron (``health --notify``), a site down for an hour reached nobody. The daemon itself watches
what it knows — a site failing for ``health.site_failing_after`` seconds, head polls not succeeding for
3 × their gap, a route's webhook marked broken — and queues one message on the ops lane (``OPS_ROUTE``,
a destination of its own, never a subscriber's route) when a subject turns bad, and one when it is
well again. What was told is kept in the store's meta (``OPS_META``), so a restart repeats nothing.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger

from ticket_alarm import __version__
from ticket_alarm.clock import Clock, age_text
from ticket_alarm.config.settings import OPS_ROUTE, Settings
from ticket_alarm.core.head_gap import head_gap_key, paced_gap, stuck_after
from ticket_alarm.delivery.notify import OpsAlert
from ticket_alarm.i18n import t
from ticket_alarm.logs import redact
from ticket_alarm.store.api import NewOutboxRow, Store

OPS_META = "ops_state"  # JSON: subject → {"bad": bool, "since": float}
BAD_COLOR, GOOD_COLOR = 0xE74C3C, 0x2ECC71


@dataclass(frozen=True, slots=True)
class Finding:
    subject: str  # "site:melon", "head:melon", "webhook:concerts"
    bad: bool
    since: float | None  # when it turned bad (bad only)
    detail: str


class OpsWatch:
    """``check()`` after every crawl and head poll and with each heartbeat: one outbox row per change."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Clock,
        *,
        sites: Sequence[str],
        heads: Sequence[str] = (),
        on_enqueue: Any = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.sites = list(sites)
        self.heads = set(heads)  # sites whose head polls are on (and whose crawler has an order)
        self.on_enqueue = on_enqueue
        self.started_at = clock.now().timestamp()  # head polls get 3 gaps after a start to succeed

    @property
    def enabled(self) -> bool:
        return bool(self.settings.health.ops_webhook_url)

    async def check(self, owns: Callable[[str], bool] | None = None) -> int:
        """Compare what the store says now with what was told; queue the changes. How many were queued.
        ``owns``: replicas watch only the sites they crawl; the owner of the first site, the webhooks."""
        if not self.enabled:
            return 0
        now = self.clock.now().timestamp()
        told = await self._told()
        findings = await self._findings(now, told, owns or (lambda _site: True))
        rows: list[NewOutboxRow] = []
        changed = False
        for f in findings:
            before = told.get(f.subject)
            if f.bad and f.since is not None and now - f.since < self._threshold(f.subject):
                # failing, not for long enough yet: remember since when (a restart keeps it)
                if before is None or before.get("since") != f.since:
                    told[f.subject] = {"bad": False, "since": f.since}
                    changed = True
                continue
            was_bad = bool(before and before.get("bad"))
            if f.bad and not was_bad:
                told[f.subject] = {"bad": True, "since": f.since}
                rows.append(self._row(f, now))
                changed = True
            elif not f.bad and was_bad:
                told.pop(f.subject, None)
                rows.append(self._row(f, now))
                changed = True
            elif not f.bad and before is not None:
                told.pop(f.subject, None)  # a failure that healed before the threshold: never told
                changed = True
        if rows:
            await self.store.enqueue(rows, now)
        if changed:
            await self.store.set_meta(OPS_META, json.dumps(told, sort_keys=True))
        if rows:
            for row in rows:
                logger.warning("{}", t("ops.queued", subject=row.notice_key, title=row.payload["title"]))
            if self.on_enqueue:
                self.on_enqueue()
        return len(rows)

    def _threshold(self, subject: str) -> float:
        return self.settings.health.site_failing_after if subject.startswith("site:") else 0.0

    async def _told(self) -> dict[str, dict[str, Any]]:
        raw = await self.store.get_meta(OPS_META)
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    async def _findings(
        self, now: float, told: dict[str, dict[str, Any]], owns: Callable[[str], bool]
    ) -> list[Finding]:
        out: list[Finding] = []
        for name in filter(owns, self.sites):
            state = await self.store.site_state(name)
            subject = f"site:{name}"
            if state.failure_streak > 0:
                since = (told.get(subject) or {}).get("since") or state.last_failure or now
                detail = t(
                    "ops.site.failing",
                    site=name,
                    age=age_text(now - since),
                    count=state.failure_streak,
                    error=redact(state.last_error or "?")[:300],
                )
                out.append(Finding(subject, True, since, detail))
            else:
                out.append(Finding(subject, False, None, t("ops.site.ok", site=name)))
            if name in self.heads:
                out.append(await self._head(name, now))
        if self.sites and not owns(self.sites[0]):
            return out
        broken = await self.store.broken_webhooks()
        routes = [d.lane for d in self.settings.destinations()]  # a lane per destination
        for route in routes:
            reason = broken.get(route)
            subject = f"webhook:{route}"
            if reason is not None:
                detail = t("ops.webhook.broken", route=route, reason=redact(reason)[:300])
                out.append(Finding(subject, True, None, detail))
            else:
                out.append(Finding(subject, False, None, t("ops.webhook.ok", route=route)))
        return out

    async def _head(self, name: str, now: float) -> Finding:
        subject = f"head:{name}"
        head = await self.store.head_state(name)
        paced = await self.store.get_meta(head_gap_key(name))
        every = paced_gap(self.settings.site_head_interval(name) or 0.0, paced)
        limit = stuck_after(every)
        stuck = now - max(head.last_success or 0.0, self.started_at) > limit
        if head.last_attempt is not None and every and stuck:
            detail = t(
                "ops.head.stuck",
                site=name,
                age=age_text(now - head.last_success) if head.last_success else "?",
                limit=age_text(limit),
                error=redact(head.last_error or "?")[:300],
            )
            return Finding(subject, True, None, detail)
        return Finding(subject, False, None, t("ops.head.ok", site=name))

    def _row(self, finding: Finding, now: float) -> NewOutboxRow:
        title = t("ops.title.bad" if finding.bad else "ops.title.ok", subject=finding.subject)
        color = BAD_COLOR if finding.bad else GOOD_COLOR
        embed: dict[str, Any] = {
            "title": title[:256],
            "description": finding.detail[:3900],
            "color": color,
            "footer": {"text": f"{socket.gethostname()} · ticket-alarm {__version__}"},
        }
        alert = OpsAlert("ticket-alarm", color, embed=embed).to_json()
        site = finding.subject.split(":", 1)[1] if finding.subject.startswith(("site:", "head:")) else ""
        return NewOutboxRow(OPS_ROUTE, "ops", site, finding.subject, alert)
