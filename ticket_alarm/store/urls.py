"""A store URL: checked (``store_url``), its password in every spelling (to scrub from errors and logs),
and the URL masked."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ticket_alarm.core.sections import no_control
from ticket_alarm.i18n import t


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


def check_store_url(value: str | None) -> str | None:
    """``store_url``: None/empty (SQLite in data_dir) or ``postgresql://user:password@host:port/db``."""
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    no_control(value, "store_url")
    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
        shown = mask_store_url(value) if parts.scheme else t("config.not_a_url")
        raise ValueError(t("config.store_url", shown=shown))
    return value
