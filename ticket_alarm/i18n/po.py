"""Reading and writing the ``.po`` catalogs (scripts/catalog.py and the catalog check; not at run time,
which reads the compiled ``.mo`` files: ``catalog.read_mo``).

An entry of ours: ``msgctxt`` is the key ``t()`` is called with, ``msgid`` the English text (so
``msgfmt --check-format`` holds the translation to the English ``{fields}``), ``msgstr`` the text
in the catalog's language; ``#.`` lines carry the comments of the section it belongs to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+"(.*)"\s*$')


@dataclass
class Entry:
    msgid: str
    msgstr: str = ""
    context: str | None = None
    plural: str | None = None  # msgid_plural; msgstr then holds msgstr[0] (Korean has one form)
    flags: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)  # the #. lines


def unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: _UNESCAPES.get(m.group(1), m.group(1)), text)


def quote(text: str) -> str:
    """A value as .po lines: one line, or ``""`` then a line per ``\\n`` when it has several."""
    escaped = "".join(_ESCAPES.get(c, c) for c in text)
    if "\n" not in text[:-1]:
        return f'"{escaped}"'
    parts = escaped.split("\\n")
    lines = [p + "\\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return '""\n' + "\n".join(f'"{line}"' for line in lines)


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file in order, its header (``msgid ""``) first."""
    entries: list[Entry] = []
    current: Entry | None = None
    last: str | None = None

    def flush() -> None:
        nonlocal current, last
        if current is not None:
            entries.append(current)
        current, last = None, None

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            flush()
            continue
        if line.startswith("#"):
            if last is not None:  # a comment after msgstr starts the next entry
                flush()
            current = current or Entry("")
            if line.startswith("#."):
                current.comments.append(line[3:] if line.startswith("#. ") else line[2:])
            elif line.startswith("#,"):
                current.flags += [f.strip() for f in line[2:].split(",") if f.strip()]
            continue
        match = _KEYWORD.match(line)
        if match:
            keyword, value = match.group(1), unquote(match.group(2))
            if keyword in ("msgctxt", "msgid") and last is not None and last.startswith("msgstr"):
                flush()
            current = current or Entry("")
            last = keyword
            _set(current, keyword, value, append=False)
        elif line.startswith('"') and current is not None and last is not None:
            _set(current, last, unquote(line[1:-1]), append=True)
        else:
            raise ValueError(f"{path}: cannot read the line {raw!r}")
    flush()
    return entries


def _set(entry: Entry, keyword: str, value: str, *, append: bool) -> None:
    if keyword == "msgctxt":
        entry.context = (entry.context or "") + value if append else value
    elif keyword == "msgid":
        entry.msgid = entry.msgid + value if append else value
    elif keyword == "msgid_plural":
        entry.plural = (entry.plural or "") + value if append else value
    elif keyword in ("msgstr", "msgstr[0]"):
        entry.msgstr = entry.msgstr + value if append else value
    else:
        raise ValueError(f"{keyword}: one plural form only (Korean and English catalogs)")


def format_po(entries: list[Entry]) -> str:
    """The text of a .po file (what ``read_po`` reads back unchanged)."""
    blocks = []
    for entry in entries:
        lines = [f"#. {c}".rstrip() for c in entry.comments]
        if entry.flags:
            lines.append("#, " + ", ".join(entry.flags))
        if entry.context is not None:
            lines.append(f"msgctxt {quote(entry.context)}")
        lines.append(f"msgid {quote(entry.msgid)}")
        if entry.plural is not None:
            lines += [f"msgid_plural {quote(entry.plural)}", f"msgstr[0] {quote(entry.msgstr)}"]
        else:
            lines.append(f"msgstr {quote(entry.msgstr)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
