"""The Discord webhook client and the route's notifier.

``WebhookClient`` posts payloads, keeping one rate-limit bucket per webhook (and Discord's global
one) so it waits instead of drawing 429s, and classifies every answer into an ``Outcome``:

- 2xx: sent (the message id kept);
- 429: rate limited — wait ``retry_after`` (at least 1 s, doubling while 429s repeat), never counted
  as a failure; Cloudflare's HTML 429 (an IP ban) holds every webhook;
- 5xx, timeouts, redirects, any answer that is not Discord's JSON (Cloudflare's HTML 400/403, a
  proxy's page): retry (the drainer backs the lane off);
- Discord's JSON 401/404 (codes 10015, 50027) and a JSON 403: broken — the webhook is gone;
- Discord's JSON 400 (50035 and kin): dead — this payload is refused (the drainer splits batches).

``DiscordNotifier`` is a route's ``Notifier``: it renders Alerts to embeds at send time, fits them
into messages (≤ 10 embeds, ≤ 6000 characters) and puts ``allowed_mentions`` on every payload.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from loguru import logger

from ticket_alarm.clock import Clock
from ticket_alarm.delivery.answers import json_object
from ticket_alarm.delivery.discord.living import living_embeds
from ticket_alarm.delivery.discord.render import (
    batch_size,
    clean,
    message,
    render_alert,
    render_joined,
    truncate,
)
from ticket_alarm.delivery.discord.urls import mask_url, parse_webhook, scrub, webhook_fingerprint
from ticket_alarm.delivery.notify import Alert, Capabilities, NewNotice, Outcome
from ticket_alarm.delivery.pace import Bucket
from ticket_alarm.i18n import t

if TYPE_CHECKING:
    from ticket_alarm.config.routes import Destination
    from ticket_alarm.config.settings import RouteSettings


def http_client(*, proxy: str | None, timeout: float, user_agent: str) -> httpx.AsyncClient:
    """The HTTP client for Discord: through ``proxy.discord`` when set, never the environment's proxy."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        headers={"User-Agent": user_agent},
        trust_env=False,
        proxy=proxy or None,
    )


REQUEST_TIMEOUT = 15.0  # one whole webhook request, connect to last byte
GONE_CODES = frozenset({10015, 50027})  # Unknown Webhook, Invalid Webhook Token
MESSAGE_GONE_CODES = frozenset({10008, 10003})  # Unknown Message, Unknown Channel (a deleted thread)
SUPPRESS_NOTIFICATIONS = 1 << 12  # message flag: delivered without a push or a desktop notification


def _json_error(resp: httpx.Response) -> dict[str, Any] | None:
    """Discord's own JSON error body (``{"code": …, "message": …}``), or None for anything else
    (Cloudflare's HTML, a proxy's page, an empty body)."""
    body = json_object(resp)
    return body if body is not None and ("code" in body or "message" in body) else None


