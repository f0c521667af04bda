"""JSON paths of custom sites: dotted keys with ``[N]``, ``[*]`` and ``["key"]`` steps, nothing evaluated."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

# --- JSON paths --------------------------------------------------------------------------------------


class _Wild:
    """The ``[*]`` step."""

    def __repr__(self) -> str:
        return "[*]"


WILD: Final = _Wild()
Step = str | int | _Wild

_SEGMENT = re.compile(
    r"""(?P<dot>\.)?(?:
        (?P<key>[^.\[\]\s"'*]+)
      | (?P<star>\*)
    )
    | \[\s*(?:
        (?P<index>-?\d{1,9})
      | (?P<wild>\*)
      | (?P<q>["'])(?P<qkey>(?:(?!(?P=q)).)*)(?P=q)
    )\s*\]""",
    re.X,
)


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A compiled dotted path; ``steps`` are keys, indexes and ``WILD``."""

    text: str
    steps: tuple[Step, ...]

    @property
    def multi(self) -> bool:
        return any(step is WILD for step in self.steps)

    def describe(self, upto: int) -> str:
        out = ""
        for step in self.steps[:upto]:
            if step is WILD:
                out += "[*]"
            elif isinstance(step, int):
                out += f"[{step}]"
            else:
                out += f".{step}" if out else str(step)
        return out or "$"

    def find(self, data: Any) -> list[Any]:
        """Every value the path reaches; missing keys and indexes reach nothing."""
        current = [data]
        for step in self.steps:
            current = [value for item in current for value in _step(item, step)]
        return current

    def find_strict(self, data: Any) -> list[Any]:
        """Like ``find``, but a missing key, index or list is a ``LookupError`` saying where."""
        current = [data]
        for n, step in enumerate(self.steps):
            following: list[Any] = []
            for item in current:
                values = _step(item, step)
                if not values and not (step is WILD and isinstance(item, list | dict)):
                    raise LookupError(f"{self.describe(n + 1)}: {_why_missing(item, step)}")
                following += values
            current = following
        return current


def _step(value: Any, step: Step) -> list[Any]:
    if step is WILD:
        if isinstance(value, list):
            return list(value)
        if isinstance(value, dict):
            return list(value.values())
        return []
    if isinstance(step, int):
        if isinstance(value, list) and -len(value) <= step < len(value):
            return [value[step]]
        return []
    if isinstance(value, dict) and step in value:
        return [value[step]]
    return []


def _why_missing(value: Any, step: Step) -> str:
    kind = kind_of(value)
    if isinstance(step, str):
        if isinstance(value, dict):
            keys = ", ".join(sorted(str(k) for k in value)[:12]) or "none"
            return f"no key {step!r} (keys there: {keys})"
        return f"expected an object with key {step!r}, found {kind}"
    if isinstance(step, int):
        if isinstance(value, list):
            return f"no element [{step}] (the list has {len(value)})"
        return f"expected a list, found {kind}"
    return f"expected a list or object, found {kind}"


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def compile_json_path(text: str, *, relative: bool = False) -> JsonPath:
    """Parse ``data.list[*]``; ``ValueError`` says what is wrong and where."""
    source = text.strip()
    rest = source
    if relative and rest.startswith("$"):
        raise ValueError(
            f"{text!r}: field paths are relative to the item; write {rest.lstrip('$.') or 'the key'!r}"
        )
    for prefix in ("$", "@"):
        if rest.startswith(prefix):
            rest = rest[1:]
            break
    steps: list[Step] = []
    pos = 0
    while pos < len(rest):
        match = _SEGMENT.match(rest, pos)
        if match is None:
            raise ValueError(f"{text!r}: cannot read the path at {rest[pos : pos + 10]!r}; {_PATH_SYNTAX}")
        if match["key"] is not None or match["star"] is not None:
            if not match["dot"] and steps:
                raise ValueError(f"{text!r}: a '.' must separate {rest[:pos]!r} and {match[0]!r}")
            if match["dot"] and not steps and not source.startswith(("$", "@")):
                raise ValueError(f"{text!r}: the path starts with '.'; {_PATH_SYNTAX}")
            steps.append(WILD if match["star"] is not None else match["key"])
        elif match["index"] is not None:
            steps.append(int(match["index"]))
        elif match["wild"] is not None:
            steps.append(WILD)
        else:
            steps.append(match["qkey"])
        pos = match.end()
    return JsonPath(source, tuple(steps))


_PATH_SYNTAX = 'expected keys separated by dots with [N], [*] or ["key"] steps, like data.list[*].title'
