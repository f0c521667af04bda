"""The companion health check (``python -m ticket_alarm health``): Nagios-style, read-only.

Exit codes follow the Nagios plugin API: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; the overall state
is the worst check. ``report`` holds the report and the machine's readings, ``sites`` a site's
findings, ``checks`` every check (``collect``), ``notify`` the ops webhook post on a state change.
"""

from ticket_alarm.ops.health.checks import PROBE_TIMEOUT, collect, run_checks, unknown
from ticket_alarm.ops.health.notify import STATE_FILE, notify
from ticket_alarm.ops.health.report import (
    CRITICAL,
    EXIT_CODES,
    OK,
    UNKNOWN,
    WARNING,
    Check,
    Probe,
    PsutilSystem,
    Report,
    StoreOpener,
    System,
    enabled_sites,
)
from ticket_alarm.ops.health.sites import site_findings

__all__ = [
    "CRITICAL",
    "EXIT_CODES",
    "OK",
    "PROBE_TIMEOUT",
    "STATE_FILE",
    "UNKNOWN",
    "WARNING",
    "Check",
    "Probe",
    "PsutilSystem",
    "Report",
    "StoreOpener",
    "System",
    "collect",
    "enabled_sites",
    "notify",
    "run_checks",
    "site_findings",
    "unknown",
]
