"""The CLI called in this process (``cli.main(argv)``), as the tests that need no child process do."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from ticket_alarm import cli


def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No TICKET_ALARM_* or DISCORD_WEBHOOK* from outside, the working directory the test's tmp_path;
    afterwards the log sinks ``main()`` bound to this test's captured streams are put back."""
    for key in list(os.environ):
        if key.upper().startswith(("TICKET_ALARM_", "DISCORD_WEBHOOK")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    yield
    logger.remove()
    logger.add(sys.stderr)


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``cli.main(argv)`` in this process: (exit code, stdout, stderr)."""
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
