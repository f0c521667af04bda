"""Loading the config: the file (JSON, UTF-8; a Windows editor's UTF-16 or CP949 is named, with the
command that converts it), then the environment over it, validated once into ``Settings``; relative
paths are made relative to the config file's folder. Precedence, highest first: environment
(``TICKET_ALARM_<KEY>``, and plain ``DISCORD_WEBHOOK_URL``), then the JSON file, then the defaults.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from ticket_alarm.config.environ import CONFIG_ENV, ENVIRON, check_env_keys, env_problem
from ticket_alarm.config.settings import Settings
from ticket_alarm.core.sections import describe_error
from ticket_alarm.errors import ConfigError
from ticket_alarm.i18n import t

DEFAULT_CONFIG_PATH = "config.json"


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
    check_env_keys(environ, set(Settings.model_fields))
    token = ENVIRON.set(environ)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e, data) for e in exc.errors())
        raise ConfigError(t("config.invalid", source=source, problems=problems)) from None
    except SettingsError as exc:  # an environment value that is not valid JSON for a nested key
        raise ConfigError(env_problem(exc, environ)) from None
    except RecursionError:
        raise ConfigError(
            f"{source}: a value is nested too deeply to be a ticket-alarm config; fix it "
            "(see config.example.json for its shape)."
        ) from None
    finally:
        ENVIRON.reset(token)
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
