"""Logging through loguru in the operators' format, with secrets redacted from every line.

Format: ``YYYY-MM-DD HH:MM:SS [LEVEL] message``, the time in KST (Asia/Seoul, like every other output
of the tool, whatever the machine's time zone). stdout gets ``log_level`` and up, stderr WARNING and up
(supervisor writes them to monitor.out.log and monitor.err.log). When stdout and stderr are one
terminal, file or pipe (``2>&1``), each line is written once (to stdout). With ``json_mode``
(``--json``) stdout is left to the one JSON document and every log line goes to stderr.

Repeated WARNING/ERROR lines are rate-limited (``RepeatLimiter``): one line per kind per minute, the
next one saying how many were held back, so a flood (of connections, of malformed requests) cannot
fill the disk. asyncio's and aiohttp's loggers come through the same sinks as one short line each,
never a traceback.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import TYPE_CHECKING, Any, TextIO

from loguru import logger

from ticket_alarm.i18n import t

if TYPE_CHECKING:
    from loguru import Record  # only in loguru's stubs

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
    """Libraries that log through the standard library (APScheduler, psycopg, asyncio, aiohttp) get our
    format and redaction, one short line each: an exception is named (type and message), never
    printed as a traceback. The line's kind for ``RepeatLimiter`` is the logger and its template.
    APScheduler's words about our own jobs become one line in the log's language (``scheduler_line``)."""

    def __init__(self, levels: dict[str, str] | None = None) -> None:
        super().__init__()
        self.levels = levels or {}  # logger name → the level its ERRORs are shown at

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("apscheduler"):
            said = scheduler_line(record.getMessage())
            if said is not None:  # one of our jobs, busy: said once a job per BUSY_REPEAT seconds
                logger.opt(depth=6).bind(repeat_kind=said, repeat_window=BUSY_REPEAT).log("INFO", "{}", said)
                return
        level = record.levelname if record.levelname in _LEVELS else "WARNING"
        if level == "ERROR" and record.name in self.levels:
            level = self.levels[record.name]
        try:
            text = record.getMessage()
        except Exception:  # a library's own bad format arguments
            text = str(record.msg)
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            text = f"{text}: {type(exc).__name__}: {exc}"
        if len(text) > SHORT_LINE:
            text = text[:SHORT_LINE] + "…"
        kind = f"{record.name}: {str(record.msg)[:80]}"
        logger.opt(depth=6).bind(repeat_kind=kind).log(level, "{}: {}", record.name, text)


SHORT_LINE = 300  # characters of a library's line (an aiohttp error quotes up to 100 bytes of a header)
# stdlib loggers shown through loguru: APScheduler, psycopg (the PostgreSQL pool's reconnect warnings),
# asyncio ("socket.accept() out of system resource") and aiohttp (a malformed request: a 400 and one
# WARNING line — someone else's mistake, not the daemon's error)
BRIDGED = ("apscheduler", "psycopg", "asyncio", "aiohttp")
BRIDGED_LEVELS = {"aiohttp.server": "WARNING", "aiohttp.web": "WARNING"}
REPEAT_WINDOW = 60.0
# the runbook counts these lines; their pace is the schedule's (one per crawl, one per delivery attempt
# with backoff), never an outsider's: they are never held back
COUNTED = ("크롤링 실패", "알림 전송 실패")


@dataclass
class _Kind:
    started: float
    window: float
    held: int = 0
    sample: str = ""
    level: str = "WARNING"
    quiet: bool = False  # its own window (``repeat_window``): held lines are dropped, never counted aloud


class RepeatLimiter:
    """One WARNING/ERROR line per kind per ``window`` seconds; the rest are counted, and the count goes
    out with the kind's next line (or from ``flush``, which the daemon calls every heartbeat). A kind
    is a library logger's template (``_ToLoguru``) or the exact text of one of our lines. INFO and
    DEBUG lines, and the runbook's ``COUNTED`` lines, are never held — but a line of any level that
    carries its own ``repeat_window`` is said once per kind and window, the rest dropped quietly.
    ``clock`` is injectable (seconds, monotonic)."""

    MAX_KINDS = 1000

    def __init__(self, clock: Callable[[], float] = time.monotonic, window: float = REPEAT_WINDOW) -> None:
        self.clock = clock
        self.window = window
        self._kinds: dict[str, _Kind] = {}

    def admit(self, record: Record) -> bool:
        """The loguru filter: decided once per record, whichever sink asks first."""
        extra = record["extra"]
        if "_repeat" not in extra:
            extra["_repeat"] = self._decide(record)
        return bool(extra["_repeat"])

    def _decide(self, record: Record) -> bool:
        extra = record["extra"]
        window = extra.get("repeat_window")
        if window is None and (
            record["level"].no < _LEVELS["WARNING"]
            or extra.get("repeat_summary")
            or record["message"].startswith(COUNTED)
        ):
            return True
        key = str(extra.get("repeat_kind") or record["message"])
        now = self.clock()
        kind = self._kinds.get(key)
        if kind is not None and now - kind.started < kind.window:
            kind.held += 1
            return False
        if len(self._kinds) >= self.MAX_KINDS:
            self._prune(now)
        quiet = window is not None
        self._kinds[key] = _Kind(
            now,
            float(window) if window is not None else self.window,
            0,
            record["message"][:120],
            record["level"].name,
            quiet,
        )
        if kind is not None and kind.held and not kind.quiet:
            record["message"] += t("logs.held", count=kind.held, seconds=now - kind.started)
        return True

    def reset(self) -> None:
        self._kinds.clear()

    def _prune(self, now: float) -> None:
        for key, kind in list(self._kinds.items()):
            if now - kind.started >= kind.window and (kind.quiet or not kind.held):
                del self._kinds[key]
        if len(self._kinds) >= self.MAX_KINDS:  # a flood of distinct kinds: start counting afresh
            self._kinds.clear()

    def flush(self, everything: bool = False) -> None:
        """One line for each kind whose window is over (``everything``: at a stop, every kind) with
        lines still held back."""
        now = self.clock()
        for key, kind in list(self._kinds.items()):
            if everything or now - kind.started >= kind.window:
                if kind.held and not kind.quiet:
                    text = t(
                        "logs.held_summary", count=kind.held, sample=kind.sample, seconds=now - kind.started
                    )
                    logger.bind(repeat_summary=True).log(kind.level, "{}", text)
                del self._kinds[key]


repeats = RepeatLimiter()


# APScheduler: 'Execution of job "head poll ticketlink (trigger: …, next run at: … UTC)" skipped:
# maximum number of running instances reached (1)' — the previous run of that job is still going (a
# slow site). Said once per job and BUSY_REPEAT seconds (``RepeatLimiter``, the line's own window), in
# the log's language, at INFO: nothing is lost, the turn is only skipped. The job names are the
# daemon's ("crawl SITE", "head poll SITE").
_BUSY = re.compile(
    r'^Execution of job "(crawl|head poll) (\S+) \(.*skipped: maximum number of running instances'
)
BUSY_REPEAT = 600.0


def scheduler_line(message: str) -> str | None:
    """APScheduler's ``message`` as our line, or None: not about one of our jobs."""
    match = _BUSY.match(message)
    if match is None:
        return None
    job, site = match.groups()
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


