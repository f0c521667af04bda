"""Terminal text aligned by display width: a Hangul syllable takes two columns, a combining mark none.

Every table the CLI prints (``history``, ``upcoming``, ``test-crawlers``, ``explain``) pads and
cuts its cells here, so Korean titles line up with ASCII ones.
"""

from __future__ import annotations

from collections.abc import Sequence

from wcwidth import wcswidth, wcwidth

ELLIPSIS = "…"


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal (a non-printable character counts as none)."""
    total = wcswidth(text)
    if total >= 0:
        return total
    return sum(max(0, wcwidth(ch)) for ch in text)


def cut(text: str, columns: int) -> str:
    """``text`` shortened to at most ``columns`` columns, ending in … when something was cut."""
    if width(text) <= columns:
        return text
    out, used = [], 0
    for ch in text:
        w = max(0, wcwidth(ch))
        if used + w > columns - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + ELLIPSIS


def pad(text: str, columns: int, align: str = "<") -> str:
    """``text`` filled with spaces to ``columns`` columns (``>`` right-aligns)."""
    fill = " " * max(0, columns - width(text))
    return fill + text if align == ">" else text + fill


def render(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    align: str = "",
    limits: Sequence[int | None] = (),
    gap: str = "  ",
) -> list[str]:
    """Lines of a table: columns as wide as their widest cell (or ``limits[i]`` columns, cut with …).

    ``align`` holds one ``<`` or ``>`` per column (missing: left). A left-aligned last column is not padded.
    """
    count = len(header)
    limited = [limits[i] if i < len(limits) else None for i in range(count)]
    cells = [[cut(str(c), lim) if (lim := limited[i]) else str(c) for i, c in enumerate(row)] for row in rows]
    widths = [max([width(header[i])] + [width(r[i]) for r in cells]) for i in range(count)]
    lines = []
    for row in [list(header), *cells]:
        parts = []
        for i, c in enumerate(row):
            how = align[i] if i < len(align) else "<"
            parts.append(pad(c, widths[i], how) if i < count - 1 or how == ">" else c)
        lines.append(gap.join(parts).rstrip())
    return lines
