"""The CLI called in this process (``cli.main(argv)``), as the tests that need no child process do."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from loguru import logger

from tests.support.processes import PLUGIN_DIR
from ticket_alarm import cli, i18n


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


@dataclass(frozen=True)
class Ran:
    """What ``cli.main`` did in this process, shaped as ``subprocess.CompletedProcess``."""

    returncode: int
    stdout: str
    stderr: str


def here(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Callable[..., Ran]]:
    """``run(*argv, lang="en")``: the CLI in this process, in ``lang`` as TICKET_ALARM_LANG would choose
    it at start-up, in a clean environment with ``tmp_path`` as the working directory and the test
    plugin importable (as ``run_cli`` gives a child). argparse's exits (``--help``, usage errors) are
    exit codes, as in a child."""
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    cleaning = clean_env(monkeypatch, tmp_path)
    next(cleaning)

    def run(*argv: str, lang: str = "en") -> Ran:
        before = i18n.language()
        i18n.set_language(lang)
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            i18n.set_language(before)
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    yield run
    next(cleaning, None)


Here = Callable[..., Ran]  # the `here` fixture's type: here("once", "--config", c, lang="ko") -> Ran
