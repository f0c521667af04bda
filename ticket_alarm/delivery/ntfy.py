"""The ntfy notifier: each alert published as one JSON message to an ntfy server (ntfy.sh or your own).

``POST {server}/`` with ``{"topic", "title", "message", "click", "tags", "priority", "actions"}``
(https://docs.ntfy.sh/publish/#publish-as-json), ``Authorization: Bearer {ntfy_token}`` when set.
Answers, as the drainer reads them (``notify.Outcome``):

- 200: sent (ntfy's message id kept); nothing else counts as sent, so an alert is never posted twice;
- 429: rate limited — ntfy names no wait, so 10 s, doubling while 429s repeat (a Retry-After, if a
  proxy gives one, is honoured);
- 5xx, timeouts, redirects, an answer that is not ntfy's JSON (a proxy's page): retry;
- 413: dead — this message is too large for the server;
- ntfy's JSON 401/403/404: broken — the token cannot write to the topic (or the server has none);
- any other 4xx: dead.

ntfy.sh lets a visitor burst 60 requests and then 1 per 5 s: each lane keeps that pace itself
(``pace.Allowance``), so it waits instead of drawing 429s.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from ticket_alarm.clock import Clock
from ticket_alarm.core.urls import parse_ntfy
from ticket_alarm.delivery.answers import json_object
from ticket_alarm.delivery.discord.render import ELLIPSIS, truncate
from ticket_alarm.delivery.discord.webhook import broken_answer
from ticket_alarm.delivery.notify import (
    Alert,
    Capabilities,
    Changed,
    Digest,
    NewNotice,
    OpsAlert,
    Outcome,
    Reminder,
)
from ticket_alarm.delivery.pace import Allowance, Bucket
from ticket_alarm.delivery.text import alert_lines, alert_link, alert_title
from ticket_alarm.i18n import t

if TYPE_CHECKING:
    from ticket_alarm.config.routes import Destination, NtfyPriorities

REQUEST_TIMEOUT = 15.0
MAX_MESSAGE_BYTES = 4096  # ntfy's message limit (larger ones become attachments, or a 413)
MAX_TITLE = 250
BURST = 60  # ntfy.sh: visitor-request-limit-burst
REFILL_SECONDS = 5.0  # ntfy.sh: visitor-request-limit-replenish
RATE_LIMIT_FLOOR = 10.0  # a 429 waits this long, doubling while they repeat
RATE_LIMIT_CAP = 300.0
SILENT_PRIORITY = 1  # "min": no sound, no vibration, no pop-over
URGENT_WITHIN = timedelta(hours=24)
TAGS = {
    "new": "ticket",
    "change": "warning",
    "reminder": "alarm_clock",
    "ops": "rotating_light",
    "digest": "calendar",
}


def priority_of(alert: Alert, priorities: NtfyPriorities, now: datetime, *, silent: bool = False) -> int:
    """ntfy priority by what the alert is: a reminder; a new presale or a sale within 24 h (urgent);
    a notice or a change; silent delivery always 1."""
    if silent:
        return SILENT_PRIORITY
    match alert:
        case Reminder():
            return priorities.reminder
        case Digest():
            return priorities.digest
        case NewNotice(ticket=ticket) | Changed(ticket=ticket):
            times = [ticket.open_at, *(p.at for p in ticket.presales)]
            soon = any(at is not None and now <= at <= now + URGENT_WITHIN for at in times)
            new_presale = bool(ticket.presales) and (
                isinstance(alert, NewNotice)
                or {p.name for p in ticket.presales} - {p.name for p in alert.before.presales}
            )
            return priorities.urgent if soon or new_presale else priorities.notice
        case OpsAlert():
            return priorities.urgent
    return priorities.notice


def fit_bytes(text: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """``text`` cut (with …) to at most ``limit`` UTF-8 bytes: a Korean character is three."""
    if len(text.encode()) <= limit:
        return text
    cut = text.encode()[: limit - len(ELLIPSIS.encode())].decode(errors="ignore")
    return cut.rstrip() + ELLIPSIS


def ntfy_fingerprint(url: str, token: str | None) -> str:
    """A short hash of the topic URL and token: a changed one is another destination (a broken mark
    made for the old one is stale); neither is stored."""
    return hashlib.sha256(f"{url.strip()}\0{token or ''}".encode()).hexdigest()[:16]


class NtfyNotifier:
    """A route's ntfy topic as a ``Notifier``: one message per alert, priority by what it is."""

    verb = "sent"
    capabilities = Capabilities(silent=True, priority=True, max_batch=1, max_chars=MAX_MESSAGE_BYTES)

    def __init__(
        self,
        route: str,
        url: str,
        client: httpx.AsyncClient,
        clock: Clock,
        *,
        priorities: NtfyPriorities,
        token: str | None = None,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        parsed = parse_ntfy(url)
        if parsed is None:
            raise ValueError(t("config.ntfy_url"))
        self.route = route
        self.url = url
        self.server, self.topic = parsed
        self.client = client
        self.clock = clock
        self.priorities = priorities
        self.token = token
        self.timeout = timeout
        self.allowance = Allowance(BURST, REFILL_SECONDS, clock.monotonic())  # ntfy.sh's visitor limit
        self.bucket = Bucket()  # the hold a 429 leaves
        self.fingerprint: str | None = ntfy_fingerprint(url, token)

    @classmethod
    def for_destination(cls, dest: Destination, client: httpx.AsyncClient, clock: Clock) -> NtfyNotifier:
        route = dest.route
        assert route.ntfy_url is not None, "an ntfy destination has an ntfy_url"
        return cls(
            dest.lane, route.ntfy_url, client, clock, priorities=route.ntfy_priority, token=route.ntfy_token
        )

    def fits(self, alerts: Sequence[Alert]) -> int:
        return 1

    def wait(self) -> float:
        now = self.clock.monotonic()
        return max(self.bucket.wait(now), self.allowance.wait(now))

    def payload(self, alert: Alert, *, silent: bool = False) -> dict[str, Any]:
        """The JSON ntfy publishes: title, plain-text message, a tap to the booking page, tags, priority."""
        now = self.clock.now()
        title = truncate(alert_title(alert), MAX_TITLE)
        message = fit_bytes("\n".join(alert_lines(alert, now)) or title)
        body: dict[str, Any] = {
            "topic": self.topic,
            "title": title,
            "message": message,
            "tags": [TAGS.get(alert.kind, "bell")],
            "priority": priority_of(alert, self.priorities, now, silent=silent),
        }
        link = alert_link(alert)
        if link:
            body["click"] = link
            body["actions"] = [{"action": "view", "label": t("ntfy.open_link"), "url": link, "clear": True}]
        return body

    async def send(self, alerts: Sequence[Alert], *, silent: bool = False) -> Outcome:
        return await self.publish(self.payload(alerts[0], silent=silent))

    async def publish(self, body: dict[str, Any]) -> Outcome:
        """POST one message (waiting for the pace first) and classify the answer."""
        wait = self.wait()
        if wait > 0:
            await self.clock.sleep(wait)
        self.allowance.take(self.clock.monotonic())
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with asyncio.timeout(self.timeout):
                resp = await self.client.post(self.server + "/", json=body, headers=headers)
        except (TimeoutError, httpx.TimeoutException) as exc:
            host = httpx.URL(self.server).host
            return Outcome(
                "retry", error=t("discord.timeout", seconds=self.timeout, kind=type(exc).__name__, host=host)
            )
        except httpx.TransportError as exc:
            host = httpx.URL(self.server).host
            return Outcome("retry", error=t("discord.connection", kind=type(exc).__name__, host=host))
        return self._classify(resp)

    def _classify(self, resp: httpx.Response) -> Outcome:
        status = resp.status_code
        answer = json_object(resp)  # ntfy's own JSON: a message, or {"code", "http", "error"}
        text = self.scrub(resp.text[:300])
        if status == 200:
            self.bucket.strikes = 0
            return Outcome("sent", status, message_id=str((answer or {}).get("id") or "") or None)
        if status == 429:
            # ntfy names no wait: 10 s, doubling while 429s repeat (a proxy's longer Retry-After wins)
            floor = min(RATE_LIMIT_CAP, RATE_LIMIT_FLOOR * 2**self.bucket.strikes)
            wait = self.bucket.hold(max(floor, _retry_after(resp) or 0.0), self.clock.monotonic())
            return Outcome("rate_limited", status, error=t("ntfy.rate_limited", wait=wait), retry_after=wait)
        if status == 413:
            return Outcome("dead", status, error=f"HTTP 413: {text}")
        if status >= 500 or 300 <= status < 400 or answer is None:
            return Outcome("retry", status, error=f"HTTP {status}: {text[:200]}")
        if status in (401, 403, 404):
            return Outcome("broken", status, error=f"HTTP {status}: {text}")
        return Outcome("dead", status, error=f"HTTP {status}: {text}")

    async def probe(self) -> bool | None:
        """Whether a send may be tried again (never publishes): ``GET /TOPIC/auth`` answering 200 says
        the token may use the topic; any other answer from the server cannot tell a publish-only token
        from a refused one, so the lane tries its next alert again (one request per recheck period; a
        refusal marks it broken again). None: the server did not answer (ask later)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with asyncio.timeout(self.timeout):
                resp = await self.client.get(f"{self.server}/{self.topic}/auth", headers=headers)
        except (TimeoutError, httpx.HTTPError):
            return None
        return resp.status_code < 500

    def scrub(self, text: str) -> str:
        return text.replace(self.token, "****") if self.token else text

    def describe(self) -> str:
        return f"ntfy {self.url}"

    def broken_text(self, outcome: Outcome) -> str:
        return broken_ntfy_text(self.route, self.url, outcome.status, outcome.error[:300])


def broken_ntfy_text(route: str, url: str, status: int | None, error: str = "") -> str:
    """Why an ntfy topic that answers 401/403/404 takes no alert, and what to do (once, send-test)."""
    return t("ntfy.broken", route=route, url=url, answer=broken_answer(status, error))


def _retry_after(resp: httpx.Response) -> float | None:
    try:
        return float(resp.headers.get("retry-after", ""))
    except ValueError:
        return None
