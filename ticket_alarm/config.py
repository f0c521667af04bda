"""Configuration: a JSON file plus environment overrides (pydantic-settings).

Precedence, highest first: environment (``TICKET_ALARM_<KEY>``, nested with ``__``, e.g.
``TICKET_ALARM_HTTP__TIMEOUT=10``; and plain ``DISCORD_WEBHOOK_URL``), then the JSON file,
then the defaults below. Unknown keys are an error, never ignored.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlsplit, urlunsplit

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from ticket_alarm.errors import ConfigError
from ticket_alarm.i18n import LANG_ENV, MESSAGES, t

DEFAULT_CONFIG_PATH = "config.json"
CONFIG_ENV = "TICKET_ALARM_CONFIG"
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)

_WEBHOOK_RE = re.compile(
    r"^(?:https://(?:(?:canary|ptb)\.)?discord(?:app)?\.com"
    r"|http://(?:127(?:\.\d{1,3}){3}|localhost|\[::1\])(?::\d{1,5})?)"
    r"/api/(?:v\d{1,2}/)?webhooks/(?P<id>\d{5,25})/(?P<token>[A-Za-z0-9_\-]{10,100})/?$"
)
WEBHOOK_SHAPE = MESSAGES["config.webhook_shape"][1].format()  # English; errors use t(...)


# the tokens config.example.json and the README show: a webhook URL holding one was copied, not made
_PLACEHOLDER_TOKEN = re.compile(
    r"replace|your[-_]|placeholder|changeme|webhook[-_]token|^x{5,}$", re.IGNORECASE
)
CATCH_ALL_ROUTE = "default"
# RSS of an idle-to-busy daemon: 54 MB measured after 8 cycles against one stand-in site (python 3.11);
# a max_rss_mb below it restarts the daemon after every crawl (check-config warns)
DAEMON_NORMAL_RSS_MB = 60


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


def check_store_url(value: str | None) -> str | None:
    """``store_url``: None/empty (SQLite in data_dir) or ``postgresql://user:password@host:port/db``."""
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    _no_control(value, "store_url")
    parts = urlsplit(value)
    if parts.scheme not in ("postgresql", "postgres") or not parts.path.strip("/"):
        shown = mask_store_url(value) if parts.scheme else "(not a URL)"
        raise ValueError(
            f"expected postgresql://user:password@host:port/database (or no store_url for SQLite in "
            f"data_dir), got {shown}"
        )
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


DAY = 86400.0
WEEK = 7 * DAY
# control characters (a newline in a route name forges log lines), bidi overrides and zero-width marks
_CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _no_control(value: str, what: str) -> str:
    """A config string that reaches log lines: control characters would forge or garble them."""
    match = _CONTROL.search(value)
    if match:
        raise ValueError(
            f"{what} {value!r} contains the control character U+{ord(match.group()):04X}; "
            "use printable characters only"
        )
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class HttpSettings(_Strict):
    timeout: float = Field(
        30.0, ge=0.1, le=300, description="seconds for one whole request (connect to last byte)"
    )
    user_agent: str = Field(DEFAULT_USER_AGENT, min_length=1)
    max_concurrency: int = Field(3, ge=1, le=64, description="requests in flight, all sites together")
    min_request_interval: float = Field(
        2.0, ge=0, le=300, description="seconds between two requests to one host"
    )
    retries: int = Field(3, ge=0, le=10, description="extra attempts on timeouts, 429 and 5xx")
    backoff: float = Field(1.0, ge=0, le=300, description="base of the exponential backoff, seconds")
    max_response_bytes: int = Field(
        5_000_000, ge=10_000, le=1_000_000_000, description="larger bodies are refused"
    )


