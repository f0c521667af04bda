"""The Telegram notifier: one ``sendMessage`` per alert through a route's bot, into its chat.

Each alert is one message in HTML parse mode: the title bold, the site, the open time and presales,
the venue, as the Discord embed says them (``discord.render``: one rendering, every notifier), every
scraped string through ``html.escape``; the booking page (and the notice) as inline-keyboard buttons,
http(s) only; cut to 4096 characters of TEXT (Telegram counts after entity parsing, in UTF-16 units)
on plain text, so no tag or entity is ever broken. ``disable_notification`` when sent silent.

The pace is Telegram's (https://core.telegram.org/bots/faq, "My bot is hitting limits"): one message
a second per chat, 20 a minute in a group or channel (a negative id or ``@name``), kept per bot and
chat across the notifiers sharing an HTTP client, and a 429's ``parameters.retry_after`` on top.
Answers become Outcomes (see ``delivery.outbox``): 429 rate_limited; 5xx, timeouts and answers that
are not the Bot API's JSON retry; 401/404 (the token), 403 (blocked, kicked) and 400 "chat not found"
(or a group upgraded to a supergroup) broken; any other 400 (entities, too long) dead.

The bot token sits in the URL path: ``scrub`` takes it out of every error text, ``describe`` masks it
and the fingerprint is a hash.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import re
import weakref
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from ticket_alarm.clock import Clock
from ticket_alarm.config.routes import Destination
from ticket_alarm.delivery.answers import json_object
from ticket_alarm.delivery.digest import digest_lines
from ticket_alarm.delivery.discord.render import (
    ELLIPSIS,
    plain_text,
    render_alert,
    valid_url,
)
from ticket_alarm.delivery.notify import Alert, Capabilities, Digest, Outcome
from ticket_alarm.delivery.pace import Pace
from ticket_alarm.delivery.text import embed_text
from ticket_alarm.i18n import t

API_BASE = "https://api.telegram.org"
MAX_TEXT = 4096  # characters of text after entity parsing (UTF-16 units)
REQUEST_TIMEOUT = 15.0
PER_CHAT = (1, 1.0)  # one message a second in a chat
PER_GROUP = (20, 60.0)  # and 20 a minute in a group or channel
BOOK_BUTTON = "예매하기"
NOTICE_BUTTON = "공지 보기"
NOT_MODIFIED = "message is not modified"
MESSAGE_GONE = "message to edit not found"  # the message was deleted in the chat
# 400s that mean the chat is out of the bot's reach (broken), not that this message is wrong (dead)
_GONE = re.compile(
    r"chat not found|upgraded to a supergroup|have no rights to send|not enough rights"
    r"|need administrator rights|CHAT_WRITE_FORBIDDEN|bot is not a member",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"(\d{3})\d*:[A-Za-z0-9_-]{20,}")
_MIGRATED = re.compile(r"migrate_to_chat_id (-?\d+)")

Segment = tuple[str, str]  # plain text, and the tag it is shown in ("b", "i"; "" none)


# --- the message ---------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def alert_segments(alert: Alert, now: datetime) -> list[Segment]:
    """The alert as plain-text pieces: the title (bold), the site, one line per field, the footer; a
    digest as its heading (bold) and its lines."""
    if isinstance(alert, Digest):
        heading, *lines = digest_lines(alert, now)
        return [(heading, "b"), ("\n".join(lines), "")]
    read = embed_text(alert, now)
    pieces: list[Segment] = [(plain_text(read.title, now), "b")]
    if read.site:
        pieces += [("\n", ""), (read.site, "i")]
    pieces.append(("\n", ""))
    if read.description:
        pieces.append(("\n" + read.description, ""))
    for name, value in read.fields:
        pieces.append((f"\n{name}: {value.replace(chr(10) + '→ ', ' → ').replace(chr(10), ' / ')}", ""))
    if read.footer:
        pieces += [("\n\n", ""), (read.footer, "i")]
    return pieces


def alert_links(alert: Alert) -> list[tuple[str, str]]:
    """The buttons under the message: the booking page, then the notice (http(s) only, each once)."""
    ticket = getattr(alert, "ticket", None)
    booking = valid_url(ticket.booking_url) if ticket is not None else None
    notice = valid_url(ticket.url) if ticket is not None else valid_url(render_alert(alert).get("url"))
    links = [(BOOK_BUTTON, booking)] if booking else []
    if notice and notice != booking:
        links.append((NOTICE_BUTTON, notice))
    return links


def fit_html(pieces: Sequence[Segment], limit: int = MAX_TEXT) -> str:
    """The pieces as Telegram HTML, escaped, their TEXT cut to ``limit`` with …: the cut falls in
    plain text before escaping, so it never splits a tag or an entity."""
    out: list[str] = []
    room = limit
    for text, tag in pieces:
        size = utf16_len(text)
        cut = size > room
        if cut:
            text = _cut(text, room)
            size = utf16_len(text)
        if text:
            escaped = html.escape(text, quote=False)
            out.append(f"<{tag}>{escaped}</{tag}>" if tag else escaped)
        room -= size
        if cut:
            break
    return "".join(out)


def _cut(text: str, room: int) -> str:
    """``text``'s front and …, in at most ``room`` UTF-16 units (never half a surrogate pair)."""
    if room <= 0:
        return ""
    kept, used = [], 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        if used + width > room - 1:
            break
        kept.append(ch)
        used += width
    return "".join(kept).rstrip() + ELLIPSIS


