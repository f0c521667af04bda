"""The URL shapes the config checks and every layer masks: Discord webhook URLs (parse, check, mask,
fingerprint), ntfy topic URLs (parse, check), the store URL (check, its password) and a proxy's userinfo.

They sit this low because the config validates them (``discord_webhook_url``, ``routes[].webhook_url``,
``health.ops_webhook_url``, ``store_url``) and the store masks its own URL: the config is below
delivery, the store below the config, so neither may import Discord's package or the config for them.
Discord's own use of them (``scrub``) lives in ``ticket_alarm.delivery.discord.urls``.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from ticket_alarm.core.sections import no_control
from ticket_alarm.i18n import Language, t

_WEBHOOK_RE = re.compile(
    r"^(?:https://(?:(?:canary|ptb)\.)?discord(?:app)?\.com"
    r"|http://(?:127(?:\.\d{1,3}){3}|localhost|\[::1\])(?::\d{1,5})?)"
    r"/api/(?:v\d{1,2}/)?webhooks/(?P<id>\d{5,25})/(?P<token>[A-Za-z0-9_\-]{10,100})/?$"
)
WEBHOOK_SHAPE = Language.load("en").t("config.webhook_shape")  # English; errors use t(...)


# the tokens config.example.json and the README show: a webhook URL holding one was copied, not made
_PLACEHOLDER_TOKEN = re.compile(
    r"replace|your[-_]|placeholder|changeme|webhook[-_]token|^x{5,}$", re.IGNORECASE
)


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


def check_webhook(value: str) -> str:
    parsed = parse_webhook(value)
    if parsed is None:
        raise ValueError(t("config.not_webhook", shape=t("config.webhook_shape")))
    if _PLACEHOLDER_TOKEN.search(parsed[1]):
        raise ValueError(t("config.placeholder"))
    return value.strip()


# an ntfy topic: 1–64 of [-_A-Za-z0-9] (ntfy's own rule), the last path segment of its URL
_NTFY_TOPIC = re.compile(r"[-_A-Za-z0-9]{1,64}")
_LOOPBACK_HOST = re.compile(r"^(?:127(?:\.\d{1,3}){3}|localhost|::1)$")


def parse_ntfy(url: str) -> tuple[str, str] | None:
    """(server base, topic) of an ntfy topic URL (``https://ntfy.sh/TOPIC``, a self-hosted server, plain
    http on a loopback host for tests), or None when the URL has another shape."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    secure = parts.scheme == "https" and "." in host
    if not (secure or (parts.scheme == "http" and _LOOPBACK_HOST.match(host))):
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    prefix, _, topic = parts.path.rstrip("/").rpartition("/")
    if not _NTFY_TOPIC.fullmatch(topic):
        return None
    return urlunsplit((parts.scheme, parts.netloc, prefix, "", "")), topic


def check_ntfy_url(value: str | None) -> str | None:
    if value is None or value.strip() == "":
        return None
    if parse_ntfy(value) is None:
        raise ValueError(t("config.ntfy_url"))
    return value.strip()


def check_ntfy_token(value: str | None) -> str | None:
    """An ntfy access token (``tk_…``) or another token sent as it is: printable ASCII, no spaces."""
    if value is None or value == "":
        return None
    if not re.fullmatch(r"[!-~]{4,200}", value) or (value.startswith("tk_") and len(value) != 32):
        raise ValueError(t("config.ntfy_token"))
    return value


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