class WebhookClient:
    """Posts to webhooks, tracking Discord's rate-limit buckets so it waits instead of hitting 429s."""

    def __init__(self, client: httpx.AsyncClient, clock: Clock, *, timeout: float = REQUEST_TIMEOUT) -> None:
        self.client = client
        self.clock = clock
        self.timeout = timeout
        self._buckets: dict[str, Bucket] = {}
        self._global_until = 0.0
        self.rate_limited = 0  # 429s received, for metrics and tests

    def _bucket(self, url: str) -> Bucket:
        parsed = parse_webhook(url)
        key = parsed[0] if parsed else url
        return self._buckets.setdefault(key, Bucket())

    def bucket_wait(self, url: str) -> float:
        """Seconds the next ``execute`` on ``url`` would wait for its rate-limit bucket (0: none)."""
        bucket = self._bucket(url)
        now = self.clock.monotonic()
        wait = max(0.0, self._global_until - now)
        return max(wait, bucket.wait(now))

    async def wait_for_bucket(self, url: str) -> None:
        wait = self.bucket_wait(url)
        if wait > 0:
            await self.clock.sleep(wait)
            self._bucket(url).remaining = None

    def _update_bucket(self, url: str, headers: httpx.Headers) -> None:
        bucket = self._bucket(url)
        remaining = headers.get("x-ratelimit-remaining")
        reset_after = headers.get("x-ratelimit-reset-after")
        try:
            if remaining is not None:
                bucket.remaining = int(remaining)
            if reset_after is not None:
                bucket.reset_at = self.clock.monotonic() + float(reset_after)
        except ValueError:
            pass

    async def execute(self, url: str, payload: dict[str, Any], *, thread_id: str | None = None) -> Outcome:
        """POST a message (``?wait=true``: Discord answers with it, so its id is kept)."""
        return await self._request("POST", url, "", payload, {"wait": "true"}, thread_id)

    async def edit_message(
        self, url: str, message_id: str, payload: dict[str, Any], *, thread_id: str | None = None
    ) -> Outcome:
        """PATCH a message the webhook posted, in the same bucket as its posts; ``gone`` when Discord
        knows no such message (10008) or thread (10003) any more."""
        return await self._request("PATCH", url, f"/messages/{message_id}", payload, {}, thread_id)

    async def _request(
        self,
        method: str,
        url: str,
        path: str,
        payload: dict[str, Any],
        params: dict[str, str],
        thread_id: str | None,
    ) -> Outcome:
        await self.wait_for_bucket(url)
        if thread_id:
            params = {**params, "thread_id": thread_id}
        try:
            async with asyncio.timeout(self.timeout):  # the whole request: a trickling answer too
                resp = await self.client.request(method, url + path, json=payload, params=params)
        except (TimeoutError, httpx.TimeoutException) as exc:
            error = t("discord.timeout", seconds=self.timeout, kind=type(exc).__name__, host=_host(url))
            return Outcome("retry", error=error)
        except httpx.TransportError as exc:
            return Outcome("retry", error=t("discord.connection", kind=type(exc).__name__, host=_host(url)))
        self._update_bucket(url, resp.headers)
        return self._classify(url, resp)

    def _classify(self, url: str, resp: httpx.Response) -> Outcome:
        status = resp.status_code
        bucket = self._bucket(url)
        if 200 <= status < 300:
            bucket.strikes = 0
            message_id = None
            try:
                body = resp.json()
                message_id = str(body.get("id")) if isinstance(body, dict) and body.get("id") else None
            except ValueError:
                pass
            return Outcome("sent", status, message_id=message_id)
        discord_error = _json_error(resp)
        body_text = scrub(resp.text[:1000], url)
        if status == 429:
            self.rate_limited += 1
            retry_after, is_global = _parse_429(resp)
            if discord_error is None:  # Cloudflare's HTML 429 ("error code: 1015") bans the IP: every lane
                is_global = True
            wait = bucket.hold(retry_after, self.clock.monotonic())
            if is_global:
                self._global_until = self.clock.monotonic() + wait
            what = "" if discord_error is not None else t("discord.not_json_429")
            error = t("discord.rate_limited", wait=wait, what=what)
            return Outcome("rate_limited", status, error=error, retry_after=wait)
        if 300 <= status < 400:
            where = scrub(resp.headers.get("location", "?")[:300], url)
            return Outcome(
                "retry",
                status,
                error=t("discord.redirect", status=status, where=where),
            )
        if discord_error is None:
            # not Discord speaking: Cloudflare (an IP block answers HTML 403), a proxy, a captive portal
            hint = t("discord.html_403") if status == 403 else t("discord.not_json")
            return Outcome("retry", status, error=f"HTTP {status} ({hint}): {body_text[:200]}")
        if status == 404 and discord_error.get("code") in MESSAGE_GONE_CODES:
            return Outcome("gone", status, error=f"HTTP {status}: {body_text}")
        if status in (401, 403, 404) or discord_error.get("code") in GONE_CODES:
            return Outcome("broken", status, error=f"HTTP {status}: {body_text}")
        if status >= 500:
            return Outcome("retry", status, error=f"HTTP {status}: {body_text[:200]}")
        return Outcome("dead", status, error=f"HTTP {status}: {body_text}")

    async def info(self, url: str) -> dict[str, Any] | None:
        """The webhook's own description (GET, never posts): its guild and channel; None when unknown."""
        try:
            async with asyncio.timeout(self.timeout):
                resp = await self.client.get(url)
        except (TimeoutError, httpx.HTTPError):
            return None
        return json_object(resp) if resp.status_code == 200 else None

    async def probe(self, url: str) -> int | None:
        """GET the webhook (never posts): 200 valid, 401/404 deleted; None when unreachable."""
        try:
            async with asyncio.timeout(self.timeout):
                resp = await self.client.get(url)
        except (TimeoutError, httpx.HTTPError):
            return None
        return resp.status_code


