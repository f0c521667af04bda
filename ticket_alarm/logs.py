"""Logging through loguru in the operators' format, with secrets redacted from every line.

Format: ``YYYY-MM-DD HH:MM:SS [LEVEL] message``. stdout gets INFO and up, stderr WARNING and up
(supervisor writes them to monitor.out.log and monitor.err.log). With ``json_mode`` (``--json``)
stdout is left to the one JSON document and every log line goes to stderr.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any, TextIO

from loguru import logger

LOG_FORMAT = "{time:YYYY-MM-DD HH:mm:ss} [{level}] {message}"
_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


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
    """Libraries that log through the standard library (APScheduler) get our format and redaction."""

    def emit(self, record: logging.LogRecord) -> None:
        level = record.levelname if record.levelname in _LEVELS else "WARNING"
        logger.opt(depth=6).log(level, "{}: {}", record.name, record.getMessage())


# a newline (or any control character, or a bidi override) in scraped text or a config string would
# forge a log line such as "2099-01-01 00:00:00 [ERROR] 크롤링 실패: …": every such character is escaped
_UNSAFE = re.compile("[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _patch(record: dict[str, Any]) -> None:
    record["message"] = escape_controls(redact(record["message"]))


def setup_logging(
    *,
    level: str = "INFO",
    json_mode: bool = False,
    secrets: Iterable[str] = (),
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> None:
    redact.register(secrets)
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    logger.remove()
    logger.configure(patcher=_patch)  # type: ignore[arg-type]
    bridge = logging.getLogger("apscheduler")
    bridge.handlers[:] = [_ToLoguru()]
    bridge.setLevel(logging.WARNING)  # its INFO lines ("Added job …") are noise for the runbook
    bridge.propagate = False
    common: dict[str, Any] = {"format": LOG_FORMAT, "backtrace": False, "diagnose": False, "colorize": False}
    if json_mode:
        logger.add(err, level=level, **common)
        return
    threshold = _LEVELS.get(level, 20)
    logger.add(out, level=level, filter=lambda r: r["level"].no >= threshold, **common)
    logger.add(err, level="WARNING", **common)