class ProxySettings(_Strict):
    http: str | None = None
    https: str | None = None
    discord: str | None = None  # for the webhooks only; the site proxies never carry Discord traffic

    @field_validator("http", "https", "discord")
    @classmethod
    def _proxy_shape(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
            raise ValueError("expected a proxy URL like http://user:password@host:port")
        return value


class SiteSettings(_Strict):
    enabled: bool = True
    interval: float | None = Field(None, ge=1, le=DAY, description="seconds; default: the top-level interval")
    head_interval: float | None = Field(
        None, ge=0, le=DAY, description="seconds between head polls; null or 0: off; unset: the top-level one"
    )
    base_url: str | None = Field(None, description="replaces scheme+host of every request of this site")
    page_cap: int = Field(30, ge=1, le=500, description="safety limit on pages per crawl")
    lock_cooldown: float = Field(
        3600.0, ge=0, le=WEEK, description="seconds to leave a site alone after HTTP 423"
    )
    source: Literal["auto", "interpark", "nol"] | None = Field(
        None, description="interpark only: auto (default), interpark (the old API) or nol"
    )
    storm_threshold: int = Field(
        30, ge=1, le=100_000, description="more new notices than this in one crawl, matching known ones: held"
    )

    @field_validator("base_url")
    @classmethod
    def _base_url_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("expected scheme and host only, like http://127.0.0.1:8080")
        return value.rstrip("/")


class RouteSettings(_Strict):
    name: str = Field(min_length=1, max_length=64)
    webhook_url: str
    sites: list[str] | None = Field(None, description="only these sites; default all")
    include: list[str] = Field(default_factory=list, description="keywords or /regex/; any must match")
    exclude: list[str] = Field(default_factory=list, description="keywords or /regex/; none may match")
    genres: list[str] | None = Field(
        None, description="only notices whose genre matches one of these keywords"
    )
    exclusive_only: bool = Field(False, description="only 단독판매 notices")
    categories: list[Literal["open", "change"]] | None = Field(None, description="open and/or change notices")
    mention_role_ids: list[str] = Field(default_factory=list, description="role ids pinged in each message")
    thread_id: str | None = Field(None, description="post into this forum/thread id")
    reminders: list[int] = Field(default_factory=list, description="minutes before open_at to remind")

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        return _no_control(value, "route name")

    @field_validator("sites")
    @classmethod
    def _printable_sites(cls, values: list[str] | None) -> list[str] | None:
        for value in values or ():
            _no_control(value, "site name")
        return values

    @field_validator("mention_role_ids")
    @classmethod
    def _role_ids(cls, values: list[str]) -> list[str]:
        for value in values:
            if not re.fullmatch(r"\d{5,25}", str(value)):
                raise ValueError(f"role id {value!r} is not a Discord snowflake (digits only)")
        return [str(v) for v in values]

    @field_validator("thread_id")
    @classmethod
    def _thread_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{5,25}", str(value)):
            raise ValueError(f"thread_id {value!r} is not a Discord snowflake (digits only)")
        return value

    @field_validator("reminders")
    @classmethod
    def _reminders(cls, values: list[int]) -> list[int]:
        return _check_reminders(values)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_shape(cls, value: str) -> str:
        return _check_webhook(value)

    @field_validator("include", "exclude")
    @classmethod
    def _patterns(cls, values: list[str]) -> list[str]:
        for pattern in values:
            if not pattern.strip():
                raise ValueError("empty keyword; remove it")
            if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
                try:
                    re.compile(pattern[1:-1])
                except re.error as exc:
                    raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
        return values


def _check_reminders(values: list[int]) -> list[int]:
    for minutes in values:
        if not 1 <= minutes <= 10080:
            raise ValueError(f"reminder offset {minutes} is not between 1 and 10080 minutes (a week)")
    if len(set(values)) != len(values):
        raise ValueError("reminder offsets repeat")
    return sorted(values, reverse=True)


def _check_webhook(value: str) -> str:
    parsed = parse_webhook(value)
    if parsed is None:
        raise ValueError(t("config.not_webhook", shape=t("config.webhook_shape")))
    if _PLACEHOLDER_TOKEN.search(parsed[1]):
        raise ValueError(t("config.placeholder"))
    return value.strip()


class HealthSettings(_Strict):
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

    @field_validator("ops_webhook_url")
    @classmethod
    def _webhook_shape(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        return _check_webhook(value)


class MetricsSettings(_Strict):
    port: int | None = Field(None, ge=1, le=65535, description="Prometheus /metrics port; unset: off")
    host: str = Field("127.0.0.1", description="address the metrics endpoint binds to")


class WebSettings(_Strict):
    port: int | None = Field(None, ge=1, le=65535, description="status page / calendar port; unset: off")
    host: str = Field("127.0.0.1", description="address the status page binds to")
    token: str | None = Field(None, description="when set, every request needs it (Bearer header or ?token=)")

    @field_validator("token")
    @classmethod
    def _token(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if len(value.strip()) < 12 or any(c.isspace() or not c.isprintable() for c in value.strip()):
            raise ValueError(
                "use at least 12 printable characters without spaces, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(24))'`"
            )
        return value.strip()


# --- custom sites (crawlers/generic.py) ------------------------------------------------------------

CUSTOM_TBA_WORDS = ["추후", "미정", "TBA", "TBD", "공지예정", "오픈예정"]
CUSTOM_EMPTY_TEXT = [
    "게시물이 없습니다",
    "게시글이 없습니다",
    "등록된 글이 없습니다",
    "검색 결과가 없습니다",
    "검색된 결과가 없습니다",
    "데이터가 없습니다",
    "자료가 없습니다",
    "공지사항이 없습니다",
]
# header, query and form names whose values are credentials (not "searchKeyword")
_SECRET_NAME = re.compile(
    r"auth|cookie|token|secret|passw|session|credential|signature|(?:api|service|access)[-_]?key"
    r"|^(?:key|sig|service)$",
    re.IGNORECASE,
)


class CustomFieldSettings(_Strict):
    path: str = Field(description="JSON path relative to the item (json) or CSS selector[@attr] (html)")
    regex: str | None = Field(None, description="keep the first group (or the whole match) of this regex")


class CustomPagesSettings(_Strict):
    start: int = Field(1, ge=0, description="the first page number put into {page}")
    step: int = Field(1, ge=1, description="added to {page} for the next page (e.g. 10 for offsets)")
    max: int = Field(1, ge=1, le=500, description="pages per crawl at most (sites.<name>.page_cap too)")


class CustomSiteSettings(_Strict):
    """One entry of ``custom_sites``: a notice board watched without code (docs/custom-sites.md)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$", description="lowercase identifier, e.g. sejong")
    display_name: str = Field(min_length=1, max_length=100)
    color: int = Field(0x5865F2, ge=0, le=0xFFFFFF, description='embed colour, "#AA3366" or an integer')
    url: str = Field(description="the list's public URL; {page} is replaced by the page number")
    method: Literal["GET", "POST"] = "GET"
    form: dict[str, str] = Field(default_factory=dict, description="POST form; values may hold {page}")
    headers: dict[str, str] = Field(default_factory=dict)
    format: Literal["json", "html"]
    items: str = Field(description="JSON path to the item list (json) or CSS selector of one item (html)")
    fields: dict[str, CustomFieldSettings]
    url_template: str | None = Field(None, description="the notice link built from fields, e.g. …/{id}")
    open_at_format: list[str] = Field(default_factory=list, description="strptime formats, epoch, epoch_ms")
    tba_words: list[str] = Field(default_factory=lambda: list(CUSTOM_TBA_WORDS))
    empty_text: list[str] = Field(default_factory=lambda: list(CUSTOM_EMPTY_TEXT))
    pages: CustomPagesSettings = Field(default_factory=CustomPagesSettings)
    exclusive_keyword: str | None = Field(None, description="a title/category holding it is 단독판매")
    change_keywords: list[str] = Field(default_factory=list, description="category (or title) → change")
    usual_minimum: int = Field(1, ge=0, description="notices the board normally lists at least")

    @model_validator(mode="wrap")
    @classmethod
    def _name_the_site(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Every problem names the site and the key: ``custom site 'sejong': fields.id.regex: …``.

        After the fields, the crawler's own compiler checks paths, selectors, regexes and formats, so
        what loads is exactly what crawls (imported here: crawlers.generic imports this module).
        """
        from crawlers.generic import compile_site

        name = data.get("name") if isinstance(data, dict) else getattr(data, "name", None)
        label = name if isinstance(name, str) else "(no name)"
        try:
            site = handler(data)
        except ValidationError as exc:
            problems = "; ".join(_describe(e) for e in exc.errors())
            raise ValueError(f"custom site {label!r}: {problems}") from None
        try:
            compile_site(site)
        except ValueError as exc:
            raise ValueError(f"custom site {label!r}: {exc}") from None
        return site

    @field_validator("display_name")
    @classmethod
    def _printable_display_name(cls, value: str) -> str:
        return _no_control(value, "display_name")

    @field_validator("color", mode="before")
    @classmethod
    def _color(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().removeprefix("#").removeprefix("0x").removeprefix("0X")
            if not re.fullmatch(r"[0-9A-Fa-f]{6}", text):
                raise ValueError(f'colour {value!r}: expected "#RRGGBB" or an integer')
            return int(text, 16)
        return value

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("fields", mode="before")
    @classmethod
    def _field_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"path": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("open_at_format", mode="before")
    @classmethod
    def _one_format(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def secret_values(self) -> list[str]:
        """Header, query and form values whose names say they are credentials."""
        out: list[str] = []
        for name, value in self.headers.items():
            if _SECRET_NAME.search(name) and value:
                out.append(value)
                scheme, _, credential = value.partition(" ")
                if credential and scheme.isalpha():
                    out.append(credential.strip())
        pairs = list(self.form.items())
        for raw in urlsplit(self.url).query.split("&"):  # as written in the URL and as decoded
            name, _, value = raw.partition("=")
            pairs += [(unquote_plus(name), value), (unquote_plus(name), unquote_plus(value))]
        out += [value for name, value in pairs if _SECRET_NAME.search(name) and value and "{" not in value]
        return list(dict.fromkeys(out))

    def masked(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        secrets = sorted(self.secret_values(), key=len, reverse=True)
        for key in ("url", "url_template"):
            for secret in secrets:
                if data[key]:
                    data[key] = data[key].replace(quote(secret, safe=""), "****").replace(secret, "****")
        for group in ("headers", "form"):
            for name in data[group]:
                if _SECRET_NAME.search(name):
                    data[group][name] = "****"
        return data


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TICKET_ALARM_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
        allow_inf_nan=False,
    )

    discord_webhook_url: str | None = Field(
        None,
        validation_alias=AliasChoices(
            "discord_webhook_url", "TICKET_ALARM_DISCORD_WEBHOOK_URL", "DISCORD_WEBHOOK_URL"
        ),
    )
    routes: list[RouteSettings] | None = None
    interval: float = Field(
        600.0, ge=1, le=DAY, description="seconds between two sweeps (whole list) of one site"
    )
    head_interval: float | None = Field(
        30.0, ge=0, le=DAY, description="seconds between two polls of the newest page; null or 0: off"
    )
    data_dir: Path = Path("data")
    store_url: str | None = Field(
        None, description="unset: SQLite in data_dir; postgresql://user:password@host:port/db (replicas)"
    )
    replica_lease: float = Field(
        15.0, ge=3, le=300, description="PostgreSQL: seconds a dead replica's sites stay leased to it"
    )
    notify_on_first_run: bool = False
    change_confirm_cycles: int = Field(
        1, ge=0, le=10, description="cycles a changed notice must stay changed before its change alert"
    )
    reminders: list[int] = Field(
        default_factory=list, description="minutes before open_at to remind, for the catch-all webhook"
    )
    sites: dict[str, SiteSettings] = Field(default_factory=dict)
    custom_sites: list[CustomSiteSettings] = Field(
        default_factory=list, description="notice boards watched without code (docs/custom-sites.md)"
    )
    http: HttpSettings = Field(default_factory=HttpSettings)
    proxy: ProxySettings = Field(default_factory=ProxySettings)
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    log_dir: Path | None = Field(None, description="where supervisor writes the logs (health checks it)")
    max_rss_mb: float | None = Field(
        None, gt=0, le=1_000_000, description="finish the cycle and exit 3 above this RSS"
    )
    retention_days: float = Field(
        90.0, gt=0, le=36_500, description="days sent alerts, the digest log and the HTTP cache are kept"
    )
    health: HealthSettings = Field(default_factory=HealthSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    web: WebSettings = Field(default_factory=WebSettings)

    @field_validator("discord_webhook_url")
    @classmethod
    def _webhook_shape(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        return _check_webhook(value)

    @field_validator("reminders")
    @classmethod
    def _reminders(cls, values: list[int]) -> list[int]:
        return _check_reminders(values)

    @field_validator("store_url")
    @classmethod
    def _store_url_shape(cls, value: str | None) -> str | None:
        return check_store_url(value)

    @field_validator("sites")
    @classmethod
    def _printable_site_keys(cls, values: dict[str, SiteSettings]) -> dict[str, SiteSettings]:
        for name in values:
            _no_control(name, "site name")
        return values

    @field_validator("routes")
    @classmethod
    def _unique_route_names(cls, routes: list[RouteSettings] | None) -> list[RouteSettings] | None:
        names = [r.name for r in routes or ()]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"route name {name!r} is used twice; each route needs its own name")
        return routes

    @model_validator(mode="after")
    def _catch_all_name_is_free(self) -> Settings:
        if self.discord_webhook_url and any(r.name == CATCH_ALL_ROUTE for r in self.routes or ()):
            raise ValueError(t("config.catch_all_name", name=CATCH_ALL_ROUTE))
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file (which arrives as init kwargs).
        return (env_settings, init_settings)

    # --- derived -----------------------------------------------------------------
    def site(self, name: str) -> SiteSettings:
        return self.sites.get(name) or SiteSettings()

    def site_interval(self, name: str) -> float:
        return self.site(name).interval or self.interval

    def site_head_interval(self, name: str) -> float | None:
        """Seconds between head polls of a site, or None when they are off (null or 0)."""
        site = self.site(name)
        value = site.head_interval if "head_interval" in site.model_fields_set else self.head_interval
        return value or None

    @property
    def dry_run(self) -> bool:
        return not self.effective_routes()

    def catch_all(self) -> RouteSettings | None:
        """``discord_webhook_url`` as a route: it receives every notice that no route in ``routes`` takes."""
        if not self.discord_webhook_url:
            return None
        return RouteSettings(
            name=CATCH_ALL_ROUTE, webhook_url=self.discord_webhook_url, reminders=self.reminders
        )

    def effective_routes(self) -> list[RouteSettings]:
        """Every route deliveries go to: ``routes`` in order, then the catch-all (if set)."""
        catch_all = self.catch_all()
        return [*(self.routes or ()), *([catch_all] if catch_all else [])]

    def secrets(self) -> list[str]:
        """Every string that must never reach a log line, an error or a diagnostic."""
        out: list[str] = []
        urls = [
            self.discord_webhook_url,
            self.health.ops_webhook_url,
            *(r.webhook_url for r in self.routes or ()),
        ]
        for url in urls:
            if url:
                parsed = parse_webhook(url)
                if parsed:
                    out.append(parsed[1])
        for proxy in (self.proxy.http, self.proxy.https, self.proxy.discord):
            if proxy:
                password = urlsplit(proxy).password
                if password:
                    out.append(password)
        out += [secret for site in self.custom_sites for secret in site.secret_values()]
        out += store_url_secrets(self.store_url)
        if self.web.token:
            out.append(self.web.token)
        return [s for s in out if len(s) >= 4]

    def masked(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["discord_webhook_url"] = mask_url(data.get("discord_webhook_url"))
        data["health"]["ops_webhook_url"] = mask_url(data["health"].get("ops_webhook_url"))
        for route in data.get("routes") or []:
            route["webhook_url"] = mask_url(route["webhook_url"])
        for key in ("http", "https", "discord"):
            data["proxy"][key] = mask_url(data["proxy"].get(key))
        data["custom_sites"] = [site.masked() for site in self.custom_sites]
        data["store_url"] = mask_store_url(data.get("store_url"))
        if data["web"].get("token"):
            data["web"]["token"] = "****"
        return data


def resolve_config_path(cli_path: str | None, environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(cli_path or environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(t("config.not_found", path=path, env=CONFIG_ENV)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(t("config.unreadable", path=path, reason=exc)) from exc
    try:
        data = json.loads(text)
    except RecursionError:
        raise ConfigError(
            f"{path}: the JSON is nested too deeply to be a ticket-alarm config; fix the file "
            "(see config.example.json for its shape)."
        ) from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            t("config.bad_json", path=path, line=exc.lineno, column=exc.colno, reason=exc.msg)
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(t("config.not_object", path=path, kind=type(data).__name__))
    if "DISCORD_WEBHOOK_URL" in data:
        legacy = data.pop("DISCORD_WEBHOOK_URL")
        if data.get("discord_webhook_url") not in (None, legacy):
            raise ConfigError(t("config.legacy_conflict", path=path))
        data["discord_webhook_url"] = legacy
    return data


def _describe(error: Mapping[str, Any], data: Mapping[str, Any] | None = None) -> str:
    parts = [str(p) for p in error.get("loc", ())]
    routes = (data or {}).get("routes")
    if len(parts) >= 2 and parts[0] == "routes" and isinstance(routes, list):
        # name the route as check_site_names does: routes[concerts].include, not routes.1.include
        index = error["loc"][1]
        route = routes[index] if isinstance(index, int) and 0 <= index < len(routes) else None
        if isinstance(route, dict) and isinstance(route.get("name"), str) and route["name"]:
            parts[:2] = [f"routes[{route['name']}]"]
    loc = ".".join(parts) or "(top level)"
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return f"{loc}: {t('config.unknown_key')}{_did_you_mean(error.get('loc', ()))}"
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    return f"{loc}: {message}"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The settings model an annotation holds: HttpSettings, list[RouteSettings] | None → RouteSettings."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _did_you_mean(loc: tuple[Any, ...] | list[Any]) -> str:
    """``; did you mean `interval`?`` for a misspelt key, from the keys valid at that place."""
    model: type[BaseModel] = Settings
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
    return _suggest(str(parts[-1]), list(model.model_fields))


def _suggest(word: str, known: list[str]) -> str:
    close = difflib.get_close_matches(word.lower(), known, n=1, cutoff=0.7)
    return t("config.did_you_mean", key=close[0]) if close else ""


def load_config(path: Path | None) -> Settings:
    """Read ``path`` (if given) and the environment into validated settings, or raise ConfigError."""
    data: dict[str, Any] = {}
    source = "environment"
    if path is not None:
        data = _read_json(path)
        source = str(path)
    _check_env_keys(os.environ)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e, data) for e in exc.errors())
        raise ConfigError(t("config.invalid", source=source, problems=problems)) from None
    except SettingsError as exc:  # an environment value that is not valid JSON for a nested key
        raise ConfigError(_env_problem(exc, os.environ)) from None
    except RecursionError:
        raise ConfigError(
            f"{source}: a value is nested too deeply to be a ticket-alarm config; fix it "
            "(see config.example.json for its shape)."
        ) from None
    base = path.parent if path is not None else Path.cwd()
    # relative paths are relative to the config file's folder, never the current directory: `run
    # --config /x/config.json` from elsewhere must open the daemon's store, not a new empty one
    settings.data_dir = _absolute(settings.data_dir, base)
    if settings.log_dir is not None:
        settings.log_dir = _absolute(settings.log_dir, base)
    return settings


def _absolute(path: Path, base: Path) -> Path:
    path = path.expanduser()
    return Path(os.path.abspath(path if path.is_absolute() else base / path))


def _env_problem(exc: SettingsError, environ: Mapping[str, str]) -> str:
    """Name the variable pydantic-settings could not parse (its message names only the field)."""
    match = re.search(r'field "([^"]+)"', str(exc))
    field_name = match.group(1) if match else ""
    prefix = "TICKET_ALARM_"
    names = [n for n in sorted(environ) if n.upper() == f"{prefix}{field_name}".upper()] or [
        n for n in sorted(environ) if n.upper().startswith(prefix) and field_name
    ]
    variable = names[0] if names else f"{prefix}{field_name.upper() or '<KEY>'}"
    return (
        f"environment variable {variable}: its value is not valid JSON for the key {field_name or '?'!r} "
        f"(nested keys and lists are read as JSON, e.g. {prefix}HTTP='{{\"timeout\": 10}}' or "
        f"{prefix}REMINDERS='[60, 10]'; a single nested key can be set as {prefix}HTTP__TIMEOUT=10). "
        "Fix or unset it."
    )


def _check_env_keys(environ: Mapping[str, str]) -> None:
    """A misspelt TICKET_ALARM_* override is an error too (pydantic-settings would ignore it)."""
    prefix = "TICKET_ALARM_"
    known = set(Settings.model_fields) | {v.removeprefix(prefix).lower() for v in (CONFIG_ENV, LANG_ENV)}
    for name in sorted(environ):
        if name.upper().startswith(prefix):
            key = name[len(prefix) :].split("__", 1)[0].lower()
            if key not in known:
                raise ConfigError(
                    t("config.env_unknown", name=name, key=key, suggestion=_suggest(key, sorted(known)))
                )


def check_site_names(settings: Settings, known: list[str], source: str) -> None:
    unknown = sorted(set(settings.sites) - set(known))
    if unknown:
        raise ConfigError(
            t("config.unknown_site", source=source, site=unknown[0], known=", ".join(sorted(known)))
        )
    for name, site in settings.sites.items():
        if site.source is not None and name != "interpark":
            raise ConfigError(
                f"{source}: sites.{name}.source: only interpark has a second source (NOL); remove this key."
            )
    for route in settings.routes or ():
        for name in route.sites or ():
            if name not in known:
                raise ConfigError(
                    t(
                        "config.unknown_route_site",
                        source=source,
                        route=route.name,
                        site=name,
                        known=", ".join(sorted(known)),
                    )
                )
