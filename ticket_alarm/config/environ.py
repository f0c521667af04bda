"""The environment's part of the config: ``TICKET_ALARM_<KEY>`` overrides (nested with ``__``, e.g.
``TICKET_ALARM_HTTP__TIMEOUT=10``), read from the mapping ``load_config`` was given, never from
``os.environ`` itself; a misspelt override is an error, and a value that is not JSON names its variable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from contextvars import ContextVar

from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsError

from ticket_alarm.clock import CLOCK_ENV
from ticket_alarm.core.sections import suggest
from ticket_alarm.errors import ConfigError
from ticket_alarm.i18n import LANG_ENV, t

CONFIG_ENV = "TICKET_ALARM_CONFIG"
PREFIX = "TICKET_ALARM_"

# the environment of the load_config call under way (Settings reads it through EnvironSource)
ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("ticket_alarm_environ", default=None)


class EnvironSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping, never ``os.environ`` itself."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ  # read by _load_env_vars, which the parent's __init__ calls
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._environ.items()}  # case-insensitive


def check_env_keys(environ: Mapping[str, str], fields: Set[str]) -> None:
    """A misspelt TICKET_ALARM_* override is an error too (pydantic-settings would ignore it)."""
    prefix = PREFIX
    known = set(fields) | {v.removeprefix(prefix).lower() for v in (CONFIG_ENV, LANG_ENV, CLOCK_ENV)}
    for name in sorted(environ):
        if name.upper().startswith(prefix):
            key = name[len(prefix) :].split("__", 1)[0].lower()
            if key not in known:
                raise ConfigError(
                    t("config.env_unknown", name=name, key=key, suggestion=suggest(key, sorted(known)))
                )


def env_problem(exc: SettingsError, environ: Mapping[str, str]) -> str:
    """Name the variable pydantic-settings could not parse (its message names only the field)."""
    match = re.search(r'field "([^"]+)"', str(exc))
    field_name = match.group(1) if match else ""
    prefix = PREFIX
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
