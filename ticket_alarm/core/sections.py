"""What every config section shares, and the sections of the operator surfaces.

Each part of ticket-alarm owns its section of the config beside its code (``HttpSettings`` and
``ProxySettings`` in ``ticket_alarm.fetch.http``, ``SiteSettings`` in ``crawlers.base``, ``RouteSettings`` in
``ticket_alarm.config.routes``, ``CustomSiteSettings`` in ``crawlers.custom.definition``);
``ticket_alarm.config.settings`` only composes them. This module sits below all of them: the strict
base model, the printable-string check, the Discord webhook URL shape (parse, mask, fingerprint, check)
and the error description with its "did you mean" suggestion.

``health``, ``metrics`` and ``web`` sit above the config (they read the whole ``Settings``), so their
sections live here, beside them, rather than inside them: importing the config never imports them.
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import re
from collections.abc import Mapping
from typing import Any, get_args
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ticket_alarm.i18n import Language, has, language, t

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


DAY = 86400.0
WEEK = 7 * DAY
# control characters (a newline in a route name forges log lines), bidi overrides and zero-width marks
_CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def no_control(value: str, what: str) -> str:
    """A config string that reaches log lines: control characters would forge or garble them."""
    match = _CONTROL.search(value)
    if match:
        raise ValueError(t("config.control_char", what=what, value=value, code=ord(match.group())))
    return value


class Section(BaseModel):
    """A config section: unknown keys are errors, assignments are validated, no inf/nan."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def check_webhook(value: str) -> str:
    parsed = parse_webhook(value)
    if parsed is None:
        raise ValueError(t("config.not_webhook", shape=t("config.webhook_shape")))
    if _PLACEHOLDER_TOKEN.search(parsed[1]):
        raise ValueError(t("config.placeholder"))
    return value.strip()


def describe_error(error: Mapping[str, Any], root: type[BaseModel], loc: str | None = None) -> str:
    """One pydantic error as ``key.path: message``; a misspelt key gets ``did you mean`` from ``root``."""
    where = loc or ".".join(str(p) for p in error.get("loc", ())) or "(top level)"
    if error.get("type", "") == "extra_forbidden":
        return f"{where}: {t('config.unknown_key')}{did_you_mean(error.get('loc', ()), root)}"
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    return f"{where}: {pydantic_text(error, message)}"


def pydantic_text(error: Mapping[str, Any], message: str) -> str:
    """pydantic's own check (a bound, a type) in the operator's language: English is pydantic's text
    unchanged; Korean comes from the catalog by the error's type, with its ``ctx`` (``ge``, ``expected``,
    …). A type the catalog does not know keeps pydantic's text rather than losing it."""
    key = f"pydantic.{error.get('type', '')}"
    if language() == "en" or not has(key):
        return message
    try:
        ctx = {
            k: int(v) if isinstance(v, float) and v.is_integer() else v
            for k, v in (error.get("ctx") or {}).items()
        }
        return t(key, **ctx)
    except KeyError:  # a pydantic version whose ctx lacks a field: its own words, never a crash
        return message


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The settings model an annotation holds: HttpSettings, list[RouteSettings] | None → RouteSettings."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def did_you_mean(loc: tuple[Any, ...] | list[Any], root: type[BaseModel]) -> str:
    """``; did you mean `interval`?`` for a misspelt key, from the keys valid at that place."""
    model: type[BaseModel] = root
    parts = list(loc)
    index = 0
    while index < len(parts) - 1:
        field = model.model_fields.get(str(parts[index]))
        inner = _model_of(field.annotation) if field is not None else None
        if field is None or inner is None:
            return ""
        direct = isinstance(field.annotation, type) or all(
            a is type(None) or a is inner for a in get_args(field.annotation)
        )
        index += 1 if direct else 2  # dict keys (sites.melon) and list indexes (routes.0) hold a model
        model = inner
    if index != len(parts) - 1:
        return ""
    return suggest(str(parts[-1]), list(model.model_fields))


def suggest(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word.lower(), known, n=1, cutoff=0.7)
    return t("config.did_you_mean", key=close[0]) if close else ""


# --- the operator surfaces' sections (health.py, metrics.py, web.py) -------------------------------


class HealthSettings(Section):
    ops_webhook_url: str | None = Field(None, description="where `health --notify` posts state changes")
    cpu_warn: float = Field(80.0, gt=0, le=100, description="CPU use %, above it: WARNING")
    memory_warn: float = Field(85.0, gt=0, le=100, description="memory use %, above it: WARNING")
    disk_warn: float = Field(
        85.0, gt=0, le=100, description="disk use % of data_dir/log_dir, above it: WARNING"
    )
    outbox_age_warn: float = Field(
        1800.0, gt=0, le=WEEK, description="seconds the oldest pending alert may wait"
    )
    failure_streak_warn: int = Field(
        3, ge=1, le=100_000, description="consecutive failed crawls of a site: WARNING"
    )
    site_failing_after: float = Field(
        600.0, ge=1, le=WEEK, description="seconds a site fails before the daemon tells ops_webhook_url"
    )

    @field_validator("ops_webhook_url")
    @classmethod
    def _webhook_shape(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        return check_webhook(value)


class MetricsSettings(Section):
    port: int | None = Field(None, ge=1, le=65535, description="Prometheus /metrics port; unset: off")
    host: str = Field("127.0.0.1", description="address the metrics endpoint binds to")


def is_loopback(host: str) -> bool:
    """``web.host``/``metrics.host`` reachable from this machine only (127.0.0.1, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebSettings(Section):
    port: int | None = Field(None, ge=1, le=65535, description="status page / calendar port; unset: off")
    host: str = Field("127.0.0.1", description="address the status page binds to")
    token: str | None = Field(None, description="when set, every request needs it (Bearer header or ?token=)")

    @field_validator("token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if len(value.strip()) < 12 or any(c.isspace() or not c.isprintable() for c in value.strip()):
            raise ValueError(t("config.web_token"))
        return value.strip()
