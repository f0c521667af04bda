"""What every benchmark shares: the result row, quiet logging, a safe environment, small helpers."""

from __future__ import annotations

import os
import statistics
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

PASS = "PASS"
FAIL = "FAIL"
SKIPPED = "SKIPPED"
INFO = "INFO"  # measured, no target
ERROR = "ERROR"  # the benchmark itself broke: a bug, never a "missed target"


@dataclass
class Row:
    """One line of the report table."""

    benchmark: str
    measured: str
    ratio: str = "—"
    target: str = "—"
    status: str = INFO
    notes: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # raw numbers, for --json

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def verdict(ok: bool) -> str:
    return PASS if ok else FAIL


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def percentile(values: Iterable[float], q: float) -> float:
    data = sorted(values)
    if not data:
        raise ValueError("no values")
    index = min(len(data) - 1, max(0, round(q * (len(data) - 1))))
    return data[index]


def safe_environment() -> list[str]:
    """Drop every variable that could point the code under test at a real webhook or config.

    ``Settings`` reads ``DISCORD_WEBHOOK_URL`` and ``TICKET_ALARM_*`` from the environment with
    precedence over what a benchmark passes in; a developer's shell must never turn a benchmark
    into posts to a real Discord channel. Returns the names removed.
    """
    removed = [k for k in os.environ if k.startswith(("TICKET_ALARM_", "DISCORD_WEBHOOK"))]
    for key in removed:
        del os.environ[key]
    return removed


class LogCounter:
    """A loguru sink that formats every record like production does and keeps only counts."""

    def __init__(self) -> None:
        self.levels: Counter[str] = Counter()
        self.samples: list[str] = []  # the first few WARNING/ERROR lines, to show in notes

    def __call__(self, message: Any) -> None:
        level = message.record["level"].name
        self.levels[level] += 1
        if level in ("WARNING", "ERROR") and len(self.samples) < 3:
            self.samples.append(str(message).strip()[:200])


def quiet_logging() -> LogCounter:
    """Route the project's log lines into a counter (they would drown the table otherwise)."""
    from loguru import logger

    from ticket_alarm.logs import LOG_FORMAT

    counter = LogCounter()
    logger.remove()
    logger.add(counter, level="INFO", format=LOG_FORMAT, colorize=False, backtrace=False, diagnose=False)
    return counter


def say(text: str) -> None:
    """Progress lines go to stderr, so stdout carries only the table."""
    print(text, file=sys.stderr, flush=True)
