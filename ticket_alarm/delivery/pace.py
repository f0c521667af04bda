"""Client-side rate limits the notifiers share, so they wait instead of drawing 429s.

``Bucket``: a wait the server told us about (Discord's ``X-RateLimit-*`` headers, any 429's
``retry_after``), with the floor that doubles while 429s repeat. ``Pace``: a destination's documented
pace kept by when its sends went (Telegram: one message a second per chat, 20 a minute in a group),
on top of its own ``Bucket``. ``Allowance``: a token bucket, a burst then one send per period (ntfy.sh's
visitor limit: 60, then one every 5 s). Times are the clock's monotonic seconds (tests inject the clock).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

RATE_LIMIT_FLOOR = 1.0  # a 429 saying retry_after 0 still waits this long, doubling while they repeat
RATE_LIMIT_CAP = 60.0


@dataclass
class Bucket:
    remaining: int | None = None
    reset_at: float = 0.0  # monotonic
    strikes: int = 0  # consecutive 429s: each waits at least RATE_LIMIT_FLOOR × 2^(strikes-1)

    def wait(self, now: float) -> float:
        """Seconds until the bucket lets the next request through (0: now)."""
        if self.remaining is not None and self.remaining <= 0:
            return max(0.0, self.reset_at - now)
        return 0.0

    def hold(self, retry_after: float, now: float) -> float:
        """A 429 said ``retry_after``: hold the bucket at least that long, and at least the doubling
        floor while 429s repeat. The wait held."""
        self.strikes += 1
        wait = max(retry_after, min(RATE_LIMIT_CAP, RATE_LIMIT_FLOOR * 2 ** (self.strikes - 1)))
        self.remaining = 0
        self.reset_at = now + wait
        return wait


class Pace:
    """At most ``count`` sends in any ``window`` seconds, for each ``(count, window)`` of ``limits``."""

    def __init__(self, *limits: tuple[int, float]) -> None:
        self.limits = limits
        self.bucket = Bucket()
        self._sent: deque[float] = deque(maxlen=max((count for count, _ in limits), default=1))

    def wait(self, now: float) -> float:
        wait = self.bucket.wait(now)
        sent = list(self._sent)
        for count, window in self.limits:
            if len(sent) >= count:
                wait = max(wait, sent[-count] + window - now)
        return max(0.0, wait)

    def record(self, now: float) -> None:
        """A send went out at ``now`` (a request the server answered: a 429 holds the bucket too)."""
        self._sent.append(now)


class Allowance:
    """``burst`` sends at once, then one more every ``refill`` seconds (a token bucket)."""

    def __init__(self, burst: int, refill: float, now: float) -> None:
        self.burst = burst
        self.refill = refill
        self.tokens = float(burst)
        self.at = now

    def _fill(self, now: float) -> None:
        self.tokens = min(float(self.burst), self.tokens + max(0.0, now - self.at) / self.refill)
        self.at = now

    def wait(self, now: float) -> float:
        """Seconds until the next send is allowed (0: now)."""
        self._fill(now)
        return max(0.0, (1.0 - self.tokens) * self.refill)

    def take(self, now: float) -> None:
        """A send went out at ``now``."""
        self._fill(now)
        self.tokens -= 1.0
