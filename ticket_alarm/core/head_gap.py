"""The head-poll gap rule the daemon, its ops watch and the health check share: the gap between a
site's head polls is the configured ``head_interval``, or the longer one the daemon paced it to (kept
in the store's meta under ``head_gap_key``); head polls not succeeding for ``HEAD_STUCK_FACTOR`` gaps
are stuck."""

from __future__ import annotations

HEAD_STUCK_FACTOR = 3  # head polls not succeeding for this many gaps: stuck


def head_gap_key(site: str) -> str:
    """The meta key where the daemon writes a site's head-poll gap as paced."""
    return f"head_gap:{site}"


def paced_gap(configured: float, stored: str | None) -> float:
    """The gap between a site's head polls: ``configured``, or the daemon's ``stored`` one when it is
    longer (a stored value that does not parse leaves ``configured``)."""
    try:
        return max(configured, float(stored or configured))
    except (TypeError, ValueError):
        return configured


def stuck_after(gap: float) -> float:
    """Seconds without a successful head poll after which a site's head polls are stuck."""
    return HEAD_STUCK_FACTOR * gap
