"""Logging through loguru in the operators' format, with secrets redacted from every line.

Format: ``YYYY-MM-DD HH:MM:SS [LEVEL] message``, the time in KST (Asia/Seoul, like every other output
of the tool, whatever the machine's time zone). stdout gets ``log_level`` and up, stderr WARNING and up
(supervisor writes them to monitor.out.log and monitor.err.log). When stdout and stderr are one
terminal, each line is written once (to stdout). With ``json_mode`` (``--json``) stdout is left to the
one JSON document and every log line goes to stderr.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Iterable
from datetime import timedelta, timezone
from typing import Any, TextIO

from loguru import logger

LOG_FORMAT = "{time:YYYY-MM-DD HH:mm:ss} [{level}] {message}"
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
_LEVELS = LEVELS
KST = timezone(timedelta(hours=9), "KST")  # fixed: loguru formats a ZoneInfo's offset wrongly


class Redactor:
    """Replaces every registered secret with ``****``."""

    def __init__(self) -> None:
        self._secrets: list[str] = []

    def register(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            if secret and secret not in self._secrets:
                self._secrets.append(secret)
        self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "****")
        return text


redact = Redactor()


class _ToLoguru(logging.Handler):
    """Libraries that log through the standard library (APScheduler) get our format and redaction.
    APScheduler's words about our own jobs become one line in the log's language (``scheduler_line``)."""

    def emit(self, record: logging.LogRecord) -> None:
        level = record.levelname if record.levelname in _LEVELS else "WARNING"
        message = record.getMessage()
        if record.name.startswith("apscheduler"):
            said = scheduler_line(message, time.monotonic())
            if said is not None:
                if said:
                    logger.opt(depth=6).log("INFO", "{}", said)
                return
        logger.opt(depth=6).log(level, "{}: {}", record.name, message)


# APScheduler: 'Execution of job "head poll ticketlink (trigger: …, next run at: … UTC)" skipped:
# maximum number of running instances reached (1)' — the previous run of that job is still going (a
# slow site). Said once per job and BUSY_REPEAT seconds, in the log's language, at INFO: nothing is lost,
# the turn is only skipped. The job names are the daemon's ("crawl SITE", "head poll SITE").
_BUSY = re.compile(
    r'^Execution of job "(crawl|head poll) (\S+) \(.*skipped: maximum number of running instances'
)
BUSY_REPEAT = 600.0
_busy_said: dict[str, float] = {}


def scheduler_line(message: str, now: float) -> str | None:
    """APScheduler's ``message`` as our line (``""``: said recently, say nothing), None: not ours."""
    from ticket_alarm.i18n import t  # the catalog imports nothing of ours; kept lazy for the CLI's start

    match = _BUSY.match(message)
    if match is None:
        return None
    job, site = match.groups()
    key = f"{job} {site}"
    said = _busy_said.get(key)
    if said is not None and now - said < BUSY_REPEAT:
        return ""
    _busy_said[key] = now
    what = t("log.what.sweep") if job == "crawl" else t("log.what.head")
    return t("log.scheduler_busy", site=site, what=what)


# a newline (or any control character, or a bidi override) in scraped text or a config string would
# forge a log line such as "2099-01-01 00:00:00 [ERROR] 크롤링 실패: …": every such character is escaped
_UNSAFE = re.compile("[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _patch(record: dict[str, Any]) -> None:
    record["message"] = escape_controls(redact(record["message"]))
    record["time"] = record["time"].astimezone(KST)


def same_terminal(out: TextIO, err: TextIO) -> bool:
    """True when both streams are the same terminal (an operator's shell), not a pipe or a file."""
    try:
        if not (out.isatty() and err.isatty()):
            return False
        a, b = os.fstat(out.fileno()), os.fstat(err.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return (a.st_dev, a.st_ino, a.st_rdev) == (b.st_dev, b.st_ino, b.st_rdev)


_current: dict[str, Any] = {}


def setup_logging(
    *,
    level: str = "INFO",
    json_mode: bool = False,
    secrets: Iterable[str] = (),
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> None:
    redact.register(secrets)
    _current.update(json_mode=json_mode, stdout=stdout, stderr=stderr)
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    logger.remove()
    logger.configure(patcher=_patch)  # type: ignore[arg-type]
    for name in ("apscheduler", "psycopg"):  # psycopg: the PostgreSQL pool's reconnect warnings
        bridge = logging.getLogger(name)
        bridge.handlers[:] = [_ToLoguru()]
        bridge.setLevel(logging.WARNING)  # their INFO lines ("Added job …") are noise for the runbook
        bridge.propagate = False
    common: dict[str, Any] = {"format": LOG_FORMAT, "backtrace": False, "diagnose": False, "colorize": False}
    threshold = _LEVELS.get(level, 20)
    if json_mode:
        logger.add(err, level=level, filter=lambda r: r["level"].no >= threshold, **common)
        return
    if same_terminal(out, err):
        # one terminal: what either stream would show, once (WARNING+ even when log_level is ERROR,
        # as stderr would show it)
        shown = min(threshold, _LEVELS["WARNING"])
        logger.add(out, level=shown, filter=lambda r: r["level"].no >= shown, **common)
        return
    logger.add(out, level=level, filter=lambda r: r["level"].no >= threshold, **common)
    logger.add(err, level="WARNING", **common)


def apply_level(level: str) -> None:
    """Re-open the sinks of the last ``setup_logging`` at ``level`` (the config's ``log_level``)."""
    setup_logging(level=level, **_current)