def render_message(alert: Alert, now: datetime) -> dict[str, Any]:
    """``sendMessage``'s text, parse mode and keyboard for one alert (``chat_id`` and flags aside)."""
    params: dict[str, Any] = {"text": fit_html(alert_segments(alert, now)), "parse_mode": "HTML"}
    links = alert_links(alert)
    if links:
        params["reply_markup"] = {"inline_keyboard": [[{"text": label, "url": url} for label, url in links]]}
    return params


# --- the notifier ----------------------------------------------------------------------------

# the paces of every chat, per HTTP client: the notifiers of one daemon share its client, so two routes
# writing into one chat through one bot share that chat's pace
_PACES: weakref.WeakKeyDictionary[httpx.AsyncClient, dict[tuple[str, str], Pace]] = (
    weakref.WeakKeyDictionary()
)


def telegram_fingerprint(api_base: str, bot_token: str, chat_id: str) -> str:
    """A short hash of the server, bot and chat (``health`` tells a stale broken mark by it)."""
    return hashlib.sha256(
        f"{api_base.rstrip('/')}|{bot_token.strip()}|{str(chat_id).strip()}".encode()
    ).hexdigest()[:16]


def mask_token(token: str) -> str:
    """``bot123…:****``: enough to tell bots apart, never the secret."""
    return f"bot{token.split(':', 1)[0][:3]}…:****"


