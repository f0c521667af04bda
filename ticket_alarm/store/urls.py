"""A store URL's password: every spelling of it (to scrub from errors and logs) and the URL masked."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlsplit


def store_url_secrets(url: str | None) -> list[str]:
    """The password of a store URL, as written and decoded (userinfo or a ``password=`` parameter)."""
    if not url:
        return []
    parts = urlsplit(url)
    found = [parts.password or ""] + [v for k, v in parse_qsl(parts.query) if k == "password"]
    out: list[str] = []
    for secret in found:
        out += [secret, unquote(secret), quote(unquote(secret), safe="")]
    return sorted({s for s in out if s}, key=len, reverse=True)


def mask_store_url(url: str | None) -> str | None:
    """The store URL with its password replaced by ``****`` (the user, host and database stay)."""
    if not url:
        return url
    masked = url
    for secret in store_url_secrets(url):
        masked = masked.replace(f":{secret}@", ":****@").replace(f"password={secret}", "password=****")
    return masked
