"""The deploy kit as the tests drive it: install.sh into a temporary prefix, and the REAL supervisord
(foreground, on a unix socket in a short temp dir) with supervisorctl. Shared by the deploy, runbook and
store-outage tests; the ``supervisors`` fixture (tests/conftest.py) closes what a test started."""

from __future__ import annotations

import getpass
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.processes import ROOT, child_env, wait_while_running
from tests.support.site_standin import FakeSite
from tests.support.stand import stand_config, write_config

INSTALL = ROOT / "deploy" / "install.sh"


@dataclass
class Installed:
    prefix: Path
    config: Path
    data_dir: Path
    log_dir: Path
    backups: Path
    program_conf: Path
    cron: Path
    logrotate: Path
    launcher: Path
    health_check: Path

    @property
    def out_log(self) -> Path:
        return self.log_dir / "monitor.out.log"

    @property
    def err_log(self) -> Path:
        return self.log_dir / "monitor.err.log"


def layout(prefix: Path) -> Installed:
    return Installed(
        prefix=prefix,
        config=prefix / "etc/ticket-alarm/config.json",
        data_dir=prefix / "var/lib/ticket-alarm/data",
        log_dir=prefix / "var/log/ticket-alarm",
        backups=prefix / "var/lib/ticket-alarm/backups",
        program_conf=prefix / "etc/supervisor/conf.d/ticket-alarm.conf",
        cron=prefix / "etc/cron.d/ticket-alarm",
        logrotate=prefix / "etc/logrotate.d/ticket-alarm",
        launcher=prefix / "usr/local/bin/ticket-alarm",
        health_check=prefix / "opt/ticket-alarm/bin/health_check.sh",
    )


def run_install(prefix: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "bash",
            str(INSTALL),
            "--prefix",
            str(prefix),
            "--user",
            getpass.getuser(),
            "--no-user-create",
            "--python",
            sys.executable,
            *extra,
        ],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
    )


def install(prefix: Path, config: dict[str, Any] | None = None) -> Installed:
    """install.sh --prefix; with ``config``, that config is put in place first (install keeps it)."""
    where = layout(prefix)
    if config is not None:
        where.config.parent.mkdir(parents=True, exist_ok=True)
        write_config(where.config.parent, config, where.config.name)
    done = run_install(prefix)
    assert done.returncode == 0, done.stdout + done.stderr
    return where


def installed_config(prefix: Path, site: FakeSite, webhook: str | None, **overrides: Any) -> dict[str, Any]:
    where = layout(prefix)
    config = stand_config(prefix, site, webhook, **overrides)
    config["data_dir"] = str(where.data_dir)
    config["log_dir"] = str(where.log_dir)
    # a busy CI box must not turn the health check WARNING: these checks have unit tests of their own
    config["health"] = {"cpu_warn": 100, "memory_warn": 100, "disk_warn": 100, **config.get("health", {})}
    return config


class Supervisor:
    """supervisord in the foreground on a unix socket in a short temp dir, with supervisorctl."""

    def __init__(self, include: Path, env: dict[str, str]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ta-sv-", dir="/tmp"))  # unix socket paths are short
        self.sock = self.dir / "s.sock"
        self.log = self.dir / "supervisord.log"
        self.conf = self.dir / "supervisord.conf"
        self.conf.write_text(
            f"""[unix_http_server]
file={self.sock}
chmod=0700

[supervisord]
logfile={self.log}
pidfile={self.dir}/supervisord.pid
childlogdir={self.dir}
nodaemon=true
loglevel=info

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{self.sock}

[include]
files = {include}
""",
            encoding="utf-8",
        )
        self.env = env
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf)],
            stdout=(self.dir / "supervisord.stdout").open("wb"),
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(self.dir),
        )

    def ctl(self, *args: str, timeout: float = 40) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(self.conf), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )

    def status(self) -> tuple[str, int | None]:
        out = self.ctl("status", "ticket-alarm:monitor", timeout=10).stdout
        match = re.search(r"ticket-alarm:monitor\s+(\w+)(?:\s+pid (\d+))?", out)
        if not match:
            return ("?", None)
        return (match[1], int(match[2]) if match[2] else None)

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
        wait_while_running(
            self.proc,
            predicate,
            timeout,
            what,
            exited=lambda: f"supervisord exited ({self.proc.returncode}) waiting for {what}:\n{self.text()}",
            told=self.text,
            poll=0.1,
        )

    def wait_state(self, state: str, timeout: float = 30) -> int | None:
        self.wait(lambda: self.status()[0] == state, f"ticket-alarm:monitor {state}", timeout)
        return self.status()[1]

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.ctl("shutdown", timeout=30)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def outbox_pending(data_dir: Path) -> int:
    conn = sqlite3.connect(f"file:{data_dir / 'ticket-alarm.sqlite3'}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM outbox WHERE status='pending'").fetchone()[0])
    finally:
        conn.close()


# --- install.sh -----------------------------------------------------------------------------------
