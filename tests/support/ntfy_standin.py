"""A strict stand-in for an ntfy server (ntfy.sh or self-hosted), on loopback.

It takes JSON publishes at ``/`` (https://docs.ntfy.sh/publish/#publish-as-json) and answers as ntfy
does: the message as JSON on 200; ``{"code", "http", "error"}`` otherwise. It enforces ntfy's rules:
a topic is 1–64 of ``[-_A-Za-z0-9]``; a message over 4096 bytes is 413 (a server without
attachments); priority 1–5; at most 3 actions; a protected topic wants its Bearer token (none: 403,
a wrong one: 401); a visitor's burst of requests, then one per ``refill`` seconds, else 429 (no
Retry-After, as ntfy). Stricter than ntfy in one way: an unknown JSON key is a 400, so a typo in the
notifier's payload fails a test instead of being ignored. Every accepted message is recorded.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from tests.support.server import LoopbackServer, Request, Response

MAX_MESSAGE_BYTES = 4096
TOPIC = re.compile(r"^[-_A-Za-z0-9]{1,64}$")
KEYS = {
    "topic", "message", "title", "tags", "priority", "actions", "click", "attach", "markdown", "icon",
    "filename", "delay", "email", "call",
}  # fmt: skip
_AUTH_PATH = re.compile(r"^/([-_A-Za-z0-9]{1,64})/auth$")


@dataclass
class Published:
    id: str
    topic: str
    payload: dict[str, Any]
    authorization: str | None
    at: float


class FakeNtfy:
    def __init__(self, *, burst: int = 1000, refill: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.messages: list[Published] = []
        self.requests: list[tuple[float, int]] = []  # (time, status) of every publish
        self.rejections: list[tuple[int, str]] = []
        self.tokens: dict[str, str] = {}  # protected topic → the token that may write to it
        self.faults: list[int] = []  # statuses the next publishes get, in order
        self.burst = burst
        self.refill = refill
        self._bucket = (float(burst), time.monotonic())
        self._ids = itertools.count(1)
        self.server = LoopbackServer(self.handle)

    # --- test controls ------------------------------------------------------------
    def start(self) -> FakeNtfy:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def topic_url(self, topic: str = "tickets") -> str:
        return f"{self.server.base_url}/{topic}"

    def protect(self, topic: str, token: str) -> None:
        """Only ``token`` may publish to ``topic`` (and read its ``/auth``)."""
        self.tokens[topic] = token

    def limit(self, burst: int, refill: float) -> None:
        """A visitor may send ``burst`` requests, then one more every ``refill`` seconds (else 429)."""
        with self.lock:
            self.burst, self.refill = burst, refill
            self._bucket = (float(burst), time.monotonic())

    def fail(self, status: int = 503, count: int = 1) -> None:
        with self.lock:
            self.faults += [status] * count

    def published(self, topic: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [m.payload for m in self.messages if topic in (None, m.topic)]

    # --- the API ------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        auth = _AUTH_PATH.match(req.path)
        if req.method == "GET" and auth:
            refused = self._refused(auth[1], req.headers.get("authorization"))
            return refused or _json(200, {"success": True})
        if req.path != "/":
            return _error(404, 40401, "page not found")
        if req.method not in ("POST", "PUT"):
            return _error(405, 40501, "method not allowed")
        now = time.monotonic()
        with self.lock:
            response = self._publish(req, now)
            self.requests.append((now, response.status))
            return response

    def _publish(self, req: Request, now: float) -> Response:
        if not self._take(now):
            return _error(429, 42901, "limit reached: too many requests")
        if self.faults:
            status = self.faults.pop(0)
            return _error(status, status * 100 + 1, "stand-in fault")
        try:
            payload = json.loads(req.body)
        except ValueError:
            return self._reject(400, 40017, "invalid request: request body must be message JSON")
        if not isinstance(payload, dict):
            return self._reject(400, 40017, "invalid request: request body must be message JSON")
        problem = _problem(payload)
        if problem:
            return self._reject(400, 40000, f"invalid request: {problem}")
        refused = self._refused(payload["topic"], req.headers.get("authorization"))
        if refused:
            return refused
        message = payload.get("message", "")
        if len(str(message).encode()) > MAX_MESSAGE_BYTES:
            return self._reject(413, 41301, "too large: message exceeds 4096 bytes")
        ident = f"msg{next(self._ids):09d}"
        self.messages.append(
            Published(ident, payload["topic"], payload, req.headers.get("authorization"), now)
        )
        body = {"id": ident, "time": int(time.time()), "event": "message", **payload}
        return _json(200, body)

    def _take(self, now: float) -> bool:
        tokens, at = self._bucket
        if self.refill > 0:
            tokens = min(float(self.burst), tokens + (now - at) / self.refill)
        if tokens < 1.0:
            self._bucket = (tokens, now)
            return False
        self._bucket = (tokens - 1.0, now)
        return True

    def _refused(self, topic: str, authorization: str | None) -> Response | None:
        token = self.tokens.get(topic)
        if token is None:
            return None
        if authorization is None:
            return _error(403, 40301, "forbidden")
        if authorization != f"Bearer {token}":
            return _error(401, 40101, "unauthorized")
        return None

    def _reject(self, status: int, code: int, error: str) -> Response:
        self.rejections.append((status, error))
        return _error(status, code, error)


def _problem(payload: dict[str, Any]) -> str | None:
    unknown = set(payload) - KEYS
    if unknown:
        return f"unknown keys {sorted(unknown)}"
    if not isinstance(payload.get("topic"), str) or not TOPIC.match(payload["topic"]):
        return "topic invalid"
    for key in ("message", "title", "click"):
        if key in payload and not isinstance(payload[key], str):
            return f"{key} must be a string"
    priority = payload.get("priority", 3)
    if not isinstance(priority, int) or isinstance(priority, bool) or not 1 <= priority <= 5:
        return "priority invalid"
    tags = payload.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        return "tags must be a list of strings"
    if "click" in payload and not re.match(r"^https?://\S+$", payload["click"]):
        return "click URL invalid"
    actions = payload.get("actions", [])
    if not isinstance(actions, list) or len(actions) > 3:
        return "too many actions (3 at most)"
    for action in actions:
        if not isinstance(action, dict) or action.get("action") not in ("view", "broadcast", "http"):
            return "action invalid"
        if not action.get("label") or (action["action"] != "broadcast" and not action.get("url")):
            return "action needs a label and a url"
    return None


def _error(status: int, code: int, error: str) -> Response:
    return _json(status, {"code": code, "http": status, "error": error, "link": "https://ntfy.sh/docs"})


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status, json.dumps(body).encode(), {"Content-Type": "application/json"})
