"""What every config section shares: the strict base model, the printable-string check and the
error description with its "did you mean" suggestion.

Each part of ticket-alarm owns its section of the config beside its code (``HttpSettings`` and
``ProxySettings`` in ``ticket_alarm.fetch.settings``, ``SiteSettings`` in ``crawlers.base``,
``CustomSiteSettings`` in ``crawlers.custom.definition``, ``RouteSettings`` in
``ticket_alarm.config.routes``, the operator surfaces' in ``ticket_alarm.config.surfaces``);
``ticket_alarm.config.settings`` only composes them. This module sits below all of them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict

from ticket_alarm.i18n import has, language, t

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
