"""Every command of docs/runbook.md, run the way an operator would, against a real installation.

The runbook's ```bash blocks hold one command a line. A trailing ``# exit N`` (or ``# exit N|M``)
gives the exit code on a healthy server (none: 0). ``# online`` (needs the internet: real ticket
sites, real Discord) and ``# box`` (needs the real server: root, system supervisor logs, endless
``tail -F``) are not run; ``ticket-alarm …`` lines among them are still parsed by the real
argument parser, so a renamed option breaks this test too.

The rest run in document order, through ``bash -c``, against: ``deploy/install.sh --prefix``
(the paths /etc/ticket-alarm, /var/lib/ticket-alarm, /var/log/ticket-alarm, /opt/ticket-alarm are
mapped into that prefix), the installed ``ticket-alarm`` launcher, the REAL supervisord running
the installed program file (``sudo`` and ``supervisorctl`` are small shims that reach it), the
stand-in ticket site and the stand-in Discord on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, child_env
from tests.support.deploy import Supervisor, install, installed_config, read
from tests.support.discord_standin import FakeDiscord
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.cli import build_parser

pytestmark = pytest.mark.e2e

RUNBOOK = ROOT / "docs" / "runbook.md"
_LINE = re.compile(r"^(?P<cmd>.*?)(?:\s+#\s*(?P<tag>online|box|exit\s+[0-9|]+))?\s*$")
_BOX_PATHS = re.compile(
    r"(?<![\w./-])(/etc/ticket-alarm|/var/lib/ticket-alarm|/var/log/ticket-alarm|/opt/ticket-alarm)"
)
SUPERVISORCTL_ACTIONS = {"status", "start", "stop", "restart", "reread", "update", "tail"}


@dataclass
class Command:
    line: int
    text: str
    run: bool
    exits: set[int]


def runbook_commands() -> list[Command]:
    commands: list[Command] = []
    in_bash = False
    for number, raw in enumerate(RUNBOOK.read_text(encoding="utf-8").splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            in_bash = stripped == "```bash" if not in_bash else False
            continue
        if not in_bash or not stripped or stripped.startswith("#"):
            continue
        match = _LINE.match(stripped)
        assert match is not None
        tag = match["tag"] or "exit 0"
        assert " # " not in match["cmd"], f"runbook.md:{number}: unknown trailing comment in {stripped!r}"
        exits = {int(x) for x in tag.split()[1].split("|")} if tag.startswith("exit") else set()
        commands.append(Command(number, match["cmd"], tag.startswith("exit"), exits))
    return commands


def test_runbook_is_well_formed() -> None:
    commands = runbook_commands()
    runnable = [c for c in commands if c.run]
    assert len(runnable) >= 30 and len(commands) > len(runnable)
    text = RUNBOOK.read_text(encoding="utf-8")
    for phrase in ("크롤링 실패", "알림 전송 실패", "메모리 사용량", "크롤링 완료", "알림 전송"):
        assert phrase in text
    for sub in ("test-crawlers", "health", "check-config", "backup", "restore", "history", "send-test"):
        assert any(f"ticket-alarm {sub}" in c.text for c in commands), sub
    for action in ("status", "restart"):
        assert any(f"supervisorctl {action} ticket-alarm:monitor" in c.text for c in commands)
    parser = build_parser()
    for c in commands:
        words = shlex.split(c.text)
        if words[:1] == ["sudo"]:
            words = words[1:]
        if words[:1] == ["ticket-alarm"] and "$(" not in c.text:
            try:
                parser.parse_args(words[1:])
            except SystemExit:
                pytest.fail(f"runbook.md:{c.line}: {c.text!r} is not a valid ticket-alarm command line")
        if words[:1] == ["supervisorctl"]:
            assert words[1] in SUPERVISORCTL_ACTIONS, c.text


def _shims(folder: Path, supervisor: Supervisor) -> Path:
    folder.mkdir()
    (folder / "sudo").write_text('#!/bin/sh\nexec "$@"\n', encoding="utf-8")
    (folder / "supervisorctl").write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -m supervisor.supervisorctl -c "{supervisor.conf}" "$@"\n',
        encoding="utf-8",
    )
    for shim in folder.iterdir():
        shim.chmod(0o755)
    return folder


def test_every_offline_command_of_the_runbook_works(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    supervisors: list[Supervisor],
) -> None:
    webhook = discord.add_webhook()
    notices.add(3)
    prefix = tmp_path / "root"
    # interval 3: a daemon crawling every second would slow every command of the walk-through
    where = install(prefix, installed_config(prefix, site, webhook, interval=3))
    legacy = [{"site": "melon", "id": "11376", "title": "옛 스크립트가 알린 공연"}, "0cc175b9c0f1b6a8"]
    (where.data_dir.parent / "notification_history.json").write_text(json.dumps(legacy), encoding="utf-8")
    sv = Supervisor(where.program_conf, child_env())
    supervisors.append(sv)
    sv.wait_state("RUNNING", timeout=40)
    sv.wait(lambda: "크롤링 완료: teststand" in read(where.out_log), "the first crawl")
    notices.add(2, prefix="신규")
    sv.wait(lambda: len(discord.embeds()) == 2, "2 alerts delivered")

    env = child_env()
    shims = _shims(tmp_path / "shims", sv)
    env["PATH"] = os.pathsep.join([str(shims), str(where.launcher.parent), env.get("PATH", "")])
    failures = []
    ran = 0
    for command in runbook_commands():
        if not command.run:
            continue
        mapped = _BOX_PATHS.sub(lambda m: f"{prefix}{m[1]}", command.text)
        done = subprocess.run(
            ["bash", "-c", mapped], capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=90
        )
        ran += 1
        if done.returncode not in command.exits:
            failures.append(
                f"runbook.md:{command.line}: {command.text!r} exited {done.returncode}, the runbook says "
                f"{'|'.join(map(str, sorted(command.exits)))}\n--- stdout\n{done.stdout[-1500:]}\n"
                f"--- stderr\n{done.stderr[-1500:]}"
            )
    assert not failures, "\n\n".join(failures)
    assert ran >= 30
    # what the commands did is visible afterwards: a backup, a restore kept the old store aside,
    # the import landed, the daemon is running again
    assert len(list(where.backups.glob("data_*.tar.gz"))) == 1
    assert list(where.data_dir.glob("ticket-alarm.sqlite3.before-restore-*"))
    assert sv.status()[0] == "RUNNING"
    assert len(discord.embeds()) >= 3  # 2 alerts + send-test
    assert (where.log_dir / "health.log").read_text(encoding="utf-8").count("OK overall:") == 1
