"""Time as a dependency: production uses ``SystemClock``; tests inject ``FakeClock``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware (UTC)."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


CLOCK_ENV = "TICKET_ALARM_CLOCK_FILE"  # tests of the real daemon: a file of seconds added to the time


class ShiftedClock(SystemClock):
    """The system clock moved by the seconds a file holds, read at every call: an end-to-end test
    takes the real daemon through quiet hours and digest hours without waiting for them (``monotonic``
    and ``sleep`` stay real). A missing or unreadable file moves nothing."""

    def __init__(self, path: str) -> None:
        self.path = path

    def now(self) -> datetime:
        try:
            with open(self.path, encoding="ascii") as f:
                return super().now() + timedelta(seconds=float(f.read().strip() or 0))
        except (OSError, ValueError):
            return super().now()


def process_clock(environ: Mapping[str, str]) -> Clock:
    """The daemon's clock: the system's, shifted only when ``TICKET_ALARM_CLOCK_FILE`` names a file."""
    path = environ.get(CLOCK_ENV)
    return ShiftedClock(path) if path else SystemClock()


class FakeClock:
    """A clock whose ``sleep`` advances time instantly (and yields to the loop once)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
        self._mono = 1000.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        # datetime has microsecond resolution: a positive sleep below 0.5 µs must still move `now`, or a
        # loop waiting for "due <= now" (Delivery.drain) would sleep 1e-7 s forever
        step = timedelta(seconds=seconds)
        if seconds > 0 and not step:
            step = timedelta(microseconds=1)
        self._now += step
        self._mono += seconds

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.slept.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)


AGE_UNITS = ("s", "m", "h", "d")  # seconds, minutes, hours, days
KOREAN_AGE_UNITS = ("초", "분", "시간", "일")


def age_text(seconds: float, units: tuple[str, str, str, str] = AGE_UNITS) -> str:
    """``42s``, ``17m``, ``3h 5m``, ``2d 4h`` (``units`` names them, e.g. ``KOREAN_AGE_UNITS``)."""
    sec, mins, hrs, days = units
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}{sec}"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f}{mins}"
    hours = int(minutes // 60)
    if hours < 48:
        return f"{hours}{hrs} {int(minutes % 60)}{mins}"
    return f"{hours // 24}{days} {hours % 24}{hrs}"
