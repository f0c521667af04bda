"""The product as a process: the CLI (``python -m ticket_alarm …``) and the daemon (``… run``), with the
environment a child gets (no TICKET_ALARM_* or DISCORD_WEBHOOK* from outside, the test plugin on the
path, English unless a test asks for Korean)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ticket_alarm import i18n

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = ROOT / "tests" / "plugin"


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKET_ALARM_", "DISCORD_WEBHOOK"))}
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGIN_DIR), str(ROOT)])
    env["PYTHONUNBUFFERED"] = "1"
    env[i18n.LANG_ENV] = "en"  # pass TICKET_ALARM_LANG="ko" in extra for the Korean default
    env.update(extra)
    return env


def wait_while_running(
    proc: subprocess.Popen[bytes] | subprocess.Popen[str],
    predicate: Callable[[], bool],
    timeout: float,
    what: str,
    *,
    exited: Callable[[], str],
    told: Callable[[], str],
    poll: float,
) -> None:
    """Poll ``predicate`` until it holds; fail at once with ``exited()`` if ``proc`` ends first, and with
    ``told()`` (what the process said) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(exited())
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}:\n{told()}")


class DaemonProcess:
    """The real daemon (``python -m ticket_alarm run``) as a child process, output in files."""

    def __init__(
        self, config: Path, tmp_path: Path, tag: str = "daemon", *args: str, env: dict[str, str] | None = None
    ):
        self.out_path = tmp_path / f"{tag}.out.log"
        self.err_path = tmp_path / f"{tag}.err.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ticket_alarm", "run", "--config", str(config), *args],
            stdout=self.out_path.open("wb"),
            stderr=self.err_path.open("wb"),
            env=env or child_env(),
            cwd=str(tmp_path),
        )

    def out(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def err(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
        wait_while_running(
            self.proc,
            predicate,
            timeout,
            what,
            exited=lambda: (
                f"daemon exited ({self.proc.returncode}) while waiting for {what}:\n"
                f"{self.out()[-3000:]}\n{self.err()[-3000:]}"
            ),
            told=lambda: f"{self.out()[-3000:]}\n{self.err()[-2000:]}",
            poll=0.05,
        )

    def wait_log(self, phrase: str, count: int = 1, timeout: float = 30.0) -> None:
        self.wait_for(lambda: self.out().count(phrase) >= count, timeout, f"{count}x {phrase!r} in stdout")

    def terminate(self, timeout: float = 15.0) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - started

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ticket_alarm", *args],
        capture_output=True,
        text=True,
        env=env or child_env(),
        cwd=str(cwd or ROOT),
        timeout=timeout,
    )


def start_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``python -m ticket_alarm ARGS`` started, its stdout and stderr pipes read as text, with Ctrl-C's
    default meaning: a suite started in the background (``pytest … &`` in a script) ignores SIGINT,
    a child would inherit that, and Python leaves an inherited ignore alone (no KeyboardInterrupt)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # a handler, unlike an ignore, ends at exec
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return subprocess.Popen(
        [sys.executable, "-m", "ticket_alarm", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=str(cwd),
    )


def run_cli_interrupted(
    *args: str, cwd: Path, started: Callable[[], bool], timeout: float = 120
) -> tuple[subprocess.CompletedProcess[str], float]:
    """``python -m ticket_alarm ARGS`` sent SIGINT (Ctrl-C) once ``started()`` holds: what it did, and
    the seconds from the signal to its exit."""
    proc = start_cli(*args, cwd=cwd)
    try:
        wait_while_running(
            proc,
            started,
            timeout,
            "the command to get going",
            exited=lambda: f"exited {proc.returncode} before the signal",
            told=lambda: "",
            poll=0.05,
        )
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=120)  # a hang guard: a loaded machine may take its time
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(
                f"still running 120 s after SIGINT; it said:\n{out[-3000:]}\n{err[-3000:]}"
            ) from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), time.monotonic() - sent
