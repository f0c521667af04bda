"""The config sections the fetch layer owns: ``http`` and ``proxy``."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from ticket_alarm.core.sections import Section

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


class HttpSettings(Section):
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


class ProxySettings(Section):
    http: str | None = None
    https: str | None = None
    discord: str | None = None  # for delivery only (Discord, ntfy); the site proxies never carry it

    @field_validator("http", "https", "discord")
    @classmethod
    def _proxy_shape(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname:
            raise ValueError("expected a proxy URL like http://user:password@host:port")
        return value