def _host(url: str) -> str:
    """The host:port a webhook URL points at (never its token)."""
    return urlsplit(url).netloc or "the webhook host"


def _parse_429(resp: httpx.Response) -> tuple[float, bool]:
    retry_after = None
    is_global = resp.headers.get("x-ratelimit-global", "").lower() == "true"
    try:
        body = resp.json()
        if isinstance(body, dict):
            retry_after = float(given) if (given := body.get("retry_after")) is not None else None
            is_global = is_global or bool(body.get("global"))
    except (ValueError, TypeError):
        pass
    if retry_after is None:
        header = resp.headers.get("retry-after")
        try:
            retry_after = float(header) if header else None
        except ValueError:
            retry_after = None
    return (max(0.0, retry_after if retry_after is not None else 1.0), is_global)


THREAD_NAME_MAX = 100  # characters of a forum thread's name
# a forum channel refuses a post without a thread: "must have a thread_name or thread_id" (220001),
# "webhooks can only create threads in forum channels" (220003)
FORUM_CODES = (220001, 220003)


class DiscordNotifier:
    """A route's Discord webhook as a ``Notifier``: Alerts rendered to embeds when they are sent."""

    verb = "sent"
    says_opened = True  # an edit renders each notice as it is now: once every sale passed, it says so
    # edit: PATCH of a posted message (the living alert); silent is SUPPRESS_NOTIFICATIONS
    capabilities = Capabilities(edit=True, silent=True, max_batch=10, max_chars=6000)

    def __init__(
        self,
        route: str,
        webhook_url: str,
        client: WebhookClient,
        *,
        role_ids: Sequence[str] = (),
        thread_id: str | None = None,
        forum: bool = False,
        applied_tags: Sequence[str] = (),
    ) -> None:
        self.route = route
        self.webhook_url = webhook_url
        self.client = client
        self.role_ids = tuple(role_ids)
        self.thread_id = thread_id
        # a forum channel: each notice its own thread (``thread_name``), its later alerts in it (``aim``)
        self.forum = forum
        self.applied_tags = list(applied_tags)
        self._aimed: str | None = None  # the thread the next send goes to (set by the drainer)
        self._links: dict[int, tuple[str, str | None]] = {}  # id(alert) → (message, thread) it changed
        self._place: tuple[str, str] | None = None  # (guild, channel) of the webhook, asked once
        self.fingerprint: str | None = webhook_fingerprint(webhook_url)
        # the embeds ``fits`` rendered to size the batch, kept for ``send``: an alert is rendered once
        self._rendered: list[tuple[Alert, dict[str, Any]]] = []

    @classmethod
    def for_route(
        cls, route: RouteSettings, client: WebhookClient, *, lane: str | None = None
    ) -> DiscordNotifier:
        assert route.webhook_url is not None, "a Discord destination has a webhook_url"
        return cls(
            lane or route.name,
            route.webhook_url,
            client,
            role_ids=route.mention_role_ids,
            thread_id=route.thread_id,
            forum=route.forum,
            applied_tags=route.applied_tags,
        )

    @classmethod
    def for_destination(cls, dest: Destination, client: WebhookClient) -> DiscordNotifier:
        return cls.for_route(dest.route, client, lane=dest.lane)

    def fits(self, alerts: Sequence[Alert]) -> int:
        self._rendered = [
            (a, render_alert(a)) for a in (alerts[:1] if self.forum else alerts)
        ]  # forum: a thread each
        return batch_size([embed for _, embed in self._rendered])

    def aim(self, thread_id: str | None, links: dict[int, tuple[str, str | None]] | None = None) -> None:
        """The next ``send`` goes into ``thread_id`` (a forum notice's own thread), once; ``links``:
        id(alert) → (message, thread) of the living alert a short change message links to."""
        self._aimed, self._links = thread_id, dict(links or {})

    async def _linked(self, alerts: Sequence[Alert], embeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A short change message's embed with a link to the message it edited (where Discord says
        the webhook's guild and channel)."""
        links, self._links = self._links, {}
        if not links:
            return embeds
        if self._place is None and (info := await self.client.info(self.webhook_url)):
            guild, channel = info.get("guild_id"), info.get("channel_id")
            self._place = (str(guild), str(channel)) if guild and channel else None
        if self._place is None:
            return embeds
        out = []
        for alert, embed in zip(alerts, embeds, strict=True):
            if id(alert) in links:
                if isinstance(alert, NewNotice):  # a later vendor's notice: a short reply (joins)
                    embed = render_joined(alert.ticket, alert.site_name, alert.color)
                message_id, thread = links[id(alert)]
                url = f"https://discord.com/channels/{self._place[0]}/{thread or self._place[1]}/{message_id}"
                embed = {
                    **embed,
                    "fields": [*embed.get("fields", []), {"name": "원래 알림", "value": f"[보기]({url})"}],
                }
            out.append(embed)
        return out

    def _embeds(self, alerts: Sequence[Alert]) -> list[dict[str, Any]]:
        """The alerts' embeds: the ones ``fits`` rendered (the same Alert objects), else rendered now."""
        kept = {id(alert): embed for alert, embed in self._rendered}
        return [kept[id(a)] if id(a) in kept else render_alert(a) for a in alerts]

    def wait(self) -> float:
        return self.client.bucket_wait(self.webhook_url)

    async def send(self, alerts: Sequence[Alert], *, silent: bool = False) -> Outcome:
        payload = message(await self._linked(alerts, self._embeds(alerts)), role_ids=self.role_ids)
        if silent:
            payload["flags"] = SUPPRESS_NOTIFICATIONS
        aimed, self._aimed = self._aimed, None
        outcome = await self._execute(payload, alerts, aimed or self.thread_id)
        if outcome.kind == "gone" and self.forum and aimed:  # the notice's thread was deleted: a new one
            outcome = await self._execute(payload, alerts, None)
        if outcome.kind == "dead" and not self.forum and any(f"{c}" in outcome.error for c in FORUM_CODES):
            logger.error("{}", t("log.forum_needed", route=self.route, error=outcome.error[:200]))
            self.forum = True  # told once; meanwhile this route posts as the forum wants
            outcome = await self._execute(payload, alerts, None)
        return outcome

    async def _execute(self, payload: dict[str, Any], alerts: Sequence[Alert], thread: str | None) -> Outcome:
        """Post into ``thread``; on a forum without one, a new thread named by the notice (its id is the
        starter message's)."""
        if self.forum and not thread:
            name = truncate(clean(alerts[0].title), THREAD_NAME_MAX) or "ticket-alarm"
            payload = {**payload, "thread_name": name}
            if self.applied_tags:
                payload["applied_tags"] = self.applied_tags
        outcome = await self.client.execute(self.webhook_url, payload, thread_id=thread)
        if outcome.kind == "sent" and (thread or self.forum):
            return replace(outcome, thread_id=thread or outcome.message_id)
        return outcome

    async def edit(
        self,
        message_id: str,
        alerts: Sequence[Alert],
        *,
        thread_id: str | None = None,
        changed_at: Sequence[float | None] = (),
    ) -> Outcome:
        """The message re-rendered whole (``living``), ``allowed_mentions`` repeated (nobody): Discord
        parses an edited message's mentions again, so scraped text could ping otherwise."""
        embeds = living_embeds(alerts, changed_at, now=self.client.clock.now().timestamp())
        payload = message(embeds)  # no content: the post's role pings stay as they are, nobody pinged again
        outcome = await self.client.edit_message(self.webhook_url, message_id, payload, thread_id=thread_id)
        return (
            replace(outcome, message_id=message_id, thread_id=thread_id)
            if outcome.kind == "sent"
            else outcome
        )

    async def probe(self) -> bool | None:
        status = await self.client.probe(self.webhook_url)
        return None if status is None else status == 200

    def scrub(self, text: str) -> str:
        return scrub(text, self.webhook_url)

    def describe(self) -> str:
        return f"webhook {mask_url(self.webhook_url)}"

    def broken_text(self, outcome: Outcome) -> str:
        return broken_webhook_text(self.route, self.webhook_url, outcome.status, outcome.error[:300])


def broken_webhook_text(route: str, webhook_url: str, status: int | None, error: str = "") -> str:
    """Why a webhook that answers 401/403/404 will never take an alert, and what to do (once, send-test)."""
    answer = broken_answer(status, error)
    key = "webhook.broken.gone" if status in (401, 404) else "webhook.broken.refused"
    return t(key, route=route, url=mask_url(webhook_url), answer=answer)


def broken_answer(status: int | None, error: str = "") -> str:
    """``answered 404 (Unknown Webhook)``: what a broken destination said, for its explanation."""
    return t("webhook.broken.answer", status=status) + (f" ({error})" if error else "")
