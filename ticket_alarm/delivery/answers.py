"""What an HTTP destination answered, read the same way by every notifier."""

from __future__ import annotations

from typing import Any

import httpx


def json_object(resp: httpx.Response) -> dict[str, Any] | None:
    """The answer's JSON object, or None for anything else (an HTML page from Cloudflare or a proxy,
    an empty body, JSON that is not an object)."""
    if "json" not in resp.headers.get("content-type", ""):
        return None
    try:
        body = resp.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
