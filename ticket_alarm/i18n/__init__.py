"""What the CLI, its hints, ``health`` and the log say, in Korean (default) or English.

The texts are gettext catalogs, ``locale/{ko,en}/LC_MESSAGES/ticket_alarm.po`` (compiled to the
``.mo`` files read here; ``python scripts/catalog.py compile`` after an edit): each entry's
``msgctxt`` is its key, ``msgid`` the English text and ``msgstr`` the text in that language.

    from ticket_alarm.i18n import t
    t("health.daemon.ok", who="pid 42", beat="…")

The language is chosen once, when the process starts: ``TICKET_ALARM_LANG=en`` is English, ``ko``
or unset Korean. It is a ``Language`` value, installed for the process (``install``); ``t`` speaks
the installed one and reads no environment. Log phrases the runbook greps (``크롤링 완료``,
``크롤링 실패``, ``알림 전송``, ``알림 전송 실패``, ``메모리 사용량``), config key names, check names
and the Nagios states (``OK``/``WARNING``/…) are the same in both languages.

An unknown key is a bug and raises ``KeyError`` at once. Call ``t`` where the text is made (when an
error is raised, a line printed), never in a module constant: that would freeze the language of
import time. Table headers are one entry with ``|`` between the columns.
"""

from __future__ import annotations

import argparse
import functools
import gettext
import os
from collections.abc import Mapping
from dataclasses import dataclass

from ticket_alarm.i18n.catalog import ARGPARSE_DOMAIN, LOCALE_DIR, mo_path, read_mo
from ticket_alarm.i18n.josa import PARTICLES, final_sound, fit_particles, josa, particle_for

__all__ = [
    "LANGUAGES",
    "LANG_ENV",
    "PARTICLES",
    "Language",
    "final_sound",
    "has",
    "install",
    "josa",
    "language",
    "language_problem",
    "particle_for",
    "set_language",
    "t",
]

LANG_ENV = "TICKET_ALARM_LANG"
LANGUAGES = ("ko", "en")


@dataclass(frozen=True, eq=False)
class Language:
    """One language's catalogs: ``t`` for ours, ``argparse`` for argparse's own words."""

    code: str
    messages: Mapping[str, str]
    argparse: gettext.NullTranslations

    @staticmethod
    @functools.cache
    def load(code: str) -> Language:
        if code not in LANGUAGES:
            raise ValueError(f"language {code!r}: expected one of {', '.join(LANGUAGES)}")
        return Language(
            code,
            read_mo(mo_path(code)),
            gettext.translation(ARGPARSE_DOMAIN, LOCALE_DIR, [code], fallback=True),  # en: argparse's own
        )

    @staticmethod
    def from_env(environ: Mapping[str, str] = os.environ) -> Language:
        """``en`` when TICKET_ALARM_LANG says English (``en``, ``en_US.UTF-8``, …), else ``ko``."""
        english = environ.get(LANG_ENV, "").strip().lower().startswith("en")
        return Language.load("en" if english else "ko")

    def t(self, key: str, /, **fields: object) -> str:
        """The message ``key`` with ``fields`` filled in. In Korean, a particle written right after a
        field (``{route}가``, ``{name!r}를``) is fitted to the value (``josa``)."""
        template = self.messages[key]
        return fit_particles(template, fields) if self.code == "ko" else template.format(**fields)


_current = Language.from_env()  # the process's, chosen as it starts (the CLI installs it again)


def install(lang: Language) -> None:
    """Make ``lang`` the process's language: ``t`` speaks it, and so does argparse.

    argparse asks ``gettext`` for its own words ("usage: ", "options", its error lines) through the
    two names it imported from it, in the default domain, whose language Python's gettext takes
    from LANGUAGE/LC_ALL/LANG only: they are pointed at the catalog of ``lang`` instead, so the
    CLI speaks TICKET_ALARM_LANG's language throughout whatever the OS locale."""
    global _current
    _current = lang
    argparse._ = lang.argparse.gettext  # type: ignore[attr-defined]
    argparse.ngettext = lang.argparse.ngettext  # type: ignore[attr-defined]


def localize_argparse() -> None:
    """argparse in the installed language (the CLI calls it as it builds its parser)."""
    install(_current)


def set_language(lang: str | None) -> None:
    """Install a language by name (None: the one TICKET_ALARM_LANG names, read again)."""
    install(Language.from_env() if lang is None else Language.load(lang))


def language() -> str:
    """The installed language's code, ``ko`` or ``en``."""
    return _current.code


def t(key: str, /, **fields: object) -> str:
    """The message ``key`` in the installed language, with ``fields`` filled in."""
    return _current.t(key, **fields)


def has(key: str) -> bool:
    """Whether the catalog has ``key`` (for words looked up by a stored value: an event, an operation)."""
    return key in _current.messages


def language_problem() -> str | None:
    """The one warning a TICKET_ALARM_LANG that names neither language deserves (it falls back to
    Korean), or None: unset, ``ko``/``en`` and locale forms such as ``en_US.UTF-8`` are fine."""
    value = os.environ.get(LANG_ENV, "")
    if not value.strip() or value.strip().lower().startswith(LANGUAGES):
        return None
    return t("cli.lang_unknown", env=LANG_ENV, value=value, allowed=", ".join(LANGUAGES))
