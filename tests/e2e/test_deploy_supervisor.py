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
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.deploy import (
    INSTALL,
    Supervisor,
    install,
    installed_config,
    layout,
    outbox_pending,
    read,
    run_install,
)
from tests.support.discord_standin import FakeDiscord
from tests.support.processes import child_env
from tests.support.server import Response
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.store.sqlite.backend import SqliteStore

pytestmark = pytest.mark.e2e


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
