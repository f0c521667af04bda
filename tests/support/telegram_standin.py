"""A strict stand-in for the Telegram Bot API (``/bot<token>/<method>``) on loopback.

It answers like Telegram (``{"ok": true, "result": …}`` or ``{"ok": false, "error_code": N,
"description": …, "parameters"?}``) for ``sendMessage``, ``editMessageText``, ``getChat`` and
``getMe``, and is stricter than Telegram where Telegram forgives: it parses the HTML parse mode for
real (only Telegram's tags, every ``<``/``>``/``&`` that is not one escaped, tags closed in order) and
counts the message's TEXT after entity parsing in UTF-16 units against 4096. It paces each chat (one
message a second; 20 a minute in a group) on an injectable monotonic clock and answers 429 with
``parameters.retry_after``. It records every accepted message and edit.
https://core.telegram.org/bots/api#sendmessage · #formatting-options · #inlinekeyboardbutton
https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
"""

from __future__ import annotations

import html
import itertools
import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.server import LoopbackServer, Request, Response

MAX_TEXT = 4096
_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
# Telegram's HTML tags: https://core.telegram.org/bots/api#html-style
TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "tg-emoji"}
    | {"code", "pre", "blockquote"}
)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[A-Za-z-]+(?:=\"[^\"<>]*\"|='[^'<>]*')?)*)\s*>")
_ATTR = re.compile(r"([A-Za-z-]+)(?:=\"([^\"]*)\"|='([^']*)')?")
_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d{1,7})|#x([0-9A-Fa-f]{1,6}));")
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


class EntityError(ValueError):
    """The text is not Telegram HTML (what Telegram answers as "can't parse entities: …")."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_html(text: str) -> tuple[str, list[tuple[str, str]]]:
    """The plain text Telegram shows for ``text`` in HTML parse mode, and its ``(tag, href)`` entities;
    ``EntityError`` for anything Telegram's parser refuses (offsets in bytes, as Telegram says them)."""
    out: list[str] = []
    stack: list[str] = []
    entities: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        offset = len(text[:i].encode())
        if ch == "<":
            match = _TAG.match(text, i)
            if not match:
                raise EntityError(f"Unexpected start tag or unescaped '<' at byte offset {offset}")
            closing, name, attrs = match[1], match[2].lower(), match[3]
            if name not in TAGS:
                raise EntityError(f'Unsupported start tag "{name}" at byte offset {offset}')
            if closing:
                if not stack:
                    raise EntityError(f'Unexpected end tag "{name}" at byte offset {offset}')
                if stack[-1] != name:
                    expected = f'expected "</{stack[-1]}>", found "</{name}>"'
                    raise EntityError(f"Unmatched end tag at byte offset {offset}, {expected}")
                stack.pop()
            else:
                href = _attrs(attrs).get("href", "")
                if name == "a" and not href:
                    raise EntityError(f'Tag "a" needs an href at byte offset {offset}')
                inside_code = bool(stack) and stack[-1] in ("code", "pre") and name != "code"
                if (name == "a" and "a" in stack) or inside_code:
                    raise EntityError(f'Tag "{name}" can\'t be nested there at byte offset {offset}')
                stack.append(name)
                entities.append((name, href))
            i = match.end()
        elif ch == ">":
            raise EntityError(f"Unescaped '>' at byte offset {offset}")
        elif ch == "&":
            match = _ENTITY.match(text, i)
            if not match:
                raise EntityError(f"Unescaped '&' or unsupported entity at byte offset {offset}")
            out.append(html.unescape(match[0]))
            i = match.end()
        else:
            out.append(ch)
            i += 1
    if stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out), entities


def _attrs(raw: str) -> dict[str, str]:
    return {m[1].lower(): html.unescape(m[2] or m[3] or "") for m in _ATTR.finditer(raw)}


@dataclass
class Chat:
    id: int
    type: str = "private"  # private | group | supergroup | channel
    username: str | None = None
    blocked: bool = False  # the user blocked the bot / the bot was kicked from the group
    next_id: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


@dataclass
class Accepted:
    chat_id: int
    message_id: int
    html: str
    text: str  # what the chat shows (after entity parsing)
    params: dict[str, Any]
    at: float
    edits: list[str] = field(default_factory=list)  # each accepted edit's html, in order


