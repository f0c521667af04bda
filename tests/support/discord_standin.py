"""A strict stand-in for Discord's webhook API.

It enforces the documented embed and message limits, answers with real rate-limit headers and
429 bodies, records every message, and can be told to fail (status codes, hangs, deleted webhooks).
https://discord.com/developers/docs/resources/webhook#execute-webhook
https://discord.com/developers/docs/topics/rate-limits
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.support.server import LoopbackServer, Request, Response

LIMITS = {
    "title": 256,
    "description": 4096,
    "fields": 25,
    "field_name": 256,
    "field_value": 1024,
    "footer": 2048,
    "author": 256,
    "total": 6000,
    "embeds": 10,
    "content": 2000,
}
SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS = 1 << 2, 1 << 12  # the message flags a webhook may set
_PATH = re.compile(r"^/api/(?:v\d+/)?webhooks/(\d+)/([A-Za-z0-9_\-]+)(?:/messages/(\d+))?/?$")
GUILD_ID, CHANNEL_ID = "900000000000000001", "900000000000000002"  # where every stand-in webhook posts
_MASS = re.compile(r"@(everyone|here)")
_ROLE = re.compile(r"<@&(\d+)>")
_USER = re.compile(r"<@!?(\d+)>")


@dataclass
class Accepted:
    message_id: str
    webhook_id: str
    payload: dict[str, Any]
    at: float
    answered_at: float = 0.0  # when its response leaves (``at`` + ``delay``): in flight until then
    thread_id: str | None = None  # the thread it was posted in (a forum post's own id: its thread's)
    edits: list[dict[str, Any]] = field(default_factory=list)  # every PATCH's payload, in order
    deleted: bool = False


def _as_shown(m: Accepted) -> dict[str, Any]:
    """A message as Discord shows it: its post with every edit applied."""
    return {k: v for payload in (m.payload, *m.edits) for k, v in payload.items() if not k.startswith("_")}


@dataclass
class Fault:
    status: int = 503
    count: int = 1  # how many requests it answers (-1: until cleared)
    hang: bool = False
    body: dict[str, Any] = field(default_factory=lambda: {"message": "Service Unavailable", "code": 0})
    until: float | None = None  # time-based: answers every POST until this monotonic time (count unused)
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: tuple[float, ...] = ()  # a 429 storm: each answer's retry_after, cycled
    answered: int = 0
    raw: bytes | None = None  # a body that is not Discord's JSON (Cloudflare's HTML, a proxy's page)
    content_type: str = "text/html"
    lasts: float | None = None  # a window that opens at the first POST it answers (``until`` set then)
    started: float | None = None  # when that first POST came


class FakeDiscord:
    def __init__(
        self,
        *,
        bucket_limit: int = 5,
        bucket_window: float = 2.0,
        require_allowed_mentions: bool = True,
        delay: float = 0.0,
    ):
        self.delay = delay  # seconds an accepted message's response is held back (a slow Discord)
        self.storm_log: list[tuple[float, float]] = []  # (time, retry_after) of every storm 429
        self.bucket_limit = bucket_limit
        self.bucket_window = bucket_window
        self.require_allowed_mentions = require_allowed_mentions
        self.lock = threading.Lock()
        self.webhooks: dict[str, str] = {}
        self.deleted: set[str] = set()
        self.messages: list[Accepted] = []
        self.rejections: list[tuple[int, str]] = []
        self.requests: list[tuple[float, int]] = []  # (time, status) of every POST
        self.mention_violations: list[str] = []  # @everyone/@here that would fire
        self.fired_mentions: list[str] = []  # role/user pings that would fire
        self.faults: list[Fault] = []
        self.forums: set[str] = set()  # webhook ids whose channel is a forum
        self.threads: dict[str, dict[str, Any]] = {}  # thread id → {"name", "applied_tags", "deleted"}
        self.invalid_requests: list[tuple[str, int]] = []  # 401/404s: Discord bans after 10,000 in 10 min
        self.count_429 = 0
        self._windows: dict[str, tuple[float, int]] = {}
        self._ids = itertools.count(1_100_000_000_000_000_000)
        self.server = LoopbackServer(self.handle)

    # --- test controls ------------------------------------------------------------
    def start(self) -> FakeDiscord:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def add_webhook(self, webhook_id: str = "123456789012345678", token: str | None = None) -> str:
        token = token or f"tok-{webhook_id}-SECRETxyzSECRETxyzSECRET"
        self.webhooks[webhook_id] = token
        return f"{self.server.base_url}/api/webhooks/{webhook_id}/{token}"

    def fail(
        self,
        status: int = 503,
        count: int = 1,
        *,
        hang: bool = False,
        seconds: float | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        raw: str | bytes | None = None,
        content_type: str = "text/html",
        from_first_post: bool = False,
    ) -> Fault:
        """Answer the next ``count`` POSTs (or every POST for ``seconds``) with ``status`` (or hang);
        ``raw`` answers that body as ``content_type`` instead of Discord's JSON. ``from_first_post``:
        the ``seconds`` start at the first POST that meets the fault (its ``started``), not now, so a
        daemon that is slow to post still meets the whole window."""
        fault = Fault(status=status, count=count, hang=hang, headers=dict(headers or {}))
        if raw is not None:
            fault.raw = raw.encode() if isinstance(raw, str) else raw
            fault.content_type = content_type
        if body is not None:
            fault.body = body
        if seconds is not None and from_first_post:
            fault.lasts = seconds
        elif seconds is not None:
            fault.until = time.monotonic() + seconds
        with self.lock:
            self.faults.append(fault)
        return fault

    def storm_429(self, seconds: float, retry_after: Sequence[float], *, is_global: bool = False) -> None:
        """For ``seconds`` every POST gets a 429 whose ``retry_after`` cycles through the list."""
        body = {"message": "You are being rate limited.", "retry_after": 1.0, "global": is_global}
        fault = Fault(status=429, body=body, until=time.monotonic() + seconds, retry_after=tuple(retry_after))
        with self.lock:
            self.faults.append(fault)

    def in_flight(self) -> list[Accepted]:
        """Messages accepted whose response has not left yet (``delay``): a kill now duplicates them."""
        now = time.monotonic()
        with self.lock:
            return [m for m in self.messages if m.answered_at > now]

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def delete_webhook(self, webhook_id: str) -> None:
        self.deleted.add(webhook_id)

    def make_forum(self, webhook_id: str) -> None:
        """The webhook's channel is a forum: a POST must name a new thread or an existing one."""
        self.forums.add(webhook_id)

    def delete_message(self, message_id: str) -> None:
        with self.lock:
            self.message(message_id).deleted = True

    def delete_thread(self, thread_id: str) -> None:
        with self.lock:
            self.threads[thread_id]["deleted"] = True

    def message(self, message_id: str) -> Accepted:
        return next(m for m in self.messages if m.message_id == message_id)

    def shown(self, message_id: str) -> dict[str, Any]:
        """A message as Discord shows it now: its post with every edit applied."""
        return _as_shown(self.message(message_id))

    def patches(self) -> list[tuple[str, dict[str, Any]]]:
        """(message id, payload) of every accepted PATCH, in order."""
        with self.lock:
            return sorted(
                ((m.message_id, e) for m in self.messages for e in m.edits), key=lambda x: x[1]["_at"]
            )

    def embeds(self, webhook_id: str | None = None) -> list[dict[str, Any]]:
        """Every embed as it was posted, message by message."""
        with self.lock:
            return [
                e for m in self.messages if webhook_id in (None, m.webhook_id) for e in m.payload["embeds"]
            ]

    def shown_embeds(self, webhook_id: str | None = None) -> list[dict[str, Any]]:
        """Every embed as Discord shows it now: a message's edits applied (a later vendor's notice of a
        show already posted is one more embed of that message, not a message of its own)."""
        with self.lock:
            messages = [m for m in self.messages if webhook_id in (None, m.webhook_id)]
        return [e for m in messages for e in _as_shown(m)["embeds"]]

    # --- the API ------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        match = _PATH.match(req.path)
        if not match:
            return _json(404, {"message": "404: Not Found", "code": 0})
        webhook_id, token, message_id = match.groups()
        if webhook_id in self.deleted or self.webhooks.get(webhook_id) != token:
            status, body = 404, {"message": "Unknown Webhook", "code": 10015}
            if self.webhooks.get(webhook_id) is not None and webhook_id not in self.deleted:
                status, body = 401, {"message": "Invalid Webhook Token", "code": 50027}
            with self.lock:
                self.invalid_requests.append((req.method, status))
                if req.method in ("POST", "PATCH"):
                    self.requests.append((time.monotonic(), status))
            return _json(status, body)
        if message_id is not None:
            return self._message(req, webhook_id, message_id)
        if req.method == "GET":
            body = {"id": webhook_id, "type": 1, "name": "stand-in", "guild_id": GUILD_ID}
            return _json(200, {**body, "channel_id": CHANNEL_ID})
        if req.method != "POST":
            return _json(405, {"message": "405: Method Not Allowed", "code": 0})
        return self._write(req, webhook_id, None)

    def _message(self, req: Request, webhook_id: str, message_id: str) -> Response:
        """GET, PATCH or DELETE ``/messages/{id}``: 404 code 10008 for a message this webhook did not
        post, one deleted, or one asked for outside its thread (``?thread_id=``, as Discord)."""
        with self.lock:
            found = [m for m in self.messages if m.message_id == message_id and m.webhook_id == webhook_id]
            m = found[0] if found else None
            thread = req.q("thread_id") or None
            if m is None or m.deleted or m.thread_id != thread:
                self.invalid_requests.append((req.method, 404))
                if req.method == "PATCH":
                    self.requests.append((time.monotonic(), 404))
                return _json(404, {"message": "Unknown Message", "code": 10008})
            if req.method == "GET":
                return _json(200, {"id": message_id, "webhook_id": webhook_id, **self.shown(message_id)})
            if req.method == "DELETE":
                m.deleted = True
                return Response(204, b"")
        if req.method != "PATCH":
            return _json(405, {"message": "405: Method Not Allowed", "code": 0})
        return self._write(req, webhook_id, m)

    def _write(self, req: Request, webhook_id: str, edited: Accepted | None) -> Response:
        """A POST (``edited`` None) or a PATCH of ``edited``: the same faults, bucket and validation."""
        now = time.monotonic()
        with self.lock:
            fault = self._take_fault(now)
            if fault is not None:
                self.requests.append((now, fault.status))
                if fault.hang:
                    return Response(hang=True)
                if fault.raw is not None:
                    return Response(
                        fault.status, fault.raw, {"Content-Type": fault.content_type, **fault.headers}
                    )
                if fault.retry_after:
                    retry_after = fault.retry_after[fault.answered % len(fault.retry_after)]
                    fault.answered += 1
                    self.count_429 += 1
                    self.storm_log.append((now, retry_after))
                    body = {**fault.body, "retry_after": retry_after}
                    headers = {"Retry-After": str(max(1, int(retry_after + 0.999))), **fault.headers}
                    if body.get("global"):
                        headers["X-RateLimit-Global"] = "true"
                    return _json(429, body, headers)
                return _json(fault.status, fault.body, fault.headers)
            limited = self._rate_limit(webhook_id, now)
            if limited is not None:
                self.requests.append((now, 429))
                self.count_429 += 1
                return limited
            headers = self._bucket_headers(webhook_id, now)
            problem, payload = self._validate(req)
            if problem:
                self.requests.append((now, 400))
                self.rejections.append((400, problem))
                return _json(400, {"code": 50035, "message": "Invalid Form Body", "errors": problem}, headers)
            if edited is not None:
                edited.edits.append({**payload, "_at": now})
                self.requests.append((now, 200))
                body = {"id": edited.message_id, "webhook_id": webhook_id, **self.shown(edited.message_id)}
                answer = _json(200, body, headers)
                answer.delay = (
                    self.delay
                )  # an accepted edit is in flight too (a kill now leaves it unrecorded)
                return answer
            refused, thread_id = self._thread(req, webhook_id, payload)
            if refused is not None:
                self.requests.append((now, refused.status))
                return refused
            message_id = str(next(self._ids))
            thread_id = message_id if thread_id == "new" else thread_id
            if payload.get("thread_name") and webhook_id in self.forums:
                self.threads[message_id] = {
                    "name": payload["thread_name"],
                    "applied_tags": list(payload.get("applied_tags") or []),
                    "deleted": False,
                }
            self.messages.append(Accepted(message_id, webhook_id, payload, now, now + self.delay, thread_id))
            self.requests.append((now, 200))
        if req.q("wait").lower() == "true":
            response = _json(200, {"id": message_id, "webhook_id": webhook_id, **payload}, headers)
        else:
            response = Response(204, b"", headers)
        response.delay = self.delay
        return response

    def _thread(
        self, req: Request, webhook_id: str, payload: dict[str, Any]
    ) -> tuple[Response | None, str | None]:
        """Where a POST goes: (a refusal, None) or (None, the thread id; "new" for a new forum thread)."""
        thread_id = req.q("thread_id") or None
        if webhook_id not in self.forums:
            return None, thread_id
        if thread_id is not None:
            thread = self.threads.get(thread_id)
            if thread is None or thread["deleted"]:
                return _json(404, {"message": "Unknown Channel", "code": 10003}), None
            return None, thread_id
        name = payload.get("thread_name")
        if not isinstance(name, str) or not name.strip():
            self.rejections.append((400, "forum post without thread_name or thread_id"))
            body = {
                "message": "Webhooks posted to forum channels must have a thread_name or thread_id",
                "code": 220001,
            }
            return _json(400, body), None
        if len(name) > 100:
            self.rejections.append((400, "thread_name longer than 100"))
            return _json(400, {"code": 50035, "message": "Invalid Form Body", "errors": "thread_name"}), None
        return None, "new"

    def _take_fault(self, now: float) -> Fault | None:
        self.faults[:] = [f for f in self.faults if f.until is None or f.until > now]
        if not self.faults:
            return None
        fault = self.faults[0]
        if fault.lasts is not None and fault.until is None:  # its window opens with this POST
            fault.started, fault.until = now, now + fault.lasts
        if fault.until is not None:
            return fault
        if fault.count > 0:
            fault.count -= 1
            if fault.count == 0:
                self.faults.pop(0)
        return fault

    def _rate_limit(self, webhook_id: str, now: float) -> Response | None:
        start, used = self._windows.get(webhook_id, (now, 0))
        if now - start >= self.bucket_window:
            start, used = now, 0
        if used >= self.bucket_limit:
            retry_after = round(self.bucket_window - (now - start), 3)
            body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
            headers = {
                "Retry-After": str(max(1, int(retry_after + 0.999))),
                "X-RateLimit-Scope": "user",
                **self._headers(webhook_id, 0, start),
            }
            return _json(429, body, headers)
        self._windows[webhook_id] = (start, used + 1)
        return None

    def _bucket_headers(self, webhook_id: str, now: float) -> dict[str, str]:
        start, used = self._windows[webhook_id]
        return self._headers(webhook_id, self.bucket_limit - used, start)

    def _headers(self, webhook_id: str, remaining: int, start: float) -> dict[str, str]:
        reset_after = max(0.0, self.bucket_window - (time.monotonic() - start))
        return {
            "X-RateLimit-Limit": str(self.bucket_limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": f"bucket-{webhook_id}",
        }

    def _validate(self, req: Request) -> tuple[str | None, dict[str, Any]]:
        if "application/json" not in req.headers.get("content-type", ""):
            return "content-type must be application/json", {}
        try:
            payload = json.loads(req.body)
        except ValueError:
            return "body is not JSON", {}
        if not isinstance(payload, dict):
            return "body is not an object", {}
        content = payload.get("content") or ""
        embeds = payload.get("embeds") or []
        if not content and not embeds:
            return "Cannot send an empty message (50006)", payload
        if len(content) > LIMITS["content"]:
            return f"content longer than {LIMITS['content']}", payload
        if len(embeds) > LIMITS["embeds"]:
            return f"more than {LIMITS['embeds']} embeds", payload
        total = 0
        for i, e in enumerate(embeds):
            problem, size = _check_embed(e)
            if problem:
                return f"embeds[{i}]: {problem}", payload
            total += size
        if total > LIMITS["total"]:
            return f"embeds total {total} > {LIMITS['total']} characters", payload
        if payload.get("flags", 0) & ~(SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS):
            return "flags: only SUPPRESS_EMBEDS and SUPPRESS_NOTIFICATIONS can be set", payload
        allowed = payload.get("allowed_mentions")
        if self.require_allowed_mentions and not isinstance(allowed, dict):
            return "allowed_mentions missing (the stand-in requires it)", payload
        self._check_mentions(payload, allowed or {})
        return None, payload

    def _check_mentions(self, payload: dict[str, Any], allowed: dict[str, Any]) -> None:
        """Record any mention that Discord would actually fire (only `content` pings)."""
        content = payload.get("content") or ""
        parse = set(allowed.get("parse", ["everyone", "roles", "users"]))
        if _MASS.search(content) and "everyone" in parse:
            self.mention_violations.append(f"mass mention would fire: {content[:80]!r}")
        allowed_roles = set(map(str, allowed.get("roles", [])))
        allowed_users = set(map(str, allowed.get("users", [])))
        for role in _ROLE.findall(content):
            if "roles" in parse or role in allowed_roles:
                self.fired_mentions.append(f"role:{role}")
        for user in _USER.findall(content):
            if "users" in parse or user in allowed_users:
                self.fired_mentions.append(f"user:{user}")


def _valid_url(url: Any) -> bool:
    if not isinstance(url, str) or len(url) > 2048:
        return False
    parts = urlsplit(url)
    return (
        parts.scheme in ("http", "https", "attachment")
        and bool(parts.netloc)
        and not any(c.isspace() for c in url)
    )


def _check_embed(e: Any) -> tuple[str | None, int]:
    if not isinstance(e, dict):
        return "not an object", 0
    size = 0
    title = e.get("title", "")
    if len(title) > LIMITS["title"]:
        return f"title longer than {LIMITS['title']}", 0
    desc = e.get("description", "")
    if len(desc) > LIMITS["description"]:
        return "description too long", 0
    size += len(title) + len(desc)
    fields = e.get("fields", [])
    if len(fields) > LIMITS["fields"]:
        return "too many fields", 0
    for f in fields:
        name, value = f.get("name", ""), f.get("value", "")
        if not name or not value:
            return "field name/value must not be empty", 0
        if len(name) > LIMITS["field_name"] or len(value) > LIMITS["field_value"]:
            return "field too long", 0
        size += len(name) + len(value)
    footer = (e.get("footer") or {}).get("text", "")
    author = (e.get("author") or {}).get("name", "")
    if len(footer) > LIMITS["footer"] or len(author) > LIMITS["author"]:
        return "footer/author too long", 0
    size += len(footer) + len(author)
    if "url" in e and not _valid_url(e["url"]):
        return "url: Not a well formed URL", 0
    for key in ("thumbnail", "image"):
        if key in e and not _valid_url((e[key] or {}).get("url")):
            return f"{key}.url: Not a well formed URL", 0
    color = e.get("color", 0)
    if not isinstance(color, int) or not 0 <= color <= 0xFFFFFF:
        return "color out of range", 0
    return None, size


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )
