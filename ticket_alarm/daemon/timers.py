"""When things run: the cadence of sweeps and head polls (jittered triggers), the politeness budget
that paces head polls, and the delay before a held change is read again."""

from __future__ import annotations

from apscheduler.triggers.interval import IntervalTrigger

from ticket_alarm.config.settings import Settings

# a change held by a sweep is confirmed by reading the list again this many seconds after that sweep
# (not by the next sweep, an interval later); one held by a head poll, by the next head poll — and by
# a re-read this long after that one falls due, in case the notice left the head page meanwhile
CONFIRM_DELAY = 10.0
# politeness: sweeps + head polls of a site stay within this many times the requests per hour that a
# sweep every POLITENESS_BASELINE seconds (the default before head polls) would make
POLITENESS_FACTOR = 1.5
POLITENESS_BASELINE = 300.0
# only the default head_interval is paced; any other value is the operator's choice, taken as given
DEFAULT_HEAD_INTERVAL: float = Settings.model_fields["head_interval"].default


def head_gap(head_interval: float, interval: float, sweep_requests: int) -> float:
    """Seconds between two head polls of a site whose sweep takes ``sweep_requests`` requests: the
    configured ``head_interval``, stretched when sweeps + head polls (one request each) would make more
    than ``POLITENESS_FACTOR`` × the requests of a sweep every ``POLITENESS_BASELINE`` seconds (a short
    list: seven pages → every 43 s). Cadences are counted as the triggers keep them: interval plus
    half its jitter on average. Sweeps that alone use the budget leave one head poll per sweep."""
    if sweep_requests <= 0:
        return head_interval
    budget = sweep_requests * (
        POLITENESS_FACTOR / mean_cadence(POLITENESS_BASELINE) - 1 / mean_cadence(interval)
    )
    if budget <= 0:
        return max(head_interval, interval)
    wanted = 1 / budget  # mean seconds between head polls the budget allows
    gap = wanted / 1.05
    for _ in range(100):  # the jitter is rounded down to whole seconds: nudge up until it fits
        if mean_cadence(gap) >= wanted:
            break
        gap += 0.05
    return max(head_interval, gap)


def mean_cadence(seconds: float) -> float:
    """Mean seconds between two runs of a job on ``_trigger(seconds)`` (jitter: uniform 0…10 %)."""
    return seconds + jitter(seconds) / 2


def jitter(seconds: float) -> int:
    return int(seconds * 0.1)


def sweep_trigger(interval: float) -> IntervalTrigger:
    return IntervalTrigger(seconds=interval, jitter=max(1, int(interval * 0.1)))


def head_trigger(seconds: float) -> IntervalTrigger:
    return IntervalTrigger(seconds=seconds, jitter=jitter(seconds) or None)
