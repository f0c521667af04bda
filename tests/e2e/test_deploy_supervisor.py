"""The deploy kit for real: install.sh into a temp prefix, the REAL supervisord running the rendered
program file, the daemon pointed at the stand-in site and the stand-in Discord on 127.0.0.1.

Needs the `supervisor` package (a test dependency: pyproject's `test` extra).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, child_env, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.server import Response
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.store.sqlite.backend import SqliteStore

pytestmark = pytest.mark.e2e

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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"supervisord exited ({self.proc.returncode}) waiting for {what}:\n{self.text()}"
                )
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}:\n{self.text()}")

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


@pytest.fixture
def supervisors() -> Iterator[list[Supervisor]]:
    started: list[Supervisor] = []
    yield started
    for s in started:
        s.close()


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def outbox_pending(data_dir: Path) -> int:
    conn = sqlite3.connect(f"file:{data_dir / 'ticket-alarm.sqlite3'}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM outbox WHERE status='pending'").fetchone()[0])
    finally:
        conn.close()


# --- install.sh -----------------------------------------------------------------------------------


def test_install_renders_everything_and_is_idempotent(tmp_path: Path) -> None:
    prefix = tmp_path / "root"
    first = run_install(prefix)
    assert first.returncode == 0, first.stderr
    where = layout(prefix)
    for path in (where.config, where.program_conf, where.cron, where.logrotate, where.launcher):
        assert path.is_file(), path
        assert re.search(r"@[A-Z_]+@", read(path)) is None, f"{path}: a placeholder left unrendered"
    assert where.data_dir.is_dir() and where.backups.is_dir() and where.log_dir.is_dir()
    assert (where.config.stat().st_mode & 0o777) == 0o600
    assert (where.backups.stat().st_mode & 0o777) == 0o700
    assert os.access(where.launcher, os.X_OK) and os.access(where.health_check, os.X_OK)
    conf = read(where.program_conf)
    assert f"command={sys.executable} -m ticket_alarm run --config {where.config}" in conf
    assert f"stdout_logfile={where.log_dir}/monitor.out.log" in conf
    assert f"stderr_logfile={where.log_dir}/monitor.err.log" in conf
    for line in ("[group:ticket-alarm]", "programs=monitor", "autorestart=true", "stopsignal=TERM"):
        assert line in conf
    assert int(re.search(r"stopwaitsecs=(\d+)", conf)[1]) > 10  # type: ignore[index]  # daemon's bound
    assert re.search(r"@[A-Z_]+@", conf + read(where.cron) + read(where.logrotate)) is None
    # the config the installer writes is valid and points at the installed folders
    check = subprocess.run(
        [str(where.launcher), "check-config"], capture_output=True, text=True, env=child_env(), timeout=60
    )
    assert check.returncode == 0, check.stderr
    assert str(where.data_dir) in check.stdout and str(where.log_dir) in check.stdout
    # the operator edits the config; a second run keeps it and changes nothing else
    edited = {"interval": 120, "data_dir": str(where.data_dir)}
    where.config.write_text(json.dumps(edited) + "\n", encoding="utf-8")
    where.config.chmod(0o644)
    before = {p: p.read_bytes() for p in (where.program_conf, where.cron, where.logrotate, where.launcher)}
    second = run_install(prefix)
    assert second.returncode == 0, second.stderr
    assert '"interval": 120' in read(where.config)
    assert (where.config.stat().st_mode & 0o777) == 0o600  # permissions put back
    assert all(p.read_bytes() == content for p, content in before.items())
    assert second.stdout.count("unchanged") == 5


def test_install_refuses_bad_input(tmp_path: Path) -> None:
    missing_user = run_install(tmp_path / "a", "--user", "no-such-user-ta")
    assert missing_user.returncode != 0 and "does not exist" in missing_user.stderr
    bad_app = run_install(tmp_path / "b", "--app-dir", str(tmp_path))
    assert bad_app.returncode != 0 and "not a ticket-alarm checkout" in bad_app.stderr
    unknown = run_install(tmp_path / "c", "--frobnicate")
    assert unknown.returncode != 0 and "unknown option" in unknown.stderr


def test_prefix_install_is_the_current_users_and_touches_nothing_outside(tmp_path: Path) -> None:
    """--prefix without --user: installs as whoever runs it (root too), creates no user, chowns
    nothing, writes nothing outside DIR (the pip cache would go to $HOME), and the launcher runs."""
    me = getpass.getuser()
    home = tmp_path / "home"
    home.mkdir()
    had_service_user = subprocess.run(["id", "-u", "ticket-alarm"], capture_output=True).returncode == 0
    prefix = tmp_path / "root"
    done = subprocess.run(
        ["bash", str(INSTALL), "--prefix", str(prefix), "--python", sys.executable],
        capture_output=True,
        text=True,
        env=child_env(HOME=str(home)),
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"user {me} exists" in done.stdout and "user ticket-alarm" not in done.stdout
    assert list(home.iterdir()) == []  # nothing written into the installing user's home
    if not had_service_user:
        assert subprocess.run(["id", "-u", "ticket-alarm"], capture_output=True).returncode != 0
    uid = os.getuid()
    assert all(p.lstat().st_uid == uid for p in prefix.rglob("*"))
    where = layout(prefix)
    assert f"user={me}" in read(where.program_conf)
    # the installed launcher, from a bare environment (as supervisor or cron would start it)
    bare = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    version = subprocess.run([str(where.launcher), "--version"], capture_output=True, text=True, env=bare)
    assert version.returncode == 0 and version.stdout.startswith("ticket-alarm "), version.stderr
    check = subprocess.run([str(where.launcher), "check-config"], capture_output=True, text=True, env=bare)
    assert check.returncode == 0, check.stderr
    # --prefix is the current user's: another user is refused (it would need chown, i.e. root)
    other = subprocess.run(
        [
            "bash",
            str(INSTALL),
            "--prefix",
            str(tmp_path / "o"),
            "--user",
            "nobody",
            "--python",
            sys.executable,
        ],
        capture_output=True,
        text=True,
        env=child_env(HOME=str(home)),
        timeout=60,
    )
    if me != "nobody":
        assert other.returncode != 0 and "--prefix installs as the current user" in other.stderr


def test_install_says_so_when_the_service_user_cannot_run_the_python(tmp_path: Path) -> None:
    """A Python the service user cannot start (root's pyenv seen by another user: Permission denied)
    stops the install with a paragraph saying what to do, instead of a launcher that fails later."""
    unreadable = tmp_path / "python3"
    unreadable.write_text("#!/bin/sh\necho 'Permission denied' >&2\nexit 126\n")
    unreadable.chmod(0o755)
    done = run_install(tmp_path / "root", "--python", str(unreadable))
    assert done.returncode != 0
    assert f"--python {unreadable} cannot be run by {getpass.getuser()}" in done.stderr
    assert "pass a Python 3.11+" in done.stderr
    assert not (tmp_path / "root" / "usr/local/bin/ticket-alarm").exists()  # no broken launcher left


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runuser") is None,
    reason="needs root and runuser to act as another user",
)
def test_system_install_picks_a_python_the_service_user_can_run(tmp_path: Path) -> None:
    """The installer's own Python selection, as root for the service user `nobody`: this test's Python
    (a venv of root's pyenv) is unreadable to it, so a system Python it can run is chosen instead."""
    import pwd

    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    probe = "import sys, ssl, sqlite3; sys.exit(0 if sys.version_info >= (3, 11) else 1)"
    usable = [
        p
        for p in ("/usr/bin/python3", "/usr/local/bin/python3")
        if os.access(p, os.X_OK)
        and subprocess.run(["runuser", "-u", "nobody", "--", p, "-c", probe], capture_output=True).returncode
        == 0
    ]
    mine = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c", probe], capture_output=True)
    if mine.returncode == 0 or not usable:
        pytest.skip("this machine's Python is readable by nobody, or no system Python 3.11+ to fall back to")
    script = read(INSTALL)
    functions = script[script.index("as_service_user() {") : script.index('if [ -n "$PYTHON_GIVEN" ]; then')]
    harness = (
        'say() { printf "install: %s\\n" "$*"; }\n'
        'die() { printf "install: ERROR: %s\\n" "$*" >&2; exit 1; }\n'
        f'SVC_USER=nobody ME=root APP_HOME="{tmp_path}"\n{functions}\nbase_python\n'
    )
    env = child_env(PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin")
    done = subprocess.run(["bash", "-c", harness], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == usable[0]
    assert "is not runnable by nobody; using" in done.stderr
    assert not (tmp_path / "python").exists()  # nothing copied when a system Python will do


def test_cron_and_logrotate_files(tmp_path: Path) -> None:
    where = install(tmp_path / "root")
    jobs = [
        line
        for line in read(where.cron).splitlines()
        if line and not line.startswith("#") and "=" not in line
    ]
    assert len(jobs) == 2
    health_job, backup_job = (line.split() for line in jobs)
    assert health_job[:5] == ["*/5", "*", "*", "*", "*"] and health_job[5] == getpass.getuser()
    assert health_job[6] == str(where.health_check) and "--notify" in health_job
    assert backup_job[:2] == ["30", "4"] and "backup" in backup_job and "--keep" in backup_job
    assert "%" not in read(where.cron)  # cron would turn % into a newline
    assert read(where.cron).endswith("\n")  # cron ignores a last line without newline
    # the backup job works as written (run by sh, as cron would, minus the schedule and user fields)
    SqliteStore.open_dir(where.data_dir).close_sync()
    done = subprocess.run(
        ["sh", "-c", " ".join(backup_job[6:])], capture_output=True, text=True, env=child_env(), timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert len(list(where.backups.glob("data_*.tar.gz"))) == 1
    assert "[INFO] backup:" in read(where.log_dir / "backup.log")
    rotate = "\n".join(line for line in read(where.logrotate).splitlines() if not line.startswith("#"))
    assert "monitor." not in rotate  # supervisor rotates monitor.*.log itself
    assert f"{where.log_dir}/health.log" in rotate
    logrotate = shutil.which("logrotate")
    if logrotate and os.geteuid() == 0:
        (where.log_dir / "health.log").write_text("x" * 10, encoding="utf-8")
        done = subprocess.run(
            [logrotate, "-f", "-s", str(tmp_path / "state"), str(where.logrotate)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        assert (where.log_dir / "health.log.1").exists()


# --- the real supervisord -------------------------------------------------------------------------


def test_supervisor_runs_restarts_and_stops_the_daemon_gracefully(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    supervisors: list[Supervisor],
) -> None:
    webhook = discord.add_webhook()
    notices.add(3, prefix="기존")
    prefix = tmp_path / "root"
    where = install(prefix, installed_config(prefix, site, webhook))
    sv = Supervisor(where.program_conf, child_env())
    supervisors.append(sv)
    first_pid = sv.wait_state("RUNNING", timeout=40)
    assert first_pid
    sv.wait(lambda: "크롤링 완료: teststand" in read(where.out_log), "the first crawl in monitor.out.log")

    # new notices are delivered; the runbook's phrases land in supervisor's log files
    notices.add(4, prefix="신규")
    sv.wait(lambda: len(discord.embeds()) == 4, "4 embeds")
    sv.wait(lambda: "알림 전송" in read(where.out_log), "알림 전송 in monitor.out.log")
    assert "메모리 사용량" in read(where.out_log)
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[INFO\] 크롤링 완료", read(where.out_log), re.M)

    # the site answers 500, then garbage: [ERROR] 크롤링 실패 in monitor.err.log, the daemon runs on
    site.fail("/api/notices", Response(500, b"oops"), Response(500, b"oops"))
    sv.wait(lambda: "크롤링 실패" in read(where.err_log), "크롤링 실패 in monitor.err.log")
    site.fail("/api/notices", Response(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}))
    sv.wait(lambda: read(where.err_log).count("크롤링 실패") >= 2, "a second 크롤링 실패 (garbage page)")
    err = read(where.err_log)
    assert re.search(r"\[ERROR\] 크롤링 실패: teststand", err)
    assert webhook.rsplit("/", 1)[1] not in err + read(where.out_log)  # the token never reaches a log
    assert sv.status() == ("RUNNING", first_pid)

    # kill -9 while alerts wait in the outbox: supervisor restarts the daemon, and they go out
    discord.fail(503, count=-1)
    ids = notices.add(5, prefix="재시작")
    sv.wait(lambda: outbox_pending(where.data_dir) == 5, "5 alerts pending in the outbox")
    sv.wait(lambda: any(status == 503 for _, status in discord.requests), "a failed delivery")
    os.kill(first_pid, signal.SIGKILL)
    sv.wait(lambda: sv.status()[1] not in (None, first_pid), "a new daemon pid")
    discord.clear_faults()
    second_pid = sv.wait_state("RUNNING", timeout=40)
    assert second_pid != first_pid
    sv.wait(lambda: len(discord.embeds()) == 9, "the 5 pending alerts after the restart", timeout=45)
    urls = Counter(e["url"] for e in discord.embeds())
    assert set(urls.values()) == {1}  # exactly once
    assert {u.rsplit("/", 1)[1] for u in urls} >= set(ids)
    assert "exited: monitor (terminated by SIGKILL" in sv.text()

    # supervisorctl stop: SIGTERM, a graceful exit well inside stopwaitsecs, nothing left behind
    started = time.monotonic()
    stop = sv.ctl("stop", "ticket-alarm:monitor")
    took = time.monotonic() - started
    assert stop.returncode == 0 and "stopped" in stop.stdout, stop.stdout + stop.stderr
    assert took < 20
    assert sv.status()[0] == "STOPPED"
    assert "stopped: monitor (exit status 0)" in sv.text()
    assert "stopped: monitor (terminated by SIGKILL)" not in sv.text()
    assert "shutting down" in read(where.out_log)
    assert outbox_pending(where.data_dir) == 0
    assert len(discord.embeds()) == 9