def same_destination(out: TextIO, err: TextIO) -> bool:
    """True when both streams write to one place: the same terminal (an operator's shell), the same
    file (``> run.log 2>&1``) or the same pipe (``2>&1 | tee run.log``, a container's log). Two files
    (supervisor's monitor.out.log and monitor.err.log) are two places."""
    try:
        a, b = os.fstat(out.fileno()), os.fstat(err.fileno())
    except (AttributeError, OSError, ValueError):  # StringIO & co.: no descriptor, two places
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
    repeats.reset()
    _current.update(json_mode=json_mode, stdout=stdout, stderr=stderr)
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    logger.remove()
    logger.configure(patcher=_patch)  # type: ignore[arg-type]
    for name in BRIDGED:
        bridge = logging.getLogger(name)
        bridge.handlers[:] = [_ToLoguru(BRIDGED_LEVELS)]
        bridge.setLevel(logging.WARNING)  # their INFO lines ("Added job …") are noise for the runbook
        bridge.propagate = False
    common: dict[str, Any] = {"format": LOG_FORMAT, "backtrace": False, "diagnose": False, "colorize": False}
    threshold = _LEVELS.get(level, 20)
    if json_mode:
        logger.add(
            err, level=level, filter=lambda r: r["level"].no >= threshold and repeats.admit(r), **common
        )
        return
    if same_destination(out, err):
        # one terminal, file or pipe: what either stream would show, once (WARNING+ even when
        # log_level is ERROR, as stderr would show it)
        shown = min(threshold, _LEVELS["WARNING"])
        logger.add(out, level=shown, filter=lambda r: r["level"].no >= shown and repeats.admit(r), **common)
        return
    logger.add(out, level=level, filter=lambda r: r["level"].no >= threshold and repeats.admit(r), **common)
    logger.add(err, level="WARNING", filter=repeats.admit, **common)


def apply_level(level: str) -> None:
    """Re-open the sinks of the last ``setup_logging`` at ``level`` (the config's ``log_level``)."""
    setup_logging(level=level, **_current)
