"""One registry for built-in crawlers and third-party ``ticket_alarm.crawlers`` entry points."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Sequence
from importlib.metadata import entry_points

from crawlers.base import Crawler
from crawlers.custom.crawler import build_crawler
from crawlers.custom.definition import CustomSiteSettings
from ticket_alarm.errors import ConfigError
from ticket_alarm.i18n import t

ENTRY_POINT_GROUP = "ticket_alarm.crawlers"
BUILTIN_MODULES = ("crawlers.interpark.site", "crawlers.yes24", "crawlers.melon", "crawlers.ticketlink")


def _check(cls: object, origin: str) -> type[Crawler]:
    if not (isinstance(cls, type) and issubclass(cls, Crawler)):
        raise ConfigError(t("registry.not_a_crawler", origin=origin, cls=repr(cls)))
    for attr in ("name", "display_name", "color"):
        if not hasattr(cls, attr):
            raise ConfigError(t("registry.missing_attr", origin=origin, cls=cls.__name__, attr=attr))
    return cls


def discover(
    include_plugins: bool = True, custom: Sequence[CustomSiteSettings] = ()
) -> dict[str, type[Crawler]]:
    """Every crawler class by name: built-ins, plugins, then the config's ``custom_sites``.

    An unknown or duplicate name is a hard error.
    """
    found: dict[str, tuple[type[Crawler], str]] = {}

    def add(cls: type[Crawler], origin: str) -> None:
        if cls.name in found and found[cls.name][0] is not cls:
            fix = t(
                "registry.duplicate.fix_custom"
                if origin.startswith("custom_sites")
                else "registry.duplicate.fix_plugin"
            )
            raise ConfigError(
                t("registry.duplicate", name=repr(cls.name), first=found[cls.name][1], second=origin, fix=fix)
            )
        found[cls.name] = (cls, origin)

    for module_name in BUILTIN_MODULES:
        module = importlib.import_module(module_name)
        add(_check(module.CRAWLER, module_name), module_name)
    if include_plugins:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                cls = ep.load()
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                raise ConfigError(
                    t("registry.plugin_failed", name=ep.name, value=ep.value, error=error)
                ) from exc
            add(_check(cls, f"entry point {ep.name} = {ep.value}"), f"entry point {ep.value}")
    for index, definition in enumerate(custom):
        try:
            cls = build_crawler(definition)
        except ValueError as exc:  # settings built without validation (model_construct)
            raise ConfigError(f"custom_sites[{index}] {definition.name!r}: {exc}") from None
        add(cls, f"custom_sites[{index}] ({definition.name!r}, defined in the config)")
    return {name: cls for name, (cls, _) in sorted(found.items())}


def get(name: str, registry: dict[str, type[Crawler]]) -> type[Crawler]:
    try:
        return registry[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(registry), n=1, cutoff=0.6)
        hint = t("registry.did_you_mean", site=close[0]) if close else ""
        known = ", ".join(registry) or t("registry.none")
        raise ConfigError(t("registry.unknown_site", name=repr(name), known=known, hint=hint)) from None
