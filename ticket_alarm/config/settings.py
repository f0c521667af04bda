"""Configuration: a JSON file plus environment overrides (pydantic-settings).

Precedence, highest first: environment (``TICKET_ALARM_<KEY>``, nested with ``__``, e.g.
``TICKET_ALARM_HTTP__TIMEOUT=10``; and plain ``DISCORD_WEBHOOK_URL``), then the JSON file,
then the defaults below. Unknown keys are an error, never ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from crawlers.base import Crawler, SiteSettings, head_off_value
from crawlers.custom.definition import (
    CUSTOM_EMPTY_TEXT,
    CUSTOM_TBA_WORDS,
    CustomFieldSettings,
    CustomPagesSettings,
    CustomSiteSettings,
)
from ticket_alarm.config.routes import MainReceives, RouteSettings, check_reminders, check_role_ids
from ticket_alarm.core.sections import (
    DAY,
    WEBHOOK_SHAPE,
    WEEK,
    HealthSettings,
    MetricsSettings,
    WebSettings,
    check_webhook,
    describe_error,
    mask_url,
    no_control,
    parse_webhook,
    suggest,
    webhook_fingerprint,
)
from ticket_alarm.errors import ConfigError
from ticket_alarm.fetch.http import DEFAULT_USER_AGENT, HttpSettings, ProxySettings
from ticket_alarm.i18n import LANG_ENV, t
from ticket_alarm.store.urls import check_store_url, mask_store_url, store_url_secrets

# config.py owns no section: it composes the sections their parts own (see ticket_alarm/core/sections.py)
__all__ = [
    "CATCH_ALL_ROUTE",
    "CONFIG_ENV",
    "CUSTOM_EMPTY_TEXT",
    "CUSTOM_TBA_WORDS",
    "DAEMON_NORMAL_RSS_MB",
    "DAY",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_USER_AGENT",
    "WEBHOOK_SHAPE",
    "WEEK",
    "CustomFieldSettings",
    "CustomPagesSettings",
    "CustomSiteSettings",
    "HealthSettings",
    "HttpSettings",
    "MetricsSettings",
    "ProxySettings",
    "RouteSettings",
    "Settings",
    "SiteSettings",
    "WebSettings",
    "check_site_names",
    "load_config",
    "mask_url",
    "parse_webhook",
    "resolve_config_path",
    "webhook_fingerprint",
]

DEFAULT_CONFIG_PATH = "config.json"
CONFIG_ENV = "TICKET_ALARM_CONFIG"
CATCH_ALL_ROUTE = "default"
OPS_ROUTE = "ops"  # the lane of health.ops_webhook_url: ops messages, never a subscriber's route
# RSS of an idle-to-busy daemon: 54 MB measured after 8 cycles against one stand-in site (python 3.11);
# a max_rss_mb below it restarts the daemon after every crawl (check-config warns)
DAEMON_NORMAL_RSS_MB = 60


# the environment of the load_config call under way (Settings reads it through _EnvironSource)
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("ticket_alarm_environ", default=None)


class _EnvironSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping, never ``os.environ`` itself."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ  # read by _load_env_vars, which the parent's __init__ calls
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._environ.items()}  # case-insensitive


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
    main_receives: MainReceives = Field(
        "all",
        description="discord_webhook_url gets every notice (all) or only what no route takes (unrouted)",
    )
    mention_role_ids: list[str] = Field(
        default_factory=list, description="role ids pinged in each discord_webhook_url message"
    )
    interval: float = Field(
        600.0, ge=1, le=DAY, description="seconds between two sweeps (whole list) of one site"
    )
    head_interval: float | None = Field(
        30.0, ge=0, le=DAY, description="seconds between two polls of the newest page; 0 or false: off"
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
        return check_webhook(value)

    @field_validator("head_interval", mode="before")
    @classmethod
    def _head_off(cls, value: Any) -> Any:
        return head_off_value(value)

    @field_validator("reminders")
    @classmethod
    def _reminders(cls, values: list[int]) -> list[int]:
        return check_reminders(values)

    @field_validator("mention_role_ids")
    @classmethod
    def _role_ids(cls, values: list[str]) -> list[str]:
        return check_role_ids(values)

    @field_validator("store_url")
    @classmethod
    def _store_url_shape(cls, value: str | None) -> str | None:
        return check_store_url(value)

    @field_validator("sites")
    @classmethod
    def _printable_site_keys(cls, values: dict[str, SiteSettings]) -> dict[str, SiteSettings]:
        for name in values:
            no_control(name, "site name")
        return values

    @field_validator("routes")
    @classmethod
    def _unique_route_names(cls, routes: list[RouteSettings] | None) -> list[RouteSettings] | None:
        names = [r.name for r in routes or ()]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(t("config.route_twice", name=name))
        return routes

    @model_validator(mode="after")
    def _catch_all_name_is_free(self) -> Settings:
        if self.discord_webhook_url and any(r.name == CATCH_ALL_ROUTE for r in self.routes or ()):
            raise ValueError(t("config.catch_all_name", name=CATCH_ALL_ROUTE))
        if self.health.ops_webhook_url and any(r.name == OPS_ROUTE for r in self.routes or ()):
            raise ValueError(t("config.ops_route_name", name=OPS_ROUTE))
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
        # The environment load_config was given overrides the file (which arrives as init kwargs);
        # Settings(...) built directly reads no environment at all.
        environ = _ENVIRON.get()
        return (_EnvironSource(settings_cls, environ if environ is not None else {}), init_settings)

    # --- derived -----------------------------------------------------------------
    def site(self, name: str) -> SiteSettings:
        return self.sites.get(name) or SiteSettings()

    def site_interval(self, name: str) -> float:
        return self.site(name).interval or self.interval

    def site_head_interval(self, name: str) -> float | None:
        """Seconds between head polls of a site, or None when they are off. A site's ``null`` (as
        config.example.json writes it) inherits the top-level value; off is said with 0 or ``false``."""
        site = self.site(name)
        value = site.head_interval if site.head_interval is not None else self.head_interval
        return value or None

    def heads_off(self, known: Mapping[str, type[Crawler]]) -> list[str]:
        """Enabled sites whose crawler can poll its newest page, but whose head polls are off: a new
        notice there waits for the next sweep (``interval``), not ``head_interval``."""
        return [
            name
            for name, crawler in known.items()
            if self.site(name).enabled
            and crawler.head_pages is not Crawler.head_pages
            and self.site_head_interval(name) is None
        ]

    @property
    def dry_run(self) -> bool:
        return not self.effective_routes()

    def catch_all(self) -> RouteSettings | None:
        """``discord_webhook_url`` as a route (the main channel; ``main_receives`` says what it gets)."""
        if not self.discord_webhook_url:
            return None
        return RouteSettings(
            name=CATCH_ALL_ROUTE,
            webhook_url=self.discord_webhook_url,
            reminders=self.reminders,
            mention_role_ids=self.mention_role_ids,
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


def _encoding_of(raw: bytes) -> str | None:
    """The encoding a config that is not UTF-8 was saved in (as iconv names it), or None if unknown:
    Windows editors save UTF-16 ("Unicode") or CP949 (Korean "ANSI")."""
    if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    if b"\x00" in raw[:64]:  # JSON's ASCII punctuation, every other byte NUL: UTF-16 without a BOM
        return "UTF-16LE" if raw[1:2] == b"\x00" else "UTF-16BE"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        with contextlib.suppress(UnicodeDecodeError):
            if re.search("[\uac00-\ud7a3]", raw.decode("cp949")):  # Korean text, not Latin-1 by chance
                return "CP949"
        return None
    return "UTF-8"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(t("config.not_found", path=path, env=CONFIG_ENV)) from None
    except OSError as exc:
        raise ConfigError(t("config.unreadable", path=path, reason=exc)) from exc
    encoding = _encoding_of(raw)
    if encoding != "UTF-8":
        converted = path.with_name(f"{path.stem}.utf8{path.suffix}")
        if encoding is None:
            raise ConfigError(t("config.not_utf8", path=path))
        command = f"iconv -f {encoding} -t UTF-8 {shlex.quote(str(path))} > {shlex.quote(str(converted))}"
        raise ConfigError(t("config.encoding", path=path, encoding=encoding, command=command))
    text = raw.decode("utf-8-sig")
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
    return describe_error(error, Settings, ".".join(parts) or "(top level)")


def load_config(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """Read ``path`` (if given) and ``environ`` (the CLI passes ``os.environ``) into validated
    settings, or raise ConfigError. Everything is validated once, custom sites compiled included."""
    data: dict[str, Any] = {}
    source = "environment"
    if path is not None:
        data = _read_json(path)
        source = str(path)
    _check_env_keys(environ)
    token = _ENVIRON.set(environ)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e, data) for e in exc.errors())
        raise ConfigError(t("config.invalid", source=source, problems=problems)) from None
    except SettingsError as exc:  # an environment value that is not valid JSON for a nested key
        raise ConfigError(_env_problem(exc, environ)) from None
    except RecursionError:
        raise ConfigError(
            f"{source}: a value is nested too deeply to be a ticket-alarm config; fix it "
            "(see config.example.json for its shape)."
        ) from None
    finally:
        _ENVIRON.reset(token)
    base = Path(os.path.realpath(path)).parent if path is not None else Path.cwd()
    # relative paths are relative to the config file's folder, never the current directory: `run
    # --config /x/config.json` from elsewhere must open the daemon's store, not a new empty one. The
    # folder of the file itself, not of a symlink to it: two paths to one config are one data_dir
    # (one instance lock), never two daemons on two stores
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
                    t("config.env_unknown", name=name, key=key, suggestion=suggest(key, sorted(known)))
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
