"""Discord webhook URLs: parse one into (id, token), mask its token, tell a changed URL from the same.

The token is a secret: it never reaches a log line, an error, a stored column or a diagnostic.
"""

from __future__ import annotations

import re

from ticket_alarm.core.urls import mask_url, parse_webhook, webhook_fingerprint

__all__ = ["mask_url", "parse_webhook", "scrub", "webhook_fingerprint"]

_WEBHOOK_PATH = re.compile(r"(/webhooks/\d+/)[A-Za-z0-9_\-]+")


def scrub(text: str, url: str | None = None) -> str:
    """``text`` with every webhook token masked: error bodies that echo the request URL (proxies do)
    must not carry the token into logs, the store or ``explain``."""
    parsed = parse_webhook(url) if url else None
    if parsed:
        text = text.replace(parsed[1], "****")
    return _WEBHOOK_PATH.sub(r"\1****", text)
