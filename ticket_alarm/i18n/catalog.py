"""The compiled catalogs: where they are and how a ``.mo`` file is read.

Each entry's ``msgctxt`` is the key ``t()`` is called with (see ``po``), so a catalog is read as
key → text: the ``.mo`` format (GNU gettext's, as ``msgfmt`` writes it) holds each context as
``key\\x04msgid``.
"""

from __future__ import annotations

import string
import struct
from pathlib import Path

DOMAIN = "ticket_alarm"
ARGPARSE_DOMAIN = "argparse"  # argparse's own words (usage:, options, its errors), by argparse's msgids
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
_MAGIC = 0x950412DE


def mo_path(lang: str, domain: str = DOMAIN) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.mo"


def read_mo(path: Path) -> dict[str, str]:
    """key → text of a compiled catalog whose entries carry their key as context."""
    return {
        msgid.split("\x04", 1)[0]: text
        for msgid, text in mo_entries(path).items()
        if "\x04" in msgid  # the header (msgid "") has no context
    }


def mo_entries(path: Path) -> dict[str, str]:
    """msgid (``context\\x04msgid`` with a context) → msgstr of a ``.mo`` file, the header included."""
    data = path.read_bytes()
    order = "<" if struct.unpack("<I", data[:4])[0] == _MAGIC else ">"
    _, count, originals, translations = struct.unpack(order + "4I", data[4:20])
    entries = {}
    for i in range(count):
        id_length, id_offset = struct.unpack_from(order + "2I", data, originals + 8 * i)
        text_length, text_offset = struct.unpack_from(order + "2I", data, translations + 8 * i)
        msgid = data[id_offset : id_offset + id_length].decode("utf-8")
        entries[msgid] = data[text_offset : text_offset + text_length].decode("utf-8")
    return entries


def brace_fields(template: str) -> set[str]:
    """The ``{fields}`` a message is filled with."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