class TelegramNotifier:
    """A route's Telegram chat as a ``Notifier`` (its lane ``NAME/telegram``)."""

    verb = "sent"
    capabilities = Capabilities(edit=True, silent=True, max_batch=1, max_chars=MAX_TEXT)

    def __init__(
        self,
        route: str,
        bot_token: str,
        chat_id: str,
        client: httpx.AsyncClient,
        clock: Clock,
        *,
        api_base: str = API_BASE,
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.route = route
        self.chat_id = str(chat_id).strip()
        self.client = client
        self.clock = clock
        self.timeout = timeout
        self._token = bot_token.strip()
        self._base = api_base.rstrip("/")
        self.fingerprint: str | None = telegram_fingerprint(self._base, self._token, self.chat_id)
        group = self.chat_id.startswith(("-", "@"))
        paces = _PACES.setdefault(client, {})
        self.pace = paces.setdefault(
            (self._token, self.chat_id), Pace(PER_CHAT, *([PER_GROUP] if group else []))
        )

    @classmethod
    def for_destination(cls, dest: Destination, client: httpx.AsyncClient, clock: Clock) -> TelegramNotifier:
        settings = dest.route.telegram
        if settings is None:
            raise ValueError(f"route {dest.route.name} has no telegram section")
        return cls(dest.lane, settings.bot_token, settings.chat_id, client, clock, api_base=settings.api_base)

    def fits(self, alerts: Sequence[Alert]) -> int:
        return 1

    def wait(self) -> float:
        return self.pace.wait(self.clock.monotonic())

    async def send(self, alerts: Sequence[Alert], *, silent: bool = False) -> Outcome:
        alert = _one(alerts)
        params = self._params(alert, silent)
        return await self._call("sendMessage", params)

    async def edit(
        self,
        message_id: str,
        alerts: Sequence[Alert],
        *,
        thread_id: str | None = None,
        changed_at: Sequence[float | None] = (),
    ) -> Outcome:
        """Rewrite a sent message (``editMessageText``); an edit to the same text counts as done (a
        chat has no threads; a change's text says before → after, so ``changed_at`` is not needed)."""
        params = self._params(_one(alerts), False) | {"message_id": int(message_id)}
        params.pop("disable_notification")  # an edit never notifies
        outcome = await self._call("editMessageText", params)
        if outcome.kind == "sent":
            return Outcome("sent", outcome.status, message_id=str(message_id))
        if outcome.kind == "dead" and MESSAGE_GONE in outcome.error:  # deleted in the chat: post afresh
            return Outcome("gone", outcome.status, error=outcome.error)
        return outcome

    def _params(self, alert: Alert, silent: bool) -> dict[str, Any]:
        return {
            "chat_id": self.chat_id,
            **render_message(alert, self.clock.now()),
            "disable_web_page_preview": True,
            "disable_notification": silent,
        }

    async def _call(self, method: str, params: dict[str, Any]) -> Outcome:
        wait = self.wait()
        if wait > 0:
            await self.clock.sleep(wait)
        host = urlsplit(self._base).netloc or self._base
        try:
            async with asyncio.timeout(self.timeout):  # the whole request: a trickling answer too
                resp = await self.client.post(f"{self._base}/bot{self._token}/{method}", json=params)
        except (TimeoutError, httpx.TimeoutException) as exc:
            error = t("discord.timeout", seconds=self.timeout, kind=type(exc).__name__, host=host)
            return Outcome("retry", error=error)
        except httpx.TransportError as exc:
            return Outcome("retry", error=t("discord.connection", kind=type(exc).__name__, host=host))
        self.pace.record(self.clock.monotonic())
        return self._classify(resp)

    def _classify(self, resp: httpx.Response) -> Outcome:
        status = resp.status_code
        answer = _api_answer(resp)
        if answer is None:  # not the Bot API speaking: a proxy, a captive portal, the wrong api_base
            body = self.scrub(resp.text[:200])
            return Outcome("retry", status, error=t("telegram.not_api", status=status, body=body))
        if answer.get("ok") is True:
            self.pace.bucket.strikes = 0
            result = answer.get("result")
            message_id = result.get("message_id") if isinstance(result, dict) else None
            return Outcome("sent", status, message_id=None if message_id is None else str(message_id))
        description = self.scrub(str(answer.get("description") or ""))[:500]
        given = answer.get("parameters")
        parameters: dict[str, Any] = given if isinstance(given, dict) else {}
        if status == 429:
            retry_after = _seconds(parameters.get("retry_after"), resp.headers.get("retry-after"))
            wait = self.pace.bucket.hold(retry_after, self.clock.monotonic())
            return Outcome(
                "rate_limited", status, error=t("discord.rate_limited", wait=wait, what=""), retry_after=wait
            )
        if status >= 500:
            return Outcome("retry", status, error=f"HTTP {status}: {description[:200]}")
        if NOT_MODIFIED in description:
            return Outcome("sent", status)
        migrated = parameters.get("migrate_to_chat_id")
        if migrated is not None:
            description += f" (migrate_to_chat_id {migrated})"
        if status in (401, 403, 404) or _GONE.search(description) or migrated is not None:
            return Outcome("broken", status, error=f"HTTP {status}: {description}")
        return Outcome("dead", status, error=t("telegram.refused", status=status, description=description))

    async def probe(self) -> bool | None:
        outcome = await self._call("getChat", {"chat_id": self.chat_id})
        if outcome.kind == "sent":
            return True
        return False if outcome.kind == "broken" else None

    def scrub(self, text: str) -> str:
        secret = self._token.partition(":")[2]
        for shown in (self._token, quote(self._token, safe=""), secret):
            if len(shown) >= 8:  # the token as it is, URL-quoted (a proxy's page), its secret half alone
                text = text.replace(shown, mask_token(self._token) if shown != secret else "****")
        return _TOKEN.sub(lambda m: f"{m[1]}…:****", text)

    def describe(self) -> str:
        return t("telegram.describe", chat=self.chat_id, bot=mask_token(self._token))

    def broken_text(self, outcome: Outcome) -> str:
        answer = t("webhook.broken.answer", status=outcome.status) + (
            f" ({outcome.error[:300]})" if outcome.error else ""
        )
        where = {"route": self.route, "chat": self.chat_id, "bot": mask_token(self._token), "answer": answer}
        migrated = _MIGRATED.search(outcome.error)
        if migrated:
            return t("telegram.broken.migrated", new_id=migrated[1], **where)
        if outcome.status in (401, 404):
            return t("telegram.broken.token", **where)
        if outcome.status == 403:
            return t("telegram.broken.blocked", **where)
        return t("telegram.broken.chat", **where)


def _one(alerts: Sequence[Alert]) -> Alert:
    """The one alert of a send (``max_batch`` 1: the drainer asks ``fits``, which says 1)."""
    if len(alerts) != 1:
        raise ValueError(f"Telegram sends one alert a message, not {len(alerts)}")
    return alerts[0]


def _api_answer(resp: httpx.Response) -> dict[str, Any] | None:
    """The Bot API's JSON answer (``{"ok": …}``), or None for anything else."""
    body = json_object(resp)
    return body if body is not None and isinstance(body.get("ok"), bool) else None


def _seconds(*given: object) -> float:
    """The first of ``given`` that reads as seconds ≥ 0 (a 429 without one: 1 s)."""
    for value in given:
        try:
            return max(0.0, float(value))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
    return 1.0
