"""What an HTTP status says: which answers are retried (and after how long), and the hint an
operator gets for the others (a bot challenge told apart from a plain refusal)."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from ticket_alarm.clock import Clock
from ticket_alarm.errors import FetchError
from ticket_alarm.fetch.decode import decode_text
from ticket_alarm.i18n import t

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 524})
MAX_RETRY_AFTER = 120.0  # a longer Retry-After is not waited out inside one crawl


@dataclass
class Retryable(Exception):
    """A FetchError the fetcher tries again (timeouts, connection errors, 429 and 5xx)."""

    error: FetchError

    def __str__(self) -> str:
        return str(self.error)


def retry_after(headers: httpx.Headers, clock: Clock) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date), None without one."""
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - clock.now()).total_seconds())


# Markers of bot-challenge / block pages (Cloudflare, Akamai, captcha walls, Korean WAF pages). The
# site's own HTML page (a Next.js notice page, a script shell) carries none of them.
CHALLENGE_MARKERS = (
    "just a moment",
    "cf-chl",
    "cf-browser-verification",
    "challenge-platform",
    "cf_chl_opt",
    "attention required",
    "captcha",
    "access denied",
    "request unsuccessful",
    "ddos protection",
    "checking your browser",
    "자동입력 방지",
    "비정상적인 접근",
    "보안 확인",
    "보안문자",
    # captcha widgets and robot checks (i21-ko)
    "cf-turnstile",
    "are you a robot",
    "verify you are human",
    "로봇이 아닙니다",
    # JavaScript walls: a page that shows nothing but "turn JavaScript on" to a client without it. The
    # site's own app shell ("You need to enable JavaScript to run this app.") is not one: it is the
    # page the endpoint moved to, and keeps the moved hint
    "please enable javascript",
    "enable javascript and cookies",
    "javascript is required",
    "javascript를 켜",
    "javascript를 활성화",
    "javascript를 허용",
    "자바스크립트를 켜",
    "자바스크립트를 활성화",
    "자바스크립트를 허용",
    "자바스크립트를 사용",
)


def is_challenge(text: str) -> bool:
    """Whether a page is a bot challenge / block page (known markers in its first 8 KB)."""
    head = text[:8192].lower()
    return any(marker in head for marker in CHALLENGE_MARKERS)


def status_hint(status: int, body: bytes = b"") -> str | None:
    if status in (403, 429) and body and is_challenge(decode_text(body[:8192])):
        return t("http.hint.challenge", status=status)
    if status in (401, 403):
        return t("http.hint.refused")
    if status in (404, 410):
        return t("http.hint.moved")
    if status == 423:
        return t("http.hint.locked")
    if status == 429:
        return t("http.hint.rate_limited")
    if status >= 500:
        return t("http.hint.failing")
    return None
