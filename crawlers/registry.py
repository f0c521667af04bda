"""One registry for built-in crawlers and third-party ``ticket_alarm.crawlers`` entry points."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from importlib.metadata import entry_points

from crawlers.base import Crawler
from crawlers.custom.crawler import build_crawler
from crawlers.custom.definition import CustomSiteSettings
from ticket_alarm.errors import ConfigError

ENTRY_POINT_GROUP = "ticket_alarm.crawlers"
BUILTIN_MODULES = ("crawlers.interpark", "crawlers.yes24", "crawlers.melon", "crawlers.ticketlink")


def _check(cls: object, origin: str) -> type[Crawler]:
    if not (isinstance(cls, type) and issubclass(cls, Crawler)):
        raise ConfigError(f"crawler plugin {origin}: {cls!r} is not a subclass of crawlers.base.Crawler.")
    for attr in ("name", "display_name", "color"):
        if not hasattr(cls, attr):
            raise ConfigError(f"crawler plugin {origin}: class {cls.__name__} does not set `{attr}`.")
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
            fix = (
                "rename the custom site (its `name` in custom_sites)"
                if origin.startswith("custom_sites")
                else "uninstall one of the plugins or rename its crawler"
            )
            raise ConfigError(
                f"two crawlers are named {cls.name!r}: {found[cls.name][1]} and {origin}; {fix}."
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
                raise ConfigError(
                    f"crawler plugin {ep.name} ({ep.value}) failed to load: {type(exc).__name__}: {exc}. "
                    "Fix or uninstall that package."
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
        raise ConfigError(f"unknown site {name!r}; known sites: {', '.join(registry) or '(none)'}.") from None
