"""The config model: ``Settings`` composes the sections their parts own (see
``ticket_alarm/core/sections.py``) and derives what the daemon asks of them (effective routes, a
site's intervals, the secrets to redact, the masked view ``check-config`` prints). Unknown keys are an
error, never ignored. Reading a file and the environment into it: ``ticket_alarm.config.load``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from crawlers.base import Crawler, SiteSettings, head_off_value
from crawlers.custom.definition import CustomSiteSettings
from ticket_alarm.config.environ import ENVIRON, EnvironSource
from ticket_alarm.config.routes import (
    Destination,
    MainReceives,
    RouteSettings,
    check_reminders,
    check_role_ids,
    destinations,
)
from ticket_alarm.config.surfaces import HealthSettings, MetricsSettings, WebSettings
from ticket_alarm.core.sections import DAY, no_control
from ticket_alarm.core.urls import (
    check_store_url,
    check_webhook,
    mask_store_url,
    mask_url,
    parse_webhook,
    store_url_secrets,
)
from ticket_alarm.fetch.settings import HttpSettings, ProxySettings
from ticket_alarm.i18n import t

# the sections Settings is made of, for a reader of the whole model (the docs' tests walk them)
__all__ = [
    "CATCH_ALL_ROUTE",
    "DAEMON_NORMAL_RSS_MB",
    "OPS_ROUTE",
    "CustomSiteSettings",
    "HealthSettings",
    "HttpSettings",
    "MetricsSettings",
    "ProxySettings",
    "RouteSettings",
    "Settings",
    "SiteSettings",
    "WebSettings",
]

CATCH_ALL_ROUTE = "default"
OPS_ROUTE = "ops"  # the lane of health.ops_webhook_url: ops messages, never a subscriber's route
# RSS of an idle-to-busy daemon: 54 MB measured after 8 cycles against one stand-in site (python 3.11);
# a max_rss_mb below it restarts the daemon after every crawl (check-config warns)
DAEMON_NORMAL_RSS_MB = 60


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
        owner: dict[str, str] = {}  # a lane is one destination's: route "a/ntfy" beside a's ntfy is refused
        for dest in self.destinations():
            if owner.setdefault(dest.lane, dest.route.name) != dest.route.name:
                raise ValueError(t("config.lane_twice", lane=dest.lane, name=dest.route.name))
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
        environ = ENVIRON.get()
        return (EnvironSource(settings_cls, environ if environ is not None else {}), init_settings)

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

    def destinations(self) -> list[Destination]:
        """Every destination of every effective route: one outbox lane each."""
        return [d for route in self.effective_routes() for d in destinations(route)]

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
        for route in self.routes or ():
            out += [s for s in (route.ntfy_token, route.telegram and route.telegram.bot_token) if s]
        if self.web.token:
            out.append(self.web.token)
        return [s for s in out if len(s) >= 4]

    def masked(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        data["discord_webhook_url"] = mask_url(data.get("discord_webhook_url"))
        data["health"]["ops_webhook_url"] = mask_url(data["health"].get("ops_webhook_url"))
        for route in data.get("routes") or []:
            route["webhook_url"] = mask_url(route["webhook_url"])
            if route.get("ntfy_token"):
                route["ntfy_token"] = "****"
            if route.get("telegram"):
                route["telegram"]["bot_token"] = "****"
        for key in ("http", "https", "discord"):
            data["proxy"][key] = mask_url(data["proxy"].get(key))
        data["custom_sites"] = [site.masked() for site in self.custom_sites]
        data["store_url"] = mask_store_url(data.get("store_url"))
        if data["web"].get("token"):
            data["web"]["token"] = "****"
        return data
