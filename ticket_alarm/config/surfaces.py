"""The config sections of the operator surfaces: ``health``, ``metrics`` and ``web``.

``ticket_alarm.ops.health``, ``ticket_alarm.ops.metrics`` and ``ticket_alarm.web`` sit above the config
(they read the whole ``Settings``), so their sections live here, in the config's own package, rather
than beside their code: importing the config never imports them.
"""

from __future__ import annotations

import ipaddress

from pydantic import Field, field_validator

from ticket_alarm.core.sections import WEEK, Section
from ticket_alarm.core.urls import check_webhook
from ticket_alarm.i18n import t


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
