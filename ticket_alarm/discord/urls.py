"""Discord webhook URLs: parse one into (id, token), mask its token, tell a changed URL from the same.

The token is a secret: it never reaches a log line, an error, a stored column or a diagnostic.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

_WEBHOOK_RE = re.compile(
    r"^(?:https://(?:(?:canary|ptb)\.)?discord(?:app)?\.com"
    r"|http://(?:127(?:\.\d{1,3}){3}|localhost|\[::1\])(?::\d{1,5})?)"
    r"/api/(?:v\d{1,2}/)?webhooks/(?P<id>\d{5,25})/(?P<token>[A-Za-z0-9_\-]{10,100})/?$"
)
_WEBHOOK_PATH = re.compile(r"(/webhooks/\d+/)[A-Za-z0-9_\-]+")


def parse_webhook(url: str) -> tuple[str, str] | None:
    """(id, token) of a Discord webhook URL, or None when the URL has another shape."""
    match = _WEBHOOK_RE.match(url.strip())
    return (match["id"], match["token"]) if match else None


def webhook_fingerprint(url: str) -> str:
    """A short hash of a webhook URL (the token never stored): tells a changed URL from the same one."""
    return hashlib.sha256(url.strip().encode()).hexdigest()[:16]


def mask_url(url: str | None) -> str | None:
    """The URL with webhook tokens and userinfo passwords replaced by ``****``."""
    if not url:
        return url
    parsed = parse_webhook(url)
    if parsed:
        return url.replace(parsed[1], "****")
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":****@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def scrub(text: str, url: str | None = None) -> str:
    """``text`` with every webhook token masked: error bodies that echo the request URL (proxies do)
    must not carry the token into logs, the store or ``explain``."""
    parsed = parse_webhook(url) if url else None
    if parsed:
        text = text.replace(parsed[1], "****")
    return _WEBHOOK_PATH.sub(r"\1****", text)