@dataclass
class Fault:
    status: int = 502
    description: str = "Bad Gateway"
    count: int = 1
    hang: bool = False
    raw: bytes | None = None  # a body that is not the Bot API's JSON (a proxy's page)
    parameters: dict[str, Any] | None = None


class FakeTelegram:
    def __init__(
        self,
        *,
        per_chat: tuple[int, float] = (1, 1.0),
        per_group: tuple[int, float] = (20, 60.0),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_chat = per_chat
        self.per_group = per_group
        self.clock = clock  # monotonic seconds: a test shares its FakeClock's, so no pace waits for real
        self.lock = threading.Lock()
        self.tokens: dict[str, int] = {}  # token → bot id
        self.chats: dict[int, Chat] = {}
        self.messages: list[Accepted] = []
        self.requests: list[tuple[str, int]] = []  # (method, status) of every call
        self.rejections: list[tuple[int, str]] = []
        self.faults: list[Fault] = []
        self._sent: dict[int, list[float]] = {}
        self.server = LoopbackServer(self.handle)

    # --- test controls ------------------------------------------------------------
    def start(self) -> FakeTelegram:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def api_base(self) -> str:
        return self.server.base_url

    def add_bot(self, bot_id: int = 123456789, secret: str = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw") -> str:
        token = f"{bot_id}:{secret}"
        self.tokens[token] = bot_id
        return token

    def add_chat(self, chat_id: int = 4242, kind: str = "private", username: str | None = None) -> Chat:
        chat = Chat(chat_id, kind, username)
        self.chats[chat_id] = chat
        return chat

    def fail(self, status: int = 502, count: int = 1, **kwargs: Any) -> Fault:
        """Answer the next ``count`` calls with ``status`` (``description``, ``hang``, ``raw``…)."""
        fault = Fault(status=status, count=count, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def texts(self, chat_id: int | None = None) -> list[str]:
        with self.lock:
            return [m.text for m in self.messages if chat_id in (None, m.chat_id)]

    # --- the API ------------------------------------------------------------------
    def handle(self, req: Request) -> Response:
        match = _PATH.match(req.path)
        if not match:
            return self._error("?", 404, "Not Found")
        token, method = match["token"], match["method"]
        with self.lock:
            if token not in self.tokens:
                return self._error(method, 401, "Unauthorized")
            if self.faults:
                return self._fault(method, self.faults[0])
            try:
                params = _params(req)
            except ValueError:
                return self._error(method, 400, "Bad Request: can't parse JSON body")
            handler = {
                "getMe": self._get_me,
                "getChat": self._get_chat,
                "sendMessage": self._send,
                "editMessageText": self._edit,
            }.get(method)
            if handler is None:
                return self._error(method, 404, "Not Found: method not found")
            return handler(method, token, params)

    def _fault(self, method: str, fault: Fault) -> Response:
        fault.count -= 1
        if fault.count <= 0:
            self.faults.pop(0)
        self.requests.append((method, fault.status))
        if fault.hang:
            return Response(hang=True)
        if fault.raw is not None:
            return Response(fault.status, fault.raw, {"Content-Type": "text/html"})
        return self._error(method, fault.status, fault.description, fault.parameters, record=False)

    def _error(
        self,
        method: str,
        status: int,
        description: str,
        parameters: dict[str, Any] | None = None,
        *,
        record: bool = True,
    ) -> Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        if record:
            self.requests.append((method, status))
        self.rejections.append((status, description))
        return _json(status, body)

    def _ok(self, method: str, result: Any) -> Response:
        self.requests.append((method, 200))
        return _json(200, {"ok": True, "result": result})

    def _chat(self, method: str, params: dict[str, Any]) -> Chat | Response:
        raw = str(params.get("chat_id", ""))
        chat = next((c for c in self.chats.values() if raw in (str(c.id), f"@{c.username}")), None)
        if chat is None:
            return self._error(method, 400, "Bad Request: chat not found")
        if chat.blocked:
            said = (
                "bot was blocked by the user"
                if chat.type == "private"
                else "bot was kicked from the group chat"
            )
            return self._error(method, 403, f"Forbidden: {said}")
        return chat

    def _get_me(self, method: str, token: str, params: dict[str, Any]) -> Response:
        bot_id = self.tokens[token]
        return self._ok(
            method, {"id": bot_id, "is_bot": True, "first_name": "stand-in", "username": "standin_bot"}
        )

    def _get_chat(self, method: str, token: str, params: dict[str, Any]) -> Response:
        chat = self._chat(method, params)
        if isinstance(chat, Response):
            return chat
        return self._ok(
            method,
            {"id": chat.id, "type": chat.type, **({"username": chat.username} if chat.username else {})},
        )

    def _text(self, method: str, params: dict[str, Any]) -> str | Response:
        """The shown text of the message, or the 400 Telegram answers for it."""
        raw = params.get("text")
        if not isinstance(raw, str):
            return self._error(method, 400, "Bad Request: message text is empty")
        try:
            text, _ = parse_html(raw) if params.get("parse_mode") == "HTML" else (raw, [])
        except EntityError as exc:
            return self._error(method, 400, f"Bad Request: can't parse entities: {exc}")
        if not text.strip():
            return self._error(method, 400, "Bad Request: message text is empty")
        if utf16_len(text) > MAX_TEXT:
            return self._error(method, 400, "Bad Request: message is too long")
        problem = _markup_problem(params.get("reply_markup"))
        if problem:
            return self._error(method, 400, f"Bad Request: {problem}")
        return text

    def _paced(self, method: str, chat: Chat) -> Response | None:
        now = self.clock()
        sent = self._sent.setdefault(chat.id, [])
        limits = [self.per_chat] + ([self.per_group] if chat.type != "private" else [])
        for count, window in limits:
            recent = [at for at in sent if at > now - window]
            if len(recent) >= count:
                retry_after = max(1, math.ceil(recent[-count] + window - now))
                description = f"Too Many Requests: retry after {retry_after}"
                return self._error(method, 429, description, {"retry_after": retry_after})
        sent.append(now)
        del sent[: -max(c for c, _ in limits)]
        return None

    def _send(self, method: str, token: str, params: dict[str, Any]) -> Response:
        chat = self._chat(method, params)
        if isinstance(chat, Response):
            return chat
        text = self._text(method, params)
        if isinstance(text, Response):
            return text
        limited = self._paced(method, chat)
        if limited is not None:
            return limited
        accepted = Accepted(chat.id, next(chat.next_id), params["text"], text, params, self.clock())
        self.messages.append(accepted)
        return self._ok(method, _message(accepted, chat))

    def _edit(self, method: str, token: str, params: dict[str, Any]) -> Response:
        chat = self._chat(method, params)
        if isinstance(chat, Response):
            return chat
        message_id = str(params.get("message_id", ""))
        target = next(
            (m for m in self.messages if m.chat_id == chat.id and str(m.message_id) == message_id), None
        )
        if target is None:
            return self._error(method, 400, "Bad Request: message to edit not found")
        text = self._text(method, params)
        if isinstance(text, Response):
            return text
        current = target.edits[-1] if target.edits else target.html
        if params["text"] == current and params.get("reply_markup") == target.params.get("reply_markup"):
            return self._error(method, 400, NOT_MODIFIED)
        limited = self._paced(method, chat)
        if limited is not None:
            return limited
        target.edits.append(params["text"])
        target.params = {**target.params, "reply_markup": params.get("reply_markup")}
        target.text = text
        return self._ok(method, _message(target, chat))


def _params(req: Request) -> dict[str, Any]:
    if "json" in req.headers.get("content-type", ""):
        body = json.loads(req.body or b"{}")
        if not isinstance(body, dict):
            raise ValueError("not an object")
        return body
    return {k: v[0] for k, v in req.query.items()}


def _markup_problem(markup: Any) -> str | None:
    """What Telegram refuses in an inline keyboard (None: fine or absent)."""
    if markup is None:
        return None
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        return "can't parse reply keyboard markup JSON object"
    for button in (b for row in rows for b in row):
        if not isinstance(button, dict) or not str(button.get("text") or "").strip():
            return "BUTTON_TEXT_INVALID"
        url = str(button.get("url") or "")
        if not re.match(r"^(https?://[^\s/]+\.[^\s]+|tg://\S+)$", url):
            return "BUTTON_URL_INVALID"
    return None


def _message(accepted: Accepted, chat: Chat) -> dict[str, Any]:
    return {
        "message_id": accepted.message_id,
        "date": int(time.time()),
        "chat": {"id": chat.id, "type": chat.type},
        "text": accepted.text,
    }


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status, json.dumps(body).encode(), {"Content-Type": "application/json"})
